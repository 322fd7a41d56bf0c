"""Durable turns: whatever fails mid-turn, every stored message ends with exactly one draft."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from agent.draft import Decision, ReasonCode
from desk import Desk, drafting
from store.models import Channel, Conversation, Draft, Message, Turn, TurnStatus
from tests import scripted_llm
from tests.conftest import shop_settings
from tests.scripted_llm import script
from tests.web_helpers import RETURN_ANSWER

QUESTION = "How long do I have to send back something I bought?"


@pytest.fixture
def make_desk(web_data_dir, web_retriever):
    def make(**overrides) -> Desk:
        values = {"llm_model": "scripted/main", "llm_backoff": 0, "auto_send_threshold": 0.6}
        return Desk(shop_settings(web_data_dir, **{**values, **overrides}), retriever=web_retriever)

    return make


class BrokenEmbedder:
    """A retriever whose embedding model fails on every search."""

    def __init__(self, retriever) -> None:
        self.embedder = retriever.embedder
        self.languages = retriever.languages

    def search(self, *args, **kwargs):
        raise RuntimeError("the embedding model crashed")


def _drafts_of(desk: Desk, message_id: int) -> list[Draft]:
    with desk.sessions() as session:
        return list(session.scalars(select(Draft).where(Draft.message_id == message_id)))


def _turn(desk: Desk, turn_id: int) -> Turn:
    with desk.sessions() as session:
        return session.get(Turn, turn_id)


def test_the_message_and_its_turn_are_stored_before_any_drafting(make_desk):
    desk = make_desk()
    conversation, _ = desk.start_conversation()
    receipt = desk.receive(conversation, QUESTION, channel=Channel.WIDGET, enqueue=False)
    with desk.sessions() as session:
        assert session.get(Message, receipt.message_id).text == QUESTION
        assert session.get(Turn, receipt.turn_id).status == TurnStatus.RECEIVED
    assert desk.outcome(receipt.turn_id) is None  # owed, not yet answered


def test_an_embedder_failure_on_every_try_ends_as_a_pending_draft_with_the_reason(
    make_desk, web_retriever
):
    desk = make_desk(turn_attempts=2)
    desk._retriever = BrokenEmbedder(web_retriever)
    draft = desk.ask(QUESTION)
    assert draft.decision == Decision.REVIEW
    assert draft.has_reason(ReasonCode.TURN_FAILED)
    assert "embedding model crashed" in draft.reasons[0].text
    assert "2 attempts" in draft.reasons[0].text
    with desk.sessions() as session:
        stored = session.get(Draft, draft.draft_id)
        assert stored.status == "pending"
        assert session.get(Turn, stored.turn_id).status == TurnStatus.DONE


def test_a_database_failure_while_storing_the_draft_is_retried_and_answered_once(
    make_desk, monkeypatch
):
    desk = make_desk()
    script("scripted/main", [RETURN_ANSWER, "YES", RETURN_ANSWER, "YES"])
    real_record, failures = drafting.record, []

    def flaky(session, turn, draft, **options):
        if not failures:
            failures.append(turn.id)
            raise OperationalError("INSERT INTO drafts", {}, Exception("disk I/O error"))
        return real_record(session, turn, draft, **options)

    monkeypatch.setattr(drafting, "record", flaky)
    draft = desk.ask(QUESTION)
    assert failures, "the first attempt should have failed"
    assert draft.decision == Decision.SEND
    assert len(_drafts_of(desk, _turn(desk, failures[0]).message_id)) == 1
    assert _turn(desk, failures[0]).attempts == 2


def test_a_turn_drafted_by_two_workers_after_a_lost_lease_is_answered_once(make_desk):
    first, second = make_desk(), make_desk()
    conversation, _ = first.start_conversation()
    receipt = first.receive(conversation, QUESTION, channel=Channel.WIDGET, enqueue=False)
    script("scripted/main", [RETURN_ANSWER, "YES", RETURN_ANSWER, "YES"])
    # The first worker claims the turn and goes silent past its lease ...
    claim = drafting.claim(first.sessions, receipt.turn_id, lease_seconds=0)
    assert claim is not None
    time.sleep(0.01)  # the lease is over
    # ... so the recovery sweep finds it and a second worker drafts it.
    assert receipt.turn_id in drafting.stale(first.sessions, received_before_seconds=60)
    assert second.draft(receipt.turn_id) is not None
    # The first worker wakes up and finishes too late: its draft is not stored.
    late = first.agent.decide(claim.input)
    first._store(claim, late)
    assert len(_drafts_of(first, receipt.message_id)) == 1
    assert second.draft(receipt.turn_id) is None  # done: nothing more to claim


def test_when_too_many_turns_wait_a_new_message_gets_an_honest_pending_reply(make_desk):
    with make_desk().sessions() as session:  # turns other tests here left open
        open_turns = session.scalar(
            select(func.count(Turn.id)).where(Turn.status.in_(["received", "drafting"]))
        )
    desk = make_desk(max_pending_turns=open_turns + 2)
    conversation, _ = desk.start_conversation()
    waiting = [
        desk.receive(conversation, f"Question {n}", channel=Channel.WIDGET, enqueue=False)
        for n in range(2)
    ]
    assert all(receipt.queued for receipt in waiting)
    late = desk.receive(conversation, QUESTION, channel=Channel.WIDGET, enqueue=False)
    assert not late.queued
    outcome = desk.outcome(late.turn_id)
    assert outcome.status == "pending" and outcome.expected_wait_minutes
    (stored,) = _drafts_of(desk, late.message_id)
    assert stored.reasons[0]["code"] == ReasonCode.CAPACITY
    with desk.sessions() as session:
        assert session.get(Conversation, conversation) is not None
        assert session.scalar(select(func.count(Message.id)).where(Message.id == late.message_id))


def test_the_recovery_sweep_requeues_turns_nobody_is_drafting(make_desk):
    desk = make_desk(turn_retry_seconds=0)
    conversation, _ = desk.start_conversation()
    receipt = desk.receive(conversation, QUESTION, channel=Channel.WIDGET, enqueue=False)
    queued = []
    desk.jobs.enqueue = lambda turn_id, *, stream=False: queued.append((turn_id, stream))
    with desk.sessions.begin() as session:  # as if received a minute ago and never queued
        session.get(Turn, receipt.turn_id).updated_at = session.get(
            Turn, receipt.turn_id
        ).created_at.replace(year=2020)
    assert desk.recover() >= 1
    # Streamed, for a customer who may still be waiting on the turn.
    assert (receipt.turn_id, True) in queued


scripted_llm.register()


def test_a_turn_still_being_drafted_keeps_its_lease_so_nobody_drafts_it_twice(make_desk):
    first, second = make_desk(turn_lease_seconds=0.5), make_desk(turn_lease_seconds=0.5)
    conversation, _ = first.start_conversation()
    receipt = first.receive(conversation, QUESTION, channel=Channel.WIDGET, enqueue=False)
    meanwhile = {}

    def slow_model() -> str:
        time.sleep(1.5)  # three leases long, as a slow local model on a busy machine
        meanwhile["stale"] = receipt.turn_id in drafting.stale(
            first.sessions, received_before_seconds=60
        )
        meanwhile["second"] = second.draft(receipt.turn_id)
        return RETURN_ANSWER

    script("scripted/main", [slow_model, "YES"])
    assert first.draft(receipt.turn_id) is not None
    assert meanwhile == {"stale": False, "second": None}
    assert len(_drafts_of(first, receipt.message_id)) == 1


def test_a_model_call_that_never_returns_ends_as_a_pending_draft_and_holds_nobody_else(
    make_desk,
):
    stuck = make_desk(llm_model="scripted/stuck", turn_attempts=2, turn_timeout_seconds=1)
    other = make_desk()
    hung, released = threading.Semaphore(0), threading.Event()

    def never_returns() -> str:
        hung.release()
        released.wait(60)  # set when the test ends
        return RETURN_ANSWER

    script("scripted/stuck", [never_returns, never_returns])
    script("scripted/main", [RETURN_ANSWER, "YES"])
    conversation, _ = stuck.start_conversation()
    receipt = stuck.receive(conversation, QUESTION, channel=Channel.WIDGET, enqueue=False)
    drafted = {}
    job = threading.Thread(
        target=lambda: drafted.update(stuck=stuck._draft_here(receipt.turn_id, queued=True)),
        daemon=True,
    )
    try:
        job.start()
        assert hung.acquire(timeout=30), "the first attempt should be waiting on the model"
        drafted["other"] = other.ask(QUESTION)  # meanwhile, another customer is answered
        job.join(timeout=30)
        assert not job.is_alive(), "the stuck turn should have been given up by now"
        assert scripted_llm.calls["stuck"] == 2  # each attempt hung in its model call
    finally:
        released.set()
    assert drafted["other"].decision == Decision.SEND
    draft = drafted["stuck"]
    assert draft.decision == Decision.REVIEW
    assert draft.has_reason(ReasonCode.TURN_FAILED)
    assert "the assistant took longer than 1 s" in draft.reasons[0].text
    assert "2 attempts" in draft.reasons[0].text
    assert [row.status for row in _drafts_of(stuck, receipt.message_id)] == ["pending"]
    assert _turn(stuck, receipt.turn_id).status == TurnStatus.DONE


class _Planted:
    """What a stranger who can write to the queue's store would plant: a pickle that runs
    code when it is loaded."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickled_job_planted_in_the_queue_runs_no_code_and_the_next_turn_is_drafted(
    make_desk, tmp_path
):
    import pickle

    desk = make_desk(job_queue="planted")
    marker = tmp_path / "owned"
    desk.jobs.huey.storage.enqueue(pickle.dumps(_Planted(marker)))
    script("scripted/main", [RETURN_ANSWER, "YES"])
    conversation, _ = desk.start_conversation()
    receipt = desk.receive(conversation, QUESTION, channel=Channel.WIDGET)
    desk.jobs.start_workers(1)
    try:
        deadline = time.monotonic() + 60
        while not _drafts_of(desk, receipt.message_id) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        desk.jobs.stop_workers(graceful=False)
    assert not marker.exists()
    assert len(_drafts_of(desk, receipt.message_id)) == 1
