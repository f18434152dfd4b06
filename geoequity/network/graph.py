"""The :class:`Network` type: a routable street graph in a projected CRS (metres).

A network is a set of nodes (``x``, ``y`` in the CRS) and of edges ``u -> v`` with a length in
metres, a speed in km/h, a one-way flag and a line geometry digitised from ``u`` to ``v``. Two-way
edges are stored once and routed in both directions. Routing uses compressed sparse row (CSR)
matrices built on demand, one per cost unit and direction, cached on the instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from geoequity.network.arrays import csr_min

UNITS = ("m", "min")


@dataclass(eq=False)
class Network:
    """A routable street network in a projected CRS in metres.

    Attributes
    ----------
    mode : str
        ``"walk"``, ``"bike"`` or ``"drive"``.
    crs : pyproj.CRS
        Projected CRS of ``x``, ``y`` and the geometries (metres).
    node_id : numpy.ndarray
        Source identifiers of the nodes (OSM node ids, or 0..n-1 for line layers).
    x, y : numpy.ndarray
        Node coordinates in ``crs`` (metres).
    u, v : numpy.ndarray
        Edge end nodes as positions into the node arrays (int64). Geometry runs from u to v.
    length : numpy.ndarray
        Edge length in metres.
    speed : numpy.ndarray
        Edge speed in km/h (the mode speed for walk/bike, maxspeed or default for drive).
    oneway : numpy.ndarray
        True where the edge may only be travelled from ``u`` to ``v``.
    geometry : numpy.ndarray
        shapely LineStrings, one per edge, in ``crs``.
    source : str
        Where the network came from (file path, place name ...), for messages.
    """

    mode: str
    crs: Any
    node_id: np.ndarray
    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    speed: np.ndarray
    oneway: np.ndarray
    geometry: np.ndarray
    source: str = ""
    _csr: dict = field(default_factory=dict, repr=False)
    _main: np.ndarray | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ basic facts
    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.x)

    @property
    def n_edges(self) -> int:
        """Number of edges (a two-way street segment counts once)."""
        return len(self.u)

    def __repr__(self) -> str:
        return (f"Network(mode={self.mode!r}, nodes={self.n_nodes:,}, edges={self.n_edges:,}, "
                f"crs={self.crs.to_string() if self.crs is not None else None!r}, "
                f"source={self.source!r})")

    def weights(self, unit: str = "m") -> np.ndarray:
        """Edge traversal cost: metres (``unit="m"``) or minutes (``unit="min"``)."""
        if unit == "m":
            return self.length
        if unit == "min":
            return self.length / (self.speed * (1000.0 / 60.0))
        from geoequity._errors import input_error

        raise input_error("unit", f"unknown cost unit {unit!r}", "use 'm' or 'min'")

    def max_speed_m_per_unit(self, unit: str) -> float:
        """Largest distance (m) one cost unit can cover: 1 for metres, top speed for minutes."""
        if unit == "m":
            return 1.0
        return float(np.max(self.speed, initial=1.0)) * 1000.0 / 60.0

    def csr(self, unit: str = "m", *, reverse: bool = False) -> sp.csr_matrix:
        """Directed adjacency matrix (CSR) of edge costs; parallel edges keep the cheapest.

        ``reverse=True`` gives the transposed graph (costs *to* a node), used when searching
        from destinations.
        """
        key = (unit, reverse)
        if key not in self._csr and reverse:
            self._csr[key] = self.csr(unit).T.tocsr()
        if key not in self._csr:
            w = self.weights(unit)
            keep = self.u != self.v
            u, v, w2, ow = self.u[keep], self.v[keep], w[keep], self.oneway[keep]
            rows = np.concatenate([u, v[~ow]])
            cols = np.concatenate([v, u[~ow]])
            data = np.concatenate([w2, w2[~ow]])
            self._csr[key] = csr_min(rows, cols, data, self.n_nodes)
        return self._csr[key]

    def _components(self) -> tuple[int, np.ndarray]:
        """(count, label per node) of the connected components: weak for walk and bike,
        strong when any street is one-way (drive)."""
        conn = "strong" if self.oneway.any() else "weak"
        return connected_components(self.csr("m"), directed=True, connection=conn)

    @property
    def main_nodes(self) -> np.ndarray:
        """Boolean mask of nodes in the largest connected component.

        Weakly connected for walk and bike (every street is two-way for them), strongly
        connected for drive, so that every main node can reach and be reached from every other.
        """
        if self._main is None:
            n, labels = self._components()
            if n == 0:
                self._main = np.zeros(0, dtype=bool)
            else:
                self._main = labels == np.bincount(labels).argmax()
        return self._main

    def join_main(self, nodes: np.ndarray) -> Network:
        """Count the components holding any of ``nodes`` (a boolean node mask) as part of the
        main component too, before the routing structures are built (:meth:`prepare`).

        A network read by box (:func:`geoequity.load_network` ``bbox=``) marks the nodes
        outside the box: a component the box cuts may join the main network outside it.
        """
        n, labels = self._components()
        if n:
            keep = np.zeros(n, dtype=bool)
            keep[np.bincount(labels).argmax()] = True
            keep[np.unique(labels[np.asarray(nodes, dtype=bool)])] = True
            self._main = keep[labels]
        return self

    @property
    def main_edges(self) -> np.ndarray:
        """Boolean mask of edges with both ends in the largest component."""
        m = self.main_nodes
        return m[self.u] & m[self.v]

    def cached(self, key: tuple, build):
        """The routing structure cached under ``key`` on this network, built by ``build()`` on
        first use (snapping pieces, chains, KD-trees: see :meth:`prepare`)."""
        if key not in self._csr:
            self._csr[key] = build()
        return self._csr[key]

    def prepare(self) -> Network:
        """Build the routing structures now (CSR, main component, snapping index, node tree,
        and the contracted chain graph when numba is installed).

        They are otherwise built on first use; :func:`load_network` calls this so that the
        first :func:`geoequity.travel_costs` call pays only for the search.
        """
        import importlib.util

        from geoequity.network.contract import chain_view
        from geoequity.network.snap import prepare_snapping

        self.csr("m")
        _ = self.main_nodes
        prepare_snapping(self)
        self.node_tree()
        if importlib.util.find_spec("numba") is not None:  # the compiled search uses chains
            for reverse in (False, True):
                chain_view(self, "m", reverse)
        return self

    def node_tree(self):
        """KD-tree of the node coordinates (cached)."""
        from scipy.spatial import cKDTree

        return self.cached(("kdtree",), lambda: cKDTree(np.column_stack([self.x, self.y]),
                                                        balanced_tree=False, compact_nodes=False))

    # ------------------------------------------------------------------ conversions
    def nodes_frame(self):
        """Nodes as a GeoDataFrame (index = position, column ``node_id``)."""
        import geopandas as gpd

        return gpd.GeoDataFrame({"node_id": self.node_id},
                                geometry=shapely.points(self.x, self.y), crs=self.crs)

    def edges_frame(self):
        """Edges as a GeoDataFrame with u, v (node positions), length (m), speed, oneway."""
        import geopandas as gpd

        return gpd.GeoDataFrame({"u": self.u, "v": self.v, "length": self.length,
                                 "speed": self.speed, "oneway": self.oneway},
                                geometry=self.geometry, crs=self.crs)

    def to_networkx(self, unit: str = "m"):
        """A :class:`networkx.DiGraph` with edge attribute ``cost`` (cheapest parallel edge)."""
        import networkx as nx

        g = self.csr(unit).tocoo()
        graph = nx.DiGraph()
        graph.add_nodes_from(range(self.n_nodes))
        graph.add_weighted_edges_from(zip(g.row.tolist(), g.col.tolist(), g.data.tolist(),
                                          strict=True),
                                      weight="cost")
        return graph

