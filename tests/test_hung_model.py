"""A model call that never returns, through the real server: only its own turn waits.

`support-agent serve` runs as a process over a copy of the sample shop, drafting in its
own job threads, with the stub LLM on loopback holding every request for the customer
who wrote "HANG" until the test ends. The attempt is abandoned at
SUPPORT_TURN_TIMEOUT_SECONDS, retried, and given up as a draft for a person, while the
web process and the other job thread go on serving everybody else.
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.llm_stub import LLMStub
from tests.process_helpers import (
    event_stream,
    free_port,
    next_message,
    process,
    request,
    up,
    wait_until,
)
from tests.test_processes import QUESTIONS, _env

HANG = "HANG"
STUCK = f"{HANG}: my kettle whistles oddly, is that normal?"
TIMEOUT = 5  # SUPPORT_TURN_TIMEOUT_SECONDS for this test
DEADLINE = 90  # seconds for anything here to happen; the test ends by itself within them


@pytest.fixture
def data_dir(shop_dir, tmp_path) -> Path:
    target = tmp_path / "shop"
    shutil.copytree(shop_dir, target)
    return target


def _start(port: int) -> tuple[str, str]:
    status, body = request(port, "POST", "/api/v1/conversations", {})
    assert status == 201, body
    conversation = json.loads(body)
    return conversation["id"], conversation["token"]


def _stored_draft(data_dir: Path, message_id: int) -> tuple[str, list[dict]] | None:
    """(status, reasons) of the message's draft as the database holds it, if stored yet."""
    engine = create_engine(f"sqlite:///{data_dir / 'support.db'}")
    try:
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT status, reasons FROM drafts WHERE message_id = :id"),
                {"id": message_id},
            ).one_or_none()
    finally:
        engine.dispose()
    if row is None:
        return None
    reasons = json.loads(row.reasons) if isinstance(row.reasons, str) else row.reasons
    return row.status, reasons


def test_a_model_call_that_never_returns_holds_neither_the_server_nor_other_customers(
    data_dir, tmp_path
):
    port, log = free_port(), tmp_path / "serve.log"
    with LLMStub(delay=0.2, hang_on=HANG) as stub:
        env = _env(
            data_dir,
            stub,
            job_workers="2",
            turn_timeout_seconds=str(TIMEOUT),
            turn_attempts="2",
            turn_retry_seconds="1",
            reply_wait_seconds="60",
        )
        with process("serve", "--port", str(port), env=env, log=log), ThreadPoolExecutor(1) as pool:
            wait_until(lambda: up(port), "the web server", log=log)
            stuck, stuck_token = _start(port)
            posted = pool.submit(
                request,
                port,
                "POST",
                f"/api/v1/conversations/{stuck}/messages",
                {"text": STUCK},
                stuck_token,
                timeout=DEADLINE,
            )
            wait_until(lambda: stub.hanging > 0, "the model call to hang", DEADLINE, log)

            # The web process answers at once ...
            started = time.monotonic()
            assert up(port)
            assert time.monotonic() - started < 2
            # ... and another customer's message is answered, on the POST and the stream.
            other, other_token = _start(port)
            status, body = request(
                port, "GET", f"/api/v1/conversations/{other}/messages", None, other_token
            )
            cursor = json.loads(body)["cursor"]
            with event_stream(port, other, other_token, cursor) as stream:
                status, body = request(
                    port,
                    "POST",
                    f"/api/v1/conversations/{other}/messages",
                    {"text": QUESTIONS[0]},
                    other_token,
                    timeout=DEADLINE,
                )
                assert status == 200, body
                answered = json.loads(body)
                assert answered["status"] == "sent", answered
                streamed = [next_message(stream) for _ in range(2)]
            assert [data["author"] for _, data in streamed] == ["customer", "agent"]
            assert streamed[1][1]["text"] == answered["reply"]["text"]
            assert streamed[1][0] == answered["reply"]["message_id"]  # the id is the cursor

            # The stuck turn ends by itself: each attempt abandoned at its deadline, the
            # last one stored as a draft for a person, with the reason.
            status, body = posted.result(timeout=DEADLINE)
            assert status == 200, body
            waiting = json.loads(body)
            assert waiting["status"] == "pending", waiting
            wait_until(
                lambda: _stored_draft(data_dir, waiting["message_id"]) is not None,
                "the stuck turn's draft",
                DEADLINE,
                log,
            )
            draft_status, reasons = _stored_draft(data_dir, waiting["message_id"])
            assert draft_status == "pending"
            assert reasons[0]["code"] == "turn_failed"
            assert f"the assistant took longer than {TIMEOUT} s" in reasons[0]["text"]
            assert "2 attempts" in reasons[0]["text"]
            assert stub.hanging == 2  # both attempts' calls still hang: nobody waited for them
