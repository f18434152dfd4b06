"""Enrolment projection (geoequity.forecast, ``geoequity forecast``).

Expected values come from hand computation (the standard method on a hand-made example), from
known cohort-survival processes that generate the data, or from the real ECASD history of later
years than the base year (rolling-origin backtest: never years used for fitting).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geoequity.cli import main
from geoequity.forecast import (
    ForecastSettings,
    backtest_enrolment,
    backtest_summary,
    project_enrolment,
    run_forecast,
    school_totals,
)

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ["school", "year", "grade", "students", "low", "high"]


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "geoequity", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or REPO)


def long(rows: dict) -> pd.DataFrame:
    """{(school, year): [counts by grade]} -> long history with grades K, 1, 2."""
    out = [(s, y, g, float(v)) for (s, y), vals in rows.items()
           for g, v in zip(["K", "1", "2"], vals)]
    return pd.DataFrame(out, columns=["school", "year", "grade", "students"])


def value(t: pd.DataFrame, school, year, grade) -> float:
    r = t[(t.school == school) & (t.year == year) & (t.grade == grade)]
    assert len(r) == 1
    return float(r.students.iloc[0])


# ------------------------------------------------------------------ hand-computed standard method

HAND = long({
    ("A", 1998): [1, 1, 1], ("A", 1999): [5, 5, 5],     # 1998 is outside every 3-year window
    ("A", 2000): [10, 10, 10], ("A", 2001): [12, 11, 9], ("A", 2002): [11, 12, 12],
    ("B", 2000): [20, 18, 16], ("B", 2001): [22, 19, 18], ("B", 2002): [24, 22, 20],
})
HAND_BIRTHS = pd.Series({1993: 50.0, 1994: 90.0, 1995: 100.0, 1996: 110.0, 1997: 120.0,
                         1998: 100.0, 1999: 125.0})


def test_standard_method_matches_hand_computation():
    t = project_enrolment(HAND, ["K", "1", "2"], 2002, 2, births=HAND_BIRTHS, birth_lag=5,
                          method="standard", decimals=None)
    # 3-year average progression ratios (years 2000-2002 over the year before)
    a1 = (10 / 5 + 11 / 10 + 12 / 12) / 3
    a2 = (10 / 5 + 9 / 10 + 12 / 11) / 3
    b1 = (19 / 20 + 22 / 22) / 2          # B has no 1999: two ratios
    b2 = (18 / 18 + 20 / 19) / 2
    # 3-year average entry ratio: K in 2000-2002 over births 1995-1997
    ea = (10 / 100 + 12 / 110 + 11 / 120) / 3
    eb = (20 / 100 + 22 / 110 + 24 / 120) / 3
    want = {
        ("A", 2003, "K"): ea * 100, ("A", 2003, "1"): 11 * a1, ("A", 2003, "2"): 12 * a2,
        ("B", 2003, "K"): eb * 100, ("B", 2003, "1"): 24 * b1, ("B", 2003, "2"): 22 * b2,
        ("A", 2004, "K"): ea * 125, ("A", 2004, "1"): ea * 100 * a1,
        ("A", 2004, "2"): 11 * a1 * a2,
        ("B", 2004, "K"): eb * 125, ("B", 2004, "1"): eb * 100 * b1,
        ("B", 2004, "2"): 24 * b1 * b2,
    }
    for (s, y, g), v in want.items():
        assert value(t, s, y, g) == pytest.approx(v, rel=1e-12), (s, y, g)
    for y in (2003, 2004):
        a_all = sum(want[("A", y, g)] for g in "K12")
        b_all = sum(want[("B", y, g)] for g in "K12")
        assert value(t, "A", y, "all") == pytest.approx(a_all, rel=1e-12)
        assert value(t, "(all)", y, "all") == pytest.approx(a_all + b_all, rel=1e-12)
        assert value(t, "(all)", y, "1") == pytest.approx(want[("A", y, "1")]
                                                           + want[("B", y, "1")], rel=1e-12)
    assert list(t.columns) == COLUMNS
    assert len(t) == 3 * 2 * 4          # (A, B, (all)) x 2 years x (3 grades + all)
    assert (t.low <= t.students).all() and (t.students <= t.high).all()


def test_rounded_table_adds_up_exactly():
    t = project_enrolment(HAND, ["K", "1", "2"], 2002, 3, births=HAND_BIRTHS.reindex(
        range(1993, 2001), fill_value=110.0))
    assert t.students.dtype.kind == "i"
    sch = t[t.school != "(all)"]
    for (s, y), g in sch.groupby(["school", "year"]):
        assert g.loc[g.grade == "all", "students"].item() == g.loc[g.grade != "all",
                                                                   "students"].sum()
    for (y, gr), g in t.groupby(["year", "grade"]):
        assert g.loc[g.school == "(all)", "students"].item() == g.loc[g.school != "(all)",
                                                                      "students"].sum()
    assert sorted(t.year.unique()) == [2003, 2004, 2005]
    totals = school_totals(t)
    assert totals.loc["(all)", 2004] == totals.drop(index="(all)")[2004].sum()


# ------------------------------------------------------------------ known cohort-survival process

def simulate(ratios: dict, entry_share: dict, grades, driver, first, last):
    """Exact cohort survival: E[s, t, g] = E[s, t-1, g-1] * ratio[s][g], entry = share * driver."""
    rows, cur = [], {}
    for s in ratios:
        cur[s] = [entry_share[s] * driver[first] * np.prod(ratios[s][1:i + 1])
                  for i in range(len(grades))]
    for y in range(first, last + 1):
        for s in ratios:
            if y > first:
                prev = cur[s]
                cur[s] = [entry_share[s] * driver[y]] + [prev[i - 1] * ratios[s][i]
                                                         for i in range(1, len(grades))]
            rows += [(s, y, g, v) for g, v in zip(grades, cur[s])]
    return pd.DataFrame(rows, columns=["school", "year", "grade", "students"])


@pytest.mark.parametrize("method", ["standard", "shrinkage"])
def test_chinese_primary_grades_recover_a_known_process(method):
    grades = ["1", "2", "3", "4", "5", "6"]
    births = pd.Series({y: 1000.0 + 17 * (y - 1990) ** 1.5 for y in range(1990, 2025)})
    driver = {y: births[y - 6] for y in range(2000, 2031)}
    # school-specific ratios for the standard method; common ones for shrinkage (which pulls
    # different schools toward the district on purpose)
    rs = {"东湖小学": [1, 0.98, 1.02, 0.97, 1.0, 0.99],
          "南湖小学": [1, 1.03, 0.96, 1.01, 0.98, 1.0]}
    if method == "shrinkage":
        rs = {s: rs["东湖小学"] for s in rs}
    share = {"东湖小学": 0.3, "南湖小学": 0.7}
    hist = simulate(rs, share, grades, driver, 2000, 2020)
    truth = simulate(rs, share, grades, driver, 2000, 2024)
    t = project_enrolment(hist, grades, 2016, 4, births=births, birth_lag=6, method=method,
                          decimals=None)
    for r in truth[(truth.year > 2016) & (truth.year <= 2020)].itertuples():
        assert value(t, r.school, r.year, r.grade) == pytest.approx(r.students, rel=1e-9)
    assert list(t.grade.unique()) == grades + ["all"]


def test_junior_grades_fed_by_primary_grade_6():
    primary_grades = ["1", "2", "3", "4", "5", "6"]
    births = pd.Series({y: 900.0 + 11 * (y % 7) for y in range(1990, 2025)})
    pdriver = {y: births[y - 6] for y in range(2000, 2031)}
    prim_r = {"P1": [1, 0.99, 1.0, 0.98, 1.01, 0.99], "P2": [1, 0.99, 1.0, 0.98, 1.01, 0.99]}
    primary = simulate(prim_r, {"P1": 0.4, "P2": 0.6}, primary_grades, pdriver, 2000, 2030)
    g6 = primary[primary.grade == "6"].groupby("year").students.sum()
    jdriver = {y: g6[y - 1] for y in range(2001, 2031)}
    jun_r = {"J1": [1, 0.97, 0.99], "J2": [1, 0.97, 0.99]}
    junior = simulate(jun_r, {"J1": 0.45, "J2": 0.5}, ["7", "8", "9"], jdriver, 2001, 2030)
    base = 2015
    for method in ("standard", "shrinkage"):
        t = project_enrolment(junior[junior.year <= base], ["7", "8", "9"], base, 9,
                              feeder=primary[primary.year <= base], feeder_grade="6",
                              births=births, birth_lag=6, method=method, decimals=None)
        # years 2016-2024: grade 7 needs primary grade 6 of 2015-2023, projected from 2015
        for r in junior[(junior.year > base) & (junior.year <= base + 9)].itertuples():
            assert value(t, r.school, r.year, r.grade) == pytest.approx(r.students, rel=1e-9)


def test_closed_school_is_not_projected_and_new_school_uses_district_ratios():
    h = long({("A", 2000): [10, 10, 10], ("A", 2001): [10, 10, 10], ("A", 2002): [10, 10, 10],
              ("B", 2000): [20, 20, 20], ("B", 2001): [20, 20, 20], ("B", 2002): [20, 22, 22],
              ("Old", 2000): [5, 5, 5], ("Old", 2001): [5, 5, 5],
              ("New", 2001): [6, 6, 6], ("New", 2002): [8, 8, 8]})
    t = project_enrolment(h, ["K", "1", "2"], 2002, 1, method="standard", decimals=None)
    assert "Old" not in set(t.school)
    # district grade-1 ratio per year: 2001: (10+20+5)/(10+20+5) = 1; 2002: (10+22+8)/(10+20+6)
    d1 = (1 + (10 + 22 + 8) / (10 + 20 + 6)) / 2
    assert value(t, "New", 2003, "1") == pytest.approx(8 * d1)


def test_missing_grade_skips_that_ratio_not_zero():
    rows = {("A", y): [10, 10, 10] for y in range(2000, 2004)}
    h = long(rows)
    h = h[~((h.year == 2001) & (h.grade == "1"))]          # grade 1 missing in 2001
    t = project_enrolment(h, ["K", "1", "2"], 2003, 1, method="standard", decimals=None)
    # ratios 2001 (grade 1 missing) and 2002 (its denominator missing) are skipped: all 1.0
    assert value(t, "A", 2004, "1") == pytest.approx(10.0)
    assert value(t, "A", 2004, "2") == pytest.approx(10.0)


# ------------------------------------------------------------------ real data: rolling origin

@pytest.fixture(scope="module")
def ecasd(shared_data):
    e = pd.read_csv(shared_data / "ecasd" / "enrolment.csv", dtype={"grade": str})
    b = pd.read_csv(shared_data / "ecasd" / "births.csv")
    return e, pd.Series(b.births.to_numpy(float), index=b.year)


def test_backtest_beats_the_standard_method_on_real_years_not_fitted(ecasd):
    hist, births = ecasd
    grades = ["K", "1", "2", "3", "4", "5"]
    real = hist.groupby(["school", "year"]).students.sum()
    real_district = hist.groupby("year").students.sum()
    errors = {"standard": [], "shrinkage": []}
    district = {"standard": [], "shrinkage": []}
    inside = []
    for base in range(2003, 2012):
        fit = hist[hist.year <= base]                     # the future is not even passed in
        h = min(5, 2012 - base)
        for method in errors:
            t = project_enrolment(fit, grades, base, h, births=births, method=method,
                                  decimals=None)
            tot = t[t.grade == "all"]
            for r in tot.itertuples():
                if r.school == "(all)":
                    district[method].append(abs(r.students - real_district[r.year])
                                            / real_district[r.year])
                elif (r.school, r.year) in real.index:       # closed schools have no real year
                    a = real[(r.school, r.year)]
                    errors[method].append(abs(r.students - a) / a)
                    if method == "shrinkage":
                        inside.append(r.low <= a <= r.high)
    mape = {m: np.mean(v) for m, v in errors.items()}
    dmape = {m: np.mean(v) for m, v in district.items()}
    assert len(errors["shrinkage"]) == len(errors["standard"]) > 400
    assert mape["shrinkage"] <= 0.9 * mape["standard"]
    assert dmape["shrinkage"] <= dmape["standard"]
    assert 0.7 <= np.mean(inside) <= 0.9
    # the library's own backtest gives the same numbers
    bt = backtest_summary(backtest_enrolment(hist, grades, range(2003, 2012), 5, births=births))
    assert bt.loc["all", "school_mape"] == pytest.approx(mape["shrinkage"])
    assert bt.loc["all", "coverage"] == pytest.approx(np.mean(inside))


def test_cli_on_real_data(tmp_path, shared_data):
    e = shared_data / "ecasd"
    out = tmp_path / "forecast.csv"
    r = cli("forecast", "--enrolment", e / "enrolment.csv", "--school-col", "school",
            "--year-col", "year", "--grade-col", "grade", "--count-col", "students",
            "--grades", "K,1,2,3,4,5", "--births", e / "births.csv", "--births-year-col", "year",
            "--births-col", "births", "--birth-lag", "5", "--base-year", "2007", "--horizon", "5",
            "-o", out)
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(out, dtype={"grade": str, "school": str})
    assert list(t.columns) == COLUMNS
    assert sorted(t.year.unique()) == [2008, 2009, 2010, 2011, 2012]
    assert set(t.grade) == {"K", "1", "2", "3", "4", "5", "all"}
    # closed before or in 2007: Boyd, Cleghorn, Lincoln are not projected; Little Red is
    assert set(t.school) == set(pd.read_csv(e / "enrolment.csv").query("year == 2007").school) \
        | {"(all)"}
    sch = t[t.school != "(all)"]
    dist = t[t.school == "(all)"].set_index(["year", "grade"]).students
    sums = sch.groupby(["year", "grade"]).students.sum()
    assert (sums.reindex(dist.index) == dist).all() and len(sums) == len(dist) == 5 * 7
    assert ((t.low <= t.students) & (t.students <= t.high)).all()


def test_cli_json_in_process(shared_data, capsys):
    e = shared_data / "ecasd"
    assert main(["-q", "forecast", "--enrolment", str(e / "enrolment.csv"), "--grades",
                 "K,1,2,3,4,5", "--base-year", "2010", "--horizon", "2", "--method", "standard",
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == (12 + 1) * 2 * 7          # 12 schools open in 2010, and (all)
    assert set(rows[0]) == set(COLUMNS)


def test_settings_object_is_what_the_cli_runs(shared_data):
    e = shared_data / "ecasd"
    st = ForecastSettings(enrolment=e / "enrolment.csv", grades=["K", "1", "2", "3", "4", "5"],
                          base_year=2006, horizon=3, births=e / "births.csv")
    t = run_forecast(st)
    assert sorted(t.year.unique()) == [2007, 2008, 2009]
    assert int(t[(t.school == "(all)") & (t.grade == "all")].students.iloc[0]) > 4000


# ------------------------------------------------------------------ bad input: one line, exit 2

def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


GOOD = "".join(f"{y},{s},{g},{10 + i}\n" for y in (2000, 2001, 2002)
               for s in ("A", "B") for i, g in enumerate(["K", "1", "2"]))


@pytest.mark.parametrize("case, history, births, extra, needle", [
    pytest.param(*c, id=c[0].replace(" ", "_")) for c in [
    ("duplicate", GOOD + "2001,A,1,12\n", None, [], "rows 9, 20"),  # header = row 1
    ("text count", GOOD.replace("2001,B,1,11", "2001,B,1,eleven"), None, [], "row 12"),
    ("base year", GOOD, None, ["--base-year", "2005"], "base year 2005 is not in the history"),
    ("births", GOOD, "year,births\n1995,100\n1996,100\n1997,100\n", ["--horizon", "2"],
     "no births for 1998-1999"),
    ("grades", GOOD, None, ["--grades", "1,2,3"], "grade 'K' is not in the grade list"),
]])
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, case, history, births,
                                                      extra, needle):
    h = write(tmp_path / "history.csv", "year,school,grade,students\n" + history)
    args = ["forecast", "--enrolment", str(h), "--grades", "K,1,2", "--base-year", "2002"]
    if births:
        args += ["--births", str(write(tmp_path / "births.csv", births))]
    for i in range(0, len(extra), 2):      # later flags win in argparse
        args += extra[i:i + 2]
    out = tmp_path / "out.csv"
    assert main([*args, "-o", str(out)]) == 2, case
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("geoequity: error: "), (case, err)
    src = "births.csv" if case == "births" else "history.csv"
    assert src in lines[0] and needle in lines[0], (case, lines[0])
    assert "; " in lines[0]                          # what to do
    assert not out.exists()
    assert {p.name for p in tmp_path.iterdir()} <= {"history.csv", "births.csv"}


def test_gbk_csv_with_chinese_school_names(tmp_path):
    rows = ["年份,学校,年级,人数"] + [f"{y},{s},{g},{40 + g}" for y in range(2010, 2014)
                                    for s in ("东湖小学", "南湖小学") for g in range(1, 7)]
    path = tmp_path / "history.csv"
    path.write_bytes(("\n".join(rows) + "\n").encode("gb18030"))
    t = run_forecast(ForecastSettings(enrolment=path, grades=[str(g) for g in range(1, 7)],
                                      base_year=2013, horizon=1, school_col="学校",
                                      year_col="年份", grade_col="年级", count_col="人数"))
    # constant counts and no births: every grade stays as it was (ratios 1, flat entry)
    assert value(t, "东湖小学", 2014, "3") == 43
    assert value(t, "(all)", 2014, "all") == 2 * sum(40 + g for g in range(1, 7))
