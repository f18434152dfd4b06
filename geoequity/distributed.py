"""Province-scale runs on a dask.distributed cluster: partitions with halos, equal results.

A run with a scheduler (``--scheduler ADDRESS``, ``[compute] scheduler``), a local cluster
(``--workers N``, ``[compute] workers``) or a client (``run_scenario(..., client=Client)``)
splits the cells into partitions (``[compute] partition``: ``"districts"``, a column of the
districts layer grouping them, e.g. ``"county"``, or a square tile size in metres) and computes
each partition on a worker:

1. the partition's streets are read from the source by box (:func:`geoequity.load_network`
   ``bbox=``: pyrosm's bounding box of a ``.osm.pbf``, pyogrio's ``bbox`` of a line layer),
   once per spatial group of partitions sent to one worker (at least two groups), so no
   process ever holds the province's graph;
2. its cost table and per-cell measures come from the library's own functions
   (:func:`geoequity.cost_table`, :func:`geoequity.accessibility`, :func:`geoequity.nearest`,
   :func:`geoequity.cumulative`, :func:`geoequity.two_stage_fca`) on the partition's cells plus
   a *halo* of every cell, school and street that can change their answers (:class:`Halo`);
3. the client gathers the core cells' values and cost pairs, and runs the global steps over all
   cells (:func:`geoequity.pipeline.analyse` with ``local=``, the merged pairs already coded
   and the cells' districts computed for the partitions): the capacity-constrained
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

import functools
import math
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoequity._errors import GeoequityError, input_error
from geoequity._memory import trim_memory
from geoequity._options import option
from geoequity._progress import bar, info, step
from geoequity.io.districts import OUTSIDE, district_of, layer_names
from geoequity.io.vector import (
    box_centres,
    keep_points,
    remember_points,
    representative_points,
    representative_xy,
)
from geoequity.pairs import Pairs, id_rank

__all__ = ["ComputeOptions", "ClusterRun", "Halo", "KeptCells", "KeptPairs", "cell_piece",
           "kept_cells",
           "halo", "cluster_client",
           "kept_costs", "partitioned_costs",
           "partition_keys", "ClusterError", "Starting", "ready", "done_with",
           "CONNECT_TIMEOUT", "DEFAULT_TILE", "DRIVE_HALO_KMH", "DISTRICTS"]

DISTRICTS = "districts"       # partition = "districts": one partition per district
DEFAULT_TILE = 20_000.0       # metres: tiles of a run with no districts layer
CONNECT_TIMEOUT = 5           # seconds to reach a scheduler before giving up
# seconds the close of the run's own cluster waits for its workers to take the quick exit
# (Starting._close): the request is one round trip, milliseconds on an idle worker (the whole
# close took 0.04 s), so 3 s leaves a loaded machine room; a worker still silent then (its
# event loop starved by a task holding the GIL, or stuck) is left to the nanny's kill (4 s),
# which bounded the close before the quick exit existed
EXIT_WAIT = 3.0
DRIVE_HALO_KMH = 130.0        # fastest street assumed by a driving run in minutes
#: ``scheduler_kwargs`` of a local cluster: ``dashboard_address=None`` leaves the dashboard
#: off but the scheduler's HTTP server (health, metrics) still binds distributed's default
#: port 8787, and warns "Port 8787 is already in use" when another cluster holds it; a free
#: port of the loopback instead (the tests' clusters pass it too)
NO_DASHBOARD_PORT = {"dashboard_address": "127.0.0.1:0"}


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
    :class:`distributed.LocalCluster` of ``options.workers`` processes (closed after).

    The local cluster starts in a thread (:class:`Starting`): the caller reads its inputs
    and cuts its partitions meanwhile, and :func:`ready` gives the client when it is needed.
    """
    if client is not None:
        yield client
        return
    if options.scheduler is not None:
        from distributed import Client

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
    info(f"- starting a local dask cluster of {options.workers} worker process(es)")
    starting = Starting(int(options.workers))
    try:
        yield starting
    finally:
        starting.close()


#: What the nannies of a cluster the run starts leave out of dask's
#: ``distributed.nanny.pre-spawn-environ`` (a value the starting process's environment holds
#: is inherited, and kept): ``MALLOC_TRIM_THRESHOLD_=65536`` fixes glibc's heap thresholds,
#: so every array above 128 KiB is mapped fresh and given back when freed, and the pages are
#: faulted in again at each step. The workers took a third more CPU with it on the
#: 561,000-cell province (26-34 s against 21-28 s); with glibc's own thresholds, which grow
#: with the arrays freed, as in one process, their peaks were 50-100 MB higher
#: (docs/scale.md, "The workers' heap").
WORKER_ENVIRON_UNSET = ("MALLOC_TRIM_THRESHOLD_",)


class Starting:
    """A local cluster of ``workers`` processes starting in a thread: its workers spawn,
    import and load the kernels (:func:`warm_up`) while the run reads its inputs and cuts
    its partitions, instead of before. :func:`ready` waits for it and gives its client (or
    raises what stopped it); :meth:`close` closes it."""

    def __init__(self, workers: int) -> None:
        import threading

        self.cluster = self.client = None
        self.error: BaseException | None = None
        self._closing = None
        self._thread = threading.Thread(target=self._start, args=(workers,), daemon=True,
                                        name="geoequity-cluster-start")
        self._thread.start()

    def _start(self, workers: int) -> None:
        import dask
        from distributed import Client, LocalCluster

        try:
            # no sampling profiler in the workers: it wakes every 10 ms for a dashboard
            # nobody opens (about 5 % of a partition's CPU); no work stealing: a partition
            # on streets goes to its group's worker, which has its streets (an idle worker
            # taking it over reads them again, :func:`_streets`), and the others are queued
            # on the scheduler until a worker is free; glibc's own heap thresholds in the
            # workers, as in one process (:data:`WORKER_ENVIRON_UNSET`)
            with dask.config.set({"distributed.worker.profile.enabled": False,
                                  "distributed.scheduler.work-stealing": False,
                                  **{f"distributed.nanny.pre-spawn-environ.{name}": None
                                     for name in WORKER_ENVIRON_UNSET}}):
                self.cluster = LocalCluster(n_workers=workers, processes=True,
                                            threads_per_worker=1, dashboard_address=None,
                                            scheduler_kwargs=NO_DASHBOARD_PORT)
            self.client = Client(self.cluster)
            self.client.run(_quiet_task_errors)   # they share the run's terminal
            # the workers import and load kernels meanwhile too; the run's own cluster: its
            # steps yield the CPU to the exact solve
            warm_up(self.client, own=True)
        except BaseException as exc:   # raised by ready(), in the run's thread
            self.error = exc

    def get(self):
        """The client, once the cluster is up."""
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.client

    def close_soon(self) -> None:
        """Start closing the cluster in a thread (a run whose cluster has no work left:
        its workers exit while the client writes the outputs); :meth:`close` waits for it."""
        import threading

        if self._closing is None:
            self._closing = threading.Thread(target=self._close, daemon=True,
                                             name="geoequity-cluster-close")
            self._closing.start()

    def close(self) -> None:
        """Close the client and the cluster (after their start, if still under way)."""
        if self._closing is None:
            self._close()
        else:
            self._closing.join()

    def _close(self) -> None:
        import logging

        self._thread.join()
        # a worker that takes over 4 s to exit (a loaded machine, the client busy writing)
        # is killed by its nanny with a warning, and one that did not answer the quick exit
        # in time fails the scheduler's request with an error once killed: it holds nothing
        # the run needs, so no word
        loggers = [logging.getLogger(f"distributed.{n}") for n in ("nanny", "scheduler")]
        quiet = _NoKillWarning()
        for logger in loggers:
            logger.addFilter(quiet)
        try:
            if self.client is not None:
                _hurry(self.client)
                self.client.close()
            if self.cluster is not None:
                self.cluster.close()
        finally:
            for logger in loggers:
                logger.removeFilter(quiet)


def _hurry(client) -> None:
    """Ask the workers of ``client`` to end at once when closed (:func:`_exit_at_once`),
    waiting :data:`EXIT_WAIT` seconds at most: ``client.run`` has no timeout of its own, and
    an unresponsive worker must not hold the close (its nanny kills it then). Nothing is
    said either way: the run's results are written."""
    asking = threading.Thread(target=_ask_exit, args=(client,), daemon=True,
                              name="geoequity-cluster-exit")
    asking.start()
    asking.join(EXIT_WAIT)   # left behind, it ends with the client's close


def _ask_exit(client) -> None:
    with suppress(Exception):   # a worker lost meanwhile, the client closed: nothing to hurry
        client.run(_exit_at_once)


def _exit_at_once() -> None:
    """On a worker of a local cluster the run started and is closing (``client.run``): end
    its process without the interpreter's teardown once the worker has closed. The teardown
    frees every object and module one by one (about 0.8 s for a worker that imported the
    steps' modules and held a partition's cells, both workers at once on two cores, all of it
    waited for by the run); the worker holds nothing the run needs, its results are in the
    client's hands. Its logs and standard streams are flushed first. A cluster given to the
    run (``client=``, ``scheduler``) is never closed, so never hurried."""
    import atexit

    atexit.register(_exit_now)   # registered last: run first, before the slow teardown


def _exit_now() -> None:
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    os._exit(0)


class _NoKillWarning:
    """A logging filter dropping, while the run closes its own cluster, the nanny's "Worker
    process still alive after ..., killing" and the scheduler's "broadcast to ... failed"
    (the quick exit's request to a worker killed before it answered)."""

    @staticmethod
    def filter(record) -> bool:
        text = record.getMessage()
        return "still alive after" not in text and not text.startswith("broadcast to ")


class _NoTaskErrorLog:
    """A logging filter dropping a worker's "Compute Failed" record of a geoequity task: the
    client raises the task's error itself (an input error in one line, a bug with its
    traceback, :func:`_gather`), so the worker's copy of it, on the terminal a local
    cluster shares with the run, would only bury that one line under a traceback. Also its
    "Async instruction for <Task ... 'geoequity-...'> ended with CancelledError" of a
    geoequity task still running when the run stopped and closed the cluster (a worker
    warming up while another refused the input)."""

    @staticmethod
    def filter(record) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if str(record.msg).startswith("Async instruction for"):
            text = record.getMessage()
            return not ("'geoequity-" in text and text.endswith("ended with CancelledError"))
        return not (str(record.msg).startswith("Compute Failed") and args
                    and str(args[0]).startswith("geoequity-"))


def _quiet_task_errors() -> None:
    """On a worker of a local cluster the run started (``client.run``): add
    :class:`_NoTaskErrorLog` to the worker's loggers (once)."""
    import logging

    for name in ("distributed.worker", "distributed.worker.state_machine"):
        log = logging.getLogger(name)
        if not any(isinstance(f, _NoTaskErrorLog) for f in log.filters):
            log.addFilter(_NoTaskErrorLog())


def ready(client):
    """The client of a :class:`Starting` cluster (waiting for it), else ``client``."""
    return client.get() if isinstance(client, Starting) else client


def done_with(client) -> None:
    """The run needs no more of ``client``'s cluster: one it started closes meanwhile
    (:meth:`Starting.close_soon`); a cluster given (a client, a scheduler) stays as it is."""
    if isinstance(client, Starting):
        client.close_soon()


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
                   groups: gpd.GeoDataFrame | None = None, *,
                   points: gpd.GeoSeries | None = None,
                   cell_districts: np.ndarray | None = None) -> np.ndarray:
    """The partition of each cell: its district (``"districts"``), the group of districts it
    lies in (``groups``: the districts layer dissolved by the partition column), or its
    square tile (``"x,y"`` tile numbers of a tile size in metres).

    ``points`` (the cells' :func:`~geoequity.io.vector.representative_points`) and
    ``cell_districts`` (their :func:`~geoequity.io.district_of` against ``districts``), when
    the caller has them already, are used instead of computing them again."""
    pts = points

    def xy() -> tuple[np.ndarray, np.ndarray]:
        return ((pts.x.to_numpy(), pts.y.to_numpy()) if pts is not None
                else representative_xy(cells))

    if isinstance(partition, int | float):
        return _tile_keys(*xy(), float(partition))
    if groups is None and cell_districts is not None:
        keys = np.array(cell_districts, dtype=object)
    else:
        layer = groups if groups is not None else districts
        if layer is None:
            return np.full(len(cells), OUTSIDE, dtype=object)
        keys = np.array(district_of(pts if pts is not None else cells, layer), dtype=object)
    # the cells in no district: by tiles, so that no partition's box is the whole extent
    # (a country raster around a county's districts)
    out = keys == OUTSIDE
    if out.any():
        x, y = xy()
        keys[out] = _tile_keys(x[out], y[out], DEFAULT_TILE, OUTSIDE_TILE)
    return keys


#: the prefix of the partitions of the cells in no district (:func:`partition_keys`)
OUTSIDE_TILE = f"{OUTSIDE} "


def _tile_keys(x: np.ndarray, y: np.ndarray, size: float, prefix: str = "") -> np.ndarray:
    """``"x,y"`` tile numbers of points for square tiles of ``size`` metres."""
    tx = np.floor(x / size).astype(np.int64)
    ty = np.floor(y / size).astype(np.int64)
    keys = np.char.add(np.char.add(tx.astype(str), ","), ty.astype(str))
    if prefix:
        keys = np.char.add(prefix, keys)
    return keys.astype(object)


def _tile_boxes(bounds, size: float, prefix: str = "") -> dict[str, tuple]:
    """The tiles of ``size`` metres (:func:`_tile_keys`' names) over ``bounds``, each its box
    cut to ``bounds``."""
    minx, miny, maxx, maxy = bounds
    out = {}
    for tx in range(math.floor(minx / size), math.floor(maxx / size) + 1):
        for ty in range(math.floor(miny / size), math.floor(maxy / size) + 1):
            box = (max(tx * size, minx), max(ty * size, miny),
                   min((tx + 1) * size, maxx), min((ty + 1) * size, maxy))
            if box[0] < box[2] and box[1] < box[3]:
                out[f"{prefix}{tx},{ty}"] = box
    return out


def partition_windows(bounds, partition, districts: gpd.GeoDataFrame | None,
                      groups: gpd.GeoDataFrame | None = None) -> dict[str, tuple]:
    """Each partition's box, cut before any cell is read (``{name: ((minx, miny, maxx,
    maxy), area)}``, the names :func:`partition_keys` gives): the representative point of
    every cell of the partition lies in its box; ``area`` (square metres) where its cells
    can lie (its polygons'; a tile's, less the districts' for the cells in no district),
    what its size is guessed from before its cells are read. ``bounds``: the population's
    extent (its :func:`~geoequity.io.population.population_extent`). By districts (or
    ``groups``: the districts dissolved by a column), each one's polygons' bounds, and the
    tiles of :data:`DEFAULT_TILE` that the districts do not cover (their cells in no
    district); by a tile size, the tiles over the extent. A partition may turn out to hold
    no cell."""
    def area(box: tuple) -> float:
        return (box[2] - box[0]) * (box[3] - box[1])

    if isinstance(partition, int | float):
        return {k: (b, area(b)) for k, b in _tile_boxes(bounds, float(partition)).items()}
    layer = groups if groups is not None else districts
    if layer is None:
        return {OUTSIDE: (tuple(bounds), area(bounds))}
    geoms = np.asarray(layer.geometry.values)
    b = shapely.bounds(geoms)
    areas = shapely.area(geoms)
    out: dict[str, tuple] = {}
    for name, rows in pd.Series(np.arange(len(geoms))).groupby(layer_names(layer),
                                                                 sort=True):
        rows = rows.to_numpy()
        box = (max(np.nanmin(b[rows, 0]), bounds[0]), max(np.nanmin(b[rows, 1]), bounds[1]),
               min(np.nanmax(b[rows, 2]), bounds[2]), min(np.nanmax(b[rows, 3]), bounds[3]))
        if box[0] <= box[2] and box[1] <= box[3]:
            out[str(name)] = (box, float(np.nansum(areas[rows])))
    tiles = _tile_boxes(bounds, DEFAULT_TILE, OUTSIDE_TILE)
    if tiles:
        union = shapely.union_all(shapely.make_valid(geoms[~shapely.is_missing(geoms)]))
        shapely.prepare(union)
        boxes = shapely.box(*np.array(list(tiles.values())).T)
        open_ = ~shapely.covers(union, boxes)   # a tile the districts cover has no such cell
        # the part of each other tile the districts leave: its cells' points lie there, so
        # its box is that part's (a sliver along the extent's edge: a row of pixels to read;
        # a raster's extent is its cells' points', so districts covering it leave none)
        left = shapely.difference(boxes[open_], union)
        names = [k for k, o in zip(tiles, open_, strict=True) if o]
        for name, part in zip(names, left, strict=True):
            if not part.is_empty:
                out[name] = (tuple(float(v) for v in part.bounds), float(part.area))
    return out


@dataclass(frozen=True)
class _Task:
    """What a worker needs besides its cells and schools."""

    name: str
    source: Any           # CostSource (its network a path: read by box on the worker)
    streets_box: tuple | None   # WGS84 (west, south, east, north) of its group's streets
    network_crs: Any
    threshold: float
    max_cost: float
    method: str
    decay: Any
    decay_param: Any
    assignment_max_cost: float | None = None   # None: max_cost
    #: the partition's own streets box (WGS84): what it reads on a worker other than its
    #: group's (a lost worker's partitions, a partition an idle worker took over)
    own_box: tuple | None = None
    worker: str | None = None   # the address of its group's worker (None: any worker)
    group: int | None = None    # its street group (None: straight lines)
    #: the run's token (:func:`_submit`): a worker's kept streets serve only their own run
    run: str = ""


@dataclass(frozen=True)
class _Points:
    """A partition's cells or schools as plain arrays: their points' coordinates, children or
    seats, positions among all cells or schools; for schools, the rank of their ids in sort
    order, which stand for the ids (a tie for the nearest school goes to the smallest id,
    :func:`geoequity.pairs.id_rank`: the same school by rank). No geometries: numpy arrays
    pickle at memory speed, shapely geometries as WKB."""

    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    pos: np.ndarray
    crs: Any
    core: np.ndarray | None = None   # cells: whether each is of the partition (else halo)
    ids: np.ndarray | None = None    # schools: the rank of each one's id among all ids

    @property
    def index(self) -> pd.Index:
        """The points' ids in the partition's measures: the schools' ranks or, for cells,
        their positions among all cells (the partition answers by position)."""
        return pd.Index(self.ids if self.ids is not None else self.pos)

    def weights(self, name: str) -> pd.Series:
        """The children or seats (``name``) by :attr:`index`."""
        return pd.Series(self.weight, index=self.index, name=name)

    def coordinates(self, mask: np.ndarray | None = None):
        """The points (those of ``mask``) as :class:`geoequity.costs.Coordinates` under
        :attr:`index`: the costs' input, with no point geometry made."""
        from geoequity.costs import Coordinates

        if mask is None:
            return Coordinates(self.x, self.y, self.crs, ids=self.index)
        return Coordinates(self.x[mask], self.y[mask], self.crs, ids=self.index[mask])


@dataclass
class _Answer:
    """A partition's answer: its core cells' measures and cost pairs, as positions among all
    cells and schools (sorted as :func:`geoequity.cost_table` sorts: by origin, cost,
    school), and what it took (``stats``). The pairs stay on the worker
    (:class:`KeptPairs`); the client gets the rest (:meth:`without_pairs`)."""

    cells: np.ndarray           # positions of the core cells
    nearest: np.ndarray         # position of each one's nearest school, -1 for none
    values: dict                # nearest_cost, seats_within, access, fca
    origin: np.ndarray | None
    destination: np.ndarray | None
    cost: np.ndarray | None
    attrs: dict
    stats: dict
    #: the partition's schools (positions among all) and the children of its core cells
    #: within the threshold of each (their sum over the partitions is each school's
    #: ``children_within``)
    schools: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    catch: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: pairs within the assignment's max cost from a cell with children to a school with
    #: seats (the exact assignment's pairs)
    live: int = 0
    #: a partition whose worker read its cells (:func:`window_task`): ``cells`` and
    #: ``origin`` number its own core cells (0, 1, ... in the order of their ``keys``, their
    #: places in the run's order: their ``ids``, or their rows in a vector file whose ids
    #: are not its order), ``frame`` holds them as read with their ``district`` (and
    #: group; the piece is made from it, then it is dropped: :func:`_without_frame`), and
    #: ``children`` and ``centres`` what the solve and a decomposition take.
    #: None of it goes to the client (:meth:`without_pairs`)
    ids: np.ndarray | None = None
    keys: np.ndarray | None = None
    frame: Any = None
    children: np.ndarray | None = None
    centres: tuple | None = None   # of the cells' bounding boxes
    #: the read's ``attrs`` and columns (the geometry's among them)
    read_meta: dict | None = None

    def without_pairs(self) -> _Answer:
        """This answer without its pairs (and its cells' frame): what goes to the client;
        a worker-read partition's without any per-cell array (its figures, its schools'
        children within the threshold, the read's columns)."""
        if self.ids is None:
            return replace(self, origin=None, destination=None, cost=None)
        none = np.zeros(0, dtype=np.int64)
        return replace(self, origin=None, destination=None, cost=None, frame=None, ids=none,
                       keys=none, cells=none, nearest=none, values={}, children=None,
                       centres=None)


def _without_pairs(answer: _Answer) -> _Answer:
    return answer.without_pairs()


def partition_task(task: _Task, cells: _Points, schools: _Points) -> _Answer:
    """One partition, on a worker (:func:`_partition`), silently: a local cluster's workers
    share the client's terminal, and a partition's own notes (its halo's cells without a
    school, ...) would read as the run's. The client says the run's progress."""
    from geoequity._progress import quiet

    with quiet():
        return _partition(task, cells, schools)


def _partition(task: _Task, cell_pts: _Points, school_pts: _Points) -> _Answer:
    """One partition, on a worker: costs and per-cell measures of its core cells.

    ``cell_pts`` are the cells' representative points (core and halo), ``school_pts`` the
    schools' points. Returns the core cells' ``nearest_id`` (as a school position),
    ``nearest_cost, seats_within, access, fca`` and their cost pairs as positions and costs,
    and the cost table's ``attrs``.
    """
    from geoequity.access import accessibility, cumulative, nearest, two_stage_fca
    from geoequity.costs import CostSource, cost_pairs
    from geoequity.pairs import Pairs

    start, cpu = time.perf_counter(), time.process_time()
    source = task.source
    nodes = loads = 0
    if source.kind == "network":
        net, loads = _streets(task)
        source = replace(source, network=net)
        nodes = net.n_nodes
    assert isinstance(source, CostSource)
    core = cell_pts.core
    schools = school_pts.coordinates()
    dem, sup = cell_pts.weights("children"), school_pts.weights("seats")
    # core cells to every school within max_cost; halo cells only count towards the schools'
    # ratios, so the threshold bounds them (the same costs, a shorter search). The pairs
    # are the cost table's coded (cost_pairs: straight lines' without a table), core then
    # halo, each by cell, cost and school: as the run codes its table
    parts = [(np.flatnonzero(core), cost_pairs(source, cell_pts.coordinates(core), schools,
                                               max_cost=task.max_cost))]
    if not core.all():
        parts.append((np.flatnonzero(~core), cost_pairs(
            source, cell_pts.coordinates(~core), schools, max_cost=task.threshold)))
    pairs = Pairs(np.concatenate([at[p.origin] for at, p in parts]),
                  np.concatenate([p.destination for _, p in parts]),
                  np.concatenate([p.cost for _, p in parts]), dem.index, sup.index,
                  "costs", parts[0][1].attrs)
    attrs = {k: v for k, v in pairs.attrs.items() if k in ("method", "unit")}
    del parts
    # the calls of geoequity.gaps.seat_gaps and geoequity.pipeline.analyse, on the partition
    access = accessibility(pairs, dem, sup, method=task.method, threshold=task.threshold,
                           decay=task.decay, decay_param=task.decay_param)
    far = nearest(pairs, dem, supply=sup, threshold=task.max_cost)
    seats_within = cumulative(pairs, sup, task.threshold, demand=dem)
    fca = access if task.method == "2sfca" else two_stage_fca(pairs, dem, sup, task.threshold)
    reached = far["nearest_cost"].notna().to_numpy()
    near = np.full(len(dem), -1, dtype=np.int64)
    if reached.any():
        ids = far["nearest_id"].to_numpy(dtype=object)[reached]
        near[reached] = school_pts.pos[sup.index.get_indexer(ids)]
    values = {"nearest_cost": far["nearest_cost"], "seats_within": seats_within,
              "access": access, "fca": fca}
    values = {k: np.asarray(v.reindex(dem.index).to_numpy(dtype=np.float64))[core]
              for k, v in values.items()}
    # each school's children within the threshold among the core cells (every cell is
    # core in one partition: the sums over the partitions count each once), and the pairs
    # the exact assignment takes (geoequity.assignment.solver_pairs: children and seats)
    within = core[pairs.origin] & (pairs.cost <= task.threshold)
    dem_np, sup_np = dem.to_numpy(np.float64), sup.to_numpy(np.float64)
    catch = np.bincount(pairs.destination[within], weights=dem_np[pairs.origin[within]],
                        minlength=len(sup_np))
    amc = task.max_cost if task.assignment_max_cost is None else task.assignment_max_cost
    live = int((core[pairs.origin] & (pairs.cost <= amc) & (dem_np[pairs.origin] > 0)
                & (sup_np[pairs.destination] > 0)).sum())
    keep = core[pairs.origin]
    small = np.int32 if max(len(cell_pts.pos) and int(cell_pts.pos.max()),
                            len(school_pts.pos) and int(school_pts.pos.max())) < 2**31 \
        else np.int64   # less to send to the client
    opos = cell_pts.pos[pairs.origin[keep]].astype(small)
    dpos = school_pts.pos[pairs.destination[keep]].astype(small)
    stats = {"partition": task.name, "cells": int(core.sum()), "halo_cells": len(dem),
             "schools": len(sup), "street_nodes": nodes, "network_loads": loads,
             "group": task.group, "worker": _worker_address(), "pairs": int(keep.sum()),
             "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu,
             "worker_peak_mb": _peak_mb()}
    return _Answer(cells=cell_pts.pos[core], nearest=near[core], values=values, origin=opos,
                   destination=dpos, cost=pairs.cost[keep], attrs=attrs, stats=stats,
                   schools=school_pts.pos, catch=catch, live=live)


#: the street network this worker loaded last for a group of partitions, under what it was
#: loaded from (:func:`_streets_key`) and its box: one at a time, dropped by the client when
#: a run's partitions are back (:func:`_forget_streets`)
_KEPT_STREETS: dict = {}
_KEPT_LOCK = threading.Lock()


def _streets(task: _Task) -> tuple[Any, int]:
    """The partition's street network and whether it was loaded here (1) or reused (0).

    The partitions of a group share one network, the streets of the group's box
    (``task.streets_box``): the first one on the group's worker loads it and keeps it in
    :data:`_KEPT_STREETS` (in place of any earlier one); a partition whose own box
    (``task.own_box``) lies within the kept network's box uses it. Any other partition run
    on another worker than its group's (that worker lost, or an idle worker taking it over)
    reads its own box and keeps nothing, so that the worker's group network stays."""
    key = _streets_key(task)
    own = task.own_box if task.own_box is not None else task.streets_box
    with _KEPT_LOCK:   # a worker of several threads: one load, the others wait for it
        for (k, box), net in _KEPT_STREETS.items():
            if k == key and _holds(box, own):
                return net, 0
        if task.worker is None or task.worker == _worker_address() or task.own_box is None:
            _KEPT_STREETS.clear()   # the earlier network goes before the next one comes
            net = _load_streets(task, task.streets_box)
            _KEPT_STREETS[(key, task.streets_box)] = net
            return net, 1
    return _load_streets(task, own), 1


def _holds(outer, inner) -> bool:
    """Whether the box ``outer`` holds the box ``inner`` (west, south, east, north)."""
    return (outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2]
            and outer[3] >= inner[3])


def _load_streets(task: _Task, box):
    from geoequity.network.sources import load_network

    source = task.source
    return load_network(source.network, source.mode, walk_speed=source.walk_speed,
                        bike_speed=source.bike_speed, crs=task.network_crs, bbox=box)


def _streets_key(task: _Task) -> tuple:
    """What a loaded network depends on besides its box: the file (path, size, modification
    time), the mode and its speeds, the CRS; and the run (``task.run``): a network a worker
    kept past its run (its drop missed: a partition still loading when the run stopped, a
    lost client) is never another run's, even of a file rewritten within its timestamp's
    resolution."""
    source = task.source
    try:
        st = os.stat(source.network)
        stamp = (st.st_size, st.st_mtime_ns)
    except (OSError, TypeError):
        stamp = None
    return (task.run, str(source.network), stamp, source.mode, float(source.walk_speed),
            float(source.bike_speed), str(task.network_crs))


def _drop_streets() -> int:
    """On a worker (``client.run``): drop the street network it kept; how many it held."""
    with _KEPT_LOCK:
        held = len(_KEPT_STREETS)
        _KEPT_STREETS.clear()
    return held


def _forget_streets(client) -> None:
    """Have every worker of ``client`` drop the street network it kept for the run's
    partitions (a cluster that outlives the run keeps none between runs). A client that
    lost its scheduler has nothing to ask: the workers drop it on their next run."""
    if getattr(client, "status", "running") != "running":
        return
    try:
        client.run(_drop_streets)
    except Exception:  # noqa: BLE001 - a worker gone meanwhile holds nothing any more
        pass


def _worker_address() -> str | None:
    """The address of the dask worker running this (None outside a worker)."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return None


def _peak_mb() -> float | None:
    """This process' peak resident memory (MB; None where the OS does not say, Windows)."""
    try:
        import resource
    except ImportError:   # pragma: no cover - Windows
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker_usage() -> dict:
    """A worker's CPU seconds since it started and its peak memory (``client.run``)."""
    cpu = sum(os.times()[:2])
    return {"cpu_seconds": cpu, "peak_mb": _peak_mb()}


#: On a worker of a local cluster the run started (:func:`_warm_up` with ``own=True``): the
#: nice value the steps over the pieces take (:func:`_quietly`), and the thread, kept at the
#: worker's own priority, that starts the exact solve's child process (:func:`_spawn`). The
#: solve is the run's longest path and runs beside those steps: at equal priority the child
#: had 6.3 CPU-s in 8.1 s of wall (three processes wanting two cores), so the run waited for
#: it; the steps, with time to spare while it runs, now take what the child leaves. Only a
#: cluster the run started is touched: a cluster given to it keeps its priorities.
_YIELD: dict[str, Any] = {"nice": 0, "spawner": None}
YIELD_NICE = 10


def _make_way_for_the_solve() -> None:
    """Start the thread that starts the solve's children (at this thread's priority, before
    any step lowers it) and let the steps over the pieces yield to them from now on."""
    from concurrent.futures import ThreadPoolExecutor

    if _YIELD["spawner"] is None:
        spawner = ThreadPoolExecutor(1, thread_name_prefix="geoequity-solve-spawner")
        spawner.submit(int).result()   # its thread made now, from this one
        _YIELD["spawner"] = spawner
    _YIELD["nice"] = YIELD_NICE


def _yield_cpu() -> None:
    """Lower this thread's CPU priority to ``_YIELD["nice"]`` (Linux: a thread's own nice
    value; a thread lowered stays so: it runs geoequity's tasks only, the solve's
    preparation too). Elsewhere (a thread id is not a process id there), or not allowed:
    nothing."""
    nice = _YIELD["nice"]
    if not nice or not sys.platform.startswith("linux"):
        return
    with suppress(AttributeError, OSError):
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)


def _spawn(*args: Any, **kwargs: Any):
    """``subprocess.Popen(*args, **kwargs)`` from the spawner thread (the worker's own
    priority: a child inherits its creator thread's), else here."""
    import subprocess

    spawner = _YIELD["spawner"]
    if spawner is None:
        return subprocess.Popen(*args, **kwargs)
    return spawner.submit(subprocess.Popen, *args, **kwargs).result()


def _warm_up(own: bool = False) -> None:
    """On a worker before its first task (while the client reads the inputs): import what a
    partition needs and load its compiled kernels (numba's on-disk cache), by computing a
    partition of three cells and two schools along the same path as the real ones. ``own``:
    the cluster is the run's own (:class:`Starting`): its steps over the pieces yield the
    CPU to the exact solve (:data:`_YIELD`)."""
    from geoequity.costs import CostSource

    if own:
        _make_way_for_the_solve()

    xy = np.array([0.0, 40.0, 90.0])
    cells = _Points(x=xy, y=np.zeros(3), weight=np.ones(3), pos=np.arange(3), crs=3857,
                    core=np.array([True, True, False]))
    schools = _Points(x=xy[:2] + 5.0, y=np.zeros(2), weight=np.full(2, 5.0),
                      pos=np.arange(2), crs=3857, ids=np.arange(2))
    task = _Task(name="warm-up", source=CostSource(kind="euclidean"), streets_box=None,
                 network_crs=None, threshold=50.0, max_cost=100.0, method="2sfca",
                 decay=None, decay_param=None)
    partition_task(task, cells, schools)
    # the modules the steps over the pieces import (the population's read by window, the
    # urban classes, catchments, equity, the cells' parts and the county maps): imported now,
    # while the client reads the inputs, not on the first piece (about 0.5 s a worker)
    import importlib

    for name in ("rasterio", "pyarrow.parquet", "geoequity.io.population", "geoequity.urban",
                 "geoequity.catchments", "geoequity.equity", "geoequity.outputs",
                 "geoequity.maps"):
        with suppress(ImportError):
            importlib.import_module(name)
    try:   # the compiled sort, so that every partition's table uses it (geoequity.costs)
        from geoequity._sort_kernel import origin_cost_order
    except ImportError:   # pragma: no cover - numba not installed
        return
    origin_cost_order(np.zeros(2, np.int32), np.zeros(2), np.zeros(2, np.int32), 1)


def workers_info(client) -> dict:
    """The scheduler's information on every worker of ``client`` (``{address: info}``):
    ``Client.scheduler_info`` asked for all of them (distributed 2025.4 to 2026.6 give only
    the first five by default), or as it answers on a version without that argument."""
    try:
        got = client.scheduler_info(n_workers=-1)
    except TypeError:   # a distributed without n_workers: every worker already
        got = client.scheduler_info()
    return dict(got.get("workers", {}))


def warm_up(client, *, own: bool = False) -> None:
    """Start :func:`_warm_up` on every worker of ``client`` (not waited for); ``own``: a
    cluster the run started. Each task's future is held here until the task ends, then let
    go (:data:`_WARMING`), so that nothing of it stays on the workers. Not dask's
    ``fire_and_forget``: it lets a key go when the task reaches memory, and a warm-up on a
    warm worker can get there (a few milliseconds) before that message is read, after which
    the key stayed on the worker for good (a loaded machine's CI saw it). Each warm-up has
    a key of its own: asked for again while an earlier one sits in memory, a key is bound
    to that task."""
    run = uuid.uuid4().hex[:8]
    for address in workers_info(client):
        future = client.submit(_warm_up, own, pure=False, workers=[address],
                               key=f"geoequity-warm-up-{address}-{run}")
        _WARMING.add(future)
        future.add_done_callback(_WARMING.discard)


#: the warm-ups' futures until their tasks end (:func:`warm_up`)
_WARMING: set = set()


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


@dataclass
class ClusterRun:
    """What a run on a cluster took (``Results.cluster`` of a cluster run; None in process).

    Attributes
    ----------
    stages
        The client's stages in order, each ``{"wall": s, "cpu": s, "peak_mb": MB}`` (CPU:
        this process'; the process' peak memory when the stage ended):
        ``read`` (the inputs), ``partition keys`` (with the cells' points and districts),
        ``cluster start`` (a local cluster the run started: the wait for what is left of its
        start after the keys), ``send`` (cutting the partitions and submitting them),
        ``wait`` (until every partition is back), ``merge`` (the coded pairs and the
        per-cell measures), ``global steps`` (:func:`geoequity.pipeline.analyse` and the
        scenario's later stages), ``write`` (every output).
    partitions
        Each partition's figures: ``partition, cells, halo_cells, schools, street_nodes``
        (of the network it used: its group's), ``network_loads`` (1: it loaded the
        streets, 0: it used the ones its worker loaded for its group), ``group`` (its street
        group; None on straight lines), ``worker`` (the address it ran on), ``pairs,
        seconds, cpu_seconds, worker_peak_mb``.
    workers
        Each worker's ``cpu_seconds`` (since it started) and ``peak_mb``, read when the
        partitions were back, and again at the end of a run whose pairs stayed on the
        workers (they solve the assignment and write ``costs.parquet`` after).
    client_peak_mb
        The client process' peak memory at the end of the run.
    """

    stages: dict = field(default_factory=dict)
    partitions: list = field(default_factory=list)
    workers: dict = field(default_factory=dict)
    client_peak_mb: float | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the client's stage ``name`` (wall and CPU seconds, added up if repeated; the
        peak memory when it ended)."""
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            got = self.stages.setdefault(name, {"wall": 0.0, "cpu": 0.0})
            got["wall"] += time.perf_counter() - wall
            got["cpu"] += time.process_time() - cpu
            got["peak_mb"] = _peak_mb()

    def read_workers(self, client) -> None:
        """Read each worker's CPU seconds and peak memory now (:attr:`workers`)."""
        self.workers = client.run(_worker_usage)

    @staticmethod
    def peak_mb() -> float | None:
        """This process' peak resident memory so far (MB; None on Windows)."""
        return _peak_mb()


def partitioned_costs(client, cells: gpd.GeoDataFrame, schools: gpd.GeoDataFrame, keys,
                      source, *, threshold: float, max_cost: float, method: str = "2sfca",
                      decay: Any = None, decay_param: Any = None,
                      figures: ClusterRun | None = None, coded: bool = False,
                      points: gpd.GeoSeries | None = None
                      ) -> tuple[pd.DataFrame | Pairs, pd.DataFrame]:
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
    figures
        A :class:`ClusterRun` to fill with the stages' times and the partitions' figures.
    coded
        Return the merged table as the :class:`~geoequity.pairs.Pairs` that
        :func:`geoequity.pairs.as_pairs` codes from it against ``cells`` and ``schools``
        (its :meth:`~geoequity.pairs.Pairs.to_frame` is the table).
    points
        The cells' representative points, when the caller has them.

    A run keeps the pairs on the workers instead (:func:`kept_costs`); this gathers them.
    """
    figures = figures if figures is not None else ClusterRun()
    kept, local = kept_costs(client, cells, schools, keys, source, threshold=threshold,
                             max_cost=max_cost, method=method, decay=decay,
                             decay_param=decay_param, figures=figures, points=points)
    with figures.stage("merge"):
        pairs = kept.gather()
        kept.release()
    return (pairs if coded else pairs.to_frame()), local


def kept_costs(client, cells: gpd.GeoDataFrame, schools: gpd.GeoDataFrame, keys, source, *,
               threshold: float, max_cost: float, method: str = "2sfca", decay: Any = None,
               decay_param: Any = None, assignment_max_cost: float | None = None,
               figures: ClusterRun | None = None, points: gpd.GeoSeries | None = None
               ) -> tuple[KeptPairs, pd.DataFrame]:
    """Compute every partition on the cluster; return their cost pairs, kept on the workers
    (:class:`KeptPairs`: :func:`geoequity.pipeline.analyse` takes it as its ``costs``), and
    the per-cell local measures (``analyse``'s ``local``). Parameters as
    :func:`partitioned_costs`, plus ``assignment_max_cost`` (default ``max_cost``): the
    partitions count the exact assignment's pairs within it."""
    figures = figures if figures is not None else ClusterRun()
    h = halo(source, threshold=threshold, max_cost=max_cost)
    task = _Task(name="", source=source, streets_box=None,
                 network_crs=network_crs(source, cells.crs), threshold=threshold,
                 max_cost=max_cost, method=method, decay=decay, decay_param=decay_param,
                 assignment_max_cost=assignment_max_cost)

    def send() -> dict:
        return _submit(client, cells, schools, keys, source, h, task, points)

    kept, local, _ = _kept(client, send, lambda parts, futures: (cells, futures), schools,
                           source, h, figures)
    return kept, local


def _kept(client, send: Callable[[], dict], place: Callable, schools: gpd.GeoDataFrame,
          source, h: Halo, figures: ClusterRun) -> tuple[KeptPairs, pd.DataFrame, Any]:
    """The partitions sent (``send()``: ``{name: future}``), waited for and merged:
    ``(kept, local, cells)``. ``place(parts, futures)`` gives the run's cells (a frame in
    the run's order, the parts' ``cells`` its positions; or :class:`WorkerCells`) and the
    futures of the pairs to keep (a partition left out: none)."""
    warm_up(client)   # no-op work on warm workers; imports and kernels on fresh ones
    futures: dict = {}
    small: dict = {}
    dropped = False   # whether the workers were told to drop their streets
    try:
        with figures.stage("send"):   # (a failing send cancels what it sent)
            futures = send()
            # the client gets each answer without its pairs; the pairs stay where they are
            small = {name: client.submit(_without_pairs, fut, key=f"{fut.key}-small",
                                         pure=False)
                     for name, fut in futures.items()}
        with figures.stage("wait"), step(
                f"{len(futures)} partition(s) on the cluster "
                f"(halo: cells {h.cells:,.0f} m, schools {h.schools:,.0f} m)"):
            try:
                parts = _gather(client, small, also=futures)
            except BaseException:   # Ctrl-C: cancelled before the drop below, so that no
                # partition queued on a worker starts and keeps its streets after it
                _cancel(client, [*futures.values(), *small.values()])
                raise
            finally:   # every partition back (or the run stopped): no street network stays
                dropped = True
                if source.kind == "network":
                    _forget_streets(client)
            figures.read_workers(client)
        parts.sort(key=lambda p: p.stats["partition"])   # sums in one order, run after run
        with figures.stage("merge"):
            cells, futures = place(parts, futures)
        parts = [p for p in parts if p.stats["partition"] in futures]
        figures.partitions = [p.stats for p in parts]
        if parts:
            big = max(figures.partitions, key=lambda st: st["halo_cells"])
            info(f"  largest partition {big['partition']}: {big['cells']:,} cells "
                 f"({big['halo_cells']:,} with its halo), {big['schools']:,} schools, "
                 f"{big['seconds']:.1f} s")
            if source.kind == "network":
                info(f"  streets: {sum(p['network_loads'] for p in figures.partitions)} "
                     f"network load(s) for {len(parts)} partition(s)")
        with figures.stage("merge"):
            local, near, nearest_cost, catch = _merge(parts, cells, schools)
            by_name = {p.stats["partition"]: p for p in parts}
            order = sorted(futures)   # the partitions in the order of their keys
            on_workers = isinstance(cells, WorkerCells)
            kept = KeptPairs(client, [futures[n] for n in order],
                             None if on_workers else [by_name[n].cells for n in order],
                             None if on_workers else cells.index, schools.index,
                             names=order, ids_on_workers=on_workers, n_cells=len(cells),
                             crs=cells.crs if on_workers else None,
                             attrs=dict(parts[0].attrs) if parts else {},
                             pairs=sum(p.stats["pairs"] for p in parts),
                             live=sum(p.live for p in parts), children_within=catch,
                             nearest=near, nearest_cost=nearest_cost)
    except BaseException:   # a failure or Ctrl-C: the workers drop the pairs now
        _cancel(client, [*futures.values(), *small.values()])
        if source.kind == "network" and not dropped:   # stopped while sending
            _forget_streets(client)
        raise
    return kept, local, cells


class KeptPairs:
    """A cluster run's cost pairs, left on the workers that computed them: one piece per
    partition (its core cells' pairs, as positions among all cells and schools, in
    :func:`geoequity.cost_table`'s order). The client never holds them all:

    - :meth:`start_assign` solves the exact assignment on a worker, the pieces within its
      ``max_cost`` sent there from their workers;
    - :meth:`write_parquet` has each worker write its pieces as one file of a partitioned
      ``costs.parquet``;
    - :attr:`children_within` (each school's children within the threshold, summed over the
      partitions) gives the schools' supply ratios;
    - :meth:`gather` brings them to the client as the merged :class:`~geoequity.pairs.Pairs`
      (the later stages that need every pair: a decomposed assignment, ``[forecast]``,
      ``[[plans]]``, ``[[proposals]]``).

    :meth:`release` lets the workers drop them (the end of a run).
    """

    def __init__(self, client, futures: list, cores: list, cells: pd.Index,
                 schools: pd.Index, *, attrs: dict, pairs: int, live: int,
                 children_within: np.ndarray, nearest: np.ndarray,
                 nearest_cost: np.ndarray, names: list | None = None,
                 ids_on_workers: bool = False, n_cells: int | None = None,
                 crs: Any = None) -> None:
        self.client = client
        self.futures = futures
        #: each piece's partition (what a one-line error names)
        self.names = [str(n) for n in (names if names is not None else range(len(futures)))]
        self.cores = cores            # positions of each piece's core cells (ascending)
        self.cells = cells
        #: the pieces number their own cells and hold their ids (a partition whose worker
        #: read its cells: :func:`window_costs`); ``cores``, ``cells``, ``nearest`` and
        #: ``nearest_cost`` are then None: the client holds no cell
        self.ids_on_workers = ids_on_workers
        self.n_cells = n_cells if cells is None else len(cells)
        self.crs = crs   # the cells' CRS
        self.schools = schools
        self.attrs = attrs
        self.pairs = pairs            # every pair within max_cost
        self.live = live              # the exact assignment's pairs
        self.children_within = children_within
        self.nearest = nearest        # each cell's nearest school (position, -1: none)
        self.nearest_cost = nearest_cost
        self._writing: list = []      # the tasks of start_writing, until they are done
        #: futures the pieces depend on that nothing else holds (the layers scattered for
        #: the partitions: :func:`window_costs`), released with them
        self.held: list = []
        #: the run gathers the pairs more than once (a decomposed assignment, then the later
        #: stages): the first :meth:`gather` is held and given again
        self.hold_gathered = False
        self._gathered: Pairs | None = None

    def gather(self, max_cost: float | None = None) -> Pairs:
        """Every piece on the client, merged into the :class:`~geoequity.pairs.Pairs` an
        in-process run codes from its cost table (the same positions, in the same order);
        with ``max_cost``, only the pairs within it (cut on the workers): the pairs
        ``Pairs.within(max_cost)`` gives. Once :attr:`hold_gathered` is set, every pair is
        gathered once and held until :meth:`release`."""
        if max_cost is None and self._gathered is not None:
            return self._gathered
        if len(self.futures) != len(self.names):
            raise RuntimeError("KeptPairs.gather: the pairs were released (the run ended)")
        if self.ids_on_workers:
            return self._gather_numbered(max_cost)
        futures = self.futures
        if max_cost is not None:
            futures = [self.client.submit(_assignment_piece, fut, float(max_cost), pure=False,
                                          key=f"{fut.key}-within") for fut in futures]
        parts = _gather(self.client, dict(zip(self.names, futures, strict=True)),
                        release=False)
        if max_cost is not None:   # the cut pieces, now here: dropped at once (fixed keys)
            _cancel(self.client, futures)
        counts = np.zeros(len(self.cells), dtype=np.int64)
        for part in parts:
            counts += np.bincount(part.origin, minlength=len(self.cells))
        oi, di, cost = _placed(parts, counts)
        trim_memory()
        pairs = Pairs(oi, di, cost, self.cells, self.schools, attrs=dict(self.attrs))
        if self.hold_gathered and max_cost is None:
            self._gathered = pairs
        return pairs

    def _gather_numbered(self, max_cost: float | None) -> Pairs:
        """:meth:`gather` of pieces numbered by their own cells: their pairs and ids here,
        the cells numbered in the ids' order (:func:`_number_cells`)."""
        cut = float("inf") if max_cost is None else float(max_cost)
        futures = [self.client.submit(_numbered_pairs, fut, cut, pure=False,
                                      key=f"{fut.key}-numbered") for fut in self.futures]
        try:
            parts = _gather(self.client, dict(zip(self.names, futures, strict=True)),
                            release=False, ordered=True)
        finally:
            _cancel(self.client, futures)
        ids, positions = _number_cells(parts)
        placed = [_Piece(at[p.origin], p.destination, p.cost)
                  for p, at in zip(parts, positions, strict=True)]
        del parts
        counts = np.zeros(len(ids), dtype=np.int64)
        for piece in placed:
            counts += np.bincount(piece.origin, minlength=len(ids))
        oi, di, cost = _placed(placed, counts)
        pairs = Pairs(oi, di, cost, pd.Index(ids), self.schools, attrs=dict(self.attrs))
        if self.hold_gathered and max_cost is None:
            self._gathered = pairs
        return pairs

    def decomposed(self, mode: str, exact_limit: int | None = None) -> bool:
        """Whether :meth:`start_assign` in ``mode`` decomposes the assignment (``"auto"``:
        above ``exact_limit`` pairs, :data:`~geoequity.assignment_decomposed.EXACT_PAIRS`
        by default): the one decision, which the caller needs before (a decomposition of
        cells the client read takes every cell's demand and parts)."""
        from geoequity.assignment_decomposed import EXACT_PAIRS, check_assignment_mode

        key = check_assignment_mode(mode)
        limit = EXACT_PAIRS if exact_limit is None else exact_limit
        return key == "decomposed" or (key == "auto" and self.live > limit)

    def start_assign(self, demand: pd.Series, supply: pd.Series, *, max_cost: float,
                     mode: str = "auto", locality: Any = None, parts: Any = None,
                     exact_limit: int | None = None, school_centres: Any = None, **_: Any):
        """:func:`geoequity.assignment_decomposed.start_assign` on these pairs: an exact
        solve on a worker (the pieces within ``max_cost`` go there from their workers; the
        solver gets the arrays an in-process run gives it, so the same answer); a
        decomposition where the pairs lie when the workers read the cells
        (:class:`_KeptDecomposition`), else on the pairs gathered here, its steps on the
        workers. Returns its :class:`~geoequity.assignment_decomposed.PendingAssign`."""
        from geoequity.assignment_decomposed import EXACT_PAIRS, PendingAssign, start_assign

        limit = EXACT_PAIRS if exact_limit is None else exact_limit
        key = "decomposed" if self.decomposed(mode, limit) else "exact"
        if key != "exact" and self.ids_on_workers and not self.hold_gathered:
            # every step where the pairs lie: the client holds no cell
            return PendingAssign(self.live, _KeptDecomposition(
                self, supply, max_cost, exact_limit=limit,
                compare_exact=self.live <= limit, school_centres=school_centres))
        if key != "exact":   # the pairs gathered here; the parts' steps on the workers
            # those within max_cost, cut on the workers; every pair when later stages need
            # them too (held: gathered once)
            pairs = self.gather() if self.hold_gathered else self.gather(max_cost)
            return start_assign(pairs, demand, supply, max_cost=max_cost, mode=key,
                                parts=parts, exact_limit=limit, client=self.client,
                                locality=locality)
        if self.ids_on_workers:   # the cells numbered on the solving worker
            return PendingAssign(self.live, _KeptCellsSolve(self, supply, max_cost,
                                                            school_centres))
        if callable(locality):
            locality = locality()
        return PendingAssign(self.live, _KeptSolve(self, demand, supply, max_cost, locality))

    def write_parquet(self, path) -> Path:
        """Write the pairs as a partitioned Parquet dataset: the folder ``path`` with one
        file per partition (``part-00000.parquet``, ... in the order of the partition keys),
        each the cost table of the partition's cells (``origin, destination, cost`` with
        ids: :meth:`~geoequity.pairs.Pairs.to_frame`'s table and ``attrs``). Each worker
        writes its own pieces; the client writes, one piece at a time, those the workers
        cannot write to ``path`` or that are not there as written (no shared file system:
        :func:`_wait_for_parts`). :meth:`start_writing` returns at once."""
        return self.start_writing(path)()

    def start_writing(self, path) -> Callable[[], Path]:
        """:meth:`write_parquet`, started: the workers write while the caller carries on;
        call the function returned to wait for them (it gives ``path``)."""
        path = Path(path).absolute()   # a worker's working folder need not be this one's
        path.mkdir()
        jobs = [self.client.submit(_written, fut, str(path / _part_name(i)),
                                   self._core_ids(i), self.schools, self.attrs,
                                   write=_write_piece, pure=False, key=f"{fut.key}-write")
                for i, fut in enumerate(self.futures)]
        self._writing = jobs   # cancelled by release() if the run stops before finish()
        futures = list(self.futures)

        def write_here(i: int, answer: _Answer) -> None:
            _write_piece(answer, str(path / _part_name(i)), self._core_ids(i), self.schools,
                         self.attrs)

        def finish() -> Path:
            try:
                return _wait_for_parts(self.client, jobs, self.names, path, write_here,
                                       futures)
            finally:
                self._stop_writing()

        return finish

    def _core_ids(self, i: int) -> pd.Index | None:
        """Piece ``i``'s core cells' ids (None: the piece holds them itself)."""
        return None if self.ids_on_workers else self.cells.take(self.cores[i])

    def _stop_writing(self) -> None:
        """Cancel the writing tasks, done or not (:func:`_cancel`: held on by a failed
        run's frames, they would give the next run this run's paths, not its files)."""
        jobs, self._writing = self._writing, []
        _cancel(self.client, jobs)

    def stop_writing(self) -> None:
        """Wait for the parts being written to end, then drop the writing tasks
        (:func:`_wait_then_cancel`): a run leaving early removes their folder next."""
        jobs, self._writing = self._writing, []
        _wait_then_cancel(self.client, jobs)

    def release(self) -> None:
        """Let the workers drop the pieces and stop writing them, now (:func:`_cancel`;
        idempotent)."""
        self._stop_writing()
        futures, self.futures = self.futures, []
        held, self.held = self.held, []
        if self.ids_on_workers:
            # released, not cancelled: what depends on them (the pieces, the solve) was let
            # go before, and dask's cancel stops at a dependent no client wants any more
            for fut in [*futures, *held]:
                with suppress(Exception):
                    fut.release()
        else:
            _cancel(self.client, [*futures, *held])
        self._gathered = None


def _wait_for_parts(client, jobs: list, names: list[str], path: Path,
                    write_here: Callable[[int, Any], None], pieces: list) -> Path:
    """Wait for the workers writing the parts of the folder ``path`` (``jobs``, one per
    partition of ``names``, each giving the size and time of the file it wrote:
    :func:`_written`), then check that each part is here, as written. The client writes
    the parts that are not (``write_here(i, piece)``, ``piece`` the result of
    ``pieces[i]``, fetched one at a time), with one line saying so: all of them where the
    workers cannot reach the folder (it is not there on their machines), those a worker
    wrote to its own disk where the same path exists (no shared file system: the file is
    not in the client's folder, or another one is there). A task's own error and a lost
    worker stop the run as :func:`_gather` says. Returns ``path``."""
    try:
        stamps = client.gather(jobs)
    except Exception as exc:   # the first failed part's error (gather raises in jobs' order)
        name, job = next(((n, j) for n, j in zip(names, jobs, strict=True)
                          if j.status in ("error", "cancelled", "lost")), ("?", None))
        failure = _failure(name, job, exc)
        if failure is not exc or not isinstance(exc, OSError):
            if failure is exc:
                raise
            raise failure from None
        # the task's own OSError (a lost connection is a ClusterError): the workers do not
        # see the folder
        info(f"  {path.name}: the workers cannot write to {path} ({exc}); the client "
             "writes it")
        missing = list(range(len(jobs)))
    else:
        missing = [i for i, stamp in enumerate(stamps)
                   if not seen_as_written(path / _part_name(i), stamp)]
        if missing:
            info(f"  {path.name}: {len(missing)} of {len(jobs)} part(s) the workers wrote are "
                 f"not in {path} as written (no shared file system?); the client writes "
                 "them")
    for i in missing:   # one piece at a time on the client
        try:
            piece = pieces[i].result()
        except Exception as exc:
            failure = _failure(names[i], pieces[i], exc)
            if failure is exc:
                raise
            raise failure from None
        write_here(i, piece)
        del piece
    return path


def _written(piece: Any, path: str, *args: Any, write: Callable, **kwargs: Any
             ) -> tuple[int, int]:
    """``write(piece, path, *args, **kwargs)`` on a worker, silently (:func:`_quietly`): a
    part of a folder the workers write; the :func:`written_stamp` of the file written there,
    which the client checks it sees (:func:`_wait_for_parts`). Nothing is written where
    the folder is not (``(-1, -1)``, which the client never sees as written): a worker
    without the client's file system, or a run that left early and removed it (a part
    written then would make the folder again, outside any run's marker)."""
    if not os.path.isdir(os.path.dirname(path)):
        return (-1, -1)
    _quietly(write, piece, path, *args, **kwargs)
    return written_stamp(path)


def written_stamp(path) -> tuple[int, int]:
    """What a worker reports of a file it wrote: its size in bytes and its modification
    time (``st_mtime_ns``), both as the file system stores them, so that the client,
    through the same (shared) file system, sees the same two numbers
    (:func:`seen_as_written`)."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def seen_as_written(path, written: tuple[int, int] | int) -> bool:
    """Whether the file ``path`` is here as the worker that wrote it reported it
    (:func:`written_stamp`: the same size and modification time; a bare size in bytes
    compares the size only): a worker without the client's file system writes to its own
    disk where the same path exists, and the file is then missing here, or another one is
    there, which may have the same size but not also the same modification time. (No
    digest of the contents: the client would read every part back, gigabytes for a
    province's costs.)"""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if isinstance(written, int):
        return st.st_size == written
    return (st.st_size, st.st_mtime_ns) == tuple(written)


def _part_name(i: int) -> str:
    return f"part-{i:05d}.parquet"


class KeptCells:
    """A cluster run's cells, left on the workers: one *piece* per partition, its core cells
    (every cell is core in one partition) as a GeoDataFrame indexed by cell id with the
    cells' columns and the partition's per-cell measures (``nearest_id``, ``nearest_cost``,
    ``seats_within``, ``access``, ``fca``: :func:`cell_piece`). The client never holds them
    all; a global step is a pair of functions, ``<thing>_piece`` run on each piece where it
    lies (:meth:`summaries`: small results come back, in the partitions' order) and
    ``<thing>_of`` combining those on the client; a step that adds columns to every piece
    runs there too (:meth:`update`). Each piece's task key carries the run's token and its
    partition, so a client holding another run's pieces never hands them to this one.

    :meth:`release` lets the workers drop them (the end of a run, on every way out).
    """

    def __init__(self, client, futures: list, names: list[str],
                 positions: list | None = None, *, n_cells: int | None = None,
                 keys: list | None = None) -> None:
        self.client = client
        self.futures = list(futures)
        self.names = [str(n) for n in names]
        #: each piece's cells' places in the run's order (ascending), when known
        self.positions = positions
        #: futures of each piece's cells' keys, where the piece lies (cells read by the
        #: workers: :attr:`_Answer.keys`, their ids or rows, which ascend in the run's
        #: order): they stand for :attr:`positions`, which the client then does not hold
        self.keys = list(keys) if keys is not None else None
        #: the run's number of cells (``[outputs] csv``/``gpkg = "auto"`` look at it)
        self.n_cells = (int(sum(len(p) for p in positions)) if positions is not None
                        else n_cells)
        self._writing: list = []
        self._base = {fut.key: fut.key for fut in self.futures}   # each piece's first key
        self._steps = 0   # each step's keys are new: a step never meets an older one's

    def _key(self, fut, what: str) -> str:
        self._steps += 1
        return f"{self._base.get(fut.key, fut.key)}-{what}-{self._steps}"

    def each(self, fn: Callable, *args: Any, what: str, per_piece: list | None = None,
             priority: int = 0, **kwargs: Any) -> list:
        """``fn(piece, *args, **kwargs)`` on each piece's worker; the futures of the results,
        left there (e.g. a statistic's sorted values, which :func:`pairwise` then combines two
        by two), in the partitions' order. ``what`` names the step in the task keys;
        ``per_piece``: one more argument for each piece, in the partitions' order, passed
        after the piece (``fn(piece, per_piece[i], *args, **kwargs)``); ``priority``: dask's
        (a lower one runs after the tasks already queued, e.g. the county maps after the
        tables' parts)."""
        if len(self.futures) != len(self.names):
            raise RuntimeError("KeptCells: the pieces were released (the run ended)")
        args = self._sent_once(args)
        if per_piece is None:
            return [self.client.submit(_quietly, fn, fut, *args, key=self._key(fut, what),
                                       pure=False, priority=priority, **kwargs)
                    for fut in self.futures]
        return [self.client.submit(_quietly, fn, fut, own, *args, key=self._key(fut, what),
                                   pure=False, priority=priority, **kwargs)
                for fut, own in zip(self.futures, per_piece, strict=True)]

    def _sent_once(self, args: tuple) -> tuple:
        """``args`` with each table, array or dict among them sent to the workers once
        (scattered; the tasks take its future): a task's arguments stay with it in the
        scheduler, which runs in the client's process on a local cluster, so a layer given
        to every piece (the maps' catchments, whose outlines grow with the cells) would be
        held there once per piece. Sent as a task of its own (:func:`_given`), not
        scattered: scattered data cannot be computed again, so a worker that died holding it
        took every piece's task with it (dask cancels them as "already forgotten"), where
        the pieces themselves are computed again; a task's result is computed again from
        its one copy in the scheduler (and a scatter to every worker waits for ever on one
        that is dying)."""
        if len(self.futures) < 2:
            return args
        return tuple(given(self.client, a)
                     if isinstance(a, pd.DataFrame | pd.Series | np.ndarray | dict) and len(a)
                     else a for a in args)

    def stop(self, futures: list) -> None:
        """Wait for ``futures`` (of :meth:`each`) to end, then let the workers drop them
        (:func:`_wait_then_cancel`: a run leaving early, e.g. a table that failed, stops the
        county maps before it removes their stage)."""
        _wait_then_cancel(self.client, futures)

    def stop_writing(self) -> None:
        """Wait for the parts of ``cells.parquet`` being written to end, then drop the
        writing tasks (a run leaving early removes their folder next)."""
        jobs, self._writing = self._writing, []
        _wait_then_cancel(self.client, jobs)

    def collect(self, futures: list, *, desc: str | None = None) -> list:
        """The results of ``futures`` (one per piece, :meth:`each`), here, in the
        partitions' order; a lost worker stops the run with one line naming the partition
        (every future of this run cancelled)."""
        named = dict(zip(self.names, futures, strict=True))
        try:
            done = _gather(self.client, named, release=False, desc=desc, ordered=True)
        except BaseException:
            _cancel(self.client, futures)
            raise
        _cancel(self.client, futures)   # back here: the workers drop their copies now
        return done

    def summaries(self, fn: Callable, *args: Any, what: str, per_piece: list | None = None,
                  **kwargs: Any) -> list:
        """``fn(piece, *args, **kwargs)`` of every piece, here, in the partitions' order (a
        ``<thing>_piece``: small results); ``per_piece`` as :meth:`each`."""
        return self.collect(self.each(fn, *args, what=what, per_piece=per_piece, **kwargs))

    def update(self, fn: Callable, *args: Any, what: str, per_piece: list | None = None,
               **kwargs: Any) -> None:
        """Each piece becomes ``fn(piece, *args, **kwargs)`` (a step adding columns), on its
        worker; ``per_piece`` as :meth:`each`. The older pieces are let go, not cancelled:
        the new ones depend on them until they are computed."""
        older = self.futures
        self.futures = self.each(functools.partial(_updated, fn), *args, what=what,
                                 per_piece=per_piece, **kwargs)
        self._base = {new.key: self._base.get(old.key, old.key)
                      for new, old in zip(self.futures, older, strict=True)}

    def pairwise(self, fn: Callable, futures: list, pairs: list[tuple[int, int]], *,
                 what: str) -> list:
        """``fn(results[i], results[j])`` for each ``(i, j)`` of ``pairs``, where
        ``futures`` are :meth:`each`'s (left on the workers): the two go to one worker,
        never to the client; the (small) results here, in the order of ``pairs``."""
        jobs = [self.client.submit(fn, futures[i], futures[j], pure=False,
                                   key=f"{futures[i].key}-{what}-{j}") for i, j in pairs]
        named = {f"{self.names[i]} x {self.names[j]}": job
                 for (i, j), job in zip(pairs, jobs, strict=True)}
        try:
            done = _gather(self.client, named, release=False, desc=None, ordered=True)
        finally:
            _cancel(self.client, jobs)
        return done

    def by_ranges(self, split: Callable, futures: list, combine: Callable, ranges: int,
                  *args: Any, meta: pd.DataFrame, what: str) -> list:
        """``combine(rows)`` of every range's rows, where each of ``futures`` (one per piece,
        :meth:`each`) gives ``split(result, *args)`` on its worker: a frame like ``meta``
        whose ``range`` column (0 to ``ranges`` - 1) says where each row goes (the Gini's
        pair sums by score ranges). Each row moves once, from its piece's worker to its
        range's: one range takes every piece's rows in one task; several go through dask's
        peer-to-peer shuffle. Either way a task per piece and per range (and the shuffle's
        own: about two per piece and per range, a barrier), not one per pair of pieces. A
        task gets all of a range's rows; the (small) results here."""
        if ranges == 1:
            parts = self.each_result(split, futures, *args, what=f"{what}-split")
            jobs = [self.client.submit(_joined, combine, *parts, pure=False,
                                       key=f"{parts[0].key}-range")] if parts else []
            try:
                return _gather(self.client, {f"{what} range 0": job for job in jobs},
                               release=False, desc=None, ordered=True)
            finally:
                _cancel(self.client, [*jobs, *parts])
        import logging

        import dask.dataframe as dd

        jobs = []
        # the scheduler's notes on each shuffle it starts and ends (in this process when the
        # cluster is local): the run says its own progress
        log = logging.getLogger("distributed.shuffle._scheduler_plugin")
        level = log.level
        log.setLevel(logging.ERROR)
        try:
            # one task per piece splits it where it lies and sends its rows to the ranges',
            # range r to the shuffle's output r (its hash of the column "_to")
            to = _routes(ranges)
            rows = dd.from_map(functools.partial(_routed, split, to), futures, args=args,
                               meta=meta.assign(_to=to[:0]), enforce_metadata=False,
                               label=f"{what}-split")
            done = rows.shuffle("_to", npartitions=ranges, ignore_index=True,
                                shuffle_method="p2p").map_partitions(
                functools.partial(_unrouted, combine), meta=combine(meta))
            jobs = self.client.compute(done.to_delayed())
            return _gather(self.client, {f"{what} range {i}": job for i, job in
                                         enumerate(jobs)}, release=False, desc=None,
                           ordered=True)
        finally:
            log.setLevel(level)
            # (only the results: cancelling the pieces' futures the shuffle's tasks hang on
            # trips the scheduler)
            _cancel(self.client, jobs)

    def each_result(self, fn: Callable, futures: list, *args: Any, what: str,
                    **kwargs: Any) -> list:
        """``fn(result, *args, **kwargs)`` of each of ``futures`` (one per piece, from
        :meth:`each`), where it lies; the futures of the results, in the same order."""
        return [self.client.submit(_quietly, fn, fut, *args, pure=False,
                                   key=f"{fut.key}-{what}", **kwargs) for fut in futures]

    def drop(self, futures: list) -> None:
        """Let the workers drop ``futures`` (of :meth:`each`) now."""
        _cancel(self.client, futures)

    def gather(self, select: Callable | None = None, *args: Any) -> gpd.GeoDataFrame:
        """Every piece here (or ``select(piece, *args)`` of each: the rows of a map's
        county), as one frame in the run's order of the cells (the order of
        :attr:`positions`; else the partitions'): what the one map of a small run, or a
        county spread over several pieces, takes."""
        if select is None:   # the pieces themselves: gathered, not let go
            parts = _gather(self.client, dict(zip(self.names, self.futures, strict=True)),
                            release=False, desc="cells", ordered=True)
            where = self.positions
            if self.keys is not None:
                where = _gather(self.client, dict(zip(self.names, self.keys, strict=True)),
                                release=False, desc=None, ordered=True)
        else:
            if self.keys is not None:   # the rows' keys, from where the pieces lie
                picked = self.summaries(_selected_keyed, select, *args, what="select",
                                        per_piece=self.keys)
                where = [at for _, at in picked]
            else:
                picked = self.summaries(_selected, select, *args, what="select")
                where = [self.positions[i][at] for i, (_, at) in enumerate(picked)] if (
                    self.positions is not None) else None
            parts = [part for part, _ in picked]
        if not parts:
            return gpd.GeoDataFrame()
        whole = pd.concat(parts)
        if where is not None:
            whole = whole.iloc[np.argsort(np.concatenate(where), kind="stable")]
        return whole

    def start_writing(self, path, write: Callable) -> Callable[[], Path]:
        """``cells.parquet`` as a folder of one part per piece (``write(piece, part,
        positions=)``: :func:`geoequity.outputs.write_cells_part`, ``part-NNNNN.parquet``
        in the order of the partitions), each written by the worker holding the piece, while
        the caller carries on; call the function returned to wait (it gives ``path``).
        Where the workers cannot reach ``path``, or a part is not there as written (no shared
        file system), the client writes the part, one piece at a time
        (:func:`_wait_for_parts`; :class:`geoequity.outputs.CellPieces`)."""
        path = Path(path).absolute()   # a worker's working folder need not be this one's
        path.mkdir()
        # each piece's positions: here, or its keys where it lies (resolved on its worker)
        positions = self.keys or self.positions or [None] * len(self.futures)
        jobs = [self.client.submit(_written, fut, str(path / _part_name(i)), write=write,
                                   positions=pos, pure=False,
                                   key=f"{self._base.get(fut.key, fut.key)}-write")
                for i, (fut, pos) in enumerate(zip(self.futures, positions, strict=True))]
        self._writing = jobs
        futures = list(self.futures)

        def write_here(i: int, piece: gpd.GeoDataFrame) -> None:
            at = positions[i]
            if self.keys is not None:   # (a piece the workers could not write)
                at = self.client.gather(at)
            write(piece, str(path / _part_name(i)), positions=at)

        def finish() -> Path:
            try:
                return _wait_for_parts(self.client, jobs, self.names, path, write_here,
                                       futures)
            finally:
                jobs_done, self._writing = self._writing, []
                _cancel(self.client, jobs_done)

        return finish

    def release(self) -> None:
        """Let the workers drop the pieces and stop writing them, now (:func:`_cancel`;
        idempotent)."""
        writing, self._writing = self._writing, []
        _cancel(self.client, writing)
        futures, self.futures = self.futures, []
        keys, self.keys = self.keys or [], (None if self.keys is None else [])
        _cancel(self.client, [*futures, *keys])


def _given(value: Any) -> Any:
    """``value`` itself: a task whose result is what it was given (:func:`given`)."""
    return value


def given(client, value: Any):
    """``value`` on the cluster, as the future of a task that gives it (one copy held in
    the scheduler with the task): what tasks share without it travelling with each, instead
    of ``Client.scatter``. Scattered data cannot be computed again: a worker that dies
    holding it takes every task depending on it with it (dask cancels them as "already
    forgotten"), even when it was broadcast (dask's active memory manager drops the extra
    copies), where this task is computed again on another worker."""
    return client.submit(_given, value, pure=False, key=f"geoequity-given-{uuid.uuid4().hex}")


def _selected(piece: gpd.GeoDataFrame, select: Callable, *args: Any) -> tuple:
    """``select(piece, *args)`` (a boolean mask of the piece's rows) applied: the rows and
    their places in the piece."""
    mask = np.asarray(select(piece, *args), dtype=bool)
    return piece[mask], np.flatnonzero(mask)


def _selected_keyed(piece: gpd.GeoDataFrame, keys: np.ndarray, select: Callable,
                    *args: Any) -> tuple:
    """:func:`_selected` with the rows' keys (``keys``: the piece's) for their places."""
    mask = np.asarray(select(piece, *args), dtype=bool)
    return piece[mask], np.asarray(keys)[mask]


def _updated(fn: Callable, piece: gpd.GeoDataFrame, *args: Any, **kwargs: Any
             ) -> gpd.GeoDataFrame:
    """``fn(piece, ...)``, a copy of ``piece`` with columns added (:meth:`KeptCells.update`),
    remembering the piece's representative points for the copy while the piece still lives
    (:func:`~geoequity.io.vector.keep_points`; a shallow copy's geometries are a view that
    keeps the piece's array alive anyway, a deep copy's are a new array): each step after it
    finds them (urban classes, coverage, schools' cells...) instead of computing them again,
    as one process does with its one frame."""
    out = fn(piece, *args, **kwargs)
    keep_points(out)
    return out


def _routes(n: int) -> np.ndarray:
    """For each of ``n`` ranges a value whose hash (dask's shuffle's: the number as a float)
    sends its rows to the output of the same number: no two ranges in one task (a value not
    found, were dask to hash otherwise, only makes two ranges share a task)."""
    from dask.dataframe.shuffle import partitioning_index

    candidates = np.arange(64 * n, dtype=np.int64)
    to = np.asarray(partitioning_index(pd.DataFrame({"_to": candidates.astype(float)}), n))
    first = {int(t): int(c) for c, t in zip(candidates[::-1], to[::-1], strict=True)}
    return np.array([first.get(r, r) for r in range(n)], dtype=np.int64)


def _routed(split: Callable, to: np.ndarray, result: Any, *args: Any) -> pd.DataFrame:
    """``split(result, *args)`` with each row's ``_to`` (:func:`_routes`)."""
    rows = _quietly(split, result, *args)
    return rows.assign(_to=to[rows["range"].to_numpy()])


def _unrouted(combine: Callable, rows: pd.DataFrame) -> Any:
    """``combine`` of a range's rows without their ``_to``."""
    return _quietly(combine, rows.drop(columns="_to"))


def _joined(combine: Callable, *frames: pd.DataFrame) -> Any:
    """``combine`` of ``frames`` as one (:meth:`KeptCells.by_ranges` of one range)."""
    return _quietly(combine, pd.concat(frames, ignore_index=True))


def _quietly(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` on a worker, silently (as :func:`partition_task`: the
    client says the run's progress and its notes, once), at the CPU priority of the
    steps (:func:`_yield_cpu`)."""
    from geoequity._progress import quiet

    _yield_cpu()   # (a cluster the run started: the exact solve goes first)
    with quiet():
        return fn(*args, **kwargs)


def kept_cells(kept: KeptPairs, cells: gpd.GeoDataFrame, schools: pd.Index, *,
               reader: Callable | None = None, columns: tuple = (),
               read: dict | None = None, group: tuple | None = None) -> KeptCells:
    """The cells of a cluster run kept on the workers, beside its pairs: each partition's
    piece (:func:`cell_piece`) made where its answer lies, from its core cells (in the order
    of :attr:`KeptPairs.cores`).

    With ``reader`` (``reader(within=BOX, ids=IDS)`` gives the cells of ``IDS`` among
    those whose point lies in ``BOX``, as the whole read gives them:
    :func:`geoequity.io.read_population` with the run's arguments), each worker reads its
    partition's cells by window, only the core's ids; only the ids, their points and the
    ``columns`` of ``cells`` the run added (the district of each cell, its group) go in the
    task, as categories. Without, the core cells themselves go
    in the task. With ``read`` (``{partition: future}`` of :func:`window_costs`: answers
    holding the core cells their workers read, with their district), each piece is made
    from its partition's own read, ``group`` (``(column, {district: group})``, the groups
    :func:`geoequity.pipeline.district_groups` gives each district) adding each cell's
    group; nothing of the cells travels. Either way a lost
    worker's pieces are made again from the task (the scheduler holds it). Release the
    pieces before ``kept``: they depend on the partitions' answers."""
    client = kept.client
    futures = []
    if read is not None:
        keys: list = []   # (each piece's keys stay where it lies)
        try:
            for fut, name in zip(kept.futures, kept.names, strict=True):
                futures.append(client.submit(cell_piece, read[name], read[name], schools,
                                             group=group, pure=False,
                                             key=f"{fut.key}-cells"))
                if kept.ids_on_workers:
                    keys.append(client.submit(_keys, read[name], pure=False,
                                              key=f"{fut.key}-keys"))
        except BaseException:
            _cancel(client, [*futures, *keys])
            raise
        if kept.ids_on_workers:
            return KeptCells(client, futures, kept.names, n_cells=kept.n_cells, keys=keys)
        return KeptCells(client, futures, kept.names, positions=list(kept.cores))
    # the cells' points (remembered: computed for the partitions) go with each piece, so
    # that its worker need not compute them again (16 bytes and a flag a cell)
    x, y, rect = representative_xy(cells, rectangles=True)
    stand_ins = cells.attrs.get("points_of") == "polygons"   # the worker finds the rectangles
    if stand_ins and reader is None:   # the pieces need the cells' own geometries
        raise ValueError("kept_cells: cells read as points need the population's reader")
    try:
        for fut, core in zip(kept.futures, kept.cores, strict=True):
            points = (x[core], y[core], None if stand_ins else rect[core])
            if reader is None:
                source: Any = cells.take(core)
            else:
                box = _box(x[core], y[core])
                pad = 1e-6 * max(box[2] - box[0], box[3] - box[1], 1.0)
                extra = {c: pd.Categorical(cells[c].to_numpy()[core]) for c in columns}
                source = _CoreCells(reader, (box[0] - pad, box[1] - pad, box[2] + pad,
                                             box[3] + pad), np.asarray(cells.index[core]),
                                    extra)
            futures.append(client.submit(cell_piece, fut, source, schools, points,
                                         pure=False, key=f"{fut.key}-cells"))
    except BaseException:
        _cancel(client, futures)
        raise
    return KeptCells(client, futures, kept.names, positions=list(kept.cores))


@dataclass(frozen=True)
class _CoreCells:
    """A partition's core cells to read on a worker: the window ``box`` of ``reader`` and
    the ids to keep, in the run's order, with the run's own columns (categories)."""

    reader: Callable
    box: tuple
    ids: np.ndarray
    extra: dict

    def frame(self) -> gpd.GeoDataFrame:
        read = self.reader(within=self.box, ids=self.ids)   # (the box holds others' too)
        at = read.index.get_indexer(self.ids)
        if (at < 0).any():
            missing = self.ids[at < 0][:3].tolist()
            raise GeoequityError(f"cluster: the population read by window lacks cells the "
                                 f"run read whole (ids {missing}); was the layer changed "
                                 "during the run? run again")
        frame = read.take(at)
        for col, values in self.extra.items():
            frame[col] = np.asarray(values, dtype=object)
        return frame


def cell_piece(answer: _Answer, frame: gpd.GeoDataFrame, schools: pd.Index,
               points: tuple | None = None, group: tuple | None = None) -> gpd.GeoDataFrame:
    """A partition's piece (:class:`KeptCells`): ``frame`` (its core cells, in the order of
    ``answer.cells``) with the partition's per-cell measures, ``nearest_id`` typed as
    :func:`geoequity.nearest` types it (the schools' ids; Int64 for integer ids).
    ``points``: the cells' representative ``(x, y, rectangles)`` as the client computed
    them (remembered for the piece: :func:`~geoequity.io.vector.remember_points`).
    ``group``: ``(column, {district: group})`` adds each cell's group by its district."""
    if isinstance(frame, _CoreCells):   # read on this worker, by window
        from geoequity._progress import quiet

        with quiet():
            frame = frame.frame()
    elif isinstance(frame, _Answer):   # read by the partition itself (window_task)
        frame = frame.frame.copy(deep=False)
        if group is not None:
            column, of = group
            frame[column] = frame["district"].map(of).to_numpy(dtype=object)
    if len(frame) != len(answer.cells):
        raise ValueError(f"cell_piece: {len(frame)} cells for {len(answer.cells)} answers")
    piece = frame.copy()
    # the ids' own dtype (str, Int64) even where every one is missing: the parts of
    # cells.parquet share one schema
    piece["nearest_id"] = _nearest_ids(answer.nearest, frame.index, schools)
    for k, v in answer.values.items():
        piece[k] = v
    if points is not None:   # the client's: every step over the piece finds them
        remember_points(piece, *points)
    else:
        keep_points(piece)   # computed once here
    return piece


def _write_piece(answer: _Answer, path: str, cells: pd.Index, schools: pd.Index,
                 attrs: dict) -> str:
    """A partition's pairs as one Parquet file (on its worker): the table
    :meth:`~geoequity.pairs.Pairs.to_frame` gives, ``cells`` its core cells' ids in
    position order (None: the answer's own ``ids``, its pairs numbered by them)."""
    from geoequity.io import write_table

    if cells is None:
        cells, origin = pd.Index(answer.ids), answer.origin
    else:
        origin = np.searchsorted(answer.cells, answer.origin)   # the core cells ascend
    pairs = Pairs(origin, answer.destination.astype(np.intp), answer.cost, cells, schools,
                  attrs=dict(attrs))
    write_table(pairs.to_frame(), path)
    return path


@dataclass
class _NumberedPairs:
    """A piece's pairs numbered by its own cells, and their ids and keys (their places in
    the run's order: :attr:`_Answer.keys`; :func:`_numbered_pairs`)."""

    ids: np.ndarray
    origin: np.ndarray
    destination: np.ndarray
    cost: np.ndarray
    keys: np.ndarray | None = None


def _numbered_pairs(answer: _Answer, max_cost: float) -> _NumberedPairs:
    """A worker-read partition's pairs within ``max_cost`` and its cells' ids (on its
    worker: :meth:`KeptPairs.gather`)."""
    keep = answer.cost <= max_cost
    return _NumberedPairs(answer.ids, answer.origin[keep], answer.destination[keep],
                          answer.cost[keep], _keys(answer))


def _assignment_piece(answer: _Answer, max_cost: float) -> _Piece:
    """A partition's pairs within ``max_cost`` (on its worker; the assignment's)."""
    keep = answer.cost <= max_cost
    return _Piece(answer.origin[keep], answer.destination[keep], answer.cost[keep])


@dataclass
class _Piece:
    origin: np.ndarray
    destination: np.ndarray
    cost: np.ndarray


def _solve_pieces(pieces: list, problem: dict) -> dict:
    """The exact assignment on a worker: the pieces merged in the cost table's order, the
    solver's pairs and penalty (:func:`geoequity.assignment.solver_pairs`), OR-tools'
    min-cost flow; returns the used pairs only (what the client's tables need)."""
    cpu, start = time.process_time(), time.perf_counter()
    d, s = problem["d"], problem["s"]
    counts = np.zeros(len(d), dtype=np.int64)
    for piece in pieces:
        counts += np.bincount(piece.origin, minlength=len(d))
    oi, dj, c = _placed(list(pieces), counts)
    return _solve_arrays(oi, dj, c, d, s, problem["node"], problem["school"], cpu, start)


def _solve_arrays(oi, dj, c, d, s, node, school, cpu: float, start: float) -> dict:
    """:func:`_solve_pieces` once the pairs are merged: the solver's pairs and penalty,
    OR-tools' min-cost flow in a child process; the used pairs and the solve's figures
    (``cpu``, ``start``: the process time and the clock when the solve began)."""
    from geoequity.assignment import solver_pairs
    from geoequity.mincostflow import solve_beside

    oi, dj, c, penalty = solver_pairs(oi, dj, c, d, s)
    x, problem_text, child = np.zeros(0), "", {}
    prep = time.perf_counter() - start
    if len(oi):   # in a child process: this worker's thread and data stay free meanwhile
        x, problem_text = solve_beside(
            {"oi": oi, "dj": dj, "c": c, "d": d, "s": s, "node": node, "school": school},
            {"penalty": penalty, "lexicographic": True}, child, popen=_spawn)
    used = x > 0 if len(x) else np.zeros(0, dtype=bool)
    if problem_text:
        used = np.zeros(len(oi), dtype=bool)
    return {"fo": oi[used], "fd": dj[used], "fc": c[used], "fx": x[used] if len(x) else x,
            "problem": problem_text, "penalty": penalty, "pairs": len(oi),
            "prep_seconds": prep,   # wall: the pieces merged, before the child starts
            "cpu_seconds": time.process_time() - cpu + child.get("cpu", 0.0),
            "peak_mb": _peak_mb(), "child_peak_mb": child.get("peak_mb")}


@dataclass
class _CellsPiece:
    """A worker-read partition's part of the exact solve (:func:`_solve_piece`): its core
    cells' ``ids``, ``children``, bounding boxes' centres ``x``, ``y`` (the solver's
    numbering: :func:`geoequity.pipeline.solver_locality`) and nearest school within the
    assignment's max cost (``near``, a school position; -1: none), and its pairs within it
    (``origin`` numbering its own cells)."""

    ids: np.ndarray
    children: np.ndarray
    x: np.ndarray
    y: np.ndarray
    near: np.ndarray
    origin: np.ndarray
    destination: np.ndarray
    cost: np.ndarray
    keys: np.ndarray | None = None   # the cells' places in the run's order (_Answer.keys)


def _solve_piece(answer: _Answer, max_cost: float) -> _CellsPiece:
    """A worker-read partition's :class:`_CellsPiece` (on its worker)."""
    keep = answer.cost <= max_cost
    return _CellsPiece(answer.ids, answer.children, answer.centres[0], answer.centres[1],
                       _nearest_within(answer, max_cost), answer.origin[keep],
                       answer.destination[keep], answer.cost[keep], _keys(answer))


def _nearest_within(answer: _Answer, max_cost: float) -> np.ndarray:
    """Each core cell's nearest school (a position) when within ``max_cost``, else -1: the
    assignment's (the solver's fallback numbering, the schools' overflow)."""
    reach = answer.values["nearest_cost"] <= max_cost   # (NaN: no school)
    return np.where(reach, answer.nearest, -1)


def _keys(answer) -> np.ndarray:
    """A worker-read partition's (or its piece's) cells' places in the run's order: their
    ``keys`` (rows in the file), else their ids (:attr:`_Answer.keys`)."""
    return answer.keys if answer.keys is not None else answer.ids


def _number_cells(parts: list) -> tuple[np.ndarray, list]:
    """The run's cells from the partitions' own (each one's keys ascending: ``parts`` hold
    ``ids`` and ``keys``, :func:`_keys`): every cell's id in the order of their keys (a
    raster's ids, a vector layer's rows, or its ids that ascend in the file's order are the
    whole read's order, so the numbering an in-process run gives) and each partition's
    cells' positions in it."""
    key_parts = [_keys(p) for p in parts]
    keys = (np.concatenate(key_parts) if key_parts else np.zeros(0, dtype=np.int64))
    order = np.argsort(keys, kind="stable")
    pos = np.empty(len(keys), dtype=np.int64)
    pos[order] = np.arange(len(keys))
    keys = keys[order]
    if len(keys) > 1 and not (keys[1:] > keys[:-1]).all():   # (text ids too)
        raise RuntimeError("cluster: a cell in two partitions")
    ends = np.cumsum([0, *(len(a) for a in key_parts)])
    positions = [pos[ends[i]:ends[i + 1]] for i in range(len(key_parts))]
    if all(p.keys is None for p in parts):   # the ids are the keys
        return keys, positions
    ids = np.empty(len(keys), dtype=np.result_type(*(p.ids.dtype for p in parts)))
    for p, at in zip(parts, positions, strict=True):
        ids[at] = p.ids
    return ids, positions


def _solve_cells(pieces: list, problem: dict) -> dict:
    """The exact assignment of a run whose workers read the cells (on a worker, or here
    when the cluster lost it): the cells numbered from the pieces (:func:`_number_cells`),
    the solver's numbering from their points and the schools' (``problem``: ``s`` seats,
    ``sx``, ``sy`` the schools' centres), the pairs merged in the cost table's order, the
    solve (:func:`_solve_arrays`); with the cells' ``ids``, ``d``, ``near`` and each
    piece's ``positions`` for :func:`_solved`."""
    from geoequity._hilbert import locality_keys
    from geoequity.assignment import solver_numbering

    cpu, start = time.process_time(), time.perf_counter()
    ids, positions = _number_cells(pieces)
    n, s = len(ids), problem["s"]
    d, near = np.zeros(n), np.full(n, -1, dtype=np.int64)
    cx, cy = np.zeros(n), np.zeros(n)
    placed = []
    for p, at in zip(pieces, positions, strict=True):
        d[at], near[at], cx[at], cy[at] = p.children, p.near, p.x, p.y
        placed.append(_Piece(at[p.origin], p.destination, p.cost))
    numbering = solver_numbering(locality_keys(cx, cy, problem["sx"], problem["sy"]), n,
                                 len(s), nearest=near)
    del cx, cy
    counts = np.zeros(n, dtype=np.int64)
    for piece in placed:
        counts += np.bincount(piece.origin, minlength=n)
    oi, dj, c = _placed(placed, counts)
    got = _solve_arrays(oi, dj, c, d, s, numbering["node"], numbering["school"], cpu, start)
    got.update(ids=ids, d=d, s=s, near=near, positions=positions)
    return got


def _solved(got: dict, schools: pd.Index):
    """The :class:`~geoequity.assignment.AssignmentResult` of :func:`_solve_cells`' answer
    (None when the solver stopped), with each piece's cells' positions: kept where it was
    solved, its pieces' columns and its summary taken from it (:func:`_solve_columns`,
    :func:`_solve_summary`)."""
    from geoequity._progress import quiet
    from geoequity.assignment import result_of_flows

    if got["problem"]:
        return None, got
    with quiet():   # the client says the run's figures (_KeptSolve)
        res = result_of_flows(pd.Series(got["d"], index=pd.Index(got["ids"])),
                              pd.Series(got["s"], index=schools), got["near"], got["fo"],
                              got["fd"], got["fc"], got["fx"],
                              status="optimal" if got["pairs"] else "trivial",
                              unassigned_cost=got["penalty"])
    return res, got


#: dask priority of the exact solve's tasks on a cluster whose cells stay on the workers:
#: above the steps over the pieces queued meanwhile (priority 0 or less), which the client
#: does not wait for first
SOLVE_PRIORITY = 100


def _solve_and_tabulate(pieces: list, problem: dict, schools: pd.Index) -> tuple:
    """:func:`_solve_cells` and :func:`_solved` in one task (no second trip through the
    worker's queue between the solve and its tables)."""
    return _solved(_solve_cells(pieces, problem), schools)


def _solve_summary(solved: tuple) -> dict:
    """What the client takes of :func:`_solved`: the result without its per-cell and
    per-pair tables, and the solve's figures."""
    res, got = solved
    out = {k: got[k] for k in ("problem", "penalty", "pairs", "prep_seconds", "cpu_seconds",
                               "peak_mb", "child_peak_mb")}
    if res is not None:
        out["result"] = replace(res, flows=res.flows.iloc[:0],
                                unassigned=res.unassigned.iloc[:0], origins=res.origins.iloc[:0])
    return out


#: the assignment's columns each piece takes (:func:`geoequity.piecewise.analyse_piecewise`)
ASSIGNMENT_COLUMNS = ["assigned", "unassigned", "school"]


def _solve_columns(solved: tuple, i: int) -> pd.DataFrame:
    """Piece ``i``'s assignment columns from :func:`_solved` (its cells' rows, in its
    order)."""
    res, got = solved
    return res.origins[ASSIGNMENT_COLUMNS].iloc[got["positions"][i]]


#: what a note on an error the exact assignment's solve raised on a worker names
_SOLVE = "the capacity assignment's solve"


class _KeptSolve:
    """The exact assignment of :class:`KeptPairs` solving on a worker; the interface of
    :class:`geoequity.assignment.PendingAssignment` (``result``, ``cancel``, ``figures``,
    ``where``)."""

    def __init__(self, kept: KeptPairs, demand: pd.Series, supply: pd.Series,
                 max_cost: float, locality) -> None:
        from geoequity.assignment import solver_numbering

        self.kept, self.max_cost, self.locality = kept, float(max_cost), locality
        self.demand, self.supply = demand, supply
        d = demand.to_numpy(np.float64)
        s = supply.to_numpy(np.float64)
        client = kept.client
        # each cell's nearest school within the assignment's max_cost (-1: none): the
        # solver's fallback numbering and the schools' overflow, as in process
        self.near = np.where(kept.nearest_cost <= self.max_cost, kept.nearest, -1)
        self._started = time.perf_counter()
        pieces = [client.submit(_assignment_piece, fut, self.max_cost, pure=False,
                                key=f"{fut.key}-assignment") for fut in kept.futures]
        try:
            [data] = client.scatter([{"d": d, "s": s, **solver_numbering(
                locality, len(d), len(s), nearest=self.near)}])
            self._job = client.submit(_solve_pieces, pieces, data, pure=False,
                                      key=f"geoequity-assignment-solve-{uuid.uuid4().hex[:8]}")
        except BaseException:   # no solve to cancel later: drop the pieces now
            _cancel(client, pieces)
            raise
        self._held = (*pieces, data)
        self.where = "worker"
        self.figures: dict[str, Any] = {"where": "worker"}
        info(f"  assigning children to seats ({kept.live:,} pairs, min-cost flow) on a "
             "worker, the pairs sent there from their workers")

    def result(self):
        """Wait for the solve; the :class:`~geoequity.assignment.AssignmentResult`. The
        cluster lost it meanwhile (a worker lost, the solve cancelled, a lost connection:
        not the task's own error, :func:`_raised_by_task`): the pairs are gathered and the
        solve done here (one line on stderr says so). An error the solve raised itself (a
        bug, an input error) stops the run as a partition's does (:func:`_failure`)."""
        from geoequity._errors import SolverError

        wait = time.perf_counter()
        try:
            got = self._job.result()
        except Exception as exc:
            if isinstance(exc, GeoequityError) or _raised_by_task(self._job, exc):
                _failure("", self._job, exc, doing=_SOLVE)   # its note (exc itself)
                self.cancel()
                raise
            why = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            info(f"capacity assignment: the solve on a worker gave no answer ({why}); "
                 "solving in this process instead")
            return self._here()
        finally:
            end = time.perf_counter()
            self.figures.update(seconds=end - self._started, waited=end - wait)
        if got["problem"]:
            self.cancel()
            raise SolverError("capacity assignment: OR-tools min-cost flow stopped "
                              f"({got['problem']})")
        self.figures.update({k: got[k] for k in ("cpu_seconds", "peak_mb", "child_peak_mb",
                                                 "prep_seconds")})
        return self._finish(got)

    def _here(self):
        """The solve done here, from the pairs gathered (the cluster lost it)."""
        from geoequity.assignment import start_assignment

        self.cancel()
        here = start_assignment(self.kept.gather(self.max_cost), self.demand, self.supply,
                                max_cost=self.max_cost, locality=self.locality)
        try:
            return here.result()
        finally:   # where it was solved in the end ("here" or "process"), and its figures
            self.where = here.where
            self.figures.update(here.figures)

    def _finish(self, got: dict):
        """The result of the worker's answer."""
        from geoequity.assignment import result_of_flows

        self.cancel()
        return result_of_flows(self.demand, self.supply, self.near, got["fo"], got["fd"],
                               got["fc"], got["fx"],
                               status="optimal" if got["pairs"] else "trivial",   # as in process
                               unassigned_cost=got["penalty"])

    def cancel(self) -> None:
        """Stop the solve and drop its pieces (idempotent)."""
        job, self._job = getattr(self, "_job", None), None
        if job is None:
            return
        held, self._held = self._held, ()
        _cancel(self.kept.client, [job, *held])


class _KeptCellsSolve(_KeptSolve):
    """:class:`_KeptSolve` for pairs numbered by each partition's own cells
    (:attr:`KeptPairs.ids_on_workers`): the solving worker numbers the cells from the
    pieces and builds the assignment's per-cell columns there (:func:`_solve_cells`,
    :func:`_solved`); the client gets the schools' table and the figures, and each piece
    its own columns (:attr:`columns`, futures). The client holds no cell."""

    def __init__(self, kept: KeptPairs, supply: pd.Series, max_cost: float,
                 centres: tuple[np.ndarray, np.ndarray]) -> None:
        self.kept, self.max_cost, self.supply = kept, float(max_cost), supply
        self.columns: list | None = None   # each piece's assignment columns, once solved
        client = kept.client
        self._started = time.perf_counter()
        pieces = [client.submit(_solve_piece, fut, self.max_cost, pure=False,
                                priority=SOLVE_PRIORITY, key=f"{fut.key}-assignment")
                  for fut in kept.futures]
        held: list = list(pieces)
        self._problem = {"s": supply.to_numpy(np.float64), "sx": np.asarray(centres[0]),
                         "sy": np.asarray(centres[1])}   # per school: kept for _here
        try:
            [data] = client.scatter([self._problem])
            held.append(data)
            token = uuid.uuid4().hex[:8]
            # the result made in the solve's own task, its summary and the pieces' columns
            # before the steps queued on that worker (the client waits for them)
            self._solved = client.submit(_solve_and_tabulate, pieces, data, supply.index,
                                         pure=False, priority=SOLVE_PRIORITY,
                                         key=f"geoequity-assignment-solve-{token}")
            held.append(self._solved)
            self._job = client.submit(_solve_summary, self._solved, pure=False,
                                      priority=SOLVE_PRIORITY,
                                      key=f"geoequity-assignment-summary-{token}")
        except BaseException:   # no solve to cancel later: drop what was sent now
            _cancel(client, held)
            raise
        self._held = tuple(held)
        self.where = "worker"
        self.figures: dict[str, Any] = {"where": "worker"}
        info(f"  assigning children to seats ({kept.live:,} pairs, min-cost flow) on a "
             "worker, the pairs and the cells' numbers sent there from their workers")

    def _finish(self, got: dict):
        """The result without its per-cell tables; the pieces' columns left where it was
        solved (the solve's other futures let go: the columns' tasks hold what they need)."""
        from geoequity.assignment import say_unseated

        client = self.kept.client
        self.columns = [client.submit(_solve_columns, self._solved, i, pure=False,
                                      priority=SOLVE_PRIORITY,
                                      key=f"{self._solved.key}-columns-{i}")
                        for i in range(len(self.kept.futures))]
        self._job = self._solved = None   # let go, not cancelled: the columns hold it
        self._held = ()
        res = got["result"]
        say_unseated(res.totals, res.split_origins)
        return res

    def _here(self):
        """The solve done here, from the pieces' parts gathered (the cluster lost it): the
        same function as on a worker; the pieces' columns sent from here."""
        from geoequity._errors import SolverError
        from geoequity.assignment import say_unseated

        client = self.kept.client
        self.cancel()
        pieces = _gather(client, dict(zip(self.kept.names, [
            client.submit(_solve_piece, fut, self.max_cost, pure=False,
                          key=f"{fut.key}-assignment-here") for fut in self.kept.futures],
            strict=True)), desc=None, ordered=True)
        got = _solve_cells(pieces, self._problem)
        del pieces
        solved = _solved(got, self.supply.index)
        if got["problem"]:
            raise SolverError("capacity assignment: OR-tools min-cost flow stopped "
                              f"({got['problem']})")
        self.columns = [_solve_columns(solved, i) for i in range(len(self.kept.futures))]
        self.where = "here"
        self.figures.update(where="here", **{k: got[k] for k in (
            "cpu_seconds", "peak_mb", "child_peak_mb", "prep_seconds")})
        res = _solve_summary(solved)["result"]
        say_unseated(res.totals, res.split_origins)
        return res


def _decomposition_part(answer: _Answer, max_cost: float, s: np.ndarray):
    """A worker-read partition as a part of a decomposed assignment (on its worker):
    :func:`geoequity.assignment_decomposed.part_flows` of its cells and pairs, with each
    cell's nearest school within ``max_cost``. Its cells go by their keys (:func:`_keys`:
    the decomposition orders two parts' cells by them; the pieces take their columns by
    position)."""
    from geoequity.assignment_decomposed import part_flows

    return part_flows(_keys(answer), answer.children, answer.origin, answer.destination,
                      answer.cost, s, max_cost, near=_nearest_within(answer, max_cost))


def _assignment_columns(res) -> pd.DataFrame:
    return res.origins[ASSIGNMENT_COLUMNS]


#: what a note on an error a decomposed assignment's step raised on a worker names
_DECOMPOSING = "the decomposed capacity assignment"


class _KeptDecomposition:
    """A decomposed assignment of pairs numbered by each partition's own cells
    (:attr:`KeptPairs.ids_on_workers`): each partition is a part where it lies, and every
    step of :func:`geoequity.assignment_decomposed.decompose_parts` runs there (the rounds,
    the border pass, the bound, the augmenting paths); between the steps only the seats per
    school cross. The client gets the schools' table and the figures
    (:func:`geoequity.assignment.summed_result`), each piece its own columns
    (:attr:`columns`). The parts are the partitions in the order of their names: the parts
    an in-process decomposition takes (:func:`geoequity.pipeline.assignment_parts`). The
    whole-graph maximum flows, which run on one worker, take at most
    :func:`geoequity.assignment_decomposed.flow_pair_limit` pairs of the workers' memory
    limits (above, the per-part relaxation bound, as in process above
    ``MAX_FLOW_PAIRS``).

    Called (``PendingAssign`` calls it), it runs and gives ``(result, report)``. With
    ``compare_exact`` the exact solve runs meanwhile on a worker (:class:`_KeptCellsSolve`)
    for the report's gaps."""

    def __init__(self, kept: KeptPairs, supply: pd.Series, max_cost: float, *,
                 exact_limit: int, compare_exact: bool, school_centres) -> None:
        from geoequity._progress import quiet

        self.kept, self.supply, self.max_cost = kept, supply, float(max_cost)
        self.limit = exact_limit
        self.columns: list | None = None
        self.figures: dict[str, Any] = {"where": "workers"}
        self._exact = None
        if compare_exact:   # (its lines are the exact run's, not this one's)
            with quiet():
                self._exact = _KeptCellsSolve(kept, supply, max_cost, school_centres)

    def _fetch(self, futures: list) -> list:
        """The results of one step's tasks, a failure named by its part (its partition)."""
        names = ([self.kept.names[i] for i in self._order] if len(futures) == len(self._order)
                 else [f"{_DECOMPOSING} ({i + 1})" for i in range(len(futures))])
        return _gather(self.kept.client, dict(zip(names, futures, strict=True)),
                       release=False, desc=None, ordered=True)

    def __call__(self):
        from geoequity._progress import quiet
        from geoequity.assignment import result_figures, summed_result
        from geoequity.assignment_decomposed import (
            decompose_parts,
            flow_pair_limit,
            part_result,
        )

        kept, client = self.kept, self.kept.client
        started = time.perf_counter()
        s = self.supply.to_numpy(np.float64)
        self._order = sorted(range(len(kept.names)), key=kept.names.__getitem__)
        token = uuid.uuid4().hex[:8]
        sent: list = []   # every task of the decomposition: let go on the way out

        def submit(fn, *args):
            sent.append(client.submit(fn, *args, pure=False, key=(
                f"geoequity-decomposition-{token}-{fn.__name__}-{len(sent)}")))
            return sent[-1]

        try:
            seats = given(client, s)
            sent.append(seats)
            parts = [submit(_decomposition_part, kept.futures[i], self.max_cost, seats)
                     for i in self._order]
            info(f"  decomposing the capacity assignment ({kept.live:,} pairs) into the "
                 f"{len(parts)} partitions, each solved on its worker")
            # the whole-graph maximum flows run on one worker: as many pairs as it holds
            limits = [w.get("memory_limit") for w in workers_info(client).values()]
            parts, fig = decompose_parts(parts, s, seats=seats, repair_limit=self.limit,
                                         flow_limit=flow_pair_limit(limits),
                                         submit=submit, fetch=self._fetch)
            index = given(client, self.supply.index)
            sent.append(index)
            results = [submit(part_result, p, seats, index) for p in parts]
            del parts
            figures = self._fetch([submit(result_figures, r) for r in results])
            columns = [client.submit(_assignment_columns, r, pure=False,
                                     key=f"{r.key}-columns") for r in results]
            del results
        finally:   # the columns hold what they need; the rest goes now (on an error too)
            for fut in sent:
                with suppress(Exception):
                    fut.release()
            sent.clear()
        self.columns = [None] * len(columns)
        for at, i in enumerate(self._order):   # back in the pieces' order
            self.columns[i] = columns[at]
        res = summed_result(figures, self.supply, status="decomposed")
        exact_u = exact_c = None
        if self._exact is not None:
            with quiet():
                ex = self._exact.result()
            exact_u, exact_c = ex.totals["unassigned"], ex.objective
            for fut in self._exact.columns or []:
                fut.release()
            self._exact = None
        self.figures["seconds"] = time.perf_counter() - started
        return res, fig.report(res.totals["unassigned"], res.objective, exact_u, exact_c)

    def cancel(self) -> None:
        """Stop the exact solve run for the comparison (idempotent)."""
        exact, self._exact = self._exact, None
        if exact is not None:
            exact.cancel()


def _submit(client, cells, schools, keys, source, h: Halo, task: _Task,
            points: gpd.GeoSeries | None = None) -> dict:
    """Cut each partition (its core cells, the halo's cells and schools, as arrays) and
    submit it (:func:`_send_cut`); ``{partition name: future}``. ``points``: the cells'
    representative points, when the caller has them."""
    cx, cy = ((points.x.to_numpy(), points.y.to_numpy()) if points is not None
              else representative_xy(cells))
    children = cells["children"].to_numpy(dtype=np.float64)
    sx, sy, school_pts = _school_points(schools)
    codes, names = pd.factorize(pd.Series(np.asarray(keys, dtype=object)), sort=True)
    cut = []
    for code in range(len(names)):
        core = codes == code
        box = _box(cx[core], cy[core])
        # the core cells first, then the halo's, as a worker-read partition orders them
        # (_window_partition): the partition's pairs (core, then halo) come in ascending
        # cell order either way
        near = np.flatnonzero(_inside(cx, cy, _grown(box, h.cells)) & ~core)
        near = np.concatenate([np.flatnonzero(core), near])
        sch = np.flatnonzero(_inside(sx, sy, _grown(box, h.schools)))
        # its size: its pairs, core cells x schools
        cut.append((int(core.sum()) * len(sch) + len(near), code, box, near, sch))

    def args(entry: tuple) -> tuple:
        _, code, _, near, sch = entry
        return (_Points(x=cx[near], y=cy[near], weight=children[near], pos=near,
                        crs=cells.crs, core=codes[near] == code), school_pts(sch))

    return _send_cut(client, cut, [str(n) for n in names], task, source, h, cells.crs,
                     partition_task, args)


def _school_points(schools: gpd.GeoDataFrame) -> tuple:
    """The schools' points' ``x``, ``y`` and a function giving the :class:`_Points` of
    those at some positions (a partition's)."""
    spts = representative_points(schools)
    sx, sy = spts.x.to_numpy(), spts.y.to_numpy()
    seats = schools["seats"].to_numpy(dtype=np.float64)
    rank = id_rank(schools.index)

    def at(sch: np.ndarray) -> _Points:
        return _Points(x=sx[sch], y=sy[sch], weight=seats[sch], pos=sch, crs=schools.crs,
                       ids=rank[sch])

    return sx, sy, at


def _send_cut(client, cut: list, names: list[str], task: _Task, source, h: Halo, crs,
              fn: Callable, args: Callable[[tuple], tuple]) -> dict:
    """Submit ``fn(task, *args(entry))`` for each partition of ``cut`` (``(size, code,
    box, cells, school positions)``, ``names[code]`` its name); ``{name: future}``.

    The largest first (by ``size``), so that no worker is left with a large one at the end
    while the others idle. On streets, the partitions go to the workers in spatial groups
    (:func:`_street_groups`), each group's to one worker with the streets of the group's
    box: the worker loads them once for the group (:func:`_streets`) instead of once per
    partition."""
    cut.sort(key=lambda c: (-c[0], c[1]))
    # the run's own token, in its task keys and its streets' (:func:`_streets_key`): a
    # client holding another run's partitions (a failed run's, kept by its traceback; a run
    # beside this one) never hands them to this one, nor a worker another run's streets
    run = uuid.uuid4().hex[:8]
    tasks = {c[1]: replace(task, name=names[c[1]], run=run) for c in cut}
    order = [c[1] for c in cut]
    if source.kind == "network":
        order = _place_streets(client, cut, tasks, h, crs)
    by_code = {c[1]: c for c in cut}
    futures: dict = {}
    try:
        for i, code in enumerate(order):
            t = tasks[code]
            # the partitions in this order (tasks submitted within dask's fifo-timeout, 60 ms,
            # otherwise tie and start in any order); a street group's on its worker (a lost
            # one's partitions may go elsewhere)
            where = {"priority": len(order) - i}
            if t.worker is not None:
                where.update(workers=[t.worker], allow_other_workers=True)
            futures[t.name] = client.submit(
                fn, t, *args(by_code[code]), key=f"geoequity-partition-{run}-{code}-{t.name}",
                pure=False, **where)
    except BaseException:   # Ctrl-C or a lost scheduler midway: the caller never gets
        _cancel(client, list(futures.values()))   # these, so they go here and now
        raise
    return futures


def _place_streets(client, cut: list, tasks: dict, h: Halo, crs) -> list:
    """Give each partition of ``cut`` (``(size, code, box, ...)``, largest first) its
    streets: the partitions in spatial groups, one per worker (at least two for two or more
    partitions, so that no process holds the province's graph), each group's tasks the box of
    its partitions' streets (their own boxes grown by the street halo, in WGS84: it holds each
    one's own) and its worker's address. ``tasks`` (by code) are updated; returns the codes
    in the order to submit them: each worker's in its groups' order, largest first within a
    group, the workers' turns interleaved. A cluster that names no worker yet: each
    partition its own box, on any worker."""
    own = {c[1]: _lonlat_box(_grown(c[2], h.streets), crs) for c in cut}
    workers = sorted(workers_info(client))
    for code, box in own.items():
        tasks[code] = replace(tasks[code], streets_box=box, own_box=box)
    if not workers or len(cut) < 2:
        return [c[1] for c in cut]
    centres = np.array([((c[2][0] + c[2][2]) / 2, (c[2][1] + c[2][3]) / 2) for c in cut])
    groups = _street_groups(centres, np.array([c[0] for c in cut], dtype=np.float64),
                            max(len(workers), 2))
    queues: dict[str, list] = {w: [] for w in workers}
    for g, members in enumerate(groups):
        codes = [cut[i][1] for i in sorted(members)]   # largest first, as ``cut``
        boxes = np.array([own[code] for code in codes])
        box = (float(boxes[:, 0].min()), float(boxes[:, 1].min()),
               float(boxes[:, 2].max()), float(boxes[:, 3].max()))
        address = workers[g % len(workers)]
        for code in codes:
            tasks[code] = replace(tasks[code], streets_box=box, worker=address, group=g)
        queues[address] += codes
    longest = max(len(q) for q in queues.values())
    return [q[i] for i in range(longest) for q in queues.values() if i < len(q)]


def _street_groups(centres: np.ndarray, sizes: np.ndarray, count: int) -> list[list[int]]:
    """Split items (partitions: their box centres ``(x, y)`` and sizes) into ``count``
    spatial groups of about equal size (at most one group per item): recursive bisection,
    each time across the longer side of the items' extent, at the point nearest the share of
    the groups on each side. Returns each group's item positions, ascending."""
    def split(items: np.ndarray, k: int) -> list[list[int]]:
        if k <= 1 or len(items) <= 1:
            return [sorted(int(i) for i in items)]
        x, y = centres[items, 0], centres[items, 1]
        along, across = (x, y) if np.ptp(x) >= np.ptp(y) else (y, x)
        items = items[np.lexsort((items, across, along))]
        left = k // 2
        total = np.cumsum(sizes[items])
        at = int(np.argmin(np.abs(total - total[-1] * left / k))) + 1
        at = min(max(at, left), len(items) - (k - left))   # each side: one item per group
        return split(items[:at], left) + split(items[at:], k - left)

    return split(np.arange(len(centres)), min(int(count), len(centres)))


# ---- partitions whose workers read their own cells ------------------------------------------

@dataclass(frozen=True)
class _Window:
    """A partition cut before any cell is read (:func:`partition_windows`): what its worker
    reads (``reader(within=box)``: :func:`geoequity.io.read_population` with the run's
    arguments, over the partition's box grown by the cells' halo) and how it tells its cells'
    partitions (:func:`partition_keys` with ``partition``) and districts."""

    reader: Callable
    box: tuple
    partition: Any


def window_task(task: _Task, window: _Window, layers: tuple, school_pts: _Points) -> _Answer:
    """One partition whose worker reads its cells (:func:`_window_partition`), silently (as
    :func:`partition_task`)."""
    from geoequity._progress import quiet

    with quiet():
        return _window_partition(task, window, layers, school_pts)


def _window_partition(task: _Task, window: _Window, layers: tuple,
                      school_pts: _Points) -> _Answer:
    """One partition, on a worker that reads its cells: the cells of ``window`` (core and
    halo), each one's district (``layers``: the districts, the groups a partition column
    dissolves them into, either None) and partition found here by the rules the whole run
    uses (:func:`geoequity.io.district_of`, :func:`partition_keys`; ``layers`` also holds
    every window's name: a read cell of no window is a bug, raised), then
    :func:`_partition` on them. The core cells are numbered 0, 1, ... in the read's order
    (their keys ascending: their ids, or their rows in the file, which a read by ``rows``
    gives in :data:`geoequity.io.population.ROW_COLUMN`); the exact solve numbers the run's
    cells from the keys (:func:`_number_cells`)."""
    from geoequity.io.population import ROW_COLUMN

    start, cpu = time.perf_counter(), time.process_time()
    districts, groups, names = layers
    frame = window.reader(within=window.box)
    by_rows = ROW_COLUMN in frame.columns
    places = (frame.pop(ROW_COLUMN).to_numpy(np.int64) if by_rows
              else frame.index.to_numpy())   # (the ids: a raster's, or in the file's order)
    x, y, rect = representative_xy(frame, rectangles=True)
    named = (district_of(frame, districts).to_numpy() if districts is not None
             else np.full(len(frame), OUTSIDE, dtype=object))
    keys = partition_keys(frame, window.partition, districts, groups,
                          cell_districts=named if districts is not None else None)
    lost = set(np.unique(keys).tolist()) - names
    if lost:   # a cell no partition takes would be left out of the run without a word
        raise RuntimeError(f"cluster: cells of {sorted(lost)[:3]} lie in no partition's "
                           "window (partition_windows and partition_keys disagree)")
    core = keys == task.name
    n_core = int(core.sum())
    if not n_core:   # no cell of its own (a district without residents, an empty tile):
        # nothing to compute, no streets to load (the client leaves it out)
        none = np.zeros(0, dtype=np.int64)
        return _Answer(cells=none, nearest=none, values={}, origin=none, destination=none,
                       cost=np.zeros(0), attrs={}, stats={"partition": task.name, "cells": 0},
                       schools=school_pts.pos, catch=np.zeros(len(school_pts.pos)), ids=none,
                       keys=none)
    at = np.r_[np.flatnonzero(core), np.flatnonzero(~core)]   # the core first (_submit)
    children = frame["children"].to_numpy(dtype=np.float64)
    cell_pts = _Points(x=x[at], y=y[at], weight=children[at], pos=np.arange(len(at)),
                       crs=frame.crs, core=np.arange(len(at)) < n_core)
    read = time.perf_counter() - start
    answer = _partition(task, cell_pts, school_pts)
    own = at[:n_core]
    own_keys = places[own]
    if n_core > 1 and not (own_keys[1:] > own_keys[:-1]).all():   # (text ids too)
        raise RuntimeError("window_task: the read's cells are not in the run's order")
    piece = frame.take(own)
    piece["district"] = named[own]
    remember_points(piece, x[own], y[own], rect[own])
    answer.ids, answer.frame = piece.index.to_numpy(), piece
    answer.keys = own_keys if by_rows else None   # (None: the ids are the keys, _keys)
    answer.children = children[own]
    answer.centres = box_centres(piece)   # the solver's numbering's (solver_locality)
    answer.read_meta = {"attrs": dict(frame.attrs), "columns": list(frame.columns)}
    population = frame["population"].to_numpy(dtype=np.float64)[own].sum()
    answer.stats.update(children=float(children[own].sum()), population=float(population),
                        read_seconds=read,
                        seconds=time.perf_counter() - start,
                        cpu_seconds=time.process_time() - cpu, worker_peak_mb=_peak_mb())
    return answer


def _sizeof_answer(answer: _Answer) -> int:
    """The bytes of a partition's answer (dask's ``sizeof``, by which it places tasks and
    spills: a dataclass otherwise counts 56 bytes, whatever its arrays)."""
    from dask.sizeof import sizeof

    return 64 + sum(sizeof(v) for v in (
        answer.cells, answer.nearest, answer.values, answer.origin, answer.destination,
        answer.cost, answer.schools, answer.catch, answer.ids, answer.keys, answer.frame,
        answer.children, answer.centres))


try:
    from dask.sizeof import sizeof as _dask_sizeof
except ImportError:   # pragma: no cover - dask not installed
    pass
else:
    _dask_sizeof.register(_Answer)(_sizeof_answer)


def _without_frame(answer: _Answer) -> _Answer:
    """A worker-read partition's answer without its cells as read (:func:`_window_partition`):
    what :class:`KeptPairs` keeps once the piece is made (the same arrays, not copied)."""
    return replace(answer, frame=None)


def window_costs(client, windows: dict, schools: gpd.GeoDataFrame, layers: tuple, source,
                 reader: Callable, *, partition, crs, threshold: float, max_cost: float,
                 method: str = "2sfca", decay: Any = None, decay_param: Any = None,
                 assignment_max_cost: float | None = None,
                 figures: ClusterRun | None = None):
    """:func:`kept_costs` for partitions whose workers read their own cells: ``windows``
    (:func:`partition_windows`) each read by ``reader`` over its box grown by the cells'
    halo. Returns ``(kept, local, cells, cell_districts, read)``: ``local`` and
    ``cell_districts`` None (the workers hold them), ``cells`` a :class:`WorkerCells` (what
    the client knows of the cells: no cell), ``read`` the futures of the answers holding
    each partition's core cells as read (:func:`kept_cells`' ``read``; the caller releases
    them once the pieces are made). The pairs kept number each partition's cells by its own
    (:attr:`KeptPairs.ids_on_workers`)."""
    figures = figures if figures is not None else ClusterRun()
    h = halo(source, threshold=threshold, max_cost=max_cost)
    task = _Task(name="", source=source, streets_box=None, network_crs=network_crs(source, crs),
                 threshold=threshold, max_cost=max_cost, method=method, decay=decay,
                 decay_param=decay_param, assignment_max_cost=assignment_max_cost)
    read: dict = {}
    scattered: list = []

    def send() -> dict:
        # the layers and the windows' names, sent once; kept with the pairs (a lost worker's
        # partitions are computed again from them)
        held = given(client, (*layers, frozenset(windows)))
        # on every worker before the partitions go (small): dask sends a task to a worker
        # holding its dependencies, so with one copy every partition would queue on one
        # worker; a copy lost later is computed again (a task, not scattered)
        client.replicate([held])
        scattered.append(held)
        read.update(_submit_windows(client, windows, schools, held, source, h, task, reader,
                                    partition, crs))
        return dict(read)

    def place(parts: list, futures: dict):
        cells = WorkerCells.of(parts, crs)
        kept = {}
        for p in parts:
            name = p.stats["partition"]
            if p.stats["cells"]:   # (the exact solve's inputs: ahead of the pairs' writes)
                kept[name] = client.submit(_without_frame, futures[name], pure=False,
                                           priority=SOLVE_PRIORITY,
                                           key=f"{futures[name].key}-kept")
            else:   # no cell of its own: left out
                read.pop(name).release()
        return cells, kept

    try:
        kept, local, cells = _kept(client, send, place, schools, source, h, figures)
    except BaseException:
        _cancel(client, [*read.values(), *scattered])
        raise
    kept.held = scattered   # released with the pairs
    return kept, local, cells, None, read


def _submit_windows(client, windows: dict, schools, layers, source, h: Halo, task: _Task,
                    reader: Callable, partition, crs) -> dict:
    """Submit each window (:func:`window_task`, :func:`_send_cut`), its size guessed from
    its schools and its area (its cells are not known yet)."""
    sx, sy, school_pts = _school_points(schools)
    names = sorted(windows)
    cut = []
    for code, name in enumerate(names):
        box, area = windows[name]
        sch = np.flatnonzero(_inside(sx, sy, _grown(box, h.schools)))
        cut.append((area * (1 + len(sch)), code, box, None, sch))

    def args(entry: tuple) -> tuple:
        _, _, box, _, sch = entry
        # the box grown by the halo, and a metre: a cell on its edge is read
        return (_Window(reader, _grown(box, h.cells + 1.0), partition), layers,
                school_pts(sch))

    return _send_cut(client, cut, names, task, source, h, crs, window_task, args)


@dataclass
class WorkerCells:
    """What the client of a cluster run whose workers read the cells (:func:`window_costs`)
    knows of them: their number, children and residents counted (``population``), the
    read's ``columns`` (the geometry's among them), ``crs`` and ``attrs``. The cells
    themselves, their points, districts and
    measures stay on the workers, numbered by each partition's own cells; the exact solve
    numbers them all on its worker (:func:`_solve_cells`), a decomposed assignment leaves
    each partition's where it lies (:class:`_KeptDecomposition`)."""

    n: int
    children: float
    columns: list
    crs: Any
    attrs: dict
    population: float = 0.0

    def __len__(self) -> int:
        return self.n

    @classmethod
    def of(cls, parts: list, crs) -> WorkerCells:
        """The cells of the partitions' answers (without their pairs)."""
        full = [p for p in parts if p.stats["cells"]]
        meta = full[0].read_meta if full else {"columns": ["children"], "attrs": {}}
        return cls(n=sum(p.stats["cells"] for p in full),
                   children=float(sum(p.stats["children"] for p in full)),
                   columns=list(meta["columns"]), crs=crs, attrs=dict(meta["attrs"]),
                   population=float(sum(p.stats["population"] for p in full)))


def _gather(client, futures: dict, *, also: dict | None = None,
            release: bool = True, desc: str | None = "partitions", ordered: bool = False
            ) -> list:
    """The results of ``futures`` (``{partition name: future}``), releasing each once back
    (unless ``release`` is False), as they complete (``ordered``: in the order of
    ``futures``), with a progress bar named ``desc`` (None: none). The first failure stops
    the run, ``futures`` and ``also`` cancelled: an error a task raised itself is raised
    again as the in-process run raises it (:func:`_failure`); a lost worker or a lost
    scheduler in one line naming the partition (:func:`_lost`)."""
    from distributed import as_completed

    done = []
    at = {fut.key: i for i, fut in enumerate(futures.values())}
    names = {fut.key: name for name, fut in futures.items()}
    current = None   # the future whose result is being taken
    try:
        done_in = as_completed(list(futures.values()))
        for fut in (bar(done_in, total=len(futures), desc=desc) if desc else done_in):
            current = fut
            done.append((at[fut.key], fut.result()))
            if release:
                fut.release()   # the worker may drop its copy
            current = None
    except Exception as exc:   # a task's own error; KilledWorker, CommClosedError, ...
        if current is not None:
            name = names[current.key]
        else:   # not while taking a result (the scheduler gone): the first that failed
            name = next((n for n, f in futures.items()
                         if f.status in ("error", "cancelled", "lost")), "?")
        failure = _failure(name, current, exc)   # (before the cancel: it sets the status)
        for f in (*futures.values(), *(also or {}).values()):
            f.cancel()
        if failure is exc:
            raise
        raise failure from None
    if ordered:
        done.sort(key=lambda d: d[0])
    return [d[1] for d in done]


def _raised_by_task(fut, exc: BaseException) -> bool:
    """Whether ``exc`` (raised by ``fut.result()``) is the task's own error, one its code
    raised (a bug, an input error, a MemoryError, and the same error passed on to the tasks
    depending on it): dask marks the future ``"error"`` and gives the exception. Anything
    else is the cluster losing it: ``KilledWorker`` (dask gave up after its workers died, also
    an ``"error"``), a cancelled future (``CancelledError``), a lost connection
    (``CommClosedError``, an ``OSError``)."""
    from distributed import KilledWorker

    return getattr(fut, "status", None) == "error" and not isinstance(exc, KilledWorker)


def _failure(name: str, fut, exc: BaseException, *, doing: str | None = None
             ) -> BaseException:
    """What stops a run whose partition (or piece) ``name`` failed with ``exc`` (from
    ``fut``, None if not known): a :class:`GeoequityError` as it is (its one line, exit
    status 2 on the command line), another error the task raised as it is too, its type,
    message and traceback kept, with a note naming the partition (or what the task was
    ``doing``: :data:`_SOLVE`); a lost worker or scheduler, :func:`_lost`."""
    if isinstance(exc, GeoequityError):
        return exc
    if fut is not None and _raised_by_task(fut, exc):
        note = f"(raised on a dask worker, computing {doing or f'partition {name!r}'})"
        if note not in getattr(exc, "__notes__", ()):   # dask raises one object each time
            exc.add_note(note)
        return exc
    return _lost(name, exc)


def _wait_then_cancel(client, jobs: list, timeout: float = 30.0) -> None:
    """Wait for ``jobs`` to end (their errors ignored; a lost cluster ends them at once;
    ``timeout`` bounds the wait), then let the workers drop them: a run leaving early lets
    the tasks writing into a folder end before it removes that folder (a task started
    cannot be stopped). A task that starts writing after the removal writes nothing
    (:func:`_written` and ``outputs._piece_maps`` look for the folder first)."""
    from distributed import wait

    if jobs:
        with suppress(Exception):
            wait(jobs, timeout=timeout)
        _cancel(client, jobs)


def _cancel(client, futures: list) -> None:
    """Cancel ``futures`` now (not when the last reference goes, which a failed run's frames
    held by a traceback or a notebook put off): the workers drop their results at once, and
    the keys derived from a run's partitions (``-within``, ``-assignment``) are free again
    for the same run's next gather. A lost cluster: nothing to do."""
    if futures:
        with suppress(Exception):
            client.cancel(futures)


def _lost(name: str, exc: BaseException) -> ClusterError:
    """The one line of a run that lost partition ``name`` to ``exc`` (nothing written)."""
    why = " ".join(str(exc).split())[:160]
    return ClusterError(f"cluster: the run lost partition {name!r} ({type(exc).__name__}: "
                        f"{why}); nothing was written and the previous results are as they "
                        "were; check the workers' memory and logs, and run again")


def _merge(parts: list, cells, schools
           ) -> tuple[pd.DataFrame | None, np.ndarray | None, np.ndarray | None, np.ndarray]:
    """The partitions' per-cell measures in the cells' order (``local``), each cell's
    nearest school as a position (-1: none) and its cost, and each school's children within
    the threshold (summed over the partitions). For :class:`WorkerCells` only the last (the
    others stay on the workers: None)."""
    if isinstance(cells, WorkerCells):
        catch = np.zeros(len(schools))
        for part in parts:
            catch[part.schools] += part.catch
        return None, None, None, catch
    n = len(cells)
    near = np.full(n, -1, dtype=np.int64)
    names = ("nearest_cost", "seats_within", "access", "fca")
    values = {k: np.full(n, np.nan) for k in names}
    catch = np.zeros(len(schools))
    for part in parts:
        near[part.cells] = part.nearest
        for k in names:
            values[k][part.cells] = part.values[k]
        catch[part.schools] += part.catch   # a partition's schools are distinct
    local = pd.DataFrame({"nearest_id": _nearest_ids(near, cells.index, schools.index),
                          **values}, index=cells.index)
    return local, near, values["nearest_cost"], catch


def _nearest_ids(near: np.ndarray, cells: pd.Index, schools: pd.Index) -> pd.Series:
    """The nearest school's id of each cell (position -1: none), typed as
    :func:`geoequity.nearest` types it (the schools' ids; Int64 for integers)."""
    reached = near >= 0
    nid = pd.Series(np.asarray(schools.take(np.where(reached, near, 0)))
                    if len(schools) else np.full(len(near), np.nan, dtype=object),
                    index=cells)
    if pd.api.types.is_integer_dtype(nid.dtype):
        nid = nid.astype("Int64")
    return nid.mask(pd.Series(~reached, index=cells))


def _placed(parts: list, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The partitions' pairs in one origin-ordered table, each partition's pieces freed once
    placed. Each cell's pairs come from one partition, where they are one run already sorted
    by cost and school (the order of :func:`geoequity.cost_table`), so whole runs move to
    their place: linear time. A partition whose origins are not ascending runs (not expected)
    falls back to a full sort."""
    total = int(counts.sum())
    oi = np.empty(total, dtype=np.intp)   # the positions of Pairs
    di = np.empty(total, dtype=np.intp)
    cost = np.empty(total, dtype=np.float64)
    starts = np.cumsum(counts) - counts
    fallback = False
    for i, p in enumerate(parts):
        o = p.origin
        if len(o) and (np.diff(o) < 0).any():
            fallback = True
        brk = np.r_[0, np.flatnonzero(np.diff(o)) + 1] if len(o) else np.zeros(0, np.intp)
        rank = np.arange(len(o)) - np.repeat(brk, np.diff(np.r_[brk, len(o)]))
        at = starts[o] + rank
        oi[at], di[at], cost[at] = o, p.destination, p.cost
        parts[i] = None   # the client holds each pair once
    if fallback or (len(oi) and (np.diff(oi) < 0).any()):
        order = np.lexsort((di, cost, oi))
        oi, di, cost = oi[order], di[order], cost[order]
    return oi, di, cost


def check_partition_column(path, districts: dict | None, partition, *, source,
                           cluster: bool = True) -> None:
    """Refuse (one line naming ``source`` and the key) a partition the layers cannot give:
    ``"districts"`` or a column with no districts layer, a column the layer lacks, and on a
    ``cluster`` a district without a value in the column (in process a decomposed
    assignment gives those the ``"(outside)"`` part)."""
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
    if not cluster:
        return
    try:
        values = pyogrio.read_dataframe(districts["path"], layer=districts.get("layer"),
                                        read_geometry=False, columns=[partition])[partition]
    except Exception:   # as above
        return
    if values.isna().any():   # the partitions are the layer dissolved by the column
        row = int(values.isna().to_numpy().nonzero()[0][0])
        raise input_error(source, f"{option('partition', partition)}: the district in row "
                          f"{row + 1} of {path} has no {partition!r} (no partition holds it)",
                          f"give every district a {partition}, or partition by \"districts\" "
                          "or a tile size in metres")


def read_groups(districts: dict, partition: str, crs) -> gpd.GeoDataFrame:
    """The districts layer dissolved by the partition column (e.g. one row per county)."""
    from geoequity.io import read_districts

    return read_districts(districts["path"], name_col=partition, crs=crs,
                          input_crs=districts.get("input_crs"), layer=districts.get("layer"))


def run_on_cluster(options: ComputeOptions, client, cells, schools, districts, source, *,
                   district_paths: dict | None, threshold: float, max_cost: float,
                   method: str, decay: Any, decay_param: Any,
                   assignment_max_cost: float | None = None,
                   figures: ClusterRun | None = None
                   ) -> tuple[KeptPairs, pd.DataFrame, np.ndarray | None]:
    """Partition the run by ``options.partition`` and compute it on the cluster of
    ``client`` (a :class:`distributed.Client` or a :class:`Starting` cluster, e.g. of
    :func:`cluster_client`, left open while the pairs are used: they stay on its workers):
    ``(kept, local, cell_districts)`` for :func:`geoequity.pipeline.analyse` (its
    ``costs``, ``local`` and ``cell_districts``: the cost pairs kept on the workers
    (:class:`KeptPairs`), the per-cell measures, the district of each cell or None without
    districts); the stages' times and the partitions' figures go to ``figures``."""
    if client is None:   # a cluster opened here would close before the pairs are used
        raise ValueError("run_on_cluster: give the client (cluster_client opens one); the "
                         "cost pairs stay on its workers")
    figures = figures if figures is not None else ClusterRun()
    partition = options.partition
    if partition is None:
        partition = DISTRICTS if districts is not None else DEFAULT_TILE
    with figures.stage("partition keys"):
        # the cells' points and districts once: the keys, the partitions' points and the
        # global steps' district of each cell (analyse's cell_districts)
        # (district_of and the partitions read the cells' remembered point coordinates:
        # no point geometry per cell)
        points = None
        cell_districts = None
        if districts is not None:
            cell_districts = district_of(cells, districts).to_numpy()
        groups = None
        if isinstance(partition, str) and partition != DISTRICTS:
            groups = read_groups(district_paths, partition, cells.crs)
        keys = partition_keys(cells, partition, districts, groups, points=points,
                              cell_districts=cell_districts)
    info(f"  partitions: {len(set(keys))} by {partition!r}")
    if isinstance(client, Starting):
        with figures.stage("cluster start"):   # what is left of it after the keys
            client = ready(client)
    kept, local = kept_costs(client, cells, schools, keys, source, threshold=threshold,
                             max_cost=max_cost, method=method, decay=decay,
                             decay_param=decay_param, assignment_max_cost=assignment_max_cost,
                             figures=figures, points=points)
    return kept, local, cell_districts


def read_on_cluster(options: ComputeOptions, client, bounds, crs, schools, districts, source,
                    reader: Callable, *, district_paths: dict | None,
                    threshold: float, max_cost: float,
                    method: str, decay: Any, decay_param: Any,
                    assignment_max_cost: float | None = None,
                    figures: ClusterRun | None = None):
    """:func:`run_on_cluster` for a population its workers read themselves (a raster:
    ``reader(within=BOX)``, :func:`geoequity.io.read_population` with the run's
    arguments): the partitions are cut from the population's extent ``bounds`` (in
    ``crs``) and the districts' polygons (:func:`partition_windows`), each worker reads its
    partition's window and finds its cells' districts and partitions; the client reads no
    cell. Returns ``(kept, local, cells, cell_districts, read)``: as
    :func:`run_on_cluster`'s, ``cells`` the run's cells as their points
    (:func:`window_costs`) and ``read`` the futures holding each partition's cells as read,
    for :func:`kept_cells` (released by the caller once the pieces are made)."""
    figures = figures if figures is not None else ClusterRun()
    partition = options.partition
    if partition is None:
        partition = DISTRICTS if districts is not None else DEFAULT_TILE
    with figures.stage("partition keys"):   # the partitions' boxes: no cell read here
        groups = None
        if isinstance(partition, str) and partition != DISTRICTS:
            groups = read_groups(district_paths, partition, crs)
        windows = partition_windows(bounds, partition, districts, groups)
    info(f"  partitions: up to {len(windows)} by {partition!r}, each read by its worker")
    if isinstance(client, Starting):
        with figures.stage("cluster start"):
            client = ready(client)
    return window_costs(client, windows, schools, (districts, groups), source, reader,
                        partition=partition, crs=crs, threshold=threshold, max_cost=max_cost,
                        method=method, decay=decay, decay_param=decay_param,
                        assignment_max_cost=assignment_max_cost,
                        figures=figures)
