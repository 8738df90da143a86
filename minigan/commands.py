"""``minigan train``, ``minigan resume`` and ``minigan sample``.

Each ``*_main(argv)`` returns an exit status:

    0   done
    2   bad input (unknown preset, k < 1, m < 1, a rate that is not a positive
        number, an unreadable checkpoint, an output folder that is a file or
        already holds a run, ...): one line on stderr, nothing written or overwritten
    3   training diverged (a NaN/inf loss or parameter): the message names the
        iteration and the quantity; the last good checkpoint is kept as it was
    130 interrupted with Ctrl-C: the current iteration is finished, then a
        checkpoint is saved (``minigan resume`` continues from it)

What ``minigan train PRESET --out DIR`` writes into DIR (default ``runs/PRESET``):

    config.json       the run: preset, options, order, G loss, k, m, seed, backend, ...
    history.csv       one row per iteration: V, mean D(x), mean D(G(z)), both losses,
                      both gradient norms (gan.HISTORY_FIELDS)
    history.png       those curves
    checkpoint.npz    the whole state (minigan.checkpoint), saved every
                      --checkpoint-every iterations and at the end
    figure1.png, figure1.gif   1-D data (toy1d): the paper's Figure 1 panels (a)-(d)
                      -- p_data, p_g, D(x) and the z -> x mapping -- and an animation
                      (``minigan resume`` from iteration N writes figure1_from_itN.*
                      and leaves the first run's figures as they are)
    samples.png       2-D data: samples over the data; 784-D data: an image grid

A folder that already holds a run (its checkpoint.npz) is not trained into
again: ``minigan resume DIR/checkpoint.npz`` continues that run (with
``--iterations N`` once it has finished: N more), ``--out`` names another
folder, and ``--force`` replaces the run (its files listed above, and the
``sampled_itN.*`` of ``minigan sample``, are removed first, so no figure of
the old run is left beside the new).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import signal
import sys
import time

import numpy as np

from . import __version__, backend, checkpoint
from .train import HISTORY_FIELDS, TrainingDiverged
from .progress import Progress

__all__ = ["train_main", "resume_main", "sample_main", "UsageError", "write_history",
           "EXIT_OK", "EXIT_USAGE", "EXIT_DIVERGED", "EXIT_INTERRUPTED"]

EXIT_OK, EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 2, 3, 130
CHECKPOINT_NAME = "checkpoint.npz"
RUN_FILES = ("config.json", "history.csv", "history.png", CHECKPOINT_NAME, "figure1.png", "figure1.gif",
             "samples.png", "samples_averaged.png")
N_EVAL = 2500            # samples for mode coverage and final D(x), D(G(z)) (PacGAN protocol)


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


# ---------------------------------------------------------------------- argument types
def _int_at_least(lo, what):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be an integer >= {lo}, got {text!r}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"{what} must be an integer >= {lo}, got {text!r}")
        return value
    return parse


def _number(what, accept, expected):
    """An argparse type: a float for which ``accept(value)`` holds, else '{what} must be {expected}'."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"{what} must be {expected}, got {text!r}")
        return value
    return parse


def _rate(what):
    return _number(what, lambda v: math.isfinite(v) and v > 0, "a positive number")


def _decay(what):
    return _number(what, lambda v: 0 <= v < 1, "a decay in [0, 1)")


def _fail(prog, message):
    print(f"{prog}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _entry(prog, body, argv):
    """Run ``body(argv)``; bad input becomes one line on stderr and exit 2."""
    try:
        return body(list(argv))
    except UsageError as exc:
        return _fail(prog, str(exc).replace("\n", " "))
    except checkpoint.CheckpointError as exc:
        return _fail(prog, str(exc))
    except SystemExit as exc:          # --help
        return int(exc.code or 0)
    except KeyboardInterrupt:          # Ctrl-C outside the training loop (which stops cleanly by itself)
        print(f"{prog}: interrupted; any checkpoint written before is kept as it was", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:            # stdout closed early (e.g. piped into head): not an error
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_OK


def _out_folder(path):
    """Check that ``path`` can be the output folder (a folder or nothing yet)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"--out {path} exists and is a file, not a folder")
    parent = os.path.abspath(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UsageError(f"--out {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out {path}: {parent} is not writable")
    return path


def _use_backend(name, where="--backend "):
    try:
        backend.use(name)
    except (ValueError, backend.BackendError) as exc:
        raise UsageError(f"{where}{name}: {exc}") from None


def _build(preset_name, options):
    from . import presets
    try:
        return presets.build(preset_name, **options)
    except (ValueError, TypeError, OSError, backend.BackendError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"preset {preset_name!r}: {msg}") from None


# ---------------------------------------------------------------------- files
def write_history(path, history):
    """Write ``gan.history`` as CSV (columns ``gan.HISTORY_FIELDS``), atomically."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HISTORY_FIELDS)
    for row in history:
        w.writerow([row["iteration"]] + [repr(float(row[f])) for f in HISTORY_FIELDS[1:]])
    data = buf.getvalue().encode()
    checkpoint.atomic_write(path, lambda f: f.write(data))


def _write_json(path, obj):
    data = (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode()
    checkpoint.atomic_write(path, lambda f: f.write(data))


def _viz():
    import matplotlib
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")           # files only; never needs a display
    from . import viz
    return viz


def _kind(run):
    """'1d', '2d', 'image' or 'other', from the data's dimension."""
    dim = getattr(run.data, "dim", None)
    if dim is None:                    # ask G, not the data sampler (which may keep state)
        x = run.trainer.sample(1, rng=backend.default_rng(0))
        dim = int(np.prod(x.shape[1:]))
    kind = {1: "1d", 2: "2d", 784: "image"}.get(int(dim), "other")
    if kind == "1d" and not hasattr(run.data, "pdf"):
        return "other"                 # Figure 1 and the JSD need p_data's exact density
    return kind


def _eval_rng(gan, salt):
    """A generator for evaluation draws that never touches the training stream."""
    entropy = [0 if gan.seed is None else int(gan.seed), int(gan.iteration), int(salt)]
    return backend.default_rng(int(np.random.SeedSequence(entropy).generate_state(1)[0]))


# ---------------------------------------------------------------------- training loop
class _Interrupt:
    """First Ctrl-C: finish the current iteration, then stop. Second: stop now."""

    def __init__(self):
        self.requested = False
        self._old = None

    def __enter__(self):
        try:
            self._old = signal.signal(signal.SIGINT, self._handle)
        except ValueError:             # not the main thread
            self._old = None
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def _fit(run, *, out, iterations, checkpoint_every, preset, options, progress, prog,
         snapshot_at=(), on_snapshot=None):
    """Train ``iterations`` more iterations, saving checkpoints and history into ``out``.

    Returns ``(status, seconds spent in gan.step)`` (seconds None when stopped
    inside an iteration by a second Ctrl-C, with nothing saved). The checkpoint is only ever written from a
    state that passed the finite check, so the last good one survives a divergence.
    """
    gan = run.trainer
    ckpt_path = os.path.join(out, CHECKPOINT_NAME)
    hist_path = os.path.join(out, "history.csv")
    target = gan.iteration + iterations
    extra = {"target_iterations": target}
    last_saved = [None]

    def save():
        checkpoint.save(ckpt_path, gan, preset=preset, options=options, extra=extra)
        write_history(hist_path, gan.history)
        last_saved[0] = gan.iteration

    snapshot_at = set(snapshot_at)
    if on_snapshot is not None and gan.iteration in snapshot_at:
        on_snapshot(gan)
    bar = Progress(iterations, desc=preset or "train", enabled=None if progress else False)
    t0 = time.perf_counter()
    extra_time = [0.0]                 # seconds spent on snapshots and checkpoints, not training

    def timed(fn, *a):
        t = time.perf_counter()
        fn(*a)
        extra_time[0] += time.perf_counter() - t
    status = EXIT_OK
    with _Interrupt() as interrupt:
        try:
            for _ in range(iterations):
                row = gan.step()
                bar.update(V=row["V"], Dx=row["D_real"], DGz=row["D_fake"])
                if on_snapshot is not None and gan.iteration in snapshot_at:
                    timed(on_snapshot, gan)
                if checkpoint_every and gan.iteration % checkpoint_every == 0 and gan.iteration < target:
                    timed(save)
                if interrupt.requested:
                    status = EXIT_INTERRUPTED
                    break
        except TrainingDiverged as exc:
            bar.close()
            write_history(hist_path, gan.history)        # the good rows only
            print(f"{prog}: {exc}", file=sys.stderr)
            if last_saved[0] is not None:
                print(f"{prog}: last good checkpoint: {ckpt_path} (iteration {last_saved[0]}); "
                      f"history of the good iterations: {hist_path}", file=sys.stderr)
            elif os.path.exists(ckpt_path):
                print(f"{prog}: {ckpt_path} (from before this run) was left as it was", file=sys.stderr)
            else:
                print(f"{prog}: no checkpoint was saved before the divergence "
                      f"(use --checkpoint-every N to save more often)", file=sys.stderr)
            return EXIT_DIVERGED, time.perf_counter() - t0 - extra_time[0]
        except KeyboardInterrupt:      # a second Ctrl-C: the state may be mid-update, so no save
            bar.close()
            kept = (f"the checkpoint of iteration {last_saved[0]} is kept" if last_saved[0] is not None
                    else "no checkpoint was saved by this run")
            print(f"{prog}: stopped inside iteration {gan.iteration + 1}; {kept} ({ckpt_path})",
                  file=sys.stderr)
            return EXIT_INTERRUPTED, None
    bar.close()
    seconds = time.perf_counter() - t0 - extra_time[0]
    save()
    if status == EXIT_INTERRUPTED:
        print(f"{prog}: interrupted at iteration {gan.iteration}; saved {ckpt_path}; continue with: "
              f"minigan resume {ckpt_path}", file=sys.stderr)
    return status, seconds


# ---------------------------------------------------------------------- reports
def _figure1_iterations(start, iterations):
    """Figure 1's four panels: the start, ~5%, ~30% and the end of this run."""
    its = [start, start + max(1, round(0.05 * iterations)), start + round(0.3 * iterations),
           start + iterations]
    return sorted({min(i, start + iterations) for i in its})


def _gif_iterations(start, iterations, frames=24):
    return sorted({start + round(iterations * f / frames) for f in range(frames + 1)})


class _Reporter:
    """Figures and final numbers for one kind of data."""

    def __init__(self, run, out, start, iterations, figures=True):
        self.run, self.out, self.kind, self.figures = run, out, _kind(run), figures
        # a resumed run's Figure 1 starts where it resumed: its own files, the first run's stay
        self.figure1 = "figure1" if start == 0 else f"figure1_from_it{start}"
        self.written = []              # (file, what)
        self.panels, self.frames = {}, []
        self.grid = None               # the x grid of every Figure 1 panel and frame
        if self.kind == "1d" and figures:
            self.panel_its = _figure1_iterations(start, iterations)
            frames = min(24, max(4, iterations // 10))      # short runs need fewer frames
            self.snapshot_at = sorted(set(self.panel_its)
                                      | set(_gif_iterations(start, iterations, frames)))
        else:
            self.panel_its, self.snapshot_at = [], []

    def on_snapshot(self, gan):
        panel = gan.iteration in self.panel_its       # the still panels get a finer p_g estimate
        # one x grid for the whole run (fixed by the first snapshot, which covers the
        # data and G's starting point), so that every panel and frame shares its axis
        snap = _viz().figure1_snapshot(gan, self.run.data, self.run.noise, grid=self.grid,
                                       n_samples=20000 if panel else 4000)
        if self.grid is None:
            self.grid = snap["x"]
        self.frames.append(snap)
        if panel:
            self.panels[gan.iteration] = snap

    def _note(self, name, what):
        self.written.append((os.path.join(self.out, name), what))

    def finish(self, preset):
        """Draw the figures; return lines of final numbers."""
        gan, out = self.run.trainer, self.out
        lines = []
        if not self.figures:
            if self.kind == "1d":
                lines.append(self._jsd_line())
            elif self.kind == "2d" and hasattr(self.run.data, "mode_coverage"):
                lines.append(self._coverage_line(
                    backend.to_host(gan.sample(N_EVAL, rng=_eval_rng(gan, 1)))))
            lines.append(self._d_line())
            return lines
        viz = _viz()
        viz.plot_history(gan.history, os.path.join(out, "history.png"))
        self._note("history.png", "V, D(x), D(G(z)), losses and gradient norms per iteration")
        if self.kind == "1d":
            panels = [self.panels[i] for i in self.panel_its if i in self.panels]
            if panels:
                viz.plot_figure1(panels, os.path.join(out, self.figure1 + ".png"),
                                 title=f"{preset}: Figure 1 panels at iterations "
                                       f"{', '.join(str(i) for i in sorted(self.panels))}")
                self._note(self.figure1 + ".png", "Figure 1 (a)-(d): p_data, p_g, D(x), z -> x at iterations "
                           + ", ".join(str(i) for i in sorted(self.panels)))
            if len(self.frames) > 1:
                viz.animate_figure1(self.frames, os.path.join(out, self.figure1 + ".gif"))
                self._note(self.figure1 + ".gif", f"the same view, animated ({len(self.frames)} frames)")
            lines.append(self._jsd_line())
        elif self.kind == "2d":
            samples = backend.to_host(gan.sample(N_EVAL, rng=_eval_rng(gan, 1)))
            viz.plot_samples_2d(samples, self.run.data, os.path.join(out, "samples.png"))
            self._note("samples.png", f"{N_EVAL} samples of G over the data")
            if hasattr(self.run.data, "mode_coverage"):
                lines.append(self._coverage_line(samples))
        elif self.kind == "image":
            images = backend.to_host(gan.sample(100, rng=_eval_rng(gan, 1)))
            viz.image_grid(images, os.path.join(out, "samples.png"), nrow=10)
            self._note("samples.png", "100 samples of G as a 10 x 10 image grid")
            if gan.g_average is not None:       # the same z, through the averaged G
                images = backend.to_host(gan.sample(100, rng=_eval_rng(gan, 1), averaged=True))
                viz.image_grid(images, os.path.join(out, "samples_averaged.png"), nrow=10)
                self._note("samples_averaged.png", "the same z through G with its averaged parameters "
                           f"(--g-average {gan.g_average.decay:g})")
        lines.append(self._d_line())
        return lines

    def _coverage_line(self, samples):
        cov = self.run.data.mode_coverage(samples)
        return (f"modes covered: {cov['modes']} of {cov['of']} ({100 * cov['high_quality']:.1f}% of "
                f"{len(samples)} samples high quality, i.e. within 3 sigma of a mode)")

    def _jsd_line(self):
        from . import theory
        gan, data = self.run.trainer, self.run.data
        samples = backend.to_host(gan.sample(20000, rng=_eval_rng(gan, 3))).reshape(-1)
        if not np.all(np.isfinite(samples)):
            return "JSD(p_data || p_g): not computed, G produced non-finite samples"
        means = np.asarray(getattr(data, "means", [[float(np.median(samples))]]), dtype=np.float64)
        sd = float(getattr(data, "sigma", 1.0))
        lo = min(float(means.min()) - 10 * sd, float(samples.min()) - 1.0)
        hi = max(float(means.max()) + 10 * sd, float(samples.max()) + 1.0)
        grid = np.linspace(lo, hi, 1501)
        jsd = theory.gan_jsd(gan, data, grid, n_samples=20000, seed=int(gan.iteration) + 3)
        line = (f"JSD(p_data || p_g) = {jsd:.4f} nats (log 2 = {math.log(2):.4f} is the maximum; "
                f"p_g from 20,000 samples, KDE); G's samples: mean {samples.mean():.3f}, "
                f"std {samples.std():.3f}")
        if hasattr(data, "means") and len(data.means) == 1:
            line += f" (p_data: mean {float(data.means[0, 0]):g}, std {sd:g})"
        return line

    def _d_line(self):
        gan = self.run.trainer
        rng = _eval_rng(gan, 2)
        x = self.run.data(N_EVAL, rng)
        fake = gan.sample(N_EVAL, rng=rng)
        dx, dgz = float(gan.d_prob(x).mean()), float(gan.d_prob(fake).mean())
        return (f"mean D(x) = {dx:.4f}, mean D(G(z)) = {dgz:.4f} on {N_EVAL} fresh samples "
                "(eval mode; 1/2 and 1/2 at the game's equilibrium)")


def _report(prog, preset, run, out, reporter, seconds, done, status, started):
    gan = run.trainer
    cfg = gan.config
    rate = done / seconds if seconds > 0 else float("inf")
    print(f"{prog} {preset}: {done} iterations in {seconds:.1f} s of training ({rate:.0f} it/s), now at "
          f"iteration {gan.iteration}; order={cfg['order']} g_loss={cfg['g_loss']} k={cfg['k']} "
          f"m={cfg['m']} seed={cfg['seed']} backend={cfg['backend']}")
    lines = reporter.finish(preset)
    for line in lines:
        print("  " + line)
    reporter.written += [(os.path.join(out, "history.csv"), "one row per iteration: "
                          + ", ".join(HISTORY_FIELDS)),
                         (os.path.join(out, "config.json"), "the run's settings"),
                         (os.path.join(out, CHECKPOINT_NAME),
                          f"everything at iteration {gan.iteration} (minigan resume / minigan sample)")]
    print(f"wrote into {out}{os.sep}:")
    for path, what in reporter.written:
        print(f"  {os.path.basename(path):<16} {what}")
    if status == EXIT_INTERRUPTED:
        print(f"  (interrupted; continue with: minigan resume {os.path.join(out, CHECKPOINT_NAME)})")
    print(f"done in {time.perf_counter() - started:.1f} s (training, figures and files)")


# ---------------------------------------------------------------------- minigan train
def _train_parser():
    from . import presets
    p = _Parser(prog="minigan train", description="Train a GAN with Algorithm 1 from a preset.")
    p.add_argument("preset", nargs="?", default="toy1d",
                   help=f"one of: {', '.join(presets.PRESETS)} (default toy1d, the paper's Figure 1)")
    p.add_argument("--k", type=_int_at_least(1, "--k"), help="D steps per iteration (Algorithm 1's k)")
    p.add_argument("--m", "--batch", dest="m", type=_int_at_least(1, "--m"), help="minibatch size m")
    p.add_argument("--lr", type=_rate("--lr"), help="learning rate of both players")
    p.add_argument("--d-lr", type=_rate("--d-lr"), help="D's learning rate (overrides --lr)")
    p.add_argument("--g-lr", type=_rate("--g-lr"), help="G's learning rate (overrides --lr)")
    p.add_argument("--g-loss", choices=("minimax", "nonsaturating"), help="G's loss (Section 3)")
    p.add_argument("--order", choices=("sequential", "simultaneous"),
                   help="sequential = Algorithm 1; simultaneous = the released MNIST code")
    p.add_argument("--iterations", type=_int_at_least(1, "--iterations"),
                   help="training iterations (default: the preset's)")
    p.add_argument("--seed", type=_int_at_least(0, "--seed"), help="random seed (default 0)")
    p.add_argument("--g-average", type=_decay("--g-average"), metavar="DECAY",
                   help="also keep a running average of G's parameters (0.999: over ~1,000 iterations); "
                        "training is unchanged, and 'minigan sample/parzen --averaged' use it")
    p.add_argument("--backend", choices=("numpy", "cupy"), default=None,
                   help="array backend (default: $MINIGAN_BACKEND or numpy)")
    p.add_argument("--out", help="output folder (default runs/PRESET)")
    p.add_argument("--force", action="store_true",
                   help="replace a run already in --out (its checkpoint, history, config and figures)")
    p.add_argument("--checkpoint-every", type=_int_at_least(0, "--checkpoint-every"),
                   help="save a checkpoint every N iterations (default: every 10%%; 0 = only at the end)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-figures", action="store_true",
                   help="write no figures (history, checkpoint and the final numbers only)")
    p.add_argument("--data-dir", help="folder holding mnist/ etc. (presets that need real data)")
    own = "; ".join(f"{name}: {', '.join(o for o in opts if o not in presets.COMMON_OPTIONS)}"
                    for name, opts in presets.OPTIONS.items()
                    if any(o not in presets.COMMON_OPTIONS for o in opts))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help=f"a preset's own option, repeatable ({own}); e.g. --set noise=gaussian")
    return p


def _preset_settings(pairs):
    """``--set KEY=VALUE`` pairs as a dict; VALUE is read as an int, a float, or else a string."""
    from . import presets
    found = {}
    for pair in pairs:
        key, eq, text = pair.partition("=")
        key = key.strip()
        if not eq or not key or not text:
            raise UsageError(f"--set {pair}: expected KEY=VALUE, e.g. --set noise=gaussian")
        if key in presets.COMMON_OPTIONS:
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


def _checkpoint_every(value, iterations):
    return max(1, iterations // 10) if value is None else value


def train_main(argv):
    return _entry("minigan train", _train, argv)


def _train(argv):
    from . import presets
    started = time.perf_counter()
    prog = "minigan train"
    args = _train_parser().parse_args(argv)
    if args.preset not in presets.PRESETS:
        raise UsageError(f"unknown preset {args.preset!r}; choose from {', '.join(presets.PRESETS)}")
    out = _out_folder(args.out or os.path.join("runs", args.preset))
    if args.data_dir is not None and not os.path.isdir(args.data_dir):
        raise UsageError(f"--data-dir {args.data_dir} is not a folder")
    if args.backend:
        _use_backend(args.backend)
    else:
        _use_backend(os.environ.get("MINIGAN_BACKEND") or "numpy", "MINIGAN_BACKEND=")
    options = {"k": args.k, "m": args.m, "d_lr": args.d_lr or args.lr, "g_lr": args.g_lr or args.lr,
               "g_loss": args.g_loss, "order": args.order, "iterations": args.iterations,
               "seed": args.seed, "data_dir": args.data_dir, "g_average": args.g_average}
    options = {k: v for k, v in options.items() if v is not None}
    options.update(_preset_settings(args.set))
    try:
        presets.check_options(args.preset, options)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    old_run = os.path.join(out, CHECKPOINT_NAME)
    if os.path.exists(old_run) and not args.force:     # before the preset reads (or downloads) any data
        raise UsageError(f"{out} already holds a run ({old_run}): continue it with 'minigan resume {old_run}' "
                         "(add --iterations N to train N more once it has finished), "
                         "train into another folder with --out, or replace it with --force")
    run = _build(args.preset, options)
    options = run.options               # every option the preset used, defaults included
    iterations = run.iterations
    try:
        os.makedirs(out, exist_ok=True)
        if args.force:                  # the old run's files go, so none is taken for the new run's
            for name in os.listdir(out):
                if name in RUN_FILES or name.startswith(("figure1_from_it", "sampled_it")):
                    if os.path.isfile(os.path.join(out, name)):
                        os.remove(os.path.join(out, name))
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot create the folder or clear the old run ({exc.strerror})") from None
    _write_json(os.path.join(out, "config.json"), {
        "preset": args.preset, "description": run.description, "options": options,
        "config": run.trainer.config, "iterations": iterations,
        "checkpoint_every": _checkpoint_every(args.checkpoint_every, iterations),
        "history_fields": list(HISTORY_FIELDS), "minigan_version": __version__,
        "command": "minigan train " + " ".join(argv),
    })
    reporter = _Reporter(run, out, run.trainer.iteration, iterations, figures=not args.no_figures)
    status, seconds = _fit(run, out=out, iterations=iterations,
                           checkpoint_every=_checkpoint_every(args.checkpoint_every, iterations),
                           preset=args.preset, options=options, progress=not args.no_progress,
                           prog=prog, snapshot_at=reporter.snapshot_at,
                           on_snapshot=reporter.on_snapshot)
    if status == EXIT_DIVERGED or seconds is None:     # diverged, or stopped mid-iteration
        return status
    _report(prog, args.preset, run, out, reporter, seconds, run.trainer.iteration, status, started)
    return status


# ---------------------------------------------------------------------- minigan resume
def resume_main(argv):
    return _entry("minigan resume", _resume, argv)


def _resume(argv):
    started = time.perf_counter()
    prog = "minigan resume"
    p = _Parser(prog=prog, description="Continue a run exactly from its checkpoint.")
    p.add_argument("checkpoint", help="a checkpoint.npz written by minigan train")
    p.add_argument("--iterations", type=_int_at_least(1, "--iterations"),
                   help="iterations to add (default: what is left of the original run)")
    p.add_argument("--out", help="output folder (default: the checkpoint's folder)")
    p.add_argument("--checkpoint-every", type=_int_at_least(0, "--checkpoint-every"),
                   help="save a checkpoint every N iterations (default: every 10%%; 0 = only at the end)")
    p.add_argument("--backend", choices=("numpy", "cupy"), default=None,
                   help="array backend (default: the one the checkpoint was trained on)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-figures", action="store_true",
                   help="write no figures (history, checkpoint and the final numbers only)")
    p.add_argument("--data-dir", help="folder holding mnist/ etc. (presets that need real data)")
    args = p.parse_args(argv)
    ckpt = checkpoint.read(args.checkpoint)
    out = _out_folder(args.out or os.path.dirname(os.path.abspath(args.checkpoint)))
    target_ckpt = os.path.join(out, CHECKPOINT_NAME)
    in_place = os.path.exists(target_ckpt) and os.path.samefile(target_ckpt, args.checkpoint)
    if os.path.exists(target_ckpt) and not in_place:
        raise UsageError(f"--out {out} holds another run ({target_ckpt}); resume into the checkpoint's own "
                         "folder, or into a folder that holds no run")
    if args.data_dir is not None and not os.path.isdir(args.data_dir):
        raise UsageError(f"--data-dir {args.data_dir} is not a folder")
    done = ckpt.iteration
    iterations = args.iterations
    if iterations is None:
        target = int(ckpt.meta.get("extra", {}).get("target_iterations", done))
        iterations = target - done
        if iterations < 1:
            raise UsageError(f"{args.checkpoint} already finished its {done} iterations; "
                             "pass --iterations N to train N more")
    _use_backend(args.backend or ckpt.config.get("backend", "numpy"))
    try:
        from . import presets  # noqa: PLC0415
        run, ckpt = presets.restore_run(ckpt, data_dir=args.data_dir)
    except (ValueError, TypeError, OSError) as exc:
        raise UsageError(f"cannot rebuild preset {ckpt.preset!r}: {exc}") from None
    for note in ckpt.notes:
        print(f"{prog}: note: {note}", file=sys.stderr)
    options = run.options               # the stored ones, and any default an older checkpoint lacks
    os.makedirs(out, exist_ok=True)
    every = _checkpoint_every(args.checkpoint_every, iterations)
    config_path = os.path.join(out, "config.json")
    config = {
        "preset": ckpt.preset, "description": run.description, "options": options,
        "config": run.trainer.config, "iterations": done + iterations, "checkpoint_every": every,
        "history_fields": list(HISTORY_FIELDS), "minigan_version": __version__,
        "resumed_from": {"checkpoint": os.path.abspath(args.checkpoint), "iteration": done},
        "command": "minigan resume " + " ".join(argv),
    }
    try:                                # the run's own config: keep how it was started, list the resumes
        with open(config_path) as f:
            first = json.load(f)
    except (OSError, ValueError):
        first = None
    if in_place and isinstance(first, dict) and first.get("preset") == ckpt.preset:
        config["started_with"] = first.get("started_with") or first.get("command")
        config["resumes"] = list(first.get("resumes") or []) + [
            {"command": config["command"], "from_iteration": done, "to_iteration": done + iterations}]
    _write_json(config_path, config)
    reporter = _Reporter(run, out, done, iterations, figures=not args.no_figures)
    status, seconds = _fit(run, out=out, iterations=iterations, checkpoint_every=every,
                           preset=ckpt.preset, options=options, progress=not args.no_progress,
                           prog=prog, snapshot_at=reporter.snapshot_at,
                           on_snapshot=reporter.on_snapshot)
    if status == EXIT_DIVERGED or seconds is None:     # diverged, or stopped mid-iteration
        return status
    _report(prog, ckpt.preset, run, out, reporter, seconds, run.trainer.iteration - done, status, started)
    return status


# ---------------------------------------------------------------------- minigan sample
def sample_main(argv):
    return _entry("minigan sample", _sample, argv)


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


def _histogram_1d(samples, data, path):
    import matplotlib
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(x, bins=100, density=True, color="tab:green", alpha=0.6, label="samples of G")
    if hasattr(data, "pdf"):
        lo, hi = min(x.min(), float(np.min(data.means)) - 4 * data.sigma), \
            max(x.max(), float(np.max(data.means)) + 4 * data.sigma)
        grid = np.linspace(lo, hi, 1000)
        ax.plot(grid, data.pdf(grid.reshape(-1, 1)), "k:", label="p_data")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    checkpoint.atomic_write(path, lambda f: f.write(buf.getvalue()))


def _sample(argv):
    prog = "minigan sample"
    p = _Parser(prog=prog, description="Draw samples from a checkpoint's generator (eval mode).")
    p.add_argument("checkpoint", help="a checkpoint.npz written by minigan train")
    p.add_argument("-n", type=_int_at_least(1, "-n"), default=1000, help="number of samples (default 1000)")
    p.add_argument("--out", help="where to write NAME.npy and NAME.png (default: sampled_itN.* beside "
                                 "the checkpoint, N its iteration, _averaged added with --averaged; "
                                 "a folder puts them in it)")
    p.add_argument("--seed", type=_int_at_least(0, "--seed"), default=0, help="noise seed (default 0)")
    p.add_argument("--averaged", action="store_true",
                   help="sample G with the running average of its parameters (a run trained with --g-average)")
    p.add_argument("--backend", choices=("numpy", "cupy"), default=None,
                   help="array backend (default: the one the checkpoint was trained on)")
    p.add_argument("--data-dir", help="folder holding mnist/ etc. (presets that need real data)")
    args = p.parse_args(argv)
    ckpt = checkpoint.read(args.checkpoint)
    npy, png = _sample_paths(args.out, args.checkpoint, ckpt.iteration, args.averaged)
    _use_backend(args.backend or ckpt.config.get("backend", "numpy"))
    try:
        from . import presets  # noqa: PLC0415
        run, ckpt = presets.restore_run(ckpt, data_dir=args.data_dir)
    except (ValueError, TypeError, OSError) as exc:
        raise UsageError(f"cannot rebuild preset {ckpt.preset!r}: {exc}") from None
    try:
        samples = backend.to_host(run.trainer.sample(args.n, rng=backend.default_rng(args.seed),
                                                 averaged=args.averaged))
    except ValueError as exc:                      # --averaged, and the run kept no average
        raise UsageError(f"--averaged: {args.checkpoint}: {exc}") from None
    checkpoint.atomic_write(npy, lambda f: np.save(f, samples))
    kind = _kind(run)
    if kind == "2d":
        _viz().plot_samples_2d(samples, run.data, png)
    elif kind == "image":
        shown = samples[:100]
        _viz().image_grid(shown, png, nrow=int(math.ceil(math.sqrt(len(shown)))))
    elif kind == "1d":
        _histogram_1d(samples, run.data, png)
    else:
        png = None
    print(f"{prog}: {args.n} samples of {'the averaged ' if args.averaged else ''}G at iteration "
          f"{ckpt.iteration} ({ckpt.preset}), "
          f"shape {samples.shape}")
    print(f"  {npy}")
    if png:
        print(f"  {png}")
    return EXIT_OK
