"""A run's folder: what ``minigan train PRESET --out DIR`` writes into DIR (default ``runs/PRESET``),
and the checks that keep it from writing where it should not.

    config.json       the run: preset, options, order, G loss, k, m, seed, backend, ...
    history.csv       one row per iteration: V, mean D(x), mean D(G(z)), both losses,
                      both gradient norms (train.HISTORY_FIELDS)
    history.png       those curves
    checkpoint.npz    the whole state (minigan.checkpoint), saved every
                      --checkpoint-every iterations and at the end
    figure1.png, figure1.gif   1-D data (toy1d): the paper's Figure 1 panels (a)-(d)
                      -- p_data, p_g, D(x) and the z -> x mapping -- and an animation
                      (``minigan resume`` from iteration N writes figure1_from_itN.*
                      and leaves the first run's figures as they are)
    samples.png       2-D data: samples over the data; 784-D data: an image grid

A folder that already holds a run (its checkpoint.npz) is not trained into
again: ``minigan resume DIR/checkpoint.npz`` continues that run (with
``--iterations N`` once it has finished: N more), ``--out`` names another
folder, and ``--force`` replaces the run (its files listed above, and the
``sampled_itN.*`` of ``minigan sample``, are removed first, so no figure of
the old run is left beside the new).
"""
from __future__ import annotations

import csv
import io
import json
import os

from .. import checkpoint
from ..train import HISTORY_FIELDS
from .common import UsageError

__all__ = ["CHECKPOINT_NAME", "RUN_FILES", "out_folder", "make_folder", "remove_created", "clear_old_run",
           "write_history", "write_json"]

CHECKPOINT_NAME = "checkpoint.npz"
RUN_FILES = ("config.json", "history.csv", "history.png", CHECKPOINT_NAME, "figure1.png", "figure1.gif",
             "samples.png", "samples_averaged.png")


def out_folder(path):
    """Check that ``path`` can be the output folder (a folder or nothing yet)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"--out {path} exists and is a file, not a folder")
    parent = os.path.abspath(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UsageError(f"--out {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out {path}: {parent} is not writable")
    return path


def make_folder(path):
    """``os.makedirs(path)``; returns the folders it created, deepest first (for ``remove_created``)."""
    created, folder = [], os.path.abspath(path)
    while not os.path.exists(folder):
        created.append(folder)
        folder = os.path.dirname(folder)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {path}: cannot create the folder ({exc.strerror})") from None
    return created


def remove_created(files, folders):
    """Undo a command that failed before it saved anything: remove the ``files`` it wrote, then
    each of the ``folders`` it created (deepest first) that is empty now."""
    for path in files:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:            # not empty (something else was put there), or gone
            break


def clear_old_run(out):
    """``--force``: the old run's files go, so that none is taken for the new run's."""
    try:
        for name in os.listdir(out):
            if name in RUN_FILES or name.startswith(("figure1_from_it", "sampled_it")):
                if os.path.isfile(os.path.join(out, name)):
                    os.remove(os.path.join(out, name))
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot clear the old run ({exc.strerror})") from None


def write_history(path, history):
    """Write ``trainer.history`` as CSV (columns: its fields, ``train.HISTORY_FIELDS`` for a GAN),
    atomically."""
    fields = getattr(history, "fields", HISTORY_FIELDS)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(fields)
    for row in history:
        w.writerow([row["iteration"]] + [repr(float(row[f])) for f in fields[1:]])
    data = buf.getvalue().encode()
    checkpoint.atomic_write(path, lambda f: f.write(data))


def write_json(path, obj):
    data = (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode()
    checkpoint.atomic_write(path, lambda f: f.write(data))
