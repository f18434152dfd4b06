"""Notes: the sentences a result adds to say what it left out or assumed.

A note is an ordinary English ``str`` (what ``BalanceResult.notes`` and the other results
always held), that also carries a ``key`` and the ``values`` it was written from, so the report
can write it in the reader's language (``geoequity.report.TEXT["zh"]["note.<key>"]``) instead
of parsing the English. Results never translate; only the report does.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Note", "note"]


class Note(str):
    """An English sentence with the key and values it was written from."""

    key: str
    values: dict[str, Any]

    def __new__(cls, key: str, text: str, values: dict[str, Any]) -> Note:
        self = super().__new__(cls, text)
        self.key = key
        self.values = values
        return self

    def __reduce__(self):   # results travel to dask workers and back: keep key and values
        return (Note, (self.key, str(self), self.values))


def note(key: str, text: str, **values: Any) -> Note:
    """The note ``text`` (English), written from ``values``, under ``key``."""
    return Note(key, text, values)
