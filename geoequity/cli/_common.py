"""Argument helpers shared by subcommands: cost sources, layers, outputs, JSON."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pandas as pd

from geoequity._errors import input_error


def add_input_crs_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input-crs", metavar="CRS",
                        help="CRS of inputs that have none (EPSG:4326, gcj02, bd09, ...)")
    parser.add_argument("--crs", metavar="CRS",
                        help="projected CRS in metres to work in (default: local UTM zone)")
    add_id_dtype_arg(parser)


def add_id_dtype_arg(parser: argparse.ArgumentParser) -> None:
    """``--id-dtype str|int``: the type of the inputs' id columns (default: as written)."""
    parser.add_argument("--id-dtype", choices=["str", "int"], default=None,
                        help="ids of the input layers as text or whole numbers (default: as "
                             "written, so a CSV id 0014 stays 0014)")


def add_cost_source_args(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """Add ``--costs FILE | --network FILE | --euclidean`` and their options."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--costs", metavar="FILE",
                       help="cost table (CSV/Parquet) with origin,destination,cost")
    group.add_argument("--network", metavar="FILE",
                       help="street network: .osm.pbf, .osm, .graphml or a line layer")
    group.add_argument("--euclidean", action="store_true",
                       help="straight-line distances (times --detour-factor)")
    parser.add_argument("--costs-columns", metavar="O,D,C",
                        help="names of the origin, destination and cost columns in --costs")
    parser.add_argument("--mode", choices=["walk", "bike", "drive"], default="walk",
                        help="travel mode on --network (default walk)")
    parser.add_argument("--unit", choices=["m", "min"], default="m",
                        help="cost unit for --network/--euclidean: metres or minutes (default m)")
    parser.add_argument("--detour-factor", type=float, default=1.0, metavar="F",
                        help="multiply straight-line distances by F (default 1.0)")


def costs_from_args(args, origins, destinations, max_cost=None) -> pd.DataFrame:
    """Build or read the cost table named by the cost-source flags.

    ``origins``/``destinations`` are GeoDataFrames with ids in the index.
    """
    from geoequity.io import match_ids, read_cost_table

    if getattr(args, "costs", None):
        costs = read_cost_table(args.costs, columns=getattr(args, "costs_columns", None))
        costs = match_ids(costs, origins.index, "origin", args.costs)
        costs = match_ids(costs, destinations.index, "destination", args.costs)
        if max_cost is not None:
            costs = costs.loc[costs["cost"] <= max_cost]
        return costs.reset_index(drop=True)
    from geoequity import costs as costs_mod

    if getattr(args, "network", None):
        from geoequity.network import load_network

        net = load_network(args.network, mode=args.mode)
        return costs_mod.travel_costs(origins, destinations, network=net, max_cost=max_cost,
                                      unit=args.unit)
    return costs_mod.euclidean_costs(origins, destinations, max_cost=max_cost,
                                     detour_factor=args.detour_factor, unit=args.unit)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def check_output(path, allowed=(".csv", ".gpkg", ".parquet", ".geojson")) -> None:
    """Refuse an output path whose extension we cannot write, before any work is done."""
    from pathlib import Path

    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        raise input_error(path, f"unknown output format {suffix or '(none)'!r}",
                          f"use one of {', '.join(allowed)}")


# dests of the flags that name a file a command writes (every command, every subcommand)
OUTPUT_FLAGS = ("output", "snap_report", "before_after", "assignment", "layers", "lorenz",
                "moves", "districts_out", "map", "png", "html", "sensitivity")


def refuse_overwriting_inputs(args, extra: dict | None = None) -> None:
    """Stop with exit status 2 when an output flag names a file the command reads.

    Every argument that is not an output flag and names an existing file counts as an input;
    the comparison follows links (:func:`geoequity._paths.refuse_overwrite`). ``extra`` adds
    outputs a command derives itself (``{label: path}``). Called for every command before it
    runs, so nothing is read or written when it fails.
    """
    from geoequity._paths import refuse_overwrite

    outs = {("-o/--output" if d == "output" else "--" + d.replace("_", "-")): getattr(args, d)
            for d in OUTPUT_FLAGS if isinstance(getattr(args, d, None), str)}
    outs.update(extra or {})
    if not outs:
        return
    inputs = []
    for dest, value in vars(args).items():
        if dest not in OUTPUT_FLAGS:
            inputs += [v for v in (value if isinstance(value, list | tuple) else [value])
                       if isinstance(v, str)]
    refuse_overwrite(outs, inputs, fix="write the output to another file")


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    return str(obj)


def _clean_nan(obj):
    if isinstance(obj, float) and not np.isfinite(obj):   # JSON has no NaN or Infinity
        return None
    if isinstance(obj, dict):
        return {k: _clean_nan(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean_nan(v) for v in obj]
    return obj


def print_json(obj) -> None:
    """Print ``obj`` as JSON on stdout (NaN and infinity become null), nothing else."""
    if isinstance(obj, pd.DataFrame):
        obj = obj.to_dict(orient="records")
    json.dump(_clean_nan(obj), sys.stdout, default=_json_default, ensure_ascii=False, indent=2,
              allow_nan=False)
    sys.stdout.write("\n")
