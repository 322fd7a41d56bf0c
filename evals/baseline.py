"""The saved baseline (evals/baseline.json) and the gates that decide a CI run.

Per suite: the metric values of a trusted run, and gates per metric — `min`/`max`
bounds and a `tolerance` for regression from the baseline value (in the metric's bad
direction: down for scores, up for violations, latency and cost).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from evals.metrics import LOWER_IS_BETTER
from evals.results import GateResult, Report

BASELINE = Path(__file__).resolve().parent / "baseline.json"


class Gate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min: float | None = None
    max: float | None = None
    tolerance: float | None = None


class SuiteBaseline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    recorded_at: str | None = None
    metrics: dict[str, float | None] = {}
    gates: dict[str, Gate] = {}


def load_baseline(path: Path = BASELINE) -> dict[str, SuiteBaseline]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {suite: SuiteBaseline.model_validate(entry) for suite, entry in data.items()}


def check(report: Report, baseline: SuiteBaseline | None) -> list[GateResult]:
    """One result per gate; a gate fails below its bound or when regressed past tolerance."""
    results = []
    for metric, gate in (baseline.gates if baseline else {}).items():
        value = report.metrics.get(metric)
        if value is None:
            results.append(
                GateResult(metric=metric, ok=False, message=f"{metric} was not measured")
            )
            continue
        problems = []
        if gate.min is not None and value < gate.min:
            problems.append(f"{metric} {_fmt(value)} < min {_fmt(gate.min)}")
        if gate.max is not None and value > gate.max:
            problems.append(f"{metric} {_fmt(value)} > max {_fmt(gate.max)}")
        before = baseline.metrics.get(metric) if baseline else None
        if gate.tolerance is not None and before is not None:
            worse = value - before if metric in LOWER_IS_BETTER else before - value
            if worse > gate.tolerance + 1e-9:
                problems.append(
                    f"{metric} {_fmt(value)} regressed by {_fmt(worse)} "
                    f"(tolerance {_fmt(gate.tolerance)}) from {_fmt(before)}"
                )
        described = _describe(gate, before)
        message = "; ".join(problems) or f"{metric} {_fmt(value)} ok" + (
            f" ({described})" if described else ""
        )
        results.append(GateResult(metric=metric, ok=not problems, message=message))
    return results


def record(report: Report, path: Path = BASELINE) -> None:
    """Save this run's figures as the suite's baseline, keeping its gates."""
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    entry = SuiteBaseline.model_validate(data.get(report.suite, {}))
    entry.model = report.model
    entry.recorded_at = report.started_at
    entry.metrics = report.metrics
    data[report.suite] = entry.model_dump(exclude_none=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _describe(gate: Gate, before: float | None) -> str:
    parts = []
    if gate.min is not None:
        parts.append(f"min {_fmt(gate.min)}")
    if gate.max is not None:
        parts.append(f"max {_fmt(gate.max)}")
    if gate.tolerance is not None and before is not None:
        parts.append(f"baseline {_fmt(before)} ± {_fmt(gate.tolerance)}")
    return ", ".join(parts)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.2f}"
