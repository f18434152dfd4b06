"""The one school-type vocabulary: ordinary schools, teaching points, special and vocational
schools, in English and Chinese.

Every part of geoequity that reads a school's type cell (``evaluate_balance(type_col=)``,
``school_operations(type_col=)``, ``geoequity equity --type COL``, ``[schools] type``) goes
through :func:`school_type` / :func:`school_types`, so a label means the same thing
everywhere (as :mod:`geoequity.level_names` does for levels).

============== =========================================================================
type           labels understood (any case; ``-``, ``_`` and spaces alike)
============== =========================================================================
regular        regular, ordinary, general, school, 普通学校, 普通, 完全小学, 完小, 中心校,
               中心小学, 初级中学 (and a blank cell)
teaching_point teaching point, 教学点, 村小教学点
special        special, special education, special school, special education school,
               特殊教育学校, 特殊教育, 特教学校, 特校, 培智学校, 聋哑学校, 盲校
vocational     vocational, vocational school, 职业学校, 职业中学, 职中, 职高, 中职, 技工学校
============== =========================================================================

Which types the 2012/2017 evaluations leave out is not decided here but in
``geoequity/data/standards.toml`` (``exclude_types``, ``teaching_point_min_pupils``).
"""

from __future__ import annotations

import re

import pandas as pd

from geoequity._errors import input_error

__all__ = ["TYPES", "school_type", "school_types"]

#: The school types.
TYPES = ("regular", "teaching_point", "special", "vocational")

_LABELS = {
    "regular": ("regular", "ordinary", "general", "school", "regular school", "ordinary school",
                "普通学校", "普通", "完全小学", "完小", "中心校", "中心小学", "初级中学", "",
                "nan", "<na>", "none"),
    "teaching_point": ("teaching point", "teaching_point", "教学点", "村小教学点"),
    "special": ("special", "special education", "special school", "special education school",
                "特殊教育学校", "特殊教育", "特教学校", "特校", "培智学校", "聋哑学校", "盲校"),
    "vocational": ("vocational", "vocational school", "职业学校", "职业中学", "职中", "职高",
                   "中职", "技工学校"),
}


def _key(text: object) -> str:
    return re.sub(r"[\s_\-]+", " ", str(text).strip().lower()).strip()


_ALIAS = {_key(word): name for name, words in _LABELS.items() for word in words}
_HINT = ("use one of regular, teaching_point, special, vocational (or 普通学校, 教学点, "
         "特殊教育学校, 职业学校)")


def school_type(label: object, *, source: object = "type") -> str:
    """The type a school's type cell means (``"教学点"`` -> ``"teaching_point"``).

    Parameters
    ----------
    label
        A type cell; None or blank means ``"regular"``.
    source
        Names the input in the error message.

    Returns
    -------
    str
        One of :data:`TYPES`.

    Raises
    ------
    geoequity.InputError
        For a label outside the vocabulary, naming the known types.
    """
    if label is None or (isinstance(label, float) and label != label):
        return "regular"
    found = _ALIAS.get(_key(label))
    if found is None:
        raise input_error(source, f"unknown school type {label!r}", _HINT)
    return found


def school_types(values: pd.Series, *, source: object = "schools",
                 column: str | None = None) -> pd.Series:
    """:func:`school_type` of every cell of a column, same index.

    Raises
    ------
    geoequity.InputError
        At the first unknown label, naming the file, the row (1 = first data row) and the
        school id: ``FILE: row 3 (school P12): unknown school type 'x' in column 'type'; ...``.
    """
    out = []
    for row, (idx, v) in enumerate(values.items(), start=1):
        try:
            out.append(school_type(v))
        except ValueError:
            where = f" in column {column!r}" if column else ""
            raise input_error(source, f"row {row} (school {idx}): unknown school type "
                              f"{v!r}{where}", _HINT) from None
    return pd.Series(out, index=values.index, dtype=object)
