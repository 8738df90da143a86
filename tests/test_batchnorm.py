"""Batch normalisation and virtual batch normalisation: forward against the formulas,
backward by float64 gradient checks (and wrong backwards that must fail them), the
running statistics and the reference batch as buffers, two forwards before the
backwards, inside a GAN with an exact resume, and batch norm's exercise.

On the active backend (NumPy, or CuPy on a GPU or under the stand-in): batches and written
parameters go through ``dev``, asserts read ``host`` copies; the exact resume runs on NumPy."""
import re

import numpy as np
import pytest

from minigan import backend, checkpoint, data, exercises, gradcheck, optim
from minigan.layers import (BatchNorm, LeakyReLU, Linear, ReLU, Sequential, Sigmoid, VirtualBatch,
                            VirtualBatchNorm, no_grad)
from minigan.train import GAN

F64 = np.float64
dev, host = backend.to_device, backend.to_host      # inputs onto the active backend, results back for asserts


def bn64(n=4, seed=0, **kw):
    """A float64 BatchNorm with gamma and beta away from their starting values."""
    rng = np.random.default_rng(seed)
    layer = BatchNorm(n, dtype=F64, **kw)
    layer.params["gamma"][...] = dev(rng.normal(1.0, 0.5, n))
    layer.params["beta"][...] = dev(rng.normal(0.0, 0.5, n))
    return layer


def batch(m=6, n=4, seed=1):
    return dev(np.random.default_rng(seed).normal(2.0, 3.0, (m, n)))


# ----------------------------------------------------------------------------- BatchNorm forward
def test_training_forward_is_the_batch_formula_with_eps_inside_the_sqrt():
    layer = bn64(eps=1e-2)
    x = batch()
    x[:, 0] = dev(5.0 + 1e-2 * np.arange(6))           # a small variance, where the place of eps shows
    mu = x.sum(axis=0) / 6
    var = ((x - mu) ** 2).sum(axis=0) / 6          # biased
    want = layer.params["gamma"] * (x - mu) / np.sqrt(var + 1e-2) + layer.params["beta"]
    y = layer.forward(x)
    np.testing.assert_allclose(host(y), host(want), rtol=1e-13, atol=1e-13)
    unbiased = layer.params["gamma"] * (x - mu) / np.sqrt(var * 6 / 5 + 1e-2) + layer.params["beta"]
    eps_outside = layer.params["gamma"] * (x - mu) / (np.sqrt(var) + 1e-2) + layer.params["beta"]
    assert not np.allclose(host(y), host(unbiased), rtol=1e-6)
    assert not np.allclose(host(y[:, 0]), host(eps_outside[:, 0]), rtol=1e-6)


def test_eval_forward_uses_the_running_statistics_row_by_row():
    layer = bn64()
    layer.buffers["running_mean"][...] = dev(np.array([1.0, -2.0, 0.5, 3.0]))
    layer.buffers["running_var"][...] = dev(np.array([4.0, 0.25, 1.0, 9.0]))
    layer.eval()
    assert not layer.couples_rows
    x = batch()
    want = (layer.params["gamma"] * (x - layer.buffers["running_mean"])
            / np.sqrt(layer.buffers["running_var"] + 1e-5) + layer.params["beta"])
    np.testing.assert_allclose(host(layer.forward(x)), host(want), rtol=1e-13)
    np.testing.assert_allclose(host(layer.forward(x[2:3])), host(want[2:3]), rtol=1e-13)   # one row is fine in eval
    layer.clear_cache()


def test_a_batch_of_one_row_in_training_mode_is_refused_naming_the_layer():
    layer = bn64()
    with pytest.raises(ValueError, match=r"BatchNorm\(4, eps=1e-05, momentum=0.1\) in training mode needs "
                                         r"a batch of at least 2 rows, got 1.*variance of one row is 0"):
        layer.forward(batch(m=1))
    with no_grad(), pytest.raises(ValueError, match="at least 2 rows"):
        layer.forward(batch(m=1))


# ----------------------------------------------------------------------------- BatchNorm backward
@pytest.mark.parametrize("m", [2, 3, 8])
def test_training_backward_passes_the_gradient_check_on_the_whole_batch(m):
    layer = bn64()
    assert layer.couples_rows
    res = gradcheck.check_layer(layer, batch(m=m), batch=m)
    assert res.passed, gradcheck.format_results([res])
    assert {r.name for r in res.rows} == {"x", "gamma", "beta"}
    assert dict((r.name, r.shape) for r in res.rows)["x"] == (m, 4)        # every row perturbed
    assert any("rows are coupled (BatchNorm)" in n for n in res.notes)


def test_eval_backward_passes_the_gradient_check():
    layer = bn64()
    layer.buffers["running_mean"][...] = dev(np.array([1.0, -2.0, 0.5, 3.0]))
    layer.buffers["running_var"][...] = dev(np.array([4.0, 0.25, 1.0, 9.0]))
    layer.eval()
    res = gradcheck.check_layer(layer, batch())
    assert res.passed, gradcheck.format_results([res])
    assert not any("coupled" in n for n in res.notes)


class RowIndependentBatchNorm(BatchNorm):
    """Wrong on purpose: dL/dx = (gamma/sigma) g, as if mu and sigma were constants of x."""

    def backward(self, grad_out, *, input_grad=True):
        xhat, sigma, _ = self._cache[-1]
        dx = super().backward(grad_out, input_grad=input_grad)
        return None if dx is None else self.params["gamma"] / sigma * grad_out


class WithoutTheSigmaPath(BatchNorm):
    """Wrong on purpose: the term through sigma, -xhat mean(g xhat), is left out."""

    def backward(self, grad_out, *, input_grad=True):
        xhat, sigma, _ = self._cache[-1]
        super().backward(grad_out, input_grad=False)
        return self.params["gamma"] / sigma * (grad_out - grad_out.mean(axis=0))


@pytest.mark.parametrize("wrong", [RowIndependentBatchNorm, WithoutTheSigmaPath])
def test_a_backward_that_ignores_the_batch_statistics_fails_the_check(wrong):
    layer = wrong(4, dtype=F64)
    layer.params["gamma"][...] = bn64().params["gamma"]
    res = gradcheck.check_layer(layer, batch())
    assert not res.passed
    rows = {r.name: r.passed for r in res.rows}
    assert rows == {"x": False, "gamma": True, "beta": True}
    layer.eval()                                   # in eval mode the row-independent form is right
    assert gradcheck.check_layer(layer, batch()).passed == (wrong is RowIndependentBatchNorm)


def test_frozen_and_input_grad_false():
    layer = bn64()
    x, g = batch(), batch(seed=5)
    layer.forward(x)
    dx = layer.backward(g)
    layer.zero_grad()
    layer.requires_grad = False
    layer.forward(x)
    np.testing.assert_array_equal(host(layer.backward(g)), host(dx))
    assert not np.any(layer.grads["gamma"]) and not np.any(layer.grads["beta"])
    layer.requires_grad = True
    layer.forward(x)
    assert layer.backward(g, input_grad=False) is None
    assert np.any(layer.grads["gamma"])


# ----------------------------------------------------------------------------- running statistics
def test_running_statistics_move_only_in_a_training_forward_with_a_cache():
    layer = bn64(momentum=0.25)
    x = batch()
    layer.forward(x)
    layer.clear_cache()
    want_mean = 0.75 * 0 + 0.25 * x.mean(axis=0)
    want_var = 0.75 * 1 + 0.25 * x.var(axis=0, ddof=1)
    np.testing.assert_allclose(host(layer.buffers["running_mean"]), host(want_mean), rtol=1e-13)
    np.testing.assert_allclose(host(layer.buffers["running_var"]), host(want_var), rtol=1e-13)
    saved = {k: v.copy() for k, v in layer.buffers.items()}
    with no_grad():
        layer.forward(batch(seed=7))
    layer.eval()
    layer.forward(batch(seed=8))
    layer.clear_cache()
    for k, v in saved.items():
        np.testing.assert_array_equal(host(layer.buffers[k]), host(v))
    layer.train()
    layer.forward(batch(seed=9))
    assert not np.array_equal(host(layer.buffers["running_mean"]), host(saved["running_mean"]))


def test_running_statistics_are_saved_restored_and_cast():
    layer = bn64()
    layer.forward(batch())
    layer.clear_cache()
    state = layer.state_dict()
    assert set(state) == {"gamma", "beta", "running_mean", "running_var"}
    other = BatchNorm(4, dtype=F64)
    other.load_state_dict(state)
    for k, v in state.items():
        np.testing.assert_array_equal(host(other._state_targets()[k]), host(v))
    other.astype(np.float32)
    assert other.buffers["running_mean"].dtype == other.buffers["running_var"].dtype == np.float32
    assert "running_mean" not in other.params and "running_mean" not in other.grads


def test_the_gradient_checker_leaves_the_running_statistics_alone():
    layer = bn64()
    before = {k: v.copy() for k, v in layer.buffers.items()}
    assert gradcheck.check_layer(layer, batch()).passed
    for k, v in before.items():
        np.testing.assert_array_equal(host(layer.buffers[k]), host(v))


# ----------------------------------------------------------------------------- two forwards, two backwards
def test_two_forwards_then_two_backwards_give_each_batch_its_own_statistics():
    layer = bn64()
    real, fake = batch(seed=1), batch(m=5, seed=2) * 0.1 - 4
    g_real, g_fake = batch(seed=3), batch(m=5, seed=4)
    single = {}
    for x, g in ((real, g_real), (fake, g_fake)):
        layer.zero_grad()
        layer.forward(x)
        single[id(x)] = (layer.backward(g), {k: v.copy() for k, v in layer.grads.items()})
    layer.zero_grad()
    layer.forward(real)
    layer.forward(fake)
    dx_fake = layer.backward(g_fake)            # last in, first out
    dx_real = layer.backward(g_real)
    np.testing.assert_allclose(host(dx_real), host(single[id(real)][0]), rtol=1e-12)
    np.testing.assert_allclose(host(dx_fake), host(single[id(fake)][0]), rtol=1e-12)
    for k in layer.grads:
        np.testing.assert_allclose(host(layer.grads[k]), host(single[id(real)][1][k] + single[id(fake)][1][k]),
                                   rtol=1e-12)


def test_a_discriminator_with_batch_norm_passes_the_two_forward_check():
    rng = np.random.default_rng(3)
    D = Sequential(Linear(3, 6, rng=rng, dtype=F64), BatchNorm(6, dtype=F64), LeakyReLU(0.2),
                   Linear(6, 1, rng=rng, dtype=F64))
    res = gradcheck.check_two_forwards(D, dev(rng.normal(size=(5, 3))), dev(rng.normal(1.0, 0.3, (4, 3))))
    assert res.passed, gradcheck.format_results([res])


# ----------------------------------------------------------------------------- VirtualBatchNorm
def vbn64(n=4, B=3, seed=0):
    rng = np.random.default_rng(seed)
    layer = VirtualBatchNorm(n, rng=rng, dtype=F64)
    layer.params["beta"][...] = dev(rng.normal(0.0, 0.5, n))
    layer.reference_rows = B
    return layer


def test_vbn_gamma_starts_near_one_and_beta_at_zero():
    layer = VirtualBatchNorm(500, rng=0)
    gamma = layer.params["gamma"]
    assert abs(float(gamma.mean()) - 1) < 0.005 and 0.015 < float(gamma.std()) < 0.025
    assert not np.any(layer.params["beta"])


def test_vbn_forward_reference_by_its_own_statistics_live_rows_by_the_blend():
    layer = vbn64(B=3)
    x = batch(m=7)
    ref, live = x[:3], x[3:]
    y = layer.forward(x)
    layer.clear_cache()
    gamma, beta = layer.params["gamma"], layer.params["beta"]
    mu_R, s_R = ref.mean(axis=0), (ref ** 2).mean(axis=0)
    want_ref = gamma * (ref - mu_R) / np.sqrt(1e-5 + s_R - mu_R ** 2) + beta
    mu = live / 4 + 3 * mu_R / 4
    s = live ** 2 / 4 + 3 * s_R / 4
    want_live = gamma * (live - mu) / np.sqrt(1e-5 + s - mu ** 2) + beta
    np.testing.assert_allclose(host(y[:3]), host(want_ref), rtol=1e-12)
    np.testing.assert_allclose(host(y[3:]), host(want_live), rtol=1e-12)
    # the reference rows are normalised as a batch norm in training mode would (biased variance)
    bn = BatchNorm(4, dtype=F64)
    bn.params["gamma"][...], bn.params["beta"][...] = gamma, beta
    with no_grad():
        np.testing.assert_allclose(host(y[:3]), host(bn.forward(ref)), rtol=1e-9)


def test_vbn_passes_the_gradient_check_on_reference_and_live_rows():
    res = gradcheck.check_layer(vbn64(B=3), batch(m=7))
    assert res.passed, gradcheck.format_results([res])


def test_vbn_outside_a_virtual_batch_is_refused():
    layer = VirtualBatchNorm(4, dtype=F64)
    with pytest.raises(ValueError, match=r"VirtualBatchNorm\(4, eps=1e-05\) does not know which rows .*"
                                         r"VirtualBatch\(net, reference\)"):
        layer.forward(batch())


def small_vb(seed, B=5, n_in=3):
    g = np.random.default_rng(seed)
    net = Sequential(Linear(n_in, 6, rng=g, dtype=F64), VirtualBatchNorm(6, rng=g, dtype=F64), ReLU(),
                     Linear(6, 4, rng=g, dtype=F64), VirtualBatchNorm(4, rng=g, dtype=F64), Sigmoid())
    for i in (1, 4):
        net.layers[i].params["beta"][...] = dev(g.normal(0.0, 0.3, net.layers[i].n_features))
    return VirtualBatch(net, g.standard_normal((B, n_in)))


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_virtual_batch_passes_the_gradient_check_on_live_input_and_parameters(seed):
    vb = small_vb(seed)
    x = dev(np.random.default_rng(100 + seed).standard_normal((4, 3)))
    res = gradcheck.check_layer(vb, x, seed=seed)
    assert res.passed, gradcheck.format_results([res])
    assert res.kinks_skipped == 0
    names = {r.name for r in res.rows}
    assert names == {"x", "0.W", "0.b", "1.gamma", "1.beta", "3.W", "3.b", "4.gamma", "4.beta"}


class DetachedVBN(VirtualBatchNorm):
    """Wrong on purpose: the live rows treat the reference statistics as constants
    (no gradient through mu_R and s_R from the live rows)."""

    def backward(self, grad_out, *, input_grad=True):
        x, mu, sigma, xhat = self._cache[-1]
        dx = super().backward(grad_out, input_grad=input_grad)
        if dx is None:
            return None
        B, c = self.reference_rows, self.reference_rows / (self.reference_rows + 1)
        h_over_sigma = grad_out * self.params["gamma"] / sigma
        d_mu = -h_over_sigma + h_over_sigma * xhat * mu / sigma
        d_s = -h_over_sigma * xhat / (2 * sigma)
        live_mu, live_s = c * d_mu[B:].sum(axis=0), c * d_s[B:].sum(axis=0)
        dx[:B] -= live_mu / B + 2 * x[:B] * live_s / B     # take the live rows' part back out
        return dx


def test_without_the_gradient_through_the_reference_statistics_the_check_fails():
    vb = small_vb(0)
    for i in (1, 4):
        wrong = DetachedVBN(vb.net.layers[i].n_features, dtype=F64)
        wrong.load_state_dict(vb.net.layers[i].state_dict())
        vb.net.layers[i] = wrong
    vb = VirtualBatch(vb.net, vb.reference)
    res = gradcheck.check_layer(vb, dev(np.random.default_rng(100).standard_normal((4, 3))))
    rows = {r.name: r.passed for r in res.rows}
    assert not rows["0.W"] and not rows["3.W"]      # the weights below each VBN miss the reference's part
    assert rows["x"] and rows["4.gamma"]            # the live input's own path is right


def test_live_rows_of_a_virtual_batch_do_not_depend_on_each_other():
    vb = small_vb(1)
    x = dev(np.random.default_rng(5).standard_normal((6, 3)))
    with no_grad():
        y = vb.forward(x)
        x2 = x.copy()
        x2[2] += 3.0
        y2 = vb.forward(x2)
        y_alone = vb.forward(x[4:5])
    y, y2, y_alone = host(y), host(y2), host(y_alone)
    assert not np.allclose(y2[2], y[2])
    np.testing.assert_allclose(np.delete(y2, 2, axis=0), np.delete(y, 2, axis=0), rtol=1e-13, atol=0)
    np.testing.assert_allclose(y_alone, y[4:5], rtol=1e-13, atol=0)         # alone, the same output
    assert not vb.couples_rows


def test_the_reference_batch_goes_through_the_current_weights():
    vb = small_vb(2)
    x = dev(np.random.default_rng(6).standard_normal((4, 3)))
    with no_grad():
        y = vb.forward(x)
        vb.net.layers[0].params["W"][0] += 0.5      # moves the reference rows' statistics too
        y2 = vb.forward(x)
        want = vb.net.forward(np.concatenate([vb.reference, x]))[5:]
    assert not np.allclose(host(y), host(y2))
    np.testing.assert_array_equal(host(y2), host(want))


def test_kink_gaps_hold_the_reference_rows_smallest_gap_for_every_row():
    vb = small_vb(3)
    x = dev(np.random.default_rng(7).standard_normal((4, 3)))
    gaps = vb.kink_gaps(x)
    full = vb.net.kink_gaps(np.concatenate([vb.reference, x]))
    assert gaps.shape == (4, full.shape[1] + 1)
    np.testing.assert_array_equal(gaps[:, :-1], full[5:])
    assert np.all(gaps[:, -1] == full[:5].min())


def test_a_reference_row_at_a_kink_stops_the_check_instead_of_misleading_it():
    """The middle reference row is the mean of the other two, so after the affine map it sits at
    its VirtualBatchNorm's mean: xhat = 0, and with beta = 0 the ReLU after it is at its kink."""
    vb = small_vb(0, B=3)
    vb.net.layers[1].params["beta"][...] = 0.0
    a, b = np.random.default_rng(8).standard_normal((2, 3))
    vb.reference[...] = dev(np.array([a, (a + b) / 2, b]))
    x = dev(np.random.default_rng(9).standard_normal((4, 3)))
    assert np.all(vb.kink_gaps(x)[:, -1] < 1e-12)
    res = gradcheck.check_layer(vb, x)
    assert not res.rows or all(r.shape == (0, 3) for r in res.rows if r.name == "x")
    assert res.kinks_skipped == 4 and not res.passed


def test_the_reference_is_a_buffer_saved_restored_and_cast():
    vb = small_vb(4)
    state = vb.state_dict()
    assert "reference" in state and "reference" not in vb.params
    np.testing.assert_array_equal(host(state["reference"]), host(vb.reference))
    other = small_vb(5)
    other.load_state_dict(state)
    np.testing.assert_array_equal(host(other.reference), host(vb.reference))
    x = dev(np.random.default_rng(1).standard_normal((3, 3)))
    with no_grad():
        np.testing.assert_array_equal(host(other.forward(x)), host(vb.forward(x)))
    other.astype(np.float32)
    assert other.reference.dtype == np.float32 and other.dtype == np.float32


def test_virtual_batch_refuses_a_net_without_vbn_and_a_reference_of_one_row():
    with pytest.raises(ValueError, match="holds no VirtualBatchNorm"):
        VirtualBatch(Sequential(Linear(2, 3), ReLU()), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="B >= 2 rows"):
        VirtualBatch(Sequential(Linear(2, 3), VirtualBatchNorm(3)), np.zeros((1, 2)))


def test_virtual_batch_backward_without_input_grad_gives_the_same_parameter_gradients():
    vb = small_vb(1)
    x = dev(np.random.default_rng(2).standard_normal((4, 3)))
    g = dev(np.random.default_rng(3).standard_normal((4, 4)))
    vb.zero_grad()
    vb.forward(x)
    assert vb.backward(g).shape == x.shape
    want = {k: v.copy() for k, v in vb.grads.items()}
    vb.zero_grad()
    vb.forward(x)
    assert vb.backward(g, input_grad=False) is None
    for k, v in want.items():
        np.testing.assert_allclose(host(vb.grads[k]), host(v), rtol=1e-13)
    assert not vb._cache and not any(l._cache for l in vb.net.layers)


# ----------------------------------------------------------------------------- inside a GAN
@pytest.mark.parametrize("g_loss", ["minimax", "nonsaturating"])
def test_the_g_step_through_a_frozen_d_with_batch_norm_checks_with_a_virtual_batch_g(g_loss):
    rng = np.random.default_rng(11)
    G = small_vb(6, n_in=3)
    D = Sequential(Linear(4, 6, rng=rng, dtype=F64), BatchNorm(6, dtype=F64), LeakyReLU(0.2),
                   Linear(6, 1, rng=rng, dtype=F64))
    res = gradcheck.check_generator_step(G, D, dev(rng.uniform(-1, 1, (5, 3))), g_loss=g_loss)
    assert res.passed, gradcheck.format_results([res])
    assert {r.name for r in res.rows} >= {"z", "0.W", "1.gamma", "4.beta", "D.grads (frozen)"}


def build_gan(seed=0):
    """G: VirtualBatch over Linear-VBN-ReLU-Linear (32 reference noise vectors); D: Linear-BatchNorm-
    LeakyReLU-Linear. Toy ring of 8 Gaussians, m = 32."""
    rng = np.random.default_rng(seed)
    noise = data.uniform_noise(2)
    G = VirtualBatch(Sequential(Linear(2, 16, rng=rng), VirtualBatchNorm(16, rng=rng), ReLU(),
                                Linear(16, 2, rng=rng)), noise(32, np.random.default_rng(seed + 1)))
    D = Sequential(Linear(2, 16, rng=rng), BatchNorm(16), LeakyReLU(0.2), Linear(16, 1, rng=rng))
    return GAN(G, D, data.ring8(), noise, d_optimizer=optim.SGD(D, 0.05, 0.5),
               g_optimizer=optim.Adam(G, 1e-3), m=32, seed=seed)


def everything(gan):
    return {f"{who}/{k}": np.array(host(v)) for who, net in (("G", gan.G), ("D", gan.D))
            for k, v in net.state_dict().items()}


def test_a_gan_with_vbn_in_g_and_batch_norm_in_d_trains_and_resumes_bit_identically(tmp_path, restore_backend):
    """On NumPy whatever the run's backend: a bit-identical resume needs the generators' states,
    which CuPy's generators do not expose (a CuPy resume re-seeds them)."""
    restore_backend.use("numpy")
    whole = build_gan()
    start = everything(whole)
    whole.train(12)
    assert all(np.isfinite(r[f]) for r in whole.history for f in r)
    end = everything(whole)
    assert not np.array_equal(end["D/1.running_mean"], start["D/1.running_mean"])
    np.testing.assert_array_equal(end["G/reference"], start["G/reference"])   # fixed once
    assert not np.array_equal(end["G/1.gamma"], start["G/1.gamma"])
    samples = whole.sample(5)
    assert samples.shape == (5, 2) and np.all(np.isfinite(samples))

    half = build_gan()
    half.train(6)
    path = checkpoint.save(tmp_path / "half.npz", half)
    resumed = build_gan(seed=0)
    resumed.G.reference[...] = 0.0               # the checkpoint must bring it back
    checkpoint.load(path, resumed)
    resumed.train(6)
    for k, v in everything(whole).items():
        assert np.array_equal(everything(resumed)[k], v), k
    assert resumed.history == whole.history


# ----------------------------------------------------------------------------- the exercise
RAISE = re.compile(r"^( +)raise NotImplementedError\(.*\)\s*$", re.M)

CORRECT = """self.grads["gamma"] += (grad_out * xhat).sum(axis=0)
self.grads["beta"] += grad_out.sum(axis=0)
return gamma / sigma * (grad_out - grad_out.mean(axis=0) - xhat * (grad_out * xhat).mean(axis=0))"""

WRONG = [
    ("rows treated as independent", """self.grads["gamma"] += (grad_out * xhat).sum(axis=0)
self.grads["beta"] += grad_out.sum(axis=0)
return gamma / sigma * grad_out""", ["dL/dx"], ["dL/dgamma", "dL/dbeta", "grads accumulate"]),
    ("the path through sigma left out", """self.grads["gamma"] += (grad_out * xhat).sum(axis=0)
self.grads["beta"] += grad_out.sum(axis=0)
return gamma / sigma * (grad_out - grad_out.mean(axis=0))""", ["dL/dx"], ["dL/dgamma", "dL/dbeta"]),
    ("dgamma without xhat", """self.grads["gamma"] += grad_out.sum(axis=0)
self.grads["beta"] += grad_out.sum(axis=0)
return gamma / sigma * (grad_out - grad_out.mean(axis=0) - xhat * (grad_out * xhat).mean(axis=0))""",
     ["dL/dgamma"], ["dL/dx", "dL/dbeta"]),
    ("assigns grads instead of adding", """self.grads["gamma"] = (grad_out * xhat).sum(axis=0)
self.grads["beta"] = grad_out.sum(axis=0)
return gamma / sigma * (grad_out - grad_out.mean(axis=0) - xhat * (grad_out * xhat).mean(axis=0))""",
     ["grads accumulate"], ["dL/dx", "dL/dgamma", "dL/dbeta"]),
]


def write_solution(tmp_path, body, tag):
    src = (exercises.exercise_dir() / "batchnorm.py").read_text()
    match = RAISE.search(src)
    assert match, "batchnorm.py has no raise NotImplementedError line"
    code = "\n".join(match.group(1) + line for line in body.splitlines())
    path = tmp_path / f"batchnorm_{tag}.py"
    path.write_text(src[:match.start()] + code + src[match.end():])
    return path


def run_checker(capsys, *argv):
    code = exercises.main(list(map(str, argv)))
    return code, capsys.readouterr().out


def verdict(out):
    return next(line for line in out.splitlines() if line.startswith("verdict:"))


def part(out, label):
    return next(line for line in out.splitlines() if line.strip().startswith(label))


def test_the_batch_norm_exercise_is_listed():
    assert "batchnorm" in exercises.EXERCISES
    assert "`batchnorm`" in (exercises.exercise_dir() / "README.md").read_text()


def test_the_untouched_batch_norm_exercise_is_not_implemented(capsys):
    code, out = run_checker(capsys, "batchnorm")
    assert code == 1 and verdict(out).startswith("verdict: NOT IMPLEMENTED") and "TODO" in out


def test_the_batch_norm_solution_passes(tmp_path, capsys):
    code, out = run_checker(capsys, "batchnorm", write_solution(tmp_path, CORRECT, "solution"))
    assert code == 0, out
    assert verdict(out).startswith("verdict: PASS")
    for label in ("forward (given)", "dL/dx (input gradient)", "dL/dgamma (parameter 'gamma')",
                  "dL/dbeta (parameter 'beta')", "grads accumulate (+=)"):
        assert part(out, label).split()[-1] == "yes", out


@pytest.mark.parametrize("label,body,wrong,right", WRONG, ids=[w[0] for w in WRONG])
def test_a_wrong_batch_norm_backward_fails_and_names_the_part(tmp_path, capsys, label, body, wrong, right):
    code, out = run_checker(capsys, "batchnorm", write_solution(tmp_path, body, "wrong"))
    assert code == 1, out
    v = verdict(out)
    assert v.startswith("verdict: FAIL -- wrong:"), out
    for name in wrong:
        assert name in v and "NO" in part(out, name).split(), out
    for name in right:
        assert name not in v and part(out, name).split()[-1] == "yes", out
    if "dL/dx" in wrong:
        assert "hint for dL/dx" in out and "mean(g * xhat)" in out


def test_a_gan_with_batch_norm_in_g_samples_with_its_running_statistics():
    rng = np.random.default_rng(4)
    G = Sequential(Linear(2, 16, rng=rng), BatchNorm(16), ReLU(), Linear(16, 2, rng=rng))
    D = Sequential(Linear(2, 16, rng=rng), LeakyReLU(0.2), Linear(16, 1, rng=rng))
    gan = GAN(G, D, data.grid25(), data.gaussian_noise(2), d_optimizer=optim.SGD(D, 0.05, 0.5),
              g_optimizer=optim.SGD(G, 0.05, 0.5), m=16, seed=1)
    before = G.layers[1].buffers["running_var"].copy()
    gan.train(8)
    assert all(np.isfinite(r[f]) for r in gan.history for f in r)
    moved = G.layers[1].buffers["running_var"].copy()
    assert not np.array_equal(host(moved), host(before))   # G's step (with a cache) moved them
    z = data.gaussian_noise(2)(3, backend.default_rng(0))
    with no_grad():
        G.eval()
        want = G.forward(z)
        G.train()
    np.testing.assert_array_equal(host(gan.sample(3, rng=backend.default_rng(0))), host(want))
    np.testing.assert_array_equal(host(G.layers[1].buffers["running_var"]), host(moved))   # sampling left them
