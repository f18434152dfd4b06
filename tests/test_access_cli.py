"""``geoequity access`` and ``geoequity gaps`` end to end on small files with a costs CSV."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geoequity.cli import main


@pytest.fixture()
def files(tmp_path):
    # four cells and two schools near Porto Alegre (lon/lat CSVs); costs given by hand
    pd.DataFrame({"cell": ["a", "b", "c", "d"], "lon": [-51.20, -51.199, -51.19, -51.15],
                  "lat": [-30.05, -30.05, -30.05, -30.05], "kids": [10, 20, 30, 40]}
                 ).to_csv(tmp_path / "cells.csv", index=False)
    pd.DataFrame({"sid": ["S1", "S2"], "lon": [-51.1995, -51.185], "lat": [-30.05, -30.05],
                  "cap": [25, 60]}).to_csv(tmp_path / "schools.csv", index=False)
    pd.DataFrame({"from": ["a", "a", "b", "c", "c", "d"],
                  "to": ["S1", "S2", "S1", "S2", "S1", "S2"],
                  "metres": [200, 800, 500, 1000, 1200, 3000]}
                 ).to_csv(tmp_path / "costs.csv", index=False)
    return tmp_path


def _base(f):
    return ["--demand", str(f / "cells.csv"), "--demand-id", "cell", "--demand-col", "kids",
            "--supply", str(f / "schools.csv"), "--supply-id", "sid", "--supply-col", "cap",
            "--costs", str(f / "costs.csv"), "--costs-columns", "from,to,metres"]


def test_access_2sfca_csv(files, capsys):
    out = files / "acc.csv"
    rc = main(["-q", "access", *_base(files), "--method", "2sfca", "--threshold", "1000",
               "-o", str(out), "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["no_access_cells"] == 1 and summary["no_access_children"] == 40
    t = pd.read_csv(out)
    assert list(t.columns) == ["cell", "access"]
    r1, r2 = 25 / 30, 60 / 40
    assert t["access"].iloc[:3].tolist() == pytest.approx([r1 + r2, r1, r2])
    assert np.isnan(t["access"].iloc[3])


def test_access_nearest_gpkg_and_step_decay(files):
    out = files / "near.gpkg"
    assert main(["-q", "access", *_base(files), "--method", "nearest", "-o", str(out)]) == 0
    g = gpd.read_file(out)
    assert g["nearest_id"].tolist() == ["S1", "S1", "S2", "S2"]
    assert g["nearest_cost"].tolist() == [200, 500, 1000, 3000]
    out2 = files / "e.parquet"
    assert main(["-q", "access", *_base(files), "--method", "e2sfca", "--decay", "step",
                 "--decay-param", "500:1,1000:0.5", "-o", str(out2)]) == 0
    e = pd.read_parquet(out2)
    # weights a-S1 1, a-S2 0.5, b-S1 1, c-S2 0.5 ; R1 = 25/30, R2 = 60/(5+15)
    assert e["access"].iloc[2] == pytest.approx(0.5 * 60 / 20)


def test_gaps_csv_tables_reconcile(files):
    out = files / "gaps.csv"
    assert main(["-q", "gaps", *_base(files), "--threshold", "1000", "-o", str(out)]) == 0
    cells = pd.read_csv(files / "gaps_cells.csv")
    cat = pd.read_csv(files / "gaps_catchments.csv")
    assert np.allclose(cells["children"], cells["assigned"] + cells["unassigned"])
    # the assignment reaches max_cost = 4 x 1000 m (the scenario's rule): d reaches S2 at
    # 3000 m; 100 children, 85 seats -> 15 without a seat, all of them d's
    assert cells["unassigned"].tolist() == pytest.approx([0, 0, 0, 15])
    assert cat.set_index("sid")["shortfall"].to_dict() == {"S1": 5.0, "S2": -30.0}
    # bounded at the threshold, d (3000 m from S2) reaches no school at all
    assert main(["-q", "gaps", *_base(files), "--threshold", "1000", "--max-cost", "1000",
                 "-o", str(out)]) == 0
    cells = pd.read_csv(files / "gaps_cells.csv")
    assert cells["unassigned"].tolist() == pytest.approx([0, 0, 0, 40])
    assert cells["nearest_cost"].tolist()[:3] == [200, 500, 1000]
    assert np.isnan(cells["nearest_cost"].iloc[3])


def test_bad_input_is_one_line_exit_2(files, capsys):
    rc = main(["access", *_base(files)[:-2], "--costs-columns", "from,to,minutes",
               "--method", "2sfca", "--threshold", "5", "-o", str(files / "x.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "minutes" in err and "Traceback" not in err
    assert not (files / "x.csv").exists()


def test_level_flag_takes_the_gb50180_radius(files):
    # S1 is a kindergarten, S2 a primary school; --level primary -> 500 m, S2 only
    pd.DataFrame({"sid": ["S1", "S2"], "lon": [-51.1995, -51.185], "lat": [-30.05, -30.05],
                  "cap": [25, 60], "level": ["幼儿园", "小学"]}
                 ).to_csv(files / "schools.csv", index=False)
    out = files / "lv.csv"
    assert main(["-q", "access", *_base(files), "--method", "cumulative", "--level", "primary",
                 "-o", str(out)]) == 0
    t = pd.read_csv(out)
    # within 500 m of S2: nobody (a-S2 800, c-S2 1000) -> all NaN
    assert t["access"].isna().all()
    assert main(["-q", "access", *_base(files), "--method", "cumulative", "--level",
                 "kindergarten", "-o", str(out)]) == 0
    # within 300 m of S1: a (200) only
    assert pd.read_csv(out)["access"].tolist()[:2] == [25.0, pytest.approx(np.nan, nan_ok=True)]
