"""The embedded demo: its committed inputs are what geoequity.demo writes, and a run shows
the three problems it was built to show."""

import json

import geopandas as gpd
import pandas as pd
import pytest
import rasterio

from geoequity.cli import main
from geoequity.demo import make_demo
from tests.conftest import REPO

DATA = REPO / "data"


def test_committed_demo_inputs_are_the_generators_output(tmp_path):
    """`geoequity demo --regenerate` writes the committed files byte for byte."""
    make_demo(tmp_path)
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert {p.relative_to(tmp_path).as_posix() for p in files} >= {
        "demo.toml", "demo/schools.csv", "demo/districts.geojson", "demo/residents.tif",
        "demo/streets.gpkg"}
    for f in files:
        rel = f.relative_to(tmp_path)
        assert f.read_bytes() == (DATA / rel).read_bytes(), rel


def test_demo_county_is_what_the_docs_say():
    schools = pd.read_csv(DATA / "demo/schools.csv")
    districts = gpd.read_file(DATA / "demo/districts.geojson")
    assert 4 <= len(districts) <= 8
    assert schools["school_id"].is_unique
    for col in ("seats", "level", "teachers", "floor_area_m2", "funding_yuan"):
        assert col in schools
    with rasterio.open(DATA / "demo/residents.tif") as src:
        assert src.res == (100.0, 100.0)  # a grid of about 100 m cells


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    status = main(["-q", "demo", "--out", str(out / "out"), "--map", str(out / "demo.html")])
    assert status == 0
    return out


def test_demo_writes_map_tables_and_report(demo_run):
    for name in ("cells.gpkg", "cells.csv", "schools.csv", "districts.csv", "summary.json",
                 "equity.csv"):
        assert (demo_run / "out" / name).exists(), name
    assert (demo_run / "demo.html").stat().st_size > 10_000


def test_demo_shows_the_problems_it_was_built_for(demo_run):
    d = pd.read_csv(demo_run / "out/districts.csv").set_index("district")
    s = pd.read_csv(demo_run / "out/schools.csv").set_index("school_id")
    real = d.drop(index="(all)")
    # a suburban seat shortfall: the new town has the fewest seats per child, far below 1
    assert real["seats_per_child"].idxmin() == "Dongxin"
    assert real.loc["Dongxin", "seats_per_child"] < 0.4
    assert real.loc["Dongxin", "unassigned"] > 1000
    # long rural trips: most rural children live beyond the walking threshold
    for rural in ("Nanhu", "Xishan"):
        assert real.loc[rural, "share_beyond"] > 0.5
    assert real.loc["Chengguan", "share_beyond"] < 0.2
    # an under-used urban school in the old town
    assert s.loc["P02", "utilisation"] < 0.6
    assert s.loc[s["district"] == "Chengguan", "utilisation"].drop("P02").min() > 0.9
    summary = json.loads((demo_run / "out/summary.json").read_text())
    assert summary["children"] == pytest.approx(real["children"].sum())

