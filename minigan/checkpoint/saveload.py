"""Save an object's state dict to a checkpoint file, and load one back into an object.

Any object with ``state_dict()`` and ``load_state_dict(d)`` (a trainer, a layer,
an optimizer; see ``minigan.state``) can be saved: its arrays become the file's
entries (moved to the host), its plain values the JSON header, beside the
header items given to ``save`` (``minigan train`` gives ``preset``, ``options``
and ``extra``). Loading hands the saved state dict back to the object's
``load_state_dict``, which checks every key and shape before it changes
anything; what does not fit becomes a one-line ``CheckpointError``.
"""
from __future__ import annotations

import datetime

from .. import __version__, backend
from ..state import StateError, is_array
from .fileformat import Checkpoint, CheckpointError, read, write

__all__ = ["save", "load"]


def save(path, trainer, **header):
    """Write ``trainer.state_dict()`` to ``path`` (an ``.npz``), atomically.

    ``trainer``: any object with ``state_dict()``. ``header``: JSON-able items
    stored beside the state (``Checkpoint.meta``), e.g. ``preset`` and
    ``options`` (how to rebuild the run: ``minigan.presets.restore_run``) and
    ``extra`` (anything else); an item given as None is not stored. Returns ``path``.
    """
    arrays, meta = {}, {}
    for key, value in trainer.state_dict().items():
        if is_array(value):
            arrays[key] = backend.to_host(value)
        else:
            meta[key] = value
    clash = sorted(set(header) & set(meta))
    if clash:
        raise CheckpointError(f"cannot save checkpoint {path}: header items {clash} are keys of the state")
    header = {**{k: v for k, v in header.items() if v is not None},     # None: not given
              "minigan_version": __version__,
              "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    meta.update(header)
    meta["header_keys"] = sorted(header)
    return write(path, arrays, meta)


def load(source, trainer, *, strict=True):
    """Restore ``trainer`` from a checkpoint (a path, or a ``Checkpoint`` from ``read``).

    ``trainer.load_state_dict`` checks everything first, then changes
    (``strict=False`` is passed on to it: a GAN then loads a run of other
    settings). Returns the ``Checkpoint``; its ``notes`` list what the object
    could not restore exactly (e.g. CuPy generators, re-seeded).
    """
    ckpt = source if isinstance(source, Checkpoint) else read(source)
    state = ckpt.state()
    try:
        notes = trainer.load_state_dict(state) if strict else trainer.load_state_dict(state, strict=False)
    except StateError as exc:
        raise CheckpointError(f"checkpoint {ckpt.path}: {exc}", cause=exc) from None
    ckpt.notes = list(notes or [])
    return ckpt
