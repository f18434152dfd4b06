"""Hostile inputs: every reader and every command, fed what real users feed them.

Each case must end either with exit status 2 and exactly one stderr line
``geoequity: error: ...`` naming the file, column or flag at fault (no traceback, no library
warning before it), or with a correct result. Cases run in-process through
``geoequity.cli.main`` with ``--quiet`` (fast); a few run as ``python -m geoequity`` to check
that nothing else reaches stderr. The kill/concurrency cases of runs live in
``tests/test_hostile_runs.py``.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoequity.cli import main

LON, LAT = 119.77, 30.48
SCHOOL_IDS = ["0014", "0015", "0016"]
CELL_IDS = ["060816013.00", "060816014.00", "060816015.00", "060816016.00"]


def _schools(**over) -> pd.DataFrame:
    df = pd.DataFrame({
        "school_id": SCHOOL_IDS, "name": ["A", "B", "C"],
        "level": ["primary", "primary", "junior"],
        "lon": [LON, LON + 0.01, LON + 0.005], "lat": [LAT, LAT + 0.005, LAT + 0.01],
        "seats": [100, 200, 150], "enrolment": [90, 150, 140], "teachers": [6, 9, 8],
        "floor_area_m2": [900, 1500, 1200]})
    for k, v in over.items():
        df[k] = v
    return df


def _cells(**over) -> pd.DataFrame:
    df = pd.DataFrame({
        "cell_id": CELL_IDS,
        "lon": [LON + 0.001, LON + 0.008, LON + 0.004, LON + 0.02],
        "lat": [LAT + 0.001, LAT + 0.004, LAT + 0.009, LAT + 0.02],
        "children": [50.0, 120.0, 80.0, 30.0]})
    for k, v in over.items():
        df[k] = v
    return df


def _csv(path: Path, df: pd.DataFrame) -> None:
    df.to_csv(path, index=False)


@pytest.fixture(scope="module")
def d(tmp_path_factory) -> Path:
    """A folder of good inputs and of every hostile variant the cases name."""
    import rasterio
    from rasterio.transform import from_origin

    d = tmp_path_factory.mktemp("hostile")
    _csv(d / "schools.csv", _schools())
    _csv(d / "cells.csv", _cells())
    dist = gpd.GeoDataFrame(
        {"name": ["north", "south"], "kind": ["urban", "rural"]},
        geometry=[shapely.box(LON - 0.01, LAT + 0.005, LON + 0.03, LAT + 0.03),
                  shapely.box(LON - 0.01, LAT - 0.01, LON + 0.03, LAT + 0.005)], crs=4326)
    dist.to_file(d / "districts.geojson")
    plan = dist.assign(name=["a", "b"])
    plan.to_file(d / "plan.geojson")
    rows = [(c, s, 300.0 + 100 * i) for i, (c, s) in
            enumerate((c, s) for c in CELL_IDS for s in SCHOOL_IDS)]
    _csv(d / "costs.csv", pd.DataFrame(rows, columns=["origin", "destination", "cost"]))
    with rasterio.open(d / "pop.tif", "w", driver="GTiff", width=2, height=2, count=1,
                       dtype="float32", crs="EPSG:32650", nodata=-1,
                       transform=from_origin(500000, 3400000, 100, 100)) as dst:
        dst.write(np.array([[1, 2], [0, 5]], dtype="float32"), 1)

    # --- schools variants
    _csv(d / "s_dup.csv", _schools(school_id=["0014", "0014", "0016"]))
    _csv(d / "s_blankid.csv", _schools(school_id=["0014", None, "0016"]))
    _csv(d / "s_negseats.csv", _schools(seats=[100, -5, 150]))
    _csv(d / "s_textseats.csv", _schools(seats=["100", "lots", "150"]))
    _csv(d / "s_infseats.csv", _schools(seats=["100", "inf", "150"]))
    _csv(d / "s_hugeseats.csv", _schools(seats=[100, 1e300, 150]))
    _csv(d / "s_nocoords.csv", _schools().drop(columns=["lon", "lat"]))
    _csv(d / "s_textlon.csv", _schools(lon=["119.77", "east", "119.775"]))
    _csv(d / "s_badlat.csv", _schools(lat=[30.48, 300.0, 30.49]))
    _csv(d / "s_xy.csv", _schools().rename(columns={"lon": "x", "lat": "y"}))
    _csv(d / "s_xy_m.csv", _schools().rename(columns={"lon": "x", "lat": "y"}).assign(
        x=[500000.0, 501000.0, 500500.0], y=[3400000.0, 3400500.0, 3401000.0]))
    _csv(d / "s_letters.csv", _schools(school_id=["A1", "A2", "A3"]))
    (d / "s_empty.csv").write_bytes(b"")
    (d / "s_header.csv").write_text(",".join(_schools().columns) + "\n")
    (d / "s_latin1.csv").write_bytes(
        "school_id,name,lon,lat,seats\n0014,École Sainte-Thérèse,119.77,30.48,100\n"
        "0015,Collège,119.78,30.485,200\n".encode("latin-1"))
    (d / "s_gbk.csv").write_bytes(
        "school_id,name,lon,lat,seats\n0014,城关第一小学,119.77,30.48,100\n"
        "0015,老城中心小学,119.78,30.485,200\n".encode("gb18030"))
    (d / "s_folder.csv").mkdir()
    (d / "s_extract.osm.pbf").write_bytes(b"\x00\x00\x00\x0dOSMHeader")
    (d / "s_broken.geojson").write_text('{"type": "FeatureCollection", "features": [')
    (d / "s_garbage.gpkg").write_bytes(b"this is not a geopackage" * 10)
    # --- cells variants
    _csv(d / "c_textkids.csv", _cells(children=["50", "many", "80", "30"]))
    _csv(d / "c_negkids.csv", _cells(children=[50, -1, 80, 30]))
    _csv(d / "c_hugekids.csv", _cells(children=[50, 1e300, 80, 30]))
    _csv(d / "c_blankkids.csv", _cells(children=[50, None, 80, 30]))
    (d / "c_garbage.tif").write_bytes(b"II*\x00garbage" * 20)
    pts = gpd.GeoDataFrame({"name": ["p", "q"]}, geometry=gpd.points_from_xy(
        [LON, LON + 0.01], [LAT, LAT + 0.01]), crs=4326)
    pts.to_file(d / "d_points.geojson")
    # --- cost tables
    (d / "k_header.csv").write_text("origin,destination,cost\n")
    _csv(d / "k_nocost.csv", pd.DataFrame({"origin": CELL_IDS[:1], "destination": ["0014"]}))
    _csv(d / "k_neg.csv", pd.DataFrame({"origin": CELL_IDS[:2], "destination": ["0014"] * 2,
                                        "cost": [100, -3]}))
    _csv(d / "k_text.csv", pd.DataFrame({"origin": CELL_IDS[:2], "destination": ["0014"] * 2,
                                         "cost": ["100", "far"]}))
    _csv(d / "k_nomatch.csv", pd.DataFrame({"origin": ["x", "y"], "destination": ["p", "q"],
                                            "cost": [1.0, 2.0]}))
    _csv(d / "k_blankid.csv", pd.DataFrame({"origin": [CELL_IDS[0], None],
                                            "destination": ["0014", "0015"], "cost": [1, 2]}))
    _csv(d / "k_int.csv", pd.DataFrame({"origin": [14], "destination": [15], "cost": [1.0]}))
    (d / "k_empty.csv").write_bytes(b"")
    (d / "k_garbage.parquet").write_bytes(b"PAR1 not really")
    # --- balance tables and standards
    _csv(d / "b_zero.csv", _schools(enrolment=[0, 0, 0]))
    _csv(d / "b_negenrol.csv", _schools(enrolment=[90, -10, 140]))
    (d / "std_syntax.toml").write_text("garbage = [\n")
    (d / "std_nolevel.toml").write_text("[primary]\nx = 1\n")
    (d / "std_binary.toml").write_bytes(b"\xff\xfe\x00garbage")
    shipped = (Path(__file__).parents[1] / "geoequity/data/standards.toml").read_text("utf-8")
    # edited copies with a wrong value: each gave a traceback or a verdict from nonsense
    (d / "std_text.toml").write_text(shipped.replace("primary = 1.0", 'primary = "x"', 1),
                                     encoding="utf-8")
    (d / "std_nan.toml").write_text(shipped.replace("primary = 0.65", "primary = nan", 1),
                                    encoding="utf-8")
    (d / "std_negative.toml").write_text(shipped.replace("primary = 0.65", "primary = -1", 1),
                                         encoding="utf-8")
    (d / "std_renamed.toml").write_text(shipped.replace("[basic]\n", "[basicx]\n", 1),
                                        encoding="utf-8")
    # --- equity tables
    _csv(d / "e_vals.csv", pd.DataFrame({"v": [0.0, 1.0, 2.0, 5.0], "w": [1, 2, 3, 4],
                                         "g": ["a", "a", "b", "b"], "t": ["x", "y", "z", "q"]}))
    _csv(d / "e_negw.csv", pd.DataFrame({"v": [1.0, 2.0], "w": [1, -2]}))
    _csv(d / "e_infv.csv", pd.DataFrame({"v": ["1.0", "inf"], "w": [1, 2]}))
    (d / "e_empty.csv").write_text("v,w\n")
    # --- scenarios
    return d


def _scenario(d: Path, name: str, **sections) -> str:
    """A scenario file over the good inputs, with sections replaced or extended."""
    base = {
        "schools": {"path": "schools.csv", "id": "school_id", "seats": "seats", "level": "level"},
        "population": {"path": "cells.csv", "id": "cell_id", "count": "children"},
        "districts": {"path": "districts.geojson", "name": "name"},
        "analysis": {"threshold": 1000, "method": "2sfca"},
        "outputs": {"folder": f"out_{name}", "map": f"out_{name}/map.html", "report": False},
    }
    extra_top = sections.pop("_top", "")
    raw = sections.pop("_raw", "")
    for k, v in sections.items():
        if v is None:
            base.pop(k, None)
        else:
            base[k] = {**base.get(k, {}), **v}
    lines = [extra_top]
    for sec, keys in base.items():
        lines.append(f"[{sec}]")
        for k, v in keys.items():
            lines.append(f"{k} = {_toml(v)}")
    lines.append(raw)
    path = d / f"sc_{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _toml(v) -> str:
    if isinstance(v, str) and v.startswith("="):   # raw TOML value
        return v[1:]
    return json.dumps(v)


def cli(capsys, *args) -> tuple[int, str, list[str]]:
    rc = main(["--quiet", *map(str, args)])
    cap = capsys.readouterr()
    return rc, cap.out, [ln for ln in cap.err.splitlines() if ln.strip()]


def assert_refused(capsys, args, *words) -> str:
    rc, _, err = cli(capsys, *args)
    assert rc == 2, f"exit {rc}, stderr {err}"
    assert len(err) == 1, err
    assert err[0].startswith("geoequity: error: "), err
    for w in words:
        assert w.lower() in err[0].lower(), (w, err[0])
    assert "np.float64(" not in err[0] and "np.int64(" not in err[0], err[0]  # numpy reprs
    return err[0]


# ------------------------------------------------------------------- command lines
def ACC(d, schools="schools.csv", cells="cells.csv", more=()):
    return ["access", "--demand", d / cells, "--demand-id", "cell_id", "--demand-col",
            "children", "--supply", d / schools, "--supply-id", "school_id", "--supply-col",
            "seats", *more]


EUC = ["--euclidean", "--method", "2sfca", "--threshold", "1000"]

# (case id, argv builder taking (d, out), words the message must contain)
READER_CASES = [
    # schools
    ("schools-missing", lambda d, o: ACC(d, "nope.csv", more=[*EUC, "-o", o]), ["nope.csv",
                                                                               "not found"]),
    ("schools-dup-ids", lambda d, o: ACC(d, "s_dup.csv", more=[*EUC, "-o", o]),
     ["s_dup.csv", "duplicate", "0014"]),
    ("schools-blank-id", lambda d, o: ACC(d, "s_blankid.csv", more=[*EUC, "-o", o]),
     ["s_blankid.csv", "school_id"]),
    ("schools-negative-seats", lambda d, o: ACC(d, "s_negseats.csv", more=[*EUC, "-o", o]),
     ["s_negseats.csv", "seats", "negative"]),
    ("schools-text-seats", lambda d, o: ACC(d, "s_textseats.csv", more=[*EUC, "-o", o]),
     ["s_textseats.csv", "seats", "lots"]),
    ("schools-inf-seats", lambda d, o: ACC(d, "s_infseats.csv", more=[*EUC, "-o", o]),
     ["s_infseats.csv", "seats"]),
    ("schools-1e300-seats", lambda d, o: ACC(d, "s_hugeseats.csv", more=[*EUC, "-o", o]),
     ["s_hugeseats.csv", "seats"]),
    ("schools-no-coords", lambda d, o: ACC(d, "s_nocoords.csv", more=[*EUC, "-o", o]),
     ["s_nocoords.csv", "coordinate"]),
    ("schools-text-lon", lambda d, o: ACC(d, "s_textlon.csv", more=[*EUC, "-o", o]),
     ["s_textlon.csv", "lon", "line 3"]),
    ("schools-lat-300", lambda d, o: ACC(d, "s_badlat.csv", more=[*EUC, "-o", o]),
     ["s_badlat.csv", "latitude"]),
    ("schools-xy-no-crs", lambda d, o: ACC(d, "s_xy.csv", more=[*EUC, "-o", o]),
     ["s_xy.csv", "crs"]),
    ("schools-empty-file", lambda d, o: ACC(d, "s_empty.csv", more=[*EUC, "-o", o]),
     ["s_empty.csv"]),
    ("schools-header-only", lambda d, o: ACC(d, "s_header.csv", more=[*EUC, "-o", o]),
     ["s_header.csv", "no features"]),
    ("schools-latin1", lambda d, o: ACC(d, "s_latin1.csv", more=[*EUC, "-o", o]),
     ["s_latin1.csv", "utf-8", "latin-1"]),
    ("schools-folder", lambda d, o: ACC(d, "s_folder.csv", more=[*EUC, "-o", o]),
     ["s_folder.csv", "folder"]),
    ("schools-osm-extract", lambda d, o: ACC(d, "s_extract.osm.pbf", more=[*EUC, "-o", o]),
     ["s_extract.osm.pbf", "openstreetmap"]),
    ("schools-broken-geojson", lambda d, o: ACC(d, "s_broken.geojson", more=[*EUC, "-o", o]),
     ["s_broken.geojson"]),
    ("schools-garbage-gpkg", lambda d, o: ACC(d, "s_garbage.gpkg", more=[*EUC, "-o", o]),
     ["s_garbage.gpkg"]),
    ("schools-no-id-col", lambda d, o: ["access", "--demand", d / "cells.csv", "--demand-id",
                                        "cell_id", "--demand-col", "children", "--supply",
                                        d / "schools.csv", "--supply-id", "nope",
                                        "--supply-col", "seats", *EUC, "-o", o],
     ["schools.csv", "nope"]),
    ("schools-no-seats-col", lambda d, o: ["access", "--demand", d / "cells.csv",
                                           "--demand-id", "cell_id", "--demand-col",
                                           "children", "--supply", d / "schools.csv",
                                           "--supply-id", "school_id", "--supply-col",
                                           "places", *EUC, "-o", o],
     ["schools.csv", "places"]),
    ("schools-id-dtype-int-letters", lambda d, o: ACC(d, "s_letters.csv",
                                                      more=[*EUC, "--id-dtype", "int", "-o", o]),
     ["s_letters.csv", "school_id", "a1"]),
    # population
    ("cells-missing", lambda d, o: ACC(d, cells="nope.csv", more=[*EUC, "-o", o]),
     ["nope.csv"]),
    ("cells-no-count-col", lambda d, o: ["access", "--demand", d / "cells.csv", "--demand-id",
                                         "cell_id", "--demand-col", "kids", "--supply",
                                         d / "schools.csv", "--supply-id", "school_id",
                                         "--supply-col", "seats", *EUC, "-o", o],
     ["cells.csv", "kids"]),
    ("cells-text-children", lambda d, o: ACC(d, cells="c_textkids.csv", more=[*EUC, "-o", o]),
     ["c_textkids.csv", "children", "many"]),
    ("cells-negative-children", lambda d, o: ACC(d, cells="c_negkids.csv",
                                                 more=[*EUC, "-o", o]),
     ["c_negkids.csv", "children", "negative"]),
    ("cells-1e300-children", lambda d, o: ACC(d, cells="c_hugekids.csv",
                                              more=[*EUC, "-o", o]),
     ["c_hugekids.csv", "children"]),
    ("cells-blank-children", lambda d, o: ACC(d, cells="c_blankkids.csv",
                                              more=[*EUC, "-o", o]),
     ["c_blankkids.csv", "blank"]),
    ("cells-garbage-raster", lambda d, o: ACC(d, cells="c_garbage.tif", more=[*EUC, "-o", o]),
     ["c_garbage.tif", "raster"]),
    ("cells-child-share-0", lambda d, o: ACC(d, more=[*EUC, "--child-share", "0", "-o", o]),
     ["child", "share"]),
    ("cells-child-share-2", lambda d, o: ACC(d, more=[*EUC, "--child-share", "2", "-o", o]),
     ["child", "share"]),
    ("cells-child-share-nan", lambda d, o: ACC(d, more=[*EUC, "--child-share", "nan", "-o", o]),
     ["child", "share"]),
    # crs
    ("crs-notacrs", lambda d, o: ACC(d, more=[*EUC, "--crs", "NOTACRS", "-o", o]),
     ["--crs", "NOTACRS"]),
    ("input-crs-notacrs", lambda d, o: ACC(d, more=[*EUC, "--input-crs", "NOTACRS", "-o", o]),
     ["NOTACRS"]),
    ("crs-geographic", lambda d, o: ACC(d, more=[*EUC, "--crs", "EPSG:4326", "-o", o]),
     ["--crs", "EPSG:4326", "metres"]),
    ("crs-web-mercator", lambda d, o: ACC(d, more=[*EUC, "--crs", "EPSG:3857", "-o", o]),
     ["--crs", "EPSG:3857", "stretch"]),
    ("crs-feet", lambda d, o: ACC(d, more=[*EUC, "--crs", "EPSG:2229", "-o", o]),
     ["--crs", "EPSG:2229", "metres"]),
    ("input-crs-gcj02-on-metres", lambda d, o: ACC(d, "s_xy_m.csv",
                                                   more=[*EUC, "--input-crs", "gcj02", "-o", o]),
     ["s_xy_m.csv", "gcj02", "degrees"]),
    # cost tables
    ("costs-header-only", lambda d, o: ACC(d, more=["--costs", d / "k_header.csv", "--method",
                                                    "nearest", "--threshold", "900", "-o", o]),
     ["k_header.csv", "no rows"]),
    ("costs-no-cost-col", lambda d, o: ACC(d, more=["--costs", d / "k_nocost.csv", "--method",
                                                    "nearest", "--threshold", "900", "-o", o]),
     ["k_nocost.csv", "cost"]),
    ("costs-negative", lambda d, o: ACC(d, more=["--costs", d / "k_neg.csv", "--method",
                                                 "nearest", "--threshold", "900", "-o", o]),
     ["k_neg.csv", "line 3"]),
    ("costs-text", lambda d, o: ACC(d, more=["--costs", d / "k_text.csv", "--method",
                                             "nearest", "--threshold", "900", "-o", o]),
     ["k_text.csv", "far"]),
    ("costs-no-match", lambda d, o: ACC(d, more=["--costs", d / "k_nomatch.csv", "--method",
                                                 "nearest", "--threshold", "900", "-o", o]),
     ["k_nomatch.csv", "match"]),
    ("costs-blank-id", lambda d, o: ACC(d, more=["--costs", d / "k_blankid.csv", "--method",
                                                 "nearest", "--threshold", "900", "-o", o]),
     ["k_blankid.csv", "origin", "blank"]),
    ("costs-int-ids-vs-text", lambda d, o: ACC(d, more=["--costs", d / "k_int.csv", "--method",
                                                        "nearest", "--threshold", "900",
                                                        "-o", o]),
     ["k_int.csv", "match"]),
    ("costs-empty-file", lambda d, o: ACC(d, more=["--costs", d / "k_empty.csv", "--method",
                                                   "nearest", "--threshold", "900", "-o", o]),
     ["k_empty.csv"]),
    ("costs-garbage-parquet", lambda d, o: ACC(d, more=["--costs", d / "k_garbage.parquet",
                                                        "--method", "nearest", "--threshold",
                                                        "900", "-o", o]),
     ["k_garbage.parquet"]),
    ("costs-missing", lambda d, o: ACC(d, more=["--costs", d / "nope.csv", "--method",
                                                "nearest", "--threshold", "900", "-o", o]),
     ["nope.csv"]),
    ("costs-columns-two", lambda d, o: ACC(d, more=["--costs", d / "costs.csv",
                                                    "--costs-columns", "a,b", "--method",
                                                    "nearest", "--threshold", "900", "-o", o]),
     ["costs.csv", "3 names"]),
    ("costs-level-nosuchlevel", lambda d, o: ACC(d, more=["--costs", d / "costs.csv",
                                                          "--level", "nosuchlevel",
                                                          "--threshold", "900", "--method",
                                                          "nearest", "-o", o]),
     ["--level", "nosuchlevel"]),
    ("costs-level-nosuchlevel-preset", lambda d, o: ACC(d, more=["--costs", d / "costs.csv",
                                                                 "--level", "nosuchlevel",
                                                                 "--method", "nearest",
                                                                 "-o", o]),
     ["--level", "nosuchlevel"]),
    ("level-university", lambda d, o: ACC(d, more=[*EUC, "--level", "university", "-o", o]),
     ["--level", "university"]),
]

MEASURE_CASES = [
    ("access-threshold-nan", ["--euclidean", "--method", "2sfca", "--threshold", "nan"],
     ["--threshold", "nan"]),
    ("access-threshold-negative", ["--euclidean", "--method", "2sfca", "--threshold", "-5"],
     ["--threshold", "-5"]),
    ("access-threshold-zero", ["--euclidean", "--method", "2sfca", "--threshold", "0"],
     ["--threshold"]),
    ("access-threshold-inf", ["--euclidean", "--method", "2sfca", "--threshold", "inf"],
     ["--threshold", "inf"]),
    ("access-threshold-text", ["--euclidean", "--method", "2sfca", "--threshold", "far"],
     ["--threshold", "far"]),
    ("decay-power-negative", ["--euclidean", "--method", "gravity", "--threshold", "1000",
                              "--decay", "power", "--decay-param", "-2"],
     ["--decay-param", "-2"]),
    ("decay-gaussian-zero", ["--euclidean", "--method", "e2sfca", "--threshold", "1000",
                             "--decay", "gaussian", "--decay-param", "0"], ["--decay-param"]),
    ("decay-gaussian-negative", ["--euclidean", "--method", "e2sfca", "--threshold", "1000",
                                 "--decay", "gaussian", "--decay-param", "-1"],
     ["--decay-param", "not positive"]),
    ("decay-gaussian-nan", ["--euclidean", "--method", "e2sfca", "--threshold", "1000",
                            "--decay", "gaussian", "--decay-param", "nan"], ["--decay-param"]),
    ("decay-exponential-negative", ["--euclidean", "--method", "gravity", "--threshold", "1000",
                                    "--decay", "exponential", "--decay-param", "-0.1"],
     ["--decay-param"]),
    ("decay-step-garbage", ["--euclidean", "--method", "e2sfca", "--threshold", "1000",
                            "--decay", "step", "--decay-param", "near:far"], ["step"]),
    ("decay-unknown", ["--euclidean", "--method", "e2sfca", "--threshold", "1000", "--decay",
                       "cubic"], ["cubic"]),
    ("detour-negative", ["--euclidean", "--method", "2sfca", "--threshold", "1000",
                         "--detour-factor", "-1"], ["--detour-factor"]),
    ("detour-nan", ["--euclidean", "--method", "2sfca", "--threshold", "1000",
                    "--detour-factor", "nan"], ["--detour-factor"]),
]


@pytest.mark.parametrize("build,words", [c[1:] for c in READER_CASES],
                         ids=[c[0] for c in READER_CASES])
def test_reader_and_flag_refusals(d, tmp_path, capsys, build, words):
    assert_refused(capsys, build(d, tmp_path / "out.csv"), *words)
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("command", ["access", "gaps"])
@pytest.mark.parametrize("flags,words", [c[1:] for c in MEASURE_CASES],
                         ids=[c[0] for c in MEASURE_CASES])
def test_measure_flag_refusals(d, tmp_path, capsys, command, flags, words):
    argv = ACC(d, more=flags)
    argv[0] = command
    out = tmp_path / ("out.csv" if command == "access" else "out.gpkg")
    assert_refused(capsys, [*argv, "-o", out], *words)


# ------------------------------------------------------------------- other commands
def COSTS(d, o, *more):
    return ["costs", d / "cells.csv", d / "schools.csv", "--origin-id", "cell_id",
            "--destination-id", "school_id", *more, "-o", o]


def SITE(d, o, *more):
    return ["site", "--demand", d / "cells.csv", "--demand-id", "cell_id", "--demand-col",
            "children", "--candidates", d / "schools.csv", "--candidate-id", "school_id",
            "--euclidean", *more, "-o", o]


def DIST(d, o, sub, *more):
    return ["districts", sub, "--cells", d / "cells.csv", "--cell-id", "cell_id", "--children",
            "children", "--schools", d / "schools.csv", "--school-id", "school_id", "--seats",
            "seats", "--euclidean", *more, "-o", o]


def EQ(d, file, *more):
    return ["equity", d / file, *more]


COMMAND_CASES = [
    # costs
    ("costs-max-cost-nan", lambda d, o: COSTS(d, o, "--euclidean", "--max-cost", "nan"),
     ["--max-cost", "nan"]),
    ("costs-max-cost-negative", lambda d, o: COSTS(d, o, "--euclidean", "--max-cost", "-1"),
     ["--max-cost"]),
    ("costs-k-zero", lambda d, o: COSTS(d, o, "--euclidean", "--k", "0"), ["--k"]),
    ("costs-no-source", lambda d, o: COSTS(d, o), ["--network"]),
    ("costs-bad-output", lambda d, o: COSTS(d, Path(o).with_suffix(".txt"), "--euclidean"),
     [".txt"]),
    ("costs-snap-limit-negative", lambda d, o: COSTS(d, o, "--euclidean", "--snap-limit", "-5"),
     ["--snap-limit"]),
    ("costs-walk-speed-zero", lambda d, o: COSTS(d, o, "--euclidean", "--walk-speed", "0"),
     ["--walk-speed"]),
    ("costs-network-missing", lambda d, o: COSTS(d, o, "--network", d / "nope.osm.pbf"),
     ["nope.osm.pbf"]),
    ("costs-network-garbage", lambda d, o: COSTS(d, o, "--network", d / "s_garbage.gpkg"),
     ["s_garbage.gpkg"]),
    ("costs-crs-notacrs", lambda d, o: COSTS(d, o, "--euclidean", "--crs", "NOTACRS"),
     ["--crs", "NOTACRS"]),
    ("costs-id-dtype-bad", lambda d, o: COSTS(d, o, "--euclidean", "--id-dtype", "float"),
     ["--id-dtype", "float"]),
    ("costs-unknown-flag", lambda d, o: COSTS(d, o, "--euclidian"), ["--euclidian"]),
    # equity
    ("equity-raster", lambda d, o: EQ(d, "pop.tif", "--value", "x"), ["pop.tif", "raster"]),
    ("equity-missing", lambda d, o: EQ(d, "nope.csv", "--value", "v"), ["nope.csv"]),
    ("equity-no-value", lambda d, o: EQ(d, "e_vals.csv"), ["e_vals.csv", "--value"]),
    ("equity-value-missing", lambda d, o: EQ(d, "e_vals.csv", "--value", "nope"),
     ["e_vals.csv", "nope"]),
    ("equity-value-text", lambda d, o: EQ(d, "e_vals.csv", "--value", "t"), ["e_vals.csv", "'t'"]),
    ("equity-weight-negative", lambda d, o: EQ(d, "e_negw.csv", "--value", "v", "--weight", "w"),
     ["e_negw.csv", "'w'", "negative"]),
    ("equity-value-inf", lambda d, o: EQ(d, "e_infv.csv", "--value", "v"), ["e_infv.csv", "'v'"]),
    ("equity-group-missing", lambda d, o: EQ(d, "e_vals.csv", "--value", "v", "--group", "nope"),
     ["e_vals.csv", "nope"]),
    ("equity-empty", lambda d, o: EQ(d, "e_empty.csv", "--value", "v"), ["e_empty.csv", "no rows"]),
    ("equity-standard-nan", lambda d, o: EQ(d, "e_vals.csv", "--value", "v", "--standard", "nan"),
     ["--standard", "nan"]),
    ("equity-garbage-gpkg", lambda d, o: EQ(d, "s_garbage.gpkg", "--value", "v"),
     ["s_garbage.gpkg"]),
    ("balance-zero-enrolment", lambda d, o: EQ(d, "b_zero.csv", "--balance", "basic"),
     ["b_zero.csv", "enrolment"]),
    ("balance-negative-enrolment", lambda d, o: EQ(d, "b_negenrol.csv", "--balance", "basic"),
     ["b_negenrol.csv", "enrolment"]),
    ("balance-standards-syntax", lambda d, o: EQ(d, "schools.csv", "--balance", "basic",
                                                 "--standards", d / "std_syntax.toml"),
     ["std_syntax.toml"]),
    ("balance-standards-no-level", lambda d, o: EQ(d, "schools.csv", "--balance", "basic",
                                                   "--standards", d / "std_nolevel.toml"),
     ["std_nolevel.toml", "split"]),
    ("balance-standards-binary", lambda d, o: EQ(d, "schools.csv", "--balance", "basic",
                                                 "--standards", d / "std_binary.toml"),
     ["std_binary.toml"]),
    ("balance-standards-text", lambda d, o: EQ(d, "schools.csv", "--balance", "basic",
                                               "--standards", d / "std_text.toml"),
     ["std_text.toml", "[split] primary", "'x'"]),
    ("balance-standards-nan", lambda d, o: EQ(d, "schools.csv", "--balance", "basic",
                                              "--standards", d / "std_nan.toml"),
     ["std_nan.toml", "cv_max.primary", "nan"]),
    ("balance-standards-negative", lambda d, o: EQ(d, "schools.csv", "--balance", "basic",
                                                   "--standards", d / "std_negative.toml"),
     ["std_negative.toml", "cv_max.primary", "-1"]),
    ("balance-standards-renamed-section", lambda d, o: EQ(d, "schools.csv", "--balance",
                                                          "basic", "--standards",
                                                          d / "std_renamed.toml"),
     ["std_renamed.toml", "[basic] rule"]),
    ("balance-standards-missing", lambda d, o: EQ(d, "schools.csv", "--balance", "basic",
                                                  "--standards", d / "nope.toml"),
     ["nope.toml"]),
    ("balance-id-missing", lambda d, o: EQ(d, "schools.csv", "--balance", "basic", "--id",
                                           "nope"), ["schools.csv", "nope"]),
    ("balance-level-col-missing", lambda d, o: EQ(d, "schools.csv", "--balance", "basic",
                                                  "--level", "nope"), ["schools.csv", "nope"]),
    ("balance-enrolment-col-missing", lambda d, o: EQ(d, "schools.csv", "--balance", "basic",
                                                      "--enrolment", "pupils"),
     ["schools.csv", "pupils"]),
    # report
    ("report-folder-missing", lambda d, o: ["report", d / "nope", "-o", Path(o).with_suffix(
        ".html")], ["nope"]),
    ("report-cells-garbage", lambda d, o: ["report", "--cells", d / "s_garbage.gpkg", "-o",
                                           Path(o).with_suffix(".html")], ["s_garbage.gpkg"]),
    ("report-threshold-nan", lambda d, o: ["report", "--cells", d / "cells.csv", "--threshold",
                                           "nan", "-o", Path(o).with_suffix(".html")],
     ["--threshold", "nan"]),
    ("report-threshold-negative", lambda d, o: ["report", "--cells", d / "cells.csv",
                                                "--threshold", "-3", "-o",
                                                Path(o).with_suffix(".html")], ["--threshold"]),
    ("report-no-input", lambda d, o: ["report", "-o", Path(o).with_suffix(".html")], ["report"]),
    # map
    ("map-schools-missing", lambda d, o: ["map", "--schools", d / "nope.csv", "-o",
                                          Path(o).with_suffix(".html")], ["nope.csv"]),
    ("map-outdir-missing", lambda d, o: ["map", d / "nope", "-o", Path(o).with_suffix(".html")],
     ["nope"]),
    ("map-schools-latin1", lambda d, o: ["map", "--schools", d / "s_latin1.csv", "-o",
                                         Path(o).with_suffix(".html")], ["s_latin1.csv"]),
    ("map-cells-garbage", lambda d, o: ["map", "--cells", d / "s_garbage.gpkg", "-o",
                                        Path(o).with_suffix(".html")], ["s_garbage.gpkg"]),
    ("map-max-cells-negative", lambda d, o: ["map", "--schools", d / "schools.csv",
                                             "--max-vector-cells", "-1", "-o",
                                             Path(o).with_suffix(".html")],
     ["--max-vector-cells"]),
    # site
    ("site-layers-csv", lambda d, o: SITE(d, o, "--problem", "mclp", "--p", "1", "--threshold",
                                          "1000", "--layers", d / "x.csv"), ["x.csv", ".gpkg"]),
    ("site-p-negative", lambda d, o: SITE(d, o, "--problem", "mclp", "--p", "-1",
                                          "--threshold", "1000"), ["--p"]),
    ("site-threshold-nan", lambda d, o: SITE(d, o, "--problem", "mclp", "--p", "1",
                                             "--threshold", "nan"), ["--threshold"]),
    ("site-time-limit-negative", lambda d, o: SITE(d, o, "--problem", "mclp", "--p", "1",
                                                   "--threshold", "1000", "--time-limit", "-1"),
     ["--time-limit"]),
    ("site-sizes-text", lambda d, o: SITE(d, o, "--problem", "gap", "--p", "1", "--threshold",
                                          "1000", "--sizes", "big,small"), ["--sizes"]),
    ("site-demand-col-missing", lambda d, o: ["site", "--demand", d / "cells.csv",
                                              "--demand-id", "cell_id", "--demand-col", "kids",
                                              "--candidates", d / "schools.csv", "--euclidean",
                                              "--problem", "mclp", "--p", "1", "--threshold",
                                              "1000", "-o", o], ["cells.csv", "kids"]),
    ("site-candidate-id-missing", lambda d, o: SITE(d, o, "--problem", "mclp", "--p", "1",
                                                    "--threshold", "1000", "--candidate-id",
                                                    "nope"), ["schools.csv", "nope"]),
    ("site-candidates-1e300-capacity", lambda d, o: [
        "site", "--demand", d / "cells.csv", "--demand-col", "children", "--candidates",
        d / "s_hugeseats.csv", "--candidate-capacity", "seats", "--euclidean", "--problem",
        "gap", "--p", "1", "--threshold", "1000", "-o", o], ["s_hugeseats.csv", "seats"]),
    # districts
    ("districts-evaluate-missing", lambda d, o: DIST(d, o, "evaluate", "--districts",
                                                     d / "nope.geojson"), ["nope.geojson"]),
    ("districts-evaluate-points", lambda d, o: DIST(d, o, "evaluate", "--districts",
                                                    d / "d_points.geojson", "--district-id",
                                                    "name"), ["d_points.geojson", "polygon"]),
    ("districts-evaluate-name-missing", lambda d, o: DIST(d, o, "evaluate", "--districts",
                                                          d / "districts.geojson",
                                                          "--district-id", "nope"),
     ["districts.geojson", "nope"]),
    ("districts-evaluate-threshold-nan", lambda d, o: DIST(d, o, "evaluate", "--districts",
                                                           d / "districts.geojson",
                                                           "--district-id", "name",
                                                           "--threshold", "nan"),
     ["--threshold"]),
    ("districts-compare-dup-names", lambda d, o: DIST(d, o, "compare", "--districts",
                                                      d / "districts.geojson", d / "plan.geojson",
                                                      "--district-id", "name", "--names", "x",
                                                      "x"), ["--names", "x"]),
    ("districts-compare-names-count", lambda d, o: DIST(d, o, "compare", "--districts",
                                                        d / "districts.geojson",
                                                        d / "plan.geojson", "--district-id",
                                                        "name", "--names", "only"), ["--names"]),
    ("districts-propose-tolerance-negative", lambda d, o: DIST(
        d, Path(o).with_suffix(".gpkg"), "propose", "--tolerance", "-0.1"), ["--tolerance"]),
    ("districts-propose-max-increase-nan", lambda d, o: DIST(
        d, Path(o).with_suffix(".gpkg"), "propose", "--max-increase", "nan"),
     ["--max-increase"]),
    ("districts-evaluate-costs-header", lambda d, o: [
        "districts", "evaluate", "--cells", d / "cells.csv", "--cell-id", "cell_id",
        "--children", "children", "--schools", d / "schools.csv", "--school-id", "school_id",
        "--seats", "seats", "--districts", d / "districts.geojson", "--district-id", "name",
        "--threshold", "1000", "--costs", d / "k_header.csv", "-o", o],
     ["k_header.csv", "no rows"]),
]


@pytest.mark.parametrize("build,words", [c[1:] for c in COMMAND_CASES],
                         ids=[c[0] for c in COMMAND_CASES])
def test_command_refusals(d, tmp_path, capsys, build, words):
    assert_refused(capsys, build(d, tmp_path / "out.csv"), *words)


# ------------------------------------------------------------------- scenario files
SCENARIO_CASES = [
    ("run-schools-path-empty-list", dict(schools={"path": "=[]"}), ["path", "str"]),
    ("run-population-path-empty-list", dict(population={"path": "=[]"}), ["population"]),
    ("run-level-university", dict(analysis={"level": "university"}), ["university"]),
    ("run-threshold-nan", dict(analysis={"threshold": "=nan"}), ["threshold", "nan"]),
    ("run-threshold-inf", dict(analysis={"threshold": "=inf"}), ["threshold", "inf"]),
    ("run-threshold-negative", dict(analysis={"threshold": -5}), ["threshold"]),
    ("run-method-unknown", dict(analysis={"method": "3sfca"}), ["method", "3sfca"]),
    ("run-misspelt-key", dict(analysis={"treshold": 1000}), ["treshold", "threshold"]),
    ("run-unknown-section", dict(_raw="[sities]\na = 1\n"), ["sities"]),
    ("run-id-dtype-float", dict(schools={"id_dtype": "float"}), ["id_dtype", "float"]),
    ("run-decay-power-negative", dict(analysis={"method": "gravity", "decay": "power",
                                                "decay_param": -2}), ["decay", "-2"]),
    ("run-child-share-2", dict(population={"child_share": 2}), ["child_share"]),
    ("run-schools-missing", dict(schools={"path": "nope.csv"}), ["nope.csv"]),
    ("run-schools-latin1", dict(schools={"path": "s_latin1.csv", "level": None}),
     ["s_latin1.csv", "utf-8"]),
    ("run-schools-dup-ids", dict(schools={"path": "s_dup.csv"}), ["s_dup.csv", "duplicate"]),
    ("run-districts-name-missing", dict(districts={"name": "nope"}),
     ["districts.geojson", "nope"]),
    ("run-districts-points", dict(districts={"path": "d_points.geojson"}),
     ["d_points.geojson", "polygon"]),
    ("run-costs-header-only", dict(_raw='[network]\ncosts = "k_header.csv"\n'),
     ["k_header.csv", "no rows"]),
    ("run-proposal-named-current", dict(_raw='[[proposals]]\nname = "current"\n'
                                             'path = "plan.geojson"\nname_col = "name"\n'),
     ["proposals", "current"]),
    ("run-proposal-names-repeated", dict(_raw='[[proposals]]\nname = "A"\npath = "plan.geojson"'
                                              '\nname_col = "name"\n[[proposals]]\nname = "A"\n'
                                              'path = "plan.geojson"\nname_col = "name"\n'),
     ["proposals", "'A'"]),
    # names that differ only in punctuation share a file: one proposal_a_b.gpkg silently
    # replaced the other (and 'current!' the current boundaries' proposal_current.gpkg)
    ("run-proposal-names-one-file", dict(_raw='[[proposals]]\nname = "a/b"\npath = "plan.geojson"'
                                              '\nname_col = "name"\n[[proposals]]\nname = "a_b"\n'
                                              'path = "plan.geojson"\nname_col = "name"\n'),
     ["proposals", "'a/b'", "'a_b'", "proposal_a_b.gpkg"]),
    ("run-proposal-name-file-of-current", dict(_raw='[[proposals]]\nname = "current!"\n'
                                                    'path = "plan.geojson"\nname_col = "name"\n'),
     ["proposals", "'current!'", "proposal_current.gpkg"]),
    # plans over time (geoequity.plans): the file, the plan and the key are named
    ("run-plan-school-unknown", dict(_raw='[[plans]]\nname = "A"\n[[plans.expand]]\n'
                                          'school = "ZZ"\nseats = 10\nyear = 2028\n'),
     ["sc_run-plan-school-unknown.toml", "[[plans]] 'A'", "school = 'ZZ'"]),
    ("run-plan-names-repeated", dict(_raw='[[plans]]\nname = "A"\n[[plans]]\nname = "a"\n'),
     ["[[plans]]", "'a'"]),
    ("run-plan-key-misspelt", dict(_raw='[[plans]]\nname = "A"\n[[plans.close]]\n'
                                        'shcool = "x"\nyear = 2028\n'),
     ["[[plans]] 'A' [[plans.close]]", "shcool", "school"]),
    ("run-urban-misspelt", dict(analysis={"urban": "urbn"}), ["urbn"]),
    ("run-districts-type-misspelt", dict(districts={"type": "knd"}), ["knd", "kind"]),
    ("run-crs-web-mercator", dict(analysis={"crs": "EPSG:3857"}), ["EPSG:3857", "stretch"]),
    ("run-crs-garbage", dict(analysis={"crs": "NOTACRS"}), ["NOTACRS"]),
]


def _scenario_args(d, name, spec):
    spec = {k: ({kk: vv for kk, vv in v.items()} if isinstance(v, dict) else v)
            for k, v in spec.items()}
    for sec in ("schools", "population", "districts", "analysis"):
        if isinstance(spec.get(sec), dict):
            for k in [k for k, v in spec[sec].items() if v is None]:
                spec[sec][k] = None
    path = _scenario(d, name, **spec)
    text = Path(path).read_text()
    text = "\n".join(ln for ln in text.splitlines() if not ln.endswith("= null"))
    Path(path).write_text(text + "\n")
    return ["run", path]


@pytest.mark.parametrize("spec,words", [c[1:] for c in SCENARIO_CASES],
                         ids=[c[0] for c in SCENARIO_CASES])
def test_scenario_refusals(d, capsys, request, spec, words):
    name = request.node.callspec.id
    assert_refused(capsys, _scenario_args(d, name, spec), *words)
    assert not (d / f"out_{name}").exists()


def test_scenario_bad_toml_and_encoding(d, capsys):
    (d / "sc_syntax.toml").write_text("[schools\npath = 'x'\n")
    assert_refused(capsys, ["run", d / "sc_syntax.toml"], "sc_syntax.toml", "toml")
    (d / "sc_binary.toml").write_bytes(b"\xff\xfe[schools]\x00")
    assert_refused(capsys, ["run", d / "sc_binary.toml"], "sc_binary.toml", "utf-8")
    assert_refused(capsys, ["run", d / "sc_nope.toml"], "sc_nope.toml")


# ------------------------------------------------------------------- correct results
def _read_text_table(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_ids_come_back_exactly_as_written(d, tmp_path, capsys):
    out = tmp_path / "a.csv"
    rc, _, err = cli(capsys, *ACC(d, more=["--costs", d / "costs.csv", "--method", "nearest",
                                           "--threshold", "900", "-o", out]))
    assert rc == 0, err
    t = _read_text_table(out)
    assert t["cell_id"].tolist() == CELL_IDS
    # costs.csv: cell i reaches 0014 at 300 + 300 i (hand-made); the last cell only at 1200
    assert t["nearest_id"].tolist() == ["0014", "0014", "0014", ""]
    assert t["nearest_cost"].tolist() == ["300.0", "600.0", "900.0", ""]


def test_ids_exact_through_a_whole_run(d, capsys):
    path = _scenario(d, "ids", analysis={"threshold": 2000, "method": "nearest"})
    rc, _, err = cli(capsys, "run", path)
    assert rc == 0, err
    out = d / "out_ids"
    cells = _read_text_table(out / "cells.csv")
    assert cells["cell_id"].tolist() == CELL_IDS
    assert set(cells["nearest_id"]) <= set(SCHOOL_IDS)
    schools = _read_text_table(out / "schools.csv")
    assert schools["school_id"].tolist() == SCHOOL_IDS
    gpkg = gpd.read_file(out / "cells.gpkg")
    assert gpkg["cell_id"].tolist() == CELL_IDS
    html = (out / "map.html").read_text()
    assert "060816013.00" in html and "0014" in html


@pytest.mark.parametrize("how", ["api", "cli", "scenario"])
def test_id_dtype_int_parity(d, tmp_path, capsys, how):
    """id_dtype='int' turns 0014 into 14 the same way in the API, the CLI and a scenario."""
    import geoequity as ge

    if how == "api":
        ids = ge.read_schools(d / "schools.csv", id_col="school_id", seats_col="seats",
                              id_dtype="int").index.tolist()
    elif how == "cli":
        out = tmp_path / "c.csv"
        rc, _, err = cli(capsys, *COSTS(d, out, "--euclidean", "--id-dtype", "int"))
        assert rc == 0, err
        ids = sorted(set(pd.read_csv(out)["destination"]))
    else:
        path = _scenario(d, "idint", schools={"id_dtype": "int", "level": None},
                         analysis={"threshold": 2000})
        Path(path).write_text("\n".join(ln for ln in Path(path).read_text().splitlines()
                                        if "= null" not in ln) + "\n")
        rc, _, err = cli(capsys, "run", path)
        assert rc == 0, err
        ids = pd.read_csv(d / "out_idint" / "schools.csv")["school_id"].tolist()
    assert ids == [14, 15, 16]


def test_int_ids_of_typed_files_stay_integers(d, tmp_path):
    import geoequity as ge

    gdf = gpd.GeoDataFrame({"sid": [14, 15], "seats": [1.0, 2.0]},
                           geometry=gpd.points_from_xy([LON, LON + 0.01], [LAT, LAT]), crs=4326)
    gdf.to_file(tmp_path / "s.gpkg")
    s = ge.read_schools(tmp_path / "s.gpkg", id_col="sid", seats_col="seats")
    assert s.index.tolist() == [14, 15] and pd.api.types.is_integer_dtype(s.index.dtype)
    s = ge.read_schools(tmp_path / "s.gpkg", id_col="sid", seats_col="seats", id_dtype="str")
    assert s.index.tolist() == ["14", "15"]


def _access(capsys, d, tmp_path, *more, cells="cells.csv", schools="schools.csv"):
    out = tmp_path / f"a{len(list(tmp_path.iterdir()))}.csv"
    rc, _, err = cli(capsys, *ACC(d, schools, cells, more=[*EUC, *more, "-o", out]))
    assert rc == 0, err
    return pd.read_csv(out, dtype={"cell_id": str})


def test_input_crs_leaves_lonlat_csv_and_files_with_a_crs_alone(d, tmp_path, capsys):
    plain = _access(capsys, d, tmp_path)
    # Two cells reach two schools within 1000 m (straight line), one cell none: the result has
    # access for the first three cells and none for the far one (at ~2.8 km).
    assert plain["access"].notna().tolist() == [True, True, True, False]
    declared = _access(capsys, d, tmp_path, "--input-crs", "EPSG:32650")
    pd.testing.assert_frame_equal(plain, declared)
    gpd.GeoDataFrame(_schools(), geometry=gpd.points_from_xy(_schools().lon, _schools().lat),
                     crs=4326).to_crs(32650).to_file(tmp_path / "s.gpkg")
    # a file that carries its CRS keeps it under a declaration meant for files without one
    from_gpkg = _access(capsys, d, tmp_path, "--input-crs", "EPSG:4490",
                        schools=tmp_path / "s.gpkg")
    np.testing.assert_allclose(from_gpkg["access"], plain["access"], rtol=1e-9)


def test_gbk_csv_still_read_as_gb18030(d):
    import geoequity as ge

    s = ge.read_schools(d / "s_gbk.csv", id_col="school_id", seats_col="seats")
    assert s["name"].tolist() == ["城关第一小学", "老城中心小学"]
    assert s.index.tolist() == ["0014", "0015"]


def test_json_never_prints_infinity(d, capsys):
    rc, out, err = cli(capsys, *EQ(d, "e_vals.csv", "--value", "v", "--json"))
    assert rc == 0, err

    def refuse(token):
        raise AssertionError(f"{token} in JSON")

    data = json.loads(out, parse_constant=refuse)
    assert data["max_min_ratio"] is None        # min is 0: 5 / 0 has no finite value
    assert data["max"] == 5.0 and data["min"] == 0.0


def test_full_disk_while_writing_a_geopackage(d, tmp_path, capsys, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gpd.GeoDataFrame, "to_file", full)
    out = tmp_path / "gaps.gpkg"
    msg = assert_refused(capsys, ["gaps", *ACC(d, more=EUC)[1:], "-o", out], "gaps.gpkg",
                         "no space left")
    assert "Traceback" not in msg and not out.exists()


def test_gdal_write_failure_is_one_line(d, tmp_path, capsys, monkeypatch):
    import pyogrio

    def broken(*args, **kwargs):
        raise pyogrio.errors.DataSourceError("sqlite3_exec(CREATE TABLE) failed: disk I/O error")

    monkeypatch.setattr(gpd.GeoDataFrame, "to_file", broken)
    assert_refused(capsys, [*ACC(d, more=EUC), "-o", tmp_path / "a.gpkg"], "a.gpkg", "disk")


def test_library_warnings_never_precede_the_error(d, tmp_path, capsys, monkeypatch):
    import warnings

    import geoequity.io.vector as vector

    real = vector.clean_geometries

    def noisy(gdf, source):
        warnings.warn("a pandas-style FutureWarning", FutureWarning, stacklevel=1)
        import logging

        logging.getLogger("absl").warning("OR-tools says hello")
        return real(gdf, source)

    monkeypatch.setattr(vector, "clean_geometries", noisy)
    assert_refused(capsys, ACC(d, "s_dup.csv", more=[*EUC, "-o", tmp_path / "a.csv"]),
                   "duplicate")
    # on success the held-back warnings come after the work, once each, as notes
    rc = main([*map(str, ACC(d, more=[*EUC, "-o", tmp_path / "b.csv"]))])
    err = capsys.readouterr().err
    assert rc == 0
    assert err.count("note: FutureWarning: a pandas-style FutureWarning") == 1
    assert err.count("note: absl: OR-tools says hello") == 1
    assert err.rstrip().splitlines()[-1].startswith("note: ")


SUBPROCESS_CASES = [
    lambda d, o: ACC(d, more=["--costs", d / "k_header.csv", "--method", "nearest",
                              "--threshold", "900", "-o", o]),
    lambda d, o: EQ(d, "pop.tif", "--value", "x"),
    lambda d, o: ACC(d, more=[*EUC, "--crs", "NOTACRS", "-o", o]),
    lambda d, o: SITE(d, o, "--problem", "mclp", "--p", "1", "--threshold", "1000", "--layers",
                      d / "x.csv"),
    lambda d, o: ACC(d, "s_latin1.csv", more=[*EUC, "-o", o]),
    lambda d, o: ["access", "--threshold"],
]


@pytest.mark.parametrize("build", SUBPROCESS_CASES, ids=[
    "costs-header", "equity-raster", "crs", "site-layers", "latin1", "usage"])
def test_no_traceback_or_warning_reaches_stderr(d, tmp_path, build):
    argv = [str(a) for a in build(d, tmp_path / "o.csv")]
    r = subprocess.run([sys.executable, "-m", "geoequity", "--quiet", *argv],
                       capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("geoequity: error: "), r.stderr


def test_every_csv_reader_decodes_alike(tmp_path):
    """One decoding rule (io.text.read_csv_text) behind the layer, table, forecast and checklist
    readers: GBK text is read, Latin-1 text is refused naming its line."""
    from geoequity._errors import GeoequityError
    from geoequity.checklist import read_text_table
    from geoequity.forecast._inputs import read_table
    from geoequity.io.tables import read_attributes

    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("school,value\n城关小学,12\n".encode("gb18030"))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("school,value\nok,1\nSão José,12\n".encode("latin-1"))
    readers = [lambda p: read_text_table(p, "school,value"), lambda p: read_table(p)[0],
               read_attributes]
    for read in readers:
        assert read(gbk)["school"].tolist() == ["城关小学"]
        with pytest.raises(GeoequityError, match="line 3"):
            read(latin)
