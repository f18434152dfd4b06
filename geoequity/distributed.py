"""Province-scale runs on a dask.distributed cluster: partitions with halos, equal results.

A run with a scheduler (``--scheduler ADDRESS``, ``[compute] scheduler``), a local cluster
(``--workers N``, ``[compute] workers``) or a client (``run_scenario(..., client=Client)``)
splits the cells into partitions (``[compute] partition``: ``"districts"``, a column of the
districts layer grouping them, e.g. ``"county"``, or a square tile size in metres) and computes
each partition on a worker:

1. the partition's streets are read from the source by box (:func:`geoequity.load_network`
   ``bbox=``: pyrosm's bounding box of a ``.osm.pbf``, pyogrio's ``bbox`` of a line layer), so
   no process ever holds the province's graph;
2. its cost table and per-cell measures come from the library's own functions
   (:func:`geoequity.cost_table`, :func:`geoequity.accessibility`, :func:`geoequity.nearest`,
   :func:`geoequity.cumulative`, :func:`geoequity.two_stage_fca`) on the partition's cells plus
   a *halo* of every cell, school and street that can change their answers (:class:`Halo`);
3. the client gathers the core cells' values and cost pairs, and runs the global steps over all
   cells (:func:`geoequity.pipeline.analyse` with ``local=``): the capacity-constrained
   assignment on the merged sparse cost table (exact: the same table as an in-process run),
   the district table, equity statistics (Gini, Theil with its between/within-district
   decomposition), catchments, the report's school-resource balance, and the outputs.

The halo rule (straight-line metres, so it can be cut with boxes): let ``R(c)`` be the
longest straight line a pair of cost ``c`` can span. A cell's nearest school and its seats
within the threshold need every school within ``R(max_cost)``; its 2SFCA-type value (2SFCA,
E2SFCA, BFCA, gravity, and ``access_index``) needs each such school's ratio, which counts
every cell within ``R(threshold)`` of that school: cells within ``2 R(threshold)``; a path of
cost ``c`` never leaves ``R(c)`` of either end, and a point snaps to streets within
``snap_limit``, so streets within ``max(R(max_cost), 2 R(threshold)) + snap_limit``. ``R(c)``
holds because costs never undercut the straight line: metres along streets or straight lines
times a detour factor >= 1 are at least the straight-line distance (``R(c) = c``; ``c /
detour_factor`` for straight lines); minutes at most the fastest speed allows (walk and bike:
their speed; straight lines: the line speed; drive: :data:`DRIVE_HALO_KMH`, an assumption a
street faster than it would break). Brought cost tables have no geometry bound and are refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geoequity._errors import GeoequityError, input_error
from geoequity._options import option
from geoequity._progress import bar, info, step
from geoequity.io.districts import OUTSIDE, district_of
from geoequity.io.vector import representative_points

__all__ = ["ComputeOptions", "Halo", "halo", "cluster_client", "partitioned_costs",
           "partition_keys", "ClusterError", "CONNECT_TIMEOUT", "DEFAULT_TILE",
           "DRIVE_HALO_KMH", "DISTRICTS"]

DISTRICTS = "districts"       # partition = "districts": one partition per district
DEFAULT_TILE = 20_000.0       # metres: tiles of a run with no districts layer
CONNECT_TIMEOUT = 5           # seconds to reach a scheduler before giving up
DRIVE_HALO_KMH = 130.0        # fastest street assumed by a driving run in minutes


class ClusterError(GeoequityError):
    """The cluster could not be reached or lost a worker: the run stops, nothing written."""


@dataclass(frozen=True)
class ComputeOptions:
    """Where a run computes: in process (the default), or on a dask.distributed cluster.

    Attributes
    ----------
    scheduler
        Address of a running scheduler (``tcp://host:8786``).
    workers
        Number of worker processes of a local cluster to start (1 or more).
    partition
        ``"districts"`` (one partition per district), a column of the districts layer that
        groups districts (``"county"``), or a tile size in metres (a number > 0). Default:
        ``"districts"`` with a districts layer, else :data:`DEFAULT_TILE` metre tiles.
    """

    scheduler: str | None = None
    workers: int | None = None
    partition: str | float | None = None

    def __post_init__(self) -> None:
        if self.scheduler is not None and (not isinstance(self.scheduler, str)
                                           or not self.scheduler.strip()):
            raise input_error(option("scheduler"), f"{self.scheduler!r} is not an address",
                              "give the scheduler's address, e.g. tcp://host:8786")
        w = self.workers
        if w is not None and (isinstance(w, bool) or not isinstance(w, int | np.integer)
                              or w < 1):
            raise input_error(option("workers"), f"{w!r} is not a number of worker processes",
                              "give a whole number, 1 or more (e.g. 2)")
        if self.scheduler is not None and w is not None:
            raise input_error(option("workers"), "a run uses a scheduler or starts its own "
                              "workers, not both", f"drop {option('workers')} or "
                              f"{option('scheduler')}")
        p = self.partition
        if isinstance(p, bool) or (p is not None and not isinstance(p, str | int | float)):
            raise input_error(option("partition"), f"{p!r} is not a partition",
                              '"districts", a districts column, or a tile size in metres')
        if isinstance(p, int | float) and not (math.isfinite(p) and p > 0):
            raise input_error(option("partition"), f"{p!r} is not a tile size",
                              "give metres greater than 0, e.g. 20000")
        if isinstance(p, str) and not p.strip():
            raise input_error(option("partition"), "is empty",
                              '"districts", a districts column, or a tile size in metres')

    @property
    def distributed(self) -> bool:
        """Whether these options ask for a cluster."""
        return self.scheduler is not None or self.workers is not None

    def merged(self, **given) -> ComputeOptions:
        """These options with the ones ``given`` (not None) taking precedence: a CLI flag or
        a Python argument over the scenario's ``[compute]``. A scheduler given replaces the
        file's workers and the other way round."""
        given = {k: v for k, v in given.items() if v is not None}
        base = {"scheduler": self.scheduler, "workers": self.workers,
                "partition": self.partition}
        if "scheduler" in given:
            base["workers"] = None
        if "workers" in given:
            base["scheduler"] = None
        return ComputeOptions(**{**base, **given})


def parse_partition(value: str | None) -> str | float | None:
    """A partition as written on a command line: a number is a tile size in metres."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


# ---------------------------------------------------------------------------- cluster
@contextmanager
def cluster_client(options: ComputeOptions, client=None, *, source: object = None
                   ) -> Iterator[Any]:
    """A :class:`distributed.Client`: ``client`` itself, one connected to
    ``options.scheduler`` (given :data:`CONNECT_TIMEOUT` seconds), or one on a new
    :class:`distributed.LocalCluster` of ``options.workers`` processes (closed after)."""
    if client is not None:
        yield client
        return
    from distributed import Client, LocalCluster

    if options.scheduler is not None:
        address = options.scheduler.strip()
        try:
            with step(f"connecting to the dask scheduler at {address}"):
                c = Client(address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            why = " ".join(str(exc).split())[:160] or type(exc).__name__
            raise input_error(source or option("scheduler"), "cannot reach the dask "
                              f"scheduler at {address} within {CONNECT_TIMEOUT} s ({why})",
                              "start it (dask scheduler) or check the address; "
                              f"{option('workers')} N starts a local cluster") from None
        try:
            yield c
        finally:
            c.close()
        return
    with step(f"starting a local dask cluster of {options.workers} worker process(es)"):
        lc = LocalCluster(n_workers=int(options.workers), processes=True,
                          threads_per_worker=1, dashboard_address=None)
        c = Client(lc)
    try:
        yield c
    finally:
        c.close()
        lc.close()


# ---------------------------------------------------------------------------- halo rule
@dataclass(frozen=True)
class Halo:
    """Straight-line metres around a partition's cells within which every cell, school and
    street that can change the partition's answers lies (the module docstring)."""

    cells: float
    schools: float
    streets: float


def reach(source, cost: float) -> float:
    """``R(cost)``: the longest straight line (metres) a pair of ``cost`` can span."""
    if source.kind == "table":
        raise input_error(option("partition"), "a partitioned run cannot bound a brought cost "
                          "table by distance (its costs are not tied to the map)",
                          "run it in process, or use a street network or straight lines")
    if source.unit == "m":
        return float(cost) / (source.detour_factor if source.kind == "euclidean" else 1.0)
    if source.kind == "euclidean":
        kmh = source.line_speed
    else:
        mode_kmh = {"walk": source.walk_speed, "bike": source.bike_speed,
                    "drive": DRIVE_HALO_KMH}[source.mode]
        kmh = max(mode_kmh, source.line_speed)   # off-network points go by straight line
    return float(cost) * kmh * 1000.0 / 60.0 / (
        source.detour_factor if source.kind == "euclidean" else 1.0)


def halo(source, *, threshold: float, max_cost: float) -> Halo:
    """The :class:`Halo` of a cost source for ``threshold`` and ``max_cost``."""
    rt, rm = reach(source, threshold), reach(source, max_cost)
    snap = source.snap_limit if source.kind == "network" else 0.0
    return Halo(cells=2.0 * rt, schools=max(rm, rt), streets=max(rm, 2.0 * rt) + snap)


# ---------------------------------------------------------------------------- partitions
def partition_keys(cells: gpd.GeoDataFrame, partition, districts: gpd.GeoDataFrame | None,
                   groups: gpd.GeoDataFrame | None = None) -> np.ndarray:
    """The partition of each cell: its district (``"districts"``), the group of districts it
    lies in (``groups``: the districts layer dissolved by the partition column), or its
    square tile (``"x,y"`` tile numbers of a tile size in metres)."""
    if isinstance(partition, int | float):
        pts = representative_points(cells)
        tx = np.floor(pts.x.to_numpy() / float(partition)).astype(np.int64)
        ty = np.floor(pts.y.to_numpy() / float(partition)).astype(np.int64)
        return np.char.add(np.char.add(tx.astype(str), ","), ty.astype(str)).astype(object)
    layer = groups if groups is not None else districts
    return district_of(cells, layer).to_numpy() if layer is not None else \
        np.full(len(cells), OUTSIDE, dtype=object)


@dataclass(frozen=True)
class _Task:
    """What a worker needs besides its cells and schools."""

    name: str
    source: Any           # CostSource (its network a path: read by box on the worker)
    streets_box: tuple | None   # WGS84 (west, south, east, north) of the partition's streets
    network_crs: Any
    threshold: float
    max_cost: float
    method: str
    decay: Any
    decay_param: Any


def partition_task(task: _Task, cells: gpd.GeoDataFrame, schools: gpd.GeoDataFrame
                   ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, dict]:
    """One partition, on a worker (:func:`_partition`), silently: a local cluster's workers
    share the client's terminal, and a partition's own notes (its halo's cells without a
    school, ...) would read as the run's. The client says the run's progress."""
    from geoequity._progress import quiet

    with quiet():
        return _partition(task, cells, schools)


def _partition(task: _Task, cells: gpd.GeoDataFrame, schools: gpd.GeoDataFrame
               ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, dict]:
    """One partition, on a worker: costs and per-cell measures of its core cells.

    ``cells`` (points: the cells' representative points) carry ``children``, ``core`` and
    ``pos`` (position among all cells); ``schools`` carry ``seats`` and ``pos``. Returns the
    core cells' ``nearest_id, nearest_cost, seats_within, access, fca`` and their cost pairs
    as global positions and costs, and the cost table's ``attrs``.
    """
    from geoequity.access import accessibility, cumulative, nearest, two_stage_fca
    from geoequity.costs import CostSource, cost_table
    from geoequity.pairs import as_pairs

    import resource
    import time

    start = time.perf_counter()
    source = task.source
    nodes = 0
    if source.kind == "network":
        from geoequity.network.sources import load_network

        net = load_network(source.network, source.mode, walk_speed=source.walk_speed,
                           bike_speed=source.bike_speed, crs=task.network_crs,
                           bbox=task.streets_box)
        source = replace(source, network=net)
        nodes = net.n_nodes
    assert isinstance(source, CostSource)
    core = cells["core"].to_numpy()
    # core cells to every school within max_cost; halo cells only count towards the schools'
    # ratios, so the threshold bounds them (the same costs, a shorter search)
    table = cost_table(source, cells[core], schools, max_cost=task.max_cost)
    if not core.all():
        rest = cost_table(source, cells[~core], schools, max_cost=task.threshold)
        table = pd.concat([table, rest], ignore_index=True).__finalize__(table)
    dem = cells["children"].astype(float)
    sup = schools["seats"].astype(float)
    pairs = as_pairs(table, dem.index, sup.index)
    # the calls of geoequity.gaps.seat_gaps and geoequity.pipeline.analyse, on the partition
    access = accessibility(pairs, dem, sup, method=task.method, threshold=task.threshold,
                           decay=task.decay, decay_param=task.decay_param)
    far = nearest(pairs, dem, supply=sup, threshold=task.max_cost)
    seats_within = cumulative(pairs, sup, task.threshold, demand=dem)
    fca = access if task.method == "2sfca" else two_stage_fca(pairs, dem, sup, task.threshold)
    local = pd.DataFrame({"nearest_id": far["nearest_id"], "nearest_cost": far["nearest_cost"],
                          "seats_within": seats_within, "access": access, "fca": fca},
                         index=dem.index)[core]
    keep = core[pairs.origin]
    opos = cells["pos"].to_numpy()[pairs.origin[keep]]
    dpos = schools["pos"].to_numpy()[pairs.destination[keep]]
    small = np.int32 if max(len(cells), len(schools)) and int(max(
        cells["pos"].max(), schools["pos"].max() if len(schools) else 0)) < 2**31 else np.int64
    opos, dpos = opos.astype(small), dpos.astype(small)   # less to send to the client
    attrs = {k: v for k, v in table.attrs.items() if k in ("method", "unit")}
    attrs["stats"] = {"partition": task.name, "cells": int(core.sum()), "halo_cells": len(cells),
                      "schools": len(schools), "street_nodes": nodes, "pairs": int(keep.sum()),
                      "seconds": time.perf_counter() - start,
                      "worker_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    return local, opos, dpos, pairs.cost[keep], attrs


def _warm_up() -> None:
    """Import what a partition needs (on a worker, before its first task)."""
    import geoequity.access  # noqa: F401
    import geoequity.costs  # noqa: F401
    import geoequity.network.sources  # noqa: F401
    import geoequity.pairs  # noqa: F401


def _box(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    return float(x.min()), float(y.min()), float(x.max()), float(y.max())


def _grown(box, pad: float) -> tuple[float, float, float, float]:
    return (box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad)


def _inside(x, y, box) -> np.ndarray:
    return (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])


def _lonlat_box(box, crs) -> tuple[float, float, float, float]:
    from pyproj import Transformer

    return tuple(Transformer.from_crs(crs, 4326, always_xy=True).transform_bounds(
        *box, densify_pts=21))


def network_crs(source, cells_crs):
    """The CRS the partitions' streets are projected to: the one an in-process run gives
    the whole network (``crs``; a vector layer's own metric CRS, else the UTM zone of its
    extent), and the cells' CRS for an OSM extract (whose extent is not known before
    reading: give ``[analysis] crs`` when the province spans UTM zones)."""
    if source.kind != "network":
        return None
    if source.crs is not None:
        return source.crs
    from pathlib import Path

    from geoequity.network.sources import GRAPHML_SUFFIXES, PBF_SUFFIXES, XML_SUFFIXES

    path = Path(str(source.network))
    osm = PBF_SUFFIXES + XML_SUFFIXES + GRAPHML_SUFFIXES
    if path.exists() and not path.name.lower().endswith(osm):
        import pyogrio
        from pyproj import CRS, Transformer

        from geoequity.crs import is_metric, utm_crs_for

        meta = pyogrio.read_info(path, force_total_bounds=True)
        crs = CRS.from_user_input(meta["crs"]) if meta["crs"] else None
        if crs is not None and crs.is_projected and is_metric(crs):
            return crs
        if crs is not None:
            b = Transformer.from_crs(crs, 4326, always_xy=True).transform_bounds(
                *meta["total_bounds"])
            return utm_crs_for(tuple(b))
    return cells_crs


def partitioned_costs(client, cells: gpd.GeoDataFrame, schools: gpd.GeoDataFrame, keys,
                      source, *, threshold: float, max_cost: float, method: str = "2sfca",
                      decay: Any = None, decay_param: Any = None
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compute every partition on the cluster; return the merged cost table (the one an
    in-process :func:`geoequity.cost_table` gives) and the per-cell local measures.

    Parameters
    ----------
    client
        A :class:`distributed.Client`.
    cells, schools
        All cells (``children``) and schools (``seats``), ids in the index, projected CRS.
    keys
        The partition of each cell (:func:`partition_keys`).
    source
        The :class:`geoequity.CostSource` (not a brought table).
    threshold, max_cost, method, decay, decay_param
        As :func:`geoequity.pipeline.analyse`.
    """
    from distributed import fire_and_forget

    for address in client.scheduler_info().get("workers", {}):   # workers import meanwhile
        fire_and_forget(client.submit(_warm_up, pure=False, workers=[address],
                                      key=f"geoequity-warm-up-{address}"))
    h = halo(source, threshold=threshold, max_cost=max_cost)
    cpts, spts = representative_points(cells), representative_points(schools)
    cx, cy = cpts.x.to_numpy(), cpts.y.to_numpy()
    sx, sy = spts.x.to_numpy(), spts.y.to_numpy()
    cell_pts = gpd.GeoDataFrame({"children": cells["children"].astype(float).to_numpy(),
                                 "pos": np.arange(len(cells))}, geometry=cpts.to_numpy(),
                                index=cells.index, crs=cells.crs)
    school_pts = gpd.GeoDataFrame({"seats": schools["seats"].astype(float).to_numpy(),
                                   "pos": np.arange(len(schools))}, geometry=spts.to_numpy(),
                                  index=schools.index, crs=schools.crs)
    net_crs = network_crs(source, cells.crs)
    keys = pd.Series(np.asarray(keys, dtype=object))
    codes, names = pd.factorize(keys, sort=True)
    futures = {}
    for code, name in enumerate(names):
        core = codes == code
        box = _box(cx[core], cy[core])
        near_cells = _inside(cx, cy, _grown(box, h.cells))
        sub = cell_pts[near_cells].copy()
        sub["core"] = core[near_cells]
        sch = school_pts[_inside(sx, sy, _grown(box, h.schools))]
        streets = None
        if source.kind == "network":
            streets = _lonlat_box(_grown(box, h.streets), cells.crs)
        task = _Task(name=str(name), source=source, streets_box=streets, network_crs=net_crs,
                     threshold=threshold, max_cost=max_cost, method=method, decay=decay,
                     decay_param=decay_param)
        futures[str(name)] = client.submit(partition_task, task, sub, sch,
                                           key=f"geoequity-partition-{code}-{name}",
                                           pure=False)
    with step(f"{len(futures)} partition(s) on the cluster "
              f"(halo: cells {h.cells:,.0f} m, schools {h.schools:,.0f} m)"):
        parts = _gather(client, futures)
    if parts:
        big = max((p[4]["stats"] for p in parts), key=lambda st: st["halo_cells"])
        info(f"  largest partition {big['partition']}: {big['cells']:,} cells "
             f"({big['halo_cells']:,} with its halo), {big['schools']:,} schools, "
             f"{big['seconds']:.1f} s")
    return _merge(parts, cells, schools)


def _gather(client, futures: dict) -> list:
    """The partitions' results; a lost worker or a lost scheduler stops the run (one line)."""
    from distributed import as_completed

    done = []
    try:
        for fut in bar(as_completed(list(futures.values())), total=len(futures),
                       desc="partitions"):
            done.append(fut.result())
    except GeoequityError:
        raise
    except Exception as exc:   # KilledWorker, CommClosedError, CancelledError ...
        name = next((n for n, f in futures.items() if f.status in ("error", "cancelled")),
                    "?")
        why = " ".join(str(exc).split())[:160]
        for f in futures.values():
            f.cancel()
        raise ClusterError(f"cluster: the run lost partition {name!r} ({type(exc).__name__}: "
                           f"{why}); nothing was written and the previous results are as they "
                           "were; check the workers' memory and logs, and run again") from None
    return done


def _merge(parts: list, cells, schools) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One cost table sorted as :func:`geoequity.cost_table` sorts (origin, cost,
    destination), and the local measures in the cells' order."""
    from geoequity.costs import COLUMNS

    local = pd.concat([p[0] for p in parts]) if parts else pd.DataFrame()
    local = local.reindex(cells.index)
    # nearest_id typed as geoequity.nearest types it (the schools' ids, Int64 for integers)
    reached = local["nearest_cost"].notna().to_numpy()
    ids = local["nearest_id"].to_numpy(dtype=object)
    pos = schools.index.get_indexer(np.where(reached, ids, schools.index[0]) if len(schools)
                                    else ids)
    nid = pd.Series(np.asarray(schools.index.take(np.where(reached, pos, 0))),
                    index=cells.index)
    if pd.api.types.is_integer_dtype(nid.dtype):
        nid = nid.astype("Int64")
    local["nearest_id"] = nid.mask(pd.Series(~reached, index=cells.index))
    oi = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    di = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int64)
    cost = np.concatenate([p[3] for p in parts]) if parts else np.zeros(0)
    order = _origin_order(oi, len(cells))
    if order is None:
        order = np.lexsort((di, cost, oi))
    table = pd.DataFrame({"origin": cells.index.take(oi[order]),
                          "destination": schools.index.take(di[order]),
                          "cost": cost[order].astype(np.float64)}, columns=COLUMNS)
    if parts:
        table.attrs.update({k: v for k, v in parts[0][4].items() if k != "stats"})
    # what each partition took (geoequity.distributed's benchmark reads it)
    local.attrs["partitions"] = [p[4]["stats"] for p in parts]
    return table, local


def _origin_order(oi: np.ndarray, n: int) -> np.ndarray | None:
    """The order that puts the partitions' pairs in origin order, in linear time: each cell's
    pairs come from one partition, already sorted by cost and school there (the order of
    :func:`geoequity.cost_table`), so whole runs are moved. None when a cell's pairs are
    not one run (then a full sort)."""
    if not len(oi):
        return np.zeros(0, dtype=np.intp)
    brk = np.r_[0, np.flatnonzero(np.diff(oi)) + 1]
    counts = np.bincount(oi, minlength=n)
    if len(brk) != int((counts > 0).sum()):
        return None
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    rank = np.arange(len(oi)) - np.repeat(brk, np.diff(np.r_[brk, len(oi)]))
    order = np.empty(len(oi), dtype=np.intp)
    order[starts[oi] + rank] = np.arange(len(oi))
    return order


def check_partition_column(path, districts: dict | None, partition, *, source) -> None:
    """Refuse (one line naming ``source`` and the key) a partition the layers cannot give:
    ``"districts"`` or a column with no districts layer, a column the layer lacks."""
    if partition is None or isinstance(partition, int | float):
        return
    if districts is None:
        raise input_error(source, f"{option('partition', partition)} needs a districts layer",
                          "add [districts], or give a tile size in metres (e.g. 20000)")
    if partition == DISTRICTS:
        return
    import pyogrio

    try:
        fields = list(pyogrio.read_info(districts["path"], layer=districts.get("layer"))
                      ["fields"])
    except Exception:   # unreadable layers are reported by the reader, with GDAL's reason
        return
    if partition not in fields:
        raise input_error(source, f"{option('partition', partition)}: the districts layer "
                          f"{path} has no column {partition!r}",
                          f'use "districts", one of its columns ({", ".join(fields)}) or a '
                          "tile size in metres")


def read_groups(districts: dict, partition: str, crs) -> gpd.GeoDataFrame:
    """The districts layer dissolved by the partition column (e.g. one row per county)."""
    from geoequity.io import read_districts

    return read_districts(districts["path"], name_col=partition, crs=crs,
                          input_crs=districts.get("input_crs"), layer=districts.get("layer"))


def run_on_cluster(options: ComputeOptions, client, cells, schools, districts, source, *,
                   district_paths: dict | None, threshold: float, max_cost: float,
                   method: str, decay: Any, decay_param: Any, where: object = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Partition the run by ``options.partition`` and compute it on the cluster of
    ``client`` (None: the scheduler named or a new local cluster, :func:`cluster_client`):
    ``(costs, local)`` for :func:`geoequity.pipeline.analyse`."""
    partition = options.partition
    if partition is None:
        partition = DISTRICTS if districts is not None else DEFAULT_TILE
    groups = None
    if isinstance(partition, str) and partition != DISTRICTS:
        groups = read_groups(district_paths, partition, cells.crs)
    keys = partition_keys(cells, partition, districts, groups)
    info(f"  partitions: {len(set(keys))} by {partition!r}")
    with cluster_client(options, client, source=where) as c:
        return partitioned_costs(c, cells, schools, keys, source, threshold=threshold,
                                 max_cost=max_cost, method=method, decay=decay,
                                 decay_param=decay_param)
