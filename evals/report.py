"""The run's report: report.json (machine-readable), report.md and a self-contained report.html."""

from __future__ import annotations

from html import escape
from pathlib import Path

from evals import plots
from evals.baseline import SuiteBaseline
from evals.metrics import PARITY, by_language
from evals.ragas_metrics import JUDGED, NON_LLM
from evals.results import CaseResult, Report

MEANING = {
    "retrieval.hit@1": "share of questions whose first hit is a reference document",
    "retrieval.hit@5": "share of questions with a reference document in the top 5",
    "retrieval.mrr": "mean reciprocal rank of the first reference document",
    "context.precision": "ragas ID-based: share of the agent's 4 passages that are references",
    "context.recall": "ragas ID-based: share of reference documents among the agent's passages",
    "answers.string_similarity": "ragas Levenshtein similarity of reply and reference answer",
    "answers.semantic_similarity": "ragas cosine similarity of reply and reference (MiniLM)",
    "answers.faithfulness": "ragas (judge): share of the reply's claims the passages support",
    "answers.response_relevancy": "ragas (judge): how directly the reply answers the question",
    "answers.factual_correctness": "ragas (judge): claim-level F1 of reply against reference",
    "tools.call_accuracy": "ragas: expected tool calls made with the expected arguments",
    "citations.validity": "cited documents that were retrieved and back part of the reply",
    "routing.precision": "drafts sent to review that should have been reviewed",
    "routing.recall": "drafts that should be reviewed and were",
    "routing.accuracy": "drafts routed as expected",
    "routing.auto_sent_should_review": "auto-sent drafts that needed a person, any language",
    "routing.auto_send_precision": "auto-sent drafts that were correct",
    "routing.auto_send_rate": "share of the drafts that should be sent that were sent",
    "safety.violations": "cases with a forbidden string in a reply or tool result, any language",
    "latency.mean_ms": "mean latency of the scored turn, ms",
    "latency.p95_ms": "95th percentile latency of the scored turn, ms",
    "cost.tokens_per_case": "prompt + completion tokens per case (all turns)",
    "cost.usd_per_case": "LLM cost per case (local models cost 0)",
    "cases.errors": "cases whose run raised an error, any language",
    "judge.failures": "judge calls that failed (score left empty)",
    "calibration.chosen_threshold": "lowest auto-send threshold reaching the target precision",
    "calibration.chosen_precision": "auto-send precision at the chosen threshold",
    "safety.violations_sent": "of those, drafts sent without review",
    "calibration.precision_at_configured": "auto-send precision at the configured threshold",
    **{f"parity.{name}": f"lowest parity with English of any language: {name}" for name in PARITY},
}


def write(report: Report, folder: Path, baseline: SuiteBaseline | None) -> dict[str, Path]:
    """The three files; their figures per language come from the cases as they are now (a
    calibration report re-routes the run's cases)."""
    languages = by_language(report.cases)
    report = report.model_copy(update={"by_language": languages if len(languages) > 1 else {}})
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": folder / "report.json",
        "markdown": folder / "report.md",
        "html": folder / "report.html",
    }
    paths["json"].write_text(report.model_dump_json(indent=2), encoding="utf-8")
    paths["markdown"].write_text(markdown(report, baseline), encoding="utf-8")
    paths["html"].write_text(html(report, baseline), encoding="utf-8")
    return paths


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.3f}"


def _metric_rows(report: Report, baseline: SuiteBaseline | None) -> list[tuple[str, ...]]:
    before = baseline.metrics if baseline else {}
    rows = []
    for name, value in report.metrics.items():
        old = before.get(name)
        delta = f"{value - old:+.3f}" if value is not None and old is not None else ""
        rows.append((name, _fmt(value), _fmt(old), delta, MEANING.get(name, "")))
    return rows


HEADLINE = (
    "retrieval.hit@5",
    "retrieval.mrr",
    "context.recall",
    "answers.semantic_similarity",
    "tools.call_accuracy",
    "routing.recall",
    "routing.auto_sent_should_review",
    "safety.violations",
    "latency.mean_ms",
)


def _suite_rows(report: Report) -> list[tuple[str, ...]]:
    return [
        (name, *(_fmt(figures.get(metric)) for metric in HEADLINE))
        for name, figures in report.by_suite.items()
    ]


LANGUAGE_NOTE = (
    "Each cell: the metric over the language's cases, and in brackets its parity with "
    "English: the language's translated cases against their English originals in this run "
    "(1.00 = as good as English; for latency, cost and counts, above 1 is worse)."
)


def _language_rows(report: Report) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """One row per metric measured in some language, one column per language."""
    languages = report.by_language
    head = ("metric", *languages)
    rows = [("cases (translated)", *(f"{f.cases} ({f.translated})" for f in languages.values()))]
    every = dict.fromkeys(name for figures in languages.values() for name in figures.metrics)
    names = [
        name
        for name in every
        if any(figures.metrics.get(name) is not None for figures in languages.values())
    ]
    for name in names:
        cells = []
        for figures in languages.values():
            parity = figures.parity.get(name)
            cell = _fmt(figures.metrics.get(name))
            cells.append(cell if parity is None else f"{cell} ({parity:.2f})")
        rows.append((name, *cells))
    return head, rows


def _case_row(case: CaseResult) -> tuple[str, ...]:
    similarity = case.scores.get("answers.semantic_similarity")
    notes = []
    if case.error:
        notes.append(f"error: {case.error}")
    if case.violations:
        notes.append("forbidden: " + ", ".join(case.violations))
    if case.decision == "send" and case.expected_decision == "review":
        notes.append("auto-sent, should review")
    return (
        case.id,
        case.suite,
        case.language,
        f"{case.decision or '–'} / {case.expected_decision or '–'}",
        _fmt(case.confidence),
        {True: "yes", False: "no", None: "–"}[case.correct],
        _fmt(similarity),
        _fmt(case.latency_ms),
        "; ".join(notes),
    )


CASE_HEAD = ("case", "suite", "language", "decision / expected", "confidence", "ok to send",
             "similarity", "latency ms", "notes")  # fmt: skip


def markdown(report: Report, baseline: SuiteBaseline | None) -> str:
    lines = [
        f"# Eval report: `{report.suite}`",
        "",
        f"{report.n_cases} cases, model `{report.model}`, judge `{report.judge_model or 'none'}`, "
        f"{report.seconds:.0f} s, started {report.started_at}.",
        "",
    ]
    if report.gates:
        failed = [gate for gate in report.gates if not gate.ok]
        lines += [f"## Gates: {'FAILED' if failed else 'passed'}", ""]
        lines += [f"- {'✗' if not gate.ok else '✓'} {gate.message}" for gate in report.gates]
        lines.append("")
    lines += [
        "## Metrics",
        "",
        "| metric | value | baseline | Δ | meaning |",
        "|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in _metric_rows(report, baseline)]
    if report.by_suite:
        lines += ["", "## By dataset", "", "| dataset | " + " | ".join(HEADLINE) + " |"]
        lines.append("|---" * (len(HEADLINE) + 1) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in _suite_rows(report)]
    if report.by_language:
        head, rows = _language_rows(report)
        lines += ["", "## By language", "", LANGUAGE_NOTE, "", "| " + " | ".join(head) + " |"]
        lines.append("|---" * len(head) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    if report.calibration:
        cal = report.calibration
        lines += [
            "",
            "## Calibration",
            "",
            cal.note,
            "",
            "| threshold | sent | correct | precision |",
        ]
        lines.append("|---|---|---|---|")
        for point in cal.points:
            mark = " ← chosen" if point.threshold == cal.chosen_threshold else ""
            lines.append(
                f"| {point.threshold:.2f}{mark} | {point.sent} | {point.correct} "
                f"| {_fmt(point.precision)} |"
            )
    lines += [
        "",
        "## Cases",
        "",
        "| " + " | ".join(CASE_HEAD) + " |",
        "|---" * len(CASE_HEAD) + "|",
    ]
    lines += [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in _case_row(case)) + " |"
        for case in report.cases
    ]
    return "\n".join(lines) + "\n"


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1200px; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.fail { color: #c93535; font-weight: 600; } .ok { color: #2f9e55; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
.plots svg { border: 1px solid #eee; background: #fff; }
"""


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    cells = "".join(f"<th>{escape(cell)}</th>" for cell in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _charts(report: Report) -> list[str]:
    charts = []
    for name in (*NON_LLM, *JUDGED):
        values = [c.scores[name] for c in report.cases if c.scores.get(name) is not None]
        if values:
            charts.append(plots.histogram(name, values, 0.0, 1.0))
    if report.calibration:
        cal = report.calibration
        scored = [c for c in report.cases if c.confidence is not None]
        points = [(c.confidence, c.correct, c.id) for c in scored]
        charts.append(
            plots.scatter_correctness(
                points, {"configured": cal.configured_threshold, "chosen": cal.chosen_threshold}
            )
        )
        total = max(len([c for c in scored if c.correct is not None]), 1)
        curve = [(p.threshold, p.precision, p.sent / total) for p in cal.points]
        charts.append(plots.calibration_curve(curve, cal.chosen_threshold, cal.target_precision))
    for name in PARITY:
        parities = {
            language: ratio
            for language, figures in report.by_language.items()
            if (ratio := figures.parity.get(name)) is not None
        }
        if parities:
            charts.append(plots.parity_bars(f"Parity with English: {name}", parities))
    latencies = [c.latency_ms / 1000 for c in report.cases if c.latency_ms is not None]
    if latencies:
        charts.append(plots.histogram("latency s", latencies, 0.0, max(max(latencies), 1.0)))
    return charts


def html(report: Report, baseline: SuiteBaseline | None) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Eval report: {escape(report.suite)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Eval report: {escape(report.suite)}</h1>",
        f"<p>{report.n_cases} cases, model <code>{escape(report.model)}</code>, judge "
        f"<code>{escape(report.judge_model or 'none')}</code>, {report.seconds:.0f} s, "
        f"started {escape(report.started_at)}.</p>",
    ]
    if report.gates:
        failed = any(not gate.ok for gate in report.gates)
        parts.append(f"<h2 class='{'fail' if failed else 'ok'}'>Gates: "
                     f"{'FAILED' if failed else 'passed'}</h2><ul>")  # fmt: skip
        parts += [
            f"<li class='{'ok' if gate.ok else 'fail'}'>{escape(gate.message)}</li>"
            for gate in report.gates
        ]
        parts.append("</ul>")
    parts += ["<h2>Plots</h2><div class='plots'>", *_charts(report), "</div>"]
    parts += [
        "<h2>Metrics</h2>",
        _table(("metric", "value", "baseline", "Δ", "meaning"), _metric_rows(report, baseline)),
    ]
    if report.by_suite:
        parts += ["<h2>By dataset</h2>", _table(("dataset", *HEADLINE), _suite_rows(report))]
    if report.by_language:
        head, rows = _language_rows(report)
        parts += ["<h2>By language</h2>", f"<p>{escape(LANGUAGE_NOTE)}</p>", _table(head, rows)]
    if report.calibration:
        cal = report.calibration
        rows = [
            (
                f"{p.threshold:.2f}" + (" ← chosen" if p.threshold == cal.chosen_threshold else ""),
                str(p.sent),
                str(p.correct),
                _fmt(p.precision),
            )
            for p in cal.points
        ]
        parts += [
            f"<h2>Calibration</h2><p>{escape(cal.note)}</p>",
            _table(("threshold", "sent", "correct", "precision"), rows),
        ]
    parts += ["<h2>Cases</h2>", _table(CASE_HEAD, [_case_row(c) for c in report.cases])]
    parts.append("</body></html>")
    return "\n".join(parts)
