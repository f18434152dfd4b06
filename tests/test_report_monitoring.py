"""Report sections of #18: year-on-year monitoring, composite level, resources by group.

Rendered offline in Chromium in English and Chinese; screenshots of the new sections are kept
in the test's tmp folder (and in GEOEQUITY_SHOTS when set, for a person to look at).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from geoequity.report import write_report
from geoequity.trend import build_trend
from tests.test_report import inputs  # noqa: F401  (the shared fixture)
from tests.test_trend import _run_folder


@pytest.fixture()
def trend(tmp_path):
    _run_folder(tmp_path / "c2023", gini=[0.32, 0.20, 0.25], share=[0.3, 0.1, 0.35],
                spc=[1.3, 0.6, 0.9], seats_per_child_all=0.9)
    _run_folder(tmp_path / "c2024", gini=[0.30, 0.20, 0.25], share=[0.2, 0.1, 0.35],
                spc=[1.2, 0.6, 0.96], seats_per_child_all=0.96)
    _run_folder(tmp_path / "c2025", gini=[0.25, 0.22, 0.20], share=[0.25, 0.2, 0.3],
                spc=[1.1, 0.8, 0.98], seats_per_child_all=0.98)
    return build_trend([(y, tmp_path / f"c{y}") for y in (2023, 2024, 2025)])


def _shot(page, selector, path: Path) -> None:
    page.locator(selector).screenshot(path=str(path))
    assert path.stat().st_size > 5_000
    keep = os.environ.get("GEOEQUITY_SHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / path.name).write_bytes(path.read_bytes())


@pytest.mark.parametrize("lang, words", [
    ("en", ("Year-on-year monitoring", "narrowed from 0.3 in 2023 to 0.25 in 2025",
            "Composite equalization level by district", "School resources by Urban / rural")),
    ("zh", ("年度监测", "由2023年的0.3缩小至2025年的0.25", "各片区均衡发展综合水平",
            "分城乡办学资源")),
])
def test_new_sections_render(tmp_path, inputs, trend, offline_page, lang, words):  # noqa: F811
    cells, schools = inputs
    schools = schools.assign(funding=[8e6, 5e6, 6e6, 9e6, 4e6, 7e6],
                             urban=["urban centre", "urban centre", "rural", "urban centre",
                                    "urban centre", "rural"])
    out = write_report(tmp_path / f"{lang}.html", cells=cells, schools=schools,
                       threshold=1000, lang=lang, trend=trend)
    page = offline_page
    page.goto(out.html.as_uri())
    page.wait_for_load_state("load")
    assert page.blocked_requests == [] and page.console_errors == []
    body = page.inner_text("body")
    for w in words:
        assert w in body
    # one line chart per county figure present (gini, share_beyond, seats_per_child), each
    # with the county and districts A and B
    assert page.locator("#trend svg.lines").count() == 3
    assert page.locator("#trend svg.lines").first.locator("polyline.series").count() == 3
    # composite: one row per district, ranks 1..3
    ranks = page.locator("table.composite tbody tr td:first-child").all_inner_texts()
    assert sorted(ranks) == ["1", "2", "3"]
    assert set(out.tables) >= {"trend", "composite", "composite_sensitivity",
                               "resource_groups"}
    csv = pd.read_csv(tmp_path / f"{lang}_composite.csv", encoding="utf-8-sig")
    assert len(csv) == 3
    for sel, name in (("#trend", "trend"), ("#composite", "composite"),
                      ("#resource-groups", "groups")):
        _shot(page, sel, tmp_path / f"{name}_{lang}.png")


def test_chinese_years_and_monitoring_sections_say_pianqu(tmp_path, trend):
    """A district is 片区 in the whole zh report, the over-the-years section (forecast) and the
    year-on-year monitoring included: no 学区 (a school's catchment, not a district)."""
    by_year = pd.DataFrame({"year": [2026, 2026, 2027, 2027],
                            "district": ["West", "(all)", "West", "(all)"],
                            "children": [100.0, 100.0, 125.0, 125.0],
                            "seats": [110.0, 110.0, 110.0, 110.0]})
    by_year["seats_per_child"] = by_year["seats"] / by_year["children"]
    by_year["shortfall"] = (by_year["children"] - by_year["seats"]).clip(lower=0)
    out = write_report(tmp_path / "zh.html", by_year=by_year, trend=trend, lang="zh",
                       csv=False)
    html = out.html.read_text(encoding="utf-8")
    years = html[html.index('<section id="years">'):]
    years = years[:years.index("</section>")]
    assert "各片区生均学位数" in years and "片区首次儿童多于学位的年份" in years
    assert years[years.index("<thead>"):].startswith("<thead><tr><th>片区</th>")
    # West: 125 children for 110 seats in 2027, the first year short
    assert "<tr><td>West</td><td>2027</td><td>0.88</td><td>15</td></tr>" in years
    assert "年度监测" in html and "学区" not in html
