"""``geoequity trend``: year-on-year monitoring (年度监测) of several runs or school tables.

Example::

    geoequity trend out/2024 out/2025 -o trend.csv --html trend.html
    geoequity trend schools_2024.csv schools_2025.csv --district-col county -o trend.csv
    geoequity trend schools.csv --year-col year -o trend.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

from geoequity._errors import input_error


def register(subparsers) -> None:
    """Add the ``trend`` subcommand."""
    p = subparsers.add_parser(
        "trend", help="year-on-year series of every figure of several runs or school tables",
        description="Stack the figures of several years (finished run folders, or school "
                    "tables evaluated for resource balance) into one long table: year, scope, "
                    "name, indicator, value, change since the previous year and whether each "
                    "gap narrowed. The year of an input is --years, else summary.json's "
                    "'year', else the last 19xx/20xx in its name.",
        epilog="example: geoequity trend out/2024 out/2025 -o trend.csv --html trend.html")
    p.add_argument("inputs", nargs="+", metavar="RUN_OR_TABLE",
                   help="run folders (geoequity run/demo output) or school tables, one a year")
    p.add_argument("--years", metavar="Y,Y,...",
                   help="the year of each input, in order (default: from the names)")
    p.add_argument("--year-col", metavar="COL",
                   help="one school table holding every year: its year column")
    p.add_argument("--balance", choices=["basic", "quality"], default="basic",
                   help="school tables: the standard to evaluate (default basic)")
    # column flags spelled as `equity` and `report` spell them (--district-col ...); the older
    # spellings (--district, --level, --enrolment) stay as aliases
    p.add_argument("--district-col", "--district", dest="district", metavar="COL",
                   help="school tables: county/district column (default: one county; also "
                        "--district)")
    p.add_argument("--level-col", "--level", dest="level", metavar="COL", default="level",
                   help="school tables: level column (default level; also --level)")
    p.add_argument("--enrolment-col", "--enrolment", dest="enrolment", metavar="COL",
                   default="enrolment", help="school tables: students per school (default "
                   "enrolment; also --enrolment)")
    p.add_argument("--standards", metavar="TOML",
                   help="an edited copy of geoequity/data/standards.toml")
    p.add_argument("-o", "--output", metavar="FILE", default="trend.csv",
                   help="the long table (CSV; default trend.csv)")
    p.add_argument("--html", metavar="FILE",
                   help="also write the monitoring report (line charts, what narrowed)")
    p.add_argument("--lang", choices=["en", "zh"], default="en", help="--html language")
    p.add_argument("--json", action="store_true",
                   help="print the first-to-last change of every county gap as JSON")
    p.set_defaults(func=run)


def sources(inputs: list[str], years: str | None, *, year_col: str | None = None) -> list:
    """The :class:`geoequity.trend.YearSource` of each input (the years checked)."""
    from geoequity.trend import YearSource, year_of

    for path in inputs:
        if not Path(path).exists():
            raise input_error(path, "not found", "give run folders or school tables")
    if year_col:
        return [YearSource(0, Path(p)) for p in inputs]
    if years:
        parts = [y.strip() for y in years.split(",")]
        if len(parts) != len(inputs) or not all(y.isdigit() for y in parts):
            raise input_error("--years", f"{years!r} is not one whole year per input "
                              f"({len(inputs)} inputs)", "give e.g. --years 2024,2025")
        return [YearSource(int(y), Path(p), p) for y, p in zip(parts, inputs)]
    out = []
    for p in inputs:
        y = year_of(p)
        if y is None:
            raise input_error(p, "has no year in its name or summary.json",
                              "name the years with --years 2024,2025,... (one per input)")
        out.append(YearSource(y, Path(p), p))
    return out


def run(args: argparse.Namespace) -> int:
    from geoequity._atomic import write_text
    from geoequity.cli._common import check_output, print_json
    from geoequity.trend import build_trend, gap_changes

    check_output(args.output, (".csv",))
    if args.html:
        check_output(args.html, (".html", ".htm"))
    srcs = sources(args.inputs, args.years, year_col=args.year_col)
    table = build_trend(srcs, standard=args.balance, district_col=args.district,
                        year_col=args.year_col, level_col=args.level,
                        enrolment_col=args.enrolment, standards=args.standards)
    write_text(args.output, "\ufeff" + table.to_csv(index=False))
    if args.html:
        from geoequity.report import write_report

        write_report(args.html, trend=table, lang=args.lang, csv=False)
    changes = gap_changes(table)
    if args.json:
        print_json(changes)
        return 0
    years = sorted(table["year"].unique())
    print(f"{len(years)} years ({years[0]}-{years[-1]}), {len(table)} figures -> {args.output}; "
          f"{int((changes['verdict'] == 'narrowed').sum())} of {len(changes)} county gaps "
          "narrowed")
    for r in changes[changes["verdict"] != "unchanged"].itertuples():
        print(f"  {r.verdict:<9} {r.indicator} ({r.name}): {r.first:.4g} ({r.first_year}) -> "
              f"{r.last:.4g} ({r.last_year})")
    return 0
