"""The decomposed assignment: hand cases, and random cases against networkx's exact
max_flow_min_cost (an independent reference): lower bound <= exact <= decomposed."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree

import geoequity as ge
from geoequity.assignment_decomposed import (
    assign, decomposed_assignment, part_rounds, unassigned_lower_bound)


def _costs(rows):
    return pd.DataFrame(rows, columns=["origin", "destination", "cost"])


def test_border_school_shared_needs_the_repair():
    """a (part A, round 0) reaches S (cost 1) and U (cost 5); b (part B) reaches only S.
    Part A first takes S for a; part B then finds S full: 10 children unseated by the rounds.
    The border pass re-solves a and b together (both reach S): a -> U, b -> S: 0 unseated,
    travel 10 x 5 + 10 x 1 = 60."""
    costs = _costs([("a", "S", 1.0), ("a", "U", 5.0), ("b", "S", 1.0)])
    dem = pd.Series({"a": 10.0, "b": 10.0})
    sup = pd.Series({"S": 10.0, "U": 10.0})
    res, rep = decomposed_assignment(costs, dem, sup, ["A", "B"], repair=False)
    assert rep.rounds == 2 and rep.parts == 2
    assert res.unassigned.to_dict() == {"a": 0.0, "b": 10.0}
    assert rep.lower_bound == 0.0 and rep.bound == "max flow" and rep.gap == 10.0
    res, rep = decomposed_assignment(costs, dem, sup, ["A", "B"], compare_exact=True)
    assert res.unassigned.to_dict() == {"a": 0.0, "b": 0.0}
    assert rep.repaired == 10.0 and rep.gap == 0.0
    assert rep.cost == 60.0 and rep.exact_cost == 60.0 and rep.cost_gap == 0.0
    assert set(map(tuple, res.flows[["origin", "destination"]].to_numpy())) == {
        ("a", "U"), ("b", "S")}


def test_chain_across_four_parts_needs_the_augmenting_paths():
    """Schools S0..S3 of 1 seat, cells a..d of 1 child in parts A..D; a reaches S0 (5) and
    S1 (1), b S1 (5) and S2 (1), c S2 (5) and S3 (1), d only S3 (1). Rounds: A and C first
    (a -> S1, c -> S3), then B and D (b -> S2; d finds S3 full). No two parts re-solved
    together seat d (each pair's band is already seated, or d's only school is held), but the
    chain d -> S3, c -> S2, b -> S1, a -> S0 seats everyone: travel 1 + 5 + 5 + 5 = 16, the
    exact optimum too."""
    costs = _costs([("a", "S0", 5.0), ("a", "S1", 1.0), ("b", "S1", 5.0), ("b", "S2", 1.0),
                    ("c", "S2", 5.0), ("c", "S3", 1.0), ("d", "S3", 1.0)])
    dem = pd.Series(1.0, index=list("abcd"))
    sup = pd.Series(1.0, index=["S0", "S1", "S2", "S3"])
    parts = list("ABCD")
    res, rep = decomposed_assignment(costs, dem, sup, parts, repair=False)
    assert rep.rounds == 2 and rep.unassigned == 1.0 and rep.lower_bound == 0.0
    assert res.unassigned.to_dict() == {"a": 0.0, "b": 0.0, "c": 0.0, "d": 1.0}
    res, rep = decomposed_assignment(costs, dem, sup, parts, compare_exact=True)
    assert rep.unassigned == 0.0 and rep.gap == 0.0 and rep.repaired == 1.0
    assert rep.cost == 16.0 and rep.exact_cost == 16.0
    assert dict(zip(res.flows["origin"], res.flows["destination"], strict=True)) == {
        "a": "S0", "b": "S1", "c": "S2", "d": "S3"}


def test_border_school_shared_costs_more_than_exact():
    """a (part A) and b (part B) both reach S (cost 1 each) and their own school (a: U at 2,
    b: V at 9); S has 10 seats, 10 children each. Rounds: A takes S, so b goes to V:
    travel 10 x 1 + 10 x 9 = 100; the exact optimum sends b to S, a to U: 10 x 2 + 10 x 1 =
    30. All seated either way: without the border pass the cost gap is 70; the border pass
    re-solves a and b (both reach the shared S) together and finds the 30."""
    costs = _costs([("a", "S", 1.0), ("a", "U", 2.0), ("b", "S", 1.0), ("b", "V", 9.0)])
    dem = pd.Series({"a": 10.0, "b": 10.0})
    sup = pd.Series({"S": 10.0, "U": 10.0, "V": 10.0})
    res, rep = decomposed_assignment(costs, dem, sup, ["A", "B"], compare_exact=True,
                                     repair=False)
    assert rep.unassigned == 0.0 and rep.exact_unassigned == 0.0
    assert rep.cost == 100.0 and rep.exact_cost == 30.0 and rep.cost_gap == 70.0
    assert res.schools["assigned"].to_dict() == {"S": 10.0, "U": 0.0, "V": 10.0}
    res, rep = decomposed_assignment(costs, dem, sup, ["A", "B"], compare_exact=True)
    assert rep.cost == 30.0 and rep.cost_gap == 0.0
    assert res.schools["assigned"].to_dict() == {"S": 10.0, "U": 10.0, "V": 0.0}
    # a border too large for the limit (4 pairs > 3) is left as the rounds gave it
    res, rep = decomposed_assignment(costs, dem, sup, ["A", "B"], compare_exact=True,
                                     repair_limit=3)
    assert rep.cost == 100.0 and rep.cost_gap == 70.0


def test_rounds_by_shared_schools():
    """Parts 0-1 share school 5, parts 1-2 share 6, part 3 is alone: 0 and 2 and 3 in round
    0, part 1 in round 1."""
    part = np.array([0, 0, 1, 1, 2, 3])
    school = np.array([4, 5, 5, 6, 6, 7])
    assert part_rounds(part, school, 4) == {0: 0, 1: 1, 2: 0, 3: 0}


def test_lower_bound_hand_case():
    """Cells of 10, 10, 10 children; a and b reach only S (12 seats), c reaches T (4 seats):
    at most 12 + 4 = 16 seated, so at least 14 unseated. The per-part relaxation of parts
    {a}, {b, c}: a alone 10, b and c alone 10 + 4: 24 seated at most, capped by the seats
    within reach (16): the same bound here."""
    oi, dj = np.array([0, 1, 2]), np.array([0, 0, 1])
    d, s = np.array([10.0, 10.0, 10.0]), np.array([12.0, 4.0])
    assert unassigned_lower_bound(oi, dj, d, s) == (14.0, "max flow")
    assert unassigned_lower_bound(oi, dj, d, s, parts=np.array([0, 1, 1]), limit=0) == (
        14.0, "per-part relaxation")
    # with more seats than the relaxations: parts {a}, {b}, {c} give 10 + 10 + 4 = 24 at
    # most of S's 30 and T's 4 seats: 30 - 24 = 6, while the max flow seats 24 too
    s2 = np.array([30.0, 4.0])
    assert unassigned_lower_bound(oi, dj, d, s2, parts=np.array([0, 1, 2]), limit=0) == (
        6.0, "per-part relaxation")


def _nx_exact(costs, demand, supply):
    """Seated children and travel of networkx's exact max-flow-min-cost (integer data)."""
    g = nx.DiGraph()
    for o, v in demand.items():
        g.add_edge("SRC", ("o", o), capacity=int(v), weight=0)
    for j, v in supply.items():
        g.add_edge(("s", j), "SNK", capacity=int(v), weight=0)
    for o, j, c in costs.itertuples(index=False):
        g.add_edge(("o", o), ("s", j), capacity=int(demand[o]), weight=int(c))
    flow = nx.max_flow_min_cost(g, "SRC", "SNK")
    return sum(flow["SRC"].values()), nx.cost_of_flow(g, flow)


def _random_case(seed: int, n_cells=160, n_schools=14, reach=1400.0):
    rng = np.random.default_rng(seed)
    cells = rng.uniform(0, 6000, size=(n_cells, 2))
    schools = rng.uniform(0, 6000, size=(n_schools, 2))
    dist, idx = cKDTree(schools).query(cells, k=n_schools, distance_upper_bound=reach)
    rows = [(i, int(j), float(np.round(dd))) for i in range(n_cells)
            for dd, j in zip(dist[i], idx[i], strict=True) if np.isfinite(dd)]
    demand = pd.Series(rng.integers(0, 60, n_cells).astype(float))
    supply = pd.Series(rng.integers(30, 300, n_schools).astype(float))
    tiles = (np.floor(cells[:, 0] / 2000).astype(int) * 10
             + np.floor(cells[:, 1] / 2000).astype(int))
    return _costs(rows), demand, supply, tiles


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("repair", [False, True])
def test_random_bound_exact_decomposed(seed, repair):
    costs, demand, supply, tiles = _random_case(seed)
    seated, cost = _nx_exact(costs, demand, supply)
    exact_unassigned = float(demand.sum()) - seated
    res, rep = decomposed_assignment(costs, demand, supply, tiles, repair=repair)
    assert rep.lower_bound == pytest.approx(exact_unassigned)   # the max flow is exact
    assert rep.lower_bound <= exact_unassigned + 1e-9 <= rep.unassigned + 2e-9
    assert rep.unassigned == pytest.approx(float(res.unassigned.sum()))
    assert (res.schools["assigned"] <= res.schools["seats"] + 1e-9).all()
    assert np.allclose(res.origins["children"],
                       res.origins["assigned"] + res.origins["unassigned"])
    if repair:   # the augmenting paths seat the maximum
        assert rep.unassigned == pytest.approx(exact_unassigned)
    if rep.unassigned == pytest.approx(exact_unassigned):
        assert rep.cost >= cost - 1e-6   # seats equal: never cheaper than the optimum
    # the per-part relaxation is a valid bound too (never above the exact)
    d, s = demand.to_numpy(), supply.to_numpy()
    codes = pd.factorize(pd.Series(tiles).astype(str), sort=True)[0]
    keep = (d[costs["origin"]] > 0) & (s[costs["destination"]] > 0)
    lb, kind = unassigned_lower_bound(costs["origin"].to_numpy()[keep],
                                      costs["destination"].to_numpy()[keep], d, s,
                                      parts=codes, limit=0)
    assert kind == "per-part relaxation" and lb <= exact_unassigned + 1e-9


@pytest.mark.parametrize("seed", range(4))
def test_exact_when_parts_share_no_school(seed):
    """Parts that share no school are independent: the decomposition is the exact optimum
    (networkx), in seats and travel."""
    costs, demand, supply, _ = _random_case(200 + seed)
    # each cell's part: the component of the cells-schools graph it lies in
    g = nx.Graph()
    g.add_nodes_from(("o", i) for i in demand.index)
    g.add_edges_from((("o", o), ("s", j)) for o, j in costs[["origin", "destination"]]
                     .itertuples(index=False))
    comp = {}
    for k, nodes in enumerate(nx.connected_components(g)):
        comp.update({n[1]: k for n in nodes if n[0] == "o"})
    parts = [comp[i] for i in demand.index]
    assert len(set(parts)) > 1
    seated, cost = _nx_exact(costs, demand, supply)
    res, rep = decomposed_assignment(costs, demand, supply, parts, repair=False)
    assert rep.rounds == 1
    assert rep.unassigned == pytest.approx(float(demand.sum()) - seated)
    assert rep.cost == pytest.approx(cost)


def test_auto_is_exact_within_the_limit_and_decomposed_above():
    costs, demand, supply, tiles = _random_case(7)
    seated, cost = _nx_exact(costs, demand, supply)
    res, rep = assign(costs, demand, supply, mode="auto", parts=tiles)
    assert rep.mode == "exact" and rep.bound == "exact optimum"
    assert rep.unassigned == pytest.approx(float(demand.sum()) - seated)
    assert rep.cost == pytest.approx(cost)
    called = []
    res, rep = assign(costs, demand, supply, mode="auto", exact_limit=10,
                      parts=lambda: called.append(1) or tiles)
    assert rep.mode == "decomposed" and called == [1] and rep.exact_cost is None
    res, rep = assign(costs, demand, supply, mode="decomposed", parts=tiles)
    assert rep.exact_cost == pytest.approx(cost)   # fits: compared with the exact one


def test_bad_mode_is_one_line():
    with pytest.raises(ge.InputError, match="is not an assignment mode"):
        assign(_costs([("a", "S", 1.0)]), pd.Series({"a": 1.0}), pd.Series({"S": 1.0}),
               mode="fast")


@pytest.mark.parametrize("seed", range(3))
def test_a_cost_table_in_any_row_order(seed):
    """The rows of a cost table need not come grouped by cell: the same table reversed (its
    cells' pairs in descending order) and shuffled gives an assignment that seats the
    maximum (networkx) and, reversed, the very same flows and travel as the table grouped
    by cell (each cell's pairs keep their order)."""
    costs, demand, supply, tiles = _random_case(seed)
    seated, _ = _nx_exact(costs, demand, supply)
    ref, ref_rep = decomposed_assignment(costs, demand, supply, tiles)
    rev = costs.sort_values("origin", ascending=False, kind="stable").reset_index(drop=True)
    got, rep = decomposed_assignment(rev, demand, supply, tiles)
    assert rep.cost == ref_rep.cost and rep.repaired == ref_rep.repaired
    pd.testing.assert_series_equal(got.origins["assigned"], ref.origins["assigned"])
    shuffled = costs.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    got, rep = decomposed_assignment(shuffled, demand, supply, tiles)
    assert rep.unassigned == pytest.approx(float(demand.sum()) - seated)
    flows = got.flows.groupby("origin")["children"].sum().reindex(demand.index, fill_value=0)
    assert (flows <= demand + 1e-9).all()
