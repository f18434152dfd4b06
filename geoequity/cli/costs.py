"""``geoequity costs``: write the travel-cost table ``origin,destination,cost`` (CSV/Parquet).

Example::

    geoequity costs cells.gpkg schools.csv --network city.osm.pbf --mode walk \
        --max-cost 2000 --origin-id id --destination-id school_id -o costs.csv
"""

from __future__ import annotations

import argparse

from geoequity.cli._common import add_cost_source_args, add_input_crs_arg, print_json


def register(subparsers) -> None:
    """Add the ``costs`` subcommand."""
    p = subparsers.add_parser(
        "costs", help="travel costs from origins to destinations (network or straight line)",
        description="Compute the long table origin,destination,cost over a street network "
                    "(OSM .osm.pbf/.osm/.graphml or any line layer) or in a straight line.",
        epilog="example: geoequity costs cells.gpkg schools.csv --network city.osm.pbf "
               "--mode walk --max-cost 2000 -o costs.csv")
    p.add_argument("origins", metavar="ORIGINS",
                   help="origins (children): any vector file, or CSV with lon/lat columns")
    p.add_argument("destinations", metavar="DESTINATIONS",
                   help="destinations (schools): any vector file, or CSV with lon/lat columns")
    add_cost_source_args(p, table=False)
    p.add_argument("--max-cost", type=float, default=None,
                   help="keep pairs with cost <= this (in --unit)")
    p.add_argument("--k", type=int, default=None,
                   help="keep only the k cheapest destinations per origin (a tie at the "
                        "k-th place: the destinations that come first in DESTINATIONS)")
    p.add_argument("--origin-id", metavar="COL", help="id column of ORIGINS (default: row number)")
    p.add_argument("--destination-id", metavar="COL",
                   help="id column of DESTINATIONS (default: row number)")
    p.add_argument("--snap-report", metavar="FILE",
                   help="also write per-point snapping detail (CSV/Parquet) of both layers")
    add_input_crs_arg(p)
    p.add_argument("--json", action="store_true",
                   help="print a JSON summary (rows, snapping) to stdout")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output table: .csv or .parquet")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``geoequity costs``."""
    import pandas as pd

    from geoequity._errors import input_error
    from geoequity._progress import info, step
    from geoequity.cli._common import cost_source_from_args
    from geoequity.costs import cost_table, snap_report
    from geoequity.io import read_points, write_table

    if not str(args.output).lower().endswith((".csv", ".parquet")):
        raise input_error(args.output, "the cost table is written as .csv or .parquet",
                          "name the output e.g. costs.csv")
    if args.network is None and not args.euclidean:
        raise input_error("costs", "no --network given",
                          "pass --network city.osm.pbf, or --euclidean for straight lines")
    source = cost_source_from_args(args)
    with step("reading origins"):
        origins = read_points(args.origins, id_col=args.origin_id, input_crs=args.input_crs,
                              crs=args.crs, id_dtype=args.id_dtype)
    with step("reading destinations"):
        dests = read_points(args.destinations, id_col=args.destination_id,
                            input_crs=args.input_crs, crs=args.crs, id_dtype=args.id_dtype)
    source = source.load()  # once: the table and the snapping report share it
    table = cost_table(source, origins, dests, max_cost=args.max_cost, k=args.k)
    write_table(table[["origin", "destination", "cost"]], args.output)
    info(f"  wrote {len(table):,} pairs to {args.output}")
    if args.snap_report and source.kind == "network":
        parts = []
        for name, layer in (("origin", origins), ("destination", dests)):
            rep = snap_report(layer, source.network, snap_limit=source.snap_limit)
            rep.index.name = "id"
            rep = rep.reset_index()
            rep.insert(0, "layer", name)
            parts.append(rep)
        write_table(pd.concat(parts, ignore_index=True), args.snap_report)
        info(f"  wrote snapping detail to {args.snap_report}")
    if args.json:
        summary = {"output": str(args.output), "rows": int(len(table)),
                   "origins": int(len(origins)), "destinations": int(len(dests)),
                   "unit": args.unit, "max_cost": args.max_cost,
                   "method": table.attrs.get("method"), "snap": table.attrs.get("snap")}
        print_json(summary)   # NaN and infinities as null, like every --json
    return 0
