"""Dense grids as images: cells painted into one Web Mercator PNG per layer.

Above ``max_vector_cells`` cells, drawing one SVG path per cell makes the page slow and the
file large. The cells are then burnt once into an integer raster of cell positions in
EPSG:3857 (the projection Leaflet draws in, so an image stretched over its lon/lat bounds lines
up exactly), and each layer is a lookup of that raster into its class colours, stored as an
8-bit palette PNG (transparent where there is no cell) inlined as a ``data:`` URI. A 200,000
cell grid then costs a few hundred kB per layer. Pixel size: half the median cell width for
polygons (each cell covers at least 2 x 2 pixels), half the median spacing for point cells
(each pixel takes its nearest point within 0.75 spacing), with at most 4,096 pixels a side.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

MAX_SIDE = 4096
BURN_PIXELS = 500_000   # candidate pixels tested at once when burning polygons
MERCATOR_SLICE = 100_000   # polygons reprojected to Web Mercator at once


@dataclass
class CellRaster:
    """Position raster of the cells (0 = no cell, i + 1 = cell i) and its lon/lat bounds."""

    ids: np.ndarray
    bounds: list[list[float]]  # [[south, west], [north, east]]
    n: int
    xmin: float = 0.0  # EPSG:3857 origin (upper left) and pixel size, metres
    ymax: float = 0.0
    res: float = 1.0

    def lookup(self) -> dict:
        """``GE.rasterClick`` payload: the position raster as a 24-bit RGB PNG and its grid.

        A click is mapped to a pixel, the pixel's colour to ``id = r * 65536 + g * 256 + b``
        and the id to cell ``id - 1`` (0: no cell), so dense grids keep their popups.
        """
        from PIL import Image

        ids = self.ids.astype(np.uint32)
        rgb = np.stack([(ids >> 16) & 255, (ids >> 8) & 255, ids & 255], axis=-1)
        buf = io.BytesIO()
        Image.fromarray(rgb.astype(np.uint8), mode="RGB").save(buf, format="PNG")
        url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        h, w = self.ids.shape
        return {"url": url, "xmin": self.xmin, "ymax": self.ymax, "res": self.res, "w": w,
                "h": h}

    def payload(self, classes: np.ndarray, colors: list[str], *, cls: str,
                opacity: float = 0.8) -> dict:
        """``GE.image`` payload: the PNG of ``classes`` (index into ``colors``) per cell."""
        lut = np.zeros(self.n + 1, dtype=np.uint8)
        lut[1:] = np.asarray(classes, dtype=np.int64) + 1
        img = lut[self.ids]
        return {"url": _png(img, colors), "bounds": self.bounds, "opacity": opacity,
                "cls": cls, "n": self.n}


def _png(img: np.ndarray, colors: list[str]) -> str:
    from PIL import Image

    pal = [0, 0, 0]
    for c in colors:
        c = c.lstrip("#")
        pal += [int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)]
    im = Image.fromarray(img, mode="P")
    im.putpalette(pal + [0, 0, 0] * (256 - len(pal) // 3))
    buf = io.BytesIO()
    im.save(buf, format="PNG", transparency=0)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def cell_raster(cells: gpd.GeoDataFrame, *, lonlat: Vertices | None = None) -> CellRaster:
    """Burn ``cells`` (EPSG:4326) into a Web Mercator position raster.

    Polygon cells may come in another CRS with ``lonlat``, the lon/lat of their vertices
    (:class:`Vertices`, from :func:`lonlat_coordinates`): the map then needs no
    EPSG:4326 copy of a province's polygons, and draws the same raster.
    """
    geo = np.asarray(cells.geometry.array)
    n = len(geo)
    types = shapely.get_type_id(geo)   # a reprojection keeps every geometry's type
    points = np.isin(types, [0, 4]).all()
    if points:
        merc = _mercator(geo, cells.crs)
        xmin, ymin, xmax, ymax = shapely.total_bounds(merc)
        xy = shapely.get_coordinates(shapely.centroid(merc))
        spacing = _point_spacing(xy)
        res = spacing / 2.0
        xmin, ymin, xmax, ymax = (xmin - spacing, ymin - spacing, xmax + spacing,
                                  ymax + spacing)
    else:
        # polygons: the vertices are reprojected once, as geopandas' to_crs reprojects them
        # (vertex by vertex); the bounds come from the vertices, and Web Mercator polygons
        # are built only where a quadrilateral's own arithmetic cannot decide (see _Quads)
        merc_of = _MercatorSlices(geo, cells.crs, lonlat)
        bounds = merc_of.bounds()
        xmin, ymin = np.nanmin(bounds[:, 0]), np.nanmin(bounds[:, 1])
        xmax, ymax = np.nanmax(bounds[:, 2]), np.nanmax(bounds[:, 3])
        res = merc_of.median_side() / 2.0
    res = max(res, (xmax - xmin) / MAX_SIDE, (ymax - ymin) / MAX_SIDE, 1e-6)
    width = max(1, int(np.ceil((xmax - xmin) / res)))
    height = max(1, int(np.ceil((ymax - ymin) / res)))
    if points:
        ids = _burn_points(xy, spacing, xmin, ymax, res, width, height)
    else:
        ids = _burn_polygons(geo, xmin, ymax, res, width, height, merc_of=merc_of,
                             bounds=bounds, quads=merc_of.quads)
    xmax, ymin = xmin + width * res, ymax - height * res
    corners = gpd.GeoSeries(shapely.points([xmin, xmax], [ymin, ymax]), crs=3857).to_crs(4326)
    (west, east), (south, north) = corners.x.to_numpy(), corners.y.to_numpy()
    return CellRaster(ids, [[float(south), float(west)], [float(north), float(east)]], n,
                      float(xmin), float(ymax), float(res))


@dataclass
class Vertices:
    """The vertices of some geometries, in ``shapely.get_coordinates`` order, as their
    distinct points ``xy`` and each vertex's row ``codes`` in it: a grid's cells share their
    corners, so a fifth of the points are reprojected (each point goes through the same
    transforms as before, so every vertex gets the same coordinates)."""

    xy: np.ndarray
    codes: np.ndarray

    @classmethod
    def of(cls, xy: np.ndarray) -> Vertices:
        """The distinct points of ``xy`` (bit for bit). Worth it only where coordinates
        repeat on a lattice (a grid: few distinct x and y values); otherwise every vertex is
        its own point."""
        n = len(xy)
        bits = np.ascontiguousarray(xy).view(np.int64)
        cx, ux = pd.factorize(bits[:, 0])
        cy, uy = pd.factorize(bits[:, 1])
        if n == 0 or len(ux) * len(uy) > 4 * n:
            return cls(xy, np.arange(n))
        key = cx.astype(np.int64) * len(uy) + cy
        seen = np.zeros(len(ux) * len(uy), dtype=bool)
        seen[key] = True
        used = np.flatnonzero(seen)
        if len(used) > 0.6 * n:
            return cls(xy, np.arange(n))
        rank = np.cumsum(seen) - 1
        points = np.column_stack([ux[used // len(uy)], uy[used % len(uy)]])
        return cls(np.ascontiguousarray(points).view(np.float64), rank[key])

    def all(self) -> np.ndarray:
        """Every vertex, ``(n, 2)``."""
        return self.xy[self.codes]


def lonlat_coordinates(geoms: np.ndarray, crs, *, shift=None) -> Vertices:
    """The vertices of 2-D ``geoms`` (in ``crs``) in EPSG:4326, lon/lat, as geopandas'
    ``to_crs(4326)`` computes them; ``shift(lon, lat)`` then moves them (GCJ-02)."""
    from pyproj import CRS, Transformer

    vertices = Vertices.of(shapely.get_coordinates(geoms))
    xy = vertices.xy
    src = CRS.from_user_input(crs)
    wgs84 = CRS.from_epsg(4326)
    if not src.is_exact_same(wgs84):
        x, y = Transformer.from_crs(src, wgs84, always_xy=True).transform(xy[:, 0], xy[:, 1])
        xy = np.column_stack([x, y])
    if shift is not None:
        xy = np.column_stack(shift(xy[:, 0], xy[:, 1]))
    return Vertices(xy, vertices.codes)


class _MercatorSlices:
    """``merc_of(sel)``: the Web Mercator copies of ``geoms[sel]`` (a slice or positions);
    ``bounds()``, ``median_side()`` and ``quads`` from the Web Mercator vertices."""

    def __init__(self, geoms: np.ndarray, crs, lonlat: Vertices | None):
        from pyproj import CRS, Transformer

        self.geoms = geoms
        if lonlat is None:   # the geometries are lon/lat themselves (EPSG:4326)
            lonlat = lonlat_coordinates(geoms, crs)
        x, y = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_epsg(3857),
                                    always_xy=True).transform(lonlat.xy[:, 0], lonlat.xy[:, 1])
        self.xy = np.column_stack([x, y])[lonlat.codes]
        self.start = np.r_[0, np.cumsum(shapely.get_num_coordinates(geoms))]
        self.quads = _Quads.of(geoms, self.xy, self.start)

    def __call__(self, sel) -> np.ndarray:
        part = self.geoms[sel]
        if isinstance(sel, slice):
            lo, hi = sel.indices(len(self.geoms))[:2]
            xy = self.xy[self.start[lo]:self.start[max(hi, lo)]]
        else:
            sel = np.asarray(sel)
            counts = self.start[sel + 1] - self.start[sel]
            rows = np.repeat(self.start[sel] - np.cumsum(counts) + counts, counts)
            xy = self.xy[rows + np.arange(int(counts.sum()))]
        return shapely.set_coordinates(part.copy(), xy)

    def bounds(self) -> np.ndarray:
        """``shapely.bounds`` of the Web Mercator copies: the extremes of their vertices."""
        first = self.start[:-1]
        return np.column_stack([np.minimum.reduceat(self.xy[:, 0], first),
                                np.minimum.reduceat(self.xy[:, 1], first),
                                np.maximum.reduceat(self.xy[:, 0], first),
                                np.maximum.reduceat(self.xy[:, 1], first)])

    def median_side(self) -> float:
        """``median(sqrt(shapely.area(copies)))``, the copies built only for the polygons
        that are no quadrilateral and for the quadrilaterals whose area is within 1e-7 of
        the middle ones (:meth:`_Quads.area` may differ from GEOS' in the last bits)."""
        n = len(self.geoms)
        area = np.empty(n)
        quad = self.quads.at >= 0
        area[quad] = self.quads.area()
        other = np.flatnonzero(~quad)
        for lo in range(0, len(other), MERCATOR_SLICE):
            part = other[lo:lo + MERCATOR_SLICE]
            area[part] = shapely.area(self(part))
        if quad.any():
            mid = np.partition(area, [(n - 1) // 2, n // 2])[[(n - 1) // 2, n // 2]]
            near = quad & (area >= mid[0] * (1 - 1e-7)) & (area <= mid[1] * (1 + 1e-7))
            fix = np.flatnonzero(near)
            area[fix] = shapely.area(self(fix))
        return float(np.median(np.sqrt(area)))


class _Quads:
    """The cells that are strictly convex quadrilaterals (a polygon of 5 coordinates, the
    last the first, no hole), whose pixel centres are found row by row by their own
    arithmetic.

    ``at``: position of each cell among the quadrilaterals (-1: another shape); ``x``,
    ``y``: their 4 Web Mercator vertices, ``(4, m)``. A horizontal line through a pixel
    centre crosses a convex quadrilateral between two edges, at ``xl < xr``: the centre is
    inside when ``xl < x < xr`` strictly, as GEOS' exact predicate says. Computed in floating
    point, ``xl`` and ``xr`` are within a few 1e-9 m of the exact crossings; a centre within
    :data:`TOL` (1e-6 m) of a crossing, or a row within ``TOL`` of a vertex, is left to
    ``shapely.contains_xy``, so the result is GEOS' own.
    """

    TOL = 1e-6

    def __init__(self, at: np.ndarray, x: np.ndarray, y: np.ndarray):
        self.at, self.x, self.y = at, x, y

    @classmethod
    def of(cls, geoms: np.ndarray, xy: np.ndarray, start: np.ndarray) -> _Quads:
        n = len(geoms)
        at = np.full(n, -1, dtype=np.int64)
        cand = np.flatnonzero((np.diff(start) == 5) & (shapely.get_type_id(geoms) == 3)
                              & (shapely.get_num_interior_rings(geoms) == 0))
        if len(cand) == n and start[-1] == 5 * n:   # every cell (a grid): no gathering
            x, y = xy[:, 0].reshape(n, 5).T, xy[:, 1].reshape(n, 5).T
        else:
            first = start[cand]
            x = np.stack([xy[first + k, 0] for k in range(5)])
            y = np.stack([xy[first + k, 1] for k in range(5)])
        ok = (x[4] == x[0]) & (y[4] == y[0]) & np.isfinite(x).all(axis=0) \
            & np.isfinite(y).all(axis=0)
        ex, ey = np.diff(x, axis=0), np.diff(y, axis=0)     # edge k: vertex k -> k + 1
        # the turn at each vertex (edge k to edge k + 1): all of one sign, clearly
        a = ex * np.roll(ey, -1, axis=0)
        b = ey * np.roll(ex, -1, axis=0)
        sure = (np.abs(a - b) > 1e-9 * (np.abs(a) + np.abs(b))).all(axis=0)
        ok &= sure & ((a > b).all(axis=0) | (a < b).all(axis=0))
        x, y = x[:4], y[:4]
        at[cand[ok]] = np.arange(int(ok.sum()))
        return cls(at, np.ascontiguousarray(x[:, ok]), np.ascontiguousarray(y[:, ok]))

    def area(self) -> np.ndarray:
        """Their areas by GEOS' shoelace (``Area::ofRingSigned``: x relative to the first
        vertex, summed over the inner vertices in ring order)."""
        x, y = self.x, self.y
        total = np.zeros(x.shape[1])
        for i in (1, 2, 3):
            total = total + (x[i] - x[0]) * (y[i - 1] - y[(i + 1) % 4])
        return np.abs(total / 2.0)

    def crossings(self, q: np.ndarray, py: np.ndarray):
        """``(xl, xr, undecided)`` of the horizontal lines ``y = py`` through quadrilaterals
        ``q``; a line that misses one has ``xl = inf``."""
        xl = np.full(len(q), np.inf)
        xr = np.full(len(q), -np.inf)
        undecided = np.zeros(len(q), dtype=bool)
        for k in range(4):
            ax, ay = self.x[k][q], self.y[k][q]
            bx, by = self.x[(k + 1) % 4][q], self.y[(k + 1) % 4][q]
            undecided |= np.abs(py - ay) <= self.TOL
            spans = np.minimum(ay, by) < py
            spans &= py < np.maximum(ay, by)
            with np.errstate(divide="ignore", invalid="ignore"):
                cx = ax + (py - ay) * ((bx - ax) / (by - ay))
            xl = np.where(spans, np.minimum(xl, cx), xl)
            xr = np.where(spans, np.maximum(xr, cx), xr)
        return xl, xr, undecided


def _mercator(geoms: np.ndarray, crs) -> np.ndarray:
    """``geoms`` (in ``crs``) reprojected to EPSG:3857 by geopandas' ``to_crs``."""
    return np.asarray(gpd.GeoSeries(geoms, crs=crs).to_crs(3857).array)


def _burn_polygons(polys, xmin, ymax, res, width, height, *, merc_of=None,
                   bounds=None, quads: _Quads | None = None) -> np.ndarray:
    """Position raster: pixel (r, c) gets i + 1 when its centre lies in polygon i.

    ``polys`` are in EPSG:3857, or ``merc_of(sel)`` gives their Web Mercator copies (``sel``:
    a slice or positions; ``bounds``: their Web Mercator bounds). Vectorised: each polygon
    is tested only against the pixel centres inside its bounding box, so the cost is
    proportional to the pixels the cells cover, not cells x pixels. Quadrilaterals (``quads``)
    are tested by their own arithmetic where it decides (see :class:`_Quads`), every other
    pair by ``shapely.contains_xy`` on Web Mercator copies made for those cells only.
    """
    if merc_of is None:
        def merc_of(sel):
            return polys[sel]

    b = shapely.bounds(polys) if bounds is None else bounds
    c0 = np.clip(np.floor((b[:, 0] - xmin) / res - 0.5).astype(np.int64) + 1, 0, width - 1)
    c1 = np.clip(np.ceil((b[:, 2] - xmin) / res - 0.5).astype(np.int64), 0, width - 1)
    r0 = np.clip(np.floor((ymax - b[:, 3]) / res - 0.5).astype(np.int64) + 1, 0, height - 1)
    r1 = np.clip(np.ceil((ymax - b[:, 1]) / res - 0.5).astype(np.int64), 0, height - 1)
    nc = np.maximum(c1 - c0 + 1, 1)
    nr = np.maximum(r1 - r0 + 1, 1)
    counts = nc * nr
    ids = np.zeros((height, width), dtype=np.int32)
    drawn = np.zeros(len(polys), dtype=bool)
    at = quads.at if quads is not None else np.full(len(polys), -1, dtype=np.int64)
    # in slices of cells (in order, so a later cell still wins a shared pixel): the per-pixel
    # work arrays and the Web Mercator polygons of a province would otherwise take half a
    # gigabyte at once
    cum = np.cumsum(counts)
    cuts = np.searchsorted(cum, np.arange(BURN_PIXELS, int(cum[-1]), BURN_PIXELS))
    edges = np.unique(np.r_[0, cuts, np.arange(MERCATOR_SLICE, len(polys), MERCATOR_SLICE),
                            len(polys)])
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        part = np.arange(lo, hi)
        cnt = counts[part]
        owner = np.repeat(part, cnt)
        local = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        line = local // nc[owner]
        cols = c0[owner] + local % nc[owner]
        rows = r0[owner] + line
        del local
        x = xmin + (cols + 0.5) * res
        hit = np.zeros(len(owner), dtype=bool)
        ask = np.flatnonzero(at[owner] < 0)
        mine = part[at[part] >= 0]
        if mine.size:   # quadrilaterals, row by row (see _Quads)
            first = np.zeros(hi - lo + 1, dtype=np.int64)   # each cell's first row item
            first[1:] = np.cumsum(np.where(at[part] >= 0, nr[part], 0))
            k = nr[mine]
            item_cell = np.repeat(mine, k)
            item_row = r0[item_cell] + (np.arange(int(k.sum()))
                                        - np.repeat(np.cumsum(k) - k, k))
            xl, xr, unsure = quads.crossings(at[item_cell], ymax - (item_row + 0.5) * res)
            fast = np.flatnonzero(at[owner] >= 0)
            item = first[owner[fast] - lo] + line[fast]
            px, a, b = x[fast], xl[item], xr[item]
            hit[fast] = (px > a + quads.TOL) & (px < b - quads.TOL) & ~unsure[item]
            close = unsure[item] | (np.abs(px - a) <= quads.TOL) | (np.abs(px - b)
                                                                     <= quads.TOL)
            ask = np.sort(np.r_[ask, fast[close]])
            del fast, item, px, a, b, close, line
        if ask.size:   # GEOS decides, on copies of the cells concerned only
            cells, which = np.unique(owner[ask], return_inverse=True)
            hit[ask] = shapely.contains_xy(merc_of(cells)[which], x[ask],
                                           ymax - (rows[ask] + 0.5) * res)
        ids[rows[hit], cols[hit]] = owner[hit].astype(np.int32) + 1
        drawn[owner[hit]] = True
    # cells smaller than a pixel (slivers) get the pixel of their representative point
    missed = np.flatnonzero(~drawn)
    if missed.size:
        xy = shapely.get_coordinates(shapely.point_on_surface(merc_of(missed)))
        c = np.clip(((xy[:, 0] - xmin) / res).astype(np.int64), 0, width - 1)
        r = np.clip(((ymax - xy[:, 1]) / res).astype(np.int64), 0, height - 1)
        ids[r, c] = missed.astype(np.int32) + 1
    return ids


def _burn_points(xy, spacing, xmin, ymax, res, width, height) -> np.ndarray:
    """Point cells: each pixel takes its nearest point within 0.75 x the grid spacing.

    This draws the Voronoi cell of each point clipped to the spacing, i.e. squares for square
    grids and hexagons for hexagonal ones (0.75 > 1/sqrt(3), the hexagon circumradius, and
    > sqrt(2)/2, the half diagonal of a square), with no gaps between neighbours.
    """
    from scipy.spatial import cKDTree

    cx = xmin + (np.arange(width) + 0.5) * res
    cy = ymax - (np.arange(height) + 0.5) * res
    gx, gy = np.meshgrid(cx, cy)
    d, idx = cKDTree(xy).query(np.column_stack([gx.ravel(), gy.ravel()]),
                               distance_upper_bound=0.75 * spacing)
    ids = np.where(np.isfinite(d), idx + 1, 0).astype(np.int32).reshape(height, width)
    # points closer than a pixel to a neighbour still show: their own pixel
    col = np.clip(((xy[:, 0] - xmin) / res).astype(int), 0, width - 1)
    row = np.clip(((ymax - xy[:, 1]) / res).astype(int), 0, height - 1)
    ids[row, col] = np.arange(1, len(xy) + 1, dtype=np.int32)
    return ids


def _point_spacing(xy: np.ndarray) -> float:
    """Median distance to the nearest other point (the grid spacing of point grids)."""
    from scipy.spatial import cKDTree

    if len(xy) < 2:
        return 100.0
    d, _ = cKDTree(xy).query(xy, k=2)
    d = d[:, 1]
    d = d[d > 0]
    return float(np.median(d)) if d.size else 100.0
