"""`support-agent orders import`: load customers and orders, skipping bad records by line.

Importing is idempotent: a record whose id exists replaces the stored one (an
order's items included), so re-importing an export from the shop system updates it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingestion.records import Customer as CustomerRecord
from ingestion.records import Order as OrderRecord
from ingestion.records import describe
from store.models import Customer, Order, OrderItem


@dataclass
class ImportReport:
    customers: int = 0
    orders: int = 0
    problems: list[str] = field(default_factory=list)


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


def import_orders(path: Path, session: Session) -> ImportReport:
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
        session.merge(Customer(id=record.id, name=record.name, email=email, zip=record.zip))
        report.customers += 1
    session.flush()

    known = set(session.scalars(select(Customer.id)))
    for line, raw in _elements(text, "orders"):
        try:
            record = OrderRecord.model_validate(raw)
        except ValidationError as error:
            report.problems.append(_problem(path, line, "order", error))
            continue
        if record.customer_id not in known:
            report.problems.append(
                _problem(path, line, f"order {record.id}", f"unknown customer {record.customer_id}")
            )
            continue
        existing = session.get(Order, record.id)
        if existing is not None:
            session.delete(existing)
            session.flush()
        session.add(
            Order(
                id=record.id,
                customer_id=record.customer_id,
                status=record.status.value,
                created_at=_naive_utc(record.created_at),
                total=record.total,
                currency=record.currency,
                carrier=record.carrier,
                tracking_number=record.tracking_number,
                shipped_at=_naive_utc(record.shipped_at),
                delivered_at=_naive_utc(record.delivered_at),
                items=[
                    OrderItem(sku=i.sku, name=i.name, quantity=i.quantity, unit_price=i.unit_price)
                    for i in record.items
                ],
            )
        )
        report.orders += 1
    session.commit()
    return report
