"""Benchmark plans over time: the demo's 3 plans over 10 years against the single-year run.

Three runs of the embedded Demo County (``data/demo_plans.toml``, synthetic), identical but
for what the scenario holds:

- single year: the scenario without ``[forecast]``, ``[[housing]]`` and ``[[plans]]``
  (read, walking costs over the streets, every stage, tables, map, report);
- forecast: with ``[forecast]`` and ``[[housing]]`` (11 years), no plans;
- plans: the whole ``demo_plans.toml``: the forecast plus 3 plans and ``(current)``, each in
  every year 2026-2036 (44 plan-years; the new school's costs computed once, the cost table
  coded once), and ``plans_by_year.csv`` / ``plans_summary.csv``.

Each is timed end to end in-process (best of 3, after one warm-up run that fills the network
cache). The issue's target: plans under 3 x the single-year run.

    python benchmarks/bench_plans.py
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))   # this checkout's geoequity

from geoequity.cli import main  # noqa: E402

SCENARIO = ROOT / "data" / "demo_plans.toml"


def _variants(folder: Path) -> dict[str, Path]:
    text = SCENARIO.read_text(encoding="utf-8")
    data = (ROOT / "data").as_posix()
    text = text.replace('"demo/', f'"{data}/demo/')
    head, _, plans = text.partition("# -- the plans")
    forecast = head
    single = re.split(r"^\[forecast\]", head, flags=re.M)[0]
    out = {}
    for name, body in (("single year", single), ("forecast", forecast), ("plans", text)):
        p = folder / f"{name.replace(' ', '_')}.toml"
        p.write_text(body, encoding="utf-8")
        out[name] = p
    return out


def _time(toml: Path, folder: Path) -> float:
    best = float("inf")
    for i in range(4):   # one warm-up, then best of 3
        out = folder / f"out_{toml.stem}_{i}"
        t0 = time.perf_counter()
        assert main(["-q", "run", str(toml), "--out", str(out),
                     "--map", str(folder / f"{toml.stem}_{i}.html")]) == 0
        if i:
            best = min(best, time.perf_counter() - t0)
    return best


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        times = {name: _time(p, folder) for name, p in _variants(folder).items()}
    base = times["single year"]
    for name, t in times.items():
        print(f"{name:12s} {t:6.2f} s   {t / base:4.2f} x single year")
    return times


if __name__ == "__main__":
    run()
