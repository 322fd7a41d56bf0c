"""Durable turns under load: 50 customers at once against `support-agent serve`, slow LLMs.

    .venv/bin/python bench/bench_load.py [--scenario 1.5s|12s|local|all] [--customers 50]

Each customer starts a conversation and posts 3 messages one after another (sample
shop FAQ questions, no streaming), all customers at once, against the real server
(`support-agent serve`, its own process) on loopback. The LLM is either the stub
server (`python -m tests.llm_stub`), which answers every call after a set delay, or
the local 0.5B model. A turn makes several LLM calls (drafting, the self-check, a
tool phase when tools are offered), so a slow model used to hold a web thread per
waiting customer for the whole turn; durable turns should keep the server
answering however slow the model is.

The floor, from the same run and server: one customer alone posting a few messages
one after another, i.e. a turn's latency with every LLM call it makes and no
concurrency. When a floor message is answered `"drafting": true` (the reply wait ran
out), its time runs until the worker has drafted the turn, read from the data dir's
`turns` table, and the next message waits for that; the load starts with no turn
open. Turns still drafting after the last answer of the load are waited for
(`--drain-limit`) and reported. Scenarios and their goals:

- `1.5s`: stub delay 1.5 s; 0 errors and load p95 ≤ 2× the floor p50.
- `12s`: stub delay 12 s; 0 errors.
- `local`: local/qwen2.5-0.5b with SUPPORT_MAX_PENDING_TURNS=4 and
  SUPPORT_REPLY_WAIT_SECONDS=4; every request answered in under 5 s.

Errors are any non-2xx answer, a timeout, a broken connection or any other exception.
`sent / pending` are the shares of the turns answered by `status`; a pending one is
waiting for a person or, with `"drafting": true`, still being drafted (its reply
comes later through the event stream). Throughput counts turns answered (2xx) per
second of the load phase. The data dir is the sample shop
(`support-agent demo --no-serve`) in a temp folder, copied fresh per scenario; the
servers run there, so no `.env` of yours applies. Every process this script starts
is stopped at the end, on Ctrl-C, on an error and when `--time-limit` runs out.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import select
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MODELS_DIR = ROOT / ".cache" / "models"
HOST = "127.0.0.1"
SHOP_NAME = "Kettle & Crane"
PHRASINGS = ("{q}", "Hi! {q}", "Quick question: {q}", "{q} Thanks!", "Hello, {q}")


@dataclass(frozen=True)
class Figures:
    errors: int
    p95: float  # of the turns
    floor: float  # p50 of the floor's turns
    slowest: float  # of every request


@dataclass(frozen=True)
class Scenario:
    name: str
    model: str
    stub_delay: float | None  # None: no stub, the model runs in the server
    goal: str
    met: Callable[[Figures], bool]
    env: dict[str, str] = field(default_factory=dict)


SCENARIOS = {
    "1.5s": Scenario(
        "stub 1.5 s",
        "openai/stub",
        1.5,
        "0 errors, p95 ≤ 2× floor",
        lambda f: f.errors == 0 and f.p95 <= 2 * f.floor,
    ),
    "12s": Scenario("stub 12 s", "openai/stub", 12.0, "0 errors", lambda f: f.errors == 0),
    "local": Scenario(
        "local/qwen2.5-0.5b",
        "local/qwen2.5-0.5b",
        None,
        "every request < 5 s",
        lambda f: f.slowest < 5.0,
        {"SUPPORT_MAX_PENDING_TURNS": "4", "SUPPORT_REPLY_WAIT_SECONDS": "4"},
    ),
}


@dataclass
class Sample:
    kind: str  # "start" (POST /conversations) or "turn" (POST …/messages)
    status: int  # HTTP status; 0 for a timeout or a broken connection
    seconds: float
    reply: str | None = None  # the turn's `status` (sent, pending) or `drafting`
    error: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Children:
    """Every process this script started, each in its own process group; stopped once."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen] = []
        self._lock = threading.Lock()

    def start(self, args: list[str], log: Path, **kwargs) -> subprocess.Popen:
        with log.open("ab") as out, self._lock:
            kwargs.setdefault("stdout", out)
            proc = subprocess.Popen(
                args, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True, **kwargs
            )
            self._procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        """SIGTERM to the process group we created (gunicorn's workers too), then SIGKILL."""
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            if _group_gone(proc, wait):
                break
        with self._lock:
            if proc in self._procs:
                self._procs.remove(proc)

    def stop_all(self) -> None:
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            self.stop(proc)


def _group_gone(proc: subprocess.Popen, wait: float) -> bool:
    """Whether the leader and every process of its group ended within `wait` seconds."""
    limit = time.monotonic() + wait
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        return False
    while time.monotonic() < limit:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _request(
    port: int, method: str, path: str, body=None, token=None, timeout: float = 60
) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    try:
        data = json.loads(payload or b"{}")
    except ValueError:
        data = {}
    return response.status, data if isinstance(data, dict) else {}


def _timed(kind: str, port: int, method: str, path: str, body, token, timeout) -> tuple:
    started = time.perf_counter()
    try:
        status, data = _request(port, method, path, body, token, timeout)
        error = None if 200 <= status < 300 else (data.get("error") or {}).get("code")
    except Exception as exc:  # a timeout, a refused or broken connection, a bad answer
        status, data, error = 0, {}, type(exc).__name__
    # A pending answer is either waiting for a person or, with durable turns, still drafting.
    reply = "drafting" if data.get("drafting") else data.get("status")
    sample = Sample(kind, status, time.perf_counter() - started, reply, error)
    return sample, data


def _questions() -> list[str]:
    """Sample shop FAQ questions; English ones in a few phrasings, the others as they are."""
    rows = [json.loads(line) for line in (ROOT / "sample_shop" / "faqs.jsonl").open()]
    questions = []
    for n, row in enumerate(rows):
        question = row["question"]
        if row.get("language", "en") == "en":
            phrasing = PHRASINGS[n % len(PHRASINGS)]
            question = phrasing.format(q=question[0].lower() + question[1:])
            question = question[0].upper() + question[1:]
        questions.append(question)
    return questions


def _customer(
    port: int,
    texts: list[str],
    timeout: Callable[[], float],
    samples: list[Sample],
    start: threading.Event | None = None,
) -> None:
    """One customer: start a conversation, then post `texts` one after another."""
    if start is not None:
        start.wait()
    sample, data = _timed("start", port, "POST", "/api/v1/conversations", {}, None, timeout())
    samples.append(sample)
    if not sample.ok or "id" not in data or "token" not in data:
        return
    path = f"/api/v1/conversations/{data['id']}/messages"
    for text in texts:
        body = {"text": text}
        sample, _ = _timed("turn", port, "POST", path, body, data["token"], timeout())
        samples.append(sample)


def _open_turns(db: Path, message_id: int | None = None) -> int | None:
    """Turns not drafted yet (all, or the one of `message_id`), read from the server's SQLite.

    None when the database has no `turns` table (a server without durable turns).
    """
    sql = "SELECT count(*) FROM turns WHERE status IN ('received', 'drafting')"
    params: tuple = ()
    if message_id is not None:
        sql, params = sql + " AND message_id = ?", (message_id,)
    for _ in range(50):
        try:
            with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as db_:
                return db_.execute(sql, params).fetchone()[0]
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return None
            time.sleep(0.1)  # locked by a writer for a moment
    raise RuntimeError(f"cannot read the turns from {db}")


def _drafted(db: Path, deadline: float, message_id: int | None = None) -> bool:
    """Wait until the turn of `message_id` (or every turn) is drafted; False at the deadline."""
    while (open_turns := _open_turns(db, message_id)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not open_turns


def _alone(
    port: int, texts: list[str], timeout: Callable[[], float], db: Path, deadline: float
) -> list[Sample]:
    """One customer alone; each message waits until its turn is drafted before the next.

    A turn answered `drafting` (the reply wait ran out) counts until the worker finished
    it, so the floor is the whole turn with every LLM call it makes, and the next message
    finds no turn of this one still running.
    """
    samples: list[Sample] = []
    _, data = _timed("start", port, "POST", "/api/v1/conversations", {}, None, timeout())
    if "id" not in data or "token" not in data:
        raise RuntimeError(f"cannot start a conversation: {data}")
    path = f"/api/v1/conversations/{data['id']}/messages"
    for text in texts:
        started = time.perf_counter()
        sample, answer = _timed(
            "turn", port, "POST", path, {"text": text}, data["token"], timeout()
        )
        if sample.reply == "drafting" and isinstance(answer.get("message_id"), int):
            _drafted(db, deadline, answer["message_id"])
            sample.seconds = time.perf_counter() - started
        samples.append(sample)
    return samples


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[int(share * (len(ordered) - 1))] if ordered else float("nan")


@dataclass
class Result:
    scenario: Scenario
    customers: int
    load: list[Sample]
    floor: list[Sample]
    wall: float
    llm_calls: int | None = None  # stub requests during the load (so far: turns may go on)
    open_after: int | None = None  # turns still being drafted when the last answer came
    drain: float | None = None  # seconds until they were drafted too

    @property
    def turns(self) -> list[Sample]:
        return [s for s in self.load if s.kind == "turn"]

    @property
    def errors(self) -> list[Sample]:
        return [s for s in self.load if not s.ok]

    def row(self) -> list[str]:
        seconds = [s.seconds for s in self.turns]
        slowest = max((s.seconds for s in self.load), default=float("nan"))
        floor = statistics.median([s.seconds for s in self.floor if s.ok] or [float("nan")])
        p95 = _percentile(seconds, 0.95)
        answered = [s for s in self.turns if s.ok]
        replies = Counter(s.reply for s in answered)
        share = "-"
        if answered:
            pending = replies["pending"] + replies["drafting"]
            share = f"{100 * replies['sent'] / len(answered):.0f}% / "
            share += f"{100 * pending / len(answered):.0f}%"
            if replies["drafting"]:
                share += f" ({100 * replies['drafting'] / len(answered):.0f}% still drafting)"
            others = len(answered) - replies["sent"] - pending
            if others:
                share += f" (+{others} other)"
        figures = Figures(len(self.errors), p95, floor, slowest)
        return [
            f"{self.scenario.name}, {self.customers} customers",
            str(len(self.load)),
            str(len(self.errors)),
            f"{statistics.median(seconds):.2f}" if seconds else "-",
            f"{p95:.2f}",
            f"{slowest:.2f}",
            f"{floor:.2f}",
            f"{p95 / floor:.2f}",
            f"{len(answered) / self.wall:.2f}" if self.wall else "-",
            share,
            f"{self.scenario.goal}: {'met' if self.scenario.met(figures) else 'MISSED'}",
        ]

    def notes(self) -> str:
        kinds = Counter(f"{s.kind} {s.status or s.error}" for s in self.errors)
        detail = ", ".join(f"{name} ×{n}" for name, n in kinds.most_common()) or "none"
        floor = ", ".join(f"{s.seconds:.2f}" for s in self.floor)
        starts = [s.seconds for s in self.load if s.kind == "start"]
        calls = "" if self.llm_calls is None else f"; LLM calls during the load {self.llm_calls}"
        later = ""
        if self.open_after:
            done = f"{self.drain:.1f} s later" if self.drain is not None else "not within the limit"
            later = f"; {self.open_after} turns still drafting after the load, done {done}"
        return (
            f"{self.scenario.name}: floor turns (s) {floor}; "
            f"slowest conversation start {max(starts, default=0):.2f} s{calls}{later}; "
            f"errors: {detail}"
        )


def _start_stub(
    children: Children, delay: float, workdir: Path, deadline: float
) -> tuple[subprocess.Popen, str]:
    """The stub LLM server as a process, and its api_base once it listens."""
    proc = children.start(
        [sys.executable, "-m", "tests.llm_stub", "--port", "0", "--delay", str(delay)],
        workdir / "stub.log",
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    ready, _, _ = select.select([proc.stdout], [], [], max(1.0, min(30.0, _left(deadline))))
    line = proc.stdout.readline().decode().strip() if ready else ""
    if not line.startswith("listening on http://"):
        raise RuntimeError(f"the stub did not start ({line!r}):\n{_tail(workdir / 'stub.log')}")
    return proc, line.removeprefix("listening on ") + "/v1"


def _stub_requests(api_base: str | None) -> int | None:
    """How many chat completions the stub served so far (GET /stats), if there is a stub."""
    if api_base is None:
        return None
    port = int(api_base.rsplit(":", 1)[1].split("/")[0])
    try:
        return int(_request(port, "GET", "/stats", timeout=5)[1]["requests"])
    except Exception:
        return None


def _server_env(scenario: Scenario, data_dir: Path, api_base: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPPORT_", "OPENAI_"))}
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # no price list download at import
        SUPPORT_DATA_DIR=str(data_dir),
        SUPPORT_MODELS_DIR=str(MODELS_DIR),
        SUPPORT_SHOP_NAME=SHOP_NAME,
        SUPPORT_LLM_MODEL=scenario.model,
        SUPPORT_LLM_BACKOFF="0",
        SUPPORT_RATE_LIMIT_CONVERSATIONS="10000/minute",
        SUPPORT_RATE_LIMIT_MESSAGES="10000/minute",
        SUPPORT_RATE_LIMIT_MESSAGES_PER_ADDRESS="100000/minute",
        SUPPORT_WEB_THREADS="64",
        SUPPORT_JOB_WORKERS="64",
        PYTHONUNBUFFERED="1",
    )
    if api_base:
        # litellm 1.106 reads OPENAI_BASE_URL, then OPENAI_API_BASE, for openai/* models.
        env.update(OPENAI_BASE_URL=api_base, OPENAI_API_BASE=api_base, OPENAI_API_KEY="stub")
    env.update(scenario.env)
    return env


def _left(deadline: float) -> float:
    return deadline - time.monotonic()


def _wait_healthy(proc: subprocess.Popen, port: int, log: Path, deadline: float) -> None:
    limit = time.monotonic() + min(180.0, _left(deadline))
    while time.monotonic() < limit:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}:\n{_tail(log)}")
        try:
            if _request(port, "GET", "/healthz", timeout=2)[0] == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the server did not answer GET /healthz in time:\n{_tail(log)}")


def _prepare_shop(workdir: Path, deadline: float) -> Path:
    """The sample shop ingested into a fresh data dir, once for every scenario."""
    data_dir = workdir / "shop"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_")}
    env.update(SUPPORT_DATA_DIR=str(data_dir), SUPPORT_MODELS_DIR=str(MODELS_DIR))
    _say("preparing the sample shop (support-agent demo --no-serve) …")
    done = subprocess.run(
        [str(BIN / "support-agent"), "demo", "--no-serve"],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=max(1.0, min(900.0, _left(deadline))),
    )
    if done.returncode != 0:
        raise RuntimeError(f"demo --no-serve failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    _say(next((line for line in done.stdout.splitlines() if "knowledge base" in line), ""))
    return data_dir


def run_scenario(
    key: str, args: argparse.Namespace, shop: Path, workdir: Path, children: Children, deadline
) -> Result:
    scenario = SCENARIOS[key]
    here = workdir / key.replace(".", "_")
    here.mkdir()
    shutil.copytree(shop, here / "data")
    stub = server = None
    try:
        api_base = None
        if scenario.stub_delay is not None:
            stub, api_base = _start_stub(children, scenario.stub_delay, here, deadline)
            _say(f"[{key}] stub LLM at {api_base}, delay {scenario.stub_delay} s")
        port = _free_port()
        log = here / "server.log"
        server = children.start(
            [str(BIN / "support-agent"), "serve", "--host", HOST, "--port", str(port)],
            log,
            env=_server_env(scenario, here / "data", api_base),
            cwd=here,
        )
        _wait_healthy(server, port, log, deadline)
        _say(f"[{key}] server up on port {port} ({scenario.model}); warming up …")

        def timeout() -> float:
            return max(1.0, min(args.request_timeout, _left(deadline)))

        questions = _questions()
        db = here / "data" / "support.db"

        warm = _alone(port, ["Hi, do you ship to Canada?"], timeout, db, deadline)
        if not all(s.ok for s in warm):
            raise RuntimeError(f"the warm-up turn failed: {warm}:\n{_tail(log)}")

        _say(f"[{key}] floor: one customer, {args.floor_messages} messages …")
        floor = _alone(port, questions[: args.floor_messages], timeout, db, deadline)
        if not _drafted(db, deadline):  # nothing of the floor may still run during the load
            raise TimeoutError("the time limit ran out during the floor")
        calls_before = _stub_requests(api_base)

        _say(f"[{key}] load: {args.customers} customers × {args.messages} messages …")
        load: list[Sample] = []
        start = threading.Event()
        threads = []
        for i in range(args.customers):
            texts = [
                questions[(i * args.messages + n + 7) % len(questions)]
                for n in range(args.messages)
            ]
            thread = threading.Thread(
                target=_customer, args=(port, texts, timeout, load, start), daemon=True
            )
            thread.start()
            threads.append(thread)
        started = time.perf_counter()
        start.set()
        for thread in threads:
            thread.join(max(0.0, _left(deadline)))
        wall = time.perf_counter() - started
        if any(thread.is_alive() for thread in threads):
            raise TimeoutError("the time limit ran out during the load")
        calls = None
        if calls_before is not None and (calls_after := _stub_requests(api_base)) is not None:
            calls = calls_after - calls_before
        result = Result(scenario, args.customers, list(load), floor, wall, calls)
        result.open_after = _open_turns(db)
        if result.open_after:
            _say(f"[{key}] waiting for {result.open_after} turns still being drafted …")
            drained = time.perf_counter()
            if _drafted(db, min(deadline, time.monotonic() + args.drain_limit)):
                result.drain = time.perf_counter() - drained
        return result
    finally:
        for proc in (server, stub):
            if proc is not None:
                children.stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--messages", type=int, default=3, help="messages per customer")
    parser.add_argument("--floor-messages", type=int, default=4)
    parser.add_argument("--request-timeout", type=float, default=300.0, help="seconds")
    parser.add_argument(
        "--time-limit", type=float, default=1800.0, help="seconds for the whole run"
    )
    parser.add_argument(
        "--drain-limit", type=float, default=300.0, help="seconds to wait for turns after the load"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder and its logs")
    args = parser.parse_args()
    if min(args.customers, args.messages, args.floor_messages) < 1:
        parser.error("--customers, --messages and --floor-messages must be at least 1")
    if not (BIN / "support-agent").exists():
        parser.error(f"no {BIN / 'support-agent'}: run this with the project's .venv/bin/python")
    keys = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    deadline = time.monotonic() + args.time_limit
    children = Children()
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))

    def cleanup() -> None:
        children.stop_all()
        if args.keep:
            _say(f"kept {workdir} (data dirs, server.log, stub.log)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    def out_of_time() -> None:
        _say(f"time limit of {args.time_limit:.0f} s reached: stopping everything")
        cleanup()
        os._exit(124)

    watchdog = threading.Timer(args.time_limit + 30, out_of_time)  # if the main thread hangs
    watchdog.daemon = True
    watchdog.start()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in background
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = []
    try:
        shop = _prepare_shop(workdir, deadline)
        for key in keys:
            results.append(run_scenario(key, args, shop, workdir, children, deadline))
    except KeyboardInterrupt:
        _say("interrupted")
    except (RuntimeError, TimeoutError, subprocess.TimeoutExpired) as error:
        _say(f"error: {error}")
    finally:
        watchdog.cancel()
        cleanup()

    if results:
        print(
            "| scenario | requests | errors | p50 s | p95 s | max s | floor p50 s "
            "| p95/floor | turns/s | sent / pending | goal |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for result in results:
            print("| " + " | ".join(result.row()) + " |")
        print()
        for result in results:
            print(result.notes())
        print(
            "\np50/p95 are over the message posts; max, requests and errors count every "
            "request (conversation starts too)."
        )
    sys.exit(0 if len(results) == len(keys) else 1)


if __name__ == "__main__":
    main()
