"""Breakdowns of the school-resource indicators by district, urban/rural class and township.

The national evaluation judges a county as a whole (:mod:`geoequity.balance`); a county's own
monitoring also compares its parts. :func:`resource_breakdown` evaluates every resource
indicator of a standard (its enrolment-weighted mean, i.e. the group's ratio, and its CV across
the group's schools) once per grouping column, with the one rule of
:func:`geoequity.balance.evaluate_balance` (the grouping plays the part of the county). Schools
get their urban/rural class and township from their cell in a run
(:func:`geoequity.urban.cell_value_of`), or from a column of their own.

The same from the command line: ``geoequity equity schools.csv --balance basic --district
urban`` (or ``--district township``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["BREAKDOWN_COLUMNS", "resource_breakdown"]

#: Columns of :func:`resource_breakdown`.
BREAKDOWN_COLUMNS = ["grouping", "group", "level", "indicator", "label_en", "label_zh", "mean",
                     "cv", "n_schools"]


def resource_breakdown(schools: pd.DataFrame, *, by: Sequence[str] = ("district", "urban",
                                                                      "township"),
                       standard: str = "basic", level_col: str = "level",
                       enrolment_col: str = "enrolment", standards: Any = None,
                       levels: Sequence[str] | None = None,
                       type_col: str | None = None) -> pd.DataFrame:
    """Every resource indicator of ``standard`` per group of each ``by`` column.

    Parameters
    ----------
    schools
        Schools with a level, enrolment and resource columns (as
        :func:`geoequity.balance.evaluate_balance` reads them) and the grouping columns.
    by
        Grouping columns; those absent are skipped.
    standard, level_col, enrolment_col, standards, levels, type_col
        As :func:`geoequity.balance.evaluate_balance` (``type_col``: special and vocational
        schools and small teaching points are left out, as in the evaluation).

    Returns
    -------
    pandas.DataFrame
        :data:`BREAKDOWN_COLUMNS`: one row per grouping, group, level and indicator; ``mean``
        is enrolment-weighted (the group's total resource over its total enrolment), ``cv`` the
        enrolment-weighted CV across the group's schools.
    """
    from geoequity.balance import evaluate_balance

    parts = []
    for col in by:
        if col not in schools.columns:
            continue
        res = evaluate_balance(schools, standard=standard, level_col=level_col,
                               district_col=col, enrolment_col=enrolment_col,
                               standards=standards, levels=levels, type_col=type_col)
        cv = res.cv_table.rename(columns={"district": "group"}).assign(grouping=col)
        parts.append(cv[[c for c in BREAKDOWN_COLUMNS if c in cv.columns]])
    if not parts:
        return pd.DataFrame(columns=BREAKDOWN_COLUMNS)
    return pd.concat(parts, ignore_index=True)
