"""Crash recovery: kill -9 a worker, then the whole server, mid-turn; count what survives.

    .venv/bin/python bench/bench_crash.py [--messages 20] [--delay 3]

Against a copy of the sample shop (`support-agent demo --no-serve`) and a stub LLM
whose every call takes `--delay` seconds: N customers each post one message, then
(1) the separate `support-agent worker` is killed with SIGKILL while turns are being
drafted, and a new worker is started; (2) the same with `support-agent serve`
drafting in-process, killed as a whole (gunicorn's master and workers) and restarted.
Prints, for each: messages sent, messages with a draft, messages with more than one
draft, turns that were in flight at the kill, and the seconds from the restart until
every message had its draft. The goal is every message answered exactly once.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.llm_stub import LLMStub  # noqa: E402
from tests.process_helpers import free_port, kill, load_sample_shop, process, up, wait_until  # noqa: E402
from tests.test_processes import Ledger, _converse, _env  # noqa: E402

QUESTIONS = [
    "How long do I have to return an item I bought?",
    "Do you ship to Canada?",
    "Can I exchange an item for something else?",
    "How do I descale my kettle?",
    "Do you sell gift cards?",
]


def _send(port: int, count: int) -> None:
    with ThreadPoolExecutor(count) as pool:
        list(pool.map(lambda n: _converse(port, QUESTIONS[n % len(QUESTIONS)]), range(count)))


def _report(name: str, ledger: Ledger, in_flight: int, recovered: float) -> str:
    answered = ledger.customer_messages() - ledger.unanswered()
    twice = ledger._count(
        "SELECT count(*) FROM (SELECT message_id FROM drafts WHERE message_id > :start "
        "GROUP BY message_id HAVING count(*) > 1) AS twice"
    )
    return (
        f"| {name} | {ledger.customer_messages()} | {answered} | {twice} | {in_flight} "
        f"| {recovered:.1f} |"
    )


def worker_kill(shop: Path, stub: LLMStub, count: int, log: Path) -> str:
    port, ledger = free_port(), Ledger(shop)
    with process("serve", "--port", str(port), env=_env(shop, stub, job_workers="0"), log=log):
        wait_until(lambda: up(port), "the web server", log=log)
        worker_env = _env(shop, stub, job_workers="8")
        with process("worker", env=worker_env, log=log) as worker:
            _send(port, count)
            wait_until(lambda: ledger.drafting() > 0, "a turn in flight", log=log)
            in_flight = ledger.drafting()
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
        started = time.monotonic()
        with process("worker", env=worker_env, log=log):
            wait_until(lambda: ledger.unanswered() == 0, "every draft", timeout=600, log=log)
            return _report("worker killed", ledger, in_flight, time.monotonic() - started)


def server_kill(shop: Path, stub: LLMStub, count: int, log: Path) -> str:
    port, ledger = free_port(), Ledger(shop)
    env = _env(shop, stub, job_workers="8")
    with process("serve", "--port", str(port), env=env, log=log) as server:
        wait_until(lambda: up(port), "the web server", log=log)
        _send(port, count)
        wait_until(lambda: ledger.drafting() > 0, "a turn in flight", log=log)
        in_flight = ledger.drafting()
        kill(server)
    started = time.monotonic()
    with process("serve", "--port", str(port), env=env, log=log):
        wait_until(lambda: ledger.unanswered() == 0, "every draft", timeout=600, log=log)
        return _report("whole server killed", ledger, in_flight, time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--delay", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-crash-") as folder:
        base = Path(folder) / "shop"
        with LLMStub(delay=0) as quick:
            load_sample_shop(_env(base, quick))
        print(
            "| scenario | messages sent | with a draft | with two or more "
            "| in flight at the kill | s to answer all after restart |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        with LLMStub(delay=args.delay) as stub:
            for run in (worker_kill, server_kill):
                shop = Path(folder) / run.__name__
                shutil.copytree(base, shop)
                print(run(shop, stub, args.messages, Path(folder) / f"{run.__name__}.log"))


if __name__ == "__main__":
    main()
