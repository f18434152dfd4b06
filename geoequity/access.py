"""Accessibility of school seats per demand cell, from a long cost table.

Every measure takes a cost table (``pandas.DataFrame`` with columns ``origin``, ``destination``,
``cost``; any source: network, straight line or a matrix the user brings), ``demand`` (children,
a ``pandas.Series`` indexed by demand id) and ``supply`` (seats, a ``pandas.Series`` indexed by
school id), and returns a ``pandas.Series`` indexed like ``demand``. A school is within the
threshold when ``cost <= threshold``. Cells that reach no school get **NaN** ("no access"),
never 0; the count is reported on stderr and kept in ``result.attrs["no_access"]``.

Formulas (``w(d)`` is the decay weight, 1 for the binary catchment; sums run over pairs in the
table with ``d_ij <= threshold``):

* nearest: ``min_j d_ij`` and its school (ties: the smallest school id in sort order).
* cumulative: ``A_i = sum_j w(d_ij) S_j``.
* 2SFCA (Luo & Wang 2003) and E2SFCA (Luo & Qi 2009): ``R_j = S_j / sum_i w(d_ij) P_i`` and
  ``A_i = sum_j w(d_ij) R_j`` (binary ``w`` for 2SFCA), exactly as PySAL ``access``.
* BFCA (Paez, Higgins & Vivona 2019): with ``wi_ij = w_ij / sum_j w_ij`` (by origin) and
  ``wj_ij = w_ij / sum_i w_ij`` (by school), ``L_j = S_j / sum_i wi_ij P_i`` and
  ``A_i = sum_j wj_ij L_j``: each child is counted once (``sum_j sum_i wi_ij P_i`` is every
  reaching child) and each school's level of service once (``sum_i A_i = sum_j L_j``).
* gravity (Hansen 1959): ``A_i = sum_j S_j f(d_ij)``.
* supply ratio (per school): ``R_j`` above, seats per (weighted) child in the catchment.

The vectorised form (integer codes + ``numpy.bincount``) gives the same numbers as PySAL
``access`` without its row-by-row ``apply``. ``costs`` may also be a
:class:`geoequity.pairs.Pairs` (the table already coded to positions, as a run passes it), so a
run codes its table once; validation and coding live in :mod:`geoequity.pairs`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from geoequity import _fca_kernel
from geoequity._errors import input_error
from geoequity._options import option
from geoequity._progress import info
from geoequity.decay import DecayLike, decay_reach, make_decay, method_decay
from geoequity.pairs import COST_COLUMNS, Pairs, as_pairs, as_series, check_costs, id_index

METHODS = ("nearest", "cumulative", "2sfca", "e2sfca", "bfca", "gravity")

__all__ = [
    "METHODS", "accessibility", "nearest", "cumulative", "two_stage_fca",
    "enhanced_two_stage_fca", "balanced_fca", "gravity", "supply_ratio", "supply_ratio_of",
    "fair_share",
]


def _threshold(threshold: float | None, decay: DecayLike = None, decay_param: Any = None,
               *, required: bool = True) -> float | None:
    if threshold is None:
        threshold = decay_reach(decay, decay_param)
    if threshold is None:
        if required:
            raise input_error(option("threshold"), "a catchment threshold is required",
                              f"give {option('threshold')} in cost units")
        return None
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise input_error("threshold", f"{threshold!r} is not a number",
                          "pass a number in cost units") from None
    if not t >= 0:
        raise input_error("threshold", f"{threshold!r} must be >= 0", "pass a positive number")
    return t


def _finish(values: np.ndarray, reached: np.ndarray, index: pd.Index, name: str,
            demand: np.ndarray | None, *, label: str) -> pd.Series:
    out = np.where(reached, values, np.nan)
    s = pd.Series(out, index=index, name=name)
    n_none = int((~reached).sum())
    s.attrs["no_access"] = n_none
    if demand is not None:
        s.attrs["no_access_children"] = float(demand[~reached].sum())
    if n_none:
        extra = (f" ({s.attrs['no_access_children']:,.0f} children)"
                 if demand is not None else "")
        info(f"{label}: {n_none} of {len(index)} cells reach no school{extra}: no access (NaN)")
    return s


def _is_binary(decay: DecayLike) -> bool:
    """No decay: every school within the threshold weighs 1."""
    return decay is None or (isinstance(decay, str) and decay.lower() in ("binary", "none"))


def _weights(p: Pairs, decay: DecayLike, decay_param: Any, threshold: float | None
             ) -> np.ndarray | None:
    if _is_binary(decay):
        return None
    w = make_decay(decay, decay_param, threshold=threshold)(p.cost)
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise input_error(option("decay"), "the decay produced negative or infinite weights",
                          "check the decay parameter (a power decay needs d_min > 0)")
    return w


def _fca(p: Pairs, dem: np.ndarray, sup: np.ndarray, w: np.ndarray | None
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both 2SFCA stages. Returns (A_i, R_j, weighted children per school)."""
    pw = dem[p.origin]
    if w is not None:
        pw *= w
    catch = np.bincount(p.destination, weights=pw, minlength=p.n_destinations)
    del pw
    ratio = _seats_per_child(sup, catch)
    r = np.nan_to_num(ratio, nan=0.0)[p.destination]  # schools without children in reach add nothing
    if w is not None:
        r *= w
    a = np.bincount(p.origin, weights=r, minlength=p.n_origins)
    return a, ratio, catch


def _seats_per_child(seats: np.ndarray, children: np.ndarray) -> np.ndarray:
    """2SFCA's first stage, R_j: each school's seats per child within its reach (NaN for a
    school with no child in reach)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(children > 0, seats / children, np.nan)


def _reached(p: Pairs) -> np.ndarray:
    return np.bincount(p.origin, minlength=p.n_origins) > 0


# ----------------------------------------------------------------------------------------------
# measures
# ----------------------------------------------------------------------------------------------

def nearest(costs: pd.DataFrame | Pairs, demand: Any, *, supply: pd.Series | None = None,
            threshold: float | None = None) -> pd.DataFrame:
    """Nearest school of each demand cell and its cost.

    Parameters
    ----------
    costs
        Long cost table ``origin, destination, cost`` (metres, minutes, ...).
    demand
        Demand ids (any list-like) or a Series/DataFrame indexed by demand id.
    supply
        Optional seats per school id: only these schools count (all schools of the table
        otherwise). Schools with 0 seats still count as schools.
    threshold
        Optional cut-off: schools beyond it are ignored.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``demand``, columns ``nearest_id`` and ``nearest_cost``; NaN/NA where no
        school is reached. Ties on cost go to the smallest school id (sort order).
    """
    idx = id_index(demand)
    dest = None if supply is None else as_series(supply, "supply", "seats").index
    t = None if threshold is None else _threshold(threshold)
    p = as_pairs(costs, idx, dest, threshold=t)
    dest = p.destinations
    pos, cost = p.nearest()
    reached = pos >= 0
    if p.n_destinations == 0:  # no school at all: every id is missing
        nid = pd.Series(pd.array([pd.NA] * p.n_origins, dtype=object), index=idx)
    else:
        nid = pd.Series(np.asarray(dest.take(np.where(reached, pos, 0))), index=idx)
    if pd.api.types.is_integer_dtype(nid.dtype):
        nid = nid.astype("Int64")
    nid = nid.mask(pd.Series(~reached, index=idx))
    out = pd.DataFrame({"nearest_id": nid, "nearest_cost": cost}, index=idx)
    n_none = int((~reached).sum())
    out.attrs["no_access"] = n_none
    if n_none:
        where = (f"within {t:g}" if t is not None
                 else "in the cost table (none within its longest trip)")
        info(f"nearest: {n_none} of {len(idx)} cells have no school {where}: NaN")
    return out


def _origins(costs: pd.DataFrame | Pairs, demand: Any) -> pd.Index:
    """The rows of a result: the demand ids, else the table's origins (sorted) or the coded
    ones."""
    if demand is not None:
        return id_index(demand)
    if isinstance(costs, Pairs):
        return costs.origins
    check_costs(costs)
    return pd.Index(pd.unique(costs["origin"])).sort_values()


def cumulative(costs: pd.DataFrame | Pairs, supply: pd.Series, threshold: float, *,
               demand: Any = None, decay: DecayLike = None, decay_param: Any = None
               ) -> pd.Series:
    """Cumulative opportunities: seats within the threshold, ``A_i = sum_j w(d_ij) S_j``.

    Parameters
    ----------
    costs
        Long cost table ``origin, destination, cost``.
    supply
        Seats per school id.
    threshold
        Catchment threshold in cost units (``cost <= threshold``).
    demand
        Demand ids or a Series indexed by them (the rows of the result); default: the origins
        of the cost table, sorted.
    decay, decay_param
        Optional decay weight (see :mod:`geoequity.decay`); PySAL ``weighted_catchment``.

    Returns
    -------
    pandas.Series
        Seats within reach per demand id; NaN where no school is within the threshold.
    """
    sup = as_series(supply, "supply", "seats")
    idx = _origins(costs, demand)
    t = _threshold(threshold, decay, decay_param)
    p = as_pairs(costs, idx, sup.index, threshold=t)
    w = _weights(p, decay, decay_param, t)
    s = sup.to_numpy()[p.destination]
    a = np.bincount(p.origin, weights=s if w is None else s * w, minlength=p.n_origins)
    dem = (as_series(demand, "demand", "children").to_numpy()
           if isinstance(demand, pd.Series) else None)
    return _finish(a, _reached(p), idx, "access", dem, label="cumulative")


def two_stage_fca(costs: pd.DataFrame | Pairs, demand: pd.Series, supply: pd.Series,
                  threshold: float) -> pd.Series:
    """Two-step floating catchment area (2SFCA, Luo & Wang 2003), binary catchment.

    ``R_j = S_j / sum_{i: d_ij <= t} P_i`` and ``A_i = sum_{j: d_ij <= t} R_j``: seats per child
    within reach. The child-weighted sum ``sum_i P_i A_i`` equals the seats of all schools any
    child reaches. Equals PySAL ``access`` ``two_stage_fca``.

    Parameters
    ----------
    costs
        Long cost table ``origin, destination, cost``.
    demand
        Children per demand id.
    supply
        Seats per school id.
    threshold
        Catchment threshold in cost units.

    Returns
    -------
    pandas.Series
        Seats per child per demand id; NaN where no school is within the threshold.
    """
    return _fca_measure(costs, demand, supply, threshold, None, None, "2sfca")


def enhanced_two_stage_fca(costs: pd.DataFrame | Pairs, demand: pd.Series,
                           supply: pd.Series, threshold: float | None = None, *,
                           decay: DecayLike = "dai", decay_param: Any = None) -> pd.Series:
    """Enhanced 2SFCA (Luo & Qi 2009): 2SFCA with a distance-decay weight in both steps.

    ``R_j = S_j / sum_i w(d_ij) P_i`` and ``A_i = sum_j w(d_ij) R_j``. Equals PySAL ``access``
    ``enhanced_two_stage_fca`` with ``weight_fn`` the same decay. ``decay`` defaults to Dai's
    truncated Gaussian over the threshold; ``decay="step", decay_param="10:1,20:0.68,30:0.22"``
    gives Luo & Qi's step zones (and the threshold defaults to the last zone).

    Returns
    -------
    pandas.Series
        Weighted seats per child per demand id; NaN where no school is within the threshold.
    """
    return _fca_measure(costs, demand, supply, threshold, decay, decay_param, "e2sfca")


def _fca_measure(costs: pd.DataFrame | Pairs, demand, supply, threshold, decay, decay_param,
                 label) -> pd.Series:
    dem = as_series(demand, "demand", "children")
    sup = as_series(supply, "supply", "seats")
    t = _threshold(threshold, decay, decay_param)
    weight_fn = None if _is_binary(decay) else make_decay(decay, decay_param, threshold=t)
    if isinstance(costs, Pairs):  # positions are integers: the compiled pass fits any ids
        p = costs.recode(dem.index, sup.index)
        fast = _fca_kernel.fca_coded(p.origin, p.destination, p.cost, dem.to_numpy(),
                                     sup.to_numpy(), t, weight_fn)
    else:
        check_costs(costs)
        fast = _fca_kernel.fca(costs, dem.index, dem.to_numpy(), sup.index, sup.to_numpy(), t,
                               weight_fn)
    if fast is not None:  # one compiled pass over the columns (see geoequity._fca_kernel)
        _, a, reached, unknown = fast
        if unknown:
            info(f"costs: {unknown} cost rows name an origin or school not in the inputs; "
                 "ignored")
        return _finish(a, reached, dem.index, "access", dem.to_numpy(), label=label)
    p = as_pairs(costs, dem.index, sup.index, threshold=t)
    w = _weights(p, decay, decay_param, t)
    a, _, _ = _fca(p, dem.to_numpy(), sup.to_numpy(), w)
    return _finish(a, _reached(p), dem.index, "access", dem.to_numpy(), label=label)


def balanced_fca(costs: pd.DataFrame | Pairs, demand: pd.Series, supply: pd.Series,
                 threshold: float | None = None, *, decay: DecayLike = None,
                 decay_param: Any = None) -> pd.Series:
    """Balanced floating catchment area (BFCA, Paez, Higgins & Vivona 2019).

    Weights are split by origin (``wi_ij = w_ij / sum_j w_ij``) to share each cell's children
    among its catchments and by school (``wj_ij = w_ij / sum_i w_ij``) to share each school's
    seats among its cells: ``L_j = S_j / sum_i wi_ij P_i``, ``A_i = sum_j wj_ij L_j``. As in
    the ``accessibility`` R package (``fca_bfca``). Children are preserved
    (``sum_j sum_i wi_ij P_i`` counts every reaching child once) and so is the level of
    service (``sum_i A_i = sum_j L_j``): no inflation from overlapping catchments.

    Returns
    -------
    pandas.Series
        The cell's share of level of service (seats per child); NaN where no school is within
        the threshold.
    """
    dem = as_series(demand, "demand", "children")
    sup = as_series(supply, "supply", "seats")
    t = _threshold(threshold, decay, decay_param)
    p = as_pairs(costs, dem.index, sup.index, threshold=t)
    w = _weights(p, decay, decay_param, t)
    if w is None:
        w = np.ones(len(p.cost))
    row = np.bincount(p.origin, weights=w, minlength=p.n_origins)
    col = np.bincount(p.destination, weights=w, minlength=p.n_destinations)
    with np.errstate(divide="ignore", invalid="ignore"):
        wi = np.where(row[p.origin] > 0, w / row[p.origin], 0.0)
        wj = np.where(col[p.destination] > 0, w / col[p.destination], 0.0)
        served = np.bincount(p.destination, weights=dem.to_numpy()[p.origin] * wi, minlength=p.n_destinations)
        los = np.where(served > 0, sup.to_numpy() / served, np.nan)
    contrib = los[p.destination] * wj
    a = np.bincount(p.origin, weights=np.where(np.isnan(contrib), 0.0, contrib), minlength=p.n_origins)
    return _finish(a, _reached(p), dem.index, "access", dem.to_numpy(), label="bfca")


def gravity(costs: pd.DataFrame | Pairs, supply: pd.Series, *, demand: Any = None,
            decay: DecayLike = "power", decay_param: Any = 1.0,
            threshold: float | None = None) -> pd.Series:
    """Gravity (Hansen 1959) accessibility ``A_i = sum_j S_j f(d_ij)``.

    ``f`` defaults to the inverse power ``max(d, 1)^-1``; any decay of
    :mod:`geoequity.decay` works (PySAL ``weights.gravity(scale, alpha, min_dist)`` is
    ``decay="power", decay_param=f"{-alpha}:{scale}"`` when ``min_dist == scale``). The
    threshold is optional (all pairs in the table otherwise).

    Returns
    -------
    pandas.Series
        Decay-weighted seats per demand id; NaN where no school is in the table (or within the
        threshold).
    """
    sup = as_series(supply, "supply", "seats")
    idx = _origins(costs, demand)
    t = _threshold(threshold, decay, decay_param, required=False)
    p = as_pairs(costs, idx, sup.index, threshold=t)
    w = make_decay(decay, decay_param, threshold=t)(p.cost)
    a = np.bincount(p.origin, weights=sup.to_numpy()[p.destination] * w, minlength=p.n_origins)
    dem = (as_series(demand, "demand", "children").to_numpy()
           if isinstance(demand, pd.Series) else None)
    return _finish(a, _reached(p), idx, "access", dem, label="gravity")


def supply_ratio(costs: pd.DataFrame | Pairs, demand: pd.Series, supply: pd.Series,
                 threshold: float | None = None, *, decay: DecayLike = None,
                 decay_param: Any = None) -> pd.DataFrame:
    """Per school: seats per child in its catchment (the 2SFCA first step): crowding.

    Returns
    -------
    pandas.DataFrame
        Indexed by school id: ``seats``, ``children`` (decay-weighted children within the
        threshold), ``seats_per_child`` (``seats / children``; NaN when no child is in reach),
        ``children_per_seat`` (crowding; NaN when the school has no seats).
    """
    dem = as_series(demand, "demand", "children")
    sup = as_series(supply, "supply", "seats")
    t = _threshold(threshold, decay, decay_param)
    p = as_pairs(costs, dem.index, sup.index, threshold=t)
    w = _weights(p, decay, decay_param, t)
    _, _, catch = _fca(p, dem.to_numpy(), sup.to_numpy(), w)
    return supply_ratio_of(catch, sup)


def supply_ratio_of(children: np.ndarray, supply: pd.Series) -> pd.DataFrame:
    """:func:`supply_ratio`'s table from the children within reach of each school (in the
    order of ``supply``), e.g. summed over the partitions of a cluster run."""
    seats = supply.to_numpy()
    catch = np.asarray(children, dtype=np.float64)
    ratio = _seats_per_child(seats, catch)
    with np.errstate(divide="ignore", invalid="ignore"):
        crowd = np.where(seats > 0, catch / seats, np.nan)
    return pd.DataFrame({"seats": seats, "children": catch, "seats_per_child": ratio,
                         "children_per_seat": crowd}, index=supply.index)


def fair_share(demand: pd.Series, supply: pd.Series) -> float:
    """The study area's seats per child, ``sum_j S_j / sum_i P_i`` (1.0 after normalising)."""
    dem = as_series(demand, "demand", "children")
    sup = as_series(supply, "supply", "seats")
    total = dem.sum()
    if total <= 0:
        raise input_error("demand", "there are no children at all", "check the demand column")
    return float(sup.sum() / total)


def accessibility(costs: pd.DataFrame | Pairs, demand: pd.Series, supply: pd.Series, *,
                  method: str, threshold: float | None = None, decay: DecayLike = None,
                  decay_param: Any = None, normalize: bool = False) -> pd.Series:
    """Accessibility per demand cell by ``method`` (one word switches the measure).

    Parameters
    ----------
    costs
        Long cost table ``origin, destination, cost`` (metres or minutes).
    demand
        Children per demand id (the result's index, in order).
    supply
        Seats per school id.
    method
        ``nearest`` (cost of the nearest school), ``cumulative``, ``2sfca``, ``e2sfca``,
        ``bfca`` or ``gravity``.
    threshold
        Catchment threshold in cost units (``cost <= threshold``); optional for ``nearest``
        and ``gravity`` and when a ``step``/``dai``/``linear`` decay bounds itself.
    decay, decay_param
        Decay name and parameter (:mod:`geoequity.decay`). ``e2sfca`` defaults to ``dai``,
        ``gravity`` to ``power`` with beta 1; ``2sfca`` ignores decay (binary catchment).
    normalize
        Divide by the study area's seats per child ``sum S / sum P`` so 1.0 is a fair share
        (a gap index) for ``2sfca``/``e2sfca``. ``cumulative``, ``bfca`` and ``gravity`` are
        divided by their child-weighted mean (as PySAL ``access`` normalises).

    Returns
    -------
    pandas.Series
        Named ``access``, indexed like ``demand``; NaN = no access.
    """
    m = str(method).lower()
    dem = as_series(demand, "demand", "children")
    if m == "nearest":
        if normalize:
            raise input_error(option("method"), "nearest costs cannot be normalised",
                              "drop --normalize or pick a ratio measure")
        out = nearest(costs, dem, supply=supply, threshold=threshold)["nearest_cost"]
        return out.rename("access")
    if m == "cumulative":
        res = cumulative(costs, supply, threshold, demand=dem, decay=decay,
                         decay_param=decay_param)
    elif m == "2sfca":
        method_decay(m, decay, decay_param)
        res = two_stage_fca(costs, dem, supply, threshold)
    elif m == "e2sfca":
        decay, decay_param = method_decay(m, decay, decay_param, threshold=threshold)
        res = enhanced_two_stage_fca(costs, dem, supply, threshold, decay=decay,
                                     decay_param=decay_param)
    elif m == "bfca":
        res = balanced_fca(costs, dem, supply, threshold, decay=decay, decay_param=decay_param)
    elif m == "gravity":
        decay, decay_param = method_decay(m, decay, decay_param, threshold=threshold)
        res = gravity(costs, supply, demand=dem, threshold=threshold, decay=decay,
                      decay_param=decay_param)
    else:
        raise input_error(option("method"), f"unknown method {method!r}",
                          f"use one of {', '.join(METHODS)}")
    if normalize:
        attrs = dict(res.attrs)
        if m in ("2sfca", "e2sfca"):
            res = res / fair_share(dem, supply)
        else:
            ok = res.notna()
            mean = float((res[ok] * dem[ok]).sum() / dem[ok].sum()) if dem[ok].sum() else 0.0
            res = res / mean if mean > 0 else res * np.nan
        res.attrs.update(attrs)
    return res.rename("access")
