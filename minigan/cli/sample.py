"""``minigan sample CHECKPOINT``: draw from a checkpoint's generator (eval mode) into
NAME.npy and a figure NAME.png. No data set is read: the preset is rebuilt
without its data (``restore_generator``) and G's parameters come from the checkpoint."""
from __future__ import annotations

import math
import os

import numpy as np

from .. import backend, checkpoint
from .common import EXIT_OK, UsageError, UsageParser, entry, int_at_least, use_backend
from .reports import data_kind, histogram_1d, viz

__all__ = ["sample_main", "restore_generator"]


def sample_main(argv):
    return entry("minigan sample", _sample, argv)


def restore_generator(source):
    """``(run, checkpoint)``: the run of a checkpoint rebuilt only to be drawn from
    (``presets.restore_run(source, load_data=False)``: no data set is read or downloaded)."""
    from .. import presets
    return presets.restore_run(source, load_data=False)


def _sample_paths(out, ckpt_path, iteration, averaged=False):
    """NAME.npy and NAME.png; by default sampled_itN.* (sampled_itN_averaged.* for the
    averaged G) beside the checkpoint (never train's own samples.png)."""
    name = f"sampled_it{iteration}" + ("_averaged" if averaged else "")
    if out is None:
        base = os.path.join(os.path.dirname(os.path.abspath(ckpt_path)), name)
    elif os.path.isdir(out):
        base = os.path.join(out, name)
    else:
        root, ext = os.path.splitext(out)
        base = root if ext.lower() in (".npy", ".png") else out
    npy, png = base + ".npy", base + ".png"
    folder = os.path.dirname(os.path.abspath(npy))
    if not os.path.isdir(folder):
        raise UsageError(f"--out {out}: folder {folder} does not exist")
    for path in (npy, png):
        if os.path.isdir(path):
            raise UsageError(f"--out {out}: {path} is a folder")
    return npy, png


def _sample(argv):
    prog = "minigan sample"
    p = UsageParser(prog=prog, description="Draw samples from a checkpoint's generator (eval mode).")
    p.add_argument("checkpoint", help="a checkpoint.npz written by minigan train")
    p.add_argument("-n", type=int_at_least(1, "-n"), default=1000, help="number of samples (default 1000)")
    p.add_argument("--out", help="where to write NAME.npy and NAME.png (default: sampled_itN.* beside "
                                 "the checkpoint, N its iteration, _averaged added with --averaged; "
                                 "a folder puts them in it)")
    p.add_argument("--seed", type=int_at_least(0, "--seed"), default=0, help="noise seed (default 0)")
    p.add_argument("--averaged", action="store_true",
                   help="sample G with the running average of its parameters (a run trained with --g-average)")
    p.add_argument("--backend", choices=("numpy", "cupy"), default=None,
                   help="array backend (default: the one the checkpoint was trained on)")
    p.add_argument("--data-dir", metavar="FOLDER",
                   help="not needed (sampling reads no data set); accepted for older scripts")
    args = p.parse_args(argv)
    ckpt = checkpoint.read(args.checkpoint)
    npy, png = _sample_paths(args.out, args.checkpoint, ckpt.iteration, args.averaged)
    use_backend(args.backend or ckpt.config.get("backend", "numpy"))
    try:
        run, ckpt = restore_generator(ckpt)
    except (ValueError, TypeError, OSError) as exc:
        raise UsageError(f"cannot rebuild preset {ckpt.preset!r}: {exc}") from None
    try:
        samples = backend.to_host(run.trainer.sample(args.n, rng=backend.default_rng(args.seed),
                                                     averaged=args.averaged))
    except ValueError as exc:                      # --averaged, and the run kept no average
        raise UsageError(f"--averaged: {args.checkpoint}: {exc}") from None
    checkpoint.atomic_write(npy, lambda f: np.save(f, samples))
    kind = data_kind(run)
    if kind == "2d":
        viz().plot_samples_2d(samples, run.data, png)
    elif kind == "image":
        shown = samples[:100]
        viz().image_grid(shown, png, nrow=int(math.ceil(math.sqrt(len(shown)))))
    elif kind == "1d":
        histogram_1d(samples, run.data, png)
    else:
        png = None
    who = "G" if hasattr(run.trainer, "G") else "the decoder"      # an autoencoder's samples: its decoder's
    print(f"{prog}: {args.n} samples of {'the averaged ' if args.averaged else ''}{who} at iteration "
          f"{ckpt.iteration} ({ckpt.preset}), shape {samples.shape}")
    print(f"  {npy}")
    if png:
        print(f"  {png}")
    return EXIT_OK
