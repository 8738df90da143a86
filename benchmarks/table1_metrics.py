"""Table 1's models scored by every sample-quality metric: which metrics reward an
average of G, and which see its blur?

    python benchmarks/table1_metrics.py RUN --data-dir ../shared/data [--parzen] [--figure F.png]

RUN is a folder written by ``benchmarks/table1_parzen.py ... --average DECAY ...``: its
``last.npz`` (the trained G) and ``averages.npz`` (each running average of G's
parameters, saved with the checkpoint of the same iteration); ``--g-params`` adds the
G of other parameter files (the run's ``G_epochNNN.npz``). Every generator draws
its samples from the same noise (``--seed``); real training images, as many, are the
reference row. Each row is scored as ``minigan score`` scores one
(``minigan.cli.score.score_row``): Inception score, FID, precision and recall (k = 3),
density and coverage (k = 5) against the MNIST test set in the feature space of
minigan's MNIST classifier, and with ``--parzen`` Table 1's Parzen estimate.

Written beside the run (or to ``--out``): ``metrics_itN.json`` (every number, the
command, the machine, the seconds) and ``metrics_itN.md`` (the table). ``--figure``
draws the first 100 samples of each row with its scores above it.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))      # table1_parzen, beside this script

from minigan import backend, presets  # noqa: E402
from minigan.cli.score import default_classifier, score_row  # noqa: E402
from minigan.data.mnist import load_mnist  # noqa: E402
from minigan.metrics import kth_neighbour_radii  # noqa: E402
from minigan.optim import ParameterAverage  # noqa: E402
import table1_parzen  # noqa: E402 -- its averages.npz layout and loader


def load_averages(run_dir, G, iteration):
    """{'average DECAY': ParameterAverage} from RUN/averages.npz, which must hold ``iteration``:
    the decays named in the file, each restored by table1_parzen's own ``load_averages``."""
    path = Path(run_dir) / "averages.npz"
    if not path.exists():
        return {}
    with np.load(path) as z:
        names = sorted({k.split("/", 1)[0] for k in z.files if "/" in k}, key=lambda n: float(n.split()[-1]))
    averages = {name: ParameterAverage(G, float(name.split()[-1])) for name in names}

    def error(msg):
        raise SystemExit(msg)
    table1_parzen.load_averages(path, averages, iteration, error)
    return averages


def add_real_row(rows, panels, seconds, train, n, score):
    """The reference row: the first n training images, scored as the samples are
    (``score(name, images)``), appended to ``rows`` and ``panels``, its time to ``seconds``."""
    t = time.perf_counter()
    real = train[:n].reshape(n, -1)
    rows.append(score("real train", real))
    panels.append((rows[-1], real))
    seconds["real train"] = time.perf_counter() - t


def provenance(classifier, script, argv):
    """What a result file records of how it was made: the classifier, the command, date, machine."""
    return {"classifier": {"path": None if classifier.path is None else str(classifier.path),
                           "test_accuracy": classifier.test_accuracy, "features": classifier.width},
            "command": shlex.join(["python", f"benchmarks/{script}", *(sys.argv[1:] if argv is None else argv)]),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.processor() or platform.machine()}, {platform.system()}, NumPy {np.__version__}"}


def format_markdown(result):
    parzen = "parzen_ll" in result["rows"][0]
    head = "| model | IS | FID | precision | recall | density | coverage |" + (" Parzen LL |" if parzen else "")
    lines = [head, "|---|" + "---:|" * (6 + parzen)]
    for r in result["rows"]:
        cells = [r["generator"], f"{r['inception_score']:.2f} ± {r['inception_score_std']:.2f}", f"{r['fid']:.2f}",
                 f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['density']:.3f}", f"{r['coverage']:.3f}"]
        if parzen:
            cells.append(f"{r['parzen_ll']:.1f} ± {r['parzen_se']:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def draw_figure(path, panels):
    """One 10 x 10 grid of samples per row of the table, its scores as the title."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 4.3))
    for ax, (row, images) in zip(np.atleast_1d(axes), panels):
        grid = images[:100].reshape(10, 10, 28, 28).transpose(0, 2, 1, 3).reshape(280, 280)
        ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
        ax.set_axis_off()
        title = (f"{row['generator']}\nFID {row['fid']:.2f}  IS {row['inception_score']:.2f}\n"
                 f"P {row['precision']:.2f}  R {row['recall']:.2f}  D {row['density']:.2f}  C {row['coverage']:.2f}")
        if "parzen_ll" in row:
            title += f"\nParzen {row['parzen_ll']:.1f}"
        ax.set_title(title, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="folder of a table1_parzen.py run (last.npz, averages.npz)")
    p.add_argument("--data-dir", default=None, help="folder holding mnist/ (default: the run's, MINIGAN_DATA)")
    p.add_argument("--n-samples", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0, help="seed of the noise, the same for every generator")
    p.add_argument("--parzen", action="store_true", help="also Table 1's Parzen estimate (sigma on 1,000 "
                   "validation images; about a minute per row on 2 cores)")
    p.add_argument("--out", default=None, help="folder for metrics_itN.json/.md (default: the run folder)")
    p.add_argument("--figure", default=None, help="PNG: each row's first 100 samples under its scores")
    p.add_argument("--g-params", nargs="+", default=[], metavar="FILE",
                   help="also score G with the parameters of each file (the run's G_epochNNN.npz), "
                        "a row named after the file")
    p.add_argument("--classifier-cache", metavar="FOLDER", default=None,
                   help="folder of the cached MNIST classifier (default ~/.cache/minigan; trained there if absent)")
    args = p.parse_args(argv)
    run_dir = Path(args.run)
    t0 = time.perf_counter()
    run, ckpt = presets.restore_image_run(str(run_dir / "last.npz"), load_data=False,
                                          needed_by="table1_metrics.py scores MNIST images")
    gan = run.trainer
    averages = load_averages(run_dir, gan.G, gan.iteration)
    data_dir = args.data_dir or ckpt.options.get("data_dir")
    test = load_mnist("test", data_dir=data_dir)[0][:10000]
    train = load_mnist("train", data_dir=data_dir)[0]
    parzen = (load_mnist("valid", data_dir=data_dir)[0][:1000], test) if args.parzen else None
    classifier = default_classifier(data_dir, args.classifier_cache,
                                    say=lambda line: print(line, file=sys.stderr, flush=True))
    test_features = classifier.features(test)
    test_sq_radii = kth_neighbour_radii(test_features, (3, 5), squared=True)

    generators = {"trained G": None, **averages}
    for path in args.g_params:
        with np.load(path) as z:
            generators[Path(path).stem] = {k: z[k] for k in z.files}
    trained = {k: v.copy() for k, v in gan.G.params.items()}
    def score(name, images):
        return score_row(name, images, test_features, classifier, parzen=parzen, test_sq_radii=test_sq_radii)

    rows, panels, seconds = [], [], {}
    for name, how in generators.items():
        t = time.perf_counter()
        rng = backend.default_rng(args.seed)                      # the same z for every generator
        if how is None:
            images = gan.sample(args.n_samples, rng)
        elif isinstance(how, dict):                               # parameters from a file
            gan.G.load_state_dict({**gan.G.state_dict(), **how})
            images = gan.sample(args.n_samples, rng)
            gan.G.load_state_dict({**gan.G.state_dict(), **trained})
        else:
            with how.applied():
                images = gan.sample(args.n_samples, rng)
        images = backend.to_host(images).reshape(args.n_samples, -1)
        rows.append(score(name, images))
        panels.append((rows[-1], images))
        seconds[name] = time.perf_counter() - t
        print(f"{name}: {rows[-1]} ({seconds[name]:.1f} s)", flush=True)
    add_real_row(rows, panels, seconds, train, args.n_samples, score)

    epoch = gan.iteration // 500 if ckpt.preset == "mnist-paper" else None
    result = {"run": str(run_dir), "iteration": int(gan.iteration), "epoch": epoch, "preset": ckpt.preset,
              "options": ckpt.options, "n_samples": args.n_samples, "seed": args.seed,
              "rows": rows, "seconds": {**seconds, "total": time.perf_counter() - t0},
              **provenance(classifier, "table1_metrics.py", argv)}
    out = Path(args.out) if args.out else run_dir
    out.mkdir(parents=True, exist_ok=True)
    stem = f"metrics_it{gan.iteration}"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    table = format_markdown(result)
    (out / f"{stem}.md").write_text(f"{result['command']}\n{result['date']}, iteration {gan.iteration}\n\n"
                                    f"{table}\n")
    print(table)
    if args.figure:
        draw_figure(args.figure, panels)
        print(f"wrote {args.figure}")
    print(f"wrote {out / stem}.json and .md ({result['seconds']['total']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
