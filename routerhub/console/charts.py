"""Server-rendered SVG charts for the console: no JavaScript, no chart library, nothing fetched.
Plain Python: numbers in, an SVG string out (escaped; the templates mark it safe)."""
from __future__ import annotations

from html import escape

import numpy as np

WIDTH, HEIGHT = 640, 240
PAD = {"left": 52, "right": 16, "top": 14, "bottom": 38}
COLORS = ["#2563eb", "#16a34a", "#9333ea", "#ea580c", "#64748b"]


def _frame(inner: str, *, title: str, x_label: str, y_label: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{inner}'
            f'<text class="axis-label" x="{width / 2}" y="{height - 4}" text-anchor="middle">{escape(x_label)}</text>'
            f'<text class="axis-label" transform="translate(12 {height / 2}) rotate(-90)" text-anchor="middle">'
            f'{escape(y_label)}</text></svg>')


def _scale(lo: float, hi: float, a: float, b: float):
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    return list(np.linspace(lo, hi, n))


def line_chart(series: list[dict], *, title: str, x_label: str, y_label: str, x_labels: list[str] | None = None,
               y_range: tuple[float, float] | None = None, y_format: str = "{:.2f}",
               x_format: str = "{:.0%}") -> str:
    """`series`: [{"name", "x": [...], "y": [...], "dashed"?: bool}]. Numeric x, or positions with
    `x_labels` (e.g. dates)."""
    xs = [x for s in series for x in s["x"]]
    ys = [y for s in series for y in s["y"] if y is not None]
    if not xs or not ys:
        return _frame('<text x="50%" y="50%" text-anchor="middle" class="empty">no data yet</text>', title=title,
                      x_label=x_label, y_label=y_label)
    x_lo, x_hi = min(xs), max(xs)
    y_lo, y_hi = y_range or (min(ys), max(ys))
    if y_hi == y_lo:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
    sx = _scale(x_lo, x_hi, PAD["left"], WIDTH - PAD["right"])
    sy = _scale(y_lo, y_hi, HEIGHT - PAD["bottom"], PAD["top"])
    parts = []
    for y in _ticks(y_lo, y_hi):
        parts.append(f'<line class="grid" x1="{PAD["left"]}" x2="{WIDTH - PAD["right"]}" y1="{sy(y):.1f}" '
                     f'y2="{sy(y):.1f}"/><text class="tick" x="{PAD["left"] - 6}" y="{sy(y) + 4:.1f}" '
                     f'text-anchor="end">{escape(y_format.format(y))}</text>')
    if x_labels:
        step = max(1, len(x_labels) // 6)
        for i in range(0, len(x_labels), step):
            anchor = "end" if i == len(x_labels) - 1 and i > 0 else "middle"
            parts.append(f'<text class="tick" x="{sx(i):.1f}" y="{HEIGHT - PAD["bottom"] + 16}" '
                         f'text-anchor="{anchor}">{escape(x_labels[i])}</text>')
    else:
        for x in _ticks(x_lo, x_hi):
            parts.append(f'<text class="tick" x="{sx(x):.1f}" y="{HEIGHT - PAD["bottom"] + 16}" '
                         f'text-anchor="middle">{escape(x_format.format(x))}</text>')
    legend, legend_x = [], PAD["left"] + 8
    for i, s in enumerate(series):
        color = s.get("color") or COLORS[i % len(COLORS)]
        points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(s["x"], s["y"]) if y is not None)
        dash = ' stroke-dasharray="5 4"' if s.get("dashed") else ""
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{points}"/>')
        if not s.get("dashed") and len(s["x"]) <= 40:
            parts.extend(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}"/>'
                         for x, y in zip(s["x"], s["y"]) if y is not None)
        legend.append(f'<g transform="translate({legend_x} {PAD["top"] + 4})">'
                      f'<rect width="10" height="10" fill="{color}"/><text class="legend" x="14" y="9">'
                      f'{escape(s["name"])}</text></g>')
        legend_x += 28 + 6 * len(s["name"])  # about 6 px per character at 11 px
    return _frame("".join(parts + legend), title=title, x_label=x_label, y_label=y_label)


def histogram(values, *, title: str, x_label: str, bins: int = 20, marker: float | None = None,
              marker_label: str = "") -> str:
    """A histogram of values in [0, 1], with a vertical marker (the routing threshold)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return _frame('<text x="50%" y="50%" text-anchor="middle" class="empty">no routed requests yet</text>',
                      title=title, x_label=x_label, y_label="requests")
    counts, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    sx = _scale(0.0, 1.0, PAD["left"], WIDTH - PAD["right"])
    peak = int(counts.max())
    top = max(4, peak + (-peak) % 4)  # counts are whole: to a multiple of 4, so every tick is a whole number
    sy = _scale(0, top, HEIGHT - PAD["bottom"], PAD["top"])
    parts = []
    for y in range(0, top + 1, top // 4):
        parts.append(f'<line class="grid" x1="{PAD["left"]}" x2="{WIDTH - PAD["right"]}" y1="{sy(y):.1f}" '
                     f'y2="{sy(y):.1f}"/><text class="tick" x="{PAD["left"] - 6}" y="{sy(y) + 4:.1f}" '
                     f'text-anchor="end">{y:.0f}</text>')
    for count, lo, hi in zip(counts, edges[:-1], edges[1:]):
        above = marker is not None and lo >= marker
        parts.append(f'<rect class="{"bar strong" if above else "bar"}" x="{sx(lo) + 1:.1f}" y="{sy(count):.1f}" '
                     f'width="{sx(hi) - sx(lo) - 2:.1f}" height="{sy(0) - sy(count):.1f}">'
                     f'<title>{lo:.2f}–{hi:.2f}: {count}</title></rect>')
    for x in _ticks(0.0, 1.0, 6):
        parts.append(f'<text class="tick" x="{sx(x):.1f}" y="{HEIGHT - PAD["bottom"] + 16}" '
                     f'text-anchor="middle">{x:.1f}</text>')
    if marker is not None:
        parts.append(f'<line class="marker" x1="{sx(marker):.1f}" x2="{sx(marker):.1f}" y1="{PAD["top"]}" '
                     f'y2="{HEIGHT - PAD["bottom"]}"/><text class="marker-label" x="{sx(marker) + 4:.1f}" '
                     f'y="{PAD["top"] + 10}">{escape(marker_label)}</text>')
    return _frame("".join(parts), title=title, x_label=x_label, y_label="requests")
