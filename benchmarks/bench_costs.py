"""Benchmark: bounded many-to-many travel costs, geoequity vs the networkx and scipy ways.

Each stage runs in its own subprocess so its peak memory (``ru_maxrss``) is its own. Stages:

- Porto Alegre (``../shared/data/porto_alegre``): build the walk network from the .osm.pbf (no
  cache), load it from the cache, then 1,227 hexagon centroids to the 194 schools (one point per
  school at its hexagon's centroid), walking, 2 km limit, three ways:
  ``geoequity.travel_costs``; networkx ``single_source_dijkstra_path_length(cutoff=2000)`` from
  each school's nearest node (the osmnx user's way); ``scipy.sparse.csgraph.dijkstra(indices=
  schools, limit=2000)``.
- Generated grid (100 m spacing): N x N nodes, 0.2 origins and 0.002 schools per node, 1.5 km
  limit: geoequity vs scipy's bounded Dijkstra (in chunks of 100 sources so its N-wide rows fit
  in memory), and geoequity again on a grid twice as large (same densities).

Usage::

    python benchmarks/bench_costs.py            # Porto Alegre + 1,000,000-node grid
    python benchmarks/bench_costs.py --quick    # a 300 x 300 grid, for a smoke run
    python benchmarks/bench_costs.py --skip-grid   # Porto Alegre only (about 30 s)
    python benchmarks/bench_costs.py --grid-networkx   # also networkx on the grid (slow)

Timings exclude building the inputs (network, points) but include snapping for geoequity. The
baselines snap to the nearest node (cheaper than geoequity's nearest point of nearest edge).
On Porto Alegre each way runs ``--repeat`` times (5): the table shows the first run, then
the best and the median; geoequity's first call is its first in the process, its "further
calls" are the repeats. On the grid scipy (and networkx) run once. geoequity's one-off
per-process cost of its compiled search (importing numba and loading the kernels from numba's
on-disk cache, 0.2-0.4 s; a few seconds of compiling on the first run after an install) is
timed separately, before its first call, and the speed-ups are printed with and without it.
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

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
PBF = DATA / "porto_alegre" / "poa_osm.pbf"
HEX = DATA / "porto_alegre" / "poa_hexgrid.csv"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu() -> float:
    """CPU seconds of this process (user + system): less sensitive to a busy machine."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------------------- inputs
def poa_inputs(cache_dir):
    import geopandas as gpd
    import pandas as pd

    from geoequity.network import load_network

    net = load_network(PBF, "walk", cache_dir=cache_dir)
    hx = pd.read_csv(HEX)
    cells = gpd.GeoDataFrame(hx, geometry=gpd.points_from_xy(hx.lon, hx.lat), crs=4326)
    cells = cells.set_index("id", drop=False).to_crs(net.crs)
    sch = cells[cells.schools > 0]
    sch = sch.loc[sch.index.repeat(sch.schools)].reset_index(drop=True)
    return net, cells, sch


def grid_inputs(nx_, ny):
    import geopandas as gpd

    sys.path.insert(0, str(HERE))
    from costs_grid import grid_network, random_points

    net = grid_network(nx_, ny)
    n = nx_ * ny
    o = random_points(n // 5, net, 1)
    s = random_points(max(1, n // 500), net, 2)
    og = gpd.GeoDataFrame(geometry=gpd.points_from_xy(o[:, 0], o[:, 1]), crs=net.crs)
    sg = gpd.GeoDataFrame(geometry=gpd.points_from_xy(s[:, 0], s[:, 1]), crs=net.crs)
    return net, og, sg


def _nearest_nodes(net, gdf):
    import numpy as np
    from scipy.spatial import cKDTree

    tree = cKDTree(np.column_stack([net.x, net.y]))
    return tree.query(np.column_stack([gdf.geometry.x, gdf.geometry.y]))[1]


# ---------------------------------------------------------------------------- baselines
def networkx_way(net, origins, schools, cutoff):
    """The osmnx user's way: one cutoff Dijkstra per school on a networkx graph."""
    import networkx as nx

    g = nx.Graph()
    g.add_weighted_edges_from(zip(net.u.tolist(), net.v.tolist(), net.length.tolist(),
                                  strict=True), weight="length")
    o_nodes = _nearest_nodes(net, origins)
    s_nodes = _nearest_nodes(net, schools)
    by_node = {}
    for i, nd in enumerate(o_nodes.tolist()):
        by_node.setdefault(nd, []).append(i)

    def run():
        table = []  # (origin, destination, cost) rows, as a user would collect them
        for s, nd in enumerate(s_nodes.tolist()):
            dist = nx.single_source_dijkstra_path_length(g, nd, cutoff=cutoff, weight="length")
            for node, d in dist.items():
                for o in by_node.get(node, ()):
                    table.append((o, s, d))
        return len(table)

    return _repeat(run)


def scipy_way(net, origins, schools, cutoff, chunk=100):
    """scipy's bounded Dijkstra from the schools; N-wide rows, so in chunks of sources."""
    import numpy as np
    from scipy.sparse.csgraph import dijkstra

    g = net.csr("m")
    o_nodes = _nearest_nodes(net, origins)
    s_nodes = _nearest_nodes(net, schools)

    def run():
        parts = []
        for c in range(0, len(s_nodes), chunk):
            d = dijkstra(g, directed=False, indices=s_nodes[c:c + chunk], limit=cutoff)
            sub = d[:, o_nodes]
            j, i = np.nonzero(np.isfinite(sub))
            parts.append((i, j + c, sub[j, i]))
        return sum(len(p[0]) for p in parts)

    return _repeat(run)


def _repeat(run):
    """Time ``run`` REPEATS times: returns the first run's (seconds, rows, cpu); the best and
    median of all runs go to BEST."""
    times = []
    for _ in range(REPEATS):
        t0, c0 = time.perf_counter(), _cpu()
        rows = run()
        times.append((time.perf_counter() - t0, _cpu() - c0))
    walls = sorted(t for t, _ in times)
    BEST.update(seconds=walls[0], cpu=min(c for _, c in times), median=walls[len(walls) // 2],
                runs=len(times))
    return times[0][0], rows, times[0][1]


def geoequity_way(net, origins, schools, cutoff):
    """geoequity.travel_costs, snapping included. The process's one-off cost of the compiled
    search (importing numba, initialising its code generator, loading the kernel from numba's
    on-disk cache, or compiling it after an install) is timed on its own first; then the first
    and a second call."""
    from geoequity._progress import set_quiet
    from geoequity.costs import travel_costs
    from geoequity.network._kernels import HAVE_NUMBA, warm_up

    set_quiet(True)
    t0, c0 = time.perf_counter(), _cpu()
    if HAVE_NUMBA:
        warm_up()
    ONE_OFF["seconds"], ONE_OFF["cpu"] = time.perf_counter() - t0, _cpu() - c0
    # the first call, then REPEATS further ones (what every further call in a session costs)
    t0, c0 = time.perf_counter(), _cpu()
    table = travel_costs(origins, schools, network=net, max_cost=cutoff)
    first = (time.perf_counter() - t0, _cpu() - c0)
    _repeat(lambda: len(travel_costs(origins, schools, network=net, max_cost=cutoff)))
    return first[0], len(table), first[1]


ONE_OFF: dict = {}
BEST: dict = {}
REPEATS = 3


# ---------------------------------------------------------------------------- stages
def run_stage(name: str, args) -> dict:
    global REPEATS
    from geoequity._progress import set_quiet

    set_quiet(True)
    # each way runs --repeat times on Porto Alegre; on the grid scipy and networkx run once
    # (tens of seconds to minutes each) and geoequity's further calls three times
    slow_baseline = name.startswith(("grid_scipy", "grid_networkx"))
    REPEATS = 1 if slow_baseline else (args.repeat if name.startswith("poa_") else 3)
    if name == "poa_load_pbf":
        from geoequity.network import load_network

        t0, c0 = time.perf_counter(), _cpu()
        net = load_network(PBF, "walk", cache_dir=args.cache_dir)
        return {"seconds": time.perf_counter() - t0, "rows": net.n_edges, "cpu": _cpu() - c0}
    if name == "poa_load_cache":
        from geoequity.network import load_network

        t0, c0 = time.perf_counter(), _cpu()
        net = load_network(PBF, "walk", cache_dir=args.cache_dir)
        return {"seconds": time.perf_counter() - t0, "rows": net.n_edges, "cpu": _cpu() - c0}
    if name.startswith("poa_"):
        net, cells, sch = poa_inputs(args.cache_dir)
        fn = {"poa_geoequity": geoequity_way, "poa_networkx": networkx_way,
              "poa_scipy": scipy_way}[name]
        before = _rss_mb()
        sec, rows, cpu = fn(net, cells, sch, 2000.0)
        return {"seconds": sec, "rows": rows, "rss_before_mb": before, "cpu": cpu,
                "best": dict(BEST), "one_off": dict(ONE_OFF)}
    if name.startswith("grid_"):
        kind, size = name.split(":")
        nx_, ny = (int(v) for v in size.split("x"))
        net, og, sg = grid_inputs(nx_, ny)
        t0, c0 = time.perf_counter(), _cpu()
        net.prepare()  # what load_network does: CSR, components, snapping index, node tree
        prep = (time.perf_counter() - t0, _cpu() - c0)
        fn = {"grid_geoequity": geoequity_way, "grid_networkx": networkx_way,
              "grid_scipy": scipy_way}[kind]
        before = _rss_mb()
        sec, rows, cpu = fn(net, og, sg, 1500.0)
        return {"seconds": sec, "rows": rows, "rss_before_mb": before, "cpu": cpu,
                "best": dict(BEST), "one_off": dict(ONE_OFF), "prepare": prep,
                "nodes": net.n_nodes, "origins": len(og), "schools": len(sg)}
    raise SystemExit(f"unknown stage {name}")


def _timed(fn, *a):
    c0 = _cpu()
    out = fn(*a)
    return out, _cpu() - c0


def spawn(name: str, cache_dir: str, repeat: int) -> dict:
    cmd = [sys.executable, __file__, "--stage", name, "--cache-dir", cache_dir, "--repeat",
           str(repeat)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        return {"stage": name, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarise(results: dict, side: int) -> None:
    """Print the speed-ups and the doubling ratio."""
    def ratio(a, b):
        if a in results and b in results and "seconds" in results[a] and "seconds" in results[b]:
            return results[b]["seconds"] / max(results[a]["seconds"], 1e-9)
        return None
    for a, b in (("poa_geoequity", "poa_networkx"), ("poa_geoequity", "poa_scipy"),
                 (f"grid_geoequity:{side}x{side}", f"grid_scipy:{side}x{side}"),
                 (f"grid_geoequity:{side}x{side}", f"grid_networkx:{side}x{side}")):
        r = ratio(a, b)
        if r is not None:
            rc = results[b].get("cpu", 0) / max(results[a].get("cpu", 0), 1e-9)
            print(f"speed-up {a} (first call) vs {b}: {r:.1f}x wall, {rc:.1f}x cpu")
    for a, b in (("poa_geoequity", "poa_networkx"), ("poa_geoequity", "poa_scipy"),
                 (f"grid_geoequity:{side}x{side}", f"grid_scipy:{side}x{side}")):
        if results.get(a, {}).get("best") and results.get(b, {}).get("best"):
            w, v = results[a]["best"], results[b]["best"]
            print(f"speed-up {a} vs {b}, best runs: {v['seconds'] / w['seconds']:.1f}x wall, "
                  f"{v['cpu'] / max(w['cpu'], 1e-9):.1f}x cpu; medians "
                  f"{v['median'] / w['median']:.1f}x wall")
        if results.get(a, {}).get("one_off") and "seconds" in results.get(b, {}):
            o, r = results[a]["one_off"], results[a]
            print(f"speed-up {a} (first call + one-off numba load) vs {b}: "
                  f"{results[b]['seconds'] / (r['seconds'] + o['seconds']):.1f}x wall, "
                  f"{results[b]['cpu'] / max(r['cpu'] + o['cpu'], 1e-9):.1f}x cpu")
    r = ratio(f"grid_geoequity:{side}x{side}", f"grid_geoequity:{side}x{2 * side}")
    if r is not None:
        a = results[f"grid_geoequity:{side}x{side}"]
        b = results[f"grid_geoequity:{side}x{2 * side}"]
        print(f"doubling the grid multiplies geoequity's time by {r:.2f} wall, "
              f"{b['cpu'] / max(a['cpu'], 1e-9):.2f} cpu (first calls)")
        if a.get("best") and b.get("best"):
            print(f"doubling the grid, best further calls: "
                  f"{b['best']['seconds'] / a['best']['seconds']:.2f} wall, "
                  f"{b['best']['cpu'] / max(a['best']['cpu'], 1e-9):.2f} cpu")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage")
    ap.add_argument("--cache-dir")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--grid", type=int, default=1000, help="grid side (nodes), default 1000")
    ap.add_argument("--grid-networkx", action="store_true")
    ap.add_argument("--skip-poa", action="store_true")
    ap.add_argument("--skip-grid", action="store_true")
    ap.add_argument("--repeat", type=int, default=5,
                    help="runs of each way on Porto Alegre (best and median reported)")
    args = ap.parse_args()
    if args.stage:
        res, cpu = _timed(run_stage, args.stage, args)
        res["cpu_total"] = cpu
        res["stage"] = args.stage
        res["peak_mb"] = _rss_mb()
        print(json.dumps(res))
        return
    side = 300 if args.quick else args.grid
    stages = []
    if not args.skip_poa and PBF.exists():
        stages += ["poa_load_pbf", "poa_load_cache", "poa_geoequity", "poa_networkx",
                   "poa_scipy"]
    if not args.skip_grid:
        stages += [f"grid_geoequity:{side}x{side}", f"grid_scipy:{side}x{side}"]
        if args.grid_networkx:
            stages.append(f"grid_networkx:{side}x{side}")
        stages.append(f"grid_geoequity:{side}x{2 * side}")
    print(f"# bench_costs on {os.cpu_count()} cpu(s), load average "
          f"{os.getloadavg()[0]:.1f}, python {sys.version.split()[0]}")
    print(f"{'stage':34s} {'seconds':>9s} {'cpu s':>9s} {'peak MB':>9s} {'input MB':>9s} "
          f"{'rows':>10s}")
    results = {}
    with tempfile.TemporaryDirectory() as cache_dir:
        for name in stages:
            r = spawn(name, cache_dir, args.repeat)
            results[name] = r
            if "error" in r:
                print(f"{name:34s} ERROR {r['error']}")
                continue
            print(f"{name:34s} {r['seconds']:9.3f} {r.get('cpu', float('nan')):9.3f} "
                  f"{r['peak_mb']:9.0f} {r.get('rss_before_mb', float('nan')):9.0f} "
                  f"{r.get('rows', 0):>10,}", flush=True)
            if r.get("one_off"):
                w = r["one_off"]
                print(f"{'  one-off before it (numba load)':34s} {w['seconds']:9.3f} "
                      f"{w['cpu']:9.3f}")
            if r.get("best"):
                w = r["best"]
                label = "  further calls" if "geoequity" in name else "  all runs"
                print(f"{label + ', best of ' + str(w['runs']):34s} {w['seconds']:9.3f} "
                      f"{w['cpu']:9.3f}   (median {w['median']:.3f} s)")
            if r.get("prepare") and "geoequity" in name:
                p = r["prepare"]
                print(f"{'  network.prepare() (at load)':34s} {p[0]:9.2f} {p[1]:9.2f}")
    summarise(results, side)
    print("# input MB = peak RSS before the timed step (network and points already built)")
    print(f"# load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
