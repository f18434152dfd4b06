"""What a planner reads in the report and the run's headline (issue #16 item 4): no district
sections without districts, one rounding rule per kind of number, no metric twice, failing
schools named alike by a run and by ``geoequity report``, headlines that cannot mislead, and
CSV / summary.json values without float residues."""

from __future__ import annotations

import io
import json
import re
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoequity.report import write_report


def _cells(district: list[str], *, access=None, cost=None) -> gpd.GeoDataFrame:
    n = len(district)
    return gpd.GeoDataFrame({
        "children": [84.03, 15.97, 100.0, 50.5][:n],
        "access": access if access is not None else [0.5, np.nan, 1.25, 2.0][:n],
        "nearest_cost": cost if cost is not None else [400.0, 1500.0, 200.0, 100.0][:n],
        "unassigned": [10.4, 15.97, 0.0, 0.0][:n],
        "district": district,
    }, geometry=shapely.points(np.arange(n) * 500.0, np.zeros(n)), crs=32650)


def _cells_text(out) -> str:
    return re.sub(r"\s+", " ", out.html.read_text(encoding="utf-8"))


def test_no_district_sections_without_districts(tmp_path):
    cells = _cells(["(outside)"] * 4)
    schools = pd.DataFrame({"seats": [100.0], "district": ["(outside)"]}, index=["s1"])
    out = write_report(tmp_path / "r.html", cells=cells, schools=schools, threshold=1000)
    html = out.html.read_text(encoding="utf-8")
    assert 'id="districts"' not in html and 'id="bars"' not in html
    assert "(outside)" not in html
    assert "district" not in set(out.tables.get("theil", pd.DataFrame({"grouping": []}))
                                 ["grouping"])
    with_districts = write_report(tmp_path / "d.html", cells=_cells(["A", "A", "B", "B"]),
                                  threshold=1000)
    assert 'id="districts"' in with_districts.html.read_text(encoding="utf-8")


def test_one_rounding_rule_per_kind_and_one_share(tmp_path):
    # access NaN exactly where the nearest school is beyond 1,000 m: the two shares agree
    out = write_report(tmp_path / "r.html", cells=_cells(["A", "A", "B", "B"]),
                       schools=pd.DataFrame({"seats": [90.0, 60.0], "district": ["A", "B"]},
                                            index=["s1", "s2"]), threshold=1000)
    d = out.tables["districts"].set_index("district")
    row = re.search(r"<tr><td class=\"t\">A</td>(.*?)</tr>",
                    out.html.read_text(encoding="utf-8")).group(1)
    cells = re.findall(r"<td>(.*?)</td>", row)
    # district A: children 84.03 + 15.97 = 100 (count: integer); seats 90 -> 0.90 per child
    # (ratio: 2 decimals); 15.97 of 100 beyond 1 km (share: 16.0%); unassigned 26.37 -> 26
    assert d.loc["A", "children"] == 100.0
    assert "100" in cells and "0.90" in cells and "16.0%" in cells and "26" in cells
    assert "26.37" not in row and "0.9<" not in row
    text = _cells_text(out)
    assert "Share with no school reachable" not in text          # the same figure twice
    assert "the access measure counts only schools within the threshold" in text
    assert "Children beyond 1,000 m" in text
    # where they differ (access given although the nearest school is beyond), both, explained
    out2 = write_report(tmp_path / "r2.html", threshold=1000, cells=_cells(
        ["A", "A", "B", "B"], access=[0.5, 0.3, 1.25, 2.0]))
    text2 = _cells_text(out2)
    assert "Share with no school reachable" in text2 and "Two shares" in text2


def test_failing_schools_named_alike_by_run_and_cli(tmp_path):
    from geoequity.cli import main

    schools = pd.DataFrame({
        "school_id": ["P1", "P2", "P3"], "name": ["North", "South", "Village"],
        "level": ["primary"] * 3, "seats": [900.0, 600.0, 300.0],
        "enrolment": [800, 620, 1200], "teachers": [48, 35, 6], "books": [24000, 18000, 1200],
        "computers": [80, 60, 1]}).set_index("school_id", drop=False)
    run = write_report(tmp_path / "run.html", schools=schools)
    fs = run.tables["failing_schools"]
    assert list(fs.columns[:2]) == ["school", "name"]
    assert ("P3", "Village") in set(zip(fs["school"], fs["name"], strict=True))
    folder = tmp_path / "out"
    folder.mkdir()
    schools.to_csv(folder / "schools.csv", index=False)
    assert main(["-q", "report", str(folder), "-o", str(tmp_path / "cli.html")]) == 0
    cli = pd.read_csv(tmp_path / "cli_failing_schools.csv", encoding="utf-8-sig")
    assert cli[["school", "name"]].values.tolist() == fs[["school", "name"]].values.tolist()


def test_headline_one_district_and_twin_schools():
    from geoequity.cli.run import print_summary

    summary = {"children": 300.0, "seats": 900.0, "seats_per_child": 3.0, "threshold": 500,
               "children_beyond_threshold": 0.0}
    one = pd.DataFrame({"district": ["A", "(all)"], "children": [300.0, 300.0],
                        "seats_per_child": [3.0, 3.0], "shortfall": [-600.0, -600.0]})
    # a primary and a junior school at one address (the assignment split their children
    # arbitrarily), and a lone school
    schools = gpd.GeoDataFrame({"name": ["Twin Primary", "Twin Junior", "Lone"],
                                "seats": [400.0, 200.0, 300.0],
                                "utilisation": [0.2, 1.0, 0.5]},
                               geometry=shapely.points([0.0, 0.3, 900.0], [0.0, 0.0, 0.0]),
                               crs=32650, index=["t1", "t2", "l1"])
    buf = io.StringIO()
    print_summary(SimpleNamespace(summary=summary, district_table=one, schools=schools), buf)
    text = buf.getvalue()
    assert "fewest seats per child" not in text          # one district compares with nothing
    # twins together: (0.2 * 400 + 1.0 * 200) / 600 = 280 / 600 = 47 %
    assert "under-used school site: Twin Primary + Twin Junior (47% of 600 seats used)" in text
    assert "under-used school: Lone (50% of 300 seats used)" in text
    assert "Twin Primary (20%" not in text


def test_csv_and_summary_without_float_residues(tmp_path):
    from geoequity.io import write_table
    from geoequity.outputs import _json_safe

    df = pd.DataFrame({"id": [1, 2, 3], "x": [0.1 + 0.2, 26791.359982795715, 2.2e-16],
                       "n": [3, 4, 5], "big": [6152000.0, 1.8378e13 + 0.3, 0.00012345678912]})
    text = write_table(df, tmp_path / "t.csv").read_text()
    assert text.splitlines() == ["id,x,n,big", "1,0.3,3,6152000.0",
                                 "2,26791.35998,4,18378000000000.0", "3,0.0,5,0.0001234567891"]
    assert json.loads(json.dumps(_json_safe({"a": 0.1 + 0.2, "b": [1 - 1e-13, -3e-14],
                                             "c": 7}))) == {"a": 0.3, "b": [1.0, 0.0], "c": 7}
