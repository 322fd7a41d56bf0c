"""Conversations and their messages: who may read them, and what was said."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Channel, Conversation, Message


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_conversation(
    session: Session, verified_email: str | None = None, channel: str = Channel.WIDGET
) -> tuple[Conversation, str]:
    """A new conversation and the bearer token that alone can read it (shown once)."""
    token = secrets.token_urlsafe(32)
    conversation = Conversation(
        id=str(uuid.uuid4()),
        token_hash=_hash(token),
        verified_email=verified_email.lower() if verified_email else None,
        channel=channel,
    )
    session.add(conversation)
    session.commit()
    return conversation, token


def authorized(session: Session, conversation_id: str, token: str) -> Conversation | None:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or not hmac.compare_digest(conversation.token_hash, _hash(token)):
        return None
    return conversation


def add_message(
    session: Session, conversation_id: str, author: str, text: str, draft_id: int | None = None
) -> Message:
    """Store a message and commit at once: it survives whatever happens next."""
    message = Message(conversation_id=conversation_id, author=author, text=text, draft_id=draft_id)
    session.add(message)
    session.commit()
    return message


def recent_messages(
    session: Session, conversation_id: str, before_id: int, limit: int
) -> list[Message]:
    rows = session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.id < before_id)
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))


def messages_after(session: Session, conversation_id: str, after: int) -> list[Message]:
    """Messages with an id above the cursor `after`, oldest first."""
    return list(
        session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.id > after)
            .order_by(Message.id)
        )
    )
