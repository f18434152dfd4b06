"""The report's "over the years" section: seats per child by district per year, and the first
year each district falls short (a run with ``[forecast]``; :mod:`geoequity.yearly`).

:func:`years_section` returns the HTML (an inline SVG line chart and a table) and the table
the report also writes as ``report_first_shortfall.csv``.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

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
           "births": "births", "none": "new housing only"},
    "zh": {"title": "逐年变化", "chart": "各学区生均学位数", "year": "年份",
           "spc": "生均学位", "ref": "每生 1 个学位", "district": "学区",
           "first": "首次学位不足年份", "never": "预测期内无", "last": "{year} 年生均学位",
           "short_last": "{year} 年学位缺口",
           "lead": "以 {base} 年为基年预测至 {last} 年各网格的学龄儿童{growth}；"
                   "学位数不变。学区首次儿童多于学位的年份即首次学位不足年份。",
           "growth": "（增长来源：{source}）", "enrolment": "在校生预测", "bands": "年龄组推移",
           "births": "出生人口", "none": "仅新建住宅"},
}
_PALETTE = ["#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#66a182", "#8d6a9f", "#00798c",
            "#c06c84", "#6c5b7b", "#355c7d"]


def _esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def _num(x: float, digits: int = 2) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    return f"{x:,.{digits}f}"


def svg_lines(table: pd.DataFrame, *, title: str, xlabel: str, ylabel: str,
              reference: float | None = 1.0, reference_label: str = "") -> str:
    """Line chart as inline SVG: ``table`` is years (index) x series (columns)."""
    w, h = 620, 380
    m = {"l": 60, "r": 150, "t": 34, "b": 46}
    pw, ph = w - m["l"] - m["r"], h - m["t"] - m["b"]
    years = [int(y) for y in table.index]
    vals = table.to_numpy(float)
    finite = vals[np.isfinite(vals)]
    top = max(float(finite.max()) if finite.size else 1.0, reference or 0.0) * 1.1 or 1.0
    span = max(years[-1] - years[0], 1)

    def x(y: int) -> float:
        return m["l"] + (y - years[0]) / span * pw

    def yv(v: float) -> float:
        return m["t"] + (1 - v / top) * ph

    out = [f'<svg class="chart years" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" '
           f'width="{w}" height="{h}" role="img" aria-label="{_esc(title)}">',
           f"<title>{_esc(title)}</title>",
           f'<text x="{w / 2}" y="18" text-anchor="middle" class="ct">{_esc(title)}</text>',
           f'<rect x="{m["l"]}" y="{m["t"]}" width="{pw}" height="{ph}" class="frame" '
           'fill="none" stroke="#999"/>']
    for k in range(6):
        v = top * k / 5
        out.append(f'<line x1="{m["l"]}" x2="{m["l"] + pw}" y1="{yv(v):.1f}" y2="{yv(v):.1f}" '
                   'class="grid" stroke="#eee"/>')
        out.append(f'<text x="{m["l"] - 6}" y="{yv(v) + 4:.1f}" text-anchor="end" '
                   f'class="tick">{v:.2f}</text>')
    step = max(1, round(len(years) / 8))
    for y in years[::step]:
        out.append(f'<text x="{x(y):.1f}" y="{m["t"] + ph + 16}" text-anchor="middle" '
                   f'class="tick">{y}</text>')
    if reference is not None:
        out.append(f'<line x1="{m["l"]}" x2="{m["l"] + pw}" y1="{yv(reference):.1f}" '
                   f'y2="{yv(reference):.1f}" class="ref" stroke="#d1495b" '
                   'stroke-dasharray="5 3"/>')
        out.append(f'<text x="{m["l"] + pw - 4}" y="{yv(reference) - 4:.1f}" text-anchor="end" '
                   f'class="tick">{_esc(reference_label)}</text>')
    for i, name in enumerate(table.columns):
        col = "#222222" if name == "(all)" else _PALETTE[i % len(_PALETTE)]
        v = vals[:, i]
        ok = np.isfinite(v)
        pts = " ".join(f"{x(y):.1f},{yv(a):.1f}" for y, a, o in zip(years, v, ok) if o)
        dash = ' stroke-dasharray="6 3"' if name == "(all)" else ""
        out.append(f'<polyline points="{pts}" fill="none" stroke="{col}" stroke-width="2"'
                   f'{dash} class="line" data-name="{_esc(name)}"/>')
        ly = m["t"] + 10 + 16 * i
        out.append(f'<line x1="{m["l"] + pw + 10}" x2="{m["l"] + pw + 28}" y1="{ly}" y2="{ly}" '
                   f'stroke="{col}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{m["l"] + pw + 32}" y="{ly + 4}" class="leg">{_esc(name)}</text>')
    out.append(f'<text x="{m["l"] + pw / 2}" y="{h - 8}" text-anchor="middle" '
               f'class="axis">{_esc(xlabel)}</text>')
    out.append(f'<text transform="translate(16,{m["t"] + ph / 2}) rotate(-90)" '
               f'text-anchor="middle" class="axis">{_esc(ylabel)}</text>')
    out.append("</svg>")
    return "\n".join(out)


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
    spc = spc[order]
    chart = svg_lines(spc, title=T["chart"], xlabel=T["year"], ylabel=T["spc"],
                      reference=1.0, reference_label=T["ref"])
    first = first_shortfall_table(by_year)
    last = years[-1]
    head = [T["district"], T["first"], T["last"].format(year=last),
            T["short_last"].format(year=last)]
    rows = []
    for r in first.itertuples(index=False):
        fy = T["never"] if pd.isna(r.first_year_short) else str(int(r.first_year_short))
        rows.append("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in (
            r.district, fy, _num(r.seats_per_child_last), _num(r.shortfall_last, 0))) + "</tr>")
    said = T["growth"].format(source=T[growth]) if growth in ("enrolment", "bands", "births",
                                                               "none") else ""
    lead = T["lead"].format(base=years[0], last=last, growth=said)
    html_text = (f'<section id="years"><h2>{_esc(T["title"])}</h2><p>{_esc(lead)}</p>'
                 f'<div class="charts">{chart}</div>'
                 '<table class="first-short"><thead><tr>'
                 + "".join(f"<th>{_esc(h)}</th>" for h in head) + "</tr></thead><tbody>"
                 + "".join(rows) + "</tbody></table></section>")
    return html_text, {"first_shortfall": first}
