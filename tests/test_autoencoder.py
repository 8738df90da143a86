"""The autoencoder trainer (AE, denoising AE, VAE), its presets and its command line."""
import json
import os

import numpy as np
import pytest

from minigan import backend, checkpoint, data, layers, losses, optim, presets
from minigan.checkpoint import CheckpointError
from minigan.gradcheck import check_autoencoder
from minigan.train import AUTOENCODER_FIELDS, AutoencoderTrainer


def _trainer(variational=False, reconstruction="bernoulli", corruption=None, level=None, *, n=60, d=6, k=2,
             seed=0, dtype=np.float64, order="epochs", m=10):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 1, size=(n, d))
    enc = layers.Sequential(layers.Linear(d, 5, rng=rng, dtype=dtype), layers.Tanh(),
                            layers.Linear(5, 2 * k if variational else k, rng=rng, dtype=dtype))
    dec_layers = [layers.Linear(k, 5, rng=rng, dtype=dtype), layers.Tanh(), layers.Linear(5, d, rng=rng, dtype=dtype)]
    if reconstruction == "squared":
        dec_layers.append(layers.Sigmoid())
    dec = layers.Sequential(*dec_layers)
    sampler = data.MNISTSampler(images, dtype=dtype, order=order)
    model = AutoencoderTrainer.model_of(enc, dec)
    return AutoencoderTrainer(enc, dec, optim.Adam(model, lr=1e-2, beta1=0.9), sampler, code_dim=k,
                              variational=variational, reconstruction=reconstruction, corruption=corruption,
                              corruption_level=level, m=m, seed=seed, fit_data=sampler.images)


KINDS = [dict(), dict(corruption="gaussian", level=0.3), dict(corruption="masking", level=0.25),
         dict(variational=True), dict(variational=True, reconstruction="squared"), dict(reconstruction="squared")]


@pytest.mark.parametrize("kw", KINDS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()) or "ae")
def test_whole_model_gradient_is_checked_numerically(kw):
    """dL/dtheta of every parameter, through decoder, reparameterisation, KL and encoder, against
    central differences in float64 (eps and the corrupted input held fixed)."""
    tr = _trainer(**kw)
    rng = np.random.default_rng(3)
    x = backend.to_device(rng.uniform(0, 1, size=(4, 6)))
    x_in = tr.corrupt(x, backend.default_rng(4))
    eps = backend.to_device(rng.normal(size=(4, 2))) if tr.variational else None
    tr.model.train()
    res = _check(tr, x, eps, x_in)
    assert res.passed, res


def _check(tr, x, eps, x_in=None):
    return check_autoencoder(tr, x, noise=eps, x_in=x_in, eps=1e-6, tol=1e-7, seed=0)


def test_a_wrong_kl_gradient_is_caught():
    """The check above can fail: the VAE with the KL's gradient on log sigma^2 doubled does not pass."""
    tr = _trainer(variational=True)
    rng = np.random.default_rng(3)
    x = backend.to_device(rng.uniform(0, 1, size=(4, 6)))
    eps = backend.to_device(rng.normal(size=(4, 2)))
    real = losses.gaussian_kl

    def wrong(mu, logvar):
        v, gm, gl = real(mu, logvar)
        return v, gm, 2 * gl
    import minigan.train.autoencoder as module
    module.losses = type("L", (), {"gaussian_kl": staticmethod(wrong),
                                   "__getattr__": lambda self, n: getattr(losses, n)})()
    try:
        res = _check(tr, x, eps)
    finally:
        module.losses = losses
    assert not res.passed


def test_vae_loss_is_reconstruction_plus_kl_of_the_pieces():
    tr = _trainer(variational=True)
    x = tr.fit_data[:5]
    eps = backend.to_device(np.random.default_rng(1).normal(size=(5, 2)))
    tr.model.train()
    tr.model.zero_grad()
    loss, rec, kl = tr.loss_and_backward(x, eps=eps)
    h = tr.encoder.forward(x)
    tr.model.clear_cache()
    h, x, e = (backend.to_host(a) for a in (h, x, eps))
    mu, logvar = h[:, :2], h[:, 2:]
    with layers.no_grad():
        a = backend.to_host(tr.decoder.forward(backend.to_device(mu + np.exp(logvar / 2) * e)))
    expect_rec = np.mean(np.sum(np.logaddexp(0, a) - x * a, axis=1))
    expect_kl = np.mean(-0.5 * np.sum(1 + logvar - mu ** 2 - np.exp(logvar), axis=1))
    assert float(rec) == pytest.approx(expect_rec, rel=1e-12)
    assert float(kl) == pytest.approx(expect_kl, rel=1e-12)
    assert float(loss) == pytest.approx(expect_rec + expect_kl, rel=1e-12)


def test_training_lowers_the_loss_and_records_every_field():
    tr = _trainer(variational=True, n=200, d=6, m=20)
    rows = tr.train(300)
    assert tr.history.fields == AUTOENCODER_FIELDS and len(tr.history) == 300
    first, last = np.mean([r["loss"] for r in rows[:20]]), np.mean([r["loss"] for r in rows[-20:]])
    assert last < first - 0.1
    assert all(np.isfinite(r["kl"]) and r["kl"] >= 0 for r in rows)
    ae = _trainer()
    assert all(np.isnan(r["kl"]) and r["loss"] == r["reconstruction"] for r in ae.train(5))


@pytest.mark.parametrize("kw", [dict(), dict(variational=True), dict(corruption="masking", level=0.3)],
                         ids=["ae", "vae", "dae"])
def test_save_and_load_resume_bit_for_bit(tmp_path, kw):
    if backend.name() != "numpy":
        pytest.skip("a CuPy generator's state cannot be read: a resumed CuPy run is reproducible, not the "
                    "uninterrupted one")
    straight = _trainer(**kw)
    straight.train(13)
    first = _trainer(**kw)
    first.train(7)
    path = checkpoint.save(str(tmp_path / "ck.npz"), first)
    second = _trainer(**kw)
    checkpoint.load(path, second)
    second.train(6)
    for name, p in straight.model.params.items():
        assert np.array_equal(p, second.model.params[name]), name
    assert [r["loss"] for r in straight.history] == [r["loss"] for r in second.history]


def test_a_checkpoint_of_another_kind_is_refused(tmp_path):
    vae = _trainer(variational=True, k=1)     # the same parameter shapes as an AE with k = 2
    vae.train(2)
    path = checkpoint.save(str(tmp_path / "vae.npz"), vae)
    ae = _trainer(k=2)
    with pytest.raises(CheckpointError, match="variational"):
        checkpoint.load(path, ae)
    dae = _trainer(corruption="gaussian", level=0.5)
    dae.train(2)
    path = checkpoint.save(str(tmp_path / "dae.npz"), dae)
    with pytest.raises(CheckpointError, match="corruption_level"):
        checkpoint.load(path, _trainer(corruption="gaussian", level=0.4))


def test_code_density_is_the_codes_gaussian_refitted_when_stale():
    tr = _trainer(n=80)
    tr.train(3)
    mean, chol = tr.code_density()
    codes = backend.to_host(tr.encode(tr.fit_data))
    assert np.allclose(mean, codes.mean(axis=0))
    assert np.allclose(chol @ chol.T, np.cov(codes, rowvar=False), rtol=1e-4, atol=1e-5)
    assert tr.code_density()[0] is mean                  # not refitted while nothing changed
    tr.train(1)
    assert not np.array_equal(tr.code_density()[0], mean)
    samples = backend.to_host(tr.sample_codes(20000, backend.default_rng(0)))
    assert np.allclose(samples.mean(axis=0), tr.code_density()[0], atol=0.05 * np.abs(codes).max())


def test_samples_decode_prior_draws_and_reconstructions_decode_mu():
    tr = _trainer(variational=True)
    tr.train(3)
    z = tr.sample_codes(5, backend.default_rng(2))
    assert np.array_equal(backend.to_host(z), backend.to_host(backend.default_rng(2).standard_normal((5, 2))))
    assert np.allclose(backend.to_host(tr.sample(5, rng=backend.default_rng(2))), backend.to_host(tr.decode(z)))
    x = tr.fit_data[:4]
    mu, logvar = tr.encode(x)
    with layers.no_grad():
        a = backend.to_host(tr.decoder.forward(mu))
    assert np.allclose(backend.to_host(tr.reconstruct(x)), 1 / (1 + np.exp(-a)))
    with pytest.raises(ValueError, match="average"):
        tr.sample(3, averaged=True)


def test_evaluate_reports_per_example_numbers():
    vae = _trainer(variational=True)
    vae.train(3)
    x = vae.fit_data[:30]
    found = vae.evaluate(x, rng=backend.default_rng(0))
    assert found["elbo"] == pytest.approx(-(found["reconstruction"] + found["kl"]))
    assert found["squared_error"] == pytest.approx(float(((vae.reconstruct(x) - x) ** 2).sum(axis=1).mean()))
    dae = _trainer(corruption="gaussian", level=0.5)
    dae.train(3)
    found = dae.evaluate(x, rng=backend.default_rng(0))
    with layers.no_grad():
        a = dae.decoder.forward(dae.encoder.forward(x))
    assert found["reconstruction"] == pytest.approx(float(losses.bernoulli_cross_entropy(a, x)[0]))
    assert found["denoised_squared_error"] > found["squared_error"]     # noisy inputs are harder


def test_errors_name_what_was_expected():
    with pytest.raises(ValueError, match="reconstruction must be one of"):
        _trainer(reconstruction="l1")
    with pytest.raises(ValueError, match="corruption must be None or one of"):
        _trainer(corruption="salt", level=0.1)
    with pytest.raises(ValueError, match="give corruption too"):
        _trainer(level=0.1)
    with pytest.raises(ValueError, match="needs a corruption_level"):
        _trainer(corruption="gaussian")
    tr = _trainer(variational=True)
    tr.code_dim = 3
    with pytest.raises(ValueError, match=r"encoder must output \(m, 6\) columns"):
        tr.step()


# ---------------------------------------------------------------------- presets and the command line


def test_presets_build_the_chapters_models(small_mnist):
    for name, kind in (("ae", "ae"), ("dae", "dae"), ("vae", "vae")):
        run = presets.build(name, data_dir=small_mnist, m=20)
        assert run.trainer.kind == kind and run.trainer.code_dim == 20
        assert run.iterations == 20 * (200 // 20)
    dae = presets.build("dae", data_dir=small_mnist, corruption="masking").trainer
    assert (dae.corruption, dae.corruption_level) == ("masking", 0.25)
    with pytest.raises(ValueError, match="has no option 'k'"):
        presets.build("vae", data_dir=small_mnist, k=2)
    with pytest.raises(ValueError, match="option corruption must be one of"):
        presets.build("dae", data_dir=small_mnist, corruption="salt")


def _cli(argv):
    from minigan.cli import main
    return main(argv)


def test_train_resume_and_sample_from_the_command_line(small_mnist, tmp_path, capsys):
    out = str(tmp_path / "vae")
    assert _cli(["train", "vae", "--iterations", "12", "--m", "20", "--data-dir", small_mnist, "--out", out,
                 "--no-progress", "--set", "code_dim=3"]) == 0
    text = capsys.readouterr().out
    assert "model=vae" in text and "ELBO" in text and "30 test images" in text
    for name in ("history.png", "samples.png", "reconstructions.png", "history.csv", "checkpoint.npz"):
        assert os.path.exists(os.path.join(out, name)), name
    with open(os.path.join(out, "config.json")) as f:
        config = json.load(f)
    assert config["history_fields"] == list(AUTOENCODER_FIELDS) and config["config"]["code_dim"] == 3
    with open(os.path.join(out, "history.csv")) as f:
        assert f.readline().strip() == ",".join(AUTOENCODER_FIELDS)
    assert _cli(["resume", os.path.join(out, "checkpoint.npz"), "--iterations", "3", "--data-dir", small_mnist,
                 "--no-progress", "--no-figures"]) == 0
    assert "now at iteration 15" in capsys.readouterr().out
    assert _cli(["sample", os.path.join(out, "checkpoint.npz"), "-n", "7", "--out",
                 str(tmp_path / "s.png")]) == 0
    assert np.load(str(tmp_path / "s.npy")).shape == (7, 784)


def test_an_autoencoder_refuses_the_flags_of_a_gan(small_mnist, tmp_path, capsys):
    assert _cli(["train", "ae", "--k", "2", "--data-dir", small_mnist, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "has no use for --k" in err and "--lr" in err
    assert _cli(["train", "ae", "--set", "lr=0.1", "--data-dir", small_mnist, "--out", str(tmp_path / "a")]) == 2
    assert "has its own flag, --lr" in capsys.readouterr().err


def test_an_autoencoders_samples_come_from_its_checkpoint_alone(small_mnist, tmp_path):
    """ae's samples decode its code density: saved in the checkpoint, so a run rebuilt without its
    training images (minigan sample) draws the same samples."""
    run = presets.build("ae", data_dir=small_mnist, m=20)
    run.trainer.train(5)
    path = checkpoint.save(str(tmp_path / "ae.npz"), run.trainer, preset="ae", options=run.options)
    rebuilt, _ = presets.restore_run(path, load_data=False)
    a = run.trainer.sample(6, rng=backend.default_rng(1))
    b = rebuilt.trainer.sample(6, rng=backend.default_rng(1))
    assert np.array_equal(backend.to_host(a), backend.to_host(b))


def test_train_help_lists_the_autoencoder_presets(capsys):
    assert _cli(["train", "--help"]) == 0
    text = capsys.readouterr().out
    for name in ("ae:", "dae:", "vae:"):
        assert "\n  " + name in text
    assert "--set corruption=gaussian|masking (default gaussian)" in " ".join(text.split())
