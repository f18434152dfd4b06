"""One question, one answer: the compute options (scheduler, workers, partition) mean the same
through the API (``run_scenario(..., workers=)``), the CLI (``geoequity run --workers``) and a
scenario (``[compute] workers``): the same options reach the cluster step, a flag or argument
overrides the file, and a bad value is refused by every door in its own spelling.

The cluster itself is replaced by a recorder (the equality of cluster and in-process results
is tests/test_distributed.py's subject), so these tests start no process.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest

import geoequity as ge
import geoequity.distributed as gd
from geoequity.cli import main
from geoequity.distributed import ComputeOptions

from _cases import StopRun, demo_scenario


@pytest.fixture()
def recorded(monkeypatch):
    seen = []

    @contextmanager
    def fake_client(options, client=None, *, source=None):
        seen.append(("client", options))
        yield "CLIENT"

    def fake_run(options, client, *args, **kwargs):
        seen.append(("run", options, client))
        raise StopRun("stopped before the cluster step")

    monkeypatch.setattr(gd, "cluster_client", fake_client)
    monkeypatch.setattr(gd, "run_on_cluster", fake_run)
    monkeypatch.setattr(gd, "read_on_cluster", fake_run)   # a raster the workers read
    return seen


def _scenario(tmp_path: Path, compute: str = "") -> Path:
    return demo_scenario(tmp_path, compute)


def _via(door, tmp_path, file_keys: str, **given):
    """Run through one door, to the recorder's stop (``recorded`` holds what reached it)."""
    path = _scenario(tmp_path, ("[compute]\n" + file_keys) if file_keys else "")
    if door == "api":
        with pytest.raises(StopRun):
            ge.run_scenario(path, **given)
    elif door == "cli":
        argv = ["run", str(path)]
        for k, v in given.items():
            argv += [f"--{k}", str(v)]
        assert main(argv) == 2


CASES = [   # (what the file says, what the flag/argument says, the options expected)
    ("", {"workers": 2}, ComputeOptions(workers=2)),
    ("", {"scheduler": "tcp://h:8786"}, ComputeOptions(scheduler="tcp://h:8786")),
    ("", {"workers": 2, "partition": 4000}, ComputeOptions(workers=2, partition=4000.0)),
    ("workers = 2\n", {}, ComputeOptions(workers=2)),
    ('workers = 2\npartition = "districts"\n', {}, ComputeOptions(workers=2,
                                                                    partition="districts")),
    ("workers = 2\n", {"scheduler": "tcp://h:1"}, ComputeOptions(scheduler="tcp://h:1")),
    ('scheduler = "tcp://h:1"\n', {"workers": 3}, ComputeOptions(workers=3)),
    ("workers = 2\npartition = 5000\n", {"partition": 3000},
     ComputeOptions(workers=2, partition=3000)),
]


@pytest.mark.parametrize(("file_keys", "given", "expected"), CASES)
@pytest.mark.parametrize("door", ["api", "cli"])
def test_same_options_reach_the_cluster(recorded, tmp_path, door, file_keys, given, expected):
    _via(door, tmp_path, file_keys, **given)
    kinds = [r[0] for r in recorded]
    assert kinds == ["client", "run"]
    assert recorded[0][1] == expected and recorded[1][1] == expected
    assert recorded[1][2] == "CLIENT"


def test_without_compute_options_no_cluster(recorded, tmp_path, monkeypatch):
    """No scheduler, no workers, no client: the run stays in process (stopped at its costs)."""
    import geoequity.scenario as sc

    def stop(*a, **k):
        raise StopRun("in process")

    monkeypatch.setattr(sc, "build_costs", stop)
    with pytest.raises(StopRun, match="in process"):
        ge.run_scenario(_scenario(tmp_path, "[compute]\npartition = 4000\n"))
    assert recorded == []


@pytest.mark.parametrize(("door", "spelled"), [
    ("api", "workers: 0 is not a number of worker processes"),
    ("cli", "--workers: 0 is not a number of worker processes"),
    ("scenario", "[compute] workers: 0 is not a number of worker processes"),
])
def test_bad_workers_spelled_per_door(recorded, tmp_path, refusal, door, spelled):
    msg = refusal(door, _scenario(tmp_path), api={"workers": 0}, cli=["--workers", "0"],
                  scenario=door == "scenario" and _scenario(tmp_path, "[compute]\nworkers = 0\n"))
    if door == "scenario":
        assert str(tmp_path / "s.toml") in msg
    assert spelled in msg
    assert recorded == []
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("door", "spelled"), [
    ("api", "partition='nosuch': the districts layer"),
    ("cli", "--partition nosuch: the districts layer"),
    ("scenario", '[compute] partition = "nosuch": the districts layer'),
])
@pytest.mark.parametrize("workers", [None, 2], ids=["in process", "cluster"])
def test_bad_partition_column_spelled_per_door(recorded, tmp_path, refusal, door, spelled,
                                              workers):
    """A partition column the districts lack is named where the user wrote it: the flag on
    the command line (one line, exit status 2), the argument in Python, the key in the
    file, although the run itself reads the scenario (the door mechanism keeps a given
    option's spelling: _options.door(given=))."""
    more = {"workers": workers} if workers else {}
    cli = ["--workers", str(workers)] if workers else []
    file_keys = f"workers = {workers}\n" if workers else ""
    msg = refusal(door, _scenario(tmp_path), api={"partition": "nosuch", **more},
                  cli=["--partition", "nosuch", *cli],
                  scenario=door == "scenario" and _scenario(
                      tmp_path, f'[compute]\n{file_keys}partition = "nosuch"\n'))
    assert f"{tmp_path / 's.toml'}: {spelled} " in msg
    assert "has no column 'nosuch'; use \"districts\", one of its columns (district, type) " \
           "or a tile size in metres" in msg
    assert "[compute]" not in msg if door != "scenario" else "--partition" not in msg
    assert recorded == []
    assert not (tmp_path / "out").exists()


def test_the_files_partition_keeps_its_key_beside_other_flags(recorded, tmp_path, capsys):
    """Only the options given at the door keep its spelling: the file's bad partition is
    still [compute] partition when --workers comes from the command line, and a flag that
    overrides it leaves nothing to refuse."""
    path = _scenario(tmp_path, '[compute]\npartition = "nosuch"\n')
    assert main(["run", str(path), "--workers", "2"]) == 2
    assert '[compute] partition = "nosuch": the districts layer' in capsys.readouterr().err
    assert main(["run", str(path), "--workers", "2", "--partition", "districts"]) == 2
    assert [r[0] for r in recorded] == ["client", "run"]   # reached the (recorded) cluster
    assert recorded[0][1] == ComputeOptions(workers=2, partition="districts")


def test_door_keeps_the_given_options_spelling():
    from geoequity._options import door, option

    with door("cli"):
        assert option("partition") == "--partition"
        with door("scenario", given=["partition"]):
            assert option("partition", "county") == "--partition county"
            assert option("workers") == "[compute] workers"
            with door("scenario"):   # a door of its own: the file's keys
                assert option("partition") == "[compute] partition"
            with door("python", given=["partition"]):   # still the command line's flag
                assert option("partition") == "--partition"
        assert option("workers") == "--workers"
    with door("scenario", given=["partition"]):   # given in Python
        assert option("partition", "county") == "partition='county'"
