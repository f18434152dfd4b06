"""Theil between/within by a group of districts (the county): the rule "the county of a cell
is the group column of the district it lies in", a hand-computed decomposition, and the
``inequality`` library (PySAL's TheilD, unweighted: children counted one row each) as the
reference of a whole analysis."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from inequality.theil import TheilD
from scipy.spatial import cKDTree
from shapely.geometry import box

import geoequity as ge
from geoequity.equity import spatial_equity
from geoequity.pipeline import analyse, district_groups


def test_hand_computed_between_and_within_counties():
    """Access 1, 1, 2, 4 (one child each); districts d1 = {1, 1}, d2 = {2}, d3 = {4};
    counties A = {d1}, B = {d2, d3}. mu = 2; T = (1/4)(2 * 0.5 ln 0.5 + 2 ln 2) = ln(2)/4.
    Between counties: means 1 and 3, each half the children:
    0.5 * 0.5 ln 0.5 + 0.5 * 1.5 ln 1.5; within: B's own T (values 2, 4, mean 3) times
    its value share 0.75."""
    cells = pd.DataFrame({"children": [1.0, 1.0, 1.0, 1.0], "access": [1.0, 1.0, 2.0, 4.0],
                          "district": ["d1", "d1", "d2", "d3"]})
    districts = pd.DataFrame({"district": ["d1", "d2", "d3"], "county": ["A", "B", "B"]})
    cells["county"] = district_groups(cells["district"], districts, "county")
    assert cells["county"].tolist() == ["A", "A", "B", "B"]
    _, theil = spatial_equity(cells, cost_col=None, gap_col=None,
                              groups=("district", "county"))
    row = theil.set_index("grouping").loc["county"]
    total = math.log(2) / 4
    between = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    t_b = 0.5 * ((2 / 3) * math.log(2 / 3) + (4 / 3) * math.log(4 / 3))
    assert row["theil_t"] == pytest.approx(total, rel=1e-12)
    assert row["between"] == pytest.approx(between, rel=1e-12)
    assert row["within"] == pytest.approx(0.75 * t_b, rel=1e-12)
    assert row["between_share"] == pytest.approx(between / total, rel=1e-12)
    # by district: d1 = 1, d2 = 2, d3 = 4 are the means; the within part is 0 (each
    # district's values are equal), so the between part is the whole T
    drow = theil.set_index("grouping").loc["district"]
    assert drow["between"] == pytest.approx(total, rel=1e-12)
    assert drow["within"] == pytest.approx(0.0, abs=1e-15)


def test_cell_outside_or_district_without_a_county():
    cell_district = pd.Series(["d1", "(outside)", "d2"])
    districts = pd.DataFrame({"district": ["d1", "d2"], "county": ["A", None]})
    assert district_groups(cell_district, districts, "county").tolist() == [
        "A", "(outside)", "(outside)"]
    with pytest.raises(ge.InputError, match="has no column 'prefecture'"):
        district_groups(cell_district, districts, "prefecture")
    with pytest.raises(ge.InputError, match="a column the run gives every cell"):
        district_groups(cell_district, districts.assign(urban="x"), "urban")


def _layers(seed: int):
    """6 districts (2 x 3 squares of 2 km) in 2 counties, 120 cells with whole children,
    8 schools; straight-line costs."""
    rng = np.random.default_rng(seed)
    polys = [box(x * 2000, y * 2000, (x + 1) * 2000, (y + 1) * 2000)
             for y in range(2) for x in range(3)]
    districts = gpd.GeoDataFrame({"district": [f"d{i}" for i in range(6)],
                                  "county": ["West", "West", "East", "West", "East", "East"]},
                                 geometry=polys, crs=32650)
    districts.index = pd.Index(districts["district"].to_numpy())
    xy = rng.uniform(50, 5950, size=(120, 2)) * [1, 4000 / 6000]
    cells = gpd.GeoDataFrame({"children": rng.integers(1, 12, len(xy)).astype(float)},
                             geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=32650)
    sxy = rng.uniform(300, 5700, size=(8, 2)) * [1, 4000 / 6000]
    schools = gpd.GeoDataFrame({"seats": rng.integers(40, 200, len(sxy)).astype(float)},
                               geometry=gpd.points_from_xy(sxy[:, 0], sxy[:, 1]), crs=32650)
    dist, idx = cKDTree(sxy).query(xy, k=len(sxy))
    costs = pd.DataFrame({"origin": np.repeat(np.arange(len(xy)), len(sxy)),
                          "destination": idx.ravel(), "cost": dist.ravel()})
    return cells, schools, districts, costs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_analysis_theil_by_county_matches_pysal(seed):
    cells, schools, districts, costs = _layers(seed)
    res = analyse(cells, schools, costs, threshold=8000.0, districts=districts,
                  urban_col="county", district_group="county")
    out = res.cells
    expected = districts.set_index("district")["county"]
    assert (out["county"] == out["district"].map(expected)).all()
    # the reference: PySAL's unweighted TheilD over one row per child
    ok = out["access"].notna()
    reps = out.loc[ok, "children"].astype(int).to_numpy()
    y = np.repeat(out.loc[ok, "access"].to_numpy(), reps)
    part = np.repeat(out.loc[ok, "county"].to_numpy(), reps)
    ref = TheilD(y, part)
    row = res.theil.set_index("grouping").loc["county"]
    assert row["theil_t"] == pytest.approx(float(ref.T), rel=1e-9)
    assert row["between"] == pytest.approx(float(np.ravel(ref.bg)[0]), rel=1e-9)
    assert row["within"] == pytest.approx(float(np.ravel(ref.wg)[0]), rel=1e-9)
    # beside the by-district decomposition, which PySAL gives too
    dref = TheilD(y, np.repeat(out.loc[ok, "district"].to_numpy(), reps))
    drow = res.theil.set_index("grouping").loc["district"]
    assert drow["between"] == pytest.approx(float(np.ravel(dref.bg)[0]), rel=1e-9)
    assert list(res.theil["grouping"][:2]) == ["district", "county"]
    s = res.summary
    assert s["district_group"] == "county"
    assert s["theil_by_group"]["between"] == pytest.approx(float(np.ravel(ref.bg)[0]), rel=1e-9)
    assert s["theil_by_district"]["between"] == pytest.approx(float(np.ravel(dref.bg)[0]), rel=1e-9)
    # the equity table gains one row per county
    eq = res.equity[res.equity["grouping"] == "county"].set_index("group")
    assert sorted(eq.index) == ["East", "West"]
    west = out["county"] == "West"
    assert eq.loc["West", "children"] == pytest.approx(float(out.loc[west, "children"].sum()))


def test_analysis_decomposed_assignment_reports_against_the_bound():
    """The pipeline's decomposed assignment (parts: the counties) seats as many children as
    the exact one here (the repair closes every augmenting path) and says so in the
    summary; its cells reconcile."""
    cells, schools, districts, costs = _layers(5)
    schools["seats"] = schools["seats"] * 0.6
    exact = analyse(cells, schools, costs, threshold=2000.0, districts=districts,
                    urban_col="county", assignment_mode="exact")
    dec = analyse(cells, schools, costs, threshold=2000.0, districts=districts,
                  urban_col="county", assignment_mode="decomposed", partition="county")
    s, e = dec.summary, exact.summary
    assert e["assignment_mode"] == "exact" and e["assignment_bound"] == "exact optimum"
    assert s["assignment_mode"] == "decomposed" and s["assignment_parts"] == 2
    assert s["assignment_bound"] == "max flow"
    assert s["assignment_lower_bound"] == pytest.approx(e["children_unassigned"])
    assert s["children_unassigned"] == pytest.approx(e["children_unassigned"])
    assert s["assignment_exact_cost"] == pytest.approx(e["assignment_cost"])
    assert s["assignment_cost_gap"] >= -1e-6
    c = dec.cells
    assert np.allclose(c["children"], c["assigned"] + c["unassigned"])


DEMO = Path(__file__).resolve().parent.parent / "data" / "demo.toml"


def county_demo(folder: Path, out: Path, html: Path) -> str:
    """The demo scenario's text on straight lines, its districts (written to ``folder``) in
    counties North/South, writing to ``out`` and the map ``html``."""
    d = gpd.read_file(DEMO.parent / "demo" / "districts.geojson")
    d["county"] = ["North", "North", "North", "South", "South", "South"]
    d.to_file(folder / "districts.geojson", driver="GeoJSON")
    text = DEMO.read_text(encoding="utf-8").replace('"demo/', f'"{DEMO.parent}/demo/')
    text = text.replace(f'"{DEMO.parent}/demo/districts.geojson"',
                        f'"{folder / "districts.geojson"}"')
    start, end = text.index("[network]"), text.index("[analysis]")
    text = text[:start] + "[network]\neuclidean = true\n\n" + text[end:]
    text = text.replace('folder = "../out/demo"', f'folder = "{out}"')
    return text.replace('map = "../maps/demo.html"', f'map = "{html}"')


def test_run_writes_county_theil_and_assignment_bound(tmp_path):
    """A whole run (the demo on straight lines, counties North/South, decomposed): the
    figures reach theil.csv, equity.csv, summary.json, the report and a report made again
    from the folder (``geoequity report OUT``)."""
    import json

    from geoequity.cli import main

    text = county_demo(tmp_path, tmp_path / "out", tmp_path / "m.html")
    (tmp_path / "s.toml").write_text(text, encoding="utf-8")
    assert main(["run", str(tmp_path / "s.toml"), "--assignment-mode", "decomposed",
                 "--district-group", "county"]) == 0
    out = tmp_path / "out"
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["assignment_mode"] == "decomposed" and s["assignment_bound"] == "max flow"
    assert s["assignment_unassigned"] == pytest.approx(s["children_unassigned"])
    assert s["assignment_lower_bound"] <= s["assignment_unassigned"] + 1e-6
    assert s["district_group"] == "county"
    theil = pd.read_csv(out / "theil.csv").set_index("grouping")
    cells = gpd.read_parquet(out / "cells.parquet")
    ok = cells["access"].notna() & (cells["children"] > 0)
    # between counties by the formula: sum_g s_g (mu_g / mu) ln(mu_g / mu)
    w, y, g = cells.loc[ok, "children"], cells.loc[ok, "access"], cells.loc[ok, "county"]
    mu = float((w * y).sum() / w.sum())
    between = sum(float(w[g == k].sum() / w.sum()) * m / mu * math.log(m / mu)
                  for k in ("North", "South")
                  for m in [float((w[g == k] * y[g == k]).sum() / w[g == k].sum())])
    assert theil.loc["county", "between"] == pytest.approx(between, rel=1e-8)
    assert s["theil_by_group"]["between"] == pytest.approx(between, rel=1e-8)
    equity = pd.read_csv(out / "equity.csv")
    assert set(equity.loc[equity["grouping"] == "county", "group"]) == {"North", "South"}
    html = (out / "report.html").read_text(encoding="utf-8")
    # the county grouping in words, as the maps' overview says it (not the raw column)
    assert "capacity assignment: decomposed into 6 parts" in html and ">County<" in html
    assert main(["report", str(out), "-o", str(tmp_path / "again.html")]) == 0
    again = (tmp_path / "again.html").read_text(encoding="utf-8")
    assert "capacity assignment: decomposed into 6 parts" in again and ">County<" in again
