"""The command line: help, version, one-line errors with exit status 2, --debug, the demo."""

import subprocess
import sys

import geopandas as gpd
import pandas as pd
import pytest

import geoequity
from geoequity.cli import main
from tests.conftest import REPO


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "geoequity", *args], capture_output=True,
                          text=True, cwd=cwd)


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"geoequity {geoequity.__version__}"
    assert main([]) == 0
    text = capsys.readouterr().out
    for command in ("demo", "run"):
        assert command in text


def test_bad_input_is_one_line_exit_2_no_traceback(tmp_path):
    scenario = tmp_path / "s.toml"
    scenario.write_text("[schools]\npath='nowhere.csv'\nseats='seats'\n[population]\n"
                        "path='cells.csv'\ncount='kids'\n[analysis]\nthreshold=500\n")
    r = run("run", str(scenario), cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("geoequity: error: ") and "cells.csv: file not found" in lines[-1]
    assert "Traceback" not in r.stderr


def test_debug_shows_the_traceback(tmp_path):
    scenario = tmp_path / "s.toml"
    scenario.write_text("[schools]\npath='x.csv'\n")
    r = run("--debug", "run", str(scenario), cwd=tmp_path)
    assert r.returncode != 0 and "Traceback" in r.stderr and "InputError" in r.stderr


def test_quiet_silences_progress(tmp_path, capsys):
    cells = gpd.GeoDataFrame({"kids": [10.0]}, geometry=gpd.points_from_xy([0], [0]), crs=32650)
    cells.to_file(tmp_path / "c.gpkg")
    pd.DataFrame({"seats": [5], "x": [10.0], "y": [0.0]}).to_csv(tmp_path / "s.csv", index=False)
    (tmp_path / "s.toml").write_text(
        "[schools]\npath='s.csv'\nseats='seats'\ninput_crs='EPSG:32650'\n[population]\n"
        "path='c.gpkg'\ncount='kids'\n[analysis]\nthreshold=500\n[outputs]\nfolder='o'\n"
        "map='m.html'\nreport=false\n")
    assert main(["-q", "run", str(tmp_path / "s.toml")]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "children 10; seats 5; seats per child 0.50" in captured.out


def test_unknown_command_exits_2():
    r = run("frobnicate")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_unwritable_output_is_one_line(tmp_path, capsys):
    from geoequity.cli import main

    folder = tmp_path / "taken.html"
    folder.mkdir()   # the output path is a folder
    schools = REPO / "data" / "demo" / "schools.csv"
    assert main(["-q", "map", "--schools", str(schools), "-o", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("geoequity: error: ") and "taken.html" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("threshold,unit,asked", [(1.5, "m", True), (99.0, "m", True),
                                                  (100.0, "m", False), (1500.0, "m", False),
                                                  (181.0, "min", True), (180.0, "min", False)])
def test_wrong_unit_threshold_is_questioned_by_every_door(tmp_path, capsys, threshold, unit,
                                                          asked):
    # the same rule (under 100 m, over 180 min) from a CLI command and from a scenario
    (tmp_path / "c.csv").write_text("id,lon,lat,children\n1,119.77,30.48,10\n")
    (tmp_path / "s.csv").write_text("id,lon,lat,seats\n1,119.771,30.481,100\n")
    assert main(["access", "--demand", str(tmp_path / "c.csv"), "--demand-id", "id",
                 "--demand-col", "children", "--supply", str(tmp_path / "s.csv"), "--supply-id",
                 "id", "--supply-col", "seats", "--euclidean", "--method", "2sfca",
                 "--threshold", str(threshold), "--unit", unit,
                 "-o", str(tmp_path / "o.csv")]) == 0
    err = capsys.readouterr().err
    assert ("note: --threshold = " in err and "is that meant?" in err) is asked
    if asked:   # said after the work, so an error would still come alone
        assert err.index("is that meant?") > err.index("wrote")
    from geoequity.scenario import _plausible_threshold

    _plausible_threshold(tmp_path / "s.toml", threshold, unit)
    err = capsys.readouterr().err
    assert ("s.toml: [analysis] threshold = " in err and "is that meant?" in err) is asked
