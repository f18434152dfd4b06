"""Generated street grids and random points for benchmarks/bench_costs.py."""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import CRS

from geoequity.network import Network


def grid_network(nx_: int, ny: int, spacing: float = 100.0, mode: str = "walk") -> Network:
    """A square street grid of nx_ * ny nodes, ``spacing`` metres apart (UTM 33N)."""
    ids = np.arange(nx_ * ny).reshape(ny, nx_)
    xs = np.tile(np.arange(nx_) * spacing, ny)
    ys = np.repeat(np.arange(ny) * spacing, nx_)
    u = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    v = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    coords = np.stack([np.column_stack([xs[u], ys[u]]), np.column_stack([xs[v], ys[v]])], axis=1)
    geoms = shapely.linestrings(coords)
    n = len(u)
    return Network(mode=mode, crs=CRS.from_epsg(32633), node_id=ids.ravel(), x=xs, y=ys,
                   u=u.astype(np.int64), v=v.astype(np.int64), length=np.full(n, spacing),
                   speed=np.full(n, 4.5), oneway=np.zeros(n, dtype=bool),
                   geometry=np.asarray(geoms), source=f"grid {nx_}x{ny}")


def random_points(n: int, net: Network, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(net.x.min(), net.x.max(), n),
                            rng.uniform(net.y.min(), net.y.max(), n)])
