"""The analysis pipeline: children, schools and a cost table in; every result table out.

:func:`analyse` is the one place where the stages meet (accessibility, nearest school,
capacity-constrained assignment, district and urban/rural gaps, equity). It takes layers that
are already read and a cost table, so scripts can call it with any inputs; the scenario runner
(:mod:`geoequity.scenario`) and the demo call it after reading files.

The run's figures over all cells can also be had from *pieces* (disjoint sets of its cells, a
cluster partition's core cells each, with the columns of ``Results.cells``), so that no process
holds every cell: each ``<thing>_piece`` gives a small summary of one piece, ``<thing>_of``
adds the summaries up into what the in-process function gives (itself the one-piece case).
Here: :func:`coverage_piece` -> :func:`check_coverage_of` (the coverage check and its
messages), the district table (:func:`geoequity.gaps.gaps_piece` ->
:func:`geoequity.gaps.seat_gaps_of` -> :func:`district_summary_of`), the summary's cell figures
(:func:`summary_figures` of the gaps' ``totals``), and :func:`finish_piece`, which gives a
piece its ``access_index`` once the study area's fair share is known.

Per-cell result columns (``Results.cells``):

=================== =============================================================================
``children``        school-age children in the cell
``district``        district containing the cell's centre (``"(outside)"`` when none does)
``urban``           ``urban centre`` / ``urban cluster`` / ``rural`` (Degree of Urbanisation);
                    schools get the class of the cell they stand in (or their own column)
``nearest_id``      nearest school (lowest travel cost); empty when none within ``max_cost``
``nearest_cost``    travel cost to it (metres or minutes); NaN when none within ``max_cost``
``beyond``          True when the nearest school is farther than the threshold (or none)
``seats_within``    seats of all schools within the threshold (cumulative opportunities)
``access``          the chosen measure (2SFCA: seats per child reachable); NaN = no access
``access_index``    2SFCA divided by the area's seats per child: 1.0 is a fair share
``assigned``        children given a seat by the capacity-constrained assignment
``unassigned``      children left without a seat (children = assigned + unassigned)
``school``          school taking most of the cell's children in that assignment
=================== =============================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geoequity._hilbert import locality_keys
from geoequity._progress import info, step
from geoequity.gaps import travel_weights
from geoequity.io.districts import OUTSIDE, district_of
from geoequity.io.vector import box_centres, representative_xy
from geoequity.pairs import Pairs, as_pairs


@dataclass
class Results:
    """Every table of one analysis. GeoDataFrames are in the analysis' projected CRS."""

    cells: gpd.GeoDataFrame
    schools: gpd.GeoDataFrame
    districts: gpd.GeoDataFrame | None
    district_table: pd.DataFrame | None
    equity: pd.DataFrame
    theil: pd.DataFrame
    costs: pd.DataFrame
    catchments: gpd.GeoDataFrame | None
    summary: dict[str, Any]
    comparison: Any = None  # geoequity.districts.ComparisonResult when proposals were given
    written: list = field(default_factory=list)
    pairs: Pairs | None = None  # the cost table coded once (cells x schools), for later stages
    settings: Any = None  # geoequity.scenario.RunSettings of a scenario run
    yearly: Any = None  # geoequity.yearly.YearlyResults of a run with [forecast]
    options: dict = field(default_factory=dict)  # analyse's keywords: the per-year stages reuse
    trend: pd.DataFrame | None = None  # year-on-year table of a scenario's [[years]]
    plans: Any = None  # geoequity.plans.PlanResults of a run with [[plans]] (by_year, summary)
    cluster: Any = None  # geoequity.distributed.ClusterRun of a run on a dask cluster
    #: a cluster run's cost pairs, left on its workers (geoequity.distributed.KeptPairs):
    #: then ``costs`` and ``pairs`` are None (costs.parquet is written by the workers) until
    #: a later stage gathers them
    kept: Any = None
    #: where the exact assignment was solved ("where": here, process or worker) and, for a
    #: child process, its CPU seconds and peak MB (``PendingAssignment.figures``)
    solve: dict = field(default_factory=dict)
    #: a cluster run's cells, left on its workers (geoequity.distributed.KeptCells, one
    #: piece per partition: geoequity.piecewise): then ``cells`` is None, and the outputs
    #: take the cells from the pieces (geoequity.outputs.CellPieces)
    cell_pieces: Any = None
    #: the report's Lorenz curves when computed without the cells (a run whose cells stayed
    #: on the workers: geoequity.equity.lorenz_of); None: the report computes them
    lorenz: Any = None


def district_names(features: gpd.GeoDataFrame, districts: gpd.GeoDataFrame | None) -> np.ndarray:
    """District of each feature (:func:`geoequity.io.district_of`); all OUTSIDE without
    districts."""
    if districts is None:
        return np.full(len(features), OUTSIDE, dtype=object)
    return district_of(features, districts).to_numpy()


def _urban_class(cells: gpd.GeoDataFrame, districts, urban_col: str | None) -> np.ndarray:
    from geoequity.urban import urban_class

    return urban_class(cells, districts, urban_col)


#: The groupings of the run's equity table (a grouping whose column is absent is skipped):
#: districts, urban/rural class, and townships when the cells carry a ``township`` column;
#: a run with a district group (``[districts] group``) adds it after the districts.
BREAKDOWNS = ("district", "urban", "township")
#: Cell columns a district group cannot be named (the pipeline's own).
CELL_COLUMNS = ("children", "district", "urban", "township", "nearest_id", "nearest_cost",
                "beyond", "seats_within", "access", "access_index", "assigned", "unassigned",
                "school", "geometry", "cell", "population", "row", "col", "lon", "lat")


def equity_groupings(district_group: str | None) -> tuple[str, ...]:
    if district_group is None:
        return BREAKDOWNS
    return (BREAKDOWNS[0], district_group, *BREAKDOWNS[1:])


def district_groups(cell_district: pd.Series, districts: gpd.GeoDataFrame | None,
                    column: str) -> np.ndarray:
    """The group (``column`` of the districts layer, e.g. ``"county"``) of each cell: the one
    rule of "the county of a cell": the value of the district it lies in
    (:func:`geoequity.io.district_of`); ``"(outside)"`` outside every district, and for a
    district whose value is missing."""
    from geoequity._errors import input_error
    from geoequity._options import option

    if districts is None:
        raise input_error(option("district_group"), f"grouping districts by {column!r} needs "
                          "a districts layer", "add [districts], or leave the group out")
    if column in CELL_COLUMNS:
        raise input_error(option("district_group"), f"{column!r} is a column the run gives "
                          "every cell", "choose another column of the districts layer")
    if column not in districts.columns:
        geom = getattr(districts, "_geometry_column_name", None)
        have = [str(c) for c in districts.columns if c not in ("district", geom)]
        raise input_error(option("district_group"), f"the districts layer has no column "
                          f"{column!r}", f"use one of: {', '.join(have) or '(none)'}")
    lookup = group_lookup(districts["district"], districts[column], column)
    return cell_district.map(lookup).fillna(OUTSIDE).astype(str).to_numpy()


def group_lookup(names: Any, values: Any, column: str) -> pd.Series:
    """The group of each district name (``"(outside)"`` where missing), or a one-line error
    naming a district whose rows (a district in several pieces) give it two groups: the
    county of its cells would otherwise depend on the row order."""
    from geoequity._errors import input_error
    from geoequity._options import option

    values = pd.Series(values)
    if values.dtype.kind == "f" and bool((values.dropna() % 1 == 0).all()):
        values = values.astype("Int64")   # county codes 3301 read as 3301.0 beside a missing one
    frame = pd.DataFrame({"district": pd.Series(names).astype(str).to_numpy(),
                          "group": values.astype(object).to_numpy()})
    frame["group"] = frame["group"].where(frame["group"].notna(), OUTSIDE).astype(str)
    frame = frame.drop_duplicates()
    split = frame["district"].duplicated(keep=False)
    if split.any():
        name = frame.loc[split, "district"].iloc[0]
        both = sorted(frame.loc[frame["district"] == name, "group"])
        raise input_error(option("district_group"), f"district {name!r} is in more "
                          f"than one {column} ({', '.join(both)})",
                          f"give each district one {column} value (or split it in two names)")
    return frame.set_index("district")["group"]


def assignment_parts(cells: pd.DataFrame, districts: gpd.GeoDataFrame | None,
                     partition: str | float | None) -> np.ndarray:
    """The part of each cell for a decomposed assignment (cells with their ``district``):
    its district (``"districts"``, the default with districts), the group of its district
    (a districts column, :func:`district_groups`), or its tile of ``partition`` metres (the
    default :data:`geoequity.distributed.DEFAULT_TILE` without districts); the cells in no
    district (or group) by 20 km tiles: the keys :func:`geoequity.distributed.partition_keys`
    gives a cluster run, whose partitions are then the parts."""
    from geoequity.distributed import DEFAULT_TILE, DISTRICTS, partition_keys

    if partition is None:
        partition = DISTRICTS if districts is not None else DEFAULT_TILE
    if isinstance(partition, int | float):
        return partition_keys(cells, float(partition), None)
    keys = (cells["district"].to_numpy() if partition == DISTRICTS
            else district_groups(cells["district"], districts, partition))
    return partition_keys(cells, DISTRICTS, districts, cell_districts=keys)


def theil_summary(theil: pd.DataFrame, district_group: str | None) -> dict[str, Any]:
    """The ``summary.json`` keys of the Theil decompositions by district and by the district
    group: ``theil_by_district`` and ``theil_by_group`` (``{"theil_t", "between", "within",
    "between_share"}`` of the access score), and ``district_group`` (the column)."""
    out: dict[str, Any] = {}
    rows = theil.set_index("grouping") if len(theil) else None
    for key, grouping in (("theil_by_district", "district"), ("theil_by_group", district_group)):
        if rows is not None and grouping is not None and grouping in rows.index:
            r = rows.loc[grouping]
            out[key] = {k: float(r[k]) for k in ("theil_t", "between", "within",
                                                   "between_share")}
    if district_group is not None:
        out["district_group"] = district_group
    return out


def _school_classes(schools: gpd.GeoDataFrame, cells: gpd.GeoDataFrame,
                    urban_col: str | None) -> None:
    """Schools' ``urban`` (and ``township``) class: their own column, else their cell's.

    A schools column named by ``urban_col`` (or already called ``urban``) is the user's
    class; otherwise a school takes the class of the cell it stands in
    (:func:`geoequity.urban.cell_value_of`).
    """
    from geoequity.urban import cell_value_of

    if urban_col and urban_col in schools.columns and urban_col != "urban":
        schools["urban"] = schools[urban_col].astype(str)
    for col in ("urban", "township"):
        if col not in schools.columns and col in cells.columns and len(cells):
            schools[col] = cell_value_of(schools, cells, col)


def solver_locality(cells: gpd.GeoDataFrame, schools: gpd.GeoDataFrame
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Hilbert keys of the centres of the cells' and the schools' bounding boxes over their
    common extent: the assignment solver numbers its nodes in that order (the same problem,
    solved faster). A cluster run whose workers read the cells sends the solving worker
    the cells' centres instead, and the same keys are made there
    (:func:`geoequity._hilbert.locality_keys`)."""
    return locality_keys(*box_centres(cells), *box_centres(schools))


FAR_M = 10_000.0   # a school this far from every populated cell is probably misplaced


@dataclass
class CoverageSums:
    """One piece's figures for :func:`check_coverage_of` (:func:`coverage_piece`): bounded by
    the schools and the districts, not by the cells."""

    #: per school (the schools' order): distance (m) to the nearest cell's representative
    #: point of the piece; inf for a piece without cells
    school_distance: np.ndarray
    #: the districts the piece's cells lie in (``"(outside)"`` left out), sorted
    districts: np.ndarray
    cells: int
    outside_cells: int   # cells in no district
    children: float
    children_outside: float


def coverage_piece(piece: gpd.GeoDataFrame, schools: gpd.GeoDataFrame) -> CoverageSums:
    """A piece's figures for the coverage check (:func:`check_coverage_of`).

    ``piece``: some of the run's cells with their ``children`` and ``district`` (``(outside)``
    beyond every district; any number of rows); ``schools``: every school of the run (the
    same rows and order on every piece)."""
    from scipy.spatial import cKDTree

    d = np.full(len(schools), np.inf)
    if len(piece) and len(schools):
        tree = cKDTree(np.column_stack(representative_xy(piece)))
        d, _ = tree.query(np.column_stack(representative_xy(schools)))
    district = piece["district"]
    inside = (district != OUTSIDE).to_numpy()
    kids = piece["children"]
    # the distinct names first: a set of a province's 561,000 names costs ~1 s
    return CoverageSums(school_distance=np.asarray(d, dtype=float),
                        districts=np.sort(np.asarray(district[inside].unique(), dtype=object)),
                        cells=len(piece), outside_cells=int((~inside).sum()),
                        children=float(kids.sum()),
                        children_outside=float(kids[~inside].sum()))


def check_coverage(cells: gpd.GeoDataFrame, schools: gpd.GeoDataFrame,
                   districts: gpd.GeoDataFrame | None) -> None:
    """Do the layers cover the same area? Refuse when they cannot, say so when part is off.

    ``cells`` and ``schools`` carry a ``district`` column (``(outside)`` beyond every district).
    The cells are one piece of :func:`check_coverage_of`.
    """
    check_coverage_of([coverage_piece(cells, schools)], schools, districts)


def check_coverage_of(sums: list[CoverageSums], schools: gpd.GeoDataFrame,
                      districts: gpd.GeoDataFrame | None) -> None:
    """:func:`check_coverage` on the run's cells from its pieces' figures
    (:func:`coverage_piece`, one per piece, in any order): the same errors and messages."""
    from geoequity._errors import input_error

    n_cells = sum(s.cells for s in sums)
    outside = sum(s.outside_cells for s in sums)
    if districts is not None and outside:
        info(f"  {outside} cell(s) lie outside every district: grouped as {OUTSIDE!r}")
    if n_cells and len(schools):
        d = np.minimum.reduce([s.school_distance for s in sums])
        far = d > FAR_M
        if far.all():
            raise input_error("schools", f"no school lies within {FAR_M / 1000:g} km of any "
                              f"populated cell (nearest: {d.min() / 1000:,.0f} km)",
                              "check that schools and population cover the same area and CRS "
                              "(lon/lat order, --input-crs)")
        if far.any():
            ids = schools.index[far][:5].tolist()
            info(f"  {int(far.sum())} school(s) lie more than {FAR_M / 1000:g} km from every "
                 f"populated cell (e.g. {ids}): check their coordinates (lon/lat swapped?)")
    if districts is None or not n_cells:
        return
    if outside == n_cells:
        raise input_error("districts", "no populated cell lies in any district",
                          "check that the districts cover the population (same area, CRS)")
    have = set().union(*(s.districts for s in sums))
    empty = sorted(set(districts["district"]) - have)
    if empty:
        info(f"  {len(empty)} district(s) hold no populated cell: {empty[:5]}")
    children = math.fsum(s.children for s in sums)
    share = float(math.fsum(s.children_outside for s in sums) / max(children, 1e-12))
    if share > 0.25:
        info(f"  {share:.0%} of the children live outside every district: do the districts "
             "cover the study area?")


def check_group_column(cells: pd.DataFrame, district_group: str | None) -> None:
    """Refuse a district group (``[districts] group``) named like a column of the cells:
    the run would overwrite the cells' own values with their districts' groups."""
    if district_group is not None and district_group in cells.columns:
        from geoequity._errors import input_error
        from geoequity._options import option

        raise input_error(option("district_group"), f"{district_group!r} is a column "
                          "the cells have", "choose another column of the districts layer")


def analyse(cells: gpd.GeoDataFrame, schools: gpd.GeoDataFrame,
            costs: pd.DataFrame | Pairs | Any, *, threshold: float,
            districts: gpd.GeoDataFrame | None = None,
            method: str = "2sfca", decay: str | None = None, decay_param: Any = None,
            max_cost: float | None = None, assignment: bool = True,
            urban_col: str | None = None,
            assignment_max_cost: float | None = None,
            local: pd.DataFrame | None = None, cell_districts: Any = None,
            assignment_mode: str = "auto",
            partition: str | float | None = None, district_group: str | None = None,
            client: Any = None,
            meanwhile: Callable[[pd.DataFrame, gpd.GeoDataFrame], Any] | None = None
            ) -> Results:
    """Run every stage of an analysis on read layers and a cost table.

    Parameters
    ----------
    cells
        Children per cell (``children`` column), ids in the index, projected CRS.
    schools
        Schools with ``seats``, ids in the index, same CRS.
    costs
        Long table ``origin`` (cell id), ``destination`` (school id), ``cost``, or the same
        already coded (:class:`geoequity.pairs.Pairs`). It is coded once, here; every stage
        takes the coded pairs, and the nearest school is computed once (the nearest within
        the threshold is that school when its cost is within it). Or a cluster run's pairs
        left on its workers (:class:`geoequity.distributed.KeptPairs`, with ``local``): the
        exact assignment is solved on a worker, the schools' supply ratios come from the
        partitions' sums, and the results' ``costs`` and ``pairs`` are None (``kept``).
    threshold
        Walking (or riding, driving) threshold in cost units: a school is within reach when
        ``cost <= threshold``.
    districts
        Optional district polygons (``district`` column).
    method, decay, decay_param
        Accessibility measure for the ``access`` column (:func:`geoequity.accessibility`).
    max_cost
        Longest trip considered for the nearest school (``nearest_id``, ``nearest_cost``);
        beyond it a cell has no school. Default 4 x ``threshold``
        (:func:`geoequity.default_max_cost`, the rule of every door).
    assignment_max_cost
        Longest trip the capacity-constrained assignment may use (default ``max_cost``).
    assignment
        Run the capacity-constrained assignment (default True).
    urban_col
        A districts or cells column holding urban/rural classes; by default the Degree of
        Urbanisation is computed from the grid.
    local
        Per-cell measures already computed (a partitioned run, :mod:`geoequity.distributed`):
        ``nearest_id``, ``nearest_cost`` (within ``max_cost``), ``seats_within``, ``access``
        and ``fca`` (2SFCA) indexed by cell id; they are used instead of computing them here.
    cell_districts
        The district of each cell (:func:`geoequity.io.district_of` against ``districts``,
        in the cells' order) already computed (a partitioned run's keys): used as it is.
    assignment_mode
        ``"auto"`` (default: exact up to
        :data:`geoequity.assignment_decomposed.EXACT_PAIRS` pairs, else decomposed),
        ``"exact"`` or ``"decomposed"`` (:mod:`geoequity.assignment_decomposed`).
    partition
        The parts of a decomposed assignment (:func:`assignment_parts`): ``"districts"``, a
        districts column (``"county"``) or a tile size in metres; default ``"districts"``
        with districts, else :data:`geoequity.distributed.DEFAULT_TILE` metre tiles.
    district_group
        A column of ``districts`` grouping them (``"county"``): each cell gets the group of
        its district (:func:`district_groups`) in a column of that name, and the equity
        tables a grouping by it (Theil between/within counties) beside the districts'.
    client
        A :class:`distributed.Client`: a decomposed assignment's rounds run on its workers,
        and so does a large exact solve (below).
    meanwhile
        Called once with the run's cost table and cells (the very objects ``Results.costs``
        and ``Results.cells`` will be, the cells without their later columns yet; not for
        pairs kept on a cluster's workers) after the stages that need no assignment, just
        before the assignment is joined: while a large exact solve runs in its child
        process, :func:`geoequity.scenario.run` writes ``costs.parquet`` and makes the map's
        cell raster then (:func:`geoequity.outputs.begin_outputs`). What it raises stops
        the run (the solve is stopped).

    Returns
    -------
    Results

    Notes
    -----
    The assignment starts first. An exact solve of at least
    :data:`geoequity.assignment.SOLVE_ELSEWHERE_PAIRS` pairs runs in a child process (on a
    worker of ``client``'s cluster when one is given) while this process computes the
    stages that do not need it (districts, coverage check, seats within reach, supply ratios,
    urban/rural classes, catchments); the stages that need it (the cells' and schools'
    assignment columns, seat gaps, district table, equity) wait for it. The same arrays go
    to the same solver, so the results are those of a solve in process
    (:func:`geoequity.assignment.start_assignment`; ``Results.solve`` says where it ran).
    """
    from geoequity import assignment as exact
    from geoequity.assignment_decomposed import start_assign
    from geoequity.costs import default_max_cost

    check_group_column(cells, district_group)
    from geoequity.distributed import KeptPairs

    demand = cells["children"].astype(float)
    supply = schools["seats"].astype(float)
    out = cells.copy()
    kept = costs if isinstance(costs, KeptPairs) else None
    if kept is not None:   # a cluster run's pairs, left on its workers
        if local is None:
            raise ValueError("analyse: pairs kept on a cluster's workers need local=")
        table = pairs = None
        starter = kept.start_assign
    else:
        table = costs if isinstance(costs, pd.DataFrame) else costs.to_frame()
        pairs = as_pairs(costs, demand.index, supply.index)   # the one coding of the run
        starter = partial(start_assign, pairs)
    max_cost, assignment_max_cost = default_max_cost(threshold, max_cost,
                                                     assignment_max_cost=assignment_max_cost)
    pending = None
    if assignment:   # first: a large exact solve runs elsewhere while the stages below run
        with step("capacity-constrained assignment"):
            pending = starter(demand, supply, max_cost=assignment_max_cost,
                              mode=assignment_mode, client=client,
                              locality=lambda: solver_locality(cells, schools),
                              parts=lambda: assignment_parts(out, districts, partition),
                              elsewhere_pairs=exact.SOLVE_ELSEWHERE_PAIRS)
    try:
        return _stages(out, schools, districts, pairs, table, demand, supply, pending,
                       kept=kept,
                       threshold=threshold, method=method, decay=decay,
                       decay_param=decay_param, max_cost=max_cost,
                       assignment_max_cost=assignment_max_cost, assignment=assignment,
                       urban_col=urban_col, local=local, district_group=district_group,
                       cell_districts=cell_districts, meanwhile=meanwhile)
    finally:   # an exception or Ctrl-C in the stages below leaves no child process behind
        if pending is not None:
            pending.cancel()


def _stages(out: gpd.GeoDataFrame, schools: gpd.GeoDataFrame,
            districts: gpd.GeoDataFrame | None, pairs: Pairs, table: pd.DataFrame,
            demand: pd.Series, supply: pd.Series, pending: Any, *, threshold: float,
            method: str, decay: str | None, decay_param: Any, max_cost: float,
            assignment_max_cost: float, assignment: bool, urban_col: str | None,
            local: pd.DataFrame | None, district_group: str | None,
            cell_districts: Any = None, kept: Any = None,
            meanwhile: Callable[[pd.DataFrame, gpd.GeoDataFrame], Any] | None = None
            ) -> Results:
    """:func:`analyse` after the assignment's start: the stages that do not need it, then
    the assignment's join, then those that do (``out`` is the copy of the cells)."""
    from geoequity.access import cumulative, supply_ratio, supply_ratio_of, two_stage_fca
    from geoequity.equity import spatial_equity
    from geoequity.gaps import seat_gaps

    out["district"] = district_names(out, districts) if cell_districts is None else cell_districts
    if district_group is not None:
        out[district_group] = district_groups(out["district"], districts, district_group)
    sch = schools.copy()
    sch["district"] = district_names(sch, districts)
    check_coverage(out, sch, districts)
    # the stages that need no assignment, while a large one is solved elsewhere
    seats_within = (cumulative(pairs, supply, threshold, demand=demand)
                    if local is None else local["seats_within"])
    fca = None
    if local is not None:
        fca = local["fca"]
    elif method != "2sfca":
        fca = two_stage_fca(pairs, demand, supply, threshold)
    crowd = (supply_ratio(pairs, demand, supply, threshold) if kept is None
             else supply_ratio_of(kept.children_within, supply))
    with step("urban/rural classes"):
        urban = _urban_class(out, districts, urban_col)
    catchments = None
    try:
        from geoequity.catchments import nearest_catchments
    except ImportError:  # pragma: no cover - catchments not installed
        nearest_catchments = None
    if nearest_catchments is not None:
        with step("nearest-school catchments"):
            catchments = nearest_catchments(pairs, out, nearest_school=local)
    if meanwhile is not None and table is not None:   # before the join: a solve elsewhere
        meanwhile(table, out)                          # runs meanwhile (when one does)
    res = report = None
    if pending is not None:
        with step("capacity-constrained assignment (joining the solve)"):
            res, report = pending.result()
        if report.mode == "decomposed":
            info(report.text())
    with step("accessibility and seat gaps"):
        gaps = seat_gaps(pairs, demand, supply, threshold=threshold, method=method, decay=decay,
                         decay_param=decay_param, cell_district=out["district"],
                         school_district=sch["district"], assign=False, assignment=res,
                         max_cost=max_cost, local=local)
        # the nearest school at any cost up to max_cost, not only within the threshold
        out["nearest_id"] = gaps.cells["nearest_id"]
        out["nearest_cost"] = gaps.cells["nearest_cost"]
        out["beyond"] = ~(out["nearest_cost"] <= threshold)
        out["seats_within"] = seats_within
        out["access"] = gaps.cells["access"]
        if fca is None:
            fca = out["access"]
        out["access_index"] = access_index(fca, gaps.totals)
    sch["children_within"] = crowd["children"].reindex(sch.index)
    sch["supply_ratio"] = crowd["seats_per_child"].reindex(sch.index)
    split = 0
    if res is not None:
        for col in ("assigned", "unassigned", "school"):
            out[col] = gaps.cells[col]
        for col in ("assigned", "spare", "overflow"):
            sch[col] = res.schools[col].reindex(sch.index)
        sch["utilisation"] = np.where(sch["seats"] > 0, sch["assigned"] / sch["seats"], np.nan)
        split = int(res.split_origins)
    out["urban"] = urban
    _school_classes(sch, out, urban_col)
    district_table = None
    if districts is not None:
        district_table = district_summary(gaps.districts, out, sch)
    equity, theil = spatial_equity(out, children_col="children", access_col="access",
                                   cost_col="nearest_cost",
                                   gap_col="unassigned" if res is not None else None,
                                   groups=equity_groupings(district_group), threshold=threshold)
    summary = run_summary(gaps.totals, supply, len(sch), threshold=threshold, method=method,
                          split=split, report=report, theil=theil,
                          district_group=district_group, assigned=res is not None)
    return Results(cells=out, schools=sch, districts=districts, district_table=district_table,
                   equity=equity, theil=theil, costs=table, catchments=catchments,
                   summary=summary, pairs=pairs, kept=kept,
                   solve=pending.figures if pending is not None else {},
                   options={"threshold": threshold, "method": method, "decay": decay,
                            "decay_param": decay_param, "max_cost": max_cost,
                            "assignment_max_cost": assignment_max_cost,
                            "assignment": assignment})


def run_summary(totals: dict[str, Any], supply: pd.Series, schools: int, *,
                threshold: float, method: str, split: int, report: Any,
                theil: pd.DataFrame, district_group: str | None,
                assigned: bool) -> dict[str, Any]:
    """The run's ``summary`` (``summary.json``): the figures over all cells from the seat
    gaps' ``totals`` (:func:`summary_figures`, of every cell in process or of the pieces'
    sums), the seats, the settings, the assignment's report and the Theil parts."""
    figures = summary_figures(totals, assignment=assigned)
    children = figures["children"]
    return {
        "cells": figures["cells"], "schools": schools, "children": children,
        "seats": float(supply.sum()),
        "seats_per_child": float(supply.sum() / children) if children else None,
        "threshold": threshold, "method": method,
        **{k: figures[k] for k in ("children_beyond_threshold", "cells_without_access",
                                   "children_unassigned")},
        "cells_split_between_schools": split,
        **(report.summary() if report is not None else {}),
        **theil_summary(theil, district_group),
    }


def district_summary(gap_table: pd.DataFrame, cells: pd.DataFrame,
                     schools: pd.DataFrame) -> pd.DataFrame:
    """The district table of :func:`geoequity.gaps.seat_gaps` with travel and an ``(all)`` row.

    Columns: ``children``, ``seats``, ``seats_per_child``, ``shortfall`` (children - seats;
    negative = spare seats), ``children_beyond`` (no school within the threshold),
    ``share_beyond``, ``mean_nearest_cost`` (children-weighted, over cells that reach a school
    at all), ``children_no_school`` (the children that average leaves out: no school within the
    cost table's longest trip), ``schools``, ``cells``, and ``assigned``/``unassigned`` when
    the assignment ran.
    ``assigned + unassigned = children`` in every row.

    ``cells`` (``district``, ``children``, ``nearest_cost``) are one piece of
    :func:`district_summary_of`.
    """
    return district_summary_of(gap_table, [district_travel_piece(cells)], schools)


def district_travel_piece(cells: pd.DataFrame) -> pd.DataFrame:
    """A piece's travel sums per district (sorted): ``wcost`` and ``wreach``
    (:func:`geoequity.gaps.travel_weights`), as :class:`geoequity.gaps.GapSums` has them."""
    wcost, wreach = travel_weights(cells["children"], cells["nearest_cost"])
    return pd.DataFrame({"wcost": wcost, "wreach": wreach}).groupby(
        cells["district"].to_numpy(), sort=True).sum()


def district_summary_of(gap_table: pd.DataFrame, travel: list[pd.DataFrame],
                        schools: pd.DataFrame) -> pd.DataFrame:
    """:func:`district_summary` from the pieces' travel sums per district (``wcost`` and
    ``wreach`` columns: :func:`district_travel_piece`, or the ``districts`` of
    :class:`geoequity.gaps.GapSums`; one frame per piece, in any order) instead of the cells:
    the same table (the order of the additions aside)."""
    frames = [f[["wcost", "wreach"]] for f in travel]
    travel = (pd.concat(frames).groupby(level=0, sort=True).sum() if frames
              else pd.DataFrame({"wcost": [], "wreach": []}))
    travel.columns = ["_wcost", "_wreach"]
    t = pd.DataFrame(gap_table).drop(columns="geometry", errors="ignore")
    t = t.rename(columns={"beyond_threshold": "children_beyond"})
    t["schools"] = schools.groupby("district").size().reindex(t.index).fillna(0).astype(int)
    t = t.join(travel)
    total = t.sum(numeric_only=True)
    t.loc["(all)"] = total
    kids = t["children"].where(t["children"] > 0)
    t["seats_per_child"] = t["seats"] / kids
    t["shortfall"] = t["children"] - t["seats"]
    t["share_beyond"] = t["children_beyond"] / kids
    t["mean_nearest_cost"] = t["_wcost"] / t["_wreach"].where(t["_wreach"] > 0)
    t["children_no_school"] = (t["children"] - t["_wreach"]).clip(lower=0.0)
    cols = ["children", "seats", "seats_per_child", "shortfall", "children_beyond",
            "share_beyond", "mean_nearest_cost", "children_no_school", "schools", "cells"]
    cols += [c for c in ("assigned", "unassigned") if c in t and t[c].notna().any()]
    t = t[cols]
    t.index.name = "district"
    return t.reset_index()


def access_index(fca: Any, totals: dict[str, Any]) -> Any:
    """The cells' ``access_index``: their 2SFCA score over the study area's seats per child
    (``totals["fair_share"]`` of :func:`geoequity.gaps.seat_gaps` or
    :func:`geoequity.gaps.seat_gaps_of`): 1.0 is a fair share."""
    return fca / totals["fair_share"]


def finish_piece(piece: pd.DataFrame, totals: dict[str, Any]) -> pd.DataFrame:
    """A piece's columns that need the study area's figures, as :func:`analyse` gives them.

    ``piece``: some of the run's cells with ``access`` and, when the run's measure is not
    2SFCA, ``fca`` (its 2SFCA score, the partitions' ``local``; used instead of ``access``);
    ``totals``: :func:`geoequity.gaps.seat_gaps_of`'s (its ``fair_share``). Returns a new
    frame with ``access_index`` (:func:`access_index`) after ``access``, and no ``fca``.
    """
    out = piece.copy(deep=False)
    value = access_index(out["fca"] if "fca" in out.columns else out["access"], totals)
    out = out.drop(columns=["fca", "access_index"], errors="ignore")
    out.insert(out.columns.get_loc("access") + 1, "access_index", value)
    return out


def summary_figures(totals: dict[str, Any], *, assignment: bool) -> dict[str, Any]:
    """The run summary's figures over all cells, from the seat gaps' ``totals`` (of every
    cell in process, of the pieces' sums: :func:`geoequity.gaps.seat_gaps_of`): ``cells``,
    ``children``, ``children_beyond_threshold``, ``cells_without_access`` (``access``
    NaN) and ``children_unassigned`` (None without the assignment)."""
    return {"cells": int(totals["cells"]), "children": float(totals["children"]),
            "children_beyond_threshold": float(totals["beyond_threshold"]),
            "cells_without_access": int(totals["cells_without_access"]),
            "children_unassigned": float(totals["unassigned"]) if assignment else None}
