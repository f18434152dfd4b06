"""Phased siting: which candidate sites to open, and in which year, over a planning horizon.

A site opened in year ``t`` serves from ``t`` on. Budgets limit the sites (or their build
cost) per year or in total. The objective sums over the years either the children without a
seat (``"shortfall_years"``: capacity-constrained assignment within the threshold, the gap
problem of :func:`geoequity.siting.site_schools` year by year) or the children with no open
school within the threshold (``"child_years_beyond"``). ``robust=True`` minimises the worst
case over the demand variants (``low``/``mid``/``high`` forecasts): the sites and years are
chosen once, the assignment follows each variant's children.

Exact: one MILP for HiGHS (``scipy.optimize.milp``) on cells merged by the set of schools
and candidates they reach within the threshold. Beyond its size: greedy and a local
search over opening years, with a bound from the years apart. Formulation: ``docs/siting.md``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from geoequity._errors import SolverError, input_error
from geoequity._options import option
from geoequity._progress import step
from geoequity.siting._instance import Instance, build_instance
from geoequity.siting.models import solve_milp

OBJECTIVES = ("shortfall_years", "child_years_beyond")
VARIANTS = ("low", "mid", "high")
_AUTO_EXACT_NONZEROS = 20_000    # "auto": the MILP up to this many flow nonzeros, else heuristic
_STRONG_NONZEROS = 5_000         # linking rows flow <= w o up to this size (they slow big LPs)
_TIE = 1e-3                       # tie-break (open as late as it costs nothing): <= 0.001 child
_INFEASIBLE = "the phased siting model is infeasible (check the budgets)"
_NO_PLAN = "HiGHS found no plan ({}); raise the time limit or use the heuristic solver"

__all__ = ["OBJECTIVES", "VARIANTS", "PhasedResult", "demand_years", "forecast_variants",
           "site_phased"]


@dataclass
class PhasedResult:
    """Outcome of :func:`site_phased`.

    Attributes
    ----------
    objective
        ``"shortfall_years"`` or ``"child_years_beyond"``.
    sites
        One row per opened site, by opening year: ``site``, ``year`` (first year it serves),
        ``capacity``, ``build_cost`` and the candidate's attributes when a frame was given.
    by_year
        Per year (and ``variant`` when robust): ``children``, ``seats_before``/``seats_after``
        (existing seats, plus the sites open by then), ``sites_open``, ``shortfall_before``/
        ``shortfall_after`` (children without a seat within the threshold) and
        ``children_beyond_before``/``children_beyond_after`` (no school within the threshold).
    value
        The objective (child-years; robust: the worst variant's).
    bound, gap, status
        Proven lower bound, ``(value - bound) / value`` and ``"optimal"``, ``"time_limit"``
        or ``"heuristic"``.
    by_variant
        The objective of each variant with the chosen plan (one entry when not robust).
    """

    objective: str
    sites: pd.DataFrame
    by_year: pd.DataFrame
    value: float
    bound: float
    gap: float
    status: str
    solver: str
    runtime: float
    years: list[int]
    by_variant: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (what ``geoequity site --years ... --json`` prints)."""
        return {"objective": self.objective, "value": float(self.value),
                "sites": [{"site": _py(s), "year": int(y)} for s, y in
                          zip(self.sites["site"], self.sites["year"], strict=True)],
                "by_variant": {k: float(v) for k, v in self.by_variant.items()},
                "status": self.status, "gap": float(self.gap), "bound": float(self.bound),
                "solver": self.solver, "years": [int(y) for y in self.years],
                "runtime_s": round(self.runtime, 3), "notes": list(self.notes)}


def _py(v):
    item = getattr(v, "item", None)
    return item() if callable(item) else v


# --------------------------------------------------------------------------- demand by year

def demand_years(table: pd.DataFrame, years: Sequence[int], *, robust: bool = False,
                 source: str = "demand_by_year") -> dict[str, pd.DataFrame]:
    """Children per cell and year, per variant, from a demand table.

    ``table`` is long, ``cell, year, children`` (the run's ``cells_by_year.parquet``; the
    cell id may be the index instead) with an optional ``variant`` column (``low``, ``mid``,
    ``high``) or, without one, ``children_low``/``children_high`` columns (a ``[forecast]``
    run's interval: the low and high variants, ``children`` the mid one), or wide: cells x
    years (``YearlyResults.children``). Returns
    ``{variant: cells x years}``: every variant when ``robust``, else ``mid`` alone (the only
    one of a table without variants). A (cell, year) missing from the table has 0 children.
    """
    years = [int(y) for y in years]
    if not isinstance(table, pd.DataFrame):
        raise input_error(source, "is not a table", "give cell, year, children columns")
    if "year" not in table.columns:   # wide: cells x years
        wide = table.copy()
        try:
            wide.columns = [int(c) for c in wide.columns]
        except (TypeError, ValueError):
            raise input_error(source, "has no year column and its columns are not years",
                              "give cell, year, children columns (cells_by_year.parquet)"
                              ) from None
        long = wide.rename_axis("cell").stack().rename("children").reset_index()
        long.columns = ["cell", "year", "children"]
    else:
        long = table if "cell" in table.columns else table.rename_axis("cell").reset_index()
        missing = {"cell", "year", "children"} - set(long.columns)
        if missing:
            raise input_error(source, f"has no column(s) {', '.join(sorted(missing))}",
                              "give cell, year, children[, variant] columns")
    if "variant" not in long.columns and {"children_low", "children_high"} <= set(long.columns):
        long = long.assign(variant="mid")   # a run's interval: three variants in one row
        long = pd.concat([long] + [long.assign(variant=v, children=long[f"children_{v}"])
                                   for v in ("low", "high")], ignore_index=True)
    long = long.copy()
    yr = pd.to_numeric(long["year"], errors="coerce")
    if yr.isna().any() or (yr % 1 != 0).any():
        raise input_error(source, "the year column holds a value that is not a whole year",
                          "write years as numbers such as 2027")
    long["year"] = yr.astype(np.int64)
    kids = pd.to_numeric(long["children"], errors="coerce").astype("float64")
    bad = ~np.isfinite(kids.to_numpy()) | (kids.to_numpy() < 0)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise input_error(source, f"children of cell {long['cell'].iloc[k]!r} in "
                          f"{long['year'].iloc[k]} is missing, negative or not a number",
                          "fix the table (children >= 0)")
    long["children"] = kids
    has_variant = "variant" in long.columns
    if has_variant:
        long["variant"] = long["variant"].astype(str).str.strip().str.lower()
        unknown = sorted(set(long["variant"]) - set(VARIANTS))
        if unknown:
            raise input_error(source, f"unknown variant {unknown[0]!r}",
                              f"use {', '.join(VARIANTS)} in the variant column")
    else:
        long["variant"] = "mid"
    have = sorted(set(long["year"]))
    outside = [y for y in years if y not in set(have)]
    if outside:
        raise input_error(source, f"year {outside[0]} is not in the demand table (it has "
                          f"{_span(have)})", f"choose years within {_span(have)}")
    long = long.loc[long["year"].isin(years)]
    dup = long.duplicated(["cell", "year", "variant"])
    if dup.any():
        r = long.loc[dup].iloc[0]
        raise input_error(source, f"cell {r['cell']!r} appears twice in {r['year']}"
                          + (f" (variant {r['variant']})" if has_variant else ""),
                          "give one row per cell, year" + (" and variant" if has_variant else ""))
    found = [v for v in VARIANTS if v in set(long["variant"])]
    if robust:
        if not has_variant or len(found) < 2:
            raise input_error(source, "robust siting needs demand variants, but the table has "
                              + ("no variant column nor children_low/children_high"
                                 if not has_variant else f"only the variant {found[0]!r}"),
                              "use the cells_by_year.parquet of a run whose [forecast] has "
                              "enrolment (its interval), or add a variant column (low, mid, "
                              "high)")
        use = found
    else:
        if "mid" not in found:
            raise input_error(source, "the table has variants but no 'mid' one",
                              "add the mid variant, or choose against all with --robust")
        use = ["mid"]
    cells = pd.Index(pd.unique(long["cell"]))
    out = {}
    for v in use:
        part = long.loc[long["variant"] == v]
        wide = part.pivot(index="cell", columns="year", values="children")
        out[v] = wide.reindex(index=cells, columns=years).fillna(0.0).rename_axis(None)
    return out


def _span(years: Sequence[int]) -> str:
    return f"{years[0]}-{years[-1]}" if len(years) > 1 else str(years[0])


def forecast_variants(children: pd.DataFrame, projection: pd.DataFrame, nearest: pd.Series,
                      *, housing: pd.DataFrame | None = None) -> pd.DataFrame:
    """Low/mid/high children per cell and year: :func:`geoequity.yearly.forecast_variants`
    (the rule lives with the run, which writes it as ``children_low``/``children_high``)."""
    from geoequity.yearly import forecast_variants as rule   # yearly comes after siting

    return rule(children, projection, nearest, housing=housing)


# --------------------------------------------------------------------------- the model

@dataclass
class _Problem:
    """Cells merged by the set of schools and candidates they reach within the threshold."""

    m: int                       # candidates
    q: int                       # existing schools
    years: list[int]
    variants: list[str]
    W: np.ndarray                # groups x years x variants: children
    const: np.ndarray            # years x variants: children nobody within T can seat/cover
    total: np.ndarray            # years x variants: all children
    gi: np.ndarray               # pairs (group, facility): facility < m candidate, else existing
    gf: np.ndarray
    cap: np.ndarray | None       # seats per candidate
    seats: np.ndarray | None     # seats per existing school
    cost: np.ndarray | None      # build cost per candidate
    seated: bool                 # shortfall objective (flows) or coverage


def _groups(inst: Instance, T: float, W: np.ndarray, *, seated: bool):
    """Merge cells that reach the same set within ``T`` (the objective cannot tell them apart).

    Shortfall: the set of candidates and existing schools; coverage: the set of candidates,
    for the cells no existing school covers (those are never beyond). Returns the groups'
    children, the children no set holds (constant per year/variant) and the group pairs.
    """
    m = inst.m
    kc, ke = inst.cc <= T, inst.ec <= T
    if seated:
        pi = np.r_[inst.ci[kc], inst.ei[ke]]
        pf = np.r_[inst.cj[kc], m + inst.ej[ke]]
        inside = np.ones(inst.n, bool)
    else:
        inside = np.ones(inst.n, bool)
        inside[inst.ei[ke]] = False
        keep = kc & inside[inst.ci]
        pi, pf = inst.ci[keep], inst.cj[keep]
    rng = np.random.default_rng(20261206)
    h = rng.integers(0, 2**63, size=(2, m + inst.q), dtype=np.uint64)
    keys = np.zeros((inst.n, 3), np.uint64)
    for k in range(2):
        np.add.at(keys[:, k], pi, h[k][pf])
    np.add.at(keys[:, 2], pi, np.uint64(1))
    has = keys[:, 2] > 0
    cells = np.flatnonzero(has)
    _, gid = np.unique(keys[cells], axis=0, return_inverse=True)
    gid = gid.ravel()
    of = np.full(inst.n, -1)
    of[cells] = gid
    G = int(gid.max()) + 1 if len(cells) else 0
    Wg = np.zeros((G,) + W.shape[1:])
    np.add.at(Wg, gid, W[cells])
    # covered by an existing school (coverage) or reaching nothing (shortfall) -> constant
    const = W[~has & inside].sum(axis=0)
    # one representative cell per group gives the group's pairs
    rep = np.full(G, -1)
    rep[gid[::-1]] = cells[::-1]
    sel = of[pi] >= 0
    pi, pf = pi[sel], pf[sel]
    first = rep[of[pi]] == pi
    return Wg, const, of[pi[first]], pf[first]


def _prepare(inst: Instance, W: np.ndarray, years, variants, T, objective, extra) -> _Problem:
    seated = objective == "shortfall_years"
    Wg, const, gi, gf = _groups(inst, T, W, seated=seated)
    cap = seats = None
    if inst.cand_capacity is not None and not np.isnan(inst.cand_capacity).any():
        cap = inst.cand_capacity
    if inst.q == 0:
        seats = np.zeros(0)
    elif inst.exist_seats is not None and not np.isnan(inst.exist_seats).any():
        seats = inst.exist_seats
    return _Problem(inst.m, inst.q, list(years), list(variants), Wg, const + extra,
                    W.sum(axis=0) + extra, gi, gf, cap, seats, inst.cand_build_cost, seated)


@dataclass
class _Budget:
    p: int | None
    p_per_year: np.ndarray | None     # per year (sites)
    budget: float | None
    budget_per_year: np.ndarray | None
    carry_over: bool


def _build(P: _Problem, B: _Budget, *, robust: bool, fixed: np.ndarray | None = None,
           strong: bool = True):
    """Sparse MILP (see docs/siting.md, "Phased siting").

    Columns: ``o[j, t]`` (site j open in year t; binary, non-decreasing in t), the flows
    (shortfall: children of group g to school f in year t, variant v) or covers (coverage:
    share of group g within T of an open site in year t), and ``z`` (robust: the worst
    variant's objective). ``fixed`` (m x Y booleans) turns it into an evaluation LP in which
    every variant minimises its own objective. ``strong`` adds the linking rows
    ``flow <= w o`` (a tighter LP when a site's seats exceed the children it reaches; on
    large models they slow the LP tenfold and are left out). Returns the model and
    ``terms``: per (variant, year) the columns and weights of the children seated (covered).
    """
    m, Y, V = P.m, len(P.years), len(P.variants)
    no = m * Y
    ocol = np.arange(no).reshape(m, Y)
    rows, cols, vals, rl, ru = [], [], [], [], []
    nrow = 0

    def add(r, c, v, lo, hi):
        nonlocal nrow
        rows.append(np.asarray(r, np.int64) + nrow)
        cols.append(np.asarray(c, np.int64))
        vals.append(np.asarray(v, float))
        rl.append(np.asarray(lo, float))
        ru.append(np.asarray(hi, float))
        nrow += len(lo)

    if Y > 1:   # o[j, t-1] <= o[j, t]
        k = m * (Y - 1)
        r = np.arange(k)
        add(np.r_[r, r], np.r_[ocol[:, :-1].ravel(), ocol[:, 1:].ravel()],
            np.r_[np.ones(k), -np.ones(k)], np.full(k, -np.inf), np.zeros(k))
    if fixed is None:
        _budget_rows(P, B, ocol, add)
    ncol = no
    terms = []                      # (v, t, columns, weights)
    if P.seated:
        cand = P.gf < m
        for v in range(V):
            for t in range(Y):
                w = P.W[:, t, v]
                live = w[P.gi] > 0
                g, f, isc = P.gi[live], P.gf[live], cand[live]
                k = len(g)
                fc = ncol + np.arange(k)
                ncol += k
                terms.append((v, t, fc, np.ones(k)))
                ug, inv = np.unique(g, return_inverse=True)      # sum_f flow <= w_g
                add(inv, fc, np.ones(k), np.full(len(ug), -np.inf), w[ug])
                uj, jinv = np.unique(f[isc], return_inverse=True)  # <= cap_j o[j, t]
                add(np.r_[jinv, np.arange(len(uj))], np.r_[fc[isc], ocol[uj, t]],
                    np.r_[np.ones(len(jinv)), -P.cap[uj]], np.full(len(uj), -np.inf),
                    np.zeros(len(uj)))
                ue, einv = np.unique(f[~isc] - m, return_inverse=True)  # <= seats_e
                add(einv, fc[~isc], np.ones(len(einv)), np.full(len(ue), -np.inf),
                    P.seats[ue])
                kc = len(jinv) if strong and fixed is None else 0  # flow <= w_g o[j, t]
                r = np.arange(kc)
                add(np.r_[r, r], np.r_[fc[isc][:kc], ocol[f[isc][:kc], t]],
                    np.r_[np.ones(kc), -w[g[isc]][:kc]], np.full(kc, -np.inf), np.zeros(kc))
    else:
        live = P.W.sum(axis=2) > 0                                # groups x years
        for t in range(Y):
            gs = np.flatnonzero(live[:, t])
            k = len(gs)
            xc = ncol + np.arange(k)
            ncol += k
            pos = np.full(len(P.W), -1)
            pos[gs] = np.arange(k)
            sel = pos[P.gi] >= 0                                  # x_g <= sum_j o[j, t]
            add(np.r_[np.arange(k), pos[P.gi[sel]]], np.r_[xc, ocol[P.gf[sel], t]],
                np.r_[np.ones(k), -np.ones(sel.sum())], np.full(k, -np.inf), np.zeros(k))
            for v in range(V):
                terms.append((v, t, xc, P.W[gs, t, v]))
    nx = ncol
    minmax = robust and fixed is None
    c = np.zeros(ncol + (1 if minmax else 0))
    if minmax:   # const_v + mass_v - seated_v <= z
        zc = ncol
        c[zc] = 1.0
        for v in range(V):
            cv = np.concatenate([tc for tv, _, tc, _ in terms if tv == v])
            wv = np.concatenate([tw for tv, _, _, tw in terms if tv == v])
            add(np.zeros(len(cv) + 1, int), np.r_[cv, zc], np.r_[-wv, -1.0], [-np.inf],
                [-(P.const[:, v].sum() + P.W[:, :, v].sum())])
    else:
        for _, _, tc, tw in terms:
            np.add.at(c, tc, -tw)
    if fixed is None:
        c[:no] += _TIE / max(no, 1)   # among equal plans: open as late and as few as costs nothing
    lb = np.zeros(len(c))
    ub = np.full(len(c), np.inf)
    ub[:no] = 1.0
    if not P.seated:
        ub[no:nx] = 1.0
    if fixed is not None:
        lb[:no] = ub[:no] = np.asarray(fixed, float).ravel()
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(nrow, len(c)))
    return _Model(c, lb, ub, A, np.concatenate(rl), np.concatenate(ru), terms, no, minmax)


@dataclass
class _Model:
    c: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    A: sp.csr_matrix
    rl: np.ndarray
    ru: np.ndarray
    terms: list
    no: int
    minmax: bool

    def solve(self, *, integer: bool, time_limit: float, mip_gap: float):
        integ = np.zeros(len(self.c))
        if integer:
            integ[: self.no] = 1
        return solve_milp(self.c, integ, self.lb, self.ub, self.A, self.rl, self.ru,
                     time_limit=time_limit, mip_gap=mip_gap, infeasible_msg=_INFEASIBLE,
                     no_solution_msg=_NO_PLAN)

    def values(self, x: np.ndarray, P: _Problem) -> tuple[np.ndarray, np.ndarray]:
        """Years x variants: the objective's children (short or beyond) of solution ``x``;
        and the same per group (groups x years x variants)."""
        left = P.W.copy()
        for v, t, tc, tw in self.terms:
            if P.seated:
                g = P.gi[P.W[P.gi, t, v] > 0]
                np.subtract.at(left[:, t, v], g, x[tc])
            else:
                g = np.flatnonzero(P.W.sum(axis=2)[:, t] > 0)
                left[g, t, v] -= tw * x[tc]
        left = np.maximum(left, 0.0)
        return P.const + left.sum(axis=0), left


def _budget_rows(P: _Problem, B: _Budget, ocol, add) -> None:
    m, Y = ocol.shape
    last = ocol[:, -1]
    if B.p is not None:
        add(np.zeros(m, int), last, np.ones(m), [-np.inf], [B.p])
    if B.budget is not None:
        add(np.zeros(m, int), last, P.cost, [-np.inf], [B.budget])
    for per, weight in ((B.p_per_year, np.ones(m)), (B.budget_per_year, P.cost)):
        if per is None:
            continue
        r = np.repeat(np.arange(Y), m)
        if B.carry_over:   # spending to year t <= the allowances to year t
            add(r, ocol.T.ravel(), np.tile(weight, Y), np.full(Y, -np.inf), np.cumsum(per))
        else:              # opened in year t: o[j, t] - o[j, t-1]
            r2 = np.repeat(np.arange(1, Y), m)
            add(np.r_[r, r2], np.r_[ocol.T.ravel(), ocol[:, :-1].T.ravel()],
                np.r_[np.tile(weight, Y), -np.tile(weight, Y - 1)], np.full(Y, -np.inf), per)


# --------------------------------------------------------------------------- solving

def _schedule(order, B: _Budget, cost: np.ndarray | None, m: int, Y: int) -> np.ndarray:
    """Open the sites of ``order`` one by one, each in the earliest year the budgets allow.

    Opening earlier never adds to either objective (more seats, more cover), so for a given
    order the earliest years are best. Returns the m x Y open matrix.
    """
    w_cost = np.zeros(m) if cost is None else np.nan_to_num(cost)
    opened = np.zeros(Y)        # sites opened per year
    spent = np.zeros(Y)         # build cost per year
    count = 0
    total = 0.0
    out = np.zeros((m, Y), bool)
    eps = 1e-9
    for j in order:
        if B.p is not None and count + 1 > B.p:
            break
        if B.budget is not None and total + w_cost[j] > B.budget + eps:
            continue
        for t in range(Y):
            ok = True
            for per, used, add in ((B.p_per_year, opened, 1.0),
                                   (B.budget_per_year, spent, w_cost[j])):
                if per is None:
                    continue
                if B.carry_over:
                    ok &= bool(np.all(np.cumsum(used)[t:] + add <= np.cumsum(per)[t:] + eps))
                else:
                    ok &= used[t] + add <= per[t] + eps
            if ok:
                opened[t] += 1
                spent[t] += w_cost[j]
                out[j, t:] = True
                count += 1
                total += w_cost[j]
                break
    return out


def _evaluate(P: _Problem, open_: np.ndarray, *, per_group: bool = False,
              since: int = 0, prev: tuple[np.ndarray, np.ndarray] | None = None):
    """Years x variants: children short (beyond) with the plan ``open_`` (one LP per plan;
    with ``per_group`` also what is left per group). With ``since`` and ``prev`` (the values
    of a plan that differs only from year index ``since`` on), the years before are copied."""
    Y = len(P.years)
    ts = np.arange(since if prev is not None else 0, Y)
    sub = _slice(P, ts, np.arange(len(P.variants)))
    model = _build(sub, _Budget(None, None, None, None, False), robust=False,
                   fixed=open_[:, ts])
    x, *_ = model.solve(integer=False, time_limit=600.0, mip_gap=1e-9)
    vals, left = model.values(x, sub)
    if prev is not None and len(ts) < Y:
        vals = np.concatenate([prev[0][: ts[0]], vals])
        left = np.concatenate([prev[1][:, : ts[0]], left], axis=1)
    return (vals, left) if per_group else vals


def _slice(P: _Problem, ts: np.ndarray, vs: np.ndarray) -> _Problem:
    """The problem on some years and variants."""
    ix = np.ix_(ts, vs)
    return _Problem(P.m, P.q, [P.years[t] for t in ts], [P.variants[v] for v in vs],
                    P.W[:, ts][:, :, vs], P.const[ix], P.total[ix], P.gi, P.gf, P.cap,
                    P.seats, P.cost, P.seated)


def _score(vals: np.ndarray) -> float:
    """Objective of a plan: child-years, the worst variant's."""
    return float(vals.sum(axis=0).max())


def _exact(P, B, robust, time_limit, mip_gap):
    model = _build(P, B, robust=robust, strong=_size(P) <= _STRONG_NONZEROS)
    x, fun, bound, status = model.solve(integer=True, time_limit=time_limit, mip_gap=mip_gap)
    open_ = x[: model.no].reshape(P.m, len(P.years)) > 0.5
    vals = _evaluate(P, open_)
    value = _score(vals)
    lower = _bound_value(P, model, bound, robust)
    if status == "optimal":
        lower = min(lower, value)
    return open_, vals, value, lower, status


def _bound_value(P: _Problem, model: _Model, fun: float, robust: bool) -> float:
    """The model's objective bound in child-years (constant added, tie-break allowance off)."""
    if not np.isfinite(fun):
        return 0.0
    if robust:
        return max(0.0, fun - _TIE)
    return max(0.0, float((P.const + P.W.sum(axis=0)).sum()) + fun - _TIE)


def _year_bound(P: _Problem, B: _Budget, time_limit: float) -> float:
    """A lower bound from the years apart: the sites open in year t are a set the budgets to
    t allow, so sum_t (best single-year value with those budgets) <= any plan's value. Each
    single-year value is bounded by its LP relaxation (on the benchmark equal to the
    single-year optimum). Robust: any one variant's bound holds for the worst case; the one
    with the most children short (beyond) with no new site is taken."""
    Y = len(P.years)
    v = int(np.argmax((P.const + P.W.sum(axis=0)).sum(axis=0)))
    total = 0.0
    for t in range(Y):
        cum = _Budget(B.p, None if B.p_per_year is None else np.cumsum(B.p_per_year)[t:t + 1],
                      B.budget,
                      None if B.budget_per_year is None
                      else np.cumsum(B.budget_per_year)[t:t + 1], True)
        Pt = _slice(P, np.array([t]), np.array([v]))
        model = _build(Pt, cum, robust=False, strong=_size(Pt) <= _STRONG_NONZEROS)
        try:
            _, bound, _, _ = model.solve(integer=False, time_limit=max(time_limit, 5.0),
                                         mip_gap=1e-9)
        except SolverError:   # no LP value in time: 0 child-years is still a bound
            continue
        total += _bound_value(Pt, model, bound, False) + _TIE
    return max(0.0, total - _TIE)


def _gains(P: _Problem, left: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Estimated child-years a site saves when it opens in year ``t[j]``: per later year, the
    children it reaches still short (beyond), capped by its seats; the worst variant's."""
    v = int(np.argmax(left.sum(axis=(0, 1))))
    cand = P.gf < P.m
    gi, gj = P.gi[cand], P.gf[cand]
    Y = left.shape[1]
    reach = np.zeros((P.m, Y))
    np.add.at(reach, gj, left[gi, :, v])
    if P.seated:
        reach = np.minimum(reach, P.cap[:, None])
    live = np.arange(Y)[None, :] >= t[:, None]
    return (reach * live).sum(axis=1)


def _heuristic(P, B, robust, time_limit, t0, mip_gap):
    """Greedy by estimated gain, one LP evaluation per site added (always completed), then a
    local search (swap two sites' opening order, add or replace a site) until no move
    improves, the plan meets the bound or the time is up. :func:`_year_bound` gives the
    bound."""
    Y, m = len(P.years), P.m
    lower = _year_bound(P, B, time_limit * 0.4)

    def plan(o):
        return _schedule(o, B, P.cost, m, Y)

    order: list[int] = []
    best_open = np.zeros((m, Y), bool)
    best_vals, left = _evaluate(P, best_open, per_group=True)
    base = (best_vals, left)          # no new site: the table's "before", the swaps' ranking
    while True:
        first = np.full(m, Y)
        for j in range(m):
            if j not in order:
                trial = plan(order + [j])
                if trial[j].any():
                    first[j] = int(trial[j].argmax())
        ok = first < Y
        if not ok.any():
            break
        gain = np.where(ok, _gains(P, left, np.minimum(first, Y - 1)), -np.inf)
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            break
        order.append(j)
        best_open = plan(order)
        best_vals, left = _evaluate(P, best_open, per_group=True, since=int(first[j]),
                                    prev=(best_vals, left))
        if _score(best_vals) - lower <= mip_gap * max(_score(best_vals), 1.0):
            break
    best = _score(best_vals)
    est = _gains(P, base[1], np.zeros(m, int))
    unused = [int(j) for j in np.argsort(-est, kind="stable") if j not in order][:10]
    improved = True
    while improved and best - lower > mip_gap * max(best, 1.0):
        improved = False
        moves = [("swap", a, a + 1) for a in range(len(order) - 1)]
        moves += [("add", -1, j) for j in unused]
        moves += [("replace", a, j) for j in unused for a in range(len(order))]
        for kind, a, b in moves:
            if time.perf_counter() - t0 > time_limit:
                return best_open, best_vals, best, lower, "heuristic", base[0]
            trial = list(order)
            if kind == "swap":
                trial[a], trial[b] = trial[b], trial[a]
            elif kind == "add":
                trial.append(b)
            else:
                trial[a] = b
            cand_open = plan(trial)
            if (cand_open == best_open).all():
                continue
            vals = _evaluate(P, cand_open)
            val = _score(vals)
            if val < best - 1e-9 * max(best, 1.0):
                best, best_vals, best_open = val, vals, cand_open
                if kind == "replace":
                    unused[unused.index(b)] = order[a]
                elif kind == "add":
                    unused.remove(b)
                order = [j for j in trial if best_open[j].any()]
                improved = True
                break
    return best_open, best_vals, best, lower, "heuristic", base[0]


# --------------------------------------------------------------------------- entry point

def _per_year(value, years: list[int], key: str) -> np.ndarray | None:
    """A per-year limit as an array over ``years``: a number, or a mapping year -> number."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        missing = [y for y in years if y not in {int(k) for k in value}]
        if missing:
            raise input_error(option(key), f"no value for year {missing[0]}",
                              "give a number, or one for every year")
        arr = np.array([float({int(k): v for k, v in value.items()}[y]) for y in years])
    else:
        arr = np.full(len(years), float(value))
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise input_error(option(key), f"{_py(arr[~np.isfinite(arr) | (arr < 0)][0])} is not "
                          "a budget", "give a number >= 0")
    return arr


def _check_years(years) -> list[int]:
    try:
        out = [int(y) for y in years]
    except (TypeError, ValueError):
        raise input_error(option("years"), f"{years!r} is not a list of years",
                          "give years such as 2027:2035") from None
    if not out:
        raise input_error(option("years"), "no years given", "give years such as 2027:2035")
    if any(b <= a for a, b in zip(out, out[1:], strict=False)):
        raise input_error(option("years"), f"years {out[0]}..{out[-1]} do not increase",
                          "give the first year first, e.g. 2027:2035")
    return out


def site_phased(costs: pd.DataFrame, demand_by_year: pd.DataFrame, candidates: Any, *,
                years: Sequence[int],
                objective: Literal["shortfall_years", "child_years_beyond"] = "shortfall_years",
                threshold: float, existing: Any = None, capacities: Any = None,
                build_costs: Any = None, p: int | None = None,
                p_per_year: int | Mapping[int, int] | None = None,
                budget: float | None = None,
                budget_per_year: float | Mapping[int, float] | None = None,
                carry_over: bool = False, robust: bool = False,
                solver: Literal["exact", "heuristic", "auto"] = "auto",
                time_limit: float = 60.0, mip_gap: float = 1e-6) -> PhasedResult:
    """Choose new school sites and their opening years over a planning horizon.

    Parameters
    ----------
    costs
        Long cost table ``origin, destination, cost`` (or :class:`geoequity.pairs.Pairs`)
        from the cells to the candidates and existing schools; only pairs within
        ``threshold`` count.
    demand_by_year
        Children per cell and year: long ``cell, year, children[, variant]`` (a run's
        ``cells_by_year.parquet``) or wide cells x years (see :func:`demand_years`).
    candidates
        Candidate ids, or a frame indexed by id with ``capacity``/``build_cost`` columns.
    years
        The years to plan (increasing, each in the demand table); a site opened in year ``t``
        serves ``t`` and every later year.
    objective
        ``"shortfall_years"``: sum over the years of the children without a seat under
        capacity-constrained assignment within ``threshold`` (needs seats and capacities);
        ``"child_years_beyond"``: sum of the children with no school within ``threshold``.
    threshold
        Catchment radius in cost units (a child is served by a school with cost <= it).
    existing
        Existing school ids, or a Series of their seats (kept open every year).
    capacities, build_costs
        Seats and build cost per candidate (number or Series; default: the frame's columns).
    p, budget
        At most ``p`` new sites, and at most ``budget`` of build cost, over the horizon.
    p_per_year, budget_per_year
        At most this many sites (this build cost) opened in each year: a number or a mapping
        year -> number. ``carry_over``: what a year leaves unspent may be spent later.
    robust
        Choose against every demand variant (``low``/``mid``/``high``): minimise the worst.
    solver
        ``"exact"`` (one MILP, HiGHS), ``"heuristic"`` (greedy + local search, bounded by the
        years apart) or ``"auto"`` (exact up to 20,000 flow or cover nonzeros).
    time_limit, mip_gap
        Seconds for the solver; relative gap at which HiGHS calls a plan optimal.

    Returns
    -------
    PhasedResult
    """
    start = time.perf_counter()
    if objective not in OBJECTIVES:
        raise input_error(option("problem"), f"unknown phased objective {objective!r}",
                          f"use one of {', '.join(OBJECTIVES)}")
    if solver not in ("exact", "heuristic", "auto"):
        raise input_error(option("solver"), f"unknown solver {solver!r}",
                          "use exact, heuristic or auto")
    years = _check_years(years)
    if threshold is None or not np.isfinite(threshold) or threshold <= 0:
        raise input_error(option("threshold"), "phased siting needs a threshold > 0",
                          "give the catchment radius in the cost table's unit")
    for key, val in (("p", p), ("budget", budget)):
        if val is not None and (not np.isfinite(val) or val < 0):
            raise input_error(option(key), f"{val} is not a budget", "give a number >= 0")
    B = _Budget(None if p is None else int(p), _per_year(p_per_year, years, "p_per_year"),
                budget, _per_year(budget_per_year, years, "budget_per_year"),
                bool(carry_over))
    if B.p is None and B.p_per_year is None and B.budget is None and B.budget_per_year is None:
        raise input_error(option("years"), "phased siting needs a limit on the new sites",
                          f"give {option('p')}, {option('p_per_year')}, {option('budget')} or "
                          f"{option('budget_per_year')}")
    W = demand_years(demand_by_year, years, robust=robust,
                     source=getattr(demand_by_year, "attrs", {}).get("source", "demand_by_year"))
    variants = list(W)
    first = W[variants[0]]
    peak = pd.concat([w.max(axis=1) for w in W.values()], axis=1).max(axis=1)
    with step("preparing the phased siting instance"):
        inst = build_instance(costs, peak, candidates, existing=existing,
                              capacities=capacities, build_costs=build_costs)
        if (B.budget is not None or B.budget_per_year is not None) and (
                inst.cand_build_cost is None or np.isnan(inst.cand_build_cost).any()):
            raise input_error(option("budget"), "a cost budget needs a build cost for every "
                              "candidate", "give build_costs (a build_cost column)")
        seated = objective == "shortfall_years"
        if seated and (inst.cand_capacity is None or np.isnan(inst.cand_capacity).any()):
            raise input_error(option("capacity"), "shortfall_years needs the seats of every "
                              "candidate", "give capacities (a capacity column)")
        if seated and inst.q and inst.exist_seats is None:
            raise input_error("existing", "shortfall_years needs the seats of the existing "
                              "schools", "pass existing as a Series of seats")
        cube = np.stack([W[v].reindex(inst.demand_ids).to_numpy(float) for v in variants],
                        axis=2)
        out_ids = first.index.difference(inst.demand_ids)
        extra = np.stack([W[v].reindex(out_ids).to_numpy(float).sum(axis=0)
                          for v in variants], axis=1)
        T = float(threshold)
        P = _prepare(inst, cube, years, variants, T, objective, extra)
        # the other measure, for the per-year table (seats needed for the shortfall)
        other = "child_years_beyond" if seated else "shortfall_years"
        can_seat = (inst.cand_capacity is not None and not np.isnan(inst.cand_capacity).any()
                    and (inst.q == 0 or inst.exist_seats is not None))
        P2 = _prepare(inst, cube, years, variants, T, other, extra) \
            if (seated or can_seat) else None
    nnz_est = _size(P)
    use = solver
    if solver == "auto":
        use = "exact" if nnz_est <= _AUTO_EXACT_NONZEROS else "heuristic"
    t0 = time.perf_counter()
    with step(f"phased siting ({use}, {objective}, {len(years)} years, "
              f"{len(variants)} variant(s), {P.W.shape[0]} cell groups x {inst.m} candidates)"):
        if use == "exact":
            open_, vals, value, lower, status = _exact(P, B, robust, time_limit, mip_gap)
            before = None
            used = "highs"
        else:
            open_, vals, value, lower, status, before = _heuristic(P, B, robust, time_limit,
                                                                   t0, mip_gap)
            used = "greedy+swap"
    lower = min(lower, value)
    if value - lower <= mip_gap * max(value, 1.0):
        status = "optimal"   # the heuristic's plan meets its bound: proven
    with step("per-year table"):
        res = _result(P, P2, inst, open_, vals, candidates, objective, before)
    res.value, res.bound, res.status, res.solver = value, lower, status, used
    res.gap = abs(value - lower) / max(abs(value), 1e-9) if value > 0 else 0.0
    res.notes = list(inst.notes)
    res.runtime = time.perf_counter() - start
    return res


def _size(P: _Problem) -> int:
    """Nonzeros of the model, roughly: what decides between the MILP and the heuristic."""
    live = (P.W[P.gi] > 0).sum() if len(P.gi) else 0
    return int(live * (3 if P.seated else 1))


def _result(P, P2, inst, open_, vals, candidates, objective, before=None) -> PhasedResult:
    years, variants = P.years, P.variants
    Y = len(years)
    none = np.zeros_like(open_)
    mine = _evaluate(P, none) if before is None else before
    if P.seated:
        short_b, short_a = mine, vals
        beyond_b, beyond_a = _evaluate(P2, none), _evaluate(P2, open_)
    else:
        beyond_b, beyond_a = mine, vals
        if P2 is not None:
            short_b, short_a = _evaluate(P2, none), _evaluate(P2, open_)
        else:
            short_b = short_a = np.full_like(vals, np.nan)
    opened = open_.any(axis=1)
    first = np.where(opened, open_.argmax(axis=1), Y)
    js = np.flatnonzero(opened)
    js = js[np.lexsort((js, first[js]))]
    cap = np.full(P.m, np.nan) if inst.cand_capacity is None else inst.cand_capacity
    cost = np.full(P.m, np.nan) if inst.cand_build_cost is None else inst.cand_build_cost
    sites = pd.DataFrame({"site": inst.cand_ids[js], "year": [years[t] for t in first[js]],
                          "capacity": cap[js], "build_cost": cost[js]})
    if isinstance(candidates, pd.DataFrame) and len(sites):
        attrs = candidates.drop(columns=[c for c in candidates.columns
                                         if c in sites.columns or c == "geometry"])
        attrs = pd.DataFrame(attrs).reindex(sites["site"]).reset_index(drop=True)
        sites = pd.concat([sites, attrs], axis=1)
    seats0 = (0.0 if inst.q == 0 else float(np.nansum(inst.exist_seats))
              if inst.exist_seats is not None else np.nan)
    rows = []
    for v, name in enumerate(variants):
        for t, y in enumerate(years):
            row = {"year": y}
            if len(variants) > 1:
                row["variant"] = name
            row.update({"children": float(P.total[t, v]), "seats_before": seats0,
                        "seats_after": seats0 + float(np.nansum(cap[open_[:, t]])),
                        "sites_open": int(open_[:, t].sum()),
                        "shortfall_before": float(short_b[t, v]),
                        "shortfall_after": float(short_a[t, v]),
                        "children_beyond_before": float(beyond_b[t, v]),
                        "children_beyond_after": float(beyond_a[t, v])})
            rows.append(row)
    by_year = pd.DataFrame(rows)
    per_var = {name: float(vals[:, v].sum()) for v, name in enumerate(variants)}
    return PhasedResult(objective=objective, sites=sites, by_year=by_year, value=np.nan,
                        bound=np.nan, gap=np.nan, status="", solver="", runtime=0.0,
                        years=years, by_variant=per_var)
