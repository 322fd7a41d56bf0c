"""A reply goes out by mail: the answer to an email conversation, or the promise of one.

Each outgoing mail is an outbox row in the same transaction as the draft or decision
that caused it, so a crash cannot lose a reply nor send one that was never stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.draft import Decision, Draft, Reason, ReasonCode
from agent.prompts import render
from desk.away import estimate
from desk.outbox import automatic_replies_since, queue_mail
from mail.compose import MailContent, message_id_for, reply_address, reply_subject
from settings import Settings
from store.models import Channel, Conversation, MailMessage, Message, Outbox, utcnow
from store.models import Draft as DraftRow

# One promise of an answer per conversation in this long, however many mails wait.
ACK_EVERY = timedelta(hours=12)
NO_SENDER = "support@support-agent.invalid"


def brake(session: Session, settings: Settings, conversation: Conversation, draft: Draft) -> Draft:
    """A draft the gate would send waits for a person once its address had this hour's share
    of automatic replies: two robots must not answer each other for ever."""
    if draft.decision != Decision.SEND or conversation.channel != Channel.EMAIL:
        return draft
    limit = settings.mail_auto_replies_per_hour
    if automatic_replies_since(session, conversation.contact_address) < limit:
        return draft
    reason = Reason(
        code=ReasonCode.AUTO_REPLY_LIMIT,
        text=f"{conversation.contact_address} already got {limit} automatic replies this hour.",
    )
    return draft.model_copy(update={"decision": Decision.REVIEW, "reasons": [reason]})


def queue_reply(
    session: Session,
    settings: Settings,
    conversation: Conversation,
    *,
    draft_id: int,
    text: str,
    automatic: bool,
) -> Outbox | None:
    """The reply a customer gets for a draft, sent by the gate or approved by a person."""
    if conversation.channel != Channel.EMAIL:
        return None
    answered = session.scalar(
        select(MailMessage)
        .join(Message, Message.id == MailMessage.chat_message_id)
        .where(Message.conversation_id == conversation.id)
        .order_by(Message.id.desc())
        .limit(1)
    )
    body = render(
        "mail_reply",
        reply=text,
        shop_name=settings.shop_name,
        quoted=_quoted(session, draft_id),
        address=conversation.contact_address,
    )
    return _queue(
        session,
        settings,
        conversation,
        key=f"reply:draft:{draft_id}",
        kind="reply",
        text=body,
        draft_id=draft_id,
        automatic=automatic,
        in_reply_to=answered.message_id if answered else None,
    )


def queue_ack(
    session: Session, settings: Settings, conversation: Conversation, *, draft: Draft
) -> Outbox | None:
    """The honest promise for a mail that waits for a person: when they open, how long it
    usually takes. Skipped within ACK_EVERY of the last one and past the hourly brake."""
    if conversation.channel != Channel.EMAIL:
        return None
    since = utcnow() - ACK_EVERY
    recent = session.scalar(
        select(Outbox.id).where(
            Outbox.conversation_id == conversation.id,
            Outbox.kind == "ack",
            Outbox.created_at >= since,
        )
    )
    sent = automatic_replies_since(session, conversation.contact_address)
    if recent is not None or sent >= settings.mail_auto_replies_per_hour:
        return None
    expected = estimate(session, settings)
    body = render(
        "mail_ack",
        language=draft.language,
        when=_local(expected.reply_expected_at, expected.timezone),
        opens=_local(expected.opens_at, expected.timezone) if expected.opens_at else None,
        back=_local(expected.opens_at, expected.timezone) if expected.away else None,
        shop_name=settings.shop_name,
    )
    return _queue(
        session,
        settings,
        conversation,
        key=f"ack:draft:{draft.draft_id}",
        kind="ack",
        text=body,
        draft_id=draft.draft_id,
        automatic=True,
    )


def _queue(
    session: Session,
    settings: Settings,
    conversation: Conversation,
    *,
    key: str,
    kind: str,
    text: str,
    draft_id: int,
    automatic: bool,
    in_reply_to: str | None = None,
) -> Outbox:
    sender = settings.mail_from or NO_SENDER
    thread = _thread(session, conversation.id)
    content = MailContent(
        subject=reply_subject(conversation.subject or ""),
        text=text,
        in_reply_to=in_reply_to or (thread[-1] if thread else None),
        references=thread,
        reply_to=reply_address(sender, conversation.reply_token),
    )
    return queue_mail(
        session,
        key=key,
        kind=kind,
        to=conversation.contact_address,
        content=content,
        message_id=message_id_for(key, sender),
        conversation_id=conversation.id,
        draft_id=draft_id,
        automatic=automatic,
    )


def _local(when: datetime, timezone: str) -> str:
    """A stored UTC time as the shop's clock shows it, written the same in every language."""
    local = when.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone))
    return f"{local:%Y-%m-%d %H:%M} ({timezone})"


def _thread(session: Session, conversation_id: str) -> list[str]:
    """Every Message-ID of the conversation, oldest first: the References of the next mail."""
    inbound = session.execute(
        select(MailMessage.created_at, MailMessage.message_id).where(
            MailMessage.conversation_id == conversation_id, MailMessage.ignored.is_(None)
        )
    ).all()
    outbound = session.execute(
        select(Outbox.created_at, Outbox.message_id).where(
            Outbox.conversation_id == conversation_id, Outbox.message_id.is_not(None)
        )
    ).all()
    return [message_id for _, message_id in sorted(inbound + outbound)][-20:]


def _quoted(session: Session, draft_id: int) -> str:
    """The customer's message this answers, quoted below the reply as mail clients do."""
    row = session.get(DraftRow, draft_id)
    question = session.get(Message, row.message_id) if row else None
    if question is None:
        return ""
    return "\n".join(f"> {line}" if line else ">" for line in question.text.splitlines())
