"""Benchmark siting against PySAL spopt (PuLP + its bundled CBC) on the same cost matrices.

Each stage runs in its own subprocess, so the peak memory (ru_maxrss) is per stage. Instances
(seeded, reproducible): clients and candidates uniform in a 20 km x 20 km square, children
Poisson(40) per client, straight-line metres.

    python benchmarks/bench_siting.py                 # everything (spopt capped)
    python benchmarks/bench_siting.py --only pmedian  # one problem
    python benchmarks/bench_siting.py --no-spopt      # geoequity only

Stages: pmedian 2,000 x 100 (p=10); mclp 10,000 x 200 (p=20, 1,500 m); capacitated p-median
2,000 x 100 (p=10); heuristic p-median and MCLP on 100,000 cells x 5,000 candidates (30
nearest candidates per cell; MCLP within 1,000 m) with the gap to the Lagrangian (= LP) bound.
Equity objectives (``--only equity``): 2,000 cells x 100 candidates + 40 existing schools,
16 districts (5 km squares), p = 10, 1,500 m, each with its trade-off table (the p-median,
gap and MCLP optima solved too); the time of the equity solve alone is ``solve_seconds``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

SIZE = 20_000.0


def instance(n, m, seed=0):
    rng = np.random.default_rng(seed)
    d = rng.uniform(0, SIZE, size=(n, 2))
    c = rng.uniform(0, SIZE, size=(m, 2))
    w = rng.poisson(40, size=n).astype(float) + 1.0
    return d, c, w


def dense(n, m, seed=0):
    from scipy.spatial.distance import cdist

    d, c, w = instance(n, m, seed)
    C = cdist(d, c)
    costs = pd.DataFrame({"origin": np.repeat(np.arange(n), m),
                          "destination": np.tile(np.arange(m) + 10**7, n), "cost": C.ravel()})
    return C, w, costs, pd.Series(w), list(np.arange(m) + 10**7)


def knn(n, m, k, seed=0, radius=None):
    from scipy.spatial import cKDTree

    d, c, w = instance(n, m, seed)
    if radius is None:
        dist, idx = cKDTree(c).query(d, k=k)
        o = np.repeat(np.arange(n), k)
        costs = pd.DataFrame({"origin": o, "destination": idx.ravel() + 10**7,
                              "cost": dist.ravel()})
    else:
        pairs = cKDTree(d).sparse_distance_matrix(cKDTree(c), radius, output_type="coo_matrix")
        costs = pd.DataFrame({"origin": pairs.row, "destination": pairs.col + 10**7,
                              "cost": pairs.data})
    return w, costs, pd.Series(w), list(np.arange(m) + 10**7)


def run_stage(name: str, timeout: float) -> dict:
    from geoequity._progress import set_quiet

    set_quiet(True)
    out: dict = {"stage": name}
    t0 = time.perf_counter()
    if name.startswith("spopt"):
        import warnings

        import pulp
        import spopt.locate as L

        warnings.simplefilter("ignore")
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=timeout)
        if name == "spopt_pmedian":
            C, w, *_ = dense(2000, 100)
            t0 = time.perf_counter()
            mdl = L.PMedian.from_cost_matrix(C, w, p_facilities=10)
        elif name == "spopt_mclp":
            C, w, *_ = dense(10_000, 200)
            t0 = time.perf_counter()
            mdl = L.MCLP.from_cost_matrix(C, w, service_radius=1500.0, p_facilities=20)
        else:
            C, w, *_ = dense(2000, 100)
            cap = np.full(100, 1.2 * w.sum() / 10)
            t0 = time.perf_counter()
            mdl = L.PMedian.from_cost_matrix(C, w, p_facilities=10, facility_capacities=cap)
        try:
            mdl = mdl.solve(solver)
            out["objective"] = float(mdl.problem.objective.value())
            out["status"] = pulp.LpStatus[mdl.problem.status]
        except Exception as exc:  # spopt raises when CBC stops without an optimal solution
            out["status"] = f"not solved ({type(exc).__name__})"
    else:
        from geoequity.siting import site_schools

        if name == "pmedian":
            _, _, costs, dem, cand = dense(2000, 100)
            t0 = time.perf_counter()
            r = site_schools(costs, dem, cand, problem="pmedian", p=10, solver="exact",
                             time_limit=timeout)
        elif name == "mclp":
            _, _, costs, dem, cand = dense(10_000, 200)
            costs = costs[costs["cost"] <= 1500.0]     # only pairs within the threshold
            t0 = time.perf_counter()
            r = site_schools(costs, dem, cand, problem="mclp", p=20, threshold=1500.0,
                             solver="exact", time_limit=timeout)
        elif name == "cap_pmedian":
            _, w, costs, dem, cand = dense(2000, 100)
            t0 = time.perf_counter()
            r = site_schools(costs, dem, cand, problem="pmedian", p=10, solver="exact",
                             capacities=1.2 * w.sum() / 10, time_limit=timeout)
        elif name == "heur_pmedian":
            _, costs, dem, cand = knn(100_000, 5000, 30)
            t0 = time.perf_counter()
            r = site_schools(costs, dem, cand, problem="pmedian", p=100, solver="heuristic",
                             time_limit=timeout)
        elif name.startswith("eq_"):
            r = _equity_stage(name, timeout)
            out["solve_seconds"] = r.solve_seconds
            out["tradeoffs"] = r.tradeoffs[["problem", "total_travel", "total_shortfall",
                                            "children_beyond", "worst_seats_per_child",
                                            "worst_share_beyond", "theil_access"]].round(4) \
                .to_dict(orient="records")
            t0 = time.perf_counter() - r.runtime
        elif name == "heur_mclp":
            _, costs, dem, cand = knn(100_000, 5000, 0, radius=1000.0)
            t0 = time.perf_counter()
            r = site_schools(costs, dem, cand, problem="mclp", p=100, threshold=1000.0,
                             solver="heuristic", time_limit=timeout)
        else:
            raise SystemExit(f"unknown stage {name}")
        out.update(objective=r.objective, status=r.status, gap=r.gap, bound=r.bound)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def _equity_stage(name, timeout):
    """An equity objective on 2,000 x 100 with 40 existing schools and 16 districts."""
    from scipy.spatial.distance import cdist

    from geoequity import _progress
    from geoequity.siting import site_schools

    d, c, w = instance(2000, 100)
    e = np.random.default_rng(1).uniform(0, SIZE, size=(40, 2))
    C = cdist(d, np.r_[c, e])
    ids = np.r_[np.arange(100) + 10**7, np.arange(40) + 2 * 10**7]
    costs = pd.DataFrame({"origin": np.repeat(np.arange(2000), 140),
                          "destination": np.tile(ids, 2000), "cost": C.ravel()})
    seats = pd.Series(np.full(40, 0.8 * w.sum() / 40), index=ids[100:])

    def district(xy):
        return pd.Series([f"D{int(x // 5000)}{int(y // 5000)}" for x, y in xy])

    dist = district(d)
    site_dist = pd.Series(district(np.r_[c, e]).to_numpy(), index=ids)
    problem = {"eq_maxmin": "maxmin_seats_per_child", "eq_minmax": "minmax_share_beyond",
               "eq_theil": "min_theil"}[name]
    times = {}
    real_step = _progress.step

    def timed(desc):   # the equity solve alone: the "solving" step's wall time
        ctx = real_step(desc)

        class _T:
            def __enter__(self):
                self.t = time.perf_counter()
                return ctx.__enter__()

            def __exit__(self, *exc):
                times.setdefault(desc.split(" (")[0], time.perf_counter() - self.t)
                return ctx.__exit__(*exc)
        return _T()

    import geoequity.siting.core as core
    core.step = timed
    r = site_schools(costs, pd.Series(w), list(ids[:100]), problem=problem, p=10,
                     threshold=1500.0, existing=seats, capacities=0.2 * w.sum() / 10,
                     districts=dist, site_districts=site_dist, solver="exact",
                     time_limit=timeout)
    core.step = real_step
    r.solve_seconds = round(times.get(f"solving {problem}", float("nan")), 2)
    return r


STAGES = {
    "pmedian": ["pmedian", "spopt_pmedian"],
    "mclp": ["mclp", "spopt_mclp"],
    "cap": ["cap_pmedian", "spopt_cap_pmedian"],
    "heuristic": ["heur_pmedian", "heur_mclp"],
    "equity": ["eq_maxmin", "eq_minmax", "eq_theil"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=sorted(STAGES), action="append")
    ap.add_argument("--no-spopt", action="store_true")
    ap.add_argument("--spopt-timeout", type=float, default=300.0)
    ap.add_argument("--time-limit", type=float, default=120.0, help="geoequity time limit")
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:
        limit = args.spopt_timeout if args.stage.startswith("spopt") else args.time_limit
        print(json.dumps(run_stage(args.stage, limit)))
        return
    for group in args.only or list(STAGES):
        for stage in STAGES[group]:
            if stage.startswith("spopt") and args.no_spopt:
                continue
            cmd = [sys.executable, __file__, "--stage", stage, "--spopt-timeout",
                   str(args.spopt_timeout), "--time-limit", str(args.time_limit)]
            try:
                res = subprocess.run(cmd, capture_output=True, text=True,
                                     timeout=args.spopt_timeout + 120)
                line = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else \
                    json.dumps({"stage": stage, "error": res.stderr.strip()[-300:]})
            except subprocess.TimeoutExpired:
                line = json.dumps({"stage": stage, "status": "killed at timeout"})
            print(line, flush=True)


if __name__ == "__main__":
    main()
