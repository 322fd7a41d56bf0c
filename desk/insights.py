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
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy.orm import Session

from desk import summaries
from desk.conversation_facts import ConversationFacts
from desk.tallies import Key, Tally, bulk, merged
from settings import Settings

PERIODS = {"7d": 7, "30d": 30, "90d": 90}
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


def build_report(
    session: Session, settings: Settings, *, period: str = "30d", now: datetime
) -> Report:
    """The report for the `period` ("7d", "30d" or "90d") ending at `now` (naive UTC)."""
    days = PERIODS[period]
    start, previous_start = now - timedelta(days=days), now - timedelta(days=2 * days)
    tallies = summaries.tallies(
        session, settings, previous_start=previous_start, start=start, until=now
    )
    this, before = merged(tallies, current=True), merged(tallies, current=False)
    business = bool(settings.business_hours)

    def both(figure: Callable[[Tally], BaseModel]) -> BaseModel:
        # The same figure over the period, with the previous period's inside it.
        return figure(this).model_copy(update={"previous": figure(before)})

    return Report(
        period=Period(name=period, start=start, end=now, previous_start=previous_start),
        conversations=Count(
            count=this.conversations,
            per_day=this.per_day(days),
            previous=Count(count=before.conversations, per_day=before.per_day(days)),
        ),
        first_response=both(lambda t: _durations(t.first_response, t.business_first, business)),
        resolution=both(lambda t: _durations(t.resolution, t.business_resolution, business)),
        csat=both(_csat),
        ai=both(_funnel),
        cost=both(_cost),
        latency=both(_latency),
        sla=both(lambda t: _sla(t, settings.review_sla_minutes)),
        by_channel=_grouped(tallies, lambda channel, _: channel),
        by_language=_grouped(tallies, lambda _, language: language),
    )


def conversation_rows(
    session: Session, settings: Settings, *, period: str = "30d", now: datetime
) -> list[ConversationRow]:
    """The period's conversations one by one, oldest first (`report --csv`)."""
    since = now - timedelta(days=PERIODS[period])
    with bulk():
        return [_row(f) for f in summaries.facts(session, settings, since=since, until=now)]


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


def _durations(minutes: list[float], business: list[float], hours: bool) -> Durations:
    median, p90 = _percentiles(minutes, 50, 90)
    business_median, business_p90 = _percentiles(business if hours else [], 50, 90)
    return Durations(
        count=len(minutes),
        median_minutes=median,
        p90_minutes=p90,
        business_median_minutes=business_median,
        business_p90_minutes=business_p90,
    )


def _csat(t: Tally) -> Csat:
    return Csat(
        rated=t.rated,
        csat=_ratio(t.great, t.rated),
        response_rate=_ratio(t.rated, t.replied),
        happiness=round(100 * (t.great - t.not_good) / t.rated, 1) if t.rated else None,
    )


def _funnel(t: Tally) -> Funnel:
    return Funnel(
        auto_sent=t.auto_sent,
        queued=t.queued,
        approved_unchanged=t.approved_unchanged,
        edited=t.edited,
        rejected=t.rejected,
        escalated=t.escalated,
        auto_answered=t.auto_answered,
        verified_resolutions=t.verified,
        verifiable_conversations=t.verifiable,
        assumed_resolution_rate=_ratio(t.auto_answered, t.conversations),
        verified_resolution_rate=_ratio(t.verified, t.verifiable),
    )


def _cost(t: Tally) -> Cost:
    tokens, usd, n = t.tokens, t.cost_usd, t.conversations
    return Cost(
        tokens=tokens,
        cost_usd=round(usd, 6),
        tokens_per_conversation=round(tokens / n, 1) if n else None,
        cost_usd_per_conversation=round(usd / n, 6) if n else None,
        cost_usd_per_verified_resolution=round(usd / t.verified, 6) if t.verified else None,
        by_model={
            name: ModelCost(drafts=drafts, tokens=tokens, cost_usd=round(usd, 6))
            for name, (drafts, tokens, usd) in sorted(t.usage.items())
        },
    )


def _latency(t: Tally) -> Latency:
    p50, p95 = _percentiles(t.waits, 50, 95)
    return Latency(count=len(t.waits), p50_seconds=p50, p95_seconds=p95)


def _sla(t: Tally, target: int) -> Sla:
    return Sla(
        target_minutes=target,
        queued_conversations=t.sla_queued,
        breached=t.sla_breached,
        breach_rate=_ratio(t.sla_breached, t.sla_queued),
    )


def _grouped(tallies: dict[Key, Tally], key: Callable[[str, str], str]) -> dict[str, Summary]:
    groups: dict[str, Tally] = defaultdict(Tally)
    for (current, channel, language), tally in tallies.items():
        if current:
            groups[key(channel, language)] += tally
    return {
        name: Summary(
            conversations=t.conversations,
            first_response_median_minutes=_percentiles(t.first_response, 50)[0],
            resolution_median_minutes=_percentiles(t.resolution, 50)[0],
            csat=_ratio(t.great, t.rated),
            assumed_resolution_rate=_ratio(t.auto_answered, t.conversations),
            verified_resolution_rate=_ratio(t.verified, t.verifiable),
            cost_usd=round(t.cost_usd, 6),
        )
        for name, t in sorted(groups.items())
    }


def _row(f: ConversationFacts) -> ConversationRow:
    return ConversationRow(
        conversation_id=f.id,
        channel=f.channel,
        language=f.language,
        started_at=f.started_at,
        first_response_minutes=_minutes(f.first_response),
        resolution_minutes=_minutes(f.resolution),
        replies_auto=f.replies_auto,
        replies_by_person=f.replies_by_person,
        reopened=f.reopens > 0,
        rating=f.rating,
        tokens=f.tokens,
        cost_usd=round(f.cost_usd, 6),
    )


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 2)


def _percentiles(values: list[float], *ps: float) -> list[float | None]:
    """Linear interpolation between the nearest ranks: rank (n - 1) * p / 100 of the sorted
    values (numpy's default), so the 50th is the median. The values are sorted once."""
    if not values:
        return [None] * len(ps)
    ordered = sorted(values)
    found = []
    for p in ps:
        rank = (len(ordered) - 1) * p / 100
        low = math.floor(rank)
        high = min(low + 1, len(ordered) - 1)
        found.append(round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low), 2))
    return found


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
