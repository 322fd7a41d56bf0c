"""Customer API under load: 20 concurrent clients against the served app, instant LLM.

    .venv/bin/python bench/bench_web.py [--clients 20] [--messages 10]

Every client starts its own conversation and posts messages one after another, as
a customer would (no streaming). The LLM answers at once, so the time is ours:
HTTP, storing, retrieval, the gate and the database. Floors, in the same run:
the same turns called in-process one at a time (no HTTP, no concurrency), and
GET /healthz from the same 20 clients (HTTP and threads, no work).
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench_agent import _percentiles, _questions, _register_instant_llm
from werkzeug.serving import make_server

from desk.sample_shop import SHOP_NAME, load_sample_shop
from server import create_app
from settings import Settings


def _request(port: int, method: str, path: str, body=None, token=None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection.request(method, path, json.dumps(body) if body is not None else None, headers)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, json.loads(payload or b"{}")


def _client(port: int, questions: list[str], messages: int, offset: int):
    latencies, errors = [], 0
    status, conversation = _request(port, "POST", "/api/v1/conversations", {})
    if status != 201:
        return latencies, messages
    path = f"/api/v1/conversations/{conversation['id']}/messages"
    for n in range(messages):
        text = questions[(offset + n) % len(questions)]
        started = time.perf_counter()
        status, _ = _request(port, "POST", path, {"text": text}, conversation["token"])
        latencies.append(time.perf_counter() - started)
        errors += status != 200
    return latencies, errors


def _healthz(port: int, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        _request(port, "GET", "/healthz")
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            shop_name=SHOP_NAME,
            llm_model="instant/x",
            rate_limit_conversations="100000/minute",
            rate_limit_messages="100000/minute",
            rate_limit_messages_per_address="100000/minute",
        )
        load_sample_shop(settings, progress=False)
        _register_instant_llm()
        app = create_app(settings)
        desk = app.extensions["support"].desk
        questions = _questions()
        desk.ask("warm up")

        direct = []
        for n in range(args.clients * args.messages // 2):
            started = time.perf_counter()
            desk.ask(questions[n % len(questions)])
            direct.append(time.perf_counter() - started)

        desk.jobs.start_workers(args.clients)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_port
        with ThreadPoolExecutor(args.clients) as pool:
            health = [
                s
                for batch in pool.map(lambda _: _healthz(port, args.messages), range(args.clients))
                for s in batch
            ]
            started = time.perf_counter()
            results = list(
                pool.map(
                    lambda i: _client(port, questions, args.messages, i * args.messages),
                    range(args.clients),
                )
            )
            wall = time.perf_counter() - started
        server.shutdown()

    api = [s for latencies, _ in results for s in latencies]
    errors = sum(e for _, e in results)
    rows = [
        (f"POST message, {args.clients} clients", api),
        ("floor: the same turn in-process, one at a time", direct),
        (f"floor: GET /healthz, {args.clients} clients", health),
    ]
    print("| measure | requests | p50 ms | p95 ms |")
    print("| --- | --- | --- | --- |")
    for name, samples in rows:
        p50, p95 = _percentiles(samples)
        print(f"| {name} | {len(samples)} | {p50 * 1e3:.1f} | {p95 * 1e3:.1f} |")
    (a50, a95), (d50, d95) = _percentiles(api), _percentiles(direct)
    print()
    print(f"errors: {errors} of {len(api)}; throughput {len(api) / wall:.1f} turns/s")
    print(f"p50 ratio to one in-process turn: {a50 / d50:.1f}; p95 ratio: {a95 / d95:.1f}")


if __name__ == "__main__":
    main()
