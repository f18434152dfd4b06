"""School operations: class size, 大班额 / 超大班额 shares, school size, classrooms, teachers
from the staffing norm and public funds per pupil, against hand-computed values."""

from __future__ import annotations

import pandas as pd
import pytest

from geoequity._errors import InputError
from geoequity.operations import school_operations


@pytest.fixture()
def schools():
    # A: 950 primary pupils in 20 classes -> 47.5 a class (> 45); 18 rooms for 20 classes;
    #    45 teachers for 950 / 19 = 50 needed; 617,500 yuan = 650 a pupil (the standard).
    # B: 1,350 junior pupils in 24 classes -> 56.25 (> 50, > 56: 大班额); 100 teachers needed
    #    (1,350 / 13.5); 1,147,500 yuan = 850 a pupil.
    # C: 2,010 primary pupils in 30 classes -> 67 (> 66: 超大班额); over the 2,000 cap.
    # D: a teaching point of 40 pupils in 2 classes: 26,000 yuan is 650 a pupil, but a school
    #    under 100 pupils is funded as 100 pupils: 65,000 needed.
    # E: a special school, 60 pupils in 8 classes, 360,000 yuan = 6,000 a pupil (the standard).
    return pd.DataFrame({
        "level": ["primary", "初中", "小学", "primary", "special"],
        "type": ["普通学校", "regular", "", "教学点", "特殊教育学校"],
        "enrolment": [950, 1350, 2010, 40, 60],
        "classes": [20, 24, 30, 2, 8],
        "classrooms": [18, 24, 30, 2, 8],
        "teachers": [45, 100, 110, 3, 20],
        "public_funds": [617_500, 1_147_500, 1_306_500, 26_000, 360_000],
        "district": ["north", "north", "south", "south", "south"],
    }, index=pd.Index(list("ABCDE"), name="school"))


def test_per_school_figures_by_hand(schools):
    s = school_operations(schools, district_col="district", type_col="type").schools
    assert s.loc["A", "class_size"] == pytest.approx(47.5)
    assert s.loc["B", "class_size"] == pytest.approx(56.25)
    assert s.loc["C", "class_size"] == pytest.approx(67.0)
    assert list(s["over_class_limit"][list("ABCD")]) == [True, True, True, False]
    assert list(s["class_limit"][list("ABCD")]) == [45, 50, 45, 45]
    # 大班额 (> 56) and 超大班额 (> 66), estimated from the averages
    assert list(s["large_classes"]) == [0, 24, 30, 0, 0]
    assert list(s["very_large_classes"]) == [0, 0, 30, 0, 0]
    assert list(s["over_size"][list("ABCD")]) == [False, False, True, False]
    assert s.loc["A", "rooms_needed"] == 20 and s.loc["A", "rooms_short"] == 2
    assert s.loc["A", "teachers_needed"] == 50 and s.loc["A", "teachers_short"] == 5
    assert s.loc["B", "teachers_needed"] == 100 and s.loc["B", "teachers_short"] == 0
    assert s.loc["C", "teachers_needed"] == 106          # 2,010 / 19 = 105.8 -> 106
    assert s.loc["D", "teachers_needed"] == 3            # 40 / 19 = 2.1 -> 3
    assert s.loc["A", "funds_per_pupil"] == pytest.approx(650.0)
    assert s.loc["D", "funds_needed"] == pytest.approx(65_000.0)
    assert s.loc["E", "funds_needed"] == pytest.approx(360_000.0)
    assert list(s["funds_ok"]) == [True, True, True, False, True]
    # the special school is not held to the limits of ordinary schools
    assert pd.isna(s.loc["E", "class_limit"]) and not s.loc["E", "over_class_limit"]


def test_summary_shares_by_hand(schools):
    summ = school_operations(schools, district_col="district", type_col="type").summary
    everyone = summ[summ["grouping"] == "all"].iloc[0]
    assert everyone["classes"] == 84                     # 20 + 24 + 30 + 2 + 8
    assert everyone["share_over_limit"] == pytest.approx(74 / 84)
    assert everyone["share_large"] == pytest.approx(54 / 84)       # B's 24 and C's 30
    assert everyone["share_very_large"] == pytest.approx(30 / 84)
    assert everyone["schools_over_size"] == 1
    assert everyone["schools_below_funding"] == 1
    assert everyone["rooms_short"] == 2
    north = summ[(summ["grouping"] == "district") & (summ["group"] == "north")].iloc[0]
    assert north["class_size"] == pytest.approx((950 + 1350) / 44)
    assert north["funds_per_pupil"] == pytest.approx((617_500 + 1_147_500) / 2300)


def test_given_large_class_counts_win_over_the_estimate(schools):
    schools = schools.assign(large_classes=[3, 10, 30, 0, 0],
                             very_large_classes=[0, 2, 12, 0, 0])
    s = school_operations(schools, type_col="type").schools
    assert list(s["large_classes"]) == [3, 10, 30, 0, 0]
    assert list(s["very_large_classes"]) == [0, 2, 12, 0, 0]


def test_combined_school_teachers_and_funds_by_level():
    # 900 pupils of a nine-year school, no split given: 600 primary + 300 junior (6 : 3):
    # 600 / 19 + 300 / 13.5 = 31.58 + 22.22 = 53.8 -> 54 teachers; 600 x 650 + 300 x 850
    # = 645,000 yuan
    df = pd.DataFrame({"level": ["九年一贯制"], "enrolment": [900], "classes": [18],
                       "public_funds": [600_000]}, index=["K"])
    s = school_operations(df).schools
    assert s.loc["K", "teachers_needed"] == 54
    assert s.loc["K", "funds_needed"] == pytest.approx(645_000)
    assert s.loc["K", "size_limit"] == 2500 and not s.loc["K", "funds_ok"]


def test_zero_classes_is_refused_naming_the_row():
    df = pd.DataFrame({"level": ["primary", "primary"], "enrolment": [300, 200],
                       "classes": [8, 0]}, index=["X1", "X2"])
    df.attrs["source"] = "schools.csv"
    with pytest.raises(InputError, match=r"schools.csv: row 2 \(school X2\): 200 pupils in 0 "
                                         "classes"):
        school_operations(df)


@pytest.mark.parametrize(("where", "spelled"), [
    ("cli", "--type-col"), ("scenario", "[schools] type"), ("python", "type_col")])
def test_a_bad_level_names_the_type_option_of_the_door(schools, where, spelled):
    """What a scenario's report says when operations cannot be evaluated names the scenario's
    key, not the CLI's flag (and the CLI's is one `geoequity equity` has)."""
    from geoequity._options import door

    with door(where), pytest.raises(InputError) as err:
        school_operations(schools.assign(level=["高中", *schools["level"][1:]]), type_col="type")
    assert str(err.value).endswith(f"or give the school a type ({spelled}) such as 特殊教育学校")
    with door(where), pytest.raises(InputError) as err:
        school_operations(schools.drop(columns="level"))
    level = {"cli": "--level-col", "scenario": "[schools] level", "python": "level_col"}[where]
    assert str(err.value).endswith(f"primary / junior / combined ({level})")
