"""Compiled bounded many-to-many Dijkstra (numba), used when numba is installed.

One call runs a Dijkstra from every source in turn on a CSR graph, stopping at ``limit``. The
distance array is shared between sources and reset only where the previous search wrote
(a "touched" list), so each search costs O(what it settles), not O(nodes): memory is one
N-vector plus the output. Targets hang off nodes (``tgt_ptr/tgt_id/tgt_cost``: the partial edge
cost from a node to the target point); a target's best cost from the current source is updated
when one of its nodes is settled. Without numba, :mod:`geoequity.costs` falls back to
``scipy.sparse.csgraph.dijkstra``.
"""

from __future__ import annotations

import numpy as np

try:  # optional accelerator
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised when numba is absent
    HAVE_NUMBA = False

    def njit(*args, **kwargs):
        def wrap(fn):
            return fn

        return wrap


@njit(cache=True, nogil=True)
def _push(hk, hv, size, key, val):
    i = size
    hk[i] = key
    hv[i] = val
    while i > 0:
        p = (i - 1) >> 1
        if hk[p] <= hk[i]:
            break
        hk[p], hk[i] = hk[i], hk[p]
        hv[p], hv[i] = hv[i], hv[p]
        i = p
    return size + 1


@njit(cache=True, nogil=True)
def _pop(hk, hv, size):
    key = hk[0]
    val = hv[0]
    size -= 1
    hk[0] = hk[size]
    hv[0] = hv[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        c = left
        if left + 1 < size and hk[left + 1] < hk[left]:
            c = left + 1
        if hk[i] <= hk[c]:
            break
        hk[c], hk[i] = hk[i], hk[c]
        hv[c], hv[i] = hv[i], hv[c]
        i = c
    return key, val, size


@njit(cache=True, nogil=True)
def bounded_many_to_many(indptr, indices, data, n, seed_node, seed_cost, limit,  # noqa: C901
                         tgt_ptr, tgt_id, tgt_cost, n_tgt):
    """Costs from each source to the targets reachable within ``limit``.

    Parameters
    ----------
    indptr, indices, data
        CSR graph (n nodes), non-negative costs.
    seed_node, seed_cost
        (n_sources, k) arrays: each source starts at these nodes with these costs (inf = none).
    limit
        Largest cost kept.
    tgt_ptr, tgt_id, tgt_cost
        For node x, targets ``tgt_id[tgt_ptr[x]:tgt_ptr[x+1]]`` reached from x at ``+ tgt_cost``.
    n_tgt
        Number of targets.

    Returns
    -------
    (src, tgt, cost) arrays of the pairs with cost <= limit.
    """
    ns = seed_node.shape[0]
    dist = np.full(n, np.inf)
    done = np.full(n, -1, np.int64)
    touched = np.empty(n, np.int64)
    best = np.full(n_tgt, np.inf)
    hit = np.empty(n_tgt, np.int64)
    cap = len(indices) + seed_node.size + 1
    hk = np.empty(cap, np.float64)
    hv = np.empty(cap, np.int64)
    out_cap = 1024
    out_s = np.empty(out_cap, np.int64)
    out_t = np.empty(out_cap, np.int64)
    out_c = np.empty(out_cap, np.float64)
    m = 0
    for s in range(ns):
        nt = 0
        nh = 0
        size = 0
        for j in range(seed_node.shape[1]):
            x = seed_node[s, j]
            c = seed_cost[s, j]
            if x >= 0 and c <= limit and c < dist[x]:
                if dist[x] == np.inf:
                    touched[nt] = x
                    nt += 1
                dist[x] = c
                size = _push(hk, hv, size, c, x)
        while size > 0:
            d, x, size = _pop(hk, hv, size)
            if done[x] == s or d > dist[x]:
                continue
            done[x] = s
            for k in range(tgt_ptr[x], tgt_ptr[x + 1]):
                t = tgt_id[k]
                c = d + tgt_cost[k]
                if c <= limit and c < best[t]:
                    if best[t] == np.inf:
                        hit[nh] = t
                        nh += 1
                    best[t] = c
            for k in range(indptr[x], indptr[x + 1]):
                y = indices[k]
                nd = d + data[k]
                if nd <= limit and nd < dist[y]:
                    if dist[y] == np.inf:
                        touched[nt] = y
                        nt += 1
                    dist[y] = nd
                    size = _push(hk, hv, size, nd, y)
        if m + nh > out_cap:
            while m + nh > out_cap:
                out_cap *= 2
            a = np.empty(out_cap, np.int64)
            a[:m] = out_s[:m]
            out_s = a
            b = np.empty(out_cap, np.int64)
            b[:m] = out_t[:m]
            out_t = b
            cc = np.empty(out_cap, np.float64)
            cc[:m] = out_c[:m]
            out_c = cc
        for i in range(nh):
            t = hit[i]
            out_s[m] = s
            out_t[m] = t
            out_c[m] = best[t]
            m += 1
            best[t] = np.inf
        for i in range(nt):
            dist[touched[i]] = np.inf
    return out_s[:m], out_t[:m], out_c[:m]
