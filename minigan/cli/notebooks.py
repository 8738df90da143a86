"""``minigan notebooks [LESSON ...]``: the lessons as Jupyter notebooks (``.ipynb``), to open
in Jupyter, JupyterLab, VS Code or Colab.

A lesson is a plain script split into cells by ``# %%`` lines, jupytext's "percent"
format: ``# %% [markdown]`` opens a text cell (its lines are comments, ``# `` taken
off), ``# %%`` a code cell. jupytext reads those blocks into one cell each, in order;
this command writes the notebook with a Python 3 kernel named and one text cell on top
(where it came from, how to install minigan and how to give the lesson its options in a
notebook, ``lesson_io.NOTEBOOK_ARGS``). The ``.py`` files stay the source: the notebooks
are written from them, unexecuted, and written again when a lesson changes (``--force``).

Needs the ``notebook`` extra, ``pip install -e ".[notebook]"`` (jupytext, and nbclient
and ipykernel to run a notebook outside Jupyter). With jupytext alone,
``jupytext --to notebook lessons/07_mnist_model.py`` gives the same cells without the
note and the kernel name.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..lesson_io import NOTEBOOK_ARGS
from .common import EXIT_OK, UsageError, UsageParser, entry

__all__ = ["notebooks_main", "lesson_files", "lesson_notebook", "LESSONS_DIR"]

# the lessons of a checkout: lessons/ beside the package (an editable install, or a clone on sys.path)
LESSONS_DIR = Path(__file__).resolve().parent.parent.parent / "lessons"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
LESSON_NAME = re.compile(r"^(\d\d)_\w+\.py$")


def notebooks_main(argv):
    return entry("minigan notebooks", _notebooks, argv)


def lesson_files(folder):
    """``{"01": Path(".../01_layer_by_hand.py"), ...}``: the lessons in ``folder``, by number."""
    found = {}
    for path in sorted(Path(folder).glob("[0-9][0-9]_*.py")):
        m = LESSON_NAME.match(path.name)
        if m:
            found[m.group(1)] = path
    return found


def _choose(wanted, lessons):
    """The lesson files named in ``wanted`` ("07", "7", "07_mnist_model", "07_mnist_model.py"),
    in the order given, each once; all of them when ``wanted`` is empty."""
    if not wanted:
        return list(lessons.values())
    by_stem = {p.stem: p for p in lessons.values()}
    chosen = []
    for name in wanted:
        key = Path(name).name
        key = key[:-3] if key.endswith(".py") else key
        path = by_stem.get(key) or lessons.get(key.zfill(2) if key.isdigit() else key)
        if path is None:
            raise UsageError(f"no lesson {name!r}; the lessons are {', '.join(lessons)} "
                             f"(a number, or a name such as {next(iter(by_stem))})")
        if path not in chosen:
            chosen.append(path)
    return chosen


def _note(path):
    """The text cell on top of a lesson's notebook."""
    return (f"*Written from `lessons/{path.name}` by `minigan notebooks`; the `.py` file is the lesson's "
            f"source, and this notebook is rewritten from it.*\n"
            f"\n"
            f"**Needs minigan:** in a clone of its repository, `pip install -e \".[notebook]\"`; in Colab, "
            f"put the repository on the machine (clone or upload it) and run `!pip install -q -e FOLDER` "
            f"in a cell, then restart the session.\n"
            f"\n"
            f"**Options** (the `--help` of `python lessons/{path.name}`): the first code cell reads them. "
            f"Write them into it, `args = parser.parse_args([\"--quick\"])`, or set them before it, "
            f"`%env {NOTEBOOK_ARGS}=--quick --seed 1`; without them the lesson runs with its defaults. "
            f"Figures are saved as in the script and shown under their cells; a lesson that needs data "
            f"it cannot find says so and stops in that cell.")


def lesson_notebook(path):
    """The notebook (an ``nbformat`` v4 node) of the lesson file ``path``: its ``# %%`` cells
    in order, the note on top, a Python 3 kernel named; written again from the same lesson,
    the same bytes."""
    import jupytext
    from nbformat.v4 import new_markdown_cell
    path = Path(path)
    nb = jupytext.read(path, fmt="py:percent")
    nb.cells.insert(0, new_markdown_cell(_note(path)))
    for i, cell in enumerate(nb.cells):           # ids from the place, not random: the same lesson, the same file
        cell.id = f"{path.stem[:2]}-{i:02d}"
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def _notebooks(argv):
    prog = "minigan notebooks"
    p = UsageParser(prog=prog, description=(
        "Write the lessons as Jupyter notebooks (.ipynb) for Jupyter or Colab, one per lesson, "
        "cells as the lesson's '# %%' lines split it. Needs jupytext: pip install -e \".[notebook]\"."),
        epilog=f"Example: minigan notebooks 01 07 --out notebooks. In a notebook, options go in the first "
               f"code cell (parser.parse_args([\"--quick\"])) or in %env {NOTEBOOK_ARGS}=--quick.")
    p.add_argument("lessons", nargs="*", metavar="LESSON",
                   help="lessons to write, by number (07) or name (07_mnist_model); default: all")
    p.add_argument("--out", default="notebooks", metavar="FOLDER",
                   help="folder for the .ipynb files, created if needed (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="replace notebooks already in --out")
    p.add_argument("--lessons-dir", default=None, metavar="FOLDER",
                   help=f"where the lesson .py files are (default: the checkout's, {LESSONS_DIR})")
    args = p.parse_args(argv)

    folder = Path(args.lessons_dir) if args.lessons_dir else LESSONS_DIR
    lessons = lesson_files(folder) if folder.is_dir() else {}
    if not lessons:
        where = f"--lessons-dir {folder}" if args.lessons_dir else f"{folder} (the lessons beside the package)"
        raise UsageError(f"no lessons (NN_topic.py files) in {where}; pass --lessons-dir FOLDER, the lessons/ "
                         f"folder of a minigan checkout")
    chosen = _choose(args.lessons, lessons)
    try:
        import jupytext
    except ImportError:
        raise UsageError('needs jupytext, which is not installed: pip install -e ".[notebook]" '
                         "(or pip install jupytext)") from None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    targets = [(src, out / (src.stem + ".ipynb")) for src in chosen]
    taken = [dst.name for _, dst in targets if dst.exists()]
    if taken and not args.force:
        raise UsageError(f"--out {out} already holds {', '.join(taken)}; pass --force to replace "
                         f"{'it' if len(taken) == 1 else 'them'} (or another --out)")
    notebooks = [(src, dst, lesson_notebook(src)) for src, dst in targets]   # every lesson read before a write
    os.makedirs(out, exist_ok=True)
    for src, dst, nb in notebooks:
        dst.write_text(jupytext.writes(nb, fmt="ipynb"), encoding="utf-8")
        code = sum(c.cell_type == "code" for c in nb.cells)
        print(f"wrote {dst} ({len(nb.cells)} cells, {code} of code) from {src.name}")
    print(f"open them in Jupyter (jupyter lab {out}) or upload one to Colab")
    return EXIT_OK
