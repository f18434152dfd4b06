"""``geoequity composite``: the composite equalization level of each district, ranked.

Example::

    geoequity composite out/demo -o composite.csv --sensitivity ranks.csv
    geoequity composite districts.csv --standards my_standards.toml --json
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    """Add the ``composite`` subcommand."""
    p = subparsers.add_parser(
        "composite", help="composite equalization level per district (access, seats, "
                          "teachers, funding) with a weight-sensitivity table",
        description="Rank districts by a weighted sum of normalised indicators (default: "
                    "mean access, seats per child, teachers per 100 pupils, funding per pupil; "
                    "weights and normalisation in standards.toml [composite]) and show how "
                    "the ranks move when each weight moves by the [composite] sensitivity.",
        epilog="example: geoequity composite out/demo -o composite.csv --sensitivity ranks.csv")
    p.add_argument("source", metavar="RUN_OR_TABLE",
                   help="a finished run folder (districts.csv, equity.csv, schools.csv) or a "
                        "table with one row per district holding the indicator columns")
    # spelled as `equity` and `report` spell it; the older --district stays as an alias
    p.add_argument("--district-col", "--district", dest="district", metavar="COL",
                   default="district",
                   help="table: the district name column (default district; also --district)")
    p.add_argument("--standards", metavar="TOML",
                   help="an edited copy of geoequity/data/standards.toml ([composite])")
    p.add_argument("-o", "--output", metavar="FILE", help="write the ranking (CSV)")
    p.add_argument("--sensitivity", metavar="FILE",
                   help="write the ranks under each weight change (CSV)")
    p.add_argument("--json", action="store_true", help="print the ranking as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from geoequity._atomic import write_text
    from geoequity.cli._common import check_output, print_json
    from geoequity.composite import composite_index, run_indicators
    from geoequity.io.tables import read_attributes

    for path in (args.output, args.sensitivity):
        if path:
            check_output(path, (".csv",))
    if Path(args.source).is_dir():
        table = run_indicators(args.source)
    else:
        table = read_attributes(args.source, text_cols=(args.district,))
    res = composite_index(table, standards=args.standards, district_col=args.district)
    if args.output:
        write_text(args.output, "\ufeff" + res.table.to_csv(index=False))
    if args.sensitivity:
        write_text(args.sensitivity, "\ufeff" + res.sensitivity.to_csv(index=False))
    if args.json:
        print_json({"normalise": res.spec["normalise"], "sensitivity": res.spec["sensitivity"],
                    "weights": {d["key"]: d["weight"] for d in res.spec["indicators"]},
                    "districts": res.table.to_dict(orient="records"), "notes": res.notes})
        return 0
    print(f"{'rank':>4}  {'district':<20}{'index':>8}  rank range")
    for r in res.table.itertuples():
        span = f"{r.rank_min}-{r.rank_max}" if r.rank_min != r.rank_max else f"{r.rank}"
        print(f"{r.rank:>4}  {str(getattr(r, args.district, r[1])):<20}{r.index:>8.3f}  {span}")
    for n in res.notes:
        print(f"note: {n}")
    return 0
