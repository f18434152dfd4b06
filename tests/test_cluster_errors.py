"""A cluster run's failures told apart, and the workers' files checked (issue #14).

1. An error a worker's task raises itself (a bug, an input error, a MemoryError) stops the run
   as the in-process run stops: the same exception (a GeoequityError's one line and exit
   status 2 on the command line), naming the partition in a note; only a lost worker, a lost
   scheduler or a cancelled future is "the run lost partition X". The same for the exact
   assignment's solve on a worker: its own error stops the run; only the cluster losing it
   has the client solve in process.
2. No shared file system: a part of ``costs.parquet`` / ``cells.parquet`` or a county map a
   worker reports written but that the client's folder lacks (or holds as another file: the
   workers report each part's size and modification time, a map's size) is written by the
   client, and the outputs are those of a run whose workers share its disk.

The worker-side stand-ins (:class:`RaiseIn`, :class:`SolveRaises`, :class:`OwnDisk`) are
worker plugins patching the worker process' module at start-up: the tasks run the real code
on a real LocalCluster.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import pandas as pd
import pytest
from _cases import held_keys, run_cells, tiny_pieces, write_tiny_line, write_tiny_scenario
from distributed import Client, KilledWorker, LocalCluster, WorkerPlugin
from shapely.geometry import LineString

import geoequity as ge
from geoequity.distributed import (
    NO_DASHBOARD_PORT,
    ClusterError,
    _failure,
    seen_as_written,
    written_stamp,
)

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ worker-side stand-ins
class RaiseIn(WorkerPlugin):
    """On each worker: partition ``name``'s task raises ``error`` (its own code, the way a
    bug in :func:`geoequity.distributed._partition` would)."""

    name = "geoequity-test-raise-in"

    def __init__(self, partition: str, error: BaseException) -> None:
        self.partition, self.error = partition, error

    def setup(self, worker) -> None:
        import geoequity.distributed as gd

        real, partition, error = gd._partition, self.partition, self.error

        def failing(task, cells, schools):
            if task.name == partition:
                raise error
            return real(task, cells, schools)

        gd._partition = failing


class SolveRaises(WorkerPlugin):
    """On each worker: the exact assignment's solve raises ``error`` (its own code, the way a
    bug in :func:`geoequity.distributed._solve_pieces`, or :func:`_solve_cells` where the
    workers read the cells, would; the client sends those functions by name, so the
    worker runs these)."""

    name = "geoequity-test-solve-raises"

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def setup(self, worker) -> None:
        import geoequity.distributed as gd

        error = self.error

        def failing(pieces, problem):
            raise error

        gd._solve_pieces = gd._solve_cells = failing


class OwnDisk(WorkerPlugin):
    """On each worker: what a worker without the client's file system does, seen from the
    client. Of the parts it writes (:func:`geoequity.distributed._written`), the first
    (``part-00000``) lands on its own disk (gone from the client's folder) and the second
    (``part-00001``) meets another file at that path there (other bytes of the same size,
    written a second earlier: only the time tells it from the worker's); every
    county map it draws (:func:`geoequity.outputs._piece_maps`) lands on its own disk."""

    name = "geoequity-test-own-disk"

    def setup(self, worker) -> None:
        import geoequity.distributed as gd
        import geoequity.outputs as go

        written, piece_maps = gd._written, go._piece_maps

        def written_elsewhere(piece, path, *args, **kwargs):
            stamp = written(piece, path, *args, **kwargs)
            if path.endswith("part-00000.parquet"):
                os.unlink(path)
            elif path.endswith("part-00001.parquet"):
                size, mtime_ns = stamp
                Path(path).write_bytes(b"x" * size)
                os.utime(path, ns=(mtime_ns - 10**9, mtime_ns - 10**9))
            return stamp

        def maps_elsewhere(piece, layers, plan, stage):
            sizes = piece_maps(piece, layers, plan, stage)
            for group in sizes:
                os.unlink(Path(stage) / plan.names[group])
            return sizes

        gd._written, go._piece_maps = written_elsewhere, maps_elsewhere


@contextmanager
def cluster(plugin: WorkerPlugin | None = None, n_workers: int = 1):
    """A client of a fresh local cluster (its workers patched by ``plugin``: the module's
    ``client`` fixture stays as it is)."""
    lc = LocalCluster(n_workers=n_workers, processes=True, threads_per_worker=1,
                      dashboard_address=None, scheduler_kwargs=NO_DASHBOARD_PORT)
    c = Client(lc)
    try:
        if plugin is not None:
            c.register_plugin(plugin)
        yield c
    finally:
        c.close()
        lc.close()


def _ours(c) -> list:
    """The run's tasks the client still holds (none once a run stopped)."""
    return held_keys(c)


# ------------------------------------------------------------------ 1. the task's own error
@pytest.mark.parametrize("status, error, lost", [
    ("error", ValueError("bad value"), False),          # the task's own
    ("error", MemoryError("no room"), False),
    ("error", FileNotFoundError(2, "No such file"), False),
    ("error", KilledWorker("k", SimpleNamespace(address="tcp://w:1"), 0), True),
    ("cancelled", ValueError("cancelled meanwhile"), True),
    ("lost", OSError("connection"), True),
    ("finished", OSError("Stream is closed"), True),   # the result lost on its way
])
def test_what_counts_as_a_lost_partition(status, error, lost):
    """dask's own word: a future in ``"error"`` holds the task's exception, except
    KilledWorker (dask gave up after the workers died); any other status is the cluster's."""
    from distributed.comm.core import CommClosedError

    got = _failure("D03", SimpleNamespace(status=status), error)
    if lost:
        assert isinstance(got, ClusterError)
        assert str(got).startswith(f"cluster: the run lost partition 'D03' "
                                   f"({type(error).__name__}: ")
    else:
        assert got is error and error.__notes__ == [
            "(raised on a dask worker, computing partition 'D03')"]
    assert isinstance(_failure("D03", SimpleNamespace(status="pending"),
                               CommClosedError("in: Stream is closed")), ClusterError)


def test_a_geoequity_error_is_itself_and_noted_once():
    """An input error raised on a worker keeps its one line (the note is not part of it);
    dask raises the same object again on each ``result()``: one note."""
    err = ge.InputError("streets.gpkg: has no CRS; add one")
    fut = SimpleNamespace(status="error")
    assert _failure("East", fut, err) is err and _failure("East", fut, err) is err
    assert str(err) == "streets.gpkg: has no CRS; add one"
    noted = ValueError("x")
    _failure("East", fut, noted)
    _failure("East", fut, noted)
    assert noted.__notes__ == ["(raised on a dask worker, computing partition 'East')"]


def test_a_piece_step_raising_valueerror_is_that_valueerror(client, tmp_path):
    """A step over the kept cells whose code raises on one piece (East: cells d, e): the
    ValueError itself, naming the piece's partition, nothing of the run left on the cluster;
    the same for a step combining two pieces' results on one worker."""
    kept, pieces, _, _ = tiny_pieces(client, tmp_path)

    def fail_in_east(piece):
        if "d" in piece.index:
            raise ValueError("a bug in a step")
        return len(piece)

    def fail_together(a, b):
        raise ValueError(f"no pair of {a} and {b}")

    try:
        assert pieces.summaries(len, what="count") == [2, 3]   # East d-e, West a-c
        with pytest.raises(ValueError, match="^a bug in a step") as err:
            pieces.summaries(fail_in_east, what="fails")
        assert err.value.args == ("a bug in a step",)
        assert err.value.__notes__ == ["(raised on a dask worker, computing partition 'East')"]
        counts = pieces.each(len, what="count")
        with pytest.raises(ValueError, match="^no pair of 2 and 3") as err:
            pieces.pairwise(fail_together, counts, [(0, 1)], what="together")
        assert err.value.__notes__ == [
            "(raised on a dask worker, computing partition 'East x West')"]
        pieces.drop(counts)
    finally:
        pieces.release()
        kept.release()
    assert _ours(client) == []


def test_a_partition_raising_valueerror_stops_the_run_with_it(tmp_path):
    """A partition's own code raises (a bug, here put in by :class:`RaiseIn`): the run stops
    with that ValueError, not a lost partition; the other partitions' tasks are cancelled and
    the previous results stay as they were."""
    path = write_tiny_scenario(tmp_path)
    first = ge.run_scenario(path)   # in process: the previous results
    assert first.schools["children_within"].to_dict() == {"A": 200.0, "B": 500.0}
    before = (tmp_path / "out" / "schools.csv").read_bytes()
    with cluster(RaiseIn("East", ValueError("index 7 is out of bounds"))) as c:
        with pytest.raises(ValueError, match="^index 7 is out of bounds") as err:
            ge.run_scenario(path, client=c)
        assert err.value.args == ("index 7 is out of bounds",)
        assert not isinstance(err.value, ClusterError)
        assert err.value.__notes__ == ["(raised on a dask worker, computing partition 'East')"]
        assert _ours(c) == []
    assert (tmp_path / "out" / "schools.csv").read_bytes() == before


@pytest.mark.parametrize("error", [ValueError("index 7 is out of bounds"),
                                   ge.InputError("cells.gpkg: bad seats; fix them")])
def test_the_solves_own_error_stops_the_run_with_it(tmp_path, capsys, error):
    """The exact assignment's solve on a worker raises itself (a bug, an input error): the
    run stops with that error (a bug noted with the solve, an input error as it is: its one
    line), not solved again in this process; nothing of the run left on the cluster."""
    path = write_tiny_scenario(tmp_path)
    with cluster(SolveRaises(error)) as c:
        with pytest.raises(type(error)) as err:
            ge.run_scenario(path, client=c)
        assert _ours(c) == []
    assert err.value.args == error.args and not isinstance(err.value, ClusterError)
    assert getattr(err.value, "__notes__", None) == (
        None if isinstance(error, ge.InputError)
        else ["(raised on a dask worker, computing the capacity assignment's solve)"])
    assert "gave no answer" not in capsys.readouterr().err


def test_a_solve_the_cluster_lost_is_done_in_process(tmp_path, capsys):
    """dask gives up on the solve (KilledWorker: the cluster's loss, not the solve's own
    error; here raised by :class:`SolveRaises`, as dask raises it after the workers died):
    one line says so and the client solves the gathered pairs itself, with the hand result
    of the tiny line (tests/test_kept_pairs.py: a 100, b 50, e 300 of 450 seated)."""
    died = KilledWorker("geoequity-assignment-solve",
                        SimpleNamespace(address="tcp://127.0.0.1:1"), 0)
    path = write_tiny_scenario(tmp_path)
    with cluster(SolveRaises(died)) as c:
        got = ge.run_scenario(path, client=c)
        assert _ours(c) == []
    assert run_cells(got)["assigned"].to_dict() == {"a": 100.0, "b": 50.0, "c": 0.0,
                                                     "d": 0.0, "e": 300.0}
    assert got.schools["assigned"].to_dict() == {"A": 150.0, "B": 300.0}
    assert ("capacity assignment: the solve on a worker gave no answer (KilledWorker: "
            in capsys.readouterr().err)


def _no_crs_streets(folder: Path, compute: str) -> Path:
    """The tiny line (:func:`write_tiny_line`) on a street layer without a CRS: the workers
    read the streets by box (the client never reads them), so a worker refuses it."""
    layers = write_tiny_line(folder)
    streets = gpd.GeoDataFrame({"highway": ["residential"]},
                               geometry=[LineString([(-50, 0), (2050, 0)])])
    with pytest.warns(UserWarning, match="crs"):
        streets.to_file(folder / "streets.gpkg")
    path = folder / "s.toml"
    path.write_text(f"""{layers}[network]
path = "streets.gpkg"
[analysis]
threshold = 600
max_cost = 5000
[outputs]
folder = "out"
report = false
{compute}""", encoding="utf-8")
    return path


def test_an_input_error_on_a_worker_is_one_line_exit_2(tmp_path):
    """``geoequity run`` on a local cluster whose worker refuses the street layer (no CRS):
    the refusal's one line, exit status 2, no traceback (the worker's own log of it held
    back), not a lost partition; nothing written."""
    path = _no_crs_streets(tmp_path, "[compute]\nworkers = 1\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "geoequity", "-q", "run", str(path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    line = done.stderr
    assert line.startswith("geoequity: error: ")
    assert "has no coordinate reference system (CRS)" in line
    assert "lost partition" not in line and "Traceback" not in line
    assert not (tmp_path / "out").exists()


def test_a_street_layer_refused_on_workers_names_the_file_as_in_process(tmp_path):
    """The street layer without a CRS, refused in process (read whole) and on two workers
    (read by box): the same one line naming the file (not ``layer:``), exit status 2 both
    times, nothing else on stderr (no worker's log of a task cancelled as the run stops)."""
    path = _no_crs_streets(tmp_path, "")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    lines = []
    for extra in ([], ["--workers", "2"]):
        done = subprocess.run([sys.executable, "-m", "geoequity", "-q", "run", str(path),
                               *extra], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
        lines.append(done.stderr)
    streets = tmp_path / "streets.gpkg"
    assert lines[0] == lines[1]
    assert lines[0].startswith(f"geoequity: error: {streets}: has no coordinate reference "
                               "system (CRS); declare one")
    assert not (tmp_path / "out").exists()


def test_an_input_error_on_a_worker_through_the_api(client, tmp_path):
    """The same refusal through the API on a given client: the InputError itself."""
    path = _no_crs_streets(tmp_path, "")
    with pytest.raises(ge.InputError, match="has no coordinate reference system") as err:
        ge.run_scenario(path, client=client)
    assert not isinstance(err.value, ClusterError)
    assert _ours(client) == []


# ------------------------------------------------------------------ 2. no shared file system
def _masked(text: str) -> str:
    """A map page without the element ids folium draws at random."""
    return re.sub(r"_[0-9a-f]{32}", "_ID", text)


def _tables(folder: Path) -> dict:
    return {"costs": pd.read_parquet(folder / "out" / "costs.parquet")
            .sort_values(["origin", "destination"]).reset_index(drop=True)}


def test_a_file_of_the_same_size_is_not_the_part_written(tmp_path):
    """What a worker reports of a part it wrote is its size and modification time: another
    file at that path on the client's disk, with other bytes of the same size written at
    another time, is not taken for the part (a size alone would be)."""
    part = tmp_path / "part-00000.parquet"
    part.write_bytes(b"the worker's part")   # 17 bytes
    stamp = written_stamp(part)
    assert stamp == (17, os.stat(part).st_mtime_ns)
    assert seen_as_written(part, stamp)
    part.write_bytes(b"another file here")   # 17 bytes, a second earlier
    os.utime(part, ns=(stamp[1] - 10**9, stamp[1] - 10**9))
    assert os.stat(part).st_size == 17 and not seen_as_written(part, stamp)
    assert not seen_as_written(tmp_path / "part-00001.parquet", stamp)   # not here at all
    # a bare size (what the county maps report) compares the size only
    assert seen_as_written(part, 17) and not seen_as_written(part, 16)


def test_parts_and_maps_not_in_the_clients_folder_are_written_by_the_client(
        client, tmp_path, capsys):
    """Workers that write to their own disk (:class:`OwnDisk`: one part of each folder gone,
    the other replaced by other bytes; every county map gone): the client writes those parts
    and draws those maps, saying so, and the outputs are those of a run whose workers share
    its disk (the ``client`` fixture's)."""
    extra = 'maps_by = "districts"'
    shared, own = tmp_path / "shared", tmp_path / "own"
    shared.mkdir()
    own.mkdir()
    want = ge.run_scenario(write_tiny_scenario(shared, extra), client=client)
    capsys.readouterr()
    with cluster(OwnDisk(), n_workers=2) as c:
        got = ge.run_scenario(write_tiny_scenario(own, extra), client=c)
        assert _ours(c) == []
    err = capsys.readouterr().err.splitlines()
    for name in ("costs.parquet", "cells.parquet"):
        folder = own / "out" / name
        said = [line for line in err if line.startswith(f"  {name}: ")]
        assert len(said) == 1 and re.fullmatch(   # the path of the run's staging folder
            rf"  {name}: 2 of 2 part\(s\) the workers wrote are not in {own / 'out'}/\S+/"
            rf"{name} as written \(no shared file system\?\); the client writes them",
            said[0]), said
        assert sorted(p.name for p in folder.iterdir()) == ["part-00000.parquet",
                                                            "part-00001.parquet"]
    assert any(re.fullmatch(r"  2 of 2 map\(s\) the workers drew are not in .*\.maps as "
                            r"drawn \(no shared file system\?\); drawn here", line)
               for line in err), err
    # the same tables as the shared disk's run, and the hand figures of the tiny line
    pd.testing.assert_frame_equal(_tables(own)["costs"], _tables(shared)["costs"])
    assert len(_tables(own)["costs"]) == 10   # 5 cells x 2 schools within 5 km
    cells_own, cells_shared = run_cells(got), run_cells(want)
    pd.testing.assert_frame_equal(cells_own, cells_shared)
    assert sorted(cells_own.index) == list("abcde")
    assert got.schools["children_within"].to_dict() == {"A": 200.0, "B": 500.0}
    maps_own = sorted((own / "map").glob("*.html"))
    maps_shared = sorted((shared / "map").glob("*.html"))
    assert [p.name for p in maps_own] == [p.name for p in maps_shared] == [
        "East.html", "West.html"]
    for a, b in zip(maps_own, maps_shared, strict=True):
        assert _masked(a.read_text(encoding="utf-8")) == _masked(b.read_text(encoding="utf-8"))


class SlowMaps(WorkerPlugin):
    """On each worker: every county map (:func:`geoequity.outputs._piece_maps`) is drawn a
    second and a half late, so the client's own tables are written (or fail) meanwhile."""

    name = "geoequity-test-slow-maps"

    def setup(self, worker) -> None:
        import time

        import geoequity.outputs as go

        piece_maps = go._piece_maps

        def late(piece, layers, plan, stage):
            time.sleep(1.5)
            return piece_maps(piece, layers, plan, stage)

        go._piece_maps = late


def test_a_table_failing_while_the_workers_draw_the_maps_leaves_nothing(
        tmp_path, monkeypatch):
    """The county maps are drawn on the workers while the client writes its tables
    (``outputs._start_map``). A table that fails meanwhile stops the run with its error; the
    run waits for the maps being drawn before it removes their stage, so no staged map or
    stage folder is left beside the map (a worker writing after the removal would make the
    folder again), nothing is written, and the run holds no task."""
    import geoequity.outputs as go

    real = go.write_table

    def full_disk(frame, path, *args, **kwargs):
        if Path(path).name == "equity.csv":
            raise OSError(28, "No space left on device", str(path))
        return real(frame, path, *args, **kwargs)

    monkeypatch.setattr(go, "write_table", full_disk)
    path = write_tiny_scenario(tmp_path, 'maps_by = "districts"')
    with cluster(SlowMaps(), n_workers=2) as c:
        with pytest.raises(OSError, match="No space left on device"):
            ge.run_scenario(path, client=c)
        assert _ours(c) == []
    import time

    time.sleep(2.0)   # a map task the run had not waited for would have ended by now
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert not (tmp_path / "map.html").exists() and not (tmp_path / "map").exists()
    assert not (tmp_path / "out").exists() or not [
        p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]


def _files(folder: Path) -> dict:
    """Every file under ``folder`` and its bytes, but the lock's (it names the last holder)."""
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and p.name != "lock"}


class SlowCosts(WorkerPlugin):
    """On each worker: every part of ``costs.parquet`` (:func:`geoequity.distributed.
    _write_piece`) is written three seconds late."""

    name = "geoequity-test-slow-costs"

    def setup(self, worker) -> None:
        import time

        import geoequity.distributed as gd

        write_piece = gd._write_piece

        def late(*args, **kwargs):
            time.sleep(3.0)
            return write_piece(*args, **kwargs)

        gd._write_piece = late


def test_a_step_failing_while_the_workers_write_the_costs_leaves_the_previous_run(
        tmp_path, monkeypatch):
    """The workers write ``costs.parquet`` into the run's stage while the global steps go on
    (``outputs.begin_outputs``). A step that fails meanwhile stops the run with its error;
    the run waits for the parts being written before it removes the stage, so the folder
    holds the previous run's files as they were and no other run folder, even once a part
    the run had not waited for would have been written."""
    import geoequity.piecewise as gp

    path = write_tiny_scenario(tmp_path)
    out = tmp_path / "out"
    with cluster(SlowCosts(), n_workers=2) as c:
        ge.run_scenario(path, client=c)
        before = _files(out)
        runs = sorted(p.name for p in (out / ".geoequity" / "runs").iterdir())
        assert len(runs) == 1

        def broken(*args, **kwargs):
            raise RuntimeError("a bug in a step")

        monkeypatch.setattr(gp, "analyse_piecewise", broken)   # the steps, at once
        with pytest.raises(RuntimeError, match="a bug in a step"):
            ge.run_scenario(path, client=c)
        assert _ours(c) == []
    import time

    time.sleep(4.0)   # a part the run had not waited for would have been written by now
    assert _files(out) == before
    assert sorted(p.name for p in (out / ".geoequity" / "runs").iterdir()) == runs


def test_a_part_or_map_whose_folder_is_gone_writes_nothing(tmp_path):
    """A part (``distributed._written``) or a county map (``outputs._piece_maps``) whose
    folder is not there (a run that left early removed it; a worker without the client's
    file system) writes nothing and makes no folder: the part reports a stamp the client
    never sees as written, the maps none drawn."""
    from geoequity.distributed import _written, seen_as_written
    from geoequity.outputs import _piece_maps

    calls = []

    def write(piece, path):
        calls.append(path)
        Path(path).write_text("part", encoding="utf-8")

    gone = tmp_path / "run" / "costs.parquet"
    stamp = _written("piece", str(gone / "part-00000.parquet"), write=write)
    assert stamp == (-1, -1) and calls == []
    assert not seen_as_written(gone / "part-00000.parquet", stamp)
    assert not (tmp_path / "run").exists()
    assert _piece_maps(None, {}, None, str(tmp_path / "maps-stage")) == {}
    assert list(tmp_path.iterdir()) == []
    here = tmp_path / "here"
    here.mkdir()
    stamp = _written("piece", str(here / "part-00000.parquet"), write=write)
    assert calls == [str(here / "part-00000.parquet")]
    assert seen_as_written(here / "part-00000.parquet", stamp) and stamp[0] == 4
