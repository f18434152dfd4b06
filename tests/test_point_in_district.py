"""The district of a point without point geometries, grid rectangles, representative x/y.

``first_polygon_of`` (the rule of :func:`geoequity.io.district_of`: the first polygon in layer
order that a point intersects, boundary included) is checked by hand on shared edges,
corners, holes, overlaps and multipolygons, and against an STRtree query of shapely points
(the independent reference: what ``district_of`` did before) on random and grid-aligned
points.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoequity.io import district_of
from geoequity.io.districts import first_polygon_of
from geoequity.io.vector import axis_rectangles, representative_points, representative_xy
from geoequity.urban import degree_of_urbanisation

# two squares sharing the edge x = 10; a triangle overlapping the right one; a square with a
# square hole; a multipolygon of two squares
POLYS = np.array([
    shapely.box(0, 0, 10, 10),                                          # 0
    shapely.box(10, 0, 20, 10),                                         # 1
    shapely.Polygon([(15, 0), (30, 0), (30, 15)]),                      # 2
    shapely.Polygon(shapely.box(40, 0, 50, 10).exterior.coords,
                    holes=[shapely.box(43, 3, 47, 7).exterior.coords]),  # 3
    shapely.MultiPolygon([shapely.box(60, 0, 62, 2), shapely.box(70, 0, 72, 2)]),  # 4
    None,                                                               # 5
], dtype=object)


@pytest.mark.parametrize("x, y, expect", [
    (5, 5, 0),          # inside the first square
    (10, 5, 0),         # on the shared edge: the first in layer order
    (10, 10, 0),        # on the shared corner
    (20, 5, 1),         # on the right square's far edge, inside the triangle too: square first
    (25, 2, 2),         # only the triangle
    (30, 15, 2),        # the triangle's vertex
    (45, 5, -1),        # in the hole
    (43, 5, 3),         # on the hole's edge (boundary of the polygon)
    (41, 1, 3),
    (71, 1, 4),         # the multipolygon's second part
    (65, 1, -1),        # between its parts
    (-1, 5, -1),        # outside everything
    (np.nan, 5, -1),    # no coordinates
])
def test_first_polygon_by_hand(x, y, expect):
    got = first_polygon_of(POLYS, np.array([x], float), np.array([y], float))
    assert got.tolist() == [expect]


def _strtree_reference(polys, x, y):
    pts = shapely.points(x, y)
    out = np.full(len(x), -1)
    pi, di = shapely.STRtree(polys).query(pts, predicate="intersects")
    order = np.lexsort((di, pi))
    pi, di = pi[order], di[order]
    first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.zeros(0, bool)
    out[pi[first]] = di[first]
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_first_polygon_as_an_strtree_query_of_points(seed, monkeypatch):
    import geoequity.io.districts as d

    monkeypatch.setattr(d, "_CHUNK_CANDIDATES", 1000)   # several chunks
    rng = np.random.default_rng(seed)
    grid = np.array([shapely.box(i * 10, j * 10, i * 10 + 10, j * 10 + 10)
                     for i in range(6) for j in range(6)], dtype=object)
    polys = np.r_[grid, POLYS]
    polys = polys[rng.permutation(len(polys))]
    x = np.r_[rng.uniform(-5, 80, 4000), rng.integers(-1, 9, 3000) * 10.0,
              rng.integers(0, 80, 2000) * 1.0]
    y = np.r_[rng.uniform(-5, 70, 4000), rng.integers(-1, 8, 3000) * 10.0,
              rng.integers(0, 70, 2000) * 1.0]
    got = first_polygon_of(polys, x, y)
    assert (got == _strtree_reference(polys, x, y)).all()
    assert (got >= 0).sum() > 5000
    assert not shapely.is_prepared(polys).any()   # the layer is left as it was


def test_district_of_polygon_cells_by_their_representative_point():
    districts = gpd.GeoDataFrame({"district": ["W", "E"]},
                                 geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)],
                                 crs="EPSG:32650")
    # an L-shaped cell whose centroid (in the notch, x = 7.5, y = 7.5 ... ) lies outside it
    ell = shapely.Polygon([(11, 0), (19, 0), (19, 2), (13, 2), (13, 9), (11, 9)])
    cells = gpd.GeoDataFrame(geometry=[shapely.box(1, 1, 3, 3), shapely.box(9, 1, 11, 3), ell,
                                       shapely.box(30, 0, 31, 1), None],
                             index=["a", "b", "c", "d", "e"], crs="EPSG:32650")
    got = district_of(cells, districts)
    assert got.tolist() == ["W", "W", "E", "(outside)", "(outside)"]
    assert got.index.tolist() == ["a", "b", "c", "d", "e"]


def test_axis_rectangles_by_hand():
    geoms = np.array([
        shapely.box(0, 0, 2, 1),                                    # a rectangle
        shapely.Polygon([(0, 0), (0, 1), (2, 1), (2, 0)]),          # the other way round
        shapely.Polygon([(0, 0), (1, 1), (0, 2), (-1, 1)]),         # a diamond
        shapely.Polygon([(0, 0), (1, 0), (2, 0), (2, 1), (0, 1)]),  # six coordinates
        shapely.Polygon(shapely.box(0, 0, 4, 4).exterior.coords,
                        holes=[shapely.box(1, 1, 2, 2).exterior.coords]),
        shapely.Polygon([(0, 0), (0, 0), (0, 1), (0, 1)]),          # no width
        shapely.Point(1, 1),
        None,
        shapely.MultiPolygon([shapely.box(0, 0, 1, 1)]),
    ], dtype=object)
    mask, bounds = axis_rectangles(geoms)
    assert mask.tolist() == [True, True, False, False, False, False, False, False, False]
    assert bounds.tolist() == [[0, 0, 2, 1], [0, 0, 2, 1]]


def test_representative_xy_as_the_points():
    ell = shapely.Polygon([(0, 0), (10, 0), (10, 1), (1, 1), (1, 10), (0, 10)])
    gdf = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 2, 2), ell, shapely.Point(3, 4), None,
                                     shapely.Polygon(), shapely.LineString([(0, 0), (4, 0)])],
                           crs="EPSG:32650")
    x, y = representative_xy(gdf)
    pts = representative_points(gdf)
    have = ~(pts.isna() | pts.is_empty).to_numpy()
    assert have.tolist() == [True, True, True, False, False, True]
    assert np.array_equal(x[have], pts[have].x.to_numpy())
    assert np.array_equal(y[have], pts[have].y.to_numpy())
    assert (x[0], y[0], x[2], y[2]) == (1.0, 1.0, 3.0, 4.0)
    assert np.isnan(x[3]) and np.isnan(x[4])
    assert ell.contains(shapely.Point(x[1], y[1]))   # not the centroid: it lies outside


def test_urban_classes_of_rectangles_and_other_polygons_alike():
    """A 1 km cell of 1,600 residents in four 500 m rectangles, or in four polygons of the
    same squares drawn with a fifth (collinear) vertex, which take the general path (the
    centroid of each polygon): an urban cluster of 5,000 needs more, so a block of 4 x 4 km
    cells at 1,600 per km2 (25,600 residents) is a cluster, not a centre (50,000)."""
    def layer(extra_vertex: bool):
        geoms, people = [], []
        for i in range(8):
            for j in range(8):
                x0, y0 = 500_000 + i * 500, 3_500_000 + j * 500
                if extra_vertex:
                    geoms.append(shapely.Polygon([(x0, y0), (x0 + 250, y0), (x0 + 500, y0),
                                                  (x0 + 500, y0 + 500), (x0, y0 + 500)]))
                else:
                    geoms.append(shapely.box(x0, y0, x0 + 500, y0 + 500))
                people.append(400.0)
        return gpd.GeoDataFrame({"residents": people}, geometry=geoms, crs="EPSG:32650")

    plain, drawn = layer(False), layer(True)
    assert axis_rectangles(np.asarray(plain.geometry.values))[0].all()
    assert not axis_rectangles(np.asarray(drawn.geometry.values))[0].any()
    a = degree_of_urbanisation(plain, "residents")
    b = degree_of_urbanisation(drawn, "residents")
    assert a.tolist() == b.tolist() == ["urban cluster"] * 64
    assert isinstance(a, pd.Series)


def test_rectangles_whose_point_is_their_centroid_remembered_with_the_points():
    ell = shapely.Polygon([(0, 0), (10, 0), (10, 1), (1, 1), (1, 10), (0, 10)])
    small = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 2, 2), ell, shapely.Point(3, 4), None,
                                       shapely.box(0, 0, 1, 1).buffer(0).reverse()],
                             crs="EPSG:32650")
    x, y, rect = representative_xy(small, rectangles=True)
    assert rect.tolist() == [True, False, False, False, True]
    assert (x[0], y[0], x[4], y[4]) == (1.0, 1.0, 0.5, 0.5)
    # a grid of 150 x 150 cells of 100 m (22,500: a layer large enough to be remembered)
    i, j = np.divmod(np.arange(22_500), 150)
    grid = gpd.GeoDataFrame(geometry=shapely.box(i * 100.0, j * 100.0, i * 100.0 + 100,
                                                 j * 100.0 + 100), crs="EPSG:32650")
    grid.loc[7, "geometry"] = shapely.Polygon([(0, 0), (50, 0), (50, 10), (0, 10)]).union(
        shapely.box(0, 0, 10, 50))                           # an L: not a rectangle
    first = representative_xy(grid, rectangles=True)
    again = representative_xy(grid.copy(), rectangles=True)   # the remembered answer
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a, b)
    x, y, rect = again
    assert rect.sum() == 22_499 and not rect[7]
    assert (x[1], y[1]) == (50.0, 150.0) and (x[150], y[150]) == (150.0, 50.0)


def test_a_copy_kept_with_keep_points_finds_them_after_its_original_goes(monkeypatch):
    """A cluster run's piece is replaced by a copy at each step: a copy kept while the
    original lived finds the points after it; one not kept computes them again."""
    import gc

    import geoequity.io.vector as vector

    i, j = np.divmod(np.arange(22_500), 150)   # large enough to be remembered

    def grid():
        return gpd.GeoDataFrame(geometry=shapely.box(i * 100.0, j * 100.0, i * 100.0 + 100,
                                                     j * 100.0 + 100), crs="EPSG:32650")

    computed = []
    real = vector._points_of
    monkeypatch.setattr(vector, "_points_of", lambda g: computed.append(len(g)) or real(g))
    for keep in (True, False):
        original = grid()
        vector.keep_points(original)
        copy = original.copy()   # a new array of the same geometries (a shallow copy's
        copy["urban"] = "rural"  # array is a view, which keeps the original's alive)
        if keep:
            vector.keep_points(copy)
        del original
        gc.collect()
        computed.clear()
        x, y = representative_xy(copy)
        assert computed == ([] if keep else [22_500])
        assert (x[0], y[0], x[151], y[151]) == (50.0, 50.0, 150.0, 150.0)   # cell centres


def test_every_live_layer_is_remembered(monkeypatch):
    """A worker holds a piece per partition (8 of a 16-partition run on two workers): each
    step over them finds every piece's points, not only the last few layers'."""
    import geoequity.io.vector as vector

    i, j = np.divmod(np.arange(22_500), 150)
    layers = [gpd.GeoDataFrame(geometry=shapely.box(i * 100.0 + k, j * 100.0, i * 100.0 + 100,
                                                    j * 100.0 + 100), crs="EPSG:32650")
              for k in range(8)]
    computed = []
    real = vector._points_of
    monkeypatch.setattr(vector, "_points_of", lambda g: computed.append(len(g)) or real(g))
    for _ in range(2):   # two steps over the eight pieces
        for k, layer in enumerate(layers):
            x, _y = representative_xy(layer)
            assert x[0] == (100.0 + k) / 2   # the centre of the first cell, k m narrower
    assert computed == [22_500] * 8   # each once, in the first step


def test_points_given_for_a_layer_are_used_not_computed(monkeypatch):
    """A cluster's worker gets its piece's points from the client (remember_points): the
    steps find them; points that cannot be plain ones (NaN) are not taken."""
    import geoequity.io.vector as vector

    i, j = np.divmod(np.arange(22_500), 150)
    layer = gpd.GeoDataFrame(geometry=shapely.box(i * 100.0, j * 100.0, i * 100.0 + 100,
                                                  j * 100.0 + 100), crs="EPSG:32650")
    cx, cy = i * 100.0 + 50, j * 100.0 + 50   # the cells' centres, by hand
    computed = []
    real = vector._points_of
    monkeypatch.setattr(vector, "_points_of", lambda g: computed.append(len(g)) or real(g))
    vector.remember_points(layer, cx, cy, np.ones(22_500, dtype=bool))
    x, y, rect = representative_xy(layer, rectangles=True)
    assert computed == [] and np.array_equal(x, cx) and np.array_equal(y, cy) and rect.all()
    with pytest.raises(ValueError, match="22499 points for 22500 features"):
        vector.remember_points(layer, cx[1:], cy[1:], np.ones(22_499, dtype=bool))
    other = layer.copy()
    other.geometry = shapely.box(i * 100.0, j * 100.0, i * 100.0 + 10, j * 100.0 + 10)
    vector.remember_points(other, np.full(22_500, np.nan), cy, np.ones(22_500, dtype=bool))
    x, _y = representative_xy(other)
    assert computed == [22_500] and x[0] == 5.0   # computed: the NaN points not taken


def test_a_layers_remembered_points_go_with_it():
    """The entry holds the layer's geometries: it goes when the layer does, without waiting
    for another lookup (a cluster's client lets its cells go and may never look again)."""
    import gc

    import geoequity.io.vector as vector

    i, j = np.divmod(np.arange(22_500), 150)
    layer = gpd.GeoDataFrame(geometry=shapely.box(i * 100.0, j * 100.0, i * 100.0 + 100,
                                                  j * 100.0 + 100), crs="EPSG:32650")
    representative_xy(layer)
    held = [e for e in vector._REMEMBERED if len(e[1]) == 22_500]
    assert len(held) == 1
    del layer, held
    gc.collect()
    assert not [e for e in vector._REMEMBERED if len(e[1]) == 22_500]


@pytest.mark.parametrize("ccw", [True, False])
def test_grid_cells_centroids_are_shapelys_to_the_last_bit(ccw, monkeypatch):
    """A grid's cells' representative points are computed from their rings with GEOS's own
    arithmetic (no point object made); they must be shapely.centroid's numbers exactly, on
    grids of 100 m, 92.77 m (Web Mercator), 3 arc-seconds and 1e-7 units, either ring
    orientation. Where the sums disagree (made to here), shapely's centroids are used."""
    import geoequity.io.vector as V

    rng = np.random.default_rng(7)
    for size, (x0, y0) in ((100.0, (300_000.0, 4_000_000.0)),
                           (92.77, (-20_037_508.34, 2_000_000.0)),
                           (1 / 1200, (73.5, 18.2)), (1e-7, (0.1, 0.2))):
        cols, rows = rng.integers(0, 20_000, 5_000), rng.integers(0, 20_000, 5_000)
        x, y = x0 + cols * size, y0 - rows * size
        cells = shapely.box(x, y - size, x + size, y, ccw=ccw)
        want = shapely.get_coordinates(shapely.centroid(cells))
        points, rect = V._points_of(cells)
        assert rect.all() and points.dtype == np.float64
        assert np.array_equal(points, want)
    monkeypatch.setattr(V, "_CENTROIDS_AGREE", [False])
    points, rect = V._points_of(cells)
    assert rect.all() and np.array_equal(points, want)
