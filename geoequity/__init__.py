"""geoequity: where children cannot reach a school seat, and what to do about it.

The public API is small and flat; each name lives in the module of its concept and is imported
lazily, so ``import geoequity`` stays fast and a notebook only pays for what it uses::

    import geoequity as ge
    schools = ge.read_schools("schools.csv", id_col="id", seats_col="seats")
    children = ge.read_population("worldpop.tif", child_share=0.12)
    net = ge.load_network("city.osm.pbf", mode="walk")
    costs = ge.travel_costs(children, schools, network=net, max_cost=2000)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> module that defines it. Data flows down this list (see docs/design.md).
_API: dict[str, str] = {
    # errors
    "GeoequityError": "geoequity._errors",
    "InputError": "geoequity._errors",
    "NetworkError": "geoequity._errors",
    "SolverError": "geoequity._errors",
    # coordinates
    "gcj02_to_wgs84": "geoequity.crs",
    "bd09_to_wgs84": "geoequity.crs",
    "wgs84_to_gcj02": "geoequity.crs",
    "utm_crs_for": "geoequity.crs",
    # inputs and outputs
    "read_layer": "geoequity.io",
    "read_points": "geoequity.io",
    "read_schools": "geoequity.io",
    "read_population": "geoequity.io",
    "read_districts": "geoequity.io",
    "write_table": "geoequity.io",
    # networks and travel costs
    "load_network": "geoequity.network",
    "Network": "geoequity.network",
    "CostSource": "geoequity.costs",
    "cost_table": "geoequity.costs",
    "default_max_cost": "geoequity.costs",
    "snap_report": "geoequity.costs",
    "travel_costs": "geoequity.costs",
    "euclidean_costs": "geoequity.costs",
    "Pairs": "geoequity.pairs",
    "code_pairs": "geoequity.pairs",
    # accessibility, catchments, gaps
    "accessibility": "geoequity.access",
    "nearest": "geoequity.access",
    "cumulative": "geoequity.access",
    "two_stage_fca": "geoequity.access",
    "enhanced_two_stage_fca": "geoequity.access",
    "balanced_fca": "geoequity.access",
    "gravity": "geoequity.access",
    "supply_ratio": "geoequity.access",
    "fair_share": "geoequity.access",
    "make_levels": "geoequity.levels",
    "access_by_level": "geoequity.levels",
    "level_supply": "geoequity.levels",
    "level_seats": "geoequity.levels",
    "parse_levels": "geoequity.level_names",
    "AssignmentResult": "geoequity.assignment",
    "SeatGaps": "geoequity.gaps",
    "nearest_catchments": "geoequity.catchments",
    "service_areas": "geoequity.catchments",
    "capacity_assignment": "geoequity.assignment",
    "decomposed_assignment": "geoequity.assignment_decomposed",
    "AssignmentReport": "geoequity.assignment_decomposed",
    "seat_gaps": "geoequity.gaps",
    # equity
    "gini": "geoequity.equity",
    "lorenz_curve": "geoequity.equity",
    "theil": "geoequity.equity",
    "coefficient_of_variation": "geoequity.equity",
    "inequality_summary": "geoequity.equity",
    "palma_ratio": "geoequity.equity",
    "max_min_ratio": "geoequity.equity",
    "share_below": "geoequity.equity",
    "share_above": "geoequity.equity",
    "spatial_equity": "geoequity.equity",
    "concentration_index": "geoequity.equity",
    "fgt_poverty": "geoequity.equity",
    "load_standards": "geoequity.balance",
    "urbanisation_grid": "geoequity.urban",
    "evaluate_balance": "geoequity.balance",
    "degree_of_urbanisation": "geoequity.urban",
    "cell_value_of": "geoequity.urban",
    "write_report": "geoequity.report",
    # decisions
    "site_schools": "geoequity.siting",
    "generate_candidates": "geoequity.siting",
    "SitingResult": "geoequity.siting",
    "read_proposals": "geoequity.districts",
    "ZoneProposal": "geoequity.districts",
    "evaluate_districts": "geoequity.districts",
    "compare_districts": "geoequity.districts",
    "propose_zones": "geoequity.districts",
    # future demand
    "project_enrolment": "geoequity.forecast",
    "run_forecast": "geoequity.forecast",
    "ForecastSettings": "geoequity.forecast",
    "backtest_enrolment": "geoequity.forecast",
    "YearlySettings": "geoequity.yearly",
    "run_years": "geoequity.yearly",
    "HousingLayer": "geoequity.housing",
    # outputs and pipeline
    "make_map": "geoequity.maps",
    "save_map": "geoequity.maps",
    "screenshot": "geoequity.maps",
    # progress output on stderr
    "set_quiet": "geoequity._progress",
    "quiet": "geoequity._progress",
    "load_scenario": "geoequity.scenario",
    "run_scenario": "geoequity.scenario",
    "RunSettings": "geoequity.settings",
    "make_demo": "geoequity.demo",
}

__all__ = ["__version__", *sorted(_API)]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'geoequity' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
