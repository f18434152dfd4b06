"""Benchmark the equity stages against PySAL ``inequality`` in the same run.

Stages: Gini, Theil T with a 20-group decomposition and CV over n values (geoequity weighted and
unweighted vs PySAL's unweighted Gini/Theil/TheilD); Degree of Urbanisation on the real Wuhan
WorldPop raster (both 20-24 bands summed, as residents); the HTML report over n cells.
Prints wall time and peak traced memory (tracemalloc) per stage.

    python benchmarks/bench_equity.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def stage(name, fn, *args, **kw):
    tracemalloc.start()
    t = time.perf_counter()
    out = fn(*args, **kw)
    dt = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{name:<52}{dt:9.3f} s {peak / 2**20:9.1f} MiB")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    n = ap.parse_args().n
    from inequality.gini import Gini
    from inequality.theil import Theil, TheilD

    from geoequity.equity import coefficient_of_variation, gini, inequality_summary, theil

    rng = np.random.default_rng(0)
    y = rng.lognormal(0, 0.8, n)
    w = rng.integers(1, 50, n).astype(float)
    g = rng.integers(0, 20, n)
    print(f"n = {n:,} values, 20 groups")
    a = stage("geoequity gini (unweighted)", gini, y)
    b = stage("PySAL inequality Gini", lambda: Gini(y).g)
    print(f"  agree: {abs(a - b):.2e}")
    stage("geoequity gini (weighted)", gini, y, w)
    a = stage("geoequity theil T + decomposition (unweighted)", theil, y, None, g)
    b = stage("PySAL TheilD (unweighted)", TheilD, y, g)
    print(f"  agree: between {abs(a.between - float(np.ravel(b.bg)[0])):.2e}")
    stage("PySAL Theil (total only)", lambda: Theil(y).T)
    stage("geoequity theil T + decomposition (weighted)", theil, y, w, g)
    stage("geoequity weighted CV", coefficient_of_variation, y, w)
    stage("geoequity inequality_summary (weighted, grouped)", inequality_summary, y, w, g)

    rasters = [DATA / "wuhan" / f"pop_20_{s}_wuhan.tif" for s in "fm"]
    if all(p.exists() for p in rasters):
        import geopandas as gpd
        import rasterio
        import shapely

        from geoequity.urban import urbanisation_grid

        def load():
            with rasterio.open(rasters[0]) as src:
                a0 = src.read(1, masked=True)
                tr, crs = src.transform, src.crs
            with rasterio.open(rasters[1]) as src:
                a1 = src.read(1, masked=True)
            tot = (a0.filled(0) + a1.filled(0)).astype(float)
            rows, cols = np.nonzero(~np.ma.getmaskarray(a0) & (tot > 0))
            xs, ys = rasterio.transform.xy(tr, rows, cols)
            gdf = gpd.GeoDataFrame({"pop": tot[rows, cols]},
                                   geometry=shapely.points(xs, ys), crs=crs)
            return gdf.to_crs(32650)

        cells = stage("read Wuhan WorldPop pixels as points", load)
        print(f"  {len(cells):,} populated pixels, {cells['pop'].sum():,.0f} residents (20-24)")
        grid = stage("geoequity Degree of Urbanisation (1 km)", urbanisation_grid, cells, "pop")
        print("  1 km cells by class:", grid["class"].value_counts().to_dict())

    from geoequity.report import write_report

    m = min(n, 200_000)
    cells = pd.DataFrame({"children": w[:m], "access": y[:m], "nearest_cost": y[:m] * 800,
                          "district": np.char.add("D", g[:m].astype(str)),
                          "urban": np.where(g[:m] < 5, "rural", "urban centre")})
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        stage(f"geoequity write_report ({m:,} cells, zh)", write_report,
              Path(tmp) / "r.html", cells=cells, threshold=1000, lang="zh")


if __name__ == "__main__":
    main()
