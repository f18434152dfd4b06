"""Decay weights: PySAL ``access.weights`` values and the published formulas."""

from __future__ import annotations

import numpy as np
import pytest

from geoequity import InputError
from geoequity.decay import decay_reach, make_decay, parse_steps


def test_step_matches_pysal_docstring():
    # access.weights.step_fn({20: 1, 40: 0.68, 60: 0.22}) on 0..70 step 10 (PySAL docstring)
    f = make_decay("step", "20:1,40:0.68,60:0.22")
    got = f(np.arange(0, 71, 10, dtype=float))
    assert got.tolist() == [1, 1, 1, 0.68, 0.68, 0.22, 0.22, 0]
    assert parse_steps({10: 1, 5: 0.5}) == {5.0: 0.5, 10.0: 1.0}
    assert decay_reach("step", "10:1,30:0.2") == 30.0


def test_gaussian_matches_pysal_docstring():
    f = make_decay("gaussian", 20)
    np.testing.assert_allclose(f(np.array([0.0, 20, 40, 60])),
                               [1.0, 0.6065306597126334, 0.1353352832366127,
                                0.011108996538242306], rtol=1e-15)


def test_dai_linear_exponential_power():
    d0 = 1000.0
    dai = make_decay("dai", threshold=d0)
    e = np.exp(-0.5)
    assert dai(np.array([0.0]))[0] == pytest.approx(1.0)
    assert dai(np.array([d0]))[0] == pytest.approx(0.0, abs=1e-15)
    assert dai(np.array([500.0]))[0] == pytest.approx((np.exp(-0.125) - e) / (1 - e))
    assert dai(np.array([1500.0]))[0] == 0.0
    lin = make_decay("linear", 400)
    assert lin(np.array([100.0, 400.0, 800.0])).tolist() == [0.75, 0.0, 0.0]
    ex = make_decay("exponential", 0.001)
    assert ex(np.array([1000.0]))[0] == pytest.approx(np.exp(-1))
    # PySAL weights.gravity(scale=20, alpha=-2, min_dist=1) docstring values use scale 20;
    # ours: (max(d, d_min) / d_min)^-beta with d_min = 20 gives the same for d >= 20
    pw = make_decay("power", "2:20")
    np.testing.assert_allclose(pw(np.array([0.0, 20.0, 40.0, 60.0])),
                               [1.0, 1.0, 0.25, 1 / 9])


def test_errors():
    with pytest.raises(InputError, match="needs"):
        make_decay("gaussian")
    with pytest.raises(InputError, match="unknown decay"):
        make_decay("cubic", 1)
    with pytest.raises(InputError, match="COST:WEIGHT"):
        make_decay("step", "10,20")
