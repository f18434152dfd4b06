"""``geoequity compare``: finished run folders side by side, as plans are compared.

Example::

    geoequity compare out/plan_a out/plan_b -o compare.csv --report compare.html
    geoequity compare out/2026_low out/2026_high --names low,high --json

Each run folder is one plan (a run with ``[[plans]]`` gives its plans, ``RUN/plan``); see
:mod:`geoequity.plan_compare` for the measures and for runs that differ.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``compare`` subcommand."""
    p = subparsers.add_parser(
        "compare", help="compare finished run folders as plans (seat-years short, worst "
                        "district, Gini/Theil ...), year by year",
        description="Compare finished run folders the way a run compares its plans: one plan "
                    "per run (a run with [[plans]] gives its plans, named RUN/plan). Writes "
                    "the per-district, per-year table (-o, the columns of plans_by_year.csv "
                    "with plan = the run's name) and prints the summary per plan: seat-years "
                    "short, child-years beyond the threshold, the worst district and year, "
                    "Gini/Theil of access, resource balance, children moved, cost. Only the "
                    "years every run has are compared; runs of different districts, or with "
                    "no year in common, are refused.",
        epilog="example: geoequity compare out/plan_a out/plan_b -o compare.csv "
               "--report compare.html")
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="run folders written by geoequity run or demo")
    p.add_argument("--names", metavar="NAME,NAME,...",
                   help="the name of each run, in order (default: the folder names)")
    p.add_argument("-o", "--output", metavar="FILE", default="compare.csv",
                   help="the per-district, per-year table (CSV; default compare.csv)")
    p.add_argument("--report", metavar="FILE.html",
                   help="also write the \"plans compared\" report (HTML)")
    p.add_argument("--lang", choices=["en", "zh"], default="en", help="--report language")
    p.add_argument("--title", help="--report title")
    p.add_argument("--json", action="store_true",
                   help="print the summary per plan as JSON (nothing else on stdout)")
    p.set_defaults(func=run)


def _refuse_run_files(args: argparse.Namespace) -> None:
    """An output may not replace a file of a run folder compared (its tables, or the
    proposals' compare.csv a run writes): one line, exit status 2, nothing written."""
    from pathlib import Path

    from geoequity._errors import input_error
    from geoequity.outputs import OUTPUT_NAMES

    for flag, out in (("-o", args.output), ("--report", args.report)):
        if not out:
            continue
        path = Path(out).absolute()
        for run in args.runs:
            folder = Path(run).absolute()
            if path.parent.resolve() == folder.resolve() and (
                    path.name in OUTPUT_NAMES or path.name.startswith("plans_")):
                raise input_error(out, f"would replace a file of the run folder {run} ({flag})",
                                  "write the comparison outside the run folders")


_SHOWN = ("shortfall_years", "child_years_beyond", "worst_district", "worst_year",
          "worst_seats_per_child", "gini_access", "theil_access", "balance_pass")


def run(args: argparse.Namespace) -> int:
    from geoequity.cli._common import check_output, print_json
    from geoequity.io.write import write_table
    from geoequity.plan_compare import compare_runs

    check_output(args.output, (".csv",))
    if args.report:
        check_output(args.report, (".html", ".htm"))
    _refuse_run_files(args)
    names = args.names.split(",") if args.names is not None else None
    tables = compare_runs(args.runs, names)
    write_table(tables.by_year, args.output)
    if args.report:
        from geoequity.report import write_report

        write_report(args.report, plans=tables, lang=args.lang, csv=False,
                     title=args.title or ("方案比较" if args.lang == "zh" else "Plans compared"),
                     notes=tables.notes)
    if args.json:
        print_json(tables.summary)
        return 0
    summary = tables.summary
    cols = ["plan", *(c for c in _SHOWN if summary[c].notna().any())]
    whole = {"shortfall_years", "child_years_beyond", "worst_year"}
    formats = {c: (lambda v: f"{v:,.0f}") if c in whole else (lambda v: f"{v:.3f}")
               for c in cols if summary[c].dtype.kind == "f"}
    print(summary[cols].to_string(index=False, na_rep="-", formatters=formats))
    print(f"{len(summary)} plans, {tables.by_year['year'].nunique(dropna=False)} year(s) -> "
          f"{args.output}" + (f", {args.report}" if args.report else ""))
    return 0
