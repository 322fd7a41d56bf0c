"""`support-agent orders import`: load customers and orders, skipping bad records by line.

Our JSON, Shopify's order export CSV and WooCommerce's are read into one record
(ingestion.records.ShopOrder) and saved the same way. Importing is idempotent: an
order whose id exists is replaced (its items included), so re-importing an export
from the shop system updates it. A status, carrier or currency nobody mapped is
imported as unknown and counted, never a reason to skip an order.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingestion.order_exports import read_export
from ingestion.order_states import NO_CURRENCY, OrderState, Vocabulary
from ingestion.records import Customer as CustomerRecord
from ingestion.records import Order as OrderRecord
from ingestion.records import ShopOrder, describe
from store.models import Customer, Order, OrderItem


@dataclass
class ImportReport:
    format: str = "json"
    customers: int = 0
    added: int = 0
    updated: int = 0
    problems: list[str] = field(default_factory=list)
    # The shop's status words nobody mapped → orders imported with the state `unknown`.
    unmapped_statuses: Counter[str] = field(default_factory=Counter)
    unknown_currency: int = 0

    @property
    def orders(self) -> int:
        return self.added + self.updated


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _elements(text: str, key: str) -> list[tuple[int, object]]:
    """(line, element) for each element of the top-level array `key`."""
    match = re.search(rf'"{key}"\s*:\s*\[', text)
    if not match:
        return []
    decoder = json.JSONDecoder()
    elements, index = [], match.end()
    while True:
        while index < len(text) and text[index] in " \t\r\n,":
            index += 1
        if index >= len(text) or text[index] == "]":
            return elements
        value, end = decoder.raw_decode(text, index)
        elements.append((text.count("\n", 0, index) + 1, value))
        index = end


def _problem(path: Path, line: int, what: str, error: ValidationError | str) -> str:
    if isinstance(error, ValidationError):
        error = describe(error)
    return f"{path}:{line}: {what} skipped: {error}"


def _customer_id(email: str) -> str:
    """A stable id for a customer known only by the email on their orders (CSV exports)."""
    return "email-" + hashlib.sha256(email.encode()).hexdigest()[:16]


def _fit(text: str | None, column) -> str | None:
    """A shop's text cut to the column's width: PostgreSQL refuses longer, and one long
    item name must not roll back the whole import."""
    return text[: column.type.length] if text else text


def save_order(
    order: ShopOrder, session: Session, report: ImportReport, customer_id: str | None = None
) -> None:
    """Insert or replace one order; a customer new to us is created from the order."""
    if customer_id is None:
        customer = session.scalar(select(Customer).where(Customer.email == order.email))
        if customer is None:
            customer = Customer(
                id=_customer_id(order.email),
                name=_fit(order.customer_name or order.email, Customer.name),
                email=order.email,
                zip=_fit(order.postcode, Customer.zip),
            )
            session.add(customer)
            report.customers += 1
        customer_id = customer.id
    existing = session.get(Order, order.id)
    if existing is not None:
        session.delete(existing)
        session.flush()
    session.add(
        Order(
            id=order.id,
            customer_id=customer_id,
            status=order.state.value,
            shop_status=_fit(order.status, Order.shop_status),
            created_at=_naive_utc(order.created_at),
            total=order.total,
            currency=order.currency,
            carrier=_fit(order.carrier, Order.carrier),
            tracking_number=_fit(order.tracking_number, Order.tracking_number),
            tracking_url=_fit(order.tracking_url, Order.tracking_url),
            shipped_at=_naive_utc(order.shipped_at),
            delivered_at=_naive_utc(order.delivered_at),
            expected_delivery=_naive_utc(order.expected_delivery),
            refunded_total=order.refunded_total,
            shipping_zip=_fit(order.postcode, Order.shipping_zip),
            items=[
                OrderItem(
                    sku=_fit(i.sku, OrderItem.sku),
                    name=_fit(i.name, OrderItem.name),
                    quantity=i.quantity,
                    unit_price=i.unit_price,
                )
                for i in order.items
            ],
        )
    )
    session.flush()
    if existing is None:
        report.added += 1
    else:
        report.updated += 1
    if order.state == OrderState.UNKNOWN:
        report.unmapped_statuses[order.status] += 1
    if order.currency == NO_CURRENCY:
        report.unknown_currency += 1


def import_orders(path: Path, session: Session, vocabulary: Vocabulary) -> ImportReport:
    """Import a JSON file in our format or a shop's order export CSV."""
    if path.suffix.lower() == ".csv":
        return _import_export(path, session, vocabulary)
    return _import_json(path, session, vocabulary)


def _import_export(path: Path, session: Session, vocabulary: Vocabulary) -> ImportReport:
    export, rows, problems = read_export(path, vocabulary)
    report = ImportReport(format=export.value if export else "csv", problems=problems)
    for row in rows:
        if row.order is None:
            report.problems.append(f"{path}:{row.line}: {row.problem}")
            continue
        save_order(row.order, session, report)
    session.commit()
    return report


def _import_json(path: Path, session: Session, vocabulary: Vocabulary) -> ImportReport:
    report = ImportReport()
    try:
        text = path.read_text(encoding="utf-8-sig")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError) as error:
        report.problems.append(f"{path}: cannot read: {error}")
        return report
    except json.JSONDecodeError as error:
        report.problems.append(f"{path}:{error.lineno}: malformed JSON ({error.msg})")
        return report
    if not isinstance(data, dict) or not {"customers", "orders"} & set(data):
        report.problems.append(f'{path}: expected an object with "customers" and "orders"')
        return report

    emails = {c.email: c.id for c in session.scalars(select(Customer))}
    customers: dict[str, CustomerRecord] = {}
    for line, raw in _elements(text, "customers"):
        try:
            record = CustomerRecord.model_validate(raw)
        except ValidationError as error:
            report.problems.append(_problem(path, line, "customer", error))
            continue
        email = record.email.lower()
        if emails.get(email, record.id) != record.id:
            report.problems.append(
                _problem(
                    path, line, f"customer {record.id}", f"email already used by {emails[email]}"
                )
            )
            continue
        emails[email] = record.id
        customers[record.id] = record
        session.merge(Customer(id=record.id, name=record.name, email=email, zip=record.zip))
        report.customers += 1
    session.flush()

    for line, raw in _elements(text, "orders"):
        try:
            record = OrderRecord.model_validate(raw)
        except ValidationError as error:
            report.problems.append(_problem(path, line, "order", error))
            continue
        customer = customers.get(record.customer_id) or session.get(Customer, record.customer_id)
        if customer is None:
            report.problems.append(
                _problem(path, line, f"order {record.id}", f"unknown customer {record.customer_id}")
            )
            continue
        save_order(_from_json(record, customer, vocabulary), session, report, record.customer_id)
    session.commit()
    return report


def _from_json(
    record: OrderRecord, customer: Customer | CustomerRecord, vocabulary: Vocabulary
) -> ShopOrder:
    carrier = vocabulary.carrier(record.carrier)
    return ShopOrder(
        id=record.id,
        email=customer.email.lower(),
        customer_name=customer.name,
        postcode=record.shipping_zip or customer.zip,
        status=record.status,
        state=vocabulary.state(record.status),
        created_at=record.created_at,
        items=record.items,
        total=record.total,
        currency=vocabulary.currency(record.currency),
        carrier=carrier,
        tracking_number=record.tracking_number,
        tracking_url=str(record.tracking_url)
        if record.tracking_url
        else vocabulary.tracking_url(carrier, record.tracking_number),
        shipped_at=record.shipped_at,
        delivered_at=record.delivered_at,
        expected_delivery=record.expected_delivery,
        refunded_total=record.refunded_total,
    )
