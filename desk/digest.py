"""The owner's morning digest: what waits, what went out alone yesterday, what the shop's
knowledge lacks; each draft with the link that opens it in the operator pages.

    digest = build_digest(session, settings, now=utcnow())
    print(digest.text)                                    # `support-agent digest`
    queue_digest(session, settings, now=utcnow())         # the outbox row, once a day

`digest_due` tells the worker's scheduler when to queue it. The mail's words live in
prompts/digest.txt.j2 and prompts/digest.html.j2, like every other text template.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.draft import ReasonCode
from agent.prompts import PROMPTS_DIR
from desk.hours import schedule_for
from desk.outbox import queue_mail
from mail.compose import MailContent, message_id_for
from settings import Settings
from store.models import Conversation, DraftStatus, Message, Outbox, OutboxStatus
from store.models import Draft as DraftRow
from store.queue import pending

# Where links point when SUPPORT_PUBLIC_URL is unset: `serve`'s default address.
DEFAULT_URL = "http://127.0.0.1:8000"
MOST_ITEMS = 20
MOST_RATINGS = 2
QUESTION_CHARS = 160
# The reasons that say the shop's own words had no answer: a page or FAQ to write.
GAP_REASONS = {
    ReasonCode.NOTHING_RELEVANT: "nothing relevant in the knowledge base",
    ReasonCode.WEAK_GROUNDING: "the reply was not backed by the sources",
    ReasonCode.TICKET_ONLY_EVIDENCE: "only past tickets had an answer",
}
STATUS_WORDS = {
    DraftStatus.PENDING: "still waiting",
    DraftStatus.APPROVED: "answered by you",
    DraftStatus.REJECTED: "rejected",
}


class SlaState(StrEnum):
    OK = "ok"
    DUE = "due"  # within SUPPORT_SLA_WARNING_MINUTES of breaking
    BREACHED = "breached"


class Item(BaseModel):
    """One line of a section: a customer's question (or a rating's comment) and a note."""

    text: str
    note: str
    draft_id: int | None = None
    link: str | None = None
    # A waiting draft's SLA clock: its state, and in words ("SLA due in 12 min").
    sla: SlaState | None = None
    badge: str | None = None


class Section(BaseModel):
    key: str  # waiting, answered, gaps
    title: str
    summary: str
    items: list[Item] = []
    more: int = 0  # items left out of a long section


class Digest(BaseModel):
    subject: str
    day: date
    sections: list[Section]
    queue_link: str
    footer: list[str]

    def section(self, key: str) -> Section:
        return next(section for section in self.sections if section.key == key)

    @property
    def text(self) -> str:
        return render_template("digest.txt", digest=self)

    @property
    def html(self) -> str:
        return render_template("digest.html", digest=self)


def build_digest(session: Session, settings: Settings, *, now: datetime) -> Digest:
    """The digest as of `now` (UTC; naive, like store.models.utcnow, or aware)."""
    now = naive_utc(now)
    zone = local_zone(settings)
    today = now.replace(tzinfo=UTC).astimezone(zone).date()
    waiting, breached = _waiting(session, settings, now)
    state = "nothing waiting"
    if waiting.items:
        state = f"{_count(len(waiting.items) + waiting.more, 'draft')} waiting"
        state += f", {breached} past the SLA" if breached else ""
    footer = [
        f"Sent daily at {settings.digest_time} {zone.key} (SUPPORT_DIGEST_TIME); "
        f"the review SLA is {settings.review_sla_minutes} min."
    ]
    if not settings.public_url:
        footer.append(
            f"SUPPORT_PUBLIC_URL is not set, so the links point to {DEFAULT_URL}: "
            "they open only on the machine that runs the desk."
        )
    return Digest(
        subject=f"Support digest, {today:%a %d %b}: {state}",
        day=today,
        sections=[
            waiting,
            *_undelivered(session, settings, now),
            _answered(session, settings, _local_day(today - timedelta(days=1), zone)),
            _gaps(session, settings, now),
        ],
        queue_link=f"{base_url(settings)}/operator/",
        footer=footer,
    )


def queue_digest(session: Session, settings: Settings, *, now: datetime) -> Outbox | None:
    """Queue today's digest to the owner in the caller's transaction, once a day (the row
    already queued today when there is one); None when there is nowhere to send it."""
    if not owner_mail_ready(settings):
        return None
    digest = build_digest(session, settings, now=now)
    key = f"digest:{digest.day.isoformat()}"
    return queue_mail(
        session,
        key=key,
        kind="digest",
        to=settings.owner_email,
        content=MailContent(subject=digest.subject, text=digest.text, html=digest.html),
        message_id=message_id_for(key, settings.mail_from),
    )


def digest_due(settings: Settings, *, now: datetime, last_sent_date: date | None) -> bool:
    """Whether the local time has passed SUPPORT_DIGEST_TIME on a day with no digest yet."""
    local = naive_utc(now).replace(tzinfo=UTC).astimezone(local_zone(settings))
    hour, minute = map(int, settings.digest_time.split(":"))
    sent_today = last_sent_date is not None and last_sent_date >= local.date()
    return local.time() >= time(hour, minute) and not sent_today


# Shared with the urgent alerts ---------------------------------------------------------


def owner_mail_ready(settings: Settings) -> bool:
    """Mail to the owner can go out: an address to send to, a server and a sender."""
    return bool(settings.owner_email and settings.smtp_url and settings.mail_from)


def base_url(settings: Settings) -> str:
    return (settings.public_url or DEFAULT_URL).rstrip("/")


def draft_link(settings: Settings, draft_id: int) -> str:
    """The operator page of one draft."""
    return f"{base_url(settings)}/operator/drafts/{draft_id}"


def local_zone(settings: Settings) -> ZoneInfo:
    """The owner's clock: the business hours' time zone, else UTC."""
    return schedule_for(settings.business_hours).zone


def naive_utc(moment: datetime) -> datetime:
    """A moment as the store keeps it: naive UTC."""
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def sla_state(due_in_minutes: float, *, warning_minutes: int) -> tuple[SlaState, str]:
    """The SLA clock of a waiting draft, and in words: ok, due in N min, breached by N min."""
    if due_in_minutes < 0:
        return SlaState.BREACHED, f"breached by {duration(-due_in_minutes)}"
    if due_in_minutes <= warning_minutes:
        return SlaState.DUE, f"due in {duration(due_in_minutes)}"
    return SlaState.OK, "ok"


def duration(minutes: float) -> str:
    """`12 min`, `3 h 05 min`, `2 d 4 h`: whole minutes, at least one."""
    whole = max(1, math.ceil(minutes - 0.5))
    days, rest = divmod(whole, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {mins:02d} min" if hours else f"{mins} min"


def question_line(text: str, *, limit: int = QUESTION_CHARS) -> str:
    """A customer's message on one line, cut to `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def reason_words(reasons: list[dict]) -> list[str]:
    """A draft's reasons in a word or two each: the policy flag's name, else the code's."""
    words = []
    for reason in reasons:
        if reason.get("code") == ReasonCode.POLICY_FLAG and reason.get("detail"):
            word = reason["detail"].replace("_", " ")
        else:
            word = str(reason.get("code", "")).replace("_", " ")
        if word and word not in words:
            words.append(word)
    return words


def render_template(name: str, **values: object) -> str:
    """Render prompts/<name>.j2; HTML templates (*.html.j2) escape every value."""
    return _environment().get_template(f"{name}.j2").render(**values).strip() + "\n"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # agent.prompts.render escapes nothing (prompts are plain text); a mail's HTML quotes
    # customers' words, so its templates get an escaping environment of their own.
    environment = Environment(
        loader=FileSystemLoader(PROMPTS_DIR),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["slack"] = slack_escape
    return environment


def slack_escape(text: object) -> str:
    """Text for Slack's mrkdwn, which reads <…> as links and mentions (<!channel>): a
    customer's words must not make any."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# The sections ----------------------------------------------------------------------------


def _waiting(session: Session, settings: Settings, now: datetime) -> tuple[Section, int]:
    """The waiting drafts' section, and how many of them are past the SLA."""
    # The queue's own order (store.queue.pending): priority raised by the time waited, so
    # urgent drafts come first and, of equal priority, the oldest; ties by draft id.
    queue = pending(session, settings.review_sla_minutes, now)
    shown = queue[:MOST_ITEMS]
    questions = _questions(session, [waiting.draft.message_id for waiting in shown])
    items = []
    for waiting in shown:
        state, words = sla_state(
            waiting.due_in_minutes, warning_minutes=settings.sla_warning_minutes
        )
        why = reason_words(waiting.draft.reasons)
        items.append(
            Item(
                text=questions.get(waiting.draft.message_id, ""),
                note=" · ".join([f"waiting {duration(waiting.waited_minutes)}", *why[:3]]),
                draft_id=waiting.draft.id,
                link=draft_link(settings, waiting.draft.id),
                sla=state,
                badge=f"SLA {words}",
            )
        )
    breached = sum(waiting.due_in_minutes < 0 for waiting in queue)
    if not queue:
        summary = "Nothing waits for you."
    else:
        summary = f"{_count(len(queue), 'draft')} waiting, the most urgent first" + (
            f"; {breached} past the {settings.review_sla_minutes}-minute SLA." if breached else "."
        )
    section = Section(
        key="waiting",
        title="Waiting for you",
        summary=summary,
        items=items,
        more=len(queue) - len(shown),
    )
    return section, breached


def _answered(session: Session, settings: Settings, day: tuple[datetime, datetime]) -> Section:
    start, end = day
    sent = list(
        session.scalars(
            select(DraftRow)
            .where(
                DraftRow.status == DraftStatus.SENT,
                DraftRow.created_at >= start,
                DraftRow.created_at < end,
            )
            .order_by(DraftRow.id)
        )
    )
    # A rating is the conversation's: each conversation counts once, with its last draft.
    last = {draft.conversation_id: draft for draft in sent}
    conversations = session.scalars(
        select(Conversation).where(Conversation.id.in_(list(last)))
    ).all()
    rated = [c for c in conversations if c.csat_score is not None]
    if not sent:
        summary = "Nothing was answered without you."
    else:
        summary = f"{_count(len(sent), 'answer')} went out without review; " + (
            f"{len(rated)} rated, average {sum(c.csat_score for c in rated) / len(rated):.1f} / 5."
            if rated
            else "none rated yet."
        )
    # The lowest ratings first: a comment that complains is the one worth reading.
    commented = sorted(
        (c for c in rated if (c.csat_comment or "").strip()),
        key=lambda c: (c.csat_score, -last[c.id].id),
    )[:MOST_RATINGS]
    questions = _questions(session, [last[c.id].message_id for c in commented])
    items = [
        Item(
            text=f"“{question_line(c.csat_comment)}”",
            note=f"rated {c.csat_score} / 5 · asked: {questions.get(last[c.id].message_id, '')}",
            draft_id=last[c.id].id,
            link=draft_link(settings, last[c.id].id),
        )
        for c in commented
    ]
    return Section(
        key="answered", title="Answered automatically yesterday", summary=summary, items=items
    )


def _gaps(session: Session, settings: Settings, now: datetime) -> Section:
    drafts = session.scalars(
        select(DraftRow)
        .where(
            DraftRow.status != DraftStatus.SENT, DraftRow.created_at >= now - timedelta(hours=24)
        )
        .order_by(DraftRow.created_at.desc(), DraftRow.id.desc())
    )
    found = [
        (draft, [GAP_REASONS[code] for code in GAP_REASONS if _has(draft, code)])
        for draft in drafts
    ]
    found = [(draft, why) for draft, why in found if why]
    questions = _questions(session, [draft.message_id for draft, _ in found])
    # One item per question however often it was asked, with its newest draft.
    asked: dict[str, list[tuple[DraftRow, list[str]]]] = {}
    for draft, why in found:
        asked.setdefault(_same_question(questions.get(draft.message_id, "")), []).append(
            (draft, why)
        )
    items = []
    for drafts_of_question in asked.values():
        draft, why = drafts_of_question[0]
        times = len(drafts_of_question)
        items.append(
            Item(
                text=questions.get(draft.message_id, ""),
                note=" · ".join(
                    [why[0], STATUS_WORDS[draft.status]]
                    + ([f"asked {times} times"] if times > 1 else [])
                ),
                draft_id=draft.id,
                link=draft_link(settings, draft.id),
            )
        )
    if not items:
        summary = "No question in the last 24 hours found the knowledge base lacking."
    else:
        summary = (
            f"{_count(len(items), 'question')} in the last 24 hours found no good answer in "
            "the FAQs and articles: worth a page or an FAQ each."
        )
    return Section(
        key="gaps",
        title="New knowledge gaps",
        summary=summary,
        items=items[:MOST_ITEMS],
        more=max(0, len(items) - MOST_ITEMS),
    )


def _undelivered(session: Session, settings: Settings, now: datetime) -> list[Section]:
    """Replies that failed for good or bounced in the last week: the customer is still
    waiting although the queue shows the draft as answered. No section when there is none."""
    rows = session.scalars(
        select(Outbox)
        .where(
            Outbox.kind.in_(["reply", "ack"]),
            Outbox.status.in_([OutboxStatus.FAILED, OutboxStatus.BOUNCED]),
            Outbox.created_at >= now - timedelta(days=7),
        )
        .order_by(Outbox.id.desc())
    ).all()
    if not rows:
        return []
    items = [
        Item(
            text=f"To {row.recipient}: {row.payload.get('subject', '')}",
            note=f"{row.status} · {question_line(row.error or '')}",
            draft_id=row.draft_id,
            link=draft_link(settings, row.draft_id) if row.draft_id else base_url(settings),
        )
        for row in rows
    ]
    return [
        Section(
            key="undelivered",
            title="Mail that did not reach the customer",
            summary=f"{_count(len(items), 'mail')} failed or bounced in the last 7 days: "
            "the customer is still waiting; answer another way.",
            items=items[:MOST_ITEMS],
            more=max(0, len(items) - MOST_ITEMS),
        )
    ]


def _has(draft: DraftRow, code: ReasonCode) -> bool:
    return any(reason.get("code") == code for reason in draft.reasons or [])


def _questions(session: Session, message_ids: list[int]) -> dict[int, str]:
    if not message_ids:
        return {}
    rows = session.execute(
        select(Message.id, Message.text).where(Message.id.in_(message_ids))
    ).all()
    return {message_id: question_line(text) for message_id, text in rows}


def _same_question(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def _local_day(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local day `day` as naive UTC bounds [start, end), as the store keeps times."""
    start = datetime.combine(day, time(), zone)
    end = datetime.combine(day + timedelta(days=1), time(), zone)
    return naive_utc(start), naive_utc(end)


def _count(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")
