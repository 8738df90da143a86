"""Checkpoints: exact resume in a new process, atomic writes, clear errors."""
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from minigan import backend, checkpoint, data, fast, models, optim, presets
from minigan.checkpoint import CheckpointError
from minigan.train import GAN, History
from minigan.layers import Dropout, Linear, ReLU, Sequential, Tanh

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A builder both this process and a fresh interpreter import: D has two Dropout
# layers (their generators must be restored), G uses Adam, D momentum SGD.
BUILDER = '''
import numpy as np
from minigan import data, models, optim
from minigan.train import GAN
from minigan.layers import Dropout, Linear, Maxout, Sequential

def build(order="sequential", k=2):
    G = models.mlp([2, 16, 2], rng=0)
    D = Sequential(Dropout(0.8, rng=11), Maxout(2, 8, 3, rng=np.random.default_rng(1)),
                   Dropout(0.5, rng=12), Linear(8, 1, rng=2))
    return GAN(G, D, data.ring8(), data.uniform_noise(2),
               d_optimizer=optim.SGD(D, 0.05, 0.5, lr_decay=1.001),
               g_optimizer=optim.Adam(G, 1e-3), k=k, m=32, order=order, seed=7)
'''


dev, host = backend.to_device, backend.to_host      # inputs onto the active backend, results back for asserts


@pytest.fixture
def builder(tmp_path, monkeypatch):
    (tmp_path / "ckpt_builder.py").write_text(BUILDER)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    import ckpt_builder
    importlib.reload(ckpt_builder)
    return ckpt_builder


def params(gan):
    """Host copies of G's and D's parameters, by "G/<name>" and "D/<name>"."""
    return {f"{who}/{k}": host(v).copy() for who, net in (("G", gan.G), ("D", gan.D))
            for k, v in net.params.items()}


def small_gan(d_sizes=(1, 8, 1), seed=0):
    G = models.mlp([1, 8, 1], rng=0)
    D = models.mlp(list(d_sizes), rng=1)
    return GAN(G, D, data.gaussian_1d(), data.uniform_noise(1),
               d_optimizer=optim.SGD(D, 0.05, 0.5), g_optimizer=optim.SGD(G, 0.05, 0.5),
               m=16, seed=seed)


# ---------------------------------------------------------------------- exact resume
@pytest.mark.parametrize("order,k", [("sequential", 2), ("simultaneous", 1)])
def test_resume_in_a_new_process_is_bit_identical(builder, tmp_path, order, k, restore_backend):
    """On NumPy whatever the run's backend: a bit-identical resume needs the generators' states,
    which CuPy's generators do not expose (a CuPy resume re-seeds them)."""
    restore_backend.use("numpy")
    n = 12
    whole = builder.build(order, k)
    whole.train(n)

    half = builder.build(order, k)
    half.train(n // 2)
    path = tmp_path / "half.npz"
    checkpoint.save(path, half)
    out = tmp_path / "resumed.npz"
    script = textwrap.dedent(f'''
        import sys, numpy as np
        sys.path.insert(0, {str(tmp_path)!r})
        from minigan import checkpoint
        import ckpt_builder
        gan = ckpt_builder.build({order!r}, {k})
        ck = checkpoint.load({str(path)!r}, gan)
        assert ck.notes == [], ck.notes
        assert gan.iteration == {n // 2}
        gan.train({n - n // 2})
        np.savez({str(out)!r}, **{{f"{{w}}/{{k}}": v for w, net in (("G", gan.G), ("D", gan.D))
                                   for k, v in net.params.items()}},
                 history=np.array([[r[f] for f in r] for r in gan.history]))
    ''')
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,   # on NumPy, as here
                          cwd=REPO, timeout=120, env={**os.environ, "MINIGAN_BACKEND": "numpy"})
    assert proc.returncode == 0, proc.stderr
    with np.load(out) as z:
        resumed = {k: z[k] for k in z.files}
    want = params(whole)
    for key, value in want.items():
        assert np.array_equal(resumed[key], value), f"{key} differs after resume"
    assert np.array_equal(resumed["history"],
                          np.array([[r[f] for f in r] for r in whole.history]))


def test_roundtrip_restores_everything(builder, tmp_path, restore_backend):
    """On NumPy whatever the run's backend: it compares the generators' states, which CuPy's
    generators do not expose."""
    restore_backend.use("numpy")
    a = builder.build()
    a.train(5)
    path = checkpoint.save(tmp_path / "c.npz", a, preset=None, options={"note": 1})
    b = builder.build()
    checkpoint.load(path, b)
    assert b.iteration == 5 and b.history == a.history
    assert all(np.array_equal(v, params(b)[k]) for k, v in params(a).items())
    for oa, ob in ((a.d_opt, b.d_opt), (a.g_opt, b.g_opt)):
        sa, sb = oa.state_dict(), ob.state_dict()
        assert sa.keys() == sb.keys() and sa["t"] == sb["t"]
        assert all(np.array_equal(sa[k], sb[k]) for k in sa if k != "t")
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    for la, lb in zip(a.D.layers, b.D.layers):
        if isinstance(la, Dropout):
            assert la.rng.bit_generator.state == lb.rng.bit_generator.state


def test_file_layout_needs_no_pickle(builder, tmp_path, restore_backend):
    """On NumPy whatever the run's backend: it reads the stored PCG64 states of the generators (a
    CuPy run stores null for them)."""
    restore_backend.use("numpy")
    gan = builder.build()
    gan.train(2)
    path = checkpoint.save(tmp_path / "c.npz", gan, preset="p", options={"seed": 7})
    with np.load(path, allow_pickle=False) as z:
        files = {k: z[k] for k in z.files}
    assert all(v.dtype != object for v in files.values())
    assert str(files["format"]) == checkpoint.FORMAT and int(files["version"]) == checkpoint.VERSION
    for key in ("rng/trainer", "rng/D/0", "rng/D/2"):
        assert files[key].dtype.kind == "U"
        assert json.loads(str(files[key]))["bit_generator"] == "PCG64"
    meta = json.loads(str(files["meta"]))
    assert meta["iteration"] == 2 and meta["preset"] == "p" and meta["options"] == {"seed": 7}
    assert meta["config"]["order"] == "sequential" and meta["config"]["k"] == 2
    assert ["1.W", [2, 24], "float32"] in meta["architecture"]["D"]
    assert files["history"].shape == (2, 8)


def test_uninspectable_generator_is_reseeded_with_a_note(builder, tmp_path, restore_backend):
    """CuPy's generators have no readable state: a checkpoint stores null for
    them and load re-seeds from (seed, iteration, where), saying so. On NumPy whatever the run's
    backend: it writes CuPy's null into a NumPy run's file and compares the generators' states,
    which only NumPy's expose."""
    restore_backend.use("numpy")
    gan = builder.build()
    gan.train(2)
    path = checkpoint.save(tmp_path / "c.npz", gan)
    with np.load(path) as z:
        files = {k: z[k] for k in z.files}
    files["rng/D/2"] = np.array("null")
    np.savez(tmp_path / "null.npz", **files)
    b, c = builder.build(), builder.build()
    ck = checkpoint.load(tmp_path / "null.npz", b)
    checkpoint.load(tmp_path / "null.npz", c)
    assert len(ck.notes) == 1 and "'D/2'" in ck.notes[0] and "re-seeded" in ck.notes[0]
    assert b.D.layers[2].rng.bit_generator.state == c.D.layers[2].rng.bit_generator.state
    assert b.rng.bit_generator.state == gan.rng.bit_generator.state   # the others are exact


# ---------------------------------------------------------------------- atomic writes
def test_crash_mid_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    gan = small_gan()
    gan.train(2)
    path = tmp_path / "checkpoint.npz"
    checkpoint.save(path, gan)
    before = path.read_bytes()
    gan.train(2)

    def crash(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full (simulated)")
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(CheckpointError, match=r"cannot save checkpoint .*checkpoint.npz: disk full \(simulated\)"):
        checkpoint.save(path, gan)
    assert path.read_bytes() == before, "the old checkpoint was touched"
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz"], "a temporary file was left behind"
    assert checkpoint.read(path).iteration == 2


def test_crash_before_rename_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    gan = small_gan()
    path = tmp_path / "checkpoint.npz"
    checkpoint.save(path, gan)
    before = path.read_bytes()
    gan.train(1)
    monkeypatch.setattr(os, "replace",
                        lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, gan)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["checkpoint.npz"]


# ---------------------------------------------------------------------- clear errors
@pytest.fixture
def saved(tmp_path):
    gan = small_gan()
    gan.train(3)
    return checkpoint.save(tmp_path / "good.npz", gan), gan


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        checkpoint.read(tmp_path / "nope.npz")


@pytest.mark.parametrize("damage", ["truncate", "flip", "text", "empty", "npy", "pickle"])
def test_damaged_files_raise_checkpoint_error(saved, tmp_path, damage):
    path, _ = saved
    raw = open(path, "rb").read()
    bad = tmp_path / "bad.npz"
    if damage == "truncate":
        bad.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":                    # corrupt the bytes of the first stored array
        with zipfile.ZipFile(path) as zf:
            info = zf.infolist()[2]
        start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 100
        b = bytearray(raw)
        b[start:start + 16] = bytes(x ^ 0xFF for x in b[start:start + 16])
        bad.write_bytes(bytes(b))
    elif damage == "text":
        bad.write_text("this is not a checkpoint\n")
    elif damage == "empty":
        bad.write_bytes(b"")
    elif damage == "npy":
        np.save(bad, np.zeros(3))
        bad = tmp_path / "bad.npz.npy"
    else:
        np.savez(bad, format=np.array(checkpoint.FORMAT), meta=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CheckpointError) as info:
        checkpoint.read(bad)
    msg = str(info.value)
    assert str(bad) in msg and "\n" not in msg
    assert "corrupted" in msg or "lacks" in msg or "is not an .npz checkpoint" in msg
    assert "allow_pickle" not in msg and "unsafe" not in msg        # never NumPy's advice to load it unsafely


@pytest.mark.parametrize("key", ["D/0.W", "meta", "g_opt/velocity/0.b", "rng/trainer", "history"])
def test_missing_key_names_it(saved, tmp_path, key):
    path, _ = saved
    with np.load(path) as z:
        files = {k: z[k] for k in z.files if k != key}
    np.savez(tmp_path / "missing.npz", **files)
    with pytest.raises(CheckpointError, match=f"'{key}'"):
        checkpoint.load(tmp_path / "missing.npz", small_gan())


@pytest.mark.parametrize("fields, table, match", [
    (["iteration", "V"], np.zeros((2, 2)), r"records the history fields \('iteration', 'V'\)"),
    (None, np.zeros((2, 5)), r"unreadable history .*shape \(n, 8\)"),
])
def test_history_that_does_not_fit_is_refused(saved, tmp_path, fields, table, match):
    path, _ = saved
    with np.load(path) as z:
        files = {k: z[k] for k in z.files}
    files["history"] = table
    if fields is not None:
        files["history_fields"] = np.array(fields)
    np.savez(tmp_path / "odd.npz", **files)
    other = small_gan()
    with pytest.raises(CheckpointError, match=match):
        checkpoint.load(tmp_path / "odd.npz", other)
    assert other.iteration == 0 and len(other.history) == 0


def test_other_architecture_names_the_parameter(saved):
    path, _ = saved
    other = small_gan(d_sizes=(1, 4, 1))
    before = params(other)
    with pytest.raises(CheckpointError, match=r"another architecture.*D parameter '0.W' has shape \(1, 8\)"):
        checkpoint.load(path, other)
    assert all(np.array_equal(v, params(other)[k]) for k, v in before.items()), \
        "a failed load must leave the model as it was"
    deeper = small_gan(d_sizes=(1, 8, 8, 1))
    with pytest.raises(CheckpointError, match=r"'2.W' has shape \(8, 1\) in the checkpoint, \(8, 8\)"):
        checkpoint.load(path, deeper)
    D = Sequential(Linear(1, 8, rng=0), ReLU(), Linear(8, 1, rng=1), Tanh(), Linear(1, 1, rng=2))
    G = models.mlp([1, 8, 1], rng=0)
    extra = GAN(G, D, data.gaussian_1d(), data.uniform_noise(1), d_optimizer=optim.SGD(D, 0.1),
                g_optimizer=optim.SGD(G, 0.1), m=16)
    with pytest.raises(CheckpointError, match="this D has parameter '4.W'.*no such parameter"):
        checkpoint.load(path, extra)


def test_other_settings_are_refused_unless_not_strict(saved):
    path, gan = saved
    other = small_gan()
    other.order, other.k = gan.order, 2
    with pytest.raises(CheckpointError, match="k=1"):
        checkpoint.load(path, other)
    checkpoint.load(path, other, strict=False)
    assert other.iteration == 3


def test_newer_version_is_refused(saved, tmp_path):
    path, _ = saved
    with np.load(path) as z:
        files = {k: z[k] for k in z.files}
    files["version"] = np.array(checkpoint.VERSION + 1)
    np.savez(tmp_path / "new.npz", **files)
    with pytest.raises(CheckpointError, match="version"):
        checkpoint.read(tmp_path / "new.npz")


def test_restore_run_from_a_preset(tmp_path, restore_backend):
    """On NumPy whatever the run's backend: a bit-identical resume needs the generators' states,
    which CuPy's generators do not expose (a CuPy resume re-seeds them)."""
    restore_backend.use("numpy")
    run = presets.build("toy1d", seed=4, iterations=10)
    run.trainer.train(3)
    path = checkpoint.save(tmp_path / "c.npz", run.trainer, preset="toy1d", options={"seed": 4})
    again, ck = presets.restore_run(path)
    assert ck.preset == "toy1d" and again.trainer.seed == 4 and again.trainer.iteration == 3
    run.trainer.train(2)
    again.trainer.train(2)
    assert all(np.array_equal(v, params(again.trainer)[k]) for k, v in params(run.trainer).items())


@pytest.mark.skipif(not backend.cupy_available(), reason="CuPy or a CUDA GPU is not available here")
def test_cupy_checkpoint_roundtrip(tmp_path):
    backend.use("cupy")
    try:
        gan = small_gan()
        gan.train(3)
        path = checkpoint.save(tmp_path / "c.npz", gan)
        other = small_gan()
        ck = checkpoint.load(path, other)
        assert other.iteration == 3
        for k, v in gan.G.params.items():
            assert np.array_equal(backend.to_host(v), backend.to_host(other.G.params[k]))
        assert ck.notes and all("re-seeded" in n for n in ck.notes)
    finally:
        backend.use("numpy")


# ---------------------------------------------------------------------- a data sampler with state
def epoch_gan(order="epochs"):
    G = models.mlp([2, 8, 2], rng=0)
    D = models.mlp([2, 8, 1], rng=1)
    rows = np.random.default_rng(4).normal(size=(30, 2)).astype(np.float32)
    return GAN(G, D, data.MNISTSampler(rows, order=order), data.uniform_noise(2),
               d_optimizer=optim.SGD(D, 0.05, 0.5), g_optimizer=optim.SGD(G, 0.05, 0.5), m=8, seed=3)


def test_resume_mid_epoch_with_a_permutation_sampler_is_exact(tmp_path, restore_backend):
    """On NumPy whatever the run's backend: a bit-identical resume needs the generators' states,
    which CuPy's generators do not expose (a CuPy resume re-seeds them)."""
    restore_backend.use("numpy")
    whole = epoch_gan()
    whole.train(11)                  # 30 rows, m = 8: 3 minibatches a pass, so 11 spans 4 passes
    half = epoch_gan()
    half.train(5)                    # stop inside the second pass
    path = checkpoint.save(tmp_path / "e.npz", half)
    assert checkpoint.read(path).meta["samplers"] == {"data": ["perm", "pos"]}
    resumed = epoch_gan()
    checkpoint.load(path, resumed)
    resumed.train(6)
    assert all(np.array_equal(v, params(resumed)[k]) for k, v in params(whole).items())
    assert resumed.history == whole.history


def test_checkpoint_without_sampler_state_names_the_sampler(tmp_path):
    old = epoch_gan("random")        # i.i.d. order: nothing to save
    old.train(2)
    path = checkpoint.save(tmp_path / "r.npz", old)
    assert "data" not in checkpoint.read(path).meta["samplers"]
    checkpoint.load(path, epoch_gan("random"))
    newer = checkpoint.save(tmp_path / "e.npz", epoch_gan("epochs"))
    with pytest.raises(CheckpointError, match=r"holds the state of a data sampler.*order='random'\) keeps none"):
        checkpoint.load(newer, epoch_gan("random"))
    with pytest.raises(CheckpointError, match=r"no state for the data sampler MNISTSampler\(30 x 2.*"
                                              r"order='epochs'\).*sampling='random'"):
        checkpoint.load(path, epoch_gan("epochs"))


# ---------------------------------------------------------------------- mnist-paper: options a checkpoint implies


def test_mnist_paper_noise_option(small_mnist):
    uniform = presets.build("mnist-paper", data_dir=small_mnist)
    gaussian = presets.build("mnist-paper", data_dir=small_mnist, noise="gaussian")
    assert isinstance(uniform.trainer.noise_sampler, data.uniform_noise)
    assert uniform.trainer.noise_sampler.high == pytest.approx(3 ** 0.5)
    assert isinstance(gaussian.trainer.noise_sampler, data.gaussian_noise)
    z = host(gaussian.trainer.noise_sampler(4000, backend.default_rng(0)))
    assert z.shape == (4000, 100) and z.min() < -3.2 and z.max() > 3.2    # beyond U(-sqrt 3, sqrt 3)
    with pytest.raises(ValueError, match=r"^option noise must be one of 'uniform', 'gaussian', "
                                         r"got 'normal'"):
        presets.build("mnist-paper", data_dir=small_mnist, noise="normal")


def test_checkpoint_names_its_noise_prior(tmp_path, small_mnist):
    run = presets.build("mnist-paper", data_dir=small_mnist, noise="gaussian")
    path = checkpoint.save(tmp_path / "g.npz", run.trainer, preset="mnist-paper",
                           options={"data_dir": small_mnist, "noise": "gaussian"})
    assert checkpoint.read(path).meta["noise_prior"] == "gaussian_noise(100)"
    with pytest.raises(CheckpointError, match=r"noise prior gaussian_noise\(100\), this run has uniform_noise"):
        checkpoint.load(path, presets.build("mnist-paper", data_dir=small_mnist).trainer)
    checkpoint.load(path, presets.build("mnist-paper", data_dir=small_mnist, noise="gaussian").trainer)
    # written before the prior was stored: nothing to compare, it loads
    with np.load(path) as z:
        files = {k: z[k] for k in z.files}
    meta = json.loads(str(files["meta"]))
    del meta["noise_prior"]
    files["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "old.npz", **files)
    checkpoint.load(tmp_path / "old.npz", presets.build("mnist-paper", data_dir=small_mnist).trainer)


@pytest.mark.parametrize("sampling", ["random", "epochs"])
def test_restore_run_infers_sampling_of_an_mnist_paper_checkpoint(tmp_path, small_mnist, sampling,
                                                                  restore_backend):
    """Checkpoints written before the `sampling` option (or by `minigan train`, which stores only
    the options given) do not name it; the data sampler's stored state shows which it was. On NumPy
    whatever the run's backend: a bit-identical resume needs the generators' states, which CuPy's
    generators do not expose (a CuPy resume re-seeds them)."""
    restore_backend.use("numpy")
    run = presets.build("mnist-paper", data_dir=small_mnist, sampling=sampling, seed=2)
    run.trainer.train(3)                                # 200 images, m = 100: inside the second pass
    path = checkpoint.save(tmp_path / "c.npz", run.trainer, preset="mnist-paper",
                           options={"data_dir": small_mnist, "seed": 2})
    ck = checkpoint.read(path)
    assert "sampling" not in ck.options and presets.run_options(ck)["sampling"] == sampling
    again, _ = presets.restore_run(path)
    assert again.trainer.data_sampler.order == sampling and again.trainer.iteration == 3
    run.trainer.train(2)
    again.trainer.train(2)
    assert all(np.array_equal(v, params(again.trainer)[k]) for k, v in params(run.trainer).items())
    # an option the checkpoint does store is taken as stored
    stored = checkpoint.save(tmp_path / "s.npz", run.trainer, preset="mnist-paper",
                             options={"data_dir": small_mnist, "seed": 2, "sampling": sampling})
    assert presets.run_options(checkpoint.read(stored))["sampling"] == sampling


def test_a_noise_function_without_a_stable_repr_is_not_compared(tmp_path):
    def build():
        G = models.mlp([2, 8, 2], rng=0)
        D = models.mlp([2, 8, 1], rng=1)
        return GAN(G, D, data.ring8(), lambda m, rng: rng.standard_normal((m, 2), dtype=np.float32),
                   d_optimizer=optim.SGD(D, 0.05), g_optimizer=optim.SGD(G, 0.05), m=8, seed=3)
    gan = build()
    gan.train(2)
    path = checkpoint.save(tmp_path / "f.npz", gan)
    assert checkpoint.read(path).meta["noise_prior"] is None       # "<function ... at 0x...>" is not kept
    again = build()                                                 # another lambda, another address
    checkpoint.load(path, again)
    assert again.iteration == 2


def test_build_refuses_an_option_the_preset_does_not_take(small_mnist):
    with pytest.raises(ValueError, match=r"preset 'mnist-paper' has no option 'nosie'; it takes seed, .*noise"):
        presets.build("mnist-paper", data_dir=small_mnist, nosie="gaussian")
    with pytest.raises(ValueError, match=r"preset 'ring8' has no option 'momentum'; it takes .*beta1"):
        presets.build("ring8", momentum=0.9)              # ring8 trains with Adam
    assert presets.build("toy1d", momentum=0.9, data_dir="ignored", iterations=5).iterations == 5
    from minigan.autoencoder_presets import AUTOENCODER_COMMON
    from minigan.cli.train import FLAG_OF
    for name in presets.PRESETS:     # every preset takes what `minigan train` passes it, each with a flag
        common = set(presets.COMMON[name])
        assert common in (set(presets.COMMON_OPTIONS), set(AUTOENCODER_COMMON)), name
        assert common <= set(presets.OPTIONS[name]) and common <= set(FLAG_OF), name


def test_run_options_hold_every_option_the_preset_used(small_mnist, tmp_path, monkeypatch):
    """A checkpoint stores the defaults a run used, so that a later change of a
    default does not change the run rebuilt from it."""
    run = presets.build("toy1d", seed=3)
    assert run.options == {"seed": 3, "d_lr": 0.1, "g_lr": 0.02, "momentum": 0.5, "k": 1, "g_steps": 1, "m": 256,
                           "g_loss": "nonsaturating", "order": "sequential", "iterations": 6000,
                           "real_label": 1.0, "fake_label": 0.0, "feature_matching": None,
                           "historical_averaging": None, "minibatch_discrimination": None, "batch_norm": 0,
                           "virtual_batch_norm": None}
    for name, given in (("toy1d", {}), ("ring8", {"k": 2}), ("grid25", {"m": 64}),
                        ("mnist-paper", {"data_dir": small_mnist, "noise": "gaussian"})):
        run = presets.build(name, **given)
        assert given.items() <= run.options.items()
        assert {"seed", "k", "g_steps", "m", "d_lr", "g_lr", "g_loss", "order"} <= set(run.options), name
        assert presets.build(name, **run.options).options == run.options, name   # a fixed point
    mnist = presets.build("mnist-paper", data_dir=small_mnist)
    assert (mnist.options["sampling"], mnist.options["noise"], mnist.options["order"]) == \
        ("epochs", "uniform", "simultaneous")

    old = presets.build("toy1d", seed=3, iterations=4)
    old.trainer.train(2)
    path = checkpoint.save(tmp_path / "defaults.npz", old.trainer, preset="toy1d",
                           options=old.options)
    real = presets.PRESETS["toy1d"]                       # the default momentum changes later ...

    def toy1d_later(opts):
        return real({**opts, "momentum": presets._opt(opts, "momentum", 0.9)})
    monkeypatch.setitem(presets.PRESETS, "toy1d", toy1d_later)
    assert presets.build("toy1d").trainer.d_opt.momentum0 == 0.9
    run, _ = presets.restore_run(path)                 # ... the saved run keeps the one it used
    assert run.trainer.d_opt.momentum0 == 0.5 and run.trainer.iteration == 2


def test_a_run_saved_before_its_first_iteration_resumes_and_trains(tmp_path, restore_backend):
    """On NumPy whatever the run's backend: a bit-identical resume needs the generators' states,
    which CuPy's generators do not expose (a CuPy resume re-seeds them)."""
    restore_backend.use("numpy")
    run = presets.build("toy1d", iterations=5)
    path = checkpoint.save(tmp_path / "c.npz", run.trainer, preset="toy1d", options=run.options)
    again, _ = presets.restore_run(path)
    again.trainer.train(2)
    run.trainer.train(2)
    assert again.trainer.history == run.trainer.history and len(again.trainer.history) == 2


def test_a_plain_list_history_is_saved_by_its_fields(tmp_path):
    gan = small_gan()
    gan.train(2)
    gan.history = [dict(row, note=1.0) for row in gan.history]     # a user's own list, an extra key
    path = checkpoint.save(tmp_path / "c.npz", gan)
    assert History.from_state(checkpoint.read(path).state()) == [
        {k: v for k, v in r.items() if k != "note"} for r in gan.history]


def test_a_preset_built_on_another_keeps_its_options(monkeypatch):
    def wrapper(opts):
        return presets.build("toy1d", seed=presets._opt(opts, "seed", 2))
    monkeypatch.setitem(presets.PRESETS, "toy1d-wrapped", wrapper)
    options = presets.build("toy1d-wrapped").options
    assert options["seed"] == 2 and options["momentum"] == 0.5 and options["g_lr"] == 0.02


def test_a_damaged_header_is_a_checkpoint_error(saved, tmp_path):
    """The file's own header is checked by read; the GAN's part of it by load (before anything changes)."""
    path, _ = saved
    with np.load(path) as z:
        files = {k: z[k] for k in z.files}
    meta = json.loads(str(files["meta"]))
    for change, what, when in ((lambda m: m["architecture"].pop("D"), "damaged state .*architecture of D", "load"),
                               (lambda m: m["optimizers"]["g_opt"].pop("t"), "damaged state .*optimizer g_opt",
                                "load"),
                               (lambda m: m.update(iteration="12"), "damaged header .*iteration '12'", "read")):
        m = json.loads(json.dumps(meta))
        change(m)
        np.savez(tmp_path / "bad.npz", **{**files, "meta": np.array(json.dumps(m))})
        checkpoint.read(tmp_path / "bad.npz") if when == "load" else None
        gan = small_gan()
        with pytest.raises(CheckpointError, match=what) as info:
            checkpoint.load(tmp_path / "bad.npz", gan)
        assert str(tmp_path / "bad.npz") in str(info.value) and "\n" not in str(info.value)
        assert gan.iteration == 0


def test_a_state_that_does_not_fit_fails_before_the_model_changes(saved, tmp_path, restore_backend):
    """On NumPy whatever the run's backend: a stored PCG64 state is read only where it can be
    applied (a CuPy run re-seeds its generators with a note instead)."""
    restore_backend.use("numpy")
    path, _ = saved
    with np.load(path) as z:
        files = {k: z[k] for k in z.files}
    files["rng/trainer"] = np.array(json.dumps({"bit_generator": "PCG64", "state": 5}))
    np.savez(tmp_path / "bad_rng.npz", **files)
    gan = small_gan()
    before = params(gan)
    with pytest.raises(CheckpointError, match="unusable state of the random generator 'trainer'"):
        checkpoint.load(tmp_path / "bad_rng.npz", gan)
    assert gan.iteration == 0 and all(np.array_equal(v, params(gan)[k]) for k, v in before.items())


def test_a_data_sampler_of_another_size_fails_before_the_model_changes(small_mnist, tmp_path):
    from minigan.data import mnist
    run = presets.build("mnist-paper", data_dir=small_mnist, seed=1)
    run.trainer.train(2)
    path = checkpoint.save(tmp_path / "c.npz", run.trainer, preset="mnist-paper", options=run.options)
    bigger = tmp_path / "bigger" / "mnist"
    bigger.mkdir(parents=True)
    rng = np.random.default_rng(6)
    for n, match in ((250, "its data sampler state does not fit"),           # 2 minibatches an epoch, as saved
                     (300, r"its optimizers were saved with 2 steps per epoch \(g_opt\), this run's take 3: "
                           r"the training set has another size")):
        mnist.write_idx(bigger / "train-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        mnist.write_idx(bigger / "train-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
        other = presets.build("mnist-paper", data_dir=str(tmp_path / "bigger"), seed=1)
        before = params(other.trainer)
        with pytest.raises(CheckpointError, match=match) as caught:
            checkpoint.load(path, other.trainer)
        if n == 300:
            assert (caught.value.cause.who, caught.value.cause.saved, caught.value.cause.now) == ("g_opt", 2, 3)
        assert other.trainer.iteration == 0 and other.trainer.d_opt.t == 0
        assert all(np.array_equal(v, params(other.trainer)[k]) for k, v in before.items())


def test_restore_run_takes_only_overrides_that_keep_the_run(tmp_path):
    run = presets.build("toy1d", seed=4, iterations=10)
    run.trainer.train(2)
    path = checkpoint.save(tmp_path / "c.npz", run.trainer, preset="toy1d", options=run.options)
    with pytest.raises(ValueError, match="d_lr, momentum would change the run"):
        presets.restore_run(path, d_lr=0.7, momentum=0.9)
    again, _ = presets.restore_run(path, data_dir=str(tmp_path))
    assert again.trainer.iteration == 2


def test_optimizer_settings_are_stored_and_compared(tmp_path):
    run = presets.build("toy1d", seed=4, iterations=10)
    run.trainer.train(2)
    path = checkpoint.save(tmp_path / "c.npz", run.trainer, preset="toy1d", options=run.options)
    saved = checkpoint.read(path).meta["optimizers"]["g_opt"]["settings"]
    assert saved["lr0"] == 0.02 and saved["momentum0"] == 0.5
    other = presets.build("toy1d", seed=4, iterations=10, momentum=0.6)
    with pytest.raises(CheckpointError, match=r"g_opt was saved with momentum0=0.5, this run's has momentum0=0.6"):
        checkpoint.load(path, other.trainer)
    checkpoint.load(path, other.trainer, strict=False)          # asked for: loads anyway
    assert other.trainer.iteration == 2


def test_layers_the_parameters_do_not_show_are_compared(tmp_path):
    """ReLU vs Tanh, or another dropout rate, leave the parameter shapes as they are."""
    def build(activation, keep):
        G = models.mlp([1, 8, 1], rng=0)
        D = Sequential(Dropout(keep, rng=3), Linear(1, 8, rng=1), activation, Linear(8, 1, rng=2))
        return GAN(G, D, data.gaussian_1d(), data.uniform_noise(1), d_optimizer=optim.SGD(D, 0.1),
                   g_optimizer=optim.SGD(G, 0.1), m=16)
    gan = build(ReLU(), 0.8)
    gan.train(1)
    path = checkpoint.save(tmp_path / "c.npz", gan)
    with pytest.raises(CheckpointError, match=r"its D has other layers \(ReLU\(\) in the checkpoint, Tanh\(\)"):
        checkpoint.load(path, build(Tanh(), 0.8))
    with pytest.raises(CheckpointError, match=r"Dropout\(keep=0.8, scale=1.25\) in the checkpoint, "
                                               r"Dropout\(keep=0.5, scale=2.0\) in this model"):
        checkpoint.load(path, build(ReLU(), 0.5))
    assert checkpoint.load(path, build(ReLU(), 0.8)).iteration == 1


# ---------------------------------------------------------------------- the average of G
def test_the_average_of_g_resumes_exactly(tmp_path, restore_backend):
    """On NumPy whatever the run's backend: a bit-identical resume needs the generators' states,
    which CuPy's generators do not expose (a CuPy resume re-seeds them)."""
    restore_backend.use("numpy")
    from minigan import presets
    whole = presets.build("toy1d", g_average=0.9)
    whole.trainer.train(30)
    first = presets.build("toy1d", g_average=0.9)
    first.trainer.train(12)
    path = checkpoint.save(tmp_path / "ck.npz", first.trainer, preset="toy1d", options=first.options)
    second, ck = presets.restore_run(path)
    assert ck.notes == [] and second.trainer.g_average.t == 12
    second.trainer.train(18)
    assert second.trainer.g_average.t == whole.trainer.g_average.t == 30
    for k, v in whole.trainer.g_average.average.items():
        assert np.array_equal(second.trainer.g_average.average[k], v), k


def test_an_average_of_g_that_does_not_fit_is_refused_or_noted(tmp_path):
    from minigan import presets
    kept = presets.build("toy1d", g_average=0.9)
    kept.trainer.train(5)
    with_avg = checkpoint.save(tmp_path / "avg.npz", kept.trainer, preset="toy1d", options=kept.options)
    with pytest.raises(checkpoint.CheckpointError, match="averaged G with decay 0.9, this run with 0.99"):
        checkpoint.load(with_avg, presets.build("toy1d", g_average=0.99).trainer)
    plain = presets.build("toy1d")
    ck = checkpoint.load(with_avg, plain.trainer)                       # this run keeps none: said, not lost
    assert any("is not loaded: this run keeps none" in n for n in ck.notes)
    plain.trainer.train(5)
    without = checkpoint.save(tmp_path / "plain.npz", plain.trainer, preset="toy1d", options=plain.options)
    late = presets.build("toy1d", g_average=0.5)
    ck = checkpoint.load(without, late.trainer)                         # an average started late
    assert any("keeps no average of G: the average (decay 0.5) starts from iteration 10" in n for n in ck.notes)
    assert late.trainer.g_average.t == 0
    assert all(np.array_equal(host(late.trainer.g_average.average[k]), host(p))
               for k, p in late.trainer.G.params.items())
    late.trainer.step()                                                  # and then it is G's first iterate
    assert all(np.allclose(host(late.trainer.g_average.average[k]), host(p), rtol=0, atol=1e-6)
               for k, p in late.trainer.G.params.items())


# ---------------------------------------------------------------------- files written before the state dicts
OLD = os.path.join(REPO, "tests", "data")


def old_builder():
    """The GAN tests/data/ca5aaaa_gan.npz was saved from, by minigan at commit ca5aaaa (before
    layers had buffers and trainers state dicts), after 6 iterations."""
    from minigan.layers import Maxout
    G = models.mlp([2, 16, 2], rng=0)
    D = Sequential(Dropout(0.8, rng=11), Maxout(2, 8, 3, rng=np.random.default_rng(1)),
                   Dropout(0.5, rng=12), Linear(8, 1, rng=2))
    return GAN(G, D, data.ring8(), data.uniform_noise(2),
               d_optimizer=optim.SGD(D, 0.05, 0.5, lr_decay=1.001),
               g_optimizer=optim.Adam(G, 1e-3), k=2, m=32, seed=7, g_average=0.9)


def same_history(a, b):
    """Equal histories; the gradient norms to rounding: the rows saved in tests/data came from
    the fast SGD, whose norms are sums of per-chunk dot products, and MINIGAN_FAST=0 runs the
    textbook step, which takes one dot product per parameter (minigan/fast/sgd.py)."""
    assert a.fields == b.fields and len(a) == len(b)
    for f in a.fields:
        if f.endswith("grad_norm"):
            np.testing.assert_allclose(a.column(f), b.column(f), rtol=1e-6, atol=0, err_msg=f)
        else:
            assert np.array_equal(a.column(f), b.column(f)), f
    return True


def test_a_checkpoint_from_before_the_state_dicts_resumes_bit_identically(restore_backend):
    """On NumPy whatever the run's backend: a bit-identical resume needs the generators' states,
    which CuPy's generators do not expose (a CuPy resume re-seeds them)."""
    restore_backend.use("numpy")
    ck = checkpoint.read(os.path.join(OLD, "ca5aaaa_gan.npz"))
    assert "header_keys" not in ck.meta and "buffers" not in ck.meta      # the old layout
    # the file's 6 iterations ran D's real and fake minibatches as two passes; the one pass
    # (minigan.fast.gan) sums D's gradients in another order, so both runs here take the
    # textbook path, whose every other step is the fast kernels' bit for bit
    with fast.enabled(False):
        whole = old_builder()
        whole.train(10)
        resumed = old_builder()
        assert checkpoint.load(ck, resumed).notes == [] and resumed.iteration == 6
        resumed.train(4)
    assert all(np.array_equal(v, params(resumed)[k]) for k, v in params(whole).items())
    assert same_history(resumed.history, whole.history) and resumed.g_average.t == 10
    for k, v in whole.g_average.average.items():
        assert np.array_equal(resumed.g_average.average[k], v), k


def test_a_preset_checkpoint_from_before_the_state_dicts_restores_its_run(restore_backend):
    """On NumPy whatever the run's backend: a bit-identical resume needs the generators' states,
    which CuPy's generators do not expose (a CuPy resume re-seeds them)."""
    restore_backend.use("numpy")
    run, ck = presets.restore_run(os.path.join(OLD, "ca5aaaa_toy1d.npz"))
    assert ck.preset == "toy1d" and ck.notes == [] and run.trainer.iteration == 10
    whole = presets.build("toy1d", seed=3, g_average=0.9)
    with fast.enabled(False):            # D's two passes, as the file's 10 iterations (see above)
        whole.trainer.train(15)
        run.trainer.train(5)
    assert all(np.array_equal(v, params(run.trainer)[k]) for k, v in params(whole.trainer).items())
    assert same_history(run.trainer.history, whole.trainer.history)
