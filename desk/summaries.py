"""Per-conversation summaries of the event log, kept ahead by a job, so that a report
reads one row per conversation instead of every event.

    refresh(sessions, settings)                          # the `summarise` job
    facts(session, settings, since=start, until=now)     # what the insights read

The rows are a cache of desk/conversation_facts.py: every figure from them equals the
figure folded from the log. A conversation with events newer than the last refresh is
folded from the log when it is read, so a report is exact between refreshes; a report
ending before the last refresh (a question about the past) folds everything from the log.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import groupby
from operator import itemgetter
from typing import TypeVar

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from desk.conversation_facts import (
    VERIFY_AFTER,
    BusinessClock,
    ConversationFacts,
    after_seconds,
    business_clock,
    business_minutes,
    clock_key,
    facts_from_log,
)
from desk.tallies import DAY, Key, Tally, bulk, tally_facts
from settings import Settings
from store.models import ConversationEvent, ConversationSummary, DeskSetting, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

STATE = "insights_summaries"  # DeskSetting: {"through_id", "as_of", "clock"}
# One refresh at a time across processes: two at once could each write a row the other
# folded later. A holder renews the lease with every batch; a dead one's expires.
LEASE = "insights_summaries_lease"
LEASE_FOR = timedelta(minutes=2)
FREE = datetime(2000, 1, 1)
# Events younger than this wait for the next refresh: on PostgreSQL a transaction can
# commit after one holding a higher id, and none of the desk's stays open this long.
SETTLE = timedelta(minutes=2)
# Conversations rewritten per transaction: a first refresh of a large log keeps its
# progress and never holds the write lock for long.
BATCH = 2000
# With more conversations changed since the last refresh than this, a report folds its
# period from the log rather than naming each of them in a query.
MOST_CHANGED = 5000
KEY = itemgetter(0, 1, 2)  # a row's tally: in the current period, channel, language
FUNNEL = ("auto_sent", "queued", "approved_unchanged", "edited", "rejected", "escalated")
COLUMNS = tuple(ConversationSummary.__table__.c)  # in ConversationFacts' field order
# What a report reads: not the last event, which the query itself checks. started_at is
# read as text on SQLite, which datetime.fromisoformat parses faster than SQLAlchemy does.
READ = tuple(
    type_coerce(c, String) if c.key == "started_at" else c
    for c in COLUMNS
    if c.key not in ("last_event_id", "last_event_at", "model", "drafts", "tokens", "cost_usd")
)


def refresh(
    sessions: sessionmaker[Session], settings: Settings, *, now: datetime | None = None
) -> int:
    """Rewrite the row of every conversation with events since the last refresh (all of
    them when the business hours or holidays changed); returns how many. Another
    process's refresh holding the lease makes this one return 0 at once."""
    now = now or utcnow()
    stamp = _take_lease(sessions)
    if stamp is None:
        return 0
    try:
        with sessions() as session:
            state = _state(session)
            key = clock_key(session, settings)
            through = state["through_id"] if state and state["clock"] == key else 0
            top = session.scalar(
                select(func.max(ConversationEvent.id)).where(ConversationEvent.at <= now - SETTLE)
            )
            if top is None or top <= through:
                return 0
            changed = session.scalars(
                select(ConversationEvent.conversation_id)
                .where(ConversationEvent.id > through, ConversationEvent.id <= top)
                .distinct()
            ).all()
            clock = business_clock(session, settings)
        for start in range(0, len(changed), BATCH):
            chunk = changed[start : start + BATCH]
            with sessions.begin() as session:
                stamp = _renew_lease(session, stamp)
                rows = [_row(f) for f in facts_from_log(session, clock, only=chunk)]
                session.execute(
                    delete(ConversationSummary).where(
                        ConversationSummary.conversation_id.in_(chunk)
                    )
                )
                if rows:
                    session.execute(insert(ConversationSummary), rows)
        with sessions.begin() as session:
            stamp = _renew_lease(session, stamp)
            value = {"through_id": top, "as_of": now.isoformat(), "clock": key}
            row = session.get(DeskSetting, STATE)
            if row is None:
                session.add(DeskSetting(key=STATE, value=value))
            else:
                row.value = value
    except LeaseLost:
        log.warning("another refresh took over the summaries; this one stopped")
        return 0
    finally:
        _give_back_lease(sessions, stamp)
    log.info("summarised %d conversations up to event %d", len(changed), top)
    return len(changed)


def facts(
    session: Session, settings: Settings, *, since: datetime, until: datetime
) -> list[ConversationFacts]:
    """The facts of the conversations whose first message is in [since, until), oldest
    first: from the summaries where they are current, else folded from the log."""
    clock = business_clock(session, settings)
    state = _state(session)
    read = _read(
        session,
        state,
        since=since,
        until=until,
        rows=lambda where: [
            _facts(row)
            for row in session.connection().execute(
                select(*READ)
                .where(*where)
                .order_by(ConversationSummary.started_at, ConversationSummary.conversation_id)
            )
        ],
    )
    if read is None:
        return facts_from_log(session, clock, since=since, until=until)
    kept, changed = read
    if state["clock"] != clock_key(session, settings):  # the hours or holidays changed since
        for f in kept:
            f.business_first_response = business_minutes(clock, f.started_at, f.first_reply_at())
            f.business_resolution = business_minutes(clock, f.started_at, f.resolved_at())
    if not changed:
        return kept
    fresh = facts_from_log(session, clock, since=since, until=until, only=changed)
    return sorted(kept + fresh, key=lambda f: (f.started_at, f.id))


def tallies(
    session: Session,
    settings: Settings,
    *,
    previous_start: datetime,
    start: datetime,
    until: datetime,
) -> dict[Key, Tally]:
    """The tallies of the conversations whose first message is in [previous_start, until),
    those before `start` in the previous period: the counts summed in SQL and only the
    values percentiles need read row by row, from the summaries where they are current;
    the rest folded from the log."""
    clock = business_clock(session, settings)
    counting = {
        "start": start,
        "previous_start": previous_start,
        "as_of": until,
        "sla_seconds": settings.review_sla_minutes * 60,
    }
    state = _state(session)
    # Business minutes counted under other hours or holidays than today's are counted again.
    recount = clock if state and state["clock"] != clock_key(session, settings) else None
    with bulk():
        read = _read(
            session,
            state,
            since=previous_start,
            until=until,
            rows=lambda where: _summed(session, where, recount=recount, **counting),
        )
        if read is None:
            log_facts = facts_from_log(session, clock, since=previous_start, until=until)
            return tally_facts(log_facts, **counting)
        found, changed = read
        result: dict[Key, Tally] = defaultdict(Tally, found)
        if changed:
            fresh = facts_from_log(session, clock, since=previous_start, until=until, only=changed)
            for key, tally in tally_facts(fresh, **counting).items():
                result[key] += tally
        return result


def _read(
    session: Session,
    state: dict | None,
    *,
    since: datetime,
    until: datetime,
    rows: Callable[[tuple], T],
) -> tuple[T, set[str]] | None:
    """`rows(where)` over the current summary rows of [since, until), with the
    conversations to fold from the log instead; None when the log should serve it all.

    A row is current when it holds no event past the watermark (a refresh wrote it while
    this reads) nor past `until` (an event stamped later than written), and its
    conversation has no event past the watermark. The reads are repeated until no event
    arrived during them, so a row rewritten meanwhile is never counted twice or not at all.
    """
    if state is None or until < datetime.fromisoformat(state["as_of"]):
        return None
    through = state["through_id"]
    in_period = (ConversationSummary.started_at >= since, ConversationSummary.started_at < until)
    current = (
        ConversationSummary.last_event_id <= through,
        ConversationSummary.last_event_at <= until,
    )
    for _ in range(3):
        before = _changed_since(session, through)
        if len(before) > MOST_CHANGED:
            return None
        skipped = (ConversationSummary.conversation_id.notin_(before),) if before else ()
        found = rows((*in_period, *current, *skipped))
        stale = session.scalars(
            select(ConversationSummary.conversation_id)
            .where(*in_period, ~and_(*current))
            .limit(MOST_CHANGED + 1)
        ).all()
        if _changed_since(session, through) == before:
            changed = before.union(stale)
            return None if len(changed) > MOST_CHANGED else (found, changed)
    return None


def _changed_since(session: Session, through: int) -> set[str]:
    """Conversations with events past the watermark (at most MOST_CHANGED + 1 of them)."""
    return set(
        session.scalars(
            select(ConversationEvent.conversation_id)
            .where(ConversationEvent.id > through)
            .distinct()
            .limit(MOST_CHANGED + 1)
        )
    )


def _summed(
    session: Session,
    where: tuple,
    *,
    recount: BusinessClock | None,
    start: datetime,
    previous_start: datetime,
    as_of: datetime,
    sla_seconds: int,
) -> dict[Key, Tally]:
    """The rows' tallies: the counts summed in SQL exactly as Tally.add counts them, then
    each row's values (times, waits, usage) added one by one."""
    s = ConversationSummary
    is_current = case((s.started_at >= start, True), else_=False)
    language = func.coalesce(s.language, "unknown")
    auto_only = and_(s.replies_auto > 0, s.replies_by_person == 0)
    verifiable = s.started_at <= as_of - VERIFY_AFTER
    queued = s.first_queued.is_(True)
    unanswered_too_long = and_(
        s.first_response.is_(None), s.started_at < as_of - timedelta(seconds=sla_seconds)
    )
    sums = {
        "conversations": func.count(),
        "rated": func.count(s.rating),
        "great": _count_if(s.rating >= 4),
        "not_good": _count_if(s.rating <= 2),
        **{name: func.sum(getattr(s, name)) for name in FUNNEL},
        "auto_answered": _count_if(auto_only),
        "verifiable": _count_if(verifiable),
        "verified": _count_if(
            and_(
                verifiable,
                auto_only,
                s.reopened_soon.is_(False),
                or_(s.rating.is_(None), s.rating > 2),
            )
        ),
        "sla_queued": _count_if(queued),
        "sla_breached": _count_if(
            and_(queued, or_(unanswered_too_long, s.first_response > sla_seconds))
        ),
    }
    spent = (func.sum(s.drafts), func.sum(s.tokens), func.sum(s.cost_usd))
    # By model too, so one scan sums the usage of the conversations with one model.
    query = (
        select(is_current, s.channel, language, s.model, *spent, *sums.values())
        .where(*where)
        .group_by(is_current, s.channel, language, s.model)
    )
    found: dict[Key, Tally] = defaultdict(Tally)
    for current, channel, lang, model, drafts, tokens, usd, *counts in session.execute(query):
        tally = found[bool(current), channel, lang]
        tally += Tally(**dict(zip(sums, map(int, counts), strict=True)))
        if model is not None:
            tally.add_usage(model, drafts, tokens, usd)
    values = select(
        is_current,
        s.channel,
        language,
        type_coerce(s.started_at, String),
        s.first_response,
        s.resolution,
        s.business_first_response,
        s.business_resolution,
        s.waits,
        case((s.model.is_(None), s.usage), else_=""),  # one model: summed above instead
    ).where(*where)
    rows = session.connection().execute(values).all()
    rows.sort(key=KEY)
    # A tally's values a column at a time: list comprehensions, not a call per row.
    for (current, channel, lang), group in groupby(rows, key=KEY):
        _, _, _, starts, first, resolved, worked, solved, waits, usage = zip(*group, strict=True)
        starts = [_datetime(at) for at in starts]
        if recount:  # the hours or holidays changed since the rows were written
            worked = _recounted(recount, starts, first)
            solved = _recounted(recount, starts, resolved)
        base = start if current else previous_start
        tally = found[bool(current), channel, lang]
        tally.extend(
            days=[(at - base) // DAY for at in starts],
            first_response=first,
            resolution=resolved,
            business_first=worked,
            business_resolution=solved,
            waits=[_waits(text) for text in waits if text],
        )
        for text in filter(None, usage):  # the conversations with several models
            for model, (drafts, tokens, usd) in _usage(text).items():
                tally.add_usage(model, drafts, tokens, usd)
    return found


def _recounted(
    clock: BusinessClock, starts: list[datetime], seconds: tuple[float | None, ...]
) -> list[float | None]:
    """Business minutes from each start to `seconds` after it."""
    return [
        business_minutes(clock, at, after_seconds(at, value))
        for at, value in zip(starts, seconds, strict=True)
    ]


def _count_if(condition) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


class LeaseLost(RuntimeError):
    pass


def _take_lease(sessions: sessionmaker[Session]) -> datetime | None:
    """The refresh lease, across processes: a row whose time is its holder's stamp. Taken
    when free or expired (its holder died); returns the stamp, None when held."""
    now = utcnow()
    try:
        with sessions.begin() as session:
            if session.get(DeskSetting, LEASE) is None:
                session.add(DeskSetting(key=LEASE, value={}, updated_at=FREE))
    except IntegrityError:
        pass  # another process added it first
    with sessions.begin() as session:
        taken = session.execute(
            update(DeskSetting)
            .where(DeskSetting.key == LEASE, DeskSetting.updated_at < now - LEASE_FOR)
            .values(updated_at=now)
        )
    return now if taken.rowcount == 1 else None


def _renew_lease(session: Session, stamp: datetime) -> datetime:
    """Renew the lease in the caller's transaction; raises LeaseLost when it expired and
    another refresh took it, so that one's rows are not overwritten with older ones."""
    now = max(utcnow(), stamp + timedelta(microseconds=1))
    renewed = session.execute(
        update(DeskSetting)
        .where(DeskSetting.key == LEASE, DeskSetting.updated_at == stamp)
        .values(updated_at=now)
    )
    if renewed.rowcount != 1:
        raise LeaseLost
    return now


def _give_back_lease(sessions: sessionmaker[Session], stamp: datetime) -> None:
    with sessions.begin() as session:
        session.execute(
            update(DeskSetting)
            .where(DeskSetting.key == LEASE, DeskSetting.updated_at == stamp)
            .values(updated_at=FREE)
        )


def _state(session: Session) -> dict | None:
    row = session.get(DeskSetting, STATE)
    return row.value if row else None


def _row(f: ConversationFacts) -> dict:
    values = {column.key: getattr(f, column.key, None) for column in COLUMNS}
    return values | {
        "conversation_id": f.id,
        "waits": ",".join(map(repr, f.waits)),
        "usage": "\n".join(
            "\t".join([model, *map(repr, spent)]) for model, spent in f.usage.items()
        ),
        "model": next(iter(f.usage)) if len(f.usage) == 1 else None,
        "drafts": sum(drafts for drafts, _, _ in f.usage.values()),
    }


def _facts(row: tuple) -> ConversationFacts:
    # Columns in the order of the facts' fields; a few stored in a cheaper form.
    conversation_id, channel, language, started_at, *counts, waits, usage, worked, resolved = row
    return ConversationFacts(
        conversation_id,
        channel,
        language,
        _datetime(started_at),
        *counts,
        _waits(waits),
        _usage(usage),
        worked,
        resolved,
    )


def _datetime(value: str | datetime) -> datetime:
    # SQLite hands back the text READ asks for; PostgreSQL a datetime still.
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _waits(text: str) -> list[float]:
    return [float(wait) for wait in text.split(",")] if text else []


def _usage(text: str) -> dict[str, list]:
    return dict(map(_spent, text.splitlines()))


def _spent(line: str) -> tuple[str, list]:
    # One line per model: "model<TAB>drafts<TAB>tokens<TAB>USD".
    model, drafts, tokens, usd = line.split("\t")
    return model, [int(drafts), int(tokens), float(usd)]
