"""The fast exact formulations against brute-force enumeration on small random instances.

The p-median uses Elloumi's radius formulation with equal site sets merged (models.pmedian);
these tests enumerate every choice of sites on instances with integer costs (so many ties,
which is where merging sets could go wrong), existing schools, unreachable pairs, a budget,
coverage rows and fixed candidates, and compare the optimum value.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from geoequity.siting import site_schools
from geoequity.siting._instance import build_instance
from geoequity.siting.models import pmedian


def _instance(seed, n=30, m=8, q=2, radius=60.0, scale=100):
    rng = np.random.default_rng(seed)
    d = rng.integers(0, scale, size=(n, 2))
    c = rng.integers(0, scale, size=(m, 2))
    e = rng.integers(0, scale, size=(q, 2))
    w = pd.Series(rng.integers(1, 20, size=n).astype(float), index=[f"d{i}" for i in range(n)])
    rows = [(f"d{i}", f"c{k}", float(np.rint(np.hypot(*(d[i] - pt)) / 10)))
            for i in range(n) for k, pt in enumerate(c)]
    rows += [(f"d{i}", f"e{k}", float(np.rint(np.hypot(*(d[i] - pt)) / 10)))
             for i in range(n) for k, pt in enumerate(e)]
    costs = pd.DataFrame(rows, columns=["origin", "destination", "cost"])
    costs = costs[costs["cost"] <= radius / 10].reset_index(drop=True)
    build = pd.Series(rng.integers(1, 10, size=m).astype(float), index=[f"c{k}" for k in range(m)])
    return costs, w, [f"c{k}" for k in range(m)], [f"e{k}" for k in range(q)], build


def _enumerate(inst, p, M, *, allowed=None, forced=None, budget=None, cover=None):
    """Best child-weighted cost over every p-subset of candidates (nearest open school)."""
    f = np.minimum(inst.nearest_existing(), M)
    best = np.inf
    for combo in itertools.combinations(range(inst.m), p):
        s = np.zeros(inst.m, bool)
        s[list(combo)] = True
        if allowed is not None and (s & ~allowed).any():
            continue
        if forced is not None and (forced & ~s).any():
            continue
        if budget is not None and inst.cand_build_cost[s].sum() > budget:
            continue
        sel = s[inst.cj]
        d = f.copy()
        np.minimum.at(d, inst.ci[sel], inst.cc[sel])
        if cover is not None:
            # every demand some candidate covers within r (and no existing school does)
            # must get an open site within r
            pre = np.zeros(inst.n, bool)
            pre[inst.ei[inst.ec <= cover]] = True
            need = np.zeros(inst.n, bool)
            need[inst.ci[inst.cc <= cover]] = True
            got = np.zeros(inst.n, bool)
            got[inst.ci[sel & (inst.cc <= cover)]] = True
            if (need & ~pre & ~got).any():
                continue
        best = min(best, float(inst.w @ d))
    return best


@pytest.mark.parametrize("seed", range(8))
def test_radius_pmedian_equals_enumeration(seed):
    costs, w, cands, ex, build = _instance(seed)
    existing = ex if seed % 2 else None
    inst = build_instance(costs, w, cands, existing=existing, build_costs=build)
    M = inst.max_cost + 1.0
    p = 2 + seed % 3
    got = pmedian(inst, p, unreached_cost=M, time_limit=30, mip_gap=1e-9)
    assert got.status == "optimal"
    assert got.objective == pytest.approx(_enumerate(inst, p, M), rel=1e-9)
    assert got.bound == pytest.approx(got.objective, rel=1e-7)
    # the chosen sites' own cost (recomputed) is the objective
    d = np.minimum(inst.nearest_existing(), M)
    sel = np.isin(inst.cj, got.chosen)
    np.minimum.at(d, inst.ci[sel], inst.cc[sel])
    assert float(inst.w @ d) == pytest.approx(got.objective, rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_radius_pmedian_with_fixings_budget_and_cover(seed):
    costs, w, cands, ex, build = _instance(100 + seed, n=25, m=7)
    inst = build_instance(costs, w, cands, existing=ex, build_costs=build)
    M = inst.max_cost
    rng = np.random.default_rng(seed)
    allowed = rng.random(inst.m) < 0.8
    forced = np.zeros(inst.m, bool)
    forced[np.flatnonzero(allowed)[0]] = True
    got = pmedian(inst, 3, unreached_cost=M, time_limit=30, mip_gap=1e-9, allowed=allowed,
                  forced=forced)
    assert got.objective == pytest.approx(
        _enumerate(inst, 3, M, allowed=allowed, forced=forced), rel=1e-9)
    assert forced[got.chosen].sum() == 1 and allowed[got.chosen].all()
    budget = float(np.sort(build.to_numpy())[:3].sum() + 2)
    got = pmedian(inst, 3, unreached_cost=M, time_limit=30, mip_gap=1e-9, budget=budget)
    assert got.objective == pytest.approx(_enumerate(inst, 3, M, budget=budget), rel=1e-9)
    r = float(np.median(inst.cc))
    try:
        got = pmedian(inst, 3, unreached_cost=M, time_limit=30, mip_gap=1e-9, cover_radius=r)
    except Exception:       # no 3 sites cover every coverable child: enumeration agrees
        assert _enumerate(inst, 3, M, cover=r) == np.inf
    else:
        assert got.objective == pytest.approx(_enumerate(inst, 3, M, cover=r), rel=1e-9)


def test_exact_pmedian_with_lagrangian_fixing_equals_enumeration():
    # larger instance through site_schools (heuristic incumbent, fixing, radius model)
    costs, w, cands, ex, _ = _instance(7, n=60, m=12, radius=400.0, scale=300)
    r = site_schools(costs, w, cands, problem="pmedian", p=3, existing=ex, solver="exact")
    inst = build_instance(costs, w, cands, existing=ex)
    assert r.status == "optimal"
    assert r.objective == pytest.approx(_enumerate(inst, 3, inst.max_cost), rel=1e-9)


def _min_cost_flow(costs, w, open_, seats, M, T):
    """Capacity-constrained assignment cost of open_ (networkx, unmet children pay M)."""
    import networkx as nx

    g = nx.DiGraph()
    for i, wi in w.items():
        g.add_node(i, demand=-int(wi))
        g.add_edge(i, "t", weight=int(M))
    for o, d, c in costs.itertuples(index=False):
        if d in open_ and c <= T:
            g.add_edge(o, d, weight=int(c))
    for s in open_:
        g.add_edge(s, "t", capacity=int(seats[s]), weight=0)
    g.add_node("t", demand=int(w.sum()))
    return nx.min_cost_flow_cost(g)


@pytest.mark.parametrize("path", ["enumeration", "flow"])
@pytest.mark.parametrize("seed", range(4))
def test_capacitated_pmedian_enumeration_equals_networkx(seed, path, monkeypatch):
    # tight seats so the uncapacitated optimum overloads a site and the search must go on;
    # both exact paths (set enumeration for large instances, the flow MIP for small ones)
    from geoequity.siting import core

    monkeypatch.setattr(core, "_FLOW_PAIRS", 0 if path == "enumeration" else 10**9)
    costs, w, cands, ex, _ = _instance(200 + seed, n=30, m=7, radius=900.0)
    rng = np.random.default_rng(seed)
    seats = {c: float(rng.integers(40, 90)) for c in cands}
    seats.update({e: 30.0 for e in ex})
    T = float(np.percentile(costs["cost"], 60)) if seed % 2 else None
    M = int(costs["cost"].max()) + 5
    best = min(_min_cost_flow(costs, w, list(cb) + ex, seats, M, np.inf if T is None else T)
               for cb in itertools.combinations(cands, 3))
    r = site_schools(costs, w, pd.Series({c: seats[c] for c in cands}), problem="pmedian",
                     p=3, existing=pd.Series({e: seats[e] for e in ex}), capacitated=True,
                     threshold=T, unreached_cost=M, solver="exact")
    assert r.status == "optimal"
    assert r.objective == pytest.approx(best, rel=1e-9)
    assert r.solver.startswith("highs-radius" if path == "enumeration" else "highs")
    a = r.assignment
    assert a["children"].sum() <= w.sum() + 1e-6


def test_heuristic_two_starts_bracket_exact_optimum():
    # 30 nearest candidates per cell, many cells unreached by the p open sites (as in the
    # 100,000 x 5,000 benchmark, scaled down): bound <= exact optimum <= heuristic value
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(11)
    d, c = rng.uniform(0, 5000, (3000, 2)), rng.uniform(0, 5000, (150, 2))
    dist, idx = cKDTree(c).query(d, k=30)
    costs = pd.DataFrame({"origin": np.repeat(np.arange(3000), 30),
                          "destination": idx.ravel(), "cost": dist.ravel()})
    w = pd.Series(rng.poisson(40, 3000) + 1.0)
    ex = site_schools(costs, w, list(range(150)), problem="pmedian", p=4, solver="exact")
    he = site_schools(costs, w, list(range(150)), problem="pmedian", p=4, solver="heuristic")
    assert ex.status == "optimal"
    assert he.bound <= ex.objective * (1 + 1e-9) <= he.objective * (1 + 2e-9)
    # started from the optimal sites, the swaps keep them (nothing improves on an optimum)
    from geoequity.siting.heuristics import pmedian_heuristic

    inst = build_instance(costs, w, list(range(150)))
    opt = [inst.cand_ids.get_loc(s) for s in ex.chosen]
    got = pmedian_heuristic(inst, 4, unreached_cost=inst.max_cost, initial=np.array(opt))
    assert got.objective == pytest.approx(ex.objective, rel=1e-9)


def test_swap_values_equal_recomputed_costs():
    from geoequity.siting.heuristics import pmedian_swap_values

    costs, w, cands, ex, _ = _instance(31, n=40, m=9)
    inst = build_instance(costs, w, cands, existing=ex)
    M = inst.max_cost
    is_open = np.zeros(inst.m, bool)
    is_open[[1, 4, 6]] = True
    j_in, l_out, val = pmedian_swap_values(inst, is_open, unreached_cost=M)
    assert len(val) == 6 * 3
    f = np.minimum(inst.nearest_existing(), M)
    for j, out, v in zip(j_in, l_out, val, strict=True):
        s = is_open.copy()
        s[j], s[out] = True, False
        d = f.copy()
        np.minimum.at(d, inst.ci[s[inst.cj]], inst.cc[s[inst.cj]])
        assert v == pytest.approx(float(inst.w @ d), rel=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_seat_bound_proves_short_seat_instances(seed, monkeypatch):
    """Seats far short of the children: the enumeration's seat bound (seat the children who
    save most) is a valid lower bound and proves the brute-force optimum at once."""
    from geoequity.siting import core
    from geoequity.siting._instance import build_instance

    monkeypatch.setattr(core, "_FLOW_PAIRS", 0)   # force the enumeration path
    rng = np.random.default_rng(seed)
    n, m, p = 12, 11, 4
    C = rng.integers(1, 6, (n, m))
    d, c = [f"d{i}" for i in range(n)], [f"c{j}" for j in range(m)]
    costs = pd.DataFrame([(d[i], c[j], float(C[i, j])) for i in range(n) for j in range(m)],
                         columns=["origin", "destination", "cost"])
    w = pd.Series(rng.integers(1, 10, n).astype(float), index=d)
    caps = pd.Series(rng.integers(0, 4, m).astype(float), index=c)
    M = float(C.max())
    brute = min(_min_cost_flow(costs, w, list(s), caps, M, np.inf)
                for s in itertools.combinations(c, p))
    inst = build_instance(costs, w, caps, capacities=caps)
    assert core._seat_bound(inst, p, M) <= brute + 1e-9
    r = site_schools(costs, w, caps, problem="pmedian", p=p, capacities=caps, solver="exact",
                     unreached_cost=M, time_limit=30)
    assert r.status == "optimal" and r.objective == pytest.approx(brute)
    assert r.solver.startswith("highs-radius")
