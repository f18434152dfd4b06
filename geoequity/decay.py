"""Distance-decay weights for the floating-catchment and gravity measures.

Every decay is a vectorised function ``f(cost: ndarray) -> ndarray`` of weights in ``[0, 1]``
(``power`` may exceed 1 below its minimum cost). Names and parameters follow PySAL ``access``
(``access.weights``) where it has them:

==============  =============================================  ==============================
name            weight of a cost ``d``                         ``param``
==============  =============================================  ==============================
``binary``      ``1``                                          none
``step``        ``w_k`` of the first zone with ``d <= k``;     ``"10:1,20:0.68,30:0.22"`` or
                ``0`` beyond the last zone                     ``{10: 1, 20: 0.68, 30: 0.22}``
``gaussian``    ``exp(-d^2 / (2 S^2))`` (PySAL ``gaussian``)   ``S`` (cost units, required)
``dai``         ``(exp(-d^2/(2 d0^2)) - exp(-1/2)) /           ``d0`` (defaults to the
                (1 - exp(-1/2))`` for ``d <= d0``, else 0      threshold); Dai (2010)
``linear``      ``max(0, 1 - d / d0)``                         ``d0`` (defaults to threshold)
``exponential`` ``exp(-beta d)``                               ``beta`` (per cost unit)
``power``       ``(max(d, d_min) / d_min)^(-beta)``            ``beta`` or ``"beta:d_min"``
                                                               (``d_min`` defaults to 1)
==============  =============================================  ==============================

The threshold always applies as well: a pair with ``cost > threshold`` has no weight at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from geoequity._errors import input_error
from geoequity._options import option

DecayFunction = Callable[[np.ndarray], np.ndarray]
DecayLike = str | DecayFunction | None

DECAY_NAMES = ("binary", "step", "gaussian", "dai", "linear", "exponential", "power")
_ALIASES = {"none": "binary", "uniform": "binary", "truncated_gaussian": "dai",
            "gaussian_dai": "dai", "exp": "exponential", "inverse_power": "power",
            "steps": "step"}


def parse_steps(spec: str | Mapping[float, float]) -> dict[float, float]:
    """Parse step zones ``"10:1,20:0.68,30:0.22"`` (or a mapping) into ``{upper_cost: weight}``.

    A cost ``d`` gets the weight of the first zone whose upper bound ``k`` satisfies ``d <= k``.
    """
    if isinstance(spec, Mapping):
        items = [(float(k), float(v)) for k, v in spec.items()]
    else:
        items = []
        for part in str(spec).replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            if ":" not in part:
                raise input_error(option("decay_param"), f"step zone {part!r} is not COST:WEIGHT",
                                  'write zones like "10:1,20:0.68,30:0.22"')
            k, v = part.split(":", 1)
            try:
                items.append((float(k), float(v)))
            except ValueError:
                raise input_error(option("decay_param"), f"step zone {part!r} is not numeric",
                                  'write zones like "10:1,20:0.68,30:0.22"') from None
    if not items:
        raise input_error(option("decay_param"), "step decay needs at least one zone",
                          'write zones like "10:1,20:0.68,30:0.22"')
    if any(v < 0 for _, v in items):
        raise input_error(option("decay_param"), "step weights must be >= 0", "fix the zone weights")
    return dict(sorted(items))


def _number(name: str, param: Any, what: str) -> float:
    if param is None:
        raise input_error(option("decay_param"), f"decay {name!r} needs {what}",
                          f"give {option('decay_param')} with {what}")
    try:
        value = float(param)
    except (TypeError, ValueError):
        raise input_error(option("decay_param"), f"decay {name!r}: {param!r} is not a number",
                          f"pass {what} as a number") from None
    if not np.isfinite(value):
        raise input_error(option("decay_param"), f"decay {name!r}: {param!r} is not finite",
                          f"pass {what} as a finite number")
    return value


def make_decay(name: DecayLike, param: Any = None, *, threshold: float | None = None
               ) -> DecayFunction:
    """Return the vectorised decay function ``f(cost) -> weight`` called ``name``.

    Parameters
    ----------
    name
        One of :data:`DECAY_NAMES` (case-insensitive; ``None`` means ``binary``), or a callable
        taking a float64 array of costs and returning weights of the same shape.
    param
        The decay's parameter, see the module table. Numbers may be given as strings (CLI).
    threshold
        The catchment threshold in cost units; the default ``d0`` of ``dai`` and ``linear``.

    Returns
    -------
    callable
        ``f(costs: numpy.ndarray) -> numpy.ndarray`` of float64 weights.
    """
    if callable(name):
        user = name

        def wrapped(d: np.ndarray) -> np.ndarray:
            w = np.asarray(user(np.asarray(d, dtype=np.float64)), dtype=np.float64)
            if w.shape != np.shape(d):
                w = np.broadcast_to(w, np.shape(d)).astype(np.float64)
            return w

        return wrapped
    key = "binary" if name is None else str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key == "binary":
        return lambda d: np.ones(np.shape(d), dtype=np.float64)
    if key == "step":
        return _step(param)
    if key == "gaussian":
        s = _number(key, param, "the width S in cost units")
        if not s > 0:
            raise input_error(option("decay_param"), f"gaussian width S = {s:g} is not positive",
                              "pass a positive S (the width in cost units)")
        two_s2 = 2.0 * s * s
        return lambda d: np.exp(-(np.asarray(d, dtype=np.float64) ** 2) / two_s2)
    if key in ("dai", "linear"):
        return _dai_linear(key, param, threshold)
    if key == "exponential":
        beta = _number(key, param, "the rate beta per cost unit")
        _no_growth(key, beta)
        return lambda d: np.exp(-beta * np.asarray(d, dtype=np.float64))
    if key == "power":
        return _power(param)
    raise input_error(option("decay"), f"unknown decay {name!r}",
                      f"use one of {', '.join(DECAY_NAMES)}")


def _step(param: Any) -> DecayFunction:
    if param is None:
        raise input_error(option("decay_param"), "decay 'step' needs zones",
                          'pass --decay-param "10:1,20:0.68,30:0.22"')
    zones = parse_steps(param)
    keys = np.array(list(zones), dtype=np.float64)
    vals = np.append(np.array(list(zones.values()), dtype=np.float64), 0.0)
    return lambda d: vals[np.searchsorted(keys, d, side="left")]


def _dai_linear(key: str, param: Any, threshold: float | None) -> DecayFunction:
    d0 = _number(key, param if param is not None else threshold,
                 "the zero-weight cost d0 (or a threshold)")
    if d0 <= 0:
        raise input_error(option("decay_param"), f"decay {key!r}: d0 must be > 0",
                          "pass a positive d0")
    if key == "linear":
        return lambda d: np.clip(1.0 - np.asarray(d, dtype=np.float64) / d0, 0.0, None)
    e = np.exp(-0.5)

    def dai(d: np.ndarray) -> np.ndarray:
        d = np.asarray(d, dtype=np.float64)
        w = (np.exp(-0.5 * (d / d0) ** 2) - e) / (1.0 - e)
        return np.where(d <= d0, w, 0.0)

    return dai


def _no_growth(key: str, beta: float) -> None:
    """A negative rate or exponent makes far schools weigh more than near ones."""
    if beta < 0:
        raise input_error(option("decay_param"), f"decay {key!r}: beta = {beta:g} is negative, so "
                          "weights would grow with distance", "pass a beta of 0 or more")


def _power(param: Any, key: str = "power") -> DecayFunction:
    if isinstance(param, str) and ":" in param:
        b, m = param.split(":", 1)
        beta, dmin = _number(key, b, "beta"), _number(key, m, "d_min")
    else:
        beta, dmin = _number(key, param, "the exponent beta"), 1.0
    _no_growth(key, beta)
    if dmin <= 0:
        raise input_error(option("decay_param"), "power decay: d_min must be > 0",
                          'pass "beta:d_min" with a positive d_min')
    return lambda d: (np.maximum(np.asarray(d, dtype=np.float64), dmin) / dmin) ** (-beta)


def decay_reach(name: DecayLike, param: Any = None) -> float | None:
    """The largest cost with a non-zero weight, when the decay itself bounds it (else None).

    Used as the threshold when none is given: ``step`` ends at its last zone, ``dai`` and
    ``linear`` at ``d0``.
    """
    if name is None or callable(name):
        return None
    key = _ALIASES.get(str(name).lower(), str(name).lower())
    if key == "step" and param is not None:
        return max(parse_steps(param))
    if key in ("dai", "linear") and param is not None:
        return float(param)
    return None


def method_decay(method: str, decay: DecayLike = None, param: Any = None, *,
                 threshold: float | None = None) -> tuple[DecayLike, Any]:
    """The decay and parameter an accessibility ``method`` uses, checked without any data.

    One rule for :func:`geoequity.accessibility`, the CLI and scenarios (which call it before
    reading anything): ``e2sfca`` defaults to ``dai``, ``gravity`` to ``power`` with beta 1,
    ``2sfca`` takes no decay (binary catchment), ``nearest`` ignores it. The decay is built
    once with :func:`make_decay`, so a missing or bad parameter fails here.

    Returns
    -------
    tuple
        ``(decay, param)`` with the method's defaults filled in.
    """
    m = str(method).lower()
    if m == "2sfca" and decay not in (None, "binary"):
        raise input_error(option("decay"), "2sfca uses a binary catchment",
                          f"use {option('method', 'e2sfca')} for a decay")
    if m == "e2sfca" and decay is None:
        decay = "dai"
    if m == "gravity" and decay is None:
        decay, param = "power", (1.0 if param is None else param)
    if m not in ("nearest", "2sfca") and decay is not None:
        make_decay(decay, param, threshold=threshold)
    return decay, param
