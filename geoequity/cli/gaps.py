"""``geoequity gaps``: seats-per-child gap tables per cell, per catchment and per district.

Example::

    geoequity gaps --demand cells.gpkg --demand-id id --demand-col children \
        --supply schools.csv --supply-id id --supply-col seats --network city.osm.pbf \
        --threshold 1000 --districts districts.gpkg --district-col name -o gaps.gpkg

``-o gaps.gpkg`` writes layers ``cells``, ``catchments`` and ``districts``; ``-o DIR`` (no
extension) or ``-o gaps.csv``/``gaps.parquet`` writes ``cells``, ``catchments`` and
``districts`` tables beside each other (``DIR/cells.csv`` or ``gaps_cells.csv``, ...).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from geoequity.cli.access import add_cost_args, add_layer_args, add_measure_args


def register(subparsers) -> None:
    """Add the ``gaps`` subcommand."""
    p = subparsers.add_parser(
        "gaps", help="seat gaps per cell, catchment and district",
        description="Seats per child and seat shortfall (children minus seats) per cell (from "
                    "the accessibility scores), per nearest-school catchment and per district; "
                    "children beyond the threshold of any seat and children left without a "
                    "seat by the capacity-constrained assignment. Totals reconcile: children = "
                    "assigned + unassigned in every table.",
        epilog="example: geoequity gaps --demand cells.gpkg --demand-col children --supply "
               "schools.csv --supply-col seats --euclidean --threshold 1000 "
               "--districts districts.gpkg --district-col name -o gaps.gpkg")
    add_layer_args(p)
    add_cost_args(p)
    add_measure_args(p, method_default="2sfca")
    from geoequity.cli._common import add_max_cost_args

    add_max_cost_args(p, assignment=True)
    p.add_argument("--districts", metavar="FILE", help="district polygons")
    p.add_argument("--district-col", metavar="COL", help="district name column of --districts")
    p.add_argument("--no-assign", action="store_true",
                   help="skip the capacity-constrained assignment")
    p.add_argument("--json", action="store_true", help="print the totals as JSON to stdout")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="gaps.gpkg (three layers), gaps.csv / gaps.parquet (three files "
                        "gaps_cells.csv, ...) or a folder")
    p.set_defaults(func=run)


def output_paths(out: str) -> dict[str, tuple[Path, str | None]]:
    """Where each table goes: ``{table: (path, layer)}``."""
    path = Path(out)
    suffix = path.suffix.lower()
    names = ("cells", "catchments", "districts")
    if suffix == ".gpkg":
        return {n: (path, n) for n in names}
    if suffix in (".csv", ".parquet"):
        return {n: (path.with_name(f"{path.stem}_{n}{suffix}"), None) for n in names}
    if suffix:
        from geoequity._errors import input_error

        raise input_error(out, f"unknown output format {suffix!r}",
                          "use .gpkg, .csv, .parquet or a folder")
    return {n: (path / f"{n}.csv", None) for n in names}


def _write_gpkg(tables: dict, out: str) -> None:
    """All tables as layers of one GeoPackage, written atomically (all layers or nothing)."""
    import geopandas as gpd

    from geoequity._atomic import atomic_path

    with atomic_path(out) as tmp:
        for name, table in tables.items():
            if not isinstance(table, gpd.GeoDataFrame):
                table = gpd.GeoDataFrame(table, geometry=[None] * len(table))
            table.to_file(tmp, driver="GPKG", layer=name, engine="pyogrio", index=False)


def run(args: argparse.Namespace) -> int:
    """Execute ``geoequity gaps``."""
    import geopandas as gpd

    from geoequity._errors import input_error
    from geoequity._progress import info, step
    from geoequity.catchments import nearest_catchments
    from geoequity.cli._common import max_cost_from_args, print_json, refuse_overwriting_inputs
    from geoequity.cli.access import apply_level, cost_table, read_inputs
    from geoequity.gaps import seat_gaps
    from geoequity.io import read_districts, write_table

    paths = output_paths(args.output)
    refuse_overwriting_inputs(args, {f"-o ({n})": str(p) for n, (p, _) in paths.items()})
    if args.threshold is None and not args.level:
        raise input_error("--threshold", "gaps need a threshold",
                          "pass --threshold T in cost units (metres by default), or --level")
    cells, schools = read_inputs(args)
    schools = apply_level(args, schools)
    districts = None
    if args.districts:
        if not args.district_col:
            raise input_error(args.districts, "no --district-col given",
                              "name the column holding district names")
        with step("reading districts"):
            districts = read_districts(args.districts, name_col=args.district_col,
                                       crs=cells.crs, input_crs=args.input_crs)
    # the scenario's rule (geoequity.default_max_cost): costs, the nearest school and the
    # assignment reach max_cost (default 4 x threshold), catchments stop at the threshold
    max_cost, assignment_max_cost = max_cost_from_args(args)
    costs = cost_table(args, cells, schools, max_cost)
    gaps = seat_gaps(costs, cells, schools, threshold=args.threshold, method=args.method,
                     decay=args.decay, decay_param=args.decay_param, districts=districts,
                     assign=not args.no_assign, max_cost=max_cost,
                     assignment_max_cost=assignment_max_cost)
    id_col = args.demand_id or cells.attrs.get("id_col", "id")
    gpkg = str(args.output).lower().endswith(".gpkg")
    cell_t = gaps.cells.copy()
    cell_t.insert(0, id_col if id_col not in cell_t.columns else f"{id_col}_", cell_t.index)
    cat_t = gaps.catchments.copy()
    school_id = args.supply_id or schools.attrs.get("id_col", "school")
    cat_t.insert(0, school_id if school_id not in cat_t.columns else "school", cat_t.index)
    if gpkg:
        with step("dissolving catchment polygons"):
            poly = nearest_catchments(costs, cells, supply=schools["seats"],
                                      threshold=args.threshold, demand="children")
        cat_t = gpd.GeoDataFrame(cat_t, geometry=poly.geometry.reindex(cat_t.index).to_numpy(),
                                 crs=cells.crs)
    elif isinstance(cell_t, gpd.GeoDataFrame) and str(paths["cells"][0]).endswith(".csv"):
        pass  # write_table turns geometry into lon/lat for CSV
    tables = {"cells": cell_t, "catchments": cat_t}
    if gaps.districts is not None:
        d = gaps.districts.copy()
        d.insert(0, "district", d.index.astype(str))
        if not gpkg and isinstance(d, gpd.GeoDataFrame) and \
                str(paths["districts"][0]).endswith(".csv"):
            import pandas as pd

            d = pd.DataFrame(d.drop(columns=d.geometry.name))
        tables["districts"] = d
    if gpkg:
        _write_gpkg(tables, args.output)
    else:
        for name, table in tables.items():
            write_table(table, paths[name][0])
    t = gaps.totals
    info(f"  {t['children']:,.0f} children, {t['seats']:,.0f} seats; "
         f"{t['beyond_threshold']:,.0f} children beyond {t['threshold']:g} of any school; "
         + (f"{t['unassigned']:,.0f} without a seat after assignment"
            if not args.no_assign else "assignment skipped"))
    if args.json:
        print_json({"output": str(args.output), **t, "max_cost": max_cost,
                    "assignment_max_cost": assignment_max_cost,
                    "tables": {k: str(v[0]) for k, v in paths.items()
                               if k != "districts" or gaps.districts is not None}})
    return 0
