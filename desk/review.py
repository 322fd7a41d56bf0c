"""An operator decides on a draft, and an approved edit is learned as knowledge."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session, sessionmaker

from ingestion.feedback import learn_from_edit
from kb.embeddings import Embedder
from settings import Settings
from store.models import Draft, Message, Operator, Review
from store.queue import decide

log = logging.getLogger(__name__)


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True)
class Decided:
    review: Review
    conversation_id: str


class NoSuchDraft(LookupError):
    pass


def review(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    draft_id: int,
    operator_id: int,
    action: Action,
    text: str | None,
    reason: str | None,
    embedder: Callable[[], Embedder],
) -> Decided:
    """Approve (edited when `text` differs) or reject; raises AlreadyDecided or NoSuchDraft."""
    with sessions() as session:
        draft = session.get(Draft, draft_id)
        if draft is None:
            raise NoSuchDraft(f"no draft {draft_id}")
        operator = session.get(Operator, operator_id)
        decided = decide(session, draft, operator, action, text=text, reason=reason)
        if decided.action == "edit":
            question = session.get(Message, draft.message_id).text
            _learn(settings, draft, question, decided, embedder)
        return Decided(decided, draft.conversation_id)


def _learn(
    settings: Settings,
    draft: Draft,
    question: str,
    decided: Review,
    embedder: Callable[[], Embedder],
) -> None:
    """Index the corrected answer in the background; the operator does not wait for it."""
    draft_id, language, answer, when = draft.id, draft.language, decided.text, decided.created_at

    def work() -> None:
        try:
            learn_from_edit(
                settings, draft_id, question, answer, when, language, embedder=embedder()
            )
        except Exception:
            log.exception("could not learn from the edit of draft %s", draft_id)

    threading.Thread(target=work, daemon=True).start()
