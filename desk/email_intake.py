"""A mail arrives: stored whole, then threaded, screened for loops, and made a customer message.

Every mail is kept (the original one click away in the queue), whatever becomes of it:
a readable one with its message and turn in one transaction, an auto-reply or bounce
as ignored, an unreadable one in the quarantine. A Message-ID seen before is a duplicate.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from desk.intake import Receipt, store_message
from mail.compose import address_of, domain_of
from mail.parse import LoopReason, ParsedMail, Unparseable, parse, reply_address
from settings import Settings
from store.models import (
    Channel,
    Conversation,
    MailCursor,
    MailMessage,
    MailStatus,
    Outbox,
    OutboxStatus,
    QuarantinedMail,
)
from store.operators import audit

log = logging.getLogger(__name__)

THREAD_IDS = 25
TRUNCATED = "\n\n[The mail was longer; the whole of it is kept with the conversation.]"


class MailReceipt(BaseModel):
    """What became of one mail; `mail receive --json` prints it (without the turn)."""

    conversation_id: str | None
    message_id: str | None
    status: MailStatus
    reason: str | None = None
    turn_id: int | None = None
    # False when the desk was too busy: the message already has a pending draft.
    queued: bool = False


def receive_mail(sessions: sessionmaker[Session], settings: Settings, raw: bytes) -> MailReceipt:
    """Store one mail; raises only when the database cannot be reached (try again later)."""
    try:
        mail = parse(raw, max_bytes=settings.mail_max_bytes)
    except Unparseable as error:
        return _quarantine(sessions, raw[: settings.mail_max_bytes], str(error))
    try:
        with sessions.begin() as session:
            return _receive(session, settings, mail, raw)
    except IntegrityError as error:
        with sessions() as session:
            if session.scalar(
                select(MailMessage.id).where(MailMessage.message_id == mail.message_id)
            ):
                return _duplicate(session, mail)  # another process stored it a moment ago
        return _quarantine(sessions, raw, f"could not be stored: {_one_line(error)}")
    except OperationalError:
        raise  # the database is down or busy: nothing is lost, the mail is read again
    except Exception as error:
        # One odd mail must not stop the ones after it: it waits here for a person.
        log.exception("mail %s could not be stored", mail.message_id)
        return _quarantine(sessions, raw, f"could not be stored: {_one_line(error)}")


def _one_line(error: Exception) -> str:
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


def _receive(session: Session, settings: Settings, mail: ParsedMail, raw: bytes) -> MailReceipt:
    if session.scalar(select(MailMessage.id).where(MailMessage.message_id == mail.message_id)):
        return _duplicate(session, mail)
    if mail.loop is None and _ours(session, settings, mail):
        mail = mail.model_copy(update={"loop": LoopReason.OWN_MAIL})
    if mail.loop is not None:
        return _ignore(session, mail, raw)
    conversation = _thread(session, settings, mail) or _start(session, settings, mail)
    receipt = _store(session, settings, conversation, mail)
    session.add(
        MailMessage(
            message_id=mail.message_id,
            conversation_id=conversation.id,
            chat_message_id=receipt.message_id,
            from_address=mail.from_address,
            subject=mail.subject[:998],
            raw=raw,
        )
    )
    session.flush()
    return MailReceipt(
        conversation_id=conversation.id,
        message_id=mail.message_id,
        status=MailStatus.PENDING,
        turn_id=receipt.turn_id,
        queued=receipt.queued,
    )


def _store(
    session: Session, settings: Settings, conversation: Conversation, mail: ParsedMail
) -> Receipt:
    text = mail.text or mail.full_text.strip()
    if not conversation.messages and mail.subject and mail.subject.lower() not in text.lower():
        # A first mail's subject often is the question ("Order 1042 not arrived").
        text = f"{mail.subject}\n\n{text}".strip()
    text = text or mail.subject or "(an empty mail)"
    attached = _attachments(mail)[: settings.max_message_chars // 4]
    room = settings.max_message_chars - len(attached)
    if len(text) > room:
        text = text[: room - len(TRUNCATED)] + TRUNCATED
    text += attached
    return store_message(
        session,
        settings,
        conversation_id=conversation.id,
        text=text,
        channel=Channel.EMAIL,
        # As trusted as an email typed into the widget: replies go to this address only.
        contact_email=conversation.contact_address,
    )


def _attachments(mail: ParsedMail) -> str:
    """A line naming the mail's files, so the owner knows to open the original for them."""
    if not mail.attachments:
        return ""
    names = [
        f"{a.filename or 'unnamed'} ({a.content_type}, {max(1, a.size // 1024)} KB)"
        for a in mail.attachments[:10]
    ]
    return "\n\n[Attached: " + "; ".join(names) + "]"


def _ours(session: Session, settings: Settings, mail: ParsedMail) -> bool:
    """A mail this desk sent (a digest or alert to an owner whose mailbox is the support
    one, or a reply that came back): answering it would start a loop."""
    if settings.mail_from and mail.from_address == address_of(settings.mail_from):
        return True
    return session.scalar(select(Outbox.id).where(Outbox.message_id == mail.message_id)) is not None


def _thread(session: Session, settings: Settings, mail: ParsedMail) -> Conversation | None:
    """The conversation this mail continues: one of our mails (or the customer's earlier
    ones) in In-Reply-To/References, or our reply+<token>@ address; never the subject. The
    sender must be the conversation's: a different sender starts a conversation of their own.
    Only From counts here: Reply-To is whatever the sender wrote."""
    senders = {mail.from_address}
    # The newest ids first, and only a few: a References line of thousands costs two
    # queries each, and our replies name at most the last 20.
    ids = [*mail.in_reply_to, *reversed(mail.references)][:THREAD_IDS]
    for message_id in ids:
        found = session.scalar(
            select(Outbox.conversation_id).where(
                Outbox.message_id == message_id, Outbox.conversation_id.is_not(None)
            )
        ) or session.scalar(
            select(MailMessage.conversation_id).where(
                MailMessage.message_id == message_id, MailMessage.conversation_id.is_not(None)
            )
        )
        conversation = session.get(Conversation, found) if found else None
        if conversation is not None and conversation.contact_address in senders:
            return conversation
    token = _reply_token(settings, mail)
    if token:
        conversation = session.scalar(select(Conversation).where(Conversation.reply_token == token))
        if conversation is not None and conversation.contact_address in senders:
            return conversation
    return None


def _reply_token(settings: Settings, mail: ParsedMail) -> str | None:
    if not settings.mail_from:
        return None
    local, _, domain = address_of(settings.mail_from).partition("@")
    for address in mail.to:
        name, _, at = address.partition("@")
        if at == domain and name.startswith(f"{local}+"):
            return name.removeprefix(f"{local}+")
    return None


def _start(session: Session, settings: Settings, mail: ParsedMail) -> Conversation:
    shop_domain = domain_of(settings.mail_from) if settings.mail_from else None
    conversation = Conversation(
        id=str(uuid.uuid4()),
        # Mail customers hold no bearer token: the conversation is reached by mail only.
        token_hash=hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
        channel=Channel.EMAIL,
        contact_address=reply_address(mail, shop_domain=shop_domain),
        subject=mail.subject[:998] or None,
        reply_token=secrets.token_hex(8),
    )
    session.add(conversation)
    session.flush()
    return conversation


def _ignore(session: Session, mail: ParsedMail, raw: bytes) -> MailReceipt:
    """Kept, never answered; a bounce is recorded against the mail it returns."""
    conversation_id, reason = None, f"{mail.loop.value}: not answered (RFC 3834)"
    if mail.bounce is not None and mail.bounce.original_message_id:
        bounced = session.scalar(
            select(Outbox).where(Outbox.message_id == mail.bounce.original_message_id)
        )
        if bounced is not None:
            conversation_id = bounced.conversation_id
            detail = mail.bounce.diagnostic or mail.bounce.status or "returned"
            reason = f"bounce of {bounced.kind} mail {bounced.id} to {bounced.recipient}: {detail}"
            if mail.bounce.permanent:
                bounced.status, bounced.error = OutboxStatus.BOUNCED, detail[:2000]
            audit(
                session,
                "mail",
                "bounce",
                f"outbox:{bounced.id}",
                conversation=conversation_id,
                recipient=mail.bounce.recipient,
                status=mail.bounce.status,
                permanent=mail.bounce.permanent,
                diagnostic=mail.bounce.diagnostic,
            )
    session.add(
        MailMessage(
            message_id=mail.message_id,
            conversation_id=conversation_id,
            from_address=mail.from_address,
            subject=mail.subject[:998],
            ignored=mail.loop.value,
            raw=raw,
        )
    )
    session.flush()
    return MailReceipt(
        conversation_id=conversation_id,
        message_id=mail.message_id,
        status=MailStatus.IGNORED,
        reason=reason,
    )


def _duplicate(session: Session, mail: ParsedMail) -> MailReceipt:
    conversation_id = session.scalar(
        select(MailMessage.conversation_id).where(MailMessage.message_id == mail.message_id)
    )
    return MailReceipt(
        conversation_id=conversation_id,
        message_id=mail.message_id,
        status=MailStatus.DUPLICATE,
        reason="this Message-ID was already imported",
    )


def _quarantine(sessions: sessionmaker[Session], raw: bytes, reason: str) -> MailReceipt:
    digest = hashlib.sha256(raw).hexdigest()
    try:
        with sessions.begin() as session:
            if session.scalar(select(QuarantinedMail.id).where(QuarantinedMail.sha256 == digest)):
                return _quarantined(reason)
            session.add(QuarantinedMail(sha256=digest, reason=reason, raw=raw))
    except IntegrityError:
        pass  # the same bytes were quarantined by another process a moment ago
    return _quarantined(reason)


def _quarantined(reason: str) -> MailReceipt:
    return MailReceipt(
        conversation_id=None,
        message_id=None,
        status=MailStatus.IGNORED,
        reason=f"quarantined: {reason}",
    )


def cursor(sessions: sessionmaker[Session], mailbox: str, uidvalidity: int) -> int | None:
    """The last UID imported from `mailbox`; None when it is new or its UIDVALIDITY changed
    (the server renumbered it: its old UIDs mean nothing now)."""
    with sessions() as session:
        row = session.get(MailCursor, mailbox)
        return row.last_uid if row is not None and row.uidvalidity == uidvalidity else None


def advance(sessions: sessionmaker[Session], mailbox: str, uidvalidity: int, uid: int) -> None:
    for _ in range(2):  # two pollers may create the first row at once: then update it
        try:
            with sessions.begin() as session:
                row = session.get(MailCursor, mailbox)
                if row is None:
                    session.add(MailCursor(mailbox=mailbox, uidvalidity=uidvalidity, last_uid=uid))
                elif row.uidvalidity != uidvalidity or row.last_uid < uid:
                    row.uidvalidity, row.last_uid = uidvalidity, uid
            return
        except IntegrityError:
            continue
