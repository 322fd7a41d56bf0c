"""Which auto-send threshold gives the precision the owner wants?

A case is *correct to auto-send* when it should not go to review, nothing forbidden
leaked, the expected tools were called and, with a reference answer, the reply means
the same (semantic similarity at least SIMILAR; factual correctness too, when judged)
without merely restating the question (an echo is close to any answer about its topic).
For each threshold, the drafts that would be sent are those with no other review
reason and a confidence at or above it; precision is the share of them that are correct.
The chosen threshold is the lowest one that reaches the target precision with at
least MIN_SENT drafts sent (a precision over two drafts tells nothing); when none does,
the most precise such threshold, marked as missing the target.
"""

from __future__ import annotations

from evals.results import Calibration, CalibrationPoint, CaseResult

SIMILAR = 0.7
FACTUAL = 0.5
TARGET_PRECISION = 0.9
MIN_SENT = 5
THRESHOLDS = [round(step / 20, 2) for step in range(21)]


def correctness(case: CaseResult) -> bool | None:
    """None when the case cannot tell (no expected decision and no reference answer)."""
    if case.reply is None or case.error:
        return None
    if case.expected_decision == "review" or case.violations:
        return False
    if (
        case.scores.get("tools.call_accuracy") is not None
        and case.scores["tools.call_accuracy"] < 1
    ):
        return False
    if _normal(case.reply) in _normal(case.question):
        return False
    similarity = case.scores.get("answers.semantic_similarity")
    if similarity is not None:
        factual = case.scores.get("answers.factual_correctness")
        return similarity >= SIMILAR and (factual is None or factual >= FACTUAL)
    return True if case.expected_decision == "send" else None


def calibrate(
    cases: list[CaseResult], configured: float, target: float = TARGET_PRECISION
) -> Calibration:
    known = [c for c in cases if c.correct is not None and c.confidence is not None]
    points = []
    for threshold in THRESHOLDS:
        sent = [c for c in known if not c.blockers and c.confidence >= threshold]
        right = sum(c.correct is True for c in sent)
        precision = round(right / len(sent), 4) if sent else None
        points.append(
            CalibrationPoint(
                threshold=threshold, sent=len(sent), correct=right, precision=precision
            )
        )
    supported = [p for p in points if p.sent >= MIN_SENT]
    met = next((p for p in supported if p.precision >= target), None)
    best = max(supported, key=lambda p: p.precision, default=None)
    chosen = met or best
    if met:
        note = f"lowest threshold with auto-send precision ≥ {target:.2f}: {met.threshold:.2f}"
    elif best:
        note = (
            f"no threshold reaches auto-send precision {target:.2f}; the most precise is "
            f"{best.threshold:.2f} ({best.precision:.2f} over {best.sent} drafts)"
        )
    else:
        note = f"fewer than {MIN_SENT} drafts would be auto-sent at any threshold"
    note += (
        f" ({len(known)} cases with a known answer). Drafts below the configured threshold "
        f"{configured:.2f} never met the self-check, so lower thresholds read optimistic."
    )
    return Calibration(
        target_precision=target,
        configured_threshold=configured,
        chosen_threshold=chosen.threshold if chosen else None,
        target_met=met is not None,
        points=points,
        note=note,
    )


def _normal(text: str) -> str:
    return " ".join(text.lower().split())
