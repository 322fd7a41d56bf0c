"""Open widgets, waiting customers and protocol junk against the real server: none takes it down.

`support-agent serve` runs as a process over a copy of the sample shop with only four
request threads, and the stub LLM on loopback (holding every call about "HANG" until the
module ends). Every open widget keeps one event stream, and every customer who wrote
waits for the reply; neither may hold a request thread, so with more of them than there
are threads, `/healthz` and a new customer's message still answer. And no body, however
malformed, is a 5xx.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest

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

THREADS = 4
WIDGETS = 12  # three times the request threads


@pytest.fixture(scope="module")
def server(shop_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("open_widgets")
    data_dir, log = folder / "shop", folder / "server.log"
    shutil.copytree(shop_dir, data_dir)
    with LLMStub(delay=0.5, hang_on="HANG") as stub:
        env = _env(data_dir, stub, web_threads=str(THREADS), reply_wait_seconds="20")
        port = free_port()
        with process("serve", "--port", str(port), env=env, log=log):
            wait_until(lambda: up(port), "the web server", log=log)
            yield port, log, stub


def _start(port: int) -> tuple[str, str]:
    status, body = request(port, "POST", "/api/v1/conversations", {})
    assert status == 201, body
    conversation = json.loads(body)
    return conversation["id"], conversation["token"]


def test_more_open_widgets_than_threads_leave_health_checks_and_new_messages_answered(server):
    port, log, _ = server
    widgets = [_start(port) for _ in range(WIDGETS)]
    with ExitStack() as held:
        streams = [held.enter_context(event_stream(port, c, t, after=0)) for c, t in widgets]
        started = time.monotonic()
        assert request(port, "GET", "/healthz", timeout=10)[0] == 200
        assert time.monotonic() - started < 5
        # A customer whose widget is open writes: the answer comes back, and their own
        # stream shows the question and the reply.
        conversation, token = widgets[-1]
        path = f"/api/v1/conversations/{conversation}/messages"
        status, body = request(port, "POST", path, {"text": QUESTIONS[0]}, token, timeout=30)
        assert status == 200, body
        answer = json.loads(body)
        assert answer["status"] == "sent" and answer["reply"]["text"]
        stream = streams[-1]
        assert next_message(stream)[0] == answer["message_id"]
        event_id, message = next_message(stream)
        assert event_id == answer["reply"]["message_id"] and message["author"] == "agent"
    assert "WORKER TIMEOUT" not in log.read_text()


def test_more_customers_waiting_for_a_stuck_model_than_threads_leave_others_answered(server):
    port, log, stub = server
    waiting = [_start(port) for _ in range(THREADS + 2)]

    def ask(conversation: tuple[str, str]) -> dict:
        path = f"/api/v1/conversations/{conversation[0]}/messages"
        status, body = request(
            port, "POST", path, {"text": "HANG on, where is it?"}, conversation[1]
        )
        assert status == 200, body
        return json.loads(body)

    with ThreadPoolExecutor(len(waiting)) as pool:
        answers = pool.map(ask, waiting)
        wait_until(lambda: stub.hanging >= len(waiting), "every customer waiting on the model")
        assert request(port, "GET", "/healthz", timeout=10)[0] == 200
        conversation, token = _start(port)
        path = f"/api/v1/conversations/{conversation}/messages"
        status, body = request(port, "POST", path, {"text": QUESTIONS[1]}, token, timeout=30)
        assert status == 200 and json.loads(body)["status"] == "sent", body
        # Past the reply wait, each waiting customer is told the reply is being drafted.
        assert all(answer["drafting"] for answer in answers)
    assert "WORKER TIMEOUT" not in log.read_text()


def _raw(port: int, data: bytes) -> bytes:
    """What the server answers to these bytes, until it closes or 10 s pass."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            pass
    return answer


def _chunked(path: str, body: bytes, content_type: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: shop\r\nContent-Type: {content_type}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode() + body


FORM = "application/x-www-form-urlencoded"
JUNK = {
    "a login form with a malformed chunk size": _chunked(
        "/operator/login", b"zz\r\nabc\r\n0\r\n\r\n", FORM
    ),
    "a chunk longer than it says": _chunked(
        "/operator/login", b"2\r\nname=demo\r\n0\r\n\r\n", FORM
    ),
    "a chunked body past the size limit": _chunked(
        "/api/v1/conversations",
        b"%x\r\n%s\r\n0\r\n\r\n" % (70_000, b"a" * 70_000),
        "application/json",
    ),
    "a chunked body that is not JSON": _chunked(
        "/api/v1/conversations", b"5\r\n{oops\r\n0\r\n\r\n", "application/json"
    ),
    "both a length and chunks": (
        b"POST /api/v1/conversations HTTP/1.1\r\nHost: shop\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "a TLS hello on the plain port": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40,
    "an unknown HTTP version": b"GET / HTTP/9.9\r\nHost: shop\r\n\r\n",
    "a header line without a colon": b"GET /healthz HTTP/1.1\r\nHost shop\r\n\r\n",
    "a request line of binary": b"\xff\xfe\xfd / HTTP/1.1\r\n\r\n",
}


@pytest.mark.parametrize("junk", JUNK.values(), ids=JUNK.keys())
def test_a_body_or_request_that_cannot_be_read_is_refused_with_a_4xx(server, junk):
    port, _, _ = server
    answer = _raw(port, junk)
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None
    assert status is None or 400 <= status < 500, answer[:300]
    assert status is not None or answer == b"", answer[:300]  # refused, or closed unanswered
    assert up(port)
