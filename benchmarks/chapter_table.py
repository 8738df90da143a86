"""The textbook chapter's comparison, measured: autoencoder, denoising autoencoder, VAE and the GAN
on the same numbers.

    python benchmarks/chapter_table.py --models ae=runs/ae/checkpoint.npz dae=... vae=... \\
        [--gan-run RUN [--gan-average "average 0.999"]] --data-dir ../shared/data [--parzen] \\
        [--out FOLDER] [--figure F.png] [--walk W.png] [--reconstructions R.png]

Every model draws 10,000 samples (``--n-samples``) from its own prior: the VAE from N(0, I), a
plain or denoising autoencoder from the Gaussian fitted to its training codes, the GAN from its
noise. Each row is scored as ``minigan score`` scores one (``minigan.cli.score.score_row``):
Inception score, FID, precision and recall (k = 3), density and coverage (k = 5) against the
MNIST test set in the feature space of minigan's MNIST classifier, and with ``--parzen`` the
GAN paper's Table 1 Parzen estimate (sigma on 1,000 validation images). An autoencoder row
also gets its numbers on the 10,000 test images (``AutoencoderTrainer.evaluate``: the
reconstruction's squared error; a VAE's ELBO). ``--gan-run`` adds a ``table1_parzen.py`` run's
trained G (its ``last.npz``) and, with ``--gan-average``, one of its running averages of G.
Real training images are the reference row.

Written to ``--out``: ``chapter_table.json`` (every number, the command, the machine, the
seconds) and ``chapter_table.md``. ``--figure`` draws each row's first 100 samples under its
scores; ``--walk`` draws straight-line walks in each model's latent space (between two codes
drawn from its prior), the view of the GAN paper's Figure 3; ``--reconstructions`` the first ten
test digits and what each autoencoder gives back (the denoising one from noisy copies too).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from minigan import backend, presets  # noqa: E402
from minigan.cli.score import default_classifier, score_row  # noqa: E402
from minigan.data.mnist import load_mnist  # noqa: E402
from minigan.layers import evaluating  # noqa: E402
from minigan.metrics import kth_neighbour_radii  # noqa: E402
from table1_metrics import add_real_row, draw_figure, load_averages, provenance  # noqa: E402

WALKS, STEPS = 4, 9          # rows and images per row of the latent walk figure


class GANModel:
    """A GAN's G, optionally with one of its running averages applied, as a row of the table."""

    def __init__(self, gan, average=None):
        self.gan, self.average = gan, average

    def codes(self, n, rng):
        return self.gan.noise_sampler(n, rng)

    def decode(self, z):
        from contextlib import nullcontext
        with evaluating(self.gan.G), (self.average.applied() if self.average is not None else nullcontext()):
            return self.gan.G.forward(z)


class AutoencoderModel:
    """An ``AutoencoderTrainer`` as a row of the table."""

    def __init__(self, trainer):
        self.trainer = trainer

    def codes(self, n, rng):
        return self.trainer.sample_codes(n, rng)

    def decode(self, z):
        return self.trainer.decode(z)


def walks(model, seed):
    """WALKS rows of STEPS images: decode (1 - t) z_a + t z_b, t from 0 to 1, z_a, z_b from the prior."""
    ends = model.codes(2 * WALKS, backend.default_rng(seed + 11))
    xp = backend.array_module(ends)
    t = xp.linspace(0, 1, STEPS, dtype=ends.dtype).reshape(1, STEPS, 1)
    z = (1 - t) * ends[:WALKS, None, :] + t * ends[WALKS:, None, :]
    return backend.to_host(model.decode(z.reshape(WALKS * STEPS, -1)))


def draw_walks(path, named):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(named), figsize=(3.0 * len(named), 1.6))
    for ax, (name, images) in zip(np.atleast_1d(axes), named):
        grid = images.reshape(WALKS, STEPS, 28, 28).transpose(0, 2, 1, 3).reshape(WALKS * 28, STEPS * 28)
        ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
        ax.set_axis_off()
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_reconstructions(path, test, models, seed):
    """Ten test digits, then each autoencoder's reconstruction of them (a denoising one's also of a
    corrupted copy, with that copy above it)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x = backend.to_device(test[:10])
    rows, labels = [backend.to_host(x)], ["test digits"]
    for name, model in models.items():
        if not isinstance(model, AutoencoderModel):
            continue
        tr = model.trainer
        xs = x.astype(tr.model.dtype)
        rows.append(backend.to_host(tr.reconstruct(xs)))
        labels.append(f"{name}: reconstruction")
        if tr.corruption is not None:
            noisy = tr.corrupt(xs, backend.default_rng(seed + 5))
            rows += [backend.to_host(noisy), backend.to_host(tr.reconstruct(noisy))]
            labels += [f"{tr.corruption} corruption {tr.corruption_level:g}", f"{name}: from the corrupted"]
    fig, axes = plt.subplots(len(rows), 1, figsize=(6.0, 0.75 * len(rows) + 0.3))
    for ax, row, label in zip(np.atleast_1d(axes), rows, labels):
        ax.imshow(np.clip(row.reshape(10, 28, 28).transpose(1, 0, 2).reshape(28, 280), 0, 1), cmap="gray",
                  vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def format_markdown(result):
    parzen = "parzen_ll" in result["rows"][0]
    head = ("| model | IS | FID | precision | recall | density | coverage |" + (" Parzen LL |" if parzen else "")
            + " test squared error | test ELBO |")
    lines = [head, "|---|" + "---:|" * (8 + parzen)]
    for r in result["rows"]:
        test = r.get("test", {})
        cells = [r["generator"], f"{r['inception_score']:.2f} ± {r['inception_score_std']:.2f}", f"{r['fid']:.2f}",
                 f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['density']:.3f}", f"{r['coverage']:.3f}"]
        if parzen:
            cells.append(f"{r['parzen_ll']:.1f} ± {r['parzen_se']:.1f}")
        cells.append(f"{test['squared_error']:.2f}" if "squared_error" in test else "")
        cells.append(f"{test['elbo']:.1f}" if "elbo" in test else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=[], metavar="NAME=CHECKPOINT",
                   help="checkpoints of minigan train ae|dae|vae (or any preset that draws 28 x 28 images)")
    p.add_argument("--gan-run", default=None, help="folder of a table1_parzen.py run (last.npz, averages.npz)")
    p.add_argument("--gan-average", default=None, metavar="NAME",
                   help="also the GAN run's running average of this name, e.g. 'average 0.999'")
    p.add_argument("--data-dir", default=None, help="folder holding mnist/ (default: MINIGAN_DATA)")
    p.add_argument("--n-samples", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0, help="seed of every model's prior draws")
    p.add_argument("--parzen", action="store_true", help="also Table 1's Parzen estimate")
    p.add_argument("--out", default=".", help="folder for chapter_table.json/.md")
    p.add_argument("--figure", default=None, help="PNG: each row's first 100 samples under its scores")
    p.add_argument("--walk", default=None, help="PNG: walks in each model's latent space")
    p.add_argument("--reconstructions", default=None, help="PNG: ten test digits through each autoencoder")
    p.add_argument("--classifier-cache", metavar="FOLDER", default=None)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    models, info = {}, {}
    for spec in args.models:
        name, eq, path = spec.partition("=")
        if not eq:
            p.error(f"--models {spec}: expected NAME=CHECKPOINT")
        run, ckpt = presets.restore_image_run(path, load_data=False, needed_by="chapter_table.py scores MNIST images")
        models[name] = AutoencoderModel(run.trainer) if hasattr(run.trainer, "evaluate") else GANModel(run.trainer)
        info[name] = {"checkpoint": path, "preset": ckpt.preset, "options": ckpt.options,
                      "iteration": int(run.trainer.iteration)}
    if args.gan_run:
        run, ckpt = presets.restore_image_run(str(Path(args.gan_run) / "last.npz"), load_data=False,
                                              needed_by="chapter_table.py scores MNIST images")
        gan = run.trainer
        name = f"GAN ({ckpt.preset}, {gan.iteration // 500} epochs)"
        models[name] = GANModel(gan)
        info[name] = {"checkpoint": str(Path(args.gan_run) / "last.npz"), "preset": ckpt.preset,
                      "options": ckpt.options, "iteration": int(gan.iteration)}
        if args.gan_average:
            averages = load_averages(args.gan_run, gan.G, gan.iteration)
            if args.gan_average not in averages:
                p.error(f"--gan-average {args.gan_average!r}: the run holds {sorted(averages)}")
            models[f"GAN, {args.gan_average}"] = GANModel(gan, averages[args.gan_average])
            info[f"GAN, {args.gan_average}"] = dict(info[name], average=args.gan_average)
    if not models:
        p.error("nothing to score: give --models and/or --gan-run")
    test = load_mnist("test", data_dir=args.data_dir)[0][:10000]
    train = load_mnist("train", data_dir=args.data_dir)[0]
    parzen = (load_mnist("valid", data_dir=args.data_dir)[0][:1000], test) if args.parzen else None
    classifier = default_classifier(args.data_dir, args.classifier_cache,
                                    say=lambda line: print(line, file=sys.stderr, flush=True))
    test_features = classifier.features(test)
    test_sq_radii = kth_neighbour_radii(test_features, (3, 5), squared=True)
    def score(name, images):
        return score_row(name, images, test_features, classifier, parzen=parzen, test_sq_radii=test_sq_radii)

    rows, panels, walk_panels, seconds = [], [], [], {}
    for name, model in models.items():
        t = time.perf_counter()
        images = backend.to_host(model.decode(model.codes(args.n_samples, backend.default_rng(args.seed))))
        images = images.reshape(args.n_samples, -1)
        row = score(name, images)
        if isinstance(model, AutoencoderModel):
            row["test"] = model.trainer.evaluate(backend.to_device(test, dtype=model.trainer.model.dtype),
                                                 rng=backend.default_rng(args.seed + 3))
        rows.append(row)
        panels.append((row, images))
        walk_panels.append((name, walks(model, args.seed)))
        seconds[name] = time.perf_counter() - t
        print(f"{name}: {row} ({seconds[name]:.1f} s)", flush=True)
    add_real_row(rows, panels, seconds, train, args.n_samples, score)
    result = {"models": info, "n_samples": args.n_samples, "seed": args.seed,
              "rows": rows, "seconds": {**seconds, "total": time.perf_counter() - t0},
              **provenance(classifier, "chapter_table.py", argv)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "chapter_table.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    table = format_markdown(result)
    (out / "chapter_table.md").write_text(f"{result['command']}\n{result['date']}\n\n{table}\n")
    print(table)
    if args.figure:
        draw_figure(args.figure, panels)
        print(f"wrote {args.figure}")
    if args.walk:
        draw_walks(args.walk, walk_panels)
        print(f"wrote {args.walk}")
    if args.reconstructions:
        draw_reconstructions(args.reconstructions, test, models, args.seed)
        print(f"wrote {args.reconstructions}")
    print(f"wrote {out / 'chapter_table.json'} and .md ({result['seconds']['total']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
