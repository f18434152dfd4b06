"""One question, one answer: school levels through the API, the CLI and a scenario, and the
district of a point.

The layout is a straight line (projected metres, straight-line costs), so 2SFCA can be
computed by hand here: every path must give the same per-cell access, equal to that
independent computation with the documented seats-per-level rule (a nine-year school of 900
seats gives 600 seats to primary, 300 to junior; a twelve-year school 6/12 and 3/12).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box

import geoequity as ge
from geoequity import InputError
from geoequity.cli import main
from geoequity.districts import resolve_districts
from geoequity.io import district_of
from geoequity.level_names import canonical_label, parse_levels

CRS = 32650
X0, Y0 = 500_000.0, 3_400_000.0          # inside UTM zone 50: the readers keep the CRS
THRESHOLD = 1000.0

# cells on a line, 700 m apart
CELL_X = [0, 700, 1400, 2100, 2800, 3500, 4200, 4900, 5600, 6300, 9000]
KIDS = [120, 80, 200, 60, 150, 90, 300, 40, 110, 70, 50]
# (id, level label as planners write it, x, seats)
SCHOOLS = [
    ("N", "九年一贯制", 50, 900),            # nine-year: 600 primary, 300 junior
    ("K", "幼儿园", 800, 100),               # kindergarten: in neither level
    ("P", "小学", 1450, 300),
    ("J", "Junior Middle School", 2250, 500),
    ("E", "Primary School", 3050, 240),
    ("C", "小学;初中", 4450, 450),           # both compulsory levels: 300 primary, 150 junior
    ("J2", "初中", 5150, 400),
    ("T", "十二年一贯制", 6050, 1200),        # twelve-year: 600 primary, 300 junior, 300 senior
]
# seats per level, split by hand (grades 1-6 primary, 7-9 junior, 10-12 senior)
BY_HAND = {
    "primary": {"N": 600, "P": 300, "E": 240, "C": 300, "T": 600},
    "junior": {"N": 300, "J": 500, "C": 150, "J2": 400, "T": 300},
}


def _expected(level: str) -> pd.Series:
    """2SFCA by hand: R_j = S_j / children within T of j; A_i = sum of R_j within T of i."""
    seats = BY_HAND[level]
    sx = {sid: x for sid, _, x, _ in SCHOOLS}
    cx, kids = np.array(CELL_X, float), np.array(KIDS, float)
    access = np.zeros(len(cx))
    reached = np.zeros(len(cx), bool)
    for sid, s in seats.items():
        near = np.abs(cx - sx[sid]) <= THRESHOLD
        access[near] += s / kids[near].sum()
        reached |= near
    return pd.Series(np.where(reached, access, np.nan), index=[f"c{i}" for i in range(len(cx))])


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    d = tmp_path_factory.mktemp("parity")
    cells = gpd.GeoDataFrame({"cid": [f"c{i}" for i in range(len(CELL_X))], "kids": KIDS},
                             geometry=[Point(X0 + x, Y0) for x in CELL_X], crs=CRS)
    schools = gpd.GeoDataFrame(
        {"sid": [s[0] for s in SCHOOLS], "level": [s[1] for s in SCHOOLS],
         "seats": [s[3] for s in SCHOOLS]},
        geometry=[Point(X0 + s[2], Y0) for s in SCHOOLS], crs=CRS)
    cells.to_file(d / "cells.gpkg")
    schools.to_file(d / "schools.gpkg")
    return d


def _api(d, level: str) -> pd.Series:
    cells = ge.read_population(d / "cells.gpkg", id_col="cid", count_col="kids")
    schools = ge.read_schools(d / "schools.gpkg", id_col="sid", seats_col="seats",
                              level_col="level")
    seats = ge.level_supply(schools, level)
    costs = ge.euclidean_costs(cells, schools.loc[seats.index], max_cost=THRESHOLD)
    return ge.accessibility(costs, cells["children"], seats, method="2sfca",
                            threshold=THRESHOLD)


def _cli(d, level: str) -> pd.Series:
    out = d / f"cli_{level}.csv"
    rc = main(["-q", "access", "--demand", str(d / "cells.gpkg"), "--demand-id", "cid",
               "--demand-col", "kids", "--supply", str(d / "schools.gpkg"), "--supply-id", "sid",
               "--supply-col", "seats", "--euclidean", "--method", "2sfca",
               "--threshold", str(THRESHOLD), "--level", level, "-o", str(out)])
    assert rc == 0
    return pd.read_csv(out, dtype={"cid": str}).set_index("cid")["access"]


SCENARIO = """
title = "parity"
[schools]
path = "schools.gpkg"
id = "sid"
seats = "seats"
level = "level"
[population]
path = "cells.gpkg"
id = "cid"
count = "kids"
[network]
euclidean = true
[analysis]
level = "{level}"
threshold = {threshold}
method = "2sfca"
assignment = false
[outputs]
folder = "out_{tag}"
map = "map_{tag}.html"
report = false
"""


def _scenario(d, level: str, tag: str) -> tuple[pd.Series, pd.Series]:
    path = d / f"{tag}.toml"
    path.write_text(SCENARIO.format(level=level, threshold=THRESHOLD, tag=tag), encoding="utf-8")
    ge.run_scenario(path)
    cells = pd.read_csv(d / f"out_{tag}" / "cells.csv", dtype={"cid": str}).set_index("cid")
    schools = pd.read_csv(d / f"out_{tag}" / "schools.csv", dtype={"sid": str}).set_index("sid")
    return cells["access"], schools["seats"]


@pytest.mark.parametrize(("level", "cli_name", "toml_name"),
                         [("primary", "primary", "小学"), ("junior", "初中", "junior")])
def test_api_cli_and_scenario_give_the_hand_computed_access(layout, level, cli_name,
                                                            toml_name):
    expected = _expected(level)
    # the seats rule itself, on the raw labels and on read_schools' labels
    raw = pd.DataFrame({"seats": [float(s[3]) for s in SCHOOLS],
                        "level": [s[1] for s in SCHOOLS]}, index=[s[0] for s in SCHOOLS])
    assert ge.level_supply(raw, level).to_dict() == BY_HAND[level]
    api = _api(layout, level)
    cli = _cli(layout, cli_name)
    scen, seats = _scenario(layout, toml_name, level)
    assert seats.to_dict() == BY_HAND[level]
    for got in (api, cli, scen):
        got = got.reindex(expected.index)
        assert got.isna().tolist() == expected.isna().tolist()   # c10 reaches no school
        # CSV tables keep 10 significant digits (geoequity.io.write.round_significant)
        np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-9)


def test_one_vocabulary_for_labels():
    assert parse_levels("九年一贯制") == parse_levels("小学;初中") == parse_levels("primary, junior") \
        == parse_levels("Nine-Year") == {"primary", "junior"}
    assert parse_levels("小学、初中") == parse_levels("小学 初中") == {"primary", "junior"}
    assert parse_levels("十二年一贯制") == {"primary", "junior", "senior"}
    assert parse_levels("完全中学") == {"junior", "senior"}
    assert parse_levels("Junior_Secondary") == parse_levels("初中") == {"junior"}
    assert parse_levels(None) == parse_levels("") == {"all"}
    assert [canonical_label(v) for v in ("小学;初中", "高中", "Twelve-Year", "Vocational")] == [
        "combined", "senior", "twelve_year", "vocational"]
    # balance recognises the same combined schools
    from geoequity.balance import normalise_level
    assert [normalise_level(v) for v in ("小学;初中", "九年一贯制", "初中", "高中")] == [
        "combined", "combined", "junior", None]


def test_unknown_level_is_one_line_naming_the_known_levels(layout, capsys):
    rc = main(["-q", "access", "--demand", str(layout / "cells.gpkg"), "--demand-col", "kids",
               "--supply", str(layout / "schools.gpkg"), "--supply-col", "seats",
               "--euclidean", "--method", "2sfca", "--level", "nosuchlevel",
               "-o", str(layout / "x.csv")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "nosuchlevel" in err and "kindergarten, primary, junior, senior" in err
    path = layout / "bad.toml"
    path.write_text(SCENARIO.format(level="university", threshold=THRESHOLD, tag="bad"),
                    encoding="utf-8")
    with pytest.raises(InputError, match="unknown level 'university'.*primary, junior"):
        ge.run_scenario(path)


def test_district_of_uses_the_representative_point_and_one_boundary_rule():
    # an L-shaped cell: its centroid (1.1, 1.1) lies outside it, in district A
    cell = shapely.union(box(0, 0, 3, 1), box(0, 0, 1, 3))
    centroid = shapely.centroid(cell)
    assert (centroid.x, centroid.y) == pytest.approx((1.1, 1.1)) and not cell.contains(centroid)
    a = box(1.05, 1.05, 5, 5)
    b = box(-1, -1, 5, 5).difference(a)       # concave: wraps A; holds the whole L cell
    districts = gpd.GeoDataFrame({"district": ["A", "B"]}, geometry=[a, b], crs=CRS)
    cells = gpd.GeoDataFrame({"children": [10.0]}, geometry=[cell], index=["L"], crs=CRS)
    assert district_of(cells, districts).to_dict() == {"L": "B"}
    # districts evaluate finds the same district (it used plain centroids: A)
    schools = gpd.GeoDataFrame({"seats": [5.0]}, geometry=[Point(0.5, 0.5)], index=["s"],
                               crs=CRS)
    member = resolve_districts(cells, schools, districts)
    assert member.cell.to_dict() == {"L": "B"} and member.school.to_dict() == {"s": "B"}

    # points: on the shared boundary x = 10 -> the first district of the layer; on the outer
    # boundary -> inside; beyond every district -> (outside)
    west_east = gpd.GeoDataFrame({"district": ["West", "East"]},
                                 geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10)], crs=CRS)
    pts = gpd.GeoDataFrame(geometry=[Point(10, 5), Point(0, 5), Point(30, 5), Point(15, 5)],
                           index=["edge", "rim", "far", "east"], crs=CRS)
    assert district_of(pts, west_east).tolist() == ["West", "West", "(outside)", "East"]
    assert district_of(pts, west_east.iloc[::-1]).tolist() == ["East", "West", "(outside)",
                                                               "East"]
    assert district_of(pts, west_east, outside=None)["far"] is None


def test_a_level_column_of_another_name_is_read_by_every_door(layout):
    # review: `access --level` could not name the level column, so a column called 学段 was
    # ignored and every school (junior ones too) counted all its seats. --supply-level names
    # it, as [schools] level does in a scenario.
    d = layout / "xueduan"
    d.mkdir(exist_ok=True)
    schools = gpd.read_file(layout / "schools.gpkg").rename(columns={"level": "学段"})
    schools.to_file(d / "schools.gpkg")
    gpd.read_file(layout / "cells.gpkg").to_file(d / "cells.gpkg")
    expected = _expected("primary")
    out = d / "cli.csv"
    assert main(["-q", "access", "--demand", str(d / "cells.gpkg"), "--demand-id", "cid",
                 "--demand-col", "kids", "--supply", str(d / "schools.gpkg"), "--supply-id",
                 "sid", "--supply-col", "seats", "--supply-level", "学段", "--euclidean",
                 "--method", "2sfca", "--threshold", str(THRESHOLD), "--level", "primary",
                 "-o", str(out)]) == 0
    cli = pd.read_csv(out, dtype={"cid": str}).set_index("cid")["access"]
    (d / "s.toml").write_text(SCENARIO.replace('level = "level"', 'level = "学段"').format(
        level="primary", threshold=THRESHOLD, tag="xd"), encoding="utf-8")
    ge.run_scenario(d / "s.toml")
    scen = pd.read_csv(d / "out_xd" / "cells.csv", dtype={"cid": str}).set_index("cid")
    for got in (cli, scen["access"]):
        got = got.reindex(expected.index)
        assert got.isna().tolist() == expected.isna().tolist()
        # CSV tables keep 10 significant digits (geoequity.io.write.round_significant)
        np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-9)


def test_a_preset_radius_in_metres_is_refused_for_minutes(layout, capsys):
    # review: GB50180-2018's 500 m was taken as 500 minutes with --unit min / unit = "min"
    rc = main(["-q", "access", "--demand", str(layout / "cells.gpkg"), "--demand-col", "kids",
               "--supply", str(layout / "schools.gpkg"), "--supply-col", "seats",
               "--euclidean", "--unit", "min", "--method", "2sfca", "--level", "primary",
               "-o", str(layout / "x.csv")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "500 m" in err and "'min'" in err
    assert not (layout / "x.csv").exists()
    path = layout / "preset_min.toml"
    path.write_text(SCENARIO.format(level="primary", threshold=THRESHOLD, tag="pm").replace(
        f"threshold = {THRESHOLD}", 'preset = "GB50180-2018"\nunit = "min"'), encoding="utf-8")
    with pytest.raises(InputError, match="500 m for 'primary'.*'min'"):
        ge.load_scenario(path)
    # in metres the preset still gives its radius
    path.write_text(path.read_text(encoding="utf-8").replace('unit = "min"', 'unit = "m"'),
                    encoding="utf-8")
    assert ge.load_scenario(path).analysis["threshold"] == 500.0


@pytest.mark.parametrize(("level", "by_hand"), [("小学", {"West": 900.0, "East": 1140.0}),
                                               ("junior", {"West": 800.0, "East": 850.0})])
def test_districts_take_the_level_as_access_and_a_scenario_do(layout, level, by_hand):
    # review: geoequity districts had no --level, so a nine-year school counted all its seats
    # where a scenario with [analysis] level counts 6/9 (primary) or 3/9 (junior).
    # West holds N, K, P, J (x < 3000 m), East the rest; seats per level as in BY_HAND.
    d = layout / f"districts_{by_hand['West']:g}"
    d.mkdir(exist_ok=True)
    gpd.GeoDataFrame({"district": ["West", "East"]},
                     geometry=[box(X0 - 500, Y0 - 500, X0 + 3000, Y0 + 500),
                               box(X0 + 3000, Y0 - 500, X0 + 9500, Y0 + 500)],
                     crs=CRS).to_file(d / "districts.gpkg")
    out = d / "evaluate.csv"
    assert main(["-q", "districts", "evaluate", "--cells", str(layout / "cells.gpkg"),
                 "--cell-id", "cid", "--children", "kids", "--schools",
                 str(layout / "schools.gpkg"), "--school-id", "sid", "--seats", "seats",
                 "--level", level, "--districts", str(d / "districts.gpkg"),
                 "--euclidean", "--threshold", str(THRESHOLD), "-o", str(out)]) == 0
    cli = pd.read_csv(out).set_index("district")["seats"]
    assert cli.to_dict() == by_hand
    tag = f"d{by_hand['West']:g}"
    toml = SCENARIO.format(level=level, threshold=THRESHOLD, tag=tag).replace(
        "[network]", f'[districts]\npath = "{d.name}/districts.gpkg"\nname = "district"\n'
                     "[network]")
    (layout / f"{tag}.toml").write_text(toml, encoding="utf-8")
    ge.run_scenario(layout / f"{tag}.toml")
    scen = pd.read_csv(layout / f"out_{tag}" / "districts.csv").set_index("district")["seats"]
    assert scen.drop("(all)").to_dict() == by_hand


def test_site_takes_the_level_and_child_share_as_access_does(layout):
    """Issue #15 review O4: ``geoequity site --level`` keeps the existing schools serving the
    level (schools_for_level, the rule of access and a scenario) and ``--child-share`` scales
    the demand as ``read_population`` does. By hand (threshold 1000 m, one new site): every
    school as existing covers all cells but c10 (x 9000, 50 children), so the candidate at
    9000 wins with 50 children; only the kindergarten K (x 800) as existing leaves c3..c10
    uncovered, and the candidate at 3500 covers c4, c5, c6 (150 + 90 + 300 = 540 children)."""
    cands = gpd.GeoDataFrame({"cand": ["X3500", "X9000"]},
                             geometry=[Point(X0 + 3500, Y0), Point(X0 + 9000, Y0)], crs=CRS)
    cands.to_file(layout / "cands.gpkg")

    def cli(*flags):
        out = layout / "site.csv"
        assert main(["-q", "site", "--demand", str(layout / "cells.gpkg"), "--demand-id", "cid",
                     "--demand-col", "kids", "--candidates", str(layout / "cands.gpkg"),
                     "--candidate-id", "cand", "--existing", str(layout / "schools.gpkg"),
                     "--existing-id", "sid", "--euclidean", "--problem", "mclp", "--p", "1",
                     "--threshold", str(THRESHOLD), *flags, "-o", str(out)]) == 0
        t = pd.read_csv(out)
        return t["site"].tolist(), t["children_newly_covered"].tolist()

    assert cli() == (["X9000"], [50.0])
    assert cli("--level", "kindergarten") == (["X3500"], [540.0])
    assert cli("--level", "幼儿园", "--supply-level", "level") == (["X3500"], [540.0])
    assert cli("--level", "kindergarten", "--child-share", "0.5") == (["X3500"], [270.0])
    # the API with the same rule (level_supply) gives the same answer
    cells = ge.read_population(layout / "cells.gpkg", id_col="cid", count_col="kids")
    schools = ge.read_schools(layout / "schools.gpkg", id_col="sid", seats_col="seats")
    kept = list(ge.level_supply(schools, "kindergarten").index)
    assert kept == ["K"]
    cand = ge.read_points(layout / "cands.gpkg", id_col="cand")
    dests = pd.concat([cand[["geometry"]], schools.loc[kept, ["geometry"]].to_crs(cand.crs)])
    costs = ge.cost_table(ge.CostSource(), cells, gpd.GeoDataFrame(dests, crs=cand.crs),
                          max_cost=THRESHOLD)
    res = ge.site_schools(costs, cells["children"], list(cand.index), problem="mclp", p=1,
                          threshold=THRESHOLD, existing=kept)
    assert list(res.chosen) == ["X3500"]
    assert res.sites["children_newly_covered"].tolist() == [540.0]
