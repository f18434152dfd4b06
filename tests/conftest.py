"""Shared fixtures: the real data folder beside the repo, and a headless Chromium page.

Real data lives in ``../shared/data`` (relative to the repository root) and is never copied
into the repo. Tests that need it skip only when that folder is absent (CI always has it).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

try:  # OR-tools must load its bundled HiGHS before spopt/pulp's highspy does (test-only clash:
    # importing spopt first leaves libortools with an unresolved HiGHS symbol)
    from ortools.graph.python import min_cost_flow  # noqa: F401
except ImportError:  # pragma: no cover - ortools is a dependency; the tests then skip it
    pass

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; skips the test when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


def chromium_path() -> str | None:
    """Debian's chromium (installed by .ci/run), or GEOEQUITY_CHROMIUM."""
    return os.environ.get("GEOEQUITY_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser")


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium (Playwright, launched through ``executable_path``), one per session."""
    exe = chromium_path()
    if exe is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
        ])
        yield b
        b.close()


@pytest.fixture()
def offline_page(browser):
    """A fresh page whose every non-local request (http, https, ws) is aborted and recorded.

    ``page.blocked_requests`` lists the aborted URLs and ``page.console_errors`` the console
    errors and uncaught page errors, so a test can assert that a map draws with no network.
    """
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    page.blocked_requests = []
    page.console_errors = []

    def _route(route):
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            page.blocked_requests.append(url)
            route.abort()

    context.route("**/*", _route)
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    yield page
    context.close()


@pytest.fixture()
def refusal(capsys):
    """The refusal of a bad option through one door, as its message: ``"api"`` calls
    ``run_scenario(path, **api)``, ``"cli"`` runs ``geoequity run PATH *cli`` (exit status 2,
    one line, no traceback), ``"scenario"`` runs the scenario file ``scenario`` that spells
    the option itself. The parity tests of each option share it."""
    import geoequity as ge
    from geoequity.cli import main

    def refused(door: str, path, *, api: dict | None = None, cli=(), scenario=None) -> str:
        if door == "cli":
            assert main(["run", str(path), *cli]) == 2
            msg = capsys.readouterr().err
            assert msg.count("\n") == 1 and "Traceback" not in msg
            return msg
        with pytest.raises(ge.InputError) as err:
            if door == "api":
                ge.run_scenario(path, **(api or {}))
            else:
                ge.run_scenario(scenario)
        return str(err.value)
    return refused


@pytest.fixture(scope="module")
def client():
    """A local dask cluster of two worker processes (one thread each, no dashboard, its HTTP
    server on a free port, not 8787), one per test module that asks for it
    (tests/test_distributed.py, test_assignment_overlap.py)."""
    from distributed import Client, LocalCluster

    from geoequity.distributed import NO_DASHBOARD_PORT

    cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                           dashboard_address=None, scheduler_kwargs=NO_DASHBOARD_PORT)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()
