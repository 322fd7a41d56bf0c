"""The approval queue: which drafts wait, in what order, and the operator's decisions."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from store.conversations import add_message
from store.models import Author, Draft, DraftStatus, Operator, Review, utcnow
from store.operators import audit

# How much a draft waiting a whole SLA period adds to its priority (0..100 scale).
SLA_WEIGHT = 40.0
RECENT_REVIEWS = 50


@dataclass
class Waiting:
    draft: Draft
    waited_minutes: float
    due_in_minutes: float  # negative once the SLA is missed
    urgency: float  # the draft's priority raised by waiting time: the queue's order


def pending(session: Session, sla_minutes: int, now: datetime | None = None) -> list[Waiting]:
    """Pending drafts, most urgent first: priority, raised as the SLA clock runs down."""
    now = now or utcnow()
    drafts = session.scalars(select(Draft).where(Draft.status == DraftStatus.PENDING))
    queue = []
    for draft in drafts:
        waited = (now - draft.created_at).total_seconds() / 60
        urgency = min(100.0, draft.priority + SLA_WEIGHT * min(waited / sla_minutes, 1.5))
        queue.append(Waiting(draft, waited, sla_minutes - waited, round(urgency, 1)))
    return sorted(queue, key=lambda item: (-item.urgency, item.draft.id))


def expected_wait_minutes(session: Session, sla_minutes: int) -> int:
    """An honest wait for a newly queued draft: how long recent reviews took, else the SLA."""
    rows = session.execute(
        select(Review.created_at, Draft.created_at)
        .join(Draft, Review.draft_id == Draft.id)
        .order_by(Review.id.desc())
        .limit(RECENT_REVIEWS)
    ).all()
    if len(rows) < 5:
        return sla_minutes
    minutes = [(reviewed - drafted).total_seconds() / 60 for reviewed, drafted in rows]
    return max(1, min(sla_minutes, round(statistics.median(minutes))))


class AlreadyDecided(ValueError):
    pass


def decide(
    session: Session,
    draft: Draft,
    operator: Operator,
    action: str,
    text: str | None = None,
    reason: str | None = None,
    original: str | None = None,
) -> Review:
    """Approve (with `text` when edited) or reject a pending draft; audited, committed once.

    `original` is the operator's own text when `text` is its translation.

    The decision is one conditional update (only while the draft is still pending), so of
    two operators, or one double click, deciding the same draft exactly one wins; the other
    gets AlreadyDecided, however old the `draft` object they hold.
    """
    if draft.status != DraftStatus.PENDING:
        raise AlreadyDecided(f"draft {draft.id} was already {draft.status}")
    status = DraftStatus.APPROVED if action == "approve" else DraftStatus.REJECTED
    claimed = session.execute(
        update(Draft)
        .where(Draft.id == draft.id, Draft.status == DraftStatus.PENDING)
        .values(status=status)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        draft_id = draft.id
        session.rollback()
        now = session.scalar(select(Draft.status).where(Draft.id == draft_id))
        raise AlreadyDecided(f"draft {draft_id} was already {now}")
    set_committed_value(draft, "status", status)
    edited = action == "approve" and text is not None and text.strip() != draft.reply.strip()
    review = Review(
        draft_id=draft.id,
        operator_id=operator.id,
        action="edit" if edited else action,
        text=text.strip() if edited else None,
        reason=reason,
        original=original,
    )
    session.add(review)
    audit(
        session,
        operator.name,
        review.action,
        f"draft:{draft.id}",
        conversation=draft.conversation_id,
        reason=reason,
        edited=edited,
    )
    session.flush()
    if action == "approve":
        # add_message commits, and with it the review, the status and the audit entry.
        add_message(
            session, draft.conversation_id, Author.OPERATOR, review.text or draft.reply, draft.id
        )
    else:
        session.commit()
    return review
