"""A customer message arrives: it and its turn are committed together before anything else.

Nothing that happens afterwards (a dead model, a killed worker, a full queue) can
lose the message: the turn row says what is still owed to the customer.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agent.draft import Draft, Reason, ReasonCode
from desk import events_log
from desk.drafting import holding, record
from settings import Settings
from store.models import Author, Channel, Conversation, Message, Turn, TurnStatus

OPEN_TURNS = (TurnStatus.RECEIVED, TurnStatus.DRAFTING)


class MessageTooLong(ValueError):
    pass


class UnknownConversation(LookupError):
    pass


@dataclass(frozen=True)
class Receipt:
    conversation_id: str
    message_id: int
    turn_id: int
    # False when the desk was too busy to draft: the message already has a pending draft.
    queued: bool


def store_message(
    session: Session,
    settings: Settings,
    *,
    conversation_id: str,
    text: str,
    channel: Channel,
    contact_email: str | None = None,
    client_address: str | None = None,
) -> Receipt:
    """The message and its turn in the caller's transaction (a mail adds its own row to it)."""
    if len(text) > settings.max_message_chars:
        raise MessageTooLong(
            f"the message has {len(text)} characters; max {settings.max_message_chars}"
        )
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise UnknownConversation(f"no conversation {conversation_id}")
    message = Message(conversation_id=conversation_id, author=Author.CUSTOMER, text=text)
    session.add(message)
    session.flush()
    events_log.message_in(session, conversation)
    waiting = session.scalar(select(func.count(Turn.id)).where(Turn.status.in_(OPEN_TURNS)))
    turn = Turn(
        conversation_id=conversation_id,
        message_id=message.id,
        status=TurnStatus.RECEIVED,
        channel=channel,
        contact_email=contact_email,
        client_address=client_address,
    )
    session.add(turn)
    session.flush()
    busy = waiting >= settings.max_pending_turns
    if busy:
        record(
            session, turn, _over_capacity(text, waiting, settings.shop_language), settings=settings
        )
    return Receipt(conversation_id, message.id, turn.id, queued=not busy)


def _over_capacity(text: str, waiting: int, shop_language: str) -> Draft:
    """An honest holding reply for review instead of a place at the end of a long line."""
    reason = f"{waiting} messages were already waiting for the assistant, so a person answers."
    return holding(text, Reason(code=ReasonCode.CAPACITY, text=reason), shop_language=shop_language)
