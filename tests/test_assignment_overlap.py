"""The exact assignment solved elsewhere (a child process, a cluster's worker) while
``analyse`` carries on: the same flows as the solve in process, a killed child solved again in
process, no child left behind when another stage fails."""

from __future__ import annotations

import os
import signal

import geopandas as gpd
import numpy as np
import pandas as pd
import psutil
import pytest
import shapely

import geoequity.assignment as assignment_module
import geoequity.mincostflow as mincostflow
import geoequity.pipeline as pipeline
from geoequity.assignment import capacity_assignment, start_assignment
from geoequity.assignment_decomposed import AssignmentReport, decomposed_assignment


def _crowded(seed: int = 3, n_o: int = 1500, n_s: int = 40, k: int = 8):
    """Random cells each reaching ``k`` schools at whole-number costs, fewer seats than
    children (many ties: the solver's tie-break shows)."""
    rng = np.random.default_rng(seed)
    o = np.repeat(np.arange(n_o), k)
    d = rng.integers(0, n_s, len(o))
    costs = pd.DataFrame({"origin": [f"c{i}" for i in o], "destination": [f"s{j}" for j in d],
                          "cost": rng.integers(1, 12, len(o)).astype(float)})
    costs = costs.drop_duplicates(["origin", "destination"], ignore_index=True)
    demand = pd.Series(rng.integers(0, 9, n_o).astype(float),
                       index=[f"c{i}" for i in range(n_o)])
    supply = pd.Series(rng.integers(20, 120, n_s).astype(float),
                       index=[f"s{j}" for j in range(n_s)])
    return costs, demand, supply


def _same(a, b) -> None:
    pd.testing.assert_frame_equal(a.flows, b.flows, check_exact=True)
    pd.testing.assert_frame_equal(a.origins, b.origins, check_exact=True)
    pd.testing.assert_frame_equal(a.schools, b.schools, check_exact=True)
    assert a.objective == b.objective and a.status == b.status


def _gone(pid: int) -> bool:
    """The process ``pid`` no longer exists (killed and reaped: no orphan, no zombie)."""
    try:
        psutil.Process(pid)   # a zombie (not reaped) still exists
    except psutil.NoSuchProcess:
        return True
    return False


def test_child_process_gives_the_in_process_flows_on_a_crowded_instance(capsys):
    costs, demand, supply = _crowded()
    assert supply.sum() < demand.sum()   # crowded
    here = capacity_assignment(costs, demand, supply)
    with start_assignment(costs, demand, supply, elsewhere_pairs=1) as pending:
        assert pending.where == "process" and pending.pid is not None
        pid = pending.pid
        there = pending.result()
    _same(here, there)
    assert _gone(pid)
    assert pending.figures["where"] == "process" and pending.figures["cpu"] > 0
    # an independent reference: HiGHS' LP optimum (whole numbers: the same optimum value)
    lp = capacity_assignment(costs, demand, supply, solver="highs")
    assert there.totals["unassigned"] == lp.totals["unassigned"]
    assert there.objective == pytest.approx(lp.objective, rel=1e-12)
    assert "in a child process" in capsys.readouterr().err


def test_two_optima_the_child_returns_the_one_the_process_returns():
    # two children, two seats, every trip 5 m: a->s1 b->s2 and a->s2 b->s1 are both optimal
    costs = pd.DataFrame({"origin": ["a", "a", "b", "b"], "destination": ["s1", "s2"] * 2,
                          "cost": [5.0, 5.0, 5.0, 5.0]})
    demand = pd.Series({"a": 1.0, "b": 1.0})
    supply = pd.Series({"s1": 1.0, "s2": 1.0})
    here = capacity_assignment(costs, demand, supply)
    with start_assignment(costs, demand, supply, elsewhere_pairs=1) as pending:
        there = pending.result()
    assert pending.where == "process"
    _same(here, there)
    assert there.objective == 10.0 and there.totals["unassigned"] == 0.0
    assert sorted(there.flows["destination"]) == ["s1", "s2"]


def test_small_problems_are_solved_here():
    costs, demand, supply = _crowded(n_o=50, n_s=5, k=3)
    with start_assignment(costs, demand, supply, elsewhere_pairs=10_000) as pending:
        assert pending.where == "here" and pending.pid is None
        _same(capacity_assignment(costs, demand, supply), pending.result())


def test_a_killed_child_is_solved_again_in_process(capsys):
    costs, demand, supply = _crowded(seed=5)
    here = capacity_assignment(costs, demand, supply)
    with start_assignment(costs, demand, supply, elsewhere_pairs=1) as pending:
        pid = pending.pid
        os.kill(pid, signal.SIGKILL)
        there = pending.result()
    _same(here, there)
    err = capsys.readouterr().err
    assert ("capacity assignment: the solve on a child process gave no answer (killed by "
            "signal 9); solving in this process instead") in err
    assert _gone(pid)


def test_a_child_that_cannot_start_is_solved_here(monkeypatch, capsys):
    costs, demand, supply = _crowded(seed=9, n_o=300)
    here = capacity_assignment(costs, demand, supply)
    monkeypatch.setattr(mincostflow.sys, "executable", "/nonexistent/python")
    with start_assignment(costs, demand, supply, elsewhere_pairs=1) as pending:
        assert pending.where == "here" and pending.pid is None
        _same(here, pending.result())
    assert "could not start the solve elsewhere (FileNotFoundError" in capsys.readouterr().err


def _layers(n_side: int = 24, n_schools: int = 9, seed: int = 0):
    """Point cells on a 100 m grid, schools among them, two districts, straight-line costs
    within 800 m: a small run with a crowded assignment."""
    rng = np.random.default_rng(seed)
    xs, ys = np.meshgrid(np.arange(n_side) * 100.0, np.arange(n_side) * 100.0)
    cells = gpd.GeoDataFrame(
        {"children": rng.integers(0, 12, xs.size).astype(float)},
        geometry=gpd.points_from_xy(xs.ravel(), ys.ravel()), crs="EPSG:32650",
        index=pd.Index([f"c{i:04d}" for i in range(xs.size)], name="cell"))
    at = rng.choice(xs.size, n_schools, replace=False)
    schools = gpd.GeoDataFrame(
        {"seats": rng.integers(100, 400, n_schools).astype(float)},
        geometry=gpd.points_from_xy(xs.ravel()[at] + 30, ys.ravel()[at] + 30),
        crs="EPSG:32650", index=pd.Index([f"s{j}" for j in range(n_schools)], name="school"))
    half = n_side * 50.0
    districts = gpd.GeoDataFrame(
        {"district": ["west", "east"]},
        geometry=[shapely.box(-100, -100, half, 2 * half), shapely.box(half, -100, 2 * half,
                                                                        2 * half)],
        crs="EPSG:32650")
    cx, cy = cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy()
    sx, sy = schools.geometry.x.to_numpy(), schools.geometry.y.to_numpy()
    dist = np.hypot(cx[:, None] - sx[None, :], cy[:, None] - sy[None, :])
    i, j = np.nonzero(dist <= 800.0)
    costs = pd.DataFrame({"origin": cells.index[i], "destination": schools.index[j],
                          "cost": dist[i, j]}).sort_values(["origin", "cost"],
                                                           ignore_index=True)
    return cells, schools, districts, costs


def _analyse(client=None):
    cells, schools, districts, costs = _layers()
    return pipeline.analyse(cells, schools, costs, threshold=400.0, districts=districts,
                            max_cost=800.0, client=client)


def _same_results(a, b) -> None:
    pd.testing.assert_frame_equal(a.cells, b.cells, check_exact=True)
    pd.testing.assert_frame_equal(a.schools, b.schools, check_exact=True)
    pd.testing.assert_frame_equal(a.district_table, b.district_table, check_exact=True)
    pd.testing.assert_frame_equal(a.equity, b.equity, check_exact=True)
    pd.testing.assert_frame_equal(a.catchments, b.catchments, check_exact=True)
    assert a.summary == b.summary


def test_analyse_with_the_solve_in_a_child_equals_in_process(monkeypatch):
    here = _analyse()
    assert here.solve["where"] == "here"
    assert here.summary["children_unassigned"] > 0   # crowded: the assignment matters
    monkeypatch.setattr(assignment_module, "SOLVE_ELSEWHERE_PAIRS", 1)
    there = _analyse()
    assert there.solve["where"] == "process"
    _same_results(here, there)
    # children = assigned + unassigned per cell, and the schools' assigned within seats
    cells = there.cells
    assert np.allclose(cells["assigned"] + cells["unassigned"], cells["children"])
    assert (there.schools["assigned"] <= there.schools["seats"]).all()


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_no_child_left_after_an_exception_in_a_concurrent_stage(monkeypatch, error):
    monkeypatch.setattr(assignment_module, "SOLVE_ELSEWHERE_PAIRS", 1)
    seen: list[psutil.Process] = []
    start = mincostflow.ChildSolve.__init__

    def start_stopped(self, *args, **kwargs):
        start(self, *args, **kwargs)
        seen.append(psutil.Process(self.pid))
        seen[-1].suspend()   # it cannot finish by itself: only the parent's kill ends it

    def failing_stage(*args, **kwargs):
        assert {c.pid for c in seen} <= {c.pid for c in psutil.Process().children()}
        raise error("a stage failed while the solve ran")

    monkeypatch.setattr(mincostflow.ChildSolve, "__init__", start_stopped)
    before = {c.pid for c in psutil.Process().children()}   # earlier tests' (a cluster's)

    monkeypatch.setattr(pipeline, "_urban_class", failing_stage)
    try:
        with pytest.raises(error, match="a stage failed"):
            _analyse()
        assert seen, "the solve's child process was running during the stage"
        assert all(_gone(child.pid) for child in seen)
        assert {c.pid for c in psutil.Process().children()} <= before
    finally:   # leave nothing behind if the test fails
        for child in seen:
            if not _gone(child.pid):
                child.kill()
                child.wait()


def test_decomposed_report_without_pairs_says_so():
    rep = AssignmentReport(mode="decomposed", pairs=0, unassigned=7.0, lower_bound=7.0,
                           bound="max flow", cost=0.0)
    assert rep.text() == ("capacity assignment: nothing to decompose, no cell with children "
                          "reaches a school with seats: 7 children without a seat (the "
                          "minimum)")
    assert "0 个部分" not in rep.text("zh") and "7 名儿童无学位" in rep.text("zh")
    # a run whose only school has no seats: every child unseated, no pair to decompose
    costs = pd.DataFrame({"origin": ["a", "b"], "destination": ["s", "s"], "cost": [1.0, 2.0]})
    _, report = decomposed_assignment(costs, pd.Series({"a": 3.0, "b": 4.0}),
                                      pd.Series({"s": 0.0}), parts=["p", "q"])
    assert report.pairs == 0 and report.unassigned == 7.0
    assert report.text().startswith("capacity assignment: nothing to decompose")


def test_the_solve_on_a_worker_equals_in_process(client):
    costs, demand, supply = _crowded(seed=7)
    here = capacity_assignment(costs, demand, supply)
    with start_assignment(costs, demand, supply, elsewhere_pairs=1, client=client) as pending:
        assert pending.where == "worker"
        there = pending.result()
    _same(here, there)


def test_analyse_on_a_cluster_solves_on_a_worker_and_equals_in_process(client, monkeypatch):
    here = _analyse()
    monkeypatch.setattr(assignment_module, "SOLVE_ELSEWHERE_PAIRS", 1)
    there = _analyse(client=client)
    assert there.solve["where"] == "worker"
    _same_results(here, there)


# ---- the solve beside a worker: the worker's thread stays free ---------------------------
#: two cells (2 and 1 children), two schools (1 and 2 seats): cell 0 reaches both (1 m, 3 m),
#: cell 1 only school 1 (1 m). By hand, the only optimum: cell 0 sends one child to each
#: school, cell 1 its child to school 1 (cost 1 + 3 + 1 = 5; every child seated).
_HAND = ({"oi": np.array([0, 0, 1]), "dj": np.array([0, 1, 1]), "c": np.array([1.0, 3.0, 1.0]),
          "d": np.array([2.0, 1.0]), "s": np.array([1.0, 2.0]), "node": np.array([0, 1]),
          "school": np.array([0, 1])}, {"penalty": 100.0, "lexicographic": True})


def _solve_when_told(started: str, go: str) -> tuple:
    """On a worker: :func:`mincostflow.solve_beside` of the hand case, its child's answer
    read only once the event ``go`` is set (by another task on this one-thread worker: it
    can run only if the solve left the worker's thread). Gives the flows, the problem and
    whether ``go`` came."""
    from distributed import Event

    real, told = mincostflow.ChildSolve, []

    class Told(real):
        def result(self):
            Event(started).set()
            told.append(Event(go).wait(timeout=60))
            return super().result()

    mincostflow.ChildSolve = Told
    try:
        flows, problem = mincostflow.solve_beside(*_HAND)
    finally:
        mincostflow.ChildSolve = real
    return flows.tolist(), problem, told


def _tell(go: str) -> None:
    from distributed import Event

    Event(go).set()


def test_the_solve_on_a_worker_leaves_its_thread_free(client):
    from distributed import Event

    worker = sorted(client.scheduler_info()["workers"])[0]
    names = ("geoequity-test-started", "geoequity-test-go")
    job = client.submit(_solve_when_told, *names, workers=[worker], pure=False)
    assert Event(names[0], client=client).wait(timeout=60)   # the solve waits for its child
    client.submit(_tell, names[1], workers=[worker], pure=False).result(timeout=60)
    flows, problem, told = job.result(timeout=60)
    assert told == [True]   # the other task ran on the worker while the solve waited
    assert (flows, problem) == ([1.0, 1.0, 1.0], "")   # the hand optimum, from the child


def test_the_solve_beside_here_equals_the_hand_case_and_reports_its_child():
    figures: dict = {}
    flows, problem = mincostflow.solve_beside(*_HAND, figures)   # not on a worker: just waits
    assert (flows.tolist(), problem) == ([1.0, 1.0, 1.0], "")
    assert figures["cpu"] > 0 and figures["peak_mb"] > 0   # the child's own figures
