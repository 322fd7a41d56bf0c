"""Small inline SVG charts for the HTML report, written by hand (no plotting dependency)."""

from __future__ import annotations

import math
from html import escape

WIDTH, HEIGHT = 360, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 26, 36
BLUE, RED, GREY, GREEN = "#3563c9", "#c93535", "#8a8a8a", "#2f9e55"


def _frame(title: str, body: list[str], x_label: str, y_label: str) -> str:
    inner_h = HEIGHT - TOP - BOTTOM
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
            f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" font-size="13">'
            f"{escape(title)}</text>",
            f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" '
            f'y2="{HEIGHT - BOTTOM}" stroke="#333"/>',
            f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#333"/>',
            f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 4}" text-anchor="middle" '
            f'font-size="11">{escape(x_label)}</text>',
            f'<text x="12" y="{TOP + inner_h / 2}" text-anchor="middle" font-size="11" '
            f'transform="rotate(-90 12 {TOP + inner_h / 2})">{escape(y_label)}</text>',
            *body,
            "</svg>",
        ]
    )


def _x(value: float, low: float, high: float) -> float:
    span = (high - low) or 1.0
    return LEFT + (value - low) / span * (WIDTH - LEFT - RIGHT)


def _y(value: float, low: float, high: float) -> float:
    span = (high - low) or 1.0
    return HEIGHT - BOTTOM - (value - low) / span * (HEIGHT - TOP - BOTTOM)


def _ticks(low: float, high: float, axis: str, labels: int = 5) -> list[str]:
    out = []
    for step in range(labels + 1):
        value = low + (high - low) * step / labels
        text = (
            f"{value:.0f}"
            if (high - low) % labels == 0 and high - low >= labels
            else f"{value:.1f}"
        )
        if axis == "x":
            x = _x(value, low, high)
            out.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 13}" text-anchor="middle" '
                f'font-size="10">{text}</text>'
            )
        else:
            y = _y(value, low, high)
            out.append(
                f'<text x="{LEFT - 4}" y="{y + 3:.1f}" text-anchor="end" '
                f'font-size="10">{text}</text>'
            )
    return out


def histogram(title: str, values: list[float], low: float, high: float, bins: int = 10) -> str:
    """Counts of `values` in equal bins between low and high."""
    counts = [0] * bins
    for value in values:
        index = int((min(max(value, low), high) - low) / ((high - low) or 1) * bins)
        counts[min(index, bins - 1)] += 1
    # Whole-number count ticks: the axis top is a multiple of the tick step.
    step = max(1, math.ceil(max(counts, default=0) / 5))
    labels = max(1, math.ceil(max(counts, default=0) / step))
    top = step * labels
    bars = []
    for index, count in enumerate(counts):
        x0 = _x(low + (high - low) * index / bins, low, high)
        x1 = _x(low + (high - low) * (index + 1) / bins, low, high)
        y = _y(count, 0, top)
        bars.append(
            f'<rect x="{x0 + 1:.1f}" y="{y:.1f}" width="{x1 - x0 - 2:.1f}" '
            f'height="{HEIGHT - BOTTOM - y:.1f}" fill="{BLUE}"><title>{count}</title></rect>'
        )
    body = [*bars, *_ticks(low, high, "x"), *_ticks(0, top, "y", labels)]
    return _frame(f"{title} (n={len(values)})", body, title, "cases")


def parity_bars(title: str, parities: dict[str, float]) -> str:
    """One bar per language, red below the dashed line at 1 (as good as English)."""
    reference = 1.0
    top = max(reference, *parities.values()) * 1.1
    width = (WIDTH - LEFT - RIGHT) / len(parities)
    body = []
    for index, (label, value) in enumerate(parities.items()):
        x = LEFT + index * width
        y = _y(value, 0, top)
        body += [
            f'<rect x="{x + 2:.1f}" y="{y:.1f}" width="{width - 4:.1f}" '
            f'height="{HEIGHT - BOTTOM - y:.1f}" fill="{BLUE if value >= reference else RED}">'
            f"<title>{escape(label)} {value:.2f}</title></rect>",
            f'<text x="{x + width / 2:.1f}" y="{HEIGHT - BOTTOM + 13}" text-anchor="middle" '
            f'font-size="10">{escape(label)}</text>',
        ]
    y = _y(reference, 0, top)
    body.append(
        f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{GREEN}" '
        f'stroke-dasharray="5 3"><title>{reference:.2f}</title></line>'
    )
    body += _ticks(0, top, "y")
    return _frame(title, body, "language", "parity")


def scatter_correctness(
    points: list[tuple[float, bool | None, str]], thresholds: dict[str, float | None]
) -> str:
    """Confidence (x) against correct (top row) / wrong (bottom row); unknown in the middle."""
    rows = {True: 0.85, None: 0.5, False: 0.15}
    colors = {True: GREEN, None: GREY, False: RED}
    body = []
    for index, (confidence, correct, label) in enumerate(points):
        jitter = ((index * 37) % 11 - 5) / 100
        body.append(
            f'<circle cx="{_x(confidence, 0, 1):.1f}" cy="{_y(rows[correct] + jitter, 0, 1):.1f}" '
            f'r="4" fill="{colors[correct]}" fill-opacity="0.75"><title>{escape(label)} '
            f"{confidence:.2f}</title></circle>"
        )
    for name, (value, color) in {
        "configured": (thresholds.get("configured"), GREY),
        "chosen": (thresholds.get("chosen"), BLUE),
    }.items():
        if value is not None:
            x = _x(value, 0, 1)
            body.append(
                f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" '
                f'stroke="{color}" stroke-dasharray="4 3"><title>{name} {value:.2f}</title></line>'
            )
    for row, text in ((0.85, "correct"), (0.5, "unknown"), (0.15, "wrong")):
        body.append(
            f'<text x="{LEFT + 3}" y="{_y(row, 0, 1) - 7:.1f}" font-size="9" '
            f'fill="#555">{text}</text>'
        )
    body += _ticks(0, 1, "x")
    return _frame("Confidence vs correctness", body, "confidence", "")


def calibration_curve(
    points: list[tuple[float, float | None, float]], chosen: float | None, target: float
) -> str:
    """Auto-send precision (blue) and the share of drafts sent (grey) per threshold."""
    precision = [(t, p) for t, p, _ in points if p is not None]
    body = []
    if precision:
        path = " ".join(f"{_x(t, 0, 1):.1f},{_y(p, 0, 1):.1f}" for t, p in precision)
        body.append(f'<polyline points="{path}" fill="none" stroke="{BLUE}" stroke-width="2"/>')
    sent = " ".join(f"{_x(t, 0, 1):.1f},{_y(s, 0, 1):.1f}" for t, _, s in points)
    body.append(f'<polyline points="{sent}" fill="none" stroke="{GREY}" stroke-dasharray="3 2"/>')
    y = _y(target, 0, 1)
    body.append(
        f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{GREEN}" '
        f'stroke-dasharray="5 3"><title>target {target:.2f}</title></line>'
    )
    chosen_point = next((p for t, p in precision if t == chosen), None)
    if chosen is not None and chosen_point is not None:
        body.append(
            f'<circle cx="{_x(chosen, 0, 1):.1f}" cy="{_y(chosen_point, 0, 1):.1f}" r="6" '
            f'fill="none" stroke="{RED}" stroke-width="2"><title>chosen {chosen:.2f}: '
            f"precision {chosen_point:.2f}</title></circle>"
        )
    body += _ticks(0, 1, "x") + _ticks(0, 1, "y")
    return _frame("Auto-send precision by threshold", body, "threshold", "precision / share sent")
