"""Fast heuristics for large instances, each with a proven bound so the gap can be reported.

* p-median: greedy addition, then vertex substitution (Teitz & Bart 1968) with the fast
  swap evaluation of Resende & Werneck (2007, J. Heuristics 13: 47-75); the lower bound is the
  Lagrangian relaxation of the assignment rows (subgradient optimisation, Beasley 1993), whose
  dual equals the LP bound of the strong formulation.
* MCLP: greedy addition plus swaps; upper bound from the Lagrangian relaxation of the
  coverage rows (Galvao & ReVelle 1996).

All loops are vectorised over the sparse pair arrays (``numpy.bincount``), O(pairs) per step.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from geoequity.siting._instance import Instance
from geoequity.siting.models import Solution

_STALL = 5   # subgradient: halve the step after this many steps without improvement


def _first_two(i: np.ndarray, c: np.ndarray, j: np.ndarray, mask: np.ndarray, n: int,
               f: np.ndarray):
    """Per demand: nearest open cost/site and second nearest cost (pairs sorted by i, c)."""
    idx = np.flatnonzero(mask)
    rows = i[idx]
    d1, d2 = f.copy(), f.copy()
    f1 = np.full(n, -1)
    if len(idx) == 0:
        return d1, f1, d2
    start = np.ones(len(idx), bool)
    start[1:] = rows[1:] != rows[:-1]
    s = np.flatnonzero(start)
    d1[rows[s]] = c[idx[s]]
    f1[rows[s]] = j[idx[s]]
    s2 = s + 1
    ok = s2 < len(idx)
    s2 = s2[ok]
    same = rows[s2] == rows[s[ok]]
    s2 = s2[same]
    d2[rows[s2]] = np.minimum(c[idx[s2]], f[rows[s2]])
    return d1, f1, d2


def _swap_search(ci, cj, cc, w, f, is_open, deadline) -> tuple[np.ndarray, int]:
    """Vertex substitution: apply the best swap (Resende & Werneck's fast evaluation of every
    (in, out) pair at once) until none improves or the deadline passes."""
    n, m = len(w), len(is_open)
    wi = w[ci]
    swaps = 0
    while time.perf_counter() < deadline:
        d1, f1, d2 = _first_two(ci, cc, cj, is_open[cj], n, f)
        obj = float(w @ d1)
        gain = np.bincount(cj, weights=wi * np.maximum(0.0, d1[ci] - cc), minlength=m)
        served = f1 >= 0
        loss = np.bincount(f1[served], weights=(w * (d2 - d1))[served], minlength=m)
        closed = ~is_open
        g_c = np.where(closed, gain, -np.inf)
        l_o = np.where(is_open, loss, np.inf)
        best = g_c.max() - l_o.min()
        bj, bl = int(np.argmax(g_c)), int(np.argmin(l_o))
        sel = (f1[ci] >= 0) & (cc < d2[ci]) & closed[cj]
        if sel.any():
            ex = sp.coo_matrix((wi[sel] * (d2[ci[sel]] - np.maximum(cc[sel], d1[ci[sel]])),
                                (cj[sel], f1[ci[sel]])), shape=(m, m)).tocsr()
            ex.sum_duplicates()
            r = np.repeat(np.arange(m), np.diff(ex.indptr))
            val = gain[r] - loss[ex.indices] + ex.data
            if len(val):
                k = int(np.argmax(val))
                if val[k] > best:
                    best, bj, bl = float(val[k]), int(r[k]), int(ex.indices[k])
        if best <= 1e-9 * max(obj, 1.0):
            break
        is_open[bj], is_open[bl] = True, False
        swaps += 1
    return is_open, swaps


def pmedian_swap_values(inst: Instance, is_open: np.ndarray, *, unreached_cost: float):
    """p-median cost after every single swap of ``is_open`` (candidate mask).

    Returns (j_in, l_out, cost) for every closed j and open l: cost = U - gain_j + loss_l -
    extra_jl (Resende & Werneck's swap evaluation, exact for one swap).
    """
    f = inst.fallback_cost(unreached_cost)
    keep = inst.cc < f[inst.ci]
    ci, cj, cc = inst.ci[keep], inst.cj[keep], inst.cc[keep]
    n, m, w = inst.n, inst.m, inst.w
    wi = w[ci]
    d1, f1, d2 = _first_two(ci, cc, cj, is_open[cj], n, f)
    gain = np.bincount(cj, weights=wi * np.maximum(0.0, d1[ci] - cc), minlength=m)
    served = f1 >= 0
    loss = np.bincount(f1[served], weights=(w * (d2 - d1))[served], minlength=m)
    closed, opened = np.flatnonzero(~is_open), np.flatnonzero(is_open)
    col = np.full(m, -1)
    col[opened] = np.arange(len(opened))
    row = np.full(m, -1)
    row[closed] = np.arange(len(closed))
    extra = np.zeros((len(closed), len(opened)))
    sel = (f1[ci] >= 0) & (cc < d2[ci]) & ~is_open[cj]
    np.add.at(extra, (row[cj[sel]], col[f1[ci[sel]]]),
              wi[sel] * (d2[ci[sel]] - np.maximum(cc[sel], d1[ci[sel]])))
    val = float(w @ d1) - gain[closed][:, None] + loss[opened][None, :] - extra
    r, c = np.unravel_index(np.arange(val.size), val.shape)
    return closed[r], opened[c], val.ravel()


def pmedian_heuristic(inst: Instance, p: int, *, unreached_cost: float,
                      time_limit: float = 60.0, bound_iterations: int = 300,
                      initial: np.ndarray | None = None) -> Solution:
    """Greedy + vertex substitution for the p-median; Lagrangian lower bound for the gap.

    Two starts: greedy addition (or ``initial``, candidate positions) and then the p sites
    the best Lagrangian multipliers pick (a Lagrangian heuristic, Beasley 1993), each
    improved by swaps; the bound's subgradient runs after each, the second one warm-started
    and aimed at the better incumbent. On 100,000 x 5,000 the second start is 0.6 % better
    than the greedy one.
    """
    start = time.perf_counter()
    f = inst.fallback_cost(unreached_cost)
    keep = inst.cc < f[inst.ci]
    ci, cj, cc = inst.ci[keep], inst.cj[keep], inst.cc[keep]
    n, m, w = inst.n, inst.m, inst.w
    wi = w[ci]
    is_open = np.zeros(m, bool)
    cur = f.copy()
    order = np.argsort(cj, kind="stable")
    bounds = np.searchsorted(cj[order], np.arange(m + 1))
    if initial is not None:
        is_open[np.asarray(initial, int)] = True
        sel = is_open[cj]
        np.minimum.at(cur, ci[sel], cc[sel])
    for _ in range(min(p, m) - int(is_open.sum())):
        gain = np.bincount(cj, weights=wi * np.maximum(0.0, cur[ci] - cc), minlength=m)
        gain[is_open] = -1.0
        j = int(np.argmax(gain))
        is_open[j] = True
        sel = order[bounds[j]:bounds[j + 1]]
        np.minimum.at(cur, ci[sel], cc[sel])
    is_open, swaps = _swap_search(ci, cj, cc, w, f, is_open, start + time_limit * 0.35)
    d1 = _first_two(ci, cc, cj, is_open[cj], n, f)[0]
    obj = float(w @ d1)
    half = max(bound_iterations // 2, 1)
    lb, lam = _pmedian_lagrangian(ci, cj, cc, w, f, p, m, obj, d1, half,
                                  deadline=start + time_limit * 0.5)
    if lb < obj * (1 - 1e-9) and p < m and time.perf_counter() < start + time_limit * 0.5:
        rho = np.bincount(cj, weights=np.minimum(0.0, w[ci] * (cc - f[ci]) + lam[ci]),
                          minlength=m)
        alt = np.zeros(m, bool)
        alt[np.argpartition(rho, p - 1)[:p]] = True
        alt, more = _swap_search(ci, cj, cc, w, f, alt, start + time_limit * 0.75)
        swaps += more
        d_alt = _first_two(ci, cc, cj, alt[cj], n, f)[0]
        if float(w @ d_alt) < obj:
            is_open, d1, obj = alt, d_alt, float(w @ d_alt)
    lb2, lam2 = _pmedian_lagrangian(ci, cj, cc, w, f, p, m, obj, d1,
                                    max(bound_iterations - half, 1),
                                    deadline=start + time_limit, lam0=lam)
    if lb2 > lb:
        lb, lam = lb2, lam2
    return Solution(np.flatnonzero(is_open), obj, min(lb, obj), "heuristic",
                    extra={"swaps": swaps, "bound": "lagrangian", "lambda": lam})


def pmedian_reduction(inst: Instance, p: int, *, unreached_cost: float, ub: float,
                      lam: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lagrangian variable fixing for the p-median (Beasley 1993).

    With multipliers ``lam`` and the bound L(lam), forcing candidate j open changes the bound
    to L + rho_j - rho_[p] (rho sorted, [p] the p-th smallest); when that exceeds the best
    known objective ``ub`` no better solution opens j, so z_j = 0. Symmetrically z_j = 1 when
    closing a picked j gives L - rho_j + rho_[p+1] > ub. A pair (i, j) is dropped when forcing
    x_ij = 1 raises the bound above ``ub``: L + max(0, rho_j - rho_[p]) + max(0, r_ij) > ub,
    with r_ij = w_i (c_ij - f_i) + lam_i its reduced cost. Returns (allowed, forced,
    pair_keep) where pair_keep indexes the instance's candidate pairs.
    """
    f = inst.fallback_cost(unreached_cost)
    m, w = inst.m, inst.w
    red = w[inst.ci] * (inst.cc - f[inst.ci]) + lam[inst.ci]
    useful = inst.cc < f[inst.ci]
    rho = np.bincount(inst.cj[useful], weights=np.minimum(0.0, red[useful]), minlength=m)
    order = np.argsort(rho, kind="stable")
    L = float(w @ f) - float(lam.sum()) + float(rho[order[:p]].sum())
    tol = 1e-9 * max(abs(ub), 1.0)
    allowed = np.ones(m, bool)
    forced = np.zeros(m, bool)
    open_extra = np.zeros(m)
    if p < m:
        rp, rp1 = rho[order[p - 1]], rho[order[p]]
        open_extra = np.maximum(0.0, rho - rp)
        out = order[p:]
        allowed[out[L + rho[out] - rp > ub + tol]] = False
        inn = order[:p]
        forced[inn[L - rho[inn] + rp1 > ub + tol]] = True
    pair_keep = useful & allowed[inst.cj] & (
        L + open_extra[inst.cj] + np.maximum(0.0, red) <= ub + tol)
    return allowed, forced, pair_keep


def _pmedian_lagrangian(ci, cj, cc, w, f, p, m, ub, d1, iters, *, deadline, lam0=None):
    const = float(w @ f)
    base = w[ci] * (cc - f[ci])
    lam = w * (f - d1) if lam0 is None else lam0
    best = -np.inf
    theta, stall = 2.0, 0
    n = len(w)
    best_lam = lam
    for _ in range(iters):
        red = base + lam[ci]
        neg = np.minimum(0.0, red)
        rho = np.bincount(cj, weights=neg, minlength=m)
        pick = np.argpartition(rho, p - 1)[:p] if p < m else np.arange(m)
        val = const - lam.sum() + rho[pick].sum()
        if val > best + 1e-12 * abs(best if np.isfinite(best) else 1):
            best, stall, best_lam = val, 0, lam
        else:
            stall += 1
            if stall >= _STALL:
                theta, stall = theta / 2, 0
        is_p = np.zeros(m, bool)
        is_p[pick] = True
        x = (red < 0) & is_p[cj]
        g = np.bincount(ci[x], minlength=n) - 1.0
        g[(lam <= 0) & (g < 0)] = 0.0
        norm = float(g @ g)
        if norm == 0 or theta < 1e-4 or (ub - best) <= 1e-6 * abs(ub) or \
                time.perf_counter() > deadline:
            break
        lam = np.maximum(0.0, lam + theta * (ub - val) / norm * g)
    return float(min(best, ub)), best_lam


def mclp_heuristic(inst: Instance, p: int, threshold: float, *, time_limit: float = 60.0,
                   bound_iterations: int = 300) -> Solution:
    """Greedy + swap for the MCLP; Lagrangian upper bound for the gap."""
    start = time.perf_counter()
    pre = np.zeros(inst.n, bool)
    pre[inst.ei[inst.ec <= threshold]] = True
    keep = (inst.cc <= threshold) & ~pre[inst.ci]
    ci, cj = inst.ci[keep], inst.cj[keep]
    n, m, w = inst.n, inst.m, inst.w
    wi = w[ci]
    const = float(w[pre].sum())
    is_open = np.zeros(m, bool)
    for _ in range(min(p, m)):
        cnt = np.bincount(ci[is_open[cj]], minlength=n)
        gain = np.bincount(cj, weights=wi * (cnt[ci] == 0), minlength=m)
        gain[is_open] = -1.0
        is_open[int(np.argmax(gain))] = True
    swaps = 0
    while time.perf_counter() - start < time_limit * 0.6:
        op = is_open[cj]
        cnt = np.bincount(ci[op], minlength=n)
        owner = np.bincount(ci[op], weights=cj[op], minlength=n).astype(int)  # valid if cnt==1
        gain = np.bincount(cj, weights=wi * (cnt[ci] == 0), minlength=m)
        uniq = cnt == 1
        loss = np.bincount(owner[uniq], weights=w[uniq], minlength=m)
        closed = ~is_open
        g_c = np.where(closed, gain, -np.inf)
        l_o = np.where(is_open, loss, np.inf)
        best, bj, bl = g_c.max() - l_o.min(), int(np.argmax(g_c)), int(np.argmin(l_o))
        sel = uniq[ci] & closed[cj]
        if sel.any():
            ex = sp.coo_matrix((wi[sel], (cj[sel], owner[ci[sel]])), shape=(m, m)).tocsr()
            ex.sum_duplicates()
            r = np.repeat(np.arange(m), np.diff(ex.indptr))
            val = gain[r] - loss[ex.indices] + ex.data
            if len(val) and val.max() > best:
                k = int(np.argmax(val))
                best, bj, bl = float(val[k]), int(r[k]), int(ex.indices[k])
        if best <= 1e-9 * max(w.sum(), 1.0):
            break
        is_open[bj], is_open[bl] = True, False
        swaps += 1
    cnt = np.bincount(ci[is_open[cj]], minlength=n)
    covered = (cnt > 0) & ~pre
    obj = const + float(w[covered].sum())
    # Lagrangian upper bound: L(mu) = sum_i max(0, w_i - mu_i) + top-p of sum_i a_ij mu_i
    has = np.zeros(n, bool)
    has[ci] = True
    mu = np.where(covered, w * 0.5, w) * has
    best_ub = np.inf
    theta, stall = 2.0, 0
    for _ in range(bound_iterations):
        y = (w - mu > 0) & has
        col = np.bincount(cj, weights=mu[ci], minlength=m)
        pick = np.argpartition(-col, p - 1)[:p] if p < m else np.arange(m)
        val = const + float(np.maximum(0.0, w - mu)[has].sum()) + float(col[pick].sum())
        if val < best_ub - 1e-12 * val:
            best_ub, stall = val, 0
        else:
            stall += 1
            if stall >= 15:
                theta, stall = theta / 2, 0
        is_p = np.zeros(m, bool)
        is_p[pick] = True
        g = np.bincount(ci[is_p[cj]], minlength=n) - y.astype(float)
        g[~has] = 0.0
        g[(mu <= 0) & (g > 0)] = 0.0
        norm = float(g @ g)
        if norm == 0 or theta < 1e-4 or best_ub - obj <= 1e-6 * obj or \
                time.perf_counter() - start > time_limit:
            break
        mu = np.maximum(0.0, mu - theta * (val - obj) / norm * g)
    return Solution(np.flatnonzero(is_open), obj, float(max(best_ub, obj)), "heuristic",
                    extra={"swaps": swaps, "bound": "lagrangian"})
