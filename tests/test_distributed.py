"""A run on a dask.distributed cluster (geoequity.distributed) equals the in-process run.

The reference is the in-process run of the same scenario (an independent computation path:
one process, the whole street layer, no partitions or halos); the cluster run computes each
partition on a worker with its halo and merges. Per cell ``children, nearest_id,
nearest_cost, beyond, seats_within, access`` and per district ``children, seats,
seats_per_child, children_beyond, share_beyond, mean_nearest_cost`` must match: ids and
counts exactly, floats to 1e-9 relative. The halo distances are checked against hand values.
Bad input (unreachable scheduler, a lost worker, a partition column the districts lack, bad
worker counts) ends with one line, exit status 2, and leaves the output folder as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _cases import dying_cluster, run_cells

import geoequity as ge
from geoequity.costs import CostSource
from geoequity.distributed import NO_DASHBOARD_PORT, ClusterError, ComputeOptions, halo

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo.toml"
CELL_COLS = ["children", "nearest_id", "nearest_cost", "beyond", "seats_within", "access"]
DISTRICT_COLS = ["district", "children", "seats", "seats_per_child", "children_beyond",
                 "share_beyond", "mean_nearest_cost"]


def _scenario(folder: Path, name: str, extra: str = "", network: str | None = None) -> Path:
    """The demo scenario with its data paths made absolute, optional edits appended."""
    text = DEMO.read_text(encoding="utf-8").replace('"demo/', f'"{DEMO.parent}/demo/')
    if network is not None:
        start = text.index("[network]")
        end = text.index("[analysis]")
        text = text[:start] + network + "\n" + text[end:]
    text = text.replace('folder = "../out/demo"', f'folder = "{folder / name}"')
    text = text.replace('map = "../maps/demo.html"', f'map = "{folder / (name + ".html")}"')
    text = text.replace("report = true", "report = false")
    path = folder / f"{name}.toml"
    path.write_text(text + "\n" + extra, encoding="utf-8")
    return path


def _assert_same(a, b) -> None:
    wa, wb = run_cells(a), run_cells(b)   # a cluster run's: its cells.parquet
    ca, cb = wa[CELL_COLS], wb[CELL_COLS]
    pd.testing.assert_index_equal(ca.index, cb.index, exact=True)
    for col in ("nearest_id", "beyond"):
        pd.testing.assert_series_equal(ca[col], cb[col], check_exact=True)
    # the district of each cell: on a cluster computed once, for the partitions and analyse
    pd.testing.assert_series_equal(wa["district"], wb["district"], check_exact=True)
    for col in ("children", "nearest_cost", "seats_within", "access"):
        pd.testing.assert_series_equal(ca[col], cb[col], check_exact=False, rtol=1e-9,
                                       atol=0)
    da, db = a.district_table[DISTRICT_COLS], b.district_table[DISTRICT_COLS]
    pd.testing.assert_series_equal(da["district"], db["district"], check_exact=True)
    pd.testing.assert_frame_equal(da, db, check_exact=False, rtol=1e-9, atol=0)
    _assert_same_costs(a, b)
    # the global steps over all cells: the assignment on the merged table, Theil's parts
    pd.testing.assert_series_equal(wa["unassigned"], wb["unassigned"],
                                   check_exact=False, rtol=1e-9, atol=1e-9)
    pd.testing.assert_frame_equal(a.theil, b.theil, check_exact=False, rtol=1e-9, atol=1e-12)


def _written_costs(results) -> pd.DataFrame:
    """The run's costs.parquet (a file in process, a folder of one file per partition on a
    cluster), its rows sorted by origin and school (a cluster's come grouped by partition)."""
    [path] = [p for p in results.written if p.name == "costs.parquet"]
    table = pd.read_parquet(path)
    return table.sort_values(["origin", "destination"], kind="stable", ignore_index=True)


def _assert_same_costs(ref, got) -> None:
    """The cluster run wrote the in-process run's cost table: the same pairs and costs, the
    ids' dtypes and the table's method and unit; the cluster's results hold no cost table
    (its pairs stayed on the workers, which wrote them)."""
    assert ref.costs is not None and got.costs is None and got.pairs is None
    pd.testing.assert_frame_equal(_written_costs(ref), _written_costs(got), check_exact=False,
                                  rtol=1e-9, atol=0)   # the ids' dtypes included
    [folder] = [p for p in got.written if p.name == "costs.parquet"]
    parts = sorted(folder.iterdir())
    assert parts and all(p.name.startswith("part-") for p in parts)
    assert pd.read_parquet(parts[0]).attrs == {k: ref.costs.attrs[k] for k in ("method", "unit")}


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dist")
    path = _scenario(folder, "inproc")
    return folder, ge.run_scenario(path)


@pytest.mark.parametrize("partition", ["districts", 4000])
def test_demo_network_cluster_equals_in_process(client, demo_runs, partition):
    folder, ref = demo_runs
    path = _scenario(folder, f"cluster-{partition}")
    got = ge.run_scenario(path, client=client, partition=partition)
    assert run_cells(got)["nearest_id"].notna().sum() > 9000   # the demo's cells mostly reach one
    _assert_same(ref, got)


def test_straight_line_minutes_cluster_equals_in_process(client, tmp_path):
    """Straight lines in minutes with a detour factor and E2SFCA: the halo in metres comes
    from the line speed and the detour factor."""
    network = "[network]\neuclidean = true\ndetour_factor = 1.3\n"
    extra = ""
    path = _scenario(tmp_path, "line", extra, network=network)
    text = path.read_text(encoding="utf-8")
    text = text.replace("threshold = 1500", "threshold = 20").replace(
        "max_cost = 8000", "max_cost = 60").replace("assignment_max_cost = 3000",
                                                    "assignment_max_cost = 40")
    text = text.replace('method = "2sfca"', 'method = "e2sfca"\nunit = "min"')
    path.write_text(text, encoding="utf-8")
    ref = ge.run_scenario(path)
    got = ge.run_scenario(path, client=client, partition=3000, folder=tmp_path / "line2",
                          map_path=tmp_path / "line2.html")
    _assert_same(ref, got)


def test_halo_distances_by_hand():
    # metres along streets: cost >= straight line, so R(c) = c; streets add the snap limit
    net = CostSource(kind="network", network="x.gpkg", snap_limit=500.0)
    h = halo(net, threshold=1500.0, max_cost=8000.0)
    assert (h.cells, h.schools, h.streets) == (3000.0, 8000.0, 8500.0)
    # straight lines x 1.25 in minutes at 4.5 km/h: 20 min = 1500 m of walking = 1200 m
    line = CostSource(kind="euclidean", unit="min", detour_factor=1.25)
    h = halo(line, threshold=20.0, max_cost=40.0)
    assert h.cells == pytest.approx(2 * 1500.0 / 1.25)
    assert h.schools == pytest.approx(3000.0 / 1.25)
    assert h.streets == pytest.approx(3000.0 / 1.25)   # no streets: no snap limit
    # a brought table has no distance bound
    with pytest.raises(ge.InputError, match="partitioned run cannot bound"):
        halo(CostSource(kind="table", table="c.csv"), threshold=1.0, max_cost=4.0)


# ---------------------------------------------------------------------------- bad input
def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "geoequity", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or Path.cwd(), timeout=300)


def _one_line(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("geoequity: error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return errors[0]


def test_unreachable_scheduler_one_line(tmp_path):
    path = _scenario(tmp_path, "nosched")
    line = _one_line(_cli("run", path, "--scheduler", "tcp://127.0.0.1:9"))
    assert "tcp://127.0.0.1:9" in line and "cannot reach the dask scheduler" in line
    assert not (tmp_path / "nosched").exists()


def test_partition_column_missing_names_scenario_and_key(tmp_path):
    path = _scenario(tmp_path, "nokey", '[compute]\nworkers = 2\npartition = "county"\n')
    line = _one_line(_cli("run", path))
    assert str(path) in line and '[compute] partition = "county"' in line
    assert "no column 'county'" in line
    assert not (tmp_path / "nokey").exists()


@pytest.mark.parametrize(("args", "extra", "named"), [
    (["--workers", "0"], "", "--workers"),
    (["--workers", "-3"], "", "--workers"),
    ([], "[compute]\nworkers = 0\n", "[compute] workers"),
    ([], "[compute]\nworkers = 1.5\n", "[compute] workers"),
    ([], '[compute]\nscheduler = "tcp://h:1"\nworkers = 2\n', "[compute] workers"),
    ([], "[compute]\npartition = -5\n", "[compute] partition"),
])
def test_bad_compute_values(tmp_path, args, extra, named):
    path = _scenario(tmp_path, "bad", extra)
    line = _one_line(_cli("run", path, *args))
    assert named in line
    assert not (tmp_path / "bad").exists()


def test_bad_workers_in_python_names_the_argument():
    with pytest.raises(ge.InputError, match=r"workers: 0 is not a number"):
        ComputeOptions(workers=0)


def test_lost_worker_fails_and_keeps_previous_results(demo_runs, tmp_path):
    """Decision: no retry beyond dask's own (allowed-failures); when a partition's worker
    dies, the run stops with one line and the folder keeps the previous run's results."""
    folder, ref = demo_runs
    previous = tmp_path / "previous"
    shutil.copytree(folder / "inproc", previous, symlinks=True)
    before = json.loads((previous / "summary.json").read_text())["run_id"]
    listing = sorted(p.name for p in previous.iterdir())
    path = _scenario(tmp_path, "killed")
    with dying_cluster("geoequity-partition", 1) as c, pytest.raises(ClusterError) as err:
        ge.run_scenario(path, client=c, folder=previous, map_path=tmp_path / "killed.html")
    msg = str(err.value)
    assert "\n" not in msg and "lost partition" in msg and "previous results" in msg
    assert json.loads((previous / "summary.json").read_text())["run_id"] == before
    assert sorted(p.name for p in previous.iterdir()) == listing
    assert not (tmp_path / "killed.html").exists()


def test_porto_alegre_pbf_tiles_equal_in_process(client, shared_data, tmp_path):
    """Real data: Porto Alegre's OSM extract (read by box with pyrosm on the workers) and its
    1,227 hexagon centroids; children = 15 % of the residents, 300 seats per school counted
    in a hexagon (the file has no seats or children: our assumption)."""
    grid = pd.read_csv(shared_data / "porto_alegre" / "poa_hexgrid.csv")
    cells = grid[["id", "lon", "lat"]].assign(children=grid["population"] * 0.15)
    cells.to_csv(tmp_path / "cells.csv", index=False)
    has = grid[grid["schools"] > 0]
    pd.DataFrame({"school_id": "S" + has["id"].astype(str), "lon": has["lon"],
                  "lat": has["lat"], "seats": has["schools"] * 300.0}).to_csv(
        tmp_path / "schools.csv", index=False)
    path = tmp_path / "poa.toml"
    path.write_text(f"""title = "Porto Alegre"
[schools]
path = "schools.csv"
id = "school_id"
seats = "seats"
[population]
path = "cells.csv"
id = "id"
count = "children"
[network]
path = "{shared_data / 'porto_alegre' / 'poa_osm.pbf'}"
mode = "walk"
cache_dir = false
[analysis]
threshold = 1000
max_cost = 3000
[outputs]
folder = "out"
map = "map.html"
report = false
""", encoding="utf-8")
    ref = ge.run_scenario(path)
    got = ge.run_scenario(path, client=client, partition=6000, folder=tmp_path / "out2",
                          map_path=tmp_path / "map2.html")
    assert ref.cells["nearest_id"].notna().sum() > 1000
    c = list(CELL_COLS)
    pd.testing.assert_frame_equal(ref.cells[c].drop(columns="nearest_id"),
                                  run_cells(got)[c].drop(columns="nearest_id"), check_exact=False,
                                  rtol=1e-9, atol=0)
    pd.testing.assert_series_equal(ref.cells["nearest_id"], run_cells(got)["nearest_id"],
                                   check_exact=True)
    _assert_same_costs(ref, got)


# ---------------------------------------------------------------------------- figures, merge
def test_cluster_run_keeps_its_figures(client, tmp_path):
    """``Results.cluster``: the client's stages in order, every cell in exactly one
    partition, the partitions' pairs adding up to the merged cost table, each worker's CPU
    and peak; an in-process run has none."""
    network = "[network]\neuclidean = true\n"
    path = _scenario(tmp_path, "figures", network=network)
    got = ge.run_scenario(path, client=client)
    fig = got.cluster
    assert list(fig.stages) == ["read", "partition keys", "send", "wait", "merge",
                                "global steps", "write"]
    for st in fig.stages.values():
        assert st["wall"] >= 0 and st["cpu"] >= 0 and st["peak_mb"] > 0
    names = sorted(run_cells(got)["district"].unique())
    assert sorted(p["partition"] for p in fig.partitions) == names
    assert sum(p["cells"] for p in fig.partitions) == len(run_cells(got))
    assert sum(p["pairs"] for p in fig.partitions) == len(_written_costs(got))
    for p in fig.partitions:   # a partition's halo holds its own cells and more
        assert p["halo_cells"] >= p["cells"]
    assert set(fig.workers) == set(client.scheduler_info()["workers"])
    assert all(w["cpu_seconds"] > 0 and w["peak_mb"] > 0 for w in fig.workers.values())
    assert fig.client_peak_mb >= max(st["peak_mb"] for st in fig.stages.values())
    ref = ge.run_scenario(path, folder=tmp_path / "inproc", map_path=tmp_path / "i.html")
    assert ref.cluster is None


def _answer(origin, destination, cost):
    from geoequity.distributed import _Answer

    return _Answer(cells=np.unique(origin), nearest=np.zeros(0, np.int64), values={},
                   origin=np.asarray(origin, np.int32),
                   destination=np.asarray(destination, np.int32),
                   cost=np.asarray(cost, float), attrs={}, stats={})


def test_merge_places_interleaved_partitions_in_lexsort_order():
    """Two partitions whose cells interleave (cells 0, 2, 3 and 1, 4), each sorted by origin,
    cost, school: the merged table is np.lexsort's order of all pairs, and each partition's
    pieces are let go once placed."""
    from geoequity.distributed import _placed

    a = ([0, 0, 2, 3, 3, 3], [1, 0, 2, 0, 2, 1], [1.0, 2.0, 0.5, 3.0, 3.0, 4.0])
    b = ([1, 1, 4], [2, 0, 1], [0.0, 7.0, 1.0])
    oi = np.r_[a[0], b[0]]
    di = np.r_[a[1], b[1]]
    cost = np.r_[a[2], b[2]]
    order = np.lexsort((di, cost, oi))
    parts = [_answer(*b), _answer(*a)]   # arrival order is any order
    got = _placed(parts, np.bincount(oi, minlength=5))
    assert got[0].tolist() == oi[order].tolist()
    assert got[1].tolist() == di[order].tolist()
    assert got[2].tolist() == cost[order].tolist()
    assert parts == [None, None]


def test_loaded_sort_kernel_orders_small_and_empty_tables(monkeypatch):
    """Once a process has loaded the compiled sort (a cluster's workers do, before their
    partitions), tables below COMPILED_SORT_ROWS use it too: the same order as np.lexsort,
    and an empty table stays empty."""
    pytest.importorskip("numba")
    import geoequity._sort_kernel as kernel  # loads the kernel
    from geoequity.costs import COMPILED_SORT_ROWS, _sort_order

    calls = []   # the kernel itself ran (the stable passes give the same order)
    compiled = kernel.origin_cost_order
    monkeypatch.setattr(kernel, "origin_cost_order",
                        lambda *a: calls.append(len(a[0])) or compiled(*a))
    rng = np.random.default_rng(3)
    oi = rng.integers(0, 50, 400)
    di = rng.integers(0, 20, 400)
    cost = rng.integers(0, 4, 400).astype(float)
    assert 400 < COMPILED_SORT_ROWS
    assert (_sort_order(oi, cost, di) == np.lexsort((di, cost, oi))).all()
    assert calls == [400]
    assert len(_sort_order(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64))) == 0


def _workers_left(before: set) -> list:
    """Child processes started since ``before`` (pids) that are still running a spawned
    worker (multiprocessing's resource tracker stays for the process' life: not one)."""
    import psutil

    left = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.pid not in before and proc.status() != psutil.STATUS_ZOMBIE and \
                    "spawn_main" in " ".join(proc.cmdline()):
                left.append(proc.pid)
        except psutil.NoSuchProcess:
            pass
    return left


def test_local_cluster_started_while_reading_equals_in_process(tmp_path):
    """``run_scenario(workers=2)`` starts its LocalCluster (2 processes) in a thread while
    the client reads the inputs and cuts the partitions (geoequity.distributed.Starting):
    the same results as in process, a ``cluster start`` stage after the partition keys (what
    was left of the start then), and no worker process left once the run is back."""
    import psutil

    network = "[network]\neuclidean = true\n"
    path = _scenario(tmp_path, "started", network=network)
    ref = ge.run_scenario(path, folder=tmp_path / "inproc", map_path=tmp_path / "i.html")
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    got = ge.run_scenario(path, workers=2)
    _assert_same(ref, got)
    assert list(got.cluster.stages) == ["read", "partition keys", "cluster start", "send",
                                        "wait", "merge", "global steps", "write"]
    assert len(got.cluster.workers) == 2
    assert not _workers_left(before)


_CLOSING = """
import sys
from geoequity.distributed import Starting, ready

def say(log):
    import logging
    import logging.handlers

    print("worker-said-this", end="")   # a pipe: block-buffered, not flushed by print
    sys.stderr.write("worker-warned-this")
    # a log handler holding its records until flushed (at the interpreter's exit)
    held = logging.handlers.MemoryHandler(100, target=logging.FileHandler(log))
    logger = logging.getLogger("geoequity-test-closing")
    logger.addHandler(held)
    logger.warning("worker-logged-this")
    return 1

if __name__ == "__main__":
    s = Starting(1)
    c = ready(s)
    c.run(say, sys.argv[1])
    s.close()
    print("closed", flush=True)
"""


def test_closed_local_cluster_exits_at_once_with_its_output_flushed(tmp_path):
    """The workers of a cluster the run started end without the interpreter's teardown when
    it closes (geoequity.distributed._exit_at_once, an ``os._exit``): what a worker printed
    and did not flush (a pipe's buffer) still reaches the run's terminal, a log record a
    handler held is written (logging.shutdown first), and the run's process ends normally
    after the close."""
    script = tmp_path / "closing.py"
    script.write_text(_CLOSING, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}   # buffered
    log = tmp_path / "worker.log"
    done = subprocess.run([sys.executable, str(script), str(log)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "worker-said-this" in done.stdout
    assert "worker-warned-this" in done.stderr
    assert done.stdout.rstrip().endswith("closed")
    assert log.read_text(encoding="utf-8") == "worker-logged-this\n"


_HEAP = """
import os

from geoequity.distributed import Starting, ready

if __name__ == "__main__":
    s = Starting(1)
    c = ready(s)
    print(list(c.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_", "unset")).values())[0],
          os.environ.get("MALLOC_TRIM_THRESHOLD_", "unset"), flush=True)
    s.close()
"""


@pytest.mark.parametrize(("given", "expected"), [(None, "unset unset"),
                                                 ("131072", "131072 131072")])
def test_a_started_cluster_keeps_glibcs_heap_thresholds(tmp_path, given, expected):
    """The workers of a cluster the run starts run with glibc's own heap thresholds, as one
    process does: dask's nannies set MALLOC_TRIM_THRESHOLD_=65536 by default (in the
    workers, and in the starting process's environment), with which the workers took a
    third more CPU. A value the user's environment sets is the user's, and kept."""
    import dask

    assert dask.config.get("distributed.nanny.pre-spawn-environ")[
        "MALLOC_TRIM_THRESHOLD_"] == 65536   # dask's default, which this test is about
    script = tmp_path / "heap.py"
    script.write_text(_HEAP, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    if given is not None:
        env["MALLOC_TRIM_THRESHOLD_"] = given
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == expected


_UNANSWERED = """
import sys
import time

import geoequity.distributed as gd
from geoequity.distributed import Starting, ready

def blocked(marker):
    time.sleep(60)   # on the worker's event loop: it answers nothing meanwhile
    open(marker, "w").close()

if __name__ == "__main__":
    gd.EXIT_WAIT = 0.2
    gd._exit_at_once = lambda: blocked(sys.argv[1])   # what the close asks the workers
    s = Starting(1)
    c = ready(s)
    s.close()
    print("closed", s.client.status, s.cluster.status.name, flush=True)
    import os
    print("blocker ended" if os.path.exists(sys.argv[1]) else "blocker not ended", flush=True)
"""


def test_close_does_not_wait_for_a_worker_that_ignores_the_quick_exit(tmp_path):
    """A worker that does not answer the close's quick exit (its event loop held for 60 s)
    does not hold the close: the request is waited for EXIT_WAIT seconds at most (0.2 here),
    then the client and the cluster close (the nanny kills the worker) long before the
    blocker would have ended, and nothing reaches the terminal: no error of the request
    that found its worker killed, no kill warning."""
    script = tmp_path / "unanswered.py"
    script.write_text(_UNANSWERED, encoding="utf-8")
    marker = tmp_path / "blocker-ended"
    done = subprocess.run([sys.executable, str(script), str(marker)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["closed closed closed", "blocker not ended"]
    for noise in ("broadcast", "still alive", "CommClosed", "Traceback", "timed out"):
        assert noise not in done.stderr, done.stderr[-2000:]


def _thread_nice() -> int:
    import os
    import threading

    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def _yielding() -> int:
    from geoequity.distributed import _YIELD

    return _YIELD["nice"]


def _child_nice() -> int:
    """The nice value of a child process started by geoequity.distributed._spawn."""
    import subprocess

    from geoequity.distributed import _spawn

    child = _spawn([sys.executable, "-c", "import os; print(os.nice(0))"],
                   stdout=subprocess.PIPE, text=True)
    out, _ = child.communicate(timeout=60)
    return int(out)


def test_a_warm_up_never_stays_on_the_workers(client, monkeypatch):
    """Runs given one cluster each warm its workers up (run_on_cluster). With dask's
    fire-and-forget, a warm-up that reached a worker's memory before the scheduler read
    that it was fire-and-forget stayed there for good (it lets a key go only on the way
    into memory), and so did one whose key the next run asked for again while the last
    sat in memory: the next test's check that the workers hold nothing failed in CI. The
    warm-ups' futures are now held until their tasks end, and each has a key of its
    own."""
    import time

    from geoequity.distributed import warm_up

    kept, real = [], client.submit

    def submit(*args, **kwargs):   # each warm-up in memory before warm_up goes on (a task
        kept.append(real(*args, **kwargs))   # of milliseconds on a warm worker may get
        kept[-1].result()                    # there before the scheduler reads the next
        return kept[-1]                      # message), its future held as a slow client

    monkeypatch.setattr(client, "submit", submit)
    warm_up(client)
    warm_up(client)
    keys = [fut.key for fut in kept]
    assert len(keys) == 2 * len(client.scheduler_info()["workers"]) == len(set(keys))
    kept.clear()
    for _ in range(100):
        held = {w: k for w, k in client.has_what().items()
                if any(str(key).startswith("geoequity-warm-up") for key in k)}
        if not held:
            break
        time.sleep(0.1)
    assert not held


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own nice value")
def test_the_runs_own_cluster_gives_the_solve_the_cpu_first(client):
    """On a local cluster the run started (Starting: warm-up with ``own=True``) the steps
    over the pieces (every KeptCells task goes through ``_quietly``) run at nice
    ``YIELD_NICE``, and the exact solve's child, started from the spawner thread, at the
    worker's own priority, even when asked for from a lowered thread: the solve, the run's
    longest path, goes first. A cluster given to the run (the ``client`` fixture's, warmed
    up as run_on_cluster does) keeps its priorities."""
    from geoequity.distributed import YIELD_NICE, Starting, _quietly, ready, warm_up

    base = client.submit(_thread_nice, pure=False).result()
    starting = Starting(1)
    try:
        own = ready(starting)
        import time

        for _ in range(600):   # the warm-up (not waited for by Starting) has made way
            if list(own.run(_yielding).values()) == [YIELD_NICE]:
                break
            time.sleep(0.1)
        worker = own.submit(_thread_nice, pure=False).result()
        lowered = own.submit(_quietly, _thread_nice, pure=False).result()
        child = own.submit(_quietly, _child_nice, pure=False).result()
    finally:
        starting.close()
    assert lowered == max(worker, YIELD_NICE) == YIELD_NICE
    assert child == worker < YIELD_NICE
    warm_up(client)   # a cluster given to the run: nothing lowered
    assert client.submit(_quietly, _thread_nice, pure=False).result() == base < YIELD_NICE
    assert client.submit(_quietly, _child_nice, pure=False).result() == base


@pytest.fixture()
def port_8787_held():
    """Port 8787 (distributed's default HTTP port) in use, as another engineer's or CI job's
    cluster holds it: held here unless someone already does."""
    import socket

    s = socket.socket()
    try:
        s.bind(("", 8787))
        s.listen(1)
    except OSError:   # already in use: what the test needs
        pass
    yield
    s.close()


def test_local_clusters_leave_port_8787_alone(port_8787_held, client):
    """``dashboard_address=None`` alone still starts the scheduler's HTTP server on 8787, and
    with 8787 taken distributed warns "Port 8787 is already in use" (CI logs); the cluster a
    run starts (geoequity.distributed.Starting) and the tests' clusters take a free port of the
    loopback instead: no such warning, no port 8787."""
    import warnings

    from geoequity.distributed import Starting

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        starting = Starting(1)
        try:
            starting.get()
            server = starting.cluster.scheduler.http_server
            host, port = server.address, server.port
        finally:
            starting.close()
    assert [str(w.message) for w in seen if "already in use" in str(w.message)] == []
    assert host == "127.0.0.1" and port not in (0, 8787)
    assert client.cluster.scheduler.http_server.port != 8787   # the conftest fixture's


def test_local_cluster_closed_when_the_read_fails(tmp_path):
    """A run whose inputs are refused while its cluster starts stops with the input's one
    line, writes nothing, and closes the cluster it started (no worker process left)."""
    import psutil
    import rasterio

    network = "[network]\neuclidean = true\n"
    path = _scenario(tmp_path, "refused", network=network)
    src = DEMO.parent / "demo" / "residents.tif"
    with rasterio.open(src) as r:
        profile, data = r.profile, r.read()
    with rasterio.open(tmp_path / "zero.tif", "w", **profile) as w:
        w.write(data * 0)
    text = path.read_text(encoding="utf-8")
    assert f'"{src}"' in text
    path.write_text(text.replace(f'"{src}"', f'"{tmp_path / "zero.tif"}"'), encoding="utf-8")
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(ge.InputError, match="has no children"):
        ge.run_scenario(path, workers=2)
    assert not (tmp_path / "refused").exists()
    assert not _workers_left(before)


# ---------------------------------------------------------------------------- street groups
class _TwoWorkers:
    """A stand-in client for :func:`geoequity.distributed._place_streets`: it only asks for
    the workers' addresses."""

    @staticmethod
    def scheduler_info():
        return {"workers": {"tcp://b:2": {}, "tcp://a:1": {}}}


def test_street_groups_are_spatial_and_balanced():
    """Hand cases of ``_street_groups``: partitions along the longer side of their extent,
    split where the sizes on each side are nearest the groups' shares."""
    from geoequity.distributed import _street_groups

    row = np.array([[x, 0.0] for x in (0, 10, 20, 30, 40, 50)])   # six along x
    assert _street_groups(row, np.ones(6), 2) == [[0, 1, 2], [3, 4, 5]]
    # a large partition at the west end balances four small ones: 4 | 1+1+1+1
    assert _street_groups(row[:5], np.array([4.0, 1, 1, 1, 1]), 2) == [[0], [1, 2, 3, 4]]
    # the items in any order: the groups follow the places, not the positions
    shuffled = row[[3, 0, 5, 1, 4, 2]]
    assert _street_groups(shuffled, np.ones(6), 2) == [[1, 3, 5], [0, 2, 4]]
    # two columns four rows high (taller than wide): cut across y first, then x
    grid = np.array([[x, y] for y in (0, 10, 20, 30) for x in (0, 10)], dtype=float)
    assert _street_groups(grid, np.ones(8), 2) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert _street_groups(grid, np.ones(8), 4) == [[0, 2], [1, 3], [4, 6], [5, 7]]
    # three groups of six equal ones: 2 | 2 | 2; more groups than partitions: one each
    assert _street_groups(row, np.ones(6), 3) == [[0, 1], [2, 3], [4, 5]]
    assert _street_groups(row[:3], np.ones(3), 5) == [[0], [1], [2]]


def test_place_streets_gives_each_group_one_worker_and_its_box():
    """Four partitions in a row of 10 km boxes (UTM 32N), two workers: the west two to one
    worker, the east two to the other; each task's streets box is the WGS84 bounding box of
    its group's boxes grown by the street halo (computed here with pyproj), its own box its
    own; the largest first within a worker, the workers' turns interleaved."""
    from pyproj import Transformer

    from geoequity.distributed import Halo, _place_streets, _Task

    crs = "EPSG:32632"
    boxes = {c: (500_000.0 + 10_000 * c, 5_000_000.0, 510_000.0 + 10_000 * c, 5_010_000.0)
             for c in range(4)}
    sizes = {0: 30, 1: 50, 2: 40, 3: 10}
    cut = sorted(((sizes[c], c, boxes[c]) for c in range(4)), key=lambda t: (-t[0], t[1]))
    tasks = {c: _Task(name=f"P{c}", source=None, streets_box=None, network_crs=crs,
                      threshold=1.0, max_cost=1.0, method="2sfca", decay=None,
                      decay_param=None) for c in range(4)}
    order = _place_streets(_TwoWorkers(), cut, tasks, Halo(0.0, 0.0, 2_000.0), crs)
    to_wgs84 = Transformer.from_crs(crs, 4326, always_xy=True)

    def lonlat(box):
        return to_wgs84.transform_bounds(box[0] - 2_000, box[1] - 2_000, box[2] + 2_000,
                                         box[3] + 2_000, densify_pts=21)

    own = {c: lonlat(boxes[c]) for c in range(4)}
    west = (own[0][0], min(own[0][1], own[1][1]), own[1][2], max(own[0][3], own[1][3]))
    east = (own[2][0], min(own[2][1], own[3][1]), own[3][2], max(own[2][3], own[3][3]))
    for c, group, box, worker in ((0, 0, west, "tcp://a:1"), (1, 0, west, "tcp://a:1"),
                                  (2, 1, east, "tcp://b:2"), (3, 1, east, "tcp://b:2")):
        t = tasks[c]
        assert (t.group, t.worker) == (group, worker)
        assert t.streets_box == pytest.approx(box, abs=1e-9)
        assert t.own_box == pytest.approx(own[c], abs=1e-9)
    # worker a: 1 (50) then 0 (30); worker b: 2 (40) then 3 (10); turns a, b, a, b
    assert order == [1, 2, 0, 3]


def test_kept_streets_reused_and_dropped(monkeypatch):
    """In one process (as on a worker): the first partition of a group loads the group's
    streets and keeps them; a partition whose own box lies within them uses the same
    network, also one from another group; a partition of another worker's group reaching
    beyond them reads its own box and keeps nothing; dropping leaves none."""
    from dataclasses import replace

    import geoequity.distributed as dist
    from geoequity.network.sources import load_network

    streets = DEMO.parent / "demo" / "streets.gpkg"
    whole = load_network(streets, "walk", cache_dir=False)
    lon, lat = 119.79, 30.49

    def box(r, dx=0.0):
        return (lon + dx - r, lat - r, lon + dx + r, lat + r)

    task = dist._Task(name="P", source=CostSource(kind="network", network=str(streets)),
                      streets_box=box(0.03), network_crs=whole.crs, threshold=1.0,
                      max_cost=1.0, method="2sfca", decay=None, decay_param=None,
                      own_box=box(0.01), worker=None, group=0)
    monkeypatch.setattr(dist, "_KEPT_STREETS", {})
    first, loaded = dist._streets(task)
    again, reloaded = dist._streets(replace(task, name="Q", own_box=box(0.03)))
    assert (loaded, reloaded) == (1, 0) and again is first
    assert len(dist._KEPT_STREETS) == 1
    # a partition of a group sent to another worker, within the kept box: the same network
    inside = replace(task, name="R", streets_box=box(0.05, 0.02), own_box=box(0.01, 0.01),
                     worker="tcp://elsewhere:1", group=1)
    assert dist._streets(inside) == (first, 0)
    # ... and one reaching beyond it: its own box, the kept network stays
    beyond = replace(inside, own_box=box(0.01, 0.03))
    mine, loads = dist._streets(beyond)
    assert loads == 1 and mine is not first and mine.n_nodes < first.n_nodes < whole.n_nodes
    assert list(dist._KEPT_STREETS.values()) == [first]
    # the same partition on its group's worker loads its group's box and keeps it instead
    here, loads = dist._streets(replace(beyond, worker=None))
    assert loads == 1 and list(dist._KEPT_STREETS.values()) == [here]
    assert here.n_nodes > mine.n_nodes
    assert dist._drop_streets() == 1 and dist._KEPT_STREETS == {}


def test_kept_streets_serve_only_their_run_and_source(monkeypatch):
    """A kept network serves a partition only of its own run, file, mode and speeds: the
    same box under another run's token (a network a stopped run left on the worker), the
    bike mode or another walking speed loads again and keeps that one instead."""
    from dataclasses import replace

    import geoequity.distributed as dist

    streets = DEMO.parent / "demo" / "streets.gpkg"
    box = (119.76, 30.46, 119.82, 30.52)
    task = dist._Task(name="P", source=CostSource(kind="network", network=str(streets)),
                      streets_box=box, network_crs="EPSG:32650", threshold=1.0,
                      max_cost=1.0, method="2sfca", decay=None, decay_param=None,
                      own_box=box, worker=None, group=0, run="run1")
    monkeypatch.setattr(dist, "_KEPT_STREETS", {})
    first, loads = dist._streets(task)
    assert loads == 1 and dist._streets(task) == (first, 0)
    for other in (replace(task, run="run2"),
                  replace(task, source=replace(task.source, mode="bike")),
                  replace(task, source=replace(task.source, walk_speed=5.0))):
        net, loads = dist._streets(other)
        assert loads == 1 and net is not first
        assert list(dist._KEPT_STREETS.values()) == [net]
        first = net
    dist._drop_streets()


def _kept_streets_count() -> int:
    import geoequity.distributed as dist

    return len(dist._KEPT_STREETS)


def test_streets_loaded_once_per_worker_and_dropped(demo_runs, tmp_path):
    """The demo's six districts on two workers (dask's work stealing off, so no partition
    moves): two street groups, one per worker, each loaded once (the group's first
    partition) and used by the others; every partition of a group on the group's worker
    with the group's network; no network left on the workers after the run; the same
    results as in process."""
    import dask
    from distributed import Client, LocalCluster

    folder, ref = demo_runs
    path = _scenario(tmp_path, "groups")
    with dask.config.set({"distributed.scheduler.work-stealing": False}):
        cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                               dashboard_address=None, scheduler_kwargs=NO_DASHBOARD_PORT)
    c = Client(cluster)
    try:
        got = ge.run_scenario(path, client=c, partition="districts")
        held = c.run(_kept_streets_count)
        workers = set(c.scheduler_info()["workers"])
    finally:
        c.close()
        cluster.close()
    _assert_same(ref, got)
    parts = got.cluster.partitions
    assert len(parts) == 6 and sorted({p["group"] for p in parts}) == [0, 1]
    for g in (0, 1):
        mine = [p for p in parts if p["group"] == g]
        assert sum(p["network_loads"] for p in mine) == 1
        assert len({p["worker"] for p in mine}) == 1
        assert len({p["street_nodes"] for p in mine}) == 1
    assert {p["worker"] for p in parts} == workers   # one group each
    assert held == {w: 0 for w in workers}


def test_straight_line_partitions_start_largest_first():
    """Straight lines: the partitions are submitted with dask priorities in the order of
    their size (core cells x schools, plus halo cells), so the largest starts first even
    when they are submitted within dask's 60 ms fifo-timeout. By hand: A has 5 cells and
    one school (size 10), C 3 cells (6), B 1 cell (2), each 100 km from the others."""
    import geopandas as gpd
    from shapely.geometry import Point

    from geoequity.costs import CostSource
    from geoequity.distributed import Halo, _submit, _Task

    xs = {"A": [0, 10, 20, 30, 40], "B": [100_000], "C": [200_000, 200_010, 200_020]}
    cells = gpd.GeoDataFrame(
        {"children": 1.0, "key": [k for k, v in xs.items() for _ in v]},
        geometry=[Point(x, 0) for v in xs.values() for x in v], crs=32650)
    cells.index = [f"c{i}" for i in range(len(cells))]
    schools = gpd.GeoDataFrame({"seats": 10.0}, geometry=[Point(5, 0), Point(100_005, 0),
                                                          Point(200_005, 0)], crs=32650,
                               index=["sA", "sB", "sC"])
    submitted = {}

    class Recording:
        def submit(self, fn, task, *args, key, pure, **kwargs):
            submitted[task.name] = kwargs["priority"]

    task = _Task(name="", source=CostSource(kind="euclidean"), streets_box=None,
                 network_crs=None, threshold=50.0, max_cost=100.0, method="2sfca",
                 decay=None, decay_param=None)
    _submit(Recording(), cells, schools, cells["key"].to_numpy(), task.source,
            Halo(100.0, 100.0, 0.0), task)
    assert submitted == {"A": 3, "C": 2, "B": 1}


def test_stopped_run_cancels_its_partitions_before_dropping_the_streets(monkeypatch):
    """Ctrl-C while the partitions run on streets: the run cancels them first, then has
    the workers drop their streets, so that no partition still queued starts after the
    drop and leaves its network on a worker (a recording client: the calls' order)."""
    import geopandas as gpd
    from shapely.geometry import Point

    import geoequity.distributed as dist

    calls = []

    class Future:
        key = "k"

    class Recording:
        status = "running"

        def submit(self, fn, *args, key, pure):
            return Future()

        def cancel(self, futures):
            calls.append("cancel")

        def run(self, fn):
            calls.append(fn.__name__)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dist, "warm_up", lambda client: None)
    monkeypatch.setattr(dist, "_submit", lambda *args: {"P": Future()})
    monkeypatch.setattr(dist, "_gather", interrupted)
    cells = gpd.GeoDataFrame({"children": [1.0]}, geometry=[Point(0, 0)], crs=32650)
    schools = gpd.GeoDataFrame({"seats": [1.0]}, geometry=[Point(5, 0)], crs=32650)
    with pytest.raises(KeyboardInterrupt):
        dist.kept_costs(Recording(), cells, schools, ["P"],
                        CostSource(kind="network", network="streets.gpkg"),
                        threshold=10.0, max_cost=10.0)
    assert calls[:2] == ["cancel", "_drop_streets"]


def test_run_stopped_while_sending_cancels_what_it_sent(monkeypatch):
    """Ctrl-C during the submissions: the partitions already sent are cancelled at once
    (the caller never gets their futures to cancel), and a street run that stops there has
    the workers drop their streets all the same (recording clients: the calls)."""
    import geopandas as gpd
    from shapely.geometry import Point

    import geoequity.distributed as dist

    cells = gpd.GeoDataFrame({"children": 1.0, "key": ["A", "A", "B", "C"]},
                             geometry=[Point(0, 0), Point(10, 0), Point(100_000, 0),
                                       Point(200_000, 0)], crs=32650)
    schools = gpd.GeoDataFrame({"seats": [1.0]}, geometry=[Point(5, 0)], crs=32650)
    calls = []

    class Recording:
        status = "running"

        def submit(self, fn, *args, key, pure, **kwargs):
            if len(calls) == 1:
                raise KeyboardInterrupt
            calls.append(key)
            return key

        def cancel(self, futures):
            calls.append(("cancel", list(futures)))

        def run(self, fn):
            calls.append(fn.__name__)

    task = dist._Task(name="", source=CostSource(kind="euclidean"), streets_box=None,
                      network_crs=None, threshold=50.0, max_cost=100.0, method="2sfca",
                      decay=None, decay_param=None)
    with pytest.raises(KeyboardInterrupt):
        dist._submit(Recording(), cells, schools, cells["key"].to_numpy(), task.source,
                     dist.Halo(100.0, 100.0, 0.0), task)
    # A (2 cells x 1 school + 2) goes first; then the interrupt; A is cancelled
    assert len(calls) == 2 and calls[1] == ("cancel", [calls[0]])
    assert calls[0].startswith("geoequity-partition-") and calls[0].endswith("-0-A")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    calls.clear()
    monkeypatch.setattr(dist, "warm_up", lambda client: None)
    monkeypatch.setattr(dist, "_submit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        dist.kept_costs(Recording(), cells, schools, cells["key"].to_numpy(),
                        CostSource(kind="network", network="streets.gpkg"),
                        threshold=10.0, max_cost=10.0)
    assert "_drop_streets" in calls
