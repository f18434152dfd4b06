"""``geoequity site -o`` writes where the chosen sites are (lon, lat and a GeoPackage beside
the table), and ``--candidates generate --min-spacing M`` generates candidates by the API's
rule (issue #16, item 1)."""

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from geoequity.cli import main
from geoequity.siting import generate_candidates

UTM = "EPSG:32633"   # metres; the layers below are written in it, read back in lon/lat
TO_WGS = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)


def _points(path, ids, xy, **cols):
    gdf = gpd.GeoDataFrame({"id": ids, **cols}, geometry=shapely.points(xy), crs=UTM)
    gdf.to_file(path, driver="GPKG")
    return path


def site(demand, *args):
    """``geoequity site`` on the demand layer's ``kids`` (with ``-q`` first when given)."""
    quiet = ["-q"] if args[:1] == ("-q",) else []
    return main([*quiet, "site", "--demand", str(demand), "--demand-id", "id",
                 "--demand-col", "kids", *args[len(quiet):]])


@pytest.fixture()
def line(tmp_path):
    """Children at x = 0, 100 and 2,000 m (10, 10 and 50 of them) on a line at y = 5,500 km;
    candidates A at x = 50 and B at x = 2,000."""
    demand = _points(tmp_path / "demand.gpkg", ["d0", "d1", "d2"],
                     [(500_000, 5_500_000), (500_100, 5_500_000), (502_000, 5_500_000)],
                     kids=[10.0, 10.0, 50.0])
    cands = _points(tmp_path / "cands.gpkg", ["A", "B"],
                    [(500_050, 5_500_000), (502_000, 5_500_000)], label=["west", "east"])
    return tmp_path, demand, cands


def test_site_csv_has_the_chosen_sites_lon_lat_and_a_geopackage_beside_it(line):
    tmp, demand, cands = line
    out = tmp / "sites.csv"
    # one site covering the most children within 500 m: B (50 children) beats A (20)
    assert site(demand, "-q", "--candidates", str(cands), "--candidate-id", "id",
                "--euclidean", "--problem", "mclp", "--p", "1", "--threshold", "500",
                "-o", str(out)) == 0
    sites = pd.read_csv(out)
    lon, lat = TO_WGS.transform(502_000, 5_500_000)
    assert sites["site"].tolist() == ["B"]
    assert sites.loc[0, "lon"] == pytest.approx(lon, abs=1e-7)
    assert sites.loc[0, "lat"] == pytest.approx(lat, abs=1e-7)
    assert sites.loc[0, "label"] == "east"          # the candidate file's own columns
    assert sites.loc[0, "children_newly_covered"] == pytest.approx(50.0)
    gpkg = gpd.read_file(tmp / "sites.gpkg")
    assert gpkg["site"].tolist() == ["B"]
    p = gpkg.to_crs(UTM).geometry.iloc[0]
    assert (p.x, p.y) == pytest.approx((502_000, 5_500_000), abs=1e-3)
    assert gpkg.loc[0, "lon"] == pytest.approx(lon, abs=1e-7)


def test_site_geojson_output_is_the_sites_alone(line):
    tmp, demand, cands = line
    out = tmp / "sites.geojson"
    assert site(demand, "-q", "--candidates", str(cands), "--candidate-id", "id",
                "--euclidean", "--problem", "mclp", "--p", "1", "--threshold", "500",
                "-o", str(out)) == 0
    got = gpd.read_file(out)
    lon, lat = TO_WGS.transform(502_000, 5_500_000)
    assert (got.geometry.iloc[0].x, got.geometry.iloc[0].y) == pytest.approx((lon, lat))
    assert not (tmp / "sites.gpkg").exists()   # a GeoPackage only beside .csv / .parquet


def test_site_generates_candidates_with_the_api_rule(line):
    tmp, demand, _ = line
    out = tmp / "gen.csv"
    # priorities within 500 m: d0 20, d1 20, d2 50 -> cand_0 at d2, cand_1 at d0 (d1 lies
    # 100 m from d0, closer than the spacing); one site within 500 m covers most at cand_0
    assert site(demand, "-q", "--candidates", "generate", "--min-spacing", "500",
                "--euclidean", "--problem", "mclp", "--p", "1", "--threshold", "500",
                "-o", str(out)) == 0
    sites = pd.read_csv(out)
    lon, lat = TO_WGS.transform(502_000, 5_500_000)
    assert sites["site"].tolist() == ["cand_0"]
    assert sites.loc[0, "priority"] == pytest.approx(50.0)
    assert (sites.loc[0, "lon"], sites.loc[0, "lat"]) == pytest.approx((lon, lat), abs=1e-7)
    # the API on the same layer: the same candidates (ids, places, priorities)
    cells = gpd.read_file(demand).set_index("id")
    api = generate_candidates(cells, min_spacing=500, weight="kids")
    assert api["candidate"].tolist() == ["cand_0", "cand_1"]
    assert [(p.x, p.y) for p in api.geometry] == [(502_000, 5_500_000), (500_000, 5_500_000)]
    assert api["priority"].tolist() == [50.0, 20.0]


def test_site_generate_max_candidates_keeps_the_first(line):
    tmp, demand, _ = line
    out = tmp / "one.csv"
    # only cand_0 (x = 2,000) is kept: the p-median with one site must take it
    assert site(demand, "-q", "--candidates", "generate", "--min-spacing", "500",
                "--max-candidates", "1", "--euclidean", "--problem", "pmedian", "--p", "1",
                "-o", str(out)) == 0
    assert pd.read_csv(out)["site"].tolist() == ["cand_0"]


@pytest.mark.parametrize("extra, says", [
    ([], "--candidates generate: needs --min-spacing"),
    (["--min-spacing", "500", "--candidate-id", "id"], "--candidate-id: names a column"),
    (["--min-spacing", "500", "--max-candidates", "0"], "--max-candidates: must be at least 1"),
])
def test_site_generate_refuses_incomplete_flags(line, capsys, extra, says):
    tmp, demand, _ = line
    status = site(demand, "--candidates", "generate", *extra, "--euclidean",
                  "--problem", "pmedian", "--p", "1", "-o", str(tmp / "x.csv"))
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert err[-1].startswith(f"geoequity: error: {says}"), err
    assert "Traceback" not in "\n".join(err)
    assert not (tmp / "x.csv").exists()


def test_site_min_spacing_needs_generate(line, capsys):
    tmp, demand, cands = line
    status = site(demand, "--candidates", str(cands), "--candidate-id", "id",
                  "--min-spacing", "500", "--euclidean", "--problem", "pmedian", "--p", "1",
                  "-o", str(tmp / "x.csv"))
    assert status == 2
    assert "--min-spacing: applies only to --candidates generate" in capsys.readouterr().err


def test_site_refuses_a_gpkg_beside_that_is_an_input(line, capsys):
    tmp, demand, cands = line
    # -o demand.csv would write demand.gpkg beside it: the demand file itself
    status = site(demand, "--candidates", str(cands), "--candidate-id", "id", "--euclidean",
                  "--problem", "pmedian", "--p", "1", "-o", str(tmp / "demand.csv"))
    assert status == 2
    assert "sites GeoPackage" in capsys.readouterr().err
    assert not (tmp / "demand.csv").exists()
