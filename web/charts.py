"""Small server-side SVG charts for the operator pages: no JavaScript, no build step.

    bars([("Sent automatically", 5), ("Edited", 1)])     # horizontal bars, labels above
    columns([("2026-11-14", 2), ("2026-11-15", 0)])      # one column a day

Each chart scales to its container (a viewBox and width 100%) and is drawn with classes
that web/static/operator.css colours: the Content-Security-Policy allows no inline styles.
Labels are escaped here, so customer text may be passed in.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

ROW = 34  # a bar's label line and the bar below it
BAR = 12
COLUMN_HEIGHT = 80
AXIS = 18  # room under the columns for the first and last labels


def _number(value: float) -> str:
    return f"{value:g}"


def bars(items: Sequence[tuple[str, float]], *, width: int = 360, label: str = "") -> Markup:
    """One horizontal bar per (label, value), the longest as wide as the chart."""
    top = max((value for _, value in items), default=0)
    height = ROW * len(items)
    parts = [
        f'<svg class="chart bars" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(label)}">'
    ]
    for row, (name, value) in enumerate(items):
        y = row * ROW
        length = round(width * value / top, 1) if top else 0
        parts.append(
            f"<g><title>{escape(name)}: {_number(value)}</title>"
            f'<text x="0" y="{y + 13}">{escape(name)}</text>'
            f'<text x="{width}" y="{y + 13}" text-anchor="end" class="value">'
            f"{_number(value)}</text>"
            f'<rect class="track" x="0" y="{y + 18}" width="{width}" height="{BAR}" rx="3"/>'
            f'<rect class="bar" x="0" y="{y + 18}" width="{length}" height="{BAR}" rx="3"/></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def columns(items: Sequence[tuple[str, int]], *, width: int = 360, label: str = "") -> Markup:
    """One column per (label, count), the tallest reaching the top; the first and last
    labels are written under the axis, every label is in its column's tooltip."""
    top = max((value for _, value in items), default=0)
    step = width / len(items) if items else width
    gap = min(2.0, step / 4)
    height = COLUMN_HEIGHT + AXIS
    parts = [
        f'<svg class="chart columns" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(label)}">',
        f'<line class="axis" x1="0" y1="{COLUMN_HEIGHT}" x2="{width}" y2="{COLUMN_HEIGHT}"/>',
    ]
    for index, (name, value) in enumerate(items):
        tall = round(COLUMN_HEIGHT * value / top, 1) if top else 0
        parts.append(
            f"<g><title>{escape(name)}: {value}</title>"
            f'<rect class="bar" x="{round(index * step + gap / 2, 1)}" '
            f'y="{COLUMN_HEIGHT - tall}" width="{round(step - gap, 1)}" height="{tall}"/></g>'
        )
    if items:
        bottom = height - 4
        parts.append(f'<text x="0" y="{bottom}">{escape(items[0][0])}</text>')
        parts.append(
            f'<text x="{width}" y="{bottom}" text-anchor="end">{escape(items[-1][0])}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
