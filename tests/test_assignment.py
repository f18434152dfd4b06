"""Capacity-constrained assignment: hand cases and networkx max_flow_min_cost as reference."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree

from geoequity import InputError
from geoequity.assignment import capacity_assignment

SOLVERS = ["highs", pytest.param("ortools", marks=pytest.mark.skipif(
    __import__("importlib").util.find_spec("ortools") is None, reason="ortools not installed"))]


@pytest.mark.parametrize("solver", SOLVERS)
def test_hand_case_seats_first_then_travel(solver):
    # school 1 (15 seats) is nearest for a, b, c; school 2 (10 seats) only reachable from a, b.
    # Max seats = 25; cheapest way: a->2 (10 x 2), b->1 (10 x 1), c->1 (5 x 1) = 35.
    costs = pd.DataFrame({"origin": ["a", "a", "b", "b", "c"],
                          "destination": [1, 2, 1, 2, 1],
                          "cost": [1.0, 2.0, 1.0, 5.0, 1.0]})
    demand = pd.Series([10.0, 20.0, 5.0, 3.0], index=["a", "b", "c", "z"])
    supply = pd.Series([15.0, 10.0], index=[1, 2])
    r = capacity_assignment(costs, demand, supply, solver=solver)
    assert r.status == "optimal"
    assert r.objective == pytest.approx(35.0)
    assert r.unassigned.to_dict() == {"a": 0.0, "b": 10.0, "c": 0.0, "z": 3.0}
    assert r.schools["assigned"].tolist() == [15.0, 10.0]
    assert r.schools["spare"].tolist() == [0.0, 0.0]
    # nearest-school demand of school 1: a, b, c = 35 children for 15 seats -> overflow 20
    assert r.schools.loc[1, "nearest_demand"] == 35.0
    assert r.schools.loc[1, "overflow"] == 20.0
    assert r.origins.loc["z", "n_schools"] == 0 and pd.isna(r.origins.loc["z", "school"])
    # totals reconcile
    o = r.origins
    assert np.allclose(o["children"], o["assigned"] + o["unassigned"])
    assert r.totals["children"] == r.totals["assigned"] + r.totals["unassigned"] == 38.0


def test_split_cell_is_reported():
    costs = pd.DataFrame({"origin": ["a", "a"], "destination": ["s1", "s2"],
                          "cost": [100.0, 300.0]})
    r = capacity_assignment(costs, pd.Series({"a": 30.0}), pd.Series({"s1": 20.0, "s2": 20.0}))
    assert r.split_origins == 1
    assert r.flows.set_index("destination")["children"].to_dict() == {"s1": 20.0, "s2": 10.0}
    assert r.origins.loc["a", "school"] == "s1"
    assert r.origins.loc["a", "mean_cost"] == pytest.approx((20 * 100 + 10 * 300) / 30)
    assert r.objective == pytest.approx(5000.0)


@pytest.mark.parametrize("solver", SOLVERS)
def test_max_cost_and_unassigned_cost(solver):
    costs = pd.DataFrame({"origin": ["a", "b"], "destination": ["s", "s"],
                          "cost": [100.0, 900.0]})
    dem = pd.Series({"a": 5.0, "b": 5.0})
    sup = pd.Series({"s": 100.0})
    r = capacity_assignment(costs, dem, sup, max_cost=500, solver=solver)
    assert r.unassigned.to_dict() == {"a": 0.0, "b": 5.0}
    # a child without a seat "costs" 500 here, so the 900-cost pair is never worth using
    r2 = capacity_assignment(costs, dem, sup, unassigned_cost=500, solver=solver)
    assert r2.unassigned.to_dict() == {"a": 0.0, "b": 5.0}


def _nx_reference(costs, demand, supply):
    g = nx.DiGraph()
    for o, v in demand.items():
        g.add_edge("SRC", ("o", o), capacity=int(v), weight=0)
    for s, v in supply.items():
        g.add_edge(("s", s), "SNK", capacity=int(v), weight=0)
    for o, d, c in costs.itertuples(index=False):
        g.add_edge(("o", o), ("s", d), capacity=int(demand[o]), weight=int(c))
    flow = nx.max_flow_min_cost(g, "SRC", "SNK")
    total = sum(flow["SRC"].values())
    cost = nx.cost_of_flow(g, flow)
    return total, cost


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_networkx_max_flow_min_cost(seed, solver):
    rng = np.random.default_rng(seed)
    cells = rng.uniform(0, 5000, size=(150, 2))
    schools = rng.uniform(0, 5000, size=(12, 2))
    tree = cKDTree(schools)
    dist, idx = tree.query(cells, k=12, distance_upper_bound=1500)
    rows = [(i, int(j), float(np.round(dd))) for i in range(len(cells))
            for dd, j in zip(dist[i], idx[i], strict=True) if np.isfinite(dd)]
    costs = pd.DataFrame(rows, columns=["origin", "destination", "cost"])
    demand = pd.Series(rng.integers(0, 60, len(cells)).astype(float))
    supply = pd.Series(rng.integers(50, 400, len(schools)).astype(float))
    r = capacity_assignment(costs, demand, supply, solver=solver)
    total, cost = _nx_reference(costs, demand, supply)
    assert r.totals["assigned"] == pytest.approx(total, rel=1e-9)
    assert r.objective == pytest.approx(cost, rel=1e-9)
    assert (r.schools["assigned"] <= r.schools["seats"] + 1e-6).all()
    assert np.allclose(r.origins["children"], r.origins["assigned"] + r.origins["unassigned"])
    # flows only on pairs of the table
    pairs = set(zip(costs.origin, costs.destination, strict=True))
    assert set(zip(r.flows.origin, r.flows.destination, strict=True)) <= pairs


def test_bad_inputs_raise_input_error():
    costs = pd.DataFrame({"origin": ["a"], "destination": ["s"], "cost": [1.0]})
    with pytest.raises(InputError, match="negative"):
        capacity_assignment(costs, pd.Series({"a": -1.0}), pd.Series({"s": 1.0}))
    with pytest.raises(InputError, match="lacks column"):
        capacity_assignment(costs.rename(columns={"cost": "t"}), pd.Series({"a": 1.0}),
                            pd.Series({"s": 1.0}))
    with pytest.raises(InputError, match="missing"):
        capacity_assignment(costs, pd.Series({"a": np.nan}), pd.Series({"s": 1.0}))


@pytest.mark.skipif(__import__("importlib").util.find_spec("ortools") is None,
                    reason="ortools not installed")
def test_fractional_children_ortools_agrees_with_highs_lp():
    rng = np.random.default_rng(7)
    n, m = 120, 10
    rows = [(i, j, float(c)) for i in range(n) for j in range(m)
            if (c := rng.uniform(100, 3000)) < 1500]
    costs = pd.DataFrame(rows, columns=["origin", "destination", "cost"])
    demand = pd.Series(rng.uniform(0, 30, n))
    supply = pd.Series(rng.uniform(50, 250, m))
    a = capacity_assignment(costs, demand, supply, solver="highs")
    b = capacity_assignment(costs, demand, supply, solver="ortools")
    assert b.totals["assigned"] == pytest.approx(a.totals["assigned"], abs=n * 1e-3)
    assert b.objective == pytest.approx(a.objective, rel=1e-4)


def test_porto_alegre_matches_networkx(shared_data):
    """Real Porto Alegre cells and schools (r5r hexgrid), straight-line metres within 1 km.

    Children = round(20 % of population), 250 seats per school (the data have neither).
    """
    from pyproj import Transformer

    grid = pd.read_csv(shared_data / "porto_alegre" / "poa_hexgrid.csv")
    x, y = Transformer.from_crs(4326, 32722, always_xy=True).transform(grid.lon, grid.lat)
    xy = np.column_stack([x, y])
    demand = pd.Series(np.round(grid["population"].to_numpy() * 0.2), index=grid["id"])
    has = grid["schools"].to_numpy() > 0
    supply = pd.Series(grid["schools"].to_numpy()[has] * 250.0,
                       index=grid["id"].to_numpy()[has] + "_s")
    dm = cKDTree(xy).sparse_distance_matrix(cKDTree(xy[has]), 1000, output_type="coo_matrix")
    costs = pd.DataFrame({"origin": demand.index.to_numpy()[dm.row],
                          "destination": supply.index.to_numpy()[dm.col],
                          "cost": np.round(dm.data)})
    total, cost = _nx_reference(costs, demand, supply)
    have_ortools = __import__("importlib").util.find_spec("ortools") is not None
    for solver in ("highs", "ortools") if have_ortools else ("highs",):
        r = capacity_assignment(costs, demand, supply, solver=solver)
        assert r.totals["assigned"] == pytest.approx(total, rel=1e-9)
        assert r.objective == pytest.approx(cost, rel=1e-9)
        assert r.totals["children"] == pytest.approx(r.totals["assigned"]
                                                     + r.totals["unassigned"])


def _crowded(seed, *, rounded):
    """A crowded instance (3000 cells, 40 schools, most cells compete for seats) with cell ids
    out of spatial order; costs are metres, rounded to whole ones or not."""
    rng = np.random.default_rng(seed)
    n, m = 3000, 40
    cells = rng.uniform(0, 10_000, size=(n, 2))
    schools = rng.uniform(0, 10_000, size=(m, 2))
    dist, idx = cKDTree(schools).query(cells, k=6, distance_upper_bound=2500)
    if rounded:
        dist = np.round(dist)
    ids = rng.permutation(n) + 1000
    rows = [(int(ids[i]), int(j), float(dd)) for i in range(n)
            for dd, j in zip(dist[i], idx[i], strict=True) if np.isfinite(dd)]
    costs = pd.DataFrame(rows, columns=["origin", "destination", "cost"])
    demand = pd.Series(rng.integers(0, 12, n).astype(float), index=ids)
    supply = pd.Series(rng.integers(100, 600, m).astype(float))
    return cells, schools, costs, demand, supply


@pytest.mark.skipif(__import__("importlib").util.find_spec("ortools") is None,
                    reason="ortools not installed")
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_cells_numbered_by_nearest_school_same_optimum_as_highs(seed):
    # the OR-tools path numbers cell nodes by nearest school (issue #14 speed-up): the
    # optimum must stay HiGHS' on crowded instances where most cells compete for seats,
    # with cell ids that are not in spatial order
    _, _, costs, demand, supply = _crowded(seed, rounded=True)
    a = capacity_assignment(costs, demand, supply, solver="highs")
    b = capacity_assignment(costs, demand, supply, solver="ortools")
    assert a.totals["unassigned"] > 0   # crowded: the capacities bind
    assert b.totals["assigned"] == a.totals["assigned"]
    assert b.objective == pytest.approx(a.objective, rel=1e-9)
    assert (b.schools["assigned"] <= b.schools["seats"]).all()


@pytest.mark.skipif(__import__("importlib").util.find_spec("ortools") is None,
                    reason="ortools not installed")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nodes_numbered_along_a_hilbert_curve_same_optimum_as_highs(seed):
    # analyse numbers the solver's cell and school nodes by Hilbert keys of their points
    # (issue #14 speed-up): the optimum must stay HiGHS' on crowded instances, with ids in
    # random order and real-valued costs
    from geoequity._hilbert import hilbert_keys

    cells, schools, costs, demand, supply = _crowded(seed, rounded=False)
    n = len(cells)
    keys = hilbert_keys(np.r_[cells[:, 0], schools[:, 0]], np.r_[cells[:, 1], schools[:, 1]])
    a = capacity_assignment(costs, demand, supply, solver="highs")
    b = capacity_assignment(costs, demand, supply, solver="ortools",
                            locality=(keys[:n], keys[n:]))
    assert a.totals["unassigned"] > 0   # crowded: the capacities bind
    assert b.totals["assigned"] == a.totals["assigned"]
    assert b.objective == pytest.approx(a.objective, rel=1e-9)
    assert (b.schools["assigned"] <= b.schools["seats"]).all()
    # real-valued costs: the optimum is unique, so the seats per cell are HiGHS' too
    assert np.array_equal(b.unassigned.to_numpy(), a.unassigned.to_numpy())
