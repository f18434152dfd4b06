"""Build a :class:`~geoequity.network.Network` from OSM extracts, line layers or places.

Sources, tried in this order by :func:`load_network`:

- a GeoDataFrame of lines;
- ``.osm.pbf`` (read with pyrosm, the fastest offline path);
- ``.osm`` / ``.xml`` (OSM XML) and ``.graphml`` (through osmnx);
- any other existing file: a vector line layer (Shapefile, GeoPackage, GeoJSON, ...);
- a place name string or a ``(west, south, east, north)`` bounding box in degrees (osmnx, online).

Every network is projected to a CRS in metres: ``crs`` when given, else the UTM zone of its
extent (a layer already in a metric projected CRS keeps it).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from geoequity._errors import NetworkError, input_error
from geoequity._progress import info, step
from geoequity.network import cache as _cache
from geoequity.network import modes as _modes
from geoequity.network.graph import Network

PBF_SUFFIXES = (".pbf",)
XML_SUFFIXES = (".osm", ".xml")
GRAPHML_SUFFIXES = (".graphml",)


def load_network(source, mode: str = "walk", *, walk_speed: float = 4.5,
                 bike_speed: float = 15.0, cache_dir=None, crs=None,
                 bbox: tuple[float, float, float, float] | None = None) -> Network:
    """Load or build a routable street network.

    Parameters
    ----------
    source : str, os.PathLike, GeoDataFrame or tuple
        ``.osm.pbf`` extract (pyrosm), ``.osm`` XML or ``.graphml`` (osmnx), any vector line
        layer (Shapefile, GeoPackage, GeoJSON ...; optional columns ``highway``, ``maxspeed``,
        ``oneway``, ``junction`` are honoured), a GeoDataFrame of lines, a place name (osmnx,
        needs internet) or a ``(west, south, east, north)`` bounding box in WGS84 degrees.
    mode : {"walk", "bike", "drive"}
        Travel mode: which streets are usable, the speeds, and whether one-way streets count
        (driving only).
    walk_speed, bike_speed : float
        Speeds in km/h for walking and cycling. Driving speeds come from ``maxspeed`` tags, else
        defaults by ``highway`` type (see :data:`geoequity.network.modes.DRIVE_SPEEDS`).
    cache_dir : path, None or False
        Folder of the on-disk cache of built networks (file sources only). ``None`` uses
        ``$GEOEQUITY_CACHE_DIR`` or ``~/.cache/geoequity/networks``; ``False`` disables it.
    crs : optional
        Projected CRS in metres for the network. Default: the UTM zone of its extent.
    bbox : (west, south, east, north), optional
        WGS84 degrees: read only the streets meeting this box from a ``.osm.pbf`` extract
        (pyrosm ``bounding_box``) or a vector line layer (pyogrio ``bbox``), never the whole
        file's graph (a partition of a province run, :mod:`geoequity.distributed`). Streets
        the box cuts may join the main network outside it, so their components count as
        main (:meth:`Network.join_main`). Such a network is not cached.

    Returns
    -------
    Network
        Nodes and edges in a projected CRS in metres; edge lengths in metres.

    Raises
    ------
    InputError
        Unknown mode, a missing or unreadable file, a layer without lines or CRS.
    NetworkError
        A place or bounding box while offline, or a network with no usable edge.
    """
    import sys

    mode = _modes.check_mode(mode)
    for name, value in (("walk_speed", walk_speed), ("bike_speed", bike_speed)):
        if not (np.isfinite(value) and value > 0):
            raise input_error(name, f"must be a positive speed in km/h, got {value!r}")
    opts = {"mode": mode, "walk_speed": float(walk_speed), "bike_speed": float(bike_speed),
            "crs": crs}
    gpd = sys.modules.get("geopandas")  # a GeoDataFrame implies geopandas is imported
    if gpd is not None and isinstance(source, gpd.GeoDataFrame | gpd.GeoSeries):
        frame = source if isinstance(source, gpd.GeoDataFrame) else gpd.GeoDataFrame(
            geometry=source)
        return from_lines(frame, **opts, source_name="layer").prepare()
    if isinstance(source, tuple | list) and len(source) == 4:
        return _from_osmnx_online(tuple(float(b) for b in source), **opts).prepare()
    if not isinstance(source, str | os.PathLike):
        raise input_error("network", f"cannot build a network from {type(source).__name__}",
                          "give a .osm.pbf/.osm/.graphml file, a line layer, a place name or a "
                          "(west, south, east, north) bounding box")
    path = Path(os.fspath(source))
    if not path.exists():
        if isinstance(source, str) and not _looks_like_path(source):
            return _from_osmnx_online(source, **opts).prepare()
        raise input_error(path, "network file not found", "check the path")
    name = path.name.lower()
    if bbox is not None:
        if name.endswith(XML_SUFFIXES + GRAPHML_SUFFIXES):
            raise input_error(path, "a street network read by box (a partitioned run) must be "
                              "a .osm.pbf extract or a vector line layer",
                              "convert it, e.g. ogr2ogr streets.gpkg FILE lines")
        builder = _from_pbf if name.endswith(PBF_SUFFIXES) else _from_vector_file
        bbox = tuple(float(b) for b in bbox)
        net = builder(path, **opts, bbox=bbox)
        return net.join_main(_outside(net, bbox)).prepare()
    if name.endswith(PBF_SUFFIXES):
        builder = _from_pbf
    elif name.endswith(XML_SUFFIXES):
        builder = _from_osm_xml
    elif name.endswith(GRAPHML_SUFFIXES):
        builder = _from_graphml
    else:
        builder = _from_vector_file
    cache_file, net = _from_cache(path, cache_dir, mode, walk_speed, bike_speed, crs)
    if net is not None:
        return net
    with step(f"building {mode} network from {path.name}"):
        net = builder(path, **opts).prepare()
    if cache_file is not None:
        try:
            _cache.save(net, cache_file)
        except OSError as exc:  # a read-only cache folder must not stop the analysis
            info(f"  network cache not written ({exc})")
    return net


def _outside(net: Network, bbox) -> np.ndarray:
    """Nodes outside a WGS84 box: their components are cut by it."""
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(net.crs, 4326, always_xy=True).transform(net.x, net.y)
    return (lon < bbox[0]) | (lat < bbox[1]) | (lon > bbox[2]) | (lat > bbox[3])


def _from_cache(path: Path, cache_dir, mode, walk_speed, bike_speed, crs):
    """(cache file or None, cached network or None)."""
    if cache_dir is False:
        return None, None
    folder = Path(cache_dir) if cache_dir is not None else _cache.default_cache_dir()
    key = _cache.cache_key(path, mode, walk_speed, bike_speed, crs)
    cache_file = folder / f"{path.stem}-{mode}-{key}.npz"
    net = None
    if cache_file.exists():
        with step(f"loading cached {mode} network for {path.name}"):
            net = _cache.load(cache_file)
            if net is not None:
                net.prepare()
    return cache_file, net


def _looks_like_path(text: str) -> bool:
    return (os.sep in text or "/" in text) or Path(text).suffix.lower() in (
        *PBF_SUFFIXES, *XML_SUFFIXES, *GRAPHML_SUFFIXES, ".shp", ".gpkg", ".geojson", ".json",
        ".fgb", ".parquet", ".zip")


# ---------------------------------------------------------------------------- assembly
def _speeds(mode: str, n: int, edges: pd.DataFrame, walk_speed: float,
            bike_speed: float) -> np.ndarray:
    if mode == "walk":
        return np.full(n, walk_speed)
    if mode == "bike":
        return np.full(n, bike_speed)
    return _modes.drive_speeds(edges.get("highway"), edges.get("maxspeed"), n)


def _assemble(*, mode: str, crs, node_id, x, y, u, v, length, geometry, edges: pd.DataFrame,
              walk_speed: float, bike_speed: float, source: str,
              directed_pairs: bool = False) -> Network:
    """Common last step: one-way flags, speeds, orientation of geometries, validation.

    ``directed_pairs``: the edges are already directed (osmnx), so a two-way street appears as
    two reciprocal edges; those are merged back into one two-way edge.
    """
    n = len(u)
    speed = _speeds(mode, n, edges, walk_speed, bike_speed)
    if mode == "drive":
        if directed_pairs:
            oneway = np.ones(n, dtype=bool)
            rev = np.zeros(n, dtype=bool)
        else:
            oneway, rev = _modes.oneway_flags(edges.get("oneway"), edges.get("junction"), n)
    else:
        oneway = np.zeros(n, dtype=bool)
        rev = np.zeros(n, dtype=bool)
    u = np.asarray(u, dtype=np.int64).copy()
    v = np.asarray(v, dtype=np.int64).copy()
    geometry = np.asarray(geometry, dtype=object).copy()
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    # make every geometry run from u to v (sources differ in how they digitise)
    start, _ = _line_ends(geometry)
    du = np.hypot(start[:, 0] - x[u], start[:, 1] - y[u])
    dv = np.hypot(start[:, 0] - x[v], start[:, 1] - y[v])
    flip = dv < du
    if flip.any():
        geometry[flip] = shapely.reverse(geometry[flip])
    # oneway=-1: travel against the digitised way direction -> swap ends
    if rev.any():
        u[rev], v[rev] = v[rev].copy(), u[rev].copy()
        geometry[rev] = shapely.reverse(geometry[rev])
    length = np.asarray(length, dtype=float)
    bad = ~np.isfinite(length) | (length < 0) | ~np.isfinite(speed) | (speed <= 0)
    keep = ~bad
    if directed_pairs and mode == "drive":
        keep &= _merge_reciprocal(u, v, length, oneway)
    if mode != "drive" and directed_pairs:
        keep &= _first_of_pairs(u, v)
    u, v, length, speed, oneway, geometry = (a[keep] for a in (u, v, length, speed, oneway,
                                                               geometry))
    if len(u) == 0:
        raise NetworkError(f"{source}: no street usable for {mode!r} was found")
    return Network(mode=mode, crs=crs, node_id=np.asarray(node_id), x=x, y=y, u=u, v=v,
                   length=length, speed=np.asarray(speed, dtype=float), oneway=oneway,
                   geometry=geometry, source=source)


def _line_ends(geometry: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of each line's first and of its last vertex (NaN for an empty or missing one),
    from one pass over the coordinates (several times faster than two get_point calls on a
    province's streets)."""
    start = np.full((len(geometry), 2), np.nan)
    end = start.copy()
    coords, line = shapely.get_coordinates(geometry, return_index=True)
    if len(line):
        first = np.r_[0, np.flatnonzero(np.diff(line)) + 1]
        last = np.r_[first[1:] - 1, len(line) - 1]
        start[line[first]] = coords[first]
        end[line[last]] = coords[last]
    return start, end


def _merge_reciprocal(u, v, length, oneway) -> np.ndarray:
    """Keep one of each reciprocal pair (u->v and v->u of equal length) as a two-way edge."""
    df = pd.DataFrame({"u": u, "v": v, "len": np.round(length, 3), "i": np.arange(len(u))})
    rev = df.rename(columns={"u": "v", "v": "u", "i": "j"})
    pairs = df.merge(rev, on=["u", "v", "len"])
    pairs = pairs[pairs.i != pairs.j].drop_duplicates("i")
    keep = np.ones(len(u), dtype=bool)
    lo = pairs[pairs.u < pairs.v]
    keep[pairs[pairs.u > pairs.v].i.to_numpy()] = False
    oneway[lo.i.to_numpy()] = False
    return keep


def _first_of_pairs(u, v) -> np.ndarray:
    """For two-way modes on a directed graph: drop the second copy of reciprocal edges."""
    a = np.minimum(u, v)
    b = np.maximum(u, v)
    df = pd.DataFrame({"a": a, "b": b, "r": u > v})
    # a u->v edge whose reverse exists: keep the copy with u < v
    has_rev = df.merge(pd.DataFrame({"a": a, "b": b, "r": ~(u > v)}).drop_duplicates(),
                       on=["a", "b", "r"], how="left", indicator=True)["_merge"].eq("both")
    return ~(has_rev.to_numpy() & (u > v))


def _target_crs(lonlat_bounds, crs):
    from pyproj import CRS

    from geoequity.crs import utm_crs_for

    return CRS.from_user_input(crs) if crs is not None else utm_crs_for(tuple(lonlat_bounds))


# ---------------------------------------------------------------------------- OSM pbf
def _from_pbf(path: Path, *, mode: str, walk_speed: float, bike_speed: float, crs,
              bbox=None) -> Network:
    import warnings

    from pyrosm import OSM

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            osm = OSM(str(path), bounding_box=None if bbox is None else list(bbox))
            nodes, edges = osm.get_network(network_type=_modes.PYROSM_TYPES[mode],
                                                      nodes=True)
    except Exception as exc:  # pyrosm raises bare exceptions on corrupt files
        raise input_error(path, f"cannot read this OSM extract ({exc})",
                          "check that it is a valid .osm.pbf file") from exc
    if edges is None or nodes is None or len(edges) == 0:
        raise NetworkError(f"{path}: the extract has no streets usable for {mode!r}")
    lon = nodes["lon"].to_numpy(float)
    lat = nodes["lat"].to_numpy(float)
    target = _target_crs((lon.min(), lat.min(), lon.max(), lat.max()), crs)
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, target, always_xy=True).transform(lon, lat)
    ids = pd.Index(nodes["id"].to_numpy())
    u = ids.get_indexer(edges["u"].to_numpy())
    v = ids.get_indexer(edges["v"].to_numpy())
    ok = (u >= 0) & (v >= 0)
    if not ok.all():
        info(f"  {path.name}: ignored {int((~ok).sum())} edge(s) whose end node is missing")
    edges = edges.loc[ok]
    geom = shapely.transform(edges.geometry.values, _xy_transformer(target), interleaved=False)
    return _assemble(mode=mode, crs=target, node_id=ids.to_numpy(), x=np.asarray(x),
                     y=np.asarray(y), u=u[ok], v=v[ok], length=edges["length"].to_numpy(float),
                     geometry=np.asarray(geom), edges=edges.reset_index(drop=True),
                     walk_speed=walk_speed, bike_speed=bike_speed, source=str(path))


def _xy_transformer(target):
    from pyproj import Transformer

    t = Transformer.from_crs(4326, target, always_xy=True)

    def fn(xx, yy):
        return t.transform(xx, yy)

    return fn


# ---------------------------------------------------------------------------- osmnx
def _from_osmnx_graph(graph, *, mode: str, walk_speed: float, bike_speed: float, crs,
                      source: str) -> Network:
    import osmnx as ox

    nodes, edges = ox.graph_to_gdfs(graph, nodes=True, edges=True, fill_edge_geometry=True)
    if len(edges) == 0:
        raise NetworkError(f"{source}: no streets usable for {mode!r}")
    nodes = nodes.set_crs(graph.graph.get("crs", "EPSG:4326"), allow_override=True)
    ll = nodes.to_crs(4326)
    target = _target_crs(tuple(ll.total_bounds), crs)
    nodes = nodes.to_crs(target)
    edges = edges.set_crs(nodes.crs if edges.crs is None else edges.crs,
                          allow_override=True).to_crs(target).reset_index()
    drop = _modes.excluded(edges.get("highway"), mode, len(edges))
    edges = edges.loc[~drop].reset_index(drop=True)
    ids = pd.Index(nodes.index.to_numpy())
    u = ids.get_indexer(edges["u"].to_numpy())
    v = ids.get_indexer(edges["v"].to_numpy())
    length = edges["length"].to_numpy(float) if "length" in edges else shapely.length(
        edges.geometry.values)
    return _assemble(mode=mode, crs=target, node_id=ids.to_numpy(),
                     x=nodes.geometry.x.to_numpy(), y=nodes.geometry.y.to_numpy(), u=u, v=v,
                     length=length, geometry=edges.geometry.values, edges=edges,
                     walk_speed=walk_speed, bike_speed=bike_speed, source=source,
                     directed_pairs=True)


def _from_osm_xml(path: Path, **opts) -> Network:
    import osmnx as ox

    try:
        graph = ox.graph_from_xml(str(path), bidirectional=opts["mode"] != "drive",
                                  simplify=True, retain_all=True)
    except Exception as exc:
        raise input_error(path, f"cannot read this OSM XML file ({exc})",
                          "check that it is an .osm XML export") from exc
    return _from_osmnx_graph(graph, **opts, source=str(path))


def _from_graphml(path: Path, **opts) -> Network:
    import osmnx as ox

    try:
        graph = ox.load_graphml(str(path))
    except Exception as exc:
        raise input_error(path, f"cannot read this GraphML file ({exc})",
                          "save it with osmnx.save_graphml") from exc
    return _from_osmnx_graph(graph, **opts, source=str(path))


def _from_osmnx_online(query, *, mode: str, walk_speed: float, bike_speed: float,
                       crs) -> Network:
    import osmnx as ox

    kind = "bounding box" if isinstance(query, tuple) else "place"
    try:
        with step(f"downloading {mode} network for {kind} {query!r} (osmnx)"):
            if isinstance(query, tuple):
                graph = ox.graph_from_bbox(query, network_type=_modes.OSMNX_TYPES[mode])
            else:
                graph = ox.graph_from_place(query, network_type=_modes.OSMNX_TYPES[mode])
    except Exception as exc:
        raise NetworkError(
            f"cannot download the street network for {kind} {query!r} ({type(exc).__name__}: "
            f"{str(exc)[:120]}); offline or unknown place? Use an OpenStreetMap extract instead:"
            " download a .osm.pbf (e.g. from download.geofabrik.de or extract.bbbike.org) and "
            "pass its path, e.g. load_network('city.osm.pbf') or --network city.osm.pbf") from exc
    return _from_osmnx_graph(graph, mode=mode, walk_speed=walk_speed, bike_speed=bike_speed,
                             crs=crs, source=f"{kind} {query!r}")


# ---------------------------------------------------------------------------- line layers
def _from_vector_file(path: Path, bbox=None, **opts) -> Network:
    from geoequity.io import read_layer

    if bbox is None:
        frame = read_layer(path, project=False)
    else:   # only the lines meeting the box, in the layer's own CRS
        import pyogrio
        from pyproj import CRS
        from pyproj.transformer import Transformer

        try:
            layer_crs = pyogrio.read_info(path)["crs"]
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError):
            layer_crs = None   # read_layer says what is wrong with the file
        box = bbox if layer_crs is None else Transformer.from_crs(
            4326, CRS.from_user_input(layer_crs), always_xy=True).transform_bounds(
                *bbox, densify_pts=21)
        # read_layer on the file itself: a refusal (no CRS, ...) names the file, as when it
        # reads it whole. In the file's order (a box read follows the spatial index): ties
        # between streets (a point as near to two) then go to the same street as when
        # reading it whole
        frame = read_layer(path, project=False, bbox=tuple(box)).sort_index()
        frame = frame.reset_index(drop=True)
    return from_lines(frame, **opts, source_name=str(path))


def _unique_rows(ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(ends, axis=0, return_inverse=True)`` of integer (x, y) rows, through one
    integer key per row when the extent allows it (the same rows in the same order, faster)."""
    if len(ends):
        lo = ends.min(axis=0)
        span = ends.max(axis=0) - lo + 1
        if float(span[0]) * float(span[1]) < 2.0**62:
            key = (ends[:, 0] - lo[0]) * span[1] + (ends[:, 1] - lo[1])
            ukey, inv = np.unique(key, return_inverse=True)
            uniq = np.column_stack([ukey // span[1] + lo[0], ukey % span[1] + lo[1]])
            return uniq, inv.ravel()
    uniq, inv = np.unique(ends, axis=0, return_inverse=True)
    return uniq, inv.ravel()


def from_lines(frame, *, mode: str = "walk", walk_speed: float = 4.5, bike_speed: float = 15.0,
               crs=None, source_name: str = "layer", tolerance: float = 0.01) -> Network:
    """Build a network from a layer of (Multi)LineStrings.

    Lines meet where their end points coincide within ``tolerance`` metres (after projection).
    Optional columns (any case) ``highway``, ``maxspeed``, ``oneway``, ``junction`` are used as
    for OSM data; edge length is the projected geometry length in metres.
    """
    from geoequity.crs import to_projected

    if frame.crs is None:
        raise input_error(source_name, "line layer has no coordinate reference system (CRS)",
                          "add a .prj file or set the CRS (gdf.set_crs(...))")
    gtype = shapely.get_type_id(frame.geometry.values)
    lines = np.isin(gtype, (1, 5))
    if not lines.any():
        raise input_error(source_name, "has no LineString features to build a street network",
                          "give a line layer of streets")
    if not lines.all():
        info(f"  {source_name}: ignored {int((~lines).sum())} non-line feature(s)")
    frame = frame.loc[lines]
    frame = frame.loc[~(shapely.is_empty(frame.geometry.values) | frame.geometry.isna())]
    frame = to_projected(frame, crs)
    if (shapely.get_type_id(frame.geometry.values) == 5).any():   # MultiLineStrings
        frame = frame.explode(index_parts=False)
    frame = frame.reset_index(drop=True)
    frame.columns = [c.lower() if isinstance(c, str) and c != frame.geometry.name else c
                     for c in frame.columns]
    drop = _modes.excluded(frame.get("highway"), mode, len(frame))
    frame = frame.loc[~drop].reset_index(drop=True)
    geoms = np.asarray(frame.geometry.values)
    start, end = _line_ends(geoms)   # no empty lines are left
    ends = np.round(np.vstack([start, end]) / tolerance).astype(np.int64)
    uniq, inv = _unique_rows(ends)
    n = len(geoms)
    xy = uniq * tolerance
    return _assemble(mode=mode, crs=frame.crs, node_id=np.arange(len(uniq)), x=xy[:, 0],
                     y=xy[:, 1], u=inv[:n], v=inv[n:], length=shapely.length(geoms),
                     geometry=geoms, edges=frame, walk_speed=walk_speed,
                     bike_speed=bike_speed, source=source_name)
