"""Positions along a Hilbert curve: a sort key that keeps places close together in 2-D close
together in 1-D (used to number the assignment's solver nodes, :mod:`geoequity.assignment`)."""

from __future__ import annotations

import numpy as np

ORDER = 16   # a 65,536 x 65,536 grid over the points' extent


def hilbert_keys(x: np.ndarray, y: np.ndarray, *, order: int = ORDER) -> np.ndarray:
    """Hilbert index (``int64``) of each point on a ``2**order`` grid over their extent.

    Points in the same grid square share a key; NaN coordinates get the key of the lower-left
    corner. The classic iterative mapping (quadrant by quadrant, rotating the lower quadrants).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)
    side = 2**order
    gx = _grid(x, side)
    gy = _grid(y, side)
    key = np.zeros(len(x), dtype=np.int64)
    s = side // 2
    while s > 0:
        rx = (gx & s) > 0
        ry = (gy & s) > 0
        key += np.int64(s) * s * ((3 * rx) ^ ry)
        lower = ~ry   # rotate the quadrant so that the curve stays continuous
        flip = lower & rx
        gx = np.where(flip, s - 1 - gx, gx)
        gy = np.where(flip, s - 1 - gy, gy)
        gx, gy = np.where(lower, gy, gx), np.where(lower, gx, gy)
        s //= 2
    return key


def locality_keys(cx: np.ndarray, cy: np.ndarray, sx: np.ndarray, sy: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The assignment solver's locality keys (:func:`geoequity.pipeline.solver_locality`)
    from the cells' centres ``cx, cy`` and the schools' ``sx, sy``: Hilbert keys over their
    common extent, the cells' then the schools'."""
    keys = hilbert_keys(np.r_[cx, sx], np.r_[cy, sy])
    return keys[:len(cx)], keys[len(cx):]


def _grid(v: np.ndarray, side: int) -> np.ndarray:
    lo, hi = np.nanmin(v), np.nanmax(v)
    span = hi - lo if hi > lo else 1.0
    g = np.floor((np.nan_to_num(v, nan=lo) - lo) / span * (side - 1))
    return np.clip(g, 0, side - 1).astype(np.int64)
