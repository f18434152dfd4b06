"""The one school-level vocabulary: level names, their Chinese and English labels, combined
schools and the years each level spans.

Every part of geoequity that reads a school's level cell (``read_schools``, ``level_supply``,
``--level``, ``[analysis] level``, the school-resource balance) goes through this module, so a
label means the same thing everywhere.

Levels (Chinese school system, ages inclusive):

============== ====== ===== ==============================================================
level          years  ages  labels understood (any case; ``-``, ``_`` and spaces alike)
============== ====== ===== ==============================================================
kindergarten   3      3-5   kindergarten, kg, preschool, nursery, 幼儿园, 幼稚园, 学前
primary        6      6-11  primary, primary school, elementary, 小学, 1-6, p
junior         3      12-14 junior, junior secondary, junior high, middle (school), lower
                            secondary, 初中, 初级中学, 7-9, j
senior         3      15-17 senior, senior secondary, senior high, high (school), upper
                            secondary, 高中, 高级中学, 普通高中
============== ====== ===== ==============================================================

Combined schools serve several levels: ``combined`` (nine-year, 九年一贯制, 1-9: primary and
junior), ``twelve_year`` (十二年一贯制, 1-12: primary, junior and senior) and
``complete_secondary`` (完全中学, 完中: junior and senior). A cell may also list levels,
separated by ``;`` ``,`` ``、`` ``/`` ``|`` ``+`` (or, when every word is a level, spaces):
``小学;初中`` serves exactly what a nine-year school serves. ``all`` or a blank cell serves every
level. Labels outside the vocabulary are kept (lower-cased) as user-defined levels.
"""

from __future__ import annotations

import re
from functools import lru_cache

from geoequity._errors import input_error

__all__ = ["ALL", "KINDS", "LEVELS", "YEARS", "canonical_label", "level_key", "level_share",
           "parse_levels"]

#: The levels, youngest first.
LEVELS = ("kindergarten", "primary", "junior", "senior")
#: Years (grades) of each level: the seats-per-level rule splits a combined school by them.
YEARS = {"kindergarten": 3, "primary": 6, "junior": 3, "senior": 3}
#: Combined kinds of school and the levels each serves.
KINDS = {
    "combined": frozenset({"primary", "junior"}),                  # nine-year, 九年一贯制
    "twelve_year": frozenset({"primary", "junior", "senior"}),     # 十二年一贯制
    "complete_secondary": frozenset({"junior", "senior"}),         # 完全中学
}
#: Label of a school serving every level (no level given).
ALL = "all"

_LABELS = {
    "kindergarten": ("kindergarten", "kg", "preschool", "pre school", "nursery", "幼儿园",
                     "幼稚园", "学前"),
    "primary": ("primary", "primary school", "elementary", "elementary school", "小学", "1-6",
                "p"),
    "junior": ("junior", "junior secondary", "junior secondary school", "junior high",
               "junior high school", "junior middle school", "middle", "middle school",
               "lower secondary", "初中", "初级中学", "7-9", "j"),
    "senior": ("senior", "senior secondary", "senior secondary school", "senior high",
               "senior high school", "high", "high school", "upper secondary", "高中",
               "高级中学", "普通高中"),
    "combined": ("combined", "nine-year", "nine-year school", "nine year", "九年一贯制",
                 "九年一贯", "九年制", "1-9"),
    "twelve_year": ("twelve-year", "twelve-year school", "十二年一贯制", "十二年一贯",
                    "十二年制", "1-12"),
    "complete_secondary": ("complete secondary", "complete secondary school", "完全中学",
                           "完中"),
    ALL: (ALL, "", "nan", "<na>", "none"),
}
_SEPARATORS = re.compile(r"[;,、/|+；，]")


def _key(text: object) -> str:
    return re.sub(r"[\s_\-]+", " ", str(text).strip().lower()).strip()


_ALIAS = {_key(word): name for name, words in _LABELS.items() for word in words}


def _serves(name: str) -> frozenset[str]:
    return KINDS.get(name, frozenset({name}))


def parse_levels(label: object) -> frozenset[str]:
    """The levels a school's level cell serves.

    Parameters
    ----------
    label
        A level cell: one label (``"小学"``, ``"Primary School"``, ``"九年一贯制"``), several
        (``"小学;初中"``, ``"primary, junior"``), ``"all"``, blank or None.

    Returns
    -------
    frozenset of str
        Level names of :data:`LEVELS` (and user-defined labels, lower-cased, with ``-``, ``_``
        and runs of spaces written as one space);
        ``{"all"}`` for ``all``/blank (every level).
    """
    if label is None or (isinstance(label, float) and label != label):
        return frozenset({ALL})
    return _parse(str(label))


@lru_cache(maxsize=4096)
def _parse(label: str) -> frozenset[str]:
    """:func:`parse_levels` of a text cell (cached: a layer repeats a few labels)."""
    whole = _ALIAS.get(_key(label))
    if whole is not None:
        return _serves(whole)
    out: set[str] = set()
    for part in _SEPARATORS.split(label):
        key = _key(part)
        if not key:
            continue
        if key in _ALIAS:
            out |= _serves(_ALIAS[key])
        elif all(w in _ALIAS for w in key.split(" ")):    # "小学 初中"
            for w in key.split(" "):
                out |= _serves(_ALIAS[w])
        else:
            out.add(key)
    if len(out) > 1:
        out.discard(ALL)
    return frozenset(out) if out else frozenset({ALL})


def canonical_label(label: object) -> str:
    """A level cell written in geoequity's names (what :func:`geoequity.read_schools` stores).

    One level gives its name; the levels of a combined kind give the kind (``"小学;初中"`` ->
    ``"combined"``); other lists are joined by ``;`` youngest first; ``all``/blank give ``all``.
    """
    if label is None or (isinstance(label, float) and label != label):
        return ALL
    return _canonical(str(label))


@lru_cache(maxsize=4096)
def _canonical(label: str) -> str:
    served = _parse(label)
    for kind, levels in KINDS.items():
        if served == levels:
            return kind
    known = [lv for lv in LEVELS if lv in served]
    return ";".join(known + sorted(served.difference(LEVELS)))


def level_key(name: object, *, source: object = "level") -> str:
    """The level a level name means (``"小学"`` -> ``"primary"``, ``"junior_secondary"`` ->
    ``"junior"``).

    Raises
    ------
    geoequity.InputError
        For a name that is not one level of :data:`LEVELS` (a combined kind, ``all`` or an
        unknown word), naming the known levels; ``source`` names the input in the message.
    """
    served = parse_levels(name)
    if len(served) == 1 and next(iter(served)) in LEVELS:
        return next(iter(served))
    raise input_error(source, f"unknown level {name!r}",
                      f"use one of {', '.join(LEVELS)} (or 幼儿园, 小学, 初中, 高中)")


def level_share(served: frozenset[str], level: str) -> float:
    """Share of a school's seats that serve ``level``: the seats-per-level rule.

    A school serving one level (or ``all``) gives it all its seats; a school serving several
    gives each the share of its years (:data:`YEARS`): a nine-year school 6/9 to primary and
    3/9 to junior, a twelve-year school 6/12, 3/12, 3/12, a complete secondary school 3/6 each.
    A school serving a user-defined level among others (years unknown) gives each all its
    seats. A school not serving ``level`` gives 0.

    Parameters
    ----------
    served
        The school's levels (:func:`parse_levels`).
    level
        A level name of :data:`LEVELS` or a user-defined level.
    """
    if ALL in served:
        return 1.0
    if level not in served:
        return 0.0
    if len(served) == 1 or not served <= YEARS.keys():
        return 1.0
    return YEARS[level] / sum(YEARS[lv] for lv in served)
