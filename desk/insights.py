"""How support is going, computed from the conversation event log alone.

    report = build_report(session, settings, period="30d", now=utcnow())
    report.model_dump_json()          # `support-agent report --json`
    csv_rows(report)                  # `support-agent report --csv`

A conversation belongs to the period in which its first customer message arrived
(`message_in`); everything that happened to it up to the report's end counts. Each figure
is given for the period and, under `previous`, for the period of equal length before it.
Percentiles interpolate linearly between the two nearest values (the median is the 50th),
and a figure with nothing to measure is None.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from desk.away import holidays
from desk.hours import Schedule, schedule_for
from settings import Settings
from store.models import ConversationEvent, EventKind

PERIODS = {"7d": 7, "30d": 30, "90d": 90}
# An automatic answer counts as a verified resolution only after this long without a comeback.
VERIFY_AFTER = timedelta(hours=72)
CSV_COLUMNS = (
    "conversation_id",
    "channel",
    "language",
    "started_at",
    "first_response_minutes",
    "resolution_minutes",
    "replies_auto",
    "replies_by_person",
    "reopened",
    "rating",
    "tokens",
    "cost_usd",
)


class Period(BaseModel):
    name: str
    start: datetime
    end: datetime
    previous_start: datetime


class Count(BaseModel):
    """Conversations whose first customer message arrived in the period.

    per_day: how many arrived in each 24 h of the period, counted from its start, oldest first
    (the last day ends at the report's end).
    """

    count: int
    per_day: list[int] = []
    previous: Count | None = None


class Durations(BaseModel):
    """Minutes from a conversation's first customer message to a reply.

    first_response: to its first `reply_sent`. resolution: to its last `reply_sent`, for
    conversations with no `reopened` after that reply (one still waiting is not resolved).
    Calendar minutes; business minutes (only the desk's open hours, holidays closed) when
    SUPPORT_BUSINESS_HOURS is set, else None.
    """

    count: int
    median_minutes: float | None
    p90_minutes: float | None
    business_median_minutes: float | None
    business_p90_minutes: float | None
    previous: Durations | None = None


class Csat(BaseModel):
    """Each conversation's last rating counts once.

    csat: the share of rated conversations rated 4 or 5. response_rate: rated conversations
    over conversations that got a reply. happiness: the percentage rated 4-5 ("great") minus
    the percentage rated 1-2 ("not good"), from -100 to 100; a 3 is "okay" and counts in
    neither.
    """

    rated: int
    csat: float | None
    response_rate: float | None
    happiness: float | None
    previous: Csat | None = None


class Funnel(BaseModel):
    """What became of the drafts, counted as events of the period's conversations.

    escalated: drafts that hand the conversation to a person on purpose (the customer asked
    for one, a policy flag was raised, or a ticket was opened; see desk.events_log.drafted).
    assumed_resolution_rate: conversations whose replies all came automatically (at least one)
    over all conversations. verified_resolution_rate: over the conversations whose first
    message came at least 72 h before the report's end, those answered only automatically,
    never reopened less than 72 h after a reply, and whose last rating (if any) is not 1-2.
    """

    auto_sent: int
    queued: int
    approved_unchanged: int
    edited: int
    rejected: int
    escalated: int
    auto_answered: int
    verified_resolutions: int
    verifiable_conversations: int
    assumed_resolution_rate: float | None
    verified_resolution_rate: float | None
    previous: Funnel | None = None


class ModelCost(BaseModel):
    drafts: int
    tokens: int
    cost_usd: float


class Cost(BaseModel):
    """Prompt plus completion tokens and USD of every draft, per conversation of the period
    and per verified resolution (None without one), and by model ("unknown" when unnamed)."""

    tokens: int
    cost_usd: float
    tokens_per_conversation: float | None
    cost_usd_per_conversation: float | None
    cost_usd_per_verified_resolution: float | None
    by_model: dict[str, ModelCost]
    previous: Cost | None = None


class Latency(BaseModel):
    """The customer's wait for an automatic answer: seconds from each customer message to
    the `auto_sent` that answered it."""

    count: int
    p50_seconds: float | None
    p95_seconds: float | None
    previous: Latency | None = None


class Sla(BaseModel):
    """Conversations whose first draft was queued for a person: breached when the first reply
    came more than review_sla_minutes (calendar) after the first message, or none came yet
    and that long has passed by the report's end."""

    target_minutes: int
    queued_conversations: int
    breached: int
    breach_rate: float | None
    previous: Sla | None = None


class Summary(BaseModel):
    """The main figures of one channel or language."""

    conversations: int
    first_response_median_minutes: float | None
    resolution_median_minutes: float | None
    csat: float | None
    assumed_resolution_rate: float | None
    verified_resolution_rate: float | None
    cost_usd: float


class ConversationRow(BaseModel):
    """One conversation of the period, as in `report --csv`."""

    conversation_id: str
    channel: str
    language: str | None
    started_at: datetime
    first_response_minutes: float | None
    resolution_minutes: float | None
    replies_auto: int
    replies_by_person: int
    reopened: bool
    rating: int | None
    tokens: int
    cost_usd: float


class Report(BaseModel):
    period: Period
    conversations: Count
    first_response: Durations
    resolution: Durations
    csat: Csat
    ai: Funnel
    cost: Cost
    latency: Latency
    sla: Sla
    by_channel: dict[str, Summary]
    by_language: dict[str, Summary]


@dataclass
class _History:
    """What the log says about one conversation, in order."""

    id: str
    channel: str
    started_at: datetime
    language: str | None = None
    replies: list[tuple[datetime, str]] = field(default_factory=list)  # (at, "agent"/"person")
    reopens: list[datetime] = field(default_factory=list)
    rating: int | None = None
    first_queued: bool | None = None  # whether its first draft waited for a person
    waits: list[float] = field(default_factory=list)  # seconds to each automatic answer
    usage: list[tuple[str, int, float]] = field(default_factory=list)  # model, tokens, USD
    kinds: Counter = field(default_factory=Counter)
    _asked_at: datetime | None = None

    def add(self, event: ConversationEvent) -> None:
        self.kinds[event.kind] += 1
        self.language = self.language or event.language
        match event.kind:
            case EventKind.MESSAGE_IN:
                self._asked_at = event.at
            case EventKind.REPLY_SENT:
                self.replies.append((event.at, event.data.get("by", "agent")))
            case EventKind.REOPENED:
                self.reopens.append(event.at)
            case EventKind.RATED:
                self.rating = event.data["score"]
            case EventKind.AUTO_SENT | EventKind.QUEUED:
                if self.first_queued is None:
                    self.first_queued = event.kind == EventKind.QUEUED
                if event.kind == EventKind.AUTO_SENT and self._asked_at is not None:
                    self.waits.append((event.at - self._asked_at).total_seconds())
            case EventKind.DRAFT_MADE:
                usage = event.data.get("usage", {})
                tokens = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
                self.usage.append(
                    (usage.get("model") or "unknown", tokens, usage.get("cost_usd", 0.0))
                )

    def first_reply(self) -> datetime | None:
        return self.replies[0][0] if self.replies else None

    def resolved_at(self) -> datetime | None:
        if not self.replies:
            return None
        last = self.replies[-1][0]
        return None if any(at > last for at in self.reopens) else last

    def auto_only(self) -> bool:
        return bool(self.replies) and all(by == "agent" for _, by in self.replies)

    def reopened_soon(self) -> bool:
        """Reopened less than VERIFY_AFTER after the reply before it."""
        for reopened in self.reopens:
            before = [at for at, _ in self.replies if at <= reopened]
            if before and reopened - before[-1] < VERIFY_AFTER:
                return True
        return False

    def verified(self, as_of: datetime) -> bool:
        return (
            self.verifiable(as_of)
            and self.auto_only()
            and not self.reopened_soon()
            and (self.rating is None or self.rating > 2)
        )

    def verifiable(self, as_of: datetime) -> bool:
        return self.started_at <= as_of - VERIFY_AFTER


def build_report(
    session: Session, settings: Settings, *, period: str = "30d", now: datetime
) -> Report:
    """The report for the `period` ("7d", "30d" or "90d") ending at `now` (naive UTC)."""
    length = timedelta(days=PERIODS[period])
    start, previous_start = now - length, now - 2 * length
    histories = _histories(session, since=previous_start, until=now)
    current = [h for h in histories if h.started_at >= start]
    before = [h for h in histories if h.started_at < start]
    business = _business_minutes(session, settings)

    def both(figure: Callable[[list[_History]], BaseModel]) -> BaseModel:
        # The same figure over the period, with the previous period's inside it.
        return figure(current).model_copy(update={"previous": figure(before)})

    return Report(
        period=Period(name=period, start=start, end=now, previous_start=previous_start),
        conversations=Count(
            count=len(current),
            per_day=_per_day(current, start, PERIODS[period]),
            previous=Count(
                count=len(before), per_day=_per_day(before, previous_start, PERIODS[period])
            ),
        ),
        first_response=both(lambda hs: _durations(hs, _History.first_reply, business)),
        resolution=both(lambda hs: _durations(hs, _History.resolved_at, business)),
        csat=both(_csat),
        ai=both(lambda hs: _funnel(hs, now)),
        cost=both(lambda hs: _cost(hs, now)),
        latency=both(_latency),
        sla=both(lambda hs: _sla(hs, settings.review_sla_minutes, now)),
        by_channel=_grouped(current, lambda h: h.channel, now),
        by_language=_grouped(current, lambda h: h.language or "unknown", now),
    )


def conversation_rows(
    session: Session, *, period: str = "30d", now: datetime
) -> list[ConversationRow]:
    """The period's conversations one by one, oldest first (`report --csv`)."""
    histories = _histories(session, since=now - timedelta(days=PERIODS[period]), until=now)
    return [_row(h) for h in histories]


def as_csv(rows: Iterable[ConversationRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        values = row.model_dump(mode="json")
        writer.writerow(["" if values[c] is None else values[c] for c in CSV_COLUMNS])
    return out.getvalue()


def as_text(report: Report) -> str:
    """A few plain lines for a person at a terminal."""

    def minutes(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f} min"

    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    ai, first, res = report.ai, report.first_response, report.resolution
    return "\n".join(
        [
            f"period {report.period.name}: {report.period.start:%Y-%m-%d %H:%M} to "
            f"{report.period.end:%Y-%m-%d %H:%M} UTC",
            f"conversations: {report.conversations.count} "
            f"(previous {report.conversations.previous.count})",
            f"first response: median {minutes(first.median_minutes)}, "
            f"p90 {minutes(first.p90_minutes)}",
            f"resolution: median {minutes(res.median_minutes)}, p90 {minutes(res.p90_minutes)}",
            f"CSAT: {share(report.csat.csat)} of {report.csat.rated} ratings "
            f"(response rate {share(report.csat.response_rate)}), happiness "
            f"{'-' if report.csat.happiness is None else f'{report.csat.happiness:+.0f}'}",
            f"AI: {ai.auto_sent} sent automatically, {ai.approved_unchanged} approved unchanged, "
            f"{ai.edited} edited, {ai.rejected} rejected, {ai.escalated} escalated",
            f"resolved by the AI: verified {share(ai.verified_resolution_rate)}, "
            f"assumed {share(ai.assumed_resolution_rate)}",
            f"cost: ${report.cost.cost_usd:.4f}, {report.cost.tokens} tokens",
            f"SLA: {report.sla.breached} of {report.sla.queued_conversations} queued "
            f"conversations over {report.sla.target_minutes} min",
            "",
        ]
    )


# Computing -----------------------------------------------------------------------------


def _histories(session: Session, *, since: datetime, until: datetime) -> list[_History]:
    """Conversations whose first message_in is in [since, until), with their events up to
    `until`, oldest first."""
    starts = (
        select(
            ConversationEvent.conversation_id,
            func.min(ConversationEvent.at).label("started_at"),
        )
        .where(ConversationEvent.kind == EventKind.MESSAGE_IN)
        .group_by(ConversationEvent.conversation_id)
        .having(func.min(ConversationEvent.at) >= since, func.min(ConversationEvent.at) < until)
        .subquery()
    )
    rows = session.execute(
        select(ConversationEvent, starts.c.started_at)
        .join(starts, starts.c.conversation_id == ConversationEvent.conversation_id)
        .where(ConversationEvent.at <= until)
        .order_by(starts.c.started_at, ConversationEvent.conversation_id, ConversationEvent.id)
    )
    histories: dict[str, _History] = {}
    for event, started_at in rows:
        history = histories.get(event.conversation_id)
        if history is None:
            history = histories[event.conversation_id] = _History(
                id=event.conversation_id, channel=event.channel, started_at=started_at
            )
        history.add(event)
    return list(histories.values())


def _per_day(histories: list[_History], start: datetime, days: int) -> list[int]:
    counts = [0] * days
    for history in histories:
        counts[(history.started_at - start) // timedelta(days=1)] += 1
    return counts


def _business_minutes(
    session: Session, settings: Settings
) -> Callable[[datetime, datetime], float] | None:
    if not settings.business_hours:
        return None
    schedule: Schedule = schedule_for(settings.business_hours)
    closed: frozenset[date] = frozenset(h.day for h in holidays(session))
    return lambda start, end: schedule.business_minutes_between(start, end, closed)


def _durations(
    histories: list[_History],
    end_of: Callable[[_History], datetime | None],
    business: Callable[[datetime, datetime], float] | None,
) -> Durations:
    spans = [(h.started_at, end) for h in histories if (end := end_of(h)) is not None]
    calendar = [(end - start).total_seconds() / 60 for start, end in spans]
    worked = [business(start, end) for start, end in spans] if business else []
    return Durations(
        count=len(spans),
        median_minutes=_percentile(calendar, 50),
        p90_minutes=_percentile(calendar, 90),
        business_median_minutes=_percentile(worked, 50),
        business_p90_minutes=_percentile(worked, 90),
    )


def _csat(histories: list[_History]) -> Csat:
    scores = [h.rating for h in histories if h.rating is not None]
    replied = sum(1 for h in histories if h.replies)
    great = sum(1 for s in scores if s >= 4)
    not_good = sum(1 for s in scores if s <= 2)
    return Csat(
        rated=len(scores),
        csat=_ratio(great, len(scores)),
        response_rate=_ratio(len(scores), replied),
        happiness=round(100 * (great - not_good) / len(scores), 1) if scores else None,
    )


def _funnel(histories: list[_History], as_of: datetime) -> Funnel:
    kinds = sum((h.kinds for h in histories), Counter())
    auto = sum(1 for h in histories if h.auto_only())
    verified = sum(1 for h in histories if h.verified(as_of))
    verifiable = sum(1 for h in histories if h.verifiable(as_of))
    return Funnel(
        auto_sent=kinds[EventKind.AUTO_SENT],
        queued=kinds[EventKind.QUEUED],
        approved_unchanged=kinds[EventKind.APPROVED_UNCHANGED],
        edited=kinds[EventKind.EDITED],
        rejected=kinds[EventKind.REJECTED],
        escalated=kinds[EventKind.ESCALATED],
        auto_answered=auto,
        verified_resolutions=verified,
        verifiable_conversations=verifiable,
        assumed_resolution_rate=_ratio(auto, len(histories)),
        verified_resolution_rate=_ratio(verified, verifiable),
    )


def _cost(histories: list[_History], as_of: datetime) -> Cost:
    usage = [u for h in histories for u in h.usage]
    by_model = {
        name: ModelCost(
            drafts=len(spent),
            tokens=sum(tokens for _, tokens, _ in spent),
            cost_usd=round(sum(usd for _, _, usd in spent), 6),
        )
        for name in sorted({model for model, _, _ in usage})
        if (spent := [u for u in usage if u[0] == name])
    }
    tokens = sum(tokens for _, tokens, _ in usage)
    usd = sum(usd for _, _, usd in usage)
    verified = sum(1 for h in histories if h.verified(as_of))
    n = len(histories)
    return Cost(
        tokens=tokens,
        cost_usd=round(usd, 6),
        tokens_per_conversation=round(tokens / n, 1) if n else None,
        cost_usd_per_conversation=round(usd / n, 6) if n else None,
        cost_usd_per_verified_resolution=round(usd / verified, 6) if verified else None,
        by_model=by_model,
    )


def _latency(histories: list[_History]) -> Latency:
    waits = [wait for h in histories for wait in h.waits]
    return Latency(
        count=len(waits), p50_seconds=_percentile(waits, 50), p95_seconds=_percentile(waits, 95)
    )


def _sla(histories: list[_History], target: int, as_of: datetime) -> Sla:
    queued = [h for h in histories if h.first_queued]
    breached = sum(
        1 for h in queued if ((h.first_reply() or as_of) - h.started_at) > timedelta(minutes=target)
    )
    return Sla(
        target_minutes=target,
        queued_conversations=len(queued),
        breached=breached,
        breach_rate=_ratio(breached, len(queued)),
    )


def _grouped(
    histories: list[_History], key: Callable[[_History], str], as_of: datetime
) -> dict[str, Summary]:
    groups: dict[str, list[_History]] = defaultdict(list)
    for history in histories:
        groups[key(history)].append(history)
    summaries = {}
    for name, group in sorted(groups.items()):
        funnel = _funnel(group, as_of)
        summaries[name] = Summary(
            conversations=len(group),
            first_response_median_minutes=_durations(
                group, _History.first_reply, None
            ).median_minutes,
            resolution_median_minutes=_durations(group, _History.resolved_at, None).median_minutes,
            csat=_csat(group).csat,
            assumed_resolution_rate=funnel.assumed_resolution_rate,
            verified_resolution_rate=funnel.verified_resolution_rate,
            cost_usd=_cost(group, as_of).cost_usd,
        )
    return summaries


def _row(history: _History) -> ConversationRow:
    first, resolved = history.first_reply(), history.resolved_at()
    return ConversationRow(
        conversation_id=history.id,
        channel=history.channel,
        language=history.language,
        started_at=history.started_at,
        first_response_minutes=_minutes(history.started_at, first),
        resolution_minutes=_minutes(history.started_at, resolved),
        replies_auto=sum(1 for _, by in history.replies if by == "agent"),
        replies_by_person=sum(1 for _, by in history.replies if by != "agent"),
        reopened=bool(history.reopens),
        rating=history.rating,
        tokens=sum(tokens for _, tokens, _ in history.usage),
        cost_usd=round(sum(usd for _, _, usd in history.usage), 6),
    )


def _minutes(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds() / 60, 2)


def _percentile(values: list[float], p: float) -> float | None:
    """Linear interpolation between the nearest ranks: rank (n - 1) * p / 100 of the sorted
    values (numpy's default), so the 50th is the median."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low), 2)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
