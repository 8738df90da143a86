"""The ``minigan`` command (also ``python -m minigan``).

Each subcommand is a function ``f(argv) -> exit status`` that owns its own
argument parser; this module only dispatches. Bad input exits with status 2
and a one-line message on stderr.
"""
from __future__ import annotations

import argparse
import importlib
import sys


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with the command line's convention for bad input: one line
    on stderr (``PROG: MESSAGE (see PROG --help)``) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")

# name -> ("module:function", one-line help)
COMMANDS = {
    "train": ("minigan.commands:train_main", "train a GAN from a preset (default: toy1d, Figure 1)"),
    "resume": ("minigan.commands:resume_main", "continue training from a checkpoint"),
    "sample": ("minigan.commands:sample_main", "draw samples from a checkpoint's generator"),
    "parzen": ("minigan.metrics:parzen_main", "Parzen-window log-likelihood of a checkpoint (Table 1)"),
    "gradcheck": ("minigan.gradcheck:main", "gradient-check every layer and loss"),
    "check-exercise": ("minigan.exercises:main", "gradient-check your own backward pass"),
}


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
        from . import __version__
        print(f"minigan {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"minigan: unknown command {name!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module, func = COMMANDS[name][0].split(":")
    return int(importlib.import_module(module).__dict__[func](rest) or 0)
