"""The operator's view of mail as it arrived: any original one click from its draft, and the
quarantine of mails that could not be read.

A mail is shown as plain text, never rendered: its HTML is the sender's, not ours.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template
from sqlalchemy import select

from store.models import MailMessage, Outbox, QuarantinedMail
from web.operator import login_required
from web.services import services

mailbox = Blueprint("mailbox", __name__, url_prefix="/operator/mail")

QUARANTINE_SHOWN = 200


@mailbox.app_template_global()
def original_mail(message_id: int) -> int | None:
    """The stored mail a customer message came from, if it came by mail."""
    with services().sessions() as db:
        return db.scalar(select(MailMessage.id).where(MailMessage.chat_message_id == message_id))


@mailbox.app_template_global()
def mail_deliveries(conversation_id: str) -> list[Outbox]:
    """The mails sent (or owed) to an email conversation's customer, oldest first."""
    with services().sessions() as db:
        return list(
            db.scalars(
                select(Outbox)
                .where(Outbox.conversation_id == conversation_id, Outbox.transport == "smtp")
                .order_by(Outbox.id)
            )
        )


@mailbox.get("/<int:mail_id>")
@login_required
def original(mail_id: int):
    with services().sessions() as db:
        found = db.get(MailMessage, mail_id) or abort(404)
        return _as_text(found.raw, f"mail-{mail_id}.eml")


@mailbox.get("/quarantine")
@login_required
def quarantine():
    with services().sessions() as db:
        held = list(
            db.scalars(
                select(QuarantinedMail).order_by(QuarantinedMail.id.desc()).limit(QUARANTINE_SHOWN)
            )
        )
    return render_template("quarantine.html", held=held)


@mailbox.get("/quarantine/<int:held_id>")
@login_required
def quarantined(held_id: int):
    with services().sessions() as db:
        found = db.get(QuarantinedMail, held_id) or abort(404)
        return _as_text(found.raw, f"quarantined-{held_id}.eml")


def _as_text(raw: bytes, filename: str) -> Response:
    response = Response(raw.decode("utf-8", errors="replace"), mimetype="text/plain")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
