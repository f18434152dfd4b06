"""Benchmark: the Gini's pair sums across pieces kept on the workers (issue #14).

``python benchmarks/bench_gini_ranges.py --pieces 100 --cells 20000`` keeps 100 synthetic
pieces on a two-worker LocalCluster and times the pair sums by score ranges
(:meth:`geoequity.distributed.KeptCells.by_ranges`; ``--ranges N`` overrides the rule,
``--warm 1`` runs them once before, so that the shuffle's cold start is not in the figure),
or with ``--old`` one task per pair of pieces as ``gini_cross`` did before (commit c594a5c):
wall time, bytes the workers sent, peak memory (docs/scale.md, "Equity statistics from the
pieces").
"""

import argparse
import resource
import time

import numpy as np
import pandas as pd
from distributed import Client, LocalCluster, wait

from geoequity.distributed import NO_DASHBOARD_PORT, KeptCells
from geoequity.equity import (
    EquityPiece,
    equity_bounds,
    equity_labels,
    equity_piece,
    equity_range,
    equity_split,
    spatial_equity_of,
)

KW = dict(children_col="children", access_col="access", cost_col=None, gap_col=None,
          groups=("district", "urban"))


def make(i, n):
    rng = np.random.default_rng(i)
    return pd.DataFrame({"children": rng.poisson(3.0, n).astype(float),
                         "access": np.round(rng.gamma(2.0, 0.5, n), 3),
                         "district": rng.choice([f"d{i:03d}" for i in range(i, i + 3)], n),
                         "urban": rng.choice(["urban centre", "urban cluster", "rural"], n)})


# the old way, as gini_cross did it (commit c594a5c): per grouping the scores by group
def pairs_sum(ya, wa, yb, wb):
    """sum_{i in a, j in b} w_i w_j |y_i - y_j|, b sorted (equity._pairs_sum)."""
    if ya.size == 0 or yb.size == 0:
        return 0.0
    cw = np.concatenate([[0.0], np.cumsum(wb)])
    cm = np.concatenate([[0.0], np.cumsum(wb * yb)])
    k = np.searchsorted(yb, ya, side="left")
    below = ya * cw[k] - cm[k]
    above = (cm[-1] - cm[k]) - ya * (cw[-1] - cw[k])
    return float(np.sum(wa * (below + above)))


def old_piece(p):
    y, w = p["access"].to_numpy(), p["children"].to_numpy()
    ok = np.isfinite(y) & (y >= 0) & (w > 0)
    out = {"all": {"all": (np.sort(y[ok]), w[ok][np.argsort(y[ok])])}}
    for g in ("district", "urban"):
        d = {}
        for lab, sub in p[ok].groupby(g):
            o = np.argsort(sub["access"].to_numpy())
            d[lab] = (sub["access"].to_numpy()[o], sub["children"].to_numpy()[o])
        out[g] = d
    return out


def old_cross(a, b):
    out = {}
    for name, ga in a.items():
        for lab, (ya, wa) in ga.items():
            if lab in b[name]:
                yb, wb = b[name][lab]
                if ya.size > yb.size:
                    ya, wa, yb, wb = yb, wb, ya, wa
                out[(name, lab)] = pairs_sum(ya, wa, yb, wb)
    return out


def sent(client):
    """Bytes the workers have sent: task results (get_data) and p2p shuffle shards."""
    def one(dask_worker):
        p2p = sum(v for k, v in dask_worker.digests_total.items()
                  if isinstance(k, tuple) and "p2p" in str(k) and "bytes" in str(k)
                  and "comms" in str(k))
        return dask_worker.transfer_outgoing_bytes_total, p2p
    return {k: v for k, v in client.run(one).items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pieces", type=int, default=100)
    ap.add_argument("--cells", type=int, default=20000)
    ap.add_argument("--ranges", type=int, default=None)
    ap.add_argument("--old", action="store_true")
    ap.add_argument("--warm", type=int, default=0)
    a = ap.parse_args()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, scheduler_kwargs=NO_DASHBOARD_PORT) as cl, \
            Client(cl) as c:
        futs = [c.submit(make, i, a.cells, pure=False) for i in range(a.pieces)]
        wait(futs)
        pieces = KeptCells(c, futs, [f"p{i}" for i in range(a.pieces)])
        full = pieces.each(equity_piece, what="equity", **KW)
        small = pieces.collect(pieces.each_result(EquityPiece.small, full, what="small"))
        before = sent(c)
        t0 = time.perf_counter()
        if a.old:
            old = pieces.each(old_piece, what="old")
            wait(old)
            before = sent(c)
            t0 = time.perf_counter()
            pairs = [(i, j) for i in range(a.pieces) for j in range(i + 1, a.pieces)]
            pieces.pairwise(old_cross, old, pairs, what="gini")
            tasks = len(pairs)
        else:
            bounds = equity_bounds(small, ranges=a.ranges)
            for _ in range(a.warm):
                t1 = time.perf_counter()
                labels = equity_labels(small)
                pieces.by_ranges(equity_split, full, equity_range, len(bounds) + 1,
                                 bounds, labels, what="warm",
                                 meta=equity_split(small[0], bounds, labels))
                print(f"warm-up {time.perf_counter() - t1:.2f} s")
            before = sent(c)
            t0 = time.perf_counter()
            labels = equity_labels(small)
            ranges = pieces.by_ranges(equity_split, full, equity_range, len(bounds) + 1,
                                      bounds, labels, what="gini",
                                      meta=equity_split(small[0], bounds, labels))
            tasks = f"{a.pieces} splits + {len(bounds) + 1} ranges"
            table, _ = spatial_equity_of(small, ranges)
        dt = time.perf_counter() - t0
        after = sent(c)
        moved = [sum(after[w][k] - before[w][k] for w in after) for k in (0, 1)]
        n = a.pieces * a.cells
        print(f"{'old' if a.old else 'new'}: {n} cells in {a.pieces} pieces, {tasks} tasks: "
              f"{dt:.2f} s; bytes sent: results {moved[0] / 1e6:.1f} MB, p2p "
              f"{moved[1] / 1e6:.1f} MB")
        def peak(dask_worker=None):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"peaks MB: client {peak()}, workers {sorted(c.run(peak).values())}")


if __name__ == "__main__":
    main()
