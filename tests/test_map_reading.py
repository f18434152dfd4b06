"""What a planner reads on the map (issue #16 item 3): the legend beside the data, popups,
Chinese labels, the absolute seat gap, hexagon grids, and the same language option reached
by the API, ``geoequity map --lang`` and the scenario's ``[outputs] lang``."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoequity.maps import make_map, save_map
from geoequity.maps._map import _catchment_shortfall, area_short_note, hexagon_cells
from tests.test_maps import (_catchments, _cells, _click_latlng, _districts, _full_map, _open,
                             _schools)

LAT0, LON0 = 30.0, 114.0
KX, KY = 111_320.0 * math.cos(math.radians(LAT0)), 110_574.0   # the frame hexagon_cells uses


def _lattice(kind: str, s: float = 500.0, n: int = 8) -> gpd.GeoDataFrame:
    """Points ``s`` metres apart: a hexagonal lattice (rows offset by s/2, s*sqrt(3)/2 apart),
    a square grid, or scattered points; centred on (LON0, LAT0)."""
    if kind == "hex":
        xy = [(c * s + (r % 2) * s / 2, r * s * math.sqrt(3) / 2)
              for r in range(n) for c in range(n)]
    elif kind == "square":
        xy = [(c * s, r * s) for r in range(n) for c in range(n)]
    else:
        xy = np.random.default_rng(3).uniform(0, n * s, (n * n, 2)).tolist()
    xy = np.array(xy) - np.mean(xy, axis=0)
    pts = shapely.points(LON0 + xy[:, 0] / KX, LAT0 + xy[:, 1] / KY)
    return gpd.GeoDataFrame({"children": np.arange(len(xy), dtype=float)}, geometry=pts,
                            crs=4326)


def test_hexagon_grid_detected_and_hexagons_tile():
    s = 500.0
    hexes = hexagon_cells(_lattice("hex", s))
    assert hexes is not None
    metres = shapely.transform(np.asarray(hexes.geometry.array),
                               lambda c: np.column_stack([(c[:, 0] - LON0) * KX,
                                                          (c[:, 1] - LAT0) * KY]))
    # a regular hexagon with neighbours s apart: circumradius s/sqrt(3), area s^2 sqrt(3)/2
    assert shapely.area(metres) == pytest.approx(np.full(64, s * s * math.sqrt(3) / 2),
                                                  rel=1e-6)
    assert all(len(shapely.get_coordinates(g)) == 7 for g in metres)   # 6 corners + closing
    # neighbours share a whole edge (length s/sqrt(3)) and do not overlap
    edge = shapely.intersection(metres[0], metres[1])
    assert shapely.length(edge) == pytest.approx(s / math.sqrt(3), rel=1e-6)
    assert shapely.area(edge) == pytest.approx(0.0, abs=1e-3)
    # the rule does not take square grids or scattered points for hexagons
    assert hexagon_cells(_lattice("square")) is None
    assert hexagon_cells(_lattice("random")) is None


def test_catchment_shortfall_and_whole_area_note():
    catch = _catchments().assign(children=[300.0, 500.0, 100.0])
    schools = _schools()   # seats s1 100, s2 400, s3 250
    assert _catchment_shortfall(catch, schools).tolist() == [200.0, 100.0, -150.0]
    # 750 seats for sum(k % 7 * 10 for k < 100) = 2,950 children
    assert area_short_note(_cells(), schools) == (
        "Seats fall short across the whole area: 750 seats for 2,950 children (0.25 per child)")
    assert area_short_note(_cells().assign(children=1.0), schools) is None   # 750 >= 100


def _rect_overlap(a, b) -> bool:
    return not (a["right"] <= b["left"] or b["right"] <= a["left"]
                or a["bottom"] <= b["top"] or b["bottom"] <= a["top"])


_BOXES = """() => {
  const m = GE.map, r = m.getContainer().getBoundingClientRect();
  const b = L.latLngBounds(GE.bounds);
  const nw = m.latLngToContainerPoint(b.getNorthWest());
  const se = m.latLngToContainerPoint(b.getSouthEast());
  const rel = e => { const q = e.getBoundingClientRect();
    return {left: q.left - r.left, top: q.top - r.top, right: q.right - r.left,
            bottom: q.bottom - r.top}; };
  return {data: {left: nw.x, top: nw.y, right: se.x, bottom: se.y},
          legend: rel(document.querySelector(".ge-legend")),
          control: rel(document.querySelector(".leaflet-control-layers")),
          title: rel(document.querySelector(".ge-title")), w: r.width, h: r.height};
}"""


@pytest.mark.browser
@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_legend_never_covers_the_data(browser, tmp_path, size):
    cells = _cells()
    cells["unassigned"] = cells["children"] * 0.5
    path = save_map(_full_map(cells=cells), tmp_path / "m.html")
    ctx = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = ctx.new_page()
    try:
        _open(page, path)
        box = page.evaluate(_BOXES)
        d = box["data"]
        assert 0 <= d["left"] < d["right"] <= box["w"] and 0 <= d["top"] < d["bottom"] <= box["h"]
        for what in ("legend", "control", "title"):
            assert not _rect_overlap(d, box[what]), what
        assert not _rect_overlap(box["legend"], box["control"])
        # the data use a fair part of the map, not a corner of it
        assert (d["right"] - d["left"]) * (d["bottom"] - d["top"]) > 0.15 * box["w"] * box["h"]
    finally:
        ctx.close()


@pytest.mark.browser
def test_popups_coordinates_units_no_repeats_and_district_areas(offline_page, tmp_path):
    schools = _schools().to_crs(4326)
    schools["lon"], schools["lat"] = schools.geometry.x, schools.geometry.y
    schools["assigned"] = [80.0, 480.0, 250.0]   # as a run writes them, beside utilisation
    cells = _cells()
    cells["unassigned"] = cells["children"] * 0.5
    path = save_map(make_map(schools=schools, cells=cells, districts=_districts(),
                             cost_unit="min"), tmp_path / "p.html")
    page = offline_page
    _open(page, path)
    s1 = schools.loc["s1"]
    text = _click_latlng(page, s1.geometry.y, s1.geometry.x)
    lines = text.splitlines()
    rows = dict(line.split("\t") for line in lines[1:])
    assert lines[0] == "North School"
    assert "name" not in rows                      # the title is not a row again
    assert rows["longitude"] == f"{s1.geometry.x:.6f}"
    assert rows["latitude"] == f"{s1.geometry.y:.6f}"
    assert rows["utilisation (%)"] == "80" and "utilisation" not in rows
    assert rows["pupils assigned"] == "80"         # once: the run's column, not recomputed
    assert sum(k.startswith("pupils assigned") for k in rows) == 1
    page.evaluate("GE.map.closePopup()")
    c42 = _cells().to_crs(4326).loc["c42"].geometry.centroid
    rows = dict(line.split("\t") for line in _click_latlng(page, c42.y, c42.x).splitlines()[1:])
    assert rows["nearest school (min)"] == "100"
    assert rows["children without a seat"] == "0"   # 42 % 7 * 10 * 0.5
    assert rows["seat gap (1 = fair share)"] == "1.09"
    page.evaluate("GE.map.closePopup()")
    # a district opens from anywhere inside it: hide the cells, click the district's middle
    page.locator(".leaflet-control-layers").get_by_text("Seat gap", exact=True).click()
    mid = _districts().to_crs(4326).loc["B"].geometry.centroid
    text = _click_latlng(page, mid.y, mid.x)
    assert text.splitlines()[0] == "District B"
    assert page.console_errors == []


@pytest.mark.browser
def test_chinese_map(offline_page, tmp_path):
    cells = _cells()
    cells["unassigned"] = cells["children"] * 0.5
    path = save_map(_full_map(cells=cells, lang="zh"), tmp_path / "zh.html")
    page = offline_page
    _open(page, path)
    control = page.inner_text(".leaflet-control-layers")
    for name in ("学位供需比", "每网格适龄儿童", "可达性", "未获学位儿童", "学区", "片区",
                 "学校", "拟建校址", "方案：plan <b>B</b>"):
        assert name in control
    legend = page.inner_text(".ge-legend")
    assert "0.95 \u2013 < 1.05 (约等于均衡水平)" in legend and "服务半径内无学校" in legend
    assert "学校（按学位使用率）" in legend and "最大的圆：400 个学位" in legend
    assert page.get_attribute(".ge-legend", "title") == "点击折叠或展开图例"
    assert page.inner_text(".ge-title-note").startswith("全区学位不足：750 个学位，2,950 名儿童")
    c42 = _cells().to_crs(4326).loc["c42"].geometry.centroid
    text = _click_latlng(page, c42.y, c42.x)
    rows = dict(line.split("\t") for line in text.splitlines()[1:])
    assert text.splitlines()[0] == "网格 c42"
    assert rows["适龄儿童"] == "0" and rows["片区"] == "A" and rows["到最近学校（米）"] == "100"
    page.evaluate("GE.map.closePopup()")
    page.locator(".leaflet-control-layers").get_by_text("未获学位儿童", exact=True).click()
    assert page.locator("path.ge-cell-unassigned").count() == 100
    assert "0（均有学位）" in page.inner_text(".ge-legend")
    assert page.console_errors == []


@pytest.mark.browser
def test_porto_alegre_hexgrid_drawn_as_hexagons(offline_page, shared_data, tmp_path):
    df = pd.read_csv(shared_data / "porto_alegre" / "poa_hexgrid.csv")
    cells = gpd.GeoDataFrame(df[["id", "population"]],
                             geometry=shapely.points(df["lon"], df["lat"]), crs=4326)
    path = save_map(make_map(cells=cells.set_index("id"), value_col="population"),
                    tmp_path / "poa.html")
    page = offline_page
    _open(page, path)
    assert page.locator("path.ge-cell").count() == len(df)
    # every cell is a closed path of 6 corners: "M x y L x y ... z" (no circles)
    corners = page.evaluate("Array.from(document.querySelectorAll('path.ge-cell'))"
                            ".map(p => (p.getAttribute('d').match(/[ML]/g) || []).length)")
    assert set(corners) == {6}
    assert page.console_errors == []


def test_lang_reaches_the_map_by_api_cli_and_scenario(tmp_path):
    from geoequity.cli import main
    from tests.test_scenario import _tiny_case

    zh_word = '"学位供需比"'   # the gap layer's name in the map's JSON
    api = save_map(make_map(cells=_cells(), lang="zh"), tmp_path / "api.html")
    assert zh_word in api.read_text(encoding="utf-8")
    toml = _tiny_case(tmp_path)
    toml.write_text(toml.read_text(encoding="utf-8").replace(
        "report = false", 'report = false\nlang = "zh"'), encoding="utf-8")
    assert main(["-q", "run", str(toml)]) == 0
    assert zh_word in (tmp_path / "map.html").read_text(encoding="utf-8")      # scenario
    assert main(["-q", "map", str(tmp_path / "out"), "-o", str(tmp_path / "again.html")]) == 0
    assert zh_word in (tmp_path / "again.html").read_text(encoding="utf-8")    # the run's lang
    assert main(["-q", "map", str(tmp_path / "out"), "--lang", "en",
                 "-o", str(tmp_path / "en.html")]) == 0
    en = (tmp_path / "en.html").read_text(encoding="utf-8")
    assert zh_word not in en and '"Seat gap"' in en
    assert main(["-q", "map", str(tmp_path / "out"), "--lang", "zh",
                 "-o", str(tmp_path / "zh.html")]) == 0                        # CLI
    assert zh_word in (tmp_path / "zh.html").read_text(encoding="utf-8")
    with pytest.raises(Exception, match="unknown language"):
        make_map(cells=_cells(), lang="fr")


@pytest.mark.browser
def test_school_circles_scale_with_the_zoom(offline_page, tmp_path):
    path = save_map(make_map(schools=_schools(), cells=_cells()), tmp_path / "z.html")
    page = offline_page
    _open(page, path)
    radii = ("Object.values(GE.map._layers).filter(l => l.options && "
             "l.options.className === 'ge-school').map(l => l.getRadius())")
    # at the opening zoom: 9 px for the largest school (400 seats), 9 * sqrt(100/400) = 4.5
    assert sorted(page.evaluate(radii)) == pytest.approx([4.5, 9 * math.sqrt(250 / 400), 9.0],
                                                         abs=0.05)
    page.evaluate("GE.map.setMaxZoom(30)")
    for dz, factor in ((2, 2.0), (-2, 0.5), (4, 3.0)):   # 2^(dz/2), between 0.5x and 3x
        # without animation Leaflet resets the view (and fires zoomend) at once
        dz_got = page.evaluate(f"(GE.map.setZoom(GE.baseZoom + {dz}, {{animate: false}}),"
                               " GE.map.getZoom() - GE.baseZoom)")
        assert dz_got == pytest.approx(dz)
        assert max(page.evaluate(radii)) == pytest.approx(9.0 * factor, abs=0.05)
    assert page.console_errors == []
