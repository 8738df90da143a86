"""The lessons as notebooks.

``minigan notebooks`` writes one ``.ipynb`` per lesson whose cells are the lesson's
``# %%`` blocks in order. A lesson's notebook, executed by nbclient in an IPython kernel
as Jupyter runs it (the kernel's own ``-f kernel-<id>.json`` on its command line), takes
its options from ``MINIGAN_LESSON_ARGS``, runs quick, shows each figure under its cell and
writes it; a lesson that stops (no MNIST) ends its notebook in one line where a script
exits, not ``SystemExit: 0``, and runs none of the cells below; a bad option is refused in
a notebook as on the command line.

The tests that convert or execute need the ``notebook`` extra (``pip install -e
".[notebook]"``) and skip, saying so, without it; the rest test ``lesson_io`` alone.
"""
import base64
import os
import re
from pathlib import Path

import pytest

from minigan import cli, lesson_io

ROOT = Path(__file__).resolve().parent.parent
LESSON_DIR = ROOT / "lessons"
LESSONS = sorted(p.name for p in LESSON_DIR.glob("[0-9][0-9]_*.py"))
EXTRA = 'the notebook extra is not installed (pip install -e ".[notebook]")'


@pytest.fixture
def notebook_extra():
    """jupytext, nbformat, nbclient and an IPython kernel, or a skip that says what is missing."""
    for module in ("jupytext", "nbformat", "nbclient", "ipykernel"):
        pytest.importorskip(module, reason=f"{module}: {EXTRA}")
    import nbformat
    return nbformat


def cells_of(path):
    """The lesson's ``# %%`` blocks as (kind, source), read here without jupytext: a
    ``# %% [markdown]`` block's lines lose their ``# ``, a code block is kept as written;
    the blank lines around a block are not part of it."""
    blocks, kind, lines = [], None, []
    for line in path.read_text(encoding="utf-8").splitlines() + ["# %%"]:
        if line.startswith("# %%"):
            if kind is not None:
                blocks.append((kind, "\n".join(lines).strip("\n")))
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        elif kind == "markdown":
            lines.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
        elif kind is not None:
            lines.append(line)
    return blocks


def write_notebooks(tmp_path, *args):
    out = tmp_path / "nb"
    assert cli.main(["notebooks", "--out", str(out), *args]) == 0
    return out


def execute(nbformat, path, cwd, env, timeout=120):
    """Run the notebook at ``path`` as Jupyter's "Run all" would (stop at the first cell that
    ends in an error), in a fresh kernel with ``env`` added to its environment; returns the
    notebook and the ``CellExecutionError`` (None if every cell ran)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MINIGAN_BACKEND="numpy", **env)
    env.pop("MPLBACKEND", None)              # matplotlib's backend as a Jupyter kernel chooses it (inline)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute(env=env)
    except CellExecutionError as exc:
        return nb, exc
    return nb, None


def outputs(cell, kind):
    return [o for o in cell.outputs if o.output_type == kind]


def stdout(cell):
    return "".join(o.text for o in outputs(cell, "stream") if o.name == "stdout")


# ----------------------------------------------------------------------------- the command
def test_notebooks_writes_one_notebook_per_lesson_with_its_cells_in_order(tmp_path, notebook_extra, capsys):
    out = write_notebooks(tmp_path)
    assert sorted(p.name for p in out.iterdir()) == sorted(n[:-3] + ".ipynb" for n in LESSONS)
    printed = capsys.readouterr().out.splitlines()
    for name in LESSONS:
        nb = notebook_extra.read(out / (name[:-3] + ".ipynb"), as_version=4)
        notebook_extra.validate(nb)
        assert nb.metadata.kernelspec.name == "python3"
        note, *cells = nb.cells
        # the note on top: where it came from, how to install, how to give options
        assert note.cell_type == "markdown" and f"lessons/{name}" in note.source
        assert "MINIGAN_LESSON_ARGS" in note.source and 'parser.parse_args(["--quick"])' in note.source
        want = cells_of(LESSON_DIR / name)
        assert [(c.cell_type, c.source) for c in cells] == want, name
        assert want[0][1].startswith("# Lesson " + name[:2]) and sum(k == "code" for k, _ in want) >= 3
        assert any(line.startswith(f"wrote {out / name[:-3]}.ipynb (") for line in printed)


def test_notebooks_writes_the_lessons_asked_for_and_refuses_in_one_line(tmp_path, notebook_extra, capsys):
    out = write_notebooks(tmp_path, "1", "07_mnist_model.py", "01")
    assert sorted(p.name for p in out.iterdir()) == ["01_layer_by_hand.ipynb", "07_mnist_model.ipynb"]
    before = (out / "01_layer_by_hand.ipynb").read_bytes()
    capsys.readouterr()
    # an existing notebook is kept unless --force
    assert cli.main(["notebooks", "--out", str(out), "01", "02"]) == 2
    err = capsys.readouterr().err
    assert err == (f"minigan notebooks: error: --out {out} already holds 01_layer_by_hand.ipynb; "
                   "pass --force to replace it (or another --out)\n")
    assert not (out / "02_gradient_checking.ipynb").exists()
    (out / "01_layer_by_hand.ipynb").write_text("{}")
    assert cli.main(["notebooks", "--out", str(out), "01", "--force"]) == 0
    assert (out / "01_layer_by_hand.ipynb").read_bytes() == before
    # a lesson that does not exist, named with the ones that do
    capsys.readouterr()
    assert cli.main(["notebooks", "--out", str(tmp_path / "other"), "01", "99"]) == 2
    line, = capsys.readouterr().err.splitlines()
    assert line.startswith("minigan notebooks: error: no lesson '99'; the lessons are 01, 02, ")
    assert not (tmp_path / "other").exists()
    # a folder without lessons
    assert cli.main(["notebooks", "--out", str(tmp_path / "other"), "--lessons-dir", str(tmp_path)]) == 2
    line, = capsys.readouterr().err.splitlines()
    assert "no lessons (NN_topic.py files) in --lessons-dir" in line


def test_notebooks_help_says_what_it_needs(capsys):
    assert cli.main(["notebooks", "--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: minigan notebooks") and '.[notebook]' in text and "--force" in text
    assert "notebooks" in cli.usage()


# ----------------------------------------------------------------------------- executed in a kernel
def test_lesson_notebook_runs_quick_and_shows_its_figures(tmp_path, notebook_extra):
    nbdir = write_notebooks(tmp_path, "01")
    out = tmp_path / "out"
    path = nbdir / "01_layer_by_hand.ipynb"
    nb = notebook_extra.read(path, as_version=4)
    # one cell more: what the kernel's command line held, and what the lesson made of it
    nb.cells.append(notebook_extra.v4.new_code_cell("print(sys.argv); print(args.quick, args.out)"))
    notebook_extra.write(nb, path)
    nb, error = execute(notebook_extra, path, tmp_path,
                        {"MINIGAN_LESSON_ARGS": f"--quick --out '{out}'"})
    assert error is None, error
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert not any(outputs(c, "error") or outputs(c, "execute_result") for c in code)
    argv, parsed = stdout(code[-1]).splitlines()
    # the kernel launcher's command line (its -f connection file and more), none of it the lesson's
    assert re.match(r"\['[^']*ipykernel_launcher\.py', '-f', '[^']*\.json'", argv), argv
    assert parsed == f"True {out}"                                     # MINIGAN_LESSON_ARGS, parsed strictly
    text = "".join(stdout(c) for c in code)
    assert re.search(r"^ReLU +\|dL/dx\| .*; \d\.\d+ per layer\)$", text, re.M)
    assert f"figures are in {out.resolve()}" in text
    # each figure saved, then shown under the cell that made it: the very bytes of the file
    shown = [(c, o) for c in code for o in outputs(c, "display_data")]
    assert len(shown) == 2
    for (cell, o), name in zip(shown, ["01_activations.png", "01_chain_rule.png"]):
        assert f"saved {out / name}" in stdout(cell)
        assert base64.b64decode(o.data["image/png"]) == (out / name).read_bytes()
    assert sorted(p.name for p in out.iterdir()) == ["01_activations.png", "01_chain_rule.png"]


def test_lesson_notebook_without_mnist_stops_in_one_line(tmp_path, notebook_extra):
    """Lesson 07 with no MNIST anywhere: the cell says what is missing and how to give it, then
    stops the notebook with one line (no traceback, no SystemExit), running no cell below."""
    import matplotlib
    nbdir = write_notebooks(tmp_path, "07")
    empty, out = tmp_path / "empty", tmp_path / "out"
    empty.mkdir()
    nb, error = execute(notebook_extra, nbdir / "07_mnist_model.ipynb", tmp_path,
                        {"MINIGAN_DATA": str(empty), "XDG_CACHE_HOME": str(empty),
                         "MPLCONFIGDIR": matplotlib.get_cachedir(), "MINIGAN_LESSON_ARGS": f"--quick --out {out}"})
    assert error is not None and error.ename == "LessonStopped", error
    code = [c for c in nb.cells if c.cell_type == "code"]
    ran = [c for c in code if c.execution_count is not None]
    stop = ran[-1]
    assert len(ran) < len(code) and all(not c.outputs for c in code[len(ran):])
    assert stdout(stop).startswith("lesson 07 skipped: mnist files not found: train-images-idx3-ubyte.gz")
    assert "pass --data-dir FOLDER, the folder that holds them, or set MINIGAN_DATA" in stdout(stop)
    err, = outputs(stop, "error")
    assert err.ename == "LessonStopped"
    assert err.traceback == [err.evalue] and err.evalue.startswith(
        "lesson 07 stopped here: the cells below need the data (in a notebook, options go in the first code cell")
    everything = str(nb.cells)
    assert "SystemExit" not in everything and "Traceback" not in everything and "To exit" not in everything
    assert not out.exists() and not (empty / "minigan").exists()


def test_lesson_notebook_refuses_an_unknown_option_in_one_line(tmp_path, notebook_extra):
    nbdir = write_notebooks(tmp_path, "04")
    nb, error = execute(notebook_extra, nbdir / "04_optimal_discriminator.ipynb", tmp_path,
                        {"MINIGAN_LESSON_ARGS": "--quick --dsteps 30"})
    assert error is not None and error.ename == "LessonStopped"
    first = next(c for c in nb.cells if c.cell_type == "code")
    line, = "".join(o.text for o in outputs(first, "stream") if o.name == "stderr").splitlines()
    assert line.startswith("lesson 04: error: unrecognized arguments: --dsteps 30 (did you mean --d-steps?); ")
    assert line.endswith(" (from MINIGAN_LESSON_ARGS)")
    assert outputs(first, "error")[0].traceback == ["lesson 04 stopped here: see the error above"]
    assert not (tmp_path / "lesson_output").exists()


# ----------------------------------------------------------------------------- lesson_io alone
LAUNCHER = "/env/lib/python3.11/site-packages/ipykernel_launcher.py"
CONN = "/root/.local/share/jupyter/runtime/kernel-1a2b.json"


def test_a_kernel_launched_lesson_takes_its_options_from_the_environment(monkeypatch):
    monkeypatch.setenv("MINIGAN_LESSON_ARGS", "--quick --out 'my figures' --seed 3")
    assert lesson_io.lesson_argv([LAUNCHER, "-f", CONN], in_kernel=True) == ["--quick", "--out", "my figures",
                                                                          "--seed", "3"]
    # a script's command line is its own, whatever the environment says
    assert lesson_io.lesson_argv(["lessons/01.py", "--seed", "1"], in_kernel=True) == ["--seed", "1"]
    assert lesson_io.lesson_argv([LAUNCHER, "-f", CONN], in_kernel=False) == []
    monkeypatch.delenv("MINIGAN_LESSON_ARGS")
    assert lesson_io.lesson_argv([LAUNCHER, "-f", CONN], in_kernel=True) == []


def test_outside_a_notebook_figures_are_only_saved_and_a_stop_is_an_exit(tmp_path, capsys):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    assert not lesson_io.in_notebook()
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = tmp_path / "f.png"
    assert lesson_io.save_figure(fig, path, dpi=50) is None
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and fig.number not in plt.get_fignums()
    assert capsys.readouterr().out == f"saved {path}\n"
    from minigan.data.mnist import MNISTMissingError
    with pytest.raises(SystemExit) as stop:
        lesson_io.stop_without_data("07", MNISTMissingError(kind="mnist", missing=["x.gz"], folders=[tmp_path]))
    assert stop.value.code == 0


def test_in_a_notebook_a_stop_is_one_line_not_a_traceback(monkeypatch, capsys):
    monkeypatch.setattr(lesson_io, "in_notebook", lambda: True)
    p = lesson_io.parser("05", "x", out="05_x", quick="q")
    with pytest.raises(lesson_io.LessonStopped) as stop:
        p.parse_args(["--help"])
    assert stop.value.status == 0 and stop.value._render_traceback_() == ["lesson 05 stopped here: --help printed the options"]
    assert capsys.readouterr().out.startswith("usage: lessons/05_x.py")
    with pytest.raises(lesson_io.LessonStopped) as stop:
        lesson_io.refuse("05", "--checkpoint x.npz: no such file")
    assert stop.value.status == 2 and str(stop.value) == "lesson 05 stopped here: see the error above"
    assert capsys.readouterr().err == "lesson 05: error: --checkpoint x.npz: no such file\n"
