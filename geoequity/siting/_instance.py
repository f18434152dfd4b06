"""Validated, index-based view of a siting problem: demand weights and sparse cost pairs.

Everything the solvers need is put into integer positions once, here, so the model builders
and heuristics can trust their arrays: demand ``i`` in ``0..n-1``, candidates ``j`` in
``0..m-1`` and existing schools ``e`` in ``0..q-1``. Cost pairs are kept sparse (COO arrays
sorted by demand, then cost); no dense matrix is ever built.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geoequity._errors import input_error
from geoequity.pairs import Pairs, as_pairs


@dataclass
class Instance:
    """Integer-indexed siting instance (internal)."""

    demand_ids: pd.Index          # all demand ids with children > 0 that any school reaches
    w: np.ndarray                 # children per demand (float64, > 0)
    cand_ids: pd.Index            # candidate ids (model order)
    exist_ids: pd.Index           # existing school ids
    # candidate pairs (demand i, candidate j, cost c), sorted by (i, c)
    ci: np.ndarray
    cj: np.ndarray
    cc: np.ndarray
    # existing pairs (demand i, existing e, cost c), sorted by (i, c)
    ei: np.ndarray
    ej: np.ndarray
    ec: np.ndarray
    unreachable: pd.Index         # demand ids with children > 0 that no school or candidate reaches
    zero_demand: int              # demand rows with 0 children (kept out of the model)
    max_cost: float
    cand_capacity: np.ndarray | None = None   # seats per candidate (NaN = unknown)
    cand_build_cost: np.ndarray | None = None
    exist_seats: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.w)

    @property
    def m(self) -> int:
        return len(self.cand_ids)

    @property
    def q(self) -> int:
        return len(self.exist_ids)

    def nearest_existing(self) -> np.ndarray:
        """Cost from each demand to its nearest existing school (inf when none is reachable)."""
        d = np.full(self.n, np.inf)
        if len(self.ei):
            np.minimum.at(d, self.ei, self.ec)
        return d

    def fallback_cost(self, unreached_cost: float) -> np.ndarray:
        """Cost a child pays when no chosen site serves it: its nearest existing school, else
        ``unreached_cost``."""
        return np.minimum(self.nearest_existing(), unreached_cost)


def _ids(obj: object, what: str) -> tuple[pd.Index, pd.DataFrame | None]:
    """Ids (and the attribute frame, when one is given) from a list, Series, Index or frame."""
    if obj is None:
        return pd.Index([]), None
    if isinstance(obj, pd.DataFrame):
        frame = obj
        idx = obj.index
    elif isinstance(obj, pd.Series):
        if obj.dtype == bool:  # a mask: the True rows are the sites
            idx = obj.index[obj.to_numpy()]
            frame = None
        else:  # numbers by id: seats (existing) or capacity (candidates)
            idx = obj.index
            frame = pd.DataFrame({"seats": pd.to_numeric(obj, errors="coerce")}, index=idx)
    else:
        idx = pd.Index(list(obj) if not isinstance(obj, pd.Index) else obj)
        frame = None
    if idx.has_duplicates:
        dup = idx[idx.duplicated()].unique()[:5].tolist()
        raise input_error(what, f"duplicate ids {dup}", "give each site a unique id")
    return idx, frame


def _column(frame: pd.DataFrame | None, names: Iterable[str]) -> pd.Series | None:
    if frame is None:
        return None
    for name in names:
        if name in frame.columns:
            return pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return None


def _values_for(ids: pd.Index, given: object, frame: pd.DataFrame | None,
                names: Iterable[str], what: str) -> np.ndarray | None:
    """Per-id values from an explicit scalar/Series/mapping, else from a frame column."""
    if given is not None:
        if np.isscalar(given):
            return np.full(len(ids), float(given))
        s = pd.Series(given, dtype="float64")
        missing = ids.difference(s.index)
        if len(missing):
            raise input_error(what, f"no value for ids {missing[:5].tolist()}",
                              "give a value for every site (or a single number)")
        return s.reindex(ids).to_numpy(dtype="float64")
    col = _column(frame, names)
    return None if col is None else col.reindex(ids).to_numpy(dtype="float64")


def build_instance(costs: pd.DataFrame | Pairs, demand: pd.Series, candidates: object, *,
                   existing: object = None, capacities: object = None,
                   build_costs: object = None) -> Instance:
    """Check the inputs and index them (see :func:`geoequity.siting.site_schools`).

    ``costs`` is a long table or the same already coded (:class:`geoequity.pairs.Pairs`,
    recoded here against the demand and the candidates + existing schools).
    """
    if not isinstance(demand, pd.Series):
        raise input_error("demand", "demand must be a pandas Series of children by id",
                          "pass e.g. cells['children']")
    if demand.index.has_duplicates:
        dup = demand.index[demand.index.duplicated()].unique()[:5].tolist()
        raise input_error("demand", f"duplicate demand ids {dup}", "make the ids unique")
    dem = pd.to_numeric(demand, errors="coerce").astype("float64")
    bad = dem.index[~np.isfinite(dem.to_numpy()) | (dem.to_numpy() < 0)]
    if len(bad):
        raise input_error("demand", f"{len(bad)} rows have a missing or negative number of "
                          f"children, e.g. id {bad[0]!r}", "fix or drop those rows")
    cand_idx, cand_frame = _ids(candidates, "candidates")
    exist_idx, exist_frame = _ids(existing, "existing")
    if len(cand_idx) == 0:
        raise input_error("candidates", "no candidate sites given",
                          "pass candidate ids or use generate_candidates()")
    both = cand_idx.intersection(exist_idx)
    if len(both):
        raise input_error("candidates", f"ids {both[:5].tolist()} are both candidates and "
                          "existing schools", "give candidates ids of their own")

    zero = int((dem.to_numpy() == 0).sum())
    fac_idx = cand_idx.append(exist_idx)
    p = as_pairs(costs, dem.index, fac_idx)   # checked, coded, duplicates at their lowest cost
    # demand with children only: positions among the cells with children
    has = dem.to_numpy() > 0
    keep = has[p.origin]
    d_pos, f_pos, cost = p.origin[keep], p.destination[keep], p.cost[keep]
    pos_dem = dem[has]
    d_pos = (np.cumsum(has) - 1)[d_pos]
    order = np.lexsort((cost, f_pos, d_pos))
    d_pos, f_pos, cost = d_pos[order], f_pos[order], cost[order]

    reached = np.zeros(len(pos_dem), bool)
    reached[d_pos] = True
    unreachable = pd.Index(pos_dem.index[~reached])
    new_pos = np.cumsum(reached) - 1
    d_pos = new_pos[d_pos]
    w = pos_dem.to_numpy()[reached]
    ids = pd.Index(pos_dem.index[reached])

    m = len(cand_idx)
    is_c = f_pos < m
    o = np.lexsort((cost[is_c], d_pos[is_c]))
    ci, cj, cc = d_pos[is_c][o], f_pos[is_c][o], cost[is_c][o]
    o = np.lexsort((cost[~is_c], d_pos[~is_c]))
    ei, ej, ec = d_pos[~is_c][o], f_pos[~is_c][o] - m, cost[~is_c][o]

    inst = Instance(ids, w, cand_idx, exist_idx, ci, cj, cc, ei, ej, ec, unreachable, zero,
                    float(cost.max()) if len(cost) else 0.0)
    inst.cand_capacity = _values_for(cand_idx, capacities, cand_frame,
                                     ("capacity", "seats", "capacities"), "capacities")
    inst.cand_build_cost = _values_for(cand_idx, build_costs, cand_frame,
                                       ("build_cost", "cost"), "build_costs")
    seats = _column(exist_frame, ("seats", "capacity"))
    inst.exist_seats = None if seats is None else seats.reindex(exist_idx).to_numpy()
    unused = np.setdiff1d(np.arange(m), cj)
    if m and len(unused) == m:
        raise input_error("costs", f"none of the {m} candidates has a row in the cost table "
                          f"(e.g. {list(cand_idx[:3])})",
                          "compute costs from the cells to the candidates too, e.g. "
                          "travel_costs(cells, candidates, ...) added to the table")
    if len(unused):
        inst.notes.append(f"{len(unused)} candidates reach no demand in the cost table")
    if len(unreachable):
        inst.notes.append(f"{len(unreachable)} demand rows ({pos_dem[unreachable].sum():.0f} "
                          "children) reach no school or candidate and are left out")
    if zero:
        inst.notes.append(f"{zero} demand rows have 0 children and are left out of the model")
    return inst
