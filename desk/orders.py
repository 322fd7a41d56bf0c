"""The agent's view of orders: the imported snapshot, or the shop's live system.

The snapshot is read from the store, one short session per lookup. A live connector
answers lookups instead (connectors/), while a customer's value for the queue still
comes from the snapshot: it is a sum over every order, not a question for the shop.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from agent.gate import CustomerHistory
from agent.tools import Orders, OrdersUnavailable
from connectors import Connector, ConnectorError, connector_for
from ingestion.order_states import OrderState
from ingestion.records import OrderItem as ItemRecord
from ingestion.records import ShopOrder
from settings import Settings
from store.models import Customer, Order


def _shop_order(order: Order) -> ShopOrder:
    return ShopOrder(
        id=order.id,
        email=order.customer.email,
        customer_name=order.customer.name,
        postcode=order.shipping_zip or order.customer.zip,
        status=order.shop_status or order.status,
        state=OrderState(order.status),
        created_at=order.created_at,
        items=[
            ItemRecord(sku=i.sku, name=i.name, quantity=i.quantity, unit_price=i.unit_price)
            for i in order.items
        ],
        total=order.total,
        currency=order.currency,
        carrier=order.carrier,
        tracking_number=order.tracking_number,
        tracking_url=order.tracking_url,
        shipped_at=order.shipped_at,
        delivered_at=order.delivered_at,
        expected_delivery=order.expected_delivery,
        refunded_total=order.refunded_total or 0,
    )


class OrderBook:
    """Implements agent.tools.Orders; no session outlives the call, so none spans an LLM call."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def find(self, order_id: str) -> ShopOrder | None:
        with self._sessions() as session:
            order = session.get(Order, order_id)
            return None if order is None else _shop_order(order)

    def recent(self, email: str, limit: int) -> list[ShopOrder]:
        with self._sessions() as session:
            orders = session.scalars(
                select(Order)
                .join(Customer)
                .where(Customer.email == email)
                .order_by(Order.created_at.desc())
                .limit(limit)
            )
            return [_shop_order(order) for order in orders]

    def history(self, emails: set[str]) -> CustomerHistory | None:
        if not emails:
            return None
        with self._sessions() as session:
            return customer_history(session, emails)


def customer_history(session: Session, emails: set[str]) -> CustomerHistory:
    """What the customers with these emails ordered in the snapshot: for their value."""
    orders, spent, first = session.execute(
        select(
            func.count(Order.id),
            func.coalesce(func.sum(Order.total), 0),
            func.min(Order.created_at),
        )
        .join(Customer)
        .where(Customer.email.in_(emails))
    ).one()
    return CustomerHistory(orders=orders, total_spent=float(spent), first_order=first)


class LiveOrders:
    """Implements agent.tools.Orders with a connector for lookups and the snapshot for value."""

    def __init__(self, connector: Connector, snapshot: OrderBook) -> None:
        self._connector = connector
        self._snapshot = snapshot

    def find(self, order_id: str) -> ShopOrder | None:
        return self._asking(self._connector.find, order_id)

    def recent(self, email: str, limit: int) -> list[ShopOrder]:
        return self._asking(self._connector.recent, email, limit)

    @staticmethod
    def _asking(lookup, *args):
        """The connector's answer; its failure in the agent's terms."""
        try:
            return lookup(*args)
        except ConnectorError as error:
            raise OrdersUnavailable(str(error)) from error

    def history(self, emails: set[str]) -> CustomerHistory | None:
        return self._snapshot.history(emails)


def order_source(settings: Settings, sessions: sessionmaker[Session]) -> Orders:
    """The snapshot, or the live connector the settings choose."""
    snapshot = OrderBook(sessions)
    connector = connector_for(settings)
    return snapshot if connector is None else LiveOrders(connector, snapshot)
