"""The relational state: customers and orders, conversations, drafts, tickets, operators, audit.

SQLAlchemy 2.x declarative models; the schema itself is created and changed only by
the Alembic migrations in store/migrations.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    LargeBinary,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    # Naive UTC everywhere: SQLite keeps no zone, and mixing aware and naive values breaks.
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Author(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    OPERATOR = "operator"


class Channel(StrEnum):
    WIDGET = "widget"
    EMAIL = "email"
    CLI = "cli"
    EVAL = "eval"


class TurnStatus(StrEnum):
    RECEIVED = "received"  # stored, waiting for a worker
    DRAFTING = "drafting"  # a worker holds it until lease_until
    DONE = "done"  # its one draft is stored


class DraftStatus(StrEnum):
    SENT = "sent"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True, index=True)
    zip: Mapped[str | None] = mapped_column(String(20))
    orders: Mapped[list[Order]] = relationship(back_populates="customer")


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    # Our state (ingestion.order_states.OrderState); the shop's own word is shop_status.
    status: Mapped[str] = mapped_column(String(20))
    shop_status: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime]
    total: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    carrier: Mapped[str | None] = mapped_column(String(40))
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    tracking_url: Mapped[str | None] = mapped_column(String(500))
    shipped_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    expected_delivery: Mapped[datetime | None]
    refunded_total: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=0)
    # Where it ships; a guest proves the order is theirs with it (else the customer's zip).
    shipping_zip: Mapped[str | None] = mapped_column(String(20))
    customer: Mapped[Customer] = relationship(back_populates="orders")
    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderItem.id"
    )


class OrderItem(Base):
    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int]
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    order: Mapped[Order] = relationship(back_populates="items")


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Only a hash of the customer's bearer token is kept.
    token_hash: Mapped[str] = mapped_column(String(64))
    verified_email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    csat_score: Mapped[int | None]
    csat_comment: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(
        String(20), default=Channel.WIDGET, server_default="widget"
    )  # a Channel
    # An email conversation: where its replies go, its subject, and the token of its
    # reply+<token>@ address (a reply to that address continues it).
    contact_address: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(998))
    reply_token: Mapped[str | None] = mapped_column(String(32), unique=True)
    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", order_by="Message.id"
    )


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    author: Mapped[str] = mapped_column(String(20))  # an Author
    text: Mapped[str] = mapped_column(Text)
    # The draft a reply came from, for its citations; none for customer messages.
    draft_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class Turn(Base):
    """The work one customer message asks for; the row, not the job queue, is the truth."""

    __tablename__ = "turns"
    __table_args__ = (Index("ix_turns_status", "status", "lease_until"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True, index=True)
    status: Mapped[str] = mapped_column(String(10))  # a TurnStatus
    channel: Mapped[str] = mapped_column(String(20))  # a Channel
    contact_email: Mapped[str | None] = mapped_column(String(320))
    client_address: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Draft(Base):
    __tablename__ = "drafts"
    __table_args__ = (Index("ix_drafts_queue", "status", "priority"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    turn_id: Mapped[int | None] = mapped_column(unique=True, index=True)
    decision: Mapped[str] = mapped_column(String(10))  # a Decision
    status: Mapped[str] = mapped_column(String(10))  # a DraftStatus
    reply: Mapped[str] = mapped_column(Text)
    answer_type: Mapped[str] = mapped_column(String(20), default="generated")  # an AnswerType
    confidence: Mapped[float]
    priority: Mapped[float]
    language: Mapped[str] = mapped_column(String(8))
    # The reply in the shop's language when the customer's differs: by the agent, or on demand.
    translation: Mapped[str | None] = mapped_column(Text)
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    citations: Mapped[list] = mapped_column(JSON, default=list)
    tool_calls: Mapped[list] = mapped_column(JSON, default=list)
    usage: Mapped[dict] = mapped_column(JSON, default=dict)
    latency_ms: Mapped[dict] = mapped_column(JSON, default=dict)
    # The gate's Signals; None for drafts no agent turn wrote.
    signals: Mapped[dict | None] = mapped_column(JSON)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviews: Mapped[list[Review]] = relationship(back_populates="draft", order_by="Review.id")


class Review(Base):
    """One operator decision on a draft: approve, edit-and-approve or reject."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id"), index=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"))
    action: Mapped[str] = mapped_column(String(10))
    text: Mapped[str | None] = mapped_column(Text)
    # What the operator wrote in the shop's language, when `text` (sent) is its translation.
    original: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    draft: Mapped[Draft] = relationship(back_populates="reviews")


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str | None] = mapped_column(ForeignKey("conversations.id"))
    customer_email: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Operator(Base):
    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    # Raised by a logout or a new password: a login made under an older number has ended.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MailStatus(StrEnum):
    """What became of one inbound mail (the `status` of `mail receive --json`)."""

    SENT = "sent"  # a turn answered it and the answer went out
    PENDING = "pending"  # it waits for a person (or for the assistant)
    IGNORED = "ignored"  # never answered: an auto-reply, a list, a bounce, or unreadable
    DUPLICATE = "duplicate"  # its Message-ID was already stored


class MailMessage(Base):
    """One inbound mail as it arrived, whatever became of it: the full original is kept."""

    __tablename__ = "mail_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    conversation_id: Mapped[str | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    # The customer message it became; none for an ignored mail.
    chat_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    from_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(998), default="")
    # A LoopReason when it was not answered (an auto-reply, a list, a bounce).
    ignored: Mapped[str | None] = mapped_column(String(30))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QuarantinedMail(Base):
    """A mail that could not be read: kept with the reason, so the next ones still import."""

    __tablename__ = "mail_quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MailCursor(Base):
    """How far one IMAP mailbox was read: its UIDVALIDITY and the last UID imported."""

    __tablename__ = "mail_cursors"

    mailbox: Mapped[str] = mapped_column(String(500), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # a worker holds it until lease_until
    SENT = "sent"
    FAILED = "failed"  # every try failed; a person sees it
    BOUNCED = "bounced"  # sent, and the receiving side returned it


class Outbox(Base):
    """One outgoing mail or webhook call, stored with the change that caused it.

    Its unique key makes it idempotent: whatever retries or crashes, one key is one row,
    and a row is sent by whoever claims it, once.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status", "status", "lease_until"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    transport: Mapped[str] = mapped_column(String(10))  # "smtp" or "webhook"
    kind: Mapped[str] = mapped_column(String(20))  # reply, ack, digest, urgent
    recipient: Mapped[str] = mapped_column(String(500))
    conversation_id: Mapped[str | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    draft_id: Mapped[int | None] = mapped_column(index=True)
    # An automatic reply to a customer: it counts against the hourly limit per address.
    automatic: Mapped[bool] = mapped_column(default=False)
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default=OutboxStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class DeskSetting(Base):
    """A setting the owner changes in the operator pages (holidays, away mode)."""

    __tablename__ = "desk_settings"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EventKind(StrEnum):
    """What happened to a conversation: one row of the append-only event log."""

    MESSAGE_IN = "message_in"
    DRAFT_MADE = "draft_made"
    AUTO_SENT = "auto_sent"
    QUEUED = "queued"
    APPROVED_UNCHANGED = "approved_unchanged"
    EDITED = "edited"
    REJECTED = "rejected"
    ESCALATED = "escalated"
    REPLY_SENT = "reply_sent"
    RATED = "rated"
    REOPENED = "reopened"


class ConversationEvent(Base):
    """One thing that happened to a conversation, written with the change it records.

    Rows are only ever added: every insight is computed from them, so a figure for a past
    period does not change when a draft or a rating is changed later.
    """

    __tablename__ = "conversation_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # an EventKind
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    channel: Mapped[str] = mapped_column(String(20))  # a Channel
    # The customer's language once a draft detected it; None before.
    language: Mapped[str | None] = mapped_column(String(8))
    draft_id: Mapped[int | None]
    # Kind-specific: usage (tokens, cost_usd, model), latency_ms, reason codes, score.
    data: Mapped[dict] = mapped_column(JSON, default=dict)


class ConversationSummary(Base):
    """What the event log says about one conversation, folded ahead by a job.

    A cache of desk/conversation_facts.py's facts: a row is rebuilt from the conversation's
    events whenever new ones arrive, so reports read one row per conversation instead of
    every event. Deleting every row with the DeskSetting "insights_summaries" (the
    watermark) loses nothing.
    """

    __tablename__ = "conversation_summaries"
    # Kept in the order of started_at (SQLite without a rowid): a report reads a period's
    # rows in one run of pages instead of looking each up through an index.
    __table_args__ = (
        PrimaryKeyConstraint("started_at", "conversation_id"),
        Index("ix_conversation_summaries_conversation_id", "conversation_id", unique=True),
        {"sqlite_with_rowid": False},
    )

    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    channel: Mapped[str] = mapped_column(String(20))
    language: Mapped[str | None] = mapped_column(String(8))
    started_at: Mapped[datetime]
    first_response: Mapped[float | None]  # seconds
    resolution: Mapped[float | None]
    replies_auto: Mapped[int]
    replies_by_person: Mapped[int]
    reopens: Mapped[int]
    reopened_soon: Mapped[bool]
    rating: Mapped[int | None]
    first_queued: Mapped[bool | None]
    auto_sent: Mapped[int]
    queued: Mapped[int]
    approved_unchanged: Mapped[int]
    edited: Mapped[int]
    rejected: Mapped[int]
    escalated: Mapped[int]
    # Plain text rather than JSON, read back 2-4x faster: seconds joined by ",", and a line
    # "model<TAB>drafts<TAB>tokens<TAB>USD" per model (desk/summaries.py).
    waits: Mapped[str] = mapped_column(Text)
    usage: Mapped[str] = mapped_column(Text)
    # Business minutes under the hours and holidays that DeskSetting "insights_summaries"
    # names; None without business hours.
    business_first_response: Mapped[float | None]
    business_resolution: Mapped[float | None]
    # Its newest event folded in: a report reads the row only when that is not past the
    # watermark nor past the report's end.
    last_event_id: Mapped[int]
    last_event_at: Mapped[datetime]
    # The usage again, summed: its one model (None with several or none), drafts, tokens
    # and USD, so a report sums the usual one-model conversation in SQL.
    model: Mapped[str | None] = mapped_column(String(200))
    drafts: Mapped[int]
    tokens: Mapped[int]
    cost_usd: Mapped[float]
