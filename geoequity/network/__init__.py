"""Street networks: load OSM extracts, line layers or places into a routable :class:`Network`.

``load_network(source, mode="walk")`` is the entry point; travel costs over a network are
computed by :func:`geoequity.costs.travel_costs`. See ``docs/network.md``.
"""

from geoequity.network.graph import Network
from geoequity.network.sources import from_lines, load_network

__all__ = ["Network", "from_lines", "load_network"]
