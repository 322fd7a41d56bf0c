"""The conversation event log: each change to a conversation adds its events here.

Every function adds rows to the caller's session and never commits: an event is stored
in the same transaction as the change it records, or not at all. (Live events for the
browser are desk/events.py; these rows are the history the insights are computed from.)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from agent.draft import Decision, Draft, ReasonCode
from store.models import Conversation, ConversationEvent, EventKind, utcnow
from store.models import Draft as DraftRow

# Reasons that hand the conversation to a person on purpose, not merely for doubt.
ESCALATING_REASONS = frozenset({ReasonCode.HANDOFF, ReasonCode.POLICY_FLAG})


def record_event(
    session: Session,
    conversation: Conversation,
    kind: EventKind,
    *,
    language: str | None = None,
    draft_id: int | None = None,
    data: dict | None = None,
    at: datetime | None = None,
) -> ConversationEvent:
    """Add one event of `conversation` to the session (the caller's transaction)."""
    event = ConversationEvent(
        conversation_id=conversation.id,
        kind=kind,
        at=at or utcnow(),
        channel=conversation.channel,
        language=language,
        draft_id=draft_id,
        data=data or {},
    )
    session.add(event)
    return event


def message_in(session: Session, conversation: Conversation) -> None:
    """A customer message; also `reopened` when the conversation already had a reply sent."""
    replied = session.scalar(
        select(
            exists().where(
                ConversationEvent.conversation_id == conversation.id,
                ConversationEvent.kind == EventKind.REPLY_SENT,
            )
        )
    )
    record_event(session, conversation, EventKind.MESSAGE_IN)
    if replied:
        record_event(session, conversation, EventKind.REOPENED)


def drafted(session: Session, conversation: Conversation, draft: Draft, *, draft_id: int) -> None:
    """A stored draft: `draft_made`, then `auto_sent` and `reply_sent` when the gate sent it,
    else `queued`; and `escalated` when it hands the conversation to a person on purpose.

    Escalated means: the customer asked for a person (a `handoff` reason), a policy flag was
    raised (refund, legal, …: a `policy_flag` reason), or the draft opened a ticket. Drafts
    queued only for doubt (weak grounding, low confidence, a failed turn) are not escalated.
    """
    codes = sorted({reason.code.value for reason in draft.reasons})
    record_event(
        session,
        conversation,
        EventKind.DRAFT_MADE,
        language=draft.language,
        draft_id=draft_id,
        data={
            "usage": {**draft.usage.model_dump(), "model": draft.model},
            "latency_ms": draft.latency_ms.total,
            "reasons": codes,
            # The knowledge the turn found, cited or not: what no draft finds is worth a look.
            "retrieved": draft.retrieved,
        },
    )
    sent = draft.decision == Decision.SEND
    kind = EventKind.AUTO_SENT if sent else EventKind.QUEUED
    record_event(session, conversation, kind, language=draft.language, draft_id=draft_id)
    if draft.ticket_id is not None or ESCALATING_REASONS.intersection(codes):
        record_event(
            session,
            conversation,
            EventKind.ESCALATED,
            language=draft.language,
            draft_id=draft_id,
            data={"reasons": codes, "ticket_id": draft.ticket_id},
        )
    if sent:
        reply_sent(session, conversation, language=draft.language, draft_id=draft_id, by="agent")


def decided(session: Session, conversation: Conversation, draft: DraftRow, kind: EventKind) -> None:
    """An operator's decision on a pending draft; an approval (edited or not) sends a reply."""
    record_event(session, conversation, kind, language=draft.language, draft_id=draft.id)
    if kind != EventKind.REJECTED:
        reply_sent(session, conversation, language=draft.language, draft_id=draft.id, by="person")


def reply_sent(
    session: Session, conversation: Conversation, *, language: str, draft_id: int, by: str
) -> None:
    """A reply reached the customer; `by` is "agent" (automatic) or "person"."""
    record_event(
        session,
        conversation,
        EventKind.REPLY_SENT,
        language=language,
        draft_id=draft_id,
        data={"by": by},
    )


def rated(session: Session, conversation: Conversation, score: int) -> None:
    record_event(session, conversation, EventKind.RATED, data={"score": score})
