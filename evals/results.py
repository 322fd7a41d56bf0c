"""What a run produces (report.json): per-case results and the suite's figures, as pydantic."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agent.calibration import Signals
from evals.datasets import ExpectedTool


class ToolCall(BaseModel):
    name: str
    arguments: dict[str, Any] = {}
    ok: bool = True


class CaseResult(BaseModel):
    id: str
    suite: str
    tags: list[str] = []
    language: str = "en"
    # The English case this one translates, when it is a translation.
    translation_of: str | None = None
    question: str
    # Retrieval of the scored turn (k=5 for hit@k and MRR; the agent's own k=4 as contexts).
    reference_doc_ids: list[str] = []
    ranked_ids: list[str] = []
    context_ids: list[str] = []
    contexts: list[str] = []
    # The agent's draft for the last turn (absent for retrieval-only cases).
    reply: str | None = None
    reference_answer: str | None = None
    decision: str | None = None
    expected_decision: str | None = None
    confidence: float | None = None
    answer_type: str | None = None
    # What the gate weighed, for fitting a calibration.
    signals: Signals | None = None
    # Review reasons other than not being sure enough, for calibration.
    blockers: list[str] = []
    cited_ids: list[str] = []
    tool_calls: list[ToolCall] = []
    expected_tools: list[ExpectedTool] = []
    # Forbidden strings found in the reply or an ok tool result.
    violations: list[str] = []
    citation_validity: float | None = None
    latency_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    # ragas scores by metric name; None when the metric does not apply to the case.
    scores: dict[str, float | None] = {}
    # Whether an auto-sent draft would be right (None: the case cannot tell).
    correct: bool | None = None
    error: str | None = None


class CalibrationPoint(BaseModel):
    threshold: float
    sent: int
    correct: int
    precision: float | None


class Calibration(BaseModel):
    target_precision: float
    configured_threshold: float | None
    chosen_threshold: float | None
    # False when no threshold reaches the target: the chosen one is then the most precise.
    target_met: bool = False
    points: list[CalibrationPoint]
    note: str


class GateResult(BaseModel):
    metric: str
    ok: bool
    message: str


class LanguageFigures(BaseModel):
    """One language's figures, and its parity with English on the very same cases."""

    cases: int
    # Of those, the translations whose English original ran too: what parity is over.
    translated: int
    # Over every case in the language.
    metrics: dict[str, float | None]
    # The same metrics over the English originals of the translated cases.
    english: dict[str, float | None] = {}
    # The translated cases' metric divided by their originals' (1.0: as good as English;
    # for the lower-is-better metrics, above 1 is worse). None where either is missing or 0.
    parity: dict[str, float | None] = {}


class Report(BaseModel):
    suite: str
    model: str
    judge_model: str | None
    started_at: str
    seconds: float
    n_cases: int
    metrics: dict[str, float | None]
    # The same figures per dataset, when the suite spans several (full, smoke).
    by_suite: dict[str, dict[str, float | None]] = {}
    # Per language, when the run has more than English (filled when the report is written).
    by_language: dict[str, LanguageFigures] = {}
    calibration: Calibration | None
    gates: list[GateResult] = []
    baseline_file: str | None = None
    cases: list[CaseResult]
