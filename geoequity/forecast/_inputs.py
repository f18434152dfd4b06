"""Reading and checking the enrolment history, births and feeder tables.

Every problem becomes one :func:`geoequity._errors.input_error` line that names the file, the
rows or years, and what to do. Row numbers count the header as row 1 (as a spreadsheet shows).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from geoequity._errors import input_error
from geoequity.io.text import read_csv_text

HISTORY_COLUMNS = ["school", "year", "grade", "students"]


def read_table(source, what: str = "table") -> tuple[pd.DataFrame, str]:
    """Read a CSV/TSV, Parquet or Excel table with every column as text (or take a DataFrame).

    Returns the frame and the name used in messages (the path, or ``what`` for a frame).
    """
    if isinstance(source, pd.DataFrame):
        return source.copy(), what
    src = Path(os.fspath(source))
    if not src.exists():
        raise input_error(src, "file not found", f"check the path (taken from {Path.cwd()})")
    suffix = src.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(src), str(src)
        if suffix in (".xlsx", ".xls"):
            return pd.read_excel(src, dtype=str), str(src)
        sep = "\t" if suffix == ".tsv" else ","
        return read_csv_text(src, sep=sep, dtype=str, keep_default_na=False), str(src)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise input_error(src, f"cannot be read ({str(exc).splitlines()[0]})",
                          "give a CSV, Parquet or Excel table") from None


def _rows(mask: np.ndarray, limit: int = 5) -> str:
    """'rows 3, 7 and 9' for the True positions of ``mask`` (header = row 1)."""
    idx = (np.flatnonzero(mask) + 2).tolist()
    shown = ", ".join(map(str, idx[:limit])) + (f" and {len(idx) - limit} more"
                                                 if len(idx) > limit else "")
    return ("row " if len(idx) == 1 else "rows ") + shown


def _require(df: pd.DataFrame, cols: dict[str, str], src: str) -> None:
    for flag, col in cols.items():
        if col not in df.columns:
            raise input_error(src, f"has no {flag} column {col!r}",
                              f"name one of {', '.join(map(str, df.columns))} with --{flag}")


def _numbers(s: pd.Series, col: str, src: str, *, integer: bool = False,
             what: str = "count") -> np.ndarray:
    text = s.astype(str).str.strip()
    blank = s.isna().to_numpy() | (text == "").to_numpy() | text.str.lower().isin(
        ["nan", "none", "<na>"]).to_numpy()
    if blank.any():
        raise input_error(src, f"column {col!r} is blank in {_rows(blank)}",
                          f"fill in every {what} (0 where there were none)")
    num = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(num)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise input_error(src, f"column {col!r} has text that is not a number in {_rows(bad)} "
                          f"(e.g. {s.iloc[first]!r})", f"write each {what} as a plain number")
    if integer and (num != np.round(num)).any():
        bad = num != np.round(num)
        raise input_error(src, f"column {col!r} has years that are not whole numbers in "
                          f"{_rows(bad)}", "write years as e.g. 2012")
    if (num < 0).any():
        raise input_error(src, f"column {col!r} is negative in {_rows(num < 0)}",
                          f"a {what} cannot be negative; correct those rows")
    return num


def read_history(source, *, school_col: str = "school", year_col: str = "year",
                 grade_col: str = "grade", count_col: str = "students",
                 grades: Sequence[str] | None = None, what: str = "enrolment history",
                 flags: tuple[str, str, str, str] = ("school-col", "year-col", "grade-col",
                                                     "count-col")) -> tuple[pd.DataFrame, str]:
    """The history as ``school, year, grade, students`` (str, int, str, float), checked."""
    df, src = read_table(source, what)
    _require(df, dict(zip(flags, (school_col, year_col, grade_col, count_col))), src)
    df = df.reset_index(drop=True)
    school = df[school_col].astype(str).str.strip()
    if (school == "").any() or df[school_col].isna().any():
        raise input_error(src, f"column {school_col!r} is blank in "
                          f"{_rows(((school == '') | df[school_col].isna()).to_numpy())}",
                          "name the school on every row")
    year = _numbers(df[year_col], year_col, src, integer=True, what="year").astype(int)
    grade = df[grade_col].astype(str).str.strip()
    grade = grade.str.replace(r"\.0$", "", regex=True) if df[grade_col].dtype.kind == "f" \
        else grade
    students = _numbers(df[count_col], count_col, src)
    out = pd.DataFrame({"school": school.to_numpy(), "year": year, "grade": grade.to_numpy(),
                        "students": students})
    dup = out.duplicated(["school", "year", "grade"], keep=False).to_numpy()
    if dup.any():
        first = out.loc[dup].iloc[0]
        raise input_error(src, f"{int(dup.sum())} rows repeat a (school, year, grade): "
                          f"{_rows(dup)} (e.g. {first.school}, {first.year}, {first.grade})",
                          "keep one row per school, year and grade (sum class sections first)")
    if grades is not None:
        check_grades(out, grades, src)
    return out, src


def check_grades(history: pd.DataFrame, grades: Sequence[str], src: str) -> None:
    """The history's grades must be exactly the listed ones."""
    listed = [str(g) for g in grades]
    if len(set(listed)) != len(listed):
        raise input_error(src, f"the grade list {','.join(listed)} repeats a grade",
                          "list each grade once, in order (e.g. --grades K,1,2,3,4,5)")
    if len(listed) < 2:
        raise input_error(src, "the grade list needs at least two grades",
                          "list the grades in order, e.g. --grades K,1,2,3,4,5")
    found = pd.unique(history["grade"])
    extra = [g for g in found if g not in listed]
    if extra:
        rows = history["grade"].isin(extra).to_numpy()
        raise input_error(src, f"{_grades(extra)} not in the grade "
                          f"list {','.join(listed)} ({_rows(rows, 3)})",
                          "list every grade of the file in --grades, or drop those rows")
    missing = [g for g in listed if g not in set(found)]
    if missing:
        raise input_error(src, f"{_grades(missing)} in the grade list but never in the file "
                          f"(it has {', '.join(map(str, found))})",
                          "give the grades the file holds, with the labels it uses")


def _grades(labels) -> str:
    quoted = ", ".join(map(repr, labels))
    return f"grade {quoted} is" if len(labels) == 1 else f"grades {quoted} are"


def read_births(source, *, year_col: str = "year", births_col: str = "births",
                what: str = "births") -> tuple[pd.Series, str]:
    """Births per year as a float Series indexed by year, checked."""
    if isinstance(source, pd.Series):
        s = source.astype(float)
        s.index = s.index.astype(int)
        return s.sort_index(), what
    df, src = read_table(source, what)
    _require(df, {"births-year-col": year_col, "births-col": births_col}, src)
    df = df.reset_index(drop=True)
    year = _numbers(df[year_col], year_col, src, integer=True, what="year").astype(int)
    births = _numbers(df[births_col], births_col, src, what="birth count")
    dup = pd.Series(year).duplicated(keep=False).to_numpy()
    if dup.any():
        raise input_error(src, f"year {year[dup][0]} appears more than once ({_rows(dup)})",
                          "keep one row per year")
    return pd.Series(births, index=year).sort_index(), src


def check_births_cover(births: pd.Series, src: str, years: Sequence[int], lag: int) -> None:
    """Births must exist for every projected entry year (birth year = year - lag)."""
    need = [y - lag for y in years]
    missing = [y for y in need if y not in births.index]
    if missing:
        span = f"{min(missing)}" if len(missing) == 1 else f"{min(missing)}-{max(missing)}"
        raise input_error(src, f"no births for {span} ({len(missing)} year(s)), needed for the "
                          f"entry grade in {missing[0] + lag}" + (
                              f"-{missing[-1] + lag}" if len(missing) > 1 else ""),
                          "add those years (a registry count or an estimate), shorten "
                          "--horizon, or leave out --births to use the entry grade's trend")
