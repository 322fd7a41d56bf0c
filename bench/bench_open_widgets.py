"""Open widgets: 1,000 event streams held open while customers write and `/healthz` is polled.

    .venv/bin/python bench/bench_open_widgets.py [--streams 1000] [--delay 1.0]

Against `support-agent serve` (its own process, default settings but for the caps on
streams per address, conversations and messages per address, raised as for many
customers behind one proxy) on a copy of the sample shop, with the stub LLM answering
every call after `--delay` seconds. Each open widget is one conversation with one
`GET /api/v1/conversations/<id>/events` stream, held by one asyncio client.

The floor, from the same run and server: `/healthz` polled and messages sent with no
stream open. Then the streams are opened and the same is measured while they stay
open; each message is sent in a conversation whose stream is open, and its stream
must deliver both the customer's message and the reply. Goals: every stream opens,
`/healthz` p95 ≤ 100 ms with the streams open, and messages answered as fast as
without them (ratio of the medians ≤ 1.2).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.llm_stub import LLMStub  # noqa: E402
from tests.process_helpers import (  # noqa: E402
    free_port,
    load_sample_shop,
    process,
    request,
    up,
    wait_until,
)
from tests.test_processes import _env  # noqa: E402

HOST = "127.0.0.1"
QUESTION = "How long do I have to return an item I bought?"


async def _http(port: int, method: str, path: str, body=None, token=None) -> tuple[int, dict]:
    status, text = await asyncio.to_thread(request, port, method, path, body, token)
    return status, json.loads(text)


async def _healthz(port: int, times: int) -> list[float]:
    """Seconds per `/healthz`, each on a new connection, one after another."""
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        await writer.drain()
        answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        seconds.append(time.perf_counter() - started)
        await asyncio.sleep(0.02)
    return seconds


class Stream:
    """One open widget: the conversation's event stream, its message ids as they arrive."""

    def __init__(self, conversation: str, token: str) -> None:
        self.conversation, self.token = conversation, token
        self.opened = asyncio.Event()
        self.ids: list[int] = []
        self.arrived = asyncio.Event()

    async def hold(self, port: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(
            (
                f"GET /api/v1/conversations/{self.conversation}/events HTTP/1.1\r\n"
                f"Host: bench\r\nAuthorization: Bearer {self.token}\r\n"
                "Accept: text/event-stream\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.decode(errors="replace").splitlines()[0])
        buffer = ""
        try:
            while True:  # chunked: a size line, the chunk, CRLF
                size = int((await reader.readline()).strip() or b"0", 16)
                if size == 0:
                    return
                buffer += (await reader.readexactly(size + 2))[:-2].decode()
                while "\n\n" in buffer:
                    block, buffer = buffer.split("\n\n", 1)
                    self._event(block)
        finally:
            writer.close()

    def _event(self, block: str) -> None:
        if block.startswith("retry:"):
            self.opened.set()
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if fields.get("event") == "message":
            self.ids.append(json.loads(fields["data"])["id"])
            self.arrived.set()


async def _message(port: int, stream: Stream | None) -> float:
    """Seconds from POSTing a question to its answer; with a stream, until the stream
    has delivered the question and the reply too."""
    if stream is None:
        status, started = await _http(port, "POST", "/api/v1/conversations", {})
        assert status == 201, started
        conversation, token = started["id"], started["token"]
    else:
        conversation, token = stream.conversation, stream.token
    begun = time.perf_counter()
    path = f"/api/v1/conversations/{conversation}/messages"
    status, answer = await _http(port, "POST", path, {"text": QUESTION}, token)
    assert status == 200 and answer["status"] == "sent", answer
    if stream is not None:
        wanted = {answer["message_id"], answer["reply"]["message_id"]}
        while not wanted <= set(stream.ids):
            stream.arrived.clear()
            await asyncio.wait_for(stream.arrived.wait(), 30)
    return time.perf_counter() - begun


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


async def _measure(port: int, streams: int, messages: int, polls: int) -> dict:
    await _message(port, None)  # the first turn loads the models: not part of the floor
    floor_health = await _healthz(port, polls)
    floor_messages = [await _message(port, None) for _ in range(messages)]

    widgets = []
    for _ in range(streams):
        status, started = await _http(port, "POST", "/api/v1/conversations", {})
        assert status == 201, started
        widgets.append(Stream(started["id"], started["token"]))
    held = [asyncio.ensure_future(widget.hold(port)) for widget in widgets]
    opening = time.perf_counter()
    await asyncio.wait([asyncio.ensure_future(w.opened.wait()) for w in widgets], timeout=120)
    opened = sum(w.opened.is_set() for w in widgets)
    open_seconds = time.perf_counter() - opening
    failed = [task.exception() for task in held if task.done() and task.exception()]

    loaded_health = await _healthz(port, polls)
    loaded_messages = [await _message(port, widgets[i * 97 % streams]) for i in range(messages)]
    still_open = sum(not task.done() for task in held)
    for task in held:
        task.cancel()
    return {
        "streams": streams,
        "opened": opened,
        "open_seconds": round(open_seconds, 1),
        "still_open_after": still_open,
        "failed": [str(error) for error in failed[:3]],
        "healthz_p50_ms": [
            round(statistics.median(x) * 1000, 1) for x in (floor_health, loaded_health)
        ],
        "healthz_p95_ms": [round(_p95(x) * 1000, 1) for x in (floor_health, loaded_health)],
        "message_median_s": [
            round(statistics.median(x), 2) for x in (floor_messages, loaded_messages)
        ],
        "message_max_s": [round(max(x), 2) for x in (floor_messages, loaded_messages)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=8)
    parser.add_argument("--polls", type=int, default=200)
    parser.add_argument("--delay", type=float, default=1.0, help="stub LLM seconds per call")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one socket per open widget

    with tempfile.TemporaryDirectory() as folder, LLMStub(delay=args.delay) as stub:
        data_dir = Path(folder) / "shop"
        log = Path(folder) / "server.log"
        env = _env(
            data_dir,
            stub,
            max_streams_per_address=str(args.streams * 2),
            rate_limit_conversations="100000/minute",
            rate_limit_messages_per_address="100000/minute",
            reply_wait_seconds="60",
        )
        env.pop("SUPPORT_TURN_LEASE_SECONDS", None)  # the defaults, as a shop runs them
        started = time.perf_counter()
        load_sample_shop(env)
        print(f"sample shop loaded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        port = free_port()
        with process("serve", "--port", str(port), env=env, log=log):
            wait_until(lambda: up(port), "the web server", log=log)
            figures = asyncio.run(_measure(port, args.streams, args.messages, args.polls))
        timeouts = log.read_text(errors="replace").count("WORKER TIMEOUT")
        shutil.rmtree(data_dir, ignore_errors=True)
    figures["worker_timeouts"] = timeouts
    print(json.dumps(figures, indent=2))
    health_ratio = figures["healthz_p95_ms"][1] / figures["healthz_p95_ms"][0]
    message_ratio = figures["message_median_s"][1] / figures["message_median_s"][0]
    print(
        f"{figures['opened']}/{args.streams} streams open; /healthz p95 "
        f"{figures['healthz_p95_ms'][1]} ms with them ({health_ratio:.2f}× the floor); "
        f"messages {message_ratio:.2f}× the floor's median"
    )
    met = (
        figures["opened"] == args.streams
        and figures["healthz_p95_ms"][1] <= 100
        and message_ratio <= 1.2
        and timeouts == 0
    )
    print("goal met" if met else "goal NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
