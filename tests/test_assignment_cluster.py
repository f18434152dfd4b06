"""A decomposed assignment on a dask cluster: the rounds' parts run as tasks on the workers,
and the run equals the in-process decomposed run (the same parts, rounds and solver)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from _cases import run_cells

import geoequity as ge
from geoequity.assignment_decomposed import solve_round_part
from geoequity.distributed import NO_DASHBOARD_PORT
from tests.test_equity_groups import county_demo


class _Counting:
    """A client that counts the assignment parts submitted through it."""

    def __init__(self, client):
        self._client = client
        self.parts = 0

    def submit(self, fn, *args, **kwargs):
        if fn is solve_round_part:
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


def _here_and_there(client, split, seats, limit: int):
    """decompose_parts on ``split`` here and with the parts on the workers (every step a
    task there): asserts the same children on every pair and the same figures; gives this
    process' parts and figures."""
    import functools

    import numpy as np

    from geoequity.assignment_decomposed import decompose_parts

    here, fig_here = decompose_parts(split, seats, flow_limit=limit)
    there, fig_there = decompose_parts(
        client.scatter(split), seats, flow_limit=limit,
        submit=functools.partial(client.submit, pure=False), fetch=client.gather)
    assert fig_here == fig_there
    for a, b in zip(here, client.gather(there), strict=True):
        np.testing.assert_array_equal(a.x, b.x)
    return here, fig_here


def _chain():
    """The four-part chain of tests/test_assignment_decomposed.py: the rounds leave d
    unseated, no border problem seats it, the augmenting paths do (travel 16)."""
    costs = pd.DataFrame([("a", "S0", 5.0), ("a", "S1", 1.0), ("b", "S1", 5.0),
                          ("b", "S2", 1.0), ("c", "S2", 5.0), ("c", "S3", 1.0),
                          ("d", "S3", 1.0)], columns=["origin", "destination", "cost"])
    return (costs, pd.Series(1.0, index=list("abcd")),
            pd.Series(1.0, index=["S0", "S1", "S2", "S3"]), list("ABCD"))


def test_every_step_on_the_workers_gives_the_answer_of_this_process(client):
    """decompose_parts with the parts on two workers (every step a task there) and here:
    the same children on every pair and the same figures. The chain case takes all the
    steps (its augmenting path crosses the four parts); with the whole graph's maximum flow
    ruled out (``flow_limit=0``), the bound is the per-part relaxation, found part by part
    on the workers: 4 children, 4 within reach, the parts' own flows 1 + 1 + 1 + 1, seats
    4: no child need go without (0), and no augmenting paths."""


    from geoequity.assignment_decomposed import (
        decomposed_assignment,
        split_parts,
    )

    costs, dem, sup, names = _chain()
    res, rep = decomposed_assignment(costs, dem, sup, names, client=client)
    assert rep.unassigned == 0.0 and rep.repaired == 1.0 and rep.cost == 16.0
    assert dict(zip(res.flows["origin"], res.flows["destination"], strict=True)) == {
        "a": "S0", "b": "S1", "c": "S2", "d": "S3"}

    split, seats = split_parts(costs, dem, sup, names)
    for limit in (100, 0):
        _, fig = _here_and_there(client, split, seats, limit)
    assert fig.bound == "per-part relaxation" and fig.lower_bound == 0.0
    assert fig.after == 1.0   # the relaxation's graph is not searched for paths


@pytest.mark.parametrize("seed", [0, 3, 5])
def test_random_provinces_on_the_workers_equal_here(client, seed):
    """Random provinces of 9 tiles (tests/test_assignment_decomposed.py's cases: seated as
    many as networkx's exact maximum there), decomposed with the parts on two workers and
    here: the same children on every pair and the same figures, including border problems
    whose new answer was kept (the seated children and travel moved by the border pass)
    and, with the whole graph's flow ruled out, the relaxation bound part by part."""

    import numpy as np

    from geoequity.assignment_decomposed import decompose_parts, split_parts
    from tests.test_assignment_decomposed import _random_case

    costs, demand, supply, tiles = _random_case(seed)
    split, seats = split_parts(costs, demand, supply, tiles)
    for limit in (10**9, 0):
        here, fig = _here_and_there(client, split, seats, limit)
    rounds_only, _ = decompose_parts(split, seats, repair=False, flow_limit=0)
    moved = sum(int(not np.array_equal(a.x, b.x)) for a, b in zip(here, rounds_only,
                                                                  strict=True))
    assert fig.bound == "per-part relaxation"
    assert moved > 0   # the border pass (no paths at flow_limit=0) changed some part's answer
