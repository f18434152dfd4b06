"""The settings of one run, as one typed object from the scenario to every output.

:class:`RunSettings` is what a run was asked to do (title, level, threshold, unit, method,
decay, cost source, language ...), as opposed to what it found (the headline figures of
``Results.summary``). The scenario builds it (:func:`geoequity.scenario.run_settings`); the
outputs read it (``summary.json``, the report, the map title and credits); ``geoequity map
OUTDIR`` and ``geoequity report OUTDIR`` read it back from ``summary.json``
(:meth:`RunSettings.from_summary`). ``summary.json`` holds the figures followed by these
fields, under the same keys (:meth:`RunSettings.to_summary`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["RunSettings"]


@dataclass(frozen=True)
class RunSettings:
    """What a run was asked to do.

    Attributes
    ----------
    title
        Title of the map and the report (None: their generic one).
    scenario
        Path of the scenario file, when the run came from one.
    unit
        Cost unit: ``"m"`` (metres) or ``"min"`` (minutes).
    osm
        Whether the streets came from OpenStreetMap (the outputs then carry its credit).
    level
        The school level analysed (``"primary"`` ...), or None for all schools.
    tiles
        Basemap of the map (``"none"`` draws no tiles: the map works offline).
    lang
        Language of the report: ``"en"`` or ``"zh"``.
    threshold
        Walking (riding, driving) threshold in ``unit``: a school is within reach when
        ``cost <= threshold``.
    method, decay, decay_param
        The accessibility measure of the ``access`` column and its decay.
    max_cost
        Longest trip in the cost table (beyond it a child has no school).
    assignment_max_cost
        Longest trip the capacity-constrained assignment may use.
    costs
        Where the travel costs came from (``"network walk: streets.gpkg"``, ``"straight
        line"``, ``"table: costs.csv"``).
    checklist, teachers
        The county's 2017 checklist table and teacher table (``[evaluation]``), for the
        report's checklist section.
    """

    title: str | None = None
    scenario: str | None = None
    unit: str = "m"
    osm: bool = False
    level: str | None = None
    tiles: str = "none"
    lang: str = "en"
    threshold: float | None = None
    method: str | None = None
    decay: str | None = None
    decay_param: str | float | None = None
    max_cost: float | None = None
    assignment_max_cost: float | None = None
    costs: str | None = None
    checklist: str | None = None
    teachers: str | None = None

    def to_summary(self) -> dict[str, Any]:
        """The fields as ``summary.json`` keys (``dataclasses.asdict``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_summary(cls, summary: dict[str, Any] | None) -> RunSettings:
        """The settings a ``summary.json`` holds; keys it lacks (an older or hand-written
        file) keep their defaults, other keys (the figures) are ignored."""
        if not isinstance(summary, dict):
            return cls()
        given = {f.name: summary[f.name] for f in dataclasses.fields(cls)
                 if summary.get(f.name) is not None}
        if "osm" in given:
            given["osm"] = bool(given["osm"])
        for key in ("title", "scenario", "unit", "level", "tiles", "lang", "method", "costs",
                    "checklist", "teachers"):
            if key in given:
                given[key] = str(given[key])
        for key in ("threshold", "max_cost", "assignment_max_cost"):
            if key in given and not isinstance(given[key], int | float):
                try:
                    given[key] = float(given[key])
                except (TypeError, ValueError):
                    pass   # kept as written (a hand-written "1 km" is shown as it is)
        return cls(**given)
