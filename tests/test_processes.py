"""The real parts as a deployment runs them: gunicorn, job workers, Redis, and kill -9.

Each test starts `support-agent serve` and `support-agent worker` as processes over a
copy of the sample shop, with an OpenAI-compatible stub LLM on loopback whose replies
take seconds, so a turn is reliably in flight when a process is killed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import MODELS_DIR, ROOT
from tests.llm_stub import LLMStub
from tests.process_helpers import (
    event_stream,
    free_port,
    kill,
    next_message,
    process,
    request,
    up,
    wait_until,
)

QUESTIONS = [
    "How long do I have to return an item I bought?",
    "Do you ship to Canada?",
    "Can I exchange an item for something else?",
]


@pytest.fixture
def data_dir(shop_dir, tmp_path) -> Path:
    target = tmp_path / "shop"
    shutil.copytree(shop_dir, target)
    return target


@pytest.fixture
def stub():
    with LLMStub(delay=3.0) as running:
        yield running


def _env(data_dir: Path, stub: LLMStub, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_")}
    env.update(
        SUPPORT_DATA_DIR=str(data_dir),
        SUPPORT_MODELS_DIR=str(MODELS_DIR),
        SUPPORT_LLM_MODEL="openai/stub",
        SUPPORT_LLM_BACKOFF="0",
        # The stub is not calibrated: a fixed threshold lets its grounded answers be sent.
        SUPPORT_AUTO_SEND_THRESHOLD="0.6",
        SUPPORT_SHOP_NAME="Kettle & Crane",
        SUPPORT_RATE_LIMIT_CONVERSATIONS="1000/minute",
        SUPPORT_TURN_LEASE_SECONDS="6",
        SUPPORT_REPLY_WAIT_SECONDS="1",
        OPENAI_BASE_URL=stub.url,
        OPENAI_API_BASE=stub.url,
        OPENAI_API_KEY="stub",
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(ROOT),
    )
    env.update({f"SUPPORT_{name.upper()}": value for name, value in settings.items()})
    return env


def _converse(port: int, question: str) -> tuple[str, str]:
    status, body = request(port, "POST", "/api/v1/conversations", {})
    assert status == 201, body
    conversation = json.loads(body)
    status, body = request(
        port,
        "POST",
        f"/api/v1/conversations/{conversation['id']}/messages",
        {"text": question},
        conversation["token"],
    )
    assert status == 200, body
    return conversation["id"], conversation["token"]


class Ledger:
    """Reads the database as an auditor would: messages, turns and drafts."""

    def __init__(self, data_dir: Path) -> None:
        self.engine = create_engine(f"sqlite:///{data_dir / 'support.db'}")
        # The copied shop holds other tests' conversations: count only what comes after.
        self.start = self._count("SELECT coalesce(max(id), 0) FROM messages")

    def _count(self, sql: str) -> int:
        with self.engine.connect() as connection:
            return connection.execute(text(sql), {"start": getattr(self, "start", 0)}).scalar()

    def customer_messages(self) -> int:
        return self._count(
            "SELECT count(*) FROM messages WHERE author = 'customer' AND id > :start"
        )

    def drafting(self) -> int:
        return self._count(
            "SELECT count(*) FROM turns WHERE status = 'drafting' AND message_id > :start"
        )

    def unanswered(self) -> int:
        return self._count(
            "SELECT count(*) FROM messages m WHERE m.author = 'customer' AND m.id > :start "
            "AND NOT EXISTS (SELECT 1 FROM drafts d WHERE d.message_id = m.id)"
        )

    def most_drafts_for_one_message(self) -> int:
        return self._count(
            "SELECT coalesce(max(n), 0) FROM "
            "(SELECT count(*) AS n FROM drafts WHERE message_id > :start GROUP BY message_id)"
            " AS per_message"
        )


def _answered_once(ledger: Ledger, sent: int, log: Path) -> None:
    wait_until(lambda: ledger.unanswered() == 0, "every message to have a draft", log=log)
    assert ledger.customer_messages() == sent
    assert ledger.most_drafts_for_one_message() == 1


def test_a_worker_killed_mid_turn_loses_nothing_and_answers_each_message_once(
    data_dir, stub, tmp_path
):
    port, log = free_port(), tmp_path / "processes.log"
    ledger = Ledger(data_dir)
    web_env = _env(data_dir, stub, job_workers="0")
    with process("serve", "--port", str(port), env=web_env, log=log):
        wait_until(lambda: up(port), "the web server", log=log)
        with process("worker", env=_env(data_dir, stub, job_workers="2"), log=log) as worker:
            for question in QUESTIONS:
                _converse(port, question)  # answers "drafting" after a second: no worker yet
            wait_until(lambda: ledger.drafting() > 0, "a turn in flight", log=log)
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
        assert ledger.unanswered() > 0, "the kill should have left turns unanswered"
        with process("worker", env=_env(data_dir, stub, job_workers="2"), log=log):
            _answered_once(ledger, len(QUESTIONS), log)


def test_the_whole_server_killed_mid_turn_answers_each_message_once_after_a_restart(
    data_dir, stub, tmp_path
):
    port, log = free_port(), tmp_path / "processes.log"
    ledger = Ledger(data_dir)
    env = _env(data_dir, stub, job_workers="2")
    with process("serve", "--port", str(port), env=env, log=log) as server:
        wait_until(lambda: up(port), "the web server", log=log)
        for question in QUESTIONS:
            _converse(port, question)
        wait_until(lambda: ledger.drafting() > 0, "a turn in flight", log=log)
        kill(server)  # SIGKILL to gunicorn's master and its workers at once
    assert ledger.unanswered() > 0, "the kill should have left turns unanswered"
    with process("serve", "--port", str(port), env=env, log=log):
        _answered_once(ledger, len(QUESTIONS), log)


def test_a_server_stopped_with_sigterm_finishes_the_turns_it_is_drafting(data_dir, stub, tmp_path):
    port, log = free_port(), tmp_path / "processes.log"
    ledger = Ledger(data_dir)
    env = _env(data_dir, stub, job_workers="2")
    with process("serve", "--port", str(port), env=env, log=log) as server:
        wait_until(lambda: up(port), "the web server", log=log)
        _converse(port, QUESTIONS[0])
        wait_until(lambda: ledger.drafting() > 0, "a turn in flight", log=log)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    assert ledger.unanswered() == 0, log.read_text()[-3000:]
    assert ledger.most_drafts_for_one_message() == 1


@pytest.fixture
def redis_url(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("make test installs redis-server")
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir"]
        + [str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    wait_until(lambda: _pings(client), "redis-server", timeout=30)
    yield f"redis://127.0.0.1:{port}/0"
    server.kill()
    server.wait(timeout=30)


def _pings(client) -> bool:
    try:
        return client.ping()
    except Exception:
        return False


def test_two_web_processes_and_a_worker_share_redis_for_jobs_streams_and_limits(
    data_dir, stub, tmp_path, redis_url
):
    port, log = free_port(), tmp_path / "processes.log"
    ledger = Ledger(data_dir)
    web_env = _env(
        data_dir,
        stub,
        redis_url=redis_url,
        web_workers="2",
        job_workers="0",
        reply_wait_seconds="60",
        rate_limit_messages="3/minute",
    )
    worker_env = _env(data_dir, stub, redis_url=redis_url, job_workers="2")
    with (
        process("serve", "--port", str(port), env=web_env, log=log),
        process("worker", env=worker_env, log=log),
    ):
        wait_until(lambda: up(port), "the web server", log=log)
        status, body = request(port, "POST", "/api/v1/conversations", {})
        conversation = json.loads(body)
        path = f"/api/v1/conversations/{conversation['id']}/messages"
        with event_stream(port, conversation["id"], conversation["token"], after=0) as widget:
            # Drafted by the separate worker; its tokens reach the web process through Redis.
            status, body = request(
                port,
                "POST",
                path,
                {"text": QUESTIONS[0]},
                conversation["token"],
                "text/event-stream",
            )
            assert status == 200
            answered = time.monotonic()
            events = [block.split("\n") for block in body.strip().split("\n\n")]
            kinds = [line.removeprefix("event: ") for lines in events for line in lines[:1]]
            assert "token" in kinds, body
            result = json.loads(events[-1][1].removeprefix("data: "))
            assert result["status"] == "sent" and result["reply"]["text"]
            # The open widget, in either web process, is woken through Redis: the reply
            # arrives before the stream's own re-read of the database (every 15 s).
            assert next_message(widget)[1]["author"] == "customer"
            assert next_message(widget)[0] == result["reply"]["message_id"]
            assert time.monotonic() - answered < 10
        # One limit for both web processes: 3 messages a minute, each on a new connection.
        statuses = [
            request(port, "POST", path, {"text": q}, conversation["token"])[0]
            for q in QUESTIONS[1:] + ["One more question?"]
        ]
        assert statuses[:2] == [200, 200] and statuses[2] == 429, statuses
    assert ledger.customer_messages() == 3
    assert ledger.unanswered() == 0 and ledger.most_drafts_for_one_message() == 1
