"""The CuPy backend on a machine without a GPU: ``tests/fakecupy.py`` keeps CuPy's
rules (no implicit host copies, no host/device mixing, CuPy's Generator) over
NumPy's arithmetic, so CI runs every GPU code path the way a GPU would refuse it.

The real-GPU tests (``test_backend.py``, ``test_checkpoint.py``) still run where
CuPy and a GPU are present; these run everywhere.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fakecupy
from minigan import backend, checkpoint, cli, gradcheck, layers, presets
from test_lessons import LESSON_DIR, LESSONS, MNIST_LESSONS, check_outputs, mnist_available

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def gpu(monkeypatch, restore_backend):
    """The emulated GPU as the active backend (undone after the test)."""
    cp = fakecupy.install(monkeypatch)
    backend.use("cupy")
    yield cp
    backend.use("numpy")


def test_the_emulator_refuses_what_cupy_refuses(gpu):
    x = gpu.asarray(np.arange(6.0).reshape(2, 3))
    assert type(x).__module__ == "cupy" and not isinstance(x, np.ndarray)
    assert backend.array_module(x) is gpu
    for implicit in (lambda: np.asarray(x), lambda: np.array([x, x]), lambda: np.float64(x)):
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
            implicit()
    for mixed in (lambda: x + np.ones(3), lambda: np.ones(3) * x, lambda: gpu.exp(np.ones(3)),
                  lambda: np.exp(x, out=np.empty((2, 3)))):
        with pytest.raises(TypeError, match="Unsupported type"):
            mixed()
    assert isinstance(x.sum(), gpu.ndarray) and float(x.sum()) == 15.0
    assert np.array_equal(x.get(), np.arange(6.0).reshape(2, 3))
    rng = gpu.random.default_rng(0)
    assert not any(hasattr(rng, m) for m in ("permutation", "choice", "shuffle", "normal"))
    assert rng.random((2, 2), dtype=np.float32).dtype == np.float32


def test_a_host_array_into_a_gpu_layer_is_named(gpu):
    lin = layers.Linear(3, 2, rng=0)
    assert isinstance(lin.params["W"], gpu.ndarray)
    with pytest.raises(TypeError, match=r"Linear\.forward expects a cupy array like its parameters, "
                                        r"got a numpy array; move it with minigan\.backend\.to_device"):
        lin.forward(np.ones((4, 3), np.float32))
    assert lin.forward(backend.to_device(np.ones((4, 3), np.float32))).shape == (4, 2)
    backend.use("numpy")
    host = layers.Maxout(3, 2, 2, rng=0)

    class Tagged(np.ndarray):                       # a NumPy subclass is a host array
        pass
    assert host.forward(np.ones((4, 3), np.float32).view(Tagged)).shape == (4, 2)
    with pytest.raises(TypeError, match=r"Maxout\.forward expects a numpy array.*to_host"):
        host.forward(gpu.ones((4, 3), dtype=np.float32))


@pytest.mark.parametrize("preset", ["toy1d", "ring8"])
def test_a_gpu_run_computes_what_the_numpy_run_computes(restore_backend, monkeypatch, preset):
    """The emulator draws NumPy's random stream, so the CuPy code path must give the NumPy
    path's numbers: the same math, only on another device."""
    backend.use("numpy")
    host = presets.build(preset, iterations=15)
    host.trainer.train(15)
    fakecupy.install(monkeypatch)
    backend.use("cupy")
    dev = presets.build(preset, iterations=15)
    dev.trainer.train(15)
    for col in ("V", "D_real", "D_fake", "d_loss", "g_loss"):
        assert np.array_equal(dev.trainer.history.column(col), host.trainer.history.column(col)), col
    for col in ("d_grad_norm", "g_grad_norm"):      # the NumPy path sums its squares in fused chunks
        np.testing.assert_allclose(dev.trainer.history.column(col), host.trainer.history.column(col), rtol=1e-6)
    for k, p in host.trainer.G.params.items():
        assert np.array_equal(backend.to_host(dev.trainer.G.params[k]), p), k


@pytest.mark.parametrize("preset", ["toy1d", "grid25"])
def test_train_checkpoint_resume_on_the_gpu(gpu, tmp_path, preset):
    run = presets.build(preset, iterations=10)
    run.trainer.train(6)
    path = checkpoint.save(tmp_path / "c.npz", run.trainer, preset=preset, options={})
    again, ck = presets.restore_run(path)
    assert again.trainer.iteration == 6 and again.trainer.history == run.trainer.history
    assert ck.notes and all("re-seeded" in n for n in ck.notes)     # CuPy generators keep no state
    for k, p in run.trainer.D.params.items():
        assert isinstance(again.trainer.D.params[k], gpu.ndarray)
        assert np.array_equal(again.trainer.D.params[k].get(), p.get())
    again.trainer.train(3)
    assert again.trainer.iteration == 9 and np.isfinite(again.trainer.history.column("d_loss")).all()


def test_the_emulator_s_generator_cannot_be_copied_as_cupy_s(gpu):
    import copy
    with pytest.raises(TypeError, match="pickle"):
        copy.deepcopy(backend.default_rng(0))


def test_a_run_copies_on_the_gpu(gpu):
    """GAN.copy() branches a run whose generators CuPy cannot copy: the copy gets its own,
    seeded from (seed, iteration, name), so the same copy twice draws the same numbers."""
    run = presets.build("toy1d", iterations=10)
    run.trainer.train(3)
    a, b = run.trainer.copy(), run.trainer.copy()
    assert a.rng is not run.trainer.rng and a.G is not run.trainer.G
    a.train(2)
    b.train(2)
    assert a.history == b.history and run.trainer.iteration == 3
    for k, p in a.G.params.items():
        assert np.array_equal(p.get(), b.G.params[k].get())
        assert p is not run.trainer.G.params[k]


def test_optimizer_state_moves_between_host_and_gpu(gpu):
    """load_state_dict takes a host state into an optimizer on the GPU (CuPy refuses
    ``device[...] = host``) and a device state into one on the host."""
    from minigan import optim
    net = layers.Linear(3, 2, rng=0)
    opt = optim.SGD(net, 0.1, 0.5)
    net.zero_grad()
    net.forward(backend.to_device(np.ones((4, 3), np.float32)))
    net.backward(backend.to_device(np.ones((4, 2), np.float32)))
    opt.step()
    host_state = {k: backend.to_host(v) if hasattr(v, "shape") else v for k, v in opt.state_dict().items()}
    again = optim.SGD(net, 0.1, 0.5)
    again.load_state_dict(host_state)
    for k, v in again.state_dict().items():
        if hasattr(v, "shape"):
            assert isinstance(v, gpu.ndarray) and np.array_equal(v.get(), host_state[k])
    backend.use("numpy")
    host_net = layers.Linear(3, 2, rng=0)
    on_host = optim.SGD(host_net, 0.1, 0.5)
    on_host.load_state_dict(opt.state_dict())             # device arrays into a host optimizer
    for k, v in on_host.state_dict().items():
        if hasattr(v, "shape"):
            assert isinstance(v, np.ndarray) and np.array_equal(v, host_state[k]), k


def test_a_numpy_checkpoint_resumes_on_the_gpu_and_says_what_it_re_seeded(restore_backend, monkeypatch,
                                                                           tmp_path):
    backend.use("numpy")
    run = presets.build("toy1d", iterations=10)
    run.trainer.train(4)
    path = checkpoint.save(tmp_path / "host.npz", run.trainer, preset="toy1d", options={})
    fakecupy.install(monkeypatch)
    backend.use("cupy")
    again, ck = presets.restore_run(path)
    assert again.trainer.iteration == 4 and backend.name() == "cupy"
    assert ck.notes == ["random generator 'trainer' re-seeded from (seed, iteration): its state was a "
                        "PCG64 state, which cannot go into a cupy generator; the run continues "
                        "reproducibly but not bit-identically"]
    for k, p in run.trainer.G.params.items():
        assert np.array_equal(again.trainer.G.params[k].get(), p)
    again.trainer.train(2)
    assert again.trainer.iteration == 6


def test_gradcheck_passes_on_the_gpu(gpu):
    results = gradcheck.all_checks()
    assert results and all(r.passed for r in results), gradcheck.format_results(results)


def test_the_commands_on_the_gpu(gpu, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.train_main(["toy1d", "--backend", "cupy", "--iterations", "20", "--out", str(out),
                           "--no-progress"]) == 0
    assert json.loads((out / "config.json").read_text())["config"]["backend"] == "cupy"
    for f in ("figure1.png", "figure1.gif", "history.png", "history.csv", "checkpoint.npz"):
        assert (out / f).stat().st_size > 0, f
    assert cli.resume_main([str(out / "checkpoint.npz"), "--iterations", "5", "--no-progress",
                            "--no-figures", "--backend", "cupy"]) == 0
    assert checkpoint.read(out / "checkpoint.npz").meta["iteration"] == 25
    assert cli.sample_main([str(out / "checkpoint.npz"), "-n", "50", "--out", str(tmp_path / "s"),
                            "--backend", "cupy"]) == 0
    assert "backend=cupy" in capsys.readouterr().out


def test_the_paper_model_and_table1_on_the_gpu(gpu, tmp_path, capsys):
    """mnist-paper with the epoch order (CuPy's Generator has no permutation: the
    sampler ranks uniform draws instead), then minigan parzen on its checkpoint."""
    if not mnist_available():
        pytest.skip("MNIST files not found (set MINIGAN_DATA to the folder holding mnist/)")
    out = tmp_path / "mnist"
    assert cli.train_main(["mnist-paper", "--backend", "cupy", "--iterations", "4", "--out", str(out),
                           "--set", "sampling=epochs", "--no-progress", "--no-figures", "--g-average", "0.9"]) == 0
    assert cli.resume_main([str(out / "checkpoint.npz"), "--iterations", "2", "--no-progress",
                            "--no-figures", "--backend", "cupy"]) == 0
    capsys.readouterr()
    assert cli.parzen_main([str(out / "checkpoint.npz"), "--n-samples", "200", "--n-valid", "50",
                            "--n-test", "100"]) == 0
    printed = capsys.readouterr().out
    assert "generator    sigma" in printed and "real data    sigma" in printed
    assert cli.parzen_main([str(out / "checkpoint.npz"), "--n-samples", "200", "--n-valid", "50",
                            "--n-test", "100", "--averaged", "--no-ceiling"]) == 0
    assert "averaged G   sigma" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(LESSONS) + sorted(MNIST_LESSONS))
def test_lesson_runs_on_the_gpu(tmp_path, name):
    """Each lesson as an instructor with a GPU runs it (MINIGAN_BACKEND=cupy); 01 and 02
    compute by hand on the host and say that they run on NumPy."""
    if name in MNIST_LESSONS and not mnist_available():
        pytest.skip("MNIST files not found (set MINIGAN_DATA to the folder holding mnist/)")
    out = tmp_path / "out"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MPLBACKEND="Agg",
               MINIGAN_BACKEND="cupy")
    proc = subprocess.run([sys.executable, str(TESTS / "fakecupy.py"), str(LESSON_DIR / name), "--quick",
                           "--out", str(out)], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=300)
    check_outputs(name, proc, out, {**LESSONS, **MNIST_LESSONS}[name])
    if name.startswith(("01", "02")):
        assert "this lesson runs on NumPy" in proc.stdout


def test_the_average_of_g_on_the_gpu(restore_backend, monkeypatch, tmp_path):
    """The average lives on the device beside G, is the NumPy run's average (the emulator
    draws NumPy's stream), and goes through a checkpoint exactly."""
    backend.use("numpy")
    host = presets.build("toy1d", g_average=0.9)
    host.trainer.train(8)
    cp = fakecupy.install(monkeypatch)
    backend.use("cupy")
    dev = presets.build("toy1d", g_average=0.9)
    dev.trainer.train(8)
    for k, v in dev.trainer.g_average.average.items():
        assert isinstance(v, cp.ndarray) and np.array_equal(v.get(), host.trainer.g_average.average[k]), k
    samples = dev.trainer.sample(20, rng=backend.default_rng(1), averaged=True)
    assert isinstance(samples, cp.ndarray)
    assert np.array_equal(samples.get(), host.trainer.sample(20, rng=np.random.default_rng(1), averaged=True))
    path = checkpoint.save(tmp_path / "ck.npz", dev.trainer, preset="toy1d", options=dev.options)
    again, _ = presets.restore_run(path)
    assert again.trainer.g_average.t == 8
    for k, v in again.trainer.g_average.average.items():
        assert isinstance(v, cp.ndarray) and np.array_equal(v.get(), host.trainer.g_average.average[k]), k
    again.trainer.train(2)                                   # re-seeded generators: trains on, on the device
    assert again.trainer.g_average.t == 10 and isinstance(again.trainer.g_average.average["0.W"], cp.ndarray)
