"""`support-agent eval`: run a suite, write its report, check the baseline's gates."""

from __future__ import annotations

from pathlib import Path

import click

from evals.baseline import check, load_baseline, record
from evals.datasets import DATASETS, DatasetError
from evals.report import HEADLINE, write
from evals.runner import run_suite
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
    click.echo(f"{suite}: {report.n_cases} cases in {report.seconds:.0f} s; {figures}")
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
