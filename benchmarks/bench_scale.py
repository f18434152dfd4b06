"""Benchmark: a whole province run in one process, stage by stage (issue #14).

A seeded synthetic province is written once to a temporary folder: a GeoTIFF of residents on
a 100 m grid in a UTM CRS (default 561,000 populated pixels in clumps over a 1,000 x 1,000
raster), 1,192 schools placed where people live, 16 square districts, and a scenario with
straight-line costs and the demo's distances (threshold 1.5 km, max_cost 8 km, assignment
within 3 km; report off). Each run is a subprocess (so its peak memory, ``ru_maxrss``, is its
own) that runs the scenario as ``geoequity run`` does (``run_scenario``: reads the inputs,
builds the costs, analyses and writes every table and the map), and times each stage (the
run's own steps of that name), in wall time and in CPU time of the process (the machine is
shared: the CPU column moves much less with the load):

=============== ==========================================================================
``read``        reading population, schools and districts
``costs``       straight-line cost table (KD-tree)
``assignment``  capacity-constrained assignment
``access+gaps`` accessibility, nearest school, seat gaps
``catchments``  nearest-school catchments (polygons)
``tables``      CSV + GeoPackage + Parquet tables (``cells.csv`` left out above 200,000 cells;
                ``costs.parquet`` is written while the assignment is solved)
``map``         the offline HTML map
``other``       the rest (coverage checks, urban/rural classes, equity, summary)
=============== ==========================================================================

With ``--workers N`` the script compares instead the in-process run with a run on a local
dask cluster of N worker processes (:mod:`geoequity.distributed`, partitions by district):
both are whole scenario runs through ``run_scenario`` (``workers=N`` for the cluster: the
public path, the cluster's start included), each in its own process. It reports the wall and
CPU time of each (the cluster's: the client's plus every worker's), the peak memory of every
process, the client's stages one by one (``Results.cluster``, :class:`geoequity.distributed.
ClusterRun`: read, partition keys, cluster start (what is left of the local cluster's start
then), send, wait, merge, global steps, write; wall, CPU and the peak when each ended), what each partition took (cells, with its halo, schools, pairs, wall
and CPU seconds, the worker's peak), and checks that the two runs' ``cells.csv`` and
``districts.csv`` are equal (ids and counts exactly, floats to 1e-9 relative).
``--streets SPACING`` gives the province a street grid (metres between streets) and walking
costs over it instead of straight lines. ``--vector`` gives it its population as a GeoPackage
grid of the populated pixels' squares instead of the raster (a cluster's workers read it
window by window, as the raster); ``--text-ids`` gives that grid a text id per cell
(``E<column>N<row>``, a national grid's kind of code, not in the file's order), which the
workers read by the cells' rows in the file.

Usage::

    python benchmarks/bench_scale.py                      # the issue's province (~1 min)
    python benchmarks/bench_scale.py --cells 100000 --schools 212 --repeat 1   # quick
    python benchmarks/bench_scale.py --profile           # cProfile of one run (stderr)
    python benchmarks/bench_scale.py --workers 2         # in process vs a 2-worker cluster
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

#: the run's steps (their descriptions' beginnings) making each stage of the table
STAGES = {"reading population": "read", "reading schools": "read",
          "reading districts": "read",
          "straight-line costs": "costs", "loading ": "costs",
          "capacity-constrained assignment": "assignment",
          "accessibility and seat gaps": "access+gaps",
          "nearest-school catchments": "catchments",
          "writing the cost table": "tables", "writing tables": "tables",
          "the map's raster": "map", "drawing the map": "map"}
ORDER = ["read", "costs", "assignment", "access+gaps", "catchments", "tables", "map", "other",
         "total"]


def make_province(folder: Path, n_cells: int, n_schools: int, seed: int = 0) -> Path:
    """Write the synthetic province into ``folder``; return its scenario file."""
    import geopandas as gpd
    import numpy as np
    import rasterio
    import shapely
    from rasterio.transform import from_origin
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_cells / 0.561)))    # populated share as in the run
    x0, y0, px = 500_000.0, 3_500_000.0, 100.0       # UTM 50N, 100 m pixels
    field = gaussian_filter(rng.standard_normal((side, side)), 12)
    cut = np.partition(field.ravel(), field.size - n_cells)[field.size - n_cells]
    people = np.where(field >= cut, rng.lognormal(3.0, 1.0, field.shape), 0.0)
    keep = np.flatnonzero(people.ravel() > 0)[:n_cells]
    flat = np.zeros(people.size)
    flat[keep] = people.ravel()[keep]
    people = flat.reshape(people.shape).astype("float32")
    transform = from_origin(x0, y0 + side * px, px, px)
    with rasterio.open(folder / "residents.tif", "w", driver="GTiff", width=side, height=side,
                       count=1, dtype="float32", crs="EPSG:32650", transform=transform,
                       nodata=-1, compress="deflate") as dst:
        dst.write(people, 1)
    # schools where people live, seats for about the children around them
    w = people.ravel().astype(float)
    at = rng.choice(w.size, n_schools, replace=False, p=w / w.sum())
    rows, cols = np.divmod(at, side)
    xs = x0 + (cols + rng.uniform(0, 1, n_schools)) * px
    ys = y0 + side * px - (rows + rng.uniform(0, 1, n_schools)) * px
    children = w.sum() * 0.08
    seats = np.maximum(60, np.round(rng.gamma(4, children / n_schools / 4, n_schools)))
    gpd.GeoDataFrame({"school_id": [f"S{i:05d}" for i in range(n_schools)], "seats": seats},
                     geometry=gpd.points_from_xy(xs, ys), crs="EPSG:32650").to_file(
        folder / "schools.gpkg", driver="GPKG")
    # 4 x 4 square districts over the raster
    edge = side * px / 4
    boxes = [shapely.box(x0 + i * edge, y0 + j * edge, x0 + (i + 1) * edge, y0 + (j + 1) * edge)
             for j in range(4) for i in range(4)]
    gpd.GeoDataFrame({"district": [f"D{k:02d}" for k in range(16)]}, geometry=boxes,
                     crs="EPSG:32650").to_file(folder / "districts.gpkg", driver="GPKG")
    toml = f"""title = "Synthetic province ({n_cells:,} cells, {n_schools:,} schools)"
[schools]
path = "schools.gpkg"
id = "school_id"
seats = "seats"
[population]
path = "residents.tif"
child_share = 0.08
[districts]
path = "districts.gpkg"
name = "district"
[network]
euclidean = true
[analysis]
threshold = 1500
max_cost = 8000
assignment_max_cost = 3000
method = "2sfca"
[outputs]
folder = "out"
map = "map.html"
report = false
"""
    (folder / "province.toml").write_text(toml)
    return folder / "province.toml"


def add_streets(folder: Path, spacing: float) -> None:
    """A street grid every ``spacing`` metres over the province (one line per block side),
    and the scenario switched to walking costs over it."""
    import geopandas as gpd
    import numpy as np
    import rasterio
    import shapely

    with rasterio.open(folder / "residents.tif") as src:
        b = src.bounds
    xs = np.arange(b.left, b.right + spacing, spacing)
    ys = np.arange(b.bottom, b.top + spacing, spacing)
    gx, gy = np.meshgrid(xs, ys)
    h = np.stack([np.stack([gx[:, :-1], gy[:, :-1]], -1), np.stack([gx[:, 1:], gy[:, 1:]], -1)],
                 axis=2).reshape(-1, 2, 2)
    v = np.stack([np.stack([gx[:-1, :], gy[:-1, :]], -1), np.stack([gx[1:, :], gy[1:, :]], -1)],
                 axis=2).reshape(-1, 2, 2)
    lines = shapely.linestrings(np.concatenate([h, v]))
    gpd.GeoDataFrame(geometry=lines, crs="EPSG:32650").to_file(folder / "streets.gpkg",
                                                               driver="GPKG")
    toml = (folder / "province.toml").read_text()
    toml = toml.replace("[network]\neuclidean = true", '[network]\npath = "streets.gpkg"\n'
                        'mode = "walk"\ncache_dir = false')
    (folder / "province.toml").write_text(toml)
    print(f"street grid: {len(xs) * len(ys):,} nodes, {len(lines):,} edges")


def vector_copy(folder: Path, scenario: Path, text_ids: bool = False) -> Path:
    """A copy of ``scenario`` whose population is the province's populated pixels as a
    GeoPackage grid of 100 m squares (``cells.gpkg``, written once: a ``population`` column,
    no id column, so the cells' ids are their rows), as a vector population grid of a
    province would be given. ``text_ids``: ``cells-text.gpkg`` instead, with a text id
    ``cell`` per square as national grids code them (``E<column>N<row>``, which sort by
    column, not in the file's row-by-row order), named as ``[population] id``."""
    import geopandas as gpd

    from geoequity._progress import quiet
    from geoequity.io import read_population

    grid = folder / ("cells-text.gpkg" if text_ids else "cells.gpkg")
    if not grid.exists():
        t = time.perf_counter()
        with quiet():
            g = read_population(folder / "residents.tif")
        columns = {"population": g["population"].to_numpy()}
        if text_ids:   # the raster's ids are row * width + column
            width = int(g.attrs["raster"]["width"])
            pixel = g.index.to_numpy()
            columns = {"cell": [f"E{c:05d}N{r:05d}" for r, c in zip(
                (pixel // width).tolist(), (pixel % width).tolist(), strict=True)], **columns}
        gpd.GeoDataFrame(columns, geometry=g.geometry.values, crs=g.crs).to_file(
            grid, driver="GPKG")
        print(f"vector grid written in {time.perf_counter() - t:.1f} s ({grid})")
    text = scenario.read_text().replace(
        'path = "residents.tif"', f'path = "{grid.name}"\ncount = "population"'
        + ('\nid = "cell"' if text_ids else ""))
    out = scenario.with_name(scenario.stem + ("-text-ids" if text_ids else "-vector")
                             + ".toml")
    out.write_text(text)
    return out


def run_inprocess(scenario: Path, out: str) -> dict:
    """One whole in-process scenario run (as ``geoequity run``), timed."""
    from geoequity._progress import set_quiet
    from geoequity.scenario import run_scenario

    set_quiet(True)
    start, cpu = time.perf_counter(), time.process_time()
    run_scenario(scenario, folder=Path(out), map_path=Path(out) / "map.html")
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
            "client_peak_mb": _maxrss_mb()}


def run_cluster(scenario: Path, out: str, workers: int) -> dict:
    """The same run with ``--workers N`` (``run_scenario(workers=N)``: the cluster's start
    included), with the figures the run keeps (``Results.cluster``): the client's stages,
    each partition's and each worker's."""
    from geoequity._progress import set_quiet
    from geoequity.scenario import run_scenario

    set_quiet(True)
    start, cpu = time.perf_counter(), time.process_time()
    res = run_scenario(scenario, folder=Path(out), map_path=Path(out) / "map.html",
                       workers=workers)
    fig = res.cluster
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    stages = dict(fig.stages)
    stages["other"] = {"wall": seconds - sum(v["wall"] for v in stages.values()),
                       "cpu": cpu - sum(v["cpu"] for v in stages.values())}
    return {"seconds": seconds, "cpu": cpu, "stages": stages,
            "client_peak_mb": fig.client_peak_mb,
            "workers": sorted(fig.workers.values(), key=lambda w: -w["peak_mb"]),
            "partitions": fig.partitions, "cells": res.summary["cells"],
            "solve": dict(getattr(res, "solve", None) or {}),
            "pairs": sum(p["pairs"] for p in fig.partitions)}


def same_tables(a: Path, b: Path) -> str:
    """'equal', or what differs between two runs' cells and districts tables (cells.parquet
    when cells.csv is left out, above 200,000 cells)."""
    import pandas as pd

    from geoequity.io.parquet import in_written_order

    def read(folder: Path, name: str):
        parquet = folder / name.replace(".csv", ".parquet")
        if name == "cells.csv" and parquet.exists():   # in the run's order (a cluster's
            # cells.csv comes part after part; its cells.parquet may be a folder of parts)
            return in_written_order(pd.read_parquet(parquet), parquet).drop(
                columns="geometry", errors="ignore")
        if (folder / name).exists():
            return pd.read_csv(folder / name)
        return pd.read_parquet(parquet).drop(columns="geometry", errors="ignore")

    for name in ("cells.csv", "districts.csv", "schools.csv", "costs.parquet"):
        if name == "costs.parquet":   # a cluster's comes grouped by partition: sorted here
            x, y = (pd.read_parquet(f / name).sort_values(
                ["origin", "destination"], kind="stable", ignore_index=True) for f in (a, b))
        else:
            x, y = read(a, name), read(b, name)
        try:
            pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=1e-9, atol=0)
        except AssertionError as exc:
            return f"{name} differs: {' '.join(str(exc).split())[:300]}"
    return "equal"


def compare_cluster(folder: Path, scenario: Path, workers: int, repeat: int, env: dict) -> None:
    """In process vs ``--workers N``, alternately, each run in its own process."""
    rows = []
    for i in range(repeat):
        for kind in ("inprocess", "cluster"):
            out = folder / f"out-{kind}"
            cmd = [sys.executable, __file__, "--child", str(scenario), "--kind", kind,
                   "--out", str(out), "--workers", str(workers)]
            res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=folder)
            if res.returncode:
                sys.exit(res.stderr)
            rows.append((kind, json.loads(res.stdout.strip().splitlines()[-1])))
    ins = [r for k, r in rows if k == "inprocess"]
    clu = [r for k, r in rows if k == "cluster"]
    print(f"{clu[0]['cells']:,} cells, {clu[0]['pairs']:,} cost pairs, "
          f"{len(clu[0]['partitions'])} partitions; load {os.getloadavg()[0]:.1f}")
    print("in process : " + ", ".join(
        f"{r['seconds']:.1f} s (CPU {r['cpu']:.1f} s) / {r['client_peak_mb']:,.0f} MB"
        for r in ins))
    print(f"{workers} workers  : " + ", ".join(
        f"{r['seconds']:.1f} s (CPU client {r['cpu']:.1f} s + workers "
        f"{sum(w['cpu_seconds'] for w in r['workers']):.1f} s) / client "
        f"{r['client_peak_mb']:,.0f} MB, workers "
        + ", ".join(f"{w['peak_mb']:,.0f}" for w in r["workers"]) + " MB" for r in clu))
    best_in, best_cl = min(r["seconds"] for r in ins), min(r["seconds"] for r in clu)
    print(f"cluster / in process (best of each): {best_cl / best_in:.2f}; CPU seconds "
          f"(best of each, client + workers / in process): "
          f"{min(r['cpu'] + sum(w['cpu_seconds'] for w in r['workers']) for r in clu):.1f} / "
          f"{min(r['cpu'] for r in ins):.1f}")
    for i, r in enumerate(clu):
        sv = r.get("solve") or {}
        if sv.get("where") == "worker" and "seconds" in sv:
            print(f"run {i + 1}: the exact solve on a worker, in a child process "
                  f"(peak {sv.get('child_peak_mb') or float('nan'):,.0f} MB): "
                  f"{sv['seconds']:.1f} s from its start to its answer, of which the client "
                  f"waited {sv.get('waited', 0):.1f} s")
    names = list(clu[0]["stages"])
    print(f"{'client stage':<16}" + "".join(f"{'run ' + str(i + 1):>10}{'cpu':>8}{'peak MB':>9}"
                                            for i in range(len(clu))))
    for name in names:
        print(f"{name:<16}" + "".join(
            f"{r['stages'][name]['wall']:>9.1f}s{r['stages'][name]['cpu']:>7.1f}s"
            f"{r['stages'][name].get('peak_mb', float('nan')):>9,.0f}" for r in clu))
    print("partition      cells  with halo  schools  street nodes      pairs  seconds      "
          "cpu  worker peak MB  group  loaded")
    for st in sorted(clu[0]["partitions"], key=lambda st: st["partition"]):
        group = st.get("group")   # (older code, --code: no street groups)
        print(f"{st['partition']:<10}{st['cells']:>10,}{st['halo_cells']:>11,}"
              f"{st['schools']:>9,}{st['street_nodes']:>14,}{st['pairs']:>11,}"
              f"{st['seconds']:>9.2f}{st['cpu_seconds']:>9.2f}{st['worker_peak_mb']:>16,.0f}"
              f"{'-' if group is None else group:>7}{st.get('network_loads', '-'):>8}")
    print("equality (cells, districts, schools, costs): "
          + same_tables(folder / "out-inprocess", folder / "out-cluster"))


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _stage_of(description: str) -> str | None:
    """The stage a step of the run belongs to (:data:`STAGES`; a network's costs, "walk
    travel costs" and the like, are ``costs``), or None."""
    if description.endswith(" travel costs"):
        return "costs"
    return next((n for prefix, n in STAGES.items() if description.startswith(prefix)), None)


def run_once(scenario: Path) -> dict:
    """One in-process run of the scenario (``run_scenario``, as ``geoequity run``), timed per
    stage: each stage is the run's steps of that name (:data:`STAGES`; call in a fresh
    process)."""
    import geoequity._progress as progress

    times: dict[str, float] = {}
    cpu: dict[str, float] = {}     # CPU time of the process per stage (a loaded machine)
    peaks: dict[str, float] = {}   # the process' peak memory when each stage ended
    plain = progress.step
    depth = [0]   # a step inside a timed one (reading population raster) is its stage's

    from contextlib import contextmanager

    @contextmanager
    def timed_step(description):
        name = None if depth[0] else _stage_of(description)
        start, c0 = time.perf_counter(), time.process_time()
        depth[0] += name is not None
        try:
            with plain(description):
                yield
        finally:
            depth[0] -= name is not None
        if name is not None:
            times[name] = times.get(name, 0.0) + time.perf_counter() - start
            cpu[name] = cpu.get(name, 0.0) + time.process_time() - c0
            peaks[name] = _maxrss_mb()

    progress.step = timed_step   # before the modules below import it by name
    progress.set_quiet(True)
    from geoequity.scenario import run_scenario

    start, c_start = time.perf_counter(), time.process_time()
    results = run_scenario(scenario)
    times["total"] = time.perf_counter() - start
    times["other"] = times["total"] - sum(v for k, v in times.items() if k != "total")
    cpu["total"] = time.process_time() - c_start
    cpu["other"] = cpu["total"] - sum(v for k, v in cpu.items() if k != "total")
    times["cpu"] = cpu
    times["peak_mb"] = _maxrss_mb()
    times["peaks"] = peaks
    times["solve"] = dict(getattr(results, "solve", None) or {})   # a child's CPU and peak
    times["pairs"] = len(results.costs)
    times["cells"] = len(results.cells)
    return times


def scenario_variant(folder: Path, scenario: Path, args) -> Path:
    """The scenario the options ask for: a copy with ``--assignment-mode``, then with the
    population as a vector grid (``--vector``)."""
    if args.assignment_mode:   # a copy of the scenario with the mode
        text = (scenario.read_text()
                + f'[compute]\nassignment_mode = "{args.assignment_mode}"\n')
        scenario = folder / f"province-{args.assignment_mode}.toml"
        scenario.write_text(text)
    if args.vector or args.text_ids:
        scenario = vector_copy(folder, scenario, text_ids=args.text_ids)
    return scenario


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=561_000)
    ap.add_argument("--schools", type=int, default=1_192)
    ap.add_argument("--repeat", type=int, default=2, help="runs (each in its own process)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--folder", help="keep the province here (default: a temporary folder)")
    ap.add_argument("--profile", action="store_true", help="cProfile one run, top 40 (stderr)")
    ap.add_argument("--code", help="import geoequity from this folder (default: this checkout);"
                    " to compare two versions")
    ap.add_argument("--workers", type=int, help="compare in process with a local dask "
                    "cluster of this many worker processes")
    ap.add_argument("--streets", type=float, help="street grid spacing in metres: walking "
                    "costs over it instead of straight lines")
    ap.add_argument("--assignment-mode", choices=["auto", "exact", "decomposed"],
                    help="the capacity assignment's mode (default: the scenario's, auto)")
    ap.add_argument("--vector", action="store_true", help="the population as a GeoPackage "
                    "grid of the populated pixels (cells.gpkg) instead of the raster")
    ap.add_argument("--text-ids", action="store_true", help="--vector with a text id per "
                    "cell (E<column>N<row>, not in the file's order: cells-text.gpkg)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--kind", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child and args.kind:
        out = (run_inprocess(Path(args.child), args.out) if args.kind == "inprocess"
               else run_cluster(Path(args.child), args.out, args.workers))
        print(json.dumps(out))
        return
    if args.child:
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile(time.process_time)   # CPU time: the machine is shared
            out = prof.runcall(run_once, Path(args.child))
            prof.dump_stats(Path(args.child).with_suffix(".prof"))
            pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
            pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(30)
        else:
            out = run_once(Path(args.child))
        print(json.dumps(out))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.folder or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        scenario = folder / "province.toml"
        if not scenario.exists():
            t = time.perf_counter()
            make_province(folder, args.cells, args.schools, args.seed)
            if args.streets:
                add_streets(folder, args.streets)
            print(f"province written in {time.perf_counter() - t:.1f} s ({folder})")
        scenario = scenario_variant(folder, scenario, args)
        root = Path(args.code).resolve() if args.code else Path(__file__).resolve().parents[1]
        env = {**os.environ, "PYTHONPATH": str(root)}
        if args.workers:
            compare_cluster(folder, scenario, args.workers, args.repeat, env)
            return
        runs = []
        for _ in range(args.repeat):
            cmd = [sys.executable, __file__, "--child", str(scenario)]
            cmd += ["--profile"] if args.profile else []
            res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=folder)
            if res.returncode:
                sys.exit(res.stderr)
            if args.profile:
                print(res.stderr, file=sys.stderr)
            runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
        r0 = runs[0]
        print(f"{r0['cells']:,} cells, {args.schools:,} schools, {r0['pairs']:,} cost pairs; "
              f"load {os.getloadavg()[0]:.1f}")
        print(f"{'stage':<12}" + "".join(f"{'run ' + str(i + 1):>10}" for i in range(len(runs)))
              + "".join(f"{'cpu ' + str(i + 1):>10}" for i in range(len(runs))))
        for name in ORDER:
            print(f"{name:<12}" + "".join(f"{r.get(name, 0.0):>9.1f}s" for r in runs)
                  + "".join(f"{r['cpu'].get(name, 0.0):>9.1f}s" for r in runs))
        print(f"{'peak':<12}" + "".join(f"{r['peak_mb']:>8.0f}MB" for r in runs))
        for i, r in enumerate(runs):
            sv = r.get("solve") or {}
            if sv.get("where") == "process":
                print(f"run {i + 1}: the assignment's solve in a child process: CPU "
                      f"{sv.get('cpu', float('nan')):.1f} s, peak {sv.get('peak_mb', 0):,.0f} MB,"
                      f" {sv.get('seconds', 0):.1f} s from its start to its answer, of which "
                      f"the run waited {sv.get('waited', 0):.1f} s")
        print("peak memory (MB) when each stage ended, run 1: " + ", ".join(
            f"{k} {v:,.0f}" for k, v in r0["peaks"].items()))


if __name__ == "__main__":
    main()
