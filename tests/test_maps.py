"""Maps: unit checks of classing/encoding, and the saved map as a person sees it in Chromium.

Expected values are hand-computed from the synthetic county below (built with shapely in a UTM
CRS) or taken from published references (the eviltransform GCJ-02 test vectors). Browser tests
open the saved file in headless Chromium with every http(s) request blocked.
"""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoequity._errors import InputError
from geoequity.maps import _classify as C
from geoequity.maps import _encode as E
from geoequity.maps import make_map, map_html, save_map

CRS = 32633  # UTM 33N, metres
X0, Y0 = 500_000.0, 5_000_000.0
XSS = "<img src=x onerror=alert(1)>"


# ---------------------------------------------------------------------------------------------
# synthetic county: 10 x 10 cells of 200 m, 3 schools, 2 districts, 1 proposed site


def _cells() -> gpd.GeoDataFrame:
    geoms, ids, children, access = [], [], [], []
    for i in range(10):
        for j in range(10):
            k = i * 10 + j
            geoms.append(shapely.box(X0 + i * 200, Y0 + j * 200, X0 + (i + 1) * 200,
                                     Y0 + (j + 1) * 200))
            ids.append(f"c{k}")
            children.append(float(k % 7 * 10))
            access.append(np.nan if k < 5 else 0.25 + 0.02 * k)
    gdf = gpd.GeoDataFrame({"cell": ids, "children": children, "access": access,
                            "district": ["A" if k < 50 else "B" for k in range(100)]},
                           geometry=geoms, crs=CRS)
    gdf["gap"] = gdf["access"] / 1.0
    gdf["nearest_cost"] = 100.0
    return gdf.set_index(pd.Index(ids, name="cell"))


def _schools() -> gpd.GeoDataFrame:
    gdf = gpd.GeoDataFrame({
        "school": ["s1", "s2", "s3"],
        "name": ["North School", XSS, "East & West"],
        "seats": [100.0, 400.0, 250.0],
        "level": ["primary", "primary", "junior"],
        "utilisation": [0.8, 1.2, 1.0],
        "teachers": [8, 30, 20],
    }, geometry=shapely.points([X0 + 300, X0 + 1000, X0 + 1700], [Y0 + 300, Y0 + 1200,
                                                                   Y0 + 1500]), crs=CRS)
    return gdf.set_index(pd.Index(gdf["school"], name="school"))


def _districts(names=("A", "B")) -> gpd.GeoDataFrame:
    gdf = gpd.GeoDataFrame({"district": list(names), "children": [1000.0, 1200.0],
                            "seats": [350.0, 400.0], "shortfall": [650.0, 800.0]},
                           geometry=[shapely.box(X0, Y0, X0 + 1000, Y0 + 2000),
                                     shapely.box(X0 + 1000, Y0, X0 + 2000, Y0 + 2000)], crs=CRS)
    return gdf.set_index(pd.Index(gdf["district"], name="district"))


def _sites() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"site": ["n1"], "rank": [1]},
                            geometry=shapely.points([X0 + 500], [Y0 + 1700]), crs=CRS)


def _catchments() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"school": ["s1", "s2", "s3"]}, geometry=[
        shapely.box(X0, Y0, X0 + 800, Y0 + 800), shapely.box(X0 + 800, Y0, X0 + 1400, Y0 + 2000),
        shapely.box(X0 + 1400, Y0, X0 + 2000, Y0 + 2000)], crs=CRS)


def _full_map(**kw):
    args = dict(schools=_schools(), cells=_cells(), districts=_districts(),
                catchments=_catchments(), service_areas=_catchments(), sites=_sites(),
                proposals={"plan <b>B</b>": _districts()}, title=f"County {XSS}")
    args.update(kw)
    return make_map(**args)


# ---------------------------------------------------------------------------------------------
# unit: classes, labels, encoding


def test_quantile_breaks_hand_computed():
    # numpy's linear quantiles of 1..10 at 0.2, 0.4, 0.6, 0.8: 1 + 9p = 2.8, 4.6, 6.4, 8.2
    b = C.quantile_breaks(np.arange(1, 11), 5)
    assert b == [2.8, 4.6, 6.4, 8.2]
    assert C.classify([1, 2.8, 5, 10, np.nan], b).tolist() == [0, 1, 2, 4, -1]
    assert C.range_labels(b, 1, 10) == ["1 \u2013 < 2.8", "2.8 \u2013 < 4.6", "4.6 \u2013 < 6.4",
                                        "6.4 \u2013 < 8.2", "8.2 \u2013 10"]
    # quantiles 1234, 1234, 5678, 5678: 1234 is the minimum (no empty class below it) and
    # 5678 rounded to 5700 would leave the data range, so it keeps 4 figures
    assert C.quantile_breaks([1234.0] * 5 + [5678.0] * 5, 5) == [5678.0]


def test_gap_classes_are_fixed_around_the_fair_share():
    cls = C.gap_classes([0.4, 0.5, 0.99, 1.05, 3.0, np.nan], fair_share=1.0, title="t", note="")
    assert cls.index.tolist() == [0, 1, 3, 4, 6, 7]
    assert cls.labels[3] == "0.95 \u2013 < 1.05 (about the fair share)"
    assert cls.labels[-1] == "no school within reach"
    # diverging: the fair-share class is a light yellow that the map background (#f4f4f2)
    # does not swallow (RdBu's near-white #f7f7f7 did: 3 units per channel apart)
    assert cls.colors[3] == "#ffffbf"
    rgb = [int(cls.colors[3][i:i + 2], 16) for i in (1, 3, 5)]
    assert max(abs(a - b) for a, b in zip(rgb, (0xf4, 0xf4, 0xf2), strict=True)) >= 40
    assert C.gap_classes([2.0], fair_share=2.0, title="t", note="").index.tolist() == [3]


def test_fmt_number():
    # the reports' rule (geoequity.report_format.number): missing as a dash, below 1e-9 as 0
    assert [C.fmt_number(x) for x in (0, 0.123456, 1.5, 12.34, 999.4, 12345.6, 4.0,
                                      float("nan"), None, 1e-12, -0.5)] == [
        "0", "0.123", "1.5", "12.3", "999", "12,346", "4", "\u2013", "\u2013", "0", "-0.5"]


def _decode_ring(flat, q):
    lat = np.cumsum(flat[0::2]) / q
    lng = np.cumsum(flat[1::2]) / q
    return list(zip(lng.tolist(), lat.tolist(), strict=True))


def test_polygon_encoding_round_trips_with_holes_and_multipolygons():
    hole = shapely.box(10.2, 45.2, 10.4, 45.4)
    poly = shapely.box(10, 45, 11, 46).difference(hole)
    multi = shapely.MultiPolygon([shapely.box(12, 45, 12.5, 45.5),
                                  shapely.box(13, 45, 13.25, 45.25)])
    enc = E.polygons([poly, multi])
    assert len(enc) == 2 and len(enc[0]) == 1 and len(enc[0][0]) == 2 and len(enc[1]) == 2
    outer = shapely.Polygon(_decode_ring(enc[0][0][0], E.Q_POLY))
    inner = shapely.Polygon(_decode_ring(enc[0][0][1], E.Q_POLY))
    assert outer.area == pytest.approx(1.0)
    assert inner.area == pytest.approx(0.04)
    assert shapely.Polygon(_decode_ring(enc[1][1][0], E.Q_POLY)).equals(
        shapely.box(13, 45, 13.25, 45.25))


def test_json_for_script_cannot_close_the_script_element():
    text = E.to_json({"name": "</script><script>alert(1)</script>", "x": float("nan")
                      if False else 1})
    assert "</" not in text and "<" not in text
    assert json.loads(text)["name"] == "</script><script>alert(1)</script>"


def test_bad_inputs_raise_input_errors():
    cells = _cells()
    with pytest.raises(InputError, match="no CRS"):
        make_map(cells=cells.set_crs(None, allow_override=True))
    with pytest.raises(InputError, match="no column 'nope'"):
        make_map(cells=cells, value_col="nope")
    with pytest.raises(InputError, match="expected a GeoDataFrame"):
        make_map(schools=pd.DataFrame({"a": [1]}))
    with pytest.raises(InputError, match="Tianditu key"):
        make_map(cells=cells, tiles="tianditu")
    with pytest.raises(InputError, match="unknown basemap"):
        make_map(cells=cells, tiles="NoSuch.Provider")


def test_saved_html_is_self_contained(tmp_path):
    out = save_map(_full_map(), tmp_path / "m.html")
    text = out.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", text)
    assert not re.search(r"<link[^>]+href=", text)
    assert "Leaflet 1.9.3" in text
    assert XSS not in text  # every data string is JSON-escaped (\u003c...)
    assert not list(tmp_path.glob(".*"))  # no temporary leftovers


def test_data_text_is_never_rewritten():
    # the map's JavaScript variable name is inserted by templates, not by text replacement
    s = _schools()
    s["name"] = ["MAP", "map_1 MAP", "GE.ready(MAP)"]
    html = map_html(make_map(schools=s, title="MAP"))
    for name in ("MAP", "map_1 MAP", "GE.ready(MAP)"):
        assert E.to_json(name) in html


def test_messy_layers_are_drawn(tmp_path):
    # an invalid bow-tie district, an empty geometry and a layer in lon/lat are all accepted
    bowtie = shapely.Polygon([(X0, Y0), (X0 + 1000, Y0 + 1000), (X0 + 1000, Y0), (X0, Y0 + 1000)])
    d = gpd.GeoDataFrame({"district": ["bow", "empty"]}, geometry=[bowtie, shapely.Polygon()],
                         crs=CRS)
    s = _schools().to_crs(4326)
    m = make_map(districts=d, schools=s)
    html = map_html(m)
    assert html.count('"cls":"ge-district"') == 1


# ---------------------------------------------------------------------------------------------
# browser


def _open(page, path):
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ge-ready]", timeout=30_000)


def _click_latlng(page, lat, lng):
    # wait until the view has settled (fitBounds may still be animating)
    page.wait_for_function("() => !GE.map._animatingZoom && !(GE.map._panAnim && "
                           "GE.map._panAnim._inProgress)", timeout=10_000)
    page.wait_for_timeout(300)
    xy = page.evaluate("([a, b]) => { const p = GE.map.latLngToContainerPoint([a, b]);"
                       " const r = GE.map.getContainer().getBoundingClientRect();"
                       " return [p.x + r.left, p.y + r.top]; }", [lat, lng])
    page.mouse.click(xy[0], xy[1])
    page.wait_for_selector(".leaflet-popup-content", timeout=10_000)
    return page.inner_text(".leaflet-popup-content")


@pytest.fixture(scope="module")
def full_map_file(tmp_path_factory):
    return save_map(_full_map(), tmp_path_factory.mktemp("maps") / "full.html")


@pytest.mark.browser
def test_map_draws_offline_with_all_layers(offline_page, full_map_file):
    page = offline_page
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _open(page, full_map_file)
    assert page.console_errors == []
    assert page.blocked_requests == []
    assert page.locator("path.ge-school").count() == 3
    assert page.locator("path.ge-cell").count() == 100  # the primary (gap) layer only
    assert page.locator("path.ge-cell-gap").count() == 100
    assert page.locator("path.ge-district").count() == 2
    assert page.locator(".ge-site").count() == 1
    assert page.locator("path.ge-catchment").count() == 0  # hidden at first
    legend = page.inner_text(".ge-legend")
    assert "Seat gap" in legend
    assert "0.95 \u2013 < 1.05 (about the fair share)" in legend
    assert "no school within reach" in legend  # cells c0..c4 have no access
    assert "Schools by utilisation" in legend and "largest circle: 400 seats" in legend
    assert "Accessibility" not in legend  # its layer is off
    page.click(".ge-legend")  # folds to titles, and back
    assert "about the fair share" not in page.inner_text(".ge-legend")
    assert "Seat gap" in page.inner_text(".ge-legend")
    page.click(".ge-legend")
    assert "about the fair share" in page.inner_text(".ge-legend")
    assert page.inner_text(".ge-title-main") == f"County {XSS}"
    # the whole county is short: 100 + 400 + 250 = 750 seats for sum(k % 7 * 10) = 2,950
    assert page.inner_text(".ge-title-note") == (
        "Seats fall short across the whole area: 750 seats for 2,950 children (0.25 per child)")
    assert page.locator(".leaflet-control-scale").count() == 1
    control = page.inner_text(".leaflet-control-layers")
    for name in ("Seat gap", "Accessibility", "Children per cell", "Schools", "Districts",
                 "Catchments", "Service areas", "Proposed sites", "Proposal: plan <b>B</b>"):
        assert name in control
    # the view is fitted: every school is inside the visible map
    inside = page.evaluate("Object.values(GE.map._layers).filter(l => l.options &&"
                           " l.options.className === 'ge-school')"
                           ".every(l => GE.map.getBounds().contains(l.getLatLng()))")
    assert inside is True
    assert dialogs == []


@pytest.mark.browser
def test_school_popup_lists_attributes_and_escapes_markup(offline_page, full_map_file):
    page = offline_page
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _open(page, full_map_file)
    s2 = _schools().to_crs(4326).loc["s2"].geometry
    text = _click_latlng(page, s2.y, s2.x)
    assert text.splitlines()[0] == XSS  # the name shows as text
    assert page.locator(".leaflet-popup-content img").count() == 0
    rows = dict(line.split("\t") for line in text.splitlines()[1:])
    # every attribute plus the computed figures (hand-computed: 1.2 x 400 = 480 assigned)
    assert rows["school"] == "s2"
    assert rows["seats"] == "400"
    assert rows["level"] == "primary"
    assert rows["teachers"] == "30"
    assert rows["utilisation (%)"] == "120"
    assert rows["pupils assigned"] == "480"
    assert rows["spare seats"] == "-80"
    page.wait_for_timeout(300)
    assert dialogs == []
    assert page.console_errors == []


@pytest.mark.browser
def test_cell_popup_and_layer_switching(offline_page, full_map_file):
    page = offline_page
    _open(page, full_map_file)
    c42 = _cells().to_crs(4326).loc["c42"].geometry.centroid
    text = _click_latlng(page, c42.y, c42.x)
    rows = dict(line.split("\t") for line in text.splitlines()[1:])
    assert text.splitlines()[0] == "Cell c42"
    # hand-computed: children = 42 % 7 * 10 = 0; access = 0.25 + 0.02 * 42 = 1.09
    assert rows["children"] == "0"
    assert rows["access"] == "1.09" and rows["seat gap (1 = fair share)"] == "1.09"
    assert rows["nearest school (m)"] == "100"
    assert "cell" not in rows   # the id is the title, not a row again
    assert rows["district"] == "A"
    page.keyboard.press("Escape")
    page.locator(".leaflet-control-layers").get_by_text("Accessibility", exact=True).click()
    assert page.locator("path.ge-cell-access").count() == 100
    assert "school seats within reach per child" in page.inner_text(".ge-legend")
    page.locator(".leaflet-control-layers").get_by_text("Catchments", exact=True).click()
    assert page.locator("path.ge-catchment").count() == 3
    assert page.console_errors == []


@pytest.mark.browser
def test_district_popup_shows_its_table_row(offline_page, tmp_path):
    d = _districts(names=("<script>alert(2)</script>", "B"))
    path = save_map(make_map(districts=d), tmp_path / "d.html")
    page = offline_page
    _open(page, path)
    # open the popup of district 0 the way a click on its outline does
    page.evaluate("Object.values(GE.map._layers).filter(l => l.options &&"
                  " l.options.className === 'ge-district')"
                  ".forEach((l, i) => i === 0 && l.fire('click',"
                  " {latlng: l.getBounds().getCenter()}, true))")
    text = page.inner_text(".leaflet-popup-content")
    assert text.splitlines()[0] == "District <script>alert(2)</script>"
    rows = dict(line.split("\t") for line in text.splitlines()[1:])
    assert rows["children"] == "1,000" and rows["seats"] == "350" and rows["shortfall"] == "650"
    assert page.locator(".leaflet-popup-content script").count() == 0
    assert page.console_errors == []


@pytest.mark.browser
def test_osm_tiles_offline_still_draw_data(offline_page, tmp_path):
    path = save_map(make_map(schools=_schools(), cells=_cells(), tiles="osm"), tmp_path / "o.html")
    page = offline_page
    _open(page, path)
    assert page.locator("path.ge-school").count() == 3
    assert page.locator("path.ge-cell").count() == 100
    assert page.blocked_requests, "the basemap should have asked for tiles"
    assert all(u.startswith("https://tile.openstreetmap.org/") for u in page.blocked_requests)
    assert "OpenStreetMap" in page.inner_text(".leaflet-control-attribution")
    # only the blocked tiles may complain
    assert all("net::ERR_FAILED" in e for e in page.console_errors)


@pytest.mark.browser
def test_amap_tiles_shift_data_to_gcj02(offline_page, tmp_path):
    # eviltransform's published vectors (WGS84 -> GCJ-02), e.g. googollee/eviltransform tests
    wgs = [(31.1774276, 121.5272106), (22.543847, 113.912316), (39.911954, 116.377817)]
    gcj = [(31.17530398364597, 121.531541859215), (22.540796131694766, 113.9171764808363),
           (39.91334545536069, 116.38404722455657)]
    s = gpd.GeoDataFrame({"seats": [1.0, 2.0, 3.0]},
                         geometry=shapely.points([p[1] for p in wgs], [p[0] for p in wgs]),
                         crs=4326)
    path = save_map(make_map(schools=s, tiles="amap"), tmp_path / "a.html")
    page = offline_page
    _open(page, path)
    drawn = page.evaluate("Object.values(GE.map._layers).filter(l => l.options &&"
                          " l.options.className === 'ge-school')"
                          ".map(l => [l.getLatLng().lat, l.getLatLng().lng, l.options.radius])")
    drawn.sort(key=lambda r: r[2])
    for (lat, lng, _), (glat, glng) in zip(drawn, gcj, strict=True):
        assert lat == pytest.approx(glat, abs=2e-6) and lng == pytest.approx(glng, abs=2e-6)
    assert all("autonavi.com" in u for u in page.blocked_requests)


@pytest.mark.browser
@pytest.mark.parametrize("tiles,host", [("tianditu", "tianditu.gov.cn"),
                                        ("Esri.WorldImagery", "server.arcgisonline.com"),
                                        ("https://tiles.example.org/{z}/{x}/{y}.png",
                                         "tiles.example.org")])
def test_other_basemaps_keep_wgs84_and_draw_offline(offline_page, tmp_path, tiles, host):
    # Tianditu (CGCS2000 ~ WGS84), xyzservices providers and custom URLs: no datum shift
    s = gpd.GeoDataFrame({"seats": [1.0]}, geometry=shapely.points([114.3], [30.6]), crs=4326)
    path = save_map(make_map(schools=s, tiles=tiles, tiles_key="KEY"), tmp_path / "t.html")
    page = offline_page
    _open(page, path)
    drawn = page.evaluate("Object.values(GE.map._layers).filter(l => l.options &&"
                          " l.options.className === 'ge-school')"
                          ".map(l => [l.getLatLng().lat, l.getLatLng().lng])")
    assert drawn == [[pytest.approx(30.6, abs=1e-6), pytest.approx(114.3, abs=1e-6)]]
    assert page.blocked_requests and all(host in u for u in page.blocked_requests)
    if tiles == "tianditu":
        assert all("tk=KEY" in u for u in page.blocked_requests)


@pytest.mark.browser
def test_dense_grid_is_drawn_as_an_image(offline_page, tmp_path):
    path = save_map(make_map(cells=_cells(), schools=_schools(), max_vector_cells=50),
                    tmp_path / "r.html")
    page = offline_page
    _open(page, path)
    assert page.console_errors == []
    assert page.blocked_requests == []
    assert page.locator("path.ge-cell").count() == 0
    img = page.locator("img.ge-raster")
    assert img.count() == 1  # only the primary layer is on
    assert page.evaluate("document.querySelector('img.ge-raster').naturalWidth") > 0
    assert page.evaluate("GE.counts['ge-cells ge-cells-gap']") == 100
    assert "Seat gap" in page.inner_text(".ge-legend")
    assert page.locator("path.ge-school").count() == 3
    # image cells keep their popups (hand-computed as in the vector test)
    c42 = _cells().to_crs(4326).loc["c42"].geometry.centroid
    text = _click_latlng(page, c42.y, c42.x)
    rows = dict(line.split("\t") for line in text.splitlines()[1:])
    assert text.splitlines()[0] == "Cell c42"
    assert rows["access"] == "1.09" and rows["district"] == "A" and rows["children"] == "0"


@pytest.mark.browser
def test_real_point_grid_as_image_keeps_popups(offline_page, shared_data, tmp_path):
    # Porto Alegre's 1,227 real H3 centroids, forced into image mode: clicking a centroid
    # opens the popup of that very cell (its id and population from the CSV)
    poa = pd.read_csv(shared_data / "porto_alegre" / "poa_hexgrid.csv")
    cells = gpd.GeoDataFrame(poa[["id", "population"]],
                             geometry=gpd.points_from_xy(poa["lon"], poa["lat"]), crs=4326)
    cells = cells.set_index(pd.Index(cells["id"], name="id")).drop(columns="id")
    path = save_map(make_map(cells=cells, value_col="population", max_vector_cells=100),
                    tmp_path / "poa.html")
    page = offline_page
    _open(page, path)
    assert page.locator("img.ge-raster").count() == 1 and page.console_errors == []
    for k in (0, 600, 1226):
        row = poa.iloc[k]
        text = _click_latlng(page, row["lat"], row["lon"])
        assert text.splitlines()[0] == f"Cell {row['id']}", k
        vals = dict(line.split("\t") for line in text.splitlines()[1:])
        assert vals["population"] == f"{int(row['population']):,}"
        page.evaluate("GE.map.closePopup()")
        page.wait_for_selector(".leaflet-popup-content", state="detached")


def test_cell_raster_layout_hand_computed():
    from geoequity.maps._raster import cell_raster

    # 2 x 2 cells of 100 m in Web Mercator: pixel size 50 m, so a 4 x 4 raster;
    # cell 0 = lower left, 1 = lower right, 2 = upper left, 3 = upper right
    boxes = [shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100),
             shapely.box(0, 100, 100, 200), shapely.box(100, 100, 200, 200)]
    cells = gpd.GeoDataFrame(geometry=boxes, crs=3857).to_crs(4326)
    r = cell_raster(cells)
    assert r.ids.tolist() == [[3, 3, 4, 4], [3, 3, 4, 4], [1, 1, 2, 2], [1, 1, 2, 2]]
    (s, w), (n, e) = r.bounds
    assert (w, s) == pytest.approx((0, 0), abs=1e-9)
    # 200 m east of 0 in EPSG:3857 is 200 / 6378137 rad of longitude
    assert e == pytest.approx(np.degrees(200 / 6378137.0), rel=1e-9)


def test_point_cell_raster_hand_computed():
    from geoequity.maps._raster import cell_raster

    # two point cells 100 m apart in Web Mercator: spacing 100, pixels of 50 m over the points'
    # extent padded by one spacing (x -100..200, y -100..100: 6 x 4 pixels). A pixel takes the
    # nearest point within 75 m: centre (25, 25) is 35 m from (0, 0), 79 m from (100, 0).
    cells = gpd.GeoDataFrame(geometry=shapely.points([0.0, 100.0], [0.0, 0.0]),
                             crs=3857).to_crs(4326)
    r = cell_raster(cells)
    assert r.ids.tolist() == [[0, 0, 0, 0, 0, 0], [0, 1, 1, 2, 2, 0], [0, 1, 1, 2, 2, 0],
                              [0, 0, 0, 0, 0, 0]]


def test_real_worldpop_grid_every_cell_is_painted(shared_data):
    from geoequity.io import read_population
    from geoequity.maps._raster import cell_raster

    # a window of the real Wuhan WorldPop raster (3 arc-second pixels, nodata dropped)
    tif = shared_data / "wuhan" / "pop_20_f_wuhan.tif"
    cells = read_population(tif, bounds=(114.25, 30.55, 114.35, 30.65))
    assert 5_000 < len(cells) <= 120 * 120
    r = cell_raster(cells.to_crs(4326))
    painted = np.unique(r.ids[r.ids > 0])
    assert painted.size == len(cells)  # no cell lost in the image
    (s, w), (n, e) = r.bounds
    assert w == pytest.approx(114.25, abs=0.001) and e == pytest.approx(114.35, abs=0.001)
    assert s == pytest.approx(30.55, abs=0.001) and n == pytest.approx(30.65, abs=0.001)


@pytest.mark.browser
def test_png_screenshot(tmp_path):
    from PIL import Image

    from tests.conftest import chromium_path

    if chromium_path() is None:
        pytest.skip("chromium is not installed")
    out = save_map(_full_map(), tmp_path / "m.html", png=tmp_path / "m.png", png_size=(800, 600))
    assert out.is_file()
    im = Image.open(tmp_path / "m.png").convert("RGB")
    assert im.size == (800, 600)
    colours = {c for _, c in im.getcolors(maxcolors=1 << 20)}
    # the seat-gap classes are drawn: the darkest red class blended at 75 % over the background
    assert len(colours) > 20


def test_png_without_chromium_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOEQUITY_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(InputError, match="GEOEQUITY_CHROMIUM.*not an executable"):
        save_map(_full_map(), tmp_path / "m.html", png=tmp_path / "m.png")
    assert (tmp_path / "m.html").is_file() and not (tmp_path / "m.png").exists()


# ---------------------------------------------------------------------------------------------
# CLI


def _write_run(outdir):
    outdir.mkdir()
    # as the scenario runner writes them: ids as columns
    _cells().reset_index(drop=True).to_file(outdir / "cells.gpkg")
    _schools().reset_index(drop=True).to_file(outdir / "schools.gpkg")
    _districts().reset_index(drop=True).to_file(outdir / "districts.gpkg")
    _catchments().to_file(outdir / "catchments.gpkg")
    _sites().to_file(outdir / "sites.gpkg")
    (outdir / "summary.json").write_text(json.dumps({"title": "Run title", "threshold": 1000,
                                                     "method": "e2sfca", "osm": True,
                                                     "tiles": "none", "unit": "m",
                                                     "seats_per_child": 0.9}))


@pytest.mark.browser
def test_cli_from_run_folder(offline_page, tmp_path):
    from geoequity.cli import main

    out = tmp_path / "out"
    _write_run(out)
    assert main(["-q", "map", str(out)]) == 0
    html = out / "maps" / "map.html"
    assert html.is_file()
    page = offline_page
    _open(page, html)
    assert page.locator("path.ge-school").count() == 3
    assert page.locator("path.ge-cell").count() == 100
    assert page.locator(".ge-site").count() == 1
    assert page.inner_text(".ge-title-main") == "Run title"
    assert page.inner_text(".ge-title-sub") == "within 1000 m"
    page.locator(".leaflet-control-layers").get_by_text("Accessibility", exact=True).click()
    assert ("E2SFCA: school seats reachable per child within 1000 m (higher is better)"
            in page.inner_text(".ge-legend"))
    assert "OpenStreetMap" in page.inner_text(".leaflet-control-attribution")
    assert page.console_errors == [] and page.blocked_requests == []


def test_cli_errors_are_one_line(tmp_path, capsys):
    from geoequity.cli import main

    assert main(["map", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "is not a folder" in err and "Traceback" not in err
    assert main(["map"]) == 2
    assert "no layers given" in capsys.readouterr().err


@pytest.mark.browser
def test_cli_explicit_layers_real_data(offline_page, shared_data, tmp_path):
    from geoequity.cli import main

    grid = shared_data / "helsinki" / "helsinki_population_grid_2020.gpkg"
    poa = shared_data / "porto_alegre" / "poa_hexgrid.csv"
    out = tmp_path / "hel.html"
    assert main(["-q", "map", "--cells", str(grid), "--value", "population", "--osm",
                 "-o", str(out)]) == 0
    page = offline_page
    _open(page, out)
    assert page.locator("path.ge-cell").count() == 92  # the file's 92 real 250 m cells
    legend = page.inner_text(".ge-legend")
    assert "population" in legend
    # class labels span the data: HSY cells hold 5 to 2,136 people
    assert "5 \u2013 <" in legend and "2,136" in legend
    assert page.console_errors == []
    # Porto Alegre: hexagon centroids (points) as cells, 1,227 of them
    out2 = tmp_path / "poa.html"
    assert main(["-q", "map", "--cells", str(poa), "--value", "population", "-o",
                 str(out2)]) == 0
    _open(page, out2)
    assert page.locator("path.ge-cell").count() == 1227
    assert page.console_errors == []


def test_school_popup_shows_a_levels_own_seats_once():
    # a run's schools carry seats_<level> equal to seats (the level's seats): one popup row;
    # a seats_<level> that differs (a school's own figure for another level) stays
    sch = _schools()
    sch["seats_primary"] = sch["seats"]
    sch["seats_junior"] = [0.0, 0.0, 120.0]
    html = map_html(make_map(schools=sch))
    assert '"seats_primary"' not in html
    assert '"seats_junior"' in html and '"seats"' in html


def test_number_list_writes_numbers_as_json_dumps_does():
    # hand-written: whole floats as integers, repr's layout below 1e-4 and from 1e16 (an
    # exponent), NaN and infinities as null, -0.0 as 0, ints and bools as they are
    from geoequity.maps._encode import number_list

    v = np.array([12.0, 0.5, 1e-05, 7.69e-06, 0.0001, 123456.7, 1.5e16, 2.0**53, np.nan,
                  np.inf, -0.0, -3.25, 1 / 3])
    assert number_list(v) == ("[12,0.5,1e-05,7.69e-06,0.0001,123456.7,1.5e+16,"
                              "9007199254740992.0,null,null,0,-3.25,0.3333333333333333]")
    assert number_list(np.array([3, -7], dtype=np.int64)) == "[3,-7]"
    assert number_list(np.array([True, False])) == "[true,false]"
    assert number_list(np.array([], dtype=float)) == "[]"
    # against json.dumps of the same values as Python numbers, on a wide random spread
    rng = np.random.default_rng(2)
    v = rng.lognormal(0, 9, 5000) * rng.choice([-1, 1], 5000)
    py = [int(x) if x == int(x) and abs(x) < 2**53 else float(x) for x in v.tolist()]
    assert number_list(v) == json.dumps(py, separators=(",", ":"))
