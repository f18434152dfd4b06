"""Array core of the enrolment projection: cohort survival on a (school, year, grade) cube.

Everything here works on NumPy arrays and knows nothing of files or column names:

- ``E`` is the history cube, shape ``(schools, years, grades)``, float, NaN where a school had no
  count for a grade in a year (not open, or the grade missing that year). Grade 0 is the entry
  grade; grade ``g`` is fed by grade ``g - 1`` of the year before.
- ``driver`` is the entry driver per year (births ``lag`` years earlier, or the feeder grade's
  district total of the year before), NaN where unknown; ``None`` when there is none.
- years are positions ``0 .. Y-1`` of the history, then ``Y .. Y+H-1`` for projected years.

Two methods (formulas in docs/forecast.md):

``standard``
    3-year average grade-progression ratios per school (district ratios for schools with fewer
    than 3 years of history) and a 3-year average ratio of entry to driver per school.
``shrinkage`` (default)
    recency-weighted ratios of sums over a 5-year window, each school's ratio shrunk toward the
    district's by its number of students (empirical Bayes); the entry grade is the district's
    weighted entry-to-driver ratio times the driver, split by each school's weighted share of
    district entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

@dataclass(frozen=True)
class Method:
    """Tuning of one projection method (see docs/forecast.md for the meaning of each)."""

    name: str
    window: int           # years of ratios used
    decay: float          # weight of a ratio k years before the base year: decay**k
    shrink: float         # students at which a school's own ratio gets half the weight
    min_years: int = 3    # schools with fewer years of history use the district ratios
    trend_damping: float = 0.8   # no driver: yearly damping of the entry trend
    district_window: int = 3     # years of the district's own ratios (equal weights)
    control: bool = False        # school cohorts add up to the district's cohort projection


STANDARD = Method("standard", window=3, decay=1.0, shrink=0.0)
SHRINKAGE = Method("shrinkage", window=5, decay=0.85, shrink=300.0, control=True)
METHODS = {m.name: m for m in (SHRINKAGE, STANDARD)}


def _weights(method: Method, base: int) -> tuple[np.ndarray, np.ndarray]:
    """Year positions of the window ending at ``base`` and their weights."""
    first = max(1, base - method.window + 1)
    years = np.arange(first, base + 1)
    return years, method.decay ** (base - years).astype(float)


def _ratios(E: np.ndarray, base: int, method: Method) -> tuple[np.ndarray, np.ndarray]:
    """Grade-progression ratios per school (schools, grades) and of the district (grades).

    Column 0 (the entry grade) is NaN in both.
    """
    S, _, G = E.shape
    years, w = _weights(method, base)
    num = E[:, years, 1:]                    # grade g in year t
    den = E[:, years - 1, :-1]               # grade g-1 in year t-1
    ok = ~np.isnan(num) & ~np.isnan(den) & (den > 0)
    num = np.where(ok, num, 0.0)
    den = np.where(ok, den, 0.0)
    wk = w[None, :, None]
    hist = years_of_history(E, base)
    few = hist < method.min_years
    with np.errstate(invalid="ignore", divide="ignore"):
        if method.name == "standard":
            yearly_d = num.sum(0) / den.sum(0)                         # (years, G-1)
            has_d = den.sum(0) > 0
            dist = np.where(has_d, yearly_d, 0).sum(0) / has_d.sum(0)
            r = np.where(ok, num / np.where(ok, den, 1), 0)
            own = r.sum(1) / ok.sum(1)
            use_own = (ok.sum(1) > 0) & ~few[:, None]
        else:
            # district level: equal-weight ratio of sums over the last `district_window` years
            yd = years >= base - method.district_window + 1
            dist = num[:, yd].sum((0, 1)) / den[:, yd].sum((0, 1))
            # school effect: the school's weighted ratio relative to each year's district
            # ratio, over the longer window, shrunk toward 1 by its number of students
            yearly = num.sum(0) / den.sum(0)                          # (years, G-1)
            yearly = np.where(np.isfinite(yearly), yearly, 0.0)
            n = (wk * den).sum(1)
            expect = (wk * den * yearly[None]).sum(1)
            effect = np.where(expect > 0, (wk * num).sum(1) / np.where(expect > 0, expect, 1), 1)
            alpha = n / (n + method.shrink) if method.shrink > 0 else np.ones_like(n)
            own = dist[None, :] * (alpha * effect + (1 - alpha))
            use_own = (n > 0) & ~few[:, None]
    dist = np.where(np.isfinite(dist), dist, 1.0)
    out = np.full((S, G), np.nan)
    out[:, 1:] = np.where(use_own, own, dist[None, :])
    dist_full = np.full(G, np.nan)
    dist_full[1:] = dist
    return out, dist_full


def years_of_history(E: np.ndarray, base: int) -> np.ndarray:
    """Number of years up to ``base`` in which each school had any count."""
    return (~np.isnan(E[:, : base + 1, :])).any(2).sum(1)


def _entry_model(E: np.ndarray, driver: np.ndarray | None, base: int, open_: np.ndarray,
                 method: Method):
    """Return ``f(t) -> entry per school`` for year positions ``t`` (an int)."""
    S = E.shape[0]
    K = E[:, : base + 1, 0]
    if method.name == "standard":
        years = np.arange(max(0, base - 2), base + 1)
        k = K[:, years]
        if driver is not None:
            d = driver[years]
            ok = ~np.isnan(k) & ~np.isnan(d)[None, :] & (d[None, :] > 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.where(ok, k / np.where(ok, d[None, :], 1), 0).sum(1) / ok.sum(1)
            ratio = np.where(ok.any(1), ratio, 0.0)
            return lambda t: ratio * driver[t]
        # no driver: the school's own least-squares linear trend over the 3 years
        ok = ~np.isnan(k)
        x = years.astype(float)
        n = ok.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            xm = np.where(ok, x, 0).sum(1) / n
            ym = np.where(ok, k, 0).sum(1) / n
            dx = np.where(ok, x[None, :] - xm[:, None], 0)
            sxx = (dx ** 2).sum(1)
            slope = np.where(sxx > 0, (dx * np.where(ok, k, 0)).sum(1) / np.where(sxx > 0, sxx, 1),
                             0.0)
        ym = np.where(n > 0, ym, 0.0)
        return lambda t: np.maximum(ym + slope * (t - xm), 0.0)

    # shrinkage: district entry (from the driver, or its damped trend) x school share
    years = np.arange(max(0, base - method.window + 1), base + 1)
    w = method.decay ** (base - years).astype(float)
    k = K[:, years]
    present = ~np.isnan(k)
    kd = np.where(present, k, 0).sum(0)               # district entry per year
    has = present.any(0)
    # each open school's share of district entry, weighted over the years it was open
    ws = np.where(present, w[None, :] * kd[None, :], 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(present, w[None, :] * k, 0).sum(1) / ws.sum(1)
    share = np.where(open_ & np.isfinite(share), share, 0.0)
    if share.sum() > 0:
        share = share / share.sum()
    if driver is not None:
        d = driver[years]
        ok = has & ~np.isnan(d) & (d > 0)
        okd = ok & (years >= base - method.district_window + 1)
        okd = okd if okd.any() else ok
        ratio = np.where(okd, kd, 0).sum() / np.where(okd, d, 0).sum() if okd.any() else 0.0
        return lambda t: share * ratio * driver[t]
    # no driver: district entry's weighted level and least-squares slope, slope damped yearly
    x = years[has].astype(float)
    y = kd[has]
    ww = w[has]
    xm = (ww * x).sum() / ww.sum()
    ym = (ww * y).sum() / ww.sum()
    sxx = (ww * (x - xm) ** 2).sum()
    slope = (ww * (x - xm) * (y - ym)).sum() / sxx if sxx > 0 else 0.0
    level = ym + slope * (base - xm)
    phi = method.trend_damping

    def entry(t: int) -> np.ndarray:
        h = t - base
        damp = phi * (1 - phi ** h) / (1 - phi) if phi < 1 else h
        return share * max(level + slope * damp, 0.0)

    return entry


def project(E: np.ndarray, driver: np.ndarray | None, base: int, horizon: int,
            method: Method) -> tuple[np.ndarray, np.ndarray]:
    """Project from year position ``base`` for ``horizon`` years, using years <= base only.

    Returns ``(open_, P)``: the mask of schools open in the base year (those projected) and the
    projection, shape ``(schools, horizon, grades)`` (zeros for schools not open).
    """
    S, _, G = E.shape
    open_ = (~np.isnan(E[:, base, :])).any(1)
    R, R_d = _ratios(E, base, method)
    entry = _entry_model(E, driver, base, open_, method)
    cur = E[:, base, :].copy()
    miss = np.isnan(cur)
    if miss.any():   # a grade missing in the base year: progress last year's cohort into it
        prev = E[:, base - 1, :] if base >= 1 else np.full((S, G), np.nan)
        fill = np.empty((S, G))
        fill[:, 0] = entry(base)
        fill[:, 1:] = prev[:, :-1] * R[:, 1:]
        fill = np.where(np.isnan(fill), prev, fill)
        cur = np.where(miss, np.nan_to_num(fill), cur)
    P = np.zeros((S, horizon, G))
    for h in range(horizon):
        nxt = np.empty((S, G))
        nxt[:, 0] = entry(base + 1 + h)
        nxt[:, 1:] = cur[:, :-1] * R[:, 1:]
        if method.control and R_d is not None:
            # top-down control: school ratios rescaled so the grade's district total is the
            # district's cohort at the district ratio
            want = (cur[:, :-1] * open_[:, None]).sum(0) * R_d[1:]
            got = (nxt[:, 1:] * open_[:, None]).sum(0)
            nxt[:, 1:] *= np.where(got > 0, want / np.where(got > 0, got, 1), 1.0)[None, :]
        cur = np.where(open_[:, None], nxt, 0.0)
        P[:, h, :] = cur
    return open_, P


@dataclass
class Spread:
    """Scale of log errors per horizon for school totals, grades and the district total."""

    school: np.ndarray      # log half-width per horizon (index h-1): school totals
    grade: np.ndarray       # one school's grade
    district: np.ndarray    # the district total
    district_grade: np.ndarray   # one grade of the district
    origins: int            # number of earlier origins the errors came from


def error_spread(E: np.ndarray, driver: np.ndarray | None, base: int, horizon: int,
                 method: Method, level: float = 0.8) -> Spread:
    """Out-of-sample log errors of projections from earlier origins, as a sigma per horizon.

    Each origin ``o`` from the first with a full window (``method.window`` years of history)
    to ``base - 1`` is projected with data up to ``o`` only and
    compared with the history in ``o+1 .. base``. For each horizon, sigma is the root mean
    square of ``log(actual / projected)``; horizons with fewer than ``MIN_ERRORS`` errors get the
    largest well-estimated horizon's sigma scaled by ``sqrt(h / h0)``.
    """
    zs: dict[str, list[list[float]]] = {k: [[] for _ in range(horizon)]
                                        for k in ("school", "grade", "district", "district_grade")}
    ws: dict[str, list[list[float]]] = {k: [[] for _ in range(horizon)] for k in zs}
    origins = 0
    for o in range(max(1, method.window - 1), base):
        hmax = min(horizon, base - o)
        if driver is not None and np.isnan(driver[o + 1: o + hmax + 1]).any():
            continue
        open_, P = project(E, driver, o, hmax, method)
        origins += 1
        for h in range(hmax):
            A = E[:, o + 1 + h, :]
            Pg = P[:, h, :]
            # errors of recent years count more: years differ (closures, boundary changes)
            wt = ERROR_DECAY ** (base - (o + 1 + h))
            ok = open_[:, None] & ~np.isnan(A) & (A > 0) & (Pg > 0)
            zs["grade"][h].extend(np.log(A[ok] / Pg[ok]))
            ws["grade"][h].extend([wt] * int(ok.sum()))
            ok_s = open_ & ~np.isnan(A).all(1)
            a, p = np.nansum(A, 1)[ok_s], Pg.sum(1)[ok_s]
            good = (a > 0) & (p > 0)
            zs["school"][h].extend(np.log(a[good] / p[good]))
            ws["school"][h].extend([wt] * int(good.sum()))
            ad, pd_ = np.nansum(A), Pg.sum()
            if ad > 0 and pd_ > 0:
                zs["district"][h].append(np.log(ad / pd_))
                ws["district"][h].append(wt)
            adg, pdg = np.nansum(A, 0), Pg.sum(0)
            good = (adg > 0) & (pdg > 0)
            zs["district_grade"][h].extend(np.log(adg[good] / pdg[good]))
            ws["district_grade"][h].extend([wt] * int(good.sum()))
    mins = {"school": 10, "grade": 20, "district": 3, "district_grade": 6}
    out = {k: _widths(zs[k], ws[k], mins[k], level) for k in zs}
    n_school = max(1, int(open_count(E, base)))
    # the district total is never more certain than independent school errors would make it
    for k, by in (("district", "school"), ("district_grade", "grade")):
        out[k] = np.maximum(out[k], out[by] / np.sqrt(n_school))
    return Spread(out["school"], out["grade"], out["district"], out["district_grade"], origins)


ERROR_DECAY = 0.8     # weight of an error one year older than the next
DEFAULT_WIDTH = 0.1   # log half-width at horizon 1 when the history allows no backtest


def _wquantile(x, w, q: float) -> float:
    """Weighted quantile ``q`` of ``x`` (the smallest x whose weighted share reaches q)."""
    x = np.asarray(x, float)
    w = np.asarray(w, float)
    order = np.argsort(x)
    cw = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cw, q * cw[-1])])


def _widths(errors: list[list[float]], weights: list[list[float]], min_n: int,
            level: float) -> np.ndarray:
    """Log half-width per horizon: the ``level`` quantile of |log error| (weighted)."""
    H = len(errors)
    wid = np.full(H, np.nan)
    for h, (e, w) in enumerate(zip(errors, weights)):
        if len(e) >= min_n:
            wid[h] = _wquantile(np.abs(e), w, level)
    known = np.flatnonzero(~np.isnan(wid))
    if len(known) == 0:
        pooled = [abs(x) / np.sqrt(h + 1) for h, e in enumerate(errors) for x in e]
        pw = [x for w in weights for x in w]
        w1 = _wquantile(pooled, pw, level) if pooled else DEFAULT_WIDTH
        return w1 * np.sqrt(np.arange(1, H + 1))
    for h in range(H):
        if np.isnan(wid[h]):
            h0 = known[known < h].max() if (known < h).any() else known.min()
            wid[h] = wid[h0] * np.sqrt((h + 1) / (h0 + 1))
    # errors do not shrink with the horizon
    return np.maximum.accumulate(wid)


def open_count(E: np.ndarray, base: int) -> int:
    return int((~np.isnan(E[:, base, :])).any(1).sum())
