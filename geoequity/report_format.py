"""How the reports write numbers and text into HTML, and draw a line chart: one rule for every
report (:mod:`geoequity.report`, :mod:`geoequity.evaluation_report`,
:mod:`geoequity.report_years`, :mod:`geoequity.report_plans`).

A module of its own so that each report imports it without importing another (``report``
imports ``evaluation_report``; the reverse would be a cycle).

Numbers (:func:`number`, for values of no known kind: indicator values, chart ticks, trend
figures): thousands separators; at most three significant digits, never fewer than the whole
part, no trailing zeros: whole numbers as they are (``1,234``, ``5``), ``>= 100`` rounded to
whole (``1,234.6`` as ``1,235``; a half to the even neighbour, as Python rounds: ``1,234.5`` as
``1,234``), ``10`` to ``100`` one decimal (``12.3``), ``1`` to ``10`` two decimals
(``4.56``, ``5.5``), below ``1`` three significant digits (``0.123``, ``0.0456``); missing as a
dash, infinite as ``∞`` (``-∞`` below zero).
Kinds of numbers with a fixed rounding (counts, ratios, shares, costs) use :func:`fixed` and
:func:`share` (the report's ``FORMATS``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["escape", "number", "fixed", "share", "svg_lines", "svg_open", "DASH"]

#: A missing value as the reports show it.
DASH = "–"


def escape(x: object) -> str:
    """``x`` as HTML text (quotes escaped too: safe inside attributes)."""
    return html.escape(str(x), quote=True)


def number(x: object) -> str:
    """A number of no known kind, by the rule of the module docstring."""
    if x is None:
        return DASH
    if isinstance(x, bool | np.bool_):
        return str(bool(x))
    if isinstance(x, int | np.integer):
        return f"{int(x):,}"
    if not isinstance(x, float | np.floating):
        return str(x)
    v = float(x)
    if not math.isfinite(v):
        return _not_finite(v)
    if abs(v) < 1e-9:
        return "0"
    a = abs(v)
    if v == int(v) or a >= 100:
        out = f"{v:,.0f}"
    elif a >= 1:   # 10-100: one decimal, 1-10: two; trailing zeros dropped (5.50 -> 5.5)
        out = f"{v:,.{1 if a >= 10 else 2}f}".rstrip("0").rstrip(".")
    else:
        out = f"{v:.3g}"
    return _no_minus_zero(out)


def fixed(x: object, digits: int) -> str:
    """``x`` with ``digits`` decimals and thousands separators (``-0`` as ``0``); text as it
    is, missing as a dash."""
    if x is None or isinstance(x, str):
        return DASH if x is None else x
    v = float(x)
    if not math.isfinite(v):
        return _not_finite(v)
    return _no_minus_zero(f"{v:,.{digits}f}")


def _not_finite(v: float) -> str:
    """A missing (NaN) or infinite value as the reports show it."""
    return DASH if math.isnan(v) else ("∞" if v > 0 else "-∞")


def _no_minus_zero(out: str) -> str:
    """``out`` without the minus of a value that rounded to zero (``-0.00`` as ``0.00``)."""
    return out[1:] if out.startswith("-") and float(out.replace(",", "")) == 0 else out


def share(x: object) -> str:
    """A share (0-1) as a percentage with one decimal: ``0.123`` -> ``12.3%``."""
    if x is None or isinstance(x, str):
        return DASH if x is None else x
    v = float(x)
    return DASH if not np.isfinite(v) else f"{100 * v:.1f}%"


def svg_open(w: int, h: int, title: str, cls: str) -> list[str]:
    """The opening lines of every report chart: the ``<svg>`` element (classes ``chart`` and
    ``cls``), its accessible title and the title text centred on top."""
    return [f'<svg class="chart {escape(cls)}" xmlns="http://www.w3.org/2000/svg" '
            f'viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
            f'aria-label="{escape(title)}">',
            f"<title>{escape(title)}</title>",
            f'<text x="{w / 2}" y="18" text-anchor="middle" class="ct">{escape(title)}</text>']


_PALETTE = ["#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#66a182", "#8d6a9f", "#00798c",
            "#c06c84", "#6c5b7b", "#355c7d"]


def _as_table(lines) -> pd.DataFrame:
    """A year x series table from a table, or from ``{name: [(x, y), ...]}``."""
    if isinstance(lines, pd.DataFrame):
        return lines
    cols = {str(name): pd.Series({float(x): float(y) for x, y in pts}, dtype=float)
            for name, pts in lines.items()}
    return pd.DataFrame(cols).sort_index() if cols else pd.DataFrame(dtype=float)


def _y_axis(values: list[float], from_zero: bool) -> tuple[float, float, float]:
    """(bottom, top, tick step) of a y axis: the values (and 0) with a little room, cut at a
    round step (1, 2, 2.5 or 5 times a power of ten) giving at most 7 intervals."""
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if from_zero:
        lo, hi = 0.0, max(hi, 0.0) * 1.05 or 1.0
    else:
        pad = (hi - lo) * 0.05 or abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / 7
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(f * mag for f in (1, 2, 2.5, 5, 10) if f * mag >= raw * (1 - 1e-9))
    return math.floor(lo / step) * step, math.ceil(hi / step) * step, step


def svg_lines(lines: pd.DataFrame | Mapping[str, Sequence[tuple[float, float]]], *,
              title: str, xlabel: str, ylabel: str = "", highlight: str | None = None,
              reference: float | None = None, reference_label: str = "",
              from_zero: bool = False, size: tuple[int, int] = (460, 300),
              cls: str = "lines") -> str:
    """A line chart as inline SVG: one polyline (with a dot per value) for each series.

    ``lines``: a table with x (years) as index and one column per series, or
    ``{name: [(x, y), ...]}``. ``highlight``: the series drawn thick and dark (the county, or
    ``(all)``). ``reference``: a dashed horizontal line (e.g. 1 seat per child) with its label.
    ``from_zero``: the y axis starts at 0 (else it spans the values, padded); its ticks fall
    on round steps (:func:`_y_axis`). Ticks and the
    dots' labels follow :func:`number`; a line joins the values it has (missing ones
    skipped).
    """
    table = _as_table(lines)
    w, h = size
    m = {"l": 60, "r": 150 if w > 500 else 130, "t": 34, "b": 46}
    pw, ph = w - m["l"] - m["r"], h - m["t"] - m["b"]
    xs = [float(x) for x in table.index] or [0.0]
    vals = table.to_numpy(float) if table.size else np.zeros((0, 0))
    finite = vals[np.isfinite(vals)]
    x0, x1 = xs[0], xs[-1] if xs[-1] > xs[0] else xs[0] + 1
    y0, y1, step = _y_axis(list(finite) + ([reference] if reference is not None else []),
                           from_zero)

    def px(x: float) -> float:
        return m["l"] + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return m["t"] + (1 - (y - y0) / (y1 - y0)) * ph

    out = svg_open(w, h, title, cls)
    for k in range(int(round((y1 - y0) / step)) + 1):
        v = y0 + k * step
        out.append(f'<line x1="{m["l"]}" x2="{m["l"] + pw}" y1="{py(v):.1f}" y2="{py(v):.1f}" '
                   'class="grid" stroke="#eee"/>')
        out.append(f'<text x="{m["l"] - 6}" y="{py(v) + 4:.1f}" text-anchor="end" '
                   f'class="tick">{escape(number(v))}</text>')
    step = max(1, round(len(xs) / 8))
    for x in xs[::step]:
        out.append(f'<text x="{px(x):.1f}" y="{m["t"] + ph + 16}" text-anchor="middle" '
                   f'class="tick">{int(x)}</text>')
    out.append(f'<rect x="{m["l"]}" y="{m["t"]}" width="{pw}" height="{ph}" class="frame" '
               'fill="none" stroke="#999"/>')
    if reference is not None:
        out.append(f'<line x1="{m["l"]}" x2="{m["l"] + pw}" y1="{py(reference):.1f}" '
                   f'y2="{py(reference):.1f}" class="ref" stroke="#d1495b" '
                   'stroke-dasharray="5 3"/>')
        out.append(f'<text x="{m["l"] + pw - 4}" y="{py(reference) - 4:.1f}" '
                   f'text-anchor="end" class="tick">{escape(reference_label)}</text>')
    for i, name in enumerate(table.columns):
        col = "#222222" if name == highlight else _PALETTE[i % len(_PALETTE)]
        width = 3 if name == highlight else 1.8
        good = [(x, y) for x, y in zip(xs, vals[:, i]) if np.isfinite(y)]
        if not good:
            continue
        pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in good)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{col}" '
                   f'stroke-width="{width}" class="series" data-name="{escape(name)}"/>')
        out.extend(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{col}" '
                   f'data-value="{y:.6g}"/>' for x, y in good)
        ly = m["t"] + 8 + 15 * i
        out.append(f'<line x1="{m["l"] + pw + 10}" x2="{m["l"] + pw + 28}" y1="{ly}" '
                   f'y2="{ly}" stroke="{col}" stroke-width="{width}"/>')
        out.append(f'<text x="{m["l"] + pw + 32}" y="{ly + 4}" class="leg">'
                   f'{escape(name)}</text>')
    out.append(f'<text x="{m["l"] + pw / 2}" y="{h - 10}" text-anchor="middle" '
               f'class="axis">{escape(xlabel)}</text>')
    if ylabel:
        out.append(f'<text transform="translate(16,{m["t"] + ph / 2}) rotate(-90)" '
                   f'text-anchor="middle" class="axis">{escape(ylabel)}</text>')
    out.append("</svg>")
    return "\n".join(out)
