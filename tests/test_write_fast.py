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
from geoequity.io.write import _float_fields, write_csv, write_table


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


def test_geometry_types_as_geopandas_names_them():
    from geoequity.io.parquet import geometry_types

    values = np.array([shapely.box(0, 0, 1, 1), None, shapely.Point(0, 0),
                       shapely.MultiPolygon([shapely.box(0, 0, 1, 1)]),
                       shapely.LineString([(0, 0), (1, 1)])], dtype=object)
    assert geometry_types(values) == ["LineString", "MultiPolygon", "Point", "Polygon"]
    assert geometry_types(values) == sorted(set(gpd.GeoSeries(values).geom_type.dropna()))
    assert geometry_types(values[1:2]) == []


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
