"""District (attendance zone) proposals: evaluate, compare and generate.

- :func:`evaluate_districts`: one row per district: seats, travel to its own schools, shape.
- :func:`compare_districts`: proposals side by side against the current boundaries, with the
  children, cells and schools each one moves.
- :func:`propose_zones`: contiguous, compact, seat-balanced zones around the schools (HiGHS
  integer programme, or a documented heuristic on large problems).

See docs/districts.md for every formula.
"""

from geoequity.districts.compare import ComparisonResult, compare_districts, district_moves
from geoequity.districts.evaluate import Membership, evaluate_districts, resolve_districts
from geoequity.districts.files import read_proposal, read_proposals
from geoequity.districts.propose import ZoneProposal, propose_zones
from geoequity.districts.shape import (
    cell_adjacency,
    cells_from_points,
    convex_hull_ratio,
    polsby_popper,
    reock,
    shape_metrics,
)

__all__ = [
    "ComparisonResult",
    "Membership",
    "ZoneProposal",
    "cell_adjacency",
    "cells_from_points",
    "compare_districts",
    "convex_hull_ratio",
    "district_moves",
    "evaluate_districts",
    "polsby_popper",
    "propose_zones",
    "read_proposal",
    "read_proposals",
    "reock",
    "resolve_districts",
    "shape_metrics",
]
