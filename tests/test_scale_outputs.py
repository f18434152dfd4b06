"""Outputs that scale (issue #14 item 4): cells.parquet by district, [outputs] csv."""

import subprocess
import sys

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pytest
from shapely.geometry import Point

import geoequity as ge
import geoequity.outputs as outputs
from geoequity import InputError

from _cases import write_tiny_scenario


def _case(tmp_path, csv_line=""):
    """Five cells on a line in two districts (West: a, b, c; East: d, e), two schools."""
    return write_tiny_scenario(tmp_path, csv_line, reverse=True)


def test_cells_parquet_one_row_group_per_district(tmp_path):
    ge.run_scenario(_case(tmp_path))
    out = tmp_path / "out"
    f = pq.ParquetFile(out / "cells.parquet")
    # East (d, e) then West (a, b, c): row groups in district order, rows stably within
    assert [f.metadata.row_group(i).num_rows for i in range(f.num_row_groups)] == [2, 3]
    back = gpd.read_parquet(out / "cells.parquet")
    assert list(back["district"]) == ["East", "East", "West", "West", "West"]
    assert list(back["cid"]) == ["e", "d", "c", "b", "a"]
    assert back.crs.to_epsg() == 32650
    assert [(g.x, g.y) for g in back.geometry] == [(2000, 0), (1500, 0), (1000, 0), (500, 0),
                                                    (0, 0)]
    gpkg = gpd.read_file(out / "cells.gpkg").set_index("cid")
    same = back.set_index("cid").loc[gpkg.index]
    for col in ("kids", "nearest_id", "nearest_cost", "access", "assigned", "unassigned"):
        pd.testing.assert_series_equal(same[col], gpkg[col], check_names=False)
    one = pd.read_parquet(out / "cells.parquet", filters=[("district", "==", "West")])
    assert sorted(one["cid"]) == ["a", "b", "c"]
    assert (out / "cells.csv").exists()   # 5 cells: auto writes the CSV


def test_csv_auto_leaves_the_cell_csv_out_above_the_limit_and_says_so(tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.setattr(outputs, "CSV_AUTO_ROWS", 4)
    ge.run_scenario(_case(tmp_path))
    out = tmp_path / "out"
    assert not (out / "cells.csv").exists()
    assert (out / "schools.csv").exists() and (out / "cells.parquet").exists()
    assert "cells.csv not written: 5 cells, over 4" in capsys.readouterr().err
    # the next run with csv = true writes it again; false removes the previous run's
    ge.run_scenario(_case(tmp_path, "csv = true"))
    assert len(pd.read_csv(out / "cells.csv")) == 5
    ge.run_scenario(_case(tmp_path), csv=False)
    assert not (out / "cells.csv").exists()


def test_bad_csv_choice_is_one_line_exit_2(tmp_path):
    with pytest.raises(InputError, match=r"\[outputs\] csv = 'maybe' is not a CSV choice"):
        ge.run_scenario(_case(tmp_path, 'csv = "maybe"'))
    r = subprocess.run([sys.executable, "-m", "geoequity", "run", str(_case(tmp_path)),
                        "--csv", "maybe"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and "--csv" in r.stderr
    assert not (tmp_path / "out").exists()


def _counties(n):
    """n districts of one cell each (100 children); district k has ((7k mod n) + 1) x 10
    seats, so seats per child are all different and not in name order."""
    import numpy as np

    names = [f"C{k:03d}" for k in range(n)]
    seats = [((7 * k) % n + 1) * 10.0 for k in range(n)]
    cells = gpd.GeoDataFrame({"children": 100.0, "access": np.array(seats) / 100.0,
                              "district": names},
                             geometry=[Point(k * 1000.0, 0) for k in range(n)], crs=32650)
    schools = gpd.GeoDataFrame({"seats": seats, "district": names},
                               geometry=[Point(k * 1000.0, 10) for k in range(n)], crs=32650)
    return cells, schools, dict(zip(names, seats, strict=True))


def test_report_ranks_many_districts_by_seats_per_child(tmp_path):
    from geoequity.report import write_report

    cells, schools, seats = _counties(30)
    out = write_report(tmp_path / "report.html", cells=cells, schools=schools,
                       threshold=1000, title="province")
    table = pd.read_csv(out.csv["districts"])
    ranked = table[table["rank"].notna()]
    # by hand: fewest seats first; C000 has 10 seats (7 x 0 mod 30 = 0), C017 the most,
    # 300 (7 x 17 mod 30 = 29)
    expect = sorted(seats, key=lambda d: seats[d])
    assert list(ranked["district"]) == expect
    assert list(ranked["rank"]) == list(range(1, 31))
    assert ranked["seats_per_child"].iloc[0] == 0.1 and ranked["seats_per_child"].iloc[-1] == 3.0
    html = out.html.read_text(encoding="utf-8")
    assert html.count('<table class="districts">') == 1   # one table, not 30 sections
    assert "Rank (fewest seats per child first)" in html


def test_report_keeps_few_districts_in_name_order(tmp_path):
    from geoequity.report import write_report

    cells, schools, seats = _counties(5)
    out = write_report(tmp_path / "report.html", cells=cells, schools=schools,
                       threshold=1000, title="county")
    table = pd.read_csv(out.csv["districts"])
    assert "rank" not in table.columns
    assert list(table["district"]) == sorted(seats)
