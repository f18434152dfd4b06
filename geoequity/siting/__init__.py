"""Siting new schools: location-allocation with existing schools kept open.

Problems: p-median, maximal coverage (MCLP), set covering (LSCP), capacitated gap closing and
p-center, solved exactly with HiGHS (sparse MILPs) or by greedy + swap heuristics that report
their gap to a proven bound; and the equity objectives (max-min seats per child, min-max share
beyond the threshold, least Theil of access) with a trade-off table against the efficiency
optima. See ``docs/siting.md`` for the formulations.
"""

from geoequity.siting.candidates import generate_candidates
from geoequity.siting.core import PROBLEMS, SitingResult, site_schools
from geoequity.siting.phased import PhasedResult, site_phased

__all__ = ["PROBLEMS", "PhasedResult", "SitingResult", "generate_candidates", "site_phased",
           "site_schools"]
