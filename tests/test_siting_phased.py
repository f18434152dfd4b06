"""Phased siting (sites and opening years): brute-force enumeration of every plan with an
independent evaluator (networkx maximum flow per year on the cells themselves, not the merged
groups the model uses), robust min-max, the heuristic's bound, bad input, and API-CLI parity."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from geoequity._errors import InputError
from geoequity.siting.phased import forecast_variants, site_phased

YEARS = [2027, 2028, 2029]
T = 4.0


def instance(seed, n=12, m=6, q=2):
    rng = np.random.default_rng(seed)
    cells = [f"c{i}" for i in range(n)]
    cands = [f"j{j}" for j in range(m)]
    ex = [f"e{k}" for k in range(q)]
    xy = {k: rng.uniform(0, 10, 2) for k in cells + cands + ex}
    costs = pd.DataFrame([(c, f, float(np.hypot(*(xy[c] - xy[f])))) for c in cells
                          for f in cands + ex], columns=["origin", "destination", "cost"])
    rows = []
    for c in cells:
        base = int(rng.integers(0, 30))
        grow = [1.0] + list(1 + 0.3 * rng.random(len(YEARS) - 1))
        for t, y in enumerate(YEARS):
            for v, f in (("low", 0.7), ("mid", 1.0), ("high", 1.4)):
                rows.append((c, y, v, float(round(base * np.prod(grow[: t + 1]) * f))))
    demand = pd.DataFrame(rows, columns=["cell", "year", "variant", "children"])
    cap = pd.Series(rng.integers(20, 60, m).astype(float), index=cands)
    seats = pd.Series(rng.integers(20, 60, q).astype(float), index=ex)
    return costs, demand, cap, seats


def short(costs, w, open_sites, cap, seats):
    """Children without a seat within T: total minus a maximum flow (networkx)."""
    g = nx.DiGraph()
    caps = {**cap.to_dict(), **seats.to_dict()}
    total = sum(w.values())
    for c, val in w.items():
        if val > 0:
            g.add_edge("s", c, capacity=val)
    for r in costs.itertuples():
        if r.cost <= T and w.get(r.origin, 0) > 0 and (r.destination in open_sites
                                                      or r.destination in seats.index):
            g.add_edge(r.origin, r.destination)      # no capacity attribute: unbounded
    for f in list(open_sites) + list(seats.index):
        g.add_edge(f, "t", capacity=caps[f])
    if "s" not in g or "t" not in g:
        return total
    return total - nx.maximum_flow_value(g, "s", "t")


def beyond(costs, w, open_sites, seats):
    near = costs.loc[(costs["cost"] <= T) & (costs["destination"].isin(open_sites)
                                            | costs["destination"].isin(seats.index))]
    return sum(v for c, v in w.items() if c not in set(near["origin"]))


def children(demand, year, variant):
    d = demand.loc[(demand["year"] == year) & (demand["variant"] == variant)]
    return dict(zip(d["cell"], d["children"], strict=True))


def value(plan, costs, demand, cap, seats, objective, variant):
    """Child-years of a plan {site: opening year} for one variant."""
    out = 0.0
    for y in YEARS:
        w = children(demand, y, variant)
        op = [j for j, yy in plan.items() if yy <= y]
        out += (short(costs, w, op, cap, seats) if objective == "shortfall_years"
                else beyond(costs, w, op, seats))
    return out


def plans(cands, k, per_year):
    """Every plan of at most k distinct sites, each with an opening year."""
    opts = [(j, y) for j in cands for y in YEARS]
    for r in range(k + 1):
        for combo in itertools.combinations(opts, r):
            sites = [j for j, _ in combo]
            if len(set(sites)) < r:
                continue
            if per_year is not None and max(
                    [sum(1 for _, y in combo if y == yy) for yy in YEARS] or [0]) > per_year:
                continue
            yield dict(combo)


def brute(costs, demand, cap, seats, objective, variants, k=2, per_year=None):
    return min(max(value(pl, costs, demand, cap, seats, objective, v) for v in variants)
               for pl in plans(list(cap.index), k, per_year))


def mid(demand):
    return demand.loc[demand["variant"] == "mid"].drop(columns="variant")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("per_year", [None, 1])
def test_exact_matches_enumeration(seed, per_year):
    costs, demand, cap, seats = instance(seed)
    r = site_phased(costs, mid(demand), list(cap.index), years=YEARS, threshold=T,
                    existing=seats, capacities=cap, p=2, p_per_year=per_year,
                    solver="exact")
    best = brute(costs, demand, cap, seats, "shortfall_years", ["mid"], per_year=per_year)
    assert r.status == "optimal"
    assert r.value == pytest.approx(best, abs=1e-6)
    # the returned plan is what it says, by the independent evaluator
    plan = dict(zip(r.sites["site"], r.sites["year"], strict=True))
    assert value(plan, costs, demand, cap, seats, "shortfall_years", "mid") == \
        pytest.approx(r.value, abs=1e-6)
    assert len(plan) <= 2
    if per_year is not None:
        assert r.sites["year"].value_counts().max() <= 1
    # the per-year table, year by year, against the evaluator (before: no new site)
    for row in r.by_year.itertuples():
        w = children(demand, row.year, "mid")
        op = [j for j, y in plan.items() if y <= row.year]
        assert row.children == pytest.approx(sum(w.values()))
        assert row.shortfall_after == pytest.approx(short(costs, w, op, cap, seats), abs=1e-6)
        assert row.shortfall_before == pytest.approx(short(costs, w, [], cap, seats), abs=1e-6)
        assert row.children_beyond_after == pytest.approx(beyond(costs, w, op, seats))
        assert row.children_beyond_before == pytest.approx(beyond(costs, w, [], seats))
        assert row.seats_after == pytest.approx(seats.sum() + cap[op].sum())


@pytest.mark.parametrize("seed", [0, 4])
def test_child_years_beyond_matches_enumeration(seed):
    costs, demand, cap, seats = instance(seed)
    r = site_phased(costs, mid(demand), list(cap.index), years=YEARS, threshold=T,
                    existing=seats, p=2, p_per_year=1, objective="child_years_beyond",
                    solver="exact")
    assert r.value == pytest.approx(brute(costs, demand, cap, seats, "child_years_beyond",
                                          ["mid"], per_year=1))


@pytest.mark.parametrize("seed", [0, 2, 5])
def test_robust_is_the_enumerated_min_max(seed):
    costs, demand, cap, seats = instance(seed)
    r = site_phased(costs, demand, list(cap.index), years=YEARS, threshold=T, existing=seats,
                    capacities=cap, p=2, p_per_year=1, robust=True, solver="exact")
    best = brute(costs, demand, cap, seats, "shortfall_years", ["low", "mid", "high"],
                 per_year=1)
    assert r.value == pytest.approx(best, abs=1e-6)
    plan = dict(zip(r.sites["site"], r.sites["year"], strict=True))
    for v in ("low", "mid", "high"):
        assert r.by_variant[v] == pytest.approx(
            value(plan, costs, demand, cap, seats, "shortfall_years", v), abs=1e-6)
    assert set(r.by_year["variant"]) == {"low", "mid", "high"}


@pytest.mark.parametrize("seed", [0, 1, 2, 6])
def test_heuristic_within_its_bound(seed):
    costs, demand, cap, seats = instance(seed)
    r = site_phased(costs, mid(demand), list(cap.index), years=YEARS, threshold=T,
                    existing=seats, capacities=cap, p=2, p_per_year=1, solver="heuristic")
    best = brute(costs, demand, cap, seats, "shortfall_years", ["mid"], per_year=1)
    plan = dict(zip(r.sites["site"], r.sites["year"], strict=True))
    assert value(plan, costs, demand, cap, seats, "shortfall_years", "mid") == \
        pytest.approx(r.value, abs=1e-6)
    assert r.bound <= best + 1e-6 <= r.value + 2e-6
    assert r.gap == pytest.approx((r.value - r.bound) / r.value)


def test_cost_budget_per_year_with_carry_over():
    # one cell of 50 children 1 away from two candidates: 'big' (50 seats) costs 3, 'small'
    # (20 seats) costs 1. 1 a year, no carry-over: only 'small' ever fits a year; it opens in
    # 2027: 30 short each year, 90. 2 a year with carry-over: 'small' in 2027 (1 of 2 spent),
    # 'big' in 2028 (3 <= 4 - 1): 30 + 0 + 0 = 30; nothing does better ('big' in 2027 costs 3).
    costs = pd.DataFrame({"origin": ["a", "a"], "destination": ["big", "small"],
                          "cost": [1.0, 1.0]})
    demand = pd.DataFrame({"cell": "a", "year": YEARS, "children": 50.0})
    cands = pd.DataFrame({"capacity": [50.0, 20.0], "build_cost": [3.0, 1.0]},
                         index=["big", "small"])
    r = site_phased(costs, demand, cands, years=YEARS, threshold=2, budget_per_year=1,
                    solver="exact")
    assert r.value == pytest.approx(90.0)
    assert r.sites[["site", "year"]].values.tolist() == [["small", 2027]]
    r = site_phased(costs, demand, cands, years=YEARS, threshold=2, budget_per_year=2,
                    carry_over=True, solver="exact")
    assert r.value == pytest.approx(30.0)
    assert r.sites[["site", "year"]].values.tolist() == [["small", 2027], ["big", 2028]]
    assert r.by_year["shortfall_after"].tolist() == pytest.approx([30.0, 0.0, 0.0])
    assert r.by_year["seats_after"].tolist() == pytest.approx([20.0, 70.0, 70.0])


def test_forecast_variants_scale_by_the_school_interval():
    children = pd.DataFrame({2027: [10.0, 4.0], 2028: [20.0, 8.0]}, index=["a", "b"])
    proj = pd.DataFrame({"school": ["S", "S", "(all)", "(all)"], "year": [2027, 2028] * 2,
                         "grade": "all", "students": [100.0, 200.0, 400.0, 400.0],
                         "low": [90.0, 150.0, 300.0, 360.0],
                         "high": [110.0, 260.0, 500.0, 480.0]})
    out = forecast_variants(children, proj, pd.Series({"a": "S", "b": "X"}))
    got = out.set_index(["cell", "year", "variant"])["children"]
    assert got[("a", 2028, "low")] == pytest.approx(20 * 150 / 200)
    assert got[("a", 2027, "high")] == pytest.approx(10 * 110 / 100)
    assert got[("b", 2027, "low")] == pytest.approx(4 * 300 / 400)   # the district's ratio
    assert got[("b", 2028, "mid")] == pytest.approx(8.0)


def test_api_bad_input():
    costs, demand, cap, seats = instance(0)
    kw = {"threshold": T, "existing": seats, "capacities": cap, "p": 2}
    with pytest.raises(InputError, match="year 2030 is not in the demand table"):
        site_phased(costs, mid(demand), list(cap.index), years=[2029, 2030, 2031], **kw)
    with pytest.raises(InputError, match="do not increase"):
        site_phased(costs, mid(demand), list(cap.index), years=[2029, 2027], **kw)
    bad = demand.copy()
    bad.loc[0, "variant"] = "central"
    with pytest.raises(InputError, match="unknown variant 'central'"):
        site_phased(costs, bad, list(cap.index), years=YEARS, robust=True, **kw)
    with pytest.raises(InputError, match="no variant column"):
        site_phased(costs, mid(demand), list(cap.index), years=YEARS, robust=True, **kw)
    with pytest.raises(InputError, match="budget"):
        site_phased(costs, mid(demand), list(cap.index), years=YEARS, threshold=T,
                    existing=seats, capacities=cap, p_per_year=-1)
    with pytest.raises(InputError, match="limit on the new sites"):
        site_phased(costs, mid(demand), list(cap.index), years=YEARS, threshold=T,
                    existing=seats, capacities=cap)


# ---------------------------------------------------------------- the CLI


def cli_files(tmp_path, seed=0):
    costs, demand, cap, seats = instance(seed)
    costs.to_csv(tmp_path / "costs.csv", index=False)
    cells = sorted(set(costs["origin"]))
    lon = 120 + np.arange(len(cells)) * 0.001
    pd.DataFrame({"id": cells, "lon": lon, "lat": 30.0}).to_csv(tmp_path / "d.csv",
                                                                index=False)
    pd.DataFrame({"id": cap.index, "lon": 120.0, "lat": 30.01, "seats": cap.to_numpy()}
                 ).to_csv(tmp_path / "c.csv", index=False)
    pd.DataFrame({"id": seats.index, "lon": 120.0, "lat": 30.02, "seats": seats.to_numpy()}
                 ).to_csv(tmp_path / "e.csv", index=False)
    demand.to_csv(tmp_path / "by_year.csv", index=False)
    mid(demand).to_parquet(tmp_path / "cells_by_year.parquet")
    return costs, demand, cap, seats


def base_args(tmp_path, *extra):
    return [sys.executable, "-m", "geoequity", "-q", "site", "--demand",
            str(tmp_path / "d.csv"), "--demand-id", "id", "--candidates",
            str(tmp_path / "c.csv"), "--candidate-id", "id", "--candidate-capacity", "seats",
            "--existing", str(tmp_path / "e.csv"), "--existing-id", "id", "--existing-seats",
            "seats", "--costs", str(tmp_path / "costs.csv"), "--threshold", str(T), *extra]


def test_cli_matches_api(tmp_path):
    costs, demand, cap, seats = cli_files(tmp_path)
    out, table = tmp_path / "sites.csv", tmp_path / "years.csv"
    run = subprocess.run(base_args(tmp_path, "--years", "2027:2029", "--demand-by-year",
                                   str(tmp_path / "by_year.csv"), "--robust", "--p", "2",
                                   "--p-per-year", "1", "--json", "-o", str(out),
                                   "--by-year", str(table)),
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    api = site_phased(costs, demand, list(cap.index), years=YEARS, threshold=T,
                      existing=seats, capacities=cap, p=2, p_per_year=1, robust=True)
    assert got["value"] == pytest.approx(api.value)
    assert got["sites"] == [{"site": s, "year": int(y)} for s, y in
                            zip(api.sites["site"], api.sites["year"], strict=True)]
    sites = pd.read_csv(out)
    assert sites[["site", "year"]].values.tolist() == api.sites[["site", "year"]].values.tolist()
    pd.testing.assert_frame_equal(pd.read_csv(table), api.by_year, check_dtype=False)
    # a run's cells_by_year.parquet (mid only), child-years beyond
    run = subprocess.run(base_args(tmp_path, "--years", "2027:2029", "--demand-by-year",
                                   str(tmp_path / "cells_by_year.parquet"), "--problem",
                                   "child_years_beyond", "--p", "2", "--json", "-o", str(out)),
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    api = site_phased(costs, mid(demand), list(cap.index), years=YEARS, threshold=T,
                      existing=seats, p=2, objective="child_years_beyond")
    assert json.loads(run.stdout)["value"] == pytest.approx(api.value)


@pytest.mark.parametrize("extra, message", [
    (["--years", "2035:2027", "--p", "1"], "--years: 2035:2027 runs backwards"),
    (["--years", "2027:2031", "--p", "1"], "year 2030 is not in the demand table"),
    (["--years", "2027:2029", "--budget-per-year", "-1"], "--budget-per-year"),
    (["--years", "2027:2029", "--p", "1", "--robust", "--problem", "gap"],
     "gap is a single-year problem"),
    (["--years", "2027:2029", "--p", "1", "--sizes", "24"], "--sizes: is for single-year"),
    (["--problem", "gap", "--p", "1", "--demand-col", "x"], "--demand-by-year: is for phased"),
])
def test_cli_bad_input_one_line(tmp_path, extra, message):
    cli_files(tmp_path)
    out = tmp_path / "sites.csv"
    run = subprocess.run(base_args(tmp_path, "--demand-by-year", str(tmp_path / "by_year.csv"),
                                   *extra, "-o", str(out)), capture_output=True, text=True)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("geoequity: error:"), run.stderr
    assert message in lines[0]
    assert not out.exists()


def test_cli_unknown_variant(tmp_path):
    _, demand, _, _ = cli_files(tmp_path)
    demand.loc[3, "variant"] = "central"
    demand.to_csv(tmp_path / "bad.csv", index=False)
    run = subprocess.run(base_args(tmp_path, "--years", "2027:2029", "--demand-by-year",
                                   str(tmp_path / "bad.csv"), "--robust", "--p", "1", "-o",
                                   str(tmp_path / "s.csv")), capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"geoequity: error: {tmp_path / 'bad.csv'}: unknown variant 'central'; use low, mid, "
        "high in the variant column"]


def test_cli_objectives_are_the_api_objectives():
    from geoequity.cli.site import OBJECTIVES as CLI
    from geoequity.siting.phased import OBJECTIVES

    assert CLI == OBJECTIVES


@pytest.mark.parametrize("seed", [0, 5])
def test_robust_heuristic_within_its_bound(seed):
    costs, demand, cap, seats = instance(seed)
    r = site_phased(costs, demand, list(cap.index), years=YEARS, threshold=T, existing=seats,
                    capacities=cap, p=2, p_per_year=1, robust=True, solver="heuristic")
    best = brute(costs, demand, cap, seats, "shortfall_years", ["low", "mid", "high"],
                 per_year=1)
    plan = dict(zip(r.sites["site"], r.sites["year"], strict=True))
    worst = max(value(plan, costs, demand, cap, seats, "shortfall_years", v)
                for v in ("low", "mid", "high"))
    assert worst == pytest.approx(r.value, abs=1e-6)
    assert r.bound <= best + 1e-6 <= r.value + 2e-6


def test_heuristic_stopped_by_the_time_limit_keeps_its_plan():
    costs, demand, cap, seats = instance(1)
    r = site_phased(costs, mid(demand), list(cap.index), years=YEARS, threshold=T,
                    existing=seats, capacities=cap, p=2, p_per_year=1, solver="heuristic",
                    time_limit=1e-4)
    plan = dict(zip(r.sites["site"], r.sites["year"], strict=True))
    assert value(plan, costs, demand, cap, seats, "shortfall_years", "mid") == \
        pytest.approx(r.value, abs=1e-6)
    assert r.bound <= r.value + 1e-6 and r.status in ("heuristic", "optimal")
