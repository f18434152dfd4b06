"""Network sources, modes, cache and the ``geoequity costs`` command."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoequity._errors import InputError, NetworkError
from geoequity.cli import main
from geoequity.network import Network, load_network
from geoequity.network.modes import oneway_flags, parse_maxspeed


# ---------------------------------------------------------------------------- modes
@pytest.mark.parametrize("value, expected", [
    ("50", 50.0), ("30 mph", 30 * 1.609344), ("50;60", 50.0), ("walk", 5.0), ("none", 130.0),
    (["40", "60"], 40.0), ("['60', '80']", 60.0), ("70 km/h", 70.0)])
def test_parse_maxspeed(value, expected):
    assert parse_maxspeed(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["BR:urban", None, float("nan"), "", "signals", "0"])
def test_parse_maxspeed_without_number_is_nan(value):
    assert math.isnan(parse_maxspeed(value))


def test_oneway_flags():
    one, rev = oneway_flags(pd.Series(["yes", "no", "-1", None, "true", "1", True]),
                            pd.Series([None, "roundabout", None, "circular", None, None, None]),
                            7)
    assert one.tolist() == [True, True, True, True, True, True, True]
    assert rev.tolist() == [False, False, True, False, False, False, False]


# ---------------------------------------------------------------------------- line layers
def _plus(crs="EPSG:32633"):
    """A plus sign: centre (0,0), arms 100 m long."""
    arms = [[(0, 0), (100, 0)], [(0, 0), (0, 100)], [(-100, 0), (0, 0)], [(0, -100), (0, 0)]]
    return gpd.GeoDataFrame({"highway": ["residential", "footway", "primary", "motorway"]},
                            geometry=[shapely.LineString(a) for a in arms], crs=crs)


def test_line_layer_modes_filter_highways():
    walk = load_network(_plus(), "walk")
    drive = load_network(_plus(), "drive")
    assert walk.n_nodes == 4 and walk.n_edges == 3  # motorway arm dropped for walking
    assert drive.n_edges == 3  # footway excluded for driving
    assert sorted(drive.speed) == [30.0, 60.0, 100.0]
    assert walk.length.sum() == pytest.approx(300.0)
    assert isinstance(walk, Network) and walk.crs.to_epsg() == 32633


def test_line_layer_in_degrees_is_projected_to_utm():
    lines = gpd.GeoDataFrame(geometry=[shapely.LineString([(-51.2, -30.0), (-51.19, -30.0)])],
                             crs=4326)
    net = load_network(lines)
    assert net.crs.to_epsg() == 32722
    # 0.01 degree of longitude at 30 S: 1113.2 m * cos(30 deg), UTM scale within 0.1 %
    assert net.length[0] == pytest.approx(111319.49 * 0.01 * math.cos(math.radians(30)),
                                          rel=1e-3)


def test_bad_line_layers():
    with pytest.raises(InputError, match="CRS"):
        load_network(_plus().set_crs(None, allow_override=True))
    pts = gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs=4326)
    with pytest.raises(InputError, match="LineString"):
        load_network(pts)
    with pytest.raises(InputError, match="mode"):
        load_network(_plus(), "fly")
    with pytest.raises(InputError, match="not found"):
        load_network("/no/such/streets.gpkg")
    with pytest.raises(InputError, match="speed"):
        load_network(_plus(), walk_speed=0)


def test_place_offline_suggests_an_extract(monkeypatch):
    import osmnx as ox

    def offline(*a, **k):
        raise ConnectionError("Max retries exceeded")

    monkeypatch.setattr(ox, "graph_from_place", offline)
    monkeypatch.setattr(ox, "graph_from_bbox", offline)
    with pytest.raises(NetworkError, match=r"\.osm\.pbf"):
        load_network("Porto Alegre, Brazil")
    with pytest.raises(NetworkError, match="extract"):
        load_network((-51.3, -30.1, -51.1, -29.9))


# ---------------------------------------------------------------------------- cache
def test_cache_is_keyed_by_content_and_mode(tmp_path):
    src = tmp_path / "streets.geojson"
    _plus().to_file(src, driver="GeoJSON")
    cache = tmp_path / "cache"
    a = load_network(src, "walk", cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 1
    b = load_network(src, "walk", cache_dir=cache)
    for name in ("x", "y", "u", "v", "length", "speed", "oneway"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert shapely.equals(a.geometry, b.geometry).all() and b.crs == a.crs
    load_network(src, "drive", cache_dir=cache)
    load_network(src, "walk", walk_speed=5.0, cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 3
    # editing the file gives a new key, never the stale graph
    moved = _plus()
    moved.geometry = moved.translate(0, 50)
    moved.to_file(src, driver="GeoJSON")
    c = load_network(src, "walk", cache_dir=cache)
    assert c.y.max() == pytest.approx(150.0)
    d = load_network(src, "walk", cache_dir=False)
    np.testing.assert_allclose(np.sort(d.y), np.sort(c.y))


# ---------------------------------------------------------------------------- OSM XML, GraphML
OSM_XML = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="hand">
 <node id="1" lat="-30.0000" lon="-51.2000"/>
 <node id="2" lat="-30.0000" lon="-51.1990"/>
 <node id="3" lat="-29.9990" lon="-51.2000"/>
 <node id="4" lat="-30.0000" lon="-51.2010"/>
 <node id="5" lat="-30.0010" lon="-51.2000"/>
 <way id="10"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/>
   <tag k="oneway" v="yes"/><tag k="maxspeed" v="40"/></way>
 <way id="11"><nd ref="1"/><nd ref="3"/><tag k="highway" v="residential"/></way>
 <way id="12"><nd ref="4"/><nd ref="1"/><tag k="highway" v="footway"/></way>
 <way id="13"><nd ref="5"/><nd ref="1"/><tag k="highway" v="primary"/></way>
</osm>
"""


def _haversine(lon1, lat1, lon2, lat2, r=6371009.0):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def test_osm_xml_and_graphml(tmp_path):
    import osmnx as ox

    xml = tmp_path / "tiny.osm"
    xml.write_text(OSM_XML)
    walk = load_network(xml, "walk", cache_dir=False)
    assert walk.n_edges == 4 and not walk.oneway.any()
    east = _haversine(-51.2, -30.0, -51.199, -30.0)
    assert sorted(walk.length)[-1] == pytest.approx(_haversine(-51.2, -29.999, -51.2, -30.0),
                                                    rel=1e-3)
    assert east == pytest.approx(sorted(walk.length)[0], rel=1e-3)
    drive = load_network(xml, "drive", cache_dir=False)
    assert drive.n_edges == 3  # no footway
    assert drive.oneway.sum() == 1  # way 10 only; the two-way streets are merged pairs
    assert sorted(drive.speed) == [40.0, 60.0, 30.0] or sorted(drive.speed) == [30.0, 40.0, 60.0]
    g = ox.graph_from_xml(str(xml), bidirectional=False, simplify=False, retain_all=True)
    path = tmp_path / "tiny.graphml"
    ox.save_graphml(g, path)
    gm = load_network(path, "drive", cache_dir=False)
    assert gm.n_edges == 3 and gm.oneway.sum() == 1
    np.testing.assert_allclose(np.sort(gm.length), np.sort(drive.length))


# ---------------------------------------------------------------------------- real extracts
def test_porto_alegre_drive_one_ways_and_speeds(shared_data, tmp_path):
    from pyrosm import OSM

    path = shared_data / "porto_alegre" / "poa_osm.pbf"
    net = load_network(path, "drive", cache_dir=tmp_path)
    _, edges = OSM(str(path)).get_network(network_type="driving", nodes=True)
    assert net.n_edges == len(edges) == 25290
    ow = edges["oneway"].fillna("").str.lower().isin(["yes", "true", "1", "-1"])
    ring = edges["junction"].fillna("").isin(["roundabout", "circular"])
    assert int(net.oneway.sum()) == int((ow | ring).sum())
    # maxspeed wins where tagged; primary without a tag gets the 60 km/h default
    ms = pd.to_numeric(edges["maxspeed"], errors="coerce").to_numpy()
    tagged = ~np.isnan(ms)
    assert np.sort(net.speed[:0]).size == 0
    assert sorted(np.unique(net.speed)) == sorted(np.unique(np.r_[ms[tagged], [
        {"primary": 60.0, "secondary": 50.0, "tertiary": 40.0, "residential": 30.0,
         "unclassified": 30.0, "service": 20.0, "living_street": 10.0, "trunk": 80.0,
         "motorway": 100.0, "primary_link": 40.0, "secondary_link": 40.0,
         "tertiary_link": 30.0, "trunk_link": 50.0, "motorway_link": 60.0, "road": 30.0,
         "track": 15.0}.get(h, 30.0) for h in edges["highway"][~tagged]]]))
    # from the cache the same network comes back
    again = load_network(path, "drive", cache_dir=tmp_path)
    np.testing.assert_array_equal(again.oneway, net.oneway)


def test_helsinki_extract_loads(shared_data, tmp_path):
    net = load_network(shared_data / "helsinki" / "Helsinki.osm.pbf", "walk", cache_dir=tmp_path)
    assert net.n_nodes == 5559 and net.n_edges == 6363
    assert net.crs.to_epsg() == 32635


# ---------------------------------------------------------------------------- CLI
def test_cli_costs_writes_the_table(shared_data, tmp_path, capsys):
    poa = shared_data / "porto_alegre"
    out = tmp_path / "costs.csv"
    rc = main(["-q", "costs", str(poa / "poa_hexgrid.csv"),
               str(poa / "poa_points_of_interest.csv"),
               "--network", str(poa / "poa_osm.pbf"), "--mode", "walk", "--max-cost", "2000",
               "--origin-id", "id", "--destination-id", "id", "--cache-dir", str(tmp_path),
               "-o", str(out), "--json"])
    assert rc == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ["origin", "destination", "cost"]
    assert len(table) > 100 and (table.cost <= 2000).all()
    import json

    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == len(table)
    assert summary["snap"]["origins"]["points"] == 1227
    # the Python API gives the same table
    from geoequity.costs import travel_costs
    from geoequity.io import read_points

    o = read_points(poa / "poa_hexgrid.csv", id_col="id")
    d = read_points(poa / "poa_points_of_interest.csv", id_col="id")
    net = load_network(poa / "poa_osm.pbf", cache_dir=tmp_path)
    ref = travel_costs(o, d, network=net, max_cost=2000)
    m = table.merge(ref, on=["origin", "destination"])
    assert len(m) == len(table) == len(ref)
    np.testing.assert_allclose(m.cost_x, m.cost_y, rtol=1e-9)
    # straight line, Parquet, minutes
    out2 = tmp_path / "line.parquet"
    assert main(["-q", "costs", str(poa / "poa_hexgrid.csv"),
                 str(poa / "poa_points_of_interest.csv"), "--euclidean", "--unit", "min",
                 "--max-cost", "10", "--origin-id", "id", "--destination-id", "id",
                 "-o", str(out2)]) == 0
    line = pd.read_parquet(out2)
    assert list(line.columns) == ["origin", "destination", "cost"]
    assert (line.cost <= 10).all() and len(line) > 0


def test_cli_errors_are_one_line(tmp_path, capsys):
    rc = main(["costs", "a.csv", "b.csv", "-o", str(tmp_path / "x.csv")])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("geoequity: error:") and "--network" in err[-1]
    rc = main(["costs", "a.csv", "b.csv", "--euclidean", "-o", str(tmp_path / "x.gpkg")])
    assert rc == 2


# ---------------------------------------------------------------------------- contraction
def test_degree_two_nodes_are_contracted_into_chains():
    from geoequity.network.contract import build_chains, chain_costs

    # A(0,0)-B(100,0)-C(200,0) then C branches to D(300,0) and E(200,50); B is degree 2
    # (digitised against the chain direction on purpose), C is a junction
    gdf = gpd.GeoDataFrame(geometry=[shapely.LineString(c) for c in (
        [(100, 0), (0, 0)], [(100, 0), (200, 0)], [(200, 0), (300, 0)], [(200, 0), (200, 50)])],
        crs="EPSG:32633")
    net = load_network(gdf, "walk")
    ch = build_chains(net)
    assert len(ch.start) == 3  # A-B-C, C-D, C-E
    ab, bc = 0, 1
    assert ch.chain[ab] == ch.chain[bc]
    offset, total = chain_costs(net, ch, "m")
    c = ch.chain[ab]
    assert total[c] == pytest.approx(200.0)
    ends = {tuple(np.round([net.x[ch.start[c]], net.x[ch.end[c]]]))}
    assert ends <= {(0.0, 200.0), (200.0, 0.0)}
    # the edge nearer the chain start has offset 0, the other offset 100
    assert sorted([offset[ab], offset[bc]]) == [0.0, 100.0]
    # a one-way street is only contracted where traffic flows through the node
    ow = gdf.assign(oneway=["-1", "yes", "yes", "yes"])  # B-A with -1 is A->B, then B->C
    chd = build_chains(load_network(ow, "drive"))
    assert len(chd.start) == 3 and chd.oneway.all()
    bad = gdf.assign(oneway=["yes", "yes", "yes", "yes"])  # B->A and B->C: B is a source
    assert len(build_chains(load_network(bad, "drive")).start) == 4
