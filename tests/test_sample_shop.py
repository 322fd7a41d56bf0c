"""The sample shop validates against the documented formats and is rich enough to test with."""

from __future__ import annotations

import json
import re
from collections import Counter
from decimal import Decimal

import pytest
from pydantic import ValidationError

from ingestion.order_states import OrderState, Vocabulary
from ingestion.records import Article, Customer, Faq, Order, Ticket
from tests.conftest import SAMPLE_SHOP

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
PHONE = re.compile(r"(?:\+\d{1,3}[\s-]?)?\(?\d{2,4}\)?[\s-]\d{3,4}[\s-]?\d{3,4}")
CARD = re.compile(r"\b(?:\d[ -]?){13,16}\b")
ORDER = re.compile(r"\bKC-\d{5}\b")
STREET = re.compile(r"\b\d{1,5} (?:[A-Z]{1,2} )?[A-Z][a-z]+ (?:St|Ave|Rd|Dr|Crescent|rue)\b")
INJECTION = re.compile(r"ignore|disregard|system:|admin mode|assistant:|ai:", re.IGNORECASE)


def read_jsonl(name: str, model):
    lines = (SAMPLE_SHOP / name).read_text(encoding="utf-8").splitlines()
    return [model.model_validate_json(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def shop():
    data = json.loads((SAMPLE_SHOP / "shop.json").read_text(encoding="utf-8"))
    customers = [Customer.model_validate(item) for item in data["customers"]]
    orders = [Order.model_validate(item) for item in data["orders"]]
    return customers, orders


def test_help_center_has_40_faqs_and_articles_with_unique_ids():
    faqs = read_jsonl("faqs.jsonl", Faq)
    articles = read_jsonl("articles.jsonl", Article)
    ids = [record.id for record in faqs + articles]
    assert len(ids) >= 40
    assert len(set(ids)) == len(ids)
    assert {"es", "de"} <= {faq.language for faq in faqs}
    assert all(article.body.count("\n## ") >= 2 for article in articles)


def test_help_center_covers_every_area():
    tags = Counter(tag for faq in read_jsonl("faqs.jsonl", Faq) for tag in faq.tags)
    for area in ("shipping", "returns", "warranty", "payments", "account"):
        assert any(area in tag for tag in tags), area


def test_tickets_are_varied_and_carry_what_redaction_must_remove():
    tickets = read_jsonl("tickets.jsonl", Ticket)
    assert len(tickets) >= 150
    assert len({ticket.id for ticket in tickets}) == len(tickets)
    statuses = Counter(ticket.status for ticket in tickets)
    assert statuses["solved"] >= 90 and statuses["open"] + statuses["pending"] >= 30
    assert sum(ticket.teaches for ticket in tickets) >= 90
    bodies = [" ".join(m.body for m in ticket.messages) for ticket in tickets]
    assert sum(bool(EMAIL.search(body)) for body in bodies) >= 15
    assert sum(bool(PHONE.search(body)) for body in bodies) >= 15
    assert sum(bool(CARD.search(body)) for body in bodies) >= 12
    assert sum(bool(ORDER.search(body)) for body in bodies) >= 60
    assert sum(bool(STREET.search(body)) for body in bodies) >= 15
    injected = [t for t in tickets if "injection-test" in t.tags]
    assert len(injected) >= 5
    assert all(INJECTION.search(" ".join(m.body for m in t.messages)) for t in injected)
    assert sum(t.teaches for t in injected) >= 3


def test_customers_and_orders_are_consistent(shop):
    customers, orders = shop
    assert len(customers) >= 50 and len(orders) >= 120
    assert len({c.email for c in customers}) == len(customers)
    known = {c.id for c in customers}
    assert all(order.customer_id in known for order in orders)
    states = Counter(Vocabulary().state(order.status) for order in orders)
    assert set(states) == set(OrderState) - {OrderState.AWAITING_PAYMENT, OrderState.UNKNOWN}
    for order in orders:
        items = sum(item.quantity * item.unit_price for item in order.items)
        assert Decimal("0") <= order.total - items <= Decimal("35"), order.id
        shipped = order.status in ("shipped", "delivered", "returned", "refunded")
        assert (order.tracking_number is not None) == shipped, order.id


@pytest.mark.parametrize(
    ("model", "record", "complaint"),
    [
        (Faq, {"id": "f1", "question": "Q?", "answer": "  "}, "answer"),
        (Article, {"id": "a1", "title": "T"}, "body"),
        (
            Ticket,
            {
                "id": "t1",
                "subject": "S",
                "status": "solved",
                "created_at": "2026-01-01T00:00:00Z",
                "messages": [],
            },
            "messages",
        ),
        (
            Ticket,
            {
                "id": "t1",
                "subject": "S",
                "status": "solved",
                "created_at": "2026-01-01T00:00:00Z",
                "messages": [{"author": "bot", "body": "hi"}],
            },
            "author",
        ),
        (
            Order,
            {
                "id": "o1",
                "customer_id": "c1",
                "status": "",
                "created_at": "2026-01-01T00:00:00Z",
                "items": [{"sku": "s", "name": "n", "quantity": 1, "unit_price": 5}],
                "total": 5,
                "currency": "USD",
            },
            "status",
        ),
        (
            Order,
            {
                "id": "o1",
                "customer_id": "c1",
                "status": "delivered",
                "created_at": "2026-01-05T00:00:00Z",
                "shipped_at": "2026-01-01T00:00:00Z",
                "items": [{"sku": "s", "name": "n", "quantity": 1, "unit_price": 5}],
                "total": 5,
                "currency": "USD",
            },
            "shipped_at is before created_at",
        ),
    ],
)
def test_records_that_break_the_format_are_refused(model, record, complaint):
    with pytest.raises(ValidationError, match=complaint):
        model.model_validate(record)
