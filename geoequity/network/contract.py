"""Contraction of degree-2 nodes into chains, for faster searches.

Most nodes of an OSM street graph only join two segments of one street (55 % in Porto Alegre).
A *chain* is a maximal run of edges joined at such nodes; routing on chains (one edge per chain
between the remaining *core* nodes) settles about half as many nodes and gives the same shortest
paths. A node is contracted when it has exactly two incident edges (no self-loop) that are both
two-way, or both one-way with traffic flowing through it. Every original edge knows its chain,
its orientation in the chain and its offset from the chain start, so a point snapped to an edge
maps to a position along its chain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geoequity.network.graph import Network, _csr_min


@dataclass
class Chains:
    """Chains of a network (edge-level arrays have one entry per original edge)."""

    chain: np.ndarray     # chain id per edge
    forward: np.ndarray   # edge u->v runs along the chain direction (start -> end)
    seq: np.ndarray       # edges ordered by chain, then position in it
    start: np.ndarray     # chain start node
    end: np.ndarray       # chain end node
    oneway: np.ndarray    # chain may only be travelled start -> end


def build_chains(net: Network) -> Chains:
    """Walk the chains of ``net`` (vectorised for the single-edge chains)."""
    n, m = net.n_nodes, net.n_edges
    u, v, ow = net.u, net.v, net.oneway
    loop = u == v
    ends = np.concatenate([u[~loop], v[~loop]])
    eid = np.concatenate([np.flatnonzero(~loop)] * 2)
    deg = np.bincount(ends, minlength=n)
    has_loop = np.bincount(u[loop], minlength=n) > 0
    order = np.argsort(ends, kind="stable")
    inc = eid[order]
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(deg, out=ptr[1:])
    x = np.flatnonzero((deg == 2) & ~has_loop)
    e1, e2 = inc[ptr[x]], inc[ptr[x] + 1]
    through = ((v[e1] == x) & (u[e2] == x)) | ((v[e2] == x) & (u[e1] == x))
    ok = (e1 != e2) & (ow[e1] == ow[e2]) & (~ow[e1] | through)
    contract = np.zeros(n, dtype=bool)
    contract[x[ok]] = True

    chain = np.full(m, -1, dtype=np.int64)
    forward = np.ones(m, dtype=bool)
    # single-edge chains: both ends kept (the common case on large grids)
    single = ~contract[u] & ~contract[v]
    idx = np.flatnonzero(single)
    chain[idx] = np.arange(len(idx))
    starts, ends_, ones, seq = [], [], [], []  # multi-edge chains, appended by walk()
    nxt = len(idx)

    def other(node, e):
        a, b = inc[ptr[node]], inc[ptr[node] + 1]
        return b if a == e else a

    def walk(first_node, e):
        nonlocal nxt
        node = first_node
        while True:
            chain[e] = nxt
            fw = u[e] == node
            forward[e] = fw
            seq.append(e)
            node = v[e] if fw else u[e]
            if not contract[node]:
                break
            e = other(node, e)
        starts.append(first_node)
        ends_.append(node)
        ones.append(bool(ow[e]))
        nxt += 1

    rest = np.flatnonzero(~single)
    for e in rest.tolist():
        if chain[e] >= 0:
            continue
        if not contract[u[e]]:
            walk(int(u[e]), e)
        elif not contract[v[e]] and not ow[e]:
            walk(int(v[e]), e)
    for e in rest.tolist():  # pure cycles of contracted nodes: cut at one node
        if chain[e] >= 0:
            continue
        node = int(u[e])
        contract[node] = False
        walk(node, e)
    return Chains(chain=chain, forward=forward,
                  seq=np.concatenate([idx, np.asarray(seq, dtype=np.int64)]),
                  start=np.concatenate([u[idx], np.asarray(starts, dtype=np.int64)]),
                  end=np.concatenate([v[idx], np.asarray(ends_, dtype=np.int64)]),
                  oneway=np.concatenate([ow[idx], np.asarray(ones, dtype=bool)]))


def chain_costs(net: Network, ch: Chains, unit: str):
    """Per-edge offset of the edge's chain-start end (in ``unit``) and per-chain total cost."""
    w = net.weights(unit)
    ws = w[ch.seq]
    cid = ch.chain[ch.seq]
    cum = np.cumsum(ws)
    first = np.r_[True, cid[1:] != cid[:-1]]
    base = np.maximum.accumulate(np.where(first, np.arange(len(cid)), 0))
    before = cum - ws - (cum[base] - ws[base])
    offset = np.empty(len(w))
    offset[ch.seq] = before
    total = np.zeros(len(ch.start))
    np.add.at(total, cid, ws)
    return offset, total


def _morton(x: np.ndarray, y: np.ndarray) -> np.ndarray:
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


def core_nodes(net: Network, ch: Chains) -> np.ndarray:
    """Map from node position to a compact id of the chain graph (-1 for contracted nodes).

    Only chain ends (junctions, dead ends) are kept, numbered in Z-order of their coordinates so
    that nodes near each other on the ground sit near each other in memory: a bounded search
    then reads a few compact blocks of its arrays instead of the whole network's.
    """
    keep = np.zeros(net.n_nodes, dtype=bool)
    keep[ch.start] = True
    keep[ch.end] = True
    core = np.flatnonzero(keep)
    core = core[np.argsort(_morton(net.x[core], net.y[core]), kind="stable")]
    node_map = np.full(net.n_nodes, -1, dtype=np.int64)
    node_map[core] = np.arange(len(core))
    return node_map


def chain_graph(net: Network, ch: Chains, total: np.ndarray, *, reverse: bool,
                node_map: np.ndarray | None = None):
    """CSR with one edge per chain (cheapest of parallels), over the original node numbering,
    or over the compact ids of ``node_map`` (:func:`core_nodes`) when given."""
    a, b, ow = ch.start, ch.end, ch.oneway
    keep = a != b
    a, b, ow, t = a[keep], b[keep], ow[keep], total[keep]
    n = net.n_nodes
    if node_map is not None:
        a, b, n = node_map[a], node_map[b], int(node_map.max(initial=-1)) + 1
    rows = np.concatenate([a, b[~ow]])
    cols = np.concatenate([b, a[~ow]])
    data = np.concatenate([t, t[~ow]])
    g = _csr_min(rows, cols, data, n)
    g = g.T.tocsr() if reverse else g
    g.sort_indices()
    g.indptr = g.indptr.astype(np.int64)  # the compiled search takes int64 arrays
    g.indices = g.indices.astype(np.int64)
    return g
