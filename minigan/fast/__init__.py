"""Fast kernels: the same numbers as the textbook code, in fewer passes over memory.

The layers, losses and optimizers are written as the textbook writes them:
``Maxout.forward`` calls ``max_over_pieces(z)``, ``Sigmoid.forward`` calls
``sigmoid_and_slope(x)``, ``SGD.step`` runs ``momentum_update(theta, v, g, lr, mu)``
(v <- mu v - lr g; theta <- theta + v) on each parameter. A textbook function that
has a faster twin is marked ``@fast.has_twin``; the twin lives here, in the module
named like the textbook one's (``layers/maxout.py`` -> ``fast/maxout.py``), and is
registered with ``@twin_of("<the textbook function's full name>")``:

    textbook (where a learner reads it)           fast twin (here)
    minigan.layers.maxout.max_over_pieces         maxout.max_over_pieces_fast
    minigan.layers.maxout.route_to_winner         maxout.route_to_winner_fast
    minigan.losses.logistic.sigmoid_and_slope     logistic.sigmoid_and_slope_fast
    minigan.optim.sgd.momentum_update_all         sgd.momentum_update_all_fast (momentum_update_many)
    minigan.layers.minibatch_discrimination.similarities(_backward)
                                                  minibatch_discrimination.similarities(_backward)_fast
    minigan.train.gan.discriminator_gradients     gan.discriminator_gradients_fast (one 2m-row pass)
    minigan.train.gan.both_players_gradients      gan.both_players_gradients_fast (the same, simultaneous order)

When fast kernels are on (the default) a call of the textbook function runs its
twin. ``MINIGAN_FAST=0`` in the environment, ``fast.enabled(False)``, or a block
``with fast.enabled(False): ...`` runs the textbook code everywhere.
tests/test_fastpaths.py checks each twin equal to its textbook function (bit for
bit, except where a docstring here says what differs) and a whole GAN iteration
run both ways.
"""
from __future__ import annotations

import functools
import importlib
import os
import sys

__all__ = ["enabled", "is_enabled", "has_twin", "twin_of", "textbook", "twins"]

_OFF = ("0", "false", "off", "no")
_state = {"on": os.environ.get("MINIGAN_FAST", "1").strip().lower() not in _OFF}
_textbook = {}     # name without the package ("layers.maxout.max_over_pieces") -> textbook function
_twins = {}        # the same key -> its fast twin


class enabled:
    """``fast.enabled(False)`` runs the textbook code from here on, ``fast.enabled(True)``
    the fast twins; used as ``with fast.enabled(False): ...`` the previous setting
    comes back at the end of the block."""

    def __init__(self, on):
        self.previous = _state["on"]
        _state["on"] = bool(on)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state["on"] = self.previous
        return False


def is_enabled() -> bool:
    """Whether calls of textbook functions run their fast twins."""
    return _state["on"]


def _name(fn):
    return f"{fn.__module__}.{fn.__qualname__}"


def _key(name):
    """``"minigan.layers.maxout.max_over_pieces"`` -> ``"layers.maxout.max_over_pieces"``: the
    registry does not depend on the package's own name (a copy imported under another
    name, as benchmarks/compare_revisions.py does, finds its twins too)."""
    return name.partition(".")[2]


def has_twin(fn):
    """Marks a textbook function (or method) that has a fast twin in ``minigan.fast``:
    a call runs the twin while fast kernels are on, ``fn`` itself otherwise.
    The textbook version stays reachable as ``wrapper.textbook``."""
    name = _name(fn)
    key = _key(name)
    _textbook[key] = fn

    @functools.wraps(fn)
    def call(*args, **kwargs):
        if _state["on"]:
            twin = _twins.get(key)
            if twin is not None:
                return twin(*args, **kwargs)
        return fn(*args, **kwargs)

    call.textbook = fn
    call.twin_name = name
    return call


def twin_of(name):
    """Registers the decorated kernel as the fast twin of the textbook function
    ``name`` (its full dotted name, e.g. ``"minigan.layers.maxout.max_over_pieces"``)."""
    def register(kernel):
        if _key(name) in _twins:
            raise ValueError(f"{name} already has a fast twin: {_name(_twins[_key(name)])}")
        _twins[_key(name)] = kernel
        kernel.textbook_name = name
        return kernel
    return register


def textbook(kernel):
    """The textbook function a registered fast kernel stands in for (for the
    inputs a kernel leaves to it, such as a plain number)."""
    key = _key(kernel.textbook_name)
    if key not in _textbook:              # its module not imported yet: importing it registers it
        module = f"{__name__.partition('.')[0]}.{key}"
        while module not in sys.modules and module.count(".") > 1:
            module = module.rsplit(".", 1)[0]
            try:
                importlib.import_module(module)
            except ImportError:
                continue
    return _textbook[key]


def twins():
    """{textbook name: fast twin} of every registered kernel."""
    return {kernel.textbook_name: kernel for kernel in _twins.values()}


from . import gan, logistic, maxout, minibatch_discrimination, sgd  # noqa: E402,F401 -- registers the twins
