"""Agent: the overhead of a turn around the LLM, and full turns with the local model.

    .venv/bin/python bench/bench_agent.py [--turns N] [--model local/qwen2.5-1.5b] [--questions N]

1. Overhead: 200 turns against a scripted LLM that answers instantly, so the time
   is everything but the LLM (storing the message, retrieval, prompt building,
   parsing, tools, the gate and the database writes). Retrieval alone (embedding +
   hybrid search) is the floor it is compared with.
2. Local model: 20 sample questions as full turns, streamed: turn latency and the
   time to the first token of the reply.
3. Replies that need no model, with the local model configured: the FAQ questions
   as customers, and "where is my order" from signed-in customers. Each whole
   `Desk.ask` (store, retrieve, decide, store the draft) is timed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from agent.turn import TurnInput
from desk import Desk
from evals.datasets import load_suite
from ingestion.order_states import Vocabulary
from ingestion.sync import sync
from kb.retrieval import Retriever
from settings import Settings
from store.db import session_factory
from store.orders import import_orders

ROOT = Path(__file__).resolve().parent.parent
SHOP = ROOT / "sample_shop"


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def _questions() -> list[str]:
    return [case.question for case in load_suite("retrieval")]


def _register_instant_llm() -> None:
    """A provider that replies at once with a grounded, cited answer (YES to the self-check)."""
    import litellm  # imported after settings, which sets the offline environment
    from litellm import CustomLLM
    from litellm.types.utils import Message

    class InstantLLM(CustomLLM):
        def completion(self, model, messages, model_response, **kwargs):
            last = messages[-1]["content"]
            text = (
                "YES"
                if "Answer with one word" in last
                else "You can return unused items within 30 days of delivery. [faq-return-window]"
            )
            model_response.choices[0].message = Message(content=text)
            return model_response

    litellm.custom_provider_map.append({"provider": "instant", "custom_handler": InstantLLM()})
    litellm.utils.custom_llm_setup()


def bench_overhead(settings: Settings, turns: int) -> dict:
    _register_instant_llm()
    desk = Desk(settings.model_copy(update={"llm_model": "instant/x"}))
    retriever: Retriever = desk.agent.retriever
    questions = _questions()
    desk.ask("warm up")
    overhead, floor = [], []
    for n in range(turns):
        question = questions[n % len(questions)]
        started = time.perf_counter()
        retriever.search(question, k=4)
        floor.append(time.perf_counter() - started)
        started = time.perf_counter()
        desk.ask(question)
        overhead.append(time.perf_counter() - started)
    return {"overhead": _percentiles(overhead), "retrieval": _percentiles(floor)}


def bench_local(settings: Settings, model: str, count: int) -> dict:
    agent = Desk(settings.model_copy(update={"llm_model": model})).agent
    questions = _questions()[:count]
    agent.decide(TurnInput(text="warm up: do you ship to Canada?"))
    totals, first_tokens, decisions = [], [], []
    for question in questions:
        started = time.perf_counter()
        first: list[float] = []

        def on_token(_piece: str, first=first, started=started) -> None:
            if not first:
                first.append(time.perf_counter() - started)

        draft = agent.decide(TurnInput(text=question), on_token=on_token)
        totals.append(time.perf_counter() - started)
        first_tokens.append(first[0] if first else totals[-1])
        decisions.append(draft.decision)
    return {
        "total": _percentiles(totals),
        "ttft": _percentiles(first_tokens),
        "sent": decisions.count("send"),
        "count": len(questions),
    }


def bench_ready_answers(settings: Settings, model: str) -> dict:
    import json

    desk = Desk(settings.model_copy(update={"llm_model": model}))
    faqs = [json.loads(line)["question"] for line in (SHOP / "faqs.jsonl").open()]
    shop = json.loads((SHOP / "shop.json").read_text())
    emails = {customer["id"]: customer["email"] for customer in shop["customers"]}
    orders = [(order["id"], emails[order["customer_id"]]) for order in shop["orders"][:40]]
    desk.ask("warm up: what is your return policy?")
    timings: dict[str, list[float]] = {"faq": [], "order_status": [], "generated": []}
    for question, email in [(q, None) for q in faqs] + [
        (f"Where is my order {order_id}?", email) for order_id, email in orders
    ]:
        started = time.perf_counter()
        draft = desk.ask(question, email=email)
        timings[draft.answer_type].append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--model", default="local/qwen2.5-1.5b")
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--ready-only", action="store_true", help="Only part 3.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), shop_name="Kettle & Crane")
        sync(
            [SHOP / "faqs.jsonl", SHOP / "articles.jsonl", SHOP / "tickets.jsonl"],
            settings,
            progress=False,
        )
        with session_factory(settings.db_url)() as session:
            import_orders(SHOP / "shop.json", session, Vocabulary.from_settings(settings))

        if args.ready_only:
            _print_ready(bench_ready_answers(settings, args.model), args.model)
            return
        result = bench_overhead(settings, args.turns)
        (o50, o95), (r50, r95) = result["overhead"], result["retrieval"]
        print(
            "| turns | overhead p50 ms | p95 ms | retrieval alone p50 ms | p95 ms "
            "| overhead beyond retrieval p95 ms |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        print(
            f"| {args.turns} | {o50 * 1e3:.1f} | {o95 * 1e3:.1f} | {r50 * 1e3:.1f} "
            f"| {r95 * 1e3:.1f} | {(o95 - r95) * 1e3:.1f} |"
        )
        sys.stdout.flush()
        if args.questions:
            local = bench_local(settings, args.model, args.questions)
            (t50, t95), (f50, f95) = local["total"], local["ttft"]
            print()
            print(
                "| model | questions | turn p50 s | turn p95 s | first token p50 s "
                "| first token p95 s | sent unreviewed |"
            )
            print("| --- | --- | --- | --- | --- | --- | --- |")
            print(
                f"| {args.model} | {local['count']} | {t50:.1f} | {t95:.1f} | {f50:.1f} "
                f"| {f95:.1f} | {local['sent']} |"
            )
        print()
        _print_ready(bench_ready_answers(settings, args.model), args.model)


def _print_ready(timings: dict[str, list[float]], model: str) -> None:
    print(f"| answer type ({model} configured) | messages | p50 ms | p95 ms |")
    print("| --- | --- | --- | --- |")
    for answer_type, samples in timings.items():
        if samples:
            p50, p95 = _percentiles(samples)
            print(f"| {answer_type} | {len(samples)} | {p50 * 1e3:.0f} | {p95 * 1e3:.0f} |")


if __name__ == "__main__":
    main()
