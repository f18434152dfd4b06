"""``geoequity costs``: write the travel-cost table ``origin,destination,cost`` (CSV/Parquet).

Example::

    geoequity costs cells.gpkg schools.csv --network city.osm.pbf --mode walk \
        --max-cost 2000 --origin-id id --destination-id school_id -o costs.csv
"""

from __future__ import annotations

import argparse
import json
import sys

from geoequity.cli._common import add_input_crs_arg


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
    p.add_argument("--network", metavar="FILE",
                   help="street network: .osm.pbf, .osm, .graphml or a line layer")
    p.add_argument("--mode", choices=["walk", "bike", "drive"], default="walk",
                   help="travel mode (default walk)")
    p.add_argument("--max-cost", type=float, default=None,
                   help="keep pairs with cost <= this (in --unit)")
    p.add_argument("--unit", choices=["m", "min"], default="m",
                   help="metres (default) or minutes")
    p.add_argument("--k", type=int, default=None,
                   help="keep only the k cheapest destinations per origin")
    p.add_argument("--origin-id", metavar="COL", help="id column of ORIGINS (default: row number)")
    p.add_argument("--destination-id", metavar="COL",
                   help="id column of DESTINATIONS (default: row number)")
    p.add_argument("--euclidean", action="store_true",
                   help="straight-line costs (KD-tree) instead of the network")
    p.add_argument("--detour-factor", type=float, default=1.0,
                   help="multiplies straight-line distances (euclidean mode and off-network "
                        "points); default 1.0")
    p.add_argument("--speed", type=float, default=None,
                   help="km/h for --euclidean --unit min (default: --walk-speed, or "
                        "--bike-speed for bike)")
    p.add_argument("--walk-speed", type=float, default=4.5, help="km/h (default 4.5)")
    p.add_argument("--bike-speed", type=float, default=15.0, help="km/h (default 15)")
    p.add_argument("--snap-limit", type=float, default=500.0,
                   help="metres; points farther from the network are off-network (default 500)")
    p.add_argument("--off-network", choices=["euclidean", "unreachable"], default="euclidean",
                   help="rule for off-network points (default: straight line x detour factor)")
    p.add_argument("--snap-report", metavar="FILE",
                   help="also write per-point snapping detail (CSV/Parquet) of both layers")
    add_input_crs_arg(p)
    p.add_argument("--cache-dir", metavar="DIR", help="network cache folder")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
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
    from geoequity.costs import snap_report, travel_costs
    from geoequity.io import read_points, write_table
    from geoequity.network import load_network

    if not str(args.output).lower().endswith((".csv", ".parquet")):
        raise input_error(args.output, "the cost table is written as .csv or .parquet",
                          "name the output e.g. costs.csv")
    if args.network is None and not args.euclidean:
        raise input_error("costs", "no --network given",
                          "pass --network city.osm.pbf, or --euclidean for straight lines")
    with step("reading origins"):
        origins = read_points(args.origins, id_col=args.origin_id, input_crs=args.input_crs,
                              crs=args.crs, id_dtype=args.id_dtype)
    with step("reading destinations"):
        dests = read_points(args.destinations, id_col=args.destination_id,
                            input_crs=args.input_crs, crs=args.crs, id_dtype=args.id_dtype)
    net = None
    if args.network is not None and not args.euclidean:
        net = load_network(args.network, args.mode, walk_speed=args.walk_speed,
                           bike_speed=args.bike_speed, crs=args.crs,
                           cache_dir=False if args.no_cache else args.cache_dir)
    if net is None:
        from geoequity.costs import euclidean_costs

        speed = args.speed
        if speed is None and args.unit == "min":
            speed = {"walk": args.walk_speed, "bike": args.bike_speed}.get(args.mode)
            if speed is None:
                raise input_error("--speed", "straight-line driving minutes need a speed",
                                  "pass --speed KMH")
        with step("straight-line costs"):
            table = euclidean_costs(origins, dests, max_cost=args.max_cost, k=args.k,
                                    detour_factor=args.detour_factor, unit=args.unit,
                                    speed=speed)
    else:
        with step(f"{args.mode} travel costs"):
            table = travel_costs(origins, dests, network=net, max_cost=args.max_cost,
                                 unit=args.unit, k=args.k, detour_factor=args.detour_factor,
                                 snap_limit=args.snap_limit, off_network=args.off_network)
    write_table(table[["origin", "destination", "cost"]], args.output)
    info(f"  wrote {len(table):,} pairs to {args.output}")
    if args.snap_report and net is not None:
        parts = []
        for name, layer in (("origin", origins), ("destination", dests)):
            rep = snap_report(layer, net, snap_limit=args.snap_limit)
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
        json.dump(summary, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    return 0
