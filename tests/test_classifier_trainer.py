"""minigan.train.ClassifierTrainer: labelled minibatches, any optimizer, train/eval modes,
held-out accuracy, a history row per epoch, a run determined by its seed."""
import math

import numpy as np
import pytest

from minigan import backend, losses, models, optim
from minigan.layers import Dropout, Linear, ReLU, Sequential
from minigan.train import CLASSIFIER_FIELDS, ClassifierTrainer, TrainingDiverged


dev, host = backend.to_device, backend.to_host      # inputs onto the active backend, results back for asserts


def blobs(n, seed, k=4, dim=6, spread=0.3):
    """n rows around k centres, and their labels, on the host (``dev(*blobs(...))`` for the
    active backend)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(k, dim)) * 2
    y = rng.integers(0, k, n)
    return (centres[y] + spread * rng.standard_normal((n, dim))).astype(np.float32), y


def dev_blobs(n, seed, **kw):
    return tuple(map(dev, blobs(n, seed, **kw)))


def net(seed=1, dropout=False):
    """Linear - ReLU - [dropout, on a generator of the active backend seeded from ``seed``'s
    stream] - Linear."""
    rng = np.random.default_rng(seed)
    layers = [Linear(6, 16, rng=rng, dtype=np.float32), ReLU()]
    if dropout:
        layers.append(Dropout(0.5, rng=int(rng.integers(1 << 30))))
    return Sequential(*layers, Linear(16, 4, rng=rng, dtype=np.float32))


@pytest.mark.parametrize("make_opt", [lambda m: optim.SGD(m, 0.1, 0.9), lambda m: optim.Adam(m, lr=1e-2)],
                         ids=["sgd", "adam"])
def test_learns_separable_classes_and_scores_the_held_out_set(make_opt):
    x, y = dev_blobs(600, 1)
    xv, yv = dev_blobs(300, 2)
    model = net()
    trainer = ClassifierTrainer(model, make_opt(model), x, y, m=50, valid=(xv, yv), seed=0)
    before = trainer.accuracy(xv, yv)
    rows = trainer.train(5)
    assert len(rows) == 5 and trainer.epoch == 5 and trainer.iteration == 5 * 12
    assert trainer.history.fields == CLASSIFIER_FIELDS and list(trainer.history) == rows
    assert rows[-1]["valid_accuracy"] > 0.97 > before
    assert rows[-1]["valid_accuracy"] == trainer.accuracy(xv, yv)
    assert rows[-1]["loss"] < rows[0]["loss"] and rows[-1]["valid_loss"] < 0.2
    assert 0 <= rows[0]["accuracy"] <= 1 and rows[0]["iteration"] == 12 and rows[0]["epoch"] == 1
    assert np.array_equal(host(trainer.predict(xv)), host(trainer.probabilities(xv)).argmax(axis=1))
    assert np.allclose(host(trainer.probabilities(xv)).sum(axis=1), 1, rtol=1e-5)


def test_a_step_is_the_mean_cross_entropy_gradient():
    """One step of plain SGD moves every parameter by -lr * d/dtheta mean CE (a hand-built backward)."""
    x, y = blobs(8, 3)
    model = net()
    W1, b1, W2, b2 = (host(p).astype(np.float64) for p in model.params.values())
    trainer = ClassifierTrainer(model, optim.SGD(model, lr=0.5), dev(x), dev(y), m=8)
    loss, right = trainer.step(dev(x), dev(y))
    h = np.maximum(x @ W1 + b1, 0)
    logits = h @ W2 + b2
    want_loss, g = losses.softmax_cross_entropy(logits, y)
    dh = (g @ W2.T) * (h > 0)
    want = [W1 - 0.5 * x.T @ dh, b1 - 0.5 * dh.sum(0), W2 - 0.5 * h.T @ g, b2 - 0.5 * g.sum(0)]
    for p, w in zip(model.params.values(), want):
        assert np.allclose(host(p), w, rtol=1e-4, atol=1e-6)
    assert float(loss) == pytest.approx(float(want_loss), rel=1e-5)
    assert int(right) == int((logits.argmax(1) == y).sum())


def test_same_seed_same_run_and_the_seed_decides_the_order():
    x, y = dev_blobs(200, 4)

    def run(seed):
        model = net(dropout=True)
        ClassifierTrainer(model, optim.SGD(model, 0.05, 0.5), x, y, m=20, seed=seed).train(2)
        return [host(p).copy() for p in model.params.values()]
    a, b, c = run(0), run(0), run(1)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not all(np.array_equal(p, q) for p, q in zip(a, c))


def test_dropout_trains_in_training_mode_and_predicts_in_eval_mode():
    x, y = dev_blobs(100, 5)
    model = net(dropout=True)
    trainer = ClassifierTrainer(model, optim.SGD(model, 0.05), x, y, m=10)
    trainer.train(1)
    assert model.training                             # left as it was
    first, second = host(trainer.logits(x)), host(trainer.logits(x))
    assert np.array_equal(first, second)              # no dropout when predicting
    model.eval()
    trainer.logits(x)
    assert not model.training                         # left as it was
    trainer.train(1)                                  # a step puts it back in training mode
    assert model.training
    assert all(not layer._cache for layer in model.layers)


def test_the_last_partial_minibatch_is_left_out_and_eval_runs_in_blocks():
    x, y = dev_blobs(105, 6)
    model = net()
    trainer = ClassifierTrainer(model, optim.SGD(model, 0.05), x, y, m=10, eval_batch=7)
    trainer.train(1)
    assert trainer.iteration == 10
    whole = host(ClassifierTrainer(model, optim.SGD(model, 0.05), x, y, m=10, eval_batch=1000).logits(x))
    assert np.allclose(host(trainer.logits(x)), whole, rtol=1e-6) and trainer.logits(x).shape == (105, 4)


def test_penalties_add_their_gradient_and_their_value():
    x, y = dev_blobs(40, 7)
    plain, decayed = net(), net()
    ClassifierTrainer(plain, optim.SGD(plain, 0.1), x, y, m=40).step(x, y)
    before = {k: host(v).copy() for k, v in decayed.params.items()}
    t = ClassifierTrainer(decayed, optim.SGD(decayed, 0.1), x, y, m=40, penalties=[losses.WeightDecay(0.5)])
    loss, _ = t.step(x, y)
    for k in plain.params:
        extra = -0.1 * 0.5 * before[k] if k.endswith("W") else 0.0
        assert np.allclose(host(decayed.params[k]), host(plain.params[k]) + extra, rtol=1e-5, atol=1e-7)
    decay = 0.25 * sum(float((before[k].astype(np.float64) ** 2).sum()) for k in before if k.endswith("W"))
    model_loss = losses.softmax_cross_entropy(net().forward(x), y)[0]
    assert float(loss) == pytest.approx(float(model_loss) + decay, rel=1e-5)


def test_a_nan_loss_stops_the_run():
    x, y = dev_blobs(20, 8)
    model = net()
    trainer = ClassifierTrainer(model, optim.SGD(model, 0.1), x, y, m=10,
                                loss=lambda a, lab: (np.float32(math.nan), np.zeros_like(a)))
    with pytest.raises(TrainingDiverged, match="loss"):
        trainer.train(1)


def test_bad_arguments_are_refused():
    x, y = dev_blobs(20, 9)
    model, other = net(), net()
    with pytest.raises(ValueError, match="optimizer must be built on the model"):
        ClassifierTrainer(model, optim.SGD(other, 0.1), x, y)
    with pytest.raises(ValueError, match="same number"):
        ClassifierTrainer(model, optim.SGD(model, 0.1), x, y[:10])
    with pytest.raises(ValueError, match="minibatch size"):
        ClassifierTrainer(model, optim.SGD(model, 0.1), x, y, m=21)
    with pytest.raises(ValueError, match="epochs"):
        ClassifierTrainer(model, optim.SGD(model, 0.1), x, y, m=10).train(-1)


def test_a_model_from_the_package_builders_trains_too():
    x, y = dev_blobs(200, 10)
    model = models.mlp([6, 12, 4], rng=3, dtype=np.float32)
    trainer = ClassifierTrainer(model, optim.Adam(model, lr=1e-2), x, y, m=20)
    trainer.train(3)
    assert trainer.accuracy(x, y) > 0.95


def test_on_the_emulated_gpu_it_trains_as_on_the_host(monkeypatch, restore_backend):
    """CuPy's rules (tests/fakecupy.py: no implicit host copies, no mixing): the data, labels
    and network on the device give the numbers the host gives, with a penalty; the
    classification losses take labels from the host. Starts on NumPy whatever the run's backend:
    its reference run is the host's."""
    import fakecupy
    restore_backend.use("numpy")
    x, y = blobs(120, 11)
    host = net()
    ClassifierTrainer(host, optim.SGD(host, 0.1, 0.5), x, y, m=20, seed=3,
                      penalties=[losses.WeightDecay(1e-3)]).train(2)
    cp = fakecupy.install(monkeypatch)
    backend.use("cupy")
    dev_model = net()                                 # built on the device, same seeds
    xd, yd = cp.asarray(x), cp.asarray(y)
    trainer = ClassifierTrainer(dev_model, optim.SGD(dev_model, 0.1, 0.5), xd, yd, m=20, seed=3,
                                penalties=[losses.WeightDecay(1e-3)], valid=(xd, yd))
    rows = trainer.train(2)
    for k, p in dev_model.params.items():
        assert type(p).__module__ == "cupy"
        np.testing.assert_allclose(p.get(), host.params[k], rtol=1e-5, atol=1e-6)
    assert 0 <= rows[-1]["valid_accuracy"] <= 1 and type(trainer.predict(xd)).__module__ == "cupy"
    value, grad = losses.softmax_cross_entropy(cp.asarray(np.zeros((3, 2))), np.array([0, 1, 1]))
    assert float(value) == pytest.approx(np.log(2)) and type(grad).__module__ == "cupy"


def test_a_checkpointed_run_resumes_bit_identically(tmp_path, restore_backend):
    """On NumPy whatever the run's backend: a bit-identical resume needs the generators' states,
    which CuPy's generators do not expose (a CuPy resume re-seeds them)."""
    from minigan import checkpoint
    restore_backend.use("numpy")
    x, y = blobs(400, 1)
    xv, yv = blobs(100, 2)

    def run():
        model = net(dropout=True)
        return ClassifierTrainer(model, optim.SGD(model, 0.05, 0.9), x, y, m=32, valid=(xv, yv), seed=4,
                                 penalties=[losses.WeightDecay(1e-3)])
    whole = run()
    whole.train(4)
    half = run()
    half.train(2)
    path = checkpoint.save(tmp_path / "clf.npz", half)
    with np.load(path, allow_pickle=False) as z:
        assert {"model/0.W", "opt/velocity/0.W", "rng/trainer", "rng/model/2", "history"} <= set(z.files)
    resumed = run()
    assert checkpoint.load(path, resumed).notes == []
    assert resumed.epoch == 2 and resumed.iteration == half.iteration and resumed.opt.t == half.opt.t
    resumed.train(2)
    assert resumed.history == whole.history
    assert all(np.array_equal(whole.model.params[k], resumed.model.params[k]) for k in whole.model.params)
    # a fresh shuffle generator instead of the saved one gives another run: the test can fail
    other = run()
    checkpoint.load(path, other)
    other.rng = np.random.default_rng(0)
    other.train(2)
    assert other.history != whole.history


def test_a_state_of_another_model_or_optimizer_is_refused_and_changes_nothing(tmp_path):
    from minigan import checkpoint
    x, y = dev_blobs(100, 1)
    model = net()
    trainer = ClassifierTrainer(model, optim.SGD(model, 0.05), x, y, m=20)
    trainer.train(1)
    path = checkpoint.save(tmp_path / "clf.npz", trainer)
    wide = Sequential(Linear(6, 8, rng=0, dtype=np.float32), ReLU(), Linear(8, 4, rng=1, dtype=np.float32))
    other = ClassifierTrainer(wide, optim.SGD(wide, 0.05), x, y, m=20)
    before = {k: host(v).copy() for k, v in wide.params.items()}
    with pytest.raises(checkpoint.CheckpointError, match=r"0\.W"):
        checkpoint.load(path, other)
    assert all(np.array_equal(before[k], host(wide.params[k])) for k in before) and other.epoch == 0
    model2 = net()
    with pytest.raises(checkpoint.CheckpointError, match=r"optimizer is SGD, this run's Adam"):
        checkpoint.load(path, ClassifierTrainer(model2, optim.Adam(model2), x, y, m=20))
