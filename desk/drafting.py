"""A turn is drafted: claim it, load what the agent needs, let it decide, store the draft.

A claim is a lease: a worker that dies mid-turn leaves the turn `drafting` until the
lease runs out, and then any worker may claim it again. The draft is stored at most
once per turn (drafts.turn_id is unique), so a turn claimed twice is answered once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from agent.draft import Decision, Draft, Reason, ReasonCode
from agent.gate import priority
from agent.language import detect_language
from agent.policy import raised_flags
from agent.prompts import render
from agent.translation import for_owner
from agent.turn import HISTORY, Said, TurnInput
from desk import alerts, email_replies, events_log
from settings import Settings
from store.models import (
    Author,
    Conversation,
    DraftStatus,
    Message,
    Ticket,
    Turn,
    TurnStatus,
    utcnow,
)
from store.models import Draft as DraftRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    turn_id: int
    conversation_id: str
    message_id: int
    attempts: int
    input: TurnInput


def claim(sessions: sessionmaker[Session], turn_id: int, lease_seconds: float) -> Claim | None:
    """Take the turn for drafting, or None when it is done or another worker's lease holds."""
    now = utcnow()
    with sessions.begin() as session:
        taken = session.execute(
            update(Turn)
            .where(
                Turn.id == turn_id,
                or_(
                    Turn.status == TurnStatus.RECEIVED,
                    and_(Turn.status == TurnStatus.DRAFTING, Turn.lease_until < now),
                ),
            )
            .values(
                status=TurnStatus.DRAFTING,
                lease_until=now + timedelta(seconds=lease_seconds),
                attempts=Turn.attempts + 1,
                updated_at=now,
            )
        )
        if taken.rowcount != 1:
            return None
        turn = session.get(Turn, turn_id)
        message = session.get(Message, turn.message_id)
        conversation = session.get(Conversation, turn.conversation_id)
        earlier = session.scalars(
            select(Message)
            .where(Message.conversation_id == turn.conversation_id, Message.id < message.id)
            .order_by(Message.id.desc())
            .limit(HISTORY)
        )
        history = [Said(by_customer=m.author == Author.CUSTOMER, text=m.text) for m in earlier]
        return Claim(
            turn_id=turn.id,
            conversation_id=turn.conversation_id,
            message_id=message.id,
            attempts=turn.attempts,
            input=TurnInput(
                text=message.text,
                history=list(reversed(history)),
                verified_email=conversation.verified_email,
                contact_email=turn.contact_email,
                client_address=turn.client_address,
            ),
        )


@contextmanager
def renewing(sessions: sessionmaker[Session], claim: Claim, lease_seconds: float) -> Iterator[None]:
    """Keep the claim's lease while the block runs: a slow model on a busy machine must not
    look like a dead worker, or the recovery sweep drafts the turn a second time."""
    done = threading.Event()

    def renew() -> None:
        while not done.wait(lease_seconds / 3):
            try:
                with sessions.begin() as session:
                    session.execute(
                        update(Turn)
                        .where(
                            Turn.id == claim.turn_id,
                            Turn.status == TurnStatus.DRAFTING,
                            Turn.attempts == claim.attempts,  # still this worker's claim
                        )
                        .values(lease_until=utcnow() + timedelta(seconds=lease_seconds))
                    )
            except Exception:  # the next renewal may succeed; the lease covers the gap
                log.exception("could not renew the lease of turn %s", claim.turn_id)

    renewer = threading.Thread(target=renew, name=f"lease-{claim.turn_id}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        done.set()
        renewer.join()


def record(session: Session, turn: Turn, draft: Draft, *, settings: Settings) -> Draft:
    """Store the turn's one draft (and its ticket, its sent reply, and the mail that carries
    the reply or the promise of one) in the caller's transaction."""
    conversation = session.get(Conversation, turn.conversation_id)
    draft = email_replies.brake(session, settings, conversation, draft)
    if draft.ticket is not None:
        ticket = Ticket(
            conversation_id=turn.conversation_id,
            customer_email=conversation.verified_email,
            subject=draft.ticket.subject,
            summary=draft.ticket.summary,
        )
        session.add(ticket)
        session.flush()
        draft.ticket_id = ticket.id
    sent = draft.decision == Decision.SEND
    row = DraftRow(
        conversation_id=turn.conversation_id,
        message_id=turn.message_id,
        turn_id=turn.id,
        decision=draft.decision,
        status=DraftStatus.SENT if sent else DraftStatus.PENDING,
        reply=draft.reply,
        answer_type=draft.answer_type,
        confidence=draft.confidence,
        priority=draft.priority,
        language=draft.language,
        translation=draft.translation,
        reasons=[reason.model_dump(mode="json") for reason in draft.reasons],
        citations=[c.model_dump() for c in draft.citations],
        tool_calls=[t.model_dump(mode="json") for t in draft.tool_calls],
        usage=draft.usage.model_dump(),
        latency_ms=draft.latency_ms.model_dump(),
        signals=draft.signals.model_dump() if draft.signals else None,
        ticket_id=draft.ticket_id,
    )
    session.add(row)
    session.flush()
    if sent:
        session.add(
            Message(
                conversation_id=turn.conversation_id,
                author=Author.AGENT,
                text=draft.reply,
                draft_id=row.id,
            )
        )
    turn.status, turn.lease_until = TurnStatus.DONE, None
    session.flush()
    draft.draft_id, draft.conversation_id = row.id, turn.conversation_id
    events_log.drafted(session, conversation, draft, draft_id=row.id)
    if sent:
        email_replies.queue_reply(
            session, settings, conversation, draft_id=row.id, text=draft.reply, automatic=True
        )
    else:
        email_replies.queue_ack(session, settings, conversation, draft=draft)
        alerts.queue_alerts(session, settings, row, now=utcnow())
    return draft


def release(sessions: sessionmaker[Session], turn_id: int, error: str) -> None:
    """Give a failed attempt back, so a retry (or the recovery sweep) can claim it at once."""
    with sessions.begin() as session:
        session.execute(
            update(Turn)
            .where(Turn.id == turn_id, Turn.status == TurnStatus.DRAFTING)
            .values(status=TurnStatus.RECEIVED, lease_until=None, error=error[:2000])
        )


def holding(text: str, reason: Reason, *, shop_language: str) -> Draft:
    """A holding reply for a person to answer: a turn the assistant did not or could not draft.

    It is written in the customer's language, with the owner's beside it."""
    language = detect_language(text)
    return Draft(
        decision=Decision.REVIEW,
        reply=render("fallback_reply", language=language),
        translation=for_owner("fallback_reply", language, shop_language),
        confidence=0.0,
        reasons=[reason],
        priority=priority(text, raised_flags(text), 0.0, 0.0),
        language=language,
    )


def failed(text: str, error: str, attempts: int, *, shop_language: str) -> Draft:
    """The draft of a turn that could not be drafted, with the last error."""
    reason = f"The assistant could not draft a reply ({attempts} attempts): {error}"
    return holding(
        text, Reason(code=ReasonCode.TURN_FAILED, text=reason), shop_language=shop_language
    )


def stale(sessions: sessionmaker[Session], *, received_before_seconds: float) -> list[int]:
    """Turns nobody is working on: received a while ago, or drafting past their lease."""
    now = utcnow()
    with sessions() as session:
        return list(
            session.scalars(
                select(Turn.id)
                .where(
                    or_(
                        and_(
                            Turn.status == TurnStatus.RECEIVED,
                            Turn.updated_at < now - timedelta(seconds=received_before_seconds),
                        ),
                        and_(Turn.status == TurnStatus.DRAFTING, Turn.lease_until < now),
                    )
                )
                .order_by(Turn.id)
            )
        )
