"""Feature matching, historical averaging and label smoothing (Salimans et al. 2016) as parts of
minigan: their gradients in float64, the trainer's use of them, the presets' and the command
line's switches, and the runs that use them resuming bit-identically."""
import json

import numpy as np
import pytest

from minigan import backend, checkpoint, cli, data, layers, losses, optim, presets, state
from minigan.checkpoint import CheckpointError
from minigan.gradcheck import check_function, check_generator_step
from minigan.layers import Dropout, Linear, Maxout, ReLU, Sequential
from minigan.losses import feature_matching as fm_module
from minigan.train import GAN

F64 = np.float64
dev, host = backend.to_device, backend.to_host      # inputs onto the active backend, results back for asserts


def small_D(rng, n_in=5):
    """The paper's D in miniature: dropout - maxout - dropout - maxout - linear. The dropouts draw
    from generators on the active backend, seeded from ``rng``."""
    return Sequential(Dropout(0.8, scale=1.25, rng=_seed(rng)), Maxout(n_in, 4, 3, irange=0.5, rng=rng, dtype=F64),
                      Dropout(0.5, scale=2.0, rng=_seed(rng)), Maxout(4, 3, 2, irange=0.5, rng=rng, dtype=F64),
                      Linear(3, 1, irange=0.5, rng=rng, dtype=F64))


def _seed(rng):
    return int(rng.integers(1 << 30))


def small_G(rng):
    return Sequential(Linear(3, 6, irange=0.5, rng=rng, dtype=F64), ReLU(), Linear(6, 5, irange=0.5, rng=rng, dtype=F64))


def normal_sampler(m, rng):
    """N(0.5, 1) rows (NumPy's normal(0.5, 1.0) draws the same numbers; CuPy's Generator has
    only standard_normal)."""
    return 0.5 + rng.standard_normal(size=(m, 5))


# ---------------------------------------------------------------------- feature matching
def test_feature_matching_value_and_gradient():
    """(1/F) ||mu_real - mean f_fake||^2 by hand, and its gradient against central differences."""
    rng = np.random.default_rng(0)
    f_fake, mu = rng.normal(size=(4, 3)), rng.normal(size=3)
    value, grad = losses.feature_matching_loss(f_fake, mu)
    delta = mu - f_fake.mean(axis=0)
    assert np.isclose(float(value), delta @ delta / 3)
    assert np.allclose(grad, np.tile(-2 * delta / (3 * 4), (4, 1)))
    res = check_function(lambda f: f, lambda g: g, f_fake, objective=lambda y: losses.feature_matching_loss(y, mu),
                         title="feature_matching", input_names=["f_fake"])
    assert res.passed, res
    with pytest.raises(ValueError, match="shape"):
        losses.feature_matching_loss(f_fake, mu[:2])


def test_feature_matching_is_G_step_gradient_checked_through_D_frozen():
    """The generator-step check through D's layers 0..3 (dropout masks frozen, D held fixed)."""
    rng = np.random.default_rng(1)
    G, D = small_G(rng), small_D(rng)
    fm = losses.FeatureMatching(D, 3, normal_sampler, seed=2)
    assert all(p is D.params[k] for k, p in fm.network.params.items())       # a view: D's own arrays
    assert len(fm.network.layers) == 4
    mu = fm.real_mean(8)
    res = check_generator_step(G, D, dev(rng.uniform(-1, 1, (4, 3))), g_loss=fm.against(mu), seed=1)
    assert res.passed, res
    frozen = next(r for r in res.rows if r.name == "D.grads (frozen)")
    assert frozen.passed and frozen.shape == (sum(p.size for p in fm.network.params.values()),)


def test_a_wrong_feature_matching_gradient_fails_the_check(monkeypatch):
    """The sum over features instead of the mean in the gradient only (a factor F) is caught."""
    rng = np.random.default_rng(1)
    G, D = small_G(rng), small_D(rng)
    fm = losses.FeatureMatching(D, 3, normal_sampler, seed=2)
    right = fm_module.feature_matching_loss

    def wrong(f_fake, real_mean):
        value, grad = right(f_fake, real_mean)
        return value, grad * f_fake[0].size
    monkeypatch.setattr(fm_module, "feature_matching_loss", wrong)
    assert not check_generator_step(G, D, dev(rng.uniform(-1, 1, (4, 3))), g_loss=fm.against(fm.real_mean(8)),
                                    seed=1).passed


def test_feature_matching_draws_its_own_real_minibatch(restore_backend):
    """A call draws m real rows (the fake batch's size by default) with its own generator and
    takes their features in training mode (dropout on), adding no cache to D. On NumPy whatever
    the run's backend: it reads and sets generators' states, which CuPy's do not expose."""
    restore_backend.use("numpy")
    rng = np.random.default_rng(3)
    D = small_D(rng)
    fm = losses.FeatureMatching(D, 3, normal_sampler, seed=7)
    f_fake = np.random.default_rng(4).normal(size=(6, 3))
    draws = np.random.default_rng(7)
    x = normal_sampler(6, draws)
    D_copy_state = [layer.rng.bit_generator.state for layer in D.layers if isinstance(layer, Dropout)]
    value, grad = fm(f_fake)
    for layer, s in zip((la for la in D.layers if isinstance(la, Dropout)), D_copy_state):
        layer.rng.bit_generator.state = s                      # the same masks again
    from minigan.layers import no_grad
    with no_grad():
        expected = fm_module.feature_matching_loss(f_fake, fm.network.forward(x).mean(axis=0))
    assert float(value) == float(expected[0]) and np.array_equal(grad, expected[1])
    assert fm.rng.bit_generator.state == draws.bit_generator.state
    assert not any(layer._cache for layer in D.layers)
    with no_grad():                                            # dropout was on: eval mode differs
        fm.network.eval()
        assert not np.allclose(fm.network.forward(x).mean(axis=0), expected[0])
    assert losses.FeatureMatching(D, 1, normal_sampler, m=10).real_mean(3).shape == (4,)


@pytest.mark.parametrize("layer", [4, 5, -1, True, 2.0, "3"])
def test_feature_matching_refuses_what_is_not_an_intermediate_layer(layer):
    D = small_D(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"give the index 0\.\.3 of the layer whose output is f \(D's layers: "
                                         r"0 Dropout, 1 Maxout, 2 Dropout, 3 Maxout, 4 Linear; the last, 4"):
        losses.FeatureMatching(D, layer, normal_sampler)


def test_feature_matching_in_the_trainer_keeps_D_fixed_and_the_trainer_draws(restore_backend):
    """G's step through D's features moves no D parameter; the trainer's generator draws what it
    draws without feature matching; a sampler that keeps state is not advanced by the loss. On
    NumPy whatever the run's backend: it compares generators' states (CuPy's are not readable)
    and the epoch sampler shuffles with NumPy's permutation."""
    restore_backend.use("numpy")
    images = np.random.default_rng(0).uniform(0, 1, (40, 5))

    def run(g_loss_layer):
        rng = np.random.default_rng(5)
        G, D = small_G(rng), small_D(rng)
        sampler = data.MNISTSampler(images, F64, order="epochs")
        g_loss = "nonsaturating" if g_loss_layer is None else losses.FeatureMatching(D, g_loss_layer, sampler, seed=1)
        gan = GAN(G, D, sampler, lambda m, r: r.uniform(-1, 1, (m, 3)), d_optimizer=optim.Adam(D, 1e-3),
                  g_optimizer=optim.Adam(G, 1e-3), m=8, g_loss=g_loss, seed=0)
        return gan, sampler
    plain, plain_sampler = run(None)
    gan, sampler = run(3)
    assert gan.config["g_loss"] == "FeatureMatching(layer=3)"
    assert gan.g_loss.data_sampler is not sampler and gan.g_loss.data_sampler.images is sampler.images
    gan.d_step()
    before = {k: v.copy() for k, v in gan.D.params.items()}
    row = gan.g_step()
    assert all(np.array_equal(before[k], v) for k, v in gan.D.params.items())
    assert row["g_loss"] > 0 and row["g_grad_norm"] > 0
    plain.d_step()
    plain.g_step()
    assert gan.rng.bit_generator.state == plain.rng.bit_generator.state
    assert sampler.state_dict()["pos"] == plain_sampler.state_dict()["pos"] == 8
    assert int(gan.g_loss.state_dict()["sampler.pos"]) == 8


# ---------------------------------------------------------------------- historical averaging
def _linear(seed=0):
    return Linear(3, 2, irange=0.5, rng=seed, dtype=F64)


def _check_penalty(ha, model, **kw):
    """Central differences of weight ||theta - theta_bar||^2 over the parameters (theta_bar fixed)
    against the gradient the penalty adds into ``model.grads``."""
    names = list(model.params)

    def forward(*params):                  # the model's own arrays, perturbed in place by the checker
        model.zero_grad()
        return ha.penalty(model)

    def backward(dv):
        return tuple(float(dv) * model.grads[k] for k in names)
    return check_function(forward, backward, tuple(model.params[k] for k in names),
                          objective=lambda v: (v, np.ones(())), title=repr(ha), input_names=names, **kw)


def _moved(model, rng):
    for p in model.params.values():
        p += dev(rng.normal(size=p.shape))


def test_historical_averaging_is_the_mean_of_the_parameters_at_each_update():
    rng = np.random.default_rng(0)
    model, ha = _linear(), losses.HistoricalAveraging(0.5)
    seen = []
    model.zero_grad()
    assert float(ha(model)) == 0.0 and ha.t == 1                       # theta_bar = theta at the first update
    assert all(not g.any() for g in model.grads.values())
    seen.append({k: np.array(host(p)) for k, p in model.params.items()})
    for _ in range(4):
        _moved(model, rng)
        seen.append({k: np.array(host(p)) for k, p in model.params.items()})
        model.zero_grad()
        value = ha(model, None)
    assert ha.t == 5
    for k, p in model.params.items():
        bar = np.mean([s[k] for s in seen], axis=0)
        assert np.allclose(host(ha.mean[k]), bar)
        assert np.allclose(host(model.grads[k]), 2 * 0.5 * (host(p) - bar))
    assert np.isclose(float(value), 0.5 * sum(((host(p) - np.mean([s[k] for s in seen], axis=0)) ** 2).sum()
                                              for k, p in model.params.items()))


def test_historical_averaging_gradient_check_and_a_wrong_one_fails():
    rng = np.random.default_rng(1)
    model, ha = _linear(), losses.HistoricalAveraging(0.3)
    for _ in range(3):
        ha.update(model)
        _moved(model, rng)
    res = _check_penalty(ha, model)
    assert res.passed, res

    class ThroughTheAverage(losses.HistoricalAveraging):
        """The total derivative, as if theta_bar moved with theta: 2 w (1 - 1/t) (theta - theta_bar)."""

        def penalty(self, model):
            value = super().penalty(model)
            for g in model.grads.values():
                g *= 1 - 1 / self.t
            return value
    wrong = ThroughTheAverage(0.3)
    wrong.load_state_dict(ha.state_dict())
    assert not _check_penalty(wrong, model).passed


def test_historical_averaging_keeps_one_players_average_and_its_state():
    ha = losses.HistoricalAveraging(1e-2)
    ha(_linear(), None)
    with pytest.raises(ValueError, match="give each player its own HistoricalAveraging"):
        ha(Linear(4, 2, rng=0, dtype=F64), None)
    for bad in (0, -1.0, float("nan"), True, "0.1"):
        with pytest.raises(ValueError, match="weight must be a number > 0"):
            losses.HistoricalAveraging(bad)
    other = losses.HistoricalAveraging(1e-2)
    other.load_state_dict(ha.state_dict())
    assert other.t == 1 and all(np.array_equal(other.mean[k], v) for k, v in ha.mean.items())
    with pytest.raises(ValueError, match="t = 0 with 2 averaged"):
        other.check_state_dict({**ha.state_dict(), "t": np.asarray(0)})
    with pytest.raises(KeyError, match="lacks 't'"):
        other.check_state_dict({})
    assert repr(ha) == "HistoricalAveraging(0.01)"


def test_historical_averaging_in_the_trainer_counts_each_players_updates():
    rng = np.random.default_rng(2)
    G, D = small_G(rng), small_D(rng)
    d_ha, g_ha = losses.HistoricalAveraging(0.1), losses.HistoricalAveraging(0.2)
    gan = GAN(G, D, normal_sampler, lambda m, r: r.uniform(-1, 1, (m, 3)), d_optimizer=optim.SGD(D, 0.01),
              g_optimizer=optim.SGD(G, 0.01), m=6, k=2, seed=0, d_penalties=[d_ha], g_penalties=[g_ha])
    gan.train(3)
    assert d_ha.t == 6 and g_ha.t == 3 and set(d_ha.mean) == set(D.params) and set(g_ha.mean) == set(G.params)
    assert gan.config["d_penalties"] == ["HistoricalAveraging(0.1)"]
    assert gan.config["g_penalties"] == ["HistoricalAveraging(0.2)"]


# ---------------------------------------------------------------------- label smoothing
@pytest.mark.parametrize("real,fake,message", [(0.0, 0.0, r"real_label.* must be in \(0, 1\], got 0"),
                                               (1.5, 0.0, r"real_label.* must be in \(0, 1\]"),
                                               (0.9, 0.9, r"fake_label.* must be in \[0, real_label\)"),
                                               (0.9, -0.1, r"fake_label.* must be in \[0, real_label\)"),
                                               ("0.9", 0.0, "real_label.* must be a number")])
def test_labels_are_checked_when_the_trainer_is_built(real, fake, message):
    rng = np.random.default_rng(0)
    G, D = small_G(rng), small_D(rng)
    with pytest.raises(ValueError, match=message):
        GAN(G, D, normal_sampler, lambda m, r: r.uniform(-1, 1, (m, 3)), d_optimizer=optim.SGD(D, 0.01),
            g_optimizer=optim.SGD(G, 0.01), real_label=real, fake_label=fake)
    with pytest.raises(ValueError, match=message):
        presets.build("ring8", real_label=real, fake_label=fake)


def test_label_smoothing_from_the_command_line_is_recorded_and_resumed(tmp_path):
    out = tmp_path / "run"
    assert cli.train_main(["ring8", "--set", "real_label=0.9", "--set", "fake_label=0.1", "--m", "16",
                           "--iterations", "2", "--no-progress", "--no-figures", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["real_label"] == 0.9 and config["options"]["fake_label"] == 0.1
    assert config["config"]["real_label"] == 0.9 and config["config"]["fake_label"] == 0.1
    ck = checkpoint.read(out / "checkpoint.npz")
    assert ck.options["real_label"] == 0.9 and ck.meta["config"]["fake_label"] == 0.1
    run, _ = presets.restore_run(ck)
    assert run.trainer.real_label == 0.9 and run.trainer.fake_label == 0.1
    assert cli.main(["resume", str(out / "checkpoint.npz"), "--iterations", "1", "--no-progress",
                     "--no-figures"]) == 0


def test_a_preset_without_the_options_records_their_defaults():
    run = presets.build("toy1d", iterations=1)
    assert {k: run.options[k] for k in presets.TECHNIQUE_OPTIONS} == {
        "real_label": 1.0, "fake_label": 0.0, "feature_matching": None, "historical_averaging": None,
        "minibatch_discrimination": None, "batch_norm": 0, "virtual_batch_norm": None}
    assert run.trainer.g_loss == "nonsaturating" and not run.trainer.d_penalties and not run.trainer.g_penalties


# ---------------------------------------------------------------------- the presets' switches, resumed
TECHNIQUES = {
    "label smoothing": {"real_label": 0.9, "fake_label": 0.1},
    "feature matching": {"feature_matching": 3},
    "historical averaging": {"historical_averaging": 0.05},
    "minibatch discrimination": {"minibatch_discrimination": "5x3"},
    "batch norm": {"batch_norm": 1},
    "virtual batch norm": {"virtual_batch_norm": 8},
    "all together": {"real_label": 0.8, "feature_matching": 1, "historical_averaging": 0.01,
                     "minibatch_discrimination": "4x2", "virtual_batch_norm": 6},
}


def _entries(gan):
    return gan.state_dict()


def _same_state(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if state.is_array(a[key]):
            assert np.array_equal(a[key], b[key]), f"{key} differs"
        else:
            assert a[key] == b[key], f"{key} differs"


@pytest.mark.parametrize("technique", list(TECHNIQUES))
def test_ring8_with_a_technique_resumes_bit_identically(tmp_path, technique, restore_backend):
    """6 iterations straight == 3, a checkpoint, a run rebuilt from it (restore_run), 3 more. On
    NumPy whatever the run's backend: a bit-identical resume needs the generators' states, which
    CuPy's generators do not expose (a CuPy resume re-seeds them)."""
    restore_backend.use("numpy")
    opts = dict(m=16, iterations=6, **TECHNIQUES[technique])
    straight = presets.build("ring8", **opts)
    straight.trainer.train(6)
    half = presets.build("ring8", **opts)
    half.trainer.train(3)
    path = checkpoint.save(tmp_path / "half.npz", half.trainer, preset="ring8", options=half.options)
    resumed, _ = presets.restore_run(path)
    assert resumed.options == straight.options
    resumed.trainer.train(3)
    _same_state(_entries(straight.trainer), _entries(resumed.trainer))
    if "historical_averaging" in opts:
        assert resumed.trainer.d_penalties[0].t == 6 and resumed.trainer.g_penalties[0].t == 6
    plain = presets.build("ring8", m=16)
    plain.trainer.train(6)
    assert not np.array_equal(plain.trainer.G.params["0.W"], straight.trainer.G.params["0.W"])


def _write_mnist(folder, n, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    data.write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
    data.write_idx(folder / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, n, dtype=np.uint8))
    return folder.parent


def test_mnist_paper_with_feature_matching_resumes_bit_identically(tmp_path, restore_backend):
    """The real minibatches of feature matching pass over the images in a permutation of their
    own (saved as part/g_loss/sampler.*); the default order becomes Algorithm 1's. On NumPy
    whatever the run's backend, as the resume above."""
    restore_backend.use("numpy")
    folder = _write_mnist(tmp_path / "data" / "mnist", 60)
    opts = dict(data_dir=str(folder), m=20, iterations=3, feature_matching=3, real_label=0.9)
    straight = presets.build("mnist-paper", **opts)
    assert straight.trainer.order == "sequential" and straight.options["order"] == "sequential"
    straight.trainer.train(4)                # the loss's own pass: 3 minibatches of 20, then a new one
    half = presets.build("mnist-paper", **opts)
    half.trainer.train(1)
    saved = half.trainer.state_dict()          # (in memory: a checkpoint file of these networks takes seconds)
    assert saved["parts"]["g_loss"] == ["sampler.perm", "sampler.pos"]
    resumed = presets.build("mnist-paper", **half.options)
    resumed.trainer.load_state_dict(saved)
    resumed.trainer.train(3)
    _same_state(_entries(straight.trainer), _entries(resumed.trainer))
    assert not np.array_equal(straight.trainer.g_loss.data_sampler.state_dict()["perm"],
                              straight.trainer.data_sampler.state_dict()["perm"])
    with pytest.raises(ValueError, match="order='sequential'"):
        presets.build("mnist-paper", **{**opts, "order": "simultaneous"})


@pytest.mark.parametrize("saved,now,message", [
    ({"feature_matching": 3}, {"feature_matching": 1}, r"g_loss='FeatureMatching\(layer=3\)', this run has "
                                                       r"g_loss='FeatureMatching\(layer=1\)'"),
    ({"feature_matching": 3}, {}, r"g_loss='FeatureMatching\(layer=3\)', this run has g_loss='nonsaturating'"),
    ({"historical_averaging": 0.05}, {"historical_averaging": 0.1}, r"d_penalties=\['HistoricalAveraging\(0.05\)'\]"),
    ({"historical_averaging": 0.05}, {}, "d_penalties"),
    ({}, {"historical_averaging": 0.05}, "d_penalties"),
    ({"real_label": 0.9}, {}, "real_label=0.9, this run has real_label=1.0"),
    ({"fake_label": 0.1}, {}, "fake_label=0.1, this run has fake_label=0.0"),
    ({"minibatch_discrimination": "5x3"}, {}, "another architecture: this D has parameter"),
    ({"batch_norm": 1}, {}, "another architecture: this G has parameter"),
    ({"virtual_batch_norm": 8}, {"virtual_batch_norm": 6}, r"G buffer 'reference' has shape \(8, 2\)"),
])
def test_a_strict_load_notices_a_changed_technique(tmp_path, saved, now, message):
    run = presets.build("ring8", m=8, **saved)
    run.trainer.train(1)
    path = checkpoint.save(tmp_path / "c.npz", run.trainer, preset="ring8", options=run.options)
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(path, presets.build("ring8", m=8, **now).trainer)


def test_the_switches_are_refused_with_their_words(tmp_path, capsys):
    for argv, words in [(["--set", "feature_matching=4"], "give the index 0..3 of the layer whose output is f "
                                                          "(D's layers: 0 Linear, 1 ReLU, 2 Linear, 3 ReLU, 4 Linear"),
                        (["--set", "feature_matching=3", "--g-loss", "minimax"], "leave g_loss ('minimax') out"),
                        (["--set", "historical_averaging=0"], "historical_averaging must be a weight > 0"),
                        (["--set", "real_label=1.1"], "real_label (D's target for real data"),
                        (["--set", "fake_label=0.5", "--set", "real_label=0.5"], "[0, real_label) = [0, 0.5)")]:
        out = tmp_path / "run"
        assert cli.train_main(["ring8", *argv, "--no-progress", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert words in err and not out.exists(), err


# ---------------------------------------------------------------------- where the architecture techniques go
def test_the_builders_without_techniques_are_the_networks_they_were():
    from minigan import models
    G, D = models.toy_networks([2, 8, 8, 2], [2, 8, 8, 1], seed=4)
    for mine, theirs in ((G, models.mlp([2, 8, 8, 2], rng=4)), (D, models.mlp([2, 8, 8, 1], rng=1004))):
        assert [repr(la) for la in mine.layers] == [repr(la) for la in theirs.layers]
        assert all(np.array_equal(p, theirs.params[k]) for k, p in mine.params.items())
    G, D = models.paper_mnist_networks(np.zeros(784), seed=2)
    G0 = models.paper_mnist_generator(np.zeros(784), rng=2)
    D0 = models.paper_mnist_discriminator(rng=1002, dropout_seed=2002)
    for mine, theirs in ((G, G0), (D, D0)):
        assert [repr(la) for la in mine.layers] == [repr(la) for la in theirs.layers]
        assert all(np.array_equal(p, theirs.params[k]) for k, p in mine.params.items())


def test_the_builders_put_the_technique_layers_where_they_go():
    from minigan import models
    G, D = models.toy_networks([2, 8, 8, 2], [2, 8, 6, 1], seed=0, minibatch_discrimination=(5, 3),
                               batch_norm=True)
    mbd = D.layers[-2]
    assert isinstance(mbd, layers.MinibatchDiscrimination) and (mbd.n_in, mbd.n_out) == (6, 11)
    assert D.layers[-1].n_in == 11
    names = [type(la).__name__ for la in G.layers]
    assert names == ["Linear", "BatchNorm", "ReLU", "Linear", "BatchNorm", "ReLU", "Linear"]
    assert [la.n_features for la in G.layers if isinstance(la, layers.BatchNorm)] == [8, 8]
    noise = data.gaussian_noise(2)
    G, _ = models.toy_networks([2, 8, 2], [2, 8, 1], seed=0, virtual_batch_norm=4, noise=noise)
    assert isinstance(G, layers.VirtualBatch)
    assert [type(la).__name__ for la in G.net.layers] == ["Linear", "VirtualBatchNorm", "ReLU", "Linear"]
    assert G.net.layers[1].reference_rows == 4
    assert np.array_equal(backend.to_host(G.reference),
                          backend.to_host(noise(4, backend.default_rng(4000))))       # drawn once, seeded
    G, D = models.paper_mnist_networks(seed=0, minibatch_discrimination=(100, 5), batch_norm=True)
    assert [type(la).__name__ for la in D.layers][-3:] == ["Dropout", "MinibatchDiscrimination", "Linear"]
    assert D.layers[-1].n_in == 340
    assert [type(la).__name__ for la in G.layers] == ["Linear", "BatchNorm", "ReLU", "Linear", "BatchNorm",
                                                      "ReLU", "Linear", "Sigmoid"]


@pytest.mark.parametrize("kw,message", [({"minibatch_discrimination": (0, 5)}, "two integers >= 1"),
                                        ({"minibatch_discrimination": 5}, "two integers >= 1"),
                                        ({"batch_norm": True, "virtual_batch_norm": 8}, "choose one"),
                                        ({"virtual_batch_norm": 1}, "an integer >= 2"),
                                        ({"virtual_batch_norm": 8}, "pass noise")])
def test_the_builders_refuse_bad_technique_settings(kw, message):
    from minigan import models
    with pytest.raises(ValueError, match=message):
        models.toy_networks([2, 8, 2], [2, 8, 1], **kw)


@pytest.mark.parametrize("value,message", [("5", "KERNELSxDIM"), ("ax3", "KERNELSxDIM"), ("0x3", "two integers >= 1"),
                                           (5, "two integers >= 1")])
def test_the_minibatch_discrimination_option_is_checked(value, message):
    with pytest.raises(ValueError, match=message):
        presets.build("ring8", minibatch_discrimination=value)


def test_the_architecture_switches_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.train_main(["ring8", "--iterations", "4", "--m", "16", "--set", "minibatch_discrimination=5x3",
                           "--set", "virtual_batch_norm=8", "--no-figures", "--no-progress",
                           "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["minibatch_discrimination"] == "5x3"
    assert config["options"]["virtual_batch_norm"] == 8 and config["options"]["batch_norm"] == 0
    run, _ = presets.restore_run(str(out / "checkpoint.npz"))
    assert isinstance(run.trainer.G, layers.VirtualBatch)
    assert any(isinstance(la, layers.MinibatchDiscrimination) for la in run.trainer.D.layers)
    for argv, words in [(["--set", "batch_norm=2"], "batch_norm must be 0 or 1"),
                        (["--set", "batch_norm=1", "--set", "virtual_batch_norm=8"], "choose one"),
                        (["--set", "minibatch_discrimination=5by3"], "KERNELSxDIM")]:
        bad = tmp_path / "bad"
        assert cli.train_main(["ring8", *argv, "--no-progress", "--out", str(bad)]) == 2
        err = capsys.readouterr().err
        assert words in err and not bad.exists(), err


def test_the_techniques_train_checkpoint_and_resume_on_an_emulated_gpu(monkeypatch, restore_backend, tmp_path):
    """On the CuPy backend (emulated: tests/fakecupy.py) the averages and the features stay on the
    device; the loss's generator, like every CuPy generator, is re-seeded on resume and says so."""
    import fakecupy
    cp = fakecupy.install(monkeypatch)
    backend.use("cupy")
    try:
        opts = dict(m=16, iterations=6, **TECHNIQUES["all together"])
        run = presets.build("ring8", **opts)
        run.trainer.train(3)
        assert all(isinstance(v, cp.ndarray) for v in run.trainer.g_penalties[0].mean.values())
        path = checkpoint.save(tmp_path / "c.npz", run.trainer, preset="ring8", options=run.options)
        again, ck = presets.restore_run(path)
        assert any("'g_loss' re-seeded" in n for n in ck.notes), ck.notes
        average = again.trainer.d_penalties[0]
        assert average.t == 3 and all(isinstance(v, cp.ndarray) for v in average.mean.values())
        for k, v in run.trainer.d_penalties[0].mean.items():
            assert np.array_equal(average.mean[k].get(), v.get())
        again.trainer.train(2)
        assert again.trainer.iteration == 5 and np.isfinite(again.trainer.history.column("g_loss")).all()
    finally:
        backend.use("numpy")


def test_the_named_mnist_technique_presets_are_mnist_paper_in_the_measured_configuration(tmp_path):
    """mnist-mbd and mnist-fm: mnist-paper with the technique on, Algorithm 1, G's rate 0.2, i.i.d.
    minibatches; every option can still be given, and a checkpoint rebuilds the same run."""
    folder = _write_mnist(tmp_path / "data" / "mnist", 60)
    mbd = presets.build("mnist-mbd", data_dir=str(folder), m=20)
    assert mbd.options["minibatch_discrimination"] == "100x5" and mbd.options["g_lr"] == 0.2
    assert (mbd.trainer.order, mbd.options["sampling"]) == ("sequential", "random")
    assert any(isinstance(layer, layers.MinibatchDiscrimination) for layer in mbd.trainer.D.layers)
    assert "minibatch discrimination in D (100x5)" in mbd.description
    plain = presets.build("mnist-paper", data_dir=str(folder), m=20)
    assert plain.trainer.order == "simultaneous" and plain.options["g_lr"] == 0.1
    fm = presets.build("mnist-fm", data_dir=str(folder), m=20, g_lr=0.05, minibatch_discrimination="4x2")
    assert fm.trainer.config["g_loss"] == "FeatureMatching(layer=3)" and fm.options["g_lr"] == 0.05
    assert fm.options["minibatch_discrimination"] == "4x2"
    fm.trainer.train(2)
    path = checkpoint.save(str(tmp_path / "fm.npz"), fm.trainer, preset="mnist-fm", options=fm.options)
    rebuilt, _ = presets.restore_run(path)
    assert rebuilt.options == fm.options and rebuilt.trainer.iteration == 2
