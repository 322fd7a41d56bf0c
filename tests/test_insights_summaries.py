"""The per-conversation summaries a job keeps, so reports need not read every event."""

from __future__ import annotations

import time
from datetime import date, datetime

import pytest
from sqlalchemy import func, select, update

from desk import Desk, summaries
from desk.away import add_holiday
from settings import Settings
from store.models import Channel, ConversationSummary, DeskSetting
from tests.conftest import MODELS_DIR
from tests.test_insights import (
    NOW,
    H,
    M,
    Seeder,
    customer,
    draft,
    office_hours_desk,
    rated,
    seed_history,
)
from tests.test_postgres import postgres_url  # noqa: F401 (a module-scoped fixture)


@pytest.fixture
def desk(settings) -> Desk:
    return Desk(settings)


@pytest.fixture
def folds(monkeypatch) -> list:
    """Which conversations each report folded from the event log (None: all of them)."""
    calls = []
    fold = summaries.facts_from_log

    def recorded(session, clock, *, only=None, **bounds):
        calls.append(None if only is None else set(only))
        return fold(session, clock, only=only, **bounds)

    monkeypatch.setattr(summaries, "facts_from_log", recorded)
    return calls


def _summary_rows(desk: Desk) -> int:
    with desk.sessions() as session:
        return session.scalar(select(func.count()).select_from(ConversationSummary))


def test_a_report_from_the_summaries_equals_the_report_from_the_log(desk, folds):
    seed_history(desk, NOW)
    from_log = desk.report("7d", now=NOW), desk.report_rows("7d", now=NOW)
    assert folds == [None, None]

    assert desk.summarise(now=NOW) == 8
    assert _summary_rows(desk) == 8
    folds.clear()
    assert (desk.report("7d", now=NOW), desk.report_rows("7d", now=NOW)) == from_log
    assert folds == []  # one row per conversation, no event read
    assert desk.summarise(now=NOW) == 0  # nothing new: nothing folded again


def test_events_after_the_last_summary_count_at_once(desk, folds):
    ids = seed_history(desk, NOW)
    desk.summarise(now=NOW - 2 * H)
    folds.clear()
    seed = Seeder(desk)
    # A rates again (now 1), and a new conversation arrives, both after the summaries.
    seed.events(ids["A"], *rated(NOW - H, 1))
    newcomer = seed.conversation(Channel.WIDGET)
    seed.events(
        newcomer, *customer(NOW - 30 * M), *draft(NOW - 29 * M, "en", "m1", 80, 0.0, sent=True)
    )

    report = desk.report("7d", now=NOW)
    assert folds == [{ids["A"], newcomer}]  # only the changed ones come from the log
    assert report.conversations.count == 7
    # Last ratings now A 1, B 2, C 4: one of three is 4-5.
    assert (report.csat.rated, report.csat.csat) == (3, 0.3333)
    assert report.ai.auto_sent == 6

    desk.summarise(now=NOW)
    folds.clear()
    assert desk.report("7d", now=NOW) == report
    assert folds == []


def test_a_report_about_a_time_before_the_summaries_reads_the_log(desk, folds):
    seed_history(desk, NOW)
    desk.summarise(now=NOW)
    folds.clear()
    earlier = desk.report("7d", now=NOW - 2 * 24 * H)
    assert folds == [None]
    # On Wednesday noon D (Wed 12:00) and E (Thu) had not written yet.
    assert earlier.conversations.count == 4


def test_a_new_holiday_recounts_the_business_minutes(tmp_path, folds):
    desk = office_hours_desk(tmp_path)
    seed_history(desk, NOW)
    desk.summarise(now=NOW)
    assert desk.report("7d", now=NOW).first_response.business_p90_minutes == 85.2
    with desk.sessions.begin() as session:
        add_holiday(session, date(2026, 11, 16), actor="owner", name="Closed Monday")
    # C's first reply (Mon 08:00 -> 11:20) came on a closed day: 0 business minutes, so
    # [0, 0, 0, 1, 3] -> p90 rank 3.6 -> 1 + 2*0.6 = 2.2.
    report = desk.report("7d", now=NOW)
    assert report.first_response.business_p90_minutes == 2.2
    assert desk.summarise(now=NOW) == 8  # the summaries are recounted under the new holiday
    folds.clear()
    assert desk.report("7d", now=NOW) == report
    assert folds == []


def test_the_workers_sweep_keeps_the_summaries(settings):
    desk = Desk(settings.model_copy(update={"turn_lease_seconds": 2}))
    seed_history(desk, NOW)
    desk.jobs.start_workers(1)
    try:
        for _ in range(300):
            if _summary_rows(desk) == 8:
                break
            time.sleep(0.1)
    finally:
        desk.jobs.stop_workers()
    assert _summary_rows(desk) == 8


def test_the_summaries_on_postgresql(postgres_url, tmp_path, folds):  # noqa: F811
    desk = Desk(
        Settings(data_dir=tmp_path / "data", models_dir=MODELS_DIR, database_url=postgres_url)
    )
    seed_history(desk, NOW)
    from_log = desk.report("7d", now=NOW)
    assert desk.summarise(now=NOW) == 8
    folds.clear()
    assert desk.report("7d", now=NOW) == from_log
    assert folds == []


def test_an_event_stamped_after_the_reports_end_is_left_out_of_a_summarised_report(desk, folds):
    seed = Seeder(desk)
    late = seed.conversation(Channel.WIDGET)
    # Its reply is stamped three hours after the report's end (an import, a skewed clock);
    # an earlier conversation written after it moves the watermark past that reply.
    seed.events(late, *customer(NOW - 2 * H), *draft(NOW + 3 * H, "en", "m1", 80, 0.0, sent=True))
    early = seed.conversation(Channel.WIDGET)
    seed.events(early, *customer(NOW - 5 * H))
    from_log = desk.report("7d", now=NOW)
    assert from_log.first_response.count == 0

    assert desk.summarise(now=NOW - H) == 2
    folds.clear()
    assert desk.report("7d", now=NOW) == from_log
    assert folds == [{late}]


def test_one_refresh_at_a_time_across_processes(desk, folds):
    seed_history(desk, NOW)
    held = summaries._take_lease(desk.sessions)  # another process is refreshing
    assert held is not None
    assert desk.summarise(now=NOW) == 0
    assert _summary_rows(desk) == 0
    summaries._give_back_lease(desk.sessions, held)
    assert desk.summarise(now=NOW) == 8


def test_a_refresh_whose_lease_was_taken_over_writes_nothing_more(desk, monkeypatch):
    seed_history(desk, NOW)
    renew = summaries._renew_lease

    def overtaken(session, stamp):
        # The lease expired while this refresh stalled, and another process took it.
        with desk.sessions.begin() as other:
            other.execute(
                update(DeskSetting)
                .where(DeskSetting.key == summaries.LEASE)
                .values(updated_at=datetime(2030, 1, 1))
            )
        return renew(session, stamp)

    monkeypatch.setattr(summaries, "_renew_lease", overtaken)
    assert desk.summarise(now=NOW) == 0
    assert _summary_rows(desk) == 0
    with desk.sessions() as session:
        assert session.get(DeskSetting, summaries.STATE) is None


def test_models_with_odd_names_and_several_in_one_conversation_read_the_same(desk, folds):
    seed = Seeder(desk)
    one, two = seed.conversation(Channel.WIDGET), seed.conversation(Channel.EMAIL)
    seed.events(
        one,
        *customer(NOW - 2 * H),
        *draft(NOW - 2 * H, "en", "local/\tmy model\n", 80, 0.0, sent=True),
    )
    seed.events(
        two,
        *customer(NOW - 3 * H),
        *draft(NOW - 3 * H, "de", "m1", 100, 0.01, sent=True),
        *customer(NOW - 2 * H, reopen=True),
        *draft(NOW - 2 * H, "de", "local/\tmy model\n", 90, 0.0, sent=True),
    )
    from_log = desk.report("7d", now=NOW)
    assert from_log.cost.by_model["local/ my model"].drafts == 2
    assert from_log.cost.by_model["m1"].tokens == 100
    desk.summarise(now=NOW)
    folds.clear()
    assert desk.report("7d", now=NOW) == from_log
    assert folds == []
