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

from sqlalchemy import String, delete, func, insert, select, type_coerce
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
# Read as text on SQLite, which datetime.fromisoformat parses faster than SQLAlchemy does.
READ = tuple(type_coerce(c, String) if c.key == "started_at" else c for c in COLUMNS)


def refresh(
    sessions: sessionmaker[Session], settings: Settings, *, now: datetime | None = None
) -> int:
    """Rewrite the row of every conversation with events since the last refresh (all of
    them when the business hours or holidays changed); returns how many."""
    now = now or utcnow()
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
            rows = [_row(f) for f in facts_from_log(session, clock, only=chunk)]
            session.execute(
                delete(ConversationSummary).where(ConversationSummary.conversation_id.in_(chunk))
            )
            if rows:
                session.execute(insert(ConversationSummary), rows)
    with sessions.begin() as session:
        value = {"through_id": top, "as_of": now.isoformat(), "clock": key}
        row = session.get(DeskSetting, STATE)
        if row is None:
            session.add(DeskSetting(key=STATE, value=value))
        else:
            row.value = value
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
    changed = set(
        session.scalars(
            select(ConversationEvent.conversation_id)
            .where(ConversationEvent.id > state["through_id"])
            .distinct()
            .limit(MOST_CHANGED + 1)
        )
    )
    if len(changed) > MOST_CHANGED:
        return facts_from_log(session, clock, since=since, until=until)
    query = (
        select(*READ)
        .where(ConversationSummary.started_at >= since, ConversationSummary.started_at < until)
        .order_by(ConversationSummary.started_at, ConversationSummary.conversation_id)
    )
    kept = [
        _facts(row) for row in session.connection().execute(query).all() if row[0] not in changed
    ]
    if state["clock"] != clock_key(session, settings):  # the hours or holidays changed since
        for f in kept:
            f.business_first_response = business_minutes(clock, f.started_at, f.first_reply_at())
            f.business_resolution = business_minutes(clock, f.started_at, f.resolved_at())
    if not changed:
        return kept
    fresh = facts_from_log(session, clock, since=since, until=until, only=changed)
    return sorted(kept + fresh, key=lambda f: (f.started_at, f.id))


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
