"""A cluster run's cells written from pieces (geoequity.outputs.write_cells_piece): the parts
of cells.parquet, read back, are the in-process run's cells.parquet (issue #14, s24)."""

from __future__ import annotations

import json
import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely
from _cases import demo_scenario
from shapely.geometry import box

import geoequity as ge
from geoequity.cli.map import _from_outdir
from geoequity.io import read_layer, write_table
from geoequity.io.parquet import in_written_order, part_name
from geoequity.io.tables import read_attributes
from geoequity.outputs import write_cell_files_from_parts, write_cells_piece


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo run in process (its cells, catchments and run folder)."""
    tmp = tmp_path_factory.mktemp("pieces")
    with ge.quiet():
        res = ge.run_scenario(demo_scenario(tmp), report=False)
    return res, tmp / "out"


def _splits(cells: gpd.GeoDataFrame, seed: int) -> dict[str, np.ndarray]:
    """Labels 0..k-1 of every cell: 2 km tiles at a random offset, the districts, random
    pieces (one of them left empty)."""
    rng = np.random.default_rng(seed)
    xy = shapely.get_coordinates(shapely.centroid(cells.geometry.to_numpy()))
    size = rng.uniform(1500, 4000)
    key = np.floor((xy - rng.uniform(0, size, 2)) / size).astype(np.int64)
    _, tiles = np.unique(key[:, 0] * 100_000 + key[:, 1], return_inverse=True)
    _, districts = np.unique(cells["district"].astype(str), return_inverse=True)
    loose = rng.integers(0, 5, len(cells))
    loose[loose == 3] = 4   # piece 3 has no cell
    return {"tiles": tiles, "districts": districts, "random": loose}


def _pieces(cells, labels, rng):
    """(positions, piece) of each label, in a random order of the pieces."""
    out = []
    for k in rng.permutation(int(labels.max()) + 1):
        pos = np.flatnonzero(labels == k)
        out.append((pos, cells.iloc[pos]))
    return out


def _write_parts(cells, labels, folder, rng, *, positions=True):
    folder.mkdir()
    for i, (pos, piece) in enumerate(_pieces(cells, labels, rng)):
        write_cells_piece(piece, folder / part_name(i), positions=pos if positions else None)
    return folder


@pytest.mark.parametrize("seed", [1, 2])
def test_parts_read_back_as_the_in_process_file(demo, tmp_path, seed):
    res, out = demo
    whole = out / "cells.parquet"   # written by the in-process run
    rng = np.random.default_rng(seed)
    for kind, labels in _splits(res.cells, seed).items():
        folder = _write_parts(res.cells, labels, tmp_path / f"{kind}.parquet", rng)
        # every part: the in-process file's Arrow schema and pandas metadata, its geometry
        # encoding and CRS
        ref = pq.read_schema(whole)
        ref_geo = json.loads(ref.metadata[b"geo"])
        for part in sorted(folder.iterdir()):
            schema = pq.read_schema(part)
            assert schema.equals(ref, check_metadata=False), kind
            assert schema.metadata[b"pandas"] == ref.metadata[b"pandas"]
            geo = json.loads(schema.metadata[b"geo"])
            for key in ("version", "primary_column"):
                assert geo[key] == ref_geo[key]
            col, ref_col = geo["columns"]["geometry"], ref_geo["columns"]["geometry"]
            assert col["encoding"] == ref_col["encoding"] == "WKB"
            assert col["crs"] == ref_col["crs"]
        # pandas and geopandas read the folder as one table: the same rows
        flat = pd.read_parquet(folder)
        ref_flat = pd.read_parquet(whole)
        by_id = {"by": "cell", "ignore_index": True}
        pd.testing.assert_frame_equal(flat.sort_values(**by_id), ref_flat.sort_values(**by_id))
        # ... and in the run's order: the in-process file's table, row for row
        pd.testing.assert_frame_equal(in_written_order(flat, folder),
                                      in_written_order(ref_flat, whole))
        geo_back = in_written_order(gpd.read_parquet(folder), folder)
        ref_back = in_written_order(gpd.read_parquet(whole), whole)
        pd.testing.assert_frame_equal(geo_back, ref_back)
        assert geo_back.crs == ref_back.crs
        # the readers of a run folder: read_layer (geoequity map, report), read_table (equity)
        pd.testing.assert_frame_equal(read_layer(folder, project=False),
                                      read_layer(whole, project=False))
        pd.testing.assert_frame_equal(read_attributes(str(folder)), read_attributes(str(whole)))
        # a county read without the others, from the folder as from the file
        name = str(res.cells["district"].iloc[0])
        one = pd.read_parquet(folder, filters=[("district", "==", name)])
        assert sorted(one["cell"]) == sorted(res.cells.loc[res.cells["district"] == name,
                                                           "cell"])


def test_run_order_is_the_cells_order(demo, tmp_path):
    # independent of the in-process file: the cells themselves, in Results' order
    res, _ = demo
    rng = np.random.default_rng(7)
    labels = _splits(res.cells, 7)["tiles"]
    folder = _write_parts(res.cells, labels, tmp_path / "cells.parquet", rng)
    back = in_written_order(gpd.read_parquet(folder), folder)
    expected = res.cells.reset_index(drop=True)[back.columns]
    pd.testing.assert_frame_equal(back, expected)


def test_parts_without_positions_read_part_after_part(demo, tmp_path):
    res, _ = demo
    rng = np.random.default_rng(3)
    labels = _splits(res.cells, 3)["tiles"]
    folder = _write_parts(res.cells, labels, tmp_path / "cells.parquet", rng,
                          positions=False)
    back = in_written_order(pd.read_parquet(folder), folder)
    order = np.concatenate([pos for pos, _ in _pieces(res.cells, labels,
                                                      np.random.default_rng(3))])
    assert back["cell"].tolist() == res.cells["cell"].to_numpy()[order].tolist()


def test_hand_case_two_pieces(tmp_path):
    # four cells of two districts in the run's order b, a, d, c; piece 0 holds b and c
    # (positions 0 and 3), piece 1 a and d (1 and 2)
    cells = gpd.GeoDataFrame({"cell": ["b", "a", "d", "c"], "district": ["E", "W", "E", "W"],
                              "children": [2.0, 1.0, np.nan, 3.0]},
                             geometry=[box(100, 0, 200, 100), box(0, 0, 100, 100),
                                       box(100, 100, 200, 200), box(0, 100, 100, 200)],
                             crs=32650)
    folder = tmp_path / "cells.parquet"
    folder.mkdir()
    write_cells_piece(cells.iloc[[0, 3]], folder / part_name(0), positions=[0, 3])
    write_cells_piece(cells.iloc[[1, 2]], folder / part_name(1), positions=[1, 2])
    flat = pd.read_parquet(folder)
    # part 0 by district (E: b; W: c), then part 1 (E: d; W: a)
    assert flat["cell"].tolist() == ["b", "c", "d", "a"]
    back = in_written_order(gpd.read_parquet(folder), folder)
    assert back["cell"].tolist() == ["b", "a", "d", "c"]
    assert back["children"].tolist()[:2] == [2.0, 1.0] and np.isnan(back["children"][2])
    assert back.geometry.iloc[1].equals(box(0, 0, 100, 100))
    # one row group per district in each part
    assert [pq.ParquetFile(folder / part_name(i)).num_row_groups for i in (0, 1)] == [2, 2]
    # a part whose rows were edited no longer matches its record: read as it is
    edited = pd.read_parquet(folder)
    edited.loc[3, "district"] = "E"
    assert in_written_order(edited, folder)["cell"].tolist() == ["b", "c", "d", "a"]


def test_cell_files_from_parts_are_the_in_process_files(demo, tmp_path):
    res, _ = demo
    rng = np.random.default_rng(11)
    labels = _splits(res.cells, 11)["random"]
    stage = tmp_path / "stage"
    stage.mkdir()
    folder = _write_parts(res.cells, labels, stage / "cells.parquet", rng)
    written = write_cell_files_from_parts(folder, ["cells.parquet", "cells.csv", "cells.gpkg"])
    assert sorted(p.name for p in written) == ["cells.csv", "cells.gpkg"]
    write_table(res.cells, tmp_path / "cells.csv")
    write_table(res.cells, tmp_path / "cells.gpkg")
    # the CSV: one header, the same lines (rows part after part)
    got = (stage / "cells.csv").read_text(encoding="utf-8").splitlines()
    ref = (tmp_path / "cells.csv").read_text(encoding="utf-8").splitlines()
    assert got[0] == ref[0] and sorted(got[1:]) == sorted(ref[1:])
    # the GeoPackage: one layer, the same columns, types and rows
    a = gpd.read_file(stage / "cells.gpkg").sort_values("cell", ignore_index=True)
    b = gpd.read_file(tmp_path / "cells.gpkg").sort_values("cell", ignore_index=True)
    pd.testing.assert_frame_equal(a, b)
    assert write_cell_files_from_parts(folder, ["cells.parquet"]) == []


def test_geoequity_map_reads_a_folder_of_parts(demo, tmp_path):
    res, out = demo
    copy = tmp_path / "run"
    shutil.copytree(out, copy, symlinks=False)
    (copy / "cells.parquet").unlink()
    (copy / "cells.gpkg").unlink()
    labels = _splits(res.cells, 5)["districts"]
    _write_parts(res.cells, labels, copy / "cells.parquet", np.random.default_rng(5))
    got = _from_outdir(copy)["layers"]["cells"]
    ref = _from_outdir(out)["layers"]["cells"]
    pd.testing.assert_frame_equal(got, ref)


class _Pieces:
    """A stand-in for a cluster run's cells on its workers (geoequity.outputs.CellPieces):
    each piece writes its part as a worker would."""

    def __init__(self, cells, labels, rng):
        self.n_cells = len(cells)
        self.pieces = _pieces(cells, labels, rng)

    def start_writing(self, path, write):
        path.mkdir()
        for i, (pos, piece) in enumerate(self.pieces):
            write(piece, path / part_name(i), positions=pos)
        return lambda: path


def test_write_outputs_takes_the_cells_from_pieces(demo, tmp_path, capsys):
    import dataclasses

    from geoequity.outputs import write_outputs

    res, out = demo
    run = dataclasses.replace(res)
    run.cell_pieces = _Pieces(res.cells, _splits(res.cells, 13)["tiles"],
                              np.random.default_rng(13))
    folder = tmp_path / "cluster"
    write_outputs(run, {"folder": folder, "map": None, "report": False,
                        "gpkg": True}, title="t")
    assert (folder / "cells.parquet").is_dir()
    pd.testing.assert_frame_equal(read_layer(folder / "cells.parquet", project=False),
                                  read_layer(out / "cells.parquet", project=False))
    got = (folder / "cells.csv").read_text(encoding="utf-8").splitlines()
    ref = (out / "cells.csv").read_text(encoding="utf-8").splitlines()
    assert got[0] == ref[0] and sorted(got[1:]) == sorted(ref[1:])
    assert len(gpd.read_file(folder / "cells.gpkg")) == len(res.cells)
    manifest = json.loads(next((folder / ".geoequity" / "runs").glob("*/manifest.json"))
                          .read_text(encoding="utf-8"))
    assert manifest["files"]["cells.parquet"] == sum(
        p.stat().st_size for p in (folder / "cells.parquet").iterdir())
    # a second run into the folder replaces the parts (the folder changes in one rename)
    run.cell_pieces = _Pieces(res.cells, _splits(res.cells, 14)["districts"],
                              np.random.default_rng(14))
    write_outputs(run, {"folder": folder, "map": None, "report": False, "csv": False},
                  title="t")
    assert len(list((folder / "cells.parquet").iterdir())) == len(
        np.unique(res.cells["district"]))
    assert not (folder / "cells.csv").exists()
    pd.testing.assert_frame_equal(read_layer(folder / "cells.parquet", project=False),
                                  read_layer(out / "cells.parquet", project=False))


def test_cell_ids_as_the_order_key_and_columns_put_in_order(demo, tmp_path):
    # a raster's cells come in the order of their ids: the ids may stand for the positions;
    # a piece whose steps added its columns in another order is written in the run's
    res, out = demo
    cells = res.cells
    assert (np.diff(cells["cell"].to_numpy()) > 0).all()
    labels = _splits(cells, 21)["tiles"]
    folder = tmp_path / "cells.parquet"
    folder.mkdir()
    shuffled = list(np.random.default_rng(21).permutation(cells.columns))
    for i, (pos, piece) in enumerate(_pieces(cells, labels, np.random.default_rng(21))):
        write_cells_piece(piece[shuffled], folder / part_name(i),
                          positions=piece["cell"].to_numpy(), columns=cells.columns)
    whole = out / "cells.parquet"
    assert pq.read_schema(folder / part_name(0)).equals(pq.read_schema(whole),
                                                         check_metadata=False)
    pd.testing.assert_frame_equal(in_written_order(gpd.read_parquet(folder), folder),
                                  in_written_order(gpd.read_parquet(whole), whole))
