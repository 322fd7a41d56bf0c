"""Run a suite against a fresh copy of the sample shop and score every case.

Each run builds its own data dir in a temporary folder (the sample shop ingested and
its orders imported), so results never depend on, or change, the owner's data.
Retrieval cases are scored with search alone; agent cases run all their turns in one
conversation and the last turn's draft is scored.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from agent.calibration import load_calibration, save_calibration
from agent.gate import SOFT
from desk import Desk
from desk.sample_shop import SHOP_NAME, load_sample_shop
from evals.calibration import calibrate, correctness
from evals.datasets import DATASETS, Case, load_suite
from evals.metrics import citation_validity, suite_figures, violations
from evals.ragas_metrics import RagasScorer
from evals.results import Calibration, CaseResult, Report, ToolCall
from kb.retrieval import Retriever
from settings import Settings
from store.models import Channel

RANKED_K = 5
# The agent retrieves this many passages per turn (agent.turn.PASSAGES); the same call
# gives the contexts that ragas and citation validity judge the reply against.
CONTEXT_K = 4


def eval_settings(settings: Settings, data_dir: Path) -> Settings:
    """The owner's model settings on a throwaway data dir (embedded stores, cached GGUFs)."""
    return settings.model_copy(
        update={
            "data_dir": data_dir,
            "database_url": None,
            "chroma_url": None,
            "models_dir": settings.model_cache,
            "shop_name": SHOP_NAME,
        }
    )


def run_suite(
    suite: str, settings: Settings, datasets: Path = DATASETS, progress: bool = True
) -> Report:
    cases = load_suite(suite, datasets)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="support-eval-") as folder:
        local = eval_settings(settings, Path(folder))
        gate = load_calibration(settings.data_dir, settings.llm_model)
        if gate is not None:  # the run measures the gate the owner's drafts go through
            save_calibration(gate, local.data_dir)
        load_sample_shop(local, progress=False)
        retriever = Retriever(local)
        needs_agent = any(case.needs_agent for case in cases)
        desk = Desk(local, retriever=retriever) if needs_agent else None
        scorer = RagasScorer(retriever.embedder, settings.judge_model)
        loop = asyncio.new_event_loop()
        results = []
        try:
            bar = tqdm(
                cases, desc=f"eval {suite}", unit="case", file=sys.stderr, disable=not progress
            )
            for case in bar:
                bar.set_postfix_str(case.id)
                result = run_case(case, retriever, desk)
                if result.error is None:
                    result.scores = loop.run_until_complete(scorer.score(result))
                result.correct = correctness(result)
                results.append(result)
        finally:
            loop.close()
    threshold = settings.auto_send_threshold or (gate.threshold if gate else None)
    metrics, by_suite, calibration = figures(
        results, threshold, scorer.failures if scorer.judged else None
    )
    return Report(
        suite=suite,
        model=settings.llm_model,
        judge_model=settings.judge_model,
        started_at=started_at,
        seconds=round(time.perf_counter() - started, 1),
        n_cases=len(results),
        metrics=metrics,
        by_suite=by_suite,
        calibration=calibration,
        cases=results,
    )


def figures(
    results: list[CaseResult], threshold: float | None, judge_failures: list[str] | None = None
) -> tuple[dict[str, float | None], dict[str, dict[str, float | None]], Calibration | None]:
    """The suite's metrics, the same per dataset (when it spans several), and calibration."""
    metrics = suite_figures(results)
    suites = sorted({result.suite for result in results})
    by_suite = (
        {name: suite_figures([r for r in results if r.suite == name]) for name in suites}
        if len(suites) > 1
        else {}
    )
    if judge_failures is not None:
        metrics["judge.failures"] = float(len(judge_failures))
    if not any(result.reply is not None for result in results):
        return metrics, by_suite, None
    calibration = calibrate(results, threshold)
    points = {point.threshold: point for point in calibration.points}
    chosen = points.get(calibration.chosen_threshold)
    configured = (
        next((p for p in calibration.points if p.threshold >= threshold), None)
        if threshold is not None
        else None
    )
    metrics["calibration.chosen_threshold"] = calibration.chosen_threshold
    metrics["calibration.chosen_precision"] = chosen.precision if chosen else None
    metrics["calibration.precision_at_configured"] = configured.precision if configured else None
    return metrics, by_suite, calibration


def run_case(case: Case, retriever: Retriever, desk: Desk | None) -> CaseResult:
    result = CaseResult(
        id=case.id,
        suite=case.suite,
        tags=case.tags,
        language=case.language,
        translation_of=case.translation_of,
        question=case.question,
        reference_doc_ids=case.reference_doc_ids,
        reference_answer=case.reference_answer,
        expected_decision=case.expected_decision,
        expected_tools=case.expected_tools,
    )
    try:
        ranked = retriever.search(case.question, RANKED_K, language=case.language)
        result.ranked_ids = [hit.doc_id for hit in ranked]
        if desk is None or not case.needs_agent:
            if case.reference_doc_ids:
                hits = retriever.search(case.question, CONTEXT_K, language=case.language)
                result.context_ids = [hit.doc_id for hit in hits]
            return result
        conversation_id = None
        for turn in case.turns:
            draft = desk.ask(
                turn, conversation_id=conversation_id, email=case.email, channel=Channel.EVAL
            )
            conversation_id = draft.conversation_id
            result.prompt_tokens += draft.usage.prompt_tokens
            result.completion_tokens += draft.usage.completion_tokens
            result.cost_usd += draft.usage.cost_usd
    except Exception as error:  # one broken case is a finding, not the end of the run
        result.error = (
            f"{type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}"
        )
        return result
    found = retriever.search(case.question, CONTEXT_K, language=case.language)
    hits = [hit for hit in found if not hit.untrusted]
    result.context_ids = [hit.doc_id for hit in hits]
    result.contexts = [hit.text for hit in hits]
    result.reply = draft.reply
    result.decision = draft.decision
    result.confidence = draft.confidence
    result.answer_type = draft.answer_type
    result.signals = draft.signals
    # Every reason but not being sure enough blocks sending whatever the threshold, which
    # is what calibration needs to know.
    result.blockers = [r.text for r in draft.reasons if r.code not in SOFT]
    result.cited_ids = [citation.doc_id for citation in draft.citations]
    result.tool_calls = [
        ToolCall(name=call.name, arguments=call.arguments, ok=call.ok) for call in draft.tool_calls
    ]
    ok_results = [call.result for call in draft.tool_calls if call.ok]
    result.violations = violations(case.forbidden, draft.reply, ok_results)
    result.citation_validity = citation_validity(
        result.cited_ids, {hit.doc_id: hit.text for hit in hits}, draft.reply
    )
    # A customer waits for one turn: the scored turn's latency, the whole case's tokens.
    result.latency_ms = draft.latency_ms.total
    return result
