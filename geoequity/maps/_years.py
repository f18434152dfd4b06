"""The year switch of a run with ``[forecast]``: cells coloured by any year of the horizon.

Two layers ("Children by year", "Seat gap by year"), hidden at first, are drawn by
``GE.vector`` from JSON payloads that carry every year's class colours and values; a small
control (a slider with the year, and step buttons) recolours them in place (``setStyle``) and
swaps the popup rows, so the file stays one offline page. Children classes are fixed over the
years (quantile breaks of every year's values together), so a colour means the same number in
every year; the seat gap is each year's 2SFCA access over the *base year's* seats per child (1 =
the base year's fair share). Moving the slider shows the seat-gap layer when no year layer is
on. The plans' layers (:mod:`geoequity.maps._plans`) register with the same switch
(:func:`year_script`, :func:`year_control`: one script, one control per map).

Data enter the page only through :func:`geoequity.maps._encode.to_json` in the macros below;
the JavaScript is constant text.
"""

from __future__ import annotations

import html

import folium
import geopandas as gpd
import numpy as np
from folium.template import Template

from geoequity._progress import info
from geoequity.maps import _classify as C
from geoequity.maps import _encode as E
from geoequity.maps import _text as X
from geoequity.maps._safe import SafeMacro

#: Above this many cells the year layers are left out (the page would grow too large).
MAX_YEAR_CELLS = 60_000

_JS = """
window.GEyear = window.GEyear || (function () {
  var reg = [], state = { years: [], i: 0, label: null, input: null };
  function apply(map, i) {
    state.i = i;
    reg.forEach(function (r) {
      var d = r.d;
      d.colors = d.byYear[i];
      for (var k = 0; k < r.rows.length; k++) {
        r.rows[k] = [d.ids[k], state.years[i]].concat(
          d.values.map(function (v) { return v[i][k]; }));
      }
      r.layer.eachLayer(function (l) {
        if (l.setStyle) l.setStyle({ fillColor: d.palette[d.colors[l._geRow]] });
      });
    });
    if (state.label) state.label.textContent = String(state.years[i]);
    if (state.input) state.input.value = String(i);
    var shown = reg.some(function (r) { return map.hasLayer(r.layer); });
    if (!shown && reg.length && state.touched) {
      // the last layer that asks to be shown (the seat gap), else the first (a plan)
      var auto = reg.filter(function (r) { return !r.d.noAuto; });
      map.addLayer((auto.length ? auto[auto.length - 1] : reg[0]).layer);
    }
    document.body.setAttribute("data-ge-year", String(state.years[i]));
  }
  return {
    register: function (map, layer, d) {
      reg.push({ layer: layer, d: d, rows: d.rows });
    },
    control: function (map, years, start, text) {
      state.years = years;
      var ctl = L.control({ position: "topleft" });
      ctl.onAdd = function () {
        var box = L.DomUtil.create("div", "ge-year leaflet-control leaflet-bar");
        box.style.background = "#fff"; box.style.padding = "4px 8px";
        box.style.font = "13px sans-serif";
        var title = L.DomUtil.create("div", "ge-year-title", box);
        title.textContent = text.year + " ";
        var label = L.DomUtil.create("b", "ge-year-label", title);
        var prev = L.DomUtil.create("button", "ge-year-prev", box);
        prev.type = "button"; prev.textContent = "\\u25c0"; prev.title = text.prev;
        var input = L.DomUtil.create("input", "ge-year-input", box);
        input.type = "range"; input.min = "0"; input.step = "1";
        input.max = String(years.length - 1);
        input.style.width = "140px"; input.style.verticalAlign = "middle";
        var next = L.DomUtil.create("button", "ge-year-next", box);
        next.type = "button"; next.textContent = "\\u25b6"; next.title = text.next;
        state.label = label; state.input = input;
        function go(i) {
          state.touched = true;
          apply(map, Math.max(0, Math.min(years.length - 1, i)));
        }
        L.DomEvent.on(input, "input change", function () { go(parseInt(input.value, 10)); });
        L.DomEvent.on(prev, "click", function () { go(state.i - 1); });
        L.DomEvent.on(next, "click", function () { go(state.i + 1); });
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        return box;
      };
      ctl.addTo(map);
      apply(map, start);
    },
    show: function (i) { apply(GE.map, i); }
  };
})();
"""


class _YearScript(SafeMacro):
    """The constant year-switch JavaScript (no data)."""

    _template = Template("""
{% macro script(this, kwargs) %}
{{ this.code }}
{% endmacro %}
""")

    def __init__(self):
        super().__init__()
        self._name = "GeoequityYearScript"
        self.code = _JS


class JsonVar(SafeMacro):
    """``var <var_name> = <payload as script-safe JSON>;``: data several layers share, once
    (the year layers' geometry, ids, values and popup rows; the plan layers' districts).

    ``var_name`` is made by geoequity from the map's own name, never from data."""

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.var_name }} = {{ this.payload }};
{% endmacro %}
""")

    def __init__(self, var_name: str, payload):
        super().__init__()
        self._name = "GeoequityJsonVar"
        self.var_name = var_name
        self.payload = E.to_json(payload)


class _YearLayer(folium.map.Layer, SafeMacro):
    """A cell layer whose colours and popups follow the year control."""

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }}_d = Object.assign({{ this.payload }}, {
    ids: {{ this.data_var }}.ids, values: {{ this.data_var }}.values,
    rows: {{ this.data_var }}.rows });
var {{ this.get_name() }} = GE.vector({{ this._parent.get_name() }}, {{ this.get_name() }}_d,
    {{ this.data_var }}.geoms);
GE.legend({{ this._parent.get_name() }}, {{ this.get_name() }}, {{ this.legend }});
GEyear.register({{ this._parent.get_name() }}, {{ this.get_name() }},
    {{ this.get_name() }}_d);
{% endmacro %}
""")

    def __init__(self, name: str, payload: dict, legend: dict, data_var: str):
        super().__init__(name=html.escape(name), overlay=True, control=True, show=False)
        self._name = "GeoequityYearLayer"
        self.payload = E.to_json({**payload, "lazy": True})
        self.legend = E.to_json(legend)
        self.data_var = data_var


class _YearControl(SafeMacro):
    _template = Template("""
{% macro script(this, kwargs) %}
GEyear.control({{ this._parent.get_name() }}, {{ this.years }}, 0, {{ this.text }});
{% endmacro %}
""")

    def __init__(self, years: list[int], text: dict):
        super().__init__()
        self._name = "GeoequityYearControl"
        self.years = E.to_json([int(y) for y in years])
        self.text = E.to_json(text)


def year_values(a: np.ndarray) -> list:
    """Per-year value lists, 4 significant figures, NaN as null."""
    out = []
    for row in a:
        r = np.where(np.isfinite(row), row, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            mag = np.floor(np.log10(np.where((r == 0) | ~np.isfinite(r), 1.0, np.abs(r))))
        v = np.round(r * 10.0 ** (3 - mag)) / 10.0 ** (3 - mag)
        out.append([None if x != x else x for x in v.tolist()])   # NaN -> null
    return out


def _per_cell(frame, index) -> np.ndarray:
    """``frame`` (cells x years) in the order of ``index``, as years x cells.

    Ids read back from files may differ in type from the drawn layer's (``"7"`` against
    ``7``): when no id matches as is, they are matched as text."""
    got = frame.reindex(index)
    if len(frame) and got.isna().all(axis=None) and not frame.isna().all(axis=None):
        got = frame.set_axis(frame.index.astype(str)).reindex(index.astype(str))
    return got.to_numpy(float).T


def add_year_layers(m: folium.Map, cells: gpd.GeoDataFrame, yearly, *,
                    lang: str = "en") -> None:
    """Add the year layers and the year control to ``m`` (words from the map's ``lang``).

    ``cells``: the map's cell layer in EPSG:4326 (as drawn), indexed by cell id; ``yearly``:
    :class:`geoequity.yearly.YearlyResults` (``children``, ``housing``, ``gap``: cells x years).
    """
    n = len(cells)
    if n == 0:
        return
    if n > MAX_YEAR_CELLS:
        info(f"map: {n:,} cells: the year switch is left out (over {MAX_YEAR_CELLS:,}); "
             "cells_by_year.parquet holds every year")
        return
    years = [int(y) for y in yearly.children.columns]
    kids = _per_cell(yearly.children, cells.index)      # years x cells
    house = _per_cell(yearly.housing, cells.index)
    gap = _per_cell(yearly.gap, cells.index)
    points = bool(cells.geom_type.isin(["Point"]).all())
    if points:
        geoms = E.points(np.asarray(cells.geometry.array), q=E.Q_POLY)
    else:
        geoms = E.polygons(np.asarray(cells.geometry.array))
    ids = [E.json_value(x) for x in cells.index.tolist()]
    T = lambda key: X.t(lang, key)  # noqa: E731
    fields = [T("f_cell"), T("f_year"), X.field_label(lang, "children"), T("f_housing"),
              T("f_gap_year")]
    values = [year_values(kids), year_values(house), year_values(gap)]
    data_var = f"{m.get_name()}_years"
    shared = {"geoms": geoms, "ids": ids, "values": values,
              "rows": [[i, years[0], *(v[0][k] for v in values)] for k, i in enumerate(ids)]}
    base = {"kind": "point" if points else "polygon", "pane": "ge-cells", "q": E.Q_POLY,
            "fields": fields, "formats": [None, "plain", None, None, None],   # the year as is
            "title": 0, "titlePrefix": T("cell_prefix"), "canvas": n > 3000,
            "style": ({"stroke": False, "fillOpacity": 0.85, "radius": 4} if points else
                      {"weight": 0.4, "color": "#777777", "opacity": 0.5,
                       "fillOpacity": 0.75})}
    # children: one set of classes for every year
    pos = kids[np.isfinite(kids) & (kids > 0)]
    breaks = C.quantile_breaks(pos, 5)
    colors = C.pick_palette(C.YLORBR5, len(breaks) + 1)
    labels = C.range_labels(breaks, float(pos.min()) if pos.size else 0.0,
                            float(pos.max()) if pos.size else 0.0)
    k_idx = C.classify(kids, breaks)
    k_idx = np.where(np.isfinite(kids) & (kids <= 0), len(colors), k_idx)
    palette = colors + ["#f7f7f7", C.NO_DATA]
    k_idx = np.where(k_idx < 0, len(palette) - 1, k_idx)
    legend = {"title": T("years_children"), "note": T("years_children_note"), "shape": "fill",
              "items": [list(x) for x in zip(palette[:-1], labels + ["0"], strict=True)
                        if x[1] != "0" or (np.isfinite(kids) & (kids <= 0)).any()]}
    gap_cls = [C.gap_classes(g, fair_share=1.0, title=T("years_gap"), note="", lang=lang)
               for g in gap]
    year_script(m)
    m.add_child(JsonVar(data_var, shared))
    _YearLayer(T("years_children"), {**base, "cls": "ge-year-cell ge-year-children",
                                    "palette": palette, "byYear": k_idx.tolist(),
                                    "colors": k_idx[0].tolist()}, legend, data_var).add_to(m)
    g0 = gap_cls[0]
    g_legend = g0.legend("circle" if points else "fill")
    g_legend["note"] = T("years_gap_note")
    _YearLayer(T("years_gap"), {**base, "cls": "ge-year-cell ge-year-gap",
                                    "palette": g0.colors,
                                    "byYear": [c.index.tolist() for c in gap_cls],
                                    "colors": g0.index.tolist()}, g_legend, data_var).add_to(m)
    year_control(m, years, lang=lang)


def year_script(m: folium.Map) -> None:
    """Add the year-switch JavaScript to ``m`` once (before any layer registers with it)."""
    if not getattr(m, "_geoequity_year_script", False):
        m.add_child(_YearScript())
        m._geoequity_year_script = True


def year_control(m: folium.Map, years: list[int], *, lang: str = "en") -> list[int]:
    """Add the year control to ``m`` once; return the years it switches between (those of
    the first call: the layers added later colour themselves by these years)."""
    have = getattr(m, "_geoequity_year_control", None)
    if have is not None:
        return have
    years = [int(y) for y in years]
    m.add_child(_YearControl(years, {"year": X.t(lang, "year"), "prev": X.t(lang, "prev_year"),
                                     "next": X.t(lang, "next_year")}))
    m._geoequity_year_control = years
    return years
