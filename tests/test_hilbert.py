"""Hilbert keys (geoequity._hilbert): the sort key of the assignment's node numbering."""

from __future__ import annotations

import numpy as np

from geoequity._hilbert import hilbert_keys


def test_first_order_curve_visits_the_four_quadrants_in_order():
    # lower left, upper left, upper right, lower right (the curve's U shape)
    keys = hilbert_keys(np.array([0.0, 0.0, 1.0, 1.0]), np.array([0.0, 1.0, 1.0, 0.0]), order=1)
    assert keys.tolist() == [0, 1, 2, 3]


def test_consecutive_keys_are_grid_neighbours():
    # a 8 x 8 grid at order 3: every square gets its own key, and walking the keys in order
    # moves one square at a time (the property that keeps neighbours together)
    xs, ys = np.meshgrid(np.arange(8.0), np.arange(8.0))
    keys = hilbert_keys(xs.ravel() * 100 + 5, ys.ravel() * 100 + 5, order=3)
    assert sorted(keys.tolist()) == list(range(64))
    o = np.argsort(keys)
    steps = np.abs(np.diff(xs.ravel()[o])) + np.abs(np.diff(ys.ravel()[o]))
    assert (steps == 1).all()


def test_empty_and_single_point():
    assert hilbert_keys(np.zeros(0), np.zeros(0)).tolist() == []
    assert hilbert_keys(np.array([3.0]), np.array([4.0])).tolist() == [0]
