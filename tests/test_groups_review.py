"""A district group refused before any work, with the scenario's name: a column the run
gives every cell (``district``), and a district (in several pieces) given two counties,
whose cells' county would otherwise depend on the row order."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

import geoequity as ge
from geoequity.pipeline import district_groups

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo.toml"


def _scenario(tmp_path: Path, counties: list, extra_row: str | None = None) -> Path:
    d = gpd.read_file(DEMO.parent / "demo" / "districts.geojson")
    d["county"] = counties
    if extra_row is not None:   # Chengguan again (a second piece) in another county
        d = pd.concat([d, d.iloc[[0]].assign(county=extra_row)], ignore_index=True)
    d.to_file(tmp_path / "districts.geojson", driver="GeoJSON")
    text = DEMO.read_text(encoding="utf-8").replace('"demo/', f'"{DEMO.parent}/demo/')
    text = text.replace(f'"{DEMO.parent}/demo/districts.geojson"',
                        f'"{tmp_path / "districts.geojson"}"')
    text = text.replace('folder = "../out/demo"', f'folder = "{tmp_path / "out"}"')
    text = text.replace('map = "../maps/demo.html"', f'map = "{tmp_path / "m.html"}"')
    (tmp_path / "s.toml").write_text(text, encoding="utf-8")
    return tmp_path / "s.toml"


def _cli(path: Path, *args: str, capsys) -> str:
    from geoequity.cli import main

    assert main(["run", str(path), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    return err[-1]


def test_group_named_district_refused_with_the_file_before_any_work(tmp_path, capsys):
    path = _scenario(tmp_path, ["A", "A", "B", "B", "C", "C"])
    last = _cli(path, "--district-group", "district", capsys=capsys)
    assert last.startswith(f"geoequity: error: {path}: ") and "'district'" in last
    assert not (tmp_path / "out").exists()   # nothing computed nor written
    with pytest.raises(ge.InputError, match=f"^{path}: .*'district'"):
        ge.run_scenario(path, district_group="district")


def test_district_in_two_counties_refused(tmp_path, capsys):
    path = _scenario(tmp_path, ["A", "A", "B", "B", "C", "C"], extra_row="Z")
    last = _cli(path, "--district-group", "county", capsys=capsys)
    assert last.startswith(f"geoequity: error: {path}: ")
    assert "'Chengguan'" in last and "A, Z" in last
    with pytest.raises(ge.InputError, match="Chengguan"):
        ge.run_scenario(path, district_group="county")
    # the API door: the same rule, one line instead of pandas' InvalidIndexError
    districts = pd.DataFrame({"district": ["d1", "d1", "d2"], "county": ["A", "B", "B"]})
    with pytest.raises(ge.InputError, match="'d1' is in more than one county"):
        district_groups(pd.Series(["d1", "d2"]), districts, "county")
    # pieces that agree are one district
    agree = pd.DataFrame({"district": ["d1", "d1", "d2"], "county": ["A", "A", None]})
    assert district_groups(pd.Series(["d1", "d2", "d9"]), agree, "county").tolist() == [
        "A", "(outside)", "(outside)"]


def test_all_zero_population_is_one_line_naming_the_layer(tmp_path, capsys):
    """Every cell 0: the run names the population layer (it said "demand: there are no
    children at all; check the demand column", a column the scenario has not)."""
    import rasterio

    path = _scenario(tmp_path, ["A", "A", "B", "B", "C", "C"])
    with rasterio.open(DEMO.parent / "demo" / "residents.tif") as src:
        profile, data = src.profile, src.read()
    with rasterio.open(tmp_path / "zero.tif", "w", **profile) as dst:
        dst.write(data * 0)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(f'"{DEMO.parent}/demo/residents.tif"',
                                 f'"{tmp_path / "zero.tif"}"'), encoding="utf-8")
    last = _cli(path, "--assignment-mode", "decomposed", capsys=capsys)
    assert last.startswith(f"geoequity: error: {tmp_path / 'zero.tif'}: has no children")
    assert not (tmp_path / "out").exists()


def test_cluster_partition_column_with_a_missing_value_refused_before_the_cluster(tmp_path):
    """A cluster partitions by the districts layer dissolved by the column: a district with
    no county is in no partition. Refused naming the scenario and the partition as given
    (here the argument) before a cluster starts
    (it was refused after the cluster had started, as "give every district a name")."""
    path = _scenario(tmp_path, ["A", "A", "B", "B", None, "C"])
    with pytest.raises(ge.InputError, match=(f"^{path}: partition='county': "   # as given
                                             "the district in row 5 .* has no 'county'")):
        ge.run_scenario(path, workers=1, partition="county")
    assert not (tmp_path / "out").exists()


def test_in_process_partition_column_checked_before_any_work(tmp_path, capsys):
    """In process the partition names the decomposed assignment's parts (and the default
    district group): a column the layer lacks is refused naming the scenario and the
    partition as given (--partition), before any work (it stopped after the travel costs, as
    "[districts] group: ...", a key the scenario does not have, without the file)."""
    path = _scenario(tmp_path, ["A", "A", "B", "B", None, "C"])
    last = _cli(path, "--assignment-mode", "decomposed", "--partition", "nosuch",
                capsys=capsys)
    assert last.startswith(f"geoequity: error: {path}: --partition nosuch: ")   # the flag
    assert "has no column 'nosuch'" in last
    assert not (tmp_path / "out").exists()


def test_integer_county_codes_keep_their_spelling_beside_a_missing_one(tmp_path):
    """County codes 3301, 3302 with one district lacking a code: the layer reads them as
    floats; the groups are "3301", not "3301.0" (equity.csv, the report)."""
    d = gpd.read_file(DEMO.parent / "demo" / "districts.geojson")
    d["county"] = [3301, 3301, 3302, 3302, None, 3303]
    d.to_file(tmp_path / "d.geojson", driver="GeoJSON")
    layer = gpd.read_file(tmp_path / "d.geojson")
    cells = pd.Series(["Chengguan", "Xishan", "Nanhu", "Hedong", "nowhere"])
    assert district_groups(cells, layer, "county").tolist() == [
        "3301", "3302", "(outside)", "3303", "(outside)"]
    halves = pd.DataFrame({"district": ["a", "b"], "county": [1.5, None]})
    assert district_groups(pd.Series(["a", "b"]), halves, "county").tolist() == [
        "1.5", "(outside)"]


def test_report_numbers_keep_the_sign_of_an_infinity():
    """-inf is "-∞" in the reports' number formats, not "∞" (its opposite)."""
    from geoequity.report_format import fixed, number

    assert number(float("-inf")) == "-∞" and fixed(float("-inf"), 2) == "-∞"
    assert number(float("inf")) == "∞" and fixed(float("inf"), 1) == "∞"


@pytest.mark.parametrize("column", ["population", "row"])
def test_group_named_like_a_column_of_the_cells_refused(tmp_path, capsys, column):
    """A districts column named population (or row ...) as the group overwrote the cells'
    own column: population 3.2 became the district's 100 and the cell's urban class changed.
    Refused before any work (scenario) and in analyse (any cell column)."""
    path = _scenario(tmp_path, ["A", "A", "B", "B", "C", "C"])
    d = gpd.read_file(tmp_path / "districts.geojson")
    d[column] = [100, 100, 200, 200, 300, 300]
    d.to_file(tmp_path / "districts.geojson", driver="GeoJSON")
    last = _cli(path, "--district-group", column, capsys=capsys)
    assert last.startswith(f"geoequity: error: {path}: ") and f"'{column}'" in last
    assert not (tmp_path / "out").exists()


def test_analyse_refuses_a_group_the_cells_already_have():
    from shapely.geometry import Point

    from geoequity.pipeline import analyse

    cells = gpd.GeoDataFrame({"children": [1.0], "pop_note": ["x"]},
                             geometry=[Point(0, 0)], crs=3857)
    schools = gpd.GeoDataFrame({"seats": [1.0]}, geometry=[Point(10, 0)], crs=3857,
                               index=pd.Index(["s"]))
    districts = gpd.GeoDataFrame({"district": ["d"], "pop_note": ["y"]},
                                 geometry=[Point(0, 0).buffer(100)], crs=3857)
    costs = pd.DataFrame({"origin": [0], "destination": ["s"], "cost": [10.0]})
    with pytest.raises(ge.InputError, match="'pop_note' is a column the cells have"):
        analyse(cells, schools, costs, threshold=100, districts=districts,
                district_group="pop_note")


def test_default_group_from_the_partition_checked_before_any_work(tmp_path, capsys,
                                                                   monkeypatch):
    """A run partitioned by a column groups the districts by it ([districts] group's default):
    a district in two counties of that column is refused up front, naming the file and the
    partition option the user wrote, here --partition (it came late before, from the pipeline,
    after the costs)."""
    import geoequity.scenario as sc

    def no_work(scenario, **_):
        raise AssertionError("the inputs were read before the check")

    monkeypatch.setattr(sc, "read_inputs", no_work)
    path = _scenario(tmp_path, ["A", "A", "B", "B", "C", "C"], extra_row="Z")
    last = _cli(path, "--partition", "county", capsys=capsys)
    assert last.startswith(f"geoequity: error: {path}: --partition county (it "
                           "groups the districts by default; set [districts] group to choose "
                           "another column): ")
    assert "'Chengguan'" in last and "A, Z" in last
    assert not (tmp_path / "out").exists()
    # a loaded scenario run as it is (geoequity.scenario.run) checks it too
    path.write_text(path.read_text(encoding="utf-8") + '\n[compute]\npartition = "county"\n',
                    encoding="utf-8")
    with pytest.raises(ge.InputError, match=f"^{path}: partition='county' .*'Chengguan'"):
        sc.run(sc.load_scenario(path))


def test_partition_by_the_district_name_column_is_no_group(tmp_path):
    """Partitioned by the districts' own name column, each district is its own part: no
    group is defaulted from it (it was refused as 'a column the run gives every cell')."""
    import geoequity.scenario as sc

    path = _scenario(tmp_path, ["A", "A", "B", "B", "C", "C"])
    path.write_text(path.read_text(encoding="utf-8") + '\n[compute]\npartition = "district"\n',
                    encoding="utf-8")
    s = sc.load_scenario(path)
    assert s.compute.partition == "district"
    assert sc.district_group(s) is None
    sc.check_district_group(s)   # nothing to refuse
    path.write_text(path.read_text(encoding="utf-8").replace('partition = "district"',
                                                            'partition = "county"'),
                    encoding="utf-8")
    assert sc.district_group(sc.load_scenario(path)) == "county"
