"""Tallies: the sums and values of a set of conversations that every figure is made of.

    tallies = tally_facts(facts, start=start, previous_start=before, as_of=now, sla_seconds=s)
    merged(tallies, current=True).conversations

A report keeps one tally per (current period or the one before, channel, language), and
adds those up for the period, a channel or a language. desk/summaries.py fills the same
tallies from summary rows with SQL sums, so both ways must count alike (tests compare).
"""

from __future__ import annotations

import gc
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from desk.conversation_facts import ConversationFacts, Spending

DAY = timedelta(days=1)
Key = tuple[bool, str, str]  # (in the current period, channel, language or "unknown")


@contextmanager
def bulk() -> Iterator[None]:
    # Folding 100,000 conversations makes no reference cycles, but its allocations set off
    # the cycle collector over and over: half the time of a report without this.
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass
class Tally(Spending):
    """Sums and values of a set of conversations: what every figure is made of. Tallies
    add up, so a period's tally is the sum of its channels' and languages' tallies."""

    conversations: int = 0
    days: Counter = field(default_factory=Counter)  # day of the period: conversations
    first_response: list[float] = field(default_factory=list)  # minutes
    resolution: list[float] = field(default_factory=list)
    business_first: list[float] = field(default_factory=list)
    business_resolution: list[float] = field(default_factory=list)
    rated: int = 0
    great: int = 0  # rated 4-5
    not_good: int = 0  # rated 1-2
    auto_sent: int = 0
    queued: int = 0
    approved_unchanged: int = 0
    edited: int = 0
    rejected: int = 0
    escalated: int = 0
    auto_answered: int = 0
    verifiable: int = 0
    verified: int = 0
    usage: dict[str, list] = field(default_factory=dict)  # model: [drafts, tokens, USD]
    waits: list[float] = field(default_factory=list)  # seconds
    sla_queued: int = 0
    sla_breached: int = 0

    def add(self, f: ConversationFacts, *, day: int, as_of: datetime, sla_seconds: int) -> None:
        """Count one conversation (desk/summaries.py counts its rows the same way in SQL)."""
        self.conversations += 1
        if f.rating is not None:
            self.rated += 1
            self.great += f.rating >= 4
            self.not_good += f.rating <= 2
        self.auto_sent += f.auto_sent
        self.queued += f.queued
        self.approved_unchanged += f.approved_unchanged
        self.edited += f.edited
        self.rejected += f.rejected
        self.escalated += f.escalated
        self.auto_answered += f.auto_only
        self.verifiable += f.verifiable(as_of)
        self.verified += f.verified(as_of)
        if f.first_queued:
            self.sla_queued += 1
            waited = f.first_response
            if waited is None:
                waited = (as_of - f.started_at).total_seconds()
            self.sla_breached += waited > sla_seconds
        self.extend(
            days=[day],
            first_response=[f.first_response],
            resolution=[f.resolution],
            business_first=[f.business_first_response],
            business_resolution=[f.business_resolution],
            waits=[f.waits],
        )
        for model, (drafts, tokens, usd) in f.usage.items():
            self.add_usage(model, drafts, tokens, usd)

    def extend(
        self,
        *,
        days: Iterable[int],
        first_response: Iterable[float | None],
        resolution: Iterable[float | None],
        business_first: Iterable[float | None],
        business_resolution: Iterable[float | None],
        waits: Iterable[list[float]],
    ) -> None:
        """The values of conversations that no SQL sum gives (percentiles need them all):
        each argument holds one item per conversation; times in seconds, business minutes."""
        self.days.update(days)
        self.first_response += [seconds / 60 for seconds in first_response if seconds is not None]
        self.resolution += [seconds / 60 for seconds in resolution if seconds is not None]
        self.business_first += [minutes for minutes in business_first if minutes is not None]
        self.business_resolution += [m for m in business_resolution if m is not None]
        for each in waits:
            self.waits += each

    def add_usage(self, model: str, drafts: int, tokens: int, usd: float) -> None:
        spent = self.usage.setdefault(model, [0, 0, 0.0])
        spent[0] += drafts
        spent[1] += tokens
        spent[2] += usd

    def __iadd__(self, other: Tally) -> Tally:
        for name, value in vars(other).items():
            if name == "usage":
                for model, spent in value.items():
                    mine = self.usage.setdefault(model, [0, 0, 0.0])
                    self.usage[model] = [a + b for a, b in zip(mine, spent, strict=True)]
            else:
                setattr(self, name, getattr(self, name) + value)
        return self

    @property
    def replied(self) -> int:
        return len(self.first_response)

    def per_day(self, days: int) -> list[int]:
        return [self.days[day] for day in range(days)]


def merged(tallies: dict[tuple[bool, str, str], Tally], *, current: bool) -> Tally:
    total = Tally()
    for (is_current, _, _), tally in tallies.items():
        if is_current == current:
            total += tally
    return total


def tally_facts(
    facts: Iterable[ConversationFacts],
    *,
    start: datetime,
    previous_start: datetime,
    as_of: datetime,
    sla_seconds: int,
) -> dict[Key, Tally]:
    """The facts' tallies: those started before `start` count in the previous period."""
    tallies: dict[Key, Tally] = defaultdict(Tally)
    for f in facts:
        current = f.started_at >= start
        day = (f.started_at - (start if current else previous_start)) // DAY
        tallies[current, f.channel, f.language or "unknown"].add(
            f, day=day, as_of=as_of, sla_seconds=sla_seconds
        )
    return tallies
