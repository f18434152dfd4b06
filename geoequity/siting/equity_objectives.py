"""Equity objectives for siting: lift the worst-off district, or make access even.

Three problems sit beside the efficiency ones (``docs/siting.md``, "Equity objectives"):

- ``maxmin_seats_per_child``: the least seats per child over the districts is as large as it
  can be (exact MILP, ``models.maxmin_seats``), then, among the site sets achieving it, the
  least child-weighted travel (the p-median with the districts' seat rows);
- ``minmax_share_beyond``: the largest share of a district's children beyond the threshold
  is as small as it can be (exact MILP, ``models.minmax_beyond``), then the most children
  within the threshold;
- ``min_theil``: the Theil T index of 2SFCA access (seats per child within the threshold,
  children with no school within it at 0) is as small as greedy + swap finds it (a
  heuristic: the index is not linear), every step evaluated on the exact index.

This module holds what they share: the districts as integer codes, seats per district, the
2SFCA access each site adds, the Theil heuristic and the figures of the trade-off table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geoequity._errors import input_error
from geoequity.equity import theil
from geoequity.siting._instance import Instance
from geoequity.siting.models import Solution

EQUITY_PROBLEMS = ("maxmin_seats_per_child", "minmax_share_beyond", "min_theil")
NEEDS_DISTRICTS = ("maxmin_seats_per_child", "minmax_share_beyond")
TRADEOFF_COLUMNS = ["problem", "role", "status", "chosen", "total_travel", "total_shortfall",
                    "children_beyond", "worst_seats_per_child", "worst_seats_district",
                    "worst_share_beyond", "worst_share_district", "theil_access"]
FIGURES = ["total_travel", "total_shortfall", "children_beyond", "worst_seats_per_child",
           "worst_share_beyond", "theil_access"]


@dataclass
class DistrictData:
    """Districts as integer codes (internal to the equity objectives).

    ``demand`` is the code of each instance demand (-1: no district), ``children`` every
    district's children (demand no school reaches included), ``unreached`` the part of them
    no school or candidate reaches, ``seats`` the existing seats standing in each district
    (None when unknown) and ``cand`` each candidate's district code (None when not given).
    """

    names: pd.Index
    demand: np.ndarray
    children: np.ndarray
    unreached: np.ndarray
    seats: np.ndarray | None
    cand: np.ndarray | None


def district_data(inst: Instance, demand: pd.Series, districts, site_districts) -> DistrictData:
    """Code the districts of the demand (and of the candidates and existing schools)."""
    dem = pd.to_numeric(demand, errors="coerce").astype("float64")
    dist = pd.Series(districts).reindex(dem.index)
    names = pd.Index(pd.unique(dist.dropna().astype(str))).sort_values()
    code = pd.Series(np.where(dist.isna().to_numpy(), -1, names.get_indexer(dist.astype(str))),
                     index=dem.index)
    kids = np.bincount(code[code >= 0], weights=dem[code >= 0], minlength=len(names))
    un = code.reindex(inst.unreachable).to_numpy() if len(inst.unreachable) else np.zeros(0, int)
    un_w = dem.reindex(inst.unreachable).to_numpy() if len(inst.unreachable) else np.zeros(0)
    unreached = np.bincount(un[un >= 0], weights=un_w[un >= 0], minlength=len(names))
    seats = cand = None
    if site_districts is not None:
        sd = pd.Series(site_districts)
        missing = inst.cand_ids.append(inst.exist_ids).difference(sd.index)
        if len(missing):
            raise input_error("site_districts", f"no district for sites {missing[:5].tolist()}",
                              "give the district of every candidate and existing school "
                              "(NaN for none)")

        def codes(ids):
            v = sd.reindex(ids)
            c = names.get_indexer(v.astype(str))
            return np.where(v.isna().to_numpy(), -1, c)

        cand = codes(inst.cand_ids)
        if inst.exist_seats is not None and inst.q:
            e = codes(inst.exist_ids)
            ok = e >= 0
            seats = np.bincount(e[ok], weights=np.nan_to_num(inst.exist_seats[ok]),
                                minlength=len(names))
        elif not inst.q:
            seats = np.zeros(len(names))
    return DistrictData(names, code.reindex(inst.demand_ids).to_numpy(), kids, unreached,
                        seats, cand)


# ------------------------------------------------------------------ 2SFCA access by site

@dataclass
class Access:
    """2SFCA access (Luo & Wang 2003) as a sum over open sites (internal).

    Each school's ratio ``R_j = S_j / sum_{i: c_ij <= T} w_i`` depends on its own catchment
    only, so a child's access ``A_i = sum_{open j: c_ij <= T} R_j`` is the existing schools'
    part plus what each open candidate adds: ``base`` and the pairs ``(i, j, R_j)``.
    """

    base: np.ndarray          # access from the existing schools, per instance demand
    ci: np.ndarray            # candidate pairs within T
    cj: np.ndarray
    r: np.ndarray             # R_j of each pair's candidate
    zero_weight: float        # children no school reaches at all (access 0)

    def of(self, open_c: np.ndarray) -> np.ndarray:
        a = self.base.copy()
        sel = open_c[self.cj]
        np.add.at(a, self.ci[sel], self.r[sel])
        return a


def access_by_site(inst: Instance, T: float, capacity: np.ndarray,
                   zero_weight: float) -> Access:
    """Existing access and each candidate's 2SFCA contribution within ``T``."""
    kc, ke = inst.cc <= T, inst.ec <= T
    ci, cj = inst.ci[kc], inst.cj[kc]
    ei, ej = inst.ei[ke], inst.ej[ke]
    dc = np.bincount(cj, weights=inst.w[ci], minlength=inst.m)
    de = np.bincount(ej, weights=inst.w[ei], minlength=inst.q)
    seats = np.zeros(inst.q) if inst.exist_seats is None else np.nan_to_num(inst.exist_seats)
    with np.errstate(divide="ignore", invalid="ignore"):
        re = np.where(de > 0, seats / de, 0.0)
        rc = np.where(dc > 0, capacity / dc, 0.0)
    base = np.zeros(inst.n)
    np.add.at(base, ei, re[ej])
    return Access(base, ci, cj, rc[cj], float(zero_weight))


def theil_of(acc: Access, a: np.ndarray, w: np.ndarray) -> float:
    """Theil T of access ``a`` (weights ``w``) with the unreached children at 0, by
    :func:`geoequity.equity.theil`."""
    if acc.zero_weight > 0:
        a, w = np.r_[a, 0.0], np.r_[w, acc.zero_weight]
    if not np.any(a * w > 0):
        return float("nan")
    return float(theil(a, w).total)


def _xlogx(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0)), 0.0)


def _theil_sums(s1, s2, W):
    """Theil T from S1 = sum w a and S2 = sum w a ln a: S2 / S1 - ln(S1 / W)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s1 > 0, s2 / s1 - np.log(s1 / W), np.inf)


def theil_heuristic(inst: Instance, acc: Access, p: int, *, time_limit: float,
                    starts: int = 32) -> Solution:
    """Multi-start greedy addition + best-improvement swaps on the exact Theil T of access.

    With ``S1 = sum_i w_i A_i`` and ``S2 = sum_i w_i A_i ln A_i`` (``W`` all children, those
    at access 0 included), ``T = S2 / S1 - ln(S1 / W)``. Opening site ``j`` changes ``A`` only
    on its catchment, so the Theil of every one-site addition (and, per closed site, of every
    swap) comes from one pass over the candidate pairs. Each start fixes a different first
    site (the ``starts`` best single sites, best first), completes the set greedily and swaps
    until no swap lowers the index (a local optimum); the best of the starts is returned.
    Stops starting new runs at ``time_limit`` (one start always runs). Status
    ``"heuristic"``: no bound is known.
    """
    t0 = time.perf_counter()
    w, m = inst.w, inst.m
    W = float(w.sum()) + acc.zero_weight
    wi = w[acc.ci]
    order = np.argsort(acc.cj, kind="stable")
    bounds = np.searchsorted(acc.cj[order], np.arange(m + 1))

    def add(a, j, sign=1.0):
        sel = order[bounds[j]:bounds[j + 1]]
        np.add.at(a, acc.ci[sel], sign * acc.r[sel])

    def all_additions(a):
        s1 = float(w @ a)
        s2 = float(w @ _xlogx(a))
        old = _xlogx(a[acc.ci])
        d1 = np.bincount(acc.cj, weights=wi * acc.r, minlength=m)
        d2 = np.bincount(acc.cj, weights=wi * (_xlogx(a[acc.ci] + acc.r) - old), minlength=m)
        return _theil_sums(s1 + d1, s2 + d2, W)

    def value(a):
        return float(_theil_sums(np.array(float(w @ a)), np.array(float(w @ _xlogx(a))), W))

    def descend(first):
        is_open = np.zeros(m, bool)
        a = acc.base.copy()
        for k in range(p):
            j = first if k == 0 else int(np.argmin(np.where(is_open, np.inf,
                                                            all_additions(a))))
            is_open[j] = True
            add(a, j)
        cur, swaps = value(a), 0
        while p < m and time.perf_counter() - t0 < time_limit:
            top = (cur, -1, -1)
            for lj in np.flatnonzero(is_open):
                a_l = a.copy()
                add(a_l, lj, -1.0)
                val = np.where(is_open, np.inf, all_additions(a_l))
                j = int(np.argmin(val))
                if val[j] < top[0] - 1e-12 * max(1.0, abs(top[0])):
                    top = (float(val[j]), j, int(lj))
            if top[1] < 0:
                break
            cur, j, lj = top
            is_open[lj], is_open[j] = False, True
            a = acc.of(is_open)
            swaps += 1
        return cur, is_open, swaps

    firsts = np.argsort(all_additions(acc.base), kind="stable")[:max(1, min(starts, m))]
    best, tried = None, 0
    for first in firsts:
        if best is not None and time.perf_counter() - t0 >= time_limit:
            break
        got = descend(int(first))
        tried += 1
        if best is None or got[0] < best[0] - 1e-12 * max(1.0, abs(best[0])):
            best = got
    chosen = np.flatnonzero(best[1])
    return Solution(chosen, theil_of(acc, acc.of(best[1]), w), float("nan"), "heuristic",
                    extra={"swaps": best[2], "starts": tried})


# ------------------------------------------------------------------------- trade-offs

def district_figures(dd: DistrictData | None, covered: np.ndarray | None, w: np.ndarray,
                     open_seats: np.ndarray | None) -> dict:
    """The worst district's seats per child and share beyond the threshold.

    ``covered`` marks the instance demand within the threshold of an open school (None
    without a threshold); ``open_seats`` the seats built at each candidate (0 when closed;
    None when seats are unknown).
    """
    out = {"worst_seats_per_child": np.nan, "worst_seats_district": None,
           "worst_share_beyond": np.nan, "worst_share_district": None}
    if dd is None or not len(dd.names):
        return out
    live = dd.children > 0
    if dd.seats is not None and dd.cand is not None and open_seats is not None:
        c = dd.cand >= 0
        seats = dd.seats + np.bincount(dd.cand[c], weights=open_seats[c],
                                       minlength=len(dd.names))
        ratio = np.where(live, seats / np.where(live, dd.children, 1.0), np.inf)
        k = int(np.argmin(ratio))
        out["worst_seats_per_child"] = float(ratio[k])
        out["worst_seats_district"] = str(dd.names[k])
    if covered is not None:
        g = dd.demand >= 0
        cov = np.bincount(dd.demand[g], weights=(w * covered)[g], minlength=len(dd.names))
        share = np.where(live, 1.0 - cov / np.where(live, dd.children, 1.0), -np.inf)
        k = int(np.argmax(share))
        out["worst_share_beyond"] = float(share[k])
        out["worst_share_district"] = str(dd.names[k])
    return out


def traded_away(table: pd.DataFrame) -> pd.DataFrame:
    """What the equity solution (the first row) gives up against each efficiency optimum:
    its figure minus theirs (more travel, more shortfall, more children beyond are > 0;
    a better worst district is a positive change in seats per child and a negative one in
    share beyond)."""
    eq = table.iloc[0]
    rows = {name: {f: eq[f] - table.loc[name, f] for f in FIGURES}
            for name in table.index[1:]}
    out = pd.DataFrame.from_dict(rows, orient="index", columns=FIGURES)
    out.index.name = "against"
    return out
