"""The pairs layer: a cost table coded once to positions, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geoequity import InputError
from geoequity.pairs import Pairs, as_pairs, code_pairs

# cells a..d, schools s1, s2; d reaches nothing
TABLE = pd.DataFrame({"origin": ["a", "a", "b", "c", "c"],
                      "destination": ["s1", "s2", "s1", "s2", "s1"],
                      "cost": [2.0, 5.0, 3.0, 1.0, 1.0]})
CELLS = pd.Index(["a", "b", "c", "d"])
SCHOOLS = pd.Index(["s2", "s1"])  # not in sort order: positions follow this index


def _rows(p: Pairs) -> set[tuple[str, str, float]]:
    return set(zip(p.origins[p.origin], p.destinations[p.destination], p.cost, strict=True))


def test_text_ids_coded_to_positions():
    p = code_pairs(TABLE, CELLS, SCHOOLS)
    assert p.origin.dtype == np.intp and p.cost.dtype == np.float64
    assert list(p.origin) == [0, 0, 1, 2, 2]
    assert list(p.destination) == [1, 0, 1, 0, 1]
    assert p.n_origins == 4 and p.n_destinations == 2 and len(p) == 5
    assert list(p.reached()) == [True, True, True, False]
    assert _rows(p) == {("a", "s1", 2.0), ("a", "s2", 5.0), ("b", "s1", 3.0),
                        ("c", "s2", 1.0), ("c", "s1", 1.0)}


def test_integer_ids_and_default_destinations():
    t = TABLE.assign(origin=TABLE["origin"].map({"a": 101, "b": 102, "c": 103}),
                     destination=TABLE["destination"].map({"s1": 7, "s2": 9}))
    p = code_pairs(t, pd.Index([101, 102, 103, 104]))
    assert list(p.destinations) == [7, 9]  # the table's schools, sorted
    assert list(p.origin) == [0, 0, 1, 2, 2] and list(p.destination) == [0, 1, 0, 1, 0]
    # ids as text in the table, integers in the layer: matched as text
    p2 = code_pairs(t.astype({"origin": str}), pd.Index([101, 102, 103, 104]))
    assert list(p2.origin) == [0, 0, 1, 2, 2]


def test_nearest_ties_to_smallest_id_and_unreachable_nan():
    p = code_pairs(TABLE, CELLS, SCHOOLS)
    pos, cost = p.nearest()
    # a -> s1 (2), b -> s1 (3), c: s1 and s2 both at 1 -> s1 (smaller id), d none
    assert list(p.destinations[pos[:3]]) == ["s1", "s1", "s1"] and pos[3] == -1
    np.testing.assert_array_equal(cost, [2.0, 3.0, 1.0, np.nan])
    # within a threshold: the unbounded answer where it is within, none elsewhere
    pos, cost = p.within(2.5).nearest()
    np.testing.assert_array_equal(cost, [2.0, np.nan, 1.0, np.nan])
    assert list(pos) == [1, -1, 1, -1]
    assert p.within(2.5) is p.within(2.5) and p.within(9) is p


def test_duplicates_keep_the_lowest_cost(capsys):
    dup = pd.concat([TABLE, pd.DataFrame({"origin": ["a", "a"], "destination": ["s2", "s2"],
                                          "cost": [4.0, 7.0]})], ignore_index=True)
    p = code_pairs(dup, CELLS, SCHOOLS)
    assert len(p) == 5 and ("a", "s2", 4.0) in _rows(p)
    assert "2 duplicated origin-destination pairs" in capsys.readouterr().err


def test_unknown_ids_are_ignored_and_a_foreign_table_refused(capsys):
    stray = pd.concat([TABLE, pd.DataFrame({"origin": ["zz"], "destination": ["s1"],
                                            "cost": [1.0]})], ignore_index=True)
    assert len(code_pairs(stray, CELLS, SCHOOLS)) == 5
    assert "1 cost rows name an origin or school not in the inputs" in capsys.readouterr().err
    with pytest.raises(InputError) as exc:
        code_pairs(TABLE, pd.Index(["x", "y"]), SCHOOLS)
    msg = str(exc.value)
    assert "\n" not in msg and "none of the origin ids" in msg and "'a'" in msg and "'x'" in msg
    with pytest.raises(InputError, match="none of the destination ids .*'s1'.*'q'"):
        code_pairs(TABLE, CELLS, pd.Index(["q"]))


@pytest.mark.parametrize("bad, match", [(np.nan, "missing"), (-1.0, "negative")])
def test_bad_costs_refused(bad, match):
    t = TABLE.copy()
    t.loc[1, "cost"] = bad
    with pytest.raises(InputError, match=match):
        code_pairs(t, CELLS, SCHOOLS)
    with pytest.raises(InputError, match="lacks column"):
        code_pairs(TABLE.rename(columns={"cost": "m"}), CELLS, SCHOOLS)


def test_threshold_and_recode():
    p = Pairs.from_costs(TABLE, CELLS, SCHOOLS, threshold=2.0)
    assert _rows(p) == {("a", "s1", 2.0), ("c", "s2", 1.0), ("c", "s1", 1.0)}
    full = code_pairs(TABLE, CELLS, SCHOOLS)
    only_s2 = as_pairs(full, CELLS, pd.Index(["s2"]))
    assert _rows(only_s2) == {("a", "s2", 5.0), ("c", "s2", 1.0)}
    assert as_pairs(full, CELLS.copy(), SCHOOLS.copy()) is full  # same ids: same object
    assert as_pairs(full, CELLS, SCHOOLS, threshold=2.0).to_frame()["cost"].max() == 2.0


def test_measures_take_pairs_with_the_hand_values():
    from geoequity.access import cumulative, nearest, two_stage_fca
    from geoequity.assignment import capacity_assignment

    demand = pd.Series([10.0, 20.0, 30.0, 5.0], index=CELLS)
    supply = pd.Series([60.0, 30.0], index=SCHOOLS)
    p = code_pairs(TABLE, CELLS, SCHOOLS)
    # within 3: s1 reaches a, b, c (60 children) -> R = 30/60; s2 reaches c (30) -> R = 60/30
    a = two_stage_fca(p, demand, supply, 3.0)
    assert a["a"] == pytest.approx(0.5) and a["b"] == pytest.approx(0.5)
    assert a["c"] == pytest.approx(2.5) and np.isnan(a["d"])
    pd.testing.assert_series_equal(a, two_stage_fca(TABLE, demand, supply, 3.0))
    assert list(cumulative(p, supply, 3.0, demand=demand).fillna(-1)) == [30, 30, 90, -1]
    near = nearest(p, demand, supply=supply, threshold=2.5)
    assert list(near["nearest_id"].fillna("-")) == ["s1", "-", "s1", "-"]
    # within 3, a and b reach only s1 (30 seats: both fit), c takes s2; d reaches nothing
    res = capacity_assignment(p, demand, supply, max_cost=3.0)
    assert res.totals["assigned"] == 60.0 and res.totals["unassigned"] == 5.0
    assert list(res.origins["school"].fillna("-")) == ["s1", "s1", "s2", "-"]


def test_a_run_codes_the_table_once_and_computes_nearest_and_equity_once(
        tmp_path, monkeypatch):
    from pathlib import Path

    import geoequity.equity
    import geoequity.pairs
    import geoequity.report
    from geoequity.scenario import run_scenario

    calls = {"code": 0, "nearest": 0, "equity": 0}

    def counting(name, fn):
        def wrapped(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(geoequity.pairs, "code_pairs",
                        counting("code", geoequity.pairs.code_pairs))
    monkeypatch.setattr(geoequity.pairs, "nearest_positions",
                        counting("nearest", geoequity.pairs.nearest_positions))
    spatial = counting("equity", geoequity.equity.spatial_equity)
    monkeypatch.setattr(geoequity.equity, "spatial_equity", spatial)
    monkeypatch.setattr(geoequity.report, "spatial_equity", spatial)
    demo = Path(__file__).resolve().parents[1] / "data" / "demo.toml"
    res = run_scenario(demo, folder=tmp_path / "out", map_path=tmp_path / "map.html")
    assert calls == {"code": 1, "nearest": 1, "equity": 1}
    assert len(res.cells) == 9801 and res.pairs is not None
    assert (tmp_path / "out" / "report_theil.csv").is_file()


@pytest.mark.parametrize("chunk", [1, 3, 1000])
def test_duplicates_found_in_a_table_grouped_by_origin(monkeypatch, capsys, chunk):
    # a table sorted by origin takes the sort-free check, slice by slice of origins
    import geoequity.pairs as pairs_mod

    monkeypatch.setattr(pairs_mod, "_CHUNK_KEYS", chunk)
    cells = [f"c{i}" for i in range(6)]
    rows = [(o, s, 1.0 + i) for i, o in enumerate(cells) for s in ("s1", "s2")]
    clean = pd.DataFrame(rows, columns=["origin", "destination", "cost"])
    assert len(code_pairs(clean, cells, SCHOOLS)) == 12
    assert "duplicated" not in capsys.readouterr().err
    # c4 -> s2 given again (cheaper) inside c4's block, the table still grouped by origin
    dup = pd.concat([clean.iloc[:10], pd.DataFrame({"origin": ["c4"], "destination": ["s2"],
                                                    "cost": [0.5]}), clean.iloc[10:]],
                    ignore_index=True)
    p = code_pairs(dup, cells, SCHOOLS)
    assert len(p) == 12 and ("c4", "s2", 0.5) in _rows(p)
    assert "1 duplicated origin-destination pairs" in capsys.readouterr().err


def test_text_ids_coded_by_arrow_as_by_the_general_path():
    # pandas' Arrow-backed str columns take pyarrow's lookup; object columns the general one
    import geoequity.pairs as pairs_mod

    values = pd.Series(["s1", "s9", None, "s2", "s1"], dtype="str")
    index = pd.Index(["s2", "s1"])
    assert list(pairs_mod._codes(index, values)) == [1, -1, -1, 0, 1]
    assert list(pairs_mod._codes(index, values, np.array([3, 4]))) == [0, 1]
    assert list(pairs_mod._codes(index, values.astype(object))) == [1, -1, -1, 0, 1]
    table = pd.DataFrame({"origin": pd.Series(["a", "a", "b"], dtype="str"),
                          "destination": pd.Series(["s1", "s2", "s9"], dtype="str"),
                          "cost": [1.0, 5.0, 2.0]})
    p = code_pairs(table, pd.Index(["b", "a"]), SCHOOLS, threshold=4.0)
    assert _rows(p) == {("a", "s1", 1.0)}


# A straight-line table comes with its coding (geoequity.pairs.remember_coding): three cells
# on a line at x = 0, 100, 300 m; school "B" at x = 0, "A" at x = 250; within 200 m:
# cell 0-B 0 m, cell 1-B 100 m, cell 1-A 150 m, cell 2-A 50 m (sorted by cell, then cost).
def _line_layers():
    import geopandas as gpd
    import shapely

    cells = gpd.GeoDataFrame({"children": [1.0, 1.0, 1.0]},
                             geometry=shapely.points([[0, 0], [100, 0], [300, 0]]),
                             crs="EPSG:32650")
    schools = gpd.GeoDataFrame({"seats": [1.0, 1.0]}, geometry=shapely.points([[0, 0], [250, 0]]),
                               index=pd.Index(["B", "A"], dtype="str"), crs="EPSG:32650")
    return cells, schools


def _line_table():
    from geoequity.costs import euclidean_costs

    cells, schools = _line_layers()
    return euclidean_costs(cells, schools, max_cost=200), cells, schools


def test_a_straight_line_table_is_not_looked_up_again(monkeypatch):
    import geoequity.pairs

    table, cells, schools = _line_table()

    def no_lookup(*args, **kwargs):
        raise AssertionError("the ids were looked up again")

    monkeypatch.setattr(geoequity.pairs, "_matched", no_lookup)
    p = code_pairs(table, cells.index, schools.index)
    assert list(p.origin) == [0, 1, 1, 2] and p.origin.dtype == np.intp
    assert list(p.destination) == [0, 0, 1, 1] and p.destination.dtype == np.intp
    assert list(p.cost) == [0.0, 100.0, 150.0, 50.0]
    assert p.attrs == {"method": "euclidean", "unit": "m"}
    q = code_pairs(table, cells.index, schools.index, threshold=120)
    assert (list(q.origin), list(q.destination), list(q.cost)) == ([0, 1, 2], [0, 0, 1],
                                                                    [0.0, 100.0, 50.0])
    # the table itself is as it always was: ids with their dtypes, the attrs
    assert list(table["origin"]) == [0, 1, 1, 2] and table["origin"].dtype == np.int64
    assert list(table["destination"]) == ["B", "B", "A", "A"]
    assert table["destination"].dtype == schools.index.dtype


@pytest.mark.parametrize("change, expect", [
    # (what is done to the table, (origin, destination, cost) positions coded from it)
    (lambda t: t.loc.__setitem__((0, "cost"), 7.0),
     ([0, 1, 1, 2], [0, 0, 1, 1], [7.0, 100.0, 150.0, 50.0])),
    (lambda t: t.loc.__setitem__((3, "destination"), "B"),
     ([0, 1, 1, 2], [0, 0, 1, 0], [0.0, 100.0, 150.0, 50.0])),
    (lambda t: t.loc.__setitem__((1, "origin"), 2),
     ([0, 2, 1, 2], [0, 0, 1, 1], [0.0, 100.0, 150.0, 50.0])),
    (lambda t: t.iloc.__setitem__((2, 1), "B"),      # (1, B) twice: the lowest cost stays
     ([0, 1, 2], [0, 0, 1], [0.0, 100.0, 50.0])),
    (lambda t: t.__setitem__("cost", t["cost"] * 2),
     ([0, 1, 1, 2], [0, 0, 1, 1], [0.0, 200.0, 300.0, 100.0])),
    (lambda t: t.update(pd.DataFrame({"cost": [9.0]}, index=[3])),
     ([0, 1, 1, 2], [0, 0, 1, 1], [0.0, 100.0, 150.0, 9.0])),
])
def test_a_changed_table_is_coded_afresh(change, expect, capsys):
    table, cells, schools = _line_table()
    change(table)
    p = code_pairs(table, cells.index, schools.index)
    assert (list(p.origin), list(p.destination), list(p.cost)) == expect


def test_the_coding_is_kept_only_for_the_same_ids_and_columns():
    table, cells, schools = _line_table()
    p = code_pairs(table, cells.index, pd.Index(["A", "B"], dtype="str"))   # other order
    assert list(p.destination) == [1, 1, 0, 0]
    p = code_pairs(table, pd.Index([2, 1, 0]), schools.index)
    assert list(p.origin) == [2, 1, 1, 0]
    swapped = table.rename(columns={"origin": "destination", "destination": "origin"})
    with pytest.raises(InputError):   # a new frame, coded afresh: the ids do not match
        code_pairs(swapped, cells.index, schools.index)
    table.attrs["unit"] = "min"
    assert code_pairs(table, cells.index, schools.index).attrs["unit"] == "min"


def test_pairs_to_frame_is_the_cost_table_and_comes_with_its_coding(monkeypatch):
    """A run handed coded pairs (a cluster's merge) keeps the same ``results.costs`` as one
    handed the table: ids in their own dtype, the attrs; and the frame needs no look-up."""
    import geoequity.pairs

    table, cells, schools = _line_table()
    p = code_pairs(table, cells.index, schools.index)
    frame = p.to_frame()
    pd.testing.assert_frame_equal(frame, table, check_exact=True)
    assert frame.attrs == table.attrs == {"method": "euclidean", "unit": "m"}
    assert frame["destination"].dtype == schools.index.dtype

    def no_lookup(*args, **kwargs):
        raise AssertionError("the ids were looked up again")

    monkeypatch.setattr(geoequity.pairs, "_matched", no_lookup)
    q = code_pairs(frame, cells.index, schools.index)
    assert (list(q.origin), list(q.destination), list(q.cost)) == ([0, 1, 1, 2], [0, 0, 1, 1],
                                                                    [0.0, 100.0, 150.0, 50.0])


def test_to_frame_is_the_table_it_was_coded_from():
    """A table as geoequity.cost_table makes it (sorted by origin, cost, school; no
    duplicates; every id known) comes back from its Pairs as it was: the ids typed as the
    layers' (integer cells, text schools), the costs, and the table's attrs (a cluster run
    hands analyse the merged pairs and keeps their table as the results' costs)."""
    import geopandas as gpd

    from geoequity.costs import CostSource, cost_table

    cells = gpd.GeoDataFrame({"children": [1.0, 2.0, 3.0]}, index=pd.Index([10, 20, 30]),
                             geometry=gpd.points_from_xy([0, 100, 250], [0, 0, 0]), crs=3857)
    schools = gpd.GeoDataFrame({"seats": [5.0, 5.0]}, index=pd.Index(["s2", "s1"]),
                               geometry=gpd.points_from_xy([50, 200], [0, 0]), crs=3857)
    table = cost_table(CostSource(kind="euclidean"), cells, schools, max_cost=160.0)
    # by hand: cell 10 -> s2 50 m, s1 200 m (beyond 160); 20 -> s2 50, s1 100; 30 -> s1 50
    assert table.to_dict("list") == {"origin": [10, 20, 20, 30],
                                     "destination": ["s2", "s2", "s1", "s1"],
                                     "cost": [50.0, 50.0, 100.0, 50.0]}
    back = as_pairs(table, cells.index, schools.index).to_frame()
    pd.testing.assert_frame_equal(back, table, check_exact=True)   # dtypes included
    assert back.attrs == table.attrs == {"method": "euclidean", "unit": "m"}
