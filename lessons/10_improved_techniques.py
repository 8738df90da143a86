# %% [markdown]
# # Lesson 10 -- Improved Techniques for Training GANs: the five techniques
#
# **Paper:** Salimans, Goodfellow, Zaremba, Cheung, Radford and Chen (2016), Section 3,
# "Toward convergent GAN training". Training a GAN looks for a Nash equilibrium of a
# non-convex game by gradient descent on each player's cost, which can circle instead of
# converging. The paper proposes five heuristics, each a part of minigan here, each with a
# hand-written gradient checked in float64:
#
# | § | technique | in minigan | a switch of `minigan train` |
# |---|---|---|---|
# | 3.1 | feature matching | `losses.FeatureMatching` | `--set feature_matching=LAYER` |
# | 3.2 | minibatch discrimination | `layers.MinibatchDiscrimination` | `--set minibatch_discrimination=5x3` |
# | 3.3 | historical averaging | `losses.HistoricalAveraging` | `--set historical_averaging=0.01` |
# | 3.4 | one-sided label smoothing | `GAN(real_label=0.9)` | `--set real_label=0.9` |
# | 3.5 | virtual batch normalisation | `layers.VirtualBatchNorm`, `layers.VirtualBatch` | `--set virtual_batch_norm=64` |
#
# (한국어 요약) 이 논문은 GAN 학습을 내시 균형을 찾는 비볼록 게임으로 보고, 기울기 하강이 균형으로
# 수렴하지 않고 맴돌 수 있다고 지적합니다. 이를 돕는 다섯 가지 기법: 특징 매칭(3.1), 미니배치
# 판별(3.2), 과거 평균(3.3), 단측 레이블 평활화(3.4), 가상 배치 정규화(3.5).
#
# Each section below shows what its technique does in seconds; the last one trains the
# `ring8` preset with each technique (and all five together) on the same networks.
# The measured tables over 5 seeds on ring8 and grid25 are in benchmarks/RESULTS.md,
# "Improved-GAN techniques: mode coverage".
#
# **What to look at**
# 1. §3.2: D's minibatch features o(x) of a collapsed batch against a varied one.
# 2. §3.3: figure `10_historical_averaging.png`, the paper's own game, with and without.
# 3. §3.4: figure `10_label_smoothing.png`, the optimal D under one- and two-sided smoothing.
# 4. §3.5: a sample's output with batch norm depends on its batch; with VBN it does not.
# 5. Figure `10_ring8.png` and the table: 2,500 samples of each trained G.
#
# Time: the default run took 1 min 4 s (56 s of CPU time) on a 2-core machine beside other jobs
# (load about 6; one BLAS thread, 2026-12-07). (한국어: 기본 실행은 다른 작업이 도는 2코어
# 기계에서 1분 4초, CPU 시간 56초.)
#
# Run: `python lessons/10_improved_techniques.py [--out DIR] [--quick] [--iterations N]`
# (`--help` lists every option; an option the lesson does not know is an error.)

# %%
import os
import sys

from minigan import lesson_io

parser = lesson_io.parser("10", "Improved Techniques for Training GANs (the five techniques)",
                          out="10_improved_techniques", quick="a short run (seconds)")
parser.add_argument("--iterations", type=int, default=None,
                    help="Algorithm 1 iterations per ring8 run in the last section (default 1000; 40 with --quick)")
args = parser.parse_args()   # first, so that a mistyped option is refused at once

import numpy as np
import matplotlib
if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt

from minigan import backend, layers, losses, presets
from minigan.gradcheck import check_layer

os.makedirs(args.out, exist_ok=True)
iterations = args.iterations if args.iterations is not None else (40 if args.quick else 1000)
n_eval = 500 if args.quick else 2500              # the mode-coverage protocol's 2,500 samples
rng = np.random.default_rng(args.seed)

# %% [markdown]
# ## 3.1 Feature matching
#
# G stops maximising D's output and instead matches the statistics of an intermediate
# layer f of D: its cost is ||E_x f(x) - E_z f(G(z))||^2, here divided by the number of
# features F, as the released MNIST code takes the mean. D is trained as usual; f moves
# with it, so G chases features that D finds worth telling apart. The real features come
# from a minibatch of their own. The gradient flows through D (frozen in G's step) into G.
#
# `minigan train ring8 --set feature_matching=3` takes f = D.layers[3], the last hidden
# ReLU (D is Linear, ReLU, Linear, ReLU, Linear). The ring8 run below prints G's
# feature-matching cost as it trains.

# %%
fm_run = presets.build("ring8", seed=args.seed, feature_matching=3)
fm = fm_run.trainer.g_loss
print(f"G's loss: {fm!r} on D.layers[3] = {fm_run.trainer.D.layers[3]!r}")
costs = []
steps = max(iterations // 5, 1)
for _ in range(5):
    rows = fm_run.trainer.train(steps)
    costs.append(float(np.mean([r["g_loss"] for r in rows])))
print("feature-matching cost (1/F) ||mean f(x) - mean f(G(z))||^2, mean over each fifth of "
      f"{5 * steps} iterations: " + ", ".join(f"{c:.4f}" for c in costs))

# %% [markdown]
# ## 3.2 Minibatch discrimination
#
# A collapsed G puts out nearly the same x for every z, and D, looking at one example at a
# time, cannot see it. The minibatch layer lets D look across the batch: with f(x_i) a row
# of features, M_i = f(x_i) T (B kernels of dimension C), c_b(i, j) = exp(-||M_i,b - M_j,b||_1)
# and o(x_i)_b = sum_{j != i} c_b(i, j) + bias_b, concatenated to f(x_i). For a collapsed
# batch every distance is 0 and o = (N - 1) + bias; for a varied one the distances are large
# and o is near the bias. Its rows are coupled, so it is gradient-checked on whole batches.

# %%
mbd = layers.MinibatchDiscrimination(16, 5, 3, init_std=0.5, rng=args.seed, dtype=np.float64)
n = 8
varied = rng.standard_normal((n, 16))
collapsed = np.repeat(rng.standard_normal((1, 16)), n, axis=0) + 1e-3 * rng.standard_normal((n, 16))
with layers.no_grad():
    for name, batch in (("varied", varied), ("collapsed", collapsed)):
        o = backend.to_host(mbd.forward(backend.to_device(batch)))[:, 16:]
        print(f"{name:9s} batch of {n}: o(x) - bias, mean over rows and kernels = "
              f"{float((o - backend.to_host(mbd.params['bias'])).mean()):.3f} (N - 1 = {n - 1})")
res = check_layer(mbd, backend.to_device(varied), seed=args.seed,
                  title="MinibatchDiscrimination(16, 5, 3) on a batch of 8")
print(f"gradient check, float64, whole batch: {'PASS' if res.passed else 'FAIL'} "
      f"(largest relative error {res.max_rel_error:.1e})")

# %% [markdown]
# ## 3.3 Historical averaging
#
# Each player's cost gets weight * ||theta - (1/t) sum_i theta[i]||^2: a pull towards the
# mean of its own past parameters, which damps the circling of simultaneous gradient steps.
# The paper's example: x minimises, y maximises V(x, y) = (f(x) - 1)(y - 1), with f(x) = x
# for x < 0 and x^2 otherwise; the equilibrium is (1, 1). Plain simultaneous gradient steps
# circle away from it; with historical averaging they settle on it. Below, each player is a
# one-parameter `Layer` and `losses.HistoricalAveraging` adds 2 weight (theta - theta_bar)
# into its grads after the game's gradient, as it does for G and D in `minigan train
# --set historical_averaging=W`.

# %%
class Scalar(layers.Layer):
    """A player with one parameter v."""

    def __init__(self, v):
        super().__init__()
        self._add_param("v", np.array([float(v)]))


def play(weight, steps, lr=0.01, start=(0.5, 0.5)):
    X, Y = Scalar(start[0]), Scalar(start[1])
    averaging = (losses.HistoricalAveraging(weight), losses.HistoricalAveraging(weight)) if weight else None
    path = []
    for _ in range(steps):
        x, y = float(X.params["v"][0]), float(Y.params["v"][0])
        path.append((x, y))
        X.zero_grad()
        Y.zero_grad()
        X.grads["v"][0] += (1.0 if x < 0 else 2 * x) * (y - 1)     # dV/dx: x minimises V
        Y.grads["v"][0] += -((x if x < 0 else x * x) - 1)          # -dV/dy: y minimises -V
        if averaging:
            averaging[0](X)
            averaging[1](Y)
        X.params["v"] -= lr * X.grads["v"]
        Y.params["v"] -= lr * Y.grads["v"]
    return np.array(path)


game_steps = 4000 if args.quick else 20000
fig, ax = plt.subplots(figsize=(5.5, 5))
for weight, colour in ((0.0, "tab:red"), (0.1, "tab:blue")):
    path = play(weight, game_steps)
    dist = np.hypot(path[:, 0] - 1, path[:, 1] - 1)
    label = "plain" if weight == 0 else f"historical averaging, weight {weight}"
    print(f"{label:38s}: distance from (1, 1) after {game_steps // 2} steps {dist[game_steps // 2]:.3f}, "
          f"after {game_steps} steps {dist[-1]:.4f} (start {dist[0]:.3f})")
    ax.plot(path[:, 0], path[:, 1], color=colour, lw=0.8, label=label)
ax.plot([1], [1], "k*", ms=12, label="equilibrium (1, 1)")
ax.set_xlabel("x (minimises)")
ax.set_ylabel("y (maximises)")
ax.set_title("V(x, y) = (f(x) - 1)(y - 1), simultaneous gradient steps")
ax.legend(fontsize=8)
fig.tight_layout()
lesson_io.save_figure(fig, os.path.join(args.out, "10_historical_averaging.png"), dpi=110)

# %% [markdown]
# ## 3.4 One-sided label smoothing
#
# With D trained towards targets alpha for real data and beta for samples, the optimal D is
#
#     D*(x) = (alpha p_data(x) + beta p_model(x)) / (p_data(x) + p_model(x)).
#
# Where p_data is near 0 and p_model is not (samples where there is no data), two-sided
# smoothing leaves D* = beta > 0 there: D no longer says "fake" to those samples, and G
# has no reason to move them. One-sided smoothing (beta = 0) keeps D* = 0 there and only
# softens D where the data is. Below, p_data = N(4, 0.5^2) and p_model a mixture with a
# bump where there is no data.

# %%
x = np.linspace(0, 8, 801)


def normal(x, mu, sd):
    return np.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))


p_data = normal(x, 4, 0.5)
p_model = 0.7 * normal(x, 4.2, 0.6) + 0.3 * normal(x, 1.5, 0.4)
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(x, p_data / p_data.max(), "k--", lw=1, label="p_data (scaled)")
ax.plot(x, p_model / p_model.max(), "k:", lw=1, label="p_model (scaled)")
where = np.argmin(abs(x - 1.5))                      # the bump of samples with no data
for alpha, beta, colour in ((1.0, 0.0, "tab:gray"), (0.9, 0.0, "tab:blue"), (0.9, 0.1, "tab:red")):
    d_star = (alpha * p_data + beta * p_model) / (p_data + p_model + 1e-300)
    name = "no smoothing" if alpha == 1 else ("one-sided" if beta == 0 else "two-sided")
    print(f"{name:13s} (alpha {alpha}, beta {beta}): D*(x = 1.5) = {d_star[where]:.3f}, "
          f"D*(x = 4) = {d_star[np.argmin(abs(x - 4))]:.3f}")
    ax.plot(x, d_star, color=colour, label=f"D*, {name} (alpha {alpha}, beta {beta})")
ax.set_xlabel("x")
ax.set_ylabel("D*(x)")
ax.set_title("The optimal discriminator under label smoothing")
ax.legend(fontsize=8)
fig.tight_layout()
lesson_io.save_figure(fig, os.path.join(args.out, "10_label_smoothing.png"), dpi=110)

# %% [markdown]
# ## 3.5 Virtual batch normalisation
#
# Batch norm normalises each feature by its batch's mean and variance, so a sample's output
# depends on which other samples share its batch. VBN normalises each example with the
# statistics of a reference batch chosen once (the reference INPUTS; the batch itself goes
# through the current weights at every step) blended 1/(B + 1) with its own:
# `layers.VirtualBatch(G, reference)` runs G on [reference; live batch] and returns the
# live rows, so live rows never depend on one another. Below: z_0 in two different batches.

# %%
def small_g(norm, seed):
    r = np.random.default_rng(seed)
    return layers.Sequential(layers.Linear(2, 16, rng=r, dtype=np.float64), norm(16),
                             layers.ReLU(), layers.Linear(16, 2, rng=r, dtype=np.float64))


z0 = rng.standard_normal((1, 2))
batch_a = np.concatenate([z0, rng.standard_normal((15, 2))])
batch_b = np.concatenate([z0, rng.standard_normal((15, 2)) * 3 + 1])
bn_g = small_g(lambda n: layers.BatchNorm(n, dtype=np.float64), args.seed)
vbn_g = layers.VirtualBatch(small_g(lambda n: layers.VirtualBatchNorm(n, rng=args.seed, dtype=np.float64),
                                    args.seed), rng.standard_normal((32, 2)))
with layers.no_grad():
    for name, g in (("batch norm", bn_g), ("virtual batch norm", vbn_g)):
        ya = backend.to_host(g.forward(backend.to_device(batch_a)))[0]
        yb = backend.to_host(g.forward(backend.to_device(batch_b)))[0]
        print(f"{name:18s}: G(z_0) in batch A {np.round(ya, 4)}, in batch B {np.round(yb, 4)}; "
              f"difference {float(np.abs(ya - yb).max()):.2e}")

# %% [markdown]
# ## Each technique on ring8
#
# The `ring8` preset (8 Gaussians on the unit circle, G and D 2-128-128, Adam), the plain
# GAN against each technique alone and all five together, each with the same seed and the
# settings of benchmarks/mode_coverage.py. A sample is of high quality within 3 sigma of its
# nearest mode; a mode is captured when a high-quality sample sits at it; the reverse KL
# compares the samples' mode histogram with the uniform one (0: modes shared evenly).
# One seed and a short run: the measured means over 5 seeds of the full 10,000-iteration runs
# are in benchmarks/RESULTS.md. Minibatch discrimination is the slow one (its cost grows
# with N^2 x kernels x dimension).

# %%
CONFIGS = [("plain", {}), ("feature matching", {"feature_matching": 3}),
           ("minibatch discrimination", {"minibatch_discrimination": "5x3"}),
           ("historical averaging", {"historical_averaging": 0.01}),
           ("one-sided smoothing", {"real_label": 0.9}),
           ("virtual batch norm", {"virtual_batch_norm": 64}),
           ("all five", {"feature_matching": 3, "minibatch_discrimination": "5x3", "historical_averaging": 0.01,
                         "real_label": 0.9, "virtual_batch_norm": 64})]
fig, axes = plt.subplots(1, len(CONFIGS), figsize=(2.6 * len(CONFIGS), 2.9))
for ax, (name, opts) in zip(axes, CONFIGS):
    run = presets.build("ring8", seed=args.seed, **opts)
    progress = lesson_io.ProgressLines(iterations, f"ring8, {name}", lines=4)
    run.trainer.train(iterations, callback=lambda gan, row: progress.update())
    samples = backend.to_host(run.trainer.sample(n_eval, backend.default_rng(args.seed + 1)))
    cov = run.data.mode_coverage(samples)
    print(f"ring8 | {name:24s} | after {iterations} iterations: {cov['modes']}/{cov['of']} modes captured, "
          f"{100 * cov['high_quality']:.1f}% high quality, reverse KL {cov['reverse_kl']:.3f}")
    ax.scatter(samples[:, 0], samples[:, 1], s=1, alpha=0.3)
    ax.scatter(run.data.means[:, 0], run.data.means[:, 1], c="red", marker="x", s=20)
    ax.set_title(f"{name}\n{cov['modes']}/8 modes, {100 * cov['high_quality']:.0f}% HQ", fontsize=8)
    ax.set_xlim(-1.6, 1.6)
    ax.set_ylim(-1.6, 1.6)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
lesson_io.save_figure(fig, os.path.join(args.out, "10_ring8.png"), dpi=110)
print(f"figures are in {os.path.abspath(args.out)}")
