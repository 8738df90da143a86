"""Wall time of ``minigan train`` with default settings under two versions of minigan:
a git revision (``--rev``, the BLAS on every core whatever the work) against the
working tree (the BLAS thread count chosen from the size of the work,
``minigan.threads``), alternately (a, b, then b, a, ...), on a machine as it is or
with one core kept busy (``--busy``: a Python busy loop beside the runs, stopped at
the end).

Two workloads: the toy preset ``ring8`` (2,000 iterations) and a short
``mnist-paper`` run (200 iterations; needs ``--data-dir``). Each command runs in its
own process with OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and MINIGAN_BLAS_THREADS
removed from its environment (the defaults are what is measured). The load average
(/proc/loadavg, 1 minute) is printed before each run.

    python benchmarks/blas_threads.py --rev c957b43 --rounds 3 --data-dir /work/shared/data
    python benchmarks/blas_threads.py --rev c957b43 --rounds 3 --data-dir /work/shared/data --busy

``--products`` times single float32 products instead, on 1 and on every core's threads
(alternating, 7 rounds, the median), at the sizes of the toy presets, lesson 11's
autoencoder and the paper's MNIST model, around ``minigan.threads.LARGE_PRODUCT``:

    python benchmarks/blas_threads.py --products
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from compare_revisions import export  # benchmarks/ is on sys.path when run as a script

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

WORKLOADS = {
    "ring8": ["ring8", "--iterations", "2000"],
    "mnist-paper": ["mnist-paper", "--iterations", "200"],
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rev", help="git revision to compare against (before the change; required but with --products)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--data-dir", default=None, help="folder with mnist/ (without it: ring8 only)")
    p.add_argument("--workloads", nargs="+", choices=tuple(WORKLOADS), default=list(WORKLOADS))
    p.add_argument("--busy", action="store_true", help="keep one core busy with a Python loop meanwhile")
    p.add_argument("--json", default=None, help="also write every time into this file")
    p.add_argument("--products", action="store_true", help="time single products on 1 and on all threads")
    p.add_argument("--pinned", type=int, default=None, metavar="N",
                   help="also time the working tree with MINIGAN_BLAS_THREADS=N in each round")
    return p.parse_args(argv)


def load():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def run(tree, workload, data_dir, out, pinned=None):
    """Seconds of wall time of one ``minigan train`` under ``tree``, and the thread count its
    config.json records (None for a version that records none)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MINIGAN_BLAS_THREADS")}
    env.update(PYTHONPATH=tree, MPLBACKEND="Agg", MINIGAN_BACKEND="numpy")
    if pinned is not None:
        env["MINIGAN_BLAS_THREADS"] = str(pinned)
    cmd = [sys.executable, "-m", "minigan", "train", *WORKLOADS[workload], "--no-figures", "--no-progress",
           "--out", out, "--force"]
    if workload != "ring8":
        cmd += ["--data-dir", data_dir]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=os.path.dirname(out))
    # (cwd: not the working tree, which `python -m` would put before PYTHONPATH)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"blas_threads: {' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    with open(os.path.join(out, "config.json")) as f:
        threads = (json.load(f).get("blas_threads") or {}).get("threads")
    return seconds, threads


PRODUCT_SIZES = [(256, 128, 128), (512, 128, 128), (256, 256, 256), (100, 784, 400), (100, 784, 1200),
                 (100, 1200, 1200)]


def time_products(rounds=7):
    """Median seconds of ``a @ b`` (float32) for each of PRODUCT_SIZES on 1 and on every core's threads."""
    import numpy as np
    import threadpoolctl
    sys.path.insert(0, ROOT)
    from minigan.threads import cores
    n_all = cores()
    controller = threadpoolctl.ThreadpoolController()
    rng = np.random.default_rng(0)
    print(f"load {load():.2f}")
    print(f"| m x k @ k x n | multiply-adds | 1 thread | {n_all} threads | {n_all} / 1 |")
    print("|---|---:|---:|---:|---:|")
    for m, k, n in PRODUCT_SIZES:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        reps = max(5, int(2e8 / (m * k * n)))
        found = {1: [], n_all: []}
        for _ in range(rounds):
            for t in found:
                with controller.limit(limits=t, user_api="blas"):
                    a @ b
                    t0 = time.perf_counter()
                    for _ in range(reps):
                        a @ b
                    found[t].append((time.perf_counter() - t0) / reps)
        one, every = (statistics.median(found[t]) * 1e6 for t in (1, n_all))
        print(f"| {m} x {k} @ {k} x {n} | {m * k * n / 1e6:.1f} M | {one:.0f} us | {every:.0f} us | "
              f"{every / one:.2f} |")
    print(f"load {load():.2f}")


def main(argv=None):
    args = parse_args(argv)
    if args.products:
        return time_products()
    if not args.rev:
        sys.exit("blas_threads: --rev REV is required (the revision to compare against)")
    workloads = [w for w in args.workloads if w == "ring8" or args.data_dir]
    busy = None
    kinds = ("before", "after") + (("pinned",) if args.pinned else ())
    times = {(w, who): [] for w in workloads for who in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        old = os.path.join(tmp, "old")
        export(args.rev, old)
        trees = {"before": old, "after": ROOT, "pinned": ROOT}
        if args.busy:
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            print(f"busy loop: pid {busy.pid}")
            time.sleep(2)
        try:
            for r in range(args.rounds):
                order = kinds if r % 2 == 0 else kinds[::-1]
                for w in workloads:
                    for who in order:
                        la = load()
                        s, n = run(trees[who], w, args.data_dir, os.path.join(tmp, "run"),
                                   args.pinned if who == "pinned" else None)
                        times[w, who].append({"seconds": s, "load": la, "threads": n})
                        print(f"round {r + 1} {w:12s} {who:6s} {s:7.1f} s  BLAS threads "
                              f"{n if n is not None else 'default'}  load {la:.2f}", flush=True)
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    print()
    print("| workload | " + " | ".join(f"{who} (median, each)" for who in kinds) + " | after / before |")
    print("|---|" + "---|" * len(kinds) + "---:|")
    for w in workloads:
        cells, med = [], {}
        for who in kinds:
            t = [x["seconds"] for x in times[w, who]]
            med[who] = statistics.median(t)
            cells.append(f"{med[who]:.1f} s ({', '.join(f'{x:.1f}' for x in t)})")
        print(f"| {w} | " + " | ".join(cells) + f" | {med['after'] / med['before']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{w} {who}": v for (w, who), v in times.items()}, f, indent=1)


if __name__ == "__main__":
    main()
