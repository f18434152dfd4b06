"""Scenario files: checked key by key; the pipeline's tables reconcile."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

import geoequity as ge
from geoequity import InputError
from geoequity.scenario import load_scenario

from _cases import write_tiny_line


def _write(tmp_path, text):
    p = tmp_path / "s.toml"
    p.write_text(text, encoding="utf-8")
    return p


MINIMAL = """
[schools]
path = "schools.csv"
seats = "seats"
[population]
path = "cells.csv"
count = "kids"
[analysis]
threshold = 1000
"""


def test_misspelt_key_suggests_the_right_one(tmp_path):
    p = _write(tmp_path, MINIMAL.replace("threshold", "treshold"))
    with pytest.raises(InputError, match=r"unknown key 'treshold' in \[analysis\]; did you mean "
                                         r"'threshold'\?"):
        load_scenario(p)


def test_unknown_section_and_bad_type(tmp_path):
    with pytest.raises(InputError, match=r"unknown section \[netwrok\]; did you mean 'network'"):
        load_scenario(_write(tmp_path, MINIMAL + "[netwrok]\nmode='walk'\n"))
    with pytest.raises(InputError, match="threshold = 'far' should be int or float"):
        load_scenario(_write(tmp_path, MINIMAL.replace("1000", "'far'")))


def test_toml_syntax_error_names_the_line(tmp_path):
    with pytest.raises(InputError, match=r"s\.toml: is not valid TOML .*line 3"):
        load_scenario(_write(tmp_path, "[schools]\npath = 'a'\nseats = \n"))


def test_paths_are_relative_to_the_scenario_and_defaults(tmp_path):
    s = load_scenario(_write(tmp_path, MINIMAL))
    assert s.schools["path"] == tmp_path / "schools.csv"
    assert s.network["euclidean"] is True and s.analysis["method"] == "2sfca"
    assert s.analysis["max_cost"] == 4000


def _tiny_case(tmp_path):
    """Two schools 2 km apart on a line of 5 cells; hand-checkable numbers.

    cells at x = 0, 500, 1000, 1500, 2000 (m) with 100, 100, 100, 100, 400 children;
    school A at x=0 with 150 seats, school B at x=2000 with 300 seats; threshold 600 m.
    """
    layers = write_tiny_line(tmp_path)
    return _write(tmp_path, f"""
title = "tiny"
{layers}[network]
euclidean = true
[analysis]
threshold = 600
max_cost = 5000
assignment_max_cost = 1000
[outputs]
folder = "out"
map = "map.html"
report = false
""")


def test_run_scenario_end_to_end_by_hand(tmp_path):
    results = ge.run_scenario(_tiny_case(tmp_path))
    c = results.cells.set_index("cid")
    # nearest: a,b -> A (0, 500); c is 1000 from both, tie broken to the first id A; d,e -> B
    assert list(c["nearest_id"]) == ["A", "A", "A", "B", "B"]
    assert list(c["nearest_cost"]) == [0, 500, 1000, 500, 0]
    # 2SFCA: A's catchment (<=600 m) holds a,b = 200 children -> 0.75 seats/child;
    # B's holds d,e = 500 -> 0.6; c reaches nothing -> NaN
    assert c.loc["a", "access"] == pytest.approx(0.75)
    assert c.loc["e", "access"] == pytest.approx(0.6)
    assert np.isnan(c.loc["c", "access"])
    # fair share = 450 / 800 seats per child
    assert c.loc["a", "access_index"] == pytest.approx(0.75 / (450 / 800))
    # assignment within 1 km: A seats 150 of a,b,c (300 children, all within 1 km);
    # B seats 300 of c,d,e (c is 1000 m from B too); 800 - 450 = 350 unseated
    assert c["assigned"].sum() == pytest.approx(450)
    assert c["unassigned"].sum() == pytest.approx(350)
    assert np.allclose(c["assigned"] + c["unassigned"], c["kids"])
    d = results.district_table.set_index("district")
    assert d.loc["West", "children"] == 300 and d.loc["West", "seats"] == 150
    assert d.loc["East", "shortfall"] == 500 - 300
    assert d.loc["(all)", "children"] == 800
    assert d.loc["West", "children_beyond"] == 100  # cell c: nearest school 1000 m > 600 m
    assert np.allclose(d["assigned"] + d["unassigned"], d["children"])
    # every output is on disk
    out = tmp_path / "out"
    for name in ("cells.gpkg", "cells.csv", "schools.csv", "districts.csv", "districts.gpkg",
                 "equity.csv", "summary.json", "costs.parquet"):
        assert (out / name).exists(), name
    assert (tmp_path / "map.html").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["children"] == 800 and summary["seats"] == 450
    csv = pd.read_csv(out / "districts.csv")
    assert list(csv["district"]) == ["East", "West", "(all)"]


def test_run_scenario_checks_outputs_and_compute_once(tmp_path, monkeypatch):
    """run_scenario checks the outputs (and, on a cluster, the compute options) before the
    folder lock, and run() does not check them again; run() alone still checks them."""
    import contextlib

    import geoequity.distributed as dist
    import geoequity.scenario as sc

    calls = {"check_outputs": 0, "check_compute": 0}
    for name in calls:
        def counted(scenario, _f=getattr(sc, name), _n=name):
            calls[_n] += 1
            return _f(scenario)
        monkeypatch.setattr(sc, name, counted)
    path = _tiny_case(tmp_path)
    ge.run_scenario(path)
    assert calls == {"check_outputs": 1, "check_compute": 0}

    class Reached(Exception):
        pass

    def on_cluster(*args, **kwargs):   # the cluster's work is not this test's business
        raise Reached

    monkeypatch.setattr(dist, "cluster_client",
                        lambda *a, **k: contextlib.nullcontext(object()))
    monkeypatch.setattr(dist, "run_on_cluster", on_cluster)   # (cells the client read)
    monkeypatch.setattr(dist, "read_on_cluster", on_cluster)  # (cells the workers read)
    calls.update(check_outputs=0, check_compute=0)
    with pytest.raises(Reached):
        ge.run_scenario(path, folder=tmp_path / "out2", workers=2)
    assert calls == {"check_outputs": 1, "check_compute": 1}
    calls.update(check_outputs=0, check_compute=0)
    scenario = load_scenario(path)
    with pytest.raises(Reached):
        sc.run(scenario, client=object())
    assert calls == {"check_outputs": 1, "check_compute": 1}


def test_threshold_from_the_gb50180_preset(tmp_path):
    text = MINIMAL.replace("threshold = 1000", 'preset = "GB50180-2018"\nlevel = "primary"')
    assert load_scenario(_write(tmp_path, text)).analysis["threshold"] == 500
    text = text.replace('"primary"', '"初中"')
    assert load_scenario(_write(tmp_path, text)).analysis["threshold"] == 1000
    with pytest.raises(InputError, match="has no threshold"):
        load_scenario(_write(tmp_path, MINIMAL.replace("threshold = 1000", "")))


def test_combined_school_counts_its_primary_grades_only():
    # the rule moved to the public geoequity.levels.level_seats (one rule for API, CLI and
    # scenario); a school that does not serve the level now gives it 0 seats
    from geoequity.levels import level_seats

    schools = pd.DataFrame({"seats": [900.0, 600.0], "level": ["combined", "primary"]})
    assert list(level_seats(schools, "primary")) == [600.0, 600.0]  # grades 1-6 of 1-9
    assert list(level_seats(schools, "junior")) == [300.0, 0.0]
    schools["seats_primary"] = [500.0, np.nan]
    assert list(level_seats(schools, "primary")) == [500.0, 600.0]


def test_scenario_lists_district_proposals(tmp_path):
    scenario = _tiny_case(tmp_path)
    # proposal: the boundary moves west so cell c (x = 1000, 100 children) joins East
    gpd.GeoDataFrame({"zone": ["West", "East"]},
                     geometry=[box(-100, -100, 900, 100), box(900, -100, 2100, 100)],
                     crs=32650).to_file(tmp_path / "plan.gpkg")
    scenario.write_text(scenario.read_text() + '[[proposals]]\nname = "plan"\n'
                        'path = "plan.gpkg"\nname_col = "zone"\n')
    results = ge.run_scenario(scenario)
    table = pd.read_csv(tmp_path / "out" / "compare.csv", index_col=0)
    assert list(table.columns) == ["current", "plan"]
    assert float(table.loc["children_moved", "plan"]) == 100
    assert float(table.loc["cells_moved", "plan"]) == 1
    assert float(table.loc["children_moved", "current"]) == 0
    assert results.comparison is not None
    plan = gpd.read_file(tmp_path / "out" / "proposal_plan.gpkg")
    assert sorted(plan["district"]) == ["East", "West"]
    # `geoequity map OUTDIR` redraws the run's map from the folder: title, proposals, seat gap,
    # and no OpenStreetMap credit (straight-line run)
    from geoequity.cli import main

    assert main(["-q", "map", str(tmp_path / "out"), "-o", str(tmp_path / "again.html")]) == 0
    again = (tmp_path / "again.html").read_text(encoding="utf-8")
    assert "<title>tiny</title>" in again
    for layer in ("Seat gap", "plan", "current"):
        assert layer in again, layer
    assert "OpenStreetMap contributors" not in again


def test_population_bounds_read_only_the_districts_window(tmp_path):
    """A county's districts window a bigger raster: only its pixels are read, ids unchanged."""
    from pathlib import Path

    import rasterio

    from geoequity.scenario import read_inputs

    demo = Path(__file__).resolve().parents[1] / "data" / "demo"
    d = gpd.read_file(demo / "districts.geojson")
    d[d.district == "Dongxin"].to_file(tmp_path / "one.geojson")   # EPSG:4326
    text = f"""
[schools]
path = "{(demo / 'schools.csv').as_posix()}"
id = "school_id"
seats = "seats"
[population]
path = "{(demo / 'residents.tif').as_posix()}"
bounds = "districts"
[districts]
path = "one.geojson"
name = "district"
[analysis]
threshold = 1000
"""
    cells, _, _ = read_inputs(load_scenario(_write(tmp_path, text)))
    full = ge.read_population(demo / "residents.tif")
    with rasterio.open(demo / "residents.tif") as src:
        x0, y0, x1, y1 = d[d.district == "Dongxin"].to_crs(src.crs).total_bounds
    inside = full[full.geometry.intersection(box(x0, y0, x1, y1)).area > 0]
    assert 0 < len(cells) < len(full)
    assert set(cells.index) <= set(full.index)        # the full raster's cell ids
    assert set(inside.index) - set(cells.index) == set()   # every cell over the window is read
    np.testing.assert_allclose(full.loc[cells.index, "population"], cells["population"])
    # four numbers in the raster's CRS; a malformed window is one clear error
    win = text.replace('bounds = "districts"', f"bounds = [{x0}, {y0}, {x1}, {y1}]")
    cells2, _, _ = read_inputs(load_scenario(_write(tmp_path, win)))
    assert set(cells2.index) == set(cells.index)
    bad = text.replace('bounds = "districts"', "bounds = [1, 2, 3]")
    with pytest.raises(InputError, match="bounds"):
        read_inputs(load_scenario(_write(tmp_path, bad)))


def test_run_folder_changes_as_a_whole(tmp_path, monkeypatch):
    """A failed run leaves the previous run's folder untouched; a new run leaves no stale file."""
    import geoequity.outputs as outputs

    scenario = _tiny_case(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "compare.csv").write_text("not written by a geoequity run\n")
    (out / "notes.txt").write_text("the user's own file\n")
    (out / "report_zh_districts.csv").write_text("made by `geoequity report -o report_zh.html`")
    ge.run_scenario(scenario)
    # no run recorded writing it: a file of the user's own, kept (before #17 it was removed)
    assert (out / "compare.csv").read_text() == "not written by a geoequity run\n"
    assert (out / "report_zh_districts.csv").exists()  # a report the user made: kept
    assert (out / "notes.txt").read_text() == "the user's own file\n"
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def broken_map(*args, **kwargs):
        raise RuntimeError("disk full while drawing the map")

    monkeypatch.setattr(outputs, "_write_map", broken_map)
    text = scenario.read_text().replace("threshold = 600", "threshold = 900")
    scenario.write_text(text)
    with pytest.raises(RuntimeError, match="disk full"):
        ge.run_scenario(scenario)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
    assert len(list((out / ".geoequity" / "runs").iterdir())) == 1   # the failed run's: gone


def test_outputs_may_not_overwrite_inputs(tmp_path):
    scenario = _tiny_case(tmp_path)
    text = scenario.read_text().replace('folder = "out"', 'folder = "."')
    (tmp_path / "schools.csv").write_text("sid,lon,lat,seats\nA,0,0,1\n")
    text = text.replace('path = "schools.gpkg"', 'path = "schools.csv"')
    scenario.write_text(text)
    before = (tmp_path / "schools.csv").read_text()
    with pytest.raises(InputError, match=r"would overwrite the input .*schools\.csv"):
        ge.run_scenario(scenario)
    assert (tmp_path / "schools.csv").read_text() == before


def test_headline_skips_outside_and_caps_underused_schools():
    import io
    from types import SimpleNamespace

    from geoequity.cli.run import print_summary

    dt = pd.DataFrame({"district": ["(outside)", "A", "B", "(all)"],
                       "children": [0.3, 100.0, 50.0, 150.3], "seats_per_child": [0, 0.5, 2, 1],
                       "shortfall": [0, 50, -50, 0]})
    schools = pd.DataFrame({"name": [f"s{i}" for i in range(8)] + [np.nan],
                            "utilisation": [0.1] * 9, "seats": [100.0] * 9},
                           index=[f"id{i}" for i in range(9)])
    summary = {"children": 150.3, "seats": 150.0, "seats_per_child": 1.0, "threshold": 500,
               "children_beyond_threshold": 10.0}
    buf = io.StringIO()
    print_summary(SimpleNamespace(summary=summary, district_table=dt, schools=schools), buf)
    text = buf.getvalue()
    assert "fewest seats per child: A (0.50; shortfall 50)" in text
    assert text.count("under-used school") == 5 and "and 4 more schools" in text


def test_layers_that_do_not_meet_are_refused_or_reported(tmp_path, capsys):
    from geoequity.pipeline import OUTSIDE, check_coverage

    cells = gpd.GeoDataFrame({"children": [10.0, 20.0], "district": ["A", OUTSIDE]},
                             geometry=[Point(0, 0), Point(1000, 0)], crs=32650)
    near_far = gpd.GeoDataFrame({"seats": [1.0, 1.0]}, index=["ok", "swapped"],
                                geometry=[Point(500, 0), Point(0, 300_000)], crs=32650)
    districts = gpd.GeoDataFrame({"district": ["A", "B"]}, geometry=[box(-1, -1, 1, 1),
                                 box(5000, 0, 6000, 1)], crs=32650)
    check_coverage(cells, near_far, districts)
    err = capsys.readouterr().err
    assert "1 school(s) lie more than 10 km" in err and "swapped" in err
    assert "hold no populated cell: ['B']" in err
    assert "67% of the children live outside every district" in err
    with pytest.raises(InputError, match="no school lies within 10 km"):
        check_coverage(cells, near_far.loc[["swapped"]], None)
    with pytest.raises(InputError, match="no populated cell lies in any district"):
        check_coverage(cells.assign(district=OUTSIDE), near_far, districts)


def test_threshold_in_the_wrong_unit_is_questioned(tmp_path, capsys):
    load_scenario(_write(tmp_path, MINIMAL.replace("threshold = 1000", "threshold = 1.5")))
    assert "1.5 km = 1500" in capsys.readouterr().err
    load_scenario(_write(tmp_path, MINIMAL.replace("threshold = 1000",
                                                   'threshold = 1500\nunit = "min"')))
    assert "1500 minutes" in capsys.readouterr().err


def test_mean_travel_says_whom_it_leaves_out(tmp_path):
    scenario = _tiny_case(tmp_path)
    r = ge.run_scenario(scenario)
    d = r.district_table.set_index("district")
    # nearest costs 0, 500, 1000, 500, 0 for 100, 100, 100, 100, 400 children
    assert d.loc["(all)", "mean_nearest_cost"] == pytest.approx(200_000 / 800)
    assert d.loc["(all)", "children_no_school"] == 0
    # cell c (1000 m from both schools) has no school within a 900 m cost table
    text = scenario.read_text().replace("max_cost = 5000", "max_cost = 900")
    scenario.write_text(text.replace("assignment_max_cost = 1000", "assignment_max_cost = 900"))
    d = ge.run_scenario(scenario).district_table.set_index("district")
    assert d.loc["West", "children_no_school"] == 100
    assert d.loc["West", "mean_nearest_cost"] == pytest.approx(500 * 100 / 200)


def test_scenario_values_are_checked_with_file_and_key(tmp_path):
    with pytest.raises(InputError, match=r"s\.toml: \[analysis\] unit = 'km'"):
        load_scenario(_write(tmp_path, MINIMAL.replace("threshold = 1000",
                                                       'threshold = 1000\nunit = "km"')))
    with pytest.raises(InputError, match=r"s\.toml: \[population\] child_share = 8 "):
        load_scenario(_write(tmp_path, MINIMAL.replace('count = "kids"',
                                                       'count = "kids"\nchild_share = 8')))
