"""Run settings: one typed object from the scenario to summary.json and back."""

from __future__ import annotations

import json

from geoequity.settings import RunSettings


def test_round_trip_through_summary_json(tmp_path):
    s = RunSettings(title="County", scenario="/x/s.toml", unit="min", osm=True,
                    level="primary", tiles="osm", lang="zh", threshold=15, method="e2sfca",
                    decay="gaussian", decay_param=5.0, max_cost=60, assignment_max_cost=30,
                    costs="network walk: city.osm.pbf")
    figures = {"children": 10.0, "threshold": 15, "method": "e2sfca"}
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({**figures, **s.to_summary()}))
    data = json.loads(path.read_text())
    assert data["title"] == "County" and data["unit"] == "min" and data["osm"] is True
    assert list(data)[:3] == ["children", "threshold", "method"]  # figures keep their place
    assert RunSettings.from_summary(data) == s


def test_older_or_hand_written_summary_keeps_defaults():
    s = RunSettings.from_summary({"threshold": 1000, "title": "Run title", "lang": "zh",
                                  "children": 5.0})
    assert (s.threshold, s.title, s.lang, s.unit, s.osm, s.level) == (
        1000, "Run title", "zh", "m", False, None)
    assert RunSettings.from_summary(None) == RunSettings()
    assert RunSettings.from_summary({"threshold": "1200"}).threshold == 1200.0


def test_scenario_settings_reach_summary_json(tmp_path):
    from geoequity.scenario import load_scenario, run_settings

    (tmp_path / "s.toml").write_text(
        'title = "T"\n[schools]\npath = "s.csv"\n[population]\npath = "p.tif"\n'
        '[network]\npath = "streets.gpkg"\nmode = "bike"\n'
        '[analysis]\nthreshold = 900\nlevel = "primary"\n[outputs]\nlang = "zh"\n')
    s = run_settings(load_scenario(tmp_path / "s.toml"))
    assert (s.title, s.threshold, s.max_cost, s.assignment_max_cost, s.level, s.lang) == (
        "T", 900, 3600, 3600, "primary", "zh")
    assert s.costs == "network bike: streets.gpkg" and s.osm is False and s.method == "2sfca"
