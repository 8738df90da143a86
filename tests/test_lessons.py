"""Every lesson runs in --quick mode, from a folder outside the repository, and
writes the figures it promises.

The lessons are plain scripts (``python lessons/NN_topic.py``); each is run in
a subprocess with ``--out`` pointing into ``tmp_path`` and the working folder
set to ``tmp_path`` (so nothing relies on being started from the repository).
BLAS is kept to one thread: the lessons' matrices are small, and on a loaded
2-core machine a multi-threaded OpenBLAS spends most of its time waiting.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LESSON_DIR = ROOT / "lessons"

# lesson file -> the files it promises to write into --out
LESSONS = {
    "01_layer_by_hand.py": ["01_activations.png", "01_chain_rule.png"],
    "02_gradient_checking.py": ["02_step_size.png", "02_kinks.png", "02_gradcheck_table.txt"],
    "03_losses.py": ["03_saturation.png", "03_training.png"],
    "04_optimal_discriminator.py": ["04_optimal_d.png", "04_criterion.png"],
    "05_algorithm1_1d.py": ["05_figure1.png", "05_figure1.gif", "05_history.png"],
    "06_helvetica.py": ["06_samples.png", "06_modes.png"],
    "10_improved_techniques.py": ["10_historical_averaging.png", "10_label_smoothing.png", "10_ring8.png"],
}

# lessons that need the MNIST files (found through MINIGAN_DATA, which CI sets)
MNIST_LESSONS = {
    "07_mnist_model.py": ["07_samples.png", "07_nearest.png", "07_interpolation.png", "07_history.png"],
    "08_parzen_table1.py": ["08_sigma_sweep.png", "08_sample_count.png", "08_samples.png"],
    "09_evaluating_gans.py": ["09_metrics.png"],
    "11_autoencoders.py": ["11_bottleneck.png", "11_denoising.png", "11_samples.png", "11_walk.png"],
}


def mnist_available():
    from minigan.data import mnist
    return all(p is not None for p in mnist.find_mnist_files("mnist").values())

NUM = r"([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"


def _key_numbers_01(out):
    # the index-by-index sums equal the layer's backward (to rounding)
    for what in ("dW", "db", "dx"):
        m = re.search(rf"dL/{what}: loops vs Linear.backward\s+= {NUM}", out)
        assert m and float(m.group(1)) < 1e-12, out
    m = re.search(rf"stacked backward vs sum of separate backwards: max difference = {NUM}", out)
    assert m and float(m.group(1)) < 1e-12, out
    # the ReLU stack shrinks the gradient; the same stack with He's sqrt(2) keeps more of it
    per_layer = dict(re.findall(rf"^(Sigmoid|ReLU|ReLU, W x sqrt\(2\)) +\|dL/dx\|.*; {NUM} per layer\)", out, re.M))
    assert sorted(per_layer) == ["ReLU", "ReLU, W x sqrt(2)", "Sigmoid"], out
    assert float(per_layer["Sigmoid"]) <= 0.25 + 1e-9 and float(per_layer["ReLU"]) < 0.9, out
    assert float(per_layer["ReLU, W x sqrt(2)"]) > float(per_layer["ReLU"]), out


def _key_numbers_02(out):
    m = re.search(r"(\d+) checks, (\d+) passed, 0 failed \(each against tol = (\S+) on the relative error\)", out)
    assert m and m.group(1) == m.group(2), out
    from minigan import gradcheck
    assert float(m.group(3)) == gradcheck.DEFAULT_TOL, out           # the tolerance it passes against, printed
    assert f"below tol = {gradcheck.DEFAULT_TOL:g} (gradcheck.DEFAULT_TOL" in out, out
    assert re.search(r"Dropout: mask resampled .*\(FAIL\); mask frozen .*\(PASS\)", out), out
    assert re.search(r"ReLU, inputs with exact zeros: plain .*\(FAIL\); check_layer .*\(PASS", out), out


def _key_numbers_03(out):
    m = re.search(rf"non-saturating gradient is {NUM} times the minimax one", out)
    assert m and float(m.group(1)) > 1.0, out


def _key_numbers_04(out):
    m = re.search(rf"Theorem 1: C\(G\) = {NUM};\s+-log 4 \+ 2 JSD\(p_data \|\| p_g\) = {NUM}", out)
    assert m and abs(float(m.group(1)) - float(m.group(2))) < 1e-4, out
    m = re.search(rf"minimum {NUM} at b = {NUM}", out)
    assert m and abs(float(m.group(1)) + 1.3862944) < 1e-4 and abs(float(m.group(2)) - 4.0) < 0.21, out


def _key_numbers_05(out):
    rows = dict((k, (float(j), float(d))) for k, j, d in re.findall(
        rf"\(([abcd])\) .*JSD\(p_data \|\| p_g\) = {NUM}\s+mean \|D - D\*\| = {NUM}", out))
    assert sorted(rows) == list("abcd"), out
    assert all(0.0 <= j <= 0.6932 for j, _ in rows.values()), out
    assert rows["b"][1] < rows["a"][1], out        # the inner loop brings D towards D*


def _key_numbers_07(out):
    m = re.search(rf"samples median {NUM} \(min {NUM}\); test images median {NUM} \(min {NUM}\); "
                  rf"an all-black image {NUM}", out)
    assert m and all(float(v) > 0 for v in m.groups()), out
    s_med, s_min, t_med, t_min, _ = (float(v) for v in m.groups())
    # and what they mean, the reading that matches the numbers
    copies = "look at 07_nearest.png for copies" in out
    assert copies == (s_min < t_min) and (copies or "no sign of copying: no sample is nearer" in out), out
    closer = "closer to the training images than unseen test digits do" in out
    assert closer == (s_med < t_med) and (closer or "farther from every training image" in out), out
    assert re.search(r"trained in \d+\.\d s", out), out


def _key_numbers_08(out):
    rows = re.findall(rf"\(here\)\s+{NUM} \+- {NUM}\s+sigma {NUM}", out)
    assert len(rows) == 3, out
    assert all(0.1 - 1e-9 <= float(sig) <= 1.0 + 1e-9 for _, _, sig in rows), out   # the paper's grid
    m = re.search(r"fixed, unvalidated sigma = 0.01: mean test log-likelihood (-[\d,]+) nats", out)
    assert m and float(m.group(1).replace(",", "")) < -10000, out
    dimmed = re.findall(rf"x (0\.95|0\.90): \s*{NUM} \+- {NUM} nats \(([-+]\d+\.\d) against x 1\)", out)
    assert len(dimmed) == 4, out
    real = re.findall(r"real training images\s+x 0\.9[05]: .*\(([-+]\d+\.\d) against x 1\)", out)
    assert len(real) == 2 and all(float(d) > 0 for d in real), out      # dimmer real images score higher
    m = re.search(rf"averaged G \(decay 0.999, 10 iterations\): LL {NUM} \+- {NUM} nats \(sigma {NUM}\)", out)
    assert m and 0.1 - 1e-9 <= float(m.group(3)) <= 1.0 + 1e-9, out
    stats = re.findall(rf"statistics: (real training images|trained G|averaged G)\s+{NUM}\s+{NUM}\s+{NUM}\s+{NUM}", out)
    assert [s[0] for s in stats] == ["real training images", "trained G", "averaged G"], out
    real_mean, real_grey = float(stats[0][1]), float(stats[0][3])
    assert 0.1 < real_mean < 0.16 and 0.05 < real_grey < 0.15, out          # MNIST: dark, crisp digits


def _key_numbers_09(out):
    assert re.search(r"classifier: (the cached one .*|none cached; a tiny one .*)test accuracy 0\.9\d+", out), out
    rows = {k: [float(v) for v in vals.split()[:7]] for k, vals in re.findall(
        r"^\(([abcde])\) [^|\n]*\|([^\[\n]*)\[", out, re.M)}
    assert sorted(rows) == list("abcde"), out
    parzen, IS, fid, prec, rec, dens, cov = (dict((k, r[i]) for k, r in rows.items()) for i in range(7))
    assert all(1.0 - 1e-6 <= v <= 10.0 + 1e-6 for v in IS.values()), out
    assert all(0.0 <= v <= 1.0 for m in (prec, rec, cov) for v in m.values()), out
    assert fid["a"] == min(fid.values()) and fid["e"] == max(fid.values()), out    # FID: the reference is closest
    assert rec["d"] < rec["a"] and cov["d"] < cov["a"], out                     # dropped modes: variety falls
    assert IS["e"] < 1.01 and rec["e"] < 0.01 and cov["e"] < 0.05, out          # collapse
    assert parzen["b"] > parzen["a"], out                                        # lesson 08: Parzen rewards blur
    assert re.search(r"FID: the smallest is .*, of \(a\) real \(reference\)", out), out
    assert re.search(r"dropped modes: recall .* -> .*, coverage", out), out


def _key_numbers_06(out):
    rows = re.findall(r"(ring8|grid25)\s+\| (Algorithm 1|more D|G over-trained).*\| after \d+ iterations:"
                      r"\s+(\d+)/(\d+) modes captured,.*?(\d+) modes visited", out)
    assert len(rows) == 6 and all(of in ("8", "25") for *_, of, _ in rows), out
    visited = {(data, run): int(v) for data, run, _, _, v in rows}
    for data in ("ring8", "grid25"):   # the Helvetica scenario: G trained too much visits fewer modes
        assert visited[data, "G over-trained"] < visited[data, "Algorithm 1"], out


def _key_numbers_10(out):
    # 3.1: feature matching's cost is printed and falls
    m = re.search(r"mean over each fifth of \d+ iterations: (.*)$", out, re.M)
    costs = [float(c) for c in m.group(1).split(", ")]
    assert len(costs) == 5 and costs[-1] < costs[0], out
    # 3.2: a collapsed batch's o(x) - bias is near N - 1 = 7, a varied one's near 0; the check passes
    o = dict(re.findall(rf"^(varied|collapsed) +batch of 8: o\(x\) - bias, mean over rows and kernels = {NUM}", out, re.M))
    assert float(o["collapsed"]) > 6.5 and float(o["varied"]) < 1.0, out
    assert "gradient check, float64, whole batch: PASS" in out, out
    # 3.3: the paper's game: plain steps circle away from (1, 1), historical averaging settles there
    end = dict(re.findall(rf"^(plain|historical averaging, weight 0.1) +: .*after \d+ steps {NUM} \(start", out, re.M))
    assert float(end["historical averaging, weight 0.1"]) < 0.01 < 0.5 < float(end["plain"]), out
    # 3.4: where there are samples and no data, D* is 0 one-sided and beta two-sided
    d = dict(re.findall(rf"^(no smoothing|one-sided|two-sided) +\(alpha.*D\*\(x = 1.5\) = {NUM}", out, re.M))
    assert float(d["one-sided"]) == 0.0 and float(d["no smoothing"]) == 0.0 and float(d["two-sided"]) == 0.1, out
    # 3.5: with batch norm a sample's output depends on its batch; with VBN not at all
    diff = dict(re.findall(rf"^(batch norm|virtual batch norm) *: .*difference {NUM}", out, re.M))
    assert float(diff["batch norm"]) > 1e-3 and float(diff["virtual batch norm"]) == 0.0, out
    rows = re.findall(r"^ring8 \| (.+?) +\| after \d+ iterations: (\d+)/8 modes captured", out, re.M)
    assert [r[0] for r in rows] == ["plain", "feature matching", "minibatch discrimination", "historical averaging",
                                    "one-sided smoothing", "virtual batch norm", "all five"], out


def _key_numbers_11(out):
    # the bottleneck: a wider code gives back more of the digit
    err = {int(k): float(v) for k, v in re.findall(rf"^ae, code of +(\d+) numbers: test squared error {NUM}", out, re.M)}
    assert sorted(err) == [2, 8, 32] and err[32] < err[2], out
    # denoising: both autoencoders remove most of the noise; the one trained for it removes more
    e = dict(re.findall(rf"^squared error against the clean digit, (.+?) *: +{NUM} per image", out, re.M))
    assert float(e["denoising autoencoder"]) < float(e["plain autoencoder"]) < float(e["noisy input"]) / 2, out
    # the VAE's steps with their shapes, each piece's gradient check, and an ELBO that is -(rec + KL)
    assert "h = encoder(x)      (4, 40)  = [mu | log sigma^2], 20 of each" in out, out
    assert len(re.findall(r"^gradient check, float64, .*: PASS", out, re.M)) == 3, out
    m = re.search(rf"reconstruction {NUM} \+ KL {NUM} nats; ELBO {NUM} nats per digit", out)
    assert m and float(m.group(3)) == pytest.approx(-(float(m.group(1)) + float(m.group(2))), abs=0.11), out


KEY_NUMBERS = {"01_layer_by_hand.py": _key_numbers_01, "02_gradient_checking.py": _key_numbers_02,
               "03_losses.py": _key_numbers_03, "04_optimal_discriminator.py": _key_numbers_04,
               "05_algorithm1_1d.py": _key_numbers_05, "06_helvetica.py": _key_numbers_06,
               "07_mnist_model.py": _key_numbers_07, "08_parzen_table1.py": _key_numbers_08,
               "09_evaluating_gans.py": _key_numbers_09, "10_improved_techniques.py": _key_numbers_10,
               "11_autoencoders.py": _key_numbers_11}


def run_lesson(name, out, *extra, env_extra=None, timeout=300):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MPLBACKEND="Agg",
               MINIGAN_BACKEND="numpy")
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(LESSON_DIR / name), "--quick", "--out", str(out), *extra],
                          capture_output=True, text=True, cwd=out.parent, env=env, timeout=timeout)


def check_outputs(name, proc, out, promised):
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    for fname in promised:
        f = out / fname
        assert f.is_file(), f"{name} did not write {fname}; it wrote {sorted(p.name for p in out.iterdir())}"
        assert f.stat().st_size > 1000 if fname.endswith((".png", ".gif")) else f.stat().st_size > 0
        if fname.endswith(".png"):
            assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if fname.endswith(".gif"):
            assert f.read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    # it says where the figures went, and its key numbers are there and make sense
    assert f"figures are in {out.resolve()}" in proc.stdout
    KEY_NUMBERS[name](proc.stdout)
    if name in TRAINING_LESSONS:
        check_progress_lines(proc.stdout)


# lessons that train, and print where they are while they do (lesson_io.ProgressLines)
TRAINING_LESSONS = {"03_losses.py", "04_optimal_discriminator.py", "05_algorithm1_1d.py", "06_helvetica.py",
                    "07_mnist_model.py", "08_parzen_table1.py", "11_autoencoders.py"}
PROGRESS = re.compile(r"^  (.+): (\d+)/(\d+) (iterations|D steps) \((\d+)%\), (\d+\.\d) s elapsed"
                      r"(, about \d+:\d\d left)?(  .*)?$", re.M)


def check_progress_lines(out):
    """Plain lines (no carriage return), each loop's count rising to its total, time never falling."""
    assert "\r" not in out
    loops = {}
    for m in PROGRESS.finditer(out):
        loops.setdefault(m.group(1), []).append((int(m.group(2)), int(m.group(3)), float(m.group(6)), m.group(7)))
    assert loops, f"no progress line in:\n{out}"
    for desc, rows in loops.items():
        counts = [n for n, *_ in rows]
        assert len(rows) >= 2 and counts == sorted(set(counts)), (desc, rows)
        assert counts[-1] == rows[-1][1], (desc, rows)                 # the last line is at the total
        assert [s for *_, s, _ in rows] == sorted(s for *_, s, _ in rows), (desc, rows)
        assert all(left for n, total, _, left in rows if n < total) and rows[-1][3] is None, (desc, rows)


@pytest.mark.parametrize("name", sorted(LESSONS))
def test_lesson_runs_quick_and_writes_its_figures(tmp_path, name):
    out = tmp_path / "out"
    check_outputs(name, run_lesson(name, out), out, LESSONS[name])


@pytest.mark.parametrize("name", sorted(MNIST_LESSONS))
def test_mnist_lesson_runs_quick_with_the_data(tmp_path, name):
    if not mnist_available():
        pytest.skip("MNIST files not found (set MINIGAN_DATA to the folder holding mnist/)")
    out = tmp_path / "out"
    check_outputs(name, run_lesson(name, out), out, MNIST_LESSONS[name])


@pytest.mark.parametrize("name", sorted(MNIST_LESSONS))
def test_mnist_lesson_stops_cleanly_without_the_data(tmp_path, name):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    import matplotlib
    # no data anywhere: MINIGAN_DATA and the cache folder point at an empty folder
    # (matplotlib keeps its own font cache, so that it does not rebuild it there)
    proc = run_lesson(name, out, env_extra={"MINIGAN_DATA": str(empty), "XDG_CACHE_HOME": str(empty),
                                            "MPLCONFIGDIR": matplotlib.get_cachedir()})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the command line's one line (minigan.data.mnist.MNISTMissingError), and how to download
    line, = proc.stdout.strip().splitlines()
    assert line.startswith(f"lesson {name[:2]} skipped: mnist files not found: train-images-idx3-ubyte.gz"), line
    assert "pass --data-dir FOLDER, the folder that holds them, or set MINIGAN_DATA" in line
    assert "add --download" in line and "data_dir" not in line
    assert not out.exists()                              # nothing written
    assert not (empty / "minigan").exists()              # nothing downloaded


@pytest.mark.parametrize("name", sorted(LESSONS) + sorted(MNIST_LESSONS))
def test_lesson_is_a_notebook_that_cites_the_paper(name):
    text = (LESSON_DIR / name).read_text(encoding="utf-8")
    assert text.startswith("# %% [markdown]\n# # Lesson " + name[:2])
    assert text.count("# %%") >= 4                      # split into cells
    head = text.split("# %%\n", 1)[0]                  # the opening markdown cell
    assert "**Paper:**" in head and "**What to look at**" in head
    # its measured run time, in English and in Korean
    assert re.search(r"# Time: the default run took \d+ (s|min \d+ s) \(\d+ (s|min \d+ s) of CPU time\)", head)
    assert "기본 실행은" in head and "2026-" in head
    assert "--quick" in head and "sys.path" not in text


def test_every_lesson_file_is_tested():
    on_disk = {p.name for p in LESSON_DIR.glob("[0-9][0-9]_*.py")}
    tested = set(LESSONS) | set(MNIST_LESSONS)
    assert on_disk == tested, f"lessons without a test entry: {sorted(on_disk - tested)}"


def _readme_section(title):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def test_readme_lesson_index_lists_every_lesson_with_its_command():
    section = _readme_section("Lessons")
    for name in sorted(set(LESSONS) | set(MNIST_LESSONS)):
        assert f"python lessons/{name}" in section, f"README lesson index has no command for {name}"
    for ex in ("sigmoid", "relu", "linear", "maxout", "dropout", "bce", "batchnorm", "reparameterisation",
               "gaussian_kl"):
        assert f"`{ex}`" in section
        assert (LESSON_DIR / "exercises" / f"{ex}.py").is_file()


@pytest.mark.parametrize("title,least", [("Paper map", (10, 15, 10)), ("Chapter map", (6, 9, 5))])
def test_readme_paper_map_names_things_that_exist(title, least):
    """Every lesson, test, module and function named in the paper map (and the chapter map) is there."""
    import ast
    import importlib

    section = _readme_section(title)
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) >= least[0]
    tests_seen = modules_seen = 0
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        lessons, module_cell, test_cell = cells[1], cells[2], cells[3]
        for n in re.findall(r"\b[01]\d\b", lessons):
            assert list(LESSON_DIR.glob(f"{n}_*.py")), f"paper map names lesson {n}, which does not exist"
        # `tests/test_x.py::name` and the shorthand `::name` (same file as the previous one)
        current = None
        for path, func in re.findall(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`", test_cell):
            current = path or current
            assert current and (ROOT / current).is_file(), row
            if func:
                tree = ast.parse((ROOT / current).read_text(encoding="utf-8"))
                names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
                assert func in names, f"{current} has no test {func}"
                tests_seen += 1
        # `minigan.module.attr` and, after it, bare `attr` names of the same module
        module = None
        for is_preset, ref in re.findall(r"(preset )?`([\w.-]+)", module_cell):
            if is_preset:
                from minigan import presets
                assert ref in presets.PRESETS, f"README paper map names preset {ref!r}, which does not exist"
                continue
            if ref == "minigan":                     # a command line, `minigan parzen`
                continue
            if ref.startswith("minigan."):
                parts = ref.split(".")
                try:
                    module, attrs = importlib.import_module(".".join(parts[:3])), parts[3:]
                except ModuleNotFoundError:
                    module, attrs = importlib.import_module(".".join(parts[:2])), parts[2:]
                modules_seen += 1
                bases = [module]
            elif module is not None:
                attrs = ref.split(".")              # a name of the object or module named before it
            else:
                continue
            for base in bases:
                owner, obj = None, base
                for a in attrs:
                    owner, obj = obj, getattr(obj, a, None)
                    if obj is None:
                        break
                if obj is not None:
                    break
            assert obj is not None, f"README paper map: {ref!r} not found in {[getattr(b, '__name__', b) for b in bases]}"
            if owner is not None and owner is not module:
                bases = [owner, module]          # `minigan.train.GAN.d_step`, `g_step`: g_step of GAN
    assert tests_seen >= least[1] and modules_seen >= least[2]


@pytest.fixture(scope="module")
def toy_checkpoint(tmp_path_factory):
    """A 2-iteration toy1d checkpoint: a checkpoint, but not of a model that draws images."""
    from minigan import cli
    out = tmp_path_factory.mktemp("toy")
    assert cli.train_main(["toy1d", "--iterations", "2", "--out", str(out), "--no-progress", "--no-figures"]) == 0
    return out / "checkpoint.npz"


@pytest.mark.parametrize("name", sorted(MNIST_LESSONS))
@pytest.mark.parametrize("which", ["toy1d", "missing"])
def test_mnist_lesson_refuses_a_bad_checkpoint_in_one_line(tmp_path, name, which, toy_checkpoint):
    """As `minigan parzen` does: one line on stderr, exit 2, no traceback, nothing written
    (checked before the data, so it holds with or without MNIST)."""
    path = toy_checkpoint if which == "toy1d" else tmp_path / "nothing.npz"
    out = tmp_path / "out"
    proc = run_lesson(name, out, "--checkpoint", str(path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line, = proc.stderr.strip().splitlines()
    assert line.startswith(f"lesson {name[:2]}: error: ") and "Traceback" not in proc.stderr
    want = "draws samples of 1 numbers, not 28 x 28 images" if which == "toy1d" else "no such file"
    assert want in line and str(path) in line
    assert not out.exists()


# ----------------------------------------------------------------------------- options
ALL_LESSONS = sorted(LESSONS) + sorted(MNIST_LESSONS)


def declared_options(name):
    """The options a lesson declares itself, beside lesson_io.parser's common ones."""
    common = ["--help", "--out", "--quick", "--seed"]
    if name in MNIST_LESSONS:
        common += ["--data-dir", "--kind", "--download"]
    own = re.findall(r'parser\.add_argument\("(--[\w-]+)"', (LESSON_DIR / name).read_text(encoding="utf-8"))
    return common + own


def run_bare(name, tmp_path, *argv):
    """The lesson with exactly ``argv`` (no --quick or --out added), from ``tmp_path``."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg", MINIGAN_BACKEND="numpy")
    return subprocess.run([sys.executable, str(LESSON_DIR / name), *argv], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=60)


@pytest.mark.parametrize("name", ALL_LESSONS)
def test_lesson_refuses_an_unknown_option_naming_the_known_ones(tmp_path, name):
    """A mistyped option is an error before any work (exit 2, one line on stderr, nothing written),
    not a run with the default in its place; a Jupyter kernel's `-f kernel-*.json` beside it is not
    what is refused."""
    kernel_json = tmp_path / "runtime" / "kernel-4f9c2a1e-77b2-4c1a-9d0e-1d2f3a4b5c6d.json"
    out = tmp_path / "out"
    proc = run_bare(name, tmp_path, "-f", str(kernel_json), "--quick", "--no-such-option", "7", "--out", str(out))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == "" and not out.exists()
    line, = proc.stderr.strip().splitlines()
    assert line.startswith(f"lesson {name[:2]}: error: unrecognized arguments: --no-such-option 7; the options are ")
    assert "kernel-" not in line and "Traceback" not in proc.stderr
    known = line.split("the options are ", 1)[1].split(", ")
    assert sorted(known) == sorted(declared_options(name)), line


@pytest.mark.parametrize("name, typo, meant", [("04_optimal_discriminator.py", "--dsteps", "--d-steps"),
                                               ("07_mnist_model.py", "--data_dir", "--data-dir"),
                                               ("05_algorithm1_1d.py", "--iter", "--iterations")])
def test_lesson_refuses_a_typo_and_says_what_was_meant(tmp_path, name, typo, meant):
    """The two mistakes of issue 20 (`--dsteps 30` ran the default, `--data_dir DIR` was ignored and
    the data reported missing), and an abbreviation, which is no longer taken for the option."""
    proc = run_bare(name, tmp_path, typo, "30")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line, = proc.stderr.strip().splitlines()
    assert f"unrecognized arguments: {typo} 30 (did you mean {meant}?)" in line, line


@pytest.mark.parametrize("name", ALL_LESSONS)
def test_lesson_help_lists_its_options(tmp_path, name):
    proc = run_bare(name, tmp_path, "--help")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.startswith(f"usage: lessons/{name}")
    for opt in declared_options(name):
        assert opt in proc.stdout, f"{name} --help does not list {opt}"
    assert not (tmp_path / "lesson_output").exists()


def test_lesson_runs_with_a_jupyter_kernels_arguments(tmp_path):
    """What a kernel launcher passes (`-f .../kernel-<id>.json`) does not stop a lesson; it runs."""
    out = tmp_path / "out"
    proc = run_lesson("01_layer_by_hand.py", out, "-f", str(tmp_path / "kernel-8e1d.json"))
    check_outputs("01_layer_by_hand.py", proc, out, LESSONS["01_layer_by_hand.py"])


def test_lesson_argv_drops_only_what_a_kernel_passes():
    from minigan.lesson_io import lesson_argv
    launcher = "/env/lib/python3.11/site-packages/ipykernel_launcher.py"
    conn = "/root/.local/share/jupyter/runtime/kernel-1a2b.json"
    # inside a kernel, a launcher's whole command line is the launcher's (Jupyter, Colab, VS Code)
    assert lesson_argv([launcher, "-f", conn], in_kernel=True) == []
    assert lesson_argv(["/usr/local/lib/python3.10/dist-packages/colab_kernel_launcher.py", "-f", conn],
                       in_kernel=True) == []
    assert lesson_argv([launcher, "--ip=127.0.0.1", "--stdin=9003", "--f=/tmp/tmp-99.json"], in_kernel=True) == []
    # `%run lessons/05.py --k 3` in a kernel: the script's own arguments, parsed strictly
    assert lesson_argv(["lessons/05_algorithm1_1d.py", "--k", "3"], in_kernel=True) == ["--k", "3"]
    # outside a kernel, a launcher's name is nothing special: only the connection file goes
    assert lesson_argv([launcher, "-f", conn, "--quick"], in_kernel=False) == ["--quick"]
    # a connection file, and nothing else, anywhere on a lesson's command line
    assert lesson_argv(["l.py", "-f", conn, "--quick"], in_kernel=False) == ["--quick"]
    assert lesson_argv(["l.py", f"--f={conn}", "--quick"], in_kernel=False) == ["--quick"]
    assert lesson_argv(["l.py", "-f", "/tmp/settings.json"], in_kernel=False) == ["-f", "/tmp/settings.json"]
    assert lesson_argv(["l.py", "-f"], in_kernel=False) == ["-f"]
    assert lesson_argv(["l.py", "--seed", "3"], in_kernel=False) == ["--seed", "3"]


def test_progress_lines_print_at_evenly_spaced_points():
    import io
    from minigan.lesson_io import ProgressLines
    now = [0.0]
    stream = io.StringIO()
    p = ProgressLines(50, "toy1d", lines=5, stream=stream, clock=lambda: now[0])
    for _ in range(50):
        now[0] += 0.5
        p.update(values={"V": -1.38629})
    lines = stream.getvalue().splitlines()
    assert lines == [f"  toy1d: {n}/50 iterations ({2 * n}%), {n / 2:.1f} s elapsed"
                     + (f", about 0:{(50 - n) // 2:02d} left" if n < 50 else "") + "  V -1.3863"
                     for n in (10, 20, 30, 40, 50)]
    # steps counted in bigger jumps print one line per jump that crosses a point; short loops print each step
    stream = io.StringIO()
    p = ProgressLines(100, "D", unit="D steps", lines=10, stream=stream, clock=lambda: 0.0)
    p.update(35)
    p.update(65)
    assert [l.split(":")[1].split("(")[0].strip() for l in stream.getvalue().splitlines()] == \
        ["35/100 D steps", "100/100 D steps"]
    stream = io.StringIO()
    p = ProgressLines(3, "G", lines=10, stream=stream, clock=lambda: 0.0)
    for _ in range(3):
        p.update()
    assert len(stream.getvalue().splitlines()) == 3


def test_figure1_panel_title_is_the_snapshots_caption():
    """Lesson 05 titles its panels with the paper's meanings through a snapshot's "caption";
    a snapshot without one keeps its iteration."""
    from matplotlib.figure import Figure
    from minigan import presets, viz
    run = presets.build("toy1d", seed=0)
    snap = viz.figure1_snapshot(run.trainer, run.data, run.noise, n_samples=500)
    fig = Figure()
    ax0, ax1 = fig.subplots(1, 2)
    limits = viz._figure1_limits([snap])
    viz._draw_figure1_panel(ax0, dict(snap, caption="after D's update\n(a) + 200 D steps alone"), limits, "b")
    viz._draw_figure1_panel(ax1, snap, limits, "a")
    assert ax0.get_title() == f"(b) after D's update\n(a) + 200 D steps alone   JSD {snap['jsd']:.3f}"
    assert ax1.get_title() == f"(a) iteration 0   JSD {snap['jsd']:.3f}"
