"""The bounded many-to-many search over a :class:`Network`: snapping both sides, then the costs
of every on-network origin/destination pair within a bound.

:func:`network_costs` runs a bounded Dijkstra from the smaller side (usually the schools), never
beyond ``max_cost``. With numba installed, a compiled per-source Dijkstra on the chain graph
(degree-2 nodes contracted, :func:`geoequity.network.contract.chain_view`), on all cores, touches
only the nodes it settles. Without it, city-sized problems use
``scipy.sparse.csgraph.dijkstra`` rows on the whole graph, and large ones restrict each search
to the straight-line disc of radius ``max_cost`` (a path no longer than the bound never leaves
it), laying the discs of a batch of sources side by side as one block-diagonal sparse graph
settled by a single ``min_only`` call. Work and memory grow with the catchments, not with the
network. See ``docs/network.md`` for the formulas.

:func:`geoequity.costs.travel_costs` is the public entry point: it validates the inputs, handles
off-network points and assembles the long table from the positions returned here.
"""

from __future__ import annotations

import importlib.util
import itertools
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from geoequity.network.contract import chain_view
from geoequity.network.graph import Network
from geoequity.network.snap import snap

# the compiled kernel is imported on first use: importing numba and loading the kernel from
# its on-disk cache cost ~0.4 s once per process (see docs/network.md)
HAVE_NUMBA = importlib.util.find_spec("numba") is not None
_NODE_BUDGET = 3_000_000  # disc nodes per Dijkstra batch (bounds memory)
_FULL_BUDGET = 30_000_000  # sources x nodes below which whole-graph rows are cheaper
_FULL_RATIO = 40  # rows when nodes <= 40 x the mean disc size
_FULL_CHUNK = 20_000_000  # float64 cells per dense chunk (160 MB)
_SCRATCH_BUDGET = 512 * 2**20  # bytes of per-thread search arrays (compiled search)
_STRATEGY = "auto"  # "compiled", "full" or "disc" forces a search strategy (tests, benchmarks)


@dataclass
class Side:
    """Snapped points of one side: edge, fraction, snap cost (in unit), coordinates."""

    x: np.ndarray
    y: np.ndarray
    edge: np.ndarray
    frac: np.ndarray
    snap_cost: np.ndarray


def _attach(net: Network, side: Side, w: np.ndarray, *, leaving: bool):
    """Nodes a point reaches (``leaving``) or is reached from, with partial edge costs.

    A point at fraction f of edge u->v (cost w): leaving, it reaches v at (1-f)w and, unless
    the edge is one-way, u at f*w; arriving, it is reached from u at f*w and, unless one-way,
    from v at (1-f)w. A point sitting on an end node (f = 0 or 1) is at that junction, so it
    uses it in both directions even on a one-way edge (snapping picks one of the streets that
    meet there, possibly the one-way one). Returns two (node, cost, allowed) triples of arrays.
    """
    e = side.edge
    f = side.frac
    u, v, ow = net.u[e], net.v[e], net.oneway[e]
    we = w[e]
    always = np.ones(len(e), dtype=bool)
    if leaving:
        return (v, (1 - f) * we, always), (u, f * we, ~ow | (f <= 0.0))
    return (u, f * we, always), (v, (1 - f) * we, ~ow | (f >= 1.0))


def _flatten(lists) -> tuple[np.ndarray, np.ndarray]:
    lens = np.fromiter((len(a) for a in lists), dtype=np.int64, count=len(lists))
    flat = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64, count=lens.sum())
    return np.repeat(np.arange(len(lists)), lens), flat


def _search_batch(g: csr_matrix, node_tree: cKDTree | None, n_nodes: int, src_xy: np.ndarray,
                  seeds, radius: float | None, limit: float, pos_map: np.ndarray):
    """Bounded multi-source Dijkstra for a batch of sources on their disc subgraphs.

    Each source gets its own copy of the nodes within ``radius`` (block positions), the edges
    between them, and a virtual node linked to its seeds; one ``min_only`` Dijkstra settles
    the whole block. ``pos_map`` is a scratch array of ``n_nodes`` values all equal to -1.

    Returns ``(sorted_keys, dist)``: for each (source s, node) pair in a disc, key
    ``s * n_nodes + node`` (sorted) and its cost from source s (inf beyond ``limit``).
    """
    ns = len(src_xy)
    s_of, node = _flatten(node_tree.query_ball_point(src_xy, radius, return_sorted=True))
    keys = s_of * n_nodes + node  # sorted: sources in order, nodes sorted within each
    t = len(keys)
    bounds = np.searchsorted(s_of, np.arange(ns + 1))
    # edges leaving each disc node, relabelled to block positions (one small map per source)
    start = g.indptr[node]
    cnt = g.indptr[node + 1] - start
    ptr = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(start, cnt)
    nbr = g.indices[ptr]
    ebounds = np.r_[0, np.cumsum(cnt)][bounds]
    cols = np.empty(len(nbr), dtype=np.int64)
    seed_pos = np.full((len(seeds), ns), -1, dtype=np.int64)
    seed_nodes = [sd[0] for sd in seeds]
    for s in range(ns):
        a, b = bounds[s], bounds[s + 1]
        here = node[a:b]
        pos_map[here] = np.arange(a, b)
        ea, eb = ebounds[s], ebounds[s + 1]
        cols[ea:eb] = pos_map[nbr[ea:eb]]
        for j, sn in enumerate(seed_nodes):
            seed_pos[j, s] = pos_map[sn[s]]
        pos_map[here] = -1
    ok = cols >= 0
    rows = np.repeat(np.arange(t), cnt)[ok]
    cols, data = cols[ok], g.data[ptr[ok]]
    # virtual source nodes t + s, linked to the seed nodes with the partial edge costs
    s_rows, s_cols, s_data = [], [], []
    for j, (_, cost_s, allowed) in enumerate(seeds):
        good = allowed & (seed_pos[j] >= 0) & (cost_s <= limit)
        s_rows.append(t + np.flatnonzero(good))
        s_cols.append(seed_pos[j][good])
        s_data.append(cost_s[good])
    sr, sc, sd = (np.concatenate(a) for a in (s_rows, s_cols, s_data))
    if len(sr):  # same seed node twice (self-loop edge): keep the cheaper link
        o = np.lexsort((sd, sc, sr))
        sr, sc, sd = sr[o], sc[o], sd[o]
        first = np.r_[True, (sr[1:] != sr[:-1]) | (sc[1:] != sc[:-1])]
        sr, sc, sd = sr[first], sc[first], sd[first]
    indptr = np.zeros(t + ns + 1, dtype=np.int64)
    np.cumsum(np.bincount(np.concatenate([rows, sr]), minlength=t + ns), out=indptr[1:])
    block = csr_matrix((np.concatenate([data, sd]), np.concatenate([cols, sc]).astype(np.int32),
                        indptr.astype(np.int32)), shape=(t + ns, t + ns))
    dist = dijkstra(block, directed=True, indices=t + np.arange(ns), min_only=True,
                    limit=limit)
    return keys, dist[:t]


def network_costs(net: Network, o: Side, d: Side, *, unit: str, max_cost, progress=True):
    """Costs of on-network origin/destination pairs: (origin pos, destination pos, cost)."""
    forward = len(o.x) < len(d.x)  # search from the smaller side
    src, tgt = (o, d) if forward else (d, o)
    limit = np.inf if max_cost is None else float(max_cost)
    ns, nt = len(src.x), len(tgt.x)
    if ns == 0 or nt == 0:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0)
    if _STRATEGY == "compiled" or (_STRATEGY == "auto" and HAVE_NUMBA):
        parts = _compiled(net, src, tgt, unit=unit, limit=limit, forward=forward)
    else:
        parts = _scipy_search(net, src, tgt, unit=unit, max_cost=max_cost, limit=limit,
                              forward=forward, progress=progress)
    out_s, out_t, out_c = zip(*parts, strict=True) if parts else ([], [], [])
    out_s, out_t, out_c = list(out_s), list(out_t), list(out_c)
    out_s.append(np.zeros(0, np.int64))
    out_t.append(np.zeros(0, np.int64))
    out_c.append(np.zeros(0))
    s_all, t_all, c_all = (np.concatenate(a) for a in (out_s, out_t, out_c))
    return (s_all, t_all, c_all) if forward else (t_all, s_all, c_all)


def _scipy_search(net: Network, src: Side, tgt: Side, *, unit, max_cost, limit, forward,
                  progress):
    """The scipy strategies (no numba, or forced): whole-graph rows or disc blocks."""
    w = net.weights(unit)
    g = net.csr(unit, reverse=not forward)
    n = net.n_nodes
    seeds_all = _attach(net, src, w, leaving=forward)
    ends = _attach(net, tgt, w, leaving=not forward)
    if max_cost is None:
        radius, node_tree = None, None
    else:
        # cost >= straight-line length / top speed; small margin for projection scale
        radius = max_cost * net.max_speed_m_per_unit(unit) * 1.001 + 1.0
        node_tree = net.node_tree()
    ns = len(src.x)
    # Strategy: full rows when the network is small next to the number of sources (one
    # csgraph call fills ns x n distances, cheap for a city), disc blocks otherwise.
    per = float(n)
    if radius is not None:
        sample = np.linspace(0, ns - 1, min(ns, 32)).astype(int)
        sxy = np.column_stack([src.x[sample], src.y[sample]])
        per = max(1.0, float(np.mean(node_tree.query_ball_point(sxy, radius,
                                                                return_length=True))))
    # dense rows cost ~n cells of memory traffic per source, disc blocks ~per nodes of
    # bookkeeping: rows win when the disc holds a sizeable share of the network
    full = radius is None or (ns * n <= _FULL_BUDGET and n <= _FULL_RATIO * per)
    if radius is not None and _STRATEGY in ("full", "disc"):
        full = _STRATEGY == "full"
    if full:
        return _full_rows(g, n, src, tgt, seeds_all, ends, w, limit, forward, net)
    return _disc_blocks(g, node_tree, n, src, tgt, seeds_all, ends, w, radius, limit, forward,
                        net, per, progress)


def _same_edge(net, src, tgt, s_glob, t_idx, w, forward, best):
    """Both points on one edge: go straight along it when the direction is allowed."""
    same = src.edge[s_glob] == tgt.edge[t_idx]
    if same.any():
        fs, ft = src.frac[s_glob[same]], tgt.frac[t_idx[same]]
        a, b = (fs, ft) if forward else (ft, fs)  # origin position a, destination b
        e = src.edge[s_glob[same]]
        ok = (b >= a) | ~net.oneway[e]
        direct = np.where(ok, np.abs(b - a) * w[e] + src.snap_cost[s_glob[same]], np.inf)
        best[same] = np.minimum(best[same], direct)
    return best


def _threads() -> int:
    """Threads for the compiled search: numba's thread count (``NUMBA_NUM_THREADS``, default
    the number of CPUs)."""
    from numba import config

    return max(1, int(config.NUMBA_NUM_THREADS))


def _unique_rows(node: np.ndarray, cost: np.ndarray):
    """Groups of identical seed rows (same nodes and costs: points at one place of one edge).

    Returns ``(first, inverse)``: the first row of each group, and each row's group.
    """
    n = len(node)
    cols = [cost[:, j] for j in range(cost.shape[1])] + [node[:, j] for j in range(node.shape[1])]
    order = np.lexsort(cols[::-1])
    diff = np.zeros(max(n - 1, 0), dtype=bool)
    for col in cols:
        sc = col[order]
        diff |= sc[1:] != sc[:-1]
    start = np.r_[True, diff] if n else np.zeros(0, bool)
    group_sorted = np.cumsum(start) - 1
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = group_sorted
    return order[start], inverse


def _search(g, n: int, seed_node, seed_cost, limit, tgt_ptr, tid, tcost, nt):
    """Run the compiled kernel over all sources, in chunks on parallel threads (it releases
    the GIL); each chunk has its own O(n) scratch arrays. Returns (source, target, cost).

    Sources run in the order of their first seed node, whose compact id is in Z-order: one
    search then finds much of its neighbourhood still in the CPU caches from the previous one.
    """
    from geoequity.network._kernels import announce_compile, bounded_many_to_many

    announce_compile()

    # one fixed signature (contiguous int64/float64) so numba's on-disk cache always applies
    graph = (g.indptr.astype(np.int64, copy=False), g.indices.astype(np.int64, copy=False),
             g.data.astype(np.float64, copy=False), int(n))
    tail = (float(limit), tgt_ptr, tid, np.ascontiguousarray(tcost, dtype=np.float64), int(nt))
    ns = len(seed_node)
    order = np.argsort(seed_node[:, 0], kind="stable")

    def run(rows):
        s, t, c = bounded_many_to_many(*graph, np.ascontiguousarray(seed_node[rows]),
                                       np.ascontiguousarray(seed_cost[rows]), *tail)
        return rows[s], t, c

    # each running chunk holds ~5 n-vectors of scratch: at most ~512 MB of them at once
    threads = min(_threads(), ns // 8, max(1, _SCRATCH_BUDGET // (40 * max(n, 1))))
    if threads <= 1:
        return run(order)
    from concurrent.futures import ThreadPoolExecutor

    # several chunks per thread, taken as threads free up, even out dense and sparse areas
    chunks = np.array_split(order, threads * 8 if ns >= threads * 64 else threads)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        parts = list(pool.map(run, chunks))
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))


def _compiled(net: Network, src: Side, tgt: Side, *, unit: str, limit: float,
              forward: bool):
    """Bounded Dijkstra per source in compiled code (numba) on the contracted chain graph.

    A point at fraction f of edge e lies at chain position ``p = offset[e] + f*w[e]`` (or
    ``(1-f)*w[e]`` when e runs against its chain); from there the chain's end is ``W - p``
    away and its start ``p`` away (unless the chain is one-way). Sources at the same place (same
    seed nodes and costs, e.g. several schools at one address) are searched once.
    """
    ch, offset, total, g, node_map = chain_view(net, unit, reverse=not forward)
    n_core = g.shape[0]
    w = net.weights(unit)
    ns, nt = len(src.x), len(tgt.x)

    def place(side):
        e = side.edge
        c = ch.chain[e]
        p = offset[e] + np.where(ch.forward[e], side.frac, 1.0 - side.frac) * w[e]
        return c, p

    sc, sp = place(src)
    tc, tp = place(tgt)

    def attach(c, p, leaving):
        # as _attach: a point on a chain's end node uses that junction both ways
        always = np.ones(len(c), dtype=bool)
        a, b, ow, tot = node_map[ch.start[c]], node_map[ch.end[c]], ch.oneway[c], total[c]
        eps = 1e-9 * np.maximum(tot, 1.0)
        if leaving:
            return (b, tot - p, always), (a, p, ~ow | (p <= eps))
        return (a, p, always), (b, tot - p, ~ow | (p >= tot - eps))

    seeds = attach(sc, sp, leaving=forward)
    ends = attach(tc, tp, leaving=not forward)
    seed_node = np.stack([nd for nd, _, _ in seeds], axis=1).astype(np.int64)
    seed_cost = np.stack([np.where(a, c + src.snap_cost, np.inf) for _, c, a in seeds], axis=1)
    # targets hang off their chain's end nodes; their snap connector is part of the cost
    tn = np.concatenate([nd for nd, _, _ in ends]).astype(np.int64)
    tcost = np.concatenate([c + tgt.snap_cost for _, c, _ in ends])
    ta = np.concatenate([a for _, _, a in ends])
    tid = np.tile(np.arange(nt, dtype=np.int64), len(ends))
    tn, tcost, tid = tn[ta], tcost[ta], tid[ta]
    order = np.argsort(tn, kind="stable")
    tn, tcost, tid = tn[order], tcost[order], tid[order]
    tgt_ptr = np.zeros(n_core + 1, dtype=np.int64)
    np.cumsum(np.bincount(tn, minlength=n_core), out=tgt_ptr[1:])
    first, inverse = _unique_rows(seed_node, seed_cost)
    u_i, t_i, c = _search(g, n_core, seed_node[first], seed_cost[first], limit, tgt_ptr, tid,
                          tcost, nt)
    if len(first) < ns:  # copy each searched row to the sources at the same place
        members = np.argsort(inverse, kind="stable")
        size = np.bincount(inverse, minlength=len(first))
        gstart = np.cumsum(size) - size
        rep = size[u_i]
        k = np.arange(rep.sum()) - np.repeat(np.cumsum(rep) - rep, rep)
        s_i = members[np.repeat(gstart[u_i], rep) + k]
        t_i, c = np.repeat(t_i, rep), np.repeat(c, rep)
    else:
        s_i = first[u_i]
    # both points on one chain: also straight along it
    c_order = np.argsort(tc, kind="stable")
    c_sorted = tc[c_order]
    lo = np.searchsorted(c_sorted, sc, "left")
    cnt = np.searchsorted(c_sorted, sc, "right") - lo
    if cnt.any():
        ss = np.repeat(np.arange(ns), cnt)
        tt = c_order[np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt) +
                     np.repeat(lo, cnt)]
        a, b = (sp[ss], tp[tt]) if forward else (tp[tt], sp[ss])  # origin a, destination b
        ok = (b >= a) | ~ch.oneway[sc[ss]]
        direct = np.where(ok, np.abs(b - a) + src.snap_cost[ss] + tgt.snap_cost[tt], np.inf)
        # the few direct pairs: improve the searched pairs they match, add the others
        dkey = ss * nt + tt  # unique, as are the searched pairs
        do = np.argsort(dkey)
        dkey, ss, tt, direct = dkey[do], ss[do], tt[do], direct[do]
        p = np.minimum(np.searchsorted(dkey, s_i * nt + t_i), len(dkey) - 1)
        hit = dkey[p] == s_i * nt + t_i
        c = c.copy()
        c[hit] = np.minimum(c[hit], direct[p[hit]])
        new = np.ones(len(dkey), dtype=bool)
        new[p[hit]] = False
        s_i, t_i, c = (np.concatenate(x) for x in ((s_i, ss[new]), (t_i, tt[new]),
                                                    (c, direct[new])))
    keep = c <= limit
    return [(s_i[keep], t_i[keep], c[keep])]


def _full_rows(g, n, src, tgt, seeds_all, ends, w, limit, forward, net):
    """Bounded Dijkstra on the whole graph, a chunk of sources at a time (dense rows)."""
    ns, nt = len(src.x), len(tgt.x)
    chunk = int(np.clip(_FULL_CHUNK // (n + nt), 1, ns))
    parts = []
    for c0 in range(0, ns, chunk):
        sl = slice(c0, min(ns, c0 + chunk))
        c = sl.stop - sl.start
        rows, cols, data = [], [], []
        for nd, cost, allowed in seeds_all:
            cs = cost[sl] + src.snap_cost[sl]
            ok = allowed[sl] & (cs <= limit)
            rows.append(np.flatnonzero(ok))
            cols.append(nd[sl][ok])
            data.append(cs[ok])
        r, cl, dt = (np.concatenate(a) for a in (rows, cols, data))
        o = np.lexsort((dt, cl, r))
        r, cl, dt = r[o], cl[o], dt[o]
        keep = np.r_[True, (r[1:] != r[:-1]) | (cl[1:] != cl[:-1])] if len(r) else r.astype(bool)
        r, cl, dt = r[keep], cl[keep], dt[keep]
        indptr = np.concatenate([g.indptr, g.indptr[-1] + np.cumsum(np.bincount(r, minlength=c))])
        aug = csr_matrix((np.concatenate([g.data, dt]), np.concatenate([g.indices, cl]),
                          indptr), shape=(n + c, n + c))
        dist = dijkstra(aug, directed=True, indices=n + np.arange(c), limit=limit)
        best = np.full((c, nt), np.inf)
        for nd, cost, allowed in ends:
            cand = dist[:, nd] + cost
            cand[:, ~allowed] = np.inf
            np.minimum(best, cand, out=best)
        same_s, same_t = np.nonzero(src.edge[sl][:, None] == tgt.edge[None, :])
        if len(same_s):
            best[same_s, same_t] = _same_edge(net, src, tgt, same_s + c0, same_t, w, forward,
                                              best[same_s, same_t].copy())
        best += tgt.snap_cost[None, :]
        s_loc, t_idx = np.nonzero(best <= limit)
        b = best[s_loc, t_idx]
        s_glob = s_loc + c0
        keep = np.ones(len(b), dtype=bool)
        parts.append((s_glob[keep], t_idx[keep], b[keep]))
    return parts


def _disc_blocks(g, node_tree, n, src, tgt, seeds_all, ends, w, radius, limit, forward, net,
                 per, progress):
    """Bounded Dijkstra restricted to each source's straight-line disc, in block batches."""
    ns = len(src.x)
    tgt_tree = cKDTree(np.column_stack([tgt.x, tgt.y]), balanced_tree=False,
                       compact_nodes=False)
    batch = int(np.clip(_NODE_BUDGET // per, 1, 8192))
    pos_map = np.full(n, -1, dtype=np.int64)
    starts = range(0, ns, batch)
    if progress and len(starts) > 3:
        from geoequity._progress import bar

        starts = bar(starts, total=len(starts), desc="routing")
    parts = []
    for b0 in starts:
        sl = slice(b0, min(ns, b0 + batch))
        sxy = np.column_stack([src.x[sl], src.y[sl]])
        seeds = [(nd[sl], c[sl] + src.snap_cost[sl], a[sl]) for nd, c, a in seeds_all]
        keys, dist = _search_batch(g, node_tree, n, sxy, seeds, radius, limit, pos_map)
        # candidate targets within the straight-line radius of each source
        s_loc, t_idx = _flatten(tgt_tree.query_ball_point(sxy, radius, return_sorted=False))
        best = np.full(len(t_idx), np.inf)
        for nd, c, allowed in ends:
            if not len(keys):   # no network node in any disc of this batch
                break
            k_ = s_loc * n + nd[t_idx]
            p = np.searchsorted(keys, k_)
            p[p >= len(keys)] = 0
            hit = (keys[p] == k_) & allowed[t_idx]
            cand = np.where(hit, dist[p] + c[t_idx], np.inf)
            np.minimum(best, cand, out=best)
        s_glob = s_loc + b0
        best = _same_edge(net, src, tgt, s_glob, t_idx, w, forward, best)
        best += tgt.snap_cost[t_idx]
        keep = best <= limit
        parts.append((s_glob[keep], t_idx[keep], best[keep]))
    return parts


def mode_speed(net: Network) -> float:
    """The network's median edge speed (km/h): for walk and bike, the speed it was loaded with
    (straight-line minutes follow :func:`geoequity.costs.line_speed`)."""
    return float(np.median(net.speed)) if net.n_edges else 1.0


def snap_side(net: Network, x: np.ndarray, y: np.ndarray, snap_limit: float, unit: str):
    """Snap one side's points: ``(Snap, on-network mask, Side of the on-network points)``; the
    connector cost is in ``unit`` (minutes at the speed of the edge snapped to)."""
    sn = snap(net, x, y, snap_limit=snap_limit)
    on = sn.on_network
    e = sn.edge
    d = sn.snap_distance
    if unit == "min":
        sc = d / (np.where(on, net.speed[np.where(on, e, 0)], 1.0) * 1000.0 / 60.0)
    else:
        sc = d.copy()
    return sn, on, Side(x[on], y[on], e[on], sn.fraction[on], sc[on])


