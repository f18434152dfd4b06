"""Accessibility measures: hand-computed cases and PySAL ``access`` on the same cost tables."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree

from geoequity import InputError
from geoequity.access import (
    accessibility,
    balanced_fca,
    cumulative,
    enhanced_two_stage_fca,
    fair_share,
    gravity,
    nearest,
    supply_ratio,
    two_stage_fca,
)

# ----------------------------------------------------------------------------------------------
# a small hand-computed case
#   cells a (10 children), b (20), c (30), d (40, reaches nothing)
#   schools S1 (100 seats), S2 (60 seats), S3 (50 seats, reached by nobody within 10)
#   a-S1 2, a-S2 8, b-S1 5, c-S2 10, c-S1 12 (beyond threshold 10), d-S3 30 (beyond)
# ----------------------------------------------------------------------------------------------
COSTS = pd.DataFrame({
    "origin": ["a", "a", "b", "c", "c", "d"],
    "destination": ["S1", "S2", "S1", "S2", "S1", "S3"],
    "cost": [2.0, 8.0, 5.0, 10.0, 12.0, 30.0],
})
DEMAND = pd.Series({"a": 10.0, "b": 20.0, "c": 30.0, "d": 40.0})
SUPPLY = pd.Series({"S1": 100.0, "S2": 60.0, "S3": 50.0})


def test_two_stage_fca_by_hand():
    # R_S1 = 100 / (10 + 20) ; R_S2 = 60 / (10 + 30)
    r1, r2 = 100 / 30, 60 / 40
    a = two_stage_fca(COSTS, DEMAND, SUPPLY, 10)
    assert a["a"] == pytest.approx(r1 + r2, rel=1e-12)
    assert a["b"] == pytest.approx(r1, rel=1e-12)
    assert a["c"] == pytest.approx(r2, rel=1e-12)
    assert np.isnan(a["d"])  # no school within 10: no access, not 0
    assert a.attrs["no_access"] == 1 and a.attrs["no_access_children"] == 40.0
    assert list(a.index) == list(DEMAND.index)
    # total seats conserved: child-weighted sum = seats of the schools any child reaches
    assert (a * DEMAND).sum() == pytest.approx(160.0, rel=1e-12)


def test_cumulative_and_nearest_by_hand():
    c = cumulative(COSTS, SUPPLY, 10, demand=DEMAND)
    assert c.to_dict() == pytest.approx({"a": 160.0, "b": 100.0, "c": 60.0, "d": np.nan},
                                        nan_ok=True)
    n = nearest(COSTS, DEMAND)
    assert n["nearest_id"].tolist()[:3] == ["S1", "S1", "S2"]
    assert n["nearest_id"].iloc[3] == "S3"
    assert n["nearest_cost"].tolist() == [2.0, 5.0, 10.0, 30.0]
    n10 = nearest(COSTS, DEMAND, threshold=10)
    assert pd.isna(n10.loc["d", "nearest_id"]) and np.isnan(n10.loc["d", "nearest_cost"])


def test_nearest_ties_are_deterministic():
    costs = pd.DataFrame({"origin": ["x", "x", "x"], "destination": [7, 3, 5],
                          "cost": [4.0, 4.0, 9.0]})
    assert nearest(costs, ["x"])["nearest_id"].iloc[0] == 3
    assert nearest(costs.iloc[::-1], ["x"])["nearest_id"].iloc[0] == 3


def test_e2sfca_step_by_hand():
    # zones: cost <= 5 -> 1, <= 10 -> 0.5
    w = {("a", "S1"): 1.0, ("a", "S2"): 0.5, ("b", "S1"): 1.0, ("c", "S2"): 0.5}
    r1 = 100 / (10 * 1 + 20 * 1)
    r2 = 60 / (10 * 0.5 + 30 * 0.5)
    a = enhanced_two_stage_fca(COSTS, DEMAND, SUPPLY, decay="step", decay_param="5:1,10:0.5")
    assert a["a"] == pytest.approx(w["a", "S1"] * r1 + w["a", "S2"] * r2, rel=1e-12)
    assert a["c"] == pytest.approx(0.5 * r2, rel=1e-12)
    assert np.isnan(a["d"])


def test_bfca_by_hand_and_conservation():
    # binary weights: a splits over S1, S2; b, c single.
    # served S1 = 10/2 + 20 = 25, served S2 = 10/2 + 30 = 35 (each child counted once)
    l1, l2 = 100 / 25, 60 / 35
    a = balanced_fca(COSTS, DEMAND, SUPPLY, 10)
    assert a["a"] == pytest.approx(l1 / 2 + l2 / 2, rel=1e-12)
    assert a["b"] == pytest.approx(l1 / 2, rel=1e-12)
    assert a["c"] == pytest.approx(l2 / 2, rel=1e-12)
    assert a.sum() == pytest.approx(l1 + l2, rel=1e-12)  # level of service preserved


def test_supply_ratio_and_gravity_by_hand():
    sr = supply_ratio(COSTS, DEMAND, SUPPLY, 10)
    assert sr.loc["S1", "children"] == 30.0 and sr.loc["S2", "children"] == 40.0
    assert sr.loc["S1", "seats_per_child"] == pytest.approx(100 / 30)
    assert np.isnan(sr.loc["S3", "seats_per_child"])
    assert sr.loc["S2", "children_per_seat"] == pytest.approx(40 / 60)
    g = gravity(COSTS, SUPPLY, demand=DEMAND, decay="power", decay_param=2)
    assert g["a"] == pytest.approx(100 / 4 + 60 / 64)
    assert g["d"] == pytest.approx(50 / 900)


def test_normalised_scores_are_a_gap_index():
    a = accessibility(COSTS, DEMAND, SUPPLY, method="2sfca", threshold=10, normalize=True)
    fair = (100 + 60 + 50) / 100  # study-area seats per child
    assert fair_share(DEMAND, SUPPLY) == pytest.approx(fair)
    assert a["b"] == pytest.approx((100 / 30) / fair)
    assert np.isnan(a["d"])


def test_dispatcher_names_and_errors():
    for m in ("nearest", "cumulative", "2sfca", "e2sfca", "bfca", "gravity"):
        s = accessibility(COSTS, DEMAND, SUPPLY, method=m, threshold=10)
        assert list(s.index) == list(DEMAND.index) and s.name == "access"
    with pytest.raises(InputError, match="unknown method"):
        accessibility(COSTS, DEMAND, SUPPLY, method="3sfca", threshold=10)
    with pytest.raises(InputError, match="threshold"):
        two_stage_fca(COSTS, DEMAND, SUPPLY, None)
    with pytest.raises(InputError, match="duplicate"):
        two_stage_fca(COSTS, pd.Series([1.0, 2.0], index=["a", "a"]), SUPPLY, 10)


def test_duplicate_pairs_keep_lowest_cost():
    dup = pd.concat([COSTS, pd.DataFrame({"origin": ["c"], "destination": ["S1"],
                                          "cost": [3.0]})], ignore_index=True)
    a = two_stage_fca(dup, DEMAND, SUPPLY, 10)
    # c now reaches S1 at cost 3 (the duplicate's lower cost)
    assert a["c"] == pytest.approx(100 / 60 + 60 / 40)


# ----------------------------------------------------------------------------------------------
# PySAL access on the same inputs
# ----------------------------------------------------------------------------------------------

def _pysal(costs, demand, supply):
    from access import Access

    dem = pd.DataFrame({"id": demand.index, "children": demand.to_numpy()})
    sup = pd.DataFrame({"id": supply.index, "seats": supply.to_numpy()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Access(demand_df=dem, demand_index="id", demand_value="children",
                      supply_df=sup, supply_index="id", supply_value="seats",
                      cost_df=costs.copy(), cost_origin="origin", cost_dest="destination",
                      cost_name="cost")


def _compare(ours: pd.Series, ref: pd.Series):
    ref = ref.reindex(ours.index)
    both = ours.notna() & ref.notna() & np.isfinite(ref)
    assert (ours.isna() == ref.isna()).all()
    assert both.sum() > 0
    np.testing.assert_allclose(ours[both].to_numpy(), ref[both].to_numpy(), rtol=1e-9)


def _random_case(seed=3, n=400, m=25, size=6000.0, cutoff=2500.0):
    rng = np.random.default_rng(seed)
    cells = rng.uniform(0, size, (n, 2))
    schools = rng.uniform(0, size, (m, 2))
    dm = cKDTree(cells).sparse_distance_matrix(cKDTree(schools), cutoff, output_type="coo_matrix")
    costs = pd.DataFrame({"origin": [f"c{i}" for i in dm.row], "destination": dm.col,
                          "cost": dm.data})
    demand = pd.Series(rng.integers(0, 80, n).astype(float), index=[f"c{i}" for i in range(n)])
    supply = pd.Series(rng.integers(100, 900, m).astype(float))
    return costs, demand, supply


def _fca_matches_pysal(costs, demand, supply, t):
    """2SFCA and Gaussian E2SFCA (S = 700) against PySAL on one table; returns PySAL's Access."""
    from access import weights

    ref = _pysal(costs, demand, supply)
    _compare(two_stage_fca(costs, demand, supply, t),
             ref.two_stage_fca(name="t", max_cost=t)["t_seats"])
    _compare(enhanced_two_stage_fca(costs, demand, supply, t, decay="gaussian",
                                    decay_param=700),
             ref.enhanced_two_stage_fca(name="e", max_cost=t,
                                        weight_fn=weights.gaussian(700))["e_seats"])
    return ref


def test_matches_pysal_access_synthetic():
    from access import weights

    costs, demand, supply = _random_case()
    ref = _fca_matches_pysal(costs, demand, supply, 1800.0)
    t = 1800.0
    _compare(enhanced_two_stage_fca(costs, demand, supply, decay="step",
                                    decay_param="600:1,1200:0.68,1800:0.22"),
             ref.enhanced_two_stage_fca(name="s", max_cost=1800, weight_fn=weights.step_fn(
                 {600: 1, 1200: 0.68, 1800: 0.22}))["s_seats"])
    _compare(cumulative(costs, supply, t, demand=demand),
             ref.weighted_catchment(name="w", max_cost=t)["w_seats"])
    _compare(gravity(costs, supply, demand=demand, decay="power", decay_param="1.5:100",
                     threshold=t),
             ref.weighted_catchment(name="g", max_cost=t, weight_fn=weights.gravity(
                 scale=100, alpha=-1.5, min_dist=100))["g_seats"])


def test_matches_pysal_on_porto_alegre(shared_data):
    """Real cells and schools of Porto Alegre (r5r hexgrid), straight-line costs in metres.

    Children are taken as 20 % of the hexagon's population and every school as 400 seats
    (the data have neither: documented assumption).
    """
    from access import weights
    from pyproj import Transformer

    grid = pd.read_csv(shared_data / "porto_alegre" / "poa_hexgrid.csv")
    x, y = Transformer.from_crs(4326, 32722, always_xy=True).transform(grid.lon, grid.lat)
    xy = np.column_stack([x, y])
    demand = pd.Series(grid["population"].to_numpy() * 0.2, index=grid["id"].astype(str))
    has = grid["schools"].to_numpy() > 0
    supply = pd.Series(grid["schools"].to_numpy()[has] * 400.0,
                       index=grid["id"].astype(str)[has].to_numpy() + "_school")
    dm = cKDTree(xy).sparse_distance_matrix(cKDTree(xy[has]), 2000, output_type="coo_matrix")
    costs = pd.DataFrame({"origin": demand.index.to_numpy()[dm.row],
                          "destination": supply.index.to_numpy()[dm.col], "cost": dm.data})
    ref = _pysal(costs, demand, supply)
    t = 1000.0
    a = two_stage_fca(costs, demand, supply, t)
    _compare(a, ref.two_stage_fca(name="t", max_cost=t)["t_seats"])
    _compare(enhanced_two_stage_fca(costs, demand, supply, 2000, decay="gaussian",
                                    decay_param=800),
             ref.enhanced_two_stage_fca(name="e", max_cost=2000,
                                        weight_fn=weights.gaussian(800))["e_seats"])
    _compare(cumulative(costs, supply, t, demand=demand),
             ref.weighted_catchment(name="w", max_cost=t)["w_seats"])
    # seats conserved: children-weighted 2SFCA = seats of schools with a child within 1 km
    within = costs[costs.cost <= t]
    reached = within[within.origin.map(demand) > 0].destination.unique()
    assert (a * demand).sum() == pytest.approx(supply[reached].sum(), rel=1e-9)
    assert a.isna().sum() > 0  # real gaps exist at 1 km: reported, not zero


def test_empty_cost_table_means_no_access_everywhere():
    empty = pd.DataFrame({"origin": pd.Series([], dtype=str),
                          "destination": pd.Series([], dtype=str),
                          "cost": pd.Series([], dtype=float)})
    for m in ("cumulative", "2sfca", "e2sfca", "bfca", "gravity", "nearest"):
        assert accessibility(empty, DEMAND, SUPPLY, method=m, threshold=10).isna().all()
    n = nearest(empty, DEMAND)
    assert n["nearest_id"].isna().all() and n["nearest_cost"].isna().all()


# ----------------------------------------------------------------------------------------------
# integer ids take the fused compiled pass (geoequity._fca_kernel); same hand values and PySAL
# ----------------------------------------------------------------------------------------------

_INT_O = {"a": 101, "b": 102, "c": 103, "d": 104}
_INT_S = {"S1": 7, "S2": 8, "S3": 9}


def _int_case():
    costs = COSTS.assign(origin=COSTS.origin.map(_INT_O), destination=COSTS.destination.map(
        _INT_S))
    return (costs, DEMAND.rename(index=_INT_O), SUPPLY.rename(index=_INT_S))


@pytest.fixture
def fused_calls(monkeypatch):
    """Count the runs of the fused pass that returned a result (not a fallback)."""
    from geoequity import _fca_kernel

    calls = []
    real = _fca_kernel.fca

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(_fca_kernel, "fca", spy)
    return calls


def test_fused_pass_by_hand_with_integer_ids(fused_calls):
    from geoequity._fca_kernel import HAVE_NUMBA

    costs, demand, supply = _int_case()
    a = two_stage_fca(costs, demand, supply, 10)
    assert fused_calls == [HAVE_NUMBA]
    r1, r2 = 100 / 30, 60 / 40
    assert a[101] == pytest.approx(r1 + r2, rel=1e-12)
    assert a[102] == pytest.approx(r1, rel=1e-12) and a[103] == pytest.approx(r2, rel=1e-12)
    assert np.isnan(a[104]) and a.attrs["no_access_children"] == 40.0
    # E2SFCA with step zones, by hand: w(2)=1, w(5)=1, w(8)=0.5, w(10)=0.5
    e = enhanced_two_stage_fca(costs, demand, supply, decay="step", decay_param="5:1,10:0.5")
    q1, q2 = 100 / (10 + 20), 60 / (10 * 0.5 + 30 * 0.5)
    assert e[101] == pytest.approx(q1 + 0.5 * q2, rel=1e-12)
    assert e[103] == pytest.approx(0.5 * q2, rel=1e-12)


def test_fused_pass_falls_back_on_duplicates_and_reports_bad_rows(fused_calls):
    costs, demand, supply = _int_case()
    dup = pd.concat([costs, pd.DataFrame({"origin": [103, 101], "destination": [7, 7],
                                          "cost": [3.0, 2.5]})], ignore_index=True)
    a = two_stage_fca(dup, demand, supply, 10)
    assert a[103] == pytest.approx(100 / 60 + 60 / 40)  # lowest cost of the pair kept
    assert a[101] == pytest.approx(100 / 60 + 60 / 40)  # a's duplicate counted once
    stray = pd.concat([costs, pd.DataFrame({"origin": [999, 101], "destination": [7, 55],
                                            "cost": [1.0, 1.0]})], ignore_index=True)
    b = two_stage_fca(stray, demand, supply, 10)
    assert b[101] == pytest.approx(100 / 30 + 60 / 40)  # unknown ids ignored, not counted
    bad = costs.astype({"cost": float})
    bad.loc[2, "cost"] = np.nan
    with pytest.raises(InputError, match="missing"):
        two_stage_fca(bad, demand, supply, 10)
    assert fused_calls[0] is False  # the duplicate sent it to the NumPy path


@pytest.mark.parametrize("numba", [True, False])
def test_integer_ids_match_pysal_with_and_without_numba(numba, monkeypatch):
    from geoequity import _fca_kernel

    if not numba:
        monkeypatch.setattr(_fca_kernel, "HAVE_NUMBA", False)
    costs, demand, supply = _random_case(seed=5)
    # sparse integer ids with gaps, in no particular order
    o_ids = {f"c{i}": 5000 + 3 * i for i in range(len(demand))}
    costs = costs.assign(origin=costs.origin.map(o_ids),
                         destination=costs.destination.astype(np.int64) + 40)
    costs = costs.sample(frac=1.0, random_state=1)
    demand = demand.rename(index=o_ids)
    supply = supply.rename(index=lambda j: j + 40)
    _fca_matches_pysal(costs, demand, supply, 1800.0)
    # a table sparse against cells x schools takes the coded-pairs form of the binary pass
    near = costs[costs.cost <= 900.0]
    assert len(demand) * len(supply) > 8 * len(near)
    ref = _pysal(near, demand, supply)
    _compare(two_stage_fca(near, demand, supply, 800.0),
             ref.two_stage_fca(name="n", max_cost=800.0)["n_seats"])
