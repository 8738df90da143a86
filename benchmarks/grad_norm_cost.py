"""What the history's gradient norms cost inside the fused SGD step, and what else could give them.

    OPENBLAS_NUM_THREADS=1 python benchmarks/grad_norm_cost.py --rounds 15

``minigan.fast.sgd.momentum_update_many`` updates the paper's MNIST parameters (G
100-1200-1200-784, D maxout 784-240x5-240x5-1: 3.7 million float32 numbers) chunk by
chunk, and takes sum g^2 (the history's ``d_grad_norm`` / ``g_grad_norm``) and sum
theta^2 (the divergence check) as one dot product per 64k chunk while the chunk is in
the cache. Timed here, interleaved, per update of both players:

* ``as now``: the fused step as it is (g . g once the multiply lr g has brought g into
  the cache, theta . theta after the update);
* ``no sums``: the same update without either dot product (what the sums cost);
* ``g sum first``: g . g before the update, reading g from memory (the step before
  issue 21; the same numbers, bit for bit: only the order of independent operations
  differs);
* ``(lr g) sum``: sum (lr g)^2 / lr^2 from the buffer the update fills anyway (equal to
  float32 rounding, about 1e-7 relative);
* ``einsum``: g . g and theta . theta by ``np.einsum`` (NumPy's own loop, no BLAS).

It prints each variant's median ms per update of both players and the median of its
per-round ratios to ``as now``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minigan.fast import sgd as fast_sgd  # noqa: E402

SHAPES = [(100, 1200), (1200,), (1200, 1200), (1200,), (1200, 784), (784,),     # G
          (784, 1200), (1200,), (240, 1200), (1200,), (240, 1), (1,)]            # D


def _chunks(sums_of):
    """A ``_momentum_chunks`` that takes its sums with ``sums_of(theta, v, g, lr_g, lr, mu) -> (g_sq, theta_sq)``
    around the textbook update (v <- mu v - lr g; theta <- theta + v)."""
    def run(work, lr, mu, buf, flush_below=None):
        sums = {}
        for k, theta, v, g in work:
            lr_g = buf[:len(g)]
            g_sq, theta_sq = sums_of(theta, v, g, lr_g, lr, mu)
            a, b = sums.get(k, (0.0, 0.0))
            sums[k] = (a + g_sq, b + theta_sq)
        return sums
    return run


def _no_sums(theta, v, g, lr_g, lr, mu):
    v *= mu
    np.multiply(g, lr, out=lr_g)
    v -= lr_g
    theta += v
    return 0.0, 0.0


def _g_sum_first(theta, v, g, lr_g, lr, mu):
    g_sq = float(np.dot(g, g))
    v *= mu
    np.multiply(g, lr, out=lr_g)
    v -= lr_g
    theta += v
    return g_sq, float(np.dot(theta, theta))


def _lr_g_sum(theta, v, g, lr_g, lr, mu):
    v *= mu
    np.multiply(g, lr, out=lr_g)
    g_sq = float(np.dot(lr_g, lr_g)) / (lr * lr)
    v -= lr_g
    theta += v
    return g_sq, float(np.dot(theta, theta))


def _einsum(theta, v, g, lr_g, lr, mu):
    g_sq = float(np.einsum("i,i->", g, g))
    v *= mu
    np.multiply(g, lr, out=lr_g)
    v -= lr_g
    theta += v
    return g_sq, float(np.einsum("i,i->", theta, theta))


VARIANTS = {"as now": fast_sgd._momentum_chunks, "no sums": _chunks(_no_sums),
            "g sum first": _chunks(_g_sum_first), "(lr g) sum": _chunks(_lr_g_sum), "einsum": _chunks(_einsum)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--iters", type=int, default=20, help="timed updates per block")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    params = [(str(i), rng.uniform(-0.05, 0.05, s).astype(np.float32), np.zeros(s, np.float32),
               rng.normal(0, 1e-3, s).astype(np.float32)) for i, s in enumerate(SHAPES)]
    lr = 1e-9                                       # the parameters stay where they are over the run
    real = fast_sgd._momentum_chunks
    # the sums agree: every variant against the fused step's own, on copies
    check = {}
    for name, fn in VARIANTS.items():
        fast_sgd._momentum_chunks = fn
        copies = [(k, t.copy(), v.copy(), g) for k, t, v, g in params]
        check[name] = fast_sgd.momentum_update_many(copies, lr, 0.5, threads=1)
    fast_sgd._momentum_chunks = real
    ref = check["as now"]
    for name, sums in check.items():
        if name == "no sums":
            continue
        err = max(abs(sums[k][i] - ref[k][i]) / ref[k][i] for k in ref for i in (0, 1) if ref[k][i])
        print(f"{name}: sums within {err:.1e} (relative) of the fused step's")
    names = list(VARIANTS)
    times = {n: [] for n in names}
    try:
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                fast_sgd._momentum_chunks = VARIANTS[name]
                for _ in range(3):
                    fast_sgd.momentum_update_many(params, lr, 0.5, threads=1)
                t = time.perf_counter()
                for _ in range(args.iters):
                    fast_sgd.momentum_update_many(params, lr, 0.5, threads=1)
                times[name].append((time.perf_counter() - t) / args.iters * 1e3)
    finally:
        fast_sgd._momentum_chunks = real
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "-")
    print(f"# {args.rounds} rounds x {args.iters} updates of both players (3.7M float32 parameters); "
          f"OPENBLAS_NUM_THREADS={blas}; load {os.getloadavg()[0]:.2f}")
    for name in names:
        ratios = [a / b for a, b in zip(times[name], times["as now"])]
        print(f"{name:>12}: median {statistics.median(times[name]):.2f} ms, ratio to 'as now' "
              f"{statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
