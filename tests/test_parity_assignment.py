"""One question, one answer: the assignment mode (``[compute] assignment_mode``,
``--assignment-mode``, ``run_scenario(assignment_mode=)``) and the district group
(``[districts] group``, ``--district-group``, ``run_scenario(district_group=)``) reach the
pipeline the same way through every door, a flag or argument overrides the file, and a bad
value is refused by every door in its own spelling, before anything is written.

The pipeline is replaced by a recorder (what the options do is tested in
tests/test_assignment_decomposed.py and tests/test_equity_groups.py)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest

import geoequity as ge
import geoequity.pipeline as gp
import geoequity.scenario as sc
from geoequity.cli import main

from _cases import DEMO, StopRun, demo_scenario


@pytest.fixture()
def recorded(monkeypatch):
    seen = []

    def fake_analyse(cells, schools, costs, **kwargs):
        seen.append({k: kwargs.get(k) for k in ("assignment_mode", "partition",
                                                 "district_group")})
        raise StopRun("stopped at the pipeline")

    monkeypatch.setattr(gp, "analyse", fake_analyse)
    monkeypatch.setattr(sc, "build_costs", lambda *a, **k: None)
    return seen


def _scenario(tmp_path: Path, extra: str = "", districts: str = "") -> Path:
    d = gpd.read_file(DEMO.parent / "demo" / "districts.geojson")
    d["county"] = ["North", "North", "North", "South", "South", "South"]
    d.to_file(tmp_path / "districts.geojson", driver="GeoJSON")
    return demo_scenario(tmp_path, extra, district_keys=districts,
                         districts=tmp_path / "districts.geojson")


def _via(door, path, **given):
    if door == "api":
        with pytest.raises(StopRun):
            ge.run_scenario(path, **given)
    else:
        argv = ["run", str(path)]
        for k, v in given.items():
            argv += [f"--{k.replace('_', '-')}", str(v)]
        assert main(argv) == 2


CASES = [   # (extra file text, [districts] keys, flags/arguments, what the pipeline gets)
    ("", "", {}, {"assignment_mode": "auto", "partition": None, "district_group": None}),
    ('[compute]\nassignment_mode = "decomposed"\n', "", {},
     {"assignment_mode": "decomposed", "partition": None, "district_group": None}),
    ('[compute]\nassignment_mode = "decomposed"\n', "", {"assignment_mode": "exact"},
     {"assignment_mode": "exact", "partition": None, "district_group": None}),
    ("", "", {"assignment_mode": "decomposed", "partition": 4000},
     {"assignment_mode": "decomposed", "partition": 4000.0, "district_group": None}),
    ("", 'group = "county"\n', {},
     {"assignment_mode": "auto", "partition": None, "district_group": "county"}),
    ("", "", {"district_group": "county"},
     {"assignment_mode": "auto", "partition": None, "district_group": "county"}),
    ("", 'group = "type"\n', {"district_group": "county"},
     {"assignment_mode": "auto", "partition": None, "district_group": "county"}),
    # partitioned by a column: that column groups the districts by default
    ('[compute]\npartition = "county"\n', "", {},
     {"assignment_mode": "auto", "partition": "county", "district_group": "county"}),
    ('[compute]\npartition = "county"\n', 'group = "type"\n', {},
     {"assignment_mode": "auto", "partition": "county", "district_group": "type"}),
]


@pytest.mark.parametrize(("extra", "districts", "given", "expected"), CASES)
@pytest.mark.parametrize("door", ["api", "cli"])
def test_same_options_reach_the_pipeline(recorded, tmp_path, door, extra, districts, given,
                                         expected):
    _via(door, _scenario(tmp_path, extra, districts), **given)
    assert recorded == [expected]


@pytest.mark.parametrize(("door", "spelled"), [
    ("api", "assignment_mode: 'fast' is not an assignment mode"),
    ("cli", "argument --assignment-mode: invalid choice: 'fast'"),
    ("scenario", "[compute] assignment_mode: 'fast' is not an assignment mode"),
])
def test_bad_mode_spelled_per_door(recorded, tmp_path, refusal, door, spelled):
    msg = refusal(door, _scenario(tmp_path), api={"assignment_mode": "fast"},
                  cli=["--assignment-mode", "fast"],
                  scenario=door == "scenario"
                  and _scenario(tmp_path, '[compute]\nassignment_mode = "fast"\n'))
    if door == "scenario":
        assert str(tmp_path / "s.toml") in msg
    assert spelled in msg
    assert recorded == []
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("door", ["api", "cli", "scenario"])
def test_missing_group_column_refused_before_work(recorded, tmp_path, refusal, door):
    msg = refusal(door, _scenario(tmp_path), api={"district_group": "prefecture"},
                  cli=["--district-group", "prefecture"],
                  scenario=door == "scenario"
                  and _scenario(tmp_path, districts='group = "prefecture"\n'))
    assert "has no column 'prefecture'" in msg and "county" in msg
    assert str(tmp_path / "s.toml") in msg
    assert recorded == []
    assert not (tmp_path / "out").exists()
