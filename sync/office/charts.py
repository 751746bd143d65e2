"""Bar charts drawn on the server as inline SVG: no script, no style sheet of their own (the
console's CSP allows neither inline), only SVG presentation attributes.

Each bar is a <rect class="bar"> with its count in `data-value` and its label in `data-label`
and a <title> (the tooltip a browser shows), so what is drawn can be checked against the counts.
Every label is escaped: gate names are typed at the office, but nothing here trusts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

__all__ = ["column_chart", "row_chart"]

BAR = "#2b6cb0"
TEXT = "#333"
AXIS = "#999"
FONT = 11


def _svg(width: float, height: float, label: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width:g} {height:g}" width="100%"'
        f' role="img" aria-label="{escape(label)}">' + "".join(body) + "</svg>"
    )


def column_chart(
    bars: Sequence[tuple[str, int]],
    *,
    label: str,
    width: int = 720,
    height: int = 220,
    every: int = 1,
    colour: str = BAR,
) -> str:
    """Upright bars, one per (label, count), the tallest filling the plot; each bar's count on
    top of it (none for 0), every `every`th label under the axis."""
    top, bottom, side = 18.0, 22.0, 4.0
    plot = height - top - bottom
    peak = max((n for _l, n in bars), default=0)
    slot = (width - 2 * side) / max(len(bars), 1)
    body = [f'<line x1="{side:g}" y1="{top + plot:g}" x2="{width - side:g}" y2="{top + plot:g}" stroke="{AXIS}"/>']
    for i, (name, n) in enumerate(bars):
        h = round(plot * n / peak, 1) if peak else 0.0
        x = side + i * slot
        mid = x + slot / 2
        name_e = escape(name)
        body.append(
            f'<rect class="bar" x="{x + slot * 0.12:.1f}" y="{top + plot - h:.1f}" width="{slot * 0.76:.1f}"'
            f' height="{h:g}" fill="{colour}" data-label="{name_e}" data-value="{n}"><title>{name_e}: {n}</title></rect>'
        )
        if n:
            body.append(
                f'<text x="{mid:.1f}" y="{top + plot - h - 4:.1f}" font-size="{FONT}" text-anchor="middle"'
                f' fill="{TEXT}">{n}</text>'
            )
        if i % max(every, 1) == 0:
            body.append(
                f'<text x="{mid:.1f}" y="{height - 6:g}" font-size="{FONT}" text-anchor="middle"'
                f' fill="{TEXT}">{name_e}</text>'
            )
    return _svg(width, height, label, body)


def row_chart(
    bars: Sequence[tuple[str, int]], *, label: str, width: int = 720, row: int = 22, colour: str = BAR
) -> str:
    """Lying bars, one row per (label, count), for labels too long to stand under a column
    (gate names): the label on the left, the bar, its count after it."""
    left, right, gap = 180.0, 48.0, 4.0
    plot = width - left - right
    peak = max((n for _l, n in bars), default=0)
    height = max(len(bars), 1) * row + gap
    body = []
    for i, (name, n) in enumerate(bars):
        w = round(plot * n / peak, 1) if peak else 0.0
        y = gap + i * row
        name_e = escape(name)
        body.append(
            f'<text x="{left - 6:g}" y="{y + row * 0.65:.1f}" font-size="{FONT}" text-anchor="end"'
            f' fill="{TEXT}">{name_e}</text>'
        )
        body.append(
            f'<rect class="bar" x="{left:g}" y="{y + 3:.1f}" width="{w:g}" height="{row - 6:g}" fill="{colour}"'
            f' data-label="{name_e}" data-value="{n}"><title>{name_e}: {n}</title></rect>'
        )
        body.append(
            f'<text x="{left + w + 4:.1f}" y="{y + row * 0.65:.1f}" font-size="{FONT}" fill="{TEXT}">{n}</text>'
        )
    return _svg(width, height, label, body)
