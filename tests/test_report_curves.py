"""The report without cells: from the equity tables and the Lorenz curves computed elsewhere
(``write_report(cells=None, equity=, theil=, lorenz=)``, what a cluster run whose cells stay
on its workers gives), the same page and tables as from the cells.

The curves are computed here with :func:`geoequity.equity.lorenz_curve` on the cells the
test picks itself (access of 0 or more, children above 0), whole: the report keeps its
2,001 points of them. The reference is the report written from the cells.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import geoequity as ge
from geoequity.equity import lorenz_curve, spatial_equity
from geoequity.outputs import _write_report
from geoequity.report import ALL_CHILDREN, LORENZ_POINTS, lorenz_rows, write_report

from _cases import demo_scenario

STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")


def _curve(cells: pd.DataFrame) -> pd.DataFrame | None:
    a = cells["access"].to_numpy(float)
    w = np.nan_to_num(cells["children"].to_numpy(float))
    ok = np.isfinite(a) & (a >= 0) & (w > 0)
    return lorenz_curve(a[ok], w[ok]) if ok.any() else None


def _curves(cells: pd.DataFrame, urban: str = "urban") -> dict:
    out = {ALL_CHILDREN: _curve(cells)}
    if urban in cells:
        for lab in cells[urban].dropna().astype(str).unique():
            out[lab] = _curve(cells[cells[urban].astype(str) == lab])
    return out


def _page(path: Path) -> str:
    return STAMP.sub("STAMP", path.read_text(encoding="utf-8"))


def _same_outputs(a: list[Path], b: list[Path]) -> None:
    assert [p.name for p in a] == [p.name for p in b]
    assert any(p.name.endswith("_lorenz.csv") for p in a)
    for x, y in zip(a, b, strict=True):
        if x.suffix == ".html":
            assert _page(x) == _page(y)
        else:
            assert x.read_bytes() == y.read_bytes(), x.name


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rcurves")
    path = demo_scenario(tmp)
    text = re.sub(r"\[network\][^\[]*", "[network]\neuclidean = true\n\n",
                  path.read_text(encoding="utf-8"))
    path.write_text(text, encoding="utf-8")
    with ge.quiet():
        return ge.run_scenario(path)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_run_report_from_curves_equals_from_cells(run, tmp_path, lang):
    settings = dataclasses.replace(run.settings, lang=lang)
    assert "unassigned" in run.cells and "urban" in run.cells
    n_valid = int(((run.cells["access"] >= 0) & (run.cells["children"] > 0)).sum())
    assert n_valid + 1 > LORENZ_POINTS   # the report thins the whole curve
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ref = _write_report(run, tmp_path / "a" / "report.html", settings)
    bare = copy.copy(run)   # a cluster run's results: no cells, the curves computed elsewhere
    bare.cells = None
    bare.lorenz = _curves(run.cells)
    got = _write_report(bare, tmp_path / "b" / "report.html", settings)
    _same_outputs(ref, got)
    page = _page(got[0])
    assert 'id="lorenz"' in page and page.count('class="curve"') == 1 + run.cells[
        "urban"].nunique()
    lorenz = pd.read_csv(tmp_path / "b" / "report_lorenz.csv", encoding="utf-8-sig")
    assert lorenz.groupby("curve").size().max() == LORENZ_POINTS


def _hand_cells(districts: bool) -> gpd.GeoDataFrame:
    """Seven cells: two urban with access, a rural one with NaN access, one with negative
    access (left out), one without children, one without an urban class, and a town whose
    only cell has no children (no curve)."""
    access = [1.0, 3.0, np.nan, -1.0, 2.0, 4.0, 5.0]
    children = [1.0, 1.0, 5.0, 2.0, 0.0, 2.0, 0.0]
    urban = ["urban", "urban", "rural", "rural", "rural", None, "town"]
    district = (["A", "A", "B", "B", "B", "A", "B"] if districts else ["(outside)"] * 7)
    return gpd.GeoDataFrame({
        "children": children, "access": access, "nearest_cost": [100.0, 300, 900, 50, 20,
                                                                 700, 400],
        "urban": urban, "district": district},
        index=pd.Index([f"c{i}" for i in range(7)], name="cell"),
        geometry=[shapely.box(i * 100, 0, i * 100 + 100, 100) for i in range(7)], crs=32650)


@pytest.mark.parametrize("districts", [True, False])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_hand_case_report_from_curves_equals_from_cells(tmp_path, districts, lang):
    cells = _hand_cells(districts)
    schools = gpd.GeoDataFrame({"seats": [3.0, 4.0],
                                "district": ["A", "B"] if districts else ["(outside)"] * 2},
                               geometry=shapely.points([50, 450], [50, 50]), crs=32650)
    kw = dict(schools=schools, threshold=500, lang=lang, cost_col="nearest_cost")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ref = write_report(tmp_path / "a" / "r.html", cells=cells, **kw)
    eq, th = spatial_equity(cells, children_col="children", access_col="access",
                            cost_col="nearest_cost", gap_col=None,
                            groups=["district", "urban"], threshold=500)
    got = write_report(tmp_path / "b" / "r.html", cells=None, equity=eq, theil=th,
                       lorenz=_curves(cells), **kw)
    _same_outputs([ref.html, *ref.csv.values()], [got.html, *got.csv.values()])
    keyed = _curves(cells)   # all children keyed None, as equity.lorenz_of keys it
    keyed = {None: keyed.pop(ALL_CHILDREN), **keyed}
    (tmp_path / "c").mkdir()
    none = write_report(tmp_path / "c" / "r.html", cells=None, equity=eq, theil=th,
                        lorenz=keyed, **kw)
    _same_outputs([ref.html, *ref.csv.values()], [none.html, *none.csv.values()])
    # by hand: all children: access 1 and 3, one child each (c0, c1; c5 has no class but
    # counts: access 4, two children): shares of children 1/4, 2/4, 4/4 and of access
    # 1/12, 4/12, 12/12
    lorenz = ref.tables["lorenz"]
    first = lorenz[lorenz["curve"] == lorenz["curve"].iloc[0]]
    assert np.allclose(first["population_share"], [0, 0.25, 0.5, 1.0])
    assert np.allclose(first["value_share"], [0, 1 / 12, 4 / 12, 1.0])
    # urban: 1 and 3, one child each; rural: no cell left (NaN, negative, no children);
    # town: no children: two curves
    assert lorenz["curve"].nunique() == 2
    urban = lorenz[lorenz["curve"] == lorenz["curve"].iloc[-1]]
    assert np.allclose(urban["value_share"], [0, 0.25, 1.0])
    if not districts:
        assert "districts" not in ref.tables


def test_lorenz_rows_keep_the_ends_and_2001_points():
    assert list(lorenz_rows(3)) == [0, 1, 2]
    assert list(lorenz_rows(2001)) == list(range(2001))
    rows = lorenz_rows(4001)   # every other point: 0, 2, ..., 4000
    assert list(rows) == list(range(0, 4001, 2))
    rows = lorenz_rows(10**6)
    assert len(rows) == 2001 and rows[0] == 0 and rows[-1] == 10**6 - 1
