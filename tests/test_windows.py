"""A cluster run whose workers read their own cells (geoequity.distributed.read_on_cluster).

The partitions are cut from the population's extent and the districts' polygons before any
cell is read (:func:`partition_windows`, checked against boxes and areas worked out by hand);
each worker reads its window and finds its cells' districts and partitions itself. The run's
client reads no cell (its population readers are made to fail here) and its results equal
the in-process run's (the reference: one process, the whole raster read once).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box

import geoequity as ge
from geoequity.distributed import (
    DEFAULT_TILE,
    OUTSIDE_TILE,
    partition_keys,
    partition_windows,
)

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo.toml"


def _two_districts() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"district": ["A", "B"]},
                            geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000)],
                            crs=32650)


def test_partition_windows_by_districts_and_the_tiles_they_leave():
    """Two 1 km squares side by side in an extent 25 km wide: each district its own box and
    area; the cells in no district by tiles of DEFAULT_TILE (20 km), each the part the
    districts leave: tile 0 (x 0-20 km) less the districts' x 0-2 km, tile 1 (x 20-25 km)
    whole."""
    assert DEFAULT_TILE == 20_000.0
    got = partition_windows((0.0, 0.0, 25_000.0, 1000.0), "districts", _two_districts())
    assert got == {
        "A": ((0.0, 0.0, 1000.0, 1000.0), 1_000_000.0),
        "B": ((1000.0, 0.0, 2000.0, 1000.0), 1_000_000.0),
        f"{OUTSIDE_TILE}0,0": ((2000.0, 0.0, 20_000.0, 1000.0), 18_000_000.0),
        f"{OUTSIDE_TILE}1,0": ((20_000.0, 0.0, 25_000.0, 1000.0), 5_000_000.0),
    }


def test_partition_windows_leave_out_tiles_the_districts_cover():
    """An extent the two districts cover whole: no tile for cells in no district."""
    got = partition_windows((0.0, 0.0, 2000.0, 1000.0), "districts", _two_districts())
    assert sorted(got) == ["A", "B"]


def test_a_district_of_several_polygons_is_one_window():
    """District A in two squares (x 0-1 km and x 3-4 km), B between them: A's box spans
    both (x 0-4 km), its area the two squares'; the extent's cells all lie in a district,
    but the gap x 2-3 km is in none: its tile's box is that gap."""
    districts = gpd.GeoDataFrame({"district": ["A", "B", "A"]}, geometry=[
        box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000), box(3000, 0, 4000, 1000)],
        crs=32650)
    got = partition_windows((0.0, 0.0, 4000.0, 1000.0), "districts", districts)
    assert got == {"A": ((0.0, 0.0, 4000.0, 1000.0), 2_000_000.0),
                   "B": ((1000.0, 0.0, 2000.0, 1000.0), 1_000_000.0),
                   f"{OUTSIDE_TILE}0,0": ((2000.0, 0.0, 3000.0, 1000.0), 1_000_000.0)}


def test_districts_covering_a_raster_leave_no_outside_window(tmp_path):
    """A 300 x 200 raster of 100 m pixels and one district its very box: the extent is that
    of the pixels' centres (padded by a metre, still 49 m inside the district), so the
    windows are the district's alone; an extent padded beyond the pixels' edges left strips
    a metre wide around it, each 20 km tile of them a window with no cell to read."""
    import rasterio
    from rasterio.transform import from_origin

    from geoequity.io.population import population_extent

    path = tmp_path / "r.tif"
    with rasterio.open(path, "w", driver="GTiff", width=300, height=200, count=1,
                       dtype="float32", crs="EPSG:32650",
                       transform=from_origin(500_000, 3_520_000, 100, 100)) as dst:
        dst.write(np.ones((1, 200, 300), dtype="float32"))
    ext = population_extent(path)
    assert ext.bounds == pytest.approx((500_049, 3_500_049, 529_951, 3_519_951), abs=1e-6)
    district = gpd.GeoDataFrame({"district": ["All"]},
                                geometry=[box(500_000, 3_500_000, 530_000, 3_520_000)],
                                crs="EPSG:32650")
    windows = partition_windows(ext.bounds, "districts", district)
    assert list(windows) == ["All"]
    assert windows["All"][0] == pytest.approx(ext.bounds)


def test_partition_windows_by_tiles():
    """1 km tiles over x 0-2.5 km, y 0-1 km: three tiles, the last cut to 0.5 km; the row
    of tiles above (y from 1 km) has no height inside the extent and is left out."""
    got = partition_windows((0.0, 0.0, 2500.0, 1000.0), 1000.0, None)
    assert got == {"0,0": ((0.0, 0.0, 1000.0, 1000.0), 1_000_000.0),
                   "1,0": ((1000.0, 0.0, 2000.0, 1000.0), 1_000_000.0),
                   "2,0": ((2000.0, 0.0, 2500.0, 1000.0), 500_000.0)}


def test_cells_in_no_district_are_partitioned_by_tiles():
    """Points in A, in B, and outside both at x = 21 km and x = -100 m: the outside ones go
    to tiles 1 and -1 of 20 km (floor(21000 / 20000) = 1, floor(-100 / 20000) = -1)."""
    cells = gpd.GeoDataFrame(geometry=[Point(500, 500), Point(1500, 500), Point(21_000, 500),
                                       Point(-100, 500)], crs=32650)
    keys = partition_keys(cells, "districts", _two_districts())
    assert keys.tolist() == ["A", "B", f"{OUTSIDE_TILE}1,0", f"{OUTSIDE_TILE}-1,0"]


def _part(ids, keys=None):
    """A partition's cells as :func:`_number_cells` takes them: ids, and keys or None."""
    from types import SimpleNamespace

    return SimpleNamespace(ids=np.asarray(ids), keys=None if keys is None else np.asarray(keys))


def test_cells_numbered_from_the_partitions_own():
    """Three partitions' ids (each ascending): all ids ascending, and each partition's cells'
    places among them, by hand: 1 3 5 7 9 -> [3, 7] at 1 and 3, [1, 9] at 0 and 4, [5] at 2."""
    from geoequity.distributed import _number_cells

    ids, positions = _number_cells([_part([3, 7]), _part([1, 9]), _part([5])])
    assert ids.tolist() == [1, 3, 5, 7, 9]
    assert [p.tolist() for p in positions] == [[1, 3], [0, 4], [2]]


def test_cells_numbered_by_their_rows_keep_their_text_ids():
    """Text ids whose order is not the file's, numbered by their rows (the keys): rows
    0..4 hold "e", "a", "d", "b", "c", so the run's ids are in that order, not sorted."""
    from geoequity.distributed import _number_cells

    ids, positions = _number_cells([_part(["a", "b"], [1, 3]), _part(["e", "c"], [0, 4]),
                                    _part(["d"], [2])])
    assert ids.tolist() == ["e", "a", "d", "b", "c"]
    assert [p.tolist() for p in positions] == [[1, 3], [0, 4], [2]]


def test_a_partitions_size_counts_its_cells_keys():
    """dask's size of a worker-read partition's answer (what it places and spills by) counts
    its cells' keys (their rows in the file) as it counts their ids: 1,000 int64 keys are
    8,000 bytes more than the None they replace (``sys.getsizeof``'s, as dask counts it)."""
    import sys
    from dataclasses import replace

    from dask.sizeof import sizeof

    from geoequity.distributed import _Answer

    none = np.zeros(0, dtype=np.int64)
    answer = _Answer(cells=none, nearest=none, values={}, origin=none, destination=none,
                     cost=np.zeros(0), attrs={}, stats={})
    keys = np.arange(1_000, dtype=np.int64)
    more = 8_000 - sys.getsizeof(None)
    assert sizeof(replace(answer, keys=keys)) - sizeof(answer) == more
    assert sizeof(replace(answer, ids=keys)) - sizeof(answer) == more


def test_a_cell_in_two_partitions_is_a_bug():
    from geoequity.distributed import _number_cells

    with pytest.raises(RuntimeError, match="a cell in two partitions"):
        _number_cells([_part([3, 7]), _part([7])])
    with pytest.raises(RuntimeError, match="a cell in two partitions"):
        _number_cells([_part(["a", "b"], [3, 7]), _part(["c"], [7])])


def _assert_same_assignment(got, ref) -> None:
    """Every cell's ``assigned``, ``unassigned`` and ``school`` and the schools'
    ``assigned``, ``spare`` and ``overflow`` of run ``got`` are run ``ref``'s."""
    import pandas as pd
    from _cases import run_cells

    mine, cells = run_cells(got), run_cells(ref)
    for col in ("assigned", "unassigned"):
        pd.testing.assert_series_equal(mine[col], cells[col], check_exact=False, rtol=1e-9,
                                       atol=1e-9)
    pd.testing.assert_series_equal(mine["school"], cells["school"], check_exact=True)
    pd.testing.assert_frame_equal(got.schools[["assigned", "spare", "overflow"]],
                                  ref.schools[["assigned", "spare", "overflow"]],
                                  check_exact=False, rtol=1e-9, atol=1e-9)


def _assert_workers_hold_nothing(client) -> None:
    """The workers hold no key of the run once it is over (its tasks let go; the
    scheduler's word on it may take a moment)."""
    import time

    for _ in range(100):
        held = {w: keys for w, keys in client.has_what().items() if keys}
        if not held:
            break
        time.sleep(0.1)
    assert not held


def _scenario(folder: Path, name: str) -> Path:
    text = DEMO.read_text(encoding="utf-8").replace('"demo/', f'"{DEMO.parent}/demo/')
    text = text.replace('folder = "../out/demo"', f'folder = "{folder / name}"')
    text = text.replace('map = "../maps/demo.html"', f'map = "{folder / (name + ".html")}"')
    text = text.replace("report = true", "report = false")
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def demo_ref(tmp_path_factory):
    """The demo run in process: the reference."""
    return ge.run_scenario(_scenario(tmp_path_factory.mktemp("windows"), "inproc"))


def test_a_lost_solve_of_worker_read_cells_is_done_here(client, tmp_path, demo_ref,
                                                        capsys):
    """The solve on a worker is lost (cancelled: the cluster's doing): one line says so,
    the client gathers the pieces' parts and solves them with the worker's function; every
    cell's assignment equals the in-process run's."""
    import unittest.mock as mock

    from geoequity import distributed

    started = distributed._KeptCellsSolve.__init__

    def failing(self, *args, **kwargs):
        started(self, *args, **kwargs)
        self._job.cancel()

    with mock.patch.object(distributed._KeptCellsSolve, "__init__", failing):
        got = ge.run_scenario(_scenario(tmp_path, "lost"), client=client)
    assert "the solve on a worker gave no answer (FutureCancelledError: " in \
        capsys.readouterr().err
    assert got.solve["where"] == "here"
    _assert_same_assignment(got, demo_ref)


def test_the_client_reads_no_cell(client, tmp_path, monkeypatch, demo_ref, capsys):
    """The demo (a raster population) on two workers with the raster read, the cells'
    numbering and the assignment's per-cell tables of this process (the client) failing:
    the run succeeds, its workers having read the cells; each partition is the district
    (or the 20 km tile, for cells in no district) of its cells in the in-process run, its
    cell count theirs; the cells' values equal the in-process run's. Its line on the
    pixels gives the in-process read's counts (9,801 kept, 0 zero and 9,399 nodata of the
    160 x 120 raster; 334,892 residents)."""
    import pandas as pd
    from _cases import run_cells

    import geoequity.io.population as P

    ref = demo_ref

    def refuse(*args, **kwargs):
        raise AssertionError("the client took every cell")

    # every read of a raster's pixels goes through _read_band (the extent reads metadata);
    # the workers are processes of their own, not patched. Nor does the client number the
    # cells (the solving worker does) or build the assignment's per-cell tables
    import geoequity.assignment as A
    import geoequity.distributed as D

    monkeypatch.setattr(P, "_read_band", refuse)
    monkeypatch.setattr(D, "_number_cells", refuse)
    monkeypatch.setattr(A, "result_of_flows", refuse)
    capsys.readouterr()
    got = ge.run_scenario(_scenario(tmp_path, "cluster"), client=client)
    monkeypatch.undo()
    assert ("residents.tif: 9,801 populated pixels kept (9,399 zero, nodata or negative "
            "pixels dropped); total 334,892") in capsys.readouterr().err
    # and the workers hold nothing of the run once it is over (its tasks let go)
    _assert_workers_hold_nothing(client)

    cells = run_cells(ref)
    # each cell's partition by hand: its district, or its 20 km tile when it is in none
    x = cells.geometry.centroid.x.to_numpy()
    outside = cells["district"].to_numpy() == "(outside)"
    keys = cells["district"].astype(object).to_numpy().copy()
    keys[outside] = [f"(outside) {int(np.floor(v / 20_000))},"
                     f"{int(np.floor(w / 20_000))}" for v, w in
                     zip(x[outside], cells.geometry.centroid.y.to_numpy()[outside],
                         strict=True)]
    expected = pd.Series(keys).value_counts().sort_index()
    parts = {p["partition"]: p["cells"] for p in got.cluster.partitions}
    assert parts == expected.to_dict()
    assert "read" in got.cluster.stages
    mine = run_cells(got)
    pd.testing.assert_index_equal(mine.index, cells.index, exact=True)
    # (the assignment's columns: built on the solving worker, each piece's sent to it)
    for col in ("children", "nearest_cost", "seats_within", "access", "assigned",
                "unassigned"):
        pd.testing.assert_series_equal(mine[col], cells[col], check_exact=False, rtol=1e-9,
                                       atol=1e-9)
    assert cells["assigned"].sum() > 20_000   # the demo seats most of its 26,791 children
    for col in ("district", "nearest_id", "school"):
        pd.testing.assert_series_equal(mine[col], cells[col], check_exact=True)
    pd.testing.assert_frame_equal(got.schools[["assigned", "spare", "overflow"]],
                                  ref.schools[["assigned", "spare", "overflow"]],
                                  check_exact=False, rtol=1e-9, atol=1e-9)


def test_a_cell_no_window_takes_stops_the_run(client, tmp_path, monkeypatch):
    """A partition's window left out (partition_windows and partition_keys made to disagree
    here): its cells would be missed without a word; the workers that read them stop the
    run instead."""
    import geoequity.distributed as D

    cut = D.partition_windows

    def less(*args, **kwargs):
        windows = cut(*args, **kwargs)
        windows.pop("Chengguan")
        return windows

    monkeypatch.setattr(D, "partition_windows", less)
    with pytest.raises(RuntimeError, match=r"cells of \['Chengguan'\] lie in no partition"):
        ge.run_scenario(_scenario(tmp_path, "less"), client=client)


def test_a_worker_lost_after_the_partitions_of_worker_read_cells(tmp_path, demo_ref):
    """The worker solving the assignment dies, with the partitions' answers and cells it
    held: dask computes them again from their tasks (the layers sent to the workers are
    kept for that) and solves on the other worker; the in-process run's assignment."""
    import pandas as pd
    from _cases import dying_cluster, run_cells

    died = tmp_path / "died"
    with dying_cluster("geoequity-assignment-solve", 2, once=str(died)) as c:
        got = ge.run_scenario(_scenario(tmp_path, "dies"), client=c)
    assert died.exists()   # a worker did die at the solve
    mine, ref = run_cells(got), run_cells(demo_ref)
    for col in ("assigned", "access"):
        pd.testing.assert_series_equal(mine[col], ref[col], check_exact=False, rtol=1e-9,
                                       atol=1e-9)


def test_a_decomposed_assignment_runs_where_the_cells_lie(client, tmp_path, monkeypatch):
    """The demo decomposed by districts on two workers whose workers read the cells: each
    partition is a part where it lies, and the rounds, the border pass, the bound and the
    augmenting paths run there (the client's gathering of the pairs, its in-process
    decomposition and its per-cell tables are made to fail here). The run's every cell's
    assignment, the schools' columns and the decomposition's figures equal the in-process
    decomposed run's (the same parts, in the same order: the 20 km tiles outside the
    districts included); the workers hold nothing afterwards."""

    import geoequity.assignment as A
    import geoequity.assignment_decomposed as AD
    import geoequity.distributed as D
    import geoequity.io.population as P

    ref = ge.run_scenario(_scenario(tmp_path, "inproc"), assignment_mode="decomposed")

    def refuse(*args, **kwargs):
        raise AssertionError("the client took every cell")

    monkeypatch.setattr(P, "_read_band", refuse)
    monkeypatch.setattr(D.KeptPairs, "gather", refuse)
    monkeypatch.setattr(AD, "decomposed_assignment", refuse)
    monkeypatch.setattr(A, "result_of_flows", refuse)
    got = ge.run_scenario(_scenario(tmp_path, "cluster"), client=client,
                          assignment_mode="decomposed")
    monkeypatch.undo()
    _assert_workers_hold_nothing(client)
    s, r = ref.summary, got.summary
    assert r["assignment_mode"] == "decomposed"
    # the demo's 4 districts and the tiles of the cells outside them, several rounds
    assert s["assignment_parts"] == r["assignment_parts"] > 4
    for key in ("assignment_rounds", "assignment_bound", "assignment_pairs"):
        assert s[key] == r[key], key
    for key in ("assignment_unassigned", "assignment_lower_bound", "assignment_cost",
                "assignment_repaired", "assignment_exact_unassigned"):
        assert r[key] == pytest.approx(s[key], rel=1e-9, abs=1e-9), key
    _assert_same_assignment(got, ref)


def _break_border_pass():
    import geoequity.assignment_decomposed as AD

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a border problem broke")

    AD._resolve_bands_kept = AD.resolve_bands
    AD.resolve_bands = broken


def _mend_border_pass():
    import geoequity.assignment_decomposed as AD

    AD.resolve_bands = AD._resolve_bands_kept


def test_a_decomposition_step_that_fails_stops_the_run_and_leaves_nothing(client, tmp_path):
    """A step of the decomposition raises on a worker (the border pass, broken there): the
    run stops with that error, naming what it computed, and the workers hold nothing of the
    run afterwards (its tasks let go on the way out)."""

    client.run(_break_border_pass)
    try:
        with pytest.raises(ZeroDivisionError, match="a border problem broke") as err:
            ge.run_scenario(_scenario(tmp_path, "broken"), client=client,
                            assignment_mode="decomposed")
    finally:
        client.run(_mend_border_pass)
    assert any("decomposed capacity assignment" in n or "partition" in n
               for n in getattr(err.value, "__notes__", []))
    # (the error's traceback, held here, holds the run's frames: their futures were let go)
    _assert_workers_hold_nothing(client)
    del err


@pytest.fixture(scope="module")
def vector_demo(tmp_path_factory):
    """The demo's residents as a GeoPackage grid of 100 m squares (9,801 cells): ``grid``
    in the raster's row order with an integer id ``cell`` (7, 10, 13, ...) and its recorded
    extent made stale (gpkg_contents cut 6 km west of its east edge, beyond the windows'
    3 km halo: a run trusting it would miss the cells east of the cut); ``shuffled``, the
    same rows in a random order."""
    import sqlite3

    from geoequity.io import read_population

    folder = tmp_path_factory.mktemp("vector_demo")
    g = read_population(DEMO.parent / "demo/residents.tif").reset_index(drop=True)
    v = g[["population", "geometry"]].copy()
    v["cell"] = np.arange(len(v)) * 3 + 7
    v.to_file(folder / "grid.gpkg")
    east = float(v.total_bounds[2])
    with sqlite3.connect(folder / "grid.gpkg") as con:
        con.execute("update gpkg_contents set max_x = ?", (east - 6000.0,))
    v.sample(frac=1, random_state=1).to_file(folder / "shuffled.gpkg")
    return folder


def _vector_scenario(folder: Path, name: str, grid: Path, id_col: str | None) -> Path:
    path = _scenario(folder, name)
    text = path.read_text(encoding="utf-8").replace(
        f'path = "{DEMO.parent}/demo/residents.tif"',
        f'path = "{grid}"\ncount = "population"' + (f'\nid = "{id_col}"' if id_col else ""))
    path.write_text(text, encoding="utf-8")
    return path


def _assert_same_cells(got, ref, index: str) -> None:
    """Run ``got``'s cells (its cells.parquet) are run ``ref``'s (in process): the same ids
    in the same order, the same measures, districts, nearest schools and assignment."""
    import pandas as pd
    from _cases import run_cells

    mine, cells = run_cells(got, index), ref.cells
    assert mine.index.tolist() == cells.index.tolist()
    for col in ("children", "nearest_cost", "seats_within", "access", "assigned",
                "unassigned"):
        np.testing.assert_allclose(mine[col].to_numpy(float), cells[col].to_numpy(float),
                                   rtol=1e-9, atol=1e-9, err_msg=col)
    for col in ("district", "nearest_id", "school"):
        assert mine[col].tolist() == cells[col].tolist(), col
    assert cells["assigned"].sum() > 20_000   # the demo seats most of its 26,791 children
    pd.testing.assert_frame_equal(got.schools[["assigned", "spare", "overflow"]],
                                  ref.schools[["assigned", "spare", "overflow"]],
                                  check_exact=False, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("id_col", [None, "cell"])
def test_a_vector_grid_is_read_by_the_workers(client, tmp_path, monkeypatch, vector_demo,
                                              id_col, capsys):
    """The demo's grid as a GeoPackage, without an id column (the cells' ids are their rows)
    and with integer ids ascending in the file's order: the workers read it window by
    window, the client none of its cells (its reads of a vector layer's cells made to fail
    here), its stale recorded extent notwithstanding (every one of the 9,801 cells is read:
    the extent is the features' own); every cell's values equal the in-process run's.
    With ``[population] bounds`` (rasters only), the client says the in-process read's line
    on it (the workers' reads are quiet)."""
    import geoequity.io.population as P

    scenario = _vector_scenario(tmp_path, "grid", vector_demo / "grid.gpkg", id_col)
    if id_col is None:
        text = scenario.read_text(encoding="utf-8")
        scenario.write_text(text.replace('count = "population"',
                                         'count = "population"\nbounds = "districts"'),
                            encoding="utf-8")
    capsys.readouterr()
    ref = ge.run_scenario(scenario)
    assert len(ref.cells) == 9_801
    note = "grid.gpkg: bounds apply to raster population only; this vector layer is read whole"
    assert (note in capsys.readouterr().err) == (id_col is None)

    def refuse(*args, **kwargs):
        raise AssertionError("the client read the cells")

    monkeypatch.setattr(P, "_vector_cells", refuse)
    got = ge.run_scenario(scenario, client=client)
    monkeypatch.undo()
    assert (note in capsys.readouterr().err) == (id_col is None)
    assert sum(p["cells"] for p in got.cluster.partitions) == 9_801
    _assert_same_cells(got, ref, id_col or "id")
    if id_col:
        assert ref.cells.index[:3].tolist() == [7, 10, 13]


def test_a_zipped_geopackage_grid_with_ids_is_read_by_the_workers(client, tmp_path,
                                                                 vector_demo):
    """The grid with its ids, as a GeoPackage inside a .zip (which GDAL answers a box in its
    R-tree's order): the workers' windows are put in the file's order, and the run equals
    the in-process one."""
    import zipfile

    with zipfile.ZipFile(tmp_path / "grid.zip", "w") as z:
        z.write(vector_demo / "grid.gpkg", "grid.gpkg")
    scenario = _vector_scenario(tmp_path, "zipped", tmp_path / "grid.zip", "cell")
    ref = ge.run_scenario(scenario)
    got = ge.run_scenario(scenario, client=client)
    assert sum(p["cells"] for p in got.cluster.partitions) == 9_801
    _assert_same_cells(got, ref, "cell")
    assert ref.cells.index[:3].tolist() == [7, 10, 13]


def test_a_shuffled_vector_grid_without_ids_is_read_by_the_workers(client, tmp_path,
                                                                   vector_demo, capsys):
    """The shuffled grid without an id column: its cells' ids are its rows, in the file's
    order (not the grid's, nor the R-tree's a box is answered in), so the workers read it
    and the run equals the in-process one, cell by cell in that order."""
    scenario = _vector_scenario(tmp_path, "shuffled_rows", vector_demo / "shuffled.gpkg",
                                None)
    ref = ge.run_scenario(scenario)
    capsys.readouterr()
    got = ge.run_scenario(scenario, client=client)
    assert "reads it whole" not in capsys.readouterr().err
    assert sum(p["cells"] for p in got.cluster.partitions) == 9_801
    _assert_same_cells(got, ref, "id")
    assert ref.cells.index[:3].tolist() == [0, 1, 2]


@pytest.mark.parametrize(("grid", "id_dtype", "mode"), [
    ("shuffled", None, "auto"),   # integer ids out of the file's order
    ("grid", "str", "auto"),      # text ids: "10" < "13" < "7", not the file's order
    ("shuffled", "str", "decomposed"),
])
def test_a_vector_grid_whose_ids_are_not_its_order_is_read_by_the_workers(
        client, tmp_path, monkeypatch, vector_demo, capsys, grid, id_dtype, mode):
    """The grid with ids that do not sort as the file does (shuffled rows, or text ids):
    the workers read it window by window all the same (the client reads none of its cells:
    made to fail here) and number the cells by their rows in the file, so the run equals
    the in-process one cell by cell, in the file's order; the exact solve and a decomposed
    assignment alike."""
    import geoequity.io.population as P

    scenario = _vector_scenario(tmp_path, f"{grid}_{id_dtype}", vector_demo / f"{grid}.gpkg",
                                "cell")
    if id_dtype:
        text = scenario.read_text(encoding="utf-8")
        scenario.write_text(text.replace('id = "cell"', f'id = "cell"\nid_dtype = "{id_dtype}"'),
                            encoding="utf-8")
    ref = ge.run_scenario(scenario, assignment_mode=mode)
    capsys.readouterr()

    def refuse(*args, **kwargs):
        raise AssertionError("the client read the cells")

    monkeypatch.setattr(P, "_vector_cells", refuse)
    got = ge.run_scenario(scenario, client=client, assignment_mode=mode)
    monkeypatch.undo()
    assert "reads it whole" not in capsys.readouterr().err
    assert sum(p["cells"] for p in got.cluster.partitions) == 9_801
    _assert_workers_hold_nothing(client)
    if id_dtype == "str":
        assert isinstance(ref.cells.index[0], str)
    else:
        assert ref.cells.index[:3].tolist() != [7, 10, 13]   # (the file's order)
    assert got.summary["assignment_mode"] == ref.summary["assignment_mode"]
    _assert_same_cells(got, ref, "cell")


def test_a_vector_grid_with_repeated_text_ids_is_refused_as_in_process(client, tmp_path,
                                                                      vector_demo, capsys):
    """Text ids repeated across the grid (two cells far apart, which no one window sees
    together): the client reads the layer whole, saying so, so the run stops with the
    in-process read's one line naming the id."""
    g = gpd.read_file(vector_demo / "grid.gpkg")
    g["cell"] = g["cell"].astype(str)
    g.loc[len(g) - 1, "cell"] = g.loc[0, "cell"]
    g.to_file(tmp_path / "repeated.gpkg")
    scenario = _vector_scenario(tmp_path, "repeated", tmp_path / "repeated.gpkg", "cell")
    with pytest.raises(ge.InputError) as ref:
        ge.run_scenario(scenario)
    capsys.readouterr()
    with pytest.raises(ge.InputError) as got:
        ge.run_scenario(scenario, client=client)
    assert ("repeated.gpkg: some of its ids ('cell') are missing or repeat, features "
            "without a geometry counted, so the client reads it whole") \
        in capsys.readouterr().err
    assert str(got.value) == str(ref.value)
    assert "column 'cell' has duplicate ids (1 values repeated; e.g. '7' in rows [1, 9801])" \
        in str(ref.value)


def test_workers_info_asks_for_every_worker():
    """workers_info asks the scheduler for every worker (n_workers=-1: some distributed
    versions give five by default), and takes what an older one gives without the
    argument."""
    from geoequity.distributed import workers_info

    class Newer:
        def scheduler_info(self, n_workers=5):
            return {"workers": {f"w{i}": {"n": n_workers} for i in range(7)}}

    class Older:
        def scheduler_info(self):
            return {"workers": {"a": {}, "b": {}}}

    got = workers_info(Newer())
    assert len(got) == 7 and got["w0"] == {"n": -1}
    assert workers_info(Older()) == {"a": {}, "b": {}}


def test_flow_pair_limit_by_hand():
    """Half the smallest worker's memory limit over 250 bytes a pair, at most
    MAX_FLOW_PAIRS; workers without a limit (0 or None) do not count."""
    from geoequity.assignment_decomposed import MAX_FLOW_PAIRS, flow_pair_limit

    assert flow_pair_limit([4e9, 8e9]) == 8_000_000          # 2e9 / 250
    assert flow_pair_limit([0, None, 1e9]) == 2_000_000
    assert flow_pair_limit([64e9]) == MAX_FLOW_PAIRS == 20_000_000
    assert flow_pair_limit([0, None]) == flow_pair_limit([]) == MAX_FLOW_PAIRS


def test_workers_too_small_for_the_maximum_flows_get_the_relaxation_bound(
        client, tmp_path, monkeypatch, capsys):
    """Workers whose memory limit holds fewer pairs than the decomposition's whole-graph
    maximum flows need (made so here: 10 GB a pair) get the per-part relaxation bound and no
    augmenting paths, said on stderr, instead of a worker killed for its memory: the run's
    assignment and figures equal an in-process decomposition's with no maximum flow."""
    import functools

    import geoequity.assignment_decomposed as AD

    whole = AD.decompose_parts
    monkeypatch.setattr(AD, "decompose_parts", functools.partial(whole, flow_limit=0))
    ref = ge.run_scenario(_scenario(tmp_path, "inproc"), assignment_mode="decomposed")
    monkeypatch.setattr(AD, "decompose_parts", whole)
    monkeypatch.setattr(AD, "FLOW_BYTES_PER_PAIR", 10e9)
    capsys.readouterr()
    got = ge.run_scenario(_scenario(tmp_path, "cluster"), client=client,
                          assignment_mode="decomposed")
    err = capsys.readouterr().err
    assert ("the whole-graph maximum flows take (what the smallest worker's memory holds), "
            "so the lower bound is the per-part relaxation and no augmenting path") in err
    s, r = ref.summary, got.summary
    assert r["assignment_bound"] == s["assignment_bound"] == "per-part relaxation"
    for key in ("assignment_unassigned", "assignment_lower_bound"):
        assert r[key] == pytest.approx(s[key], rel=1e-9, abs=1e-9), key
    _assert_same_assignment(got, ref)
