"""The report's sections on the 2017 evaluation beyond resource balance: the schools left out
of it and why, school operations (class size, school size, classrooms, teachers, funding)
and the checklist of government-guarantee, quality and satisfaction items.

Each function returns one HTML ``<section>`` (``""`` when there is nothing to show) and puts
its tables into ``tables`` (written as ``report_<name>.csv``). :mod:`geoequity.report` calls
them; labels are English or Chinese.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from geoequity.report_format import escape, fixed, number, share

__all__ = ["TABLES", "checklist_section", "excluded_section", "operations_section", "reason_text"]

#: The CSV tables these sections add to a report.
TABLES = ("excluded_schools", "operations_schools", "operations_summary", "checklist")

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "excluded": "Schools left out of the resource evaluation",
        "excluded_intro": "The 2017 evaluation leaves out special-education and vocational "
                          "schools and teaching points with fewer pupils than the threshold "
                          "(standards.toml); schools without pupils cannot be weighted.",
        "school": "School", "type": "Type", "level": "Level", "enrolment": "Pupils",
        "reason": "Reason",
        "primary": "primary", "junior": "junior", "combined": "nine-year",
        "regular": "ordinary school", "teaching_point": "teaching point",
        "special": "special-education school", "vocational": "vocational school",
        "operations": "School operations",
        "ops_intro": "Class size against 45 (primary) / 50 (junior); 大班额 = classes over {large} "
                     "pupils, 超大班额 over {very}; school size against 2,000 (nine-year "
                     "2,500); classrooms = classes × {rooms}; teachers from the staffing norm "
                     "(pupils per teacher {ppt}); public funds per pupil against the standard.",
        "grouping": "Grouping", "group": "Group", "schools": "Schools", "classes": "Classes",
        "class_size": "Mean class size", "share_over_limit": "Classes over limit",
        "share_large": "大班额 share (>{large})", "share_very_large": "超大班额 share (>{very})",
        "schools_over_size": "Schools over size", "rooms_needed": "Classrooms needed",
        "rooms_short": "Classrooms short", "teachers_needed": "Teachers needed",
        "teachers": "Teachers", "teachers_short": "Teachers short",
        "funds_per_pupil": "Public funds per pupil (yuan)",
        "schools_below_funding": "Schools below funding standard",
        "large_classes": "大班额 classes", "very_large_classes": "超大班额 classes",
        "size_limit": "Size limit", "district": "District",
        "rooms": "Classrooms needed / short", "staff": "Teachers needed / short",
        "class_size_limit": "Mean class size / limit", "rooms_have": "Classrooms needed / have",
        "teachers_have": "Teachers needed / have",
        "funds_pair": "Public funds per pupil / standard (yuan)",
        "urban": "Urban / rural", "all": "all", "per_school": "Per school",
        "checklist": "2017 evaluation checklist",
        "checklist_intro": "Government guarantee (art. 6), education quality (art. 7) and "
                           "social recognition (art. 8) of 《县域义务教育优质均衡发展督导评估办法》"
                           "(2017). Computed items come from the schools and teacher tables; "
                           "the rest from the county's table. Confidence “low”: the wording or "
                           "article was not checked against the official text.",
        "guarantee": "Government guarantee", "quality": "Education quality",
        "satisfaction": "Social recognition", "item": "Item", "indicator": "Indicator",
        "value": "Value", "threshold": "Standard", "source": "Source", "result": "Result",
        "article": "Article", "confidence": "Confidence", "detail": "Detail",
        "computed": "computed", "table": "county table", "missing": "missing",
        "pass": "pass", "fail": "fail", "none": "–", "yes": "yes", "no": "no",
        "high": "high", "low": "low",
        "checklist_summary": "{passed} of {n} indicators pass, {failed} fail, {missing} missing.",
    },
    "zh": {
        "excluded": "未纳入资源配置评估的学校",
        "excluded_intro": "2017年办法的资源配置评估不含特殊教育学校、职业学校和学生数不足规定人数的"
                          "教学点（见 standards.toml）；无在校生的学校无法加权。",
        "school": "学校", "type": "类型", "level": "学段", "enrolment": "在校生数",
        "reason": "原因",
        "primary": "小学", "junior": "初中", "combined": "九年一贯制",
        "regular": "普通学校", "teaching_point": "教学点", "special": "特殊教育学校",
        "vocational": "职业学校",
        "operations": "学校办学条件",
        "ops_intro": "班额：小学45人、初中50人；大班额为超过{large}人的班级，超大班额为超过{very}人；"
                     "学校规模：2000人（九年一贯制2500人）；所需教室=班级数×{rooms}；教师按编制标准"
                     "（师生比 1:{ppt}）；生均公用经费对照标准。",
        "grouping": "分组", "group": "组别", "schools": "学校数", "classes": "班级数",
        "class_size": "平均班额", "share_over_limit": "超标准班额比例",
        "share_large": "大班额比例（>{large}人）", "share_very_large": "超大班额比例（>{very}人）",
        "schools_over_size": "超规模学校数", "rooms_needed": "所需教室", "rooms_short": "教室缺口",
        "teachers_needed": "所需教师", "teachers": "教师数", "teachers_short": "教师缺口",
        "funds_per_pupil": "生均公用经费（元）", "schools_below_funding": "经费未达标学校数",
        "large_classes": "大班额班数", "very_large_classes": "超大班额班数",
        "size_limit": "规模标准", "district": "片区", "urban": "城乡", "all": "全部",
        "rooms": "所需教室 / 缺口", "staff": "所需教师 / 缺口",
        "class_size_limit": "平均班额 / 标准", "rooms_have": "所需教室 / 现有",
        "teachers_have": "所需教师 / 现有", "funds_pair": "生均公用经费 / 标准（元）",
        "per_school": "各校情况",
        "checklist": "优质均衡评估清单",
        "checklist_intro": "《县域义务教育优质均衡发展督导评估办法》（2017）政府保障程度（第六条）、"
                           "教育质量（第七条）、社会认可度（第八条）。“计算”项由学校和教师数据得出，"
                           "其余取自县填报表。可信度“低”：条文表述或条款号未与官方文本核对。",
        "guarantee": "政府保障程度", "quality": "教育质量", "satisfaction": "社会认可度",
        "item": "序号", "indicator": "指标", "value": "数值", "threshold": "标准",
        "source": "来源", "result": "结果", "article": "条款", "confidence": "可信度",
        "detail": "依据", "computed": "计算", "table": "县填报", "missing": "未填报",
        "pass": "达标", "fail": "未达标", "none": "–", "yes": "是", "no": "否",
        "high": "高", "low": "低",
        "urban centre": "城市中心", "urban cluster": "城镇", "rural": "乡村",
        "checklist_summary": "共{n}项指标：{passed}项达标，{failed}项未达标，{missing}项未填报。",
    },
}


def _t(lang: str, key: str, **kw: Any) -> str:
    s = TEXT[lang].get(key, TEXT["en"].get(key, key))
    return s.format(**kw) if kw else s


def _table(df: pd.DataFrame, *, cls: str, headers: dict[str, str],
           formats: dict[str, Any] | None = None, bad: pd.Series | None = None) -> str:
    """An HTML table; rows where ``bad`` is True are marked (class ``bad``)."""
    formats = formats or {}
    head = "".join(f"<th>{escape(headers.get(c, c))}</th>" for c in df.columns)
    body = []
    for i, (_, r) in enumerate(df.iterrows()):
        row_cls = ' class="bad"' if bad is not None and bool(bad.iloc[i]) else ""
        tds = []
        for c in df.columns:
            v = r[c]
            txt = ' class="t"' if isinstance(v, str) else ""
            tds.append(f"<td{txt}>{escape(formats.get(c, number)(v))}</td>")
        body.append(f"<tr{row_cls}>{''.join(tds)}</tr>")
    return (f'<table class="{cls}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def excluded_section(balance: Any, lang: str, tables: dict[str, pd.DataFrame]) -> str:
    """Schools left out of the resource evaluation (``BalanceResult.excluded``) and why."""
    ex = getattr(balance, "excluded", None)
    if ex is None or not len(ex):
        return ""
    T = lambda key, **kw: _t(lang, key, **kw)  # noqa: E731
    shown = ex.rename_axis("school").reset_index()
    tables["excluded_schools"] = shown
    shown = shown.assign(type=shown["type"].map(lambda v: T(v) if v else "–"),
                         level=shown["level"].map(lambda v: T(v)),
                         reason=shown["reason"].map(lambda r: reason_text(r, lang)))
    return (f'<section id="excluded"><h2>{escape(T("excluded"))}</h2>'
            f'<p>{escape(T("excluded_intro"))}</p>'
            + _table(shown, cls="excluded-schools", headers={
                k: T(k) for k in ("school", "type", "level", "enrolment", "reason")})
            + "</section>")


def reason_text(reason: str, lang: str) -> str:
    """Why a school was left out of the resource evaluation (a reason of
    ``BalanceResult.excluded``), in ``lang``."""
    if lang != "zh":
        return reason
    if reason.startswith("teaching point with "):
        n, lim = reason.removeprefix("teaching point with ").split(" pupils (< ")
        return f"教学点，学生{n}人（不足{lim.rstrip(')')}人）"
    return {"special-education school": "特殊教育学校", "vocational school": "职业学校",
            "teaching point": "教学点", "no enrolment": "无在校生"}.get(reason, reason)


def operations_section(ops: Any, lang: str, tables: dict[str, pd.DataFrame],
                       spec: dict[str, Any]) -> str:
    """Totals per district, per urban/rural class and overall, then the schools one by one."""
    if ops is None:
        return ""
    T = lambda key, **kw: _t(lang, key, **kw)  # noqa: E731
    large, very = f"{spec['large_class']:g}", f"{spec['very_large_class']:g}"
    ppt = " / ".join(f"{v:g}" for v in spec["pupils_per_teacher"].values())
    rooms = f"{float(spec['rooms_per_class']):g}"
    tables["operations_summary"] = ops.summary
    tables["operations_schools"] = ops.schools.reset_index()
    summ = ops.summary
    s = pd.DataFrame({
        "group": [T(g) if g == "all" else f"{T(k)} · {T(g) if k == 'urban' else g}"
                  for k, g in zip(summ["grouping"], summ["group"], strict=True)],
        "schools": summ["schools"], "enrolment": summ["enrolment"],
        "classes": summ["classes"], "class_size": summ["class_size"].map(lambda x: fixed(x, 1)),
        "share_over_limit": summ["share_over_limit"].map(share),
        "share_large": summ["share_large"].map(share),
        "share_very_large": summ["share_very_large"].map(share),
        "schools_over_size": summ["schools_over_size"],
        "rooms": [_pair(a, b) for a, b in zip(summ["rooms_needed"], summ["rooms_short"],
                                                strict=True)],
        "staff": [_pair(a, b) for a, b in zip(summ["teachers_needed"], summ["teachers_short"],
                                                strict=True)],
        "funds_per_pupil": summ["funds_per_pupil"].map(lambda x: fixed(x, 0)),
        "schools_below_funding": summ["schools_below_funding"]})
    headers = {k: T(k, large=large, very=very) for k in s.columns}
    bad = (summ["share_over_limit"].fillna(0) > 0) | (summ["schools_over_size"] > 0) | (
        summ["schools_below_funding"] > 0)
    parts = [f'<section id="operations"><h2>{escape(T("operations"))}</h2>'
             f'<p>{escape(T("ops_intro", large=large, very=very, rooms=rooms, ppt=ppt))}</p>',
             _table(s, cls="operations-summary", headers=headers, bad=bad)]
    per = ops.schools.reset_index()
    first = per.columns[0]
    shown = pd.DataFrame({
        "school": per[first].astype(str), "district": per["district"],
        "level": per["level"].map(lambda v: T(v)), "type": per["type"].map(lambda v: T(v)),
        "enrolment": per["enrolment"], "classes": per["classes"],
        "class_size_limit": [f"{fixed(a, 1)} / {number(b)}" for a, b in
                             zip(per["class_size"], per["class_limit"], strict=True)],
        "large_classes": per["large_classes"], "very_large_classes": per["very_large_classes"],
        "size_limit": per["size_limit"],
        "rooms_have": [_pair(a, b) for a, b in zip(per["rooms_needed"], per["classrooms"],
                                                     strict=True)],
        "teachers_have": [_pair(a, b) for a, b in zip(per["teachers_needed"], per["teachers"],
                                                        strict=True)],
        "funds_pair": [f"{fixed(a, 0)} / {fixed(b, 0)}" for a, b in zip(
            per["funds_per_pupil"], per["funds_needed"] / per["enrolment"], strict=True)]})
    if (per["district"] == "all").all():
        shown = shown.drop(columns="district")
    school_bad = (per["over_class_limit"].fillna(False).astype(bool)
                  | per["over_size"].fillna(False).astype(bool)
                  | per["funds_ok"].eq(False) | (per["rooms_short"].fillna(0) > 0)
                  | (per["teachers_short"].fillna(0) > 0))
    parts.append(f"<h3>{escape(T('per_school'))}</h3>")
    parts.append(_table(shown, cls="operations-schools",
                        headers={k: T(k) for k in shown.columns}, bad=school_bad))
    parts.append("</section>")
    return "".join(parts)


def _pair(a: object, b: object) -> str:
    """Two counts as ``a / b`` (a dash for a missing one)."""
    return f"{number(a)} / {number(b)}"


def checklist_section(checklist: Any, lang: str, tables: dict[str, pd.DataFrame]) -> str:
    """The checklist: one row per indicator, grouped by article, with pass/fail and source."""
    if checklist is None:
        return ""
    T = lambda key, **kw: _t(lang, key, **kw)  # noqa: E731
    tab = checklist.table
    tables["checklist"] = tab
    label = "label_zh" if lang == "zh" else "label_en"

    def value(r) -> str:
        v = r["value"]
        if isinstance(v, str):
            return T(v)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "–"
        return number(v) + ("%" if r["unit"] == "%" else "")

    def standard(r) -> str:
        if r["op"] == "yes":
            return T("yes")
        return f"{r['op']} {number(float(r['threshold']))}{'%' if r['unit'] == '%' else ''}"

    counts = tab["passed"].map({True: "p", False: "f"}).fillna("m").value_counts()
    parts = [f'<section id="checklist"><h2>{escape(T("checklist"))}</h2>'
             f'<p>{escape(T("checklist_intro"))}</p>'
             f'<p class="checklist-summary">{escape(T("checklist_summary", n=len(tab), passed=counts.get("p", 0), failed=counts.get("f", 0), missing=counts.get("m", 0)))}</p>']  # noqa: E501
    for group, g in tab.groupby("group", sort=False):
        shown = pd.DataFrame({
            "item": g["item"].astype(int), "indicator": g[label],
            "value": [value(r) for _, r in g.iterrows()],
            "threshold": [standard(r) for _, r in g.iterrows()],
            "source": g["source"].map(lambda s: T(s)),
            "result": g["passed"].map(lambda p: T("pass") if p is True else T("fail")
                                      if p is False else T("missing")),
            "article": g["article"] + " " + g["text"],
            "confidence": g["confidence"].map(lambda c: T(c) if c else "–"),
            "detail": g["detail_zh" if lang == "zh" and "detail_zh" in g else "detail"]})
        parts.append(f"<h3>{escape(T(group))}</h3>")
        parts.append(_table(shown, cls=f"checklist checklist-{group}",
                            headers={k: T(k) for k in shown.columns},
                            formats={"item": str}, bad=g["passed"].eq(False)))
    parts.append("</section>")
    return "".join(parts)
