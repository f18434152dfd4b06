"""An in-process run writes what needs no assignment while its assignment is solved.

``pipeline.analyse`` calls its ``meanwhile`` once, before it joins the assignment's solve; a
scenario run then writes ``costs.parquet`` into the run's staging folder and makes the map's
cell raster (``geoequity.maps.prepare_cells``), as a cluster run's workers write its
``costs.parquet`` during its global steps. The references: the same run with nothing made
ahead (the map drawn the usual way, the file written at the end) must give the same map,
byte for byte once folium's random element ids are set aside, and the same table; a map of
cells whose canvas was made before their columns were added is the map of those cells, and a
canvas is used only for the geometries it was made from (the same objects, or equal bit for
bit).
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

import geoequity as ge
import geoequity.maps as maps
from geoequity import assignment
from geoequity.maps import _raster

CRS = 32650
X0, Y0 = 500_000.0, 3_400_000.0


def _ids_out(text: str) -> str:
    return re.sub(r"_[0-9a-f]{32}", "_ID", text)


def _province(folder: Path) -> Path:
    """A raster of 110 x 100 populated 100 m pixels (over ``maps.MAX_VECTOR_CELLS``: the map
    paints them as an image) and 30 schools, straight-line costs."""
    rng = np.random.default_rng(3)
    rows, cols = 100, 110
    pop = rng.integers(5, 60, (rows, cols)).astype("float32")
    with rasterio.open(folder / "residents.tif", "w", driver="GTiff", height=rows, width=cols,
                       count=1, dtype="float32", crs=f"EPSG:{CRS}", nodata=-1,
                       transform=from_origin(X0, Y0 + rows * 100, 100, 100)) as dst:
        dst.write(pop, 1)
    x = X0 + rng.uniform(200, cols * 100 - 200, 30)
    y = Y0 + rng.uniform(200, rows * 100 - 200, 30)
    gpd.GeoDataFrame({"school_id": [f"S{i:02d}" for i in range(30)],
                      "seats": rng.integers(150, 900, 30)},
                     geometry=shapely.points(x, y), crs=CRS).to_file(folder / "schools.gpkg")
    path = folder / "province.toml"
    path.write_text(f"""
title = "Early outputs"
[schools]
path = "schools.gpkg"
id = "school_id"
seats = "seats"
[population]
path = "residents.tif"
child_share = 0.08
[network]
euclidean = true
[analysis]
threshold = 1500
max_cost = 4000
assignment_max_cost = 3000
[outputs]
folder = "{(folder / 'out').as_posix()}"
map = "{(folder / 'map.html').as_posix()}"
report = false
""", encoding="utf-8")
    return path


@pytest.fixture()
def province(tmp_path):
    return _province(tmp_path)


def test_costs_and_the_maps_raster_are_made_before_the_solve_is_joined(province, tmp_path,
                                                                       monkeypatch):
    # the solve in a child process, as a province's: the run goes on beside it
    monkeypatch.setattr(assignment, "SOLVE_ELSEWHERE_PAIRS", 1)
    events = []
    real_result = assignment.PendingAssignment.result
    real_raster = _raster.cell_raster

    def result(self):
        staged = list((tmp_path / "out" / ".geoequity" / "runs").glob("*/costs.parquet"))
        events.append(("join", self.where, len(staged)))
        return real_result(self)

    def raster(*args, **kwargs):
        events.append(("raster",))
        return real_raster(*args, **kwargs)

    monkeypatch.setattr(assignment.PendingAssignment, "result", result)
    monkeypatch.setattr(_raster, "cell_raster", raster)
    res = ge.run_scenario(province)
    # the table is staged and the raster made before the join; the map made no other
    assert events == [("raster",), ("join", "process", 1)]
    assert len(res.cells) == 11_000 > maps.MAX_VECTOR_CELLS
    written = pd.read_parquet(tmp_path / "out" / "costs.parquet")
    pd.testing.assert_frame_equal(written, res.costs.reset_index(drop=True),
                                  check_dtype=False, check_categorical=False)
    # the stage became the folder's run: no other left
    assert len(list((tmp_path / "out" / ".geoequity" / "runs").iterdir())) == 1
    made_ahead = _ids_out((tmp_path / "map.html").read_text(encoding="utf-8"))
    assert "data:image/png" in made_ahead

    # the same run, nothing made ahead (analyse given no meanwhile: the table is written
    # with the others, the map drawn from scratch): the same map and table
    from geoequity import pipeline

    real_analyse = pipeline.analyse
    monkeypatch.setattr(pipeline, "analyse",
                        lambda *a, meanwhile=None, **k: real_analyse(*a, **k))
    events.clear()
    again = ge.run_scenario(province)
    # (at the join only the folder's current run holds a costs.parquet)
    assert events == [("join", "process", 1), ("raster",)]
    assert _ids_out((tmp_path / "map.html").read_text(encoding="utf-8")) == made_ahead
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out" / "costs.parquet"),
                                  written)
    pd.testing.assert_series_equal(again.cells["unassigned"], res.cells["unassigned"])


def test_a_failure_while_the_solve_runs_leaves_the_folder_as_it_was(province, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setattr(assignment, "SOLVE_ELSEWHERE_PAIRS", 1)
    ge.run_scenario(province)
    out = tmp_path / "out"
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    runs = sorted((out / ".geoequity" / "runs").iterdir())
    map_before = (tmp_path / "map.html").read_bytes()

    def broken(*args, **kwargs):
        raise ge.InputError("cells: the raster could not be made (test)")

    monkeypatch.setattr(maps, "prepare_cells", broken)
    with pytest.raises(ge.InputError, match="could not be made"):
        ge.run_scenario(province)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert (tmp_path / "map.html").read_bytes() == map_before
    assert sorted((out / ".geoequity" / "runs").iterdir()) == runs   # the stage removed


def _grid(n_side: int = 40) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(8)
    i, j = np.meshgrid(np.arange(n_side), np.arange(n_side))
    x, y = X0 + i.ravel() * 100.0, Y0 + j.ravel() * 100.0
    geoms = shapely.box(x, y, x + 100, y + 100)
    geoms[7] = None                                                  # not drawn
    geoms[11] = shapely.Polygon([(x[11], y[11]), (x[11] + 100, y[11] + 100),
                                 (x[11] + 100, y[11]), (x[11], y[11] + 100)])   # a bow tie
    return gpd.GeoDataFrame({"children": rng.uniform(0, 40, len(x))}, geometry=geoms,
                            crs=CRS, index=pd.Index([f"c{k}" for k in range(len(x))]))


@pytest.mark.parametrize("tiles", ["none", "amap"])
def test_a_canvas_made_before_the_columns_draws_the_same_map(tiles, monkeypatch):
    cells = _grid()
    canvas = maps.prepare_cells(cells, tiles=tiles, max_vector_cells=50)
    assert canvas is not None and canvas.empty.sum() == 1 and canvas.repaired is not None
    # the columns the analysis adds afterwards; the geometry array stays the same object
    cells["access"] = np.linspace(0.1, 2.0, len(cells))
    cells["gap"] = cells["access"] / 1.1
    cells["unassigned"] = np.where(np.arange(len(cells)) % 9 == 0, 3.0, 0.0)

    def page(**kw):
        m = maps.make_map(cells=cells, title="t", tiles=tiles, max_vector_cells=50, **kw)
        return _ids_out(m.get_root().render())

    plain = page()
    calls = []
    real = _raster.cell_raster
    monkeypatch.setattr(_raster, "cell_raster", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert page(canvas=canvas) == plain and calls == []         # used: no raster made again
    assert "data:image/png" in plain and "Children without a seat" in plain


def test_a_canvas_fits_only_the_geometries_it_was_made_from(monkeypatch):
    cells = _grid(30)
    canvas = maps.prepare_cells(cells, max_vector_cells=50)
    calls = []
    real = _raster.cell_raster
    monkeypatch.setattr(_raster, "cell_raster", lambda *a, **k: calls.append(1) or real(*a, **k))

    def page(layer, **kw):
        calls.clear()
        kw = {"max_vector_cells": 50, **kw}
        return _ids_out(maps.make_map(cells=layer, **kw).get_root().render()), len(calls)

    plain, made = page(cells)
    assert made == 1
    # a copy of the frame holds the same geometry objects, and geometries made again from
    # their bits (a piece sent to another process) are the same: the canvas fits
    assert page(cells.copy(), canvas=canvas) == (plain, 0)
    again = cells.set_geometry(shapely.from_wkb(shapely.to_wkb(cells.geometry.array)))
    assert page(again, canvas=canvas) == (plain, 0)
    # one geometry replaced, one moved by a metre's millionth, the rows in another order:
    # not those it was made from (the map is made the usual way)
    geoms = np.asarray(cells.geometry.array).copy()
    geoms[4] = shapely.transform(geoms[4], lambda xy: xy + 1e-6)
    nudged = cells.set_geometry(gpd.GeoSeries(geoms, index=cells.index, crs=CRS))
    assert page(nudged, canvas=canvas) == (page(nudged)[0], 1)
    moved = cells.copy()
    geoms = np.asarray(moved.geometry.array).copy()
    geoms[3] = shapely.box(X0 - 500, Y0 - 500, X0 - 400, Y0 - 400)
    moved = moved.set_geometry(gpd.GeoSeries(geoms, index=moved.index, crs=CRS))
    assert page(moved, canvas=canvas) == (page(moved)[0], 1)
    turned = cells.iloc[::-1]
    assert page(turned, canvas=canvas) == (page(turned)[0], 1)
    # another image rule or basemap shift
    assert page(cells, canvas=canvas, max_vector_cells=60)[1] == 1
    assert page(cells, canvas=canvas, tiles="amap")[1] == 1
    # nothing worth making ahead: points, or cells drawn as vectors; said before any work
    import geoequity.maps._map as map_module

    def no_work(*args, **kwargs):
        raise AssertionError("prepared cells that are not painted as an image")

    monkeypatch.setattr(map_module, "_repairs", no_work)
    assert maps.prepare_cells(cells, max_vector_cells=10_000) is None
    points = cells.set_geometry(cells.geometry.centroid)
    assert maps.prepare_cells(points, max_vector_cells=50) is None

