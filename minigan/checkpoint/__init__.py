"""Checkpoints: an object's whole state in one ``.npz``, with no pickles.

``save(path, trainer, **header)`` writes ``trainer.state_dict()``; ``load(path,
trainer)`` reads it back into ``trainer.load_state_dict``, which checks every
key and shape before anything is applied; ``read(path)`` reads and validates
a file without applying it. The package knows nothing of what it saves: a
GAN's keys, its compatibility rules and the CuPy generator notes are in
``minigan.train.gan_state``; rebuilding a run from a preset's checkpoint is
``minigan.presets.restore_run``.

One idea per file:

* ``atomic``     -- ``atomic_write``: a crash leaves the old file or the new one;
* ``fileformat`` -- the file: ``FORMAT``, ``VERSION``, ``write`` / ``read`` of a
  flat dict of arrays plus a JSON header, ``Checkpoint``, ``CheckpointError``;
* ``saveload``   -- ``save`` / ``load`` of an object's state dict.

Exactness of resume (a GAN; see ``minigan.train.gan_state``): on NumPy every
array and every random generator's state is restored, so N iterations in one go
and N/2 + save + load + N/2 give bit-identical parameters. CuPy's generators
(XORWOW) have no public state: they are re-seeded on load from (seed,
iteration, where) and ``Checkpoint.notes`` says so. A checkpoint saved on one
backend loads on the other (the arrays are moved).
"""
from .atomic import atomic_write
from .fileformat import FORMAT, VERSION, Checkpoint, CheckpointError, read
from .saveload import load, save

__all__ = ["CheckpointError", "Checkpoint", "FORMAT", "VERSION", "save", "read", "load", "atomic_write"]

_MOVED = {"restore_run": "minigan.presets.restore_run", "run_options": "minigan.presets.run_options",
          "RESTORE_OVERRIDES": "minigan.presets.RESTORE_OVERRIDES",
          "architecture": "minigan.state.signature(net.params)"}


def __getattr__(name):   # PEP 562: a name that moved says where to, in one line
    if name in _MOVED:
        raise AttributeError(f"minigan.checkpoint.{name} moved: use {_MOVED[name]} (a checkpoint knows "
                             "nothing of presets or networks)")
    raise AttributeError(f"module 'minigan.checkpoint' has no attribute {name!r}")
