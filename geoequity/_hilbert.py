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
    return _keys(_grid(x, side), _grid(y, side), side)


def _keys(gx: np.ndarray, gy: np.ndarray, side: int) -> np.ndarray:
    """The Hilbert index of each grid square ``(gx, gy)`` on a ``side`` x ``side`` grid."""
    key = np.zeros(len(gx), dtype=np.int64)
    for i in range(len(gx)):
        x, y, k = gx[i], gy[i], 0
        s = side // 2
        while s > 0:
            rx = 1 if x & s else 0
            ry = 1 if y & s else 0
            k += s * s * ((3 * rx) ^ ry)
            if ry == 0:   # rotate the quadrant so that the curve stays continuous
                if rx == 1:
                    x, y = s - 1 - x, s - 1 - y
                x, y = y, x
            s //= 2
        key[i] = k
    return key


try:   # compiled: a loop per point (the numpy version took 0.2-0.4 s for 560,000 points)
    from numba import njit

    _keys = njit(cache=True, nogil=True)(_keys)
except ImportError:   # pragma: no cover - numba not installed: the loop in Python
    pass


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
