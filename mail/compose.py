"""Outgoing mail as it goes on the wire: headers that thread it, plain text and simple HTML.

Replies carry In-Reply-To and References so the customer's client shows them in the
same thread; automatic ones say `Auto-Submitted: auto-replied` (RFC 3834) so that other
robots do not answer them.
"""

from __future__ import annotations

import html
import re
import secrets
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses

from pydantic import BaseModel

REPLY_PREFIX = re.compile(
    r"^\s*((re|aw|sv|vs|antw|ref|rif|res|odp|回复|答复)\s*(\[\d+\])?\s*:\s*)+", re.I
)
LINK = re.compile(r"https?://[^\s<>\"')]+")


class MailContent(BaseModel):
    """What one outgoing mail says, and where it sits in a thread."""

    subject: str
    text: str
    html: str | None = None
    in_reply_to: str | None = None
    references: list[str] = []
    # Where the customer's answer should go: our reply+<token>@ address.
    reply_to: str | None = None


def address_of(mail_from: str) -> str:
    """The addr-spec of a From setting such as `Shop <support@shop.example>`."""
    pairs = getaddresses([mail_from])
    return pairs[0][1].lower() if pairs and pairs[0][1] else mail_from.strip().lower()


def domain_of(mail_from: str) -> str:
    return address_of(mail_from).rpartition("@")[2] or "support-agent.invalid"


def message_id_for(key: str, mail_from: str) -> str:
    """A Message-ID for the outbox row of `key`, stored with it, so every try sends the same
    one. Its random part keeps anyone from guessing it to slip into a conversation."""
    slug = re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")[:40]
    return f"{slug}.{secrets.token_hex(8)}@{domain_of(mail_from)}"


def reply_address(mail_from: str, token: str) -> str:
    """`support+<token>@shop.example`: a reply to it continues the conversation."""
    local, _, domain = address_of(mail_from).partition("@")
    return f"{local}+{token}@{domain}"


def reply_subject(subject: str) -> str:
    base = REPLY_PREFIX.sub("", subject or "").strip()
    return f"Re: {base}" if base else "Re: your message"


def simple_html(text: str) -> str:
    """The plain text as HTML paragraphs with clickable links; nothing else.

    Quoted lines ("> …", the customer's own words) stay plain: a link a stranger wrote
    must not become one the shop's mail offers to click."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    rendered = []
    for paragraph in paragraphs:
        lines = [
            html.escape(line)
            if line.lstrip().startswith(">")
            else LINK.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', html.escape(line))
            for line in paragraph.split("\n")
        ]
        rendered.append("<p>" + "<br>\n".join(lines) + "</p>")
    return (
        '<!DOCTYPE html><html><body style="font-family: sans-serif; line-height: 1.5">\n'
        + "\n".join(rendered)
        + "\n</body></html>\n"
    )


def compose(
    *,
    mail_from: str,
    to: str,
    message_id: str,
    content: MailContent,
    auto_submitted: str | None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = Address(addr_spec=to)
    message["Subject"] = content.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = f"<{message_id}>"
    if content.reply_to:
        message["Reply-To"] = content.reply_to
    if content.in_reply_to:
        message["In-Reply-To"] = f"<{content.in_reply_to}>"
    if content.references:
        message["References"] = " ".join(f"<{ref}>" for ref in content.references[-20:])
    if auto_submitted:
        message["Auto-Submitted"] = auto_submitted
        # Asks Exchange and friends not to answer this with an out-of-office in turn.
        message["X-Auto-Response-Suppress"] = "All"
    message.set_content(content.text)
    message.add_alternative(content.html or simple_html(content.text), subtype="html")
    return message
