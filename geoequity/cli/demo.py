"""``geoequity demo``: the whole analysis on the embedded, synthetic Demo County (no internet)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the analysis on the embedded synthetic demo county",
                       description="Run the demo scenario (data/demo.toml, synthetic Demo "
                       "County) end to end with no internet: writes maps/demo.html and the "
                       "tables and report to out/demo/.")
    p.add_argument("--out", metavar="DIR", default="out/demo",
                   help="output folder for tables and report (default out/demo)")
    p.add_argument("--map", metavar="FILE", default="maps/demo.html",
                   help="map HTML path (default maps/demo.html)")
    p.add_argument("--data", metavar="DIR",
                   help="where the demo inputs are (default: data/ if it holds demo.toml, "
                   "else they are generated into OUT/inputs)")
    p.add_argument("--regenerate", action="store_true",
                   help="write the demo inputs anew with geoequity.demo before running")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from geoequity._progress import info
    from geoequity.cli.run import print_summary, print_written
    from geoequity.demo import make_demo
    from geoequity.outputs import lock_folder
    from geoequity.scenario import run_scenario

    data = Path(args.data) if args.data else Path("data")
    scenario = data / "demo.toml"
    with lock_folder(args.out):   # the inputs may go into OUT/inputs: one demo at a time
        if args.regenerate or not scenario.exists():
            if not args.data and not scenario.exists():
                data = Path(args.out) / "inputs"
            info(f"writing the synthetic demo inputs to {data}")
            scenario = make_demo(data)
        results = run_scenario(scenario, folder=args.out, map_path=args.map,
                               report=False if args.no_report else None)
    print_summary(results)
    print_written(results)
    return 0
