"""Equity objectives of siting (max-min seats per child, min-max share beyond, least Theil):
hand-computed instances where they part from the efficiency optima, brute-force enumeration
with an evaluator written here (not the package's), the trade-off table by hand, API/CLI
parity and bad input."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from geoequity._errors import InputError
from geoequity.siting import site_schools

# ------------------------------------------------------------------ instance A (seats)
# A line: demand d0 at x=0 (100 children, district A), d1 at x=10 and d2 at x=11 (20 each,
# district B). Existing school e at x=5 (district A, 50 seats); candidates c0 at x=0 (A) and
# c1 at x=10 (B), 100 seats each; cost |x - y|; p = 1; threshold 5.5.
A_X = {"d0": 0, "d1": 10, "d2": 11}
A_W = pd.Series({"d0": 100.0, "d1": 20.0, "d2": 20.0})
A_F = {"c0": 0, "c1": 10, "e": 5}
A_DIST = pd.Series({"d0": "A", "d1": "B", "d2": "B"})
A_SITE = pd.Series({"c0": "A", "c1": "B", "e": "A"})
A_SEATS = {"c0": 100.0, "c1": 100.0, "e": 50.0}


def line_costs(xs, fac):
    return pd.DataFrame([(d, f, float(abs(x - y))) for d, x in xs.items()
                         for f, y in fac.items()], columns=["origin", "destination", "cost"])


def a_site(problem, **kw):
    return site_schools(line_costs(A_X, A_F), A_W, ["c0", "c1"], problem=problem, p=1,
                        threshold=5.5, existing=pd.Series({"e": 50.0}), capacities=100.0,
                        districts=A_DIST, site_districts=A_SITE, solver="exact", **kw)


# ------------------------------------------------------- an evaluator independent of the code
def nearest(xs, fac, open_sites):
    return {d: min(abs(x - fac[f]) for f in open_sites) for d, x in xs.items()}


def seats_per_child(w, dist, site_dist, seats, open_sites):
    out = {}
    for d in sorted(set(dist)):
        kids = sum(w[i] for i in w.index if dist[i] == d)
        s = sum(seats[f] for f in open_sites if site_dist[f] == d)
        out[d] = s / kids
    return out


def share_beyond(w, dist, near, T):
    out = {}
    for d in sorted(set(dist)):
        ids = [i for i in w.index if dist[i] == d]
        out[d] = sum(w[i] for i in ids if near.get(i, np.inf) > T) / sum(w[i] for i in ids)
    return out


def theil_t(y, w):
    """Theil T written out: sum_i (w_i / W) (y_i / mu) ln(y_i / mu), 0 ln 0 = 0."""
    y, w = np.asarray(y, float), np.asarray(w, float)
    mu = (w * y).sum() / w.sum()
    if mu == 0:
        return np.inf      # nobody has access: undefined, never the best
    r = y / mu
    return float(((w / w.sum()) * np.where(r > 0, r * np.log(np.where(r > 0, r, 1)), 0)).sum())


def two_sfca(costs, w, seats, open_sites, T):
    """2SFCA by its definition (Luo & Wang 2003), no school within T -> 0."""
    c = costs[costs["cost"] <= T]
    acc = pd.Series(0.0, index=w.index)
    for f in open_sites:
        mine = c[c["destination"] == f]
        if len(mine):
            r = seats[f] / w.reindex(mine["origin"]).sum()
            acc[mine["origin"].to_numpy()] += r
    return acc


# ------------------------------------------------------------------------------ tests

def test_maxmin_seats_per_child_parts_from_pmedian_by_hand():
    # p-median: c0 costs 100*0 + 20*5 + 20*6 = 220 (d1, d2 go to e); c1 costs 100*5 + 0 + 20*1
    # = 520. Seats per child: c0 gives A 150/100 = 1.5 and B 0/40 = 0 (worst 0); c1 gives
    # A 50/100 = 0.5 and B 100/40 = 2.5 (worst 0.5). So p-median opens c0, max-min c1.
    pm = a_site("pmedian", capacitated=False)   # uncapacitated, as in the trade-off table
    assert pm.chosen == ["c0"] and pm.objective == pytest.approx(220.0)
    r = a_site("maxmin_seats_per_child")
    assert r.chosen == ["c1"]
    assert r.objective == pytest.approx(0.5) and r.status == "optimal"
    assert r.gap == pytest.approx(0.0, abs=1e-9)
    # brute force over every site set with the evaluator above
    best = max((min(seats_per_child(A_W, A_DIST, A_SITE, A_SEATS, {c, "e"}).values()), c)
               for c in ("c0", "c1"))
    assert best == (pytest.approx(0.5), "c1")


def test_tradeoff_table_by_hand():
    # threshold 5.5. c1 open: d0 -> e (5), d1 -> c1 (0), d2 -> c1 (1): nobody beyond; seats
    # within 5.5: d0 gets e's 50 (c1 is 10 away), d1 + d2 get 40 of c1's 100 -> 50 without a
    # seat. c0 open: d0 -> c0 (100 seats), d1 -> e (5, 20 of its 50 seats), d2 is 6 from e and
    # 11 from c0: beyond, 20 without a seat; B's share beyond 20/40 = 0.5.
    r = a_site("maxmin_seats_per_child")
    t = r.tradeoffs
    assert t.index.tolist() == ["maxmin_seats_per_child", "pmedian", "gap", "mclp"]
    assert t["role"].tolist() == ["equity", "efficiency", "efficiency", "efficiency"]
    assert t["chosen"].tolist() == ["c1", "c0", "c0", "c1"]
    assert t["total_travel"].tolist() == pytest.approx([520, 220, 220, 520])
    assert t["total_shortfall"].tolist() == pytest.approx([50, 20, 20, 50])
    assert t["children_beyond"].tolist() == pytest.approx([0, 20, 20, 0])
    assert t["worst_seats_per_child"].tolist() == pytest.approx([0.5, 0, 0, 0.5])
    assert t["worst_seats_district"].tolist() == ["A", "B", "B", "A"]
    assert t["worst_share_beyond"].tolist() == pytest.approx([0, 0.5, 0.5, 0])
    assert t.loc["pmedian", "worst_share_district"] == "B"
    # Theil T of 2SFCA access by hand. c0: R_e = 50/120 (d0, d1 within 5.5), R_c0 = 100/100;
    # access (17/12, 5/12, 0). c1: R_c1 = 100/40; access (5/12, 35/12, 30/12).
    w = [100, 20, 20]
    assert t.loc["pmedian", "theil_access"] == pytest.approx(theil_t([17 / 12, 5 / 12, 0], w))
    assert t.loc["pmedian", "theil_access"] == pytest.approx(0.2113263, abs=1e-6)
    assert t.loc["maxmin_seats_per_child", "theil_access"] == pytest.approx(
        theil_t([5 / 12, 35 / 12, 30 / 12], w))
    away = r.traded_away()
    assert away.loc["pmedian", "total_travel"] == pytest.approx(300.0)
    assert away.loc["pmedian", "total_shortfall"] == pytest.approx(30.0)
    assert away.loc["pmedian", "children_beyond"] == pytest.approx(-20.0)
    assert away.loc["pmedian", "worst_seats_per_child"] == pytest.approx(0.5)
    assert away.loc["mclp", "total_travel"] == pytest.approx(0.0)
    s = r.summary()
    assert [row["problem"] for row in s["tradeoffs"]] == t.index.tolist()
    assert s["traded_away"]["pmedian"]["total_travel"] == pytest.approx(300.0)
    # efficiency problems carry no trade-off table
    assert a_site("pmedian").tradeoffs is None and "tradeoffs" not in a_site("gap").summary()



def test_reference_optimum_without_sites_in_time_leaves_its_row_empty(monkeypatch):
    # A reference solve that stops at its time limit with no incumbent must not be measured
    # as "no new school" (travel and shortfall of the existing schools alone).
    import geoequity.siting.core as core
    from geoequity.siting.models import Solution

    real = core._solve

    def slow_gap(inst, problem, **kw):
        if problem == "gap":
            return Solution(np.array([], int), np.nan, np.nan, "time_limit"), "highs"
        return real(inst, problem, **kw)

    monkeypatch.setattr(core, "_solve", slow_gap)
    t = a_site("maxmin_seats_per_child").tradeoffs
    assert t.loc["gap", "status"] == "time_limit" and t.loc["gap", "chosen"] == ""
    assert t.loc["gap", ["total_travel", "total_shortfall", "children_beyond"]].isna().all()
    assert t.loc["pmedian", "total_travel"] == pytest.approx(220)   # the others still measured

# ------------------------------------------------------- instance B (share beyond)
# District A: a0 at x=0 (60 children, within T=1 of the existing school e at x=0) and a1 at
# x=3 (40). District B: b0 at x=10 (10). Candidates c0 at x=3, c1 at x=10; p = 1.
B_X = {"a0": 0, "a1": 3, "b0": 10}
B_W = pd.Series({"a0": 60.0, "a1": 40.0, "b0": 10.0})
B_F = {"c0": 3, "c1": 10, "e": 0}
B_DIST = pd.Series({"a0": "A", "a1": "A", "b0": "B"})


def test_minmax_share_beyond_parts_from_mclp_and_pmedian_by_hand():
    # c0: A nobody beyond, B 10/10 = 1.0; c1: A 40/100 = 0.4, B 0 -> min-max opens c1.
    # MCLP: c0 covers 100, c1 covers 70 -> c0. p-median: c0 costs 10*7 = 70, c1 costs
    # 40*3 = 120 -> c0.
    costs = line_costs(B_X, B_F)
    kw = {"p": 1, "threshold": 1.0, "existing": ["e"], "districts": B_DIST, "solver": "exact"}
    r = site_schools(costs, B_W, ["c0", "c1"], problem="minmax_share_beyond", **kw)
    assert r.chosen == ["c1"] and r.objective == pytest.approx(0.4) and r.status == "optimal"
    assert site_schools(costs, B_W, ["c0", "c1"], problem="mclp", **kw).chosen == ["c0"]
    t = r.tradeoffs
    assert t.index.tolist() == ["minmax_share_beyond", "pmedian", "mclp"]  # no seats: no gap
    assert t["total_travel"].tolist() == pytest.approx([120, 70, 70])
    assert t["children_beyond"].tolist() == pytest.approx([40, 10, 10])
    assert t["worst_share_beyond"].tolist() == pytest.approx([0.4, 1.0, 1.0])
    assert t["worst_share_district"].tolist() == ["A", "B", "B"]
    assert t["total_shortfall"].isna().all() and t["theil_access"].isna().all()
    best = min((max(share_beyond(B_W, B_DIST, nearest(B_X, B_F, {c, "e"}), 1.0).values()), c)
               for c in ("c0", "c1"))
    assert best == (pytest.approx(0.4), "c1")


def test_minmax_second_stage_takes_the_most_coverage():
    # District B's b0 (x=10) is beyond every site but c1: with p = 2 every set holding c1
    # has worst share 0.4 or better; among {c0, c1} (A: 0, B: 0) and {c1, c2} the min-max is
    # 0 only with c0 and c1 both open.
    fac = {**B_F, "c2": 20}
    costs = line_costs(B_X, fac)
    r = site_schools(costs, B_W, ["c0", "c1", "c2"], problem="minmax_share_beyond", p=2,
                     threshold=1.0, existing=["e"], districts=B_DIST, solver="exact")
    assert sorted(r.chosen) == ["c0", "c1"] and r.objective == pytest.approx(0.0)


def _random_instance(seed, n=9, m=5, nd=3):
    rng = np.random.default_rng(seed)
    dx = rng.uniform(0, 10, n)
    fx = rng.uniform(0, 10, m + 1)          # the last is the existing school
    ids = [f"d{i}" for i in range(n)]
    fac = {f"c{j}": fx[j] for j in range(m)} | {"e": fx[m]}
    xs = dict(zip(ids, dx, strict=True))
    w = pd.Series(rng.integers(5, 60, n).astype(float), index=ids)
    dist = pd.Series([f"D{int(x * nd / 10)}" for x in dx], index=ids)
    site_dist = pd.Series({f: f"D{min(int(x * nd / 10), nd - 1)}" for f, x in fac.items()})
    seats = {f: float(s) for f, s in zip(fac, rng.integers(20, 150, m + 1), strict=True)}
    return xs, fac, w, dist, site_dist, seats


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 48])
def test_equity_objectives_equal_brute_force(seed):
    xs, fac, w, dist, site_dist, seats = _random_instance(seed)
    costs = line_costs(xs, fac)
    cands = [f for f in fac if f != "e"]
    cap = pd.Series({c: seats[c] for c in cands})
    T, p = 2.0, 2
    kw = {"p": p, "threshold": T, "existing": pd.Series({"e": seats["e"]}), "capacities": cap,
          "districts": dist, "site_districts": site_dist, "solver": "exact"}
    sets = [set(s) for s in itertools.combinations(cands, p)]

    def worst_seats(s):
        return min(seats_per_child(w, dist, site_dist, seats, s | {"e"}).values())

    def worst_share(s):
        return max(share_beyond(w, dist, nearest(xs, fac, s | {"e"}), T).values())

    def theil_of(s):
        return theil_t(two_sfca(costs, w, seats, s | {"e"}, T).to_numpy(), w.to_numpy())

    r = site_schools(costs, w, cands, problem="maxmin_seats_per_child", **kw)
    assert r.objective == pytest.approx(max(worst_seats(s) for s in sets))
    assert worst_seats(set(r.chosen)) == pytest.approx(r.objective)
    # among the max-min sets, the least travel
    top = [s for s in sets if worst_seats(s) >= r.objective - 1e-9]
    travel = {frozenset(s): sum(w[d] * v for d, v in nearest(xs, fac, s | {"e"}).items())
              for s in top}
    assert travel[frozenset(r.chosen)] == pytest.approx(min(travel.values()))
    r = site_schools(costs, w, cands, problem="minmax_share_beyond", **kw)
    assert r.objective == pytest.approx(min(worst_share(s) for s in sets))
    r = site_schools(costs, w, cands, problem="min_theil", **kw)
    assert r.objective == pytest.approx(min(theil_of(s) for s in sets))
    assert r.objective == pytest.approx(theil_of(set(r.chosen)))
    assert r.status == "heuristic"


def test_worst_district_without_candidates_is_said():
    # district C (d9 alone, no candidate, no school) stays at 0 seats per child whatever is
    # built: every set ties, so the sites are the least-travel ones, and a note says why
    xs = {**A_X, "d9": 30}
    w = pd.concat([A_W, pd.Series({"d9": 5.0})])
    dist = pd.concat([A_DIST, pd.Series({"d9": "C"})])
    r = site_schools(line_costs(xs, A_F), w, ["c0", "c1"], problem="maxmin_seats_per_child",
                     p=1, existing=pd.Series({"e": 50.0}), capacities=100.0, districts=dist,
                     site_districts=A_SITE)
    assert r.objective == pytest.approx(0.0)
    # travel: c0 = 220 + 5 * 25 (e) = 345; c1 = 520 + 5 * 20 = 620 -> c0
    assert r.chosen == ["c0"]
    assert any("'C'" in n and "no candidate" in n for n in r.notes)


def test_equity_objectives_refuse_missing_inputs():
    costs = line_costs(A_X, A_F)
    with pytest.raises(InputError, match="districts"):
        site_schools(costs, A_W, ["c0", "c1"], problem="maxmin_seats_per_child", p=1,
                     existing=pd.Series({"e": 50.0}), capacities=100.0)
    with pytest.raises(InputError, match="threshold"):
        site_schools(costs, A_W, ["c0", "c1"], problem="min_theil", p=1,
                     existing=pd.Series({"e": 50.0}), capacities=100.0)
    with pytest.raises(InputError, match="seats"):
        site_schools(costs, A_W, ["c0", "c1"], problem="min_theil", p=1, threshold=5.5,
                     existing=["e"])
    with pytest.raises(InputError, match="site_districts"):
        site_schools(costs, A_W, ["c0", "c1"], problem="maxmin_seats_per_child", p=1,
                     existing=pd.Series({"e": 50.0}), capacities=100.0, districts=A_DIST)


# ----------------------------------------------------------------------------- CLI

def _cli_files(tmp_path):
    lon = {k: 120.0 + x * 0.001 for k, x in {**A_X, **A_F}.items()}
    pd.DataFrame({"id": list(A_X), "lon": [lon[k] for k in A_X], "lat": 30.0,
                  "kids": A_W.to_numpy()}).to_csv(tmp_path / "d.csv", index=False)
    pd.DataFrame({"id": ["c0", "c1"], "lon": [lon["c0"], lon["c1"]], "lat": 30.0}).to_csv(
        tmp_path / "c.csv", index=False)
    pd.DataFrame({"id": ["e"], "lon": [lon["e"]], "lat": 30.0, "seats": [50.0]}).to_csv(
        tmp_path / "e.csv", index=False)
    line_costs(A_X, A_F).to_csv(tmp_path / "costs.csv", index=False)
    # district A west of x = 7.5, B east of it
    cut = 120.0075
    gj = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": n}, "geometry": {
            "type": "Polygon", "coordinates": [[[a, 29.9], [b, 29.9], [b, 30.1], [a, 30.1],
                                                [a, 29.9]]]}}
        for n, a, b in (("A", 119.9, cut), ("B", cut, 120.1))]}
    (tmp_path / "dist.geojson").write_text(json.dumps(gj))


def _cli_args(tmp_path, problem):
    return ["-q", "site", "--demand", str(tmp_path / "d.csv"), "--demand-id", "id",
            "--demand-col", "kids", "--candidates", str(tmp_path / "c.csv"), "--candidate-id",
            "id", "--costs", str(tmp_path / "costs.csv"), "--existing", str(tmp_path / "e.csv"),
            "--existing-id", "id", "--existing-seats", "seats", "--capacity", "100",
            "--problem", problem, "--p", "1", "--threshold", "5.5", "--solver", "exact"]


@pytest.mark.parametrize("problem", ["maxmin_seats_per_child", "minmax_share_beyond",
                                     "min_theil"])
def test_cli_equals_api(tmp_path, capsys, problem):
    from geoequity.cli import main

    _cli_files(tmp_path)
    out, trade = tmp_path / "sites.csv", tmp_path / "trade.csv"
    code = main(_cli_args(tmp_path, problem) + [
        "--districts", str(tmp_path / "dist.geojson"), "--district-col", "name", "--json",
        "--tradeoffs", str(trade), "-o", str(out)])
    assert code == 0
    got = json.loads(capsys.readouterr().out)
    api = a_site(problem)
    assert got["chosen"] == api.chosen
    assert got["objective"] == pytest.approx(api.objective)
    assert [r["problem"] for r in got["tradeoffs"]] == api.tradeoffs.index.tolist()
    for row, (_, ref) in zip(got["tradeoffs"], api.tradeoffs.iterrows(), strict=True):
        for col in ("total_travel", "total_shortfall", "children_beyond",
                    "worst_seats_per_child", "worst_share_beyond", "theil_access"):
            assert row[col] == pytest.approx(ref[col]), col
    assert got["traded_away"]["pmedian"]["total_travel"] == pytest.approx(
        api.traded_away().loc["pmedian", "total_travel"])
    table = pd.read_csv(trade)
    assert table["problem"].tolist() == api.tradeoffs.index.tolist()
    assert table["total_travel"].tolist() == pytest.approx(api.tradeoffs["total_travel"])


def test_cli_prints_the_tradeoff_table(tmp_path, capsys):
    from geoequity.cli import main

    _cli_files(tmp_path)
    args = _cli_args(tmp_path, "maxmin_seats_per_child")[1:]   # not quiet: the table on stderr
    code = main(args + ["--districts", str(tmp_path / "dist.geojson"), "--district-col",
                        "name", "-o", str(tmp_path / "s.csv")])
    assert code == 0
    err = capsys.readouterr().err
    assert "trade-offs" in err
    line = next(x for x in err.splitlines() if x.strip().startswith("change vs pmedian"))
    assert "+300" in line    # 520 - 220 child-weighted travel


def test_cli_equity_objective_without_districts_is_one_line(tmp_path, capsys):
    from geoequity.cli import main

    _cli_files(tmp_path)
    for problem in ("maxmin_seats_per_child", "minmax_share_beyond"):
        code = main(_cli_args(tmp_path, problem) + ["-o", str(tmp_path / "s.csv")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1
        assert err[0].startswith("geoequity: error: --problem:") and "--districts" in err[0]
        assert not (tmp_path / "s.csv").exists()
    code = main(_cli_args(tmp_path, "pmedian") + ["--tradeoffs", str(tmp_path / "t.csv"),
                                                  "-o", str(tmp_path / "s.csv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--tradeoffs" in err[0]
