"""Insights over 100,000 conversations: `Desk.report`, `Desk.report_rows` and the page.

    .venv/bin/python bench/bench_insights.py [--conversations 100000] [--runs 7]

A SQLite data dir gets a 90-day event log written in bulk (core inserts, no desk turns):
each conversation a customer message, a draft with usage, then either an automatic
answer or a queued draft that a person approves, edits or rejects; some escalated, some
rated, some reopened with a second round; two channels, four languages. The summaries
the reports read are then folded once (timed, as the first refresh of a desk upgraded
with a long log), and 200 more conversations written in the hour after them: reports fold
those from the log, as between two refreshes. The database is kept under the temp dir,
keyed by DATA_VERSION, the size and the UTC day, so a re-run the same day reuses it.
Then `report("30d")`, `report("90d")`, `report_rows("30d")`, GET
/operator/insights?period=30d and 90d (Flask test client, logged in) and the
`summarise` job with nothing new are timed. Floors, in the
same run: one `SELECT count(*)` over the event table, and a plain scan of the events a
report of 30 days would read without summaries (60 days: the period and the one before)
into Python tuples.
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from desk import Desk  # noqa: E402
from server import create_app  # noqa: E402
from settings import Settings  # noqa: E402
from store.db import engine_for  # noqa: E402
from store.models import Conversation, ConversationEvent, EventKind, utcnow  # noqa: E402
from store.operators import set_operator  # noqa: E402
from tests.web_helpers import log_in  # noqa: E402

DATA_VERSION = "6"
DAYS = 90
FRESH = 200
BATCH = 20_000
PASSWORD = "a bench of numbers"
MODELS = (("openai/gpt-4o-mini", 0.15e-6, 0.6e-6), ("local/qwen2.5-1.5b", 0.0, 0.0))
LANGUAGES = ("en", "en", "en", "de", "fr", "es")


def _p50_p95(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[round(0.95 * (len(ordered) - 1))]


def _round(rng: random.Random, cid: str, at: datetime, channel: str, language: str, first: bool):
    """The events of one customer message and what became of it; returns them and the end."""
    E = EventKind
    events = [(cid, E.MESSAGE_IN, at, channel, None, None, {})]
    if not first:
        events.append((cid, E.REOPENED, at, channel, None, None, {}))
    at += timedelta(seconds=rng.uniform(1.5, 12))
    model, prompt_price, completion_price = MODELS[rng.random() < 0.2]
    prompt, completion = rng.randint(800, 3000), rng.randint(60, 400)
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost_usd": round(prompt * prompt_price + completion * completion_price, 8),
        "model": model,
    }
    reasons = [] if rng.random() < 0.6 else [rng.choice(("weak_grounding", "handoff"))]
    draft = rng.randint(1, 10**9)
    draft_data = {"usage": usage, "latency_ms": rng.randint(1500, 12000), "reasons": reasons}
    events.append((cid, E.DRAFT_MADE, at, channel, language, draft, draft_data))
    if not reasons and rng.random() < 0.9:
        events.append((cid, E.AUTO_SENT, at, channel, language, draft, {}))
        events.append((cid, E.REPLY_SENT, at, channel, language, draft, {"by": "agent"}))
        return events, at
    events.append((cid, E.QUEUED, at, channel, language, draft, {}))
    if "handoff" in reasons:
        data = {"reasons": reasons, "ticket_id": None}
        events.append((cid, E.ESCALATED, at, channel, language, draft, data))
    at += timedelta(minutes=rng.expovariate(1 / 90))
    decision = rng.choices((E.APPROVED_UNCHANGED, E.EDITED, E.REJECTED), (0.55, 0.35, 0.1))[0]
    events.append((cid, decision, at, channel, language, draft, {}))
    if decision != E.REJECTED:
        events.append((cid, E.REPLY_SENT, at, channel, language, draft, {"by": "person"}))
    return events, at


def _generate(
    settings: Settings,
    conversations: int,
    end: datetime,
    *,
    days: float = DAYS,
    seed: int = 16,
    prefix: str = "bench",
) -> int:
    """Write the conversations, started over the `days` before `end`, and their events;
    returns how many events."""
    rng = random.Random(seed)
    engine = engine_for(settings.db_url)
    columns = ("conversation_id", "kind", "at", "channel", "language", "draft_id", "data")
    written, events, people = 0, [], []
    with engine.begin() as connection:
        for n in range(conversations):
            cid = f"{prefix}-{n:010d}"
            started = end - timedelta(seconds=rng.uniform(0, days * 86400))
            channel = "widget" if rng.random() < 0.7 else "email"
            language = rng.choice(LANGUAGES)
            people.append(
                {"id": cid, "token_hash": "x" * 64, "created_at": started, "channel": channel}
            )
            at, first = started, True
            for _ in range(1 + (rng.random() < 0.12)):  # some reopen once
                if not first:
                    at += timedelta(hours=rng.expovariate(1 / 30))
                    if at >= end:
                        break
                more, at = _round(rng, cid, at, channel, language, first)
                events += more
                first = False
            if rng.random() < 0.3:
                at += timedelta(minutes=rng.uniform(1, 600))
                score = rng.choices((1, 2, 3, 4, 5), (0.06, 0.06, 0.1, 0.3, 0.48))[0]
                events.append((cid, EventKind.RATED, at, channel, None, None, {"score": score}))
            if len(events) >= BATCH or n == conversations - 1:
                connection.execute(insert(Conversation), people)
                rows = [dict(zip(columns, e, strict=True)) for e in events if e[2] <= end]
                connection.execute(insert(ConversationEvent), rows)
                written += len(rows)
                events, people = [], []
    return written


def _timed(call, runs: int) -> list[float]:
    call()  # warm: imports, page cache, templates
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    day = utcnow().date()  # the cache lasts one UTC day
    data_dir = Path(tempfile.gettempdir()) / (
        f"bench-insights-v{DATA_VERSION}-{args.conversations}-{day:%Y%m%d}"
    )
    settings = Settings(data_dir=data_dir, shop_name="Bench", llm_model="local/none")
    ready = data_dir / "ready"
    if ready.exists():
        end = datetime.fromisoformat(ready.read_text())
        print(f"reusing {data_dir}")
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
        end = utcnow().replace(microsecond=0)
        started = time.perf_counter()
        written = _generate(settings, args.conversations, end)
        print(
            f"generated {args.conversations} conversations, {written} events "
            f"in {time.perf_counter() - started:.1f} s ({data_dir})"
        )
        started = time.perf_counter()
        folded = Desk(settings).summarise(now=end)
        print(f"first summary: {folded} conversations in {time.perf_counter() - started:.1f} s")
        # Conversations of the last hour that the summaries have not folded yet, as between
        # two refreshes: the reports fold these from the log.
        fresh = _generate(
            settings, FRESH, end + timedelta(hours=1), days=1 / 24, seed=17, prefix="fresh"
        )
        print(f"then {FRESH} conversations ({fresh} events) after the summary")
        end += timedelta(hours=1)
        ready.write_text(end.isoformat())

    desk = Desk(settings)
    app = create_app(settings, desk)
    app.config["TESTING"] = True
    with app.extensions["support"].sessions() as session:
        set_operator(session, "owner", PASSWORD)
    client = app.test_client()
    assert log_in(client, "owner", PASSWORD).status_code == 302

    def page(period: str) -> None:
        response = client.get(f"/operator/insights?period={period}")
        assert response.status_code == 200, response.status_code

    engine = engine_for(settings.db_url)
    since = end - timedelta(days=60)
    scan = select(
        ConversationEvent.conversation_id,
        ConversationEvent.kind,
        ConversationEvent.at,
        ConversationEvent.channel,
        ConversationEvent.language,
        ConversationEvent.data,
    ).where(ConversationEvent.at >= since, ConversationEvent.at <= end)

    def count() -> int:
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(ConversationEvent))

    def scanned() -> int:
        with engine.connect() as connection:
            return len(list(map(tuple, connection.execute(scan))))

    total, in_scan = count(), scanned()
    # The page reports up to the wall clock; the desk calls up to the data's end (the same
    # figures while the cache is fresh).
    measures = [
        ("floor: SELECT count(*) FROM conversation_events", _timed(count, args.runs)),
        (f"floor: scan 60 days of events into tuples ({in_scan})", _timed(scanned, args.runs)),
        ('Desk.report("30d")', _timed(lambda: desk.report("30d", now=end), args.runs)),
        ('Desk.report("90d")', _timed(lambda: desk.report("90d", now=end), args.runs)),
        ('Desk.report_rows("30d")', _timed(lambda: desk.report_rows("30d", now=end), args.runs)),
        ("GET /operator/insights?period=30d", _timed(lambda: page("30d"), args.runs)),
        ("GET /operator/insights?period=90d", _timed(lambda: page("90d"), args.runs)),
        # The job's run when nothing is new: what every sweep costs a quiet desk. (As of the
        # first summary: as of `end` it would fold the 200 conversations written after.)
        (
            "Desk.summarise(), nothing new",
            _timed(lambda: desk.summarise(now=end - timedelta(hours=1)), args.runs),
        ),
    ]
    report = desk.report("30d", now=end)
    print(
        f"{total} events; 30d: {report.conversations.count} conversations "
        f"(previous {report.conversations.previous.count}); {args.runs} runs each, seconds"
    )
    c95 = _p50_p95(measures[0][1])[1]
    s50, s95 = _p50_p95(measures[1][1])
    print("| measure | p50 s | p95 s | p95 / count(*) p95 | p50 / scan p50 | p95 / scan p95 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, samples in measures:
        p50, p95 = _p50_p95(samples)
        print(
            f"| {name} | {p50:.3f} | {p95:.3f} | {p95 / c95:.0f} | {p50 / s50:.1f} "
            f"| {p95 / s95:.1f} |"
        )
    slowest = max(_p50_p95(samples)[1] for _, samples in measures[2:])
    print(f"p95 under 1 s: {'yes' if slowest < 1 else 'no'}")


if __name__ == "__main__":
    main()
