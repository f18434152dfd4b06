"""Benchmark the per-year pipeline: a county run over 15 years against the same single-year run.

The synthetic Demo County (geoequity.demo, written to a temporary folder), cut to a window of
about 5,000 populated 100 m cells, walking costs over its streets, 19 primary schools, six
districts. Two scenarios, identical but for ``[forecast]`` (horizon 15, births) and one
``[[housing]]`` layer (the demo's estates):

- single year: ``geoequity run`` (read, costs, every stage, tables, map, report);
- 15 years: the same run plus the children per cell of 2027-2041 and the demand-dependent
  stages for every year (the cost table is coded once: Results.pairs), the three per-year
  tables, the map's year switch and the report's chart.

Each is timed end to end in-process (best of 3, after one warm-up run that fills the network
cache); the target is a ratio under 3.

    python benchmarks/bench_yearly.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # this checkout's geoequity

from geoequity.cli import main  # noqa: E402
from geoequity.demo import make_demo  # noqa: E402

WINDOW = "bounds = [762000, 3371000, 771000, 3378200]"   # about 5,500 populated cells

FORECAST = """
[forecast]
base_year = 2026
horizon = 15
births = "demo/births.csv"
birth_lag = 6
grades = ["1", "2", "3", "4", "5", "6"]

[[housing]]
path = "demo/estates.csv"
units = "dwellings"
year = "completion_year"
build_years = "build_years"
preset = "cn-primary"
"""


def _scenarios(folder: Path) -> tuple[Path, Path]:
    make_demo(folder)
    text = (folder / "demo.toml").read_text(encoding="utf-8")
    text = text.replace("child_share = 0.08", f"child_share = 0.08\n{WINDOW}")
    text = text.replace('folder = "../out/demo"', 'folder = "out"').replace(
        'map = "../maps/demo.html"', 'map = "map.html"')
    one = folder / "one.toml"
    one.write_text(text, encoding="utf-8")
    years = folder / "years.toml"
    # births for 2041 need 2030-2035: the demo's synthetic births run to 2031; extend them
    births = folder / "demo" / "births.csv"
    rows = births.read_text(encoding="utf-8").strip().splitlines()
    last = int(rows[-1].split(",")[0])
    extra = [f"{y},{round(5_400 * 0.96 ** (y - 2014))}" for y in range(last + 1, 2036)]
    births.write_text("\n".join(rows + extra) + "\n", encoding="utf-8")
    years.write_text(text.replace('folder = "out"', 'folder = "out_years"').replace(
        'map = "map.html"', 'map = "map_years.html"') + FORECAST, encoding="utf-8")
    return one, years


def _time(scenario: Path, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        assert main(["-q", "run", str(scenario)]) == 0, scenario
        best = min(best, time.perf_counter() - t)
    return best


def main_() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        one, years = _scenarios(Path(tmp))
        assert main(["-q", "run", str(one)]) == 0            # warm-up: network cache, imports
        import pandas as pd

        cells = len(pd.read_csv(Path(tmp) / "out" / "cells.csv", usecols=["children"]))
        t1 = _time(one)
        t15 = _time(years)
        d = pd.read_csv(Path(tmp) / "out_years" / "districts_by_year.csv")
        print(f"cells: {cells:,}; years: {d['year'].nunique()} (base + 15)")
        print(f"single-year run: {t1:6.2f} s")
        print(f"15-year run:     {t15:6.2f} s")
        print(f"ratio:           {t15 / t1:6.2f} (target < 3)")


if __name__ == "__main__":
    main_()
