"""The 2017 checklist: the thresholds table, reading the county's table, pass/fail, the
closest-name suggestion, repeated rows and years, and the items computed from data."""

from __future__ import annotations

import pandas as pd
import pytest

from geoequity._errors import InputError
from geoequity.balance import load_standards
from geoequity.checklist import evaluate_checklist, read_checklist, rotation_shares
from geoequity.operations import school_operations


def _csv(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_the_table_holds_15_guarantee_9_quality_and_1_satisfaction_items():
    items = load_standards()["checklist"]["items"]
    numbers = {g: {i["item"] for i in items if i["group"] == g}
               for g in ("guarantee", "quality", "satisfaction")}
    assert numbers == {"guarantee": set(range(1, 16)), "quality": set(range(1, 10)),
                       "satisfaction": {1}}
    for i in items:   # every threshold cites its article and wording
        assert i["article"].startswith(("第六条", "第七条", "第八条")) and i["text"]
        assert i["confidence"] in ("high", "low")
    by_key = {i["key"]: i for i in items}
    assert by_key["teacher_rotation"]["threshold"] == 10
    assert by_key["backbone_rotation"]["threshold"] == 20
    assert by_key["satisfaction"]["threshold"] == 85
    assert by_key["special_school_funding"]["threshold"] == 6000


def test_values_by_key_or_label_pass_and_fail(tmp_path):
    path = _csv(tmp_path / "c.csv", "指标,值\n"
                "satisfaction,84.9%\n"           # < 85: fail
                "初中三年巩固率,95\n"              # = 95: pass (>=)
                "Teachers' average pay not below local civil servants',是\n"
                "monitoring_school_gap,0.15\n"   # not < 0.15: fail
                "music_art_rooms,否\n")
    tab = evaluate_checklist(path).table.set_index("key")
    assert tab.loc["satisfaction", "value"] == 84.9
    assert tab.loc["satisfaction", "passed"] is False
    assert tab.loc["junior_retention", "passed"] is True
    assert tab.loc["teacher_salary", "value"] == "yes"
    assert tab.loc["teacher_salary", "passed"] is True
    assert tab.loc["monitoring_school_gap", "passed"] is False
    assert tab.loc["music_art_rooms", "passed"] is False
    assert tab.loc["layout_plan", "source"] == "missing"
    assert tab.loc["layout_plan", "passed"] is None
    assert len(tab) == 28


def test_unknown_indicator_names_the_closest(tmp_path):
    path = _csv(tmp_path / "c.csv", "indicator,value\nsatisfaction,90\nteacher rotaton,12\n")
    with pytest.raises(InputError, match=r"c.csv: row 2: unknown indicator 'teacher rotaton'; "
                                         r"did you mean 'teacher_rotation'\?"):
        read_checklist(path)


def test_repeated_indicator_and_repeated_year_are_refused(tmp_path):
    path = _csv(tmp_path / "c.csv", "indicator,value\nsatisfaction,90\n社会认可度,91\n")
    with pytest.raises(InputError, match=r"rows 1 and 2: indicator 'satisfaction' is given "
                                         "twice"):
        read_checklist(path)
    path = _csv(tmp_path / "y.csv", "year,indicator,value\n2023,satisfaction,80\n"
                "2024,satisfaction,90\n2024,satisfaction,91\n")
    with pytest.raises(InputError, match="rows 2 and 3: indicator 'satisfaction' for year "
                                         "2024 is given twice"):
        read_checklist(path)


def test_latest_year_is_used(tmp_path):
    path = _csv(tmp_path / "y.csv", "year,indicator,value\n2023,satisfaction,80\n"
                "2024,satisfaction,90\n")
    res = evaluate_checklist(path)
    row = res.table.set_index("key").loc["satisfaction"]
    assert row["value"] == 90 and row["passed"] is True
    assert any("2024" in n for n in res.notes)


def test_a_word_where_a_number_is_needed_names_row_and_key(tmp_path):
    path = _csv(tmp_path / "c.csv", "indicator,value\nsatisfaction,good\n")
    with pytest.raises(InputError, match="row 1: satisfaction is 'good', not a number"):
        evaluate_checklist(path)


def test_rotation_shares_from_a_teacher_table():
    # 10 eligible teachers, 1 of them rotated (10 %: passes >= 10), not a backbone teacher
    # (0 %: fails >= 20); a rotated teacher who is not eligible does not count.
    t = pd.DataFrame({"eligible": ["yes"] * 10 + ["no"],
                      "rotated": ["是"] + ["否"] * 9 + ["yes"],
                      "backbone": [0] * 10 + [1]})
    share, back, eligible, rotated, backbone = rotation_shares(t)
    assert (share, back, eligible, rotated, backbone) == (10.0, 0.0, 10, 1, 0)
    tab = evaluate_checklist(None, teachers=t).table.set_index("key")
    assert tab.loc["teacher_rotation", "passed"] is True
    assert tab.loc["backbone_rotation", "passed"] is False
    assert tab.loc["teacher_rotation", "source"] == "computed"
    # the computed details in both report languages
    assert tab.loc["teacher_rotation", "detail"] == "1 of 10 eligible teachers rotated"
    assert tab.loc["teacher_rotation", "detail_zh"] == "符合交流条件教师 10 人中交流轮岗 1 人"


def test_items_computed_from_the_schools(tmp_path):
    # one school of 2,100 pupils (over 2,000) in 50 classes (42 a class: within 45); a
    # 60-pupil village school funded 650 x 60 (short of 100 pupils' worth); a special school
    # at 5,000 a pupil (< 6,000)
    schools = pd.DataFrame({
        "level": ["primary", "primary", "special"], "type": ["", "", "特殊教育学校"],
        "enrolment": [2100, 60, 50], "classes": [50, 3, 6],
        "public_funds": [2100 * 650, 60 * 650, 50 * 5000]}, index=["A", "B", "S"])
    ops = school_operations(schools, type_col="type")
    path = _csv(tmp_path / "c.csv", "indicator,value\nschool_size,是\n")
    res = evaluate_checklist(path, operations=ops)
    tab = res.table.set_index("key")
    assert tab.loc["school_size", "value"] == "no" and tab.loc["school_size", "passed"] is False
    assert "A (2100 > 2000)" in tab.loc["school_size", "detail"]
    assert tab.loc["school_size", "detail_zh"] == "3 所学校中 1 所超过规模上限：A (2100 > 2000)"
    assert tab.loc["class_size", "passed"] is True
    assert tab.loc["small_school_funding", "passed"] is False
    assert tab.loc["special_school_funding", "value"] == pytest.approx(5000.0)
    assert tab.loc["special_school_funding", "passed"] is False
    assert any("school_size: the table says yes" in n for n in res.notes)
