# %% [markdown]
# # Lesson 09 -- How to evaluate a GAN: seven numbers, five known faults
#
# **Paper:** Goodfellow et al. (2014), Section 5 and Table 1 report one
# number, the Parzen-window log-likelihood, and warn that it "has somewhat high
# variance and does not perform well in high dimensional spaces". Later work
# proposed others: the Inception score (Salimans et al. 2016), the Frechet
# distance, FID (Heusel et al. 2017), precision and recall (Kynkaanniemi et al.
# 2019), density and coverage (Naeem et al. 2020). Each sees some faults and
# misses others.
#
# No GAN is needed to see which: we build sample sets from real MNIST images
# whose faults we know, and score each against the MNIST test set.
#
# * (a) real training images -- the reference: what a perfect G would draw
# * (b) the same images blurred (3 x 3 box blur)
# * (c) the same images with pixel noise, N(0, 0.2^2), clipped to [0, 1]
# * (d) mode dropping: real training images of digits 0-4 only
# * (e) mode collapse: one training image, repeated
#
# IS, FID, precision, recall, density and coverage are computed on the
# features and class probabilities of an MNIST classifier
# (`minigan.metrics.mnist_classifier`); the Parzen estimate on pixels (lesson 08).
#
# (한국어 요약) 논문의 5절과 Table 1은 Parzen 창 로그 우도 하나만 보고하며, 그것이 분산이 크고 고차원에서 잘 작동하지 않는다고 경고합니다. 이후 연구가 다른
# 지표를 제안했습니다: 인셉션 점수(IS), 프레셰 인셉션 거리(FID), 정밀도와 재현율, 밀도와 커버리지. 지표마다 보는 결함과 놓치는 결함이 다릅니다. 이 레슨은 결함을
# 알고 있는 실제 MNIST 표본 집합(흐림, 잡음, 숫자 0-4만, 한 이미지 반복)으로 그것을 확인합니다.
#
# **What to look at**
# 1. The printed table: one row per set, one column per metric (the arrow says
#    which way is better).
# 2. The lines under it, computed from the table: which metrics rank blur
#    above the reference (the Parzen estimate may: lesson 08), which see the
#    dropped digits (recall and coverage should fall while precision stays),
#    and which see the collapse (IS falls towards 1).
# 3. `09_metrics.png`: samples of every set, and each metric's bars.
#
# The classifier: the cached one (`python benchmarks/mnist_classifier.py`
# trains it) when present; otherwise, with `--quick`, a tiny one trained here
# in seconds (its numbers differ from the real one's: the feature space is
# another one); without `--quick`, the real one is trained here (minutes) and
# cached. The MNIST files are read from `--data-dir`, else `$MINIGAN_DATA`,
# else the cache folder; without them the lesson says so and stops (exit status 0).
#
# Time: the default run took 1 min 31 s (54 s of CPU time) on a 2-core machine beside other jobs
# (load about 6; one BLAS thread, 2026-12-07), with the classifier already cached (training it the
# first time adds minutes). (한국어: 기본 실행은 다른 작업이 도는 2코어 기계에서 1분 31초, CPU 시간
# 54초, 분류기가 이미 캐시에 있을 때; 처음 학습하면 몇 분 더 걸림.)
#
# Run: `python lessons/09_evaluating_gans.py [--data-dir DIR] [--out DIR] [--quick] [--checkpoint CKPT]`
# (`--help` lists every option; an option the lesson does not know is an error.)

# %%
import os
import sys
import tempfile
import time

from minigan import lesson_io

parser = lesson_io.parser("09", "how to evaluate a GAN", out="09_evaluating_gans", mnist=True,
                           quick="1,000 samples per set, 1,000 test images; "
                                 "a tiny classifier if none is cached (seconds)")
parser.add_argument("--checkpoint", default=None,
                    help="a checkpoint of 'minigan train mnist-paper': its G's samples are scored as a sixth row")
args = parser.parse_args()   # first, so that a mistyped option is refused at once

import numpy as np
import matplotlib
if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt

from minigan import backend, metrics

n_samples, n_valid, n_test = (1000, 300, 1000) if args.quick else (10000, 1000, 10000)


# a bad --checkpoint is refused before anything is read or written
checked = lesson_io.image_run_or_refuse("09", args.checkpoint, load_data=False) if args.checkpoint else None

# %% [markdown]
# ## 1. The data (or a clean stop without it)

# %%
(train, train_labels), (valid, _), (test, _) = lesson_io.mnist_or_stop(
    "09", ("train", "valid", "test"), kind=args.kind, data_dir=args.data_dir, download=args.download)
os.makedirs(args.out, exist_ok=True)
t_start = time.perf_counter()
valid, test = valid[:n_valid], test[:n_test]
print(f"{args.kind}: {n_samples} samples per set, scored against {len(test)} test images "
      f"(Parzen sigma chosen on {len(valid)} validation images)")

# %% [markdown]
# ## 2. The classifier whose features the metrics read
#
# FID, precision/recall and density/coverage compare *features* (the
# classifier's 128-wide layer before its output), IS reads its class
# probabilities. A different classifier gives different numbers: compare
# numbers only when they come from the same classifier.

# %%
try:
    clf = metrics.mnist_classifier(data_dir=args.data_dir, allow_training=False)
    print(f"classifier: the cached one ({clf.path}), test accuracy {clf.test_accuracy:.4f}")
except metrics.ClassifierNotCached:
    if args.quick:
        # a tiny classifier, trained in seconds, kept in a temporary folder (never in the cache,
        # where it would replace the real one)
        tiny = dict(hidden=[256], features=64, epochs=3, m=100, n_train=20000, keep_input=1.0, keep_hidden=0.8)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            clf = metrics.mnist_classifier(data_dir=args.data_dir, cache_dir=tmp, **tiny)
        print(f"classifier: none cached; a tiny one (hidden {tiny['hidden']}, {tiny['features']} features, "
              f"{tiny['epochs']} epochs on {tiny['n_train']} images) trained in {time.perf_counter() - t0:.1f} s, "
              f"test accuracy {clf.test_accuracy:.4f}")
        print("  note: a weak classifier gives other numbers than the real one (its features differ); "
              "run without --quick, or `python benchmarks/mnist_classifier.py`, for the real one")
    else:
        print("classifier: none cached; training the real one now (minutes on 2 cores; cached afterwards)")
        t0 = time.perf_counter()
        clf = metrics.mnist_classifier(data_dir=args.data_dir, log=print)
        print(f"classifier: trained in {time.perf_counter() - t0:.0f} s, test accuracy {clf.test_accuracy:.4f}, "
              f"cached in {clf.path}")
if args.kind != "mnist":
    print(f"  note: the classifier reads digits; on {args.kind} its features are not made for the images")

# %% [markdown]
# ## 3. The sample sets, faults known

# %%
def box_blur(images):
    """3x3 box blur of 28x28 images (edges padded by replication)."""
    img = images.reshape(-1, 28, 28)
    padded = np.pad(img, ((0, 0), (1, 1), (1, 1)), mode="edge")
    out = sum(padded[:, i:i + 28, j:j + 28] for i in range(3) for j in range(3)) / 9.0
    return out.reshape(len(images), -1).astype(np.float32)


rng = np.random.default_rng(args.seed)
real = train[rng.choice(len(train), n_samples, replace=False)]
low = np.flatnonzero(train_labels <= 4)
NOISE = 0.2
sets = {
    "(a) real (reference)": real,
    "(b) blurred 3x3": box_blur(real),
    "(c) noise 0.2": np.clip(real + NOISE * rng.standard_normal(real.shape), 0, 1).astype(np.float32),
    "(d) digits 0-4 only": train[rng.choice(low, n_samples, replace=False)],
    "(e) one image repeated": np.repeat(real[:1], n_samples, axis=0),
}
if checked is not None:
    g = backend.to_host(checked.trainer.sample(n_samples, rng=backend.default_rng(args.seed + 1)))
    sets[f"(f) G, iteration {checked.trainer.iteration}"] = g.reshape(n_samples, -1).astype(np.float32)

# %% [markdown]
# ## 4. Seven numbers for each set
#
# * Parzen LL (nats, higher is better): lesson 08's protocol, on pixels.
# * IS (higher): exp E KL(p(y|x) || p(y)); sure *and* varied classes. At most 10.
# * FID (lower): the Frechet distance between Gaussians fitted to the features.
# * precision (higher): the share of samples inside the test set's k-NN balls (k = 3): realism.
# * recall (higher): the share of test images inside the samples' k-NN balls: variety.
# * density (higher, may exceed 1) and coverage (higher): the same two ideas,
#   both with the test set's balls (k = 5), less fooled by outliers.

# %%
def probabilities(x):
    return backend.to_host(clf.probabilities(x))


def features(x):
    return np.asarray(backend.to_host(clf.features(x)), dtype=np.float64)


test_feat = features(test)
rows = {}
for name, x in sets.items():
    t0 = time.perf_counter()
    f = features(x)
    p = metrics.parzen_protocol(x, valid, test)
    is_mean, _ = metrics.inception_score(probabilities(x), splits=10, seed=args.seed)
    prec, rec = metrics.precision_recall(test_feat, f, k=3)
    dens, cov = metrics.density_coverage(test_feat, f, k=5)
    rows[name] = dict(parzen=p.ll, IS=is_mean, FID=metrics.frechet_distance(test_feat, f),
                      precision=prec, recall=rec, density=dens, coverage=cov, seconds=time.perf_counter() - t0)

COLUMNS = [("parzen", "Parzen LL ^", "{:10.1f}"), ("IS", "IS ^", "{:6.2f}"), ("FID", "FID v", "{:8.2f}"),
           ("precision", "prec ^", "{:6.3f}"), ("recall", "recall ^", "{:8.3f}"),
           ("density", "dens ^", "{:6.3f}"), ("coverage", "cover ^", "{:7.3f}")]
print(f"\n{'sample set':26s} |" + "".join(f" {head:>{len(fmt.format(0.0))}s}" for _, head, fmt in COLUMNS))
for name, r in rows.items():
    print(f"{name:26s} |" + "".join(" " + fmt.format(r[key]) for key, _, fmt in COLUMNS)
          + f"   [{r['seconds']:.1f} s]")

# %% [markdown]
# ## 5. Where they agree, where they disagree
#
# Every sentence below is computed from the table above: it says what this
# run measured (another seed, classifier or sample size can move a close call).

# %%
REF, BLUR, NOISY, HALF, ONE = list(sets)[:5]
a = rows[REF]
higher_better = {"parzen": True, "IS": True, "FID": False, "precision": True, "recall": True,
                 "density": True, "coverage": True}


def better(key, x, y):
    """True when the value x is better than y on metric key."""
    return x > y if higher_better[key] else x < y


def ranked_above_reference(name):
    return [key for key in higher_better if better(key, rows[name][key], a[key])]


print()
for name, fault in ((BLUR, "blur"), (NOISY, "noise"), (HALF, "dropping half the digits"),
                    (ONE, "one image repeated")):
    fooled = ranked_above_reference(name)
    print(f"{fault}: scored better than the reference by "
          f"{', '.join(fooled) if fooled else 'no metric'}")

best_fid = min(rows, key=lambda n: rows[n]["FID"])
print(f"FID: the smallest is {rows[best_fid]['FID']:.2f}, of {best_fid}")
print(f"dropped modes: recall {a['recall']:.3f} -> {rows[HALF]['recall']:.3f}, coverage {a['coverage']:.3f} -> "
      f"{rows[HALF]['coverage']:.3f}, while precision {a['precision']:.3f} -> {rows[HALF]['precision']:.3f} "
      f"and IS {a['IS']:.2f} -> {rows[HALF]['IS']:.2f}")
print(f"collapse: IS {a['IS']:.2f} -> {rows[ONE]['IS']:.2f}, recall {a['recall']:.3f} -> {rows[ONE]['recall']:.3f}, "
      f"coverage {a['coverage']:.3f} -> {rows[ONE]['coverage']:.3f}, precision {a['precision']:.3f} -> "
      f"{rows[ONE]['precision']:.3f}")
print(f"blur: Parzen {a['parzen']:.1f} -> {rows[BLUR]['parzen']:.1f} nats, FID {a['FID']:.2f} -> "
      f"{rows[BLUR]['FID']:.2f}, precision {a['precision']:.3f} -> {rows[BLUR]['precision']:.3f}")
# the metrics' verdicts: for each metric, the faults ordered from best to worst score
print("\nranking of the five sets by each metric (best first):")
for key, head, _ in COLUMNS:
    order = sorted(list(sets)[:5], key=lambda n: rows[n][key], reverse=higher_better[key])
    print(f"  {head.rstrip(' ^v'):10s} " + " > ".join(n[:3] for n in order))

# %% [markdown]
# Reading the lines above:
#
# * A metric that puts a faulty set *above* the reference rewards that fault.
#   Lesson 08 found the Parzen estimate rewarding blur; check whether it does
#   here, and whether any feature-space metric does.
# * Mode dropping is a fault of variety, not of each image: every image of
#   set (d) is a real digit. The metrics of variety (recall, coverage) are the
#   ones to see it; the metrics of realism (precision, density) look at each
#   sample and are not built to.
# * IS reads the classes too: p(y) spread over five digits instead of ten
#   caps it near 5, so it may see set (d) as well; it cannot tell *which*
#   digits are missing, and it knows nothing of the test set.
# * Precision and density can *rise* for a faulty set: samples packed into
#   the densest part of the test set's features (one image, or blurred
#   "average" digits) sit inside many test balls. A high precision alone is
#   no evidence of a good G.
# * Mode collapse (e) is the extreme case: IS needs varied classes, so one
#   image brings it towards 1; recall and coverage need variety, so they fall
#   towards 0; precision only asks whether the one image looks real.
# * No single number sees everything: report a realism metric *and* a variety
#   metric, name the classifier, and look at the samples.

# %%
names = list(sets)
fig = plt.figure(figsize=(13, 6.5))
grid = fig.add_gridspec(2, max(len(names), len(COLUMNS)))
for i, name in enumerate(names):
    ax = fig.add_subplot(grid[0, i])
    tiles = sets[name][:16].reshape(4, 4, 28, 28).transpose(0, 2, 1, 3).reshape(112, 112)
    ax.imshow(tiles, cmap="gray", vmin=0, vmax=1)
    ax.set_title(name, fontsize=8)
    ax.axis("off")
colors = plt.cm.tab10(np.arange(len(names)))
for j, (key, head, _) in enumerate(COLUMNS):
    ax = fig.add_subplot(grid[1, j])
    ax.bar(range(len(names)), [rows[n][key] for n in names], color=colors)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([n[1] for n in names], fontsize=8)
    ax.set_title(head, fontsize=9)
    ax.tick_params(axis="y", labelsize=7)
fig.suptitle("Sample sets with known faults (top), and what each metric makes of them (bottom; ^ higher is better)",
             fontsize=10)
fig.tight_layout()
path = os.path.join(args.out, "09_metrics.png")
lesson_io.save_figure(fig, path, dpi=100)
print(f"scored in {time.perf_counter() - t_start:.1f} s")
print(f"figures are in {os.path.abspath(args.out)}")
