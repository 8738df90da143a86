"""What every ``minigan`` command shares: exit statuses, the one-line usage error,
argument types, and ``entry``, which turns bad input into one line on stderr.

Exit statuses:

    0   done
    2   bad input (unknown preset, k < 1, m < 1, a rate that is not a positive
        number, an unreadable checkpoint, an output folder that is a file or
        already holds a run, missing data, a run too big for the memory, ...):
        one line on stderr, nothing written or overwritten
    3   training diverged (a NaN/inf loss or parameter): the message names the
        iteration and the quantity; the last good checkpoint is kept as it was
    130 interrupted with Ctrl-C: the current iteration is finished, then a
        checkpoint is saved (``minigan resume`` continues from it)
"""
from __future__ import annotations

import argparse
import math
import os
import sys

from .. import backend, checkpoint
from ..data.mnist import MNISTMissingError

__all__ = ["EXIT_OK", "EXIT_USAGE", "EXIT_DIVERGED", "EXIT_INTERRUPTED", "UsageError", "OutOfMemory",
           "ArgumentParser", "UsageParser", "int_at_least", "number", "rate", "decay", "entry",
           "use_backend", "check_data_dir", "memory_message", "build_run", "DATA_DIR_FLAG"]

EXIT_OK, EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 2, 3, 130
DATA_DIR_FLAG = "--data-dir FOLDER"     # how a missing-data message tells the user to say where the data is


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


class OutOfMemory(UsageError):
    """The run did not fit in memory; ``saved`` is the iteration of the last checkpoint this
    command wrote (None: it wrote none, so what it created may go)."""

    def __init__(self, message, saved=None):
        super().__init__(message)
        self.saved = saved


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with the command line's convention for bad input: one line
    on stderr (``PROG: error: MESSAGE (see PROG --help)``) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class UsageParser(argparse.ArgumentParser):
    """argparse whose errors raise ``UsageError`` (for commands run inside ``entry``)."""

    def error(self, message):
        raise UsageError(message)


# ---------------------------------------------------------------------- argument types
def int_at_least(lo, what):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be an integer >= {lo}, got {text!r}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"{what} must be an integer >= {lo}, got {text!r}")
        return value
    return parse


def number(what, accept, expected):
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


def rate(what):
    return number(what, lambda v: math.isfinite(v) and v > 0, "a positive number")


def decay(what):
    return number(what, lambda v: 0 <= v < 1, "a decay in [0, 1)")


# ---------------------------------------------------------------------- checks shared by the commands
def use_backend(name, where="--backend "):
    try:
        backend.use(name)
    except (ValueError, backend.BackendError) as exc:
        raise UsageError(f"{where}{name}: {exc}") from None


def check_data_dir(path):
    """``--data-dir`` must name a folder that exists: nothing is looked for (or downloaded) at a typo."""
    if path is not None and not os.path.isdir(path):
        raise UsageError(f"--data-dir {path} is not a folder")
    return path


def memory_message(exc, m=None):
    """One line for a MemoryError, naming the minibatch size when the failed allocation was of m rows."""
    what = " ".join(str(exc).split()) or "out of memory"
    if m is not None and f"({m}," in what:
        return f"--m {m} is too large for this machine's memory ({what}); pass a smaller --m"
    return f"out of memory ({what})"


# ---------------------------------------------------------------------- the wrapper of every command
def fail(prog, message):
    print(f"{prog}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def entry(prog, body, argv):
    """Run ``body(argv)``; bad input becomes one line on stderr and exit 2."""
    try:
        return body(list(argv))
    except UsageError as exc:
        return fail(prog, str(exc).replace("\n", " "))
    except MNISTMissingError as exc:
        return fail(prog, exc.message(how=DATA_DIR_FLAG))
    except checkpoint.CheckpointError as exc:
        return fail(prog, str(exc))
    except MemoryError as exc:
        return fail(prog, memory_message(exc))
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


def build_run(preset_name, options, *, load_data=True):
    """``presets.build``, its errors as one line. ``load_data=False``: the run is only
    drawn from (its G comes from a checkpoint), so no data set is read."""
    from .. import presets
    try:
        return presets.build(preset_name, load_data=load_data, **options)
    except MNISTMissingError:
        raise                          # entry prints it, one line, the same for every command
    except MemoryError as exc:
        raise UsageError(f"preset {preset_name!r}: {memory_message(exc, options.get('m'))}") from None
    except (ValueError, TypeError, OSError, backend.BackendError) as exc:
        msg = " ".join(str(exc).split()) if str(exc) else type(exc).__name__
        raise UsageError(f"preset {preset_name!r}: {msg}") from None
