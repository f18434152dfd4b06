"""One question, one answer: the API, the CLI and a scenario give the same per-cell values for
every cost option, equal to an independent computation here.

The matrix: unit (m, min) x cost source (straight line, street network) x detour factor (1.0,
1.3) x snap limit (500 m, 50 m; network only) x method (nearest, cumulative, 2SFCA). The
street layer is a hand-made 3 x 3 grid (300 m blocks) written as a GeoPackage; the expected
costs come from numpy (straight lines, nearest street point of every segment) and networkx
shortest paths on the grid with every snapped point inserted as a node splitting its street
plus its connector. Points farther than the snap limit cost the straight line x detour factor
(the documented off-network rule); minutes are metres / 75 (walking, 4.5 km/h), for the
network and for straight lines alike.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

import geoequity as ge
from geoequity.cli import main
from geoequity.pipeline import analyse
from geoequity.scenario import load_scenario, run

CRS = "EPSG:32633"
X0, Y0 = 500_000.0, 5_000_000.0
PER_MIN = 4.5 * 1000 / 60  # metres walked per minute at the default walking speed
# the grid: nodes every 300 m, streets between neighbours
NODES = [(i * 300.0, j * 300.0) for i in range(3) for j in range(3)]
STREETS = [((x, y), (x + 300.0, y)) for x, y in NODES if x < 600] + \
          [((x, y), (x, y + 300.0)) for x, y in NODES if y < 600]
# cells: on a street, on a junction, 30 m and 80 m off a street, far out (424 m), a corner
CELLS = {"A": (100, 0), "B": (300, 300), "C": (150, 330), "D": (450, 80), "E": (900, 900),
         "F": (0, 600)}
KIDS = {"A": 10, "B": 20, "C": 30, "D": 40, "E": 50, "F": 60}
# schools: on a junction, mid-street, 30 m off a street
SCHOOLS = {"S1": (0, 0), "S2": (450, 600), "S3": (630, 150)}
SEATS = {"S1": 50, "S2": 80, "S3": 30}
THRESHOLD = {"m": 400.0, "min": 5.5}
METHODS = ("nearest", "cumulative", "2sfca")


# ---------------------------------------------------------------------------- expected values
def _foot(p):
    """Nearest point of the streets (numpy): (street index, foot point, distance)."""
    a = np.array([s[0] for s in STREETS])
    b = np.array([s[1] for s in STREETS])
    ab = b - a
    t = np.clip(((np.asarray(p) - a) * ab).sum(1) / (ab * ab).sum(1), 0, 1)
    foot = a + t[:, None] * ab
    d = np.hypot(*(np.asarray(p) - foot).T)
    i = int(np.argmin(d))
    return i, tuple(foot[i]), float(d[i])


def expected_costs(kind, unit, detour, snap_limit):
    """{(cell, school): cost} of every pair, computed without geoequity."""
    scale = detour / (PER_MIN if unit == "min" else 1.0)
    line = {(c, s): np.hypot(*np.subtract(CELLS[c], SCHOOLS[s])) * scale
            for c in CELLS for s in SCHOOLS}
    if kind == "euclidean":
        return line
    g = nx.Graph()
    points = {**CELLS, **SCHOOLS}
    on_street: dict[int, list] = {}
    for name, p in points.items():
        i, foot, d = _foot(p)
        if d <= snap_limit:
            on_street.setdefault(i, []).append(foot)
            g.add_edge(name, foot, w=d)
    for i, (a, b) in enumerate(STREETS):  # each street split at the points on it
        stops = sorted({a, b, *on_street.get(i, [])}, key=lambda q: np.hypot(q[0] - a[0],
                                                                              q[1] - a[1]))
        for q, r in zip(stops, stops[1:], strict=False):
            g.add_edge(q, r, w=float(np.hypot(r[0] - q[0], r[1] - q[1])))
    out = {}
    for c in CELLS:
        for s in SCHOOLS:
            if c in g and s in g:
                out[c, s] = nx.shortest_path_length(g, c, s, weight="w") / \
                    (PER_MIN if unit == "min" else 1.0)
            else:  # off the network: straight line x detour factor
                out[c, s] = line[c, s]
    return out


def expected_values(costs, method, threshold):
    """Per-cell nearest cost, cumulative seats or 2SFCA (NaN where no school is within)."""
    within = {(c, s) for (c, s), v in costs.items() if v <= threshold + 1e-9}
    ratio = {s: SEATS[s] / sum(KIDS[c] for c in CELLS if (c, s) in within)
             for s in SCHOOLS if any((c, s) in within for c in CELLS)}
    out = {}
    for c in CELLS:
        near = [s for s in SCHOOLS if (c, s) in within]
        if not near:
            out[c] = np.nan
        elif method == "nearest":
            out[c] = min(costs[c, s] for s in near)
        elif method == "cumulative":
            out[c] = float(sum(SEATS[s] for s in near))
        else:
            out[c] = sum(ratio[s] for s in near)
    return pd.Series(out)


# ---------------------------------------------------------------------------- inputs
def _points(d, **cols):
    return gpd.GeoDataFrame(cols, geometry=[shapely.Point(X0 + x, Y0 + y) for x, y in d.values()],
                            crs=CRS)


@pytest.fixture(scope="module")
def layers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parity")
    cells = _points(CELLS, cell=list(CELLS), kids=[float(KIDS[c]) for c in CELLS])
    schools = _points(SCHOOLS, sid=list(SCHOOLS), seats=[float(SEATS[s]) for s in SCHOOLS])
    streets = gpd.GeoDataFrame(geometry=[shapely.LineString([(X0 + a[0], Y0 + a[1]),
                                                             (X0 + b[0], Y0 + b[1])])
                                         for a, b in STREETS], crs=CRS)
    cells.to_file(folder / "cells.gpkg")
    schools.to_file(folder / "schools.gpkg")
    streets.to_file(folder / "streets.gpkg")
    return folder


CASES = [(unit, kind, detour, snap) for unit in ("m", "min") for detour in (1.0, 1.3)
         for kind, snaps in (("euclidean", (500.0,)), ("network", (500.0, 50.0)))
         for snap in snaps]


def _ids(case):
    unit, kind, detour, snap = case
    return f"{kind}-{unit}-detour{detour:g}" + (f"-snap{snap:g}" if kind == "network" else "")


# ---------------------------------------------------------------------------- the three doors
def api_values(folder, kind, unit, detour, snap, threshold):
    """ge.travel_costs / ge.euclidean_costs + ge.accessibility, and ge.cost_table."""
    cells = ge.read_population(folder / "cells.gpkg", count_col="kids", id_col="cell")
    schools = ge.read_schools(folder / "schools.gpkg", id_col="sid", seats_col="seats")
    if kind == "euclidean":
        costs = ge.euclidean_costs(cells, schools, max_cost=threshold, detour_factor=detour,
                                   unit=unit, speed=4.5 if unit == "min" else None)
        source = ge.CostSource(kind="euclidean", unit=unit, detour_factor=detour)
    else:
        net = ge.load_network(folder / "streets.gpkg", mode="walk", cache_dir=False)
        costs = ge.travel_costs(cells, schools, network=net, max_cost=threshold, unit=unit,
                                detour_factor=detour, snap_limit=snap)
        source = ge.CostSource(kind="network", network=folder / "streets.gpkg", unit=unit,
                               detour_factor=detour, snap_limit=snap, cache_dir=False)
    same = ge.cost_table(source, cells, schools, max_cost=threshold)
    pd.testing.assert_frame_equal(same, costs)
    return {m: ge.accessibility(costs, cells["children"], schools["seats"], method=m,
                                threshold=threshold) for m in METHODS}


def cli_values(folder, kind, unit, detour, snap, threshold):
    """``geoequity access`` in-process, one run per method, read back from its CSV."""
    src = ["--euclidean"] if kind == "euclidean" else \
        ["--network", str(folder / "streets.gpkg"), "--no-cache"]
    out = {}
    for method in METHODS:
        path = folder / f"cli-{method}.csv"
        rc = main(["-q", "access", "--demand", str(folder / "cells.gpkg"), "--demand-id",
                   "cell", "--demand-col", "kids", "--supply", str(folder / "schools.gpkg"),
                   "--supply-id", "sid", "--supply-col", "seats", *src, "--unit", unit,
                   "--detour-factor", str(detour), "--snap-limit", str(snap), "--method",
                   method, "--threshold", str(threshold), "-o", str(path)])
        assert rc == 0
        out[method] = pd.read_csv(path).set_index("cell")["access"]
    return out


def scenario_values(folder, kind, unit, detour, snap, threshold):
    """A scenario TOML per method, run; ``access`` of cells.csv (and its ``nearest_cost`` and
    ``seats_within``, which every run writes)."""
    net = 'euclidean = true' if kind == "euclidean" else 'path = "streets.gpkg"\ncache_dir = false'
    out, extra = {}, {}
    for method in METHODS:
        toml = folder / f"parity-{method}.toml"
        toml.write_text(f"""
[schools]
path = "schools.gpkg"
id = "sid"
seats = "seats"
[population]
path = "cells.gpkg"
id = "cell"
count = "kids"
[network]
{net}
detour_factor = {detour}
snap_limit = {snap}
[analysis]
threshold = {threshold}
max_cost = {threshold}
method = "{method}"
unit = "{unit}"
assignment = false
[outputs]
folder = "out-{method}"
report = false
""")
        scenario = load_scenario(toml)
        scenario.outputs["map"] = None
        run(scenario)
        cells = pd.read_csv(folder / f"out-{method}" / "cells.csv").set_index("cell")
        out[method] = cells["access"]
        extra = {"nearest": cells["nearest_cost"], "cumulative": cells["seats_within"]}
    return out, extra


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_api_cli_and_scenario_agree_with_an_independent_computation(layers, case):
    unit, kind, detour, snap = case
    threshold = THRESHOLD[unit]
    costs = expected_costs(kind, unit, detour, snap)
    doors = {"api": api_values(layers, kind, unit, detour, snap, threshold),
             "cli": cli_values(layers, kind, unit, detour, snap, threshold)}
    doors["scenario"], extra = scenario_values(layers, kind, unit, detour, snap, threshold)
    for method in METHODS:
        want = expected_values(costs, method, threshold)
        for door, values in doors.items():
            got = values[method].reindex(want.index)
            np.testing.assert_allclose(got.to_numpy(float), want.to_numpy(float), rtol=1e-9,
                                       err_msg=f"{door} {method}")
        if method in extra:  # the run's other per-cell columns answer the same questions
            np.testing.assert_allclose(extra[method].reindex(want.index).to_numpy(float),
                                       want.to_numpy(float), rtol=1e-9,
                                       err_msg=f"scenario {method} column")


def test_the_matrix_exercises_every_option():
    """The layout makes each option matter: otherwise the parity above could not fail."""
    m = {(unit, kind, detour, snap): expected_costs(kind, unit, detour, snap)
         for unit, kind, detour, snap in CASES}
    by = lambda **kw: [m[c] for c in CASES if all(  # noqa: E731
        dict(zip(("unit", "kind", "detour", "snap"), c, strict=True))[k] == v
        for k, v in kw.items())]
    net500, net50 = by(unit="m", kind="network", detour=1.3, snap=500.0)[0], \
        by(unit="m", kind="network", detour=1.3, snap=50.0)[0]
    assert net500["D", "S1"] != net50["D", "S1"]  # D is 80 m off: snapped, or a straight line
    assert net50["D", "S1"] == pytest.approx(np.hypot(450, 80) * 1.3)
    # ... and the detour factor changes an off-network cell's nearest school within reach
    plain50 = by(unit="m", kind="network", detour=1.0, snap=50.0)[0]
    near = [expected_values(x, "nearest", THRESHOLD["m"])["D"] for x in (plain50, net50)]
    assert near == pytest.approx([np.hypot(180, 70), np.hypot(180, 70) * 1.3])
    line1, line13 = by(unit="m", kind="euclidean", detour=1.0)[0], \
        by(unit="m", kind="euclidean", detour=1.3)[0]
    assert line13["A", "S2"] == pytest.approx(line1["A", "S2"] * 1.3)
    # on the network the street path is longer than the line: A -> S2 along the grid, by hand
    assert net500["A", "S2"] == pytest.approx(200 + 600 + 150)
    minutes = by(unit="min", kind="network", detour=1.0, snap=500.0)[0]
    assert minutes["A", "S2"] == pytest.approx(950 / PER_MIN)
    # every method has cells inside and outside the threshold in some case
    for method in METHODS:
        vals = expected_values(net50, method, THRESHOLD["m"])
        assert vals.isna().any() and vals.notna().sum() >= 2


# ---------------------------------------------------------------------------- the cost source
@pytest.mark.parametrize(("mode", "speed", "kmh"), [("walk", None, 4.5), ("bike", None, 15.0),
                                                    ("drive", None, 30.0), ("drive", 40.0, 40.0)])
def test_straight_line_minutes_take_the_mode_speed_from_every_door(layers, mode, speed, kmh):
    """Straight-line minutes = metres / (km/h x 1000/60): the mode's speed (walk 4.5, bike 15,
    drive 30 km/h) unless a speed is given; the CLI and a scenario agree with the API."""
    cells = ge.read_population(layers / "cells.gpkg", count_col="kids", id_col="cell")
    schools = ge.read_schools(layers / "schools.gpkg", id_col="sid", seats_col="seats")
    want = {c: min(np.hypot(*np.subtract(CELLS[c], SCHOOLS[s])) for s in SCHOOLS) /
            (kmh * 1000 / 60) for c in CELLS}
    source = ge.CostSource(unit="min", mode=mode, speed=speed)
    api = ge.accessibility(ge.cost_table(source, cells, schools), cells["children"],
                           schools["seats"], method="nearest")
    out = layers / f"line-{mode}.csv"
    flags = ["--speed", str(speed)] if speed else []
    assert main(["-q", "access", "--demand", str(layers / "cells.gpkg"), "--demand-id", "cell",
                 "--demand-col", "kids", "--supply", str(layers / "schools.gpkg"),
                 "--supply-id", "sid", "--supply-col", "seats", "--euclidean", "--unit", "min",
                 "--mode", mode, *flags, "--method", "nearest", "-o", str(out)]) == 0
    cli = pd.read_csv(out).set_index("cell")["access"]
    costs_out = layers / f"line-{mode}-costs.csv"
    assert main(["-q", "costs", str(layers / "cells.gpkg"), str(layers / "schools.gpkg"),
                 "--origin-id", "cell", "--destination-id", "sid", "--euclidean", "--unit",
                 "min", "--mode", mode, *flags, "-o", str(costs_out)]) == 0
    table = pd.read_csv(costs_out).groupby("origin")["cost"].min()
    toml = layers / f"line-{mode}.toml"
    toml.write_text(f'[schools]\npath = "schools.gpkg"\nid = "sid"\nseats = "seats"\n'
                    f'[population]\npath = "cells.gpkg"\nid = "cell"\ncount = "kids"\n'
                    f'[network]\neuclidean = true\nmode = "{mode}"\n'
                    + (f"speed = {speed}\n" if speed else "") +
                    '[analysis]\nthreshold = 60\nmax_cost = 1000\nunit = "min"\n'
                    f'assignment = false\n[outputs]\nfolder = "line-{mode}"\nreport = false\n')
    scenario = load_scenario(toml)
    scenario.outputs["map"] = None
    run(scenario)
    scen = pd.read_csv(layers / f"line-{mode}" / "cells.csv").set_index("cell")["nearest_cost"]
    for got in (api, cli, table, scen):
        assert got.reindex(list(CELLS)).to_numpy() == pytest.approx([want[c] for c in CELLS])


def test_off_network_rule_and_brought_table_from_every_door(layers):
    """``off_network = "unreachable"`` (snap limit 50 m: cells D and E are off) leaves those
    cells without a school; a table you bring gives the same answers as the table it is."""
    cells = ge.read_population(layers / "cells.gpkg", count_col="kids", id_col="cell")
    schools = ge.read_schools(layers / "schools.gpkg", id_col="sid", seats_col="seats")
    source = ge.CostSource(kind="network", network=layers / "streets.gpkg", snap_limit=50.0,
                           off_network="unreachable", cache_dir=False)
    costs = ge.cost_table(source, cells, schools, max_cost=2000)
    assert set(costs["origin"]) == {"A", "B", "C", "F"}
    want = expected_costs("network", "m", 1.0, 50.0)
    assert {(o, d): c for o, d, c in costs.itertuples(index=False)} == pytest.approx(
        {k: v for k, v in want.items() if k[0] in "ABCF"})
    # the same table, brought as a file with other column names, k = 1 cheapest per origin
    costs.rename(columns={"origin": "o", "destination": "d", "cost": "c"}).to_csv(
        layers / "brought.csv", index=False)
    brought = ge.CostSource(kind="table", table=layers / "brought.csv", table_columns="o,d,c")
    one = ge.cost_table(brought, cells, schools, k=1).set_index("origin")["cost"]
    assert one.to_dict() == pytest.approx({c: min(v for k, v in want.items() if k[0] == c)
                                           for c in "ABCF"})
    out = layers / "unreach.csv"
    assert main(["-q", "access", "--demand", str(layers / "cells.gpkg"), "--demand-id", "cell",
                 "--demand-col", "kids", "--supply", str(layers / "schools.gpkg"),
                 "--supply-id", "sid", "--supply-col", "seats", "--network",
                 str(layers / "streets.gpkg"), "--no-cache", "--snap-limit", "50",
                 "--off-network", "unreachable", "--method", "nearest", "-o", str(out)]) == 0
    cli = pd.read_csv(out).set_index("cell")["access"]
    assert cli[["D", "E"]].isna().all() and cli[["A", "B", "C", "F"]].notna().all()
    toml = layers / "unreach.toml"
    toml.write_text('[schools]\npath = "schools.gpkg"\nid = "sid"\nseats = "seats"\n'
                    '[population]\npath = "cells.gpkg"\nid = "cell"\ncount = "kids"\n'
                    '[network]\ncosts = "brought.csv"\ncosts_columns = ["o", "d", "c"]\n'
                    '[analysis]\nthreshold = 2000\nmethod = "nearest"\nassignment = false\n'
                    '[outputs]\nfolder = "unreach"\nreport = false\n')
    scenario = load_scenario(toml)
    scenario.outputs["map"] = None
    run(scenario)
    scen = pd.read_csv(layers / "unreach" / "cells.csv").set_index("cell")["nearest_cost"]
    np.testing.assert_allclose(scen.reindex(cli.index), cli, rtol=1e-12)


def test_bad_cost_options_are_one_line_errors_naming_the_option(layers, capsys):
    with pytest.raises(ge.InputError, match=r"^detour_factor: must be a number >= 1, got 0.5"):
        ge.CostSource(detour_factor=0.5)
    with pytest.raises(ge.InputError, match=r"^off_network: unknown value 'line'"):
        ge.CostSource(off_network="line")
    with pytest.raises(ge.InputError, match=r"^network: a network cost source needs"):
        ge.CostSource(kind="network")
    rc = main(["access", "--demand", str(layers / "cells.gpkg"), "--demand-col", "kids",
               "--supply", str(layers / "schools.gpkg"), "--supply-col", "seats",
               "--euclidean", "--detour-factor", "0.5", "--method", "nearest",
               "-o", str(layers / "bad.csv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("geoequity: error: --detour-factor: ")
    toml = layers / "bad.toml"
    toml.write_text('[schools]\npath = "schools.gpkg"\nseats = "seats"\n[population]\n'
                    'path = "cells.gpkg"\ncount = "kids"\n[network]\nsnap_limit = -1\n'
                    'euclidean = true\n[analysis]\nthreshold = 500\n')
    with pytest.raises(ge.InputError, match=r"bad\.toml: \[network\] snap_limit: must be"):
        load_scenario(toml)


# the defaults docs/network.md (section 0) documents for every door
DOCUMENTED_DEFAULTS = {"mode": "walk", "unit": "m", "walk_speed": 4.5, "bike_speed": 15.0,
                       "speed": None, "detour_factor": 1.0, "snap_limit": 500.0,
                       "off_network": "euclidean", "cache_dir": None}
COST_COMMANDS = [("costs",), ("access",), ("gaps",), ("site",), ("districts", "evaluate"),
                 ("districts", "compare"), ("districts", "propose")]


def _subparser(parser, names):
    import argparse

    for name in names:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return parser


@pytest.mark.parametrize("command", COST_COMMANDS, ids=" ".join)
def test_every_door_has_every_cost_option_with_the_documented_default(command, tmp_path):
    # review: the defaults are written in the CLI, CostSource and the scenario reader; hold
    # every command's flags (and the API's and a scenario's values) to the documented table
    from geoequity.cli import build_parser
    from geoequity.scenario import cost_source

    defaults = {a.dest: a.default for a in _subparser(build_parser(), command)._actions}
    for dest, value in DOCUMENTED_DEFAULTS.items():
        assert dest in defaults and defaults[dest] == value, dest
    assert {"network", "euclidean", "no_cache"} <= defaults.keys()
    if command != ("costs",):        # geoequity costs computes tables, it takes none
        assert {"costs", "costs_columns"} <= defaults.keys()
    api = ge.CostSource()
    assert {k: getattr(api, k) for k in DOCUMENTED_DEFAULTS} == DOCUMENTED_DEFAULTS
    (tmp_path / "s.toml").write_text('[schools]\npath = "s.csv"\nseats = "seats"\n'
                                     '[population]\npath = "c.csv"\n'
                                     '[analysis]\nthreshold = 500\n', encoding="utf-8")
    scen = cost_source(load_scenario(tmp_path / "s.toml"))
    assert scen.kind == "euclidean"
    assert {k: getattr(scen, k) for k in DOCUMENTED_DEFAULTS} == DOCUMENTED_DEFAULTS


# ---------------------------------------------------------------------------- max_cost
# threshold 100 m: the default max_cost is 4 x 100 = 400 m (or the same in minutes). Straight
# lines by hand (cells and schools above): A-S1 100; B-S2 335.4, B-S3 362.5; C-S1 362.5,
# C-S2 403.6; D-S3 193.1; E and F reach nothing within 400 (E-S2 540.8, F-S2 450).
NEAR_400 = {"A": ("S1", 100.0), "B": ("S2", np.hypot(150, 300)), "C": ("S1", np.hypot(150, 330)),
            "D": ("S3", np.hypot(180, 70)), "E": (None, np.nan), "F": (None, np.nan)}
# least-cost assignment within 400: S1 (50) seats A 10 + C 30; S2 (80) seats B 20; S3 (30)
# seats 30 of D's 40 (D reaches only S3); E and F reach no seat: 90 seated, 120 not
ASSIGNED_400 = {"A": 10, "B": 20, "C": 30, "D": 30, "E": 0, "F": 0}
# within 200 only A-S1 (100) and D-S3 (193) remain
ASSIGNED_200 = {"A": 10, "B": 0, "C": 0, "D": 30, "E": 0, "F": 0}


def _scale(unit):
    return PER_MIN if unit == "min" else 1.0


def _max_cost_scenario(folder, unit, tag, extra=""):
    toml = folder / f"maxcost-{tag}.toml"
    toml.write_text('[schools]\npath = "schools.gpkg"\nid = "sid"\nseats = "seats"\n'
                    '[population]\npath = "cells.gpkg"\nid = "cell"\ncount = "kids"\n'
                    '[network]\neuclidean = true\n'
                    f'[analysis]\nthreshold = {100 / _scale(unit)!r}\nunit = "{unit}"\n{extra}'
                    f'[outputs]\nfolder = "maxcost-{tag}"\nreport = false\n')
    scenario = load_scenario(toml)
    scenario.outputs["map"] = None
    run(scenario)
    return pd.read_csv(folder / f"maxcost-{tag}" / "cells.csv").set_index("cell")


def _max_cost_gaps(folder, unit, tag, *flags):
    out = folder / f"maxcost-gaps-{tag}"
    assert main(["-q", "gaps", "--demand", str(folder / "cells.gpkg"), "--demand-id", "cell",
                 "--demand-col", "kids", "--supply", str(folder / "schools.gpkg"),
                 "--supply-id", "sid", "--supply-col", "seats", "--euclidean", "--unit", unit,
                 "--threshold", repr(100 / _scale(unit)), *flags, "-o", str(out)]) == 0
    return pd.read_csv(out / "cells.csv").set_index("cell")


@pytest.mark.parametrize("unit", ["m", "min"])
def test_max_cost_defaults_to_four_thresholds_from_every_door(layers, unit):
    """Issue #15 review O1/O2: ``geoequity gaps`` stopped costs, the nearest school and the
    assignment at the threshold while a scenario used 4 x the threshold. Now every door takes
    ``max_cost`` = 4 x threshold (in the threshold's unit) and ``assignment_max_cost`` =
    ``max_cost``, equal to the hand computation above."""
    s = _scale(unit)
    cells = ge.read_population(layers / "cells.gpkg", count_col="kids", id_col="cell")
    schools = ge.read_schools(layers / "schools.gpkg", id_col="sid", seats_col="seats")
    threshold = 100 / s
    max_cost, amc = ge.default_max_cost(threshold)
    assert (max_cost, amc) == pytest.approx((400 / s, 400 / s))
    source = ge.CostSource(unit=unit)
    costs = ge.cost_table(source, cells, schools, max_cost=max_cost)
    api = analyse(cells, schools, costs, threshold=threshold).cells
    sg = ge.seat_gaps(ge.cost_table(source, cells, schools), cells, schools,
                      threshold=threshold).cells   # an unbounded table: the rule bounds it
    doors = {"api": api, "seat_gaps": sg, "scenario": _max_cost_scenario(layers, unit, unit),
             "cli": _max_cost_gaps(layers, unit, unit)}
    want_id = [NEAR_400[c][0] for c in CELLS]
    want_cost = [NEAR_400[c][1] / s for c in CELLS]
    for door, t in doors.items():
        t = t.reindex(list(CELLS))
        got_id = [None if pd.isna(v) else v for v in t["nearest_id"]]
        assert got_id == want_id, door
        np.testing.assert_allclose(t["nearest_cost"].to_numpy(float), want_cost, rtol=1e-9,
                                   err_msg=door)
        assert t["assigned"].tolist() == pytest.approx([ASSIGNED_400[c] for c in CELLS]), door
        assert t["unassigned"].sum() == pytest.approx(120), door
    # assignment_max_cost = 200 m (in the unit): the same from the CLI and a scenario
    cli = _max_cost_gaps(layers, unit, f"{unit}-a200", "--assignment-max-cost",
                         repr(200 / s))
    scen = _max_cost_scenario(layers, unit, f"{unit}-a200",
                              f"assignment_max_cost = {200 / s!r}\n")
    api = analyse(cells, schools, costs, threshold=threshold,
                     assignment_max_cost=200 / s).cells
    for door, t in {"cli": cli, "scenario": scen, "api": api}.items():
        t = t.reindex(list(CELLS))
        assert t["assigned"].tolist() == pytest.approx([ASSIGNED_200[c] for c in CELLS]), door
        assert t["nearest_id"].notna().sum() == 4, door   # the nearest school still to 400


def test_max_cost_below_the_threshold_is_refused_by_every_door(layers, capsys):
    with pytest.raises(ge.InputError, match=r"^max_cost: 50 is smaller than the threshold 100"):
        ge.default_max_cost(100, 50)
    rc = main(["gaps", "--demand", str(layers / "cells.gpkg"), "--demand-col", "kids",
               "--supply", str(layers / "schools.gpkg"), "--supply-col", "seats",
               "--euclidean", "--threshold", "100", "--max-cost", "50",
               "-o", str(layers / "bad-gaps")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("geoequity: error: --max-cost: 50 is smaller than")
    toml = layers / "bad-max.toml"
    toml.write_text('[schools]\npath = "schools.gpkg"\nseats = "seats"\n[population]\n'
                    'path = "cells.gpkg"\ncount = "kids"\n[network]\neuclidean = true\n'
                    '[analysis]\nthreshold = 100\nmax_cost = 50\n')
    with pytest.raises(ge.InputError, match=r"max_cost is smaller than threshold"):
        load_scenario(toml)


@pytest.mark.parametrize("command", [("access",), ("gaps",), ("site",), ("districts", "evaluate"),
                                     ("districts", "compare"), ("districts", "propose")])
def test_every_command_has_max_cost_under_the_scenario_name(command):
    from geoequity.cli import build_parser

    dests = {a.dest: a for a in _subparser(build_parser(), command)._actions}
    assert "max_cost" in dests and dests["max_cost"].default is None   # -> 4 x threshold
    if command == ("gaps",):
        assert dests["assignment_max_cost"].default is None            # -> max_cost
    if command[0] == "districts" and command[1] != "propose":
        assert dests["threshold"].default is None   # no 1000 (metres even in minutes)


def test_straight_line_minutes_on_a_drive_network_take_one_speed(layers):
    """Issue #15 review O8: straight-line minutes with a drive network used the network's
    median edge speed (here 60 km/h, every street's maxspeed) while CostSource used 30 km/h.
    One rule now (geoequity.costs.line_speed): 30 km/h for drive unless a speed is given, for
    ``euclidean=True`` on a network, for points off it, and for the euclidean kind."""
    cells = ge.read_population(layers / "cells.gpkg", count_col="kids", id_col="cell")
    schools = ge.read_schools(layers / "schools.gpkg", id_col="sid", seats_col="seats")
    streets = gpd.read_file(layers / "streets.gpkg")
    streets["highway"], streets["maxspeed"] = "residential", "60"
    streets.to_file(layers / "fast.gpkg")
    net = ge.load_network(layers / "fast.gpkg", mode="drive", cache_dir=False)
    assert np.median(net.speed) == 60.0
    per_min = 30 * 1000 / 60   # metres a minute at 30 km/h
    line = {(c, s): np.hypot(*np.subtract(CELLS[c], SCHOOLS[s])) / per_min
            for c in CELLS for s in SCHOOLS}

    def as_dict(t):
        return {(o, d): c for o, d, c in t.itertuples(index=False)}

    on_net = ge.travel_costs(cells, schools, network=net, euclidean=True, unit="min")
    kind = ge.cost_table(ge.CostSource(mode="drive", unit="min"), cells, schools)
    assert as_dict(on_net) == pytest.approx(line) and as_dict(kind) == pytest.approx(line)
    # off the network (snap limit 50 m: D at 80 m and E at 424 m are off): the same speed
    off = as_dict(ge.travel_costs(cells, schools, network=net, unit="min", snap_limit=50.0))
    for c in "DE":
        assert {s: off[c, s] for s in SCHOOLS} == pytest.approx({s: line[c, s]
                                                                 for s in SCHOOLS})
    # ... and an explicit speed wins everywhere
    fast = as_dict(ge.travel_costs(cells, schools, network=net, euclidean=True, unit="min",
                                   speed=60.0))
    assert fast == pytest.approx({k: v / 2 for k, v in line.items()})


def test_districts_bound_their_costs_by_the_same_rule(layers):
    """Issue #15 review O1: ``districts`` bounded costs by 3 x the threshold (a brought table:
    not at all; ``propose``: 5,000 whatever the unit). Now max_cost = 4 x threshold. By hand,
    with a table: A-S1 300, B-S1 390 and C-S1 450 (threshold 100 -> bound 400): C is beyond
    the bound and reaches no school; with --max-cost 500 it does; mean cost over A and B is
    (10 x 300 + 20 x 390) / 30 = 360."""
    pd.DataFrame({"o": ["A", "B", "C"], "d": ["S1"] * 3, "c": [300.0, 390.0, 450.0]}).to_csv(
        layers / "dcosts.csv", index=False)
    gpd.GeoDataFrame({"name": ["all"]}, geometry=[shapely.box(X0 - 100, Y0 - 100, X0 + 1000,
                                                              Y0 + 1000)],
                     crs=CRS).to_file(layers / "one.gpkg")
    kids = sum(KIDS.values())

    def evaluate(*flags):
        out = layers / "deval.csv"
        assert main(["-q", "districts", "evaluate", "--cells", str(layers / "cells.gpkg"),
                     "--cell-id", "cell", "--children", "kids", "--schools",
                     str(layers / "schools.gpkg"), "--school-id", "sid", "--seats", "seats",
                     "--districts", str(layers / "one.gpkg"), "--district-id", "name",
                     "--costs", str(layers / "dcosts.csv"), "--costs-columns", "o,d,c",
                     "--threshold", "100", *flags, "-o", str(out)]) == 0
        return pd.read_csv(out).iloc[0]

    row = evaluate()
    assert row["children_no_school"] == kids - 10 - 20
    assert row["mean_cost"] == pytest.approx(360.0)
    row = evaluate("--max-cost", "500")
    assert row["children_no_school"] == kids - 10 - 20 - 30
    assert row["mean_cost"] == pytest.approx((10 * 300 + 20 * 390 + 30 * 450) / 60)
