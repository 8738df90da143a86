"""Speed and float32 accuracy of the Parzen-window protocol (minigan.metrics).

    python benchmarks/parzen_speed.py --data-dir ../shared/data

Times the whole protocol of the GAN paper at full size -- sigma chosen from 10
widths on 1,000 validation images, then 10,000 test images scored, against
10,000 "samples" in 784 dimensions -- with float32 and with float64 GEMMs,
and reports how far the float32 distances move the log-likelihood.

Target: <= 2 s for the protocol on 2 cores; float32 moving the LL by < 0.01 nats.

The "samples" are real training images (the ceiling of Table 1) and, as a
second case closer to a generator's output, the same images blurred and with
noise added. With no data folder, random sparse 784-d vectors stand in
(timings are the same; the LL values are meaningless then).

The machine's load average is printed before and after: on a shared machine
timings are only comparable at equal load.

``--compare-blas ROUNDS`` instead times the float32 protocol (on the blurred
samples) with each worker's GEMM on one BLAS thread (the default,
``minigan.metrics.parzen.WORKER_BLAS_THREADS = 1``) and with the BLAS's own
thread count (``None``, as before), interleaved, and prints the median of the
per-round ratios.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minigan import metrics  # noqa: E402


def load_or_fake(data_dir):
    if data_dir:
        from minigan.data.mnist import load_mnist
        train, _ = load_mnist("train", data_dir=data_dir, download=False)
        valid, _ = load_mnist("valid", data_dir=data_dir, download=False)
        test, _ = load_mnist("test", data_dir=data_dir, download=False)
        return train[:10000], valid[:1000], test, "MNIST"
    rng = np.random.default_rng(0)

    def fake(n):
        return ((rng.random((n, 784)) < 0.19) * rng.random((n, 784))).astype(np.float32)
    return fake(10000), fake(1000), fake(10000), "random sparse vectors (no --data-dir)"


def blur_and_noise(images, seed=0):
    """A stand-in for generator samples: a 3x3 box blur of each image plus N(0, 0.05^2)."""
    rng = np.random.default_rng(seed)
    a = images.reshape(-1, 28, 28)
    p = np.pad(a, ((0, 0), (1, 1), (1, 1)))
    blurred = sum(p[:, i:i + 28, j:j + 28] for i in range(3) for j in range(3)) / 9.0
    out = blurred.reshape(len(images), -1) + rng.normal(0, 0.05, images.shape)
    return np.clip(out, 0, 1).astype(np.float32)


def timed(fn, repeats):
    best, res = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        res = fn()
        best = min(best, time.perf_counter() - t)
    return best, res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=os.environ.get("MINIGAN_DATA"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="worker threads (default: min(cores, 4))")
    p.add_argument("--compare-blas", type=int, default=0, metavar="ROUNDS",
                   help="time one BLAS thread per worker against the BLAS's own count, interleaved")
    args = p.parse_args(argv)
    samples, valid, test, what = load_or_fake(args.data_dir)
    print(f"data: {what}; samples {samples.shape}, valid {valid.shape}, test {test.shape}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"NumPy {np.__version__}, load average before {os.getloadavg()[0]:.2f}")

    def protocol(s, dtype):
        r = metrics.parzen_protocol(s, valid, test, dtype=dtype, threads=args.threads)
        return r.sigma, r.valid_lls, r.ll, r.se

    if args.compare_blas:
        return compare_blas(args, lambda: protocol(blur_and_noise(samples), np.float32))
    cases = [("real training images (ceiling)", samples), ("blurred + noisy images", blur_and_noise(samples))]
    for name, s in cases:
        t32, (sig32, v32, ll32, se32) = timed(lambda: protocol(s, np.float32), args.repeats)
        t64, (sig64, v64, ll64, se64) = timed(lambda: protocol(s, np.float64), 1)
        print(f"\n{name}:")
        print(f"  float32 GEMM: {t32:6.2f} s (best of {args.repeats})  sigma {sig32:.4f}  "
              f"LL {ll32:.4f} +- {se32:.2f}")
        print(f"  float64 GEMM: {t64:6.2f} s                 sigma {sig64:.4f}  LL {ll64:.4f} +- {se64:.2f}")
        print(f"  float32 - float64: test LL {ll32 - ll64:+.2e} nats; validation LLs per sigma, max "
              f"|diff| {np.abs(np.asarray(v32) - np.asarray(v64)).max():.2e} nats "
              f"({'OK' if abs(ll32 - ll64) < 0.01 else 'OVER'} vs 0.01)")
        print(f"  target <= 2 s: float32 protocol took {t32 / 2.0:.2f}x the target")
    print(f"\nload average after {os.getloadavg()[0]:.2f}")
    return 0


def compare_blas(args, run):
    """Interleaved rounds: the protocol with WORKER_BLAS_THREADS 1, then None (order
    alternating); the median per-round ratio one / own."""
    from minigan.metrics import parzen
    times = {1: [], None: []}
    results = {}
    for r in range(args.compare_blas):
        for n in ((1, None) if r % 2 == 0 else (None, 1)):
            parzen.WORKER_BLAS_THREADS = n
            t = time.perf_counter()
            results[n] = run()
            times[n].append(time.perf_counter() - t)
        print(f"round {r + 1}: one BLAS thread per worker {times[1][-1]:.2f} s, "
              f"the BLAS's own count {times[None][-1]:.2f} s, load {os.getloadavg()[0]:.2f}", flush=True)
    parzen.WORKER_BLAS_THREADS = 1
    ratios = [a / b for a, b in zip(times[1], times[None])]
    print(f"medians: one BLAS thread per worker {statistics.median(times[1]):.2f} s, "
          f"the BLAS's own count {statistics.median(times[None]):.2f} s; median per-round ratio "
          f"{statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f}); test LL "
          f"{results[1][2]:.4f} vs {results[None][2]:.4f}")
    print(f"load average after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
