"""``minigan score CHECKPOINT``: how good a checkpoint's samples are, by the metrics of
``minigan.metrics`` in the feature space of our MNIST classifier: the Inception score
(of the samples' class probabilities), FID, precision and recall (k = 3), density and
coverage (k = 5), each against the MNIST test set, and optionally Table 1's Parzen
estimate. Real training images, as many as the samples, are scored the same way: the
reference row. The table is printed and every number written as JSON.

``score_checkpoint(path, classifier=...)`` is the same without the command line (tests
pass a small classifier); the command builds the default one (``mnist_classifier()``),
training it first if it is not cached (minutes on 2 cores, said on stderr).
"""
from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from .. import backend, presets
from ..metrics import frechet_distance, inception_score, kth_neighbour_radii, neighbour_scores, parzen_protocol
from ..metrics.classifier import ClassifierNotCached, classifier_cache_path, mnist_classifier
from .common import ArgumentParser, check_data_dir, entry, fail
from .parzen import recorded_data_dir

__all__ = ["score_main", "score_checkpoint", "score_row", "default_classifier", "format_table", "json_path",
           "MIN_SAMPLES", "CLASSIFIER_SETTINGS"]

PROG = "minigan score"
FEATURES = 128                 # the default classifier's feature width: FID needs more samples than this
MIN_SAMPLES = FEATURES + 1
MAX_TEST = 10000
CLASSIFIER_SETTINGS = {}       # keywords for mnist_classifier (empty: the default settings; tests set small ones)
COLUMNS = ("IS", "FID", "precision", "recall", "density", "coverage")


def default_classifier(data_dir=None, cache_dir=None, *, say=None, log=None):
    """The classifier of ``CLASSIFIER_SETTINGS`` (default: the real one), loaded from the cache in
    ``cache_dir`` (default ``~/.cache/minigan``), or trained there when it is not cached, after
    ``say(line)`` tells so (training takes minutes on 2 cores for the default settings)."""
    try:
        return mnist_classifier(data_dir=data_dir, cache_dir=cache_dir, allow_training=False,
                                **CLASSIFIER_SETTINGS)
    except ClassifierNotCached:
        if say is not None:
            say(f"training the MNIST feature classifier (minutes on 2 cores; cached in "
                f"{classifier_cache_path(cache_dir).parent})")
        return mnist_classifier(data_dir=data_dir, cache_dir=cache_dir, log=log, **CLASSIFIER_SETTINGS)


def json_path(checkpoint_path, iteration, averaged=False):
    """score_itN.json beside the checkpoint (score_itN_averaged.json for the average of G)."""
    name = f"score_it{int(iteration)}" + ("_averaged" if averaged else "") + ".json"
    return Path(checkpoint_path).parent / name


def score_row(name, images, test_features, classifier, parzen=None, test_sq_radii=None):
    """One row of the table: ``images`` (n, 784) scored against the test set's features
    ``test_features`` (``classifier.features(test images)``). ``parzen``: (validation
    images, test images) to add Table 1's Parzen estimate (None: none). ``test_sq_radii``:
    (k = 3, k = 5) squared radii of the test set, computed once for every row
    (``kth_neighbour_radii(test_features, (3, 5), squared=True)``; None: computed
    here, the same numbers). Precision, recall, density and coverage come from one pass
    over the test-vs-sample distances (``neighbour_scores``). A dict of plain floats, keyed as the JSON."""
    f = classifier.features(images)
    p = classifier.probabilities(images)
    is_mean, is_std = inception_score(p)
    near = neighbour_scores(test_features, f, k_precision=3, k_density=5, real_sq_radii=test_sq_radii)
    row = {"generator": name, "n": int(len(images)), "inception_score": is_mean, "inception_score_std": is_std,
           "fid": frechet_distance(f, test_features), "precision": near["precision"], "recall": near["recall"],
           "density": near["density"], "coverage": near["coverage"]}
    if parzen is not None:
        valid, test = parzen
        res = parzen_protocol(np.asarray(images, dtype=np.float32).reshape(len(images), -1), valid, test)
        row.update(parzen_ll=res.ll, parzen_se=res.se, parzen_sigma=res.sigma)
    return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in row.items()}


def score_checkpoint(path, *, classifier=None, averaged=False, n_samples=10000, seed=0, data_dir=None,
                     kind="mnist", parzen=False, n_valid=1000, classifier_cache=None, say=None, log=None):
    """Score a checkpoint's generator (``averaged``: the running average of G the run kept):
    a dict with ``rows`` (the generator's, then 'real train'), the classifier's accuracy and
    settings, the sizes, the seed and the seconds each part took. ``classifier``: an
    ``MNISTClassifier`` (None: ``default_classifier(data_dir, classifier_cache, say=, log=)``).
    Bad input (no such checkpoint, no 28 x 28 images, no average, too few samples) is a
    ValueError or OSError; missing MNIST is ``MNISTMissingError``."""
    from ..data.mnist import load_mnist
    if kind != "mnist":
        raise ValueError(f"kind must be 'mnist' (the feature classifier is MNIST's), got {kind!r}")
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2, got {n_samples}")
    t0 = time.perf_counter()
    run, ckpt = presets.restore_image_run(
        str(path), load_data=False, needed_by="minigan score scores MNIST images")
    try:
        run.trainer.sample(1, backend.default_rng(0), averaged=averaged)
    except ValueError as exc:                      # averaged, and the run kept no average
        raise ValueError(f"{path}: {exc}") from None
    data_dir = data_dir or recorded_data_dir(ckpt)
    test = load_mnist("test", data_dir=data_dir, kind=kind)[0]
    train = load_mnist("train", data_dir=data_dir, kind=kind)[0]
    valid = load_mnist("valid", data_dir=data_dir, kind=kind)[0][:n_valid] if parzen else None
    if classifier is None:
        classifier = default_classifier(data_dir, classifier_cache, say=say, log=log)
    if n_samples <= classifier.width:
        raise ValueError(f"n_samples must be more than the classifier's {classifier.width} features "
                         f"(FID's covariances), got {n_samples}")
    n_test = min(n_samples, MAX_TEST, len(test))
    test = test[:n_test]
    reference = train[:n_samples]
    t1 = time.perf_counter()
    samples = backend.to_host(run.trainer.sample(n_samples, backend.default_rng(seed), averaged=averaged))
    samples = samples.reshape(n_samples, -1)
    t2 = time.perf_counter()
    test_features = classifier.features(test)
    test_sq_radii = kth_neighbour_radii(test_features, (3, 5), squared=True)   # once, for every row
    rows = [score_row("averaged G" if averaged else "G", samples, test_features, classifier,
                 parzen=(valid, test) if parzen else None, test_sq_radii=test_sq_radii)]
    t3 = time.perf_counter()
    rows.append(score_row("real train", reference, test_features, classifier,
                     parzen=(valid, test) if parzen else None, test_sq_radii=test_sq_radii))
    t4 = time.perf_counter()
    return {"checkpoint": str(path), "iteration": ckpt.iteration, "preset": getattr(ckpt, "preset", None),
            "averaged": bool(averaged), "n_samples": int(n_samples), "n_real": int(len(reference)),
            "n_test": int(n_test), "n_valid": None if valid is None else int(len(valid)), "seed": int(seed),
            "kind": kind, "data_dir": None if data_dir is None else str(data_dir),
            "classifier": {"path": None if classifier.path is None else str(classifier.path),
                           "test_accuracy": classifier.test_accuracy, "settings": classifier.settings,
                           "seed": classifier.seed, "features": classifier.width},
            "metrics": {"inception_score": "splits=10", "precision_recall": "k=3", "density_coverage": "k=5",
                        "reference": "MNIST test set"},
            "rows": rows,
            "seconds": {"setup": t1 - t0, "sampling": t2 - t1, "generator_row": t3 - t2,
                        "real_row": t4 - t3, "total": t4 - t0}}


def _cells(row):
    cells = [f"{row['inception_score']:.3f} +- {row['inception_score_std']:.3f}", f"{row['fid']:.3f}",
             f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['density']:.4f}", f"{row['coverage']:.4f}"]
    if "parzen_ll" in row:
        cells.append(f"{row['parzen_ll']:.1f} +- {row['parzen_se']:.1f}")
    return cells


def format_table(result):
    """The printed table: a header, then one line per row of ``result['rows']``."""
    clf = result["classifier"]
    heads = list(COLUMNS) + (["Parzen LL"] if "parzen_ll" in result["rows"][0] else [])
    widths = [16, 10, 11, 10, 10, 10, 14][:len(heads)]
    lines = [f"checkpoint  {result['checkpoint']} (iteration {result['iteration']})",
             f"classifier  {clf['path']}: test accuracy {clf['test_accuracy']:.4f}, {clf['features']} features",
             f"{result['n_samples']} samples (seed {result['seed']}) and {result['n_real']} real training "
             f"images, each against {result['n_test']} MNIST test images",
             f"{'':12s}" + "".join(f"{h:>{w}s}" for h, w in zip(heads, widths))]
    for row in result["rows"]:
        lines.append(f"{row['generator']:12s}" + "".join(f"{c:>{w}s}" for c, w in zip(_cells(row), widths)))
    return "\n".join(lines)


def _parser():
    p = ArgumentParser(prog=PROG,
                       description="Inception score, FID, precision, recall, density and coverage of a "
                                   "checkpoint's samples against the MNIST test set, in the feature space of "
                                   "minigan's MNIST classifier, with real training images as the reference "
                                   "row; optionally Table 1's Parzen estimate. Prints a table and writes JSON.")
    p.add_argument("checkpoint", help="checkpoint file written by 'minigan train'")
    p.add_argument("--averaged", action="store_true",
                   help="score G with the running average of its parameters (a run trained with --g-average)")
    p.add_argument("--n-samples", type=int, default=10000,
                   help=f"generator samples, and real training images (default 10,000; at least {MIN_SAMPLES}); "
                        f"the test set scored against: as many, at most 10,000")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise for the samples (default 0)")
    p.add_argument("--data-dir", metavar="FOLDER", default=None,
                   help="folder with the MNIST files (else the folder the run was trained with, "
                        "MINIGAN_DATA, the cache)")
    p.add_argument("--kind", default="mnist", choices=("mnist",),
                   help="which images (mnist only: the feature classifier is MNIST's)")
    p.add_argument("--parzen", action="store_true",
                   help="also Table 1's Parzen-window log-likelihood (sigma on 1,000 validation images)")
    p.add_argument("--json", metavar="FILE", default=None,
                   help="where to write every number (default: score_itN.json beside the checkpoint, "
                        "N its iteration; score_itN_averaged.json with --averaged)")
    p.add_argument("--classifier-cache", metavar="FOLDER", default=None,
                   help="folder of the cached MNIST classifier (default ~/.cache/minigan); trained there "
                        "if absent (minutes)")
    return p


def score_main(argv=None):
    """``minigan score CHECKPOINT [--averaged] [--n-samples 10000] [--parzen] [--json FILE]``."""
    return entry(PROG, _score, sys.argv[1:] if argv is None else argv)


def _score(argv):
    from ..data.mnist import MNISTMissingError
    p = _parser()
    args = p.parse_args(argv)                      # --help, or a usage error: SystemExit (one line, status 2)
    if args.n_samples < MIN_SAMPLES:
        p.error(f"--n-samples must be at least {MIN_SAMPLES}: FID needs more samples than the classifier's "
                f"{FEATURES} features, got {args.n_samples}")
    check_data_dir(args.data_dir)
    if args.json is not None and os.path.isdir(args.json):
        return fail(PROG, f"--json {args.json} is a folder, not a file")
    if args.json is not None and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        return fail(PROG, f"--json {args.json}: its folder does not exist")
    say = lambda line: print(f"{PROG}: {line}", file=sys.stderr, flush=True)     # noqa: E731
    log = lambda line: print(f"  {line}", file=sys.stderr, flush=True)           # noqa: E731
    try:
        result = score_checkpoint(args.checkpoint, averaged=args.averaged, n_samples=args.n_samples,
                                  seed=args.seed, data_dir=args.data_dir, kind=args.kind, parzen=args.parzen,
                                  classifier_cache=args.classifier_cache, say=say, log=log)
    except MNISTMissingError:
        raise                                      # entry prints it, one line, the same for every command
    except (OSError, ValueError, KeyError) as exc:
        return fail(PROG, " ".join(str(exc).split()))
    result["command"] = shlex.join(["minigan", "score", *argv])
    out = Path(args.json) if args.json else json_path(args.checkpoint, result["iteration"], args.averaged)
    try:
        out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        return fail(PROG, f"cannot write {out}: {exc.strerror or exc}")
    print(format_table(result))
    print(f"wrote {out} ({result['seconds']['total']:.1f} s)")
    return 0
