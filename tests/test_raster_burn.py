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
