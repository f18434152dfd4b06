"""Composite equalization level per district, with the sensitivity of its ranking to the weights.

A district's level combines several indicators (by default access, seats per child, teachers
per 100 pupils and funding per pupil) into one index, the ranking theses and county reports
draw up. The indicators, their weights, which direction is better and how they are normalised
are in ``geoequity/data/standards.toml``, section ``[composite]`` (edit a copy and pass it as
``standards=`` / ``--standards``):

.. math:: I_d = \\sum_k \\tilde w_k\\, z_{dk}, \\qquad \\tilde w_k = w_k / \\sum_j w_j

with, for ``normalise = "minmax"``, :math:`z_{dk} = (x_{dk} - \\min_d x_{dk}) / (\\max_d x_{dk} -
\\min_d x_{dk})` (1 = the best district, 0 = the worst; :math:`1 - z` when lower is better;
1 for every district when all are equal), or for ``"zscore"`` :math:`z_{dk} = (x_{dk} -
\\bar x_k) / s_k` (population standard deviation; negated when lower is better; 0 when
:math:`s_k = 0`). A district missing an indicator (no schools, no access) gets the worst
normalised value of it. Rank 1 is the highest index; tied indexes share the better rank.

**Sensitivity.** Each weight in turn is multiplied by :math:`1 \\pm \\delta` (``sensitivity``,
default 0.2) and the weights rescaled to sum to 1; the ranks are recomputed for each of these
:math:`2K` weightings. ``rank_min`` / ``rank_max`` give the range each district's rank moves in.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geoequity._errors import input_error
from geoequity._notes import note

__all__ = ["CompositeResult", "composite_index", "composite_spec", "district_indicators",
           "run_indicators"]

_INDICATOR_KEYS = {"key", "column", "weight", "better", "label_en", "label_zh"}
_FUNDING = ("funding", "funding_yuan", "funds", "expenditure", "expenditure_yuan", "经费",
            "经费投入")


@dataclass(frozen=True)
class CompositeResult:
    """Outcome of :func:`composite_index`.

    Attributes
    ----------
    table
        One row per district, best first: ``district``, each indicator's raw value (its
        column), its normalised value (``z_<key>``), ``index``, ``rank``, ``rank_min``,
        ``rank_max``.
    sensitivity
        One row per (indicator, change, district): ``indicator`` (key), ``change`` (e.g.
        -0.2), ``weight`` (that indicator's weight after rescaling), ``index``, ``rank``.
    spec
        The ``[composite]`` section used (weights rescaled to sum to 1).
    notes
        What was assumed (missing values, equal districts).
    """

    table: pd.DataFrame
    sensitivity: pd.DataFrame
    spec: dict[str, Any] = field(repr=False)
    notes: list[str] = field(default_factory=list)


def composite_spec(standards: str | Path | dict[str, Any] | None = None) -> dict[str, Any]:
    """The checked ``[composite]`` section of the standards table (weights sum to 1)."""
    from geoequity.balance import load_standards

    where = str(standards) if isinstance(standards, (str, Path)) else "standards.toml"
    table = standards if isinstance(standards, dict) else load_standards(standards)
    sec = table.get("composite")
    if not isinstance(sec, dict) or not sec.get("indicators"):
        raise input_error(where, "has no [composite] section with [[composite.indicators]]",
                          "copy the [composite] section of geoequity/data/standards.toml")
    method = sec.get("normalise", "minmax")
    if method not in ("minmax", "zscore"):
        raise input_error(where, f"[composite] normalise = {method!r} is unknown",
                          'use "minmax" or "zscore"')
    delta = sec.get("sensitivity", 0.2)
    if not isinstance(delta, (int, float)) or not 0 <= delta < 1:
        raise input_error(where, f"[composite] sensitivity = {delta!r} is not a fraction in "
                          "[0, 1)", "give e.g. 0.2 for +-20 %")
    inds = []
    for i, ind in enumerate(sec["indicators"]):
        unknown = set(ind) - _INDICATOR_KEYS
        if unknown:
            bad = sorted(unknown)[0]
            close = difflib.get_close_matches(bad, sorted(_INDICATOR_KEYS), n=1)
            raise input_error(where, f"[[composite.indicators]] entry {i + 1}: unknown key "
                              f"{bad!r}", f"did you mean {close[0]!r}?" if close else
                              f"known: {', '.join(sorted(_INDICATOR_KEYS))}")
        w = ind.get("weight")
        if "column" not in ind or not isinstance(w, (int, float)) or isinstance(w, bool) \
                or not np.isfinite(w) or w < 0:
            raise input_error(where, f"[[composite.indicators]] entry {i + 1} needs a column and "
                              f"a weight >= 0 (got {w!r})", "give column = ... and weight = 0.25")
        if ind.get("better", "higher") not in ("higher", "lower"):
            raise input_error(where, f"[[composite.indicators]] entry {i + 1}: better = "
                              f"{ind['better']!r}", 'use "higher" or "lower"')
        inds.append({"key": ind.get("key", ind["column"]), "better": "higher", **ind})
    keys = [d["key"] for d in inds]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup is not None:
        raise input_error(where, f"[[composite.indicators]] key {dup!r} repeats",
                          "give every indicator its own key")
    total = sum(d["weight"] for d in inds)
    if total <= 0:
        raise input_error(where, "[composite] weights sum to 0", "give some weight above 0")
    for d in inds:
        d["weight"] = d["weight"] / total
    return {"normalise": method, "sensitivity": float(delta), "indicators": inds}


def _normalise(x: np.ndarray, better: str, method: str) -> np.ndarray:
    ok = np.isfinite(x)
    z = np.full(x.size, np.nan)
    if ok.any():
        v = x[ok] if better == "higher" else -x[ok]
        if method == "minmax":
            lo, hi = v.min(), v.max()
            z[ok] = (v - lo) / (hi - lo) if hi > lo else 1.0
        else:
            sd = v.std()
            z[ok] = (v - v.mean()) / sd if sd > 0 else 0.0
    worst = np.nanmin(z) if ok.any() else 0.0
    return np.where(ok, z, worst)


def _ranks(index: np.ndarray) -> np.ndarray:
    return pd.Series(index).rank(ascending=False, method="min").to_numpy(int)


def composite_index(table: pd.DataFrame, *, standards: Any = None,
                    district_col: str = "district") -> CompositeResult:
    """Composite equalization level of each district and its sensitivity to the weights.

    Parameters
    ----------
    table
        One row per district with ``district_col`` and the columns the ``[composite]``
        indicators name (:func:`district_indicators` makes it from a run's tables). A row
        ``(all)`` (the county total) is left out.
    standards
        An edited copy of the standards table (path or parsed dict); default the shipped one.
    district_col
        The districts' name column.

    Returns
    -------
    CompositeResult
    """
    spec = composite_spec(standards)
    src = str(table.attrs.get("source", "districts"))
    if district_col not in table.columns:
        raise input_error(src, f"has no district column {district_col!r}",
                          f"choose one of: {', '.join(map(str, table.columns))}")
    t = table[table[district_col].astype(str) != "(all)"].reset_index(drop=True)
    if len(t) < 2:
        raise input_error(src, f"has {len(t)} district(s); a ranking needs two or more",
                          "give a table with one row per district")
    notes = []
    zs, raw = {}, {}
    for ind in spec["indicators"]:
        col = ind["column"]
        if col not in t.columns:
            close = difflib.get_close_matches(col, list(map(str, t.columns)), n=1)
            raise input_error(src, f"has no column {col!r} for the composite indicator "
                              f"{ind['key']!r}", f"did you mean {close[0]!r}? (or edit "
                              "[composite] in a copy of standards.toml)" if close else
                              "add it, or edit [composite] in a copy of standards.toml")
        x = pd.to_numeric(t[col], errors="coerce").to_numpy(float)
        if not np.isfinite(x).all():
            missing = t.loc[~np.isfinite(x), district_col].astype(str).tolist()
            notes.append(note("composite_missing", f"{ind['key']}: no value for "
                              f"{', '.join(missing)} (counted as the worst district)",
                              indicator=ind["key"], districts=missing))
        raw[col] = x
        zs[ind["key"]] = _normalise(x, ind["better"], spec["normalise"])
    Z = np.column_stack([zs[d["key"]] for d in spec["indicators"]])
    w = np.array([d["weight"] for d in spec["indicators"]])
    index = Z @ w
    rank = _ranks(index)
    names = t[district_col].astype(str).to_numpy()
    sens_rows = []
    all_ranks = [rank]
    for j, ind in enumerate(spec["indicators"]):
        for change in (-spec["sensitivity"], spec["sensitivity"]):
            wj = w.copy()
            wj[j] *= 1 + change
            wj /= wj.sum()
            idx = Z @ wj
            rk = _ranks(idx)
            all_ranks.append(rk)
            sens_rows += [{"indicator": ind["key"], "change": change, "weight": wj[j],
                           "district": n, "index": float(i), "rank": int(r)}
                          for n, i, r in zip(names, idx, rk)]
    R = np.vstack(all_ranks)
    out = pd.DataFrame({district_col: names})
    for ind in spec["indicators"]:
        out[ind["column"]] = raw[ind["column"]]
    for ind in spec["indicators"]:
        out[f"z_{ind['key']}"] = zs[ind["key"]]
    out["index"] = index
    out["rank"] = rank
    out["rank_min"] = R.min(axis=0)
    out["rank_max"] = R.max(axis=0)
    out = out.sort_values(["rank", district_col], kind="stable").reset_index(drop=True)
    return CompositeResult(table=out, sensitivity=pd.DataFrame(sens_rows), spec=spec,
                           notes=notes)


def _school_column(schools: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    return next((c for c in names if c in schools.columns), None)


def district_indicators(districts: pd.DataFrame, *, equity: pd.DataFrame | None = None,
                        schools: pd.DataFrame | None = None,
                        enrolment_col: str | None = None, teachers_col: str | None = None,
                        funding_col: str | None = None) -> pd.DataFrame:
    """The default composite indicators per district from a run's tables.

    Parameters
    ----------
    districts
        The run's district table (``districts.csv``: ``district``, ``seats_per_child`` ...).
    equity
        The run's equity table (``equity.csv``): its ``district`` rows give ``access_mean``.
    schools
        Schools with ``district`` and enrolment, teachers and funding columns (the names of
        :data:`geoequity.balance.ALIASES`; funding: ``funding``, ``funding_yuan``, ``funds``,
        ``expenditure``, ``经费``), unless named. Adds ``teachers_per_100`` (100 x teachers /
        enrolment) and ``funding_per_pupil`` (funding / enrolment) summed over the district's
        schools.

    Returns
    -------
    pandas.DataFrame
        ``districts`` with ``access_mean``, ``teachers_per_100``, ``funding_per_pupil`` added
        where their inputs exist.
    """
    from geoequity.balance import ALIASES

    out = districts.copy()
    out["district"] = out["district"].astype(str)
    if equity is not None and "access_mean" in equity.columns and "access_mean" not in out:
        d = equity[equity["grouping"] == "district"].set_index("group")["access_mean"]
        d.index = d.index.astype(str)
        out["access_mean"] = out["district"].map(d)
    if schools is not None and "district" in schools.columns:
        enr = enrolment_col or _school_column(schools, ("enrolment", *ALIASES["enrolment"]))
        tea = teachers_col or _school_column(schools, ("teachers", *ALIASES["teachers"]))
        fun = funding_col or _school_column(schools, _FUNDING)
        if enr:
            num = {c: pd.to_numeric(schools[c], errors="coerce") for c in (enr, tea, fun) if c}
            sums = pd.DataFrame(num).groupby(schools["district"].astype(str).to_numpy()).sum()
            pupils = sums[enr].where(sums[enr] > 0)
            if tea:
                out["teachers_per_100"] = out["district"].map(100 * sums[tea] / pupils)
            if fun:
                out["funding_per_pupil"] = out["district"].map(sums[fun] / pupils)
    out.attrs = dict(districts.attrs)
    return out


def run_indicators(folder: str | Path) -> pd.DataFrame:
    """:func:`district_indicators` of a finished run folder (districts, equity, schools CSV)."""
    folder = Path(folder)
    path = folder / "districts.csv"
    if not path.exists():
        raise input_error(folder, "has no districts.csv (a run with [districts] writes it)",
                          "give a run folder with districts, or a table of districts")
    districts = pd.read_csv(path, encoding="utf-8-sig")
    equity = (pd.read_csv(folder / "equity.csv", encoding="utf-8-sig")
              if (folder / "equity.csv").exists() else None)
    schools = (pd.read_csv(folder / "schools.csv", encoding="utf-8-sig", low_memory=False)
               if (folder / "schools.csv").exists() else None)
    out = district_indicators(districts, equity=equity, schools=schools)
    out.attrs["source"] = str(path)
    return out
