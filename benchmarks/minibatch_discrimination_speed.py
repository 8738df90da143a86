"""Speed and memory of minibatch discrimination (minigan.layers.MinibatchDiscrimination).

    python benchmarks/minibatch_discrimination_speed.py
    python benchmarks/minibatch_discrimination_speed.py --n 100 --n-in 192 --kernels 100 --kernel-dim 5

One forward and one backward (dL/dx, dL/dT, dL/dbias) of the layer at the released
CIFAR code's size -- 100 kernels of dimension 5 on a batch of 100 rows -- timed
interleaved with a Linear of the same input and output widths (n_in -> n_in +
kernels, the layer's own output width), so that the ratio says what the N x N
comparison costs over a dense layer of that shape. Both ways of computing it are
timed in the same loop: the textbook functions, which build the (N, N, B, C)
differences M_ibc - M_jbc as the formula reads, and their fast twins
(minigan/fast/minibatch_discrimination.py), which go through the C axis one
slice at a time. n_in defaults to 192, the CIFAR D's pooled features.

Peak memory of one forward + backward is measured with tracemalloc (NumPy reports
its arrays to it), with the layer's parameters and input already allocated.
The machine's load average is printed before and after: on a shared machine
timings are only comparable at equal load.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minigan import fast  # noqa: E402
from minigan.layers import Linear, MinibatchDiscrimination  # noqa: E402


def forward_backward(layer, x, g):
    layer.zero_grad()
    layer.forward(x)
    return layer.backward(g)


def peak_bytes(fn):
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100, help="rows in the batch (default 100)")
    p.add_argument("--n-in", type=int, default=192, help="input features A (default 192)")
    p.add_argument("--kernels", type=int, default=100, help="B (default 100)")
    p.add_argument("--kernel-dim", type=int, default=5, help="C (default 5)")
    p.add_argument("--repeats", type=int, default=20, help="interleaved rounds (default 20)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = p.parse_args(argv)
    dtype = np.dtype(args.dtype)
    n, A, B, C = args.n, args.n_in, args.kernels, args.kernel_dim
    rng = np.random.default_rng(0)
    mbd = MinibatchDiscrimination(A, B, C, rng=1, dtype=dtype)
    lin = Linear(A, A + B, rng=2, dtype=dtype)
    x = rng.standard_normal((n, A)).astype(dtype)
    g = rng.standard_normal((n, A + B)).astype(dtype)
    print(f"N = {n}, A = {A}, B = {B}, C = {C}, {dtype.name}; machine: "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, NumPy {np.__version__}, "
          f"load average before {os.getloadavg()[0]:.2f}")
    diff_bytes = n * n * B * C * dtype.itemsize
    print(f"the (N, N, B, C) differences: {n * n * B * C:,} numbers, {diff_bytes / 1e6:.1f} MB; "
          f"c (N, N, B): {n * n * B * dtype.itemsize / 1e6:.1f} MB")

    def mbd_with(on):
        def run():
            with fast.enabled(on):
                return forward_backward(mbd, x, g)
        return run

    cases = {"Linear(A, A + B)": lambda: forward_backward(lin, x, g),
             "MinibatchDiscrimination, fast twins": mbd_with(True),
             "MinibatchDiscrimination, textbook": mbd_with(False)}
    with fast.enabled(False):
        want = forward_backward(mbd, x, g)
    with fast.enabled(True):
        got = forward_backward(mbd, x, g)
    print(f"fast vs textbook dL/dx: max |diff| {np.abs(got - want).max():.2e} "
          f"(max |dL/dx| {np.abs(want).max():.2e})")
    for fn in cases.values():            # warm up
        fn()
    times = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, fn in cases.items():   # interleaved: the same load for each
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    base = min(times["Linear(A, A + B)"])
    print(f"\nforward + backward over {args.repeats} interleaved rounds: best, median, and the best "
          "as a multiple of Linear's best (on a loaded machine the best is the stable figure):")
    for name, ts in times.items():
        print(f"  {name:38s} best {min(ts) * 1e3:8.2f} ms  median {statistics.median(ts) * 1e3:8.2f} ms  "
              f"{min(ts) / base:7.1f} x Linear")
    print("\npeak memory allocated during one forward + backward (tracemalloc):")
    for name, fn in cases.items():
        print(f"  {name:38s} {peak_bytes(fn) / 1e6:8.1f} MB")
    print(f"\nload average after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
