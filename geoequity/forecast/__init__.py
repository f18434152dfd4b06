"""Enrolment projection per school and grade from its history (cohort survival).

Two entry points:

- :func:`project_enrolment` works on tables in memory (the history as ``school, year, grade,
  students``; births as a Series by year) and returns the long projection table;
- :func:`run_forecast` takes a :class:`ForecastSettings` (file paths, column names, grades,
  base year, horizon ...), reads and checks the files, and calls :func:`project_enrolment`. The
  CLI ``geoequity forecast`` uses it, and a scenario's ``[forecast]`` section will.

The projection table has exactly the columns ``school, year, grade, students, low, high``: one
row per school open in the base year, projected year and grade, a row with ``grade = "all"`` per
school and year, and rows with ``school = "(all)"`` for the district (the sum of the school
rows). ``low``/``high`` bound the central ``level`` (80 %) interval. :func:`school_totals` turns
it into a school x year table of totals. :func:`backtest_enrolment` projects from several base
years and compares with the later years of the history (rolling origin).

Methods and formulas: docs/forecast.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geoequity._errors import input_error
from geoequity._progress import info
from geoequity.forecast import _model
from geoequity.forecast._inputs import (
    check_births_cover,
    check_grades,
    read_births,
    read_history,
)

__all__ = ["ForecastSettings", "project_enrolment", "run_forecast", "school_totals",
           "history_totals", "births_by_year",
           "backtest_enrolment", "backtest_summary", "METHODS", "DISTRICT", "ALL_GRADES"]

METHODS = tuple(_model.METHODS)   # ("shrinkage", "standard"); the first is the default
DISTRICT = "(all)"                # school label of the district rows
ALL_GRADES = "all"                # grade label of the school-total rows
COLUMNS = ["school", "year", "grade", "students", "low", "high"]


@dataclass
class ForecastSettings:
    """Everything one projection needs; the CLI flags with ``-`` written as ``_``.

    ``enrolment``, ``births`` and ``feeder_enrolment`` are file paths (CSV, Parquet, Excel) or
    DataFrames. ``grades`` is the ordered grade list, entry grade first (``["K", "1", ...]``).
    ``feeder_enrolment`` + ``feeder_grade``: the entry grade is fed by the district total of
    ``feeder_grade`` in the feeder table the year before (e.g. junior grade 7 from primary grade
    6); ``feeder_grades`` orders the feeder's grades (default: its labels, "K" first, then in
    numeric order). The feeder table uses the same column names as ``enrolment``.
    """

    enrolment: object
    grades: Sequence[str]
    base_year: int
    horizon: int = 5
    school_col: str = "school"
    year_col: str = "year"
    grade_col: str = "grade"
    count_col: str = "students"
    births: object | None = None
    births_year_col: str = "year"
    births_col: str = "births"
    birth_lag: int = 5
    feeder_enrolment: object | None = None
    feeder_grade: str | None = None
    feeder_grades: Sequence[str] | None = None
    method: str = "shrinkage"
    level: float = 0.8
    decimals: int | None = 0


def run_forecast(settings: ForecastSettings) -> pd.DataFrame:
    """Read and check the files named in ``settings`` and project (see module docstring)."""
    st = settings
    grades = [str(g) for g in st.grades]
    hist, src = read_history(st.enrolment, school_col=st.school_col, year_col=st.year_col,
                             grade_col=st.grade_col, count_col=st.count_col, grades=grades)
    births = None
    births_src = "births"
    if st.births is not None:
        births, births_src = read_births(st.births, year_col=st.births_year_col,
                                         births_col=st.births_col)
    feeder = None
    feeder_src = "feeder enrolment"
    if st.feeder_enrolment is not None:
        feeder, feeder_src = read_history(
            st.feeder_enrolment, school_col=st.school_col, year_col=st.year_col,
            grade_col=st.grade_col, count_col=st.count_col, what="feeder enrolment")
    elif st.feeder_grade is not None:
        raise input_error(src, "a feeder grade is given without a feeder table",
                          "add --feeder-enrolment FILE (or leave out --feeder-grade)")
    return project_enrolment(
        hist, grades, st.base_year, st.horizon, births=births, birth_lag=st.birth_lag,
        feeder=feeder, feeder_grade=st.feeder_grade, feeder_grades=st.feeder_grades,
        method=st.method, level=st.level, decimals=st.decimals,
        sources=(src, births_src, feeder_src))


def project_enrolment(history: pd.DataFrame, grades: Sequence[str], base_year: int,
                      horizon: int = 5, *, births: pd.Series | None = None, birth_lag: int = 5,
                      feeder: pd.DataFrame | None = None, feeder_grade: str | None = None,
                      feeder_grades: Sequence[str] | None = None, method: str = "shrinkage",
                      level: float = 0.8, decimals: int | None = 0,
                      sources: tuple[str, str, str] = ("enrolment history", "births",
                                                       "feeder enrolment")) -> pd.DataFrame:
    """Project enrolment per school, year and grade for ``horizon`` years after ``base_year``.

    Parameters
    ----------
    history
        Columns ``school, year, grade, students``: one row per school, year and grade (grade
        labels as text). Only years up to ``base_year`` are used.
    grades
        Grade labels in order, entry grade first (``["K", "1", "2", "3", "4", "5"]``,
        ``["1", ..., "6"]``, ``["7", "8", "9"]``). Must match the history's grades exactly.
    base_year, horizon
        Last year of history used, and the number of years projected after it.
    births
        Births per year (Series indexed by year). The entry grade in year ``t`` is driven by
        births in ``t - birth_lag``. Without births (and without a feeder), the entry grade
        follows its own trend.
    feeder, feeder_grade, feeder_grades
        A feeder history (same columns) whose district total of ``feeder_grade`` in year
        ``t - 1`` drives the entry grade in year ``t`` (junior 7 from primary 6). The feeder is
        projected with the same method (and ``births``, which then belong to its entry grade).
    method
        ``"shrinkage"`` (default) or ``"standard"`` (3-year average ratios); docs/forecast.md.
    level
        Coverage of the ``low``-``high`` interval (0.8: the 10 % and 90 % bounds).
    decimals
        Round school-grade projections to this many decimals before adding up (0: whole
        students; ``None``: no rounding). Totals are always sums of the rows shown.

    Returns
    -------
    pandas.DataFrame
        Columns ``school, year, grade, students, low, high``; see the module docstring.
    """
    src, births_src, feeder_src = sources
    grades = [str(g) for g in grades]
    if method not in _model.METHODS:
        raise input_error(src, f"unknown method {method!r}",
                          f"use one of {', '.join(_model.METHODS)}")
    if not 0 < level < 1:
        raise input_error(src, f"interval level {level} is not between 0 and 1",
                          "use e.g. 0.8 for an 80 % interval")
    if int(horizon) < 1:
        raise input_error(src, f"horizon {horizon} is not a positive number of years",
                          "give --horizon 1 or more")
    horizon, base_year = int(horizon), int(base_year)
    history = history.assign(school=history["school"].astype(str),
                             grade=history["grade"].astype(str),
                             year=history["year"].astype(int))
    check_grades(history, grades, src)
    years_seen = sorted(set(history["year"].astype(int)))
    if base_year not in years_seen:
        raise input_error(src, f"base year {base_year} is not in the history (it has "
                          f"{years_seen[0]}-{years_seen[-1]}"
                          + (", with gaps" if len(years_seen) != years_seen[-1] - years_seen[0]
                             + 1 else "") + ")",
                          "choose a year the history holds as --base-year")
    if years_seen[0] == base_year:
        raise input_error(src, f"the history has no year before the base year {base_year}",
                          "give at least two years of history (three or more is better)")
    years_proj = list(range(base_year + 1, base_year + horizon + 1))
    schools, first_year, E = _cube(history, grades, base_year)
    driver = None
    if feeder is not None:
        driver = _feeder_driver(feeder, feeder_grade, feeder_grades, first_year, base_year,
                                horizon, births, birth_lag, method, feeder_src, births_src)
    elif births is not None:
        births = births if isinstance(births, pd.Series) else read_births(births)[0]
        check_births_cover(births, births_src, years_proj, birth_lag)
        driver = _births_driver(births, birth_lag, first_year, base_year + horizon)
    base = base_year - first_year
    m = _model.METHODS[method]
    open_, P = _model.project(E, driver, base, horizon, m)
    spread = _model.error_spread(E, driver, base, horizon, m, level=level)
    _report(schools, E, base, open_, m, base_year)
    return _table([s for s, o in zip(schools, open_) if o], P[open_], spread, grades,
                  years_proj, decimals)


def _cube(history: pd.DataFrame, grades: list[str], base_year: int):
    """(schools, first year, E) with E[school, year - first, grade] up to the base year."""
    h = history.loc[history["year"].astype(int) <= base_year]
    schools = sorted(pd.unique(h["school"].astype(str)))
    first = int(h["year"].min())
    si = pd.Index(schools).get_indexer(h["school"].astype(str))
    gi = pd.Index(grades).get_indexer(h["grade"].astype(str))
    E = np.full((len(schools), base_year - first + 1, len(grades)), np.nan)
    E[si, h["year"].to_numpy(int) - first, gi] = h["students"].to_numpy(float)
    return schools, first, E


def _births_driver(births: pd.Series, lag: int, first: int, last: int) -> np.ndarray:
    years = np.arange(first, last + 1)
    return births.reindex(years - lag).to_numpy(float)


def _feeder_driver(feeder, feeder_grade, feeder_grades, first, base_year, horizon, births,
                   lag, method, src, births_src) -> np.ndarray:
    """Entry driver per year: the feeder grade's district total the year before."""
    if feeder_grade is None:
        raise input_error(src, "no feeder grade named",
                          "add --feeder-grade, e.g. --feeder-grade 6")
    feeder_grade = str(feeder_grade)
    labels = [str(g) for g in (feeder_grades or _grade_order(pd.unique(feeder["grade"]), src))]
    check_grades(feeder, labels, src)
    if feeder_grade not in labels:
        raise input_error(src, f"feeder grade {feeder_grade!r} is not in the feeder table "
                          f"(grades {', '.join(labels)})", "name one of those with --feeder-grade")
    fy = set(feeder["year"].astype(int))
    if base_year not in fy:
        raise input_error(src, f"the feeder table has no base year {base_year} (it has "
                          f"{min(fy)}-{max(fy)})", "give the feeder's history up to the base year")
    total = feeder.loc[feeder["grade"].astype(str) == feeder_grade].groupby(
        feeder["year"].astype(int))["students"].sum()
    if horizon > 1:   # feeder years after the base year come from projecting the feeder
        proj = project_enrolment(feeder, labels, base_year, horizon - 1, births=births,
                                 birth_lag=lag, method=method, decimals=None,
                                 sources=(src, births_src, src))
        rows = proj[(proj["school"] == DISTRICT) & (proj["grade"] == feeder_grade)]
        total = pd.concat([total[total.index <= base_year],
                           pd.Series(rows["students"].to_numpy(), index=rows["year"])])
    years = np.arange(first, base_year + horizon + 1)
    return total.reindex(years - 1).to_numpy(float)


def _grade_order(labels, src: str) -> list[str]:
    def key(g: str):
        g = str(g)
        if g.upper() in ("K", "KG", "PK"):
            return (-1.0, g)
        try:
            return (float(g), g)
        except ValueError:
            raise input_error(src, f"cannot order the feeder's grades ({g!r} is not a number)",
                              "list them in order with --feeder-grades") from None
    return sorted(map(str, labels), key=key)


def _report(schools, E, base, open_, method, base_year) -> None:
    closed = [s for s, o in zip(schools, open_) if not o]
    if closed:
        info(f"not projected (no enrolment in the base year {base_year}): {', '.join(closed)}")
    hist = _model.years_of_history(E, base)
    young = [s for s, o, n in zip(schools, open_, hist) if o and n < method.min_years]
    if young:
        info(f"district progression ratios used for schools with under {method.min_years} "
             f"years of history: {', '.join(young)}")


def _table(schools: list[str], P: np.ndarray, spread: _model.Spread, grades: list[str],
           years: list[int], decimals: int | None) -> pd.DataFrame:
    """The long table: school-grade rows, school totals, district rows."""
    S, H, G = P.shape
    def rnd(x):
        return x if decimals is None else np.round(x, decimals)
    v = rnd(P)                                   # (S, H, G)
    tot = v.sum(2)                               # (S, H)
    dg = v.sum(0)                                # (H, G)
    dt = tot.sum(0)                              # (H,)
    wg, ws = spread.grade[:, None], spread.school
    wdg, wd = spread.district_grade[:, None], spread.district
    # values per (school incl. district) x year x (grades + all)
    val = np.concatenate([np.concatenate([v, tot[:, :, None]], 2),
                          np.concatenate([dg, dt[:, None]], 1)[None]], 0)
    lw = np.empty_like(val)
    lw[:S, :, :G] = wg[None]
    lw[:S, :, G] = ws[None]
    lw[S, :, :G] = wdg
    lw[S, :, G] = wd
    low, high = rnd(val * np.exp(-lw)), rnd(val * np.exp(lw))
    names = np.array(schools + [DISTRICT], dtype=object)
    glabels = np.array(grades + [ALL_GRADES], dtype=object)
    n = len(names)
    out = pd.DataFrame({
        "school": np.repeat(names, H * (G + 1)),
        "year": np.tile(np.repeat(np.array(years, dtype=np.int64), G + 1), n),
        "grade": np.tile(glabels, n * H),
        "students": val.ravel(), "low": low.ravel(), "high": high.ravel()})
    if decimals == 0:
        for c in ("students", "low", "high"):
            out[c] = out[c].astype(np.int64)
    return out[COLUMNS]


def school_totals(table: pd.DataFrame, *, district: bool = True) -> pd.DataFrame:
    """School x year table of projected totals (the ``grade == "all"`` rows).

    ``district=False`` leaves out the ``(all)`` row. Item 2 of the "future demand" work uses it
    to scale children per cell and year.
    """
    t = table.loc[table["grade"] == ALL_GRADES]
    if not district:
        t = t.loc[t["school"] != DISTRICT]
    return t.pivot(index="school", columns="year", values="students")


def backtest_enrolment(history: pd.DataFrame, grades: Sequence[str], base_years: Sequence[int],
                       horizon: int = 5, *, births: pd.Series | None = None,
                       birth_lag: int = 5, method: str = "shrinkage",
                       level: float = 0.8) -> pd.DataFrame:
    """Rolling-origin backtest of school totals: fit on years <= base, compare with later years.

    For each base year, projects ``min(horizon, last year - base)`` years with data up to the
    base year only, and compares each school's total (and the district's, school ``(all)``)
    with the history's real total in that year. Schools with no real count in a year (closed)
    are left out of that year; the district's real total is that of every school then open.

    Returns
    -------
    pandas.DataFrame
        ``base_year, horizon, school, actual, students, low, high, ape`` where ``ape`` is
        ``|students - actual| / actual``.
    """
    last = int(history["year"].max())
    real = history.groupby(["school", "year"])["students"].sum()
    real_d = history.groupby("year")["students"].sum()
    frames = []
    for b in base_years:
        h = min(int(horizon), last - int(b))
        if h < 1:
            continue
        t = project_enrolment(history, grades, int(b), h, births=births, birth_lag=birth_lag,
                              method=method, level=level, decimals=None)
        t = t.loc[t["grade"] == ALL_GRADES].drop(columns="grade")
        key = pd.MultiIndex.from_arrays([t["school"], t["year"]])
        actual = real.reindex(key).to_numpy(dtype=float, copy=True)
        is_d = (t["school"] == DISTRICT).to_numpy()
        actual[is_d] = real_d.reindex(t["year"][is_d]).to_numpy()
        t = t.assign(base_year=int(b), horizon=t["year"] - int(b), actual=actual)
        frames.append(t.loc[~np.isnan(actual)])
    out = pd.concat(frames, ignore_index=True)
    out["ape"] = (out["students"] - out["actual"]).abs() / out["actual"]
    return out[["base_year", "horizon", "school", "actual", "students", "low", "high", "ape"]]


def backtest_summary(bt: pd.DataFrame) -> pd.DataFrame:
    """Per horizon (and ``all``): school MAPE, district MAPE, 80 % interval coverage, counts."""
    sch = bt.loc[bt["school"] != DISTRICT]
    dis = bt.loc[bt["school"] == DISTRICT]
    inside = (sch["low"] <= sch["actual"]) & (sch["actual"] <= sch["high"])

    def rows(s, d, cov):
        return {"school_mape": s["ape"].mean(), "district_mape": d["ape"].mean(),
                "coverage": cov.mean(), "n_school": len(s), "n_district": len(d)}

    out = {h: rows(sch[sch.horizon == h], dis[dis.horizon == h], inside[sch.horizon == h])
           for h in sorted(sch["horizon"].unique())}
    out["all"] = rows(sch, dis, inside)
    return pd.DataFrame(out).T.rename_axis("horizon")


def history_totals(settings: ForecastSettings, year: int) -> pd.Series:
    """Each school's enrolment in ``year`` of the settings' history (all grades added), with
    the district row ``(all)``: the base of the growth factors of the per-year pipeline."""
    st = settings
    hist, _ = read_history(st.enrolment, school_col=st.school_col, year_col=st.year_col,
                           grade_col=st.grade_col, count_col=st.count_col,
                           grades=[str(g) for g in st.grades])
    t = hist.loc[hist["year"] == int(year)].groupby("school")["students"].sum()
    t.loc[DISTRICT] = float(t.sum())
    return t


def births_by_year(source, *, year_col: str = "year", births_col: str = "births"
                   ) -> tuple[pd.Series, str]:
    """Births per year (Series indexed by year) read and checked as ``run_forecast`` reads
    them, and the name of their source for messages."""
    return read_births(source, year_col=year_col, births_col=births_col)
