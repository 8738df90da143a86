# %% [markdown]
# # Lesson 07 -- the paper's MNIST model: samples, nearest neighbours, interpolation
#
# **Paper:** Goodfellow et al. (2014), Section 5 (Experiments) and Figures 2
# and 3. G: z (100 dims, uniform) -> 1200 ReLU -> 1200 ReLU -> 784 sigmoid.
# D: maxout 240 x 5 -> maxout 240 x 5 -> sigmoid, with dropout on its inputs.
# Figure 2 shows samples with, in the rightmost column, "the nearest
# training example of the neighboring sample, in order to demonstrate that
# the model has not memorized the training set". Figure 3 shows "digits
# obtained by linearly interpolating between coordinates in z space".
#
# (한국어 요약) 5절(실험)과 Figure 2, 3. G: z(100차원, 균등 분포) -> 1200 ReLU -> 1200 ReLU -> 784 시그모이드. D: 맥스아웃
# 240 x 5 -> 맥스아웃 240 x 5 -> 시그모이드, 입력에 드롭아웃. Figure 2는 표본과 함께, 모델이 학습 집합을 외우지 않았음을 보이려고 맨 오른쪽 열에 이웃
# 표본의 가장 가까운 학습 예제를 보여 줍니다. Figure 3은 z 공간의 좌표를 선형 보간해 얻은 숫자들입니다.
#
# **What to look at**
# 1. `07_samples.png`: 100 samples of G (the title says which G). The default trains for 5 epochs
#    only (minutes on a CPU), so expect rough, speckled strokes with a few
#    recognisable shapes, not the paper's digits (the released configuration
#    sets its momentum schedule over 250 epochs). `--checkpoint` takes a
#    longer run of `minigan train mnist-paper` instead.
# 2. `07_nearest.png`: top row, samples; bottom row, the nearest of the
#    50,000 training images to each, with the distance under the pair. The
#    printed distances compare them with how far *test* images (real digits
#    never trained on) are from their nearest training image. A model that
#    copied its training set would score near 0. Closer than the test digits
#    but far from 0 means little: pixel distance favours images with little
#    ink, and an all-black image is 3.57 from its nearest training image,
#    closer than the median test digit (4.31, the first 100 test images).
#    The lesson prints what its own numbers say; the pictures are the test.
# 3. `07_interpolation.png`: each row walks in a straight line from one z to
#    another (columns t = 0 to 1); a smooth change of digit says G maps z
#    continuously.
# 4. `07_history.png`: V(D, G), D's outputs and the losses during training.
#
# The MNIST files are read from `--data-dir`, else `$MINIGAN_DATA`, else the
# cache folder; without them the lesson says so and stops (exit status 0).
# `--download` fetches them (about 11 MB) into the cache.
#
# Threads: the numbers quoted in this lesson are from one-thread runs. Results depend on the thread
# count (the BLAS adds in another order, and a GAN amplifies the difference): `MINIGAN_BLAS_THREADS=1`
# gives the reference run (the lesson prints a note when it runs on more threads). (한국어: 이 레슨에
# 인용한 수치는 BLAS 스레드 1개로 실행한 결과입니다. 스레드 수가 바뀌면 덧셈 순서가 바뀌고 GAN이 그
# 차이를 키우므로 결과가 달라집니다. 같은 결과를 보려면 `MINIGAN_BLAS_THREADS=1`.)
#
# The reference run (default options, `MINIGAN_BLAS_THREADS=1`, 2026-12-07) ended its training with
# `V -0.4744  D(x) 0.8939  D(G(z)) 0.1452` and printed:
#
#     samples: mean pixel 0.116 (training data 0.131), pixels above 0.5: 11.3% (data 13.3%)
#     distance to the nearest training image: samples median 5.56 (min 3.67); test images median 4.31 (min 1.17); an all-black image 3.57
#     interpolation: mean |pixel change| between neighbouring steps 0.0154 (largest single step 0.0406)
#
# (한국어: 기준 실행(기본 옵션, BLAS 스레드 1개)의 출력이 위와 같습니다. 스레드 수가 다르면 수치도 다릅니다.)
#
# Time: the default run took 5 min 24 s (1 min 52 s of CPU time) on a 2-core machine beside other jobs
# (load about 3; one BLAS thread, 2026-12-07). (한국어: 기본 실행은 다른 작업이 도는 2코어
# 기계에서 5분 24초, CPU 시간 1분 52초.)
#
# Run: `python lessons/07_mnist_model.py [--data-dir DIR] [--out DIR] [--quick] [--iterations N] [--checkpoint CKPT]`
# (`--help` lists every option; an option the lesson does not know is an error.)

# %%
import os
import sys
import time

from minigan import lesson_io

parser = lesson_io.parser("07", "the paper's MNIST model", out="07_mnist_model", mnist=True,
                           quick="20 iterations only (seconds; samples are noise)")
parser.add_argument("--iterations", type=int, default=None,
                    help="training iterations (default 2500 = 5 epochs of 500 minibatches; 20 with --quick)")
parser.add_argument("--checkpoint", default=None,
                    help="a checkpoint of 'minigan train mnist-paper' to use instead of training here")
parser.add_argument("--order", default=None, choices=("simultaneous", "sequential"),
                    help="update order (default: the preset's, simultaneous as in the released code)")
args = parser.parse_args()   # first, so that a mistyped option is refused at once

import numpy as np
import matplotlib
if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt

from minigan import backend, metrics, presets, viz
from minigan.layers import no_grad
from minigan.cli.describe import run_description

iterations = args.iterations if args.iterations is not None else (20 if args.quick else 2500)


# a bad --checkpoint is refused before anything is read or written
checked = lesson_io.image_run_or_refuse("07", args.checkpoint, load_data=False) if args.checkpoint else None

# %% [markdown]
# ## 1. The data (or a clean stop without it)

# %%
(train, _), (test, _) = lesson_io.mnist_or_stop(
    "07", ("train", "test"), kind=args.kind, data_dir=args.data_dir, download=args.download)
os.makedirs(args.out, exist_ok=True)
print(f"{args.kind}: {train.shape[0]} training images (the paper's train[0:50000]), {test.shape[0]} test images")

# %% [markdown]
# ## 2. The model, trained for a few minutes (or loaded)
#
# `presets.build("mnist-paper")` is the released configuration: momentum SGD
# at lr 0.1 with its decay and momentum schedule, D's loss halved, dropout
# masks drawn independently for the real and the fake batch.

# %%
if args.checkpoint:
    run = lesson_io.image_run_or_refuse("07", args.checkpoint, data_dir=args.data_dir)
    gan = run.trainer
    which_g = f"G of {os.path.basename(args.checkpoint)}, iteration {gan.iteration}"
    print(f"loaded {args.checkpoint}: iteration {gan.iteration}, "
          f"{run_description('mnist-paper', run.description, gan.iteration)}")
else:
    run = presets.build("mnist-paper", data_dir=args.data_dir, kind=args.kind, seed=args.seed,
                        order=args.order)
    gan = run.trainer
    which_g = f"G after {iterations} iterations ({iterations / run.extra['steps_per_epoch']:.1f} epochs)"
    print(f"{run_description('mnist-paper', run.description, iterations)}; order {gan.order}; training {iterations} iterations "
          f"({iterations / run.extra['steps_per_epoch']:.1f} epochs)")
    t0 = time.perf_counter()
    progress = lesson_io.ProgressLines(iterations, "mnist-paper")

    def report(g, row):
        progress.update(values={"V": row["V"], "D(x)": row["D_real"], "D(G(z))": row["D_fake"]})

    gan.train(iterations, callback=report)
    print(f"trained in {time.perf_counter() - t0:.1f} s")
    lesson_io.saved(viz.plot_history(gan.history, os.path.join(args.out, "07_history.png"),
                                     title=f"mnist-paper, {iterations} iterations"))



def save_figure(fig, name):
    path = os.path.join(args.out, name)
    lesson_io.save_figure(fig, path, dpi=110)


rng = backend.default_rng(args.seed + 99)
samples = backend.to_host(gan.sample(100, rng=rng)).astype(np.float32)
fig, ax = plt.subplots(figsize=(6, 6.3))
lesson_io.draw_image_grid(ax, samples, 10, title=f"100 samples of the {which_g}")
save_figure(fig, "07_samples.png")
print(f"samples: mean pixel {samples.mean():.3f} (training data {train.mean():.3f}), "
      f"pixels above 0.5: {100 * (samples > 0.5).mean():.1f}% (data {100 * (train > 0.5).mean():.1f}%)")

# %% [markdown]
# ## 3. Nearest training neighbours (Figure 2's rightmost column)
#
# Euclidean distance in pixel space, the paper's notion of "nearest". Each
# sample is compared with all 50,000 training images; as a yardstick, so
# are 100 test images (never trained on).

# %%
d_samples = metrics.squared_distances(samples, train)          # (100, 50000)
d_test = metrics.squared_distances(test[:100], train)
nearest = d_samples.argmin(axis=1)
dist_s = np.sqrt(d_samples.min(axis=1))
dist_t = np.sqrt(d_test.min(axis=1))
dist_black = float(np.sqrt((train.astype(np.float64) ** 2).sum(axis=1).min()))   # an all-black image's
print(f"distance to the nearest training image: samples median {np.median(dist_s):.2f} "
      f"(min {dist_s.min():.2f}); test images median {np.median(dist_t):.2f} (min {dist_t.min():.2f}); "
      f"an all-black image {dist_black:.2f}")
# what the numbers say (and what they do not)
if dist_s.min() < dist_t.min():
    print(f"  some samples lie closer to a training image ({dist_s.min():.2f}) than any test digit does "
          f"({dist_t.min():.2f}): look at 07_nearest.png for copies of training images")
else:
    print(f"  no sign of copying: no sample is nearer a training image ({dist_s.min():.2f} at the closest) "
          f"than a test digit, never trained on, can be ({dist_t.min():.2f})")
if np.median(dist_s) < np.median(dist_t):
    print(f"  the samples lie closer to the training images than unseen test digits do. That alone shows "
          f"neither copying nor quality: pixel distance favours images with little ink (an all-black image "
          f"is {dist_black:.2f} away). Judge the digits in 07_nearest.png.")
else:
    print("  the samples lie farther from every training image than unseen test digits do: "
          "G does not yet draw images as close to the data as real digits are")
fig, ax = plt.subplots(figsize=(8, 2.4))
pairs = np.concatenate([samples[:10], train[nearest[:10]]])   # row 1 samples, row 2 their neighbours
lesson_io.draw_image_grid(ax, pairs, 10, row_labels=["sample", "nearest\ntraining image"],
                          col_labels=[f"{d:.2f}" for d in dist_s[:10]],
                          title="Samples and their nearest training images (distance under each pair)")
save_figure(fig, "07_nearest.png")

# %% [markdown]
# ## 4. Walking in z (Figure 3)
#
# For each row two noise vectors z_0, z_1 from the prior; the row shows
# G((1 - t) z_0 + t z_1) for t = 0, 1/9, ..., 1.

# %%
steps = np.linspace(0.0, 1.0, 10)
z_ends = backend.to_host(run.noise(16, backend.default_rng(args.seed + 5))).astype(np.float64)
rows = []
for r in range(8):
    z0, z1 = z_ends[2 * r], z_ends[2 * r + 1]
    rows.append((1 - steps)[:, None] * z0 + steps[:, None] * z1)
z_path = backend.to_device(np.concatenate(rows), dtype=gan.G.dtype)
G = gan.G
G.eval()
with no_grad():
    walk = backend.to_host(G.forward(z_path))
G.train()
step_change = np.abs(np.diff(walk.reshape(8, 10, -1), axis=1)).mean(axis=2)
print(f"interpolation: mean |pixel change| between neighbouring steps {step_change.mean():.4f} "
      f"(largest single step {step_change.max():.4f})")
fig, ax = plt.subplots(figsize=(6, 5.3))
lesson_io.draw_image_grid(ax, walk, 10, col_labels=[f"{s:.2f}" for s in steps],
                          title="G((1 - t) z0 + t z1): one row per pair z0, z1; t under each column")
save_figure(fig, "07_interpolation.png")
print(f"figures are in {os.path.abspath(args.out)}")
