"""``geoequity compare`` and :mod:`geoequity.plan_compare`: run folders compared as plans.

Fixture folders are written by hand here (summary.json, districts.csv, districts_by_year.csv,
plans tables of the contract with the plans engine), so every expected figure is worked out in
the comments; two real demo runs with different thresholds are checked against their own
districts.csv, read independently with the csv module.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geoequity.cli import main
from geoequity.plan_compare import BY_YEAR_COLUMNS, SUMMARY_COLUMNS, best_plans, compare_runs
from tests.conftest import REPO

HEAD = "district,children,seats,seats_per_child,shortfall,children_beyond,share_beyond," \
       "mean_nearest_cost\n"


def _row(d, children, seats, beyond, cost=900.0, year=None):
    y = "" if year is None else f"{year},"
    return (f"{d},{y}{children},{seats},{seats / children},{children - seats},{beyond},"
            f"{beyond / children},{cost}\n")


def _run(folder: Path, rows: list[tuple], *, year=None, gini=None, theil=None,
         balance=None, title="t") -> Path:
    """A finished run folder: summary.json, districts.csv (+ equity/theil/balance tables)."""
    folder.mkdir(parents=True)
    summary = {"title": title, "run_id": f"id-{folder.name}"}
    if year is not None:
        summary["year"] = year
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (folder / "districts.csv").write_text(HEAD + "".join(_row(*r) for r in rows),
                                          encoding="utf-8")
    if gini is not None:
        (folder / "equity.csv").write_text(
            "grouping,group,children,gini\nall,all,400,%s\ndistrict,N,300,0.1\n" % gini,
            encoding="utf-8")
    if theil is not None:
        (folder / "theil.csv").write_text(
            f"grouping,theil_t,between\ndistrict,{theil},0.01\nurban,{theil},0.02\n",
            encoding="utf-8")
    if balance is not None:
        (folder / "report_balance_summary.csv").write_text(
            "\ufeffdistrict,level,passed\nall,primary,%s\nN,primary,False\n" % balance,
            encoding="utf-8")
    return folder


# Run A (2030): North 300 children / 200 seats (100 short, 0.667 per child), South 100 / 150;
# (all) 400 / 350, 50 children beyond the threshold.
# Run B (2030): North 300 / 300 (1.0), South 100 / 150 (1.5): no shortfall; 80 beyond.
A_ROWS = [("North", 300, 200, 30), ("South", 100, 150, 20), ("(all)", 400, 350, 50)]
B_ROWS = [("North", 300, 300, 50), ("South", 100, 150, 30), ("(all)", 400, 450, 80)]


def test_two_runs_by_hand(tmp_path):
    a = _run(tmp_path / "a", A_ROWS, year=2030, gini=0.25, theil=0.12, balance="True")
    b = _run(tmp_path / "b", B_ROWS, year=2030, gini=0.2, theil=0.15, balance="False")
    t = compare_runs([a, b])
    assert list(t.by_year.columns) == BY_YEAR_COLUMNS
    assert list(t.summary.columns) == SUMMARY_COLUMNS
    s = t.summary.set_index("plan")
    assert list(s.index) == ["a", "b"]
    assert s.loc["a", "shortfall_years"] == 100 and s.loc["b", "shortfall_years"] == 0
    assert s.loc["a", "child_years_beyond"] == 50 and s.loc["b", "child_years_beyond"] == 80
    assert (s.loc["a", "worst_district"], s.loc["a", "worst_year"]) == ("North", 2030)
    assert s.loc["a", "worst_seats_per_child"] == pytest.approx(200 / 300)
    assert s.loc["b", "worst_seats_per_child"] == pytest.approx(1.0)
    assert s.loc["a", "years"] == 1
    assert (s.loc["a", "gini_access"], s.loc["b", "theil_access"]) == (0.25, 0.15)
    assert [bool(v) for v in s["balance_pass"]] == [True, False]
    assert s[["children_moved", "new_schools", "cost"]].isna().all(axis=None)
    best = best_plans(t.summary).set_index("measure")
    assert best.loc["shortfall_years", "best"] == ["b"]
    assert best.loc["child_years_beyond", "best"] == ["a"]
    assert best.loc["worst_seats_per_child", "best"] == ["b"]
    assert best.loc["gini_access", "best"] == ["b"] and best.loc["theil_access", "best"] == ["a"]
    assert best.loc["balance_pass", "best"] == ["a"]
    assert "cost" not in best.index   # no plan has one


def test_forecast_run_compared_over_the_common_year(tmp_path, capsys):
    """A forecast run (2030, 2031) against a one-year run (2030): only 2030 is compared."""
    a = _run(tmp_path / "a", A_ROWS, year=2030)
    f = _run(tmp_path / "f", A_ROWS, year=2030)
    (f / "districts_by_year.csv").write_text(
        "district,year,children,seats,seats_per_child,shortfall,children_beyond\n"
        "North,2030,300,250,0.8333,50,10\nSouth,2030,100,150,1.5,-50,5\n(all),2030,400,400,1,0,15\n"
        "North,2031,400,250,0.625,150,12\nSouth,2031,100,150,1.5,-50,5\n"
        "(all),2031,500,400,0.8,100,17\n", encoding="utf-8")
    alone = compare_runs([f]).summary.iloc[0]
    # two years: 50 + 150 seat-years short; 15 + 17 child-years beyond; worst North 2031
    assert alone["shortfall_years"] == 200 and alone["child_years_beyond"] == 32
    assert (alone["worst_district"], alone["worst_year"]) == ("North", 2031)
    assert alone["years"] == 2
    capsys.readouterr()
    t = compare_runs([a, f], names=["one", "fc"])
    assert set(t.by_year["year"]) == {2030}
    s = t.summary.set_index("plan")
    assert s.loc["fc", "shortfall_years"] == 50 and s.loc["fc", "child_years_beyond"] == 15
    assert t.notes == [f"{f}: years 2031 left out (not in every run); compared: 2030"]
    assert "2031 left out" in capsys.readouterr().err


def _plans_run(folder: Path) -> Path:
    """A run with plans (the engine's tables): (current) and "new school" over 2030-2031."""
    _run(folder, A_ROWS, year=2030)
    rows = ["plan,district,year,children,seats,seats_per_child,shortfall,children_beyond,"
            "share_beyond,mean_nearest_cost,extra"]
    for plan, north_seats in (("(current)", 200), ("new school", 400)):
        for year, north in ((2030, 300), (2031, 350)):
            rows.append(f"{plan},North,{year},{north},{north_seats},{north_seats / north},"
                        f"{north - north_seats},20,0.1,800,x")
            rows.append(f"{plan},South,{year},100,150,1.5,-50,10,0.1,700,x")
            rows.append(f"{plan},(all),{year},{north + 100},{north_seats + 150},"
                        f"{(north_seats + 150) / (north + 100)},{north - north_seats - 50},"
                        f"30,0.1,780,x")
    (folder / "plans_by_year.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (folder / "plans_summary.csv").write_text(
        "plan,years,shortfall_years,child_years_beyond,worst_district,worst_year,"
        "worst_seats_per_child,gini_access,theil_access,balance_pass,children_moved,"
        "new_schools,new_seats,closed_schools,cost\n"
        "(current),2,250,60,North,2031,0.571,0.3,0.2,,0,0,0,0,0\n"
        "new school,2,0,60,South,2030,1.14,0.2,0.1,,0,1,200,0,5000000\n", encoding="utf-8")
    return folder


def test_run_with_plans_gives_its_plans(tmp_path):
    p = _plans_run(tmp_path / "p")
    b = _run(tmp_path / "b", B_ROWS, year=2030)
    t = compare_runs([p, b])
    s = t.summary.set_index("plan")
    assert list(s.index) == ["p/(current)", "p/new school", "b"]
    # the common year 2030 only: (current) North 300 - 200 = 100 short; new school none
    assert s.loc["p/(current)", "shortfall_years"] == 100
    assert s.loc["p/new school", "shortfall_years"] == 0
    assert s.loc["p/new school", "worst_seats_per_child"] == pytest.approx(400 / 300)
    # the engine's own measures are kept
    assert s.loc["p/new school", "cost"] == 5_000_000 and s.loc["p/new school", "new_seats"] == 200
    assert s.loc["p/(current)", "gini_access"] == 0.3
    assert "extra" not in t.by_year.columns
    # the plans alone: both years
    alone = compare_runs([p]).summary.set_index("plan")
    assert alone.loc["p/(current)", "shortfall_years"] == 100 + 150


def test_cli_writes_the_table_and_prints_json(tmp_path, capsys):
    a = _run(tmp_path / "a", A_ROWS, year=2030)
    b = _run(tmp_path / "b", B_ROWS, year=2030)
    out = tmp_path / "c.csv"
    capsys.readouterr()
    assert main(["-q", "compare", str(a), str(b), "--names", "now,later", "-o", str(out),
                 "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [r["plan"] for r in got] == ["now", "later"]
    assert got[0]["shortfall_years"] == 100 and got[1]["child_years_beyond"] == 80
    assert got[0]["cost"] is None
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == BY_YEAR_COLUMNS
    assert [(r["plan"], r["district"], r["year"]) for r in rows][:2] == [
        ("now", "North", "2030"), ("now", "South", "2030")]
    assert len(rows) == 6


@pytest.mark.parametrize("case", ["no summary", "missing", "districts differ", "no common year",
                                  "names count", "twice", "no districts table"])
def test_bad_input_one_line_exit_2(tmp_path, capsys, case):
    a = _run(tmp_path / "a", A_ROWS, year=2030)
    b = _run(tmp_path / "b", B_ROWS, year=2030)
    args, needle = [str(a), str(b)], None
    if case == "no summary":
        (b / "summary.json").unlink()
        needle = "is not a finished run folder (no summary.json)"
    elif case == "missing":
        args[1], needle = str(tmp_path / "nowhere"), "not found"
    elif case == "districts differ":
        (b / "districts.csv").write_text(HEAD + _row("North", 300, 300, 5) + _row(
            "East", 10, 10, 1) + _row("(all)", 310, 310, 6), encoding="utf-8")
        needle = "covers other districts than"
    elif case == "no common year":
        (b / "summary.json").write_text(json.dumps({"year": 2031}), encoding="utf-8")
        needle = "the runs share no year"
    elif case == "names count":
        args += ["--names", "x"]
        needle = "1 names for 2 runs"
    elif case == "twice":
        args[1], needle = str(a), "is given twice"
    elif case == "no districts table":
        (b / "districts.csv").unlink()
        needle = "has no districts.csv"
    out = tmp_path / "c.csv"
    capsys.readouterr()
    assert main(["-q", "compare", *args, "-o", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("geoequity: error: "), lines
    assert needle in lines[0] and "; " in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("name", ["compare.csv", "districts.csv", "report.html"])
def test_output_into_a_run_folder_refused(tmp_path, capsys, name):
    """A run's own compare.csv (its proposals), a table it reads, its report: not replaced."""
    a = _run(tmp_path / "a", A_ROWS, year=2030)
    b = _run(tmp_path / "b", B_ROWS, year=2030)
    before = (a / "districts.csv").read_bytes()
    flag = "--report" if name.endswith(".html") else "-o"
    extra = ["-o", str(tmp_path / "c.csv")] if flag == "--report" else []
    capsys.readouterr()
    assert main(["-q", "compare", str(a), str(b), flag, str(a / name), *extra]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "would replace a file of the run folder" in lines[0]
    assert (a / "districts.csv").read_bytes() == before
    assert not (a / "compare.csv").exists() and not (a / "report.html").exists()
    assert not (tmp_path / "c.csv").exists()


def test_report_refused_over_an_input(tmp_path, capsys):
    a = _run(tmp_path / "a", A_ROWS, year=2030)
    b = _run(tmp_path / "b", B_ROWS, year=2030)
    capsys.readouterr()
    assert main(["-q", "compare", str(a), str(b), "-o", str(tmp_path / "x.csv"),
                 "--report", str(tmp_path / "x.csv")]) == 2
    assert not (tmp_path / "x.csv").exists()


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory):
    """The demo county at 1,500 m (its scenario) and at 1,000 m."""
    base = tmp_path_factory.mktemp("demo_runs")
    text = (REPO / "data" / "demo.toml").read_text(encoding="utf-8")
    assert "threshold = 1500" in text
    toml = REPO / "data" / f"_test_compare_{base.name}.toml"   # beside it: relative paths
    toml.write_text(text.replace("threshold = 1500", "threshold = 1000"), encoding="utf-8")
    try:
        for name, scenario in (("t1500", REPO / "data" / "demo.toml"), ("t1000", toml)):
            assert main(["-q", "run", str(scenario), "--out", str(base / name),
                         "--map", str(base / f"{name}.html"), "--no-report"]) == 0
    finally:
        toml.unlink()
    return base


def _districts_csv(folder: Path) -> dict[str, dict[str, float]]:
    with open(folder / "districts.csv", encoding="utf-8-sig", newline="") as fh:
        return {r["district"]: {k: float(v) for k, v in r.items() if k != "district"}
                for r in csv.DictReader(fh)}


def test_two_demo_runs_with_different_thresholds(demo_runs, tmp_path, capsys):
    t1500, t1000 = demo_runs / "t1500", demo_runs / "t1000"
    out = tmp_path / "compare.csv"
    capsys.readouterr()
    assert main(["-q", "compare", str(t1500), str(t1000), "-o", str(out), "--json"]) == 0
    got = {r["plan"]: r for r in json.loads(capsys.readouterr().out)}
    for name, folder in (("t1500", t1500), ("t1000", t1000)):
        d = _districts_csv(folder)
        real = {k: v for k, v in d.items() if k != "(all)"}
        short = sum(max(v["shortfall"], 0.0) for v in real.values())
        worst = min(real, key=lambda k: real[k]["seats_per_child"])
        assert got[name]["shortfall_years"] == pytest.approx(short)
        assert got[name]["child_years_beyond"] == pytest.approx(d["(all)"]["children_beyond"])
        assert got[name]["worst_district"] == worst == "Dongxin"
        assert got[name]["worst_seats_per_child"] == pytest.approx(1620 / d["Dongxin"]["children"])
        assert got[name]["worst_year"] is None   # neither run has a year
    # a shorter threshold leaves more children beyond it; seats do not depend on it
    assert got["t1000"]["child_years_beyond"] > got["t1500"]["child_years_beyond"]
    assert got["t1000"]["shortfall_years"] == pytest.approx(got["t1500"]["shortfall_years"])
    table = pd.read_csv(out)
    assert len(table) == 2 * 7 and set(table["plan"]) == {"t1500", "t1000"}


def test_forecast_run_gini_theil_pooled_over_years_like_its_plans(tmp_path):
    """A forecast run folder's Gini/Theil of access are pooled over its cells and years, as
    plans_summary.csv's are (so a run and the same run's (current) plan agree): access 1 and
    3 for one child each (the NaN cell and the child-less cell left out): Gini
    |1-3|*2/(2*2^2*2) = 0.25, Theil T ((1/2)ln(1/2) + (3/2)ln(3/2))/2 = 0.1308120359."""
    folder = _run(tmp_path / "f", A_ROWS, gini=0.9, theil=0.9)
    rows = "".join(f"{d},{y},{c},{s},{c / s},{c - s},{b},{b / c},900\n"
                   for y in (2030, 2031) for d, c, s, b in A_ROWS)
    (folder / "districts_by_year.csv").write_text(
        HEAD.replace("district,", "district,year,", 1) + rows, encoding="utf-8")
    pd.DataFrame({"cell": [1, 1, 2, 3], "year": [2030, 2031, 2030, 2031],
                  "children": [1.0, 1.0, 5.0, 0.0], "access": [1.0, 3.0, np.nan, 7.0]}
                 ).to_parquet(folder / "cells_by_year.parquet")
    s = compare_runs([folder]).summary.set_index("plan")
    assert s.loc["f", "gini_access"] == pytest.approx(0.25)
    assert s.loc["f", "theil_access"] == pytest.approx(
        (0.5 * np.log(0.5) + 1.5 * np.log(1.5)) / 2)
