"""Benchmark the enrolment projection: accuracy on real data, and speed on a synthetic district.

1. Rolling-origin backtest on the real ECASD history (../shared/data/ecasd: 16 schools, K-5,
   1998-2012, births 1995-2007): for each base year 2003..2011, fit on years <= base, project
   up to 5 years, compare with the real later years. Prints, per horizon, the school totals'
   mean absolute percentage error (MAPE), the district total's MAPE and the share of real
   school totals inside the 80 % interval, for the standard method and the default
   (shrinkage) method; and the same without births (entry grade from its own trend).
2. Time of one projection (with its intervals) of a synthetic 100-school x 30-year history
   (grades K-5, births), best of 5 runs; the target is under 1 s.

    python benchmarks/bench_forecast.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # this checkout's geoequity

from geoequity._progress import set_quiet  # noqa: E402
from geoequity.forecast import (  # noqa: E402
    backtest_enrolment,
    backtest_summary,
    project_enrolment,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecasd"
GRADES = ["K", "1", "2", "3", "4", "5"]


def backtest_table(hist: pd.DataFrame, births: pd.Series | None, label: str) -> None:
    res = {m: backtest_summary(backtest_enrolment(hist, GRADES, range(2003, 2012), 5,
                                                  births=births, method=m))
           for m in ("standard", "shrinkage")}
    st, sh = res["standard"], res["shrinkage"]
    print(f"\n{label}")
    print(f"{'horizon':>8}{'n':>5} | {'school MAPE %':^21} | {'district MAPE %':^21} | "
          f"{'80 % coverage':^17}")
    print(f"{'':>13} | {'standard':>10}{'shrinkage':>11} | {'standard':>10}{'shrinkage':>11} "
          f"| {'standard':>8}{'shrink':>9}")
    for h in st.index:
        print(f"{h!s:>8}{int(sh.loc[h, 'n_school']):>5} | "
              f"{100 * st.loc[h, 'school_mape']:>10.2f}{100 * sh.loc[h, 'school_mape']:>11.2f} | "
              f"{100 * st.loc[h, 'district_mape']:>10.2f}"
              f"{100 * sh.loc[h, 'district_mape']:>11.2f} | "
              f"{100 * st.loc[h, 'coverage']:>8.1f}{100 * sh.loc[h, 'coverage']:>9.1f}")
    gain = 1 - sh.loc["all", "school_mape"] / st.loc["all", "school_mape"]
    no_worse = sh.loc["all", "district_mape"] <= st.loc["all", "district_mape"]
    print(f"school MAPE {100 * gain:.1f} % lower than the standard method's; district MAPE "
          f"{'no worse' if no_worse else 'WORSE'}")


def synthetic(n_schools: int = 100, n_years: int = 30, seed: int = 1):
    """A noisy cohort-survival district: school sizes 50-600, ratios 0.9-1.1, births trend."""
    rng = np.random.default_rng(seed)
    years = np.arange(1990, 1990 + n_years)
    births = pd.Series(20000 + 3000 * np.sin(np.arange(1980, 2030) / 6.0),
                       index=np.arange(1980, 2030))
    share = rng.dirichlet(np.ones(n_schools) * 3)
    ratio = rng.uniform(0.93, 1.07, size=(n_schools, len(GRADES)))
    cur = np.outer(share, np.full(len(GRADES), births.iloc[0] * 0.8))
    rows = []
    for y in years:
        nxt = np.empty_like(cur)
        nxt[:, 0] = share * births[y - 5] * 0.8
        nxt[:, 1:] = cur[:, :-1] * ratio[:, 1:]
        cur = np.maximum(np.round(nxt * rng.normal(1, 0.03, nxt.shape)), 0)
        for s in range(n_schools):
            rows += [(f"S{s:03d}", int(y), g, float(v)) for g, v in zip(GRADES, cur[s])]
    return pd.DataFrame(rows, columns=["school", "year", "grade", "students"]), births


def main() -> None:
    set_quiet(True)
    hist = pd.read_csv(DATA / "enrolment.csv", dtype={"grade": str})
    b = pd.read_csv(DATA / "births.csv")
    births = pd.Series(b["births"].to_numpy(float), index=b["year"])
    backtest_table(hist, births, "ECASD backtest, entry grade from births (lag 5), bases "
                                 "2003-2011")
    backtest_table(hist, None, "ECASD backtest, no births (entry grade from its own trend)")

    syn, sb = synthetic()
    last = int(syn["year"].max())
    best = {}
    for m in ("shrinkage", "standard"):
        times = []
        for _ in range(5):
            t = time.perf_counter()
            project_enrolment(syn, GRADES, last, 5, births=sb, method=m)
            times.append(time.perf_counter() - t)
        best[m] = min(times)
    print(f"\nsynthetic 100 schools x 30 years, 5-year projection with intervals: "
          f"shrinkage {best['shrinkage']:.3f} s, standard {best['standard']:.3f} s "
          f"(target < 1 s)")


if __name__ == "__main__":
    main()
