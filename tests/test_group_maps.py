"""A county's map drawn from that county's cells alone (where a cluster's worker holds them):
:func:`draw_group_map` gives the page the whole run's map set gives (element ids aside), the
overview needs the districts alone, and a cluster run's default grouping
(:func:`cluster_maps_by`).

The reference pages are those the run itself wrote through :func:`draw_map_set` from every
cell; the county's cells are picked here from the demo's own districts file (its ``type``
column), not by the map code.
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

import geoequity as ge
from geoequity.maps._overview import (DISTRICTS, ONE_MAP_CELLS, cluster_maps_by,
                                      draw_group_map, draw_overview, draw_piece_maps,
                                      file_names, pending_map_set, plan_map_set)
from geoequity.outputs import _map_layers

from test_county_maps import _cell_ids, _scenario, _school_ids, _small_layers

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo.toml"
KINDS = ("rural", "suburban", "urban")


def _masked(text: str) -> str:
    """The page without the element ids folium draws at random (``map_0123...``)."""
    return re.sub(r"_[0-9a-f]{32}", "_ID", text)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The demo run with ``maps_by = "type"``: its results and its folder."""
    tmp = tmp_path_factory.mktemp("gmaps")
    with ge.quiet():
        results = ge.run_scenario(_scenario(tmp, 'maps_by = "type"'))
    return results, tmp


def _types() -> dict[str, list[str]]:
    d = gpd.read_file(DEMO.parent / "demo" / "districts.geojson")
    return {k: d.loc[d["type"] == k, "district"].tolist() for k in KINDS}


def _layers(results) -> dict:
    return _map_layers(results, results.settings.title, tiles="none", by="type")


@pytest.mark.parametrize("kind", KINDS)
def test_a_county_map_from_its_cells_alone_is_the_runs(run, tmp_path, kind):
    results, folder = run
    layers = _layers(results)
    mine = _types()[kind]
    cells = results.cells[results.cells["district"].isin(mine)]   # the county's piece
    assert 0 < len(cells) < len(results.cells)
    plan = plan_map_set(layers["districts"], "type", folder / "maps" / "province.html")
    assert plan.names[kind] == f"{kind}.html" and plan.back == "../province.html"
    out = draw_group_map({**layers, "cells": cells}, tmp_path / "m.html", by="type",
                         group=kind, back=plan.back)
    want = (folder / "maps" / "province" / f"{kind}.html").read_text(encoding="utf-8")
    got = out.read_text(encoding="utf-8")
    assert got != want   # the ids differ ...
    assert _masked(got) == _masked(want)   # ... and nothing else
    # the schools, catchments and districts of the county alone give the same page
    schools = results.schools[results.schools["district"].isin(mine)]
    catch = results.catchments[results.catchments["school"].astype(str).isin(
        schools.index.astype(str))]
    alone = {**layers, "cells": cells, "schools": schools, "catchments": catch,
             "districts": layers["districts"][layers["districts"]["district"].isin(mine)]}
    out2 = draw_group_map(alone, tmp_path / "m2.html", by="type", group=kind, back=plan.back)
    assert _masked(out2.read_text(encoding="utf-8")) == _masked(want)


def test_the_overview_from_the_districts_alone_is_the_runs(run, tmp_path):
    results, folder = run
    layers = _layers(results)
    settings = {k: v for k, v in layers.items()
                if k not in ("cells", "schools", "catchments", "yearly", "plans",
                             "plan_schools", "proposals")}
    target = tmp_path / "province.html"
    with pending_map_set(target) as pending:
        plan = plan_map_set(layers["districts"], "type", target)
        draw_overview(pending, settings, plan, threshold=results.summary["threshold"])
        for kind in plan.order:   # what the workers would have drawn into the stage
            draw_group_map(layers, pending.stage / plan.names[kind], by="type", group=kind,
                           back=plan.back)
            pending.files[kind] = plan.names[kind]
        pending.commit()
    for path in [Path("province.html"), *(Path("province") / f"{k}.html" for k in KINDS)]:
        want = (folder / "maps" / path).read_text(encoding="utf-8")
        assert _masked((tmp_path / path).read_text(encoding="utf-8")) == _masked(want), path


def test_small_case_group_maps_from_pieces(tmp_path):
    """The hand-made four districts: each county's cells as a piece of their own, in the
    run's order, and a piece holding two counties' cells (a tile across a border)."""
    layers = _small_layers()
    cells = layers["cells"]
    plan = plan_map_set(layers["districts"], "county", tmp_path / "p.html")
    assert plan.order == ("东 区", "东/区", "(none)")
    assert plan.names == file_names(["东 区", "东/区", "(none)"])
    want = {}
    for g in plan.order:
        want[g] = draw_group_map(layers, tmp_path / f"whole-{plan.names[g]}", by="county",
                                 group=g, back=plan.back).read_text(encoding="utf-8")
    pieces = {"东/区": ["c0", "c1", "c2", "c3", "c4", "c5"], "东 区": ["c6", "c7", "c8"],
              "(none)": ["c9", "c10", "c11"]}
    for g, ids in pieces.items():
        html = draw_group_map({**layers, "cells": cells.loc[ids]}, tmp_path / "g.html",
                              by="county", group=g, back=plan.back).read_text(encoding="utf-8")
        assert sorted(_cell_ids(html)) == sorted(ids)
        assert _masked(html) == _masked(want[g])
    tile = cells.loc[["c4", "c5", "c6", "c7"]]   # D2 (东/区) and D3 (东 区)
    html = draw_group_map({**layers, "cells": tile}, tmp_path / "t.html", by="county",
                          group="东 区", back=plan.back).read_text(encoding="utf-8")
    assert _cell_ids(html) == ["c6", "c7"] and _school_ids(html) == ["s2"]
    # no cells of the county at all: its districts and schools still drawn
    html = draw_group_map({**layers, "cells": cells.iloc[:0]}, tmp_path / "e.html",
                          by="county", group="(none)", back=plan.back).read_text(
                              encoding="utf-8")
    assert _cell_ids(html) == [] and _school_ids(html) == ["s3"]


def test_small_case_pieces_draw_the_groups_they_hold_whole(tmp_path):
    """A worker's piece draws the maps of the groups all of whose cells it holds (three
    cells per district, the districts' ``cells`` column): pieces by county draw every map,
    pieces by district only those of the counties of one district."""
    layers = _small_layers()
    layers["districts"] = layers["districts"].assign(cells=[3, 3, 3, 3])
    cells = layers["cells"]
    plan = plan_map_set(layers["districts"], "county", tmp_path / "p.html")
    want = {g: draw_group_map(layers, tmp_path / f"w{i}.html", by="county", group=g,
                              back=plan.back).read_text(encoding="utf-8")
            for i, g in enumerate(plan.order)}
    stage = tmp_path / "stage"
    stage.mkdir()
    by_county = [cells.iloc[:6], cells.iloc[6:9], cells.iloc[9:]]
    assert [draw_piece_maps(p, layers, plan, stage) for p in by_county] == [
        ["东/区"], ["东 区"], ["(none)"]]
    for g in plan.order:
        got = (stage / plan.names[g]).read_text(encoding="utf-8")
        assert _masked(got) == _masked(want[g])
    by_district = [cells.iloc[3 * k:3 * k + 3] for k in range(4)]
    assert [draw_piece_maps(p, layers, plan, tmp_path) for p in by_district] == [
        [], [], ["东 区"], ["(none)"]]
    assert not (tmp_path / plan.names["东/区"]).exists()


def test_cluster_maps_by_rule(capsys):
    n = ONE_MAP_CELLS
    assert ONE_MAP_CELLS == 200_000
    assert cluster_maps_by("type", cells=10 * n, group=None, districts=True) == "type"
    assert cluster_maps_by(None, cells=n, group="county", districts=True) is None
    assert cluster_maps_by(None, cells=n + 1, group="county", districts=True) == "county"
    assert cluster_maps_by(None, cells=n + 1, group=None, districts=True) == DISTRICTS
    assert cluster_maps_by(None, cells=n + 1, group=None, districts=False) is None
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "  map: 200,001 cells on a cluster, over 200,000 for one map: an overview and a map "
        "per county (maps_by chooses)",
        "  map: 200,001 cells on a cluster, over 200,000 for one map: an overview and a map "
        "per district (maps_by chooses)",
        "  map: one map of 200,001 cells (no districts to draw a map per district by: the map "
        "holds every cell in one process)"]


@pytest.mark.browser
def test_a_county_map_from_its_cells_in_the_browser(offline_page, run, tmp_path):
    results, _ = run
    layers = _layers(results)
    cells = results.cells[results.cells["district"].isin(_types()["urban"])]
    plan = plan_map_set(layers["districts"], "type", tmp_path / "province.html")
    path = draw_group_map({**layers, "cells": cells}, tmp_path / "province" / "urban.html",
                          by="type", group="urban", back=plan.back)
    page = offline_page
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ge-ready]", state="attached", timeout=30_000)
    assert page.evaluate("GE.counts['ge-cell ge-cell-gap']") == len(cells)
    n_schools = int(np.isin(results.schools["district"], _types()["urban"]).sum())
    assert page.locator("path.ge-school").count() == n_schools > 0
    assert page.inner_text(".ge-ov-back") == "\u2190 Overview"
    assert page.console_errors == [] and page.blocked_requests == []


def test_a_cluster_run_above_the_size_draws_maps_by_its_group(client, tmp_path, monkeypatch,
                                                                capsys):
    """Without maps_by, a cluster run of more cells than one map holds draws the overview and
    a map per district group (here ``[districts] group = "type"``); the size lowered to the
    demo's."""
    import geoequity.maps._overview as ov

    monkeypatch.setattr(ov, "ONE_MAP_CELLS", 100)
    path = _scenario(tmp_path)
    text = path.read_text(encoding="utf-8").replace("[districts]\n",
                                                    '[districts]\ngroup = "type"\n')
    text = re.sub(r"\[network\][^\[]*", "[network]\neuclidean = true\n\n", text)
    path.write_text(text, encoding="utf-8")
    results = ge.run_scenario(path, client=client)
    n = len(results.cells)
    assert n > 100
    assert (f"  map: {n:,} cells on a cluster, over 100 for one map: an overview and a map per "
            "district type ([outputs] maps_by chooses)") in capsys.readouterr().err.splitlines()
    assert sorted(p.name for p in (tmp_path / "maps" / "province").glob("*.html")) == [
        f"{k}.html" for k in KINDS]
    types = _types()
    for kind in KINDS:
        html = (tmp_path / "maps" / "province" / f"{kind}.html").read_text(encoding="utf-8")
        want = results.cells.index[results.cells["district"].isin(types[kind])]
        assert sorted(map(str, _cell_ids(html))) == sorted(map(str, want))
