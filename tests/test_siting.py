"""Siting: hand-computed cases, brute-force enumeration (networkx flows as the independent
assignment solver), heuristic bounds, candidate generation, input errors and the CLI."""

from __future__ import annotations

import itertools
import json

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from geoequity._errors import InputError
from geoequity.siting import generate_candidates, site_schools

# ---------------------------------------------------------------- a line of ten cells
# demand d0..d9 at x = 0..9 (one child each), candidates c0..c9 at the same x, cost |x - y|.
LINE_D = [f"d{i}" for i in range(10)]
LINE_C = [f"c{j}" for j in range(10)]


def line_costs(existing_x=()):
    rows = [(f"d{i}", f"c{j}", float(abs(i - j))) for i in range(10) for j in range(10)]
    rows += [(f"d{i}", f"e{k}", float(abs(i - x))) for i in range(10)
             for k, x in enumerate(existing_x)]
    return pd.DataFrame(rows, columns=["origin", "destination", "cost"])


ONES = pd.Series(1.0, index=LINE_D)


def test_pmedian_line_by_hand():
    # p=2: sites at 2 and 7 serve 0..4 and 5..9 at 2+1+0+1+2 each: 12, the unique optimum
    r = site_schools(line_costs(), ONES, LINE_C, problem="pmedian", p=2, solver="exact")
    assert r.objective == pytest.approx(12.0)
    assert set(r.chosen) == {"c2", "c7"}
    assert r.status == "optimal" and r.gap == pytest.approx(0.0, abs=1e-9)
    # marginal gains: before, nobody is served (each child pays the table's cut-off, 9);
    # the first site ranked saves more than the second, and the gains add up
    assert r.sites["rank"].tolist() == [1, 2]
    assert r.sites["travel_saved"].sum() == pytest.approx(90.0 - 12.0)
    assert r.sites["children_assigned"].tolist() == [5.0, 5.0]


def test_pmedian_keeps_existing_school_open():
    # existing school at x=0; one new site. Sum_i min(i, |i-c|): c=6 -> 15, c=7 -> 15 (tie),
    # c=5 -> 16, c=8 -> 16
    r = site_schools(line_costs([0]), ONES, LINE_C, problem="pmedian", p=1, existing=["e0"])
    assert r.objective == pytest.approx(15.0)
    assert r.chosen[0] in {"c6", "c7"}
    a = r.assignment.set_index("origin")
    assert a.loc["d0", "destination"] == "e0" and a.loc["d9", "destination"] == r.chosen[0]


def test_mclp_line_by_hand():
    # threshold 2 covers 5 cells around a site; existing school at 0 already covers d0..d2
    w = pd.Series([1, 1, 1, 1, 1, 1, 1, 1, 5, 1], index=LINE_D, dtype=float)
    r = site_schools(line_costs([0]), w, LINE_C, problem="mclp", p=1, threshold=2,
                     existing=["e0"])
    # best new site covers d5..d9 = 1+1+1+5+1 = 9 (c7) or d4..d8 = 9 (c6) or d6..d9 at c8 = 8
    assert r.objective == pytest.approx(3 + 9)
    assert r.chosen[0] in {"c6", "c7"}
    assert r.sites.loc[0, "children_newly_covered"] == pytest.approx(9.0)
    ba = r.before_after.set_index("district").loc["total"]
    assert ba["covered_before"] == pytest.approx(3.0)
    assert ba["covered_after"] == pytest.approx(12.0)


def test_lscp_and_pcenter_by_hand():
    r = site_schools(line_costs(), ONES, LINE_C, problem="lscp", threshold=1)
    assert r.objective == 4  # ceil(10 / 3)
    r = site_schools(line_costs([0]), ONES, LINE_C, problem="lscp", threshold=1,
                     existing=["e0"])
    assert r.objective == 3  # e0 covers d0, d1; 8 cells left -> ceil(8 / 3)
    r = site_schools(line_costs(), ONES, LINE_C, problem="pcenter", p=2)
    assert r.objective == pytest.approx(2.0)
    assert set(r.chosen) == {"c2", "c7"}  # least travel among the radius-2 pairs
    r = site_schools(line_costs(), ONES, LINE_C, problem="pcenter", p=1)
    assert r.objective == pytest.approx(5.0)  # c4 or c5: farthest child 5 away


def test_gap_by_hand_with_sizes():
    # existing school at 0 with 2 seats; threshold 1 -> each new site reaches 3 cells
    seats = pd.Series({"e0": 2.0})
    r = site_schools(line_costs([0]), ONES, pd.Series(3.0, index=LINE_C), problem="gap", p=2,
                     threshold=1, existing=seats)
    assert r.objective == pytest.approx(2.0, abs=1e-6)   # 10 - 2 - 3 - 3
    assert r.sites["seats_gap_closed"].sum() == pytest.approx(6.0, abs=1e-6)
    # threshold 2: each site reaches 5 cells; sizes 2 or 4 -> 2 + 4 + 4 = 10, nobody unmet
    r = site_schools(line_costs([0]), ONES, LINE_C, problem="gap", p=2, threshold=2,
                     existing=seats, sizes=[2, 4])
    assert r.objective == pytest.approx(0.0, abs=1e-6)
    assert sorted(r.sites["size"]) == [4.0, 4.0]
    ba = r.before_after.set_index("district").loc["total"]
    assert ba["unmet_before"] == pytest.approx(8.0) and ba["unmet_after"] == pytest.approx(0.0)


# ---------------------------------------------------------------- brute force on random data

def random_instance(seed, n=25, m=7, q=2, radius=55.0):
    rng = np.random.default_rng(seed)
    d = rng.integers(0, 100, size=(n, 2))
    c = rng.integers(0, 100, size=(m, 2))
    e = rng.integers(0, 100, size=(q, 2))
    w = pd.Series(rng.integers(0, 20, size=n).astype(float), index=[f"d{i}" for i in range(n)])
    rows = []
    for i in range(n):
        for k, pt in enumerate(c):
            rows.append((f"d{i}", f"c{k}", float(np.rint(np.hypot(*(d[i] - pt))))))
        for k, pt in enumerate(e):
            rows.append((f"d{i}", f"e{k}", float(np.rint(np.hypot(*(d[i] - pt))))))
    costs = pd.DataFrame(rows, columns=["origin", "destination", "cost"])
    costs = costs[costs["cost"] <= radius].reset_index(drop=True)
    return costs, w, [f"c{k}" for k in range(m)], [f"e{k}" for k in range(q)]


def _cost_dict(costs):
    return {(o, d): c for o, d, c in costs.itertuples(index=False)}


def test_pmedian_and_pcenter_match_enumeration():
    costs, w, cands, ex = random_instance(1)
    C = _cost_dict(costs)
    M = costs["cost"].max()
    best_med, best_ctr = np.inf, np.inf
    reach = {i for i, _ in C}
    for combo in itertools.combinations(cands, 2):
        open_ = list(combo) + ex
        tot, worst = 0.0, 0.0
        for i in w.index:
            if w[i] == 0 or i not in reach:
                continue
            d = min([C[(i, s)] for s in open_ if (i, s) in C] + [M])
            tot += w[i] * d
            worst = max(worst, min([C[(i, s)] for s in open_ if (i, s) in C] + [np.inf]))
        best_med, best_ctr = min(best_med, tot), min(best_ctr, worst)
    r = site_schools(costs, w, cands, problem="pmedian", p=2, existing=ex)
    assert r.objective == pytest.approx(best_med)
    r = site_schools(costs, w, cands, problem="pcenter", p=2, existing=ex)
    assert r.objective == pytest.approx(best_ctr)


def _max_served(costs, w, open_, seats, threshold):
    g = nx.DiGraph()
    for i, wi in w.items():
        g.add_edge("s", i, capacity=wi)
    for o, d, c in costs.itertuples(index=False):
        if d in open_ and c <= threshold:
            g.add_edge(o, d, capacity=float("inf"))
    for s in open_:
        g.add_edge(s, "t", capacity=seats[s])
    if "t" not in g:
        return 0.0
    return nx.maximum_flow_value(g, "s", "t")


def test_gap_matches_enumeration_with_networkx_max_flow():
    costs, w, cands, ex = random_instance(2, n=30, m=6)
    seats = {**{c: 25.0 + 10 * k for k, c in enumerate(cands)}, "e0": 40.0, "e1": 15.0}
    T = 40.0
    best = min(w.sum() - _max_served(costs, w, list(combo) + ex, seats, T)
               for combo in itertools.combinations(cands, 2))
    r = site_schools(costs, w, pd.Series({c: seats[c] for c in cands}), problem="gap", p=2,
                     threshold=T, existing=pd.Series({e: seats[e] for e in ex}))
    reach_none = w[r.unreachable].sum()   # children no school reaches are outside the model
    assert r.objective + reach_none == pytest.approx(best, abs=1e-4)
    assert r.status == "optimal"


def test_capacitated_pmedian_matches_networkx_min_cost_flow():
    costs, w, cands, ex = random_instance(3, n=20, m=5, radius=200.0)
    seats = {**{c: 40.0 for c in cands}, "e0": 30.0, "e1": 30.0}
    M = int(costs["cost"].max())
    best = np.inf
    for combo in itertools.combinations(cands, 2):
        g = nx.DiGraph()
        open_ = list(combo) + ex
        for i, wi in w.items():
            g.add_node(i, demand=-int(wi))
            g.add_edge(i, "t", weight=M)               # unmet child pays M
        for o, d, c in costs.itertuples(index=False):
            if d in open_:
                g.add_edge(o, d, weight=int(c))
        for s in open_:
            g.add_edge(s, "t", capacity=int(seats[s]), weight=0)
        g.add_node("t", demand=int(w.sum()))
        best = min(best, nx.min_cost_flow_cost(g))
    r = site_schools(costs, w, pd.Series({c: seats[c] for c in cands}), problem="pmedian",
                     p=2, existing=pd.Series({e: seats[e] for e in ex}), capacitated=True)
    assert r.objective == pytest.approx(best, rel=1e-6)


def test_mclp_lscp_match_enumeration():
    costs, w, cands, ex = random_instance(4, n=30, m=8)
    C = _cost_dict(costs)
    T = 30.0

    def covered(open_):
        return {i for i in w.index if w[i] > 0 and any(C.get((i, s), np.inf) <= T
                                                        for s in open_)}
    best = max(w[list(covered(list(cb) + ex))].sum() for cb in itertools.combinations(cands, 3))
    r = site_schools(costs, w, cands, problem="mclp", p=3, threshold=T, existing=ex)
    assert r.objective == pytest.approx(best)
    coverable = covered(cands + ex)
    fewest = next(k for k in range(len(cands) + 1) for cb in itertools.combinations(cands, k)
                  if covered(list(cb) + ex) == coverable)
    r = site_schools(costs, w, cands, problem="lscp", threshold=T, existing=ex)
    assert r.objective == fewest
    assert len(r.uncoverable) == len({i for i in w.index if w[i] > 0} - coverable
                                     - set(r.unreachable))


# ---------------------------------------------------------------- heuristic vs exact

def grid_instance(n=600, m=60, seed=5):
    rng = np.random.default_rng(seed)
    d = rng.uniform(0, 5000, size=(n, 2))
    c = rng.uniform(0, 5000, size=(m, 2))
    w = pd.Series(rng.poisson(30, size=n).astype(float), index=np.arange(n))
    D = np.hypot(d[:, None, 0] - c[None, :, 0], d[:, None, 1] - c[None, :, 1])
    costs = pd.DataFrame({"origin": np.repeat(np.arange(n), m),
                          "destination": np.tile([f"c{k}" for k in range(m)], n),
                          "cost": D.ravel()})
    return costs, w, [f"c{k}" for k in range(m)]


def test_heuristic_bounds_bracket_the_exact_optimum():
    costs, w, cands = grid_instance()
    ex = site_schools(costs, w, cands, problem="pmedian", p=6, solver="exact")
    he = site_schools(costs, w, cands, problem="pmedian", p=6, solver="heuristic")
    assert he.bound <= ex.objective * (1 + 1e-9)
    assert ex.objective <= he.objective * (1 + 1e-9)
    assert he.gap == pytest.approx((he.objective - he.bound) / he.objective)
    assert he.gap < 0.05
    ex = site_schools(costs, w, cands, problem="mclp", p=4, threshold=900, solver="exact")
    he = site_schools(costs, w, cands, problem="mclp", p=4, threshold=900, solver="heuristic")
    assert he.objective <= ex.objective + 1e-6 <= he.bound + 2e-6


# ---------------------------------------------------------------- candidates

def test_generate_candidates_spacing_and_priority(tmp_path):
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 3000, size=(400, 2))
    dem = gpd.GeoDataFrame({"children": rng.poisson(10, 400).astype(float)},
                           geometry=gpd.points_from_xy(pts[:, 0], pts[:, 1]), crs=32722)
    under = pd.Series(pts[:, 0] < 1500, index=dem.index)
    cand = generate_candidates(dem, min_spacing=400, underserved=under)
    xy = np.c_[cand.geometry.x, cand.geometry.y]
    dist = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(dist, np.inf)
    assert dist.min() >= 400
    assert (xy[:, 0] < 1500).all()                      # only underserved cells
    # priority = children of underserved cells within 400 m (recomputed by brute force)
    k = 0
    near = np.hypot(pts[:, 0] - xy[k, 0], pts[:, 1] - xy[k, 1]) <= 400
    assert cand["priority"].iloc[k] == pytest.approx(dem["children"][near & under].sum())
    assert cand["priority"].is_monotonic_decreasing
    grid = generate_candidates(dem, min_spacing=500, method="grid", max_candidates=5)
    assert len(grid) == 5
    grid.to_file(tmp_path / "cands.gpkg")   # the id is a column, the index unnamed
    assert gpd.read_file(tmp_path / "cands.gpkg")["candidate"].tolist() == list(grid.index)
    with pytest.raises(InputError):
        generate_candidates(dem.to_crs(4326), min_spacing=400)


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("kwargs, match", [
    ({"problem": "mclp", "p": 2}, "threshold"),
    ({"problem": "pmedian"}, "p >= 1"),
    ({"problem": "pmedian", "p": 20}, "more than"),
    ({"problem": "nope", "p": 1}, "unknown problem"),
    ({"problem": "gap", "p": 1, "threshold": 2, "existing": ["c1"]}, "both candidates"),
])
def test_bad_input_is_named(kwargs, match):
    with pytest.raises(InputError, match=match):
        site_schools(line_costs(), ONES, LINE_C, **kwargs)


def test_candidates_missing_from_the_cost_table_are_refused():
    only_existing = line_costs(existing_x=(0, 9))
    only_existing = only_existing[only_existing.destination.str.startswith("e")]
    with pytest.raises(InputError, match="none of the 10 candidates has a row in the cost"):
        site_schools(only_existing, ONES, LINE_C, problem="mclp", p=1, threshold=2,
                     existing=pd.Series(100.0, index=["e0", "e1"]))


def test_bad_demand_and_duplicates():
    with pytest.raises(InputError, match="negative"):
        site_schools(line_costs(), ONES * -1, LINE_C, problem="pmedian", p=1)
    with pytest.raises(InputError, match="duplicate"):
        site_schools(line_costs(), ONES, LINE_C + ["c1"], problem="pmedian", p=1)


def test_zero_and_unreached_demand_are_reported():
    w = ONES.copy()
    w["d3"] = 0.0
    w["zz"] = 4.0                     # not in the cost table at all
    r = site_schools(line_costs(), w, LINE_C, problem="mclp", p=1, threshold=1)
    assert r.unreachable == ["zz"]
    assert any("0 children" in n for n in r.notes)


# ---------------------------------------------------------------- CLI

def test_cli_json_and_outputs(tmp_path, capsys):
    from geoequity.cli import main

    lon = -51.2 + np.arange(10) * 0.001          # about 96 m apart along a parallel
    pd.DataFrame({"id": LINE_D, "lon": lon, "lat": -30.03, "kids": 1.0}).to_csv(
        tmp_path / "d.csv", index=False)
    pd.DataFrame({"id": LINE_C, "lon": lon, "lat": -30.03}).to_csv(tmp_path / "c.csv",
                                                                   index=False)
    out = tmp_path / "sites.csv"
    code = main(["-q", "site", "--demand", str(tmp_path / "d.csv"), "--demand-id", "id",
                 "--demand-col", "kids", "--candidates", str(tmp_path / "c.csv"),
                 "--candidate-id", "id", "--euclidean", "--problem", "pmedian", "--p", "2",
                 "--json", "-o", str(out), "--before-after", str(tmp_path / "ba.csv")])
    assert code == 0
    got = json.loads(capsys.readouterr().out)
    assert set(got["chosen"]) == {"c2", "c7"}
    assert got["status"] == "optimal" and got["gap"] == pytest.approx(0, abs=1e-9)
    assert {"objective", "chosen", "status", "gap"} <= set(got)
    sites = pd.read_csv(out)
    assert sites["rank"].tolist() == [1, 2]
    assert pd.read_csv(tmp_path / "ba.csv")["district"].tolist() == ["total"]
    # bad column: one line, exit 2
    code = main(["site", "--demand", str(tmp_path / "d.csv"), "--demand-id", "id",
                 "--demand-col", "nope", "--candidates", str(tmp_path / "c.csv"),
                 "--candidate-id", "id", "--euclidean", "--problem", "pmedian", "--p", "2",
                 "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("geoequity: error:") and "nope" in err[-1]


def test_heuristic_capacitated_pmedian_with_unit_unreached_cost():
    """Costs in hours (largest 1.0): the capacitated p-median is still travel + M * unmet,
    not the gap problem's unmet count (found by randomised checks against brute force)."""
    costs = pd.DataFrame({"origin": ["a", "b"], "destination": ["c1", "c1"],
                          "cost": [0.5, 0.5]})
    demand = pd.Series({"a": 3.0, "b": 1.0})
    for solver in ("exact", "heuristic"):
        r = site_schools(costs, demand, ["c1", "c2"], problem="pmedian", p=1, capacities=10,
                         unreached_cost=1.0, solver=solver)
        assert r.objective == pytest.approx(2.0), solver   # 4 children at 0.5 h


def test_summary_says_when_children_are_left_out_of_the_model():
    # candidates c0..c4 only (at x = 0..4), threshold 1: d0..d5 can be covered, d6..d9 lie 2 or
    # more from every candidate (uncoverable, 4 children); d10 (4 children) is in no cost row
    # (unreachable); c1 covers d0..d2 and c4 covers d3..d5: 2 sites
    costs = line_costs()
    costs = costs.loc[costs["destination"].isin([f"c{j}" for j in range(5)])]
    w = pd.concat([ONES, pd.Series([4.0], index=["d10"])])
    r = site_schools(costs, w, [f"c{j}" for j in range(5)], problem="lscp", threshold=1)
    s = r.summary()
    assert r.objective == 2 and s["status"] == "optimal"   # d0..d5 covered by c1 and c4
    assert s["complete"] is False
    assert s["children_uncoverable"] == pytest.approx(4.0)
    assert s["children_unreachable"] == pytest.approx(4.0)
    full = site_schools(line_costs(), ONES, LINE_C, problem="lscp", threshold=1).summary()
    assert full["complete"] is True and full["children_uncoverable"] == 0.0
