"""Every example in README.md and docs/*.md runs as written (issue #16, item 1).

What runs
    * command blocks: a fence with no language or ``sh``/``bash``/``shell``/``console`` whose
      lines (a leading ``$ `` prompt dropped) start with ``geoequity``, ``python`` or
      ``pip``; the block runs unchanged in ``bash -e -o pipefail`` (continued lines and all), from the root
      of a temporary copy of the repository in which ``geoequity demo`` has run (so
      ``out/demo/`` and ``maps/demo.html`` exist), with ``../shared`` beside it when the real
      data is there (a block naming ``../shared`` is skipped without it, as every test that
      needs it);
    * ``python`` blocks: run as a script from the same place.

    Each block runs in its own process and its own copy, so blocks never see each other's
    outputs; a failing block fails its test with the command's stderr.

How to mark a block that cannot run (the line right before the opening fence)
    ``<!-- not run: REASON -->``     it is not run (a ``pip install``, a synopsis with
                                     placeholders such as ``FILE``, ``tcp://host:8786``, a file
                                     the repository does not ship); REASON is required.
    ``<!-- run: with the demo names -->``   a ``python`` fragment that continues the README's
                                     Python API block: it runs after ``DEMO_NAMES`` below,
                                     which defines ``ge``, ``pd``, ``schools``, ``cells``,
                                     ``districts``, ``net``, ``costs`` and ``access`` on the
                                     demo.
    Every other command or python block must run; so an example that goes stale breaks CI.

``geoequity`` is the installed executable when it is on PATH (CI installs it with
``pip install -e``), importing this checkout's code (``PYTHONPATH``); otherwise a shim that
runs ``python -m geoequity``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, SHARED_DATA

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL_LANGS = ("", "sh", "bash", "shell", "console")
MARK = re.compile(r"^<!--\s*(not run|run)\s*:\s*(.*?)\s*-->\s*$")
RUN_WITH_DEMO_NAMES = "with the demo names"
COMMAND = re.compile(r"^(\$ )?(geoequity|python|pip)( |$)")

# What a fragment marked `<!-- run: with the demo names -->` may use: the README's Python API
# block on the demo's own files.
DEMO_NAMES = """\
import pandas as pd
import geoequity as ge
ge.set_quiet()
schools = ge.read_schools("data/demo/schools.csv", id_col="school_id", seats_col="seats",
                          level_col="level", name_col="name")
cells = ge.read_population("data/demo/residents.tif", child_share=0.08, crs=schools.crs)
districts = ge.read_districts("data/demo/districts.geojson", name_col="district",
                              crs=schools.crs)
net = ge.load_network("data/demo/streets.gpkg", mode="walk")
costs = ge.travel_costs(cells, schools, network=net, max_cost=3000)
access = ge.accessibility(costs, cells["children"], schools["seats"], method="2sfca",
                          threshold=1000)
ge.set_quiet(False)
"""


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int          # line of the opening fence
    lang: str
    text: str
    mark: str | None   # "not run", "run" or None
    reason: str

    @property
    def name(self) -> str:
        return f"{self.doc.relative_to(REPO).as_posix()}:{self.line}"

    @property
    def kind(self) -> str | None:
        """"command", "python" or None (a block that is not an example: TOML, formulas)."""
        if self.lang == "python":
            return "python"
        if self.lang in SHELL_LANGS and any(COMMAND.match(line)
                                            for line in self.text.splitlines()):
            return "command"
        return None

    @property
    def script(self) -> str:
        """The text to run: as written (a console block's ``$ `` prompts dropped)."""
        if self.kind == "python":
            pre = DEMO_NAMES if self.mark == "run" else ""
            return pre + self.text
        return "\n".join(line[2:] if line.startswith("$ ") else line
                         for line in self.text.splitlines()) + "\n"


def extract_blocks(doc: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, with the marker on the line before each."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if not lines[i].startswith("```"):
            i += 1
            continue
        lang = lines[i][3:].strip()
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        assert end is not None, f"{doc}:{i + 1}: a fence that is never closed"
        m = MARK.match(lines[i - 1]) if i else None
        blocks.append(Block(doc, i + 1, lang, "\n".join(lines[i + 1:end]),
                            m.group(1) if m else None, m.group(2) if m else ""))
        i = end + 1
    return blocks


ALL = [b for doc in DOCS for b in extract_blocks(doc)]
EXAMPLES = [b for b in ALL if b.kind]
TO_RUN = [b for b in EXAMPLES if b.mark != "not run"]


def _markers_outside_blocks() -> list[str]:
    """Markers that are not on the line right before an example block (stale markers)."""
    bad = []
    for doc in DOCS:
        lines = doc.read_text(encoding="utf-8").splitlines()
        for k, line in enumerate(lines):
            if MARK.match(line) and not (k + 1 < len(lines) and lines[k + 1].startswith("```")):
                bad.append(f"{doc.name}:{k + 1}")
    return bad


# --------------------------------------------------------------------------- the markers


def test_markers_are_well_formed():
    """Each marker sits right before a fence of an example, with a reason; `run:` means only
    the demo names, and only on python blocks."""
    assert _markers_outside_blocks() == []
    for b in ALL:
        if b.mark is None:
            continue
        assert b.kind, f"{b.name}: a marker on a block that is not an example"
        if b.mark == "not run":
            assert len(b.reason) >= 8, f"{b.name}: say why the block cannot run"
        else:
            assert b.kind == "python" and b.reason == RUN_WITH_DEMO_NAMES, b.name


def test_extraction_finds_the_examples():
    """The extractor sees the README's blocks (a guard against a parser that finds none)."""
    readme = [b for b in EXAMPLES if b.doc.name == "README.md"]
    assert len(readme) >= 15
    assert sum(b.kind == "python" for b in TO_RUN) >= 3
    first = extract_blocks(REPO / "README.md")[0]
    assert first.kind == "command" and first.mark == "not run"   # pip install ...
    # the worked sequence run -> site -> map is run, not marked
    seq = [b for b in TO_RUN if "geoequity site" in b.text and "geoequity map" in b.text
           and "geoequity run" in b.text]
    assert seq, "README: the run -> site -> map sequence is missing or marked not run"


# --------------------------------------------------------------------------- running them


def _env(tmp: Path) -> dict:
    env = dict(os.environ)
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    # `python` is this interpreter; `geoequity` the installed executable, else a shim
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    if shutil.which("geoequity") is None:
        (bin_dir / "geoequity").write_text(
            f'#!/bin/sh\nexec "{sys.executable}" -m geoequity "$@"\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env["GEOEQUITY_CACHE_DIR"] = str(tmp / "cache")   # the demo's network is built once
    env["MPLBACKEND"] = "Agg"
    env["NUMBA_NUM_THREADS"] = "1"   # two blocks run at once on two cores: no oversubscription
    return env


_SKIP = shutil.ignore_patterns(".git", "geoequity", "out", "maps", "__pycache__",
                               ".pytest_cache", ".ruff_cache", "*.egg-info", ".geoequity-cache")


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    """A copy of the repository (without its package: the code is this checkout's, by
    PYTHONPATH) in which the set-up command `geoequity demo` has run."""
    tmp = tmp_path_factory.mktemp("examples")
    root = tmp / "base" / "repo"
    shutil.copytree(REPO, root, ignore=_SKIP, symlinks=True)
    env = _env(tmp)
    done = subprocess.run(["geoequity", "-q", "demo"], cwd=root, env=env, text=True,
                          capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (root / "out/demo/cells.csv").exists() and (root / "maps/demo.html").exists()
    return tmp, root, env


def _run(block: Block, tmp: Path, root: Path, env: dict) -> subprocess.CompletedProcess:
    home = tmp / block.name.replace("/", "_").replace(":", "_")
    where = home / "repo"
    shutil.copytree(root, where, symlinks=True)
    if SHARED_DATA.is_dir():
        (home / "shared").symlink_to(SHARED_DATA.parent, target_is_directory=True)
    if block.kind == "python":
        (home / "example.py").write_text(block.script, encoding="utf-8")
        cmd = [sys.executable, str(home / "example.py")]
    else:
        cmd = ["bash", "-e", "-o", "pipefail", "-c", block.script]
    return subprocess.run(cmd, cwd=where, env=env, text=True, capture_output=True,
                          timeout=600)


def _needs_shared(block: Block) -> bool:
    return "../shared" in block.text


def _needs_chromium(block: Block) -> bool:
    """A PNG screenshot needs headless Chromium (as the browser tests do)."""
    return "--png" in block.text or "png=" in block.text


@pytest.fixture(scope="module")
def outcomes(demo_root, request):
    """Every runnable block the session selected (`-k` runs a few), two at a time (CI has
    two cores)."""
    from tests.conftest import chromium_path

    tmp, root, env = demo_root
    chosen = {item.callspec.params["block"].name for item in request.session.items
              if "block" in getattr(getattr(item, "callspec", None), "params", {})}
    todo = [b for b in TO_RUN if b.name in chosen
            and (SHARED_DATA.is_dir() or not _needs_shared(b))
            and (chromium_path() or not _needs_chromium(b))]
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip([b.name for b in todo],
                        pool.map(lambda b: _run(b, tmp, root, env), todo), strict=True))
    return done


@pytest.mark.parametrize("block", TO_RUN, ids=[b.name for b in TO_RUN])
def test_example_runs_as_written(block, outcomes):
    if block.name not in outcomes:
        pytest.skip("../shared/data is absent" if _needs_shared(block)
                    else "chromium is not installed")
    done = outcomes[block.name]
    assert done.returncode == 0, (
        f"{block.name} failed (exit {done.returncode}); mark it "
        "`<!-- not run: reason -->` only if it cannot run by nature.\n--- block\n"
        f"{block.text}\n--- stderr (end)\n{done.stderr[-3000:]}")
