"""Urgent drafts reach the owner at once: a mail, and a Slack-compatible webhook call.

    queue_alerts(session, settings, draft_row, now=now)   # as the draft is stored pending
    sla_sweep(session, settings, now=now)                  # from the scheduler, each minute

Every row is keyed by its draft (urgent:mail:draft:<id>, urgent:webhook:draft:<id>, and
urgent:sla:…:draft:<id> for the SLA's warning), so an alert goes out at most once
however often these run. The words live in prompts/alert.*.j2.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from agent.draft import ReasonCode
from agent.gate import customer_value
from desk.digest import (
    DEFAULT_URL,
    base_url,
    draft_link,
    duration,
    naive_utc,
    owner_mail_ready,
    question_line,
    reason_words,
    render_template,
    sla_state,
    slack_escape,
)
from desk.orders import customer_history
from desk.outbox import queue_mail, queue_webhook
from mail.compose import MailContent, message_id_for
from settings import Settings
from store.models import Channel, Conversation, DraftStatus, Message, Outbox
from store.models import Draft as DraftRow

ANGER = "anger"
LEGAL = "legal"
HIGH_VALUE = "high-value customer"
SLA = "SLA about to break"
# High value: the conversation's own customer (the signed-in shopper, or the sender of a
# mail; never an address typed into a message) has a customer value of at least this.
# It is agent.gate.customer_value, the one that raises the queue priority: 1 - e^(-spent/500),
# so 0.8 means about 800 spent in the shop (its own currency) over all their orders.
HIGH_VALUE_AT = 0.8
REPLY_CHARS = 600
SUBJECT_CHARS = 80


class Alert(BaseModel):
    """What one alert says about one draft."""

    draft_id: int
    link: str
    queue_link: str
    question: str
    reasons: list[str]
    flags: list[str]  # every reason the draft waits, in a word or two
    waited: str
    sla: str
    reply: str
    default_url: str | None  # set when SUPPORT_PUBLIC_URL is not


def urgent_reasons(draft_row: DraftRow, *, settings: Settings, now: datetime) -> list[str]:
    """Why a draft cannot wait for the digest: ANGER, LEGAL, HIGH_VALUE and SLA, in that order.

    The row must belong to an open session: the customer's orders are read through it.
    """
    now = naive_utc(now)
    flags = {
        reason.get("detail")
        for reason in draft_row.reasons or []
        if reason.get("code") == ReasonCode.POLICY_FLAG
    }
    reasons = [name for name in (ANGER, LEGAL) if name in flags]
    if _high_value(draft_row, now):
        reasons.append(HIGH_VALUE)
    waiting = draft_row.status == DraftStatus.PENDING
    if waiting and _due_in(draft_row, settings, now) <= settings.sla_warning_minutes:
        reasons.append(SLA)
    return reasons


def queue_alerts(
    session: Session, settings: Settings, draft_row: DraftRow, *, now: datetime
) -> list[Outbox]:
    """For an urgent pending draft, a mail to the owner and a webhook call, each queued once
    in the caller's transaction; returns the rows this call added."""
    if draft_row.status != DraftStatus.PENDING:
        return []
    now = naive_utc(now)
    reasons = urgent_reasons(draft_row, settings=settings, now=now)
    if not reasons:
        return []
    return _queue(session, settings, draft_row, reasons, now=now, scope="")


def sla_sweep(session: Session, settings: Settings, *, now: datetime) -> list[Outbox]:
    """Alerts for pending drafts whose SLA breaks within SUPPORT_SLA_WARNING_MINUTES (or has
    broken), once per draft; returns the rows this call added."""
    now = naive_utc(now)
    warn_from = now - timedelta(minutes=settings.review_sla_minutes - settings.sla_warning_minutes)
    # Read whole before queueing: the loop adds rows in the same session.
    drafts = session.scalars(
        select(DraftRow)
        .where(DraftRow.status == DraftStatus.PENDING, DraftRow.created_at <= warn_from)
        .order_by(DraftRow.id)
    ).all()
    rows = []
    for draft in drafts:
        if _told_of_sla(session, settings, draft):
            continue
        reasons = urgent_reasons(draft, settings=settings, now=now)
        rows += _queue(session, settings, draft, reasons, now=now, scope="sla:")
    return rows


def slack_payload(alert: Alert) -> dict:
    """Slack's incoming-webhook JSON: `text` for notifications and for chat tools that read
    only it, a section and a button to the draft for those that show blocks."""
    return {
        "text": slack_escape(
            f"Urgent ({', '.join(alert.reasons)}): {question_line(alert.question)}"
        )
        + f" {alert.link}",
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": render_template("alert.slack", alert=alert).strip(),
                },
            },
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {
                            "type": "plain_text",
                            "text": f"Open draft #{alert.draft_id}",
                        },
                        "url": alert.link,
                        "style": "danger",
                    }
                ],
            },
        ],
    }


def _queue(
    session: Session,
    settings: Settings,
    draft: DraftRow,
    reasons: list[str],
    *,
    now: datetime,
    scope: str,
) -> list[Outbox]:
    mail_key = f"urgent:{scope}mail:draft:{draft.id}"
    webhook_key = f"urgent:{scope}webhook:draft:{draft.id}"
    queued = set(session.scalars(select(Outbox.key).where(Outbox.key.in_([mail_key, webhook_key]))))
    alert = _alert(session, settings, draft, reasons, now)
    rows = []
    subject = f"Urgent ({', '.join(reasons)}): {question_line(alert.question, limit=SUBJECT_CHARS)}"
    if owner_mail_ready(settings) and mail_key not in queued:
        rows.append(
            queue_mail(
                session,
                key=mail_key,
                kind="urgent",
                to=settings.owner_email,
                content=MailContent(
                    subject=subject,
                    text=render_template("alert.txt", alert=alert),
                    html=render_template("alert.html", alert=alert),
                ),
                message_id=message_id_for(mail_key, settings.mail_from),
                draft_id=draft.id,
            )
        )
    if settings.notify_webhook and webhook_key not in queued:
        rows.append(
            queue_webhook(
                session,
                key=webhook_key,
                kind="urgent",
                url=settings.notify_webhook.get_secret_value(),
                payload=slack_payload(alert),
                draft_id=draft.id,
            )
        )
    return rows


def _alert(
    session: Session, settings: Settings, draft: DraftRow, reasons: list[str], now: datetime
) -> Alert:
    message = session.get(Message, draft.message_id)
    due_in = _due_in(draft, settings, now)
    _, sla_words = sla_state(due_in, warning_minutes=settings.sla_warning_minutes)
    reply = " ".join((draft.translation or draft.reply).split())
    return Alert(
        draft_id=draft.id,
        link=draft_link(settings, draft.id),
        queue_link=f"{base_url(settings)}/operator/",
        question=message.text.strip() if message else "",
        reasons=reasons,
        flags=reason_words(draft.reasons or []),
        waited=duration((now - draft.created_at).total_seconds() / 60),
        sla=sla_words,
        reply=reply if len(reply) <= REPLY_CHARS else reply[: REPLY_CHARS - 1] + "…",
        default_url=None if settings.public_url else DEFAULT_URL,
    )


def _due_in(draft: DraftRow, settings: Settings, now: datetime) -> float:
    # store.queue.pending's clock: the SLA runs from when the draft was stored.
    return settings.review_sla_minutes - (now - draft.created_at).total_seconds() / 60


def _told_of_sla(session: Session, settings: Settings, draft: DraftRow) -> bool:
    """Whether the owner already heard of this draft's SLA: its SLA alert is queued, or its
    first alert was queued once the warning had begun (and so named the SLA)."""
    if session.scalar(select(Outbox.id).where(Outbox.key.like(f"urgent:sla:%:draft:{draft.id}"))):
        return True
    warned_from = draft.created_at + timedelta(
        minutes=settings.review_sla_minutes - settings.sla_warning_minutes
    )
    return (
        session.scalar(
            select(Outbox.id).where(
                Outbox.key.in_(
                    [f"urgent:mail:draft:{draft.id}", f"urgent:webhook:draft:{draft.id}"]
                ),
                Outbox.created_at >= warned_from,
            )
        )
        is not None
    )


def _high_value(draft: DraftRow, now: datetime) -> bool:
    session = object_session(draft)
    if session is None:
        raise ValueError(f"draft {draft.id} belongs to no session: its customer is unknown")
    conversation = session.get(Conversation, draft.conversation_id)
    emails = {conversation.verified_email} if conversation.verified_email else set()
    if conversation.channel == Channel.EMAIL and conversation.contact_address:
        emails.add(conversation.contact_address.lower())
    if not emails:
        return False
    return customer_value(customer_history(session, emails), now) >= HIGH_VALUE_AT
