"""``geoequity forecast``: project enrolment per school and grade from its history.

Example::

    geoequity forecast --enrolment history.csv --school-col school --year-col year \\
        --grade-col grade --count-col students --grades K,1,2,3,4,5 \\
        --births births.csv --births-year-col year --births-col births --birth-lag 5 \\
        --base-year 2012 --horizon 5 -o forecast.csv
"""

from __future__ import annotations

import argparse

from geoequity._progress import info


def _grade_list(text: str) -> list[str]:
    grades = [g.strip() for g in text.split(",") if g.strip()]
    if len(grades) < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: list at least two grades, e.g. K,1,2,3,4,5")
    return grades


def _level(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1 (e.g. 0.8)")
    return value


def register(subparsers) -> None:
    """Add the ``forecast`` subcommand."""
    p = subparsers.add_parser(
        "forecast", help="project enrolment per school and grade (cohort survival)",
        description="Project enrolment per school, year and grade from the enrolment history "
                    "(grade progression ratios; the entry grade from births, a feeder grade, "
                    "or its own trend). Writes a long table school, year, grade, students, "
                    "low, high (80 %% interval) with grade 'all' rows per school and "
                    "'(all)' rows for the district. Method and backtests: docs/forecast.md.",
        epilog="example: geoequity forecast --enrolment history.csv --grades K,1,2,3,4,5 "
               "--births births.csv --birth-lag 5 --base-year 2012 --horizon 5 "
               "-o forecast.csv")
    p.add_argument("--enrolment", required=True, metavar="FILE",
                   help="history: one row per school, year and grade (CSV, Parquet, Excel)")
    p.add_argument("--school-col", default="school", metavar="COL",
                   help="school column (default school)")
    p.add_argument("--year-col", default="year", metavar="COL", help="year column (default year)")
    p.add_argument("--grade-col", default="grade", metavar="COL",
                   help="grade column (default grade)")
    p.add_argument("--count-col", default="students", metavar="COL",
                   help="students column (default students)")
    p.add_argument("--grades", required=True, type=_grade_list, metavar="G1,G2,...",
                   help="grades in order, entry grade first: K,1,2,3,4,5 or 1,2,3,4,5,6 or "
                        "7,8,9; labels are kept as written")
    p.add_argument("--births", metavar="FILE",
                   help="births per year; the entry grade follows births --birth-lag years "
                        "earlier (without births or a feeder: the entry grade's own trend)")
    p.add_argument("--births-year-col", default="year", metavar="COL",
                   help="year column of --births (default year)")
    p.add_argument("--births-col", default="births", metavar="COL",
                   help="births column of --births (default births)")
    p.add_argument("--birth-lag", type=int, default=5, metavar="YEARS",
                   help="age at entry: births in year Y enter in Y + YEARS (default 5; 6 for "
                        "Chinese primary grade 1)")
    p.add_argument("--feeder-enrolment", metavar="FILE",
                   help="feeder history (same columns), e.g. primary schools for a junior "
                        "forecast: the entry grade follows the district total of "
                        "--feeder-grade the year before")
    p.add_argument("--feeder-grade", metavar="G", help="feeder grade, e.g. 6")
    p.add_argument("--feeder-grades", type=_grade_list, metavar="G1,G2,...",
                   help="the feeder's grades in order (default: K first, then numeric order)")
    p.add_argument("--base-year", required=True, type=int, metavar="YEAR",
                   help="last year of history used; projected years follow it")
    p.add_argument("--horizon", type=int, default=5, metavar="YEARS",
                   help="years projected after the base year (default 5)")
    p.add_argument("--method", choices=["shrinkage", "standard"], default="shrinkage",
                   help="shrinkage (default) or standard 3-year average ratios")
    p.add_argument("--level", type=_level, default=0.8, metavar="P",
                   help="coverage of the low-high interval (default 0.8)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the table (.csv or .parquet)")
    p.add_argument("--json", action="store_true", help="print the table as JSON on stdout")
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace):
    """The :class:`~geoequity.forecast.ForecastSettings` the flags describe."""
    from geoequity.forecast import ForecastSettings

    return ForecastSettings(
        enrolment=args.enrolment, grades=args.grades, base_year=args.base_year,
        horizon=args.horizon, school_col=args.school_col, year_col=args.year_col,
        grade_col=args.grade_col, count_col=args.count_col, births=args.births,
        births_year_col=args.births_year_col, births_col=args.births_col,
        birth_lag=args.birth_lag, feeder_enrolment=args.feeder_enrolment,
        feeder_grade=args.feeder_grade, feeder_grades=args.feeder_grades, method=args.method,
        level=args.level)


def run(args: argparse.Namespace) -> int:
    from geoequity.cli._common import check_output, print_json
    from geoequity.forecast import DISTRICT, run_forecast
    from geoequity.io import write_table

    if args.output:
        check_output(args.output, allowed=(".csv", ".parquet"))
    # no step() around it: a bad input must print one line only
    table = run_forecast(settings_from_args(args))
    if args.output:
        write_table(table, args.output)
        info(f"wrote {args.output} ({len(table)} rows)")
    if args.json:
        print_json(table)
    elif not args.output:
        print(table.to_csv(index=False), end="")
    else:
        tot = table[(table["school"] == DISTRICT) & (table["grade"] == "all")]
        for r in tot.itertuples():
            info(f"  {r.year}: {r.students} students ({args.level:.0%} interval "
                 f"{r.low}-{r.high})")
    return 0
