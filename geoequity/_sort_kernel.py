"""Compiled ordering of a long cost table by origin, then cost, then destination (numba).

``np.lexsort((destination, cost, origin))`` sorts every row against every other; the rows of a
cost table fall into one short run per origin. This counts the rows per origin (a stable
counting sort, linear), then sorts each origin's run by cost and destination: insertion sort
for short runs, two stable merge sorts for long ones. Same order as the lexsort, ties included
(rows equal in all three keys keep their order).
"""

from __future__ import annotations

import numpy as np
from numba import njit

SHORT = 48   # runs up to this length are insertion-sorted


@njit(cache=True)
def origin_cost_order(oi, cost, di, n_o):  # pragma: no cover - compiled by numba
    n = len(oi)
    start = np.zeros(n_o + 1, np.int64)
    for i in range(n):
        start[oi[i] + 1] += 1
    for o in range(n_o):
        start[o + 1] += start[o]
    fill = start[:-1].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        o = oi[i]
        order[fill[o]] = i
        fill[o] += 1
    for o in range(n_o):
        a, z = start[o], start[o + 1]
        if z - a < 2:
            continue
        if z - a <= SHORT:
            for k in range(a + 1, z):
                row = order[k]
                c, d = cost[row], di[row]
                m = k - 1
                while m >= a and (cost[order[m]] > c
                                  or (cost[order[m]] == c and di[order[m]] > d)):
                    order[m + 1] = order[m]
                    m -= 1
                order[m + 1] = row
        else:
            seg = order[a:z]
            seg = seg[np.argsort(di[seg], kind="mergesort")]
            order[a:z] = seg[np.argsort(cost[seg], kind="mergesort")]
    return order
