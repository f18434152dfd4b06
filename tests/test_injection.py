"""Text from data files reaches maps and reports only as data, never as template source.

branca compiled every rendered macro a second time as a Jinja2 template, so a school named
``{{cycler.__init__.__globals__.os.popen(...).read()}}`` ran a shell command when a map was
written (issue #17, item 1). These tests put template payloads in every field that reaches a
map or a report, through the API, ``geoequity map`` and ``geoequity run``, and check that the
payload shows as its literal text, runs nothing and breaks nothing.
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path

import folium
import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geoequity._errors import GeoequityError
from geoequity.cli import main
from geoequity.maps import _encode as E
from geoequity.maps import make_map, map_html, save_map
from tests.conftest import REPO
from tests.test_maps import (CRS, X0, Y0, _catchments, _cells, _click_latlng, _districts,
                             _schools, _sites)


def _payloads(marker: Path) -> dict[str, str]:
    """Template payloads; the first would create ``marker`` if it were ever evaluated."""
    return {
        "exec": "{{cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read()}}",
        "eval": '{{ "pw" ~ "ned" }}',        # would render as: pwned
        "block": "50{%}",                      # crashed the map writer
        "var": "{{Best}}",                    # silently vanished
        "comment": "a {# note #} b",           # would lose its middle
        "stmt": "{% for x in range(3) %}row{% endfor %}",
    }


def _hostile_layers(p: dict[str, str]):
    """Every layer, with a payload in names, ids, attribute values and column names."""
    schools = _schools()
    schools["name"] = [p["exec"], p["eval"], p["block"]]
    schools[p["var"]] = ["x", "y", "z"]                 # a column name
    schools["note"] = [p["comment"], p["stmt"], "ok"]  # an attribute value
    schools["school"] = ["s1", p["var"], "s3"]          # an id
    schools = schools.set_index(pd.Index(schools["school"], name="school"))
    cells = _cells()
    cells["district"] = [p["eval"] if k < 50 else p["stmt"] for k in range(100)]
    districts = _districts(names=(p["exec"], p["var"]))
    catchments = _catchments()
    catchments["school"] = ["s1", p["var"], p["block"]]
    sites = _sites()
    sites["site"] = [p["eval"]]
    return dict(schools=schools, cells=cells, districts=districts, catchments=catchments,
                service_areas=catchments, sites=sites, proposals={p["stmt"]: _districts()},
                title=p["exec"], subtitle=p["block"], plans=_hostile_plans(p))


def _hostile_plans(p: dict[str, str]) -> pd.DataFrame:
    """Plans by year (plans_by_year.csv) with payloads as plan and district names."""
    return pd.DataFrame({"plan": [p["comment"]] * 2 + [p["var"]] * 2,
                         "district": [p["exec"], p["var"]] * 2, "year": 2030,
                         "seats_per_child": [0.5, 1.0, 1.5, 2.0], "children": 100.0,
                         "seats": [50.0, 100.0, 150.0, 200.0],
                         "shortfall": [50.0, 0.0, -50.0, -100.0]})


def _assert_literal(text: str, payloads: dict[str, str], marker: Path) -> None:
    assert not marker.exists(), "a template payload ran a command"
    assert "pwned" not in text and "rowrowrow" not in text
    for value in payloads.values():
        assert E.to_json(value)[1:-1] in text, value   # the payload, as JSON string text


def test_payloads_in_every_map_field_stay_text(tmp_path):
    marker = tmp_path / "ran"
    p = _payloads(marker)
    m = make_map(**_hostile_layers(p), tiles=f"https://t.example/{{z}}/{{x}}/{{y}}.png?{p['var']}",
                 tiles_attribution=p["eval"])
    text = map_html(m)
    _assert_literal(text, p, marker)
    assert f"<title>{html.escape(p['exec'])}</title>" in text
    # the basemap URL and credit are user text too
    assert "{{Best}}" in text.split("L.tileLayer(")[1].split(")")[0]


def test_payloads_in_a_large_grid_stay_text(tmp_path):
    # above max_vector_cells the cells are an image with a lookup table: other code path
    marker = tmp_path / "ran"
    p = _payloads(marker)
    cells = _cells()
    cells["district"] = [p["exec"]] * 50 + [p["var"]] * 50
    cells["cell"] = [p["block"] + str(k) for k in range(100)]
    cells.index = pd.Index(cells["cell"], name="cell")
    text = map_html(make_map(cells=cells, max_vector_cells=10, title=p["var"]))
    assert not marker.exists() and "pwned" not in text
    for value in (p["exec"], p["var"], p["block"] + "7"):
        assert E.to_json(value)[1:-1] in text


def test_a_map_with_an_element_that_compiles_text_is_refused(tmp_path):
    # a folium element outside geoequity's safe set would template its rendered output:
    # saving refuses the map rather than trusting it
    m = make_map(schools=_schools())
    folium.Marker([45.0, 15.0], tooltip="{{Best}}").add_to(m)
    with pytest.raises(GeoequityError, match="template"):
        map_html(m)
    assert not (tmp_path / "m.html").exists()
    with pytest.raises(GeoequityError):
        save_map(m, tmp_path / "m.html")
    assert not (tmp_path / "m.html").exists()


def test_a_map_saves_again_after_a_notebook_showed_it(tmp_path):
    # README: "m  # shows in a notebook" then save_map(m, ...). Rendering once added folium's
    # "<layer>.addTo(<map>)" elements, and the second rendering refused the map as unsafe.
    m = make_map(schools=_schools(), title="Example")
    shown = m._repr_html_()
    assert "Example" in html.unescape(shown)
    save_map(m, tmp_path / "a.html")
    save_map(m, tmp_path / "b.html")
    assert "Example" in (tmp_path / "b.html").read_text(encoding="utf-8")


def test_a_notebook_or_folium_save_refuses_an_element_that_compiles_text(tmp_path):
    # the refusal holds for every way of rendering, not only save_map: the payload would
    # otherwise run while the notebook shows the map or Map.save writes it
    marker = tmp_path / "ran"
    m = make_map(schools=_schools())
    folium.Marker([45.0, 15.0], popup=_payloads(marker)["exec"]).add_to(m)
    with pytest.raises(GeoequityError, match="template"):
        m._repr_html_()
    with pytest.raises(GeoequityError, match="template"):
        m.save(str(tmp_path / "m.html"))
    assert not marker.exists()


@pytest.mark.browser
def test_payloads_show_as_literal_text_in_the_browser(offline_page, tmp_path):
    marker = tmp_path / "ran"
    p = _payloads(marker)
    path = save_map(make_map(**_hostile_layers(p)), tmp_path / "hostile.html",
                    png=tmp_path / "hostile.png")
    assert not marker.exists()
    page = offline_page
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ge-ready]", timeout=30_000)
    assert page.title() == p["exec"]
    assert page.inner_text(".ge-title-main") == p["exec"]
    assert page.inner_text(".ge-title-sub") == p["block"]
    control = page.inner_text(".leaflet-control-layers")
    assert f"Proposal: {p['stmt']}" in control
    assert f"Seats per child: {p['comment']}" in control   # a plan's layer
    assert f"Seats per child: {p['var']}" in control
    # a school's popup: its name as the title, its attributes, all exactly as written
    s2 = _schools().to_crs(4326).loc["s2"].geometry
    text = _click_latlng(page, s2.y, s2.x)
    lines = text.splitlines()
    assert lines[0] == p["eval"]
    rows = dict(line.split("\t") for line in lines[1:])
    assert rows["school"] == p["var"] and rows[p["var"]] == "y" and rows["note"] == p["stmt"]
    assert dialogs == [] and page.console_errors == [] and page.blocked_requests == []


def _demo_copy(tmp_path: Path, p: dict[str, str]) -> Path:
    """The demo scenario and data in tmp_path, with payloads in names, title and proposal."""
    src = REPO / "data"
    shutil.copytree(src / "demo", tmp_path / "demo")
    schools = pd.read_csv(tmp_path / "demo" / "schools.csv", dtype={"school_id": str})
    schools.loc[0, "name"] = p["exec"]
    schools.loc[1, "name"] = p["eval"]
    schools.loc[2, "name"] = p["block"]
    schools.to_csv(tmp_path / "demo" / "schools.csv", index=False)
    districts = gpd.read_file(tmp_path / "demo" / "districts.geojson")
    first = districts["district"].iloc[0]
    districts.loc[0, "district"] = p["var"]
    districts.to_file(tmp_path / "demo" / "districts.geojson", driver="GeoJSON")
    plan = districts.copy()
    plan.to_file(tmp_path / "demo" / "plan.geojson", driver="GeoJSON")
    toml = (src / "demo.toml").read_text(encoding="utf-8")
    toml = toml.replace('title = "Demo County (synthetic): can every primary-school child '
                        'reach a seat?"', f"title = {_toml_str(p['stmt'])}")
    toml = toml.replace('folder = "../out/demo"', 'folder = "out"')
    toml = toml.replace('map = "../maps/demo.html"', 'map = "map.html"')
    toml += (f'\n[[proposals]]\nname = {_toml_str(p["comment"])}\npath = "demo/plan.geojson"\n'
             'name_col = "district"\n')
    assert first  # the demo has named districts
    (tmp_path / "scenario.toml").write_text(toml, encoding="utf-8")
    return tmp_path / "scenario.toml"


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.mark.slow
def test_run_and_map_commands_keep_payloads_literal(tmp_path):
    marker = tmp_path / "ran"
    p = _payloads(marker)
    scenario = _demo_copy(tmp_path, p)
    assert main(["-q", "run", str(scenario)]) == 0
    assert not marker.exists()
    page = (tmp_path / "map.html").read_text(encoding="utf-8")
    assert "pwned" not in page and "rowrowrow" not in page
    for value in (p["exec"], p["eval"], p["block"], p["var"], p["stmt"], p["comment"]):
        assert E.to_json(value)[1:-1] in page, value
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "pwned" not in report and "rowrowrow" not in report
    assert html.escape(p["stmt"], quote=False) in report     # the title
    assert html.escape(p["var"], quote=False) in report      # a district name
    # redrawing from the run folder and drawing explicit layers: the same
    assert main(["-q", "map", str(tmp_path / "out"), "-o", str(tmp_path / "again.html")]) == 0
    again = (tmp_path / "again.html").read_text(encoding="utf-8")
    assert E.to_json(p["exec"])[1:-1] in again and "pwned" not in again
    assert main(["-q", "map", "--schools", str(tmp_path / "demo" / "schools.csv"),
                 "--school-id", "school_id", "--school-name", "name", "--school-seats", "seats",
                 "--districts", str(tmp_path / "demo" / "districts.geojson"),
                 "--district-name", "district", "--title", p["var"],
                 "-o", str(tmp_path / "explicit.html")]) == 0
    explicit = (tmp_path / "explicit.html").read_text(encoding="utf-8")
    assert not marker.exists() and "pwned" not in explicit
    assert E.to_json(p["eval"])[1:-1] in explicit
    assert f"<title>{html.escape(p['var'])}</title>" in explicit


def test_report_in_both_languages_keeps_payloads_literal(tmp_path):
    from geoequity.report import write_report

    marker = tmp_path / "ran"
    p = _payloads(marker)
    cells = gpd.GeoDataFrame({"children": [10.0, 20.0, 30.0, 40.0],
                              "access": [0.5, 1.0, 1.5, None],
                              "district": [p["exec"], p["exec"], p["var"], p["var"]]},
                             geometry=shapely.points([X0, X0 + 100, X0 + 200, X0 + 300],
                                                     [Y0] * 4), crs=CRS)
    from geoequity.plan_compare import PlanTables, summarise

    by_year = _hostile_plans(p)
    plans = PlanTables(by_year, summarise(by_year))
    for lang in ("en", "zh"):
        write_report(tmp_path / f"report_{lang}.html", cells=cells, title=p["stmt"], lang=lang,
                     notes=[p["eval"]], plans=plans)
        text = (tmp_path / f"report_{lang}.html").read_text(encoding="utf-8")
        assert not marker.exists() and "pwned" not in text and "rowrowrow" not in text
        assert 'id="plans"' in text
        for value in (p["stmt"], p["exec"], p["eval"], p["comment"], p["var"]):
            assert html.escape(value) in text or html.escape(value, quote=False) in text
