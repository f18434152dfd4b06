"""Interactive maps that open anywhere: folium maps saved as one offline HTML file.

``make_map`` builds a :class:`folium.Map` with switchable layers (children, accessibility,
seat gap, schools, catchments, districts, service areas, proposed sites and boundaries);
``save_map`` writes it as a single self-contained HTML file (Leaflet embedded, no CDN) and,
optionally, a PNG screenshot taken in headless Chromium. See ``docs/maps.md``.
"""

from __future__ import annotations

from geoequity.maps._map import MAX_VECTOR_CELLS, make_map
from geoequity.maps._save import map_html, save_map, screenshot
from geoequity.maps._tiles import resolve_tiles

__all__ = ["MAX_VECTOR_CELLS", "make_map", "map_html", "resolve_tiles", "save_map",
           "screenshot"]
