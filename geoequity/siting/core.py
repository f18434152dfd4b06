"""``site_schools``: the one entry point for siting new schools, and its result."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from geoequity._errors import SolverError, input_error
from geoequity._progress import step
from geoequity.siting import equity_objectives as eqo
from geoequity.siting import heuristics, models
from geoequity.siting._instance import Instance, build_instance

EFFICIENCY_PROBLEMS = ("pmedian", "mclp", "lscp", "gap", "pcenter")
PROBLEMS = EFFICIENCY_PROBLEMS + eqo.EQUITY_PROBLEMS
_AUTO_EXACT_PAIRS = 3_000_000   # "auto" uses the exact model up to this many pairs
_TIE = 1e-3                     # gap problem: total weight of the travel tie-break (children)
_SWAP_SETS = 40                 # capacitated p-median: one-swap sets tried before the MILPs
_FLOW_PAIRS = 20_000            # capacitated p-median: the joint flow MIP directly up to this


@dataclass
class SitingResult:
    """Outcome of :func:`site_schools`.

    Attributes
    ----------
    problem
        ``"pmedian"``, ``"mclp"``, ``"lscp"``, ``"gap"``, ``"pcenter"`` or an equity objective
        ``"maxmin_seats_per_child"``, ``"minmax_share_beyond"``, ``"min_theil"``.
    sites
        One row per chosen candidate, ranked by marginal gain (``rank`` 1 = largest gain):
        ``site``, ``rank``, ``children_newly_covered`` (children brought within the threshold,
        NaN without a threshold), ``seats_gap_closed`` (children newly given a seat under
        capacity-constrained assignment, NaN without capacities), ``travel_saved``
        (child-weighted cost saved, cost units x children), ``gain`` (the problem's own
        objective gain), ``size`` (seats built; gap/capacitated problems), ``children_assigned``
        and the candidate's attributes when a candidate frame was given.
    objective
        Objective value: total child-weighted cost (pmedian), children within the threshold of
        a school (mclp), number of new sites (lscp), children without a seat (gap), the
        largest cost to the nearest school (pcenter), the worst district's seats per child
        (maxmin_seats_per_child), the worst district's share of children beyond the threshold
        (minmax_share_beyond) or the Theil T index of 2SFCA access (min_theil).
    status
        ``"optimal"`` (proven within ``mip_gap``), ``"time_limit"`` (best found when the
        limit hit) or ``"heuristic"``.
    gap
        Relative optimality gap ``|objective - bound| / |objective|``.
    bound
        Best proven bound on the objective (MILP dual bound, or the Lagrangian/LP bound for
        the heuristic).
    chosen
        Chosen candidate ids, in rank order.
    assignment
        Long table ``origin, destination, children, cost`` of the capacity-constrained
        assignment (gap and capacitated p-median) or of nearest-open-school assignment.
    before_after
        Per district (when ``districts`` is given) and a ``"total"`` row: children, children
        within the threshold, mean cost, and unmet children before and after.
    tradeoffs
        Equity objectives only: one row per solution, the equity objective's first, then the
        efficiency optima (``pmedian``: least travel; ``gap``: fewest children without a seat,
        when seats are known; ``mclp``: most children within the threshold, with one):
        ``problem, role, status, chosen, total_travel, total_shortfall, children_beyond,
        worst_seats_per_child, worst_seats_district, worst_share_beyond,
        worst_share_district, theil_access``. :meth:`traded_away` gives the differences.
    """

    problem: str
    sites: pd.DataFrame
    objective: float
    status: str
    gap: float
    bound: float
    chosen: list
    solver: str
    runtime: float
    assignment: pd.DataFrame | None = None
    before_after: pd.DataFrame | None = None
    unreachable: list = field(default_factory=list)
    uncoverable: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    children_uncoverable: float = 0.0   # children no candidate covers within the threshold
    children_unreachable: float = 0.0   # children no school or candidate reaches at all
    tradeoffs: pd.DataFrame | None = None

    def traded_away(self) -> pd.DataFrame | None:
        """Equity objectives: the equity solution's figures minus each efficiency optimum's
        (rows ``pmedian``, ``gap``, ``mclp``; positive travel, shortfall and children beyond
        are what equity cost). None for the efficiency problems."""
        if self.tradeoffs is None:
            return None
        return eqo.traded_away(self.tradeoffs)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary: objective, chosen ids, status, gap (what ``--json`` prints).

        ``status`` is the solver's word on the model it solved; ``complete`` says whether that
        model held every child: false when some children cannot be covered within the
        threshold by any site (``children_uncoverable``) or are reached by no school at all
        (``children_unreachable``), so an "optimal" answer then covers only the others.
        """
        out = {"problem": self.problem, "objective": float(self.objective),
               "chosen": [_py(c) for c in self.chosen], "status": self.status,
               "complete": not (self.children_uncoverable > 0 or self.children_unreachable > 0),
               "children_uncoverable": float(self.children_uncoverable),
               "children_unreachable": float(self.children_unreachable),
               "gap": float(self.gap), "bound": float(self.bound), "solver": self.solver,
               "runtime_s": round(self.runtime, 3), "notes": list(self.notes)}
        if self.tradeoffs is not None:   # equity objectives: against the efficiency optima
            t = self.tradeoffs.reset_index(drop=True)
            out["tradeoffs"] = [{k: _py(v) for k, v in row.items()}
                                for row in t.to_dict(orient="records")]
            out["traded_away"] = {name: {k: _py(v) for k, v in row.items()}
                                  for name, row in self.traded_away().to_dict("index").items()}
        return out

    def layers(self, candidates, demand=None) -> dict[str, Any]:
        """Map layers: ``sites`` (chosen candidate points with ranks) and ``assignment`` lines.

        Parameters
        ----------
        candidates
            GeoDataFrame of candidate sites indexed by id (projected CRS, metres).
        demand
            Optional GeoDataFrame of demand indexed by id; with it, ``assignment`` holds one
            LineString per demand -> school flow (to chosen sites only).
        """
        import geopandas as gpd
        import shapely

        sites = self.sites.set_index("site")
        geo = candidates.geometry.reindex(sites.index)
        out = {"sites": gpd.GeoDataFrame(sites.reset_index(), geometry=geo.to_numpy(),
                                         crs=candidates.crs)}
        if demand is not None and self.assignment is not None:
            a = self.assignment.loc[self.assignment["destination"].isin(sites.index)]
            a = a.loc[a["origin"].isin(demand.index)]
            p0 = shapely.centroid(demand.geometry.reindex(a["origin"]).to_numpy())
            p1 = candidates.geometry.reindex(a["destination"]).to_numpy()
            lines = shapely.linestrings(np.stack([shapely.get_coordinates(p0),
                                                  shapely.get_coordinates(p1)], axis=1))
            out["assignment"] = gpd.GeoDataFrame(a.reset_index(drop=True), geometry=lines,
                                                 crs=candidates.crs)
        return out


def _py(v):
    return v.item() if hasattr(v, "item") else v


def site_schools(costs: pd.DataFrame, demand: pd.Series, candidates: Any, *,
                 problem: Literal["pmedian", "mclp", "lscp", "gap", "pcenter",
                                  "maxmin_seats_per_child", "minmax_share_beyond",
                                  "min_theil"],
                 p: int | None = None, threshold: float | None = None,
                 existing: Any = None, capacities: Any = None,
                 sizes: list[float] | None = None, build_costs: Any = None,
                 budget: float | None = None, districts: pd.Series | None = None,
                 time_limit: float = 60.0,
                 solver: Literal["exact", "heuristic", "auto"] = "auto",
                 mip_gap: float = 1e-6, unreached_cost: float | None = None,
                 capacitated: bool | None = None,
                 site_districts: pd.Series | None = None) -> SitingResult:
    """Choose new school sites among candidates, keeping existing schools open.

    Parameters
    ----------
    costs
        Long cost table ``origin, destination, cost`` (metres or minutes), destinations
        including every candidate and existing school id; pairs absent are unreachable. Or the
        same already coded (:class:`geoequity.pairs.Pairs`).
    demand
        Children per demand id (cells or points). Rows with 0 children are left out of the
        models; rows no school or candidate reaches are reported in ``unreachable``.
    candidates
        Candidate ids (list/Index), a boolean Series, or a (Geo)DataFrame indexed by id with
        optional ``capacity`` (seats) and ``build_cost`` columns.
    problem
        ``"pmedian"`` (minimise child-weighted cost; capacitated when ``capacities`` or
        ``sizes`` is given), ``"mclp"`` (maximise children within ``threshold``), ``"lscp"``
        (fewest sites covering every child within ``threshold``), ``"gap"`` (choose ``p`` sites,
        and sizes, to minimise children without a seat under capacity-constrained assignment
        within ``threshold``) or ``"pcenter"`` (minimise the largest cost to a school).
        Equity objectives (each also reports the efficiency optima in ``tradeoffs``):
        ``"maxmin_seats_per_child"`` (the worst district's seats per child as high as it can
        be, then least travel; needs ``districts``, ``site_districts`` and seats),
        ``"minmax_share_beyond"`` (the worst district's share of children beyond
        ``threshold`` as low as it can be, then most children within it; needs
        ``districts``) or ``"min_theil"`` (least Theil T of 2SFCA access within
        ``threshold``, by greedy + swap; needs seats).
    p
        Number of new sites (all but ``lscp``; an upper limit for ``gap``).
    threshold
        A child is covered when ``cost <= threshold`` (mclp, lscp; the catchment of gap).
    existing
        Existing school ids (list) or a Series of seats indexed by id (needed for gap and the
        capacitated p-median); existing schools are always open.
    capacities
        Seats per candidate (number or Series by id); defaults to the candidates' ``capacity``.
    sizes
        Allowed sizes in seats (e.g. ``[24*45, 36*45, 48*45]``); the model picks one per site.
    build_costs, budget
        Build cost per candidate (defaults to a ``build_cost`` column) and a total budget.
    districts
        District name per demand id, for the ``before_after`` table (and the equity
        objectives' districts; :func:`geoequity.io.district_of` gives it).
    time_limit
        Seconds for the solver (per model).
    solver
        ``"exact"`` (HiGHS MILP), ``"heuristic"`` (greedy + swap with a Lagrangian/LP bound)
        or ``"auto"`` (exact up to 3 million cost pairs, then heuristic).
    mip_gap
        Relative gap at which HiGHS stops and calls the solution optimal.
    unreached_cost
        p-median cost charged per child whose reachable sites are all closed (default: the
        largest cost in the table, i.e. its cut-off).
    capacitated
        p-median only: respect seats (capacitated p-median). Default: True when
        ``capacities`` or ``sizes`` is given.
    site_districts
        District name per candidate and existing school id (NaN: in none), for the seats per
        child of each district (``maxmin_seats_per_child`` and the trade-off table).

    Returns
    -------
    SitingResult
    """
    if problem not in PROBLEMS:
        raise input_error("problem", f"unknown problem {problem!r}",
                          f"use one of {', '.join(PROBLEMS)}")
    if solver not in ("exact", "heuristic", "auto"):
        raise input_error("solver", f"unknown solver {solver!r}", "use exact, heuristic or auto")
    if problem != "lscp" and (p is None or int(p) < 1):
        raise input_error("p", f"problem {problem} needs p >= 1 new sites", "pass p=N (--p N)")
    if problem in ("mclp", "lscp", "minmax_share_beyond", "min_theil") and threshold is None:
        raise input_error("threshold", f"problem {problem} needs a threshold",
                          "pass threshold=T (--threshold T), in the cost table's unit")
    if problem in eqo.NEEDS_DISTRICTS and districts is None:
        raise input_error("districts", f"problem {problem} lifts the worst-off district and "
                          "needs the districts", "pass districts= (--districts FILE "
                          "--district-col COL)")
    if problem == "maxmin_seats_per_child" and site_districts is None:
        raise input_error("site_districts", f"problem {problem} needs the district of every "
                          "candidate and existing school", "pass site_districts= (the CLI "
                          "takes it from --districts)")
    start = time.perf_counter()
    with step("preparing the siting instance"):
        inst = build_instance(costs, demand, candidates, existing=existing,
                              capacities=capacities, build_costs=build_costs)
    if p is not None and p > inst.m:
        raise input_error("p", f"p={p} is more than the {inst.m} candidates", "lower p")
    if capacitated is None:
        capacitated = sizes is not None or capacities is not None
    M = float(unreached_cost) if unreached_cost is not None else inst.max_cost
    pairs = len(inst.cc) + len(inst.ec)
    use = solver
    if solver == "auto":
        use = "exact" if pairs <= _AUTO_EXACT_PAIRS else "heuristic"
    eq = None
    if problem in eqo.EQUITY_PROBLEMS:
        eq = _equity_context(inst, problem, demand, districts, site_districts, sizes,
                             threshold, capacitated)
        capacitated = eq["cap"] is not None
    else:
        capacitated = problem == "gap" or (problem == "pmedian" and bool(capacitated))
    with step(f"solving {problem} ({use}, {inst.n} demand x {inst.m} candidates, "
              f"{pairs} pairs)"):
        if eq is None:
            sol, used = _solve(inst, problem, p=p, threshold=threshold, sizes=sizes,
                               budget=budget, time_limit=time_limit, mip_gap=mip_gap, M=M,
                               solver=use, capacitated=capacitated)
        else:
            sol, used = _solve_equity(inst, problem, eq, p=p, threshold=threshold,
                                      budget=budget, time_limit=time_limit, mip_gap=mip_gap,
                                      M=M)
    with step("ranking sites and before/after"):
        res = _report(inst, problem, sol, used, threshold=threshold, sizes=sizes, M=M,
                      capacitated=capacitated, candidates=candidates, districts=districts,
                      demand=demand, time_limit=time_limit)
    if eq is not None:
        with step("the efficiency optima for the trade-off table"):
            res.tradeoffs = _tradeoffs(inst, problem, sol, eq, p=p, threshold=threshold,
                                       sizes=sizes, budget=budget, time_limit=time_limit,
                                       mip_gap=mip_gap, M=M, solver=use, demand=demand)
            res.notes.extend(eq["notes"])
    res.runtime = time.perf_counter() - start
    return res


# --------------------------------------------------------------------- equity objectives

def _equity_context(inst, problem, demand, districts, site_districts, sizes, threshold,
                    capacitated) -> dict:
    """What the equity objectives need: seats per candidate, districts, 2SFCA access."""
    cap = None
    if sizes:
        cap = np.full(inst.m, float(max(sizes)))   # more seats never lower the worst district
    elif inst.cand_capacity is not None and not np.isnan(inst.cand_capacity).any():
        cap = inst.cand_capacity.copy()
    seats_known = cap is not None and (inst.q == 0 or inst.exist_seats is not None)
    if problem in ("maxmin_seats_per_child", "min_theil") and not seats_known:
        raise input_error("capacities", f"problem {problem} needs the seats of every new site "
                          "and existing school", "give capacities= (--capacity or "
                          "--candidate-capacity) or sizes=, and existing as a Series of seats "
                          "(--existing-seats)")
    notes = []
    dd = None
    if districts is not None:
        dd = eqo.district_data(inst, demand, districts, site_districts)
        if not (dd.children > 0).any():
            raise input_error("districts", "no child lies in any district",
                              "check that the districts cover the demand")
    if problem == "maxmin_seats_per_child":
        live = dd.children > 0
        has_c = np.zeros(len(dd.names), bool)
        has_c[dd.cand[dd.cand >= 0]] = True
        ratio = np.where(live, dd.seats / np.where(live, dd.children, 1.0), np.inf)
        stuck = live & ~has_c & (ratio <= ratio.min() + 1e-12)
        if stuck.any():
            notes.append(f"district {dd.names[np.flatnonzero(stuck)[0]]!r} is worst off and "
                         "has no candidate site: no choice can lift it, so the sites are "
                         "those of least travel")
    acc = None
    if threshold is not None and seats_known:
        zero = float(pd.to_numeric(pd.Series(demand).reindex(inst.unreachable),
                                   errors="coerce").sum()) if len(inst.unreachable) else 0.0
        acc = eqo.access_by_site(inst, float(threshold), cap, zero)
    return {"cap": cap if seats_known else None, "dd": dd, "acc": acc, "notes": notes}


def _solve_equity(inst, problem, eq, *, p, threshold, budget, time_limit, mip_gap, M):
    """The equity objectives: two exact stages (the worst district, then efficiency among
    its optima) or the Theil heuristic."""
    kw = {"time_limit": time_limit, "mip_gap": mip_gap}
    dd, cap = eq["dd"], eq["cap"]
    if problem == "min_theil":
        sol = eqo.theil_heuristic(inst, eq["acc"], p, time_limit=time_limit)
        sol.size = cap[sol.chosen]
        return sol, "greedy+swap-theil"
    if problem == "maxmin_seats_per_child":
        first = models.maxmin_seats(inst, p, capacity=cap, cand_group=dd.cand,
                                    children=dd.children, seats=dd.seats, budget=budget, **kw)
        t = first.objective
        live = dd.children > 0
        need = t * dd.children - dd.seats
        need = need - 1e-9 * np.maximum(1.0, np.abs(t * dd.children))
        rows = np.flatnonzero(live & (need > 0))
        ok = np.isin(dd.cand, rows)
        js = np.flatnonzero(ok)
        r_of = np.full(len(dd.names), -1)
        r_of[rows] = np.arange(len(rows))
        A = sp.csr_matrix((cap[js], (r_of[dd.cand[js]], js)), shape=(len(rows), inst.m))
        try:
            second = models.pmedian(inst, p, unreached_cost=M, budget=budget,
                                    z_rows=(A, need[rows], np.full(len(rows), np.inf)), **kw)
        except SolverError:   # numerically at the edge: keep the first stage's sites
            second = first
        sol = models.Solution(second.chosen, _worst_seats(dd, cap, second.chosen),
                              first.bound, _worse(first.status, second.status),
                              size=cap[second.chosen])
        return sol, "highs-two-stage"
    # minmax_share_beyond
    first = models.minmax_beyond(inst, p, float(threshold), demand_group=dd.demand,
                                 children=dd.children, budget=budget, **kw)
    t = _worst_share(inst, dd, first.chosen, threshold)
    second = models.minmax_beyond(inst, p, float(threshold), demand_group=dd.demand,
                                  children=dd.children, budget=budget,
                                  share_cap=t + 1e-9 * max(1.0, t), **kw)
    sol = models.Solution(second.chosen, _worst_share(inst, dd, second.chosen, threshold),
                          max(first.bound, 0.0), _worse(first.status, second.status))
    if cap is not None:
        sol.size = cap[sol.chosen]
    return sol, "highs-two-stage"


def _worse(a: str, b: str) -> str:
    return a if a != "optimal" else b


def _open_seats(inst, cap, chosen, size_of=None) -> np.ndarray | None:
    if cap is None and not size_of:
        return None
    out = np.zeros(len(cap) if cap is not None else inst.m)
    chosen = np.asarray(chosen, int)
    if cap is not None:
        out[chosen] = cap[chosen]
    for j, s in (size_of or {}).items():
        out[j] = s
    return out


def _worst_seats(dd, cap, chosen) -> float:
    return eqo.district_figures(dd, None, np.zeros(0), _open_seats(None, cap, chosen))[
        "worst_seats_per_child"]


def _worst_share(inst, dd, chosen, threshold) -> float:
    mask = np.zeros(inst.m, bool)
    mask[np.asarray(chosen, int)] = True
    return eqo.district_figures(dd, _covered(inst, mask, threshold), inst.w, None)[
        "worst_share_beyond"]


def _tradeoffs(inst, problem, sol, eq, *, p, threshold, sizes, budget, time_limit, mip_gap,
               M, solver, demand) -> pd.DataFrame:
    """The equity solution and the efficiency optima, measured alike."""
    cap, dd = eq["cap"], eq["dd"]
    seats_known = cap is not None
    runs = {problem: (sol, None)}
    common = {"p": p, "budget": budget, "time_limit": time_limit, "mip_gap": mip_gap, "M": M,
              "solver": solver}
    runs["pmedian"] = (_solve(inst, "pmedian", threshold=threshold, sizes=None,
                              capacitated=False, **common)[0], None)
    if seats_known:
        g = _solve(inst, "gap", threshold=threshold, sizes=sizes, capacitated=True, **common)[0]
        size_of = {int(j): float(s) for j, s in zip(g.chosen, g.size, strict=True)} \
            if g.size is not None else None
        runs["gap"] = (g, size_of)
    if threshold is not None:
        runs["mclp"] = (_solve(inst, "mclp", threshold=threshold, sizes=None,
                               capacitated=False, **common)[0], None)
    kw = {"time_limit": time_limit, "mip_gap": 1e-9}
    unreached = _children_of(demand, inst.unreachable)
    rows = []
    for name, (s, size_of) in runs.items():
        chosen = np.asarray(s.chosen, int)
        if name != problem and len(chosen) == 0 and (p or 0) > 0:
            # a reference optimum that found no sites in time is not a figure to trade
            # against: the row says so (its status) and leaves its figures empty
            rows.append({"problem": name, "role": "efficiency", "status": s.status,
                         "chosen": "", "total_travel": np.nan, "total_shortfall": np.nan,
                         "children_beyond": np.nan, "theil_access": np.nan})
            continue
        mask = np.zeros(inst.m, bool)
        mask[chosen] = True
        seats = _open_seats(inst, cap, chosen, size_of)
        row = {"problem": name, "role": "equity" if name == problem else "efficiency",
               "status": s.status, "chosen": ";".join(str(inst.cand_ids[j]) for j in chosen),
               "total_travel": float(inst.w @ _nearest_cost(inst, mask, M)),
               "total_shortfall": np.nan, "children_beyond": np.nan, "theil_access": np.nan}
        cov = None
        if threshold is not None:
            cov = _covered(inst, mask, threshold)
            row["children_beyond"] = float(inst.w[~cov].sum()) + unreached
        if seats_known:
            sz = {int(j): float(seats[j]) for j in chosen}
            row["total_shortfall"] = _unmet(inst, chosen, threshold, sizes, sz, kw)[0] + \
                unreached
            if eq["acc"] is not None:
                row["theil_access"] = eqo.theil_of(eq["acc"], eq["acc"].of(mask), inst.w)
        row.update(eqo.district_figures(dd, cov, inst.w, seats))
        rows.append(row)
    out = pd.DataFrame(rows, columns=eqo.TRADEOFF_COLUMNS)
    out.index = pd.Index(out["problem"], name="solution")
    return out


def _solve(inst: Instance, problem: str, *, p, threshold, sizes, budget, time_limit, mip_gap,
           M, solver, capacitated):
    kw = {"time_limit": time_limit, "mip_gap": mip_gap}
    if problem == "pmedian" and not capacitated:
        if solver == "heuristic":
            return heuristics.pmedian_heuristic(inst, p, unreached_cost=M,
                                                time_limit=time_limit,
                                                bound_iterations=1000), "greedy+swap"
        if budget is not None or inst.m <= p:
            return models.pmedian(inst, p, unreached_cost=M, budget=budget, **kw), "highs"
        return _pmedian_exact(inst, p, M, kw), "highs+lagrangian-fixing"
    if problem == "pmedian" and solver == "exact" and sizes is None and budget is None:
        return _cap_pmedian(inst, p, threshold, M, kw)
    if problem == "pmedian":
        if solver == "heuristic":
            sol = models.flow_model(inst, p, threshold=threshold, sizes=sizes, unmet_weight=M,
                                    travel_weight=1.0, exact_p=True, budget=budget, relax=True,
                                    **kw)
            return (_round_relaxation(inst, sol, p, threshold, sizes, M, 1.0, kw, gap=False),
                    "lp-rounding")
        return _cap_flow(inst, p, threshold, M, kw, sizes=sizes, budget=budget), "highs"
    if problem == "mclp":
        if solver == "heuristic":
            return heuristics.mclp_heuristic(inst, p, threshold,
                                             time_limit=time_limit), "greedy+swap"
        return models.mclp(inst, p, threshold, budget=budget, **kw), "highs"
    if problem == "lscp":
        return models.lscp(inst, threshold, **kw), "highs"
    if problem == "pcenter":
        return models.pcenter(inst, p, **kw), "highs-bisection"
    # gap: unmet first; travel is a tie-break worth at most _TIE children in total
    tw = _TIE / max(inst.max_cost, 1e-9) / max(inst.w.sum(), 1.0)
    sol = models.flow_model(inst, p, threshold=threshold, sizes=sizes, unmet_weight=1.0,
                            travel_weight=tw, exact_p=False, budget=budget,
                            relax=solver == "heuristic", **kw)
    if solver == "heuristic":
        return (_round_relaxation(inst, sol, p, threshold, sizes, 1.0, tw, kw, gap=True),
                "lp-rounding")
    unmet = float(sol.extra["unmet"].sum())
    # any solution's unmet >= (its combined objective) - _TIE >= dual bound - _TIE
    sol.objective, sol.bound = unmet, min(unmet, max(0.0, sol.bound - _TIE))
    return sol, "highs"


def _pmedian_exact(inst: Instance, p: int, M: float, kw: dict) -> models.Solution:
    """Exact p-median: greedy+swap incumbent, Lagrangian variable fixing, then HiGHS.

    Candidates the Lagrangian test proves useless are removed before the MILP (and sure ones
    forced open), and the MILP is the merged radius formulation (``models.pmedian``), which
    together shrink the model the LP solver sees by an order of magnitude. Any
    solution using a removed candidate costs more than the incumbent, so the reduced model's
    optimum (or the incumbent) is optimal for the full problem, and min(incumbent, reduced
    bound) is a valid bound.
    """
    t0 = time.perf_counter()
    heur = heuristics.pmedian_heuristic(inst, p, unreached_cost=M,
                                        time_limit=max(kw["time_limit"] * 0.3, 1.0),
                                        bound_iterations=600)
    if heur.gap <= kw["mip_gap"]:
        heur.status = "optimal"
        return heur
    allowed, forced, _ = heuristics.pmedian_reduction(
        inst, p, unreached_cost=M, ub=heur.objective, lam=heur.extra["lambda"])
    left = max(kw["time_limit"] - (time.perf_counter() - t0), 1.0)
    # every pair of the candidates left is kept: dropping single pairs (pair_keep) breaks
    # the sharing of site sets between neighbours that keeps the radius model small
    sol = models.pmedian(inst, p, unreached_cost=M, allowed=allowed, forced=forced,
                         time_limit=left, mip_gap=kw["mip_gap"])
    sol.extra["candidates_fixed_closed"] = int((~allowed).sum())
    if heur.objective < sol.objective:
        heur.status = sol.status
        sol = models.Solution(heur.chosen, heur.objective, sol.bound, sol.status)
    sol.bound = min(sol.bound, heur.objective)
    return sol


def _cap_flow(inst: Instance, p: int, threshold, M: float, kw: dict, *, sizes=None,
              budget=None) -> models.Solution:
    """Capacitated p-median as one joint flow MILP: unmet children pay M each."""
    sol = models.flow_model(inst, p, threshold=threshold, sizes=sizes, unmet_weight=M,
                            travel_weight=1.0, exact_p=True, budget=budget, **kw)
    sol.objective = sol.extra["travel"] + M * float(sol.extra["unmet"].sum())
    return sol


def _cap_pmedian(inst: Instance, p: int, threshold, M: float, kw: dict):
    """Exact capacitated p-median: set enumeration on large instances, else the flow MIP.

    The enumeration (:func:`_cap_pmedian_exact`) is fast when seats bind at a few sites; when
    they bind widely (tight or short capacity) many sets qualify and it can stall even on tiny
    instances, where the joint flow MIP is instant. So: small instances go to the flow MIP;
    large ones try the enumeration for half the time limit and, unless it proves optimality,
    the flow MIP gets the rest; the better answer and the better bound are kept.
    """
    t0 = time.perf_counter()
    enum = None
    if len(inst.cc) + len(inst.ec) > _FLOW_PAIRS:
        enum = _cap_pmedian_exact(inst, p, threshold, M,
                                  {**kw, "time_limit": kw["time_limit"] / 2})
        if enum.status == "optimal":
            return enum, "highs-radius-enumeration"
    left = max(kw["time_limit"] - (time.perf_counter() - t0), 1.0)
    flow = _cap_flow(inst, p, threshold, M, {**kw, "time_limit": left})
    if enum is None:
        return flow, "highs"
    best = enum if enum.objective <= flow.objective else flow
    best.bound = min(max(enum.bound, flow.bound), best.objective)
    if best.objective - best.bound <= kw["mip_gap"] * abs(best.objective):
        best.status = "optimal"
    return best, "highs-radius-enumeration+flow"


def _seat_bound(inst: Instance, p: int, M: float) -> float:
    """A lower bound on any p-site set's capacitated cost that sees short seats.

    At most S = existing seats + the p largest capacities children get a seat; a seated child
    pays at least its cheapest pair, an unseated one M. Seating the S children who save the
    most (M - cheapest) gives the bound: what the uncapacitated costs miss when seats are short.
    """
    seats = (0.0 if inst.exist_seats is None else float(np.nansum(inst.exist_seats))) + \
        float(np.sort(np.nan_to_num(inst.cand_capacity))[::-1][:p].sum())
    cheapest = np.full(inst.n, M)
    np.minimum.at(cheapest, np.r_[inst.ci, inst.ei], np.r_[inst.cc, inst.ec])
    save = np.maximum(M - cheapest, 0.0)
    order = np.argsort(-save, kind="stable")
    w = inst.w[order]
    seated = np.clip(seats - (np.cumsum(w) - w), 0.0, w)   # children of each row seated
    return float(M * inst.w.sum() - (save[order] * seated).sum())


def _cap_pmedian_exact(inst: Instance, p: int, threshold, M: float,
                       kw: dict) -> models.Solution:
    """Exact capacitated p-median: enumerate site sets in order of their uncapacitated cost.

    T(O) is the cost of site set O under capacity-constrained assignment (an LP; unmet
    children pay M). Dropping the seats gives the uncapacitated p-median, U(O) <= T(O), so a
    set can beat the incumbent O* only if U(O) < T(O*). Loop: find the set of least U among
    the sets not tried yet (radius model with no-good rows, after Lagrangian fixing of the
    uncapacitated relaxation at the incumbent's cost); if its U (the MILP's dual bound)
    reaches T(O*), O* is optimal; otherwise evaluate T on it (one assignment LP) and repeat.
    Before the first MILP, the sets one swap away from the uncapacitated solution with U
    below T(O*) are evaluated (their U comes from one swap evaluation), so the MILPs have
    little left to find. Few sets qualify when seats bind at a few sites (on the 2,000 x 100
    benchmark: a few swap sets and one MILP); when many do, the time limit stops the search
    and the bound is the least U left.
    """
    t0 = time.perf_counter()
    limit = kw["time_limit"]
    if inst.cand_capacity is None or np.isnan(inst.cand_capacity).any():
        raise SolverError("candidates need a capacity (capacities=, a capacity column, "
                          "or sizes=[...]) for a capacitated problem")
    if inst.q and inst.exist_seats is None:
        raise SolverError("existing schools need seats for a capacitated problem "
                          "(pass existing as a Series of seats)")
    T = np.inf if threshold is None else float(threshold)
    relax = dataclasses.replace(
        inst, ci=inst.ci[inst.cc <= T], cj=inst.cj[inst.cc <= T], cc=inst.cc[inst.cc <= T],
        ei=inst.ei[inst.ec <= T], ej=inst.ej[inst.ec <= T], ec=inst.ec[inst.ec <= T])
    heur = heuristics.pmedian_heuristic(relax, p, unreached_cost=M,
                                        time_limit=max(limit * 0.2, 1.0), bound_iterations=600)

    def evaluate(sites):
        return models.transport(relax, np.sort(sites), threshold=None, unmet_cost=M,
                                capacity=inst.cand_capacity)

    best = evaluate(heur.chosen)
    seen = [np.sort(heur.chosen)]
    status, lower = "optimal", min(heur.bound, best.objective)
    lower = max(lower, min(_seat_bound(relax, p, M), best.objective))
    tol = kw["mip_gap"]
    # the sets one swap away whose U is below the incumbent's T: cheap to list (one swap
    # evaluation), and usually where the optimum is; trying them first leaves the MILPs
    # little to find (at most _SWAP_SETS, by increasing U)
    is_open = np.zeros(inst.m, bool)
    is_open[heur.chosen] = True
    j_in, l_out, u_val = heuristics.pmedian_swap_values(relax, is_open, unreached_cost=M)
    for k in np.argsort(u_val, kind="stable")[:_SWAP_SETS]:
        if u_val[k] >= best.objective * (1 - tol) or time.perf_counter() - t0 > limit / 2:
            break
        sites = np.sort(np.r_[np.flatnonzero(is_open & (np.arange(inst.m) != l_out[k])),
                              j_in[k]])
        cand = evaluate(sites)
        seen.append(sites)
        if cand.objective < best.objective:
            best = cand
    while best.objective - lower > tol * abs(best.objective):
        left = limit - (time.perf_counter() - t0)
        if left <= 0:
            status = "time_limit"
            break
        allowed, forced, _ = heuristics.pmedian_reduction(
            relax, p, unreached_cost=M, ub=best.objective, lam=heur.extra["lambda"])
        nxt = models.pmedian(relax, p, unreached_cost=M, allowed=allowed, forced=forced,
                             exclude=seen, time_limit=max(left, 1.0), mip_gap=tol)
        if nxt.status == "infeasible":      # every allowed set has been tried
            lower = best.objective
            break
        if nxt.bound >= best.objective * (1 - tol):
            lower = best.objective          # no untried set can beat the incumbent
            break
        if nxt.status != "optimal":
            status = "time_limit"
            lower = max(lower, nxt.bound)
        cand = evaluate(nxt.chosen)
        seen.append(np.sort(nxt.chosen))
        if cand.objective < best.objective:
            best = cand
        if status != "optimal":
            break
    best.status = status
    best.bound = min(lower, best.objective)
    best.extra["sets_evaluated"] = len(seen)
    return best


def _round_relaxation(inst, relaxed, p, threshold, sizes, uw, tw, kw, *, gap: bool):
    """LP relaxation -> open the p sites with the largest z (largest size) -> assignment LP."""
    bound = relaxed.objective
    order = np.argsort(-relaxed.extra["zval"], kind="stable")[:p]
    order = order[relaxed.extra["zval"][order] > 1e-6]
    sol = models.flow_model(inst, p, threshold=threshold, sizes=sizes, unmet_weight=uw,
                            travel_weight=tw, exact_p=False, fixed=order, **kw)
    unmet = float(sol.extra["unmet"].sum())
    if gap:   # gap problem: objective is unmet children (not "uw == 1": M may be 1 too)
        sol.objective, sol.bound = unmet, min(unmet, max(0.0, bound - _TIE))
    else:
        sol.objective = sol.extra["travel"] + uw * unmet
        sol.bound = min(bound, sol.objective)
    sol.status = "heuristic"
    return sol


# --------------------------------------------------------------------------- reporting

def _nearest_cost(inst: Instance, open_c: np.ndarray, M: float) -> np.ndarray:
    d = np.minimum(inst.nearest_existing(), M)
    sel = open_c[inst.cj]
    if sel.any():
        np.minimum.at(d, inst.ci[sel], inst.cc[sel])
    return d


def _covered(inst: Instance, open_c: np.ndarray, T: float) -> np.ndarray:
    cov = np.zeros(inst.n, bool)
    cov[inst.ei[inst.ec <= T]] = True
    sel = open_c[inst.cj] & (inst.cc <= T)
    cov[inst.ci[sel]] = True
    return cov


def _unmet(inst, open_list, threshold, sizes, size_of, kw) -> tuple[float, np.ndarray]:
    """Children without a seat after capacity-constrained assignment with these sites open."""
    saved = inst.cand_capacity
    cap = np.zeros(inst.m) if saved is None else np.nan_to_num(saved.copy())
    for j, s in size_of.items():
        cap[j] = s
    # unmet first, travel as the tie-break: the same optimum as the flow model with fixed
    # sites (unmet weight 1, travel weight tw), scaled by 1 / tw
    tw = _TIE / max(inst.max_cost, 1e-9) / max(inst.w.sum(), 1.0)
    sol = models.transport(inst, np.asarray(open_list, int), threshold=threshold,
                           unmet_cost=1.0 / tw, capacity=cap)
    return float(sol.extra["unmet"].sum()), sol.extra["unmet"]


def _report(inst, problem, sol, used, *, threshold, sizes, M, capacitated, candidates,
            districts, demand, time_limit) -> SitingResult:
    kw = {"time_limit": time_limit, "mip_gap": 1e-9}
    chosen = [int(j) for j in sol.chosen]
    size_of = {}
    if sol.size is not None:
        size_of = {int(j): float(s) for j, s in zip(sol.chosen, sol.size, strict=True)}
    can_seat = capacitated or (inst.exist_seats is not None and inst.cand_capacity is not None
                               and not np.isnan(inst.cand_capacity).any())
    T = threshold

    def metrics(open_list):
        mask = np.zeros(inst.m, bool)
        mask[open_list] = True
        d = _nearest_cost(inst, mask, M)
        out = {"travel": float(inst.w @ d), "d": d}
        if T is not None:
            cov = _covered(inst, mask, T)
            out["covered"], out["cov"] = float(inst.w[cov].sum()), cov
        if can_seat:
            out["unmet"], out["unmet_i"] = _unmet(inst, open_list, T, sizes, size_of, kw)
        return out

    key = {"pmedian": "travel", "pcenter": "travel", "mclp": "covered", "lscp": "covered",
           "gap": "unmet", "maxmin_seats_per_child": "unmet", "minmax_share_beyond": "covered",
           "min_theil": "unmet"}[problem]
    if key == "unmet" and not can_seat:
        key = "travel"
    if key == "covered" and T is None:
        key = "travel"
    base = metrics([])
    ranked = _rank_order(inst, sol, chosen, key, T, M, base.get("unmet"),
                         lambda sites: _unmet(inst, sites, T, sizes, size_of, kw)[0])
    # incremental metrics along the ranking (vectorised; one LP per prefix only with seats)
    d = base["d"].copy()
    cov = base["cov"].copy() if T is not None else None
    unmet = base.get("unmet")
    order = np.argsort(inst.cj, kind="stable")
    bounds = np.searchsorted(inst.cj[order], np.arange(inst.m + 1))
    rows = []
    seat_steps = can_seat and len(ranked) <= 30
    for r, j in enumerate(ranked):
        sel = order[bounds[j]:bounds[j + 1]]
        before_t = float(inst.w @ d)
        np.minimum.at(d, inst.ci[sel], inst.cc[sel])
        row = {"site": inst.cand_ids[j], "rank": r + 1,
               "children_newly_covered": np.nan, "seats_gap_closed": np.nan,
               "travel_saved": before_t - float(inst.w @ d)}
        if T is not None:
            hit = inst.ci[sel][inst.cc[sel] <= T]
            new = np.unique(hit[~cov[hit]])
            row["children_newly_covered"] = float(inst.w[new].sum())
            cov[new] = True
        if seat_steps:
            u = _unmet(inst, ranked[: r + 1], T, sizes, size_of, kw)[0]
            row["seats_gap_closed"] = unmet - u
            unmet = u
        row["gain"] = {"travel": row["travel_saved"], "covered": row["children_newly_covered"],
                       "unmet": row["seats_gap_closed"]}[key]
        row["size"] = size_of.get(j, np.nan if inst.cand_capacity is None
                                  else inst.cand_capacity[j])
        row["children_assigned"] = np.nan
        rows.append(row)
    cur = metrics(ranked)
    sites = pd.DataFrame(rows, columns=["site", "rank", "children_newly_covered",
                                        "seats_gap_closed", "travel_saved", "gain", "size",
                                        "children_assigned"])
    if isinstance(candidates, pd.DataFrame) and len(sites):
        extra = candidates.drop(columns=[c for c in candidates.columns
                                         if c in sites.columns or c == "geometry"])
        extra = pd.DataFrame(extra).reindex(sites["site"]).reset_index(drop=True)
        sites = pd.concat([sites, extra], axis=1)
    assignment = _assignment(inst, sol, cur, M)
    if len(sites):
        got = assignment.groupby("destination")["children"].sum()
        sites["children_assigned"] = got.reindex(sites["site"]).fillna(0.0).to_numpy()
    before_after = _before_after(inst, base, cur, districts, demand, T, can_seat)
    uncov = sol.extra.get("uncoverable", np.array([], int))
    notes = list(inst.notes)
    if len(uncov):
        notes.append(f"{len(uncov)} demand rows cannot be covered within the threshold by any "
                     "candidate and were left out")
    return SitingResult(problem=problem, sites=sites, objective=float(sol.objective),
                        status=sol.status, gap=float(sol.gap), bound=float(sol.bound),
                        chosen=[inst.cand_ids[j] for j in ranked], solver=used, runtime=0.0,
                        assignment=assignment, before_after=before_after,
                        unreachable=list(inst.unreachable),
                        uncoverable=list(inst.demand_ids[uncov]), notes=notes,
                        children_uncoverable=float(inst.w[uncov].sum()) if len(uncov) else 0.0,
                        children_unreachable=_children_of(demand, inst.unreachable))


def _children_of(demand, ids) -> float:
    """Children of the demand rows ``ids`` (0 when there are none or demand is no Series)."""
    if not len(ids) or not isinstance(demand, pd.Series):
        return 0.0
    return float(pd.to_numeric(demand.reindex(ids), errors="coerce").sum())


def _rank_order(inst, sol, chosen, key, T, M, unmet0, unmet_of) -> list[int]:
    """Rank the chosen sites by marginal gain of the problem's own objective."""
    if key != "unmet":
        return _greedy_order(inst, chosen, key, T, M)
    if len(chosen) > 12:        # many gap sites: order by children assigned, no extra LPs
        return sorted(chosen, key=lambda j: -_assigned(sol, j))
    ranked, cur = [], unmet0    # few gap sites: greedy on the assignment LP itself
    remaining = list(chosen)
    while remaining:
        gain, neg_j = max((cur - unmet_of(ranked + [j]), -j) for j in remaining)
        ranked.append(-neg_j)
        remaining.remove(-neg_j)
        cur -= gain
    return ranked


def _greedy_order(inst: Instance, chosen: list[int], key: str, T, M) -> list[int]:
    """Order the chosen sites greedily by marginal gain (travel saved or children covered)."""
    if not chosen:
        return []
    sel = np.isin(inst.cj, chosen)
    ci, cj, cc = inst.ci[sel], inst.cj[sel], inst.cc[sel]
    w, m = inst.w, inst.m
    left = np.zeros(m, bool)
    left[chosen] = True
    out = []
    if key == "travel":
        cur = np.minimum(inst.nearest_existing(), M)
    else:
        within = cc <= T
        ci, cj = ci[within], cj[within]
        cov = _covered(inst, np.zeros(m, bool), T)
    for _ in range(len(chosen)):
        if key == "travel":
            gain = np.bincount(cj, weights=w[ci] * np.maximum(0.0, cur[ci] - cc), minlength=m)
        else:
            gain = np.bincount(cj, weights=w[ci] * ~cov[ci], minlength=m)
        gain = np.where(left, gain, -np.inf)
        j = int(np.argmax(gain))
        out.append(j)
        left[j] = False
        mine = cj == j
        if key == "travel":
            np.minimum.at(cur, ci[mine], cc[mine])
        else:
            cov[ci[mine]] = True
    return out


def _assigned(sol, j) -> float:
    if sol.flows is None:
        return float("nan")
    i, fac, x = sol.flows
    return float(x[fac == j].sum())


def _assignment(inst, sol, final, M) -> pd.DataFrame:
    if sol.flows is not None:
        i, fac, x = sol.flows
        fac_ids = inst.cand_ids.append(inst.exist_ids)
        cost = pd.Series(np.r_[inst.cc, inst.ec],
                         index=pd.MultiIndex.from_arrays([np.r_[inst.ci, inst.ei],
                                                          np.r_[inst.cj, inst.m + inst.ej]]))
        cost = cost[~cost.index.duplicated()]
        c = cost.reindex(pd.MultiIndex.from_arrays([i, fac])).to_numpy()
        return pd.DataFrame({"origin": inst.demand_ids[i], "destination": fac_ids[fac],
                             "children": x, "cost": c})
    # nearest open school per demand (existing + chosen)
    d = final["d"]
    allj = np.r_[inst.cj, inst.m + inst.ej]
    alli = np.r_[inst.ci, inst.ei]
    allc = np.r_[inst.cc, inst.ec]
    is_open = np.r_[np.isin(inst.cj, sol.chosen), np.ones(len(inst.ej), bool)]
    hit = is_open & (allc <= d[alli] + 1e-12)
    hit_i, first = np.unique(alli[hit], return_index=True)
    fac_ids = inst.cand_ids.append(inst.exist_ids)
    k = np.flatnonzero(hit)[first]
    return pd.DataFrame({"origin": inst.demand_ids[hit_i], "destination": fac_ids[allj[k]],
                         "children": inst.w[hit_i], "cost": allc[k]})


def _before_after(inst, base, after, districts, demand, T, can_seat) -> pd.DataFrame:
    ids = inst.demand_ids
    if districts is not None:
        groups = pd.Series(districts).reindex(ids).astype("object").fillna("(none)").to_numpy()
    else:
        groups = np.full(len(ids), "total", dtype=object)
    frame = pd.DataFrame({"district": groups, "children": inst.w,
                          "wcost_before": inst.w * base["d"], "wcost_after": inst.w * after["d"]})
    if T is not None:
        frame["covered_before"] = inst.w * base["cov"]
        frame["covered_after"] = inst.w * after["cov"]
    if can_seat:
        frame["unmet_before"] = base["unmet_i"]
        frame["unmet_after"] = after["unmet_i"]
    g = frame.groupby("district", sort=True).sum(numeric_only=True)
    if districts is not None:
        g.loc["total"] = g.sum()
    out = pd.DataFrame(index=g.index)
    out["children"] = g["children"]
    if T is not None:
        out["covered_before"] = g["covered_before"]
        out["covered_after"] = g["covered_after"]
        out["share_covered_before"] = g["covered_before"] / g["children"]
        out["share_covered_after"] = g["covered_after"] / g["children"]
    out["mean_cost_before"] = g["wcost_before"] / g["children"]
    out["mean_cost_after"] = g["wcost_after"] / g["children"]
    if can_seat:
        out["unmet_before"] = g["unmet_before"]
        out["unmet_after"] = g["unmet_after"]
    out.index.name = "district"
    return out.reset_index()


__all__ = ["PROBLEMS", "SitingResult", "site_schools", "SolverError"]
