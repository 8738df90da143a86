"""The checkpoint file: one ``.npz`` of plain arrays and a JSON header, no pickles.

A file (format ``minigan-checkpoint``, version 1) holds::

    format, version      the file's kind and layout version (0-d arrays)
    meta                 JSON text (a 0-d string array): the header -- the plain
                         (non-array) values of the saved state dict, and what
                         ``save`` was given beside it (``header_keys`` names those)
    <key>                every array of the saved state dict, under its own key

Every entry is a plain number, string or array, so the file is read with
``numpy.load(..., allow_pickle=False)``: reading a checkpoint never runs code.
What the keys are is the saved object's business (a GAN's: ``minigan.train.gan_state``).

Versions: 1 (since 2026-11). Buffers (state that is not a parameter) arrived
without a new version: they are arrays under their network's keys and a
``buffers`` list in the header, absent from older files, which have none.
A file of a newer version is refused with a message naming both versions.

Errors: anything wrong with the file -- missing, truncated, corrupted, not a
checkpoint, a missing entry, a newer version -- raises ``CheckpointError``
with a one-line message that names the file and what is wrong.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from .. import __version__
from .atomic import atomic_write

__all__ = ["CheckpointError", "Checkpoint", "FORMAT", "VERSION", "RESERVED", "write", "read"]

FORMAT = "minigan-checkpoint"
VERSION = 1
RESERVED = ("format", "version", "meta")        # entries of the file itself, never a state key
# the header items of files written before ``header_keys`` was recorded (what ``save`` added then)
OLD_HEADER_KEYS = ("preset", "options", "minigan_version", "saved_at", "extra")


class CheckpointError(Exception):
    """A checkpoint cannot be written, read or applied; the message says why. ``cause``: the
    ``StateError`` when the checkpoint did not fit the object it was loaded into, else None
    (so that a caller can tell one case from another without reading the text)."""

    def __init__(self, message, *, cause=None):
        super().__init__(message)
        self.cause = cause


@dataclass
class Checkpoint:
    """A checkpoint as read from disk: ``meta`` (the JSON header, parsed) and the raw host
    ``arrays`` (every entry of the file, ``format``, ``version`` and ``meta`` included)."""
    path: str
    meta: dict
    arrays: dict
    notes: list = field(default_factory=list)   # what ``load`` could not restore exactly

    @property
    def header_keys(self):
        return tuple(self.meta.get("header_keys", OLD_HEADER_KEYS)) + ("header_keys",)

    def state(self):
        """The saved state dict: every array (but the file's own entries) and every plain value
        of the header (but what ``save`` was given beside the state)."""
        out = {k: v for k, v in self.arrays.items() if k not in RESERVED}
        keys = self.header_keys
        out.update({k: v for k, v in self.meta.items() if k not in keys})
        return out

    @property
    def iteration(self):
        """The saved object's ``iteration`` (0 for one that has none, e.g. a single layer)."""
        return int(self.meta.get("iteration", 0))

    @property
    def preset(self):
        """The header item ``preset`` given to ``save`` (``minigan train`` names its preset), or None."""
        return self.meta.get("preset")

    @property
    def options(self):
        """The header item ``options`` given to ``save`` (a preset's options), or {}."""
        return dict(self.meta.get("options") or {})

    @property
    def config(self):
        """The saved trainer's ``config`` (e.g. its backend), or {}."""
        config = self.meta.get("config")
        return dict(config) if isinstance(config, dict) else {}


def write(path, arrays, meta):
    """Write host ``arrays`` (``{key: numpy array}``) and the JSON-able ``meta`` to ``path``,
    atomically, in this format. ``CheckpointError`` if it cannot."""
    bad = [k for k in arrays if k in RESERVED]
    if bad:
        raise CheckpointError(f"cannot save checkpoint {path}: {bad} are the file's own entries")
    entries = {"format": np.array(FORMAT), "version": np.array(VERSION), **arrays}
    try:
        entries["meta"] = np.array(json.dumps(meta))          # a 0-d numpy unicode array
    except TypeError as exc:
        raise CheckpointError(f"cannot save checkpoint {path}: header items (e.g. preset options, "
                              f"extra) must be JSON-able ({exc})") from exc
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise CheckpointError(f"cannot save checkpoint {path}: folder {folder} does not exist")
    try:
        atomic_write(path, lambda f: np.savez(f, **entries))
    except OSError as exc:
        raise CheckpointError(f"cannot save checkpoint {path}: {exc.strerror or exc}") from None
    return os.fspath(path)


def read(path):
    """Read and validate a checkpoint file (nothing is applied); ``CheckpointError`` on any fault."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path}: no such file")
    if os.path.isdir(path):
        inside = os.path.join(path, "checkpoint.npz")
        hint = f"; did you mean {inside}?" if os.path.isfile(inside) else ""
        raise CheckpointError(f"checkpoint {path}: is a folder, not a checkpoint file{hint}")
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path}: cannot be read ({exc.strerror or exc})") from None
    if not magic.startswith(b"PK"):        # np.load would try it as a pickle and advise loading it unsafely
        what = "a bare .npy array" if magic.startswith(b"\x93NUMPY") else "not a zip archive"
        raise CheckpointError(f"checkpoint {path} is not an .npz checkpoint ({what})")
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise ValueError("a bare .npy array, not an .npz archive")
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # truncated zip, bad CRC, pickled members, not a zip at all ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "pickle" in reason:           # never repeat NumPy's advice to load it unsafely
            reason = "it holds pickled objects, which a checkpoint never does"
        raise CheckpointError(f"checkpoint {path} is truncated or corrupted, or not a minigan "
                              f"checkpoint ({type(exc).__name__}: {reason})") from None
    for key in RESERVED:
        if key not in arrays:
            raise CheckpointError(f"checkpoint {path} lacks the entry {key!r} "
                                  "(not a minigan checkpoint, or a damaged one)")
    if str(arrays["format"]) != FORMAT:
        raise CheckpointError(f"checkpoint {path}: format {str(arrays['format'])!r}, "
                              f"expected {FORMAT!r}")
    try:
        version = int(arrays["version"])
        meta = json.loads(str(arrays["meta"]))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path}: unreadable header ({exc})") from None
    if version > VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {version}; this minigan "
                              f"({__version__}) reads up to version {VERSION}: update minigan to load it")
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint {path}: damaged header (not a JSON object)")
    if "iteration" in meta and (type(meta["iteration"]) is not int or meta["iteration"] < 0):
        raise CheckpointError(f"checkpoint {path}: damaged header (iteration {meta['iteration']!r} "
                              "is not a count)")
    return Checkpoint(path, meta, arrays)
