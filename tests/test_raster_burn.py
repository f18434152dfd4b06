"""Burning polygon cells into the map's position raster, slice by slice (maps/_raster.py)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geoequity.maps import _raster


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
    cx = (np.arange(size) + 0.5) * res
    cy = size * res - (np.arange(size) + 0.5) * res
    gx, gy = np.meshgrid(cx, cy)
    want = np.zeros((size, size), dtype=np.int32)
    took = np.zeros(n, dtype=bool)
    for i, poly in enumerate(polys):
        inside = shapely.contains_xy(poly, gx, gy)
        want[inside] = i + 1
        took[i] = inside.any()
    for i in np.flatnonzero(~took):
        x, y = shapely.get_coordinates(shapely.point_on_surface(polys[i]))[0]
        want[min(int((size * res - y) / res), size - 1), min(int(x / res), size - 1)] = i + 1
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
