"""Year-on-year monitoring: run folders and school tables stacked into trend.csv."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from geoequity import InputError
from geoequity.trend import YearSource, build_trend, gap_changes


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "geoequity", *args], capture_output=True,
                          text=True, cwd=cwd)


def _run_folder(path, *, gini, share, spc, seats_per_child_all, year=None):
    """A hand-made finished run: two districts A and B."""
    path.mkdir()
    summary = {"seats_per_child": seats_per_child_all, "seats": 100.0,
               "children_beyond_threshold": 10.0, "title": "t"}
    if year is not None:
        summary["year"] = year
    (path / "summary.json").write_text(json.dumps(summary))
    pd.DataFrame({"grouping": ["all", "district", "district"], "group": ["all", "A", "B"],
                  "children": [100, 60, 40], "gini": gini, "share_beyond": share}
                 ).to_csv(path / "equity.csv", index=False)
    pd.DataFrame({"district": ["A", "B", "(all)"], "seats_per_child": spc,
                  "children": [60, 40, 100]}).to_csv(path / "districts.csv", index=False)
    pd.DataFrame({"district": ["all"], "level": ["primary"], "indicator": ["books_per_student"],
                  "mean": [6.0], "cv": [0.5]}).to_csv(path / "report_balance_cv.csv",
                                                      index=False, encoding="utf-8-sig")


@pytest.fixture()
def runs(tmp_path):
    _run_folder(tmp_path / "county_2024", gini=[0.30, 0.20, 0.25], share=[0.2, 0.1, 0.35],
                spc=[1.2, 0.6, 0.96], seats_per_child_all=0.96)
    _run_folder(tmp_path / "county_2025", gini=[0.25, 0.22, 0.20], share=[0.25, 0.2, 0.3],
                spc=[1.1, 0.8, 0.98], seats_per_child_all=0.98)
    return tmp_path


def test_runs_give_the_long_table(runs):
    t = build_trend([(2025, runs / "county_2025"), (2024, runs / "county_2024")])
    assert list(t.columns) == ["year", "scope", "name", "indicator", "value", "change",
                               "narrowed"]
    ix = t.set_index(["year", "scope", "name", "indicator"])
    # county Gini 0.30 -> 0.25: change -0.05, narrowed
    assert ix.loc[(2025, "county", "all", "gini"), "change"] == pytest.approx(-0.05)
    assert bool(ix.loc[(2025, "county", "all", "gini"), "narrowed"]) is True
    # county share beyond 0.2 -> 0.25: widened
    assert bool(ix.loc[(2025, "county", "all", "share_beyond"), "narrowed"]) is False
    # seats per child is a level, not a gap: no flag; its spread between districts is a gap:
    # 1.2 - 0.6 = 0.6 in 2024, 1.1 - 0.8 = 0.3 in 2025
    assert pd.isna(ix.loc[(2025, "district", "A", "seats_per_child"), "narrowed"])
    rng = ix.loc[(slice(None), "county", "(district range)", "seats_per_child"), "value"]
    assert rng.tolist() == pytest.approx([0.6, 0.3])
    assert bool(ix.loc[(2025, "county", "(district range)", "seats_per_child"),
                       "narrowed"]) is True
    # no range of counts (children)
    assert not ((t["name"] == "(district range)") & (t["indicator"] == "children")).any()
    # balance CVs from report_balance_cv.csv, first year has no change
    assert ix.loc[(2024, "county", "all", "cv.primary.books_per_student"), "value"] == 0.5
    assert pd.isna(ix.loc[(2024, "county", "all", "gini"), "change"])
    ch = gap_changes(t).set_index(["name", "indicator"])
    assert ch.loc[("all", "gini"), "verdict"] == "narrowed"
    assert ch.loc[("all", "share_beyond"), "verdict"] == "widened"
    assert ch.loc[("all", "cv.primary.books_per_student"), "verdict"] == "unchanged"


def _cv(x, w):
    mu = sum(a * b for a, b in zip(x, w)) / sum(w)
    return (sum(b * (a - mu) ** 2 for a, b in zip(x, w)) / sum(w)) ** 0.5 / mu


def test_school_tables_by_year_column(tmp_path):
    enrol = [45, 37, 89, 76, 55]
    books24 = [279, 137, 935, 160, 402]          # the 2012 official worked example: CV 0.515
    books25 = [279, 200, 935, 400, 402]
    df = pd.DataFrame({"year": [2024] * 5 + [2025] * 5, "level": "primary",
                       "enrolment": enrol * 2, "books": books24 + books25,
                       "county": ["A", "A", "B", "B", "B"] * 2})
    f = tmp_path / "schools.csv"
    df.to_csv(f, index=False)
    t = build_trend([YearSource(0, f)], year_col="year", district_col="county")
    ix = t.set_index(["year", "scope", "name", "indicator"])["value"]
    key = "cv.primary.books_per_student"
    assert ix[(2024, "county", "all", key)] == pytest.approx(0.515, abs=5e-4)
    cv25 = _cv([b / e for b, e in zip(books25, enrol)], enrol)
    assert ix[(2025, "county", "all", key)] == pytest.approx(cv25)
    cv_a = _cv([279 / 45, 137 / 37], [45, 37])
    assert ix[(2024, "district", "A", key)] == pytest.approx(cv_a)
    # the same as two tables, one a year, through the command line
    for y in (2024, 2025):
        df[df["year"] == y].drop(columns="year").to_csv(tmp_path / f"schools_{y}.csv",
                                                        index=False)
    p = _cli("trend", str(tmp_path / "schools_2024.csv"), str(tmp_path / "schools_2025.csv"),
             "--district", "county", "-o", str(tmp_path / "trend.csv"))
    assert p.returncode == 0, p.stderr
    cli = pd.read_csv(tmp_path / "trend.csv", encoding="utf-8-sig")
    pd.testing.assert_frame_equal(cli[["year", "scope", "name", "indicator", "value"]],
                                  t[["year", "scope", "name", "indicator", "value"]],
                                  check_dtype=False)


def test_cli_runs_years_from_names_and_report(runs):
    out = runs / "trend.csv"
    p = _cli("trend", str(runs / "county_2024"), str(runs / "county_2025"), "-o", str(out),
             "--html", str(runs / "trend.html"), "--lang", "zh")
    assert p.returncode == 0, p.stderr
    assert "narrowed" in p.stdout
    api = build_trend([(2024, runs / "county_2024"), (2025, runs / "county_2025")])
    cli = pd.read_csv(out, encoding="utf-8-sig")
    assert cli["value"].tolist() == pytest.approx(api["value"].tolist())
    html = (runs / "trend.html").read_text(encoding="utf-8")
    assert "年度监测" in html and "缩小" in html and 'class="chart lines"' in html


@pytest.mark.parametrize("make_args, words", [
    (lambda r: [str(r / "county_2024"), str(r / "county_2025"), "--years", "2024,2024"],
     "year 2024 repeats"),
    (lambda r: [str(r / "county_2024"), str(r / "county_2025"), "--years", "2024"],
     "not one whole year per input"),
    (lambda r: [str(r / "county_2024"), str(r / "noyear")], "has no year"),
    (lambda r: [str(r / "county_2024"), str(r / "gone_2026")], "not found"),
])
def test_cli_bad_input(runs, make_args, words):
    (runs / "noyear").mkdir()
    p = _cli("trend", *make_args(runs), "-o", str(runs / "t.csv"))
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and words in p.stderr, p.stderr


def test_year_from_summary_and_repeat_names_both(runs, tmp_path):
    _run_folder(tmp_path / "other", gini=[0.3, 0.2, 0.2], share=[0.1, 0.1, 0.1],
                spc=[1, 1, 1], seats_per_child_all=1.0, year=2024)
    with pytest.raises(InputError, match="year 2024 repeats"):
        build_trend([YearSource(2024, runs / "county_2024"),
                     YearSource(2024, tmp_path / "other", "scenario.toml")])
    from geoequity.trend import year_of

    assert year_of(tmp_path / "other") == 2024
    assert year_of(runs / "county_2025") == 2025


def test_scenario_years_parity_with_cli_and_api(runs, tmp_path):
    """[[years]] in a scenario writes the same trend.csv as the command line and the API."""
    import geopandas as gpd
    from shapely.geometry import Point

    import geoequity as ge

    gpd.GeoDataFrame({"sid": ["A"], "seats": [10]}, geometry=[Point(0, 0)],
                     crs=32650).to_file(tmp_path / "schools.gpkg")
    gpd.GeoDataFrame({"cid": ["a"], "kids": [10]}, geometry=[Point(100, 0)],
                     crs=32650).to_file(tmp_path / "cells.gpkg")
    toml = tmp_path / "s.toml"
    toml.write_text(f"""
[schools]
path = "schools.gpkg"
id = "sid"
seats = "seats"
[population]
path = "cells.gpkg"
id = "cid"
count = "kids"
[analysis]
threshold = 600
[outputs]
folder = "out"
map = "map.html"
report = true
[[years]]
year = 2025
run = "{(runs / 'county_2025').as_posix()}"
[[years]]
year = 2024
run = "{(runs / 'county_2024').as_posix()}"
""", encoding="utf-8")
    ge.run_scenario(toml)
    scen = pd.read_csv(tmp_path / "out" / "trend.csv", encoding="utf-8-sig")
    p = _cli("trend", str(runs / "county_2024"), str(runs / "county_2025"), "-o",
             str(tmp_path / "cli.csv"))
    assert p.returncode == 0, p.stderr
    cli = pd.read_csv(tmp_path / "cli.csv", encoding="utf-8-sig")
    api = build_trend([(2024, runs / "county_2024"), (2025, runs / "county_2025")])
    pd.testing.assert_frame_equal(scen, cli)
    assert scen["value"].tolist() == pytest.approx(api["value"].tolist())
    assert 'id="trend"' in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("entries, words", [
    ('[[years]]\nyear = 2024\nrun = "a"\n[[years]]\nyear = 2024\nrun = "b"\n',
     "entries 1 and 2 both give year 2024"),
    ('[[years]]\nyear = 2024\n', "needs one of run or schools"),
    ('[[years]]\nyear = 2024\nrun = "a"\nschool = "x.csv"\n',
     "unknown key 'school' in [years]; did you mean 'schools'?"),
    ('[[years]]\nyear = "2024"\nrun = "a"\n', "year = '2024' should be int"),
    ('[[years]]\nyear = 2024\nrun = "a"\ndistrict = "county"\n', "district is for school"),
])
def test_scenario_years_bad_input(tmp_path, entries, words):
    from geoequity.scenario import load_scenario

    toml = tmp_path / "s.toml"
    toml.write_text('[schools]\npath = "s.csv"\n[population]\npath = "c.csv"\n'
                    "[analysis]\nthreshold = 500\n" + entries, encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_scenario(toml)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_cli_column_flags_spelled_either_way(tmp_path, capsys):
    """`trend --district-col/--level-col` (as `equity` and `report` spell them) and the older
    `--district/--level` read the same columns: the 2012 worked example's CV 0.515 both ways."""
    from geoequity.cli import main

    enrol, books = [45, 37, 89, 76, 55], [279, 137, 935, 160, 402]
    for y in (2024, 2025):
        pd.DataFrame({"lvl": "primary", "enrolment": enrol, "books": books,
                      "cnty": ["A", "A", "B", "B", "B"]}).to_csv(tmp_path / f"s_{y}.csv",
                                                                 index=False)
    got = []
    for flags in (["--district-col", "cnty", "--level-col", "lvl"],
                  ["--district", "cnty", "--level", "lvl"]):
        out = tmp_path / f"t{len(got)}.csv"
        assert main(["trend", str(tmp_path / "s_2024.csv"), str(tmp_path / "s_2025.csv"),
                     *flags, "-o", str(out)]) == 0
        got.append(pd.read_csv(out, encoding="utf-8-sig"))
    pd.testing.assert_frame_equal(got[0], got[1])
    ix = got[0].set_index(["year", "scope", "name", "indicator"])["value"]
    assert ix[(2024, "county", "all", "cv.primary.books_per_student")] == pytest.approx(
        0.515, abs=5e-4)
    assert {"A", "B"} <= set(got[0]["name"])   # the districts came from cnty
    capsys.readouterr()
    # one year column splits one table: the message names the option as each door has it
    assert main(["trend", str(tmp_path / "s_2024.csv"), str(tmp_path / "s_2025.csv"),
                 "--year-col", "year", "-o", str(tmp_path / "t.csv")]) == 2
    assert capsys.readouterr().err == (
        "geoequity: error: --year-col: a year column splits one school table; give one school "
        "table with --year-col, or one input per year\n")
    with pytest.raises(InputError, match="^year_col: a year column splits one school table; "
                       "give one school table with year_col, or one"):
        build_trend([YearSource(0, tmp_path / "s_2024.csv"), YearSource(0, tmp_path /
                                                                          "s_2025.csv")],
                    year_col="year")


def test_cli_enrolment_column_spelled_either_way(tmp_path):
    """`trend --enrolment-col` (as --level-col is spelled) and the older `--enrolment` read
    the same students column: the 2012 worked example's CV 0.515 both ways."""
    from geoequity.cli import main

    enrol, books = [45, 37, 89, 76, 55], [279, 137, 935, 160, 402]
    for y in (2024, 2025):
        pd.DataFrame({"level": "primary", "pupils": enrol, "books": books}).to_csv(
            tmp_path / f"s_{y}.csv", index=False)
    got = []
    for flag in ("--enrolment-col", "--enrolment"):
        out = tmp_path / f"t{len(got)}.csv"
        assert main(["trend", str(tmp_path / "s_2024.csv"), str(tmp_path / "s_2025.csv"),
                     flag, "pupils", "-o", str(out)]) == 0
        got.append(pd.read_csv(out, encoding="utf-8-sig"))
    pd.testing.assert_frame_equal(got[0], got[1])
    ix = got[0].set_index(["year", "scope", "name", "indicator"])["value"]
    for year in (2024, 2025):
        assert ix[(year, "county", "all", "cv.primary.books_per_student")] == pytest.approx(
            0.515, abs=5e-4)
