# %% [markdown]
# # Lesson 06 -- the Helvetica scenario: mode collapse on 2-D mixtures
#
# **Paper:** Goodfellow et al. (2014), Section 6 (Advantages and
# disadvantages): "D must be synchronized well with G during training (in
# particular, G must not be trained too much without updating D, in order to
# avoid 'the Helvetica scenario' in which G collapses too many values of z
# to the same value of x to have enough diversity to model p_data)". And
# Algorithm 1's k, the number of D steps per G step (the paper used k = 1).
#
# The standard test beds since then (PacGAN, VEEGAN, Unrolled GAN): a ring of
# 8 Gaussians (radius 1, sigma 0.01) and a 5 x 5 grid of 25 Gaussians
# (spacing 2, sigma 0.05). A sample is *high quality* if it lies within
# 3 sigma of its nearest mode; a mode is *captured* if at least one
# high-quality sample is assigned to it (`GaussianMixture.mode_coverage`).
#
# (한국어 요약) 6절(장점과 단점): D는 G와 잘 동기화되어야 합니다. 특히 D를 갱신하지 않은 채 G를 너무 많이 학습시키면, G가 너무 많은 z 값을 같은 x로 보내
# p_data를 표현할 다양성을 잃는 '헬베티카 시나리오'(모드 붕괴)가 일어납니다. 그리고 Algorithm 1의 k, 곧 G 한 단계마다의 D 단계 수(논문은 k = 1).
# 그 뒤 표준이 된 시험대는 8개 가우시안 고리와 25개 가우시안 격자입니다. 가장 가까운 모드에서 3 sigma 안의 표본은 고품질이고, 고품질 표본이 하나라도 있는 모드는
# 포착된 것으로 셉니다.
#
# **What to look at**
# 1. Figure `06_samples.png`: 2,500 samples of G (500 with --quick; dots) on the modes
#    (crosses), for three settings per data set: Algorithm 1 as printed
#    (k = 1, one G step), more D steps (k = 5), and G over-trained (5 G steps
#    per iteration, D not updated in between).
# 2. Figure `06_modes.png`: modes captured and the high-quality fraction,
#    iteration by iteration. Also "modes visited": modes that are the nearest
#    mode of at least 1/(4K) of the samples, however far -- where G's mass goes
#    even when it is not yet sharp enough to count as high quality.
# 3. The printed table. One seed per setting: rerun with `--seed` to see how
#    much a single run varies (published numbers average 5-10 runs).
#
# Time: the default run took 4 min 58 s (2 min 0 s of CPU time) on a 2-core machine beside other jobs
# (load about 7; one BLAS thread, 2026-12-07). (한국어: 기본 실행은 다른 작업이 도는 2코어
# 기계에서 4분 58초, CPU 시간 2분 0초.)
#
# Run: `python lessons/06_helvetica.py [--out DIR] [--quick] [--iterations N]`
# (`--help` lists every option; an option the lesson does not know is an error.)

# %%
import os
import sys
import time

from minigan import lesson_io

parser = lesson_io.parser("06", "the Helvetica scenario (mode collapse)", out="06_helvetica",
                           quick="a short run (seconds)")
parser.add_argument("--iterations", type=int, default=None,
                    help="Algorithm 1 iterations per setting (default 2000; 40 with --quick)")
parser.add_argument("--datasets", default="ring8,grid25", help="comma-separated: ring8, grid25")
args = parser.parse_args()   # first, so that a mistyped option is refused at once

import numpy as np
import matplotlib
if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt

from minigan import backend, presets

os.makedirs(args.out, exist_ok=True)
iterations = args.iterations if args.iterations is not None else (40 if args.quick else 2000)
n_eval = 500 if args.quick else 2500              # the protocol's 2,500 samples
n_points = 4 if args.quick else 10                # evaluations along each run
datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]

# %% [markdown]
# ## 1. The knobs
#
# `GAN.step()` is one iteration of Algorithm 1: k D steps, then one G step.
# Over-training G means more G steps before D is updated again: we call
# `GAN.g_step()` a few more times after each `step()`. Everything else -- the
# networks, the optimisers, the data -- is the preset's (`minigan train ring8`
# / `grid25`).

# %%
SETTINGS = [
    ("Algorithm 1: k = 1, 1 G step", 1, 1),
    ("more D: k = 5, 1 G step", 5, 1),
    ("G over-trained: k = 1, 5 G steps", 1, 5),
]


def visited_modes(mixture, samples):
    """Modes that are the nearest mode of at least 1/(4K) of the samples."""
    x = np.asarray(backend.to_host(samples), dtype=np.float64)
    d = ((x[:, None, :] - mixture.means[None]) ** 2).sum(-1)
    share = np.bincount(d.argmin(axis=1), minlength=len(mixture.means)) / len(x)
    return int((share >= 1.0 / (4 * len(mixture.means))).sum())


def run_setting(dataset, label, k, g_steps, seed):
    run = presets.build(dataset, k=k, seed=seed)
    gan, mixture = run.trainer, run.data
    eval_rng_seed = 10_000 + seed
    at = sorted({max(1, round(iterations * (i + 1) / n_points)) for i in range(n_points)})
    trace = []
    progress = lesson_io.ProgressLines(iterations, f"{dataset} | {label}", lines=4)
    t0 = time.perf_counter()
    for it in range(1, iterations + 1):
        gan.step()                                 # k D steps, 1 G step
        for _ in range(g_steps - 1):               # G over-trained: more G steps, D frozen
            gan.g_step()
        progress.update()
        if it in at:
            samples = gan.sample(n_eval, rng=backend.default_rng(eval_rng_seed))
            cov = mixture.mode_coverage(samples)
            trace.append((it, cov["modes"], cov["high_quality"], visited_modes(mixture, samples)))
    seconds = time.perf_counter() - t0
    samples = backend.to_host(gan.sample(n_eval, rng=backend.default_rng(eval_rng_seed)))
    return dict(mixture=mixture, trace=trace, samples=samples, seconds=seconds,
                final=mixture.mode_coverage(samples))


# %% [markdown]
# ## 2. Train every setting

# %%
results = {}
for dataset in datasets:
    for label, k, g_steps in SETTINGS:
        r = run_setting(dataset, label, k, g_steps, args.seed)
        results[dataset, label] = r
        it, modes, hq, visited = r["trace"][-1]
        print(f"{dataset:7s} | {label:34s} | after {it} iterations: {modes:2d}/{r['final']['of']} modes "
              f"captured, {100 * hq:5.1f}% high quality, {visited:2d} modes visited | {r['seconds']:.1f} s")

# %% [markdown]
# ## 3. Where the samples are

# %%
fig, axes = plt.subplots(len(datasets), len(SETTINGS), figsize=(4.2 * len(SETTINGS), 4.2 * len(datasets)),
                         squeeze=False)
for row, dataset in enumerate(datasets):
    for col, (label, k, g_steps) in enumerate(SETTINGS):
        r = results[dataset, label]
        ax = axes[row, col]
        means = r["mixture"].means
        ax.scatter(r["samples"][:, 0], r["samples"][:, 1], s=2, alpha=0.4, label="G(z)")
        ax.scatter(means[:, 0], means[:, 1], marker="x", c="r", s=40, label="modes")
        span = np.abs(means).max() * 1.6
        ax.set_xlim(-span, span)
        ax.set_ylim(-span, span)
        ax.set_aspect("equal")
        ax.set_title(f"{dataset}: {label}\n{r['final']['modes']}/{r['final']['of']} modes, "
                     f"{100 * r['final']['high_quality']:.1f}% HQ", fontsize=9)
axes[0, 0].legend(fontsize=8, loc="lower left")
fig.tight_layout()
path = os.path.join(args.out, "06_samples.png")
lesson_io.save_figure(fig, path, dpi=100)

# %% [markdown]
# ## 4. Modes over training

# %%
fig, axes = plt.subplots(len(datasets), 2, figsize=(11, 3.6 * len(datasets)), squeeze=False)
for row, dataset in enumerate(datasets):
    for label, k, g_steps in SETTINGS:
        tr = np.array(results[dataset, label]["trace"], dtype=float)
        line, = axes[row, 0].plot(tr[:, 0], tr[:, 1], "o-", ms=3, label=f"{label} (captured)")
        axes[row, 0].plot(tr[:, 0], tr[:, 3], "--", color=line.get_color(), lw=1, label="  visited")
        axes[row, 1].plot(tr[:, 0], 100 * tr[:, 2], "o-", ms=3, label=label)
    K = len(results[dataset, SETTINGS[0][0]]["mixture"].means)
    axes[row, 0].axhline(K, color="k", lw=0.6)
    axes[row, 0].set_ylabel(f"{dataset}: modes (of {K})")
    axes[row, 1].set_ylabel("high-quality samples (%)")
    for ax in axes[row]:
        ax.set_xlabel("iteration")
        ax.legend(fontsize=7)
fig.tight_layout()
path = os.path.join(args.out, "06_modes.png")
lesson_io.save_figure(fig, path, dpi=100)
print(f"figures are in {os.path.abspath(args.out)}")
