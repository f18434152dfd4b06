"""The cost table coded once to integer positions: the layer every measure shares.

A cost table (``origin, destination, cost``; any source) names cells and schools by id. Every
measure, the assignment, the catchments, siting and the district evaluation need those ids as
positions in the demand and school layers. :func:`code_pairs` does that once, with the checks
in one place:

* the table must have the columns ``origin``, ``destination``, ``cost``; costs must be numbers
  ``>= 0`` (a missing cost is refused: drop unreachable pairs instead);
* pairs above ``threshold`` (when given) are dropped first, which is cheap;
* rows naming an origin or school that is not in the layers are ignored and counted on stderr
  (a table may cover more than one analysis); when *no* origin (or no school) of the table is
  in the layer, even compared as text (``"7"`` and ``7``), the table is refused with a one-line
  error naming an id of each side: it was made for other layers;
* a pair given twice keeps its lowest cost (counted on stderr).

The result is a frozen :class:`Pairs`: ``origin``/``destination`` positions (``intp``) into its
``origins``/``destinations`` indexes and ``cost`` (``float64``), plus the table's ``attrs``
(e.g. ``attrs["snap"]``). Every function that takes a cost table also takes a ``Pairs``, so a
run codes its table once (:func:`geoequity.pipeline.analyse`) and hands the same object down.
A ``Pairs`` remembers what was derived from it: :meth:`Pairs.within` a threshold and
:meth:`Pairs.nearest` are computed once per object, and the nearest school within a threshold
comes from the unbounded one (the nearest school, when its cost is ``<= threshold``).

A table built by :func:`geoequity.cost_table` from straight lines comes with its coding:
:func:`remember_coding` keeps the positions it was built from, and :func:`code_pairs` takes
them instead of looking every id up again when the table has not changed since (its three
columns are still the arrays it was built with: under pandas' copy-on-write a change to a
table gives it new arrays) and is coded against the same ids.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geoequity._errors import input_error
from geoequity._progress import info

COST_COLUMNS = ("origin", "destination", "cost")

__all__ = ["COST_COLUMNS", "Pairs", "as_pairs", "as_series", "check_costs", "code_pairs",
           "id_index", "id_lut", "id_rank", "join_destinations", "nearest_positions",
           "remember_coding"]


@dataclass(frozen=True, eq=False)
class Pairs:
    """A cost table coded to integer positions (see the module notes).

    Attributes
    ----------
    origin, destination
        Positions (``intp``) of each pair's cell in ``origins`` and school in ``destinations``.
    cost
        Cost of each pair (``float64``, ``>= 0``); one row per pair, no duplicates.
    origins, destinations
        The demand and school ids the positions point into (all of them, reached or not).
    source
        Name used in messages (a file name, ``"costs"``).
    attrs
        The cost table's ``attrs`` (``method``, ``unit``, ``snap`` ...).
    """

    origin: np.ndarray
    destination: np.ndarray
    cost: np.ndarray
    origins: pd.Index
    destinations: pd.Index
    source: str = "costs"
    attrs: dict[str, Any] = field(default_factory=dict, repr=False)
    _derived: dict[Any, Any] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_costs(cls, costs: pd.DataFrame, origins: Any, destinations: Any = None, *,
                   threshold: float | None = None, source: str = "costs") -> Pairs:
        """Code ``costs`` against the ids of ``origins`` and ``destinations``
        (:func:`code_pairs`)."""
        return code_pairs(costs, origins, destinations, threshold=threshold, source=source)

    def __len__(self) -> int:
        return len(self.cost)

    @property
    def n_origins(self) -> int:
        return len(self.origins)

    @property
    def n_destinations(self) -> int:
        return len(self.destinations)

    def within(self, threshold: float | None) -> Pairs:
        """The pairs with ``cost <= threshold`` (this object when all are; computed once)."""
        if threshold is None:
            return self
        t = float(threshold)
        key = ("within", t)
        if key not in self._derived:
            keep = self.cost <= t
            if keep.all():
                sub = self
            else:
                sub = Pairs(self.origin[keep], self.destination[keep], self.cost[keep],
                            self.origins, self.destinations, self.source, self.attrs)
                sub._derived["bounded_by"] = (self, t)
            self._derived[key] = sub
        return self._derived[key]

    def recode(self, origins: Any = None, destinations: Any = None) -> Pairs:
        """The same pairs against other id indexes (this object when they are the same).

        Pairs whose cell or school is not in the new indexes are left out (a selection, not an
        error); ids of the new indexes that the table does not name have no pair.
        """
        o = self.origins if origins is None else _as_index(origins)
        d = self.destinations if destinations is None else _as_index(destinations)
        same_o = o is self.origins or o.equals(self.origins)
        same_d = d is self.destinations or d.equals(self.destinations)
        if same_o and same_d:
            return self
        key = ("recode", id(o), id(d))
        hit = self._derived.get(key)
        if hit is not None and hit[0] is o and hit[1] is d:
            return hit[2]
        oi = self.origin if same_o else _remap(self.origins, o)[self.origin]
        dj = self.destination if same_d else _remap(self.destinations, d)[self.destination]
        keep = (oi >= 0) & (dj >= 0)
        c = self.cost
        if not keep.all():
            oi, dj, c = oi[keep], dj[keep], c[keep]
        out = Pairs(oi, dj, c, o, d, self.source, self.attrs)
        self._derived[key] = (o, d, out)
        return out

    def nearest(self) -> tuple[np.ndarray, np.ndarray]:
        """Per origin: position of the lowest-cost school (-1 when none) and its cost (NaN).

        Ties on cost go to the smallest school id (sort order). Computed once per object; for
        pairs bounded by a threshold it is the unbounded answer where that is within it.
        """
        if "nearest" not in self._derived:
            parent = self._derived.get("bounded_by")
            if parent is not None:
                pos, cost = parent[0].nearest()
                out = ~(cost <= parent[1])
                pos, cost = np.where(out, -1, pos), np.where(out, np.nan, cost)
            else:
                pos, cost = nearest_positions(self)
            self._derived["nearest"] = (pos, cost)
        pos, cost = self._derived["nearest"]
        return pos.copy(), cost.copy()

    def reached(self) -> np.ndarray:
        """Per origin: whether any school is in the pairs."""
        return np.bincount(self.origin, minlength=self.n_origins) > 0

    def to_frame(self) -> pd.DataFrame:
        """The long table ``origin, destination, cost`` with ids (duplicates and unknown ids
        gone), laid out as :func:`geoequity.cost_table` lays it out: the ids keep their
        index's dtype, the table has these pairs' ``attrs``, and it comes with its coding
        (:func:`remember_coding`: coding it again against the same ids is free). The
        ``cost`` column holds the pairs' costs, as the pairs :func:`code_pairs` codes from a
        table hold the table's (no second copy; the kept coding holds the columns, so under
        copy-on-write a change to the table copies them first)."""
        out = pd.DataFrame({"origin": self.origins.take(self.origin),
                            "destination": self.destinations.take(self.destination),
                            "cost": self.cost}, columns=list(COST_COLUMNS), copy=False)
        out.attrs.update(self.attrs)
        remember_coding(out, self.origin, self.destination, self.origins, self.destinations)
        return out


# ----------------------------------------------------------------------------------------------
# validation helpers
# ----------------------------------------------------------------------------------------------

def as_series(values: Any, source: str, what: str) -> pd.Series:
    """Demand/supply as a float Series with a unique index; refuse NaN and negatives.

    A (Geo)DataFrame gives its ``children`` (``source="demand"``) or ``seats``
    (``source="supply"``) column, or its only non-geometry column.
    """
    if isinstance(values, pd.DataFrame):
        cols = [c for c in values.columns if c != "geometry"]
        pick = {"demand": "children", "supply": "seats"}.get(source)
        if pick in values.columns:
            values = values[pick]
        elif len(cols) == 1:
            values = values[cols[0]]
        else:
            raise input_error(source, f"{what} is a table with columns {cols}",
                              f"pass a Series of {what} indexed by id (e.g. df['{pick}'])")
    if not isinstance(values, pd.Series):
        raise input_error(source, f"{what} must be a pandas Series indexed by id",
                          f"pass e.g. gdf['{'children' if source == 'demand' else 'seats'}']")
    if values.index.has_duplicates:
        dup = values.index[values.index.duplicated()].unique()[:5].tolist()
        raise input_error(source, f"duplicate ids {dup}", "make the ids unique")
    try:
        arr = pd.to_numeric(values, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise input_error(source, f"{what} values are not numeric",
                          f"give {what} as numbers") from None
    bad = ~np.isfinite(arr)
    if bad.any():
        ids = values.index[bad][:5].tolist()
        raise input_error(source, f"{int(bad.sum())} missing or infinite {what} (ids {ids})",
                          "fill them (0 for none) or drop those rows")
    if (arr < 0).any():
        ids = values.index[arr < 0][:5].tolist()
        raise input_error(source, f"negative {what} at ids {ids}", "fix those values")
    return pd.Series(arr, index=values.index, name=values.name)


def id_index(ids: Any, source: str = "demand") -> pd.Index:
    """The ids of a Series/DataFrame (its index) or of a list-like; refuse duplicates."""
    idx = ids.index if isinstance(ids, (pd.Series, pd.DataFrame)) else _as_index(ids)
    if idx.has_duplicates:
        dup = idx[idx.duplicated()].unique()[:5].tolist()
        raise input_error(source, f"duplicate ids {dup}", "make the ids unique")
    return idx


def check_costs(costs: Any, source: str = "costs") -> None:
    """Refuse anything but a DataFrame with the columns ``origin, destination, cost``."""
    if not isinstance(costs, pd.DataFrame):
        raise input_error(source, "the cost table must be a pandas DataFrame",
                          "pass a DataFrame with columns origin, destination, cost")
    missing = [c for c in COST_COLUMNS if c not in costs.columns]
    if missing:
        raise input_error(source, f"cost table lacks column(s) {missing} "
                          f"(has {list(costs.columns)[:8]})",
                          "rename them to origin, destination, cost (CLI: --costs-columns)")


def id_rank(idx: pd.Index) -> np.ndarray:
    """Rank of each id in sort order (text order for mixed types): deterministic tie-breaks."""
    try:
        order = np.argsort(np.asarray(idx), kind="stable")
    except TypeError:
        order = np.argsort(np.asarray(idx.astype(str)), kind="stable")
    rank = np.empty(len(idx), dtype=np.intp)
    rank[order] = np.arange(len(idx))
    return rank


def nearest_positions(p: Pairs) -> tuple[np.ndarray, np.ndarray]:
    """Lowest-cost school position per origin (-1 when none) and its cost (NaN when none);
    ties to the smallest school id. Use :meth:`Pairs.nearest`, which computes this once.

    Two linear passes (the lowest cost per origin, then the lowest id rank among the pairs at
    that cost) instead of a sort of every pair."""
    pos = np.full(p.n_origins, -1, dtype=np.intp)
    cost = np.full(p.n_origins, np.nan)
    if len(p.origin):
        best = np.full(p.n_origins, np.inf)
        np.minimum.at(best, p.origin, p.cost)
        tie = p.cost == best[p.origin]
        rank = id_rank(p.destinations)
        none = len(rank)
        first = np.full(p.n_origins, none, dtype=np.intp)
        np.minimum.at(first, p.origin[tie], rank[p.destination[tie]])
        has = first < none
        by_rank = np.empty(none, dtype=np.intp)
        by_rank[rank] = np.arange(none)
        pos[has] = by_rank[first[has]]
        cost[has] = best[has]
    return pos, cost


# ----------------------------------------------------------------------------------------------
# coding
# ----------------------------------------------------------------------------------------------

def as_pairs(costs: pd.DataFrame | Pairs, origins: Any, destinations: Any = None, *,
             threshold: float | None = None, source: str = "costs") -> Pairs:
    """``costs`` as :class:`Pairs` against these ids: coded when it is a table
    (:func:`code_pairs`), recoded and bounded when it already is ``Pairs``."""
    if isinstance(costs, Pairs):
        return costs.recode(origins, destinations).within(threshold)
    return code_pairs(costs, origins, destinations, threshold=threshold, source=source)


def join_destinations(a: Pairs, b: Pairs) -> Pairs:
    """The pairs of ``a`` and of ``b`` (the same origins, other schools) as one :class:`Pairs`.

    ``b``'s schools follow ``a``'s in ``destinations`` (e.g. the new schools of plans,
    :mod:`geoequity.plans`, after the run's); no school may be in both.
    """
    if not (a.origins is b.origins or a.origins.equals(b.origins)):
        b = b.recode(origins=a.origins)
    shared = a.destinations.intersection(b.destinations)
    if len(shared):
        raise input_error(b.source, f"school {shared[0]!r} is in both cost tables",
                          "give the added schools ids of their own")
    return Pairs(np.concatenate([a.origin, b.origin]),
                 np.concatenate([a.destination, b.destination + a.n_destinations]),
                 np.concatenate([a.cost, b.cost]), a.origins, a.destinations.append(b.destinations),
                 a.source, dict(a.attrs))


def code_pairs(costs: pd.DataFrame, origins: Any, destinations: Any = None, *,
               threshold: float | None = None, source: str = "costs") -> Pairs:
    """Validate a long cost table and code it against the demand and school ids.

    Parameters
    ----------
    costs
        Long table ``origin, destination, cost``.
    origins
        Demand ids (an Index, a list-like, or a Series/DataFrame indexed by them).
    destinations
        School ids; default: the destinations of the table, sorted.
    threshold
        Keep only pairs with ``cost <= threshold``.
    source
        Name used in messages.

    Returns
    -------
    Pairs

    Raises
    ------
    geoequity.InputError
        Missing columns, missing or negative costs, or a table none of whose origins (or
        schools) are in the layers.
    """
    check_costs(costs, source)
    o_idx = id_index(origins)
    c = _cost_values(costs, source)
    rows = None
    if threshold is not None:
        within = c <= threshold
        if not within.all():
            rows = np.flatnonzero(within)
            c = c[rows]
    if destinations is None:
        d_idx = pd.Index(pd.unique(costs["destination"])).sort_values()
    else:
        d_idx = id_index(destinations, "supply")
        known = _known_coding(costs, o_idx, d_idx)
        if known is not None:   # built here from these ids, unchanged: no look-up, no duplicate
            # the kept arrays themselves (intp, as built): the table's Pairs share them
            oi, dj = (a.astype(np.intp, copy=False) if rows is None
                      else a[rows].astype(np.intp, copy=False) for a in known)
            return Pairs(oi, dj, c, o_idx, d_idx, source, dict(costs.attrs))
    oi = _matched(o_idx, costs["origin"], rows, source, "origin", "demand")
    dj = _matched(d_idx, costs["destination"], rows, source, "destination", "school")
    if len(oi) and (oi.min() < 0 or dj.min() < 0):
        keep = (oi >= 0) & (dj >= 0)
        info(f"{source}: {len(keep) - int(keep.sum())} cost rows name an origin or school not "
             "in the inputs; ignored")
        oi, dj, c = oi[keep], dj[keep], c[keep]
    oi, dj, c = _lowest_of_duplicates(oi, dj, c, len(o_idx), len(d_idx), source)
    return Pairs(oi, dj, c, o_idx, d_idx, source, dict(costs.attrs))


# ----------------------------------------------------------------------------------------------
# tables that come with their coding
# ----------------------------------------------------------------------------------------------

#: Copy-on-write (always on from pandas 3, an option before): a change to a table's values
#: gives the table a new array while another pandas object still refers to the old one.
_COPY_ON_WRITE = (int(pd.__version__.split(".")[0]) >= 3
                  or bool(getattr(pd.options.mode, "copy_on_write", False) is True))

#: id(table) -> (weak reference to the table, the columns as built, their fingerprints,
#: origin positions, destination positions, origin ids, destination ids)
_CODED: dict[int, tuple] = {}


def remember_coding(table: pd.DataFrame, origin: np.ndarray, destination: np.ndarray,
                    origins: pd.Index, destinations: pd.Index) -> None:
    """Keep the positions a cost table was built from, for :func:`code_pairs`.

    ``table`` must hold exactly ``origins.take(origin)``, ``destinations.take(destination)``
    and a cost per row, with no pair twice (as :func:`geoequity.euclidean_costs` builds it).
    The entry goes with the table. Coding the table again against the same ids then takes
    these positions, as long as its ``origin``, ``destination`` and ``cost`` columns are the
    arrays it was built with: the entry holds those columns (pandas objects), so under
    copy-on-write any change to the table's values, in place or not, gives the table new
    arrays and the table is coded afresh. Without copy-on-write (pandas 2 with the option
    off) nothing is kept.
    """
    if not _COPY_ON_WRITE:
        return
    cols = tuple(table[c] for c in COST_COLUMNS)   # references: a write to the table copies
    prints = tuple(_fingerprint(c) for c in cols)
    if any(p is None for p in prints) or len(origin) != len(table):
        return
    key = id(table)
    _CODED[key] = (weakref.ref(table), cols, prints, origin, destination, origins, destinations)
    weakref.finalize(table, _forget, key)


def _forget(key: int) -> None:
    entry = _CODED.get(key)
    if entry is not None and entry[0]() is None:
        del _CODED[key]


def _fingerprint(col: Any) -> tuple | None:
    """What a column's values are: the address, shape and strides of a numpy column, the
    Arrow array itself of an Arrow-backed one (immutable: a change makes another); None for
    other kinds."""
    if not isinstance(col, pd.Series):
        return None
    arr = col.array
    if hasattr(arr, "__arrow_array__") and not isinstance(arr, pd.arrays.NumpyExtensionArray):
        try:
            chunked = arr.__arrow_array__()
        except Exception:   # pragma: no cover - an extension array that cannot say
            return None
        return ("arrow", col.dtype, chunked)
    values = col.to_numpy(copy=False) if isinstance(col.dtype, np.dtype) else None
    if values is None:
        return None
    face = values.__array_interface__
    return ("numpy", col.dtype, face["data"][0], face["shape"], face["strides"])


def _same_print(a: tuple, b: tuple) -> bool:
    if a[0] != b[0] or a[1] != b[1]:
        return False
    if a[0] == "arrow":
        return a[2] is b[2]
    return a[2:] == b[2:]


def _same_ids(a: pd.Index, b: pd.Index) -> bool:
    return a is b or (a.dtype == b.dtype and a.equals(b))


def _known_coding(costs: pd.DataFrame, o_idx: pd.Index, d_idx: pd.Index
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """The positions :func:`remember_coding` kept for this very table when it is unchanged
    and coded against the same ids; else None."""
    entry = _CODED.get(id(costs))
    if entry is None:
        return None
    ref, _cols, prints, origin, destination, origins, destinations = entry
    if ref() is not costs:
        return None
    for name, kept in zip(COST_COLUMNS, prints, strict=True):
        now = _fingerprint(costs[name]) if name in costs.columns else None
        if now is None or not _same_print(now, kept):
            return None
    if not (_same_ids(o_idx, origins) and _same_ids(d_idx, destinations)):
        return None
    return origin, destination


def id_lut(index_values: np.ndarray) -> tuple[np.ndarray, int] | None:
    """A position lookup table for integer ids spanning a modest range, else ``None``.

    ``lut[id - lo]`` is the id's position (-1 for ids not in the index). Also used by the
    compiled pass (:mod:`geoequity._fca_kernel`) on raw integer columns.
    """
    if len(index_values) == 0:
        return None
    ids = index_values.astype(np.int64, copy=False)
    lo, hi = int(ids.min()), int(ids.max())
    if hi - lo > 8 * len(ids) + 1_000_000:
        return None
    lut = np.full(hi - lo + 1, -1, dtype=np.int64)
    lut[ids - lo] = np.arange(len(ids))
    return lut, lo


def _as_index(ids: Any) -> pd.Index:
    return ids if isinstance(ids, pd.Index) else pd.Index(ids)


def _remap(old: pd.Index, new: pd.Index) -> np.ndarray:
    """Position in ``new`` of each id of ``old`` (-1 when absent)."""
    try:
        return np.asarray(new.get_indexer(old), dtype=np.intp)
    except (TypeError, ValueError):  # mixed dtypes: compare as text
        return np.asarray(pd.Index(new.astype(str)).get_indexer(old.astype(str)), dtype=np.intp)


def _cost_values(costs: pd.DataFrame, source: str) -> np.ndarray:
    col = costs["cost"]
    if col.dtype == np.float64:
        c = col.to_numpy()
    else:
        c = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(c)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise input_error(source, f"{int(bad.sum())} cost values are missing or not numeric "
                          f"(rows {rows})", "drop unreachable pairs instead of leaving them blank")
    if len(c) and c.min() < 0:
        rows = np.flatnonzero(c < 0)[:5].tolist()
        raise input_error(source, f"negative costs at rows {rows}", "costs must be >= 0")
    return c


def _matched(index: pd.Index, values: pd.Series, rows: np.ndarray | None, source: str,
             column: str, layer: str) -> np.ndarray:
    """Positions of the column's ids in ``index``; as text when no id matches as it is;
    refused when none matches either way."""
    pos = _codes(index, values, rows)
    if len(pos) and pos.max() < 0:
        arr = values.to_numpy() if rows is None else values.to_numpy()[rows]
        pos = np.asarray(pd.Index(index.astype(str)).get_indexer(
            pd.Index(arr).astype(str)), dtype=np.intp)
        if pos.max() < 0:
            theirs = arr[0]
            ours = index[0] if len(index) else "(none)"
            raise input_error(source, f"none of the {column} ids in the cost table is a "
                              f"{layer} id (e.g. {theirs!r} vs {ours!r})",
                              "build the table from these layers, or use the same id column")
    return pos


def _codes(index: pd.Index, values: pd.Series, rows: np.ndarray | None = None) -> np.ndarray:
    """Positions of ``values`` (optionally only ``values[rows]``) in ``index``, -1 when absent.

    Integer ids take a lookup-table path (no hashing: one gather per row), categoricals map
    their categories once; anything else goes through ``Index.get_indexer``.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat_pos = _remap(values.cat.categories, index)
        codes = values.cat.codes.to_numpy()
        if rows is not None:
            codes = codes[rows]
        return np.where(codes >= 0, cat_pos[codes], -1).astype(np.intp)
    found = _text_codes(index, values, rows)
    if found is not None:
        return found
    arr = values.to_numpy()
    if rows is not None:
        arr = arr[rows]
    if (len(index) and np.issubdtype(arr.dtype, np.integer)
            and pd.api.types.is_integer_dtype(index.dtype)):
        found = id_lut(index.to_numpy())
        if found is not None:
            lut, lo = found
            span = len(lut) - 1
            shifted = arr.astype(np.int64, copy=False)
            if lo:
                shifted = shifted - lo
            if len(shifted) == 0 or (shifted.min() >= 0 and shifted.max() <= span):
                if lo == 0 and len(lut) == len(index) and (lut == np.arange(len(lut))).all():
                    return shifted.astype(np.intp, copy=False)  # ids are row numbers
                return lut[shifted]
            inside = (shifted >= 0) & (shifted <= span)
            return np.where(inside, lut[np.clip(shifted, 0, span)], -1)
    try:
        return np.asarray(index.get_indexer(arr), dtype=np.intp)
    except (TypeError, ValueError):  # mixed dtypes (e.g. int ids vs str ids): compare as text
        return np.asarray(pd.Index(index.astype(str)).get_indexer(
            pd.Index(arr).astype(str)), dtype=np.intp)


def _text_codes(index: pd.Index, values: pd.Series, rows: np.ndarray | None
                ) -> np.ndarray | None:
    """Positions of Arrow-backed text ids (pandas' ``str`` columns) in a text ``index`` by
    Arrow's hash lookup, without turning millions of ids into Python strings; None when the
    column or the index is not text (the caller's general path then answers)."""
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return None
    if not len(index) or not pd.api.types.is_string_dtype(index.dtype):
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        keys = pa.array(index.to_numpy(dtype=object), type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):   # not all text after all
        return None
    col = pa.array(values.array)
    if rows is not None:
        col = col.take(pa.array(rows))
    pos = pc.fill_null(pc.index_in(col, value_set=keys), -1)
    return np.asarray(pos.to_numpy(zero_copy_only=False), dtype=np.intp)


def _lowest_of_duplicates(oi: np.ndarray, dj: np.ndarray, c: np.ndarray, n_o: int, n_s: int,
                          source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A pair given more than once keeps its lowest cost (counted on stderr)."""
    if not len(oi):
        return oi, dj, c
    key = oi * np.int64(n_s)
    key += dj
    if not _has_duplicates(key, oi, n_o, n_s):
        return oi, dj, c
    order = np.lexsort((c, key))
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    sel = order[first]
    info(f"{source}: {len(key) - len(sel)} duplicated origin-destination pairs; "
         "keeping the lowest cost of each")
    return oi[sel], dj[sel], c[sel]


_CHUNK_KEYS = 8_000_000   # pair keys checked at once: an int32 scratch array of 32 MB


def _has_duplicates(key: np.ndarray, oi: np.ndarray, n_o: int, n_s: int) -> bool:
    """Whether a pair key ``origin * n_s + destination`` occurs twice, without sorting when
    the pairs come grouped by origin (as every cost table geoequity builds does).

    Each slice of origins gets a scratch array over its keys; writing every row's number
    at its key and reading it back gives a later row wherever a key repeats."""
    if len(key) > 1 and not (oi[1:] >= oi[:-1]).all():
        s = np.sort(key)
        return bool((s[1:] == s[:-1]).any())
    per = max(1, _CHUNK_KEYS // max(n_s, 1))         # origins per slice
    scratch = np.empty(min(per, max(n_o, 1)) * n_s, dtype=np.int32)
    bounds = np.searchsorted(oi, np.arange(0, n_o + per, per))
    for lo, (a, z) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        if z - a < 2:
            continue
        part = key[a:z] - np.int64(lo * per * n_s)
        rows = np.arange(z - a, dtype=np.int32)
        scratch[part] = rows
        if (scratch[part] != rows).any():
            return True
    return False
