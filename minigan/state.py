"""State dicts: what every stateful piece saves and restores, checked before it is applied.

A *state dict* is a flat ``{name: value}``: arrays (NumPy or CuPy) and plain
JSON-able values (numbers, strings, lists, dicts). Layers, optimizers,
``ParameterAverage`` and trainers each have

* ``state_dict()`` -> a snapshot (copies: later steps do not change it);
* ``check_state_dict(d)`` -> raises ``StateError`` if ``d`` does not fit, changes nothing;
* ``load_state_dict(d)`` -> ``check_state_dict(d)``, then copies ``d`` in.

Check, then copy: every key and every shape is checked before the first
array is written, so an error leaves the object as it was. Arrays are copied
*onto the target's device*: a host (NumPy) state dict loads into a layer on
the GPU (CuPy), and a GPU one into a layer on the host (``onto``).

``minigan.checkpoint`` writes such a dict to a file and reads it back.
"""
from __future__ import annotations

import numpy as np

from . import backend

__all__ = ["StateError", "check", "copy_into", "restore", "onto", "signature", "is_array"]


class StateError(KeyError, ValueError):
    """A state dict does not fit the object it is loaded into: a key is missing or
    unexpected, or an array has another shape. Nothing was changed.

    A KeyError (a missing key) and a ValueError (a wrong shape) both, so that callers
    catching either keep working; its message is the plain text (not KeyError's repr).
    """

    def __str__(self):
        return str(self.args[0]) if self.args else ""


def is_array(value):
    """True for a NumPy or CuPy array, or a NumPy scalar (a 0-d array to a file): what a state
    dict holds besides plain JSON values."""
    return hasattr(value, "shape") and hasattr(value, "dtype")


def check(who, targets, d, scalars=(), *, unexpected=True):
    """Check ``d`` against ``targets`` (``{key: array}``) without changing anything.

    Raises ``StateError`` naming every missing key (``scalars`` included: keys of plain
    values such as ``"t"``), an array of another shape, or, with ``unexpected=False``,
    a key of ``d`` that is neither a target nor a scalar.
    """
    missing = [k for k in scalars if k not in d] + [k for k in targets if k not in d]
    if missing:
        raise StateError(f"{who} state is missing {missing}")
    if not unexpected:
        extra = [k for k in d if k not in targets and k not in scalars]
        if extra:
            raise StateError(f"{who} state has unexpected {extra}; this {who} has {list(targets)}")
    for key, v in targets.items():
        if not hasattr(d[key], "shape"):
            raise StateError(f"{who} state {key} is a {type(d[key]).__name__}, not an array")
        if tuple(d[key].shape) != tuple(v.shape):
            raise StateError(f"{who} state {key} has shape {tuple(d[key].shape)}, "
                             f"the model needs {tuple(v.shape)}")


def copy_into(targets, d):
    """``targets[key][...] = d[key]`` for every key, each onto its target's device and dtype.
    Call ``check`` first: this one assumes that every key and shape fits."""
    for key, v in targets.items():
        v[...] = onto(v, d[key])


def restore(who, targets, d, scalars=(), *, unexpected=True):
    """``check`` then ``copy_into``: on an error nothing has changed."""
    check(who, targets, d, scalars, unexpected=unexpected)
    copy_into(targets, d)


def onto(like, src):
    """``src`` as an array of ``like``'s library (NumPy or CuPy) and dtype: a host state dict
    loads into an object on the GPU, and a device one into an object on the host."""
    xp = backend.array_module(like)
    if xp is np:
        return backend.to_host(src).astype(like.dtype, copy=False)
    return xp.asarray(src, dtype=like.dtype)


def signature(arrays):
    """``[[name, [shape...], dtype], ...]`` of a dict of arrays, in its order (a network's
    architecture as a checkpoint records it)."""
    return [[name, [int(s) for s in a.shape], str(a.dtype)] for name, a in arrays.items()]
