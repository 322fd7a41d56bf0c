"""The calibrated gate: the probability that a generated draft is right, and when to send it.

`support-agent calibrate` fits a logistic model on the signals of an eval run with one
language model and stores it, with the threshold that reaches the owner's target
precision, as `<data dir>/calibration/<model>.json`. Signals mean different things for
different models (a small model says YES to its self-check more readily), so a
calibration is only ever applied to drafts written by the model it was fitted on.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from pydantic import BaseModel, ValidationError

FOLDER = "calibration"
# Calibrations fitted here on the sample shop's full eval suite, for the packaged models;
# one in the data dir (the owner's own run) takes precedence.
PACKAGED = Path(__file__).resolve().parent / "calibrations"


class Signals(BaseModel):
    """What the gate knows about a draft, each a number the calibration can weigh."""

    top_score: float  # the best passage's retrieval score
    margin: float  # how far the best passage is ahead of the next one
    by_question: bool  # the best passage is an FAQ matched by its question
    grounding: float  # share of the reply's sentences whose words the evidence holds
    self_check: float | None = None  # the model's probability that its sources back the reply
    looked_up: bool = False  # an order was looked up successfully
    cited: bool = False  # the reply cites passages it was given

    def features(self) -> dict[str, float]:
        """The signals a calibration weighs. Margin, FAQ-by-question and citing are kept
        for later fits but left out: on the few dozen drafts of an eval run they only
        added noise (docs/benchmarks.md)."""
        # Before the self-check has run, assume it would neither confirm nor doubt.
        check = 0.5 if self.self_check is None else self.self_check
        return {
            "self_check": check,
            "top_score": self.top_score,
            "grounding": self.grounding,
            "looked_up": float(self.looked_up),
        }


class CurvePoint(BaseModel):
    threshold: float
    sent: int
    correct: int
    precision: float | None


class GateCalibration(BaseModel):
    """A logistic model over standardized signals, and the threshold chosen on it."""

    model: str
    fitted_at: str
    suite: str
    cases: int  # drafts the fit saw (generated, with no other reason for review)
    target_precision: float
    # None when no threshold reached the target: no generated draft is sent unreviewed.
    threshold: float | None
    means: dict[str, float]
    scales: dict[str, float]
    weights: dict[str, float]
    bias: float
    # Out-of-fold precision by threshold, from which the threshold was chosen.
    curve: list[CurvePoint] = []

    def probability(self, signals: Signals) -> float:
        features = signals.features()
        z = self.bias + sum(
            weight * (features[name] - self.means[name]) / self.scales[name]
            for name, weight in self.weights.items()
        )
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


def calibration_file(data_dir: Path, model: str) -> Path:
    return data_dir / FOLDER / f"{slug(model)}.json"


def save_calibration(calibration: GateCalibration, data_dir: Path) -> Path:
    path = calibration_file(data_dir, calibration.model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(calibration.model_dump_json(indent=2) + "\n")
    return path


def slug(model: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", model.lower()).strip("-")


def load_calibration(data_dir: Path, model: str) -> GateCalibration | None:
    """The owner's calibration for `model`, else the packaged one, else None."""
    for path in (calibration_file(data_dir, model), PACKAGED / f"{slug(model)}.json"):
        if path.is_file():
            try:
                calibration = GateCalibration.model_validate_json(path.read_text())
            except (ValidationError, OSError):
                continue  # a broken file is as good as none: doctor names it
            if calibration.model == model:
                return calibration
    return None
