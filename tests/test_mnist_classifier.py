"""minigan.metrics.classifier: the MNIST feature classifier, its cache, its determinism.

Small ones are trained on generated digits (ten noisy prototypes written as IDX files, read
by the same load_mnist the real one uses) in well under a second each. The real classifier
(98.5% or more on the MNIST test set) takes minutes to train on 2 cores, too long for the
suite: ``test_real_classifier`` checks it only when it is already cached for the data in
``MINIGAN_DATA`` (``python benchmarks/mnist_classifier.py`` trains it), and skips, saying so,
otherwise.
"""
import os

import numpy as np
import pytest

from minigan import backend

from minigan.data import mnist
from minigan.metrics import classifier as clf_mod
from minigan.metrics import mnist_classifier, MNISTClassifier, ClassifierNotCached

SMALL = dict(hidden=[32], features=16, epochs=4, m=10, lr=1e-3, keep_input=0.9, keep_hidden=0.9)


@pytest.fixture
def blobs(tmp_path, monkeypatch):
    """A data folder of 300 training and 100 test 'digits': ten random prototype images,
    each row one of them plus noise, labelled by its prototype."""
    monkeypatch.delenv("MINIGAN_DATA", raising=False)
    rng = np.random.default_rng(3)
    protos = rng.random((10, 784))
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)

    def write(prefix, n):
        y = np.arange(n) % 10
        x = np.clip(protos[y] + 0.3 * rng.standard_normal((n, 784)), 0, 1)
        mnist.write_idx(folder / f"{prefix}-images-idx3-ubyte", (255 * x).astype(np.uint8).reshape(n, 28, 28))
        mnist.write_idx(folder / f"{prefix}-labels-idx1-ubyte", y.astype(np.uint8))
        return (255 * x).astype(np.uint8) / np.float32(255), y

    write("train", 300)
    test = write("t10k", 100)
    return str(tmp_path / "data"), test


@pytest.fixture
def count_training(monkeypatch):
    calls = []
    real = clf_mod._train

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(clf_mod, "_train", counted)
    return calls


def small(data_dir, cache, **kw):
    return mnist_classifier(data_dir=data_dir, cache_dir=cache, **{**SMALL, **kw})


def test_trains_then_reuses_the_cache(blobs, tmp_path, count_training):
    data_dir, (tx, ty) = blobs
    cache = tmp_path / "cache"
    first = small(data_dir, cache)
    assert first.trained and len(count_training) == 1
    assert first.path == cache / "mnist_classifier_seed0.npz" and first.path.exists()
    assert first.test_accuracy > 0.8                       # the blobs are easy (chance: 0.1)
    assert first.test_accuracy == pytest.approx(first.accuracy(tx, ty))
    assert len(first.history) == SMALL["epochs"]
    second = small(data_dir, cache)
    assert not second.trained and len(count_training) == 1        # loaded, not trained
    assert second.settings == first.settings and second.test_accuracy == first.test_accuracy
    np.testing.assert_array_equal(second.features(tx), first.features(tx))
    np.testing.assert_array_equal(second.history.table(), first.history.table())
    with np.load(first.path, allow_pickle=False) as z:            # no pickles in the file
        assert "header" in z.files and float(z["test_accuracy"]) == first.test_accuracy


def test_changed_settings_or_seed_or_retrain_train_again(blobs, tmp_path, count_training):
    data_dir, _ = blobs
    cache = tmp_path / "cache"
    small(data_dir, cache)
    changed = small(data_dir, cache, epochs=2)
    assert changed.trained and len(count_training) == 2 and changed.settings["epochs"] == 2
    assert not small(data_dir, cache, epochs=2).trained               # the file now holds epochs=2
    assert small(data_dir, cache).trained and len(count_training) == 3   # back to 4: retrained, not trusted
    assert small(data_dir, cache, retrain=True).trained and len(count_training) == 4
    other_seed = small(data_dir, cache, seed=1)
    assert other_seed.trained and other_seed.path.name == "mnist_classifier_seed1.npz"


def test_other_data_is_not_trusted(blobs, tmp_path, count_training):
    data_dir, _ = blobs
    cache = tmp_path / "cache"
    small(data_dir, cache)
    fewer = small(data_dir, cache, n_train=200)                   # another training set
    assert fewer.trained and len(count_training) == 2
    assert not small(data_dir, cache, n_train=200).trained
    path = os.path.join(data_dir, "mnist", "train-labels-idx1-ubyte")
    y = mnist.read_idx(path)
    mnist.write_idx(path, (y + 1) % 10)                           # same settings, other labels
    assert small(data_dir, cache, n_train=200).trained and len(count_training) == 3


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "wrong_shape"])
def test_a_damaged_cache_file_is_retrained(blobs, tmp_path, count_training, damage):
    data_dir, (tx, _) = blobs
    cache = tmp_path / "cache"
    first = small(data_dir, cache)
    raw = first.path.read_bytes()
    if damage == "truncate":
        first.path.write_bytes(raw[:len(raw) // 2])
    elif damage == "garbage":
        first.path.write_bytes(b"not an npz file at all")
    elif damage == "empty":
        first.path.write_bytes(b"")
    else:                                                         # a readable file with a wrong array
        with np.load(first.path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        key = next(k for k in arrays if k.startswith("model/"))
        arrays[key] = np.zeros((3, 3), np.float32)
        np.savez(first.path, **arrays)
    again = small(data_dir, cache)
    assert again.trained and len(count_training) == 2
    np.testing.assert_array_equal(again.features(tx), first.features(tx))   # the same seed: the same net
    assert not small(data_dir, cache).trained                      # and the rewritten file is good


def test_deterministic_from_its_seed(blobs, tmp_path):
    data_dir, (tx, _) = blobs
    a = small(data_dir, tmp_path / "a")
    b = small(data_dir, tmp_path / "b")
    c = small(data_dir, tmp_path / "c", seed=1)
    for (ka, va), (kb, vb) in zip(a.network.state_dict().items(), b.network.state_dict().items()):
        assert ka == kb
        np.testing.assert_array_equal(backend.to_host(va), backend.to_host(vb))
    np.testing.assert_array_equal(a.history.table(), b.history.table())
    assert not np.array_equal(backend.to_host(a.features(tx)), backend.to_host(c.features(tx)))


def test_features_and_probabilities(blobs, tmp_path):
    data_dir, (tx, ty) = blobs
    clf = small(data_dir, tmp_path / "cache")
    f = clf.features(tx)
    assert isinstance(f, np.ndarray) and f.dtype == np.float64 and f.shape == (100, SMALL["features"])
    assert (f >= 0).all() and f.std() > 0                          # after the feature layer's ReLU
    np.testing.assert_array_equal(clf.features(tx), f)             # eval mode: no dropout, twice the same
    np.testing.assert_array_equal(clf.features(tx.reshape(-1, 28, 28)), f)   # images as 28 x 28 too
    clf.block = 7                                                  # blocks do not change a row
    np.testing.assert_allclose(clf.features(tx), f, rtol=1e-5, atol=1e-5)   # float32 sums
    p = clf.probabilities(tx)
    assert p.shape == (100, 10) and p.dtype == np.float64
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-9)
    np.testing.assert_array_equal(clf.probabilities(tx), p)
    assert (p.argmax(1) == clf.predict(tx)).all()
    assert clf.features(tx[:0]).shape == (0, SMALL["features"])
    assert all(layer.training for layer in clf.network.layers)     # its own mode given back
    with pytest.raises(ValueError, match="784"):
        clf.features(np.zeros((2, 100)))


def test_without_training_allowed_it_says_so(blobs, tmp_path):
    data_dir, _ = blobs
    with pytest.raises(ClassifierNotCached):
        small(data_dir, tmp_path / "cache", allow_training=False)
    small(data_dir, tmp_path / "cache")
    assert isinstance(small(data_dir, tmp_path / "cache", allow_training=False), MNISTClassifier)
    with pytest.raises(TypeError, match="unknown classifier settings"):
        small(data_dir, tmp_path / "cache", widht=3)


def test_real_classifier():
    """The real one (default settings) on the real MNIST, when it is cached: at least 98.5% on
    the test set, as stored and as measured again from the loaded weights."""
    if not os.environ.get("MINIGAN_DATA"):
        pytest.skip("MINIGAN_DATA is not set: the real MNIST classifier is checked only on the real data")
    try:
        x, y = mnist.load_mnist("test")
    except mnist.MNISTMissingError:
        pytest.skip("no MNIST in MINIGAN_DATA")
    try:
        clf = mnist_classifier(allow_training=False)
    except ClassifierNotCached:
        pytest.skip("the real classifier is not cached (training it takes minutes on 2 cores: "
                    "python benchmarks/mnist_classifier.py trains and caches it)")
    assert clf.test_accuracy >= 0.985
    assert clf.accuracy(x, y) == pytest.approx(clf.test_accuracy, abs=1e-4)
    assert clf.features(x[:500]).shape == (500, 128)
