"""The import formats as pydantic models: what a shop hands us, validated at the door.

docs/formats.md describes the same formats for people; keep the two in step.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    ValidationError,
    model_validator,
)

from ingestion.order_states import OrderState

NonEmpty = Annotated[str, Field(min_length=1)]


def describe(error: ValidationError) -> str:
    """The first problem of a record in one line: `field: what is wrong`."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "record"
    return f"{where}: {first['msg']}"


class Record(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class HelpRecord(Record):
    """What articles and FAQs share: an id and what a citation shows."""

    id: NonEmpty
    url: HttpUrl | None = None
    tags: list[str] = []
    language: str = "en"
    updated_at: datetime | None = None


class Article(HelpRecord):
    """A help article: a title and a Markdown body."""

    title: NonEmpty
    body: NonEmpty


class Faq(HelpRecord):
    """One question with its answer; always kept whole."""

    question: NonEmpty
    answer: NonEmpty


class TicketMessage(Record):
    author: Literal["customer", "agent"]
    body: NonEmpty
    created_at: datetime | None = None


class TicketStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    SOLVED = "solved"
    CLOSED = "closed"


class Ticket(Record):
    """A past support conversation; only solved ones with an agent reply teach the agent."""

    id: NonEmpty
    subject: NonEmpty
    status: TicketStatus
    created_at: datetime
    tags: list[str] = []
    customer_email: EmailStr | None = None
    messages: list[TicketMessage] = Field(min_length=1)

    @property
    def teaches(self) -> bool:
        solved = self.status in (TicketStatus.SOLVED, TicketStatus.CLOSED)
        return solved and any(message.author == "agent" for message in self.messages)


class Customer(Record):
    id: NonEmpty
    name: NonEmpty
    email: EmailStr
    zip: str | None = None


class OrderItem(Record):
    sku: NonEmpty
    name: NonEmpty
    quantity: int = Field(gt=0)
    unit_price: Decimal = Field(ge=0)


class Order(Record):
    """An order in our JSON format; `status` is the shop's own word (docs/formats.md)."""

    id: NonEmpty
    customer_id: NonEmpty
    status: Annotated[str, Field(min_length=1, max_length=80)]
    created_at: datetime
    items: list[OrderItem] = Field(min_length=1)
    total: Decimal = Field(ge=0)
    currency: Annotated[str, Field(min_length=1, max_length=20)]
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: HttpUrl | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    expected_delivery: datetime | None = None
    refunded_total: Decimal = Field(Decimal(0), ge=0)
    shipping_zip: str | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> Order:
        # One zone for all: a date with an offset beside one without must still compare.
        for name in ("created_at", "shipped_at", "delivered_at", "expected_delivery"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                setattr(self, name, moment.replace(tzinfo=UTC))
        if self.shipped_at and self.shipped_at < self.created_at:
            raise ValueError("shipped_at is before created_at")
        if self.delivered_at and (not self.shipped_at or self.delivered_at < self.shipped_at):
            raise ValueError("delivered_at needs a shipped_at before it")
        if self.total < sum(item.quantity * item.unit_price for item in self.items):
            raise ValueError("total is less than the sum of the items")
        return self


class RefundState(StrEnum):
    NONE = "none"
    PARTIAL = "partial"
    FULL = "full"


class ShopOrder(Record):
    """One order as every source hands it on (our JSON, a shop's export, a live API).

    `status` is the shop's own text and `state` ours; the store keeps both, and the agent
    reads the same fields whether the order came from last night's import or a live call.
    """

    id: NonEmpty
    email: EmailStr
    customer_name: str | None = None
    postcode: str | None = None  # where the order ships: a guest's second factor
    status: Annotated[str, Field(max_length=80)]
    state: OrderState
    created_at: datetime
    items: list[OrderItem] = []
    total: Decimal = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    expected_delivery: datetime | None = None
    refunded_total: Decimal = Field(Decimal(0), ge=0)

    @property
    def refund_state(self) -> RefundState:
        if self.refunded_total <= 0:
            return RefundState.NONE
        return RefundState.FULL if self.refunded_total >= self.total else RefundState.PARTIAL
