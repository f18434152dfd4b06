"""The seat gaps' tables, the run's district table, coverage check, summary figures and
``access_index`` from a cluster run's own pieces (geoequity.distributed.KeptCells: one piece
per 4 km tile of the demo county, made on the workers), against the in-process run.

The pieces' per-cell measures come from the partitions (their halos); the columns a run adds
later (``district``, the assignment's ``assigned``/``unassigned``) are the in-process run's,
added where the pieces lie. The summaries cross processes (pickled), as a cluster run's do.
Floats to 1e-9 relative: the partitions' 2SFCA scores and costs equal the in-process ones
only to that (tests/test_distributed.py); labels, counts and dtypes exactly.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from geoequity.assignment import capacity_assignment
from geoequity.distributed import ComputeOptions, kept_cells, run_on_cluster
from geoequity.gaps import gaps_piece, seat_gaps_of
from geoequity.pipeline import (
    analyse,
    check_coverage,
    check_coverage_of,
    coverage_piece,
    district_summary_of,
    finish_piece,
    summary_figures,
)
from geoequity.scenario import build_costs, cost_source, load_scenario, read_inputs

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo.toml"


def _straight_line_demo(folder: Path) -> Path:
    text = DEMO.read_text(encoding="utf-8").replace('"demo/', f'"{DEMO.parent}/demo/')
    start, end = text.index("[network]"), text.index("[analysis]")
    text = text[:start] + "[network]\neuclidean = true\n\n" + text[end:]
    path = folder / "line.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _with_run_columns(piece: pd.DataFrame, columns: pd.DataFrame) -> pd.DataFrame:
    return piece.assign(**{c: columns[c].reindex(piece.index).to_numpy() for c in columns})


def test_gap_figures_from_a_cluster_runs_pieces(client, tmp_path, capsys):
    sc = load_scenario(_straight_line_demo(tmp_path))
    a = sc.analysis
    cells, schools, districts = read_inputs(sc)
    ref = analyse(cells, schools, build_costs(sc, cells, schools), threshold=a["threshold"],
                  districts=districts, method=a["method"], max_cost=a["max_cost"],
                  assignment_max_cost=a["assignment_max_cost"])
    res = capacity_assignment(ref.pairs, cells["children"], schools["seats"],
                              max_cost=a["assignment_max_cost"])
    kept, _, _ = run_on_cluster(ComputeOptions(partition=4000.0), client, cells, schools,
                                districts, cost_source(sc), district_paths=sc.districts,
                                threshold=a["threshold"], max_cost=a["max_cost"],
                                method=a["method"], decay=None, decay_param=None,
                                assignment_max_cost=a["assignment_max_cost"])
    pieces = kept_cells(kept, cells, schools.index)
    try:
        assert len(pieces.names) > len(districts)   # tiles: districts span several pieces
        pieces.update(_with_run_columns, ref.cells[["district", "assigned", "unassigned"]],
                      what="run-columns")
        sums = pieces.summaries(gaps_piece, threshold=a["threshold"], what="gaps")
        gaps = seat_gaps_of(sums, ref.schools["seats"], threshold=a["threshold"],
                            school_district=ref.schools["district"], districts=districts,
                            assignment=res)
        table = district_summary_of(gaps.districts, [s.districts for s in sums], ref.schools)
        pd.testing.assert_frame_equal(table, ref.district_table, check_exact=False,
                                      rtol=1e-9, atol=0)
        assert table["district"].tolist() == ref.district_table["district"].tolist()
        assert table["cells"].tolist() == ref.district_table["cells"].tolist()
        figures = summary_figures(gaps.totals, assignment=True)
        assert figures == pytest.approx({k: ref.summary[k] for k in figures}, rel=1e-9)
        assert figures["cells"] == ref.summary["cells"]
        assert figures["cells_without_access"] == ref.summary["cells_without_access"]
        # the coverage check says what it says in process
        cover = pieces.summaries(coverage_piece, ref.schools, what="coverage")
        capsys.readouterr()
        check_coverage(ref.cells, ref.schools, districts)
        want = capsys.readouterr().err
        check_coverage_of(cover, ref.schools, districts)
        assert capsys.readouterr().err == want
        # the fair share back to the pieces: their access_index is the run's
        pieces.update(finish_piece, gaps.totals, what="finish")
        done = pieces.gather().loc[ref.cells.index]
        assert "fca" not in done.columns
        cols = list(done.columns)
        assert cols[cols.index("access") + 1] == "access_index"
        pd.testing.assert_series_equal(done["access_index"], ref.cells["access_index"],
                                       check_exact=False, rtol=1e-9, atol=0)
    finally:
        pieces.release()
        kept.release()
