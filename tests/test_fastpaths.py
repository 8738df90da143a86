"""Every fast path equals the plain math it stands beside.

Fast kernels (``minigan.fast``), each against its textbook twin: maxout's
max/winner and its gradient routing, the sigmoid with its slope, SGD's fused
step (and the chunked momentum update under it); the registry and its switch;
D's real and fake minibatches as one pass (and the D's that keep two); a whole GAN
run with fast kernels on and off. Layers: the in-place bias add,
backward without dL/dx (``input_grad=False``). Trainer: the gradient norm as
dot products and the fast finiteness check. Speed itself is measured in
benchmarks/, never here.
"""
import copy
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from minigan import train as gan_module
from minigan import backend, fast, layers, losses, models, optim
from minigan.fast import gan as fast_gan
from minigan.fast.gan import both_players_gradients_fast, discriminator_gradients_fast, one_pass_plan
from minigan.fast.maxout import max_over_pieces_fast, route_to_winner_fast
from minigan.layers import Dropout, Layer, Linear, Maxout, ReLU, Sequential, backward_params_only, walk_layers
from minigan.train.gan import both_players_gradients, discriminator_gradients

DTYPES = (np.float32, np.float64)
# the textbook functions themselves, whatever the switch says (a plain call runs the fast twin)
max_over_pieces = layers.max_over_pieces.textbook
route_to_winner = layers.route_to_winner.textbook
dev, host = backend.to_device, backend.to_host      # inputs onto the active backend, results back for asserts


@pytest.fixture(params=[True, False], ids=["fast", "textbook"])
def fast_mode(request):
    """Runs the test with fast kernels on, then off."""
    with fast.enabled(request.param):
        yield request.param


# ----------------------------------------------------------------------------- maxout
def _pieces_cases(rng, dtype):
    """Random z, z with many exact ties (small integers), and a single piece."""
    yield rng.standard_normal((7, 11, 5)).astype(dtype)
    yield rng.integers(-2, 3, (9, 13, 5)).astype(dtype)            # ties everywhere
    yield rng.integers(0, 2, (4, 6, 3)).astype(dtype)
    yield np.zeros((3, 4, 5), dtype)                                 # all pieces tie: piece 0 wins
    yield rng.standard_normal((5, 8, 1)).astype(dtype)               # pieces = 1
    z = rng.standard_normal((6, 10, 4)).astype(dtype)
    z[0, 0] = -np.inf                                                # infinities are fine too
    z[1, 1, 2] = np.inf
    yield z


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_over_pieces_fast_equals_argmax_version(rng, dtype):
    for z in _pieces_cases(rng, dtype):
        y, winner = max_over_pieces(z)
        y_fast, winner_fast = max_over_pieces_fast(z)
        assert y_fast.dtype == y.dtype == dtype
        assert np.array_equal(y_fast, y)
        assert np.array_equal(winner_fast, winner), "ties must go to the first maximal piece"


def test_max_over_pieces_fast_first_piece_wins_a_tie():
    z = np.array([[[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 5.0], [0.0, 1.0, 2.0, 2.0]]], np.float32)
    y, winner = max_over_pieces_fast(z)
    assert y.tolist() == [[3.0, 5.0, 2.0]]
    assert winner.tolist() == [[1, 0, 2]]


@pytest.mark.parametrize("dtype", DTYPES)
def test_route_to_winner_fast_equals_one_hot_product(rng, dtype):
    for pieces in (1, 2, 5):
        winner = rng.integers(0, pieces, (6, 9)).astype(np.int8)
        grad_y = rng.standard_normal((6, 9)).astype(dtype)
        plain = route_to_winner(grad_y, winner, pieces)
        fast = route_to_winner_fast(grad_y, winner, pieces)
        assert fast.dtype == plain.dtype == dtype and fast.shape == (6, 9, pieces)
        assert np.array_equal(fast, plain)


def test_route_to_winner_fast_takes_a_non_contiguous_gradient(rng):
    winner = rng.integers(0, 3, (5, 4))
    grad_y = rng.standard_normal((4, 5)).T                          # a transposed view
    assert np.array_equal(route_to_winner_fast(grad_y, winner, 3), route_to_winner(grad_y, winner, 3))


@pytest.mark.parametrize("dtype", DTYPES)
def test_maxout_layer_equals_the_textbook_formulas(rng, dtype, fast_mode):
    layer = Maxout(6, 4, 3, rng=1, dtype=dtype)
    layer.params["b"][...] = dev(rng.standard_normal(12))
    x = dev(rng.standard_normal((5, 6)).astype(dtype))
    x[0] = 0.0                                                       # a row where z = b for every piece
    W, b = layer.params["W"], layer.params["b"]
    z = (x @ W + b).reshape(5, 4, 3)
    y_plain, winner = max_over_pieces(z)
    assert np.array_equal(host(layer.forward(x)), host(y_plain))

    grad_y = dev(rng.standard_normal((5, 4)).astype(dtype))
    grad_z = route_to_winner(grad_y, winner, 3).reshape(5, 12)
    dx = layer.backward(grad_y)
    np.testing.assert_array_equal(host(dx), host(grad_z @ W.T))
    np.testing.assert_array_equal(host(layer.grads["W"]), host(x.T @ grad_z))
    np.testing.assert_array_equal(host(layer.grads["b"]), host(grad_z.sum(axis=0)))


# ----------------------------------------------------------------------------- Linear
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_in_place_bias_equals_x_w_plus_b(rng, dtype):
    layer = Linear(7, 5, bias=0.3, rng=2, dtype=dtype)
    x = dev(rng.standard_normal((4, 7)).astype(dtype))
    y = layer.forward(x)
    assert y.dtype == dtype
    assert np.array_equal(host(y), host(x @ layer.params["W"] + layer.params["b"]))


# ----------------------------------------------------------------------------- zero_grad, then write
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", [lambda d: Linear(6, 4, rng=0, dtype=d), lambda d: Maxout(6, 4, 3, rng=0, dtype=d)],
                         ids=["Linear", "Maxout"])
def test_first_backward_after_zero_grad_equals_adding_to_zeros(rng, dtype, make):
    """After zero_grad() the weight gradient is written into the zeroed array; a layer
    that was never zero_grad()-ed adds to its (zero) grads instead: the same bits."""
    fast, plain = make(dtype), make(dtype)
    fast.zero_grad()
    assert fast._zeroed == {"W", "b"} and plain._zeroed == set()
    xs = [dev(rng.standard_normal((5, 6)).astype(dtype)) for _ in range(3)]
    for layer in (fast, plain):
        outs = [layer.forward(x) for x in xs]                  # three forwards, three backwards
        for y in reversed(outs):
            layer.backward(backend.array_module(y).ones_like(y))
    for k in ("W", "b"):
        assert fast.grads[k].dtype == dtype
        np.testing.assert_array_equal(host(fast.grads[k]), host(plain.grads[k]))
    assert not fast._zeroed, "after the first backward the grads are no longer known to be zero"


def test_zero_grad_then_backward_resets_every_time(rng):
    lin = Linear(3, 2, rng=0, dtype=np.float64)
    x, g = dev(rng.standard_normal((4, 3))), dev(rng.standard_normal((4, 2)))
    for _ in range(3):
        lin.zero_grad()
        lin.forward(x)
        lin.backward(g)
        np.testing.assert_array_equal(host(lin.grads["W"]), host(x.T @ g))
    W_grad = lin.grads["W"]
    lin.forward(x)
    lin.backward(g)                                            # no zero_grad: accumulates
    assert lin.grads["W"] is W_grad
    np.testing.assert_allclose(host(W_grad), host(2 * (x.T @ g)), rtol=1e-14)


def test_frozen_backward_keeps_the_zeroed_state(rng):
    lin = Linear(3, 2, rng=0, dtype=np.float64)
    lin.zero_grad()
    lin.requires_grad = False
    lin.forward(dev(rng.standard_normal((2, 3))))
    lin.backward(dev(np.ones((2, 2))))                         # no parameter gradient: still all zero
    assert lin._zeroed == {"W", "b"} and not lin.grads["W"].any()   # (a look at grads drops the marks)
    lin.requires_grad = True
    x = dev(rng.standard_normal((2, 3)))
    lin.forward(x)
    lin.backward(dev(np.ones((2, 2))))
    np.testing.assert_array_equal(host(lin.grads["W"]), host(x.T @ dev(np.ones((2, 2)))))


# ----------------------------------------------------------------------------- input_grad=False
def _grads(net):
    return {k: v.copy() for k, v in net.grads.items()}


def _two_copies(net):
    """``net`` and a deep copy that shares its layers' random generators (a CuPy Generator
    cannot be deep-copied; the tests fix the dropout masks, so neither copy draws)."""
    memo = {id(g): g for _, layer in walk_layers(net) for g in layer.generators().values()}
    return net, copy.deepcopy(net, memo)


@pytest.mark.parametrize("make", [
    lambda: Linear(5, 3, rng=0, dtype=np.float64),
    lambda: Maxout(5, 3, 2, rng=0, dtype=np.float64),
    lambda: Sequential(Linear(5, 8, rng=0, dtype=np.float64), ReLU(), Linear(8, 2, rng=1, dtype=np.float64)),
    lambda: models.paper_mnist_discriminator(rng=0, dtype=np.float64),
], ids=["Linear", "Maxout", "G-like", "paper D (dropout in front)"])
def test_backward_without_input_grad_gives_the_same_parameter_gradients(rng, make):
    full, params_only = _two_copies(make())
    n_in = 784 if isinstance(full, Sequential) and isinstance(full.layers[0], Dropout) else 5
    x = dev(rng.random((4, n_in)))
    for net in (full, params_only):
        if isinstance(net, Sequential):
            for d in net.layers:
                if isinstance(d, Dropout):
                    d.fixed_mask = dev(np.random.default_rng(0).random((4, 784 if d is net.layers[0] else 240)) < d.keep)
    g = dev(rng.standard_normal(full.forward(x).shape))
    params_only.forward(x)
    assert full.backward(g) is not None
    assert params_only.backward(g, input_grad=False) is None
    for k, v in _grads(full).items():
        np.testing.assert_array_equal(host(params_only.grads[k]), host(v))
    sub = params_only.layers if isinstance(params_only, Sequential) else [params_only]
    assert all(len(l._cache) == 0 for l in sub), "every cache popped, the dropout in front too"


def test_backward_params_only_on_a_users_layer(rng):
    """A user's layer: every backward takes input_grad; with False it returns None."""

    class Scale(Layer):                       # y = a * x, one parameter
        def __init__(self):
            super().__init__()
            self._add_param("a", dev(np.array([2.0])))

        def forward(self, x):
            self._save(x)
            return self.params["a"] * x

        def backward(self, grad_out, *, input_grad=True):
            (x,) = self._load()
            self._accumulate("a", (grad_out * x).sum().reshape(1))
            return grad_out * self.params["a"] if input_grad else None

    net = Sequential(ReLU(), Scale(), Linear(3, 1, rng=0, dtype=np.float64))
    x, g = dev(rng.random((4, 3))), dev(rng.standard_normal((4, 1)))
    ref = copy.deepcopy(net)
    net.forward(x)
    ref.forward(x)
    ref.backward(g)
    assert backward_params_only(net, g) is None
    for k, v in ref.grads.items():
        np.testing.assert_array_equal(host(net.grads[k]), host(v))
    assert all(len(l._cache) == 0 for l in net.layers)


def test_backward_without_input_grad_on_a_parameter_free_network(rng):
    net = Sequential(ReLU(), Dropout(0.5, rng=0))
    net.forward(dev(rng.random((3, 4))))
    assert net.backward(dev(np.ones((3, 4))), input_grad=False) is None
    assert all(len(l._cache) == 0 for l in net.layers)


def test_frozen_layer_without_input_grad_only_pops_its_cache(rng):
    lin = Linear(3, 2, rng=0, dtype=np.float64)
    lin.requires_grad = False
    lin.forward(dev(rng.random((2, 3))))
    assert lin.backward(dev(np.ones((2, 2))), input_grad=False) is None
    assert lin._cache == [] and not lin.grads["W"].any()


# ----------------------------------------------------------------------------- momentum SGD
def _update_both(rng, shape, dtype, chunk, lr=0.1, mu=0.5, steps=3):
    theta = rng.standard_normal(shape).astype(dtype)
    v = rng.standard_normal(shape).astype(dtype)
    plain = (theta.copy(), v.copy())
    fast = (theta, v)
    for _ in range(steps):
        g = rng.standard_normal(shape).astype(dtype)
        optim.momentum_update(*plain, g, lr, mu)
        optim.momentum_update_fast(*fast, g, lr, mu, chunk=chunk)
    return plain, fast


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,chunk", [((1,), 4), ((7,), 8), ((8,), 8), ((5, 7), 8), ((33, 19), 64),
                                         ((300, 200), 1 << 16)])
def test_momentum_update_fast_equals_plain_bit_for_bit(rng, dtype, shape, chunk):
    (theta, v), (theta_fast, v_fast) = _update_both(rng, shape, dtype, chunk)
    assert theta_fast.dtype == dtype and v_fast.dtype == dtype
    assert np.array_equal(theta_fast, theta) and np.array_equal(v_fast, v)


def test_momentum_update_fast_updates_non_contiguous_arrays_in_place(rng):
    theta = rng.standard_normal((6, 4)).T                    # transposed views: reshape would copy
    v = np.zeros((6, 4)).T
    g = rng.standard_normal((4, 6))
    want = theta + (-0.1 * g)
    optim.momentum_update_fast(theta, v, g, 0.1, 0.5, chunk=4)
    np.testing.assert_array_equal(theta, want)
    np.testing.assert_array_equal(v, -0.1 * g)


def test_sgd_step_equals_the_plain_rule_over_several_steps(rng, fast_mode):
    net = Sequential(Linear(30, 40, rng=0), ReLU(), Linear(40, 3, rng=1))       # float32
    opt = optim.SGD(net, lr=0.05, momentum=0.7, lr_decay=1.01)
    theta = {k: p.copy() for k, p in net.params.items()}
    v = {k: np.zeros_like(p) for k, p in theta.items()}
    for _ in range(4):
        for k, g in net.grads.items():
            g[...] = dev(rng.standard_normal(g.shape))
        lr, mu = opt.lr, opt.momentum
        for k in theta:
            v[k] = v[k] * np.float32(mu) - np.float32(lr) * net.grads[k]
            theta[k] = theta[k] + v[k]
        opt.step()
    for k in theta:
        assert net.params[k].dtype == np.float32
        np.testing.assert_allclose(host(net.params[k]), host(theta[k]), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(host(opt.state["velocity"][k]), host(v[k]), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_momentum_update_many_threads_equal_plain_and_sum_squares(rng, dtype, threads):
    """Several parameters, chunked and shared among threads: the same bits as the
    textbook update, and the sums of squares of g and of the updated theta."""
    shapes = {"W": (37, 23), "b": (23,), "V": (5, 3, 7)}
    theta = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    v = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    g = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    plain_theta, plain_v = copy.deepcopy(theta), copy.deepcopy(v)
    sums = optim.momentum_update_many([(k, theta[k], v[k], g[k]) for k in shapes], 0.1, 0.7,
                                      chunk=16, threads=threads)
    for k in shapes:
        optim.momentum_update(plain_theta[k], plain_v[k], g[k], 0.1, 0.7)
        assert np.array_equal(theta[k], plain_theta[k]) and np.array_equal(v[k], plain_v[k])
        g_sq, theta_sq = sums[k]
        assert g_sq == pytest.approx(float((g[k].astype(np.float64) ** 2).sum()), rel=1e-5)
        assert theta_sq == pytest.approx(float((theta[k].astype(np.float64) ** 2).sum()), rel=1e-5)


def test_sgd_step_records_the_norms_the_trainer_reads(rng, fast_mode):
    net = Sequential(Linear(30, 40, rng=0), ReLU(), Linear(40, 3, rng=1))
    opt = optim.SGD(net, lr=0.05, momentum=0.5)
    for g in net.grads.values():
        g[...] = dev(rng.standard_normal(g.shape))
    opt.step()
    assert opt.grad_norm == pytest.approx(gan_module._grad_norm(net), rel=1e-5)
    for k, p in net.params.items():                  # a 0-d array on the parameter's device
        assert float(opt.param_sq[k]) == pytest.approx(float((p.astype(np.float64) ** 2).sum()), rel=1e-5)


def test_sgd_flushes_dying_velocities_before_they_turn_subnormal(rng, fast_mode, restore_backend):
    """Half the weights get zero gradients for 400 steps (dead units): their
    velocities shrink by mu each step. SGD zeroes them below 1e-30 every 16 steps,
    so none is ever subnormal, and every parameter ends bit-identical to the
    textbook rule's (which lets them pass through the subnormals). On NumPy whatever
    the run's backend: the flush is for x86 CPUs, slow on subnormals; CuPy keeps the
    plain rule (``SGD``'s docstring)."""
    restore_backend.use("numpy")
    net = Sequential(Linear(40, 30, rng=0))                                   # float32
    opt = optim.SGD(net, lr=0.1, momentum=0.5)
    theta = {k: p.copy() for k, p in net.params.items()}
    v = {k: np.zeros_like(p) for k, p in theta.items()}
    tiny = np.finfo(np.float32).tiny
    plain_subnormal = 0
    for step in range(400):
        for k, g in net.grads.items():
            g[...] = dev(rng.standard_normal(g.shape)) if step == 0 else 0
            if g.ndim == 2:
                g[:, 15:] = dev(rng.standard_normal((g.shape[0], 15)) * 1e-3)   # live half
        for k in theta:
            optim.momentum_update(theta[k], v[k], net.grads[k], opt.lr, opt.momentum)
            plain_subnormal += int(((v[k] != 0) & (np.abs(v[k]) < tiny)).sum())
        opt.step()
        for vel in opt.state["velocity"].values():
            assert not ((vel != 0) & (np.abs(vel) < tiny)).any(), f"subnormal velocity at step {step}"
    assert plain_subnormal > 0, "the textbook rule should have met subnormals here"
    for k in theta:
        np.testing.assert_array_equal(host(net.params[k]), host(theta[k]))


def test_num_threads_follows_the_environment(monkeypatch):
    from minigan import backend
    monkeypatch.delenv("MINIGAN_NUM_THREADS", raising=False)
    assert backend.num_threads() == 1                           # the default
    monkeypatch.setenv("MINIGAN_NUM_THREADS", "3")
    assert backend.num_threads() == 3
    for bad in ("zero", "0", "-2"):
        monkeypatch.setenv("MINIGAN_NUM_THREADS", bad)
        with pytest.raises(ValueError, match="MINIGAN_NUM_THREADS must be a positive integer"):
            backend.num_threads()


# ----------------------------------------------------------------------------- lazy zero_grad
def test_zero_grad_writes_no_zeros_that_a_backward_overwrites(rng):
    """zero_grad() only marks the arrays; the backward writes x^T dL/dy into them
    directly, and a look before any backward still reads zeros."""
    lin = Linear(4, 3, rng=0, dtype=np.float64)
    lin.grads["W"][...] = 7.0
    lin.zero_grad()
    assert (lin._grads["W"] == 7.0).all(), "no pass of zeros yet"
    x, g = dev(rng.standard_normal((5, 4))), dev(rng.standard_normal((5, 3)))
    lin.forward(x)
    lin.backward(g)
    np.testing.assert_array_equal(host(lin.grads["W"]), host(x.T @ g))
    np.testing.assert_array_equal(host(lin.grads["b"]), host(g.sum(axis=0)))
    lin.zero_grad()
    assert not lin.grads["W"].any() and not lin.grads["b"].any()   # looked at: zeros
    lin.forward(x)
    lin.backward(g)
    np.testing.assert_array_equal(host(lin.grads["W"]), host(x.T @ g))


# ----------------------------------------------------------------------------- trainer checks
def test_grad_norm_as_dot_products_equals_the_plain_sum(rng):
    net = Sequential(Linear(50, 60, rng=0), ReLU(), Linear(60, 7, rng=1))
    for g in net.grads.values():
        g[...] = dev(rng.standard_normal(g.shape))
    plain = math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in net.grads.values()))
    assert gan_module._grad_norm(net) == pytest.approx(plain, rel=1e-5)


def _tiny_gan():
    G = Sequential(Linear(2, 3, rng=0))
    D = Sequential(Linear(3, 1, rng=1))
    data = lambda m, rng: rng.standard_normal((m, 3), dtype=np.float32)       # noqa: E731
    noise = lambda m, rng: rng.standard_normal((m, 2), dtype=np.float32)      # noqa: E731
    return gan_module.GAN(G, D, data, noise, d_optimizer=optim.SGD(D, 0.01), g_optimizer=optim.SGD(G, 0.01), m=4)


ROW = {"d_loss": 1.0, "g_loss": 1.0, "d_grad_norm": 1.0, "g_grad_norm": 1.0}


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_finiteness_check_catches_non_finite_parameters(bad):
    g = _tiny_gan()
    g.G.layers[0].params["W"][1, 2] = bad
    with pytest.raises(gan_module.TrainingDiverged, match=r"G parameter '0\.W'"):
        g._check_finite(ROW)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_finiteness_check_decides_as_the_plain_sum_does():
    """Large but finite parameters: the squares overflow, the fast path falls back
    to the sum, which is finite (no error) -- or overflows (the same error as before)."""
    g = _tiny_gan()
    W = g.D.layers[0].params["W"]
    W[...] = 0
    W[0, 0] = 1e30                                  # 1e30^2 = inf in float32, the sum is finite
    g._check_finite(ROW)
    W[...] = 3e38                                   # finite entries whose float32 sum is inf
    assert np.isfinite(W).all() and not np.isfinite(W.sum())
    with pytest.raises(gan_module.TrainingDiverged, match=r"D parameter '0\.W' is inf"):
        g._check_finite(ROW)


def _spy_on_twins(monkeypatch):
    """The names of the fast twins that run from here on."""
    ran = set()

    def counted(name, real):
        def call(*args, **kwargs):
            ran.add(real.__name__)
            return real(*args, **kwargs)
        return call
    for key, twin in list(fast._twins.items()):
        monkeypatch.setitem(fast._twins, key, counted(key, twin))
    return ran


def _small_paper_like_gan(dtype=np.float32, seed=0, order="sequential"):
    """G: Linear-ReLU-Linear-Sigmoid; D: Dropout-Maxout-Dropout-Maxout-Linear (a logit);
    momentum SGD on both players, the paper's MNIST model in small."""
    G = Sequential(Linear(3, 8, rng=seed, dtype=dtype), ReLU(), Linear(8, 6, rng=seed + 1, dtype=dtype),
                   layers.Sigmoid())
    D = Sequential(Dropout(0.8, rng=seed + 2), Maxout(6, 5, 3, rng=seed + 3, dtype=dtype), Dropout(0.5, rng=seed + 4),
                   Maxout(5, 4, 2, rng=seed + 5, dtype=dtype), Linear(4, 1, rng=seed + 6, dtype=dtype))
    data = lambda m, rng: rng.random((m, 6)).astype(dtype)                    # noqa: E731
    noise = lambda m, rng: rng.standard_normal((m, 3)).astype(dtype)          # noqa: E731
    return gan_module.GAN(G, D, data, noise, d_optimizer=optim.SGD(D, 0.1, momentum=0.5),
                          g_optimizer=optim.SGD(G, 0.1, momentum=0.5), m=8, seed=seed, order=order)


def test_gan_step_uses_the_fast_paths_and_stays_float32(monkeypatch):
    ran = _spy_on_twins(monkeypatch)
    g = _small_paper_like_gan()
    with fast.enabled(True):                     # the default (unless MINIGAN_FAST=0)
        row = g.step()
    assert ran == {"momentum_update_all_fast", "max_over_pieces_fast", "route_to_winner_fast", "sigmoid_and_slope_fast",
                   "discriminator_gradients_fast"}
    assert all(np.isfinite(v) for v in row.values())
    for net in (g.G, g.D):
        assert all(p.dtype == np.float32 for p in net.params.values())
        assert all(gr.dtype == np.float32 for gr in net.grads.values())
        assert all(len(l._cache) == 0 for l in net.layers)


def test_with_fast_kernels_off_no_twin_runs(monkeypatch):
    ran = _spy_on_twins(monkeypatch)
    g = _small_paper_like_gan()
    with fast.enabled(False):
        g.step()
    assert ran == set()
    with fast.enabled(True):
        g.step()
    assert ran == {"momentum_update_all_fast", "max_over_pieces_fast", "route_to_winner_fast", "sigmoid_and_slope_fast",
                   "discriminator_gradients_fast"}


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_gan_run_is_the_same_with_fast_kernels_on_and_off(dtype, monkeypatch):
    """20 iterations of Algorithm 1 (two of them with SGD's velocity flush): the same
    parameters and velocities bit for bit, the same losses; the gradient norms agree to
    the dtype's rounding (the fused step sums squares chunk by chunk, see momentum_update_all_fast).
    D's one pass (which reorders the sums of D's gradients) is left out here: see
    test_a_gan_run_with_ds_one_pass_follows_the_two_passes."""
    monkeypatch.delitem(fast._twins, "train.gan.discriminator_gradients")
    runs = {}
    for on in (True, False):
        with fast.enabled(on):
            g = _small_paper_like_gan(dtype)
            g.train(20)
        runs[on] = g
    a, b = runs[True], runs[False]
    for net in ("G", "D"):
        for k, p in getattr(a, net).params.items():
            assert p.dtype == dtype
            assert np.array_equal(p, getattr(b, net).params[k]), f"{net} {k}"
    for opt in ("g_opt", "d_opt"):
        for k, v in getattr(a, opt).state["velocity"].items():
            assert np.array_equal(v, getattr(b, opt).state["velocity"][k]), f"{opt} {k}"
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert len(a.history) == len(b.history) == 20
    for row_a, row_b in zip(a.history, b.history):
        for q in ("d_loss", "g_loss"):
            assert row_a[q] == row_b[q]
        for q in ("d_grad_norm", "g_grad_norm"):
            assert row_a[q] == pytest.approx(row_b[q], rel=rtol)


@pytest.mark.parametrize("order, twin", [("sequential", "discriminator_gradients_fast"),
                                         ("simultaneous", "both_players_gradients_fast")])
def test_a_gan_run_with_ds_one_pass_follows_the_two_passes(order, twin, monkeypatch):
    """A float64 run with every fast kernel against the textbook, in either order: D's one pass
    (its twin is what ran) moves only the last bits of D's gradients, so 10 iterations stay
    together to 1e-9, the first one's losses, V, D_real and D_fake bit for bit."""
    ran = _spy_on_twins(monkeypatch)
    runs = {}
    for on in (True, False):
        with fast.enabled(on):
            g = _small_paper_like_gan(np.float64, order=order)
            g.train(10)
        runs[on] = g
    assert twin in ran and not {"discriminator_gradients_fast", "both_players_gradients_fast"} - {twin} & ran
    a, b = runs[True], runs[False]
    for q in ("d_loss", "g_loss", "V", "D_real", "D_fake"):
        assert a.history[0][q] == b.history[0][q], q
    for row_a, row_b in zip(a.history, b.history):
        for q in ("d_loss", "g_loss", "V", "d_grad_norm", "g_grad_norm"):
            assert row_a[q] == pytest.approx(row_b[q], rel=1e-9), q
    for net in ("G", "D"):
        for k, p in getattr(a, net).params.items():
            np.testing.assert_allclose(*_host(p, getattr(b, net).params[k]), rtol=1e-9, atol=1e-12,
                                       err_msg=f"{net} {k}")


def test_every_twin_names_its_textbook_function_and_back():
    """Each registered kernel stands for a textbook function marked @fast.has_twin,
    whose docstring names the kernel; the kernel's docstring names the textbook function."""
    names = {
        "minigan.layers.maxout.max_over_pieces": layers.max_over_pieces,
        "minigan.layers.maxout.route_to_winner": layers.route_to_winner,
        "minigan.losses.logistic.sigmoid_and_slope": losses.sigmoid_and_slope,
        "minigan.optim.sgd.momentum_update_all": optim.sgd.momentum_update_all,
        "minigan.layers.minibatch_discrimination.similarities": layers.minibatch_discrimination.similarities,
        "minigan.layers.minibatch_discrimination.similarities_backward":
            layers.minibatch_discrimination.similarities_backward,
        "minigan.train.gan.discriminator_gradients": discriminator_gradients,
        "minigan.train.gan.both_players_gradients": both_players_gradients,
    }
    assert set(fast.twins()) == set(names)
    for name, wrapper in names.items():
        twin = fast.twins()[name]
        assert wrapper.twin_name == name and fast.textbook(twin) is wrapper.textbook
        assert twin.__name__ in wrapper.__doc__
        assert twin.__module__.startswith("minigan.fast.")
        assert name.rsplit(".", 2)[-1] in twin.__doc__ or name.rsplit(".", 1)[-1] in twin.__doc__
    # keyed without the package's own name: a copy imported as another package (as
    # benchmarks/compare_revisions.py imports an old revision) finds its twins too
    assert set(fast._twins) == {name.partition(".")[2] for name in names}


def test_the_switch_and_its_block():
    before = fast.is_enabled()                   # True unless MINIGAN_FAST=0
    with fast.enabled(False):
        assert not fast.is_enabled()
        with fast.enabled(True):
            assert fast.is_enabled()
        assert not fast.is_enabled()
    assert fast.is_enabled() == before
    fast.enabled(not before)
    try:
        assert fast.is_enabled() != before
    finally:
        fast.enabled(before)
    with pytest.raises(ValueError, match="already has a fast twin"):
        fast.twin_of("minigan.layers.maxout.max_over_pieces")(lambda z: z)


@pytest.mark.parametrize("value,on", [("0", False), ("off", False), ("1", True), ("", True)])
def test_minigan_fast_environment_variable(value, on):
    env = dict(os.environ, MINIGAN_FAST=value)
    out = subprocess.run([sys.executable, "-c", "import minigan.fast as f; print(f.is_enabled())"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == str(on)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_fast_equals_the_plain_one_bit_for_bit(rng, dtype):
    a = (rng.standard_normal((50, 40)) * 12).astype(dtype)
    a[0, :5] = [0.0, -0.0, 88.0, -88.0, -104.0]
    y, slope = losses.sigmoid_and_slope.textbook(a)
    y_fast, slope_fast = losses.sigmoid_and_slope_fast(a)
    assert y_fast.dtype == dtype and slope_fast.dtype == dtype
    assert np.array_equal(y, y_fast) and np.array_equal(slope, slope_fast)
    assert losses.sigmoid_and_slope_fast(np.float32(-20.0))[0] == losses.sigmoid(np.float32(-20.0))
    with fast.enabled(False):
        assert losses.sigmoid_and_slope_fast(np.float32(-20.0))[0] == losses.sigmoid(np.float32(-20.0))
    layer = layers.Sigmoid()                          # the layer: the same bits in both modes
    with fast.enabled(False):
        y_text = layer.forward(a)
        dx_text = layer.backward(np.ones_like(a))
    y_layer = layer.forward(a)
    dx_layer = layer.backward(np.ones_like(a))
    assert y_layer.dtype == dtype
    assert np.array_equal(y_layer, y_text) and np.array_equal(dx_layer, dx_text)


# ----------------------------------------------------------------------------- D's two passes as one

# D's weight gradients as one 2m-row product and one 2m-row column sum, where the textbook
# adds two m-row ones: the same sum in another order, equal to the dtype's rounding.
GRAD_RTOL = {np.float32: 2e-5, np.float64: 1e-12}


def _paper_like_D(dtype, seed=0, shared_rng=False):
    """Dropout-Maxout-Dropout-Maxout-Dropout-Linear (a logit): the paper's D in small,
    each Dropout with its own generator (or, ``shared_rng``, all three with one), on the
    active backend."""
    rngs = [backend.default_rng(seed + 10)] * 3 if shared_rng else [seed + 10, seed + 11, seed + 12]
    return Sequential(Dropout(0.8, scale=1.25, rng=rngs[0]), Maxout(6, 5, 3, rng=seed + 3, dtype=dtype),
                      Dropout(0.5, scale=2.0, rng=rngs[1]), Maxout(5, 4, 2, rng=seed + 5, dtype=dtype),
                      Dropout(0.5, scale=2.0, rng=rngs[2]), Linear(4, 1, rng=seed + 6, dtype=dtype))


def _d_loss(a_real, a_fake):
    return losses.discriminator_loss(a_real, a_fake, scale=0.5)


def _next_draws(D):
    """What each Dropout's generator draws next: the same for two D's built alike iff they
    drew the same numbers so far (a CuPy generator's state cannot be read)."""
    return [backend.to_host(l.rng.random(4)) for l in D.layers if isinstance(l, Dropout)]


def _both_ways(make_D, textbook, twin, *args):
    """``textbook(D, *args)`` and ``twin(D, *args)``, each on its own D from ``make_D()``
    (the same seeds), the other kernels as the switch says; returns
    ((outputs, D) textbook, (outputs, D) fast)."""
    D_text, D_fast = make_D(), make_D()
    for net in (D_text, D_fast):
        net.zero_grad()
    return (textbook(D_text, *args), D_text), (twin(D_fast, *args), D_fast)


def _batches(rng, dtype):
    """x and G(z) stand-ins, (8, 6) each, on the active backend."""
    return (backend.to_device(rng.random((8, 6)).astype(dtype)),
            backend.to_device(rng.random((8, 6)).astype(dtype)))


def _host(*arrays):
    return [backend.to_host(a) for a in arrays]


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_pass_d_step_equals_the_two_passes(rng, dtype, fast_mode):
    """D(x), D(G(z)) and the loss bit for bit, the dropout generators left in the same state
    (the same masks were drawn), D's gradients equal to the rounding of a reordered sum."""
    assert one_pass_plan(_paper_like_D(dtype)) is not None
    x, fake = _batches(rng, dtype)
    ((a_real, a_fake, loss), D_text), ((a_real_f, a_fake_f, loss_f), D_fast) = _both_ways(
        lambda: _paper_like_D(dtype), discriminator_gradients.textbook, discriminator_gradients_fast,
        x, fake, _d_loss)
    assert backend.array_module(a_real_f) is backend.array_module(x)
    a_real, a_fake, a_real_f, a_fake_f, loss, loss_f = _host(a_real, a_fake, a_real_f, a_fake_f, loss, loss_f)
    assert np.array_equal(a_real_f, a_real) and np.array_equal(a_fake_f, a_fake)
    assert loss_f == loss and loss_f.dtype == dtype
    assert all(np.array_equal(a, b) for a, b in zip(_next_draws(D_fast), _next_draws(D_text)))
    for k, g in D_text.grads.items():
        g, g_fast = _host(g, D_fast.grads[k])
        assert g_fast.dtype == dtype
        np.testing.assert_allclose(g_fast, g, rtol=GRAD_RTOL[dtype],
                                   atol=GRAD_RTOL[dtype] * float(np.abs(g).max()), err_msg=k)
    assert all(len(l._cache) == 0 for l in D_fast.layers)


def _coupled_Ds(dtype):
    """D's whose one pass would not be two (name, builder): rows coupled by minibatch
    discrimination or batch norm, or three Dropouts drawing from one generator (the two
    passes draw every real mask before any fake one)."""
    yield "minibatch discrimination", lambda: Sequential(
        Dropout(0.8, rng=1), layers.MinibatchDiscrimination(6, 3, 2, rng=2, dtype=dtype),
        Linear(9, 1, rng=3, dtype=dtype))
    yield "batch norm", lambda: Sequential(Linear(6, 5, rng=4, dtype=dtype), layers.BatchNorm(5, dtype=dtype),
                                           ReLU(), Linear(5, 1, rng=5, dtype=dtype))
    yield "shared generator", lambda: _paper_like_D(dtype, shared_rng=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_d_whose_rows_meet_keeps_the_two_passes(rng, dtype, fast_mode):
    """Where one pass would change the results, the twin runs the textbook's two passes:
    everything bit for bit."""
    x, fake = _batches(rng, dtype)
    for what, make_D in _coupled_Ds(dtype):
        assert one_pass_plan(make_D()) is None, what
        (text, D_text), (quick, D_fast) = _both_ways(
            make_D, discriminator_gradients.textbook, discriminator_gradients_fast, x, fake, _d_loss)
        assert all(np.array_equal(a, b) for a, b in zip(_host(*quick), _host(*text))), what
        for k, g in D_text.grads.items():
            assert np.array_equal(*_host(D_fast.grads[k], g)), f"{what}: {k}"


def test_one_pass_plan_reads_the_layers_own_protocol():
    """Which layers see the two minibatches apart: those without parameters (``params``)
    and those that draw (``draws_random``); the layers with parameters see the 2m rows."""
    D = _paper_like_D(np.float32)
    layers_, apart = one_pass_plan(D)
    assert layers_ == D.layers and apart == [True, False, True, False, True, False]
    D.eval()
    assert one_pass_plan(D)[1] == [True, False, True, False, True, False]
    D.train()
    assert one_pass_plan(D.layers[1]) == ([D.layers[1]], [False])   # a single layer: itself
    plain = Sequential(Linear(6, 5, rng=1), ReLU(), Linear(5, 1, rng=2))
    assert one_pass_plan(plain)[1] == [False, True, False]


def _paper_like_D_with_fixed_masks():
    """``_paper_like_D`` in float64 with a fixed mask of 8 rows in each Dropout."""
    D = _paper_like_D(np.float64)
    for i, width in ((0, 6), (2, 5), (4, 4)):
        D.layers[i].fixed_mask = backend.to_device(np.random.default_rng(i).random((8, width)) < D.layers[i].keep)
    return D


def test_one_pass_with_fixed_dropout_masks(rng):
    """A Dropout with a ``fixed_mask`` of m rows (as a gradient check or bench_iteration.py
    sets) applies it to each minibatch, as the two passes do."""
    x, fake = _batches(rng, np.float64)
    assert one_pass_plan(_paper_like_D_with_fixed_masks()) is not None
    (text, D_text), (quick, D_fast) = _both_ways(
        _paper_like_D_with_fixed_masks, discriminator_gradients.textbook, discriminator_gradients_fast, x, fake, _d_loss)
    assert all(np.array_equal(a, b) for a, b in zip(_host(*quick), _host(*text)))
    for k, g in D_text.grads.items():
        g, g_fast = _host(g, D_fast.grads[k])
        np.testing.assert_allclose(g_fast, g, rtol=1e-12, atol=1e-12 * float(np.abs(g).max()), err_msg=k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_pass_on_the_emulated_gpu(monkeypatch, restore_backend, dtype):
    """The same on CuPy (tests/fakecupy.py: CuPy's rules and CuPy's Generator over NumPy):
    every array stays on the device, and the masks are the two passes' (each drawing
    layer sees each minibatch apart, whatever a generator would give for one 2m-row draw)."""
    import fakecupy
    cp = fakecupy.install(monkeypatch)
    restore_backend.use("cupy")
    x, fake = _batches(np.random.default_rng(1), dtype)
    assert isinstance(x, cp.ndarray)
    (text, D_text), (quick, D_fast) = _both_ways(
        lambda: _paper_like_D(dtype), discriminator_gradients.textbook, discriminator_gradients_fast,
        x, fake, _d_loss)
    assert all(isinstance(a, cp.ndarray) for a in quick[:2]) and isinstance(D_fast.grads["1.W"], cp.ndarray)
    assert all(np.array_equal(a, b) for a, b in zip(_host(*quick), _host(*text)))
    assert all(np.array_equal(a, b) for a, b in zip(_next_draws(D_fast), _next_draws(D_text)))
    for k, g in D_text.grads.items():
        g, g_fast = _host(g, D_fast.grads[k])
        np.testing.assert_allclose(g_fast, g, rtol=GRAD_RTOL[dtype],
                                   atol=GRAD_RTOL[dtype] * float(np.abs(g).max()), err_msg=k)


# ----------------------------------------------------------------------------- the simultaneous order's one pass

def _g_loss(a_fake):
    return losses.GENERATOR_LOSSES["nonsaturating"](a_fake)


def _check_both_players(text, D_text, quick, D_fast, dtype, grad_rtol):
    """The twin against the textbook: logits, both losses and dL/dG(z) bit for bit, the same
    draws, D's gradients to ``grad_rtol``, no cache left, D's requires_grad back."""
    a_real, a_fake, d_value, g_value, grad_fake = _host(*text)
    a_real_f, a_fake_f, d_value_f, g_value_f, grad_fake_f = _host(*quick)
    assert np.array_equal(a_real_f, a_real) and np.array_equal(a_fake_f, a_fake)
    assert d_value_f == d_value and g_value_f == g_value
    assert grad_fake_f.dtype == dtype and np.array_equal(grad_fake_f, grad_fake)
    assert all(np.array_equal(a, b) for a, b in zip(_next_draws(D_fast), _next_draws(D_text)))
    for k, g in D_text.grads.items():
        g, g_fast = _host(g, D_fast.grads[k])
        np.testing.assert_allclose(g_fast, g, rtol=grad_rtol, atol=grad_rtol * float(np.abs(g).max()), err_msg=k)
    assert all(len(l._cache) == 0 for l in D_fast.layers)
    assert all(l.requires_grad for l in D_fast.layers)


@pytest.mark.parametrize("dtype", DTYPES)
def test_simultaneous_one_pass_equals_the_two_passes(rng, dtype, fast_mode):
    """D(x), D(G(z)), both losses and G's gradient dL/dG(z) bit for bit (G's backward gets the
    fake rows' own cache: the same m-row operations), the same masks drawn, D's gradients
    equal to the rounding of a reordered sum."""
    x, fake = _batches(rng, dtype)
    (text, D_text), (quick, D_fast) = _both_ways(
        lambda: _paper_like_D(dtype), both_players_gradients.textbook, both_players_gradients_fast,
        x, fake, _d_loss, _g_loss)
    _check_both_players(text, D_text, quick, D_fast, dtype, GRAD_RTOL[dtype])


def test_simultaneous_one_pass_wrong_without_the_fake_rows_cache(rng, monkeypatch):
    """The check above can fail: G's backward through the first rows of each 2m-row cache
    (the real rows') instead of the last gives another dL/dG(z)."""
    x, fake = _batches(rng, np.float64)
    real_rows = lambda layers, apart, m: [  # noqa: E731
        layer.retain_cache() if a else layer._save(*(t[:m] for t in layer._cache[-1]))
        for layer, a in zip(layers, apart)]
    monkeypatch.setattr(fast_gan, "_push_fake_rows", real_rows)
    (text, _), (quick, _) = _both_ways(
        lambda: _paper_like_D(np.float64), both_players_gradients.textbook, both_players_gradients_fast,
        x, fake, _d_loss, _g_loss)
    assert not np.array_equal(*_host(quick[4], text[4]))


class _WholeBatchCache(Linear):
    """A Linear that does not say its cache is one row per input row."""
    per_row_cache = False


@pytest.mark.parametrize("dtype", DTYPES)
def test_simultaneous_keeps_the_two_passes_where_a_cache_is_not_per_row(rng, dtype, monkeypatch):
    """Coupled rows, a shared generator, or a 2m-row layer without ``per_row_cache``: the
    textbook's two passes, everything bit for bit."""
    def no_one_pass(*args):
        raise AssertionError("the one pass ran")
    monkeypatch.setattr(fast_gan, "_forward", no_one_pass)
    x, fake = _batches(rng, dtype)
    makers = list(_coupled_Ds(dtype)) + [("a cache not per row", lambda: Sequential(
        Dropout(0.8, rng=1), Maxout(6, 5, 3, rng=3, dtype=dtype), _WholeBatchCache(5, 1, rng=2, dtype=dtype)))]
    for what, make_D in makers:
        (text, D_text), (quick, D_fast) = _both_ways(
            make_D, both_players_gradients.textbook, both_players_gradients_fast, x, fake, _d_loss, _g_loss)
        assert all(np.array_equal(a, b) for a, b in zip(_host(*quick), _host(*text))), what
        for k, g in D_text.grads.items():
            assert np.array_equal(*_host(D_fast.grads[k], g)), f"{what}: {k}"


def test_simultaneous_one_pass_with_fixed_dropout_masks(rng):
    """Fixed masks of m rows (bench_iteration.py's equality check sets them): each minibatch gets them."""
    x, fake = _batches(rng, np.float64)
    (text, D_text), (quick, D_fast) = _both_ways(
        _paper_like_D_with_fixed_masks, both_players_gradients.textbook, both_players_gradients_fast, x, fake, _d_loss, _g_loss)
    _check_both_players(text, D_text, quick, D_fast, np.float64, 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_simultaneous_one_pass_on_the_emulated_gpu(monkeypatch, restore_backend, dtype):
    """The same on CuPy (tests/fakecupy.py): every array stays on the device."""
    import fakecupy
    cp = fakecupy.install(monkeypatch)
    restore_backend.use("cupy")
    x, fake = _batches(np.random.default_rng(1), dtype)
    (text, D_text), (quick, D_fast) = _both_ways(
        lambda: _paper_like_D(dtype), both_players_gradients.textbook, both_players_gradients_fast,
        x, fake, _d_loss, _g_loss)
    assert all(isinstance(a, cp.ndarray) for a in quick) and isinstance(D_fast.grads["1.W"], cp.ndarray)
    _check_both_players(text, D_text, quick, D_fast, dtype, GRAD_RTOL[dtype])

