"""Retrieval on every shop at once, against a naive dense baseline measured in the same run.

The baseline is what a new user gets from the plainest RAG: each whole document embedded
once with the same model, ranked by cosine similarity. A change to retrieval is worth
keeping when it beats that on the public shops, not only on the sample shop.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel

from agent.language import detect_language
from agent.owner_answers import owner_answer
from agent.translation import searchable_question
from agent.turn import PASSAGES
from desk.sample_shop import load_sample_shop
from evals.datasets import load_suite
from evals.metrics import hit_at, reciprocal_rank
from evals.public_shops import SHOPS, ShopCase, ShopData, SnapshotMissing, Split
from evals.runner import eval_settings
from ingestion.sync import sync
from kb.index import ARTICLES, TICKETS
from kb.retrieval import Retriever, Tuning
from settings import Settings

K = 5
SAMPLE = "sample"
OURS = "ours"


class Scores(BaseModel):
    hit_at_1: float
    hit_at_5: float
    mrr: float
    ms_per_query: float


class OwnerAnswers(BaseModel):
    """Questions the owner's FAQ answer would be sent for, and how many got the right FAQ."""

    rate: float
    precision: float | None


class LanguageScores(BaseModel):
    """One language's questions in a shop asked in several, held against English."""

    cases: int
    baseline_hit_at_5: float
    hit_at_5: float
    # hit@5 in this language over hit@5 of the English questions (1.0: no loss).
    parity: float


class ShopResult(BaseModel):
    shop: str
    domain: str
    cases: int
    baseline: Scores
    owner_answers: OwnerAnswers
    # Per retrieval variant; "ours" is the default tuning.
    variants: dict[str, Scores]
    # Ours per language of the questions, when they are in more than one.
    languages: dict[str, LanguageScores] = {}

    @property
    def ours(self) -> Scores:
        return self.variants[OURS]


class NaiveDense:
    """Whole documents, one embedding each, ranked by cosine similarity."""

    def __init__(self, retriever: Retriever) -> None:
        self.embedder = retriever.embedder
        texts: dict[str, list[str]] = {}
        for name in (ARTICLES, TICKETS):
            _, chunks, metas = retriever.kb.all_chunks(name)
            for text, meta in zip(chunks, metas, strict=True):
                if "match" not in meta:  # a question entry repeats its FAQ
                    texts.setdefault(meta["doc_id"], []).append(text)
        self.doc_ids = list(texts)
        self.vectors = np.asarray(
            self.embedder.embed(["\n".join(parts) for parts in texts.values()]), dtype=np.float32
        )

    def rank(self, questions: list[str]) -> list[list[str]]:
        queries = np.asarray(self.embedder.embed(questions), dtype=np.float32)
        order = np.argsort(-(queries @ self.vectors.T), axis=1)[:, :K]
        return [[self.doc_ids[i] for i in row] for row in order]


def _scores(ranked: list[list[str]], cases: list[ShopCase], seconds: float) -> Scores:
    def mean(values: Iterable[float]) -> float:
        values = list(values)
        return round(sum(values) / len(values), 4)

    pairs = list(zip(ranked, cases, strict=True))
    return Scores(
        hit_at_1=mean(hit_at(r, c.doc_ids, 1) for r, c in pairs),
        hit_at_5=mean(hit_at(r, c.doc_ids, K) for r, c in pairs),
        mrr=mean(reciprocal_rank(r, c.doc_ids) for r, c in pairs),
        ms_per_query=round(1000 * seconds / len(cases), 1),
    )


def _by_language(
    cases: list[ShopCase], naive: list[list[str]], ours: list[list[str]]
) -> dict[str, LanguageScores]:
    groups: dict[str, list[int]] = {}
    for index, case in enumerate(cases):
        groups.setdefault(case.language, []).append(index)
    if len(groups) < 2 or "en" not in groups:
        return {}

    def hit5(ranked: list[list[str]], indexes: list[int]) -> float:
        return sum(hit_at(ranked[i], cases[i].doc_ids, K) for i in indexes) / len(indexes)

    english = hit5(ours, groups["en"]) or 1.0
    return {
        language: LanguageScores(
            cases=len(indexes),
            baseline_hit_at_5=round(hit5(naive, indexes), 4),
            hit_at_5=round(hit5(ours, indexes), 4),
            parity=round(hit5(ours, indexes) / english, 4),
        )
        for language, indexes in sorted(groups.items())
    }


def _measure(
    name: str,
    domain: str,
    settings: Settings,
    cases: list[ShopCase],
    variants: dict[str, Tuning],
    *,
    translate_questions: bool = False,
) -> ShopResult:
    retriever = Retriever(settings)
    baseline = NaiveDense(retriever)
    started = time.perf_counter()
    naive = baseline.rank([case.question for case in cases])
    naive_seconds = time.perf_counter() - started
    readable = retriever.languages if translate_questions else None
    # As the agent asks: in the shop's language when no model reads the question's.
    questions = [
        searchable_question(settings, case.question, language=case.language, readable=readable)
        for case in cases
    ]
    scores, answered, languages = {}, [], {}
    for label, tuning in {OURS: Tuning(), **variants}.items():
        retriever.tuning = tuning
        started = time.perf_counter()
        found = [retriever.search(text, K, language=asked_in) for text, asked_in in questions]
        ranked = [[hit.doc_id for hit in hits] for hits in found]
        scores[label] = _scores(ranked, cases, time.perf_counter() - started)
        if label == OURS:
            languages = _by_language(cases, naive, ranked)
            answered = [
                (faq.doc_id in case.doc_ids)
                for case, hits in zip(cases, found, strict=True)
                if (faq := owner_answer(hits[:PASSAGES], language=detect_language(case.question)))
            ]
    return ShopResult(
        shop=name,
        domain=domain,
        cases=len(cases),
        baseline=_scores(naive, cases, naive_seconds),
        owner_answers=OwnerAnswers(
            rate=round(len(answered) / len(cases), 4),
            precision=round(sum(answered) / len(answered), 4) if answered else None,
        ),
        variants=scores,
        languages=languages,
    )


def _sample_shop(
    settings: Settings, folder: Path, variants: dict[str, Tuning], translate_questions: bool
) -> ShopResult:
    local = eval_settings(settings, folder)
    load_sample_shop(local, progress=False)
    cases = [
        ShopCase(
            id=case.id,
            question=case.question,
            doc_ids=case.reference_doc_ids,
            language=case.language,
        )
        for case in load_suite("retrieval")
        if case.reference_doc_ids
    ]
    return _measure(
        SAMPLE,
        "home goods shop (ours)",
        local,
        cases,
        variants,
        translate_questions=translate_questions,
    )


def _public_shop(
    settings: Settings,
    folder: Path,
    name: str,
    data: ShopData,
    split: str,
    variants: dict[str, Tuning],
    translate_questions: bool,
) -> ShopResult:
    local = eval_settings(settings, folder)
    faqs = folder / "faqs.jsonl"
    faqs.write_text(
        "".join(json.dumps(faq.model_dump(mode="json")) + "\n" for faq in data.faqs),
        encoding="utf-8",
    )
    report = sync([faqs], local, progress=False)
    if report.problems:
        raise ValueError(f"{name}: {report.problems[0]}")
    cases = [case for case in data.cases if split in ("all", case.split)]
    return _measure(
        name,
        SHOPS[name].domain,
        local,
        cases,
        variants,
        translate_questions=translate_questions,
    )


def measure_all(
    settings: Settings,
    *,
    snapshots: Path | None,
    shops: list[str] | None = None,
    split: Split | Literal["all"] = "test",
    variants: dict[str, Tuning] | None = None,
    translate_questions: bool = False,
) -> tuple[list[ShopResult], list[str]]:
    """Results per shop, and why any asked-for shop was skipped."""
    names = shops or [SAMPLE, *SHOPS]
    results, skipped = [], []
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"support-shop-{name}-") as folder:
            if name == SAMPLE:
                results.append(
                    _sample_shop(settings, Path(folder), variants or {}, translate_questions)
                )
                continue
            if snapshots is None:
                skipped.append(f"{name}: no snapshots folder (set SUPPORT_PUBLIC_DATA)")
                continue
            try:
                data = SHOPS[name].load(snapshots)
            except SnapshotMissing as error:
                skipped.append(str(error))
                continue
            results.append(
                _public_shop(
                    settings,
                    Path(folder),
                    name,
                    data,
                    split,
                    variants or {},
                    translate_questions,
                )
            )
    return results, skipped


def table(results: list[ShopResult]) -> str:
    """A Markdown table: each shop's naive baseline and every variant measured."""
    lines = [
        "| shop | questions | retrieval | hit@1 | hit@5 | MRR | ms per query |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        rows = {"naive dense": result.baseline, **result.variants}
        for label, scores in rows.items():
            lines.append(
                f"| {result.shop} | {result.cases} | {label} | {scores.hit_at_1:.3f} "
                f"| {scores.hit_at_5:.3f} | {scores.mrr:.3f} | {scores.ms_per_query:.1f} |"
            )
    lines += [
        "",
        "| shop | sent as the owner's FAQ answer | of them the right FAQ |",
        "| --- | --- | --- |",
    ]
    for result in results:
        answers = result.owner_answers
        precision = "—" if answers.precision is None else f"{answers.precision:.3f}"
        lines.append(f"| {result.shop} | {answers.rate:.3f} | {precision} |")
    for result in results:
        if not result.languages:
            continue
        lines += [
            "",
            f"| {result.shop}: language | questions | naive dense hit@5 | hit@5 | parity |",
            "| --- | --- | --- | --- | --- |",
        ]
        for language, scores in result.languages.items():
            lines.append(
                f"| {language} | {scores.cases} | {scores.baseline_hit_at_5:.3f} "
                f"| {scores.hit_at_5:.3f} | {scores.parity:.3f} |"
            )
    return "\n".join(lines)
