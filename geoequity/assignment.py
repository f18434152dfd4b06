"""Capacity-constrained assignment of children to school seats (a transportation problem).

Children of each demand cell ``i`` (``P_i``) are assigned to schools ``j`` with seats ``S_j``,
minimising total travel, over the pairs of the cost table only (``d_ij <= max_cost``):

.. math::

    \\min \\sum_{ij} d_{ij} x_{ij} + M \\sum_i u_i \\quad\\text{s.t.}\\quad
    \\sum_j x_{ij} + u_i = P_i,\\; \\sum_i x_{ij} \\le S_j,\\; x, u \\ge 0

``u_i`` are the children of cell ``i`` left without a seat ("unassigned"). By default
``M = d_max * min(#cells, #schools) + 1``, larger than the cost of any augmenting path, so the
solution first seats as many children as possible and then minimises their travel (the
max-flow-min-cost solution); pass ``unassigned_cost`` to price an unseated child yourself
(a pair dearer than it is then never used). The LP is solved exactly by HiGHS through
:func:`scipy.optimize.linprog` on sparse constraints with one variable per pair. Cells may be
split between schools; the number of split cells is reported. With whole numbers of children
and seats the optimal vertex HiGHS returns is integral (the constraint matrix is totally
unimodular).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geoequity._errors import SolverError, input_error
from geoequity._progress import info, step
from geoequity.mincostflow import flow_unit
from geoequity.pairs import Pairs, as_pairs, as_series

__all__ = ["AssignmentResult", "PendingAssignment", "SOLVE_ELSEWHERE_PAIRS",
           "assignment_from_flows", "capacity_assignment", "flow_unit", "result_of_flows",
           "solver_numbering", "solver_pairs", "start_assignment"]

#: :func:`geoequity.pipeline.analyse` solves an exact assignment of at least this many pairs
#: elsewhere (:func:`start_assignment`: a child process, or a worker of the run's cluster)
#: while it computes the stages that do not need it. Below, the solve (under a second) is not
#: worth a process.
SOLVE_ELSEWHERE_PAIRS = 200_000


@dataclass
class AssignmentResult:
    """Result of :func:`capacity_assignment`.

    Attributes
    ----------
    flows
        One row per used pair: ``origin``, ``destination``, ``children``, ``cost``.
    unassigned
        Children left without a seat, per demand id (all demand ids, 0 when fully seated).
    schools
        Indexed by school id: ``seats``, ``assigned``, ``spare`` (seats - assigned),
        ``nearest_demand`` (children whose nearest reachable school it is) and ``overflow``
        (``max(nearest_demand - seats, 0)``: children who would pick it but find no seat).
    origins
        Indexed by demand id: ``children``, ``assigned``, ``unassigned``, ``n_schools`` (schools
        the cell is split between), ``school`` (the school taking most of its children; NA
        when none), ``mean_cost`` (child-weighted travel of the assigned children).
    status
        ``"optimal"`` (or ``"trivial"`` when no pair needs solving).
    objective
        Total travel of the assigned children, ``sum d_ij x_ij`` (cost units x children).
    split_origins
        Number of demand cells whose children go to more than one school.
    unassigned_cost
        The penalty ``M`` per unseated child used in the LP.
    """

    flows: pd.DataFrame
    unassigned: pd.Series
    schools: pd.DataFrame
    origins: pd.DataFrame
    status: str
    objective: float
    split_origins: int
    unassigned_cost: float
    totals: dict[str, float] = field(default_factory=dict)

    @property
    def assignment(self) -> pd.Series:
        """Main school per demand id (``origins["school"]``)."""
        return self.origins["school"]


def capacity_assignment(costs: pd.DataFrame | Pairs, demand: pd.Series, supply: pd.Series, *,
                        max_cost: float | None = None, unassigned_cost: float | None = None,
                        solver: str = "auto", time_limit: float | None = None,
                        locality: tuple[np.ndarray, np.ndarray] | None = None
                        ) -> AssignmentResult:
    """Assign children to seats minimising total travel (transportation LP, HiGHS).

    Parameters
    ----------
    costs
        Long cost table ``origin, destination, cost`` (metres or minutes), or the same already
        coded (:class:`geoequity.pairs.Pairs`). Only the pairs in the table can be used: a cell
        with no pair is left unassigned.
    demand
        Children per demand id (float allowed).
    supply
        Seats per school id.
    max_cost
        Optional cut-off: pairs with ``cost > max_cost`` are not used.
    unassigned_cost
        Penalty per unseated child. Default: large enough that as many children as possible
        are seated (see the module docstring).
    solver
        ``"highs"``: the LP above, exact, through :func:`scipy.optimize.linprog` (HiGHS).
        ``"ortools"``: Google OR-tools' network-simplex min-cost flow (``pip install
        ortools``), 10-50 x faster on large problems; children and seats are counted in
        thousandths of a child and costs rounded to 1e-7 of the largest cost (exact for whole
        numbers of children up to that cost resolution). ``"auto"`` (default): OR-tools when
        installed, else HiGHS.
    time_limit
        Optional HiGHS time limit in seconds.
    locality
        Optional ``(demand_keys, supply_keys)``: a sort key per demand id and per school (in
        the order of ``demand`` and ``supply``) under which places close together come close
        together, e.g. :func:`geoequity._hilbert.hilbert_keys` of their points. OR-tools then
        numbers its nodes in that order: the same problem, solved about a fifth faster on a
        province (memory locality). Default: cells numbered by their nearest school.

    Returns
    -------
    AssignmentResult
        Flows, unassigned children per cell, per-school and per-cell tables. Totals reconcile:
        ``children = assigned + unassigned`` per cell and overall.

    Raises
    ------
    geoequity.InputError
        On bad inputs (missing columns, negative or missing values, duplicate ids).
    geoequity.SolverError
        If HiGHS fails (for example the time limit is hit).
    """
    return start_assignment(costs, demand, supply, max_cost=max_cost,
                            unassigned_cost=unassigned_cost, solver=solver,
                            time_limit=time_limit, locality=locality).result()


def start_assignment(costs: pd.DataFrame | Pairs, demand: pd.Series, supply: pd.Series, *,
                     max_cost: float | None = None, unassigned_cost: float | None = None,
                     solver: str = "auto", time_limit: float | None = None,
                     locality: tuple[np.ndarray, np.ndarray] | None = None,
                     elsewhere_pairs: int | None = None, client: Any = None
                     ) -> PendingAssignment:
    """:func:`capacity_assignment`, solved elsewhere while the caller carries on.

    Parameters are those of :func:`capacity_assignment`, plus:

    elsewhere_pairs
        An OR-tools solve of at least this many pairs runs in a child process (or on a
        worker of ``client``'s cluster) and this call returns at once; smaller ones, HiGHS
        and ``None`` (the default) solve here, now. :func:`geoequity.pipeline.analyse` passes
        :data:`SOLVE_ELSEWHERE_PAIRS`.
    client
        A :class:`distributed.Client`: the solve runs as a task on one of its workers
        instead of a child process.

    Returns
    -------
    PendingAssignment
        ``result()`` waits for the solve and gives the :class:`AssignmentResult`;
        ``cancel()`` stops a solve still running (call it on every way out: ``with`` does).
        The same arrays go to the same solver wherever it runs, so the result is the one
        :func:`capacity_assignment` gives. A child process or a worker that dies (killed, out
        of memory, lost) is reported on stderr in one line and the solve is done again in
        this process.
    """
    dem = as_series(demand, "demand", "children")
    sup = as_series(supply, "supply", "seats")
    if max_cost is not None and not float(max_cost) >= 0:
        raise input_error("max_cost", f"{max_cost!r} must be >= 0", "pass a positive cut-off")
    p = as_pairs(costs, dem.index, sup.index,
                 threshold=None if max_cost is None else float(max_cost))
    d = dem.to_numpy()
    s = sup.to_numpy()
    penalty = None   # solver_pairs' default: larger than any augmenting path
    if unassigned_cost is not None:
        penalty = float(unassigned_cost)
        if not penalty > 0:
            raise input_error("unassigned_cost", f"{unassigned_cost!r} must be > 0",
                              "pass a positive cost per unseated child")
        p = p.within(penalty)   # a pair dearer than an unseated child is never used
    oi, dj, c, penalty = solver_pairs(p.origin, p.destination, p.cost, d, s, penalty=penalty)
    pending = PendingAssignment(dem, sup, p, oi, dj, c, penalty)
    engine = _pick_solver(solver)
    if engine != "ortools" or not len(oi):
        pending.done = _solve(oi, dj, c, d, s, penalty, time_limit)
        return pending
    arrays = {"oi": oi, "dj": dj, "c": c, "d": d, "s": s,
              **solver_numbering(locality, len(d), len(s), nearest=lambda: p.nearest()[0])}
    scalars = {"penalty": penalty, "lexicographic": unassigned_cost is None}
    if elsewhere_pairs is None or len(oi) < elsewhere_pairs:
        pending.done = _solve_ortools(arrays, scalars)
    else:
        pending.launch(arrays, scalars, client)
    return pending


def solver_pairs(oi: np.ndarray, dj: np.ndarray, c: np.ndarray, d: np.ndarray, s: np.ndarray,
                 *, penalty: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The pairs the solver gets and the cost of an unseated child: the pairs (cell and
    school positions, costs, in the cost table's order) of cells with children to schools
    with seats (the others cannot carry flow), and ``penalty`` or, when None, one larger than
    any augmenting path (``max cost x min(cells, schools) + 1``, over those pairs). One rule
    for every place a run solves (:func:`start_assignment`, a cluster's worker)."""
    keep = (d[oi] > 0) & (s[dj] > 0)
    oi, dj, c = oi[keep], dj[keep], c[keep]
    if penalty is None:
        n_o_act = int(np.count_nonzero(np.bincount(oi, minlength=len(d))))   # distinct cells
        n_s_act = int(np.count_nonzero(np.bincount(dj, minlength=len(s))))
        cmax = float(c.max()) if len(c) else 0.0
        penalty = max(cmax, 1.0) * max(min(n_o_act, n_s_act), 1) + 1.0
    return oi, dj, c, float(penalty)


class PendingAssignment:
    """An assignment being solved (:func:`start_assignment`): in this process (already
    done), in a child process or on a cluster's worker (:attr:`where`)."""

    def __init__(self, dem, sup, p, oi, dj, c, penalty) -> None:
        self._args = (dem, sup, p, oi, dj, c)
        self.penalty = penalty
        self.done: tuple[np.ndarray, str] | None = None
        self.where = "here"   # "here", "process" or "worker"
        self._job: Any = None
        self._problem: tuple[dict, dict] | None = None
        #: where the solve ran, and for a child process its CPU seconds and peak MB, the
        #: seconds from its start to its answer and the seconds the caller waited for it
        self.figures: dict[str, Any] = {"where": "here"}

    def launch(self, arrays: dict, scalars: dict, client: Any) -> None:
        """Start the solve elsewhere: a task on ``client``'s workers (the arrays scattered
        as one object: no large graph), or a child process. When neither can start (no
        Python executable to run, a closed client), solve here now, saying so."""
        from geoequity.mincostflow import ChildSolve, solve_beside

        self._problem = (arrays, scalars)
        n = len(arrays["oi"])
        self._started = time.perf_counter()
        try:
            if client is not None:
                [data] = client.scatter([arrays])
                # the worker solves in its own child process (its thread stays free)
                self._job = (client.submit(solve_beside, data, scalars, pure=False), data)
                self.where = "worker"
                info(f"  assigning children to seats ({n:,} pairs, min-cost flow) on a worker")
            else:
                self._job = ChildSolve(arrays, scalars)
                self.where = "process"
                self.figures["pid"] = self._job.pid
                info(f"  assigning children to seats ({n:,} pairs, min-cost flow) in a child "
                     f"process ({self._job.pid})")
        except Exception as exc:  # noqa: BLE001 - then solve here, as a small problem
            info(f"capacity assignment: could not start the solve elsewhere "
                 f"({type(exc).__name__}: {exc}); solving in this process")
            self._job = None
            self.done = _solve_ortools(arrays, scalars)
        self.figures["where"] = self.where

    @property
    def pid(self) -> int | None:
        """The child process' id (None unless :attr:`where` is ``"process"``)."""
        return self.figures.get("pid")

    def result(self) -> AssignmentResult:
        """Wait for the solve; the :class:`AssignmentResult`. A solve elsewhere that dies is
        done again here (one line on stderr says so)."""
        if self.done is None:
            wait = time.perf_counter()
            try:
                self.done = self._collect()
            finally:
                self.cancel()
            end = time.perf_counter()
            self.figures.update(seconds=end - self._started, waited=end - wait)
        x, status = self.done
        return _result(*self._args, x, status, self.penalty)

    def _collect(self) -> tuple[np.ndarray, str]:
        arrays, scalars = self._problem
        got, why = None, ""
        if self.where == "worker":
            try:
                got = self._job[0].result()
            except Exception as exc:  # noqa: BLE001 - the worker died or was lost
                why = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        else:
            got = self._job.result()
            why = self._job.why
            self.figures.update(self._job.figures)
        if got is None:
            place = "a worker" if self.where == "worker" else "a child process"
            info(f"capacity assignment: the solve on {place} gave no answer ({why}); "
                 "solving in this process instead")
            return _solve_ortools(arrays, scalars)
        return _checked(*got)

    def cancel(self) -> None:
        """Stop a solve still running elsewhere (no orphan process); idempotent."""
        job, self._job = self._job, None
        if job is None:
            return
        if self.where == "worker":
            task, data = job
            task.cancel()
            data.release()
        else:
            job.stop()

    def __enter__(self) -> PendingAssignment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


def solver_numbering(locality: tuple[np.ndarray, np.ndarray] | None, n_o: int, n_s: int, *,
                     nearest: Any) -> dict:
    """The solver node of each of ``n_o`` cells and ``n_s`` schools, as
    :func:`geoequity.mincostflow.solve_flows` takes them (``node``, ``school``): in the order
    of the ``locality`` keys (:func:`geoequity.pipeline.analyse`'s Hilbert keys) when given
    and of the right lengths, else the cells grouped by ``nearest`` (each cell's nearest
    school within the assignment's ``max_cost`` as a position, -1: none; or a function
    giving it, called only then) and the schools in their own order. One numbering for
    every place a run solves (:func:`start_assignment`, a cluster's worker)."""
    groups = school_keys = None
    if locality is not None:
        keys_o, keys_s = (np.asarray(k) for k in locality)
        if len(keys_o) == n_o and len(keys_s) == n_s:
            groups, school_keys = keys_o, keys_s
    if groups is None:
        groups = nearest() if callable(nearest) else np.asarray(nearest)
    return {"node": _rank(groups, n_o), "school": _rank(school_keys, n_s)}


def _rank(keys: np.ndarray | None, n: int) -> np.ndarray:
    """Position of each of ``n`` items in the (stable) order of ``keys``; the identity when
    no keys (or not ``n`` of them) are given."""
    order = np.arange(n)
    if keys is not None and len(keys) == n:
        order[np.argsort(keys, kind="stable")] = np.arange(n)
    return order


def _pick_solver(solver: str) -> str:
    key = str(solver).lower()
    if key not in ("auto", "highs", "ortools"):
        raise input_error("solver", f"unknown solver {solver!r}", "use auto, highs or ortools")
    if key == "highs":
        return key
    try:
        from ortools.graph.python import min_cost_flow  # noqa: F401
    except ImportError:
        if key == "ortools":
            raise input_error("solver", "OR-tools is not installed",
                              "pip install ortools, or use solver='highs'") from None
        return "highs"
    return "ortools"


def _solve_ortools(arrays: dict, scalars: dict) -> tuple[np.ndarray, str]:
    """:func:`geoequity.mincostflow.solve_flows` in this process."""
    from geoequity.mincostflow import solve_flows

    with step(f"assigning children to seats ({len(arrays['oi']):,} pairs, min-cost flow)"):
        return _checked(*solve_flows(**arrays, **scalars))


def _checked(flows: np.ndarray, problem: str) -> tuple[np.ndarray, str]:
    if problem:
        raise SolverError(f"capacity assignment: OR-tools min-cost flow stopped ({problem})")
    return flows, "optimal"


def _solve(oi: np.ndarray, dj: np.ndarray, c: np.ndarray, d: np.ndarray, s: np.ndarray,
           penalty: float, time_limit: float | None) -> tuple[np.ndarray, str]:
    if len(oi) == 0:
        return np.zeros(0), "trivial"
    from scipy import sparse
    from scipy.optimize import linprog

    rows_o, oi_r = np.unique(oi, return_inverse=True)
    rows_s, dj_r = np.unique(dj, return_inverse=True)
    n_p, n_a, n_b = len(oi), len(rows_o), len(rows_s)
    # scale costs to O(1) so HiGHS tolerances act on a well-conditioned objective
    scale = max(float(c.max()), 1e-12)
    obj = np.concatenate([c / scale, np.full(n_a, penalty / scale)])
    a_eq = sparse.csr_array(
        (np.ones(n_p + n_a), (np.concatenate([oi_r, np.arange(n_a)]),
                              np.arange(n_p + n_a))), shape=(n_a, n_p + n_a))
    a_ub = sparse.csr_array((np.ones(n_p), (dj_r, np.arange(n_p))), shape=(n_b, n_p + n_a))
    options: dict[str, Any] = {"presolve": True}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    with step(f"assigning children to seats ({n_p:,} pairs, {n_a:,} cells, {n_b:,} schools)"):
        res = linprog(obj, A_ub=a_ub, b_ub=s[rows_s], A_eq=a_eq, b_eq=d[rows_o],
                      bounds=(0, None), method="highs", options=options)
    if res.status != 0 or res.x is None:
        raise SolverError(f"capacity assignment: HiGHS stopped: {res.message}")
    x = np.asarray(res.x[:n_p], dtype=np.float64)
    tol = 1e-9 * max(float(d.max()) if len(d) else 1.0, 1.0)
    x[x < tol] = 0.0
    # snap near-integers when the data are whole numbers (vertex solutions are integral)
    if np.all(d == np.round(d)) and np.all(s == np.round(s)):
        xr = np.round(x)
        close = np.abs(x - xr) < 1e-6
        x[close] = xr[close]
    return x, "optimal"


def _result(dem, sup, p, oi, dj, c, x, status, penalty) -> AssignmentResult:
    used = x > 0
    return result_of_flows(dem, sup, p.nearest()[0], oi[used], dj[used], c[used], x[used],
                           status=status, unassigned_cost=penalty)


def result_of_flows(dem: pd.Series, sup: pd.Series, near: np.ndarray, fo: np.ndarray,
                    fd: np.ndarray, fc: np.ndarray, fx: np.ndarray, *, status: str,
                    unassigned_cost: float) -> AssignmentResult:
    """The :class:`AssignmentResult` of the used pairs of a solve: cell positions ``fo``,
    school positions ``fd``, costs ``fc`` and children ``fx`` (all > 0), in the solver's
    pair order; ``near``: the position of each cell's nearest school within the
    assignment's ``max_cost`` (-1: none), for the schools' ``overflow``. Every solve of a
    run (here, a child process, a cluster's worker) ends here."""
    d = dem.to_numpy()
    s = sup.to_numpy()
    n_o, n_s = len(d), len(s)
    penalty = unassigned_cost
    if len(fo) > 1 and not _sorted_by(fo, fc):   # (a solve gives them sorted: no copy)
        order = np.lexsort((fc, fo))
        fo, fd, fc, fx = fo[order], fd[order], fc[order], fx[order]
    flows = pd.DataFrame({
        "origin": np.asarray(dem.index.take(fo)),
        "destination": np.asarray(sup.index.take(fd)),
        "children": fx, "cost": fc,
    })
    assigned_o = np.minimum(np.bincount(fo, weights=fx, minlength=n_o), d)
    unassigned_o = d - assigned_o
    assigned_s = np.bincount(fd, weights=fx, minlength=n_s)
    n_sch = np.bincount(fo, minlength=n_o)
    # main school: largest flow, ties to the lowest cost (rows are sorted by origin, cost:
    # the first row of its cell with the cell's largest flow)
    main = np.full(n_o, -1, dtype=np.intp)
    if len(fo):
        starts = np.r_[0, np.flatnonzero(fo[1:] != fo[:-1]) + 1]
        group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(fo)]))
        top = np.flatnonzero(fx == np.maximum.reduceat(fx, starts)[group])
        first = top[np.r_[True, group[top][1:] != group[top][:-1]]]
        main[fo[first]] = fd[first]
    school = pd.Series(np.asarray(sup.index.take(np.where(main >= 0, main, 0))) if n_s else
                       np.full(n_o, np.nan), index=dem.index)
    if pd.api.types.is_integer_dtype(school.dtype):
        school = school.astype("Int64")
    school = school.mask(pd.Series(main < 0, index=dem.index))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_cost = np.bincount(fo, weights=fx * fc, minlength=n_o) / assigned_o
    mean_cost = np.where(assigned_o > 0, mean_cost, np.nan)
    # nearest reachable school (all pairs within max_cost, any seats) -> overflow
    nearest_demand = np.bincount(near[near >= 0], weights=d[near >= 0], minlength=n_s)
    origins = pd.DataFrame({
        "children": d, "assigned": assigned_o, "unassigned": unassigned_o,
        "n_schools": n_sch, "school": school, "mean_cost": mean_cost,
    }, index=dem.index)
    unassigned = pd.Series(unassigned_o, index=dem.index, name="unassigned")
    schools, totals = _schools_and_totals(sup, assigned_s, nearest_demand, float(d.sum()),
                                          float(assigned_o.sum()), float(unassigned_o.sum()))
    split = int((n_sch > 1).sum())
    say_unseated(totals, split)
    return AssignmentResult(flows=flows, unassigned=unassigned, schools=schools,
                            origins=origins, status=status, objective=float((fx * fc).sum()),
                            split_origins=split, unassigned_cost=float(penalty), totals=totals)


def _sorted_by(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether rows are sorted by ``a``, then ``b``."""
    da = np.diff(a)
    return bool(np.all((da > 0) | ((da == 0) & (b[1:] >= b[:-1]))))


def _schools_and_totals(sup: pd.Series, assigned_s: np.ndarray, nearest_demand: np.ndarray,
                        children: float, assigned: float, unassigned: float
                        ) -> tuple[pd.DataFrame, dict]:
    """The schools' table of a result and its totals, from the children seated at each
    school and those whose nearest school it is. The children seated per school are
    rounded to a millionth of a child: the solvers count thousandths, and what is left is
    the floating-point noise of the sum, whose order differs where the problem was solved
    in parts (a seat 1e-12 short of full is full)."""
    s = sup.to_numpy()
    assigned_s = np.round(assigned_s, 6)
    schools = pd.DataFrame({
        "seats": s, "assigned": assigned_s, "spare": np.clip(s - assigned_s, 0.0, None),
        "nearest_demand": nearest_demand,
        "overflow": np.maximum(nearest_demand - s, 0.0),
    }, index=sup.index)
    totals = {"children": children, "assigned": assigned, "unassigned": unassigned,
              "seats": float(s.sum()), "spare": float((s - assigned_s).sum())}
    return schools, totals


def result_figures(res: AssignmentResult) -> dict:
    """What :func:`summed_result` takes of one part's result: per school, the children it
    seats and those whose nearest school it is; the totals, travel and split cells."""
    return {"assigned_s": res.schools["assigned"].to_numpy(),
            "nearest_demand": res.schools["nearest_demand"].to_numpy(),
            "children": res.totals["children"], "assigned": res.totals["assigned"],
            "unassigned": res.totals["unassigned"], "objective": res.objective,
            "split": res.split_origins}


def summed_result(figures: list[dict], sup: pd.Series, *, status: str,
                  unassigned_cost: float = float("nan")) -> AssignmentResult:
    """The :class:`AssignmentResult` of a problem solved in parts (each part's
    :func:`result_figures`, its cells' own results kept where it lies): the schools' table
    and the totals summed, with no per-cell or per-pair table (``flows``, ``unassigned``
    and ``origins`` empty)."""
    n_s = len(sup)
    assigned_s, nearest = np.zeros(n_s), np.zeros(n_s)
    children = assigned = unassigned = objective = 0.0
    split = 0
    for f in figures:
        assigned_s += f["assigned_s"]
        nearest += f["nearest_demand"]
        children += f["children"]
        assigned += f["assigned"]
        unassigned += f["unassigned"]
        objective += f["objective"]
        split += int(f["split"])
    schools, totals = _schools_and_totals(sup, assigned_s, nearest, children, assigned,
                                          unassigned)
    say_unseated(totals, split)
    return AssignmentResult(
        flows=pd.DataFrame({"origin": [], "destination": [], "children": [], "cost": []}),
        unassigned=pd.Series([], dtype=float, name="unassigned"), schools=schools,
        origins=pd.DataFrame({"children": [], "assigned": [], "unassigned": [],
                              "n_schools": [], "school": [], "mean_cost": []}),
        status=status, objective=objective, split_origins=split,
        unassigned_cost=float(unassigned_cost), totals=totals)


def say_unseated(totals: dict, split: int) -> None:
    """The run's line on the children without a seat within reach (none: no line)."""
    if totals["unassigned"] > 0:
        info(f"capacity assignment: {totals['unassigned']:,.0f} of {totals['children']:,.0f} "
             f"children have no seat within reach; {split} cells split between schools")


def assignment_from_flows(pairs: Pairs, demand: pd.Series, supply: pd.Series,
                          children: np.ndarray, *, status: str = "optimal",
                          unassigned_cost: float = float("nan")) -> AssignmentResult:
    """The :class:`AssignmentResult` of flows found elsewhere (e.g. a decomposition,
    :mod:`geoequity.assignment_decomposed`): ``children`` per pair of ``pairs`` (coded against
    ``demand.index`` and ``supply.index``), 0 for an unused pair. The tables are built as
    :func:`capacity_assignment` builds them."""
    dem = as_series(demand, "demand", "children")
    sup = as_series(supply, "supply", "seats")
    p = as_pairs(pairs, dem.index, sup.index)
    x = np.asarray(children, dtype=np.float64)
    if len(x) != len(p):
        raise ValueError(f"{len(x)} flows for {len(p)} pairs")
    return _result(dem, sup, p, p.origin, p.destination, p.cost, x, status,
                   float(unassigned_cost))
