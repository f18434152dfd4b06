"""Inequality measures over any value, with optional weights and an optional grouping.

Every function takes ``values`` (array-like or :class:`pandas.Series`), optional ``weights``
(how many people each value stands for: children in a cell, students in a school) and, where it
makes sense, optional ``groups`` (district, urban/rural, school level). Values that are NaN (for
accessibility: "no access") are **excluded** and counted; :func:`inequality_summary` reports how
many. A weight of 0 keeps the row out of every statistic. When ``values`` and ``weights`` (or
``groups``) are both pandas objects they are aligned on the index.

Formulas (population weights :math:`w_i`, :math:`W=\\sum w_i`, shares :math:`p_i=w_i/W`, weighted
mean :math:`\\mu=\\sum p_i y_i`) are in ``docs/equity.md``; the short version:

- Gini: :math:`G = 1 - \\sum_i p_i (L_i + L_{i-1})` over values sorted ascending, with
  :math:`L_i` the cumulative value share (trapezoids under the Lorenz curve). With equal weights
  this is the mean-difference Gini :math:`\\sum_i\\sum_j |y_i-y_j| / (2n^2\\mu)`.
- Theil T: :math:`T = \\sum p_i (y_i/\\mu)\\ln(y_i/\\mu)`; Theil L (mean log deviation):
  :math:`L = \\sum p_i \\ln(\\mu/y_i)`. Both decompose exactly into between- and within-group
  parts (Shorrocks 1980).
- Coefficient of variation: :math:`CV = \\sigma/\\mu` with the population standard deviation
  (divide by :math:`W`, or :math:`n` when unweighted). The weighted form is the one China's
  balanced-education evaluation uses.

Pieces: :func:`spatial_equity` of cells held in disjoint pieces (a cluster's partitions)
without all cells in one process: :func:`equity_piece` per piece (per group sums: weights,
weighted sums, weighted squares about the piece's mean, the piece's own Theil T and L, and the
scored cells); the Gini's pair sums :math:`\\sum_{i,j} w_i w_j |y_i - y_j|` across pieces by
ranges of the scores (:func:`equity_bounds` from the pieces' samples; :func:`equity_split`
sends each range its rows, :func:`equity_range` sums a range; two ranges' cross term is
closed-form, :math:`W_r M_s - M_r W_s`), then :func:`spatial_equity_of` (Gini
:math:`= \\sum_{i,j} w_i w_j |y_i - y_j| / (2 W \\sum w_i y_i)`; CV by the parallel-variance
rule; Theil by its decomposition with the pieces as groups). :func:`spatial_equity` is the
case of one piece. The report's Lorenz curves likewise: :func:`lorenz_piece`,
:func:`lorenz_values`, :func:`lorenz_at`, :func:`lorenz_of`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from geoequity._errors import input_error

__all__ = [
    "EquityPiece",
    "LorenzPiece",
    "TheilResult",
    "coefficient_of_variation",
    "concentration_index",
    "equity_bounds",
    "equity_labels",
    "equity_piece",
    "equity_range",
    "equity_split",
    "fgt_poverty",
    "fractional_rank",
    "gini",
    "inequality_summary",
    "lorenz_at",
    "lorenz_curve",
    "lorenz_of",
    "lorenz_piece",
    "lorenz_pieces",
    "lorenz_values",
    "max_min_ratio",
    "palma_ratio",
    "share_above",
    "share_below",
    "socioeconomic_summary",
    "spatial_equity",
    "spatial_equity_of",
    "spatial_equity_pieces",
    "theil",
]

_SOURCE = "equity"


# --------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Clean:
    """Values, weights and groups after NaN/zero-weight removal."""

    y: np.ndarray
    w: np.ndarray
    g: np.ndarray | None  # integer group codes (0..k-1) or None
    labels: np.ndarray | None  # label of each code
    n_missing: int  # rows dropped because value, weight or group was missing


def _as_array(obj: Any, index: pd.Index | None, name: str) -> np.ndarray:
    if isinstance(obj, (pd.Series, pd.Index)) and index is not None and isinstance(obj, pd.Series):
        if not obj.index.equals(index):
            if obj.index.has_duplicates or not index.isin(obj.index).all():
                raise input_error(
                    _SOURCE,
                    f"{name} is indexed differently from values and does not cover every id",
                    f"pass {name} with the same index as values (or plain arrays of equal length)",
                )
            obj = obj.reindex(index)
    return np.asarray(obj)


def _numeric(obj: Any, what: str, flag: str) -> np.ndarray:
    """A float array; fast for numeric input, strict (one clear error) for text."""
    arr = obj.to_numpy() if isinstance(obj, (pd.Series, pd.Index)) else np.asarray(obj)
    arr = arr.ravel()
    if arr.dtype.kind in "biuf":
        return arr.astype(float, copy=False)
    try:
        return np.asarray(pd.to_numeric(pd.Series(arr, dtype=object), errors="raise"),
                          dtype=float)
    except (ValueError, TypeError) as exc:
        raise input_error(_SOURCE, f"{what} are not numbers ({exc})",
                          f"choose a numeric column for {flag}") from None


def _prepare(values: Any, weights: Any = None, groups: Any = None, *,
             nonnegative: bool = False) -> _Clean:
    index = values.index if isinstance(values, pd.Series) else None
    y = _numeric(values, "values", "--value")
    n = y.size
    if weights is None:
        w = np.ones(n)
    else:
        w = _numeric(_as_array(weights, index, "weights"), "weights", "--weight")
        if w.size != n:
            raise input_error(_SOURCE, f"{w.size} weights for {n} values",
                              "pass one weight per value")
        if np.any(w < 0):
            raise input_error(_SOURCE, f"{int(np.sum(w < 0))} weights are negative",
                              "weights count people; use non-negative numbers")
    codes = labels = None
    gmiss = np.zeros(n, dtype=bool)
    if groups is not None:
        g = _as_array(groups, index, "groups").ravel()
        if g.size != n:
            raise input_error(_SOURCE, f"{g.size} group labels for {n} values",
                              "pass one group label per value")
        codes, uniq = pd.factorize(pd.Series(g).astype(str).where(pd.notna(g)), sort=True)
        labels = np.asarray(uniq, dtype=object)
        gmiss = codes < 0
    keep = np.isfinite(y) & np.isfinite(w) & ~gmiss
    n_missing = int(n - keep.sum())
    keep &= w > 0
    y, w = y[keep], w[keep]
    if codes is not None:
        codes = codes[keep]
    if nonnegative and np.any(y < 0):
        raise input_error(
            _SOURCE,
            f"{int(np.sum(y < 0))} values are negative; this measure needs values >= 0",
            "use a non-negative quantity (seats per child, travel cost), not a signed gap",
        )
    return _Clean(y, w, codes, labels, n_missing)


def _empty(c: _Clean) -> bool:
    return c.y.size == 0 or c.w.sum() <= 0


# --------------------------------------------------------------------------------------------
# Lorenz curve and Gini
# --------------------------------------------------------------------------------------------


def _lorenz_arrays(y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(y)  # ties need no stable order: equal values share one slope
    ys, ws = y[order], w[order]
    p = np.concatenate([[0.0], np.cumsum(ws)]) / ws.sum()
    mass = ys * ws
    total = mass.sum()
    if total == 0:
        lv = p.copy()  # everyone has zero: perfect equality
    else:
        lv = np.concatenate([[0.0], np.cumsum(mass)]) / total
    p[-1], lv[-1] = 1.0, 1.0
    return p, lv


def lorenz_curve(values: Any, weights: Any = None) -> pd.DataFrame:
    """Points of the (weighted) Lorenz curve.

    Parameters
    ----------
    values
        Non-negative values (e.g. seats per child in each cell). NaN values are excluded.
    weights
        People each value stands for (e.g. children per cell). Default: 1 each.

    Returns
    -------
    pandas.DataFrame
        Columns ``population_share`` and ``value_share`` (both 0..1), starting at (0, 0) and
        ending at (1, 1), one row per value in ascending order of value plus the origin; column
        ``value`` holds the value reached at that point (NaN at the origin).
    """
    c = _prepare(values, weights, nonnegative=True)
    if _empty(c):
        return pd.DataFrame({"population_share": [0.0, 1.0], "value_share": [0.0, 1.0],
                             "value": [np.nan, np.nan]})
    p, lv = _lorenz_arrays(c.y, c.w)
    return pd.DataFrame({"population_share": p, "value_share": lv,
                         "value": np.concatenate([[np.nan], np.sort(c.y)])})


def _gini(y: np.ndarray, w: np.ndarray) -> float:
    if y.size == 0:
        return float("nan")
    p, lv = _lorenz_arrays(y, w)
    if (y * w).sum() == 0:
        return 0.0
    return float(1.0 - np.sum(np.diff(p) * (lv[1:] + lv[:-1])))


def gini(values: Any, weights: Any = None) -> float:
    """Weighted Gini coefficient (0 = everyone the same, towards 1 = one holds everything).

    .. math:: G = 1 - \\sum_i p_i (L_i + L_{i-1})

    with values sorted ascending, :math:`p_i = w_i / W` and :math:`L_i` the cumulative share of
    :math:`\\sum w_i y_i`. With unit weights this equals the mean-difference Gini
    :math:`\\sum_{i,j}|y_i - y_j| / (2 n^2 \\mu)` (the population, not bias-corrected, form; the
    same as PySAL ``inequality.gini.Gini``).

    Parameters
    ----------
    values
        Non-negative values; NaN excluded.
    weights
        Non-negative weights (people per value). Default: 1 each.

    Returns
    -------
    float
        The Gini coefficient; NaN when no value is left; 0 when all values are 0.
    """
    c = _prepare(values, weights, nonnegative=True)
    return _gini(c.y, c.w)


# --------------------------------------------------------------------------------------------
# Theil
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TheilResult:
    """A Theil index and its exact decomposition ``total == between + within``.

    Attributes
    ----------
    total
        The index over all values.
    between
        Inequality between group means (0 when no grouping was given).
    within
        Weighted sum of the indexes inside each group (equal to ``total`` when ungrouped).
    by_group
        One row per group (index: group label) with columns ``n``, ``weight``,
        ``population_share`` (:math:`s_g = W_g/W`), ``mean`` (:math:`\\mu_g`), ``value_share``
        (:math:`s_g\\mu_g/\\mu`), ``theil`` (the group's own index) and ``within_contribution``
        (its term of ``within``: :math:`v_g T_g` for T, :math:`s_g L_g` for L). Empty when
        ungrouped.
    kind
        ``"T"`` (Theil T, GE(1)) or ``"L"`` (mean log deviation, GE(0)).
    """

    total: float
    between: float
    within: float
    by_group: pd.DataFrame = field(repr=False)
    kind: str = "T"

    @property
    def between_share(self) -> float:
        """Share of the total explained by differences between groups (0..1): 0 when there is
        no inequality at all (``total == 0``, e.g. every score 0 when there are no seats), NaN
        only when there is no value (``total`` NaN)."""
        if self.total == 0:
            return 0.0
        return self.between / self.total


def _theil_raw(y: np.ndarray, w: np.ndarray, kind: str) -> float:
    if y.size == 0:
        return float("nan")
    p = w / w.sum()
    mu = float(np.sum(p * y))
    if mu == 0:
        return 0.0
    r = y / mu
    if kind == "T":
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(r > 0, r * np.log(np.where(r > 0, r, 1.0)), 0.0)
        return float(max(np.sum(p * terms), 0.0))
    if np.any(y == 0):
        return float("inf")
    return float(max(np.sum(p * -np.log(r)), 0.0))


def theil(values: Any, weights: Any = None, groups: Any = None, *,
          kind: Literal["T", "L"] = "T") -> TheilResult:
    """Theil T or Theil L index with its between/within-group decomposition.

    Theil T (GE(1)):

    .. math:: T = \\sum_i p_i \\frac{y_i}{\\mu} \\ln\\frac{y_i}{\\mu}
              = \\underbrace{\\sum_g s_g \\frac{\\mu_g}{\\mu}\\ln\\frac{\\mu_g}{\\mu}}_{between}
              + \\underbrace{\\sum_g s_g \\frac{\\mu_g}{\\mu} T_g}_{within}

    Theil L (GE(0), mean log deviation):

    .. math:: L = \\sum_i p_i \\ln\\frac{\\mu}{y_i}
              = \\sum_g s_g \\ln\\frac{\\mu}{\\mu_g} + \\sum_g s_g L_g

    with :math:`p_i = w_i/W`, :math:`s_g = W_g/W` and :math:`\\mu_g` the weighted group mean.
    Zero values contribute 0 to T (:math:`0 \\ln 0 = 0`) and make L infinite.

    Parameters
    ----------
    values
        Non-negative values; NaN excluded.
    weights
        Non-negative weights (people per value). Default: 1 each.
    groups
        Optional group label per value (district, urban/rural, level). Rows with a missing
        label are excluded.
    kind
        ``"T"`` or ``"L"``.

    Returns
    -------
    TheilResult
        ``total``, ``between``, ``within`` (``between + within == total`` up to rounding) and
        the per-group table ``by_group``.
    """
    kind = str(kind).upper()
    if kind not in ("T", "L"):
        raise input_error(_SOURCE, f"unknown Theil kind {kind!r}", 'use kind="T" or kind="L"')
    return _theil_of(_prepare(values, weights, groups, nonnegative=True), kind)


def _theil_terms(sg: np.ndarray, mg: Any, tg: np.ndarray, mu: Any,
                 kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Each part's term of the between and of the within part of a Theil index (Shorrocks
    1980): the parts' shares ``sg`` of the weight, means ``mg`` and own indexes ``tg``, the
    mean ``mu > 0`` of their union (a number, or one per part). T: :math:`s_g r_g \\ln r_g` and
    :math:`s_g r_g T_g` with :math:`r_g = \\mu_g/\\mu`; L: :math:`s_g \\ln(\\mu/\\mu_g)` and
    :math:`s_g L_g`."""
    if kind == "T":
        with np.errstate(divide="ignore", invalid="ignore"):
            rg = mg / mu
            between = np.where(rg > 0, sg * rg * np.log(np.where(rg > 0, rg, 1)), 0.0)
        return between, sg * mg / mu * tg
    with np.errstate(divide="ignore"):
        return sg * np.log(mu / mg), sg * tg


def _group_theil(y: np.ndarray, w: np.ndarray, inv: np.ndarray, k: int,
                 kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each of ``k`` groups' weight, mean and own Theil index (0 for a group of mean 0; NaN
    mean for an empty group) of values ``y`` (>= 0), weights ``w`` and group codes ``inv``."""
    wg = np.bincount(inv, weights=w, minlength=k)
    with np.errstate(divide="ignore", invalid="ignore"):
        mg = np.bincount(inv, weights=w * y, minlength=k) / wg
        ri = y / mg[inv]
        if kind == "T":
            term = np.where(ri > 0, ri * np.log(np.where(ri > 0, ri, 1.0)), 0.0)
        else:
            term = np.where(ri > 0, -np.log(np.where(ri > 0, ri, 1.0)), np.inf)
        tg = np.bincount(inv, weights=w * term, minlength=k) / wg
        tg = np.where(mg > 0, np.maximum(tg, 0.0), 0.0)
    return wg, mg, tg


def _theil_of(c: _Clean, kind: str) -> TheilResult:
    """:func:`theil` of prepared values (``kind`` checked)."""
    total = _theil_raw(c.y, c.w, kind)
    if c.g is None or _empty(c):
        return TheilResult(total, 0.0, total, pd.DataFrame(), kind)
    W = c.w.sum()
    mu = float(np.sum(c.w * c.y) / W)
    k = len(c.labels)
    wg, mg, tg = _group_theil(c.y, c.w, c.g, k, kind)
    present = wg > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ng = np.bincount(c.g, minlength=k)
        sg = wg / W
        vg = sg * mg / mu if mu > 0 else np.zeros_like(sg)
    if mu == 0:
        between = 0.0
        contrib = np.zeros_like(sg)
    else:
        terms, contrib = _theil_terms(sg, mg, tg, mu, kind)
        between = float(np.sum(terms[present]))
    labels, ng, wg, sg, mg, vg, tg, contrib = (a[present] for a in (
        c.labels, ng, wg, sg, mg, vg, tg, contrib))
    within = float(np.sum(contrib))
    between = max(between, 0.0)  # >= 0 by Jensen; clears rounding noise such as -1e-17
    by_group = pd.DataFrame(
        {"n": ng, "weight": wg, "population_share": sg, "mean": mg, "value_share": vg,
         "theil": tg, "within_contribution": contrib},
        index=pd.Index(labels, name="group"),
    )
    return TheilResult(total, between, within, by_group, kind)


# --------------------------------------------------------------------------------------------
# dispersion and ratios
# --------------------------------------------------------------------------------------------


def _cv(y: np.ndarray, w: np.ndarray) -> float:
    if y.size == 0:
        return float("nan")
    mu = np.sum(w * y) / w.sum()
    if mu == 0:
        return float("nan")
    sd = np.sqrt(np.sum(w * (y - mu) ** 2) / w.sum())
    return float(sd / abs(mu))


def coefficient_of_variation(values: Any, weights: Any = None) -> float:
    """Coefficient of variation :math:`CV = \\sigma / \\mu`.

    .. math:: \\mu = \\frac{\\sum w_i y_i}{W}, \\qquad
              \\sigma = \\sqrt{\\frac{\\sum w_i (y_i - \\mu)^2}{W}}

    the population (not sample) standard deviation. With ``weights=None`` every value counts
    once (:math:`W = n`). The enrolment-weighted form is the one China's county-level
    evaluation of balanced compulsory education uses (enrolments 45, 37, 89, 76, 55 holding
    279, 137, 935, 160, 402 books give :math:`\\mu = 6.33` books per student and CV 0.515).

    Returns
    -------
    float
        The CV; NaN when no value is left or the mean is 0.
    """
    c = _prepare(values, weights)
    return _cv(c.y, c.w)


def _quantile_share(p: np.ndarray, lv: np.ndarray, q: float) -> float:
    return float(np.interp(q, p, lv))


def palma_ratio(values: Any, weights: Any = None) -> float:
    """Palma ratio: share held by the top 10 % of people over the share of the bottom 40 %.

    .. math:: \\text{Palma} = \\frac{1 - L(0.9)}{L(0.4)}

    with :math:`L` the Lorenz curve, interpolated linearly between points (a value standing for
    many people is split at the 40 % and 90 % marks).

    Returns
    -------
    float
        The ratio; ``inf`` when the bottom 40 % hold nothing; NaN when no value is left.
    """
    c = _prepare(values, weights, nonnegative=True)
    if _empty(c):
        return float("nan")
    if (c.y * c.w).sum() == 0:
        return float("nan")
    p, lv = _lorenz_arrays(c.y, c.w)
    bottom = _quantile_share(p, lv, 0.4)
    top = 1.0 - _quantile_share(p, lv, 0.9)
    return float("inf") if bottom == 0 else float(top / bottom)


def max_min_ratio(values: Any, weights: Any = None) -> float:
    """Ratio of the largest to the smallest value (rows with zero weight are ignored).

    Returns
    -------
    float
        ``max / min``; ``inf`` when the minimum is 0 and the maximum is not; NaN when empty.
    """
    c = _prepare(values, weights)
    if c.y.size == 0:
        return float("nan")
    lo, hi = float(c.y.min()), float(c.y.max())
    if lo == 0:
        return float("nan") if hi == 0 else float("inf")
    return hi / lo


def _nan_to(values: Any, fill: float) -> Any:
    """Replace NaN by ``fill``, keeping a Series' index."""
    if isinstance(values, pd.Series):
        return pd.to_numeric(values, errors="coerce").fillna(fill)
    y = np.asarray(values, dtype=float)
    return np.where(np.isnan(y), fill, y)


def share_below(values: Any, standard: float, weights: Any = None, *,
                missing: Literal["exclude", "below"] = "exclude") -> float:
    """Weighted share of people whose value is below ``standard`` (strictly less).

    .. math:: \\text{share} = \\frac{\\sum_{y_i < s} w_i}{W}

    Parameters
    ----------
    values
        Values such as seats per child or an accessibility score.
    standard
        The standard (same unit as ``values``).
    weights
        People per value (children). Default: 1 each.
    missing
        ``"exclude"`` (default) leaves NaN values out; ``"below"`` counts them as below the
        standard, which is right for accessibility where NaN means "no school reachable".

    Returns
    -------
    float
        Share in 0..1; NaN when no people are left.
    """
    if missing not in ("exclude", "below"):
        raise input_error(_SOURCE, f"unknown missing={missing!r}", 'use "exclude" or "below"')
    y = _nan_to(values, np.finfo(float).min) if missing == "below" else values
    c = _prepare(y, weights)
    if _empty(c):
        return float("nan")
    return float(c.w[c.y < standard].sum() / c.w.sum())


def share_above(values: Any, threshold: float, weights: Any = None, *,
                missing: Literal["exclude", "above"] = "exclude") -> float:
    """Weighted share of people whose value is above ``threshold`` (strictly greater).

    The mirror of :func:`share_below`, for costs: the share of children whose travel to the
    nearest school exceeds the walking threshold. ``missing="above"`` counts NaN (no school
    reachable at all) as beyond the threshold.
    """
    if missing not in ("exclude", "above"):
        raise input_error(_SOURCE, f"unknown missing={missing!r}", 'use "exclude" or "above"')
    y = _nan_to(values, np.finfo(float).max) if missing == "above" else values
    c = _prepare(y, weights)
    if _empty(c):
        return float("nan")
    return float(c.w[c.y > threshold].sum() / c.w.sum())


# --------------------------------------------------------------------------------------------
# socio-economic measures: concentration index, FGT poverty
# --------------------------------------------------------------------------------------------


def _rank_arrays(rank: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted fractional rank; tied ranks share the mean rank of their block."""
    order = np.argsort(rank, kind="stable")
    rs, ws = rank[order], w[order]
    starts = np.flatnonzero(np.r_[True, rs[1:] != rs[:-1]])
    block_w = np.add.reduceat(ws, starts)
    before = np.concatenate([[0.0], np.cumsum(block_w)[:-1]])
    block_rank = (before + block_w / 2) / ws.sum()
    out = np.empty_like(rank, dtype=float)
    out[order] = np.repeat(block_rank, np.diff(np.r_[starts, rs.size]))
    return out


def fractional_rank(rank: Any, weights: Any = None) -> np.ndarray:
    """Weighted fractional rank of each value in 0..1 (O'Donnell et al. 2008, ch. 8).

    .. math:: r_i = \\frac{1}{W}\\Big(\\sum_{j: x_j < x_i} w_j + \\frac{1}{2}\\sum_{j: x_j = x_i}
              w_j\\Big)

    the share of the population poorer than person *i* plus half the people ranked equal with
    them (ties get the mean rank of their block). The weighted mean rank is exactly 1/2.

    Parameters
    ----------
    rank
        The living-standard variable people are ranked by (income, housing price); finite.
    weights
        People per row. Default: 1 each.
    """
    r = _numeric(rank, "ranks", "--rank")
    w = np.ones(r.size) if weights is None else _numeric(weights, "weights", "--weight")
    if r.size == 0:
        return r
    return _rank_arrays(r, w)


def _prepare_ranked(values: Any, rank: Any, weights: Any) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray, int]:
    index = values.index if isinstance(values, pd.Series) else None
    y = _numeric(values, "values", "--value")
    x = _numeric(_as_array(rank, index, "rank"), "ranks", "--rank")
    if x.size != y.size:
        raise input_error(_SOURCE, f"{x.size} ranks for {y.size} values",
                          "pass one rank value per value")
    w = (np.ones(y.size) if weights is None
         else _numeric(_as_array(weights, index, "weights"), "weights", "--weight"))
    if w.size != y.size:
        raise input_error(_SOURCE, f"{w.size} weights for {y.size} values",
                          "pass one weight per value")
    if np.any(w < 0):
        raise input_error(_SOURCE, f"{int(np.sum(w < 0))} weights are negative",
                          "weights count people; use non-negative numbers")
    keep = np.isfinite(y) & np.isfinite(x) & np.isfinite(w)
    n_missing = int(y.size - keep.sum())
    keep &= w > 0
    return y[keep], x[keep], w[keep], n_missing


def concentration_index(values: Any, rank: Any, weights: Any = None, *,
                        kind: Literal["standard", "erreygers"] = "standard",
                        bounds: tuple[float, float] | None = None) -> float:
    """Concentration index of ``values`` over people ranked by ``rank`` (income, housing price).

    Standard (Kakwani, Wagstaff and van Doorslaer 1997; O'Donnell et al. 2008, ch. 8, the
    covariance formula; Ipea ``accessibility::concentration_index(type = "standard")``):

    .. math:: C = \\frac{2}{\\mu}\\,\\mathrm{cov}_w(h, r)
              = \\frac{2}{\\mu}\\sum_i p_i (h_i - \\mu)(r_i - \\tfrac{1}{2})

    with :math:`p_i = w_i/W`, :math:`\\mu` the weighted mean of ``values`` and :math:`r_i` the
    weighted fractional rank (:func:`fractional_rank`; tied ranks averaged). :math:`C > 0`:
    the value is concentrated among the better-off; :math:`C < 0`: among the worse-off.

    Erreygers (2009) corrected (``kind="erreygers"``; Ipea ``type = "corrected"``), for a
    bounded value :math:`a \\le h \\le b`:

    .. math:: E = \\frac{4\\mu}{b - a}\\, C

    Parameters
    ----------
    values
        The value whose distribution is measured (access, seats per child); NaN excluded.
    rank
        The living-standard variable; rows where it is NaN are excluded.
    weights
        People per row. Default: 1 each.
    kind
        ``"standard"`` or ``"erreygers"``.
    bounds
        ``(a, b)`` for Erreygers; default the observed minimum and maximum of ``values``.

    Returns
    -------
    float
        The index; NaN when no row is left, the mean is 0 (standard) or ``b == a``
        (Erreygers).
    """
    if kind not in ("standard", "erreygers"):
        raise input_error(_SOURCE, f"unknown concentration index kind {kind!r}",
                          'use kind="standard" or kind="erreygers"')
    y, x, w, _ = _prepare_ranked(values, rank, weights)
    if y.size == 0:
        return float("nan")
    p = w / w.sum()
    mu = float(np.sum(p * y))
    r = _rank_arrays(x, w)
    cov = float(np.sum(p * (y - mu) * (r - np.sum(p * r))))
    if kind == "standard":
        return 2.0 * cov / mu if mu != 0 else float("nan")
    a, b = (float(y.min()), float(y.max())) if bounds is None else map(float, bounds)
    if b <= a:
        if bounds is not None:
            raise input_error(_SOURCE, f"bounds {a:g},{b:g} are not increasing",
                              "give the lower then the upper bound, e.g. --bounds 0,1")
        return float("nan")
    return 8.0 * cov / (b - a)


def fgt_poverty(values: Any, line: float, weights: Any = None, *, alpha: float = 0) -> float:
    """Foster-Greer-Thorbecke poverty measure of ``values`` below the line ``z``.

    .. math:: FGT_\\alpha = \\frac{1}{W}\\sum_{i: y_i < z} w_i
              \\Big(\\frac{z - y_i}{z}\\Big)^{\\alpha}

    (Foster, Greer and Thorbecke 1984; Ipea ``accessibility::fgt_poverty``): ``alpha=0`` is the
    share of people below the line (headcount), 1 the mean normalised shortfall (poverty gap),
    2 its square (severity). For access, people with less access than ``z`` are "poor".

    Parameters
    ----------
    values
        Values (NaN excluded).
    line
        The poverty line :math:`z > 0`, same unit as ``values``.
    weights
        People per row. Default: 1 each.
    alpha
        0, 1, 2 (any alpha >= 0).

    Returns
    -------
    float
        In 0..1; NaN when no people are left.
    """
    if not (np.isfinite(line) and line > 0):
        raise input_error(_SOURCE, f"poverty line {line!r} is not a positive number",
                          "give the line in the unit of the value, e.g. --poverty-line 0.8")
    if alpha < 0:
        raise input_error(_SOURCE, f"FGT alpha {alpha!r} is negative", "use 0, 1 or 2")
    c = _prepare(values, weights)
    if _empty(c):
        return float("nan")
    poor = c.y < line
    gap = np.where(poor, (line - c.y) / line, 0.0)
    terms = np.where(poor, gap ** alpha, 0.0)
    return float(np.sum(c.w * terms) / c.w.sum())


def socioeconomic_summary(values: Any, weights: Any = None, *, rank: Any = None,
                          poverty_line: float | None = None,
                          bounds: tuple[float, float] | None = None) -> dict[str, Any]:
    """The socio-economic keys of ``geoequity equity --rank/--poverty-line`` in one dictionary.

    Returns
    -------
    dict
        With ``rank``: ``concentration_index`` and ``concentration_index_erreygers`` (bounds
        ``bounds`` or the observed minimum and maximum: ``erreygers_bounds``). With
        ``poverty_line``: ``poverty_line``, ``fgt0``, ``fgt1``, ``fgt2``.
    """
    out: dict[str, Any] = {}
    if rank is not None:
        out["concentration_index"] = concentration_index(values, rank, weights)
        out["concentration_index_erreygers"] = concentration_index(
            values, rank, weights, kind="erreygers", bounds=bounds)
        if bounds is None:
            y, _, _, _ = _prepare_ranked(values, rank, weights)
            bounds = (float(y.min()), float(y.max())) if y.size else (float("nan"),) * 2
        out["erreygers_bounds"] = [float(bounds[0]), float(bounds[1])]
    if poverty_line is not None:
        out["poverty_line"] = float(poverty_line)
        for a in (0, 1, 2):
            out[f"fgt{a}"] = fgt_poverty(values, poverty_line, weights, alpha=a)
    return out


# --------------------------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------------------------


def inequality_summary(values: Any, weights: Any = None, groups: Any = None) -> dict[str, Any]:
    """Every measure of this module in one dictionary (JSON-ready floats).

    Parameters
    ----------
    values
        Values (NaN excluded and counted in ``n_missing``).
    weights
        People per value. Default: 1 each.
    groups
        Optional group label per value; adds the Theil decompositions.

    Returns
    -------
    dict
        Keys ``n`` (values used), ``n_missing`` (NaN value, weight or group), ``weight_total``,
        ``mean`` (weighted), ``min``, ``max``, ``gini``, ``theil_t``, ``theil_l``, ``cv``
        (unweighted), ``cv_weighted`` (equal to ``cv`` when no weights), ``max_min_ratio``,
        ``palma_ratio``; with ``groups`` also ``theil_between``, ``theil_within`` (Theil T
        parts), ``theil_l_between``, ``theil_l_within`` and ``groups`` (label -> the same
        dictionary computed over that group alone, without ``n_missing``). Gini, Theil and
        Palma are NaN when some value is
        negative (they need values >= 0).
    """
    c = _prepare(values, weights, groups)
    out: dict[str, Any] = {
        "n": int(c.y.size),
        "n_missing": c.n_missing,
        "weight_total": float(c.w.sum()),
        "mean": float(np.sum(c.w * c.y) / c.w.sum()) if not _empty(c) else float("nan"),
        "min": float(c.y.min()) if c.y.size else float("nan"),
        "max": float(c.y.max()) if c.y.size else float("nan"),
    }
    nonneg = not np.any(c.y < 0)
    nan = float("nan")
    out["gini"] = _gini(c.y, c.w) if nonneg else nan
    out["theil_t"] = _theil_raw(c.y, c.w, "T") if nonneg else nan
    out["theil_l"] = _theil_raw(c.y, c.w, "L") if nonneg else nan
    out["cv"] = _cv(c.y, np.ones_like(c.y))
    out["cv_weighted"] = _cv(c.y, c.w)
    out["max_min_ratio"] = max_min_ratio(c.y)
    out["palma_ratio"] = palma_ratio(c.y, c.w) if nonneg else nan
    if c.g is not None:
        if nonneg and not _empty(c):
            t = theil(c.y, c.w, c.labels[c.g], kind="T")
            ell = theil(c.y, c.w, c.labels[c.g], kind="L")
            out.update(theil_between=t.between, theil_within=t.within,
                       theil_l_between=ell.between, theil_l_within=ell.within)
        else:
            out.update(theil_between=nan, theil_within=nan, theil_l_between=nan,
                       theil_l_within=nan)
        groups_out = {}
        order = np.argsort(c.g, kind="stable")
        bounds = np.searchsorted(c.g[order], np.arange(len(c.labels) + 1))
        for code, label in enumerate(c.labels):
            m = order[bounds[code]:bounds[code + 1]]
            if m.size == 0:
                continue
            sub = inequality_summary(c.y[m], c.w[m])
            sub.pop("n_missing")
            groups_out[str(label)] = sub
        out["groups"] = groups_out
    return out


# --------------------------------------------------------------------------------------------
# spatial equity of access
# --------------------------------------------------------------------------------------------


def _group_codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each row's group as a code into the sorted labels: the column's values as text
    (``str`` of each, ``"(none)"`` for a missing one).

    Text and whole-number columns are factorized first and only their distinct values turned
    into text (two values are equal exactly when their texts are); any other column (floats:
    ``0.0`` and ``-0.0``; objects of mixed types: ``1`` and ``1.0``) is made text row by row.
    """
    raw_codes, uniques = pd.factorize(column, use_na_sentinel=True)
    kind = column.dtype
    fast = (pd.api.types.is_string_dtype(kind) and not pd.api.types.is_object_dtype(kind)) \
        or pd.api.types.is_integer_dtype(kind) or pd.api.types.is_bool_dtype(kind) \
        or (pd.api.types.is_object_dtype(kind)
            and all(isinstance(u, str) for u in np.asarray(uniques, dtype=object)))
    if not fast:
        text_col = column.astype(object).where(column.notna(), "(none)").astype(str)
        raw_codes, uniques = pd.factorize(text_col)
    text = pd.Series(uniques, dtype=object).astype(str).to_numpy(dtype=object)
    if (raw_codes < 0).any():
        text = np.append(text, "(none)")
        raw_codes = np.where(raw_codes < 0, len(text) - 1, raw_codes)
    labels = np.array(sorted(set(text.tolist())), dtype=object)
    rank = {lab: i for i, lab in enumerate(labels)}
    to_sorted = np.array([rank[t] for t in text], dtype=np.intp)
    return to_sorted[raw_codes], labels


def _equity_inputs(cells: pd.DataFrame, children_col: str,
                   columns: tuple[str | None, ...]) -> tuple[np.ndarray, ...]:
    """The weights (children, missing as 0, negative as 0) and each of ``columns`` as floats
    (``None`` when not asked for or absent) of :func:`spatial_equity`."""
    if children_col not in cells.columns:
        raise input_error("cells", f"no children column {children_col!r}",
                          "name the column of children per cell")
    w = (pd.to_numeric(cells[children_col], errors="coerce").fillna(0.0).clip(lower=0)
         .to_numpy(float))
    return (w, *(pd.to_numeric(cells[col], errors="coerce").to_numpy(float, na_value=np.nan)
                 if col and col in cells.columns else None for col in columns))


def spatial_equity(
    cells: pd.DataFrame,
    *,
    children_col: str = "children",
    access_col: str | None = "access",
    cost_col: str | None = "cost",
    gap_col: str | None = "gap",
    groups: tuple[str, ...] | list[str] = ("district", "urban"),
    threshold: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Equity of access per group: the measures of this module over accessibility results.

    Parameters
    ----------
    cells
        One row per population cell (a DataFrame or GeoDataFrame) with the children count and
        the accessibility results of :mod:`geoequity.access` / :mod:`geoequity.gaps`.
    children_col
        Children per cell: the weights.
    access_col
        Accessibility score per cell (e.g. 2SFCA seats per child); NaN means no school
        reachable. ``None`` or a missing column skips the access measures.
    cost_col
        Travel cost (m or min) from the cell to its nearest school; NaN means unreachable.
    gap_col
        Seat gap per cell (children without a seat); summed per group.
    groups
        Columns to group by (those absent are skipped). Each gives its own rows.
    threshold
        The walking threshold (same unit as ``cost_col``) for ``share_beyond``.

    Returns
    -------
    (table, theil)
        ``table``: one row per (``grouping``, ``group``) plus the row (``"all"``, ``"all"``),
        with ``children``, ``cells``, ``access_mean`` (children-weighted, over cells with
        access), ``share_no_access`` (children in cells with NaN access), ``gini``, ``theil_t``,
        ``cv_weighted`` (of the access score), ``cost_mean`` (children-weighted, reachable
        cells), ``share_beyond`` (children whose nearest school is farther than ``threshold``
        or unreachable), ``gap``.
        ``theil``: one row per grouping: ``theil_t``, ``between``, ``within``,
        ``between_share`` (Theil T of the access score, children-weighted) and the same for
        Theil L (``theil_l``, ``l_between``, ``l_within``).

    Notes
    -----
    The cells are one piece: ``spatial_equity_of([equity_piece(cells, ...)], [])``, the rule a
    run split into pieces (on a cluster) goes through too.
    """
    one = equity_piece(cells, children_col=children_col, access_col=access_col,
                       cost_col=cost_col, gap_col=gap_col, groups=groups, threshold=threshold)
    return spatial_equity_of([one], [])


# --------------------------------------------------------------------------------------------
# spatial equity from pieces
# --------------------------------------------------------------------------------------------

_ALL = "all"   # the grouping (and its one group) of every cell
_SAMPLE = 512   # scores per piece for the ranges' boundaries (evenly spaced by rank)
#: scored cells per range (about; no more ranges than pieces with scored cells):
#: :func:`equity_bounds`'s rule
RANGE_CELLS = 2_000_000


@dataclass(frozen=True)
class _Part:
    """One grouping of one piece: per group (``labels``, sorted) the sums of
    :func:`spatial_equity`'s measures."""

    labels: np.ndarray
    sums: dict[str, np.ndarray]


@dataclass(frozen=True)
class _Values:
    """One piece's scored cells (score >= 0, children > 0) for the Gini's pair sums across
    pieces: scores ascending, their children and, per grouping column, each one's group as a
    code into the piece's labels of that grouping."""

    y: np.ndarray
    w: np.ndarray
    codes: dict[str, np.ndarray]


@dataclass(frozen=True)
class EquityPiece:
    """What :func:`spatial_equity_of` needs of one piece of the cells (:func:`equity_piece`).

    Attributes
    ----------
    settings
        The columns measured and the threshold (pieces of one run share them).
    parts
        Per grouping (``"all"`` first, then each grouping column present) the groups' sums:
        ``children``, ``cells``; with an access column ``no_access`` (children with NaN access),
        ``n_a``, ``w_a``, ``s1_a``, ``m2_a`` (count, weight, weighted sum and weighted squares
        about the group's mean of the cells with a finite score and children > 0),
        ``negative`` (how many of them score < 0), ``n_b``, ``w_b``, ``s1_b``, ``theil_t``,
        ``theil_l`` and ``pairs`` (:math:`\\sum_{i,j} w_i w_j |y_i - y_j|` inside the piece)
        of the scored cells (score >= 0); with a cost column ``w_cost``, ``s_cost`` (reachable
        cells) and ``beyond``; with a gap column ``gap``. Bounded by the number of groups.
    scored
        Some cell has a score >= 0 and children > 0 (the grouping's Theil row exists).
    sample
        Up to 512 of the scored cells' scores, evenly spaced by rank, ends included (the
        ranges' boundaries: :func:`equity_bounds`).
    values
        The scored cells themselves (:class:`_Values`: 16 bytes and 4 per grouping column a
        cell) for :func:`equity_split`; ``None`` once dropped (:meth:`small`).
    """

    settings: tuple[Any, ...]
    parts: dict[str, _Part]
    scored: bool
    sample: np.ndarray = field(default_factory=lambda: np.zeros(0))
    values: _Values | None = None

    def small(self) -> EquityPiece:
        """This summary without the scored values: what the combination needs."""
        return EquityPiece(self.settings, self.parts, self.scored, self.sample)


def _pairs_sum(ya: np.ndarray, wa: np.ndarray, yb: np.ndarray, wb: np.ndarray) -> float:
    """:math:`\\sum_{i \\in a, j \\in b} w_i w_j |y_i - y_j|` of ``b``'s values sorted
    ascending: each of ``a``'s values against ``b``'s cumulative weight and weighted sum below
    and above it (a binary search each)."""
    if ya.size == 0 or yb.size == 0:
        return 0.0
    cw = np.concatenate([[0.0], np.cumsum(wb)])
    cm = np.concatenate([[0.0], np.cumsum(wb * yb)])
    k = np.searchsorted(yb, ya, side="left")
    below = ya * cw[k] - cm[k]
    above = (cm[-1] - cm[k]) - ya * (cw[-1] - cw[k])
    return float(np.sum(wa * (below + above)))


def _own_pairs(y: np.ndarray, w: np.ndarray) -> float:
    """:math:`\\sum_{i,j} w_i w_j |y_i - y_j|` of scores ``y`` sorted ascending, about the
    lowest (the differences are the same; scores far from 0 lose no digits)."""
    if y.size == 0:
        return 0.0
    dy = y - y[0]
    return _pairs_sum(dy, w, dy, w)


@dataclass(frozen=True)
class _PieceCells:
    """One piece's cells as :func:`spatial_equity` counts them, the same for every grouping:
    per cell the weight of each sum (0 where the cell does not count in it) and, of the cells
    with a score >= 0, the scores, weights and order by score."""

    w: dict[str, np.ndarray]
    acc: np.ndarray | None = None
    scored: np.ndarray | None = None     # finite score >= 0, finite children > 0
    by_value: np.ndarray | None = None   # their order by score

    @classmethod
    def of(cls, w: np.ndarray, acc: np.ndarray | None, cost: np.ndarray | None,
           gap: np.ndarray | None, threshold: float | None) -> _PieceCells:
        zero = np.zeros_like(w)
        out = {"children": w}
        scored = order = None
        if acc is not None:
            a = np.isfinite(acc) & np.isfinite(w) & (w > 0)
            scored = a & (acc >= 0)
            out.update(no_access=np.where(np.isnan(acc), w, zero), n_a=a.astype(float),
                       w_a=np.where(a, w, zero), s1_a=np.where(a, w * acc, zero),
                       negative=(a & (acc < 0)).astype(float), n_b=scored.astype(float),
                       w_b=np.where(scored, w, zero), s1_b=np.where(scored, w * acc, zero))
            order = np.argsort(acc[scored])   # ties in any order: their pair sums are 0
        if cost is not None:
            ok = np.isfinite(cost)
            out.update(w_cost=np.where(ok, w, zero), s_cost=np.where(ok, w * cost, zero))
            if threshold is not None:
                out["beyond"] = np.where(~ok | (cost > threshold), w, zero)
        if gap is not None:
            out["gap"] = np.where(np.isnan(gap), zero, gap)
        return cls(out, acc, scored, order)


_COUNTS = ("cells", "n_a", "negative", "n_b")


def _segments(*keys: np.ndarray) -> np.ndarray:
    """The starts of the runs of equal ``keys`` (sorted rows) and their end."""
    n = len(keys[0])
    change = np.zeros(n, dtype=bool)
    change[:1] = True
    for k in keys:
        change[1:] |= k[1:] != k[:-1]
    return np.append(np.flatnonzero(change), n)


def _equity_part(codes: np.ndarray, labels: np.ndarray, c: _PieceCells) -> _Part:
    k = len(labels)
    sums = {name: np.bincount(codes, weights=v, minlength=k) for name, v in c.w.items()}
    sums["cells"] = np.bincount(codes, minlength=k)
    for name in _COUNTS[1:]:
        if name in sums:
            sums[name] = sums[name].round().astype(np.int64)
    if c.acc is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = sums["s1_a"] / sums["w_a"]
            spread = c.w["w_a"] * (c.acc - mean[codes]) ** 2
        sums["m2_a"] = np.bincount(codes, weights=np.where(c.w["w_a"] > 0, spread, 0.0),
                                   minlength=k)
        cb, y, ws = codes[c.scored], c.acc[c.scored], c.w["children"][c.scored]
        for kind in ("T", "L"):
            sums[f"theil_{kind.lower()}"] = _group_theil(y, ws, cb, k, kind)[2]
        # the scores by group, ascending in each: the piece's own pair sums
        order = c.by_value
        if k > 1:
            order = order[np.argsort(cb[order], kind="stable")]
        y, ws = y[order], ws[order]
        offsets = np.searchsorted(cb[order], np.arange(k + 1))
        sums["pairs"] = np.array([_own_pairs(y[i:j], ws[i:j])
                                  for i, j in zip(offsets[:-1], offsets[1:], strict=True)],
                                 dtype=float)
    return _Part(labels, sums)


def equity_piece(
    piece: pd.DataFrame,
    *,
    children_col: str = "children",
    access_col: str | None = "access",
    cost_col: str | None = "cost",
    gap_col: str | None = "gap",
    groups: tuple[str, ...] | list[str] = ("district", "urban"),
    threshold: float | None = None,
) -> EquityPiece:
    """The summary of one piece of the cells for :func:`spatial_equity_of`.

    A piece is any subset of the cells (one partition's core cells; the pieces of a run are
    disjoint and together hold every cell once). The arguments are :func:`spatial_equity`'s.
    The summary holds per group the sums the table and the Theil decomposition need, and the
    piece's scored values for the Gini's pair sums across pieces (:func:`equity_split`);
    :meth:`EquityPiece.small` drops them.
    """
    w, acc, cost, gap = _equity_inputs(piece, children_col, (access_col, cost_col, gap_col))
    cells = _PieceCells.of(w, acc, cost, gap, threshold)
    present = tuple(col for col in groups if col in piece.columns)
    parts = {_ALL: _equity_part(np.zeros(len(w), dtype=np.intp),
                                np.array([_ALL], dtype=object), cells)}
    codes = {}
    for col in present:
        code, labels = _group_codes(piece[col])
        parts[col] = _equity_part(code, labels, cells)
        codes[col] = code
    scored = acc is not None and bool(((acc >= 0) & (w > 0)).any())
    settings = (children_col, acc is not None, cost is not None, gap is not None, present,
                threshold)
    if acc is None:
        return EquityPiece(settings, parts, scored)
    at = np.flatnonzero(cells.scored)[cells.by_value]   # the scored cells by score
    y = acc[at]
    sample = y[np.unique(np.linspace(0, y.size - 1, min(y.size, _SAMPLE)).round()
                         .astype(np.intp))] if y.size else np.zeros(0)
    values = _Values(y, w[at], {col: c[at].astype(np.int32) for col, c in codes.items()})
    return EquityPiece(settings, parts, scored, sample, values)


# the Gini's pair sums across pieces, by ranges of the scores


def equity_bounds(summaries: list[EquityPiece], *, ranges: int | None = None
                  ) -> np.ndarray | None:
    """The boundaries of the score ranges the Gini's pair sums across pieces go by
    (:func:`equity_split`), from the pieces' samples (:attr:`EquityPiece.sample`).

    ``ranges`` (default: the rule) ranges of about equal numbers of scored cells, cut at
    scores of the samples: range ``r`` holds the scores ``b[r - 1] <= y < b[r]`` (a score
    equal to a boundary is in the range above it; repeated cuts count once, so there may be
    fewer ranges). The rule: one range per :data:`RANGE_CELLS` scored cells, at least one, at
    most one per piece with scored cells. None (no ranges needed: :func:`spatial_equity_of`
    takes the pieces' own pair sums) when at most one piece has scored cells and ``ranges``
    is not given.
    """
    held = [s for s in summaries if s.sample.size]
    if ranges is None:
        if len(held) <= 1:
            return None
        n = sum(int(s.parts[_ALL].sums["n_b"][0]) for s in held)
        ranges = min(len(held), max(1, -(-n // RANGE_CELLS)))
    if ranges < 1:
        raise ValueError("equity_bounds: ranges must be at least 1")
    if not held or ranges == 1:
        return np.zeros(0)
    # each piece's sample stands for its scored cells, evenly
    y = np.concatenate([s.sample for s in held])
    share = np.concatenate([np.full(s.sample.size, s.parts[_ALL].sums["n_b"][0]
                                    / s.sample.size) for s in held])
    order = np.argsort(y, kind="stable")
    y, cum = y[order], np.cumsum(share[order])
    # cut k at the first sampled score whose cells, its own included, pass k / ranges of all
    at = np.searchsorted(cum, cum[-1] * np.arange(1, ranges) / ranges, side="right")
    return np.unique(y[np.minimum(at, y.size - 1)])


def equity_labels(summaries: list[EquityPiece]) -> dict[str, np.ndarray]:
    """Per grouping column, its groups over all pieces (sorted as text: the codes of the
    ranges' rows, :func:`equity_split`, and the order of :func:`spatial_equity_of`'s rows)."""
    names = [n for n in summaries[0].parts if n != _ALL] if summaries else []
    return {n: _union_labels([s.parts[n] for s in summaries]) for n in names}


def _union_labels(parts: list[_Part]) -> np.ndarray:
    return np.array(sorted({str(x) for p in parts for x in p.labels}), dtype=object)


def equity_split(summary: EquityPiece, bounds: np.ndarray,
                 labels: dict[str, np.ndarray]) -> pd.DataFrame:
    """One piece's scored cells as rows for the ranges (:func:`equity_range`): ``range``
    (its number, :func:`equity_bounds`), ``y`` (score), ``w`` (children) and per grouping
    ``group:<column>`` (its group's code in ``labels``, :func:`equity_labels`). On the
    piece's worker, from the full summary; each range's rows go to that range's task."""
    cols = {"range": np.zeros(0, dtype=np.int32), "y": np.zeros(0), "w": np.zeros(0)}
    cols.update({f"group:{n}": np.zeros(0, dtype=np.int32) for n in labels})
    v = summary.values
    if v is None or v.y.size == 0:
        return pd.DataFrame(cols)
    cols.update(range=np.searchsorted(bounds, v.y, side="right").astype(np.int32), y=v.y,
                w=v.w)
    for name, union in labels.items():
        own = np.array([str(x) for x in summary.parts[name].labels], dtype=object)
        to = np.searchsorted(union, own).astype(np.int32)
        cols[f"group:{name}"] = to[v.codes[name]] if own.size else v.codes[name]
    return pd.DataFrame(cols)


_RANGE_COLUMNS = {"grouping": object, "code": np.int64, "range": np.int64, "n": np.int64,
                  "w": float, "low": float, "above": float, "pairs": float}


def equity_range(rows: pd.DataFrame) -> pd.DataFrame:
    """The sums of one or more ranges' rows (:func:`equity_split` of every piece): per
    ``grouping``, group ``code`` and ``range`` the scored cells ``n``, children ``w``, the
    smallest score ``low``, the children's scores above it :math:`\\sum w (y - low)`
    (``above``) and the pair sum :math:`\\sum_{i,j} w_i w_j |y_i - y_j|` inside the range
    (:math:`O(n \\log n)`; both about ``low``, so that scores far from 0 lose no digits).
    A range's rows must all be here (its task's, on a worker)."""
    rg = rows["range"].to_numpy(np.int64)
    y, w = rows["y"].to_numpy(float), rows["w"].to_numpy(float)
    out: dict[str, list] = {c: [] for c in _RANGE_COLUMNS}
    groupings = [(_ALL, np.zeros(len(rows), dtype=np.int64))] + [
        (c[len("group:"):], rows[c].to_numpy(np.int64)) for c in rows.columns
        if c.startswith("group:")]
    for name, code in groupings:
        order = np.lexsort((y, code, rg))
        ys, ws, cs, rs = y[order], w[order], code[order], rg[order]
        cuts = _segments(rs, cs)
        for i, j in zip(cuts[:-1], cuts[1:], strict=True):
            wj = ws[i:j]
            out["grouping"].append(name)
            out["code"].append(cs[i])
            out["range"].append(rs[i])
            out["n"].append(j - i)
            out["w"].append(float(np.sum(wj)))
            out["low"].append(float(ys[i]))
            out["above"].append(float(np.sum(wj * (ys[i:j] - ys[i]))))
            out["pairs"].append(_own_pairs(ys[i:j], wj))
    return pd.DataFrame({c: np.array(v, dtype=t) for (c, t), v in
                         zip(_RANGE_COLUMNS.items(), out.values(), strict=True)})


def _ranged_pairs(ranges: list[pd.DataFrame]) -> dict[tuple[str, int], tuple[int, float]]:
    """Per (grouping, group code) the scored cells the ranges hold and the pair sum over all
    of them: each range's own, plus, for ranges ``r < s`` (every score of ``r`` at most every
    score of ``s``), :math:`2 (W_r M_s - M_r W_s)` (children ``W``, weighted sums ``M``, here
    about the group's smallest score: the same difference, without its digits lost)."""
    if not ranges:
        return {}
    rows = pd.concat(ranges, ignore_index=True).sort_values(
        ["grouping", "code", "range"], kind="stable")
    out = {}
    g, c = rows["grouping"].to_numpy(), rows["code"].to_numpy()
    n, w, low, above, d = (rows[k].to_numpy() for k in ("n", "w", "low", "above", "pairs"))
    cuts = _segments(g, c)
    for i, j in zip(cuts[:-1], cuts[1:], strict=True):
        m = w[i:j] * (low[i:j] - low[i]) + above[i:j]
        below_w = np.cumsum(w[i:j]) - w[i:j]
        below_m = np.cumsum(m) - m
        cross = float(np.sum(m * below_w - w[i:j] * below_m))
        out[(str(g[i]), int(c[i]))] = (int(n[i:j].sum()), float(np.sum(d[i:j])) + 2.0 * cross)
    return out


def _combined(parts: list[_Part]) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """The union of the pieces' groups (sorted) with the sums over the pieces, and per
    piece's group its code in that union."""
    labels = _union_labels(parts)
    rank = {lab: i for i, lab in enumerate(labels)}
    codes = [np.array([rank[str(x)] for x in p.labels], dtype=np.intp) for p in parts]
    code = np.concatenate(codes) if codes else np.zeros(0, dtype=np.intp)
    k = len(labels)
    stacked = {name: np.concatenate([p.sums[name] for p in parts]) for name in parts[0].sums}
    sums = {name: np.bincount(code, weights=v, minlength=k) for name, v in stacked.items()
            if name not in ("m2_a", "theil_t", "theil_l")}
    for name in _COUNTS:
        if name in sums:
            sums[name] = sums[name].round().astype(np.int64)
    if "w_a" in stacked:
        # weighted squares about each group's mean: the pieces' own plus their means' spread
        with np.errstate(divide="ignore", invalid="ignore"):
            mean, mean_p = sums["s1_a"] / sums["w_a"], stacked["s1_a"] / stacked["w_a"]
            spread = np.where(stacked["n_a"] > 0, stacked["w_a"] * (mean_p - mean[code]) ** 2,
                              0.0)
        sums["m2_a"] = np.bincount(code, weights=stacked["m2_a"] + spread, minlength=k)
        for kind in ("T", "L"):
            sums[f"theil_{kind.lower()}"] = _theil_union(
                code, k, stacked["w_b"], stacked["s1_b"], stacked[f"theil_{kind.lower()}"],
                kind)
        # pieces holding scored cells of each group (their own pair sums do without ranges)
        sums["holders"] = np.bincount(code, weights=(stacked["n_b"] > 0).astype(float),
                                      minlength=k)
    return labels, sums, code


def _theil_union(code: np.ndarray, k: int, wp: np.ndarray, s1p: np.ndarray, tp: np.ndarray,
                 kind: str) -> np.ndarray:
    """Each group's Theil index from its parts' weights, weighted sums and own indexes: the
    decomposition of :func:`theil` with the parts as groups."""
    wg = np.bincount(code, weights=wp, minlength=k)
    with np.errstate(divide="ignore", invalid="ignore"):
        mg = np.bincount(code, weights=s1p, minlength=k) / wg
        mp = s1p / wp
        between, within = _theil_terms(wp / wg[code], mp, tp, mg[code], kind)
    used = (wp > 0) & (mg[code] > 0)
    t = np.bincount(code[used], weights=between[used] + within[used], minlength=k)
    return np.where(mg > 0, np.maximum(t, 0.0), 0.0)


def _equity_row(sums: dict[str, np.ndarray], i: int, threshold: float | None) -> dict[str, Any]:
    """:func:`spatial_equity`'s row of group ``i`` from the combined sums."""
    nan = float("nan")
    tot = float(sums["children"][i])
    r: dict[str, Any] = {"children": tot, "cells": int(sums["cells"][i])}
    if "n_a" in sums:
        n_a, w_a, n_b = sums["n_a"][i], sums["w_a"][i], sums["n_b"][i]
        mean = float(sums["s1_a"][i] / w_a) if n_a and w_a > 0 else nan
        nonneg = not sums["negative"][i]
        r["access_mean"] = mean
        r["share_no_access"] = float(sums["no_access"][i] / tot) if tot else nan
        s1_b = float(sums["s1_b"][i])
        gini_ = (nan if not n_b else 0.0 if s1_b == 0
                 else float(sums["pairs"][i] / (2.0 * sums["w_b"][i] * s1_b)))
        r["gini"] = gini_ if nonneg else nan
        r["theil_t"] = (float(sums["theil_t"][i]) if n_b else nan) if nonneg else nan
        r["cv_weighted"] = (nan if not n_a or mean == 0
                            else float(np.sqrt(sums["m2_a"][i] / w_a) / abs(mean)))
    if "w_cost" in sums:
        w_cost = sums["w_cost"][i]
        r["cost_mean"] = float(sums["s_cost"][i] / w_cost) if w_cost > 0 else nan
        if threshold is not None:
            r["share_beyond"] = float(sums["beyond"][i] / tot) if tot else nan
    if "gap" in sums:
        r["gap"] = float(sums["gap"][i])
    return r




def spatial_equity_of(
    summaries: list[EquityPiece],
    ranges: list[pd.DataFrame],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`spatial_equity` of the cells from their pieces' summaries.

    Parameters
    ----------
    summaries
        One :func:`equity_piece` per piece (their :meth:`EquityPiece.small` will do: the
        values are not used), every cell in exactly one piece.
    ranges
        :func:`equity_range` of every range of :func:`equity_bounds` (each frame may hold
        several ranges; in any order), over :func:`equity_split` of every piece: the Gini's
        pair sums. Empty when :func:`equity_bounds` gives None (at most one piece has scored
        cells: each group's pair sum is its piece's own).

    Returns
    -------
    (table, theil)
        Exactly :func:`spatial_equity`'s tables (same rows in the same order, columns, dtypes;
        counts equal, floats to the last bits: only the order of additions differs).

    Raises
    ------
    ValueError
        When the summaries were made with different settings, or the ranges lack scored
        cells of a group (a range missing), or there are no ranges and a group has scored
        cells in several pieces.
    """
    if not summaries:
        raise ValueError("spatial_equity_of needs the summary of at least one piece")
    settings = summaries[0].settings
    if any(s.settings != settings for s in summaries):
        raise ValueError("the pieces' summaries were made with different columns or threshold")
    threshold = settings[5]
    ranged = _ranged_pairs(ranges)
    rows: list[dict[str, Any]] = []
    theil_rows = []
    scored = any(s.scored for s in summaries)
    groupings = {}
    for name in summaries[0].parts:
        labels, sums, _ = _combined([s.parts[name] for s in summaries])
        if "pairs" in sums:
            _gini_pairs(name, labels, sums, ranged if ranges else None)
        groupings[name] = (labels, sums)
        rows.extend({"grouping": name, "group": lab, **_equity_row(sums, i, threshold)}
                    for i, lab in enumerate(labels))
    overall = groupings[_ALL][1]
    for name, (_, sums) in groupings.items():
        if name == _ALL or not scored:
            continue
        parts = {kind: _theil_grouped(overall, sums, kind) for kind in ("T", "L")}
        t, ell = parts["T"], parts["L"]
        theil_rows.append({"grouping": name, "theil_t": t.total, "between": t.between,
                           "within": t.within, "between_share": t.between_share,
                           "theil_l": ell.total, "l_between": ell.between,
                           "l_within": ell.within})
    return pd.DataFrame(rows), pd.DataFrame(theil_rows, columns=[
        "grouping", "theil_t", "between", "within", "between_share", "theil_l", "l_between",
        "l_within"])


def _gini_pairs(name: str, labels: np.ndarray, sums: dict[str, np.ndarray],
                ranged: dict[tuple[str, int], tuple[int, float]] | None) -> None:
    """Each group's pair sum over all its scored cells into ``sums["pairs"]``: the ranges'
    (``ranged``), else the one piece's holding them (checked)."""
    for i, lab in enumerate(labels):
        n = int(sums["n_b"][i])
        if ranged is None:
            if sums["holders"][i] > 1:
                raise ValueError(f"the Gini of {name} {lab!r} needs the ranges of its scores "
                                 f"(equity_bounds, equity_split, equity_range): its scored "
                                 f"cells are in {int(sums['holders'][i])} pieces")
            continue
        got, pairs = ranged.get((name, i), (0, 0.0))
        if got != n:
            raise ValueError(f"the Gini of {name} {lab!r} needs every range of its scores: "
                             f"the ranges hold {got} of its {n} scored cells")
        sums["pairs"][i] = pairs


def _theil_grouped(overall: dict[str, np.ndarray], sums: dict[str, np.ndarray],
                   kind: str) -> TheilResult:
    """The Theil index of the scored cells with its decomposition by one grouping's groups
    (as :func:`_theil_of`), from the combined sums."""
    key = f"theil_{kind.lower()}"
    if not overall["n_b"][0]:
        return TheilResult(float("nan"), 0.0, float("nan"), pd.DataFrame(), kind)
    total = float(overall[key][0])
    W, mu = float(overall["w_b"][0]), float(overall["s1_b"][0] / overall["w_b"][0])
    present = sums["n_b"] > 0
    if mu == 0:
        return TheilResult(total, 0.0, 0.0, pd.DataFrame(), kind)
    wg = sums["w_b"][present]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms, contrib = _theil_terms(wg / W, sums["s1_b"][present] / wg, sums[key][present],
                                      mu, kind)
    return TheilResult(total, max(float(np.sum(terms)), 0.0), float(np.sum(contrib)),
                       pd.DataFrame(), kind)


def spatial_equity_pieces(
    pieces: list[pd.DataFrame],
    *,
    children_col: str = "children",
    access_col: str | None = "access",
    cost_col: str | None = "cost",
    gap_col: str | None = "gap",
    groups: tuple[str, ...] | list[str] = ("district", "urban"),
    threshold: float | None = None,
    submit: Any = None,
    ranges: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`spatial_equity` of the cells given as pieces (disjoint frames holding every cell
    once), through :func:`equity_piece`, the ranges of the scores (:func:`equity_bounds`,
    :func:`equity_split`, :func:`equity_range`) and :func:`spatial_equity_of`.

    ``submit(fn, *args)`` (e.g. ``concurrent.futures.Executor.submit``) runs each range
    elsewhere and returns futures with ``.result()``; by default they run here, one after the
    other. ``ranges``: how many ranges (default :func:`equity_bounds`'s rule).
    """
    summaries = [equity_piece(p, children_col=children_col, access_col=access_col,
                              cost_col=cost_col, gap_col=gap_col, groups=groups,
                              threshold=threshold) for p in pieces]
    small = [s.small() for s in summaries]
    bounds = equity_bounds(small, ranges=ranges)
    if bounds is None:
        return spatial_equity_of(small, [])
    labels = equity_labels(small)
    rows = pd.concat([equity_split(s, bounds, labels) for s in summaries], ignore_index=True)
    each = [part for _, part in rows.groupby("range", sort=True)]
    if submit is None:
        done = [equity_range(part) for part in each]
    else:
        futures = [submit(equity_range, part) for part in each]
        done = [f.result() for f in futures]
    return spatial_equity_of(small, done)


# --------------------------------------------------------------------------------------------
# Lorenz curves from pieces
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LorenzPiece:
    """One piece's part of the report's Lorenz curves (:func:`lorenz_piece`).

    Attributes
    ----------
    candidates
        Per curve (``None``: all children; else a class of ``by``) the piece's values at
        ``points`` evenly spaced ranks, ending with its largest: where the curve's points may
        fall (at most ``points`` values a curve).
    values
        Per curve the piece's counted values, sorted, and their children (for
        :func:`lorenz_at`); empty once :meth:`small` dropped them.
    """

    candidates: dict[str | None, np.ndarray]
    values: dict[str | None, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def small(self) -> LorenzPiece:
        """The candidates only: what :func:`lorenz_values` needs."""
        return LorenzPiece(self.candidates)


def lorenz_piece(piece: pd.DataFrame, *, access_col: str = "access",
                 children_col: str = "children", by: str | None = "urban",
                 points: int = 2001) -> LorenzPiece:
    """The part of one piece of the cells in the Lorenz curves of access (the report's).

    A cell counts when its score is finite and >= 0 and it has children (missing children
    count as 0). The curves are the one of all children and, when the column ``by`` is present,
    one per class (its values as text; cells without a class are in no class curve).
    """
    a = pd.to_numeric(piece[access_col], errors="coerce").to_numpy(float, na_value=np.nan)
    w = pd.to_numeric(piece[children_col], errors="coerce").fillna(0).to_numpy(float)
    ok = np.isfinite(a) & (a >= 0) & np.isfinite(w) & (w > 0)
    curves: dict[str | None, np.ndarray] = {None: ok}
    if by is not None and by in piece.columns:
        text = piece[by].astype(str)
        for lab in sorted(text[piece[by].notna()].unique()):
            curves[lab] = ok & (text == lab).to_numpy()
    cand, values = {}, {}
    for key, m in curves.items():
        if not m.any():
            continue
        y, ww = a[m], w[m]
        order = np.argsort(y, kind="stable")
        y, ww = y[order], ww[order]
        ranks = np.unique(np.round(np.linspace(0, y.size, points)).astype(np.int64))[1:]
        cand[key], values[key] = np.unique(y[ranks - 1]), (y, ww)
    return LorenzPiece(cand, values)


def lorenz_values(summaries: list[LorenzPiece]) -> dict[str | None, np.ndarray]:
    """Per curve the values where the curves are evaluated: every piece's candidates, sorted
    and distinct (``None``, all children, first; then the classes in sorted order)."""
    keys = {k for s in summaries for k in s.candidates}
    order = ([None] if None in keys else []) + sorted(k for k in keys if k is not None)
    return {k: np.unique(np.concatenate([s.candidates[k] for s in summaries
                                         if k in s.candidates])) for k in order}


def lorenz_at(summary: LorenzPiece, values: dict[str | None, np.ndarray]
              ) -> dict[str | None, np.ndarray]:
    """One piece's cumulative count, children and children times score of the cells whose
    score is <= each value: per curve an array of 3 rows, one column per value."""
    out = {}
    for key, v in values.items():
        if key not in summary.values:
            continue
        y, w = summary.values[key]
        k = np.searchsorted(y, v, side="right")
        out[key] = np.vstack([k.astype(float),
                              np.concatenate([[0.0], np.cumsum(w)])[k],
                              np.concatenate([[0.0], np.cumsum(w * y)])[k]])
    return out


def lorenz_of(values: dict[str | None, np.ndarray],
              evaluated: list[dict[str | None, np.ndarray]], *,
              points: int = 2001) -> dict[str | None, pd.DataFrame]:
    """The Lorenz curves of access from the pieces, for the report's chart and table.

    Parameters
    ----------
    values
        :func:`lorenz_values` of the pieces' :func:`lorenz_piece`.
    evaluated
        :func:`lorenz_at` of every piece at ``values``.
    points
        At most this many points a curve (the report keeps 2,001).

    Returns
    -------
    dict
        ``None`` (all children) and each class label, in that order, mapped to the columns of
        :func:`lorenz_curve`: ``population_share``, ``value_share``, ``value`` (NaN at the
        origin). Every point is a vertex of the exact curve: the shares of the children whose
        score is at most ``value``, i.e. :func:`lorenz_curve`'s row at the last of the cells
        scoring ``value``. With ``N`` cells and ``N + 1 <= points``, one point per distinct
        value; else, for each of ``points`` evenly spaced ranks ``round(j N / (points - 1))``,
        the first evaluated point at or after it (the rank itself when there is one piece
        and no tie), so consecutive points are at most about ``2 N / (points - 1)`` cells
        apart.
    """
    out = {}
    for key, v in values.items():
        parts = [e[key] for e in evaluated if key in e]
        if not parts:
            continue
        n, cw, cm = np.sum(parts, axis=0)
        total_n, total_w, total_m = n[-1], cw[-1], cm[-1]
        if total_n + 1 > points:
            targets = np.unique(np.round(np.linspace(0, total_n, points)))[1:]
            sel = np.unique(np.searchsorted(n, targets, side="left"))
        else:
            sel = np.arange(v.size)
        p = cw[sel] / total_w
        lv = cm[sel] / total_m if total_m != 0 else p.copy()
        p[-1], lv[-1] = 1.0, 1.0
        out[key] = pd.DataFrame({"population_share": np.concatenate([[0.0], p]),
                                 "value_share": np.concatenate([[0.0], lv]),
                                 "value": np.concatenate([[np.nan], v[sel]])})
    return out


def lorenz_pieces(pieces: list[pd.DataFrame], *, access_col: str = "access",
                  children_col: str = "children", by: str | None = "urban",
                  points: int = 2001) -> dict[str | None, pd.DataFrame]:
    """:func:`lorenz_of` of the cells given as pieces, here, one piece after the other."""
    summaries = [lorenz_piece(p, access_col=access_col, children_col=children_col, by=by,
                              points=points) for p in pieces]
    values = lorenz_values([s.small() for s in summaries])
    return lorenz_of(values, [lorenz_at(s, values) for s in summaries], points=points)
