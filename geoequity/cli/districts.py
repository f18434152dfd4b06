"""``geoequity districts``: evaluate, compare and propose district (attendance zone) boundaries.

Examples::

    geoequity districts evaluate --cells grid.gpkg --cell-id id --children kids \
        --schools schools.csv --school-id id --seats seats --districts zones.gpkg \
        --district-id name --euclidean --threshold 1000 -o districts.csv
    geoequity districts compare ... --districts current.gpkg planA.gpkg planB.csv \
        -o compare.csv --map compare.html
    geoequity districts propose ... --current current.gpkg --district-id name \
        --tolerance 0.1 --max-increase 500 --minimise-moves -o zones.gpkg
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _add_inputs(p: argparse.ArgumentParser, *, districts: str) -> None:
    p.add_argument("--cells", required=True, metavar="FILE",
                   help="cells (grid polygons, blocks or points; CSV with lon/lat works)")
    p.add_argument("--cell-id", metavar="COL", help="id column of --cells (default: row number)")
    p.add_argument("--children", required=True, metavar="COL", help="children per cell column")
    from geoequity.cli._common import add_child_share_arg

    add_child_share_arg(p, "--children")
    p.add_argument("--schools", required=True, metavar="FILE", help="schools (points)")
    p.add_argument("--school-id", metavar="COL", help="id column of --schools")
    p.add_argument("--seats", required=True, metavar="COL", help="seats column of --schools")
    p.add_argument("--school-level", metavar="COL",
                   help="level column of --schools (小学, 初中, 九年一贯制, primary ...), as "
                        "[schools] level in a scenario (default: a column named level)")
    p.add_argument("--level", metavar="NAME",
                   help="keep the schools serving this level (primary, junior, 小学 ...) with "
                        "the seats they give it (a nine-year school: 6/9 primary, 3/9 junior), "
                        "as geoequity access --level and [analysis] level")
    p.add_argument("--school-district", metavar="COL",
                   help="column of --schools naming its district (default: the district "
                        "containing the school)")
    if districts == "one":
        p.add_argument("--districts", required=True, metavar="FILE",
                       help="district polygons, or a table assigning cells to districts")
    elif districts == "many":
        p.add_argument("--districts", required=True, nargs="+", action="extend",
                       metavar="FILE",
                       help="two or more district files; the first is the current boundary")
        p.add_argument("--names", nargs="+", metavar="NAME",
                       help="column names of the proposals (default: file names)")
    else:
        p.add_argument("--current", metavar="FILE",
                       help="current districts (for --minimise-moves and children_moved)")
    p.add_argument("--district-id", metavar="COL", default=None,
                   help="district name column of the district files (default: district)")
    from geoequity.cli._common import add_cost_source_args, add_input_crs_arg

    add_input_crs_arg(p)
    add_cost_source_args(p, required=False)
    from geoequity.cli._common import add_max_cost_args

    add_max_cost_args(p)


def _add_threshold_args(p: argparse.ArgumentParser) -> None:
    """``--threshold`` and ``--preset`` of evaluate and compare (see :func:`_need_threshold`)."""
    p.add_argument("--threshold", type=float, metavar="T",
                   help="catchment threshold in cost units (metres, or minutes with --unit "
                        "min), as access, gaps and [analysis] threshold (default: the "
                        "--preset radius of --level; otherwise required)")
    p.add_argument("--preset", default="GB50180-2018", metavar="NAME",
                   help="level preset for --level (default GB50180-2018: 300/500/1000 m)")


def register(subparsers) -> None:
    """Add ``districts evaluate | compare | propose``."""
    p = subparsers.add_parser(
        "districts", help="evaluate, compare and propose district boundaries",
        description="Score school districts (attendance zones) against seats, travel and "
                    "shape; compare proposals with the current boundaries; generate "
                    "contiguous, seat-balanced zones.")
    sub = p.add_subparsers(dest="districts_command", metavar="ACTION")

    e = sub.add_parser("evaluate", help="one row per district",
                       description="One row per district: children, seats, seats per child, "
                                   "shortfall, travel to its own schools, contiguity, "
                                   "compactness. A cell or school belongs to the district holding "
                                   "its representative point (a cell's centroid, or a point on "
                                   "its surface when the centroid falls outside it).",
                       epilog="example: geoequity districts evaluate --cells grid.gpkg "
                              "--cell-id id --children kids --schools schools.csv --school-id "
                              "id --seats seats --districts districts.gpkg --district-id name "
                              "--threshold 1000 -o districts.csv")
    _add_inputs(e, districts="one")
    _add_threshold_args(e)
    e.add_argument("--json", action="store_true", help="print the rows as JSON on stdout")
    e.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="districts table: .csv, .parquet, .gpkg or .geojson (with outlines)")
    e.set_defaults(func=run_evaluate)

    c = sub.add_parser("compare", help="proposals side by side against the current districts",
                       description="One column per proposal (the first --districts file is the "
                                   "current boundary): balance, travel, shape and disruption "
                                   "(children_moved, cells_moved, schools_moved).",
                       epilog="example: geoequity districts compare --cells grid.gpkg --children "
                              "kids --schools schools.csv --seats seats --districts now.gpkg "
                              "planA.gpkg planB.gpkg --district-id name -o compare.csv "
                              "--map compare.html")
    _add_inputs(c, districts="many")
    _add_threshold_args(c)
    c.add_argument("--match", choices=["auto", "name", "schools"], default="auto",
                   help="how proposal districts are matched to current ones (default auto)")
    c.add_argument("--moves", metavar="FILE", help="write the cells that change district (CSV)")
    c.add_argument("--districts-out", metavar="FILE",
                   help="write every proposal's per-district table (CSV, column proposal)")
    c.add_argument("--map", metavar="HTML", help="offline map, one layer per proposal")
    c.add_argument("--json", action="store_true",
                   help="print the table and the summary as JSON on stdout")
    c.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="comparison table (.csv or .parquet): one column per proposal")
    c.set_defaults(func=run_compare)

    q = sub.add_parser("propose", help="generate seat-balanced contiguous zones",
                       description="Propose contiguous, compact attendance zones around the "
                                   "schools whose children are within --tolerance of their "
                                   "seats, with travel increase per cell capped. Integer "
                                   "programming (HiGHS) where tractable, else a heuristic; the "
                                   "report says which constraints hold.",
                       epilog="example: geoequity districts propose --cells grid.gpkg "
                              "--children kids --schools schools.csv --seats seats "
                              "--tolerance 0.1 --max-increase 500 -o zones.gpkg")
    _add_inputs(q, districts="none")
    q.add_argument("--threshold", type=float, metavar="T",
                   help="threshold in cost units; sets the default --max-cost (4 x T; "
                        "without either, every school is within reach) and, with an equity "
                        "--objective, the children beyond it in the trade-off table")
    q.add_argument("--tolerance", type=float, default=0.15, metavar="F",
                   help="zone children within (1 +- F) x seats (default 0.15)")
    q.add_argument("--max-increase", type=float, metavar="C",
                   help="largest extra travel per cell over its best zone (cost units)")
    q.add_argument("--minimise-moves", action="store_true",
                   help="move as few children out of their --current district as possible")
    q.add_argument("--balance", choices=["seats", "share"], default="seats",
                   help="target children per zone: its seats, or seats scaled to the total "
                        "children (default seats)")
    q.add_argument("--method", choices=["auto", "mip", "heuristic"], default="auto",
                   help="integer programme, heuristic, or auto by size (default)")
    q.add_argument("--objective", choices=["travel", "maxmin_seats_per_child", "min_theil"],
                   default="travel",
                   help="least travel (default), or an equity objective: the worst zone's "
                        "seats per child as high as possible, or the least Theil index of "
                        "seats per child across zones; both also report the least-travel "
                        "zones and what was traded away")
    q.add_argument("--tradeoffs", metavar="FILE",
                   help="with an equity --objective: write the trade-off table (CSV)")
    q.add_argument("--time-limit", type=float, default=120.0, metavar="S",
                   help="seconds for the whole run (default 120)")
    q.add_argument("--assignment", metavar="FILE",
                   help="also write the cell -> zone table (CSV)")
    q.add_argument("--json", action="store_true", help="print the run report as JSON")
    q.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="zones file: .gpkg, .geojson or .parquet (evaluate reads it)")
    q.set_defaults(func=run_propose)

    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


# ------------------------------------------------------------------------------- reading
def _read(args):
    from geoequity._progress import step
    from geoequity.io import read_population, read_schools

    with step("reading cells"):
        cells = read_population(args.cells, count_col=args.children, id_col=args.cell_id,
                                child_share=args.child_share, crs=args.crs,
                                input_crs=args.input_crs, id_dtype=args.id_dtype)
    with step("reading schools"):
        schools = read_schools(args.schools, id_col=args.school_id, seats_col=args.seats,
                               level_col=args.school_level, crs=args.crs or cells.crs,
                               input_crs=args.input_crs, id_dtype=args.id_dtype)
    if schools.crs != cells.crs:
        schools = schools.to_crs(cells.crs)
    if args.level:
        from geoequity._progress import info
        from geoequity.levels import schools_for_level

        n = len(schools)
        key, schools = schools_for_level(schools, args.level, source="--level",
                                         fix="check --level, or name the level column with "
                                             "--school-level")
        info(f"  {len(schools)} of {n} schools serve level {key} "
             f"({schools['seats'].sum():,.0f} of their seats)")
    return cells, schools


def _read_district_file(path, args, cells):
    """Polygons or a cell -> district table (see geoequity.districts.files)."""
    from geoequity.districts.files import read_proposal

    return read_proposal(path, cells=cells, name_col=args.district_id, cell_col=args.cell_id,
                         input_crs=args.input_crs)


def _need_threshold(args) -> None:
    """``--threshold``, or the ``--preset`` radius of ``--level`` (as access and gaps)."""
    if args.threshold is not None:
        return
    from geoequity._errors import input_error

    if not args.level:
        raise input_error("--threshold", f"districts {args.districts_command} needs a "
                          "threshold", "pass --threshold T in cost units (metres by default), "
                          "or --level")
    from geoequity.cli._common import level_threshold

    level_threshold(args)


def _costs(args, cells, schools):
    """The cost table, or None for exact straight lines computed inside each district."""
    from geoequity.cli._common import cost_source_from_args, max_cost_from_args
    from geoequity.costs import cost_table
    from geoequity.io import representative_points

    source = cost_source_from_args(args)
    if source.kind == "euclidean" and source.detour_factor == 1.0 and source.unit == "m":
        return None
    max_cost, _ = max_cost_from_args(args)   # the one rule: default 4 x the threshold
    origins = cells.set_geometry(representative_points(cells))
    return cost_table(source, origins, schools,
                      max_cost=max_cost)


# ----------------------------------------------------------------------------- commands
def run_evaluate(args: argparse.Namespace) -> int:
    """Execute ``geoequity districts evaluate``."""
    import geopandas as gpd

    from geoequity._progress import info, step
    from geoequity.cli._common import check_output, print_json
    from geoequity.districts import evaluate_districts, resolve_districts
    from geoequity.io import write_table

    check_output(args.output, (".csv", ".parquet", ".gpkg", ".geojson"))
    cells, schools = _read(args)
    districts = _read_district_file(args.districts, args, cells)
    _need_threshold(args)
    costs = _costs(args, cells, schools)
    with step("evaluating districts"):
        member = resolve_districts(cells, schools, districts,
                                   school_district_col=args.school_district,
                                   source=str(args.districts))
        table = evaluate_districts(cells, schools, None, costs, threshold=args.threshold,
                                   member=member, source=str(args.districts))
    out = table.reset_index(drop=True)
    if args.output.lower().endswith((".gpkg", ".geojson")):
        if member.geometry is None:
            from geoequity._errors import input_error

            raise input_error(args.output, "the districts have no outlines (point cells and "
                              "a table)", "write .csv or .parquet")
        out = gpd.GeoDataFrame(out, geometry=member.geometry.reindex(table.index).to_numpy(),
                               crs=cells.crs)
    write_table(out, args.output)
    info(f"  wrote {len(out)} districts to {args.output}")
    if args.json:
        print_json(table.reset_index(drop=True))
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """Execute ``geoequity districts compare``."""
    import pandas as pd

    from geoequity._errors import input_error
    from geoequity._progress import info
    from geoequity.cli._common import check_output, print_json
    from geoequity.districts import compare_districts
    from geoequity.io import write_table

    check_output(args.output, (".csv", ".parquet"))
    if len(args.districts) < 2:
        raise input_error("--districts", "compare needs at least two files",
                          "give the current districts first, then one or more proposals")
    names = args.names or [Path(p).stem for p in args.districts]
    if len(names) != len(args.districts) or len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        what = (f"{', '.join(map(repr, dup))} is repeated" if dup
                else f"{len(names)} names for {len(args.districts)} files")
        raise input_error("--names", f"need one unique name per --districts file ({what})",
                          "give as many distinct names as files")
    cells, schools = _read(args)
    proposals = {n: _read_district_file(p, args, cells)
                 for n, p in zip(names, args.districts, strict=True)}
    _need_threshold(args)
    costs = _costs(args, cells, schools)
    res = compare_districts(cells, schools, proposals, costs, threshold=args.threshold,
                            school_district_col=args.school_district, match=args.match)
    write_table(res.table.reset_index(), args.output)
    info(res.summary)
    if args.moves:
        moves = pd.concat([m.assign(proposal=n) for n, m in res.moves.items()],
                          ignore_index=True)
        write_table(moves[["proposal", "cell", "from_district", "to_district", "children"]],
                    args.moves)
    if args.districts_out:
        rows = pd.concat([t.assign(proposal=n) for n, t in res.districts.items()],
                         ignore_index=True)
        write_table(rows, args.districts_out)
    if args.map:
        from geoequity.maps import make_map, save_map

        first = next(iter(res.layers), None)
        m = make_map(schools=schools, districts=res.layers.get(first),
                     proposals={n: g for n, g in res.layers.items() if n != first},
                     title="District proposals", subtitle=f"current: {names[0]}")
        save_map(m, args.map)
        info(f"  wrote map {args.map}")
    if args.json:
        print_json({"table": {c: res.table[c].to_dict() for c in res.table.columns},
                    "summary": res.summary})
    return 0


def run_propose(args: argparse.Namespace) -> int:
    """Execute ``geoequity districts propose``."""
    from geoequity._progress import info
    from geoequity.cli._common import check_output, print_json
    from geoequity.districts import propose_zones
    from geoequity.io import write_table

    check_output(args.output, (".gpkg", ".geojson", ".parquet"))
    if args.assignment:
        check_output(args.assignment, (".csv", ".parquet"))
    if args.tradeoffs:
        from geoequity._errors import input_error

        check_output(args.tradeoffs, (".csv", ".parquet"))
        if args.objective == "travel":
            raise input_error("--tradeoffs", "--objective travel has no trade-off table",
                              "use an equity --objective, or drop --tradeoffs")
    cells, schools = _read(args)
    current = _read_district_file(args.current, args, cells) if args.current else None
    costs = _costs(args, cells, schools)
    school_zone = None
    if args.school_district:
        school_zone = schools[args.school_district].astype(str)
    zp = propose_zones(cells, schools, costs, tolerance=args.tolerance,
                       max_increase=args.max_increase, current=current,
                       minimise_moves=args.minimise_moves, time_limit=args.time_limit,
                       balance=args.balance, method=args.method, school_zone=school_zone,
                       objective=args.objective, threshold=args.threshold)
    write_table(zp.zones.reset_index(drop=True), args.output)
    if args.assignment:
        import pandas as pd

        id_col = args.cell_id or "cell"
        write_table(pd.DataFrame({id_col: zp.assignment.index.to_numpy(),
                                  "district": zp.assignment.to_numpy()}), args.assignment)
    info(f"  wrote {len(zp.zones)} zones to {args.output}")
    info(zp.report())
    out = {"output": str(args.output), "method": zp.method, "constraints": zp.constraints,
           "status": zp.status, "stats": zp.stats}
    if zp.tradeoffs is not None:
        from geoequity.cli._common import tradeoff_text

        info(tradeoff_text(zp.tradeoffs, zp.traded_away()))
        if args.tradeoffs:
            write_table(zp.tradeoffs.reset_index(drop=True), args.tradeoffs)
        out["tradeoffs"] = zp.tradeoffs.reset_index(drop=True).to_dict(orient="records")
        out["traded_away"] = zp.traded_away().to_dict("index")
    if args.json:
        print_json(out)
    return 0
