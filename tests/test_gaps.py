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
    # the assignment bounded at the threshold (its default is max_cost = 4 x threshold, the
    # scenario's rule; see tests/test_parity_costs.py)
    g = seat_gaps(COSTS, CELLS, SCHOOLS, threshold=1000, districts=DISTRICTS,
                  assignment_max_cost=1000)
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


def test_porto_alegre_tables_reconcile(shared_data):
    """Real cells and schools of Porto Alegre; districts = two halves split at a meridian."""
    from pyproj import Transformer
    from scipy.spatial import cKDTree

    grid = pd.read_csv(shared_data / "porto_alegre" / "poa_hexgrid.csv")
    x, y = Transformer.from_crs(4326, 32722, always_xy=True).transform(grid.lon, grid.lat)
    cells = gpd.GeoDataFrame({"children": grid["population"].to_numpy() * 0.2},
                             geometry=gpd.points_from_xy(x, y), crs=32722,
                             index=grid["id"].to_numpy())
    has = grid["schools"].to_numpy() > 0
    schools = gpd.GeoDataFrame({"seats": grid["schools"].to_numpy()[has] * 300.0},
                               geometry=cells.geometry.to_numpy()[has], crs=32722,
                               index=grid["id"].to_numpy()[has] + "_s")
    xy = np.column_stack([x, y])
    dm = cKDTree(xy).sparse_distance_matrix(cKDTree(xy[has]), 1500, output_type="coo_matrix")
    costs = pd.DataFrame({"origin": cells.index.to_numpy()[dm.row],
                          "destination": schools.index.to_numpy()[dm.col], "cost": dm.data})
    mid = float(np.median(x))
    b = cells.total_bounds
    districts = gpd.GeoDataFrame({"district": ["west", "east"]}, geometry=[
        shapely.box(b[0] - 10, b[1] - 10, mid, b[3] + 10),
        shapely.box(mid, b[1] - 10, b[2] + 10, b[3] + 10)], crs=32722)
    g = seat_gaps(costs, cells, schools, threshold=1000, districts=districts)
    total = cells["children"].sum()
    for t in (g.cells, g.catchments, g.districts):
        assert np.allclose(t["children"], t["assigned"] + t["unassigned"])
    assert g.districts["children"].sum() == pytest.approx(total)
    assert g.districts["seats"].sum() == pytest.approx(schools["seats"].sum())
    assert g.catchments["children"].sum() + g.totals["beyond_threshold"] == pytest.approx(total)
    # 2SFCA seats per cell add up to the seats of every school a child reaches within 1 km
    within = costs[costs.cost <= 1000]
    reached = within[within.origin.map(cells["children"]) > 0].destination.unique()
    assert g.cells["seats"].sum() == pytest.approx(schools.loc[reached, "seats"].sum())
    assert (g.cells["assigned"] <= g.cells["children"] + 1e-9).all()
