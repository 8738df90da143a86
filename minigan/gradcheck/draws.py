"""Random draws frozen for a check: every forward, analytic and numeric, takes the same ones.

A central difference compares L(theta + eps) with L(theta - eps); if the two
forwards drew different Dropout masks (or noise, or a VAE's epsilon) it
measures the change of the draw, not of theta. The checker learns which draws
to freeze from each layer, through the protocol of ``minigan.layers.Layer``:

* ``draws_random()``: would the next forward draw random numbers?
* ``freeze_random(x, rng) -> token``: fix the draws for input ``x`` (from the
  check's own seeded NumPy Generator ``rng``);
* ``unfreeze_random(token)``: put back what was there.

Draws are frozen for an input's shape: a row re-drawn away from a kink keeps
them; when rows are dropped the draws are frozen again for the smaller batch.
"""
from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..layers import walk_layers
from .model import is_composite, overrides, walk

__all__ = ["Frozen", "draws_random", "freeze_draws", "unfreeze_draws", "frozen_state",
           "restore_state", "frozen_random", "frozen_dropout", "describe"]


@dataclass
class Frozen:
    """One layer whose draws the checker froze: the input it froze them for, and
    the token that puts back what was there."""
    layer: object
    x_in: object
    token: object


def draws_random(layer) -> bool:
    """``layer.draws_random()``, False for an object without the method."""
    method = getattr(layer, "draws_random", None)
    return bool(method()) if callable(method) else False


def _refuse_hidden_draws(leaf):
    """A composite with a forward of its own: the inputs of its inner layers are
    unknown, so their draws cannot be frozen from outside (unless it freezes them itself)."""
    if not is_composite(leaf) or overrides(leaf, "freeze_random"):
        return
    drawing = sorted({type(l).__name__ for _, l in walk_layers(leaf)
                      if l is not leaf and not is_composite(l) and draws_random(l)})
    if drawing:
        raise ValueError(f"gradcheck cannot freeze the random draws of {', '.join(drawing)} inside "
                         f"{type(leaf).__name__}: its forward is not a chain of its .layers, so their "
                         "inputs are unknown; freeze them yourself (a Dropout's fixed_mask, say), "
                         "or check it in eval mode")


def freeze_draws(module, x, rng) -> list:
    """Freeze the draws of every layer of ``module`` that would draw, for input ``x``
    (walked in forward order, each layer frozen for the input it receives).
    Returns [Frozen] for ``unfreeze_draws``; on an error, what was frozen is put back."""
    frozen = []

    def visit(leaf, x_in):
        _refuse_hidden_draws(leaf)
        if draws_random(leaf) and (not is_composite(leaf) or overrides(leaf, "freeze_random")):
            frozen.append(Frozen(leaf, x_in, leaf.freeze_random(x_in, rng)))
    try:
        walk(module, x, visit)
    except BaseException:
        unfreeze_draws(frozen)
        raise
    return frozen


def unfreeze_draws(frozen):
    """Put back what each frozen layer held before (last frozen, first put back)."""
    for f in reversed(frozen):
        f.layer.unfreeze_random(f.token)


def frozen_state(frozen) -> list:
    """Tokens that put the frozen layers back into their present (frozen) state:
    freezing again hands back what is there now, and unfreezing at once keeps it.
    Draws for this come from a scratch generator, not the check's."""
    scratch = np.random.default_rng(0)
    state = []
    for f in frozen:
        token = f.layer.freeze_random(f.x_in, scratch)
        f.layer.unfreeze_random(token)
        state.append((f.layer, token))
    return state


def restore_state(state):
    """Put the layers of ``frozen_state`` back into that state."""
    for layer, token in state:
        layer.unfreeze_random(token)


def describe(frozen) -> str:
    """"3 Dropout" / "2 Dropout, 1 GaussianNoise": which layers' draws were frozen."""
    counts = Counter(type(f.layer).__name__ for f in frozen)
    return ", ".join(f"{n} {name}" for name, n in counts.items())


@contextlib.contextmanager
def frozen_random(model, x, seed=0):
    """Inside this block every layer of ``model`` that would draw random numbers
    (a Dropout mask, Gaussian noise, ...; found through ``.layers``) uses one fixed
    draw for input ``x``, from a generator seeded with ``seed``; what each held
    before is put back afterwards, even on an exception. Yields the layers whose
    draws were frozen, in forward order::

        with frozen_random(D, x):
            ...   # D.forward(x) gives the same output every time

    A Dropout whose ``fixed_mask`` is already set draws nothing and is left as it is.
    """
    frozen = freeze_draws(model, x, np.random.default_rng(seed))
    try:
        yield [f.layer for f in frozen]
    finally:
        unfreeze_draws(frozen)


frozen_dropout = frozen_random     # the name before every random draw could be frozen
