"""Inequality measures: hand-worked cases, published formulas and PySAL ``inequality``.

PySAL's Theil is unweighted, so weighted results are checked against it on the *replicated*
sample (a value with integer weight k repeated k times), which is what a weight means.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from geoequity import InputError
from geoequity.equity import (
    coefficient_of_variation,
    gini,
    inequality_summary,
    lorenz_curve,
    max_min_ratio,
    palma_ratio,
    share_above,
    share_below,
    spatial_equity,
    theil,
)

# ---------------------------------------------------------------------------------------------
# Gini and Lorenz
# ---------------------------------------------------------------------------------------------


def test_gini_hand_worked():
    # sum_i sum_j |yi - yj| = 20 over ordered pairs; 2 n^2 mu = 2 * 16 * 2.5 = 80
    assert gini([1, 2, 3, 4]) == pytest.approx(20 / 80)
    assert gini([5, 5, 5]) == 0.0
    assert gini([0, 0, 0, 10]) == pytest.approx(0.75)  # (n-1)/n when one holds everything
    assert gini([0, 0]) == 0.0


def test_gini_weights_mean_replication():
    # [1, 1, 2, 3]: ordered |diff| sum 14, 2 * 16 * 1.75 = 56
    assert gini([1, 2, 3], weights=[2, 1, 1]) == pytest.approx(14 / 56)
    # zero weight drops the value
    assert gini([1, 2, 3, 100], weights=[1, 1, 1, 0]) == pytest.approx(gini([1, 2, 3]))


def test_gini_matches_pysal_unweighted_and_replicated():
    from inequality.gini import Gini

    rng = np.random.default_rng(7)
    y = rng.lognormal(0, 0.8, 300)
    assert gini(y) == pytest.approx(Gini(y).g, rel=1e-12)
    w = rng.integers(1, 6, 300)
    assert gini(y, w) == pytest.approx(Gini(np.repeat(y, w)).g, rel=1e-12)


def test_gini_real_population_against_pysal(shared_data):
    from inequality.gini import Gini

    df = pd.read_csv(shared_data / "porto_alegre" / "poa_hexgrid.csv")
    pop = df["population"].to_numpy(float)  # 103 cells are 0: kept, they are real cells
    assert gini(pop) == pytest.approx(Gini(pop).g, rel=1e-12)
    # jobs has 5 missing values: excluded and counted
    s = inequality_summary(df["jobs"])
    assert s["n_missing"] == 5 and s["n"] == 1222
    assert s["gini"] == pytest.approx(Gini(df["jobs"].dropna().to_numpy(float)).g, rel=1e-12)


def test_lorenz_curve_points():
    lc = lorenz_curve([4, 1, 3, 2])
    assert lc["population_share"].tolist() == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    assert lc["value_share"].tolist() == pytest.approx([0, 0.1, 0.3, 0.6, 1])
    lw = lorenz_curve([1, 3], weights=[3, 1])
    assert lw["population_share"].tolist() == pytest.approx([0, 0.75, 1])
    assert lw["value_share"].tolist() == pytest.approx([0, 0.5, 1])


def test_negative_values_refused():
    with pytest.raises(InputError, match="negative"):
        gini([1, -2, 3])
    with pytest.raises(InputError, match="negative"):
        theil([1, -2, 3])
    with pytest.raises(InputError, match="weights are negative"):
        gini([1, 2], weights=[1, -1])


# ---------------------------------------------------------------------------------------------
# Theil
# ---------------------------------------------------------------------------------------------


def test_theil_hand_worked():
    # y = (1, 3), mu = 2: T = 0.5(0.5 ln 0.5) + 0.5(1.5 ln 1.5); L = 0.5 ln 2 + 0.5 ln(2/3)
    t = 0.5 * 0.5 * math.log(0.5) + 0.5 * 1.5 * math.log(1.5)
    ell = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)
    assert theil([1, 3]).total == pytest.approx(t)
    assert theil([1, 3], kind="L").total == pytest.approx(ell)
    assert theil([0, 2]).total == pytest.approx(math.log(2))  # 0 ln 0 = 0
    assert theil([0, 2], kind="L").total == math.inf


def test_theil_weighted_decomposition_by_hand():
    # group A: values 1, 3 (weights 1, 1); group B: value 4 (weight 2). W = 4, mu = 3
    y, w, g = [1, 3, 4], [1, 1, 2], ["A", "A", "B"]
    mu, s_a, s_b, mu_a, mu_b = 3.0, 0.5, 0.5, 2.0, 4.0
    t_a = 0.5 * 0.5 * math.log(0.5) + 0.5 * 1.5 * math.log(1.5)  # Theil T inside A
    between = s_a * mu_a / mu * math.log(mu_a / mu) + s_b * mu_b / mu * math.log(mu_b / mu)
    within = s_a * mu_a / mu * t_a + 0.0
    total = 0.25 * (1 / 3) * math.log(1 / 3) + 0.25 * 1 * math.log(1) + 0.5 * (4 / 3) * math.log(
        4 / 3)
    r = theil(y, w, g)
    assert r.total == pytest.approx(total)
    assert r.between == pytest.approx(between)
    assert r.within == pytest.approx(within)
    assert r.between + r.within == pytest.approx(r.total, abs=1e-15)
    assert r.by_group.loc["A", "mean"] == pytest.approx(2.0)
    assert r.by_group.loc["B", "population_share"] == pytest.approx(0.5)
    # Theil L: between = sum s_g ln(mu/mu_g), within = sum s_g L_g
    ell = theil(y, w, g, kind="L")
    l_a = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)
    assert ell.between == pytest.approx(0.5 * math.log(3 / 2) + 0.5 * math.log(3 / 4))
    assert ell.within == pytest.approx(0.5 * l_a)
    assert ell.between + ell.within == pytest.approx(ell.total)


def test_theil_matches_pysal_unweighted_and_replicated():
    from inequality.theil import Theil, TheilD

    rng = np.random.default_rng(11)
    y = rng.gamma(2.0, 1.5, 200)
    g = rng.integers(0, 5, 200)
    r = theil(y, groups=g)
    d = TheilD(y, g)
    assert r.total == pytest.approx(float(Theil(y).T), rel=1e-10)
    assert r.between == pytest.approx(float(np.ravel(d.bg)[0]), rel=1e-9)
    assert r.within == pytest.approx(float(np.ravel(d.wg)[0]), rel=1e-9)
    w = rng.integers(1, 4, 200)
    rw = theil(y, w, g)
    dw = TheilD(np.repeat(y, w), np.repeat(g, w))
    assert rw.total == pytest.approx(float(Theil(np.repeat(y, w)).T), rel=1e-10)
    assert rw.between == pytest.approx(float(np.ravel(dw.bg)[0]), rel=1e-9)
    assert rw.within == pytest.approx(float(np.ravel(dw.wg)[0]), rel=1e-9)


def test_theil_real_data_decomposition_adds_up(shared_data):
    from inequality.theil import TheilD

    df = pd.read_csv(shared_data / "porto_alegre" / "poa_hexgrid.csv")
    df = df[df["population"] > 0]
    groups = np.where(df["schools"] > 0, "with school", "no school")
    y = df["population"].to_numpy(float)
    r = theil(y, groups=groups)
    d = TheilD(y, groups)
    assert r.between == pytest.approx(float(np.ravel(d.bg)[0]), rel=1e-9)
    assert r.between + r.within == pytest.approx(r.total, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# CV, ratios, shares
# ---------------------------------------------------------------------------------------------


def test_cv_issue_worked_example():
    enrol = np.array([45, 37, 89, 76, 55])
    books = np.array([279, 137, 935, 160, 402])
    x = books / enrol
    # weighted mean = total books / total students = 1913 / 302
    mu = 1913 / 302
    sd = math.sqrt(np.sum(enrol * (x - mu) ** 2) / 302)
    assert mu == pytest.approx(6.33, abs=0.005)
    assert coefficient_of_variation(x, enrol) == pytest.approx(sd / mu)
    assert coefficient_of_variation(x, enrol) == pytest.approx(0.515, abs=0.0005)


def test_cv_unweighted_population_sd():
    # classic example: mean 5, population sd 2
    assert coefficient_of_variation([2, 4, 4, 4, 5, 5, 7, 9]) == pytest.approx(0.4)
    assert math.isnan(coefficient_of_variation([0, 0]))


def test_palma_max_min_share():
    # 1..10: top decile holds 10/55, bottom four deciles hold 10/55
    assert palma_ratio(np.arange(1, 11)) == pytest.approx(1.0)
    # interpolated Lorenz: two people with 1 and 3 -> L(0.4) = 0.4*(1/4)/0.5, L(0.9) = 0.25 +
    # 0.4 * 0.75 / 0.5
    l4, l9 = 0.4 * 0.25 / 0.5, 0.25 + 0.4 * 0.75 / 0.5
    assert palma_ratio([1, 3]) == pytest.approx((1 - l9) / l4)
    assert max_min_ratio([2, 8, np.nan, 4]) == 4.0
    assert max_min_ratio([0, 3]) == math.inf
    assert share_below([1, 2, 3], 2.5, weights=[1, 1, 2]) == pytest.approx(0.5)
    assert share_below([1, np.nan, 3], 2) == pytest.approx(0.5)
    assert share_below([1, np.nan, 3], 2, missing="below") == pytest.approx(2 / 3)
    assert share_above([100, 900, np.nan], 800, weights=[1, 1, 2], missing="above") == \
        pytest.approx(0.75)


def test_nan_excluded_and_counted_and_series_aligned():
    v = pd.Series([1.0, np.nan, 3.0, 5.0], index=["a", "b", "c", "d"])
    w = pd.Series([1.0, 1.0, 1.0, 2.0], index=["d", "c", "b", "a"])  # shuffled
    s = inequality_summary(v, w)
    assert s["n"] == 3 and s["n_missing"] == 1
    # aligned: a=1 (w 2), c=3 (w 1), d=5 (w 1)
    assert s["mean"] == pytest.approx((2 * 1 + 3 + 5) / 4)
    with pytest.raises(InputError, match="indexed differently"):
        inequality_summary(v, pd.Series([1.0], index=["zz"]))


def test_inequality_summary_keys_and_groups():
    s = inequality_summary([1, 3, 4], [1, 1, 2], ["A", "A", "B"])
    for key in ("gini", "theil_t", "theil_l", "theil_between", "theil_within", "cv",
                "cv_weighted"):
        assert key in s
    assert s["theil_between"] == pytest.approx(theil([1, 3, 4], [1, 1, 2], ["A", "A", "B"])
                                               .between)
    assert s["groups"]["B"]["n"] == 1 and s["groups"]["A"]["mean"] == pytest.approx(2.0)
    # cv unweighted over (1,3,4): mean 8/3
    m = 8 / 3
    assert s["cv"] == pytest.approx(math.sqrt(((1 - m) ** 2 + (3 - m) ** 2 + (4 - m) ** 2) / 3) / m)


def test_spatial_equity_by_hand():
    cells = pd.DataFrame({
        "children": [10, 20, 30, 0, 5],
        "access": [1.0, 0.5, np.nan, 2.0, 0.8],
        "cost": [100, 900, np.nan, 50, 700],
        "gap": [0, 5, 30, 0, 1],
        "district": ["a", "a", "b", "b", "b"],
        "urban": ["urban centre", "rural", "rural", "rural", "urban centre"],
    })
    table, th = spatial_equity(cells, threshold=800)
    allr = table.iloc[0]
    assert allr["children"] == 65
    assert allr["share_beyond"] == pytest.approx(50 / 65)  # 900 m and unreachable
    assert allr["share_no_access"] == pytest.approx(30 / 65)
    assert allr["access_mean"] == pytest.approx((10 * 1 + 20 * 0.5 + 5 * 0.8) / 35)
    a = table[(table.grouping == "district") & (table.group == "a")].iloc[0]
    assert a["cost_mean"] == pytest.approx((10 * 100 + 20 * 900) / 30)
    assert a["gap"] == 5
    assert set(th["grouping"]) == {"district", "urban"}
    assert (th["between"] + th["within"]).to_numpy() == pytest.approx(th["theil_t"].to_numpy())


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


def test_cli_equity_json(tmp_path, capsys):
    from geoequity.cli import main

    f = tmp_path / "cells.csv"
    pd.DataFrame({"v": [1, 3, 4, None], "w": [1, 1, 2, 5], "g": ["A", "A", "B", "B"]}).to_csv(
        f, index=False)
    assert main(["equity", str(f), "--value", "v", "--weight", "w", "--group", "g",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("gini", "theil_t", "theil_between", "theil_within", "cv", "cv_weighted"):
        assert key in out
    assert out["n_missing"] == 1
    mu = 3.0
    assert out["cv_weighted"] == pytest.approx(
        math.sqrt((1 * (1 - mu) ** 2 + 1 * (3 - mu) ** 2 + 2 * (4 - mu) ** 2) / 4) / mu)
    # bad column: one line, exit 2
    assert main(["equity", str(f), "--value", "g"]) == 2
    assert "not a number" in capsys.readouterr().err
    assert main(["equity", str(f), "--value", "nope"]) == 2
    assert "no value column" in capsys.readouterr().err


def test_cli_share_beyond_counts_unreachable(tmp_path, capsys):
    from geoequity.cli import main

    f = tmp_path / "cells.csv"
    pd.DataFrame({"cost": [100, 900, None, 50, None], "children": [10, 20, 30, 5, 4],
                  "district": ["a", "a", "a", "b", "c"]}).to_csv(f, index=False)
    assert main(["equity", str(f), "--value", "cost", "--weight", "children", "--group",
                 "district", "--beyond", "800", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["share_beyond"] == pytest.approx((20 + 30 + 4) / 69)
    assert out["groups"]["a"]["share_beyond"] == pytest.approx(50 / 60)
    assert out["groups"]["b"]["share_beyond"] == 0.0
    assert out["groups"]["c"]["share_beyond"] == 1.0  # no school reachable at all


@pytest.mark.parametrize("labels, names", [
    # (the grouping column, its groups as text in sorted order)
    (pd.array([3, 3, 12, None, 12], dtype="Int64"), ["(none)", "12", "3"]),
    (np.array([3, 3, 12, 7, 12]), ["12", "3", "7"]),
    (pd.Series([3.0, 3.0, -0.0, 0.0, np.nan]), ["(none)", "-0.0", "0.0", "3.0"]),
    (np.array([1, 1.0, "x", None, "x"], dtype=object), ["(none)", "1", "1.0", "x"]),
    (np.array(["b", "b", "a", None, "(none)"], dtype=object), ["(none)", "a", "b"]),
    (pd.array(["b", "b", "a", None, "a"], dtype="str"), ["(none)", "a", "b"]),
    (np.array([True, True, False, False, True]), ["False", "True"]),
])
def test_spatial_equity_groups_as_text(labels, names):
    """Each grouping's groups are its values as text, a missing value "(none)"; children 1,
    2, 4, 8, 16 per cell give each group's children by hand."""
    cells = pd.DataFrame({"children": [1.0, 2.0, 4.0, 8.0, 16.0],
                          "access": [1.0, 1.0, 2.0, 0.5, 2.0], "g": labels})
    table, th = spatial_equity(cells, cost_col=None, gap_col=None, groups=("g",))
    rows = table[table.grouping == "g"]
    assert rows["group"].tolist() == names
    text = ["(none)" if pd.isna(v) else str(v) for v in labels]
    want = {n: sum(c for c, t in zip([1, 2, 4, 8, 16], text, strict=True) if t == n)
            for n in names}
    assert dict(zip(rows["group"], rows["children"], strict=True)) == want
    # the decomposition by the same groups, given as text to theil()
    ref = theil(cells["access"], cells["children"], text)
    # (spatial_equity sums by group, theil() over the values: equal to the last bits)
    assert th.iloc[0]["theil_t"] == pytest.approx(ref.total, rel=1e-12)
    assert th.iloc[0]["between"] == pytest.approx(ref.between, rel=1e-12)
    assert th.iloc[0]["within"] == pytest.approx(ref.within, rel=1e-12)


def test_no_inequality_gives_a_between_share_of_zero_without_warnings():
    """No seats: every reached cell scores 0, so there is no inequality (Theil 0) and none of
    it lies between districts: between_share 0, not NaN, and no numpy warning."""
    import warnings

    cells = pd.DataFrame({"children": [1.0, 2.0, 3.0], "access": [0.0, 0.0, 0.0],
                          "district": ["a", "b", "b"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, th = spatial_equity(cells, cost_col=None, gap_col=None, groups=("district",))
        t = theil(cells["access"], cells["children"], cells["district"])
    assert th.iloc[0][["theil_t", "between", "within", "between_share"]].tolist() == [0, 0, 0, 0]
    assert t.between_share == 0.0
    assert np.isnan(theil([np.nan], [1.0]).between_share)      # no value: no share
    assert theil([1.0, 3.0], None, ["a", "b"]).between_share == 1.0   # all of it between


def test_a_run_without_seats_has_no_inequality_and_no_warnings():
    """Two schools of 0 seats on a line of three cells: every reached cell scores 0 seats per
    child, the gap index has no fair share to compare with (NaN), the Theil decomposition is
    0 with a between share of 0, and numpy says nothing."""
    import warnings

    import geopandas as gpd
    import shapely

    from geoequity.costs import euclidean_costs
    from geoequity.pipeline import analyse

    cells = gpd.GeoDataFrame({"children": [10.0, 20.0, 30.0]},
                             geometry=shapely.points([[0, 0], [500, 0], [5000, 0]]),
                             index=["a", "b", "c"], crs="EPSG:32650")
    schools = gpd.GeoDataFrame({"seats": [0.0, 0.0]},
                               geometry=shapely.points([[0, 0], [600, 0]]),
                               index=["A", "B"], crs="EPSG:32650")
    districts = gpd.GeoDataFrame({"district": ["W", "E"]},
                                 geometry=[shapely.box(-1, -1, 300, 1),
                                           shapely.box(300, -1, 6000, 1)], crs="EPSG:32650")
    costs = euclidean_costs(cells, schools, max_cost=4000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = analyse(cells, schools, costs, threshold=1000, districts=districts)
    assert res.cells["access"].tolist()[:2] == [0.0, 0.0] and np.isnan(res.cells["access"]["c"])
    assert res.summary["theil_by_district"] == {"theil_t": 0.0, "between": 0.0, "within": 0.0,
                                                "between_share": 0.0}
