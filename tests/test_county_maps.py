"""A province overview and one map per county (``[outputs] maps_by``, ``--maps-by``,
``run_scenario(maps_by=)``): file names, what each county map holds, the overview's figures
against ``districts.csv``, links, the set written atomically, bad columns refused.

Expected values come from the inputs (the demo's districts layer and the run's own tables read
back from disk) or from hand computation on the constructed case, never from the map code.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import unquote

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import geoequity as ge
from geoequity.cli import main
from geoequity.maps._overview import (DISTRICTS, MANIFEST, draw_map_set, file_names,
                                      pending_map_set)

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo.toml"
DEMO_DISTRICTS = DEMO.parent / "demo" / "districts.geojson"


def _scenario(tmp_path: Path, extra_outputs: str = "") -> Path:
    text = DEMO.read_text(encoding="utf-8").replace('"demo/', f'"{DEMO.parent}/demo/')
    text = text.replace('folder = "../out/demo"', f'folder = "{tmp_path / "out"}"')
    text = text.replace('map = "../maps/demo.html"',
                        f'map = "{tmp_path / "maps" / "province.html"}"\n{extra_outputs}')
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- reading a saved map's data back ---------------------------------------------------------

def _overview_data(html: str) -> dict:
    hit = re.search(r"var (\w+)_overview = (\{.*?\});\n", html)
    assert hit, "no overview data in the page"
    return json.loads(hit.group(2))


def _cell_ids(html: str) -> list:
    """The ids of the cells a map draws (the popup rows of its first cell layer)."""
    for hit in re.finditer(r"GE\.vector\(\w+, (\{.*?\}),\s+\w+_cells\);", html):
        payload = json.loads(hit.group(1))
        return [row[0] for row in payload["rows"]]
    return []


def _school_ids(html: str) -> list:
    for hit in re.finditer(r"GE\.vector\(\w+, (\{.*?\}),\s+null\);", html):
        payload = json.loads(hit.group(1))
        if payload["cls"] == "ge-school":
            return [row[0] for row in payload["rows"]]
    return []


def _back_link(html: str) -> str:
    hit = re.search(r'GEOV\.back\(\w+, ("[^"]*")', html)
    assert hit, "no link back to the overview"
    return json.loads(hit.group(1))


# -- the demo, run once ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The demo run with ``[outputs] maps_by = "type"`` (urban, suburban, rural)."""
    tmp = tmp_path_factory.mktemp("cmaps")
    path = _scenario(tmp, 'maps_by = "type"')
    with ge.quiet():   # only here: later tests read the messages
        ge.run_scenario(path)
    return tmp


def _demo_types() -> pd.Series:
    d = gpd.read_file(DEMO_DISTRICTS)
    return pd.Series(d["type"].to_numpy(), index=d["district"].to_numpy())


def test_demo_files_and_names(demo_run):
    maps = demo_run / "maps"
    assert (maps / "province.html").is_file()
    folder = maps / "province"
    assert sorted(p.name for p in folder.iterdir()) == [
        MANIFEST, "rural.html", "suburban.html", "urban.html"]
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert manifest == {"overview": "province.html",
                        "maps": {"rural": "rural.html", "suburban": "suburban.html",
                                 "urban": "urban.html"}}
    assert not [p for p in maps.iterdir() if p.name.startswith(".")]   # no staging left


def test_demo_county_maps_hold_only_their_cells_and_schools(demo_run):
    types = _demo_types()
    cells = pd.read_csv(demo_run / "out" / "cells.csv")
    schools = pd.read_csv(demo_run / "out" / "schools.csv")
    drawn_cells = 0
    for kind in ("urban", "suburban", "rural"):
        html = (demo_run / "maps" / "province" / f"{kind}.html").read_text(encoding="utf-8")
        mine = set(types.index[types == kind])
        want = cells.loc[cells["district"].isin(mine), "cell"]
        got = _cell_ids(html)
        assert len(got) == len(want) > 0
        assert set(got) == set(want.tolist())
        drawn_cells += len(got)
        want_s = schools.loc[schools["district"].isin(mine), "school_id"].astype(str)
        assert sorted(map(str, _school_ids(html))) == sorted(want_s.tolist())
    assert drawn_cells == int(cells["district"].isin(types.index).sum())


def test_demo_overview_figures_equal_districts_csv(demo_run):
    html = (demo_run / "maps" / "province.html").read_text(encoding="utf-8")
    data = _overview_data(html)
    table = pd.read_csv(demo_run / "out" / "districts.csv").set_index("district")
    types = _demo_types()
    assert data["by"] == "type"
    assert sorted(data["districts"]) == sorted(types.index)
    for name, group, row in zip(data["districts"], data["groups"], data["rows"], strict=True):
        assert row[0] == name and row[1] == group == types[name]
        t = table.loc[name]
        want = [t["children"], t["seats"], t["seats_per_child"], t["children_beyond"],
                100 * t["share_beyond"], t["mean_nearest_cost"]]
        np.testing.assert_allclose(row[2:], want, rtol=1e-9)
    # the groups' popups: sums of the districts' rows of districts.csv
    urban = table.loc[list(types.index[types == "urban"])]
    rows = {r[0]: r for r in data["group_rows"]}
    np.testing.assert_allclose(rows["urban"][1:3], [urban["children"].sum(),
                                                    urban["seats"].sum()], rtol=1e-6)
    np.testing.assert_allclose(rows["urban"][3],
                               urban["seats"].sum() / urban["children"].sum(), rtol=1e-6)


def test_demo_links_resolve(demo_run):
    maps = demo_run / "maps"
    overview = maps / "province.html"
    data = _overview_data(overview.read_text(encoding="utf-8"))
    hrefs = {link[0] for link in data["links"]} | {link[0] for link in data["group_links"]}
    assert hrefs == {"province/urban.html", "province/suburban.html", "province/rural.html"}
    for href in hrefs:
        county = maps / unquote(href)
        assert county.is_file()
        back = _back_link(county.read_text(encoding="utf-8"))
        assert (county.parent / unquote(back)).resolve() == overview.resolve()


def test_map_command_by_districts_then_by_type_then_one_map(demo_run):
    """``geoequity map OUTDIR --maps-by``: districts.gpkg lacks ``type``, so it comes from the
    run's scenario; a later set removes the maps it no longer has, keeps the user's file."""
    out = demo_run / "m2" / "p.html"
    assert main(["map", str(demo_run / "out"), "--maps-by", DISTRICTS, "-o", str(out)]) == 0
    names = sorted(p.name for p in (out.parent / "p").glob("*.html"))
    assert names == sorted(f"{d}.html" for d in _demo_types().index)
    (out.parent / "p" / "notes.txt").write_text("mine", encoding="utf-8")
    assert main(["map", str(demo_run / "out"), "--maps-by", "type", "-o", str(out)]) == 0
    assert sorted(p.name for p in (out.parent / "p").iterdir()) == [
        MANIFEST, "notes.txt", "rural.html", "suburban.html", "urban.html"]
    assert main(["map", str(demo_run / "out"), "--lang", "zh", "--maps-by", "type",
                 "-o", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "分片区类型地图" in html and "打开urban的地图" in html
    assert main(["map", str(demo_run / "out"), "-o", str(out)]) == 0   # one map again
    assert sorted(p.name for p in (out.parent / "p").iterdir()) == ["notes.txt"]
    assert "_overview = " not in out.read_text(encoding="utf-8")


def test_failed_set_leaves_the_previous_set(demo_run, monkeypatch, capsys):
    out = demo_run / "m3" / "p.html"
    assert main(["map", str(demo_run / "out"), "--maps-by", "type", "-o", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in (out.parent / "p").iterdir()}
    overview = out.read_bytes()
    import geoequity.maps._overview as ov

    calls = []
    real = ov.save_map

    def fail_second(m, path, **kw):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(path))
        return real(m, path, **kw)

    monkeypatch.setattr(ov, "save_map", fail_second)
    assert main(["map", str(demo_run / "out"), "--maps-by", DISTRICTS, "-o", str(out)]) != 0
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"geoequity: error: {out.parent / 'p' / 'Chengguan.html'}: No space")
    assert len(calls) == 2
    assert out.read_bytes() == overview
    assert {p.name: p.read_bytes() for p in (out.parent / "p").iterdir()} == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["p", "p.html"]   # nothing staged


def test_failed_run_leaves_the_previous_set(demo_run, monkeypatch):
    """Through a run: the tables are switched, then the maps fail: the maps stay as they were
    (the run's maps are committed only after the tables, all together)."""
    import geoequity.maps._overview as ov

    before = {p.name: p.read_bytes() for p in (demo_run / "maps" / "province").iterdir()}
    overview = (demo_run / "maps" / "province.html").read_bytes()

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ov, "overview_map", boom)
    path = _scenario(demo_run, 'maps_by = "districts"')
    with pytest.raises(OSError):
        ge.run_scenario(path)
    assert (demo_run / "maps" / "province.html").read_bytes() == overview
    assert {p.name: p.read_bytes()
            for p in (demo_run / "maps" / "province").iterdir()} == before
    assert not [p for p in (demo_run / "maps").iterdir() if p.name.startswith(".")]


# -- bad maps_by ----------------------------------------------------------------------------

def test_bad_column_cli_one_line_exit_2(tmp_path, capsys):
    path = _scenario(tmp_path)
    assert main(["run", str(path), "--maps-by", "county"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err == (f"geoequity: error: {path}: --maps-by county: the districts layer "
                   f"{DEMO_DISTRICTS} has no column 'county'; use \"districts\" or one of its "
                   "columns (district, type)")
    assert not (tmp_path / "out").exists() and not (tmp_path / "maps").exists()


def test_bad_column_scenario_and_api(tmp_path):
    path = _scenario(tmp_path, 'maps_by = "county"')
    with pytest.raises(ge.InputError) as err:
        ge.run_scenario(path)
    assert str(err.value).startswith(f'{path}: [outputs] maps_by = "county": the districts')
    assert 'use "districts" or one of its columns (district, type)' in str(err.value)
    with pytest.raises(ge.InputError) as err:
        ge.run_scenario(_scenario(tmp_path), maps_by="county")
    assert f"{path}: maps_by='county': the districts layer" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_bad_column_map_command(demo_run, capsys):
    assert main(["map", str(demo_run / "out"), "--maps-by", "county",
                 "-o", str(demo_run / "m4" / "p.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith(f"geoequity: error: {demo_run / 'out' / 'districts.gpkg'}: "
                          "--maps-by county: ")
    assert "use \"districts\" or one of its columns (district, type)" in err
    assert not (demo_run / "m4").exists()


# -- a small constructed case ----------------------------------------------------------------

def test_file_names_are_safe_and_unique():
    names = file_names(["东 区", "东/区", "East", "east", "../x", "CON", "", "Xi'an 西安"])
    assert names == {"东 区": "东_区.html", "东/区": "东_区-2.html", "East": "East.html",
                     "east": "east-2.html", "../x": "x.html", "CON": "CON_.html",
                     "": "map.html", "Xi'an 西安": "Xi_an_西安.html"}


def test_figure_classes_are_fixed():
    from geoequity.maps._overview import figure_classes

    nan = float("nan")
    share = figure_classes([0, 0.03, 0.05, 0.2, 0.5, nan], "share_beyond", lang="en",
                           threshold=1000, unit="m")
    assert share.index.tolist() == [5, 0, 1, 2, 4, 6]
    assert share.labels[:5] == ["> 0 \u2013 < 5 %", "5 % \u2013 < 10 %", "10 % \u2013 < 25 %",
                                "25 % \u2013 < 50 %", "\u2265 50 %"]
    # mean trip: breaks 0.5, 0.75, 1 and 1.5 times the threshold (1,000 m)
    cost = figure_classes([400, 500, 800, 1000, 1600, nan], "mean_nearest_cost", lang="zh",
                          threshold=1000, unit="m")
    assert cost.index.tolist() == [0, 1, 2, 3, 4, 5]
    assert cost.title == "到最近学校的平均距离（米）"
    spc = figure_classes([0.4, 1.0, 2.5, nan], "seats_per_child", lang="en", threshold=None,
                         unit="m")
    assert spc.index.tolist() == [0, 3, 6, 7]


def test_group_of_names_codes_and_blanks():
    from geoequity.maps._overview import group_of

    d = pd.DataFrame({"district": ["a", "b", "c", "d"],
                      "code": [420102.0, np.nan, 420103.0, 420102.0],
                      "county": ["X ", "", None, "X"]})
    assert group_of(d, "code").to_dict() == {"a": "420102", "b": "(none)", "c": "420103",
                                            "d": "420102"}
    assert group_of(d, "county").to_dict() == {"a": "X", "b": "(none)", "c": "(none)",
                                              "d": "X"}
    assert group_of(d, DISTRICTS).to_dict() == {"a": "a", "b": "b", "c": "c", "d": "d"}


def _square(x0, y0, size):
    return shapely.box(x0, y0, x0 + size, y0 + size)


def _small_layers():
    """Four 2 km districts in a row (UTM 50N): D1, D2 in county 东/区, D3 in 东 区, D4 with no
    county; three 100 m cells and one school in each."""
    crs = 32650
    names = ["D1", "D2", "D3", "<b>D4</b>"]
    county = ["东/区", "东/区", "东 区", None]
    x0 = [500_000 + 2000 * i for i in range(4)]
    districts = gpd.GeoDataFrame({
        "district": names, "county": county,
        "children": [100.0, 300.0, 50.0, 0.0], "seats": [50.0, 450.0, 60.0, 0.0],
        "seats_per_child": [0.5, 1.5, 1.2, np.nan],
        "children_beyond": [10.0, 30.0, 0.0, 0.0], "share_beyond": [0.1, 0.1, 0.0, np.nan],
        "mean_nearest_cost": [500.0, 800.0, 300.0, np.nan],
        "children_no_school": [0.0, 100.0, 0.0, 0.0]},
        geometry=[_square(x, 4_000_000, 2000) for x in x0], crs=crs)
    cells = gpd.GeoDataFrame({
        "children": np.arange(12, dtype=float) + 1, "access": np.linspace(0.2, 2.0, 12),
        "district": [n for n in names for _ in range(3)]},
        index=pd.Index([f"c{i}" for i in range(12)], name="cell"),
        geometry=[_square(x + 100 * k, 4_000_500, 100) for x in x0 for k in range(3)], crs=crs)
    schools = gpd.GeoDataFrame({
        "seats": [50.0, 450.0, 60.0, 10.0], "district": names},
        index=pd.Index([f"s{i}" for i in range(4)], name="school"),
        geometry=shapely.points([x + 1000 for x in x0], [4_001_000] * 4), crs=crs)
    catchments = gpd.GeoDataFrame({"school": list(schools.index), "children": [6, 15, 24, 33]},
                                  geometry=[_square(x, 4_000_000, 2000) for x in x0], crs=crs)
    return {"districts": districts, "cells": cells, "schools": schools,
            "catchments": catchments, "title": "Province <i>P</i>", "lang": "en",
            "fair_share": 1.0}


def test_small_case_names_contents_and_figures(tmp_path):
    layers = _small_layers()
    out = tmp_path / "maps" / "省.html"
    with pending_map_set(out) as pending:
        drawn = draw_map_set(pending, layers, by="county", threshold=1000)
        assert not out.exists() and not (tmp_path / "maps" / "省").exists()   # not yet
        pending.commit()
    folder = tmp_path / "maps" / "省"
    assert [p.name for p in drawn] == ["东_区.html", "东_区-2.html", "none.html"]
    assert sorted(p.name for p in folder.glob("*.html")) == sorted(p.name for p in drawn)
    held = {"东_区.html": ["c6", "c7", "c8"], "东_区-2.html": [f"c{i}" for i in range(6)],
            "none.html": ["c9", "c10", "c11"]}
    schools = {"东_区.html": ["s2"], "东_区-2.html": ["s0", "s1"], "none.html": ["s3"]}
    for name, ids in held.items():
        html = (folder / name).read_text(encoding="utf-8")
        assert sorted(_cell_ids(html)) == sorted(ids)
        assert sorted(_school_ids(html)) == schools[name]
        assert _back_link(html) == "../%E7%9C%81.html"   # ../省.html, percent-encoded
    data = _overview_data(out.read_text(encoding="utf-8"))
    links = dict(zip(data["districts"], data["links"], strict=True))
    assert unquote(links["D1"][0]) == "省/东_区-2.html"
    assert unquote(links["D3"][0]) == "省/东_区.html"
    assert unquote(links["<b>D4</b>"][0]) == "省/none.html"
    assert links["D1"][1] == "Open the map of 东/区"
    rows = {r[0]: r for r in data["group_rows"]}
    # 东/区 = D1 + D2: children 400, seats 500, 1.25 per child, 40 beyond (10 %), mean trip
    # (100 x 500 + (300 - 100) x 800) / 300 = 700
    assert rows["东/区"][1:] == [400, 500, 1.25, 40, 10, 700]
    assert rows["东 区"][1:] == [50, 60, 1.2, 0, 0, 300]
    for href, _ in filter(None, data["links"] + data["group_links"]):
        assert (out.parent / unquote(href)).is_file()


def test_small_case_by_districts_and_stale_maps_removed(tmp_path):
    layers = _small_layers()
    out = tmp_path / "p.html"
    with pending_map_set(out) as pending:
        draw_map_set(pending, layers, by=DISTRICTS)
        pending.commit()
    assert sorted(p.name for p in (tmp_path / "p").glob("*.html")) == [
        "D1.html", "D2.html", "D3.html", "b_D4_b.html"]
    with pending_map_set(out) as pending:   # by county: the district maps go
        draw_map_set(pending, layers, by="county")
        pending.commit()
    assert sorted(p.name for p in (tmp_path / "p").glob("*.html")) == [
        "none.html", "东_区-2.html", "东_区.html"]
    assert os.stat(tmp_path / "p").st_mode & 0o055 == 0o055   # readable like the map


def test_a_file_where_the_folder_goes_is_refused(tmp_path):
    (tmp_path / "p").write_text("x", encoding="utf-8")
    with pytest.raises(ge.InputError, match="is a file where the maps per county go"):
        with pending_map_set(tmp_path / "p.html"):
            pass
    assert not (tmp_path / "p.html").exists()


# -- in the browser --------------------------------------------------------------------------

@pytest.mark.browser
def test_overview_click_through_to_a_county_map(offline_page, demo_run):
    from playwright.sync_api import expect

    page = offline_page
    overview = demo_run / "maps" / "province.html"
    page.goto(overview.as_uri())
    page.wait_for_selector("body[data-ge-ready]", state="attached", timeout=30_000)
    assert page.locator("path.ge-overview-seats_per_child").count() == 6
    assert page.locator("path.ge-overview-share_beyond").count() == 0   # hidden at first
    assert "Seats per child" in page.inner_text(".ge-legend")
    # switch the figure: one figure layer at a time
    page.locator(".leaflet-control-layers label", has_text="Share beyond the threshold").click()
    # (waiting for the switch: on a loaded machine the old layer goes a moment after the click)
    expect(page.locator("path.ge-overview-share_beyond")).to_have_count(6)
    expect(page.locator("path.ge-overview-seats_per_child")).to_have_count(0)
    assert "25 % \u2013 < 50 %" in page.inner_text(".ge-legend")
    # the list of maps, then a district's popup and its link
    assert [t.strip() for t in page.locator(".ge-ov-list a").all_inner_texts()] == [
        "rural", "suburban", "urban"]
    page.evaluate("Object.values(GE.map._layers).filter(l => l.options &&"
                  " (l.options.className || '').indexOf('ge-overview-share_beyond') >= 0)"
                  "[0].fire('click', {latlng: GE.map.getCenter()}, true)")
    link = page.locator(".leaflet-popup-content .ge-ov-link a")
    assert link.inner_text().startswith("Open the map of ")
    with page.expect_navigation():
        link.click()
    page.wait_for_selector("body[data-ge-ready]", state="attached", timeout=30_000)
    assert page.url.startswith((demo_run / "maps" / "province").as_uri())
    kind = unquote(page.url.rsplit("/", 1)[1]).removesuffix(".html")
    types = _demo_types()
    cells = pd.read_csv(demo_run / "out" / "cells.csv")
    want = int(cells["district"].isin(types.index[types == kind]).sum())
    # the seat gap layer is drawn (on a canvas above 3,000 cells: GE.counts counts them)
    assert page.evaluate("GE.counts['ge-cell ge-cell-gap']") == want > 0
    assert page.locator("path.ge-school").count() > 0
    assert page.inner_text(".ge-ov-back") == "\u2190 Overview"
    with page.expect_navigation():
        page.locator(".ge-ov-back a").click()
    page.wait_for_selector("body[data-ge-ready]", state="attached", timeout=30_000)
    assert page.url == overview.as_uri()
    assert page.console_errors == [] and page.blocked_requests == []


def test_a_folder_geoequity_did_not_write_is_never_replaced(tmp_path):
    """E.g. map = "out/demo.html" beside the run folder out/demo: refused, untouched."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "summary.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ge.InputError, match="is a folder geoequity did not write"):
        with pending_map_set(tmp_path / "p.html"):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]
    assert (tmp_path / "p" / "summary.json").read_text(encoding="utf-8") == "{}"


def test_staging_of_a_killed_run_is_removed(tmp_path):
    from geoequity._atomic import HOST_TAG

    dead = 2 ** 22 + 12345   # above Linux's default pid_max: no such process
    stale = tmp_path / f".p.~gq-{HOST_TAG}-{dead}-abcd1234.maps"
    stale.mkdir()
    (stale / "x.html").write_text("half", encoding="utf-8")
    other = tmp_path / f".p.~gq-otherhost-{dead}-abcd1234.maps"   # another host's: kept
    other.mkdir()
    with pending_map_set(tmp_path / "p.html") as pending:
        draw_map_set(pending, _small_layers(), by="county")
        pending.commit()
    assert not stale.exists() and other.is_dir()


def test_demo_overview_names_the_grouping_and_writes_numbers_as_the_reports(demo_run):
    # maps_by = "type": the districts' type column is named "district type", not "type";
    # the list's seats per child (the demo's sums: 2,100 / 3,118.83, 1,620 / 6,489.13,
    # 22,200 / 17,183.40) by the reports' rule: three significant digits, at most
    html = (demo_run / "maps" / "province.html").read_text(encoding="utf-8")
    hit = re.search(r"GEOV\.list\(\w+, (\{.*?\})\);", html)
    spec = json.loads(hit.group(1))
    assert spec["title"] == "Maps by district type"
    assert spec["items"] == [["rural", "province/rural.html", "0.673"],
                             ["suburban", "province/suburban.html", "0.25"],
                             ["urban", "province/urban.html", "1.29"]]
    assert "District type boundaries" in html and "type boundaries" not in html.replace(
        "District type boundaries", "")
    assert "Overview: 3 maps by district type;" in html


def test_grouping_labels_in_english_and_chinese():
    # one rule for the overview and the report's tables (geoequity.group_names)
    from geoequity.group_names import group_label

    assert [group_label(b, "en") for b in ("county", "type", "school_zone", DISTRICTS)] == [
        "county", "district type", "school zone", "district"]
    assert [group_label(b, "zh") for b in ("county", "Type", "township", "片区组")] == [
        "县（区）", "片区类型", "乡镇", "片区组"]
    assert [group_label(b, "en") for b in (" Kind ", "towns", "urban")] == [
        "district type", "township", "urban/rural"]
