"""A cluster run whose cells stay on the workers: the global steps over the pieces.

A cluster run (:mod:`geoequity.distributed`) keeps each partition's cost pairs
(:class:`~geoequity.distributed.KeptPairs`) and its core cells with their measures
(:class:`~geoequity.distributed.KeptCells`, one *piece* per partition) on the workers. The
global steps of :func:`geoequity.pipeline.analyse` are then run over the pieces: each step
is a pair of functions of the module that owns its rule, ``<thing>_piece`` run where each
piece lies (a small summary comes back) and ``<thing>_of`` combining the summaries here into
what the in-process function gives. The client holds the schools, the districts and those
summaries; never every cell.

1. :func:`hand_over`: the cells read here become the pieces (each partition's core cells,
   with the district of each and its group), the assignment starts (on a worker: the
   pairs stay where they are), and the caller lets its cells go;
2. :func:`analyse_piecewise`: the urban/rural classes, the catchments, the assignment's
   columns, the seat gaps' district table and summary figures, the equity tables, each
   from the pieces, in the order ``analyse`` computes them; the :class:`Results` carry the
   pieces (``Results.pieces``) instead of the cells (``Results.cells`` is None), and the
   outputs are written from them (:func:`geoequity.outputs.write_outputs`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoequity._memory import trim_memory
from geoequity._progress import info, step
from geoequity.io.districts import OUTSIDE

__all__ = ["hand_over", "analyse_piecewise", "HandedOver"]


class HandedOver:
    """What :func:`hand_over` gives :func:`analyse_piecewise`: the pieces, the pending
    assignment (None without one) and the figures of the cells taken before they went."""

    def __init__(self, pieces, pending, *, columns: list[str], catchments=None) -> None:
        self.pieces = pieces
        self.pending = pending
        self.columns = columns   # the cells' columns before the run's own
        #: point cells' catchments, made before the cells went (their Voronoi polygons
        #: need every neighbour: a piece's own points would cut them at its border)
        self.catchments = catchments

    def cancel(self) -> None:
        """Stop the assignment and let the workers drop the pieces (every way out)."""
        if self.pending is not None:
            self.pending.cancel()
        self.pieces.release()


def hand_over(cells: gpd.GeoDataFrame, schools: gpd.GeoDataFrame, kept, *,
              local: pd.DataFrame, cell_districts, districts: gpd.GeoDataFrame | None,
              district_group: str | None, assignment: bool, assignment_max_cost: float,
              assignment_mode: str, partition: Any, client: Any,
              reader: Any = None, read: dict | None = None) -> HandedOver:
    """Make the pieces of ``cells`` (the client's read, with ``cell_districts``; or the
    :class:`~geoequity.distributed.WorkerCells` of a read by the workers) where the
    partitions' answers lie, and start the assignment; the caller then lets ``cells`` go.
    ``reader``: the population's read by window (:func:`geoequity.distributed.kept_cells`):
    each worker reads its partition's cells itself, so only their ids travel. ``read``:
    the partitions' own reads (:func:`geoequity.distributed.window_costs`): each piece is
    made from its partition's read."""
    from geoequity import assignment as exact
    from geoequity.distributed import WorkerCells, kept_cells
    from geoequity.io.vector import box_centres
    from geoequity.pipeline import (
        assignment_parts,
        check_group_column,
        district_groups,
        solver_locality,
    )

    light = isinstance(cells, WorkerCells)   # read by the workers: the client holds none
    columns = list(cells.columns)
    check_group_column(pd.DataFrame(columns=columns), district_group)   # before any piece

    def with_groups(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        if district_group is not None:
            frame[district_group] = district_groups(frame["district"], districts,
                                                    district_group)
        return frame

    frame = None
    if not light:
        frame = cells.copy(deep=False)
        frame["district"] = (cell_districts if cell_districts is not None
                             else np.full(len(frame), OUTSIDE, dtype=object))
        frame = with_groups(frame)
    # the solve first: its worker merges the pairs, then solves in a child process (its
    # thread free again), while the pieces are made
    pending = pieces = None
    try:
        if assignment:
            supply = schools["seats"].astype(float)
            # a read by the workers: the cells stay there, numbered and solved (exact or
            # decomposed) where they lie; else the parts of a decomposition are the cells'
            decomposed = not light and kept.decomposed(assignment_mode)
            with step("capacity-constrained assignment"):
                pending = kept.start_assign(
                    frame["children"].astype(float) if frame is not None else None, supply,
                    max_cost=assignment_max_cost, mode=assignment_mode, client=client,
                    locality=None if frame is None else solver_locality(frame, schools),
                    parts=(assignment_parts(frame, districts, partition) if decomposed
                           else None),
                    school_centres=box_centres(schools),
                    elsewhere_pairs=exact.SOLVE_ELSEWHERE_PAIRS)
        group = None
        if read is not None and district_group is not None:   # each district's group
            names = pd.Series([*districts["district"].astype(str).unique(), OUTSIDE])
            group = (district_group, dict(zip(names, district_groups(
                names, districts, district_group), strict=True)))
        pieces = kept_cells(kept, frame, schools.index, reader=reader, columns=(
            "district", *([district_group] if district_group is not None else [])),
            read=read, group=group)
        catchments = None
        stand_ins = light or cells.attrs.get("points_of") == "polygons"   # polygons as points
        if not stand_ins and (shapely.get_type_id(np.asarray(frame.geometry.array)) == 0).any():
            from geoequity.catchments import nearest_catchments

            with step("nearest-school catchments"):   # point cells: the whole's Voronoi
                catchments = nearest_catchments(None, frame, nearest_school=local)
    except BaseException:
        if pending is not None:
            pending.cancel()
        if pieces is not None:
            pieces.release()
        raise
    return HandedOver(pieces, pending, columns=columns, catchments=catchments)


# ---- functions run where each piece lies ----------------------------------------------------

def _with_urban(piece: gpd.GeoDataFrame, districts, urban_col: str | None,
                grid) -> gpd.GeoDataFrame:
    """The piece with its ``urban`` class (:func:`geoequity.urban.urban_class`, the run's
    rule)."""
    from geoequity.urban import urban_class

    out = piece.copy(deep=False)
    out["urban"] = urban_class(piece, districts, urban_col, grid=grid)
    return out


def _with_assignment(piece: gpd.GeoDataFrame, columns: pd.DataFrame) -> gpd.GeoDataFrame:
    """The piece with the assignment's per-cell columns (``assigned``, ``unassigned``,
    ``school``), given in the piece's order."""
    out = piece.copy(deep=False)
    for col in columns.columns:   # in their dtypes (a school id's str or Int64), all missing too
        out[col] = pd.Series(columns[col].array, index=out.index)
    return out


def _finished(piece: gpd.GeoDataFrame, totals: dict, *, threshold: float,
              columns: list[str]) -> gpd.GeoDataFrame:
    """The piece's last columns, as ``analyse`` gives them (``beyond``; ``access_index``:
    :func:`geoequity.pipeline.finish_piece`), in ``analyse``'s order of the columns."""
    from geoequity.pipeline import finish_piece

    out = finish_piece(piece, totals)
    out["beyond"] = ~(out["nearest_cost"] <= threshold)
    return out[[c for c in columns if c in out.columns]]


def _school_values(piece: gpd.GeoDataFrame, order: np.ndarray, schools, column: str):
    """:func:`geoequity.urban.cell_value_piece` with the piece's places in the run's order
    (a school on the edge of two cells takes the first, as in one process)."""
    from geoequity.urban import cell_value_piece

    return cell_value_piece(piece, schools, column, order=order)


# ---- the global steps -------------------------------------------------------------------------

def _cell_columns(first: list[str], district_group: str | None, assigned: bool) -> list[str]:
    """The columns of ``Results.cells`` in ``analyse``'s order."""
    cols = [*first, "district", *([district_group] if district_group else []),
            "nearest_id", "nearest_cost", "beyond", "seats_within", "access", "access_index"]
    if assigned:
        cols += ["assigned", "unassigned", "school"]
    return [*dict.fromkeys([*cols, "urban"])]


def analyse_piecewise(handed: HandedOver, kept, schools: gpd.GeoDataFrame,
                      districts: gpd.GeoDataFrame | None, *, threshold: float, method: str,
                      decay: Any, decay_param: Any, max_cost: float,
                      assignment_max_cost: float, assignment: bool, urban_col: str | None,
                      district_group: str | None):
    """:func:`geoequity.pipeline.analyse` over the pieces of :func:`hand_over`: the same
    tables, with ``Results.cells`` None and ``Results.cell_pieces`` the pieces, finished
    (the columns of ``Results.cells``), and ``Results.lorenz`` the report's Lorenz curves."""
    from geoequity import urban as U
    from geoequity.access import supply_ratio_of
    from geoequity.catchments import catchments_of, catchments_piece
    from geoequity.gaps import gaps_piece, seat_gaps_of
    from geoequity.pipeline import (
        Results,
        check_coverage_of,
        coverage_piece,
        district_names,
        district_summary_of,
        run_summary,
    )

    pieces, pending = handed.pieces, handed.pending
    supply = schools["seats"].astype(float)
    sch = schools.copy()
    sch["district"] = district_names(sch, districts)
    with step("the pieces, and the coverage check"):   # (the first step waits for the pieces)
        check_coverage_of(pieces.summaries(coverage_piece, sch, what="coverage"), sch,
                          districts)
    crowd = supply_ratio_of(kept.children_within, supply)
    with step("urban/rural classes"):
        grid = None
        if not urban_col:
            col = U.residents_column_of(pieces.summaries(U.residents_column_piece,
                                                         what="residents"))
            origin = U.urban_origin_of(pieces.summaries(U.urban_origin_piece, what="origin"))
            grid = U.urban_classes_of(pieces.summaries(U.urban_piece, col, origin,
                                                       what="km-sums"))
        pieces.update(_with_urban, districts if urban_col else None, urban_col, grid,
                      what="urban")
    catchments = handed.catchments
    if catchments is None:   # polygon cells: each piece's, united across the borders
        with step("nearest-school catchments"):
            catchments = catchments_of(pieces.summaries(catchments_piece, what="catchments"))
    # what needs no assignment, while it is solved: the schools' classes, the Lorenz curves
    # (the report's) of access
    classes = _school_classes(pieces, sch, handed.columns, urban_col)
    with step("Lorenz curves of access"):
        lorenz = _lorenz(pieces)
    res = report = None
    solve: dict = {}
    if pending is not None:
        with step("capacity-constrained assignment (joining the solve)"):
            res, report = pending.result()
        solve = pending.figures
        # each piece's columns: built where it was solved (a read by the workers: the
        # client holds no cell), else cut here from the result's
        per_piece = pending.columns
        handed.pending = pending = None   # what it held of every cell goes now
        if report.mode == "decomposed":
            info(report.text())
        if per_piece is None:
            from geoequity.distributed import ASSIGNMENT_COLUMNS

            cols = res.origins[ASSIGNMENT_COLUMNS]
            per_piece = [cols.iloc[core] for core in pieces.positions]
            del cols
        pieces.update(_with_assignment, what="assignment", per_piece=per_piece)
        del per_piece
        # the per-cell and per-pair tables went to the pieces: the steps below take the
        # schools' and the figures only
        res = replace(res, flows=res.flows.iloc[:0], unassigned=res.unassigned.iloc[:0],
                      origins=res.origins.iloc[:0])
        trim_memory()
    # the equity's pieces start behind the gaps' (both take the cells as assigned), so the
    # workers compute them while this process combines the gaps
    gaps_jobs = pieces.each(gaps_piece, threshold=threshold, what="gaps")
    full: list = []
    try:
        full = _start_equity(pieces, res is not None, district_group, threshold)
        with step("accessibility and seat gaps"):
            sums = pieces.collect(gaps_jobs)
            gaps = seat_gaps_of(sums, supply, threshold=threshold,
                                school_district=sch["district"], districts=districts,
                                assignment=res, with_districts=True)
            pieces.update(_finished, gaps.totals, threshold=threshold, what="finish",
                          columns=_cell_columns(handed.columns, district_group,
                                                res is not None))
        with step("equity statistics"):
            equity, theil = _equity_of(pieces, full)
    finally:
        pieces.drop([*gaps_jobs, *full])   # (collected ones: gone already)
    sch["children_within"] = crowd["children"].reindex(sch.index)
    sch["supply_ratio"] = crowd["seats_per_child"].reindex(sch.index)
    split = 0
    if res is not None:
        for c in ("assigned", "spare", "overflow"):
            sch[c] = res.schools[c].reindex(sch.index)
        sch["utilisation"] = np.where(sch["seats"] > 0, sch["assigned"] / sch["seats"], np.nan)
        split = int(res.split_origins)
    for c, values in classes.items():   # (after the assignment's, as in analyse)
        sch[c] = values
    district_table = None
    if districts is not None:
        district_table = district_summary_of(gaps.districts, [s.districts for s in sums], sch)
    summary = run_summary(gaps.totals, supply, len(sch), threshold=threshold, method=method,
                          split=split, report=report, theil=theil,
                          district_group=district_group, assigned=res is not None)
    results = Results(cells=None, schools=sch, districts=districts,
                      district_table=district_table, equity=equity, theil=theil, costs=None,
                      catchments=catchments, summary=summary, pairs=None, kept=kept,
                      solve=solve,
                      options={"threshold": threshold, "method": method, "decay": decay,
                               "decay_param": decay_param, "max_cost": max_cost,
                               "assignment_max_cost": assignment_max_cost,
                               "assignment": assignment})
    results.cell_pieces = pieces
    results.lorenz = lorenz
    return results


def _school_classes(pieces, sch: gpd.GeoDataFrame, columns: list[str],
                    urban_col: str | None) -> dict[str, pd.Series]:
    """The schools' classes (``pipeline._school_classes``) to add to ``sch``: their own
    column, else their cell's (:func:`_school_values` on each piece)."""
    from geoequity import urban as U

    out: dict[str, pd.Series] = {}
    if urban_col and urban_col in sch.columns and urban_col != "urban":
        out["urban"] = sch[urban_col].astype(str)
    for c in ("urban", "township"):
        if c not in sch.columns and c not in out and (c == "urban" or c in columns):
            out[c] = U.cell_values_of(pieces.summaries(_school_values, sch, c, what="schools",
                                                       per_piece=_orders(pieces)), sch)
    return out


def _start_equity(pieces, assigned: bool, district_group: str | None,
                  threshold: float) -> list:
    """Start :func:`geoequity.equity.equity_piece` on every piece (the futures, left on the
    workers for :func:`_equity_of`)."""
    from geoequity.equity import equity_piece
    from geoequity.pipeline import equity_groupings

    return pieces.each(equity_piece, what="equity", children_col="children",
                       access_col="access", cost_col="nearest_cost",
                       gap_col="unassigned" if assigned else None,
                       groups=equity_groupings(district_group), threshold=threshold)


def _equity_of(pieces, full: list):
    """The equity tables (:func:`geoequity.equity.spatial_equity_of`: the pieces' sums and
    the Gini's pair sums by ranges of the scores, each range on a worker) from the pieces'
    :func:`_start_equity` futures ``full`` (the caller drops them)."""
    from geoequity.equity import (
        EquityPiece,
        equity_bounds,
        equity_labels,
        equity_range,
        equity_split,
        spatial_equity_of,
    )

    small = pieces.collect(pieces.each_result(EquityPiece.small, full, what="small"))
    bounds = equity_bounds(small)
    ranges = []
    if bounds is not None:
        labels = equity_labels(small)
        ranges = pieces.by_ranges(equity_split, full, equity_range, len(bounds) + 1,
                                  bounds, labels, what="gini",
                                  meta=equity_split(small[0], bounds, labels))
    return spatial_equity_of(small, ranges)


def _lorenz(pieces):
    """The report's Lorenz curves of access (:func:`geoequity.equity.lorenz_of`) from the
    pieces, by urban class."""
    from geoequity.equity import LorenzPiece, lorenz_at, lorenz_of, lorenz_piece, lorenz_values

    lor = pieces.each(lorenz_piece, what="lorenz", access_col="access",
                      children_col="children", by="urban")
    try:
        values = lorenz_values(pieces.collect(pieces.each_result(LorenzPiece.small, lor,
                                                                 what="lorenz-small")))
        return lorenz_of(values, pieces.collect(pieces.each_result(lorenz_at, lor, values,
                                                                   what="lorenz-at")))
    finally:
        pieces.drop(lor)


def _orders(pieces) -> list:
    """Each piece's cells' places in the run's order: its keys (futures: where the piece
    lies, :attr:`~geoequity.distributed.KeptCells.keys`) or its positions (None: its ids are
    that order)."""
    return pieces.keys or pieces.positions or [None] * len(pieces.futures)
