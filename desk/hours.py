"""Business hours (SUPPORT_BUSINESS_HOURS): when a person answers, on the shop's clock.

    schedule = parse("Mon-Fri 09:00-17:00, Sat 10:00-14:00 Europe/Berlin")
    schedule.is_open(utcnow())
    schedule.next_opening(utcnow(), closed_dates={date(2026, 12, 25)})
    schedule.business_minutes_between(asked_at, answered_at, closed_dates)

Pure: no database. Times in and out are naive UTC like the rest of the store; the hours
and the closed dates (holidays, vacation days) are the shop's local wall clock, so
opening hours stay 09:00 across a change to or from summer time. A desk without
business hours is always open (`schedule_for(None)`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Set
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DAY_NUMBERS = {name.lower(): number for number, name in enumerate(DAYS)} | {
    name.lower(): number
    for number, name in enumerate(
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    )
}
DAY = 24 * 60
TIME_RANGE = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")
EXAMPLE = "Mon-Fri 09:00-17:00 Europe/Berlin"
NO_DATES: frozenset[date] = frozenset()


@dataclass(frozen=True)
class Span:
    """Open on `weekday` (0 is Monday) from `start` to `end`, minutes after local midnight;
    an `end` past 1440 runs into the next day (22:00-02:00)."""

    weekday: int
    start: int
    end: int


@dataclass(frozen=True)
class Schedule:
    spans: tuple[Span, ...]
    zone: ZoneInfo
    # As configured; None for a desk with no business hours (always open).
    text: str | None = None

    @property
    def timezone(self) -> str:
        return self.zone.key

    def local_date(self, at: datetime) -> date:
        """The shop's date at the naive UTC time `at` (what holidays are written in)."""
        return at.replace(tzinfo=UTC).astimezone(self.zone).date()

    def is_open(self, at: datetime, closed_dates: Set[date] = NO_DATES) -> bool:
        """Whether a person answers at `at` (never on one of `closed_dates`)."""
        return self.next_opening(at, closed_dates) == at

    def next_opening(self, at: datetime, closed_dates: Set[date] = NO_DATES) -> datetime:
        """The first moment at or after `at` when the desk is open: `at` itself while open."""
        windows = self._windows(self.local_date(at), closed_dates)
        return next(max(start, at) for start, end in windows if end > at)

    def business_minutes_between(
        self, start: datetime, end: datetime, closed_dates: Set[date] = NO_DATES
    ) -> float:
        """How many of the minutes from `start` to `end` the desk was open (0 if end < start)."""
        minutes = 0.0
        for opened, closed in self._windows(self.local_date(start), closed_dates):
            if opened >= end:
                break
            overlap = min(closed, end) - max(opened, start)
            minutes += max(0.0, overlap.total_seconds() / 60)
        return minutes

    def after_business_minutes(
        self, start: datetime, minutes: float, closed_dates: Set[date] = NO_DATES
    ) -> datetime:
        """The moment `minutes` of open time after `start` have passed."""
        left = timedelta(minutes=max(0.0, minutes))
        windows = self._windows(self.local_date(start), closed_dates)
        while True:
            opened, closed = next(windows)
            if closed <= start:
                continue
            opened = max(opened, start)
            if closed - opened >= left:
                return opened + left
            left -= closed - opened

    def _windows(self, first: date, closed_dates: Set[date]) -> Iterator[tuple[datetime, datetime]]:
        """Open windows as naive UTC (start, end), in order and not overlapping, from the day
        before `first` (whose hours may run past midnight) on, without end: callers stop.
        Every week has open hours and `closed_dates` are finite, so a next window comes."""
        reached: datetime | None = None  # the end of the last window given
        for offset in itertools.count(-1):
            day = first + timedelta(days=offset)
            if day in closed_dates:
                continue
            midnight = datetime.combine(day, time())
            for span in self._by_weekday[day.weekday()]:
                opened = self._utc(midnight + timedelta(minutes=span.start))
                closed = self._utc(midnight + timedelta(minutes=span.end))
                # Overlapping hours count once; a span inside the hour skipped for summer
                # time is empty.
                opened = max(opened, reached) if reached else opened
                if closed > opened:
                    yield opened, closed
                    reached = closed

    @cached_property
    def _by_weekday(self) -> dict[int, list[Span]]:
        return {
            day: sorted((s for s in self.spans if s.weekday == day), key=lambda s: s.start)
            for day in range(7)
        }

    def _utc(self, local: datetime) -> datetime:
        return local.replace(tzinfo=self.zone).astimezone(UTC).replace(tzinfo=None)


ALWAYS_OPEN = Schedule(tuple(Span(day, 0, DAY) for day in range(7)), ZoneInfo("UTC"))


@lru_cache(maxsize=16)
def schedule_for(text: str | None) -> Schedule:
    """The schedule SUPPORT_BUSINESS_HOURS describes; always open when it is unset."""
    if text is None or not text.strip():
        return ALWAYS_OPEN
    return parse(text)


def parse(text: str) -> Schedule:
    """Parse "Mon-Fri 09:00-17:00, Sat 10:00-14:00 Europe/Berlin"; ValueError with one line.

    Days (Mon..Sun, or ranges that may wrap: Sun-Thu) are followed by one or more time
    ranges (HH:MM-HH:MM; 24:00 is midnight, and 22:00-02:00 runs past it); the IANA time
    zone comes last.
    """
    # "Mon - Fri" and "09:00 – 17:00" as "Mon-Fri" and "09:00-17:00".
    dash = r"\s*[-–—]\s*"
    normalized = re.sub(
        rf"(?<=[a-z]){dash}(?=[a-z])|(?<=\d){dash}(?=\d)", "-", text.strip(), flags=re.I
    )
    tokens = [token for token in re.split(r"[\s,]+", normalized) if token]
    if len(tokens) < 3:
        raise ValueError(f"expected days, hours and a time zone, e.g. {EXAMPLE}")
    zone = _zone(tokens[-1])
    spans: list[Span] = []
    days: list[int] = []
    days_given: list[str] = []  # the day tokens of the current group, for messages
    hours_given = False
    for token in tokens[:-1]:
        if match := TIME_RANGE.fullmatch(token):
            if not days:
                raise ValueError(f"hours {token} need days before them, e.g. Mon-Fri {token}")
            start, end = _time_range(token, match)
            spans.extend(Span(day, start, end) for day in days)
            hours_given = True
            continue
        if hours_given or not days:
            days, days_given, hours_given = [], [], False
        days.extend(_days(token))
        days_given.append(token)
    if not hours_given:
        raise ValueError(f"{','.join(days_given)} has no hours after it, e.g. 09:00-17:00")
    return Schedule(tuple(dict.fromkeys(spans)), zone, text)


def _zone(token: str) -> ZoneInfo:
    if TIME_RANGE.fullmatch(token) or token.lower() in DAY_NUMBERS:
        raise ValueError(f"no time zone at the end: add an IANA name, e.g. {EXAMPLE}")
    try:
        return ZoneInfo(token)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {token!r}: end with an IANA name such as Europe/Berlin"
        ) from None


def _days(token: str) -> list[int]:
    if token[0].isdigit():
        raise ValueError(f"bad hours {token}: write HH:MM-HH:MM, e.g. 09:00-17:00")
    first, _, last = token.partition("-")
    numbers = [DAY_NUMBERS.get(name.lower()) for name in (first, last or first)]
    if None in numbers or token.endswith("-"):
        raise ValueError(f"unknown day {token!r}: expected Mon, Tue, Wed, Thu, Fri, Sat or Sun")
    start, end = numbers
    return [(start + step) % 7 for step in range((end - start) % 7 + 1)]


def _time_range(token: str, match: re.Match) -> tuple[int, int]:
    start_hour, start_minute, end_hour, end_minute = map(int, match.groups())
    start, end = start_hour * 60 + start_minute, end_hour * 60 + end_minute
    if start_minute > 59 or end_minute > 59 or start >= DAY or end > DAY:
        raise ValueError(f"bad hours {token}: times run from 00:00 to 24:00")
    if start == end:
        raise ValueError(f"bad hours {token}: it opens and closes at the same time")
    # Past midnight: 22:00-02:00 closes at 02:00 the next day.
    return start, end if end > start else end + DAY
