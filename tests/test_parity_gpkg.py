"""``[outputs] gpkg`` (issue #14: "tables need not be written twice") and ``csv``: one rule, three
doors (``[outputs] gpkg``, ``run_scenario(gpkg=)``, ``geoequity run --gpkg``), like ``csv``;
and every reader of a run folder takes the cells from ``cells.parquet`` as it took them from
``cells.gpkg``: the same map (the county maps too) and the same report."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _cases import write_tiny_scenario

import geoequity as ge
import geoequity.outputs as outputs
from geoequity import InputError
from geoequity.cli import main
from geoequity.io import read_layer


def _case(folder: Path, line: str = "") -> Path:
    """Five cells a..e on a line (West: a, b, c; East: d, e), two schools."""
    return write_tiny_scenario(folder, line, title="line")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "geoequity", *args], capture_output=True,
                          text=True, cwd=cwd)


@pytest.mark.parametrize("option", ["csv", "gpkg"])
@pytest.mark.parametrize(("choice", "rows"), [("false", None), ("true", 5), ("auto", None)])
def test_cell_file_choice_parity_api_cli_scenario(tmp_path, monkeypatch, option, choice, rows):
    # one rule for cells.csv and cells.gpkg, three doors: [outputs] csv / gpkg,
    # run_scenario(csv= / gpkg=) and --csv / --gpkg write the same files. auto leaves the
    # 5-cell file out above a limit of 4 (patched in process, so the CLI door sees it too):
    # true must write it anyway, so true and auto cannot pass alike
    monkeypatch.setattr(outputs, "CSV_AUTO_ROWS", 4)
    given = {"false": False, "true": True, "auto": "auto"}[choice]
    line = {"false": "false", "true": "true", "auto": '"auto"'}[choice]   # TOML
    read = pd.read_csv if option == "csv" else gpd.read_file
    written = {}
    for door in ("scenario", "api", "cli"):
        d = tmp_path / door
        d.mkdir()
        if door == "scenario":
            ge.run_scenario(_case(d, f"{option} = {line}"))
        elif door == "api":
            ge.run_scenario(_case(d), **{option: given})
        else:
            assert main(["run", str(_case(d)), f"--{option}", choice]) == 0
        out = d / "out"
        f = out / f"cells.{option}"
        # cells.parquet and schools.gpkg always; the chosen file as chosen, by every door
        written[door] = (len(read(f)) if f.exists() else None,
                         len(gpd.read_parquet(out / "cells.parquet")),
                         (out / "schools.gpkg").exists())
    assert written == dict.fromkeys(("scenario", "api", "cli"), (rows, 5, True))


def test_flag_and_argument_override_the_file(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    ge.run_scenario(_case(a, "gpkg = false"), gpkg="auto")   # 5 cells: auto writes it
    assert (a / "out" / "cells.gpkg").exists()
    r = _cli("run", str(_case(b, "gpkg = true")), "--gpkg", "false", cwd=b)
    assert r.returncode == 0, r.stderr
    assert not (b / "out" / "cells.gpkg").exists()


def test_gpkg_auto_leaves_cells_gpkg_out_above_the_limit_and_says_so(tmp_path, monkeypatch,
                                                                      capsys):
    monkeypatch.setattr(outputs, "CSV_AUTO_ROWS", 4)   # the size rule of csv and gpkg
    ge.run_scenario(_case(tmp_path))
    out = tmp_path / "out"
    assert not (out / "cells.gpkg").exists() and not (out / "cells.csv").exists()
    assert (out / "cells.parquet").exists() and (out / "schools.gpkg").exists()
    err = capsys.readouterr().err
    assert ("cells.gpkg not written: 5 cells, over 4 (the cells are in cells.parquet; "
            "[outputs] gpkg true writes it)") in err
    assert "cells.csv not written: 5 cells, over 4 (the cells are in cells.parquet;" in err
    # gpkg = true writes it again (csv still left out); the next auto run removes it
    ge.run_scenario(_case(tmp_path, "gpkg = true"))
    assert len(gpd.read_file(out / "cells.gpkg")) == 5 and not (out / "cells.csv").exists()
    assert "the cells are in cells.parquet and cells.gpkg" in capsys.readouterr().err
    ge.run_scenario(_case(tmp_path))
    assert not (out / "cells.gpkg").exists()


def test_bad_gpkg_choice_is_one_line_exit_2(tmp_path):
    with pytest.raises(InputError, match=r"\[outputs\] gpkg = 'maybe' is not a GeoPackage "
                                         r"choice; use \"auto\" \(cells.gpkg up to 200,000"):
        ge.run_scenario(_case(tmp_path, 'gpkg = "maybe"'))
    with pytest.raises(InputError, match=r"gpkg = 'sometimes' is not a GeoPackage choice"):
        ge.run_scenario(_case(tmp_path), gpkg="sometimes")
    r = _cli("run", str(_case(tmp_path)), "--gpkg", "maybe", cwd=tmp_path)
    assert r.returncode == 2 and "--gpkg" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_cells_parquet_reads_back_in_the_run_order(tmp_path):
    ge.run_scenario(_case(tmp_path, "gpkg = true"))
    out = tmp_path / "out"
    # the file holds the rows by district (East: d, e; then West: a, b, c) ...
    assert list(gpd.read_parquet(out / "cells.parquet")["cid"]) == list("deabc")
    # ... and read_layer gives them back in the order of the population layer, as the gpkg
    back = read_layer(out / "cells.parquet", project=False)
    assert list(back["cid"]) == list("abcde")
    assert list(back.geometry.x) == [0, 500, 1000, 1500, 2000]
    gpkg = read_layer(out / "cells.gpkg", project=False)
    pd.testing.assert_frame_equal(back, gpkg, check_exact=True)
    # the attribute reader of `geoequity equity FILE` too: the order of cells.csv
    from geoequity.io.tables import read_attributes

    assert list(read_attributes(str(out / "cells.parquet"))["cid"]) == list("abcde")


def test_an_edited_cells_parquet_is_read_as_it_is(tmp_path):
    ge.run_scenario(_case(tmp_path))
    out = tmp_path / "out"
    table = gpd.read_parquet(out / "cells.parquet")
    meta = pq.read_schema(out / "cells.parquet").metadata
    edited = table.iloc[:4]   # a row less: the record of the order no longer fits
    t = pa.Table.from_pandas(edited.to_wkb(), preserve_index=False)
    pq.write_table(t.replace_schema_metadata(meta), tmp_path / "edited.parquet")
    assert list(read_layer(tmp_path / "edited.parquet", project=False)["cid"]) == list("deab")


def _ids_out(text: str) -> str:
    return re.sub(r"_[0-9a-f]{32}", "_ID", text)


def _two_folders(tmp_path: Path, maps_by: str = "") -> tuple[Path, Path]:
    """One run folder with only cells.gpkg (how a run folder was read before), one with only
    cells.parquet (a province run's, gpkg = false)."""
    with_gpkg, without = tmp_path / "with", tmp_path / "without"
    for d, line in ((with_gpkg, "gpkg = true"), (without, "gpkg = false")):
        d.mkdir()
        ge.run_scenario(_case(d, line + maps_by))
    (with_gpkg / "out" / "cells.parquet").unlink()   # the link: the reader takes cells.gpkg
    assert not (without / "out" / "cells.gpkg").exists()
    return with_gpkg / "out", without / "out"


def test_a_run_folder_without_cells_gpkg_maps_the_same(tmp_path):
    a, b = _two_folders(tmp_path)
    for folder in (a, b):
        assert main(["-q", "map", str(folder), "-o", str(folder.parent / "m.html")]) == 0
    html_a = (a.parent / "m.html").read_text(encoding="utf-8")
    html_b = (b.parent / "m.html").read_text(encoding="utf-8")
    # the five cells' popup rows in the layer's order a..e: children 100 x 4 and 400, the
    # nearest school at 0, 500, 1000 (A at x = 0; B at 2000 as far), 500 and 0 m
    rows = _cell_rows(html_b)
    assert [r[1] for r in rows] == [100, 100, 100, 100, 400]
    assert [r[5] for r in rows] == [0, 500, 1000, 500, 0]
    assert [r[6] for r in rows] == ["West"] * 3 + ["East"] * 2
    assert _ids_out(html_a) == _ids_out(html_b)


def _cell_rows(html: str) -> list:
    """The cells layer's popup rows of a map page (index, children, access, seat gap,
    without a seat, nearest school, district)."""
    import json

    head = '"nearest school (m)","district"],"rows":'
    return json.JSONDecoder().raw_decode(html[html.index(head) + len(head):])[0]


def test_a_run_folder_without_cells_gpkg_maps_the_same_county_maps(tmp_path):
    a, b = _two_folders(tmp_path)
    for folder in (a, b):
        assert main(["-q", "map", str(folder), "-o", str(folder.parent / "m.html"),
                     "--maps-by", "districts"]) == 0
    pages_a = sorted(p.relative_to(a.parent) for p in (a.parent / "m").rglob("*.html"))
    pages_b = sorted(p.relative_to(b.parent) for p in (b.parent / "m").rglob("*.html"))
    assert [p.name for p in pages_a] == ["East.html", "West.html"] and pages_a == pages_b
    for page in [Path("m.html"), *pages_a]:
        assert (_ids_out((a.parent / page).read_text(encoding="utf-8"))
                == _ids_out((b.parent / page).read_text(encoding="utf-8"))), page


def test_a_run_folder_without_cells_gpkg_reports_the_same(tmp_path):
    a, b = _two_folders(tmp_path)
    for folder in (a, b):
        assert main(["-q", "report", str(folder), "-o", str(folder.parent / "r.html")]) == 0
    text = {}
    for folder in (a, b):
        html = (folder.parent / "r.html").read_text(encoding="utf-8")
        # the note naming the inputs differs by the folder and the cells' file only
        html = html.replace(str(folder), "OUT").replace("cells.gpkg", "cells.parquet")
        # and by the minute it was generated in ("2026-12-06 13:55"): the clock may turn
        text[folder] = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "STAMP", html)
    assert text[a] == text[b]
    for table in ("districts", "groups", "lorenz", "theil"):
        assert ((a.parent / f"r_{table}.csv").read_bytes()
                == (b.parent / f"r_{table}.csv").read_bytes())
    # by hand: West a, b, c (300 children, nearest school 0, 500, 1000 m: mean 500), East d
    # and e (100 children at 500 m, 400 at 0: mean 100)
    d = pd.read_csv(b.parent / "r_districts.csv", encoding="utf-8-sig").set_index("district")
    assert d.loc["West", "children"] == 300 and d.loc["West", "mean_nearest_cost"] == 500
    assert d.loc["East", "children"] == 500 and d.loc["East", "mean_nearest_cost"] == 100


def test_map_of_a_folder_with_both_reads_the_parquet(tmp_path):
    ge.run_scenario(_case(tmp_path, "gpkg = true"))
    out = tmp_path / "out"
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, symlinks=False, ignore=shutil.ignore_patterns(".geoequity"))
    gpd.read_file(copy / "cells.gpkg").iloc[:2].to_file(copy / "cells.gpkg")   # stale, 2 cells
    assert main(["-q", "map", str(copy), "-o", str(tmp_path / "m.html")]) == 0
    rows = _cell_rows((tmp_path / "m.html").read_text(encoding="utf-8"))
    assert [r[5] for r in rows] == [0, 500, 1000, 500, 0]   # all five, not the stale two
