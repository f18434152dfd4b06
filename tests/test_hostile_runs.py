"""Runs under hostile conditions (issue #17, items 2-4): outputs over inputs, kills, races.

The run-folder invariant checked throughout (:func:`assert_one_run`): every table the folder
shows, ``summary.json`` and the run's manifest come from one run. Besides following the links,
it checks the tables against each other with numbers worked out by hand: ``cells.csv`` flags
``beyond`` exactly where ``nearest_cost > threshold`` of ``summary.json``, and the children so
flagged add up to the summary's ``children_beyond_threshold``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import geoequity as ge
from geoequity._errors import InputError
from geoequity.cli import main as cli_main

from _cases import write_tiny_line

ROOT = Path(__file__).resolve().parents[1]


# -- helpers ---------------------------------------------------------------------------------

def _tiny(folder: Path, *, threshold: float, report: bool = False) -> Path:
    """Two schools 2 km apart, five cells on the line (as in test_scenario): nearest costs are
    0, 500, 1000, 500, 0 m for 100, 100, 100, 100, 400 children."""
    folder.mkdir(parents=True, exist_ok=True)
    layers = write_tiny_line(folder)
    path = folder / f"t{threshold:g}{'r' if report else ''}.toml"
    path.write_text(f"""title = "tiny {threshold:g}"
{layers}[network]
euclidean = true
[analysis]
threshold = {threshold}
max_cost = 5000
[outputs]
folder = "out"
map = "maps/tiny.html"
report = {str(report).lower()}
""", encoding="utf-8")
    return path


# children beyond the threshold, by hand from the costs above
BEYOND = {400: 300.0, 1200: 0.0}


def our_links(folder: Path) -> dict[str, Path]:
    """The names of ``folder`` that are geoequity's links, with the files they show."""
    return {p.name: Path(os.path.realpath(p)) for p in folder.iterdir()
            if p.is_symlink() and os.readlink(p) == f".geoequity/current/{p.name}"}


def assert_one_run(folder: Path) -> str:
    """Every output ``folder`` shows comes from one run; returns its run id."""
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    run_id = summary["run_id"]
    shown = {n: p for n, p in our_links(folder).items() if p.exists()}
    assert {p.parent.name for p in shown.values()} == {run_id}
    manifest = json.loads((shown["summary.json"].parent / "manifest.json").read_text())
    assert manifest["run_id"] == run_id
    assert set(shown) == set(manifest["files"])          # all of the run's files, no other
    cells = pd.read_csv(folder / "cells.csv")
    t = summary["threshold"]
    reached = cells["nearest_cost"].notna()
    assert (cells.loc[reached, "beyond"].astype(bool) == (cells.loc[reached, "nearest_cost"] > t)
            ).all()
    assert cells.loc[cells["beyond"].astype(bool), "children"].sum() == pytest.approx(
        summary["children_beyond_threshold"])
    districts = pd.read_csv(folder / "districts.csv").set_index("district")
    assert districts.loc["(all)", "children_beyond"] == pytest.approx(
        summary["children_beyond_threshold"])
    return run_id


def marked_runs(folder: Path) -> set[str]:
    runs = folder / ".geoequity" / "runs"
    return {p.name for p in runs.iterdir() if (p / ".geoequity-run").is_file()}


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT))


# -- item 2: no command writes over its own input ---------------------------------------------

@pytest.fixture
def inputs(tmp_path):
    """A points CSV, its symbolic link, a scenario; everything byte-compared after."""
    pts = tmp_path / "pts.csv"
    pts.write_text("id,lon,lat,kids,seats,v\n1,116.40,39.90,10,5,1\n2,116.41,39.91,20,5,3\n")
    (tmp_path / "link.csv").symlink_to("pts.csv")
    scenario = _tiny(tmp_path / "case", threshold=400)
    return tmp_path, pts, scenario


COMMANDS = [   # (argv, the input that the output names)
    ("access --demand pts.csv --supply other.csv --euclidean --method 2sfca -o pts.csv", "pts"),
    ("access --demand pts.csv --supply other.csv --euclidean --method 2sfca -o link.csv", "pts"),
    ("costs pts.csv other.csv --euclidean -o link.csv", "pts"),
    ("costs other.csv pts.csv --euclidean -o x.csv --snap-report pts.csv", "pts"),
    ("site --demand pts.csv --demand-col kids --candidates other.csv --problem pmedian --p 1 "
     "--euclidean -o link.csv", "pts"),
    ("site --demand other.csv --demand-col kids --candidates pts.csv --problem pmedian --p 1 "
     "--euclidean -o x.csv --before-after link.csv", "pts"),
    ("equity pts.csv --value v -o pts.csv", "pts"),
    ("equity pts.csv --value v --lorenz link.csv", "pts"),
    ("districts evaluate --cells pts.csv --children kids --schools other.csv --seats seats "
     "--districts other.csv -o link.csv", "pts"),
    ("gaps --demand other.csv --supply pts.csv --euclidean --threshold 1 -o pts.csv", "pts"),
    ("run case/t400.toml --map case/t400.toml", "scenario"),
    ("run case/t400.toml --map case/scenario-link.toml", "scenario"),
]


@pytest.mark.parametrize(("argv", "victim"), COMMANDS)
def test_an_output_that_is_an_input_is_refused(inputs, argv, victim, monkeypatch, capsys):
    tmp, pts, scenario = inputs
    (tmp / "other.csv").write_bytes(pts.read_bytes())
    (tmp / "case" / "scenario-link.toml").symlink_to(scenario.name)
    target = pts if victim == "pts" else scenario
    before = target.read_bytes()
    listing = sorted(p.relative_to(tmp) for p in tmp.rglob("*"))
    monkeypatch.chdir(tmp)
    assert cli_main(argv.split()) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "would overwrite the input" in err and target.name in err
    assert target.read_bytes() == before
    assert sorted(p.relative_to(tmp) for p in tmp.rglob("*")) == listing   # nothing new


@pytest.mark.parametrize("argv", [
    "costs other.csv pts.csv --euclidean -o x.csv --snap-report x.csv",
    "equity pts.csv --value v -o x.csv --lorenz link2.csv",
    "site --demand other.csv --demand-col kids --candidates pts.csv --problem pmedian --p 1 "
    "--euclidean -o x.gpkg --layers x.gpkg",
])
def test_two_outputs_naming_one_file_are_refused(inputs, argv, monkeypatch, capsys):
    # the second output written replaced the first, and the command said it wrote both
    tmp, pts, _ = inputs
    (tmp / "other.csv").write_bytes(pts.read_bytes())
    (tmp / "link2.csv").symlink_to("x.csv")      # a link to the other output is that output
    listing = sorted(p.relative_to(tmp) for p in tmp.rglob("*"))
    monkeypatch.chdir(tmp)
    assert cli_main(argv.split()) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "name the same file" in err, err
    assert sorted(p.relative_to(tmp) for p in tmp.rglob("*")) == listing   # nothing new


@pytest.mark.parametrize("name", ["report.html", "summary.json"])
def test_a_map_named_like_a_table_of_the_folder_is_refused(tmp_path, name, capsys):
    # --map OUT/report.html replaced the report's link with the map (exit 0, no report)
    scenario = _tiny(tmp_path / "case", threshold=400, report=True)
    out = tmp_path / "case" / "out"
    assert cli_main(["run", str(scenario), "--map", str(out / name)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"own {name} in the output folder" in err, err
    assert not out.exists()


def test_a_hard_link_to_an_input_is_the_input(inputs, monkeypatch, capsys):
    tmp, pts, _ = inputs
    os.link(pts, tmp / "hard.csv")
    monkeypatch.chdir(tmp)
    assert cli_main("equity pts.csv --value v -o hard.csv".split()) == 2
    assert "--output would overwrite the input pts.csv" in capsys.readouterr().err


def test_run_refuses_a_map_over_its_scenario_in_the_api_too(inputs):
    _, _, scenario = inputs
    before = scenario.read_bytes()
    with pytest.raises(InputError, match=r"\[outputs\] map .*would overwrite the input"):
        ge.run_scenario(scenario, map_path=scenario)
    assert scenario.read_bytes() == before
    assert not (scenario.parent / "out").exists()   # not even the lock was made


# -- item 3: the folder switches as a whole ---------------------------------------------------

@pytest.fixture
def tiny_runs(tmp_path):
    """A folder holding a finished run (threshold 400, with report); scenario for 1200."""
    first = _tiny(tmp_path, threshold=400, report=True)
    ge.run_scenario(first)
    out = tmp_path / "out"
    assert assert_one_run(out)
    return tmp_path, out, _tiny(tmp_path, threshold=1200)


def test_summary_and_tables_come_from_one_run(tiny_runs):
    tmp, out, second = tiny_runs
    summary = json.loads((out / "summary.json").read_text())
    assert summary["children_beyond_threshold"] == BEYOND[400]
    assert (out / "report.html").exists()
    ge.run_scenario(second)
    run_id = assert_one_run(out)
    assert json.loads((out / "summary.json").read_text())["children_beyond_threshold"] == 0
    assert marked_runs(out) == {run_id}                      # the previous run's folder: gone
    assert not (out / "report.html").exists() and not (out / "report.html").is_symlink()
    assert (tmp / "maps" / "tiny.html").read_text().count("tiny 1200") >= 1


def _mutations():
    return ("replace", "rename", "symlink", "unlink", "link")


def test_a_run_failing_at_each_step_of_the_switch_leaves_one_run(tiny_runs, monkeypatch):
    """Every file-system change from the switch on fails in turn; each leaves one run."""
    import geoequity.outputs as outputs

    tmp, out, second = tiny_runs
    real = {name: getattr(os, name) for name in _mutations()}
    state = {"armed": False, "calls": 0, "fail_at": 0}

    def counting(name):
        def call(*args, **kwargs):
            if state["armed"]:
                state["calls"] += 1
                if state["calls"] == state["fail_at"]:
                    raise OSError(5, f"simulated failure of os.{name}")
            return real[name](*args, **kwargs)
        return call

    real_switch = outputs._switch

    def armed_switch(*args, **kwargs):
        state["armed"] = True
        return real_switch(*args, **kwargs)

    monkeypatch.setattr(outputs, "_switch", armed_switch)
    for name in _mutations():
        monkeypatch.setattr(os, name, counting(name))
    seen = set()
    for k in range(1, 200):
        state.update(armed=False, calls=0, fail_at=k)
        try:
            ge.run_scenario(second if k % 2 else tiny_runs[2].with_name("t400r.toml"))
        except OSError:
            pass
        seen.add(assert_one_run(out))
        if state["calls"] < k:     # the run got through without reaching call k: all steps done
            break
    assert k > 10                  # the switch has that many steps (links, current, map, tidy)
    assert len(seen) > 2           # runs did complete between the failures
    for name in _mutations():
        monkeypatch.setattr(os, name, real[name])
    ge.run_scenario(second)
    run_id = assert_one_run(out)
    assert marked_runs(out) == {run_id}
    assert not [p for p in (out / ".geoequity").iterdir() if p.name.startswith("link.")]


KILLER = """
import os, signal, sys
import geoequity as ge
import geoequity.outputs as outputs
k = int(sys.argv[1]); calls = [0]; armed = [False]
def counting(real):
    def call(*args, **kwargs):
        if armed[0]:
            calls[0] += 1
            if calls[0] == k:
                os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    return call
for name in ("replace", "rename"):
    setattr(os, name, counting(getattr(os, name)))
real_switch = outputs._switch
def armed_switch(*args, **kwargs):
    armed[0] = True
    return real_switch(*args, **kwargs)
outputs._switch = armed_switch
ge.run_scenario(sys.argv[2])
"""


def test_kill_9_at_each_rename_of_the_switch_leaves_one_run(tmp_path):
    """A real SIGKILL (no clean-up code runs) at the k-th rename from the switch on, each time
    from the same folder; then a run over what a kill left behind."""
    ge.run_scenario(_tiny(tmp_path, threshold=400))
    out, snapshot = tmp_path / "out", tmp_path / "snapshot"
    first_id = assert_one_run(out)
    shutil.copytree(out, snapshot, symlinks=True)
    second = _tiny(tmp_path, threshold=1200, report=True)
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    ids = []
    for k in range(1, 40):
        shutil.rmtree(out)
        shutil.copytree(snapshot, out, symlinks=True)
        proc = subprocess.run([sys.executable, str(script), str(k), str(second)],
                              env=_env(), capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode in (0, -signal.SIGKILL), proc.stderr
        ids.append(assert_one_run(out))
        if proc.returncode == 0:
            break
    # the renames: 5 new links (report.html and its districts, groups, lorenz and theil
    # tables), the switch of `current`, the map
    assert len(ids) == 5 + 2 + 1
    assert ids[:6] == [first_id] * 6                       # killed up to the switch: old run
    assert ids[6] not in (first_id, ids[7])                # killed after it: the new run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["children_beyond_threshold"] == BEYOND[1200]
    assert (out / "report.html").is_file()
    assert marked_runs(out) == {ids[-1]}


def test_all_renames_stay_inside_the_folder_so_a_mount_point_works(tiny_runs, monkeypatch):
    tmp, out, second = tiny_runs
    moves = []
    real_replace, real_rename = os.replace, os.rename

    def record(real):
        def call(src, dst, *args, **kwargs):
            moves.append((Path(os.path.abspath(src)), Path(os.path.abspath(dst))))
            return real(src, dst, *args, **kwargs)
        return call

    monkeypatch.setattr(os, "replace", record(real_replace))
    monkeypatch.setattr(os, "rename", record(real_rename))
    before = sorted(tmp.iterdir())
    ge.run_scenario(second)
    maps = tmp / "maps"
    assert moves
    for src, dst in moves:
        inside = [out in src.parents and out in dst.parents,
                  src.parent == dst.parent == maps]       # the map: beside itself
        assert any(inside), (src, dst)
    table_moves = [m for m in moves if out in m[1].parents]
    assert all(Path(out, ".geoequity") in src.parents for src, _ in table_moves)
    # the map is moved in last, after the folder switched
    assert moves[-1][1] == maps / "tiny.html"
    assert [d for _, d in moves].index(out / ".geoequity" / "current") < len(moves) - 1
    assert sorted(tmp.iterdir()) == before                # nothing staged beside the folder


def test_a_second_run_into_the_folder_stops_naming_the_first(tmp_path):
    import geoequity.outputs as outputs

    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, geoequity.outputs as o\n"
         f"with o.lock_folder({str(out)!r}):\n    print('held', flush=True)\n"
         "    sys.stdin.read()"], env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(InputError, match=rf"another geoequity run is writing this folder "
                           rf"\(pid {holder.pid} on .*, started 20\d\d-"):
            with outputs.lock_folder(out):
                pass
        holder.kill()          # SIGKILL: the kernel drops the lock with the process
        holder.wait()
        with outputs.lock_folder(out):
            assert f"pid {os.getpid()} " in (out / ".geoequity" / "lock").read_text()
    finally:
        holder.kill()
        holder.wait()


def test_a_second_thread_of_the_process_stops_like_a_second_process(tmp_path):
    """Two runs in two threads of one process (a notebook, a web service): the thread that
    holds the folder re-enters its lock (run_scenario, then the run's steps), another thread
    gets the second process' one-line error, naming this process, until the first leaves."""
    import threading

    import geoequity.outputs as outputs

    out = tmp_path / "out"
    inside, again, reentered, leave = (threading.Event() for _ in range(4))
    failures = []

    def first():
        try:
            with outputs.lock_folder(out):
                inside.set()
                assert again.wait(60)
                with outputs.lock_folder(out):   # the same thread: passes
                    pass
                reentered.set()
                assert leave.wait(60)
        except BaseException as exc:   # seen by the test's thread
            failures.append(exc)
            inside.set()
            reentered.set()

    busy = (r"another geoequity run is writing this folder "
            rf"\(pid {os.getpid()} on .*, started 20\d\d-")
    holder = threading.Thread(target=first)
    holder.start()
    try:
        assert inside.wait(60)
        with pytest.raises(InputError, match=busy):
            with outputs.lock_folder(out):
                pass
        again.set()
        assert reentered.wait(60)
        assert failures == []
        with pytest.raises(InputError, match=busy):   # still held after the inner block
            with outputs.lock_folder(out):
                pass
    finally:
        leave.set()
        again.set()
        holder.join(60)
    assert not holder.is_alive() and failures == []
    with outputs.lock_folder(out):   # the first thread left: this one takes it
        assert f"pid {os.getpid()} " in (out / ".geoequity" / "lock").read_text()
    with outputs.lock_folder(out):   # and lets it go at the end of its block
        pass


# -- item 4: leftovers and the user's own files ------------------------------------------------

def test_no_report_keeps_the_users_own_report_and_compare(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("<p>my own report</p>")
    (out / "compare.csv").write_text("mine,1\n")
    (out / "report_lorenz.csv").write_text("mine too\n")
    ge.run_scenario(_tiny(tmp_path, threshold=400), report=False)
    assert (out / "report.html").read_text() == "<p>my own report</p>"
    assert (out / "compare.csv").read_text() == "mine,1\n"
    assert (out / "report_lorenz.csv").read_text() == "mine too\n"
    assert_one_run(out)
    ge.run_scenario(_tiny(tmp_path, threshold=1200), report=False)
    assert (out / "report.html").read_text() == "<p>my own report</p>"
    assert assert_one_run(out)


def test_stale_staging_is_cleaned_and_foreign_files_are_not(tiny_runs):
    tmp, out, second = tiny_runs
    runs = out / ".geoequity" / "runs"
    stale = runs / "20200101T000000-1-abcdefgh"          # a killed run's staging
    stale.mkdir()
    (stale / ".geoequity-run").write_text("pid 1\n")
    (stale / "cells.csv").write_bytes(b"0" * 10_000)
    foreign_run = runs / "mine"                          # no marker: not ours
    foreign_run.mkdir()
    (foreign_run / "keep.txt").write_text("x")
    (out / ".hidden").mkdir()
    (out / ".hidden" / "keep.txt").write_text("x")
    older = tmp / ".out.abcd1234.partial"                # an older version's staging
    older.mkdir()
    (older / "cells.csv").write_text("1")
    (older / ".cells.xyzw1234.gpkg").write_text("1")
    lookalike = tmp / ".out.efgh5678.partial"           # holds a file no run writes
    lookalike.mkdir()
    (lookalike / "thesis.docx").write_text("1")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    from geoequity._atomic import HOST_TAG

    temps = {"dead": tmp / "maps" / f".tiny.~gq-{HOST_TAG}-{dead.pid}-abcdefgh.html",
             "live": tmp / "maps" / f".tiny.~gq-{HOST_TAG}-{os.getppid()}-abcdefgh.html",
             "elsewhere": tmp / "maps" / f".tiny.~gq-otherhost-{dead.pid}-abcdefgh.html",
             "in_dir": out / f".cells.~gq-{HOST_TAG}-{dead.pid}-abcdefgh.csv.tmp"}
    for path in temps.values():
        path.write_text("half a map")
    ge.run_scenario(second)
    run_id = assert_one_run(out)
    assert marked_runs(out) == {run_id}
    assert (foreign_run / "keep.txt").exists() and (out / ".hidden" / "keep.txt").exists()
    assert not older.exists() and (lookalike / "thesis.docx").exists()
    assert not temps["dead"].exists() and not temps["in_dir"].exists()
    assert temps["live"].exists() and temps["elsewhere"].exists()


def test_files_of_an_older_version_are_adopted_without_a_mixed_moment(tmp_path, monkeypatch):
    """A folder an older geoequity wrote (real files): the first new run replaces them in one
    switch; a user's file at a name the run does not write stays."""
    import geoequity.outputs as outputs

    first = _tiny(tmp_path, threshold=400)
    ge.run_scenario(first)
    out = tmp_path / "out"
    for name, target in our_links(out).items():          # as an older version left them
        (out / name).unlink()
        shutil.copy(target, out / name)
    shutil.rmtree(out / ".geoequity")
    (out / "compare.csv").write_text("mine\n")
    views = []
    real_replace = os.replace

    def watching(src, dst, *args, **kwargs):
        real_replace(src, dst, *args, **kwargs)
        if Path(dst).parent in (out, out / ".geoequity"):
            views.append(json.loads((out / "summary.json").read_text())["threshold"])
            pd.read_csv(out / "cells.csv")                # every name readable all along

    monkeypatch.setattr(outputs.os, "replace", watching)
    ge.run_scenario(_tiny(tmp_path, threshold=1200))
    monkeypatch.undo()
    assert views[0] == 400 and views[-1] == 1200
    assert views == sorted(views)                         # old, old, ..., new: one switch
    assert assert_one_run(out)
    assert (out / "compare.csv").read_text() == "mine\n"
    assert all(p.is_symlink() for p in (out / "cells.csv", out / "summary.json"))


def test_without_symbolic_links_only_files_a_run_wrote_are_removed(tmp_path, monkeypatch):
    def no_links(*args, **kwargs):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "symlink", no_links)
    out = tmp_path / "out"
    out.mkdir()
    (out / "compare.csv").write_text("mine\n")
    ge.run_scenario(_tiny(tmp_path, threshold=400, report=True))
    assert (out / "report.html").is_file() and not (out / "report.html").is_symlink()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["children_beyond_threshold"] == BEYOND[400]
    ge.run_scenario(_tiny(tmp_path, threshold=1200))
    assert not (out / "report.html").exists()             # the previous run wrote it
    assert (out / "compare.csv").read_text() == "mine\n"  # nobody recorded writing it
    cells = pd.read_csv(out / "cells.csv")
    assert not cells["beyond"].astype(bool).any()
    assert len(list((out / ".geoequity" / "runs").iterdir())) == 0


# -- the demo, for real: a run killed with kill -9, a concurrent run, the next run ------------

@pytest.fixture(scope="module")
def demo_scenarios(tmp_path_factory):
    """data/demo.toml, and a copy at another threshold, with absolute input paths."""
    tmp = tmp_path_factory.mktemp("demo")
    text = (ROOT / "data" / "demo.toml").read_text(encoding="utf-8")
    # every input by absolute path (the layers, and the report's checklist and teachers):
    # the copy lies in another folder
    text = text.replace('"demo/', f'"{(ROOT / "data" / "demo").as_posix()}/')
    other = tmp / "demo1000.toml"
    other.write_text(text.replace("threshold = 1500 ", "threshold = 1000 "), encoding="utf-8")
    assert "threshold = 1000 " in other.read_text()
    return tmp, ROOT / "data" / "demo.toml", other


def _wait_for(predicate, proc, what):
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {what}: {proc.stderr.read()}")
        time.sleep(0.02)


def test_demo_killed_mid_run_and_raced_leaves_one_run(demo_scenarios, capsys):
    tmp, demo, other = demo_scenarios
    out, maps = tmp / "out", tmp / "maps"
    assert cli_main(["demo", "--out", str(out), "--map", str(maps / "demo.html")]) == 0
    first = assert_one_run(out)
    lock = out / ".geoequity" / "lock"
    victim = subprocess.Popen([sys.executable, "-m", "geoequity", "run", str(other),
                               "--out", str(out), "--map", str(maps / "demo.html")],
                              env=_env(), cwd=tmp, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: f"pid {victim.pid} " in lock.read_text(), victim, "taking the lock")
        rival = subprocess.run([sys.executable, "-m", "geoequity", "demo", "--out", str(out),
                                "--map", str(tmp / "rival.html")], env=_env(), cwd=tmp,
                               capture_output=True, text=True)
        assert rival.returncode == 2
        lines = rival.stderr.strip().splitlines()
        assert len(lines) == 1 and f"(pid {victim.pid} on " in lines[0]
        assert "geoequity run" in lines[0] and not (tmp / "rival.html").exists()
        # kill -9 once the victim stages its tables
        _wait_for(lambda: len(marked_runs(out)) > 1, victim, "staging")
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait() == -signal.SIGKILL
    finally:
        victim.kill()
        victim.wait()
    shown = assert_one_run(out)
    if shown == first:      # killed while staging (nearly always): its staging is left over
        assert marked_runs(out) - {first}
    (out / "notes.txt").write_text("mine")
    assert cli_main(["demo", "--out", str(out), "--map", str(maps / "demo.html"),
                     "--no-report"]) == 0
    last = assert_one_run(out)
    assert marked_runs(out) == {last}                     # the killed run's staging: removed
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / "report.html").exists()             # the earlier run's report: removed
    assert [p.name for p in maps.iterdir()] == ["demo.html"]
