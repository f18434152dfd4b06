"""Year-on-year monitoring (年度监测): every figure of several years in one long table.

Each year comes from a finished run folder (``geoequity run`` / ``demo`` output: ``summary.json``,
``equity.csv``, ``districts.csv`` and, when the report was written, ``report_balance_cv.csv`` and
``report_balance_summary.csv``) or from a school table (the school-resource balance evaluation of
:func:`geoequity.balance.evaluate_balance` is run on it). :func:`build_trend` stacks them into
the long table ``trend.csv``:

============ ===================================================================================
``year``     the year (int)
``scope``    ``county`` (the whole area), ``district``, ``urban`` or ``township``
``name``     ``all`` for the county; the district (group) name; ``(district range)`` for the
             spread between districts (largest minus smallest district value) of a rate
             (not of counts such as children, seats or the seat gap)
``indicator`` e.g. ``gini``, ``share_beyond``, ``seats_per_child``,
             ``cv.primary.books_per_student`` (balance CV of one indicator and level),
             ``mean.primary.books_per_student`` (its enrolment-weighted mean),
             ``cv_composite.primary``
``value``    the figure
``change``   value minus the previous year's value of the same row (empty in the first year)
``narrowed`` for gaps (figures where less is more equal: CV, Gini, Theil, shares beyond the
             threshold or without access, seat shortfalls, travel, and every ``(district
             range)``): ``True`` when the gap fell since the previous year, ``False`` when it
             grew or stayed; empty for other figures and in the first year
============ ===================================================================================

:func:`gap_changes` compares the first and the last year of each county-level gap: the
sentences of the report's monitoring section.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geoequity._errors import input_error
from geoequity._options import option
from geoequity.io.tables import read_attributes

__all__ = ["TREND_COLUMNS", "YearSource", "build_trend", "gap_changes", "is_gap", "run_figures",
           "school_figures", "year_of"]

TREND_COLUMNS = ["year", "scope", "name", "indicator", "value", "change", "narrowed"]
RANGE = "(district range)"

# equity.csv columns taken per group; districts.csv columns not already in equity.csv
_EQUITY_FIGURES = ("children", "access_mean", "share_no_access", "gini", "theil_t",
                   "cv_weighted", "cost_mean", "share_beyond", "gap")
_DISTRICT_FIGURES = ("seats", "seats_per_child", "shortfall", "schools")
# summary.json figures of the whole area not in equity.csv's "all" row
_SUMMARY_FIGURES = ("seats", "seats_per_child", "children_beyond_threshold",
                    "children_unassigned", "cells_without_access")
# gaps: less is more equal
_GAPS = {"share_no_access", "gini", "theil_t", "cv_weighted", "cost_mean", "share_beyond", "gap",
         "shortfall", "children_beyond_threshold", "children_unassigned",
         "cells_without_access"}
_GAP_PREFIXES = ("cv.", "cv_composite.", "cv_max.")
# sizes, not rates: no "(district range)" of them (a big district is not a gap)
_COUNTS = {"children", "seats", "schools", "gap", "shortfall", "children_beyond_threshold",
           "children_unassigned", "cells_without_access"}
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d\d)(?!\d)")


@dataclass(frozen=True)
class YearSource:
    """One year of the series: a run folder or a school table.

    Attributes
    ----------
    year
        The year.
    path
        A finished run folder, or a school table (CSV, Excel, Parquet, vector layer).
    where
        Where it was named (for error messages): the scenario file, or the path itself.
    district_col, level_col, enrolment_col, standard
        For a school table: its own columns and standard (default: those of
        :func:`build_trend`).
    """

    year: int
    path: Path
    where: str = ""
    district_col: str | None = None
    level_col: str | None = None
    enrolment_col: str | None = None
    standard: str | None = None

    def options(self, defaults: dict[str, Any]) -> dict[str, Any]:
        """How to evaluate this source's school table: its own settings over ``defaults``."""
        own = {"district_col": self.district_col, "level_col": self.level_col,
               "enrolment_col": self.enrolment_col, "standard": self.standard}
        return {**defaults, **{k: v for k, v in own.items() if v is not None}}


def is_gap(scope_name: str, indicator: str) -> bool:
    """Whether a figure is a gap (less is more equal): see the module notes."""
    return (scope_name == RANGE or indicator in _GAPS
            or indicator.startswith(_GAP_PREFIXES))


def year_of(path: str | Path) -> int | None:
    """The year of a run folder (``summary.json`` key ``year``) or the last 19xx/20xx in its
    name; None when neither gives one."""
    p = Path(path)
    summary = p / "summary.json"
    if p.is_dir() and summary.exists():
        try:
            year = json.loads(summary.read_text(encoding="utf-8")).get("year")
        except (ValueError, OSError):
            year = None
        if isinstance(year, int):
            return year
    found = _YEAR.findall(p.stem if p.is_file() else p.name)
    return int(found[-1]) if found else None


def _read_csv(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    try:
        return pd.read_csv(path, encoding="utf-8-sig")
    except Exception as exc:   # pandas raises several kinds for a damaged table
        raise input_error(path, f"cannot be read ({' '.join(str(exc).split())[:120]})",
                          "run the analysis again to rewrite the folder") from None


def _rows(scope: str, name: str, figures: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, value in figures.items():
        v = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
        if pd.notna(v):
            out.append({"scope": scope, "name": str(name), "indicator": key, "value": float(v)})
    return out


def _balance_rows(cv: pd.DataFrame | None, summary: pd.DataFrame | None) -> list[dict]:
    rows: list[dict] = []
    if cv is not None and {"district", "level", "indicator", "cv"} <= set(cv.columns):
        for r in cv.itertuples(index=False):
            scope, name = ("county", "all") if str(r.district) == "all" else ("district",
                                                                              r.district)
            figs = {f"cv.{r.level}.{r.indicator}": r.cv}
            if "mean" in cv.columns:
                figs[f"mean.{r.level}.{r.indicator}"] = r.mean
            rows += _rows(scope, name, figs)
    if summary is not None and {"district", "level", "cv_composite"} <= set(summary.columns):
        for r in summary.itertuples(index=False):
            scope, name = ("county", "all") if str(r.district) == "all" else ("district",
                                                                              r.district)
            rows += _rows(scope, name, {f"cv_composite.{r.level}": r.cv_composite,
                                        f"cv_max.{r.level}": getattr(r, "cv_max", None)})
    return rows


def run_figures(folder: str | Path) -> pd.DataFrame:
    """Every figure of one finished run folder, long: ``scope``, ``name``, ``indicator``,
    ``value`` (see the module notes for what is read)."""
    folder = Path(folder)
    summary_path = folder / "summary.json"
    if not summary_path.exists():
        raise input_error(folder, "is not a finished run folder (no summary.json)",
                          "give folders written by geoequity run or demo, or school tables")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise input_error(summary_path, f"is not JSON ({exc})",
                          "run the analysis again to rewrite the folder") from None
    rows = _rows("county", "all", {k: summary.get(k) for k in _SUMMARY_FIGURES})
    equity = _read_csv(folder / "equity.csv")
    if equity is not None:
        for r in equity.to_dict(orient="records"):
            figs = {k: r.get(k) for k in _EQUITY_FIGURES}
            if r["grouping"] == "all":
                rows += _rows("county", "all", figs)
            else:
                rows += _rows(str(r["grouping"]), r["group"], figs)
    districts = _read_csv(folder / "districts.csv")
    if districts is not None:
        for r in districts.to_dict(orient="records"):
            if str(r["district"]) != "(all)":
                rows += _rows("district", r["district"],
                              {k: r.get(k) for k in _DISTRICT_FIGURES})
    rows += _balance_rows(_read_csv(folder / "report_balance_cv.csv"),
                          _read_csv(folder / "report_balance_summary.csv"))
    return pd.DataFrame(rows, columns=["scope", "name", "indicator", "value"])


def school_figures(schools: pd.DataFrame, *, standard: str = "basic",
                   district_col: str | None = None, level_col: str = "level",
                   enrolment_col: str = "enrolment", standards: Any = None) -> pd.DataFrame:
    """The balance figures of one year's school table, long: the whole county and, with
    ``district_col``, each district (:func:`geoequity.balance.evaluate_balance`)."""
    from geoequity.balance import evaluate_balance

    rows = []
    for col in dict.fromkeys((None, district_col)):   # the county, then its districts
        res = evaluate_balance(schools, standard=standard, level_col=level_col,
                               district_col=col, enrolment_col=enrolment_col,
                               standards=standards)
        cv, summ = res.cv_table, res.summary
        if col is None:   # the whole county, whatever evaluate_balance calls it
            cv, summ = cv.assign(district="all"), summ.assign(district="all")
        rows += _balance_rows(cv, summ)
    return pd.DataFrame(rows, columns=["scope", "name", "indicator", "value"])


def _ranges(table: pd.DataFrame) -> pd.DataFrame:
    """Per year and indicator, the largest minus the smallest district value."""
    d = table[(table["scope"] == "district") & ~table["indicator"].isin(_COUNTS)]
    if d.empty:
        return table.iloc[0:0]
    g = d.groupby(["year", "indicator"])["value"]
    spread = (g.max() - g.min())[g.count() >= 2]
    return spread.rename("value").reset_index().assign(scope="county", name=RANGE)


def build_trend(sources: Sequence[YearSource | tuple[int, str | Path]], *,
                standard: str = "basic", district_col: str | None = None,
                year_col: str | None = None, level_col: str = "level",
                enrolment_col: str = "enrolment", standards: Any = None) -> pd.DataFrame:
    """The long year-on-year table of several run folders or school tables.

    Parameters
    ----------
    sources
        ``YearSource`` (or ``(year, path)``) per year: a finished run folder, or a school table.
        With ``year_col``, a single school table holding every year (its ``year`` is ignored).
    standard, district_col, level_col, enrolment_col, standards
        How school tables are evaluated (as ``geoequity equity --balance``).
    year_col
        The school table's column giving each school's year.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TREND_COLUMNS`, sorted by scope, name, indicator and year.

    Raises
    ------
    geoequity.InputError
        A year given twice (naming both places), an unreadable source.
    """
    srcs = [s if isinstance(s, YearSource) else YearSource(int(s[0]), Path(s[1]))
            for s in sources]
    if not srcs:
        raise input_error("trend", "no years given", "give two or more run folders or tables")
    parts = []
    kw = dict(standard=standard, district_col=district_col, level_col=level_col,
              enrolment_col=enrolment_col, standards=standards)
    if year_col:
        if len(srcs) != 1 or srcs[0].path.is_dir():
            raise input_error(option("year_col"), "a year column splits one school table",
                              f"give one school table with {option('year_col')}, or one input "
                              "per year")
        df = read_attributes(str(srcs[0].path))
        if year_col not in df.columns:
            raise input_error(srcs[0].path, f"has no year column {year_col!r}",
                              f"choose one of: {', '.join(map(str, df.columns))}")
        years = pd.to_numeric(df[year_col], errors="coerce")
        if years.isna().any():
            row = int(years.isna().to_numpy().nonzero()[0][0])
            raise input_error(srcs[0].path, f"row {row + 2}: {year_col} = "
                              f"{df[year_col].iloc[row]!r} is not a year",
                              "give a whole year such as 2024 in every row")
        for y in sorted(years.astype(int).unique()):
            sub = df[years.to_numpy() == y].drop(columns=[year_col])
            sub.attrs["source"] = f"{srcs[0].path} ({year_col} {y})"
            parts.append(school_figures(sub, **kw).assign(year=int(y)))
    else:
        seen: dict[int, YearSource] = {}
        for s in srcs:
            if s.year in seen:
                where = s.where or str(s.path)
                raise input_error(where, f"year {s.year} repeats ({seen[s.year].path} and "
                                  f"{s.path})", "give each year once")
            seen[s.year] = s
        for s in sorted(srcs, key=lambda s: s.year):
            if s.path.is_dir():
                part = run_figures(s.path)
            else:
                df = read_attributes(str(s.path))
                part = school_figures(df, **s.options(kw))
            parts.append(part.assign(year=s.year))
    table = pd.concat(parts, ignore_index=True)
    table = pd.concat([table, _ranges(table)], ignore_index=True)
    return _changes(table)


def _changes(table: pd.DataFrame) -> pd.DataFrame:
    keys = ["scope", "name", "indicator"]
    t = table.sort_values([*keys, "year"], kind="stable").reset_index(drop=True)
    t["change"] = t.groupby(keys, sort=False)["value"].diff()
    gap = np.array([is_gap(n, i) for n, i in zip(t["name"], t["indicator"])], dtype=bool)
    narrowed = pd.Series(pd.NA, index=t.index, dtype="boolean")
    has = gap & t["change"].notna().to_numpy()
    narrowed[has] = (t.loc[has, "change"] < 0).to_numpy()
    t["narrowed"] = narrowed
    t["year"] = t["year"].astype(int)
    return t[TREND_COLUMNS]


def gap_changes(trend: pd.DataFrame, *, scope: str = "county") -> pd.DataFrame:
    """Each gap of ``scope`` from the first to the last year it was measured.

    Returns
    -------
    pandas.DataFrame
        ``name``, ``indicator``, ``first_year``, ``first``, ``last_year``, ``last``, ``change``
        and ``verdict`` (``narrowed``, ``widened`` or ``unchanged``), narrowed first.
    """
    t = trend[trend["scope"] == scope]
    rows = []
    for (name, ind), g in t.groupby(["name", "indicator"], sort=True):
        if not is_gap(name, ind) or g["year"].nunique() < 2:
            continue
        g = g.sort_values("year")
        a, b = g.iloc[0], g.iloc[-1]
        change = float(b["value"] - a["value"])
        verdict = ("narrowed" if change < 0 else "widened" if change > 0 else "unchanged")
        rows.append({"name": name, "indicator": ind, "first_year": int(a["year"]),
                     "first": float(a["value"]), "last_year": int(b["year"]),
                     "last": float(b["value"]), "change": change, "verdict": verdict})
    out = pd.DataFrame(rows, columns=["name", "indicator", "first_year", "first", "last_year",
                                      "last", "change", "verdict"])
    order = {"narrowed": 0, "widened": 1, "unchanged": 2}
    return out.sort_values(["verdict", "name", "indicator"],
                           key=lambda s: s.map(order) if s.name == "verdict" else s,
                           kind="stable").reset_index(drop=True)
