"""The report's "over the years" section: seats per child by district per year, and the first
year each district falls short (a run with ``[forecast]``; :mod:`geoequity.yearly`).

:func:`years_section` returns the HTML (an inline SVG line chart and a table) and the table
the report also writes as ``report_first_shortfall.csv``.
"""

from __future__ import annotations

import pandas as pd

from geoequity.report_format import escape, fixed, svg_lines

__all__ = ["years_section", "svg_lines", "first_shortfall_table"]

_TEXT = {
    "en": {"title": "Over the years", "chart": "Seats per child by district",
           "year": "year", "spc": "seats per child", "ref": "1 seat per child",
           "district": "District", "first": "First year short of seats",
           "never": "not within the horizon", "last": "Seats per child in {year}",
           "short_last": "Shortfall in {year}",
           "lead": "Children per cell projected from the base year {base} to {last}"
                   "{growth}; seats stay as they are. A district falls short in "
                   "the first year its children outnumber its seats.",
           "growth": " (growth from {source})",
           "enrolment": "the enrolment projection", "bands": "age bands aged forward",
           "births": "births", "none": "new housing only", "all": "(all)"},
    "zh": {"title": "逐年变化", "chart": "各片区生均学位数", "year": "年份",
           "spc": "生均学位", "ref": "每生 1 个学位", "district": "片区",
           "first": "首次学位不足年份", "never": "预测期内无", "last": "{year} 年生均学位",
           "short_last": "{year} 年学位缺口",
           "lead": "以 {base} 年为基年预测至 {last} 年各网格的学龄儿童{growth}；"
                   "学位数不变。片区首次儿童多于学位的年份即首次学位不足年份。",
           "growth": "（增长来源：{source}）", "enrolment": "在校生预测", "bands": "年龄组推移",
           "births": "出生人口", "none": "仅新建住宅", "all": "全县"},
}
def first_shortfall_table(by_year: pd.DataFrame) -> pd.DataFrame:
    """Per district: the first year with more children than seats (``shortfall > 0``; empty
    when none within the horizon), and seats per child and shortfall in the last year."""
    t = by_year
    short = t.loc[t["shortfall"] > 0].groupby("district")["year"].min()
    last_year = int(t["year"].max())
    last = t.loc[t["year"] == last_year].set_index("district")
    out = pd.DataFrame({"district": list(dict.fromkeys(t["district"]))})
    out["first_year_short"] = out["district"].map(short).astype("Int64")
    out["seats_per_child_last"] = out["district"].map(last["seats_per_child"])
    out["shortfall_last"] = out["district"].map(last["shortfall"])
    return out


def years_section(by_year: pd.DataFrame | None, *, lang: str = "en",
                  growth: str = "") -> tuple[str, dict[str, pd.DataFrame]]:
    """(HTML section, tables) for the report; empty without a per-year table."""
    if by_year is None or not len(by_year):
        return "", {}
    T = _TEXT.get(lang, _TEXT["en"])
    years = sorted(int(y) for y in by_year["year"].unique())
    spc = by_year.pivot(index="year", columns="district", values="seats_per_child")
    order = [d for d in dict.fromkeys(by_year["district"]) if d != "(all)"] + (
        ["(all)"] if "(all)" in spc.columns else [])
    spc = spc[order].rename(columns={"(all)": T["all"]})   # the county's line, in words
    chart = svg_lines(spc, title=T["chart"], xlabel=T["year"], ylabel=T["spc"],
                      highlight=T["all"], reference=1.0, reference_label=T["ref"],
                      from_zero=True, size=(620, 380), cls="lines years")
    first = first_shortfall_table(by_year)
    last = years[-1]
    head = [T["district"], T["first"], T["last"].format(year=last),
            T["short_last"].format(year=last)]
    rows = []
    for r in first.itertuples(index=False):
        fy = T["never"] if pd.isna(r.first_year_short) else str(int(r.first_year_short))
        rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in (
            T["all"] if r.district == "(all)" else r.district, fy,
            fixed(r.seats_per_child_last, 2), fixed(r.shortfall_last, 0))) + "</tr>")
    said = T["growth"].format(source=T[growth]) if growth in ("enrolment", "bands", "births",
                                                               "none") else ""
    lead = T["lead"].format(base=years[0], last=last, growth=said)
    html_text = (f'<section id="years"><h2>{escape(T["title"])}</h2><p>{escape(lead)}</p>'
                 f'<div class="charts">{chart}</div>'
                 '<table class="first-short"><thead><tr>'
                 + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead><tbody>"
                 + "".join(rows) + "</tbody></table></section>")
    return html_text, {"first_shortfall": first}
