"""``minigan train / resume / sample``: what they write, exit codes, nothing overwritten;
and the progress bar."""
import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from minigan import backend, checkpoint, cli, data, models, optim, presets
from minigan.cli import reports, train as train_command
from minigan.cli.common import EXIT_DIVERGED
from minigan.train import GAN, HISTORY_FIELDS
from minigan.progress import Progress, format_time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def snapshot_tree(folder):
    """{relative path: (bytes, mtime_ns)} of every file under folder."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = (f.read(), os.stat(path).st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 20-iteration toy1d run, made once for this module on the run's backend
    (MINIGAN_BACKEND, as ``minigan train`` reads it); tests must not change it."""
    out = tmp_path_factory.mktemp("run")
    status = cli.train_main(["toy1d", "--iterations", "20", "--no-progress", "--out", str(out),
                             "--checkpoint-every", "10", "--no-figures"])
    assert status == 0
    return out


# ---------------------------------------------------------------------- bad input: exit 2, nothing written
BAD_TRAIN = [
    (["nosuchpreset"], "unknown preset 'nosuchpreset'"),
    (["toy1d", "--k", "0"], "--k must be an integer >= 1"),
    (["toy1d", "--k", "two"], "--k must be an integer >= 1"),
    (["toy1d", "--m", "0"], "--m must be an integer >= 1"),
    (["toy1d", "--m", "-5"], "--m must be an integer >= 1"),
    (["toy1d", "--lr", "abc"], "--lr must be a positive number"),
    (["toy1d", "--lr", "-0.1"], "--lr must be a positive number"),
    (["toy1d", "--d-lr", "0"], "--d-lr must be a positive number"),
    (["toy1d", "--g-lr", "nan"], "--g-lr must be a positive number"),
    (["toy1d", "--g-lr", "inf"], "--g-lr must be a positive number"),
    (["toy1d", "--iterations", "0"], "--iterations must be an integer >= 1"),
    (["toy1d", "--g-average", "1"], "--g-average must be a decay in [0, 1)"),
    (["toy1d", "--g-average", "-0.5"], "--g-average must be a decay in [0, 1)"),
    (["toy1d", "--g-average", "high"], "--g-average must be a decay in [0, 1)"),
    (["toy1d", "--g-loss", "wasserstein"], "invalid choice"),
    (["toy1d", "--order", "random"], "invalid choice"),
    (["toy1d", "--order", "simultaneous", "--k", "2"], "k = 1"),
    (["toy1d", "--seed", "-1"], "--seed must be an integer >= 0"),
    (["toy1d", "--bogus-flag"], "unrecognized arguments"),
    (["toy1d", "--data-dir", "/no/such/folder"], "--data-dir /no/such/folder is not a folder"),
    (["toy1d", "--checkpoint-every", "-1"], "--checkpoint-every must be an integer >= 0"),
    (["toy1d", "--set", "momentum"], "--set momentum: expected KEY=VALUE"),
    (["toy1d", "--set", "seed=3"], "--set seed=3: seed has its own flag, --seed"),
    (["toy1d", "--set", "noise=gaussian"], "preset 'toy1d' has no option 'noise'; --set takes momentum, g_steps, "
     "real_label, fake_label, feature_matching, historical_averaging, minibatch_discrimination, batch_norm, "
     "virtual_batch_norm for it"),
    (["toy1d", "--set", "data_dir=x"], "--set data_dir=x: data_dir has its own flag, --data-dir"),
    (["toy1d", "--set", "momentum=5"], "error: preset 'toy1d': SGD momentum must be in [0, 1), got 5\n"),
    (["mnist-paper", "--set", "noise=cauchy"],
     "error: preset 'mnist-paper': option noise must be one of 'uniform', 'gaussian', got 'cauchy'\n"),
]
if not backend.cupy_available():
    BAD_TRAIN.append((["toy1d", "--backend", "cupy"], "--backend cupy: CuPy"))


@pytest.mark.parametrize("argv,message", BAD_TRAIN, ids=[" ".join(a) for a, _ in BAD_TRAIN])
def test_bad_train_input_exits_2_and_writes_nothing(tmp_path, capsys, argv, message, trained):
    out = tmp_path / "existing"
    out.mkdir()
    for name in os.listdir(trained):           # an earlier run's files in the output folder
        (out / name).write_bytes((trained / name).read_bytes())
    before = snapshot_tree(out)
    # with --force, so that the bad input itself is what is refused: the old run must not be removed for it
    status = cli.train_main(argv + ["--out", str(out), "--no-progress", "--force"])
    err = capsys.readouterr().err
    assert status == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("minigan train: error: ")
    assert snapshot_tree(out) == before, "bad input overwrote files"


def test_out_that_is_a_file_exits_2_and_is_untouched(tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("my notes\n")
    status = cli.train_main(["toy1d", "--out", str(target), "--iterations", "5", "--no-figures"])
    err = capsys.readouterr().err
    assert status == 2 and "is a file" in err and err.count("\n") == 1
    assert target.read_text() == "my notes\n"
    assert os.listdir(tmp_path) == ["notes.txt"]
    status = cli.train_main(["toy1d", "--out", str(target / "sub"), "--iterations", "5",
                             "--no-figures"])
    assert status == 2 and "is a file" in capsys.readouterr().err


def test_default_out_is_runs_preset_and_bad_default_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").write_text("a file where the runs folder would go")
    assert cli.train_main(["toy1d", "--iterations", "5", "--no-progress", "--no-figures"]) == 2
    assert "runs" in capsys.readouterr().err
    assert (tmp_path / "runs").read_text().startswith("a file")


@pytest.mark.parametrize("command", ["resume", "sample"])
@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated"])
def test_unreadable_checkpoint_exits_2(tmp_path, capsys, trained, command, damage):
    path = tmp_path / "checkpoint.npz"
    if damage == "garbage":
        path.write_bytes(b"\x00garbage" * 50)
    elif damage == "truncated":
        raw = (trained / "checkpoint.npz").read_bytes()
        path.write_bytes(raw[: len(raw) // 3])
    before = snapshot_tree(tmp_path)
    main = cli.resume_main if command == "resume" else cli.sample_main
    status = main([str(path), "--no-progress"] if command == "resume" else [str(path)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith(f"minigan {command}: error: checkpoint ")
    assert snapshot_tree(tmp_path) == before


def test_resume_with_out_that_is_a_file_exits_2(tmp_path, capsys, trained):
    target = tmp_path / "file"
    target.write_text("x")
    before = snapshot_tree(trained)
    assert cli.resume_main([str(trained / "checkpoint.npz"), "--out", str(target),
                            "--iterations", "3", "--no-progress"]) == 2
    assert "is a file" in capsys.readouterr().err
    assert target.read_text() == "x" and snapshot_tree(trained) == before


def test_resume_of_a_finished_run_needs_iterations(trained, capsys):
    before = snapshot_tree(trained)
    assert cli.resume_main([str(trained / "checkpoint.npz"), "--no-progress"]) == 2
    assert "--iterations" in capsys.readouterr().err
    assert snapshot_tree(trained) == before


def test_cli_dispatcher_passes_exit_status(capsys):
    assert cli.main(["train", "nosuchpreset"]) == 2
    assert cli.main(["train", "--help"]) == 0
    assert "--checkpoint-every" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["parzen", "--n-samples", "x"], ["parzen"], ["parzen", "c.npz", "--n-test", "0"],
                                  ["gradcheck", "--eps", "x"],
                                  ["gradcheck", "--tol", "0"], ["check-exercise", "--tol", "x"]],
                         ids=" ".join)
def test_usage_errors_of_every_command_are_one_line_and_exit_2(argv, capsys):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"minigan {argv[0]}: ") and "--help" in err[0], captured.err
    assert captured.out == ""


# ---------------------------------------------------------------------- what train writes
def test_train_toy1d_writes_what_it_promises(tmp_path, capsys, monkeypatch):
    """With MINIGAN_BACKEND unset, whatever the run's backend: the config records the default
    backend, NumPy."""
    monkeypatch.delenv("MINIGAN_BACKEND", raising=False)
    out = tmp_path / "run"
    status = cli.train_main(["toy1d", "--iterations", "50", "--no-progress", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    files = set(os.listdir(out))
    assert {"config.json", "history.csv", "history.png", "figure1.png", "figure1.gif",
            "checkpoint.npz"} <= files
    assert not [f for f in files if f.endswith(".tmp")]
    for name in ("history.png", "figure1.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "figure1.gif").read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 50 and tuple(rows[0]) == HISTORY_FIELDS
    assert [int(r["iteration"]) for r in rows] == list(range(1, 51))
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["preset"] == "toy1d" and cfg["iterations"] == 50
    for key in ("order", "g_loss", "k", "m", "seed", "backend"):
        assert key in cfg["config"]
    assert cfg["config"]["order"] == "sequential" and cfg["config"]["backend"] == "numpy"
    assert cfg["config"]["g_loss"] == "nonsaturating"
    ck = checkpoint.read(out / "checkpoint.npz")
    assert ck.iteration == 50 and ck.preset == "toy1d"
    text = captured.out
    assert "JSD(p_data || p_g) =" in text and "mean D(x) =" in text and "mean D(G(z)) =" in text
    for name in ("figure1.png", "figure1.gif", "history.csv", "checkpoint.npz"):
        assert name in text
    assert captured.err == "", "--no-progress must keep stderr quiet"


def test_the_main_jobs_figure1_names_its_panels_by_iteration(tmp_path, capsys, monkeypatch):
    """minigan train toy1d's Figure 1 holds snapshots of one run in time: titled by iteration,
    not lettered as the paper's (a)-(d) (lesson 05 draws those); axes labelled and covering the
    curves; the last panel's D far from the data explained under the figure (lesson 04)."""
    from minigan import viz
    drawn = []
    real = viz.figure1_figure
    monkeypatch.setattr(viz, "figure1_figure", lambda *a, **kw: drawn.append(real(*a, **kw)) or drawn[-1])
    out = tmp_path / "run"
    assert cli.train_main(["toy1d", "--iterations", "40", "--no-progress", "--out", str(out)]) == 0
    (fig,) = drawn
    density = [ax for ax in fig.get_axes() if ax.get_ylabel().startswith("density")]
    assert [ax.get_title().split("   ")[0] for ax in density] == [f"iteration {i}" for i in (0, 2, 12, 40)]
    assert not [ax for ax in fig.get_axes() if ax.get_title().startswith("(")]
    texts = [t.get_text() for t in fig.texts]
    assert any(t.startswith("toy1d: the run at iterations 0, 2, 12, 40") and "lesson 05" in t for t in texts)
    assert any("nothing pins it down" in t and "iteration 40" in t for t in texts)
    for ax in density:
        p_g = next(line for line in ax.get_lines() if line.get_label() == "p_g").get_ydata()
        assert ax.get_ylim()[1] >= p_g.max() and ax.get_xlabel()
    listed = next(line for line in capsys.readouterr().out.splitlines() if "figure1.png" in line)
    assert "at iterations 0, 2, 12, 40" in listed and "(a)-(d): lesson 05" in listed


def test_train_flags_reach_the_trainer(tmp_path):
    out = tmp_path / "run"
    status = cli.train_main(["toy1d", "--iterations", "4", "--no-progress", "--out", str(out),
                             "--k", "2", "--m", "8", "--lr", "0.01", "--g-lr", "0.02",
                             "--g-loss", "minimax", "--seed", "5", "--no-figures"])
    assert status == 0
    ck = checkpoint.read(out / "checkpoint.npz")
    cfg = ck.config
    assert (cfg["k"], cfg["m"], cfg["g_loss"], cfg["seed"]) == (2, 8, "minimax", 5)
    assert ck.options["d_lr"] == 0.01 and ck.options["g_lr"] == 0.02
    assert ck.options["momentum"] == 0.5                # a default the run used is stored too
    assert json.loads((out / "config.json").read_text())["options"] == ck.options
    run, _ = presets.restore_run(ck)
    assert run.trainer.d_opt.lr0 == 0.01 and run.trainer.g_opt.lr0 == 0.02
    assert ck.meta["optimizers"]["d_opt"]["t"] == 8     # k = 2 D steps per iteration
    assert not [f for f in os.listdir(out) if f.endswith((".png", ".gif"))], "--no-figures drew figures"


def test_simultaneous_order_from_the_command_line(tmp_path):
    out = tmp_path / "run"
    assert cli.train_main(["toy1d", "--order", "simultaneous", "--iterations", "3",
                           "--no-progress", "--out", str(out), "--no-figures"]) == 0
    assert checkpoint.read(out / "checkpoint.npz").config["order"] == "simultaneous"


def test_periodic_checkpoints_keep_history(tmp_path, monkeypatch):
    saved = []
    real_save = checkpoint.save
    monkeypatch.setattr(checkpoint, "save",
                        lambda path, gan, **kw: saved.append(gan.iteration) or real_save(path, gan, **kw))
    out = tmp_path / "run"
    assert cli.train_main(["toy1d", "--iterations", "10", "--checkpoint-every", "3",
                           "--no-progress", "--out", str(out), "--no-figures"]) == 0
    assert saved == [3, 6, 9, 10]


# ---------------------------------------------------------------------- resume and sample
def test_resume_in_a_new_process_matches_one_run(tmp_path, monkeypatch):
    """With MINIGAN_BACKEND unset (NumPy) whatever the run's backend: the process it starts has
    no CuPy stand-in, and a bit-identical resume needs the generators' states, which CuPy's
    generators do not expose."""
    monkeypatch.delenv("MINIGAN_BACKEND", raising=False)
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli.train_main(["toy1d", "--iterations", "30", "--no-progress", "--out", str(one),
                           "--seed", "3", "--no-figures"]) == 0
    assert cli.train_main(["toy1d", "--iterations", "15", "--no-progress", "--out", str(two),
                           "--seed", "3", "--no-figures"]) == 0
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "minigan", "resume", str(two / "checkpoint.npz"),
                           "--iterations", "15", "--no-progress", "--no-figures"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    a, b = checkpoint.read(one / "checkpoint.npz"), checkpoint.read(two / "checkpoint.npz")
    assert a.iteration == b.iteration == 30
    for key, value in a.arrays.items():
        if key.startswith(("G/", "D/", "g_opt/", "d_opt/", "rng/", "history")):
            assert np.array_equal(value, b.arrays[key]), f"{key} differs after resume"
    with open(two / "history.csv") as f:
        assert len(list(csv.DictReader(f))) == 30
    config = json.loads((two / "config.json").read_text())
    assert config["resumed_from"]["iteration"] == 15
    assert config["started_with"].startswith("minigan train toy1d --iterations 15")   # how the run began
    assert config["resumes"] == [{"command": config["command"], "from_iteration": 15, "to_iteration": 30}]


def test_sample_writes_npy_and_png(trained, tmp_path, capsys):
    target = tmp_path / "s.npy"
    assert cli.sample_main([str(trained / "checkpoint.npz"), "-n", "300", "--out", str(target)]) == 0
    x = np.load(target)
    assert x.shape == (300, 1) and np.all(np.isfinite(x))
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert str(target) in capsys.readouterr().out
    assert cli.sample_main([str(trained / "checkpoint.npz"), "-n", "0"]) == 2


def test_sample_2d_scatter(tmp_path):
    out = tmp_path / "ring"
    assert cli.train_main(["ring8", "--iterations", "2", "--no-progress", "--out", str(out),
                           "--no-figures"]) == 0
    assert cli.sample_main([str(out / "checkpoint.npz"), "-n", "50", "--out", str(out)]) == 0
    assert np.load(out / "sampled_it2.npy").shape == (50, 2)
    assert (out / "sampled_it2.png").read_bytes()[:4] == b"\x89PNG"


def _images_preset(opts):
    """A 784-D stand-in for MNIST (no data files needed): blobs in [0, 1]."""
    class Blobs:
        dim = 784

        def __call__(self, m, rng):
            return (rng.random((m, 784), dtype=np.float32) < 0.2).astype(np.float32)
    G = models.mlp([4, 16, 784], output="sigmoid", rng=0)
    D = models.mlp([784, 8, 1], rng=1)
    gan = GAN(G, D, Blobs(), data.uniform_noise(4), d_optimizer=optim.SGD(D, 0.05),
              g_optimizer=optim.SGD(G, 0.05), m=8, seed=opts.get("seed", 0))
    return presets.Run(gan, gan.data_sampler, gan.noise_sampler, opts.get("iterations", 3), "blobs")


def test_image_presets_get_an_image_grid(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(presets.PRESETS, "blobs-test", _images_preset)
    out = tmp_path / "img"
    assert cli.train_main(["blobs-test", "--no-progress", "--out", str(out)]) == 0
    assert (out / "samples.png").read_bytes()[:4] == b"\x89PNG"
    assert "image grid" in capsys.readouterr().out
    before = (out / "samples.png").read_bytes()
    assert cli.sample_main([str(out / "checkpoint.npz"), "-n", "7"]) == 0
    assert np.load(out / "sampled_it3.npy").shape == (7, 784)
    assert (out / "samples.png").read_bytes() == before, "sample overwrote train's figure"
    assert cli.sample_main([str(out / "checkpoint.npz"), "-n", "20", "--out",
                            str(tmp_path / "few.npy")]) == 0
    assert np.load(tmp_path / "few.npy").shape == (20, 784)
    assert (tmp_path / "few.png").read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------------- divergence
def _nan_preset(opts):
    """A 1-D toy run whose data sampler returns NaN on its 5th call (iteration 5)."""
    class NanOnFifth:
        dim, calls = 1, 0
        inner = data.gaussian_1d()

        def __call__(self, m, rng):
            self.calls += 1
            x = self.inner(m, rng)
            return x * np.nan if self.calls == 5 else x

        def pdf(self, x):
            return self.inner.pdf(x)
    G, D = models.mlp([1, 8, 1], rng=0), models.mlp([1, 8, 1], rng=1)
    sampler = NanOnFifth()
    gan = GAN(G, D, sampler, data.uniform_noise(1), d_optimizer=optim.SGD(D, 0.05),
              g_optimizer=optim.SGD(G, 0.05), m=8)
    return presets.Run(gan, sampler, data.uniform_noise(1), opts.get("iterations", 10), "NaN at 5")


def test_divergence_stops_names_it_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(presets.PRESETS, "nan-test", _nan_preset)
    monkeypatch.setattr(reports, "data_kind", lambda run: "other")
    out = tmp_path / "run"
    status = cli.train_main(["nan-test", "--checkpoint-every", "2", "--no-progress",
                             "--out", str(out)])
    err = capsys.readouterr().err
    assert status == EXIT_DIVERGED != 0
    assert "iteration 5" in err and "d_loss" in err and "last good checkpoint" in err
    ck = checkpoint.read(out / "checkpoint.npz")
    assert ck.iteration == 4, "the checkpoint must be the last good one (iteration 4)"
    assert all(np.all(np.isfinite(v)) for k, v in ck.arrays.items() if k.startswith(("G/", "D/")))
    with open(out / "history.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


# ---------------------------------------------------------------------- progress bar
class FakeStream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self._tty = tty

    def isatty(self):
        return self._tty


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_progress_off_a_terminal_prints_plain_lines_now_and_then():
    """A log file, a pipe or `!minigan` in a notebook: no bar, no carriage return; a line at each tenth of
    the run and whenever a minute has passed since the last one."""
    s, clock = FakeStream(tty=False), FakeClock()
    bar = Progress(1000, desc="toy1d", stream=s, clock=clock)
    for i in range(1000):
        clock.t += 0.01 if i < 150 else 1.0            # slow after the first 150 steps
        bar.update(V=-1.386)
    bar.close()
    text = s.getvalue()
    assert "\r" not in text and "[" not in text
    lines = text.splitlines()
    counts = [int(line.split(": ")[1].split("/")[0]) for line in lines]
    # the ten marks; from step 200 on, 100 s pass between marks, so a minute line falls 60 steps after each
    assert counts == sorted([100 * k for k in range(1, 11)] + [100 * k + 60 for k in range(2, 10)])
    assert lines[0] == "toy1d: 100/1000 iterations (10%), 1.0 s elapsed, about 0:09 left  V=-1.386"
    assert lines[-1].startswith("toy1d: 1000/1000 iterations (100%), ") and "left" not in lines[-1]


def test_progress_shows_rate_and_eta_on_a_terminal():
    s, clock = FakeStream(tty=True), FakeClock()
    bar = Progress(100, desc="toy1d", stream=s, clock=clock, min_interval=0)
    for _ in range(25):
        clock.t += 0.5                 # 2 iterations per second
        bar.update(V=-1.386)
    line = s.getvalue().split("\r")[-1]
    assert "toy1d" in line and "25/100" in line and "25%" in line
    assert "2.00 it/s" in line and "ETA 0:38" in line and "V=-1.386" in line   # 75 left at 2 it/s
    bar.close()
    assert s.getvalue().endswith("\n")
    assert bar.rate == pytest.approx(2.0) and bar.eta == pytest.approx(37.5)


def test_progress_flag_forces_it_off_on_a_terminal():
    s = FakeStream(tty=True)
    bar = Progress(5, stream=s, enabled=False)
    bar.update()
    bar.close()
    assert s.getvalue() == ""


def test_format_time():
    assert format_time(None) == "?" and format_time(5) == "0:05" and format_time(3725) == "1:02:05"


def test_set_passes_a_preset_option_and_resume_keeps_it(tmp_path, capsys):
    out = tmp_path / "mom"
    assert cli.train_main(["toy1d", "--set", "momentum=0.25", "--iterations", "4", "--no-progress",
                           "--no-figures", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["momentum"] == 0.25 and "--set momentum=0.25" in config["command"]
    ck = checkpoint.read(out / "checkpoint.npz")
    assert ck.options["momentum"] == 0.25
    run, _ = presets.restore_run(ck)
    assert run.trainer.d_opt.momentum0 == 0.25 and run.trainer.g_opt.momentum0 == 0.25


def test_set_g_steps_trains_g_that_often_and_resumes_bit_identically(tmp_path, capsys, monkeypatch):
    """The released minibatch-discrimination code's G settings: the saturating loss, 3 G steps per D step.
    With MINIGAN_BACKEND unset (NumPy) whatever the run's backend: a bit-identical resume needs
    the generators' states, which CuPy's generators do not expose."""
    monkeypatch.delenv("MINIGAN_BACKEND", raising=False)
    flags = ["--set", "g_steps=3", "--g-loss", "minimax", "--m", "16", "--no-progress", "--no-figures"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli.train_main(["ring8", "--iterations", "6", "--out", str(one), *flags]) == 0
    assert "g_loss=minimax k=1 g_steps=3 m=16" in capsys.readouterr().out
    assert cli.train_main(["ring8", "--iterations", "3", "--out", str(two), *flags]) == 0
    assert cli.main(["resume", str(two / "checkpoint.npz"), "--iterations", "3", "--no-progress",
                     "--no-figures"]) == 0
    a, b = checkpoint.read(one / "checkpoint.npz"), checkpoint.read(two / "checkpoint.npz")
    assert a.iteration == b.iteration == 6
    assert a.meta["optimizers"]["g_opt"]["t"] == 18 and a.meta["optimizers"]["d_opt"]["t"] == 6
    for key, value in a.arrays.items():
        if key.startswith(("G/", "D/", "g_opt/", "d_opt/", "rng/", "history")):
            assert np.array_equal(value, b.arrays[key]), f"{key} differs after resume"
    config = json.loads((two / "config.json").read_text())
    assert config["options"]["g_steps"] == 3 and config["config"]["g_steps"] == 3
    assert "--set g_steps=3" in config["started_with"] and b.options["g_steps"] == 3
    run, _ = presets.restore_run(b)
    assert run.trainer.g_steps == 3
    # mnist-paper's G optimizer counts its epochs in G steps, as D's counts them in D steps
    paper = presets.build("mnist-paper", load_data=False, order="sequential", k=2, g_steps=3).trainer
    assert (paper.d_opt.steps_per_epoch, paper.g_opt.steps_per_epoch) == (1000, 1500)


@pytest.mark.parametrize("argv,message", [
    (["--set", "g_steps=0"], "g_steps (G steps per iteration) must be an integer >= 1, got 0"),
    (["--set", "g_steps=2", "--order", "simultaneous"], "it needs g_steps = 1"),
])
def test_bad_g_steps_exits_2_with_one_line(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    assert cli.train_main(["toy1d", *argv, "--iterations", "2", "--no-progress", "--out", str(out)]) == 2
    assert message in one_error_line(capsys.readouterr().err, "minigan train")
    assert not out.exists()


def test_a_folder_holding_a_run_is_not_trained_into_again(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert cli.train_main(["toy1d", "--iterations", "20", "--no-progress", "--out", str(out)]) == 0
    assert cli.sample_main([str(out / "checkpoint.npz")]) == 0
    assert (out / "figure1.png").exists() and (out / "sampled_it20.png").exists()
    before = snapshot_tree(out)
    capsys.readouterr()
    assert cli.train_main(["toy1d", "--iterations", "10", "--seed", "5", "--no-progress",
                           "--no-figures", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds a run" in err[0] and "minigan resume" in err[0] and "--force" in err[0]
    assert "--iterations N" in err[0]                  # what a finished run needs to go on
    assert snapshot_tree(out) == before, "a refused run changed the folder"
    # refused before the preset is built: no MNIST is read (nor downloaded) for a run that will not start
    with monkeypatch.context() as m:
        m.setattr(train_command, "build_run", lambda *a: pytest.fail("the preset was built before the refusal"))
        assert cli.train_main(["mnist-paper", "--no-progress", "--out", str(out)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    # --force replaces the run, and the old run's figures do not stay beside the new one
    assert cli.train_main(["toy1d", "--iterations", "10", "--seed", "5", "--no-progress",
                           "--no-figures", "--force", "--out", str(out)]) == 0
    assert not (out / "figure1.png").exists() and not (out / "history.png").exists()
    assert not list(out.glob("sampled_it*")), "the old run's samples stayed beside the new run"
    ck = checkpoint.read(out / "checkpoint.npz")
    assert ck.iteration == 10 and ck.config["seed"] == 5
    with open(out / "history.csv") as f:
        assert len(f.read().splitlines()) == 11


def test_ctrl_c_while_the_figures_are_drawn_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    from minigan import viz

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(viz, "animate_figure1", interrupted)
    out = tmp_path / "run"
    assert cli.train_main(["toy1d", "--iterations", "20", "--no-progress", "--out", str(out)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "minigan train: interrupted; any checkpoint written before is kept as it was"
    assert checkpoint.read(out / "checkpoint.npz").iteration == 20


def test_resume_keeps_the_first_runs_figure1_and_writes_its_own(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.train_main(["toy1d", "--iterations", "20", "--no-progress", "--out", str(out)]) == 0
    first = (out / "figure1.png").read_bytes()
    assert cli.resume_main([str(out / "checkpoint.npz"), "--iterations", "20", "--no-progress"]) == 0
    assert (out / "figure1.png").read_bytes() == first
    assert (out / "figure1_from_it20.png").exists() and (out / "figure1_from_it20.gif").exists()
    assert "figure1_from_it20.png" in capsys.readouterr().out
    assert cli.train_main(["toy1d", "--iterations", "5", "--no-progress", "--no-figures", "--force",
                           "--out", str(out)]) == 0
    assert not [n for n in os.listdir(out) if n.startswith("figure1")]


def test_resume_does_not_write_into_another_runs_folder(tmp_path, capsys):
    one, two = tmp_path / "one", tmp_path / "two"
    for out, seed in ((one, "0"), (two, "5")):
        assert cli.train_main(["toy1d", "--iterations", "10", "--seed", seed, "--no-progress",
                               "--no-figures", "--out", str(out)]) == 0
    before = snapshot_tree(two)
    capsys.readouterr()
    assert cli.resume_main([str(one / "checkpoint.npz"), "--iterations", "5", "--no-progress",
                            "--out", str(two)]) == 2
    assert "holds another run" in capsys.readouterr().err
    assert snapshot_tree(two) == before
    fresh = tmp_path / "fresh"                        # a folder without a run is fine; no history to inherit
    assert cli.resume_main([str(one / "checkpoint.npz"), "--iterations", "5", "--no-progress",
                            "--no-figures", "--out", str(fresh)]) == 0
    config = json.loads((fresh / "config.json").read_text())
    assert "started_with" not in config and config["resumed_from"]["iteration"] == 10


def test_train_with_an_average_of_g_then_sample_it(tmp_path, trained, capsys):
    """--g-average keeps the average in the checkpoint; 'minigan sample --averaged' draws
    from it into its own file, and refuses a run that kept none."""
    out = tmp_path / "avg"
    assert cli.train_main(["toy1d", "--iterations", "20", "--no-progress", "--out", str(out),
                           "--no-figures", "--g-average", "0.9"]) == 0
    ck = checkpoint.read(out / "checkpoint.npz")
    assert ck.options["g_average"] == 0.9 and ck.meta["g_average"] == {"decay": 0.9, "t": 20}
    capsys.readouterr()
    assert cli.main(["sample", str(out / "checkpoint.npz"), "-n", "50", "--averaged"]) == 0
    assert "50 samples of the averaged G at iteration 20" in capsys.readouterr().out
    averaged = np.load(out / "sampled_it20_averaged.npy")
    assert cli.main(["sample", str(out / "checkpoint.npz"), "-n", "50"]) == 0
    plain = np.load(out / "sampled_it20.npy")
    run, _ = presets.restore_run(out / "checkpoint.npz")
    assert np.array_equal(averaged, backend.to_host(run.trainer.sample(50, rng=backend.default_rng(0),
                                                                       averaged=True)))
    assert not np.array_equal(averaged, plain)
    capsys.readouterr()
    assert cli.main(["sample", str(trained / "checkpoint.npz"), "--averaged"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoint.npz: this run keeps no average of G to sample" in err[0]
    assert not (trained / "sampled_it20_averaged.npy").exists()


def test_an_image_run_with_an_average_of_g_draws_both(tmp_path):
    """mnist-paper with --g-average: samples.png and samples_averaged.png (the same z)."""
    from test_lessons import mnist_available
    if not mnist_available():
        pytest.skip("MNIST files not found (set MINIGAN_DATA to the folder holding mnist/)")
    out = tmp_path / "mnist"
    assert cli.train_main(["mnist-paper", "--iterations", "3", "--out", str(out), "--no-progress",
                           "--g-average", "0.9"]) == 0
    for name in ("samples.png", "samples_averaged.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert (out / "samples.png").read_bytes() != (out / "samples_averaged.png").read_bytes()
    assert cli.train_main(["mnist-paper", "--iterations", "3", "--out", str(out), "--no-progress",
                           "--no-figures", "--force"]) == 0
    assert not (out / "samples_averaged.png").exists()              # --force took the old run's figure too


# ---------------------------------------------------------------------- bad input, tried as a new user would
def one_error_line(err, prog):
    """The one line a refused command printed on stderr (and that it is the only one)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), err
    return lines[0][len(f"{prog}: error: "):]


def files_under(folder):
    return sorted(os.path.relpath(os.path.join(root, n), folder)
                  for root, dirs, files in os.walk(folder) for n in dirs + files)


def _oom_preset(opts):
    """toy1d, whose data sampler fails as NumPy does when m rows do not fit in memory."""
    run = presets.build("toy1d", **{k: v for k, v in opts.items() if k != "m"})
    m, inner = opts.get("m", 8), run.trainer.data_sampler

    def data_sampler(n, rng):
        if n > 10 ** 6:
            raise MemoryError(f"Unable to allocate 373. GiB for an array with shape ({n}, 1) "
                              "and data type float32")
        return inner(n, rng)
    run.trainer.data_sampler = run.data = data_sampler
    run.trainer.m = m
    return run


@pytest.mark.parametrize("existing", [False, True], ids=["new folder", "existing folder"])
def test_an_m_too_big_for_memory_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys, existing):
    monkeypatch.setitem(presets.PRESETS, "oom-test", _oom_preset)
    out = tmp_path / "runs" / "big"
    if existing:
        out.mkdir(parents=True)
        (out / "notes.txt").write_text("mine\n")
    before = files_under(tmp_path)
    status = cli.train_main(["oom-test", "--m", "100000000000", "--out", str(out), "--no-progress"])
    line = one_error_line(capsys.readouterr().err, "minigan train")
    assert status == 2
    assert line.startswith("--m 100000000000 is too large for this machine's memory (Unable to allocate 373. GiB")
    assert files_under(tmp_path) == before, "a run that never started left files or folders behind"


def test_a_memory_error_while_building_is_one_line(tmp_path, monkeypatch, capsys):
    def too_big(opts):
        raise MemoryError("Unable to allocate 12. GiB for an array with shape (60000, 784, 64)")
    monkeypatch.setitem(presets.PRESETS, "oom-build", too_big)
    assert cli.train_main(["oom-build", "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    line = one_error_line(capsys.readouterr().err, "minigan train")
    assert line == "preset 'oom-build': out of memory (Unable to allocate 12. GiB for an array with shape " \
                   "(60000, 784, 64))"
    assert os.listdir(tmp_path) == []


def write_mnist(folder, n_train, seed=0):
    """A stand-in MNIST folder: n_train random 28 x 28 training images (and 30 test images)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    data.write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8))
    data.write_idx(folder / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, n_train, dtype=np.uint8))
    data.write_idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (30, 28, 28), dtype=np.uint8))
    data.write_idx(folder / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 30, dtype=np.uint8))
    return folder.parent


@pytest.fixture
def no_mnist(tmp_path, monkeypatch):
    """No MINIGAN_DATA, an empty cache, and mirrors that refuse at once: no MNIST anywhere."""
    from minigan.data import mnist
    monkeypatch.delenv("MINIGAN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist, "MIRRORS", {k: ["http://127.0.0.1:9/"] for k in mnist.KINDS})
    mnist._CACHE.clear()
    yield mnist
    mnist._CACHE.clear()


def test_missing_mnist_is_the_same_one_line_for_every_command(tmp_path, no_mnist, capsys):
    """train, parzen and resume without the data: one line, the same words, the flag to pass;
    no mnist/ folder is made at the path given (nor anywhere)."""
    small = write_mnist(tmp_path / "small" / "mnist", 300)
    run = tmp_path / "run"
    assert cli.train_main(["mnist-paper", "--data-dir", str(small), "--iterations", "2", "--out", str(run),
                           "--no-progress", "--no-figures"]) == 0
    (tmp_path / "empty").mkdir()
    small.rename(tmp_path / "moved")                     # the run's data folder moves away
    capsys.readouterr()
    before = files_under(tmp_path)
    lines = {}
    for prog, argv in [("train", ["mnist-paper", "--data-dir", str(tmp_path / "empty"), "--no-progress",
                                  "--out", str(tmp_path / "new")]),
                       ("train", ["mnist-paper", "--no-progress", "--out", str(tmp_path / "new")]),
                       ("parzen", [str(run / "checkpoint.npz"), "--data-dir", str(tmp_path / "empty")]),
                       ("resume", [str(run / "checkpoint.npz"), "--iterations", "2", "--no-progress"])]:
        assert cli.main([prog] + argv) == 2
        line = one_error_line(capsys.readouterr().err, f"minigan {prog}")
        lines.setdefault(prog, []).append(line)
        assert line.startswith("mnist files not found: train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz; "
                               "looked in "), line
        assert line.endswith("(and their mnist/ subfolders); the download failed (connection refused); "
                             "pass --data-dir FOLDER, the folder that holds them, or set MINIGAN_DATA"), line
        assert "data_dir" not in line and "http" not in line and len(line) < 400
    assert str(tmp_path / "empty") in lines["parzen"][0] and str(tmp_path / "small") in lines["resume"][0]
    assert str(tmp_path / "cache" / "minigan") in lines["train"][1]
    assert files_under(tmp_path) == before, "a refused command made a folder or a file"


def test_a_training_set_smaller_than_the_report_is_reported_on(tmp_path, no_mnist, capsys):
    """Fewer images than the final report's 2,500 draws: it reports on those there are."""
    small = write_mnist(tmp_path / "d" / "mnist", 300)
    out = tmp_path / "run"
    assert cli.train_main(["mnist-paper", "--data-dir", str(small), "--iterations", "2", "--out", str(out),
                           "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "mean D(x) = " in captured.out and "on 300 fresh samples" in captured.out
    assert captured.err == ""


def test_a_training_set_smaller_than_m_is_refused_at_once(tmp_path, no_mnist, capsys):
    tiny = write_mnist(tmp_path / "d" / "mnist", 50)
    out = tmp_path / "run"
    assert cli.train_main(["mnist-paper", "--data-dir", str(tiny), "--out", str(out), "--no-progress"]) == 2
    line = one_error_line(capsys.readouterr().err, "minigan train")
    assert line == "preset 'mnist-paper': the minibatch size m = 100 is larger than the training set (50 images)"
    assert not out.exists()


def test_sample_needs_no_data(tmp_path, no_mnist, monkeypatch, capsys):
    """An mnist-paper G is all in its checkpoint: sample reads no MNIST file and downloads none."""
    small = write_mnist(tmp_path / "d" / "mnist", 300)
    out = tmp_path / "run"
    assert cli.train_main(["mnist-paper", "--data-dir", str(small), "--iterations", "2", "--out", str(out),
                           "--no-progress", "--no-figures", "--g-average", "0.9"]) == 0
    run, _ = presets.restore_run(out / "checkpoint.npz")
    want = run.trainer.sample(12, rng=backend.default_rng(4), averaged=True)
    small.rename(tmp_path / "gone")
    monkeypatch.setattr(no_mnist, "_fetch", lambda *a, **k: pytest.fail("sample tried to download MNIST"))
    capsys.readouterr()
    assert cli.sample_main([str(out / "checkpoint.npz"), "-n", "12", "--seed", "4", "--averaged"]) == 0
    assert "12 samples of the averaged G at iteration 2" in capsys.readouterr().out
    np.testing.assert_array_equal(np.load(out / "sampled_it2_averaged.npy"), backend.to_host(want))
    assert (out / "sampled_it2_averaged.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "d").exists()


def test_a_nan_stop_prints_no_numpy_warnings(tmp_path, monkeypatch, capsys):
    """The divergence's own lines, and no RuntimeWarning (overflow, invalid value) around them."""
    import warnings

    def overflowing(opts):
        run = _nan_preset(opts)
        inner = run.trainer.data_sampler

        def data_sampler(m, rng):                  # a huge batch: D's products overflow to inf, then NaN
            return inner(m, rng) * np.float32(1e38) if inner.calls >= 3 else inner(m, rng)
        run.trainer.data_sampler = data_sampler
        return run
    monkeypatch.setitem(presets.PRESETS, "overflow-test", overflowing)
    monkeypatch.setattr(reports, "data_kind", lambda run: "other")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status = cli.train_main(["overflow-test", "--no-progress", "--out", str(tmp_path / "run")])
    assert status == EXIT_DIVERGED
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == []
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "stopped at iteration 4" in err[0] and "last good checkpoint" in err[1], err


# ---------------------------------------------------------------------- a new user's review: the words of each refusal
@pytest.mark.parametrize("preset,own", [("toy1d", "momentum, g_steps"),
                                        ("mnist-paper", "kind, momentum, sampling, noise, g_steps"),
                                        ("ring8", "beta1, g_steps")])
def test_set_of_an_unknown_option_lists_only_what_set_takes(tmp_path, capsys, preset, own):
    """Not the options that have their own flags (--set refuses those), never an internal name."""
    status = cli.train_main([preset, "--set", "lr_decay=0.9", "--out", str(tmp_path / "run"), "--no-progress"])
    line = one_error_line(capsys.readouterr().err, "minigan train")
    assert status == 2 and not (tmp_path / "run").exists()
    assert line.startswith(f"preset {preset!r} has no option 'lr_decay'; ")
    own = ", ".join(([own] if own else []) + list(presets.TECHNIQUE_OPTIONS))
    assert f"--set takes {own} for it" in line
    assert "their own flags" in line and "data_dir" not in line and "seed" not in line and "g_lr" not in line


def test_resume_on_a_training_set_of_another_size_names_the_data_dir(tmp_path, no_mnist, capsys):
    big = write_mnist(tmp_path / "big" / "mnist", 300)          # 3 minibatches of 100 an epoch
    small = write_mnist(tmp_path / "small" / "mnist", 200)      # 2
    run = tmp_path / "run"
    assert cli.train_main(["mnist-paper", "--data-dir", str(big), "--iterations", "2", "--out", str(run),
                           "--no-progress", "--no-figures"]) == 0
    capsys.readouterr()
    before = snapshot_tree(run)
    ckpt = str(run / "checkpoint.npz")
    assert cli.resume_main([ckpt, "--data-dir", str(small), "--iterations", "1", "--no-progress"]) == 2
    line = one_error_line(capsys.readouterr().err, "minigan resume")
    assert line == (f"checkpoint {ckpt}: the run was trained on a training set of 3 minibatches of 100 images "
                    f"per epoch, --data-dir {small} gives 2; pass the --data-dir it was trained with ({big})")
    assert snapshot_tree(run) == before


def test_a_file_that_is_not_a_checkpoint_is_named_so(tmp_path, capsys, trained):
    """No NumPy advice to load it unsafely; a run's folder points at its checkpoint."""
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    np.save(tmp_path / "array.npy", np.zeros(3))
    for path, want in ((notes, "is not an .npz checkpoint (not a zip archive)"),
                       (trained / "config.json", "is not an .npz checkpoint (not a zip archive)"),
                       (tmp_path / "array.npy", "is not an .npz checkpoint (a bare .npy array)"),
                       (trained, f"is a folder, not a checkpoint file; did you mean {trained / 'checkpoint.npz'}?"),
                       (tmp_path, "is a folder, not a checkpoint file")):
        assert cli.sample_main([str(path)]) == 2
        line = one_error_line(capsys.readouterr().err, "minigan sample")
        assert line in (f"checkpoint {path}: {want}", f"checkpoint {path} {want}"), line
        assert "pickle" not in line and "unsafe" not in line
    assert not (tmp_path / "sampled_it0.npy").exists()


def test_a_checkpoint_with_pickled_members_is_refused_without_numpy_advice(tmp_path):
    path = tmp_path / "c.npz"
    np.savez(path, format=np.array("minigan-checkpoint"), obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(checkpoint.CheckpointError) as caught:
        checkpoint.read(path)
    assert "pickled objects, which a checkpoint never does" in str(caught.value)
    assert "allow_pickle" not in str(caught.value) and "unsafe" not in str(caught.value)


@pytest.mark.parametrize("argv,message", [(["--n-test", "0"], "--n-test must be >= 1, got 0"),
                                          (["--n-samples", "-3"], "--n-samples must be >= 1, got -3"),
                                          (["--bogus"], "unrecognized arguments: --bogus")])
def test_parzen_usage_errors_say_error(trained, capsys, argv, message):
    assert cli.parzen_main([str(trained / "checkpoint.npz")] + argv) == 2
    assert message in one_error_line(capsys.readouterr().err, "minigan parzen")


def _nan_at(call):
    """The NaN preset, its data sampler returning NaN on call ``call`` (iteration ``call``)."""
    def build(opts):
        run = _nan_preset(opts)
        inner = run.trainer.data_sampler.inner
        calls = [0]

        def data_sampler(m, rng):
            calls[0] += 1
            x = inner(m, rng)
            return x * np.nan if calls[0] == call else x
        run.trainer.data_sampler = data_sampler
        return run
    return build


@pytest.mark.parametrize("call", [1, 3])
def test_divergence_advises_saving_more_often_only_when_it_could_help(tmp_path, monkeypatch, capsys, call):
    monkeypatch.setitem(presets.PRESETS, "nan-at", _nan_at(call))
    monkeypatch.setattr(reports, "data_kind", lambda run: "other")
    status = cli.train_main(["nan-at", "--checkpoint-every", "0", "--no-progress", "--no-figures",
                             "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == EXIT_DIVERGED and len(err) == 2 and f"stopped at iteration {call}" in err[0], err
    if call == 1:
        assert err[1] == "minigan train: no checkpoint was saved: it diverged in its first iteration"
    else:
        assert "use --checkpoint-every N to save more often" in err[1]


# ---------------------------------------------------------------------- what --help says
def _train_help(capsys):
    assert cli.train_main(["--help"]) == 0
    return capsys.readouterr().out


def _block(text, name):
    """The lines of preset ``name``'s block in minigan train --help, joined."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {name}: "))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("    ")), len(lines))
    return " ".join(line.strip() for line in lines[start:end])


def test_train_help_shows_each_presets_defaults_and_what_set_takes(capsys, monkeypatch):
    from minigan.cli import describe
    monkeypatch.setenv("COLUMNS", "100")
    text = _train_help(capsys)
    for name in presets.PRESETS:
        block = _block(text, name)
        used = presets.build(name, load_data=False).options
        def shown(value):
            return f"{value:.10g}" if isinstance(value, float) else str(value)
        for key, flag in describe.FLAGS.items():
            if key in presets.COMMON[name] and (key, name) != ("g_loss", "mnist-fm"):   # (its G loss is feature matching)
                assert f"{flag} {shown(used[key])}" in block, (name, flag, block)
            else:                                  # an autoencoder has no --k, --d-lr, ...; a GAN no one --lr
                assert f"{flag} " not in block.split("optimizer:")[0], (name, flag, block)
        for option in presets.OPTIONS[name]:
            if option in presets.COMMON[name] or option in presets.TECHNIQUE_OPTIONS:
                continue
            assert f"--set {option}=" in block, (name, option)
            assert f"(default {shown(used[option])})" in block, (name, option)
    paper = _block(text, "mnist-paper")
    assert "--iterations 125000 (250 epochs of 500 minibatches)" in paper
    assert "--set noise=uniform|gaussian (default uniform)" in paper
    assert "--set sampling=random|epochs (default epochs)" in paper
    assert "--set kind=mnist|fashion-mnist (default mnist)" in paper
    assert "momentum 0.5 rising to 0.7 from epoch 1 to 250; the rate divided by 1.000004" in paper
    assert "3 Maxout" in paper and "3 ReLU" in _block(text, "toy1d") and "5 ReLU" in _block(text, "grid25")
    flat = " ".join(text.split())
    for key in presets.TECHNIQUE_OPTIONS:
        default = presets.build("toy1d", load_data=False).options[key]
        shown = "off" if default is None else f"{default:g}"
        assert f"--set {key}={describe.TECHNIQUES[key][0]} (default {shown}): " in flat, key
    assert "--set real_label=ALPHA (default 1): " in flat and "--set batch_norm=0|1 (default 0): " in flat


def test_train_helps_run_times_are_the_measured_ones(capsys, monkeypatch):
    """mnist-paper's hours follow from the epoch times benchmarks/RESULTS.md measured; the toy
    presets' seconds are copied from it. If RESULTS.md changes these figures, this fails."""
    from minigan.cli import describe
    monkeypatch.setenv("COLUMNS", "100")
    paper = _block(_train_help(capsys), "mnist-paper")
    lo, hi = (250 * s / 3600 for s in describe.MNIST_EPOCH_SECONDS)
    assert f"125,000 iterations take about {lo:.1f}-{hi:.1f} hours on a 2-core CPU" in paper
    assert (lo, hi) == pytest.approx((0.97, 1.875), abs=0.01)
    with open(os.path.join(REPO, "benchmarks", "RESULTS.md")) as f:
        results = " ".join(f.read().split())
    assert "14-16 s per epoch on two threads alone, 20-27 s on one beside another job" in results
    assert "took 247 s per epoch on two BLAS threads against 75 s on one" in results
    assert "| 8 of 8 | 96.2 / 95.3 / 95.5% | 29 / 32 / 30 s |" in results
    assert "| 13 / 15 / 15 of 25 | 85.6 / 85.4 / 75.1% | 48 / 52 / 50 s |" in results
    assert "29-32 s" in describe.MEASURED_TIMES["ring8"] and "48-52 s" in describe.MEASURED_TIMES["grid25"]
    assert "194 s (vae), 214 s (ae) and 108 s (dae) of training" in results
    for name, seconds in (("ae", 214), ("dae", 108), ("vae", 194)):
        assert f"took {seconds} s of training" in describe.MEASURED_TIMES[name]


def test_every_option_a_preset_takes_has_its_values_described():
    """A new preset option without a line in minigan train --help fails here."""
    from minigan.cli import describe
    described = set(describe.own_options()) | set(describe.TECHNIQUES)
    for name, options in presets.OPTIONS.items():
        missing = [o for o in options if o not in presets.COMMON[name] and o not in described]
        assert not missing, f"preset {name}: options {missing} are not described in minigan/cli/describe.py"
    assert set(describe.TECHNIQUES) == set(presets.TECHNIQUE_OPTIONS)


def test_train_parses_without_building_the_presets_help(monkeypatch, tmp_path):
    """The presets' help is built only for --help, not for every run."""
    from minigan.cli import describe
    monkeypatch.setattr(describe, "presets_help", lambda: pytest.fail("built the help for a plain run"))
    assert cli.train_main(["toy1d", "--iterations", "2", "--no-progress", "--no-figures",
                           "--out", str(tmp_path / "run")]) == 0


def test_gradcheck_tol_explains_itself(capsys):
    assert cli.main(["gradcheck", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    tol = text[text.index("--tol TOL largest"):text.rindex("--seed SEED")]
    assert "max|a - n| / max(|a| + |n|)" in tol and "default 1e-06" in tol
    assert "10 u max(|L|, 1) / eps (u = 1.1e-16" in tol and "1.1e-09 for |L| = 1 at the default --eps" in tol
    assert "__init__" not in tol and "docstring" not in tol


# ---------------------------------------------------------------------- the paper's figure, as a reference
def test_a_short_mnist_run_does_not_present_the_papers_figure_as_its_own(tmp_path, no_mnist, capsys):
    """The preset's description ends "(Table 1, Parzen 225 +- 2)": a 2-iteration run prints and records
    it as the paper's figure for a fully trained model, with the run's length against the preset's."""
    small = write_mnist(tmp_path / "d" / "mnist", 300)
    out = tmp_path / "run"
    assert presets.build("mnist-paper", data_dir=str(small)).description.endswith("(Table 1, Parzen 225 +- 2)")
    assert cli.train_main(["mnist-paper", "--data-dir", str(small), "--iterations", "2", "--out", str(out),
                           "--no-progress", "--no-figures"]) == 0
    printed = capsys.readouterr().out
    recorded = json.loads((out / "config.json").read_text())["description"]
    for text in (printed, recorded):
        assert "(Table 1, Parzen 225 +- 2)" not in text
        assert ("for reference, the paper's fully trained model: Table 1, Parzen 225 +- 2 (this run trains 2 "
                "of the preset's 125,000 iterations: its scores are not comparable)") in text
    assert cli.resume_main([str(out / "checkpoint.npz"), "--iterations", "3", "--no-progress", "--no-figures"]) == 0
    assert "this run trains 5 of the preset's 125,000" in json.loads((out / "config.json").read_text())["description"]
    assert "this run trains 5 of the preset's 125,000" in capsys.readouterr().out


def test_run_description_at_full_length_and_without_a_paper_figure():
    from minigan.cli.describe import run_description
    full = run_description("mnist-paper", "mnist as released (Table 1, Parzen 225 +- 2)", 125000)
    assert full == ("mnist as released; for reference, the paper's fully trained model: Table 1, Parzen 225 +- 2 "
                    "(the paper's result, not this run's)")
    assert run_description("toy1d", "Figure 1 setting: 1-D Gaussian data", 10) == "Figure 1 setting: 1-D Gaussian data"


def test_parzen_says_a_short_runs_ll_is_not_comparable_with_the_papers(tmp_path, capsys):
    from test_lessons import mnist_available
    if not mnist_available():
        pytest.skip("MNIST files not found (set MINIGAN_DATA to the folder holding mnist/)")
    out = tmp_path / "run"
    assert cli.train_main(["mnist-paper", "--iterations", "2", "--out", str(out), "--no-progress",
                           "--no-figures"]) == 0
    capsys.readouterr()
    assert cli.main(["parzen", str(out / "checkpoint.npz"), "--n-samples", "50", "--n-valid", "20",
                     "--n-test", "30", "--no-ceiling"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].startswith("paper, Table 1 (MNIST), for reference: adversarial nets 225 +- 2")
    assert lines[-1] == ("this G trained for 2 of mnist-paper's 125,000 iterations: its LL is not comparable "
                         "with the paper's")
