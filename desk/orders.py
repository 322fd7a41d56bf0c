"""The agent's view of orders, read from the store: one short session per lookup."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from agent.gate import CustomerHistory
from agent.tools import OrderFacts
from store.models import Customer, Order


def _summary(order: Order) -> dict:
    return {
        "order_id": order.id,
        "status": order.status,
        "placed": order.created_at.date().isoformat(),
        "items": [f"{item.quantity} x {item.name}" for item in order.items],
        "total": f"{order.total} {order.currency}",
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "shipped": order.shipped_at.date().isoformat() if order.shipped_at else None,
        "delivered": order.delivered_at.date().isoformat() if order.delivered_at else None,
    }


class OrderBook:
    """Implements agent.tools.Orders; no session outlives the call, so none spans an LLM call."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def find(self, order_id: str) -> OrderFacts | None:
        with self._sessions() as session:
            order = session.get(Order, order_id)
            if order is None:
                return None
            return OrderFacts(order.customer.email, _summary(order), order.customer.zip)

    def recent(self, email: str, limit: int) -> list[OrderFacts]:
        with self._sessions() as session:
            orders = session.scalars(
                select(Order)
                .join(Customer)
                .where(Customer.email == email)
                .order_by(Order.created_at.desc())
                .limit(limit)
            )
            return [OrderFacts(email, _summary(order)) for order in orders]

    def history(self, emails: set[str]) -> CustomerHistory | None:
        if not emails:
            return None
        with self._sessions() as session:
            row = session.execute(
                select(
                    func.count(Order.id),
                    func.coalesce(func.sum(Order.total), 0),
                    func.min(Order.created_at),
                )
                .join(Customer)
                .where(Customer.email.in_(emails))
            ).one()
        first: datetime | None = row[2]
        return CustomerHistory(orders=row[0], total_spent=float(row[1]), first_order=first)
