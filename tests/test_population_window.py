"""The population read by window (`read_population(within=BOX)`) and the layer's extent
without its cells (`population_extent`): a cluster's workers each read their partition's
cells, the client none.

The reference is the whole read (`read_population` without `within`), whose code path the
window read does not change: tiling the extent into boxes, the window reads put together must
be exactly the whole read, each cell in one box. Plus a hand-made 4 x 3 raster whose boxes'
cells are known by hand, and the UTM zone rule by hand.
"""

import dataclasses
import functools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from pyproj import CRS
from rasterio.transform import from_origin

import geoequity.io.population as population
from geoequity import InputError
from geoequity.crs import wgs84_to_gcj02
from geoequity.io.population import population_extent, read_population
from geoequity.io.vector import representative_xy
from geoequity.scenario import load_scenario, population_arguments, population_extent_of

REPO_DATA = population.Path(__file__).resolve().parents[1] / "data"


def _tiles(bounds, nx=2, ny=3):
    xs = np.linspace(bounds[0], bounds[2], nx + 1)
    ys = np.linspace(bounds[1], bounds[3], ny + 1)
    return [(xs[i], ys[j], xs[i + 1], ys[j + 1]) for i in range(nx) for j in range(ny)]


def _extent_of(source, kw):
    return population_extent(source, crs=kw.get("crs"), input_crs=kw.get("input_crs"),
                             layer=kw.get("layer"), bounds=kw.get("bounds"))


def assert_windows_make_the_whole(source, nx=2, ny=3, layout=None, **kw):
    """Tile the extent into nx x ny boxes: the window reads are the whole read, each cell
    once, with the same columns, dtypes, ids, values and geometry; returns the parts.
    ``layout``: a vector layer's :func:`vector_layout`, given to the window reads (and the
    extent) only."""
    whole = read_population(source, **kw)
    ext = population_extent(source, crs=kw.get("crs"), input_crs=kw.get("input_crs"),
                            layer=kw.get("layer"), bounds=kw.get("bounds"), layout=layout)
    if layout is not None:
        kw = {**kw, "layout": layout}
    assert ext.crs == whole.crs
    x, y = representative_xy(whole)
    b = ext.bounds   # every cell's point strictly inside
    assert ((x > b[0]) & (x < b[2]) & (y > b[1]) & (y < b[3])).all()
    parts = [read_population(source, within=box, **kw) for box in _tiles(b, nx, ny)]
    for part in parts:
        assert list(part.columns) == list(whole.columns)
        assert list(part.dtypes) == list(whole.dtypes)
        assert part.index.dtype == whole.index.dtype
        assert part.crs == whole.crs
        assert part.geometry.name == whole.geometry.name
        for key in ("source", "kind", "child_share", "id_col", "raster"):
            assert part.attrs.get(key) == whole.attrs.get(key), key
        # in the whole read's order
        pos = whole.index.get_indexer(part.index)
        assert (pos >= 0).all() and (np.diff(pos) > 0).all()
    # some ids of a box (a cluster worker's partition): exactly those rows of the box's read
    box, part = next((box, p) for box, p in zip(_tiles(b, nx, ny), parts, strict=True)
                     if len(p) > 1)
    some = part.index[::2]
    picked = read_population(source, within=box, ids=np.asarray(some[::-1]), **kw)
    assert list(picked.index) == list(some)   # the whole read's order, not the ids'
    pd.testing.assert_frame_equal(pd.DataFrame(picked.drop(columns=whole.geometry.name)),
                                  pd.DataFrame(part.loc[some].drop(columns=whole.geometry.name)))
    assert shapely.equals_exact(np.asarray(picked.geometry.array),
                                np.asarray(part.loc[some].geometry.array), tolerance=0).all()
    together = pd.concat(parts)
    assert not together.index.duplicated().any()        # no cell in two boxes
    assert len(together) == len(whole)                  # none missed
    together = together.loc[whole.index]
    pd.testing.assert_frame_equal(pd.DataFrame(together.drop(columns=whole.geometry.name)),
                                  pd.DataFrame(whole.drop(columns=whole.geometry.name)))
    assert shapely.equals_exact(np.asarray(together.geometry.array),
                                np.asarray(whole.geometry.array), tolerance=0).all()
    assert sum(len(p) > 0 for p in parts) >= 2, "the tiling should split the layer"
    return parts


def _raster(path, values, *, transform, crs, nodata=None, dtype="float32"):
    with rasterio.open(path, "w", driver="GTiff", height=values.shape[0],
                       width=values.shape[1], count=1, dtype=dtype, crs=crs,
                       transform=transform, nodata=nodata) as dst:
        dst.write(values.astype(dtype), 1)
    return path


# ---------------------------------------------------------------- real data
def test_wuhan_worldpop_raster_by_windows(shared_data):
    parts = assert_windows_make_the_whole(shared_data / "wuhan/pop_20_f_wuhan.tif")
    assert sum(map(len, parts)) == 494_676   # README: valid pixels


def test_wuhan_two_bands_summed_by_windows_with_child_share(shared_data):
    paths = [shared_data / "wuhan/pop_20_f_wuhan.tif", shared_data / "wuhan/pop_20_m_wuhan.tif"]
    assert_windows_make_the_whole(paths, nx=3, ny=2, child_share=0.1)


def test_wuhan_raster_window_with_population_bounds(shared_data):
    # [population] bounds (the raster's CRS) and a window together: their intersection
    assert_windows_make_the_whole(shared_data / "wuhan/pop_20_f_wuhan.tif",
                                  bounds=(114.1, 30.4, 114.5, 30.7))


def test_helsinki_vector_grid_by_windows(shared_data):
    assert_windows_make_the_whole(shared_data / "helsinki/helsinki_population_grid_2020.gpkg",
                                  count_col="population", id_col="id", child_share=0.1)


def test_helsinki_grid_with_a_named_crs_and_text_ids(shared_data):
    assert_windows_make_the_whole(shared_data / "helsinki/helsinki_population_grid_2020.gpkg",
                                  count_col="population", id_col="id", crs="EPSG:3067",
                                  id_dtype="str")


def test_porto_alegre_csv_points_by_windows(shared_data):
    # a CSV has no spatial index: read whole and filtered, the same rows all the same
    assert_windows_make_the_whole(shared_data / "porto_alegre/poa_hexgrid.csv",
                                  count_col="population", id_col="id",
                                  keep_zero=False)


def test_geodanet_points_in_feet_go_to_utm_by_windows(shared_data):
    # a projected CRS in US feet: the cells go to the UTM zone of the layer's extent
    parts = assert_windows_make_the_whole(shared_data / "geodanet/crimes.shp",
                                          count_col="POLYID")
    assert parts[0].crs.to_epsg() == 32612   # Tempe, Arizona: -111.9 degrees, zone 12


def test_demo_raster_by_windows_through_the_scenario():
    scenario = load_scenario(REPO_DATA / "demo.toml")
    source, kw = population_arguments(scenario)
    ext = population_extent_of(scenario)
    assert ext.crs.to_epsg() == 32650 and ext.raster["width"] == 160
    parts = assert_windows_make_the_whole(source, **kw)
    assert sum(map(len, parts)) == 9801


def test_demo_raster_as_its_own_residents_by_windows():
    # the same grid: residents are the cells' own pixels, by id
    parts = assert_windows_make_the_whole(REPO_DATA / "demo/residents.tif", child_share=0.08,
                                          residents=REPO_DATA / "demo/residents.tif")
    whole = pd.concat(parts)
    assert np.array_equal(whole["residents"].to_numpy(), whole["population"].to_numpy())


# ---------------------------------------------------------------- synthetic rasters
@pytest.fixture()
def messy_raster(tmp_path):
    """40 x 30 pixels of 0.001 degrees near Wuhan: nodata, negatives, NaN, zeros and counts."""
    rng = np.random.default_rng(14)
    v = rng.integers(0, 20, size=(30, 40)).astype("float32")
    v[rng.random(v.shape) < 0.2] = -9999      # nodata
    v[rng.random(v.shape) < 0.05] = -3        # negative: treated as nodata
    v[rng.random(v.shape) < 0.05] = np.nan
    v[:, :3] = -9999                          # empty columns at the west edge
    return _raster(tmp_path / "messy.tif", v, transform=from_origin(114.2, 30.6, 0.001, 0.001),
                   crs="EPSG:4326", nodata=-9999)


def test_messy_raster_by_windows(messy_raster):
    parts = assert_windows_make_the_whole(messy_raster, nx=3, ny=3, child_share=0.5)
    assert all(p["population"].gt(0).all() for p in parts)


def test_messy_raster_with_a_residents_raster_on_another_grid(messy_raster, tmp_path):
    # residents on a finer grid, shifted: each pixel's centre summed into the cell holding it
    rng = np.random.default_rng(7)
    r = rng.integers(0, 9, size=(70, 90)).astype("float32")
    res = _raster(tmp_path / "res.tif", r, transform=from_origin(114.19, 30.605, 0.0005, 0.0005),
                  crs="EPSG:4326", nodata=-1)
    parts = assert_windows_make_the_whole(messy_raster, nx=2, ny=2, residents=res)
    assert pd.concat(parts)["residents"].sum() > 0


def test_metric_raster_edges_are_half_open_by_hand(tmp_path):
    # 4 x 3 pixels of 100 m from (1000, 2300): pixel (row r, col c) has its centre at
    # (1050 + 100 c, 2250 - 100 r) and id 4 r + c; the value 0 at (1, 1) is no cell
    v = np.array([[1, 2, 3, 4], [5, 0, 7, 8], [9, 10, 11, 12]], dtype="float32")
    path = _raster(tmp_path / "m.tif", v, transform=from_origin(1000, 2300, 100, 100),
                   crs="EPSG:32650")
    ext = population_extent(path)
    assert ext.crs == CRS.from_epsg(32650)
    assert ext.layer_bounds == (1000.0, 2000.0, 1400.0, 2300.0)
    # the pixels' centres' extent (1050-1350, 2050-2250), padded by a metre
    assert ext.bounds == pytest.approx((1049.0, 2049.0, 1351.0, 2251.0), abs=1e-6)
    # the box's west edge runs through the centres of column 1 (taken), its east edge through
    # those of column 3 (left to the next box), its south edge through row 2's (taken), its
    # north edge through row 0's (left to the box above): rows 1-2, columns 1-2, less the 0
    cells = read_population(path, within=(1150, 2050, 1350, 2250))
    assert sorted(cells.index) == [6, 9, 10]
    assert cells.loc[10, "population"] == 11
    assert sorted(read_population(path, within=(1350, 2050, 1550, 2250)).index) == [7, 11]
    assert sorted(read_population(path, within=(1150, 2250, 1350, 2350)).index) == [1, 2]


def test_a_wide_lonlat_rasters_extent_holds_its_bottom_row_by_hand(tmp_path, monkeypatch):
    # 240 x 20 pixels of 0.05 degrees from (108.1 E, 34 N), every one 1 person: 4,800 cells.
    # Its centre (114.1 E) gives UTM zone 50 (central meridian 117 E), where a parallel bows
    # south: the bottom row's southernmost point is the pixel whose centre (117.025 E,
    # 33.025 N) is nearest the meridian, between two of the points a densified edge of the
    # pixels' centres samples (12 degrees in 64 steps), metres below their chord
    from pyproj import Transformer

    from geoequity.io.population import read_population_points

    path = _raster(tmp_path / "wide.tif", np.ones((20, 240), dtype="float32"),
                   transform=from_origin(108.1, 34.0, 0.05, 0.05), crs="EPSG:4326")
    ext = population_extent(path)
    assert ext.crs == CRS.from_epsg(32650)
    # that pixel (row 19, column 178: 117.0-117.05 E, 33.0-33.05 N) in zone 50 by pyproj,
    # its point the centroid of its projected corners
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)
    x, y = to_utm.transform([117.0, 117.05, 117.05, 117.0], [33.0, 33.0, 33.05, 33.05])
    point = shapely.Polygon(list(zip(x, y, strict=True))).centroid
    minx, miny, maxx, maxy = ext.bounds
    assert minx < point.x < maxx and miny < point.y < maxy
    # so the read by windows (as the client of a cluster run reads a raster's points) takes
    # every pixel: 4,800 cells, 4,800 people, whatever the number of windows
    for pixels in (10_000_000, 1_000):
        monkeypatch.setattr(population, "POINTS_WINDOW_PIXELS", pixels)
        cells = read_population_points(path)
        assert len(cells) == 4_800
        assert cells["population"].sum() == 4_800
    # and an extent that missed them (its south edge a metre north of the bottom row's
    # centres, 0.05 degrees = 5.5 km apart) is a bug said, not cells dropped
    real = population.population_extent

    def short(*args, **kw):
        ext = real(*args, **kw)
        minx, miny, maxx, maxy = ext.bounds
        return dataclasses.replace(ext, bounds=(minx, miny + 2.0, maxx, maxy))

    monkeypatch.setattr(population, "population_extent", short)
    with pytest.raises(RuntimeError, match="populated pixel"):
        read_population_points(path)


def test_grid_extent_decides_the_utm_zone_by_hand(tmp_path):
    # a raster from 107 to 113 degrees east (centre 110: zone (110 + 180) / 6 -> 49) whose
    # populated pixels are all east of 112 (their own centre would be zone 50): the zone is
    # the grid's, which the metadata gives without reading a pixel
    v = np.full((10, 60), -1, dtype="float32")
    v[:, 51:] = 5
    path = _raster(tmp_path / "z.tif", v, transform=from_origin(107, 31, 0.1, 0.1),
                   crs="EPSG:4326", nodata=-1)
    assert population_extent(path).crs == CRS.from_epsg(32649)
    assert read_population(path).crs == CRS.from_epsg(32649)


def test_a_box_off_the_layer_gives_no_rows(messy_raster, shared_data):
    for source, kw in [(messy_raster, {}),
                       (shared_data / "helsinki/helsinki_population_grid_2020.gpkg",
                        {"count_col": "population", "id_col": "id"})]:
        whole = read_population(source, **kw)
        b = population_extent(source).bounds
        off = (b[2] + 1000, b[3] + 1000, b[2] + 5000, b[3] + 5000)
        none = read_population(source, within=off, **kw)
        assert len(none) == 0
        assert list(none.columns) == list(whole.columns)
        assert list(none.dtypes) == list(whole.dtypes)
        assert none.crs == whole.crs


def test_only_the_window_is_read(messy_raster, shared_data, monkeypatch):
    read = []
    band = population._read_band

    def spy(*args, **kwargs):
        out = band(*args, **kwargs)
        read.append(out[0].shape)
        return out

    monkeypatch.setattr(population, "_read_band", spy)
    b = population_extent(messy_raster).bounds
    read_population(messy_raster, within=_tiles(b, 3, 3)[4])
    assert read[-1][0] * read[-1][1] < 30 * 40 / 4   # about a ninth, plus the margin

    layer = []
    vector = population.read_layer

    def spy_layer(*args, **kwargs):
        out = vector(*args, **kwargs)
        layer.append(len(out))
        return out

    monkeypatch.setattr(population, "read_layer", spy_layer)
    grid = shared_data / "helsinki/helsinki_population_grid_2020.gpkg"
    b = population_extent(grid).bounds
    part = read_population(grid, count_col="population", id_col="id", within=_tiles(b)[0])
    assert len(part) <= layer[-1] < 92 / 2


# ---------------------------------------------------------------- synthetic vector layers
@pytest.fixture()
def grid_without_ids(shared_data):
    """Helsinki's grid without its id column, with a null and an empty geometry among the
    features: the whole read numbers the rest 0..89."""
    h = gpd.read_file(shared_data / "helsinki/helsinki_population_grid_2020.gpkg")
    h = h.rename(columns={"id": "cid"})
    geoms = np.asarray(h.geometry.array).copy()
    geoms[5] = shapely.Polygon()
    geoms[40] = None
    return h.set_geometry(gpd.GeoSeries(geoms, crs=h.crs))


@pytest.mark.parametrize("suffix", ["gpkg", "shp", "geojson"])
def test_row_number_ids_are_the_whole_reads(grid_without_ids, tmp_path, suffix):
    path = tmp_path / f"grid.{suffix}"
    if suffix == "gpkg":   # GeoPackage's spatial index takes no null geometry
        grid_without_ids.to_file(path, SPATIAL_INDEX="NO")
    else:
        grid_without_ids.to_file(path)
    parts = assert_windows_make_the_whole(path, count_col="population")
    ids = np.sort(pd.concat(parts).index.to_numpy())
    assert np.array_equal(ids, np.arange(90))   # 92 features less a null and an empty one


def test_row_numbers_found_across_chunks(grid_without_ids, tmp_path, monkeypatch):
    path = tmp_path / "grid.shp"
    grid_without_ids.to_file(path)
    rows = population._feature_rows

    monkeypatch.setattr(population, "_feature_rows",
                        lambda p, layer, fids: rows(p, layer, fids, chunk=7))
    assert_windows_make_the_whole(path, count_col="population")


@pytest.mark.parametrize("suffix", ["gpkg", "shp", "fgb"])
def test_row_number_ids_from_one_scan_of_the_layer(grid_without_ids, tmp_path, suffix,
                                                   monkeypatch):
    """vector_layout reads the envelopes once, in chunks (7 features here): 90 features with
    a geometry (92 less the null one at row 40 and the empty one at row 5), in three runs
    of consecutive FIDs around them; the window reads take their rows from it (no window
    scans the file) and make the whole read; its box is the features' envelopes' union."""
    path = tmp_path / f"grid.{suffix}"
    if suffix in ("gpkg", "fgb"):   # their spatial indexes take no null geometry
        grid_without_ids.to_file(path, SPATIAL_INDEX="NO")
    else:
        grid_without_ids.to_file(path)
    layout = population.vector_layout(path, chunk=7)
    first = 1 if suffix == "gpkg" else 0   # GeoPackage numbers its features from 1
    assert layout.features == 90
    assert layout.starts.tolist() == [first, first + 6, first + 41]
    assert layout.lengths.tolist() == [5, 34, 51]
    assert layout.rows.tolist() == [0, 5, 39]
    assert layout.rows_of([first + 5, first + 6, first + 40, first + 91, first + 92]
                          ).tolist() == [-1, 5, -1, 89, -1]
    g = np.asarray(grid_without_ids.geometry.array)
    kept = np.delete(shapely.bounds(g), [5, 40], axis=0)
    expected = (*kept[:, :2].min(axis=0), *kept[:, 2:].max(axis=0))
    assert layout.box == pytest.approx(expected, rel=1e-12)

    def refuse(*args, **kwargs):
        raise AssertionError("a window scanned the file")

    monkeypatch.setattr(population, "_feature_rows", refuse)
    parts = assert_windows_make_the_whole(path, count_col="population", layout=layout)
    assert np.array_equal(np.sort(pd.concat(parts).index.to_numpy()), np.arange(90))


def test_a_layout_of_fids_with_gaps_across_chunks(tmp_path):
    """FIDs 1, 2, 5, 6, 7, 10 (a GeoPackage with features deleted), read two at a time: the
    runs 1-2, 5-7 (cut by a chunk's end, one run) and 10, rows 0, 2 and 5."""
    g = gpd.GeoDataFrame({"fid": [1, 2, 5, 6, 7, 10], "n": np.ones(6)},
                         geometry=shapely.points(np.arange(6.0), np.arange(6.0)),
                         crs="EPSG:32650")
    g.to_file(tmp_path / "gaps.gpkg")
    layout = population.vector_layout(tmp_path / "gaps.gpkg", chunk=2)
    assert layout.starts.tolist() == [1, 5, 10]
    assert layout.lengths.tolist() == [2, 3, 1]
    assert layout.rows.tolist() == [0, 2, 5]
    assert layout.rows_of([0, 1, 2, 3, 7, 8, 10, 11]).tolist() == [-1, 0, 1, -1, 4, -1, 5, -1]
    assert layout.box == (0.0, 0.0, 5.0, 5.0)


def test_too_many_runs_leave_the_rows_to_each_window(grid_without_ids, tmp_path,
                                                     monkeypatch):
    """Beyond MAX_FID_RUNS runs the layout holds none (its size would grow with the layer):
    each window scans the envelopes itself, as without a layout, and the reads still make
    the whole read."""
    path = tmp_path / "grid.shp"
    grid_without_ids.to_file(path)
    monkeypatch.setattr(population, "MAX_FID_RUNS", 2)
    layout = population.vector_layout(path)
    assert layout.starts is None and layout.rows_of([0, 1]) is None
    assert layout.features == 90
    assert_windows_make_the_whole(path, count_col="population", layout=layout)


def test_a_layout_gives_the_features_extent_not_a_stale_recorded_one(shared_data, tmp_path):
    """A GeoPackage whose recorded extent (gpkg_contents) is stale, cut at 24.93 E: the
    extent the file records leaves out the cells east of it; the layout's holds every cell's
    point (what a cluster run cuts its windows from)."""
    import sqlite3

    h = gpd.read_file(shared_data / "helsinki/helsinki_population_grid_2020.gpkg")
    path = tmp_path / "stale.gpkg"
    h.to_file(path)
    with sqlite3.connect(path) as con:
        con.execute("update gpkg_contents set max_x = 24.93")
    whole = read_population(path, count_col="population", id_col="id")
    x, _ = representative_xy(whole)
    stale = population_extent(path).bounds
    assert (x > stale[2]).sum() > 10
    layout = population.vector_layout(path)
    assert_windows_make_the_whole(path, count_col="population", id_col="id", layout=layout)


def _id_layer(folder, name: str, ids: list):
    """``folder/name.gpkg``: one point feature per id of ``ids`` (a column ``cid``), in
    that order."""
    g = gpd.GeoDataFrame({"cid": ids}, geometry=shapely.points(np.arange(len(ids)), 0.0),
                         crs="EPSG:32650")
    g.to_file(folder / f"{name}.gpkg")
    return folder / f"{name}.gpkg"


def test_ids_follow_file_order_by_hand(tmp_path):
    """Ids that ascend in the file's order, across chunks of two features; ids out of order,
    repeated or missing; text ids compared as text ("9" after "10") or, with
    id_dtype="int", as numbers; and with integers=True, text ids refused."""
    layer = functools.partial(_id_layer, tmp_path)
    follows = population.ids_follow_file_order
    up = layer("up", [3, 8, 9, 20, 21])
    assert follows(up, "cid", chunk=2) and follows(up, "cid", chunk=2, integers=True)
    assert not follows(layer("down", [3, 8, 9, 7, 21]), "cid", chunk=2)   # across chunks
    assert not follows(layer("inside", [3, 9, 8, 20, 21]), "cid", chunk=2)
    assert not follows(layer("twice", [3, 8, 8, 20, 21]), "cid", chunk=2)
    assert not follows(up, "nope")
    text = layer("text", ["9", "10", "11"])
    assert not follows(text, "cid")                          # as text, "9" > "10"
    assert follows(text, "cid", id_dtype="int", integers=True)
    letters = layer("letters", ["a", "b", "c"])
    assert follows(letters, "cid") and not follows(letters, "cid", integers=True)
    assert not follows(layer("missing", [1.0, None, 3.0]), "cid")


def test_ids_are_unique_by_hand(tmp_path):
    """Every id there and each once, across chunks of two features: text and integer ids
    in any order; one repeated across chunks (rows 0 and 4), one missing, no such column;
    padded text ids made numbers by id_dtype="int" ("07" and "7": one id)."""
    layer = functools.partial(_id_layer, tmp_path)
    unique = population.ids_are_unique
    text = layer("text", ["k9", "a1", "z3", "b2", "c0"])
    assert unique(text, "cid", chunk=2) and unique(text, "cid")
    assert unique(layer("numbers", [9, 1, 30, 2, 0]), "cid", chunk=2)
    assert not unique(layer("again", ["k9", "a1", "z3", "b2", "k9"]), "cid", chunk=2)
    assert not unique(layer("again_int", [9, 1, 30, 2, 9]), "cid", chunk=2)
    assert not unique(layer("missing", ["a", None, "c"]), "cid")
    assert not unique(text, "nope")
    # id_dtype="int" makes "07" and "7" one id (7), as the whole read does
    assert unique(layer("padded", ["07", "8"]), "cid")
    assert not unique(layer("padded2", ["07", "7"]), "cid", id_dtype="int")


def test_windows_read_by_rows_give_each_cell_its_row_in_the_file(grid_without_ids, tmp_path):
    """Helsinki's grid with text ids, its rows shuffled (so neither the ids nor the FIDs'
    R-tree order is the file's), read by windows with ``rows``: each cell's
    ``ROW_COLUMN`` is its place in the whole read (by hand: the whole read's positions of
    its ids), the windows' cells in that order, and nothing else differs from the whole
    read's rows."""
    g = grid_without_ids.sample(frac=1, random_state=3).reset_index(drop=True)
    g["cid"] = [f"HEL-{v}" for v in g["cid"]]
    path = tmp_path / "shuffled.gpkg"
    g.to_file(path, SPATIAL_INDEX="NO")
    kw = {"count_col": "population", "id_col": "cid"}
    whole = read_population(path, **kw)
    assert len(whole) == 90 and not whole.index.is_monotonic_increasing
    layout = population.vector_layout(path)
    ext = population_extent(path, layout=layout)
    seen = []
    for box in _tiles(ext.bounds, 2, 3):
        part = read_population(path, within=box, layout=layout, rows=True, **kw)
        rows = part.pop(population.ROW_COLUMN).to_numpy()
        assert rows.tolist() == whole.index.get_indexer(part.index).tolist()
        assert (np.diff(rows) > 0).all()
        pd.testing.assert_frame_equal(pd.DataFrame(part.drop(columns="geometry")),
                                      pd.DataFrame(whole.loc[part.index].drop(
                                          columns="geometry")))
        seen += rows.tolist()
    assert sorted(seen) == list(range(90))


def test_a_layer_without_a_spatial_index_is_said_so(grid_without_ids, tmp_path):
    """GeoJSON (and a shapefile without its .qix) has no spatial index, so a cluster run's
    every window goes through the whole file: one line says so and how to convert it; a
    GeoPackage and a FlatGeobuf have one, nothing is said."""
    geoms = np.asarray(grid_without_ids.geometry.array)
    g = grid_without_ids[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    for suffix in ("geojson", "shp", "gpkg", "fgb"):
        g.to_file(tmp_path / f"grid.{suffix}")
    line = population.no_spatial_index_line
    assert line(tmp_path / "grid.geojson") == (
        "  grid.geojson: no spatial index, so each partition's read goes through the whole "
        "file: convert it once (ogr2ogr -f GPKG grid.gpkg grid.geojson) for a faster "
        "cluster run")
    assert line(tmp_path / "grid.shp").startswith("  grid.shp: no spatial index")
    assert line(tmp_path / "grid.gpkg") is None and line(tmp_path / "grid.fgb") is None


def test_gcj02_vector_grid_by_windows(tmp_path):
    # a grid of 500 m-ish squares near Wuhan exported from a Chinese web map (GCJ-02 lon/lat)
    lon, lat = np.meshgrid(np.arange(114.20, 114.26, 0.005), np.arange(30.50, 30.54, 0.005))
    glon, glat = wgs84_to_gcj02(lon.ravel(), lat.ravel())
    g = gpd.GeoDataFrame({"pop": np.arange(glon.size, dtype=float) % 17},
                         geometry=shapely.box(glon, glat, glon + 0.005, glat + 0.005),
                         crs="EPSG:4326")
    g.to_file(tmp_path / "gcj.gpkg")
    assert_windows_make_the_whole(tmp_path / "gcj.gpkg", count_col="pop", input_crs="gcj02",
                                  keep_zero=False)


def test_vector_grid_with_a_residents_column(shared_data, tmp_path):
    h = gpd.read_file(shared_data / "helsinki/helsinki_population_grid_2020.gpkg")
    h["kids"] = (h["population"] * 0.11).round()
    h.to_file(tmp_path / "h.gpkg")
    assert_windows_make_the_whole(tmp_path / "h.gpkg", count_col="kids", id_col="id",
                                  residents="population")


# ---------------------------------------------------------------- refusals
def test_a_residents_raster_into_point_cells_is_refused_by_window(shared_data, messy_raster):
    src = shared_data / "porto_alegre/poa_hexgrid.csv"
    b = population_extent(src).bounds
    with pytest.raises(InputError, match="nearest"):
        read_population(src, count_col="population", id_col="id", residents=messy_raster,
                        within=b)


@pytest.mark.parametrize("box", [(1, 2, 3), (5, 0, 1, 9), ("a", 0, 1, 1), (0, 0, np.inf, 1)])
def test_a_bad_box_is_one_line(messy_raster, box):
    with pytest.raises(InputError, match="within"):
        read_population(messy_raster, within=box)


# ---------------------------------------------------------------- residents on another grid
def test_residents_raster_on_a_finer_grid_by_hand(tmp_path):
    # children on 100 m pixels, residents on 50 m pixels from the same corner: each cell
    # holds the 2 x 2 residents pixels inside it (their centres). Residents pixel (r, c) is
    # 10 r + c, so cell (R, C) holds 10 (2R) + 2C + (10 (2R) + 2C + 1) + (10 (2R + 1) + 2C)
    # + (10 (2R + 1) + 2C + 1) = 80 R + 8 C + 22
    kids = np.array([[1, 2, 3], [4, 5, 6]], dtype="float32")
    res = np.add.outer(10 * np.arange(4), np.arange(6)).astype("float32")
    kids_tif = _raster(tmp_path / "k.tif", kids, transform=from_origin(500, 900, 100, 100),
                       crs="EPSG:32650")
    res_tif = _raster(tmp_path / "r.tif", res, transform=from_origin(500, 900, 50, 50),
                      crs="EPSG:32650", nodata=-1)
    cells = read_population(kids_tif, residents=res_tif)
    expected = {3 * r + c: 80 * r + 8 * c + 22 for r in range(2) for c in range(3)}
    assert cells["residents"].to_dict() == expected
    # by windows (2 x 3 boxes of one cell each)
    parts = [read_population(kids_tif, residents=res_tif, within=(x, y, x + 100, y + 100))
             for x in (500, 600, 700) for y in (700, 800)]
    assert pd.concat(parts)["residents"].to_dict() == expected


def test_residents_raster_into_point_cells_by_nearest_by_hand(tmp_path):
    # two points 300 m apart on a line of 50 m residents pixels: each pixel's centre goes to
    # the nearer point (centres at 525, 575, ..., 975; points at 600 and 900: the split is 750)
    res = np.arange(1, 10, dtype="float32").reshape(1, 9)   # 1..9, centres 525..925
    res_tif = _raster(tmp_path / "r.tif", res, transform=from_origin(500, 1000, 50, 50),
                      crs="EPSG:32650", nodata=-1)
    pts = gpd.GeoDataFrame({"kids": [10.0, 20.0]},
                           geometry=shapely.points([600, 900], [975, 975]), crs=32650)
    cells = read_population(pts, count_col="kids", residents=res_tif)
    # centres 525..725 (values 1-5) nearer 600; 775..925 (6-9) nearer 900
    assert cells["residents"].tolist() == [1 + 2 + 3 + 4 + 5, 6 + 7 + 8 + 9]


def test_geojson_feature_ids_out_of_order_keep_the_whole_reads_rows(shared_data, tmp_path):
    # GDAL takes a GeoJSON feature's "id" as its FID: here they run backwards, so the FIDs
    # are not the rows; ids are still the rows of the whole read, in its order
    import json

    h = gpd.read_file(shared_data / "helsinki/helsinki_population_grid_2020.gpkg")
    doc = json.loads(h.drop(columns=["id"]).to_json())
    for i, feature in enumerate(doc["features"]):
        feature["id"] = 1000 - 7 * i
    (tmp_path / "back.geojson").write_text(json.dumps(doc), encoding="utf-8")
    parts = assert_windows_make_the_whole(tmp_path / "back.geojson", count_col="population")
    h.to_file(tmp_path / "named.geojson")   # with the id column named: its FIDs are 0..91
    assert_windows_make_the_whole(tmp_path / "named.geojson", count_col="population", id_col="id")
    assert np.array_equal(np.sort(pd.concat(parts).index.to_numpy()), np.arange(92))


@pytest.mark.parametrize("id_col", [None, "name"])
def test_geopackage_rtree_order_is_put_back_in_the_files_order(tmp_path, id_col):
    # 3,000 points inserted in random places: GeoPackage answers a box in its R-tree's order
    rng = np.random.default_rng(3)
    n = 3000
    g = gpd.GeoDataFrame({"name": [f"p{i:05d}" for i in range(n)],
                          "kids": rng.integers(0, 5, n).astype(float)},
                         geometry=shapely.points(rng.random(n) * 5000 + 400_000,
                                                 rng.random(n) * 5000 + 3_300_000),
                         crs="EPSG:32650")
    g.to_file(tmp_path / "pts.gpkg")
    g.to_file(tmp_path / "pts.geojson")
    assert_windows_make_the_whole(tmp_path / "pts.gpkg", count_col="kids", id_col=id_col)
    assert_windows_make_the_whole(tmp_path / "pts.geojson", count_col="kids", id_col=id_col)


@pytest.mark.parametrize("id_col", [None, "name"])
def test_drivers_answering_a_box_in_their_indexs_order_read_in_the_files_order(tmp_path,
                                                                                id_col):
    """A GeoPackage inside a .zip (read through /vsizip/) answers a box in its R-tree's
    order, a MapInfo file in its index's: the window reads, with the layer's layout (a
    cluster run's workers, who number the cells by their ids), are in the whole read's
    order; a zipped GeoPackage's without the layout too."""
    import zipfile

    rng = np.random.default_rng(3)
    n = 3000
    g = gpd.GeoDataFrame({"name": np.arange(n) * 2 + 1,
                          "kids": rng.integers(0, 5, n).astype(float)},
                         geometry=shapely.points(rng.random(n) * 5000 + 400_000,
                                                 rng.random(n) * 5000 + 3_300_000),
                         crs="EPSG:32650")
    g.to_file(tmp_path / "pts.gpkg")
    with zipfile.ZipFile(tmp_path / "pts.zip", "w") as z:
        z.write(tmp_path / "pts.gpkg", "pts.gpkg")
    g.to_file(tmp_path / "pts.tab", driver="MapInfo File")
    written = list(range(n)) if id_col is None else (np.arange(n) * 2 + 1).tolist()
    for path in (tmp_path / "pts.zip", tmp_path / "pts.tab"):
        assert read_population(path, count_col="kids", id_col=id_col).index.tolist() == written
        assert_windows_make_the_whole(path, count_col="kids", id_col=id_col,
                                      layout=population.vector_layout(path))
    assert_windows_make_the_whole(tmp_path / "pts.zip", count_col="kids", id_col=id_col)


def test_a_flatgeobuf_with_a_spatial_index_is_read_in_its_files_order(tmp_path):
    """A FlatGeobuf file written with its spatial index holds its features in the index's
    (Hilbert) order, not the order they were written in: the whole read's order. Without an
    id column the window reads' rows are that order's; ids written ascending no longer
    ascend in the file's order, so a cluster run reads the layer whole."""
    rng = np.random.default_rng(4)
    n = 2000
    g = gpd.GeoDataFrame({"cid": np.arange(n), "kids": np.ones(n)},
                         geometry=shapely.points(rng.random(n) * 5000 + 400_000,
                                                 rng.random(n) * 5000 + 3_300_000),
                         crs="EPSG:32650")
    path = tmp_path / "pts.fgb"
    g.to_file(path)
    whole = read_population(path, count_col="kids", id_col="cid")
    assert whole.index.tolist() != list(range(n))   # the file's order is not the written one
    assert not population.ids_follow_file_order(path, "cid")
    layout = population.vector_layout(path)
    assert layout.starts.tolist() == [0] and layout.lengths.tolist() == [n]
    parts = assert_windows_make_the_whole(path, count_col="kids", layout=layout)
    # each cell's row is its place in the whole read: its own cid there
    together = pd.concat(parts).sort_index()
    assert together["cid"].tolist() == whole.index.tolist()


def test_a_layer_gdal_cannot_count_quickly_is_counted(grid_without_ids, tmp_path):
    """GML: GDAL gives no feature count without reading the file (-1): the layout and the
    ids' order are still every feature's (a count of 0 would make the layer look empty,
    any id column look ascending)."""
    g = grid_without_ids.iloc[[i for i in range(len(grid_without_ids)) if i not in (5, 40)]]
    g = g.assign(cid=np.arange(len(g))[::-1])
    path = tmp_path / "grid.gml"
    g.to_file(path, driver="GML")
    layout = population.vector_layout(path)
    assert layout.features == 90
    assert not population.ids_follow_file_order(path, "cid")
    assert_windows_make_the_whole(path, count_col="population", layout=layout)


@pytest.mark.parametrize("id_col", [None, "id"])
def test_a_vector_layer_named_in_a_list_of_one_is_read_by_window(shared_data, tmp_path,
                                                                 id_col):
    """[population] path = ["grid.gpkg"] (a list of one, as several rasters are given):
    window_reading takes the layer itself, its layout every one of its 92 features."""
    from geoequity.scenario import window_reading

    grid = shared_data / "helsinki/helsinki_population_grid_2020.gpkg"
    text = (REPO_DATA / "demo.toml").read_text(encoding="utf-8").replace(
        '"demo/', f'"{REPO_DATA}/demo/').replace(
        f'path = "{REPO_DATA}/demo/residents.tif"',
        f'path = ["{grid}"]\ncount = "population"' + (f'\nid = "{id_col}"' if id_col else ""))
    (tmp_path / "list.toml").write_text(text, encoding="utf-8")
    scenario = load_scenario(tmp_path / "list.toml")
    assert population_arguments(scenario)[0] == [grid]
    reading = window_reading(scenario)
    assert reading is not None and reading.layout.features == 92


def test_feature_ids_run_backwards_with_an_id_column_no_window_scans_the_file(
        shared_data, tmp_path, monkeypatch):
    """GeoJSON "id" members running backwards are the FIDs, out of the file's order, beside
    an id column that ascends: the layout says the FIDs do not ascend, and the window reads
    keep the driver's order (the file's) without scanning the file for rows."""
    import json

    h = gpd.read_file(shared_data / "helsinki/helsinki_population_grid_2020.gpkg")
    doc = json.loads(h.to_json())
    for i, feature in enumerate(doc["features"]):
        feature["id"] = 1000 - 7 * i
    path = tmp_path / "back.geojson"
    path.write_text(json.dumps(doc), encoding="utf-8")
    layout = population.vector_layout(path)
    assert not layout.fids_ascend and layout.fids_unique and layout.features == 92

    def refuse(*args, **kwargs):
        raise AssertionError("a window scanned the file")

    monkeypatch.setattr(population, "_feature_rows", refuse)
    assert_windows_make_the_whole(path, count_col="population", id_col="id", layout=layout)


def test_repeated_feature_ids_never_number_cells_wrongly(tmp_path, capsys):
    """GeoJSON sequences keep repeated "id" members as FIDs (here 7 at rows 0 and 99, far
    apart): the layout says so, and a window read without an id column, which could not
    tell the two features' rows apart, stops with one line instead of giving both row 99
    (the whole read numbers them 0 and 99)."""
    import json

    lines = []
    for i in range(100):
        x, y = 500_050.0 + (i % 10) * 100, 4_000_050.0 + (i // 10) * 100
        lines.append(json.dumps({"type": "Feature", "id": 7 if i in (0, 99) else 1000 + i,
                                 "properties": {"pop": float(i + 1)},
                                 "geometry": {"type": "Point", "coordinates": [x, y]}}))
    path = tmp_path / "pts.geojsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    kw = {"count_col": "pop", "input_crs": "EPSG:32650"}
    whole = read_population(path, **kw)
    assert whole.index.tolist() == list(range(100))
    layout = population.vector_layout(path)
    assert not layout.fids_unique and layout.features == 100
    first = (500_000.0, 4_000_000.0, 500_500.0, 4_000_500.0)   # row 0's quarter, not 99's
    for given in (None, layout):
        with pytest.raises(InputError, match="repeat"):
            read_population(path, within=first, layout=given, **kw)
    # a cluster run refuses it before any window is read (in process it reads as above)
    from geoequity.scenario import window_reading

    text = (REPO_DATA / "demo.toml").read_text(encoding="utf-8").replace(
        '"demo/', f'"{REPO_DATA}/demo/').replace(
        f'path = "{REPO_DATA}/demo/residents.tif"',
        f'path = "{path}"\ncount = "pop"\ninput_crs = "EPSG:32650"')
    (tmp_path / "repeat.toml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="repeats feature ids"):
        window_reading(load_scenario(tmp_path / "repeat.toml"))
    # with text ids out of the file's order, the rows are what the workers would need:
    # the client reads the layer whole, and says so
    for i, line in enumerate(lines):
        feature = json.loads(line)
        feature["properties"]["cid"] = f"c{(37 * i) % 100:03d}"
        lines[i] = json.dumps(feature)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "repeat_ids.toml").write_text(text.replace('count = "pop"',
                                                           'count = "pop"\nid = "cid"'),
                                              encoding="utf-8")
    assert window_reading(load_scenario(tmp_path / "repeat_ids.toml")) is None
    assert ("pts.geojsonl: its features repeat their FIDs and its ids ('cid') are not "
            "integers ascending in the file's order, so the client reads it whole") \
        in capsys.readouterr().err


# ---------------------------------------------------------------- the client's points
def test_cells_read_as_points_window_by_window_are_the_whole_reads_points(shared_data,
                                                                         monkeypatch):
    """A cluster run's client reads a raster's cells as their points, a window at a time:
    the whole read's rows, in its order, each geometry exactly its cell's point."""
    from geoequity.io.population import read_population_points

    src = shared_data / "wuhan/pop_20_f_wuhan.tif"
    whole = read_population(src, child_share=0.1)
    monkeypatch.setattr(population, "POINTS_WINDOW_PIXELS", 50_000)   # several windows
    points = read_population_points(src, child_share=0.1)
    assert len(points) == 494_676   # README: valid pixels
    assert list(points.index) == list(whole.index) and list(points.columns) == list(
        whole.columns)
    pd.testing.assert_frame_equal(pd.DataFrame(points.drop(columns="geometry")),
                                  pd.DataFrame(whole.drop(columns="geometry")))
    x, y = representative_xy(whole)
    assert (shapely.get_type_id(np.asarray(points.geometry.array)) == 0).all()
    assert np.array_equal(shapely.get_x(np.asarray(points.geometry.array)), x)
    assert np.array_equal(shapely.get_y(np.asarray(points.geometry.array)), y)
    assert points.crs == whole.crs and points.attrs["points_of"] == "polygons"
    assert {k: v for k, v in points.attrs.items() if k != "points_of"} == whole.attrs


def test_cells_read_as_points_only_for_rasters(shared_data):
    from geoequity.io.population import read_population_points

    with pytest.raises(ValueError, match="rasters only"):
        read_population_points(shared_data / "helsinki/helsinki_population_grid_2020.gpkg",
                               count_col="population")


@pytest.mark.parametrize("raster", ["wuhan", "messy"])
def test_cells_read_as_points_count_the_dropped_pixels_as_the_whole_read(
        raster, shared_data, messy_raster, monkeypatch, capsys):
    """The points read window by window says what the whole read says of the pixels it
    dropped: the same zero, nodata and negative counts and the same total (each pixel counted
    once, though the windows overlap by their two pixels of margin)."""
    import re

    import geoequity._progress as progress
    from geoequity.io.population import read_population_points

    src = shared_data / "wuhan/pop_20_f_wuhan.tif" if raster == "wuhan" else messy_raster
    monkeypatch.setattr(progress, "_QUIET", False)   # (the lines are the subject)
    read_population(src, child_share=0.1)
    whole = capsys.readouterr().err
    monkeypatch.setattr(population, "POINTS_WINDOW_PIXELS", 50_000 if raster == "wuhan" else 300)
    read_population_points(src, child_share=0.1)
    windows = capsys.readouterr().err
    figures = re.compile(r"([\d,]+) populated pixels kept \(([\d,]+) zero and ([\d,]+) nodata "
                         r"pixels dropped\); total ([\d,]+)")
    negative = re.compile(r"(\d+) negative pixel\(s\) treated as nodata")
    assert figures.findall(windows) == figures.findall(whole) != []
    assert negative.findall(windows) == negative.findall(whole)
    assert re.search(r"read in (\d+) window\(s\) as their points", windows).group(1) != "1"
    if raster == "messy":
        assert negative.findall(whole) != []
