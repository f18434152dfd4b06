"""School types: one vocabulary for the API, the CLI and the scenario; the 2017 exclusions
(special, vocational, teaching points under 50 pupils) listed with their reasons; bad input
ends with one line and exit status 2; the report's new sections render in Chromium."""

from __future__ import annotations

import json
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from geoequity._errors import InputError
from geoequity.balance import evaluate_balance
from geoequity.report import write_report
from geoequity.scenario import load_scenario, read_inputs
from geoequity.school_types import school_type, school_types
from tests.conftest import REPO

LABELS = ["普通学校", "Teaching Point", "特教学校", "职高", "", "special_education school",
          "教学点"]
EXPECTED = ["regular", "teaching_point", "special", "vocational", "regular", "special",
            "teaching_point"]


def test_labels_in_english_and_chinese():
    assert [school_type(v) for v in LABELS] == EXPECTED
    assert school_type(None) == school_type(float("nan")) == "regular"
    with pytest.raises(InputError, match="unknown school type 'kindergarten'; use one of "
                                         "regular, teaching_point, special, vocational"):
        school_type("kindergarten")


def _schools_csv(path, types):
    n = len(types)
    pd.DataFrame({"school_id": [f"S{i}" for i in range(n)],
                  "lon": 119.7 + 0.001 * np.arange(n), "lat": [30.5] * n,
                  "seats": [100] * n, "level": ["primary"] * n, "type": types,
                  "enrolment": [100 + i for i in range(n)],
                  "teachers_qualified": [5] * n}).to_csv(path, index=False)
    return path


def _scenario(tmp_path, schools):
    pd.DataFrame({"cid": ["c1"], "lon": [119.7], "lat": [30.5], "kids": [10]}).to_csv(
        tmp_path / "cells.csv", index=False)
    p = tmp_path / "s.toml"
    p.write_text(f"""
[schools]
path = "{schools.name}"
id = "school_id"
seats = "seats"
level = "level"
type = "type"
[population]
path = "cells.csv"
id = "cid"
count = "kids"
[analysis]
threshold = 1000
""", encoding="utf-8")
    return p


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "geoequity", "--quiet", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO)


def test_the_three_doors_read_types_alike(tmp_path):
    path = _schools_csv(tmp_path / "schools.csv", LABELS)
    # API
    df = pd.read_csv(path, dtype={"type": str}, keep_default_na=False).set_index("school_id")
    api = list(school_types(df["type"]))
    assert api == EXPECTED
    excluded_api = evaluate_balance(df, standard="quality", type_col="type").excluded
    # CLI
    r = _cli("equity", path, "--balance", "quality", "--id", "school_id", "--type", "type",
             "--json")
    assert r.returncode == 0, r.stderr
    excluded_cli = {e["school"]: e["type"] for e in json.loads(r.stdout)["excluded"]}
    assert excluded_cli == dict(excluded_api["type"])
    # scenario
    _, schools, _ = read_inputs(load_scenario(_scenario(tmp_path, path)))
    assert list(schools.loc[df.index, "school_type"]) == EXPECTED


def test_unknown_type_is_one_line_at_each_door(tmp_path):
    path = _schools_csv(tmp_path / "schools.csv", ["普通学校", "幼儿园"])
    df = pd.read_csv(path).set_index("school_id")
    df.attrs["source"] = str(path)
    with pytest.raises(InputError, match=r"row 2 \(school S1\): unknown school type '幼儿园'"):
        evaluate_balance(df, standard="quality", type_col="type")
    r = _cli("equity", path, "--balance", "quality", "--id", "school_id", "--type", "type")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "schools.csv: row 2 (school S1): unknown school type '幼儿园'" in r.stderr
    with pytest.raises(InputError, match=r"schools.csv: row 2 \(school S1\): unknown school "
                                         "type '幼儿园'"):
        read_inputs(load_scenario(_scenario(tmp_path, path)))


@pytest.fixture()
def typed():
    """A (100 pupils, 5 qualified teachers) and a 50-pupil teaching point B (1) are kept;
    a 49-pupil teaching point C, a special school D and a vocational school E are left out."""
    return pd.DataFrame({
        "level": ["primary", "primary", "primary", "special", "primary"],
        "type": ["普通学校", "教学点", "teaching point", "特殊教育学校", "职业学校"],
        "enrolment": [100, 50, 49, 80, 120],
        "teachers_qualified": [5, 1, 9, 9, 9],
    }, index=pd.Index(list("ABCDE"), name="school"))


def test_exclusions_by_type_and_the_50_pupil_line(typed):
    res = evaluate_balance(typed, standard="quality", type_col="type")
    assert dict(res.excluded["reason"]) == {
        "C": "teaching point with 49 pupils (< 50)", "D": "special-education school",
        "E": "vocational school"}
    assert list(res.schools.index) == ["A", "B"]
    # CV of 5 and 2 per 100 pupils weighted 100 : 50: mean (500 + 100) / 150 = 4,
    # variance (100 x 1 + 50 x 4) / 150 = 2, CV = sqrt(2) / 4
    cv = res.cv_table.set_index("indicator").loc["qualified_teachers_per_100", "cv"]
    assert cv == pytest.approx(np.sqrt(2) / 4)
    # without a type column nothing changes: the special school's level is then refused
    with pytest.raises(InputError, match="level that is not primary, junior or combined"):
        evaluate_balance(typed, standard="quality")


def test_basic_standard_leaves_out_every_teaching_point(typed):
    res = evaluate_balance(typed, standard="basic", type_col="type",
                           columns={"teachers_qualified": "teachers_qualified"})
    assert set(res.excluded.index) == {"B", "C", "D", "E"}
    assert res.excluded.loc["B", "reason"] == "teaching point"


def test_report_lists_who_was_left_out_and_why(tmp_path, typed):
    schools = typed.assign(classes=[4, 2, 2, 10, 4], seats=100)
    out = write_report(tmp_path / "r.html", schools=schools, type_col="type", lang="zh",
                       standard="quality")
    ex = out.tables["excluded_schools"].set_index("school")
    assert list(ex.index) == ["C", "D", "E"]
    html = out.html.read_text(encoding="utf-8")
    assert "教学点，学生49人（不足50人）" in html and "特殊教育学校" in html
    assert (tmp_path / "r_excluded_schools.csv").exists()
    assert "operations_summary" in out.tables


def _cli_fail(tmp_path, *args):
    r = _cli(*args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("geoequity: error: ") and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    return r.stderr


def test_cli_bad_input_family(tmp_path):
    schools = tmp_path / "ops.csv"
    pd.DataFrame({"school_id": ["A", "B"], "level": ["primary", "junior"],
                  "enrolment": [300, 400], "classes": [8, 0]}).to_csv(schools, index=False)
    err = _cli_fail(tmp_path, "equity", schools, "--balance", "operations", "--id",
                    "school_id")
    assert "ops.csv: row 2 (school B): 400 pupils in 0 classes" in err
    good = tmp_path / "good.csv"
    pd.DataFrame({"school_id": ["A"], "level": ["primary"], "enrolment": [300],
                  "classes": [8]}).to_csv(good, index=False)
    (tmp_path / "c.csv").write_text("indicator,value\nsatisfacton,90\n", encoding="utf-8")
    err = _cli_fail(tmp_path, "equity", good, "--balance", "operations", "--checklist",
                    tmp_path / "c.csv")
    assert "c.csv: row 1: unknown indicator 'satisfacton'; did you mean 'satisfaction'?" in err
    (tmp_path / "y.csv").write_text("year,indicator,value\n2024,satisfaction,90\n"
                                    "2024,社会认可度,91\n", encoding="utf-8")
    err = _cli_fail(tmp_path, "equity", good, "--balance", "operations", "--checklist",
                    tmp_path / "y.csv")
    assert "y.csv: rows 1 and 2: indicator 'satisfaction' for year 2024 is given twice" in err


def test_cli_operations_json_by_hand(tmp_path):
    path = tmp_path / "ops.csv"
    pd.DataFrame({"school_id": ["A", "B"], "level": ["primary", "初中"],
                  "enrolment": [950, 1350], "classes": [20, 24], "teachers": [45, 100],
                  "county": ["x", "x"]}).to_csv(path, index=False)
    r = _cli("equity", path, "--balance", "operations", "--id", "school_id", "--district",
             "county", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    allrow = [s for s in out["summary"] if s["grouping"] == "all"][0]
    assert allrow["classes"] == 44
    assert allrow["share_large"] == pytest.approx(24 / 44)    # B averages 56.25 > 56
    assert allrow["teachers_needed"] == 150                    # 950/19 + 1350/13.5
    assert allrow["teachers_short"] == 5


def test_demo_schools_carry_the_new_columns():
    s = pd.read_csv(REPO / "data/demo/schools.csv").set_index("school_id")
    for col in ("type", "classes", "classrooms", "public_funds_yuan"):
        assert col in s
    assert s.loc["P12", "type"] == "教学点" and s.loc["P12", "enrolment"] < 50
    assert s.loc["S01", "type"] == "特殊教育学校" and s.loc["S01", "level"] == "special"
    res = evaluate_balance(s, standard="quality", type_col="type")
    assert set(res.excluded.index) == {"P12", "S01"}


@pytest.mark.browser
@pytest.mark.parametrize("lang,labels", [
    ("en", ("Schools left out of the resource evaluation", "School operations",
            "2017 evaluation checklist", "teaching point with 49 pupils (< 50)")),
    ("zh", ("未纳入资源配置评估的学校", "学校办学条件", "优质均衡评估清单", "政府保障程度",
            "第六条（十一）")),
])
def test_new_sections_render_offline(tmp_path, typed, offline_page, lang, labels):
    schools = typed.assign(classes=[4, 2, 2, 10, 4], seats=100,
                           public_funds=[65_000, 32_500, 40_000, 480_000, 90_000])
    (tmp_path / "c.csv").write_text("indicator,value\nsatisfaction,86%\n", encoding="utf-8")
    teachers = pd.DataFrame({"eligible": [1] * 10, "rotated": [1] + [0] * 9,
                             "backbone": [1] + [0] * 9})
    out = write_report(tmp_path / f"{lang}.html", schools=schools, type_col="type", lang=lang,
                       standard="quality", checklist=tmp_path / "c.csv", teachers=teachers)
    page = offline_page
    page.goto(out.html.as_uri())
    page.wait_for_load_state("load")
    assert page.blocked_requests == [] and page.console_errors == []
    body = page.inner_text("body")
    for label in labels:
        assert label in body
    assert page.locator("table.excluded-schools tbody tr").count() == 3
    assert page.locator("table.checklist tbody tr").count() == 28
    for sec in ("excluded", "operations", "checklist"):
        box = page.locator(f"section#{sec}").bounding_box()
        assert box["width"] > 500 and box["height"] > 100
        page.locator(f"section#{sec}").screenshot(path=str(tmp_path / f"{lang}_{sec}.png"))
        assert (tmp_path / f"{lang}_{sec}.png").stat().st_size > 5_000
