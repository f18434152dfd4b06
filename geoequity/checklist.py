"""The rest of the 2017 evaluation as a checklist: government guarantee (15 items), education
quality (9) and social recognition (1) of 《县域义务教育优质均衡发展督导评估办法》
(教督〔2017〕6号), read from the county's small table and checked against the thresholds of
``geoequity/data/standards.toml`` (``[[checklist.items]]``, each citing its article).

The county's table has two columns, ``indicator`` and ``value`` (also ``指标``, ``值`` or
``数值``), and optionally ``year`` (``年份``): the latest year is used. An indicator is named
by its key (``teacher_rotation``), its English or its Chinese label. Values are numbers
(``96``, ``96%``: percentages are written 0-100), or yes/no (是/否, 达标/未达标) for the
items that are a yes-or-no judgement.

Items geoequity can compute from the data a run has are computed (the table's value is then
only compared, and a disagreement noted): school size and class size (from
:func:`geoequity.operations.school_operations`), the funding of small schools and special
schools (its ``public_funds``), and the teacher-rotation shares from a teacher table (one row
per teacher: ``eligible`` for rotation, ``rotated`` this year, ``backbone``; yes/no or 1/0).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geoequity._errors import input_error
from geoequity._notes import note
from geoequity.balance import load_standards
from geoequity.io.text import read_csv_text

__all__ = ["ChecklistResult", "evaluate_checklist", "read_checklist", "read_text_table",
           "rotation_shares"]

_YES = {"yes", "y", "true", "1", "是", "达标", "合格", "通过", "已完成", "pass", "passed"}
_NO = {"no", "n", "false", "0", "否", "未达标", "不合格", "未通过", "未完成", "fail", "failed"}
_COLS = {"indicator": ("indicator", "指标", "item", "key"),
         "value": ("value", "值", "数值"),
         "year": ("year", "年份", "年度")}


@dataclass
class ChecklistResult:
    """Outcome of :func:`evaluate_checklist`.

    Attributes
    ----------
    table
        One row per checklist indicator, in the order of ``standards.toml``: ``group``
        (``guarantee``, ``quality``, ``satisfaction``), ``item`` (its number in the article),
        ``key``, ``label_en``, ``label_zh``, ``value`` (number, ``"yes"``/``"no"`` or NaN),
        ``op``, ``threshold``, ``unit``, ``source`` (``"computed"``, ``"table"`` or
        ``"missing"``), ``passed`` (True, False, or None when missing), ``detail`` and
        ``detail_zh`` (what a computed value rests on, in English and Chinese), ``article``, ``text`` (the threshold's wording) and
        ``confidence``.
    notes
        Disagreements between the table and the data, the year used.
    """

    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every item is answered and passes."""
        return bool(len(self.table)) and bool(self.table["passed"].eq(True).all())


def _norm(text: object) -> str:
    return re.sub(r"[\s_\-]+", " ", str(text).strip().lower()).strip()


def _names(items: list[dict[str, Any]]) -> dict[str, str]:
    out = {}
    for i in items:
        for name in (i["key"], i.get("label_en", ""), i.get("label_zh", "")):
            if name:
                out[_norm(name)] = i["key"]
    return out


def _column(df: pd.DataFrame, key: str, source: object, required: bool = True) -> str | None:
    low = {_norm(c): c for c in df.columns}
    for cand in _COLS[key]:
        if cand in low:
            return low[cand]
    if required:
        raise input_error(source, f"has no {key} column",
                          "name the columns indicator and value (or 指标, 值)")
    return None


def read_checklist(path_or_table: str | Path | pd.DataFrame, *,
                   standards: str | Path | dict[str, Any] | None = None) -> pd.DataFrame:
    """Read the county's checklist table: one value per indicator key.

    Parameters
    ----------
    path_or_table
        A CSV (UTF-8 or UTF-8 with BOM) or a DataFrame with ``indicator`` and ``value``
        columns (optionally ``year``).
    standards
        The standards table whose ``[[checklist.items]]`` name the indicators.

    Returns
    -------
    pandas.DataFrame
        Indexed by indicator key: ``value`` (as written), ``row`` (1 = first data row) and
        ``year`` (the latest year, when the table has years).

    Raises
    ------
    geoequity.InputError
        For an unknown indicator (naming the closest known one), an indicator given twice
        for the same year, or a table without the two columns.
    """
    table = standards if isinstance(standards, dict) else load_standards(standards)
    items = table["checklist"]["items"]
    if isinstance(path_or_table, pd.DataFrame):
        df, source = path_or_table, path_or_table.attrs.get("source", "checklist")
    else:
        source = Path(path_or_table)
        df = read_text_table(source, "indicator,value")
    ind, val = _column(df, "indicator", source), _column(df, "value", source)
    year = _column(df, "year", source, required=False)
    names = _names(items)
    keys, seen = [], {}
    for row, (name, yr) in enumerate(zip(df[ind], df[year] if year else [""] * len(df),
                                         strict=True), start=1):
        key = names.get(_norm(name))
        if key is None:
            close = difflib.get_close_matches(_norm(name), list(names), n=1, cutoff=0.4)
            hint = (f"did you mean {names[close[0]]!r}?" if close else
                    "use a key of [[checklist.items]] in standards.toml")
            raise input_error(source, f"row {row}: unknown indicator {name!r}",
                              hint + " (docs/equity.md lists the indicators)")
        if (key, str(yr)) in seen:
            what = f"indicator {key!r}" + (f" for year {yr}" if year else "")
            raise input_error(source, f"rows {seen[(key, str(yr))]} and {row}: {what} is "
                              "given twice", "keep one row per indicator"
                              + (" and year" if year else ""))
        seen[(key, str(yr))] = row
        keys.append(key)
    out = pd.DataFrame({"value": df[val].to_numpy(), "row": np.arange(1, len(df) + 1)},
                       index=pd.Index(keys, name="indicator"))
    if year:
        yrs = pd.to_numeric(df[year], errors="coerce")
        if yrs.isna().any():
            row = int(yrs.isna().to_numpy().nonzero()[0][0]) + 1
            raise input_error(source, f"row {row}: year {df[year].iloc[row - 1]!r} is not a "
                              "number", "write years as 2024")
        out["year"] = yrs.to_numpy()
        latest = out["year"].max()
        out = out[out["year"] == latest]
    out.attrs["source"] = str(source)
    return out


def read_text_table(path: str | Path, columns: str) -> pd.DataFrame:
    """A small CSV read as text (UTF-8, with or without BOM); ``columns`` for the message."""
    source = Path(path)
    if not source.exists():
        raise input_error(source, "file not found", f"check the path (taken from {Path.cwd()})")
    try:
        df = read_csv_text(source, dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise input_error(source, f"cannot be read ({str(exc).splitlines()[0][:120]})",
                          f"save it as a UTF-8 CSV with columns {columns}") from None
    df.attrs["source"] = str(source)
    return df


def _parse_value(raw: object, item: dict[str, Any], source: object, row: int) -> object:
    """A table cell as a number, "yes"/"no", or NaN when blank."""
    text = "" if raw is None or (isinstance(raw, float) and math.isnan(raw)) else str(raw).strip()
    if not text:
        return math.nan
    low = text.lower()
    if item["op"] == "yes":
        if low in _YES:
            return "yes"
        if low in _NO:
            return "no"
        raise input_error(source, f"row {row}: {item['key']} is {text!r}",
                          "answer yes or no (是 / 否)")
    try:
        return float(low.rstrip("%％").replace(",", ""))
    except ValueError:
        pct = " in percent (e.g. 96 or 96%)" if item.get("unit") == "%" else ""
        raise input_error(source, f"row {row}: {item['key']} is {text!r}, not a number",
                          f"write a number{pct}") from None


def _verdict(value: object, item: dict[str, Any]) -> bool | None:
    if isinstance(value, float) and math.isnan(value):
        return None
    op = item["op"]
    if op == "yes":
        return value == "yes"
    t = float(item["threshold"])
    return {">=": value >= t, "<=": value <= t, "<": value < t, ">": value > t}[op]


def _truthy(values: pd.Series, source: object, col: str) -> pd.Series:
    low = values.astype(str).str.strip().str.lower()
    yes, no = low.isin(_YES | {"1.0"}), low.isin(_NO | {"0.0", "", "nan"})
    bad = ~(yes | no)
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0]) + 1
        raise input_error(source, f"row {row}: column {col!r} is {values.iloc[row - 1]!r}",
                          "write yes/no, 1/0 or 是/否")
    return yes


def rotation_shares(teachers: pd.DataFrame) -> tuple[float, float, int, int, int]:
    """Teacher rotation (交流轮岗) shares from a teacher table.

    Parameters
    ----------
    teachers
        One row per teacher with columns ``eligible`` (符合交流条件), ``rotated`` (交流轮岗)
        and ``backbone`` (骨干教师); yes/no, 1/0 or 是/否.

    Returns
    -------
    tuple
        (rotated eligible teachers / eligible teachers x 100, backbone teachers among the
        rotated / rotated x 100, eligible, rotated, rotated backbone).
    """
    source = teachers.attrs.get("source", "teachers")
    cols = {}
    for key, alts in (("eligible", ("符合交流条件",)), ("rotated", ("交流轮岗", "已交流")),
                      ("backbone", ("骨干教师", "骨干"))):
        found = [c for c in (key, *alts) if c in teachers.columns]
        if not found:
            raise input_error(source, f"has no {key} column",
                              "give one row per teacher with eligible, rotated and backbone "
                              "(yes/no)")
        cols[key] = _truthy(teachers[found[0]], source, found[0])
    eligible = int(cols["eligible"].sum())
    rotated = cols["rotated"] & cols["eligible"]
    n_rot = int(rotated.sum())
    n_back = int((rotated & cols["backbone"]).sum())
    share = 100.0 * n_rot / eligible if eligible else math.nan
    back = 100.0 * n_back / n_rot if n_rot else math.nan
    return share, back, eligible, n_rot, n_back


def _computed(rule: str, operations: Any, teachers: pd.DataFrame | None
              ) -> tuple[object, str, str] | None:
    """(value, detail in English, detail in Chinese) of a computable item, or None when the
    data is not there."""
    if rule in ("teacher_rotation", "backbone_rotation"):
        if teachers is None:
            return None
        share, back, eligible, n_rot, n_back = rotation_shares(teachers)
        if rule == "teacher_rotation":
            return (share, f"{n_rot} of {eligible} eligible teachers rotated",
                    f"符合交流条件教师 {eligible} 人中交流轮岗 {n_rot} 人")
        return (back, f"{n_back} backbone among {n_rot} rotated teachers",
                f"交流轮岗教师 {n_rot} 人中骨干教师 {n_back} 人")
    if operations is None:
        return None
    s = operations.schools
    if rule in ("school_size", "class_size"):
        size = rule == "school_size"
        over = s[s["over_size" if size else "over_class_limit"].fillna(False).astype(bool)]
        listed = ", ".join(f"{i} ({r.enrolment:.0f} > {r.size_limit:.0f})" if size else
                           f"{i} ({r.class_size:.1f} > {r.class_limit:.0f})"
                           for i, r in over.head(5).iterrows())
        en = (f"{len(over)} of {len(s)} schools over the size limit" if size else
              f"{len(over)} of {len(s)} schools average above their class limit")
        zh = (f"{len(s)} 所学校中 {len(over)} 所超过规模上限" if size else
              f"{len(s)} 所学校中 {len(over)} 所平均班额超过上限")
        tail = f": {listed}" if len(over) else ""
        return "no" if len(over) else "yes", en + tail, zh + ("：" + listed if len(over) else "")
    if s["funds_ok"].isna().all():
        return None
    if rule == "small_school_funding":
        small = s[(s["enrolment"] < 100) & (s["type"] != "special") & s["funds_ok"].notna()]
        if not len(small):
            return None
        bad = small[small["funds_ok"] == False]  # noqa: E712
        short = ", ".join(map(str, bad.index[:5]))
        ok = len(small) - len(bad)
        return ("no" if len(bad) else "yes",
                f"{ok} of {len(small)} schools under 100 pupils funded as 100"
                + (f": short {short}" if len(bad) else ""),
                f"不足100人的 {len(small)} 所学校中 {ok} 所按100人核定公用经费"
                + (f"；不足：{short}" if len(bad) else ""))
    if rule == "special_school_funding":
        sp = s[(s["type"] == "special") & s["funds_per_pupil"].notna()]
        if not len(sp):
            return None
        low = sp["funds_per_pupil"].idxmin()
        return (float(sp["funds_per_pupil"].min()),
                f"lowest: {low} ({len(sp)} special school(s))",
                f"最低：{low}（特殊教育学校 {len(sp)} 所）")
    return None


def evaluate_checklist(
    values: str | Path | pd.DataFrame | None = None,
    *,
    operations: Any = None,
    teachers: pd.DataFrame | str | Path | None = None,
    standards: str | Path | dict[str, Any] | None = None,
) -> ChecklistResult:
    """Check the 2017 government-guarantee, quality and satisfaction items.

    Parameters
    ----------
    values
        The county's table (path or DataFrame, see :func:`read_checklist`), or None to check
        only what the data can compute.
    operations
        A :class:`geoequity.operations.OperationsResult` of the county's schools: school size,
        class size and funding items are computed from it.
    teachers
        A teacher table (path or DataFrame, see :func:`rotation_shares`): the rotation items
        are computed from it.
    standards
        An edited standards table (path or dict).

    Returns
    -------
    ChecklistResult
    """
    table = standards if isinstance(standards, dict) else load_standards(standards)
    if not isinstance(table.get("checklist"), dict) or not table["checklist"].get("items"):
        raise input_error(standards or "standards.toml", "has no [[checklist.items]]",
                          "start from a copy of geoequity/data/standards.toml")
    items = table["checklist"]["items"]
    given = read_checklist(values, standards=table) if values is not None else None
    if isinstance(teachers, (str, Path)):
        teachers = read_text_table(teachers, "eligible,rotated,backbone")
    notes: list[str] = []
    if given is not None and "year" in given:
        notes.append(note("checklist_year", f"checklist values of {given['year'].max():g} "
                          "used", year=f"{given['year'].max():g}"))
    source = given.attrs.get("source", "checklist") if given is not None else "checklist"
    rows = []
    for item in items:
        value, src, detail, detail_zh = math.nan, "missing", "", ""
        if given is not None and item["key"] in given.index:
            r = given.loc[item["key"]]
            value = _parse_value(r["value"], item, source, int(r["row"]))
            if not (isinstance(value, float) and math.isnan(value)):
                src = "table"
        comp = _computed(item["computed"], operations, teachers) if item.get("computed") else None
        if comp is not None:
            if src == "table" and _verdict(value, item) != _verdict(comp[0], item):
                notes.append(note("checklist_differs", f"{item['key']}: the table says "
                                  f"{value}, the data give {_show(comp[0])}; the data's value "
                                  "is used", item=item["key"], table=value,
                                  data=_show(comp[0])))
            value, detail, detail_zh, src = comp[0], comp[1], comp[2], "computed"
        rows.append({"group": item["group"], "item": int(item["item"]), "key": item["key"],
                     "label_en": item["label_en"], "label_zh": item["label_zh"],
                     "value": value, "op": item["op"], "threshold": item.get("threshold"),
                     "unit": item.get("unit", ""), "source": src,
                     "passed": _verdict(value, item), "detail": detail,
                     "detail_zh": detail_zh,
                     "article": item.get("article", ""), "text": item.get("text", ""),
                     "confidence": item.get("confidence", "")})
    out = pd.DataFrame(rows)
    out["passed"] = out["passed"].astype(object)
    return ChecklistResult(out, notes)


def _show(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
