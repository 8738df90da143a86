"""The training loop of ``minigan train`` and ``minigan resume``: iterations of the
trainer, a progress bar, checkpoints every N iterations, and a clean stop on
Ctrl-C, on a divergence (NaN/inf) or when memory runs out.
"""
from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np

from .. import checkpoint
from ..progress import Progress
from ..train import TrainingDiverged
from .common import EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_OK, OutOfMemory, memory_message
from .files import CHECKPOINT_NAME, write_history

__all__ = ["fit", "Interrupt", "checkpoint_every"]

GAN_PROGRESS = {"V": "V", "Dx": "D_real", "DGz": "D_fake"}     # what the bar shows of a GAN's step


def checkpoint_every(value, iterations):
    """``--checkpoint-every``: as given, else every 10% of the run."""
    return max(1, iterations // 10) if value is None else value


class Interrupt:
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


def fit(run, *, out, iterations, checkpoint_every, preset, options, progress, prog,
        snapshot_at=(), on_snapshot=None):
    """Train ``iterations`` more iterations, saving checkpoints and history into ``out``.

    Returns ``(status, seconds spent in trainer.step)`` (seconds None when stopped
    inside an iteration by a second Ctrl-C, with nothing saved). The checkpoint is only ever written from a
    state that passed the finite check, so the last good one survives a divergence. A MemoryError
    becomes ``OutOfMemory`` (one line), which says whether this call saved a checkpoint.

    NumPy's floating-point warnings (overflow, invalid value, division by zero) are silenced inside
    the loop: a NaN or inf is what the trainer's finite check stops on, with its own one-line message.
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
    fields = getattr(gan, "progress_fields", None) or GAN_PROGRESS     # label on the bar -> history field
    bar = Progress(iterations, desc=preset or "train", enabled=None if progress else False)
    t0 = time.perf_counter()
    extra_time = [0.0]                 # seconds spent on snapshots and checkpoints, not training

    def timed(fn, *a):
        t = time.perf_counter()
        fn(*a)
        extra_time[0] += time.perf_counter() - t
    status = EXIT_OK
    with Interrupt() as interrupt, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            if on_snapshot is not None and gan.iteration in snapshot_at:
                timed(on_snapshot, gan)            # the state before this run's first iteration
            for _ in range(iterations):
                row = gan.step()
                bar.update(**{label: row[field] for label, field in fields.items()})
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
            elif exc.iteration - 1 > target - iterations:  # good iterations a more frequent save would keep
                print(f"{prog}: no checkpoint was saved before the divergence "
                      f"(use --checkpoint-every N to save more often)", file=sys.stderr)
            else:                                          # no save could have come before it
                print(f"{prog}: no checkpoint was saved: it diverged in its first iteration", file=sys.stderr)
            return EXIT_DIVERGED, time.perf_counter() - t0 - extra_time[0]
        except MemoryError as exc:
            bar.close()
            message = memory_message(exc, getattr(gan, "m", None))
            if last_saved[0] is not None:
                message += f"; the checkpoint of iteration {last_saved[0]} is kept ({ckpt_path})"
            raise OutOfMemory(message, saved=last_saved[0]) from None
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
