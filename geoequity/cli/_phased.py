"""``geoequity site ... --years A:B``: phased siting, the door to
:func:`geoequity.siting.phased.site_phased` (flags added to ``site`` by :func:`add_args`)."""

from __future__ import annotations

import argparse

def add_args(p: argparse.ArgumentParser) -> None:
    """The phased-siting flags of ``geoequity site``."""
    g = p.add_argument_group("phased siting (sites and opening years over --years)")
    g.add_argument("--years", metavar="A:B",
                   help="plan the years A to B (e.g. 2027:2035): choose sites and the year "
                        "each opens; --problem shortfall_years (default) or "
                        "child_years_beyond")
    g.add_argument("--demand-by-year", metavar="FILE",
                   help="children per cell and year: a run's cells_by_year.parquet (with "
                        "children_low/children_high when its [forecast] has enrolment) or a "
                        "CSV/Parquet with cell, year, children[, variant] (low, mid, high)")
    g.add_argument("--p-per-year", type=_non_negative, metavar="N",
                   help="at most N new sites opened in each year")
    g.add_argument("--budget-per-year", type=_non_negative, metavar="B",
                   help="at most B of build cost (--candidate-cost) spent in each year")
    g.add_argument("--carry-over", action="store_true",
                   help="a year's unspent --p-per-year/--budget-per-year may be used later")
    g.add_argument("--robust", action="store_true",
                   help="choose against every variant of --demand-by-year (low, mid, high: "
                        "its variant column, or children_low/children/children_high): "
                        "minimise the worst case")
    g.add_argument("--by-year", metavar="FILE",
                   help="write the per-year table (children, seats, shortfall and children "
                        "beyond the threshold, before and after)")


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number >= 0")
    return value


def parse_years(text: str) -> list[int]:
    """``"2027:2035"`` -> [2027, ..., 2035] (one year alone: ``"2030"``)."""
    from geoequity._errors import input_error

    parts = str(text).split(":")
    try:
        a, b = (int(parts[0]), int(parts[-1])) if len(parts) <= 2 else (None, None)
    except ValueError:
        a = b = None
    if a is None:
        raise input_error("--years", f"{text!r} is not a range of years",
                          "write the first and last year, e.g. --years 2027:2035")
    if b < a:
        raise input_error("--years", f"{text} runs backwards",
                          f"write the first year first: --years {b}:{a}")
    return list(range(a, b + 1))


def read_demand_by_year(path: str, cells):
    """The demand table, its cell ids matched to the ``--demand`` layer's ids."""
    import pandas as pd

    from geoequity._errors import input_error
    from geoequity.io.tables import read_attributes

    if str(path).lower().endswith(".parquet"):
        try:
            table = pd.read_parquet(path)
        except Exception as exc:   # a broken or foreign file: one line
            raise input_error(path, f"cannot be read ({type(exc).__name__})",
                              "give a run's cells_by_year.parquet or a CSV") from None
    else:
        table = pd.DataFrame(read_attributes(path, text_cols=("cell",)))
    if "cell" not in table.columns:
        raise input_error(path, "has no column cell",
                          "give cell, year, children[, variant] columns")
    ids = cells.index
    cell = table["cell"]
    if pd.api.types.is_numeric_dtype(ids):   # typed ids (GeoPackage, Parquet)
        cell = pd.to_numeric(cell, errors="coerce")
    else:                                     # text ids (CSV layers): compare as text
        cell = cell.astype(str)
    unknown = pd.Index(cell.unique()).difference(ids)
    if len(unknown):
        raise input_error(path, f"cell {unknown[0]!r} is not a cell of --demand",
                          "give the cells of the --demand layer (same ids)")
    table = table.copy()
    table["cell"] = cell
    table.attrs["source"] = str(path)   # site_phased names the file in its messages
    return table


def run(args, inputs, costs, exist, cands) -> int:
    """Execute ``geoequity site --years``: read, solve, write, report."""
    from geoequity._progress import info
    from geoequity.cli._common import print_json
    from geoequity.io import write_table
    from geoequity.siting.phased import site_phased

    demand, attrs = inputs
    problem = args.problem or "shortfall_years"
    res = site_phased(
        costs, read_demand_by_year(args.demand_by_year, demand),
        attrs if len(attrs.columns) else list(cands.index), years=parse_years(args.years),
        objective=problem, threshold=args.threshold, existing=exist,
        capacities=args.capacity, p=args.p, p_per_year=args.p_per_year, budget=args.budget,
        budget_per_year=args.budget_per_year, carry_over=args.carry_over, robust=args.robust,
        solver=args.solver, time_limit=args.time_limit)
    for note in res.notes:
        info(f"  note: {note}")
    sites = res.sites
    if str(args.output).lower().endswith((".gpkg", ".geojson")):
        import geopandas as gpd

        geo = cands.geometry.reindex(sites["site"]).to_numpy()
        sites = gpd.GeoDataFrame(sites, geometry=geo, crs=cands.crs)
    write_table(sites, args.output)
    if args.by_year:
        write_table(res.by_year, args.by_year)
    info(f"{res.objective}: {res.value:,.6g} child-years, status {res.status}, gap "
         f"{res.gap:.2e}; " + ", ".join(f"{s} ({y})" for s, y in
                                        zip(res.sites["site"], res.sites["year"], strict=True)))
    if args.json:
        print_json(res.summary())
    return 0


def check_args(args) -> None:
    """Refuse flag combinations before any work (one line, exit 2)."""
    from geoequity._errors import input_error
    from geoequity.siting.phased import OBJECTIVES

    phased = ("demand_by_year", "p_per_year", "budget_per_year", "by_year")
    if not args.years:
        used = [f for f in phased if getattr(args, f) is not None]
        used += [f for f in ("carry_over", "robust") if getattr(args, f)]
        if used:
            raise input_error("--" + used[0].replace("_", "-"), "is for phased siting",
                              "add --years A:B")
        if args.problem in OBJECTIVES:
            raise input_error("--problem", f"{args.problem} is a phased objective",
                              "add --years A:B (and --demand-by-year)")
        return
    parse_years(args.years)
    single = [f for f in ("sizes", "before_after", "assignment", "layers", "districts",
                          "tradeoffs") if getattr(args, f, None)]
    single += ["capacitated"] if args.capacitated else []
    if single:
        raise input_error("--" + single[0].replace("_", "-"), "is for single-year siting",
                          "drop it with --years (the per-year table is --by-year)")
    if args.child_share is not None:
        raise input_error("--child-share", "scales --demand-col, which --years does not read",
                          "give children in --demand-by-year")
    if args.problem is not None and args.problem not in OBJECTIVES:
        raise input_error("--problem", f"{args.problem} is a single-year problem",
                          f"with --years use {' or '.join(OBJECTIVES)}")
    if not args.demand_by_year:
        raise input_error("--years", "needs the children of every year",
                          "add --demand-by-year cells_by_year.parquet (or a CSV with cell, "
                          "year, children)")
