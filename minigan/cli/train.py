"""``minigan train PRESET``: build a preset's run, train it (``fit``), report on it.

What it writes into ``--out`` is listed in ``minigan.cli.files``; its exit
statuses in ``minigan.cli.common``. Bad input is refused before anything is
written; a run that fails to fit in memory before its first checkpoint takes
back the folder and files this command made.
"""
from __future__ import annotations

import argparse
import os
import time

from .. import __version__, threads
from .common import (EXIT_DIVERGED, OutOfMemory, UsageError, UsageParser, build_run, check_data_dir,
                     decay, entry, int_at_least, rate, use_backend)
from .describe import run_description
from .files import CHECKPOINT_NAME, clear_old_run, make_folder, out_folder, remove_created, write_json
from .fit import checkpoint_every, fit
from .reports import report, reporter_for

__all__ = ["train_main", "parser", "preset_settings", "check_settings"]


def train_main(argv):
    with threads.restored():            # the BLAS thread count it sets ends with the command
        return entry("minigan train", _train, argv)


class TrainParser(UsageParser):
    """The parser of ``minigan train``: its help ends with every preset's defaults and
    ``--set`` keys (``describe.presets_help``), built only when the help is shown."""

    def format_help(self):
        from .describe import presets_help
        return super().format_help().rstrip("\n") + "\n\n" + presets_help() + "\n"


def parser():
    from .. import presets
    p = TrainParser(prog="minigan train", formatter_class=argparse.RawDescriptionHelpFormatter,
                    description="Train a model from a preset: a GAN with Algorithm 1, or one of the "
                                "textbook chapter's\nautoencoders (ae, dae, vae). Each preset's defaults, "
                                "the --set keys it takes with their\nvalues, and measured run times are "
                                "listed at the end.")
    p.add_argument("preset", nargs="?", default="toy1d",
                   help=f"one of: {', '.join(presets.PRESETS)} (default toy1d, the paper's Figure 1)")
    p.add_argument("--k", type=int_at_least(1, "--k"), help="D steps per iteration (Algorithm 1's k)")
    p.add_argument("--m", "--batch", dest="m", type=int_at_least(1, "--m"), help="minibatch size m")
    p.add_argument("--lr", type=rate("--lr"), help="learning rate of both players (an autoencoder's: its one rate)")
    p.add_argument("--d-lr", type=rate("--d-lr"), help="D's learning rate (overrides --lr)")
    p.add_argument("--g-lr", type=rate("--g-lr"), help="G's learning rate (overrides --lr)")
    p.add_argument("--g-loss", choices=("minimax", "nonsaturating"), help="G's loss (Section 3)")
    p.add_argument("--order", choices=("sequential", "simultaneous"),
                   help="sequential = Algorithm 1; simultaneous = the released MNIST code")
    p.add_argument("--iterations", type=int_at_least(1, "--iterations"),
                   help="training iterations (default: the preset's)")
    p.add_argument("--seed", type=int_at_least(0, "--seed"), help="random seed (default 0)")
    p.add_argument("--g-average", type=decay("--g-average"), metavar="DECAY",
                   help="also keep a running average of G's parameters (0.999: over ~1,000 iterations); "
                        "training is unchanged, and 'minigan sample/parzen --averaged' use it")
    p.add_argument("--backend", choices=("numpy", "cupy"), default=None,
                   help="array backend (default: $MINIGAN_BACKEND or numpy)")
    p.add_argument("--threads", type=int_at_least(1, "--threads"), metavar="N",
                   help="threads of the matrix products (BLAS); default: $MINIGAN_BLAS_THREADS, else "
                        "$OPENBLAS_NUM_THREADS, else 1 for small networks and every core for the MNIST "
                        "model (minigan.threads); results depend on it, --threads 1 gives the reference")
    p.add_argument("--out", help="output folder (default runs/PRESET)")
    p.add_argument("--force", action="store_true",
                   help="replace a run already in --out (its checkpoint, history, config and figures)")
    p.add_argument("--checkpoint-every", type=int_at_least(0, "--checkpoint-every"),
                   help="save a checkpoint every N iterations (default: every 10%%; 0 = only at the end)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (on a terminal) and no progress lines (off one: a log, a pipe, a notebook)")
    p.add_argument("--no-figures", action="store_true",
                   help="write no figures (history, checkpoint and the final numbers only)")
    p.add_argument("--data-dir", metavar="FOLDER", help="folder holding mnist/ etc. (presets that need real data)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a preset's own option or a technique of Salimans et al. (2016), repeatable, e.g. "
                        "--set noise=gaussian; the keys, their values and defaults: below")
    return p


# the flags that set a common option (presets.COMMON), by option
FLAG_OF = {"k": "--k", "m": "--m", "lr": "--lr", "d_lr": "--d-lr", "g_lr": "--g-lr", "g_loss": "--g-loss",
           "order": "--order", "iterations": "--iterations", "seed": "--seed", "data_dir": "--data-dir",
           "g_average": "--g-average"}


def common_options(preset, args):
    """The options the flags give ``preset`` (those not given are left out): ``--lr`` is both players'
    rate for a GAN and the one rate of an autoencoder. A flag the preset has no use for is an error
    (an autoencoder has no --k, --d-lr, --g-loss, ...)."""
    from .. import presets
    common = presets.COMMON.get(preset, presets.COMMON_OPTIONS)
    given = {"k": args.k, "m": args.m, "d_lr": args.d_lr, "g_lr": args.g_lr, "g_loss": args.g_loss,
             "order": args.order, "iterations": args.iterations, "seed": args.seed, "data_dir": args.data_dir,
             "g_average": args.g_average}
    if "lr" in common:
        given["lr"] = args.lr
    else:                                   # a GAN: --lr is the rate of both players
        given["d_lr"], given["g_lr"] = args.d_lr or args.lr, args.g_lr or args.lr
    refused = [FLAG_OF[k] for k, v in given.items() if v is not None and k not in common]
    if refused:
        takes = ", ".join(FLAG_OF[k] for k in common if k in FLAG_OF)
        raise UsageError(f"preset {preset!r} has no use for {', '.join(refused)}: of the training flags it "
                         f"takes {takes}")
    return {k: v for k, v in given.items() if v is not None}


def preset_settings(pairs):
    """``--set KEY=VALUE`` pairs as a dict; VALUE is read as an int, a float, or else a string."""
    found = {}
    for pair in pairs:
        key, eq, text = pair.partition("=")
        key = key.strip()
        if not eq or not key or not text:
            raise UsageError(f"--set {pair}: expected KEY=VALUE, e.g. --set noise=gaussian")
        if key in FLAG_OF:
            raise UsageError(f"--set {pair}: {key} has its own flag, --{key.replace('_', '-')}")
        for kind in (int, float):
            try:
                found[key] = kind(text)
                break
            except ValueError:
                pass
        else:
            found[key] = text
    return found


def check_settings(preset, settings):
    """``--set`` keys the preset does not take: one line naming what ``--set`` takes for it
    (its own options; the common ones have their own flags, so they are not listed)."""
    from .. import presets
    accepted = presets.OPTIONS.get(preset, presets.COMMON_OPTIONS)
    unknown = [k for k in settings if k not in accepted]
    if not unknown:
        return
    own = [o for o in accepted if o not in presets.COMMON.get(preset, presets.COMMON_OPTIONS)]
    takes = (f"--set takes {', '.join(own)} for it" if own else "it takes no --set option")
    raise UsageError(f"preset {preset!r} has no option {', '.join(map(repr, unknown))}; {takes} "
                     f"(the other settings have their own flags: see minigan train --help)")


def _train(argv):
    from .. import presets
    started = time.perf_counter()
    prog = "minigan train"
    args = parser().parse_args(argv)
    if args.preset not in presets.PRESETS:
        raise UsageError(f"unknown preset {args.preset!r}; choose from {', '.join(presets.PRESETS)}")
    out = out_folder(args.out or os.path.join("runs", args.preset))
    check_data_dir(args.data_dir)
    if args.backend:
        use_backend(args.backend)
    else:
        use_backend(os.environ.get("MINIGAN_BACKEND") or "numpy", "MINIGAN_BACKEND=")
    options = common_options(args.preset, args)
    settings = preset_settings(args.set)
    check_settings(args.preset, settings)
    options.update(settings)
    try:
        presets.check_options(args.preset, options)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    old_run = os.path.join(out, CHECKPOINT_NAME)
    if os.path.exists(old_run) and not args.force:     # before the preset reads (or downloads) any data
        raise UsageError(f"{out} already holds a run ({old_run}): continue it with 'minigan resume {old_run}' "
                         "(add --iterations N to train N more once it has finished), "
                         "train into another folder with --out, or replace it with --force")
    run = build_run(args.preset, options)   # nothing is written before the run is built
    options = run.options               # every option the preset used, defaults included
    try:
        blas = threads.choose(threads.products(run.trainer), args.threads)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    iterations = run.iterations
    every = checkpoint_every(args.checkpoint_every, iterations)
    created = make_folder(out)
    if args.force:
        clear_old_run(out)
    blas = threads.apply(blas)
    config_path = os.path.join(out, "config.json")
    write_json(config_path, {
        "preset": args.preset, "description": run_description(args.preset, run.description, iterations),
        "options": options,
        "config": run.trainer.config, "iterations": iterations, "checkpoint_every": every,
        "history_fields": list(run.trainer.history.fields), "minigan_version": __version__,
        "blas_threads": blas.as_config(), "command": "minigan train " + " ".join(argv),
    })
    reporter = reporter_for(run, out, run.trainer.iteration, iterations, figures=not args.no_figures)
    try:
        status, seconds = fit(run, out=out, iterations=iterations, checkpoint_every=every,
                              preset=args.preset, options=options, progress=not args.no_progress,
                              prog=prog, snapshot_at=reporter.snapshot_at, on_snapshot=reporter.on_snapshot)
    except OutOfMemory as exc:
        if exc.saved is None:           # nothing of this run is worth keeping: take back what it made
            remove_created([config_path, os.path.join(out, "history.csv")], created)
        raise
    if status == EXIT_DIVERGED or seconds is None:     # diverged, or stopped mid-iteration
        return status
    report(prog, args.preset, run, out, reporter, seconds, run.trainer.iteration, status, started)
    return status
