"""The calibrated gate: fitted on eval runs, applied per model, and honest when missing."""

from __future__ import annotations

import random
import re
from types import SimpleNamespace

import pytest

from agent.calibration import GateCalibration, Signals, load_calibration, save_calibration
from agent.draft import AnswerType, Decision, ReasonCode
from agent.gate import assess
from agent.turn import yes_probability
from doctor import _calibration, run_check
from evals.calibration import fit, reroute
from evals.metrics import routing
from evals.results import CaseResult, Report
from settings import Settings
from tests.conftest import run_cli
from tests.test_gate import FAQ, REPLY

MODEL = "local/qwen2.5-1.5b"


def _signals(self_check: float, **extra) -> Signals:
    values = {"top_score": 0.7, "margin": 0.1, "by_question": False, "grounding": 1.0}
    return Signals(**{**values, "self_check": self_check, **extra})


def _case(number: int, self_check: float, correct: bool, **extra) -> CaseResult:
    return CaseResult(
        id=f"case-{number}",
        suite="answers",
        question="How long do I have to return something?",
        reply="x",
        decision="review",
        expected_decision="send" if correct else "review",
        answer_type=AnswerType.GENERATED,
        signals=_signals(self_check),
        correct=correct,
        **extra,
    )


def _trusting(threshold: float | None, model: str = MODEL) -> GateCalibration:
    """A calibration that believes the self-check and nothing else."""
    names = list(_signals(1.0).features())
    return GateCalibration(
        model=model,
        fitted_at="2026-11-28T00:00:00+00:00",
        suite="full",
        cases=40,
        target_precision=0.95,
        threshold=threshold,
        means=dict.fromkeys(names, 0.0) | {"self_check": 0.75},
        scales=dict.fromkeys(names, 1.0) | {"self_check": 0.1},
        weights=dict.fromkeys(names, 0.0) | {"self_check": 2.0},
        bias=0.0,
    )


def _judge(**extra):
    return assess(
        message="How long do I have to return something?",
        reply=REPLY,
        hits=[FAQ],
        cited=[FAQ],
        invalid_citations=[],
        tool_calls=[],
        flags=[],
        model=MODEL,
        **extra,
    )


# The gate


def test_an_uncalibrated_model_sends_none_of_its_drafts_but_the_owners_faq_answer_goes_out():
    written = _judge(self_check=1.0)
    assert written.decision == Decision.REVIEW
    assert [reason.code for reason in written.reasons] == [ReasonCode.UNCALIBRATED]
    assert "support-agent calibrate" in written.reasons[0].text
    assert _judge(templated=True).decision == Decision.SEND


def test_a_calibrated_model_sends_only_drafts_whose_probability_clears_the_threshold():
    sure = _judge(calibration=_trusting(0.8), self_check=0.95)
    assert sure.decision == Decision.SEND
    assert sure.confidence == pytest.approx(0.982, abs=0.001)
    unsure = _judge(calibration=_trusting(0.8), self_check=0.7)
    assert unsure.decision == Decision.REVIEW
    assert [reason.code for reason in unsure.reasons] == [ReasonCode.LOW_CONFIDENCE]
    assert "below the auto-send threshold 0.80" in unsure.reasons[0].text


def test_a_threshold_the_owner_fixed_replaces_the_calibrated_one():
    assert _judge(calibration=_trusting(0.8), self_check=0.7, threshold=0.2).decision == "send"
    assert _judge(calibration=_trusting(0.1), self_check=0.95, threshold=0.99).decision == "review"


def test_a_calibration_that_reached_no_threshold_holds_every_generated_draft():
    held = _judge(calibration=_trusting(None), self_check=1.0)
    assert held.decision == Decision.REVIEW
    assert [reason.code for reason in held.reasons] == [ReasonCode.UNCALIBRATED]
    assert "reached no threshold with precision 0.95" in held.reasons[0].text


def test_a_doubting_self_check_holds_the_draft_whatever_the_calibration_says():
    doubted = _judge(calibration=_trusting(0.0), self_check=0.3)
    assert doubted.decision == Decision.REVIEW
    assert ReasonCode.SELF_CHECK_FAILED in [reason.code for reason in doubted.reasons]


def test_the_gate_reports_the_signals_it_weighed():
    signals = _judge(self_check=0.9).signals
    assert signals.top_score == 0.8 and signals.grounding == 1.0 and signals.cited
    assert signals.self_check == 0.9 and not signals.looked_up


# The self-check's probability


def _choice(text: str, top: list[tuple[str, float]] | None):
    logprobs = None
    if top is not None:
        tokens = [SimpleNamespace(token=token, logprob=logprob) for token, logprob in top]
        first = SimpleNamespace(token=top[0][0], logprob=top[0][1], top_logprobs=tokens)
        logprobs = SimpleNamespace(content=[first])
    return SimpleNamespace(message=SimpleNamespace(content=text), logprobs=logprobs)


def test_the_self_checks_probability_comes_from_the_first_tokens_log_probabilities():
    choice = _choice("YES", [("YES", -0.3), ("NO", -1.5), ("Yes", -3.0), ("The", -4.0)])
    expected = (0.7408 + 0.0498) / (0.7408 + 0.0498 + 0.2231)
    assert yes_probability(choice) == pytest.approx(expected, abs=1e-3)


def test_without_log_probabilities_the_self_check_is_its_word():
    assert yes_probability(_choice("YES.", None)) == 1.0
    assert yes_probability(_choice("No", None)) == 0.0


# Fitting


def test_the_fit_learns_which_signal_tells_right_from_wrong_and_reaches_the_target():
    shuffle = random.Random(7)
    cases = [_case(n, 0.9 + shuffle.random() / 10, True) for n in range(30)]
    cases += [_case(n, 0.5 + shuffle.random() / 5, False) for n in range(30, 50)]
    cases += [_case(n, 0.95, False) for n in range(50, 52)]  # fluent and wrong
    cases.append(_case(99, 0.99, False, blockers=["The customer asks for a refund."]))
    calibration, held_out = fit(cases, model=MODEL, suite="full", target=0.9)
    assert calibration.model == MODEL and calibration.cases == 52
    assert calibration.weights["self_check"] > 1 and "case-99" not in held_out
    assert calibration.threshold is not None
    chosen = next(p for p in calibration.curve if p.threshold == calibration.threshold)
    assert chosen.precision >= 0.9 and chosen.sent >= 20
    figures = routing(reroute(cases, calibration, held_out))
    assert figures["routing.auto_send_precision"] >= 0.9
    assert figures["routing.auto_send_rate"] >= 0.6


def test_signals_that_tell_nothing_reach_no_threshold():
    shuffle = random.Random(3)
    cases = [_case(n, shuffle.random(), shuffle.random() < 0.6) for n in range(60)]
    calibration, held_out = fit(cases, model=MODEL, suite="full", target=0.95)
    assert calibration.threshold is None
    assert all(case.decision == "review" for case in reroute(cases, calibration, held_out))


@pytest.mark.parametrize("seed", [57, 75, 182, 196, 281, 288, 290])
def test_the_stored_model_itself_reaches_the_target_at_the_chosen_threshold(seed):
    # Noisy runs where a threshold chosen on out-of-fold probabilities alone let the
    # stored model, fitted on every draft and surer than its folds, send wrong ones.
    rng = random.Random(seed)
    cases = []
    for number in range(40):
        self_check = rng.random()
        cases.append(_case(number, round(self_check, 3), rng.random() < self_check**0.5))
    calibration, _ = fit(cases, model=MODEL, suite="full")
    if calibration.threshold is None:
        return
    threshold = calibration.threshold
    sent = [case for case in cases if calibration.probability(case.signals) >= threshold]
    assert sum(case.correct for case in sent) >= 0.95 * len(sent)


# Where calibrations live


def test_a_calibration_applies_only_to_the_model_it_was_fitted_on(tmp_path):
    save_calibration(_trusting(0.8, model="openai/gpt-4o-mini"), tmp_path)
    assert load_calibration(tmp_path, "openai/gpt-4o-mini").threshold == 0.8
    assert load_calibration(tmp_path, "openai/gpt-4o") is None


def test_the_owners_own_calibration_wins_and_a_broken_one_counts_as_none(tmp_path):
    own = save_calibration(_trusting(0.42, model="openai/gpt-4o-mini"), tmp_path)
    assert load_calibration(tmp_path, "openai/gpt-4o-mini").threshold == 0.42
    own.write_text("{not json")
    assert load_calibration(tmp_path, "openai/gpt-4o-mini") is None


def test_doctor_says_when_no_generated_draft_will_ever_be_sent(tmp_path):
    settings = Settings(data_dir=tmp_path, llm_model="openai/gpt-4o-mini")
    missing = run_check("calibration", _calibration, settings)
    assert missing.ok and missing.warning
    assert "not calibrated: every generated draft waits for review" in missing.detail
    save_calibration(_trusting(0.8, model="openai/gpt-4o-mini"), tmp_path)
    calibrated = run_check("calibration", _calibration, settings)
    assert not calibrated.warning and "probability ≥ 0.80" in calibrated.detail
    (tmp_path / "calibration" / "openai-gpt-4o-mini.json").write_text("[]")
    broken = run_check("calibration", _calibration, settings)
    assert broken.warning and "is unreadable" in broken.detail


# The command


def test_calibrate_fits_on_an_earlier_run_and_stores_the_gate_for_that_model(tmp_path):
    shuffle = random.Random(11)
    cases = [_case(n, 0.85 + shuffle.random() / 7, True) for n in range(30)]
    cases += [_case(n, 0.4 + shuffle.random() / 3, False) for n in range(30, 50)]
    run = tmp_path / "run.json"
    run.write_text(
        Report(
            suite="full",
            model="openai/gpt-4o-mini",
            judge_model=None,
            started_at="2026-11-28T12:00:00+00:00",
            seconds=1.0,
            n_cases=len(cases),
            metrics={},
            calibration=None,
            cases=cases,
        ).model_dump_json()
    )
    env = {
        "SUPPORT_DATA_DIR": str(tmp_path / "data"),
        "SUPPORT_LLM_MODEL": "openai/gpt-4o-mini",
        "SUPPORT_TARGET_PRECISION": "0.9",
    }
    report = tmp_path / "report"
    result = run_cli("calibrate", "--from-run", str(run), "--report", str(report), env=env)
    assert result.returncode == 0, result.stderr
    assert "the stored model's own, ≥ 0.90" in result.stdout
    precision = re.search(r"auto-send precision ([\d.]+)", result.stdout)
    assert float(precision.group(1)) >= 0.9, result.stdout
    stored = load_calibration(tmp_path / "data", "openai/gpt-4o-mini")
    assert stored.threshold is not None and stored.cases == 50 and stored.suite == "full"
    assert "← chosen" in (report / "report.md").read_text()
    other = {**env, "SUPPORT_LLM_MODEL": "openai/gpt-4o"}
    refused = run_cli("calibrate", "--from-run", str(run), env=other)
    assert refused.returncode == 2 and "was run with openai/gpt-4o-mini" in refused.stderr
    assert load_calibration(tmp_path / "data", "openai/gpt-4o") is None


def test_a_run_with_too_few_drafts_or_a_broken_file_is_refused_and_keeps_the_stored_gate(
    tmp_path,
):
    kept = save_calibration(_trusting(0.8, model="openai/gpt-4o-mini"), tmp_path / "data")
    env = {"SUPPORT_DATA_DIR": str(tmp_path / "data"), "SUPPORT_LLM_MODEL": "openai/gpt-4o-mini"}
    few = tmp_path / "few.json"
    few.write_text(
        Report(
            suite="retrieval",
            model="openai/gpt-4o-mini",
            judge_model=None,
            started_at="2026-11-28T12:00:00+00:00",
            seconds=1.0,
            n_cases=3,
            metrics={},
            calibration=None,
            cases=[_case(n, 0.9, True) for n in range(3)],
        ).model_dump_json()
    )
    refused = run_cli("calibrate", "--from-run", str(few), env=env)
    assert refused.returncode == 2
    assert "3 drafts to fit on" in refused.stderr and "--suite full" in refused.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"suite": "full", "cases": [')
    unreadable = run_cli("calibrate", "--from-run", str(broken), env=env)
    assert unreadable.returncode == 2 and f"error: {broken}" in unreadable.stderr
    assert load_calibration(tmp_path / "data", "openai/gpt-4o-mini").threshold == 0.8
    assert kept.is_file()
