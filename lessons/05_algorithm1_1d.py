# %% [markdown]
# # Lesson 05 -- Algorithm 1 on the 1-D problem: the four panels of Figure 1
#
# **Paper:** Goodfellow et al. (2014), Algorithm 1 and Figure 1. The figure
# shows the data density p_data (black dots), the generator's density p_g
# (green line), the discriminator D (blue, dashed) and, underneath, how
# x = G(z) maps evenly spaced z (lower line) onto x (upper line):
# (a) an adversarial pair near convergence: p_g close to p_data, D partially
#     accurate;
# (b) in the inner loop of the algorithm D is trained to discriminate samples
#     from data, converging to D*(x) = p_data(x) / (p_data(x) + p_g(x));
# (c) after an update to G, the gradient of D has guided G(z) to flow to
#     regions that are more likely to be classified as data;
# (d) after several steps of training, if G and D have enough capacity, they
#     reach a point where p_g = p_data and D(x) = 1/2.
#
# (한국어 요약) Algorithm 1과 Figure 1. 그림은 데이터 밀도 p_data(검은 점), 생성자의 밀도 p_g(초록 실선), 판별자 D(파란 점선)와, 그 아래에서
# x = G(z)가 고르게 놓인 z를 x로 옮기는 모습을 보여 줍니다. (a) 수렴 근처의 적대적 쌍: p_g가 p_data에 가깝고 D는 부분적으로 정확함. (b) 알고리즘의
# 안쪽 루프에서 D가 학습되어 D*(x) = p_data(x) / (p_data(x) + p_g(x))로 수렴함. (c) G를 갱신한 뒤, D의 기울기가 G(z)를 데이터로
# 분류될 가능성이 높은 곳으로 흐르게 함. (d) 여러 단계 뒤, G와 D의 용량이 충분하면 p_g = p_data, D(x) = 1/2에 이름.
#
# **What to look at**
# 1. Figure `05_figure1.png`: our panels (a)-(d), titled with the paper's
#    meanings. (a) a pair in training: the run at an early iteration (40),
#    not near convergence as in the paper; (b) after D's update: a copy of
#    (a) after many D steps alone (the inner loop); (c) after G's update:
#    (b) after one G step more ((b) and (c) branch off a copy: the run itself
#    is not disturbed); (d) towards equilibrium: the run at its last
#    iteration. p_g is estimated from samples (a kernel density estimate),
#    so it is a little smoother than the truth.
# 2. The printed JSD(p_data || p_g) per panel, and how far D is from the D*
#    of that panel's p_g (its mean distance, weighted by where the data and
#    the samples are): smaller after (b)'s inner loop than at (a) (the
#    default run, seed 0, 6000 iterations: 0.22 against 0.33), larger again
#    one G step later (0.28), and smallest at the end (0.03): D tracks D*
#    only as closely as its own training lets it.
# 3. `05_figure1.gif`: the whole run, one frame per snapshot; and
#    `05_history.png`: V(D, G), D's outputs, the losses along the run.
#
# Setting: the `toy1d` preset as `minigan train` runs it (p_data = N(4, 0.5^2),
# z ~ U(-1, 1), 1-32-32-1 MLPs, momentum SGD with decaying learning rates,
# the non-saturating G loss, k = 1, 6000 iterations). Try `--k 3`: more D
# steps per G step is not automatically better (our runs, seed 0, 6000
# iterations, OPENBLAS_NUM_THREADS=1, 2026-12-06: at the end JSD 0.200 with
# k = 3 against 0.019 with k = 1).
#
# Threads: the numbers quoted in this lesson are from one-thread runs. Results depend on the thread
# count (the BLAS adds in another order, and a GAN amplifies the difference): `MINIGAN_BLAS_THREADS=1`
# gives the reference run (the lesson prints a note when it runs on more threads). (한국어: 이 레슨에
# 인용한 수치는 BLAS 스레드 1개로 실행한 결과입니다. 스레드 수가 바뀌면 덧셈 순서가 바뀌고 GAN이 그
# 차이를 키우므로 결과가 달라집니다. 같은 결과를 보려면 `MINIGAN_BLAS_THREADS=1`.)
#
# Time: the default run took 1 min 17 s (27 s of CPU time) on a 2-core machine beside other jobs
# (load about 6; one BLAS thread, 2026-12-07). (한국어: 기본 실행은 다른 작업이 도는 2코어
# 기계에서 1분 17초, CPU 시간 27초.)
#
# Run: `python lessons/05_algorithm1_1d.py [--out DIR] [--quick] [--k K] [--iterations N]`
# (`--help` lists every option; an option the lesson does not know is an error.)

# %%
import os
import sys

from minigan import lesson_io

parser = lesson_io.parser("05", "Algorithm 1 on 1-D data, Figure 1", out="05_algorithm1_1d",
                           quick="a short run (seconds)")
parser.add_argument("--k", type=int, default=None, help="D steps per iteration (default: the preset's, 1)")
parser.add_argument("--iterations", type=int, default=None,
                    help="Algorithm 1 iterations (default: the preset's, 6000; 200 with --quick)")
args = parser.parse_args()   # first, so that a mistyped option is refused at once

import numpy as np
import matplotlib
if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")

from minigan import presets, theory, viz

os.makedirs(args.out, exist_ok=True)
run = presets.build("toy1d", k=args.k, seed=args.seed)
gan, data, noise = run.trainer, run.data, run.noise
iterations = args.iterations if args.iterations is not None else (200 if args.quick else run.iterations)
panel_a = min(40, max(1, iterations // 5))         # where panel (a) is taken: early, G still off
inner_d_steps = 50 if args.quick else 200           # panel (b): D trained alone
n_samples = 2000 if args.quick else 20000           # samples per p_g estimate
n_frames = 5 if args.quick else 40                  # frames of the GIF
grid = np.linspace(0.0, 7.0, 401)                   # one x range for every panel

# %% [markdown]
# ## 1. The run
#
# `GAN.train` is Algorithm 1's outer loop; `viz.figure1_snapshot` records
# p_data, p_g, D and the z -> x mapping at one moment (with its own random
# stream, so taking snapshots does not change the run).

# %%
print(run.description, f"| k = {gan.k}, m = {gan.m}, G loss {gan.g_loss}, {iterations} iterations")


def snapshot(g):
    return viz.figure1_snapshot(g, data, noise, grid=grid, n_samples=n_samples, seed=args.seed + 7)


def distance_to_d_star(snap):
    """Mean |D - D*| under the mixture (p_data + p_g)/2, with D* from this snapshot's p_g."""
    d_star = theory.optimal_discriminator(snap["p_data"], snap["p_g"])
    mix = 0.5 * (snap["p_data"] + snap["p_g"])
    return theory.integrate(mix * np.abs(snap["d"] - d_star), snap["x"])


frame_at = sorted({max(1, round(iterations * i / n_frames)) for i in range(1, n_frames + 1)} | {panel_a})
frames = [snapshot(gan)]                             # iteration 0
panels = {}
progress = lesson_io.ProgressLines(iterations, "Algorithm 1")
for it in range(1, iterations + 1):
    gan.step()
    progress.update()
    if it == panel_a:
        panels["a"] = frames[-1] if frames[-1]["iteration"] == it else snapshot(gan)
        # (b) and (c) branch off a copy of the run at this point
        branch = gan.copy()
        for _ in range(inner_d_steps):
            branch.d_step()                          # the inner loop alone: D -> D*
        panels["b"] = snapshot(branch)
        branch.g_step()                              # then one update of G
        panels["c"] = snapshot(branch)
    if it in frame_at:
        frames.append(panels["a"] if it == panel_a else snapshot(gan))
panels["d"] = frames[-1]

descriptions = {
    "a": f"the run at iteration {panel_a}",
    "b": f"(a) + {inner_d_steps} D steps alone",
    "c": "(b) + one G step",
    "d": f"the run at iteration {iterations}",
}
meanings = {"a": "a pair in training", "b": "after D's update", "c": "after G's update", "d": "towards equilibrium"}
for key in "abcd":
    s = panels[key]
    print(f"({key}) {descriptions[key]:32s} JSD(p_data || p_g) = {s['jsd']:.4f}   "
          f"mean |D - D*| = {distance_to_d_star(s):.4f}   "
          f"D on the data (mean over p_data) = {theory.integrate(s['p_data'] * s['d'], s['x']):.3f}")
last = gan.history[-1]
print(f"last iteration: V = {last['V']:.4f} (-log 4 = {-theory.LOG4:.4f}), "
      f"D(x) = {last['D_real']:.3f}, D(G(z)) = {last['D_fake']:.3f}")

# %% [markdown]
# ## 2. The figures

# %%
# each panel titled with the paper's meaning, then what it is here
captioned = [dict(panels[k], caption=f"{meanings[k]}\n{descriptions[k]}") for k in "abcd"]
lesson_io.saved(viz.plot_figure1(captioned, os.path.join(args.out, "05_figure1.png"),
                                  title=f"Figure 1 on toy1d, k = {gan.k}, seed {args.seed}"))
lesson_io.saved(viz.animate_figure1(frames, os.path.join(args.out, "05_figure1.gif"), fps=6,
                                     title=f"toy1d, k = {gan.k}"))
lesson_io.saved(viz.plot_history(gan.history, os.path.join(args.out, "05_history.png"),
                                  title="Algorithm 1 on N(4, 0.5^2)"))
print(f"figures are in {os.path.abspath(args.out)}")
