"""``geoequity report``: the self-contained HTML equalization report (and its tables as CSV).

Inputs are either the output folder of ``geoequity run`` (``cells.gpkg``, ``schools.gpkg``,
``districts.csv`` and ``summary.json`` for the threshold and title) or explicit files, or both
(an explicit file wins). Example::

    geoequity report out/ --lang zh -o out/report_zh.html
    geoequity report --cells cells.gpkg --schools schools.csv --threshold 1000 -o report.html
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from geoequity._errors import input_error
from geoequity._notes import note
from geoequity.settings import RunSettings

_CANDIDATES = {
    "cells": ("cells.gpkg", "cells.parquet", "cells.geojson", "cells.csv"),
    "schools": ("schools.gpkg", "schools.parquet", "schools.geojson", "schools.csv"),
    "districts": ("districts.csv", "districts.parquet"),
}


def register(subparsers) -> None:
    """Add the ``report`` subcommand."""
    p = subparsers.add_parser(
        "report", help="write the self-contained HTML equity report (zh/en) and its CSV tables",
        description="Write one HTML file that opens with no internet: key figures, district "
                    "comparison, Lorenz curves, seats per child and travel by district, the "
                    "Theil decomposition, the school-resource CV table with pass/fail against "
                    "the national standards and the schools that fail; the same tables as "
                    "CSV beside it. Sections whose data is missing are left out.",
        epilog="examples: geoequity report out/ --lang zh -o out/report_zh.html | "
               "geoequity report --cells cells.gpkg --schools schools.csv --threshold 1000 "
               "-o report.html")
    p.add_argument("folder", metavar="FOLDER", nargs="?",
                   help="output folder of `geoequity run` (cells.gpkg, schools.gpkg, "
                        "districts.csv, summary.json)")
    p.add_argument("--cells", metavar="FILE",
                   help="per-cell results: children, access, nearest_cost, district, urban ...")
    p.add_argument("--schools", metavar="FILE",
                   help="schools with seats, level and resource columns (enrolment, teachers, "
                        "floor_area, books ...)")
    p.add_argument("--districts", metavar="FILE", help="per-district gap table (CSV)")
    p.add_argument("-o", "--output", metavar="HTML", required=True, help="report file (.html)")
    p.add_argument("--lang", choices=["en", "zh"], default=None,
                   help="label language (default: the run's, else en)")
    p.add_argument("--title", help="report title")
    p.add_argument("--threshold", type=float, metavar="X",
                   help="walking threshold in the cost unit (default: the run's)")
    p.add_argument("--unit", choices=["m", "min"], default=None,
                   help="unit of travel costs (default: the run's, else m)")
    p.add_argument("--standard", choices=["basic", "quality"],
                   help="balance standard (default: quality when the 2017 columns exist)")
    p.add_argument("--children-col", default="children", metavar="COL")
    p.add_argument("--access-col", default="access", metavar="COL")
    p.add_argument("--cost-col", default=None, metavar="COL",
                   help="travel cost to the nearest school (default nearest_cost or cost)")
    p.add_argument("--gap-col", default=None, metavar="COL",
                   help="children without a seat (default unassigned or gap)")
    p.add_argument("--district-col", default="district", metavar="COL")
    # column flags: --level, --type and --urban (as `geoequity equity` spelled them) are
    # aliases of --level-col, --type-col and --urban-col
    p.add_argument("--urban-col", "--urban", dest="urban_col", default="urban", metavar="COL",
                   help="urban/rural class column (default urban; also --urban)")
    p.add_argument("--population-col", default=None, metavar="COL",
                   help="residents per cell, to derive urban/rural when --urban-col is absent")
    p.add_argument("--level-col", "--level", dest="level_col", default="level", metavar="COL",
                   help="school level column (default level; also --level)")
    p.add_argument("--school-id", metavar="COL",
                   help="school id column of the failing-schools table (default: school_id, "
                   "school or id; the name column is shown beside it)")
    p.add_argument("--type-col", "--type", dest="type_col", metavar="COL",
                   help="school type column (default school_type when present): special and "
                        "vocational schools and small teaching points are left out of the "
                        "balance and listed (also --type)")
    p.add_argument("--checklist", metavar="FILE",
                   help="the county's 2017 checklist table (indicator, value); default the "
                        "run's [evaluation] checklist")
    p.add_argument("--teachers", metavar="FILE",
                   help="a teacher table (eligible, rotated, backbone) for the rotation items")
    p.add_argument("--no-csv", action="store_true", help="do not write the CSV tables")
    p.add_argument("--osm", action="store_true",
                   help="credit OpenStreetMap (ODbL) for the street data; a run folder says "
                   "so itself in summary.json")
    p.set_defaults(func=run)


def _read(path: Path, *, geo: bool) -> pd.DataFrame:
    """A layer (projected, for urban/rural) or a plain table (CSV without coordinates)."""
    if not path.exists():
        raise input_error(path, "file not found", f"check the path (taken from {Path.cwd()})")
    if path.suffix.lower() == ".csv":
        from geoequity.io.tables import read_attributes

        df = read_attributes(str(path))
        cols = {c.lower() for c in df.columns}
        if not (geo and ({"lon", "lat"} <= cols or {"x", "y"} <= cols)):
            return df
    if path.suffix.lower() == ".parquet" and not geo:
        return pd.read_parquet(path)
    from geoequity.io import read_layer

    return read_layer(path)


def _find(folder: Path | None, name: str, explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    if folder is None:
        return None
    for cand in _CANDIDATES[name]:
        if (folder / cand).exists():
            return folder / cand
    return None


def run(args: argparse.Namespace) -> int:
    from geoequity.report import write_report

    folder = Path(args.folder) if args.folder else None
    if folder is not None and not folder.is_dir():
        raise input_error(folder, "is not a folder", "give the output folder of `geoequity "
                          "run`, or use --cells/--schools/--districts")
    summary: dict = {}
    if folder is not None and (folder / "summary.json").exists():
        try:
            summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            summary = {}
    paths = {k: _find(folder, k, getattr(args, k)) for k in _CANDIDATES}
    if not any(paths.values()):
        raise input_error(folder or "report", "no input found (cells, schools or districts)",
                          "give a `geoequity run` output folder or --cells/--schools")
    cells = _read(paths["cells"], geo=True) if paths["cells"] else None
    schools = _read(paths["schools"], geo=False) if paths["schools"] else None
    districts = _read(paths["districts"], geo=False) if paths["districts"] else None
    if schools is not None and args.school_id:
        if args.school_id not in schools.columns:
            raise input_error(paths["schools"], f"has no column {args.school_id!r}",
                              f"choose one of: {', '.join(map(str, schools.columns))}")
        schools = schools.set_index(args.school_id, drop=False)
    elif schools is not None:   # the run's school ids, so schools are named as in its report
        id_col = next((c for c in ("school_id", "school", "id") if c in schools.columns
                       and schools[c].is_unique), None)
        if id_col is not None:
            schools = schools.set_index(id_col, drop=False)
    by_year = None   # a run with [forecast]: the "over the years" section
    if folder is not None and (folder / "districts_by_year.csv").is_file():
        by_year = _read(folder / "districts_by_year.csv", geo=False)
        if "district" in by_year.columns:
            by_year["district"] = by_year["district"].astype(str)
        need = {"district", "year", "seats_per_child", "shortfall"}
        if not need <= set(by_year.columns):
            raise input_error(folder / "districts_by_year.csv", "has no column(s) "
                              + ", ".join(sorted(need - set(by_year.columns))),
                              "re-run geoequity run to rewrite the per-year tables")
    plans = None   # a run with [[plans]]: the "plans compared" section
    if folder is not None:
        from geoequity.plan_compare import read_plans

        plans = read_plans(folder)
    run = RunSettings.from_summary(summary)   # the run's settings, as it wrote them
    threshold = args.threshold if args.threshold is not None else run.threshold
    lang = args.lang or run.lang
    unit = args.unit or run.unit
    from geoequity.assignment_decomposed import AssignmentReport

    assigned = AssignmentReport.from_summary(summary)   # the run's assignment, in one line
    write_report(
        args.output, cells=cells, districts=districts, schools=schools,
        threshold=float(threshold) if threshold is not None else None,
        title=args.title or run.title, lang=lang, children_col=args.children_col,
        access_col=args.access_col, cost_col=args.cost_col, gap_col=args.gap_col,
        district_col=args.district_col, urban_col=args.urban_col,
        population_col=args.population_col, level_col=args.level_col,
        standard=args.standard, cost_unit=unit, csv=not args.no_csv,
        notes=[note("inputs", f"inputs: {', '.join(str(p) for p in paths.values() if p)}",
                    paths=[str(p) for p in paths.values() if p]),
               *([assigned.text(lang)] if assigned else [])],
        osm=bool(args.osm or run.osm),
        balance_levels=[run.level] if run.level else None,
        type_col=args.type_col, checklist=args.checklist or run.checklist,
        teachers=args.teachers or run.teachers, by_year=by_year, plans=plans,
        district_group=summary.get("district_group"))
    return 0
