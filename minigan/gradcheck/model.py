"""How the checker sees a model: a chain of leaves, walked in forward order.

A *chain* feeds each of its ``.layers`` into the next: a ``Sequential`` (whose
forward is Sequential's own) or ``Chain`` (G then D). Everything else is a
*leaf*, including a composite with a forward of its own (say, one that passes a
label around its layers): the checker cannot know the inputs of its inner
layers, so it asks the composite itself (``kink_gaps``, ``draws_random``, ...).
"""
from __future__ import annotations

import copy

import numpy as np

from .. import backend
from ..layers import Layer, Sequential, no_grad, walk_layers

__all__ = ["Chain", "is_chain", "is_composite", "walk", "leaf_inputs", "pending_caches",
           "coupling_layers", "overrides", "float64_copy", "default_input"]


class Chain:
    """G then D, walked as one chain (random draws, kink margins, coupled rows)."""

    def __init__(self, *parts):
        self.layers = list(parts)


def is_composite(module):
    """True when ``module`` holds sub-layers in a ``.layers`` list."""
    return isinstance(getattr(module, "layers", None), (list, tuple))


def is_chain(module):
    """True when ``module``'s forward feeds each of its ``.layers`` into the next
    (a Sequential, or G then D); a composite with a forward of its own is a leaf."""
    if not is_composite(module):
        return False
    return isinstance(module, Chain) or type(module).forward is Sequential.forward


def overrides(obj, method):
    """True when ``obj``'s class defines ``method`` itself: not the ``Layer`` default, nor
    ``Sequential``'s (which walks ``.layers`` as a chain: wrong for a subclass with a forward
    of its own, unless that subclass passes the call on itself)."""
    own = getattr(type(obj), method, None)
    return own is not None and own not in (getattr(Layer, method, None), getattr(Sequential, method, None))


def walk(module, x, visit):
    """Forward ``x`` through ``module`` leaf by leaf (into the ``.layers`` of
    chains), calling ``visit(leaf, x_in)`` before each leaf's forward; no caches kept."""
    if is_chain(module):
        for sub in module.layers:
            x = walk(sub, x, visit)
        return x
    visit(module, x)
    with no_grad():
        return module.forward(x)


def leaf_inputs(module, x):
    """[(leaf, the input it receives)] for every leaf of ``module``, in forward order."""
    seen = []
    walk(module, x, lambda leaf, x_in: seen.append((leaf, x_in)))
    return seen


def pending_caches(module):
    """The number of forwards still waiting for their backward, over every layer."""
    if is_composite(module):
        return sum(pending_caches(s) for s in module.layers)
    return len(getattr(module, "_cache", ()))


def coupling_layers(module):
    """Names of the layers of ``module`` whose rows are coupled (``couples_rows``):
    the innermost ones (a Sequential couples rows because one of its layers does)."""
    names = []
    for _, layer in walk_layers(module):
        subs = layer.layers if is_composite(layer) else ()
        if getattr(layer, "couples_rows", False) and not any(getattr(s, "couples_rows", False) for s in subs):
            names.append(type(layer).__name__)
    return names


def _generators(module):
    """The random generators the layers of ``module`` hold (``Layer.generators()``)."""
    for _, layer in walk_layers(module):
        method = getattr(layer, "generators", None)
        if callable(method):
            yield from method().values()


def float64_copy(module):
    """A deep copy cast with ``.astype(float64)`` (when it has one). The copy shares
    the layers' random generators with the original: a CuPy Generator cannot be
    deep-copied, and the check freezes every draw, so the copy never draws."""
    memo = {id(g): g for g in _generators(module)}
    model = copy.deepcopy(module, memo)
    if hasattr(model, "astype"):
        model.astype(np.float64)
    return model


def default_input(module, batch, rng):
    """N(0, 1) of shape (batch, n_in), n_in read from the first leaf (5 if it has none)."""
    leaf = module
    while is_composite(leaf) and leaf.layers:
        leaf = leaf.layers[0]
    n_in = getattr(leaf, "n_in", 5)
    return backend.to_device(rng.standard_normal((batch, n_in)))
