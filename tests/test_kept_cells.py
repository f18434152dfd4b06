"""A cluster run's cells kept on the workers, one piece per partition
(geoequity.distributed.KeptCells).

The tiny line of tests/_cases.py by hand (straight lines, threshold 600 m, max_cost 5 km):
cells a-e at x = 0, 500, 1000, 1500, 2000 m with 100, 100, 100, 100, 400 children; school A
at x = 0 with 150 seats, B at x = 2000 with 300; districts West (a, b, c) and East (d, e),
the two partitions. Nearest school: a, b -> A at 0 and 500 m; c -> A at 1000 m (a tie with
B at 1000 m goes to the smaller id, A); d, e -> B at 500 and 0 m. Seats within 600 m: a, b
150; c none (NaN: no school within reach, as in process); d, e 300.
"""

from __future__ import annotations

import pytest
from _cases import held_keys, tiny_pieces, write_tiny_scenario


def _pieces(client, tmp_path):
    kept, pieces, _, _ = tiny_pieces(client, tmp_path)
    return kept, pieces


def _release(kept, pieces) -> None:
    pieces.release()
    kept.release()


def test_pieces_hold_each_partitions_cells_and_measures(client, tmp_path):
    kept, pieces = _pieces(client, tmp_path)
    try:
        assert pieces.names == ["East", "West"]   # the partitions in the order of their keys
        got = pieces.summaries(lambda p: (list(p.index), list(p["nearest_id"]),
                                          list(p["nearest_cost"]),
                                          list(p["seats_within"].fillna(-1))),
                               what="look")
        assert got == [(["d", "e"], ["B", "B"], [500.0, 0.0], [300.0, 300.0]),
                       (["a", "b", "c"], ["A", "A", "A"], [0.0, 500.0, 1000.0],
                        [150.0, 150.0, -1.0])]
        # a step adding a column where the pieces lie, then a sum from each
        pieces.update(lambda p, k: p.assign(twice=p["children"] * k), 2.0, what="twice")
        assert pieces.summaries(lambda p: float(p["twice"].sum()), what="sum") == [1000.0,
                                                                                   600.0]
        # two pieces' results combined on a worker, never here
        futs = pieces.each(lambda p: sorted(p["children"]), what="sorted")
        assert pieces.pairwise(lambda a, b: a + b, futs, [(0, 1)], what="both") == [
            [100.0, 400.0, 100.0, 100.0, 100.0]]
        del futs   # the caller lets go of what it left on the workers
        whole = pieces.gather()
        assert sorted(whole.index) == list("abcde")
        assert whole.loc["e", "twice"] == 800.0
    finally:
        _release(kept, pieces)
    assert not held_keys(client)
    with pytest.raises(RuntimeError, match="released"):
        pieces.summaries(len, what="after")


def test_a_failing_step_names_its_partition_and_holds_nothing(client, tmp_path):
    from geoequity.distributed import ClusterError

    kept, pieces = _pieces(client, tmp_path)

    def fail_in_east(p):
        if "d" in p.index:
            raise MemoryError("no room")
        return len(p)

    try:   # the step's own error, as in process (not a lost partition), naming it
        with pytest.raises(MemoryError, match="no room") as err:
            pieces.summaries(fail_in_east, what="fails")
        assert not isinstance(err.value, ClusterError)
        assert err.value.__notes__ == [
            "(raised on a dask worker, computing partition 'East')"]
    finally:
        _release(kept, pieces)
    assert not held_keys(client)


def test_a_district_group_named_like_a_cells_column_is_refused_on_a_cluster(client, tmp_path):
    """As in process (pipeline.check_group_column): the group would overwrite the cells'
    own column, so the run stops before any piece is made, holding nothing."""
    import geopandas as gpd

    import geoequity as ge
    from geoequity._errors import InputError

    path = write_tiny_scenario(tmp_path)
    districts = gpd.read_file(tmp_path / "districts.gpkg")
    districts["kids"] = ["W", "E"]   # the cells' children column's name
    districts.to_file(tmp_path / "districts.gpkg")
    with pytest.raises(InputError, match="'kids' is a column the cells have"):
        ge.run_scenario(path, district_group="kids")
    with pytest.raises(InputError, match="'kids' is a column the cells have"):
        ge.run_scenario(path, client=client, district_group="kids")
    assert not held_keys(client)
    assert not (tmp_path / "out").exists()
