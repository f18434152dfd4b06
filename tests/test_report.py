"""The HTML report: content and CSV tables, optional sections, offline rendering in Chromium."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoequity.report import write_report


@pytest.fixture()
def inputs():
    """A small county: 3 districts of cells (children, access, nearest_cost, unassigned) and
    6 schools with seats and the 2012 basic-balance resource columns."""
    rng = np.random.default_rng(5)
    n = 60
    x, y = rng.uniform(0, 6000, n), rng.uniform(0, 3000, n)
    cells = gpd.GeoDataFrame({
        "children": rng.integers(1, 50, n).astype(float),
        "access": rng.gamma(3, 0.3, n),
        "nearest_cost": rng.uniform(100, 2500, n),
        "unassigned": rng.integers(0, 5, n).astype(float),
        "district": np.array(["东城", "西城", "南区"])[(x // 2000).astype(int)],
        "urban": np.where(x < 3000, "urban centre", "rural"),
    }, geometry=shapely.points(x, y), crs=32650)
    cells.loc[[0, 1], ["access", "nearest_cost"]] = np.nan  # no school reachable
    schools = pd.DataFrame({
        "level": ["小学", "小学", "小学", "初中", "初中", "九年一贯制"],
        "district": ["东城", "西城", "南区", "东城", "西城", "南区"],
        "seats": [900.0, 600, 300, 800, 500, 700],
        "enrolment": [800, 620, 1200, 700, 480, 650],
        "teachers": [48, 35, 6, 50, 30, 45],
        "books": [24000, 18000, 1200, 28000, 17000, 20000],
        "computers": [80, 60, 1, 90, 50, 60],
    }, index=pd.Index(["一小", "二小", "村小", "一中", "二中", "九年制"], name="school"))
    return cells, schools


def test_report_tables_and_csv(tmp_path, inputs):
    cells, schools = inputs
    out = write_report(tmp_path / "r.html", cells=cells, schools=schools, threshold=1000,
                       title="Test county", lang="en")
    text = out.html.read_text(encoding="utf-8")
    assert "<h1>Test county</h1>" in text
    d = out.tables["districts"].set_index("district")
    assert set(d.index) == {"东城", "西城", "南区"}
    # hand check of one district: seats located in it / children living in it
    east = cells[cells["district"] == "东城"]
    assert d.loc["东城", "children"] == pytest.approx(east["children"].sum())
    assert d.loc["东城", "seats"] == 1700
    assert d.loc["东城", "seats_per_child"] == pytest.approx(1700 / east["children"].sum())
    beyond = east["children"][(east["nearest_cost"] > 1000) | east["nearest_cost"].isna()]
    assert d.loc["东城", "share_beyond"] == pytest.approx(beyond.sum() / east["children"].sum())
    # CSV files beside the report, readable with Chinese intact
    csv = pd.read_csv(out.csv["districts"], encoding="utf-8-sig")
    assert set(csv["district"]) == {"东城", "西城", "南区"}
    th = pd.read_csv(out.csv["theil"])
    assert np.allclose(th["between"] + th["within"], th["theil_t"])
    # balance computed from the resource columns: basic standard, one county, both levels
    assert set(out.tables["balance_summary"]["level"]) == {"primary", "junior"}
    # 村小: 6 teachers and 1 computer for 1,200 pupils drives the failing primary CVs
    assert "村小" in set(out.tables["failing_schools"]["school"])
    # self-contained: no script, stylesheet or image fetched from anywhere
    assert not re.search(r'<(script|link|img)\b[^>]*(src|href)=', text)
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text


def test_sections_are_optional(tmp_path, inputs):
    cells, schools = inputs
    only_schools = write_report(tmp_path / "s.html", schools=schools)
    html = only_schools.html.read_text(encoding="utf-8")
    assert 'id="lorenz"' not in html and 'id="balance"' in html
    only_cells = write_report(tmp_path / "c.html",
                              cells=cells[["children", "district", "geometry"]], csv=False)
    html = only_cells.html.read_text(encoding="utf-8")
    assert 'id="districts"' in html and 'id="lorenz"' not in html and 'id="balance"' not in html
    assert not only_cells.csv
    # the OpenStreetMap credit appears only when the streets came from OpenStreetMap
    assert "OpenStreetMap" not in html
    osm = write_report(tmp_path / "o.html", cells=cells[["children", "district", "geometry"]],
                       csv=False, osm=True)
    assert "OpenStreetMap contributors (ODbL)" in osm.html.read_text(encoding="utf-8")
    from geoequity import InputError

    with pytest.raises(InputError, match="HTML"):
        write_report(tmp_path / "r.pdf", cells=cells)


@pytest.mark.browser
def test_report_renders_offline_in_chinese(tmp_path, inputs, offline_page):
    cells, schools = inputs
    out = write_report(tmp_path / "zh.html", cells=cells, schools=schools, threshold=1000,
                       lang="zh")
    page = offline_page
    page.goto(out.html.as_uri())
    page.wait_for_load_state("load")
    assert page.blocked_requests == [] and page.console_errors == []
    body = page.inner_text("body")
    for label in ("片区比较", "可达性洛伦兹曲线", "可达性泰尔指数分解", "校际资源均衡",
                  "未达标学校", "差异系数"):
        assert label in body
    # district table: one row per district
    assert page.locator("table.districts tbody tr").count() == 3
    # Lorenz: the equality line plus the all-children, urban-centre and rural curves
    assert page.locator("svg.lorenz polyline.curve").count() == 3
    box = page.locator("svg.lorenz").bounding_box()
    assert box["width"] > 300 and box["height"] > 250
    # bar charts: 3 bars each for seats per child and travel
    assert page.locator("svg.bars").count() == 2
    assert page.locator("svg.bars rect.bar").count() == 6
    # Chinese labels drawn inside the SVG text
    assert "城市中心" in page.locator("svg.lorenz").text_content()
    # the CV table marks the failing county/level
    assert page.locator("table.balance-summary tr.bad").count() >= 1
    page.screenshot(path=str(tmp_path / "zh.png"), full_page=True)
    assert (tmp_path / "zh.png").stat().st_size > 10_000


def test_cli_report_from_run_folder(tmp_path, inputs, capsys):
    from geoequity.cli import main

    cells, schools = inputs
    run = tmp_path / "run"
    run.mkdir()
    cells.drop(columns="geometry").to_csv(run / "cells.csv", index=False)
    schools.reset_index().to_csv(run / "schools.csv", index=False)
    (run / "summary.json").write_text('{"threshold": 1000, "title": "Run title", "lang": "zh"}',
                                      encoding="utf-8")
    assert main(["report", str(run), "--school-id", "school", "-o",
                 str(tmp_path / "rep.html")]) == 0
    html = (tmp_path / "rep.html").read_text(encoding="utf-8")
    assert "Run title" in html and "片区比较" in html and "超出1,000 m的儿童比例" in html
    assert (tmp_path / "rep_districts.csv").exists()
    assert main(["report", str(tmp_path / "missing"), "-o", str(tmp_path / "x.html")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_cli_report_column_flags_spelled_either_way(tmp_path, inputs):
    """`report --level/--type/--urban` (as `equity` spelled them) are aliases of
    --level-col/--type-col/--urban-col, not abbreviations that a new flag could break."""
    from geoequity.cli import build_parser, main

    _, schools = inputs
    f = tmp_path / "schools.csv"
    schools.rename(columns={"level": "lvl"}).reset_index().to_csv(f, index=False)
    tables = []
    for flag in ("--level-col", "--level"):
        out = tmp_path / flag.strip("-") / "r.html"
        out.parent.mkdir()
        assert main(["-q", "report", "--schools", str(f), "--school-id", "school", flag, "lvl",
                     "-o", str(out)]) == 0
        tables.append(pd.read_csv(out.parent / "r_balance_cv.csv"))
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert len(tables[0])                                  # the levels were read
    sub = next(a for a in build_parser()._subparsers._group_actions[0].choices.items()
               if a[0] == "report")[1]
    strings = {s for a in sub._actions for s in a.option_strings}
    assert {"--level", "--type", "--urban", "--level-col", "--type-col", "--urban-col"} <= strings


def test_group_values_are_the_users_words_urban_classes_translated(tmp_path, inputs):
    """A county grouping whose values happen to be words the report translates ("urban",
    "rural", "threshold") shows them as they are; the urban classes (geoequity's own words)
    and "all" are translated."""
    cells, schools = inputs
    cells = cells.assign(county=np.array(["urban", "rural", "threshold"])
                         [(cells.geometry.x // 2000).astype(int)])
    out = write_report(tmp_path / "zh.html", cells=cells, schools=schools, threshold=1000,
                       lang="zh", district_group="county", csv=False)
    html = out.html.read_text(encoding="utf-8")
    section = html[html.index('id="groups"'):]
    section = section[:section.index("</section>")]
    rows = re.findall(r"<tr><td[^>]*>([^<]*)</td><td[^>]*>([^<]*)</td>", section)
    # the grouping itself in words (group_names.group_label: county -> 县（区）)
    assert ("县（区）", "urban") in rows and ("县（区）", "rural") in rows
    assert ("县（区）", "threshold") in rows
    assert ("城乡", "城市中心") in rows and ("城乡", "乡村") in rows   # the urban classes
    assert ("全部", "全部") in rows


def _first_columns(html: str, cls: str) -> list[str]:
    """The first cell of every body row of the report's table of class ``cls``."""
    table = re.search(rf'<table class="{cls}">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return re.findall(r"<tr[^>]*><td[^>]*>([^<]*)</td>", table)


@pytest.mark.parametrize(("lang", "district", "label", "urban"), [
    ("en", "District", "District type", "Urban / rural"),
    ("zh", "片区", "片区类型", "城乡")])
def test_run_with_a_district_group_names_it_in_words(tmp_path, lang, district, label, urban):
    """A run with ``[districts] group = "type"``: the report's Theil and group tables name
    the grouping "District type" / 片区类型 (the words of the maps' overview), not "type"."""
    import geoequity as ge
    from _cases import write_tiny_line
    from shapely.geometry import box

    layers = write_tiny_line(tmp_path)   # West: cells a-c, East: d-e
    gpd.GeoDataFrame({"name": ["West", "East"], "type": ["urban", "rural"]},
                     geometry=[box(-100, -100, 1100, 100), box(1100, -100, 2100, 100)],
                     crs=32650).to_file(tmp_path / "districts.gpkg")
    path = tmp_path / "s.toml"
    path.write_text(layers.replace('name = "name"\n', 'name = "name"\ngroup = "type"\n')
                    + "[analysis]\nthreshold = 600\nmax_cost = 5000\n[outputs]\n"
                    f'folder = "out"\nmap = "m.html"\nreport = true\nlang = "{lang}"\n',
                    encoding="utf-8")
    ge.run_scenario(path)
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert _first_columns(html, "theil") == [district, label, urban]
    groups = _first_columns(html, "groups")
    # the county's row, then the two district types (rural: d, e; urban: a-c), then urban/rural
    assert groups[1:3] == [label, label] and "type" not in groups
    assert ">type<" not in html
