"""Plans compared: the same measures for the plans of a run and for finished run folders.

A *plan* here is one state of the world followed over the years: a plan of a run with
``[[plans]]`` (``plans_by_year.csv``, ``plans_summary.csv``; ``(current)`` is the run as it
is), or a whole finished run folder (``geoequity compare RUN_A RUN_B ...``). Both give two
tables:

- **by year** (:data:`BY_YEAR_COLUMNS`): per plan, district (``(all)`` included) and year:
  ``children``, ``seats``, ``seats_per_child``, ``shortfall`` (children - seats, as in
  ``districts.csv``), ``children_beyond``, ``share_beyond``, ``mean_nearest_cost``;
- **summary** (:data:`SUMMARY_COLUMNS`), one row per plan.

The measures of the summary that the by-year rows give are computed here, by one rule, for
every plan compared (:func:`summarise`), over the years compared:

- ``years``: how many years;
- ``shortfall_years``: seat-years short: the positive ``shortfall`` of every district (not
  ``(all)``) added up over the years (a district 100 seats short for 3 years: 300);
- ``child_years_beyond``: children beyond the threshold (``(all)`` row) added up over the years;
- ``worst_district``, ``worst_year``, ``worst_seats_per_child``: the district and year with the
  fewest seats per child (ties: the earlier year, then the district listed first).

The others come from the plan's own tables: ``gini_access``, ``theil_access``, ``balance_pass``,
``children_moved``, ``new_schools``, ``new_seats``, ``closed_schools``, ``cost`` from
``plans_summary.csv``; for a run folder without plans, ``gini_access`` and ``theil_access`` are
those of a run's plans (:func:`access_inequality`) over the cells and years of
``cells_by_year.parquet`` (a forecast run), else the ``all`` row of ``equity.csv`` and the
``theil_t`` of ``theil.csv`` (the run's one year), ``balance_pass`` whether every
``all`` row of ``report_balance_summary.csv`` passed (empty without one), and the rest empty
(a run moves no child and builds nothing).

A run folder without plans gives one plan named after the run: its years are those of
``districts_by_year.csv`` (a run with ``[forecast]``), else one year, the run's
(``summary.json`` key ``year``, else the last 19xx/20xx of the folder name, else unknown:
empty). A run folder with plans gives its plans, named ``RUN/plan``.

Runs that differ: the comparison keeps the years every run has (said on stderr) and refuses
runs that share no year, or whose districts differ (one line, exit status 2): seat-years
added over different districts or years are not comparable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from geoequity._errors import GeoequityError, input_error
from geoequity._progress import info
from geoequity.io.text import read_csv_text
from geoequity.trend import year_of

__all__ = ["PlanTables", "BY_YEAR_COLUMNS", "SUMMARY_COLUMNS", "MEASURES", "summarise",
           "read_run", "read_plans", "compare_runs", "best_plans", "access_inequality", "ALL"]

ALL = "(all)"
BY_YEAR_COLUMNS = ["plan", "district", "year", "children", "seats", "seats_per_child",
                   "shortfall", "children_beyond", "share_beyond", "mean_nearest_cost"]
SUMMARY_COLUMNS = ["plan", "years", "shortfall_years", "child_years_beyond", "worst_district",
                   "worst_year", "worst_seats_per_child", "gini_access", "theil_access",
                   "balance_pass", "children_moved", "new_schools", "new_seats",
                   "closed_schools", "cost"]
#: The summary measures computed from the by-year rows (:func:`summarise`).
_FROM_YEARS = ("years", "shortfall_years", "child_years_beyond", "worst_district",
               "worst_year", "worst_seats_per_child")
#: Measures a plan can be best on: column -> "min" (less is better), "max" or "true".
MEASURES = {"shortfall_years": "min", "child_years_beyond": "min",
            "worst_seats_per_child": "max", "gini_access": "min", "theil_access": "min",
            "balance_pass": "true", "children_moved": "min", "cost": "min"}
_NEEDED = ["district", "children", "seats", "seats_per_child", "shortfall", "children_beyond"]


@dataclass
class PlanTables:
    """Plans side by side: ``by_year`` (:data:`BY_YEAR_COLUMNS`) and ``summary``
    (:data:`SUMMARY_COLUMNS`); ``notes``: what the comparison left out, in words."""

    by_year: pd.DataFrame
    summary: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    #: ``plans_schools.csv`` of a run folder (the schools each plan opens, expands, closes)
    schools: pd.DataFrame | None = None


def summarise(by_year: pd.DataFrame) -> pd.DataFrame:
    """The summary measures the by-year rows give, one row per plan (module notes)."""
    rows = []
    for plan, t in by_year.groupby("plan", sort=False):
        dist = t[t["district"] != ALL]
        alls = t[t["district"] == ALL]
        years = t["year"].drop_duplicates()
        short = _numbers(dist, "shortfall").clip(lower=0)
        spc = _numbers(dist, "seats_per_child")
        beyond = _numbers(alls, "children_beyond")
        row = {"plan": plan, "years": len(years),
               "shortfall_years": float(short.sum()) if short.notna().any() else np.nan,
               "child_years_beyond": float(beyond.sum()) if beyond.notna().any() else np.nan,
               "worst_district": None, "worst_year": pd.NA, "worst_seats_per_child": np.nan}
        if spc.notna().any():
            order = dist.assign(_spc=spc, _pos=np.arange(len(dist)))
            order = order[order["_spc"].notna()].sort_values(
                ["_spc", "year", "_pos"], kind="stable", na_position="last")
            worst = order.iloc[0]
            row.update(worst_district=worst["district"], worst_year=worst["year"],
                       worst_seats_per_child=float(worst["_spc"]))
        rows.append(row)
    out = pd.DataFrame(rows, columns=["plan", *_FROM_YEARS])
    out["worst_year"] = out["worst_year"].astype("Int64")
    return out


def _numbers(table: pd.DataFrame, col: str) -> pd.Series:
    """``table[col]`` as numbers (all NaN when the column is absent)."""
    if col not in table.columns:
        return pd.Series(np.nan, index=table.index)
    return pd.to_numeric(table[col], errors="coerce")


def best_plans(summary: pd.DataFrame) -> pd.DataFrame:
    """Which plan is best on each measure of :data:`MEASURES` the summary holds: ``measure``,
    ``best`` (the plans tied best, in order), ``value``. Measures no plan has are left out."""
    rows = []
    for col, rule in MEASURES.items():
        if col not in summary.columns:
            continue
        if rule == "true":
            v = summary[col].map(as_bool)
            if v.isna().all():
                continue
            best = summary.loc[v.eq(True).fillna(False), "plan"].tolist()
            value = bool(best)
        else:
            v = pd.to_numeric(summary[col], errors="coerce")
            if v.isna().all():
                continue
            value = float(v.min() if rule == "min" else v.max())
            best = summary.loc[np.isclose(v.to_numpy(float), value, rtol=1e-9, atol=1e-9),
                               "plan"].tolist()
        rows.append({"measure": col, "best": best, "value": value})
    return pd.DataFrame(rows, columns=["measure", "best", "value"])


def as_bool(v) -> bool | None:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    s = str(v).strip().lower()
    return {"true": True, "1": True, "yes": True, "false": False, "0": False,
            "no": False}.get(s)


# -- reading run folders ---------------------------------------------------------------------

def _read(path: Path, *, required: Sequence[str] = ()) -> pd.DataFrame:
    try:
        df = read_csv_text(path, dtype={"district": str, "plan": str, "worst_district": str})
    except GeoequityError:
        raise
    except Exception as exc:   # pandas raises several kinds for a damaged table
        raise input_error(path, f"cannot be read ({' '.join(str(exc).split())[:120]})",
                          "run the analysis again to rewrite the folder") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise input_error(path, f"has no column {', '.join(missing)}",
                          "run the analysis again with this geoequity to rewrite the folder")
    return df


def _summary_json(folder: Path) -> dict:
    path = folder / "summary.json"
    if not folder.is_dir() or not path.is_file():
        what = "not found" if not folder.exists() else (
            "is not a folder" if not folder.is_dir() else
            "is not a finished run folder (no summary.json)")
        raise input_error(folder, what, "give folders written by geoequity run or demo")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise input_error(path, f"is not JSON ({' '.join(str(exc).split())[:100]})",
                          "run the analysis again to rewrite the folder") from None
    if not isinstance(data, dict):
        raise input_error(path, "is not a run's summary (not a JSON object)",
                          "run the analysis again to rewrite the folder")
    return data


def access_inequality(access, children) -> tuple[float, float]:
    """(Gini, Theil T) of the cells' accessibility ``access``, weighted by ``children``, pooled
    over every cell-year given; cells with no access (NaN) or no children are left out.
    The one rule of ``gini_access`` and ``theil_access`` for a run's plans and run folders."""
    from geoequity.equity import gini, theil

    a = np.asarray(access, dtype=float).ravel()
    w = np.asarray(children, dtype=float).ravel()
    ok = np.isfinite(a) & (w > 0)
    if not ok.any():
        return np.nan, np.nan
    return float(gini(a[ok], w[ok])), float(theil(a[ok], w[ok]).total)


def _run_measures(folder: Path) -> dict:
    """Gini and Theil of access and the balance verdict of a run folder (module notes)."""
    out: dict = {"gini_access": np.nan, "theil_access": np.nan, "balance_pass": None}
    by_year = folder / "cells_by_year.parquet"
    if by_year.is_file():
        try:
            cells = pd.read_parquet(by_year, columns=["children", "access"])
        except (OSError, ValueError, KeyError) as e:
            raise input_error(by_year, f"cannot be read as a run's cells by year ({e})",
                              "run the analysis again to rewrite the folder") from None
        out["gini_access"], out["theil_access"] = access_inequality(cells["access"],
                                                                    cells["children"])
        return out | _balance(folder)
    if (folder / "equity.csv").is_file():
        eq = _read(folder / "equity.csv")
        if {"grouping", "gini"} <= set(eq.columns):
            row = eq[eq["grouping"].astype(str) == "all"]
            if len(row):
                out["gini_access"] = float(row["gini"].iloc[0])
    if (folder / "theil.csv").is_file():
        th = _read(folder / "theil.csv")
        if "theil_t" in th.columns and len(th):
            out["theil_access"] = float(th["theil_t"].iloc[0])
    return out | _balance(folder)


def _balance(folder: Path) -> dict:
    """``balance_pass`` of a run folder: every ``all`` row of its balance summary passed."""
    out: dict = {"balance_pass": None}
    if (folder / "report_balance_summary.csv").is_file():
        bs = _read(folder / "report_balance_summary.csv")
        if {"district", "passed"} <= set(bs.columns):
            rows = bs[bs["district"].astype(str) == "all"]["passed"].map(as_bool)
            if len(rows) and rows.notna().all():
                out["balance_pass"] = bool(rows.all())
    return out


def _with_columns(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    df = df.copy()
    for c in columns:
        if c not in df.columns:
            df[c] = np.nan
    return df[list(columns)]


def _by_year(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the columns of ``plans_by_year.csv`` (missing ones NaN), years as Int64."""
    by_year = _with_columns(table, BY_YEAR_COLUMNS)
    by_year["year"] = pd.to_numeric(by_year["year"], errors="coerce").astype("Int64")
    return by_year


def read_run(folder: str | Path, name: str) -> PlanTables:
    """One finished run folder as plans: its ``[[plans]]`` (named ``name/plan``) or the run
    itself as one plan named ``name`` (module notes)."""
    folder = Path(folder)
    summary_json = _summary_json(folder)
    plans = read_plans(folder, prefix=f"{name}/")
    if plans is not None:
        return PlanTables(plans.by_year, _other_measures(plans.by_year, plans.summary))
    if (folder / "districts_by_year.csv").is_file():
        table = _read(folder / "districts_by_year.csv", required=["year", *_NEEDED])
    elif (folder / "districts.csv").is_file():
        table = _read(folder / "districts.csv", required=_NEEDED)
        year = summary_json.get("year")
        year = year if isinstance(year, int) and not isinstance(year, bool) else year_of(folder)
        table["year"] = year
    else:
        raise input_error(folder, "has no districts.csv (a run without [districts])",
                          "compare runs that have districts")
    table["plan"] = name
    by_year = _by_year(table)
    measures = pd.DataFrame([{"plan": name, **_run_measures(folder)}])
    return PlanTables(by_year, _other_measures(by_year, measures))


def read_plans(folder: str | Path, *, prefix: str = "") -> PlanTables | None:
    """The plans a run folder holds (``plans_by_year.csv``, ``plans_summary.csv`` and
    ``plans_schools.csv`` as the run wrote them, when present), plan names prefixed with
    ``prefix``; None without plans.
    ``geoequity map OUTDIR`` and ``geoequity report OUTDIR`` draw them again from here."""
    folder = Path(folder)
    path = folder / "plans_by_year.csv"
    if not path.is_file():
        return None
    by_year = _read(path, required=["plan", "year", *_NEEDED])
    by_year["plan"] = prefix + by_year["plan"].astype(str)
    by_year = _by_year(by_year)
    summary = None
    if (folder / "plans_summary.csv").is_file():
        summary = _read(folder / "plans_summary.csv", required=["plan"])
        summary["plan"] = prefix + summary["plan"].astype(str)
    schools = None
    if (folder / "plans_schools.csv").is_file():
        schools = _read(folder / "plans_schools.csv", required=["plan", "action", "lon", "lat"])
        schools["plan"] = prefix + schools["plan"].astype(str)
    return PlanTables(by_year, summary if summary is not None else summarise(by_year),
                      schools=schools)


def _other_measures(by_year: pd.DataFrame, summary: pd.DataFrame | None) -> pd.DataFrame:
    """The plans of ``by_year`` in order with the measures the years do not give."""
    plans = pd.DataFrame({"plan": list(dict.fromkeys(by_year["plan"]))})
    keep = [c for c in SUMMARY_COLUMNS if c not in _FROM_YEARS]
    if summary is not None:
        plans = plans.merge(summary.drop_duplicates("plan"), on="plan", how="left")
    return _with_columns(plans, keep)


# -- comparing runs --------------------------------------------------------------------------

def _names(folders: Sequence[Path], names: Sequence[str] | None) -> list[str]:
    if names is not None:
        names = [str(n).strip() for n in names]
        if len(names) != len(folders):
            raise input_error("--names", f"{len(names)} names for {len(folders)} runs",
                              "give one name per run folder, in order")
        if any(not n for n in names):
            raise input_error("--names", "a name is blank", "give every run a name")
        return names
    out = [f.resolve().name or str(f) for f in folders]
    if len(set(out)) < len(out):   # e.g. a/run and b/run: their titles, else their run ids
        summaries = [_summary_json(f) for f in folders]
        for key in ("title", "run_id"):
            dup = {n for n in out if out.count(n) > 1}
            out = [str(s.get(key) or n) if n in dup else n for n, s in zip(out, summaries)]
    return out


def _year_keys(years: pd.Series) -> list[int | None]:
    """Years as ints, an unknown year as None (so unknown matches unknown)."""
    return [None if pd.isna(y) else int(y) for y in years]


def _year_text(years) -> str:
    ys = sorted({int(y) for y in years if y is not None and pd.notna(y)})
    if not ys:
        return "year unknown"
    if ys == list(range(ys[0], ys[-1] + 1)) and len(ys) > 2:
        return f"{ys[0]}-{ys[-1]}"
    return ", ".join(map(str, ys))


def compare_runs(folders: Sequence[str | Path], names: Sequence[str] | None = None
                 ) -> PlanTables:
    """Compare finished run folders as plans (module notes).

    Parameters
    ----------
    folders
        Run folders written by ``geoequity run``/``demo`` (``summary.json``, ``districts.csv``
        and, where present, ``districts_by_year.csv``, ``plans_by_year.csv``,
        ``plans_summary.csv``, ``equity.csv``, ``theil.csv``).
    names
        One name per folder (default: the folder's name; the title, then the run id, where
        two folders share a name).

    Returns
    -------
    PlanTables
        ``by_year`` (the years every run has) and ``summary``; ``notes`` says what was left out.
    """
    folders = [Path(f) for f in folders]
    if not folders:
        raise input_error("compare", "no run folder given", "give two or more run folders")
    seen: dict[str, Path] = {}
    for f in folders:
        _summary_json(f)
        key = str(f.resolve())
        if key in seen:
            raise input_error(f, "is given twice", "give each run folder once")
        seen[key] = f
    names = _names(folders, names)
    runs = [read_run(f, n) for f, n in zip(folders, names)]
    plans = [p for r in runs for p in dict.fromkeys(r.by_year["plan"])]
    dup = next((p for i, p in enumerate(plans) if p in plans[:i]), None)
    if dup is not None:
        raise input_error("--names", f"two plans are named {dup!r}",
                          "give the runs different names (--names)")
    _check_districts(runs, folders)
    by_year = pd.concat([r.by_year for r in runs], ignore_index=True)
    year_sets = [set(_year_keys(r.by_year["year"])) for r in runs]
    common = set.intersection(*year_sets)
    if not common:
        said = "; ".join(f"{f}: {_year_text(ys)}" for f, ys in zip(folders, year_sets))
        raise input_error(folders[0], f"the runs share no year ({said})",
                          "compare runs of a common year (a run's year: summary.json 'year', "
                          "a year in its folder name, or its forecast years), or use "
                          "geoequity trend for year-on-year monitoring")
    notes = [f"{f}: years {_year_text(ys - common)} left out (not in every run); compared: "
             f"{_year_text(common)}" for f, ys in zip(folders, year_sets) if ys - common]
    keep = [k in common for k in _year_keys(by_year["year"])]
    by_year = by_year[keep].reset_index(drop=True)
    others = pd.concat([r.summary for r in runs], ignore_index=True)
    summary = summarise(by_year).merge(others, on="plan", how="left")[SUMMARY_COLUMNS]
    for note in notes:
        info(f"compare: {note}")
    return PlanTables(by_year, summary, notes)


def _check_districts(runs: list[PlanTables], folders: list[Path]) -> None:
    sets = [set(r.by_year["district"].astype(str)) - {ALL} for r in runs]
    for f, s in zip(folders[1:], sets[1:]):
        if s != sets[0]:
            lacks, extra = sorted(sets[0] - s), sorted(s - sets[0])
            said = "; ".join(x for x in (
                f"lacks {', '.join(lacks[:5])}" if lacks else "",
                f"has {', '.join(extra[:5])} as well" if extra else "") if x)
            raise input_error(f, f"covers other districts than {folders[0]} ({said})",
                              "compare runs of the same districts")
