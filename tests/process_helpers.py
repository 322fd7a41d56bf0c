"""Shared by the tests that run `support-agent` as real processes and talk HTTP to them."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

# `support-agent` as the tests run it by default, and the console script a user runs.
CLI = (sys.executable, "-m", "cli")
SUPPORT_AGENT = (str(Path(sys.executable).with_name("support-agent")),)
DEADLINE = 120  # seconds to wait for a process to get somewhere, unless told otherwise


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def process(
    *args: str,
    env: dict[str, str],
    log: Path,
    program: Sequence[str] = CLI,
    cwd: Path | None = None,
):
    """`support-agent ARGS` in its own process group, killed with everything it started."""
    with log.open("ab") as out:
        started = subprocess.Popen(
            [*program, *args],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield started
    finally:
        kill(started)


def load_sample_shop(env: dict[str, str]) -> None:
    """`support-agent demo --no-serve` into the env's SUPPORT_DATA_DIR, for the benches."""
    subprocess.run([*CLI, "demo", "--no-serve"], env=env, check=True, capture_output=True)


def kill(started: subprocess.Popen) -> None:
    if started.poll() is None:
        os.killpg(started.pid, signal.SIGKILL)
        started.wait(timeout=30)


def wait_until(check, what: str, timeout: float = DEADLINE, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def up(port: int) -> bool:
    try:
        return request(port, "GET", "/healthz")[0] == 200
    except OSError:
        return False


def request(port: int, method: str, path: str, body=None, token=None, accept=None, timeout=30):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if accept:
        headers["Accept"] = accept
    connection.request(method, path, json.dumps(body) if body else None, headers)
    response = connection.getresponse()
    data = response.read().decode()
    connection.close()
    return response.status, data


@contextmanager
def event_stream(port: int, conversation_id: str, token: str, after: int) -> Iterator:
    """`GET …/events?after=` open, its response read as it arrives (20 s at most per read)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request(
            "GET",
            f"/api/v1/conversations/{conversation_id}/events?after={after}",
            headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
        )
        response = connection.getresponse()
        assert response.status == 200, response.read()
        yield response
    finally:
        connection.close()


def next_message(stream: http.client.HTTPResponse) -> tuple[int, dict]:
    """The next `message` event: (its `id:`, its `data:` JSON); other events are skipped."""
    fields: dict[str, list[str]] = {}
    while line := stream.readline():
        line = line.decode().rstrip("\r\n")
        if line:  # `field: value`; a line starting with ":" is a comment
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))
        elif fields.get("event") == ["message"]:
            return int(fields["id"][-1]), json.loads("\n".join(fields["data"]))
        else:
            fields = {}
    raise AssertionError("the event stream ended before a message")
