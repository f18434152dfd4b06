"""The faster table writers give the same files as the plain ones (issue #14, in-process speed).

References are independent of the code under test: pandas' own ``to_csv``, Python's ``repr``,
GeoPackages written row by row, shapely centroids, and hand-written values.
"""

import gc

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geoequity.io.vector import representative_points
from geoequity.io.write import _float_fields, write_csv, write_gpkg_parts, write_table


def _mixed_table(n=70_001, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "f": rng.lognormal(0, 8, n) * rng.choice([-1, 1], n),
        "g": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
        "whole": rng.integers(-1000, 1000, n).astype(float),
        "f32": rng.random(n).astype("float32"),
        "i": rng.integers(-5, 10**12, n),
        "u8": rng.integers(0, 200, n).astype("uint8"),
        "b": rng.random(n) < 0.5,
        "s": pd.array(rng.choice(["D01", "b,c", 'q"x', "l\nm", "z\r", "中文", None], n),
                      dtype="string"),
        "o": rng.choice(["x", "y,z", ""], n).astype(object),
    })
    df.loc[3, "f"] = np.inf
    df.loc[4, "f"] = -0.0
    df.loc[5, "f"] = 1e-5
    df.loc[6, "f"] = 1e16
    df.loc[7, "o"] = None
    df.loc[8, "o"] = np.nan
    return df


def test_csv_text_equals_pandas(tmp_path):
    df = _mixed_table()
    for table in (df, df.iloc[:0], df[["f", "s"]], df[["o", "i"]],
                  df.rename(columns={"f": 'a,"b'}), df[["s"]]):
        write_csv(table, tmp_path / "fast.csv")
        got = (tmp_path / "fast.csv").read_bytes().decode("utf-8")
        assert got == table.to_csv(index=False)


def test_float_fields_are_python_repr():
    rng = np.random.default_rng(1)
    v = np.concatenate([
        rng.lognormal(0, 12, 300_000) * rng.choice([-1, 1], 300_000),
        rng.integers(-10**17, 10**17, 20_000).astype(float),
        [0.0, -0.0, np.inf, -np.inf, np.nan, 1e16, 9999999999999998.0, 1e-4, 1e-5, 0.1 + 0.2,
         5e-324, 1.7976931348623157e308, 123456789012.0, 1e15 + 0.5]])
    assert _float_fields(v) == ["" if x != x else repr(x) for x in v.tolist()]


def test_geo_csv_floats_rounded_to_ten_digits(tmp_path):
    # the README's rule for every CSV table: 10 significant digits, residues under 1e-9 as 0
    gdf = gpd.GeoDataFrame({"cost": [1054.0096052235947, 2.2e-16], "n": [1, 2]},
                           geometry=gpd.points_from_xy([500_000.0, 500_100.0], [0.0, 0.0]),
                           crs="EPSG:32650")
    write_table(gdf, tmp_path / "t.csv")
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0] == "cost,n,lon,lat"
    assert lines[1].startswith("1054.009605,1,117.0,0.0")
    assert lines[2].startswith("0.0,2,")


def test_large_geopackage_equals_row_by_row(tmp_path):
    df = _mixed_table(n=12_000).drop(columns=["f32", "o"])
    xs = np.arange(len(df), dtype=float) * 100.0
    gdf = gpd.GeoDataFrame(df, geometry=shapely.box(xs, 0.0, xs + 100.0, 100.0),
                           crs="EPSG:32650")
    write_table(gdf, tmp_path / "cells.gpkg")
    gdf.to_file(tmp_path / "plain.gpkg", driver="GPKG", engine="pyogrio", index=False,
                layer="cells")
    fast = gpd.read_file(tmp_path / "cells.gpkg")
    plain = gpd.read_file(tmp_path / "plain.gpkg")
    pd.testing.assert_frame_equal(fast, plain)
    info_fast = pyogrio.read_info(tmp_path / "cells.gpkg")
    info_plain = pyogrio.read_info(tmp_path / "plain.gpkg")
    for key in ("fields", "dtypes"):
        assert list(info_fast[key]) == list(info_plain[key])
    assert info_fast["ogr_subtypes"] == info_plain["ogr_subtypes"]


def _layer_facts(path):
    """What GDAL declares of a GeoPackage's one layer, and its spatial index's size, read
    with SQLite (not through the code under test)."""
    import sqlite3

    with sqlite3.connect(path) as db:
        declared = db.execute("select table_name, column_name, geometry_type_name, srs_id, z "
                              "from gpkg_geometry_columns").fetchall()
        name, column = declared[0][:2]
        indexed = db.execute(f"select count(*) from rtree_{name}_{column}").fetchone()[0]
        extent = db.execute("select min_x, min_y, max_x, max_y from gpkg_contents").fetchall()
    return declared, indexed, extent


def test_geopackage_from_parts_is_the_whole_layer(tmp_path):
    """A cluster run's cells.gpkg, written part by part (write_gpkg_parts), is the layer one
    write of every row gives, row for row and as GDAL declares it: parts of plain columns
    (one of them with a text column of no value, empty parts between), parts that are not
    (text mixed with numbers, mixed geometry types), 3-D points, and no rows at all."""
    rng = np.random.default_rng(4)
    df = _mixed_table(n=9_000, seed=4).drop(columns=["f32", "o"])
    xs = np.arange(len(df), dtype=float) * 100.0
    gdf = gpd.GeoDataFrame(df, geometry=shapely.box(xs, 0.0, xs + 100.0, 100.0),
                           crs="EPSG:32650")
    gdf["note"] = np.where(np.arange(len(gdf)) < 3000, None, "n")   # none in the first part
    cuts = [0, 3000, 3000, 5500, 9000, 9000]
    mixed = gdf.copy()
    mixed["o"] = [1 if i % 2 else "x" for i in range(len(mixed))]   # not plain
    two = shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)])
    first, later = gdf.copy(), gdf.copy()
    first.loc[10, "geometry"] = two     # a multi polygon in the first part ...
    later.loc[6000, "geometry"] = two   # ... or in a later one: every polygon made multi
    points = gpd.GeoDataFrame({"v": rng.random(4000)}, crs=4326, geometry=shapely.points(
        rng.random(4000), rng.random(4000), rng.random(4000)))
    for case, layer, at, types in [
            ("plain", gdf, cuts, None), ("mixed", mixed, cuts, None),
            ("first", first, cuts, None), ("later", later, cuts, ["MultiPolygon", "Polygon"]),
            ("points", points, [0, 1000, 4000], None)]:
        parts = [layer.iloc[a:z] for a, z in zip(at[:-1], at[1:], strict=True)]
        write_gpkg_parts(iter(parts), tmp_path / f"{case}.gpkg", layer="cells",
                         geometry_types=types)
        layer.to_file(tmp_path / f"{case}-whole.gpkg", driver="GPKG", engine="pyogrio",
                      index=False, layer="cells")
        got = gpd.read_file(tmp_path / f"{case}.gpkg")
        pd.testing.assert_frame_equal(got, gpd.read_file(tmp_path / f"{case}-whole.gpkg"))
        assert len(got) == len(layer)
        facts = _layer_facts(tmp_path / f"{case}.gpkg")
        assert facts == _layer_facts(tmp_path / f"{case}-whole.gpkg"), case
        assert facts[1] == len(layer)   # every row in the spatial index
    assert _layer_facts(tmp_path / "points.gpkg")[0][0][2:] == ("POINT", 4326, 1)
    assert _layer_facts(tmp_path / "plain.gpkg")[0][0][2:] == ("POLYGON", 32650, 0)
    assert _layer_facts(tmp_path / "later.gpkg")[0][0][2:] == ("MULTIPOLYGON", 32650, 0)
    assert got.geom_type.unique().tolist() == ["Point"] and got.has_z.all()
    # a custom CRS (no EPSG code), and a first part without any geometry
    custom = "+proj=tmerc +lat_0=0 +lon_0=117.5 +k=1 +x_0=500000 +y_0=0 +ellps=GRS80 +units=m"
    blank = gdf.iloc[:2000].set_crs(custom, allow_override=True)
    blank = blank.set_geometry(gpd.GeoSeries([None] * 1000 + list(blank.geometry[1000:]),
                                             index=blank.index, crs=custom))
    nothing = blank.iloc[:1000]
    for case, parts, types in [("custom", [blank.iloc[1000:1500], blank.iloc[1500:]], None),
                               ("nothing", [nothing, blank.iloc[1000:]], ["Polygon"])]:
        write_gpkg_parts(iter(parts), tmp_path / f"{case}.gpkg", layer="cells",
                         geometry_types=types)
        whole = pd.concat(parts)
        whole.to_file(tmp_path / f"{case}-whole.gpkg", driver="GPKG", engine="pyogrio",
                      index=False, layer="cells")
        pd.testing.assert_frame_equal(gpd.read_file(tmp_path / f"{case}.gpkg"),
                                      gpd.read_file(tmp_path / f"{case}-whole.gpkg"))
        assert _layer_facts(tmp_path / f"{case}.gpkg") == _layer_facts(
            tmp_path / f"{case}-whole.gpkg"), case
    # no rows at all: the last (empty) part makes the layer; no part: no file
    write_gpkg_parts(iter([gdf.iloc[:0], gdf.iloc[:0]]), tmp_path / "empty.gpkg", layer="cells")
    assert len(gpd.read_file(tmp_path / "empty.gpkg")) == 0
    write_gpkg_parts(iter([]), tmp_path / "none.gpkg", layer="cells")
    assert not (tmp_path / "none.gpkg").exists()


def test_geopackage_from_parts_is_one_stream_and_keeps_errors(tmp_path, monkeypatch):
    """Plain parts go to GDAL in one write (no per-part append); an error raised while a part
    is made reaches the caller as it was raised (a full disk while the CSV is written beside
    it, a part whose column does not fit the first's), not as GDAL's stream error."""
    import errno

    from geoequity.io import write as W

    layer = _grid(3000)
    parts = [layer.iloc[:1000], layer.iloc[1000:2000], layer.iloc[2000:]]

    def no_append(*args, **kwargs):
        raise AssertionError("appended part by part")

    with monkeypatch.context() as m:
        m.setattr(W, "write_gpkg", no_append)
        write_gpkg_parts(iter(parts), tmp_path / "one.gpkg", layer="cells")
    assert len(gpd.read_file(tmp_path / "one.gpkg")) == 3000

    def full_disk():
        yield parts[0]
        raise OSError(errno.ENOSPC, "No space left on device", "cells.csv")

    try:
        write_gpkg_parts(full_disk(), tmp_path / "full.gpkg", layer="cells")
    except OSError as exc:
        assert exc.errno == errno.ENOSPC and exc.filename == "cells.csv"
    else:
        raise AssertionError("the full disk was not raised")
    odd = parts[1].assign(v=["x"] * 1000)   # text where the first part has integers
    try:
        write_gpkg_parts(iter([parts[0], odd]), tmp_path / "odd.gpkg", layer="cells")
    except RuntimeError as exc:
        raise AssertionError(f"GDAL's error instead of the part's: {exc}") from None
    except Exception as exc:
        assert "x" in str(exc) or "int" in str(exc).lower(), exc
    else:
        raise AssertionError("a part whose column does not fit was written")


def _grid(n, offset=0.0):
    xs = np.arange(n, dtype=float) * 100.0 + offset
    return gpd.GeoDataFrame({"v": np.arange(n)},
                            geometry=shapely.box(xs, 0.0, xs + 100.0, 100.0), crs=32650)


def test_representative_points_of_copies_and_of_new_layers():
    a = _grid(25_000)
    first = representative_points(a)
    again = representative_points(a.copy())
    assert np.array_equal(shapely.get_coordinates(again.values),
                          shapely.get_coordinates(first.values))
    assert again.index.equals(a.index)
    # centres of the 100 m boxes, by hand
    assert np.allclose(shapely.get_coordinates(first.values)[:3],
                       [[50.0, 50.0], [150.0, 50.0], [250.0, 50.0]])
    del a, first, again
    gc.collect()
    b = _grid(25_000, offset=1_000_000.0)   # same size, other geometries
    assert shapely.get_coordinates(representative_points(b).values)[0].tolist() == [
        1_000_050.0, 50.0]


def test_representative_points_follow_a_geometry_set_in_place():
    a = _grid(25_000)
    representative_points(a)
    a.loc[0, "geometry"] = shapely.box(5_000_000.0, 0.0, 5_000_100.0, 100.0)
    assert shapely.get_coordinates(representative_points(a).values)[0].tolist() == [
        5_000_050.0, 50.0]


def test_representative_points_follow_a_geometry_emptied_then_set():
    # Emptying a cell first frees its geometry, and CPython often gives the next new geometry
    # the freed address (the same id): the remembered points must not be reused for it.
    a = _grid(25_000)
    representative_points(a)
    for k in range(20):
        a.loc[k, "geometry"] = None
        a.loc[k, "geometry"] = shapely.box(5e6 + k, 0.0, 5e6 + k + 100.0, 100.0)
        got = shapely.get_coordinates(representative_points(a).values)[k].tolist()
        assert got == [5e6 + k + 50.0, 50.0]


def _square_cells(n_side=40, size=100.0, x0=500_000.5, y0=3_400_000.25):
    """n_side x n_side square cells (5 corners each), with a -0.0 and an odd coordinate."""
    xs, ys = np.meshgrid(np.arange(n_side) * size + x0, np.arange(n_side) * size + y0)
    cells = shapely.box(xs.ravel(), ys.ravel(), xs.ravel() + size, ys.ravel() + size)
    cells[0] = shapely.Polygon([(-0.0, 0.0), (0.1, 0.0), (0.1, 0.2), (-0.0, 1 / 3), (-0.0, 0.0)])
    return cells


def test_wkb_of_grid_cells_is_shapelys_byte_for_byte():
    import pyarrow as pa

    from geoequity.io.parquet import wkb_array

    cells = _square_cells()
    fast = wkb_array(cells)
    assert fast.to_pylist() == list(shapely.to_wkb(cells))   # GEOS' own bytes
    # one cell by hand: order mark 1, type 3, 1 ring, 5 corners, then x, y as doubles
    one = wkb_array(np.array([shapely.box(0, 0, 1, 2)])).to_pylist()[0]
    assert one[:13] == bytes([1, 3, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0])
    assert np.frombuffer(one[13:], "<f8").tolist() == [1, 0, 1, 2, 0, 2, 0, 0, 1, 0]
    others = {   # not one shape of grid cells: shapely writes them, as before
        "hole": shapely.Polygon([(0, 0), (9, 0), (9, 9), (0, 0)], [[(1, 1), (2, 1), (2, 2)]]),
        "triangle": shapely.Polygon([(0, 0), (1, 0), (1, 1)]),
        "multi": shapely.MultiPolygon([shapely.box(0, 0, 1, 1)]),
        "z": shapely.Polygon([(0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)]),
        "empty": shapely.Polygon(),
        "point": shapely.Point(1, 2),
    }
    for name, odd in others.items():
        mixed = np.concatenate([cells[:3], np.array([odd], dtype=object)])
        assert wkb_array(mixed).to_pylist() == list(shapely.to_wkb(mixed)), name
    with_none = np.array([shapely.box(0, 0, 1, 1), None], dtype=object)
    assert wkb_array(with_none).equals(pa.array(shapely.to_wkb(with_none), type=pa.binary()))
    assert len(wkb_array(np.array([], dtype=object))) == 0


def test_geometry_types_as_geopandas_names_them(tmp_path):
    import json

    import pyarrow.parquet as pq

    from geoequity.io.parquet import geometry_types, geometry_types_of

    values = np.array([shapely.box(0, 0, 1, 1), None, shapely.Point(0, 0),
                       shapely.MultiPolygon([shapely.box(0, 0, 1, 1)]),
                       shapely.LineString([(0, 0), (1, 1)])], dtype=object)
    assert geometry_types(values) == ["LineString", "MultiPolygon", "Point", "Polygon"]
    assert geometry_types(values) == sorted(set(gpd.GeoSeries(values).geom_type.dropna()))
    assert geometry_types(values[1:2]) == []
    # 3-D geometries as geopandas names them in GeoParquet
    z = np.array([shapely.Point(0, 0, 1), shapely.Point(0, 0), shapely.box(0, 0, 1, 1)])
    assert geometry_types(z) == ["Point", "Point Z", "Polygon"]
    gpd.GeoDataFrame(geometry=z, crs=4326).to_parquet(tmp_path / "z.parquet")   # geopandas'
    geo = json.loads(pq.read_schema(tmp_path / "z.parquet").metadata[b"geo"])
    assert geo["columns"]["geometry"]["geometry_types"] == ["Point", "Point Z", "Polygon"]
    # several files' together; a file that does not say: not known
    gpd.GeoDataFrame(geometry=values[2:4], crs=4326).to_parquet(tmp_path / "b.parquet")
    assert geometry_types_of([tmp_path / "z.parquet", tmp_path / "b.parquet"]) == [
        "MultiPolygon", "Point", "Point Z", "Polygon"]
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "plain.parquet")
    assert geometry_types_of([tmp_path / "z.parquet", tmp_path / "plain.parquet"]) is None


def test_grid_cells_parquet_is_the_same_file_as_through_shapely(tmp_path, monkeypatch):
    import pyarrow as pa

    import geoequity.io.parquet as gp

    cells = gpd.GeoDataFrame({"district": np.repeat(["B", "A"], 800), "children": 1.5},
                             geometry=_square_cells(), crs=32650)
    write_table(cells, tmp_path / "fast.parquet", groups="district")
    monkeypatch.setattr(gp, "wkb_array",   # the plain way: a bytes object per cell
                        lambda v: pa.array(shapely.to_wkb(v), type=pa.binary()))
    monkeypatch.setattr(gp, "geometry_types",
                        lambda v: sorted(set(gpd.GeoSeries(v).geom_type.dropna())))
    write_table(cells, tmp_path / "plain.parquet", groups="district")
    assert (tmp_path / "fast.parquet").read_bytes() == (tmp_path / "plain.parquet").read_bytes()
    back = gpd.read_parquet(tmp_path / "fast.parquet")
    a_then_b = np.concatenate([_square_cells()[800:], _square_cells()[:800]])
    assert back.geometry.geom_equals_exact(gpd.GeoSeries(a_then_b, crs=32650), 0).all()
