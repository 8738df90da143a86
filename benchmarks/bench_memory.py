"""Memory of the paper's MNIST GAN over many Algorithm 1 iterations: no growth.

The same workload as bench_iteration.py (k = 1, batch 100, float32, momentum
SGD, synthetic data unless ``--data-dir``). On the CPU, tracemalloc (NumPy
reports its array buffers to it) gives:

* the memory held between iterations, every ``--every`` iterations;
* the peak *during* an iteration above what was held before it (the
  activations, caches and temporaries one iteration needs);
* where any growth came from (file:line), with the trainer's history --
  one 64-byte row per iteration in a table that doubles when full, kept by
  design -- counted apart.

With ``--device cuda`` it reads CuPy's memory pool instead (bytes in use and
bytes held by the pool), and skips with a message where there is no GPU.

    python benchmarks/bench_memory.py                  # 2,000 iterations on the CPU
    python benchmarks/bench_memory.py --iterations 200 --every 50
"""
from __future__ import annotations

import argparse
import functools
import inspect
import os
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_iteration as bench  # noqa: E402  (same model, data and trainer)
from minigan import backend  # noqa: E402
from minigan.train import History  # noqa: E402

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


def _history_grow_line():
    """(file, line) where ``History.append`` allocates its larger table."""
    lines, first = inspect.getsourcelines(History.append)
    hits = [first + i for i, text in enumerate(lines) if "np.empty" in text]
    if len(hits) != 1:
        raise RuntimeError("bench_memory: cannot find the line where History.append grows its table")
    return inspect.getsourcefile(History.append), hits[0]


@functools.lru_cache(maxsize=None)
def _filters():
    where, line = _history_grow_line()
    return (tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__),
            tracemalloc.Filter(False, where, lineno=line))


def _minigan_bytes(snapshot):
    """All bytes traced to minigan's code, the history table left out (it is
    reported apart), as are tracemalloc's own bookkeeping and this script's."""
    return sum(stat.size for stat in snapshot.filter_traces(list(_filters())).statistics("lineno"))


def _history_bytes(gan):
    """Bytes of the trainer's history table (``History.nbytes``: its capacity,
    which doubles when full)."""
    return gan.history.nbytes


def _dict_rows_bytes(history):
    """What the same rows take as a list of row dicts: each dict, the number objects
    in it and the list's pointers (the keys are shared strings, not counted)."""
    rows = list(history)
    return sys.getsizeof(rows) + sum(sys.getsizeof(r) + sum(sys.getsizeof(v) for v in r.values())
                                     for r in rows)


def run_cpu(args):
    backend.use("numpy")
    images, source = bench.load_images(args.data_dir, seed=args.seed)
    gan = bench.build_minigan(images, args.batch, args.seed)
    print(f"CPU (NumPy), batch {args.batch}, float32, data {source}, {args.iterations} iterations "
          f"after {args.warmup} warm-up iterations; tracemalloc")
    gan.train(args.warmup)
    peaks = bench.np.zeros(args.iterations)     # allocated before tracing: not counted
    _filters()                                  # (reads source files: done before tracing too)
    tracemalloc.start()
    gan.train(2)                       # allocations made under tracing from here on
    base, base_hist = _minigan_bytes(tracemalloc.take_snapshot()), _history_bytes(gan)
    t0 = time.perf_counter()
    print(f"{'iteration':>9} {'held MB':>9} {'growth MB':>10} {'history MB':>16} "
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
    print(f"growth over {args.iterations} iterations besides the history: {growth / MB:.3f} MB")
    per_row = gan.history.table().nbytes / len(gan.history)
    print(f"history: {len(gan.history)} rows, {per_row:.0f} bytes a row, table capacity "
          f"{gan.history.nbytes / MB:.3f} MB (grew {hist / MB:.3f} MB here; kept by design)")
    as_dicts = _dict_rows_bytes(gan.history) / len(gan.history)
    print(f"the same rows as a list of dicts of Python numbers (minigan's history before 2026-11-23): "
          f"{as_dicts:.0f} bytes a row, {as_dicts / per_row:.1f}x the table")
    print(f"peak allocated during one iteration above the memory held before it: median "
          f"{bench.np.median(peaks) / MB:.2f} MB, max {peaks.max() / MB:.2f} MB")
    print(f"({(time.perf_counter() - t0) / args.iterations * 1e3:.0f} ms per iteration under tracemalloc)")
    print("\nlargest blocks still held at the end, by line (file:line):")
    ours = end_snapshot.filter_traces(list(_filters()))
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
