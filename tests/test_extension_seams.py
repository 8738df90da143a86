"""The seams the roadmap's techniques need, checked on the core as it is.

Improved Techniques for Training GANs (Salimans et al. 2016) and the later issues
ask these things of the core that Algorithm 1 itself does not:

* feature matching trains G on D's *intermediate* features f(x), so a part of D
  must be usable on its own, sharing D's parameters, with D held fixed; its loss
  is an argument of the trainer, ``GAN(g_loss=fn)`` with ``fn.network`` that part of D;
* minibatch discrimination looks across the rows of one batch, so D must see the
  real and the fake batch as two separate forwards, never one concatenated batch;
* a G loss other than the paper's two must be gradient-checked through a frozen D
  with the same tool as the built-in ones, ``gradcheck.check_generator_step``.

the conditional GAN (Mirza & Osindero 2014) asks that G and D take a label
alongside z and x; the semi-supervised K+1-class D adds a labeled loss to D's
step through the same layers, as a penalty of D's step (``GAN(d_penalties=[
losses.SupervisedLoss(...)])``). No test subclasses the trainer: losses and
penalties are its arguments. These tests hold the core to that, so the
techniques fit without a rewrite.
"""
import numpy as np
import pytest

from minigan import backend, data, fast, losses, models, optim
from minigan.train import GAN
from minigan.gradcheck import check_generator_step, check_layer
from minigan.layers import Dropout, Layer, Linear, Maxout, ReLU, Sequential, no_grad


dev, host = backend.to_device, backend.to_host      # inputs onto the active backend, results back for asserts


def feature_matching_loss(f_real_mean):
    """||E_x f(x) - (1/m) sum_i f(G(z_i))||^2 and its gradient dL/df(G(z_i)) =
    -2 (E_x f(x) - mean_fake) / m (Salimans et al. 2016, Sec. 3.1)."""
    def loss(f_fake):
        xp = backend.array_module(f_fake)
        diff = f_real_mean - f_fake.mean(axis=0)
        grad = xp.broadcast_to(-2.0 * diff / len(f_fake), f_fake.shape).copy()
        return float(diff @ diff), grad
    return loss


def paper_like_D(rng, n_in=5, dtype=np.float64):
    """dropout - maxout - dropout - maxout - linear; the dropouts draw from generators on the
    active backend, seeded from ``rng``."""
    return Sequential(Dropout(0.8, scale=1.25, rng=_seed(rng)),
                      Maxout(n_in, 4, 3, irange=0.5, rng=rng, dtype=dtype),
                      Dropout(0.5, scale=2.0, rng=_seed(rng)),
                      Maxout(4, 3, 2, irange=0.5, rng=rng, dtype=dtype),
                      Linear(3, 1, irange=0.5, rng=rng, dtype=dtype))


def _seed(rng):
    return int(rng.integers(1 << 30))


def test_a_view_of_D_is_D_itself():
    """Sequential(*D.layers[:-1]) holds D's layers, not copies: a D update moves it."""
    rng = np.random.default_rng(0)
    D = paper_like_D(rng)
    features = Sequential(*D.layers[:-1])
    for name, p in features.params.items():
        assert p is D.params[name]
    x = dev(rng.normal(size=(6, 5)))
    with no_grad():
        before = host(features.eval().forward(x))
    opt = optim.SGD(D, lr=0.5, momentum=0.0)
    D.zero_grad()
    D.forward(x)
    D.backward(dev(np.ones((6, 1))))
    opt.step()
    with no_grad():
        assert not np.allclose(host(features.forward(x)), before)


def test_feature_matching_gradient_through_a_view_of_D():
    """G's gradient of the feature-matching loss, through D's first layers with D
    frozen (dropout masks and all), against central differences; D's grads stay 0."""
    rng = np.random.default_rng(1)
    G = Sequential(Linear(3, 6, irange=0.5, rng=rng, dtype=np.float64), ReLU(),
                   Linear(6, 5, irange=0.5, rng=rng, dtype=np.float64))
    D = paper_like_D(rng)
    features = Sequential(*D.layers[:-1])
    with no_grad():                      # E_x f(x): a constant of G's step
        f_real_mean = features.eval().forward(dev(rng.normal(size=(8, 5)))).mean(axis=0)
    features.train()
    res = check_generator_step(G, features, dev(rng.uniform(-1, 1, (4, 3))),
                               g_loss=feature_matching_loss(f_real_mean), seed=1)
    assert res.passed, res
    assert {r.name for r in res.rows} >= {"z", "D.grads (frozen)", *G.params}
    assert next(r for r in res.rows if r.name == "D.grads (frozen)").passed


def test_check_generator_step_reads_the_network_of_the_g_loss():
    """Given D itself and a g_loss with a ``network`` (D's feature layers), the check sends
    G(z) through that network, as the trainer does (``GAN._g_reads``)."""
    rng = np.random.default_rng(1)
    G = Sequential(Linear(3, 6, irange=0.5, rng=rng, dtype=np.float64), ReLU(),
                   Linear(6, 5, irange=0.5, rng=rng, dtype=np.float64))
    D = paper_like_D(rng)
    features = Sequential(*D.layers[:-1])
    g_loss = feature_matching_loss(dev(np.full(3, 0.3)))
    g_loss.network = features
    res = check_generator_step(G, D, dev(rng.uniform(-1, 1, (4, 3))), g_loss=g_loss, seed=1)
    assert res.passed, res
    frozen_row = next(r for r in res.rows if r.name == "D.grads (frozen)")
    assert frozen_row.shape == (sum(p.size for p in features.params.values()),)


def test_a_wrong_feature_matching_gradient_fails_the_check():
    """The check above can fail: a gradient with the sign flipped is caught."""
    rng = np.random.default_rng(1)
    G = Sequential(Linear(3, 6, irange=0.5, rng=rng, dtype=np.float64), ReLU(),
                   Linear(6, 5, irange=0.5, rng=rng, dtype=np.float64))
    D = paper_like_D(rng)
    features = Sequential(*D.layers[:-1])
    right = feature_matching_loss(dev(np.full(3, 0.3)))

    def wrong(f_fake):
        value, grad = right(f_fake)
        return value, -grad

    assert not check_generator_step(G, features, dev(rng.uniform(-1, 1, (4, 3))), g_loss=wrong).passed


class FeatureMatching:
    """G's loss of Salimans et al. (2016, Sec. 3.1), given to the trainer as an argument:
    ``network`` (D's layers but the last) is what G(z) goes through in G's step, held
    fixed as D is; E_x f(x) is taken, with D fixed too, on a real minibatch of its own
    (drawn with a generator of the active backend)."""

    def __init__(self, features, data_sampler, m, seed):
        self.network, self.data_sampler, self.m = features, data_sampler, m
        self.rng = backend.default_rng(seed)

    def __call__(self, f_fake):
        with no_grad():
            f_real_mean = self.network.forward(self.data_sampler(self.m, self.rng)).mean(axis=0)
        return feature_matching_loss(f_real_mean)(f_fake)


@pytest.mark.parametrize("library", [False, True])
def test_feature_matching_trains_G_through_the_trainer(library):
    """GAN(g_loss=FeatureMatching(...)): G's step descends the feature-matching loss through
    D's first layers, D's parameters do not move in it, and G's samples move onto the data
    (N(4, 0.5^2)) from where they start (about 0). The sketch above, and the library's
    ``losses.FeatureMatching``, the one-liner the seam was for (the mean over the 32 features:
    a gradient 1/32 of the sketch's, which Adam's steps, scaled by the gradient's size, do not see)."""
    f64 = np.float64
    G = models.mlp([1, 16, 1], rng=0, dtype=f64)
    D = models.mlp([1, 32, 32, 1], activation="leaky_relu", rng=1, dtype=f64)
    data_sampler = data.gaussian_1d(dtype=f64)
    if library:
        fm = losses.FeatureMatching(D, len(D.layers) - 2, data_sampler, m=64, seed=5)
    else:
        fm = FeatureMatching(Sequential(*D.layers[:-1]), data_sampler, 64, seed=5)
    gan = GAN(G, D, data_sampler, data.uniform_noise(1, dtype=f64), d_optimizer=optim.Adam(D, lr=1e-3),
              g_optimizer=optim.Adam(G, lr=1e-3), m=64, g_loss=fm, seed=0)
    assert gan.config["g_loss"] == ("FeatureMatching(layer=3, m=64)" if library else "FeatureMatching")
    before = {k: host(v).copy() for k, v in D.params.items()}
    row = gan.g_step()
    assert all(np.array_equal(before[k], host(v)) for k, v in D.params.items())  # D held fixed
    assert row["g_loss"] > 0 and row["g_grad_norm"] > 0
    start = float(gan.sample(500).mean())
    gan.train(400)
    end = gan.sample(500)
    assert abs(start - 4) > 3 and abs(float(end.mean()) - 4) < 0.5, (start, float(end.mean()))
    assert not any(layer._cache for layer in D.layers)


class BatchSpy(Layer):
    """Identity that records the number of rows of every forward."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def forward(self, x):
        self.rows.append(len(x))
        self._save()
        return x

    def backward(self, grad_out, *, input_grad=True):
        self._load()
        return grad_out if input_grad else None


class WeightedBatchSpy(BatchSpy):
    """A BatchSpy with a parameter (never moved: its gradient stays zero): the one pass
    gives the layers with parameters the 2m rows."""

    def __init__(self):
        super().__init__()
        self._add_param("unused", dev(np.zeros(1, np.float32)))


def _spied_gan(order, couples_rows, spy=None):
    spy = BatchSpy() if spy is None else spy
    spy.couples_rows = couples_rows
    inner = models.mlp([1, 8, 1], rng=1, dtype=np.float32)
    D = Sequential(spy, *inner.layers)
    G = models.mlp([1, 8, 1], rng=0, dtype=np.float32)
    gan = GAN(G, D, data.gaussian_1d(dtype=np.float32), data.uniform_noise(1, dtype=np.float32),
              d_optimizer=optim.SGD(D, 0.05, 0.5), g_optimizer=optim.SGD(G, 0.05, 0.5),
              m=7, order=order, seed=0)
    return gan, spy


@pytest.mark.parametrize("order", ["sequential", "simultaneous"])
def test_D_sees_the_real_and_the_fake_batch_apart(order):
    """Where a layer of D couples rows (``couples_rows``, as minibatch discrimination),
    every forward of D during training holds one batch of m rows: real and fake are
    never concatenated."""
    gan, spy = _spied_gan(order, couples_rows=True)
    gan.train(3)
    # sequential: D(x), D(G(z)) for D's step, D(G(z')) for G's; simultaneous: D(x), D(G(z))
    assert spy.rows == [7] * (3 if order == "sequential" else 2) * 3
    assert not spy._cache


@pytest.mark.parametrize("order", ["sequential", "simultaneous"])
def test_a_D_whose_rows_stay_apart_sees_both_batches_in_one_pass(order):
    """Where no layer couples rows, the fast path (minigan.fast.gan) runs the D step's real
    and fake batch through D's layers with parameters as one pass of 2m rows; with fast
    kernels off, and in the simultaneous order (where G's gradient goes back through D
    too), two passes of m."""
    gan, spy = _spied_gan(order, couples_rows=False, spy=WeightedBatchSpy())
    with fast.enabled(True):
        gan.train(3)
    assert spy.rows == ([14, 7] if order == "sequential" else [7, 7]) * 3
    spy.rows.clear()
    with fast.enabled(False):
        gan.train(3)
    assert spy.rows == [7] * (3 if order == "sequential" else 2) * 3
    assert not spy._cache


# ------------------------------------------------------------------ conditional GAN
class WithLabel(Sequential):
    """(z, y) -> (G(z, y), y): the label rides along, so that D judges the pair. A
    sketch of what the conditional-GAN issue needs, kept here to hold the seam."""

    def __init__(self, inner, n_label):
        super().__init__(inner)
        self.k = n_label

    def forward(self, zy):
        out = self.layers[0].forward(zy)
        return backend.array_module(zy).concatenate([out, zy[:, -self.k:]], axis=1)

    def backward(self, grad_out, *, input_grad=True):
        # d(out, y)/d(z, y): the inner network's Jacobian, plus the identity on the y columns
        grad_in = self.layers[0].backward(grad_out[:, :-self.k], input_grad=input_grad)
        if input_grad:
            grad_in = grad_in.copy()
            grad_in[:, -self.k:] += grad_out[:, -self.k:]
        return grad_in


def test_a_conditional_gan_fits_the_trainer_as_it_is():
    """Mirza & Osindero's cGAN through Algorithm 1 unchanged: the samplers return (x, y) and
    (z, y) side by side, G passes y along, D reads the pair. With y = 0 -> N(-2, 0.3^2) and
    y = 1 -> N(+2, 0.3^2), G learns to follow the label it is given. (The check is that it
    follows the label, not that it fits each class: its spread is still too narrow, and its
    centres swing by up to 0.7 from one block of 500 iterations to the next, as GANs do.)"""
    f64 = np.float64
    xp = backend.xp                                   # the samplers draw with the trainer's generators
    onehot = xp.eye(2)

    def data_sampler(m, rng):
        y = rng.integers(0, 2, size=m)
        x = xp.where(y == 0, -2.0, 2.0) + 0.3 * rng.standard_normal(m)
        return xp.concatenate([x[:, None], onehot[y]], axis=1)

    def noise_sampler(m, rng):
        return xp.concatenate([rng.uniform(-1, 1, (m, 2)), onehot[rng.integers(0, 2, size=m)]], axis=1)

    G = WithLabel(models.mlp([4, 32, 32, 1], rng=0, dtype=f64), 2)
    D = models.mlp([3, 32, 1], activation="leaky_relu", rng=1, dtype=f64)
    gan = GAN(G, D, data_sampler, noise_sampler, d_optimizer=optim.Adam(D, lr=1e-3),
              g_optimizer=optim.Adam(G, lr=1e-3), m=64, seed=0)
    # the gradient G gets through D, with the label's identity path, is right
    res = check_generator_step(G, D, noise_sampler(5, backend.default_rng(2)))
    assert res.passed, res
    z = np.random.default_rng(3).uniform(-1, 1, (500, 2))

    def samples(label):
        zy = np.concatenate([z, np.tile(np.eye(2)[label], (500, 1))], axis=1)
        with no_grad():
            return host(gan.G.eval().forward(dev(zy)))[:, 0]
    before = samples(0), samples(1)
    assert not ((before[0] < 0).all() and (before[1] > 0).all())      # untrained: it does not yet
    gan.G.train()
    gan.train(500)
    for label, side in ((0, -1.0), (1, 1.0)):
        x = samples(label)
        assert (side * x > 0).all() and abs(x.mean() - 2 * side) < 1.0, (label, x.mean(), x.std())


# ------------------------------------------------------------------ semi-supervised, K+1 classes
class LogSumExp(Layer):
    """K class logits l -> the logit of "real": with D(x) = Z / (Z + 1), Z = sum_k exp(l_k)
    (Salimans et al. 2016, Sec. 5), logit D(x) = log Z = lse(l) (``losses.logsumexp``),
    and dL/dl_k = dL/dlogit * softmax(l)_k, its gradient."""

    def forward(self, l):
        lse, softmax = losses.logsumexp(l)
        self._save(softmax)
        return lse[:, None]

    def backward(self, grad_out, *, input_grad=True):
        (softmax,) = self._load()
        return grad_out * softmax if input_grad else None


def test_a_k_plus_1_discriminator_fits_the_trainer_as_it_is():
    """Eight classes on a ring: D's class logits, turned into the "real" logit by LogSumExp,
    are trained by the GAN game and, as a penalty of D's step (``losses.SupervisedLoss``: the
    softmax cross-entropy through D's class logits, added into D.grads before D's one update),
    by 8 labeled points per minibatch drawn from a set of 16 (two per class);
    the classifier then labels fresh points of every class."""
    f64 = np.float64
    assert check_layer(LogSumExp(), dev(np.random.default_rng(0).normal(size=(4, 8)))).passed
    angles = 2 * np.pi * np.arange(8) / 8
    centres = np.stack([np.cos(angles), np.sin(angles)], 1)

    on_device = dev(centres)

    def draw(m, rng):                              # rng: a generator of the active backend
        y = rng.integers(0, 8, size=m)
        return on_device[y] + 0.05 * rng.standard_normal((m, 2)), y
    few_y = np.repeat(np.arange(8), 2)                           # the labeled set: two per class
    few_x = centres[few_y] + 0.05 * np.random.default_rng(7).standard_normal((16, 2))
    few_x, few_y = dev(few_x), dev(few_y)

    def labeled(m, rng):
        i = rng.integers(0, len(few_y), size=m)
        return few_x[i], few_y[i]

    G = models.mlp([2, 32, 32, 2], rng=0, dtype=f64)
    D = Sequential(*models.mlp([2, 32, 8], activation="leaky_relu", rng=1, dtype=f64).layers, LogSumExp())
    classifier = Sequential(*D.layers[:-1])                      # D's class logits: D's own arrays
    gan = GAN(G, D, lambda m, rng: draw(m, rng)[0], lambda m, rng: rng.uniform(-1, 1, (m, 2)),
              d_optimizer=optim.Adam(D, lr=2e-3), g_optimizer=optim.Adam(G, lr=2e-3), m=64, seed=0,
              d_penalties=[losses.SupervisedLoss(classifier, labeled, 8)])
    z = np.random.default_rng(9).uniform(-1, 1, (1000, 2))

    def off_the_ring():                            # mean | |G(z)| - 1 |
        with no_grad():
            return np.abs(np.linalg.norm(host(gan.G.forward(dev(z))), axis=1) - 1).mean()
    start = off_the_ring()
    gan.train(300)
    # the game, through the log-sum-exp logit, pulled G onto the ring (0.77 -> 0.33 measured;
    # with D's GAN loss switched off, d_loss_scale=0, G drifts away instead: 7.6) ...
    assert off_the_ring() < 0.5 * start, (start, off_the_ring())
    # ... and the classifier, the same layers, learned the labels from 16 points
    x, y = draw(800, backend.default_rng(8))
    with no_grad():
        predicted = host(classifier.forward(x).argmax(axis=1))
    assert (predicted == host(y)).mean() > 0.95
    assert not any(layer._cache for layer in gan.D.layers)       # every forward was backpropagated
