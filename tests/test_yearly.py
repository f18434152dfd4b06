"""The seat-gap pipeline over the years ([forecast], [[housing]]; geoequity.yearly).

The small case, by hand (EPSG:32650, metres from X0, Y0; straight-line costs; threshold 1500,
max_cost 4000, assignment within 1500):

    cell a (0, 0)      100 children   West    school S1 (0, 0)     120 seats  West
    cell b (2000, 0)    50 children   West    school S2 (5000, 0)   60 seats  East
    cell c (5000, 0)    80 children   East
    estate (2000, 0): 100 dwellings x 0.1 children, complete in base + 2 = 2028 -> b + 10

a-S1 0 m, b-S1 2000 m (beyond 1500), b-S2 3000 m, c-S2 0 m; a-S2 and c-S1 5000 m (over
max_cost). Nothing changes the children but the estate (no enrolment, births or bands).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoequity.cli import main
from geoequity.housing import HousingLayer
from geoequity.io.write import write_table
from geoequity.pipeline import analyse
from geoequity.yearly import YearlySettings, run_years

CRS = "EPSG:32650"
X0, Y0 = 500_000.0, 3_400_000.0
REPO = Path(__file__).resolve().parents[1]


def _square(x, y, half=50.0):
    return shapely.box(X0 + x - half, Y0 + y - half, X0 + x + half, Y0 + y + half)


def _layers():
    cells = gpd.GeoDataFrame({"cell": ["a", "b", "c"], "children": [100.0, 50.0, 80.0]},
                             geometry=[_square(0, 0), _square(2000, 0), _square(5000, 0)],
                             crs=CRS, index=pd.Index(["a", "b", "c"]))
    schools = gpd.GeoDataFrame({"school": ["S1", "S2"], "seats": [120.0, 60.0]},
                               geometry=gpd.points_from_xy([X0, X0 + 5000], [Y0, Y0]), crs=CRS,
                               index=pd.Index(["S1", "S2"]))
    districts = gpd.GeoDataFrame(
        {"district": ["West", "East"]},
        geometry=[shapely.box(X0 - 1000, Y0 - 1000, X0 + 3000, Y0 + 1000),
                  shapely.box(X0 + 3000, Y0 - 1000, X0 + 6000, Y0 + 1000)], crs=CRS,
        index=pd.Index(["West", "East"]))
    return cells, schools, districts


def _estate_frame():
    pt = gpd.GeoSeries(gpd.points_from_xy([X0 + 2000], [Y0]), crs=CRS).to_crs(4326)
    return pd.DataFrame({"name": ["Riverside"], "lon": [round(pt.x[0], 7)],
                         "lat": [round(pt.y[0], 7)], "units": [100], "year": [2028]})


def _costs(cells, schools):
    from geoequity.costs import euclidean_costs

    return euclidean_costs(cells, schools, max_cost=4000.0)


def _api_run(tmp_path):
    cells, schools, districts = _layers()
    res = analyse(cells, schools, _costs(cells, schools), threshold=1500.0, districts=districts,
                  max_cost=4000.0, assignment_max_cost=1500.0)
    est = tmp_path / "estates.csv"
    _estate_frame().to_csv(est, index=False)
    st = YearlySettings(base_year=2026, horizon=3,
                        housing=[HousingLayer(est, children_per_unit=0.1)])
    return res, run_years(res, st)


# (district, year): children, housing, seats, shortfall, beyond, assigned, unassigned,
# mean nearest cost
HAND = {
    ("West", 2026): (150, 0, 120, 30, 50, 100, 50, (100 * 0 + 50 * 2000) / 150),
    ("West", 2027): (150, 0, 120, 30, 50, 100, 50, (100 * 0 + 50 * 2000) / 150),
    ("West", 2028): (160, 10, 120, 40, 60, 100, 60, (100 * 0 + 60 * 2000) / 160),
    ("West", 2029): (160, 10, 120, 40, 60, 100, 60, (100 * 0 + 60 * 2000) / 160),
    ("East", 2026): (80, 0, 60, 20, 0, 60, 20, 0.0),
    ("East", 2029): (80, 0, 60, 20, 0, 60, 20, 0.0),
    ("(all)", 2026): (230, 0, 180, 50, 50, 160, 70, 100_000 / 230),
    ("(all)", 2027): (230, 0, 180, 50, 50, 160, 70, 100_000 / 230),
    ("(all)", 2028): (240, 10, 180, 60, 60, 160, 80, 120_000 / 240),
    ("(all)", 2029): (240, 10, 180, 60, 60, 160, 80, 120_000 / 240),
}


def test_hand_computed_districts_by_year(tmp_path):
    _, yearly = _api_run(tmp_path)
    d = yearly.districts.set_index(["district", "year"])
    assert sorted(set(yearly.districts["year"])) == [2026, 2027, 2028, 2029]
    assert list(yearly.districts.columns[:9]) == [
        "district", "year", "children", "housing_children", "seats", "seats_per_child",
        "shortfall", "children_beyond", "share_beyond"]
    for key, (kids, house, seats, short, beyond, assigned, unassigned, cost) in HAND.items():
        row = d.loc[key]
        assert row["children"] == pytest.approx(kids), key
        assert row["housing_children"] == pytest.approx(house), key
        assert row["seats"] == pytest.approx(seats), key
        assert row["seats_per_child"] == pytest.approx(seats / kids), key
        assert row["shortfall"] == pytest.approx(short), key
        assert row["children_beyond"] == pytest.approx(beyond), key
        assert row["share_beyond"] == pytest.approx(beyond / kids), key
        assert row["assigned"] == pytest.approx(assigned), key
        assert row["unassigned"] == pytest.approx(unassigned), key
        assert row["mean_nearest_cost"] == pytest.approx(cost), key
    # the cells: b gets the estate's 10 children from 2028
    c = yearly.cells.set_index(["cell", "year"])
    assert c.loc[("b", 2027), "children"] == pytest.approx(50)
    assert c.loc[("b", 2028), "children"] == pytest.approx(60)
    assert c.loc[("b", 2028), "housing_children"] == pytest.approx(10)
    # 2SFCA for a in 2028: S1 within 1500 of a only -> 120 / 100 seats per child
    assert c.loc[("a", 2028), "access"] == pytest.approx(1.2)
    assert math.isnan(c.loc[("b", 2028), "access"])
    # schools: children within the threshold and assigned pupils
    s = yearly.schools.set_index(["school", "year"])
    assert s.loc[("S1", 2029), "children_within"] == pytest.approx(100)
    assert s.loc[("S2", 2029), "assigned"] == pytest.approx(60)
    assert s.loc[("S1", 2026), "utilisation"] == pytest.approx(100 / 120)


def test_base_year_equals_the_runs_districts_table(tmp_path):
    res, yearly = _api_run(tmp_path)
    base = yearly.districts.loc[yearly.districts["year"] == 2026].set_index("district")
    run = res.district_table.set_index("district")
    cols = [c for c in run.columns if c in base.columns]
    assert {"children", "seats", "seats_per_child", "shortfall", "children_beyond",
            "share_beyond", "assigned", "unassigned"} <= set(cols)
    pd.testing.assert_frame_equal(base.loc[run.index, cols], run[cols], check_dtype=False)


def test_first_year_short():
    from geoequity.report_years import first_shortfall_table

    t = pd.DataFrame({"district": ["A", "B", "A", "B", "A", "B"],
                      "year": [2026, 2026, 2027, 2027, 2028, 2028],
                      "shortfall": [-5, -1, -2, 3, 4, 6],
                      "seats_per_child": [1.1, 1.0, 1.05, 0.9, 0.95, 0.8]})
    f = first_shortfall_table(t).set_index("district")
    assert f.loc["A", "first_year_short"] == 2028
    assert f.loc["B", "first_year_short"] == 2027
    assert f.loc["B", "shortfall_last"] == 6


def test_build_out_spreads_dwellings_over_the_years():
    from geoequity.housing import completed_share

    est = pd.DataFrame({"year": [2027, 2025], "build_years": [4, 3]})
    # 2027-2030 a quarter each; 2025-2027 a third each, the part by 2026 already built
    assert completed_share(est, 2026, 2026).tolist() == [0.0, 0.0]
    assert completed_share(est, 2028, 2026).tolist() == pytest.approx([0.5, 1 / 3])
    assert completed_share(est, 2035, 2026).tolist() == pytest.approx([1.0, 1 / 3])


def test_housing_presets_and_per_1000_residents(tmp_path):
    from geoequity.housing import read_estates

    cells, _, _ = _layers()
    f = _estate_frame().assign(residents=[400])
    f.to_csv(tmp_path / "e.csv", index=False)
    # 千人指标: 70 per 1000 residents -> 400 residents give 28 children
    e = read_estates(HousingLayer(tmp_path / "e.csv", children_per_1000_residents=70,
                                  residents="residents"), cells)
    assert e["children"].tolist() == pytest.approx([28.0])
    assert e["cell"].tolist() == [1]            # cell b
    # preset cn-primary: 70 per 1000 residents x 3.2 residents per dwelling x 100 dwellings
    e = read_estates(HousingLayer(tmp_path / "e.csv", preset="cn-primary"), cells)
    assert e["children"].tolist() == pytest.approx([100 * 3.2 * 70 / 1000])


def test_estate_outside_every_cell_joins_the_nearest(tmp_path):
    from geoequity.housing import read_estates

    cells, _, _ = _layers()
    pt = gpd.GeoSeries(gpd.points_from_xy([X0 + 4000], [Y0 + 300]), crs=CRS).to_crs(4326)
    pd.DataFrame({"lon": [pt.x[0]], "lat": [pt.y[0]], "units": [10], "year": [2027]}).to_csv(
        tmp_path / "e.csv", index=False)
    e = read_estates(HousingLayer(tmp_path / "e.csv", children_per_unit=0.5), cells)
    assert e["cell"].tolist() == [2]            # c at (5000, 0) is the nearest centre
    assert e["snap_m"].iloc[0] == pytest.approx(math.hypot(1000, 300), abs=0.01)


def test_births_growth_by_hand(tmp_path):
    cells, schools, districts = _layers()
    res = analyse(cells, schools, _costs(cells, schools), threshold=1500.0, districts=districts,
                  max_cost=4000.0, assignment_max_cost=1500.0)
    # 2 grades, lag 5: school-age cohorts of year t are births of t-5 and t-6
    births = pd.DataFrame({"year": range(2018, 2024), "births": [100, 100, 100, 100, 80, 60]})
    births.to_csv(tmp_path / "births.csv", index=False)
    y = run_years(res, YearlySettings(base_year=2026, horizon=2, births=tmp_path / "births.csv",
                                      grades=["1", "2"]))
    d = y.districts.set_index(["district", "year"])
    # 2026: 2021 + 2020 = 200; 2027: 2022 + 2021 = 180; 2028: 2023 + 2022 = 140
    assert d.loc[("(all)", 2027), "children"] == pytest.approx(230 * 180 / 200)
    assert d.loc[("(all)", 2028), "children"] == pytest.approx(230 * 140 / 200)


def test_enrolment_growth_by_catchment(tmp_path):
    """S1's history grows, S2's is flat: a (S1's catchment) follows S1; b's nearest school is
    S1 too (2000 m, within max_cost); c follows S2."""
    cells, schools, districts = _layers()
    res = analyse(cells, schools, _costs(cells, schools), threshold=1500.0, districts=districts,
                  max_cost=4000.0, assignment_max_cost=1500.0)
    rows = []
    for year in range(2021, 2027):
        for school, k in (("S1", 100 + 10 * (year - 2021)), ("S2", 50)):
            rows += [(school, year, "1", k), (school, year, "2", k)]
    hist = pd.DataFrame(rows, columns=["school", "year", "grade", "students"])
    hist.to_csv(tmp_path / "history.csv", index=False)
    from geoequity.forecast import ForecastSettings, run_forecast, school_totals

    st = YearlySettings(base_year=2026, horizon=2, enrolment=tmp_path / "history.csv",
                        grades=["1", "2"], method="standard")
    y = run_years(res, st)
    proj = school_totals(run_forecast(ForecastSettings(
        enrolment=tmp_path / "history.csv", grades=["1", "2"], base_year=2026, horizon=2,
        method="standard")))
    base = {"S1": 300.0, "S2": 100.0}            # 2026 history totals (2 grades)
    c = y.cells.set_index(["cell", "year"])
    for cell, school, kids in (("a", "S1", 100), ("b", "S1", 50), ("c", "S2", 80)):
        assert c.loc[(cell, 2028), "children"] == pytest.approx(
            kids * proj.loc[school, 2028] / base[school]), cell
    s = y.schools.set_index(["school", "year"])
    assert s.loc[("S1", 2026), "enrolment"] == pytest.approx(300)
    assert s.loc[("S1", 2028), "enrolment"] == pytest.approx(proj.loc["S1", 2028])


# -- scenario --------------------------------------------------------------------------------

SCENARIO = """
title = "small"
[schools]
path = "schools.gpkg"
id = "school"
seats = "seats"
[population]
path = "cells.gpkg"
count = "children"
id = "cell"
[districts]
path = "districts.gpkg"
name = "district"
[network]
euclidean = true
[analysis]
threshold = 1500
max_cost = 4000
assignment_max_cost = 1500
crs = "EPSG:32650"
[outputs]
folder = "out"
map = "map.html"
report = true
[forecast]
base_year = 2026
horizon = 3
[[housing]]
path = "estates.csv"
units = "units"
year = "year"
children_per_unit = 0.1
"""


def _scenario_folder(tmp_path, text=SCENARIO, estates=None):
    cells, schools, districts = _layers()
    write_table(cells, tmp_path / "cells.gpkg")
    write_table(schools, tmp_path / "schools.gpkg")
    write_table(districts, tmp_path / "districts.gpkg")
    (estates if estates is not None else _estate_frame()).to_csv(tmp_path / "estates.csv",
                                                                   index=False)
    (tmp_path / "s.toml").write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path / "s.toml"


def test_scenario_run_equals_the_api(tmp_path):
    toml = _scenario_folder(tmp_path / "scn")
    assert main(["-q", "run", str(toml)]) == 0
    out = tmp_path / "scn" / "out"
    got = pd.read_csv(out / "districts_by_year.csv")
    _, yearly = _api_run(tmp_path)
    want = yearly.districts
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True),
                                  check_dtype=False)
    s = pd.read_csv(out / "schools_by_year.csv", dtype={"school": str})
    pd.testing.assert_frame_equal(s, yearly.schools.reset_index(drop=True), check_dtype=False)
    c = pd.read_parquet(out / "cells_by_year.parquet")
    assert len(c) == 3 * 4 and c["children"].sum() == pytest.approx(
        yearly.cells["children"].sum())
    # the base year of districts_by_year is the run's districts.csv
    base = got.loc[got["year"] == 2026].set_index("district")
    run = pd.read_csv(out / "districts.csv").set_index("district")
    for col in ("children", "seats", "seats_per_child", "shortfall", "children_beyond",
                "share_beyond"):
        np.testing.assert_allclose(base.loc[run.index, col], run[col])
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "Seats per child by district" in report and "First year short of seats" in report
    # no enrolment, births or bands in this scenario: only housing changes the children
    assert "(growth from new housing only)" in report and "growth: —" not in report
    first = pd.read_csv(out / "report_first_shortfall.csv").set_index("district")
    assert first.loc["West", "first_year_short"] == 2026     # 150 children, 120 seats


BAD = [
    ("year text", None, pd.DataFrame({"lon": [119.9], "lat": [30.7], "units": [100],
                                      "year": ["soon"]}), "estates.csv", "'year'"),
    ("no units", None, pd.DataFrame({"lon": [119.9], "lat": [30.7], "dwellings": [100],
                                     "year": [2028]}), "estates.csv",
     "no dwellings column 'units'"),
    ("negative yield", ("children_per_unit = 0.1", "children_per_unit = -0.1"), None, "s.toml",
     "negative"),
    ("base year", ("horizon = 3", 'horizon = 3\nenrolment = "history.csv"\ngrades = ["1", "2"]'),
     None, "history.csv", "base year 2026 is not in the history"),
    ("typo", ("horizon = 3", "horizn = 3"), None, "s.toml", "did you mean 'horizon'"),
    ("housing alone", ("[forecast]\nbase_year = 2026\nhorizon = 3\n", ""), None, "s.toml",
     "[[housing]] needs a [forecast] section"),
    ("horizon", ("horizon = 3", "horizon = 0"), None, "s.toml", "horizon = 0"),
]


@pytest.mark.parametrize("case", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, case):
    name, edit, estates, src, needle = case
    text = SCENARIO if edit is None else SCENARIO.replace(*edit)
    toml = _scenario_folder(tmp_path, text, estates)
    pd.DataFrame({"school": ["S1"] * 4, "year": [2018, 2018, 2019, 2019],
                  "grade": ["1", "2", "1", "2"], "students": [10, 10, 10, 10]}).to_csv(
        tmp_path / "history.csv", index=False)
    assert main(["-q", "run", str(toml)]) == 2, name
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("geoequity: error: "), (name, lines)
    assert src in lines[0] and needle in lines[0], (name, lines[0])
    assert "; " in lines[0], name
    assert not (tmp_path / "out").exists(), name
    assert not (tmp_path / "map.html").exists(), name


def test_demo_forecast_scenario_runs(tmp_path):
    """The synthetic demo county over ten years (data/demo_forecast.toml) completes."""
    out = tmp_path / "out"
    assert main(["-q", "run", str(REPO / "data" / "demo_forecast.toml"), "--out", str(out),
                 "--map", str(tmp_path / "m.html")]) == 0
    d = pd.read_csv(out / "districts_by_year.csv")
    assert sorted(d["year"].unique()) == list(range(2026, 2037))
    run = pd.read_csv(out / "districts.csv").set_index("district")
    base = d.loc[d["year"] == 2026].set_index("district")
    np.testing.assert_allclose(base.loc[run.index, "children"], run["children"])
    # the estates: 70 / 1000 x 3.2 per dwelling x 6,300 dwellings, all complete by 2033
    allrow = d.loc[(d["district"] == "(all)") & (d["year"] == 2036)].iloc[0]
    assert allrow["housing_children"] == pytest.approx(6300 * 3.2 * 0.07)
    # `geoequity map OUTDIR` redraws the same year switch from the folder alone
    again = tmp_path / "again.html"
    assert main(["-q", "map", str(out), "-o", str(again)]) == 0
    run_map, redrawn = _year_payload(tmp_path / "m.html"), _year_payload(again)
    assert redrawn["years"] == run_map["years"] == list(range(2026, 2037))
    for key in ("ids", "values", "geoms"):
        assert redrawn["data"][key] == run_map["data"][key], key
    assert redrawn["layers"] == run_map["layers"] == ["Children by year", "Seat gap by year"]
    # the seat gap the folder carries is each year's access over the base year's seats per
    # child (the (all) row of districts_by_year.csv in 2026)
    c = pd.read_parquet(out / "cells_by_year.parquet")
    fair0 = base.loc["(all)", "seats"] / base.loc["(all)", "children"]
    np.testing.assert_allclose(c["gap"], c["access"] / fair0)


def _year_payload(path: Path) -> dict:
    """The year switch of a map file: its years, the shared year data and the layer names."""
    import json
    import re

    text = path.read_text(encoding="utf-8")
    years = re.findall(r"GEyear\.control\(map_\w+, (\[[0-9, ]*\]), 0, ", text)
    data = re.findall(r"var map_\w+_years = (\{.*?\});\n", text)
    assert len(years) == 1 and len(data) == 1, path
    layers = re.findall(r'GE\.legend\(map_\w+, geoequity_year_layer_\w+, \{"title":"([^"]*)"',
                        text)
    return {"years": json.loads(years[0]), "data": json.loads(data[0]), "layers": layers}


# -- the map's year switch -------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.parametrize("redraw", [False, True], ids=["run map", "geoequity map OUTDIR"])
def test_year_switch_changes_the_drawn_cells(tmp_path, offline_page, redraw):
    toml = _scenario_folder(tmp_path)
    assert main(["-q", "run", str(toml)]) == 0
    html_path = tmp_path / "map.html"
    if redraw:   # the same switch, drawn again from the run's folder alone
        html_path = tmp_path / "again.html"
        assert main(["-q", "map", str(tmp_path / "out"), "-o", str(html_path)]) == 0
    page = offline_page
    page.goto(html_path.as_uri())
    page.wait_for_selector("body[data-ge-ready]", timeout=30_000)
    assert page.get_attribute("body", "data-ge-year") == "2026"
    page.check("text=Children by year >> xpath=preceding-sibling::input")
    cells = page.locator("path.ge-year-children")
    assert cells.count() == 3

    def fills():
        return [cells.nth(i).get_attribute("fill") for i in range(3)]

    before = fills()
    page.screenshot(path=str(tmp_path / "year_2026.png"))
    page.fill(".ge-year-input", "3")
    page.dispatch_event(".ge-year-input", "input")
    assert page.get_attribute("body", "data-ge-year") == "2029"
    assert page.inner_text(".ge-year-label") == "2029"
    assert page.inner_text(".ge-year-title") == "Year 2029"
    assert page.get_attribute(".ge-year-next", "title") == "next year"
    after = fills()
    page.screenshot(path=str(tmp_path / "year_2029.png"))
    # only cell b changes (50 -> 60 children), a and c keep their colours
    assert after[0] == before[0] and after[2] == before[2]
    assert after[1] != before[1]
    assert page.console_errors == [] and page.blocked_requests == []


def test_report_outdir_has_the_years_section(tmp_path):
    """`geoequity report OUTDIR` reads districts_by_year.csv like the run's own report.

    By hand (module docstring): West 150 children / 120 seats in 2026 (short from 2026),
    160 / 120 = 0.75 in 2029; East 80 / 60 (short from 2026), 0.75 in 2029, shortfall 20;
    (all) 240 / 180 in 2029, shortfall 60."""
    toml = _scenario_folder(tmp_path)
    assert main(["-q", "run", str(toml)]) == 0
    out = tmp_path / "out"
    again = tmp_path / "again" / "report.html"
    assert main(["-q", "report", str(out), "-o", str(again)]) == 0
    text = again.read_text(encoding="utf-8")
    assert 'id="years"' in text and "Seats per child by district" in text
    assert "First year short of seats" in text
    first = pd.read_csv(again.parent / "report_first_shortfall.csv").set_index("district")
    assert first["first_year_short"].to_dict() == {"West": 2026, "East": 2026, "(all)": 2026}
    assert first["seats_per_child_last"].to_dict() == pytest.approx(
        {"West": 120 / 160, "East": 60 / 80, "(all)": 180 / 240})
    assert first["shortfall_last"].to_dict() == pytest.approx(
        {"West": 40, "East": 20, "(all)": 60})
    # without the per-year table the section is left out
    (out / "districts_by_year.csv").unlink()
    plain = tmp_path / "plain" / "report.html"
    assert main(["-q", "report", str(out), "-o", str(plain)]) == 0
    assert 'id="years"' not in plain.read_text(encoding="utf-8")
    assert not (plain.parent / "report_first_shortfall.csv").exists()


def test_map_outdir_refuses_an_old_per_year_table(tmp_path, capsys):
    """A cells_by_year.parquet without the gap column: one line, exit 2, no map."""
    toml = _scenario_folder(tmp_path)
    assert main(["-q", "run", str(toml)]) == 0
    path = tmp_path / "out" / "cells_by_year.parquet"
    pd.read_parquet(path).drop(columns="gap").to_parquet(path)
    capsys.readouterr()
    assert main(["-q", "map", str(tmp_path / "out"), "-o", str(tmp_path / "x.html")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("geoequity: error: ")
    assert "cells_by_year.parquet" in lines[0] and "gap" in lines[0]
    assert not (tmp_path / "x.html").exists()


def test_age_bands_aged_forward_by_hand(tmp_path):
    """Bands 0-4 and 5-9 aged into ages 6-9 over two years (see the docstring of yearly).

    Per age: a 10 (0-4) and 10 (5-9); b 0 and 5; c 2 and 0. School-age count A (ages 6-9):
    a 40, 40, 40; b 20, 20, 5 * 3 = 15; c 0 (base) -> the area's ratio 57 / 60 in year 2.
    """
    import rasterio
    from rasterio.transform import from_origin

    def band(path, a, b, c):
        arr = np.zeros((1, 51), dtype="float32")
        arr[0, [0, 20, 50]] = [a, b, c]
        with rasterio.open(path, "w", driver="GTiff", height=1, width=51, count=1,
                           dtype="float32", crs=CRS, transform=from_origin(X0 - 50, Y0 + 50,
                                                                           100, 100)) as dst:
            dst.write(arr, 1)
        return path

    cells, schools, districts = _layers()
    res = analyse(cells, schools, _costs(cells, schools), threshold=1500.0, districts=districts,
                  max_cost=4000.0, assignment_max_cost=1500.0)
    st = YearlySettings(base_year=2026, horizon=2, ages=(6, 9), bands={
        "0-4": band(tmp_path / "b0.tif", 50, 0, 10), "5-9": band(tmp_path / "b5.tif", 50, 25, 0)})
    y = run_years(res, st)
    c = y.cells.set_index(["cell", "year"])["children"]
    assert [c[("a", t)] for t in (2026, 2027, 2028)] == pytest.approx([100, 100, 100])
    assert [c[("b", t)] for t in (2026, 2027, 2028)] == pytest.approx([50, 50, 50 * 15 / 20])
    assert [c[("c", t)] for t in (2026, 2027, 2028)] == pytest.approx([80, 80, 80 * 57 / 60])
    # school ages up to 11 need a 10-14 band
    with pytest.raises(Exception, match="do not cover age"):
        run_years(res, YearlySettings(base_year=2026, horizon=2, ages=(6, 11),
                                      bands=st.bands))


def _band_raster(path, a, b, c):
    """A 1 x 51 raster of 100 m pixels on the cells' row: a at pixel 0, b at 20, c at 50."""
    import rasterio
    from rasterio.transform import Affine

    arr = np.zeros((1, 51), dtype="float32")
    arr[0, [0, 20, 50]] = [a, b, c]
    with rasterio.open(path, "w", driver="GTiff", height=1, width=51, count=1, dtype="float32",
                       crs=CRS, transform=Affine(100, 0, X0 - 50, 0, -100, Y0 + 50)) as dst:
        dst.write(arr, 1)
    return path


def test_age_bands_through_a_scenario_by_hand(tmp_path):
    """`[forecast] bands = {...}, ages = [6, 9]` gives the children of the API, by hand.

    The 0-4 band comes as two rasters to add up (female 20, 0, 4 and male 30, 0, 6 for cells
    a, b, c: 50, 0, 10 as in test_age_bands_aged_forward_by_hand), the 5-9 band as one
    (50, 25, 0). Per age (a band's count over its 5 ages): a 10 and 10, b 0 and 5, c 2 and 0.
    School-age count A (ages 6-9, then 5-8, then 4-7): a 40, 40, 40; b 20, 20, 15; c 0, 0, 2,
    so c (no school-age child in the base year) takes the area's (40 + 15 + 2) / 60 in 2028.
    Children: a 100 x 40 / 40; b 50 x 15 / 20 = 37.5; c 80 x 57 / 60 = 76 in 2028.
    """
    text = SCENARIO.split("[[housing]]")[0].replace(
        "horizon = 3", 'horizon = 2\nages = [6, 9]\n'
        'bands = {"0-4" = ["f0.tif", "m0.tif"], "5-9" = "b5.tif"}')
    toml = _scenario_folder(tmp_path, text)
    _band_raster(tmp_path / "f0.tif", 20, 0, 4)
    _band_raster(tmp_path / "m0.tif", 30, 0, 6)
    _band_raster(tmp_path / "b5.tif", 50, 25, 0)
    assert main(["-q", "run", str(toml)]) == 0
    out = tmp_path / "out"
    got = pd.read_parquet(out / "cells_by_year.parquet").set_index(["cell", "year"])
    hand = {"a": [100, 100, 100], "b": [50, 50, 37.5], "c": [80, 80, 76]}
    for cell, want in hand.items():
        assert [got.loc[(cell, y), "children"] for y in (2026, 2027, 2028)] == \
            pytest.approx(want), cell
    assert (got["housing_children"] == 0).all()
    d = pd.read_csv(out / "districts_by_year.csv").set_index(["district", "year"])
    assert d.loc[("West", 2028), "children"] == pytest.approx(100 + 37.5)
    assert d.loc[("East", 2028), "children"] == pytest.approx(76)
    # the same as the API with the same settings
    cells, schools, districts = _layers()
    res = analyse(cells, schools, _costs(cells, schools), threshold=1500.0, districts=districts,
                  max_cost=4000.0, assignment_max_cost=1500.0)
    api = run_years(res, YearlySettings(base_year=2026, horizon=2, ages=(6, 9), bands={
        "0-4": [tmp_path / "f0.tif", tmp_path / "m0.tif"], "5-9": tmp_path / "b5.tif"}))
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "districts_by_year.csv").reset_index(drop=True),
        api.districts.reset_index(drop=True), check_dtype=False)


def test_year_switch_speaks_the_maps_language(tmp_path):
    """A `lang = "zh"` run's year layers, legends, popup rows and control are Chinese, from
    the map's text table; `geoequity map OUTDIR --lang en` draws them in English again."""
    toml = _scenario_folder(tmp_path, SCENARIO.replace('report = true', 'report = true\n'
                                                       'lang = "zh"'))
    assert main(["-q", "run", str(toml)]) == 0
    zh = (tmp_path / "map.html").read_text(encoding="utf-8")
    for word in ("各年适龄儿童", "各年学位供需比", "所选年份的可达性相对于基准年生均学位",
                 "其中新建住宅带来", '"year":"年份"', '"prev":"上一年"', '"next":"下一年"'):
        assert word in zh, word
    for word in ("Children by year", "Seat gap by year", "of which new housing",
                 "year control", '"Year'):
        assert word not in zh, word
    en_path = tmp_path / "en.html"
    assert main(["-q", "map", str(tmp_path / "out"), "-o", str(en_path), "--lang", "en"]) == 0
    en = en_path.read_text(encoding="utf-8")
    for word in ("Children by year", "Seat gap by year", "of which new housing",
                 '"year":"Year"', '"prev":"previous year"'):
        assert word in en, word
    assert "各年适龄儿童" not in en
