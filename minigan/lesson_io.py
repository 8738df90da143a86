"""What the lessons share: their options, progress lines while they train, labelled
image grids, and, for the MNIST lessons (07, 08, 09), the data (or a clean stop
without it) and a ``--checkpoint`` checked before anything is read or written.

A lesson's options take one import and one call, then its own options, if any::

    from minigan import lesson_io
    parser = lesson_io.parser("10", "what it teaches", out="10_topic", quick="a short run (seconds)")
    parser.add_argument("--iterations", type=int, default=None, help="...")
    args = parser.parse_args()

(put before the heavy imports, so that a mistyped option is refused at once). That gives every lesson ``--out``, ``--quick``, ``--seed`` and ``--help`` (and, with
``mnist=True``, ``--data-dir``, ``--kind``, ``--download``), and parses strictly: an
option the lesson does not know (a typo, ``--data_dir`` for ``--data-dir``) is an
error, one line on stderr that names the known options, and exit status 2 -- never
a run with the default silently put in its place. The only arguments it lets pass
are Jupyter's (``lesson_argv`` says which, and why).

While a lesson trains, ``ProgressLines`` prints a plain line now and then (no
carriage returns: the lines read the same in a terminal, a pipe, a log file and a
notebook)::

    progress = lesson_io.ProgressLines(iterations, "toy1d")
    for _ in range(iterations):
        gan.step()
        progress.update()

``draw_image_grid`` draws images onto a matplotlib axes with a title and row and
column labels.

A lesson is a script a study group runs in a terminal or a notebook, so a missing
data set is not an error: the lesson says, in the command line's one line
(``MNISTMissingError``), what is missing and how to say where it is, and exits
with status 0. A bad ``--checkpoint`` is an error: one line on stderr, exit 2, as
``minigan parzen`` and ``minigan score`` give.
"""
from __future__ import annotations

import argparse
import difflib
import math
import os
import sys
import time

from .progress import format_time

__all__ = ["parser", "LessonParser", "lesson_argv", "ProgressLines", "draw_image_grid",
           "stop_without_data", "refuse", "image_run_or_refuse", "mnist_or_stop"]

# The programs that start an IPython kernel: `python -m ipykernel_launcher -f FILE` (Jupyter,
# VS Code), `colab_kernel_launcher.py -f FILE` (Colab), `python -m ipykernel -f FILE`.
KERNEL_LAUNCHERS = ("ipykernel_launcher.py", "colab_kernel_launcher.py")


def _is_connection_file(path):
    """A kernel's connection file as Jupyter names it: ``.../kernel-<id>.json``."""
    name = os.path.basename(path)
    return name.startswith("kernel") and name.endswith(".json")


def _is_kernel_launcher(path):
    norm = path.replace("\\", "/")
    return os.path.basename(norm) in KERNEL_LAUNCHERS or norm.endswith("ipykernel/__main__.py")


def lesson_argv(argv=None, *, in_kernel=None):
    """The arguments meant for the lesson: ``argv`` (default ``sys.argv``) without the
    program name and without what a Jupyter kernel put there.

    The rule, and why it is safe:

    * In a notebook the lesson's cells run inside an IPython kernel, and ``sys.argv``
      is the kernel's own command line, for instance ``[".../ipykernel_launcher.py",
      "-f", ".../kernel-1a2b.json"]`` (Jupyter), ``colab_kernel_launcher.py`` in Colab,
      or ``--f=...json`` and more flags from VS Code. None of it is for the lesson. So
      when the code runs inside a kernel (``ipykernel`` is imported; ``in_kernel``
      overrides the test) *and* ``argv[0]`` is a kernel launcher, every argument is
      the launcher's: the lesson gets none and runs with its defaults.
    * ``%run lessons/NN.py --quick`` in a kernel puts the script's own name in
      ``argv[0]`` and its own arguments after it: those are parsed strictly.
    * Anywhere, the pair ``-f FILE`` (or ``-f=FILE``, ``--f=FILE``) where ``FILE`` is
      named as Jupyter names a kernel's connection file, ``kernel-<id>.json``, is
      dropped: it is what a kernel launcher passes, and no lesson has a ``-f``.

    Nothing else is dropped: any other unknown argument is an error.
    """
    argv = list(sys.argv if argv is None else argv)
    if in_kernel is None:
        in_kernel = "ipykernel" in sys.modules
    if not argv:
        return []
    if in_kernel and _is_kernel_launcher(argv[0]):
        return []
    args, rest = [], argv[1:]
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "-f" and i + 1 < len(rest) and _is_connection_file(rest[i + 1]):
            i += 2
            continue
        if a.startswith(("-f=", "--f=")) and _is_connection_file(a.split("=", 1)[1]):
            i += 1
            continue
        args.append(a)
        i += 1
    return args


class LessonParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` for a lesson: no abbreviations (``--iter`` is not
    ``--iterations``), Jupyter's arguments dropped (``lesson_argv``), and every error
    one line on stderr, ``lesson NN: error: ...``, with exit status 2; an unknown
    option's error names the known ones."""

    def __init__(self, lesson, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.lesson = lesson

    def known_options(self):
        return [max(a.option_strings, key=len) for a in self._actions if a.option_strings]

    def parse_args(self, args=None, namespace=None):
        args = lesson_argv() if args is None else list(args)
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            known = self.known_options()
            guesses = [self._meant(u.split("=", 1)[0], known) for u in unknown if u.startswith("-")]
            guesses = [g for g in guesses if g]
            hint = f" (did you mean {' or '.join(dict.fromkeys(guesses))}?)" if guesses else ""
            self.error(f"unrecognized arguments: {' '.join(unknown)}{hint}; "
                       f"the options are {', '.join(known)}")
        return parsed

    @staticmethod
    def _meant(option, known):
        """The known option ``option`` most likely stands for: the only one it abbreviates
        (``--iter``), else a close spelling (``--data_dir``, ``--dsteps``), else None."""
        longer = [k for k in known if k.startswith(option) and len(option) > 2]
        if len(longer) == 1:
            return longer[0]
        close = difflib.get_close_matches(option, known, n=1, cutoff=0.75)
        return close[0] if close else None

    def error(self, message):
        print(f"lesson {self.lesson}: error: {message}", file=sys.stderr)
        sys.exit(2)


def parser(lesson, description, *, out, quick, mnist=False):
    """The parser of lesson ``lesson`` ("07"), with what every lesson has:

    ``--out`` (default ``lesson_output/<out>``), ``--quick`` (``quick`` is its help:
    what the short run does), ``--seed`` (default 0) and ``--help``; with ``mnist``,
    the MNIST lessons' ``--data-dir``, ``--kind`` and ``--download``. Add the lesson's
    own options, then ``args = parser.parse_args()``.
    """
    p = LessonParser(lesson, prog=f"lessons/{out}.py", description=f"Lesson {lesson}: {description}")
    if mnist:
        from .data.mnist import KINDS
        p.add_argument("--data-dir", default=None, metavar="DIR", help="folder with mnist/ (else MINIGAN_DATA, the cache)")
        p.add_argument("--kind", default="mnist", choices=KINDS)
        p.add_argument("--download", action="store_true", help="download missing files into the cache")
    p.add_argument("--out", default=os.path.join("lesson_output", out), metavar="DIR",
                   help="folder for the figures (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help=quick)
    p.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: %(default)s)")
    from . import threads
    p.blas_threads = threads.use_in_lesson(lesson, mnist=mnist)    # BLAS threads from the work's size
    return p


class ProgressLines:
    """A plain line at ``lines`` evenly spaced points of a loop of ``total`` steps::

        progress = ProgressLines(3000, "D alone", unit="D steps")
        for _ in range(3000):
            ...
            progress.update()

    prints ``  D alone: 300/3000 D steps (10%), 2.1 s elapsed, about 0:19 left`` and so
    on, on stdout, flushed at once. ``update(values={"V": v})`` adds ``  V -1.3863`` to
    the line it prints. Plain lines, not a bar redrawn in place: they read the same in
    a terminal, a pipe, a log file and a notebook.
    """

    def __init__(self, total, desc, *, unit="iterations", lines=10, stream=None, clock=time.perf_counter):
        self.total, self.desc, self.unit = int(total), desc, unit
        self.marks = sorted({math.ceil(self.total * i / lines) for i in range(1, int(lines) + 1)} - {0})
        self.stream, self.clock = stream, clock
        self.n, self._next = 0, 0
        self.start = clock()

    def update(self, n=1, values=None):
        self.n += int(n)
        if self._next < len(self.marks) and self.n >= self.marks[self._next]:
            while self._next < len(self.marks) and self.n >= self.marks[self._next]:
                self._next += 1
            self.print_line(values)

    def line(self, values=None):
        elapsed = self.clock() - self.start
        text = (f"  {self.desc}: {self.n}/{self.total} {self.unit} ({100 * self.n / max(self.total, 1):.0f}%), "
                f"{elapsed:.1f} s elapsed")
        if 0 < self.n < self.total:
            text += f", about {format_time(elapsed * (self.total - self.n) / self.n)} left"
        for k, v in (values or {}).items():
            text += f"  {k} {v:.4f}" if isinstance(v, float) else f"  {k} {v}"
        return text

    def print_line(self, values=None):
        print(self.line(values), file=self.stream or sys.stdout, flush=True)


def draw_image_grid(ax, images, nrow=10, *, title=None, row_labels=None, col_labels=None,
                    shape=(28, 28), padding=2):
    """Grey images (values in [0, 1], flat or (n, H, W)) tiled ``nrow`` to a row onto the
    matplotlib axes ``ax``, pixels drawn as they are, with a ``title``, a label to the
    left of each row and, optionally, one under each column."""
    import numpy as np
    from .viz import tile_images
    a = np.asarray(images, dtype=np.float64).reshape(-1, *shape)
    n, (h, w) = len(a), shape
    cols = min(nrow, n)
    rows = -(-n // cols)
    canvas = tile_images(a, nrow, padding)
    ax.imshow(canvas, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    centre = lambda k, size: padding + k * (size + padding) + size / 2 - 0.5
    ax.set_yticks([centre(r, h) for r in range(rows)] if row_labels else [],
                  list(row_labels)[:rows] if row_labels else [])
    ax.set_xticks([centre(c, w) for c in range(cols)] if col_labels else [],
                  list(col_labels)[:cols] if col_labels else [])
    ax.tick_params(length=0, labelsize=8)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)


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
    from . import checkpoint, presets
    try:
        return presets.restore_image_run(
            path, needed_by=f"lesson {lesson} needs a checkpoint of 'minigan train mnist-paper'", **how)[0]
    except (checkpoint.CheckpointError, ValueError, TypeError, OSError) as exc:
        refuse(lesson, exc)


def mnist_or_stop(lesson, splits, *, kind="mnist", data_dir=None, download=False):
    """``[load_mnist(split, ...) for split in splits]`` (each an (images, labels) pair);
    without the files, and without ``download`` or with a download that failed, a
    clean stop (``stop_without_data``)."""
    from .data import mnist
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
