"""Equity statistics of a run from its pieces (issue #14: the cells stay on the workers).

The reference is :func:`reference` below: spatial_equity's tables row by row from the public
one-measure functions (:func:`gini` by trapezoids under the Lorenz curve, not pair sums;
:func:`theil`, :func:`coefficient_of_variation` over each group's values), which goes through
no piece.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from geoequity.equity import (
    EquityPiece,
    coefficient_of_variation,
    equity_bounds,
    equity_labels,
    equity_piece,
    equity_range,
    equity_split,
    gini,
    lorenz_curve,
    lorenz_pieces,
    spatial_equity,
    spatial_equity_of,
    spatial_equity_pieces,
    theil,
)

REL = 1e-12


def close(a: float, b: float, rel: float = REL, floor: float = 1e-14) -> bool:
    """Equal to ``rel`` relative (a statistic that is 0 up to rounding: to ``floor``)."""
    if np.isnan(a) or np.isnan(b):
        return bool(np.isnan(a) and np.isnan(b))
    if np.isinf(a) or np.isinf(b):
        return a == b
    return abs(a - b) <= rel * max(abs(a), abs(b)) + floor


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert got.dtypes.to_dict() == want.dtypes.to_dict()
    assert len(got) == len(want)
    for col in want.columns:
        g, w = got[col].to_numpy(), want[col].to_numpy()
        if want[col].dtype.kind == "f":
            bad = [i for i in range(len(w)) if not close(g[i], w[i])]
            if col == "between_share":
                # a share of a total that is 0 up to rounding is a ratio of rounding noise
                bad = [i for i in bad if abs(want["theil_t"].iloc[i]) > 1e-14]
            assert not bad, (col, [(got.iloc[i, :2].tolist(), g[i], w[i]) for i in bad])
        else:
            assert g.tolist() == w.tolist(), col


def split(cells: pd.DataFrame, k: int, rng: np.random.Generator) -> list[pd.DataFrame]:
    """``k`` disjoint pieces in shuffled order (some may be empty)."""
    which = rng.integers(0, k, len(cells))
    order = rng.permutation(len(cells))
    return [cells.iloc[order[which[order] == i]] for i in range(k)]


def province(n: int, rng: np.random.Generator, *, negative: bool = False,
             zeros: bool = True) -> pd.DataFrame:
    """Real-looking cells: ties (scores rounded), zero children, no access, unreachable
    cells, many districts (some small), three urban classes."""
    children = rng.poisson(3.0, n).astype(float)
    children[rng.random(n) < 0.05] = np.nan
    access = np.round(rng.gamma(2.0, 0.5, n), 1)
    access[rng.random(n) < 0.1] = np.nan
    access[(rng.random(n) < 0.05) & zeros] = 0.0   # (Theil L infinite)
    access[access == 0] = 0.0 if zeros else 0.05
    cost = rng.uniform(0, 3000, n)
    cost[np.isnan(access) & (rng.random(n) < 0.5)] = np.nan
    district = rng.choice([f"d{i:02d}" for i in range(12)], n,
                          p=np.r_[np.full(10, 0.095), 0.04, 0.01])
    if negative:
        access[(district == "d03") & (rng.random(n) < 0.2)] = -0.5
    return pd.DataFrame({
        "children": children, "access": access, "cost": cost,
        "gap": np.where(rng.random(n) < 0.3, rng.uniform(0, 5, n), 0.0),
        "district": district,
        "county": np.where(np.isin(district, ["d00", "d01", "d02"]), "north", "south"),
        "urban": rng.choice(["urban centre", "urban cluster", "rural", None], n,
                            p=[0.3, 0.3, 0.35, 0.05]),
    })


def reference(cells: pd.DataFrame, *, children_col: str = "children",
              access_col: str | None = "access", cost_col: str | None = "cost",
              gap_col: str | None = "gap", groups=("district", "urban"),
              threshold: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """spatial_equity's documented tables, row by row, from the public one-measure functions
    (gini, theil, coefficient_of_variation): no piece, no shared sums."""
    nan = float("nan")
    w = pd.to_numeric(cells[children_col], errors="coerce").fillna(0.0).clip(lower=0)
    w = w.to_numpy(float)
    col = {c: (pd.to_numeric(cells[c], errors="coerce").to_numpy(float, na_value=np.nan)
               if c and c in cells.columns else None) for c in (access_col, cost_col, gap_col)}
    acc, cost, gap = col[access_col], col[cost_col], col[gap_col]

    def row(m: np.ndarray) -> dict:
        ww = w[m]
        tot = float(ww.sum())
        r = {"children": tot, "cells": int(m.sum())}
        if acc is not None:
            a = acc[m]
            s = np.isfinite(a) & np.isfinite(ww) & (ww > 0)
            y, v = a[s], ww[s]
            nonneg = not (y < 0).any()
            r["access_mean"] = float((v * y).sum() / v.sum()) if y.size else nan
            r["share_no_access"] = float(ww[np.isnan(a)].sum() / tot) if tot else nan
            r["gini"] = gini(y, v) if nonneg else nan
            r["theil_t"] = theil(y, v).total if nonneg else nan
            r["cv_weighted"] = coefficient_of_variation(y, v)
        if cost is not None:
            c = cost[m]
            ok = np.isfinite(c)
            r["cost_mean"] = (float((ww[ok] * c[ok]).sum() / ww[ok].sum())
                              if ww[ok].sum() > 0 else nan)
            if threshold is not None:
                far = ~ok | (c > threshold)
                r["share_beyond"] = float(ww[far].sum() / tot) if tot else nan
        if gap is not None:
            r["gap"] = float(np.nansum(gap[m]))
        return r

    rows = [{"grouping": "all", "group": "all", **row(np.ones(len(w), dtype=bool))}]
    th = []
    for g in groups:
        if g not in cells.columns:
            continue
        text = np.array(["(none)" if pd.isna(v) else str(v) for v in cells[g]], dtype=object)
        for lab in sorted(set(text)):
            rows.append({"grouping": g, "group": lab, **row(text == lab)})
        if acc is None:
            continue
        scored = ~np.isnan(acc) & (acc >= 0)
        if not (scored & (w > 0)).any():
            continue
        t, ell = (theil(acc[scored], w[scored], text[scored], kind=k) for k in ("T", "L"))
        th.append({"grouping": g, "theil_t": t.total, "between": t.between, "within": t.within,
                   "between_share": t.between_share, "theil_l": ell.total,
                   "l_between": ell.between, "l_within": ell.within})
    return pd.DataFrame(rows), pd.DataFrame(th, columns=[
        "grouping", "theil_t", "between", "within", "between_share", "theil_l", "l_between",
        "l_within"])


KW = dict(cost_col="cost", threshold=1500.0, groups=("district", "county", "urban"))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [1, 2, 7])
@pytest.mark.parametrize("ranges", [None, 4])
def test_pieces_give_the_in_process_tables(seed, k, ranges):
    """Random splits, the Gini's pair sums through the rule's ranges (here one: a few hundred
    cells) or through four."""
    rng = np.random.default_rng(seed)
    cells = province(600, rng, negative=seed % 2 == 1, zeros=seed < 2)
    want = reference(cells, **KW)
    assert np.isfinite(want[1]["theil_l"]).all() == (seed >= 2)
    got = spatial_equity_pieces(split(cells, k, rng), ranges=ranges, **KW)
    assert_same(got[0], want[0])
    assert_same(got[1], want[1])


def test_a_district_spread_over_many_pieces_and_pieces_of_one_district():
    """Square tiles cut districts: one district in every piece; also pieces that are whole
    districts, and pieces that hold one district only."""
    rng = np.random.default_rng(11)
    cells = province(800, rng)
    want = reference(cells, **KW)
    by_district = [g for _, g in cells.groupby("district")]
    assert_same(spatial_equity_pieces(by_district, **KW)[0], want[0])
    tiles = [cells.iloc[i::9] for i in range(9)]
    for got, ref in zip(spatial_equity_pieces(tiles, **KW), want, strict=True):
        assert_same(got, ref)


def test_edge_cases_single_cell_empty_piece_all_equal_zero_weights():
    rng = np.random.default_rng(5)
    cases = {
        "single cell": pd.DataFrame({"children": [4.0], "access": [0.7], "cost": [10.0],
                                     "gap": [1.0], "district": ["a"]}),
        "all equal": pd.DataFrame({"children": rng.integers(1, 5, 40).astype(float),
                                   "access": np.full(40, 0.3), "cost": np.full(40, 100.0),
                                   "gap": 0.0, "district": rng.choice(["a", "b", "c"], 40)}),
        "all zero": pd.DataFrame({"children": np.ones(10), "access": np.zeros(10),
                                  "cost": 1.0, "gap": 0.0, "district": list("aabbbccccc")}),
        "zero weights": pd.DataFrame({"children": [0, 0, 3, 0, 2.0, np.nan],
                                      "access": [5.0, 1.0, 2.0, 0.0, 2.0, 9.0],
                                      "cost": [1, 2, 3, 4, 5, 6.0], "gap": 0.0,
                                      "district": list("aabbcc")}),
        "no score at all": pd.DataFrame({"children": [1.0, 2.0], "access": [np.nan, np.nan],
                                         "cost": [np.nan, 5.0], "gap": np.nan,
                                         "district": ["a", "b"]}),
        "nothing": pd.DataFrame({"children": [], "access": [], "cost": [], "gap": [],
                                 "district": []}),
    }
    for name, cells in cases.items():
        kw = dict(cost_col="cost", threshold=50.0, groups=("district",))
        want = reference(cells, **kw)
        for got, ref in zip(spatial_equity(cells, **kw), want, strict=True):
            assert_same(got, ref)
        for k, ranges in ((1, None), (2, None), (3, 1), (3, 3), (5, 50)):
            pieces = split(cells, k, rng) + [cells.iloc[:0]]   # always an empty piece too
            got = spatial_equity_pieces(pieces, ranges=ranges, **kw)
            assert_same(got[0], want[0]), name
            assert_same(got[1], want[1]), name


def test_without_access_cost_or_gap_columns():
    rng = np.random.default_rng(3)
    cells = province(200, rng).drop(columns=["gap"])
    for kw in (dict(access_col=None, cost_col="cost", groups=("district",)),
               dict(cost_col=None, gap_col=None, groups=("urban", "nope"))):
        want = reference(cells, **kw)
        got = spatial_equity_pieces(split(cells, 3, rng), **kw)
        assert_same(got[0], want[0])
        assert_same(got[1], want[1])


@pytest.mark.parametrize("seed", range(6))
def test_gini_from_cross_terms_equals_the_trapezoids(seed):
    """The Gini of the pair sums over random splits against :func:`gini` of all values: ties,
    zero weights, tiny and huge groups."""
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 400))
    y = rng.choice([0.0, 0.5, 1.0, 2.5], n) if seed % 2 else rng.lognormal(0, 1, n)
    w = rng.integers(0, 4, n).astype(float)
    cells = pd.DataFrame({"children": w, "access": y})
    pieces = split(cells, int(rng.integers(1, 9)), rng)
    for ranges in (None, 1, 2, 7, 500):
        table, _ = spatial_equity_pieces(pieces, cost_col=None, gap_col=None, groups=(),
                                         ranges=ranges)
        assert close(table["gini"].iloc[0], gini(y, w)), ranges


def test_four_cells_in_two_pieces_by_hand():
    """Piece A: scores 1 and 3 for 1 and 2 children; piece B: 2 and 4 for 1 child each.
    Pair sums: inside A 2*(1*2*|1-3|) = 8, inside B 2*|2-4| = 4, across
    |1-2| + |1-4| + 2|3-2| + 2|3-4| = 8 (counted twice): 28. W = 5, sum w*y = 13:
    Gini 28 / (2 * 5 * 13) = 14/65."""
    a = pd.DataFrame({"children": [1.0, 2.0], "access": [1.0, 3.0], "district": ["x", "x"]})
    b = pd.DataFrame({"children": [1.0, 1.0], "access": [2.0, 4.0], "district": ["x", "y"]})
    kw = dict(cost_col=None, gap_col=None, groups=("district",))
    table, th = spatial_equity_pieces([a, b], **kw)
    assert table["gini"].iloc[0] == pytest.approx(14 / 65, rel=1e-15)
    # district x: 1 (w 1), 3 (w 2), 2 (w 1): W 4, sum 9; pairs 2*(2*2 + 1*1 + 2*1) = 14
    x = table[(table.grouping == "district") & (table.group == "x")].iloc[0]
    assert x["gini"] == pytest.approx(14 / (2 * 4 * 9), rel=1e-15)
    assert table[table.group == "y"]["gini"].iloc[0] == 0.0
    mu = 13 / 5
    t = sum(wi * yi / mu * math.log(yi / mu) for wi, yi in
            [(1, 1), (2, 3), (1, 2), (1, 4)]) / 5
    assert th["theil_t"].iloc[0] == pytest.approx(t, rel=1e-14)
    # between x (mean 9/4, 4 of 5 children) and y (mean 4, 1 child)
    between = sum(s * m / mu * math.log(m / mu) for s, m in [(4 / 5, 9 / 4), (1 / 5, 4)])
    assert th["between"].iloc[0] == pytest.approx(between, rel=1e-14)


def test_five_cells_in_two_pieces_and_two_ranges_by_hand():
    """Piece A: scores 1, 3, 2 for 1, 2, 1 children (districts x, x, y); piece B: 2 and 5
    for 1 child each (x, y). The samples 1, 2, 3 and 2, 5 stand for a cell each: the middle
    of the five (2.5 cells) is B's 2, the one boundary. Range 0 (below 2): the 1; range 1
    (2 and up, both 2s: a score equal to a boundary goes above it): 2, 3, 2, 5.
    Range 0: W 1, M 1, pairs 0. Range 1: W 5, M 2 + 6 + 2 + 5 = 15, pairs
    2 * (2*1*1 + 0 + 1*1*3 + 2*1*1 + 2*1*2 + 1*1*3) = 28. Across: W0 M1 - M0 W1 = 15 - 5 =
    10, twice: all pairs 48; W 6, sum w*y 16: Gini 48 / (2 * 6 * 16) = 1/4."""
    a = pd.DataFrame({"children": [1.0, 2.0, 1.0], "access": [1.0, 3.0, 2.0],
                      "district": ["x", "x", "y"]})
    b = pd.DataFrame({"children": [1.0, 1.0], "access": [2.0, 5.0], "district": ["x", "y"]})
    kw = dict(cost_col=None, gap_col=None, groups=("district",))
    full = [equity_piece(a, **kw), equity_piece(b, **kw)]
    small = [s.small() for s in full]
    bounds = equity_bounds(small, ranges=2)
    assert bounds.tolist() == [2.0]
    labels = equity_labels(small)
    assert labels["district"].tolist() == ["x", "y"]
    rows = pd.concat([equity_split(s, bounds, labels) for s in full])
    assert rows["range"].tolist() == [0, 1, 1, 1, 1]   # each piece's scores ascending
    sums = equity_range(rows)
    # per grouping, group and range: cells, children, lowest score, children's scores above
    # it (M = W * low + above: range 1's 15 = 5 * 2 + (0 + 2 * 1 + 0 + 3)), pair sum
    got = {(g, c, r): (n, w, low, above, p)
           for g, c, r, n, w, low, above, p in sums.itertuples(index=False)}
    assert got == {
        ("all", 0, 0): (1, 1.0, 1.0, 0.0, 0.0), ("all", 0, 1): (4, 5.0, 2.0, 5.0, 28.0),
        # x: 1 (w 1) | 3 (w 2), 2 (w 1): M 8 = 3 * 2 + 2 * 1; pairs 2 * 2 * 1 * 1 = 4
        ("district", 0, 0): (1, 1.0, 1.0, 0.0, 0.0),
        ("district", 0, 1): (2, 3.0, 2.0, 2.0, 4.0),
        # y: 2 (w 1), 5 (w 1), both in range 1: M 7 = 2 * 2 + 3; pairs 2 * 3 = 6
        ("district", 1, 1): (2, 2.0, 2.0, 3.0, 6.0)}
    table, _ = spatial_equity_of(small, [sums.iloc[:2], sums.iloc[2:]])
    assert table["gini"].tolist() == pytest.approx([1 / 4, 7 / 36, 3 / 14], rel=1e-15)
    # x: 4 + 2 * (1 * 8 - 1 * 3) = 14 over 2 * 4 * 9; y: 6 over 2 * 2 * 7
    assert table["gini"].iloc[0] == pytest.approx(gini([1, 3, 2, 2, 5], [1, 2, 1, 1, 1]))


def test_scores_far_from_zero_keep_their_digits():
    """200 scores within 1e-7 of 1000 (a Gini about 1.5e-11), in two pieces: against the
    pair sum in exact rational arithmetic over the same floats. Sums of the scores themselves
    (cumulative sums near 1000 x the children) lose about six digits (4e-6 relative before
    the ranges summed about their lowest score; the trapezoids of gini() 1.5e-5); the
    ranges' sums about their lowest score lose none, nor does one piece's own pair sum."""
    from fractions import Fraction

    rng = np.random.default_rng(3)
    n = 200
    y = 1000 + 1e-7 * rng.random(n)
    w = rng.integers(1, 5, n).astype(float)
    exact = [Fraction(v) for v in y]
    pairs = sum(Fraction(int(w[i] * w[j])) * abs(exact[i] - exact[j])
                for i in range(n) for j in range(n))
    total = sum(Fraction(int(wi)) * f for wi, f in zip(w, exact, strict=True))
    want = float(pairs / (2 * Fraction(int(w.sum())) * total))
    cells = pd.DataFrame({"children": w, "access": y})
    for ranges in (1, 2, 4):
        table, _ = spatial_equity_pieces([cells.iloc[::2], cells.iloc[1::2]], cost_col=None,
                                         gap_col=None, groups=(), ranges=ranges)
        assert close(table["gini"].iloc[0], want, floor=0.0), (ranges, table["gini"].iloc[0])
    # in one process (one piece: its own pair sum, about its lowest score too)
    table, _ = spatial_equity(cells, cost_col=None, gap_col=None, groups=())
    assert close(table["gini"].iloc[0], want, floor=0.0)


def test_a_missing_range_is_an_error():
    cells = pd.DataFrame({"children": [1.0, 2.0, 3.0], "access": [1.0, 2.0, 3.0]})
    full = [equity_piece(cells.iloc[[i]], cost_col=None, gap_col=None) for i in range(3)]
    small = [x.small() for x in full]
    bounds = equity_bounds(small, ranges=3)
    assert bounds.tolist() == [2.0, 3.0]
    rows = pd.concat([equity_split(s, bounds, equity_labels(small)) for s in full])
    each = [equity_range(part) for _, part in rows.groupby("range")]
    assert len(each) == 3
    with pytest.raises(ValueError, match="the ranges hold 2 of its 3 scored cells"):
        spatial_equity_of(small, each[:2])
    with pytest.raises(ValueError, match="needs the ranges of its scores"):
        spatial_equity_of(small, [])
    other = equity_piece(cells, cost_col=None, gap_col=None, threshold=5.0)
    with pytest.raises(ValueError, match="different"):
        spatial_equity_of([small[0], other], [])


def test_no_ranges_when_one_piece_has_scores():
    """A piece whose cells have no score needs no range; one scored piece: its own pair sums
    (spatial_equity's case)."""
    kw = dict(cost_col=None, gap_col=None, groups=("district",))
    scored = pd.DataFrame({"children": [1.0, 2.0], "access": [1.0, 2.0], "district": ["a"] * 2})
    unscored = pd.DataFrame({"children": [1.0], "access": [np.nan], "district": ["a"]})
    s = [equity_piece(p, **kw).small() for p in (unscored, scored, unscored)]
    assert equity_bounds(s) is None
    assert equity_bounds(s + s) is not None
    table, _ = spatial_equity_of(s, [])
    # 1 (w 1) and 2 (w 2): pairs 2 * 2 * 1 = 4 over 2 * 3 * 5
    assert table["gini"].tolist() == pytest.approx([4 / 30, 4 / 30], rel=1e-15)


def test_ties_on_the_boundaries_and_groups_in_one_range():
    """Four scores only, most cells on a boundary; a group whose scores all lie in the top
    range, one all in the bottom; equal scores in every range of a group (all equal)."""
    rng = np.random.default_rng(42)
    n = 3000
    y = rng.choice([0.0, 0.5, 1.0, 1.5], n, p=[0.1, 0.6, 0.2, 0.1])
    district = np.where(y >= 1.5, "top", np.where(y <= 0.0, "bottom", "middle"))
    cells = pd.DataFrame({"children": rng.integers(0, 4, n).astype(float), "access": y,
                          "district": district,
                          "urban": rng.choice(["u", "r"], n)})
    cells.loc[cells.index[:40], "district"] = "flat"
    cells.loc[cells.index[:40], "access"] = 0.5
    kw = dict(cost_col=None, gap_col=None, groups=("district", "urban"))
    want = reference(cells, **kw)
    pieces = split(cells, 6, rng)
    small = [equity_piece(p, **kw).small() for p in pieces]
    for ranges in (2, 3, 4, 8, 40):
        bounds = equity_bounds(small, ranges=ranges)
        assert set(bounds.tolist()) <= {0.0, 0.5, 1.0, 1.5}
        got = spatial_equity_pieces(pieces, ranges=ranges, **kw)
        assert_same(got[0], want[0])
        assert_same(got[1], want[1])
    # 0.5 is on a boundary: each of its cells is in one range, the one from 0.5 up
    full = [equity_piece(p, **kw) for p in pieces]
    bounds = equity_bounds(small, ranges=4)
    assert 0.5 in bounds.tolist()
    rows = pd.concat([equity_split(s, bounds, equity_labels(small)) for s in full])
    scored = (cells["children"] > 0).to_numpy()
    assert len(rows) == scored.sum()
    at = int(np.searchsorted(bounds, 0.5, side="right"))
    assert (rows.loc[rows["y"] == 0.5, "range"] == at).all()
    assert (rows.loc[rows["y"] < 0.5, "range"] < at).all()
    sums = equity_range(rows)
    top = sums[(sums.grouping == "district") & (sums.code == 3)]   # bottom flat middle top
    assert top["range"].tolist() == [len(bounds)]


def test_submit_runs_the_ranges_elsewhere():
    from concurrent.futures import ProcessPoolExecutor

    rng = np.random.default_rng(8)
    cells = province(300, rng)
    want = reference(cells, **KW)
    with ProcessPoolExecutor(1) as pool:
        got = spatial_equity_pieces(split(cells, 3, rng), submit=pool.submit, ranges=3, **KW)
    assert_same(got[0], want[0])
    assert_same(got[1], want[1])


# ---------------------------------------------------------------------------------------------
# Lorenz curves
# ---------------------------------------------------------------------------------------------


def report_thinning(lc: pd.DataFrame, points: int = 2001) -> pd.DataFrame:
    """The report's rule: 2,001 of the exact points, evenly spaced by index, ends kept."""
    if len(lc) > points:
        lc = lc.iloc[np.unique(np.linspace(0, len(lc) - 1, points).round().astype(int))]
    return lc.reset_index(drop=True)


def counted(cells: pd.DataFrame) -> pd.DataFrame:
    a = pd.to_numeric(cells["access"], errors="coerce")
    w = pd.to_numeric(cells["children"], errors="coerce").fillna(0)
    return cells[a.notna() & (a >= 0) & (w > 0)]


def assert_on_the_curve(got: pd.DataFrame, cells: pd.DataFrame, points: int = 2001) -> None:
    """Each point is :func:`lorenz_curve`'s row at the last cell of its value; the ends are
    the origin and (1, 1) at the largest value; no two points further apart than
    2 N / (points - 1) cells plus the cells of one value."""
    c = counted(cells)
    ref = lorenz_curve(c["access"].to_numpy(float), c["children"].to_numpy(float))
    vals = ref["value"].to_numpy()
    assert got.iloc[0].tolist()[:2] == [0.0, 0.0] and np.isnan(got["value"].iloc[0])
    assert got.iloc[-1].tolist() == [1.0, 1.0, np.nanmax(vals)]
    assert len(got) <= points
    last = {v: i for i, v in enumerate(vals) if i}   # the last row of each value
    rows = [last[v] for v in got["value"].iloc[1:]]
    for col in ("population_share", "value_share"):
        want = ref[col].to_numpy()[rows]
        assert all(close(g, w) for g, w in zip(got[col].iloc[1:], want, strict=True)), col
    n = len(c)
    ties = int(pd.Series(vals[1:]).value_counts().max())
    assert np.diff([0, *rows]).max() <= 2 * n / (points - 1) + ties + 1


def test_lorenz_of_one_piece_is_the_reports_curve():
    """One piece of distinct scores: exactly the report's 2,001 points of lorenz_curve."""
    rng = np.random.default_rng(1)
    cells = pd.DataFrame({"children": rng.integers(1, 6, 5000).astype(float),
                          "access": rng.lognormal(0, 1, 5000)})
    got = lorenz_pieces([cells], by=None)
    assert list(got) == [None]
    want = report_thinning(lorenz_curve(cells["access"], cells["children"]))
    assert len(got[None]) == len(want) == 2001
    assert np.array_equal(got[None]["value"].to_numpy(), want["value"].to_numpy(),
                          equal_nan=True)
    for col in ("population_share", "value_share"):
        assert all(close(g, w) for g, w in zip(got[None][col], want[col], strict=True))


@pytest.mark.parametrize("seed", range(3))
def test_lorenz_of_pieces_lies_on_the_exact_curve(seed):
    rng = np.random.default_rng(20 + seed)
    cells = province(9000, rng, negative=True)
    if seed == 2:
        cells["access"] = rng.lognormal(0, 1, len(cells))   # no ties
    got = lorenz_pieces(split(cells, 6, rng) + [cells.iloc[:0]], by="urban")
    labels = sorted(cells["urban"].dropna().astype(str).unique())
    assert list(got) == [None, *labels]
    assert_on_the_curve(got[None], cells)
    for lab in labels:
        assert_on_the_curve(got[lab], cells[cells["urban"].astype(str) == lab])


def test_lorenz_of_few_cells_has_every_value_and_skips_empty_classes():
    cells = pd.DataFrame({"children": [1.0, 2.0, 1.0, 3.0, 0.0, 2.0],
                          "access": [0.5, 0.5, 2.0, 1.0, 9.0, np.nan],
                          "urban": ["rural", "rural", "urban", "rural", "town", "town"]})
    rng = np.random.default_rng(0)
    got = lorenz_pieces(split(cells, 3, rng), by="urban")
    assert list(got) == [None, "rural", "urban"]   # "town": no counted cell
    # all: 0.5 x 3 children, 1.0 x 3, 2.0 x 1: W 7, sum 6.5
    g = got[None]
    assert g["value"].tolist()[1:] == [0.5, 1.0, 2.0]
    assert g["population_share"].tolist() == pytest.approx([0, 3 / 7, 6 / 7, 1], rel=1e-15)
    assert g["value_share"].tolist() == pytest.approx([0, 1.5 / 6.5, 4.5 / 6.5, 1], rel=1e-15)
    assert got["urban"]["population_share"].tolist() == [0.0, 1.0]


def test_the_reference_is_spatial_equity():
    """The row-by-row reference above gives spatial_equity's tables (so the piece tests
    compare with an independent rule)."""
    rng = np.random.default_rng(9)
    for negative, zeros in ((False, True), (True, False)):
        cells = province(500, rng, negative=negative, zeros=zeros)
        for got, want in zip(spatial_equity(cells, **KW), reference(cells, **KW), strict=True):
            assert_same(got, want)


def test_on_the_pieces_a_cluster_run_keeps(client, tmp_path):
    """The protocol on geoequity.distributed.KeptCells: the tiny line of tests/_cases.py in two
    partitions (West a-c, East d-e; 100, 100, 100, 100, 400 children). 2SFCA at 600 m: A's
    150 seats for a and b (200 children) give 0.75, B's 300 for d and e (500) 0.6; c reaches
    none (NaN). Gini by hand: pairs 2 * 200 * 500 * 0.15 = 30,000 over 2 * 700 * 450: 1/21."""
    from _cases import tiny_pieces

    from geoequity.equity import (
        LorenzPiece,
        lorenz_at,
        lorenz_of,
        lorenz_piece,
        lorenz_values,
    )

    kept, pieces, _, _ = tiny_pieces(client, tmp_path)
    kw = dict(cost_col="nearest_cost", gap_col=None, groups=("district",), threshold=600.0)
    try:
        pieces.update(lambda p: p.assign(district=["West" if i in "abc" else "East"
                                                   for i in p.index]), what="district")
        full = pieces.each(equity_piece, what="equity", **kw)
        small = pieces.collect([client.submit(EquityPiece.small, f) for f in full])
        bounds = equity_bounds(small)
        labels = equity_labels(small)
        ranges = pieces.by_ranges(equity_split, full, equity_range, len(bounds) + 1, bounds,
                                  labels, what="gini", meta=equity_split(small[0], bounds,
                                                                         labels))
        table, th = spatial_equity_of(small, ranges)
        del full
        lor = pieces.each(lorenz_piece, what="lorenz", by=None)
        values = lorenz_values(pieces.collect([client.submit(LorenzPiece.small, f)
                                               for f in lor]))
        curves = lorenz_of(values, pieces.collect([client.submit(lorenz_at, f, values)
                                                   for f in lor]))
        del lor
        whole = pieces.gather()
    finally:
        pieces.release()
        kept.release()
    assert bounds.tolist() == []   # the rule: one range for a few cells
    assert table["gini"].iloc[0] == pytest.approx(1 / 21, rel=1e-14)
    assert whole.sort_index()["access"].tolist() == pytest.approx(
        [0.75, 0.75, np.nan, 0.6, 0.6], nan_ok=True)
    want = reference(whole, **kw)
    assert_same(table, want[0])
    assert_same(th, want[1])
    # 0.6 for 500 of 700 children holding 300 of 450 seats-per-child units, then 0.75
    assert curves[None]["value"].tolist()[1:] == [0.6, 0.75]
    assert curves[None]["population_share"].tolist() == pytest.approx([0, 5 / 7, 1])
    assert curves[None]["value_share"].tolist() == pytest.approx([0, 300 / 450, 1])


def test_twelve_pieces_on_a_cluster_take_a_task_per_piece_and_per_range(client):
    """12 pieces held by the workers (KeptCells), 5 ranges: the tasks of the Gini's pair sums
    are one per piece (it splits its rows and sends them on: the shuffle's transfer), one
    more per piece (the shuffle's), one per range twice (the shuffle's unpacking, the range's
    sums: equity_range) and the shuffle's barrier, 2 P + 2 R + 1 = 35 (O(P + R)), not one
    per pair of pieces (66); range r is the shuffle's output r, whole, and the tables are
    the in-process ones."""
    from distributed import get_task_stream
    from distributed.utils import key_split

    from geoequity.distributed import KeptCells

    rng = np.random.default_rng(12)
    cells = province(6000, rng)
    frames = split(cells, 12, rng)
    futures = client.scatter(frames)
    pieces = KeptCells(client, futures, [f"p{i}" for i in range(12)])
    try:
        full = pieces.each(equity_piece, what="equity", **KW)
        small = pieces.collect(pieces.each_result(EquityPiece.small, full, what="small"))
        bounds = equity_bounds(small, ranges=5)
        labels = equity_labels(small)
        with get_task_stream(client) as stream:
            ranges = pieces.by_ranges(equity_split, full, equity_range, len(bounds) + 1,
                                      bounds, labels, what="gini",
                                      meta=equity_split(small[0], bounds, labels))
        pieces.drop(full)
    finally:
        pieces.release()
    assert len(bounds) == 4
    # (a warm-up an earlier test's run left to the shared cluster may land in the stream)
    kinds = pd.Series([key_split(t["key"]) for t in stream.data
                       if not str(t["key"]).startswith("geoequity-warm-up")]
                      ).value_counts().to_dict()
    assert sum(kinds.values()) <= 2 * 12 + 2 * 5 + 1 < 12 * 11 // 2, kinds
    assert sum(n for k, n in kinds.items() if k.startswith("gini")) == 12, kinds   # splits
    assert sum(n for k, n in kinds.items() if "shuffle-transfer" in k) == 12, kinds
    assert len(ranges) == 5   # one result per output of the shuffle
    # each range whole in one result, one range a result (the shuffle's output r)
    held = [sorted(set(r.loc[r.grouping == "all", "range"])) for r in ranges]
    assert held == [[0], [1], [2], [3], [4]]
    want = reference(cells, **KW)
    table, th = spatial_equity_of(small, ranges)
    assert_same(table, want[0])
    assert_same(th, want[1])
