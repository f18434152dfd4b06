"""``geoequity site``: choose new school sites (p-median, MCLP, LSCP, gap closing, p-center,
and the equity objectives: max-min seats per child, min-max share beyond, least Theil).

Example::

    geoequity site --demand cells.gpkg --demand-id id --demand-col children \
        --candidates parcels.gpkg --candidate-id parcel --euclidean --problem gap --p 3 \
        --threshold 1500 --existing schools.csv --existing-id id --existing-seats seats \
        --sizes 24,36,48 --class-size 45 --json -o sites.csv
"""

from __future__ import annotations

import argparse

from geoequity.cli._common import (add_child_share_arg, add_cost_source_args,
                                   add_input_crs_arg, add_level_args, add_max_cost_args,
                                   positive_float, tradeoff_text)
from geoequity.cli._phased import add_args as add_phased_args

OBJECTIVES = ("shortfall_years", "child_years_beyond")   # geoequity.siting.phased.OBJECTIVES


def register(subparsers) -> None:
    """Add the ``site`` subcommand."""
    p = subparsers.add_parser(
        "site", help="choose sites for new schools (location-allocation)",
        description="Choose new school sites among candidates with existing schools kept "
                    "open: p-median, maximal coverage (mclp), set covering (lscp), "
                    "capacitated gap closing (gap) or p-center; or an equity objective "
                    "that lifts the worst-off district (maxmin_seats_per_child, "
                    "minmax_share_beyond) or evens access out (min_theil), with a table of "
                    "what it trades away against the efficiency optima. Exact HiGHS models "
                    "with a time limit and the optimality gap, or a greedy+swap heuristic.",
        epilog="example: geoequity site --demand cells.gpkg --demand-id id --demand-col "
               "children --candidates parcels.gpkg --candidate-id id --euclidean "
               "--problem mclp --p 3 --threshold 1500 --existing schools.csv --json "
               "-o sites.csv")
    p.add_argument("--demand", required=True, metavar="FILE",
                   help="children: cells or points (any vector file, CSV with lon/lat)")
    p.add_argument("--demand-id", metavar="COL", help="demand id column (default row number)")
    p.add_argument("--demand-col", metavar="COL",
                   help="children column (not with --years: --demand-by-year gives them)")
    add_child_share_arg(p, "--demand-col")
    p.add_argument("--candidates", required=True, metavar="FILE",
                   help="candidate sites (any point/polygon layer, CSV with lon/lat), or "
                        "`generate` with --min-spacing: candidates generated from the demand "
                        "(geoequity.siting.generate_candidates)")
    p.add_argument("--min-spacing", type=positive_float, metavar="M",
                   help="with --candidates generate: metres between generated candidates "
                        "(each at a demand point, taken by the children within M)")
    p.add_argument("--max-candidates", type=int, metavar="N",
                   help="with --candidates generate: keep at most N candidates")
    p.add_argument("--candidate-id", metavar="COL", help="candidate id column")
    p.add_argument("--candidate-capacity", metavar="COL",
                   help="seats per candidate (gap and capacitated p-median)")
    p.add_argument("--candidate-cost", metavar="COL", help="build cost per candidate")
    add_cost_source_args(p)
    p.add_argument("--problem",
                   choices=["pmedian", "mclp", "lscp", "gap", "pcenter",
                            "maxmin_seats_per_child", "minmax_share_beyond", "min_theil",
                            *OBJECTIVES],
                   help="what to optimise; maxmin_seats_per_child, minmax_share_beyond and "
                        "min_theil are equity objectives (docs/siting.md); with --years: "
                        "shortfall_years (default) or child_years_beyond")
    p.add_argument("--p", type=int, metavar="N", help="number of new sites")
    p.add_argument("--threshold", type=positive_float, metavar="T",
                   help="coverage threshold in cost units (covered when cost <= T)")
    add_max_cost_args(p)
    p.add_argument("--existing", nargs="+", action="extend", metavar="FILE",
                   help="existing schools (kept open); several files allowed")
    p.add_argument("--existing-id", metavar="COL", help="id column of --existing")
    p.add_argument("--existing-seats", metavar="COL",
                   help="seats column of --existing (needed by gap / capacitated p-median)")
    p.add_argument("--existing-level", "--supply-level", dest="existing_level", metavar="COL",
                   help="level column of --existing (小学, 初中, 九年一贯制, primary ...), as "
                        "access --supply-level and [schools] level (default: a column named "
                        "level)")
    add_level_args(p)
    p.add_argument("--capacity", type=positive_float, metavar="SEATS",
                   help="seats of every new school (instead of --candidate-capacity)")
    p.add_argument("--sizes", metavar="LIST",
                   help="allowed sizes, e.g. 24,36,48 (seats, or classes with --class-size)")
    p.add_argument("--class-size", type=positive_float, metavar="N",
                   help="seats per class, to give --sizes in classes")
    p.add_argument("--capacitated", action="store_true",
                   help="pmedian: respect seats (capacitated p-median)")
    p.add_argument("--budget", type=positive_float, help="total build budget")
    p.add_argument("--districts", metavar="FILE",
                   help="districts for the before/after table (needed by "
                        "maxmin_seats_per_child and minmax_share_beyond)")
    p.add_argument("--district-col", metavar="COL", help="district name column")
    p.add_argument("--solver", choices=["exact", "heuristic", "auto"], default="auto")
    p.add_argument("--time-limit", type=positive_float, default=60.0, metavar="S",
                   help="solver time limit in seconds (default 60)")
    p.add_argument("--before-after", metavar="FILE", help="write the before/after table")
    p.add_argument("--assignment", metavar="FILE", help="write the demand->school assignment")
    p.add_argument("--tradeoffs", metavar="FILE",
                   help="equity objectives: write the trade-off table (the equity solution "
                        "and the efficiency optima, measured alike)")
    p.add_argument("--layers", metavar="FILE.gpkg",
                   help="write map layers (sites, assignment lines) to a GeoPackage")
    add_input_crs_arg(p)
    add_phased_args(p)
    p.add_argument("--json", action="store_true",
                   help="print objective, chosen ids, status and gap as JSON on stdout")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="ranked sites with their coordinates: .csv (lon, lat columns) or "
                        ".parquet, with the sites as a GeoPackage beside it (OUT with the "
                        "suffix .gpkg), or .gpkg / .geojson")
    p.set_defaults(func=run)


def _sizes(args) -> list[float] | None:
    from geoequity._errors import input_error

    if not args.sizes:
        return None
    try:
        vals = [float(v) for v in args.sizes.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise input_error("--sizes", f"{args.sizes!r} is not a list of numbers",
                          "write e.g. --sizes 24,36,48") from None
    if not vals or min(vals) <= 0:
        raise input_error("--sizes", "sizes must be positive", "write e.g. --sizes 24,36,48")
    return [v * (args.class_size or 1.0) for v in vals]


def _existing(args):
    import geopandas as gpd
    import pandas as pd

    from geoequity._errors import input_error
    from geoequity.io import read_points
    from geoequity.io.vector import numeric_column

    frames = []
    level = bool(args.level)
    for path in args.existing or []:
        if level:   # the level column, read as access and a scenario read it
            from geoequity.io import read_schools

            gdf = read_schools(path, id_col=args.existing_id, seats_col=args.existing_seats,
                               default_seats=None if args.existing_seats else 1.0,
                               level_col=args.existing_level, crs=args.crs,
                               input_crs=args.input_crs, id_dtype=args.id_dtype)
        else:
            gdf = read_points(path, id_col=args.existing_id, crs=args.crs,
                              input_crs=args.input_crs, id_dtype=args.id_dtype)
        if args.existing_seats and not level:
            gdf["seats"] = numeric_column(gdf, args.existing_seats, path, what="seats")
        cols = (["seats"] if args.existing_seats or level else []) + \
            (["level"] if level else []) + ["geometry"]
        frames.append(gdf[cols])
    if not frames:
        return None
    crs = frames[0].crs
    out = gpd.GeoDataFrame(pd.concat([f.to_crs(crs) for f in frames]), crs=crs)
    if out.index.has_duplicates:
        dup = out.index[out.index.duplicated()][0]
        raise input_error("--existing", f"school id {dup!r} appears twice across the files",
                          "give every school a unique id")
    if level:   # the one rule: the schools serving the level, with the seats they give it
        from geoequity._progress import info
        from geoequity.levels import schools_for_level

        n = len(out)
        key, out = schools_for_level(out, args.level, source="--level",
                                     fix="check --level, or name the level column with "
                                         "--existing-level")
        info(f"  {len(out)} of {n} existing schools serve level {key}"
             + (f" ({out['seats'].sum():,.0f} of their seats)" if args.existing_seats else ""))
        if not args.existing_seats:
            out = out.drop(columns="seats")
    return out


def run(args: argparse.Namespace) -> int:
    """Execute ``geoequity site``."""
    import geopandas as gpd
    import pandas as pd

    from geoequity._errors import input_error
    from geoequity._progress import info
    from geoequity.cli._common import (check_output, costs_from_args, level_threshold,
                                       max_cost_from_args, print_json)
    from geoequity.io import write_table
    from geoequity.cli import _phased
    from geoequity.siting import site_schools

    check_output(args.output)
    _phased.check_args(args)
    if not args.years and args.problem is None:
        raise input_error("--problem", "is required (or --years A:B for phased siting)",
                          "name the model, e.g. --problem gap")
    if not args.years and args.demand_col is None:
        raise input_error("--demand-col", "is required", "name the children column")
    if args.tradeoffs:
        check_output(args.tradeoffs, (".csv", ".parquet"))
    if args.problem in ("maxmin_seats_per_child", "minmax_share_beyond") and not args.districts:
        raise input_error("--problem", f"{args.problem} lifts the worst-off district and needs "
                          "the districts", "pass --districts FILE --district-col COL")
    if args.tradeoffs and args.problem not in ("maxmin_seats_per_child", "minmax_share_beyond",
                                               "min_theil"):
        raise input_error("--tradeoffs", f"--problem {args.problem} is an efficiency problem "
                          "with no trade-off table", "use an equity --problem, or drop "
                          "--tradeoffs")
    if args.layers:
        check_output(args.layers, allowed=(".gpkg",))
    beside = _gpkg_beside(args)
    if args.by_year:
        check_output(args.by_year, allowed=(".csv", ".parquet"))
    sizes = _sizes(args)
    level_threshold(args)   # --level without --threshold: the --preset radius
    demand, children, cands, attrs, existing, dests = _read_inputs(args)
    max_cost, _ = max_cost_from_args(args)   # the one rule: default 4 x the threshold
    if (args.years or args.problem in ("mclp", "lscp", "gap")) and args.threshold is not None:
        max_cost = args.threshold   # they count only pairs within it: the same answer, faster
    costs = costs_from_args(args, demand, dests, max_cost)
    if existing is not None and args.existing_seats:
        exist = existing["seats"]
    elif existing is not None:
        exist = list(existing.index)
    else:
        exist = None
    if args.years:
        return _phased.run(args, (demand, attrs), costs, exist, cands)
    cap = args.problem in ("gap", "maxmin_seats_per_child", "min_theil",
                           "minmax_share_beyond") or args.capacitated
    districts = site_districts = None
    if args.districts:
        from geoequity.io import district_of, read_districts

        if not args.district_col:
            raise input_error(args.districts, "--districts needs --district-col",
                              "name the district name column")
        dist = read_districts(args.districts, name_col=args.district_col, crs=demand.crs)
        districts = district_of(demand, dist, outside=None)
        sites = cands[["geometry"]] if existing is None else gpd.GeoDataFrame(
            pd.concat([cands[["geometry"]], existing[["geometry"]]]), crs=demand.crs)
        site_districts = district_of(sites, dist, outside=None)
    res = site_schools(
        costs, children, attrs if len(attrs.columns) else list(cands.index),
        problem=args.problem, p=args.p, threshold=args.threshold, existing=exist,
        capacities=args.capacity if cap else None, sizes=sizes if cap else None,
        capacitated=cap,
        budget=args.budget, districts=districts, time_limit=args.time_limit,
        solver=args.solver, site_districts=site_districts)
    for note in res.notes:
        info(f"  note: {note}")
    sites = res.layers(cands)["sites"]   # every format carries lon, lat (WGS84)
    wgs = sites.geometry.to_crs(4326)
    sites["lon"], sites["lat"] = wgs.x.round(7), wgs.y.round(7)
    own = [c for c in cands.columns if c not in sites.columns and c != cands.geometry.name]
    if own:   # the candidate file's own columns (name, ...), as the API gives a table's
        sites = sites.join(cands[own], on="site")
    write_table(sites, args.output)
    if beside is not None and beside != args.layers:   # --layers holds the sites already
        write_table(sites, beside, layer="sites")
    if args.before_after:
        write_table(res.before_after, args.before_after)
    if args.assignment:
        write_table(res.assignment, args.assignment)
    if args.layers:
        layers = res.layers(cands, demand)
        _write_layers(layers, args.layers)
    info(f"{res.problem}: objective {res.objective:.6g}, status {res.status}, gap "
         f"{res.gap:.2e}, chosen {', '.join(map(str, res.chosen))}")
    if res.tradeoffs is not None:
        info(tradeoff_text(res.tradeoffs, res.traded_away()))
        if args.tradeoffs:
            write_table(res.tradeoffs.reset_index(drop=True), args.tradeoffs)
    if args.json:
        print_json(res.summary())
    return 0


def _gpkg_beside(args):
    """The GeoPackage of the sites written beside a .csv / .parquet ``-o`` (None otherwise);
    refused, like every output, when it is one of the command's inputs."""
    from pathlib import Path

    from geoequity.cli._common import refuse_overwriting_inputs

    out = Path(args.output)
    if out.suffix.lower() not in (".csv", ".parquet"):
        return None
    beside = str(out.with_suffix(".gpkg"))
    refuse_overwriting_inputs(args, extra={"the sites GeoPackage (-o with .gpkg)": beside})
    return beside


def _candidates(args, demand, children):
    """The candidate sites: read from --candidates FILE, or generated by the API's one rule
    (``generate_candidates``) with ``--candidates generate --min-spacing M``."""
    from geoequity._errors import input_error
    from geoequity.io import read_points

    generate = args.candidates == "generate"
    if not generate:
        for flag, value in (("--min-spacing", args.min_spacing),
                            ("--max-candidates", args.max_candidates)):
            if value is not None:
                raise input_error(flag, "applies only to --candidates generate",
                                  f"drop {flag}, or write --candidates generate")
        return read_points(args.candidates, id_col=args.candidate_id, crs=demand.crs,
                           input_crs=args.input_crs, id_dtype=args.id_dtype)
    if children is None:   # --years: the children come year by year
        raise input_error("--candidates generate", "weighs candidates by --demand-col, which "
                          "--years does not read", "give --years a candidates file")
    if args.min_spacing is None:
        raise input_error("--candidates generate", "needs --min-spacing",
                          "add e.g. --min-spacing 800 (metres between candidates)")
    for flag, value in (("--candidate-id", args.candidate_id),
                        ("--candidate-capacity", args.candidate_capacity),
                        ("--candidate-cost", args.candidate_cost)):
        if value is not None:
            raise input_error(flag, "names a column of a candidates file, and "
                              "--candidates generate reads none", f"drop {flag}")
    if args.max_candidates is not None and args.max_candidates < 1:
        raise input_error("--max-candidates", f"must be at least 1, not {args.max_candidates}",
                          "give a whole number such as 50")
    from geoequity._progress import info
    from geoequity.siting import generate_candidates

    cands = generate_candidates(demand, min_spacing=args.min_spacing, weight=children,
                                max_candidates=args.max_candidates)
    info(f"  {len(cands)} candidates generated, at least {args.min_spacing:g} m apart")
    if not len(cands):
        raise input_error(args.demand, "has no children to generate candidates from",
                          "check --demand-col")
    return cands


def _write_layers(layers, path) -> None:
    """All layers into one GeoPackage, atomically."""
    from geoequity._atomic import atomic_path

    with atomic_path(path) as tmp:
        for name, layer in layers.items():
            layer.to_file(tmp, layer=name, driver="GPKG")


def _read_inputs(args):
    """Demand points, children, candidates (+attributes), existing schools, destinations."""
    import geopandas as gpd
    import pandas as pd

    from geoequity._errors import input_error
    from geoequity._progress import step
    from geoequity.io import read_points
    from geoequity.io.vector import numeric_column

    with step("reading demand, candidates and schools"):
        demand = read_points(args.demand, id_col=args.demand_id, crs=args.crs,
                             input_crs=args.input_crs, id_dtype=args.id_dtype)
        children = None if args.years else numeric_column(demand, args.demand_col, args.demand,
                                                          what="children")
        # as read_population and [population] child_share
        if children is not None and args.child_share is not None:
            children = children * float(args.child_share)
        existing = _existing(args)
        if existing is not None:
            existing = existing.to_crs(demand.crs)
        cands = _candidates(args, demand, children)
        attrs = pd.DataFrame(index=cands.index)
        if args.candidate_capacity:
            attrs["capacity"] = numeric_column(cands, args.candidate_capacity, args.candidates,
                                               what="capacity")
        if args.candidate_cost:
            attrs["build_cost"] = numeric_column(cands, args.candidate_cost, args.candidates,
                                                 what="build cost")
    dests = cands[["geometry"]]
    if existing is not None:
        clash = cands.index.intersection(existing.index)
        if len(clash):
            raise input_error(args.candidates, f"candidate ids {clash[:3].tolist()} are also "
                              "existing school ids", "give candidates ids of their own")
        dests = gpd.GeoDataFrame(pd.concat([dests, existing[["geometry"]]]), crs=demand.crs)
    return demand, children, cands, attrs, existing, dests
