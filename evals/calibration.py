"""Which drafts are right, how sure the gate may be of them, and which threshold gives
the precision the owner wants.

A case is *correct to auto-send* when it should not go to review, nothing forbidden
leaked, the expected tools were called and, with a reference answer, the reply means
the same (semantic similarity at least SIMILAR; factual correctness too, when judged)
without merely restating the question (an echo is close to any answer about its topic).
A reply less similar than that (down to SIMILAR_WITH_FACTS) is right when it states a
figure of the reference and no figure found in neither the reference nor the passages:
MiniLM puts "Yes, burrs are covered for 12 months from delivery." at 0.68 from a
reference that adds the price of new burrs. An order-status template is right when the
expected lookup was made, an FAQ answer when it is a reference document.
For each threshold, the drafts that would be sent are those with no other review
reason and a confidence at or above it; precision is the share of them that are correct.
The chosen threshold is the lowest one that reaches the target precision with at
least MIN_SENT drafts sent (a precision over two drafts tells nothing); when none does,
the most precise such threshold, marked as missing the target.

`fit` turns an eval run into a GateCalibration: a logistic model of "correct" over the
gate's signals of the generated drafts that nothing else held back, and the threshold
chosen on out-of-fold probabilities, so that the precision it promises was measured on
drafts the model had not been fitted on. The stored model's own probabilities must
reach the target at that threshold too: fitted on all the drafts, it is surer than the
fold models, and the same threshold let it send drafts the folds held back.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import numpy as np

from agent.calibration import CurvePoint, GateCalibration
from agent.draft import AnswerType
from evals.results import Calibration, CalibrationPoint, CaseResult

SIMILAR = 0.7
# Below SIMILAR, a reply is still right when it states the reference's figures.
SIMILAR_WITH_FACTS = 0.55
NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*")
FACTUAL = 0.5
TARGET_PRECISION = 0.95
MIN_SENT = 5
THRESHOLDS = [round(step / 20, 2) for step in range(21)]
FOLDS = 5
# With fewer drafts than this, folds of one or two make out-of-fold precision meaningless.
MIN_FITTED = 2 * FOLDS
# L2 penalty of the logistic fit: a few dozen drafts cannot support large weights.
PENALTY = 1.0


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
    # A template holds the looked-up order's facts and an FAQ answer is the owner's words:
    # right when the right order was looked up or the right FAQ matched, however its
    # wording compares with the reference answer's.
    if case.answer_type == AnswerType.ORDER_STATUS:
        return True
    if case.answer_type == AnswerType.FAQ and case.reference_doc_ids:
        return bool(set(case.cited_ids) & set(case.reference_doc_ids))
    similarity = case.scores.get("answers.semantic_similarity")
    if similarity is not None:
        factual = case.scores.get("answers.factual_correctness")
        if factual is not None:
            return similarity >= SIMILAR and factual >= FACTUAL
        return similarity >= SIMILAR or (similarity >= SIMILAR_WITH_FACTS and _same_facts(case))
    return True if case.expected_decision == "send" else None


def _same_facts(case: CaseResult) -> bool:
    """The reply states a figure of the reference answer and none that is in neither the
    reference nor the passages: a short reply giving the reference's facts is right even
    when its embedding is far from a longer reference's."""
    reference = set(NUMBER.findall(case.reference_answer or ""))
    said = set(NUMBER.findall(case.reply or ""))
    known = reference | {n for text in case.contexts for n in NUMBER.findall(text)}
    return bool(said & reference) and said <= known


def calibrate(
    cases: list[CaseResult], configured: float | None, target: float = TARGET_PRECISION
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
    note += f" ({len(known)} cases with a known answer)."
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


def fittable(case: CaseResult) -> bool:
    """A generated draft that only its confidence held back, with a known right or wrong."""
    return (
        case.signals is not None
        and case.answer_type == AnswerType.GENERATED
        and not case.blockers
        and case.correct is not None
    )


def fit(
    cases: list[CaseResult], *, model: str, suite: str, target: float = TARGET_PRECISION
) -> tuple[GateCalibration, dict[str, float]]:
    """The calibration for `model`, and each fitted case's out-of-fold probability by id."""
    used = [case for case in cases if fittable(case)]
    names = list(used[0].signals.features()) if used else []
    x = np.array([[case.signals.features()[n] for n in names] for case in used], dtype=float)
    y = np.array([case.correct is True for case in used], dtype=float)
    folds = np.array([_fold(case.id) for case in used])
    held_out = np.zeros(len(used))
    for fold in range(FOLDS):
        train = folds != fold
        if (folds == fold).any():
            model_ = _logistic(x[train], y[train])
            held_out[~train] = _predict(model_, x[~train])
    stored = _logistic(x, y)
    means, scales, weights, bias = stored
    probabilities = {case.id: float(p) for case, p in zip(used, held_out, strict=True)}
    curve = _curve(used, probabilities)
    # The stored model, fitted on every draft, is surer than its folds: a threshold must
    # also hold for its own probabilities, or it sends more than the curve promised.
    itself = _predict(stored, x)
    own = _curve(used, {case.id: float(p) for case, p in zip(used, itself, strict=True)})
    met = next(
        (
            point
            for point, stored_point in zip(curve, own, strict=True)
            if point.sent >= MIN_SENT
            and point.precision >= target
            and (stored_point.precision is None or stored_point.precision >= target)
        ),
        None,
    )
    calibration = GateCalibration(
        model=model,
        fitted_at=datetime.now(UTC).isoformat(timespec="seconds"),
        suite=suite,
        cases=len(used),
        target_precision=target,
        threshold=met.threshold if met else None,
        means=dict(zip(names, means.tolist(), strict=True)),
        scales=dict(zip(names, scales.tolist(), strict=True)),
        weights=dict(zip(names, weights.tolist(), strict=True)),
        bias=float(bias),
        curve=curve,
    )
    return calibration, probabilities


def reroute(
    cases: list[CaseResult], calibration: GateCalibration, probabilities: dict[str, float]
) -> list[CaseResult]:
    """The run as the calibrated gate would have routed it: each fitted draft decided by
    its out-of-fold probability against the chosen threshold."""
    routed = []
    for case in cases:
        if case.id in probabilities:
            probability = probabilities[case.id]
            sent = calibration.threshold is not None and probability >= calibration.threshold
            case = case.model_copy(
                update={
                    "confidence": round(probability, 3),
                    "decision": "send" if sent else "review",
                }
            )
        routed.append(case)
    return routed


def report_curve(calibration: GateCalibration) -> Calibration:
    """The fitted curve as the eval report shows it, with the chosen point."""
    chosen = next((p for p in calibration.curve if p.threshold == calibration.threshold), None)
    if chosen:
        note = (
            f"lowest threshold on the calibrated probability with out-of-fold precision, and "
            f"the stored model's own, ≥ {calibration.target_precision:.2f}: "
            f"{chosen.threshold:.2f}"
        )
    else:
        note = (
            f"no threshold reaches precision {calibration.target_precision:.2f} over at least "
            f"{MIN_SENT} drafts: every generated draft of {calibration.model} waits for review"
        )
    note += f" ({calibration.cases} generated drafts that only their confidence held back)."
    return Calibration(
        target_precision=calibration.target_precision,
        configured_threshold=calibration.threshold,
        chosen_threshold=calibration.threshold,
        target_met=chosen is not None,
        points=[CalibrationPoint(**point.model_dump()) for point in calibration.curve],
        note=note,
    )


def _fold(case_id: str) -> int:
    return int(hashlib.sha256(case_id.encode()).hexdigest(), 16) % FOLDS


def _curve(cases: list[CaseResult], probabilities: dict[str, float]) -> list[CurvePoint]:
    points = []
    for threshold in THRESHOLDS:
        sent = [case for case in cases if probabilities[case.id] >= threshold]
        right = sum(case.correct is True for case in sent)
        precision = round(right / len(sent), 4) if sent else None
        points.append(
            CurvePoint(threshold=threshold, sent=len(sent), correct=right, precision=precision)
        )
    return points


def _logistic(x: np.ndarray, y: np.ndarray):
    """(means, scales, weights, bias) of an L2-penalised logistic regression, by Newton steps."""
    if len(x) == 0:
        return np.zeros(x.shape[1]), np.ones(x.shape[1]), np.zeros(x.shape[1]), 0.0
    means = x.mean(axis=0)
    scales = x.std(axis=0)
    scales[scales < 1e-6] = 1.0  # a signal that never varied carries no weight
    z = np.hstack([np.ones((len(x), 1)), (x - means) / scales])
    beta = np.zeros(z.shape[1])
    penalty = np.diag([0.0] + [PENALTY] * x.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(z @ beta, -30, 30)))
        gradient = z.T @ (p - y) + penalty @ beta
        hessian = z.T @ (z * (p * (1 - p))[:, None]) + penalty + 1e-9 * np.eye(len(beta))
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return means, scales, beta[1:], float(beta[0])


def _predict(fitted, x: np.ndarray) -> np.ndarray:
    means, scales, weights, bias = fitted
    return 1 / (1 + np.exp(-np.clip(bias + ((x - means) / scales) @ weights, -30, 30)))
