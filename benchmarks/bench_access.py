"""Benchmark: geoequity accessibility vs PySAL ``access``, and the capacity assignment.

Each stage runs in its own subprocess so its peak memory (``ru_maxrss``) is its own. The
tables are synthetic but shaped like the real problem: a regular grid of cells (children)
and randomly placed schools, with straight-line costs (metres) for every pair.

Stages
------
* ``ours_2sfca`` / ``ours_e2sfca``: geoequity 2SFCA and Gaussian E2SFCA on the full table
  (default 40,000 cells x 400 schools = 16 million rows).
* ``pysal_2sfca`` / ``pysal_e2sfca``: PySAL ``access`` on the same table (its Gaussian
  E2SFCA applies the weight row by row in Python). Skip with ``--no-pysal``.
* ``assign``: capacity-constrained assignment of 100,000 cells to 1,000 schools over the
  pairs within 3 km (built with a KD-tree).

Usage::

    python benchmarks/bench_access.py                 # everything (PySAL needs ~1 min, 3 GB)
    python benchmarks/bench_access.py --cells 10000 --schools 100 --no-pysal   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

THRESHOLD = 10_000.0  # metres
SIGMA = 3_000.0


def make_table(n_cells: int, n_schools: int, path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_cells)))
    size = 20_000.0
    gx, gy = np.meshgrid(np.linspace(0, size, side), np.linspace(0, size, side))
    cells = np.column_stack([gx.ravel(), gy.ravel()])[:n_cells]
    schools = rng.uniform(0, size, (n_schools, 2))
    d = np.sqrt(((cells[:, None, :] - schools[None, :, :]) ** 2).sum(-1))
    costs = pd.DataFrame({
        "origin": np.repeat(np.arange(n_cells), n_schools),
        "destination": np.tile(np.arange(n_schools), n_cells),
        "cost": d.ravel(),
    })
    demand = pd.Series(rng.integers(0, 120, n_cells).astype(float), name="children")
    supply = pd.Series(rng.integers(200, 1500, n_schools).astype(float), name="seats")
    costs.to_parquet(path / "costs.parquet")
    demand.to_frame().to_parquet(path / "demand.parquet")
    supply.to_frame().to_parquet(path / "supply.parquet")


def run_stage(stage: str, path: Path) -> dict:
    costs = pd.read_parquet(path / "costs.parquet")
    demand = pd.read_parquet(path / "demand.parquet")["children"]
    supply = pd.read_parquet(path / "supply.parquet")["seats"]
    # imports stay outside the timed region, for both libraries
    import warnings

    warnings.simplefilter("ignore")
    if stage.startswith("pysal"):
        from access import Access, weights  # noqa: F401 - imported outside the timing
    else:
        from geoequity._progress import set_quiet
        from geoequity.access import (  # noqa: F401 - imported outside the timing
            enhanced_two_stage_fca,
            two_stage_fca,
        )

        set_quiet(True)
    # One warm-up call on the table's first 1,000 rows for both libraries: a process pays
    # its one-off costs there (numba loading its compiled kernels from the on-disk cache;
    # pandas/PySAL code paths), reported separately as ``first_call_seconds``.
    t0 = time.perf_counter()
    _call(stage, costs.iloc[:1000], demand, supply)
    first = time.perf_counter() - t0
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    out = _call(stage, costs, demand, supply)
    secs = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    out = out.reindex(demand.index)
    return {"stage": stage, "seconds": secs, "cpu_seconds": cpu, "rows": len(costs),
            "first_call_seconds": first,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_before_mb": rss0 / 1024, "checksum": float(np.nansum(out.to_numpy())),
            "values": out.to_numpy()[:2000].tolist()}


def _call(stage: str, costs, demand, supply):
    if stage.startswith("pysal"):
        from access import Access, weights
    else:
        from geoequity.access import enhanced_two_stage_fca, two_stage_fca
    if stage == "ours_2sfca":
        out = two_stage_fca(costs, demand, supply, THRESHOLD)
    elif stage == "ours_e2sfca":
        out = enhanced_two_stage_fca(costs, demand, supply, THRESHOLD, decay="gaussian",
                                     decay_param=SIGMA)
    elif stage in ("pysal_2sfca", "pysal_e2sfca"):
        dem = pd.DataFrame({"id": demand.index, "children": demand.to_numpy()})
        sup = pd.DataFrame({"id": supply.index, "seats": supply.to_numpy()})
        a = Access(demand_df=dem, demand_index="id", demand_value="children", supply_df=sup,
                   supply_index="id", supply_value="seats", cost_df=costs,
                   cost_origin="origin", cost_dest="destination", cost_name="cost")
        if stage == "pysal_2sfca":
            out = a.two_stage_fca(name="x", max_cost=THRESHOLD)["x_seats"]
        else:
            out = a.enhanced_two_stage_fca(name="x", max_cost=THRESHOLD,
                                           weight_fn=weights.gaussian(SIGMA))["x_seats"]
    else:
        raise SystemExit(f"unknown stage {stage}")
    return out


def run_assign(n_cells: int, n_schools: int, cutoff: float, seed: int = 1) -> dict:
    from scipy.spatial import cKDTree

    from geoequity._progress import set_quiet
    from geoequity.assignment import capacity_assignment

    set_quiet(True)
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_cells)))
    size = 40_000.0
    gx, gy = np.meshgrid(np.linspace(0, size, side), np.linspace(0, size, side))
    cells = np.column_stack([gx.ravel(), gy.ravel()])[:n_cells]
    schools = rng.uniform(0, size, (n_schools, 2))
    t0 = time.perf_counter()
    dm = cKDTree(cells).sparse_distance_matrix(cKDTree(schools), cutoff,
                                               output_type="coo_matrix")
    costs = pd.DataFrame({"origin": dm.row.astype(np.int64),
                          "destination": dm.col.astype(np.int64), "cost": dm.data})
    t_costs = time.perf_counter() - t0
    demand = pd.Series(rng.integers(0, 40, n_cells).astype(float))
    # seats for ~90% of the children, unevenly spread
    raw = rng.gamma(2.0, 1.0, n_schools)
    supply = pd.Series(np.round(raw / raw.sum() * demand.sum() * 0.9))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    r = capacity_assignment(costs, demand, supply, solver=os.environ.get("BENCH_SOLVER", "auto"))
    secs = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return {"stage": "assign", "seconds": secs, "cpu_seconds": cpu,
            "kdtree_costs_seconds": t_costs,
            "pairs": len(costs), "cells": n_cells, "schools": n_schools, "cutoff_m": cutoff,
            "assigned": r.totals["assigned"], "unassigned": r.totals["unassigned"],
            "split_cells": r.split_origins, "objective": r.objective,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_before_mb": rss0 / 1024}


def _child(args: list[str]) -> dict:
    res = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if res.returncode != 0:
        print(res.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"stage {args} failed")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=40_000)
    ap.add_argument("--schools", type=int, default=400)
    ap.add_argument("--assign-cells", type=int, default=100_000)
    ap.add_argument("--assign-schools", type=int, default=1_000)
    ap.add_argument("--cutoff", type=float, default=3_000.0)
    ap.add_argument("--no-pysal", action="store_true")
    ap.add_argument("--no-assign", action="store_true")
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.stage == "assign":
        print(json.dumps(run_assign(a.assign_cells, a.assign_schools, a.cutoff)))
        return
    if a.stage:
        print(json.dumps(run_stage(a.stage, Path(a.data))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        make_table(a.cells, a.schools, Path(tmp))
        print(f"table: {a.cells:,} cells x {a.schools:,} schools = {a.cells * a.schools:,} rows "
              f"(built in {time.perf_counter() - t0:.1f} s); threshold {THRESHOLD:g} m, "
              f"gaussian S = {SIGMA:g} m")
        stages = ["ours_2sfca", "ours_e2sfca"]
        if not a.no_pysal:
            stages += ["pysal_2sfca", "pysal_e2sfca"]
        res = {s: _child(["--stage", s, "--data", tmp]) for s in stages}
    for s, r in res.items():
        print(f"  {s:14s} {r['seconds']:8.2f} s wall {r['cpu_seconds']:8.2f} s CPU   "
              f"peak RSS {r['peak_rss_mb']:7.0f} MB "
              f"(first call, 1,000 rows: {r['first_call_seconds']:.2f} s) "
              f"(table loaded: {r['rss_before_mb']:.0f} MB)")
    for m in ("2sfca", "e2sfca"):
        if f"pysal_{m}" in res:
            ours, ref = res[f"ours_{m}"], res[f"pysal_{m}"]
            v1, v2 = np.array(ours["values"], float), np.array(ref["values"], float)
            ok = np.isfinite(v1) & np.isfinite(v2)
            rel = float(np.max(np.abs(v1[ok] - v2[ok]) / np.abs(v2[ok]))) if ok.any() else 0
            print(f"  {m}: speed-up x{ref['seconds'] / ours['seconds']:.0f} wall, "
                  f"x{ref['cpu_seconds'] / ours['cpu_seconds']:.0f} CPU; "
                  f"max relative difference {rel:.1e} (first 2,000 cells)")
    if not a.no_assign:
        r = _child(["--stage", "assign", "--assign-cells", str(a.assign_cells),
                    "--assign-schools", str(a.assign_schools), "--cutoff", str(a.cutoff)])
        print(f"assignment: {r['cells']:,} cells x {r['schools']:,} schools within "
              f"{r['cutoff_m']:g} m = {r['pairs']:,} pairs: {r['seconds']:.1f} s wall, "
              f"{r['cpu_seconds']:.1f} s CPU "
              f"(KD-tree costs {r['kdtree_costs_seconds']:.1f} s), peak RSS "
              f"{r['peak_rss_mb']:.0f} MB; {r['assigned']:,.0f} seated, "
              f"{r['unassigned']:,.0f} unseated, {r['split_cells']:,} split cells")


if __name__ == "__main__":
    main()
