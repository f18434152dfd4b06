"""China's county-level evaluation of balanced compulsory education (school-resource balance).

Two national standards are implemented, both read from the editable table
``geoequity/data/standards.toml`` (nothing is hard-coded here):

- ``standard="basic"``: 《县域义务教育均衡发展督导评估暂行办法》 (2012). Eight per-student or
  per-100-student indicators; for each county/district and level the enrolment-weighted CV of
  each indicator across schools; the composite CV (mean of the eight) must be at most 0.65
  (primary) / 0.55 (junior secondary).
- ``standard="quality"``: 《县域义务教育优质均衡发展督导评估办法》 (2017). Seven indicators, each
  with a minimum per school; every indicator's CV must be at most 0.50 / 0.45, and every school
  must meet at least 6 of the 7 minimums with the others at 85 % or more of theirs.

The CV is :math:`\\sigma/\\mu` with :math:`\\mu = \\sum P_i x_i / P` and
:math:`\\sigma = \\sqrt{\\sum P_i (x_i-\\mu)^2 / P}`, :math:`P_i` the enrolment of school *i*
(:func:`geoequity.equity.coefficient_of_variation` with enrolment weights). Note that
:math:`\\mu` is then the county ratio (total books / total students). The official worked
example (enrolments 45, 37, 89, 76, 55 holding 279, 137, 935, 160, 402 books) gives
:math:`\\mu = 6.33` and CV 0.515 with this formula.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from geoequity._errors import input_error
from geoequity._notes import note
from geoequity._options import current_door, option
from geoequity.level_names import KINDS, parse_levels
from geoequity.school_types import school_types

__all__ = ["ALIASES", "BalanceResult", "RESOURCE_COLUMNS", "TYPE_REASONS", "auto_balance",
           "evaluate_balance",
           "excluded_by_type", "load_standards",
           "normalise_level"]

#: Canonical resource column names (map yours with ``columns={"books": "藏书"}``).
RESOURCE_COLUMNS = (
    "enrolment", "teachers", "teachers_qualified", "teachers_senior", "teachers_backbone",
    "teachers_pe_arts", "floor_area", "sports_area", "equipment_value", "computers", "books",
    "multimedia_classrooms",
)

#: Other spellings recognised for each canonical column (first match wins).
ALIASES: dict[str, tuple[str, ...]] = {
    "enrolment": ("enrollment", "students", "在校生数", "学生数"),
    "teachers": ("full_time_teachers", "teachers_full_time", "专任教师数"),
    "teachers_qualified": ("qualified_teachers", "teachers_above_qualification"),
    "teachers_senior": ("teachers_senior_title", "senior_title_teachers", "senior_teachers",
                        "teachers_mid_senior"),
    "teachers_backbone": ("backbone_teachers", "teachers_key"),
    "teachers_pe_arts": ("pe_arts_teachers", "teachers_pe_art"),
    "floor_area": ("floor_area_m2", "teaching_area", "teaching_area_m2"),
    "sports_area": ("sports_area_m2", "sports_ground_area", "sports_ground_m2"),
    "equipment_value": ("equipment_value_yuan", "equipment_yuan", "equipment"),
    "computers": ("computer", "n_computers"),
    "books": ("library_books", "n_books"),
    "multimedia_classrooms": ("multimedia_rooms", "networked_multimedia_classrooms"),
}

LEVELS = ("primary", "junior")


def load_standards(path: str | Path | None = None) -> dict[str, Any]:
    """Read the thresholds table (``geoequity/data/standards.toml`` unless ``path`` is given).

    Parameters
    ----------
    path
        An edited copy of the table.

    Returns
    -------
    dict
        The parsed TOML: sections ``split``, ``basic``, ``quality``, ``urbanisation``.
    """
    try:
        if path is None:
            text = resources.files("geoequity").joinpath("data/standards.toml").read_text("utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        return _check_standards(tomllib.loads(text), path or "standards.toml")
    except UnicodeDecodeError:
        raise input_error(path, "is not UTF-8 text", "save the standards table as UTF-8 "
                          "TOML") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise input_error(path or "standards.toml", f"cannot read the standards table ({exc})",
                          "fix the TOML syntax or pass a valid file") from None


def _source(schools: pd.DataFrame) -> str:
    """The file the schools came from (``attrs["source"]``), for messages."""
    return str(schools.attrs.get("source", "schools"))


_EDIT = "start from a copy of geoequity/data/standards.toml and edit its values only"


def _check_number(where, name: str, value: Any, *, positive: bool = False,
                  at_most: float | None = None) -> None:
    """Refuse a standards value that is not a finite number in range (text, nan, -1 ...)."""
    ok = (isinstance(value, int | float) and not isinstance(value, bool)
          and np.isfinite(value) and (value > 0 if positive else value >= 0)
          and (at_most is None or value <= at_most))
    if not ok:
        bound = "above 0" if positive else "0 or more"
        if at_most is not None:
            bound += f" and at most {at_most:g}"
        raise input_error(where, f"{name} = {value!r} is not a number {bound}", _EDIT)


def _check_standards(table: Any, where) -> dict[str, Any]:
    """Refuse a standards table without the sections and numbers the evaluation reads."""
    for section in ("split", "basic", "quality"):
        if not isinstance(table.get(section), dict):
            raise input_error(where, f"has no [{section}] table", _EDIT)
    for key in ("primary", "junior", "grades_primary", "grades_junior"):
        _check_number(where, f"[split] {key}", table["split"].get(key), positive=True)
    for section in ("basic", "quality"):
        spec = table[section]
        if spec.get("rule") not in ("composite", "each"):
            raise input_error(where, f"[{section}] rule = {spec.get('rule')!r} is unknown; "
                              "known: composite, each", _EDIT)
        cv_max = spec.get("cv_max")
        for lv in LEVELS:
            _check_number(where, f"[{section}] cv_max.{lv}",
                          cv_max.get(lv) if isinstance(cv_max, dict) else None)
        inds = spec.get("indicators")
        if not isinstance(inds, list) or not inds:
            raise input_error(where, f"[{section}] has no [[{section}.indicators]]", _EDIT)
        for n, ind in enumerate(inds, 1):
            name = f"[[{section}.indicators]] number {n}"
            if not isinstance(ind, dict) or not all(
                    isinstance(ind.get(k), str) for k in ("key", "numerator", "label_en",
                                                          "label_zh")):
                raise input_error(where, f"{name} lacks one of key, numerator, label_en, "
                                  "label_zh (text)", _EDIT)
            _check_number(where, f"{name} per", ind.get("per"), positive=True)
            if section == "quality":
                mins = ind.get("min")
                for lv in LEVELS:
                    _check_number(where, f"{name} min.{lv}",
                                  mins.get(lv) if isinstance(mins, dict) else None)
    _check_number(where, "[quality] min_met", table["quality"].get("min_met"))
    _check_number(where, "[quality] rest_min_fraction", table["quality"].get("rest_min_fraction"),
                  at_most=1.0)
    return table


def normalise_level(value: object) -> str | None:
    """Map a level label (English or Chinese) to ``"primary"``, ``"junior"`` or ``"combined"``.

    Labels are read with the one vocabulary, :func:`geoequity.level_names.parse_levels`: a
    nine-year school (九年一贯制) and a cell listing both levels (``"小学;初中"``) are
    ``"combined"``; a label serving other levels (kindergarten, senior) gives None.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    served = parse_levels(value)
    if served == KINDS["combined"]:
        return "combined"
    if len(served) == 1 and next(iter(served)) in LEVELS:
        return next(iter(served))
    return None


@dataclass
class BalanceResult:
    """Outcome of :func:`evaluate_balance`.

    Attributes
    ----------
    standard
        ``"basic"`` or ``"quality"``.
    summary
        One row per (district, level): ``n_schools``, ``enrolment``, ``cv_composite`` (mean of
        the indicator CVs), ``cv_max`` (largest indicator CV), ``threshold``, ``cv_passed``,
        ``schools_failing_minimums`` (quality), ``passed`` and ``failing_indicators`` (keys,
        ``;``-separated, worst first).
    cv_table
        Long table, one row per (district, level, indicator): ``label_en``, ``label_zh``,
        ``mean`` (enrolment-weighted), ``cv``, ``threshold``, ``passed`` (for ``basic`` the
        per-indicator flag is informative; the rule is on the composite), ``n_schools``.
    schools
        One row per school part (a combined school gives a primary and a junior row): id,
        ``district``, ``level``, ``enrolment``, each indicator value, and for ``quality``
        ``n_met``, ``meets_minimums`` and ``unmet`` (``"key value < minimum"`` for each indicator
        below its minimum, ``;``-separated).
    drivers
        For every CV that fails: the schools that drive it, i.e. those with the largest share of
        the weighted variance :math:`P_i(x_i-\\mu)^2 / \\sum P_j(x_j-\\mu)^2`, listed until
        half of the variance is covered, with ``value``, ``mean``, ``direction`` ("below" or
        "above" the mean), ``variance_share`` and ``cv_without`` (the CV with the school left
        out).
    notes
        What was assumed or skipped (missing columns, combined schools split, zero enrolment).
    excluded
        The schools left out of the evaluation, one row each (school id in the index):
        ``type`` (:data:`geoequity.school_types.TYPES`, ``""`` without a type column),
        ``level`` (as written), ``enrolment`` and ``reason`` (``"special-education school"``,
        ``"vocational school"``, ``"teaching point with 49 pupils (< 50)"``, ``"no enrolment"``).
    """

    standard: str
    summary: pd.DataFrame
    cv_table: pd.DataFrame
    schools: pd.DataFrame
    drivers: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["type", "level", "enrolment", "reason"]))

    @property
    def passed(self) -> bool:
        """Whether every district and level passes."""
        return bool(len(self.summary)) and bool(self.summary["passed"].all())

    @property
    def failing_schools(self) -> pd.DataFrame:
        """Schools below the minimum standards (quality) or driving a failing CV."""
        parts = []
        if "meets_minimums" in self.schools:
            bad = self.schools[~self.schools["meets_minimums"]]
            parts.append(bad.assign(reason="minimum standards: " + bad["unmet"]))
        if len(self.drivers):
            d = self.drivers.assign(
                reason="drives CV of " + self.drivers["indicator"] + " ("
                + self.drivers["direction"] + " mean)")
            parts.append(d[["school", "district", "level", "reason"]].set_index("school"))
        if not parts:
            return pd.DataFrame(columns=["district", "level", "reason"])
        out = pd.concat([p[["district", "level", "reason"]] for p in parts])
        return out.groupby([out.index, "district", "level"], sort=False)["reason"].agg(
            "; ".join).reset_index(level=[1, 2])


# --------------------------------------------------------------------------------------------


def _resolve_columns(schools: pd.DataFrame, columns: dict[str, str] | None,
                     enrolment_col: str) -> pd.DataFrame:
    """Return a frame with canonical resource columns (numeric) renamed from the user's."""
    mapping = {}
    for k in RESOURCE_COLUMNS:
        found = [c for c in (k, *ALIASES.get(k, ())) if c in schools.columns]
        mapping[k] = found[0] if found else k
    if enrolment_col != "enrolment" or enrolment_col in schools.columns:
        mapping["enrolment"] = enrolment_col
    for key, col in (columns or {}).items():
        if key not in RESOURCE_COLUMNS:
            raise input_error(_source(schools), f"unknown resource {key!r} in columns=",
                              f"use one of {', '.join(RESOURCE_COLUMNS)}")
        mapping[key] = col
    if mapping["enrolment"] not in schools.columns:
        raise input_error(_source(schools), f"no enrolment column {mapping['enrolment']!r}",
                          _name_enrolment("name the column of students per school"))
    out = pd.DataFrame(index=schools.index)
    for key, col in mapping.items():
        if col in schools.columns:
            try:
                out[key] = pd.to_numeric(schools[col], errors="raise").astype(float)
            except (ValueError, TypeError):
                bad = schools.index[pd.to_numeric(schools[col], errors="coerce").isna()
                                    & schools[col].notna()]
                raise input_error(_source(schools), f"column {col!r} has non-numeric values "
                                  f"(ids {', '.join(map(str, bad[:5]))})",
                                  "clean the column so it holds numbers") from None
    return out


def _split_combined(res: pd.DataFrame, levels: pd.Series, split: dict[str, Any],
                    schools: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """One row per school part; combined schools become a primary and a junior part."""
    simple = res[levels != "combined"].assign(level=levels[levels != "combined"])
    comb = res[levels == "combined"]
    if comb.empty:
        return simple
    ep_col, ej_col = "enrolment_primary", "enrolment_junior"
    if ep_col in schools.columns and ej_col in schools.columns:
        ep = pd.to_numeric(schools.loc[comb.index, ep_col], errors="coerce").astype(float)
        ej = pd.to_numeric(schools.loc[comb.index, ej_col], errors="coerce").astype(float)
        guess = ep.isna() | ej.isna()
    else:
        ep = pd.Series(np.nan, index=comb.index)
        ej = ep.copy()
        guess = pd.Series(True, index=comb.index)
    gp, gj = float(split["grades_primary"]), float(split["grades_junior"])
    ep = ep.where(~guess, comb["enrolment"] * gp / (gp + gj))
    ej = ej.where(~guess, comb["enrolment"] * gj / (gp + gj))
    if guess.any():
        notes.append(note("combined_guessed", f"{int(guess.sum())} combined school(s) "
                          f"without enrolment_primary/enrolment_junior: students split by "
                          f"grades {gp:g} : {gj:g}", n=int(guess.sum()), gp=f"{gp:g}",
                          gj=f"{gj:g}"))
    rp, rj = float(split["primary"]), float(split["junior"])
    share_p = (ep * rp) / (ep * rp + ej * rj)
    resources_cols = [c for c in comb.columns if c not in ("enrolment", "district")]
    prim = comb[resources_cols].mul(share_p, axis=0).assign(
        enrolment=ep, level="primary", district=comb["district"])
    jun = comb[resources_cols].mul(1 - share_p, axis=0).assign(
        enrolment=ej, level="junior", district=comb["district"])
    notes.append(note("combined_split", f"{len(comb)} combined school(s) split into primary "
                      f"and junior parts; shared resources by students weighted {rp:g} : "
                      f"{rj:g}", n=len(comb), rp=f"{rp:g}", rj=f"{rj:g}"))
    return pd.concat([simple, prim, jun])


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _weighted_cv(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    mu = float(np.sum(w * x) / np.sum(w))
    if mu == 0:
        return mu, float("nan")
    return mu, float(np.sqrt(np.sum(w * (x - mu) ** 2) / np.sum(w)) / mu)


def _drivers(ids: np.ndarray, x: np.ndarray, w: np.ndarray, mu: float) -> pd.DataFrame:
    dev = w * (x - mu) ** 2
    total = dev.sum()
    order = np.argsort(-dev, kind="mergesort")
    share = dev[order] / total if total > 0 else np.zeros(len(order))
    k = int(np.searchsorted(np.cumsum(share), 0.5) + 1)
    rows = []
    for j in order[: max(1, min(k, len(order)))]:
        keep = np.arange(len(x)) != j
        cv_wo = _weighted_cv(x[keep], w[keep])[1] if keep.sum() else float("nan")
        rows.append({"school": ids[j], "value": x[j], "mean": mu,
                     "direction": "below" if x[j] < mu else "above",
                     "variance_share": dev[j] / total if total > 0 else 0.0,
                     "cv_without": cv_wo})
    return pd.DataFrame(rows)


def _check_minimums(school_tab: pd.DataFrame, parts: pd.DataFrame, vals: pd.DataFrame,
                    inds: list[dict[str, Any]], spec: dict[str, Any]) -> pd.DataFrame:
    """2017 rule: at least ``min_met`` minimums met, the rest at ``rest_min_fraction`` or more."""
    mins_tab = pd.DataFrame({i["key"]: parts["level"].map(
        {lv: float(i["min"][lv]) for lv in LEVELS}) for i in inds}, index=parts.index)
    met = vals[mins_tab.columns] >= mins_tab
    near = vals[mins_tab.columns] >= mins_tab * float(spec["rest_min_fraction"])
    school_tab = school_tab.copy()
    school_tab["n_met"] = met.sum(axis=1).astype(int)
    need = int(spec["min_met"]) - (len(spec["indicators"]) - len(inds))
    school_tab["meets_minimums"] = (school_tab["n_met"] >= need) & near.all(axis=1)
    school_tab["unmet"] = [
        ";".join(f"{k} {_num(vals[k].iat[r])} < {mins_tab[k].iat[r]:g}"
                 for j, k in enumerate(met.columns) if not met.iat[r, j])
        for r in range(len(met))]
    return school_tab


def _evaluate_unit(district: str, level: str, grp: pd.DataFrame, inds: list[dict[str, Any]],
                   spec: dict[str, Any], standard: str
                   ) -> tuple[list[dict], dict[str, Any], list[pd.DataFrame]]:
    """CV rows, the summary row and the failing-CV drivers of one county (district) and level."""
    threshold = float(spec["cv_max"][level])
    cvs, cv_rows, drv = {}, [], []
    for i in inds:
        ok = grp[i["key"]].notna()
        x = grp.loc[ok, i["key"]].to_numpy(float)
        w = grp.loc[ok, "enrolment"].to_numpy(float)
        mu, cv = _weighted_cv(x, w) if len(x) else (np.nan, np.nan)
        cvs[i["key"]] = cv
        cv_rows.append({"district": district, "level": level, "indicator": i["key"],
                        "label_en": i["label_en"], "label_zh": i["label_zh"],
                        "mean": mu, "cv": cv, "threshold": threshold,
                        "passed": bool(cv <= threshold) if np.isfinite(cv) else False,
                        "n_schools": int(ok.sum())})
        if (not np.isfinite(cv) or cv > threshold) and len(x) > 1:
            d = _drivers(grp.index[ok].to_numpy(), x, w, mu)
            drv.append(d.assign(district=district, level=level, indicator=i["key"], cv=cv))
    cv_arr = pd.Series(cvs)
    composite = float(cv_arr.mean())
    if spec["rule"] == "composite":
        cv_passed = bool(composite <= threshold)
    else:
        cv_passed = bool((cv_arr <= threshold).all())
    failing = cv_arr[~(cv_arr <= threshold)].sort_values(ascending=False)
    row = {"district": district, "level": level, "n_schools": len(grp),
           "enrolment": float(grp["enrolment"].sum()), "cv_composite": composite,
           "cv_max": float(cv_arr.max()), "threshold": threshold, "cv_passed": cv_passed}
    if standard == "quality":
        row["schools_failing_minimums"] = int((~grp["meets_minimums"]).sum())
        row["passed"] = cv_passed and row["schools_failing_minimums"] == 0
    else:
        row["passed"] = cv_passed
    row["failing_indicators"] = ";".join(failing.index) if not cv_passed else ""
    return cv_rows, row, drv


def _assemble(sum_rows: list[dict], cv_rows: list[dict], drv: list[pd.DataFrame],
              notes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Summary and CV tables; drivers kept only for the CVs that make a unit fail."""
    summary = pd.DataFrame(sum_rows)
    for r in summary.itertuples():
        if r.n_schools < 2:
            notes.append(note("one_school", f"{r.district} {r.level}: only {r.n_schools} "
                              "school, so every CV is 0 by definition; the CV test says "
                              "nothing there", district=r.district, level=r.level,
                              n=r.n_schools))
    cv_table = pd.DataFrame(cv_rows)
    drivers = (pd.concat(drv, ignore_index=True) if drv else pd.DataFrame(
        columns=["school", "value", "mean", "direction", "variance_share", "cv_without",
                 "district", "level", "indicator", "cv"]))
    if len(drivers) and len(summary):
        # keep only drivers of CVs that make the district fail
        failing_pairs = {(r.district, r.level, ind) for r in summary.itertuples()
                         for ind in str(r.failing_indicators).split(";") if ind}
        mask = [(d, lv, ind) in failing_pairs for d, lv, ind in
                zip(drivers["district"], drivers["level"], drivers["indicator"], strict=True)]
        drivers = drivers[mask].reset_index(drop=True)
        drivers = drivers[["district", "level", "indicator", "cv", "school", "value", "mean",
                           "direction", "variance_share", "cv_without"]]
    return summary, cv_table, drivers


def _only_levels(only: set, notes: list[str], *frames: pd.DataFrame) -> list[pd.DataFrame]:
    """Keep the rows (school parts) of the given levels; the first frame has ``level``."""
    mask = frames[0]["level"].isin(only).to_numpy()
    if not mask.all():
        notes.append(note("levels_only", "balance evaluated for " + ", ".join(sorted(only))
                          + " only", levels=sorted(only)))
    return [f[mask] for f in frames]


#: Why a school of a type is left out (the report translates these words).
TYPE_REASONS = {"special": "special-education school", "vocational": "vocational school"}


def excluded_by_type(types: pd.Series, enrolment: pd.Series, spec: dict[str, Any]
                     ) -> pd.Series:
    """Why each school is left out of a resource evaluation by its type ("" = kept).

    ``spec`` is a standard's section of ``standards.toml``: ``exclude_types`` (types left out
    whatever their size) and ``teaching_point_min_pupils`` (teaching points with fewer pupils
    are left out; ``inf`` leaves out every teaching point).
    """
    drop = set(spec.get("exclude_types", ()))
    tp_min = float(spec.get("teaching_point_min_pupils", 0))
    reasons = []
    for t, e in zip(types, enrolment, strict=True):
        if t in drop:
            reasons.append(TYPE_REASONS.get(t, f"{t} school"))
        elif t == "teaching_point" and not (e >= tp_min):
            reasons.append(f"teaching point with {e:g} pupils (< {tp_min:g})"
                           if np.isfinite(tp_min) else "teaching point")
        else:
            reasons.append("")
    return pd.Series(reasons, index=types.index, dtype=object)


def evaluate_balance(
    schools: pd.DataFrame,
    *,
    standard: Literal["basic", "quality"] = "basic",
    level_col: str = "level",
    district_col: str | None = None,
    enrolment_col: str = "enrolment",
    columns: dict[str, str] | None = None,
    standards: str | Path | dict[str, Any] | None = None,
    levels: Sequence[str] | None = None,
    type_col: str | None = None,
) -> BalanceResult:
    """Evaluate school-resource balance by county/district and level against a national standard.

    Parameters
    ----------
    schools
        One row per school (a DataFrame or GeoDataFrame; geometry is ignored), the school id in
        the index. Resource columns use the canonical names of :data:`RESOURCE_COLUMNS`
        (enrolment, full-time teachers, qualified / senior-title / backbone / PE-and-arts
        teachers, floor and sports areas in m2, equipment value in yuan, computers, books,
        multimedia classrooms) or are mapped with ``columns``. Combined (nine-year) schools may
        carry ``enrolment_primary`` and ``enrolment_junior``.
    standard
        ``"basic"`` (2012, composite of 8 CVs) or ``"quality"`` (2017, 7 CVs and per-school
        minimums).
    level_col
        Column of school levels: primary / junior / combined, in English or Chinese
        (小学 / 初中 / 九年一贯制).
    district_col
        Column naming the county or district each school belongs to; ``None`` evaluates all
        schools as one county (district ``"all"``).
    enrolment_col
        Column of students per school (the CV weights).
    columns
        ``{canonical_name: your_column}`` for resource columns named differently.
    standards
        Path of an edited standards table, or the parsed dict (see :func:`load_standards`).
    levels
        Evaluate only these levels (``primary``/``junior``; a nine-year school's part of that
        level counts), e.g. the level a run analysed. Default: every level present.
    type_col
        Column of school types (:mod:`geoequity.school_types`: ordinary, 教学点, 特殊教育学校,
        职业学校 ...). Schools of the standard's ``exclude_types`` and teaching points with
        fewer pupils than its ``teaching_point_min_pupils`` are left out and listed in
        ``excluded`` with the reason (their level is then not checked). Default: no type
        column, only schools without enrolment are left out.

    Returns
    -------
    BalanceResult
        Summary with pass/fail per district and level, the CV table, per-school indicator
        values and minimum-standard checks, and the schools driving each failing CV.
    """
    only = None if levels is None else {normalise_level(v) for v in levels}
    table = (_check_standards(standards, "standards") if isinstance(standards, dict)
             else load_standards(standards))
    if standard not in ("basic", "quality"):
        raise input_error("standard", f"unknown standard {standard!r}",
                          'use "basic" (2012) or "quality" (2017)')
    spec = table[standard]
    notes: list[str] = []
    if schools.index.has_duplicates:
        dup = schools.index[schools.index.duplicated()].unique()
        raise input_error(_source(schools), f"duplicate school ids {', '.join(map(str, dup[:5]))}",
                          "give every school a unique id")
    if level_col not in schools.columns:
        raise input_error(_source(schools), f"no level column {level_col!r}",
                          "name the column holding primary / junior / combined "
                          f"({option('level_col')})")
    schools, excluded = _exclude_types(schools, type_col, level_col, enrolment_col,
                                        spec, notes)
    levels = schools[level_col].map(normalise_level)
    unknown = levels.isna()
    if unknown.any():
        ex = schools.loc[unknown, level_col].astype(str).unique()[:5]
        raise input_error(_source(schools), f"{int(unknown.sum())} school(s) have a level that is not "
                          f"primary, junior or combined: {', '.join(ex)}",
                          "use primary/junior/combined or 小学/初中/九年一贯制")
    res = _resolve_columns(schools, columns, enrolment_col)
    if district_col is not None:
        if district_col not in schools.columns:
            raise input_error(_source(schools), f"no district column {district_col!r}",
                              "name the column of county or district names")
        res["district"] = schools[district_col].astype(str).where(schools[district_col].notna(),
                                                                  "(none)")
    else:
        res["district"] = "all"
    negative = res["enrolment"] < 0
    if negative.any():
        raise input_error(_source(schools), f"enrolment column {enrolment_col!r} is negative for "
                          f"school {res.index[negative][0]!r}", "enrolment counts students: "
                          "0 or more")
    bad_enrol = ~(res["enrolment"] > 0)
    if bad_enrol.all():
        raise input_error(_source(schools), f"no school has an enrolment above 0 in column "
                          f"{enrolment_col!r}", _name_enrolment("CVs are weighted by "
                                                                "enrolment: fill it in")
                          )
    if bad_enrol.any():
        ids = list(map(str, res.index[bad_enrol][:10]))
        notes.append(note("no_enrolment", f"{int(bad_enrol.sum())} school(s) with no or zero "
                          "enrolment left out: " + ", ".join(ids), n=int(bad_enrol.sum()),
                          schools=ids))
        gone = res.index[bad_enrol]
        empty = pd.DataFrame({"type": _types_of(schools, type_col, gone),
                              "level": schools.loc[gone, level_col].astype(str),
                              "enrolment": res.loc[gone, "enrolment"], "reason": "no enrolment"},
                             index=gone)
        excluded = pd.concat([excluded, empty]) if len(excluded) else empty
        res, levels = res[~bad_enrol], levels[~bad_enrol]
    parts = _split_combined(res, levels, table["split"], schools, notes)
    parts.index.name = schools.index.name or "school"

    inds = [i for i in spec["indicators"]]
    missing = [i for i in inds if i["numerator"] not in parts.columns]
    for i in missing:
        notes.append(note("indicator_skipped", f"indicator {i['key']} skipped: no column "
                          f"{i['numerator']!r}", indicator=i["key"], column=i["numerator"]))
    inds = [i for i in inds if i["numerator"] in parts.columns]
    if not inds:
        raise input_error(_source(schools), f"none of the {standard} resource columns is present",
                          f"provide columns such as {', '.join(RESOURCE_COLUMNS[1:])}")
    vals = pd.DataFrame(index=parts.index)
    for i in inds:
        vals[i["key"]] = parts[i["numerator"]] / parts["enrolment"] * float(i["per"])
    school_tab = pd.concat([parts[["district", "level", "enrolment"]], vals], axis=1)
    if only is not None:   # e.g. only the level a run analysed
        school_tab, vals, parts = _only_levels(only, notes, school_tab, vals, parts)

    if standard == "quality":
        school_tab = _check_minimums(school_tab, parts, vals, inds, spec)

    cv_rows, sum_rows, drv = [], [], []
    for (district, level), grp in school_tab.groupby(["district", "level"], sort=True):
        rows, summary_row, drivers_ = _evaluate_unit(district, level, grp, inds, spec, standard)
        cv_rows += rows
        sum_rows.append(summary_row)
        drv += drivers_
    summary, cv_table, drivers = _assemble(sum_rows, cv_rows, drv, notes)
    excluded.index.name = schools.index.name or "school"
    return BalanceResult(standard, summary, cv_table, school_tab, drivers, notes, excluded)


def _name_enrolment(fix: str) -> str:
    """``fix``, then the option naming the enrolment column where the door has one (a
    scenario reads the column ``enrolment``: it has no key for it)."""
    if current_door() == "scenario":
        return f"{fix} (the schools' column enrolment)"
    return f"{fix} ({option('enrolment_col')})"


def _types_of(schools: pd.DataFrame, type_col: str | None, ids) -> list[str]:
    """The type names of some schools (``""`` without a type column)."""
    if type_col is None:
        return [""] * len(ids)
    return list(school_types(schools.loc[ids, type_col], source=_source(schools)))


def _exclude_types(schools: pd.DataFrame, type_col: str | None, level_col: str,
                   enrolment_col: str, spec: dict[str, Any], notes: list[str]
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leave out the schools the standard excludes by type; return the rest and who left."""
    empty = pd.DataFrame(columns=["type", "level", "enrolment", "reason"])
    if type_col is None:
        return schools, empty
    if type_col not in schools.columns:
        raise input_error(_source(schools), f"no school-type column {type_col!r}",
                          f"choose one of: {', '.join(map(str, schools.columns))}")
    types = school_types(schools[type_col], source=_source(schools), column=type_col)
    enrol = pd.to_numeric(schools.get(enrolment_col), errors="coerce") if (
        enrolment_col in schools.columns) else pd.Series(np.nan, index=schools.index)
    why = excluded_by_type(types, enrol.astype(float), spec)
    out = why != ""
    if not out.any():
        return schools, empty
    excluded = pd.DataFrame({"type": types[out], "level": schools.loc[out, level_col].astype(str),
                             "enrolment": enrol[out], "reason": why[out]})
    shown = [(str(i), r) for i, r in list(why[out].items())[:10]]
    notes.append(note("left_out_by_type", f"{int(out.sum())} school(s) left out by type (see "
                      "the excluded table): " + ", ".join(f"{i} ({r})" for i, r in shown),
                      n=int(out.sum()), schools=shown))
    kept = schools[~out]
    if not len(kept):
        raise input_error(_source(schools), "every school is left out by its type",
                          "check the type column: only ordinary schools and teaching points "
                          "are evaluated")
    return kept, excluded


def auto_balance(schools: pd.DataFrame, *, level_col: str = "level",
                 county_col: str | None = None, standard: str | None = None,
                 notes: list[str] | None = None,
                 levels: Sequence[str] | None = None,
                 type_col: str | None = None) -> BalanceResult | None:
    """Balance of ``schools`` when they carry enrolment, a level and resource columns, else None.

    The rule of the run's report (and of the plans' ``balance_pass``): the standard is
    ``quality`` when every quality indicator's column is there, else ``basic`` when any basic
    one is; schools of no primary/junior/combined level are left out (special and vocational
    ones by ``type_col`` too); ``county_col`` defaults to a ``county`` column. What was left
    out or could not be evaluated goes into ``notes``.
    """
    from geoequity._errors import InputError

    notes = [] if notes is None else notes
    if level_col not in schools.columns:
        return None
    table = load_standards()

    def present(key: str) -> bool:
        return any(c in schools.columns for c in (key, *ALIASES.get(key, ())))

    if not present("enrolment"):
        return None
    if standard is None:
        if all(present(i["numerator"]) for i in table["quality"]["indicators"]):
            standard = "quality"
        elif any(present(i["numerator"]) for i in table["basic"]["indicators"]):
            standard = "basic"
        else:
            return None
    lv = schools[level_col].map(normalise_level)
    typed = lv.notna()
    if type_col is not None and type_col in schools.columns:   # left out by type, and listed
        try:
            typed |= school_types(schools[type_col]).isin(["special", "vocational"])
        except InputError as exc:
            notes.append(note("balance_not_evaluated", f"school balance not evaluated: {exc}",
                              reason=str(exc)))
            return None
    sub = schools[typed]
    if len(sub) < len(schools):
        notes.append(note("not_a_level", f"{len(schools) - len(sub)} school(s) that are not "
                          "primary, junior or combined left out of the balance evaluation",
                          n=len(schools) - len(sub)))
    if not len(sub):
        return None
    if county_col is None and "county" in sub.columns:
        county_col = "county"
    try:
        return evaluate_balance(sub, standard=standard, level_col=level_col,
                                district_col=county_col if county_col in sub.columns else None,
                                standards=table, levels=levels,
                                type_col=type_col if type_col in sub.columns else None)
    except InputError as exc:
        notes.append(note("balance_not_evaluated", f"school balance not evaluated: {exc}",
                          reason=str(exc)))
        return None
