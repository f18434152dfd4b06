"""Plans over time: dated interventions (open, expand, close, boundaries, housing) per year.

A :class:`Plan` is a named list of dated interventions, the scenario's ``[[plans]]`` tables
(docs/plans.md). :func:`evaluate_plans` evaluates every plan in every year, beside the current
state as plan ``(current)``, and returns :class:`PlanResults`: ``by_year`` (the run's
``plans_by_year.csv``) and ``summary`` (``plans_summary.csv``).

The state of a plan in year ``y`` is the run's schools after every intervention of a year
``<= y``, applied in year order and, within a year, opens, then expansions, then closures, then
boundary changes:

- ``open``: the school is present from its year with its seats (for the run's level: a
  combined school gives that level's share, :func:`geoequity.levels.level_supply`);
- ``expand``: ``seats`` are added (removed when negative) from its year on;
- ``close``: the school has no seats and is no longer present from its year on (it is nobody's
  nearest school, and no child reaches it); with ``merge_into`` its seats of that year are
  added to that school;
- ``boundaries``: from its year the cells and schools belong to the proposal's districts
  (:func:`geoequity.districts.resolve_districts`, the rule of ``[[proposals]]``);
- ``housing``: the plan's own estates add children (:mod:`geoequity.housing`) on top of the
  run's children per year (the ``[forecast]`` and its ``[[housing]]``, which every plan shares).

Per plan and year the demand-dependent stages run on the run's coded cost table
(``Results.pairs``), with the costs of every plan's new schools computed once, by the run's cost
source (:func:`geoequity.costs.cost_table`), and appended: the nearest present school of each
cell (``beyond`` the threshold or not), the run's accessibility measure, and the district rows
of :func:`geoequity.yearly.district_rows` (the per-year rule), so the ``(current)`` plan's rows
are those of ``districts_by_year.csv`` (and, in the base year, ``districts.csv``). The
capacity-constrained assignment is not run per plan.

Years: with a forecast (``Results.yearly``, or ``yearly_settings``) its years, base year
first; without one, the year before the first intervention (the current state) and every year
an intervention names, all with the run's (base-year) children.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geoequity._errors import InputError, input_error
from geoequity._progress import info, is_quiet, set_quiet, step
from geoequity.housing import HousingLayer, housing_children, read_estates
from geoequity.io.districts import OUTSIDE, district_of
from geoequity.pairs import Pairs, code_pairs, join_destinations
from geoequity.plan_compare import (BY_YEAR_COLUMNS, SUMMARY_COLUMNS, access_inequality,
                                     summarise)
from geoequity.pipeline import Results
from geoequity.yearly import YearlySettings, children_by_year, district_rows, \
    per_district, run_options

__all__ = ["Open", "Expand", "Close", "Boundaries", "Plan", "PlanResults", "evaluate_plans",
           "check_plans", "plan_years", "plans_of", "write_plans", "CURRENT", "BY_YEAR_COLUMNS",
           "SUMMARY_COLUMNS", "SCHOOLS_COLUMNS",
           "PLAN_OUTPUTS"]

CURRENT = "(current)"
PLAN_OUTPUTS = ("plans_by_year.csv", "plans_summary.csv", "plans_schools.csv")
#: ``plans_schools.csv``: one row per intervention touching a school (docs/plans.md)
SCHOOLS_COLUMNS = ["plan", "action", "school", "name", "year", "seats", "merge_into", "lon",
                   "lat"]
#: after the contract's columns (BY_YEAR_COLUMNS, geoequity.plan_compare)
BY_YEAR_EXTRA = ["children_no_school", "schools"]


@dataclass(frozen=True)
class Open:
    """``[[plans.open]]``: a new school from ``year``, at ``lon``/``lat`` (WGS84) or ``x``/``y``
    (the CRS of ``crs``: the schools' declared CRS, else the run's)."""

    id: str
    seats: float
    year: int
    name: str | None = None
    lon: float | None = None
    lat: float | None = None
    x: float | None = None
    y: float | None = None
    level: str | None = None
    crs: Any = None


@dataclass(frozen=True)
class Expand:
    """``[[plans.expand]]``: ``seats`` added to ``school`` (removed when negative) from
    ``year``."""

    school: str
    seats: float
    year: int


@dataclass(frozen=True)
class Close:
    """``[[plans.close]]``: ``school`` closes in ``year``; ``merge_into`` takes its seats."""

    school: str
    year: int
    merge_into: str | None = None


@dataclass(frozen=True)
class Boundaries:
    """``[[plans.boundaries]]``: a boundary proposal (as ``[[proposals]]``) from ``year``."""

    path: Any
    year: int
    name_col: str | None = None
    cell_col: str | None = None
    input_crs: str | None = None


@dataclass(frozen=True)
class Plan:
    """One ``[[plans]]`` table: a name and its dated interventions.

    ``source`` names where the plan was written (the scenario file) in messages.
    """

    name: str
    open: tuple[Open, ...] = ()
    expand: tuple[Expand, ...] = ()
    close: tuple[Close, ...] = ()
    boundaries: tuple[Boundaries, ...] = ()
    housing: tuple[HousingLayer, ...] = ()
    source: str = "plans"

    def intervention_years(self) -> list[int]:
        """The years the plan's interventions name (housing has its own completion years)."""
        return sorted({int(i.year) for i in (*self.open, *self.expand, *self.close,
                                             *self.boundaries)})


@dataclass
class PlanResults:
    """Every plan in every year (see the module docstring).

    Attributes
    ----------
    by_year
        ``plans_by_year.csv``: per plan (``(current)`` first), year and district, ``(all)``
        last in each year: ``children``, ``seats``, ``seats_per_child``, ``shortfall``
        (children - seats), ``children_beyond`` (nearest present school beyond the threshold,
        or none), ``share_beyond``, ``mean_nearest_cost``, then ``children_no_school`` and
        ``schools`` (present).
    summary
        ``plans_summary.csv``: one row per plan (see :data:`SUMMARY_COLUMNS`, docs/plans.md).
    access
        Plan -> the run's accessibility measure per cell (rows) and year (columns).
    seats
        Plan -> seats per school (rows: the run's schools, then the plans' new schools) and
        year; a school not present that year has 0.
    schools
        ``plans_schools.csv``: one row per intervention touching a school (see
        :data:`SCHOOLS_COLUMNS`): ``action`` (open, expand, close), ``seats`` added (the
        run's level's seats of a new school; negative: removed, a closure all it had),
        ``lon``/``lat`` (WGS84) of the school.
    new_schools
        The opened schools (id, name, level, geometry in the run's CRS), once each.
    years
        The years evaluated.
    """

    by_year: pd.DataFrame
    summary: pd.DataFrame
    access: dict[str, pd.DataFrame] = field(default_factory=dict)
    seats: dict[str, pd.DataFrame] = field(default_factory=dict)
    new_schools: gpd.GeoDataFrame | None = None
    years: list[int] = field(default_factory=list)
    schools: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


# -- checks ----------------------------------------------------------------------------------

def _where(plan: Plan, kind: str) -> str:
    return f"[[plans]] {plan.name!r} [[plans.{kind}]]"


def _years_text(years: Sequence[int]) -> str:
    ys = sorted(years)
    return f"{ys[0]}-{ys[-1]}" if ys == list(range(ys[0], ys[-1] + 1)) else \
        ", ".join(map(str, ys))


def check_plans(plans: Sequence[Plan], seats: pd.Series, years: Sequence[int], *,
                others: Mapping[str, Any] | None = None) -> None:
    """Refuse plans that cannot be evaluated, naming the plan and the key (one line each).

    ``seats``: the run's schools (id index) and their seats; ``years``: the years evaluated;
    ``others``: schools read but left out of the run as of another level (id -> their level,
    ``schools.attrs["other_levels"]`` of :func:`geoequity.scenario.read_inputs`), so that a
    plan naming one is told so. Refused: two plans with one name (or named ``(current)``), a
    year outside ``years``, a school that does not exist (or opens later), an open with an id
    that exists, expanding or closing a closed school, closing a school twice, ``merge_into`` a
    school that is unknown, closed or the school itself, and seats that become negative.
    """
    seen: dict[str, str] = {CURRENT: CURRENT}
    names = {str(k): str(k) for k in seats.index}
    ok_years = {int(y) for y in years}
    for plan in plans:
        key = str(plan.name).strip().lower()
        if key in (s.strip().lower() for s in seen):
            raise input_error(plan.source, f"two [[plans]] are named {plan.name!r}" if
                              plan.name != CURRENT else f"a [[plans]] is named {CURRENT!r}, "
                              "the name of the current state", "give every plan its own name")
        seen[plan.name] = plan.name
        for kind, items in (("open", plan.open), ("expand", plan.expand),
                            ("close", plan.close), ("boundaries", plan.boundaries)):
            for it in items:
                if int(it.year) not in ok_years:
                    raise input_error(plan.source, f"{_where(plan, kind)} year = {it.year} is "
                                      f"outside the years evaluated ({_years_text(ok_years)})",
                                      "give a year of the forecast, or lengthen [forecast] "
                                      "horizon")
        _check_sequence(plan, seats, names, {str(k): v for k, v in (others or {}).items()})


def _check_sequence(plan: Plan, seats: pd.Series, names: dict[str, str],
                    others: Mapping[str, Any]) -> None:
    """Walk the plan's years: every school it names exists then, and is open."""
    state = {k: float(v) for k, v in zip(map(str, seats.index), seats.to_numpy(float))}
    opened: dict[str, int] = {}
    closed: dict[str, int] = {}
    for o in plan.open:
        if str(o.id) in names:
            raise input_error(plan.source, f"{_where(plan, 'open')} id = {o.id!r} is a school "
                              "of the run already", "give the new school an id of its own")
        if str(o.id) in opened:
            raise input_error(plan.source, f"{_where(plan, 'open')} id = {o.id!r} opens twice",
                              "give each new school its own id")
        opened[str(o.id)] = int(o.year)
    sample = ", ".join(list(names)[:6]) + (" ..." if len(names) > 6 else "")

    def known(kind: str, key: str, school: str, year: int) -> None:
        if school not in names and school not in opened and school in others:
            raise input_error(plan.source, f"{_where(plan, kind)} {key} = {school!r} is a "
                              f"school of another level ({others[school]!s}), left out of "
                              "this run by its [analysis] level",
                              f"name a school of the run's level (one of {sample}), or put "
                              f"the plan in a scenario whose [analysis] level is "
                              f"{others[school]!s}")
        if school not in names and school not in opened:
            raise input_error(plan.source, f"{_where(plan, kind)} {key} = {school!r} is not a "
                              "school of the run (nor opened by the plan)",
                              f"name one of {sample}")
        if school in opened and opened[school] > year:
            raise input_error(plan.source, f"{_where(plan, kind)} {key} = {school!r} in {year}: "
                              f"the plan opens it only in {opened[school]}",
                              "give a year from its opening on")
        if school in closed and closed[school] <= year:
            what = "closes" if kind == "close" and key == "school" else "names"
            raise input_error(plan.source, f"{_where(plan, kind)} {key} = {school!r} in {year} "
                              f"{what} a school already closed in {closed[school]}",
                              "drop the intervention or change its year")

    events = sorted([(int(o.year), 0, o) for o in plan.open]
                    + [(int(e.year), 1, e) for e in plan.expand]
                    + [(int(c.year), 2, c) for c in plan.close], key=lambda t: (t[0], t[1]))
    for year, order, it in events:
        if order == 0:
            state[str(it.id)] = float(it.seats)
        elif order == 1:
            known("expand", "school", str(it.school), year)
            state[str(it.school)] = state.get(str(it.school), 0.0) + float(it.seats)
            if state[str(it.school)] < 0:
                raise input_error(plan.source, f"{_where(plan, 'expand')} school = "
                                  f"{it.school!r} seats = {it.seats:g} leaves it "
                                  f"{state[str(it.school)]:g} seats in {year}",
                                  "remove at most the seats it has, or close it")
        else:
            known("close", "school", str(it.school), year)
            if it.merge_into is not None:
                if str(it.merge_into) == str(it.school):
                    raise input_error(plan.source, f"{_where(plan, 'close')} merge_into = "
                                      f"{it.merge_into!r} is the closing school itself",
                                      "name the school that takes its seats")
                known("close", "merge_into", str(it.merge_into), year)
            closed[str(it.school)] = year


# -- the states of a plan --------------------------------------------------------------------

def _new_schools(plans: Sequence[Plan], crs, level: str | None) -> gpd.GeoDataFrame:
    """Every plan's opened schools once, at their points in ``crs`` (the run's)."""
    rows: dict[str, dict] = {}
    for plan in plans:
        for o in plan.open:
            if o.lon is not None and o.lat is not None:
                pt = gpd.GeoSeries.from_xy([o.lon], [o.lat], crs="EPSG:4326")
            elif o.x is not None and o.y is not None:
                pt = gpd.GeoSeries.from_xy([o.x], [o.y], crs=o.crs if o.crs is not None else crs)
            else:
                raise input_error(plan.source, f"{_where(plan, 'open')} id = {o.id!r} has no "
                                  "place", "give lon and lat (WGS84), or x and y")
            geom = pt.to_crs(crs).iloc[0]
            if not np.isfinite([geom.x, geom.y]).all():
                raise input_error(plan.source, f"{_where(plan, 'open')} id = {o.id!r}: its "
                                  "coordinates are not a place", "check lon/lat or x/y")
            old = rows.get(str(o.id))
            if old is not None and old["geometry"].distance(geom) > 1.0:
                raise input_error(plan.source, f"{_where(plan, 'open')} id = {o.id!r} is "
                                  f"opened at another place by plan {old['plan']!r}",
                                  "give each new school (place) its own id")
            if old is None:
                rows[str(o.id)] = {"id": str(o.id), "name": o.name or str(o.id),
                                   "level": o.level or level or "all", "plan": plan.name,
                                   "geometry": geom}
    frame = gpd.GeoDataFrame(list(rows.values()) or None,
                             columns=["id", "name", "level", "plan", "geometry"],
                             geometry="geometry", crs=crs)
    frame.index = pd.Index(frame["id"].to_numpy(), dtype=object)
    return frame.drop(columns="plan")


def _refuse_outside(plans: Sequence[Plan], district: pd.Series, new: gpd.GeoDataFrame) -> None:
    """A new school in no district (lon given as x, x/y in another CRS, a typo) would add its
    seats to ``(all)`` and to no district: refused, naming the first plan opening it."""
    for sid in district.index[district.astype(str) == OUTSIDE]:
        plan = next(p for p in plans if any(str(o.id) == str(sid) for o in p.open))
        pt = new.geometry.loc[sid]
        raise input_error(plan.source, f"{_where(plan, 'open')} id = {str(sid)!r} lies outside "
                          f"every district (at x = {pt.x:.1f}, y = {pt.y:.1f} in "
                          f"{new.crs.to_string() if new.crs else 'the run CRS'})",
                          "check lon/lat (WGS84) or x/y (the schools' CRS)")


def _open_seats(plan: Plan, o: Open, level: str | None, run_level: str | None) -> float:
    """Seats an opened school gives the run's level (all of them without a level)."""
    if run_level is None:
        return float(o.seats)
    from geoequity.levels import level_supply

    one = pd.DataFrame({"level": [o.level or run_level], "seats": [float(o.seats)]},
                       index=[str(o.id)])
    got = level_supply(one, run_level)
    if got.empty:
        raise input_error(plan.source, f"{_where(plan, 'open')} id = {o.id!r} level = "
                          f"{o.level!r} does not serve the run's level {run_level!r}",
                          f'give level = "{run_level}" (or a combined level covering it)')
    return float(got.iloc[0])


@dataclass
class _Timeline:
    seats: np.ndarray        # schools (run's, then new) x years
    present: np.ndarray      # bool, same shape
    layer: np.ndarray        # per year: index into plan.boundaries, -1 = the run's districts
    #: (action, school, year, seats added (negative: removed), merge_into) in the order applied
    events: list = field(default_factory=list)


def _timeline(plan: Plan, ids: pd.Index, base: np.ndarray, n_run: int, years: list[int],
              run_level: str | None) -> _Timeline:
    pos = {str(k): i for i, k in enumerate(ids)}
    seats = np.zeros(len(ids))
    seats[:n_run] = base
    present = np.zeros(len(ids), dtype=bool)
    present[:n_run] = True
    layer = -1
    S = np.empty((len(ids), len(years)))
    P = np.empty((len(ids), len(years)), dtype=bool)
    L = np.empty(len(years), dtype=np.intp)
    events = []
    for j, y in enumerate(years):
        for o in plan.open:
            if int(o.year) == y:
                seats[pos[str(o.id)]] = _open_seats(plan, o, o.level, run_level)
                present[pos[str(o.id)]] = True
                events.append(("open", str(o.id), y, seats[pos[str(o.id)]], None))
        for e in plan.expand:
            if int(e.year) == y:
                seats[pos[str(e.school)]] += float(e.seats)
                events.append(("expand", str(e.school), y, float(e.seats), None))
        for c in plan.close:
            if int(c.year) == y:
                i = pos[str(c.school)]
                if c.merge_into is not None:
                    seats[pos[str(c.merge_into)]] += seats[i]
                events.append(("close", str(c.school), y, -float(seats[i]),
                               None if c.merge_into is None else str(c.merge_into)))
                seats[i], present[i] = 0.0, False
        for k, b in enumerate(plan.boundaries):
            if int(b.year) == y:
                layer = k
        S[:, j], P[:, j], L[j] = seats, present, layer
    return _Timeline(S, P, L, events)


# -- the evaluation ----------------------------------------------------------------------------

def _plan_years(results: Results, plans: Sequence[Plan],
                yearly_settings: YearlySettings | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Children (and of which from housing) per cell and year every plan shares."""
    if results.yearly is not None:
        return results.yearly.children, results.yearly.housing
    if yearly_settings is not None:
        d = children_by_year(results, yearly_settings)
        return d.children, d.housing
    years = plan_years(plans)
    if not years:
        raise input_error(plans[0].source if plans else "plans", "the plans name no year and "
                          "the run has no [forecast]", "give the interventions a year")
    base = results.cells["children"].to_numpy(float)
    kids = pd.DataFrame(np.repeat(base[:, None], len(years), axis=1),
                        index=results.cells.index, columns=years)
    return kids, pd.DataFrame(0.0, index=kids.index, columns=years)


def plan_years(plans: Sequence[Plan], forecast_years: Sequence[int] | None = None
               ) -> list[int]:
    """The years plans are evaluated in: the forecast's; without one, the year before the
    first intervention (the current state) and every year an intervention names."""
    if forecast_years is not None:
        return [int(y) for y in forecast_years]
    named = sorted({y for p in plans for y in p.intervention_years()})
    return [named[0] - 1, *named] if named else []


def _memberships(results: Results, schools: gpd.GeoDataFrame, plans: Sequence[Plan]) -> dict:
    """The run's districts and every boundary proposal as memberships of cells and schools."""
    out: dict = {}
    if not any(p.boundaries for p in plans):
        return out
    from geoequity.districts import read_proposal, resolve_districts

    cells = results.cells
    if results.districts is None:
        p = next(p for p in plans if p.boundaries)
        raise input_error(p.source, f"{_where(p, 'boundaries')} needs the current [districts]",
                          "add a [districts] section (the current boundaries)")
    out[None] = resolve_districts(cells, schools, results.districts)
    for p in plans:
        for b in p.boundaries:
            with step(f"reading boundaries {getattr(b.path, 'name', b.path)}"):
                try:
                    layer = read_proposal(b.path, cells=cells, name_col=b.name_col,
                                          cell_col=b.cell_col, input_crs=b.input_crs)
                    out[(p.name, id(b))] = resolve_districts(cells, schools, layer,
                                                             source=str(b.path))
                except InputError as e:   # the file's own message, placed in the scenario
                    said = str(e)
                    if not said.startswith(str(b.path)):
                        said = f"{b.path}: {said}"
                    raise input_error(p.source, f"{_where(p, 'boundaries')} path {said}") \
                        from None
    return out


def _layer_codes(labels: pd.Series | np.ndarray, body: list[str]) -> np.ndarray:
    return pd.Index(body).get_indexer(pd.Series(labels).fillna(OUTSIDE).astype(str)) \
        if body else np.zeros(len(labels), dtype=np.intp)


def evaluate_plans(results: Results, plans: Sequence[Plan],
                   yearly_settings: YearlySettings | None = None, *,
                   costs: Any = None, unit_costs: Mapping[str, float] | None = None,
                   level: str | None = None, **options) -> PlanResults:
    """Evaluate every plan, and the current state as ``(current)``, in every year.

    Parameters
    ----------
    results
        The run (:func:`geoequity.analyse`; with ``yearly`` when it ran a forecast).
    plans
        The plans (:class:`Plan`); checked by :func:`check_plans`.
    yearly_settings
        The forecast, when ``results`` carries none (``results.yearly`` is used when set).
        Without either, the years are the year before the first intervention and every year an
        intervention names, all with the run's children.
    costs
        The cost source of the run (:class:`geoequity.CostSource`): the costs from every cell to
        every plan's new schools are computed with it once, bounded by ``max_cost``; or those
        costs as a table (``origin, destination, cost``). Needed when a plan opens a school.
    unit_costs
        ``{"per_seat": ..., "per_school": ...}`` (either may be left out): the ``cost`` column
        of the summary, ``per_seat`` x (the new schools' seats + seats added by expansions)
        ``+ per_school`` x new schools; empty without.
    level
        The run's school level (default ``results.settings.level``): an opened school gives
        that level's seats.
    options
        ``threshold``, ``method``, ``decay``, ``decay_param``, ``max_cost``: default the run's.

    Returns
    -------
    PlanResults
    """
    from geoequity.access import accessibility

    opts = run_options(results, options)
    threshold, method = float(opts["threshold"]), opts.get("method", "2sfca")
    max_cost = opts.get("max_cost")
    if level is None and results.settings is not None:
        level = getattr(results.settings, "level", None)
    if results.pairs is None:
        raise input_error("results", "the run carries no coded cost table (Results.pairs)",
                          "run geoequity.analyse first and pass its Results")
    plans = list(plans)
    kids, housing = _plan_years(results, plans, yearly_settings)
    years = [int(y) for y in kids.columns]
    run_sch, cells = results.schools, results.cells
    check_plans(plans, run_sch["seats"], years, others=run_sch.attrs.get("other_levels"))
    new = _new_schools(plans, cells.crs, level)
    pairs = results.pairs
    if len(new):
        pairs = join_destinations(pairs, _new_pairs(results, new, costs, max_cost))
    ids = pairs.destinations
    n_run = len(run_sch)
    base = run_sch["seats"].reindex(ids[:n_run]).to_numpy(float)
    # districts: the run's, and each boundary proposal's
    everyone = gpd.GeoDataFrame(
        geometry=pd.concat([run_sch.geometry, new.geometry]).to_numpy() if len(new) else
        run_sch.geometry.to_numpy(), index=ids, crs=cells.crs)
    school_district = run_sch["district"].astype(str).reindex(ids).copy()
    if len(new):
        school_district.iloc[n_run:] = (district_of(new, results.districts).to_numpy()
                                        if results.districts is not None else OUTSIDE)
        if results.districts is not None:
            _refuse_outside(plans, school_district.iloc[n_run:], new)
    members = _memberships(results, everyone, plans)
    table = results.district_table
    run_body = [d for d in table["district"].astype(str)] if table is not None else []
    run_body = [d for d in run_body if d != "(all)"]
    layers = {None: (run_body, _layer_codes(cells["district"], run_body),
                     _layer_codes(school_district, run_body))}
    for key, m in members.items():
        if key is None:
            continue
        cl = m.cell.fillna(OUTSIDE).astype(str)
        sl = m.school.reindex(ids).fillna(OUTSIDE).astype(str)
        body = [str(n) for n in m.names]
        # an (outside) row where a cell or a school lies beyond the proposal: _plan_rows keeps
        # it only in the years a cell or a present school is there (the run's rule)
        body += [OUTSIDE] if (OUTSIDE not in body and ((cl == OUTSIDE).any()
                                                      or (sl == OUTSIDE).any())) else []
        layers[key] = (body, _layer_codes(cl, body), _layer_codes(sl, body))

    K0, H0 = kids.to_numpy(float), housing.to_numpy(float)
    sub_cache: dict[bytes, tuple[Pairs, Any]] = {}

    def present_pairs(key: bytes, mask: np.ndarray) -> tuple[Pairs, Any]:
        """The pairs to the schools present and each cell's cost to the nearest, once per
        set of schools (plans and years often share one)."""
        if key not in sub_cache:
            sub = pairs.recode(destinations=ids[mask]) if not mask.all() else pairs
            sub_cache[key] = (sub, sub.within(max_cost).nearest()[1])
        return sub_cache[key]

    all_plans = [Plan(CURRENT)] + plans
    frames, rows, access, seats_out, events = [], [], {}, {}, []
    done: dict[tuple, np.ndarray] = {}   # accessibility per (schools, seats, year, housing)
    quiet = is_quiet()
    with step(f"evaluating {len(plans)} plan(s) over {len(years)} years"):
        set_quiet(True)
        try:
            for plan in all_plans:
                tl = _timeline(plan, ids, base, n_run, years, level)
                K, H = K0, H0
                if plan.housing:
                    extra = _plan_housing(plan, cells, years)
                    K, H = K0 + extra, H0 + extra
                A = np.empty_like(K)
                cost = np.empty_like(K)
                for j in range(len(years)):
                    mask = tl.present[:, j]
                    mask_key = np.packbits(mask).tobytes()
                    sub, cost[:, j] = present_pairs(mask_key, mask)
                    # a plan-year with the schools, seats and children of one already done
                    # (a plan before its first intervention is the current state) is reused
                    key = (mask_key, tl.seats[mask, j].tobytes(), j,
                           plan.name if plan.housing else None)
                    if key not in done:
                        supply = pd.Series(tl.seats[mask, j], index=sub.destinations)
                        done[key] = accessibility(
                            sub, pd.Series(K[:, j], index=cells.index), supply, method=method,
                            threshold=threshold, decay=opts.get("decay"),
                            decay_param=opts.get("decay_param")).to_numpy()
                    A[:, j] = done[key]
                beyond = ~(cost <= threshold)
                table_p = _plan_rows(plan, tl, layers, years, K, H, cost, beyond)
                table_p.insert(0, "plan", plan.name)
                frames.append(table_p)
                access[plan.name] = pd.DataFrame(A, index=cells.index, columns=years)
                seats_out[plan.name] = pd.DataFrame(tl.seats, index=ids, columns=years)
                events += [(plan.name, *e) for e in tl.events]
                rows.append(_summary_row(plan, table_p, K, A, tl, members, years, run_sch,
                                         ids, unit_costs))
        finally:
            set_quiet(quiet)
    by_year = pd.concat(frames, ignore_index=True)[BY_YEAR_COLUMNS + BY_YEAR_EXTRA]
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    _balance(summary, all_plans, run_sch, level)
    info(f"plans: {len(plans)} plan(s) and the current state over {_years_text(years)}")
    return PlanResults(by_year=by_year, summary=summary, access=access, seats=seats_out,
                       new_schools=new, years=years,
                       schools=_schools_table(events, run_sch, new))


def _schools_table(events: list, run_sch: gpd.GeoDataFrame,
                   new: gpd.GeoDataFrame) -> pd.DataFrame:
    """``plans_schools.csv`` from the plans' applied interventions: names and WGS84 places of
    the run's schools and the new ones."""
    ids = pd.Series(run_sch.index.astype(str), index=run_sch.index)
    names = (run_sch["name"].where(run_sch["name"].notna(), ids).astype(str)
             if "name" in run_sch.columns else ids)
    where = pd.concat([run_sch.geometry.to_crs(4326), new.geometry.to_crs(4326)]
                      if len(new) else [run_sch.geometry.to_crs(4326)])
    where.index = where.index.astype(str)
    names = pd.concat([names, new["name"].astype(str)] if len(new) else [names])
    names.index = names.index.astype(str)
    t = pd.DataFrame(events, columns=["plan", "action", "school", "year", "seats",
                                      "merge_into"])
    t["name"] = t["school"].map(names)
    pts = where.reindex(t["school"])
    t["lon"], t["lat"] = pts.x.to_numpy(), pts.y.to_numpy()
    return t[SCHOOLS_COLUMNS]


def _new_pairs(results: Results, new: gpd.GeoDataFrame, costs: Any, max_cost) -> Pairs:
    """The costs from every cell to the plans' new schools, coded (computed once)."""
    from geoequity.costs import CostSource, cost_table

    if isinstance(costs, CostSource):
        with step(f"travel costs to {len(new)} new school(s)"):
            table = cost_table(costs, results.cells, new, max_cost=max_cost)
    elif isinstance(costs, pd.DataFrame):
        table = costs
    else:
        raise input_error("plans", "the plans open schools but no costs= is given",
                          "pass the run's CostSource (or the new schools' cost table)")
    return code_pairs(table, results.cells.index, new.index, threshold=max_cost,
                      source="new schools' costs")


def _plan_housing(plan: Plan, cells: gpd.GeoDataFrame, years: list[int]) -> np.ndarray:
    """Children the plan's own ``[[plans.housing]]`` add per cell and year."""
    frames = [read_estates(layer, cells) for layer in plan.housing]
    estates = pd.concat(frames, ignore_index=True)
    return housing_children(estates, len(cells), years, years[0])


def _outside_row(body: list[str], ccode: np.ndarray, scode: np.ndarray,
                 present: np.ndarray) -> np.ndarray:
    """Per year: does a proposal's ``(outside)`` row (the last of ``body``, added by
    :func:`evaluate_plans`) hold anything? As in the run's district table: a cell outside, or a
    school outside that is present that year (not one opened later or closed before)."""
    if not body or body[-1] != OUTSIDE:
        return np.zeros(present.shape[1], dtype=bool)
    out = len(body) - 1
    return (ccode == out).any() | (present & (scode == out)[:, None]).any(axis=0)


def _plan_rows(plan: Plan, tl: _Timeline, layers: dict, years: list[int], K, H, cost,
               beyond) -> pd.DataFrame:
    """District rows of one plan, for each run of years under one set of boundaries (and with
    or without a proposal's ``(outside)`` row: left out in the years nothing is outside)."""
    out = []
    keys = [None if k < 0 else (plan.name, id(plan.boundaries[k])) for k in tl.layer]
    empty = np.zeros(len(years), dtype=bool)
    for key in set(keys) - {None}:
        body, ccode, scode = layers[key]
        at = np.array([kk == key for kk in keys])
        empty |= at & ~_outside_row(body, ccode, scode, tl.present)
    j = 0
    while j < len(years):
        end = j
        while end < len(years) and keys[end] == keys[j] and empty[end] == empty[j]:
            end += 1
        sl = slice(j, end)
        body, ccode, scode = layers[keys[j]]
        if empty[j] and body and body[-1] == OUTSIDE:   # no cell outside: codes stay valid
            body, scode = body[:-1], np.where(scode == len(body) - 1, -1, scode)
        nb = len(body)
        present = tl.present[:, sl]
        fixed = {"seats": per_district(scode, np.where(present, tl.seats[:, sl], 0.0), nb),
                 "schools": per_district(scode, present.astype(float), nb).astype(int),
                 "cells": per_district(ccode, np.ones((len(ccode), end - j)), nb).astype(int)}
        out.append(district_rows(body, years[sl], K[:, sl], H[:, sl], ccode, cost[:, sl],
                                 beyond[:, sl], fixed))
        j = end
    return pd.concat(out, ignore_index=True)


def _summary_row(plan: Plan, rows: pd.DataFrame, K: np.ndarray, A: np.ndarray, tl: _Timeline,
                 members: dict, years: list[int], run_sch, ids: pd.Index,
                 unit_costs: Mapping[str, float] | None) -> dict:
    derived = summarise(rows.assign(plan=plan.name)).iloc[0].to_dict()   # the one rule
    g, t = access_inequality(A, K)                                        # and the other
    moved = _children_moved(plan, members, K, years, run_sch, ids, tl)
    new_seats = float(sum(o.seats for o in plan.open) + sum(e.seats for e in plan.expand))
    cost = None
    if unit_costs:
        built = float(sum(o.seats for o in plan.open)
                      + sum(max(e.seats, 0.0) for e in plan.expand))
        cost = (float(unit_costs.get("per_seat", 0.0)) * built
                + float(unit_costs.get("per_school", 0.0)) * len(plan.open))
    return {**derived, "gini_access": g, "theil_access": t,
            "balance_pass": None, "children_moved": moved, "new_schools": len(plan.open),
            "new_seats": new_seats, "closed_schools": len(plan.close), "cost": cost}


def _children_moved(plan: Plan, members: dict, K: np.ndarray, years: list[int], run_sch,
                    ids: pd.Index, tl: _Timeline) -> float:
    """Children (of the change's year) whose cell changes district at each boundary change,
    against the boundaries just before it (:func:`geoequity.districts.district_moves`)."""
    from geoequity.districts.compare import district_moves

    if not plan.boundaries:
        return 0.0
    total = 0.0
    before = members[None]
    for b in sorted(plan.boundaries, key=lambda b: int(b.year)):
        j = years.index(int(b.year))
        after = members[(plan.name, id(b))]
        seats = pd.Series(tl.seats[:, j], index=ids)
        kids = pd.Series(K[:, j], index=before.cell.index)
        total += float(district_moves(before, after, kids, seats)["children_moved"])
        before = after
    return total


def _balance(summary: pd.DataFrame, plans: Sequence[Plan], run_sch, level) -> None:
    """``balance_pass``: school-resource balance of each plan's schools in its last year."""
    done: dict[tuple, bool | None] = {}   # plans closing the same schools share the answer
    for i, plan in enumerate(plans):
        key = tuple(sorted((str(c.school), str(c.merge_into)) for c in plan.close))
        if key not in done:
            done[key] = _balance_of(plan, run_sch, level)
        if done[key] is not None:
            summary.loc[i, "balance_pass"] = done[key]


def _balance_of(plan: Plan, run_sch, level) -> bool | None:
    from geoequity.balance import auto_balance

    sch = run_sch.copy()
    closed = {str(c.school) for c in plan.close}
    res_cols = [c for c in sch.columns if c not in ("seats", "level", "district", "name")
                and pd.api.types.is_numeric_dtype(sch[c])]
    for c in sorted(plan.close, key=lambda c: int(c.year)):
        if c.merge_into is not None and str(c.merge_into) in sch.index:
            sch.loc[str(c.merge_into), res_cols] = (
                sch.loc[str(c.merge_into), res_cols].fillna(0)
                + sch.loc[str(c.school), res_cols].fillna(0))
    sch = sch[~sch.index.astype(str).isin(closed)]
    result = auto_balance(sch, levels=[level] if level else None,
                          type_col="school_type" if "school_type" in sch.columns else None)
    return bool(result.passed) if result is not None and len(result.summary) else None


def write_plans(plans: PlanResults, folder) -> list:
    """Write ``plans_by_year.csv``, ``plans_summary.csv`` and (when the plans carry it)
    ``plans_schools.csv`` into ``folder`` (atomically)."""
    from pathlib import Path

    from geoequity.io.write import write_table

    folder = Path(folder)
    return [write_table(plans.by_year, folder / "plans_by_year.csv"),
            write_table(plans.summary, folder / "plans_summary.csv")] + (
        [write_table(plans.schools, folder / "plans_schools.csv")]
        if getattr(plans, "schools", None) is not None else [])


def plans_of(entries: Iterable[Mapping[str, Any]], *, source: str,
             crs: Any = None) -> list[Plan]:
    """Plans from ``[[plans]]`` tables (paths already absolute), as the scenario writes them.

    ``crs``: the CRS of ``x``/``y`` coordinates of opened schools (the schools' declared
    CRS; default the run's)."""
    out = []
    for e in entries:
        out.append(Plan(
            name=str(e["name"]),
            open=tuple(Open(crs=crs, **o) for o in e.get("open", [])),
            expand=tuple(Expand(**x) for x in e.get("expand", [])),
            close=tuple(Close(**c) for c in e.get("close", [])),
            boundaries=tuple(Boundaries(**b) for b in e.get("boundaries", [])),
            housing=tuple(HousingLayer(**h) for h in e.get("housing", [])),
            source=source))
    return out
