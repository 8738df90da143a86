"""Memory of the paper's MNIST GAN over many Algorithm 1 iterations: no growth.

The same workload as bench_iteration.py (k = 1, batch 100, float32, momentum
SGD, synthetic data unless ``--data-dir``). On the CPU, tracemalloc (NumPy
reports its array buffers to it) gives:

* the memory held between iterations, every ``--every`` iterations;
* the peak *during* an iteration above what was held before it (the
  activations, caches and temporaries one iteration needs);
* where any growth came from (file:line), with the trainer's history rows --
  one small dict per iteration, kept by design -- counted apart.

With ``--device cuda`` it reads CuPy's memory pool instead (bytes in use and
bytes held by the pool), and skips with a message where there is no GPU.

    python benchmarks/bench_memory.py                  # 2,000 iterations on the CPU
    python benchmarks/bench_memory.py --iterations 200 --every 50
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_iteration as bench  # noqa: E402  (same model, data and trainer)
from minigan import backend  # noqa: E402

MB = 1 << 20


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--every", type=int, default=250, help="print a line every N iterations")
    p.add_argument("--warmup", type=int, default=20, help="iterations before the baseline is taken")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--data-dir", default=os.environ.get("MINIGAN_DATA"))
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def _minigan_bytes(snapshot):
    """All bytes traced to minigan's code (tracemalloc's own bookkeeping and this
    script's are left out)."""
    snapshot = snapshot.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__),
                                       tracemalloc.Filter(False, __file__)])
    return sum(stat.size for stat in snapshot.statistics("lineno"))


def _history_bytes(gan):
    """Bytes of the trainer's history rows: each row dict and the number objects in it
    (the keys are the same few strings for every row). Counted from the objects
    themselves, wherever in minigan they were allocated."""
    rows = sum(sys.getsizeof(row) + sum(sys.getsizeof(v) for v in row.values()) for row in gan.history)
    return sys.getsizeof(gan.history) + rows             # the list's own array of pointers, too


def run_cpu(args):
    backend.use("numpy")
    images, source = bench.load_images(args.data_dir, seed=args.seed)
    gan = bench.build_minigan(images, args.batch, args.seed)
    print(f"CPU (NumPy), batch {args.batch}, float32, data {source}, {args.iterations} iterations "
          f"after {args.warmup} warm-up iterations; tracemalloc")
    gan.train(args.warmup)
    peaks = bench.np.zeros(args.iterations)     # allocated before tracing: not counted
    tracemalloc.start()
    gan.train(2)                       # allocations made under tracing from here on
    base, base_hist = _minigan_bytes(tracemalloc.take_snapshot()), _history_bytes(gan)
    t0 = time.perf_counter()
    print(f"{'iteration':>9} {'held MB':>9} {'growth MB':>10} {'history rows MB':>16} "
          f"{'peak in one iteration MB (max so far)':>38}")
    for i in range(1, args.iterations + 1):
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        gan.step()
        _, peak = tracemalloc.get_traced_memory()
        peaks[i - 1] = peak - before
        if i % args.every == 0 or i == args.iterations:
            held, hist = _minigan_bytes(tracemalloc.take_snapshot()), _history_bytes(gan)
            print(f"{i:>9} {held / MB:>9.3f} {(held - base) / MB:>10.3f} {(hist - base_hist) / MB:>16.3f} "
                  f"{peaks[:i].max() / MB:>38.2f}")
    end_snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    held, hist = _minigan_bytes(end_snapshot), _history_bytes(gan)
    growth, hist = held - base, hist - base_hist
    params = sum(p.nbytes for net in (gan.G, gan.D) for p in net.params.values())
    print(f"\nparameters (G and D): {params / MB:.2f} MB; grads the same; momentum buffers the same")
    print(f"held by minigan at the baseline: {base / MB:.3f} MB (only what was allocated after tracing "
          "began; the parameters, grads and momentum buffers were allocated before and are not in it)")
    print(f"growth over {args.iterations} iterations: {growth / MB:.3f} MB in all, of which history "
          f"rows {hist / MB:.3f} MB ({hist / args.iterations:.0f} bytes per iteration, kept by design); "
          f"other growth {(growth - hist) / MB:.3f} MB")
    print(f"peak allocated during one iteration above the memory held before it: median "
          f"{bench.np.median(peaks) / MB:.2f} MB, max {peaks.max() / MB:.2f} MB")
    print(f"({(time.perf_counter() - t0) / args.iterations * 1e3:.0f} ms per iteration under tracemalloc)")
    print("\nlargest blocks still held at the end, by line (file:line):")
    ours = end_snapshot.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__),
                                       tracemalloc.Filter(False, __file__)])
    for stat in ours.statistics("lineno")[:6]:
        print(f"  {stat.size / 1024:9.1f} kB  {stat.count:6d} blocks  {stat.traceback[0]}")
    return 0


def run_cuda(args):
    if not backend.cupy_available():
        print("skipped: the GPU memory check needs CuPy and a visible CUDA GPU")
        return 0
    import cupy
    backend.use("cupy")
    pool = cupy.get_default_memory_pool()
    images, source = bench.load_images(args.data_dir, seed=args.seed)
    gan = bench.build_minigan(images, args.batch, args.seed)
    print(f"CUDA (CuPy {cupy.__version__}), batch {args.batch}, data {source}; CuPy memory pool")
    gan.train(args.warmup)
    cupy.cuda.Device().synchronize()
    base_used, base_total = pool.used_bytes(), pool.total_bytes()
    print(f"{'iteration':>9} {'used MB':>9} {'held by pool MB':>16}")
    for i in range(1, args.iterations + 1):
        gan.step()
        if i % args.every == 0 or i == args.iterations:
            cupy.cuda.Device().synchronize()
            print(f"{i:>9} {pool.used_bytes() / MB:>9.2f} {pool.total_bytes() / MB:>16.2f}")
    print(f"growth: used {(pool.used_bytes() - base_used) / MB:+.3f} MB, "
          f"pool {(pool.total_bytes() - base_total) / MB:+.3f} MB over {args.iterations} iterations")
    return 0


def main(argv=None):
    args = parse_args(argv)
    print(f"date {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    return run_cuda(args) if args.device == "cuda" else run_cpu(args)


if __name__ == "__main__":
    sys.exit(main())
