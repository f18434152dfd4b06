"""A decomposed assignment on a dask cluster: the rounds' parts run as tasks on the workers,
and the run equals the in-process decomposed run (the same parts, rounds and solver)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from _cases import run_cells

import geoequity as ge
from geoequity.assignment_decomposed import solve_part
from geoequity.distributed import NO_DASHBOARD_PORT
from tests.test_equity_groups import county_demo


class _Counting:
    """A client that counts the assignment parts submitted through it."""

    def __init__(self, client):
        self._client = client
        self.parts = 0

    def submit(self, fn, *args, **kwargs):
        if fn is solve_part:
            self.parts += 1
        return self._client.submit(fn, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def _scenario(folder: Path, name: str) -> Path:
    text = county_demo(folder, folder / name, folder / (name + ".html"))
    text = text.replace("report = true", "report = false")
    path = folder / f"{name}.toml"
    path.write_text(text + '\n[compute]\nassignment_mode = "decomposed"\n', encoding="utf-8")
    return path


def test_cluster_decomposed_equals_in_process(tmp_path):
    from distributed import Client, LocalCluster

    local = ge.run_scenario(_scenario(tmp_path, "local"), partition="districts")
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      dashboard_address=None, scheduler_kwargs=NO_DASHBOARD_PORT) as cluster, \
            Client(cluster) as c:
        counting = _Counting(c)
        remote = ge.run_scenario(_scenario(tmp_path, "cluster"), client=counting,
                                 partition="districts", district_group="county")
    assert counting.parts >= 2   # a round of several parts ran on the workers
    s, r = local.summary, remote.summary
    assert s["assignment_mode"] == r["assignment_mode"] == "decomposed"
    for key in ("assignment_parts", "assignment_rounds", "assignment_lower_bound",
                "assignment_unassigned", "assignment_bound"):
        assert s[key] == r[key], key
    assert r["assignment_cost"] == pytest.approx(s["assignment_cost"], rel=1e-9)
    for col in ("assigned", "unassigned"):
        pd.testing.assert_series_equal(local.cells[col], run_cells(remote)[col],
                                       check_exact=False, rtol=1e-9, atol=1e-9)
    # the cluster run groups by county beside the districts (asked for here)
    assert list(remote.theil["grouping"][:2]) == ["district", "county"]
    assert "county" not in set(local.theil["grouping"])
