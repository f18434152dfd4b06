"""The study area's gap tables, district table, coverage check and run figures from pieces.

A piece is some of a run's cells (a partition's core cells; every cell in exactly one piece,
in any order). ``<thing>_of([<thing>_piece(p) for p in pieces])`` must equal what the
in-process run computes over all cells: labels, counts and dtypes exactly, floats to 1e-12
relative (only the order of the additions differs). The references are the in-process
functions (their code path was checked unchanged against the run before the pieces: the demo
run's tables came out bit for bit equal) and their existing hand-computed tests
(tests/test_gaps.py), plus a case computed here by hand and independent group-bys of the
demo's cells.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoequity._progress import set_quiet
from geoequity.access import two_stage_fca
from geoequity.gaps import GapSums, gaps_piece, seat_gaps, seat_gaps_of
from geoequity.pipeline import (
    analyse,
    check_coverage,
    check_coverage_of,
    coverage_piece,
    district_summary,
    district_summary_of,
    district_travel_piece,
    finish_piece,
    summary_figures,
)
from tests.conftest import REPO
from tests.test_gaps import CELLS, COSTS, DISTRICTS, SCHOOLS

RTOL = 1e-12
SEEDS = [0, 1, 2, 3]


def _random_split(frame: pd.DataFrame, seed: int, n: int = 4) -> list[pd.DataFrame]:
    """``n`` pieces of randomly drawn rows, each in a shuffled order, plus an empty piece,
    the pieces in a shuffled order."""
    rng = np.random.default_rng(seed)
    part = rng.integers(0, n, len(frame))
    order = rng.permutation(len(frame))
    pieces = [frame.iloc[order[part[order] == k]] for k in range(n)] + [frame.iloc[:0]]
    return [pieces[i] for i in rng.permutation(len(pieces))]


def _tiles(frame: gpd.GeoDataFrame, size: float) -> list[pd.DataFrame]:
    """Square tiles of ``size`` metres (a district spans several), the last tile first."""
    c = frame.geometry.centroid
    key = (np.floor(c.x / size).astype(int).astype(str) + "/"
           + np.floor(c.y / size).astype(int).astype(str))
    return [frame[key == k] for k in sorted(set(key), reverse=True)]


def _splits(frame: gpd.GeoDataFrame, tile: float) -> list[list[pd.DataFrame]]:
    """Random splits, tiles, one piece per district, and the whole as one piece."""
    by_district = [frame[frame["district"] == d] for d in frame["district"].unique()]
    tiles = [_tiles(frame, tile)] if "geometry" in frame.columns else []
    return [*(_random_split(frame, s) for s in SEEDS), *tiles, by_district, [frame]]


def _same_frame(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_index_equal(got.index, want.index, exact=True)
    for col in want.columns:
        g, w = got[col], want[col]
        if w.dtype.kind == "f":
            pd.testing.assert_series_equal(g, w, check_exact=False, rtol=RTOL, atol=0)
        else:   # labels, counts, classes and geometry exactly, dtype included
            pd.testing.assert_series_equal(g, w, check_exact=True)


def _same_figures(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for k, w in want.items():
        g = got[k]
        assert type(g) is type(w), k
        if isinstance(w, float) and math.isnan(w):
            assert math.isnan(g), k
        elif isinstance(w, float):
            assert g == pytest.approx(w, rel=RTOL, abs=0), k
        else:
            assert g == w, k


def _gap_piece_columns(g, cell_district: pd.Series | None) -> gpd.GeoDataFrame:
    """seat_gaps' per-cell table as a run's cells: its columns and the cells' district."""
    cols = ["children", "access", "nearest_id", "nearest_cost", "assigned", "unassigned"]
    cells = g.cells[cols + [c for c in ("geometry",) if c in g.cells.columns]].copy()
    if g.assignment is None:
        cells = cells.drop(columns=["assigned", "unassigned"])
    if cell_district is not None:
        cells["district"] = cell_district.reindex(cells.index).fillna("(outside)")
    return cells


def _assert_gaps_from_pieces(g, pieces, supply, threshold, **kwargs) -> None:
    district_col = "district" if "district" in pieces[0].columns else None
    sums = [gaps_piece(p, threshold=threshold, district_col=district_col) for p in pieces]
    got = seat_gaps_of(sums, supply, threshold=threshold, assignment=g.assignment, **kwargs)
    assert got.cells is None
    _same_frame(got.catchments, g.catchments)
    if g.districts is None:
        assert got.districts is None
    else:
        _same_frame(got.districts, g.districts)
    _same_figures(got.totals, g.totals)


# --- the hand cases of tests/test_gaps.py --------------------------------------------------

HAND_DISTRICT = pd.Series({"a": "west", "b": "west", "c": "west", "d": "east"})


def _every_cell_alone(frame):
    return [frame.iloc[[i]] for i in range(len(frame))][::-1] + [frame.iloc[:0]]


def test_hand_case_with_assignment_from_pieces():
    g = seat_gaps(COSTS, CELLS, SCHOOLS, threshold=1000, districts=DISTRICTS,
                  assignment_max_cost=1000)
    cells = _gap_piece_columns(g, HAND_DISTRICT)
    for pieces in [*(_random_split(cells, s, n=3) for s in SEEDS), _every_cell_alone(cells)]:
        _assert_gaps_from_pieces(g, pieces, SCHOOLS, 1000, districts=DISTRICTS)
    # the figures tests/test_gaps.py computed by hand, once more from single-cell pieces
    got = seat_gaps_of([gaps_piece(p, threshold=1000) for p in _every_cell_alone(cells)],
                       SCHOOLS, threshold=1000, districts=DISTRICTS, assignment=g.assignment)
    assert got.districts.loc["west", "children"] == 60
    assert got.districts.loc["east", "shortfall"] == -20
    assert got.catchments.loc["S1", "children"] == 30
    assert got.totals["fair_share"] == pytest.approx(85 / 100, rel=RTOL)


def test_integer_school_ids_from_pieces():
    """Integer school ids: a piece's ``nearest_id`` is Int64 (as geoequity.nearest types
    it), NaN where no school is within the threshold."""
    schools = SCHOOLS.rename(index={"S1": 11, "S2": 22})
    costs = COSTS.assign(destination=COSTS["destination"].map({"S1": 11, "S2": 22}))
    g = seat_gaps(costs, CELLS, schools, threshold=1000, districts=DISTRICTS,
                  assignment_max_cost=1000)
    cells = _gap_piece_columns(g, HAND_DISTRICT)
    assert cells["nearest_id"].dtype == "Int64"
    for pieces in [*(_random_split(cells, s, n=3) for s in SEEDS), _every_cell_alone(cells)]:
        _assert_gaps_from_pieces(g, pieces, schools, 1000, districts=DISTRICTS)
    assert g.catchments.loc[11, "children"] == 30   # a, b (tests/test_gaps.py, by hand)


def test_hand_case_without_assignment_from_pieces():
    g = seat_gaps(COSTS, CELLS["children"], SCHOOLS["seats"], threshold=1000, assign=False,
                  cell_district=pd.Series({"a": "w", "b": "w", "c": "w", "d": "e"}),
                  school_district=pd.Series({"S1": "w", "S2": "e"}))
    cells = _gap_piece_columns(g, pd.Series({"a": "w", "b": "w", "c": "w", "d": "e"}))
    for pieces in [*(_random_split(cells, s, n=3) for s in SEEDS), _every_cell_alone(cells)]:
        _assert_gaps_from_pieces(g, pieces, SCHOOLS["seats"], 1000,
                                 school_district=pd.Series({"S1": "w", "S2": "e"}))
    # no district at all: no district table from the pieces either
    g = seat_gaps(COSTS, CELLS["children"], SCHOOLS["seats"], threshold=1000, assign=False)
    cells = _gap_piece_columns(g, None)
    for seed in SEEDS:
        _assert_gaps_from_pieces(g, _random_split(cells, seed, n=3), SCHOOLS["seats"], 1000)


def test_a_run_by_hand_from_pieces():
    """Two pieces, district "north" in both, "east" (in the layer) with no cell, a school
    outside every district, a cell with no school within max_cost, a district of 0 children.

    piece 1: n1 (north, 10 children, nearest S1 at 400), n2 (north, 30, S2 at 1500: beyond
             the threshold 1000), s1 (south, 0 children, S1 at 100)
    piece 2: n3 (north, 20, S1 at 600), o1 ((outside), 40, no school within max_cost)
    schools: S1 north 50 seats, S2 south 10, S3 (outside) 5
    """
    idx1, idx2 = ["n1", "n2", "s1"], ["n3", "o1"]
    p1 = pd.DataFrame({"children": [10.0, 30.0, 0.0], "district": ["north", "north", "south"],
                       "nearest_id": ["S1", "S2", "S1"], "nearest_cost": [400.0, 1500.0, 100.0],
                       "access": [2.0, np.nan, 2.0], "fca": [1.5, np.nan, 1.5],
                       "assigned": [10.0, 20.0, 0.0], "unassigned": [0.0, 10.0, 0.0]},
                      index=pd.Index(idx1, name="cell"))
    p2 = pd.DataFrame({"children": [20.0, 40.0], "district": ["north", "(outside)"],
                       "nearest_id": ["S1", np.nan], "nearest_cost": [600.0, np.nan],
                       "access": [3.0, np.nan], "fca": [2.5, np.nan],
                       "assigned": [20.0, 0.0], "unassigned": [0.0, 40.0]},
                      index=pd.Index(idx2, name="cell"))
    seats = pd.Series({"S1": 50.0, "S2": 10.0, "S3": 5.0})
    school_district = pd.Series({"S1": "north", "S2": "south", "S3": "(outside)"})
    layer = gpd.GeoDataFrame({"district": ["south", "north", "east"]},
                             geometry=[shapely.box(0, 0, 1, 1)] * 3)
    sums = [gaps_piece(p, threshold=1000) for p in (p2, p1)]
    g = seat_gaps_of(sums, seats, threshold=1000, school_district=school_district,
                     districts=layer)
    d = g.districts
    assert d.index.tolist() == ["east", "north", "south", "(outside)"]
    assert d["cells"].tolist() == [0, 3, 1, 1]
    assert d["children"].tolist() == [0, 60, 0, 40]
    assert d["seats"].tolist() == [0, 50, 10, 5]
    assert d["beyond_threshold"].tolist() == [0, 30, 0, 40]   # n2 beyond 1000, o1 no school
    assert d["shortfall"].tolist() == [0, 10, -10, 35]
    assert d.loc["north", "seats_per_child"] == pytest.approx(50 / 60, rel=RTOL)
    assert np.isnan(d.loc["south", "seats_per_child"])       # 0 children
    assert d["assigned"].tolist() == [0, 50, 0, 0] and d["unassigned"].tolist() == [0, 10, 0, 40]
    t = g.totals
    assert (t["cells"], t["children"], t["seats"]) == (5, 100.0, 65.0)
    assert t["fair_share"] == pytest.approx(0.65, rel=RTOL)
    assert (t["beyond_threshold"], t["no_access_cells"], t["cells_without_access"]) == (70, 2, 2)
    k = g.catchments   # nearest school within 1000: n1, n3, s1 -> S1; n2 is beyond
    assert k["cells"].tolist() == [3, 0, 0] and k["children"].tolist() == [30, 0, 0]
    # the run's district table: travel over cells reaching a school (all but o1)
    sch = pd.DataFrame({"district": school_district})
    table = district_summary_of(g.districts, [s.districts for s in sums], sch)
    table = table.set_index("district")
    assert table.loc["north", "mean_nearest_cost"] == pytest.approx(
        (10 * 400 + 30 * 1500 + 20 * 600) / 60, rel=RTOL)
    assert np.isnan(table.loc["south", "mean_nearest_cost"])   # 0 children reach
    assert np.isnan(table.loc["(outside)", "mean_nearest_cost"])
    assert table.loc["(outside)", "children_no_school"] == 40
    assert table.loc["(all)", "mean_nearest_cost"] == pytest.approx(61000 / 60, rel=RTOL)
    assert table.loc["(all)", "share_beyond"] == pytest.approx(70 / 100, rel=RTOL)
    assert table["schools"].tolist() == [0, 1, 1, 1, 3]
    assert table.loc["(all)", "unassigned"] == 50
    # the per-cell figure that needs the study area's: fca / (65 / 100), after access
    done = finish_piece(p1, g.totals)
    assert list(done.columns) == ["children", "district", "nearest_id", "nearest_cost",
                                  "access", "access_index", "assigned", "unassigned"]
    assert done["access_index"].tolist()[0] == pytest.approx(1.5 / 0.65, rel=RTOL)
    assert np.isnan(done["access_index"].iloc[1])
    assert "access_index" not in p1.columns   # the piece itself is left as it was
    assert summary_figures(g.totals, assignment=False) == {
        "cells": 5, "children": 100.0, "children_beyond_threshold": 70.0,
        "cells_without_access": 2, "children_unassigned": None}


def test_empty_pieces():
    g = seat_gaps(COSTS, CELLS, SCHOOLS, threshold=1000, districts=DISTRICTS,
                  assignment_max_cost=1000)
    cells = _gap_piece_columns(g, HAND_DISTRICT)
    empty = gaps_piece(cells.iloc[:0], threshold=1000)
    assert isinstance(empty, GapSums) and len(empty.districts) == 0
    assert empty.districts["cells"].dtype == np.int64
    assert empty.figures["cells"] == 0 and empty.figures["children"] == 0.0
    _assert_gaps_from_pieces(g, [cells.iloc[:0], cells, cells.iloc[:0]], SCHOOLS, 1000,
                             districts=DISTRICTS)
    # a study area with no child at all is refused as in process
    with pytest.raises(Exception, match="no children"):
        seat_gaps_of([empty], SCHOOLS, threshold=1000)
    with pytest.raises(Exception, match="no children"):
        seat_gaps_of([], SCHOOLS, threshold=1000)


def test_e2sfca_access_index_from_pieces():
    """A run whose measure is not 2SFCA: access_index divides the cells' 2SFCA score
    (the pieces' ``fca``, a partition's local) by the fair share."""
    r = analyse(CELLS, SCHOOLS, COSTS, threshold=1000, districts=DISTRICTS, method="e2sfca")
    fca = two_stage_fca(COSTS, CELLS["children"], SCHOOLS["seats"], 1000)
    cells = r.cells.drop(columns=["access_index", "urban"]).assign(fca=fca)
    sums = [gaps_piece(p, threshold=1000) for p in _every_cell_alone(cells)]
    totals = seat_gaps_of(sums, r.schools["seats"], threshold=1000,
                          school_district=r.schools["district"], districts=DISTRICTS).totals
    for p in _every_cell_alone(cells):
        done = finish_piece(p, totals)
        _same_frame(done, r.cells.loc[p.index].drop(columns="urban"))


# --- the demo county --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo():
    """The demo scenario's layers, street costs, in-process run and seat gaps."""
    from geoequity.scenario import build_costs, load_scenario, read_inputs

    set_quiet(True)
    try:
        s = load_scenario(REPO / "data" / "demo.toml")
        cells, schools, districts = read_inputs(s)
        costs = build_costs(s, cells, schools)
        a = s.analysis
        run = analyse(cells, schools, costs, threshold=a["threshold"], districts=districts,
                      method=a["method"], max_cost=a["max_cost"],
                      assignment_max_cost=a["assignment_max_cost"])
        gaps = seat_gaps(costs, cells, schools, threshold=a["threshold"], districts=districts,
                         max_cost=a["max_cost"], assignment_max_cost=a["assignment_max_cost"])
    finally:
        set_quiet(False)
    return {"cells": cells, "schools": schools, "districts": districts, "run": run,
            "gaps": gaps, "threshold": a["threshold"]}


def test_demo_gap_tables_from_pieces(demo):
    g = demo["gaps"]
    assert g.assignment is not None and g.totals["unassigned"] > 0   # the assignment binds
    cells = _gap_piece_columns(g, demo["run"].cells["district"])
    for pieces in _splits(cells, 1500.0):
        _assert_gaps_from_pieces(g, pieces, demo["schools"], demo["threshold"],
                                 districts=demo["districts"])


def test_demo_run_tables_from_pieces(demo):
    """The run's district table, summary figures and finished cells from pieces of its
    cells (as the run has them before the urban classes)."""
    r, threshold = demo["run"], demo["threshold"]
    cells = r.cells.drop(columns=["access_index", "urban"])
    want_cells = r.cells.drop(columns="urban")
    assert r.district_table["district"].tolist()[-1] == "(all)"
    for pieces in _splits(cells, 1500.0):
        sums = [gaps_piece(p, threshold=threshold) for p in pieces]
        g = seat_gaps_of(sums, r.schools["seats"], threshold=threshold,
                         school_district=r.schools["district"], districts=demo["districts"],
                         assignment=demo["gaps"].assignment)
        table = district_summary_of(g.districts, [s.districts for s in sums], r.schools)
        _same_frame(table, r.district_table)
        figures = summary_figures(g.totals, assignment=True)
        _same_figures(figures, {k: r.summary[k] for k in figures})
        done = pd.concat([finish_piece(p, g.totals) for p in pieces]).loc[r.cells.index]
        _same_frame(done, want_cells)
    # the in-process district table itself, against a group-by of every cell
    by = r.cells.groupby("district")
    t = r.district_table.set_index("district")
    real = t.drop(index="(all)")
    assert real["cells"].to_dict() == by.size().reindex(real.index).fillna(0).to_dict()
    np.testing.assert_allclose(real["children"], by["children"].sum().reindex(real.index),
                               rtol=1e-12)
    reach = r.cells[r.cells["nearest_cost"].notna()]
    w = (reach["children"] * reach["nearest_cost"]).groupby(reach["district"]).sum()
    np.testing.assert_allclose(real["mean_nearest_cost"],
                               (w / reach.groupby("district")["children"].sum())
                               .reindex(real.index), rtol=1e-12)
    assert t.loc["(all)", "children"] == pytest.approx(r.cells["children"].sum(), rel=1e-12)


def test_district_summary_is_its_one_piece_case(demo):
    r = demo["run"]
    travel = [district_travel_piece(p) for p in _random_split(r.cells, 5)]
    gap_table = r.district_table.set_index("district").drop(index="(all)")
    gap_table = gap_table.rename(columns={"children_beyond": "beyond_threshold"})[
        ["seats", "cells", "children", "beyond_threshold", "assigned", "unassigned"]]
    _same_frame(district_summary_of(gap_table, travel, r.schools),
                district_summary(gap_table, r.cells, r.schools))


def _messages(capsys, call) -> tuple[str, str | None]:
    """What ``call`` says on stderr, and its error (None without)."""
    capsys.readouterr()
    try:
        call()
        error = None
    except Exception as exc:   # noqa: BLE001 - the message is what is compared
        error = str(exc)
    return capsys.readouterr().err, error


def test_coverage_check_from_pieces(demo, capsys):
    r = demo["run"]
    cells = r.cells[["children", "district", "geometry"]]
    schools = r.schools[["seats", "district", "geometry"]].copy()
    far = schools.index[:2]   # two schools moved 50 km away: said by id
    schools.loc[far, "geometry"] = schools.loc[far].geometry.translate(50_000, 0)
    layer = pd.concat([demo["districts"], demo["districts"].iloc[:1].assign(
        district="Empty")], ignore_index=True)   # a district with no cell
    away = cells.copy()   # half the children outside every district
    away.loc[away.index[: len(away) * 3 // 4], "district"] = "(outside)"
    nowhere = cells.assign(district="(outside)")
    cases = [(cells, schools, layer), (away, schools, layer), (cells, schools, None),
             (nowhere, schools, layer),
             (cells, schools.assign(geometry=schools.geometry.translate(90_000, 0)), layer)]
    said = []
    for c, s, d in cases:
        want = _messages(capsys, lambda c=c, s=s, d=d: check_coverage(c, s, d))
        said.append(want)
        for pieces in _splits(c, 1500.0):
            got = _messages(capsys, lambda p=pieces, s=s, d=d: check_coverage_of(
                [coverage_piece(x, s) for x in p], s, d))
            assert got == want
    # what each case says, by hand
    assert "2 school(s) lie more than 10 km" in said[0][0] and str(list(far)) in said[0][0]
    assert "1 district(s) hold no populated cell: ['Empty']" in said[0][0]
    assert "75% of the children live outside" not in said[0][0]
    assert f"{len(cells) * 3 // 4} cell(s) lie outside every district" in said[1][0]
    assert said[2] == ("  2 school(s) lie more than 10 km from every populated cell "
                       f"(e.g. {list(far)}): check their coordinates (lon/lat swapped?)\n",
                       None)
    assert "no populated cell lies in any district" in said[3][1]
    assert "no school lies within 10 km of any populated cell" in said[4][1]
