# %% [markdown]
# # Lesson 04 -- the optimal discriminator and the virtual training criterion
#
# **Paper:** Goodfellow et al. (2014), Section 4.1.
# * Proposition 1: for G fixed, the optimal discriminator is
#   D*_G(x) = p_data(x) / (p_data(x) + p_g(x))            (Equation 2)
# * Theorem 1: putting D* into V(D, G) gives the virtual training criterion
#   C(G) = max_D V(G, D) = -log 4 + 2 JSD(p_data || p_g)  (Equations 4-6),
#   smallest (-log 4) exactly when p_g = p_data.
#
# (한국어 요약) 4.1절. 명제 1: G가 고정되면 최적 판별자는 D*_G(x) = p_data(x) / (p_data(x) + p_g(x))입니다(식 2). 정리 1: D*를
# V(D, G)에 넣으면 가상 학습 기준 C(G) = -log 4 + 2 JSD(p_data || p_g)가 되고(식 4-6), p_g = p_data일 때 정확히 최솟값
# -log 4를 가집니다.
#
# **What to look at**
# 1. Figure `04_optimal_d.png`: p_data = N(4, 0.5^2) (the Figure 1 data), a
#    fixed generator x = G(z) = 1.0 z + 3.0, z ~ N(0, 1), so p_g = N(3, 1)
#    exactly. Our D, trained by Algorithm 1's inner loop alone (`GAN.d_step`,
#    G never updated), drawn over the formula D*. Where p_data + p_g has
#    little mass, D sees few samples and nothing pins it down.
# 2. V(D, G) of the trained D, by quadrature, climbs towards C(G) from below
#    (D* maximises V), and C(G) computed through D* equals -log 4 + 2 JSD.
# 3. Figure `04_criterion.png`: C(G) as G's mean slides across p_data's:
#    its minimum is -log 4, where p_g = p_data.
#
# Time: the default run took 12 s (4 s of CPU time) on a 2-core machine beside other jobs
# (load about 6; one BLAS thread, 2026-12-07). (한국어: 기본 실행은 다른 작업이 도는 2코어
# 기계에서 12초, CPU 시간 4초.)
#
# Run: `python lessons/04_optimal_discriminator.py [--out DIR] [--quick]`
# (`--help` lists every option; an option the lesson does not know is an error.)

# %%
import math
import os
import sys

from minigan import lesson_io

parser = lesson_io.parser("04", "the optimal discriminator", out="04_optimal_discriminator",
                           quick="a short run (seconds)")
parser.add_argument("--d-steps", type=int, default=None,
                    help="D updates against the fixed G (default 3000; 300 with --quick)")
args = parser.parse_args()   # first, so that a mistyped option is refused at once

import numpy as np
import matplotlib
if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt

from minigan import backend, data, models, optim, theory
from minigan.train import GAN
from minigan.layers import Linear, Sequential, no_grad

os.makedirs(args.out, exist_ok=True)
d_steps = args.d_steps if args.d_steps is not None else (300 if args.quick else 3000)

# %% [markdown]
# ## 1. A fixed G with a known density
#
# G is one Linear(1, 1) layer with weight a and bias b: x = a z + b. With
# z ~ N(0, 1) its density is exactly N(b, a^2)
# (`theory.linear_generator_pdf`, a change of variables).

# %%
A, B = 1.0, 3.0
G = Sequential(Linear(1, 1))
G.params["0.W"][...] = A
G.params["0.b"][...] = B
p_data = data.gaussian_1d()                      # N(4, 0.5^2)
noise = data.gaussian_noise(1)
grid = np.linspace(-1.0, 8.0, 901)
pd = p_data.pdf(grid[:, None])
pg = theory.linear_generator_pdf(grid, A, B, noise="gaussian")
d_star = theory.optimal_discriminator(pd, pg)
mass = theory.mass_region(pd, pg, fraction=0.05)
mix = 0.5 * (pd + pg)
print(f"p_data = N(4, 0.5^2), p_g = N({B}, {A}^2); D* ranges over [{d_star[mass].min():.3f}, "
      f"{d_star[mass].max():.3f}] where the mixture has mass")

# %% [markdown]
# ## 2. Train D alone against it (Algorithm 1's inner loop, G frozen)
#
# `GAN.d_step` samples m noise vectors and m data points and ascends V(D, G)
# for D. We never call `g_step`, so G stays fixed. Every so often we read D
# off on the grid (`GAN.d_prob`) and measure how far it is from D*.

# %%
D = models.mlp([1, 32, 32, 1], activation="relu", rng=args.seed + 1)
gan = GAN(G, D, p_data, noise, d_optimizer=optim.Adam(D, lr=3e-3),
          g_optimizer=optim.SGD(G, lr=0.01), m=256, seed=args.seed)
x_grid = backend.to_device(grid[:, None].astype(np.float32))


def d_on_grid():
    """D(x) on the grid, the sigmoid taken in float64 from D's logits: in float32
    sigma(a) rounds to exactly 1 for a above about 17, and log(1 - 1) would make V -inf."""
    D.eval()
    with no_grad():
        logits = backend.to_host(D.forward(x_grid)).astype(np.float64).reshape(-1)
    D.train()
    return 1.0 / (1.0 + np.exp(-logits))


checkpoints = sorted({max(1, d_steps // 10), max(1, d_steps // 3), d_steps})
snapshots, trace = {}, []
progress = lesson_io.ProgressLines(d_steps, "D alone against the fixed G", unit="D steps", lines=5)
for step in range(1, d_steps + 1):
    gan.d_step()
    progress.update()
    if step % max(1, d_steps // 20) == 0 or step in checkpoints:
        d = d_on_grid()
        V = theory.value_function_quadrature(pd, pg, d, grid)
        err_max = float(np.abs(d - d_star)[mass].max())
        err_mean = theory.integrate(mix * np.abs(d - d_star), grid)
        trace.append((step, V, err_max, err_mean))
        if step in checkpoints:
            snapshots[step] = d
# C(G) and the JSD on a wider grid: p_g = N(3, 1) still has mass at -1
wide = np.linspace(-6.0, 12.0, 3601)
pd_w, pg_w = p_data.pdf(wide[:, None]), theory.linear_generator_pdf(wide, A, B, noise="gaussian")
C = theory.virtual_training_criterion(pd_w, pg_w, wide)
jsd = theory.js_divergence(pd_w, pg_w, wide)
step, V, err_max, err_mean = trace[-1]
print(f"after {step} D steps: max |D - D*| where the mixture has mass = {err_max:.3f}; "
      f"mean |D - D*| under the mixture = {err_mean:.4f}")
print(f"V(D, G) for the trained D = {V:.4f}  <=  C(G) = V(D*, G) = {C:.4f}  (gap {C - V:.4f})")
print(f"Theorem 1: C(G) = {C:.6f};  -log 4 + 2 JSD(p_data || p_g) = {-theory.LOG4 + 2 * jsd:.6f} "
      f"(JSD = {jsd:.6f} nats)")

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 2]})
ax0.fill_between(grid, pd / pd.max(), color="k", alpha=0.12, label="p_data (scaled)")
ax0.fill_between(grid, pg / pd.max(), color="g", alpha=0.12, label="p_g (scaled)")
ax0.plot(grid, d_star, "k", lw=2, label="D* = p_data / (p_data + p_g)")
for s, d in snapshots.items():
    ax0.plot(grid, d, lw=1.2, label=f"our D after {s} steps")
ax0.axvspan(grid[mass][0], grid[mass][-1], color="y", alpha=0.08, label="mixture mass >= 5% of peak")
ax0.set_xlabel("x")
ax0.set_ylim(-0.02, 1.02)
ax0.set_title("Proposition 1: the learned D approaches D*")
ax0.legend(fontsize=7, loc="upper left")
steps_t = [t[0] for t in trace]
ax1.plot(steps_t, [t[1] for t in trace], "o-", ms=3, label="V(D, G), D learned")
ax1.axhline(C, color="k", ls="--", label=f"C(G) = V(D*, G) = {C:.3f}")
ax1.set_xlabel("D steps")
ax1.set_title("V climbs towards C(G)")
ax1.legend(fontsize=8)
fig.tight_layout()
path = os.path.join(args.out, "04_optimal_d.png")
lesson_io.save_figure(fig, path, dpi=110)

# %% [markdown]
# ## 3. C(G) = -log 4 + 2 JSD, and its minimum
#
# Now slide G's mean b (keeping p_g = N(b, 0.5^2), the data's width) and
# compute C(G) two ways: through D* (Proposition 1 then Equation 4) and
# through the Jensen-Shannon divergence (Theorem 1). They agree, and the
# minimum -log 4 sits at b = 4, where p_g = p_data.
#
# Each b gets a grid reaching 7 standard deviations beyond both densities.
# The sweep spans b = 2 to 6, where the curve's shape shows; further apart
# both routes go on agreeing (`virtual_training_criterion` takes log D* and
# log(1 - D*) as differences of log-densities, so it never rounds D* to 1)
# and C(G) tends to 0 as the JSD tends to log 2 (printed below for b = 0).

# %%
means = np.linspace(2.0, 6.0, 21 if args.quick else 81)
c_via_dstar, c_via_jsd = [], []
for b in means:
    g_b = np.linspace(min(4.0, b) - 3.5, max(4.0, b) + 3.5, 2801)
    pd_b, pg_b = p_data.pdf(g_b[:, None]), theory.gaussian_pdf(g_b, b, 0.5)
    c_via_dstar.append(theory.virtual_training_criterion(pd_b, pg_b, g_b))
    c_via_jsd.append(-theory.LOG4 + 2 * theory.js_divergence(pd_b, pg_b, g_b))
c_via_dstar, c_via_jsd = np.array(c_via_dstar), np.array(c_via_jsd)
i = int(np.argmin(c_via_dstar))
far = -theory.LOG4 + 2 * theory.js_divergence_gaussian(4.0, 0.5, 0.0, 0.5)
print(f"C(G) over b in [2, 6]: minimum {c_via_dstar[i]:.6f} at b = {means[i]:.2f} "
      f"(-log 4 = {-math.log(4):.6f}); largest |C via D* - C via JSD| = "
      f"{np.abs(c_via_dstar - c_via_jsd).max():.2e}")
print(f"far apart: at b = 0, -log 4 + 2 JSD = {far:.6f} (the upper limit is 0, where JSD = log 2)")

fig, ax = plt.subplots(figsize=(6.5, 4))
ax.plot(means, c_via_dstar, lw=3, alpha=0.5, label="C(G) = V(D*, G)")
ax.plot(means, c_via_jsd, "k--", lw=1, label="-log 4 + 2 JSD(p_data || p_g)")
ax.axhline(-math.log(4), color="r", ls=":", label="-log 4")
ax.axhline(0.0, color="0.6", lw=0.6)
ax.set_xlabel("mean b of p_g = N(b, 0.5^2)   (p_data = N(4, 0.5^2))")
ax.set_ylim(-1.45, 0.05)
ax.set_ylabel("C(G)")
ax.set_title("Theorem 1: the virtual training criterion")
ax.legend(fontsize=8)
fig.tight_layout()
path = os.path.join(args.out, "04_criterion.png")
lesson_io.save_figure(fig, path, dpi=110)
print(f"figures are in {os.path.abspath(args.out)}")
