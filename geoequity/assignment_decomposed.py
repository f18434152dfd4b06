"""The capacity-constrained assignment in parts, with its shortfall against the exact bound.

The exact assignment (:func:`geoequity.assignment.capacity_assignment`) first seats as many
children as possible, then minimises their travel, over the whole cost table at once. Where
that table is too large for one solve (a province), the **decomposition** solves it part by
part:

1. **Parts.** Each cell belongs to one part: its district, the district group (``"county"``)
   or its tile, the keys of :func:`geoequity.distributed.partition_keys` (``[compute]
   partition``). A part's problem is its cells, their pairs and the schools they reach.
2. **Rounds.** Parts are taken in the order of their keys (sorted); each goes into the first
   round in which none of its schools is used by another part already there. Parts of one
   round share no school, so they are independent (they could run on separate workers:
   ``client=``); a later round sees the seats the earlier rounds took (*residual seats*).
   Each part is solved exactly (the same solver, seats first, then travel) against the
   residual seats, so its problem is bounded by the part's size.
3. **Border pass.** For each pair of parts sharing a school (in the order of their keys),
   the band of their cells that reach a school both reach is re-solved, together, exactly,
   against the seats the rest leave (when it holds at most ``repair_limit`` pairs). The
   current answer is one of its solutions, so seats never drop and travel never grows; the
   new answer is kept only when it is better. Each such problem is bounded by two parts'
   border cells.
4. **Augmenting paths.** Children still unseated above the bound may find a seat through a
   chain of moves across several parts (a child moves to a spare seat in one part, freeing
   one for a child of the next, ...). A maximum flow on the *residual graph* of the answer
   (OR-tools' push-relabel, up to :data:`MAX_FLOW_PAIRS` pairs) finds all those chains at
   once: the seated children become the maximum (the exact assignment's number), and only
   the children on the chains move (they may travel farther than in the exact assignment,
   which also minimises travel).

The result is reported against the **exact lower bound** of unseated children: children minus
the maximum flow of the whole bipartite graph (cells -> schools within ``max_cost``, seats as
capacities), which an exact assignment attains; a maximum flow is far cheaper than the
min-cost flow (OR-tools' push-relabel). Above :data:`MAX_FLOW_PAIRS` pairs a weaker bound is
given from per-part relaxations: every part's own maximum flow with *all* its schools' seats
(a global assignment restricted to a part is feasible there, so the sum of these flows, capped
by the seats and the children within reach, bounds the seated children from above). Which
bound was used is reported (``bound``: ``"max flow"`` or ``"per-part relaxation"``).

When the exact optimum is computed too (``compare_exact``), the report gives the gap in
unseated children and in travel. Parts that share no school are independent: the
decomposition is then the exact optimum. Fractional children are counted in thousandths of a
child, as the exact solver counts them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from geoequity._errors import input_error
from geoequity._options import option
from geoequity._progress import info, quiet, step
from geoequity.assignment import (
    AssignmentResult,
    PendingAssignment,
    assignment_from_flows,
    capacity_assignment,
    flow_unit,
    result_of_flows,
    start_assignment,
)
from geoequity.pairs import Pairs, as_pairs, as_series

__all__ = ["AssignmentReport", "ASSIGNMENT_MODES", "BorderAnswer", "DecompositionFigures",
           "EXACT_PAIRS", "FLOW_BYTES_PER_PAIR", "MAX_FLOW_PAIRS", "PartBand", "PartFlows",
           "PartGraph", "PendingAssign", "assign", "check_assignment_mode", "decompose_parts",
           "decomposed_assignment", "flow_pair_limit", "part_flows", "part_rounds",
           "split_parts", "start_assign", "unassigned_lower_bound"]

ASSIGNMENT_MODES = ("auto", "exact", "decomposed")
#: ``auto`` solves exactly up to this many assignment pairs (within ``assignment_max_cost``),
#: and decomposes above: the 561,000-cell province of the benchmark has 2.35 M (about 9 s of
#: CPU and under 1 GB in the min-cost flow).
EXACT_PAIRS = 5_000_000
#: Up to this many pairs the lower bound is the whole graph's maximum flow (about 0.4 s for
#: 2.35 M pairs); above it, the per-part relaxation bound.
MAX_FLOW_PAIRS = 20_000_000
#: What the whole-graph maximum flows take per pair, at most, in the one process that runs
#: them (measured on 6.03 M pairs: the augmenting paths +1,308 MB, the bound +631 MB, about
#: 217 and 105 bytes a pair; docs/scale.md), with some room
FLOW_BYTES_PER_PAIR = 250
_TOL = 1e-6


def flow_pair_limit(memory_limits) -> int:
    """The most pairs the decomposition's whole-graph maximum flows take on a cluster whose
    workers have ``memory_limits`` (bytes; 0 or None: no limit): :data:`MAX_FLOW_PAIRS`, or
    fewer when they would need more than half the smallest limit
    (:data:`FLOW_BYTES_PER_PAIR` a pair), so that the worker running them is not killed for
    its memory. Above it the bound is the per-part relaxation and no augmenting path is
    looked for (:func:`decompose_parts` says so)."""
    known = [float(m) for m in memory_limits if m]
    if not known:
        return MAX_FLOW_PAIRS
    return min(MAX_FLOW_PAIRS, int(0.5 * min(known) / FLOW_BYTES_PER_PAIR))


@dataclass(frozen=True)
class AssignmentReport:
    """How a run's assignment was solved, and how far it can be from the exact one.

    Attributes
    ----------
    mode
        ``"exact"`` or ``"decomposed"`` (what ran; ``auto`` resolved).
    pairs
        Assignment pairs (cells with children to schools with seats within ``max_cost``).
    unassigned
        Children left without a seat by this assignment.
    lower_bound
        No assignment can leave fewer children without a seat.
    bound
        ``"exact optimum"`` (the exact assignment attains it), ``"max flow"`` or
        ``"per-part relaxation"`` (see the module notes).
    cost
        Total travel of the seated children (cost units x children).
    parts, rounds
        Parts and rounds of a decomposition (0 for the exact one).
    repaired
        Children the border pass and the augmenting paths seated beyond the rounds.
    exact_unassigned, exact_cost
        The exact optimum's, when it was computed too (else None).
    """

    mode: str
    pairs: int
    unassigned: float
    lower_bound: float
    bound: str
    cost: float
    parts: int = 0
    rounds: int = 0
    repaired: float = 0.0
    exact_unassigned: float | None = None
    exact_cost: float | None = None

    @property
    def gap(self) -> float:
        """Unseated children above the lower bound (0: as many seated as possible)."""
        gap = self.unassigned - self.lower_bound
        return gap if gap > _TOL * max(1.0, self.unassigned) else 0.0

    @property
    def cost_gap(self) -> float | None:
        """Extra travel over the exact optimum (None when it was not computed)."""
        return None if self.exact_cost is None else self.cost - self.exact_cost

    def summary(self) -> dict[str, Any]:
        """The ``assignment_*`` keys of ``summary.json``."""
        out: dict[str, Any] = {
            "assignment_mode": self.mode, "assignment_pairs": self.pairs,
            "assignment_unassigned": self.unassigned,
            "assignment_lower_bound": self.lower_bound, "assignment_bound": self.bound,
            "assignment_gap": self.gap, "assignment_cost": self.cost}
        if self.mode == "decomposed":
            out.update(assignment_parts=self.parts, assignment_rounds=self.rounds,
                       assignment_repaired=self.repaired)
        if self.exact_unassigned is not None:
            out.update(assignment_exact_unassigned=self.exact_unassigned,
                       assignment_exact_cost=self.exact_cost,
                       assignment_cost_gap=self.cost_gap)
        return out

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> AssignmentReport | None:
        """The report a ``summary.json`` holds (None when the run had no assignment)."""
        if not summary or summary.get("assignment_mode") is None:
            return None
        g = summary.get
        return cls(mode=g("assignment_mode"), pairs=int(g("assignment_pairs") or 0),
                   unassigned=float(g("assignment_unassigned") or 0.0),
                   lower_bound=float(g("assignment_lower_bound") or 0.0),
                   bound=str(g("assignment_bound")), cost=float(g("assignment_cost") or 0.0),
                   parts=int(g("assignment_parts") or 0),
                   rounds=int(g("assignment_rounds") or 0),
                   repaired=float(g("assignment_repaired") or 0.0),
                   exact_unassigned=g("assignment_exact_unassigned"),
                   exact_cost=g("assignment_exact_cost"))

    def text(self, lang: str = "en") -> str:
        """One sentence for stderr and the report's notes (``lang`` ``"en"`` or ``"zh"``)."""
        if lang == "zh":
            return self._text_zh()
        if self.mode == "exact":
            return (f"capacity assignment: exact on {self.pairs:,} pairs; "
                    f"{self.unassigned:,.0f} children without a seat (the minimum)")
        if not self.pairs:   # nothing was split: say so, not "decomposed into 0 parts"
            return ("capacity assignment: nothing to decompose, no cell with children reaches "
                    f"a school with seats: {self.unassigned:,.0f} children without a seat "
                    "(the minimum)")
        s = (f"capacity assignment: decomposed into {self.parts:,} parts in {self.rounds:,} "
             f"round(s) over {self.pairs:,} pairs: {self.unassigned:,.0f} children without a "
             f"seat, exact lower bound {self.lower_bound:,.0f} ({self.bound})")
        if self.exact_unassigned is not None:
            s += (f"; the exact assignment leaves {self.exact_unassigned:,.0f}, travel "
                  f"{_pct(self.cost, self.exact_cost)} of its {self.exact_cost:,.0f}")
        return s

    def _text_zh(self) -> str:
        if self.mode == "exact":
            return (f"学位分配：在 {self.pairs:,} 个配对上精确求解；{self.unassigned:,.0f} "
                    "名儿童无学位（可能的最少值）")
        if not self.pairs:
            return ("学位分配：无需分区求解，没有有儿童的网格可达有学位的学校："
                    f"{self.unassigned:,.0f} 名儿童无学位（可能的最少值）")
        bound = {"max flow": "最大流", "per-part relaxation": "分区松弛"}.get(self.bound,
                                                                            self.bound)
        s = (f"学位分配：分为 {self.parts:,} 个部分、{self.rounds:,} 轮求解（{self.pairs:,} "
             f"个配对）：{self.unassigned:,.0f} 名儿童无学位，精确下界 {self.lower_bound:,.0f}"
             f"（{bound}）")
        if self.exact_unassigned is not None:
            s += (f"；精确分配无学位 {self.exact_unassigned:,.0f} 名，通行总成本为其 "
                  f"{_pct(self.cost, self.exact_cost)}")
        return s


def _pct(a: float, b: float | None) -> str:
    return "100%" if not b else f"{100 * a / b:.2f}%"


def check_assignment_mode(mode: str) -> str:
    """``mode`` lower-cased, or a one-line error naming the option for the caller's door."""
    key = str(mode).strip().lower()
    if key not in ASSIGNMENT_MODES:
        raise input_error(option("assignment_mode"), f"{mode!r} is not an assignment mode",
                          "use auto, exact or decomposed")
    return key


# ---------------------------------------------------------------------------- the problem
@dataclass(frozen=True)
class _Problem:
    """The assignment pairs as positions (cells with children to schools with seats)."""

    oi: np.ndarray   # cell position of each pair
    dj: np.ndarray   # school position of each pair
    c: np.ndarray    # cost of each pair
    d: np.ndarray    # children per cell
    s: np.ndarray    # seats per school
    rows: np.ndarray  # index of each pair in the coded pairs


def _live(p: Pairs, d: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Which pairs can carry flow: a cell with children to a school with seats."""
    return (d[p.origin] > 0) & (s[p.destination] > 0)


def _problem(p: Pairs, d: np.ndarray, s: np.ndarray) -> _Problem:
    keep = np.flatnonzero(_live(p, d, s))
    return _Problem(p.origin[keep], p.destination[keep], p.cost[keep], d, s, keep)


def assign(costs: pd.DataFrame | Pairs, demand: pd.Series, supply: pd.Series, *,
           max_cost: float | None = None, mode: str = "auto", parts: Any = None,
           exact_limit: int = EXACT_PAIRS, compare_exact: bool | None = None,
           client: Any = None, locality: Any = None
           ) -> tuple[AssignmentResult, AssignmentReport]:
    """The run's capacity-constrained assignment: exact, decomposed, or ``auto``.

    Parameters
    ----------
    costs, demand, supply, max_cost
        As :func:`geoequity.assignment.capacity_assignment`.
    mode
        ``"exact"`` (one min-cost flow over every pair), ``"decomposed"`` (the parts of
        ``parts``, module notes) or ``"auto"`` (exact up to ``exact_limit`` pairs, else
        decomposed).
    parts
        The part of each demand cell (same order as ``demand``), or a callable returning it
        (called only when the decomposition runs). Needed by a decomposition.
    exact_limit
        Pairs up to which ``auto`` solves exactly (:data:`EXACT_PAIRS`).
    compare_exact
        Also solve exactly to report the decomposition's gap. Default: when the pairs are
        within ``exact_limit`` (a decomposition asked for where the exact one fits).
    client
        A :class:`distributed.Client`: the parts of a round run as tasks on its workers.
    locality
        Passed to the exact solve (:func:`geoequity.assignment.capacity_assignment`): the
        cells' and schools' Hilbert keys that number the solver's nodes, or a callable
        returning them (called only when the exact solve runs).

    Returns
    -------
    (AssignmentResult, AssignmentReport)
    """
    return start_assign(costs, demand, supply, max_cost=max_cost, mode=mode, parts=parts,
                        exact_limit=exact_limit, compare_exact=compare_exact, client=client,
                        locality=locality).result()


def start_assign(costs: pd.DataFrame | Pairs, demand: pd.Series, supply: pd.Series, *,
                 max_cost: float | None = None, mode: str = "auto", parts: Any = None,
                 exact_limit: int = EXACT_PAIRS, compare_exact: bool | None = None,
                 client: Any = None, locality: Any = None,
                 elsewhere_pairs: int | None = None) -> PendingAssign:
    """:func:`assign`, started: an exact solve of at least ``elsewhere_pairs`` pairs runs
    in a child process, or on a worker of ``client``'s cluster
    (:func:`geoequity.assignment.start_assignment`) while the caller carries on; a smaller
    one is solved now; a decomposition waits for :meth:`PendingAssign.result` (``parts`` is
    called then). Always call ``cancel()`` on the way out (``with`` does)."""
    key = check_assignment_mode(mode)
    dem = as_series(demand, "demand", "children")
    sup = as_series(supply, "supply", "seats")
    p = as_pairs(costs, dem.index, sup.index,
                 threshold=None if max_cost is None else float(max_cost))
    n = int(_live(p, dem.to_numpy(), sup.to_numpy()).sum())
    if key == "auto":
        key = "exact" if n <= exact_limit else "decomposed"
    if key == "exact":
        if callable(locality):
            locality = locality()
        return PendingAssign(n, start_assignment(p, dem, sup, locality=locality,
                                                 elsewhere_pairs=elsewhere_pairs,
                                                 client=client))

    def decompose() -> tuple[AssignmentResult, AssignmentReport]:
        cells = parts() if callable(parts) else parts
        if cells is None:
            raise input_error(option("assignment_mode"), "a decomposed assignment needs the "
                              "cells' parts", "give the partition (districts, a column or "
                              "tiles)")
        return decomposed_assignment(p, dem, sup, cells,
                                     compare_exact=(n <= exact_limit if compare_exact is None
                                                    else compare_exact),
                                     repair_limit=exact_limit, client=client)

    return PendingAssign(n, decompose)


class PendingAssign:
    """An assignment started by :func:`start_assign`: :meth:`result` gives ``(result,
    report)``; :attr:`figures` says where an exact solve ran (and what it took)."""

    def __init__(self, pairs: int, job: PendingAssignment | Any) -> None:
        self._pairs = pairs
        self._job = job

    @property
    def exact(self) -> PendingAssignment | None:
        """The exact solve (None for a decomposition, which is a function to call): a
        :class:`~geoequity.assignment.PendingAssignment`, or an object with its ``result``,
        ``cancel`` and ``figures`` (a cluster run's solve on a worker)."""
        return None if callable(self._job) else self._job

    @property
    def figures(self) -> dict[str, Any]:
        return getattr(self._job, "figures", {"where": "here"})

    @property
    def columns(self) -> list | None:
        """Each piece's assignment columns where the pieces lie (futures), when the solve
        made them there (a cluster run whose workers read the cells); else None."""
        return getattr(self._job, "columns", None)

    def result(self) -> tuple[AssignmentResult, AssignmentReport]:
        if self.exact is None:
            return self._job()
        res = self._job.result()
        rep = AssignmentReport(mode="exact", pairs=self._pairs,
                               unassigned=res.totals["unassigned"],
                               lower_bound=res.totals["unassigned"], bound="exact optimum",
                               cost=res.objective)
        return res, rep

    def cancel(self) -> None:
        cancel = getattr(self._job, "cancel", None)
        if cancel is not None:
            cancel()

    def __enter__(self) -> PendingAssign:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


def decomposed_assignment(costs: pd.DataFrame | Pairs, demand: pd.Series, supply: pd.Series,
                          parts: Any, *, max_cost: float | None = None,
                          compare_exact: bool = False, repair: bool = True,
                          repair_limit: int = EXACT_PAIRS, client: Any = None
                          ) -> tuple[AssignmentResult, AssignmentReport]:
    """The assignment solved part by part in rounds, then repaired (module notes).

    Parameters
    ----------
    costs, demand, supply, max_cost
        As :func:`geoequity.assignment.capacity_assignment`.
    parts
        The part of each demand cell (array-like in the order of ``demand``, or a Series
        indexed like it): district, county, tile ...
    compare_exact
        Also solve the whole problem exactly and report the gaps.
    repair
        Run the border pass and the augmenting paths (default True; module notes).
    repair_limit
        Most pairs a border-pass problem may hold.
    client
        Optional :class:`distributed.Client`: the parts are sent to its workers and every
        step runs there (:func:`decompose_parts`).

    Returns
    -------
    (AssignmentResult, AssignmentReport)
        The flows as :func:`capacity_assignment` reports them (``status`` ``"decomposed"``),
        and the report: unseated children against the exact lower bound.
    """
    dem = as_series(demand, "demand", "children")
    sup = as_series(supply, "supply", "seats")
    p = as_pairs(costs, dem.index, sup.index,
                 threshold=None if max_cost is None else float(max_cost))
    pr = _problem(p, dem.to_numpy(np.float64), sup.to_numpy(np.float64))
    split, rows = _split(pr, _part_codes(parts, dem.index))
    if client is None:
        done, fig = decompose_parts(split, pr.s, repair=repair, repair_limit=repair_limit)
        done = [q.x for q in done]
    else:
        [seats] = client.scatter([pr.s], broadcast=True)
        done, fig = decompose_parts(client.scatter(split), pr.s, repair=repair,
                                    repair_limit=repair_limit, seats=seats,
                                    submit=partial(client.submit, pure=False),
                                    fetch=client.gather)
        # the children per pair only: the parts' other arrays are here already
        done = client.gather([client.submit(part_children, q, pure=False) for q in done])
    x = np.zeros(len(p))
    for xs, rw in zip(done, rows, strict=True):
        x[pr.rows[rw]] = xs
    res = assignment_from_flows(p, dem, sup, x, status="decomposed")
    exact_u = exact_c = None
    if compare_exact:
        with quiet():
            ex = capacity_assignment(p, dem, sup)
        exact_u, exact_c = ex.totals["unassigned"], ex.objective
    return res, fig.report(res.totals["unassigned"], res.objective, exact_u, exact_c)


def _part_codes(parts: Any, index: pd.Index) -> np.ndarray:
    if isinstance(parts, pd.Series) and not parts.index.equals(index):
        parts = parts.reindex(index)
    arr = np.asarray(parts, dtype=object)
    if arr.shape != (len(index),):
        raise input_error("parts", f"{arr.size} part labels for {len(index)} cells",
                          "give one part per demand cell")
    codes, _ = pd.factorize(pd.Series(arr).astype(str), sort=True)
    return codes.astype(np.intp)


def _split(pr: _Problem, codes: np.ndarray) -> tuple[list[PartFlows], list[np.ndarray]]:
    """``pr`` as one :class:`PartFlows` per part code (its cells numbered by their
    positions), and each part's pairs' rows in ``pr``."""
    n_parts = int(codes.max()) + 1 if len(codes) else 0
    by_cell = np.argsort(codes, kind="stable")
    cstart = np.searchsorted(codes[by_cell], np.arange(n_parts + 1))
    part_of = codes[pr.oi]
    by_pair = np.argsort(part_of, kind="stable")
    pstart = np.searchsorted(part_of[by_pair], np.arange(n_parts + 1))
    out, rows = [], []
    for q in range(n_parts):
        cells = by_cell[cstart[q]:cstart[q + 1]]   # ascending positions
        rw = by_pair[pstart[q]:pstart[q + 1]]
        # grouped by cell, ascending (PartFlows' order: part_band and _merged take it), each
        # cell's pairs in the table's order: a cost table need not come grouped by origin
        rw = rw[np.argsort(pr.oi[rw], kind="stable")]
        oi = np.searchsorted(cells, pr.oi[rw])
        out.append(PartFlows(cells.astype(np.int64), pr.d[cells], oi, pr.dj[rw], pr.c[rw],
                             np.zeros(len(rw))))
        rows.append(rw)
    return out, rows


def split_parts(costs: pd.DataFrame | Pairs, demand: pd.Series, supply: pd.Series,
                parts: Any, *, max_cost: float | None = None
                ) -> tuple[list[PartFlows], np.ndarray]:
    """The problem of :func:`decomposed_assignment` as its parts (:class:`PartFlows`, in the
    order of the parts' keys; each cell's key its position among ``demand``) and the seats
    per school: what :func:`decompose_parts` takes."""
    dem = as_series(demand, "demand", "children")
    sup = as_series(supply, "supply", "seats")
    p = as_pairs(costs, dem.index, sup.index,
                 threshold=None if max_cost is None else float(max_cost))
    pr = _problem(p, dem.to_numpy(np.float64), sup.to_numpy(np.float64))
    return _split(pr, _part_codes(parts, dem.index))[0], pr.s


# ---------------------------------------------------------------------------- rounds
def part_rounds(part_of_pair: np.ndarray, school_of_pair: np.ndarray, n_parts: int
                ) -> dict[int, int]:
    """The round of each part (that has pairs): parts in the order of their codes, each in
    the first round where no part shares a school with it (a greedy colouring of the graph
    of parts sharing schools)."""
    if not len(part_of_pair):
        return {}
    order = np.lexsort((school_of_pair, part_of_pair))
    ps, ss = part_of_pair[order], school_of_pair[order]
    first = np.ones(len(ps), dtype=bool)
    first[1:] = (ps[1:] != ps[:-1]) | (ss[1:] != ss[:-1])
    ps, ss = ps[first], ss[first]
    bounds = np.searchsorted(ps, np.arange(n_parts + 1))
    used: dict[int, set[int]] = {}   # school -> rounds that use it
    rounds: dict[int, int] = {}
    for part in range(n_parts):
        schools = ss[bounds[part]:bounds[part + 1]]
        if not len(schools):
            continue
        taken: set[int] = set()
        for j in schools.tolist():
            taken |= used.get(j, set())
        r = 0
        while r in taken:
            r += 1
        rounds[part] = r
        for j in schools.tolist():
            used.setdefault(j, set()).add(r)
    return rounds


def solve_part(oi: np.ndarray, dj: np.ndarray, c: np.ndarray, d: np.ndarray,
               s: np.ndarray) -> np.ndarray:
    """Children per pair of one sub-problem, exact (seats first, then travel): ``oi``/``dj``
    index ``d`` (children) and ``s`` (seats). A plain function of arrays, so it can run on a
    worker."""
    if not len(oi):
        return np.zeros(0)
    sub = Pairs(oi.astype(np.intp), dj.astype(np.intp), c.astype(np.float64),
                pd.RangeIndex(len(d)), pd.RangeIndex(len(s)))
    with quiet():
        res = capacity_assignment(sub, pd.Series(d, index=sub.origins),
                                  pd.Series(s, index=sub.destinations))
    f = res.flows
    key = oi.astype(np.int64) * len(s) + dj
    order = np.argsort(key)
    at = order[np.searchsorted(key[order], f["origin"].to_numpy(np.int64) * len(s)
                               + f["destination"].to_numpy(np.int64))]
    x = np.zeros(len(oi))
    x[at] = f["children"].to_numpy(np.float64)
    return x


# ---------------------------------------------------------------------------- the parts
@dataclass(frozen=True)
class PartFlows:
    """One part of a decomposed assignment, where it lies (this process, or the cluster's
    worker that computed its pairs): its cells and pairs, and the children on each pair so
    far. Every step of the decomposition takes and gives these (:func:`decompose_parts`), so
    an in-process run and a cluster run take the same steps on the same arrays.

    Attributes
    ----------
    ids
        The cells' keys, ascending, in the run's order of the cells (their positions in
        process, a raster's cell ids on a cluster): the parts' cells merged by them are
        numbered as one process numbers them.
    d
        Children per cell.
    oi, dj, c
        Cell (index into ``ids``), school (position among the run's schools) and cost of
        each pair from a cell with children to a school with seats within the assignment's
        ``max_cost``; grouped by cell (ascending), each cell's in the cost table's order.
    x
        Children per pair.
    near
        Each cell's nearest school within the assignment's ``max_cost`` (a position; -1:
        none), for the schools' ``overflow`` (:func:`part_result`); None where not needed.
    """

    ids: np.ndarray
    d: np.ndarray
    oi: np.ndarray
    dj: np.ndarray
    c: np.ndarray
    x: np.ndarray
    near: np.ndarray | None = None


def part_flows(ids: np.ndarray, d: np.ndarray, origin: np.ndarray, destination: np.ndarray,
               cost: np.ndarray, s: np.ndarray, max_cost: float,
               near: np.ndarray | None = None) -> PartFlows:
    """A part's :class:`PartFlows` from its cells (``ids``, children ``d``) and cost pairs
    (``origin`` indexing them, grouped by cell in the cost table's order; ``destination`` a
    school position): the pairs within ``max_cost`` from a cell with children to a school
    with seats ``s``, no children on them yet."""
    d = np.asarray(d, dtype=np.float64)
    keep = (cost <= max_cost) & (d[origin] > 0) & (s[destination] > 0)
    return PartFlows(np.asarray(ids), d, origin[keep].astype(np.intp),
                     destination[keep].astype(np.intp), cost[keep].astype(np.float64),
                     np.zeros(int(keep.sum())), near)


@dataclass(frozen=True)
class PartReach:
    """What the rounds and the bound need of a part (:func:`part_reach`)."""

    schools: np.ndarray   # the schools its pairs reach (positions, ascending)
    pairs: int
    children: float       # all its cells'
    within: float         # its cells' with at least one pair


def part_reach(part: PartFlows) -> PartReach:
    cells = np.unique(part.oi)
    return PartReach(np.unique(part.dj), len(part.oi), float(part.d.sum()),
                     float(part.d[cells].sum()))


def part_unseated(part: PartFlows) -> float:
    """Children of the part left without a seat."""
    got = np.bincount(part.oi, weights=part.x, minlength=len(part.d))
    return float(np.sum(part.d - np.minimum(got, part.d)))


def part_children(part: PartFlows) -> np.ndarray:
    """The children on each of the part's pairs."""
    return part.x


def solve_round_part(part: PartFlows, residual: np.ndarray) -> PartFlows:
    """The part solved exactly (:func:`solve_part`) against the seats the earlier rounds
    left (``residual``, per school)."""
    if not len(part.oi):
        return part
    cells, oi = np.unique(part.oi, return_inverse=True)
    schools, dj = np.unique(part.dj, return_inverse=True)
    return replace(part, x=solve_part(oi, dj, part.c, part.d[cells], residual[schools]))


def part_seats(part: PartFlows, n_s: int) -> np.ndarray:
    """Children the part seats per school (a task where the part lies: only this array
    of the schools' length crosses)."""
    return np.bincount(part.dj, weights=part.x, minlength=n_s)


def residual_after(residual: np.ndarray, *used: np.ndarray) -> np.ndarray:
    """The seats a round's parts leave of ``residual`` (``used``: each one's
    :func:`part_seats`)."""
    out = residual.copy()
    for u in used:
        out -= u
    return _seats_left(out)


def _seats_left(seats: np.ndarray) -> np.ndarray:
    """Seats left, rounded to a billionth of a seat: the solvers count thousandths, and the
    rest is the floating-point noise of the sums (a full school left 6e-14 seats would keep
    its pairs in the next problem: the graph, and the solver's ties, would change with the
    order of the sums)."""
    return np.round(np.clip(seats, 0.0, None), 9)


def seats_used(n_s: int, *used: np.ndarray) -> np.ndarray:
    """Children seated per school by the parts (``used``: each one's :func:`part_seats`)."""
    out = np.zeros(n_s)
    for u in used:
        out += u
    return out


@dataclass(frozen=True)
class PartBand:
    """A part's cells that reach a school another part reaches too, with all their pairs
    (``rows``: their indexes in the part's): :func:`part_band`."""

    ids: np.ndarray
    d: np.ndarray
    counts: np.ndarray   # pairs per cell
    rows: np.ndarray
    dj: np.ndarray
    c: np.ndarray
    x: np.ndarray


def part_band(part: PartFlows, shared: np.ndarray) -> PartBand:
    """The part's cells with a pair to a school of ``shared``, and all their pairs."""
    cells = np.unique(part.oi[np.isin(part.dj, shared)])
    lo = np.searchsorted(part.oi, cells)
    hi = np.searchsorted(part.oi, cells, side="right")
    counts = hi - lo
    rows = (np.repeat(lo - np.r_[0, np.cumsum(counts)[:-1]], counts)
            + np.arange(int(counts.sum()))) if len(cells) else np.zeros(0, dtype=np.intp)
    return PartBand(part.ids[cells], part.d[cells], counts, rows, part.dj[rows], part.c[rows],
                 part.x[rows])


@dataclass(frozen=True)
class BorderAnswer:
    """A border problem's answer (:func:`resolve_bands`): the new children on each band's
    pairs (None: the old answer stays), and the children seated per school after it."""

    x: tuple | None
    rows: tuple
    used: np.ndarray


def resolve_bands(a: PartBand, b: PartBand, used: np.ndarray, s: np.ndarray, limit: int
                  ) -> BorderAnswer:
    """Re-solve two parts' bands together, exactly, against the seats every other pair
    leaves (``s`` less ``used``, plus what the bands hold): the cells merged in the run's
    order, as one problem of ``limit`` pairs at most. The current answer is one of its
    solutions; the new one is kept only when it seats more, or as many for less travel."""
    ids = np.concatenate([a.ids, b.ids])
    counts = np.concatenate([a.counts, b.counts])
    order = np.argsort(ids, kind="stable")
    rank = np.empty(len(ids), dtype=np.intp)
    rank[order] = np.arange(len(ids))
    cell = rank[np.repeat(np.arange(len(ids)), counts)]
    perm = np.argsort(cell, kind="stable")   # the pairs grouped by cell in the run's order
    oi = cell[perm]
    dj = np.concatenate([a.dj, b.dj])[perm]
    c = np.concatenate([a.c, b.c])[perm]
    old = np.concatenate([a.x, b.x])[perm]
    rows = (a.rows, b.rows)
    if not len(oi) or len(oi) > limit:
        return BorderAnswer(None, rows, used)
    n_s = len(s)
    held = np.bincount(dj, weights=old, minlength=n_s)
    seats = _seats_left(s - used + held)
    schools, j = np.unique(dj, return_inverse=True)
    new = solve_part(oi, j, c, np.concatenate([a.d, b.d])[order], seats[schools])
    if not (new.sum() > old.sum() + _TOL
            or (new.sum() >= old.sum() - _TOL and new @ c < old @ c)):
        return BorderAnswer(None, rows, used)
    back = np.empty(len(new))
    back[perm] = new
    return BorderAnswer((back[:len(a.rows)], back[len(a.rows):]), rows,
                     used - held + np.bincount(dj, weights=new, minlength=n_s))


def resolved_used(r: BorderAnswer) -> np.ndarray:
    return r.used


def apply_band(part: PartFlows, r: BorderAnswer, which: int) -> PartFlows:
    """The part with its band's new children (``which``: 0 the first band, 1 the second)."""
    if r.x is None:
        return part
    x = part.x.copy()
    x[r.rows[which]] = r.x[which]
    return replace(part, x=x)


@dataclass(frozen=True)
class PartGraph:
    """What the whole-graph steps take of a part (:func:`part_graph`): its cells' keys and
    children, and its pairs' cells, schools and children (no costs: a maximum flow needs
    none), in 32-bit positions: the least that crosses to the one worker that merges them."""

    ids: np.ndarray
    d: np.ndarray
    oi: np.ndarray
    dj: np.ndarray
    x: np.ndarray


def part_graph(part: PartFlows) -> PartGraph:
    return PartGraph(part.ids, part.d, part.oi.astype(np.int32), part.dj.astype(np.int32),
                     part.x)


def _merged(parts: tuple) -> tuple[_Problem, np.ndarray, list[np.ndarray]]:
    """The parts (:class:`PartGraph`) as one problem, the cells numbered in the run's order
    (their ids), each cell's pairs in their order: what one process holds (no costs). Also
    the children on each pair and each part's pairs' places in it."""
    ids = np.concatenate([p.ids for p in parts]) if parts else np.zeros(0, np.int64)
    order = np.argsort(ids, kind="stable")
    rank = np.empty(len(ids), dtype=np.intp)
    rank[order] = np.arange(len(ids))
    ends = np.cumsum([0, *(len(p.ids) for p in parts)])
    d = np.concatenate([p.d for p in parts])[order] if parts else np.zeros(0)
    del order
    cells = [rank[ends[i]:ends[i + 1]][p.oi].astype(np.int32) for i, p in enumerate(parts)]
    del rank
    counts = np.bincount(np.concatenate(cells), minlength=len(ids)) if parts else np.zeros(0)
    starts = np.cumsum(counts) - counts
    total = int(counts.sum())
    # 32-bit positions (a part's cells are far fewer than 2**31): half the merged graph
    oi, dj = np.empty(total, dtype=np.int32), np.empty(total, dtype=np.int32)
    x = np.empty(total)
    at_all = []
    for p, o in zip(parts, cells, strict=True):
        brk = np.r_[0, np.flatnonzero(np.diff(p.oi)) + 1] if len(o) else np.zeros(0, np.intp)
        run = np.arange(len(o)) - np.repeat(brk, np.diff(np.r_[brk, len(o)]))
        at = starts[o] + run
        oi[at], dj[at], x[at] = o, p.dj, p.x
        at_all.append(at)
    del cells
    return _Problem(oi, dj, np.zeros(0), d, np.zeros(0), np.zeros(0, np.intp)), x, at_all


def augmented_flows(s: np.ndarray, limit: int, *parts: PartGraph) -> list[np.ndarray] | None:
    """The augmenting paths (:func:`_augment`, up to ``limit`` pairs) over all the parts at
    once, merged as one process holds them: each part's new children per pair (None:
    nothing moved)."""
    pr, x, at = _merged(parts)
    if not _augment(replace(pr, s=s), x, limit):
        return None
    return [x[a] for a in at]


def flows_of(flows: list[np.ndarray] | None, i: int) -> np.ndarray | None:
    """Part ``i``'s children of :func:`augmented_flows` (None: nothing moved)."""
    return None if flows is None else flows[i]


def with_flows(part: PartFlows, x: np.ndarray | None) -> PartFlows:
    """The part with its children of :func:`augmented_flows` (:func:`flows_of`; as it
    was: None)."""
    return part if x is None else replace(part, x=x)


def merged_bound(s: np.ndarray, *parts: PartGraph) -> float:
    """Children minus the maximum flow of all the parts' pairs at once (the exact lower
    bound of the unseated children)."""
    pr, _, _ = _merged(parts)
    return unassigned_lower_bound(pr.oi, pr.dj, pr.d, s)[0]   # (no parts: the max flow)


def part_max_flow(part: PartFlows, s: np.ndarray) -> float:
    """The part's own maximum flow with all its schools' seats (the relaxation bound's
    term)."""
    if not len(part.oi):
        return 0.0
    cells, o = np.unique(part.oi, return_inverse=True)
    schools, j = np.unique(part.dj, return_inverse=True)
    return _max_flow(o, j, part.d[cells], s[schools])


def _relaxation(children: float, flows: float, reach_children: float, reach_seats: float
                ) -> float:
    """The per-part relaxation bound: a global assignment restricted to a part is feasible
    there, so the parts' own flows, capped by the seats and children within reach, bound
    the seated children from above."""
    return max(children - min(flows, reach_children, reach_seats), 0.0)


@dataclass
class DecompositionFigures:
    """What :func:`decompose_parts` did (the :class:`AssignmentReport`'s figures but the
    answer's own)."""

    pairs: int
    parts: int
    rounds: int
    lower_bound: float
    bound: str
    before: float    # unseated after the rounds
    after: float     # unseated after the repairs

    def report(self, unassigned: float, cost: float, exact_unassigned: float | None = None,
               exact_cost: float | None = None) -> AssignmentReport:
        return AssignmentReport(
            mode="decomposed", pairs=self.pairs, unassigned=unassigned,
            lower_bound=float(self.lower_bound), bound=self.bound, cost=cost,
            parts=self.parts, rounds=self.rounds,
            repaired=max(self.before - self.after, 0.0), exact_unassigned=exact_unassigned,
            exact_cost=exact_cost)


def _sizeof_arrays(obj) -> int:
    """The bytes of a part's arrays (dask's ``sizeof``: its memory accounting and where it
    runs a task go by it; a dataclass otherwise counts 56 bytes)."""
    import dataclasses

    return 64 + sum(getattr(v, "nbytes", 0) for v in
                    (getattr(obj, f.name) for f in dataclasses.fields(obj)))


try:
    from dask.sizeof import sizeof as _dask_sizeof
except ImportError:   # pragma: no cover - dask not installed
    pass
else:
    for _cls in (PartFlows, PartBand, PartGraph):
        _dask_sizeof.register(_cls)(_sizeof_arrays)


def _here(fn, *args, **kwargs):
    return fn(*args, **kwargs)


def _as_list(values: list) -> list:
    return list(values)


def decompose_parts(parts: list, s: np.ndarray, *, repair: bool = True,
                    repair_limit: int = EXACT_PAIRS, flow_limit: int = MAX_FLOW_PAIRS,
                    submit=_here, fetch=_as_list, seats: Any = None
                    ) -> tuple[list, DecompositionFigures]:
    """The decomposition's steps (module notes) over ``parts`` in the order of their keys:
    the rounds, the border pass, the bound and the augmenting paths.

    ``parts`` are :class:`PartFlows`, or futures of them on a dask cluster with ``submit``
    its client's (every step then runs where the parts lie; the schools' seats per school
    are all that crosses between the steps) and ``fetch`` its ``gather``. By default each
    step runs here, in the same order, on the same arrays: the same answer. ``seats``: what
    the steps are given for ``s`` (``s`` itself by default; on a cluster, ``s`` sent to the
    workers once).

    Returns the parts with their children (as given: values or futures) and the figures.
    """
    n_s = len(s)
    sent = s if seats is None else seats
    reach = fetch([submit(part_reach, p) for p in parts])
    n_pairs = sum(r.pairs for r in reach)
    part_of = np.concatenate([np.full(len(r.schools), q, dtype=np.intp)
                              for q, r in enumerate(reach)]) if reach else np.zeros(0, np.intp)
    school_of = (np.concatenate([r.schools for r in reach]) if reach
                 else np.zeros(0, np.intp))
    rounds = part_rounds(part_of, school_of, len(parts))
    n_rounds = max(rounds.values()) + 1 if rounds else 0
    children = float(sum(r.children for r in reach))
    parts = list(parts)
    if n_pairs > flow_limit:
        why = ("MAX_FLOW_PAIRS" if flow_limit >= MAX_FLOW_PAIRS
               else "what the smallest worker's memory holds")
        info(f"  {n_pairs:,} pairs: more than the {flow_limit:,} the whole-graph maximum flows "
             f"take ({why}), so the lower bound is the per-part relaxation and no "
             "augmenting path is looked for")
    # the bound first: on a cluster it is found while the rounds are solved
    if n_pairs <= flow_limit:
        bound_job = submit(merged_bound, sent, *(submit(part_graph, p) for p in parts))
        kind = "max flow"
    else:
        bound_job, kind = [submit(part_max_flow, p, sent) for p in parts], "per-part relaxation"
    with step(f"capacity assignment in {n_rounds} round(s) of {len(rounds)} part(s) "
              f"({n_pairs:,} pairs)"):
        residual = s.astype(np.float64)
        for r in range(n_rounds):
            members = [q for q, rr in rounds.items() if rr == r]
            for q in members:
                parts[q] = submit(solve_round_part, parts[q], residual)
            residual = submit(residual_after, residual,
                              *(submit(part_seats, parts[q], n_s) for q in members))
        before = sum(fetch([submit(part_unseated, p) for p in parts]))
    if kind == "max flow":
        [bound] = fetch([bound_job])
    else:
        reach_s = float(s[np.unique(school_of)].sum())
        bound = _relaxation(children, float(sum(fetch(bound_job))),
                            float(sum(r.within for r in reach)), reach_s)
    after = before
    if repair:
        with step("re-solving the borders of parts that share schools, two by two"):
            used = submit(seats_used, n_s, *(submit(part_seats, p, n_s) for p in parts))
            for (a, b), shared in _edges(part_of, school_of, n_s):
                band_a = submit(part_band, parts[a], shared)
                band_b = submit(part_band, parts[b], shared)
                resolved = submit(resolve_bands, band_a, band_b, used, sent, repair_limit)
                used = submit(resolved_used, resolved)
                parts[a] = submit(apply_band, parts[a], resolved, 0)
                parts[b] = submit(apply_band, parts[b], resolved, 1)
            after = sum(fetch([submit(part_unseated, p) for p in parts]))
        if after > bound + _TOL and n_pairs <= flow_limit:
            with step("seating the children left over along augmenting paths (a max flow)"):
                moved = submit(augmented_flows, sent, flow_limit,
                               *(submit(part_graph, p) for p in parts))
                # each part's slice cut where the paths were found: only it crosses, and
                # each part stays where it lies
                parts = [submit(with_flows, p, submit(flows_of, moved, i))
                         for i, p in enumerate(parts)]
                after = sum(fetch([submit(part_unseated, p) for p in parts]))
    return parts, DecompositionFigures(n_pairs, len(rounds), n_rounds, float(bound), kind,
                                       before, after)


def _edges(part_of: np.ndarray, school_of: np.ndarray, n_s: int) -> list:
    """The pairs of parts sharing a school, in the order of their codes, each with the
    schools both reach (positions)."""
    key = np.unique(part_of.astype(np.int64) * n_s + school_of)   # (part, school) reached
    part_s, school_s = key // n_s, key % n_s
    by_school = np.argsort(school_s, kind="stable")
    sb = np.searchsorted(school_s[by_school], np.arange(n_s + 1))
    reach: dict[tuple[int, int], list[int]] = {}
    for j in np.flatnonzero(np.diff(sb) > 1).tolist():
        ps = part_s[by_school[sb[j]:sb[j + 1]]].tolist()
        for i, a in enumerate(ps):
            for b in ps[i + 1:]:
                reach.setdefault((a, b), []).append(j)
    return [(edge, np.asarray(reach[edge], dtype=np.intp)) for edge in sorted(reach)]


def part_result(part: PartFlows, s: np.ndarray, schools: pd.Index) -> AssignmentResult:
    """The part's :class:`~geoequity.assignment.AssignmentResult` (its cells, indexed by
    their ids; the schools' columns count its children only): what
    :func:`combine_results` adds up."""
    used = part.x > 0
    near = part.near if part.near is not None else np.full(len(part.d), -1, dtype=np.intp)
    with quiet():
        return result_of_flows(pd.Series(part.d, index=pd.Index(part.ids)),
                               pd.Series(s, index=schools), near, part.oi[used],
                               part.dj[used], part.c[used], part.x[used],
                               status="decomposed", unassigned_cost=float("nan"))


# ---------------------------------------------------------------------------- repair
def _augment(pr: _Problem, x: np.ndarray, limit: int = MAX_FLOW_PAIRS) -> bool:
    """Raise the seated children to the maximum: a maximum flow on the residual graph of
    ``x`` (source -> cells with unseated children -> schools they reach, or back from a
    school to a cell seated there -> schools with spare seats -> sink) gives the augmenting
    paths; ``x`` moves along them only. False when the graph has more than
    ``limit`` pairs or OR-tools is missing (nothing done)."""
    try:
        from ortools.graph.python import max_flow
    except ImportError:
        return False
    if len(pr.oi) > limit:
        return False
    n_o, n_s = len(pr.d), len(pr.s)
    unit = flow_unit(pr.d, pr.s)
    di = np.floor(pr.d * unit + 1e-9).astype(np.int64)
    si = np.floor(pr.s * unit + 1e-9).astype(np.int64)
    xi = np.round(x * unit).astype(np.int64)
    got = np.bincount(pr.oi, weights=xi, minlength=n_o).astype(np.int64)
    used = np.bincount(pr.dj, weights=xi, minlength=n_s).astype(np.int64)
    src, snk = n_o + n_s, n_o + n_s + 1
    n_p = len(pr.oi)
    oi32, dj32 = pr.oi.astype(np.int32), (n_o + pr.dj).astype(np.int32)
    tails = np.concatenate([np.full(n_o, src, dtype=np.int32), oi32, dj32,
                            np.arange(n_o, n_o + n_s, dtype=np.int32)])
    heads = np.concatenate([np.arange(n_o, dtype=np.int32), dj32, oi32,
                            np.full(n_s, snk, dtype=np.int32)])
    del oi32, dj32
    caps = np.concatenate([np.clip(di - got, 0, None), np.clip(di[pr.oi] - xi, 0, None), xi,
                           np.clip(si - used, 0, None)])
    mf = max_flow.SimpleMaxFlow()
    mf.add_arcs_with_capacity(tails, heads, caps)
    del tails, heads, caps   # (copied into the solver's graph)
    if mf.solve(src, snk) != mf.OPTIMAL:
        return False
    f = np.asarray(mf.flows(np.arange(n_o, n_o + 2 * n_p)), dtype=np.int64)
    x[:] = (xi + f[:n_p] - f[n_p:]) / unit
    return True


# ---------------------------------------------------------------------------- bounds
def unassigned_lower_bound(oi: np.ndarray, dj: np.ndarray, d: np.ndarray, s: np.ndarray, *,
                           parts: np.ndarray | None = None, limit: int = MAX_FLOW_PAIRS
                           ) -> tuple[float, str]:
    """The fewest children any assignment leaves without a seat, and how it was found.

    Up to ``limit`` pairs: children minus the maximum flow of the whole bipartite graph
    (``"max flow"``: exact, an exact assignment attains it). Above: children minus the sum
    of the parts' own maximum flows with all their schools' seats, capped by the seats and
    the children within reach (``"per-part relaxation"``: a valid bound, lower).

    Parameters
    ----------
    oi, dj
        Cell and school position of each pair (cells with children, schools with seats).
    d, s
        Children per cell, seats per school.
    parts
        Part code per cell (for the relaxation above ``limit``).
    """
    children = float(np.sum(d))
    if len(oi) <= limit or parts is None:
        return max(children - _max_flow(oi, dj, d, s), 0.0), "max flow"
    reach_c = float(np.sum(d[np.unique(oi)]))
    reach_s = float(np.sum(s[np.unique(dj)]))
    part_of = parts[oi]
    order = np.argsort(part_of, kind="stable")
    bounds = np.searchsorted(part_of[order], np.arange(int(parts.max()) + 2))
    total = 0.0
    for q in range(int(parts.max()) + 1):
        rows = order[bounds[q]:bounds[q + 1]]
        if len(rows):
            cells, o = np.unique(oi[rows], return_inverse=True)
            schools, j = np.unique(dj[rows], return_inverse=True)
            total += _max_flow(o, j, d[cells], s[schools])
    return _relaxation(children, total, reach_c, reach_s), "per-part relaxation"


def _max_flow(oi: np.ndarray, dj: np.ndarray, d: np.ndarray, s: np.ndarray) -> float:
    """The maximum flow source -> cells (children) -> schools (pairs) -> sink (seats).

    Fractional children and seats are counted in thousandths of a child, rounded down, as
    the min-cost flow of :func:`geoequity.assignment.capacity_assignment` counts them: the
    bound is the one of every assignment that solver can give (an exact run attains it)."""
    if not len(oi):
        return 0.0
    unit = flow_unit(d, s)
    di = np.floor(d * unit + 1e-9).astype(np.int64)
    si = np.floor(s * unit + 1e-9).astype(np.int64)
    n_o, n_s = len(d), len(s)
    src, snk = n_o + n_s, n_o + n_s + 1
    # the arcs' ends in 32 bits, made so (not cast from 64): the graph is the largest thing
    # one process holds in a decomposition (the bound over the whole province's pairs)
    tails = np.concatenate([np.full(n_o, src, dtype=np.int32), oi.astype(np.int32),
                            np.arange(n_o, n_o + n_s, dtype=np.int32)])
    heads = np.concatenate([np.arange(n_o, dtype=np.int32), (n_o + dj).astype(np.int32),
                            np.full(n_s, snk, dtype=np.int32)])
    caps = np.concatenate([di, di[oi], si])
    try:
        from ortools.graph.python import max_flow
    except ImportError:
        return _max_flow_scipy(tails, heads, caps, src, snk) / unit
    mf = max_flow.SimpleMaxFlow()
    mf.add_arcs_with_capacity(tails, heads, caps)
    del tails, heads, caps   # (copied into the solver's graph)
    status = mf.solve(src, snk)
    if status != mf.OPTIMAL:
        info(f"capacity assignment: the maximum flow stopped ({status}); bound from seats")
        return float(min(d.sum(), s.sum()))
    return mf.optimal_flow() / unit


def _max_flow_scipy(tails, heads, caps, src, snk) -> float:
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import maximum_flow

    n = int(max(src, snk)) + 1
    g = csr_array((caps.astype(np.int32), (tails, heads)), shape=(n, n))
    return float(maximum_flow(g, int(src), int(snk)).flow_value)
