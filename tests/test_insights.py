"""Insights: the event log a conversation leaves, and every figure computed from it by hand."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from desk import Desk
from desk.events_log import record_event
from desk.review import Action
from store.models import Channel, Conversation, ConversationEvent, EventKind, utcnow
from store.operators import set_operator
from tests import scripted_llm
from tests.conftest import run_cli, shop_settings
from tests.scripted_llm import script
from tests.test_postgres import postgres_url  # noqa: F401 (a module-scoped fixture)
from tests.web_helpers import RETURN_ANSWER

# Friday 20 November 2026, noon UTC: the seeded history's "now".
NOW = datetime(2026, 11, 20, 12, 0)
E = EventKind
D, H, M, S = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1), timedelta(seconds=1)


class Seeder:
    """Writes a conversation's events at given times, as the desk would have written them."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def conversation(self, channel: Channel) -> str:
        conversation_id, _ = self.desk.start_conversation(channel=channel)
        return conversation_id

    def events(self, conversation_id: str, *events: tuple) -> None:
        with self.desk.sessions.begin() as session:
            conversation = session.get(Conversation, conversation_id)
            for at, kind, language, data in events:
                record_event(session, conversation, kind, at=at, language=language, data=data)


def customer(at: datetime, *, reopen: bool = False) -> list[tuple]:
    return [(at, E.MESSAGE_IN, None, {})] + ([(at, E.REOPENED, None, {})] if reopen else [])


def draft(at, language, model, tokens, usd, *, sent: bool, reasons=()) -> list[tuple]:
    usage = {"prompt_tokens": tokens - 10, "completion_tokens": 10, "cost_usd": usd}
    made = (at, E.DRAFT_MADE, language, {"usage": {**usage, "model": model}})
    if sent:
        return [
            made,
            (at, E.AUTO_SENT, language, {}),
            (at, E.REPLY_SENT, language, {"by": "agent"}),
        ]
    escalated = [(at, E.ESCALATED, language, {})] if "handoff" in reasons else []
    return [made, (at, E.QUEUED, language, {}), *escalated]


def person(at, kind: EventKind, language) -> list[tuple]:
    reply = [] if kind == E.REJECTED else [(at, E.REPLY_SENT, language, {"by": "person"})]
    return [(at, kind, language, {}), *reply]


def rated(at, score: int) -> list[tuple]:
    return [(at, E.RATED, None, {"score": score})]


def seed_history(desk: Desk, now: datetime) -> dict[str, str]:
    """Six conversations in the 7 days before `now`, one in the 7 days before those, one older.

    With now = Friday 20 Nov 2026 12:00 (the dates below):
      F widget en  Fri 13 13:00  auto reply after 1 min; back 4 days later (over 72 h),
                   auto reply after 2 min
      A widget en  Sat 14 10:00  auto reply after 30 s; rated 5
      B widget en  Sun 15 09:00  auto reply after 1 min; back after 2 h, draft queued,
                   edited and sent at 2 h 40 min; rated 1, then 2
      C email  de  Mon 16 08:00  handoff: queued and escalated, approved unchanged after
                   200 min; rated 4
      D email  en  Wed 18 12:00  auto reply after 3 min
      E widget en  Thu 19 12:00  queued, rejected after 10 min (no reply)
      P widget en  Tue 10 12:00  (previous period) auto reply after 1 min
      Q widget en  Sun  1 12:00  (before both periods) auto reply after 1 min
    """
    seed = Seeder(desk)
    ids = {
        name: seed.conversation(Channel.EMAIL if name in "CD" else Channel.WIDGET)
        for name in "FABCDEPQ"
    }
    f, a, b, c = now - 6 * D - 23 * H, now - 6 * D - 2 * H, now - 5 * D - 3 * H, now - 4 * D - 4 * H
    d, e, p, q = now - 2 * D, now - D, now - 10 * D, now - 19 * D
    back = now - 2 * D - 22 * H  # F comes back on Tue 17 14:00
    seed.events(
        ids["F"],
        *customer(f),
        *draft(f + M, "en", "m1", 100, 0.01, sent=True),
        *customer(back, reopen=True),
        *draft(back + 2 * M, "en", "m1", 100, 0.01, sent=True),
    )
    seed.events(
        ids["A"],
        *customer(a),
        *draft(a + 30 * S, "en", "m1", 150, 0.01, sent=True),
        *rated(a + H, 5),
    )
    seed.events(
        ids["B"],
        *customer(b),
        *draft(b + M, "en", "m1", 300, 0.02, sent=True),
        *customer(b + 2 * H, reopen=True),
        *draft(b + 2 * H, "en", "m1", 300, 0.03, sent=False),
        *person(b + 2 * H + 40 * M, E.EDITED, "en"),
        *rated(b + 2 * H + 50 * M, 1),
        *rated(b + 3 * H, 2),
    )
    seed.events(
        ids["C"],
        *customer(c),
        *draft(c, "de", "m2", 500, 0.05, sent=False, reasons=("handoff",)),
        *person(c + 200 * M, E.APPROVED_UNCHANGED, "de"),
        *rated(c + 5 * H, 4),
    )
    seed.events(ids["D"], *customer(d), *draft(d + 3 * M, "en", "m2", 100, 0.01, sent=True))
    seed.events(
        ids["E"],
        *customer(e),
        *draft(e, "en", "m1", 50, 0.0, sent=False),
        *person(e + 10 * M, E.REJECTED, "en"),
    )
    seed.events(ids["P"], *customer(p), *draft(p + M, "en", "m1", 10, 0.001, sent=True))
    seed.events(ids["Q"], *customer(q), *draft(q + M, "en", "m1", 10, 0.001, sent=True))
    return ids


@pytest.fixture
def desk(settings) -> Desk:
    return Desk(settings)


def test_the_report_computes_every_figure_from_the_seeded_events(desk):
    seed_history(desk, NOW)
    report = desk.report("7d", now=NOW)
    assert report.period.start == NOW - 7 * D and report.period.previous_start == NOW - 14 * D
    # F, A, B, C, D, E started in the period; P in the previous one; Q in neither.
    assert (report.conversations.count, report.conversations.previous.count) == (6, 1)

    first = report.first_response
    # First replies, minutes: F 1, A 0.5, B 1, C 200, D 3 (E none) -> [0.5, 1, 1, 3, 200].
    # Median: rank (5-1)*0.5 = 2 -> 1. p90: rank 3.6 -> 3 + (200-3)*0.6 = 121.2.
    assert (first.count, first.median_minutes, first.p90_minutes) == (5, 1.0, 121.2)
    assert first.business_median_minutes is None  # no SUPPORT_BUSINESS_HOURS
    assert first.previous.median_minutes == 1.0

    resolution = report.resolution
    # Last replies, minutes: A 0.5, D 3, B 160 (2 h 40 after a comeback it answered),
    # C 200, F 4 days 1 h 2 min = 5822 -> median 160; p90 rank 3.6 -> 200 + 5622*0.6 = 3573.2.
    assert (resolution.count, resolution.median_minutes) == (5, 160.0)
    assert resolution.p90_minutes == pytest.approx(3573.2)

    csat = report.csat
    # Last ratings: A 5, B 2 (its 1 was replaced), C 4 -> 2 of 3 are 4-5 = 0.6667.
    # Replied conversations: F, A, B, C, D = 5 -> response rate 3/5 = 0.6.
    # Happiness: 100 * (2 great - 1 not good) / 3 = 33.3.
    assert (csat.rated, csat.csat, csat.response_rate, csat.happiness) == (3, 0.6667, 0.6, 33.3)

    ai = report.ai
    # auto_sent: F 2, A 1, B 1, D 1 = 5. queued: B, C, E = 3; C is the handoff (escalated).
    assert (ai.auto_sent, ai.queued, ai.approved_unchanged, ai.edited, ai.rejected) == (
        5,
        3,
        1,
        1,
        1,
    )
    assert ai.escalated == 1
    # Answered only automatically: F, A, D -> assumed 3/6 = 0.5.
    assert (ai.auto_answered, ai.assumed_resolution_rate) == (3, 0.5)
    # Verifiable (first message by Tue 17 12:00, 72 h before now): F, A, B, C = 4.
    # Verified: A, and F (its comeback came 4 days after the reply, not within 72 h);
    # B had a person's reply, C too; D is too recent to tell -> 2/4 = 0.5.
    assert (ai.verified_resolutions, ai.verifiable_conversations) == (2, 4)
    assert ai.verified_resolution_rate == 0.5
    assert ai.previous.auto_sent == 1 and ai.previous.verified_resolution_rate == 1.0

    cost = report.cost
    # Tokens: F 100+100, A 150, B 300+300, C 500, D 100, E 50 = 1600; USD 0.01+0.01+0.01
    # +0.02+0.03+0.05+0.01+0 = 0.14 -> per conversation 1600/6 = 266.7 tokens and
    # 0.14/6 = 0.023333 USD; per verified resolution 0.14/2 = 0.07.
    assert (cost.tokens, cost.cost_usd) == (1600, pytest.approx(0.14))
    assert cost.tokens_per_conversation == 266.7
    assert cost.cost_usd_per_conversation == pytest.approx(0.023333)
    assert cost.cost_usd_per_verified_resolution == pytest.approx(0.07)
    # m1: F 2, A, B 2, E = 6 drafts, 1000 tokens, 0.08; m2: C, D = 2 drafts, 600, 0.06.
    m1, m2 = cost.by_model["m1"], cost.by_model["m2"]
    assert (m1.drafts, m1.tokens, m1.cost_usd) == (6, 1000, pytest.approx(0.08))
    assert (m2.drafts, m2.tokens, m2.cost_usd) == (2, 600, pytest.approx(0.06))

    # Waits for automatic answers, s: F 60 and 120, A 30, B 60, D 180 -> [30, 60, 60, 120, 180]:
    # p50 60; p95 rank 3.8 -> 120 + 60*0.8 = 168.
    assert (report.latency.count, report.latency.p50_seconds, report.latency.p95_seconds) == (
        5,
        60.0,
        168.0,
    )

    # First draft queued: C (answered after 200 min, within the 240 min SLA) and E (no reply
    # a day later: breached) -> 1 of 2.
    sla = report.sla
    assert (sla.target_minutes, sla.queued_conversations, sla.breached, sla.breach_rate) == (
        240,
        2,
        1,
        0.5,
    )

    widget, email = report.by_channel["widget"], report.by_channel["email"]
    # widget F, A, B, E: first replies [1, 0.5, 1] -> 1; ratings 5, 2 -> 0.5;
    # verified F, A of verifiable F, A, B -> 0.6667. email C, D: [200, 3] -> 101.5.
    assert (widget.conversations, widget.first_response_median_minutes) == (4, 1.0)
    assert (widget.csat, widget.verified_resolution_rate) == (0.5, 0.6667)
    assert (email.conversations, email.first_response_median_minutes, email.csat) == (
        2,
        101.5,
        1.0,
    )
    # By the language of the drafts: de is C alone; en the other five.
    assert report.by_language["de"].conversations == 1
    assert report.by_language["de"].first_response_median_minutes == 200.0
    assert report.by_language["en"].conversations == 5


def office_hours_desk(tmp_path) -> Desk:
    """A desk open Mon-Fri 09:00-17:00 UTC."""
    from settings import Settings
    from tests.conftest import MODELS_DIR

    hours = "Mon-Fri 09:00-17:00 UTC"
    return Desk(Settings(data_dir=tmp_path / "data", models_dir=MODELS_DIR, business_hours=hours))


def test_business_minutes_count_only_the_open_hours(tmp_path):
    desk = office_hours_desk(tmp_path)
    seed_history(desk, NOW)
    report = desk.report("7d", now=NOW)
    # Open minutes to the first reply: A (Sat) 0, B (Sun) 0, C Mon 08:00 -> 11:20 = 140,
    # D Wed 12:00 -> 12:03 = 3, F Fri 13:00 -> 13:01 = 1 -> [0, 0, 1, 3, 140]:
    # median 1; p90 rank 3.6 -> 3 + 137*0.6 = 85.2.
    first = report.first_response
    assert (first.business_median_minutes, first.business_p90_minutes) == (1.0, 85.2)
    # To the last reply: F Fri 13:00 -> Tue 14:02 = 240 (Fri) + 480 (Mon) + 302 (Tue) = 1022;
    # [0, 0, 3, 140, 1022] -> median 3; p90 140 + 882*0.6 = 669.2.
    resolution = report.resolution
    assert resolution.business_median_minutes == 3.0
    assert resolution.business_p90_minutes == pytest.approx(669.2)


def test_the_csv_export_has_one_row_per_conversation_with_its_figures(desk):
    ids = seed_history(desk, NOW)
    rows = {row.conversation_id: row for row in desk.report_rows("7d", now=NOW)}
    assert set(rows) == {ids[name] for name in "FABCDE"}
    b = rows[ids["B"]]
    # B: first reply after 1 min, last at 160 min; one auto and one person's reply;
    # tokens 300 + 300, USD 0.02 + 0.03; last rating 2.
    assert (b.channel, b.language, b.first_response_minutes, b.resolution_minutes) == (
        "widget",
        "en",
        1.0,
        160.0,
    )
    assert (b.replies_auto, b.replies_by_person, b.reopened, b.rating) == (1, 1, True, 2)
    assert (b.tokens, b.cost_usd) == (600, pytest.approx(0.05))
    e = rows[ids["E"]]
    assert (e.first_response_minutes, e.resolution_minutes, e.replies_auto) == (None, None, 0)


# The events a real flow writes ---------------------------------------------------------

scripted_llm.register()


@pytest.fixture
def make_desk(web_data_dir, web_retriever):
    def make(**overrides) -> Desk:
        values = {"llm_model": "scripted/insights", "llm_backoff": 0, "auto_send_threshold": 0.6}
        return Desk(shop_settings(web_data_dir, **{**values, **overrides}), retriever=web_retriever)

    return make


def _kinds(desk: Desk, conversation_id: str) -> list[str]:
    with desk.sessions() as session:
        return list(
            session.scalars(
                select(ConversationEvent.kind)
                .where(ConversationEvent.conversation_id == conversation_id)
                .order_by(ConversationEvent.id)
            )
        )


def test_an_automatic_answer_a_rating_and_a_comeback_are_logged_in_order(make_desk):
    desk = make_desk()
    script("scripted/insights", [RETURN_ANSWER, "YES", RETURN_ANSWER, "YES"])
    first = desk.ask("How long do I have to send back something I bought?")
    conversation = first.conversation_id
    assert _kinds(desk, conversation) == ["message_in", "draft_made", "auto_sent", "reply_sent"]
    desk.rate(conversation, score=5, comment=None)
    desk.ask("And for a gift?", conversation_id=conversation)
    # Whatever the gate makes of the comeback, it reopens the answered conversation.
    assert _kinds(desk, conversation)[4:8] == ["rated", "message_in", "reopened", "draft_made"]
    with desk.sessions() as session:
        made = session.scalar(
            select(ConversationEvent).where(
                ConversationEvent.conversation_id == conversation,
                ConversationEvent.kind == EventKind.DRAFT_MADE,
            )
        )
        assert (made.draft_id, made.language, made.channel) == (first.draft_id, "en", "cli")
        assert made.data["usage"]["model"] == first.model


def test_a_queued_draft_approved_with_an_edit_is_logged_as_edited_and_sent(make_desk):
    desk = make_desk()
    # An answer with no source and a failed self-check: the gate queues it for a person.
    script("scripted/insights", ["Maybe, I am not sure.", "NO", "Maybe.", "NO"])
    queued = desk.ask("Can I get a discount?")
    conversation = queued.conversation_id
    assert _kinds(desk, conversation) == ["message_in", "draft_made", "queued"]
    with desk.sessions() as session:
        operator = set_operator(session, "insights-owner", "correct horse battery")
        session.commit()
    desk.decide(
        queued.draft_id, operator_id=operator.id, action=Action.APPROVE, text="Yes: 10% off."
    )
    assert _kinds(desk, conversation)[3:] == ["edited", "reply_sent"]
    rejected = desk.ask("Another question?")
    desk.decide(rejected.draft_id, operator_id=operator.id, action=Action.REJECT, reason="spam")
    assert _kinds(desk, rejected.conversation_id)[3:] == ["rejected"]


def test_the_report_is_the_same_after_a_restart(settings):
    seed_history(Desk(settings), NOW)
    before = Desk(settings).report("30d", now=NOW)
    after = Desk(settings).report("30d", now=NOW)  # a new desk, the same data dir
    assert after == before
    assert after.conversations.count == 8  # all eight started within 30 days


def test_report_json_and_csv_through_the_command_line(desk):
    ids = seed_history(desk, utcnow())
    result = run_cli("report", "--period", "7d", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert list(figures) == [
        "period",
        "conversations",
        "first_response",
        "resolution",
        "csat",
        "ai",
        "cost",
        "latency",
        "sla",
        "by_channel",
        "by_language",
    ]
    assert figures["conversations"]["count"] == 6
    assert {k: figures["ai"][k] for k in ("auto_sent", "edited", "verified_resolution_rate")} == {
        "auto_sent": 5,
        "edited": 1,
        "verified_resolution_rate": 0.5,
    }
    exported = run_cli("report", "--period", "7d", "--csv")
    assert exported.returncode == 0, exported.stderr
    lines = exported.stdout.splitlines()
    assert lines[0] == (
        "conversation_id,channel,language,started_at,first_response_minutes,"
        "resolution_minutes,replies_auto,replies_by_person,reopened,rating,tokens,cost_usd"
    )
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [row["conversation_id"] for row in rows] == [ids[name] for name in "FABCDE"]
    assert rows[1]["rating"] == "5" and rows[1]["first_response_minutes"] == "0.5"
    text = run_cli("report", "--period", "7d")
    assert "conversations: 6 (previous 1)" in text.stdout


def test_the_report_against_postgresql(postgres_url, tmp_path):  # noqa: F811
    from settings import Settings
    from tests.conftest import MODELS_DIR

    desk = Desk(
        Settings(data_dir=tmp_path / "data", models_dir=MODELS_DIR, database_url=postgres_url)
    )
    seed_history(desk, NOW)
    report = desk.report("7d", now=NOW)
    assert report.conversations.count == 6
    assert (report.first_response.median_minutes, report.first_response.p90_minutes) == (1.0, 121.2)
    assert (report.ai.verified_resolutions, report.ai.verifiable_conversations) == (2, 4)
    assert report.csat.csat == 0.6667 and report.cost.tokens == 1600
