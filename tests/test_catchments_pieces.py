"""Nearest-school catchments from pieces (catchments_piece, catchments_of) against the
in-process nearest_catchments and hand-computed cases (issue #14, s24)."""

from __future__ import annotations

import pickle

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from _cases import demo_scenario
from shapely.geometry import box

import geoequity as ge
from geoequity.catchments import catchments_of, catchments_piece, nearest_catchments

CRS = "EPSG:32650"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("catch")
    with ge.quiet():
        res = ge.run_scenario(demo_scenario(tmp), report=False)
    return res


def _tiles(cells, size, offset=(0.0, 0.0)):
    xy = shapely.get_coordinates(shapely.centroid(cells.geometry.to_numpy()))
    key = np.floor((xy - np.asarray(offset)) / size).astype(np.int64)
    _, labels = np.unique(key[:, 0] * 100_000 + key[:, 1], return_inverse=True)
    return labels


def _from_pieces(cells, labels, rng=None, **kw):
    order = range(int(labels.max()) + 1) if rng is None else rng.permutation(
        int(labels.max()) + 1)
    pieces = [catchments_piece(cells.iloc[np.flatnonzero(labels == k)]) for k in order]
    pieces = [pickle.loads(pickle.dumps(p)) for p in pieces]   # as a worker sends them
    return catchments_of(pieces, **kw), pieces


def _assert_same(got, ref):
    """The same table; floats to 1e-12 (sums added piece by piece); polygons as areas
    (symmetric difference under 1e-6 of the area) with the same parts and holes (in any
    order)."""
    assert list(got.columns) == list(ref.columns)
    assert got.index.equals(ref.index) and got.index.name == ref.index.name
    plain = [c for c in ref.columns if c != "geometry"]
    pd.testing.assert_frame_equal(pd.DataFrame(got[plain]), pd.DataFrame(ref[plain]),
                                  check_exact=False, rtol=1e-12)
    for col in ("school", "cells"):
        assert got[col].tolist() == ref[col].tolist()
    assert got.crs == ref.crs
    a, b = got.geometry.to_numpy(), ref.geometry.to_numpy()
    diff = shapely.area(shapely.symmetric_difference(a, b))
    assert (diff <= 1e-6 * shapely.area(b)).all()
    assert (shapely.get_num_geometries(a) == shapely.get_num_geometries(b)).all()
    holes = [sorted(len(g.interiors) for g in getattr(x, "geoms", [x])) for x in a]
    assert holes == [sorted(len(g.interiors) for g in getattr(x, "geoms", [x])) for x in b]
    assert got.attrs["cells_without_school"] == ref.attrs["cells_without_school"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_demo_catchments_from_pieces_equal_in_process(demo, seed):
    cells, ref = demo.cells, demo.catchments   # ref: the run's own (in process)
    rng = np.random.default_rng(seed)
    size = rng.uniform(800, 4000)
    splits = {
        "tiles": _tiles(cells, size, rng.uniform(0, size, 2)),
        "districts": np.unique(cells["district"].astype(str), return_inverse=True)[1],
        "random": rng.integers(0, 6, len(cells)),   # scattered: every school in many pieces
    }
    for labels in splits.values():
        got, pieces = _from_pieces(cells, labels, rng)
        _assert_same(got, ref)
        # small: a row per school reached, its polygons' corners far fewer than the cells'
        assert sum(len(p.stats) for p in pieces) <= len(ref) * len(pieces)
    # the pieces of districts hold the outlines only
    _, pieces = _from_pieces(cells, splits["districts"])
    corners = sum(len(shapely.get_coordinates(p.geometry)) for p in pieces)
    assert corners < len(cells)


def _fractional_grid(seed=5):
    """Pixels of a raster whose origin and size are not whole metres (corners computed as
    read_population does), 12 schools, five cells reaching none."""
    rng = np.random.default_rng(seed)
    h, w, a = 50, 70, 92.77
    c0, f0 = 512345.678, 3456789.123
    rows, cols = np.nonzero(rng.random((h, w)) < 0.8)
    x0, y0 = c0 + cols * a, f0 - rows * a
    geoms = shapely.box(x0, y0 - a, x0 + a, y0)
    schools = rng.uniform([c0, f0 - h * a], [c0 + w * a, f0], size=(12, 2))
    xy = shapely.get_coordinates(shapely.centroid(geoms))
    d = np.hypot(xy[:, None, 0] - schools[None, :, 0], xy[:, None, 1] - schools[None, :, 1])
    ids = pd.array([f"S{j:02d}" for j in d.argmin(1)], dtype="str")
    cells = gpd.GeoDataFrame({"children": rng.random(len(rows)), "nearest_id": ids,
                              "nearest_cost": d.min(1)}, geometry=geoms, crs=CRS,
                             index=pd.Index(rows * w + cols, name="cell"))
    cells.loc[cells.index[:5], ["nearest_id", "nearest_cost"]] = [pd.NA, np.nan]
    return cells


@pytest.mark.parametrize("size", [400, 1100, 2500])
def test_fractional_grid_pieces_join_across_borders(size):
    # the pieces' pixel corners agree with the whole's to the last bits only: joined at a
    # snapping precision, every catchment has the in-process parts and holes
    cells = _fractional_grid()
    ref = nearest_catchments(None, cells, nearest_school=cells)
    got, _ = _from_pieces(cells, _tiles(cells, size, (17.0, 31.0)),
                          np.random.default_rng(size))
    _assert_same(got, ref)
    assert ref.attrs["cells_without_school"] == 5


def test_seats_columns_from_pieces():
    cells = _fractional_grid()
    seats = pd.Series(np.arange(12) * 10.0, index=[f"S{j:02d}" for j in range(12)])
    ref = nearest_catchments(None, cells, nearest_school=cells, supply=seats)
    got, _ = _from_pieces(cells, _tiles(cells, 1000), supply=seats)
    _assert_same(got, ref)
    assert {"seats", "seats_per_child", "shortfall"} <= set(got.columns)


def _two_by_two(owner):
    """Cells a (0,0) b (1,0) c (0,1) d (1,1) of 100 m with 1, 2, 3, 4 children; ``owner``
    the school of each; cost 10 x the children."""
    cells = gpd.GeoDataFrame({"children": [1.0, 2.0, 3.0, 4.0],
                              "nearest_id": pd.array(list(owner), dtype="str"),
                              "nearest_cost": [10.0, 20.0, 30.0, 40.0]},
                             geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100),
                                       box(0, 100, 100, 200), box(100, 100, 200, 200)],
                             index=pd.Index(list("abcd"), name="cell"), crs=CRS)
    return cells


def test_hand_case_columns_join_across_two_pieces():
    # A owns the left column (a, c), B the right (b, d); the pieces are the rows
    cells = _two_by_two("ABAB")
    low = catchments_piece(cells.loc[["a", "b"]])
    high = catchments_piece(cells.loc[["c", "d"]])
    assert len(low.stats) == 2 and low.geometry[0].equals(box(0, 0, 100, 100))
    out = catchments_of([high, low])
    assert out["school"].tolist() == ["A", "B"] and out.index.name == "school"
    assert out["cells"].tolist() == [2, 2]
    assert out["children"].tolist() == [4.0, 6.0]
    assert out["mean_cost"].tolist() == [20.0, 30.0]
    assert out["max_cost"].tolist() == [30.0, 40.0]
    assert out["area_km2"].tolist() == [0.02, 0.02]
    assert out.geometry["A"].geom_type == "Polygon"
    assert out.geometry["A"].normalize().equals(box(0, 0, 100, 200).normalize())
    assert out.geometry["B"].normalize().equals(box(100, 0, 200, 200).normalize())
    _assert_same(out, nearest_catchments(None, cells, nearest_school=cells))


def test_hand_case_diagonal_catchments_stay_two_parts():
    # A owns a and d (touching at a corner), B b and c; pieces: the rows. A raster's
    # 4-connected regions: each school's catchment is two squares
    cells = _two_by_two("ABBA")
    out = catchments_of([catchments_piece(cells.loc[["a", "b"]]),
                         catchments_piece(cells.loc[["c", "d"]])])
    for school, squares in (("A", [box(0, 0, 100, 100), box(100, 100, 200, 200)]),
                            ("B", [box(100, 0, 200, 100), box(0, 100, 100, 200)])):
        geom = out.geometry[school]
        assert geom.geom_type == "MultiPolygon" and len(geom.geoms) == 2
        assert geom.normalize().equals(shapely.MultiPolygon(squares).normalize())
    assert out["children"].tolist() == [5.0, 5.0]
    assert out["mean_cost"].tolist() == [25.0, 25.0]
    _assert_same(out, nearest_catchments(None, cells, nearest_school=cells))


def test_empty_pieces_and_cells_reaching_no_school():
    cells = _two_by_two("AAAB")
    cells.loc["d", ["nearest_id", "nearest_cost"]] = [pd.NA, np.nan]
    pieces = [catchments_piece(cells.iloc[:0]), catchments_piece(cells.loc[["a", "b"]]),
              catchments_piece(cells.loc[["c", "d"]]), catchments_piece(cells.iloc[:0])]
    out = catchments_of(pieces)
    assert out["school"].tolist() == ["A"]
    assert out["cells"].tolist() == [3] and out["children"].tolist() == [6.0]
    assert out["mean_cost"].tolist() == [20.0]
    assert out.attrs["cells_without_school"] == 1
    assert out.geometry["A"].area == 30_000.0


def test_cells_without_children_give_nan_children():
    # no children column: the catchments count cells only (children NaN, as in process)
    cells = _two_by_two("ABAB").drop(columns="children")
    out = catchments_of([catchments_piece(cells.loc[["a", "b"]]),
                         catchments_piece(cells.loc[["c", "d"]])])
    assert out["cells"].tolist() == [2, 2] and out["children"].isna().all()
    _assert_same(out, nearest_catchments(None, cells, nearest_school=cells))
