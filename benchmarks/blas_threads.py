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
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

WORKLOADS = {
    "ring8": ["ring8", "--iterations", "2000"],
    "mnist-paper": ["mnist-paper", "--iterations", "200"],
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rev", required=True, help="git revision to compare against (before the change)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--data-dir", default=None, help="folder with mnist/ (without it: ring8 only)")
    p.add_argument("--workloads", nargs="+", choices=tuple(WORKLOADS), default=list(WORKLOADS))
    p.add_argument("--busy", action="store_true", help="keep one core busy with a Python loop meanwhile")
    p.add_argument("--json", default=None, help="also write every time into this file")
    return p.parse_args(argv)


def export(rev, dest):
    """``git archive REV minigan`` unpacked into DEST (importable with PYTHONPATH=DEST)."""
    try:
        blob = subprocess.run(["git", "-C", ROOT, "archive", rev, "minigan"], check=True,
                              capture_output=True).stdout
    except subprocess.CalledProcessError as exc:
        sys.exit(f"blas_threads: git archive {rev!r} failed: {exc.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(dest, filter="data")


def load():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def run(tree, workload, data_dir, out):
    """Seconds of wall time of one ``minigan train`` under ``tree``, and the thread count its
    config.json records (None for a version that records none)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MINIGAN_BLAS_THREADS")}
    env.update(PYTHONPATH=tree, MPLBACKEND="Agg", MINIGAN_BACKEND="numpy")
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


def main(argv=None):
    args = parse_args(argv)
    workloads = [w for w in args.workloads if w == "ring8" or args.data_dir]
    busy = None
    times = {(w, who): [] for w in workloads for who in ("before", "after")}
    with tempfile.TemporaryDirectory() as tmp:
        old = os.path.join(tmp, "old")
        export(args.rev, old)
        trees = {"before": old, "after": ROOT}
        if args.busy:
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            print(f"busy loop: pid {busy.pid}")
            time.sleep(2)
        try:
            for r in range(args.rounds):
                order = ("before", "after") if r % 2 == 0 else ("after", "before")
                for w in workloads:
                    for who in order:
                        la = load()
                        s, n = run(trees[who], w, args.data_dir, os.path.join(tmp, "run"))
                        times[w, who].append({"seconds": s, "load": la, "threads": n})
                        print(f"round {r + 1} {w:12s} {who:6s} {s:7.1f} s  BLAS threads "
                              f"{n if n is not None else 'default'}  load {la:.2f}", flush=True)
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    print()
    print("| workload | before (median, each) | after (median, each) | after / before |")
    print("|---|---|---|---:|")
    for w in workloads:
        b = [t["seconds"] for t in times[w, "before"]]
        a = [t["seconds"] for t in times[w, "after"]]
        print(f"| {w} | {statistics.median(b):.1f} s ({', '.join(f'{x:.1f}' for x in b)}) | "
              f"{statistics.median(a):.1f} s ({', '.join(f'{x:.1f}' for x in a)}) | "
              f"{statistics.median(a) / statistics.median(b):.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{w} {who}": v for (w, who), v in times.items()}, f, indent=1)


if __name__ == "__main__":
    main()
