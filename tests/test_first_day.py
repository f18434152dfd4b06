"""Issue #16 items 2 and 7: a planner's first day with ``districts propose`` on the demo,
messages that name the options of the door the user came in by, a quiet switch, and scenario
checks before any work."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoequity._errors import InputError
from geoequity._options import door, option
from geoequity.districts import evaluate_districts, propose_zones

CRS = "EPSG:32650"
DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"


def cells_at(columns, size=100.0):
    """One row of square cells at the given column numbers (gaps leave the grid in parts)."""
    x = np.asarray(columns, dtype=float) * size
    return gpd.GeoDataFrame({"children": np.ones(len(x))},
                            geometry=shapely.box(x, 0, x + size, size), crs=CRS,
                            index=pd.Index([f"c{c}" for c in columns], name="id"))


def schools_at(xy, seats, ids):
    xy = np.asarray(xy, dtype=float)
    return gpd.GeoDataFrame({"seats": np.asarray(seats, dtype=float)},
                            geometry=shapely.points(xy[:, 0], xy[:, 1]), crs=CRS,
                            index=pd.Index(ids, name="school"))


# ------------------------------------------------------------------------ option names
def test_option_names_follow_the_door():
    assert option("balance", "share") == "balance='share'"
    assert option("max_increase") == "max_increase"
    with door("cli"):
        assert option("balance", "share") == "--balance share"
        assert option("max_increase") == "--max-increase"
        with door("scenario"):
            assert option("max_cost") == "[analysis] max_cost"
        assert option("max_cost") == "--max-cost"
    assert option("max_cost") == "max_cost"


def test_propose_messages_name_the_callers_options():
    cells = cells_at(range(4))
    schools = schools_at([(50, 50)], [1], ["A"])   # 4 children, 1 seat: cannot balance
    with pytest.raises(InputError, match=r"use balance='share'"):
        propose_zones(cells, schools, tolerance=0.1)
    with door("cli"), pytest.raises(InputError) as err:
        propose_zones(cells, schools, tolerance=0.1)
    assert "raise --tolerance or use --balance share" in str(err.value)
    assert "balance='share'" not in str(err.value)


def test_cli_names_flags_not_python_arguments(tmp_path, capsys):
    from geoequity.cli import main

    status = main(["districts", "propose", "--cells", str(DEMO / "residents.tif"),
                   "--child-share", "0.08", "--children", "population",
                   "--schools", str(DEMO / "schools.csv"), "--school-id", "school_id",
                   "--seats", "seats", "--euclidean", "--minimise-moves", "-q",
                   "-o", str(tmp_path / "z.gpkg")])
    err = capsys.readouterr().err
    assert status == 2
    assert "--minimise-moves: needs the current districts; give --current" in err
    assert "current=" not in err


# ------------------------------------------------------------------ unrouted cells
def test_cells_beyond_max_cost_get_straight_line_candidates():
    """Six cells in a row, A in c0 and B in c5 (3 seats each). The cost table routes only
    c0..c2 (at twice the straight line), as a network does beyond max_cost. The unrouted cells
    are offered both zones at straight line x 2 (the median detour of the routed pairs): the
    balanced answer is c0..c2 -> A, c3..c5 -> B, travel 0+200+400+400+200+0 = 1200."""
    cells = cells_at(range(6))
    schools = schools_at([(50, 50), (550, 50)], [3, 3], ["A", "B"])
    x = np.arange(6) * 100.0 + 50
    rows = [(f"c{i}", s, 2 * abs(x[i] - sx)) for i in range(3) for s, sx in (("A", 50), ("B", 550))]
    costs = pd.DataFrame(rows, columns=["origin", "destination", "cost"])
    zp = propose_zones(cells, schools, costs, tolerance=0.0, method="mip")
    assert zp.assignment.tolist() == ["A"] * 3 + ["B"] * 3
    assert zp.stats["cells_without_route"] == 3
    assert zp.stats["detour_for_unrouted"] == pytest.approx(2.0)
    assert zp.stats["objective_travel"] == pytest.approx(1200.0)
    assert zp.constraints["balance"] and zp.constraints["one_zone_per_cell"]


# ---------------------------------------------------------------------- contiguity
def test_propose_contiguity_is_evaluates_contiguity():
    """Cells c0, c1 | gap | c3, c4: schools in c0 and c1, so c3 and c4 are island cells. Any
    zone holding an island cell is two pieces on the map; propose must say so, as evaluate
    (and compare) do, while the solver's own goal (connected where possible) holds."""
    cells = cells_at([0, 1, 3, 4])
    schools = schools_at([(50, 50), (150, 50)], [2, 2], ["A", "B"])
    zp = propose_zones(cells, schools, tolerance=0.5, method="mip")
    expected = [not ({"c3", "c4"} & set(zp.assignment.index[zp.assignment == z]))
                for z in zp.zones.index]
    assert zp.zones["contiguous"].tolist() == expected
    assert zp.constraints["contiguity"] is False
    assert zp.constraints["contiguity_where_possible"] is True
    t = evaluate_districts(cells, schools, zp, threshold=500)
    assert t["contiguous"].reindex(zp.zones.index).tolist() == expected
    assert "contiguity: does NOT hold" in zp.report()


def test_demo_propose_max_cost_and_compare_agree(tmp_path, capsys):
    """The demo's own network at --max-cost 5000 (propose's old default): propose succeeds
    (cells beyond it are placed), and compare counts exactly the zones propose calls contiguous (the 783 island cells
    of the demo grid make some zones several pieces)."""
    from geoequity.cli import main

    common = ["--cells", str(DEMO / "residents.tif"), "--child-share", "0.08",
              "--children", "population", "--schools", str(DEMO / "schools.csv"),
              "--school-id", "school_id", "--seats", "seats", "--level", "primary", "-q"]
    zones = tmp_path / "zones.gpkg"
    assert main(["districts", "propose", *common, "--network", str(DEMO / "streets.gpkg"),
                 "--max-cost", "5000", "--cache-dir", str(tmp_path / "cache"), "--json", "-o", str(zones)]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["stats"]["cells_without_route"] > 0
    written = gpd.read_file(zones)
    one_piece = int(written["contiguous"].sum())
    assert report["constraints"]["contiguity"] == bool(written["contiguous"].all())
    # independent count of pieces of the written outlines
    pieces = shapely.get_num_geometries(written.geometry.values)
    assert one_piece == int((pieces == 1).sum())
    out = tmp_path / "cmp.csv"
    assert main(["districts", "compare", *common, "--euclidean", "--threshold", "1000",
                 "--districts", str(zones),
                 str(DEMO / "districts.geojson"), "-o", str(out)]) == 0
    table = pd.read_csv(out, index_col="metric")
    assert table.loc["contiguous_districts", "zones"] == one_piece


# ------------------------------------------------------------------- quiet and early
def test_set_quiet_and_quiet_are_public(capsys):
    import geoequity as ge
    from geoequity._progress import info, is_quiet

    assert "set_quiet" in dir(ge) and "quiet" in dir(ge)
    was = is_quiet()
    try:
        ge.set_quiet(False)
        with ge.quiet():
            info("hidden line")
        info("shown line")
        ge.set_quiet()
        info("hidden again")
    finally:
        ge.set_quiet(was)
    err = capsys.readouterr().err
    assert "shown line" in err
    assert "hidden" not in err


def _e2sfca_without_decay_param(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_scenario import _tiny_case

    path = _tiny_case(tmp_path)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("max_cost = 5000",
                                 'max_cost = 5000\nmethod = "e2sfca"\ndecay = "gaussian"'),
                    encoding="utf-8")
    return path


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the scenario reads an input, loads a network or computes costs."""
    import geoequity.costs
    import geoequity.io
    import geoequity.network

    def refuse(*args, **kwargs):
        raise AssertionError("the scenario did work before checking its values")

    for mod, name in ((geoequity.io, "read_population"), (geoequity.io, "read_schools"),
                      (geoequity.network, "load_network"), (geoequity.costs, "cost_table")):
        monkeypatch.setattr(mod, name, refuse)


def test_scenario_decay_param_fails_before_any_work(tmp_path, no_work):
    import geoequity as ge

    path = _e2sfca_without_decay_param(tmp_path)
    with pytest.raises(InputError) as err:
        ge.run_scenario(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: [analysis] decay_param: decay 'gaussian' needs the width")
    assert "--decay-param" not in msg


def test_cli_run_names_scenario_keys(tmp_path, no_work, capsys):
    from geoequity.cli import main

    path = _e2sfca_without_decay_param(tmp_path)
    assert main(["run", str(path), "-q"]) == 2
    err = capsys.readouterr().err
    assert "[analysis] decay_param" in err and "--decay-param" not in err
    assert not (tmp_path / "out").exists()


def test_compile_notice_once_and_only_without_cache(capsys):
    from geoequity._progress import compile_notice, is_quiet, set_quiet

    class Cache:
        def __init__(self, index):
            self._cache_file = type("F", (), {"_load_index": lambda _self: index})()

    class Kernel:
        def __init__(self, overloads, index):
            self.overloads, self._cache = overloads, Cache(index)

    was = is_quiet()
    set_quiet(False)
    try:
        compile_notice([Kernel({}, {"sig": 1})], "test kernels (cached)", 3)
        compile_notice([Kernel({"sig": 1}, {})], "test kernels (compiled here)", 3)
        compile_notice([Kernel({}, {})], "test kernels (new)", 3)
        compile_notice([Kernel({}, {})], "test kernels (new)", 3)
        compile_notice([lambda: None], "test kernels (no numba)", 3)
    finally:
        set_quiet(was)
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["  compiling test kernels (new) (first use, about 3 s; later runs reuse "
                     "it) ..."]


def test_real_kernels_with_an_empty_numba_cache_will_compile(tmp_path):
    import os
    import subprocess
    import sys

    pytest.importorskip("numba")
    code = ("from geoequity._progress import _will_compile\n"
            "from geoequity.network import _kernels as k\n"
            "print(_will_compile(k.bounded_many_to_many), _will_compile(k.nearest_pieces))\n")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).resolve().parents[1], check=True)
    assert out.stdout.split() == ["True", "True"]
