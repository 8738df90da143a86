"""Atomic writes: a crash leaves either the old file or the new one, never half of one.

The file is written to a temporary file in the same folder, flushed and
fsync'ed, then renamed over the old one (``os.replace``). An error or Ctrl-C
removes the temporary file too, while a process killed outright (SIGKILL,
power loss) can leave one behind (``.NAME.*.tmp`` beside NAME: safe to delete).
"""
from __future__ import annotations

import os
import tempfile

__all__ = ["atomic_write"]


def _default_file_mode():
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _default_file_mode()


def atomic_write(path, write, mode="wb"):
    """Write a file so that a crash leaves either the old file or the new one.

    ``write(f)`` writes the content to an open temporary file in the same
    folder; it is then flushed, fsync'ed and renamed over ``path``. On any
    error the temporary file is removed and the old ``path`` is untouched.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        os.chmod(tmp, _FILE_MODE)             # mkstemp makes 0600; give the usual rw-r--r--
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:                                       # make the rename itself durable (POSIX)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path
