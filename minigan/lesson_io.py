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

In a notebook (a lesson opened with jupytext, or written as ``.ipynb`` by
``minigan notebooks``; ``in_notebook`` says when) three things differ, and nothing
else: ``save_figure`` and ``saved`` also show each figure file under its cell; a
stop (no data, a bad option, ``--help``) prints the same lines and then raises
``LessonStopped``, which IPython shows as one line instead of a traceback and which
ends "Run all" there, where a script would exit (``SystemExit: 0`` in a notebook is
a traceback and a warning); and the options, since the kernel's command line is not
the lesson's, come from ``parser.parse_args([...])`` in the lesson's first code
cell or from the environment variable ``MINIGAN_LESSON_ARGS`` (``lesson_argv``)::

    %env MINIGAN_LESSON_ARGS=--quick --seed 1
"""
from __future__ import annotations

import argparse
import difflib
import math
import os
import shlex
import sys
import time

from .progress import format_time

__all__ = ["parser", "LessonParser", "lesson_argv", "ProgressLines", "draw_image_grid",
           "stop_without_data", "refuse", "image_run_or_refuse", "mnist_or_stop",
           "in_notebook", "LessonStopped", "save_figure", "saved", "show", "NOTEBOOK_ARGS"]

# The programs that start an IPython kernel: `python -m ipykernel_launcher -f FILE` (Jupyter,
# VS Code), `colab_kernel_launcher.py -f FILE` (Colab), `python -m ipykernel -f FILE`.
KERNEL_LAUNCHERS = ("ipykernel_launcher.py", "colab_kernel_launcher.py")
# where a lesson run by a kernel launcher finds its options (none: its defaults)
NOTEBOOK_ARGS = "MINIGAN_LESSON_ARGS"


# ---------------------------------------------------------------------- in a notebook
def in_notebook():
    """True inside a Jupyter kernel (Jupyter, JupyterLab, Colab, VS Code, nbclient), whose
    cells can show images; False in a script and in IPython at a terminal."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class LessonStopped(Exception):
    """A lesson that stops in a notebook where a script would exit with ``status``.

    The lines that say why (the missing data and how to give it, an option's error, the
    ``--help`` text) are printed before it is raised; IPython shows ``_render_traceback_``,
    one line, in place of a traceback, and, the cell having ended in an error, a
    notebook's "Run all" (and nbclient) runs none of the cells below it.
    """

    def __init__(self, lesson, status, why):
        super().__init__(f"lesson {lesson} stopped here: {why}")
        self.lesson, self.status = lesson, status

    def _render_traceback_(self):
        return [str(self)]


def _exit(lesson, status, why):
    """Exit with ``status`` from a script; in a notebook, raise ``LessonStopped``."""
    if in_notebook():
        raise LessonStopped(lesson, status, why) from None
    sys.exit(status)


def show(path):
    """In a notebook, show the figure file ``path`` (PNG or GIF) under the cell; elsewhere
    nothing (a script never needs a display)."""
    if in_notebook():
        from IPython.display import Image, display
        display(Image(filename=os.fspath(path)))


def saved(path):
    """A figure file written: ``saved PATH`` on stdout, and in a notebook the figure under
    its cell (``show``). For files another function wrote (``viz.plot_figure1`` ...):
    ``lesson_io.saved(viz.plot_history(history, path))``. Returns nothing, so that a cell
    that ends with it shows no ``Out[n]``."""
    print("saved", path)
    show(path)


def save_figure(fig, path, **savefig_kwargs):
    """``fig.savefig(path, **savefig_kwargs)``, ``fig`` closed (pyplot keeps no copy to draw
    again at the end of a notebook cell), then ``saved(path)``."""
    fig.savefig(path, **savefig_kwargs)
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt
        plt.close(fig)
    saved(path)


def _is_connection_file(path):
    """A kernel's connection file as Jupyter names it: ``.../kernel-<id>.json``."""
    name = os.path.basename(path)
    return name.startswith("kernel") and name.endswith(".json")


def _is_kernel_launcher(path):
    norm = path.replace("\\", "/")
    return os.path.basename(norm) in KERNEL_LAUNCHERS or norm.endswith("ipykernel/__main__.py")


def _launched_by_kernel(argv, in_kernel=None):
    """``argv`` is a kernel launcher's command line, and the code runs in that kernel."""
    if in_kernel is None:
        in_kernel = "ipykernel" in sys.modules
    return bool(argv) and in_kernel and _is_kernel_launcher(argv[0])


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
      the launcher's: the lesson gets those of the environment variable
      ``MINIGAN_LESSON_ARGS`` (split as a shell would), else none and runs with its
      defaults.
    * ``%run lessons/NN.py --quick`` in a kernel puts the script's own name in
      ``argv[0]`` and its own arguments after it: those are parsed strictly.
    * Anywhere, the pair ``-f FILE`` (or ``-f=FILE``, ``--f=FILE``) where ``FILE`` is
      named as Jupyter names a kernel's connection file, ``kernel-<id>.json``, is
      dropped: it is what a kernel launcher passes, and no lesson has a ``-f``.

    Nothing else is dropped: any other unknown argument is an error.
    """
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return []
    if _launched_by_kernel(argv, in_kernel):
        return shlex.split(os.environ.get(NOTEBOOK_ARGS, ""))
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
        # options a notebook took from the environment say so when they are wrong
        self.source = f" (from {NOTEBOOK_ARGS})" if args is None and _launched_by_kernel(sys.argv) else ""
        args = lesson_argv() if args is None else args
        parsed, unknown = self.parse_known_args(list(args), namespace)
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
        print(f"lesson {self.lesson}: error: {message}{getattr(self, 'source', '')}", file=sys.stderr)
        _exit(self.lesson, 2, "see the error above")

    def exit(self, status=0, message=None):
        """argparse's exit (after ``--help``): in a notebook, ``LessonStopped``."""
        if message:
            print(message, end="", file=sys.stderr)
        _exit(self.lesson, status, "--help printed the options")


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
    """No data: ``lesson NN skipped: <the command line's one line>``, and exit 0 (in a
    notebook, ``LessonStopped``: the cells below need the data)."""
    print(f"lesson {lesson} skipped: {exc.message(how='--data-dir FOLDER')}")
    _exit(lesson, 0, f"the cells below need the data (in a notebook, options go in the first code cell, "
                     f'parser.parse_args(["--data-dir", "FOLDER"]), or in %env {NOTEBOOK_ARGS}=--download)')


def refuse(lesson, message):
    """A bad argument: ``lesson NN: error: <message>`` on stderr, and exit 2."""
    print(f"lesson {lesson}: error: {message}", file=sys.stderr)
    _exit(lesson, 2, "see the error above")


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
