"""Small array helpers shared by the network modules (no geoequity imports: the bottom layer).

- :func:`csr_min`: a CSR matrix keeping the cheapest of parallel entries (``graph``, ``contract``).
- :func:`morton`: Z-order codes of points (``contract`` numbers junctions by it, ``snap`` orders
  large queries by it).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def csr_min(rows: np.ndarray, cols: np.ndarray, data: np.ndarray, n: int) -> sp.csr_matrix:
    """CSR matrix keeping the minimum of duplicate (row, col) entries (scipy would sum them).

    Explicit zeros are kept: scipy.sparse.csgraph treats stored zeros as zero-cost edges.
    """
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    data = np.asarray(data, dtype=np.float64)
    key = rows * n + cols
    order = np.argsort(key, kind="stable")
    key, rows, cols, data = key[order], rows[order], cols[order], data[order]
    if len(rows):
        first = np.r_[True, key[1:] != key[:-1]]
        if not first.all():  # parallel edges: keep the cheapest
            starts = np.flatnonzero(first)
            data = np.minimum.reduceat(data, starts)
            rows, cols = rows[starts], cols[starts]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    m = sp.csr_matrix((data, cols.astype(np.int32 if n < 2**31 else np.int64), indptr),
                      shape=(n, n))
    m.has_sorted_indices = True
    return m


def morton(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Z-order (Morton) code of points on a 65,536 x 65,536 lattice over their extent."""
    def spread(v):
        v = (v | (v << 16)) & np.uint64(0x0000FFFF0000FFFF)
        v = (v | (v << 8)) & np.uint64(0x00FF00FF00FF00FF)
        v = (v | (v << 4)) & np.uint64(0x0F0F0F0F0F0F0F0F)
        v = (v | (v << 2)) & np.uint64(0x3333333333333333)
        return (v | (v << 1)) & np.uint64(0x5555555555555555)

    if len(x) == 0:
        return np.zeros(0, np.uint64)
    qx = ((x - x.min()) / (np.ptp(x) + 1e-9) * 65535).astype(np.uint64)
    qy = ((y - y.min()) / (np.ptp(y) + 1e-9) * 65535).astype(np.uint64)
    return spread(qx) | (spread(qy) << np.uint64(1))
