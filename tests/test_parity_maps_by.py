"""One question, one answer: ``maps_by`` (a province overview and a map per county) means the
same through the API (``run_scenario(..., maps_by=)``), the CLI (``geoequity run --maps-by``)
and a scenario (``[outputs] maps_by``): the same value reaches the run's outputs, a flag or
argument overrides the file, and a bad column is refused by every door in its own spelling.

The run is stopped before it reads its inputs (what the map set draws is
tests/test_county_maps.py's subject), so these tests are quick.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import geoequity as ge
import geoequity.scenario as sc
from geoequity.cli import main

from _cases import StopRun, demo_scenario


@pytest.fixture()
def recorded(monkeypatch):
    seen = []

    def stop(scenario, **_):   # (points=: a cluster run's client)
        seen.append(scenario.outputs.get("maps_by"))
        raise StopRun("stopped before the inputs")

    monkeypatch.setattr(sc, "read_inputs", stop)
    return seen


def _scenario(tmp_path: Path, outputs: str = "") -> Path:
    return demo_scenario(tmp_path, outputs=outputs)


CASES = [   # (what the file says, what the flag/argument says, the value expected)
    ("", None, None),
    ('maps_by = "type"', None, "type"),
    ("", "districts", "districts"),
    ("", "type", "type"),
    ('maps_by = "type"', "districts", "districts"),
    ('maps_by = "districts"', "type", "type"),
]


@pytest.mark.parametrize(("file_key", "given", "expected"), CASES)
@pytest.mark.parametrize("door", ["api", "cli"])
def test_same_value_reaches_the_outputs(recorded, tmp_path, door, file_key, given, expected):
    path = _scenario(tmp_path, file_key)
    if door == "api":
        with pytest.raises(StopRun):
            ge.run_scenario(path, **({"maps_by": given} if given else {}))
    else:
        assert main(["run", str(path)] + (["--maps-by", given] if given else [])) == 2
    assert recorded == [expected]


@pytest.mark.parametrize(("door", "spelled"), [
    ("api", "maps_by='county': the districts layer"),
    ("cli", "--maps-by county: the districts layer"),
    ("scenario", '[outputs] maps_by = "county": the districts layer'),
])
def test_bad_column_spelled_per_door(recorded, tmp_path, refusal, door, spelled):
    msg = refusal(door, _scenario(tmp_path), api={"maps_by": "county"},
                  cli=["--maps-by", "county"],
                  scenario=door == "scenario" and _scenario(tmp_path, 'maps_by = "county"'))
    assert f"{tmp_path / 's.toml'}: {spelled}" in msg
    assert "has no column 'county'; use \"districts\" or one of its columns (district, type)" \
        in msg
    assert recorded == []
    assert not (tmp_path / "out").exists()


def test_without_districts_refused(recorded, tmp_path):
    text = _scenario(tmp_path).read_text(encoding="utf-8")
    start = text.index("[districts]")
    text = text[:start] + text[text.index("[network]"):]
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ge.InputError, match=r"maps_by='districts' needs a districts layer; "
                                            r"add \[districts\]"):
        ge.run_scenario(path, maps_by="districts")
    assert recorded == []


def test_maps_by_is_a_known_scenario_key(tmp_path):
    s = sc.load_scenario(_scenario(tmp_path, 'maps_by = "type"'))
    assert s.outputs["maps_by"] == "type"
    with pytest.raises(ge.InputError, match="maps_by"):
        sc.load_scenario(_scenario(tmp_path, "maps_by = 3"))


def test_map_beside_a_folder_not_ours_refused_before_the_run(recorded, tmp_path):
    """map = "<dir>.html" next to a folder geoequity did not write (here an input folder):
    refused before any input is read, the folder untouched."""
    inputs = tmp_path / "data"
    inputs.mkdir()
    (inputs / "keep.csv").write_text("a\n1\n", encoding="utf-8")
    with pytest.raises(ge.InputError, match="is a folder geoequity did not write"):
        ge.run_scenario(_scenario(tmp_path), maps_by="type", map_path=tmp_path / "data.html")
    assert recorded == []
    assert sorted(p.name for p in inputs.iterdir()) == ["keep.csv"]
    assert not (tmp_path / "out").exists()
