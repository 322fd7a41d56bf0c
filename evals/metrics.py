"""Our own metrics: retrieval ranks, citation validity, routing, safety, latency and cost.

Per-case helpers take plain values; `summarize` turns case results into figures named
`group.metric` (the names gates and baselines use); `suite_figures` is what a run reports
and gates, and `by_language` each language's figures with its parity with English.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from typing import Any

from agent.gate import grounding
from evals.results import CaseResult, LanguageFigures

# For these, a smaller value is better (gates and regressions read them the other way).
LOWER_IS_BETTER = frozenset(
    {
        "safety.violations",
        "safety.violations_sent",
        "routing.auto_sent_should_review",
        "latency.mean_ms",
        "latency.p95_ms",
        "cost.tokens_per_case",
        "cost.usd_per_case",
        "cases.errors",
    }
)


# What must never happen is counted over every case in every language: a leak in Thai is a
# leak, and one auto-sent draft that needed a person means routing recall below 1 there.
COUNTED_EVERYWHERE = (
    "safety.violations",
    "safety.violations_sent",
    "routing.auto_sent_should_review",
    "cases.errors",
)
# The suite's `parity.<metric>`: the lowest parity with English of any language.
PARITY = ("retrieval.hit@5", "retrieval.mrr", "answers.semantic_similarity", "routing.recall")


def reciprocal_rank(ranked: list[str], relevant: Iterable[str]) -> float:
    wanted = set(relevant)
    return next((1 / rank for rank, doc in enumerate(ranked, start=1) if doc in wanted), 0.0)


def hit_at(ranked: list[str], relevant: Iterable[str], k: int) -> bool:
    return bool(set(ranked[:k]) & set(relevant))


def violations(forbidden: list[str], reply: str, tool_results: list[Any]) -> list[str]:
    """Forbidden strings (case-insensitive) in the reply or in what a successful tool returned."""
    seen = " ".join([reply, *(json.dumps(result, default=str) for result in tool_results)]).lower()
    return [text for text in forbidden if text.lower() in seen]


def citation_validity(cited_ids: list[str], retrieved: dict[str, str], reply: str) -> float | None:
    """Share of cited documents that were retrieved and back at least one sentence of the reply."""
    if not cited_ids:
        return None
    valid = [
        doc_id
        for doc_id in cited_ids
        if doc_id in retrieved and grounding(reply, retrieved[doc_id]) > 0
    ]
    return len(valid) / len(cited_ids)


def routing(results: list[CaseResult]) -> dict[str, float | None]:
    """Review is the positive class: the drafts a person must see.

    An auto-sent draft that should have been reviewed is the costly error, counted apart.
    """
    judged = [r for r in results if r.expected_decision and r.decision]
    should = [r for r in judged if r.expected_decision == "review"]
    flagged = [r for r in judged if r.decision == "review"]
    both = [r for r in should if r.decision == "review"]
    sent = [r for r in judged if r.decision == "send"]
    return {
        "routing.precision": _ratio(len(both), len(flagged)),
        "routing.recall": _ratio(len(both), len(should)),
        "routing.accuracy": _ratio(
            sum(r.decision == r.expected_decision for r in judged), len(judged)
        ),
        "routing.auto_sent_should_review": float(
            len(sent) - sum(r.expected_decision == "send" for r in sent)
        )
        if judged
        else None,
        "routing.auto_send_precision": _ratio(sum(r.correct is True for r in sent), len(sent)),
        # Of the cases a good gate would send, how many it did.
        "routing.auto_send_rate": _ratio(
            sum(r.expected_decision == "send" for r in sent),
            sum(r.expected_decision == "send" for r in judged),
        ),
    }


def summarize(results: list[CaseResult]) -> dict[str, float | None]:
    ranked = [r for r in results if r.reference_doc_ids and r.error is None]
    agent = [r for r in results if r.reply is not None]
    latencies = [r.latency_ms for r in agent if r.latency_ms is not None]
    figures: dict[str, float | None] = {
        "retrieval.hit@1": _mean(hit_at(r.ranked_ids, r.reference_doc_ids, 1) for r in ranked),
        "retrieval.hit@5": _mean(hit_at(r.ranked_ids, r.reference_doc_ids, 5) for r in ranked),
        "retrieval.mrr": _mean(reciprocal_rank(r.ranked_ids, r.reference_doc_ids) for r in ranked),
        "citations.validity": _mean(
            r.citation_validity for r in agent if r.citation_validity is not None
        ),
        **routing(results),
        "safety.violations": float(sum(bool(r.violations) for r in results)),
        # The ones a customer saw without anybody reviewing them.
        "safety.violations_sent": float(
            sum(bool(r.violations) and r.decision == "send" for r in results)
        ),
        "latency.mean_ms": _mean(latencies),
        "latency.p95_ms": _percentile(latencies, 95),
        "cost.tokens_per_case": _mean(r.prompt_tokens + r.completion_tokens for r in agent),
        "cost.usd_per_case": _mean(r.cost_usd for r in agent),
        "cases.errors": float(sum(r.error is not None for r in results)),
    }
    names = sorted({name for r in results for name in r.scores})
    for name in names:
        figures[name] = _mean(r.scores[name] for r in results if r.scores.get(name) is not None)
    return figures


def _mean(values: Iterable[float | bool | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return round(statistics.fmean(present), 4) if present else None


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _percentile(values: list[float], pct: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))
    return round(ordered[index], 1)


def suite_figures(results: list[CaseResult]) -> dict[str, float | None]:
    """The figures a run reports and its baseline gates.

    Scores are over the original cases: a translation repeats an English case, and
    counting it too would weigh that case twice and move every baseline with each language
    added. Each language's scores are in `by_language`, and the lowest parity of any
    language is `parity.<metric>`. What must never happen counts in every language.
    """
    figures = summarize([r for r in results if r.translation_of is None])
    everywhere = summarize(results)
    figures.update({name: everywhere[name] for name in COUNTED_EVERYWHERE})
    parities = [language.parity for language in by_language(results).values()]
    for name in PARITY:
        ratios = [ratio for parity in parities if (ratio := parity.get(name)) is not None]
        figures[f"parity.{name}"] = min(ratios) if ratios else None
    return figures


def by_language(results: list[CaseResult]) -> dict[str, LanguageFigures]:
    """Each language's figures (English first), and its parity with English.

    Parity is over the language's translations whose English original is in the same run:
    their metric divided by the originals', so it compares the very same cases.
    """
    originals = {r.id: r for r in results if r.translation_of is None}
    languages = sorted(
        {r.language for r in results}, key=lambda language: (language != "en", language)
    )
    figures = {}
    for language in languages:
        cases = [r for r in results if r.language == language]
        pairs = [(r, originals[r.translation_of]) for r in cases if r.translation_of in originals]
        english = summarize([original for _, original in pairs]) if pairs else {}
        translated = summarize([translation for translation, _ in pairs]) if pairs else {}
        figures[language] = LanguageFigures(
            cases=len(cases),
            translated=len(pairs),
            metrics=summarize(cases),
            english=english,
            parity={name: _parity(translated.get(name), value) for name, value in english.items()},
        )
    return figures


def _parity(value: float | None, english: float | None) -> float | None:
    if value is None or not english:
        return None
    return round(value / english, 4)
