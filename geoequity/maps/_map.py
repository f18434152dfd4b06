"""``make_map``: one folium map per analysis, every layer optional, offline by construction."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.template import Template

from geoequity._errors import input_error
from geoequity._progress import info, step
from geoequity.maps import _classify as C
from geoequity.maps import _encode as E
from geoequity.maps import _text as X
from geoequity.maps._assets import head_html
from geoequity.maps._safe import (RawElement, SafeFitBounds, SafeLayerControl, SafeMacro,
                                  SafeMap, SafeTileLayer)
from geoequity.maps._tiles import OSM_ATTRIBUTION, resolve_tiles

#: Cell layers drawn as vector polygons up to this many cells; beyond, as one raster image.
MAX_VECTOR_CELLS = 10_000
#: Up to this many cells each is an SVG path (in the DOM); beyond, cells draw on a canvas.
SVG_MAX_CELLS = 3_000

CELL_FIELDS = ["children", "access", "gap", "unassigned", "nearest_cost", "district"]

#: Fewer children than this without a seat in a cell count as none (solver residues).
UNSEATED_MIN = 0.05

#: Largest school circle (px) at the zoom the map opens with (the whole area in view), and the
#: smallest. Circles grow and shrink with the zoom (see assets/geoequity.js ``GE.vector``), so
#: at city scale they stay small enough to leave the cells beneath them visible.
SCHOOL_RADIUS = (2.5, 9.0)

#: Cell points within this relative tolerance of the median nearest-neighbour spacing count as
#: lattice neighbours when telling a hexagonal grid from scattered points (``hexagon_cells``).
HEX_TOLERANCE = 0.08


# --------------------------------------------------------------------------------------------
# folium elements


class _DataLayer(folium.map.Layer, SafeMacro):
    """A layer built in the browser by ``GE.vector`` from compact JSON (see assets/geoequity.js)."""

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = GE.vector({{ this._parent.get_name() }}, {{ this.payload }},
    {{ this.geoms_var or 'null' }});
{%- if this.legend %}
GE.legend({{ this._parent.get_name() }}, {{ this.get_name() }}, {{ this.legend }});
{%- endif %}
{% endmacro %}
""")

    def __init__(self, name: str, payload: dict, *, legend: dict | None = None,
                 geoms_var: str | None = None, show: bool = True):
        super().__init__(name=html.escape(name), overlay=True, control=True, show=show)
        self._name = "GeoequityLayer"
        payload = {**payload, "lazy": not show}  # hidden layers are built when switched on
        self.payload = E.to_json(payload)
        self.legend = E.to_json(legend) if legend else None
        self.geoms_var = geoms_var


class _ImageLayer(folium.map.Layer, SafeMacro):
    """Dense grid drawn as one PNG image overlay (``GE.image``)."""

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = GE.image({{ this._parent.get_name() }}, {{ this.payload }});
{%- if this.legend %}
GE.legend({{ this._parent.get_name() }}, {{ this.get_name() }}, {{ this.legend }});
{%- endif %}
{% endmacro %}
""")

    def __init__(self, name: str, payload: dict, *, legend: dict | None = None, show: bool = True):
        super().__init__(name=html.escape(name), overlay=True, control=True, show=show)
        self._name = "GeoequityImage"
        self.payload = E.to_json(payload)
        self.legend = E.to_json(legend) if legend else None


class _Script(SafeMacro):
    """Plain JavaScript placed in the map's script, in order (no substitution at all)."""

    _template = Template("""
{% macro script(this, kwargs) %}
{{ this.code }}
{% endmacro %}
""")

    def __init__(self, code: str):
        super().__init__()
        self._name = "GeoequityScript"
        self.code = code


class JsCall(SafeMacro):
    """``GE.<fn>(<the map>, *args)`` with pre-serialised (script-safe JSON) arguments
    (``ns``: another runtime object than ``GE``).

    The map's variable name is inserted by the template, never by text replacement, so no
    data value can be mistaken for it.
    """

    _template = Template("""
{% macro script(this, kwargs) %}
{%- if this.on_load %}window.addEventListener("load", function () { {% endif -%}
{{ this.ns }}.{{ this.fn }}({{ this._parent.get_name() }}{% for a in this.args %}, {{ a }}{% endfor %});
{%- if this.on_load %} });{% endif %}
{% endmacro %}
""")

    def __init__(self, fn: str, *args: str, on_load: bool = False, ns: str = "GE"):
        super().__init__()
        self._name = "GeoequityCall"
        self.ns = ns   # the runtime object: GE, or GEOV (the overview's, maps/_overview.py)
        self.fn = fn
        self.args = list(args)
        self.on_load = on_load


# --------------------------------------------------------------------------------------------
# input preparation


def _prepare(gdf, what: str, *, gcj02: bool) -> gpd.GeoDataFrame | None:
    """Validate a layer and return it in EPSG:4326 (shifted to GCJ-02 when asked)."""
    if gdf is None:
        return None
    return to_lonlat(_validated(gdf, what), gcj02=gcj02)


def _validated(gdf, what: str) -> gpd.GeoDataFrame:
    """A copy of the layer without empty geometries, invalid ones repaired (its own CRS)."""
    _check_layer(gdf, what)
    return _repaired(gdf, *_repairs(np.asarray(gdf.geometry.array), what))


def _check_layer(gdf, what: str) -> None:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise input_error(what, f"expected a GeoDataFrame, got {type(gdf).__name__}",
                          "read the layer with geoequity.read_layer or geopandas.read_file")
    if gdf.crs is None:
        raise input_error(what, "layer has no CRS",
                          "set it with gdf.set_crs(...) (or --input-crs on the command line)")


def _repairs(geom: np.ndarray, what: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(empty, repaired)`` of a layer's geometries: the rows without geometry (None:
    none) and the geometries of the others, invalid ones repaired (None: all valid)."""
    empty = shapely.is_missing(geom) | shapely.is_empty(geom)
    if empty.any():
        info(f"map: {what}: {int(empty.sum())} rows without geometry are not drawn")
        geom = geom[~empty]
    bad = ~shapely.is_valid(geom)
    repaired = None
    if bad.any():
        info(f"map: {what}: {int(bad.sum())} invalid geometries repaired (make_valid)")
        repaired = shapely.make_valid(geom)
    return (empty if empty.any() else None), repaired


def _repaired(gdf: gpd.GeoDataFrame, empty: np.ndarray | None,
              repaired: np.ndarray | None) -> gpd.GeoDataFrame:
    """A copy of ``gdf`` with :func:`_repairs`' rows dropped and geometries repaired."""
    gdf = gdf.copy() if empty is None else gdf.loc[~empty]
    if repaired is not None:
        gdf = gdf.set_geometry(gpd.GeoSeries(repaired, index=gdf.index, crs=gdf.crs))
    return gdf


def to_lonlat(gdf: gpd.GeoDataFrame, *, gcj02: bool) -> gpd.GeoDataFrame:
    gdf = gdf.to_crs(4326)
    if gcj02:
        from geoequity.crs import wgs84_to_gcj02

        def shift(xy: np.ndarray) -> np.ndarray:
            lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
            return np.column_stack([lon, lat])

        gdf = gdf.set_geometry(gpd.GeoSeries(shapely.transform(np.asarray(gdf.geometry.array),
                                                               shift),
                                             index=gdf.index, crs=4326))
    return gdf


def _id_label(gdf: gpd.GeoDataFrame, default: str) -> str:
    name = gdf.index.name
    return str(name) if name is not None else default


def _with_id(gdf: gpd.GeoDataFrame, default: str) -> tuple[pd.DataFrame, str]:
    """Attribute table with the index as the first column (unless already a column)."""
    label = _id_label(gdf, default)
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    if label not in df.columns:
        df.insert(0, label, gdf.index.to_numpy())
    else:
        df = df[[label] + [c for c in df.columns if c != label]]
    df.columns = [str(c) for c in df.columns]
    return df, label


def _numeric(gdf, col) -> np.ndarray | None:
    if gdf is None or col not in gdf.columns:
        return None
    return pd.to_numeric(gdf[col], errors="coerce").to_numpy(dtype=float)


def _is_points(gdf) -> bool:
    kinds = set(shapely.get_type_id(np.asarray(gdf.geometry.array)).tolist())
    return kinds <= {0, 4}


def _points_of(gdf) -> np.ndarray:
    """One point per geometry: points as they are, multipoints their centroid, lines and
    polygons (e.g. OSM school grounds) a point on their surface."""
    g = np.asarray(gdf.geometry.array)
    t = shapely.get_type_id(g)
    return np.where(t == 0, g, np.where(t == 4, shapely.centroid(g), shapely.point_on_surface(g)))


def _polys_only(gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    """Keep the polygonal part of each geometry (make_valid can return collections)."""
    g = np.asarray(gdf.geometry.array)
    t = shapely.get_type_id(g)
    if np.isin(t, [3, 6]).all():
        return gdf
    if np.isin(t, [0, 1, 2, 4, 5]).all() and not np.isin(t, [3, 6]).any():
        raise input_error(what, "layer has no polygons", "give polygon areas for this layer")
    # positional ids, so duplicate index labels cannot mix rows up
    parts = gpd.GeoSeries(g).explode(index_parts=False)
    parts = parts[np.isin(shapely.get_type_id(np.asarray(parts.array)), [3, 6])]
    pos = parts.index.to_numpy()
    merged = [shapely.union_all(np.asarray(parts.array)[pos == i]) for i in np.unique(pos)]
    out = gdf.iloc[np.unique(pos)].copy()
    dropped = len(gdf) - len(out)
    if dropped:
        info(f"map: {what}: {dropped} rows without a polygon part are not drawn")
    return out.set_geometry(gpd.GeoSeries(merged, index=out.index, crs=gdf.crs))


# --------------------------------------------------------------------------------------------
# layers


def _cell_gap(cells, fair_share) -> np.ndarray | None:
    """The relative seat gap of each cell: ``gap``, else ``access / fair_share``."""
    gap = _numeric(cells, "gap")
    access = _numeric(cells, "access")
    if gap is None and access is not None and fair_share:
        gap = access / float(fair_share)
    return gap


def _cell_classes(cells: gpd.GeoDataFrame, *, value_col, fair_share, access_label, lang):
    """(key, layer name, Classes) for each cell layer, the primary first."""
    T = lambda key, **kw: X.t(lang, key, **kw)  # noqa: E731
    out = []
    children = _numeric(cells, "children")
    if children is not None:
        out.append(("children", T("children_layer"), C.sequential(
            children, title=T("children_layer"), note=T("children_note"),
            palette=C.YLORBR5, zero_class=True, nodata_label=T("no_data"))))
    access = _numeric(cells, "access")
    if access is not None:
        out.append(("access", T("access_layer"), C.sequential(
            access, title=T("access_layer"), note=access_label or T("access_note"),
            palette=C.RDYLGN5, nodata_label=T("no_reach"))))
    gap = _cell_gap(cells, fair_share)
    if gap is not None:
        out.append(("gap", T("gap_layer"), C.gap_classes(
            gap, fair_share=1.0, title=T("gap_layer"), note=T("gap_note"), lang=lang)))
    unassigned = _numeric(cells, "unassigned")
    if unassigned is not None:   # the absolute gap: children the seats cannot take
        # under 0.05 of a child is none (the assignment solver leaves 1e-16 residues)
        unassigned = np.where(unassigned < UNSEATED_MIN, 0.0, unassigned)
        out.append(("unassigned", T("unassigned_layer"), C.sequential(
            unassigned, title=T("unassigned_layer"), note=T("unassigned_note"),
            palette=C.REDS5, zero_class=True, zero_label=T("all_seated"),
            nodata_label=T("no_data"))))
    if value_col and value_col not in ("children", "access", "gap", "unassigned"):
        v = _numeric(cells, value_col)
        if v is None:
            raise input_error("cells", f"no column {value_col!r}",
                              f"choose one of: {', '.join(map(str, cells.columns))}")
        out.insert(0, (value_col, str(value_col), C.sequential(
            v, title=str(value_col), note=T("value_note", col=value_col),
            palette=C.PURPLES5, nodata_label=T("no_data"))))
    if not out:
        raise input_error("cells", "no column to map (children, access, gap)",
                          "add one or name it with value_col= / --value")
    primary = value_col if value_col else next(
        (k for k in ("gap", "access", "children") if any(o[0] == k for o in out)), out[0][0])
    if not any(o[0] == primary for o in out):
        raise input_error("cells", f"no column {primary!r}",
                          f"choose one of: {', '.join(map(str, cells.columns))}")
    out.sort(key=lambda o: o[0] != primary)
    return out


def _column_json(col: pd.Series) -> str:
    """The JSON array of a popup column (as ``E.to_json`` writes ``_compact_column``):
    numbers of numpy dtypes written by Arrow (:func:`geoequity.maps._encode.number_list`),
    the rest value by value."""
    coord = str(col.name).lower() in X.COORD_FIELDS
    if not coord and isinstance(col.dtype, np.dtype) and col.dtype.kind in "iuf":
        v = col.to_numpy()
        return E.number_list(_significant4(v) if v.dtype.kind == "f" else v)
    return E.to_json(_compact_column(col))


def _significant4(v: np.ndarray) -> np.ndarray:
    """Finite floats kept to 4 significant figures (popup display), others as they are."""
    v = np.asarray(v, dtype=float)
    out = v.copy()
    finite = np.isfinite(v)
    if finite.any():
        f = v[finite]
        mag = np.floor(np.log10(np.where(f == 0, 1.0, np.abs(f))))
        scale = 10.0 ** (3 - mag)
        out[finite] = np.round(f * scale) / scale
    return out


def _compact_column(col: pd.Series) -> list:
    """JSON-safe column values; floats kept to 4 significant figures (popup display),
    coordinates to 6 decimals."""
    coord = str(col.name).lower() in X.COORD_FIELDS
    if not coord and isinstance(col.dtype, np.dtype) and col.dtype.kind in "iub":
        return col.tolist()   # Python ints and bools, as json_value makes them
    if pd.api.types.is_integer_dtype(col) or coord:
        return [E.json_value(x) for x in col.tolist()]  # ids and counts stay exact
    if pd.api.types.is_float_dtype(col):
        v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
        r = _significant4(v)
        finite = np.isfinite(r)
        out = np.full(len(v), None, dtype=object)
        if finite.any():
            r = r[finite]
            whole = (r == np.floor(r)) & (np.abs(r) < 2**53)
            vals = np.empty(len(r), dtype=object)
            vals[:] = r.tolist()
            if whole.any():   # 12.0 is written 12
                vals[whole] = np.asarray(r[whole].astype(np.int64).tolist(), dtype=object)
            out[finite] = vals
        return out.tolist()
    if isinstance(col.dtype, pd.StringDtype):   # text as it is, NA as null
        return col.astype(object).where(col.notna(), None).tolist()
    return [E.json_value(x) for x in col.tolist()]


def _popup(df: pd.DataFrame, fields: list[str], title: str | None, *, lang: str,
           unit: str) -> dict:
    """Popup part of a payload: row labels in ``lang``, the values, the title column, and
    which columns are coordinates (6 decimals). The title column is not repeated as a row."""
    return {"fields": [X.field_label(lang, f, unit=unit) for f in fields],
            "rows": E.rows(df, fields), "title": fields.index(title) if title in fields else None,
            "formats": ["coord" if f.lower() in X.COORD_FIELDS else None for f in fields]}


def _cell_table(cells, *, value_col, fair_share):
    df, label = _with_id(cells, "cell")
    gap = _cell_gap(cells, fair_share)
    if gap is not None and "gap" not in df.columns:
        df["gap"] = gap   # the value the seat-gap layer shows
    fields = [label] + [c for c in CELL_FIELDS if c in df.columns and c != label]
    if "district" in fields and set(df["district"].astype(str).unique()) <= {"(outside)"}:
        fields.remove("district")   # a run without districts: nothing to say
    if value_col and value_col not in fields:
        fields.append(str(value_col))
    return df, label, fields


_COLS = "geoequity-popup-columns"   # stands for the columns' JSON until it is spliced in


def _prepare_cells(cells, *, gcj02: bool, yearly, max_vector_cells: int, valid=None):
    """The cell layer as :func:`_prepare` makes it, or, for polygons painted as an image (more
    than ``max_vector_cells``, no year layers), the layer in its own CRS and the lon/lat of
    its vertices: :func:`geoequity.maps._raster.cell_raster` draws the same image from them
    without an EPSG:4326 copy of every polygon (a province's takes ~200 MB)."""
    if cells is None:
        return None, None
    valid = _validated(cells, "cells") if valid is None else valid
    geom = np.asarray(valid.geometry.array)
    if not _painted_as_image(geom, yearly=yearly, max_vector_cells=max_vector_cells):
        return to_lonlat(valid, gcj02=gcj02), None
    from geoequity.maps._raster import lonlat_coordinates

    shift = None
    if gcj02:
        from geoequity.crs import wgs84_to_gcj02 as shift
    return valid, lonlat_coordinates(geom, valid.crs, shift=shift)


def _painted_as_image(geom: np.ndarray, *, yearly, max_vector_cells: int) -> bool:
    """The rule of the cell layers painted as images from their vertices' lon/lat: more than
    ``max_vector_cells`` polygons (no z), no year layers (``geom``: drawn, repaired)."""
    return (yearly is None and len(geom) > max_vector_cells and not shapely.has_z(geom).any()
            and bool(np.isin(shapely.get_type_id(geom), [3, 6]).all()))


@dataclass(eq=False)
class CellCanvas:
    """What a map's cell layer takes from the cells' geometry alone, made ahead of the map
    (:func:`prepare_cells`): the rows drawn (not empty), their geometries (invalid ones
    repaired), the lon/lat of their vertices and the image's position raster. A run makes
    it while its assignment is solved elsewhere; :func:`make_map` (``canvas=``) then paints
    the same map without doing that work again. It fits only cells holding the very
    geometries it was made from, in the same order: the same objects (shapely's geometries
    are immutable: a copy of the frame shares them), else equal ones bit for bit (their
    WKB: a piece of cells sent to another process); in the same CRS, for the same basemap
    shift and image rule, and no year layers."""

    geoms: np.ndarray             # the cells' geometries (held: their ids stay theirs)
    crs: Any
    gcj02: bool
    max_vector_cells: int
    empty: np.ndarray | None      # :func:`_repairs`: rows not drawn, geometries repaired
    repaired: np.ndarray | None
    lonlat: Any                   # :class:`geoequity.maps._raster.Vertices`
    raster: Any                   # :class:`geoequity.maps._raster.CellRaster`

    def fits(self, cells, *, gcj02: bool, max_vector_cells: int, yearly) -> bool:
        """Whether :func:`make_map`'s ``cells`` and options are those it was made for."""
        if not (isinstance(cells, gpd.GeoDataFrame) and yearly is None
                and len(cells) == len(self.geoms) and cells.crs == self.crs
                and gcj02 == self.gcj02 and max_vector_cells == self.max_vector_cells):
            return False
        geoms = np.asarray(cells.geometry.array)
        if (_object_ids(geoms) == _object_ids(self.geoms)).all():
            return True
        mine, theirs = shapely.to_wkb(geoms), shapely.to_wkb(self.geoms)
        return all(a == b for a, b in zip(mine, theirs, strict=True))

    def valid(self, cells: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """``cells`` (their columns now) as :func:`_validated` makes them."""
        return _repaired(cells, self.empty, self.repaired)


def _object_ids(objects: np.ndarray) -> np.ndarray:
    return np.fromiter(map(id, objects), dtype=np.int64, count=len(objects))


def prepare_cells(cells: gpd.GeoDataFrame | None, *, tiles: str | None = "none",
                  max_vector_cells: int = MAX_VECTOR_CELLS) -> CellCanvas | None:
    """The :class:`CellCanvas` of ``cells`` for a :func:`make_map` of the same ``tiles`` and
    ``max_vector_cells``, or None when the cells are not painted as an image of polygons
    (nothing there is worth making ahead). Their columns may change afterwards (it holds
    their geometry only), not their geometries (:meth:`CellCanvas.fits`)."""
    if cells is None or not len(cells):
        return None
    _check_layer(cells, "cells")
    geom = np.asarray(cells.geometry.array)
    present = geom[~(shapely.is_missing(geom) | shapely.is_empty(geom))]
    if not _painted_as_image(present, yearly=None, max_vector_cells=max_vector_cells):
        return None   # (decided before any other work; a repair may still make it so below)
    shift = resolve_tiles(tiles).gcj02
    empty, repaired = _repairs(geom, "cells")
    valid, lonlat = _prepare_cells(cells, gcj02=shift, yearly=None,
                                   max_vector_cells=max_vector_cells,
                                   valid=_repaired(cells, empty, repaired))
    if lonlat is None or not len(valid):
        return None
    from geoequity.maps._raster import cell_raster

    with step(f"the map's raster of {len(valid):,} cells"):
        raster = cell_raster(valid, lonlat=lonlat)
    return CellCanvas(geoms=np.array(cells.geometry.array, dtype=object), crs=cells.crs,
                      gcj02=shift,
                      max_vector_cells=max_vector_cells, empty=empty, repaired=repaired,
                      lonlat=lonlat, raster=raster)


def _add_cells(m, cells, *, value_col, fair_share, access_label, max_vector_cells, lang,
               unit, lonlat=None, raster=None):
    """The cell layers; ``lonlat`` (from :func:`_prepare_cells`): polygons in their own CRS
    with the lon/lat of their vertices, painted as an image."""
    points = _is_points(cells)
    if points:
        hexes = hexagon_cells(cells)
        if hexes is not None:   # centroids of a hexagonal grid: draw the hexagons
            info(f"map: cells are the centres of a hexagonal grid ({len(cells):,} hexagons)")
            cells, points = hexes, False
    if not points:  # classes, rows and geometry must describe the same rows
        cells = _polys_only(cells, "cells")
    layers = _cell_classes(cells, value_col=value_col, fair_share=fair_share,
                           access_label=access_label, lang=lang)
    n = len(cells)
    if n > max_vector_cells:
        from geoequity.maps._raster import cell_raster

        with step(f"painting {n:,} cells as an image"):
            if raster is None:   # else made ahead, from the same cells (a CellCanvas)
                raster = cell_raster(cells, lonlat=lonlat)
            names = []
            for i, (key, name, cls) in enumerate(layers):
                payload = raster.payload(cls.index, cls.colors, cls=f"ge-cells ge-cells-{key}")
                layer = _ImageLayer(name, payload, legend=cls.legend(), show=i == 0)
                layer.add_to(m)
                names.append(layer.get_name())
            # popups for image cells: click -> pixel -> cell id -> attribute columns
            df, label, fields = _cell_table(cells, value_col=value_col, fair_share=fair_share)
            lookup = raster.lookup()
            lookup.update(_popup(df.iloc[:0], fields, label, lang=lang, unit=unit))
            lookup.pop("rows")
            lookup.update(cols=_COLS, titlePrefix=X.t(lang, "cell_prefix"))
            # the columns' JSON one column at a time: a province's popup values as Python
            # objects all at once would take hundreds of MB
            cols = "[" + ",".join(_column_json(df[f]) for f in fields) + "]"
            text = E.to_json(lookup)
            mark = '"cols":' + E.to_json(_COLS)   # a string value cannot hold this unescaped
            text = text.replace(mark, '"cols":' + cols, 1)
            m.add_child(JsCall("rasterClick", text, f"[{', '.join(names)}]"))
        return
    df, label, fields = _cell_table(cells, value_col=value_col, fair_share=fair_share)
    if points:
        geoms = E.points(_points_of(cells), q=E.Q_POLY)
    else:
        geoms = E.polygons(np.asarray(cells.geometry.array))
    shared = _Script(f"var {m.get_name()}_cells = {E.to_json(geoms)};")
    m.add_child(shared)
    popup = _popup(df, fields, label, lang=lang, unit=unit)
    for i, (key, name, cls) in enumerate(layers):
        payload = {
            "kind": "point" if points else "polygon", "cls": f"ge-cell ge-cell-{key}",
            "pane": "ge-cells", "q": E.Q_POLY, "palette": cls.colors,
            "colors": cls.index.tolist(),
            "style": ({"stroke": False, "fillOpacity": 0.85, "radius": 4} if points else
                      {"weight": 0.4, "color": "#777777", "opacity": 0.5, "fillOpacity": 0.75}),
            **popup, "titlePrefix": X.t(lang, "cell_prefix"), "canvas": n > SVG_MAX_CELLS,
        }
        _DataLayer(name, payload, legend=cls.legend("circle" if points else "fill"),
                   geoms_var=f"{m.get_name()}_cells", show=i == 0).add_to(m)


def _add_schools(m, schools, *, name_col, color_by, lang, unit):
    T = lambda key, **kw: X.t(lang, key, **kw)  # noqa: E731
    df, label = _with_id(schools, "school")
    seats = _numeric(schools, "seats")
    util = _numeric(schools, "utilisation")
    if util is not None:   # one row each: utilisation in %, pupils assigned, spare seats
        df.insert(list(df.columns).index("utilisation"), "utilisation (%)", util * 100.0)
        df = df.drop(columns="utilisation")
        if seats is not None and "assigned" not in df.columns:
            df["assigned"] = util * seats
        if seats is not None and "spare" not in df.columns:
            df["spare"] = seats - util * seats
    if seats is not None:   # a level's own seats column equal to seats is one row, not two
        same = [c for c in df.columns if str(c).startswith("seats_")
                and np.array_equal(pd.to_numeric(df[c], errors="coerce").to_numpy(float),
                                   seats, equal_nan=True)]
        df = df.drop(columns=same)
    fields = list(df.columns)
    if name_col is not None and name_col not in df.columns:
        raise input_error("schools", f"no name column {name_col!r}",
                          f"choose one of: {', '.join(map(str, df.columns))}")
    name_col = name_col or next((c for c in ("name", "school_name", "nome", "名称")
                                 if c in df.columns), None)
    title_idx = fields.index(name_col) if name_col in fields else 0
    if color_by == "auto":
        if util is not None and np.isfinite(util).any():
            color_by = "utilisation"
        elif "level" in df.columns and df["level"].nunique() > 1:
            color_by = "level"
        else:
            color_by = None
    if color_by == "utilisation":
        cls = C.utilisation_classes(util if util is not None else np.full(len(df), np.nan),
                                    lang=lang)
    elif color_by:
        if color_by not in df.columns:
            raise input_error("schools", f"no column {color_by!r} to colour by",
                              "use utilisation, level or an existing column")
        cls = C.categorical(df[color_by].tolist(),
                            title=T("schools_by", col=X.field_label(lang, color_by)),
                            note=T("circle_area"), lang=lang)
    else:
        cls = C.Classes(np.zeros(len(df), dtype=np.int64), ["#08519c"], [T("a_school")],
                        T("schools_layer"), T("circle_area") if seats is not None else "")
    lo, hi = SCHOOL_RADIUS
    if seats is not None and np.nanmax(np.where(np.isfinite(seats), seats, 0), initial=0) > 0:
        smax = float(np.nanmax(seats))
        s = np.where(np.isfinite(seats) & (seats > 0), seats, 0.0)
        radius = np.maximum(lo, hi * np.sqrt(s / smax)).round(1)
        cls.note = (cls.note + "; " if cls.note else "") + T("largest", n=C.fmt_number(smax))
    else:
        radius = np.full(len(df), (lo + hi) / 2)
    payload = {
        "kind": "point", "cls": "ge-school", "pane": "ge-schools", "q": E.Q_POINT,
        "geoms": E.points(_points_of(schools)), "palette": cls.colors,
        "colors": cls.index.tolist(), "radius": radius.tolist(), "zoomRadius": True,
        "style": {"weight": 1.2, "color": "#222222", "fillOpacity": 0.85},
        **_popup(df, fields, fields[title_idx], lang=lang, unit=unit),
        "tooltip": title_idx, "canvas": len(df) > SVG_MAX_CELLS,
    }
    _DataLayer(T("schools_layer"), payload, legend=cls.legend("circle")).add_to(m)


def _add_polygons(m, gdf, *, name, what, cls_name, pane, style, title_col=None,
                  title_prefix=None, color_col=None, legend=None, show=True, lang="en",
                  unit="m", classes=None, extra=None, hit_pane=None):
    """A polygon layer; ``classes`` colours it (one per row), else ``color_col`` (one colour
    per value); ``extra`` adds popup columns; ``hit_pane`` makes the whole area clickable
    from a pane beneath the cells (districts)."""
    gdf = _polys_only(gdf, what)
    df, label = _with_id(gdf, what)
    for col, values in (extra or {}).items():
        df[col] = pd.Series(values, index=gdf.index).to_numpy()
    fields = list(df.columns)
    title_col = title_col if title_col in fields else label
    t_idx = fields.index(title_col)
    payload = {
        "kind": "polygon", "cls": cls_name, "pane": pane, "q": E.Q_POLY, "style": style,
        "geoms": E.polygons(shapely.simplify(np.asarray(gdf.geometry.array), 1e-5,
                                             preserve_topology=True)),
        **_popup(df, fields, title_col, lang=lang, unit=unit), "tooltip": t_idx,
        "titlePrefix": title_prefix, "hitPane": hit_pane,
    }
    if classes is not None:
        classes = classes(gdf) if callable(classes) else classes
        payload.update(palette=classes.colors, colors=classes.index.tolist())
    elif color_col is not None and color_col in df.columns:
        cls = C.categorical(df[color_col].tolist(), title=name, lang=lang)
        payload.update(palette=cls.colors, colors=cls.index.tolist())
    _DataLayer(name, payload, legend=legend, show=show).add_to(m)


def _add_sites(m, sites, *, lang, unit):
    T = lambda key, **kw: X.t(lang, key, **kw)  # noqa: E731
    df, label = _with_id(sites, "site")
    fields = list(df.columns)
    rank = _numeric(sites, "rank")
    labels = ([str(int(r)) if math.isfinite(r) else "" for r in rank] if rank is not None
              else [""] * len(df))
    id_idx = fields.index("site") if "site" in fields else 0
    payload = {
        "kind": "site", "cls": "ge-site", "pane": "ge-sites", "q": E.Q_POINT,
        "geoms": E.points(_points_of(sites)), "labels": labels, "style": {},
        **_popup(df, fields, fields[id_idx], lang=lang, unit=unit),
        "titlePrefix": T("site_prefix"), "tooltip": id_idx,
    }
    legend = {"title": T("sites_title"), "note": T("sites_note"),
              "shape": "circle", "items": [["#6a3d9a", T("site")]]}
    _DataLayer(T("sites"), payload, legend=legend).add_to(m)


def _catchment_shortfall(catchments, schools) -> np.ndarray | None:
    """Children living in each catchment minus its school's seats (positive: short)."""
    if schools is None or "school" not in catchments.columns or "children" not in catchments:
        return None
    seats = _numeric(schools, "seats")
    if seats is None:
        return None
    by_id = pd.Series(seats, index=schools.index.astype(str))
    have = catchments["school"].astype(str).map(by_id)
    return (pd.to_numeric(catchments["children"], errors="coerce")
            - have).to_numpy(dtype=float)


def _shortfall_classes(short: np.ndarray, lang: str) -> C.Classes:
    T = lambda key, **kw: X.t(lang, key, **kw)  # noqa: E731
    return C.sequential(np.where(np.isfinite(short), np.maximum(short, 0.0), np.nan),
                        title=T("catch_short_layer"), note=T("catch_short_note"),
                        palette=C.REDS5, zero_class=True, zero_label=T("no_shortfall"),
                        nodata_label=T("no_data"))


def area_short_note(cells, schools, lang: str = "en") -> str | None:
    """The map's note when the whole area has fewer seats than children, else None."""
    children = _numeric(cells, "children")
    seats = _numeric(schools, "seats")
    if children is None or seats is None:
        return None
    kids, total = float(np.nansum(children)), float(np.nansum(seats))
    if not (kids > 0 and total < kids):
        return None
    return X.t(lang, "short_all", seats=C.fmt_number(total), children=C.fmt_number(kids),
               spc=f"{total / kids:.2f}")


def hexagon_cells(cells: gpd.GeoDataFrame) -> gpd.GeoDataFrame | None:
    """Cells as hexagons when their points are the centres of a hexagonal grid, else None.

    The rule: in a local metric frame, the median distance ``s`` to the nearest point is the
    grid spacing; the points within ``HEX_TOLERANCE`` of ``s`` of each point are its lattice
    neighbours. The points form a hexagonal grid when at least 80 % of them (of 2,000 evenly
    spread ones on large grids) have two or more
    lattice neighbours and the neighbours' directions repeat every 60 degrees (the mean of
    ``exp(6 i angle)`` has length >= 0.9; a square grid gives about 0). Each cell is then the
    regular hexagon of circumradius ``s / sqrt(3)`` whose edges face its neighbours. Points
    of WGS84 (``cells`` is in EPSG:4326 here) go through an equirectangular frame around the
    grid's centre (exact enough at city scale, where H3 cells are near-regular).
    """
    from scipy.spatial import cKDTree

    geom = np.asarray(cells.geometry.array)
    pts = geom if (shapely.get_type_id(geom) == 0).all() else _points_of(cells)
    n = len(pts)
    if n < 7:
        return None
    lon, lat = shapely.get_x(pts), shapely.get_y(pts)
    lat0 = float(np.nanmean(lat))
    kx, ky = 111_320.0 * math.cos(math.radians(lat0)), 110_574.0
    xy = np.column_stack([(lon - lon.mean()) * kx, (lat - lat0) * ky])
    if not np.isfinite(xy).all():
        return None
    # the neighbours of 2,000 evenly spread points tell the lattice (fast on big grids)
    probe = np.unique(np.linspace(0, n - 1, min(n, 2000)).astype(int))
    d, j = cKDTree(xy).query(xy[probe], k=7)
    s = float(np.median(d[:, 1]))
    if not s > 0:
        return None
    near = np.abs(d[:, 1:] / s - 1.0) <= HEX_TOLERANCE
    if (near.sum(axis=1) >= 2).mean() < 0.8:
        return None
    vec = xy[j[:, 1:]] - xy[probe][:, None, :]
    ang = np.arctan2(vec[..., 1], vec[..., 0])[near]
    mean = np.exp(6j * ang).mean()
    if abs(mean) < 0.9:
        return None
    theta = np.angle(mean) / 6.0 + np.pi / 6 + np.arange(6) * np.pi / 3   # vertices
    r = s / math.sqrt(3.0)
    vx = xy[:, 0, None] + r * np.cos(theta)[None, :]
    vy = xy[:, 1, None] + r * np.sin(theta)[None, :]
    ring = np.stack([vx / kx + lon.mean(), vy / ky + lat0], axis=-1)
    hexes = shapely.polygons(ring)
    return cells.set_geometry(gpd.GeoSeries(hexes, index=cells.index, crs=cells.crs))


# --------------------------------------------------------------------------------------------
# public


def make_map(*, schools: gpd.GeoDataFrame | None = None, cells: gpd.GeoDataFrame | None = None,
             value_col: str | None = None, districts: gpd.GeoDataFrame | None = None,
             catchments: gpd.GeoDataFrame | None = None,
             service_areas: gpd.GeoDataFrame | None = None,
             sites: gpd.GeoDataFrame | None = None,
             proposals: Mapping[str, gpd.GeoDataFrame] | None = None,
             title: str = "geoequity", subtitle: str | None = None, tiles: str | None = "none",
             tiles_key: str | None = None, tiles_attribution: str | None = None,
             osm_attribution: bool = False, fair_share: float | None = None,
             access_label: str | None = None, school_name_col: str | None = None,
             school_color: str | None = "auto", district_name_col: str = "district",
             max_vector_cells: int = MAX_VECTOR_CELLS, height: str = "100%",
             lang: str = "en", cost_unit: str = "m", yearly=None,
             plans: pd.DataFrame | None = None,
             plan_schools: pd.DataFrame | None = None,
             canvas: CellCanvas | None = None) -> folium.Map:
    """Build the interactive map of one analysis.

    Every layer is optional; layers are GeoDataFrames in any CRS (reprojected to EPSG:4326
    here, and shifted to GCJ-02 for Amap/Gaode basemaps). When the cells hold more children
    in all than the schools have seats, the map says so under its title. The map embeds
    Leaflet and its data, so :func:`save_map` writes one HTML file that opens with no network.

    Parameters
    ----------
    schools
        Points with ``seats`` (circle area proportional to seats) and optionally ``level``,
        ``name``, ``utilisation`` (assigned pupils / seats); coloured by utilisation when
        present, else by level. The popup lists every column plus, with utilisation, the pupils
        assigned and spare seats.
    cells
        Grid cells (polygons) or demand points with ``children`` and optionally ``access``,
        ``gap`` (1.0 = fair share), ``unassigned``, ``nearest_cost``, ``district``. One
        switchable layer per column: children (quantile classes), accessibility (quantile
        classes; NaN = no school within reach), seat gap (fixed diverging classes around the
        fair share), children without a seat (``unassigned``: the absolute gap). Points that
        are the centres of a hexagonal grid (e.g. H3) are drawn as hexagons
        (:func:`hexagon_cells`), other points as dots.
    value_col
        Cell column shown first (any numeric column; default ``gap``, else ``access``, else
        ``children``).
    districts
        Polygons with ``district`` and their table columns: outlines with a popup of the row.
    catchments, service_areas
        Polygons with a ``school`` column (one colour per school); hidden at first. Catchments
        with ``children`` also get a "seat shortfall by catchment" layer (children minus the
        school's seats).
    sites
        Proposed new school sites (points) with ``site`` and ``rank``.
    proposals
        ``{name: districts GeoDataFrame}``: alternative boundaries, one dashed layer each.
    title, subtitle
        Shown at the top of the map (as text, never markup).
    tiles
        ``"none"`` (default: no network needed), ``"osm"``, an xyzservices provider name, an
        XYZ URL, ``"tianditu"`` (needs ``tiles_key``) or ``"amap"``/``"gaode"`` (GCJ-02).
    tiles_key, tiles_attribution
        API key for keyed basemaps; attribution for a custom URL.
    osm_attribution
        Credit OpenStreetMap contributors (set it whenever OSM data was used).
    fair_share
        Seats per child counted as fair; used to derive the gap layer from ``access`` when the
        cells have no ``gap`` column (``gap = access / fair_share``).
    access_label
        Legend note of the accessibility layer (default: seats within reach per child).
    school_name_col
        Column holding school names (default: ``name`` when present).
    school_color
        ``"auto"``, ``"utilisation"``, ``"level"``, any column, or None for one colour.
    district_name_col
        Column naming districts (tooltip and popup title).
    max_vector_cells
        Above this many cells the cell layers are painted as images (see ``docs/maps.md``).
    height
        CSS height of the map.
    lang
        ``"en"`` or ``"zh"``: layer names, legends and popup labels (data stay as they are).
    cost_unit
        Unit of ``nearest_cost`` in the popups (``"m"`` or ``"min"``).
    yearly
        :class:`geoequity.yearly.YearlyResults` of a run with ``[forecast]``: adds the year
        switch (two cell layers recoloured by a year control; :mod:`geoequity.maps._years`).
    plans
        The plans by year (``plans_by_year.csv``: ``plan``, ``district``, ``year``,
        ``seats_per_child``, ``children``, ``seats``, ``shortfall``) of a run with
        ``[[plans]]``: one layer per plan, the ``districts`` coloured by seats per child in
        the year of the year control (:mod:`geoequity.maps._plans`). Needs ``districts``.
    plan_schools
        The plans' schools (``plans_schools.csv``: ``plan``, ``action``, ``name``, ``year``,
        ``seats``, ``lon``, ``lat``): each plan's layer also shows its schools opened (star),
        expanded (plus) and closed (cross), with a popup.
    canvas
        The cells' :class:`CellCanvas` made ahead (:func:`prepare_cells`, same ``tiles`` and
        ``max_vector_cells``): the same map, without its geometry work. A canvas made from
        other geometries (neither the same objects nor equal bit for bit) is not used
        (:meth:`CellCanvas.fits`).

    Returns
    -------
    folium.Map
        Displays in notebooks; save with :func:`save_map`.
    """
    X.check_lang(lang)
    T = lambda key, **kw: X.t(lang, key, **kw)  # noqa: E731
    unit = cost_unit
    basemap = resolve_tiles(tiles, key=tiles_key, attribution=tiles_attribution)
    shift = basemap.gcj02
    layers = {"schools": _prepare(schools, "schools", gcj02=shift)}
    raster = None
    if canvas is not None and canvas.fits(cells, gcj02=shift, max_vector_cells=max_vector_cells,
                                          yearly=yearly):   # made ahead from these cells
        layers["cells"], cell_lonlat, raster = canvas.valid(cells), canvas.lonlat, canvas.raster
    else:
        layers["cells"], cell_lonlat = _prepare_cells(cells, gcj02=shift, yearly=yearly,
                                                      max_vector_cells=max_vector_cells)
    layers.update({k: _prepare(v, k, gcj02=shift) for k, v in {
        "districts": districts, "catchments": catchments, "service_areas": service_areas,
        "sites": sites}.items()})
    props = {str(k): _prepare(v, f"proposal {k}", gcj02=shift)
             for k, v in (proposals or {}).items()}
    present = [g for g in [*layers.values(), *props.values()] if g is not None and len(g)]
    if present:
        b = np.array([g.total_bounds if g is not layers["cells"] or cell_lonlat is None else
                      [*cell_lonlat.xy.min(axis=0), *cell_lonlat.xy.max(axis=0)] for g in present])
        west, south, east, north = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    else:
        west, south, east, north = -180.0, -60.0, 180.0, 75.0

    m = SafeMap(location=[(south + north) / 2, (west + east) / 2], zoom_start=12,
                   tiles=None, control_scale=True, height=height)
    m.default_js = []  # Leaflet comes inline (head_html), never from a CDN
    m.default_css = []
    m.get_root().header.add_child(RawElement(head_html()), name="geoequity_assets")
    m.get_root().title = html.escape(str(title))  # branca puts it in <title> unescaped
    m.add_child(JsCall("i18n", E.to_json({k: T(k) for k in ("fold", "yes", "no")})))
    for i, (url, attr, opts) in enumerate(basemap.layers):
        SafeTileLayer(tiles=url, attr=attr, name=html.escape(basemap.name),
                         overlay=i > 0, control=i == 0, **opts).add_to(m)

    if layers["cells"] is not None and len(layers["cells"]):
        _add_cells(m, layers["cells"], value_col=value_col, fair_share=fair_share,
                   access_label=access_label, max_vector_cells=max_vector_cells, lang=lang,
                   unit=unit, lonlat=cell_lonlat, raster=raster)
    if yearly is not None and layers["cells"] is not None and len(layers["cells"]):
        from geoequity.maps._years import add_year_layers

        add_year_layers(m, layers["cells"], yearly, lang=lang)
    if layers["catchments"] is not None and len(layers["catchments"]):
        catch = _polys_only(layers["catchments"], "catchments")
        short = _catchment_shortfall(catch, layers["schools"])
        _add_polygons(m, catch, name=T("catchments"), what="catchments",
                      cls_name="ge-catchment", pane="ge-areas", color_col="school",
                      title_col="school", title_prefix=T("catchment_prefix"),
                      style={"weight": 1, "fillOpacity": 0.25, "color": "#555555"},
                      legend={"title": T("catchments"), "note": T("one_colour"),
                              "items": []}, show=False, lang=lang, unit=unit,
                      extra={"shortfall": short} if short is not None else None)
        if short is not None:
            cls = _shortfall_classes(short, lang)
            _add_polygons(m, catch, name=T("catch_short_layer"), what="catchments",
                          cls_name="ge-catchment-shortfall", pane="ge-areas",
                          title_col="school", title_prefix=T("catchment_prefix"),
                          style={"weight": 1, "fillOpacity": 0.7, "color": "#555555"},
                          legend=cls.legend(), show=False, lang=lang, unit=unit,
                          classes=cls, extra={"shortfall": short})
    if layers["service_areas"] is not None and len(layers["service_areas"]):
        _add_polygons(m, layers["service_areas"], name=T("service_areas"),
                      what="service_areas", cls_name="ge-service-area", pane="ge-areas",
                      title_col="school", title_prefix=T("service_prefix"),
                      style={"weight": 1, "color": "#3182bd", "fillColor": "#3182bd",
                             "fillOpacity": 0.15},
                      legend={"title": T("service_areas"), "shape": "fill",
                              "items": [["#3182bd", T("reachable")]]},
                      show=False, lang=lang, unit=unit)
    if layers["districts"] is not None and len(layers["districts"]):
        _add_polygons(m, layers["districts"], name=T("districts"), what="districts",
                      cls_name="ge-district", pane="ge-districts", title_col=district_name_col,
                      title_prefix=T("district_prefix"),
                      style={"weight": 2.5, "color": "#222222", "fill": False},
                      legend={"title": T("districts"), "shape": "line",
                              "items": [["#222222", T("district_boundary")]]},
                      lang=lang, unit=unit, hit_pane="ge-district-areas")
    if plans is not None and len(plans):
        if layers["districts"] is not None and len(layers["districts"]):
            from geoequity.maps._plans import add_plan_layers

            add_plan_layers(m, layers["districts"], plans, name_col=district_name_col,
                            lang=lang, schools=plan_schools)
        else:
            info("map: plans need the districts; the plan layers are left out")
    for i, (pname, pgdf) in enumerate(props.items()):
        if pgdf is None or not len(pgdf):
            continue
        color = C.CATEGORICAL[(i + 2) % len(C.CATEGORICAL)]
        _add_polygons(m, pgdf, name=T("proposal", name=pname), what=f"proposal {pname}",
                      cls_name="ge-proposal", pane="ge-proposals", title_col=district_name_col,
                      title_prefix=f"{pname}:",
                      style={"weight": 3, "color": color, "dashArray": "6 4", "fill": False},
                      legend={"title": T("proposal", name=pname), "shape": "line",
                              "items": [[color, T("proposed_boundary")]]}, show=False,
                      lang=lang, unit=unit)
    if layers["schools"] is not None and len(layers["schools"]):
        _add_schools(m, layers["schools"], name_col=school_name_col, color_by=school_color,
                     lang=lang, unit=unit)
    if layers["sites"] is not None and len(layers["sites"]):
        _add_sites(m, layers["sites"], lang=lang, unit=unit)

    short_note = area_short_note(layers["cells"], layers["schools"], lang)
    m.add_child(JsCall("title", E.to_json(str(title)),
                      E.to_json(str(subtitle)) if subtitle else "null",
                      E.to_json(short_note) if short_note else "null"))
    if osm_attribution and not basemap.osm:
        m.add_child(JsCall("attribution", E.to_json([OSM_ATTRIBUTION])))
    SafeLayerControl(collapsed=False, position="topright").add_to(m)
    if present:
        m.add_child(SafeFitBounds([[south, west], [north, east]], padding=(10, 10),
                                  max_zoom=17))
    # once drawn: fit the data again beside the legend and under the title (GE.ready)
    m.add_child(JsCall("ready", E.to_json([[south, west], [north, east]] if present else None),
                      on_load=True))
    return m
