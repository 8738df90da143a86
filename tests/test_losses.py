"""Losses: gradients by independent finite differences, equality with the naive
formulas where those are safe, finiteness where they are not, dtypes, errors."""
import numpy as np
import pytest

from minigan import losses
from minigan.layers import Sigmoid
from minigan.gradcheck import numeric_gradient

F64 = np.float64
LOGIT_1E12 = float(np.log(1e-12) - np.log1p(-1e-12))      # D = 1e-12  (about -27.63)


def rel_err(a, n):
    a, n = np.asarray(a, F64), np.asarray(n, F64)
    return float(np.abs(a - n).max() / max(np.abs(a).max() + np.abs(n).max(), 1e-300))


def naive_sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


# ----------------------------------------------------------------------------- gradients
TWO_INPUT = {
    "value_function": lambda r, f: losses.value_function(r, f),
    "discriminator_loss": lambda r, f: losses.discriminator_loss(r, f),
    "discriminator_loss scale=0.5": lambda r, f: losses.discriminator_loss(r, f, scale=0.5),
    "discriminator_loss real_label=0.9": lambda r, f: losses.discriminator_loss(r, f, real_label=0.9),
    "discriminator_loss both": lambda r, f: losses.discriminator_loss(r, f, scale=0.5, real_label=0.9),
    "discriminator_loss two-sided": lambda r, f: losses.discriminator_loss(r, f, real_label=0.9, fake_label=0.1),
}
ONE_INPUT = {
    "bce target 1": lambda a: losses.bce_with_logits(a, 1.0),
    "bce target 0": lambda a: losses.bce_with_logits(a, 0.0),
    "bce target 0.3": lambda a: losses.bce_with_logits(a, 0.3),
    "bce array target": lambda a: losses.bce_with_logits(a, np.linspace(0, 1, a.size).reshape(a.shape)),
    "generator minimax": losses.generator_loss_minimax,
    "generator nonsaturating": losses.generator_loss_nonsaturating,
}


@pytest.mark.parametrize("shape", [(6,), (6, 1)])
@pytest.mark.parametrize("name", list(TWO_INPUT))
def test_two_input_loss_gradients(name, shape, rng):
    fn = TWO_INPUT[name]
    r, f = 3 * rng.normal(size=shape), 3 * rng.normal(size=(5,) + shape[1:])
    _, gr, gf = fn(r, f)
    assert gr.shape == r.shape and gf.shape == f.shape
    assert rel_err(gr, numeric_gradient(lambda: fn(r, f)[0], r)) < 1e-6
    assert rel_err(gf, numeric_gradient(lambda: fn(r, f)[0], f)) < 1e-6


@pytest.mark.parametrize("shape", [(7,), (7, 1)])
@pytest.mark.parametrize("name", list(ONE_INPUT))
def test_one_input_loss_gradients(name, shape, rng):
    fn = ONE_INPUT[name]
    a = 3 * rng.normal(size=shape)
    _, g = fn(a)
    assert g.shape == a.shape
    assert rel_err(g, numeric_gradient(lambda: fn(a)[0], a)) < 1e-6


# ----------------------------------------------------------------------------- equal to the naive formulas
def test_values_equal_naive_formulas_in_the_safe_range(rng):
    ar, af = rng.uniform(-5, 5, 8), rng.uniform(-5, 5, 6)
    Dr, Df = naive_sigmoid(ar), naive_sigmoid(af)
    m, mf = len(ar), len(af)
    V, dVr, dVf = losses.value_function(ar, af)
    assert float(V) == pytest.approx(np.mean(np.log(Dr)) + np.mean(np.log(1 - Df)), rel=1e-12)
    assert np.allclose(dVr, (1 - Dr) / m, rtol=1e-12) and np.allclose(dVf, -Df / mf, rtol=1e-12)

    loss, gr, gf = losses.discriminator_loss(ar, af, scale=0.5)
    assert float(loss) == pytest.approx(-0.5 * float(V), rel=1e-12)
    assert np.allclose(gr, -0.5 * dVr, rtol=1e-12) and np.allclose(gf, -0.5 * dVf, rtol=1e-12)

    t = 0.9
    loss, gr, gf = losses.discriminator_loss(ar, af, real_label=t)
    naive = (-np.mean(t * np.log(Dr) + (1 - t) * np.log(1 - Dr)) - np.mean(np.log(1 - Df)))
    assert float(loss) == pytest.approx(naive, rel=1e-12)
    assert np.allclose(gr, (Dr - t) / m, rtol=1e-12)

    val, g = losses.generator_loss_minimax(af)
    assert float(val) == pytest.approx(np.mean(np.log(1 - Df)), rel=1e-12)
    assert np.allclose(g, -Df / mf, rtol=1e-12)
    val, g = losses.generator_loss_nonsaturating(af)
    assert float(val) == pytest.approx(-np.mean(np.log(Df)), rel=1e-12)
    assert np.allclose(g, -(1 - Df) / mf, rtol=1e-12)

    assert np.allclose(losses.sigmoid(ar), Dr, rtol=1e-13)
    assert np.allclose(losses.softplus(ar), np.log1p(np.exp(ar)), rtol=1e-13)


def test_saturation_shapes_the_two_generator_losses():
    a = np.array([LOGIT_1E12])                    # D(G(z)) = 1e-12: D is winning
    _, g_minimax = losses.generator_loss_minimax(a)
    _, g_ns = losses.generator_loss_nonsaturating(a)
    assert abs(float(g_minimax[0])) == pytest.approx(1e-12, rel=1e-6, abs=0)   # vanishes (Section 3)
    assert float(g_ns[0]) == pytest.approx(-1.0, rel=1e-9)                 # does not


# ----------------------------------------------------------------------------- finite at the extremes
EXTREMES = [LOGIT_1E12, -LOGIT_1E12, 1e4, -1e4, 0.0, 30.0, -30.0, 80.0, -80.0, 700.0, -700.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_nan_or_inf_when_D_saturates(dtype):
    a = np.array(EXTREMES, dtype=dtype)
    outs = [losses.value_function(a, a), losses.discriminator_loss(a, a, scale=0.5, real_label=0.9),
            losses.bce_with_logits(a, 0.3), losses.generator_loss_minimax(a),
            losses.generator_loss_nonsaturating(a), (losses.softplus(a), losses.sigmoid(a))]
    for out in outs:
        for arr in out:
            assert np.all(np.isfinite(arr)), out


def test_extreme_values_are_right():
    a = np.array([1e4])
    assert float(losses.generator_loss_nonsaturating(-a)[0]) == pytest.approx(1e4)   # -log sigma(-1e4)
    assert float(losses.generator_loss_minimax(a)[0]) == pytest.approx(-1e4)          # log(1 - sigma(1e4))
    V, _, _ = losses.value_function(np.array([-LOGIT_1E12]), np.array([LOGIT_1E12]))
    assert float(V) == pytest.approx(2 * np.log1p(-1e-12), abs=1e-15)                # D perfect: V ~ 0
    V, _, _ = losses.value_function(np.array([LOGIT_1E12]), np.array([-LOGIT_1E12]))
    assert float(V) == pytest.approx(2 * np.log(1e-12), rel=1e-9)                     # D fooled


# ----------------------------------------------------------------------------- dtype and errors
def test_float32_in_float32_out(rng):
    a, b = rng.normal(size=5).astype(np.float32), rng.normal(size=(4, 1)).astype(np.float32)
    for out in (losses.value_function(a, b), losses.discriminator_loss(a, b, scale=0.5, real_label=0.9),
                losses.bce_with_logits(a, 1.0), losses.bce_with_logits(a, np.ones(5)),
                losses.generator_loss_minimax(b), losses.generator_loss_nonsaturating(b)):
        assert all(np.asarray(o).dtype == np.float32 for o in out), [np.asarray(o).dtype for o in out]
    assert losses.softplus(a).dtype == np.float32 and losses.sigmoid(a).dtype == np.float32


def test_bad_logits_raise_clear_errors():
    with pytest.raises(TypeError, match="generator_loss_minimax expects floating-point logits"):
        losses.generator_loss_minimax(np.ones(3, dtype=int))
    with pytest.raises(ValueError, match=r"value_function\(fake_logits\) expects logits of shape \(m,\) "
                                         r"or \(m, 1\).*got \(3, 2\)"):
        losses.value_function(np.ones(3), np.ones((3, 2)))
    with pytest.raises(ValueError, match="m >= 1"):
        losses.generator_loss_nonsaturating(np.ones(0))
    for bad in (0.0, 1.5, -1):
        with pytest.raises(ValueError, match="real_label must be in"):
            losses.discriminator_loss(np.ones(2), np.ones(2), real_label=bad)
    for bad in (-0.1, 0.9, 1.0):
        with pytest.raises(ValueError, match="fake_label must be in"):
            losses.discriminator_loss(np.ones(2), np.ones(2), real_label=0.9, fake_label=bad)


def test_registry():
    assert losses.GENERATOR_LOSSES == {"minimax": losses.generator_loss_minimax,
                                       "nonsaturating": losses.generator_loss_nonsaturating}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_keeps_its_relative_precision_in_both_tails(dtype):
    a = np.array([-80.0, -38.0, -27.6, -20.0, -17.0, -10.0, -1.0, 0.0, 1.0, 10.0, 30.0], dtype=dtype)
    want = 1 / (1 + np.exp(-a.astype(np.longdouble)))
    tol = 1e-6 if dtype == np.float32 else 1e-14
    got = losses.sigmoid(a)
    assert got.dtype == dtype
    keep = want > np.finfo(dtype).tiny * 1e3                   # away from the subnormal range
    np.testing.assert_allclose(got[keep].astype(np.longdouble), want[keep], rtol=tol, atol=0)
    y = Sigmoid().forward(a)
    assert y.dtype == dtype and np.array_equal(y, got)
    _, g = losses.generator_loss_minimax(np.array([-20.0], dtype=dtype))   # D(G(z)) = 2.06e-9
    assert float(g[0]) == pytest.approx(-2.0611536e-9, rel=1e-5, abs=0)


def test_bce_target_must_fit_the_logits():
    a = np.array([[0.5], [-1.0], [2.0]])
    loss, g = losses.bce_with_logits(a, np.array([[1.0], [0.0], [1.0]]))
    assert g.shape == (3, 1)
    same, g1 = losses.bce_with_logits(a, np.array([1.0, 0.0, 1.0]).reshape(3, 1))
    assert same == loss
    with pytest.raises(ValueError, match=r"target of shape \(3,\) does not fit logits of shape \(3, 1\)"):
        losses.bce_with_logits(a, np.array([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match=r"target must be in \[0, 1\]"):
        losses.bce_with_logits(a, 5)
    for bad in (np.float64(1.5), np.array(1.5), np.full((3, 1), 2.0), np.full((3, 1), np.nan), [[1.5]]):
        with pytest.raises(ValueError, match=r"target must be in \[0, 1\]"):
            losses.bce_with_logits(a, bad)
    assert losses.bce_with_logits(a, [[0.9]])[0] == losses.bce_with_logits(a, 0.9)[0]


def test_two_sided_smoothing_is_cross_entropy_with_both_targets(rng):
    r, f = rng.normal(size=5), rng.normal(size=4)
    v, gr, gf = losses.discriminator_loss(r, f, scale=0.5, real_label=0.9, fake_label=0.1)
    want = 0.5 * (losses.bce_with_logits(r, 0.9)[0] + losses.bce_with_logits(f, 0.1)[0])
    assert v == pytest.approx(want, rel=1e-14)
    np.testing.assert_allclose(gf, 0.5 * (naive_sigmoid(f) - 0.1) / 4, rtol=1e-12)
    same = losses.discriminator_loss(r, f, fake_label=0.0)          # the default, bit for bit
    assert all(np.array_equal(a, b) for a, b in zip(same, losses.discriminator_loss(r, f)))


# ----------------------------------------------------------------------------- penalties
def test_weight_decay_adds_lam_W_to_the_weights_gradient_and_returns_its_value(rng, restore_backend):
    restore_backend.use("numpy")              # host arrays below, whatever MINIGAN_BACKEND says
    from minigan.layers import Linear, ReLU, Sequential
    net = Sequential(Linear(3, 4, rng=0, dtype=F64), ReLU(), Linear(4, 2, rng=1, dtype=F64))
    net.zero_grad()
    net.forward(rng.normal(size=(5, 3)))
    net.backward(np.ones((5, 2)))
    before = {k: g.copy() for k, g in net.grads.items()}
    decay = losses.WeightDecay(0.1)
    value = decay(net, None)
    for k, w in net.params.items():
        np.testing.assert_array_equal(net.grads[k], before[k] + (0.1 * w if k.endswith("W") else 0))
    assert value == pytest.approx(0.05 * sum(float((w ** 2).sum()) for k, w in net.params.items()
                                             if k.endswith("W")), rel=1e-14)
    # its gradient is the gradient of its value
    w = net.params["0.W"]
    assert rel_err(0.1 * w, numeric_gradient(lambda: losses.WeightDecay(0.1)(_Params(net.params), None), w)) < 1e-8
    everything = losses.WeightDecay(0.1, weights=lambda name: True)
    net.zero_grad()
    everything(net, None)
    np.testing.assert_array_equal(net.grads["2.b"], 0.1 * net.params["2.b"])
    with pytest.raises(ValueError, match="lam >= 0"):
        losses.WeightDecay(-1)


class _Params:
    """params and throw-away grads: WeightDecay's value as a function of the params alone."""

    def __init__(self, params):
        self.params = params
        self.grads = {k: np.zeros_like(v) for k, v in params.items()}


def test_supervised_loss_backpropagates_its_own_labelled_minibatch(rng, restore_backend):
    restore_backend.use("numpy")              # host arrays below, whatever MINIGAN_BACKEND says
    from minigan.layers import Linear, Sequential
    net = Sequential(Linear(3, 4, rng=0, dtype=F64))
    x, y = rng.normal(size=(6, 3)), np.array([0, 1, 2, 3, 0, 1])
    calls = []

    def sampler(m, gen):
        calls.append((m, gen))
        return x, y

    class Trainer:
        rng = "the trainer's generator"
    net.zero_grad()
    value = losses.SupervisedLoss(net, sampler, 6, weight=2.0)(net, Trainer())
    assert calls == [(6, "the trainer's generator")]
    want, g = losses.softmax_cross_entropy(x @ net.params["0.W"] + net.params["0.b"], y)
    assert value == pytest.approx(2 * float(want), rel=1e-14)
    np.testing.assert_allclose(net.grads["0.W"], 2 * x.T @ g, rtol=1e-12)
    assert not net.layers[0]._cache
