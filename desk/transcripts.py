"""What a customer may read of their conversation: who may open it, and what was said."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from desk.intake import OPEN_TURNS
from store.conversations import messages_after
from store.models import Draft as DraftRow
from store.models import DraftStatus, Message, Turn

HELP_CENTRE = ("faq", "article")


def shown_to_customers(citations: list[dict]) -> list[dict]:
    """Only help-centre sources: a past ticket's subject or text is another customer's."""
    return [c for c in citations if c.get("kind") in HELP_CENTRE]


class Said(BaseModel):
    id: int
    author: str
    text: str
    created_at: str
    citations: list[dict]


class Transcript(BaseModel):
    messages: list[Said]
    cursor: int
    # A reply is owed while a draft waits for a person or a turn waits for a worker.
    pending: bool


def transcript(session: Session, conversation_id: str, after: int) -> Transcript:
    """Messages after the cursor `after`, oldest first, with the citations of replies."""
    messages = messages_after(session, conversation_id, after)
    ids = {m.draft_id for m in messages if m.draft_id}
    drafts = {d.id: d for d in session.scalars(select(DraftRow).where(DraftRow.id.in_(ids)))}
    waiting = session.scalar(
        select(DraftRow.id).where(
            DraftRow.conversation_id == conversation_id, DraftRow.status == DraftStatus.PENDING
        )
    ) or session.scalar(
        select(Turn.id).where(Turn.conversation_id == conversation_id, Turn.status.in_(OPEN_TURNS))
    )
    return Transcript(
        messages=[_said(m, drafts) for m in messages],
        cursor=messages[-1].id if messages else after,
        pending=waiting is not None,
    )


def _said(message: Message, drafts: dict[int, DraftRow]) -> Said:
    draft = drafts.get(message.draft_id) if message.draft_id else None
    return Said(
        id=message.id,
        author=message.author,
        text=message.text,
        created_at=message.created_at.isoformat() + "Z",
        citations=shown_to_customers(draft.citations) if draft else [],
    )
