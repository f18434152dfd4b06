"""``geoequity run SCENARIO.toml``: run a whole analysis from a scenario file."""

from __future__ import annotations

import argparse

from geoequity.settings import RunSettings


def register(sub) -> None:
    p = sub.add_parser("run", help="run a whole analysis from a scenario TOML file",
                       description="Run the analysis a scenario file describes and write all "
                       "outputs (tables as CSV and GeoPackage, report, map) into one folder.")
    p.add_argument("scenario", help="scenario .toml file (see docs/scenario.md)")
    p.add_argument("--out", metavar="DIR", help="output folder (overrides [outputs] folder)")
    p.add_argument("--map", metavar="FILE", help="map HTML path (overrides [outputs] map)")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.add_argument("--scheduler", metavar="ADDRESS", help="compute on the dask cluster of this "
                   "scheduler, e.g. tcp://host:8786 (overrides [compute] scheduler)")
    p.add_argument("--workers", metavar="N", type=int, help="compute on a local dask cluster of "
                   "N worker processes (overrides [compute] workers)")
    p.add_argument("--partition", metavar="P", help='partitions of a cluster run: "districts", '
                   "a column of the districts layer, or a tile size in metres "
                   "(overrides [compute] partition)")
    p.add_argument("--assignment-mode", choices=["auto", "exact", "decomposed"],
                   help="capacity-constrained assignment: exact (one min-cost flow), decomposed "
                   "(part by part over the partition, reported against the exact lower "
                   "bound), or auto (default: exact up to 5,000,000 pairs) "
                   "(overrides [compute] assignment_mode)")
    p.add_argument("--district-group", metavar="COLUMN",
                   help="a districts column grouping the districts (e.g. county): the equity "
                   "tables add its Theil between/within decomposition (overrides [districts] "
                   "group)")
    p.add_argument("--csv", choices=["auto", "true", "false"],
                   help="write cells.csv: auto (default: up to 200,000 cells; the cells are "
                   "always in cells.parquet), true or false (overrides [outputs] csv)")
    p.add_argument("--gpkg", choices=["auto", "true", "false"],
                   help="write cells.gpkg: auto (default: up to 200,000 cells; the cells are "
                   "always in cells.parquet, which geoequity map and report read), true or "
                   "false (overrides [outputs] gpkg)")
    p.add_argument("--maps-by", metavar="COL", help='a province overview at the map path and '
                   'one map per group in the folder beside it: "districts" or a column of the '
                   "districts layer, e.g. county (overrides [outputs] maps_by)")
    p.set_defaults(func=main)


def print_summary(results, stream=None) -> None:
    """Headline figures of a run, for people (stdout)."""
    import sys

    out = stream or sys.stdout
    s = results.summary
    run = getattr(results, "settings", None) or RunSettings.from_summary(s)
    unit = "m" if run.unit == "m" else "min"
    children = s["children"] or 0
    print(run.title or "geoequity", file=out)
    print(f"  children {children:,.0f}; seats {s['seats']:,.0f}; "
          f"seats per child {s['seats_per_child']:.2f}", file=out)
    beyond = s["children_beyond_threshold"]
    pct = 100 * beyond / children if children else 0
    print(f"  children farther than {s['threshold']:g} {unit} from any school: "
          f"{beyond:,.0f} ({pct:.1f}%)", file=out)
    if s.get("children_unassigned") is not None:
        print(f"  children without a seat after capacity-constrained assignment: "
              f"{s['children_unassigned']:,.0f}", file=out)
    dt = results.district_table
    if dt is not None:
        rows = dt[~dt["district"].isin(["(all)", "(outside)"])]
        rows = rows[rows["children"] > 0]
        if len(rows) >= 2:   # "fewest" compares districts: one district is not a finding
            worst = rows.sort_values("seats_per_child").iloc[0]
            print(f"  fewest seats per child: {worst['district']} "
                  f"({worst['seats_per_child']:.2f}; shortfall {worst['shortfall']:,.0f})",
                  file=out)
    sites = _school_sites(results.schools)
    if sites is not None:
        low = sites[sites["utilisation"] < 0.75].sort_values("utilisation")
        for _, row in low.head(5).iterrows():
            what = "under-used school" if row["n"] == 1 else "under-used school site"
            print(f"  {what}: {row['name']} ({row['utilisation']:.0%} of "
                  f"{row['seats']:,.0f} seats used)", file=out)
        if len(low) > 5:
            print(f"  ... and {len(low) - 5:,} more schools under 75% used "
                  "(schools.csv, column utilisation)", file=out)


def _school_sites(sch):
    """Schools' utilisation per site: co-located schools (twin schools at one address, within
    1 m) share their children, so their seats and assigned pupils are added up and they are
    named together; a lone school is its own site."""
    import numpy as np
    import pandas as pd

    if "utilisation" not in sch or "seats" not in sch:
        return None
    names = [n if isinstance(n, str) and n.strip() else str(i)
             for i, n in zip(sch.index, sch["name"] if "name" in sch else sch.index,
                             strict=True)]
    seats = pd.to_numeric(sch["seats"], errors="coerce").to_numpy(float)
    assigned = pd.to_numeric(sch["utilisation"], errors="coerce").to_numpy(float) * seats
    geom = getattr(sch, "geometry", None) if hasattr(sch, "geometry") and "geometry" in sch \
        else None
    if geom is not None:
        key = [f"{round(g.x)},{round(g.y)}" if g is not None and not g.is_empty
               and g.geom_type == "Point" else str(i) for i, g in enumerate(geom)]
    else:
        key = [str(i) for i in range(len(sch))]
    df = pd.DataFrame({"key": key, "name": names, "seats": seats, "assigned": assigned})
    grp = df.groupby("key", sort=False)
    out = pd.DataFrame({"name": grp["name"].agg(" + ".join), "n": grp.size(),
                        "seats": grp["seats"].sum(), "assigned": grp["assigned"].sum()})
    out["utilisation"] = np.where(out["seats"] > 0, out["assigned"] / out["seats"], np.nan)
    return out


def print_written(results, stream=None) -> None:
    """List the files a run wrote (stdout)."""
    import sys

    out = stream or sys.stdout
    print("wrote:", file=out)
    for p in results.written:
        print(f"  {p}", file=out)


def main(args: argparse.Namespace) -> int:
    from geoequity._options import door
    from geoequity.distributed import ComputeOptions, parse_partition
    from geoequity.scenario import run_scenario

    compute = {"scheduler": args.scheduler, "workers": args.workers,
               "partition": parse_partition(args.partition)}
    with door("cli"):   # the flags are checked first: their messages name --workers ...
        ComputeOptions(**compute)
    with door("cli"):   # run_scenario spells its own keys for the scenario
        results = run_scenario(args.scenario, folder=args.out, map_path=args.map,
                               report=False if args.no_report else None, csv=args.csv, gpkg=args.gpkg,
                               assignment_mode=args.assignment_mode,
                               district_group=args.district_group, maps_by=args.maps_by,
                               **compute)
    print_summary(results)
    print_written(results)
    return 0
