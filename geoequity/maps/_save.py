"""Saving maps: one self-contained HTML file (atomic), and PNG screenshots in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

import folium

from geoequity._atomic import atomic_path, write_text
from geoequity._errors import GeoequityError, input_error
from geoequity._progress import step
from geoequity.maps._safe import check_tree

# <script src=...> / <link href=...> pointing at the network: never allowed in a saved map.
_REMOTE = re.compile(r"""<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//""",
                     re.IGNORECASE)


def map_html(m: folium.Map) -> str:
    """The complete HTML text of ``m``; raises if any script or stylesheet would be fetched, or
    if any element would compile data as template source (see ``maps/_safe.py``)."""
    root = m.get_root()
    check_tree(root)
    text = root.render()
    hit = _REMOTE.search(text)
    if hit:
        raise GeoequityError(
            f"map would load {text[hit.start():hit.start() + 120]!r} from the network; "
            "geoequity maps must be self-contained (was a CDN-loading folium plugin added?)")
    return text


def save_map(m: folium.Map, path, *, png=None, png_size: tuple[int, int] = (1400, 900)) -> Path:
    """Write ``m`` as one self-contained HTML file that opens with no network.

    Parameters
    ----------
    m
        A map from :func:`make_map`.
    path
        Output ``.html`` path; written atomically (a failure leaves no half file).
    png
        Optional path of a PNG screenshot of the map, taken in headless Chromium
        (``GEOEQUITY_CHROMIUM`` or ``chromium`` on the PATH).
    png_size
        Screenshot size in CSS pixels (width, height).

    Returns
    -------
    pathlib.Path
        The HTML path.
    """
    path = Path(path)
    with step(f"writing map {path}"):
        write_text(path, map_html(m))
    if png is not None:
        screenshot(path, png, size=png_size)
    return path


def chromium_executable() -> str:
    """Path of the Chromium binary: ``$GEOEQUITY_CHROMIUM``, else ``chromium`` on the PATH."""
    env = os.environ.get("GEOEQUITY_CHROMIUM")
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise input_error("GEOEQUITY_CHROMIUM", f"{env} is not an executable file",
                              "point it at the chromium binary or unset it")
        return env
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        raise input_error("--png", "no Chromium browser found for the screenshot",
                          "install chromium (Debian: apt-get install chromium) or set "
                          "GEOEQUITY_CHROMIUM to its path")
    return exe


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def screenshot(html_path, png_path, *, size: tuple[int, int] = (1400, 900),
               allow_network: bool = True, timeout_s: float = 60.0) -> Path:
    """Render a saved map in headless Chromium and write a PNG of it (atomically).

    Waits until the map's layers are built (``data-ge-ready``) and, when the map has a basemap
    and ``allow_network``, up to a few seconds for tiles. Runs in its own thread so that it also
    works inside a notebook's event loop.
    """
    html_path = Path(html_path).resolve()
    png_path = Path(png_path)
    if not html_path.is_file():
        raise input_error(html_path, "map file not found", "save the map first")
    exe = chromium_executable()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise input_error("--png", "screenshots need the Playwright package",
                          "pip install playwright (it drives the installed chromium; no "
                          "browser download is needed)") from None
    result: dict = {}

    def run() -> None:
        try:
            _shoot(exe, html_path, png_path, size, allow_network, timeout_s)
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    with step(f"screenshot {png_path}"):
        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join()
    if "error" in result:
        exc = result["error"]
        if isinstance(exc, GeoequityError):
            raise exc
        raise GeoequityError(f"screenshot of {html_path.name} failed: {exc}") from exc
    return png_path


def _shoot(exe, html_path, png_path, size, allow_network, timeout_s):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": size[0], "height": size[1]})
            if not allow_network:
                page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(
                    ("file:", "data:", "blob:", "about:")) else r.abort())
            page.goto(html_path.as_uri(), wait_until="load", timeout=timeout_s * 1000)
            page.wait_for_selector("body[data-ge-ready]", timeout=timeout_s * 1000)
            if allow_network:
                try:
                    page.wait_for_load_state("networkidle", timeout=8000)
                except Exception:  # noqa: BLE001 - tiles unreachable: screenshot without them
                    pass
            page.wait_for_timeout(300)  # let Leaflet finish its zoom animation frame
            with atomic_path(png_path) as tmp:
                page.screenshot(path=str(tmp), full_page=False)
        finally:
            browser.close()
