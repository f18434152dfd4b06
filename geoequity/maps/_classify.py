"""Class breaks, colours and legend text of the map layers.

Choropleths are *classed* (a few colours, each with a stated value range) rather than
continuous: readers compare a cell with a legend entry, not with a gradient.

- Children per cell and accessibility use quantile classes (each class holds about the same
  number of cells), with the break values rounded to two significant figures.
- The seat gap uses fixed classes around the fair share ``f`` (1.0 when the column is already
  normalised): ``< 0.5f``, ``0.5f-0.8f``, ``0.8f-0.95f``, ``0.95f-1.05f`` (about fair),
  ``1.05f-1.25f``, ``1.25f-2f``, ``>= 2f``, coloured with a diverging palette (ColorBrewer RdBu)
  so that below-fair-share cells are red and above are blue; the "about fair" class is a light
  yellow (``#ffffbf``), not RdBu's near-white, which the map background (``#f4f4f2``) would
  swallow.
- Children without a seat (absolute gap) use quantile classes of the cells with some, and a
  class of their own for cells where every child has a seat.
- School utilisation (assigned pupils / seats) uses fixed classes ``< 90 %``, ``90-100 %``,
  ``100-110 %``, ``> 110 %``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from geoequity.maps._text import t as _t
from geoequity.report_format import number

NO_DATA = "#bdbdbd"
# ColorBrewer schemes (Brewer, Harrower & Penn State, Apache-2.0 licensed colour values).
YLORBR5 = ["#ffffd4", "#fed98e", "#fe9929", "#d95f0e", "#993404"]
RDYLGN5 = ["#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"]
PURPLES5 = ["#f2f0f7", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f"]
RDBU7 = ["#b2182b", "#ef8a62", "#fddbc7", "#ffffbf", "#d1e5f0", "#67a9cf", "#2166ac"]
REDS5 = ["#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15"]
#: Cells with nothing to show in a sequential layer (no children, no shortfall): a pale grey
#: that still differs from the map background (#f4f4f2)
ZERO = "#e3e3e3"
UTIL4 = ["#1a9850", "#fee08b", "#fc8d59", "#d73027"]
CATEGORICAL = ["#1f78b4", "#33a02c", "#e31a1c", "#ff7f00", "#6a3d9a", "#b15928",
               "#a6cee3", "#b2df8a", "#fb9a99", "#fdbf6f", "#cab2d6", "#ffff99"]

GAP_FACTORS = (0.5, 0.8, 0.95, 1.05, 1.25, 2.0)
UTIL_BREAKS = (0.9, 1.0, 1.1)


def fmt_number(x: float) -> str:
    """A number in a legend or a note, by the reports' one rule
    (:func:`geoequity.report_format.number`: thousands separators, at most three significant
    digits but never fewer than the whole part, no trailing zeros; missing as a dash)."""
    return number(None if x is None else float(x))


def _round_sig(x: float, sig: int = 2) -> float:
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, sig - 1 - int(math.floor(math.log10(abs(x)))))


def quantile_breaks(values, k: int = 5) -> list[float]:
    """Inner break values of ``k`` quantile classes of the finite ``values``.

    Breaks are rounded to two significant figures (more when rounding would push a break out
    of the data range) and de-duplicated, so fewer than ``k`` classes result when the data
    have few distinct values. Class ``i`` holds values ``v`` with
    ``breaks[i-1] <= v < breaks[i]``.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return []
    qs = np.quantile(v, np.linspace(0, 1, k + 1)[1:-1])
    out: list[float] = []
    lo, hi = float(v.min()), float(v.max())
    for q in qs:
        # fewest significant figures (2..6) that keep the break inside (lo, hi]
        for sig in range(2, 7):
            b = _round_sig(float(q), sig)
            if lo < b <= hi and (not out or b > out[-1]):
                out.append(b)
                break
    return out


def classify(values, breaks) -> np.ndarray:
    """Class index of each value (0 .. len(breaks)); -1 for NaN/inf (no data)."""
    v = np.asarray(values, dtype=float)
    idx = np.searchsorted(np.asarray(breaks, dtype=float), v, side="right").astype(np.int64)
    idx[~np.isfinite(v)] = -1
    return idx


def range_labels(breaks, lo: float | None = None, hi: float | None = None) -> list[str]:
    """Legend labels for the classes defined by ``breaks``: ``< b0``, ``b0 - b1``, ..., ``>= bn``.

    With ``lo``/``hi`` (data minimum and maximum) the open ends become closed ranges.
    """
    b = [fmt_number(x) for x in breaks]
    if not b:
        return ["all values" if lo is None else f"{fmt_number(lo)} \u2013 {fmt_number(hi)}"]
    first = f"< {b[0]}" if lo is None else f"{fmt_number(lo)} \u2013 < {b[0]}"
    last = f"\u2265 {b[-1]}" if hi is None else f"{b[-1]} \u2013 {fmt_number(hi)}"
    return [first] + [f"{b[i]} \u2013 < {b[i + 1]}" for i in range(len(b) - 1)] + [last]


def pick_palette(palette: list[str], n: int) -> list[str]:
    """``n`` colours spread over a sequential ``palette`` (keeps both ends)."""
    if n >= len(palette):
        return list(palette[:n]) if n == len(palette) else list(palette)
    if n == 1:
        return [palette[-2]]
    idx = np.round(np.linspace(0, len(palette) - 1, n)).astype(int)
    return [palette[i] for i in idx]


@dataclass
class Classes:
    """A classed colouring: per-feature class index into ``colors`` (last entry: no data)."""

    index: np.ndarray
    colors: list[str]
    labels: list[str]
    title: str
    note: str = ""
    items: list[tuple[str, str]] = field(default_factory=list)

    def legend(self, shape: str = "fill") -> dict:
        used = set(np.unique(self.index).tolist())
        items = [(c, lab) for i, (c, lab) in enumerate(zip(self.colors, self.labels, strict=True))
                 if i < len(self.colors) - 1 or (len(self.colors) - 1) in used]
        return {"title": self.title, "note": self.note, "shape": shape,
                "items": [list(x) for x in items + self.items]}


def _with_nodata(idx: np.ndarray, colors: list[str], labels: list[str], nodata_label: str):
    n = len(colors)
    idx = np.where(idx < 0, n, idx)
    return idx, colors + [NO_DATA], labels + [nodata_label]


def sequential(values, *, title: str, note: str, palette: list[str], k: int = 5,
               nodata_label: str = "no data", zero_class: bool = False,
               zero_label: str = "0") -> Classes:
    """Quantile classes of ``values`` with a sequential palette."""
    v = np.asarray(values, dtype=float)
    finite = v[np.isfinite(v)]
    if zero_class:
        pos = finite[finite > 0]
        breaks = quantile_breaks(pos, k)
        idx = classify(v, breaks)
        lo = float(pos.min()) if pos.size else 0.0
        hi = float(pos.max()) if pos.size else 0.0
        colors = pick_palette(palette, len(breaks) + 1)
        labels = range_labels(breaks, lo, hi)
        zero = np.isfinite(v) & (v <= 0)
        idx = np.where(zero, len(colors), idx)
        colors = colors + [ZERO]
        labels = labels + [zero_label]
    else:
        breaks = quantile_breaks(finite, k)
        idx = classify(v, breaks)
        colors = pick_palette(palette, len(breaks) + 1)
        lo = float(finite.min()) if finite.size else None
        hi = float(finite.max()) if finite.size else None
        labels = range_labels(breaks, lo, hi)
    idx, colors, labels = _with_nodata(idx, colors, labels, nodata_label)
    return Classes(idx, colors, labels, title, note)


def gap_classes(values, *, fair_share: float = 1.0, title: str, note: str,
                lang: str = "en") -> Classes:
    """Seven diverging classes around ``fair_share`` (see module docstring)."""
    breaks = [f * fair_share for f in GAP_FACTORS]
    idx = classify(values, breaks)
    b = [fmt_number(x) for x in breaks]
    labels = [f"< {b[0]} ({_t(lang, 'gap_low')})", f"{b[0]} \u2013 < {b[1]}",
              f"{b[1]} \u2013 < {b[2]}", f"{b[2]} \u2013 < {b[3]} ({_t(lang, 'gap_fair')})",
              f"{b[3]} \u2013 < {b[4]}", f"{b[4]} \u2013 < {b[5]}",
              f"\u2265 {b[5]} ({_t(lang, 'gap_high')})"]
    idx, colors, labels = _with_nodata(idx, list(RDBU7), labels, _t(lang, "no_reach"))
    return Classes(idx, colors, labels, title, note)


def utilisation_classes(values, lang: str = "en") -> Classes:
    """Four classes of school utilisation (assigned pupils per seat)."""
    idx = classify(values, UTIL_BREAKS)
    labels = [_t(lang, "util_low"), "90 \u2013 < 100 %", _t(lang, "util_full"),
              _t(lang, "util_over")]
    idx, colors, labels = _with_nodata(idx, list(UTIL4), labels, _t(lang, "not_known"))
    return Classes(idx, colors, labels, _t(lang, "schools_util"), _t(lang, "util_note"))


def categorical(values, *, title: str, note: str = "", lang: str = "en") -> Classes:
    """One colour per category (order of first appearance; colours repeat after 12)."""
    vals = ["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
            for v in values]
    cats = list(dict.fromkeys(vals))
    lookup = {c: i for i, c in enumerate(cats)}
    idx = np.array([lookup[v] for v in vals], dtype=np.int64)
    colors = [CATEGORICAL[i % len(CATEGORICAL)] for i in range(len(cats))]
    labels = [c if c else _t(lang, "not_given") for c in cats]
    return Classes(idx, colors + [NO_DATA], labels + [_t(lang, "no_data")], title, note)
