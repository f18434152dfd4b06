"""Interactive maps that open anywhere: folium maps saved as one offline HTML file.

``make_map`` builds a :class:`folium.Map` with switchable layers (children, accessibility,
seat gap, schools, catchments, districts, service areas, proposed sites and boundaries);
``save_map`` writes it as a single self-contained HTML file (Leaflet embedded, no CDN) and,
optionally, a PNG screenshot taken in headless Chromium. ``prepare_cells`` makes ahead what
a dense grid's cell layer takes from the geometry alone (a :class:`CellCanvas` for
``make_map(canvas=)``). See ``docs/maps.md``.
"""

from __future__ import annotations

from geoequity.maps._map import MAX_VECTOR_CELLS, CellCanvas, make_map, prepare_cells
from geoequity.maps._save import map_html, save_map, screenshot
from geoequity.maps._tiles import resolve_tiles

__all__ = ["MAX_VECTOR_CELLS", "CellCanvas", "make_map", "map_html", "prepare_cells",
           "resolve_tiles", "save_map", "screenshot"]
