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


def add_child_share_arg(parser: argparse.ArgumentParser, count_flag: str) -> None:
    """``--child-share F``: the share of the demand count column that are children (school-age),
    as ``[population] child_share`` and ``read_population(child_share=)``."""
    parser.add_argument("--child-share", type=float, metavar="F",
                        help=f"share of {count_flag} that are school-age children (default: "
                             "it already counts children)")


def add_level_args(parser: argparse.ArgumentParser, *, threshold: bool = True) -> None:
    """``--level NAME`` and ``--preset NAME``: the schools serving a level, with the seats they
    give it (:func:`geoequity.levels.schools_for_level`), as ``[analysis] level``."""
    parser.add_argument("--level", metavar="NAME",
                        help="school level (kindergarten, primary, junior, senior; 小学, 初中 "
                             "...): keep the schools serving it, with the seats they give it "
                             "(a nine-year school: 6/9 primary, 3/9 junior)"
                        + (", and take the threshold from --preset unless --threshold is "
                           "given" if threshold else ""))
    if threshold:
        parser.add_argument("--preset", default="GB50180-2018", metavar="NAME",
                            help="level preset for --level (default GB50180-2018: "
                                 "300/500/1000 m)")


def level_threshold(args) -> None:
    """Set ``args.threshold`` from ``--preset`` for ``--level`` when none was given (the rule
    of :func:`geoequity.levels.preset_level`; refused for minutes)."""
    if args.threshold is not None or not getattr(args, "level", None):
        return
    from geoequity._progress import info
    from geoequity.levels import preset_level

    lvl = preset_level(args.preset, args.level, unit=args.unit, source="--level")
    args.threshold = lvl.threshold
    info(f"  {lvl.label}: threshold {lvl.threshold:g} m ({lvl.source})")


def add_cost_source_args(parser: argparse.ArgumentParser, *, required: bool = True,
                         table: bool = True) -> None:
    """Add the cost-source flags every command shares: ``--costs FILE | --network FILE |
    --euclidean`` and their options (the fields of :class:`geoequity.CostSource`, same names
    and defaults). ``table=False`` (``geoequity costs``) leaves out ``--costs``: there
    ``--network`` and ``--euclidean`` may both be given and ``--euclidean`` wins."""
    if table:
        group = parser.add_mutually_exclusive_group(required=required)
        group.add_argument("--costs", metavar="FILE",
                           help="cost table (CSV/Parquet) with origin,destination,cost")
    else:
        group = parser
    group.add_argument("--network", metavar="FILE",
                       help="street network: .osm.pbf, .osm, .graphml or a line layer")
    group.add_argument("--euclidean", action="store_true",
                       help="straight-line distances (times --detour-factor)")
    if table:
        parser.add_argument("--costs-columns", metavar="O,D,C",
                            help="names of the origin, destination and cost columns in --costs")
    parser.add_argument("--mode", choices=["walk", "bike", "drive"], default="walk",
                        help="travel mode (default walk): the network's streets and speeds, "
                             "and the speed of straight-line minutes")
    parser.add_argument("--unit", choices=["m", "min"], default="m",
                        help="cost unit for --network/--euclidean: metres or minutes (default m)")
    parser.add_argument("--detour-factor", type=float, default=1.0, metavar="F",
                        help="multiply straight-line distances by F: --euclidean and points off "
                             "the network (default 1.0)")
    parser.add_argument("--speed", type=float, default=None, metavar="KMH",
                        help="km/h of straight-line minutes (default: --walk-speed, "
                             "--bike-speed, or 30 for drive)")
    parser.add_argument("--walk-speed", type=float, default=4.5, metavar="KMH",
                        help="walking km/h (default 4.5)")
    parser.add_argument("--bike-speed", type=float, default=15.0, metavar="KMH",
                        help="cycling km/h (default 15)")
    parser.add_argument("--snap-limit", type=float, default=500.0, metavar="M",
                        help="metres; points farther from the network are off-network "
                             "(default 500)")
    parser.add_argument("--off-network", choices=["euclidean", "unreachable"],
                        default="euclidean",
                        help="rule for off-network points (default: straight line x detour "
                             "factor)")
    parser.add_argument("--cache-dir", metavar="DIR", help="network cache folder")
    parser.add_argument("--no-cache", action="store_true",
                        help="do not read or write the network cache")


def add_max_cost_args(parser: argparse.ArgumentParser, *, assignment: bool = False) -> None:
    """``--max-cost`` (and ``--assignment-max-cost``): the scenario's ``[analysis] max_cost``
    and ``assignment_max_cost``, with the one default of :func:`geoequity.default_max_cost`."""
    parser.add_argument("--max-cost", type=float, metavar="C",
                        help="longest trip considered, in cost units: the nearest school, "
                             "and beyond it a cell has no school (default: 4 x --threshold; "
                             "none without a threshold)")
    if assignment:
        parser.add_argument("--assignment-max-cost", type=float, metavar="C",
                            help="longest trip the capacity-constrained assignment may use "
                                 "(default: --max-cost)")


def max_cost_from_args(args) -> tuple[float | None, float | None]:
    """``(max_cost, assignment_max_cost)`` of the flags, by :func:`geoequity.default_max_cost`
    (the rule a scenario follows)."""
    from geoequity.costs import default_max_cost

    return default_max_cost(getattr(args, "threshold", None), getattr(args, "max_cost", None),
                            assignment_max_cost=getattr(args, "assignment_max_cost", None),
                            what="--max-cost")


def cost_source_from_args(args):
    """The :class:`geoequity.CostSource` named by the cost-source flags (checked, with errors
    naming the flag)."""
    from geoequity._errors import InputError
    from geoequity.costs import CostSource

    if getattr(args, "euclidean", False):
        kind = "euclidean"
    elif getattr(args, "costs", None):
        kind = "table"
    elif getattr(args, "network", None):
        kind = "network"
    else:  # commands whose cost source is optional default to straight lines
        kind = "euclidean"
    try:
        return CostSource(kind=kind, network=getattr(args, "network", None),
                          table=getattr(args, "costs", None),
                          table_columns=getattr(args, "costs_columns", None),
                          mode=args.mode, unit=args.unit, walk_speed=args.walk_speed,
                          bike_speed=args.bike_speed, speed=args.speed,
                          detour_factor=args.detour_factor, snap_limit=args.snap_limit,
                          off_network=args.off_network, crs=getattr(args, "crs", None),
                          cache_dir=False if args.no_cache else args.cache_dir)
    except InputError as exc:  # "detour_factor: ..." -> "--detour-factor: ..."
        name, _, rest = str(exc).partition(": ")
        raise InputError(f"--{name.replace('_', '-')}: {rest}") from None


def costs_from_args(args, origins, destinations, max_cost=None) -> pd.DataFrame:
    """Build or read the cost table named by the cost-source flags
    (:func:`cost_source_from_args` then :func:`geoequity.cost_table`).

    ``origins``/``destinations`` are GeoDataFrames with ids in the index.
    """
    from geoequity.costs import cost_table

    return cost_table(cost_source_from_args(args), origins, destinations, max_cost=max_cost)


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
                "moves", "districts_out", "map", "png", "html", "sensitivity", "report",
                "tradeoffs", "by_year")


def refuse_overwriting_inputs(args, extra: dict | None = None) -> None:
    """Stop with exit status 2 when an output flag names a file the command reads, or the file
    another output flag names.

    Every argument that is not an output flag and names an existing file counts as an input;
    the comparison follows links (:func:`geoequity._paths.refuse_overwrite`). ``extra`` adds
    outputs a command derives itself (``{label: path}``). Called for every command before it
    runs, so nothing is read or written when it fails.
    """
    from geoequity._paths import refuse_overwrite, refuse_shared_outputs

    outs = {("-o/--output" if d == "output" else "--" + d.replace("_", "-")): getattr(args, d)
            for d in OUTPUT_FLAGS if isinstance(getattr(args, d, None), str)}
    refuse_shared_outputs(outs)   # the flags only: a command's derived outputs may share a file
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


def tradeoff_text(t, diff) -> str:
    """A trade-off table (siting's or propose's) as a few lines of text: each solution's
    figures, then what the equity objective traded away against each efficiency optimum
    (``diff``, the equity row minus theirs)."""
    cols = [("total_travel", "travel", "{:,.0f}"), ("total_shortfall", "shortfall", "{:,.0f}"),
            ("children_beyond", "beyond", "{:,.0f}"),
            ("worst_seats_per_child", "worst seats/child", "{:.3f}"),
            ("worst_share_beyond", "worst share beyond", "{:.1%}"),
            ("theil_access", "Theil", "{:.4f}"), ("theil_seats_per_child", "Theil", "{:.4f}")]
    cols = [c for c in cols if c[0] in t.columns and t[c[0]].notna().any()]

    def fmt(f, v):
        return "-" if v is None or v != v else f.format(v)

    head = ["solution", *[c[1] for c in cols]]
    def label(name, row):
        empty = row.get("role") == "efficiency" and row.get("chosen") == ""
        return f"{name} (no solution in the time limit: {row.get('status')})" if empty else name

    body = [[label(name, row), *[fmt(c[2], row[c[0]]) for c in cols]]
            for name, row in t.iterrows()]
    for name, row in diff.iterrows():
        body.append([f"change vs {name}",
                     *[("+" if row[c[0]] > 0 else "") + fmt(c[2], row[c[0]]) for c in cols]])
    width = [max(len(str(r[k])) for r in [head, *body]) for k in range(len(head))]
    lines = ["trade-offs (the equity solution first, then the efficiency optima):"]
    for r in [head, *body]:
        lines.append("  " + "  ".join(str(v).rjust(width[k]) if k else str(v).ljust(width[k])
                                      for k, v in enumerate(r)))
    return "\n".join(lines)
