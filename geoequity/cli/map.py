"""``geoequity map``: an offline HTML map from a ``geoequity run`` folder or explicit layers.

Usage::

    geoequity map OUTDIR [-o OUTDIR/maps/map.html] [--png FILE] [--tiles osm|none|URL|...]

A run folder with ``cells_by_year.parquet`` (a run with ``[forecast]``) gets the same year
switch as the run's own map, and one with ``plans_by_year.csv`` (``[[plans]]``) its plan layers.
    geoequity map [--schools FILE --school-id COL [--school-name COL] [--school-seats COL]]
                  [--cells FILE --value COL] [--districts FILE --district-name COL]
                  [--tiles ...] [--png FILE] -o map.html
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from geoequity._errors import input_error
from geoequity._progress import info, step
from geoequity.settings import RunSettings

# The files of a ``geoequity run`` folder that hold its cells, the first found read: the
# GeoParquet every run writes (read faster, in the run's row order: geoequity.io.parquet),
# else the GeoPackage (above 200,000 cells a run leaves it out: [outputs] gpkg)
RUN_CELLS = ("cells.parquet", "cells.gpkg")

# Files a ``geoequity run`` output folder may hold (the first of each found is read), and the
# id column of each.
RUN_LAYERS = {
    "cells": (RUN_CELLS, ("cell", "id", "origin")),
    "schools": (("schools.gpkg",), ("school", "school_id", "id")),
    "districts": (("districts.gpkg",), ("district",)),
    "catchments": (("catchments.gpkg",), ()),
    "service_areas": (("service_areas.gpkg",), ()),
    "sites": (("sites.gpkg",), ("site",)),
}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "map", help="interactive offline HTML map (one file, opens with no internet)",
        description="Build an interactive map as one self-contained HTML file that opens\n"
                    "with no internet: from the output folder of `geoequity run`, or from\n"
                    "explicit layers.",
        epilog="examples:\n  geoequity map out/ -o out/maps/map.html --png out/maps/map.png\n"
               "  geoequity map --schools schools.csv --school-id id --school-seats seats "
               "--cells grid.gpkg --value children -o map.html",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("outdir", nargs="?", metavar="OUTDIR",
                   help="output folder of `geoequity run` (reads whichever layers exist)")
    p.add_argument("--schools", metavar="FILE", help="school points (any vector file or CSV)")
    p.add_argument("--school-id", metavar="COL", help="school id column")
    p.add_argument("--school-name", metavar="COL", help="school name column")
    p.add_argument("--school-seats", metavar="COL", help="seats (capacity) column")
    p.add_argument("--cells", metavar="FILE", help="grid cells or demand points")
    p.add_argument("--value", metavar="COL", help="cell column to show first")
    p.add_argument("--districts", metavar="FILE", help="district polygons")
    p.add_argument("--district-name", metavar="COL", help="district name column")
    p.add_argument("--input-crs", metavar="CRS",
                   help="CRS of inputs that have none (EPSG:4326, gcj02, bd09, ...)")
    from geoequity.cli._common import add_id_dtype_arg

    add_id_dtype_arg(p)
    p.add_argument("--tiles", default=None, metavar="TILES",
                   help="basemap: none (default, no network), osm, tianditu, amap, an "
                        "xyzservices name (e.g. CartoDB.Voyager) or an XYZ URL")
    p.add_argument("--tiles-key", metavar="KEY", help="API key of the basemap (Tianditu ...)")
    p.add_argument("--title", help="map title (default: from run.json, else 'geoequity')")
    p.add_argument("--osm", action="store_true",
                   help="credit OpenStreetMap contributors (data came from OSM)")
    p.add_argument("--max-vector-cells", type=int, default=None, metavar="N",
                   help="draw more cells than N as an image (default 10000)")
    p.add_argument("--lang", choices=["en", "zh"], default=None,
                   help="legend, layer and popup language (default: the run's, else en)")
    p.add_argument("--png", metavar="FILE", help="also write a screenshot (headless Chromium)")
    p.add_argument("--maps-by", metavar="COL",
                   help='an overview at the output path (districts coloured by their figures) '
                   'and one map per group in the folder beside it: "districts" or a column of '
                   "the districts layer, e.g. county (the run's scenario's layer when "
                   "districts.gpkg lacks it)")
    p.add_argument("-o", "--output", metavar="HTML",
                   help="output HTML (default OUTDIR/maps/map.html)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func=run)


def _read_run_layer(path: Path, id_cols):
    from geoequity.io import read_layer

    gdf = read_layer(path, project=False)
    for col in id_cols:
        if col in gdf.columns and gdf[col].is_unique:
            gdf = gdf.set_index(gdf[col].rename(col))
            break
    return gdf


def _from_outdir(outdir: Path) -> dict:
    if not outdir.is_dir():
        raise input_error(outdir, "is not a folder", "give the output folder of geoequity run")
    meta = {}
    summary = outdir / "summary.json"   # written by every run: title, threshold, osm ...
    if summary.is_file():
        try:
            meta = json.loads(summary.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise input_error(summary, f"is not valid JSON ({exc.msg}, line {exc.lineno})",
                              "re-run geoequity run or remove the file") from None
        if isinstance(meta, dict):
            meta.setdefault("fair_share", meta.get("seats_per_child"))
    layers = {}
    for key, (names, ids) in RUN_LAYERS.items():
        # (a cluster run's cells.parquet is a folder of parts: geoequity.io.parquet)
        path = next((outdir / n for n in names if (outdir / n).is_file() or (
            n.endswith(".parquet") and (outdir / n).is_dir())), None)
        if path is not None:
            layers[key] = _read_run_layer(path, ids)
    proposals = {}
    for path in sorted(outdir.glob("proposal*.gpkg")) + sorted(
            (outdir / "proposals").glob("*.gpkg") if (outdir / "proposals").is_dir() else []):
        pname = path.stem.removeprefix("proposal").lstrip("_-") or path.stem
        proposals[pname] = _read_run_layer(path, ("district",))
    if proposals:
        layers["proposals"] = proposals
    if not layers:
        raise input_error(outdir, "holds none of " + ", ".join(n for v in RUN_LAYERS.values()
                                                               for n in v[0]),
                          "run `geoequity run` first or name layers with --schools/--cells")
    meta = meta if isinstance(meta, dict) else {}
    yearly = None
    if (outdir / "cells_by_year.parquet").is_file():   # a run with [forecast]: the year switch
        from geoequity.yearly import read_yearly

        yearly = read_yearly(outdir)
    from geoequity.plan_compare import read_plans

    plans = read_plans(outdir)   # a run with [[plans]]: one layer per plan
    return {"layers": layers, "meta": meta, "settings": RunSettings.from_summary(meta),
            "yearly": yearly, "plans": plans.by_year if plans is not None else None,
            "plan_schools": plans.schools if plans is not None else None}


def _explicit(args) -> dict:
    from geoequity.io import read_districts, read_layer, read_points, read_schools

    layers = {}
    if args.schools:
        if args.school_seats:
            layers["schools"] = read_schools(args.schools, id_col=args.school_id,
                                             seats_col=args.school_seats,
                                             name_col=args.school_name,
                                             input_crs=args.input_crs,
                                             id_dtype=args.id_dtype)
        else:
            s = read_points(args.schools, id_col=args.school_id, input_crs=args.input_crs,
                            id_dtype=args.id_dtype)
            if args.school_name:
                if args.school_name not in s.columns:
                    raise input_error(args.schools, f"has no column {args.school_name!r}",
                                      f"choose one of: {', '.join(map(str, s.columns[:-1]))}")
                s["name"] = s[args.school_name].astype(str)
            layers["schools"] = s
    if args.cells:
        cells = read_layer(args.cells, input_crs=args.input_crs, project=False)
        if args.value and args.value not in cells.columns:
            raise input_error(args.cells, f"has no column {args.value!r}",
                              f"choose one of: {', '.join(map(str, cells.columns[:-1]))}")
        layers["cells"] = cells
    if args.districts:
        if args.district_name:
            layers["districts"] = read_districts(args.districts, name_col=args.district_name,
                                                 input_crs=args.input_crs)
        else:
            layers["districts"] = read_layer(args.districts, input_crs=args.input_crs,
                                             project=False)
    return {"layers": layers, "meta": {}, "settings": RunSettings()}


def _threshold_text(run: RunSettings, lang: str = "en") -> str | None:
    t = run.threshold
    if t is None:
        return None
    if not isinstance(t, int | float):
        return str(t)
    if lang == "zh":
        return f"服务半径 {t:g} {'分钟' if run.unit == 'min' else '米'}"
    return f"within {t:g} {run.unit}"


def _access_text(meta: dict, run: RunSettings) -> str | None:
    """Legend note of the accessibility layer from summary.json (measure and threshold)."""
    if meta.get("access_label"):
        return str(meta["access_label"])
    measure = meta.get("measure") or (run.method.upper() if run.method else None)
    t = run.threshold
    if not measure:
        return None
    within = f" within {t:g} {run.unit}" if isinstance(t, int | float) else ""
    return f"{measure}: school seats reachable per child{within} (higher is better)"


def _maps_by_districts(args, districts, meta: dict):
    """The districts with the ``--maps-by`` column: from the layer itself, else from the
    districts layer of the run's scenario (``summary.json``: ``scenario``), joined by name."""
    from geoequity._options import door
    from geoequity.maps._overview import DISTRICTS, check_maps_by

    by = args.maps_by
    source = Path(args.outdir) / "districts.gpkg" if args.outdir else args.districts
    with door("cli"):
        if districts is None:
            check_maps_by(by, None, source=source or "geoequity map")
        if by == DISTRICTS or by in districts.columns:
            return districts
        scenario = meta.get("scenario")
        d = None
        if scenario and Path(scenario).is_file():
            from geoequity.scenario import load_scenario

            d = load_scenario(scenario).districts
        if d is not None:
            from geoequity.io import read_districts

            layer = read_districts(d["path"], name_col=d["name"], input_crs=d.get("input_crs"),
                                   layer=d.get("layer"))
            if by in layer.columns:
                groups = layer.set_index("district")[by]
                return districts.assign(**{by: districts["district"].astype(str).map(groups)})
            check_maps_by(by, [c for c in layer.columns if c != layer.geometry.name],
                          source=source, layer=f"the run's districts layer {d['path']}")
        check_maps_by(by, [c for c in districts.columns if c != districts.geometry.name],
                      source=source, layer="the districts layer")
    return districts


def _write_map_set(args, out: Path, map_args: dict, meta: dict,
                   run: RunSettings) -> list[Path]:
    """The overview at ``out`` and a map per group beside it, committed as one set; returns
    the county maps' paths."""
    from geoequity.maps._overview import draw_map_set, pending_map_set

    map_args["districts"] = _maps_by_districts(args, map_args["districts"], meta)
    with pending_map_set(out) as pending:
        drawn = draw_map_set(pending, map_args, by=args.maps_by, threshold=run.threshold,
                             png=args.png)
        pending.commit()
    return drawn


def run(args) -> int:
    from geoequity.maps import make_map, save_map

    explicit = any([args.schools, args.cells, args.districts])
    if args.outdir:
        src = _from_outdir(Path(args.outdir))
        if explicit:  # explicit layers override the folder's
            src["layers"].update(_explicit(args)["layers"])
    elif explicit:
        src = _explicit(args)
    else:
        raise input_error("geoequity map", "no layers given",
                          "give an OUTDIR of geoequity run, or --schools/--cells/--districts")
    if args.output:
        out = Path(args.output)
    elif args.outdir:
        out = Path(args.outdir) / "maps" / "map.html"
    else:
        raise input_error("geoequity map", "no output file", "add -o map.html")
    if out.suffix.lower() not in (".html", ".htm"):
        raise input_error(out, "output must be an .html file", "use -o map.html")
    meta, run_settings = src["meta"], src["settings"]
    layers = src["layers"]
    cells = layers.get("cells")
    value = args.value
    if cells is not None and value is None and "children" not in cells.columns and not (
            {"access", "gap"} & set(cells.columns)):
        raise input_error(args.cells or cells.attrs.get("source", "cells"),
                          "no children/access/gap column to map",
                          "name the column to show with --value COL")
    kwargs = {}
    if args.max_vector_cells is not None:
        kwargs["max_vector_cells"] = args.max_vector_cells
    tiles = args.tiles if args.tiles is not None else run_settings.tiles
    lang = args.lang or run_settings.lang
    from geoequity.maps._overview import stale_county_maps

    map_args = dict(
        schools=layers.get("schools"), cells=cells, value_col=value,
        districts=layers.get("districts"), catchments=layers.get("catchments"),
        service_areas=layers.get("service_areas"), sites=layers.get("sites"),
        proposals=layers.get("proposals"),
        title=args.title or run_settings.title or "geoequity",
        subtitle=meta.get("subtitle") or _threshold_text(run_settings, lang), tiles=tiles,
        tiles_key=args.tiles_key,
        osm_attribution=bool(args.osm or run_settings.osm),
        fair_share=meta.get("fair_share"), access_label=_access_text(meta, run_settings),
        district_name_col="district", lang=lang,
        cost_unit=run_settings.unit, yearly=src.get("yearly"), plans=src.get("plans"),
        plan_schools=src.get("plan_schools"), **kwargs)
    county_maps = []
    if args.maps_by:
        county_maps = _write_map_set(args, out, map_args, meta, run_settings)
    else:
        with step("building map"):
            m = make_map(**map_args)
        save_map(m, out, png=args.png)
        stale_county_maps(out).commit()   # an earlier overview's county maps at this path
    info(f"map written to {out}" + (f" and {args.png}" if args.png else ""))
    if args.json:
        from geoequity.cli._common import print_json

        print_json({"html": str(out), "png": args.png, "layers": sorted(layers),
                    "maps": [str(p) for p in county_maps]})
    return 0
