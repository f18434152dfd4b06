"""Compiled bounded many-to-many Dijkstra (numba), used when numba is installed.

One call runs a Dijkstra from every source in turn on a CSR graph, stopping at ``limit``. The
priority queue is a 4-ary heap indexed by node (``pos``): a node sits in it at most once and an
improved distance moves it up in place (decrease-key) instead of adding a stale entry; four
children per slot make it shallower than a binary heap (about 25 % faster on Porto Alegre). The
distance and heap-position arrays are shared between sources and reset only where the previous
search wrote (a "touched" list), so each search costs O(what it settles), not O(nodes): memory is
a few N-vectors plus the output. Targets hang off nodes (``tgt_ptr/tgt_id/tgt_cost``: the partial
edge cost from a node to the target point); a target's best cost from the current source is
updated when one of its nodes is settled. The kernel releases the GIL (``nogil``), so
:mod:`geoequity.costs` runs chunks of sources in parallel threads. Without numba,
:mod:`geoequity.costs` falls back to ``scipy.sparse.csgraph.dijkstra``.
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


@njit(cache=True, nogil=True, inline="always")
def _sift_up(hk, hv, pos, i, key, node):
    """Place ``node`` with ``key`` at slot ``i`` of the 4-ary heap and sift it up."""
    while i > 0:
        p = (i - 1) >> 2
        if hk[p] <= key:
            break
        hk[i] = hk[p]
        hv[i] = hv[p]
        pos[hv[i]] = i
        i = p
    hk[i] = key
    hv[i] = node
    pos[node] = i


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
    pos = np.full(n, -1, np.int64)  # heap slot; -1 not queued, -2 settled
    touched = np.empty(n, np.int64)
    hk = np.empty(n, np.float64)  # heap keys (distances) ...
    hv = np.empty(n, np.int64)  # ... and nodes
    best = np.full(n_tgt, np.inf)
    hit = np.empty(n_tgt, np.int64)
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
            if x < 0 or not (c <= limit) or c >= dist[x]:
                continue
            if pos[x] == -1:
                touched[nt] = x
                nt += 1
                i = size
                size += 1
            else:
                i = pos[x]
            dist[x] = c
            _sift_up(hk, hv, pos, i, c, x)
        while size > 0:
            d = hk[0]
            x = hv[0]
            pos[x] = -2
            size -= 1
            if size > 0:  # move the last entry down from the root
                lk = hk[size]
                lv = hv[size]
                i = 0
                while True:
                    c0 = 4 * i + 1
                    if c0 >= size:
                        break
                    bc = c0  # smallest of up to four children
                    bk = hk[c0]
                    for q in range(c0 + 1, min(c0 + 4, size)):
                        if hk[q] < bk:
                            bk = hk[q]
                            bc = q
                    if lk <= bk:
                        break
                    hk[i] = bk
                    hv[i] = hv[bc]
                    pos[hv[i]] = i
                    i = bc
                hk[i] = lk
                hv[i] = lv
                pos[lv] = i
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
                if nd > limit or nd >= dist[y]:
                    continue
                i = pos[y]
                if i == -2:
                    continue
                if i == -1:
                    touched[nt] = y
                    nt += 1
                    i = size
                    size += 1
                dist[y] = nd
                _sift_up(hk, hv, pos, i, nd, y)
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
            pos[touched[i]] = -1
    return out_s[:m], out_t[:m], out_c[:m]


def announce_compile() -> None:
    """One progress line when the search kernels are about to be compiled (first use)."""
    from geoequity._progress import compile_notice

    compile_notice((bounded_many_to_many, nearest_pieces), "the fast search", 10)


def warm_up() -> None:
    """Load (or compile) the kernels now: the one-off cost of the first compiled search in a
    process (importing numba, initialising its code generator, reading the on-disk cache)."""
    z = np.zeros(2, np.int64)
    f = np.zeros(1)
    bounded_many_to_many(z, np.zeros(0, np.int64), np.zeros(0), 1, np.zeros((1, 1), np.int64),
                         np.zeros((1, 1)), 0.0, z, np.zeros(0, np.int64), np.zeros(0), 0)
    nearest_pieces(f, f, f, f, f, f, 0.0, 0.0, 1.0, 1, 1, np.array([0, 1]), 0.5, 1,
                   np.zeros(1, dtype=np.int64))


@njit(cache=True, nogil=True)
def nearest_pieces(px, py, ax, ay, bx, by, x0, y0, cs, nx, ny, cell_ptr,  # noqa: C901
                   half, max_r, rank):
    """Nearest straight piece to each point, by rings of grid cells around the point's cell.

    Pieces (``a -> b``) are sorted by the cell (size ``cs``) of their midpoint; the pieces of
    cell k are ``cell_ptr[k]:cell_ptr[k+1]``, over ``nx * ny`` cells from (``x0``, ``y0``),
    row by row. After the rings up to ``r`` are
    read, every unread midpoint is at least ``r * cs`` away, so every unread piece at least
    ``r * cs - half``: the search stops when the best exact distance is within that. Points
    still open after ``max_r`` rings get piece -2 (the caller asks the KD-tree).

    Returns (piece, distance, t): the piece's sorted position (-2 when undecided), the
    point-segment distance and the projection parameter along the piece (0 at ``a``, 1 at
    ``b``). Ties go to the lowest ``rank`` (the piece's index before sorting, so that the
    answer does not depend on where the grid starts: a network read by box snaps as the whole).
    """
    n = len(px)
    out_p = np.full(n, -2, np.int64)
    out_d = np.full(n, np.inf)
    out_t = np.zeros(n)
    for q in range(n):
        x = px[q]
        y = py[q]
        ci = int(np.floor((x - x0) / cs))
        cj = int(np.floor((y - y0) / cs))
        best = np.inf
        bp = -1
        bt = 0.0
        for r in range(max_r + 1):
            for j in range(cj - r, cj + r + 1):
                if j < 0 or j >= ny:
                    continue
                step = 1 if (j == cj - r or j == cj + r) else 2 * r
                i = ci - r
                while i <= ci + r:
                    if 0 <= i < nx:
                        cell = j * nx + i
                        for c in range(cell_ptr[cell], cell_ptr[cell + 1]):
                            dx = bx[c] - ax[c]
                            dy = by[c] - ay[c]
                            qx = x - ax[c]
                            qy = y - ay[c]
                            l2 = dx * dx + dy * dy
                            t = 0.0
                            if l2 > 0:
                                t = (qx * dx + qy * dy) / l2
                                t = min(max(t, 0.0), 1.0)
                            ex = qx - t * dx
                            ey = qy - t * dy
                            d = np.sqrt(ex * ex + ey * ey)
                            if d < best or (d == best and rank[c] < rank[bp]):
                                best = d
                                bp = c
                                bt = t
                    i += step
            if bp >= 0 and best <= r * cs - half:
                out_p[q] = bp
                out_d[q] = best
                out_t[q] = bt
                break
    return out_p, out_d, out_t
