"""What each Improved-GAN technique does to mode collapse on the 2-D mixtures, measured.

    python benchmarks/mode_coverage.py --seeds 0 1 2 3 4 --jobs 2 [--presets ring8 grid25]
                                       [--configs plain feature_matching ...] [--out DIR]
    python benchmarks/mode_coverage.py --cost [--cost-iterations 50 --rounds 7]
                                       [--presets ring8 grid25 mnist-paper --data-dir ../shared/data]

For each preset (``ring8``, ``grid25``), each configuration of ``CONFIGS`` (the plain
GAN, each technique alone, all of them together: preset options of ``minigan train``,
the same networks) and each seed: train the preset for its default iterations, draw
2,500 samples and score them by the literature's protocol
(``GaussianMixture.mode_coverage``: modes captured, the share of high-quality samples
within 3 sigma of their nearest mode, the reverse KL of the mode histogram against
the uniform one). One JSON line per run in ``OUT/runs.jsonl`` as each finishes (a
rerun skips the runs already there, so a killed sweep loses at most the runs under
way), then ``OUT/summary.md``: mean and standard error over the seeds.

``--jobs N`` runs N trainings at once, each in its own process with one BLAS thread
(the toy networks gain nothing from a second thread: issue 20's measurements).

``--cost``: the price of each technique, as seconds per iteration and the ratio to
the plain GAN's, from one process that builds every configuration once and then times
``--cost-iterations`` iterations of each in turn, ``--rounds`` times (interleaved, so
that load changes hit every configuration alike); the best round of each (on a shared
machine another job only ever slows a round down, so the best is the stable figure)
and the median beside it. A benchmark prints what it measured; nothing here is a
timed test.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minigan import backend, presets  # noqa: E402

N_SAMPLES = 2500

# D's last hidden layer after its ReLU (the released code's feature-matching layer): the index in D.layers
# (mnist-paper's: its second maxout layer, before its dropout)
LAST_HIDDEN = {"ring8": 3, "grid25": 5, "mnist-paper": 3}
# minibatch discrimination's kernels x dimension: a few for the 2-D mixtures, the CIFAR code's 100 x 5 on MNIST
KERNELS = {"ring8": "5x3", "grid25": "5x3", "mnist-paper": "100x5"}

# each configuration: the preset options (minigan train PRESET --set KEY=VALUE) beside the plain GAN's;
# "feature_matching": "last hidden" stands for LAST_HIDDEN[preset]. The settings are common ones, not
# tuned here: one-sided smoothing 0.9 (the paper's alpha is not given; 0.9 is the usual), two-sided
# 0.9 / 0.1, historical averaging weight 0.01, 5 kernels of dimension 3 for minibatch discrimination
# (its cost grows with N^2 x kernels x dimension), a reference batch of 64 noise rows for VBN.
# "(released settings)": G as the released minibatch-discrimination script trains it, with the saturating
# loss log(1 - D(G(z))) (g_loss "minimax") and 3 G steps per D step; "plain (released G settings)" is the
# same G training without minibatch discrimination, to tell the layer's effect from theirs.
RELEASED_G = {"g_loss": "minimax", "g_steps": 3}
CONFIGS = {
    "plain": {},
    "feature matching": {"feature_matching": "last hidden"},
    "minibatch discrimination": {"minibatch_discrimination": "kernels"},
    "historical averaging": {"historical_averaging": 0.01},
    "one-sided smoothing": {"real_label": 0.9},
    "virtual batch norm": {"virtual_batch_norm": 64},
    "all five": {"feature_matching": "last hidden", "minibatch_discrimination": "kernels",
                 "historical_averaging": 0.01, "real_label": 0.9, "virtual_batch_norm": 64},
    "two-sided smoothing": {"real_label": 0.9, "fake_label": 0.1},
    "batch norm": {"batch_norm": 1},
    "minibatch discrimination (released settings)": {"minibatch_discrimination": "kernels", **RELEASED_G},
    "plain (released G settings)": dict(RELEASED_G),
}


def options(preset, config):
    """The preset options of ``config`` for ``preset``."""
    per_preset = {"last hidden": LAST_HIDDEN, "kernels": KERNELS}
    return {k: (per_preset[v][preset] if v in per_preset else v) for k, v in CONFIGS[config].items()}


def run_one(preset, config, seed):
    """Train ``preset`` with the configuration's options and ``seed``; score 2,500 samples."""
    opts = options(preset, config)
    t0 = time.perf_counter()
    run = presets.build(preset, seed=seed, **opts)
    run.trainer.train(run.iterations)
    seconds = time.perf_counter() - t0
    samples = backend.to_host(run.trainer.sample(N_SAMPLES, backend.default_rng(10_000 + seed)))
    cov = run.data.mode_coverage(samples)
    return {"preset": preset, "config": config, "seed": seed, "options": opts, "iterations": run.iterations,
            "modes": cov["modes"], "of": cov["of"], "high_quality": cov["high_quality"],
            "reverse_kl": cov["reverse_kl"], "seconds": seconds}


def _run_job(job):
    return run_one(*job)


def mean_se(values):
    v = np.asarray(values, dtype=np.float64)
    se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
    return float(v.mean()), float(se)


def summary(rows, presets_, configs):
    lines = []
    for preset in presets_:
        lines += [f"### {preset}", "",
                  "| configuration | seeds | modes | high quality (%) | reverse KL | seconds per run |",
                  "|---|---:|---:|---:|---:|---:|"]
        for config in configs:
            rs = [r for r in rows if r["preset"] == preset and r["config"] == config]
            if not rs:
                continue
            m, hq, kl, s = (mean_se([r[k] for r in rs]) for k in ("modes", "high_quality", "reverse_kl", "seconds"))
            lines.append(f"| {config} | {len(rs)} | {m[0]:.1f} ± {m[1]:.1f} of {rs[0]['of']} | "
                         f"{100 * hq[0]:.1f} ± {100 * hq[1]:.1f} | {kl[0]:.3f} ± {kl[1]:.3f} | {s[0]:.0f} |")
        lines.append("")
    return "\n".join(lines)


def cost(presets_, configs, iterations, rounds, data_dir=None):
    """Seconds per iteration of each configuration: every run built once, then timed in turn."""
    runs = {}
    for p in presets_:
        for c in configs:
            extra = {"data_dir": data_dir} if p == "mnist-paper" else {}
            runs[(p, c)] = presets.build(p, seed=0, **options(p, c), **extra)
            runs[(p, c)].trainer.train(5)               # warm up (first allocations)
    times = {key: [] for key in runs}
    for r in range(rounds):
        for key, run in runs.items():
            t = time.perf_counter()
            run.trainer.train(iterations)
            times[key].append((time.perf_counter() - t) / iterations)
        print(f"round {r + 1}: " + ", ".join(f"{p}/{c} {1e3 * times[(p, c)][-1]:.2f} ms" for p, c in runs),
              flush=True)
    lines = ["| preset | configuration | ms per iteration, best (median) | ratio to plain, best |",
             "|---|---|---:|---:|"]
    for p in presets_:
        base = min(times[(p, "plain")]) if (p, "plain") in times else None
        for c in configs:
            best, med = min(times[(p, c)]), float(np.median(times[(p, c)]))
            ratio = f"{best / base:.2f}" if base else "-"
            lines.append(f"| {p} | {c} | {1e3 * best:.2f} ({1e3 * med:.2f}) | {ratio} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", nargs="+", default=["ring8", "grid25"])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "runs" / "mode_coverage"))
    ap.add_argument("--cost", action="store_true", help="time each configuration per iteration instead")
    ap.add_argument("--cost-iterations", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--data-dir", default=None, help="folder holding mnist/ (for --cost --presets mnist-paper)")
    args = ap.parse_args(argv)
    stamp = (f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, NumPy {np.__version__}, "
             f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}; "
             f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(stamp, flush=True)
    if args.cost:
        print(cost(args.presets, args.configs, args.cost_iterations, args.rounds, args.data_dir))
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "runs.jsonl"
    done = []
    if path.exists():
        done = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    have = {(r["preset"], r["config"], r["seed"]) for r in done}
    jobs = [(p, c, s) for s in args.seeds for p in args.presets for c in args.configs if (p, c, s) not in have]
    print(f"{len(jobs)} runs to do ({len(have)} already in {path})", flush=True)

    def record(row):
        with path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        done.append(row)
        print(f"{row['preset']:7s} {row['config']:24s} seed {row['seed']}: {row['modes']}/{row['of']} modes, "
              f"{100 * row['high_quality']:.1f}% HQ, KL {row['reverse_kl']:.3f}, {row['seconds']:.0f} s", flush=True)

    if args.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed
        with ProcessPoolExecutor(args.jobs) as ex:
            for fut in as_completed([ex.submit(_run_job, job) for job in jobs]):
                record(fut.result())
    else:
        for job in jobs:
            record(run_one(*job))
    table = summary(done, args.presets, args.configs)
    (out / "summary.md").write_text(f"{stamp}\n\n{table}\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
