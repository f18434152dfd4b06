"""Benchmark district evaluation and zone generation (issue 8, point 6).

Targets: evaluating three proposals over a 100,000-cell grid in under 10 s; proposing zones for
100 schools over 50,000 cells in under 2 minutes.

Each stage runs in its own subprocess so its peak memory (``ru_maxrss``) is its own:

- ``evaluate3``: :func:`compare_districts` on three proposals (strip polygons, Voronoi
  polygons, a cell -> district table) over 100,000 cells and 100 schools, straight line.
- ``baseline3``: the same counts with plain geopandas (``sjoin`` of centroids, ``groupby``,
  ``dissolve`` for compactness), the pipeline an analyst would otherwise script.
- ``propose``: :func:`propose_zones` for 100 schools over 50,000 cells (auto -> heuristic).
- ``propose_mip``: the integer programme with contiguity cuts on 2,500 cells and 10 schools.
- ``propose_5k``: :func:`propose_zones` for 20 schools over 5,000 cells (auto -> heuristic).
- ``spopt``: the peer regionalisation tool, ``spopt.region.RegionKMeansHeuristic`` (contiguous
  regions, no seats or schools), 20 regions on the same 5,000 cells, for the time. (On the
  50,000-cell instance with 100 regions it did not finish within 15 minutes.)

Run: ``python benchmarks/bench_districts.py [stage ...]`` (default: all).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import numpy as np

STAGES = ["evaluate3", "baseline3", "propose", "propose_mip", "propose_5k", "spopt"]


def make_grid(nx, ny, n_schools, seed=0, size=100.0):
    import geopandas as gpd
    import pandas as pd
    import shapely

    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.arange(nx), np.arange(ny))
    x, y = x.ravel() * size, y.ravel() * size
    cells = gpd.GeoDataFrame({"children": rng.poisson(5, nx * ny).astype(float)},
                             geometry=shapely.box(x, y, x + size, y + size), crs=32633,
                             index=pd.Index(np.arange(nx * ny), name="cell"))
    sx, sy = rng.uniform(0, nx * size, n_schools), rng.uniform(0, ny * size, n_schools)
    seats = rng.uniform(0.7, 1.3, n_schools)
    seats *= cells["children"].sum() / seats.sum()
    schools = gpd.GeoDataFrame({"seats": seats}, geometry=shapely.points(sx, sy), crs=32633,
                               index=pd.Index([f"s{i}" for i in range(n_schools)], name="school"))
    return cells, schools


def proposals(cells, nx, ny, size=100.0, seed=0):
    import geopandas as gpd
    import pandas as pd
    import shapely
    from scipy.spatial import cKDTree

    w, h = nx * size, ny * size
    strips = gpd.GeoDataFrame({"district": [f"d{i}" for i in range(10)]}, crs=cells.crs,
                              geometry=[shapely.box(i * w / 10, 0, (i + 1) * w / 10, h)
                                        for i in range(10)])
    rng = np.random.default_rng(seed + 1)
    seeds = np.c_[rng.uniform(0, w, 10), rng.uniform(0, h, 10)]
    vor = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds),
                                                     extend_to=shapely.box(0, 0, w, h)))
    vor = shapely.intersection(vor, shapely.box(0, 0, w, h))
    voronoi = gpd.GeoDataFrame({"district": [f"v{i}" for i in range(len(vor))]},
                               geometry=vor, crs=cells.crs)
    seeds2 = np.c_[rng.uniform(0, w, 12), rng.uniform(0, h, 12)]
    cxy = np.c_[cells.centroid.x, cells.centroid.y]
    _, near = cKDTree(seeds2).query(cxy)
    table = pd.Series([f"t{k}" for k in near], index=cells.index)
    return {"strips": strips, "voronoi": voronoi, "table": table}


def stage_evaluate3():
    from geoequity._progress import set_quiet
    from geoequity.districts import compare_districts

    set_quiet(True)
    cells, schools = make_grid(400, 250, 100)
    props = proposals(cells, 400, 250)
    t = time.perf_counter()
    r = compare_districts(cells, schools, props, threshold=1000)
    dt = time.perf_counter() - t
    return {"cells": len(cells), "proposals": 3, "seconds": dt,
            "children_moved_voronoi": r.table.loc["children_moved", "voronoi"]}


def stage_baseline3():
    import geopandas as gpd
    import pandas as pd

    cells, schools = make_grid(400, 250, 100)
    props = proposals(cells, 400, 250)
    t = time.perf_counter()
    cent = cells.set_geometry(cells.centroid)
    for p in props.values():
        if isinstance(p, gpd.GeoDataFrame):
            j = gpd.sjoin(cent, p, predicate="within")
            kids = j.groupby("district")["children"].sum()
            s = gpd.sjoin(schools, p, predicate="within").groupby("district")["seats"].sum()
            geom = p.set_index("district").geometry
        else:
            kids = cells["children"].groupby(p).sum()
            lab = pd.Series(p.to_numpy(), index=cells.index)
            geom = cells.assign(district=lab).dissolve("district").geometry
            s = None
        pp = 4 * np.pi * geom.area / geom.length**2
        _ = (kids, s, pp, geom.minimum_bounding_radius())
    return {"cells": len(cells), "proposals": 3, "seconds": time.perf_counter() - t,
            "note": "counts + Polsby-Popper + bounding circle only, no travel"}


def _propose(nx: int, ny: int, k: int, seed: int, **kwargs) -> dict:
    """Time ``propose_zones`` on a generated nx x ny grid with k schools."""
    from geoequity._progress import set_quiet
    from geoequity.districts import propose_zones

    set_quiet(True)
    cells, schools = make_grid(nx, ny, k, seed=seed)
    t = time.perf_counter()
    zp = propose_zones(cells, schools, time_limit=110, **kwargs)
    return {"cells": len(cells), "schools": k, "seconds": time.perf_counter() - t,
            "method": zp.method, "constraints": zp.constraints, "stats": zp.stats}


def stage_propose():
    return _propose(250, 200, 100, seed=2, tolerance=0.1)


def stage_propose_mip():
    out = _propose(50, 50, 10, seed=3, tolerance=0.05, method="mip")
    stats = out.pop("stats")
    return {**out, "rounds": stats.get("rounds"), "cuts": stats.get("cuts")}


def stage_propose_5k():
    out = _propose(100, 50, 20, seed=4, tolerance=0.1, method="heuristic")
    out.pop("stats")
    return out


def stage_spopt():
    import warnings

    from libpysal.weights import Rook
    from spopt.region import RegionKMeansHeuristic

    warnings.filterwarnings("ignore")
    cells, _ = make_grid(100, 50, 20, seed=4)
    t = time.perf_counter()
    w = Rook.from_dataframe(cells, use_index=False)
    model = RegionKMeansHeuristic(cells[["children"]].to_numpy(), 20, w)
    model.solve()
    return {"cells": len(cells), "regions": 20, "seconds": time.perf_counter() - t,
            "note": "contiguous k-means regions on children; no seats, schools or balance"}


def run_stage(name: str) -> dict:
    out = globals()[f"stage_{name}"]()
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main(argv: list[str]) -> None:
    if argv[:1] == ["--stage"]:
        print(json.dumps(run_stage(argv[1]), default=str))
        return
    for name in argv or STAGES:
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--stage", name], capture_output=True,
                              text=True, timeout=900)
        if proc.returncode:
            print(f"{name}: failed ({time.perf_counter() - t:.0f} s)\n{proc.stderr[-800:]}")
            continue
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{name:12s} {res.pop('seconds'):7.2f} s  peak {res.pop('peak_rss_mb'):7.0f} MB  "
              f"{res}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
