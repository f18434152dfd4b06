"""A province overview and one map per county (``[outputs] maps_by``, ``--maps-by``).

With ``maps_by`` set to ``"districts"`` or a column of the districts layer (e.g. ``county``),
a run writes, instead of one map of the whole area:

- the *overview* at the map path (``maps/province.html``): the districts coloured by their
  figures from ``districts.csv`` (seats per child, share and number of children beyond the
  threshold, mean trip to the nearest school; one switchable layer each, fixed classes and a
  legend), popups with the figures and a link to the map the district belongs to, the outlines
  of the groups, and a list of every group's map;
- one map per group in the folder beside it named after the map's stem
  (``maps/province/<group>.html``): the same map a run draws of the whole area (cells, schools,
  catchments, districts), of that group's districts only, with a link back to the overview.

File names keep letters, digits (any script: ``城关区.html``), ``-`` and ``_``; other characters
become ``_``; names that then coincide (also when they differ only in case) get ``-2``, ``-3``.

The set is written atomically (:func:`pending_map_set`): every map is drawn into a temporary
folder and a temporary overview beside the map path; :meth:`PendingMapSet.commit` then puts the
folder in place of the previous one (two renames), the overview over the previous overview,
and removes the previous folder. The folder's ``.geoequity-maps.json`` lists the maps
geoequity wrote; any other file in the folder (the user's own) is carried into the new folder.
Maps of groups the new run no longer has are gone with the previous folder. A run that draws
one map to the same path again removes the county maps of the earlier overview
(:func:`stale_county_maps`), since they would link back to a map that is no longer an overview.

On a cluster the set is drawn where the cells are (docs/scale.md, "The maps and the report
from the pieces"): :func:`plan_map_set` (from the districts) names every map; a worker draws
a group's map from its cells alone, :func:`draw_group_map` (or :func:`draw_piece_maps` with
the piece it holds), the same page as from every cell; :func:`draw_overview` needs the
district table only. :func:`draw_map_set` is these steps in one process.
:func:`cluster_maps_by` says what a cluster run draws without ``maps_by``.

Data enter the page only through :func:`geoequity.maps._encode.to_json`; links are made here from
the file names (percent-encoded), never from data; the runtime puts every text in with
``textContent`` (see maps/_safe.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import json
import os
import re
import shutil
import tempfile
import unicodedata
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import quote

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.template import Template

from geoequity._atomic import HOST_TAG, PendingFile, pending_path, process_alive, write_text
from geoequity._errors import input_error
from geoequity._options import option
from geoequity._progress import info, is_quiet, set_quiet, step
from geoequity.group_names import group_label
from geoequity.maps import _classify as C
from geoequity.maps import _encode as E
from geoequity.maps import _text as X
from geoequity.maps._map import JsCall, to_lonlat, make_map
from geoequity.maps._plans import seats_per_child_classes
from geoequity.maps._safe import RawElement, SafeMacro
from geoequity.maps._save import save_map
from geoequity.maps._tiles import resolve_tiles
from geoequity.maps._years import JsonVar
from geoequity.report_format import number

__all__ = ["DISTRICTS", "MANIFEST", "ONE_MAP_CELLS", "MapSetPlan", "PendingMapSet",
           "check_map_folder", "check_maps_by", "cluster_maps_by", "draw_group_map",
           "draw_map_set", "draw_overview", "draw_piece_maps", "file_names", "group_layers",
           "set_plan",
           "group_of", "map_folder", "pending_map_set", "plan_map_set", "stale_county_maps"]

#: ``maps_by = "districts"``: one map per district
DISTRICTS = "districts"
#: in the county maps' folder: the files geoequity wrote there (the rest is the user's)
MANIFEST = ".geoequity-maps.json"
#: the value of a district whose ``maps_by`` column is empty
NOT_GIVEN = "(none)"
#: the overview's layers, the first shown
FIGURES = ("seats_per_child", "share_beyond", "children_beyond", "mean_nearest_cost")
#: fixed classes of the share beyond the threshold (above 0)
SHARE_BREAKS = (0.05, 0.10, 0.25, 0.50)
#: fixed classes of the mean trip, as multiples of the threshold
COST_FACTORS = (0.5, 0.75, 1.0, 1.5)

_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}
# the staging folders (.maps) and the previous folders being removed (.old.maps) of a writer
_STAGE = re.compile(r"^\..*\.~gq-(?P<host>[A-Za-z0-9]*)-(?P<pid>\d+)-.*\.maps$")


# -- names -----------------------------------------------------------------------------------

def map_folder(path) -> Path:
    """The folder of the county maps of the overview at ``path``: beside it, named after its
    stem (``maps/province.html`` -> ``maps/province/``)."""
    path = Path(path)
    return path.parent / path.stem


def _file_part(name: str) -> str:
    part = re.sub(r"[^\w-]+", "_", unicodedata.normalize("NFC", str(name)))
    part = part.strip("_.-")[:80] or "map"
    return part + "_" if part.upper() in _WINDOWS_RESERVED else part


def file_names(names) -> dict[str, str]:
    """``{name: file name}`` of the county maps: safe on every file system, one per name.

    Letters and digits of any script, ``-`` and ``_`` are kept, every other run of characters
    becomes ``_`` (``"Xi'an / 西安"`` -> ``Xi_an_西安.html``); names that then coincide, also
    when they differ only in case, get ``-2``, ``-3`` ... in the order given.
    """
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        base = _file_part(name)
        stem, k = base, 1
        while stem.casefold() in taken:
            k += 1
            stem = f"{base}-{k}"
        taken.add(stem.casefold())
        out[str(name)] = f"{stem}.html"
    return out


# -- checks and groups -----------------------------------------------------------------------

#: A run on a cluster without ``maps_by`` draws one map of every cell up to this many cells
#: (the one map holds them all in one process, as an image); above, an overview and a map per
#: group (:func:`cluster_maps_by`). The size up to which ``cells.gpkg``/``cells.csv`` are
#: written too (:data:`geoequity.outputs.CSV_AUTO_ROWS`).
ONE_MAP_CELLS = 200_000


def cluster_maps_by(by: str | None, *, cells: int, group: str | None,
                    districts: bool) -> str | None:
    """What a run on a cluster draws: ``by`` when given (``[outputs] maps_by``); else one map
    up to :data:`ONE_MAP_CELLS` cells; above, a map per ``group`` (the run's district group,
    ``[districts] group``, which defaults to the ``[compute] partition`` column), else a map
    per district, with an overview. Without districts there is nothing to group by: one map.
    Says its choice in one line."""
    if by is not None or cells <= ONE_MAP_CELLS:
        return by
    if not districts:
        info(f"  map: one map of {cells:,} cells (no districts to draw a map per district "
             "by: the map holds every cell in one process)")
        return None
    choice = group or DISTRICTS
    info(f"  map: {cells:,} cells on a cluster, over {ONE_MAP_CELLS:,} for one map: an "
         f"overview and a map per {group_label(choice, 'en')} ({option('maps_by')} chooses)")
    return choice


def check_maps_by(by, columns, *, source, layer="the districts layer") -> str | None:
    """``by`` when it can group districts (``"districts"`` or one of ``columns``), else a
    one-line error naming ``source`` and the option (``[outputs] maps_by``, ``--maps-by``).
    ``columns`` None: no districts layer."""
    if by is None:
        return None
    if not isinstance(by, str) or not by.strip():
        raise input_error(source, f"{option('maps_by')} = {by!r} is not a column name",
                          f'use "{DISTRICTS}" or a column of the districts layer')
    if columns is None:
        raise input_error(source, f"{option('maps_by', by)} needs a districts layer",
                          "add [districts] (a map per district or county needs them) or drop "
                          f"{option('maps_by')}")
    if by == DISTRICTS or by in columns:
        return by
    cols = [str(c) for c in columns if str(c) != "geometry"]
    raise input_error(source, f"{option('maps_by', by)}: {layer} has no column {by!r}",
                      f'use "{DISTRICTS}" or one of its columns ({", ".join(cols)})')


def group_of(districts: pd.DataFrame, by: str, name_col: str = "district") -> pd.Series:
    """The map each district goes to: ``{district name: group name}`` (text)."""
    names = districts[name_col].astype(str).to_numpy()
    if by == DISTRICTS or by == name_col:
        return pd.Series(names, index=names)
    values = districts[by]

    def word(v) -> str:   # a county code read as a float (420102.0) is named 420102
        if isinstance(v, float | np.floating) and float(v).is_integer():
            return str(int(v))
        return str(v).strip()

    text = pd.Series([word(v) if pd.notna(v) else NOT_GIVEN for v in values],
                     index=values.index, dtype=object)
    text = text.where(text != "", NOT_GIVEN)
    return pd.Series(text.to_numpy(), index=names)


def group_figures(districts: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """The districts' figures added up per group (one row per group, in ``groups`` order):
    children, seats and children beyond summed; seats per child and share beyond of the sums;
    the mean trip weighted by the children with a school in range (as ``districts.csv``)."""
    d = pd.DataFrame({"group": groups.reindex(districts["district"].astype(str)).to_numpy()})
    for col in ("children", "seats", "children_beyond", "mean_nearest_cost",
                "children_no_school"):
        d[col] = (pd.to_numeric(districts[col], errors="coerce").to_numpy(float)
                  if col in districts else np.nan)
    reach = (d["children"] - d["children_no_school"].fillna(0.0)).clip(lower=0.0)
    d["_w"] = reach.where(d["mean_nearest_cost"].notna(), 0.0)
    d["_wc"] = (d["mean_nearest_cost"] * d["_w"]).fillna(0.0)
    s = d.groupby("group", sort=False)[["children", "seats", "children_beyond", "_w",
                                        "_wc"]].sum(min_count=1)
    kids = s["children"].where(s["children"] > 0)
    s["seats_per_child"] = s["seats"] / kids
    s["share_beyond"] = s["children_beyond"] / kids
    s["mean_nearest_cost"] = s["_wc"] / s["_w"].where(s["_w"] > 0)
    order = list(dict.fromkeys(groups.tolist()))
    return s.drop(columns=["_w", "_wc"]).reindex(order)


# -- classes ---------------------------------------------------------------------------------

def _threshold_text(threshold, unit: str, lang: str) -> str:
    if not isinstance(threshold, int | float) or isinstance(threshold, bool):
        return X.t(lang, "ov_threshold")
    return f"{C.fmt_number(float(threshold))} {X.unit_text(lang, unit)}"


def figure_classes(values, key: str, *, lang: str, threshold, unit: str) -> C.Classes:
    """The fixed classes of one overview layer (see ``docs/maps.md``)."""
    T = lambda k, **kw: X.t(lang, k, **kw)  # noqa: E731
    v = np.asarray(values, dtype=float)
    t = _threshold_text(threshold, unit, lang)
    if key == "seats_per_child":
        idx, colors, labels = seats_per_child_classes(v, lang=lang)
        return C.Classes(idx, list(colors), list(labels), X.t(lang, "seats_per_child"),
                         T("ov_note_spc"))
    if key == "share_beyond":
        idx = C.classify(v, SHARE_BREAKS)
        pct = [f"{b * 100:g} %" for b in SHARE_BREAKS]
        labels = ([f"> 0 \u2013 < {pct[0]}"]
                  + [f"{pct[i]} \u2013 < {pct[i + 1]}" for i in range(len(pct) - 1)]
                  + [f"\u2265 {pct[-1]}"])
        colors = list(C.REDS5)
        idx = np.where(np.isfinite(v) & (v <= 0), len(colors), idx)
        colors, labels = colors + [C.ZERO], labels + [T("ov_none")]
        idx = np.where(idx < 0, len(colors), idx)
        return C.Classes(idx, colors + [C.NO_DATA], labels + [T("no_data")], T("ov_share"),
                         T("ov_note_share", t=t))
    if key == "children_beyond":
        return C.sequential(v, title=T("ov_beyond"), note=T("ov_note_beyond", t=t),
                            palette=C.REDS5, zero_class=True, zero_label=T("ov_none"),
                            nodata_label=T("no_data"))
    title = T("ov_cost", unit=X.unit_text(lang, unit))
    if isinstance(threshold, int | float) and threshold > 0:
        breaks = [f * float(threshold) for f in COST_FACTORS]
        idx = C.classify(v, breaks)
        labels = C.range_labels(breaks)
        colors = list(reversed(C.RDYLGN5))   # short trips green, long red
        idx = np.where(idx < 0, len(colors), idx)
        return C.Classes(idx, colors + [C.NO_DATA], labels + [T("no_reach")], title,
                         T("ov_note_cost"))
    return C.sequential(v, title=title, note=T("ov_note_cost"), palette=C.YLORBR5,
                        nodata_label=T("no_reach"))


# -- the page parts --------------------------------------------------------------------------

# The overview's runtime: constant text (no data), placed once in the page head.
_RUNTIME = """<style>
.ge-ov-list { background: rgba(255,255,255,0.94); padding: 6px 10px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,0.3); max-height: 38vh; overflow-y: auto; max-width: 260px; }
.ge-ov-list-title { font-weight: 600; margin-bottom: 3px; }
.ge-ov-list a, .ge-ov-back a, .ge-ov-link a { color: #08519c; text-decoration: none; }
.ge-ov-list a:hover, .ge-ov-back a:hover, .ge-ov-link a:hover { text-decoration: underline; }
.ge-ov-list td { padding: 0 6px 0 0; white-space: nowrap; }
.ge-ov-list td.ge-ov-v { color: #555; text-align: right; font-variant-numeric: tabular-nums; }
.ge-ov-list td.ge-ov-note { font-size: 11px; }
.ge-ov-back { background: rgba(255,255,255,0.94); padding: 5px 10px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,0.3); font-weight: 600; }
.ge-ov-link { margin-top: 5px; font-weight: 600; }
path.ge-overview:focus, path.ge-overview-group:focus { outline: none; }
</style>
<script>
(function () {
  "use strict";
  var OV = (window.GEOV = window.GEOV || {});
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function link(href, text) {
    var a = el("a", null, text);
    a.setAttribute("href", href);
    return a;
  }
  // the popups of a GE.vector layer, with a link under the figures (links[row]: [href, text])
  OV.withLinks = function (group, d, links) {
    group.unbindPopup();
    group.bindPopup(function (lyr) {
      var row = d.rows[lyr._geRow];
      var title = d.titlePrefix ? d.titlePrefix + " " + GE.fmt(row[d.title]) : row[d.title];
      var box = GE.table(title, d.fields, row, d.title, d.formats);
      var ln = links[lyr._geRow];
      if (ln) {
        var p = el("div", "ge-ov-link");
        p.appendChild(link(ln[0], ln[1]));
        box.appendChild(p);
      }
      return box;
    }, { maxWidth: 420 });
  };
  // one figure layer shown at a time: the others are switched off once the layer control
  // has finished its click (so that it updates its boxes)
  OV.exclusive = function (map, layers) {
    map.on("overlayadd", function (e) {
      if (layers.indexOf(e.layer) < 0) return;
      setTimeout(function () {
        layers.forEach(function (g) {
          if (g !== e.layer && map.hasLayer(g)) map.removeLayer(g);
        });
      }, 0);
    });
  };
  // the data fitted right of the list (GE.ready fits them beside the legend and the layer
  // control and under the title; the list stands on the left)
  function refit(map, box) {
    var size = map.getSize();
    var left = box.offsetWidth + 20;
    var right = 0;
    var c = map.getContainer();
    [c.querySelector(".ge-legend"), c.querySelector(".leaflet-control-layers")].forEach(
      function (e) { if (e) right = Math.max(right, e.offsetWidth + 20); });
    if (size.x - left - right < 0.45 * size.x) return;   // a narrow screen: keep GE.ready's
    var title = c.querySelector(".ge-title");
    var top = title ? title.offsetTop + title.offsetHeight + 8 : 10;
    map.fitBounds(GE.bounds, { paddingTopLeft: [left, top],
      paddingBottomRight: [right + 10, 30], maxZoom: 17, animate: false });
  }
  // spec: {title, note, items: [[name, href, value]]}
  OV.list = function (map, spec) {
    var ctl = L.control({ position: "bottomleft" });
    var box = el("div", "ge-ov-list leaflet-control");
    window.addEventListener("load", function () {   // after GE.ready (registered before)
      if (!GE.bounds) return;
      // a zoom still animating (the first fit) would swallow the fit: fit once it ends
      if (map._animatingZoom) map.once("zoomend", function () { refit(map, box); });
      else refit(map, box);
    });
    ctl.onAdd = function () {
      box.appendChild(el("div", "ge-ov-list-title", spec.title));
      var t = el("table");
      var head = t.insertRow();
      head.appendChild(el("td"));
      head.appendChild(el("td", "ge-ov-v ge-ov-note", spec.note));
      spec.items.forEach(function (it) {
        var tr = t.insertRow();
        var a = el("td");
        a.appendChild(link(it[1], it[0]));
        tr.appendChild(a);
        tr.appendChild(el("td", "ge-ov-v", it[2]));
      });
      box.appendChild(t);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    ctl.addTo(map);
  };
  OV.back = function (map, href, text) {
    var ctl = L.control({ position: "topleft" });
    ctl.onAdd = function () {
      var box = el("div", "ge-ov-back leaflet-control");
      box.appendChild(link(href, text));
      L.DomEvent.disableClickPropagation(box);
      return box;
    };
    ctl.addTo(map);
  };
})();
</script>"""


class _LinkedLayer(folium.map.Layer, SafeMacro):
    """Polygons coloured by classes (``GE.vector``), with a legend and popups that end with a
    link to a map."""

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }}_d = {{ this.payload }};
var {{ this.get_name() }} = GE.vector({{ this._parent.get_name() }}, {{ this.get_name() }}_d,
    {{ this.data_var }}.{{ this.geoms_key }});
GEOV.withLinks({{ this.get_name() }}, {{ this.get_name() }}_d,
    {{ this.data_var }}.{{ this.links_key }});
{%- if this.legend %}
GE.legend({{ this._parent.get_name() }}, {{ this.get_name() }}, {{ this.legend }});
{%- endif %}
{% endmacro %}
""")

    def __init__(self, name: str, payload: dict, *, data_var: str, geoms_key: str,
                 links_key: str, legend: dict | None, show: bool):
        super().__init__(name=html.escape(name), overlay=True, control=True, show=show)
        self._name = "GeoequityOverviewLayer"
        self.payload = E.to_json({**payload, "lazy": not show})
        self.data_var = data_var   # made from the map's own name, never from data
        self.geoms_key = geoms_key
        self.links_key = links_key
        self.legend = E.to_json(legend) if legend else None


def _runtime(m: folium.Map) -> None:
    m.get_root().header.add_child(RawElement(_RUNTIME), name="geoequity_overview")


def add_back_link(m: folium.Map, href: str, *, lang: str = "en") -> None:
    """A link back to the overview in the map's top left corner (``href``: relative URL)."""
    _runtime(m)
    m.add_child(JsCall("back", E.to_json(href), E.to_json(X.t(lang, "ov_back")), ns="GEOV"))


def _geoms(gdf) -> list:
    g = shapely.make_valid(np.asarray(gdf.geometry.array))
    return E.polygons(shapely.simplify(g, 1e-5, preserve_topology=True))


def _figure_rows(table: pd.DataFrame, names: list[str], extra: list | None) -> list[list]:
    """Popup rows: name, [group], children, seats, seats per child, children beyond,
    share beyond (%), mean trip; values as in ``districts.csv``."""
    def col(c, scale=1.0):
        if c not in table:
            return [None] * len(table)
        v = pd.to_numeric(table[c], errors="coerce").to_numpy(float) * scale
        # full precision: the overview's figures are districts.csv's (popups round them)
        return [float(x) if np.isfinite(x) else None for x in v]

    cols = [col("children"), col("seats"), col("seats_per_child"), col("children_beyond"),
            col("share_beyond", 100.0), col("mean_nearest_cost")]
    rows = []
    for k, name in enumerate(names):
        head = [name] + ([extra[k]] if extra is not None else [])
        rows.append(head + [c[k] for c in cols])
    return rows


def _figure_fields(lang: str, unit: str, by_label: str | None) -> list[str]:
    T = lambda k, **kw: X.t(lang, k, **kw)  # noqa: E731
    head = [X.t(lang, "district")] + ([by_label] if by_label else [])
    return head + [T("children"), T("seats"), T("seats_per_child"), T("ov_beyond"),
                   T("ov_share_pct"), T("ov_cost", unit=X.unit_text(lang, unit))]


def overview_map(districts: gpd.GeoDataFrame, by: str, hrefs: Mapping[str, str], *,
                 title: str, lang: str = "en", tiles: str | None = "none",
                 tiles_key: str | None = None, osm_attribution: bool = False,
                 cost_unit: str = "m", threshold=None) -> folium.Map:
    """The overview: ``districts`` (with their ``districts.csv`` columns and ``by``) coloured
    by their figures, the groups' outlines, links to the groups' maps (``hrefs``:
    ``{group: relative URL}``)."""
    X.check_lang(lang)
    T = lambda k, **kw: X.t(lang, k, **kw)  # noqa: E731
    groups = group_of(districts, by)
    col = group_label(by, lang)   # 'district type' for type, as the report says
    n = len(dict.fromkeys(groups.tolist()))
    m = make_map(districts=districts, title=title, tiles=tiles, tiles_key=tiles_key,
                 osm_attribution=osm_attribution, lang=lang, cost_unit=cost_unit,
                 subtitle=T("ov_subtitle", n=f"{n:,}", col=col))
    _runtime(m)
    polys = to_lonlat(districts, gcj02=resolve_tiles(tiles, key=tiles_key).gcj02)
    polys = polys.set_geometry(gpd.GeoSeries(shapely.make_valid(np.asarray(
        polys.geometry.array)), index=polys.index, crs=polys.crs))
    names = polys["district"].astype(str).tolist()
    own = groups.reindex(names).tolist()
    by_label = None if by == DISTRICTS else col
    data_var = f"{m.get_name()}_overview"   # the test suite reads this variable's JSON
    fields = _figure_fields(lang, cost_unit, by_label)
    rows = _figure_rows(polys, names, own if by_label else None)
    link = lambda g: [hrefs[g], T("ov_open", name=g)] if g in hrefs else None  # noqa: E731
    shared = {"by": by, "districts": names, "groups": own, "fields": fields, "rows": rows,
              "geoms": _geoms(polys), "links": [link(g) for g in own]}
    figs = group_figures(polys, groups)
    if by_label:
        dissolved = polys.assign(_g=own).dissolve(by="_g", sort=False).reindex(figs.index)
        shared.update(group_geoms=_geoms(dissolved),
                      group_rows=_figure_rows(figs, figs.index.tolist(), None),
                      group_links=[link(g) for g in figs.index])
    m.add_child(JsonVar(data_var, shared))
    _add_figure_layers(m, polys, data_var, fields, rows, lang=lang, threshold=threshold,
                       unit=cost_unit)
    if by_label:
        _add_group_layer(m, data_var, [col] + fields[2:], shared["group_rows"], col, lang)
    spc = figs["seats_per_child"]
    items = [[g, hrefs[g], number(float(spc[g]))]
             for g in hrefs if g in spc.index]   # in the order of the maps' names
    m.add_child(JsCall("list", E.to_json({"title": T("ov_maps", col=col),
                                         "note": X.t(lang, "seats_per_child"),
                                         "items": items}), ns="GEOV"))
    _control_last(m)
    return m


def _add_figure_layers(m, polys, data_var: str, fields: list, rows: list, *, lang: str,
                       threshold, unit: str) -> None:
    """One layer per figure (:data:`FIGURES`), the first shown, one shown at a time."""
    base = {"kind": "polygon", "pane": "ge-areas", "q": E.Q_POLY, "fields": fields,
            "rows": rows, "title": 0, "tooltip": 0, "titlePrefix": X.t(lang, "district_prefix"),
            "style": {"weight": 0.8, "color": "#555555", "opacity": 0.8, "fillOpacity": 0.78}}
    layers = []
    for i, key in enumerate(FIGURES):
        values = pd.to_numeric(polys[key], errors="coerce").to_numpy(float) \
            if key in polys else np.full(len(polys), np.nan)
        cls = figure_classes(values, key, lang=lang, threshold=threshold, unit=unit)
        layer = _LinkedLayer(cls.title, {**base, "cls": f"ge-overview ge-overview-{key}",
                                         "palette": cls.colors, "colors": cls.index.tolist()},
                             data_var=data_var, geoms_key="geoms", links_key="links",
                             legend=cls.legend(), show=i == 0)
        layer.add_to(m)
        layers.append(layer.get_name())
    m.add_child(JsCall("exclusive", "[" + ", ".join(layers) + "]", ns="GEOV"))


def _add_group_layer(m, data_var: str, fields: list, rows: list, col: str, lang: str) -> None:
    """The groups' outlines, with their figures and a link to their map in the popup."""
    name = X.t(lang, "ov_bounds", col=col)
    name = name[:1].upper() + name[1:]   # a layer name, capitalised like the others
    payload = {"kind": "polygon", "cls": "ge-overview-group", "pane": "ge-proposals",
               "q": E.Q_POLY, "fields": fields, "rows": rows, "title": 0, "tooltip": 0,
               "style": {"weight": 3.5, "color": "#111111", "fill": False}}
    _LinkedLayer(name, payload, data_var=data_var, geoms_key="group_geoms",
                 links_key="group_links",
                 legend={"title": name, "shape": "line",
                         "items": [["#111111", X.t(lang, "ov_bound")]]}, show=True).add_to(m)


def _control_last(m: folium.Map) -> None:
    """Render the layer control after the layers added here (it names their variables)."""
    for key, child in list(m._children.items()):
        if isinstance(child, folium.LayerControl):
            m._children.move_to_end(key)


# -- one map per group -----------------------------------------------------------------------

def _within(points_lonlat: np.ndarray, area) -> np.ndarray:
    return shapely.contains_xy(area, points_lonlat[:, 0], points_lonlat[:, 1]) \
        if len(points_lonlat) else np.zeros(0, bool)


def _part(layers: dict, groups: pd.Series, group: str, index: dict) -> dict:
    """The make_map arguments of one group's map: its districts, the cells and schools in
    them, the catchments and service areas of those schools, the sites and the plans'
    schools inside its area; no proposals (they are boundaries of the whole area)."""
    out = dict(layers)
    out["proposals"] = None
    names = set(groups.index[groups == group])
    for key in ("cells", "schools", "districts"):
        if out.get(key) is not None and key in index:
            out[key] = out[key].iloc[index[key].get(group, [])]
    kept = out.get("schools")
    ids = set(map(str, kept.index)) if kept is not None else set()
    for key in ("catchments", "service_areas"):
        g = out.get(key)
        if g is not None:
            out[key] = g[g["school"].astype(str).isin(ids)] if "school" in g else None
    d = out.get("districts")
    area = shapely.union_all(np.asarray(d.to_crs(4326).geometry.array)) \
        if d is not None and len(d) else None
    sites = out.get("sites")
    if sites is not None:
        pts = shapely.get_coordinates(shapely.centroid(np.asarray(sites.to_crs(4326).geometry
                                                                  .array)))
        out["sites"] = sites[_within(pts, area)] if area is not None else sites.iloc[:0]
    ps = out.get("plan_schools")
    if ps is not None and len(ps) and {"lon", "lat"} <= set(ps.columns):
        xy = ps[["lon", "lat"]].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        out["plan_schools"] = ps[_within(xy, area)] if area is not None else ps.iloc[:0]
    plans = out.get("plans")
    if plans is not None and "district" in plans:
        out["plans"] = plans[plans["district"].astype(str).isin(names)]
    return out


def _positions(layers: dict, groups: pd.Series) -> dict:
    """``{layer: {group: row positions}}`` of cells, schools and districts (one pass each)."""
    out = {}
    districts = layers.get("districts")
    for key in ("cells", "schools", "districts"):
        g = layers.get(key)
        if g is None:
            continue
        if "district" in g:
            where = g["district"].astype(str)
        elif key == "schools" and districts is not None:
            from geoequity.io.districts import district_of

            where = district_of(g, districts).astype(str)
        else:
            continue
        codes = where.map(groups).to_numpy()
        out[key] = pd.Series(np.arange(len(g))).groupby(codes, sort=False).indices
    return out


class PendingMapSet:
    """An overview and its folder of county maps drawn to temporary paths;
    :meth:`commit` puts them in place together (see the module notes)."""

    def __init__(self, overview: PendingFile, stage: Path):
        self.overview = overview
        self.stage = stage
        self.folder = map_folder(overview.target)
        self.files: dict[str, str] = {}

    @property
    def path(self) -> Path:
        """Where to draw the overview."""
        return self.overview.path

    def commit(self) -> Path:
        folder = self.folder
        write_text(self.stage / MANIFEST, json.dumps(
            {"overview": self.overview.target.name, "maps": self.files}, indent=2,
            ensure_ascii=False))
        trash = None
        if folder.is_dir() and not folder.is_symlink():
            ours = _listed(folder)
            for entry in os.scandir(folder):   # the user's own files stay in the folder
                if entry.name not in ours and entry.name != MANIFEST and not (
                        self.stage / entry.name).exists():
                    _carry(Path(entry.path), self.stage / entry.name)
            trash = folder.parent / (f".{folder.name}.~gq-{HOST_TAG}-{os.getpid()}-"
                                     f"{uuid.uuid4().hex[:8]}.old.maps")
            os.rename(folder, trash)
        try:
            os.rename(self.stage, folder)
        except OSError:
            if trash is not None:
                os.rename(trash, folder)   # the previous set stays as it was
            raise
        target = self.overview.commit()
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        return target


def _carry(src: Path, dst: Path) -> None:
    if src.is_dir() and not src.is_symlink():
        shutil.copytree(src, dst, symlinks=True, copy_function=_link_or_copy)
    else:
        _link_or_copy(src, dst)


def _link_or_copy(src, dst) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def _listed(folder: Path) -> set[str]:
    """The files a manifest in ``folder`` says geoequity wrote there."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return {str(v) for v in data.get("maps", {}).values()}
    except (OSError, ValueError, AttributeError):
        return set()


def _clean_stale_stages(parent: Path) -> None:
    """Remove staging folders killed geoequity processes of this host left in ``parent``."""
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for entry in entries:
        hit = _STAGE.match(entry.name)
        if (hit and hit["host"] == HOST_TAG and int(hit["pid"]) != os.getpid()
                and not process_alive(int(hit["pid"])) and entry.is_dir(follow_symlinks=False)):
            shutil.rmtree(entry.path, ignore_errors=True)


def check_map_folder(path) -> None:
    """Refuse (one line) a place for the county maps of the overview at ``path`` that holds
    a file, or a folder geoequity did not write (no manifest, not empty: e.g. the run's own
    output folder, or an input folder): such a folder is never replaced."""
    target = Path(path)
    folder = map_folder(target)
    if folder.exists() and not folder.is_dir():
        raise input_error(folder, "is a file where the maps per county go (a folder named "
                          "after the map)", "move that file, or give the map another name")
    if (folder.is_dir() and not (folder / MANIFEST).is_file()
            and any(True for _ in os.scandir(folder))):
        raise input_error(folder, "is a folder geoequity did not write, where the maps per "
                          f"county go (a folder named after the map {target.name})",
                          "give the map another name or folder, or move that folder")


@contextlib.contextmanager
def pending_map_set(path) -> Iterator[PendingMapSet]:
    """Yield a :class:`PendingMapSet` for the overview at ``path``: draw the overview to
    ``.path`` and the county maps into ``.stage``; ``.commit()`` puts the set in place.
    Leaving the block without committing removes what was drawn; the previous set stays."""
    target = Path(path)
    check_map_folder(target)
    folder = map_folder(target)
    with pending_path(target) as overview:
        _clean_stale_stages(target.parent)
        stage = Path(tempfile.mkdtemp(prefix=f".{folder.name}.~gq-{HOST_TAG}-{os.getpid()}-",
                                      suffix=".maps", dir=target.parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(stage, 0o777 & ~umask)   # mkdtemp makes it private; a maps folder is not
        try:
            yield PendingMapSet(overview, stage)
        finally:
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)


class StaleCountyMaps:
    """The county maps of an earlier overview at a path that now gets one map:
    :meth:`commit` removes the files its manifest lists (and the folder when then empty)."""

    def __init__(self, path):
        self.folder = map_folder(path)
        self.name = Path(path).name

    def commit(self) -> None:
        folder = self.folder
        try:
            data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("overview") != self.name:
            return None
        for name in list(_listed(folder)) + [MANIFEST]:
            with contextlib.suppress(OSError):
                if "/" not in name and os.sep not in name:
                    (folder / name).unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()   # only when nothing of the user's is left
        return None


def stale_county_maps(path) -> StaleCountyMaps:
    """What removes, once committed, the county maps an earlier overview at ``path`` had."""
    return StaleCountyMaps(path)


def _save(m: folium.Map, path: Path, final: Path, png=None) -> None:
    """``save_map`` to a temporary ``path``; a failure names the ``final`` path."""
    try:
        save_map(m, path, png=png)
    except OSError as exc:
        if exc.filename is None or Path(exc.filename).parent in (path.parent, path):
            raise OSError(exc.errno, exc.strerror or str(exc), str(final)) from None
        raise


@dataclasses.dataclass(frozen=True)
class MapSetPlan:
    """What each map of a set needs to know of the others (small and picklable: a worker
    drawing one group's map gets it): the groups in the order of their maps, their file
    names in ``folder``, their links from the overview, and the link back to it."""

    by: str
    order: tuple[str, ...]
    names: dict[str, str]
    hrefs: dict[str, str]
    back: str
    folder: Path


def plan_map_set(districts: pd.DataFrame, by: str, path) -> MapSetPlan:
    """The :class:`MapSetPlan` of the overview at ``path`` (its final path) grouping
    ``districts`` (the district table, or the districts layer, with ``district`` and ``by``)
    by ``by``; from the districts alone."""
    groups = group_of(districts, by)
    order = tuple(sorted(dict.fromkeys(groups.tolist()), key=lambda g: (g == NOT_GIVEN, g)))
    names = file_names(order)
    folder = map_folder(path)
    return MapSetPlan(by=by, order=order, names=names,
                      hrefs={g: quote(f"{folder.name}/{names[g]}") for g in order},
                      back=quote(f"../{Path(path).name}"), folder=folder)


def group_layers(layers: dict, by: str, group: str) -> dict:
    """The :func:`~geoequity.maps.make_map` arguments of ``group``'s map (by ``by``) cut from
    ``layers``: its districts, the cells and schools in them, those schools' catchments and
    service areas, the sites and the plans' schools in its area, no proposals.

    The cut keeps what is the group's and is the same whatever else ``layers`` hold: the
    whole run's layers, or only the group's cells (one partition's piece, or the pieces
    holding the group's cells, in the run's order) with the schools, catchments and districts
    of the whole run or of the group alone. ``layers["districts"]`` must carry ``by``."""
    groups = group_of(layers["districts"], by)
    return _part(layers, groups, group, _positions(layers, groups))


def _draw_part(part: dict, path: Path, final: Path, *, group: str, back: str) -> Path:
    """Draw one group's map of ``part`` (cut by :func:`_part`) to ``path``."""
    part = {**part, "title": f"{part.get('title') or 'geoequity'} \u2014 {group}"}
    m = make_map(**part)
    add_back_link(m, back, lang=part.get("lang", "en"))
    _save(m, path, final)
    return final


def draw_group_map(layers: dict, path, *, by: str, group: str, back: str,
                   final=None) -> Path:
    """Draw the map of one group of a map set (what :func:`draw_map_set` draws for it) to
    ``path``: where a worker holding the group's cells draws it.

    ``layers``: the :func:`~geoequity.maps.make_map` arguments of the run's map (title,
    basemap, language, ``fair_share``, ...), where ``cells`` may hold only the group's cells
    in the run's order (see :func:`group_layers`); ``back``: :attr:`MapSetPlan.back`;
    ``final``: the path named in errors (default ``path``), e.g. ``plan.folder /
    plan.names[group]`` when ``path`` is in the pending set's stage. The page is the one the
    whole run's layers give, byte for byte but for the element ids folium draws at random.
    """
    path = Path(path)
    quiet = is_quiet()
    set_quiet(True)   # save_map would name the temporary file
    try:
        return _draw_part(group_layers(layers, by, group), path,
                          Path(final) if final is not None else path, group=group, back=back)
    finally:
        set_quiet(quiet)


def draw_piece_maps(piece: gpd.GeoDataFrame, layers: dict, plan: MapSetPlan,
                    stage) -> list[str]:
    """Draw, into ``stage`` (the pending set's folder), the map of every group whose cells are
    all in ``piece`` (a partition's core cells, in the run's order): what a worker does with
    the piece it holds (``KeptCells.each(draw_piece_maps, layers, plan, stage)``), and
    all there is to draw when the partition is the grouping (``partition = "county"`` and
    ``maps_by = "county"``). ``layers`` as for :func:`draw_group_map` (without cells); a
    group is whole in the piece when it holds as many of its cells as the districts'
    ``cells`` column (the district table's) adds up to. Returns the groups drawn, in the
    plan's order; the others (a group with no cells, or whose cells lie in several pieces)
    are left to :func:`draw_group_map` with their cells put together."""
    districts = layers["districts"]
    groups = group_of(districts, plan.by)
    count = pd.to_numeric(districts["cells"], errors="coerce").fillna(0).to_numpy()
    total = pd.Series(count).groupby(
        groups.reindex(districts["district"].astype(str)).to_numpy()).sum()
    held = piece["district"].astype(str).map(groups).value_counts()
    drawn = []
    for g in plan.order:
        if held.get(g, 0) > 0 and held[g] == total.get(g):
            draw_group_map({**layers, "cells": piece}, Path(stage) / plan.names[g],
                           by=plan.by, group=g, back=plan.back,
                           final=plan.folder / plan.names[g])
            drawn.append(g)
    return drawn


def draw_overview(pending: PendingMapSet, layers: dict, plan: MapSetPlan, *, threshold=None,
                  png=None) -> Path:
    """Draw the overview of ``plan``'s set to ``pending.path`` from the districts alone:
    ``layers["districts"]`` (with ``district``, the ``districts.csv`` columns and the
    grouping column) and the map's settings in ``layers`` (title, lang, tiles, tiles_key,
    osm_attribution, cost_unit); no cells, schools or catchments are needed."""
    m = overview_map(layers["districts"], plan.by, plan.hrefs,
                     title=layers.get("title") or "geoequity", lang=layers.get("lang", "en"),
                     tiles=layers.get("tiles", "none"), tiles_key=layers.get("tiles_key"),
                     osm_attribution=bool(layers.get("osm_attribution")),
                     cost_unit=layers.get("cost_unit", "m"), threshold=threshold)
    _save(m, pending.path, pending.overview.target, png=png)
    return pending.overview.target


def set_plan(pending: PendingMapSet, layers: dict, by: str) -> tuple[MapSetPlan, pd.Series]:
    """The :class:`MapSetPlan` of the set ``pending`` grouping ``layers["districts"]`` by
    ``by`` (refused, in one line, without districts or without that column), and the group
    of each district (:func:`group_of`)."""
    districts = layers.get("districts")
    if districts is None or not len(districts):
        raise input_error("maps_by", "a map per district or county needs the districts",
                          "add [districts] to the scenario, or drop maps_by")
    check_maps_by(by, list(districts.columns), source="maps_by")
    return plan_map_set(districts, by, pending.overview.target), group_of(districts, by)


def draw_map_set(pending: PendingMapSet, layers: dict, *, by: str, threshold=None,
                 png=None) -> list[Path]:
    """Draw the overview and one map per group into ``pending`` (nothing is committed here).

    ``layers``: the :func:`~geoequity.maps.make_map` arguments of the whole area's map, with
    ``districts`` holding ``district``, the ``districts.csv`` columns and ``by``. Returns the
    final paths of the county maps (sorted as drawn). The same steps, spread over processes:
    :func:`plan_map_set`, :func:`draw_group_map` per group (where its cells are),
    :func:`draw_overview`.
    """
    plan, groups = set_plan(pending, layers, by)
    index = _positions(layers, groups)   # one pass over the cells for every group
    quiet = is_quiet()
    drawn = []
    with step(f"drawing {len(plan.order):,} maps by {by} and the overview"):
        set_quiet(True)   # save_map would name the temporary files
        try:
            for g in plan.order:
                drawn.append(_draw_part(_part(layers, groups, g, index),
                                        pending.stage / plan.names[g],
                                        plan.folder / plan.names[g], group=g, back=plan.back))
                pending.files[g] = plan.names[g]
            draw_overview(pending, layers, plan, threshold=threshold, png=png)
        finally:
            set_quiet(quiet)
    info(f"  {len(plan.order):,} maps by {by} in {plan.folder}")
    return drawn
