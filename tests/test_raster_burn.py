"""Burning polygon cells into the map's position raster, slice by slice (maps/_raster.py)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geoequity.maps import _raster


def _reference(polys, xmin, ymax, res, w, h):
    """Every pixel centre against every polygon (the last containing it wins), and a polygon
    that takes none gets the pixel of its point on surface; and which polygons took a
    pixel centre."""
    gx, gy = np.meshgrid(xmin + (np.arange(w) + 0.5) * res, ymax - (np.arange(h) + 0.5) * res)
    want = np.zeros((h, w), dtype=np.int32)
    took = np.zeros(len(polys), dtype=bool)
    for i, poly in enumerate(polys):
        inside = shapely.contains_xy(poly, gx, gy)
        want[inside] = i + 1
        took[i] = inside.any()
    for i in np.flatnonzero(~took):
        x, y = shapely.get_coordinates(shapely.point_on_surface(polys[i]))[0]
        want[min(int((ymax - y) / res), h - 1), min(int((x - xmin) / res), w - 1)] = i + 1
    return want, took


@pytest.mark.parametrize("slice_pixels", [7, 300, 10**9])
def test_burn_in_slices_matches_a_pixel_by_pixel_reference(monkeypatch, slice_pixels):
    # overlapping discs and slivers smaller than a pixel; the reference tests every pixel
    # centre against every polygon: the last polygon containing it wins, a polygon that takes
    # no pixel centre gets the pixel of its point on surface
    monkeypatch.setattr(_raster, "BURN_PIXELS", slice_pixels)
    rng = np.random.default_rng(8)
    n, size, res = 60, 40, 5.0
    pts = shapely.points(rng.uniform(0, size * res, n), rng.uniform(0, size * res, n))
    polys = shapely.buffer(pts, rng.uniform(0.5, 20, n), quad_segs=4)
    got = _raster._burn_polygons(polys, 0.0, size * res, res, size, size)
    want, took = _reference(polys, 0.0, size * res, res, size, size)
    assert (~took).any() and took.any()
    assert (got == want).all()


@pytest.mark.parametrize("crs", [4326, 32650])
@pytest.mark.parametrize("mercator_slice", [7, 10**9])
def test_cells_reprojected_slice_by_slice_burn_as_the_whole_layer(monkeypatch, mercator_slice,
                                                                  crs):
    # lon/lat squares and slivers: the raster of cell_raster (Web Mercator copies made a slice
    # at a time from the vertices' lon/lat) against a pixel-by-pixel reference on the whole
    # layer reprojected at once by geopandas; in UTM (as a run's cells), the reference goes
    # through EPSG:4326 as the map's layers do
    import geopandas as gpd

    monkeypatch.setattr(_raster, "MERCATOR_SLICE", mercator_slice)
    monkeypatch.setattr(_raster, "BURN_PIXELS", 50)
    rng = np.random.default_rng(3)
    n = 40
    x = 117.0 + rng.uniform(0, 0.02, n)
    y = 32.0 + rng.uniform(0, 0.02, n)
    w = np.where(np.arange(n) % 9 == 0, 1e-6, 0.001)   # every ninth a sliver
    cells = gpd.GeoDataFrame(geometry=shapely.box(x, y, x + w, y + 0.001), crs=4326)
    cells = cells.to_crs(crs)
    if crs == 4326:
        got = _raster.cell_raster(cells)
    else:
        lonlat = _raster.lonlat_coordinates(np.asarray(cells.geometry.array), cells.crs)
        got = _raster.cell_raster(cells, lonlat=lonlat)
    merc = np.asarray(cells.geometry.to_crs(4326).to_crs(3857).array)
    xmin, _, _, ymax = shapely.total_bounds(merc)
    assert (got.xmin, got.ymax) == (xmin, ymax)
    assert got.res == max(float(np.median(np.sqrt(shapely.area(merc)))) / 2.0, 1e-6)
    h, wd = got.ids.shape
    gx, gy = np.meshgrid(xmin + (np.arange(wd) + 0.5) * got.res,
                         ymax - (np.arange(h) + 0.5) * got.res)
    want = np.zeros((h, wd), dtype=np.int32)
    took = np.zeros(n, dtype=bool)
    for i, poly in enumerate(merc):
        inside = shapely.contains_xy(poly, gx, gy)
        want[inside] = i + 1
        took[i] = inside.any()
    for i in np.flatnonzero(~took):
        px, py = shapely.get_coordinates(shapely.point_on_surface(merc[i]))[0]
        r, c = int((ymax - py) / got.res), int((px - xmin) / got.res)
        want[min(r, h - 1), min(c, wd - 1)] = i + 1
    assert (~took).any() and took.any()
    assert (got.ids == want).all()


@pytest.mark.parametrize("tiles", ["none", "amap"])
def test_map_of_projected_cells_painted_as_image_is_that_of_lonlat_cells(tiles):
    # make_map paints polygon cells above max_vector_cells from their own CRS and the lon/lat
    # of their vertices (no EPSG:4326 copy); the page must be the one drawn from the same
    # cells reprojected to EPSG:4326 by geopandas (GCJ-02 shifted for amap), ids aside
    import re

    import geopandas as gpd

    from geoequity.maps import make_map

    rng = np.random.default_rng(5)
    n = 300
    x = 500_000 + rng.integers(0, 40, n) * 100.0
    y = 3_500_000 + rng.integers(0, 40, n) * 100.0
    cells = gpd.GeoDataFrame({"children": rng.uniform(1, 50, n)},
                             geometry=shapely.box(x, y, x + 100, y + 100), crs=32650)
    cells = cells[~cells.geometry.duplicated()]

    def page(layer):
        m = make_map(cells=layer, title="t", tiles=tiles, max_vector_cells=50)
        return re.sub(r"_[0-9a-f]{32}", "_ID", m.get_root().render())

    projected, lonlat = page(cells), page(cells.to_crs(4326))
    assert "data:image/png" in projected
    assert projected == lonlat



@pytest.mark.parametrize("slice_pixels", [5, 10**9])
def test_quadrilaterals_burn_as_geos_says_also_with_centres_on_edges_and_corners(
        monkeypatch, slice_pixels):
    # squares whose edges and corners lie exactly on pixel centres (the quadrilaterals' own
    # test cannot decide: GEOS must), squares a pixel wide (pixel centres on two edges),
    # rotated and skewed quadrilaterals in both ring orientations, a concave one (a dart:
    # left to GEOS), a triangle with a repeated vertex and a hole-less polygon of 6 vertices
    monkeypatch.setattr(_raster, "BURN_PIXELS", slice_pixels)
    res, w, h = 2.0, 30, 30
    xmin, ymax = 0.0, 60.0
    on = [shapely.box(x0, y0, x0 + 6, y0 + 4) for x0, y0 in [(1, 1), (9, 41), (21, 21)]]
    thin = [shapely.box(11, 1, 13, 9), shapely.box(31, 31, 33, 33)]
    rng = np.random.default_rng(4)
    free = []
    for _ in range(40):
        cx, cy = rng.uniform(5, 55, 2)
        r = rng.uniform(1, 6, 4)
        ang = np.sort(rng.uniform(0, 2 * np.pi, 4))
        ring = np.column_stack([cx + r * np.cos(ang), cy + r * np.sin(ang)])
        free.append(shapely.Polygon(ring if rng.uniform() < 0.5 else ring[::-1]))
    dart = shapely.Polygon([(40, 10), (50, 14), (40, 18), (43, 14)])
    tri = shapely.Polygon([(20, 50), (30, 50), (30, 50), (25, 58)])
    hexa = shapely.Polygon([(45, 40), (49, 40), (51, 44), (49, 48), (45, 48), (43, 44)])
    polys = np.array(on + thin + free + [dart, tri, hexa], dtype=object)
    merc = _raster._MercatorSlices.__new__(_raster._MercatorSlices)
    merc.geoms = polys
    merc.xy = shapely.get_coordinates(polys)
    merc.start = np.r_[0, np.cumsum(shapely.get_num_coordinates(polys))]
    merc.quads = _raster._Quads.of(polys, merc.xy, merc.start)
    assert (merc.quads.at[:5] >= 0).all() and merc.quads.at[-3] == -1   # dart: not convex
    assert merc.quads.at[-1] == -1 and merc.quads.at[-2] == -1
    got = _raster._burn_polygons(polys, xmin, ymax, res, w, h, merc_of=merc,
                                 bounds=merc.bounds(), quads=merc.quads)
    assert (got == _reference(polys, xmin, ymax, res, w, h)[0]).all()
    # an edge through pixel centres is nobody's: the 6 x 4 box at (1, 1) holds 2 x 1 centres
    assert (got == 1).sum() == 2
    assert (merc.bounds() == shapely.bounds(polys)).all()
    # the areas (GEOS' shoelace) and the median side are those of shapely
    quad = merc.quads.at >= 0
    np.testing.assert_array_equal(merc.quads.area(), shapely.area(polys[quad]))
    assert merc.median_side() == float(np.median(np.sqrt(shapely.area(polys))))


def test_vertices_of_a_grid_are_its_distinct_corners_bit_for_bit():
    # 3 x 2 unit squares share their corners: 4 x 3 = 12 distinct points of 30 vertices;
    # -0.0 is not 0.0 (it could reproject to another sign)
    boxes = shapely.box(*np.meshgrid(np.arange(3.0), np.arange(2.0)), *np.meshgrid(
        np.arange(1.0, 4.0), np.arange(1.0, 3.0)))
    xy = shapely.get_coordinates(boxes.ravel())
    v = _raster.Vertices.of(xy)
    assert len(xy) == 30 and len(v.xy) == 12
    np.testing.assert_array_equal(v.all(), xy)
    signed = np.array([[0.0, 1.0], [-0.0, 1.0], [0.0, 1.0], [-0.0, 1.0], [0.0, 1.0]])
    w = _raster.Vertices.of(signed)
    assert len(w.xy) == 2
    assert np.signbit(w.all()[:, 0]).tolist() == [False, True, False, True, False]
    # scattered points (no lattice) are kept as they are
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 1, (50, 2))
    u = _raster.Vertices.of(pts)
    assert len(u.xy) == 50 and (u.codes == np.arange(50)).all()
