"""A cluster run's failures told apart, and the workers' files checked (issue #14).

1. An error a worker's task raises itself (a bug, an input error, a MemoryError) stops the run
   as the in-process run stops: the same exception (a GeoequityError's one line and exit
   status 2 on the command line), naming the partition in a note; only a lost worker, a lost
   scheduler or a cancelled future is "the run lost partition X".
2. No shared file system: a part of ``costs.parquet`` / ``cells.parquet`` or a county map a
   worker reports written but that the client's folder lacks (or holds with another size) is
   written by the client, and the outputs are those of a run whose workers share its disk.

The worker-side stand-ins (:class:`RaiseIn`, :class:`OwnDisk`) are worker plugins patching
the worker process' module at start-up: the tasks run the real code on a real LocalCluster.
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
from _cases import run_cells, tiny_pieces, write_tiny_line, write_tiny_scenario
from distributed import Client, KilledWorker, LocalCluster, WorkerPlugin
from shapely.geometry import LineString

import geoequity as ge
from geoequity.distributed import NO_DASHBOARD_PORT, ClusterError, _failure

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


class OwnDisk(WorkerPlugin):
    """On each worker: what a worker without the client's file system does, seen from the
    client. Of the parts it writes (:func:`geoequity.distributed._written`), the first
    (``part-00000``) lands on its own disk (gone from the client's folder) and the second
    (``part-00001``) meets another file at that path there (other bytes, another size); every
    county map it draws (:func:`geoequity.outputs._piece_maps`) lands on its own disk."""

    name = "geoequity-test-own-disk"

    def setup(self, worker) -> None:
        import geoequity.distributed as gd
        import geoequity.outputs as go

        written, piece_maps = gd._written, go._piece_maps

        def written_elsewhere(piece, path, *args, **kwargs):
            size = written(piece, path, *args, **kwargs)
            if path.endswith("part-00000.parquet"):
                os.unlink(path)
            elif path.endswith("part-00001.parquet"):
                Path(path).write_bytes(b"not this worker's part")
            return size

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
    return [key for key in c.futures if str(key).startswith("geoequity-")]


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
