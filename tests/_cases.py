"""Small hand-checkable inputs shared by several test files (imported as ``_cases``: pytest
puts this folder on the import path)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
from distributed import WorkerPlugin
from shapely.geometry import Point, box

from geoequity._errors import GeoequityError

#: the demo scenario of the repository (data/demo.toml)
DEMO = Path(__file__).resolve().parent.parent / "data" / "demo.toml"


class StopRun(GeoequityError):
    """Raised by a parity test's recorder where it has seen what reached it: the run stops
    there (exit status 2 on the CLI, like any refusal)."""


class KillAtTask(WorkerPlugin):
    """Worker plugin: the worker dies (os._exit) when it starts a task whose key holds
    ``marker`` (``"geoequity-partition"``, ``"geoequity-assignment-solve"``)."""

    name = "geoequity-test-kill"

    def __init__(self, marker: str, once: str | None = None) -> None:
        self.marker = marker
        self.once = once   # a file: only the first worker to meet the task dies (it writes it)

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and self.marker in str(key):
            if self.once is not None:
                if os.path.exists(self.once):
                    return
                Path(self.once).write_text("died", encoding="utf-8")
            os._exit(1)


@contextmanager
def dying_cluster(marker: str, n_workers: int, *, once: str | None = None) -> Iterator:
    """A client of a local cluster of ``n_workers`` processes whose workers die at a task
    named by ``marker`` (:class:`KillAtTask`), dask allowing no retry of the killed task;
    with ``once`` (a file path), only the first worker to start it dies, and dask retries
    (its default: the other tasks that worker held are retried too)."""
    import dask
    from distributed import Client, LocalCluster

    from geoequity.distributed import NO_DASHBOARD_PORT

    failures = 0 if once is None else 3
    with dask.config.set({"distributed.scheduler.allowed-failures": failures}):
        cluster = LocalCluster(n_workers=n_workers, processes=True, threads_per_worker=1,
                               dashboard_address=None, scheduler_kwargs=NO_DASHBOARD_PORT)
        client = Client(cluster)
        try:
            client.register_plugin(KillAtTask(marker, once))
            yield client
        finally:
            client.close()
            cluster.close()

# the scenario's layer tables for the files write_tiny_line writes
TINY_LAYERS = """[schools]
path = "schools.gpkg"
id = "sid"
seats = "seats"
[population]
path = "cells.gpkg"
id = "cid"
count = "kids"
[districts]
path = "districts.gpkg"
name = "name"
"""


def write_tiny_line(folder: Path, *, reverse: bool = False, parquet: bool = False) -> str:
    """Two schools 2 km apart on a line of five cells, in two districts; returns
    :data:`TINY_LAYERS` (``parquet``: the cells as GeoParquet, ``cells.parquet``, which a
    cluster run's client reads whole, where its workers read a GeoPackage by window).

    Cells a-e at x = 0, 500, 1000, 1500, 2000 m with 100, 100, 100, 100, 400 children (written
    e..a with ``reverse``); school A at x = 0 with 150 seats, B at x = 2000 with 300; West is
    x < 1100 (a, b, c), East the rest (d, e). EPSG:32650.
    """
    order = slice(None, None, -1 if reverse else 1)
    cells = gpd.GeoDataFrame({"cid": list("abcde")[order],
                              "kids": [100, 100, 100, 100, 400][order]},
                             geometry=[Point(x, 0) for x in (0, 500, 1000, 1500, 2000)][order],
                             crs=32650)
    schools = gpd.GeoDataFrame({"sid": ["A", "B"], "seats": [150, 300]},
                               geometry=[Point(0, 0), Point(2000, 0)], crs=32650)
    districts = gpd.GeoDataFrame({"name": ["West", "East"]},
                                 geometry=[box(-100, -100, 1100, 100),
                                           box(1100, -100, 2100, 100)], crs=32650)
    if parquet:
        cells.to_parquet(folder / "cells.parquet")
    else:
        cells.to_file(folder / "cells.gpkg")
    schools.to_file(folder / "schools.gpkg")
    districts.to_file(folder / "districts.gpkg")
    return TINY_LAYERS.replace('"cells.gpkg"', '"cells.parquet"') if parquet else TINY_LAYERS


def write_tiny_scenario(folder: Path, outputs: str = "", *, reverse: bool = False,
                        title: str | None = None, parquet: bool = False) -> Path:
    """:func:`write_tiny_line`'s layers and a scenario ``s.toml`` running them straight-line
    (threshold 600 m, ``max_cost`` 5 km) into ``out`` and ``map.html``, no report;
    ``outputs``: more lines of its ``[outputs]`` table (``csv = false`` ...); ``parquet``
    as :func:`write_tiny_line`'s."""
    layers = write_tiny_line(folder, reverse=reverse, parquet=parquet)
    head = f'title = "{title}"\n' if title is not None else "\n"
    p = folder / "s.toml"
    p.write_text(f"""{head}{layers}[analysis]
threshold = 600
max_cost = 5000
[outputs]
folder = "out"
map = "map.html"
report = false
{outputs}
""", encoding="utf-8")
    return p


def demo_scenario(folder: Path, extra: str = "", *, outputs: str = "",
                  district_keys: str = "", districts: Path | None = None) -> Path:
    """The demo scenario as ``folder/s.toml``: its data by absolute path, run into
    ``folder/out`` and ``folder/m.html``; ``outputs`` lines added to its ``[outputs]`` table,
    ``district_keys`` to its ``[districts]`` table, ``districts`` another districts file,
    ``extra`` tables appended (``[compute]`` ...)."""
    text = DEMO.read_text(encoding="utf-8").replace('"demo/', f'"{DEMO.parent}/demo/')
    if districts is not None:
        text = text.replace(f'"{DEMO.parent}/demo/districts.geojson"', f'"{districts}"')
    text = text.replace('name = "district"\n', f'name = "district"\n{district_keys}')
    text = text.replace('folder = "../out/demo"', f'folder = "{folder / "out"}"\n{outputs}')
    text = text.replace('map = "../maps/demo.html"', f'map = "{folder / "m.html"}"')
    path = folder / "s.toml"
    path.write_text(text + "\n" + extra, encoding="utf-8")
    return path


def run_cells(results, index: str | None = None):
    """The run's cells: ``Results.cells``, or for a cluster run whose cells stayed on the
    workers (``Results.cells`` None) the ``cells.parquet`` it wrote (a folder of parts), read
    back in the run's order (:func:`geoequity.io.parquet.in_written_order`) and indexed by
    its id column ``index`` (default: the ``cell`` or ``cid`` column the tests' layers
    have)."""
    import geopandas as gpd

    from geoequity.io.parquet import in_written_order

    if results.cells is not None:
        return results.cells
    [path] = [p for p in results.written if Path(p).name == "cells.parquet"]
    cells = in_written_order(gpd.read_parquet(path), path)
    if index is None:
        index = next(c for c in ("cell", "cid", "id") if c in cells.columns)
    return cells.set_index(index, drop=False).rename_axis(None)


def tiny_pieces(client, folder: Path):
    """The tiny line (:func:`write_tiny_scenario`) computed on ``client``'s cluster in its
    two partitions (West a-c, East d-e), its pairs and cells kept on the workers:
    ``(kept pairs, kept cells, cells, schools)``; release the cells, then the pairs."""
    from geoequity.distributed import ComputeOptions, kept_cells, run_on_cluster
    from geoequity.scenario import cost_source, load_scenario, read_inputs

    sc = load_scenario(write_tiny_scenario(folder))
    cells, schools, districts = read_inputs(sc)
    kept, _, _ = run_on_cluster(ComputeOptions(), client, cells, schools, districts,
                                cost_source(sc), district_paths=sc.districts, threshold=600,
                                max_cost=5000, method="2sfca", decay=None, decay_param=None)
    return kept, kept_cells(kept, cells, schools.index), cells, schools


def held_keys(client) -> list:
    """The geoequity tasks ``client`` still holds (none once a run is over). A run whose
    workers read the cells lets its pairs go (``Future.release``: what depends on them was
    let go first), which the client's event loop does a moment later: asked for up to
    5 s."""
    import time

    for _ in range(50):
        held = [key for key in client.futures if str(key).startswith("geoequity-")]
        if not held:
            break
        time.sleep(0.1)
    return held
