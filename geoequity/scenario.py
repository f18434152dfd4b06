"""Scenario files: one TOML file that makes a whole analysis repeatable.

A scenario names the inputs and their columns, the network and travel mode, the thresholds and
methods, and the outputs. ``geoequity run scenario.toml`` (or :func:`run_scenario`) reads it,
checks every key (an unknown or misspelt key is an error that suggests the right one), runs the
pipeline (:mod:`geoequity.pipeline`) and writes every output into one folder.

Paths written in the file are relative to the file's own folder, so a scenario and its data
can be moved together. See ``docs/scenario.md`` for every key.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import os
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoequity._errors import InputError, input_error
from geoequity._options import door, option
from geoequity._progress import info, step
from geoequity.costs import default_max_cost
from geoequity.levels import preset_level, schools_for_level
from geoequity.settings import RunSettings

# section -> {key: (types, required)}; a section marked required must be present.
_STR = (str,)
_NUM = (int, float)
_PATHS = (str, list)
SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "": {"title": (_STR, False)},
    "schools": {"path": (_STR, True), "id": (_STR, False), "seats": (_STR, False),
                "level": (_STR, False), "name": (_STR, False), "default_seats": (_NUM, False),
                "input_crs": (_STR, False), "layer": (_STR, False), "id_dtype": (_STR, False),
                "type": (_STR, False)},
    "population": {"path": (_PATHS, True), "count": (_PATHS, False), "id": (_STR, False),
                   "id_dtype": (_STR, False),
                   "child_share": (_NUM, False), "input_crs": (_STR, False),
                   "layer": (_STR, False), "bounds": ((str, list), False),
                   "residents": (_STR, False)},
    "districts": {"path": (_STR, True), "name": (_STR, True), "input_crs": (_STR, False),
                  "layer": (_STR, False), "type": (_STR, False), "group": (_STR, False)},
    "network": {"path": (_STR, False), "place": (_STR, False), "mode": (_STR, False),
                "euclidean": ((bool,), False), "detour_factor": (_NUM, False),
                "walk_speed": (_NUM, False), "bike_speed": (_NUM, False),
                "speed": (_NUM, False), "snap_limit": (_NUM, False),
                "off_network": (_STR, False), "costs": (_STR, False),
                "costs_columns": ((str, list), False), "cache_dir": ((str, bool), False)},
    "analysis": {"level": (_STR, False), "threshold": (_NUM, False), "preset": (_STR, False),
                 "max_cost": (_NUM, False),
                 "method": (_STR, False), "decay": (_STR, False),
                 "decay_param": ((str, int, float), False), "unit": (_STR, False),
                 "crs": (_STR, False), "assignment": ((bool,), False),
                 "assignment_max_cost": (_NUM, False),
                 "urban": (_STR, False)},
    "proposals": {"name": (_STR, True), "path": (_STR, True), "name_col": (_STR, False),
                  "cell_col": (_STR, False), "input_crs": (_STR, False)},
    "years": {"year": ((int,), True), "run": (_STR, False), "schools": (_STR, False),
              "district": (_STR, False), "level": (_STR, False), "enrolment": (_STR, False),
              "standard": (_STR, False)},
    "evaluation": {"checklist": (_STR, False), "teachers": (_STR, False)},
    # where the run computes (geoequity.distributed): a dask scheduler or a local cluster
    "compute": {"scheduler": (_STR, False), "workers": ((int,), False),
                "partition": ((str, int, float), False), "assignment_mode": (_STR, False)},
    "outputs": {"folder": (_STR, False), "map": (_STR, False), "report": ((bool,), False),
                "lang": (_STR, False), "tiles": (_STR, False), "png": (_STR, False),
                "csv": ((bool, str), False), "gpkg": ((bool, str), False),
                "maps_by": (_STR, False)},
    # the per-year pipeline (geoequity.yearly); column keys are geoequity forecast's flags
    "forecast": {"base_year": ((int,), True), "horizon": ((int,), False),
                 "enrolment": (_STR, False), "births": (_STR, False),
                 "grades": ((list,), False), "school_col": (_STR, False),
                 "year_col": (_STR, False), "grade_col": (_STR, False),
                 "count_col": (_STR, False), "births_year_col": (_STR, False),
                 "births_col": (_STR, False), "birth_lag": ((int,), False),
                 "method": (_STR, False), "bands": ((dict,), False), "ages": ((list,), False)},
    "housing": {"path": (_STR, True), "units": (_STR, False), "year": (_STR, False),
                "children_per_unit": (_NUM, False),
                "children_per_1000_residents": (_NUM, False), "residents": (_STR, False),
                "persons_per_unit": (_NUM, False), "preset": (_STR, False),
                "build_years": ((int, str), False), "input_crs": (_STR, False),
                "layer": (_STR, False)},
    # plans over time (geoequity.plans): [[plans]] with dated [[plans.<kind>]] tables
    "plans": {"name": (_STR, True), "open": ((list,), False), "expand": ((list,), False),
              "close": ((list,), False), "boundaries": ((list,), False),
              "housing": ((list,), False)},
    "plans.open": {"id": (_STR, True), "name": (_STR, False), "lon": (_NUM, False),
                   "lat": (_NUM, False), "x": (_NUM, False), "y": (_NUM, False),
                   "seats": (_NUM, True), "level": (_STR, False), "year": ((int,), True)},
    "plans.expand": {"school": (_STR, True), "seats": (_NUM, True), "year": ((int,), True)},
    "plans.close": {"school": (_STR, True), "year": ((int,), True),
                    "merge_into": (_STR, False)},
    "plans.boundaries": {"path": (_STR, True), "name_col": (_STR, False),
                         "cell_col": (_STR, False), "input_crs": (_STR, False),
                         "year": ((int,), True)},
    "plans_costs": {"per_seat": (_NUM, False), "per_school": (_NUM, False)},
}
# the tables inside a [[plans]] entry (their keys: SCHEMA["plans.<kind>"]; housing: [[housing]])
PLAN_KINDS = ("open", "expand", "close", "boundaries", "housing")
METHODS = ("nearest", "cumulative", "2sfca", "e2sfca", "bfca", "gravity")
MODES = ("walk", "bike", "drive")


@dataclass
class Scenario:
    """A parsed, checked scenario. Paths are absolute."""

    path: Path
    title: str
    schools: dict[str, Any]
    population: dict[str, Any]
    districts: dict[str, Any] | None
    network: dict[str, Any]
    analysis: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    proposals: list[dict[str, Any]] = field(default_factory=list)
    years: list[dict[str, Any]] = field(default_factory=list)
    evaluation: dict[str, Any] = field(default_factory=dict)
    forecast: dict[str, Any] | None = None         # [forecast]: the per-year pipeline
    housing: list[dict[str, Any]] = field(default_factory=list)   # [[housing]] layers
    compute: Any = None   # geoequity.distributed.ComputeOptions of [compute]
    plans: list[dict[str, Any]] = field(default_factory=list)     # [[plans]] (paths absolute)
    plans_costs: dict[str, Any] = field(default_factory=dict)     # [plans_costs] unit costs
    # [compute] assignment_mode (geoequity.assignment_decomposed): auto, exact or decomposed
    assignment_mode: str = "auto"

    @property
    def folder(self) -> Path:
        return self.path.parent


def _suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(options))}"


def _check_section(src: Path, name: str, table: dict, where: str | None = None) -> None:
    spec = SCHEMA[name]
    where = where or (f"[{name}]" if name else "top level")
    for key, value in table.items():
        if name == "" and key in SCHEMA:
            continue
        if key not in spec:
            raise input_error(src, f"unknown key {key!r} in {where}", _suggest(key, spec))
        types, _ = spec[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            kinds = " or ".join(t.__name__ for t in types)
            raise input_error(src, f"{where} {key} = {value!r} should be {kinds}",
                              "fix the value")
        if isinstance(value, float) and not math.isfinite(value):
            raise input_error(src, f"{where} {key} = {value!r} is not a finite number",
                              "give a number")
        if key == "id_dtype" and value not in ("str", "int"):
            raise input_error(src, f"{where} id_dtype = {value!r} is not an id type",
                              'use "str" (text, as written) or "int" (whole numbers)')
    for key, (_, required) in spec.items():
        if required and key not in table:
            raise input_error(src, f"{where} is missing {key!r}", f"add {key} = ...")


def _resolve(base: Path, value):
    if value is None:
        return None
    if isinstance(value, list):
        return [_resolve(base, v) for v in value]
    p = Path(os.path.expanduser(str(value)))
    return p if p.is_absolute() else (base / p).resolve()


def _read_toml(path) -> tuple[Path, dict]:
    src = Path(os.fspath(path)).resolve()
    if not src.exists():
        raise input_error(path, "scenario file not found", "check the path")
    try:
        data = tomllib.loads(src.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise input_error(src, f"is not valid TOML ({exc})", "fix the syntax at that line") \
            from exc
    except UnicodeDecodeError as exc:
        raise input_error(src, "is not UTF-8 text", "save it as UTF-8") from exc
    return src, data


def _check(src: Path, data: dict) -> None:
    for section, value in data.items():
        if isinstance(value, dict) and section not in SCHEMA:
            raise input_error(src, f"unknown section [{section}]", _suggest(section, SCHEMA))
    _check_section(src, "", data)
    for section in ("schools", "population", "analysis"):
        if section not in data:
            raise input_error(src, f"has no [{section}] section", f"add [{section}] with its keys")
    _check_forecast(src, data)
    _check_plans(src, data)
    for section in SCHEMA:
        if section in ("forecast", "housing", "plans") or section.startswith("plans."):
            continue
        if section == "proposals" and section in data:
            entries = data[section]
            if not isinstance(entries, list):
                raise input_error(src, "proposals must be a list of [[proposals]] tables",
                                  "write each as [[proposals]] with name and path")
            names = []
            for entry in entries:
                _check_section(src, section, entry)
                names.append(entry["name"])
            _check_proposal_names(src, names)
            if "districts" not in data:
                raise input_error(src, "[[proposals]] need the current [districts]",
                                  "add a [districts] section (the current boundaries)")
        elif section == "years" and section in data:
            _check_years(src, data[section])
        elif section and section in data:
            _check_section(src, section, data[section])


def _check_forecast(src: Path, data: dict) -> None:
    """``[forecast]`` and ``[[housing]]``: keys, types and values that cannot be right."""
    if "housing" in data:
        entries = data["housing"]
        if not isinstance(entries, list):
            raise input_error(src, "housing must be a list of [[housing]] tables",
                              "write each layer as [[housing]] with path, units, year and "
                              "children_per_unit")
        if "forecast" not in data:
            raise input_error(src, "[[housing]] needs a [forecast] section (its base year and "
                              "horizon)", "add [forecast] with base_year = ... and horizon = ...")
        for i, entry in enumerate(entries, 1):
            _check_section(src, "housing", entry)
            for key in ("children_per_unit", "children_per_1000_residents",
                        "persons_per_unit"):
                if key in entry and entry[key] < 0:
                    raise input_error(src, f"[[housing]] number {i}: {key} = {entry[key]} is "
                                      "negative", "give the children a dwelling brings, 0 or more")
            if isinstance(entry.get("build_years"), int) and entry["build_years"] < 1:
                raise input_error(src, f"[[housing]] number {i}: build_years = "
                                  f"{entry['build_years']} is below 1",
                                  "give the build-out in years (1 or more) or a column name")
    if "forecast" not in data:
        return
    f = data["forecast"]
    if not isinstance(f, dict):
        raise input_error(src, "forecast must be a [forecast] table", "write it as [forecast]")
    _check_section(src, "forecast", f)
    if not 1 <= f.get("horizon", 5) <= 50:
        raise input_error(src, f"[forecast] horizon = {f['horizon']} is not 1-50 years",
                          "give the number of years after the base year, e.g. horizon = 5")
    if not 1800 <= f["base_year"] <= 2200:
        raise input_error(src, f"[forecast] base_year = {f['base_year']} is not a year",
                          "give the year the population data describe, e.g. base_year = 2026")
    ages = f.get("ages")
    if ages is not None and not (len(ages) == 2 and all(
            isinstance(a, int) and not isinstance(a, bool) and a >= 0 for a in ages)
            and ages[0] <= ages[1]):
        raise input_error(src, f"[forecast] ages = {ages!r} is not [first, last] age",
                          "give the school ages, e.g. ages = [6, 11]")
    method = f.get("method", "shrinkage")
    if method not in ("shrinkage", "standard"):
        raise input_error(src, f"[forecast] method = {method!r} is unknown",
                          _suggest(method, ("shrinkage", "standard")))


def _check_plans(src: Path, data: dict) -> None:
    """``[[plans]]``: keys and types of every table, one name per plan, a place per new school,
    years within the forecast, no school closed twice (the schools themselves are checked when
    read: :func:`geoequity.plans.check_plans`)."""
    if "plans" not in data:
        return
    entries = data["plans"]
    if not isinstance(entries, list):
        raise input_error(src, "plans must be a list of [[plans]] tables",
                          "write each plan as [[plans]] with a name and its [[plans.open]], "
                          "[[plans.expand]], [[plans.close]] ... tables")
    f = data.get("forecast")
    years = None
    if isinstance(f, dict) and isinstance(f.get("base_year"), int):
        b = f["base_year"]
        years = range(b, b + int(f.get("horizon", 5)) + 1)
    seen: dict[str, int] = {}
    for i, plan in enumerate(entries, 1):
        if not isinstance(plan, dict):
            raise input_error(src, f"[[plans]] entry {i} is not a table", "write it as [[plans]]")
        _check_section(src, "plans", plan, where=f"[[plans]] entry {i}")
        name = plan["name"]
        if not name.strip() or name.strip().lower() == "(current)":
            raise input_error(src, f"[[plans]] entry {i}: name = {name!r} is empty or the name "
                              "of the current state", "give the plan a name of its own")
        key = name.strip().lower()
        if key in seen:
            raise input_error(src, f"[[plans]] entries {seen[key]} and {i} are both named "
                              f"{name!r}", "give every plan its own name")
        seen[key] = i
        closed: dict[str, int] = {}
        for kind in PLAN_KINDS:
            tables = plan.get(kind, [])
            where = f"[[plans]] {name!r} [[plans.{kind}]]"
            for n, t in enumerate(tables, 1):
                if not isinstance(t, dict):
                    raise input_error(src, f"{where} entry {n} is not a table",
                                      f"write it as [[plans.{kind}]]")
                if kind == "housing":
                    if years is None:
                        raise input_error(src, f"{where} needs a [forecast] section (its base "
                                          "year and horizon)", "add [forecast] with base_year "
                                          "= ... and horizon = ...")
                    _check_section(src, "housing", t, where=where)
                    continue
                _check_section(src, f"plans.{kind}", t, where=where)
                _check_plan_entry(src, where, kind, t, years, closed)
        if plan.get("boundaries") and "districts" not in data:
            raise input_error(src, f"[[plans]] {name!r} [[plans.boundaries]] need the current "
                              "[districts]", "add a [districts] section (the current boundaries)")


def _check_plan_entry(src: Path, where: str, kind: str, t: dict, years, closed: dict) -> None:
    year = t["year"]
    if years is not None and year not in years:
        raise input_error(src, f"{where} year = {year} is outside the forecast years "
                          f"{years[0]}-{years[-1]}", "give a year of the forecast, or lengthen "
                          "[forecast] horizon")
    if years is None and not 1800 <= year <= 2200:
        raise input_error(src, f"{where} year = {year} is not a year", "give e.g. year = 2028")
    if kind == "open":
        lonlat, xy = ("lon" in t, "lat" in t), ("x" in t, "y" in t)
        if not ((all(lonlat) and not any(xy)) or (all(xy) and not any(lonlat))):
            raise input_error(src, f"{where} id = {t['id']!r} needs lon and lat, or x and y",
                              "give lon = ... and lat = ... (WGS84), or x and y in the "
                              "schools' CRS")
        if t["seats"] <= 0:
            raise input_error(src, f"{where} id = {t['id']!r} seats = {t['seats']} is not "
                              "above 0", "give the new school's seats")
    if kind == "close":
        school = t["school"]
        if school in closed:
            raise input_error(src, f"{where} school = {school!r} is closed twice ({closed[school]}"
                              f" and {year})", "close each school once")
        closed[school] = year


def _yearly(base: Path, data: dict) -> tuple[dict | None, list[dict]]:
    """``[forecast]`` and ``[[housing]]`` with their paths made absolute."""
    f = data.get("forecast")
    if f is not None:
        f = _with_paths(base, f, ("enrolment", "births"))
        if "bands" in f:
            f["bands"] = {str(k): _resolve(base, v) for k, v in f["bands"].items()}
    return f, [_with_paths(base, h) for h in data.get("housing", [])]


def scenario_plans(scenario: Scenario) -> list:
    """The scenario's ``[[plans]]`` as :class:`geoequity.plans.Plan` (their messages name the
    scenario file). The ``x``/``y`` of opened schools are in ``[schools] input_crs`` when
    given, else in the run's CRS."""
    from geoequity.plans import plans_of

    crs = scenario.schools.get("input_crs")
    return plans_of(scenario.plans, source=str(scenario.path), crs=crs)


def yearly_settings(scenario: Scenario):
    """The scenario's ``[forecast]`` and ``[[housing]]`` as
    :class:`geoequity.yearly.YearlySettings` (None without ``[forecast]``)."""
    from geoequity.housing import HousingLayer
    from geoequity.yearly import YearlySettings

    f = scenario.forecast
    if f is None:
        return None
    housing = [HousingLayer(**h) for h in scenario.housing]
    keys = {k: v for k, v in f.items() if k != "ages"}
    if "grades" in keys:
        keys["grades"] = [str(g) for g in keys["grades"]]
    if "ages" in f:
        keys["ages"] = tuple(f["ages"])
    return YearlySettings(**keys, housing=housing, source=f"{scenario.path} [forecast]")
def _check_years(src: Path, entries) -> None:
    """``[[years]]``: one table per year, each with ``year`` and a ``run`` folder or a
    ``schools`` table; no year twice."""
    if not isinstance(entries, list):
        raise input_error(src, "years must be a list of [[years]] tables",
                          "write each as [[years]] with year and run (or schools)")
    seen = {}
    for i, entry in enumerate(entries, 1):
        _check_section(src, "years", entry)
        if ("run" in entry) == ("schools" in entry):
            raise input_error(src, f"[[years]] entry {i} (year {entry['year']}) needs one of "
                              "run or schools", 'give run = "FOLDER" or schools = "TABLE"')
        if "schools" not in entry:
            extra = sorted({"district", "level", "enrolment", "standard"} & entry.keys())
            if extra:
                raise input_error(src, f"[[years]] entry {i}: {extra[0]} is for school tables",
                                  "drop it, or give schools = TABLE instead of run")
        if entry.get("standard", "basic") not in ("basic", "quality"):
            raise input_error(src, f"[[years]] entry {i}: standard = {entry['standard']!r}",
                              'use "basic" or "quality"')
        if entry["year"] in seen:
            raise input_error(src, f"[[years]] entries {seen[entry['year']]} and {i} both give "
                              f"year {entry['year']}", "give each year once")
        seen[entry["year"]] = i


def _check_proposal_names(src: Path, names: list) -> None:
    """Proposal names become columns of compare.csv beside ``current`` and file names
    ``proposal_<name>.gpkg``: a repeated name, or ``current``, would overwrite another."""
    if "current" in (n.strip().lower() for n in names):
        raise input_error(src, "a [[proposals]] entry is named 'current', the name of the "
                          "[districts] boundaries it is compared with", "rename the proposal")
    from geoequity.outputs import proposal_file

    seen: dict[str, str] = {proposal_file("current").lower(): "current"}
    for n in names:
        if n.strip().lower() in (s.strip().lower() for s in seen.values()):
            raise input_error(src, f"two [[proposals]] entries are named {n!r}",
                              "give every proposal its own name")
        file = proposal_file(n).lower()   # lower: one file on case-insensitive disks
        if file in seen:
            raise input_error(src, f"[[proposals]] {n!r} and {seen[file]!r} would both be "
                              f"written to {proposal_file(n)}", "give the proposals names that "
                              "differ in letters or digits, not only in punctuation")
        seen[file] = n


def _with_paths(base: Path, table: dict | None, keys=("path",)) -> dict | None:
    if table is None:
        return None
    out = dict(table)
    for key in keys:
        if key in out:
            out[key] = _resolve(base, out[key])
    return out


def _network(src: Path, base: Path, data: dict) -> dict:
    network = _with_paths(base, data.get("network", {}), ("path", "costs"))
    if isinstance(network.get("cache_dir"), str):
        network["cache_dir"] = _resolve(base, network["cache_dir"])
    if network.get("costs") and (network.get("path") or network.get("place")):
        info(f"{src.name}: [network] costs is given, so the run uses that table and does not "
             "load the network path/place")
    if not ({"path", "place", "costs"} & network.keys()) and not network.get("euclidean"):
        network["euclidean"] = True
    network.setdefault("mode", "walk")
    return network


def _analysis(src: Path, data: dict) -> dict:
    analysis = dict(data["analysis"])
    method = analysis.setdefault("method", "2sfca")
    if method not in METHODS:
        raise input_error(src, f"[analysis] method = {method!r} is unknown",
                          _suggest(method, METHODS))
    if "threshold" not in analysis:
        analysis["threshold"] = _preset_threshold(src, analysis)
    if analysis["threshold"] <= 0:
        raise input_error(src, "[analysis] threshold must be greater than 0", "fix the value")
    if analysis.get("max_cost", analysis["threshold"]) < analysis["threshold"]:
        raise input_error(src, "[analysis] max_cost is smaller than threshold",
                          "make max_cost at least the threshold")
    # the one rule of every door: max_cost defaults to 4 x threshold
    analysis["max_cost"], _ = default_max_cost(analysis["threshold"], analysis.get("max_cost"))
    analysis.setdefault("unit", "m")
    if analysis["unit"] not in ("m", "min"):
        raise input_error(src, f"[analysis] unit = {analysis['unit']!r} is not a cost unit",
                          'use "m" (metres; 1.5 km = 1500) or "min" (minutes)')
    _plausible_threshold(src, analysis["threshold"], analysis["unit"])
    _check_decay(src, analysis)
    return analysis


def _check_decay(src: Path, analysis: dict) -> None:
    """The method's decay and decay_param, checked now (as accessibility will use them) so a
    missing parameter stops the run before any reading, network or cost work."""
    from geoequity.decay import method_decay

    _from_file(src, method_decay, analysis["method"], analysis.get("decay"),
               analysis.get("decay_param"), threshold=analysis["threshold"])


def _plausible_threshold(src: Path, threshold: float, unit: str) -> None:
    """Say so when a threshold looks like the wrong unit (it still runs: it may be meant)."""
    from geoequity.costs import threshold_unit_question

    question = threshold_unit_question(threshold, unit, name=f"{src.name}: [analysis] threshold",
                                       unit_option='unit = "min"')
    if question:
        info(question)


def _outputs(src: Path, base: Path, data: dict) -> dict:
    outputs = _with_paths(base, data.get("outputs", {}), ("folder", "map", "png"))
    outputs.setdefault("folder", Path.cwd() / "geoequity-out" / src.stem)
    outputs.setdefault("map", Path.cwd() / "maps" / f"{src.stem}.html")
    outputs.setdefault("report", True)
    outputs.setdefault("lang", "en")
    outputs.setdefault("tiles", "none")
    if outputs["lang"] not in ("en", "zh"):
        raise input_error(src, f"[outputs] lang = {outputs['lang']!r}", "use en or zh")
    from geoequity.outputs import check_auto_choice

    for key in ("csv", "gpkg"):
        if key in outputs:
            outputs[key] = check_auto_choice(outputs[key], src, f"[outputs] {key}", key)
    return outputs


def load_scenario(path) -> Scenario:
    """Read and check a scenario TOML file.

    Raises
    ------
    geoequity.InputError
        For a missing file, bad TOML syntax (with its line), an unknown section or key (with a
        suggestion), a value of the wrong type, or a missing required key.
    """
    src, data = _read_toml(path)
    _check(src, data)
    share = data["population"].get("child_share")
    if share is not None and not 0 < share <= 1:
        raise input_error(src, f"[population] child_share = {share} is not a share in (0, 1]",
                          "give the share of residents who are school-age, e.g. 0.08 for 8%")
    base = src.parent
    scenario = Scenario(path=src, title=data.get("title", src.stem),
                        schools=_with_paths(base, data["schools"]),
                        population=_with_paths(base, data["population"]),
                        districts=_with_paths(base, data.get("districts")),
                        network=_network(src, base, data), analysis=_analysis(src, data),
                        outputs=_outputs(src, base, data),
                        proposals=[_with_paths(base, p) for p in data.get("proposals", [])],
                        evaluation=_with_paths(base, data.get("evaluation", {}),
                                               ("checklist", "teachers")),
                        years=[_with_paths(base, y, ("run", "schools"))
                               for y in data.get("years", [])],
                        plans=[_plan_paths(base, p) for p in data.get("plans", [])],
                        plans_costs=dict(data.get("plans_costs", {})),
                        **dict(zip(("forecast", "housing"), _yearly(base, data))),
                        compute=_compute(src, data.get("compute", {})),
                        assignment_mode=_assignment_mode(src, data.get("compute", {})))
    cost_source(scenario)  # checks the cost keys now, before any input is read
    return scenario


def _from_file(src: Path, check, *args, **kwargs):
    """``check(*args, **kwargs)`` spelled for the scenario file: a refusal
    ("[compute] workers: ...") becomes "s.toml: [compute] workers: ..."."""
    try:
        with door("scenario"):
            return check(*args, **kwargs)
    except InputError as exc:
        raise InputError(f"{src}: {exc}") from None


def _compute(src: Path, table: dict):
    """``[compute]`` as :class:`geoequity.distributed.ComputeOptions` (checked now)."""
    from geoequity.distributed import ComputeOptions

    return _from_file(src, ComputeOptions,
                      **{k: v for k, v in table.items() if k != "assignment_mode"})


def _assignment_mode(src: Path, table: dict) -> str:
    """``[compute] assignment_mode`` (checked now)."""
    from geoequity.assignment_decomposed import check_assignment_mode

    return _from_file(src, check_assignment_mode, table.get("assignment_mode", "auto"))


def district_group(scenario: Scenario) -> str | None:
    """The districts column grouping the districts (``[districts] group``, e.g.
    ``"county"``); by default the ``[compute] partition`` column when it is one (not the
    districts' own name column: that partition is the districts themselves)."""
    group = (scenario.districts or {}).get("group")
    if group is None and scenario.districts:
        from geoequity.distributed import DISTRICTS

        p = scenario.compute.partition if scenario.compute is not None else None
        if isinstance(p, str) and p not in (DISTRICTS, scenario.districts.get("name")):
            group = p
    return group


def check_district_group(scenario: Scenario, source: object = None) -> None:
    """Refuse (one line) a district group the districts layer lacks, before any work: the
    ``[districts] group`` given, or the one it defaults to from ``[compute] partition`` (then
    named by that key, the one the user wrote)."""
    group = (scenario.districts or {}).get("group")
    key, given = option("district_group", group), group is not None
    if group is None:
        group = district_group(scenario)   # the partition column, by default
        if group is None:
            return
        key = (f"{option('partition', group)} (it groups the districts by default; set "
               "[districts] group to choose another column)")
    if not scenario.districts:
        raise input_error(source or scenario.path, f"{key} needs "
                          "a districts layer", "add [districts], or leave the group out")
    import pyogrio

    d = scenario.districts
    try:
        fields = list(pyogrio.read_info(d["path"], layer=d.get("layer"))["fields"])
    except Exception:   # unreadable layers are reported by the reader, with GDAL's reason
        return
    if group not in fields:
        raise input_error(source or scenario.path, f"{key}: the "
                          f"districts layer {d['path']} has no column {group!r}",
                          f"use one of its columns ({', '.join(fields)})")
    from geoequity.pipeline import CELL_COLUMNS, group_lookup

    if group in CELL_COLUMNS or group == d.get("name"):
        raise input_error(source or scenario.path, f"{key}: "
                          f"{group!r} is the districts' name or a column the run gives every "
                          "cell", "choose another column of the districts layer, e.g. county")
    try:
        table = pyogrio.read_dataframe(d["path"], layer=d.get("layer"), read_geometry=False,
                                       columns=[d["name"], group])
    except Exception:   # unreadable layers are reported by the reader, with GDAL's reason
        return
    if d["name"] in table.columns:
        try:
            group_lookup(table[d["name"]], table[group], group)
        except InputError as exc:   # named by the key the user wrote
            said = str(exc) if given else str(exc).replace(
                f"{option('district_group')}: ", f"{key}: ", 1)
            raise InputError(f"{source or scenario.path}: {said}") from None


def check_compute(scenario: Scenario) -> None:
    """Refuse compute options the scenario cannot run: a partition column the districts
    layer lacks, a partition by districts with none, a brought cost table on a cluster."""
    from geoequity.distributed import check_partition_column, reach

    c = scenario.compute
    if c is None:
        return
    check_partition_column(scenario.districts and scenario.districts["path"],
                           scenario.districts, c.partition, source=scenario.path)
    try:
        reach(cost_source(scenario), 1.0)
    except InputError as exc:
        raise InputError(f"{scenario.path}: {exc}") from None


def _plan_paths(base: Path, plan: dict) -> dict:
    out = dict(plan)
    for kind in ("boundaries", "housing"):
        if kind in out:
            out[kind] = [_with_paths(base, t) for t in out[kind]]
    return out


def _preset_threshold(src: Path, analysis: dict) -> float:
    """The threshold of ``[analysis] level`` in ``[analysis] preset`` (e.g. GB50180-2018)."""
    if "preset" not in analysis or "level" not in analysis:
        raise input_error(src, "[analysis] has no threshold",
                          "add threshold = METRES, or preset = \"GB50180-2018\" with a level")
    return preset_level(analysis["preset"], analysis["level"], unit=analysis.get("unit", "m"),
                        source=f"{src}: [analysis] preset").threshold


def run_scenario(path, *, folder=None, map_path=None, report: bool | None = None,
                 csv: str | bool | None = None, client=None, scheduler: str | None = None,
                 workers: int | None = None, partition: str | float | None = None,
                 assignment_mode: str | None = None, district_group: str | None = None,
                 maps_by: str | None = None, gpkg: str | bool | None = None):
    """Run the scenario at ``path`` end to end and write its outputs.

    Parameters
    ----------
    path
        The scenario TOML file.
    folder, map_path
        Override the output folder and the map path of the file.
    report
        Override whether the HTML report is written.
    csv
        Override ``[outputs] csv``: ``"auto"`` (``cells.csv`` up to 200,000 cells), True or
        False.
    gpkg
        Override ``[outputs] gpkg``: ``"auto"`` (``cells.gpkg`` up to 200,000 cells; the cells
        are always in ``cells.parquet``), True or False.
    client
        A :class:`distributed.Client`: compute the partitions on its cluster
        (:mod:`geoequity.distributed`); the results equal an in-process run.
    scheduler, workers, partition
        Override ``[compute]``: a scheduler address, a number of local worker processes to
        start, the partition (``"districts"``, a districts column or a tile size in metres).
    assignment_mode
        Override ``[compute] assignment_mode``: ``"auto"`` (exact up to
        :data:`geoequity.assignment_decomposed.EXACT_PAIRS` assignment pairs, else
        decomposed by the partition), ``"exact"`` or ``"decomposed"``.
    district_group
        Override ``[districts] group``: a districts column (``"county"``) whose Theil
        between/within decomposition the equity tables add beside the districts'.
    maps_by
        Override ``[outputs] maps_by``: ``"districts"`` or a column of the districts layer
        (e.g. ``"county"``): the map becomes an overview, with one map per district or
        county in the folder beside it (:mod:`geoequity.maps._overview`, ``docs/maps.md``).

    Returns
    -------
    geoequity.pipeline.Results
        Every table of the run, and ``written``: the files written.
    """
    from geoequity.distributed import ComputeOptions

    # the arguments first, their messages spelled for the caller's door (Python, the CLI)
    ComputeOptions(scheduler=scheduler, workers=workers, partition=partition)
    if assignment_mode is not None:
        from geoequity.assignment_decomposed import check_assignment_mode

        assignment_mode = check_assignment_mode(assignment_mode)
    if district_group is not None and (not isinstance(district_group, str)
                                       or not district_group.strip()):
        raise input_error(option("district_group"), f"{district_group!r} is not a column name",
                          "give a column of the districts layer, e.g. county")
    overrides = {"scheduler": scheduler, "workers": workers, "partition": partition,
                 "assignment_mode": assignment_mode, "district_group": district_group,
                 "maps_by": maps_by, "csv": csv, "gpkg": gpkg}
    given = [key for key, value in overrides.items() if value is not None]
    # messages name the scenario's keys, not CLI flags, but for the options given here:
    # --partition on the CLI, partition= in Python (where the user wrote them)
    with door("scenario", given=given):
        return _run_scenario(path, folder, map_path, report, csv, client,
                             {"scheduler": scheduler, "workers": workers,
                              "partition": partition},
                             assignment_mode=assignment_mode, group=district_group,
                             maps_by=maps_by, gpkg=gpkg)


def _run_scenario(path, folder, map_path, report, csv=None, client=None, compute=None, *,
                  assignment_mode=None, group=None, maps_by=None, gpkg=None):
    scenario = load_scenario(path)
    if assignment_mode is not None:
        scenario.assignment_mode = assignment_mode
    if group is not None:
        if not scenario.districts:
            raise input_error(scenario.path, f"the district group {group!r} needs a "
                              "[districts] section", "add [districts], or leave the group out")
        scenario.districts["group"] = group
    if maps_by is not None:
        scenario.outputs["maps_by"] = maps_by
    if csv is not None:
        from geoequity.outputs import check_csv_choice

        scenario.outputs["csv"] = check_csv_choice(csv, "--csv", "csv")
    if gpkg is not None:
        from geoequity.outputs import check_gpkg_choice

        scenario.outputs["gpkg"] = check_gpkg_choice(gpkg, "--gpkg", "gpkg")
    scenario.compute = scenario.compute.merged(**(compute or {}))
    if client is not None or scenario.compute.distributed:
        check_compute(scenario)
    else:   # in process the partition names the decomposed assignment's parts
        from geoequity.distributed import check_partition_column

        check_partition_column(scenario.districts and scenario.districts["path"],
                               scenario.districts, scenario.compute.partition,
                               source=scenario.path, cluster=False)
    check_district_group(scenario)   # after the partition: it defaults the group
    if folder is not None:
        scenario.outputs["folder"] = Path(folder).resolve()
    if map_path is not None:
        scenario.outputs["map"] = Path(map_path).resolve()
    if report is not None:
        scenario.outputs["report"] = report
    from geoequity.outputs import lock_folder

    check_maps_by(scenario)   # --maps-by when given on the CLI, else the file's key
    check_outputs(scenario)   # before the lock: a refused run touches nothing
    if client is None and scenario.compute.distributed:
        from geoequity.distributed import cluster_client

        # the cluster first: an unreachable scheduler stops the run before any work
        with cluster_client(scenario.compute, source=scenario.path) as c:
            with lock_folder(scenario.outputs["folder"]):
                return run(scenario, client=c, checked=True)
    with lock_folder(scenario.outputs["folder"]):   # a second run into the folder stops here
        return run(scenario, client=client, checked=True)


def read_inputs(scenario: Scenario, *, points: bool = False, cells: bool = True,
                extent=None):
    """Read the scenario's schools, children and districts into one projected CRS.

    ``points``: a raster population's cells as their representative points, read window by
    window (:func:`geoequity.io.population.read_population_points`); other layers are read
    whole. ``cells=False``: no cell is read (None in their place; a cluster run whose
    workers read their own cells), the CRS that of the population's extent (``extent``, or
    :func:`population_extent_of`).

    The CRS is ``[analysis] crs`` when given, else the UTM zone of the population layer.
    With ``[analysis] level``, schools are kept when they serve that level (their own level,
    a combined school covering it, or ``all``) and ``seats`` becomes the seats they give it
    (:func:`geoequity.levels.level_supply`: a nine-year school counts 6/9 of its seats as
    primary, 3/9 as junior).
    """
    from geoequity.io import read_districts, read_population, read_schools
    from geoequity.io.population import read_population_points, reads_as_points

    a, s = scenario.analysis, scenario.schools
    source, kwargs = population_arguments(scenario)
    if not cells:
        cells = None
        crs = (extent if extent is not None else population_extent_of(scenario)).crs
    else:
        with step("reading population"):
            if points and reads_as_points(source):
                cells = read_population_points(source, **kwargs)
            else:
                cells = read_population(source, **kwargs)
        check_children(cells["children"].sum(), cells.attrs.get("source", source))
        crs = cells.crs
    with step("reading schools"):
        schools = read_schools(s["path"], id_col=s.get("id"), seats_col=s.get("seats"),
                               level_col=s.get("level"), name_col=s.get("name"),
                               default_seats=s.get("default_seats"), crs=crs,
                               input_crs=s.get("input_crs"), layer=s.get("layer"),
                               id_dtype=s.get("id_dtype"), type_col=s.get("type"))
    if a.get("level"):
        every = schools
        _, schools = schools_for_level(schools, a["level"], source=scenario.path,
                                       fix="fix [analysis] level or the [schools] level column")
        # the schools of other levels, for messages (a plan naming one: geoequity.plans)
        left = every.index.difference(schools.index)
        schools.attrs["other_levels"] = (every.loc[left, "level"].astype(str).to_dict()
                                         if "level" in every.columns else {})
    districts = None
    if scenario.districts:
        d = scenario.districts
        with step("reading districts"):
            districts = read_districts(d["path"], name_col=d["name"], crs=crs,
                                       input_crs=d.get("input_crs"), layer=d.get("layer"))
    return cells, schools, districts


def check_children(children: float, source) -> None:
    """Stop a run whose population (``source``) has no children (``children``: their total;
    else access stops with "demand: ...")."""
    if not float(children) > 0:
        raise input_error(source, "has no children (every "
                          "cell's population is 0, or no cell is left)", "check the "
                          "population layer and [population] count / child_share")


def population_arguments(scenario: Scenario) -> tuple:
    """``(source, keywords)`` of :func:`geoequity.io.read_population` for the scenario's
    [population] and ``[analysis] crs``: the one reading of those keys, for the in-process
    read (:func:`read_inputs`) and a cluster's reads by window
    (``read_population(source, within=BOX, **keywords)`` on a worker, with ``BOX`` in
    :func:`population_extent_of`'s ``crs``)."""
    a, p = scenario.analysis, scenario.population
    return p["path"], {"count_col": p.get("count"), "id_col": p.get("id"),
                       "child_share": p.get("child_share"), "crs": a.get("crs"),
                       "input_crs": p.get("input_crs"), "layer": p.get("layer"),
                       "bounds": _population_bounds(scenario), "id_dtype": p.get("id_dtype"),
                       "residents": _residents_source(scenario)}


def population_extent_of(scenario: Scenario, layout=None):
    """The scenario's population layer's analysis CRS and extent without its cells
    (:func:`geoequity.io.population.population_extent`, a vector layer's from its
    ``layout`` when given): the CRS :func:`read_inputs` gives every layer, and the box a
    cluster run cuts into partitions."""
    from geoequity.io.population import population_extent

    source, kw = population_arguments(scenario)
    return population_extent(source, crs=kw["crs"], input_crs=kw["input_crs"],
                             layer=kw["layer"], bounds=kw["bounds"], layout=layout)


def _residents_source(scenario: Scenario):
    """``[population] residents``: a raster path (relative to the scenario) or a column."""
    r = scenario.population.get("residents")
    if r is None:
        return None
    from geoequity.io.population import RASTER_SUFFIXES

    if Path(r).suffix.lower() in RASTER_SUFFIXES:
        return _resolve(scenario.path.parent, r)
    return r


def _population_bounds(scenario: Scenario):
    """``[population] bounds``: a raster window as 4 numbers (the raster's CRS) or
    ``"districts"`` (the extent of the [districts] layer, in any CRS)."""
    b = scenario.population.get("bounds")
    if b is None:
        return None
    if b == "districts":
        if not scenario.districts:
            raise input_error(scenario.path, '[population] bounds = "districts" needs a '
                              "[districts] section", "add [districts] or give 4 numbers")
        from geoequity.io import read_layer

        d = scenario.districts
        return read_layer(d["path"], input_crs=d.get("input_crs"), layer=d.get("layer"))
    ok = (isinstance(b, list) and len(b) == 4
          and all(isinstance(v, int | float) and not isinstance(v, bool) for v in b))
    if not ok or not (b[0] < b[2] and b[1] < b[3]):
        raise input_error(scenario.path, f"[population] bounds = {b!r} is not a window",
                          'give [minx, miny, maxx, maxy] in the raster\'s CRS, or "districts"')
    return tuple(float(v) for v in b)


def cost_source(scenario: Scenario):
    """The :class:`geoequity.CostSource` of the scenario's [network] section and [analysis]
    unit and crs (the CLI's cost flags under the same names, with underscores)."""
    from geoequity._errors import InputError
    from geoequity.costs import CostSource

    n, a = scenario.network, scenario.analysis
    if n.get("costs"):
        kind = "table"
    elif n.get("euclidean"):
        kind = "euclidean"
    else:
        kind = "network"
    columns = n.get("costs_columns")
    # the keys written in the file; CostSource holds the defaults (one place for all doors)
    given = {k: n[k] for k in ("mode", "walk_speed", "bike_speed", "speed", "detour_factor",
                               "snap_limit", "off_network", "cache_dir") if k in n}
    given.update({k: a[k] for k in ("unit", "crs") if k in a})
    try:
        return CostSource(kind=kind, network=n.get("path") or n.get("place"),
                          table=n.get("costs"),
                          table_columns=tuple(columns) if isinstance(columns, list) else columns,
                          **given)
    except InputError as exc:  # "mode: ..." -> "s.toml: [network] mode: ..."
        name, _, rest = str(exc).partition(": ")
        section = "analysis" if name in ("unit", "crs") else "network"
        raise input_error(scenario.path, f"[{section}] {name}: {rest}") from None


def build_costs(scenario: Scenario, cells, schools):
    """The cost table of the scenario's [network] section, bounded by ``max_cost``."""
    from geoequity.costs import cost_table

    return cost_table(cost_source(scenario), cells, schools,
                      max_cost=scenario.analysis["max_cost"])


def run(scenario: Scenario, *, client=None, checked: bool = False):
    """Run a loaded scenario: read inputs, build costs, analyse, write every output.

    With ``client`` or ``[compute]`` scheduler/workers, the costs and per-cell measures are
    computed by partitions on a dask cluster (:mod:`geoequity.distributed`), and the results'
    ``cluster`` (:class:`geoequity.distributed.ClusterRun`) says what each client stage,
    partition and worker took. ``checked``: the caller ran :func:`check_outputs` and
    :func:`check_compute` already (:func:`run_scenario`)."""
    compute = scenario.compute
    if client is None and compute is not None and compute.distributed:
        from geoequity.distributed import cluster_client

        with cluster_client(compute, source=scenario.path) as c:
            return run(scenario, client=c, checked=checked)
    if client is None:
        return _run(scenario, checked=checked)
    from geoequity.distributed import ClusterRun

    figures = ClusterRun()
    results = _run(scenario, client=client, figures=figures, checked=checked)
    figures.client_peak_mb = figures.peak_mb()
    results.cluster = figures
    return results


def _run(scenario: Scenario, *, client=None, figures=None, checked: bool = False):
    """:func:`run` in process (``client`` None) or on ``client``'s cluster, its stages timed
    in ``figures`` (a :class:`geoequity.distributed.ClusterRun`)."""
    from geoequity.outputs import begin_outputs, lock_folder, write_outputs

    stage = figures.stage if figures is not None else _untimed
    compute = scenario.compute
    if not checked:
        check_outputs(scenario)
        check_maps_by(scenario)
        check_district_group(scenario)
    # a cluster run whose cells stay on the workers (no later stage takes every cell): the
    # workers read a raster's or a vector file's cells themselves, window by window, and
    # the client none; another layer's cells the client reads whole
    on_workers = client is not None and not _later(scenario, scenario.plans)
    windows = window_reading(scenario) if on_workers else None
    by_windows = windows is not None
    layout = windows.layout if by_windows else None
    reader = _population_reader(scenario, layout, rows=windows.rows) if by_windows else None
    with stage("read"):
        cells, schools, districts = read_inputs(scenario, cells=not by_windows,
                                                extent=windows.extent if by_windows else None)
        plans = scenario_plans(scenario)
        if plans:   # the schools the plans name, before any cost is computed
            from geoequity.plans import check_plans, plan_years

            ys = yearly_settings(scenario)
            check_plans(plans, schools["seats"], plan_years(plans, ys.years if ys else None),
                        others=schools.attrs.get("other_levels"))
    a = scenario.analysis
    local = cell_districts = read = None
    if client is not None:
        from geoequity._memory import trim_memory
        from geoequity.distributed import (
            ComputeOptions,
            done_with,
            read_on_cluster,
            ready,
            run_on_cluster,
        )

        if not checked:
            check_compute(scenario)
        # the pairs stay on the workers; the cells' districts computed for the partitions
        options = dict(district_paths=scenario.districts, threshold=a["threshold"],
                       max_cost=a["max_cost"], method=a["method"], decay=a.get("decay"),
                       decay_param=a.get("decay_param"),
                       assignment_max_cost=a.get("assignment_max_cost"), figures=figures)
        if by_windows:
            extent = windows.extent
            costs, local, cells, cell_districts, read = read_on_cluster(
                compute or ComputeOptions(), client, extent.bounds, extent.crs, schools,
                districts, cost_source(scenario), reader, **options)
            try:
                _check_worker_cells(scenario, cells, windows)
            except BaseException:   # the workers drop what they computed, now
                costs.release()
                _release(read, cancel=True)
                raise
        else:
            costs, local, cell_districts = run_on_cluster(
                compute or ComputeOptions(), client, cells, schools, districts,
                cost_source(scenario), **options)
        started, client = client, ready(client)   # a local cluster started while reading
    else:
        costs = build_costs(scenario, cells, schools)
    kept = costs if client is not None else None   # the pairs, left on the workers
    handed = early = None
    try:
        with contextlib.ExitStack() as held:   # (an error passes through its exits)
            if kept is not None and not _later(scenario, plans):
                # the cells go to the workers too, as one piece per partition (the pairs' own)
                handed = _hand_over(scenario, cells, schools, districts, kept, local,
                                    cell_districts, client, read, layout)
                if read is not None:   # the pieces hold the cells their workers read
                    _release(read)
                    read = None
                del cells   # this process holds no cell from here on
                local = None
                trim_memory()   # and gives their pages back (about 280 MB on 561,000 cells)
                # the workers write costs.parquet into the run's stage while the global
                # steps go on (the pairs need none of them); the folder stays locked until
                # it is written (run_scenario holds the lock already; a direct run() takes
                # it now); the stage goes on any other way out, before the lock
                held.enter_context(lock_folder(scenario.outputs["folder"]))
                early = begin_outputs(scenario.outputs, kept)
                held.callback(early.cancel)   # (nothing left once write_outputs took it)
                with stage("global steps"):
                    results = _piecewise_steps(scenario, handed, kept, schools, districts)
            else:
                def outputs_meanwhile(table, cells) -> None:
                    # in process: costs.parquet is written into the run's stage, and the
                    # map's cell raster made, while the assignment is solved in its child
                    # process (analyse calls this before joining the solve; not the raster
                    # when later stages follow: [forecast]'s map has year layers, and
                    # [[plans]] and [[proposals]] would hold it through their own work);
                    # the folder stays locked until write_outputs ends
                    nonlocal early
                    held.enter_context(lock_folder(scenario.outputs["folder"]))
                    early = begin_outputs(scenario.outputs, costs=table,
                                          cells=None if _later(scenario, plans) else cells)
                    held.callback(early.cancel)

                with stage("global steps"):
                    results = _global_steps(scenario, cells, schools, districts, costs,
                                            local, cell_districts, plans, client,
                                            meanwhile=outputs_meanwhile if client is None
                                            else None)
            del costs, local   # the results hold what is still needed
            with stage("write"):   # (the workers write costs.parquet meanwhile: kept pairs)
                write_outputs(results, scenario.outputs, title=scenario.title, early=early)
    finally:   # the workers drop the cells and the pairs; a cluster the run started closes
        if kept is not None:
            with contextlib.suppress(Exception):   # a lost cluster has nothing to say
                figures.read_workers(client)   # after the solve and the writing
            if handed is not None:
                handed.cancel()
            if read is not None:
                _release(read)
            kept.release()
            done_with(started)
    if kept is not None:
        results.kept = None   # released: costs.parquet holds the pairs
        results.cell_pieces = None   # released: cells.parquet holds the cells
    return results


def _later(scenario: Scenario, plans) -> bool:
    """Whether the run has stages after the analysis that take every cell and pair
    (``[[proposals]]``, ``[forecast]``, ``[[plans]]``)."""
    return bool(scenario.proposals or scenario.forecast is not None or plans)


def _release(futures: dict, *, cancel: bool = False) -> None:
    """Let the cluster drop ``futures`` once nothing depending on them needs them (``cancel``:
    now, with what depends on them)."""
    for fut in futures.values():
        with contextlib.suppress(Exception):
            if cancel:
                fut.cancel()
            else:
                fut.release()


@dataclass(frozen=True)
class WindowReading:
    """How a cluster run's workers read the scenario's population themselves, window by
    window, the client reading no cell (:func:`window_reading`): the population's extent
    (:func:`population_extent_of`, the box the partitions are cut from) and, for a vector
    layer, its :class:`~geoequity.io.population.VectorLayout` (one scan of the file for
    every window's read; its ``features`` are the cells the workers must read); ``rows``:
    the workers number the cells by their rows in the file (``read_population``'s
    ``rows``), not by their ids (text, or out of the file's order)."""

    extent: Any
    layout: Any = None
    rows: bool = False


def window_reading(scenario: Scenario) -> WindowReading | None:
    """Whether a cluster's workers can read the scenario's population window by window
    and number its cells as an in-process run does (in the whole read's order): rasters
    (by their ids); a GDAL vector file (GeoPackage, FlatGeobuf, shapefile ...) without
    ``[population] id`` (its ids are its rows), or whose ids are whole numbers that ascend
    in the file's order (by their ids:
    :func:`geoequity.io.population.ids_follow_file_order`, the id column read in chunks),
    or whose other ids are all there and unique (by their rows in the file, ``rows``:
    :func:`geoequity.io.population.ids_are_unique`, the id column's hashes; the cells'
    parts of ``cells.parquet`` are put in the run's order by the ids or rows as positions).
    None for the others, which the client reads whole: CSV and GeoParquet (no spatial
    index), a vector layer with a residents raster (summed into point cells: every cell at
    once), a vector layer whose ids are missing or repeat (the whole read says which), or
    whose FIDs repeat (said on stderr). A layer without ids whose features repeat their
    FIDs (a GeoJSON sequence's repeated "id" members) is refused: no window tells them
    apart."""
    from geoequity.io.population import (
        bounds_ignored_line,
        ids_are_unique,
        ids_follow_file_order,
        no_spatial_index_line,
        reads_as_points,
        reads_by_window,
        repeated_fids,
        vector_layout,
    )

    source, kw = population_arguments(scenario)
    if reads_as_points(source):
        return WindowReading(population_extent_of(scenario))
    if not reads_by_window(source, kw.get("residents")):
        return None
    if isinstance(source, list | tuple):   # one vector layer (reads_by_window), as a list
        [source] = source
    name = Path(os.fspath(source)).name
    rows = False
    if kw["id_col"] is not None:
        with step("checking the population layer's ids"):
            rows = not ids_follow_file_order(source, kw["id_col"], layer=kw["layer"],
                                             id_dtype=kw["id_dtype"], integers=True)
            if rows and not ids_are_unique(source, kw["id_col"], layer=kw["layer"],
                                           id_dtype=kw["id_dtype"]):
                # (the whole read says which, unless the feature has no geometry)
                info(f"  {name}: some of its ids ({kw['id_col']!r}) are missing or repeat, "
                     "features without a geometry counted, so the client reads it whole")
                return None
    if kw["bounds"] is not None:   # (the workers' reads are quiet: the line is said here)
        info(bounds_ignored_line(source))
    slow = no_spatial_index_line(source, layer=kw["layer"])
    if slow:
        info(slow)
    with step("scanning the population layer's features"):
        layout = vector_layout(source, layer=kw["layer"])
    if not layout.fids_unique:
        # (no read by window tells its features apart: here, and when the workers read
        # their pieces of cells the client read, they would stop at the first window)
        if kw["id_col"] is None:
            raise repeated_fids(source)
        if rows:   # the ids are not the file's order, and its rows cannot be told by FID
            info(f"  {name}: its features repeat their FIDs and its ids "
                 f"({kw['id_col']!r}) are not integers ascending in the file's order, so "
                 "the client reads it whole (convert it to GeoPackage, or sort it by its "
                 "ids, for the workers to read it window by window)")
            return None
    return WindowReading(population_extent_of(scenario, layout=layout), layout, rows)


def _hand_over(scenario: Scenario, cells, schools, districts, kept, local, cell_districts,
               client, read=None, layout=None):
    """:func:`geoequity.piecewise.hand_over` with the scenario's settings."""
    from geoequity.costs import default_max_cost
    from geoequity.piecewise import hand_over

    a = scenario.analysis
    _, amc = default_max_cost(a["threshold"], a["max_cost"],
                              assignment_max_cost=a.get("assignment_max_cost"))
    compute = scenario.compute
    return hand_over(cells, schools, kept, local=local, cell_districts=cell_districts,
                     districts=districts,
                     district_group=district_group(scenario),
                     assignment=a.get("assignment", True), assignment_max_cost=amc,
                     assignment_mode=scenario.assignment_mode,
                     partition=compute.partition if compute is not None else None,
                     client=client, reader=_population_reader(scenario, layout), read=read)


def _check_worker_cells(scenario: Scenario, cells, windows: WindowReading) -> None:
    """The checks and lines of the population a cluster's workers read (``cells``, a
    :class:`geoequity.distributed.WorkerCells`): as many cells as a vector layer's features
    (else a bug, said so), some children (:func:`check_children`), then the pixels' line of
    a raster (:func:`geoequity.io.population.pixels_kept_line`) and the cells'."""
    source = population_arguments(scenario)[0]
    layout = windows.layout
    if layout is not None and len(cells) != layout.features:
        raise RuntimeError(f"cluster: the workers read {len(cells):,} cells of "
                           f"{layout.features:,} (the partitions' windows)")
    check_children(cells.children, cells.attrs.get("source", source))
    if windows.extent.raster is not None:   # (the pixels' line an in-process read says)
        from geoequity.io.population import pixels_kept_line

        info(pixels_kept_line(windows.extent, source, len(cells), cells.population))
    info(f"  population: {len(cells):,} cells with residents ({cells.children:,.0f} "
         "children), read by the workers, partition by partition")


def _population_reader(scenario: Scenario, layout=None, *, rows: bool = False):
    """``read_population`` with the scenario's arguments (and a vector layer's ``layout``;
    ``rows``: each cell's row in the file too, :class:`WindowReading`), for a worker's read
    by window (``reader(within=BOX, ids=IDS)``), or None when the layer cannot be read by
    window (a CSV, a GeoParquet file: read whole, so a cluster run sends each partition's
    cells instead)."""
    from functools import partial

    from geoequity.io.population import read_population, reads_by_window

    source, keywords = population_arguments(scenario)
    if not reads_by_window(source, keywords.get("residents")):
        return None
    if layout is not None:
        keywords = {**keywords, "layout": layout}
    if rows:
        keywords = {**keywords, "rows": True}
    return partial(read_population, source, **keywords)


def _piecewise_steps(scenario: Scenario, handed, kept, schools, districts):
    """:func:`geoequity.piecewise.analyse_piecewise` and the scenario's settings and
    trend (the later stages need every cell: :func:`_global_steps` runs those)."""
    from geoequity.costs import default_max_cost
    from geoequity.piecewise import analyse_piecewise

    a = scenario.analysis
    max_cost, amc = default_max_cost(a["threshold"], a["max_cost"],
                                     assignment_max_cost=a.get("assignment_max_cost"))
    results = analyse_piecewise(
        handed, kept, schools, districts, threshold=a["threshold"], method=a["method"],
        decay=a.get("decay"), decay_param=a.get("decay_param"), max_cost=max_cost,
        assignment_max_cost=amc, assignment=a.get("assignment", True),
        urban_col=(scenario.districts or {}).get("type") or a.get("urban"),
        district_group=district_group(scenario))
    if scenario.years:
        results.trend = scenario_trend(scenario)
    results.settings = run_settings(scenario)
    return results


def _global_steps(scenario: Scenario, cells, schools, districts, costs, local, cell_districts,
                  plans, client, *, meanwhile=None):
    """:func:`geoequity.pipeline.analyse` and the scenario's later stages (proposals, trend,
    forecast, plans) on the read layers and the costs (a cost table, or a cluster run's
    pairs kept on its workers with their ``local`` measures). ``meanwhile``: analyse's (an
    in-process run writes ``costs.parquet`` and makes its map's cell raster while its
    assignment is solved)."""
    from geoequity.pipeline import analyse

    a = scenario.analysis
    compute = scenario.compute
    later = _later(scenario, plans)
    if client is not None and later:   # a decomposed assignment's gather serves them too
        costs.hold_gathered = True
    results = analyse(cells, schools, costs, threshold=a["threshold"], districts=districts,
                      method=a["method"], decay=a.get("decay"),
                      decay_param=a.get("decay_param"), max_cost=a["max_cost"],
                      assignment_max_cost=a.get("assignment_max_cost"),
                      assignment=a.get("assignment", True),
                      urban_col=(scenario.districts or {}).get("type") or a.get("urban"),
                      local=local, cell_districts=cell_districts,
                      assignment_mode=scenario.assignment_mode,
                      partition=compute.partition if compute is not None else None,
                      district_group=district_group(scenario), client=client,
                      meanwhile=meanwhile)
    if results.kept is not None and later:
        with step("gathering the cost pairs for the later stages"):
            results.pairs = results.kept.gather()   # they use every pair
    if scenario.proposals:
        results.comparison = compare_proposals(scenario, cells, schools, districts,
                                               results.pairs)
    if scenario.years:
        results.trend = scenario_trend(scenario)
    results.settings = run_settings(scenario)
    if scenario.forecast is not None:   # the seat-gap stages for every year of the horizon
        from geoequity.yearly import run_years

        results.yearly = run_years(results, yearly_settings(scenario))
    if plans:   # every plan in every year, beside the current state
        from geoequity.plans import evaluate_plans

        results.plans = evaluate_plans(results, plans, costs=cost_source(scenario),
                                       unit_costs=scenario.plans_costs or None,
                                       level=a.get("level"))
    return results


@contextmanager
def _untimed(name: str):
    yield


def scenario_trend(scenario: Scenario):
    """The year-on-year table of the scenario's ``[[years]]`` (:func:`geoequity.trend.
    build_trend`), written as ``trend.csv`` and drawn in the report."""
    from geoequity.trend import YearSource, build_trend

    sources = [YearSource(y["year"], Path(y.get("run") or y["schools"]), str(scenario.path),
                          district_col=y.get("district"), level_col=y.get("level"),
                          enrolment_col=y.get("enrolment"), standard=y.get("standard"))
               for y in scenario.years]
    with step(f"year-on-year monitoring ({len(sources)} years)"):
        return build_trend(sources)


def run_settings(scenario: Scenario) -> RunSettings:
    """The scenario's settings as the outputs read them (summary.json, report, map)."""
    a, n, o = scenario.analysis, scenario.network, scenario.outputs
    return RunSettings(
        title=scenario.title, scenario=str(scenario.path), unit=a["unit"],
        osm=_uses_osm(scenario), level=a.get("level"), tiles=o.get("tiles", "none"),
        lang=o.get("lang", "en"), threshold=a["threshold"], method=a["method"],
        decay=a.get("decay"), decay_param=a.get("decay_param"), max_cost=a["max_cost"],
        assignment_max_cost=a.get("assignment_max_cost", a["max_cost"]),
        costs=_cost_source(n),
        checklist=_str_or_none(scenario.evaluation.get("checklist")),
        teachers=_str_or_none(scenario.evaluation.get("teachers")))


def _str_or_none(value) -> str | None:
    return None if value is None else str(value)


def _cost_source(network: dict) -> str:
    """Where the run's travel costs come from, in words."""
    if network.get("costs"):
        return f"table: {Path(network['costs']).name}"
    if network.get("euclidean"):
        factor = network.get("detour_factor", 1.0)
        return "straight line" + (f" x {factor:g}" if factor != 1.0 else "")
    src = network.get("path")
    return f"network {network['mode']}: {Path(src).name if src else network.get('place')}"


def _input_paths(scenario: Scenario) -> list[Path]:
    found = []
    for table, keys in ((scenario.schools, ("path",)), (scenario.population, ("path",)),
                        (scenario.districts or {}, ("path",)),
                        (scenario.network, ("path", "costs"))):
        for key in keys:
            value = table.get(key)
            found += [Path(v) for v in (value if isinstance(value, list) else [value]) if v]
    found += [Path(p["path"]) for p in scenario.proposals]
    found += [Path(h["path"]) for h in scenario.housing]
    found += [Path(t["path"]) for p in scenario.plans for kind in ("boundaries", "housing")
              for t in p.get(kind, [])]
    f = scenario.forecast or {}
    found += [Path(f[k]) for k in ("enrolment", "births") if f.get(k)]
    for v in (f.get("bands") or {}).values():
        found += [Path(p) for p in (v if isinstance(v, list) else [v])]
    found += [Path(y["schools"]) for y in scenario.years if y.get("schools")]
    return [*found, Path(scenario.path)]


def check_maps_by(scenario: Scenario) -> None:
    """Refuse ``[outputs] maps_by`` (``--maps-by``) naming no column of the districts layer,
    or given without districts (one line naming the scenario and the key, before any work;
    the key spelled for the current door)."""
    by = scenario.outputs.get("maps_by")
    if by is None:
        return
    from geoequity.maps._overview import check_maps_by as check

    d = scenario.districts
    columns = None
    if d is not None:
        import pyogrio

        try:
            columns = list(pyogrio.read_info(d["path"], layer=d.get("layer"))["fields"])
        except Exception:   # unreadable layers are reported by the reader, with GDAL's reason
            columns = [by]
    layer = f"the districts layer {d['path']}" if d is not None else "the districts layer"
    check(by, columns, source=scenario.path, layer=layer)
    if scenario.outputs.get("map"):   # e.g. map = "data.html" beside the input folder data/
        from geoequity.maps._overview import check_map_folder

        check_map_folder(scenario.outputs["map"])


def check_outputs(scenario: Scenario) -> None:
    """Refuse a run whose outputs would overwrite one of its own inputs (the scenario too)."""
    from geoequity._paths import refuse_overwrite
    from geoequity.outputs import OUTPUT_NAMES

    o = scenario.outputs
    folder = Path(o["folder"])
    targets = {f"[outputs] folder ({n})": folder / n for n in sorted(OUTPUT_NAMES)}
    targets.update({f"[outputs] {key} (--{key})": o[key] for key in ("map", "png") if o.get(key)})
    refuse_overwrite(targets, _input_paths(scenario),
                     fix="write the outputs elsewhere ([outputs] folder and map, --out, --map)",
                     source=scenario.path)
    # the map (or its picture) named like a table of the folder would replace that table
    # (--map OUT/report.html left the run without its report)
    from geoequity.outputs import proposal_file

    names = OUTPUT_NAMES | {proposal_file(p["name"]) for p in scenario.proposals}
    names |= {proposal_file("current")} if scenario.proposals else set()
    for key in ("map", "png"):
        path = Path(o[key]) if o.get(key) else None
        if (path is not None and path.name in names
                and os.path.realpath(path.parent) == os.path.realpath(folder)):
            raise input_error(scenario.path, f"[outputs] {key} (--{key}) {path} is the run's "
                              f"own {path.name} in the output folder",
                              f"give the {key} another name or folder, e.g. maps/map.html")


def compare_proposals(scenario: Scenario, cells, schools, districts, costs):
    """Score the scenario's [[proposals]] against the current [districts], side by side.

    ``costs``: the cost table, or the run's coded pairs (``Results.pairs``)."""
    from geoequity.districts import compare_districts, read_proposal

    proposals = {"current": districts[["district", districts.geometry.name]]}
    for p in scenario.proposals:
        proposals[p["name"]] = read_proposal(p["path"], cells=cells, name_col=p.get("name_col"),
                                             cell_col=p.get("cell_col"),
                                             input_crs=p.get("input_crs"))
    with step(f"comparing {len(scenario.proposals)} district proposal(s)"):
        return compare_districts(cells, schools, proposals, costs,
                                 threshold=scenario.analysis["threshold"])


def _uses_osm(scenario: Scenario) -> bool:
    n = scenario.network
    src = str(n.get("path") or "")
    return bool(n.get("place")) or src.endswith((".pbf", ".osm", ".graphml"))
