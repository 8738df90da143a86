# %% [markdown]
# # Lesson 03 -- the losses: binary cross-entropy and the saturating G loss
#
# **Paper:** Goodfellow et al. (2014), Equation 1 (the value function V(D, G))
# and the paragraph after it in Section 3: "Early in learning, when G is
# poor, D can reject samples with high confidence ... In this case,
# log(1 - D(G(z))) saturates. Rather than training G to minimize
# log(1 - D(G(z))) we can train G to maximize log D(G(z)). This objective
# function results in the same fixed point ... but provides much stronger
# gradients early in learning."
#
# (한국어 요약) 식 1(가치 함수 V(D, G))과 3절의 그다음 문단: 학습 초기에 G가 약하면 D는 G의 표본을 높은 확신으로 거부하고, log(1 - D(G(z)))는
# 포화됩니다. 그래서 G가 log(1 - D(G(z)))를 최소화하는 대신 log D(G(z))를 최대화하도록 학습시킵니다. 고정점은 같지만 학습 초기에 훨씬 강한 기울기를
# 줍니다.
#
# **What to look at**
# 1. D's loss is binary cross-entropy, and it equals -V(D, G). Computed from
#    probabilities, log(1 - D(G(z))) is -inf once D saturates (and D's loss
#    +inf); from logits it stays finite.
# 2. Figure `03_saturation.png`: the two G losses and their gradients with
#    respect to D's logit, against D(G(z)). The minimax gradient is -D(G(z)):
#    it vanishes exactly where D rejects the fakes. The non-saturating one is
#    -(1 - D(G(z))): largest there.
# 3. Figure `03_training.png`: the Figure 1 problem started from a D that
#    already rejects G's samples; G's gradient norm and where G's samples are,
#    for both losses, iteration by iteration.
#
# Time: the default run took 22 s (7 s of CPU time) on a 2-core machine beside other jobs
# (load about 7; one BLAS thread, 2026-12-07). (한국어: 기본 실행은 다른 작업이 도는 2코어
# 기계에서 22초, CPU 시간 7초.)
#
# Run: `python lessons/03_losses.py [--out DIR] [--quick]`
# (`--help` lists every option; an option the lesson does not know is an error.)

# %%
import os
import sys

from minigan import lesson_io

parser = lesson_io.parser("03", "the losses and saturation", out="03_losses", quick="a short run (seconds)")
parser.add_argument("--pretrain-d", type=int, default=None,
                    help="D steps before G moves (default 200; 50 with --quick)")
parser.add_argument("--iterations", type=int, default=None,
                    help="Algorithm 1 iterations per loss (default 1500; 150 with --quick)")
args = parser.parse_args()   # first, so that a mistyped option is refused at once

import numpy as np
import matplotlib
if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt

from minigan import backend, losses, presets

os.makedirs(args.out, exist_ok=True)
pretrain = args.pretrain_d if args.pretrain_d is not None else (50 if args.quick else 200)
iterations = args.iterations if args.iterations is not None else (150 if args.quick else 1500)

# %% [markdown]
# ## 1. D's loss is binary cross-entropy, and it is -V(D, G)
#
# With D(x) = sigma(a) for D's logit a:
#
#     V = mean log D(x) + mean log(1 - D(G(z)))
#     CE(1, D(x)) + CE(0, D(G(z))) = -mean log D(x) - mean log(1 - D(G(z))) = -V
#
# And why logits: in float32, sigma(20) rounds to exactly 1, so
# log(1 - sigma(20)) is log 0 = -inf, while log(1 - sigma(a)) = -softplus(a)
# = -(20 + log(1 + e^-20)) is -20 to float32 precision, computed without trouble.

# %%
rng = np.random.default_rng(args.seed)
a_real = rng.normal(2.0, 1.0, size=(8, 1))
a_fake = rng.normal(-2.0, 1.0, size=(8, 1))
V, _, _ = losses.value_function(a_real, a_fake)
d_loss, _, _ = losses.discriminator_loss(a_real, a_fake)
print(f"V(D, G) on a batch = {float(V):.6f};  CE(1, D(x)) + CE(0, D(G(z))) = {float(d_loss):.6f}")

a = np.array([[20.0]], dtype=np.float32)
with np.errstate(divide="ignore"):
    naive = np.log(1 - 1 / (1 + np.exp(-a)))
stable = -losses.softplus(a)
print(f"float32, logit 20: log(1 - sigmoid(a)) from the probability = {naive[0, 0]}, "
      f"from the logit = {stable[0, 0]:.6f}")

# %% [markdown]
# ## 2. The two generator losses against D(G(z))
#
#     minimax (Algorithm 1 as printed):  G descends  log(1 - D(G(z)))   d/da = -D(G(z))
#     non-saturating (Section 3):        G descends -log D(G(z))        d/da = -(1 - D(G(z)))
#
# Both are computed here by `minigan.losses` on a sweep of logits; the
# per-example gradient is the returned gradient times m (it carries the 1/m
# of the minibatch mean).

# %%
d_values = np.logspace(-5, 0, 400)[:-1]                  # D(G(z)) from 1e-5 to just below 1
logits = np.log(d_values) - np.log1p(-d_values)          # a = logit(D)
m = len(logits)
curves = {}
for name, fn in losses.GENERATOR_LOSSES.items():
    values = np.array([float(fn(np.array([[a]]))[0]) for a in logits])
    _, grad = fn(logits[:, None])
    curves[name] = (values, grad[:, 0] * m)
for probe in (1e-3, 1e-2, 0.5):
    i = np.argmin(np.abs(d_values - probe))
    print(f"D(G(z)) = {d_values[i]:.4g}:  |dloss/da| minimax = {abs(curves['minimax'][1][i]):.4g}, "
          f"non-saturating = {abs(curves['nonsaturating'][1][i]):.4g}")

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.8))
for name, (values, grad) in curves.items():
    ax0.semilogx(d_values, values, label=name)
    ax1.loglog(d_values, np.abs(grad), label=name)
ax0.set_xlabel("D(G(z))")
ax0.set_ylabel("G's loss (what G descends)")
ax0.set_title("minimax log(1 - D)  vs  non-saturating -log D")
ax1.set_xlabel("D(G(z))")
ax1.set_ylabel("|d loss / d logit|  per example")
ax1.set_title("gradient reaching G")
ax1.axvspan(d_values[0], 1e-2, color="0.9", label="D rejects the fakes")
for ax in (ax0, ax1):
    ax.legend(fontsize=8)
fig.tight_layout()
path = os.path.join(args.out, "03_saturation.png")
lesson_io.save_figure(fig, path, dpi=110)

# %% [markdown]
# ## 3. The same thing in training
#
# The Figure 1 problem (`toy1d` preset: data N(4, 0.5^2), G's samples start
# near 0). First D alone takes some steps, so that it rejects G's samples
# with high confidence -- "early in learning". Then Algorithm 1 runs, once
# with each G loss, from the same start (same seed, same D steps). We record
# G's gradient norm and the mean of G's samples.

# %%
runs = {}
for g_loss in ("minimax", "nonsaturating"):
    run = presets.build("toy1d", g_loss=g_loss, seed=args.seed)
    gan = run.trainer
    for _ in range(pretrain):
        row = gan.d_step()
    start = {"D_real": float(row["D_real"]), "D_fake": float(row["D_fake"])}
    eval_rng = backend.default_rng(12345)
    grad_norm, d_fake, mean_x, at = [], [], [], []
    progress = lesson_io.ProgressLines(iterations, f"{g_loss} G loss", lines=5)
    for it in range(iterations):
        row = gan.step()
        progress.update()
        grad_norm.append(row["g_grad_norm"])
        d_fake.append(row["D_fake"])
        if it % 5 == 0 or it == iterations - 1:
            at.append(it + 1)
            mean_x.append(float(backend.to_host(gan.sample(500, rng=eval_rng)).mean()))
    runs[g_loss] = dict(start=start, grad_norm=np.array(grad_norm), d_fake=np.array(d_fake),
                        mean_x=np.array(mean_x), at=np.array(at))
    reached = next((t for t, mx in zip(at, mean_x) if mx > 3.0), None)
    print(f"{g_loss:14s}: after {pretrain} D steps D(x) = {start['D_real']:.4f}, "
          f"D(G(z)) = {start['D_fake']:.4f}; first G gradient norm {grad_norm[0]:.3e}; "
          f"mean of G's samples passes 3 at iteration {reached if reached else f'-- never in {iterations}'}; "
          f"after {iterations}: mean {mean_x[-1]:.3f}")
ratio = runs["nonsaturating"]["grad_norm"][0] / runs["minimax"]["grad_norm"][0]
print(f"first G step: non-saturating gradient is {ratio:.1f} times the minimax one")

fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
for name, r in runs.items():
    its = np.arange(1, iterations + 1)
    axes[0].semilogy(its, r["grad_norm"], lw=0.8, label=name)
    axes[1].plot(its, r["d_fake"], lw=0.8, label=name)
    axes[2].plot(r["at"], r["mean_x"], label=name)
axes[0].set_title("|grad of G's loss|")
axes[1].set_title("D(G(z)) (minibatch mean)")
axes[2].set_title("mean of G's samples (data mean 4)")
axes[2].axhline(4.0, color="k", lw=0.6, ls="--")
for ax in axes:
    ax.set_xlabel("iteration")
    ax.legend(fontsize=8)
fig.tight_layout()
path = os.path.join(args.out, "03_training.png")
lesson_io.save_figure(fig, path, dpi=110)
print(f"figures are in {os.path.abspath(args.out)}")
