"""Initialisers: the paper's U(-irange, irange) and Glorot-uniform."""
from __future__ import annotations

import numpy as np

from .. import backend

__all__ = ["uniform_init", "glorot_uniform_init"]


def _host_rng(rng):
    """A NumPy Generator from a Generator, an int seed or None."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def uniform_init(shape, irange, rng=None, dtype=None):
    """U(-irange, irange), the paper's (pylearn2's) ``irange`` initialiser.

    Drawn on the host with NumPy so that one seed gives the same weights on
    every backend, then moved to the active backend.
    """
    if not irange > 0:
        raise ValueError(f"irange must be > 0, got {irange!r}")
    w = _host_rng(rng).uniform(-irange, irange, size=shape)
    return backend.to_device(w, dtype=dtype or backend.DEFAULT_DTYPE)


def glorot_uniform_init(shape, rng=None, dtype=None):
    """Glorot & Bengio (2010): U(-r, r) with r = sqrt(6 / (fan_in + fan_out))."""
    return uniform_init(shape, float(np.sqrt(6.0 / (shape[0] + shape[-1]))), rng, dtype)


