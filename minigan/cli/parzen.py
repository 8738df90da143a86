"""``minigan parzen CHECKPOINT``: the Parzen-window log-likelihood of a checkpoint's
generator on the MNIST test set, by the GAN paper's protocol (Table 1); the
metric itself is ``minigan.metrics.parzen_protocol``."""
from __future__ import annotations

import os
import sys

import numpy as np

from .. import backend, presets
from ..metrics import parzen_protocol
from .common import ArgumentParser, check_data_dir, entry, fail

__all__ = ["parzen_main", "recorded_data_dir"]

PROG = "minigan parzen"


def recorded_data_dir(ckpt):
    """The data folder the checkpoint's run was trained with (its option ``data_dir``), if it is
    still a folder; else None."""
    folder = ckpt.options.get("data_dir")
    return folder if isinstance(folder, str) and os.path.isdir(folder) else None


def _parser():
    p = ArgumentParser(prog=PROG,
                       description="Parzen-window log-likelihood of a checkpoint's generator on the "
                                   "MNIST test set, by the GAN paper's protocol (Table 1).")
    p.add_argument("checkpoint", help="checkpoint file written by 'minigan train'")
    p.add_argument("--data-dir", metavar="FOLDER", default=None,
                   help="folder with the MNIST files (else the folder the run was trained with, "
                        "MINIGAN_DATA, the cache)")
    p.add_argument("--kind", default="mnist", choices=("mnist", "fashion-mnist"),
                   help="which images: the test set scored and the real-data ceiling (default mnist)")
    p.add_argument("--n-samples", type=int, default=10000, help="generator samples (default and paper: 10,000)")
    p.add_argument("--n-valid", type=int, default=1000,
                   help="validation images for sigma (default and paper: 1,000)")
    p.add_argument("--n-test", type=int, default=10000, help="test images scored (default and paper: 10,000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise for the samples (default 0)")
    p.add_argument("--averaged", action="store_true",
                   help="score G with the running average of its parameters (a run trained with --g-average)")
    p.add_argument("--no-ceiling", action="store_true", help="skip the real-data ceiling")
    p.add_argument("--float64", action="store_true", help="float64 distances (slower reference)")
    return p


def parzen_main(argv=None):
    """``minigan parzen CHECKPOINT [--data-dir DIR] [--n-samples 10000]``."""
    return entry(PROG, _parzen, sys.argv[1:] if argv is None else argv)


def _parzen(argv):
    from ..data.mnist import MNISTMissingError, load_mnist
    p = _parser()
    args = p.parse_args(argv)                      # --help, or a usage error: SystemExit (one line, status 2)
    for name in ("n_samples", "n_valid", "n_test"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    check_data_dir(args.data_dir)
    try:
        run, ckpt = presets.restore_image_run(
            args.checkpoint, load_data=False,
            needed_by=f"the Parzen protocol of Table 1 scores {args.kind} test images")
        sample_fn = lambda n, rng: run.trainer.sample(n, rng, averaged=args.averaged)   # noqa: E731
        try:
            sample_fn(1, backend.default_rng(0))
        except ValueError as exc:                  # --averaged, and the run kept no average
            raise ValueError(f"{args.checkpoint}: {exc}") from None
        data_dir = args.data_dir or recorded_data_dir(ckpt)     # as minigan resume looks for it
        valid, _ = load_mnist("valid", data_dir=data_dir, kind=args.kind)
        test, _ = load_mnist("test", data_dir=data_dir, kind=args.kind)
        train = None if args.no_ceiling else load_mnist("train", data_dir=data_dir, kind=args.kind)[0]
    except MNISTMissingError:
        raise                                      # entry prints it, one line, the same for every command
    except (OSError, ValueError, KeyError) as exc:
        return fail(PROG, str(exc))
    valid, test = valid[:args.n_valid], test[:args.n_test]
    dtype = np.float64 if args.float64 else np.float32
    samples = backend.to_host(sample_fn(args.n_samples, backend.default_rng(args.seed)))
    try:
        res = parzen_protocol(samples.reshape(samples.shape[0], -1), valid, test, dtype=dtype)
    except ValueError as exc:                   # e.g. a checkpoint of a model that does not draw images
        return fail(PROG, f"{args.checkpoint}: {exc}")
    print(f"checkpoint   {args.checkpoint}")
    print(f"{'averaged G' if args.averaged else 'generator':12s} sigma {res.sigma:.4f}  "
          f"LL {res.ll:8.1f} +- {res.se:.1f} nats  ({res.n_samples} samples, {res.n_test} test images, "
          f"sigma on {valid.shape[0]} validation)")
    if train is not None:
        ceil = parzen_protocol(train[:args.n_samples], valid, test, dtype=dtype)
        print(f"real data    sigma {ceil.sigma:.4f}  LL {ceil.ll:8.1f} +- {ceil.se:.1f} nats  "
              f"(the ceiling: {ceil.n_samples} real training images in place of samples)")
    print("paper, Table 1 (MNIST), for reference: adversarial nets 225 +- 2, Deep GSN 214 +- 1.1, "
          "DBN 138 +- 2, Stacked CAE 121 +- 1.6 (fully trained models)")
    shorter = shorter_than_the_preset(ckpt)
    if shorter:
        print(f"this G trained for {ckpt.iteration:,} of {ckpt.preset}'s {shorter:,} iterations: "
              "its LL is not comparable with the paper's")
    return 0


def shorter_than_the_preset(ckpt):
    """The preset's full number of iterations where the checkpoint's run stopped short of it, else None."""
    from .describe import preset_defaults
    try:
        full = int(preset_defaults(ckpt.preset)["iterations"])
    except Exception:                  # no preset named, or one this minigan does not build
        return None
    return full if ckpt.iteration < full else None
