"""Travel modes: which streets each mode may use, how fast it moves, and one-way rules.

Speeds are in km/h. Walking and cycling use one settable speed on every street; driving takes
the OSM ``maxspeed`` tag when it parses, else a default by ``highway`` type
(:data:`DRIVE_SPEEDS`). One-way streets (``oneway=yes|true|1|-1``, ``junction=roundabout``)
restrict driving only; pedestrians walk both ways and cyclists are treated the same way
(``oneway:bicycle`` is not modelled).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

MODES = ("walk", "bike", "drive")

#: pyrosm ``network_type`` per mode
PYROSM_TYPES = {"walk": "walking", "bike": "cycling", "drive": "driving"}
#: osmnx ``network_type`` per mode
OSMNX_TYPES = {"walk": "walk", "bike": "bike", "drive": "drive"}

#: Default driving speeds (km/h) by OSM ``highway`` value, used when ``maxspeed`` is missing or
#: unparseable. Values follow common urban practice (osmnx imputes means per type instead).
DRIVE_SPEEDS: dict[str, float] = {
    "motorway": 100.0, "motorway_link": 60.0,
    "trunk": 80.0, "trunk_link": 50.0,
    "primary": 60.0, "primary_link": 40.0,
    "secondary": 50.0, "secondary_link": 40.0,
    "tertiary": 40.0, "tertiary_link": 30.0,
    "unclassified": 30.0, "residential": 30.0, "road": 30.0,
    "living_street": 10.0, "service": 20.0, "track": 15.0, "busway": 30.0,
}
DEFAULT_DRIVE_SPEED = 30.0

#: Highway values a mode may not use (applied to OSM XML, GraphML and line layers with a
#: ``highway`` column; pyrosm applies its own equivalent filters to .osm.pbf files).
EXCLUDED_HIGHWAYS: dict[str, frozenset[str]] = {
    "walk": frozenset({"motorway", "motorway_link", "trunk", "trunk_link", "construction",
                       "proposed", "abandoned", "platform", "raceway", "bus_guideway"}),
    "bike": frozenset({"motorway", "motorway_link", "steps", "construction", "proposed",
                       "abandoned", "platform", "raceway", "bus_guideway"}),
    "drive": frozenset({"footway", "pedestrian", "path", "steps", "cycleway", "bridleway",
                        "corridor", "elevator", "construction", "proposed", "abandoned",
                        "platform", "raceway", "bus_guideway", "escalator"}),
}

_MPH = 1.609344
_NUM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$", re.IGNORECASE)
_WORD_SPEEDS = {"walk": 5.0, "none": 130.0, "signals": np.nan, "variable": np.nan}


def check_mode(mode: str) -> str:
    """Return the mode name, or raise a clear error for anything else."""
    from geoequity._errors import input_error

    if mode not in MODES:
        raise input_error("mode", f"unknown travel mode {mode!r}", f"use one of {', '.join(MODES)}")
    return mode


def _first(value: object) -> str | None:
    """First value of an OSM tag that may be a list, a ``;``-separated string, or missing."""
    if value is None:
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        return str(value[0]) if len(value) else None
    if isinstance(value, float) and np.isnan(value):
        return None
    text = str(value)
    if text.startswith("[") and text.endswith("]"):  # GraphML stores lists as their repr
        text = text.strip("[]").split(",")[0].strip(" '\"")
    return text.split(";")[0].strip() or None


def parse_maxspeed(value: object) -> float:
    """Parse one OSM ``maxspeed`` value to km/h; NaN when it carries no number.

    ``"50"`` -> 50, ``"30 mph"`` -> 48.3, ``"50;60"`` -> 50 (first), ``"walk"`` -> 5,
    ``"none"`` -> 130, ``"BR:urban"`` -> NaN (the highway default applies).
    """
    text = _first(value)
    if text is None:
        return np.nan
    low = text.lower()
    if low in _WORD_SPEEDS:
        return _WORD_SPEEDS[low]
    m = _NUM.match(low)
    if not m:
        return np.nan
    speed = float(m.group(1))
    if m.group(2) and m.group(2).lower() == "mph":
        speed *= _MPH
    return speed if speed > 0 else np.nan


def drive_speeds(highway: pd.Series | None, maxspeed: pd.Series | None, n: int) -> np.ndarray:
    """Driving speed (km/h) per edge: parsed ``maxspeed``, else the ``highway`` default."""
    speed = np.full(n, np.nan)
    if maxspeed is not None:
        speed = np.array([parse_maxspeed(v) for v in maxspeed], dtype=float)
    if highway is not None:
        hw = [_first(v) for v in highway]
        default = np.array([DRIVE_SPEEDS.get(h or "", DEFAULT_DRIVE_SPEED) for h in hw])
    else:
        default = np.full(n, DEFAULT_DRIVE_SPEED)
    return np.where(np.isnan(speed), default, speed)


def oneway_flags(oneway: pd.Series | None, junction: pd.Series | None,
                 n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per edge ``(oneway, reverse)``: one-way at all, and one-way against the geometry (``-1``).

    ``yes``/``true``/``1`` and ``junction=roundabout`` or ``circular`` mean one-way along the
    digitised direction; ``-1``/``reverse`` mean one-way against it.
    """
    one = np.zeros(n, dtype=bool)
    rev = np.zeros(n, dtype=bool)
    if oneway is not None:
        vals = [(_first(v) or "").lower() for v in oneway]
        one = np.array([v in ("yes", "true", "1", "-1", "reverse") for v in vals], dtype=bool)
        rev = np.array([v in ("-1", "reverse") for v in vals], dtype=bool)
        # a boolean column (GraphML from osmnx, user layers) arrives as True/False
        one |= np.array([v is True or v is np.True_ for v in oneway], dtype=bool)
    if junction is not None:
        j = np.array([(_first(v) or "").lower() in ("roundabout", "circular") for v in junction])
        one |= j
    return one, rev


def excluded(highway: pd.Series | None, mode: str, n: int) -> np.ndarray:
    """Boolean mask of edges the mode may not use, from the ``highway`` column."""
    if highway is None:
        return np.zeros(n, dtype=bool)
    bad = EXCLUDED_HIGHWAYS[mode]
    return np.array([(_first(v) or "") in bad for v in highway], dtype=bool)
