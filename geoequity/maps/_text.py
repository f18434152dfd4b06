"""Every word a map shows, in English and Chinese (``make_map(lang=...)``).

Terms the report also uses (children, seats, district, children without a seat ...) come from
the report's table (:data:`geoequity.report.TEXT`), so map and report say the same thing in
the same words; the rest are the map's own. Popup rows are labelled by :func:`field_label`:
known columns get a label (with the cost unit), other columns show their own name.
"""

from __future__ import annotations

from typing import Any

from geoequity.report import TEXT as REPORT_TEXT

LANGS = ("en", "zh")

_REPORT_KEYS = {"children": "children", "seats": "seats", "district": "district",
                "unassigned": "gap", "shortfall": "shortfall",
                "seats_per_child": "seats_per_child", "schools": "schools", "level": "level",
                "school": "school", "cells": "cells"}

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "children_layer": "Children per cell",
        "children_note": "children living in each cell",
        "access_layer": "Accessibility",
        "access_note": "school seats within reach per child (higher is better)",
        "no_reach": "no school within reach",
        "gap_layer": "Seat gap",
        "gap_note": "access relative to the fair share (1 = the area's seats per child); "
                    "red: fewer seats than fair, blue: more",
        "gap_low": "less than half the fair share",
        "gap_fair": "about the fair share",
        "gap_high": "twice the fair share or more",
        "unassigned_layer": "Children without a seat",
        "unassigned_note": "children of each cell left without a seat when every school is "
                           "filled up to its seats (nearest first)",
        "all_seated": "0 (all seated)",
        "catch_short_layer": "Seat shortfall by catchment",
        "catch_short_note": "children living in the catchment minus the school's seats",
        "no_shortfall": "no shortfall (seats to spare)",
        "catchments": "Catchments",
        "one_colour": "one colour per school",
        "service_areas": "Service areas",
        "reachable": "reachable within the threshold",
        "districts": "Districts",
        "district_boundary": "district boundary",
        "schools_layer": "Schools",
        "schools_by": "Schools by {col}",
        "schools_util": "Schools by utilisation",
        "util_note": "pupils assigned per seat; circle area \u221d seats",
        "util_low": "< 90 % (spare seats)",
        "util_full": "100 \u2013 < 110 % (full)",
        "util_over": "\u2265 110 % (overcrowded)",
        "not_known": "not known",
        "circle_area": "circle area \u221d seats",
        "largest": "largest circle: {n} seats",
        "a_school": "school",
        "sites": "Proposed sites",
        "sites_title": "Proposed new sites",
        "sites_note": "number: rank in the siting solution",
        "site": "proposed school site",
        "site_prefix": "Proposed site",
        "proposal": "Proposal: {name}",
        "proposed_boundary": "proposed boundary",
        "cell_prefix": "Cell",
        "district_prefix": "District",
        "catchment_prefix": "Catchment of school",
        "service_prefix": "Service area of school",
        "value_note": "value of {col} per cell",
        "no_data": "no data",
        "not_given": "not given",
        "short_all": "Seats fall short across the whole area: {seats} seats for {children} "
                     "children ({spc} per child)",
        # the province overview and the maps per county (maps/_overview.py)
        "ov_share": "Share beyond the threshold",
        "ov_share_pct": "Share beyond the threshold (%)",
        "ov_beyond": "Children beyond the threshold",
        "ov_cost": "Mean trip to the nearest school ({unit})",
        "ov_note_spc": "seats per child in each district (1 = one seat per child)",
        "ov_note_share": "share of each district's children whose nearest school is farther "
                         "than {t}",
        "ov_note_beyond": "children of each district whose nearest school is farther than {t}",
        "ov_note_cost": "children-weighted mean over the children with a school in range",
        "ov_none": "0 (none)",
        "ov_threshold": "the threshold",
        "ov_maps": "Maps by {col}",
        "ov_open": "Open the map of {name}",
        "ov_back": "\u2190 Overview",
        "ov_subtitle": "Overview: {n} maps by {col}; click a district or a name for its map",
        "ov_bounds": "{col} boundaries",
        "ov_bound": "boundary of the area of one map",
        "fold": "click to fold or unfold the legend",
        "yes": "yes",
        "no": "no",
        # popup rows
        "f_access": "access",
        "f_gap": "seat gap (1 = fair share)",
        "f_unassigned": "children without a seat",
        "f_nearest_cost": "nearest school ({unit})",
        "f_utilisation": "utilisation (%)",
        "f_assigned": "pupils assigned",
        "f_spare": "spare seats",
        "f_name": "name",
        "f_lon": "longitude",
        "f_lat": "latitude",
        "unit_m": "m",
        "unit_min": "min",
        # the year switch of a run with [forecast] (maps/_years.py)
        "years_children": "Children by year",
        "years_children_note": "children per cell in the year of the year control (same "
                               "classes every year)",
        "years_gap": "Seat gap by year",
        "years_gap_note": "access in the year of the year control over the base year's seats "
                          "per child (1 = the base year's fair share)",
        "year": "Year",
        "prev_year": "previous year",
        "next_year": "next year",
        "f_cell": "cell",
        "f_year": "year",
        "f_housing": "of which new housing",
        "f_gap_year": "seat gap",
        # the plans' layers of a run with [[plans]] (maps/_plans.py)
        "plan_layer": "Seats per child: {name}",
        "plan_note": "seats per child in each district in the year of the year control "
                     "(1 = one seat per child)",
        "plan_fair": "about one seat per child",
        "f_spc": "seats per child",
        "f_action": "change",
        "f_name": "school",
        "f_seats_added": "seats added",
        "act_open": "new school",
        "act_expand": "expanded",
        "act_close": "closed",
        "plan_schools": "Schools of the plan",
        "plan_current": "(current)",
    },
    "zh": {
        "children_layer": "每网格适龄儿童",
        "children_note": "居住在该网格的适龄儿童数",
        "access_layer": "可达性",
        "access_note": "服务半径内的生均可达学位（越高越好）",
        "no_reach": "服务半径内无学校",
        "gap_layer": "学位供需比",
        "gap_note": "可达性相对于均衡水平（1 = 全区生均学位）；红色：低于均衡，蓝色：高于均衡",
        "gap_low": "不足均衡水平的一半",
        "gap_fair": "约等于均衡水平",
        "gap_high": "均衡水平的两倍及以上",
        "unassigned_layer": "未获学位儿童",
        "unassigned_note": "各校按学位数就近招满后，该网格仍未获学位的儿童数",
        "all_seated": "0（均有学位）",
        "catch_short_layer": "学区学位缺口",
        "catch_short_note": "学区内居住的儿童数减去该校学位数",
        "no_shortfall": "无缺口（学位有余）",
        "catchments": "学区",
        "one_colour": "每所学校一种颜色",
        "service_areas": "服务范围",
        "reachable": "服务半径内可达",
        "districts": "片区",
        "district_boundary": "片区边界",
        "schools_layer": "学校",
        "schools_by": "学校（按{col}）",
        "schools_util": "学校（按学位使用率）",
        "util_note": "分配学生数 / 学位数；圆面积与学位数成正比",
        "util_low": "< 90 %（有空余学位）",
        "util_full": "100 \u2013 < 110 %（满员）",
        "util_over": "\u2265 110 %（超员）",
        "not_known": "未知",
        "circle_area": "圆面积与学位数成正比",
        "largest": "最大的圆：{n} 个学位",
        "a_school": "学校",
        "sites": "拟建校址",
        "sites_title": "拟建新校址",
        "sites_note": "数字：选址方案中的排序",
        "site": "拟建学校",
        "site_prefix": "拟建校址",
        "proposal": "方案：{name}",
        "proposed_boundary": "方案边界",
        "cell_prefix": "网格",
        "district_prefix": "片区",
        "catchment_prefix": "学区：学校",
        "service_prefix": "服务范围：学校",
        "value_note": "每网格的 {col}",
        "no_data": "无数据",
        "not_given": "未填写",
        "short_all": "全区学位不足：{seats} 个学位，{children} 名儿童（生均 {spc}）",
        "ov_share": "超出服务半径儿童比例",
        "ov_share_pct": "超出服务半径儿童比例（%）",
        "ov_beyond": "超出服务半径儿童数",
        "ov_cost": "到最近学校的平均距离（{unit}）",
        "ov_note_spc": "各片区生均学位（1 = 每生 1 个学位）",
        "ov_note_share": "最近学校超出{t}的儿童占该片区儿童的比例",
        "ov_note_beyond": "该片区最近学校超出{t}的儿童数",
        "ov_note_cost": "按儿童数加权，只计范围内有学校的儿童",
        "ov_none": "0（无）",
        "ov_threshold": "服务半径",
        "ov_maps": "分{col}地图",
        "ov_open": "打开{name}的地图",
        "ov_back": "\u2190 返回总览",
        "ov_subtitle": "总览：按{col}分 {n} 幅地图；点击片区或名称打开其地图",
        "ov_bounds": "{col}边界",
        "ov_bound": "一幅分图的范围边界",
        "fold": "点击折叠或展开图例",
        "yes": "是",
        "no": "否",
        "f_access": "可达性（生均学位）",
        "f_gap": "学位供需比（1 = 均衡）",
        "f_unassigned": "未获学位儿童",
        "f_nearest_cost": "到最近学校（{unit}）",
        "f_utilisation": "学位使用率（%）",
        "f_assigned": "分配学生数",
        "f_spare": "空余学位",
        "f_name": "名称",
        "f_lon": "经度",
        "f_lat": "纬度",
        "unit_m": "米",
        "unit_min": "分钟",
        "years_children": "各年适龄儿童",
        "years_children_note": "所选年份每网格的适龄儿童数（各年分级相同）",
        "years_gap": "各年学位供需比",
        "years_gap_note": "所选年份的可达性相对于基准年生均学位（1 = 基准年均衡水平）",
        "year": "年份",
        "prev_year": "上一年",
        "next_year": "下一年",
        "f_cell": "网格",
        "f_year": "年份",
        "f_housing": "其中新建住宅带来",
        "f_gap_year": "学位供需比",
        "plan_layer": "生均学位：{name}",
        "plan_note": "所选年份各片区的生均学位（1 = 每生 1 个学位）",
        "plan_fair": "约每生 1 个学位",
        "f_spc": "生均学位",
        "f_action": "变化",
        "f_name": "学校",
        "f_seats_added": "增加学位",
        "act_open": "新建学校",
        "act_expand": "扩建",
        "act_close": "撤并",
        "plan_schools": "方案涉及的学校",
        "plan_current": "（现状）",
    },
}

#: Popup columns with their own label key (the others show their column name).
_FIELDS = {"access": "f_access", "gap": "f_gap", "unassigned": "f_unassigned",
           "nearest_cost": "f_nearest_cost",
           "utilisation (%)": "f_utilisation", "assigned": "f_assigned",
           "spare": "f_spare", "name": "f_name", "lon": "f_lon", "lat": "f_lat"}

#: Columns holding longitude/latitude degrees: shown with 6 decimals (about 0.1 m).
COORD_FIELDS = {"lon", "lat", "longitude", "latitude", "x_wgs84", "y_wgs84"}


def check_lang(lang: str) -> str:
    from geoequity._errors import input_error

    if lang not in LANGS:
        raise input_error("map", f"unknown language {lang!r}", "use lang en or zh")
    return lang


def t(lang: str, key: str, **kw: Any) -> str:
    """The text of ``key`` in ``lang`` (English when a key has no translation)."""
    if key in _REPORT_KEYS:
        rk = _REPORT_KEYS[key]
        s = REPORT_TEXT[lang].get(rk, REPORT_TEXT["en"][rk])
    else:
        s = TEXT[lang].get(key, TEXT["en"][key])
    return s.format(**kw) if kw else s


def unit_text(lang: str, unit: str) -> str:
    return t(lang, f"unit_{unit}") if unit in ("m", "min") else str(unit)


def field_label(lang: str, name: str, *, unit: str = "m") -> str:
    """The popup label of column ``name``."""
    if name in _FIELDS:
        return t(lang, _FIELDS[name], unit=unit_text(lang, unit))
    if name in _REPORT_KEYS:
        return t(lang, name) if lang == "zh" else name
    return name
