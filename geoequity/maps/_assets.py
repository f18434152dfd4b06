"""Offline assets: Leaflet and the geoequity map runtime, embedded in every saved map.

Leaflet 1.9.3 (the version folium 0.20 loads from a CDN; BSD-2-Clause, licence text in
``assets/LICENSE-leaflet.txt``) ships inside geoequity as package data, with the images its
CSS refers to inlined as ``data:`` URIs. The saved HTML therefore needs no network at all.

Why not the ``folium-offline`` package: it is a full fork of folium (``offlinefolium``, 7 MB of
Python holding every plugin's assets as strings) that would sit beside the real folium, and its
Leaflet CSS still points at relative ``images/*.png`` files. geoequity needs Leaflet only, so
it embeds exactly that (about 165 kB) and keeps building maps with folium itself.
"""

from __future__ import annotations

import base64
import re
from functools import cache
from importlib import resources

LEAFLET_VERSION = "1.9.3"


def _read(name: str, mode: str = "t") -> str | bytes:
    path = resources.files("geoequity.maps").joinpath("assets").joinpath(name)
    return path.read_text(encoding="utf-8") if mode == "t" else path.read_bytes()


@cache
def leaflet_css() -> str:
    """Leaflet's stylesheet with its images inlined (``data:image/png;base64``)."""
    css = _read("leaflet.css")

    def inline(match: re.Match) -> str:
        name = match.group(1).split("/")[-1]
        try:
            data = _read(name, "b")
        except FileNotFoundError:  # marker-shadow etc.: geoequity draws no default markers
            return "url(data:,)"
        return "url(data:image/png;base64," + base64.b64encode(data).decode("ascii") + ")"

    return re.sub(r"url\((images/[^)]+)\)", inline, css)


@cache
def leaflet_js() -> str:
    """Leaflet's minified JavaScript."""
    return _read("leaflet.js")


@cache
def runtime_js() -> str:
    """The geoequity map runtime (layer builders, legend, safe popups)."""
    return _read("geoequity.js")


@cache
def runtime_css() -> str:
    """Styles of the title, legend and popups."""
    return _read("geoequity.css")


def head_html() -> str:
    """``<style>`` and ``<script>`` elements to put in the page head, all inline."""
    return (
        f"<style>{leaflet_css()}</style>\n<style>{runtime_css()}</style>\n"
        f"<script>{leaflet_js()}</script>\n<script>{runtime_js()}</script>"
    )
