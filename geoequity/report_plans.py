"""The report's "plans compared" section: the plans of a run (``[[plans]]``) or finished runs
(``geoequity compare --report``) side by side (:mod:`geoequity.plan_compare`).

:func:`plans_section` returns the HTML (three tables: the measures per plan with the best value
of each column marked, the best plan on each measure, seats per child by district in the last
year per plan) and the tables the report also writes as ``report_plans.csv``,
``report_plans_best.csv`` and ``report_plans_last_year.csv``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd

from geoequity.plan_compare import ALL, as_bool, best_plans, summarise
from geoequity.report_format import escape

__all__ = ["plans_section", "plans_tables"]

_TEXT = {
    "en": {"title": "Plans compared",
           "lead": "{n} plans, each followed over {years}. Seat-years short: the seats each "
                   "district lacks (children minus seats, where positive), added up over the "
                   "years; child-years beyond: the children farther than the threshold from "
                   "any school, added up over the years. The best value of each column is "
                   "in bold.",
           "years_one": "one year", "years_n": "{n} years ({first}\u2013{last})",
           "year_unknown": "year not known",
           "plan": "Plan", "years": "Years", "shortfall_years": "Seat-years short",
           "child_years_beyond": "Child-years beyond the threshold",
           "worst": "Worst district (year)", "worst_seats_per_child": "Seats per child there",
           "gini_access": "Gini of access", "theil_access": "Theil of access",
           "balance_pass": "Resource balance", "children_moved": "Children moved",
           "new_schools": "New schools", "new_seats": "New seats",
           "closed_schools": "Closed schools", "cost": "Cost",
           "pass": "passes", "fail": "fails", "none": "\u2013",
           "best_title": "Best plan on each measure", "measure": "Measure",
           "best": "Best plan", "value": "Value", "nobody": "no plan",
           "alike": "all plans alike", "best_worst": "Seats per child of the worst district",
           "last_title": "Seats per child by district in {year}",
           "last_title_unknown": "Seats per child by district",
           "district": "District", "all": "all", "(current)": "(current)",
           "sep": ", "},
    "zh": {"title": "方案比较",
           "lead": "共 {n} 个方案，逐年评估 {years}。学位缺口年数：各片区学位缺口（儿童数减学位数，"
                   "取正值）逐年累计；超出服务半径儿童年数：距任何学校超出服务半径的儿童数逐年累计。"
                   "每列最优值以粗体标出。",
           "years_one": "1 年", "years_n": "{n} 年（{first}\u2013{last} 年）",
           "year_unknown": "年份未知",
           "plan": "方案", "years": "年数", "shortfall_years": "学位缺口年数",
           "child_years_beyond": "超出服务半径儿童年数",
           "worst": "最差片区（年份）", "worst_seats_per_child": "该片区生均学位",
           "gini_access": "可达性基尼系数", "theil_access": "可达性泰尔指数",
           "balance_pass": "校际资源均衡", "children_moved": "调整片区的儿童",
           "new_schools": "新建学校", "new_seats": "新增学位",
           "closed_schools": "撤并学校", "cost": "费用",
           "pass": "达标", "fail": "未达标", "none": "\u2013",
           "best_title": "各项指标的最优方案", "measure": "指标",
           "best": "最优方案", "value": "数值", "nobody": "无方案",
           "alike": "各方案相同", "best_worst": "最差片区的生均学位",
           "last_title": "{year} 年各片区生均学位", "last_title_unknown": "各片区生均学位",
           "district": "片区", "all": "全部", "(current)": "现状",
           "sep": "、"},
}

#: Kind of number of each measure (the report's FORMATS keys).
_KINDS = {"years": "count", "shortfall_years": "count", "child_years_beyond": "count",
          "worst_seats_per_child": "ratio", "gini_access": "ratio", "theil_access": "ratio",
          "children_moved": "count", "new_schools": "count", "new_seats": "count",
          "closed_schools": "count", "cost": "count"}
#: Optional columns: shown only when some plan has a value.
_OPTIONAL = ("gini_access", "theil_access", "balance_pass", "children_moved", "new_schools",
             "new_seats", "closed_schools", "cost")


def plans_tables(plans) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
    """(summary, best, seats per child in the last year) of ``plans`` (an object with
    ``by_year`` and ``summary``, e.g. :class:`geoequity.plan_compare.PlanTables`); None when
    there are no plans. Summary measures missing from ``summary`` are computed from the years
    (:func:`geoequity.plan_compare.summarise`)."""
    by_year = getattr(plans, "by_year", None)
    summary = getattr(plans, "summary", None)
    if by_year is None or not len(by_year):
        return None
    derived = summarise(by_year)
    if summary is None or not len(summary):
        summary = derived
    else:
        summary = summary.copy()
        for col in derived.columns:
            if col not in summary.columns or summary[col].isna().all():
                summary[col] = summary["plan"].map(derived.set_index("plan")[col])
    years = pd.to_numeric(by_year["year"], errors="coerce")
    last_year = years.max()
    last = by_year[years == last_year] if pd.notna(last_year) else by_year
    spc = last.pivot_table(index="district", columns="plan", values="seats_per_child",
                           aggfunc="first", sort=False)
    order = [d for d in dict.fromkeys(by_year["district"]) if d != ALL]
    order += [ALL] if ALL in spc.index else []
    plan_order = list(dict.fromkeys(summary["plan"]))
    spc = spc.reindex(index=order, columns=[p for p in plan_order if p in spc.columns])
    spc = spc.rename_axis(index="district", columns=None).reset_index()
    spc.attrs["year"] = None if pd.isna(last_year) else int(last_year)
    return summary, best_plans(summary), spc


def _best_shown(summary: pd.DataFrame, best: pd.DataFrame,
                fmt: Mapping[str, Callable[[object], str]]) -> dict[str, list[str] | None]:
    """Per measure, the plans best *as the table shows them* (a value printed like the best
    one is as good: 0.247 and 0.250 both read 0.25); None where every plan reads alike (no
    plan is marked then), [] where none is good (no plan passes)."""
    out: dict[str, list[str] | None] = {}
    for r in best.itertuples(index=False):
        col = summary[r.measure]
        if r.measure == "balance_pass":
            shown = col.map(lambda v: {True: "pass", False: "fail"}.get(as_bool(v), ""))
            target = "pass"
        else:
            shown = col.map(fmt[r.measure])
            target = fmt[r.measure](r.value)
        tied = summary.loc[shown == target, "plan"].tolist()
        out[r.measure] = None if len(tied) == len(summary) and len(summary) > 1 else tied
    return out


def plans_section(plans, *, lang: str = "en",
                  formats: Mapping[str, Callable[[object], str]]
                  ) -> tuple[str, dict[str, pd.DataFrame]]:
    """(HTML section, tables) of the report; empty without plans. ``formats``: the report's
    number rules (``geoequity.report.FORMATS``)."""
    got = plans_tables(plans)
    if got is None:
        return "", {}
    summary, best, spc = got
    T = _TEXT.get(lang, _TEXT["en"])

    def name(plan: object) -> str:   # the current state is geoequity's word; plans are the user's
        return T.get(plan, plan) if plan == "(current)" else str(plan)

    fmt = {c: formats[k] for c, k in _KINDS.items()}
    years = pd.to_numeric(plans.by_year["year"], errors="coerce").dropna().astype(int)
    ys = sorted(set(years))
    if not ys:
        span = T["year_unknown"]
    elif len(ys) == 1:
        span = f'{T["years_one"]} ({ys[0]})'
    else:
        span = T["years_n"].format(n=len(ys), first=ys[0], last=ys[-1])
    lead = T["lead"].format(n=len(summary), years=span)

    shown = ["shortfall_years", "child_years_beyond", "worst", "worst_seats_per_child"]
    shown += [c for c in _OPTIONAL if c in summary.columns and summary[c].notna().any()]
    best_of = _best_shown(summary, best, fmt)
    head = [T["plan"], *(T[c] for c in shown)]
    rows = []
    for r in summary.to_dict(orient="records"):
        tds = [f'<td class="t plan">{escape(name(r["plan"]))}</td>']
        for c in shown:
            mark = " best" if r["plan"] in (best_of.get(c) or ()) else ""
            if c == "worst":
                wy = r.get("worst_year")
                text = T["none"] if r.get("worst_district") is None or pd.isna(
                    r.get("worst_district")) else (
                    f'{r["worst_district"]}' + (f" ({int(wy)})" if pd.notna(wy) else ""))
                tds.append(f'<td class="t">{escape(text)}</td>')
            elif c == "balance_pass":
                b = as_bool(r.get(c))
                word, cls = ((T["none"], "") if b is None else
                             (T["pass"], "pass") if b else (T["fail"], "fail"))
                tds.append(f'<td class="t{mark}"><span class="{cls}">{escape(word)}</span></td>')
            else:
                tds.append(f'<td class="{mark.strip()}">{escape(fmt[c](r.get(c)))}</td>'
                           if mark else f"<td>{escape(fmt[c](r.get(c)))}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    table1 = ('<table class="plans"><thead><tr>' + "".join(f"<th>{escape(h)}</th>" for h in head)
              + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")

    brows = []
    for r in best.itertuples(index=False):
        if r.measure == "balance_pass":
            value = T["pass"] if r.value else T["fail"]
        else:
            value = fmt[r.measure](r.value)
        tied = best_of.get(r.measure)
        names = (T["alike"] if tied is None and len(summary) > 1 else
                 T["sep"].join(map(name, tied or ())) or T["nobody"])
        label = T["best_worst"] if r.measure == "worst_seats_per_child" else T[r.measure]
        brows.append(f'<tr><td class="t">{escape(label)}</td><td class="t">'
                     f"{escape(names)}</td><td>{escape(value)}</td></tr>")
    table2 = (f'<h3>{escape(T["best_title"])}</h3><table class="plans-best"><thead><tr>'
              f'<th>{escape(T["measure"])}</th><th>{escape(T["best"])}</th>'
              f'<th>{escape(T["value"])}</th></tr></thead><tbody>' + "".join(brows)
              + "</tbody></table>") if brows else ""

    year = spc.attrs.get("year")
    title3 = T["last_title"].format(year=year) if year is not None else T["last_title_unknown"]
    plan_cols = [c for c in spc.columns if c != "district"]
    srows = []
    for r in spc.itertuples(index=False):
        district = T["all"] if r[0] == ALL else r[0]
        srows.append(f'<tr><td class="t">{escape(district)}</td>' + "".join(
            f"<td>{escape(formats['ratio'](v))}</td>" for v in r[1:]) + "</tr>")
    table3 = (f'<h3>{escape(title3)}</h3><table class="plans-last"><thead><tr>'
              f'<th>{escape(T["district"])}</th>'
              + "".join(f"<th>{escape(name(p))}</th>" for p in plan_cols)
              + "</tr></thead><tbody>"
              + "".join(srows) + "</tbody></table>")
    section = (f'<section id="plans"><h2>{escape(T["title"])}</h2><p>{escape(lead)}</p>'
               f"{table1}{table2}{table3}</section>")
    every = list(summary["plan"])   # the CSV names the plans the HTML marks
    best_csv = best.assign(best=[
        "; ".join(every if best_of.get(m) is None else best_of[m]) for m in best["measure"]])
    return section, {"plans": summary, "plans_best": best_csv, "plans_last_year": spc}
