"""School levels and the GB 50180-2018 preset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geoequity import InputError
from geoequity.levels import access_by_level, level_demand, level_supply, make_levels, preset


def test_gb50180_preset_numbers():
    lv = preset("GB50180-2018")
    # GB 50180-2018 Appendix B: service radius 300 m / 500 m / 1000 m
    assert {k: v.threshold for k, v in lv.items()} == {
        "kindergarten": 300.0, "primary": 500.0, "junior_secondary": 1000.0}
    assert lv["primary"].ages == (6, 11)
    assert preset(primary=0.06)["primary"].share == 0.06
    with pytest.raises(InputError, match="between 0 and 1"):
        preset(primary=6)


def test_user_levels_override_preset():
    lv = make_levels({"preset": "GB50180-2018", "primary": {"threshold": 800, "share": 0.05},
                      "senior": {"threshold": 3000, "ages": [15, 17], "share": 0.03}})
    assert lv["primary"].threshold == 800 and lv["primary"].source == "user"
    assert lv["kindergarten"].threshold == 300
    assert lv["senior_secondary"].ages == (15, 17)  # "senior" is an alias


def test_level_supply_and_demand():
    schools = pd.DataFrame({"seats": [100.0, 200.0, 300.0, 50.0],
                            "level": ["primary", "小学;初中", "all", "kindergarten"]},
                           index=["p", "nine", "any", "kg"])
    assert level_supply(schools, "primary").index.tolist() == ["p", "nine", "any"]
    assert level_supply(schools, "junior_secondary").index.tolist() == ["nine", "any"]
    assert level_supply(schools, "kindergarten").to_dict() == {"any": 300.0, "kg": 50.0}
    # io.read_schools writes nine-year schools as "combined", junior secondary as "junior"
    io_style = pd.DataFrame({"seats": [1.0, 2.0, 3.0], "level": ["combined", "junior", "senior"]})
    assert level_supply(io_style, "primary").index.tolist() == [0]
    assert level_supply(io_style, "junior_secondary").index.tolist() == [0, 1]
    pop = pd.DataFrame({"population": [1000.0, 0.0], "kindergarten": [31.0, 0.0]})
    lv = preset(primary=0.06)
    assert level_demand(pop, lv["primary"]).tolist() == [60.0, 0.0]
    assert level_demand(pop, lv["kindergarten"]).tolist() == [31.0, 0.0]
    with pytest.raises(InputError, match="no population share"):
        level_demand(pop, lv["junior_secondary"])


def test_access_by_level_uses_each_threshold():
    # cell A is 400 m from a primary+kindergarten school: inside 500 m, outside 300 m
    costs = pd.DataFrame({"origin": ["A", "B"], "destination": ["s", "s"],
                          "cost": [400.0, 200.0]})
    pop = pd.DataFrame({"population": [1000.0, 500.0]}, index=["A", "B"])
    schools = pd.DataFrame({"seats": [90.0], "level": ["all"]}, index=["s"])
    lv = preset(kindergarten=0.03, primary=0.06, junior_secondary=0.03)
    out = access_by_level(costs, pop, schools, lv)
    assert np.isnan(out.loc["A", "access_kindergarten"])
    assert out.loc["B", "access_kindergarten"] == pytest.approx(90 / 15)
    assert out.loc["A", "access_primary"] == pytest.approx(90 / (60 + 30))
    assert out["children_primary"].tolist() == [60.0, 30.0]


def test_level_schools_read_again_for_the_level_keep_their_seats():
    # A nine-year school of 900 seats gives primary 6/9 = 600 (grades 1-6 of 1-9). The
    # schools a run analysed (and writes to schools.csv/gpkg) carry those 600 seats; read
    # again for primary they must stay 600, not 600 x 6/9 = 400.
    from geoequity.levels import level_supply, schools_for_level

    schools = pd.DataFrame({"seats": [900.0, 540.0, 300.0],
                            "level": ["九年一贯制", "primary", "junior"]},
                           index=pd.Index(["J", "P", "M"], name="school_id"))
    key, analysed = schools_for_level(schools, "primary")
    assert analysed["seats"].to_dict() == {"J": 600.0, "P": 540.0}
    assert analysed["seats_primary"].to_dict() == {"J": 600.0, "P": 540.0}
    again = level_supply(analysed, key)
    assert again.to_dict() == {"J": 600.0, "P": 540.0}
    # the input's own table is unchanged, and junior still gets its 3/9 from it
    assert "seats_primary" not in schools
    assert level_supply(schools, "junior").to_dict() == {"J": 300.0, "M": 300.0}
