"""On-disk cache of built networks, keyed by the source file's content, the mode and the speeds.

A cached network is one ``.npz`` of plain numeric arrays (nodes, edges, edge vertex coordinates)
plus the CRS as WKT: it loads in a fraction of a second with no parsing. The key is the SHA-256
of the source file's bytes, the mode, the speeds, the target CRS and :data:`CACHE_VERSION`, so
editing the extract or changing a speed never reuses a stale graph.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS

from geoequity._atomic import atomic_path
from geoequity.network.graph import Network

CACHE_VERSION = "1"


def default_cache_dir() -> Path:
    """``$GEOEQUITY_CACHE_DIR``, else ``$XDG_CACHE_HOME/geoequity/networks`` (~/.cache/...)."""
    env = os.environ.get("GEOEQUITY_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base) / "geoequity" / "networks"


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def cache_key(path: Path, mode: str, walk_speed: float, bike_speed: float, crs) -> str:
    """Cache file stem for a source file and build options."""
    parts = [file_digest(path), mode, f"{walk_speed:g}", f"{bike_speed:g}",
             CRS.from_user_input(crs).to_wkt() if crs is not None else "auto", CACHE_VERSION]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def save(net: Network, path: Path) -> None:
    """Write ``net`` to ``path`` (.npz) atomically."""
    coords, line = shapely.get_coordinates(net.geometry, return_index=True)
    node_id = np.asarray(net.node_id)
    if node_id.dtype == object:
        node_id = node_id.astype(str)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, node_id=node_id, x=net.x, y=net.y, u=net.u, v=net.v,
                     length=net.length, speed=net.speed, oneway=net.oneway,
                     coords=coords, line=line.astype(np.int64),
                     crs=np.array(net.crs.to_wkt()), mode=np.array(net.mode),
                     source=np.array(net.source))


def load(path: Path) -> Network | None:
    """Read a cached network, or ``None`` when the file is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            geoms = shapely.linestrings(z["coords"], indices=z["line"])
            return Network(mode=str(z["mode"]), crs=CRS.from_wkt(str(z["crs"])),
                           node_id=z["node_id"], x=z["x"], y=z["y"], u=z["u"], v=z["v"],
                           length=z["length"], speed=z["speed"], oneway=z["oneway"],
                           geometry=np.asarray(geoms), source=str(z["source"]))
    except (OSError, ValueError, KeyError):
        return None
