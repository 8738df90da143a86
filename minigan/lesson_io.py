"""What the MNIST lessons (07, 08, 09) share at their start: the data, or a clean
stop without it, and a ``--checkpoint`` checked before anything is read or written.

A lesson is a script a study group runs in a terminal or a notebook, so a missing
data set is not an error: the lesson says, in the command line's one line
(``MNISTMissingError``), what is missing and how to say where it is, and exits
with status 0. A bad ``--checkpoint`` is an error: one line on stderr, exit 2, as
``minigan parzen`` and ``minigan score`` give.
"""
from __future__ import annotations

import sys

from . import checkpoint, presets
from .data import mnist

__all__ = ["stop_without_data", "refuse", "image_run_or_refuse", "mnist_or_stop"]


def stop_without_data(lesson, exc):
    """No data: ``lesson NN skipped: <the command line's one line>``, and exit 0."""
    print(f"lesson {lesson} skipped: {exc.message(how='--data-dir FOLDER')}")
    sys.exit(0)


def refuse(lesson, message):
    """A bad argument: ``lesson NN: error: <message>`` on stderr, and exit 2."""
    print(f"lesson {lesson}: error: {message}", file=sys.stderr)
    sys.exit(2)


def image_run_or_refuse(lesson, path, **how):
    """The run of checkpoint ``path`` (``presets.restore_image_run``, ``how`` passed on);
    a checkpoint the lesson cannot use (missing, not a checkpoint, a G that does not
    draw 28 x 28 images) is refused."""
    try:
        return presets.restore_image_run(
            path, needed_by=f"lesson {lesson} needs a checkpoint of 'minigan train mnist-paper'", **how)[0]
    except (checkpoint.CheckpointError, ValueError, TypeError, OSError) as exc:
        refuse(lesson, exc)


def mnist_or_stop(lesson, splits, *, kind="mnist", data_dir=None, download=False):
    """``[load_mnist(split, ...) for split in splits]`` (each an (images, labels) pair);
    without the files, and without ``download`` or with a download that failed, a
    clean stop (``stop_without_data``)."""
    found = mnist.find_mnist_files(kind, data_dir)
    missing = [name for name, path in found.items() if path is None]
    if missing and not download:
        stop_without_data(lesson, mnist.MNISTMissingError(
            kind=kind, missing=missing, folders=mnist.data_folders(data_dir),
            reason="not downloaded (add --download to fetch them)"))
    try:
        return [mnist.load_mnist(split, data_dir=data_dir, kind=kind, download=download) for split in splits]
    except mnist.MNISTMissingError as exc:      # --download, and the download failed
        stop_without_data(lesson, exc)
