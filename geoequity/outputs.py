"""Writing one analysis' outputs into one folder: tables (CSV + GeoPackage), map, report.

Files written by :func:`write_outputs`. The folder changes as a whole: everything is written to a
hidden staging folder beside it (``.<folder>.XXXX.partial``) and moved in only when the whole
run has succeeded, so a failure leaves the previous run's files as they were, and files of an
earlier run that this run does not produce (``compare.csv`` when proposals were dropped,
say) are removed rather than left to be mistaken for this run's. Other files in the folder
are not touched.

==================== ===========================================================================
``cells.gpkg/.csv``  per-cell results (see :mod:`geoequity.pipeline` for the columns)
``schools.gpkg/.csv`` schools with seats, assigned, spare, overflow, utilisation, supply_ratio
``districts.gpkg``   district polygons with their gap table columns
``districts.csv``    the district gap table, with an ``(all)`` row
``catchments.gpkg``  nearest-school catchments (dissolved cells), when computed
``equity.csv``       inequality of access per district and urban/rural group
``theil.csv``        Theil decomposition (between / within groups)
``costs.parquet``    the cost table used (origin, destination, cost)
``compare.csv``      district proposals side by side (scenario ``[[proposals]]``)
``proposal_<name>.gpkg`` each proposal's districts with its scores (``geoequity map`` draws them)
``summary.json``     headline figures, the title, the threshold and the run's settings
``report.html``      the self-contained equity report (``report = true``), with its tables as
                     ``report_<table>.csv``
==================== ===========================================================================

The map goes to the scenario's ``map`` path (default ``maps/<scenario>.html``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from geoequity._atomic import write_text
from geoequity._progress import info, is_quiet, set_quiet, step
from geoequity.io.write import write_table
from geoequity.settings import RunSettings


def _json_safe(obj):
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


_OUTPUTS = ("cells.gpkg", "cells.csv", "schools.gpkg", "schools.csv", "districts.gpkg",
            "districts.csv", "catchments.gpkg", "equity.csv", "theil.csv", "costs.parquet",
            "compare.csv", "summary.json", "report.html")
# the report's own tables (report_<table>.csv); other report_*.csv files are the user's
_REPORT_TABLES = ("districts", "lorenz", "theil", "groups", "balance_cv", "balance_summary",
                  "failing_schools")
OUTPUT_NAMES = frozenset(_OUTPUTS) | {f"report_{t}.csv" for t in _REPORT_TABLES}


def write_outputs(results, outputs: dict, *, title: str) -> list[Path]:
    """Write every table, the report and the map of ``results``; return the paths written.

    The folder is replaced as a whole (see the module notes): staged, then moved in.
    """
    folder = Path(outputs["folder"])
    folder.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial",
                                  dir=folder.parent))
    try:
        staged = _write_folder(results, outputs, stage, title=title)
        written: list[Path] = []
        if outputs.get("map"):
            with step("drawing the map"):
                written.append(_write_map(results, Path(outputs["map"]), title=title,
                                          tiles=outputs.get("tiles", "none"),
                                          png=outputs.get("png")))
        written[:0] = _commit(stage, staged, folder)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    results.written = written
    info(f"wrote {len(written)} files: tables and report in {folder}, map {outputs.get('map')}")
    return written


def _safe(name: str) -> str:
    """A proposal name as a file-name part (letters, digits, CJK kept; others -> _)."""
    import re

    return re.sub(r"[^\w-]+", "_", str(name)).strip("_") or "proposal"


def _commit(stage: Path, staged: list[Path], folder: Path) -> list[Path]:
    """Move the staged files into ``folder``; drop earlier runs' outputs this run lacks."""
    folder.mkdir(parents=True, exist_ok=True)
    names = {p.name for p in staged}
    for old in folder.iterdir():
        ours = old.name in OUTPUT_NAMES or (old.name.startswith("proposal_")
                                            and old.suffix == ".gpkg")
        if ours and old.name not in names and old.is_file():
            old.unlink()
    out = []
    for p in staged:
        os.replace(p, folder / p.name)
        out.append(folder / p.name)
    return out


def _write_folder(results, outputs: dict, folder: Path, *, title: str) -> list[Path]:
    written: list[Path] = []
    with step(f"writing tables to {outputs['folder']}"):
        for name, table in (("cells", results.cells), ("schools", results.schools)):
            written.append(write_table(table, folder / f"{name}.gpkg"))
            written.append(write_table(table, folder / f"{name}.csv"))
        if results.district_table is not None and results.districts is not None:
            dt = results.district_table
            polys = results.districts[["district", results.districts.geometry.name]].merge(
                dt, on="district", how="left")
            written.append(write_table(polys, folder / "districts.gpkg"))
            written.append(write_table(dt, folder / "districts.csv"))
        if results.catchments is not None:
            written.append(write_table(results.catchments, folder / "catchments.gpkg"))
        written.append(write_table(results.equity, folder / "equity.csv"))
        written.append(write_table(results.theil, folder / "theil.csv"))
        written.append(write_table(results.costs, folder / "costs.parquet"))
        if results.comparison is not None:
            written.append(write_table(results.comparison.table, folder / "compare.csv",
                                       index=True))
            for name, layer in (results.comparison.layers or {}).items():
                # as the run's map draws them; geoequity map OUTDIR reads them back
                written.append(write_table(layer, folder / f"proposal_{_safe(name)}.gpkg"))
    settings = _settings(results, outputs, title)
    summary = {**results.summary, **settings.to_summary()}   # the figures, then the settings
    written.append(write_text(folder / "summary.json",
                              json.dumps(_json_safe(summary), indent=2, ensure_ascii=False)))
    if outputs.get("report", True):
        with step("writing the report"):
            written.extend(_write_report(results, folder / "report.html", settings))
    return [Path(p) for p in written]


def _settings(results, outputs: dict, title: str) -> RunSettings:
    """The run's settings (a scenario run sets them; a bare ``analyse`` gets these)."""
    if getattr(results, "settings", None) is not None:
        return results.settings
    return RunSettings(title=title, tiles=outputs.get("tiles", "none"),
                       lang=outputs.get("lang", "en"), threshold=results.summary["threshold"],
                       method=results.summary.get("method"))


def _write_report(results, path: Path, settings: RunSettings) -> list[Path]:
    from geoequity.report import write_report

    has_assignment = "unassigned" in results.cells
    quiet = is_quiet()
    set_quiet(True)   # it would name the staging folder; the commit names the real one
    try:
        # the pipeline's equity tables, not recomputed
        out = write_report(path, cells=results.cells, districts=results.district_table,
                           schools=results.schools, threshold=settings.threshold,
                           title=settings.title, lang=settings.lang, cost_col="nearest_cost",
                           gap_col="unassigned" if has_assignment else None,
                           cost_unit=settings.unit, osm=settings.osm,
                           balance_levels=[settings.level] if settings.level else None,
                           equity=results.equity, theil=results.theil)
    finally:
        set_quiet(quiet)
    return [Path(out.html), *map(Path, out.csv.values())]


def _write_map(results, path: Path, *, title: str, tiles: str, png=None) -> Path:
    from geoequity.maps import make_map, save_map

    districts = None
    if results.districts is not None and results.district_table is not None:
        districts = results.districts[["district", results.districts.geometry.name]].merge(
            results.district_table, on="district", how="left")
    fair = results.summary.get("seats_per_child")
    m = make_map(schools=results.schools, cells=results.cells, districts=districts,
                 catchments=results.catchments, title=title, tiles=tiles,
                 proposals=results.comparison.layers if results.comparison is not None else None,
                 osm_attribution=_settings(results, {}, title).osm, fair_share=fair)
    return Path(save_map(m, path, png=png))
