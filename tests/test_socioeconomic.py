"""Concentration index (standard, Erreygers) and the FGT poverty family.

Every expected value is computed here by hand (plain Python loops over the definitions of
O'Donnell, van Doorslaer, Wagstaff and Lindelow 2008, "Analyzing Health Equity Using Household
Survey Data", ch. 8, and Ipea ``accessibility``'s ``concentration_index`` / ``fgt_poverty``),
independently of the vectorised code, and cross-checked with the "convenient regression".
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from geoequity import InputError
from geoequity.equity import concentration_index, fgt_poverty, fractional_rank


def _loop_rank(x, w):
    """r_i = (weight strictly poorer + half the weight ranked equal) / total, by loops."""
    total = sum(w)
    out = []
    for xi in x:
        below = sum(wj for xj, wj in zip(x, w) if xj < xi)
        equal = sum(wj for xj, wj in zip(x, w) if xj == xi)
        out.append((below + equal / 2) / total)
    return out


def _loop_ci(h, x, w):
    total = sum(w)
    r = _loop_rank(x, w)
    mu = sum(wi * hi for wi, hi in zip(w, h)) / total
    rbar = sum(wi * ri for wi, ri in zip(w, r)) / total
    cov = sum(wi * (hi - mu) * (ri - rbar) for wi, hi, ri in zip(w, h, r)) / total
    return 2 * cov / mu, mu


def test_ci_by_hand_four_people():
    # ranks 1/8, 3/8, 5/8, 7/8; mean 2.5; cov = 1.25 / 4; CI = 2 * 0.3125 / 2.5 = 0.25,
    # which is (n - 1) / (3n) for h = rank (the textbook closed form)
    assert concentration_index([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(0.25)
    # the value falls as income rises: the mirror image
    assert concentration_index([4, 3, 2, 1], [10, 20, 30, 40]) == pytest.approx(-0.25)
    # Erreygers with the observed bounds 1..4: 4 * 2.5 / 3 * 0.25
    assert concentration_index([1, 2, 3, 4], [10, 20, 30, 40], kind="erreygers") == \
        pytest.approx(4 * 2.5 / 3 * 0.25)
    assert concentration_index([1, 2, 3, 4], [10, 20, 30, 40], kind="erreygers",
                               bounds=(0, 10)) == pytest.approx(4 * 2.5 / 10 * 0.25)
    # equal values: no concentration
    assert concentration_index([2, 2, 2], [1, 5, 9]) == 0.0


def test_ci_weighted_matches_loops_and_regression():
    rng = np.random.default_rng(7)
    h = rng.gamma(2.0, 1.0, 40)
    x = rng.integers(0, 12, 40).astype(float)   # many ties in the ranking variable
    w = rng.integers(1, 9, 40).astype(float)
    want, mu = _loop_ci(list(h), list(x), list(w))
    got = concentration_index(h, x, w)
    assert got == pytest.approx(want, rel=1e-12)
    # convenient regression (O'Donnell et al. 2008, eq. 8.5): weighted least squares of
    # 2 var(r) h / mu on r; the slope is the CI
    r = np.array(_loop_rank(list(x), list(w)))
    p = w / w.sum()
    var_r = np.sum(p * (r - np.sum(p * r)) ** 2)
    lhs = 2 * var_r * h / mu
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(np.column_stack([np.ones_like(r), r]) * sw[:, None], lhs * sw,
                               rcond=None)
    assert got == pytest.approx(coef[1], rel=1e-9)
    # Erreygers: 4 mu / (b - a) times the standard index
    e = concentration_index(h, x, w, kind="erreygers")
    assert e == pytest.approx(4 * mu / (h.max() - h.min()) * want, rel=1e-12)


def test_integer_weights_mean_replicated_people():
    h, x, w = [3.0, 1.0, 2.0], [5.0, 1.0, 3.0], [2, 1, 3]
    rep_h = [v for v, k in zip(h, w) for _ in range(k)]
    rep_x = [v for v, k in zip(x, w) for _ in range(k)]
    # replicas of one person tie in rank, so they share the rank of their block: same index
    assert concentration_index(h, x, w) == pytest.approx(concentration_index(rep_h, rep_x))


def test_fractional_rank_ties_averaged():
    # incomes 5, 5, 9, 1 with weights 1, 3, 2, 2 (total 8): 1 -> 1/8; the tied 5s hold weight
    # 4 after 2 people: (2 + 4/2)/8 = 0.5 both; 9 -> (6 + 1)/8
    got = fractional_rank([5, 5, 9, 1], [1, 3, 2, 2])
    assert got.tolist() == pytest.approx([0.5, 0.5, 7 / 8, 1 / 8])
    assert fractional_rank([3, 3, 3]).tolist() == pytest.approx([0.5, 0.5, 0.5])


def test_ci_skips_missing_and_checks_input():
    assert concentration_index([1, np.nan, 2, 3, 4], [10, 15, 20, 30, 40]) == pytest.approx(0.25)
    assert concentration_index([1, 2, 3, 4, 9], [10, 20, 30, 40, np.nan]) == pytest.approx(0.25)
    assert np.isnan(concentration_index([0, 0], [1, 2]))
    with pytest.raises(InputError):
        concentration_index([1, 2], [1, 2], kind="corrected")
    with pytest.raises(InputError):
        concentration_index([1, 2], [1, 2, 3])
    with pytest.raises(InputError):
        concentration_index([1, 2], [1, 2], kind="erreygers", bounds=(2, 1))


def test_fgt_by_hand():
    y, z = [1, 2, 3, 4], 3.0
    # poor: 1 and 2 (3 is not below the line); gaps 2/3 and 1/3
    assert fgt_poverty(y, z, alpha=0) == pytest.approx(0.5)
    assert fgt_poverty(y, z, alpha=1) == pytest.approx((2 / 3 + 1 / 3) / 4)
    assert fgt_poverty(y, z, alpha=2) == pytest.approx((4 / 9 + 1 / 9) / 4)
    # weights 1, 1, 1, 5: FGT1 = (2/3 + 1/3) / 8
    assert fgt_poverty(y, z, [1, 1, 1, 5], alpha=1) == pytest.approx(1 / 8)
    assert fgt_poverty([np.nan, 5.0], z) == 0.0
    with pytest.raises(InputError):
        fgt_poverty(y, 0)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "geoequity", *args], capture_output=True,
                          text=True)


def test_cli_keys(tmp_path):
    f = tmp_path / "cells.csv"
    pd.DataFrame({"access": [1, 2, 3, 4, None], "children": [1, 1, 1, 5, 3],
                  "income": [10, 20, 30, 40, 50]}).to_csv(f, index=False)
    p = _cli("equity", str(f), "--value", "access", "--weight", "children", "--rank", "income",
             "--poverty-line", "3", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    # by hand: ranks (weights 1,1,1,5, total 8) 1/16, 3/16, 5/16, 11/16; mean 26/8
    r, h, w = [1 / 16, 3 / 16, 5 / 16, 11 / 16], [1, 2, 3, 4], [1, 1, 1, 5]
    mu = sum(a * b for a, b in zip(h, w)) / 8
    rbar = sum(a * b for a, b in zip(r, w)) / 8
    cov = sum(wi * (hi - mu) * (ri - rbar) for wi, hi, ri in zip(w, h, r)) / 8
    assert out["concentration_index"] == pytest.approx(2 * cov / mu)
    assert out["concentration_index_erreygers"] == pytest.approx(4 * mu / 3 * 2 * cov / mu)
    assert out["erreygers_bounds"] == [1.0, 4.0]
    assert out["fgt0"] == pytest.approx(2 / 8)
    assert out["fgt1"] == pytest.approx(1 / 8)
    assert out["fgt2"] == pytest.approx((4 / 9 + 1 / 9) / 8)
    p = _cli("equity", str(f), "--value", "access", "--rank", "income", "--bounds", "0,10",
             "--json")
    assert json.loads(p.stdout)["erreygers_bounds"] == [0.0, 10.0]


@pytest.mark.parametrize("flags, words", [
    (["--rank", "incme"], "no rank column 'incme'"),
    (["--rank", "income", "--bounds", "3"], "not two numbers"),
    (["--rank", "income", "--bounds", "5,1"], "not an increasing pair"),
    (["--bounds", "0,1"], "add --rank"),
    (["--poverty-line", "0"], "not above 0"),
])
def test_cli_bad_input(tmp_path, flags, words):
    f = tmp_path / "cells.csv"
    pd.DataFrame({"access": [1, 2], "income": [1, 2]}).to_csv(f, index=False)
    p = _cli("equity", str(f), "--value", "access", *flags)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and words in p.stderr, p.stderr
