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
from datetime import datetime, timedelta

from sqlalchemy import String, and_, delete, func, insert, select, type_coerce, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from desk.conversation_facts import (
    ConversationFacts,
    business_clock,
    business_minutes,
    clock_key,
    facts_from_log,
)
from settings import Settings
from store.models import ConversationEvent, ConversationSummary, DeskSetting, utcnow

log = logging.getLogger(__name__)

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
COLUMNS = tuple(ConversationSummary.__table__.c)  # in ConversationFacts' field order
# What a report reads: not the last event, which the query itself checks. started_at is
# read as text on SQLite, which datetime.fromisoformat parses faster than SQLAlchemy does.
READ = tuple(
    type_coerce(c, String) if c.key == "started_at" else c
    for c in COLUMNS
    if not c.key.startswith("last_event")
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
    state = _state(session)
    clock = business_clock(session, settings)
    if state is None or until < datetime.fromisoformat(state["as_of"]):
        return facts_from_log(session, clock, since=since, until=until)
    through = state["through_id"]
    changed = set(
        session.scalars(
            select(ConversationEvent.conversation_id)
            .where(ConversationEvent.id > through)
            .distinct()
            .limit(MOST_CHANGED + 1)
        )
    )
    in_period = (ConversationSummary.started_at >= since, ConversationSummary.started_at < until)
    # A row is current when it holds no event past the watermark (one a refresh wrote while
    # this report read) nor past the report's end (an event stamped later than written).
    current = (
        ConversationSummary.last_event_id <= through,
        ConversationSummary.last_event_at <= until,
    )
    query = (
        select(*READ)
        .where(*in_period, *current)
        .order_by(ConversationSummary.started_at, ConversationSummary.conversation_id)
    )
    kept = [
        _facts(row) for row in session.connection().execute(query).all() if row[0] not in changed
    ]
    changed.update(
        session.scalars(
            select(ConversationSummary.conversation_id)
            .where(*in_period, ~and_(*current))
            .limit(MOST_CHANGED + 1)
        )
    )
    if len(changed) > MOST_CHANGED:
        return facts_from_log(session, clock, since=since, until=until)
    if state["clock"] != clock_key(session, settings):  # the hours or holidays changed since
        for f in kept:
            f.business_first_response = business_minutes(clock, f.started_at, f.first_reply_at())
            f.business_resolution = business_minutes(clock, f.started_at, f.resolved_at())
    if not changed:
        return kept
    fresh = facts_from_log(session, clock, since=since, until=until, only=changed)
    return sorted(kept + fresh, key=lambda f: (f.started_at, f.id))


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
            "\t".join([" ".join(model.split()), *map(repr, spent)])
            for model, spent in f.usage.items()
        ),
    }


def _facts(row: tuple) -> ConversationFacts:
    # Columns in the order of the facts' fields; a few stored in a cheaper form.
    conversation_id, channel, language, started_at, *counts, waits, usage, worked, resolved = row
    return ConversationFacts(
        conversation_id,
        channel,
        language,
        started_at if isinstance(started_at, datetime) else datetime.fromisoformat(started_at),
        *counts,
        [float(wait) for wait in waits.split(",")] if waits else [],
        dict(map(_spent, usage.splitlines())),
        worked,
        resolved,
    )


def _spent(line: str) -> tuple[str, list]:
    # One line per model: "model<TAB>drafts<TAB>tokens<TAB>USD".
    model, drafts, tokens, usd = line.split("\t")
    return model, [int(drafts), int(tokens), float(usd)]
