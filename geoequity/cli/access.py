"""``geoequity access``: accessibility of school seats per demand cell.

Example::

    geoequity access --demand cells.gpkg --demand-id id --demand-col children \
        --supply schools.csv --supply-id school_id --supply-col seats \
        --network city.osm.pbf --mode walk --method 2sfca --threshold 1000 -o access.csv
"""

from __future__ import annotations

import argparse

from geoequity.access import METHODS
from geoequity.decay import DECAY_NAMES


def add_layer_args(p: argparse.ArgumentParser) -> None:
    """Demand/supply layer flags shared by ``access`` and ``gaps``."""
    p.add_argument("--demand", required=True, metavar="FILE",
                   help="children: vector grid/points, CSV with lon/lat, or a population raster")
    p.add_argument("--demand-id", metavar="COL", help="id column of --demand (default: row number)")
    p.add_argument("--demand-col", metavar="COL",
                   help="children (or population, with --child-share) column of --demand")
    from geoequity.cli._common import add_child_share_arg

    add_child_share_arg(p, "--demand-col")
    p.add_argument("--supply", required=True, metavar="FILE",
                   help="schools: vector points/polygons or CSV with lon/lat")
    p.add_argument("--supply-id", metavar="COL", help="id column of --supply (default: row number)")
    p.add_argument("--supply-col", metavar="COL", help="seats column of --supply")
    p.add_argument("--supply-level", metavar="COL",
                   help="level column of --supply (小学, 初中, 九年一贯制, primary ...), as "
                        "[schools] level in a scenario (default: a column named level)")
    from geoequity.cli._common import add_input_crs_arg

    add_input_crs_arg(p)


def add_cost_args(p: argparse.ArgumentParser) -> None:
    """The shared cost-source flags (``geoequity.cli._common.add_cost_source_args``)."""
    from geoequity.cli._common import add_cost_source_args

    add_cost_source_args(p)


def add_measure_args(p: argparse.ArgumentParser, *, method_default: str | None = None) -> None:
    p.add_argument("--method", choices=METHODS, required=method_default is None,
                   default=method_default,
                   help="accessibility measure" + (f" (default {method_default})"
                                                   if method_default else ""))
    p.add_argument("--threshold", type=float, metavar="T",
                   help="catchment threshold in cost units: a school counts when cost <= T")
    p.add_argument("--decay", metavar="NAME",
                   help=f"distance decay: {', '.join(DECAY_NAMES)}")
    p.add_argument("--decay-param", metavar="X",
                   help='decay parameter, e.g. gaussian width S, or step zones "10:1,20:0.68"')
    from geoequity.cli._common import add_level_args

    add_level_args(p)


def apply_level(args: argparse.Namespace, schools):
    """Keep the schools serving ``--level``, with the seats they give it, and default
    ``--threshold`` to the preset's radius.

    Seats follow :func:`geoequity.levels.level_supply`, as in a scenario: a nine-year school
    counts 6/9 of its seats for primary and 3/9 for junior.
    """
    if not getattr(args, "level", None):
        return schools
    from geoequity._progress import info
    from geoequity.cli._common import level_threshold
    from geoequity.levels import schools_for_level

    key, out = schools_for_level(schools, args.level, source="--level",
                                 fix="check --level, or name the level column with "
                                     "--supply-level")
    level_threshold(args)
    info(f"  {len(out)} of {len(schools)} schools serve level {key} "
         f"({out['seats'].sum():,.0f} of their seats)")
    return out


def register(subparsers) -> None:
    """Add the ``access`` subcommand."""
    p = subparsers.add_parser(
        "access", help="accessibility of school seats per demand cell",
        description="Score every demand cell by the seats its children can reach: nearest "
                    "school, cumulative seats, 2SFCA, E2SFCA, BFCA or gravity. Cells no school "
                    "reaches get an empty access value (no access), never 0.",
        epilog="example: geoequity access --demand cells.gpkg --demand-id id --demand-col "
               "children --supply schools.csv --supply-id id --supply-col seats --euclidean "
               "--method 2sfca --threshold 1000 -o access.csv")
    add_layer_args(p)
    add_cost_args(p)
    add_measure_args(p)
    from geoequity.cli._common import add_max_cost_args

    add_max_cost_args(p)
    p.add_argument("--normalize", action="store_true",
                   help="divide by the study area's seats per child (1.0 = fair share)")
    p.add_argument("--json", action="store_true", help="print a JSON summary to stdout")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output table: .csv, .gpkg or .parquet")
    p.set_defaults(func=run)


def read_inputs(args: argparse.Namespace):
    """Read demand cells and schools named by the layer flags (projected, ids in the index)."""
    from geoequity._progress import step
    from geoequity.io import read_population, read_schools

    with step("reading demand"):
        cells = read_population(args.demand, count_col=args.demand_col, id_col=args.demand_id,
                                child_share=args.child_share, crs=args.crs,
                                input_crs=args.input_crs, id_dtype=args.id_dtype)
    crs = args.crs or cells.crs
    with step("reading schools"):
        schools = read_schools(args.supply, id_col=args.supply_id, seats_col=args.supply_col,
                               level_col=args.supply_level, crs=crs, input_crs=args.input_crs,
                               id_dtype=args.id_dtype)
    return cells, schools


def cost_table(args: argparse.Namespace, cells, schools, max_cost):
    """The cost table from --costs/--network/--euclidean, origins at cell representative points."""
    from geoequity.cli._common import costs_from_args
    from geoequity.io import representative_points

    origins = cells.set_geometry(representative_points(cells))
    return costs_from_args(args, origins, schools, max_cost)


def _max_cost(args) -> float | None:
    """The bound of the cost search: ``--max-cost`` (default 4 x the threshold, the rule of
    :func:`geoequity.default_max_cost`); with a threshold the search stops there, as every
    access measure counts only the schools within it (a farther search gives the same answer,
    slower); without one, a decay's reach bounds it unless ``--max-cost`` is given."""
    from geoequity.cli._common import max_cost_from_args
    from geoequity.decay import decay_reach

    max_cost, _ = max_cost_from_args(args)
    if args.threshold is not None:
        return float(args.threshold)
    if max_cost is not None:
        return max_cost
    return decay_reach(args.decay, args.decay_param)


def run(args: argparse.Namespace) -> int:
    """Execute ``geoequity access``."""
    import geopandas as gpd
    import pandas as pd

    from geoequity._errors import input_error
    from geoequity._progress import info, step
    from geoequity.access import accessibility, nearest
    from geoequity.cli._common import check_output, print_json
    from geoequity.io import write_table

    check_output(args.output, (".csv", ".gpkg", ".parquet"))
    if args.threshold is None and args.method not in ("nearest", "gravity") and \
            _max_cost(args) is None and not args.level:
        raise input_error("--threshold", f"--method {args.method} needs a threshold",
                          "pass --threshold T in cost units (metres by default), or --level")
    cells, schools = read_inputs(args)
    schools = apply_level(args, schools)
    costs = cost_table(args, cells, schools, _max_cost(args))
    demand, seats = cells["children"], schools["seats"]
    near = None
    with step(f"{args.method} accessibility"):
        if args.method == "nearest" and not args.normalize:  # one search: score, id, cost
            near = nearest(costs, demand, supply=seats, threshold=args.threshold)
            score = near["nearest_cost"].rename("access")
        else:
            score = accessibility(costs, demand, seats, method=args.method,
                                  threshold=args.threshold, decay=args.decay,
                                  decay_param=args.decay_param, normalize=args.normalize)
    id_col = args.demand_id or cells.attrs.get("id_col", "id")
    out = pd.DataFrame({id_col: cells.index.to_numpy()}, index=cells.index)
    out["access"] = score.to_numpy()
    if near is not None:
        out["nearest_id"] = near["nearest_id"].to_numpy()
        out["nearest_cost"] = near["nearest_cost"].to_numpy()
    if str(args.output).lower().endswith(".gpkg"):
        out = gpd.GeoDataFrame(out, geometry=cells.geometry.to_numpy(), crs=cells.crs)
    write_table(out, args.output)
    n_none = int(score.isna().sum())
    kids_none = float(demand[score.isna()].sum())
    info(f"  wrote {len(out):,} cells to {args.output}; {n_none:,} cells "
         f"({kids_none:,.0f} children) have no access")
    if args.json:
        valid = score.notna()
        mean = float((score[valid] * demand[valid]).sum() / demand[valid].sum()) \
            if demand[valid].sum() > 0 else None
        print_json({"output": str(args.output), "method": args.method,
                    "threshold": args.threshold, "decay": args.decay,
                    "decay_param": args.decay_param, "cells": len(out),
                    "children": float(demand.sum()), "seats": float(seats.sum()),
                    "no_access_cells": n_none, "no_access_children": kids_none,
                    "mean_access_per_child": mean, "cost_pairs": len(costs)})
    return 0
