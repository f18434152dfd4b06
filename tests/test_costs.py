"""Travel costs: hand-computed snapping and one-way cases, straight-line costs checked against
brute force (scipy cdist), and network costs checked against networkx on real OSM data."""

from __future__ import annotations

import itertools

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.spatial.distance import cdist

import geoequity as ge
from geoequity._errors import InputError
from geoequity.costs import Coordinates, euclidean_costs, snap_report, travel_costs
from geoequity.network import load_network

CRS = "EPSG:32633"


@pytest.fixture(autouse=True, params=["compiled", "full", "disc"])
def strategy(request, monkeypatch):
    """Run every test with each search strategy (compiled Dijkstra when numba is installed,
    whole-graph scipy rows, scipy disc blocks)."""
    from geoequity.network import search
    from geoequity.network._kernels import HAVE_NUMBA

    if request.param == "compiled" and not HAVE_NUMBA:
        pytest.skip("numba is not installed")
    monkeypatch.setattr(search, "_STRATEGY", request.param)
    return request.param  # any metric CRS: the hand-built cases live near its false origin


def lines(segments, **cols):
    geoms = [shapely.LineString(s) for s in segments]
    return gpd.GeoDataFrame(cols, geometry=geoms, crs=CRS)


def points(xy, ids=None):
    xy = np.asarray(xy, dtype=float)
    gdf = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS)
    if ids is not None:
        gdf.index = pd.Index(ids)
    return gdf


def as_dict(table):
    return {(o, d): c for o, d, c in table.itertuples(index=False)}


# ---------------------------------------------------------------------------- snapping by hand
@pytest.fixture()
def ell():
    """An L: A(0,0)-B(100,0)-C(100,100), plus a far-away island segment."""
    return load_network(lines([[(0, 0), (100, 0)], [(100, 0), (100, 100)],
                               [(300, 300), (310, 300)]]), "walk")


def test_snap_adds_connectors_and_partial_edges(ell):
    o = points([(30, 10)], ["o"])
    d = points([(110, 60)], ["d"])
    t = travel_costs(o, d, network=ell, max_cost=1000)
    # 10 (connector) + 70 (30 -> B) + 60 (B -> y=60) + 10 (connector)
    assert list(t.columns) == ["origin", "destination", "cost"]
    assert as_dict(t) == {("o", "d"): pytest.approx(150.0)}


def test_same_edge_goes_straight_along_it(ell):
    t = travel_costs(points([(20, 5)], ["o"]), points([(70, -5)], ["d"]), network=ell,
                       max_cost=1000)
    assert as_dict(t)[("o", "d")] == pytest.approx(5 + 50 + 5)


def test_snap_report_distances_and_fractions(ell):
    rep = snap_report(points([(30, 10), (110, 60), (100, 0)], ["a", "b", "c"]), ell)
    assert rep.loc["a", "snap_distance"] == pytest.approx(10)
    assert rep.loc["a", "fraction"] == pytest.approx(0.3)
    assert rep.loc["b", "snap_distance"] == pytest.approx(10)
    assert rep.loc["b", "fraction"] == pytest.approx(0.6)
    assert rep.loc["c", "snap_distance"] == pytest.approx(0)
    assert set(rep["status"]) == {"snapped"}


def test_minutes_use_the_walk_speed(ell):
    t = travel_costs(points([(30, 10)], ["o"]), points([(110, 60)], ["d"]), network=ell,
                     unit="min")
    assert as_dict(t)[("o", "d")] == pytest.approx(150.0 / (4500 / 60))


def test_cutoff_component_and_far_points_are_reported_not_dropped(ell):
    # p1 is nearest the island (dist 5) but the main L is 200 m away: moved to the main
    # component. p2 is 1000 m from everything: beyond the limit.
    o = points([(305, 295), (2000, 0)], ["p1", "p2"])
    d = points([(0, 0)], ["A"])
    t = travel_costs(o, d, network=ell, detour_factor=1.3, max_cost=5000)
    snap = t.attrs["snap"]["origins"]
    assert snap["moved_from_cutoff"] == 1 and snap["beyond_limit"] == 1
    rep = snap_report(o, ell)
    assert rep.loc["p1", "status"] == "moved_from_cutoff"
    assert rep.loc["p1", "nearest_distance"] == pytest.approx(5)
    # p1 snaps to B-C at (100, 100): connector hypot(205, 195), then 100 + 100 to A
    assert as_dict(t)[("p1", "A")] == pytest.approx(np.hypot(205, 195) + 200)
    # p2 is off the network: straight line to A times the detour factor
    assert as_dict(t)[("p2", "A")] == pytest.approx(2000 * 1.3)
    t2 = travel_costs(o, d, network=ell, off_network="unreachable")
    assert set(t2.origin) == {"p1"}
    # a limit small enough leaves p1 off-network too: it is counted as "cutoff"
    t3 = travel_costs(o, d, network=ell, snap_limit=50, off_network="unreachable")
    assert t3.attrs["snap"]["origins"]["cutoff"] == 1 and len(t3) == 0


def test_max_cost_is_inclusive_and_k_keeps_the_cheapest(ell):
    o = points([(0, 0)], ["A"])
    d = points([(100, 0), (100, 50), (100, 100)], ["B", "m", "C"])
    assert set(travel_costs(o, d, network=ell, max_cost=150).destination) == {"B", "m"}
    t = travel_costs(o, d, network=ell, k=2)
    assert list(t.destination) == ["B", "m"]
    assert list(t.cost) == pytest.approx([100, 150])


# ---------------------------------------------------------------------------- one-way driving
@pytest.fixture()
def loop():
    """A square of one-way streets A->B->C->D->A (D->A digitised A-D with oneway=-1)."""
    gdf = lines([[(0, 0), (100, 0)], [(100, 0), (100, 100)], [(100, 100), (0, 100)],
                 [(0, 0), (0, 100)]],
                oneway=["yes", "yes", "yes", "-1"], highway=["residential"] * 4,
                maxspeed=["60", None, "30 mph", "60"])
    return gdf


@pytest.mark.parametrize("n_extra", [0, 3])
def test_drive_respects_one_way_both_search_directions(loop, n_extra):
    net = load_network(loop, "drive")
    # origin at x=60 on A->B, destinations at x=20 (behind) and x=80 (ahead) on the same edge;
    # n_extra extra origins flip the search to run from the destinations side
    o = points([(60, -1)] + [(0, 50)] * n_extra,
               ["o"] + [f"x{i}" for i in range(n_extra)])
    d = points([(20, -1), (80, -1), (100, 50)], ["behind", "ahead", "side"])
    c = as_dict(travel_costs(o, d, network=net, max_cost=1000))
    assert c[("o", "ahead")] == pytest.approx(1 + 20 + 1)
    # behind: round the block 40 + 100 + 100 + 100 + 20, plus two 1 m connectors
    assert c[("o", "behind")] == pytest.approx(362)
    assert c[("o", "side")] == pytest.approx(1 + 40 + 50)
    if n_extra:
        # from the middle of D->A (x=0, y=50, going down to A): 50 to A, 100 to B, 50 up
        assert c[("x0", "side")] == pytest.approx(200)
    walk = as_dict(travel_costs(o, d, network=load_network(loop, "walk")))
    assert walk[("o", "behind")] == pytest.approx(42)


def test_drive_minutes_from_maxspeed_and_defaults(loop):
    net = load_network(loop, "drive")
    # A->B at 60 km/h (1000 m/min); B->C has no maxspeed: residential default 30 km/h
    np.testing.assert_allclose(sorted(net.speed), sorted([60, 30, 30 * 1.609344, 60]))
    o = points([(0, 0)], ["A"])
    d = points([(100, 0), (100, 100)], ["B", "C"])
    c = as_dict(travel_costs(o, d, network=net, unit="min", max_cost=60))
    assert c[("A", "B")] == pytest.approx(100 / 1000)
    assert c[("A", "C")] == pytest.approx(100 / 1000 + 100 / 500)


def test_one_way_against_networkx(loop):
    """Random points on a one-way grid vs networkx on the same graph with the points inserted
    as nodes (so the reference needs no snapping arithmetic)."""
    rng = np.random.default_rng(1)
    segs, ow = [], []
    for i in range(6):  # 6x6 grid of 100 m, alternating one-way directions, some two-way
        for j in range(5):
            a, b = (j * 100, i * 100), ((j + 1) * 100, i * 100)
            segs.append([a, b] if i % 2 else [b, a])
            ow.append("no" if i in (0, 3, 5) else "yes")  # two-way rim keeps it connected
            a, b = (i * 100, j * 100), (i * 100, (j + 1) * 100)
            segs.append([a, b] if i % 2 else [b, a])
            ow.append("no" if i in (0, 5) else "yes")
    gdf = lines(segs, oneway=ow)
    net = load_network(gdf, "drive")
    # reference: networkx graph with the points inserted as nodes at (rounded) grid positions
    g = nx.DiGraph()
    pts_o = rng.integers(0, 6, (8, 2)) * 100.0 + np.c_[rng.integers(1, 10, 8) * 10.0,
                                                        np.zeros(8)]
    pts_o[:, 0] = np.minimum(pts_o[:, 0], 490)
    pts_d = rng.integers(0, 6, (5, 2)) * 100.0 + np.c_[np.zeros(5),
                                                        rng.integers(1, 10, 5) * 10.0]
    pts_d[:, 1] = np.minimum(pts_d[:, 1], 490)
    cuts = {}
    for x, y in np.vstack([pts_o, pts_d]):
        cuts.setdefault(("h", y), []).append(x) if x % 100 else cuts.setdefault(("v", x),
                                                                                  []).append(y)
    for (a, b), flag in zip(segs, ow, strict=True):
        horiz = a[1] == b[1]
        key = ("h", a[1]) if horiz else ("v", a[0])
        lo, hi = sorted([a[0], b[0]] if horiz else [a[1], b[1]])
        stops = sorted({lo, hi, *[c for c in cuts.get(key, []) if lo < c < hi]})
        nodes = [((s, a[1]) if horiz else (a[0], s)) for s in stops]
        if (b[0] if horiz else b[1]) < (a[0] if horiz else a[1]):
            nodes = nodes[::-1]
        for p, q in zip(nodes[:-1], nodes[1:], strict=True):
            w = abs(p[0] - q[0]) + abs(p[1] - q[1])
            g.add_edge(p, q, w=w)
            if flag == "no":
                g.add_edge(q, p, w=w)
    assert (snap_report(points(np.vstack([pts_o, pts_d])), net).status == "snapped").all()
    t = as_dict(travel_costs(points(pts_o), points(pts_d), network=net, max_cost=5000))
    for i, po in enumerate(map(tuple, pts_o)):
        ref = nx.single_source_dijkstra_path_length(g, po, weight="w")
        for j, pd_ in enumerate(map(tuple, pts_d)):
            if pd_ in ref:
                assert t[(i, j)] == pytest.approx(ref[pd_]), (po, pd_)
            else:
                assert (i, j) not in t


# ---------------------------------------------------------------------------- straight line
def test_euclidean_matches_brute_force():
    rng = np.random.default_rng(7)
    a = rng.uniform(0, 5000, (300, 2))
    b = rng.uniform(0, 5000, (40, 2))
    full = cdist(a, b)
    o, d = points(a), points(b)
    t = euclidean_costs(o, d, max_cost=1200, detour_factor=1.25)
    i, j = np.nonzero(full * 1.25 <= 1200)
    assert len(t) == len(i)
    got = as_dict(t)
    for ii, jj in zip(i, j, strict=True):
        assert got[(ii, jj)] == pytest.approx(full[ii, jj] * 1.25)
    k3 = euclidean_costs(o, d, k=3)
    ref = np.sort(full, axis=1)[:, :3]
    np.testing.assert_allclose(k3.groupby("origin").cost.apply(list).tolist(), ref)
    assert len(euclidean_costs(o, d)) == 300 * 40
    mins = euclidean_costs(o, d, unit="min", speed=6.0, k=1)
    np.testing.assert_allclose(mins.cost, full.min(axis=1) / 100.0)  # 6 km/h = 100 m/min


def test_k_nearest_ties_go_to_the_smallest_destination_whatever_the_source(tmp_path):
    """``k``: the k cheapest destinations per origin, a tie at the k-th place going to the
    destinations that come first in the layer, for straight lines as for a table the user
    brings, whatever the order of its rows (one rule). Cells and schools on a 100 m grid tie
    often; the reference is the exact integer squared distances sorted with the destination
    position, by numpy alone. Before the rule, the KD-tree's own pick differed for 110 of
    these 300 cells at k = 3, and a brought table's followed its rows."""
    rng = np.random.default_rng(0)
    sxy = np.unique(rng.integers(0, 40, (600, 2)) * 100, axis=0)
    rng.shuffle(sxy)
    cxy = rng.integers(0, 40, (300, 2)) * 100 + 50
    o, d = points(cxy, np.arange(len(cxy))), points(sxy, np.arange(len(sxy)))
    squared = ((cxy[:, None, :] - sxy[None, :, :]) ** 2).sum(axis=2)   # exact integers
    rows = [(i, j, float(np.sqrt(squared[i, j]))) for i in range(len(cxy))
            for j in range(len(sxy)) if squared[i, j] <= 900 ** 2]
    brought = tmp_path / "all-pairs.csv"
    pd.DataFrame(rows, columns=["origin", "destination", "cost"]).sample(
        frac=1.0, random_state=0).to_csv(brought, index=False)   # rows in no order
    for k, max_cost in ((1, None), (3, None), (5, None), (3, 150), (8, 300), (4, 900)):
        want = []
        for i in range(len(cxy)):
            order = np.lexsort((np.arange(len(sxy)), squared[i]))
            if max_cost is not None:
                order = order[squared[i][order] <= max_cost ** 2]
            want += [(i, int(j)) for j in order[:k]]
        line = euclidean_costs(o, d, k=k, max_cost=max_cost)
        assert list(zip(line.origin, line.destination, strict=True)) == want
        np.testing.assert_array_equal(
            line.cost, [np.sqrt(squared[i, j]) for i, j in want])
        # in minutes at 6 km/h with a detour: the same pairs (the costs one scale of them)
        mins = euclidean_costs(o, d, k=k, unit="min", speed=6.0, detour_factor=1.3,
                               max_cost=None if max_cost is None else max_cost * 1.3 / 100)
        assert list(zip(mins.origin, mins.destination, strict=True)) == want
        if max_cost is not None:   # the brought table holds every pair within 900 m
            table = ge.cost_table(ge.CostSource(kind="table", table=brought), o, d, k=k,
                                  max_cost=max_cost)
            assert list(zip(table.origin, table.destination, strict=True)) == want


def test_k_nearest_at_max_cost_and_ties_the_scale_makes():
    """By hand: a school exactly at ``max_cost`` is within it with ``k`` as without (the
    KD-tree's bound is strict); and two distances one float step apart that the detour
    factor makes one cost are a tie, which goes to the school that comes first."""
    o = points([(0, 0)], ["c"])
    d = points([(50, 0), (100, 0), (0, 100), (-100, 0)], ["near", "east", "north", "west"])
    for k in (2, 4):
        t = euclidean_costs(o, d, k=k, max_cost=100)
        assert t.destination.tolist() == ["near", "east", "north", "west"][:k]
    assert len(euclidean_costs(o, d, max_cost=100)) == 4
    # a < b, one float step apart, the same cost once scaled by 1.3
    a = next(x for x in np.linspace(100.0, 1000.0, 200001)
             if x * 1.3 == np.nextafter(x, np.inf) * 1.3)
    b = np.nextafter(a, np.inf)
    d2 = points([(b, 0.0), (-a, 0.0)], ["first", "second"])   # the first is the farther
    assert euclidean_costs(o, d2, k=1).destination.tolist() == ["second"]   # no scale
    scaled = euclidean_costs(o, d2, k=1, detour_factor=1.3)
    assert scaled.destination.tolist() == ["first"] and scaled.cost.tolist() == [a * 1.3]


def test_travel_costs_without_network_is_euclidean():
    a = points([(0, 0), (300, 400)], ["a", "b"])
    b = points([(0, 0)], ["s"])
    t = travel_costs(a, b, detour_factor=1.5)
    assert as_dict(t) == {("a", "s"): 0.0, ("b", "s"): pytest.approx(750.0)}


def test_inputs_in_other_crs_polygons_and_id_columns(ell):
    o = gpd.GeoDataFrame({"code": ["sq"]}, geometry=[shapely.box(25, 5, 35, 15)], crs=CRS)
    o = o.to_crs(4326)  # any CRS is reprojected to the network's
    d = gpd.GeoDataFrame({"name": ["d"]}, geometry=[shapely.Point(110, 60)], crs=CRS)
    t = travel_costs(o, d, network=ell, origin_id="code", destination_id="name")
    assert as_dict(t)[("sq", "d")] == pytest.approx(150.0, abs=1e-3)


def test_bad_inputs_raise_input_errors(ell):
    good = points([(0, 0)], ["a"])
    with pytest.raises(InputError, match="duplicate"):
        travel_costs(points([(0, 0), (1, 1)], ["x", "x"]), good, network=ell)
    with pytest.raises(InputError, match="CRS"):
        travel_costs(good.set_crs(None, allow_override=True), good, network=ell)
    with pytest.raises(InputError, match="unit"):
        travel_costs(good, good, network=ell, unit="km")
    with pytest.raises(InputError, match="id column"):
        travel_costs(good, good, network=ell, origin_id="nope")
    with pytest.raises(InputError, match="speed"):
        euclidean_costs(good, good, unit="min")
    nan = gpd.GeoDataFrame(geometry=[shapely.Point(np.nan, np.nan)], index=["z"], crs=CRS)
    with pytest.raises(InputError, match="finite"):
        travel_costs(nan, good, network=ell, max_cost=100)


# ---------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def poa(shared_data, tmp_path_factory):
    path = shared_data / "porto_alegre" / "poa_osm.pbf"
    net = load_network(path, "walk", cache_dir=tmp_path_factory.mktemp("cache"))
    return path, net


def test_porto_alegre_costs_equal_networkx_on_nodes(poa):
    """Points on nodes: costs equal networkx shortest paths on pyrosm's own graph."""
    from pyrosm import OSM

    path, net = poa
    nodes, edges = OSM(str(path)).get_network(network_type="walking", nodes=True)
    g = nx.Graph()
    for u, v, w in zip(edges["u"].to_numpy(), edges["v"].to_numpy(),
                       edges["length"].to_numpy(), strict=True):
        if u != v and (not g.has_edge(u, v) or g[u][v]["length"] > w):
            g.add_edge(int(u), int(v), length=float(w))
    main = max(nx.connected_components(g), key=len)
    rng = np.random.default_rng(3)
    ids = np.array(sorted(main))
    pos = pd.Index(net.node_id)
    o_ids = rng.choice(ids, 400, replace=False)
    s_ids = rng.choice(ids, 12, replace=False)

    def at_nodes(osm_ids):
        p = pos.get_indexer(osm_ids)
        return gpd.GeoDataFrame(geometry=gpd.points_from_xy(net.x[p], net.y[p]),
                                index=pd.Index(osm_ids), crs=net.crs)

    t = as_dict(travel_costs(at_nodes(o_ids), at_nodes(s_ids), network=net, max_cost=2000))
    n_checked = 0
    for s in s_ids:
        ref = nx.single_source_dijkstra_path_length(g, int(s), cutoff=2000, weight="length")
        for o in o_ids:
            if int(o) in ref:
                assert t[(o, s)] == pytest.approx(ref[int(o)], rel=1e-12, abs=1e-6)
                n_checked += 1
            else:
                assert (o, s) not in t
    assert n_checked > 50


@pytest.mark.parametrize("z_order", [False, True])
def test_porto_alegre_snapped_points_equal_networkx_with_points_as_nodes(poa, shared_data,
                                                                        z_order, monkeypatch):
    """Hexagon centroids to schools (off the nodes, several schools at one place): each point
    snapped independently (shapely STRtree on the main component's edges, line_locate_point)
    and inserted into a networkx graph as a node splitting its edge, plus its connector.
    ``z_order``: both sides are processed in Z-order, as large point sets are, and the compiled
    search runs on 3 threads (chunks of uneven size)."""
    from geoequity.network import search, snap

    if z_order:
        monkeypatch.setattr(snap, "_SORT_ABOVE", 50)
        monkeypatch.setattr(search, "_threads", lambda: 3)
    _, net = poa
    hx = pd.read_csv(shared_data / "porto_alegre" / "poa_hexgrid.csv")
    cells = gpd.GeoDataFrame(hx, geometry=gpd.points_from_xy(hx.lon, hx.lat), crs=4326)
    cells = cells.set_index("id", drop=False).to_crs(net.crs)
    sch = cells[cells.schools > 0]
    sch = sch.loc[sch.index.repeat(sch.schools)].reset_index(drop=True).iloc[:60]
    assert sch.geometry.duplicated().sum() >= 3  # schools sharing a place
    got = as_dict(travel_costs(cells, sch, network=net, max_cost=2000,
                               off_network="unreachable"))
    main = np.flatnonzero(net.main_nodes[net.u] & net.main_nodes[net.v])
    tree = shapely.STRtree(net.geometry[main])
    g = nx.Graph()
    for u, v, w in zip(net.u.tolist(), net.v.tolist(), net.length.tolist(), strict=True):
        if u != v and (not g.has_edge(u, v) or g[u][v]["w"] > w):
            g.add_edge(u, v, w=w)
    points = [("o", i, p) for i, p in zip(cells.index, cells.geometry.values, strict=True)]
    points += [("d", i, p) for i, p in zip(sch.index, sch.geometry.values, strict=True)]
    pts = np.array([p for _, _, p in points])
    (pi, ti), dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    near = np.full(len(pts), -1)
    near[pi] = main[ti]
    snap_d = np.full(len(pts), np.inf)
    snap_d[pi] = dist
    on = snap_d <= 500
    # split each edge at the fractions of its points (cost = fraction x edge length)
    by_edge = {}
    for k in np.flatnonzero(on):
        e = near[k]
        f = shapely.line_locate_point(net.geometry[e], pts[k]) / shapely.length(net.geometry[e])
        by_edge.setdefault(e, []).append((f, k))
    for e, items in by_edge.items():
        u, v, w = int(net.u[e]), int(net.v[e]), float(net.length[e])
        chain = [(0.0, u)] + [(f, ("p", k)) for f, k in sorted(items)] + [(1.0, v)]
        for (f0, a), (f1, b) in itertools.pairwise(chain):
            g.add_edge(a, b, w=min((f1 - f0) * w, g[a][b]["w"]) if g.has_edge(a, b)
                       else (f1 - f0) * w)
    for k in np.flatnonzero(on):
        g.add_edge(("pt", k), ("p", k), w=float(snap_d[k]))
    n_o = len(cells)
    n_checked = 0
    for j in range(len(sch)):
        k = n_o + j
        if not on[k]:
            continue
        ref = nx.single_source_dijkstra_path_length(g, ("pt", k), cutoff=2000, weight="w")
        for i, o in enumerate(cells.index):
            if on[i] and ("pt", i) in ref:
                assert got[(o, j)] == pytest.approx(ref[("pt", i)], rel=1e-9, abs=1e-6)
                n_checked += 1
            else:
                assert (o, j) not in got
    assert n_checked > 2000


def test_porto_alegre_hexgrid_to_schools(poa, shared_data):
    _, net = poa
    hx = pd.read_csv(shared_data / "porto_alegre" / "poa_hexgrid.csv")
    cells = gpd.GeoDataFrame(hx, geometry=gpd.points_from_xy(hx.lon, hx.lat), crs=4326)
    cells = cells.set_index("id", drop=False)
    sch = cells[cells.schools > 0]
    sch = sch.loc[sch.index.repeat(sch.schools)].reset_index(drop=True)  # 194 schools
    assert len(sch) == 194
    t = travel_costs(cells, sch, network=net, max_cost=2000, detour_factor=1.3)
    snap = t.attrs["snap"]["origins"]
    assert sum(snap[k] for k in ("snapped", "moved_from_cutoff", "beyond_limit", "cutoff")) \
        == 1227
    assert (t.cost <= 2000).all() and t.cost.dtype == np.float64
    # a network path is never shorter than the straight line between the two points
    e = euclidean_costs(cells, sch, crs=net.crs)
    m = t.merge(e, on=["origin", "destination"], suffixes=("", "_line"))
    assert len(m) == len(t) and (m.cost >= m.cost_line - 1e-6).all()
    # k=1 is the per-origin minimum of the full bounded table
    k1 = travel_costs(cells, sch, network=net, max_cost=2000, k=1, detour_factor=1.3)
    ref = t.groupby("origin").cost.min()
    np.testing.assert_allclose(k1.set_index("origin").cost.loc[ref.index], ref)


def test_helsinki_cells_outside_the_extract_are_reported(shared_data, tmp_path):
    """Most of the 92 population cells lie outside the street extract: counted, not dropped."""
    from pyrosm import OSM

    net = load_network(shared_data / "helsinki" / "Helsinki.osm.pbf", cache_dir=tmp_path)
    cells = gpd.read_file(shared_data / "helsinki" / "helsinki_population_grid_2020.gpkg")
    schools = OSM(str(shared_data / "helsinki" / "Helsinki.osm.pbf")).get_pois(
        custom_filter={"amenity": ["school"]})
    schools = schools[schools.amenity == "school"].reset_index(drop=True)
    assert len(schools) == 3
    t = travel_costs(cells, schools, network=net, max_cost=3000, detour_factor=1.3)
    snap = t.attrs["snap"]["origins"]
    # independent count: centroid farther than 500 m from every walkable edge
    _, edges = OSM(str(shared_data / "helsinki" / "Helsinki.osm.pbf")).get_network(
        "walking", nodes=True)
    utm = net.crs
    cent = cells.to_crs(utm).centroid
    far = cent.distance(shapely.union_all(edges.to_crs(utm).geometry.values)) > 500
    assert snap["beyond_limit"] == int(far.sum()) and snap["beyond_limit"] > 40
    assert snap["points"] == 92
    # the straight-line rule keeps every cell that has a school within 3 km in a line
    line = euclidean_costs(cells, schools, crs=utm, detour_factor=1.3, max_cost=3000)
    assert set(t.origin) >= set(line.origin[line.origin.isin(cells.index[far.to_numpy()])])
    t_u = travel_costs(cells, schools, network=net, max_cost=3000, off_network="unreachable")
    assert not set(t_u.origin) & set(cells.index[far.to_numpy()])


def test_geodanet_shapefile_in_us_feet(shared_data):
    streets = gpd.read_file(shared_data / "geodanet" / "streets.shp")
    net = load_network(shared_data / "geodanet" / "streets.shp", cache_dir=False)
    assert net.crs.is_projected and net.crs.axis_info[0].unit_name == "metre"
    # total length in metres = the Length field (US survey feet) x 1200/3937 (UTM scale ~1e-4)
    assert net.length.sum() == pytest.approx(streets.Length.sum() * 1200 / 3937, rel=2e-3)
    schools = gpd.read_file(shared_data / "geodanet" / "schools.shp")
    rep = snap_report(schools, net)
    assert (rep.status == "snapped").all() and len(rep) == 8
    crimes = gpd.read_file(shared_data / "geodanet" / "crimes.shp")
    t = travel_costs(crimes, schools, network=net, k=1)
    assert len(t) == len(crimes) and t.origin.is_unique
    assert ge.travel_costs is travel_costs


@pytest.mark.parametrize("search", ["rings", "kdtree", "kdtree-z-order"])
def test_snapping_equals_an_rtree_nearest_query(poa, search, monkeypatch):
    """Snapping against shapely's STRtree + line_locate_point: the compiled grid-ring search
    (numba; far points fall back to the KD-tree), the KD-tree of pieces, and the KD-tree with
    queries in Z-order on all cores (as for large point sets)."""
    from geoequity.network import snap
    from geoequity.network.snap import snap_points

    if search == "rings" and not snap.HAVE_NUMBA:
        pytest.skip("numba is not installed")
    monkeypatch.setattr(snap, "_USE_RINGS", search == "rings")
    monkeypatch.setattr(snap, "_SORT_ABOVE", 1_000 if search == "kdtree-z-order" else 20_000)
    _, net = poa
    rng = np.random.default_rng(11)
    x = rng.uniform(net.x.min() - 3000, net.x.max() + 3000, 3000)
    y = rng.uniform(net.y.min() - 3000, net.y.max() + 3000, 3000)
    got = snap_points(net, x, y, snap_limit=500)
    pts = shapely.points(x, y)
    tree = shapely.STRtree(net.geometry)
    (pi, ti), dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    ref = np.full(len(x), np.nan)
    ref[pi] = dist
    np.testing.assert_allclose(got["nearest_distance"], ref, rtol=1e-9, atol=1e-6)
    on = got["status"].eq("snapped").to_numpy()
    assert on.sum() > 1000 and (~on).sum() > 300
    np.testing.assert_allclose(got["snap_distance"][on], ref[on], rtol=1e-9, atol=1e-6)
    e = got["edge"].to_numpy()[on]
    geoms = net.geometry[e]
    frac = shapely.line_locate_point(geoms, pts[on]) / shapely.length(geoms)
    np.testing.assert_allclose(got["fraction"].to_numpy()[on], frac, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# found by randomised cross-checks against networkx (one-way ends, empty discs)
# ---------------------------------------------------------------------------------------------

def _pts(xy, name):
    import geopandas as gpd
    from shapely.geometry import Point

    return gpd.GeoDataFrame(geometry=[Point(xy)], index=[name], crs="EPSG:32633")


@pytest.mark.parametrize("strategy", ["compiled", "full", "disc"])
def test_point_on_the_junction_of_a_one_way_street(strategy, monkeypatch):
    """Triangle A->B one-way (100 m), B-C (100 m) and C-A (141.42 m) two-way, driving.

    A point on B may snap to the one-way street's end: it is at junction B all the same, so
    C -> B is 100 m (not 241.42 round the triangle), and A -> C is 141.42 (not 200).
    """
    import geopandas as gpd
    from shapely.geometry import LineString

    import geoequity as ge
    from geoequity.network import from_lines
    from geoequity.network import search as gc

    if strategy == "compiled" and not gc.HAVE_NUMBA:
        pytest.skip("numba not installed")
    monkeypatch.setattr(gc, "_STRATEGY", strategy)
    A, B, C = (500000.0, 5000000.0), (500100.0, 5000000.0), (500100.0, 5000100.0)
    net = from_lines(gpd.GeoDataFrame(
        {"oneway": ["yes", "no", "no"], "maxspeed": ["50"] * 3, "highway": ["residential"] * 3},
        geometry=[LineString([A, B]), LineString([B, C]), LineString([C, A])],
        crs="EPSG:32633"), mode="drive")
    cost = lambda o, d: ge.travel_costs(o, d, network=net, max_cost=1000)["cost"].tolist()  # noqa: E731
    assert cost(_pts(C, "c"), _pts(B, "b")) == pytest.approx([100.0])
    assert cost(_pts(B, "b"), _pts(C, "c")) == pytest.approx([100.0])
    # 10 m east and 10 m south of B: its nearest street point is still junction B
    assert cost(_pts(C, "c"), _pts((500110.0, 4999990.0), "s")) == pytest.approx(
        [100.0 + 200 ** 0.5])
    assert cost(_pts(A, "a"), _pts(C, "c")) == pytest.approx([2 ** 0.5 * 100])
    # mid-street the one-way rule still holds: from the middle of A->B to A is round by C
    assert cost(_pts((500050.0, 5000000.0), "m"), _pts(A, "a")) == pytest.approx(
        [50 + 100 + 2 ** 0.5 * 100])


def test_disc_search_with_no_node_in_reach(monkeypatch):
    """Two points 20 m apart mid-way along a 1 km street, a 100 m limit: no node is in reach,
    the direct path along the street is (the scipy fallback used to fail here)."""
    import geopandas as gpd
    from shapely.geometry import LineString

    import geoequity as ge
    from geoequity.network import from_lines
    from geoequity.network import search as gc

    X, Y = 500000.0, 5000000.0
    sq = [((0, 0), (1000, 0)), ((1000, 0), (1000, 1000)), ((1000, 1000), (0, 1000)),
          ((0, 1000), (0, 0))]
    net = from_lines(gpd.GeoDataFrame(geometry=[LineString([(X + a, Y + b) for a, b in seg])
                                                for seg in sq], crs="EPSG:32633"), mode="walk")
    for strategy in ("full", "disc") + (("compiled",) if gc.HAVE_NUMBA else ()):
        monkeypatch.setattr(gc, "_STRATEGY", strategy)
        out = ge.travel_costs(_pts((X + 500, Y), "a"), _pts((X + 520, Y), "b"), network=net,
                              max_cost=100)
        assert out["cost"].tolist() == pytest.approx([20.0]), strategy


def test_compiled_table_order_is_the_lexsort_order(monkeypatch):
    # the per-origin ordering (numba) must give np.lexsort's order, ties on cost included
    # (rows equal in cost and school too keep their order), for short runs (insertion sort)
    # and long ones (insertion-sorted pieces of 48, merged over several rounds), runs of
    # exactly a piece or a row more, int32 and int64 codes, float32 and float64 costs
    pytest.importorskip("numba")
    import geoequity._sort_kernel as kernel
    import geoequity.costs as costs_mod

    monkeypatch.setattr(costs_mod, "COMPILED_SORT_ROWS", 0)
    rng = np.random.default_rng(5)
    short = kernel.SHORT
    for n_o, n, schools in ((40, 600, 30), (2, 500, 30), (1, 3000, 4), (1, short, 3),
                            (1, short + 1, 3), (1, 2 * short, 3), (1, 2 * short + 1, 3)):
        for codes, floats in ((np.int64, np.float64), (np.int32, np.float32)):
            oi = rng.integers(0, n_o, n).astype(codes)
            di = rng.integers(0, schools, n).astype(codes)
            cost = rng.integers(0, 6, n).astype(floats)   # many equal costs
            got = costs_mod._sort_order(oi, cost, di)
            assert (got == np.lexsort((di, cost, oi))).all(), (n_o, n, codes)


# ---------------------------------------------------------------------------- coordinates, pairs
def test_coordinates_stand_for_a_layer_by_hand(ell):
    """Points given as coordinate arrays (a cluster partition's cells) cost what the same
    points as a layer cost: straight lines and streets, ids given or positions."""
    xy = Coordinates([0.0, 300.0], [0.0, 400.0], CRS, ids=["a", "b"])
    school = Coordinates([0.0], [0.0], CRS, ids=["s"])
    t = travel_costs(xy, school, detour_factor=1.5)
    assert as_dict(t) == {("a", "s"): 0.0, ("b", "s"): 750.0}   # 1.5 x (0, 500 m)
    unnamed = euclidean_costs(Coordinates([0.0, 300.0], [0.0, 400.0], CRS), school)
    assert as_dict(unnamed) == {(0, "s"): 0.0, (1, "s"): 500.0}
    # the square's centroid (30, 10) to (110, 60) along the L: 150 m (the polygon's case),
    # the destination given in degrees and reprojected to the network's CRS
    d = gpd.GeoSeries([shapely.Point(110, 60)], crs=CRS).to_crs(4326)
    dest = Coordinates(d.x.to_numpy(), d.y.to_numpy(), 4326, ids=["d"])
    t = travel_costs(Coordinates([30.0], [10.0], CRS, ids=["sq"]), dest, network=ell)
    assert as_dict(t)[("sq", "d")] == pytest.approx(150.0, abs=1e-3)


def test_bad_coordinates_get_input_errors(tmp_path):
    good = Coordinates([0.0], [0.0], CRS)
    brought = tmp_path / "costs.csv"
    pd.DataFrame({"origin": [0], "destination": [0], "cost": [1.0]}).to_csv(brought,
                                                                           index=False)
    table = ge.CostSource(kind="table", table=brought)
    checked_everywhere = [
        (Coordinates([0.0, 1.0], [0.0, 1.0], CRS, ids=["x", "x"]), "duplicate ids"),
        (Coordinates([0.0, 1.0], [0.0], CRS), "x and"),
        (Coordinates([0.0, 1.0], [0.0, 1.0], CRS, ids=["x"]), "1 ids for 2"),
        (Coordinates(["a"], [0.0], CRS), "not numbers"),
        (Coordinates([0.0], [0.0], CRS, ids="a"), "ids that are not a list")]
    for bad, match in checked_everywhere + [
            (Coordinates([0.0], [0.0], None), "no coordinate reference system"),
            (Coordinates([0.0], [0.0], "EPSG:999999"), "unknown CRS"),
            (Coordinates([np.nan], [0.0], CRS), "finite"),
            (Coordinates([11.0], [48.0], 4326), "geographic")]:
        with pytest.raises(InputError, match=match):
            euclidean_costs(bad, good)
    for bad, match in checked_everywhere:   # a brought table takes the ids alone
        with pytest.raises(InputError, match=match):
            ge.cost_table(table, bad, good)
    for kind in (ge.CostSource(), table):
        with pytest.raises(InputError, match="no id column 'code'"):
            ge.cost_table(kind, good, good, origin_id="code")


def _same_pairs(got, want):
    for name in ("origin", "destination", "cost"):
        a, b = getattr(got, name), getattr(want, name)
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    assert got.origins.equals(want.origins) and got.destinations.equals(want.destinations)
    assert got.origins.dtype == want.origins.dtype
    assert got.attrs == want.attrs


def test_cost_pairs_are_the_cost_table_coded(ell, tmp_path):
    """cost_pairs gives what coding cost_table's table gives, pair for pair and in its row
    order, for every kind of source; by hand on the smallest case."""
    from geoequity.costs import cost_pairs, cost_table
    from geoequity.pairs import code_pairs

    rng = np.random.default_rng(3)
    a, b = rng.uniform(0, 3000, (400, 2)), rng.uniform(0, 3000, (30, 2))
    o = points(a, [f"c{i}" for i in range(len(a))])
    d = points(b, [f"s{i}" for i in range(len(b))])
    brought = tmp_path / "costs.csv"
    pd.DataFrame({"origin": ["c1", "c1", "c2", "zz"], "destination": ["s0", "s0", "s3", "s1"],
                  "cost": [5.0, 4.0, 7.0, 1.0]}).to_csv(brought, index=False)
    for source, kw in [(ge.CostSource(detour_factor=1.3), {"max_cost": 900}),
                       (ge.CostSource(unit="min"), {"max_cost": 9, "k": 4}),
                       (ge.CostSource(kind="network", network=ell), {"max_cost": 2000}),
                       (ge.CostSource(kind="table", table=brought), {})]:
        want = code_pairs(cost_table(source, o, d, **kw), o.index, d.index)
        _same_pairs(cost_pairs(source, o, d, **kw), want)
        xy = Coordinates(a[:, 0], a[:, 1], CRS, ids=o.index)
        _same_pairs(cost_pairs(source, xy, d, **kw), want)
    # the brought table: a pair given twice keeps its lowest cost, an unknown cell is left;
    # its pairs name the file (the table's coding names "costs")
    got = cost_pairs(ge.CostSource(kind="table", table=brought), o, d)
    assert list(zip(got.origin, got.destination, got.cost, strict=True)) == [
        (1, 0, 4.0), (2, 3, 7.0)]
    assert got.source == str(brought)
    # coordinates in another projected CRS than the costs' are reprojected as that layer is
    # (to the same last bit), not taken as they are: Web Mercator's metres are not UTM's
    # (here 500 km west of the zone's meridian), so taken as they are they give other pairs
    moved = o.to_crs(3857)
    xy = Coordinates(moved.geometry.x, moved.geometry.y, 3857, ids=o.index)
    line = ge.CostSource(crs=CRS)
    want = code_pairs(cost_table(line, moved, d, max_cost=900), o.index, d.index)
    _same_pairs(cost_pairs(line, xy, d, max_cost=900), want)
    assert len(cost_pairs(ge.CostSource(crs=3857), xy, d.to_crs(3857), max_cost=900)) \
        != len(want)
    # no cells: no pairs, whatever the source (a brought table's rows name no cell of it)
    for source in (ge.CostSource(), ge.CostSource(kind="table", table=brought)):
        none = cost_pairs(source, Coordinates([], [], CRS), d, max_cost=900)
        assert len(none) == 0 and len(none.origins) == 0 and len(none.destinations) == len(d)
        empty = cost_table(source, o.iloc[:0], d, max_cost=900)
        assert list(empty.columns) == ["origin", "destination", "cost"] and len(empty) == 0
    # no cells, or no schools, with integer ids: the empty table a computed source gives,
    # dtypes too (the brought file's ids are text until matched to a layer's)
    numbered = tmp_path / "numbered.csv"
    pd.DataFrame({"origin": [0, 1], "destination": [0, 0], "cost": [5.0, 4.0]}).to_csv(
        numbered, index=False)
    o_int, d_int = points(a[:3], [0, 1, 2]), points(b[:2], [0, 1])
    for cells, schools in ((o_int.iloc[:0], d_int), (o_int, d_int.iloc[:0])):
        line = cost_table(ge.CostSource(), cells, schools)
        brought_empty = cost_table(ge.CostSource(kind="table", table=numbered), cells, schools)
        assert len(line) == len(brought_empty) == 0
        assert dict(brought_empty.dtypes) == dict(line.dtypes) == {
            "origin": np.dtype("int64"), "destination": np.dtype("int64"),
            "cost": np.dtype("float64")}
    # by hand: (0, 0) and (300, 400) to a school at (0, 0), within 600 m
    got = cost_pairs(ge.CostSource(), Coordinates([300.0, 0.0], [400.0, 0.0], CRS),
                     Coordinates([0.0], [0.0], CRS), max_cost=600)
    assert got.origin.tolist() == [0, 1] and got.destination.tolist() == [0, 0]
    assert got.cost.tolist() == [500.0, 0.0] and got.attrs == {"method": "euclidean",
                                                                "unit": "m"}
