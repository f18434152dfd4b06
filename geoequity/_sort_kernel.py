"""Compiled ordering of a long cost table by origin, then cost, then destination (numba).

``np.lexsort((destination, cost, origin))`` sorts every row against every other; the rows of a
cost table fall into one short run per origin. This counts the rows per origin (a stable
counting sort, linear), then sorts each origin's run by cost and destination on copies of its
keys (contiguous): insertion sort of runs of up to :data:`SHORT` rows, then a bottom-up merge
of those, taking from the left run on ties, so that rows equal in both keys keep their order.
Same order as the lexsort, ties included.

Written as plain loops (no ``np.argsort`` and no fancy indexing inside the kernel): numba
compiles it in about 1.3 s on the first use after an install, where the version with two
``np.argsort(kind="mergesort")`` calls took 4.4 s alone and 6.5 s, with 450 MB more at the
run's peak, inside a province's first run (``docs/scale.md``, "The first run after an
install"); it also orders the province's 12.9 M pairs about twice as fast.
"""

from __future__ import annotations

import numpy as np
from numba import njit

SHORT = 48   # runs of up to this many rows are insertion-sorted, then merged


@njit(cache=True)
def origin_cost_order(oi, cost, di, n_o):  # pragma: no cover - compiled by numba
    n = len(oi)
    start = np.zeros(n_o + 1, np.int64)
    for i in range(n):
        start[oi[i] + 1] += 1
    longest = 0
    for o in range(n_o):
        longest = max(longest, start[o + 1])
        start[o + 1] += start[o]
    fill = start[:-1].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        o = oi[i]
        order[fill[o]] = i
        fill[o] += 1
    # one run's keys (cost, destination, row) and the merge's second buffer
    kc, kd, kr = (np.empty(longest, cost.dtype), np.empty(longest, di.dtype),
                  np.empty(longest, np.int64))
    bc, bd, br = (np.empty(longest, cost.dtype), np.empty(longest, di.dtype),
                  np.empty(longest, np.int64))
    for o in range(n_o):
        a, z = start[o], start[o + 1]
        m = z - a
        if m < 2:
            continue
        for k in range(m):
            r = order[a + k]
            kc[k], kd[k], kr[k] = cost[r], di[r], r
        rows = _sort_run(kc, kd, kr, bc, bd, br, m)
        for k in range(m):
            order[a + k] = rows[k]
    return order


@njit(cache=True)
def _sort_run(kc, kd, kr, bc, bd, br, m):  # pragma: no cover - compiled by numba
    """Sort the first ``m`` keys ``(kc, kd)`` with their rows ``kr``, stably; the rows in
    order (in ``kr`` or ``br``: the merge goes back and forth between the two buffers)."""
    for lo in range(0, m, SHORT):   # insertion sort of runs of SHORT
        hi = min(lo + SHORT, m)
        for k in range(lo + 1, hi):
            c, d, r = kc[k], kd[k], kr[k]
            j = k - 1
            while j >= lo and (kc[j] > c or (kc[j] == c and kd[j] > d)):
                kc[j + 1], kd[j + 1], kr[j + 1] = kc[j], kd[j], kr[j]
                j -= 1
            kc[j + 1], kd[j + 1], kr[j + 1] = c, d, r
    width = SHORT
    sc, sd, sr, tc, td, tr = kc, kd, kr, bc, bd, br
    while width < m:   # merge pairs of sorted runs, the left one first on ties
        for lo in range(0, m, 2 * width):
            mid = min(lo + width, m)
            hi = min(lo + 2 * width, m)
            i, j = lo, mid
            for k in range(lo, hi):
                if j >= hi or (i < mid and not (sc[j] < sc[i]
                                                or (sc[j] == sc[i] and sd[j] < sd[i]))):
                    tc[k], td[k], tr[k] = sc[i], sd[i], sr[i]
                    i += 1
                else:
                    tc[k], td[k], tr[k] = sc[j], sd[j], sr[j]
                    j += 1
        sc, sd, sr, tc, td, tr = tc, td, tr, sc, sd, sr
        width *= 2
    return sr
