"""A cluster run keeps its cost pairs on the workers (geoequity.distributed.KeptPairs).

The tiny line of tests/_cases.py by hand (straight lines, threshold 600 m, max_cost 5 km):
cells a-e at x = 0, 500, 1000, 1500, 2000 m with 100, 100, 100, 100, 400 children; school A
at x = 0 with 150 seats, B at x = 2000 with 300; districts West (a, b, c) and East (d, e),
the two partitions.

- Exact assignment (seat as many as possible, then least travel): B takes 300 of e's
  children at 0 m, A takes a's 100 at 0 m and 50 of b's at 500 m: 450 seated, 25,000
  child-metres; a 100, b 50, c 0, d 0, e 300 assigned.
- Children within 600 m: A reaches a and b (200), B reaches d and e (500); seats per child
  150 / 200 = 0.75 and 300 / 500 = 0.6.
- Every pair is within 5 km: 5 cells x 2 schools = 10 pairs, East's 4 and West's 6.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from _cases import (
    StopRun,
    dying_cluster,
    held_keys,
    run_cells,
    write_tiny_line,
    write_tiny_scenario,
)

import geoequity as ge

ASSIGNED = {"a": 100.0, "b": 50.0, "c": 0.0, "d": 0.0, "e": 300.0}


def _costs(folder) -> pd.DataFrame:
    table = pd.read_parquet(folder / "costs.parquet")
    return table.sort_values(["origin", "destination"], ignore_index=True)


def _stops_holding_nothing(client, path, monkeypatch, target, name, replacement) -> None:
    """Run ``path`` on ``client`` with ``target.name`` replaced (raising :class:`StopRun`):
    the run stops, its error (and frames) kept as a notebook keeps the last one, and the
    client holds none of the run's tasks."""
    with monkeypatch.context() as m:
        m.setattr(target, name, replacement)
        with pytest.raises(StopRun) as kept_error:
            ge.run_scenario(path, client=client)
    assert kept_error.traceback   # the failed run's frames, held
    assert not held_keys(client)


@pytest.mark.parametrize("read_by", ["workers", "client"])
def test_cluster_run_by_hand(client, tmp_path, read_by):
    """The exact assignment solved on a worker from the pieces, the schools' supply ratios
    from the partitions' sums and the costs written by the workers: the hand figures;
    whether the workers read the cells (a GeoPackage, by window) or the client did
    (GeoParquet, read whole)."""
    path = write_tiny_scenario(tmp_path, parquet=read_by == "client")
    got = ge.run_scenario(path, client=client)
    assert got.costs is None and got.pairs is None and got.kept is None   # released
    assert not held_keys(client)
    cells = run_cells(got)
    assert cells["assigned"].to_dict() == ASSIGNED
    assert cells["unassigned"].sum() == 350.0
    sch = got.schools
    assert sch["assigned"].to_dict() == {"A": 150.0, "B": 300.0}
    assert sch["children_within"].to_dict() == {"A": 200.0, "B": 500.0}
    assert sch["supply_ratio"].to_dict() == {"A": 0.75, "B": 0.6}
    assert got.summary["assignment_cost"] == 25_000.0
    assert got.summary["assignment_pairs"] == 10
    assert got.solve["where"] == "worker"
    # costs.parquet: a folder of one file per partition, in the order of their keys
    out = tmp_path / "out" / "costs.parquet"
    parts = sorted(p.name for p in out.iterdir())
    assert parts == ["part-00000.parquet", "part-00001.parquet"]
    east, west = (pd.read_parquet(out / p) for p in parts)
    assert sorted(east["origin"].unique()) == ["d", "e"] and len(east) == 4
    assert sorted(west["origin"].unique()) == ["a", "b", "c"] and len(west) == 6
    table = _costs(tmp_path / "out")
    x = {"a": 0, "b": 500, "c": 1000, "d": 1500, "e": 2000}
    want = [abs(x[o] - (0 if d == "A" else 2000)) for o, d in
            zip(table["origin"], table["destination"], strict=True)]
    assert table["cost"].tolist() == pytest.approx(want, abs=1e-9)
    # the folder is a cost table a later run brings ([network] costs), and a table to read
    again = path.with_name("again.toml")
    again.write_text(path.read_text(encoding="utf-8").replace(
        "[analysis]", '[network]\ncosts = "out/costs.parquet"\n[analysis]'), encoding="utf-8")
    brought = ge.run_scenario(again, folder=tmp_path / "again", map_path=tmp_path / "a.html")
    assert run_cells(brought)["assigned"].to_dict() == ASSIGNED
    from geoequity.io.tables import read_attributes

    assert len(read_attributes(out)) == 10
    # the results written again after the run: every table but the released pairs and
    # cells (the run's own folder has them)
    from geoequity.outputs import write_outputs

    names = {p.name for p in write_outputs(got, {"folder": str(tmp_path / "rewritten"),
                                                 "report": False, "map": str(
                                                     tmp_path / "again.html")},
                                           title="again")}
    assert {"costs.parquet", "cells.parquet", "again.html"}.isdisjoint(names)
    assert {"schools.csv", "districts.csv", "equity.csv"} <= names


def test_cluster_run_the_same_as_in_process(client, tmp_path):
    """Every table but the costs' row order is the in-process run's; the decomposed
    assignment (which gathers the pairs to the client) too."""
    for mode in ("exact", "decomposed"):
        folder = tmp_path / mode
        folder.mkdir()
        path = write_tiny_scenario(folder)
        here = ge.run_scenario(path, assignment_mode=mode, folder=folder / "here",
                               map_path=folder / "here.html")
        there = ge.run_scenario(path, assignment_mode=mode, client=client)
        for col in ("assigned", "unassigned", "school", "nearest_id", "access"):
            pd.testing.assert_series_equal(run_cells(here)[col], run_cells(there)[col])
        pd.testing.assert_frame_equal(here.schools.drop(columns="geometry"),
                                      there.schools.drop(columns="geometry"))
        pd.testing.assert_frame_equal(_costs(folder / "here"), _costs(folder / "out"))
        assert there.summary["assignment_mode"] == mode


def _with_proposal(folder):
    """The tiny line's scenario with one [[proposals]]: a single district over every cell."""
    import geopandas as gpd
    from shapely.geometry import box

    write_tiny_line(folder)
    gpd.GeoDataFrame({"district": ["All"]}, geometry=[box(-100, -100, 2100, 100)],
                     crs=32650).to_file(folder / "one.gpkg")
    path = write_tiny_scenario(folder)
    path.write_text(path.read_text(encoding="utf-8")
                    + '\n[[proposals]]\nname = "one"\npath = "one.gpkg"\n', encoding="utf-8")
    return path


def test_without_locality_keys_the_solver_numbers_by_nearest_school(client, tmp_path,
                                                                    monkeypatch):
    """Without the Hilbert keys the solver's nodes are the cells grouped by nearest school,
    on a worker as in process: the hand figures, and the in-process run's tables."""
    from geoequity import pipeline

    monkeypatch.setattr(pipeline, "solver_locality", lambda cells, schools: None)
    path = write_tiny_scenario(tmp_path)
    here = ge.run_scenario(path, folder=tmp_path / "here", map_path=tmp_path / "h.html")
    there = ge.run_scenario(path, client=client)
    assert run_cells(there)["assigned"].to_dict() == ASSIGNED
    pd.testing.assert_frame_equal(here.schools.drop(columns="geometry"),
                                  there.schools.drop(columns="geometry"))


def test_later_stages_gather_the_pairs(client, tmp_path):
    """A run with [[proposals]] scores them on the gathered pairs: compare.csv is the
    in-process run's."""
    path = _with_proposal(tmp_path)
    here = ge.run_scenario(path, folder=tmp_path / "here", map_path=tmp_path / "h.html")
    there = ge.run_scenario(path, client=client)
    pd.testing.assert_frame_equal(here.comparison.table, there.comparison.table)
    assert there.pairs is not None and len(there.pairs) == 10


def test_a_decomposed_run_with_later_stages_gathers_once(client, tmp_path, monkeypatch):
    """The decomposed assignment and the proposals both need every pair: the client gathers
    them once (one merge of the pieces), and the results are the in-process run's."""
    from geoequity import distributed

    path = _with_proposal(tmp_path)
    here = ge.run_scenario(path, assignment_mode="decomposed", folder=tmp_path / "here",
                           map_path=tmp_path / "h.html")
    merges = []
    placed = distributed._placed
    monkeypatch.setattr(distributed, "_placed", lambda *a: merges.append(1) or placed(*a))
    there = ge.run_scenario(path, assignment_mode="decomposed", client=client)
    assert len(merges) == 1
    assert run_cells(there)["assigned"].to_dict() == ASSIGNED
    pd.testing.assert_frame_equal(here.comparison.table, there.comparison.table)


def test_costs_folder_switches_without_symbolic_links(client, tmp_path, monkeypatch):
    """Where the file system takes no symbolic links, a cluster run's costs.parquet folder
    replaces an in-process run's file and the other way round."""
    def no_links(*args, **kwargs):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "symlink", no_links)
    path = write_tiny_scenario(tmp_path)
    out = tmp_path / "out" / "costs.parquet"
    for where in ("cluster", "here", "cluster", "cluster", "here"):
        ge.run_scenario(path, client=client if where == "cluster" else None)
        assert out.is_dir() == (where == "cluster") and not out.is_symlink()
        assert len(_costs(tmp_path / "out")) == 10
    assert not list((tmp_path / "out" / ".geoequity" / "runs").iterdir())


class _Job:
    """A stand-in for a dask future: its key, status and result."""

    key = "piece"
    status = "finished"

    def __init__(self, value=None):
        self.value = value

    def result(self):
        return self.value


class _Client:
    """A stand-in for a dask client whose gather of the writing tasks raises ``error``."""

    def __init__(self, error: BaseException):
        self.error = error
        self.cancelled = None

    def submit(self, *args, **kwargs):
        self.submitted = args
        return _Job()

    def gather(self, jobs):
        for job in jobs:
            job.status = "error"
        raise self.error

    def cancel(self, jobs):
        self.cancelled = jobs


def _one_piece(client):
    """KeptPairs of one partition (East): cells a, b and schools A, B, pairs a-A 1, a-B 2,
    b-B 3."""
    from geoequity.distributed import KeptPairs, _Answer

    answer = _Answer(cells=np.array([0, 1]), nearest=np.array([0, 1]), values={},
                     origin=np.array([0, 0, 1], np.int32),
                     destination=np.array([0, 1, 1], np.int32),
                     cost=np.array([1.0, 2.0, 3.0]), attrs={}, stats={})
    return KeptPairs(client, [_Job(answer)], [np.array([0, 1])],
                     pd.Index(["a", "b"]), pd.Index(["A", "B"]),
                     attrs={"method": "euclidean", "unit": "m"}, pairs=3, live=3,
                     children_within=np.zeros(2), nearest=np.zeros(2, np.int64),
                     nearest_cost=np.zeros(2), names=["East"])


def test_workers_that_cannot_write_leave_it_to_the_client(tmp_path):
    """A worker that cannot reach the run's folder (no shared file system): the client
    writes the pieces itself, one at a time."""
    kept = _one_piece(_Client(FileNotFoundError(2, "No such file or directory")))
    written = kept.write_parquet(tmp_path / "costs.parquet")
    assert len(kept.client.cancelled) == 1   # the workers' writing tasks dropped
    table = pd.read_parquet(written)
    assert table.to_dict("list") == {"origin": ["a", "a", "b"],
                                     "destination": ["A", "B", "B"], "cost": [1.0, 2.0, 3.0]}
    assert pd.read_parquet(written / "part-00000.parquet").attrs == {"method": "euclidean",
                                                                     "unit": "m"}


def test_workers_get_the_folder_by_absolute_path(tmp_path, monkeypatch):
    """A relative output folder reaches the workers as an absolute path: a worker started
    in another folder (dask worker on a shared file system) writes where the run is."""
    monkeypatch.chdir(tmp_path)
    kept = _one_piece(_Client(FileNotFoundError(2, "No such file or directory")))
    kept.write_parquet("costs.parquet")
    assert kept.client.submitted[2] == str(tmp_path / "costs.parquet" / "part-00000.parquet")


def test_a_worker_lost_while_writing_stops_the_run_in_one_line(tmp_path):
    """The worker writing a piece is lost (dask gave up on it: KilledWorker): the run stops
    with the one line of a lost partition, naming it, and the writing tasks are dropped."""
    from types import SimpleNamespace

    from distributed import KilledWorker

    from geoequity.distributed import ClusterError

    died = KilledWorker("w-1", SimpleNamespace(address="tcp://127.0.0.1:1"), 2)
    kept = _one_piece(_Client(died))
    with pytest.raises(ClusterError) as err:
        kept.write_parquet(tmp_path / "costs.parquet")
    assert str(err.value).startswith("cluster: the run lost partition 'East' (KilledWorker: "
                                     "Attempted to run task 'w-1' on 3 different workers, "
                                     "but all those workers died while running it.")
    assert "nothing was written" in str(err.value)
    assert "\n" not in str(err.value) and len(kept.client.cancelled) == 1


def test_a_run_failing_after_its_partitions_drops_their_pairs(client, tmp_path,
                                                             monkeypatch):
    """A run failing once the partitions are back (here: merging their measures), its
    error kept: the client holds none of the run's tasks, so the next run on the same
    client computes its partitions again (same keys) and gets the hand figures."""
    from geoequity import distributed

    def failing(*args):
        raise StopRun("merge: stopped")

    path = write_tiny_scenario(tmp_path)
    _stops_holding_nothing(client, path, monkeypatch, distributed, "_merge", failing)
    got = ge.run_scenario(path, client=client)
    assert got.schools["children_within"].to_dict() == {"A": 200.0, "B": 500.0}


def test_a_solve_that_cannot_start_drops_its_pieces(client, tmp_path, monkeypatch):
    """The solve on a worker cannot start (the client cannot send the children and seats):
    the run stops, and the client holds none of its tasks (the pieces sent towards the
    solve included, whose keys the next run would reuse)."""
    def failing(*args, **kwargs):
        raise StopRun("scatter: stopped")

    _stops_holding_nothing(client, write_tiny_scenario(tmp_path), monkeypatch, client,
                           "scatter", failing)


@pytest.mark.parametrize("read_by", ["workers", "client"])
def test_a_lost_solve_is_done_in_process(client, tmp_path, capsys, read_by):
    """The solve on a worker is lost (cancelled: the cluster's doing, not the solve's own
    error, which stops the run: tests/test_cluster_errors.py): one line says so and the
    client solves the gathered pairs itself, with the hand result; whether the workers read
    the cells (a GeoPackage: the solve numbers them on its worker) or the client did
    (GeoParquet, read whole)."""
    from geoequity import distributed

    solve = (distributed._KeptCellsSolve if read_by == "workers"
             else distributed._KeptSolve)
    started = solve.__init__

    def failing(self, *args, **kwargs):
        started(self, *args, **kwargs)
        self._job.cancel()

    path = write_tiny_scenario(tmp_path, parquet=read_by == "client")
    import unittest.mock as mock

    with mock.patch.object(solve, "__init__", failing):
        got = ge.run_scenario(path, client=client)
    assert run_cells(got)["assigned"].to_dict() == ASSIGNED
    err = capsys.readouterr().err
    assert "the solve on a worker gave no answer (FutureCancelledError: " in err
    assert got.solve["where"] == "here"   # (a tiny case: solved in this process itself)


def test_a_worker_lost_after_the_partitions(tmp_path):
    """The worker solving the assignment dies, and with it the partitions' pairs and cells
    it kept: dask computes them again (the cells read again by window) and solves on
    another worker; the hand figures, every pair. (A solve that gives no answer at all is
    solved on the client: test_a_lost_solve_is_done_in_process.)"""
    path = write_tiny_scenario(tmp_path)
    died = tmp_path / "died"
    with dying_cluster("geoequity-assignment-solve", 2, once=str(died)) as c:
        got = ge.run_scenario(path, client=c)
    assert died.exists()   # a worker did die at the solve
    assert run_cells(got)["assigned"].to_dict() == ASSIGNED
    assert got.schools["assigned"].to_dict() == {"A": 150.0, "B": 300.0}
    assert len(_costs(tmp_path / "out")) == 10


def test_a_run_failing_while_writing_leaves_nothing_for_the_next(client, tmp_path,
                                                                 monkeypatch):
    """A run that fails while the workers write costs.parquet (its error kept, as a
    notebook keeps the last one) takes its writing tasks with it: the next run on the same
    client writes its own ten pairs."""
    from geoequity import outputs

    written = outputs.write_table

    def failing(table, path, *args, **kwargs):
        if path.name == "equity.csv":
            raise StopRun("equity.csv: cannot write")
        return written(table, path, *args, **kwargs)

    path = write_tiny_scenario(tmp_path)
    _stops_holding_nothing(client, path, monkeypatch, outputs, "write_table", failing)
    got = ge.run_scenario(path, client=client)
    assert run_cells(got)["assigned"].to_dict() == ASSIGNED
    assert len(_costs(tmp_path / "out")) == 10


def test_run_on_cluster_needs_a_client_that_outlives_it():
    """The pairs stay on the workers after run_on_cluster returns: without a client it
    would open a cluster and close it on return, leaving pairs on no worker; it refuses."""
    from geoequity.distributed import ComputeOptions, run_on_cluster

    with pytest.raises(ValueError, match="give the client"):
        run_on_cluster(ComputeOptions(), None, None, None, None, None, district_paths=None,
                       threshold=600, max_cost=5000, method="2sfca", decay=None,
                       decay_param=None)


def test_two_runs_on_one_client_use_their_own_keys(client, tmp_path):
    """The same partitions of two runs on one client are different tasks: the first run's
    partitions, still held (as a traceback or a notebook holds them), are not handed to a
    second run of other data with the same districts. By hand: the second run's line has
    its children doubled, so its unseated children are 1,150 (1,600 children, 450 seats)."""
    from geoequity.distributed import ComputeOptions, run_on_cluster
    from geoequity.scenario import cost_source, load_scenario, read_inputs

    path = write_tiny_scenario(tmp_path)
    sc = load_scenario(path)
    cells, schools, districts = read_inputs(sc)
    held, _, _ = run_on_cluster(ComputeOptions(), client, cells, schools, districts,
                                cost_source(sc), district_paths=sc.districts, threshold=600,
                                max_cost=5000, method="2sfca", decay=None, decay_param=None)
    try:
        import geopandas as gpd

        layer = gpd.read_file(tmp_path / "cells.gpkg")
        layer["kids"] = layer["kids"] * 2
        layer.to_file(tmp_path / "cells.gpkg")
        got = ge.run_scenario(path, client=client)
    finally:
        held.release()
    assert run_cells(got)["unassigned"].sum() == 1150.0
    assert got.schools["children_within"].to_dict() == {"A": 400.0, "B": 1000.0}
