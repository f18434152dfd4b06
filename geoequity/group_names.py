"""The one rule naming what districts are grouped by, in English and Chinese.

A run groups its districts by a column of the districts layer (``[districts] group``,
``--district-group``, ``[outputs] maps_by``): the report's Theil and group tables and the
maps' overview name that grouping with :func:`group_label`, so both say "district type" /
片区类型 for a column ``type``, never the raw column name. Imports nothing of geoequity.
"""

from __future__ import annotations

__all__ = ["GROUP_WORDS", "group_label"]

#: the groupings with words of their own (a column name, lower-cased, or its plural)
GROUP_WORDS: dict[str, dict[str, str]] = {
    "en": {"district": "district", "county": "county", "township": "township",
           "type": "district type", "urban": "urban/rural"},
    "zh": {"district": "片区", "county": "县（区）", "township": "乡镇", "type": "片区类型",
           "urban": "城乡"},
}

_SAME = {"districts": "district", "counties": "county", "towns": "township", "kind": "type"}


def group_label(column: str, lang: str = "en") -> str:
    """What the districts are grouped by, in words: ``column`` (a districts column, or
    ``"districts"``: one group per district) named in ``lang`` (``"en"`` or ``"zh"``).

    Counties, townships, district types (``type``, ``kind``), urban/rural and the districts
    themselves have words of their own (:data:`GROUP_WORDS`: ``"type"`` -> "district type" /
    片区类型, case and surrounding spaces aside); any other column is its name with its
    underscores as spaces (``school_zone`` -> "school zone"). Lower case: a sentence or a
    table cell capitalises it as it needs.
    """
    text = str(column)
    key = text.strip().lower()
    key = _SAME.get(key, key)
    words = GROUP_WORDS.get(lang, GROUP_WORDS["en"])
    if key in words:
        return words[key]
    return text.replace("_", " ").strip() or text
