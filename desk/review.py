"""An operator decides on a draft, and an approved edit is learned as knowledge.

A draft in a language other than the shop's is shown to the owner translated, and an
operator may write the reply in the shop's language and send its translation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from agent.translation import translate
from desk import email_replies, events_log
from ingestion.feedback import learn_from_edit
from kb.embeddings import Embedder
from settings import Settings
from store.models import (
    Conversation,
    Draft,
    DraftStatus,
    EventKind,
    Message,
    Operator,
    Review,
)
from store.operators import audit
from store.queue import AlreadyDecided, decide

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
    original: str | None = None,
    embedder: Callable[[], Embedder],
) -> Decided:
    """Approve (edited when `text` differs) or reject; raises AlreadyDecided or NoSuchDraft.

    `original` is what the operator wrote in the shop's language when `text` is its
    translation into the customer's: the audit log and the review keep both.
    """
    with sessions() as session:
        draft = _draft(session, draft_id)
        operator = session.get(Operator, operator_id)
        translated = action == Action.APPROVE and original is not None
        if translated:
            # Added before the decision, so the decision's one commit keeps it (or drops it).
            audit(
                session,
                operator.name,
                "translate",
                f"draft:{draft.id}",
                conversation=draft.conversation_id,
                source=settings.shop_language,
                target=draft.language,
                original=original,
                translation=text,
            )
        try:
            conversation = session.get(Conversation, draft.conversation_id)
            if action == Action.APPROVE and draft.status == DraftStatus.PENDING:
                # Stored with the decision: its commit sends both, a lost race drops both.
                edited = text is not None and text.strip() != draft.reply.strip()
                email_replies.queue_reply(
                    session,
                    settings,
                    conversation,
                    draft_id=draft.id,
                    text=text.strip() if edited else draft.reply,
                    automatic=False,
                )
                kind = EventKind.EDITED if edited else EventKind.APPROVED_UNCHANGED
                events_log.decided(session, conversation, draft, kind)
            elif action == Action.REJECT and draft.status == DraftStatus.PENDING:
                events_log.decided(session, conversation, draft, EventKind.REJECTED)
            decided = decide(
                session, draft, operator, action, text=text, reason=reason, original=original
            )
        except IntegrityError:
            # A second approval of the same draft at the same moment: its reply row exists.
            session.rollback()
            raise AlreadyDecided(f"draft {draft_id} was already decided") from None
        if decided.action == "edit":
            question = session.get(Message, draft.message_id).text
            _learn(settings, draft, question, decided, embedder)
        return Decided(decided, draft.conversation_id)


def translate_draft(sessions: sessionmaker[Session], settings: Settings, draft_id: int) -> str:
    """The draft's reply in the shop's language, translated now and stored with the draft.

    Raises NoSuchDraft, or agent.translation.TranslationFailed (nothing is stored then).
    """
    with sessions() as session:
        draft = _draft(session, draft_id)
        reply, language = draft.reply, draft.language
    # The model takes seconds: no database session is held meanwhile.
    translation = translate(settings, reply, source=language, target=settings.shop_language)
    with sessions.begin() as session:
        session.execute(update(Draft).where(Draft.id == draft_id).values(translation=translation))
    return translation


def translate_reply(
    sessions: sessionmaker[Session], settings: Settings, draft_id: int, text: str
) -> str:
    """`text`, an operator's reply in the shop's language, in the draft's customer's language.

    Raises NoSuchDraft, AlreadyDecided (no reply is owed any more), or TranslationFailed.
    """
    with sessions() as session:
        draft = _draft(session, draft_id)
        if draft.status != DraftStatus.PENDING:
            raise AlreadyDecided(f"draft {draft_id} was already {draft.status}")
        language = draft.language
    return translate(settings, text, source=settings.shop_language, target=language)


def _draft(session: Session, draft_id: int) -> Draft:
    draft = session.get(Draft, draft_id)
    if draft is None:
        raise NoSuchDraft(f"no draft {draft_id}")
    return draft


def _learn(
    settings: Settings,
    draft: Draft,
    question: str,
    decided: Review,
    embedder: Callable[[], Embedder],
) -> None:
    """Index the corrected answer in the background; the operator does not wait for it.

    The answer is the text the customer got, in the customer's language like the question,
    so both are learned under the draft's language, also when the operator wrote it in the
    shop's language and sent its translation.
    """
    draft_id, language, answer, when = draft.id, draft.language, decided.text, decided.created_at

    def work() -> None:
        try:
            learn_from_edit(
                settings, draft_id, question, answer, when, language, embedder=embedder()
            )
        except Exception:
            log.exception("could not learn from the edit of draft %s", draft_id)

    threading.Thread(target=work, daemon=True).start()
