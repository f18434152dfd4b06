"""Basemaps: none (default), OpenStreetMap, any XYZ URL, xyzservices providers, Tianditu, Amap.

A basemap is optional: with ``tiles="none"`` the map needs no network at all. With a basemap
and no network, the tiles stay blank and the data layers still draw.

Chinese basemaps: Tianditu (天地图) serves Web Mercator tiles in CGCS2000, which matches WGS84
to well under a metre, so data is drawn unshifted; it needs a key (``tiles_key``). Amap/Gaode
(高德) tiles are in GCJ-02, so the data is shifted WGS84 -> GCJ-02 (``geoequity.crs``) to line
up with the streets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

from geoequity._errors import input_error

OSM_ATTRIBUTION = ('&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> '
                   'contributors (ODbL)')

TIANDITU_URL = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                "&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}")
AMAP_URL = ("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
            "&x={x}&y={y}&z={z}")
AMAP_SATELLITE_URL = "https://webst0{s}.is.autonavi.com/appmaptile?style=6&x={x}&y={y}&z={z}"


@dataclass
class Basemap:
    """Resolved basemap: tile layers (url, attribution, options) and the datum of the tiles."""

    name: str
    layers: list[tuple[str, str, dict]] = field(default_factory=list)
    gcj02: bool = False
    osm: bool = False


def resolve_tiles(tiles: str | None, *, key: str | None = None,
                  attribution: str | None = None) -> Basemap:
    """Turn a ``--tiles`` value into tile layers.

    Parameters
    ----------
    tiles
        ``"none"`` (or None/""), ``"osm"``, ``"tianditu"``, ``"tianditu-satellite"``,
        ``"amap"`` (alias ``"gaode"``), ``"amap-satellite"``, an xyzservices provider name
        such as ``"CartoDB.Positron"``, or an XYZ URL template with ``{z}``, ``{x}``, ``{y}``.
    key
        API key for Tianditu or for xyzservices providers that need one.
    attribution
        Attribution text for a custom URL (default: the URL's host name).
    """
    t = (tiles or "none").strip()
    low = t.lower()
    if low in ("none", "no", "off", ""):
        return Basemap("none")
    if low in ("osm", "openstreetmap"):
        return Basemap("OpenStreetMap", [("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                                          OSM_ATTRIBUTION, {"max_zoom": 19})], osm=True)
    if low in ("tianditu", "tianditu-satellite"):
        if not key:
            raise input_error("--tiles", f"{t} tiles need a Tianditu key",
                              "pass --tiles-key KEY (tiles_key=... in Python); get one at "
                              "console.tianditu.gov.cn")
        base, label = ("img", "cia") if low.endswith("satellite") else ("vec", "cva")
        opts = {"subdomains": "01234567", "max_zoom": 18}
        attr = "&copy; 天地图 Tianditu"
        return Basemap(t, [(TIANDITU_URL.replace("{layer}", base).replace("{key}", key), attr,
                            opts),
                           (TIANDITU_URL.replace("{layer}", label).replace("{key}", key), attr,
                            opts)])
    if low in ("amap", "gaode", "amap-satellite", "gaode-satellite"):
        url = AMAP_SATELLITE_URL if low.endswith("satellite") else AMAP_URL
        return Basemap(t, [(url, "&copy; 高德地图 AutoNavi", {"subdomains": "1234",
                                                          "max_zoom": 18})], gcj02=True)
    if "{z}" in t and "{x}" in t and "{y}" in t:
        if not t.startswith(("http://", "https://", "file:")):
            raise input_error("--tiles", f"tile URL {t!r} has no http(s):// scheme",
                              "give a full URL such as https://tiles.example.org/{z}/{x}/{y}.png")
        host = urlparse(t).netloc or t
        osm = "openstreetmap" in host
        attr = attribution or (OSM_ATTRIBUTION if osm else f"tiles: {host}")
        return Basemap(host, [(t, attr, {})], osm=osm, gcj02="autonavi" in host)
    return _xyzservices(t, key)


def _xyzservices(name: str, key: str | None) -> Basemap:
    import xyzservices

    try:
        provider = xyzservices.providers.query_name(name)
    except ValueError:
        raise input_error("--tiles", f"unknown basemap {name!r}",
                          "use none, osm, tianditu, amap, an xyzservices name such as "
                          "CartoDB.Positron, or a URL with {z}/{x}/{y}") from None
    if provider.requires_token():
        if not key:
            raise input_error("--tiles", f"basemap {name!r} needs an API key",
                              "pass --tiles-key KEY (tiles_key=... in Python)")
        token_keys = [k for k, v in provider.items()
                      if isinstance(v, str) and v.lower() == "<insert your api key here>"]
        provider = provider.copy()
        for k in token_keys:
            provider[k] = key
    opts = {"max_zoom": int(provider.get("max_zoom", 19))}
    if "subdomains" in provider:
        opts["subdomains"] = provider["subdomains"]
    osm = "openstreetmap" in (provider.get("attribution", "") + provider.get("url", "")).lower()
    gcj = provider.name.lower().startswith("gaode")
    return Basemap(provider.name, [(provider.build_url(), provider.html_attribution, opts)],
                   osm=osm, gcj02=gcj)
