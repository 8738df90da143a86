"""The NumPy/CuPy switch: errors, the environment variable, host/device moves,
seeded generators, and NumPy/CuPy parity where a GPU exists."""
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from minigan import backend, layers, losses
from minigan.backend import BackendError


def test_unknown_backend_is_a_value_error(restore_backend):
    for bad in ("nonsense", "torch", "", 3, None):
        with pytest.raises(ValueError, match=r"backend must be one of \('numpy', 'cupy'\)"):
            backend.use(bad)


def test_use_numpy_case_insensitive(restore_backend):
    backend.use("NumPy")
    assert backend.name() == "numpy" and backend.xp is np


def _no_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)      # "import cupy" now raises ImportError


def _fake_cupy(monkeypatch, get_count):
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=get_count))
    monkeypatch.setitem(sys.modules, "cupy", fake)


def test_cupy_missing_names_the_gpu_extra_and_a_cuda_gpu(restore_backend, monkeypatch):
    backend.use("numpy")
    _no_cupy(monkeypatch)
    with pytest.raises(BackendError) as err:
        backend.use("cupy")
    msg = str(err.value)
    assert "'gpu' extra" in msg and "minigan[gpu]" in msg and "CUDA GPU" in msg
    assert "not installed" in msg
    assert backend.name() == "numpy"                    # a failed switch changes nothing
    assert backend.cupy_available() is False


def test_cupy_without_a_visible_gpu(restore_backend, monkeypatch):
    _fake_cupy(monkeypatch, lambda: 0)
    with pytest.raises(BackendError, match=r"no CUDA GPU is visible.*'gpu' extra"):
        backend.use("cupy")

    def broken():
        raise RuntimeError("cudaErrorNoDevice")
    _fake_cupy(monkeypatch, broken)
    with pytest.raises(BackendError, match=r"no CUDA GPU is usable \(cudaErrorNoDevice\).*CUDA GPU"):
        backend.use("cupy")
    assert backend.cupy_available() is False


def test_env_variable_chooses_the_backend_at_first_use(restore_backend, monkeypatch):
    backend._state.update(name=None, xp=None)           # as in a fresh process
    monkeypatch.setenv("MINIGAN_BACKEND", "numpy")
    assert backend.name() == "numpy"
    backend._state.update(name=None, xp=None)
    monkeypatch.setenv("MINIGAN_BACKEND", "nonsense")
    with pytest.raises(ValueError, match="nonsense"):
        backend.xp
    backend._state.update(name=None, xp=None)
    monkeypatch.delenv("MINIGAN_BACKEND")
    assert backend.name() == "numpy"                    # the default


def _run(code, **env):
    full = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=60)


def test_env_variable_in_a_fresh_process():
    r = _run("from minigan import backend; print(backend.name())", MINIGAN_BACKEND="numpy")
    assert r.returncode == 0 and r.stdout.strip() == "numpy"
    r = _run("from minigan import backend; backend.xp", MINIGAN_BACKEND="bogus")
    assert r.returncode != 0 and "backend must be one of" in r.stderr and "bogus" in r.stderr
    if not backend.cupy_available():
        r = _run("from minigan import layers; layers.Linear(2, 2)", MINIGAN_BACKEND="cupy")
        assert r.returncode != 0 and "BackendError" in r.stderr and "'gpu' extra" in r.stderr


def test_to_host_and_to_device(restore_backend):
    backend.use("numpy")
    a = np.arange(6.0).reshape(2, 3)
    assert backend.to_host(a) is a
    h = backend.to_host([1.0, 2.0])
    assert isinstance(h, np.ndarray) and h.tolist() == [1.0, 2.0]
    d = backend.to_device(a, dtype=np.float32)
    assert isinstance(d, np.ndarray) and d.dtype == np.float32 and np.array_equal(d, a)
    assert backend.to_device(a).dtype == np.float64
    assert backend.array_module(a) is np and backend.array_module(3.0) is np
    assert backend.DEFAULT_DTYPE == np.float32


def test_seeded_generators_are_reproducible(restore_backend):
    backend.use("numpy")
    a = backend.default_rng(42).random(5)
    b = backend.default_rng(42).random(5)
    c = backend.default_rng(43).random(5)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # layer initialisers: one seed, one set of weights
    assert np.array_equal(layers.Linear(4, 3, rng=5).params["W"], layers.Linear(4, 3, rng=5).params["W"])
    d1, d2 = layers.Dropout(0.5, rng=9), layers.Dropout(0.5, rng=9)
    x = np.ones((10, 10), np.float32)
    assert np.array_equal(d1.forward(x), d2.forward(x))


# ----------------------------------------------------------------------------- NumPy / CuPy parity
def _parity_nets(rng):
    return (layers.Sequential(layers.Linear(6, 8, rng=rng), layers.ReLU(), layers.Linear(8, 8, rng=rng),
                              layers.LeakyReLU(0.2), layers.Linear(8, 5, rng=rng), layers.Tanh(),
                              layers.Linear(5, 6, rng=rng), layers.Sigmoid()),
            layers.Sequential(layers.Dropout(0.8, scale=1.25), layers.Maxout(6, 5, 3, rng=rng),
                              layers.Dropout(0.5, scale=2.0), layers.Maxout(5, 4, 2, rng=rng),
                              layers.Linear(4, 1, rng=rng)))


def _run_gan_pass(G, D, z, x, masks, xp):
    """Forward/backward the D step and the G step; returns host copies of every output and grad."""
    drops = [l for l in D.layers if isinstance(l, layers.Dropout)]
    for d, m in zip(drops, masks):
        d.fixed_mask = xp.asarray(m)
    G.zero_grad()
    D.zero_grad()
    fake = G.forward(z)
    ar, af = D.forward(x), D.forward(fake)
    d_loss, gr, gf = losses.discriminator_loss(ar, af, scale=0.5)
    D.backward(gf)
    dx = D.backward(gr)
    out = {"fake": fake, "a_real": ar, "a_fake": af, "dx_real": dx, "d_loss": d_loss}
    out.update({f"D.{k}": g.copy() for k, g in D.grads.items()})
    g_loss, ga = losses.generator_loss_nonsaturating(D.forward(fake))    # G's cache is still pending
    D.requires_grad = False
    dz = G.backward(D.backward(ga))
    D.requires_grad = True
    out.update({"dz": dz, "g_loss": g_loss})
    out.update({f"G.{k}": g.copy() for k, g in G.grads.items()})
    return {k: backend.to_host(v) for k, v in out.items()}


@pytest.mark.skipif(not backend.cupy_available(),
                    reason="NumPy/CuPy parity needs CuPy (the 'gpu' extra) and a visible CUDA GPU")
def test_numpy_cupy_parity(restore_backend):
    import cupy
    rng = np.random.default_rng(0)
    z = rng.uniform(-1, 1, size=(7, 6)).astype(np.float32)
    x = rng.uniform(0, 1, size=(7, 6)).astype(np.float32)
    masks = [rng.random((7, 6)) < 0.8, rng.random((7, 5)) < 0.5]

    backend.use("numpy")
    G, D = _parity_nets(np.random.default_rng(1))
    host = _run_gan_pass(G, D, z, x, masks, np)

    backend.use("cupy")
    Gc, Dc = _parity_nets(np.random.default_rng(1))     # same seed: same weights (drawn on the host)
    for a, b in ((G, Gc), (D, Dc)):
        for k in a.params:
            assert np.array_equal(backend.to_host(b.params[k]), a.params[k])
            assert isinstance(b.params[k], cupy.ndarray)
    dev = _run_gan_pass(Gc, Dc, cupy.asarray(z), cupy.asarray(x), masks, cupy)

    assert host.keys() == dev.keys()
    for k in host:
        assert dev[k].dtype == np.float32, k
        scale = max(1.0, float(np.abs(host[k]).max()))
        assert np.abs(dev[k] - host[k]).max() <= 1e-5 * scale, k


def test_a_dropout_on_cupy_refuses_a_numpy_generator_when_built(restore_backend, monkeypatch):
    """Its masks would be host arrays, refused only at the first forward: the layer says so
    when built, and a seed or a generator of the backend is taken."""
    import fakecupy
    from minigan.layers import Dropout
    cp = fakecupy.install(monkeypatch)
    restore_backend.use("cupy")
    with pytest.raises(TypeError, match=r"Dropout: rng is a NumPy generator but the backend is CuPy.*integer seed"):
        Dropout(0.5, rng=np.random.default_rng(0))
    for rng in (3, None, backend.default_rng(3)):
        layer = Dropout(0.5, rng=rng)
        assert isinstance(layer.forward(cp.ones((4, 3), dtype=np.float32)), cp.ndarray)
    restore_backend.use("numpy")
    given = np.random.default_rng(0)
    assert Dropout(0.5, rng=given).rng is given                  # on NumPy a NumPy generator is the one
