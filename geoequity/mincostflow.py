"""The exact assignment's min-cost flow on plain arrays, wherever it runs.

:func:`solve_flows` is the one solve of :func:`geoequity.assignment.capacity_assignment`
with OR-tools: the same function runs in the calling process, in a child process (this file
run as a script: :class:`ChildSolve`) or as a task on a worker of a dask cluster. It takes
and returns numpy arrays only, and this module imports nothing but numpy, OR-tools and the
standard library, so a child starts in about 0.3 s of CPU (no pandas, no geopandas).

OR-tools' ``SimpleMinCostFlow.solve`` holds the GIL for its whole run (6-7 s on a province of
2.35 M pairs), so a thread cannot overlap it with other work; a second process can. The same
arrays give the solver the same arcs in the same order, so the flows are the same wherever it
runs.

The child's protocol, on its stdin and stdout: a JSON header line (the arrays' names, dtypes
and shapes, and the scalar arguments), then the arrays' bytes; back, a JSON line
(``{"problem": ""}``, or the solver's status, or an error) then the flows' bytes (float64).
The child writes no file, ignores Ctrl-C (the parent stops it) and dies with its parent
(Linux ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from typing import Any, BinaryIO

import numpy as np

__all__ = ["ChildSolve", "solve_beside", "solve_flows", "solve_problem"]

#: The arrays :func:`solve_flows` takes, in order, then its scalars.
ARRAYS = ("oi", "dj", "c", "d", "s", "node", "school")
SCALARS = ("penalty", "lexicographic")


def flow_unit(d: np.ndarray, s: np.ndarray) -> float:
    """The min-cost flow's integer unit: whole children and seats, or thousandths when any
    count is fractional."""
    return 1.0 if np.all(d == np.round(d)) and np.all(s == np.round(s)) else 1000.0


def solve_flows(oi: np.ndarray, dj: np.ndarray, c: np.ndarray, d: np.ndarray, s: np.ndarray,
                node: np.ndarray, school: np.ndarray, penalty: float,
                lexicographic: bool) -> tuple[np.ndarray, str]:
    """Min-cost flow on source -> cells -> schools -> sink (OR-tools cost scaling).

    Parameters
    ----------
    oi, dj, c
        Cell position, school position and cost of each pair (at least one pair).
    d, s
        Children per cell, seats per school.
    node, school
        The solver node of each cell (after the source and the sink) and of each school
        (after the cells), e.g. along a Hilbert curve: neighbours in space are neighbours in
        the solver's arrays (the same problem, solved faster).
    penalty
        Cost of an unseated child (cost units).
    lexicographic
        Seat as many children as possible first (max flow with min cost), ignoring
        ``penalty``.

    Returns
    -------
    (flows, problem)
        Children per pair, and ``""`` when the solver found the optimum (else its status,
        and no flows).
    """
    from ortools.graph.python import min_cost_flow

    n_o, n_s = len(d), len(s)
    unit = flow_unit(d, s)
    di = np.floor(d * unit + 1e-9).astype(np.int64)
    si = np.floor(s * unit + 1e-9).astype(np.int64)
    cmax = max(float(c.max()), 1e-12)
    k = 1e7 / cmax
    ci = np.round(c * k).astype(np.int64)
    src, snk, off_o, off_s = 0, 1, 2, 2 + n_o
    tails = [np.full(n_o, src), off_o + node[oi], off_s + school]
    heads = [off_o + node, off_s + school[dj], np.full(n_s, snk)]
    caps = [di, di[oi], si]
    costs = [np.zeros(n_o, np.int64), ci, np.zeros(n_s, np.int64)]
    total = int(di.sum())
    pen_i = int(round(penalty * k))
    if not lexicographic and pen_i * max(total, 1) > 4e18:
        lexicographic = True  # the penalty exceeds any path: same as seats-first
    if not lexicographic:  # an unseated child costs the penalty: cell -> sink arcs
        tails.append(off_o + node)
        heads.append(np.full(n_o, snk))
        caps.append(di)
        costs.append(np.full(n_o, pen_i, np.int64))
    mcf = min_cost_flow.SimpleMinCostFlow()
    mcf.add_arcs_with_capacity_and_unit_cost(
        np.concatenate(tails).astype(np.int32), np.concatenate(heads).astype(np.int32),
        np.concatenate(caps), np.concatenate(costs))
    del tails, heads, caps, costs
    mcf.set_nodes_supplies(np.array([src, snk], dtype=np.int32),
                           np.array([total, -total], dtype=np.int64))
    status = mcf.solve_max_flow_with_min_cost() if lexicographic else mcf.solve()
    if status != mcf.OPTIMAL:
        return np.zeros(0), str(status)
    flows = mcf.flows(np.arange(n_o, n_o + len(oi)))
    return np.asarray(flows, dtype=np.float64) / unit, ""


def solve_problem(arrays: dict[str, np.ndarray], scalars: dict[str, Any]
                  ) -> tuple[np.ndarray, str]:
    """:func:`solve_flows` of the arrays (:data:`ARRAYS`) and scalars (:data:`SCALARS`) held
    in two dicts: the form a cluster's task takes (the arrays scattered as one object)."""
    return solve_flows(**{k: arrays[k] for k in ARRAYS}, **{k: scalars[k] for k in SCALARS})


def solve_beside(arrays: dict[str, np.ndarray], scalars: dict[str, Any],
                 figures: dict | None = None, *, popen=None) -> tuple[np.ndarray, str]:
    """:func:`solve_problem` in a child process (:class:`ChildSolve`), this thread waiting
    for it without the GIL. On a dask worker the task leaves the worker's thread pool while
    it waits (``distributed.secede``, then ``rejoin``): the worker runs its other tasks and
    serves its data meanwhile, where a solve in the worker would hold its only thread and
    its GIL for the whole solve. A child that dies or fails: solved here instead (the same
    answer). ``figures``, when given, gets the child's CPU seconds and peak MB; ``popen``
    as :class:`ChildSolve`'s."""
    child = ChildSolve(arrays, scalars, popen=popen)
    left = _leave_worker_pool()
    try:
        got = child.result()
    finally:
        child.stop()
        if left:
            from distributed import rejoin

            rejoin()
    if got is None:
        return solve_problem(arrays, scalars)
    if figures is not None:
        figures.update(child.figures)
    return got


def _leave_worker_pool() -> bool:
    """Leave the thread pool of the dask worker running this task (True), or nothing when
    not on a worker (False). Imported here: the child never needs distributed."""
    try:
        from distributed import get_worker, secede

        get_worker()
    except (ImportError, ValueError):   # not in a worker's task
        return False
    secede()
    return True


# ---------------------------------------------------------------------------- the child
class ChildSolve:
    """:func:`solve_flows` in a child process: started at once (the child imports numpy and
    OR-tools while the arrays are sent from a thread), joined by :meth:`result`.

    Raises nothing when the child dies: :meth:`result` then returns None (the caller
    decides: :mod:`geoequity.assignment` solves in process instead). :meth:`stop` kills and
    reaps the child (idempotent); the caller calls it on every way out.
    """

    def __init__(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any], *,
                 popen=None) -> None:
        self._err = tempfile.TemporaryFile()
        boot = ("import importlib.util as u, sys; s = u.spec_from_file_location("
                "'_geoequity_mincostflow', sys.argv[1]); m = u.module_from_spec(s); "
                "s.loader.exec_module(m); m.main(int(sys.argv[2]))")
        flags = ["-P"] if sys.version_info >= (3, 11) else []
        # ``popen``: what starts the child (``subprocess.Popen``'s arguments), e.g. from a
        # thread of a higher CPU priority than the caller's (geoequity.distributed)
        self.process = (popen or subprocess.Popen)(
            [sys.executable, *flags, "-c", boot, os.path.abspath(__file__), str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err, close_fds=True)
        self.why = ""   # why the child gave no answer
        self.figures: dict[str, float] = {}   # the child's CPU seconds and peak MB
        header = {"arrays": [[k, arrays[k].dtype.str, list(arrays[k].shape)] for k in ARRAYS],
                  **{k: scalars[k] for k in SCALARS}}
        self._sender = threading.Thread(target=_send, daemon=True, name="geoequity-solve-send",
                                        args=(self.process.stdin, header,
                                              [arrays[k] for k in ARRAYS]))
        self._sender.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def result(self) -> tuple[np.ndarray, str] | None:
        """The child's ``(flows, problem)``; None when it died or failed (:attr:`why`)."""
        try:
            line = self.process.stdout.readline()
            head = json.loads(line) if line else None
            if head is not None and "error" not in head:
                flows = np.empty(int(head["n"]), dtype=np.float64)
                if _read_into(self.process.stdout, flows):
                    self.process.wait()
                    self.figures = {k: head[k] for k in ("cpu", "peak_mb") if k in head}
                    return flows, str(head["problem"])
        finally:
            self._sender.join(timeout=5)
        self.process.wait()
        if head is not None and "error" in head:
            self.why = head["error"]
        elif self.process.returncode < 0:
            self.why = f"killed by signal {-self.process.returncode}"
        else:
            self._err.seek(0)
            last = self._err.read().decode(errors="replace").strip().splitlines()
            self.why = (f"exit status {self.process.returncode}"
                        + (f": {last[-1]}" if last else ""))
        return None

    def stop(self) -> None:
        """Kill the child if it still runs, and reap it (no orphan, no zombie)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for fh in (self.process.stdin, self.process.stdout):
            try:
                fh.close()
            except OSError:   # the sender may be writing to it
                pass
        self._err.close()


def _send(fh: BinaryIO, header: dict, arrays: list[np.ndarray]) -> None:
    try:
        fh.write((json.dumps(header) + "\n").encode())
        for a in arrays:
            fh.write(memoryview(np.ascontiguousarray(a)).cast("B"))
        fh.close()
    except (BrokenPipeError, ValueError, OSError):   # the child died or was stopped
        pass


def _read_into(fh: BinaryIO, a: np.ndarray) -> bool:
    view = memoryview(a).cast("B")
    got = 0
    while got < len(view):
        n = fh.readinto(view[got:])
        if not n:
            return False
        got += n
    return True


def _die_with(parent: int) -> None:
    """Ask Linux to kill this process when its parent dies; exit if it already has."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):   # not Linux: the closed pipe stops it after the solve
        pass
    if os.getppid() != parent:
        os._exit(1)


def _own_figures() -> dict[str, float]:
    """This process' CPU seconds and peak memory (MB; ``VmHWM``, which a fork's copy of the
    parent does not inflate as ``ru_maxrss`` does)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    peak = float("nan")
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    return {"cpu": r.ru_utime + r.ru_stime, "peak_mb": peak}


def main(parent: int) -> None:
    """The child: read the problem on stdin, solve, write the flows on stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to handle
    _die_with(parent)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    try:
        head = json.loads(inp.readline())
        arrays = {}
        for name, dtype, shape in head["arrays"]:
            arrays[name] = np.empty(shape, dtype=np.dtype(dtype))
            if not _read_into(inp, arrays[name]):
                os._exit(1)   # the parent stopped sending
        flows, problem = solve_problem(arrays, head)
        answer = {"n": len(flows), "problem": problem, **_own_figures()}
    except Exception as exc:  # noqa: BLE001 - one line back to the parent
        out.write((json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n").encode())
        out.flush()
        os._exit(1)
    out.write((json.dumps(answer) + "\n").encode())
    out.write(memoryview(np.ascontiguousarray(flows, dtype=np.float64)).cast("B"))
    out.flush()
    os._exit(0)
