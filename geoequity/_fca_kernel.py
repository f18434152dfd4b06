"""Fused floating-catchment kernels (numba): both 2SFCA steps straight from the cost columns.

The NumPy path of :mod:`geoequity.access` codes the whole table first (threshold mask, id
lookup, duplicate check), which allocates several arrays as long as the table; on tens of
millions of rows that memory traffic, not the arithmetic, is the cost. Here the raw
``origin``/``destination``/``cost`` columns are read in place and nothing row-sized is kept:

* rows with ``cost <= t`` are coded (id -> position through a lookup table) and checked
  against a bitmap of the pairs seen so far (a duplicated pair is a fallback, see below);
* binary catchment on a dense table (cells x schools <= 8 x rows): the bitmap *is* the
  catchment, and both steps read it instead of the table;
* otherwise the table is read twice in blocks of 2^20 rows: step 1 adds ``w_ij P_i`` per
  school, step 2 adds ``w_ij S_j / children_j`` per cell; decay weights are computed per block
  (small, cache-warm temporaries; memory stays O(block)).

Anything unusual (a duplicated pair, a missing or negative cost, a negative or infinite decay
weight) makes it return ``None``: the caller then runs the NumPy path, which keeps the lowest
cost of a duplicated pair or reports the bad row. Rows naming an origin or school that is not in
the inputs are skipped and counted, as in the NumPy path. Sums run in table order, so results
equal the NumPy path to rounding.
"""

from __future__ import annotations

import numpy as np

from geoequity._progress import compile_notice
from geoequity.pairs import id_lut

try:  # optional accelerator
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised when numba is absent
    HAVE_NUMBA = False

OK, DUPLICATE, BAD_COST, BAD_WEIGHT = 0, 1, 2, 3
MAX_BITMAP_PAIRS = 1 << 31   # origin x school pairs the pair bitmap may cover (256 MB)
BLOCK = 1 << 20             # rows per block when the table is read twice


def _code_within(orig, dest, cost, t, olut, olo, dlut, dlo, n_s, seen, check, ii,
                 jj, cc):  # pragma: no cover - compiled by numba; checked through access tests
    """Rows with ``cost <= t`` -> positions (``ii``, ``jj``) and costs ``cc`` (when given).

    With ``check``, marks each pair in the bitmap ``seen`` and stops at a duplicated one.
    Returns ``(status, rows kept, rows with unknown ids)``; stops at a missing or negative
    cost (status) so the caller can fall back.
    """
    k = 0
    unknown = 0
    no = olut.shape[0]
    nd = dlut.shape[0]
    store = ii.shape[0] > 0
    for r in range(cost.shape[0]):
        c = cost[r]
        if not c <= t:
            if c != c:
                return BAD_COST, k, unknown
            continue
        if c < 0.0:
            return BAD_COST, k, unknown
        o = orig[r] - olo
        d = dest[r] - dlo
        if o < 0 or o >= no or d < 0 or d >= nd:
            unknown += 1
            continue
        i = olut[o]
        j = dlut[d]
        if i < 0 or j < 0:
            unknown += 1
            continue
        if check:
            key = np.int64(i) * n_s + j
            byte = key >> 3
            bit = np.uint8(1 << (key & 7))
            if seen[byte] & bit:
                return DUPLICATE, k, unknown
            seen[byte] |= bit
        if store:
            ii[k] = i
            jj[k] = j
            cc[k] = c
        k += 1
    return OK, k, unknown


def _binary_fca(seen, dem, sup, n_o, n_s):  # pragma: no cover - compiled by numba
    """2SFCA from the pair bitmap alone (binary catchment: a pair is in or out)."""
    catch = np.zeros(n_s)
    for i in range(n_o):
        if dem[i] == 0.0:
            continue
        base = np.int64(i) * n_s
        for j in range(n_s):
            key = base + j
            if seen[key >> 3] & (1 << (key & 7)):
                catch[j] += dem[i]
    ratio = np.zeros(n_s)
    for j in range(n_s):
        if catch[j] > 0:
            ratio[j] = sup[j] / catch[j]
    acc = np.zeros(n_o)
    reached = np.zeros(n_o, np.bool_)
    for i in range(n_o):
        base = np.int64(i) * n_s
        a = 0.0
        hit = False
        for j in range(n_s):
            key = base + j
            if seen[key >> 3] & (1 << (key & 7)):
                a += ratio[j]
                hit = True
        acc[i] = a
        reached[i] = hit
    return catch, acc, reached


def _add_children(ii, jj, w, dem, catch):  # pragma: no cover - compiled by numba
    """Step 1 on one block: ``children_j += w_ij P_i``; False on a bad weight."""
    for k in range(ii.shape[0]):
        wk = w[k]
        if not (wk >= 0.0 and wk < np.inf):
            return False
        catch[jj[k]] += dem[ii[k]] * wk
    return True


def _add_access(ii, jj, w, ratio, acc, reached):  # pragma: no cover - compiled by numba
    """Step 2 on one block: ``A_i += w_ij R_j``."""
    for k in range(ii.shape[0]):
        acc[ii[k]] += ratio[jj[k]] * w[k]
        reached[ii[k]] = True


if HAVE_NUMBA:
    _code_within = njit(cache=True, nogil=True)(_code_within)
    _binary_fca = njit(cache=True, nogil=True)(_binary_fca)
    _add_children = njit(cache=True, nogil=True)(_add_children)
    _add_access = njit(cache=True, nogil=True)(_add_access)


def _columns(costs, dem_index, sup_index):
    """The raw id/cost columns and the id lookup tables, or ``None`` when they do not fit."""
    cols = []
    for name in ("origin", "destination"):
        col = costs[name]
        if not (isinstance(col.dtype, np.dtype) and np.issubdtype(col.dtype, np.integer)):
            return None
        cols.append(col.to_numpy())
    if not (np.issubdtype(np.asarray(dem_index).dtype, np.integer)
            and np.issubdtype(np.asarray(sup_index).dtype, np.integer)):
        return None
    if costs["cost"].dtype != np.float64:
        return None
    ol = id_lut(np.asarray(dem_index))
    dl = id_lut(np.asarray(sup_index))
    if ol is None or dl is None:
        return None
    return cols[0], cols[1], costs["cost"].to_numpy(), (ol[0], ol[1], dl[0], dl[1])


def fca(costs, dem_index, dem: np.ndarray, sup_index, sup: np.ndarray, t: float,
        weight_fn=None):
    """Both FCA steps without row-sized arrays, or ``None`` when this path does not apply.

    Returns ``(catch, acc, reached, unknown_rows)``: weighted children per school, the
    accessibility per demand position, whether each demand cell reaches a school, and how many
    rows named unknown ids. ``None`` means: use the NumPy path (no numba, non-integer ids,
    ids too sparse for a lookup table, a duplicated pair, a bad cost or weight).
    """
    n_o, n_s = len(dem_index), len(sup_index)
    if not HAVE_NUMBA or n_o * n_s > MAX_BITMAP_PAIRS or n_s == 0:
        return None
    found = _columns(costs, dem_index, sup_index)
    if found is None:
        return None
    orig, dest, cost, luts = found
    return _run(orig, dest, cost, luts, dem, sup, t, weight_fn)


def fca_coded(origin: np.ndarray, destination: np.ndarray, cost: np.ndarray, dem: np.ndarray,
              sup: np.ndarray, t: float, weight_fn=None):
    """:func:`fca` on a table already coded to positions (:class:`geoequity.pairs.Pairs`).

    Positions are integers whatever the ids were, so this path serves text ids too: the lookup
    tables are the identity. Sums run in table order (the blockwise pass, never the bitmap
    one), so the numbers equal the NumPy path's exactly. Same returns as :func:`fca`.
    """
    n_o, n_s = len(dem), len(sup)
    if not HAVE_NUMBA or n_o * n_s > MAX_BITMAP_PAIRS or n_s == 0 or n_o == 0:
        return None
    luts = (np.arange(n_o, dtype=np.int64), 0, np.arange(n_s, dtype=np.int64), 0)
    return _run(origin, destination, cost, luts, dem, sup, t, weight_fn, dense=False)


def _run(orig, dest, cost, luts, dem, sup, t, weight_fn, *, dense=True):
    compile_notice((_code_within, _binary_fca, _add_children, _add_access),
                   "the fast catchment kernels", 5)
    n_o, n_s = len(dem), len(sup)
    seen = np.zeros((n_o * n_s + 7) // 8, dtype=np.uint8)
    dem = np.ascontiguousarray(dem, dtype=np.float64)
    sup = np.ascontiguousarray(sup, dtype=np.float64)
    t = float(t)
    if dense and weight_fn is None and n_o * n_s <= 8 * len(cost):
        none = np.zeros(0, np.int32)
        status, _, unknown = _code_within(orig, dest, cost, t, *luts, n_s, seen, True, none,
                                          none, np.zeros(0))
        if status != OK:
            return None
        catch, acc, reached = _binary_fca(seen, dem, sup, n_o, n_s)
        return catch, acc, reached, int(unknown)
    return _blockwise(orig, dest, cost, t, luts, seen, dem, sup, weight_fn)


def _blockwise(orig, dest, cost, t, luts, seen, dem, sup, weight_fn):
    """Read the table twice in blocks: step 1 children per school, step 2 access per cell."""
    n_o, n_s = len(dem), len(sup)
    block = min(len(cost), BLOCK)
    ii, jj, cc = np.empty(block, np.int32), np.empty(block, np.int32), np.empty(block)
    catch = np.zeros(n_s)
    acc = np.zeros(n_o)
    reached = np.zeros(n_o, dtype=bool)
    ratio = np.zeros(n_s)
    unknown = 0
    for step in (1, 2):
        check = step == 1   # step 2 re-reads pairs already checked
        for a in range(0, len(cost), BLOCK):
            status, k, unk = _code_within(orig[a:a + BLOCK], dest[a:a + BLOCK],
                                          cost[a:a + BLOCK], t, *luts, n_s, seen, check,
                                          ii, jj, cc)
            if status != OK:
                return None
            w = cc[:k]
            if weight_fn is None:
                w[:] = 1.0
            else:
                with np.errstate(all="ignore"):
                    w[:] = weight_fn(w)
            if step == 2:
                _add_access(ii[:k], jj[:k], w, ratio, acc, reached)
                continue
            unknown += unk
            if not _add_children(ii[:k], jj[:k], w, dem, catch):
                return None
        np.divide(sup, catch, out=ratio, where=catch > 0)
    return catch, acc, reached, int(unknown)
