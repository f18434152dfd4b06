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
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix

from geoequity.network.arrays import csr_min, morton

if TYPE_CHECKING:  # annotations only: graph.py builds the chains through this module
    from geoequity.network.graph import Network


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
    core = core[np.argsort(morton(net.x[core], net.y[core]), kind="stable")]
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
    g = csr_min(rows, cols, data, n)
    g = g.T.tocsr() if reverse else g
    g.sort_indices()
    g.indptr = g.indptr.astype(np.int64)  # the compiled search takes int64 arrays
    g.indices = g.indices.astype(np.int64)
    return g


def chain_view(net: Network, unit: str, reverse: bool):
    """Chains, per-edge offsets, per-chain totals, the chain graph without dead ends (over the
    compact ids of :func:`core_nodes`, reversed for searches from destinations) and the node
    map, all cached on the network: what the compiled search runs on."""
    ch = net.cached(("chains",), lambda: build_chains(net))
    node_map = net.cached(("core_nodes",), lambda: core_nodes(net, ch))
    offset, total = net.cached(("chain_costs", unit), lambda: chain_costs(net, ch, unit))
    g = net.cached(("chain_graph", unit, reverse), lambda: _without_dead_ends(
        chain_graph(net, ch, total, reverse=reverse, node_map=node_map), ch, node_map))
    return ch, offset, total, g, node_map


def _without_dead_ends(g, ch, node_map):
    """The chain graph minus the edges into dead ends (19 % of Porto Alegre's junctions).

    A dead end is a node with a single incident chain, a two-way one. A search never needs to
    enter it: from there it can only come back, and a point on that chain is reached at least
    as cheaply from the chain's other end (``p`` from it, against ``W + (W - p)`` through the
    dead end); two points on the chain also go straight along it. Searches that start on the
    chain still seed the dead end and leave it through its edge.
    """
    inc = np.bincount(np.concatenate([node_map[ch.start], node_map[ch.end]]),
                      minlength=g.shape[0])
    two_way = np.zeros(g.shape[0], dtype=bool)
    two_way[node_map[ch.start[~ch.oneway]]] = True
    dead = (inc == 1) & two_way
    two_way[:] = False
    two_way[node_map[ch.end[~ch.oneway]]] = True
    dead |= (inc == 1) & two_way
    keep = ~dead[g.indices]
    if keep.all():
        return g
    rows = np.repeat(np.arange(g.shape[0]), np.diff(g.indptr))[keep]
    indptr = np.zeros(g.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=g.shape[0]), out=indptr[1:])
    out = csr_matrix((g.data[keep], g.indices[keep], indptr), shape=g.shape)
    out.indptr = out.indptr.astype(np.int64)
    out.indices = out.indices.astype(np.int64)
    return out
