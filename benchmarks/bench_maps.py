"""Benchmark: maps of large grids. geoequity vs folium GeoJson and geopandas ``explore``.

For each stage (build + save one HTML map of an N-cell grid with children/access/gap columns)
a fresh subprocess reports wall time and peak RSS (``resource.getrusage``), and the file size.
Then each saved file is opened in headless Chromium (Debian chromium via Playwright, every
http(s) request blocked, as on an office network with no internet) and the time from
navigation to the data being drawn is measured, together with the number of drawn elements.

Usage::

    python benchmarks/bench_maps.py [--sizes 20000 200000] [--peers]

The peers load Leaflet from CDNs, so offline they do not draw at all (reported as such); their
build time, memory and file size are still measured on the same grid, and their drawing time is
measured a second time with the CDN requests answered locally (as if online).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_grid(n: int):
    """n square 100 m cells (UTM 33N) with children, access (10 % NaN) and gap."""
    import geopandas as gpd
    import numpy as np
    import shapely

    side = int(np.ceil(np.sqrt(n)))
    k = np.arange(n)
    x = 500_000 + (k % side) * 100.0
    y = 5_000_000 + (k // side) * 100.0
    rng = np.random.default_rng(42)
    access = rng.gamma(2.0, 0.5, n)
    access[rng.random(n) < 0.1] = np.nan
    gdf = gpd.GeoDataFrame({"children": rng.poisson(20, n).astype(float), "access": access,
                            "gap": access / np.nanmean(access)},
                           geometry=shapely.box(x, y, x + 100, y + 100), crs=32633)
    gdf.index.name = "cell"
    schools = gpd.GeoDataFrame({"seats": rng.integers(100, 1000, 200).astype(float),
                                "name": [f"school {i}" for i in range(200)]},
                               geometry=shapely.points(rng.uniform(x.min(), x.max(), 200),
                                                       rng.uniform(y.min(), y.max(), 200)),
                               crs=32633)
    return gdf, schools


def stage(kind: str, n: int, out: str) -> dict:
    if kind == "wuhan":
        return wuhan_stage(out)
    cells, schools = make_grid(n)
    t0 = time.perf_counter()
    if kind == "geoequity":
        from geoequity._progress import set_quiet
        from geoequity.maps import make_map, save_map

        set_quiet(True)
        m = make_map(cells=cells, schools=schools, title=f"{n} cells")
        save_map(m, out)
    elif kind == "folium":
        import folium

        m = folium.Map(tiles=None)
        c = cells.to_crs(4326)
        folium.Choropleth(c.reset_index(), data=c.reset_index(), columns=["cell", "gap"],
                          key_on="feature.properties.cell", bins=7,
                          fill_color="RdBu").add_to(m)
        folium.GeoJson(schools.to_crs(4326)).add_to(m)
        m.fit_bounds(m.get_bounds())
        m.save(out)
    elif kind == "explore":
        m = cells.explore(column="gap", tiles=None, scheme=None, k=7)
        schools.explore(m=m)
        m.save(out)
    else:
        raise ValueError(kind)
    secs = time.perf_counter() - t0
    return {"kind": kind, "n": n, "build_save_s": round(secs, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "size_mb": round(os.path.getsize(out) / 1e6, 2)}


def wuhan_stage(out: str) -> dict:
    """Real data: the Wuhan WorldPop rasters (494,676 valid 3 arc-second cells), Amap basemap."""
    from geoequity._progress import set_quiet
    from geoequity.io import read_population
    from geoequity.maps import make_map, save_map

    set_quiet(True)
    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "wuhan"
    cells = read_population([data / "pop_20_f_wuhan.tif", data / "pop_20_m_wuhan.tif"],
                            child_share=0.5)
    t0 = time.perf_counter()
    save_map(make_map(cells=cells, title="Wuhan WorldPop", tiles="amap"), out)
    return {"kind": "geoequity wuhan worldpop", "n": len(cells),
            "build_save_s": round(time.perf_counter() - t0, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "size_mb": round(os.path.getsize(out) / 1e6, 2)}


def _serve_cdn_locally(route) -> None:
    """Answer CDN requests from local copies: Leaflet from geoequity's assets, others empty."""
    from geoequity.maps import _assets

    url = route.request.url
    if url.startswith(("file:", "data:")):
        route.continue_()
    elif "leaflet" in url and url.endswith("leaflet.js"):
        route.fulfill(status=200, content_type="application/javascript",
                      body=_assets.leaflet_js())
    elif "leaflet" in url and url.endswith("leaflet.css"):
        route.fulfill(status=200, content_type="text/css", body=_assets.leaflet_css())
    else:
        route.fulfill(status=200, body="")


def first_paint(paths: list[Path], *, serve_cdn: bool = False, timeout_s: float = 180) -> dict:
    """Seconds from navigation to a painted frame after ``load``, and what was drawn.

    Offline (default) every non-file request is aborted. With ``serve_cdn`` the peers' CDN
    requests are answered locally (Leaflet from geoequity's copy, other assets empty), to
    time their drawing as if the CDN were reachable.
    """
    from playwright.sync_api import sync_playwright

    exe = os.environ.get("GEOEQUITY_CHROMIUM") or shutil.which("chromium")
    out = {}
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, headless=True,
                               args=["--no-sandbox", "--disable-gpu"])
        for p in paths:
            ctx = b.new_context(viewport={"width": 1200, "height": 800})
            page = ctx.new_page()
            errors = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            if serve_cdn:
                ctx.route("**/*", _serve_cdn_locally)
            else:
                ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith(
                    ("file:", "data:")) else r.abort())
            t0 = time.perf_counter()
            try:
                page.goto(p.as_uri(), wait_until="load", timeout=timeout_s * 1000)
                # a drawn frame after load: the data layers are in the DOM and painted
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => "
                              "requestAnimationFrame(r)))")
            except Exception as exc:  # noqa: BLE001 - report, keep benchmarking
                out[p.name] = {"error": str(exc).splitlines()[0]}
                ctx.close()
                continue
            secs = time.perf_counter() - t0
            drawn = page.evaluate(
                "(window.GE && GE.counts) ? Object.values(GE.counts).reduce((a, b) => a + b, 0)"
                " : document.querySelectorAll('path.leaflet-interactive').length")
            out[p.name] = {"first_paint_s": round(secs, 2), "drawn_features": drawn,
                           "page_errors": errors[:1],
                           "mode": "cdn served locally" if serve_cdn else "offline"}
            ctx.close()
        b.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stage")
    ap.add_argument("--n", type=int)
    ap.add_argument("--out")
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    ap.add_argument("--peers", action="store_true", help="also run folium and explore")
    ap.add_argument("--wuhan", action="store_true",
                    help="also map the real Wuhan WorldPop grid (../shared/data)")
    a = ap.parse_args()
    if a.stage:
        print(json.dumps(stage(a.stage, a.n, a.out)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench_maps_"))
    kinds = ["geoequity"] + (["folium", "explore"] if a.peers else [])
    files = []
    jobs = [(kind, n) for n in a.sizes for kind in kinds] + ([("wuhan", 0)] if a.wuhan else [])
    for kind, n in jobs:
        out = tmp / f"{kind}_{n}.html"
        try:
            r = subprocess.run([sys.executable, __file__, "--stage", kind, "--n", str(n),
                                "--out", str(out)], capture_output=True, text=True,
                               timeout=900)
            line = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr[-300:]
            print(line, flush=True)
            if out.exists():
                files.append(out)
        except subprocess.TimeoutExpired:
            print(json.dumps({"kind": kind, "n": n, "error": "timeout 900 s"}), flush=True)
    for name, res in first_paint(files).items():
        print(json.dumps({"file": name, **res}), flush=True)
    peers = [f for f in files if f.name.startswith(("folium", "explore"))]
    if peers:
        for name, res in first_paint(peers, serve_cdn=True).items():
            print(json.dumps({"file": name, **res}), flush=True)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
