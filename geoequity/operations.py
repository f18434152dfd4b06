"""School operations from a school table: classes and class size, school size, classrooms,
teachers and funding per pupil, each against its norm in ``geoequity/data/standards.toml``
(section ``[operations]``).

Per school (one row each):

- class size = enrolment / classes, against the limit of its level (45 primary, 50 junior:
  2017 办法, government-guarantee item 5); 大班额 (more than 56 pupils) and 超大班额 (more than
  66) classes are counted from ``large_classes`` / ``very_large_classes`` when the table has
  them, else estimated from the average: every class of a school whose average is above 56
  (66) is counted (a note says so);
- school size = enrolment, against 2,000 (primary, junior) or 2,500 (nine-year and
  twelve-year schools) (2017 办法, item 4);
- classrooms needed = ceil(classes x ``rooms_per_class``), against ``classrooms`` when given;
- teachers needed = ceil(pupils / pupils-per-teacher of the staffing norm (编制): primary 19,
  junior 13.5), a combined school's pupils split by level (``enrolment_primary`` /
  ``enrolment_junior``, else by grades 6 : 3), against ``teachers`` when given;
- public funds per pupil (生均公用经费) = ``public_funds`` / enrolment, against the standard
  per pupil of its level; a school with fewer than 100 pupils is funded as if it had 100
  (item 6), a special-education school at 6,000 yuan per pupil (item 7).

Totals per district, per urban/rural class and for all schools (``summary``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geoequity._errors import input_error
from geoequity._notes import note
from geoequity._options import option
from geoequity.balance import load_standards, normalise_level
from geoequity.school_types import school_types

__all__ = ["OPERATION_COLUMNS", "OperationsResult", "school_operations"]

#: Canonical column names and the other spellings recognised (first match wins).
OPERATION_COLUMNS: dict[str, tuple[str, ...]] = {
    "enrolment": ("enrollment", "students", "在校生数", "学生数"),
    "classes": ("n_classes", "class_count", "班级数", "班数"),
    "classrooms": ("n_classrooms", "ordinary_classrooms", "教室数", "普通教室数"),
    "teachers": ("full_time_teachers", "teachers_full_time", "专任教师数"),
    "public_funds": ("public_funds_yuan", "public_funding", "public_funding_yuan", "公用经费"),
    "large_classes": ("大班额班数",),
    "very_large_classes": ("超大班额班数",),
}


@dataclass
class OperationsResult:
    """Outcome of :func:`school_operations`.

    Attributes
    ----------
    schools
        One row per school (id in the index): ``district``, ``urban``, ``level``, ``type``,
        ``enrolment``, ``classes``, ``class_size``, ``class_limit``, ``over_class_limit``,
        ``large_classes``, ``very_large_classes``, ``size_limit``, ``over_size``,
        ``rooms_needed``, ``classrooms``, ``rooms_short``, ``teachers_needed``, ``teachers``,
        ``teachers_short``, ``funds_per_pupil``, ``funds_needed`` (yuan, the school's standard
        total), ``funds_ok``. Columns the table cannot give are NaN.
    summary
        One row per (``grouping``, ``group``): ``district`` groups, ``urban`` groups and
        (``all``, ``all``): ``schools``, ``enrolment``, ``classes``, ``class_size`` (pupils /
        classes), ``share_over_limit``, ``share_large`` (大班额 classes / classes),
        ``share_very_large``, ``schools_over_size``, ``rooms_needed``, ``rooms_short``,
        ``teachers_needed``, ``teachers``, ``teachers_short``, ``funds_per_pupil``,
        ``schools_below_funding``.
    notes
        What was estimated or skipped.
    """

    schools: pd.DataFrame
    summary: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _find(schools: pd.DataFrame, key: str, given: dict[str, str]) -> str | None:
    if key in given:
        return given[key]
    for c in (key, *OPERATION_COLUMNS[key]):
        if c in schools.columns:
            return c
    return None


def _numbers(schools: pd.DataFrame, col: str | None, source: str, key: str) -> pd.Series:
    """A numeric column (NaN when absent); text and negative numbers are refused."""
    if col is None:
        return pd.Series(np.nan, index=schools.index)
    if col not in schools.columns:
        raise input_error(source, f"has no {key} column {col!r}",
                          f"choose one of: {', '.join(map(str, schools.columns))}")
    num = pd.to_numeric(schools[col], errors="coerce").astype(float)
    bad = (num.isna() & schools[col].notna()) | (num < 0)
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise input_error(source, f"row {row + 1} (school {schools.index[row]}): {key} column "
                          f"{col!r} is {schools[col].iloc[row]!r}", "give a number, 0 or more")
    return num


def _levels(schools: pd.DataFrame, level_col: str, source: str) -> pd.Series:
    if level_col not in schools.columns:
        raise input_error(source, f"no level column {level_col!r}",
                          "name the column holding primary / junior / combined "
                          f"({option('level_col')})")
    lv = schools[level_col].map(normalise_level)
    if lv.isna().any():
        row = int(lv.isna().to_numpy().nonzero()[0][0])
        raise input_error(source, f"row {row + 1} (school {schools.index[row]}): level "
                          f"{schools[level_col].iloc[row]!r} is not primary, junior or combined",
                          "use primary/junior/combined or 小学/初中/九年一贯制, or give the "
                          f"school a type ({option('type_col')}) such as 特殊教育学校")
    return lv


def _split(schools: pd.DataFrame, enrol: pd.Series, levels: pd.Series,
           split: dict[str, Any]) -> tuple[pd.Series, pd.Series]:
    """Primary and junior pupils of each school (combined schools split as in balance)."""
    ep = enrol.where(levels == "primary", 0.0)
    ej = enrol.where(levels == "junior", 0.0)
    comb = levels == "combined"
    if comb.any():
        gp, gj = float(split["grades_primary"]), float(split["grades_junior"])
        given_p = pd.to_numeric(schools.get("enrolment_primary"), errors="coerce") if (
            "enrolment_primary" in schools) else pd.Series(np.nan, index=schools.index)
        given_j = pd.to_numeric(schools.get("enrolment_junior"), errors="coerce") if (
            "enrolment_junior" in schools) else pd.Series(np.nan, index=schools.index)
        ok = given_p.notna() & given_j.notna()
        ep = ep.where(~comb, given_p.where(ok, enrol * gp / (gp + gj)))
        ej = ej.where(~comb, given_j.where(ok, enrol * gj / (gp + gj)))
    return ep.astype(float), ej.astype(float)


def _ceil(x: pd.Series) -> pd.Series:
    """Whole rooms or teachers needed; a tiny tolerance keeps 50.0000001 at 50."""
    return np.ceil(x.astype(float) - 1e-9)


def school_operations(
    schools: pd.DataFrame,
    *,
    level_col: str = "level",
    district_col: str | None = None,
    urban_col: str | None = None,
    type_col: str | None = None,
    columns: dict[str, str] | None = None,
    standards: str | Path | dict[str, Any] | None = None,
) -> OperationsResult:
    """Class size, school size, classrooms, teachers and funding per school against the norms.

    Parameters
    ----------
    schools
        One row per school, id in the index: ``level_col``, ``enrolment`` and ``classes``
        (or the spellings of :data:`OPERATION_COLUMNS`); optional ``classrooms``,
        ``teachers``, ``public_funds`` (yuan per year), ``large_classes``,
        ``very_large_classes``, ``enrolment_primary``/``enrolment_junior`` (combined schools).
    level_col
        School levels: primary / junior / combined (English or Chinese).
    district_col, urban_col
        Columns to total by (district names; urban/rural class).
    type_col
        School types (:mod:`geoequity.school_types`): a special-education school is checked
        against the special-school funding standard; special and vocational schools are not
        held to the class and school size limits of ordinary schools (their rows say so).
    columns
        ``{canonical_name: your_column}`` for columns named differently.
    standards
        An edited standards table (path or parsed dict); default the packaged one.

    Returns
    -------
    OperationsResult
    """
    table = standards if isinstance(standards, dict) else load_standards(standards)
    spec = table.get("operations")
    if not isinstance(spec, dict):
        raise input_error(standards or "standards.toml", "has no [operations] table",
                          "start from a copy of geoequity/data/standards.toml")
    source = str(schools.attrs.get("source", "schools"))
    given = dict(columns or {})
    unknown = set(given) - set(OPERATION_COLUMNS)
    if unknown:
        raise input_error(source, f"unknown column key {sorted(unknown)[0]!r} in columns=",
                          f"use one of {', '.join(OPERATION_COLUMNS)}")
    cols = {k: _find(schools, k, given) for k in OPERATION_COLUMNS}
    for need in ("enrolment", "classes"):
        if cols[need] is None:
            raise input_error(source, f"has no {need} column",
                              f"add a column {need!r} (or {', '.join(OPERATION_COLUMNS[need])})")
    num = {k: _numbers(schools, c, source, k) for k, c in cols.items()}
    types = (school_types(schools[type_col], source=source, column=type_col)
             if type_col else pd.Series("regular", index=schools.index, dtype=object))
    if type_col and type_col not in schools.columns:
        raise input_error(source, f"no school-type column {type_col!r}",
                          f"choose one of: {', '.join(map(str, schools.columns))}")
    ordinary = ~types.isin(["special", "vocational"])
    levels = pd.Series("", index=schools.index, dtype=object)
    levels[ordinary] = _levels(schools[ordinary], level_col, source)
    if (~ordinary).any() and level_col in schools.columns:
        levels[~ordinary] = schools.loc[~ordinary, level_col].astype(str)
    enrol, classes = num["enrolment"], num["classes"]
    zero = (classes == 0) & (enrol > 0)
    if zero.any():
        row = int(zero.to_numpy().nonzero()[0][0])
        raise input_error(source, f"row {row + 1} (school {schools.index[row]}): "
                          f"{enrol.iloc[row]:g} pupils in 0 classes",
                          "give the number of classes (1 or more) or leave the cell blank")
    notes: list[str] = []
    out = _per_school(schools, levels, types, ordinary, num, spec, table["split"], notes)
    out["district"] = (schools[district_col].astype(str) if district_col else "all")
    out["urban"] = (schools[urban_col].astype(str) if urban_col else "")
    for c, col in ((district_col, "district"), (urban_col, "urban")):
        if c is not None and c not in schools.columns:
            raise input_error(source, f"has no {col} column {c!r}",
                              f"choose one of: {', '.join(map(str, schools.columns))}")
    out = out[["district", "urban", *[c for c in out.columns if c not in ("district", "urban")]]]
    out.index.name = schools.index.name or "school"
    groupings = [g for g, c in (("district", district_col), ("urban", urban_col)) if c]
    return OperationsResult(out, _summary(out, groupings), notes)


def _per_school(schools: pd.DataFrame, levels: pd.Series, types: pd.Series,
                ordinary: pd.Series, num: dict[str, pd.Series], spec: dict[str, Any],
                split: dict[str, Any], notes: list[str]) -> pd.DataFrame:
    enrol, classes = num["enrolment"], num["classes"]
    limits = spec["class_size_max"]
    class_limit = levels.map({"primary": float(limits["primary"]),
                              "junior": float(limits["junior"]),
                              "combined": float(limits["combined"])}).astype(float)
    class_limit[~ordinary] = np.nan
    size = classes.where(classes > 0)
    class_size = enrol / size
    large, very = float(spec["large_class"]), float(spec["very_large_class"])
    est = num["large_classes"].isna() | num["very_large_classes"].isna()
    large_n = num["large_classes"].where(~est, classes.where(class_size > large, 0.0))
    very_n = num["very_large_classes"].where(~est, classes.where(class_size > very, 0.0))
    if est.any() and (class_size > large).any():
        notes.append(note("large_classes_estimated", "大班额/超大班额 classes estimated from "
                          "average class sizes: every class of a school averaging more than "
                          f"{large:g} ({very:g}) pupils is counted; give large_classes / "
                          "very_large_classes for exact counts", large=f"{large:g}",
                          very=f"{very:g}"))
    caps = spec["school_size_max"]
    size_limit = levels.map({"primary": float(caps["primary"]), "junior": float(caps["junior"]),
                             "combined": float(caps["combined"])}).astype(float)
    size_limit[~ordinary] = np.nan
    ep, ej = _split(schools, enrol, levels.where(ordinary, "primary"), split)
    ratio = spec["pupils_per_teacher"]
    teachers_needed = _ceil(ep / float(ratio["primary"]) + ej / float(ratio["junior"]))
    per_pupil = spec["public_funds_per_pupil"]
    std = ep * float(per_pupil["primary"]) + ej * float(per_pupil["junior"])
    funded = enrol.clip(lower=float(spec["small_school_funded_pupils"]))
    std = (std / enrol.where(enrol > 0)) * funded   # a small school funded as 100 pupils
    special = types == "special"
    std[special] = enrol[special] * float(spec["special_funds_per_pupil"])   # per pupil
    rooms = _ceil(classes * float(spec["rooms_per_class"]))
    out = pd.DataFrame({
        "level": levels, "type": types, "enrolment": enrol, "classes": classes,
        "class_size": class_size, "class_limit": class_limit,
        "over_class_limit": class_size > class_limit,
        "large_classes": large_n, "very_large_classes": very_n,
        "size_limit": size_limit, "over_size": enrol > size_limit,
        "rooms_needed": rooms, "classrooms": num["classrooms"],
        "rooms_short": (rooms - num["classrooms"]).clip(lower=0),
        "teachers_needed": teachers_needed, "teachers": num["teachers"],
        "teachers_short": (teachers_needed - num["teachers"]).clip(lower=0),
        "funds_per_pupil": num["public_funds"] / enrol.where(enrol > 0),
        "funds_needed": std,
        "funds_ok": (num["public_funds"] >= std - 0.5).where(num["public_funds"].notna()),
    }, index=schools.index)
    if (~ordinary).any():
        notes.append(note("special_size_limits", f"{int((~ordinary).sum())} special or "
                          "vocational school(s): not held to the class and school size limits "
                          "of ordinary schools", n=int((~ordinary).sum())))
    return out


def _totals(g: pd.DataFrame) -> dict[str, Any]:
    classes = g["classes"].sum()
    enrol = g["enrolment"].sum()
    over = g.loc[g["over_class_limit"].fillna(False).astype(bool), "classes"].sum()
    funds = g["funds_per_pupil"] * g["enrolment"]
    return {
        "schools": len(g), "enrolment": enrol, "classes": classes,
        "class_size": enrol / classes if classes else math.nan,
        "share_over_limit": over / classes if classes else math.nan,
        "share_large": g["large_classes"].sum() / classes if classes else math.nan,
        "share_very_large": g["very_large_classes"].sum() / classes if classes else math.nan,
        "schools_over_size": int(g["over_size"].sum()),
        "rooms_needed": g["rooms_needed"].sum(),
        "rooms_short": g["rooms_short"].sum(min_count=1),
        "teachers_needed": g["teachers_needed"].sum(),
        "teachers": g["teachers"].sum(min_count=1),
        "teachers_short": g["teachers_short"].sum(min_count=1),
        "funds_per_pupil": funds.sum() / enrol if funds.notna().any() and enrol else math.nan,
        "schools_below_funding": int((g["funds_ok"] == False).sum()),  # noqa: E712
    }


def _summary(out: pd.DataFrame, groupings: list[str]) -> pd.DataFrame:
    rows = []
    for grouping in groupings:
        for name, g in out.groupby(grouping, sort=True):
            rows.append({"grouping": grouping, "group": name, **_totals(g)})
    rows.append({"grouping": "all", "group": "all", **_totals(out)})
    return pd.DataFrame(rows)
