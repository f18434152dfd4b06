"""Catchment polygons: hand-made grids with known areas."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoequity import InputError
from geoequity.catchments import cell_polygons, nearest_catchments, service_areas

CRS = "EPSG:32650"


def _grid(n=3, size=100.0, points=False):
    ids, geoms = [], []
    for r in range(n):
        for c in range(n):
            ids.append(f"r{r}c{c}")
            x0, y0 = c * size, r * size
            geoms.append(shapely.Point(x0 + size / 2, y0 + size / 2) if points
                         else shapely.box(x0, y0, x0 + size, y0 + size))
    return gpd.GeoDataFrame({"children": np.arange(1.0, n * n + 1)}, geometry=geoms,
                            index=pd.Index(ids, name="id"), crs=CRS)


def _costs(cells, schools):
    """Straight-line costs from cell centres to school points (hand-checkable)."""
    cen = shapely.centroid(cells.geometry.to_numpy())
    rows = []
    for sid, sp in schools.items():
        d = shapely.distance(cen, sp)
        rows += [(cid, sid, float(v)) for cid, v in zip(cells.index, d, strict=True)]
    return pd.DataFrame(rows, columns=["origin", "destination", "cost"])


def test_nearest_catchments_on_polygon_grid():
    cells = _grid()
    # school A at the left edge centre, B at the right edge centre: middle column ties
    schools = {"A": shapely.Point(0, 150), "B": shapely.Point(300, 150)}
    costs = _costs(cells, schools)
    out = nearest_catchments(costs, cells, supply=pd.Series({"A": 10.0, "B": 30.0}))
    # ties on the middle column go to the smaller id, A: 6 cells (0.06 km2) and 3 cells
    assert out.loc["A", "cells"] == 6 and out.loc["B", "cells"] == 3
    assert out.loc["A", "area_km2"] == pytest.approx(0.06)
    assert out.loc["B", "geometry"].equals(shapely.box(200, 0, 300, 300).normalize()) or \
        out.loc["B", "geometry"].symmetric_difference(shapely.box(200, 0, 300, 300)).area < 1e-6
    # children: columns 0,1 -> 1+2+4+5+7+8 = 27 ; column 2 -> 3+6+9 = 18
    assert out.loc["A", "children"] == 27 and out.loc["B", "children"] == 18
    assert out.loc["A", "shortfall"] == 17
    assert out.loc["B", "seats_per_child"] == pytest.approx(30 / 18)
    assert out.crs == cells.crs


def test_threshold_leaves_far_cells_out():
    cells = _grid()
    costs = _costs(cells, {"A": shapely.Point(0, 0)})
    out = nearest_catchments(costs, cells, threshold=160)
    # cell centres within 160 m of (0,0): (50,50) 70.7, (150,50) 158.1, (50,150) 158.1
    assert out.loc["A", "cells"] == 3
    assert out.attrs["cells_without_school"] == 6


def test_point_cells_become_voronoi_squares():
    pts = _grid(points=True)
    polys = cell_polygons(pts)
    # the interior point of a regular 100 m grid gets exactly its 100 m square
    assert polys["r1c1"].area == pytest.approx(10000.0, rel=1e-9)
    assert polys["r1c1"].symmetric_difference(shapely.box(100, 100, 200, 200)).area < 1e-6
    # cells never overlap
    assert shapely.union_all(polys.to_numpy()).area == pytest.approx(polys.area.sum(), rel=1e-9)


def test_service_areas_overlap():
    cells = _grid()
    schools = {"A": shapely.Point(0, 150), "B": shapely.Point(300, 150)}
    out = service_areas(_costs(cells, schools), cells, 160)
    # A reaches column 0 (50, 111.8, 111.8) and the middle-row centre of column 1 (150)
    assert out.loc["A", "cells"] == 4 and out.loc["B", "cells"] == 4
    assert out.loc["A", "geometry"].intersection(out.loc["B", "geometry"]).area == \
        pytest.approx(10000.0)


def test_geographic_crs_refused():
    cells = _grid().to_crs(4326)
    with pytest.raises(InputError, match="geographic"):
        cell_polygons(cells)


def test_helsinki_grid_catchments_partition_the_grid(shared_data):
    """Real 250 m HSY grid cells: nearest-school catchments partition the cells exactly."""
    cells = gpd.read_file(shared_data / "helsinki" / "helsinki_population_grid_2020.gpkg")
    cells = cells.set_index("id").to_crs(3067)  # ETRS-TM35FIN, metres
    cells["children"] = cells["population"] * 0.1
    cen = shapely.centroid(cells.geometry.to_numpy())
    # three "schools" at the centres of cells 10, 45 and 80 (the data have none)
    schools = {sid: cen[cells.index.get_loc(sid)] for sid in (10, 45, 80)}
    costs = _costs(cells, schools)
    out = nearest_catchments(costs, cells)
    assert out["cells"].sum() == len(cells) == 92
    assert out["children"].sum() == pytest.approx(cells["children"].sum())
    assert out.area.sum() == pytest.approx(cells.area.sum(), rel=1e-9)
    # pairwise disjoint: the union's area equals the sum of areas
    assert shapely.union_all(out.geometry.to_numpy()).area == pytest.approx(out.area.sum(),
                                                                           rel=1e-9)
    # each school's own cell is in its catchment (cost 0)
    for sid in schools:
        assert out.loc[sid, "geometry"].contains(cen[cells.index.get_loc(sid)])


def _holey_grid(seed=3, n=30, size=100.0, x0=500_000.0, y0=3_500_000.0):
    """An irregular raster-like grid: ~60 % of an n x n lattice of squares, off the origin."""
    rng = np.random.default_rng(seed)
    r, c = np.nonzero(rng.random((n, n)) < 0.6)
    geoms = shapely.box(x0 + c * size, y0 + r * size, x0 + (c + 1) * size, y0 + (r + 1) * size)
    return gpd.GeoDataFrame({"children": rng.integers(1, 9, len(r)).astype(float)},
                            geometry=geoms, index=pd.Index(r * n + c, name="cell"), crs=CRS)


def _schools(cells, k, seed=4):
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = cells.total_bounds
    return {f"S{j}": shapely.Point(rng.uniform(x0, x1), rng.uniform(y0, y1)) for j in range(k)}


def test_grid_catchments_equal_the_union_of_their_squares():
    # pixels of a grid take the label-raster path; each school's polygon must be the union
    # of its squares, computed here with shapely from the cells' own nearest school
    cells = _holey_grid()
    schools = _schools(cells, 7)
    costs = _costs(cells, schools)
    out = nearest_catchments(costs, cells)
    best = costs.sort_values(["origin", "cost", "destination"]).groupby("origin").first()
    for sid, grp in best.groupby("destination"):
        ref = shapely.union_all(cells.geometry.loc[grp.index].to_numpy())
        got = out.loc[sid, "geometry"]
        assert got.is_valid
        assert got.area == pytest.approx(ref.area, rel=1e-12)
        assert got.symmetric_difference(ref).area < 1e-6
        assert out.loc[sid, "area_km2"] == pytest.approx(len(grp) * 0.01)
    assert int(out["cells"].sum()) == len(cells)


def test_grid_catchment_in_parts_and_with_a_hole():
    # 5 x 5 squares: school B owns the centre and one far corner, A the rest; A's catchment
    # is a square ring with a hole (less the corner), B's is two separate squares
    cells = _grid(n=5)
    b_cells = {"r2c2", "r4c4"}
    costs = pd.DataFrame([(cid, s, 1.0 if (s == "B") == (cid in b_cells) else 2.0)
                          for cid in cells.index for s in ("A", "B")],
                         columns=["origin", "destination", "cost"])
    out = nearest_catchments(costs, cells)
    a, b = out.loc["A", "geometry"], out.loc["B", "geometry"]
    assert b.geom_type == "MultiPolygon" and len(b.geoms) == 2
    assert b.area == pytest.approx(2 * 100 * 100)
    assert a.geom_type == "Polygon" and len(a.interiors) == 1
    assert a.area == pytest.approx(23 * 100 * 100)
    assert a.union(b).equals(shapely.box(0, 0, 500, 500))


def test_cells_that_are_not_one_grid_are_dissolved_as_polygons():
    # overlapping squares (two on one place) and squares off the lattice: no label raster
    from geoequity.catchments import _grid as grid_of

    cells = _grid(n=3)
    assert grid_of(cells.geometry.to_numpy()) is not None
    shifted = cells.copy()
    shifted.loc["r0c0", "geometry"] = shapely.box(30, 0, 130, 100)   # overlaps r0c1
    assert grid_of(shifted.geometry.to_numpy()) is None
    twice = pd.concat([cells, cells.iloc[[4]].rename(index={"r1c1": "dup"})])
    assert grid_of(twice.geometry.to_numpy()) is None
    diamond = cells.copy()
    diamond.loc["r0c0", "geometry"] = shapely.Polygon([(50, 0), (100, 50), (50, 100), (0, 50)])
    assert grid_of(diamond.geometry.to_numpy()) is None
    schools = {"A": shapely.Point(0, 150), "B": shapely.Point(300, 150)}
    out = nearest_catchments(_costs(shifted, schools), shifted)
    # r0c0 moved 30 m right: A's union loses the 30 m strip at x 0..30 of row 0
    assert out.loc["A", "geometry"].area == pytest.approx(6 * 100 * 100 - 30 * 100)
