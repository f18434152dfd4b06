"""Coordinate systems: UTM choice and China's web-map systems against published pairs."""

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point

from geoequity import InputError
from geoequity.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    declare_crs,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    is_metric,
    to_projected,
    utm_crs_for,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

# Published pairs from the widely used coordtransform implementations (wandergis/coordtransform
# test values, reproduced in hutool's CoordinateUtilTest and coordtransform-rs):
# WGS84 (116.404, 39.915) -> GCJ-02 (116.41024449916938, 39.91640428150164)
# GCJ-02 (116.404, 39.915) -> BD-09 (116.41036949371029, 39.92133699351021)
# BD-09 (116.404, 39.915) -> GCJ-02 (116.39762729119315, 39.90865673957631)
# and a chain from geotool's CLI tests: WGS84 (121.0917077, 30.6107779)
# -> GCJ-02 (121.09626935575027, 30.608604331756705)
# -> BD-09 (121.10271732371203, 30.61484572185035)


def test_wgs84_to_gcj02_matches_published_pair():
    lon, lat = wgs84_to_gcj02(116.404, 39.915)
    assert lon == pytest.approx(116.41024449916938, abs=1e-12)
    assert lat == pytest.approx(39.91640428150164, abs=1e-12)
    # a second implementation agrees to about a centimetre (1e-7 degrees)
    lon, lat = wgs84_to_gcj02(121.0917077, 30.6107779)
    assert lon == pytest.approx(121.09626935575027, abs=2e-7)
    assert lat == pytest.approx(30.608604331756705, abs=2e-7)


def test_bd09_pairs():
    assert np.allclose(gcj02_to_bd09(116.404, 39.915), (116.41036949371029, 39.92133699351021),
                       atol=1e-12)
    assert np.allclose(bd09_to_gcj02(116.404, 39.915), (116.39762729119315, 39.90865673957631),
                       atol=1e-12)
    assert np.allclose(wgs84_to_bd09(121.0917077, 30.6107779),
                       (121.10271732371203, 30.61484572185035), atol=1e-9)


def test_inverse_recovers_wgs84_to_a_centimetre():
    # published WGS84 point is given to 1e-7 degrees (about 1 cm)
    lon, lat = gcj02_to_wgs84(121.09626935575027, 30.608604331756705)
    assert lon == pytest.approx(121.0917077, abs=2e-7)
    assert lat == pytest.approx(30.6107779, abs=2e-7)
    lon, lat = bd09_to_wgs84(121.10271732371203, 30.61484572185035)
    assert lon == pytest.approx(121.0917077, abs=1e-6)
    assert lat == pytest.approx(30.6107779, abs=1e-6)


def test_inverse_is_exact_round_trip_on_an_array():
    rng = np.random.default_rng(1)
    lon = rng.uniform(100, 122, 500)
    lat = rng.uniform(20, 45, 500)
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert np.abs(back[0] - lon).max() < 1e-9 and np.abs(back[1] - lat).max() < 1e-9


def test_outside_china_is_not_shifted():
    assert np.allclose(wgs84_to_gcj02(-51.2, -30.0), (-51.2, -30.0))


def test_utm_zone_from_extent():
    assert utm_crs_for((114.0, 30.0, 114.6, 30.8)).to_epsg() == 32650  # Wuhan
    assert utm_crs_for((-51.27, -30.11, -51.13, -29.99)).to_epsg() == 32722  # Porto Alegre
    assert utm_crs_for((24.90, 60.15, 24.96, 60.18)).to_epsg() == 32635  # Helsinki


def test_missing_crs_is_refused_with_how_to_declare():
    gdf = gpd.GeoDataFrame(geometry=[Point(1, 2)])
    with pytest.raises(InputError, match="no coordinate reference system.*input_crs"):
        declare_crs(gdf, None, "layer.geojson")


def test_declared_gcj02_layer_lands_on_wgs84():
    gdf = gpd.GeoDataFrame(geometry=[Point(116.41024449916938, 39.91640428150164)])
    out = declare_crs(gdf, "gcj02", "pois.csv")
    assert out.crs.to_epsg() == 4326
    assert out.geometry.x[0] == pytest.approx(116.404, abs=1e-8)
    assert out.geometry.y[0] == pytest.approx(39.915, abs=1e-8)


def test_declared_gcj02_leaves_a_projected_layer_where_it_is():
    # one --input-crs gcj02 for an Amap schools CSV must not refuse (or move) the UTM cells
    # of a run read in the same command: a projected layer is in no web-map system
    gdf = gpd.GeoDataFrame(geometry=[Point(500000.0, 3370000.0)], crs="EPSG:32650")
    out = declare_crs(gdf, "gcj02", "cells.gpkg")
    assert out.crs.to_epsg() == 32650
    assert (out.geometry.x[0], out.geometry.y[0]) == (500000.0, 3370000.0)


def test_feet_crs_goes_to_metres():
    gdf = gpd.GeoDataFrame(geometry=[Point(725000, 878000)], crs="EPSG:2223")  # US ft
    assert not is_metric(gdf.crs)
    out = to_projected(gdf)
    assert is_metric(out.crs) and out.crs.to_epsg() == 32612


def test_web_mercator_is_not_kept_for_distances():
    # EPSG:3857 metres are stretched by 1/cos(lat): x2 in Helsinki. Reproject to UTM.
    gdf = gpd.GeoDataFrame(geometry=[Point(24.94, 60.17), Point(24.96, 60.17)], crs=4326)
    merc = gdf.to_crs(3857)
    assert not is_metric(merc.crs)
    out = to_projected(merc)
    assert out.crs.to_epsg() == 32635
    true_m = out.geometry.iloc[0].distance(out.geometry.iloc[1])
    assert true_m == pytest.approx(1110.9, rel=0.01)  # 0.02 deg x 111.32 km x cos(60.17)
    assert merc.geometry.iloc[0].distance(merc.geometry.iloc[1]) > 1.9 * true_m
