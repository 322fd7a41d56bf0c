"""`support-agent eval` (run a suite, write its report, check the baseline's gates) and
`support-agent calibrate` (run a suite, fit the gate for the configured model, store it)."""

from __future__ import annotations

from pathlib import Path

import click

from agent.calibration import save_calibration
from evals.baseline import check, load_baseline, record
from evals.calibration import MIN_FITTED, correctness, fit, fittable, report_curve, reroute
from evals.datasets import DATASETS, DatasetError
from evals.report import HEADLINE, write
from evals.results import Report
from evals.runner import figures, run_suite
from settings import Settings


def run(
    settings: Settings,
    suite: str,
    report_dir: Path,
    baseline_path: Path,
    update: bool = False,
    datasets: Path = DATASETS,
) -> int:
    """Exit code: 0 when every gate holds, 1 when one fails, 2 for a bad dataset or baseline."""
    try:
        baselines = load_baseline(baseline_path)
    except ValueError as error:
        click.echo(f"error: baseline {baseline_path}: {str(error).splitlines()[0]}", err=True)
        return 2
    try:
        report = run_suite(suite, settings, datasets)
    except DatasetError as error:
        click.echo(f"error: {error}", err=True)
        return 2
    baseline = baselines.get(suite)
    report.gates = check(report, baseline)
    report.baseline_file = str(baseline_path)
    paths = write(report, report_dir, baseline)
    figures = ", ".join(
        f"{name} {value:.0f}" if value >= 100 else f"{name} {value:.3g}"
        for name in HEADLINE
        if (value := report.metrics.get(name)) is not None
    )
    click.echo(f"{report.suite}: {report.n_cases} cases in {report.seconds:.0f} s; {figures}")
    failed = [gate for gate in report.gates if not gate.ok]
    for gate in failed:
        click.echo(f"gate failed: {gate.message}", err=True)
    if baseline is None:
        click.echo(f"no baseline for suite {suite!r} in {baseline_path}; nothing gated", err=True)
    elif not failed:
        click.echo(f"all {len(report.gates)} gates passed")
    if update:
        record(report, baseline_path)
        click.echo(f"baseline for {suite!r} updated in {baseline_path}")
    click.echo(f"report: {paths['html']} (also {paths['markdown'].name}, {paths['json'].name})")
    return 1 if failed else 0


def run_calibration(
    settings: Settings,
    suite: str,
    report_dir: Path,
    datasets: Path = DATASETS,
    from_run: Path | None = None,
) -> int:
    """Exit code: 0 with a threshold that reaches the target, 1 without one, 2 for bad data.

    The run itself is kept as report_dir/run/report.json: `from_run` fits on such a run
    again (another target precision, say) without drafting every case anew.
    """
    if from_run is not None:
        try:
            report = Report.model_validate_json(from_run.read_text())
        except (OSError, ValueError) as error:
            click.echo(f"error: {from_run}: {str(error).splitlines()[0]}", err=True)
            return 2
        for case in report.cases:  # judged again: the rules may have changed since
            case.correct = correctness(case)
        if report.model != settings.llm_model:
            click.echo(
                f"error: {from_run} was run with {report.model}, not {settings.llm_model}", err=True
            )
            return 2
    else:
        try:
            report = run_suite(suite, settings, datasets)
        except DatasetError as error:
            click.echo(f"error: {error}", err=True)
            return 2
        write(report, report_dir / "run", None)
    drafts = sum(fittable(case) for case in report.cases)
    if drafts < MIN_FITTED:
        click.echo(
            f"error: the {report.suite} run has {drafts} drafts to fit on, fewer than "
            f"{MIN_FITTED}; nothing was stored (calibrate on --suite full)",
            err=True,
        )
        return 2
    calibration, probabilities = fit(
        report.cases, model=settings.llm_model, suite=report.suite, target=settings.target_precision
    )
    stored = save_calibration(calibration, settings.data_dir)
    report.cases = reroute(report.cases, calibration, probabilities)
    report.metrics, report.by_suite, _ = figures(report.cases, calibration.threshold)
    report.calibration = report_curve(calibration)
    paths = write(report, report_dir, None)
    click.echo(
        f"{report.suite}: {report.n_cases} cases in {report.seconds:.0f} s with {report.model}"
    )
    click.echo(report.calibration.note)
    precision = report.metrics.get("routing.auto_send_precision")
    rate = report.metrics.get("routing.auto_send_rate")
    click.echo(
        "at that threshold: auto-send precision "
        + (f"{precision:.3f}" if precision is not None else "n/a")
        + ", auto-send rate "
        + (f"{rate:.3f}" if rate is not None else "n/a")
        + f", auto-sent needing review {report.metrics.get('routing.auto_sent_should_review')}"
    )
    click.echo(f"calibration: {stored}")
    click.echo(f"report: {paths['html']} (also {paths['markdown'].name}, {paths['json'].name})")
    return 0 if calibration.threshold is not None else 1
