"""Where one Algorithm 1 iteration of the paper's MNIST GAN spends its time.

``bench_iteration.py`` says how minigan's iteration compares with PyTorch and
with the "GEMM floor" (the iteration's matrix products replayed back to back).
This script splits minigan's own iteration into parts, so that the gap to the
floor can be read off:

* **products in place**: every matrix product that touches a parameter or a
  gradient array (x W forward, g W^T backward, x^T g into the gradient), timed
  call by call while the iteration runs;
* **gradient adds**: where a second backward adds its x^T g to a weight
  gradient already written (two passes of D), the product goes to a temporary
  and is then added: the add is timed apart;
* **the same products replayed**: the GEMM floor of ``bench_iteration.py``,
  timed in the same rounds (hot caches, preallocated outputs);
* **each layer's own work** (forward and backward minus its products):
  dropout masks, bias adds, maxout's max and routing, ReLU, sigmoid;
* **the updates**: both players' ``SGD.step`` (momentum, sums of squares);
* **the rest**: the losses, sampling minibatches and noise, the history row,
  the finiteness check, Python between the parts.

How: the parameter and gradient arrays are given a thin ``ndarray`` subclass
whose ``__array_ufunc__`` times ``matmul`` (results come back as plain arrays,
so nothing else is slowed down), and each layer's ``forward``/``backward`` and
each optimizer's ``step`` are wrapped with a clock. The wrapping costs a few
microseconds per call (about 60 calls per iteration); the total of the
wrapped iteration is printed beside an unwrapped one of the same rounds.

    python benchmarks/iteration_profile.py --threads 2
    python benchmarks/iteration_profile.py --threads 1 --order simultaneous
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (default: all cores)")
    p.add_argument("--order", choices=("sequential", "simultaneous"), default="sequential")
    p.add_argument("--rounds", type=int, default=7, help="rounds (default 7)")
    p.add_argument("--iters", type=int, default=10, help="timed iterations per round (default 10)")
    p.add_argument("--data-dir", default=os.environ.get("MINIGAN_DATA"),
                   help="MNIST folder (default: $MINIGAN_DATA; synthetic data when unset)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None and ARGS.threads:          # before NumPy loads its BLAS
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_iteration as bench  # noqa: E402

from minigan import backend  # noqa: E402

CLOCK = {"products": 0.0}
ADDS = "gradient adds (a second term into dW)"


def elsewhere():
    """Time already given to products and gradient adds (not a layer's own work)."""
    return CLOCK["products"] + CLOCK.get(ADDS, 0.0)


class Timed(np.ndarray):
    """An ndarray whose matmuls are timed into CLOCK["products"]; results are plain arrays."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        plain = tuple(a.view(np.ndarray) if isinstance(a, Timed) else a for a in inputs)
        if out is not None:
            kwargs["out"] = tuple(a.view(np.ndarray) if isinstance(a, Timed) else a for a in out)
        if ufunc is np.matmul:
            t0 = time.perf_counter()
            result = getattr(ufunc, method)(*plain, **kwargs)
            CLOCK["products"] += time.perf_counter() - t0
        else:
            result = getattr(ufunc, method)(*plain, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return result


def instrument(gan):
    """Timed params and grads; clocks around every layer's forward/backward and both optimizers."""
    for net in (gan.G, gan.D):
        for layer in net.layers:
            for store in (layer.params, layer._grads):
                for k in list(store):
                    store[k] = store[k].view(Timed)
            name = type(layer).__name__
            for method in ("forward", "backward"):
                setattr(layer, method, clocked(getattr(layer, method), f"{name}.{method}", products=True))
            layer._accumulate_product = accumulate_product_timed(layer)
    for opt in (gan.g_opt, gan.d_opt):
        opt.step = clocked(opt.step, "SGD.step", products=False)


def accumulate_product_timed(layer):
    """``Layer._accumulate_product`` with its product and its add timed apart: the add
    (a second term into an array already written) is the price of a second pass."""
    def accumulate(name, a, b):
        grad = layer._grads[name].view(np.ndarray)
        if layer._written(name):
            t0 = time.perf_counter()
            np.matmul(a, b, out=grad)
            CLOCK["products"] += time.perf_counter() - t0
        else:
            t0 = time.perf_counter()
            term = a @ b
            t1 = time.perf_counter()
            grad += term
            t2 = time.perf_counter()
            CLOCK["products"] += t1 - t0
            CLOCK[ADDS] = CLOCK.get(ADDS, 0.0) + t2 - t1
    return accumulate


def clocked(fn, key, products):
    def wrapper(*a, **kw):
        p0, t0 = elsewhere(), time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            inside = elsewhere() - p0 if products else 0.0
            CLOCK[key] = CLOCK.get(key, 0.0) + time.perf_counter() - t0 - inside
    return wrapper


def update_memory_floor(gan):
    """(MB the momentum update streams, GB/s of an in-place add over as many numbers with cold
    caches, ms that streaming takes at that rate): reading g, v, theta and writing v, theta."""
    n = sum(p.size for net in (gan.G, gan.D) for p in net.params.values())
    itemsize = next(iter(gan.G.params.values())).itemsize
    a, b = np.ones(n, np.float32), np.ones(n, np.float32)
    evict = np.empty(64 * 2 ** 20 // 4, np.float32)          # larger than the last-level cache
    times = []
    for _ in range(15):
        evict[:] = 1.0
        t0 = time.perf_counter()
        a += b                                               # reads a and b, writes a
        times.append(time.perf_counter() - t0)
    gbs = 3 * n * 4 / statistics.median(times) / 1e9
    mb = 5 * n * itemsize / 1e6
    return mb, gbs, mb / gbs


def main(args):
    backend.use("numpy")
    images, source = bench.load_images(args.data_dir, seed=args.seed)
    plain = bench.build_minigan(images, 100, args.seed, order=args.order)
    timed = bench.build_minigan(images, 100, args.seed, order=args.order)
    instrument(timed)
    floor = bench.GemmFloor(bench.gemm_plan(plain), np, np.float32)
    for _ in range(3):
        plain.step(), timed.step(), floor.step()
    print(f"date {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs; "
          f"threads {args.threads or os.cpu_count()}; {args.order} order; batch 100 float32; data {source}")
    rows = {"plain iteration": [], "instrumented iteration": [], "GEMM floor (replayed)": []}
    parts = []
    for r in range(args.rounds):
        for name, fn in (("plain iteration", plain.step), ("GEMM floor (replayed)", floor.step)):
            t0 = time.perf_counter()
            for _ in range(args.iters):
                fn()
            rows[name].append((time.perf_counter() - t0) / args.iters * 1e3)
        CLOCK.clear()
        CLOCK["products"] = 0.0
        t0 = time.perf_counter()
        for _ in range(args.iters):
            timed.step()
        total = (time.perf_counter() - t0) / args.iters * 1e3
        rows["instrumented iteration"].append(total)
        part = {k: v / args.iters * 1e3 for k, v in CLOCK.items()}
        part["rest (losses, sampling, history, Python)"] = total - sum(part.values())
        parts.append(part)
    for name, v in rows.items():
        print(f"  {name:<42} median {statistics.median(v):6.2f} ms   rounds " + " ".join(f"{t:.1f}" for t in v))
    print("  the instrumented iteration, part by part (median over rounds, ms per iteration):")
    keys = sorted({k for p in parts for k in p}, key=lambda k: -statistics.median(p.get(k, 0.0) for p in parts))
    floor_ms = statistics.median(rows["GEMM floor (replayed)"])
    for k in keys:
        ms = statistics.median(p.get(k, 0.0) for p in parts)
        label = "products in place" if k == "products" else k
        extra = f"  ({ms / floor_ms:.2f}x the replayed floor)" if k == "products" else ""
        print(f"    {label:<42} {ms:6.2f}{extra}")
    mb, gbs, ms = update_memory_floor(plain)
    print(f"  the update streams {mb:.0f} MB (g, v, theta read; v, theta written); an in-place add with cold "
          f"caches runs at {gbs:.1f} GB/s here: {ms:.1f} ms for the update's traffic alone")
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
