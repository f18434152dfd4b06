"""Writing one analysis' outputs into one folder: tables (CSV + GeoPackage), map, report.

Files written by :func:`write_outputs` into the run folder ``DIR``:

==================== ===========================================================================
``cells.parquet``    per-cell results (see :mod:`geoequity.pipeline` for the columns) as
                     GeoParquet, one row group per district (a county is read without the
                     province); always written. A cluster run's is a folder of one
                     ``part-NNNNN.parquet`` per partition, written by the workers holding the
                     cells (:func:`write_cells_piece`), read back in the run's order
``cells.gpkg/.csv``  the same cells; each is left out above :data:`CSV_AUTO_ROWS` cells
                     unless ``[outputs] gpkg = true`` / ``csv = true`` (``false``: never);
                     a cluster run's are one file each, built from the parts one at a time
                     (rows part after part).
                     Readers of a run folder (``geoequity map``, ``geoequity report``) take
                     the cells from ``cells.parquet``, in the order the run wrote them
``schools.gpkg/.csv`` schools with seats, assigned, spare, overflow, utilisation, supply_ratio
``districts.gpkg``   district polygons with their gap table columns
``districts.csv``    the district gap table, with an ``(all)`` row
``catchments.gpkg``  nearest-school catchments (dissolved cells), when computed
``equity.csv``       inequality of access per district and urban/rural group
``theil.csv``        Theil decomposition (between / within groups)
``costs.parquet``    the cost table used (origin, destination, cost). A cluster run's is a
                     partitioned Parquet dataset: a folder of one ``part-NNNNN.parquet`` per
                     partition, written by the workers that computed the pairs (rows grouped
                     by partition; ``pandas.read_parquet`` reads the folder as one table)
``compare.csv``      district proposals side by side (scenario ``[[proposals]]``)
``districts_by_year.csv``, ``schools_by_year.csv``, ``cells_by_year.parquet``
                     with ``[forecast]``: the seat gaps of every year of the horizon
                     (:mod:`geoequity.yearly`)
``plans_by_year.csv``, ``plans_summary.csv``, ``plans_schools.csv``
                     with ``[[plans]]``: every plan in every year, one row per plan, and
                     one row per school a plan opens, expands or closes (with its lon/lat)
                     (:mod:`geoequity.plans`)
``proposal_<name>.gpkg`` each proposal's districts with its scores (``geoequity map`` draws them)
``summary.json``     headline figures, the title, the threshold, the run's settings and ``run_id``
``report.html``      the self-contained equity report (``report = true``), with its tables as
                     ``report_<table>.csv``
==================== ===========================================================================

The map goes to the scenario's ``map`` path (default ``maps/<scenario>.html``).

How the folder changes as a whole (all renames stay inside ``DIR``, so ``DIR`` may be a mount
point)::

    DIR/.geoequity/lock              flock-ed by the run writing DIR; names it (pid, host, start)
    DIR/.geoequity/runs/<run_id>/    one run's files + manifest.json (+ a marker file)
    DIR/.geoequity/current           symbolic link -> runs/<run_id>
    DIR/cells.csv ...                symbolic links -> .geoequity/current/cells.csv ...

1. The run takes the lock (a second run into ``DIR``, from another process or another thread
   of this one, stops with a message naming this one) and removes what killed runs left: run
   folders carrying the marker that ``current`` does not name, dangling links of its own,
   stale temporary files.
2. Every table, the report and ``summary.json`` are written into a new ``runs/<run_id>/``, then
   its manifest. The map is drawn to a temporary file beside the map path.
3. A link ``DIR/<name>`` is made for each file (it shows the previous run's file, or nothing,
   until the switch); then one ``rename`` points ``current`` at the new run: every name in
   ``DIR`` changes at once, so ``summary.json`` and the tables always come from one run.
4. Only then is the map moved into place, and the previous run's folder and the links to files
   the new run did not write (``compare.csv`` after proposals were dropped, ``report.html``
   after ``--no-report``) removed. Files of the user's own (anything not such a link) are never
   removed; a name the run writes replaces whatever was there.

On a file system without symbolic links the files are moved into ``DIR`` one by one
(``summary.json`` last) and ``DIR/.geoequity/files.json`` records them, so that later runs only
remove files a run wrote.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from geoequity._atomic import PendingFile, clean_stale_temps, pending_path, write_text
from geoequity._errors import input_error
from geoequity._options import option
from geoequity._progress import info, is_quiet, set_quiet, step
from geoequity.io.write import write_table
from geoequity.settings import RunSettings

try:
    import fcntl
except ImportError:   # pragma: no cover - not on Windows: runs there are not locked
    fcntl = None

PRIVATE = ".geoequity"          # DIR/.geoequity: the lock, the runs, the current link
_MARKER = ".geoequity-run"      # in every run folder geoequity made (only those are removed)


def _json_safe(obj):
    import numpy as np

    from geoequity.io.write import round_significant

    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, float) and math.isfinite(obj):   # as the CSV tables: no residues
        return float(round_significant([obj])[0])
    if isinstance(obj, Path):
        return str(obj)
    return obj


_OUTPUTS = ("cells.gpkg", "cells.csv", "cells.parquet", "schools.gpkg", "schools.csv",
            "districts.gpkg",
            "districts.csv", "catchments.gpkg", "equity.csv", "theil.csv", "costs.parquet",
            "compare.csv", "trend.csv", "summary.json", "report.html",
            # with [forecast]: the per-year tables (geoequity.yearly)
            "districts_by_year.csv", "schools_by_year.csv", "cells_by_year.parquet",
            # with [[plans]]: every plan in every year (geoequity.plans)
            "plans_by_year.csv", "plans_summary.csv", "plans_schools.csv")
# the report's own tables (report_<table>.csv); other report_*.csv files are the user's
_REPORT_TABLES = ("districts", "lorenz", "theil", "groups", "balance_cv", "balance_summary",
                  "failing_schools", "composite", "composite_sensitivity", "trend",
                  "resource_groups",
                  # the 2017 evaluation sections (geoequity.evaluation_report.TABLES)
                  "excluded_schools", "operations_schools", "operations_summary", "checklist",
                  "first_shortfall",
                  # plans compared (geoequity.report_plans)
                  "plans", "plans_best", "plans_last_year")
OUTPUT_NAMES = frozenset(_OUTPUTS) | {f"report_{t}.csv" for t in _REPORT_TABLES}


class EarlyOutputs:
    """A run's outputs begun before its results are ready (:func:`begin_outputs`): the run's
    staging folder, made now, and ``costs.parquet`` written into it while the run's later
    steps go on (the pairs need none of them): by the workers holding a cluster run's pairs
    during its global steps, or by this process just before it joins the assignment (while
    a large exact solve runs in its child process). :func:`write_outputs` ends it
    (``early=``); :meth:`cancel` drops it on any other way out."""

    def __init__(self, stage: Path, kept, finish: Callable[[], Path], canvas=None) -> None:
        self.stage, self.kept, self.finish = stage, kept, finish
        self.canvas = canvas   # the map's cell raster, made ahead (geoequity.maps.CellCanvas)

    def cancel(self) -> None:
        """Stop the writing (the parts being written are waited for, so that none lands in a
        folder being removed) and remove the stage (idempotent)."""
        stage, self.stage = self.stage, None
        if stage is None:
            return
        if self.kept is not None:
            with contextlib.suppress(Exception):   # a lost cluster: nothing left to stop
                self.kept.stop_writing()
        shutil.rmtree(stage, ignore_errors=True)


def begin_outputs(outputs: dict, kept=None, *, costs: Any = None, cells: Any = None
                  ) -> EarlyOutputs:
    """Make the run's staging folder in ``outputs["folder"]`` and write ``costs.parquet``
    there: started on the workers from ``kept`` (:class:`geoequity.distributed.KeptPairs`,
    written while the caller goes on), or written now from the table ``costs`` (the one
    :func:`write_outputs` would write). With ``cells`` (the results' cells, their geometry
    final) and one map to draw (no ``maps_by``), the map's cell raster is made now too
    (:func:`geoequity.maps.prepare_cells`). The caller holds the folder's lock
    (:func:`lock_folder`) until :func:`write_outputs` ends: no other run may tidy the stage
    away meanwhile."""
    if (kept is None) == (costs is None):
        raise ValueError("begin_outputs: pass kept pairs or a cost table, one of them")
    folder = Path(outputs["folder"])
    tidy(folder)
    stage = _new_run(folder)
    canvas = None
    try:
        if kept is not None:
            finish = kept.start_writing(stage / "costs.parquet")
        else:
            with step("writing the cost table"):
                path = write_table(costs, stage / "costs.parquet")

            def finish() -> Path:
                return path
        if cells is not None and outputs.get("map") and not outputs.get("maps_by"):
            from geoequity.maps import prepare_cells

            canvas = prepare_cells(cells, tiles=outputs.get("tiles", "none"))
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return EarlyOutputs(stage, kept, finish, canvas)


def write_outputs(results, outputs: dict, *, title: str,
                  early: EarlyOutputs | None = None) -> list[Path]:
    """Write every table, the report and the map of ``results``; return the paths written.

    The folder changes as a whole, under a lock (see the module notes): staged in
    ``DIR/.geoequity/runs/<run_id>/``, switched with one rename, then the map. ``early``: the
    stage :func:`begin_outputs` made, ``costs.parquet`` already being written there.
    """
    folder = Path(outputs["folder"])
    with lock_folder(folder):
        if early is not None:
            stage, early.stage = early.stage, None   # the stage is this function's now
        else:
            tidy(folder)
            stage = _new_run(folder)
        switched = False
        try:
            if early is not None:
                tidy(folder, keep=stage.name)
            with contextlib.ExitStack() as later:
                drawing = []

                def start_map() -> None:   # once the workers have the tables' parts to write
                    drawing.append(_start_map(results, outputs, title, later,
                                              canvas=early.canvas if early else None))

                # a cluster run's county maps are drawn by its workers while the client writes
                # the tables and the report
                staged = _write_folder(results, outputs, stage, title=title, run_id=stage.name,
                                       meanwhile=start_map,
                                       costs=early.finish if early is not None else None)
                _write_manifest(stage, staged)
                maps = drawing[0]()
                names = [p.name for p in staged]
                _switch(folder, stage, names)
                switched = True
                committed = [m.commit() for m in maps]   # never before the tables
        finally:
            if not switched:
                # a cluster run's workers may still be writing parts into the stage: they
                # end first (one writing after the removal would make the folder again)
                for holder in (getattr(results, "kept", None),
                               getattr(results, "cell_pieces", None)):
                    if holder is not None and hasattr(holder, "stop_writing"):
                        with contextlib.suppress(Exception):   # a lost cluster
                            holder.stop_writing()
                shutil.rmtree(stage, ignore_errors=True)
        tidy(folder)
    written = [folder / n for n in names] + committed[:1]   # tables, report, the HTML map
    results.written = written
    info(f"wrote {len(written)} files: tables and report in {folder}, map {outputs.get('map')}")
    return written


def _start_map(results, outputs: dict, title: str, stack, *, canvas=None
               ) -> Callable[[], list[PendingFile]]:
    """Start drawing the map (and PNG) to temporary files beside their paths; the function
    returned finishes it and gives the files, to commit later (after the tables).

    With ``maps_by`` (``[outputs] maps_by``): the overview at the map path and one map per
    group in the folder beside it, drawn and committed as one set
    (:mod:`geoequity.maps._overview`); without, one map, and the county maps an earlier
    overview at the same path had are removed when it is committed. A run on a cluster
    without ``maps_by`` draws the set above a size (:func:`geoequity.maps._overview.
    cluster_maps_by`). Only a run whose cells stayed on the workers starts anything here
    (their county maps' tasks, :func:`_start_set_from_pieces`); otherwise the map is drawn
    by the function returned. Leaving ``stack`` without calling it removes what was drawn."""
    if not outputs.get("map"):
        return list
    from geoequity.maps._overview import (
        cluster_maps_by,
        draw_map_set,
        pending_map_set,
        stale_county_maps,
    )

    by = outputs.get("maps_by")
    if getattr(results, "kept", None) is not None:   # a cluster run: its pairs on the workers
        n = len(results.cells) if results.cells is not None else results.summary["cells"]
        by = cluster_maps_by(by, cells=int(n),
                             group=results.summary.get("district_group"),
                             districts=results.district_table is not None
                             and results.districts is not None)
    if by:
        mapset = stack.enter_context(pending_map_set(outputs["map"]))
    else:
        html = stack.enter_context(pending_path(outputs["map"]))
    png = stack.enter_context(pending_path(outputs["png"])) if outputs.get("png") else None
    pieces = getattr(results, "cell_pieces", None) if results.cells is None else None
    if results.cells is None and pieces is None:   # a finished cluster run's, released
        info("  map not drawn: the cluster run's cells were released (its own map has them)")
        return list
    if by:
        layers = _map_layers(results, title, tiles=outputs.get("tiles", "none"), by=by)
        threshold = results.summary.get("threshold")
        if pieces is not None:   # each county's map drawn where its cells are
            finish = _start_set_from_pieces(mapset, layers, pieces, by=by, threshold=threshold,
                                            png=png.path if png else None, stack=stack)
        else:
            def finish() -> None:
                draw_map_set(mapset, layers, by=by, threshold=threshold,
                             png=png.path if png else None)

        def drawn_set() -> list[PendingFile]:
            finish()
            return [mapset] + ([png] if png else [])

        return drawn_set

    def drawn() -> list[PendingFile]:
        with step("drawing the map"):   # one map: every cell here (a small cluster run's too)
            _write_map(results, html.path, title=title, tiles=outputs.get("tiles", "none"),
                       png=png.path if png else None,
                       cells=pieces.gather() if pieces is not None else None,
                       canvas=canvas)
        return [html] + ([png] if png else []) + [stale_county_maps(outputs["map"])]

    return drawn


def _start_set_from_pieces(pending, layers: dict, pieces: CellPieces, *, by: str,
                           threshold=None, png=None, stack) -> Callable[[], None]:
    """:func:`geoequity.maps._overview.draw_map_set` for a run whose cells stayed on the
    workers (``pieces``): each worker draws the maps of the groups its piece holds whole
    (:func:`geoequity.maps._overview.draw_piece_maps`, into the set's stage), started now,
    behind the tasks already queued (the tables' parts); the function returned draws the
    overview here from the district table meanwhile, then waits for the workers' maps. A
    group spread over several pieces, or whose worker cannot reach the stage, is drawn here
    from its cells gathered (only its own), and so is a map a worker drew that is not in the
    stage here with the size it reported (no shared file system: the worker drew it on its
    own disk, where the same path exists). Leaving ``stack`` before it is called (a table
    that failed) waits for the workers' maps to stop, so that none is drawn into a stage
    being removed."""
    from geoequity.distributed import seen_as_written
    from geoequity.maps._overview import draw_group_map, draw_overview, set_plan

    plan, groups = set_plan(pending, layers, by)
    bare = {**layers, "cells": None}
    jobs = pieces.each(_piece_maps, bare, plan, str(pending.stage), what="maps",
                       priority=-1)
    state = {"jobs": jobs}
    stack.callback(_stop_maps, pieces, state)   # (runs before the set's stage goes)

    def finish() -> None:
        quiet = is_quiet()
        with step(f"drawing {len(plan.order):,} maps by {by} and the overview"):
            set_quiet(True)   # save_map would name the temporary files
            try:
                draw_overview(pending, layers, plan, threshold=threshold, png=png)
                reported: dict = {}
                for sizes in pieces.collect(jobs):
                    reported.update(sizes or {})
                state["jobs"] = []
                drawn = {g for g, size in reported.items()
                         if seen_as_written(pending.stage / plan.names[g], size)}
                for g in plan.order:
                    if g not in drawn:
                        cells = pieces.gather(_in_group, groups, g)
                        draw_group_map({**layers, "cells": cells},
                                       pending.stage / plan.names[g], by=by, group=g,
                                       back=plan.back, final=plan.folder / plan.names[g])
                    pending.files[g] = plan.names[g]
            finally:
                set_quiet(quiet)
        if len(drawn) < len(reported):   # (said here: the drawing above is quiet)
            info(f"  {len(reported) - len(drawn):,} of {len(reported):,} map(s) the workers "
                 f"drew are not in {pending.stage} as drawn (no shared file system?); drawn "
                 "here")
        info(f"  {len(plan.order):,} maps by {by} in {plan.folder} ({len(drawn):,} drawn on "
             "the workers)")

    return finish


def _stop_maps(pieces: CellPieces, state: dict) -> None:
    """Wait for the county maps' tasks still held in ``state`` to end, then drop them (a
    failed write: the set's stage is removed next; a map task starting after the removal
    draws nothing, :func:`_piece_maps`). A lost cluster: nothing to wait for."""
    jobs, state["jobs"] = state["jobs"], []
    if jobs:
        pieces.stop(jobs)


def _piece_maps(piece, layers: dict, plan, stage: str) -> dict[str, int]:
    """:func:`geoequity.maps._overview.draw_piece_maps` on a worker: the size in bytes of
    each group's map it drew (the client checks it sees them); none when it cannot write
    into ``stage`` (no shared file system: the client draws those maps)."""
    from geoequity.maps._overview import draw_piece_maps

    if not os.path.isdir(stage):   # no shared file system, or a run that left early
        return {}
    try:
        drawn = draw_piece_maps(piece, layers, plan, stage)
        return {g: os.path.getsize(Path(stage) / plan.names[g]) for g in drawn}
    except OSError:
        return {}


def _in_group(piece, groups, group: str):
    """Whether each cell of ``piece`` lies in a district of ``group``."""
    return (piece["district"].astype(str).map(groups) == group).to_numpy()


# -- the lock ------------------------------------------------------------------------------

class _Held:
    """The lock of one folder as this process holds it: the lock file's descriptor, the
    thread holding it and how many blocks of that thread are inside, the text naming the
    run, the folders its taking made (removed again when the run fails)."""

    def __init__(self, fd: int, holder: str, lock: Path, created: list[Path]) -> None:
        self.fd, self.holder, self.lock, self.created = fd, holder, lock, created
        self.thread = threading.get_ident()
        self.depth = 1


_HELD: dict[str, _Held] = {}   # folder's real path -> its lock, held by this process
_HELD_GUARD = threading.Lock()   # _HELD's entries are checked and changed under it


def _holder_text() -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    argv = sys.argv or ["python"]
    program = Path(argv[0]).name
    program = "geoequity" if program in ("geoequity", "__main__.py") else program or "python"
    command = " ".join([program, *argv[1:]])
    return f"pid {os.getpid()} on {socket.gethostname()}, started {started}: {command}"


@contextlib.contextmanager
def lock_folder(folder):
    """Hold ``DIR/.geoequity/lock`` for the block: one geoequity run writes ``DIR`` at a time.

    A second run stops at once with an :class:`InputError` naming the run that holds the
    folder, whether it runs in another process or in another thread of this one (two runs of
    a notebook or a web service). The lock is ``flock``: the kernel releases it when its
    process ends, however it ends, so a killed run never blocks the next one. Re-entrant
    within a thread: the run takes it in ``run_scenario`` and again in its steps.
    """
    folder = Path(folder)
    key = os.path.realpath(folder)
    with _HELD_GUARD:
        held = _HELD.get(key)
        if held is None:
            held = _HELD[key] = _take(folder)
        elif held.thread != threading.get_ident():
            raise _busy(folder, held.holder)
        else:
            held.depth += 1
    failed = True
    try:
        yield
        failed = False
    finally:
        with _HELD_GUARD:
            held.depth -= 1
            if not held.depth:
                del _HELD[key]
                try:   # a failed first run into a new folder leaves nothing
                    if failed and held.created:
                        _undo_created(held.lock, held.created)
                finally:
                    os.close(held.fd)   # releases the lock


def _take(folder: Path) -> _Held:
    """Take ``folder``'s lock file for this thread, or raise :func:`_busy`'s error."""
    lock = folder / PRIVATE / "lock"
    created = [p for p in (folder, lock.parent) if not p.exists()]   # removed again on failure
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                raise _busy(folder, os.pread(fd, 4096, 0).decode("utf-8", "replace")
                            ) from None
        holder = _holder_text()
        os.ftruncate(fd, 0)
        os.pwrite(fd, (holder + "\n").encode("utf-8"), 0)
    except BaseException:
        os.close(fd)
        raise
    return _Held(fd, holder, lock, created)


def _busy(folder: Path, holder: str):
    """The error of a run that finds ``folder`` held by ``holder`` (the lock file's text)."""
    holder = holder.strip()
    return input_error(folder, "another geoequity run is writing this folder ("
                       f"{holder or 'it is starting'})", "wait until it ends or write to "
                       "another folder (--out)")


def _undo_created(lock: Path, created: list[Path]) -> None:
    """Remove the lock and the (still empty) folders a failed first run into ``DIR`` made."""
    try:
        lock.unlink()   # while still holding it: no other run can be inside
        runs = lock.parent / "runs"
        if runs.is_dir() and not any(runs.iterdir()):
            runs.rmdir()
        for path in reversed(created):
            path.rmdir()   # only when empty (OSError otherwise: then it is kept)
    except OSError:
        pass


# -- run folders, the switch and the tidying -------------------------------------------------

def _new_run(folder: Path) -> Path:
    """A new, marked run folder ``DIR/.geoequity/runs/<time>-<pid>-<random>``."""
    runs = folder / PRIVATE / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    stage = Path(tempfile.mkdtemp(prefix=f"{stamp}-{os.getpid()}-", dir=runs))
    (stage / _MARKER).write_text(_holder_text() + "\n", encoding="utf-8")
    return stage


def _write_manifest(stage: Path, staged: list[Path]) -> None:
    manifest = {"run_id": stage.name, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "files": {p.name: _size(p) for p in staged}}
    write_text(stage / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))


def _size(path: Path) -> int:
    """Bytes of a file, or of the files of a folder (a partitioned ``costs.parquet``)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _link_text(name: str) -> str:
    return f"{PRIVATE}/current/{name}"


def _is_our_link(path: Path) -> bool:
    try:
        return os.readlink(path) == _link_text(path.name)
    except OSError:
        return False


_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS}


def _links_work(private: Path) -> bool:
    """Whether the file system takes symbolic links (any other failure is raised)."""
    if (private / "current").is_symlink():
        return True
    probe = private / f"probe.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        probe.unlink()
    try:
        os.symlink("runs", probe)
    except OSError as exc:
        if exc.errno in _NO_LINKS:
            return False
        raise
    probe.unlink()
    return True


def _switch(folder: Path, stage: Path, names: list[str]) -> None:
    """Make ``stage`` the folder's current run: every name changes with one rename."""
    private = folder / PRIVATE
    moved = _moved(folder)
    for name in names:
        path = folder / name
        if (path.is_dir() and not path.is_symlink()
                and moved.get(name) != _signature(path)):   # not a folder a run moved here
            raise input_error(path, "is a folder, where the run writes a file",
                              "move or rename that folder")
    if not _links_work(private):
        _switch_by_moving(folder, stage, names)
        return
    current = private / "current"
    if not current.is_symlink():
        _adopt_older_files(folder, names)
    for name in names:
        path = folder / name
        if not _is_our_link(path):   # until the switch it shows the previous run's file
            _replace_with_link(path, _link_text(name), private)
    _replace_with_link(current, f"runs/{stage.name}", private)   # THE switch: one rename


def _replace_with_link(path: Path, target: str, private: Path) -> None:
    """Put a symbolic link to ``target`` at ``path`` in one rename (made in ``private``)."""
    tmp = private / f"link.{os.getpid()}.{path.name}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, path)


def _adopt_older_files(folder: Path, names: list[str]) -> None:
    """Before the first switch: files at the run's names (an older geoequity's) become a run.

    They are hard-linked (copied where the file system cannot) into a marked run folder that
    ``current`` then names, so replacing them with links changes nothing a reader sees.
    """
    older = [n for n in names if (folder / n).is_file() and not (folder / n).is_symlink()]
    if not older:
        return
    adopted = _new_run(folder)
    for name in older:
        try:
            os.link(folder / name, adopted / name)
        except OSError:
            shutil.copy2(folder / name, adopted / name)
    private = folder / PRIVATE
    _replace_with_link(private / "current", f"runs/{adopted.name}", private)


def _switch_by_moving(folder: Path, stage: Path, names: list[str]) -> None:
    """No symbolic links here: move the files in one by one, ``summary.json`` last."""
    record = folder / PRIVATE / "files.json"
    previous = _moved(folder)
    moved = {}
    for name in sorted(names, key=lambda n: n == "summary.json"):
        target = folder / name
        if (stage / name).is_dir() or (target.is_dir() and not target.is_symlink()):
            _remove(target)   # a folder (a partitioned costs.parquet) is not renamed over
        os.replace(stage / name, target)
        moved[name] = _signature(target)
    for name, signature in previous.items():
        path = folder / name
        if name not in moved and "/" not in name and _signature(path) == signature:
            _remove(path)   # a file the previous run wrote, unchanged since
    write_text(record, json.dumps(moved, indent=2))


def _moved(folder: Path) -> dict:
    """What the last run moved into ``folder`` (no symbolic links): name -> signature."""
    try:
        return json.loads((folder / PRIVATE / "files.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _remove(path: Path) -> None:
    """Remove a file or a folder of outputs (nothing when there is none)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _signature(path: Path) -> list | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def tidy(folder, *, keep: str | None = None) -> None:
    """Remove what earlier (killed) runs into ``folder`` left; call it holding the lock.
    ``keep``: the name of this run's own run folder, begun earlier (:func:`begin_outputs`).

    Removed: run folders carrying geoequity's marker other than the current one, temporary files
    of dead geoequity processes of this host in ``DIR`` itself, temporary links in
    ``DIR/.geoequity``, links ``DIR/<name> -> .geoequity/current/<name>`` the current run has
    no file for, and the ``.<DIR>.XXXXXXXX.partial`` staging folders older versions left beside
    ``DIR`` (only when they hold nothing but run outputs). Nothing else is touched.
    """
    folder = Path(folder)
    _tidy_older_staging(folder)
    clean_stale_temps(folder)   # e.g. a map or table a killed process was writing into DIR
    private = folder / PRIVATE
    if not private.is_dir():
        return
    for entry in os.scandir(folder):
        path = Path(entry.path)
        if entry.is_symlink() and _is_our_link(path) and not path.exists():
            path.unlink()
    for entry in os.scandir(private):
        if entry.name.startswith(("link.", "probe.")) and entry.is_symlink():
            os.unlink(entry.path)
    current = private / "current"
    live = os.path.basename(os.readlink(current)) if current.is_symlink() else None
    runs = private / "runs"
    for entry in os.scandir(runs) if runs.is_dir() else ():
        if (entry.name not in (live, keep) and entry.is_dir(follow_symlinks=False)
                and os.path.isfile(os.path.join(entry.path, _MARKER))):
            shutil.rmtree(entry.path, ignore_errors=True)


def _tidy_older_staging(folder: Path) -> None:
    pattern = re.compile(rf"^\.{re.escape(folder.name)}\.[A-Za-z0-9_]{{8}}\.partial$")
    try:
        entries = list(os.scandir(folder.parent))
    except OSError:
        return
    for entry in entries:
        if pattern.match(entry.name) and entry.is_dir(follow_symlinks=False):
            inside = list(os.scandir(entry.path))
            if all(_is_output_name(e.name) or e.name.startswith(".") for e in inside
                   if not e.is_dir(follow_symlinks=False)) and not any(
                       e.is_dir(follow_symlinks=False) for e in inside):
                shutil.rmtree(entry.path, ignore_errors=True)


def _is_output_name(name: str) -> bool:
    return name in OUTPUT_NAMES or (name.startswith("proposal_") and name.endswith(".gpkg"))


def proposal_file(name: str) -> str:
    """The file a proposal's districts go to: ``proposal_<name>.gpkg``, the name as a file-name
    part (letters, digits, CJK kept; others -> _)."""
    part = re.sub(r"[^\w-]+", "_", str(name)).strip("_") or "proposal"
    return f"proposal_{part}.gpkg"


#: ``[outputs] csv = "auto"`` and ``gpkg = "auto"`` (the defaults) write ``cells.csv`` and
#: ``cells.gpkg`` up to this many cells; above, the cells are in ``cells.parquet`` (always
#: written) only: a province's CSV is hundreds of MB that no spreadsheet opens, and its
#: GeoPackage the same cells again, the slowest table to write after the CSV
CSV_AUTO_ROWS = 200_000
CSV_CHOICES = ("auto", True, False)
#: the choices of ``[outputs] gpkg`` (the same as ``csv``)
GPKG_CHOICES = CSV_CHOICES
_AUTO_FILES = {"csv": "cells.csv", "gpkg": "cells.gpkg"}   # key -> the cell file it governs
_WHAT = {"csv": "CSV", "gpkg": "GeoPackage"}


def check_auto_choice(value, source, key, what="csv"):
    """``"auto"``, True or False from the ``csv`` or ``gpkg`` choice ``value`` (text
    ``"true"``/``"false"`` too); anything else is refused, naming ``source`` and ``key``."""
    if isinstance(value, bool):
        return value
    choice = {"auto": "auto", "true": True, "false": False}.get(
        value.strip().lower() if isinstance(value, str) else None)
    if choice is None:
        raise input_error(source, f"{key} = {value!r} is not a {_WHAT[what]} choice",
                          f'use "auto" ({_AUTO_FILES[what]} up to {CSV_AUTO_ROWS:,} cells), '
                          "true or false")
    return choice


def check_csv_choice(value, source="csv", key="csv"):
    """``"auto"``, True or False from a ``csv`` choice (text ``"true"``/``"false"`` too);
    anything else is refused, naming ``source`` and ``key``."""
    return check_auto_choice(value, source, key, "csv")


def check_gpkg_choice(value, source="gpkg", key="gpkg"):
    """``"auto"``, True or False from a ``gpkg`` choice (text ``"true"``/``"false"`` too);
    anything else is refused, naming ``source`` and ``key``."""
    return check_auto_choice(value, source, key, "gpkg")


def cell_files(outputs: dict, n_cells: int) -> list[str]:
    """The files the cells of a run of ``n_cells`` cells go to: ``cells.parquet`` always,
    ``cells.gpkg`` and ``cells.csv`` as ``[outputs] gpkg`` and ``csv`` say (``auto``: up to
    :data:`CSV_AUTO_ROWS` cells); says on stderr which are left out."""
    files = ["cells.parquet"]
    left = []
    for key in ("gpkg", "csv"):
        choice = check_auto_choice(outputs.get(key, "auto"), key, key, key)
        if choice == "auto" and n_cells > CSV_AUTO_ROWS:
            left.append(key)
        elif choice is not False:
            files.append(_AUTO_FILES[key])
    for key in left:
        info(f"  {_AUTO_FILES[key]} not written: {n_cells:,} cells, over {CSV_AUTO_ROWS:,} "
             f"(the cells are in {' and '.join(files)}; {option(key)} true writes it)")
    return files


class CellPieces(Protocol):
    """A cluster run's cells left on its workers as pieces (``Results.cell_pieces``; then
    :func:`write_outputs` takes the cells from it, not from ``Results.cells``)."""

    #: the run's number of cells (``[outputs] csv``/``gpkg = "auto"`` look at it)
    n_cells: int

    def start_writing(self, path: Path, write: Callable) -> Callable[[], Path]:
        """Make the folder ``path`` and have each piece's worker write its part there
        (``write``: :func:`write_cells_part`, with ``folder / part_name(i)`` and the piece's
        run positions); return at once a function that waits for every part and gives
        ``path``."""

    def each(self, fn: Callable, *args, what: str, priority: int = 0) -> list:
        """Start ``fn(piece, *args)`` on every piece, where it lies (the maps of its
        counties); the futures, in the pieces' order, for :meth:`collect` or :meth:`stop`."""

    def collect(self, futures: list) -> list:
        """The results of :meth:`each`'s ``futures``, here, in the pieces' order."""

    def stop(self, futures: list) -> None:
        """Wait for :meth:`each`'s ``futures`` to end (errors ignored) and drop them."""

    def stop_writing(self) -> None:
        """Wait for the parts :meth:`start_writing` started to end, and drop their tasks."""

    def gather(self, select: Callable | None = None, *args) -> Any:
        """The cells here, in the run's order: all of them, or the rows ``select(piece,
        *args)`` picks (a county spread over several pieces)."""


def write_cells_piece(piece, path, *, positions=None, columns=None) -> Path:
    """The cells table ``piece`` as ``cells.parquet``: GeoParquet, one row group per
    district (:func:`geoequity.io.write_table` with ``groups="district"``), the rows' order
    recorded; returns ``path``.

    An in-process run writes all its cells as the one file ``cells.parquet``. A cluster run
    writes one part per piece (a partition's core cells, with the columns and types of the
    in-process run's cells) on the worker holding it, into the folder ``cells.parquet``:
    ``path`` = ``folder / geoequity.io.parquet.part_name(i)``, ``positions`` the piece's
    cells' positions in the run's order (or any integer key ascending in that order: the
    cells' ids for a raster's pixels, which a run reads in the order of their ids), and
    ``columns`` the in-process cells' columns in their order (the piece's own order when
    None; the geometry is written last either way). Each part
    has the in-process file's columns, types, WKB geometry and metadata; the folder reads as
    one table (pandas, geopandas, dask: part after part, by district within a part), and
    :func:`geoequity.io.parquet.in_written_order` (so ``geoequity.io.read_layer``,
    ``geoequity map``, ``geoequity report``, ``geoequity equity``) gives the in-process
    file's table row for row. The parts' cells go to ``cells.csv`` and ``cells.gpkg`` with
    :func:`write_cell_files_from_parts`."""
    if columns is not None:
        piece = piece[list(columns)]
    return write_table(piece, path, groups="district" if "district" in piece else None,
                       positions=positions)


def write_cells_part(piece, path, *, positions=None) -> Path:
    """:func:`write_cells_piece` for one part of a cluster run's ``cells.parquet``: a text
    column with no value in this piece is written as text, not as Arrow's null type, so
    that the parts share one schema (the folder reads as one table)."""
    empty = [c for c in piece.columns if piece[c].dtype == object and c != "geometry"
             and piece[c].isna().all()]
    if empty:
        import pandas as pd

        piece = piece.astype({c: pd.StringDtype() for c in empty})
    return write_cells_piece(piece, path, positions=positions)


def write_cell_files_from_parts(folder: Path, files) -> list[Path]:
    """``cells.csv`` and ``cells.gpkg`` (those of ``files``, the names :func:`cell_files`
    chose) beside the parts' folder ``folder`` (a cluster run's ``cells.parquet``, written
    by :func:`write_cells_piece`), one part at a time: a process holds one part, never the
    province. Each file is the one an in-process run writes (the same columns and values,
    one layer, one header), its rows part after part (each part in its piece's order), as
    the folder reads; returns the paths written."""
    import geopandas as gpd
    import pyarrow.dataset as ds

    from geoequity._atomic import atomic_path
    from geoequity.io.parquet import geometry_types_of, in_written_order
    from geoequity.io.write import csv_table, write_csv, write_gpkg_parts

    folder = Path(folder)
    names = [n for n in files if n in ("cells.csv", "cells.gpkg")]
    if not names:
        return []
    parts = ds.dataset(folder, format="parquet").files
    with contextlib.ExitStack() as stack:
        tmps = {n: stack.enter_context(atomic_path(folder.parent / n)) for n in names}

        def read():   # each part once, for both files: its rows go to cells.csv as read
            for i, part in enumerate(parts):
                cells = in_written_order(gpd.read_parquet(part), part)
                if "cells.csv" in tmps:
                    write_csv(csv_table(cells, is_geo=True), tmps["cells.csv"],
                              header=i == 0, append=i > 0)
                yield cells

        if "cells.gpkg" in tmps:   # the layer's type from every part's (GeoParquet's)
            write_gpkg_parts(read(), tmps["cells.gpkg"], layer="cells",
                             geometry_types=geometry_types_of(parts))
        else:
            for _ in read():
                pass
    return [folder.parent / n for n in names]


def _start_cells(results, outputs: dict, folder: Path
                 ) -> tuple[list[Path], Callable[[], list[Path]]]:
    """The cells' files: ``(written now, a function writing the rest)``. In process all are
    written now; a cluster run's pieces (``results.cell_pieces``) start writing the parts of
    ``cells.parquet`` on their workers, and the function waits for them and builds
    ``cells.csv``/``cells.gpkg`` from the parts."""
    pieces = getattr(results, "cell_pieces", None)
    if pieces is None and results.cells is None:   # a finished cluster run's, released
        info("  cells.parquet not written: the cluster run's cells were released (its own "
             "folder has them)")
        return [], list
    if pieces is None:
        cells = results.cells
        return [write_cells_piece(cells, folder / name) if name == "cells.parquet"
                else write_table(cells, folder / name)
                for name in cell_files(outputs, len(cells))], list
    # the workers write meanwhile
    finish = pieces.start_writing(folder / "cells.parquet", write_cells_part)

    def later() -> list[Path]:
        parts = Path(finish())
        return [parts, *write_cell_files_from_parts(parts, cell_files(outputs,
                                                                      pieces.n_cells))]

    return [], later


def _write_folder(results, outputs: dict, folder: Path, *, title: str,
                  run_id: str | None = None,
                  meanwhile: Callable[[], None] | None = None,
                  costs: Callable[[], Path] | None = None) -> list[Path]:
    """Write the tables, the summary and the report into ``folder``; the paths.
    ``meanwhile()`` is called once a cluster run's workers are writing their parts of the
    tables (:func:`write_outputs` starts the county maps there, behind them); ``costs``:
    the function that waits for ``costs.parquet``, begun already (:func:`begin_outputs`)."""
    written: list[Path] = []
    with step(f"writing tables to {outputs['folder']}"):
        if costs is None and results.costs is None and getattr(results, "kept",
                                                                 None) is not None:
            # a cluster run's pairs: its workers write them while this process writes the rest
            costs = results.kept.start_writing(folder / "costs.parquet")
        cells_now, cells_later = _start_cells(results, outputs, folder)
        if meanwhile is not None:
            meanwhile()
        written.extend(cells_now)
        written.append(write_table(results.schools, folder / "schools.gpkg"))
        written.append(write_table(results.schools, folder / "schools.csv"))
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
        written.extend(cells_later())
        if costs is not None:
            written.append(costs())
        elif results.costs is not None:
            written.append(write_table(results.costs, folder / "costs.parquet"))
        else:   # the results of a finished cluster run: its workers let the pairs go
            info("  costs.parquet not written: the cluster run's pairs were released "
                 "(its own folder has them)")
        if results.comparison is not None:
            written.append(write_table(results.comparison.table, folder / "compare.csv",
                                       index=True))
            for name, layer in (results.comparison.layers or {}).items():
                # as the run's map draws them; geoequity map OUTDIR reads them back
                written.append(write_table(layer, folder / proposal_file(name)))
        if getattr(results, "yearly", None) is not None:
            from geoequity.yearly import write_yearly

            written.extend(write_yearly(results.yearly, folder))
        if getattr(results, "trend", None) is not None:
            written.append(write_table(results.trend, folder / "trend.csv"))
        if getattr(results, "plans", None) is not None:
            from geoequity.plans import write_plans

            written.extend(write_plans(results.plans, folder))
    settings = _settings(results, outputs, title)
    summary = {**results.summary, **settings.to_summary(),   # the figures, then the settings
               "run_id": run_id}
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
    from geoequity.assignment_decomposed import AssignmentReport
    from geoequity.report import write_report

    cells = results.cells   # None: a run whose cells stayed on the workers (its curves given)
    table = results.district_table
    has_assignment = ("unassigned" in cells if cells is not None
                      else table is not None and "unassigned" in table)
    assigned = AssignmentReport.from_summary(results.summary)
    quiet = is_quiet()
    set_quiet(True)   # it would name the staging folder; the commit names the real one
    try:
        # the pipeline's equity tables, not recomputed
        out = write_report(path, cells=cells, districts=results.district_table,
                           schools=results.schools, threshold=settings.threshold,
                           title=settings.title, lang=settings.lang, cost_col="nearest_cost",
                           gap_col="unassigned" if has_assignment else None,
                           cost_unit=settings.unit, osm=settings.osm,
                           balance_levels=[settings.level] if settings.level else None,
                           equity=results.equity, theil=results.theil,
                           checklist=settings.checklist, teachers=settings.teachers,
                           by_year=_by_year(results),
                           trend=getattr(results, "trend", None),
                           plans=getattr(results, "plans", None),
                           notes=[assigned.text(settings.lang)] if assigned else (),
                           lorenz=getattr(results, "lorenz", None))
    finally:
        set_quiet(quiet)
    return [Path(out.html), *map(Path, out.csv.values())]


def _by_year(results):
    """The per-year district table of a run with ``[forecast]`` (else None)."""
    yearly = getattr(results, "yearly", None)
    if yearly is None:
        return None
    table = yearly.districts.copy()
    table.attrs["growth"] = yearly.growth   # the report's lead says where growth came from
    return table


def _map_layers(results, title: str, *, tiles: str, by: str | None = None) -> dict:
    """The :func:`geoequity.maps.make_map` arguments of the run's map (``by``: a districts
    column the map set groups by, kept beside the district table's columns)."""
    districts = None
    if results.districts is not None and results.district_table is not None:
        keep = ["district"] + ([by] if by and by in results.districts and by != "district"
                               else [])
        districts = results.districts[[*keep, results.districts.geometry.name]].merge(
            results.district_table, on="district", how="left")
    settings = _settings(results, {}, title)
    plans = getattr(results, "plans", None)
    return {"schools": results.schools, "cells": results.cells, "districts": districts,
            "catchments": results.catchments, "title": title, "tiles": tiles,
            "proposals": results.comparison.layers if results.comparison is not None else None,
            "osm_attribution": settings.osm, "fair_share": results.summary.get("seats_per_child"),
            "lang": settings.lang, "cost_unit": settings.unit,
            "yearly": getattr(results, "yearly", None),
            "plans": getattr(plans, "by_year", None),
            "plan_schools": getattr(plans, "schools", None)}


def _write_map(results, path: Path, *, title: str, tiles: str, png=None,
               cells=None, canvas=None) -> Path:
    from geoequity.maps import make_map, save_map

    layers = _map_layers(results, title, tiles=tiles)
    if cells is not None:   # a cluster run's cells, gathered from its pieces
        layers["cells"] = cells
    m = make_map(**layers, canvas=canvas)   # canvas: made ahead, used if it fits the cells
    quiet = is_quiet()
    set_quiet(True)   # it would name the temporary file; the run names the map
    try:
        return Path(save_map(m, path, png=png))
    finally:
        set_quiet(quiet)
