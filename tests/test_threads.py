"""The BLAS thread count (``minigan.threads``): the rule from the size of the work, who
overrides it, what ``minigan train``/``resume`` and the lessons apply and record, and
that a one-thread run computes what a process started on one thread computes."""
import json
import os
import subprocess
import sys
import types

import pytest

from minigan import cli, lesson_io, models, presets, threads
from minigan.train import GAN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREAD_VARS = ("MINIGAN_BLAS_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


@pytest.fixture(autouse=True)
def _no_thread_settings(monkeypatch):
    """Each test starts without a thread variable, on NumPy, and leaves the BLAS pool as it found it."""
    for name in THREAD_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MINIGAN_BACKEND", "numpy")
    with threads.restored():
        yield


def pool_or_skip():
    pool = threads.blas_pool()
    if pool is None:
        pytest.skip("the BLAS cannot be read here (threadpoolctl absent, or a BLAS it does not know)")
    return pool


# --- the rule --------------------------------------------------------------------------------------------

def test_policy_small_products_run_on_one_thread_large_on_every_core():
    assert threads.policy_threads([threads.TOY_PRODUCT], n_cores=8) == 1
    assert threads.policy_threads([(256, 2, 128), (256, 128, 128), (256, 128, 1)], n_cores=8) == 1
    assert threads.policy_threads([threads.MNIST_PRODUCT], n_cores=8) == 8
    assert threads.policy_threads([(256, 128, 128), (100, 784, 1200)], n_cores=2) == 2   # the largest decides
    assert threads.policy_threads([], n_cores=8) == 1


def test_policy_boundary_is_large_product():
    assert threads.LARGE_PRODUCT == 2 ** 24
    assert threads.policy_threads([(256, 256, 256)], n_cores=4) == 4            # exactly 2**24
    assert threads.policy_threads([(256, 256, 255)], n_cores=4) == 1
    assert threads.policy_threads([(256, 256, 256)], n_cores=1) == 1


def test_products_of_presets():
    ring8 = presets.build("ring8").trainer
    shapes = threads.products(ring8)
    assert (256, 128, 128) in shapes and all(m == 256 for m, _, _ in shapes)
    assert threads.policy_threads(shapes, n_cores=2) == 1
    G, D = models.paper_mnist_networks(seed=0)[:2]
    mnist = types.SimpleNamespace(m=100, G=G, D=D)
    shapes = threads.products(mnist)
    assert (100, 1200, 1200) in shapes and (100, 784, 1200) in shapes
    assert threads.policy_threads(shapes, n_cores=2) == 2
    assert threads.products(types.SimpleNamespace(m=64, G=G, D=D))[0][0] == 64


def test_choose_says_why():
    small = threads.choose([(256, 128, 128)], environ={}, n_cores=2)
    assert small.threads == 1 and "4.2 M multiply-adds < 16.8 M" in small.source
    large = threads.choose([(100, 784, 1200)], environ={}, n_cores=2)
    assert large.threads == 2 and "94.1 M multiply-adds >= 16.8 M" in large.source


# --- who overrides the rule ------------------------------------------------------------------------------

def test_override_order():
    big, small = [(100, 784, 1200)], [(256, 128, 128)]
    env = {"MINIGAN_BLAS_THREADS": "3", "OPENBLAS_NUM_THREADS": "4", "OMP_NUM_THREADS": "5"}
    assert threads.choose(big, flag=6, environ=env, n_cores=2) == threads.BlasThreads(6, "--threads")
    assert threads.choose(big, environ=env, n_cores=2) == threads.BlasThreads(3, "MINIGAN_BLAS_THREADS")
    del env["MINIGAN_BLAS_THREADS"]
    assert threads.choose(small, environ=env, n_cores=2) == threads.BlasThreads(4, "OPENBLAS_NUM_THREADS")
    del env["OPENBLAS_NUM_THREADS"]
    assert threads.choose(small, environ=env, n_cores=2) == threads.BlasThreads(5, "OMP_NUM_THREADS")
    assert threads.choose(small, environ={"OMP_NUM_THREADS": "4,2"}).threads == 4     # OpenBLAS reads the first
    assert threads.choose(small, environ={"OPENBLAS_NUM_THREADS": " "}, n_cores=2).threads == 1
    assert threads.choose(small, environ={"MINIGAN_BLAS_THREADS": "1"}, n_cores=8).source == "MINIGAN_BLAS_THREADS"
    assert threads.choose(big, flag=1, environ={}, n_cores=8).threads == 1


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_bad_count_names_where_it_came_from(bad):
    with pytest.raises(ValueError, match="MINIGAN_BLAS_THREADS must be a positive integer"):
        threads.choose([(256, 128, 128)], environ={"MINIGAN_BLAS_THREADS": bad})
    with pytest.raises(ValueError, match="--threads must be a positive integer"):
        threads.choose([(256, 128, 128)], flag=bad, environ={})


# --- minigan train / resume ------------------------------------------------------------------------------

def _config(out):
    return json.loads((out / "config.json").read_text())


def test_train_records_the_count_and_where_it_came_from(tmp_path, monkeypatch):
    args = ["ring8", "--iterations", "3", "--no-progress", "--no-figures"]
    assert cli.train_main(args + ["--out", str(tmp_path / "a")]) == 0
    rec = _config(tmp_path / "a")["blas_threads"]
    assert rec["threads"] == 1 and rec["from"].startswith("size of the work: largest product 256 x 128")
    assert cli.train_main(args + ["--out", str(tmp_path / "b"), "--threads", "2"]) == 0
    assert _config(tmp_path / "b")["blas_threads"]["threads"] == 2
    assert _config(tmp_path / "b")["blas_threads"]["from"] == "--threads"
    monkeypatch.setenv("MINIGAN_BLAS_THREADS", "2")
    assert cli.train_main(args + ["--out", str(tmp_path / "c")]) == 0
    assert _config(tmp_path / "c")["blas_threads"]["from"] == "MINIGAN_BLAS_THREADS"
    if threads.blas_pool() is not None:
        assert _config(tmp_path / "c")["blas_threads"]["pool"] == [2]


def test_bad_env_is_refused_before_anything_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MINIGAN_BLAS_THREADS", "many")
    out = tmp_path / "run"
    assert cli.train_main(["ring8", "--iterations", "3", "--no-progress", "--out", str(out)]) == 2
    assert "MINIGAN_BLAS_THREADS must be a positive integer" in capsys.readouterr().err
    assert not out.exists()
    assert cli.train_main(["ring8", "--threads", "0", "--out", str(out)]) == 2


def test_pool_has_the_count_while_the_run_trains_and_is_restored_after(tmp_path, monkeypatch):
    before = pool_or_skip()
    want = 2 if before[0] == 1 else 1
    seen = []
    step = GAN.step

    def watched(self):
        seen.append(threads.blas_pool())
        return step(self)
    monkeypatch.setattr(GAN, "step", watched)
    assert cli.train_main(["ring8", "--iterations", "4", "--no-progress", "--no-figures",
                           "--threads", str(want), "--out", str(tmp_path / "run")]) == 0
    assert seen == [(want,)] * 4
    assert threads.blas_pool() == before
    seen.clear()                                  # resume applies it too (here the rule: 1 for ring8)
    assert cli.resume_main([str(tmp_path / "run" / "checkpoint.npz"), "--iterations", "2", "--no-progress",
                            "--no-figures"]) == 0
    assert seen == [(1,)] * 2 and threads.blas_pool() == before
    assert _config(tmp_path / "run")["blas_threads"]["threads"] == 1


def test_resume_says_when_the_count_differs_from_the_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.train_main(["ring8", "--iterations", "2", "--no-progress", "--no-figures", "--threads", "2",
                           "--out", str(out)]) == 0
    assert cli.resume_main([str(out / "checkpoint.npz"), "--iterations", "1", "--no-progress",
                            "--no-figures"]) == 0
    assert "the run was trained on 2 (config.json)" in capsys.readouterr().err
    assert cli.resume_main([str(out / "checkpoint.npz"), "--iterations", "1", "--no-progress",
                            "--no-figures", "--threads", "1"]) == 0
    assert "was trained on" not in capsys.readouterr().err      # the config now records 1


# --- the lessons -----------------------------------------------------------------------------------------

def test_lessons_apply_the_rule(capsys):
    pool_or_skip()
    p = lesson_io.parser("99", "a test", out="99_test", quick="quick")
    assert p.blas_threads.threads == 1 and threads.blas_pool() == (1,)
    assert capsys.readouterr().out == ""
    p = lesson_io.parser("98", "a test", out="98_test", quick="quick", mnist=True)
    assert p.blas_threads.threads == threads.cores()
    assert threads.blas_pool() == (threads.cores(),)
    if threads.cores() > 1:
        assert "MINIGAN_BLAS_THREADS=1 gives that one" in capsys.readouterr().out


def test_lessons_respect_the_pin(monkeypatch, capsys):
    pool_or_skip()
    monkeypatch.setenv("MINIGAN_BLAS_THREADS", "1")
    p = lesson_io.parser("98", "a test", out="98_test", quick="quick", mnist=True)
    assert p.blas_threads == threads.BlasThreads(1, "MINIGAN_BLAS_THREADS", (1,))
    assert capsys.readouterr().out == ""


# --- the numbers -----------------------------------------------------------------------------------------

def _history(tmp_path, name, env_extra, *argv):
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env.update(env_extra, PYTHONPATH=ROOT, MPLBACKEND="Agg", MINIGAN_BACKEND="numpy")
    out = tmp_path / name
    done = subprocess.run([sys.executable, "-m", "minigan", "train", *argv, "--no-progress", "--no-figures",
                           "--out", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return (out / "history.csv").read_text(), _config(out)["blas_threads"]


@pytest.mark.slow
def test_one_thread_run_computes_what_a_process_started_on_one_thread_computes(tmp_path):
    """OPENBLAS_NUM_THREADS=1 (the BLAS started on one thread: how a one-thread run was made
    before ``minigan.threads``) and the pool limited to one thread after NumPy loaded it give the
    same history bit for bit; so do the toy preset's default and that pin."""
    pool_or_skip()
    argv = ("ring8", "--iterations", "40", "--m", "512")
    started_on_one, rec = _history(tmp_path, "a", {"OPENBLAS_NUM_THREADS": "1"}, *argv)
    assert rec["from"] == "OPENBLAS_NUM_THREADS"
    pinned, rec = _history(tmp_path, "b", {"MINIGAN_BLAS_THREADS": "1"}, *argv)
    assert rec == {"threads": 1, "from": "MINIGAN_BLAS_THREADS", "pool": [1]}
    default, rec = _history(tmp_path, "c", {}, "ring8", "--iterations", "40")
    assert rec["threads"] == 1 and rec["pool"] == [1]
    assert pinned == started_on_one
    flagged, _ = _history(tmp_path, "d", {}, "ring8", "--iterations", "40", "--threads", "1")
    assert default == flagged
