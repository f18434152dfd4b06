"""What shows the plans: the map's plan layers (one per plan, following the year switch) and
the report's "plans compared" section, in English and Chinese, hooked into a run's outputs.

The plans of the small forecast case of tests/test_yearly.py, by hand: West has 120 seats for
150 children in 2026-2027 and 160 from 2028 (0.8, then 0.75 seats per child); East 60 seats for
80 children (0.75) every year. Plan ``more {{seats}} West`` doubles West's seats from 2028:
240 / 160 = 1.5 seats per child, shortfall -80.

Seats per child classes (breaks 0.5, 0.8, 0.95, 1.05, 1.25, 2): 0.75 is in [0.5, 0.8), the
2nd colour of RdBu-7 (#ef8a62); 0.8 is in [0.8, 0.95), the 3rd (#fddbc7); 1.5 in [1.25, 2),
the 6th (#67a9cf).
"""

from __future__ import annotations

import html
import re
import shutil
from types import SimpleNamespace

import pandas as pd
import pytest

from geoequity.outputs import write_outputs
from geoequity.plan_compare import PlanTables, summarise
from geoequity.report import write_report
from tests.test_maps import _click_latlng, _open
from tests.test_yearly import _api_run

PLAN = "more {{seats}} West"
YEARS = [2026, 2027, 2028, 2029]


def _plans_by_year() -> pd.DataFrame:
    rows = []
    for plan in ("(current)", PLAN):
        for y in YEARS:
            west_children = 150 if y < 2028 else 160
            west_seats = 240 if plan == PLAN and y >= 2028 else 120
            for d, c, s in (("West", west_children, west_seats), ("East", 80, 60),
                            ("(all)", west_children + 80, west_seats + 60)):
                rows.append({"plan": plan, "district": d, "year": y, "children": c,
                             "seats": s, "seats_per_child": s / c, "shortfall": c - s,
                             "children_beyond": 50.0 if d != "East" else 0.0})
    return pd.DataFrame(rows)


def _summary() -> pd.DataFrame:
    return pd.DataFrame({"plan": ["(current)", PLAN], "gini_access": [0.30, 0.20],
                         "theil_access": [0.10, 0.12], "balance_pass": [None, None],
                         "children_moved": [0, 0], "cost": [0.0, 1_200_000.0]})


@pytest.fixture(scope="module")
def run_with_plans(tmp_path_factory):
    """The small forecast run, its outputs written with plans (as the engine will attach)."""
    base = tmp_path_factory.mktemp("plans_run")
    results, yearly = _api_run(base)
    results.yearly = yearly
    results.plans = SimpleNamespace(by_year=_plans_by_year(), summary=_summary())
    write_outputs(results, {"folder": base / "out", "map": base / "map.html", "report": True},
                  title="plans")
    return base


def test_run_outputs_carry_the_plans(run_with_plans):
    out = run_with_plans / "out"
    report = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="plans"' in report and "Plans compared" in report
    table = pd.read_csv(out / "report_plans.csv").set_index("plan")
    # seat-years short, by hand: (current) West 30 + 30 + 40 + 40, East 20 x 4 = 220;
    # the plan: West 30 + 30 (then -80), East 80 -> 140
    assert table.loc["(current)", "shortfall_years"] == 220
    assert table.loc[PLAN, "shortfall_years"] == 140
    # child-years beyond: 50 in the (all) row each of 4 years
    assert table.loc[PLAN, "child_years_beyond"] == 200
    last = pd.read_csv(out / "report_plans_last_year.csv").set_index("district")
    assert last.loc["West", PLAN] == pytest.approx(1.5)
    assert last.loc["West", "(current)"] == pytest.approx(0.75)
    page = (run_with_plans / "map.html").read_text(encoding="utf-8")
    # one year control for the forecast's layers and the plans' (2026-2029)
    assert re.findall(r"GEyear\.control\(map_\w+, (\[[0-9, ]*\])", page) == [
        "[2026,2027,2028,2029]"]
    assert page.count("GEyear.register(") == 2 + 2   # children, seat gap; two plans


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_plan_layer_switches_and_its_popup_reads_right(offline_page, tmp_path, lang):
    from geoequity.maps import make_map, save_map
    from tests.test_yearly import _layers

    _, _, districts = _layers()
    path = save_map(make_map(districts=districts, plans=_plans_by_year(), lang=lang,
                             title="plans"), tmp_path / f"plans_{lang}.html")
    page = offline_page
    _open(page, path)
    layer = {"en": f"Seats per child: {PLAN}", "zh": f"生均学位：{PLAN}"}[lang]
    control = page.inner_text(".leaflet-control-layers")
    assert layer in control and control.count(PLAN) == 1
    page.locator(".leaflet-control-layers").get_by_text(layer, exact=True).click()
    cells = page.locator("path.ge-plan-1")
    assert cells.count() == 2                       # West, East
    assert page.get_attribute("body", "data-ge-year") == "2026"
    assert [cells.nth(i).get_attribute("fill") for i in range(2)] == ["#fddbc7", "#ef8a62"]
    page.fill(".ge-year-input", "2")
    page.dispatch_event(".ge-year-input", "input")
    assert page.get_attribute("body", "data-ge-year") == "2028"
    assert [cells.nth(i).get_attribute("fill") for i in range(2)] == ["#67a9cf", "#ef8a62"]
    legend = page.inner_text(".ge-legend")
    fair = {"en": "0.95 \u2013 < 1.05 (about one seat per child)",
            "zh": "0.95 \u2013 < 1.05 (约每生 1 个学位)"}[lang]
    assert fair in legend
    west = districts.to_crs(4326).loc["West"].geometry.centroid
    text = _click_latlng(page, west.y, west.x)
    lines = text.splitlines()
    assert lines[0] == f"{PLAN}: West"
    rows = dict(line.split("\t") for line in lines[1:])
    words = {"en": ("year", "seats per child", "children", "seats", "shortfall"),
             "zh": ("年份", "生均学位", "适龄儿童", "学位数", "学位缺口（儿童-学位）")}[lang]
    assert [rows[w] for w in words] == ["2028", "1.5", "160", "240", "-80"]
    page.screenshot(path=str(tmp_path / f"plans_map_{lang}.png"))
    assert page.console_errors == [] and page.blocked_requests == []


def test_plan_layer_follows_the_forecast_switch(run_with_plans, offline_page):
    """The run's map: moving the forecast's year control recolours the plan layer too."""
    page = offline_page
    _open(page, run_with_plans / "map.html")
    page.locator(".leaflet-control-layers").get_by_text(f"Seats per child: {PLAN}",
                                                        exact=True).click()
    west = page.locator("path.ge-plan-1").nth(0)
    assert west.get_attribute("fill") == "#fddbc7"    # 120 / 150 = 0.8 in 2026
    page.fill(".ge-year-input", "3")
    page.dispatch_event(".ge-year-input", "input")
    assert page.get_attribute("body", "data-ge-year") == "2029"
    assert west.get_attribute("fill") == "#67a9cf"    # 240 / 160 = 1.5 in 2029
    assert page.console_errors == []


def _tables() -> PlanTables:
    by_year = _plans_by_year()
    return PlanTables(by_year, summarise(by_year).merge(_summary(), on="plan"))


def _plan_schools(districts) -> pd.DataFrame:
    """A school the plan opens in West (its name with template braces) and one it closes in
    East, at the districts' centroids."""
    c = districts.geometry.centroid.to_crs(4326)
    return pd.DataFrame({"plan": [PLAN, PLAN], "action": ["open", "close"],
                         "school": ["N1", "E1"], "name": ["{{New}} West School", "East One"],
                         "year": [2028, 2029], "seats": [120.0, -60.0],
                         "merge_into": [None, None], "lon": [c["West"].x, c["East"].x],
                         "lat": [c["West"].y, c["East"].y]})


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_plan_layer_shows_its_schools(offline_page, tmp_path, lang):
    """Switching to the plan shows its new school (a star) and its closed one; the new
    school's popup names it, the change, its year and its seats; switching off hides them."""
    from geoequity.maps import make_map, save_map
    from tests.test_yearly import _layers

    _, _, districts = _layers()
    path = save_map(make_map(districts=districts, plans=_plans_by_year(), lang=lang,
                             plan_schools=_plan_schools(districts), title="plans"),
                    tmp_path / f"plan_schools_{lang}.html")
    page = offline_page
    _open(page, path)
    assert page.locator(".ge-plan-open").count() == 0          # the plan's layer is off
    layer = {"en": f"Seats per child: {PLAN}", "zh": f"生均学位：{PLAN}"}[lang]
    toggle = page.locator(".leaflet-control-layers").get_by_text(layer, exact=True)
    toggle.click()
    title = {"en": "Schools of the plan", "zh": "方案涉及的学校"}[lang]

    def shown(year: int) -> tuple[int, int]:
        page.fill(".ge-year-input", str(YEARS.index(year)))
        page.dispatch_event(".ge-year-input", "input")
        assert page.get_attribute("body", "data-ge-year") == str(year)
        return (page.locator(".ge-plan-open").count(), page.locator(".ge-plan-close").count())

    # a school shows from the year of its change on: opened in 2028, closed in 2029
    assert page.get_attribute("body", "data-ge-year") == "2026"
    assert page.locator(".ge-plan-school").count() == 0
    assert title not in page.inner_text(".ge-legend")        # no school of the plan shown
    assert shown(2027) == (0, 0)
    assert shown(2028) == (1, 0)
    assert title in page.inner_text(".ge-legend")
    assert shown(2029) == (1, 1)
    assert shown(2026) == (0, 0)
    assert shown(2029) == (1, 1)
    assert page.locator(".ge-plan-open").is_visible()
    assert page.locator(".ge-plan-close").is_visible()
    assert page.inner_text(".ge-plan-open .ge-site-badge") == "\u2605"
    page.locator(".ge-plan-open").click()
    page.wait_for_selector(".leaflet-popup-content", timeout=10_000)
    lines = page.inner_text(".leaflet-popup-content").splitlines()
    assert lines[0] == f"{PLAN}: {{{{New}}}} West School"
    rows = dict(line.split("\t") for line in lines[1:])
    words = {"en": ("change", "year", "seats added"), "zh": ("变化", "年份", "增加学位")}[lang]
    assert [rows[w] for w in words] == [{"en": "new school", "zh": "新建学校"}[lang], "2028",
                                        "120"]
    page.screenshot(path=str(tmp_path / f"plan_schools_{lang}.png"))
    page.keyboard.press("Escape")
    toggle.click()
    assert page.locator(".ge-plan-school").count() == 0
    assert title not in page.inner_text(".ge-legend")
    assert shown(2028) == (0, 0)                               # the plan stays off
    toggle.click()
    assert (page.locator(".ge-plan-open").count(), page.locator(".ge-plan-close").count()) \
        == (1, 0)
    assert page.console_errors == [] and page.blocked_requests == []


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_report_section_reads_right(offline_page, tmp_path, lang):
    path = tmp_path / f"report_{lang}.html"
    write_report(path, plans=_tables(), lang=lang, title="plans")
    page = offline_page
    page.goto(path.as_uri())
    section = page.locator("#plans")
    T = {"en": {"title": "Plans compared", "lead": "2 plans, each followed over 4 years "
                "(2026\u20132029).", "short": "Seat-years short",
                "last": "Seats per child by district in 2029",
                "best": "Best plan on each measure", "alike": "all plans alike",
                "current": "(current)"},
         "zh": {"title": "方案比较", "lead": "共 2 个方案，逐年评估 4 年（2026\u20132029 年）。",
                "short": "学位缺口年数",
                "last": "2029 年各片区生均学位", "best": "各项指标的最优方案",
                "alike": "各方案相同", "current": "现状"}}[lang]   # the current state in words
    assert section.locator("h2").inner_text() == T["title"]
    assert section.locator("p").inner_text().startswith(T["lead"])
    head = [c.inner_text() for c in section.locator("table.plans th").all()]
    assert T["short"] in head
    rows = {r.locator("td").nth(0).inner_text(): [c.inner_text() for c in r.locator("td").all()]
            for r in section.locator("table.plans tbody tr").all()}
    col = head.index(T["short"])
    assert rows[PLAN][col] == "140" and rows[T["current"]][col] == "220"
    # the worst district-year: (current) West 0.75 from 2028, East 0.75 every year: the
    # earlier year wins the tie -> East (2026); the plan: East (2026) too
    worst = head.index({"en": "Worst district (year)", "zh": "最差片区（年份）"}[lang])
    assert rows[T["current"]][worst] == "East (2026)" and rows[PLAN][worst] == "East (2026)"
    # best values in bold: the plan's seat-years, (current)'s Theil (0.10 < 0.12)
    best = [c.inner_text() for c in section.locator("table.plans td.best").all()]
    assert "140" in best and "0.10" in best and "0.20" in best   # Gini 0.20 < 0.30
    assert "0.75" not in best        # the worst seats per child: both plans alike
    cost = head.index({"en": "Cost", "zh": "费用"}[lang])
    assert rows[PLAN][cost] == "1,200,000"
    best_rows = {r.locator("td").nth(0).inner_text(): r.locator("td").nth(1).inner_text()
                 for r in section.locator("table.plans-best tbody tr").all()}
    assert best_rows[T["short"]] == PLAN
    assert T["alike"] in best_rows.values()
    assert section.locator("h3").nth(1).inner_text() == T["last"]
    last = {r.locator("td").nth(0).inner_text(): [c.inner_text() for c in r.locator("td").all()]
            for r in section.locator("table.plans-last tbody tr").all()}
    assert last["West"][1:] == ["0.75", "1.50"]
    section.screenshot(path=str(tmp_path / f"plans_report_{lang}.png"))


def test_report_without_plans_has_no_section(tmp_path):
    write_report(tmp_path / "r.html", plans=SimpleNamespace(by_year=None, summary=None))
    assert 'id="plans"' not in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_geometry_is_shared_once_for_all_plans():
    from geoequity.maps import make_map, map_html
    from tests.test_yearly import _layers

    _, _, districts = _layers()
    text = map_html(make_map(districts=districts, plans=_plans_by_year()))
    assert len(re.findall(r"var map_\w+_plan_geoms = ", text)) == 1


def test_map_and_report_outdir_draw_the_plans_again(run_with_plans, tmp_path):
    """`geoequity map OUTDIR` / `report OUTDIR` read plans_by_year.csv (the engine's table)."""
    from geoequity.cli import main

    out = tmp_path / "out"
    shutil.copytree(run_with_plans / "out", out)   # links and .geoequity/ kept
    _plans_by_year().assign(extra="x").to_csv(out / "plans_by_year.csv", index=False)
    from tests.test_yearly import _layers

    _plan_schools(_layers()[2]).to_csv(out / "plans_schools.csv", index=False)
    assert main(["-q", "map", str(out), "-o", str(tmp_path / "again.html")]) == 0
    page = (tmp_path / "again.html").read_text(encoding="utf-8")
    # the schools of plans_schools.csv: one marker layer per action, the name as JSON data
    assert page.count('"cls":"ge-site ge-plan-school ge-plan-open"') == 1
    assert page.count('"cls":"ge-site ge-plan-school ge-plan-close"') == 1
    assert "{{New}} West School" in page
    assert page.count("GEyear.register(") == 2 + 2
    assert html.escape(f"Seats per child: {PLAN}") in page
    assert main(["-q", "report", str(out), "-o", str(tmp_path / "r" / "report.html")]) == 0
    table = pd.read_csv(tmp_path / "r" / "report_plans.csv").set_index("plan")
    assert table.loc[PLAN, "shortfall_years"] == 140       # by hand, as above
    assert table.loc["(current)", "shortfall_years"] == 220


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_plans_map_title_stays_clear_and_current_reads_in_its_language(offline_page, tmp_path,
                                                                        lang):
    """The wide layer control (long plan names) and the year switch leave the title free; the
    current state's layer is named in the map's language (its data value stays ``(current)``).
    """
    from geoequity.maps import make_map, save_map
    from tests.test_map_reading import _BOXES, _rect_overlap
    from tests.test_yearly import _layers

    _, _, districts = _layers()
    by_year = _plans_by_year()
    long_name = "expand the two Dongxin schools and close Old Town Central"
    by_year = pd.concat([by_year, by_year[by_year["plan"] == PLAN].assign(plan=long_name)])
    title = "Demo County (synthetic): three school plans over the next ten years"
    path = save_map(make_map(districts=districts, plans=by_year, lang=lang, title=title),
                    tmp_path / f"plans_title_{lang}.html")
    page = offline_page
    _open(page, path)
    box = page.evaluate(_BOXES)
    assert not _rect_overlap(box["title"], box["control"])
    for corner in page.locator(".leaflet-top.leaflet-left > *").all():
        q, c = corner.bounding_box(), page.locator(".leaflet-container").bounding_box()
        rect = {"left": q["x"] - c["x"], "top": q["y"] - c["y"],
                "right": q["x"] - c["x"] + q["width"], "bottom": q["y"] - c["y"] + q["height"]}
        assert not _rect_overlap(box["title"], rect)
    assert page.inner_text(".ge-title-main").replace("\n", " ") == title
    current = {"en": "Seats per child: (current)", "zh": "生均学位：（现状）"}[lang]
    control = page.inner_text(".leaflet-control-layers")
    assert current in control
    if lang == "zh":
        assert "(current)" not in control
    page.locator(".leaflet-control-layers").get_by_text(current, exact=True).click()
    assert current.split("：")[-1] in page.inner_text(".ge-legend")
    west = districts.to_crs(4326).loc["West"].geometry.centroid
    head = _click_latlng(page, west.y, west.x).splitlines()[0]
    assert head == {"en": "(current): West", "zh": "（现状）: West"}[lang]
    page.screenshot(path=str(tmp_path / f"plans_title_{lang}.png"))
    assert page.console_errors == [] and page.blocked_requests == []
