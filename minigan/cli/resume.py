"""``minigan resume CHECKPOINT``: continue a run exactly where its checkpoint left it
(the same preset and options, rebuilt; every state restored), into the
checkpoint's folder by default; ``--iterations N`` trains N more."""
from __future__ import annotations

import json
import os
import sys
import time

from .. import __version__, checkpoint, presets, threads
from ..data.mnist import MNISTMissingError
from ..train.gan_state import StepsPerEpochChanged
from .common import (EXIT_DIVERGED, UsageError, UsageParser, check_data_dir, entry, int_at_least,
                     use_backend)
from .describe import run_description
from .files import CHECKPOINT_NAME, make_folder, out_folder, write_json
from .fit import checkpoint_every, fit
from .reports import report, reporter_for

__all__ = ["resume_main"]


def resume_main(argv):
    with threads.restored():            # the BLAS thread count it sets ends with the command
        return entry("minigan resume", _resume, argv)


def _other_data_size(args, ckpt, changed):
    """The run's training set had another number of minibatches per epoch than the one found now."""
    if changed.who == "g_opt":          # G steps once per minibatch; D, k times
        m = ckpt.options.get("m")
        unit = f"minibatches of {m} images" if m else "minibatches"
        what = f"was trained on a training set of {changed.saved} {unit} per epoch"
    else:
        what = f"took {changed.saved} D steps per epoch of its training set"
    recorded = ckpt.options.get("data_dir")
    found = f"--data-dir {args.data_dir}" if args.data_dir else "the data found now"
    hint = (f"pass the --data-dir it was trained with ({recorded})" if recorded and recorded != args.data_dir
            else "pass the --data-dir it was trained with")
    return f"checkpoint {args.checkpoint}: the run {what}, {found} gives {changed.now}; {hint}"


def _parser(prog):
    p = UsageParser(prog=prog, description="Continue a run exactly from its checkpoint.")
    p.add_argument("checkpoint", help="a checkpoint.npz written by minigan train")
    p.add_argument("--iterations", type=int_at_least(1, "--iterations"),
                   help="iterations to add (default: what is left of the original run)")
    p.add_argument("--out", help="output folder (default: the checkpoint's folder)")
    p.add_argument("--checkpoint-every", type=int_at_least(0, "--checkpoint-every"),
                   help="save a checkpoint every N iterations (default: every 10%%; 0 = only at the end)")
    p.add_argument("--backend", choices=("numpy", "cupy"), default=None,
                   help="array backend (default: the one the checkpoint was trained on)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (on a terminal) and no progress lines (off one: a log, a pipe, a notebook)")
    p.add_argument("--no-figures", action="store_true",
                   help="write no figures (history, checkpoint and the final numbers only)")
    p.add_argument("--data-dir", metavar="FOLDER", help="folder holding mnist/ etc. (presets that need real data)")
    p.add_argument("--threads", type=int_at_least(1, "--threads"), metavar="N",
                   help="threads of the matrix products (BLAS), chosen as minigan train chooses them; "
                        "the run continues bit for bit only on the count it was trained on")
    return p


def _resume(argv):
    started = time.perf_counter()
    prog = "minigan resume"
    args = _parser(prog).parse_args(argv)
    ckpt = checkpoint.read(args.checkpoint)
    out = out_folder(args.out or os.path.dirname(os.path.abspath(args.checkpoint)))
    target_ckpt = os.path.join(out, CHECKPOINT_NAME)
    in_place = os.path.exists(target_ckpt) and os.path.samefile(target_ckpt, args.checkpoint)
    if os.path.exists(target_ckpt) and not in_place:
        raise UsageError(f"--out {out} holds another run ({target_ckpt}); resume into the checkpoint's own "
                         "folder, or into a folder that holds no run")
    check_data_dir(args.data_dir)
    done = ckpt.iteration
    iterations = args.iterations
    if iterations is None:
        target = int(ckpt.meta.get("extra", {}).get("target_iterations", done))
        iterations = target - done
        if iterations < 1:
            raise UsageError(f"{args.checkpoint} already finished its {done} iterations; "
                             "pass --iterations N to train N more")
    use_backend(args.backend or ckpt.config.get("backend", "numpy"))
    try:
        run, ckpt = presets.restore_run(ckpt, data_dir=args.data_dir)
    except MNISTMissingError:
        raise                           # entry prints it, one line, the same for every command
    except checkpoint.CheckpointError as exc:
        if isinstance(exc.cause, StepsPerEpochChanged):
            raise UsageError(_other_data_size(args, ckpt, exc.cause)) from None
        raise
    except (ValueError, TypeError, OSError) as exc:
        raise UsageError(f"cannot rebuild preset {ckpt.preset!r}: {exc}") from None
    for note in ckpt.notes:
        print(f"{prog}: note: {note}", file=sys.stderr)
    options = run.options               # the stored ones, and any default an older checkpoint lacks
    try:
        blas = threads.choose(threads.products(run.trainer), args.threads)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    make_folder(out)
    blas = threads.apply(blas)
    every = checkpoint_every(args.checkpoint_every, iterations)
    config_path = os.path.join(out, "config.json")
    config = {
        "preset": ckpt.preset, "description": run_description(ckpt.preset, run.description, done + iterations),
        "options": options,
        "config": run.trainer.config, "iterations": done + iterations, "checkpoint_every": every,
        "history_fields": list(run.trainer.history.fields), "minigan_version": __version__,
        "resumed_from": {"checkpoint": os.path.abspath(args.checkpoint), "iteration": done},
        "blas_threads": blas.as_config(),
        "command": "minigan resume " + " ".join(argv),
    }
    try:                                # the run's own config: keep how it was started, list the resumes
        with open(config_path) as f:
            first = json.load(f)
    except (OSError, ValueError):
        first = None
    trained_on = (first.get("blas_threads") or {}).get("threads") if isinstance(first, dict) else None
    if trained_on is not None and trained_on != blas.threads:
        print(f"{prog}: note: BLAS on {blas.threads} threads ({blas.source}), the run was trained on "
              f"{trained_on} (config.json): the continuation differs from an uninterrupted run in the last "
              f"digits; --threads {trained_on} continues it bit for bit", file=sys.stderr)
    if in_place and isinstance(first, dict) and first.get("preset") == ckpt.preset:
        config["started_with"] = first.get("started_with") or first.get("command")
        config["resumes"] = list(first.get("resumes") or []) + [
            {"command": config["command"], "from_iteration": done, "to_iteration": done + iterations}]
    write_json(config_path, config)
    reporter = reporter_for(run, out, done, iterations, figures=not args.no_figures)
    status, seconds = fit(run, out=out, iterations=iterations, checkpoint_every=every,
                          preset=ckpt.preset, options=options, progress=not args.no_progress,
                          prog=prog, snapshot_at=reporter.snapshot_at, on_snapshot=reporter.on_snapshot)
    if status == EXIT_DIVERGED or seconds is None:     # diverged, or stopped mid-iteration
        return status
    report(prog, ckpt.preset, run, out, reporter, seconds, run.trainer.iteration - done, status, started)
    return status
