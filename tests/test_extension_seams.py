"""The seams the roadmap's techniques need, checked on the core as it is.

Improved Techniques for Training GANs (Salimans et al. 2016) and the later issues
ask three things of the core that Algorithm 1 itself does not:

* feature matching trains G on D's *intermediate* features f(x), so a part of D
  must be usable on its own, sharing D's parameters, with D held fixed;
* minibatch discrimination looks across the rows of one batch, so D must see the
  real and the fake batch as two separate forwards, never one concatenated batch;
* a G loss other than the paper's two (written, for now, as a GAN subclass's
  ``g_step``) must be gradient-checked through a frozen D with the same tool as
  the built-in ones, ``gradcheck.check_generator_step``.

These tests hold the core to that, so the techniques fit without a rewrite.
"""
import numpy as np
import pytest

from minigan import backend, data, models, optim
from minigan.gan import GAN
from minigan.gradcheck import check_generator_step
from minigan.layers import Dropout, Layer, Linear, Maxout, ReLU, Sequential, no_grad


@pytest.fixture(autouse=True)
def _numpy_backend():
    backend.use("numpy")


def feature_matching_loss(f_real_mean):
    """||E_x f(x) - (1/m) sum_i f(G(z_i))||^2 and its gradient dL/df(G(z_i)) =
    -2 (E_x f(x) - mean_fake) / m (Salimans et al. 2016, Sec. 3.1)."""
    def loss(f_fake):
        diff = f_real_mean - f_fake.mean(axis=0)
        grad = np.broadcast_to(-2.0 * diff / len(f_fake), f_fake.shape).copy()
        return float(diff @ diff), grad
    return loss


def paper_like_D(rng, n_in=5, dtype=np.float64):
    return Sequential(Dropout(0.8, scale=1.25, rng=rng),
                      Maxout(n_in, 4, 3, irange=0.5, rng=rng, dtype=dtype),
                      Dropout(0.5, scale=2.0, rng=rng),
                      Maxout(4, 3, 2, irange=0.5, rng=rng, dtype=dtype),
                      Linear(3, 1, irange=0.5, rng=rng, dtype=dtype))


def test_a_view_of_D_is_D_itself():
    """Sequential(*D.layers[:-1]) holds D's layers, not copies: a D update moves it."""
    rng = np.random.default_rng(0)
    D = paper_like_D(rng)
    features = Sequential(*D.layers[:-1])
    for name, p in features.params.items():
        assert p is D.params[name]
    x = rng.normal(size=(6, 5))
    with no_grad():
        before = features.eval().forward(x)
    opt = optim.SGD(D, lr=0.5, momentum=0.0)
    D.zero_grad()
    D.forward(x)
    D.backward(np.ones((6, 1)))
    opt.step()
    with no_grad():
        assert not np.allclose(features.forward(x), before)


def test_feature_matching_gradient_through_a_view_of_D():
    """G's gradient of the feature-matching loss, through D's first layers with D
    frozen (dropout masks and all), against central differences; D's grads stay 0."""
    rng = np.random.default_rng(1)
    G = Sequential(Linear(3, 6, irange=0.5, rng=rng, dtype=np.float64), ReLU(),
                   Linear(6, 5, irange=0.5, rng=rng, dtype=np.float64))
    D = paper_like_D(rng)
    features = Sequential(*D.layers[:-1])
    with no_grad():                      # E_x f(x): a constant of G's step
        f_real_mean = features.eval().forward(rng.normal(size=(8, 5))).mean(axis=0)
    features.train()
    res = check_generator_step(G, features, rng.uniform(-1, 1, (4, 3)),
                               g_loss=feature_matching_loss(f_real_mean), seed=1)
    assert res.passed, res
    assert {r.name for r in res.rows} >= {"z", "D.grads (frozen)", *G.params}
    assert next(r for r in res.rows if r.name == "D.grads (frozen)").passed


def test_a_wrong_feature_matching_gradient_fails_the_check():
    """The check above can fail: a gradient with the sign flipped is caught."""
    rng = np.random.default_rng(1)
    G = Sequential(Linear(3, 6, irange=0.5, rng=rng, dtype=np.float64), ReLU(),
                   Linear(6, 5, irange=0.5, rng=rng, dtype=np.float64))
    D = paper_like_D(rng)
    features = Sequential(*D.layers[:-1])
    right = feature_matching_loss(np.full(3, 0.3))

    def wrong(f_fake):
        value, grad = right(f_fake)
        return value, -grad

    assert not check_generator_step(G, features, rng.uniform(-1, 1, (4, 3)), g_loss=wrong).passed


class BatchSpy(Layer):
    """Identity that records the number of rows of every forward."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def forward(self, x):
        self.rows.append(len(x))
        self._save()
        return x

    def backward(self, grad_out):
        self._load()
        return grad_out


@pytest.mark.parametrize("order", ["sequential", "simultaneous"])
def test_D_sees_the_real_and_the_fake_batch_apart(order):
    """Every forward of D during training holds one batch of m rows: real and fake
    are never concatenated (what minibatch discrimination needs)."""
    spy = BatchSpy()
    inner = models.mlp([1, 8, 1], rng=1, dtype=np.float32)
    D = Sequential(spy, *inner.layers)
    G = models.mlp([1, 8, 1], rng=0, dtype=np.float32)
    gan = GAN(G, D, data.gaussian_1d(dtype=np.float32), data.uniform_noise(1, dtype=np.float32),
              d_optimizer=optim.SGD(D, 0.05, 0.5), g_optimizer=optim.SGD(G, 0.05, 0.5),
              m=7, order=order, seed=0)
    gan.train(3)
    # sequential: D(x), D(G(z)) for D's step, D(G(z')) for G's; simultaneous: D(x), D(G(z))
    assert spy.rows == [7] * (3 if order == "sequential" else 2) * 3
    assert not spy._cache
