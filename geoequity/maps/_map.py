"""``make_map``: one folium map per analysis, every layer optional, offline by construction."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping

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
from geoequity.maps._assets import head_html
from geoequity.maps._safe import (RawElement, SafeFitBounds, SafeLayerControl, SafeMacro,
                                  SafeMap, SafeTileLayer)
from geoequity.maps._tiles import OSM_ATTRIBUTION, resolve_tiles

#: Cell layers drawn as vector polygons up to this many cells; beyond, as one raster image.
MAX_VECTOR_CELLS = 10_000
#: Up to this many cells each is an SVG path (in the DOM); beyond, cells draw on a canvas.
SVG_MAX_CELLS = 3_000

CELL_FIELDS = ["children", "access", "gap", "nearest_cost", "district"]


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


class _Call(SafeMacro):
    """``GE.<fn>(<the map>, *args)`` with pre-serialised (script-safe JSON) arguments.

    The map's variable name is inserted by the template, never by text replacement, so no
    data value can be mistaken for it.
    """

    _template = Template("""
{% macro script(this, kwargs) %}
{%- if this.on_load %}window.addEventListener("load", function () { {% endif -%}
GE.{{ this.fn }}({{ this._parent.get_name() }}{% for a in this.args %}, {{ a }}{% endfor %});
{%- if this.on_load %} });{% endif %}
{% endmacro %}
""")

    def __init__(self, fn: str, *args: str, on_load: bool = False):
        super().__init__()
        self._name = "GeoequityCall"
        self.fn = fn
        self.args = list(args)
        self.on_load = on_load


# --------------------------------------------------------------------------------------------
# input preparation


def _prepare(gdf, what: str, *, gcj02: bool) -> gpd.GeoDataFrame | None:
    """Validate a layer and return it in EPSG:4326 (shifted to GCJ-02 when asked)."""
    if gdf is None:
        return None
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise input_error(what, f"expected a GeoDataFrame, got {type(gdf).__name__}",
                          "read the layer with geoequity.read_layer or geopandas.read_file")
    if gdf.crs is None:
        raise input_error(what, "layer has no CRS",
                          "set it with gdf.set_crs(...) (or --input-crs on the command line)")
    gdf = gdf.copy()
    geom = np.asarray(gdf.geometry.array)
    empty = shapely.is_missing(geom) | shapely.is_empty(geom)
    if empty.any():
        info(f"map: {what}: {int(empty.sum())} rows without geometry are not drawn")
        gdf = gdf.loc[~empty]
    geom = np.asarray(gdf.geometry.array)
    bad = ~shapely.is_valid(geom)
    if bad.any():
        info(f"map: {what}: {int(bad.sum())} invalid geometries repaired (make_valid)")
        gdf = gdf.set_geometry(gpd.GeoSeries(shapely.make_valid(geom), index=gdf.index,
                                             crs=gdf.crs))
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


def _cell_classes(cells: gpd.GeoDataFrame, *, value_col, fair_share, access_label):
    """(key, layer name, Classes) for each cell layer, the primary first."""
    out = []
    children = _numeric(cells, "children")
    if children is not None:
        out.append(("children", "Children per cell", C.sequential(
            children, title="Children per cell", note="children living in each cell",
            palette=C.YLORBR5, zero_class=True)))
    access = _numeric(cells, "access")
    if access is not None:
        out.append(("access", "Accessibility", C.sequential(
            access, title="Accessibility",
            note=access_label or "school seats within reach per child (higher is better)",
            palette=C.RDYLGN5, nodata_label="no school within reach")))
    gap = _numeric(cells, "gap")
    fair = 1.0
    if gap is None and access is not None and fair_share:
        gap = access / float(fair_share)
    if gap is not None:
        out.append(("gap", "Seat gap", C.gap_classes(
            gap, fair_share=fair, title="Seat gap",
            note="access relative to the fair share (1 = the area's seats per child); "
                 "red: fewer seats than fair, blue: more")))
    if value_col and value_col not in ("children", "access", "gap"):
        v = _numeric(cells, value_col)
        if v is None:
            raise input_error("cells", f"no column {value_col!r}",
                              f"choose one of: {', '.join(map(str, cells.columns))}")
        out.insert(0, (value_col, str(value_col), C.sequential(
            v, title=str(value_col), note=f"value of {value_col} per cell",
            palette=C.PURPLES5)))
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


def _compact_column(col: pd.Series) -> list:
    """JSON-safe column values; floats kept to 4 significant figures (popup display)."""
    if pd.api.types.is_integer_dtype(col):
        return [E.json_value(x) for x in col.tolist()]  # ids and counts stay exact
    if pd.api.types.is_float_dtype(col):
        v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
        finite = np.isfinite(v)
        out = np.full(len(v), None, dtype=object)
        if finite.any():
            f = v[finite]
            mag = np.floor(np.log10(np.where(f == 0, 1.0, np.abs(f))))
            scale = 10.0 ** (3 - mag)
            r = np.round(f * scale) / scale
            out[finite] = [int(x) if x.is_integer() and abs(x) < 2**53 else float(x)
                           for x in r.tolist()]
        return out.tolist()
    return [E.json_value(x) for x in col.tolist()]


def _add_cells(m, cells, *, value_col, fair_share, access_label, max_vector_cells):
    points = _is_points(cells)
    if not points:  # classes, rows and geometry must describe the same rows
        cells = _polys_only(cells, "cells")
    layers = _cell_classes(cells, value_col=value_col, fair_share=fair_share,
                           access_label=access_label)
    n = len(cells)
    if n > max_vector_cells:
        from geoequity.maps._raster import cell_raster

        with step(f"painting {n:,} cells as an image"):
            raster = cell_raster(cells)
            names = []
            for i, (key, name, cls) in enumerate(layers):
                payload = raster.payload(cls.index, cls.colors, cls=f"ge-cells ge-cells-{key}")
                layer = _ImageLayer(name, payload, legend=cls.legend(), show=i == 0)
                layer.add_to(m)
                names.append(layer.get_name())
            # popups for image cells: click -> pixel -> cell id -> attribute columns
            df, label = _with_id(cells, "cell")
            fields = [label] + [c for c in CELL_FIELDS if c in df.columns]
            if value_col and value_col not in fields:
                fields.append(str(value_col))
            lookup = raster.lookup()
            lookup.update(fields=fields, cols=[_compact_column(df[f]) for f in fields],
                          title=0, titlePrefix="Cell")
            m.add_child(_Call("rasterClick", E.to_json(lookup), f"[{', '.join(names)}]"))
        return
    df, label = _with_id(cells, "cell")
    fields = [label] + [c for c in CELL_FIELDS if c in df.columns]
    if value_col and value_col not in fields:
        fields.append(str(value_col))
    if points:
        geoms = E.points(_points_of(cells), q=E.Q_POLY)
    else:
        geoms = E.polygons(np.asarray(cells.geometry.array))
    shared = _Script(f"var {m.get_name()}_cells = {E.to_json(geoms)};")
    m.add_child(shared)
    rows = E.rows(df, fields)
    for i, (key, name, cls) in enumerate(layers):
        payload = {
            "kind": "point" if points else "polygon", "cls": f"ge-cell ge-cell-{key}",
            "pane": "ge-cells", "q": E.Q_POLY, "palette": cls.colors,
            "colors": cls.index.tolist(),
            "style": ({"stroke": False, "fillOpacity": 0.85, "radius": 4} if points else
                      {"weight": 0.4, "color": "#777777", "opacity": 0.5, "fillOpacity": 0.75}),
            "fields": fields, "rows": rows, "title": 0, "titlePrefix": "Cell",
            "canvas": n > SVG_MAX_CELLS,
        }
        _DataLayer(name, payload, legend=cls.legend("circle" if points else "fill"),
                   geoms_var=f"{m.get_name()}_cells", show=i == 0).add_to(m)


def _add_schools(m, schools, *, name_col, color_by):
    df, label = _with_id(schools, "school")
    seats = _numeric(schools, "seats")
    util = _numeric(schools, "utilisation")
    if util is not None and seats is not None:
        df["utilisation (%)"] = util * 100.0
        df["pupils assigned"] = util * seats
        df["spare seats"] = seats - util * seats
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
        cls = C.utilisation_classes(util if util is not None else np.full(len(df), np.nan))
    elif color_by:
        if color_by not in df.columns:
            raise input_error("schools", f"no column {color_by!r} to colour by",
                              "use utilisation, level or an existing column")
        cls = C.categorical(df[color_by].tolist(), title=f"Schools by {color_by}",
                            note="circle area \u221d seats")
    else:
        cls = C.Classes(np.zeros(len(df), dtype=np.int64), ["#08519c"], ["school"], "Schools",
                        "circle area \u221d seats" if seats is not None else "")
    if seats is not None and np.nanmax(np.where(np.isfinite(seats), seats, 0), initial=0) > 0:
        smax = float(np.nanmax(seats))
        s = np.where(np.isfinite(seats) & (seats > 0), seats, 0.0)
        radius = np.maximum(3.0, 14.0 * np.sqrt(s / smax)).round(1)
        cls.note = (cls.note + "; " if cls.note else "") + (
            f"largest circle: {C.fmt_number(smax)} seats")
    else:
        radius = np.full(len(df), 6.0)
    payload = {
        "kind": "point", "cls": "ge-school", "pane": "ge-schools", "q": E.Q_POINT,
        "geoms": E.points(_points_of(schools)), "palette": cls.colors,
        "colors": cls.index.tolist(), "radius": radius.tolist(),
        "style": {"weight": 1.2, "color": "#222222", "fillOpacity": 0.9},
        "fields": fields, "rows": E.rows(df, fields), "title": title_idx,
        "tooltip": title_idx, "canvas": len(df) > SVG_MAX_CELLS,
    }
    _DataLayer("Schools", payload, legend=cls.legend("circle")).add_to(m)


def _add_polygons(m, gdf, *, name, what, cls_name, pane, style, title_col=None,
                  title_prefix=None, color_col=None, legend=None, show=True):
    gdf = _polys_only(gdf, what)
    df, label = _with_id(gdf, what)
    fields = list(df.columns)
    title_col = title_col if title_col in fields else label
    t_idx = fields.index(title_col)
    payload = {
        "kind": "polygon", "cls": cls_name, "pane": pane, "q": E.Q_POLY, "style": style,
        "geoms": E.polygons(shapely.simplify(np.asarray(gdf.geometry.array), 1e-5,
                                             preserve_topology=True)),
        "fields": fields, "rows": E.rows(df, fields), "title": t_idx, "tooltip": t_idx,
        "titlePrefix": title_prefix,
    }
    if color_col is not None and color_col in df.columns:
        cls = C.categorical(df[color_col].tolist(), title=name)
        payload.update(palette=cls.colors, colors=cls.index.tolist())
    _DataLayer(name, payload, legend=legend, show=show).add_to(m)


def _add_sites(m, sites):
    df, label = _with_id(sites, "site")
    fields = list(df.columns)
    rank = _numeric(sites, "rank")
    labels = ([str(int(r)) if math.isfinite(r) else "" for r in rank] if rank is not None
              else [""] * len(df))
    id_idx = fields.index("site") if "site" in fields else 0
    payload = {
        "kind": "site", "cls": "ge-site", "pane": "ge-sites", "q": E.Q_POINT,
        "geoms": E.points(_points_of(sites)), "labels": labels, "style": {},
        "fields": fields, "rows": E.rows(df, fields), "title": id_idx,
        "titlePrefix": "Proposed site", "tooltip": id_idx,
    }
    legend = {"title": "Proposed new sites", "note": "number: rank in the siting solution",
              "shape": "circle", "items": [["#6a3d9a", "proposed school site"]]}
    _DataLayer("Proposed sites", payload, legend=legend).add_to(m)


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
             yearly=None) -> folium.Map:
    """Build the interactive map of one analysis.

    Every layer is optional; layers are GeoDataFrames in any CRS (reprojected to EPSG:4326
    here, and shifted to GCJ-02 for Amap/Gaode basemaps). The map embeds Leaflet and its data,
    so :func:`save_map` writes one HTML file that opens with no network.

    Parameters
    ----------
    schools
        Points with ``seats`` (circle area proportional to seats) and optionally ``level``,
        ``name``, ``utilisation`` (assigned pupils / seats); coloured by utilisation when
        present, else by level. The popup lists every column plus, with utilisation, the pupils
        assigned and spare seats.
    cells
        Grid cells (polygons) or demand points with ``children`` and optionally ``access``,
        ``gap`` (1.0 = fair share), ``nearest_cost``, ``district``. One switchable layer per
        column: children (quantile classes), accessibility (quantile classes; NaN = no school
        within reach), seat gap (fixed diverging classes around the fair share).
    value_col
        Cell column shown first (any numeric column; default ``gap``, else ``access``, else
        ``children``).
    districts
        Polygons with ``district`` and their table columns: outlines with a popup of the row.
    catchments, service_areas
        Polygons with a ``school`` column (one colour per school); hidden at first.
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
    yearly
        :class:`geoequity.yearly.YearlyResults` of a run with ``[forecast]``: adds the year
        switch (two cell layers recoloured by a year control; :mod:`geoequity.maps._years`).

    Returns
    -------
    folium.Map
        Displays in notebooks; save with :func:`save_map`.
    """
    basemap = resolve_tiles(tiles, key=tiles_key, attribution=tiles_attribution)
    shift = basemap.gcj02
    layers = {k: _prepare(v, k, gcj02=shift) for k, v in {
        "schools": schools, "cells": cells, "districts": districts, "catchments": catchments,
        "service_areas": service_areas, "sites": sites}.items()}
    props = {str(k): _prepare(v, f"proposal {k}", gcj02=shift)
             for k, v in (proposals or {}).items()}
    present = [g for g in [*layers.values(), *props.values()] if g is not None and len(g)]
    if present:
        b = np.array([g.total_bounds for g in present])
        west, south, east, north = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    else:
        west, south, east, north = -180.0, -60.0, 180.0, 75.0

    m = SafeMap(location=[(south + north) / 2, (west + east) / 2], zoom_start=12,
                   tiles=None, control_scale=True, height=height)
    m.default_js = []  # Leaflet comes inline (head_html), never from a CDN
    m.default_css = []
    m.get_root().header.add_child(RawElement(head_html()), name="geoequity_assets")
    m.get_root().title = html.escape(str(title))  # branca puts it in <title> unescaped
    for i, (url, attr, opts) in enumerate(basemap.layers):
        SafeTileLayer(tiles=url, attr=attr, name=html.escape(basemap.name),
                         overlay=i > 0, control=i == 0, **opts).add_to(m)

    if layers["cells"] is not None and len(layers["cells"]):
        _add_cells(m, layers["cells"], value_col=value_col, fair_share=fair_share,
                   access_label=access_label, max_vector_cells=max_vector_cells)
    if yearly is not None and layers["cells"] is not None and len(layers["cells"]):
        from geoequity.maps._years import add_year_layers

        add_year_layers(m, layers["cells"], yearly)
    if layers["catchments"] is not None and len(layers["catchments"]):
        _add_polygons(m, layers["catchments"], name="Catchments", what="catchments",
                      cls_name="ge-catchment", pane="ge-areas", color_col="school",
                      title_col="school", title_prefix="Catchment of school",
                      style={"weight": 1, "fillOpacity": 0.25, "color": "#555555"},
                      legend={"title": "Catchments", "note": "one colour per school",
                              "items": []}, show=False)
    if layers["service_areas"] is not None and len(layers["service_areas"]):
        _add_polygons(m, layers["service_areas"], name="Service areas", what="service_areas",
                      cls_name="ge-service-area", pane="ge-areas", title_col="school",
                      title_prefix="Service area of school",
                      style={"weight": 1, "color": "#3182bd", "fillColor": "#3182bd",
                             "fillOpacity": 0.15},
                      legend={"title": "Service areas", "shape": "fill",
                              "items": [["#3182bd", "reachable within the threshold"]]},
                      show=False)
    if layers["districts"] is not None and len(layers["districts"]):
        _add_polygons(m, layers["districts"], name="Districts", what="districts",
                      cls_name="ge-district", pane="ge-districts", title_col=district_name_col,
                      title_prefix="District",
                      style={"weight": 2.5, "color": "#222222", "fill": False},
                      legend={"title": "Districts", "shape": "line",
                              "items": [["#222222", "district boundary"]]})
    for i, (pname, pgdf) in enumerate(props.items()):
        if pgdf is None or not len(pgdf):
            continue
        color = C.CATEGORICAL[(i + 2) % len(C.CATEGORICAL)]
        _add_polygons(m, pgdf, name=f"Proposal: {pname}", what=f"proposal {pname}",
                      cls_name="ge-proposal", pane="ge-proposals", title_col=district_name_col,
                      title_prefix=f"{pname}:",
                      style={"weight": 3, "color": color, "dashArray": "6 4", "fill": False},
                      legend={"title": f"Proposal: {pname}", "shape": "line",
                              "items": [[color, "proposed boundary"]]}, show=False)
    if layers["schools"] is not None and len(layers["schools"]):
        _add_schools(m, layers["schools"], name_col=school_name_col, color_by=school_color)
    if layers["sites"] is not None and len(layers["sites"]):
        _add_sites(m, layers["sites"])

    m.add_child(_Call("title", E.to_json(str(title)),
                      E.to_json(str(subtitle)) if subtitle else "null"))
    if osm_attribution and not basemap.osm:
        m.add_child(_Call("attribution", E.to_json([OSM_ATTRIBUTION])))
    SafeLayerControl(collapsed=False, position="topright").add_to(m)
    if present:
        m.add_child(SafeFitBounds([[south, west], [north, east]], padding=(10, 10),
                                  max_zoom=17))
    m.add_child(_Call("ready", on_load=True))
    return m
