"""Speed of the sample-quality metrics (minigan.metrics) at ``minigan score``'s size.

    OPENBLAS_NUM_THREADS=2 python benchmarks/metrics_speed.py [--rounds 3] [--n 10000] [--dim 128]

Synthetic features, N(0, I), seeded: a "test set" of n rows and two "sample" sets of
n rows each, all in ``dim`` (128: the MNIST classifier's feature width), and for the
Inception score n class-probability rows (softmax of N(0, 2^2) logits over 10 classes).
Each round times, once each and in this order:

- ``frechet_distance(sample, test)``
- ``inception_score(probabilities)``
- ``precision_recall(test, sample, k=3)``, computing both sets' radii
- ``density_coverage(test, sample, k=5)``, computing the test set's radii
- the metrics of ``minigan score``'s two rows, as it computes them now: the test set's
  k = 3 and 5 radii once (``kth_neighbour_radii(test, (3, 5), squared=True)``), then
  for each row IS, FID, P/R and D/C with those radii passed in
- the same two rows with every metric computing its own radii (as ``minigan score``
  did before the radii were shared: the test set's radii four times)
- the two rows as ``minigan score`` computes them now: the shared radii, and P, R, D and
  C of each row from one pass over the test-vs-sample distances (``neighbour_scores``)

and checks that the three ways give the same numbers, bit for bit. Printed: each figure of
each round, the median over the rounds, the machine (platform, cores, NumPy, the BLAS
thread variables) and the load average before and after -- on a shared machine timings
compare only at equal load. The classifier's forward passes and the sampling are not
included (``minigan score``'s JSON has them: under a second for two rows of 10,000).

A benchmark that prints what it measured; nothing here is a timed test.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minigan.metrics import (density_coverage, frechet_distance, inception_score,  # noqa: E402
                             kth_neighbour_radii, neighbour_scores, precision_recall)
from minigan.metrics.parzen import _default_threads  # noqa: E402


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def row(test, feats, probs, sq_radii=None):
    r3, r5 = sq_radii if sq_radii is not None else (None, None)
    return (inception_score(probs), frechet_distance(feats, test),
            precision_recall(test, feats, k=3, real_sq_radii=r3),
            density_coverage(test, feats, k=5, real_sq_radii=r5))


def score_shared(test, rows):
    sq_radii = kth_neighbour_radii(test, (3, 5), squared=True)
    return [row(test, f, p, sq_radii) for f, p in rows]


def score_unshared(test, rows):
    return [row(test, f, p) for f, p in rows]


def score_one_pass(test, rows):
    sq_radii = kth_neighbour_radii(test, (3, 5), squared=True)
    out = []
    for f, p in rows:
        s = neighbour_scores(test, f, real_sq_radii=sq_radii)
        out.append((inception_score(p), frechet_distance(f, test), (s["precision"], s["recall"]),
                    (s["density"], s["coverage"])))
    return out


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=10000, help="rows of each set (default 10,000)")
    ap.add_argument("--dim", type=int, default=128, help="features (default 128)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    test = rng.standard_normal((args.n, args.dim))
    rows = [(rng.standard_normal((args.n, args.dim)), softmax(2.0 * rng.standard_normal((args.n, 10))))
            for _ in range(2)]
    feats, probs = rows[0]

    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}")
    print("BLAS threads: " + ", ".join(f"{v}={os.environ.get(v, 'unset')}" for v in
                                       ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")) +
          f"; k-NN blocks at once: {_default_threads()} (min(cores, 4))")
    print(f"data: {args.n} x {args.n} rows, {args.dim}-d N(0, I), seed {args.seed}; {args.rounds} rounds")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    names = ["FID", "IS", "precision/recall", "density/coverage",
             "score, 2 rows, shared radii", "score, 2 rows, own radii", "score, 2 rows, one pass"]
    times = {name: [] for name in names}
    for r in range(args.rounds):
        t, fid = timed(frechet_distance, feats, test)
        times["FID"].append(t)
        t, is_ = timed(inception_score, probs)
        times["IS"].append(t)
        t, pr = timed(precision_recall, test, feats, k=3)
        times["precision/recall"].append(t)
        t, dc = timed(density_coverage, test, feats, k=5)
        times["density/coverage"].append(t)
        t, shared = timed(score_shared, test, rows)
        times["score, 2 rows, shared radii"].append(t)
        t, unshared = timed(score_unshared, test, rows)
        times["score, 2 rows, own radii"].append(t)
        t, one_pass = timed(score_one_pass, test, rows)
        times["score, 2 rows, one pass"].append(t)
        if not shared == unshared == one_pass:
            raise SystemExit(f"the ways disagree: {shared} vs {unshared} vs {one_pass}")
        print(f"round {r + 1}: " + ", ".join(f"{name} {times[name][-1]:.2f} s" for name in names), flush=True)
    print(f"values: FID {fid:.4f}, IS {is_[0]:.4f} +- {is_[1]:.4f}, P {pr[0]:.4f}, R {pr[1]:.4f}, "
          f"D {dc[0]:.4f}, C {dc[1]:.4f}; shared radii == own radii == one pass for both rows: True")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("median seconds over the rounds:")
    for name in names:
        print(f"  {name:30s} {np.median(times[name]):7.2f}   (min {min(times[name]):.2f}, "
              f"max {max(times[name]):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
