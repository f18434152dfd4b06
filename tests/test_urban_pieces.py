"""The Degree of Urbanisation from pieces (disjoint parts of the cells, as the workers of a
cluster run hold them): the pieces' summaries give exactly the classes of all cells in one
process (:func:`geoequity.urban.degree_of_urbanisation`, whose own rules tests/test_urban.py
checks on hand-built grids)."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoequity.urban import (
    UrbanSums,
    degree_of_urbanisation,
    label_piece,
    residents_column,
    residents_column_of,
    residents_column_piece,
    urban_class,
    urban_classes_of,
    urban_origin_of,
    urban_origin_piece,
    urban_piece,
    urbanisation_grid,
)

X0, Y0 = 500_000.0, 3_000_000.0  # whole kilometres of UTM 50N


def split(cells: gpd.GeoDataFrame, k: int, seed: int) -> list[gpd.GeoDataFrame]:
    """``k`` random disjoint pieces in random order (each cell's order shuffled too), plus an
    empty piece."""
    rng = np.random.default_rng(seed)
    which = rng.integers(0, k, len(cells))
    order = rng.permutation(len(cells))
    pieces = [cells.iloc[order[which[order] == i]] for i in range(k)]
    pieces.insert(int(rng.integers(0, k + 1)), cells.iloc[:0])
    return pieces


def from_pieces(pieces: list[gpd.GeoDataFrame], **thresholds) -> tuple[pd.Series, np.ndarray]:
    """The classes of all cells by the pieces' protocol (what the workers and the client of a
    cluster run do), and the classified grid's codes."""
    col = residents_column_of([residents_column_piece(p) for p in pieces])
    origin = urban_origin_of([urban_origin_piece(p) for p in pieces])
    grid = urban_classes_of([urban_piece(p, col, origin) for p in pieces], **thresholds)
    labels = [label_piece(p, grid) for p in pieces]
    for p, lab in zip(pieces, labels, strict=True):
        assert lab.index.equals(p.index) and lab.name == "urban"
    return pd.concat(labels), grid.codes


def km_totals_exact(cells: gpd.GeoDataFrame, col: str) -> bool:
    """Whether each 1 km total of ``urbanisation_grid`` is the exactly rounded sum of its
    cells (math.fsum): then no order of additions can change it."""
    grid = urbanisation_grid(cells, col)
    x = cells.geometry.centroid.x.to_numpy()
    y = cells.geometry.centroid.y.to_numpy()
    ix = np.floor((x - np.floor(x.min() / 1000) * 1000) / 1000).astype(int)
    iy = np.floor((y - np.floor(y.min() / 1000) * 1000) / 1000).astype(int)
    pop = cells[col].to_numpy(float)
    ref = pd.Series(pop).groupby([ix, iy]).agg(math.fsum)
    got = grid.set_index(["ix", "iy"])["population"]
    return bool((got.reindex(ref.index).to_numpy() == ref.to_numpy()).all())


def check_splits(cells: gpd.GeoDataFrame, seeds=(0, 1, 2), ks=(2, 5, 13)) -> pd.Series:
    ref = degree_of_urbanisation(cells, residents_column(cells))
    one, one_codes = from_pieces([cells])
    pd.testing.assert_series_equal(one, ref)
    for seed, k in zip(seeds, ks, strict=True):
        got, codes = from_pieces(split(cells, k, seed))
        pd.testing.assert_series_equal(got.reindex(cells.index), ref)
        assert np.array_equal(codes, one_codes)
    return ref


# ---- the demo county and real population grids ----------------------------------------


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    from geoequity.demo import make_demo

    folder = tmp_path_factory.mktemp("demo")
    make_demo(folder)
    return folder / "demo"


@pytest.fixture(scope="module")
def demo_cells(demo_folder):
    from geoequity.io import read_population

    return read_population(demo_folder / "residents.tif", child_share=0.08)


def test_demo_county_split_at_random(demo_cells):
    assert residents_column(demo_cells) == "population"
    # float32 residents of at least 2.5 each: every 1 km total is exact, whatever the order
    assert km_totals_exact(demo_cells, "population")
    ref = check_splits(demo_cells)
    assert set(ref) == {"urban centre", "urban cluster", "rural"}


def test_demo_county_by_rows_and_columns(demo_cells):
    # tiles: the urban centre crosses their borders, which are not on whole kilometres
    ref = degree_of_urbanisation(demo_cells, "population")
    for key in ("row", "col"):
        band = demo_cells[key] // 7
        pieces = [p for _, p in demo_cells.groupby(band)]
        got, _ = from_pieces(pieces[::-1])
        pd.testing.assert_series_equal(got.reindex(demo_cells.index), ref)


def wuhan_cells(shared_data) -> gpd.GeoDataFrame:
    """Real WorldPop points (women + men aged 20-24) scaled x10 to all residents, as in
    tests/test_urban.py."""
    import rasterio
    from rasterio.transform import xy

    bands = [shared_data / "wuhan" / f"pop_20_{s}_wuhan.tif" for s in "fm"]
    with rasterio.open(bands[0]) as src:
        f = src.read(1, masked=True)
        transform, crs = src.transform, src.crs
    with rasterio.open(bands[1]) as src:
        m = src.read(1, masked=True)
    valid = ~np.ma.getmaskarray(f) & ~np.ma.getmaskarray(m)
    rows, cols = np.nonzero(valid)
    pop = (f.data[rows, cols].astype(float) + m.data[rows, cols].astype(float)) * 10
    xs, ys = xy(transform, rows, cols)
    cells = gpd.GeoDataFrame({"residents": pop}, geometry=shapely.points(xs, ys), crs=crs)
    return cells.to_crs(32650)


def test_wuhan_worldpop_split_at_random(shared_data):
    cells = wuhan_cells(shared_data)
    assert km_totals_exact(cells, "residents")   # sums of float32 values: exact in float64
    ref = check_splits(cells, seeds=(3,), ks=(7,))
    assert set(ref) == {"urban centre", "urban cluster", "rural"}


def test_wuhan_counties_as_vertical_strips(shared_data):
    # pieces like counties: strips of 10 km whose borders cut the urban centre
    cells = wuhan_cells(shared_data)
    ref = degree_of_urbanisation(cells, "residents")
    strip = np.floor(cells.geometry.x.to_numpy() / 10_000).astype(int)
    pieces = [cells[strip == s] for s in np.unique(strip)]
    central = [p for p in pieces if (ref.reindex(p.index) == "urban centre").any()]
    assert len(central) >= 2
    got, _ = from_pieces(pieces)
    pd.testing.assert_series_equal(got.reindex(cells.index), ref)


def test_helsinki_polygons_split_at_random(shared_data):
    # reprojected 250 m squares are no longer axis-aligned rectangles: placed by centroid
    cells = gpd.read_file(shared_data / "helsinki" / "helsinki_population_grid_2020.gpkg")
    cells = cells.to_crs(3067)
    assert km_totals_exact(cells, "population")   # whole-number counts
    ref = check_splits(cells)
    assert (ref == "urban centre").any()


# ---- hand cases -------------------------------------------------------------------------


def grid_250m(km_density: dict[tuple[int, int], float], x0=X0, y0=Y0) -> gpd.GeoDataFrame:
    """16 cells of 250 m per 1 km cell, each holding 1/16 of that km's residents."""
    geoms, pops, keys = [], [], []
    for (i, j), dens in km_density.items():
        for a in range(4):
            for b in range(4):
                x, y = x0 + i * 1000 + a * 250, y0 + j * 1000 + b * 250
                geoms.append(shapely.box(x, y, x + 250, y + 250))
                pops.append(dens / 16)
                keys.append((i, j, a, b))
    return gpd.GeoDataFrame({"residents": pops, "key": keys}, geometry=geoms, crs=32650)


def test_hand_3x3_km_sums_origin_and_classes():
    # 3 x 3 km of 6,400/km2 round a middle km of 800, cut through every km into two pieces
    d = {(i, j): 6400.0 for i in range(3) for j in range(3)}
    d[(1, 1)] = 800.0
    cells = grid_250m(d, x0=X0 + 3000, y0=Y0 + 7000)
    # piece A: the western half of every km (a in 0, 1), piece B the rest
    west = np.array([k[2] < 2 for k in cells["key"]])
    a, b = cells[west], cells[~west]
    # origin: the lowest centre is X0 + 3000 + 125, snapped down to whole km
    assert urban_origin_piece(a) == (X0 + 3125, Y0 + 7125)
    assert urban_origin_piece(b) == (X0 + 3625, Y0 + 7125)
    assert urban_origin_piece(cells.iloc[:0]) == (np.inf, np.inf)
    origin = urban_origin_of([urban_origin_piece(p) for p in (b, cells.iloc[:0], a)])
    assert origin == (X0 + 3000, Y0 + 7000)
    sa = urban_piece(a, "residents", origin)
    assert isinstance(sa, UrbanSums) and sa.origin == origin and sa.cell_size == 1000.0
    # each km: 8 of its 16 cells, half its residents, in row-major order
    assert sa.ix.tolist() == [0, 1, 2] * 3 and sa.iy.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert sa.count.tolist() == [8] * 9
    assert sa.population.tolist() == [3200.0] * 4 + [400.0] + [3200.0] * 4
    empty = urban_piece(cells.iloc[:0], "residents", origin)
    assert len(empty.ix) == len(empty.population) == 0
    # 8 x 6,400 + 800 = 52,000 residents: the 8 dense km (51,200 >= 50,000, 4-connected
    # round the middle) are an urban centre; the middle has 8 of 8 neighbours in it and joins
    grid = urban_classes_of([sa, empty, urban_piece(b, "residents", origin)])
    assert grid.codes.tolist() == [[2, 2, 2], [2, 2, 2], [2, 2, 2]]
    assert set(label_piece(a, grid)) == set(label_piece(b, grid)) == {"urban centre"}
    assert label_piece(cells.iloc[:0], grid).empty
    # neither half alone has the residents of a centre (25,600 in its dense cells)
    assert "urban centre" not in set(degree_of_urbanisation(a, "residents"))
    # below 50,000 by 800: the same split makes an urban cluster (>= 300/km2, >= 5,000)
    d2 = {k: (6200.0 if v > 1000 else v) for k, v in d.items()}
    cells2 = grid_250m(d2, x0=X0 + 3000, y0=Y0 + 7000)
    got, codes = from_pieces([cells2[west], cells2[~west]])
    assert codes.tolist() == [[1, 1, 1], [1, 1, 1], [1, 1, 1]]
    assert set(got) == {"urban cluster"}


def test_urban_centre_spanning_two_pieces_with_a_rural_rest():
    # a 2 x 4 km centre (8 x 6,400 = 51,200) cut between x = 0 and x = 1 into two pieces,
    # a 2 km cluster of 3,000 (6,000) and a lone km of 2,000 (rural: < 5,000) far away
    d = {(i, j): 6400.0 for i in range(2) for j in range(4)}
    d.update({(6, 0): 3000.0, (7, 0): 3000.0, (6, 5): 2000.0})
    cells = grid_250m(d)
    left = np.array([k[0] == 0 for k in cells["key"]])
    expected = {(i, j): "urban centre" for i in range(2) for j in range(4)}
    expected.update({(6, 0): "urban cluster", (7, 0): "urban cluster", (6, 5): "rural"})
    for pieces in ([cells[left], cells[~left]], [cells[~left], cells.iloc[:0], cells[left]]):
        got, _ = from_pieces(pieces)
        got = got.reindex(cells.index)
        assert {k[:2]: c for k, c in zip(cells["key"], got, strict=True)} == expected
    # each piece alone holds 25,600 in its dense km: no centre
    assert set(degree_of_urbanisation(cells[left], "residents")) == {"urban cluster"}


def test_thresholds_and_no_cell_at_all():
    cells = grid_250m({(0, 0): 400.0, (1, 0): 400.0})
    got, _ = from_pieces([cells.iloc[:5], cells.iloc[5:]], cluster_population=800)
    assert set(got) == {"urban cluster"}       # 800 residents, overridden threshold
    got, codes = from_pieces([cells.iloc[:0], cells.iloc[:0]])
    assert got.empty and codes.shape == (0, 0)
    assert degree_of_urbanisation(cells.iloc[:0], "residents").empty


def test_pieces_given_different_origins_or_foreign_cells_are_refused():
    cells = grid_250m({(0, 0): 400.0, (3, 0): 400.0})
    a, b = cells.iloc[:16], cells.iloc[16:]
    with pytest.raises(ValueError, match="different origins"):
        urban_classes_of([urban_piece(a, "residents", urban_origin_of([urban_origin_piece(a)])),
                          urban_piece(b, "residents", urban_origin_of([urban_origin_piece(b)]))])
    grid = urban_classes_of([urban_piece(a, "residents", urban_origin_of([urban_origin_piece(a)]))])
    with pytest.raises(ValueError, match="outside the classified 1 km grid"):
        label_piece(b, grid)


def test_residents_column_over_pieces(capsys):
    pts = gpd.GeoDataFrame({"population": [10.0, 20.0, 30.0], "children": [10.0, 20.0, 3.0]},
                           geometry=shapely.points([X0, X0, X0], [Y0, Y0, Y0]), crs=32650)
    # population equals children in the first piece, not in the second: all residents
    assert residents_column_of([residents_column_piece(pts.iloc[:2]),
                                residents_column_piece(pts.iloc[2:])]) == "population"
    capsys.readouterr()
    assert residents_column_of([residents_column_piece(pts.iloc[:2]),
                                residents_column_piece(pts.iloc[:0])]) == "children"
    assert capsys.readouterr().err.count("child counts only") == 1
    with_res = pts.assign(residents=[1.0, 2.0, 3.0])
    assert residents_column_of([residents_column_piece(with_res.iloc[:1])]) == "residents"
    assert residents_column_of([residents_column_piece(pts[["population", "geometry"]])]
                               ) == "population"


def test_the_run_rule_per_piece():
    """urban_class: the districts' and the cells' columns are per cell; the Degree of
    Urbanisation of a piece is its cells' classes in the grid of all pieces."""
    d = {(i, j): 6400.0 for i in range(2) for j in range(4)}
    cells = grid_250m(d)
    cells["district"] = np.where([k[1] < 2 for k in cells["key"]], "south", "north")
    cells["kind"] = np.where(cells["district"] == "south", "town", "village")
    districts = pd.DataFrame({"district": ["south"], "type": ["urban"]})
    left = np.array([k[0] == 0 for k in cells["key"]])
    pieces = [cells[left], cells[~left]]
    for col, dist in (("type", districts), ("kind", None)):
        whole = urban_class(cells, dist, col)
        parts = np.concatenate([urban_class(p, dist, col) for p in pieces])
        assert parts.tolist() == whole[np.r_[np.flatnonzero(left), np.flatnonzero(~left)]
                                       ].tolist()
    assert set(urban_class(cells, districts, "type")) == {"urban", "unknown"}
    origin = urban_origin_of([urban_origin_piece(p) for p in pieces])
    grid = urban_classes_of([urban_piece(p, "residents", origin) for p in pieces])
    assert [set(urban_class(p, None, None, grid=grid)) for p in pieces] == [{"urban centre"}] * 2


# ---- the schools' class: the cell each stands in (cell_value_of) from pieces ------------


def values_from_pieces(features, pieces, column="urban", orders=None) -> pd.Series:
    from geoequity.urban import cell_value_piece, cell_values_of

    orders = orders or [None] * len(pieces)
    return cell_values_of([cell_value_piece(p, features, column, order=o)
                           for p, o in zip(pieces, orders, strict=True)], features)


def test_schools_classes_from_random_splits_of_the_demo(demo_cells, demo_folder):
    from geoequity.io import read_schools
    from geoequity.urban import cell_value_of

    schools = read_schools(demo_folder / "schools.csv", default_seats=1, crs=demo_cells.crs)
    # a school far outside the grid takes its nearest cell's class
    far = schools.iloc[:1].copy()
    far.index = ["far"]
    far.geometry = shapely.points([demo_cells.total_bounds[2] + 5000],
                                  [demo_cells.total_bounds[3] + 5000])
    schools = pd.concat([schools, far])
    cells = demo_cells.assign(urban=degree_of_urbanisation(demo_cells, "population"))
    ref = cell_value_of(schools, cells)
    assert ref.notna().all() and ref.nunique() == 3
    assert ref["far"] == cells["urban"].iloc[np.argmin(cells.geometry.centroid.distance(
        far.geometry.iloc[0]).to_numpy())]
    pos = pd.Series(np.arange(len(cells)), index=cells.index)
    for seed, k in ((0, 2), (1, 6)):
        pieces = split(cells, k, seed)
        pd.testing.assert_series_equal(values_from_pieces(schools, pieces), ref)
        got = values_from_pieces(schools, pieces, orders=[pos[p.index].to_numpy()
                                                          for p in pieces])
        pd.testing.assert_series_equal(got, ref)
    # the cells as points: every school takes its nearest cell's class
    points = cells.set_geometry(cells.geometry.centroid)
    pd.testing.assert_series_equal(values_from_pieces(schools, split(points, 4, 5)),
                                   cell_value_of(schools, points))


def test_a_school_on_the_edge_of_two_pieces_cells():
    # two 1 km cells sharing the edge x = X0 + 1000, in two pieces; a school on the edge
    # belongs to the first cell in the layer's order, whichever piece comes first
    cells = gpd.GeoDataFrame({"urban": ["rural", "urban centre"]},
                             geometry=[shapely.box(X0, Y0, X0 + 1000, Y0 + 1000),
                                       shapely.box(X0 + 1000, Y0, X0 + 2000, Y0 + 1000)],
                             crs=32650, index=[7, 3])
    schools = gpd.GeoDataFrame(geometry=shapely.points([X0 + 1000, X0 + 1900, X0 + 9000],
                                                       [Y0 + 500, Y0 + 500, Y0 + 100]),
                               crs=32650, index=["edge", "east", "away"])
    a, b = cells.iloc[:1], cells.iloc[1:]
    want = ["rural", "urban centre", "urban centre"]   # "away" is nearest the east cell
    for pieces, orders in (([a, b], [[0], [1]]), ([b, a], [[1], [0]])):
        assert values_from_pieces(schools, pieces, orders=orders).tolist() == want
    # by default the index is the order: cell 3 comes first
    assert values_from_pieces(schools, [a, b]).tolist() == ["urban centre"] * 3
    from geoequity.urban import cell_value_of

    assert cell_value_of(schools, cells).tolist() == want


def test_summaries_travel_by_pickle():
    import pickle

    from geoequity.urban import cell_value_piece, cell_values_of

    cells = grid_250m({(0, 0): 6400.0, (1, 0): 400.0})
    origin = urban_origin_of([pickle.loads(pickle.dumps(urban_origin_piece(cells)))])
    sums = pickle.loads(pickle.dumps(urban_piece(cells, "residents", origin)))
    grid = pickle.loads(pickle.dumps(urban_classes_of([sums])))
    assert grid.codes.tolist() == [[1, 1]]     # 6,800 residents: an urban cluster
    cells["urban"] = label_piece(cells, grid)
    schools = gpd.GeoDataFrame(geometry=shapely.points([X0 + 1500], [Y0 + 10]), crs=32650)
    part = pickle.loads(pickle.dumps(cell_value_piece(cells, schools)))
    assert cell_values_of([part], schools).tolist() == ["urban cluster"]


def test_on_the_pieces_a_cluster_run_keeps(client, tmp_path):
    """The protocol on geoequity.distributed.KeptCells (the tiny line of tests/_cases.py in
    two partitions, West a-c and East d-e; cells 500 m apart with 100, 100, 100, 100, 400
    children and no residents column): the classes and the schools' classes equal those of
    one process. Thresholds lowered so the line has an urban centre and a cluster."""
    from _cases import tiny_pieces

    from geoequity.urban import cell_value_of, cell_value_piece, cell_values_of

    kept, pieces, cells, schools = tiny_pieces(client, tmp_path)
    low = {"centre_density": 300, "centre_population": 300, "cluster_density": 150,
           "cluster_population": 150}
    try:
        col = residents_column_of(pieces.summaries(residents_column_piece, what="residents"))
        origin = urban_origin_of(pieces.summaries(urban_origin_piece, what="origin"))
        grid = urban_classes_of(pieces.summaries(urban_piece, col, origin, what="km"), **low)
        pieces.update(lambda p, g: p.assign(urban=urban_class(p, None, None, grid=g)), grid,
                      what="urban")
        got = pd.concat(pieces.summaries(lambda p: p["urban"], what="look"))
        school_cls = cell_values_of(pieces.summaries(cell_value_piece, schools,
                                                     what="schools"), schools)
    finally:
        pieces.release()
        kept.release()
    ref = degree_of_urbanisation(cells, col, **low)
    assert col == residents_column(cells)
    assert got.reindex(cells.index).tolist() == ref.tolist()
    assert len(set(ref)) >= 2
    pd.testing.assert_series_equal(school_cls,
                                   cell_value_of(schools, cells.assign(urban=ref)))
