"""Input readers on the real data in ../shared/data and on messy hand-made files."""

import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box

import geoequity as ge
from geoequity import InputError
from geoequity.crs import wgs84_to_gcj02


# ---------------------------------------------------------------- real data
def test_porto_alegre_hexgrid_as_population(shared_data):
    cells = ge.read_population(shared_data / "porto_alegre/poa_hexgrid.csv",
                               count_col="population", id_col="id", child_share=0.15)
    # figures from ../shared/data/README.md
    assert len(cells) == 1227
    assert cells["population"].sum() == pytest.approx(812_935)
    assert int((cells["population"] == 0).sum()) == 103
    assert cells["children"].sum() == pytest.approx(812_935 * 0.15)
    assert cells.crs.to_epsg() == 32722 and cells.crs.is_projected
    assert cells.index.is_unique and cells.loc["89a9012a3cfffff", "id"] == "89a9012a3cfffff"


def test_porto_alegre_school_counts_as_school_points(shared_data, tmp_path):
    hex_ = pd.read_csv(shared_data / "porto_alegre/poa_hexgrid.csv")
    rows = hex_.loc[hex_.index.repeat(hex_["schools"])].reset_index(drop=True)
    rows["school_id"] = [f"s{i}" for i in range(len(rows))]
    rows[["school_id", "lon", "lat"]].to_csv(tmp_path / "schools.csv", index=False)
    schools = ge.read_schools(tmp_path / "schools.csv", id_col="school_id", default_seats=600)
    assert len(schools) == 194  # 194 schools in 177 cells
    assert schools.geometry.nunique() == 177
    assert (schools["seats"] == 600).all() and (schools["level"] == "all").all()


def test_helsinki_vector_grid(shared_data):
    cells = ge.read_population(shared_data / "helsinki/helsinki_population_grid_2020.gpkg",
                               count_col="population", id_col="id")
    assert len(cells) == 92
    assert cells["children"].sum() == pytest.approx(71_724)
    assert cells.crs.to_epsg() == 32635
    # 250 m squares stay 250 m squares (area within 1% after projection)
    assert np.allclose(cells.area, 62_500, rtol=0.01)


def test_wuhan_worldpop_rasters_summed_and_total_preserved(shared_data):
    paths = [shared_data / "wuhan/pop_20_f_wuhan.tif", shared_data / "wuhan/pop_20_m_wuhan.tif"]
    cells = ge.read_population(paths)
    # README sums: 514,895 women and 579,156 men aged 20-24; 494,676 valid pixels
    assert cells["population"].sum() == pytest.approx(514_895 + 579_156, rel=1e-3)
    assert len(cells) == 494_676
    assert cells.crs.to_epsg() == 32650


def test_geodanet_feet_without_epsg(shared_data):
    schools = ge.read_schools(shared_data / "geodanet/schools.shp", id_col="POLYID",
                              default_seats=500)
    raw = gpd.read_file(shared_data / "geodanet/schools.shp")
    assert raw.crs.to_epsg() is None  # no EPSG code: the WKT is kept and honoured
    assert schools.crs.to_epsg() == 32612 and len(schools) == 8
    # a distance in feet (US survey foot = 1200/3937 m) equals the distance in metres
    feet = raw.geometry.iloc[0].distance(raw.geometry.iloc[1])
    metres = schools.geometry.iloc[0].distance(schools.geometry.iloc[1])
    assert metres == pytest.approx(feet * 1200 / 3937, rel=2e-3)


def test_corrupt_wuhan_geojson_is_refused_clearly(shared_data):
    with pytest.raises(InputError) as err:
        ge.read_districts(shared_data / "wuhan/wuhan-boundary.geojson", name_col="name")
    msg = str(err.value)
    assert "wuhan-boundary.geojson" in msg and "line 5" in msg and "\n" not in msg


def test_wuhan_shapefile_boundary(shared_data):
    d = ge.read_districts(shared_data / "wuhan/wuhan-boundary.shp", name_col="name")
    assert list(d["district"]) == ["武汉市"] and d.crs.to_epsg() == 32650
    # about 8,500 km2 (Wuhan's administrative area is 8,569 km2)
    assert 8_000e6 < d.area.iloc[0] < 9_000e6


# ---------------------------------------------------------------- messy files
def _schools_gdf():
    return gpd.GeoDataFrame(
        {"code": ["a", "b", "c"], "cap": [300, 450, 0], "lvl": ["小学", "Junior", "primary"],
         "teachers": [20, 31, 2]},
        geometry=[Point(114.30, 30.59), Point(114.31, 30.60), Point(114.32, 30.58)],
        crs=4326)


def test_schools_columns_levels_and_carry_through(tmp_path):
    _schools_gdf().to_file(tmp_path / "s.gpkg")
    s = ge.read_schools(tmp_path / "s.gpkg", id_col="code", seats_col="cap", level_col="lvl")
    assert list(s.index) == ["a", "b", "c"]
    assert list(s["seats"]) == [300.0, 450.0, 0.0]
    assert list(s["level"]) == ["primary", "junior", "primary"]
    assert list(s["teachers"]) == [20, 31, 2]


def test_zipped_shapefile(tmp_path):
    _schools_gdf().to_file(tmp_path / "s.shp")
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as z:
        for ext in ("shp", "shx", "dbf", "prj", "cpg"):
            if (tmp_path / f"s.{ext}").exists():
                z.write(tmp_path / f"s.{ext}", f"s.{ext}")
    s = ge.read_schools(tmp_path / "s.zip", id_col="code", seats_col="cap")
    assert len(s) == 3 and s.crs.to_epsg() == 32650


def test_polygon_schools_become_points_inside():
    gdf = gpd.GeoDataFrame({"id": [1, 2], "seats": [100, 200]}, geometry=[
        box(0, 0, 100, 100),
        # an L-shaped campus whose centroid falls outside it
        shapely.Polygon([(0, 0), (300, 0), (300, 20), (20, 20), (20, 300), (0, 300)]),
    ], crs=32650)
    s = ge.read_schools(gdf, id_col="id", seats_col="seats")
    assert (s.geom_type == "Point").all()
    assert shapely.contains(gdf.geometry.values, s.geometry.values).all()
    assert s.geometry.iloc[0].equals(Point(50, 50))


def test_duplicate_ids_named(tmp_path):
    df = pd.DataFrame({"id": [1, 2, 2], "seats": [1, 2, 3], "lon": [1, 2, 3], "lat": [1, 2, 3]})
    df.to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(InputError, match=r"s\.csv: column 'id' has duplicate ids.*rows \[2, 3\]"):
        ge.read_schools(tmp_path / "s.csv", id_col="id", seats_col="seats")


def test_missing_column_lists_the_available_ones(tmp_path):
    df = pd.DataFrame({"id": [1], "capacity": [1], "lon": [1], "lat": [1]})
    df.to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(InputError, match="no seats column 'seats'.*capacity"):
        ge.read_schools(tmp_path / "s.csv", id_col="id", seats_col="seats")


def test_bad_values_name_the_row(tmp_path):
    df = pd.DataFrame({"id": [1, 2], "seats": [10, -5], "lon": [1, 2], "lat": [1, 2]})
    df.to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(InputError, match="negative.*row 2"):
        ge.read_schools(tmp_path / "s.csv", id_col="id", seats_col="seats")


def test_csv_xy_needs_a_declared_crs(tmp_path):
    df = pd.DataFrame({"id": [1], "seats": [1], "x": [500000.0], "y": [3400000.0]})
    df.to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(InputError, match="no declared CRS"):
        ge.read_schools(tmp_path / "s.csv", id_col="id", seats_col="seats")
    s = ge.read_schools(tmp_path / "s.csv", id_col="id", seats_col="seats",
                        input_crs="EPSG:32650")
    assert s.geometry.x.iloc[0] == pytest.approx(500000.0)


def test_layer_without_crs_is_refused(tmp_path):
    gpd.GeoDataFrame({"n": [1]}, geometry=[Point(0, 0)]).to_file(tmp_path / "x.shp")
    with pytest.raises(InputError, match=r"x\.shp: has no coordinate reference system"):
        ge.read_schools(tmp_path / "x.shp", default_seats=1)


def test_gcj02_csv_is_converted_to_wgs84(tmp_path):
    glon, glat = wgs84_to_gcj02(114.3055, 30.5928)
    pd.DataFrame({"id": ["x"], "seats": [1], "lng": [float(glon)], "lat": [float(glat)]}).to_csv(
        tmp_path / "s.csv", index=False)
    s = ge.read_schools(tmp_path / "s.csv", id_col="id", seats_col="seats", input_crs="gcj02")
    back = s.to_crs(4326).geometry.iloc[0]
    assert back.x == pytest.approx(114.3055, abs=1e-7) and back.y == pytest.approx(30.5928,
                                                                                   abs=1e-7)


def test_invalid_and_empty_geometries_repaired_or_dropped(tmp_path):
    bowtie = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    gdf = gpd.GeoDataFrame({"name": ["A", "B", "C"]},
                           geometry=[bowtie, box(20, 0, 30, 10), None], crs=32650)
    d = ge.read_districts(gdf, name_col="name")
    assert list(d["district"]) == ["A", "B"] and d.is_valid.all()
    assert d.area.iloc[0] == pytest.approx(50.0)


def test_districts_with_repeated_names_are_dissolved():
    gdf = gpd.GeoDataFrame({"name": ["A", "A", "B"]},
                           geometry=[box(0, 0, 1, 1), box(5, 5, 6, 6), box(2, 2, 3, 3)],
                           crs=32650)
    d = ge.read_districts(gdf, name_col="name")
    assert list(d.index) == ["A", "B"] and d.loc["A"].geometry.area == pytest.approx(2.0)


def test_raster_nodata_and_zero_pixels_dropped(tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    arr = np.array([[1.5, 0.0, -9999.0], [2.0, np.nan, 3.0]], dtype="float32")
    with rasterio.open(tmp_path / "p.tif", "w", driver="GTiff", height=2, width=3, count=1,
                       dtype="float32", crs="EPSG:32650", transform=from_origin(0, 200, 100, 100),
                       nodata=-9999.0) as dst:
        dst.write(arr, 1)
    cells = ge.read_population(tmp_path / "p.tif")
    assert sorted(cells["population"]) == [1.5, 2.0, 3.0]
    assert np.allclose(cells.area, 10_000)
    assert cells.loc[5].geometry.bounds == (200.0, 0.0, 300.0, 100.0)


def test_raster_bounds_read_only_that_window(tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    arr = np.arange(1, 21, dtype="float32").reshape(4, 5)   # 4 rows x 5 cols, 100 m pixels
    with rasterio.open(tmp_path / "p.tif", "w", driver="GTiff", height=4, width=5, count=1,
                       dtype="float32", crs="EPSG:32650", transform=from_origin(0, 400, 100, 100),
                       nodata=-1) as dst:
        dst.write(arr, 1)
    # x 100..300, y 100..300: columns 1-2 of rows 1-2 (values 7, 8, 12, 13)
    part = ge.read_population(tmp_path / "p.tif", bounds=(100, 100, 300, 300))
    assert sorted(part["population"]) == [7.0, 8.0, 12.0, 13.0]
    assert sorted(part.index) == [6, 7, 11, 12]            # ids of the full raster (row*5+col)
    assert part.loc[6].geometry.bounds == (100.0, 200.0, 200.0, 300.0)
    full = ge.read_population(tmp_path / "p.tif")
    assert full.loc[part.index, "population"].tolist() == part["population"].tolist()
    # bounds past the edge are clipped to the raster; bounds outside it are a clear error
    edge = ge.read_population(tmp_path / "p.tif", bounds=(350, -1000, 9000, 100))
    assert sorted(edge["population"]) == [19.0, 20.0]
    with pytest.raises(InputError, match="do not overlap"):
        ge.read_population(tmp_path / "p.tif", bounds=(5000, 5000, 6000, 6000))


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(InputError, match="nope.gpkg: file not found"):
        ge.read_population(tmp_path / "nope.gpkg", count_col="x")


def test_write_table_formats_are_atomic(tmp_path, monkeypatch):
    gdf = gpd.GeoDataFrame({"v": [1.0, 2.0]}, geometry=[Point(0, 0), Point(1, 1)], crs=32650)
    for ext in ("csv", "gpkg", "parquet", "geojson"):
        ge.write_table(gdf, tmp_path / f"t.{ext}")
    assert list(pd.read_csv(tmp_path / "t.csv").columns) == ["v", "lon", "lat"]
    assert len(gpd.read_file(tmp_path / "t.gpkg")) == 2
    with pytest.raises(InputError, match="unknown output format"):
        ge.write_table(gdf, tmp_path / "t.xlsx")
    # a failure while writing leaves neither a half file nor a temporary
    def half_then_fail(self, path, *args, **kwargs):
        with open(path, "w") as f:
            f.write("half a file")
        raise OSError("disk full")

    monkeypatch.setattr(gpd.GeoDataFrame, "to_file", half_then_fail)
    (tmp_path / "t.gpkg").write_text("previous good output")
    with pytest.raises(OSError):
        ge.write_table(gdf, tmp_path / "t.gpkg")
    assert (tmp_path / "t.gpkg").read_text() == "previous good output"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "t.csv", "t.geojson", "t.gpkg", "t.parquet"]


def test_osm_extract_as_a_layer_is_refused(shared_data):
    pbf = next((shared_data / "helsinki").glob("*.pbf"))
    with pytest.raises(InputError, match="OpenStreetMap extract.*ogr2ogr"):
        ge.read_schools(pbf, default_seats=100)


def test_csv_semicolons_and_gbk_are_read(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("school_id;lon;lat;seats\nA;114.3;30.6;500\n", encoding="utf-8")
    s = ge.read_schools(p, id_col="school_id", seats_col="seats")
    assert list(s.index) == ["A"] and s["seats"].tolist() == [500.0]
    g = tmp_path / "g.csv"
    g.write_bytes("school_id,name,lon,lat,seats\nB,光谷第一小学,114.4,30.5,900\n".encode("gbk"))
    s = ge.read_schools(g, id_col="school_id", seats_col="seats", name_col="name")
    assert s.loc["B", "name"] == "光谷第一小学"
    bad = tmp_path / "b.csv"
    bad.write_text("id,lon,lat\n1,114.3,30.6\n2,114.3,\n", encoding="utf-8")
    with pytest.raises(InputError, match="'lat' has a missing or non-numeric value on line 3"):
        ge.read_points(bad, id_col="id")
