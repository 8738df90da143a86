"""The ``minigan`` command (also ``python -m minigan``).

Each subcommand is a function ``f(argv) -> exit status`` that owns its own
argument parser; this module only dispatches. Bad input exits with status 2
and a one-line message on stderr (the statuses: ``minigan.cli.common``).

One idea per file:

    common.py    exit statuses, UsageError, the argument parsers and types, ``entry``
                 (bad input, missing data, an out-of-memory run -> one line, exit 2)
    files.py     what a run's folder holds, and the checks before anything is written there
    fit.py       the training loop: checkpoints, Ctrl-C, divergence
    reports.py   a finished run's figures and final numbers
    describe.py  a preset in words: its defaults and --set keys (train --help), measured run times,
                 and the description a run records (a paper's figure said as a reference)
    train.py     minigan train PRESET
    resume.py    minigan resume CHECKPOINT
    sample.py    minigan sample CHECKPOINT (and ``restore_generator``: a run rebuilt to draw from)
    parzen.py    minigan parzen CHECKPOINT (the metric itself is ``minigan.metrics``)
    score.py     minigan score CHECKPOINT (IS, FID, precision/recall, density/coverage; ``score_checkpoint``)
    notebooks.py minigan notebooks [LESSON ...] (the lessons as .ipynb, through jupytext)

``minigan gradcheck`` and ``minigan check-exercise`` live with what they check
(``minigan.gradcheck``, ``minigan.exercises``).
"""
from __future__ import annotations

import importlib
import sys

from .common import (EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, ArgumentParser,  # noqa: F401
                     UsageError)

__all__ = ["main", "usage", "COMMANDS", "ArgumentParser", "UsageError", "EXIT_OK", "EXIT_USAGE",
           "EXIT_DIVERGED", "EXIT_INTERRUPTED", "train_main", "resume_main", "sample_main", "parzen_main",
           "score_main", "notebooks_main"]

# name -> ("module:function", one-line help)
COMMANDS = {
    "train": ("minigan.cli.train:train_main", "train a GAN from a preset (default: toy1d, Figure 1)"),
    "resume": ("minigan.cli.resume:resume_main", "continue training from a checkpoint"),
    "sample": ("minigan.cli.sample:sample_main", "draw samples from a checkpoint's generator"),
    "parzen": ("minigan.cli.parzen:parzen_main", "Parzen-window log-likelihood of a checkpoint (Table 1)"),
    "score": ("minigan.cli.score:score_main", "IS, FID, precision/recall, density/coverage of a checkpoint"),
    "gradcheck": ("minigan.gradcheck:main", "gradient-check every layer and loss"),
    "check-exercise": ("minigan.exercises:main", "gradient-check your own backward pass"),
    "notebooks": ("minigan.cli.notebooks:notebooks_main", "write the lessons as Jupyter notebooks (.ipynb)"),
}


def _command(name):
    module, func = COMMANDS[name][0].split(":")
    return getattr(importlib.import_module(module), func)


def __getattr__(attr):
    """``cli.train_main`` etc.: each command's function, imported when first asked for."""
    for name in COMMANDS:
        if attr == f"{name}_main":
            return _command(name)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def usage() -> str:
    lines = ["usage: minigan COMMAND [options]   (minigan COMMAND --help for details)", "", "commands:"]
    lines += [f"  {name:<15} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from .. import __version__
        print(f"minigan {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"minigan: unknown command {name!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return int(_command(name)(rest) or 0)
