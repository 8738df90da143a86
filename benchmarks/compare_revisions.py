"""Time one Algorithm 1 iteration of the paper's MNIST GAN under two versions of
minigan, side by side in one process: a git revision (default ``HEAD``) against
the working tree.

The old version is exported with ``git archive`` into a temporary folder and
imported under another package name (minigan's own imports are relative), so
both run in the same process on the same machine state. Both get the same
model, weights, data and seeds; blocks alternate (old, new, then new, old, ...)
and the ratio reported is the median of the per-round ratios new / old, with
their quartiles and range. ``--textbook`` times a third copy of the working
tree with its fast kernels off (``minigan.fast.enabled(False)``) in the same
rounds, the order rotating among the three.

    OPENBLAS_NUM_THREADS=1 python benchmarks/compare_revisions.py --rev HEAD --rounds 15
"""
from __future__ import annotations

import argparse
import importlib
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rev", default="HEAD", help="git revision to compare against (default HEAD)")
    p.add_argument("--rounds", type=int, default=11)
    p.add_argument("--iters", type=int, default=10, help="timed iterations per block")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--order", choices=("sequential", "simultaneous"), default="sequential")
    p.add_argument("--textbook", action="store_true",
                   help="also time the working tree with minigan.fast.enabled(False)")
    return p.parse_args(argv)


def export(rev, dest):
    """``git archive REV minigan`` unpacked into DEST (importable with PYTHONPATH=DEST)."""
    try:
        blob = subprocess.run(["git", "-C", ROOT, "archive", rev, "minigan"], check=True,
                              capture_output=True).stdout
    except subprocess.CalledProcessError as exc:
        sys.exit(f"{os.path.basename(sys.argv[0])}: git archive {rev!r} failed: {exc.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(dest, filter="data")


def export_old(rev, dest):
    """``git archive REV minigan`` unpacked as DEST/minigan_old."""
    export(rev, dest)
    os.rename(os.path.join(dest, "minigan"), os.path.join(dest, "minigan_old"))


def build(pkg, order, seed=0, m=100):
    """The paper's MNIST GAN (as benchmarks/bench_iteration.py builds it) from package ``pkg``."""
    import numpy as np
    models = importlib.import_module(f"{pkg}.models")
    optim = importlib.import_module(f"{pkg}.optim")
    data = importlib.import_module(f"{pkg}.data")
    try:                                    # the trainer: minigan.train since ca5aaaa, minigan.gan before
        GAN = importlib.import_module(f"{pkg}.train").GAN
    except ImportError:
        GAN = importlib.import_module(f"{pkg}.gan").GAN
    images = np.random.default_rng(seed).random((10000, 784), dtype=np.float32)
    G = models.paper_mnist_generator(models.pixel_mean_logit(images), rng=seed, dtype=np.float32)
    D = models.paper_mnist_discriminator(rng=seed + 1, dropout_seed=seed + 2, dtype=np.float32)
    pick = np.random.default_rng(seed + 3)
    sampler = lambda m, rng: images[pick.integers(0, len(images), m)]    # noqa: E731
    noise = data.uniform_noise(100, -3 ** 0.5, 3 ** 0.5, dtype=np.float32)
    return GAN(G, D, sampler, noise, d_optimizer=optim.SGD(D, 0.1, 0.5),
               g_optimizer=optim.SGD(G, 0.1, 0.5), k=1, m=m, seed=seed + 4, order=order)


def block(gan, iters, warmup):
    for _ in range(warmup):
        gan.step()
    t = time.perf_counter()
    for _ in range(iters):
        gan.step()
    return (time.perf_counter() - t) / iters * 1e3


def main(args):
    sys.path.insert(0, ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        export_old(args.rev, tmp)
        sys.path.insert(0, tmp)
        gans = {"old": build("minigan_old", args.order), "new": build("minigan", args.order)}
        if args.textbook:
            gans["textbook"] = build("minigan", args.order)
        fast = importlib.import_module("minigan.fast") if args.textbook else None
        names = list(gans)
        times = {name: [] for name in names}
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            if (r // len(names)) % 2:
                order = order[::-1]
            for name in order:
                if name == "textbook":
                    with fast.enabled(False):
                        times[name].append(block(gans[name], args.iters, args.warmup))
                else:
                    times[name].append(block(gans[name], args.iters, args.warmup))
    threads = {v: os.environ.get(v, "-") for v in ("OPENBLAS_NUM_THREADS", "MINIGAN_NUM_THREADS")}
    print(f"# minigan {args.rev} vs working tree, {args.order} order, batch 100, float32, "
          f"{args.rounds} rounds x {args.iters} iterations; {threads}; load {os.getloadavg()[0]:.2f}")
    label = {"old": f"old ({args.rev})", "new": "new (working tree)",
             "textbook": "textbook (working tree, fast kernels off)"}
    for name in names:
        print(f"{label[name]}: median {statistics.median(times[name]):.1f} ms/iteration "
              f"(min {min(times[name]):.1f})")
    for name in names[1:]:
        ratios = [a / b for a, b in zip(times[name], times["old"])]
        q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
        print(f"{name} / old: median of per-round ratios {statistics.median(ratios):.3f} "
              f"(quartiles {q1:.3f}-{q3:.3f}, range {min(ratios):.3f}-{max(ratios):.3f})")


if __name__ == "__main__":
    main(parse_args())
