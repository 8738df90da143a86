"""benchmarks/sample_statistics.py: each statistic against its definition on inputs worked by hand."""
import importlib.util
import os
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "benchmarks"))
spec = importlib.util.spec_from_file_location("sample_statistics",
                                              os.path.join(REPO, "benchmarks", "sample_statistics.py"))
stats = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stats)


def test_nearest_distance_is_brute_force(rng):
    x, train = rng.random((37, 784)), rng.random((120, 784))
    want = np.sqrt(((x[:, None, :] - train[None]) ** 2).sum(-1)).min(1).mean()
    assert stats.nearest_distance(x, train, block=10) == pytest.approx(want, rel=1e-5)
    assert stats.nearest_distance(train[:5], train) == pytest.approx(0, abs=1e-2)


class OneHot:
    def __init__(self, classes):
        self.classes = classes

    def probabilities(self, x):
        return np.eye(10)[self.classes]


def test_classifier_statistics_extremes():
    every_digit = stats.classifier_statistics(OneHot(np.arange(100) % 10), None)
    assert every_digit["conf"] == pytest.approx(1) and every_digit["classes"] == pytest.approx(0.1)
    assert every_digit["score"] == pytest.approx(10, rel=1e-6)     # each sample sure, all ten digits
    one_digit = stats.classifier_statistics(OneHot(np.full(100, 3)), None)
    assert one_digit["score"] == pytest.approx(1, rel=1e-6) and one_digit["classes"] == 1.0

    class Unsure:
        def probabilities(self, x):
            return np.full((50, 10), 0.1)
    unsure = stats.classifier_statistics(Unsure(), None)
    assert unsure["conf"] == pytest.approx(0.1) and unsure["score"] == pytest.approx(1, rel=1e-6)


def test_the_classifier_learns_separable_data(tmp_path, rng, restore_backend):
    """Ten well-separated blobs in 784 dimensions: the network must label fresh points right,
    and survive a save and load."""
    restore_backend.use("numpy")                   # host arrays below, whatever MINIGAN_BACKEND says
    centres = rng.random((10, 784)).astype(np.float32)
    y = rng.integers(0, 10, 2000)
    x = centres[y] + 0.05 * rng.standard_normal((2000, 784)).astype(np.float32)
    clf = stats.Classifier().fit(x[:1500], y[:1500], epochs=3)
    assert (clf.probabilities(x[1500:]).argmax(1) == y[1500:]).mean() > 0.95
    clf.save(tmp_path / "c.npz")
    again = stats.Classifier.load(tmp_path / "c.npz")
    assert np.array_equal(again.probabilities(x[1500:]), clf.probabilities(x[1500:]))
