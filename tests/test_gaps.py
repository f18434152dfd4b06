"""Seat gaps per cell, catchment and district: hand-computed case, totals reconcile."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoequity.gaps import seat_gaps

CRS = "EPSG:32650"
# cells a, b, c west (x < 1000), d east; schools S1 west, S2 east
COSTS = pd.DataFrame({
    "origin": ["a", "a", "b", "c", "c", "d"],
    "destination": ["S1", "S2", "S1", "S2", "S1", "S2"],
    "cost": [200.0, 800.0, 500.0, 1000.0, 1200.0, 3000.0],
})
CELLS = gpd.GeoDataFrame({"children": [10.0, 20.0, 30.0, 40.0]},
                         geometry=[shapely.Point(100, 0), shapely.Point(300, 0),
                                   shapely.Point(900, 0), shapely.Point(5000, 0)],
                         index=pd.Index(["a", "b", "c", "d"], name="cell"), crs=CRS)
SCHOOLS = gpd.GeoDataFrame({"seats": [25.0, 60.0]},
                           geometry=[shapely.Point(200, 0), shapely.Point(1500, 0)],
                           index=pd.Index(["S1", "S2"], name="school"), crs=CRS)
DISTRICTS = gpd.GeoDataFrame({"district": ["west", "east"]},
                             geometry=[shapely.box(0, -100, 1000, 100),
                                       shapely.box(1000, -100, 6000, 100)], crs=CRS)


def test_gap_tables_by_hand():
    g = seat_gaps(COSTS, CELLS, SCHOOLS, threshold=1000, districts=DISTRICTS)
    c = g.cells
    # 2SFCA: R_S1 = 25 / (10 + 20) ; R_S2 = 60 / (10 + 30)
    r1, r2 = 25 / 30, 60 / 40
    assert c.loc["a", "access"] == pytest.approx(r1 + r2)
    assert c.loc["b", "seats"] == pytest.approx(20 * r1)
    assert c.loc["b", "shortfall"] == pytest.approx(20 - 20 * r1)
    assert np.isnan(c.loc["d", "access"]) and c.loc["d", "beyond_threshold"] == 40
    assert c.loc["d", "shortfall"] == 40 and c.loc["d", "seats"] == 0
    fair = 85 / 100
    assert c.loc["c", "gap_index"] == pytest.approx(r2 / fair)
    # assignment within 1000: S1 (25) takes b (20, cost 500) + 5 of a; S2 (60) takes the
    # other 5 of a and c (30) -> everyone within reach is seated; d (40) is not
    assert c["assigned"].tolist() == pytest.approx([10, 20, 30, 0])
    assert c["unassigned"].tolist() == pytest.approx([0, 0, 0, 40])
    assert g.totals["split_cells"] == 1
    # catchments: nearest school within 1000: a, b -> S1 ; c -> S2 (S1 is 1200 away)
    k = g.catchments
    assert k.loc["S1", "children"] == 30 and k.loc["S2", "children"] == 30
    assert k.loc["S1", "shortfall"] == 5 and k.loc["S2", "shortfall"] == -30
    assert k.loc["S1", "seats_per_child"] == pytest.approx(25 / 30)
    # districts: west has a, b, c (60 children) and S1 (25 seats); east d (40) and S2 (60)
    d = g.districts
    assert d.loc["west", "children"] == 60 and d.loc["west", "seats"] == 25
    assert d.loc["west", "shortfall"] == 35 and d.loc["east", "shortfall"] == -20
    assert d.loc["east", "beyond_threshold"] == 40 and d.loc["east", "unassigned"] == 40
    # totals reconcile in every table: children = assigned + unassigned
    for t in (c, k, d):
        assert np.allclose(t["children"], t["assigned"] + t["unassigned"])
    assert g.totals["children"] == g.totals["assigned"] + g.totals["unassigned"] == 100
    assert k["children"].sum() + g.totals["beyond_threshold"] == g.totals["children"]
    # seats conserved by the per-cell table (2SFCA): all reached seats
    assert c["seats"].sum() == pytest.approx(85.0)


def test_without_assignment_and_with_mappings():
    g = seat_gaps(COSTS, CELLS["children"], SCHOOLS["seats"], threshold=1000, assign=False,
                  cell_district=pd.Series({"a": "w", "b": "w", "c": "w", "d": "e"}),
                  school_district=pd.Series({"S1": "w", "S2": "e"}))
    assert g.assignment is None and g.cells["assigned"].isna().all()
    assert g.districts.loc["w", "children"] == 60
