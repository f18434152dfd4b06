"""Reading and writing layers: schools, population, districts, generic point/vector layers.

Every reader returns a validated GeoDataFrame in a projected CRS in metres (the UTM zone of the
data's extent unless ``crs`` is named), with the layer's id in the index. Every writer is atomic.
"""

from geoequity.io.cost_table import match_ids, read_cost_table
from geoequity.io.districts import OUTSIDE, district_of, read_districts
from geoequity.io.population import population_extent, read_population, vector_layout
from geoequity.io.schools import read_schools
from geoequity.io.vector import read_layer, read_points, representative_points, set_ids
from geoequity.io.write import write_table

__all__ = [
    "OUTSIDE",
    "district_of",
    "match_ids",
    "population_extent",
    "read_cost_table",
    "read_districts",
    "read_layer",
    "read_points",
    "read_population",
    "read_schools",
    "representative_points",
    "set_ids",
    "vector_layout",
    "write_table",
]
