"""Plans over time (geoequity.plans, issue 13 items 1-2): hand-computed values on a tiny
instance, bad input, and the demo's three plans end to end with parity against the run's
district tables.

The tiny instance (metres, straight lines between cell centres and schools; threshold 700,
max_cost 3000)::

    x:       0        1000       2200       3000
    cells:   a (100)  b (200)               c (300)
    schools: A (150)             [N1]       B (200)
    districts: West x < 1500, East x >= 1500; the 2031 proposal: West x < 500, East beyond

Plan "p": opens N1 (100 seats) at x = 2200 in 2028, expands A by 50 in 2029, closes B in 2030
merging its 200 seats into N1 (300), and moves the boundary in 2031 (cell b goes East).
Without a [forecast] the years are 2027 (the year before the first intervention) to 2031.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoequity.cli import main
from geoequity.io.write import write_table

CRS = "EPSG:32650"
X0, Y0 = 500_000.0, 3_400_000.0
REPO = Path(__file__).resolve().parents[1]


def _square(x, half=50.0):
    return shapely.box(X0 + x - half, Y0 - half, X0 + x + half, Y0 + half)


def _districts(split):
    return gpd.GeoDataFrame({"district": ["West", "East"]},
                            geometry=[shapely.box(X0 - 500, Y0 - 500, X0 + split, Y0 + 500),
                                      shapely.box(X0 + split, Y0 - 500, X0 + 3500, Y0 + 500)],
                            crs=CRS)


SCENARIO = """\
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
threshold = 700
max_cost = 3000
crs = "EPSG:32650"
[outputs]
folder = "out"
map = "map.html"
report = false
[plans_costs]
per_seat = 10
per_school = 1000

[[plans]]
name = "p"
[[plans.open]]
id = "N1"
name = "New"
x = 502200
y = 3400000
seats = 100
year = 2028
[[plans.expand]]
school = "A"
seats = 50
year = 2029
[[plans.close]]
school = "B"
year = 2030
merge_into = "N1"
[[plans.boundaries]]
path = "proposal.gpkg"
name_col = "district"
year = 2031
"""


def _folder(tmp_path, text=SCENARIO):
    cells = gpd.GeoDataFrame({"cell": ["a", "b", "c"], "children": [100.0, 200.0, 300.0]},
                             geometry=[_square(0), _square(1000), _square(3000)], crs=CRS)
    schools = gpd.GeoDataFrame({"school": ["A", "B"], "seats": [150.0, 200.0]},
                               geometry=gpd.points_from_xy([X0, X0 + 3000], [Y0, Y0]), crs=CRS)
    tmp_path.mkdir(parents=True, exist_ok=True)
    write_table(cells, tmp_path / "cells.gpkg")
    write_table(schools, tmp_path / "schools.gpkg")
    write_table(_districts(1500), tmp_path / "districts.gpkg")
    write_table(_districts(500), tmp_path / "proposal.gpkg")
    (tmp_path / "s.toml").write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path / "s.toml"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    assert main(["-q", "run", str(_folder(folder))]) == 0
    out = folder / "out"
    return (pd.read_csv(out / "plans_by_year.csv"), pd.read_csv(out / "plans_summary.csv"),
            out)


# plan, year -> district -> (children, seats, shortfall, children_beyond, mean_nearest_cost),
# by hand from the picture above (b's nearest school is A at 1000 m > 700: beyond; from 2030
# c's nearest is N1 at 800 m > 700: beyond too)
HAND = {
    ("(current)", 2027): {"West": (300, 150, 150, 200, 200_000 / 300),
                          "East": (300, 200, 100, 0, 0.0),
                          "(all)": (600, 350, 250, 200, 200_000 / 600)},
    ("p", 2027): {"West": (300, 150, 150, 200, 200_000 / 300), "East": (300, 200, 100, 0, 0.0),
                  "(all)": (600, 350, 250, 200, 200_000 / 600)},
    ("p", 2028): {"West": (300, 150, 150, 200, 200_000 / 300), "East": (300, 300, 0, 0, 0.0),
                  "(all)": (600, 450, 150, 200, 200_000 / 600)},
    ("p", 2029): {"West": (300, 200, 100, 200, 200_000 / 300), "East": (300, 300, 0, 0, 0.0),
                  "(all)": (600, 500, 100, 200, 200_000 / 600)},
    ("p", 2030): {"West": (300, 200, 100, 200, 200_000 / 300), "East": (300, 300, 0, 300, 800.0),
                  "(all)": (600, 500, 100, 500, 440_000 / 600)},
    ("p", 2031): {"West": (100, 200, -100, 0, 0.0),
                  "East": (500, 300, 200, 500, (200 * 1000 + 300 * 800) / 500),
                  "(all)": (600, 500, 100, 500, 440_000 / 600)},
}


def test_tiny_plan_by_year_matches_hand_computation(tiny):
    by_year, _, _ = tiny
    assert list(by_year.columns[:10]) == ["plan", "district", "year", "children", "seats",
                                          "seats_per_child", "shortfall", "children_beyond",
                                          "share_beyond", "mean_nearest_cost"]
    assert by_year["plan"].iloc[0] == "(current)"
    assert sorted(by_year["year"].unique()) == [2027, 2028, 2029, 2030, 2031]
    t = by_year.set_index(["plan", "year", "district"])
    for (plan, year), rows in HAND.items():
        for district, (kids, seats, short, beyond, cost) in rows.items():
            r = t.loc[(plan, year, district)]
            got = (r["children"], r["seats"], r["shortfall"], r["children_beyond"],
                   r["mean_nearest_cost"])
            np.testing.assert_allclose(got, (kids, seats, short, beyond, cost), rtol=1e-9,
                                       err_msg=f"{plan} {year} {district}")
            assert r["seats_per_child"] == pytest.approx(seats / kids)
            assert r["share_beyond"] == pytest.approx(beyond / kids)
    # the current state does not change over the years (no forecast: the run's children)
    cur = t.loc["(current)"]
    assert (cur.xs("(all)", level="district")["shortfall"] == 250).all()


def test_tiny_plan_summary_matches_hand_computation(tiny):
    _, summary, _ = tiny
    assert list(summary.columns) == [
        "plan", "years", "shortfall_years", "child_years_beyond", "worst_district",
        "worst_year", "worst_seats_per_child", "gini_access", "theil_access", "balance_pass",
        "children_moved", "new_schools", "new_seats", "closed_schools", "cost"]
    s = summary.set_index("plan")
    assert list(s.index) == ["(current)", "p"]
    cur, p = s.loc["(current)"], s.loc["p"]
    # positive shortfall per district-year: current 150 + 100 each year; p 250, 150, 100,
    # 100, 200 (2031: East 500 - 300)
    assert cur["shortfall_years"] == pytest.approx(5 * 250)
    assert p["shortfall_years"] == pytest.approx(250 + 150 + 100 + 100 + 200)
    assert cur["child_years_beyond"] == pytest.approx(5 * 200)
    assert p["child_years_beyond"] == pytest.approx(200 * 3 + 500 * 2)
    # the worst district-year: West in 2027, 150 seats for 300 children
    assert (p["worst_district"], p["worst_year"]) == ("West", 2027)
    assert p["worst_seats_per_child"] == pytest.approx(0.5)
    assert p["children_moved"] == pytest.approx(200)    # cell b, West -> East in 2031
    assert cur["children_moved"] == 0
    assert (p["new_schools"], p["new_seats"], p["closed_schools"]) == (1, 150, 1)
    assert p["cost"] == pytest.approx(10 * 150 + 1000)   # per seat x 150 + per school x 1
    assert cur["cost"] == 0 and p["years"] == 5
    assert pd.isna(p["balance_pass"])   # no school resources in the tiny schools


def test_tiny_access_inequality_is_of_the_plans_cells(tiny):
    """2SFCA by hand for (current): A's catchment within 700 m holds cell a (100 children),
    B's cell c (300): a gets 150/100 = 1.5, c 200/300, b (nothing within 700 m) no access.
    Gini of (1.5 x 100, 2/3 x 300) over the 5 years: two groups, by the mean-difference form."""
    _, summary, _ = tiny
    y = np.array([1.5, 2 / 3])
    w = np.array([100.0, 300.0])
    mu = (y * w).sum() / w.sum()
    g = (w[:, None] * w[None, :] * np.abs(y[:, None] - y[None, :])).sum() / (2 * w.sum() ** 2
                                                                             * mu)
    t = (w * (y / mu) * np.log(y / mu)).sum() / w.sum()
    s = summary.set_index("plan")
    assert s.loc["(current)", "gini_access"] == pytest.approx(g)
    assert s.loc["(current)", "theil_access"] == pytest.approx(t)


def test_api_results_carry_the_plans(tmp_path):
    from geoequity.scenario import run_scenario

    res = run_scenario(_folder(tmp_path))
    assert res.plans is not None
    assert list(res.plans.summary["plan"]) == ["(current)", "p"]
    got = pd.read_csv(tmp_path / "out" / "plans_by_year.csv")
    assert len(got) == len(res.plans.by_year)
    manifest = (tmp_path / "out" / ".geoequity" / "current" / "manifest.json").read_text()
    assert "plans_by_year.csv" in manifest and "plans_summary.csv" in manifest


def test_plan_compare_reads_the_written_tables_back(tiny):
    """The contract with geoequity compare / map / report: their reader takes the run's
    tables as written, and their summary rule gives the run's by-year measures."""
    from geoequity.plan_compare import read_plans, summarise

    by_year, summary, out = tiny
    got = read_plans(out)
    pd.testing.assert_frame_equal(got.by_year.reset_index(drop=True),
                                  by_year[got.by_year.columns], check_dtype=False)
    again = summarise(by_year).set_index("plan")
    s = summary.set_index("plan")
    for col in ("shortfall_years", "child_years_beyond", "worst_seats_per_child"):
        np.testing.assert_allclose(again[col], s[col])


def test_api_without_scenario(tmp_path):
    """evaluate_plans on analyse's Results; the new school's costs from a CostSource."""
    from geoequity.costs import CostSource, cost_table
    from geoequity.pipeline import analyse
    from geoequity.plans import Close, Expand, Open, Plan, evaluate_plans

    cells = gpd.GeoDataFrame({"children": [100.0, 200.0, 300.0]},
                             geometry=[_square(0), _square(1000), _square(3000)], crs=CRS,
                             index=pd.Index(["a", "b", "c"]))
    schools = gpd.GeoDataFrame({"seats": [150.0, 200.0]}, geometry=gpd.points_from_xy(
        [X0, X0 + 3000], [Y0, Y0]), crs=CRS, index=pd.Index(["A", "B"]))
    src = CostSource(kind="euclidean")
    res = analyse(cells, schools, cost_table(src, cells, schools, max_cost=3000.0),
                  threshold=700.0, districts=_districts(1500), max_cost=3000.0, urban_col=None)
    plan = Plan("p", open=(Open("N1", 100, 2028, x=X0 + 2200, y=Y0),),
                expand=(Expand("A", 50, 2029),), close=(Close("B", 2030, "N1"),))
    out = evaluate_plans(res, [plan], costs=src)
    t = out.by_year.set_index(["plan", "year", "district"])
    assert t.loc[("p", 2030, "East"), "seats"] == 300
    assert t.loc[("p", 2030, "(all)"), "children_beyond"] == 500
    assert out.summary["cost"].isna().all()   # no unit costs given
    assert list(out.years) == [2027, 2028, 2029, 2030]


BAD = [
    ("unknown school", ('school = "A"', 'school = "Z"'), "'Z' is not a school of the run"),
    ("unknown merge", ('merge_into = "N1"', 'merge_into = "Q"'), "merge_into = 'Q'"),
    ("existing id", ('id = "N1"', 'id = "A"'), "id = 'A' is a school of the run already"),
    ("closed twice", ('merge_into = "N1"\n', 'merge_into = "N1"\n[[plans.close]]\n'
                      'school = "B"\nyear = 2031\n'), "closed twice"),
    ("expand closed", ('school = "A"\nseats = 50\nyear = 2029',
                       'school = "B"\nseats = 50\nyear = 2031'), "already closed in 2030"),
    ("two names", ('[[plans]]\nname = "p"\n', '[[plans]]\nname = "p"\n[[plans]]\nname = "P"\n'),
     "both named"),
    ("year outside", ("year = 2029", "year = 2040"), "outside the forecast years 2027-2031"),
    ("typo", ("merge_into", "merge_to"), "did you mean 'merge_into'"),
    ("no place", ("x = 502200\ny = 3400000\n", ""), "needs lon and lat, or x and y"),
    ("current", ('name = "p"', 'name = "(current)"'), "name of the current state"),
    # lon given as x (or x/y in the wrong CRS): the school would add seats to (all) and to no
    # district, serving nobody
    ("outside", ("x = 502200", "x = 119.8"), "id = 'N1' lies outside every district"),
]
FORECAST = "[forecast]\nbase_year = 2027\nhorizon = 4\n"


@pytest.mark.parametrize("case", BAD, ids=[b[0] for b in BAD])
def test_bad_plans_one_line_exit_2_nothing_written(tmp_path, capsys, case):
    name, edit, needle = case
    text = SCENARIO.replace(*edit) + (FORECAST if name == "year outside" else "")
    toml = _folder(tmp_path, text)
    assert main(["-q", "run", str(toml)]) == 2, name
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("geoequity: error: "), (name, lines)
    assert "s.toml" in lines[0] and needle in lines[0], (name, lines[0])
    if name not in ("two names", "typo", "current"):
        assert "[[plans]] 'p'" in lines[0], lines[0]   # the plan is named
    assert not (tmp_path / "out").exists(), name
    assert not (tmp_path / "map.html").exists(), name


def test_demo_plans_end_to_end_with_parity(tmp_path):
    """The demo's three plans over 2026-2036; (current) equals the run's district tables."""
    out = tmp_path / "out"
    assert main(["-q", "run", str(REPO / "data" / "demo_plans.toml"), "--out", str(out),
                 "--map", str(tmp_path / "m.html")]) == 0
    by_year = pd.read_csv(out / "plans_by_year.csv")
    summary = pd.read_csv(out / "plans_summary.csv")
    assert list(summary["plan"]) == ["(current)", "new Dongxin school",
                                     "expand Dongxin schools", "close Old Town Central"]
    assert set(by_year["year"]) == set(range(2026, 2037))
    cols = ["children", "seats", "seats_per_child", "shortfall", "children_beyond",
            "share_beyond", "mean_nearest_cost"]
    cur = by_year[by_year["plan"] == "(current)"].drop(columns="plan")
    yearly = pd.read_csv(out / "districts_by_year.csv")
    m = cur.merge(yearly, on=["district", "year"], suffixes=("", "_y"))
    assert len(m) == len(cur) == len(yearly)
    for c in cols:
        np.testing.assert_allclose(m[c], m[c + "_y"], rtol=1e-9, err_msg=c)
    base = cur[cur["year"] == 2026].set_index("district")
    run = pd.read_csv(out / "districts.csv").set_index("district")
    for c in cols:
        np.testing.assert_allclose(base.loc[run.index, c], run[c], rtol=1e-9, err_msg=c)
    t = by_year.set_index(["plan", "year", "district"])
    # the new school adds its 1,080 seats to Dongxin (1,620) from 2028, not before
    assert t.loc[("new Dongxin school", 2027, "Dongxin"), "seats"] == 1620
    assert t.loc[("new Dongxin school", 2028, "Dongxin"), "seats"] == 1620 + 1080
    # the expansions add 540 + 360 seats from 2027
    assert t.loc[("expand Dongxin schools", 2027, "Dongxin"), "seats"] == 1620 + 900
    # the closure moves Old Town Central's 2,400 seats to Chengguan No.1: Chengguan keeps its
    # seats and loses a school
    for y in (2028, 2029):
        assert t.loc[("close Old Town Central", y, "Chengguan"), "seats"] == \
            t.loc[("(current)", y, "Chengguan"), "seats"]
    assert t.loc[("close Old Town Central", 2029, "Chengguan"), "schools"] == \
        t.loc[("(current)", 2029, "Chengguan"), "schools"] - 1
    # plans_schools.csv, by hand from data/demo_plans.toml (and data/demo/schools.csv for the
    # places of the run's schools P07, P08, P02)
    sch = pd.read_csv(out / "plans_schools.csv", dtype={"merge_into": str})
    assert list(sch.columns) == ["plan", "action", "school", "name", "year", "seats",
                                 "merge_into", "lon", "lat"]
    rows = [tuple(r) for r in sch[["plan", "action", "school", "name", "year", "seats"]]
            .itertuples(index=False)]
    assert rows == [("new Dongxin school", "open", "N1", "Dongxin No.3 Primary", 2028, 1080),
                    ("expand Dongxin schools", "expand", "P07", "Dongxin Primary", 2027, 540),
                    ("expand Dongxin schools", "expand", "P08", "Dongxin Village Primary",
                     2027, 360),
                    ("close Old Town Central", "close", "P02", "Old Town Central Primary",
                     2029, -2400)]
    assert sch["merge_into"].fillna("").tolist() == ["", "", "", "P01"]
    np.testing.assert_allclose(sch["lon"], [119.8300, 119.8224313, 119.8336449, 119.7631522],
                               atol=1e-7)
    np.testing.assert_allclose(sch["lat"], [30.5010, 30.4983797, 30.4900196, 30.4829658],
                               atol=1e-7)
    s = summary.set_index("plan")
    # the current state's school-resource balance is the report's (one rule: auto_balance)
    report = pd.read_csv(out / "report_balance_summary.csv", encoding="utf-8-sig")
    assert bool(s.loc["(current)", "balance_pass"]) == bool(report["passed"].all())
    assert s.loc["new Dongxin school", "cost"] == 40000 * 1080 + 30_000_000
    assert s.loc["expand Dongxin schools", "cost"] == 40000 * 900
    # the children never change with the plan (no plan housing): the same every year
    for plan in s.index[1:]:
        np.testing.assert_allclose(
            by_year.loc[by_year["plan"] == plan, "children"].to_numpy(),
            by_year.loc[by_year["plan"] == "(current)", "children"].to_numpy())


def test_plan_housing_adds_to_that_plan_only(tmp_path):
    """[[plans.housing]]: 100 dwellings x 0.5 children in cell c from 2029 (with [forecast]:
    no growth source, so only housing changes the children); (current) keeps 300 in c."""
    pt = gpd.GeoSeries(gpd.points_from_xy([X0 + 3000], [Y0]), crs=CRS).to_crs(4326)
    pd.DataFrame({"lon": [pt.x[0]], "lat": [pt.y[0]], "units": [100], "year": [2029]}).to_csv(
        tmp_path / "estates.csv", index=False)
    text = SCENARIO + FORECAST + ('[[plans]]\nname = "housing"\n[[plans.housing]]\n'
                                  'path = "estates.csv"\nunits = "units"\nyear = "year"\n'
                                  "children_per_unit = 0.5\n")
    assert main(["-q", "run", str(_folder(tmp_path, text))]) == 0
    t = pd.read_csv(tmp_path / "out" / "plans_by_year.csv").set_index(
        ["plan", "year", "district"])
    assert t.loc[("housing", 2028, "East"), "children"] == pytest.approx(300)
    for y in (2029, 2030, 2031):
        assert t.loc[("housing", y, "East"), "children"] == pytest.approx(350)
        assert t.loc[("housing", y, "East"), "shortfall"] == pytest.approx(150)   # 200 seats
        assert t.loc[("(current)", y, "East"), "children"] == pytest.approx(300)


def test_open_of_another_level_is_refused(tmp_path, capsys):
    text = SCENARIO.replace("crs = \"EPSG:32650\"", "crs = \"EPSG:32650\"\nlevel = \"primary\"")
    text = text.replace("seats = 100\nyear = 2028", 'seats = 100\nlevel = "junior"\nyear = 2028')
    assert main(["-q", "run", str(_folder(tmp_path, text))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "[[plans]] 'p' [[plans.open]] id = 'N1'" in err[0], err
    assert "does not serve the run's level 'primary'" in err[0]
    assert not (tmp_path / "out").exists()


def test_boundary_years_have_no_empty_outside_row(tmp_path):
    """A proposal with a hole at x = 2200, from 2029; the plan opens N1 there only in 2030.
    2029: nothing lies outside the proposal (N1 not yet open), so no (outside) row, as in the
    run's own table; 2030 on: N1 (100 seats + B's 200 merged) is outside: the row is there."""
    text = SCENARIO.replace("year = 2028", "year = 2030").replace("year = 2031", "year = 2029")
    toml = _folder(tmp_path, text)
    holey = _districts(500)
    holey.loc[1, "geometry"] = holey.geometry[1].difference(_square(2200))
    write_table(holey, tmp_path / "proposal.gpkg")
    assert main(["-q", "run", str(toml)]) == 0
    t = pd.read_csv(tmp_path / "out" / "plans_by_year.csv")
    p = t[t["plan"] == "p"]
    assert sorted(p["year"].unique()) == [2028, 2029, 2030]
    assert p.loc[p["year"] == 2029, "district"].tolist() == ["West", "East", "(all)"]
    assert p.loc[p["year"] == 2030, "district"].tolist() == ["West", "East", "(outside)",
                                                             "(all)"]
    out = p[(p["year"] == 2030) & (p["district"] == "(outside)")].iloc[0]
    assert (out["children"], out["seats"], out["schools"]) == (0, 300, 1)
    assert "(outside)" not in set(t.loc[t["plan"] == "(current)", "district"])


def test_boundary_file_error_names_the_scenario_plan_and_key(tmp_path, capsys):
    toml = _folder(tmp_path, SCENARIO.replace('path = "proposal.gpkg"', 'path = "nope.gpkg"'))
    assert main(["-q", "run", str(toml)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"geoequity: error: {toml}: [[plans]] 'p' [[plans.boundaries]] "
                             f"path {tmp_path / 'nope.gpkg'}: does not exist"), err[0]
    assert not (tmp_path / "out").exists()


def test_school_of_another_level_is_named_so(tmp_path, capsys):
    """A primary run: J (junior) is read but left out; a plan expanding it is told so."""
    text = SCENARIO.replace('seats = "seats"\n', 'seats = "seats"\nlevel = "level"\n', 1)
    text = text.replace('crs = "EPSG:32650"', 'crs = "EPSG:32650"\nlevel = "primary"')
    text = text.replace('school = "A"\nseats = 50', 'school = "J"\nseats = 50')
    toml = _folder(tmp_path, text)
    schools = gpd.GeoDataFrame({"school": ["A", "B", "J"], "seats": [150.0, 200.0, 90.0],
                                "level": ["primary", "primary", "junior"]},
                               geometry=gpd.points_from_xy([X0, X0 + 3000, X0 + 1000],
                                                           [Y0, Y0, Y0]), crs=CRS)
    write_table(schools, tmp_path / "schools.gpkg")
    assert main(["-q", "run", str(toml)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "[[plans]] 'p' [[plans.expand]] school = 'J' is a school of another level " \
           "(junior)" in err[0], err[0]
    assert "not a school of the run" not in err[0]
    assert 'level is junior' in err[0] and "one of A, B" in err[0]
    assert not (tmp_path / "out").exists()
