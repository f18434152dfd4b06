"""Breakdowns: a school's urban/rural class from its cell, township groupings in a run."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geoequity.urban import cell_value_of

CRS = "EPSG:32650"


def _cells():
    return gpd.GeoDataFrame({"urban": ["urban centre", "rural", "urban cluster"]},
                            geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100),
                                      box(200, 0, 300, 100)],
                            index=["a", "b", "c"], crs=CRS)


def test_school_in_a_cell_takes_its_class():
    schools = gpd.GeoDataFrame(geometry=[Point(50, 50), Point(150, 20), Point(100, 50),
                                         Point(290, 500), Point(-40, 50)],
                               index=["s1", "s2", "edge", "north", "west"], crs=CRS)
    got = cell_value_of(schools, _cells())
    # edge: on the edge shared by a and b -> the first cell in layer order (a);
    # north: in no cell -> the nearest cell centre (c at 250, 50); west: nearest a
    assert got.to_dict() == {"s1": "urban centre", "s2": "rural", "edge": "urban centre",
                             "north": "urban cluster", "west": "urban centre"}


def test_point_cells_use_the_nearest_and_reprojection():
    cells = gpd.GeoDataFrame({"township": ["X", "Y"]}, geometry=[Point(0, 0), Point(1000, 0)],
                             crs=CRS)
    schools = gpd.GeoDataFrame(geometry=[Point(400, 0), Point(600, 300)], crs=CRS)
    assert cell_value_of(schools, cells, "township").tolist() == ["X", "Y"]
    assert cell_value_of(schools.to_crs(4326), cells, "township").tolist() == ["X", "Y"]


def test_missing_column_is_one_line():
    from geoequity import InputError

    with pytest.raises(InputError, match="no column 'tier'"):
        cell_value_of(gpd.GeoDataFrame(geometry=[Point(0, 0)], crs=CRS), _cells(), "tier")


def test_run_breaks_down_by_township_and_gives_schools_their_class():
    from geoequity.costs import euclidean_costs
    from geoequity.pipeline import analyse

    cells = gpd.GeoDataFrame(
        {"children": [10.0, 30.0, 20.0], "township": ["T1", "T1", "T2"],
         "urban_type": ["urban", "urban", "rural"]},
        geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100), box(2000, 0, 2100, 100)],
        index=["a", "b", "c"], crs=CRS)
    schools = gpd.GeoDataFrame({"seats": [40.0, 10.0]},
                               geometry=[Point(150, 50), Point(2050, 50)], index=["s", "t"],
                               crs=CRS)
    costs = euclidean_costs(cells, schools, max_cost=5000)
    res = analyse(cells, schools, costs, threshold=500, urban_col="urban_type",
                  assignment=False)
    assert res.schools["urban"].to_dict() == {"s": "urban", "t": "rural"}
    assert res.schools["township"].to_dict() == {"s": "T1", "t": "T2"}
    eq = res.equity.set_index(["grouping", "group"])
    # T1: cells a, b reach school s (40 seats, 40 children): 2SFCA 1 seat per child
    assert eq.loc[("township", "T1"), "children"] == 40
    assert eq.loc[("township", "T1"), "access_mean"] == pytest.approx(1.0)
    # T2: 10 seats for 20 children
    assert eq.loc[("township", "T2"), "access_mean"] == pytest.approx(0.5)
    assert "township" in set(res.theil["grouping"])


def test_resource_breakdown_by_hand():
    from geoequity.breakdown import resource_breakdown

    schools = pd.DataFrame({"level": "primary", "enrolment": [100, 300, 200, 200],
                            "books": [3000, 6000, 2000, 6000],
                            "urban": ["urban", "urban", "rural", "rural"],
                            "township": ["X", "Y", "Y", "Y"]})
    t = resource_breakdown(schools).set_index(["grouping", "group", "indicator"])
    # urban: books per student 30 and 20 for 100 and 300 pupils: mean 9000/400 = 22.5,
    # sd sqrt((100 * 7.5^2 + 300 * 2.5^2) / 400) = sqrt(18.75)
    assert t.loc[("urban", "urban", "books_per_student"), "mean"] == pytest.approx(22.5)
    assert t.loc[("urban", "urban", "books_per_student"), "cv"] == \
        pytest.approx(18.75 ** 0.5 / 22.5)
    # rural: 10 and 30 for 200 each: mean 20, sd 10
    assert t.loc[("urban", "rural", "books_per_student"), "cv"] == pytest.approx(0.5)
    assert t.loc[("township", "Y", "books_per_student"), "n_schools"] == 3
    assert "district" not in set(t.index.get_level_values("grouping"))
