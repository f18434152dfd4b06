"""The cells' outputs and catchments from pieces kept on a dask cluster's workers
(geoequity.distributed.KeptCells): catchments_piece where each piece lies, catchments_of on
the client, equal to the in-process run's catchments; write_cells_piece on the workers, the
folder read back in the run's order."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from _cases import demo_scenario

import geoequity as ge
from geoequity.catchments import catchments_of, catchments_piece
from geoequity.io.parquet import in_written_order, part_name
from geoequity.outputs import write_cells_piece


def test_demo_catchments_and_cells_parts_from_pieces_on_workers(client, tmp_path):
    from geoequity.distributed import ComputeOptions, kept_cells, run_on_cluster
    from geoequity.scenario import cost_source, load_scenario, read_inputs

    path = demo_scenario(tmp_path)
    with ge.quiet():
        ref = ge.run_scenario(path, report=False)   # in process: the reference
    sc = load_scenario(path)
    cells, schools, districts = read_inputs(sc)
    kept, _, districts_of = run_on_cluster(ComputeOptions(partition=3000.0), client, cells, schools,
                                districts, cost_source(sc), district_paths=sc.districts,
                                threshold=1500, max_cost=8000, method="2sfca", decay=None,
                                decay_param=None)
    cells = cells.assign(district=districts_of)   # as the run's cells have it
    pieces = kept_cells(kept, cells, schools.index)
    try:
        assert len(pieces.names) > 4   # 3 km tiles: a school's catchment in several
        got = catchments_of(pieces.summaries(catchments_piece, what="catchments"))
        folder = tmp_path / "cells.parquet"
        folder.mkdir()
        jobs = [client.submit(write_cells_piece, fut, str(folder / part_name(i)),
                              positions=core, pure=False)
                for i, (fut, core) in enumerate(zip(pieces.futures, kept.cores,
                                                    strict=True))]
        client.gather(jobs)
        del jobs
        whole = pieces.gather()
    finally:
        pieces.release()
        kept.release()
    want = ref.catchments
    assert got.index.equals(want.index) and list(got.columns) == list(want.columns)
    assert got["cells"].tolist() == want["cells"].tolist()
    # the partitions' street costs equal the in-process ones to 1e-9 (test_distributed)
    for col in ("children", "mean_cost", "max_cost"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-9)
    a, b = got.geometry.to_numpy(), want.geometry.to_numpy()
    assert (shapely.area(shapely.symmetric_difference(a, b)) <= 1e-6 * shapely.area(b)).all()
    assert (shapely.get_num_geometries(a) == shapely.get_num_geometries(b)).all()
    # the parts the workers wrote, in the run's order: the pieces' cells in the cells' order
    back = in_written_order(gpd.read_parquet(folder), folder)
    expected = whole.loc[cells.index].reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected[back.columns])
    assert back["cell"].tolist() == cells["cell"].tolist()
