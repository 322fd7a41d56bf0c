"""Outgoing mail and webhook calls: stored with the change that causes them, sent by workers.

A row's unique key is its idempotency key: queueing the same key twice keeps one row,
and only the worker whose claim succeeds sends it. A row left `sending` by a killed
worker is claimed again when its lease runs out and goes out with the same Message-ID,
so a receiving server that already has it can tell it is the same mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from mail.compose import MailContent
from store.models import Outbox, OutboxStatus, utcnow


class Transport:
    SMTP = "smtp"
    WEBHOOK = "webhook"


def queue_mail(
    session: Session,
    *,
    key: str,
    kind: str,
    to: str,
    content: MailContent,
    message_id: str,
    conversation_id: str | None = None,
    draft_id: int | None = None,
    automatic: bool = False,
) -> Outbox:
    """Add a mail to the caller's transaction, or return the row already queued under `key`."""
    return _queue(
        session,
        key=key,
        transport=Transport.SMTP,
        kind=kind,
        recipient=to,
        payload=content.model_dump(),
        message_id=message_id,
        conversation_id=conversation_id,
        draft_id=draft_id,
        automatic=automatic,
    )


def queue_webhook(
    session: Session, *, key: str, kind: str, url: str, payload: dict, draft_id: int | None = None
) -> Outbox:
    """Add a webhook call (a JSON POST) to the caller's transaction; one per `key`."""
    return _queue(
        session,
        key=key,
        transport=Transport.WEBHOOK,
        kind=kind,
        recipient=url,
        payload=payload,
        draft_id=draft_id,
    )


def _queue(session: Session, *, key: str, **values) -> Outbox:
    existing = session.scalar(select(Outbox).where(Outbox.key == key))
    if existing is not None:
        return existing
    row = Outbox(key=key, status=OutboxStatus.QUEUED, attempts=0, **values)
    session.add(row)
    session.flush()
    return row


def automatic_replies_since(session: Session, address: str, hours: float = 1.0) -> int:
    """Automatic mails queued for `address` in the last `hours`: the loop brake's count."""
    since = utcnow() - timedelta(hours=hours)
    return session.scalar(
        select(func.count(Outbox.id)).where(
            Outbox.recipient == address, Outbox.automatic.is_(True), Outbox.created_at >= since
        )
    )


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    transport: str
    recipient: str
    message_id: str | None
    payload: dict
    attempts: int
    automatic: bool


def claim(sessions: sessionmaker[Session], outbox_id: int, lease_seconds: float) -> Claimed | None:
    """Take the row for sending, or None when it is sent, failed, or another worker holds it."""
    now = utcnow()
    with sessions.begin() as session:
        taken = session.execute(
            update(Outbox)
            .where(
                Outbox.id == outbox_id,
                or_(Outbox.status == OutboxStatus.QUEUED, Outbox.status == OutboxStatus.SENDING),
                # A queued row's lease is its next try; a sending row's, its worker's hold.
                or_(Outbox.lease_until.is_(None), Outbox.lease_until < now),
            )
            .values(
                status=OutboxStatus.SENDING,
                lease_until=now + timedelta(seconds=lease_seconds),
                attempts=Outbox.attempts + 1,
            )
        )
        if taken.rowcount != 1:
            return None
        row = session.get(Outbox, outbox_id)
        return Claimed(
            id=row.id,
            kind=row.kind,
            transport=row.transport,
            recipient=row.recipient,
            message_id=row.message_id,
            payload=dict(row.payload),
            attempts=row.attempts,
            automatic=row.automatic,
        )


def _held(claimed: Claimed):
    """Still this sender's claim: a sender whose lease ran out may not overwrite another's."""
    return and_(
        Outbox.id == claimed.id,
        Outbox.status == OutboxStatus.SENDING,
        Outbox.attempts == claimed.attempts,
    )


def sent(sessions: sessionmaker[Session], claimed: Claimed) -> None:
    with sessions.begin() as session:
        session.execute(
            update(Outbox)
            .where(_held(claimed))
            .values(status=OutboxStatus.SENT, lease_until=None, sent_at=utcnow(), error=None)
        )


def release(
    sessions: sessionmaker[Session], claimed: Claimed, error: str, *, retry_in: float | None
) -> None:
    """A failed try: queued again, not before `retry_in` seconds, or `failed` when None."""
    if retry_in is None:
        status, next_try = OutboxStatus.FAILED, None
    else:
        status, next_try = OutboxStatus.QUEUED, utcnow() + timedelta(seconds=retry_in)
    with sessions.begin() as session:
        session.execute(
            update(Outbox)
            .where(_held(claimed))
            .values(status=status, lease_until=next_try, error=error[:2000])
        )


def owed(sessions: sessionmaker[Session], *, queued_before_seconds: float) -> list[int]:
    """Rows nobody is sending: queued a while ago (or due for their next try), or sending
    past their lease: a lost job or a killed worker."""
    now = utcnow()
    with sessions() as session:
        return list(
            session.scalars(
                select(Outbox.id)
                .where(
                    or_(
                        and_(
                            Outbox.status == OutboxStatus.QUEUED,
                            Outbox.lease_until.is_(None),
                            Outbox.created_at < now - timedelta(seconds=queued_before_seconds),
                        ),
                        and_(
                            Outbox.status.in_([OutboxStatus.QUEUED, OutboxStatus.SENDING]),
                            Outbox.lease_until < now,
                        ),
                    )
                )
                .order_by(Outbox.id)
            )
        )
