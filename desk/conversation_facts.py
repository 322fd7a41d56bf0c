"""One conversation's facts, folded from its events: what every insight figure is made of.

    facts = facts_from_log(session, clock, since=start, until=now)

Every figure is made of these facts (desk/tallies.py adds them up), whether they were
folded from the event log just now (here) or kept ahead, one row per conversation, by
desk/summaries.py, which sums the rows in SQL the way Tally.add counts a conversation.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from desk.away import holidays
from desk.hours import schedule_for
from settings import Settings
from store.models import ConversationEvent, EventKind

# An automatic answer counts as a verified resolution only after this long without a comeback.
VERIFY_AFTER = timedelta(hours=72)

BusinessClock = Callable[[datetime, datetime], float]


class Spending:
    """Totals of a `usage` mapping of model: [drafts, tokens, USD]."""

    __slots__ = ()
    usage: dict[str, list]

    @property
    def tokens(self) -> int:
        return sum(tokens for _, tokens, _ in self.usage.values())

    @property
    def cost_usd(self) -> float:
        return sum(usd for _, _, usd in self.usage.values())


@dataclass(slots=True)
class ConversationFacts(Spending):
    """What the figures need to know about one conversation."""

    id: str
    channel: str
    language: str | None
    started_at: datetime  # its first customer message
    # Seconds from the first message to the first reply, and to the last reply unless the
    # customer wrote again after it (then it is not resolved); None without one.
    first_response: float | None
    resolution: float | None
    replies_auto: int
    replies_by_person: int
    reopens: int
    reopened_soon: bool  # reopened less than VERIFY_AFTER after the reply before
    rating: int | None  # the last one
    first_queued: bool | None  # whether its first draft waited for a person
    # How many of each event of the AI funnel it had.
    auto_sent: int
    queued: int
    approved_unchanged: int
    edited: int
    rejected: int
    escalated: int
    waits: list[float]  # seconds from each customer message to its automatic answer
    usage: dict[str, list]  # model: [drafts, tokens, USD]
    # Business minutes to the first reply and to the resolution; None without business hours.
    business_first_response: float | None
    business_resolution: float | None
    # Its newest event, which summary rows are checked against; unknown when read from one.
    last_event_id: int = 0
    last_event_at: datetime | None = None

    @property
    def auto_only(self) -> bool:
        return self.replies_auto > 0 and self.replies_by_person == 0

    def verifiable(self, as_of: datetime) -> bool:
        return self.started_at <= as_of - VERIFY_AFTER

    def verified(self, as_of: datetime) -> bool:
        return (
            self.started_at <= as_of - VERIFY_AFTER
            and self.replies_auto > 0
            and self.replies_by_person == 0
            and not self.reopened_soon
            and (self.rating is None or self.rating > 2)
        )

    def first_reply_at(self) -> datetime | None:
        return after_seconds(self.started_at, self.first_response)

    def resolved_at(self) -> datetime | None:
        return after_seconds(self.started_at, self.resolution)


@dataclass
class _Fold:
    """The events of one conversation, in order, folded into its facts."""

    id: str
    channel: str
    started_at: datetime
    language: str | None = None
    replies: list[tuple[datetime, str]] = field(default_factory=list)  # (at, "agent"/"person")
    reopens: list[datetime] = field(default_factory=list)
    rating: int | None = None
    first_queued: bool | None = None
    waits: list[float] = field(default_factory=list)
    usage: dict[str, list] = field(default_factory=dict)
    kinds: Counter = field(default_factory=Counter)
    asked_at: datetime | None = None
    last_event_id: int = 0
    last_event_at: datetime | None = None

    def add(self, event_id: int, kind: str, at: datetime, language: str | None, data: dict) -> None:
        self.kinds[kind] += 1
        self.last_event_id = max(self.last_event_id, event_id)
        self.last_event_at = at if self.last_event_at is None else max(self.last_event_at, at)
        self.language = self.language or language
        match kind:
            case EventKind.MESSAGE_IN:
                self.asked_at = at
            case EventKind.REPLY_SENT:
                self.replies.append((at, data.get("by", "agent")))
            case EventKind.REOPENED:
                self.reopens.append(at)
            case EventKind.RATED:
                self.rating = data["score"]
            case EventKind.AUTO_SENT | EventKind.QUEUED:
                if self.first_queued is None:
                    self.first_queued = kind == EventKind.QUEUED
                if kind == EventKind.AUTO_SENT and self.asked_at is not None:
                    self.waits.append((at - self.asked_at).total_seconds())
            case EventKind.DRAFT_MADE:
                usage = data.get("usage", {})
                # One line of a summary row per model: tabs and newlines would not survive.
                model = " ".join(str(usage.get("model") or "").split()) or "unknown"
                spent = self.usage.setdefault(model, [0, 0, 0.0])
                spent[0] += 1
                spent[1] += usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
                spent[2] += usage.get("cost_usd", 0.0)

    def facts(self, clock: BusinessClock | None) -> ConversationFacts:
        first = self.replies[0][0] if self.replies else None
        last = self.replies[-1][0] if self.replies else None
        resolved = None if last is None or any(at > last for at in self.reopens) else last
        return ConversationFacts(
            id=self.id,
            channel=self.channel,
            language=self.language,
            started_at=self.started_at,
            first_response=_seconds(self.started_at, first),
            resolution=_seconds(self.started_at, resolved),
            replies_auto=sum(1 for _, by in self.replies if by == "agent"),
            replies_by_person=sum(1 for _, by in self.replies if by != "agent"),
            reopens=len(self.reopens),
            reopened_soon=self._reopened_soon(),
            rating=self.rating,
            first_queued=self.first_queued,
            auto_sent=self.kinds[EventKind.AUTO_SENT],
            queued=self.kinds[EventKind.QUEUED],
            approved_unchanged=self.kinds[EventKind.APPROVED_UNCHANGED],
            edited=self.kinds[EventKind.EDITED],
            rejected=self.kinds[EventKind.REJECTED],
            escalated=self.kinds[EventKind.ESCALATED],
            waits=self.waits,
            usage=self.usage,
            business_first_response=business_minutes(clock, self.started_at, first),
            business_resolution=business_minutes(clock, self.started_at, resolved),
            last_event_id=self.last_event_id,
            last_event_at=self.last_event_at,
        )

    def _reopened_soon(self) -> bool:
        for reopened in self.reopens:
            before = [at for at, _ in self.replies if at <= reopened]
            if before and reopened - before[-1] < VERIFY_AFTER:
                return True
        return False


def facts_from_log(
    session: Session,
    clock: BusinessClock | None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    only: Collection[str] | None = None,
) -> list[ConversationFacts]:
    """Conversations whose first message_in is in [since, until) (and among `only`, when
    given), folded from their events up to `until`, oldest first; no bound means all."""
    starts = select(
        ConversationEvent.conversation_id,
        func.min(ConversationEvent.at).label("started_at"),
    ).where(ConversationEvent.kind == EventKind.MESSAGE_IN)
    if only is not None:
        starts = starts.where(ConversationEvent.conversation_id.in_(only))
    starts = starts.group_by(ConversationEvent.conversation_id)
    if since is not None:
        starts = starts.having(func.min(ConversationEvent.at) >= since)
    if until is not None:
        starts = starts.having(func.min(ConversationEvent.at) < until)
    starts = starts.subquery()
    events = (
        select(
            ConversationEvent.conversation_id,
            ConversationEvent.channel,
            starts.c.started_at,
            ConversationEvent.id,
            ConversationEvent.kind,
            ConversationEvent.at,
            ConversationEvent.language,
            ConversationEvent.data,
        )
        .join(starts, starts.c.conversation_id == ConversationEvent.conversation_id)
        .order_by(starts.c.started_at, ConversationEvent.conversation_id, ConversationEvent.id)
    )
    if until is not None:
        events = events.where(ConversationEvent.at <= until)
    return [fold.facts(clock) for fold in _folds(session.execute(events))]


def _folds(rows: Iterable[tuple]) -> Iterable[_Fold]:
    """(conversation_id, channel, started_at, event id, kind, at, language, data) rows,
    grouped by conversation and in event order within each, as one fold each."""
    fold: _Fold | None = None
    for conversation_id, channel, started_at, event_id, kind, at, language, data in rows:
        if fold is None or fold.id != conversation_id:
            if fold is not None:
                yield fold
            fold = _Fold(id=conversation_id, channel=channel, started_at=started_at)
        fold.add(event_id, kind, at, language, data)
    if fold is not None:
        yield fold


def business_clock(session: Session, settings: Settings) -> BusinessClock | None:
    """Business minutes between two times (the open hours, holidays closed), or None when
    SUPPORT_BUSINESS_HOURS is not set."""
    if not settings.business_hours:
        return None
    schedule = schedule_for(settings.business_hours)
    closed: frozenset[date] = frozenset(h.day for h in holidays(session))
    return lambda start, end: schedule.business_minutes_between(start, end, closed)


def clock_key(session: Session, settings: Settings) -> str:
    """Names the business hours and holidays that business minutes were counted under."""
    if not settings.business_hours:
        return ""  # no business minutes, whatever the holidays
    days = ",".join(sorted(h.day.isoformat() for h in holidays(session)))
    text = f"{settings.business_hours or ''}|{days}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def business_minutes(
    clock: BusinessClock | None, start: datetime, end: datetime | None
) -> float | None:
    return None if clock is None or end is None else clock(start, end)


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds()


def after_seconds(start: datetime, seconds: float | None) -> datetime | None:
    return None if seconds is None else start + timedelta(seconds=seconds)
