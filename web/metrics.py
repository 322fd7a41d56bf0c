"""Prometheus metrics: turns, operator decisions, latencies, queue depth and token cost."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from agent.draft import Draft
from store.models import Draft as DraftRow

TURN_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)


class Metrics:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.turns = Counter("support_turns", "Agent turns by decision.", ["decision"], registry=r)
        self.turn_seconds = Histogram(
            "support_turn_seconds", "Agent turn latency.", buckets=TURN_BUCKETS, registry=r
        )
        self.decisions = Counter(
            "support_decisions", "Operator decisions on drafts.", ["action"], registry=r
        )
        self.request_seconds = Histogram(
            "support_request_seconds",
            "HTTP request latency until the response starts (not a reply's wait or a stream).",
            ["endpoint"],
            registry=r,
        )
        self.tokens = Counter("support_llm_tokens", "LLM tokens used.", ["kind"], registry=r)
        self.cost = Counter("support_llm_cost_usd", "LLM cost in US dollars.", registry=r)
        queue = Gauge("support_queue_depth", "Drafts waiting for a person.", registry=r)

        def depth() -> int:
            with sessions() as session:
                return session.scalar(
                    select(func.count(DraftRow.id)).where(DraftRow.status == "pending")
                )

        queue.set_function(depth)

    def record_turn(self, draft: Draft) -> None:
        self.turns.labels(draft.decision).inc()
        self.turn_seconds.observe(draft.latency_ms.total / 1000)
        self.tokens.labels("prompt").inc(draft.usage.prompt_tokens)
        self.tokens.labels("completion").inc(draft.usage.completion_tokens)
        self.cost.inc(draft.usage.cost_usd)

    def render(self) -> bytes:
        return generate_latest(self.registry)
