"""Equity objectives of zone proposals (max-min seats per child, least Theil of seats per
child across zones): a strip of cells computed by hand, every contiguous split enumerated with
an evaluator written here, the trade-off table by hand, API/CLI parity and bad input."""

from __future__ import annotations

import itertools
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoequity._errors import InputError
from geoequity.districts import propose_zones

CRS = 32633

# Six 100 m cells in a row (x = 0..600), 10 children each. School W (30 seats) in the west cell,
# E (10 seats) in the east one. balance "share" with tolerance 1: the bounds never bind.
# A contiguous plan gives W the first k cells (k = 1..5): W has 10k children, E 60 - 10k.


def strip():
    cells = gpd.GeoDataFrame({"children": np.full(6, 10.0)},
                             geometry=shapely.box(np.arange(6) * 100.0, 0,
                                                  np.arange(6) * 100.0 + 100, 100),
                             crs=CRS, index=pd.Index([f"c{i}" for i in range(6)], name="id"))
    schools = gpd.GeoDataFrame({"seats": [30.0, 10.0]},
                               geometry=shapely.points([50.0, 550.0], [50.0, 50.0]), crs=CRS,
                               index=pd.Index(["W", "E"], name="school"))
    return cells, schools


KW = {"tolerance": 1.0, "balance": "share", "method": "mip", "threshold": 250.0}


def split_figures(k):
    """Figures of the plan W = cells 0..k-1, E = the rest, by the definitions."""
    kw, ke = 10.0 * k, 10.0 * (6 - k)
    travel = 10 * sum(100 * i for i in range(k)) + 10 * sum(100 * (5 - i) for i in range(k, 6))
    S, K = 40.0, 60.0
    theil = (30 / S) * np.log(30 * K / (kw * S)) + (10 / S) * np.log(10 * K / (ke * S))
    beyond = 10 * sum(1 for i in range(6) if (100 * i if i < k else 100 * (5 - i)) > 250)
    return {"travel": travel, "worst_spc": min(30 / kw, 10 / ke), "theil": theil,
            "beyond": beyond, "shortfall": max(kw - 30, 0) + max(ke - 10, 0)}


def test_maxmin_seats_per_child_zones_by_hand():
    # least travel: each cell to its nearer school, k = 3: travel 10 x (0+100+200) x 2 = 6,000;
    # seats per child W 30/30 = 1, E 10/30 = 1/3. max-min: children per seat max(10k/30, 6-k)
    # is least at k = 5 (5/3): W 50 children, E 10; worst seats per child 30/50 = 0.6.
    cells, schools = strip()
    travel = propose_zones(cells, schools, **KW)
    assert travel.assignment.tolist() == ["W"] * 3 + ["E"] * 3
    assert travel.tradeoffs is None
    zp = propose_zones(cells, schools, objective="maxmin_seats_per_child", **KW)
    assert zp.assignment.tolist() == ["W"] * 5 + ["E"]
    best = max(range(1, 6), key=lambda k: split_figures(k)["worst_spc"])
    assert best == 5 and split_figures(5)["worst_spc"] == pytest.approx(0.6)
    assert zp.constraints["contiguity"] and zp.stats["objective"] == "maxmin_seats_per_child"
    t = zp.tradeoffs
    assert t.index.tolist() == ["maxmin_seats_per_child", "travel"]
    assert t["total_travel"].tolist() == pytest.approx([10_000, 6_000])
    assert t["worst_seats_per_child"].tolist() == pytest.approx([0.6, 1 / 3])
    assert t["worst_seats_district"].tolist() == ["W", "E"]
    # threshold 250: cells 3 (300 m) and 4 (400 m) from W are beyond -> 20 children, W's
    # share 20/50 = 0.4; the least-travel zones have nobody beyond
    assert t["children_beyond"].tolist() == pytest.approx([20, 0])
    assert t["worst_share_beyond"].tolist() == pytest.approx([0.4, 0])
    # shortfall: every zone over its seats, 60 - 40 = 20 either way
    assert t["total_shortfall"].tolist() == pytest.approx([20, 20])
    # Theil T: 0.75 ln(1800/2000) + 0.25 ln(600/400) = 0.0223459 against
    # 0.75 ln 1.5 + 0.25 ln 0.5 = 0.1308120
    assert t["theil_seats_per_child"].tolist() == pytest.approx([0.0223459, 0.1308120],
                                                               abs=1e-6)
    away = zp.traded_away()
    assert away.loc["travel", "total_travel"] == pytest.approx(4_000)
    assert away.loc["travel", "children_beyond"] == pytest.approx(20)
    assert away.loc["travel", "worst_seats_per_child"] == pytest.approx(0.6 - 1 / 3)


def test_min_theil_zones_equal_every_contiguous_split():
    # Theil T by split: k=3 0.1308, k=4 0.75 ln 1.125 + 0.25 ln 0.75 = 0.0164, k=5 0.0223:
    # least at k = 4, which the search reaches from the least-travel k = 3 in one move
    cells, schools = strip()
    zp = propose_zones(cells, schools, objective="min_theil", **KW)
    best = min(range(1, 6), key=lambda k: split_figures(k)["theil"])
    assert best == 4
    assert zp.assignment.tolist() == ["W"] * 4 + ["E"] * 2
    # every assignment of the four middle cells (contiguous or not) with the roots fixed
    vals = []
    for bits in itertools.product([0, 1], repeat=4):
        kw = 10 * (1 + sum(b == 0 for b in bits))
        ke = 60 - kw
        vals.append(0.75 * np.log(30 * 60 / (kw * 40)) + 0.25 * np.log(10 * 60 / (ke * 40)))
    assert zp.tradeoffs.loc["min_theil", "theil_seats_per_child"] == pytest.approx(min(vals))
    assert zp.tradeoffs.loc["min_theil", "total_travel"] == pytest.approx(
        split_figures(4)["travel"])   # 10 x (0+100+200+300) + 10 x (100+0) = 7,000
    assert zp.stats["theil_moves"] == 1


def test_heuristic_path_lifts_the_worst_zone_too():
    cells, schools = strip()
    zp = propose_zones(cells, schools, objective="maxmin_seats_per_child",
                       **{**KW, "method": "heuristic"})
    assert zp.tradeoffs.loc["maxmin_seats_per_child", "worst_seats_per_child"] == \
        pytest.approx(0.6)


def test_unknown_objective_is_refused():
    cells, schools = strip()
    with pytest.raises(InputError, match="objective"):
        propose_zones(cells, schools, objective="fairest", **KW)


def _files(tmp_path):
    cells, schools = strip()
    cells.reset_index().to_file(tmp_path / "cells.gpkg")
    sch = schools.reset_index().to_crs(4326)
    pd.DataFrame({"school": sch["school"], "seats": sch["seats"], "lon": sch.geometry.x,
                  "lat": sch.geometry.y}).to_csv(tmp_path / "schools.csv", index=False)
    return ["--cells", str(tmp_path / "cells.gpkg"), "--cell-id", "id", "--children",
            "children", "--schools", str(tmp_path / "schools.csv"), "--school-id", "school",
            "--seats", "seats", "--crs", "EPSG:32633", "--tolerance", "1", "--balance",
            "share", "--method", "mip", "--threshold", "250"]


@pytest.mark.parametrize("objective", ["maxmin_seats_per_child", "min_theil"])
def test_cli_equals_api(tmp_path, capsys, objective):
    from geoequity.cli import main

    base = _files(tmp_path)
    trade = tmp_path / "trade.csv"
    assert main(["-q", "districts", "propose", *base, "--objective", objective,
                 "--tradeoffs", str(trade), "--assignment", str(tmp_path / "a.csv"), "--json",
                 "-o", str(tmp_path / "zones.gpkg")]) == 0
    got = json.loads(capsys.readouterr().out)
    cells, schools = strip()
    api = propose_zones(cells, schools, objective=objective, **KW)
    assert pd.read_csv(tmp_path / "a.csv")["district"].tolist() == api.assignment.tolist()
    assert [r["problem"] for r in got["tradeoffs"]] == api.tradeoffs.index.tolist()
    for row, (_, ref) in zip(got["tradeoffs"], api.tradeoffs.iterrows(), strict=True):
        for col in ("total_travel", "total_shortfall", "children_beyond",
                    "worst_seats_per_child", "worst_share_beyond", "theil_seats_per_child"):
            assert row[col] == pytest.approx(ref[col]), col
    assert got["traded_away"]["travel"]["total_travel"] == pytest.approx(
        api.traded_away().loc["travel", "total_travel"])
    assert pd.read_csv(trade)["problem"].tolist() == api.tradeoffs.index.tolist()


def test_cli_tradeoffs_need_an_equity_objective(tmp_path, capsys):
    from geoequity.cli import main

    base = _files(tmp_path)
    code = main(["-q", "districts", "propose", *base, "--tradeoffs", str(tmp_path / "t.csv"),
                 "-o", str(tmp_path / "zones.gpkg")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("geoequity: error: --tradeoffs")
    assert not (tmp_path / "zones.gpkg").exists()
