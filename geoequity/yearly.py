"""The seat-gap pipeline over the planning horizon: children per cell per year, gaps per year.

:func:`run_years` takes the :class:`~geoequity.pipeline.Results` of a run (the base year) and a
:class:`YearlySettings` (a scenario's ``[forecast]`` and ``[[housing]]``), and returns
:class:`YearlyResults`: ``districts_by_year``, ``schools_by_year`` and ``cells_by_year``.

Children of cell ``c`` in year ``y`` (base year ``b``; formulas in docs/forecast.md)::

    children[c, y] = children[c, b] * growth[c, y] + housing[c, y]

``growth`` comes from one source, the first given of:

- ``enrolment``: the enrolment projection (:func:`geoequity.forecast.run_forecast`; births, when
  given, drive its entry grade). A school's factor ``T[s, y] / T[s, b]`` (projected total over
  the base-year total of its history) applies to the cells of its nearest-school catchment (the
  run's ``nearest_id``); cells whose nearest school has no projection, and cells with no
  school within ``max_cost``, take the district factor ``T[(all), y] / T[(all), b]``;
- ``bands``: age-band counts (WorldPop age/sex rasters such as ``0-4`` and ``5-9``) aged forward:
  a band of ``k`` ages holds ``1/k`` of its count at each age; the school ages ``ages`` of year
  ``y`` are the ages ``ages - (y - b)`` of the base year; ages below 0 (children not yet born in
  the base year) count as the age-0 children of the base year (births held constant). Per cell,
  ``growth = A[c, y] / A[c, b]`` (``A`` the school-age count of the bands); a cell with no
  school-age band count takes the area's ratio;
- ``births`` alone: ``growth[y] = B(y) / B(b)`` everywhere, ``B(t)`` the births of the
  ``n`` cohorts of school age in ``t`` (years ``t - birth_lag - n + 1 .. t - birth_lag``,
  ``n`` the number of grades or of ``ages``);
- none of them: ``growth = 1``: only housing changes the children.

``housing[c, y]``: :mod:`geoequity.housing` (estates completed after the base year, by ``y``).

With ``enrolment`` the projection's interval also gives low/high children per cell and year
(:func:`forecast_variants`: the projected part ``children - housing`` times the cell's school's
``low / students`` or ``high / students``), written as ``children_low``/``children_high`` in
``cells_by_year.parquet`` (robust phased siting reads them). The other sources have no interval:
the run says so and writes neither column.

Every year runs the demand-dependent stages only, on the run's coded cost table
(``Results.pairs``; costs, catchments, urban classes and the nearest school are not computed
again): accessibility, capacity-constrained assignment (when the run made one), seat gaps per
cell, catchment and district, and the district table of :func:`geoequity.pipeline.
district_summary`, so the base year's rows equal the run's ``districts.csv``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geoequity._errors import input_error
from geoequity._progress import info, is_quiet, set_quiet, step
from geoequity.housing import HousingLayer, cell_of_points, describe, housing_children, \
    read_estates
from geoequity.pipeline import Results
from geoequity.report_years import first_shortfall_table as first_shortfall

__all__ = ["YearlySettings", "YearlyResults", "Demand", "run_years", "children_by_year",
           "forecast_variants", "analyse_years", "district_rows", "per_district", "first_shortfall", "write_yearly",
           "read_yearly", "YEARLY_OUTPUTS"]

YEARLY_OUTPUTS = ("districts_by_year.csv", "schools_by_year.csv", "cells_by_year.parquet")
DISTRICT_COLUMNS = ["district", "year", "children", "housing_children", "seats",
                    "seats_per_child", "shortfall", "children_beyond", "share_beyond",
                    "mean_nearest_cost", "children_no_school", "schools", "cells"]


@dataclass(frozen=True)
class YearlySettings:
    """The ``[forecast]`` keys (and the ``[[housing]]`` layers) of a scenario, for the API.

    ``enrolment``/``births`` take the files and column keys of ``geoequity forecast`` (the CLI
    flags with ``-`` written ``_``); ``grades`` is needed with ``enrolment``. ``bands`` maps an
    age band ``"0-4"`` to a raster (or list of rasters to add up, e.g. female and male);
    ``ages`` is the school-age range (inclusive) the bands are aged into.
    """

    base_year: int
    horizon: int = 5
    enrolment: object | None = None
    births: object | None = None
    grades: Sequence[str] | None = None
    school_col: str = "school"
    year_col: str = "year"
    grade_col: str = "grade"
    count_col: str = "students"
    births_year_col: str = "year"
    births_col: str = "births"
    birth_lag: int = 5
    method: str = "shrinkage"
    bands: Mapping[str, object] | None = None
    ages: tuple[int, int] = (6, 11)
    housing: Sequence[HousingLayer] = ()
    source: str = "[forecast]"

    @property
    def years(self) -> list[int]:
        return list(range(int(self.base_year), int(self.base_year) + int(self.horizon) + 1))


@dataclass
class YearlyResults:
    """Per-year tables of one run (see the module docstring)."""

    districts: pd.DataFrame          # districts_by_year.csv
    schools: pd.DataFrame            # schools_by_year.csv
    cells: pd.DataFrame              # cells_by_year.parquet (long: cell, year, ...)
    children: pd.DataFrame           # cells x years: children
    housing: pd.DataFrame            # cells x years: of which from new housing
    gap: pd.DataFrame                # cells x years: access / base-year seats per child
    growth: str = "none"             # where the growth factors came from
    notes: list[str] = field(default_factory=list)

    @property
    def years(self) -> list[int]:
        return [int(y) for y in self.children.columns]


# -- checks ----------------------------------------------------------------------------------

def check_settings(st: YearlySettings) -> None:
    """Refuse settings that cannot run (one line naming the key and what to do)."""
    src = st.source
    for key in ("base_year", "horizon", "birth_lag"):
        v = getattr(st, key)
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise input_error(src, f"{key} = {v!r} is not a whole number",
                              f"write {key} as a plain whole number (e.g. 2026)")
    if st.horizon < 1 or st.horizon > 50:
        raise input_error(src, f"horizon = {st.horizon} is not 1-50 years",
                          "give the number of years after the base year, e.g. horizon = 5")
    if st.enrolment is not None and not st.grades:
        raise input_error(src, "enrolment is given without grades",
                          'add grades = ["1", "2", "3", "4", "5", "6"] (the labels the file '
                          "uses, entry grade first)")
    if st.bands and (st.enrolment is not None or st.births is not None):
        raise input_error(src, "bands are given with enrolment or births: each gives the "
                          "children's growth", "keep one: enrolment (with births), or bands, "
                          "or births")
    lo, hi = (int(a) for a in st.ages)
    if not 0 <= lo <= hi:
        raise input_error(src, f"ages = {list(st.ages)} is not a range of ages",
                          "give [first, last] school age, e.g. [6, 11]")


# -- growth factors --------------------------------------------------------------------------

def _enrolment_growth(results: Results, st: YearlySettings
                      ) -> tuple[np.ndarray, list[str], pd.DataFrame, pd.DataFrame]:
    from geoequity.forecast import ForecastSettings, history_totals, run_forecast, \
        school_totals

    fs = ForecastSettings(enrolment=st.enrolment, grades=list(map(str, st.grades)),
                          base_year=st.base_year, horizon=st.horizon, school_col=st.school_col,
                          year_col=st.year_col, grade_col=st.grade_col,
                          count_col=st.count_col, births=st.births,
                          births_year_col=st.births_year_col, births_col=st.births_col,
                          birth_lag=st.birth_lag, method=st.method)
    with step("projecting enrolment"):
        table = run_forecast(fs)
    base = history_totals(fs, st.base_year)
    proj = school_totals(table).reindex(columns=st.years[1:])
    proj[st.base_year] = base.reindex(proj.index)
    proj = proj[st.years].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = proj.div(proj[st.base_year].where(proj[st.base_year] > 0), axis=0)
    district = factor.loc["(all)"].to_numpy()
    if not np.isfinite(district).all():
        raise input_error(fs.enrolment, f"the history has no enrolment in the base year "
                          f"{st.base_year}", "choose a base year with enrolment")
    factor = factor.drop(index="(all)").dropna()
    near = results.cells["nearest_id"]
    key = near.astype(object).where(near.notna(), None).map(
        lambda s: None if s is None else str(s))
    rows = factor.reindex(key.to_numpy())
    matched = rows.notna().all(axis=1).to_numpy()
    out = np.where(matched[:, None], rows.to_numpy(), district[None, :])
    schools = results.schools.index.astype(str)
    unknown = sorted(set(schools) - set(factor.index))
    notes = [f"enrolment projection ({fs.method}): {int(matched.sum())} cell(s) follow their "
             f"nearest school, {int((~matched).sum())} the district factor"]
    if unknown:
        notes.append(f"{len(unknown)} school(s) have no projection (not in the history, or "
                     f"closed by {st.base_year}): their catchments follow the district factor "
                     f"(e.g. {', '.join(unknown[:5])})")
    return out, notes, proj.drop(index="(all)"), table


def _interval_factors(projection: pd.DataFrame, nearest: pd.Series,
                      years: Sequence[int]) -> dict[str, np.ndarray]:
    """Cells x years: ``low / students`` and ``high / students`` of each cell's school's
    projected total (the district's ratio where the school has none, else 1)."""
    from geoequity.forecast import ALL_GRADES, DISTRICT

    tot = projection.loc[projection["grade"].astype(str) == ALL_GRADES]
    students = tot.pivot_table(index="school", columns="year", values="students", aggfunc="sum")
    key = nearest.astype(object).map(lambda s: None if pd.isna(s) else str(s)).to_numpy()
    out = {}
    for v in ("low", "high"):
        val = tot.pivot_table(index="school", columns="year", values=v, aggfunc="sum")
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (val / students.where(students > 0)).reindex(columns=list(years))
        r.index = r.index.astype(str)
        dist = r.loc[DISTRICT] if DISTRICT in r.index else pd.Series(np.nan, r.columns)
        cell = r.reindex(key).to_numpy(float)
        out[v] = np.where(np.isnan(cell), dist.fillna(1.0).to_numpy(float)[None, :], cell)
    return out


def forecast_variants(children: pd.DataFrame, projection: pd.DataFrame, nearest: pd.Series,
                      *, housing: pd.DataFrame | None = None) -> pd.DataFrame:
    """Low/mid/high children per cell and year from an enrolment projection's interval.

    ``children`` is cells x years (the mid forecast, e.g. ``YearlyResults.children``),
    ``projection`` the table of :func:`geoequity.forecast.run_forecast` (``school, year,
    grade, students, low, high``) and ``nearest`` each cell's nearest school id. A cell's
    low (high) children in year ``y`` are its projected children times ``low / students``
    (``high / students``) of its school's total in ``y``, plus its ``housing`` children
    (cells x years; default none: new housing is not part of the interval); cells whose
    school has no projection (or no students that year), and years the projection does not
    cover, take the district's ratio (``(all)``), else 1. Returns the long table ``cell, year,
    variant, children``. A run with ``[forecast] enrolment`` writes the low and high ones as
    ``children_low``/``children_high`` of ``cells_by_year.parquet``.
    """
    f = _interval_factors(projection, nearest.reindex(children.index), children.columns)
    mid = children.to_numpy(float)
    extra = (np.zeros_like(mid) if housing is None
             else housing.reindex(index=children.index, columns=children.columns)
             .fillna(0.0).to_numpy(float))
    frames = []
    for v, kids in (("low", (mid - extra) * f["low"] + extra), ("mid", mid),
                    ("high", (mid - extra) * f["high"] + extra)):
        w = pd.DataFrame(kids, index=children.index, columns=children.columns)
        long = w.rename_axis("cell").stack().rename("children").reset_index()
        long.columns = ["cell", "year", "children"]
        long.insert(2, "variant", v)
        frames.append(long)
    return pd.concat(frames, ignore_index=True)


def _band_range(label: str, src: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", str(label))
    if not m or int(m.group(1)) > int(m.group(2)):
        raise input_error(src, f"age band {label!r} is not a range such as \"0-4\"",
                          'name each band by its ages, e.g. bands = { "0-4" = [...], '
                          '"5-9" = [...] }')
    return int(m.group(1)), int(m.group(2))


def _band_growth(results: Results, st: YearlySettings) -> tuple[np.ndarray, list[str]]:
    from geoequity.io import read_population

    src = st.source
    cells = results.cells
    per_age: dict[int, np.ndarray] = {}
    for label, paths in st.bands.items():
        a, b = _band_range(label, src)
        with step(f"reading age band {label}"):
            band = read_population(paths, crs=cells.crs)
        pos, _ = cell_of_points(band, cells)
        counts = np.bincount(pos, weights=band["population"].to_numpy(float),
                             minlength=len(cells))
        for age in range(a, b + 1):
            if age in per_age:
                raise input_error(src, f"age {age} is in two bands", "give bands that do "
                                  "not overlap")
            per_age[age] = counts / (b - a + 1)
    lo, hi = (int(x) for x in st.ages)
    need = [a for a in range(max(0, lo - st.horizon), hi + 1) if a not in per_age]
    if need:
        raise input_error(src, f"the age bands do not cover age(s) {need[0]}-{need[-1]} "
                          f"(bands cover {', '.join(map(str, st.bands))})",
                          "add the bands those years need (ages "
                          f"{max(0, lo - st.horizon)}-{hi}), or shorten the horizon")
    A = np.column_stack([sum(per_age[max(a - h, 0)] for a in range(lo, hi + 1))
                         for h in range(st.horizon + 1)])
    area = A.sum(0) / max(A[:, 0].sum(), 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(A[:, [0]] > 0, A / A[:, [0]], area[None, :])
    return out, [f"age bands {', '.join(map(str, st.bands))} aged forward into ages {lo}-{hi}"]


def _births_growth(results: Results, st: YearlySettings) -> tuple[np.ndarray, list[str]]:
    from geoequity.forecast import births_by_year

    births, src = births_by_year(st.births, year_col=st.births_year_col,
                                 births_col=st.births_col)
    n = len(st.grades) if st.grades else int(st.ages[1]) - int(st.ages[0]) + 1

    def cohorts(t: int) -> list[int]:
        return [t - st.birth_lag - k for k in range(n)]

    need = sorted({y for t in st.years for y in cohorts(t)})
    missing = [y for y in need if y not in births.index]
    if missing:
        raise input_error(src, f"no births for {missing[0]}-{missing[-1]} ({len(missing)} "
                          f"year(s)), needed for the children of school age in "
                          f"{st.years[0]}-{st.years[-1]} (birth_lag {st.birth_lag}, {n} "
                          "cohorts)", "add those years, or shorten the horizon")
    B = np.array([births.reindex(cohorts(t)).sum() for t in st.years], dtype=float)
    if B[0] <= 0:
        raise input_error(src, f"no births in the cohorts of the base year {st.base_year}",
                          "check the births table")
    factor = B / B[0]
    return np.repeat(factor[None, :], len(results.cells), axis=0), [
        f"births: the {n} school-age cohorts of each year against the base year's"]


@dataclass
class Demand:
    """Children per cell (rows, the run's cell ids) and year (columns)."""

    children: pd.DataFrame
    housing: pd.DataFrame            # of which new housing brings
    growth: str                      # enrolment, bands, births or none
    notes: list[str]
    enrolment: pd.DataFrame | None   # school x year totals (history, then projected)
    low: pd.DataFrame | None = None  # the forecast interval's children (enrolment only)
    high: pd.DataFrame | None = None


def children_by_year(results: Results, st: YearlySettings) -> Demand:
    """Children per cell and year of the settings (see the module docstring)."""
    check_settings(st)
    cells = results.cells
    enrolment = projection = None
    if st.enrolment is not None:
        growth, notes, enrolment, projection = _enrolment_growth(results, st)
        source = "enrolment"
    elif st.bands:
        growth, notes = _band_growth(results, st)
        source = "bands"
    elif st.births is not None:
        growth, notes = _births_growth(results, st)
        source = "births"
    else:
        growth, notes = np.ones((len(cells), len(st.years))), []
        source = "none"
    for n in notes:
        info(n)
    frames = [read_estates(layer, cells) for layer in st.housing]
    estates = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["cell", "children", "year", "build_years", "snap_m"])
    describe(estates, st.base_year, st.years[-1])
    extra = housing_children(estates, len(cells), st.years, st.base_year)
    base = cells["children"].to_numpy(float)
    total = base[:, None] * growth + extra
    total[:, 0] = base   # the base year is the run itself
    children = pd.DataFrame(total, index=cells.index, columns=st.years)
    housing = pd.DataFrame(extra, index=cells.index, columns=st.years)
    bounds = {}
    if projection is not None:   # the interval scales the projected part, not new housing
        f = _interval_factors(projection, cells["nearest_id"], st.years)
        for v in ("low", "high"):
            b = (total - extra) * f[v] + extra
            b[:, 0] = base
            bounds[v] = pd.DataFrame(b, index=cells.index, columns=st.years)
    else:
        info(f"no forecast interval (growth: {source}): cells_by_year.parquet gets no "
             "children_low/children_high; give [forecast] enrolment for robust siting")
    if len(estates):
        snapped = estates["snap_m"] > 0
        notes.append(f"new housing: {len(estates)} estate(s), "
                     f"{float(extra[:, -1].sum()):,.0f} children by {st.years[-1]}"
                     + (f"; {int(snapped.sum())} joined to the nearest cell (up to "
                        f"{estates.loc[snapped, 'snap_m'].max():,.0f} m)" if snapped.any()
                        else ""))
    return Demand(children, housing, source, notes, enrolment, bounds.get("low"),
                  bounds.get("high"))


# -- the per-year stages ---------------------------------------------------------------------

def analyse_years(results: Results, children: pd.DataFrame, housing: pd.DataFrame | None = None,
                  *, threshold: float, method: str = "2sfca", decay: Any = None,
                  decay_param: Any = None, max_cost: float | None = None,
                  assignment: bool | None = None,
                  assignment_max_cost: float | None = None) -> YearlyResults:
    """Run the demand-dependent stages for every year (column) of ``children``.

    Reused from the run: the coded cost table (``results.pairs``; its nearest schools and
    thresholded pairs are computed once), the district of every cell and school, and the
    district rows' seats, schools and cells. Per year: accessibility (``method``), the
    capacity-constrained assignment within ``assignment_max_cost`` (default ``max_cost``;
    when ``assignment``, default: when the run made one), children within reach of each
    school (2SFCA first step), nearest-school catchment children, and the district table of :func:`geoequity.pipeline.district_summary`
    computed for all years at once (the same formulas; the base year equals the run's).
    """
    from geoequity.access import accessibility, supply_ratio
    from geoequity.assignment import capacity_assignment

    cells, sch, pairs = results.cells, results.schools, results.pairs
    if pairs is None:
        raise input_error("results", "the run carries no coded cost table (Results.pairs)",
                          "run geoequity.analyse first and pass its Results")
    if assignment is None:
        assignment = "unassigned" in cells
    years = [int(y) for y in children.columns]
    supply = sch["seats"].astype(float)
    K = children.reindex(cells.index).to_numpy(float)                    # cells x years
    H = (housing.reindex(cells.index).to_numpy(float) if housing is not None
         else np.zeros_like(K))
    base_kids = K[:, 0].sum()
    fair0 = float(supply.sum() / base_kids) if base_kids else 1.0
    catch_pos, _ = pairs.within(threshold).nearest()                       # computed once
    reached = catch_pos >= 0
    bound = max_cost if assignment_max_cost is None else assignment_max_cost
    access = np.empty_like(K)
    assigned = np.full_like(K, np.nan)
    s_rows = []
    for j, year in enumerate(years):
        demand = pd.Series(K[:, j], index=cells.index)
        res = capacity_assignment(pairs, demand, supply, max_cost=bound) if assignment \
            else None
        access[:, j] = accessibility(pairs, demand, supply, method=method, threshold=threshold,
                                     decay=decay, decay_param=decay_param).to_numpy()
        crowd = supply_ratio(pairs, demand, supply, threshold)
        catch = np.bincount(catch_pos[reached], weights=K[reached, j], minlength=len(supply))
        srow = pd.DataFrame({"school": sch.index, "year": year, "district": sch["district"],
                             "seats": supply.to_numpy(),
                             "children_within": crowd["children"].reindex(sch.index).to_numpy(),
                             "supply_ratio": crowd["seats_per_child"].reindex(sch.index)
                             .to_numpy(),
                             "catchment_children": catch[pairs.destinations.get_indexer(
                                 sch.index)]})
        if res is not None:
            assigned[:, j] = res.origins["assigned"].reindex(cells.index).fillna(0.0).to_numpy()
            r = res.schools.reindex(sch.index)
            srow["assigned"] = r["assigned"].to_numpy()
            srow["spare"] = r["spare"].to_numpy()
            srow["overflow"] = r["overflow"].to_numpy()
            srow["utilisation"] = np.where(srow["seats"] > 0, srow["assigned"] / srow["seats"],
                                           np.nan)
        s_rows.append(srow)
    districts = _district_years(results, years, K, H, assigned if assignment else None)
    n, y = K.shape
    cols = {"cell": np.tile(cells.index.to_numpy(), y), "year": np.repeat(years, n),
            "district": np.tile(cells["district"].to_numpy(), y),
            "children": K.T.ravel(), "housing_children": H.T.ravel(), "access": access.T.ravel()}
    if assignment:
        cols["unassigned"] = (K - assigned).T.ravel()
    gap = access / fair0 if method in ("2sfca", "e2sfca") else access
    cols["gap"] = gap.T.ravel()   # what the map's "Seat gap by year" layer shows
    return YearlyResults(districts=districts, schools=pd.concat(s_rows, ignore_index=True),
                         cells=pd.DataFrame(cols), children=children, housing=pd.DataFrame(
                             H, index=cells.index, columns=children.columns),
                         gap=pd.DataFrame(gap, index=cells.index, columns=children.columns))


def _district_years(results: Results, years: list[int], K: np.ndarray, H: np.ndarray,
                    assigned: np.ndarray | None) -> pd.DataFrame:
    """``district_summary`` for every year at once (columns of ``K``), rows in the run's order.

    Seats, schools and cells per district do not change with the children: they are the run's.
    """
    cells = results.cells
    table = results.district_table
    if table is None:   # no districts: the (all) row only
        sch = results.schools
        table = pd.DataFrame({"district": ["(all)"], "seats": [float(sch["seats"].sum())],
                              "schools": [len(sch)], "cells": [len(cells)]})
    names = table["district"].astype(str).tolist()
    body = [d for d in names if d != "(all)"]
    code = pd.Index(body).get_indexer(cells["district"].astype(str)) if body else \
        np.zeros(len(cells), dtype=np.intp)
    static = table.set_index("district").reindex(body + ["(all)"])
    fixed = {k: np.repeat(static[k].to_numpy()[:, None], len(years), axis=1)
             for k in ("seats", "schools", "cells")}
    fixed["seats"] = fixed["seats"].astype(float)
    return district_rows(body, years, K, H, code, cells["nearest_cost"].to_numpy(float),
                         cells["beyond"].to_numpy(bool), fixed, assigned)


def per_district(code: np.ndarray, values: np.ndarray, n_body: int) -> np.ndarray:
    """Sums of ``values`` (rows x years) per district code (rows, or rows x years; -1 = in no
    row of the table) and year: ``(n_body + 1) x years``, the last row the sum of all rows."""
    values = np.asarray(values, dtype=float)
    ny = values.shape[1]
    nb = max(n_body, 1)
    code = np.broadcast_to(code if np.ndim(code) == 2 else np.asarray(code)[:, None],
                           values.shape)
    ok = code >= 0
    flat = (code + nb * np.arange(ny)[None, :])[ok]
    out = np.bincount(flat, weights=values[ok], minlength=nb * ny).reshape(ny, nb).T[:n_body]
    return np.vstack([out, values.sum(0, keepdims=True)])


def district_rows(body: list[str], years: list[int], K: np.ndarray, H: np.ndarray,
                  code: np.ndarray, cost: np.ndarray, beyond: np.ndarray,
                  fixed: Mapping[str, np.ndarray],
                  assigned: np.ndarray | None = None) -> pd.DataFrame:
    """The district table of :func:`geoequity.pipeline.district_summary` for many years at once.

    The one rule of the per-year district rows (:func:`analyse_years` and
    :func:`geoequity.plans.evaluate_plans` use it). ``K``, ``H``: children and of which from
    new housing (cells x years); ``code``: each cell's row in ``body`` (-1: none), per cell or
    per cell and year; ``cost``/``beyond``: nearest-school cost (NaN: none within
    ``max_cost``) and whether it is beyond the threshold, per cell or per cell and year;
    ``fixed``: ``seats``, ``schools`` and ``cells`` per row (``body`` then ``(all)``) and year.
    Rows: per year, ``body`` in order then ``(all)``.
    """
    K = np.asarray(K, dtype=float)
    shape = K.shape
    cost = np.broadcast_to(cost if np.ndim(cost) == 2 else np.asarray(cost)[:, None], shape)
    beyond = np.broadcast_to(beyond if np.ndim(beyond) == 2 else np.asarray(beyond)[:, None],
                             shape)
    reach = np.isfinite(cost)
    nb = len(body)

    def sums(values: np.ndarray) -> np.ndarray:
        return per_district(code, values, nb)

    kids = sums(K)
    wreach = sums(np.where(reach, K, 0.0))
    wcost = sums(np.where(reach, K * np.nan_to_num(cost), 0.0))
    n_rows = nb + 1
    out = pd.DataFrame({
        "district": np.tile(body + ["(all)"], len(years)),
        "year": np.repeat(years, n_rows),
        "children": kids.T.ravel(),
        "housing_children": sums(H).T.ravel(),
        "seats": np.asarray(fixed["seats"], dtype=float).T.ravel(),
    })
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(out["children"] > 0, out["children"], np.nan)
        out["seats_per_child"] = out["seats"] / k
        out["shortfall"] = out["children"] - out["seats"]
        out["children_beyond"] = sums(np.where(beyond, K, 0.0)).T.ravel()
        out["share_beyond"] = out["children_beyond"] / k
        wr = wreach.T.ravel()
        out["mean_nearest_cost"] = wcost.T.ravel() / np.where(wr > 0, wr, np.nan)
        out["children_no_school"] = np.clip(out["children"] - wr, 0.0, None)
    out["schools"] = np.asarray(fixed["schools"]).T.ravel()
    out["cells"] = np.asarray(fixed["cells"]).T.ravel()
    if assigned is not None:
        a = sums(assigned).T.ravel()
        out["assigned"] = a
        out["unassigned"] = out["children"] - a
    return out


def run_options(results: Results, options: Mapping[str, Any]) -> dict:
    """The keywords :func:`geoequity.analyse` ran with (``results.options``; a run without
    them: its summary's threshold and method), updated with ``options``."""
    opts = dict(results.options) or {"threshold": results.summary["threshold"],
                                     "method": results.summary.get("method", "2sfca")}
    opts.update(options)
    return opts


def run_years(results: Results, settings: YearlySettings, **options) -> YearlyResults:
    """Children per cell per year and the seat-gap stages for every year of the horizon.

    ``options`` (threshold, method, decay, decay_param, max_cost, assignment_max_cost,
    assignment) default to the
    run's own (``results.options``: the keywords :func:`geoequity.analyse` ran with).
    """
    opts = run_options(results, options)
    demand = children_by_year(results, settings)
    with step(f"seat gaps for {len(demand.children.columns)} years"):
        quiet = is_quiet()
        set_quiet(True)   # the stages' notes were said once by the run
        try:
            out = analyse_years(results, demand.children, demand.housing, **opts)
        finally:
            set_quiet(quiet)
    out.growth, out.notes = demand.growth, demand.notes
    for v, wide in (("low", demand.low), ("high", demand.high)):
        if wide is not None:   # same order as out.cells: the cells, year after year
            out.cells[f"children_{v}"] = wide.reindex(results.cells.index)[
                out.years].to_numpy(float).T.ravel()
    if demand.enrolment is not None:   # the projected school totals beside the seats
        long = demand.enrolment.stack()
        out.schools["enrolment"] = long.reindex(pd.MultiIndex.from_arrays(
            [out.schools["school"].astype(str), out.schools["year"]])).to_numpy()
    return out


def write_yearly(yearly: YearlyResults, folder: Path) -> list[Path]:
    """Write the three per-year tables into ``folder`` (atomically, each)."""
    from geoequity.io.write import write_table

    folder = Path(folder)
    cells = yearly.cells.copy()
    cells["cell"] = cells["cell"].astype(str) if cells["cell"].dtype == object else cells["cell"]
    return [write_table(yearly.districts, folder / "districts_by_year.csv"),
            write_table(yearly.schools, folder / "schools_by_year.csv"),
            write_table(cells, folder / "cells_by_year.parquet")]


def read_yearly(folder: Path) -> YearlyResults | None:
    """The per-year tables a run wrote into ``folder`` (``geoequity map/report OUTDIR``).

    ``None`` when the folder holds no ``cells_by_year.parquet``. The cells x years frames
    (``children``, ``housing``, ``gap``) are pivoted from the long table, as
    :func:`analyse_years` made them; ``districts``/``schools`` are empty when their CSV is
    missing.
    """
    folder = Path(folder)
    path = folder / "cells_by_year.parquet"
    if not path.is_file():
        return None
    try:
        cells = pd.read_parquet(path)
    except Exception as exc:   # a broken or foreign file: one line, not a traceback
        raise input_error(path, f"cannot be read ({type(exc).__name__})",
                          "re-run geoequity run or remove the file") from None
    need = {"cell", "year", "children", "housing_children", "gap"}
    if not need <= set(cells.columns):
        raise input_error(path, "has no column(s) " + ", ".join(sorted(need - set(cells.columns))),
                          "re-run geoequity run to rewrite the per-year tables")

    def wide(col: str) -> pd.DataFrame:
        w = cells.pivot(index="cell", columns="year", values=col)
        w.columns = [int(y) for y in w.columns]
        return w.rename_axis(None)

    def table(name: str, **kw) -> pd.DataFrame:
        p = folder / name
        return pd.read_csv(p, **kw) if p.is_file() else pd.DataFrame()

    return YearlyResults(districts=table("districts_by_year.csv", dtype={"district": str}),
                         schools=table("schools_by_year.csv", dtype={"school": str}),
                         cells=cells, children=wide("children"),
                         housing=wide("housing_children"), gap=wide("gap"))
