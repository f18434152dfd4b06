"""County-level balance evaluation: the issue's worked example, hand-built counties, the table."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from geoequity import InputError
from geoequity.balance import evaluate_balance, load_standards

QUALITY_MIN_PRIMARY = {  # the 2017 minimums per primary school, from the issue text
    "teachers_qualified": 4.2 / 100, "teachers_backbone": 1 / 100, "teachers_pe_arts": 0.9 / 100,
    "floor_area": 4.5, "sports_area": 7.5, "equipment_value": 2000,
    "multimedia_classrooms": 2.3 / 100,
}


def test_standards_table_holds_the_national_numbers():
    t = load_standards()
    assert t["basic"]["cv_max"] == {"primary": 0.65, "junior": 0.55}
    assert t["quality"]["cv_max"] == {"primary": 0.50, "junior": 0.45}
    assert len(t["basic"]["indicators"]) == 8 and len(t["quality"]["indicators"]) == 7
    mins = {i["key"]: (i["min"]["primary"], i["min"]["junior"])
            for i in t["quality"]["indicators"]}
    assert mins == {
        "qualified_teachers_per_100": (4.2, 5.3), "backbone_teachers_per_100": (1, 1),
        "pe_arts_teachers_per_100": (0.9, 0.9), "floor_area_per_student": (4.5, 5.8),
        "sports_area_per_student": (7.5, 10.2), "equipment_value_per_student": (2000, 2500),
        "multimedia_classrooms_per_100": (2.3, 2.4)}
    assert t["quality"]["min_met"] == 6
    assert (t["split"]["primary"], t["split"]["junior"]) == (1.0, 1.1)


def test_issue_worked_example_books():
    schools = pd.DataFrame({"level": "小学", "students": [45, 37, 89, 76, 55],
                            "藏书": [279, 137, 935, 160, 402]}, index=list("abcde"))
    r = evaluate_balance(schools, enrolment_col="students", columns={"books": "藏书"})
    row = r.cv_table.set_index("indicator").loc["books_per_student"]
    assert row["mean"] == pytest.approx(1913 / 302)  # 6.33 books per student
    assert row["cv"] == pytest.approx(0.515, abs=5e-4)
    assert r.summary.iloc[0]["cv_composite"] == pytest.approx(row["cv"])
    assert any("skipped" in n for n in r.notes)  # the other 7 indicators have no column


def _basic_county(teachers, books, level="primary"):
    return pd.DataFrame({"level": level, "enrolment": [100, 100], "teachers": teachers,
                         "books": books, "county": "X"}, index=["s1", "s2"])


def test_basic_composite_and_verdict_by_hand():
    # teachers per 100: 5, 15 -> mean 10, sd 5 -> CV 0.5; books per student 5, 15 -> CV 0.5
    ok = evaluate_balance(_basic_county([5, 15], [500, 1500]), district_col="county")
    assert ok.summary.iloc[0]["cv_composite"] == pytest.approx(0.5)
    assert ok.passed  # 0.5 <= 0.65 (primary)
    # junior limit is 0.55: same numbers pass; make teachers CV 0.9 -> composite 0.7 fails both
    bad = evaluate_balance(_basic_county([1, 19], [500, 1500], level="junior"),
                           district_col="county")
    s = bad.summary.iloc[0]
    assert s["cv_composite"] == pytest.approx((0.9 + 0.5) / 2)
    assert not s["passed"] and s["threshold"] == 0.55
    assert s["failing_indicators"] == "teachers_per_100"  # books CV 0.5 is under 0.55
    d = bad.drivers
    assert set(d["indicator"]) == {"teachers_per_100"}
    # two schools, each half of the variance; leaving one out leaves a single school (CV 0)
    assert d["variance_share"].iloc[0] == pytest.approx(0.5)
    assert d["cv_without"].iloc[0] == pytest.approx(0.0)
    assert "s1" in set(bad.failing_schools.index) or "s2" in set(bad.failing_schools.index)


def test_quality_minimums_six_of_seven_and_85_percent():
    def school(factor_last):
        row = {k: v * 1000 for k, v in QUALITY_MIN_PRIMARY.items()}
        row["multimedia_classrooms"] *= factor_last
        return row

    rows = {"meets_all": school(1.2), "six_plus_90pct": school(0.9),
            "six_plus_80pct": school(0.8)}
    five = school(1.0)
    five["sports_area"] *= 0.5
    five["equipment_value"] *= 0.5
    rows["five"] = five
    df = pd.DataFrame.from_dict(rows, orient="index").assign(level="primary", enrolment=1000)
    r = evaluate_balance(df, standard="quality")
    sch = r.schools
    assert sch.loc["meets_all", "n_met"] == 7 and sch.loc["meets_all", "meets_minimums"]
    assert sch.loc["six_plus_90pct", "n_met"] == 6 and sch.loc["six_plus_90pct",
                                                                "meets_minimums"]
    assert sch.loc["six_plus_80pct", "n_met"] == 6
    assert not sch.loc["six_plus_80pct", "meets_minimums"]  # 80 % < 85 %
    assert sch.loc["five", "n_met"] == 5 and not sch.loc["five", "meets_minimums"]
    assert r.summary.iloc[0]["schools_failing_minimums"] == 2
    assert not r.passed
    assert set(r.failing_schools.index) >= {"six_plus_80pct", "five"}


def test_quality_cv_rule_is_per_indicator():
    # every indicator equal across schools except sports area: 5 and 15 m2 -> CV 0.5 > ... ok
    base = {k: v * 1000 * 2 for k, v in QUALITY_MIN_PRIMARY.items()}
    a, b = dict(base), dict(base)
    a["sports_area"], b["sports_area"] = 7.5 * 1000 * 1.0, 7.5 * 1000 * 3.0  # 7.5 and 22.5
    df = pd.DataFrame([a, b], index=["a", "b"]).assign(level="junior", enrolment=1000)
    df["sports_area"] *= 10.2 / 7.5  # junior minimum 10.2 m2; values 10.2 and 30.6 -> CV 0.5
    r = evaluate_balance(df, standard="quality")
    row = r.cv_table.set_index("indicator").loc["sports_area_per_student"]
    assert row["cv"] == pytest.approx(0.5)
    s = r.summary.iloc[0]
    assert s["cv_composite"] == pytest.approx(0.5 / 7)  # composite would pass ...
    assert not s["cv_passed"]  # ... but 2017 judges every indicator: 0.5 > 0.45
    assert s["failing_indicators"] == "sports_area_per_student"


def test_combined_school_split_one_to_one_point_one():
    df = pd.DataFrame({
        "level": ["九年一贯制", "primary", "junior"], "enrolment": [900, 500, 400],
        "enrolment_primary": [600, np.nan, np.nan], "enrolment_junior": [300, np.nan, np.nan],
        "books": [1000.0, 5000.0, 4000.0]}, index=["c", "p", "j"])
    r = evaluate_balance(df)
    parts = r.schools.loc["c"].set_index("level")
    share_p = 600 * 1.0 / (600 * 1.0 + 300 * 1.1)
    assert parts.loc["primary", "enrolment"] == 600
    assert parts.loc["primary", "books_per_student"] == pytest.approx(1000 * share_p / 600)
    assert parts.loc["junior", "books_per_student"] == pytest.approx(1000 * (1 - share_p) / 300)
    # primary county mean = (books of p + primary part of c) / (500 + 600)
    prim = r.cv_table.set_index("level").loc["primary"]
    assert prim["mean"] == pytest.approx((5000 + 1000 * share_p) / 1100)
    # without per-level enrolment: grades 6 : 3
    r2 = evaluate_balance(df.drop(columns=["enrolment_primary", "enrolment_junior"]))
    assert r2.schools.loc["c"].set_index("level").loc["primary", "enrolment"] == 600
    assert any("6 : 3" in n for n in r2.notes)


def test_levels_restrict_the_evaluation_to_the_analysed_level():
    df = pd.DataFrame({
        "level": ["九年一贯制", "primary", "junior"], "enrolment": [900, 500, 400],
        "enrolment_primary": [600, np.nan, np.nan], "enrolment_junior": [300, np.nan, np.nan],
        "books": [1000.0, 5000.0, 4000.0]}, index=["c", "p", "j"])
    r = evaluate_balance(df.loc[["c", "p"]], levels=["primary"])   # a primary run's schools
    assert set(r.schools["level"]) == {"primary"}
    assert list(r.cv_table["level"].unique()) == ["primary"]
    share_p = 600 * 1.0 / (600 * 1.0 + 300 * 1.1)
    prim = r.cv_table.set_index("level").loc["primary"]
    assert prim["mean"] == pytest.approx((5000 + 1000 * share_p) / 1100)
    assert "balance evaluated for primary only" in r.notes
    j = evaluate_balance(df, levels=["初中"])   # Chinese labels work too
    assert set(j.schools["level"]) == {"junior"} and len(j.schools) == 2


def test_edited_standards_change_the_verdict():
    t = load_standards()
    t["basic"]["cv_max"]["primary"] = 0.4
    r = evaluate_balance(_basic_county([5, 15], [500, 1500]), standards=t)
    assert r.summary.iloc[0]["threshold"] == 0.4 and not r.passed


def test_bad_input_messages():
    df = _basic_county([5, 15], [500, 1500])
    with pytest.raises(InputError, match="level"):
        evaluate_balance(df.assign(level="高中"))
    with pytest.raises(InputError, match="enrolment"):
        evaluate_balance(df.drop(columns="enrolment"))
    with pytest.raises(InputError, match="duplicate"):
        evaluate_balance(pd.concat([df, df]))
    with pytest.raises(InputError, match="non-numeric"):
        evaluate_balance(df.assign(books=["many", "few"]))
    zero = pd.concat([df, df.iloc[[0]].rename(index={"s1": "empty"}).assign(enrolment=0)])
    r = evaluate_balance(zero)
    assert "empty" not in r.schools.index and any("zero enrolment" in n for n in r.notes)


def test_cli_balance_column_flags_spelled_either_way(tmp_path, capsys):
    """`equity --level-col/--school-id` (as `report` spells them) and the older `--level/--id`
    read the same columns: the numbers of test_cli_balance_json (CV 0.7) both ways."""
    from geoequity.cli import main

    f = tmp_path / "schools.csv"
    pd.DataFrame({"name": ["s1", "s2"], "lvl": ["初中", "初中"], "enrolment": [100, 100],
                  "teachers": [1, 19], "books": [500, 1500]}).to_csv(f, index=False)
    got = []
    for flags in (["--level-col", "lvl", "--school-id", "name"], ["--level", "lvl", "--id",
                                                                  "name"]):
        assert main(["equity", str(f), "--balance", "basic", *flags, "--json"]) == 0
        got.append(json.loads(capsys.readouterr().out))
    assert got[0] == got[1]
    assert got[0]["summary"][0]["cv_composite"] == pytest.approx(0.7)
    assert "s1" in json.dumps(got[0])                    # schools named by the id column


def test_cli_balance_enrolment_column_spelled_either_way(tmp_path, capsys):
    """`equity --balance --enrolment-col` (as --level-col is spelled) and the older
    `--enrolment` read the same column: CV 0.7 both ways (test_cli_balance_json's numbers:
    teachers per 100 pupils 1 and 19, CV 0.9; books per pupil 5 and 15, CV 0.5)."""
    from geoequity.cli import main

    f = tmp_path / "schools.csv"
    pd.DataFrame({"name": ["s1", "s2"], "level": ["初中", "初中"], "pupils": [100, 100],
                  "teachers": [1, 19], "books": [500, 1500]}).to_csv(f, index=False)
    got = []
    for flag in ("--enrolment-col", "--enrolment"):
        assert main(["equity", str(f), "--balance", "basic", "--id", "name", flag, "pupils",
                     "--json"]) == 0
        got.append(json.loads(capsys.readouterr().out))
    assert got[0] == got[1]
    assert got[0]["summary"][0]["cv_composite"] == pytest.approx(0.7)
    assert got[0]["summary"][0]["enrolment"] == 200
    # without it the default column enrolment is missing: the message names the new spelling
    assert main(["equity", str(f), "--balance", "basic", "--id", "name"]) == 2
    assert capsys.readouterr().err.endswith("(--enrolment-col)\n")


def test_cli_balance_json(tmp_path, capsys):
    from geoequity.cli import main

    f = tmp_path / "schools.csv"
    pd.DataFrame({"name": ["s1", "s2"], "level": ["初中", "初中"], "enrolment": [100, 100],
                  "teachers": [1, 19], "books": [500, 1500]}).to_csv(f, index=False)
    assert main(["equity", str(f), "--balance", "basic", "--id", "name", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is False
    assert out["summary"][0]["cv_composite"] == pytest.approx(0.7)
    assert {d["indicator"] for d in out["drivers"]} == {"teachers_per_100"}
    assert math.isclose(out["summary"][0]["threshold"], 0.55)


@pytest.mark.parametrize(("where", "level", "enrolment"), [
    ("cli", "(--level-col)", "(--enrolment-col)"),
    ("scenario", "([schools] level)", "(the schools' column enrolment)"),
    ("python", "(level_col)", "(enrolment_col)"),
])
def test_messages_name_the_option_the_door_has(where, level, enrolment):
    """A scenario user is not told about a CLI flag: the level column is [schools] level there,
    --level-col on the command line (its old spelling --level still works), level_col in Python."""
    from geoequity._options import door

    df = _basic_county([5, 15], [500, 1500])
    with door(where), pytest.raises(InputError) as err:
        evaluate_balance(df.drop(columns="level"))
    assert str(err.value).endswith(f"name the column holding primary / junior / combined {level}")
    with door(where), pytest.raises(InputError) as err:
        evaluate_balance(df.assign(enrolment=0))
    assert str(err.value).endswith(f"CVs are weighted by enrolment: fill it in {enrolment}")
    with door(where), pytest.raises(InputError) as err:
        evaluate_balance(df.drop(columns="enrolment"))
    assert str(err.value).endswith(f"name the column of students per school {enrolment}")


def test_cli_balance_message_names_a_flag_equity_has(tmp_path, capsys):
    from geoequity.cli import main

    f = tmp_path / "schools.csv"
    pd.DataFrame({"name": ["s1", "s2"], "enrolment": [100, 100], "teachers": [1, 19],
                  "books": [500, 1500]}).to_csv(f, index=False)
    assert main(["equity", str(f), "--balance", "basic"]) == 2
    err = capsys.readouterr().err
    assert err == (f"geoequity: error: {f}: no level column 'level'; name the column holding "
                   "primary / junior / combined (--level-col)\n")
