"""The forecast interval end to end: a run with ``[forecast] enrolment`` writes
``children_low``/``children_high`` per cell and year, and ``geoequity site --years ... --robust``
chooses against them (low, mid = ``children``, high).

The small case of tests/test_yearly.py (cells a (0, 0) 100 children, b (2000, 0) 50, c (5000, 0)
80; schools S1 (0, 0) 120 seats, S2 (5000, 0) 60 seats; an estate adds 10 children to b from
2028), with an enrolment history: S1 grows, S2 wobbles around 50 per grade. a and b follow S1
(b's nearest school, 2000 m), c follows S2.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from geoequity.forecast import ForecastSettings, run_forecast
from geoequity.housing import HousingLayer
from geoequity.io.write import write_table
from geoequity.pipeline import analyse
from geoequity.siting.phased import forecast_variants as phased_forecast_variants
from geoequity.yearly import YearlySettings, forecast_variants, run_years
from tests.test_yearly import CRS, SCENARIO, X0, Y0, _costs, _estate_frame, _layers, \
    _scenario_folder

T = 1500.0
POS = {"a": 0.0, "b": 2000.0, "c": 5000.0, "S1": 0.0, "S2": 5000.0,
       "K1": 2000.0, "K2": 1000.0, "K3": 4000.0}     # x in metres (y = 0 for all)
SEATS = {"S1": 120.0, "S2": 60.0, "K1": 40.0, "K2": 25.0, "K3": 30.0}


def _history(path):
    rows = []
    for year in range(2021, 2027):
        s2 = 50 + (3 if year % 2 else -3)
        for school, k in (("S1", 100 + 10 * (year - 2021) + (year % 3)), ("S2", s2)):
            rows += [(school, year, "1", k), (school, year, "2", k)]
    pd.DataFrame(rows, columns=["school", "year", "grade", "students"]).to_csv(path, index=False)


def _settings(tmp_path, **kw):
    _history(tmp_path / "history.csv")
    est = tmp_path / "estates.csv"
    _estate_frame().to_csv(est, index=False)
    return YearlySettings(base_year=2026, horizon=3, enrolment=tmp_path / "history.csv",
                          grades=["1", "2"], method="standard",
                          housing=[HousingLayer(est, children_per_unit=0.1)], **kw)


def test_forecast_variants_leave_new_housing_out_of_the_interval():
    children = pd.DataFrame({2027: [10.0, 4.0], 2028: [30.0, 8.0]}, index=["a", "b"])
    housing = pd.DataFrame({2027: [0.0, 0.0], 2028: [10.0, 0.0]}, index=["a", "b"])
    proj = pd.DataFrame({"school": ["S", "S", "(all)", "(all)"], "year": [2027, 2028] * 2,
                         "grade": "all", "students": [100.0, 200.0, 400.0, 400.0],
                         "low": [90.0, 150.0, 300.0, 360.0],
                         "high": [110.0, 260.0, 500.0, 480.0]})
    for fn in (forecast_variants, phased_forecast_variants):   # one rule, two doors
        out = fn(children, proj, pd.Series({"a": "S", "b": "X"}), housing=housing)
        got = out.set_index(["cell", "year", "variant"])["children"]
        assert got[("a", 2028, "low")] == pytest.approx(20 * 150 / 200 + 10)
        assert got[("a", 2028, "high")] == pytest.approx(20 * 260 / 200 + 10)
        assert got[("a", 2028, "mid")] == pytest.approx(30.0)
        assert got[("b", 2028, "high")] == pytest.approx(8 * 480 / 400)   # the district's


def test_run_writes_the_interval_per_cell_by_hand(tmp_path, capsys):
    cells, schools, districts = _layers()
    res = analyse(cells, schools, _costs(cells, schools), threshold=T, districts=districts,
                  max_cost=4000.0, assignment_max_cost=T)
    y = run_years(res, _settings(tmp_path))
    proj = run_forecast(ForecastSettings(enrolment=tmp_path / "history.csv", grades=["1", "2"],
                                         base_year=2026, horizon=3, method="standard"))
    tot = proj.loc[proj["grade"] == "all"].set_index(["school", "year"])
    hist = pd.read_csv(tmp_path / "history.csv")
    base = hist.loc[hist["year"] == 2026].groupby("school")["students"].sum()
    c = y.cells.set_index(["cell", "year"])
    assert {"children_low", "children_high"} <= set(y.cells.columns)
    for cell, school, kids in (("a", "S1", 100), ("b", "S1", 50), ("c", "S2", 80)):
        for year in (2027, 2028, 2029):
            house = 10.0 if (cell == "b" and year >= 2028) else 0.0
            s = tot.loc[(school, year)]
            grown = kids * s["students"] / base[school]
            assert c.loc[(cell, year), "children"] == pytest.approx(grown + house)
            assert c.loc[(cell, year), "children_low"] == pytest.approx(
                grown * s["low"] / s["students"] + house), (cell, year)
            assert c.loc[(cell, year), "children_high"] == pytest.approx(
                grown * s["high"] / s["students"] + house), (cell, year)
        assert c.loc[(cell, 2026), "children_low"] == kids   # the base year is the run
        assert c.loc[(cell, 2026), "children_high"] == kids
    assert (tot["low"] < tot["students"]).any()   # the case has a real interval
    # no enrolment (housing only): no interval, no columns, and the run says so
    st = YearlySettings(base_year=2026, horizon=3, housing=_settings(tmp_path).housing)
    capsys.readouterr()
    plain = run_years(res, st)
    assert "children_low" not in plain.cells and "children_high" not in plain.cells
    assert "no forecast interval (growth: none)" in capsys.readouterr().err


# -- end to end: geoequity run, then geoequity site --years --robust ----------------------------

def _shortfall(children: dict[str, float], open_: list[str]) -> float:
    """Children without a seat within T: max flow cells -> open schools (networkx)."""
    g = nx.DiGraph()
    for cell, k in children.items():
        g.add_edge("src", cell, capacity=k)
        for s in open_:
            if abs(POS[cell] - POS[s]) <= T:
                g.add_edge(cell, s, capacity=float("inf"))
    for s in open_:
        g.add_edge(s, "sink", capacity=SEATS[s])
    flow = nx.maximum_flow_value(g, "src", "sink") if g.has_node("sink") else 0.0
    return sum(children.values()) - flow


def _plan_value(kids: pd.DataFrame, plan: dict[str, int], years: list[int]) -> dict[str, float]:
    """Shortfall-years of a plan (site -> opening year) per variant."""
    out = {}
    for v, col in (("low", "children_low"), ("mid", "children"), ("high", "children_high")):
        total = 0.0
        for year in years:
            k = kids.loc[kids["year"] == year].set_index("cell")[col].to_dict()
            total += _shortfall(k, ["S1", "S2"] + [s for s, y in plan.items() if y <= year])
        out[v] = total
    return out


def test_site_robust_on_a_forecast_runs_parquet(tmp_path):
    text = SCENARIO.replace('map = "map.html"\nreport = true\n', "").replace(
        "horizon = 3\n", 'horizon = 3\nenrolment = "history.csv"\ngrades = ["1", "2"]\n'
        'method = "standard"\n')
    toml = _scenario_folder(tmp_path, text)
    _history(tmp_path / "history.csv")
    run = subprocess.run([sys.executable, "-m", "geoequity", "-q", "run", str(toml)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    parquet = tmp_path / "out" / "cells_by_year.parquet"
    kids = pd.read_parquet(parquet)
    assert {"children_low", "children_high"} <= set(kids.columns)
    cands = gpd.GeoDataFrame({"id": ["K1", "K2", "K3"], "seats": [40.0, 25.0, 30.0]},
                             geometry=gpd.points_from_xy([X0 + POS[k] for k in ("K1", "K2",
                                                                                "K3")],
                                                         [Y0] * 3), crs=CRS)
    write_table(cands, tmp_path / "cands.gpkg")
    years = [2027, 2028, 2029]

    def site(demand_by_year, *extra):
        return subprocess.run(
            [sys.executable, "-m", "geoequity", "-q", "site", "--demand",
             str(tmp_path / "cells.gpkg"), "--demand-id", "cell", "--candidates",
             str(tmp_path / "cands.gpkg"), "--candidate-id", "id", "--candidate-capacity",
             "seats", "--existing", str(tmp_path / "schools.gpkg"), "--existing-id", "school",
             "--existing-seats", "seats", "--euclidean", "--threshold", str(T), "--years",
             "2027:2029", "--demand-by-year", str(demand_by_year), "--p", "2",
             "--p-per-year", "1", "--solver", "exact", "--json", "-o",
             str(tmp_path / "sites.csv"), *extra], capture_output=True, text=True)

    got = site(parquet, "--robust")
    assert got.returncode == 0, got.stderr
    res = json.loads(got.stdout)
    plan = {s["site"]: s["year"] for s in res["sites"]}
    # the chosen plan's worst variant, evaluated independently (max flow per year/variant)
    mine = _plan_value(kids, plan, years)
    assert res["value"] == pytest.approx(max(mine.values()), abs=1e-6)
    assert {k: pytest.approx(v, abs=1e-6) for k, v in mine.items()} == res["by_variant"]
    # and no plan within the budgets has a smaller worst case (brute force)
    best = np.inf
    for when in itertools.product([None, *years], repeat=3):
        p = {s: y for s, y in zip(("K1", "K2", "K3"), when, strict=True) if y is not None}
        if len(p) > 2 or any(list(p.values()).count(y) > 1 for y in years):
            continue
        best = min(best, max(_plan_value(kids, p, years).values()))
    assert res["value"] == pytest.approx(best, abs=1e-6)
    assert max(mine.values()) > mine["mid"] or max(mine.values()) > mine["low"]

    # a table without the interval (a births- or housing-only run): one line, exit 2
    plain = tmp_path / "plain.parquet"
    kids.drop(columns=["children_low", "children_high"]).to_parquet(plain)
    bad = site(plain, "--robust")
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"geoequity: error: {plain}: "), bad.stderr
    assert "children_low/children_high" in lines[0] and "enrolment" in lines[0]
