"""The plans' layers of a run with ``[[plans]]``: districts coloured by seats per child, one
switchable layer per plan, recoloured by the year switch of :mod:`geoequity.maps._years`.

Each layer ("Seats per child: <plan>"), hidden at first, carries every year's class colours
and popup values of its plan (``plans_by_year.csv``: ``seats_per_child``, ``children``,
``seats``, ``shortfall`` per district and year); the districts' geometry is shared by all
plans, once. The classes are fixed around one seat per child (the breaks of the seat gap:
0.5, 0.8, 0.95, 1.05, 1.25, 2), so a colour means the same in every plan and year. When the
map has the forecast's year switch, the plan layers follow its years (a year a plan lacks is
drawn as no data); otherwise the plans' years make the switch.

Data enter the page only through :func:`geoequity.maps._encode.to_json`; plan names only as
JSON values and as escaped layer names, never as template source (maps/_safe.py).
"""

from __future__ import annotations

import html

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.template import Template

from geoequity._progress import info
from geoequity.maps import _classify as C
from geoequity.maps import _encode as E
from geoequity.maps import _text as X
from geoequity.maps._safe import SafeMacro
from geoequity.maps._years import JsonVar, year_control, year_script, year_values

__all__ = ["add_plan_layers", "seats_per_child_classes"]

_ALL = "(all)"
#: the data value of the current state's plan (geoequity.plans.CURRENT); shown translated
_CURRENT = "(current)"


def _plan_label(plan, lang: str = "en") -> str:
    """A plan's name as the map shows it: ``(current)`` in the map's language."""
    return X.t(lang, "plan_current") if str(plan) == _CURRENT else str(plan)


class _PlanLayer(folium.map.Layer, SafeMacro):
    """One plan's districts, coloured by seats per child in the year of the year control."""

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }}_d = {{ this.payload }};
var {{ this.get_name() }} = GE.vector({{ this._parent.get_name() }}, {{ this.get_name() }}_d,
    {{ this.geoms_var }});
GE.legend({{ this._parent.get_name() }}, {{ this.get_name() }}, {{ this.legend }});
{%- if this.switch %}
GEyear.register({{ this._parent.get_name() }}, {{ this.get_name() }},
    {{ this.get_name() }}_d);
{%- endif %}
{%- if this.markers %}
var {{ this.get_name() }}_md = {{ this.markers }};
var {{ this.get_name() }}_m = {{ this.get_name() }}_md.map(function (d) {
  return GE.vector({{ this._parent.get_name() }}, d);
});
// the legend of the plan's schools shows while one of them does
var {{ this.get_name() }}_ml = L.layerGroup();
GE.legend({{ this._parent.get_name() }}, {{ this.get_name() }}_ml, {{ this.marker_legend }});
// a school shows with its plan, from the year of its change on (the year switch's year)
function {{ this.get_name() }}_show() {
  var map = {{ this._parent.get_name() }}, on = map.hasLayer({{ this.get_name() }});
  var y = parseInt(document.body.getAttribute("data-ge-year"), 10), any = false;
  {{ this.get_name() }}_m.forEach(function (g, k) {
    var from = {{ this.get_name() }}_md[k].from;
    var show = on && (from == null || isNaN(y) || y >= from);   // null: no year given
    if (show) { any = true; if (!map.hasLayer(g)) map.addLayer(g); }
    else if (map.hasLayer(g)) map.removeLayer(g);
  });
  if (any !== map.hasLayer({{ this.get_name() }}_ml)) {
    if (any) map.addLayer({{ this.get_name() }}_ml);
    else map.removeLayer({{ this.get_name() }}_ml);
  }
}
{{ this.get_name() }}.on("add remove", {{ this.get_name() }}_show);
new MutationObserver({{ this.get_name() }}_show).observe(document.body,
    { attributes: true, attributeFilter: ["data-ge-year"] });
{%- endif %}
{% endmacro %}
""")

    def __init__(self, name: str, payload: dict, legend: dict, geoms_var: str, switch: bool,
                 markers: list | None = None, marker_legend: dict | None = None):
        super().__init__(name=html.escape(name), overlay=True, control=True, show=False)
        self._name = "GeoequityPlanLayer"
        self.payload = E.to_json({**payload, "lazy": True, "noAuto": True})
        self.legend = E.to_json(legend)
        self.geoms_var = geoms_var
        self.switch = switch
        # the plan's schools: one marker layer each, shown with the plan from its year on
        self.markers = E.to_json(markers) if markers else ""
        self.marker_legend = E.to_json(marker_legend or {})


def seats_per_child_classes(values, *, lang: str = "en") -> tuple[np.ndarray, list, list]:
    """(class index, colours, labels) of seats per child: seven diverging classes around
    one seat per child, the last colour for no data (a district without children)."""
    breaks = [f * 1.0 for f in C.GAP_FACTORS]
    idx = C.classify(values, breaks)
    b = [C.fmt_number(x) for x in breaks]
    labels = [f"< {b[0]}", f"{b[0]} \u2013 < {b[1]}", f"{b[1]} \u2013 < {b[2]}",
              f"{b[2]} \u2013 < {b[3]} ({X.t(lang, 'plan_fair')})", f"{b[3]} \u2013 < {b[4]}",
              f"{b[4]} \u2013 < {b[5]}", f"\u2265 {b[5]}"]
    colors = list(C.RDBU7)
    idx = np.where(idx < 0, len(colors), idx)
    return idx, colors + [C.NO_DATA], labels + [X.t(lang, "no_data")]


def _grid(table: pd.DataFrame, col: str, ids: list, years: list) -> np.ndarray:
    """``col`` as years x districts (NaN where a plan has no row)."""
    wide = table.pivot_table(index="year", columns="district", values=col, aggfunc="first")
    return wide.reindex(index=years, columns=ids).to_numpy(float)


#: the marker of each action: its badge text and colour (the CSS class ge-plan-<action>)
_ACTIONS = {"open": ("\u2605", "#1a9850"), "expand": ("+", "#1b7837"),
            "close": ("\u00d7", "#777777")}


def _plan_markers(schools: pd.DataFrame | None, plan: str, lang: str) -> list:
    """The GE.vector payloads (one per school, action order) of ``plan``'s rows of
    ``plans_schools.csv``; ``from``: the year of the change (the marker shows from then on)."""
    if schools is None or not len(schools):
        return []
    rows = schools[schools["plan"].astype(str) == str(plan)]
    title = _plan_label(plan, lang)
    T = lambda key, **kw: X.t(lang, key, **kw)  # noqa: E731
    fields = [T("f_name"), T("f_action"), T("f_year"), T("f_seats_added")]
    out = []
    for action, (label, _) in _ACTIONS.items():
        part = rows[rows["action"].astype(str) == action]
        lon = pd.to_numeric(part["lon"], errors="coerce").to_numpy(float)
        lat = pd.to_numeric(part["lat"], errors="coerce").to_numpy(float)
        ok = np.isfinite(lon) & np.isfinite(lat)
        part = part[ok]
        if not len(part):
            continue
        name = part["name"] if "name" in part.columns else part.get("school", part["plan"])
        year = pd.to_numeric(part["year"], errors="coerce") if "year" in part else None
        seats = pd.to_numeric(part["seats"], errors="coerce") if "seats" in part else None
        data = [[str(n), T(f"act_{action}"),
                 None if year is None or pd.isna(year.iloc[k]) else int(year.iloc[k]),
                 None if seats is None or pd.isna(seats.iloc[k]) else float(seats.iloc[k])]
                for k, n in enumerate(name.tolist())]
        geoms = E.points(shapely.points(lon[ok], lat[ok]))
        for k, row in enumerate(data):
            out.append({"kind": "site", "cls": f"ge-site ge-plan-school ge-plan-{action}",
                        "pane": "ge-sites", "q": E.Q_POINT, "style": {},
                        "geoms": geoms[k:k + 1], "labels": [label], "fields": fields,
                        "rows": [row], "title": 0, "tooltip": 0, "titlePrefix": f"{title}:",
                        "formats": [None, None, "plain", None], "lazy": True, "from": row[2]})
    return out


def add_plan_layers(m: folium.Map, districts: gpd.GeoDataFrame, by_year: pd.DataFrame, *,
                    name_col: str = "district", lang: str = "en",
                    schools: pd.DataFrame | None = None) -> None:
    """Add one layer per plan of ``by_year`` (``plans_by_year.csv``) to ``m``.

    ``districts``: the map's district polygons in EPSG:4326 (as drawn) with ``name_col``.
    ``schools``: ``plans_schools.csv`` (``plan``, ``action``, ``name``, ``year``, ``seats``,
    ``lon``, ``lat``): each plan's layer also shows the schools it opens (star), expands (plus)
    and closes (cross), with a popup (name, change, year, seats added).
    """
    need = {"plan", "district", "year", "seats_per_child"}
    if not need <= set(by_year.columns) or not len(by_year):
        info("map: the plans table has no " + ", ".join(sorted(need - set(by_year.columns)))
             + "; the plan layers are left out")
        return
    t = by_year[by_year["district"].astype(str) != _ALL].copy()
    t["district"] = t["district"].astype(str)
    t["year"] = pd.to_numeric(t["year"], errors="coerce")
    t = t[t["year"].notna()]
    if not len(t):
        info("map: the plans table gives no year; the plan layers are left out")
        return
    t["year"] = t["year"].astype(int)
    polys = districts[districts.geom_type.isin(["Polygon", "MultiPolygon"])]
    ids = [str(x) for x in polys[name_col].tolist()]
    year_script(m)
    years = year_control(m, sorted(t["year"].unique().tolist()), lang=lang)
    T = lambda key, **kw: X.t(lang, key, **kw)  # noqa: E731
    geoms_var = f"{m.get_name()}_plan_geoms"
    m.add_child(JsonVar(geoms_var, E.polygons(shapely.simplify(
        np.asarray(polys.geometry.array), 1e-5, preserve_topology=True))))
    fields = [X.t(lang, "district"), T("f_year"), T("f_spc"), X.field_label(lang, "children"),
              X.field_label(lang, "seats"), X.field_label(lang, "shortfall")]
    for i, (plan, rows) in enumerate(t.groupby("plan", sort=False)):
        spc = _grid(rows, "seats_per_child", ids, years)
        values = [year_values(spc)] + [year_values(_grid(rows, c, ids, years))
                                       if c in rows.columns else [[None] * len(ids)] * len(years)
                                       for c in ("children", "seats", "shortfall")]
        idx, colors, labels = zip(*(seats_per_child_classes(row, lang=lang) for row in spc))
        label = _plan_label(plan, lang)
        name = T("plan_layer", name=label)
        payload = {"kind": "polygon", "cls": f"ge-plan ge-plan-{i}", "pane": "ge-areas",
                   "q": E.Q_POLY,
                   "style": {"weight": 1.2, "color": "#444444", "fillOpacity": 0.7},
                   "palette": colors[0], "byYear": [year.tolist() for year in idx],
                   "colors": idx[0].tolist(), "fields": fields, "title": 0, "tooltip": 0,
                   "formats": [None, "plain", None, None, None, None],
                   "titlePrefix": f"{label}:", "ids": ids, "values": values,
                   "rows": [[d, years[0], *(v[0][k] for v in values)]
                            for k, d in enumerate(ids)]}
        used = set(np.concatenate(idx).tolist())
        legend = {"title": name, "note": T("plan_note"), "shape": "fill",
                  "items": [[c, lab] for i, (c, lab) in enumerate(zip(colors[0], labels[0]))
                            if i < len(colors[0]) - 1 or i in used]}
        markers = _plan_markers(schools, plan, lang)
        marker_legend = {"title": T("plan_schools"), "shape": "circle",
                         "items": [[_ACTIONS[a][1], f"{_ACTIONS[a][0]} {T('act_' + a)}"]
                                   for a in _ACTIONS
                                   if any(f"ge-plan-{a}" in d["cls"] for d in markers)]}
        _PlanLayer(name, payload, legend, geoms_var, switch=True, markers=markers,
                   marker_legend=marker_legend).add_to(m)
