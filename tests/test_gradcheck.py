"""minigan.gradcheck must pass correct code and FAIL wrong code: wrong derivatives,
masks resampled between forwards, kinks, single-slot caches, a D that is not frozen."""
import subprocess
import sys

import numpy as np
import pytest

from minigan import backend, gradcheck, layers, losses
from minigan.gradcheck import (check_function, check_generator_step, check_layer, check_loss,
                               check_two_forwards, format_results, relative_error)
from minigan.layers import Dropout, LeakyReLU, Linear, Maxout, ReLU, Sequential, Sigmoid, Tanh, no_grad

dev = backend.to_device          # inputs on the active backend (check_layer & co. take them there)


def paper_like_D(rng, n_in=5):
    return Sequential(Dropout(0.8, scale=1.25), Maxout(n_in, 4, 3, irange=0.5, rng=rng),
                      Dropout(0.5, scale=2.0), Maxout(4, 3, 2, irange=0.5, rng=rng),
                      Dropout(0.5, scale=2.0), Linear(3, 1, irange=0.5, rng=rng))


# ----------------------------------------------------------------------------- correct code passes
@pytest.mark.parametrize("make", [
    lambda r: Linear(5, 3, rng=r), lambda r: ReLU(), lambda r: layers.LeakyReLU(0.2), lambda r: Sigmoid(),
    lambda r: Tanh(), lambda r: Maxout(5, 3, 4, rng=r), lambda r: Dropout(0.5), paper_like_D,
    lambda r: Sequential(Linear(5, 6, rng=r), ReLU(), Linear(6, 2, rng=r), Sigmoid()),
], ids=["Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Maxout", "Dropout", "paper D", "G"])
def test_correct_layers_pass(make, rng):
    layer = make(rng)
    res = check_layer(layer, dev(rng.normal(size=(4, 5)).astype(np.float32)))
    assert res.passed, res.table()
    assert [r.name for r in res.rows] == ["x"] + list(layer.params)
    assert all(r.rel_error < 1e-8 for r in res.rows)
    assert layer.dtype in (None, np.float32)                 # the caller's layer is not cast


def test_losses_pass(rng):
    r, f = dev(rng.normal(size=6)), dev(rng.normal(size=(5, 1)))
    for res in (check_loss(losses.value_function, r, f),
                check_loss(losses.discriminator_loss, r, f, scale=0.5, real_label=0.9),
                check_loss(losses.bce_with_logits, r, target=0.2),
                check_loss(losses.generator_loss_minimax, f),
                check_loss(losses.generator_loss_nonsaturating, f)):
        assert res.passed, res.table()
    assert "scale=0.5" in check_loss(losses.discriminator_loss, r, f, scale=0.5).title


# ----------------------------------------------------------------------------- wrong code fails
class WrongSigmoid(Sigmoid):
    def backward(self, grad_out):
        (y,) = self._load()
        return grad_out * y * (1 + y)          # sign slip


class WrongBiasLinear(Linear):
    def backward(self, grad_out):
        (x,) = self._load()
        self._accumulate("W", x.T @ grad_out)
        self._accumulate("b", grad_out.mean(axis=0))      # mean instead of sum
        return grad_out @ self.params["W"].T


def test_wrong_backward_fails(rng):
    x = dev(rng.normal(size=(4, 5)))
    res = check_layer(WrongSigmoid(), x)
    assert not res.passed and res.rows[0].rel_error > 0.1
    res = check_layer(WrongBiasLinear(5, 3, rng=0), x)
    by_name = {r.name: r for r in res.rows}
    assert not res.passed
    assert by_name["x"].passed and by_name["W"].passed and not by_name["b"].passed
    assert "FAIL" in res.table() and "NO" in res.table()


def test_wrong_loss_gradient_fails(rng):
    def bad_nonsaturating(a):
        v, g = losses.generator_loss_nonsaturating(a)
        return v, g * a.shape[0]               # forgot the 1/m
    assert not check_loss(bad_nonsaturating, dev(rng.normal(size=6))).passed


def test_random_upstream_gradient_catches_what_all_ones_would_miss(rng):
    W = dev(rng.normal(size=(3, 4)))
    params, grads = {"W": W}, {"W": np.zeros_like(W)}
    x = dev(rng.normal(size=(2, 3)))

    def forward(x):
        return x @ W

    def bad_backward(g):                       # columns of g reversed: invisible when g is all ones
        g = g[:, ::-1]
        grads["W"] += x.T @ g
        return g @ W.T

    ones = lambda y: (float(y.sum()), np.ones_like(y))      # noqa: E731
    assert check_function(forward, bad_backward, x, params, grads, objective=ones).passed
    assert not check_function(forward, bad_backward, x, params, grads).passed


def test_backward_returning_wrong_shape_or_nothing_fails(rng):
    x = dev(rng.normal(size=(3, 2)))
    res = check_function(lambda x: 2 * x, lambda g: (2 * g)[:, :1], x)
    assert not res.passed and "expected shape (3, 2)" in " ".join(res.failed_notes)
    assert not check_function(lambda x: 2 * x, lambda g: None, x).passed


# ----------------------------------------------------------------------------- Dropout masks
def test_dropout_mask_is_frozen_and_restored(rng):
    d = Dropout(0.5, rng=4)
    state = d.rng.bit_generator.state
    res = check_layer(d, dev(rng.normal(size=(6, 5))))
    assert res.passed and "random draws of 1 layer(s) frozen for the check (1 Dropout)" in res.table()
    assert d.fixed_mask is None                              # the caller's layer is untouched
    assert d.rng.bit_generator.state == state
    user_mask = dev(np.ones((6, 5), bool))                   # a mask the user froze draws nothing: kept
    d.fixed_mask = user_mask
    res = check_layer(d, dev(rng.normal(size=(6, 5))))
    assert res.passed and "frozen" not in res.table()
    assert d.fixed_mask is user_mask
    d.fixed_mask = dev(np.ones((2, 2), bool))                # ... so one that does not fit is refused
    with pytest.raises(ValueError, match=r"fixed_mask has shape \(2, 2\), input \(6, 5\)"):
        check_layer(d, dev(rng.normal(size=(6, 5))))


def test_frozen_dropout_context_sets_and_restores_masks(rng):
    D = paper_like_D(rng)
    user_mask = dev(np.ones((3, 4), bool))
    D.layers[2].fixed_mask = user_mask
    x = dev(rng.uniform(0, 1, (3, 5)).astype(np.float32))
    with gradcheck.frozen_dropout(D, x, seed=1) as frozen:
        assert frozen == [D.layers[0], D.layers[4]]               # a user's mask draws nothing: kept
        assert D.layers[2].fixed_mask is user_mask and D.layers[0].fixed_mask.shape == (3, 5)
        with no_grad():
            assert np.array_equal(backend.to_host(D.forward(x)), backend.to_host(D.forward(x)))   # no resampling inside
    assert D.layers[0].fixed_mask is None and D.layers[2].fixed_mask is user_mask
    with pytest.raises(KeyError):
        with gradcheck.frozen_dropout(D, x):
            raise KeyError("boom")
    assert D.layers[0].fixed_mask is None and D.layers[4].fixed_mask is None
    with no_grad():
        assert not np.array_equal(D.forward(x), D.forward(x))       # outside: fresh masks again


def test_module_exports():
    for name in gradcheck.__all__:
        assert hasattr(gradcheck, name), name


def test_resampled_dropout_would_fail(rng):
    """Without frozen masks, numeric forwards would redraw them: the check must fail."""
    d = Dropout(0.5, rng=0)
    x = dev(rng.normal(size=(6, 5)))
    assert not check_function(d.forward, d.backward, x).passed


def test_two_forwards_get_different_masks_and_pass(rng):
    D = paper_like_D(rng)
    res = check_two_forwards(D, dev(rng.uniform(0, 1, (4, 5))), dev(rng.uniform(0, 1, (3, 5))), scale=0.5, real_label=0.9)
    assert res.passed, res.table()
    assert [r.name for r in res.rows][:2] == ["x_real", "x_fake"]
    assert "(3 Dropout) frozen, with different draws for the real and the fake forward" in res.table()
    assert all(d.fixed_mask is None for d in D.layers if isinstance(d, Dropout))


class SingleSlotLinear(Linear):
    """The classic NumPy-GAN bug: one cache slot, overwritten by the second forward."""

    def _save(self, *tensors):
        if layers.base._grad_enabled[0]:
            self._cache[:] = [tensors]

    def _load(self):
        return self._cache[-1]


def test_single_slot_cache_fails_the_two_forward_check(rng):
    D = Sequential(SingleSlotLinear(5, 4, rng=0), Tanh(), Linear(4, 1, rng=1))
    xr, xf = dev(rng.normal(size=(3, 5))), dev(rng.normal(size=(3, 5)))
    res = check_two_forwards(D, xr, xf)
    assert not res.passed
    good = Sequential(Linear(5, 4, rng=0), Tanh(), Linear(4, 1, rng=1))
    assert check_two_forwards(good, xr, xf).passed


# ----------------------------------------------------------------------------- kinks
def test_relu_kinks_are_moved_and_reported(rng):
    x = dev(rng.normal(size=(5, 4)))
    x[[0, 2], 1] = 0.0                           # two rows sit exactly on the kink
    relu = ReLU()
    assert not check_function(relu.forward, relu.backward, x.copy()).passed   # why kinks matter
    res = check_layer(relu, x)
    assert res.passed and res.kinks_moved == 2 and res.kinks_skipped == 0
    assert res.rows[0].kinks_moved == 2
    assert "kink rows moved 2, skipped 0" in res.table()


def test_maxout_ties_are_moved_or_skipped_and_reported(rng):
    mo = Maxout(2, 1, 2, irange=1.0, rng=0)
    mo.params["W"][...] = [[1.0, 0.0], [0.0, 1.0]]        # piece 1 = x0, piece 2 = x1
    x = dev(rng.normal(size=(6, 2)))
    x[[1, 4], 1] = x[[1, 4], 0]                            # two rows tie exactly
    assert not check_function(*_as64(mo), x.copy(), *_params64(mo)).passed
    res = check_layer(mo, x)
    assert res.passed and (res.kinks_moved, res.kinks_skipped) == (2, 0)
    res = check_layer(mo, x, max_redraws=0)                # no re-draws allowed: the rows are dropped
    assert res.passed and (res.kinks_moved, res.kinks_skipped) == (0, 2)
    assert res.rows[0].shape == (4, 2)
    assert "skipped 2" in res.table()


def _as64(layer):
    layer.astype(np.float64)
    return layer.forward, layer.backward


def _params64(layer):
    return layer.params, layer.grads


def test_a_kink_everywhere_fails_instead_of_passing_vacuously(rng):
    mo = Maxout(3, 2, 2, rng=0)
    mo.params["W"][:, 1] = mo.params["W"][:, 0]            # unit 0's two pieces identical: always tied
    res = check_layer(mo, dev(rng.normal(size=(4, 3))))
    assert not res.passed and res.kinks_skipped == 4
    assert "every input row sits at a kink" in res.table()


def test_kinks_inside_a_stack_are_found(rng):
    """A ReLU after a Linear: the kink is in the hidden pre-activation, not the input."""
    net = Sequential(Linear(2, 1, rng=0), ReLU())
    net.layers[0].params["W"][...] = [[1.0], [-1.0]]
    x = dev(rng.normal(size=(5, 2)))
    x[3, 1] = x[3, 0]                                       # hidden unit exactly 0 in row 3
    res = check_layer(net, x)
    assert res.passed and res.kinks_moved == 1


# ----------------------------------------------------------------------------- the G step
@pytest.mark.parametrize("g_loss", ["minimax", "nonsaturating"])
def test_generator_step_check(rng, g_loss):
    G = Sequential(Linear(3, 6, rng=rng), ReLU(), Linear(6, 5, rng=rng), Sigmoid())
    D = paper_like_D(rng)
    res = check_generator_step(G, D, dev(rng.uniform(-1, 1, (4, 3))), g_loss=g_loss)
    assert res.passed, res.table()
    names = [r.name for r in res.rows]
    assert names == ["z"] + list(G.params) + ["D.grads (frozen)"]
    assert res.rows[-1].rel_error == 0.0


class UnfreezableLinear(Linear):
    def backward(self, grad_out):
        (x,) = self._load()
        self._accumulate("W", x.T @ grad_out)               # ignores requires_grad
        self._accumulate("b", grad_out.sum(axis=0))
        return grad_out @ self.params["W"].T


def test_generator_step_check_catches_a_d_that_is_not_frozen(rng):
    G = Sequential(Linear(3, 4, rng=rng), Tanh())
    D = Sequential(UnfreezableLinear(4, 1, rng=rng))
    res = check_generator_step(G, D, dev(rng.normal(size=(3, 3))))
    frozen_row = res.rows[-1]
    assert not res.passed and not frozen_row.passed and frozen_row.rel_error > 0
    assert all(r.passed for r in res.rows[:-1])            # G's own gradients are still right


# ----------------------------------------------------------------------------- student objects
class StudentAffine:
    """A hand-rolled layer that is not a minigan Layer: only the protocol."""

    def __init__(self, W, b, wrong=False):
        self.params = {"W": W, "b": b}
        self.grads = {"W": np.zeros_like(W), "b": np.zeros_like(b)}
        self.wrong = wrong
        self.x = None

    def forward(self, x):
        self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, g):
        self.grads["W"] += self.x.T @ g * (1.01 if self.wrong else 1.0)
        self.grads["b"] += g.sum(axis=0)
        return g @ self.params["W"].T


def test_any_object_with_the_protocol(rng):
    W, b = dev(rng.normal(size=(3, 2))), dev(rng.normal(size=2))
    assert check_layer(StudentAffine(W.copy(), b.copy()), dev(rng.normal(size=(4, 3)))).passed
    res = check_layer(StudentAffine(W.copy(), b.copy(), wrong=True), dev(rng.normal(size=(4, 3))))
    assert not res.passed and [r.passed for r in res.rows] == [True, False, True]
    with pytest.raises(TypeError, match="float64"):
        check_layer(StudentAffine(W.astype(np.float32), b.astype(np.float32)), dev(rng.normal(size=(4, 3))))


def test_numeric_forwards_run_in_no_grad_and_leave_no_cache(rng):
    lin = Linear(3, 2, rng=0, dtype=np.float64)
    modes = []
    real_forward = lin.forward

    def forward(x):
        modes.append(layers.base._grad_enabled[0])
        return real_forward(x)

    res = check_function(forward, lin.backward, dev(rng.normal(size=(2, 3))), lin.params, lin.grads)
    assert res.passed
    assert modes[0] is True and len(modes) == 1 + 2 * (6 + 6 + 2) and not any(modes[1:])
    assert lin._cache == []


def test_leftover_cache_fails(rng):
    class LeakyCache(Linear):
        def backward(self, g):
            out = super().backward(g)
            self._cache.append(self._cache[-1] if self._cache else (None,))
            return out
    res = check_layer(LeakyCache(3, 2, rng=0), dev(rng.normal(size=(2, 3))))
    assert not res.passed and "left pending" in res.table()


# ----------------------------------------------------------------------------- the numbers and the table
def test_relative_error_definition():
    assert relative_error([1.0, 2.0], [1.0, 2.0]) == (0.0, 0.0)
    assert relative_error([1.0], [0.0]) == (1.0, 1.0)
    rel, ab = relative_error([1.0, -4.0], [1.0, -3.0])
    assert ab == 1.0 and rel == pytest.approx(1.0 / 7.0)
    assert relative_error(np.zeros(3), np.zeros(3)) == (0.0, 0.0)
    assert relative_error(np.zeros(3), [0, 1e-200, 0])[0] == pytest.approx(1.0)


def test_numeric_gradient_restores_the_array():
    a = np.array([0.3, -1.7, 2.0])
    before = a.copy()
    g = gradcheck.numeric_gradient(lambda: float((a ** 3).sum()), a)
    assert np.array_equal(a, before)
    assert np.allclose(g, 3 * before ** 2, rtol=1e-8)


def test_format_results_table(rng):
    good = check_layer(Linear(3, 2, rng=0), dev(rng.normal(size=(2, 3))))
    bad = check_layer(WrongSigmoid(), dev(rng.normal(size=(2, 3))))
    text = format_results([good, bad])
    assert "PASS  Linear(3, 2)" in text and "FAIL  WrongSigmoid()" in text
    assert "rel. error" in text and "kinks mv/sk" in text
    assert text.strip().endswith("2 checks, 1 passed, 1 failed")
    assert str(good) == good.table()


def test_main_runs_every_check_and_sets_the_exit_status(capsys):
    assert gradcheck.main([]) == 0
    out = capsys.readouterr().out
    for name in ("Linear(5, 3)", "ReLU()", "LeakyReLU(0.2)", "Sigmoid()", "Tanh()", "Maxout(5, units=3",
                 "Dropout(keep=0.5)", "paper-like D", "value_function", "discriminator_loss(scale=0.5, "
                 "real_label=0.9)", "bce_with_logits", "generator_loss_minimax",
                 "generator_loss_nonsaturating", "G step (minimax)", "G step (nonsaturating)",
                 "D used twice"):
        assert name in out, name
    assert " 0 failed" in out
    # a step so large that central differences measure curvature: the curved layers fail
    assert gradcheck.main(["--eps", "0.5", "--seed", "3"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  Sigmoid()" in out and "PASS  Linear(5, 3)" in out
    # kink_delta = 1000 eps = 500: no row of a ReLU model is that far from a kink -- a failure that says so
    assert "FAIL  G step (minimax)" in out and "every input row sits at a kink (within kink_delta = 500" in out
    assert gradcheck.main(["--eps", "-1"]) == 2          # bad usage: an exit status, not an exception
    capsys.readouterr()
    assert gradcheck.main(["--eps", "0"]) == 2           # one line, the bad flag only, as every command says it
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("minigan gradcheck: error: ")
    assert "--eps must be a positive number, got '0'" in err and "--tol" not in err
    assert gradcheck.main(["--tol", "nan"]) == 2
    err = capsys.readouterr().err
    assert "--tol must be a positive number" in err and "--eps" not in err


def test_python_m_minigan_gradcheck():
    import fakecupy
    r = subprocess.run(fakecupy.python_command() + ["-m", "minigan", "gradcheck", "--seed", "1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 failed" in r.stdout


def test_zeros_a_dropout_mask_made_are_not_kinks():
    """Units a frozen Dropout mask dropped are exactly 0 before the next ReLU whatever
    the input: no kink, nothing to skip (they used to fail every row)."""
    for model in (Sequential(Linear(5, 6, rng=0), Dropout(0.5, rng=1), ReLU(), Linear(6, 2, rng=2)),
                  Sequential(Dropout(0.8, rng=3), LeakyReLU())):
        res = gradcheck.check_layer(model)
        assert res.passed and res.kinks_skipped == 0, res.table()
    for seed in range(5):                  # a row Dropout removed before a Linear: its zero bias is at a kink
        model = Sequential(Dropout(0.5, rng=seed), Linear(2, 3, rng=seed), ReLU(), Linear(3, 1, rng=seed + 100))
        res = gradcheck.check_layer(model, dev(np.random.default_rng(seed).standard_normal((6, 2))))
        assert res.passed, res.table()
    x = dev(np.zeros((3, 5)))              # a zero row through zero biases IS at the kink: moved, not ignored
    res = gradcheck.check_layer(Sequential(Linear(5, 4, bias=False, rng=0), ReLU()), x)
    assert res.kinks_moved == 3 and res.passed


def test_saturated_layers_pass_within_the_noise_floor_and_wrong_ones_still_fail():
    rng = np.random.default_rng(0)

    class SigmoidWithoutOneMinusY(layers.Layer):
        def forward(self, x):
            y = losses.sigmoid(x)
            self._save(y)
            return y

        def backward(self, grad_out):
            (y,) = self._load()
            return grad_out * y                        # forgot the (1 - y)

    for c in (12.0, 18.0):                             # sigma'(x) ~ 6e-6 and 1.5e-8
        x = dev(rng.standard_normal((4, 5))) + c
        res = gradcheck.check_layer(Sigmoid(), x)
        assert res.passed and any("noise floor" in n for n in res.notes), res.table()
        assert not gradcheck.check_layer(SigmoidWithoutOneMinusY(), x).passed


def test_a_composite_that_is_not_a_chain_is_walked_as_one_leaf():
    """A Sequential subclass with a forward of its own (here: output plus a copy of the input)
    is checked as a whole; Dropout inside it cannot be frozen from outside, and the check says so."""
    class Around(Sequential):
        def forward(self, x):
            return backend.array_module(x).concatenate([self.layers[0].forward(x), x], axis=1)

        def backward(self, grad_out, *, input_grad=True):
            g = self.layers[0].backward(grad_out[:, :2], input_grad=input_grad)
            return None if g is None else g + grad_out[:, 2:]

    rng = np.random.default_rng(0)
    G = Around(Sequential(Linear(3, 2, rng=rng, dtype=np.float64), ReLU()))
    D = Sequential(Linear(5, 4, rng=rng, dtype=np.float64), ReLU(), Linear(4, 1, rng=rng, dtype=np.float64))
    assert check_generator_step(G, D, dev(rng.uniform(-1, 1, (4, 3)))).passed
    G = Around(Sequential(Dropout(0.5, rng=1), Linear(3, 2, rng=rng, dtype=np.float64)))
    with pytest.raises(ValueError, match=r"cannot freeze the random draws of Dropout inside Around"):
        check_generator_step(G, D, dev(rng.uniform(-1, 1, (4, 3))))
    G.eval()                                       # no active Dropout: checked as a whole
    assert check_generator_step(G, D, dev(rng.uniform(-1, 1, (4, 3)))).passed
    G.train()
    G.layers[0].layers[0].fixed_mask = dev(np.ones((4, 3), bool))     # a mask the user froze: accepted
    assert check_generator_step(G, D, dev(rng.uniform(-1, 1, (4, 3)))).passed
    G = Around(Sequential(Dropout(1.0), Linear(3, 2, rng=rng, dtype=np.float64), ReLU()))
    res = check_generator_step(G, D, dev(rng.uniform(-1, 1, (4, 3))))  # keep 1, scale 1: the identity
    assert res.passed and any("Around: its forward is not a chain" in n for n in res.notes)


def test_a_composite_can_pass_the_check_protocol_down_to_an_inner_sequential():
    """A composite with a forward of its own whose inner layers see its input as it is
    can hand freeze_random / unfreeze_random / kink_gaps to its inner Sequential: its
    Dropout is then frozen and its kinks searched, with no note."""
    class Around(Sequential):
        def forward(self, x):
            return backend.array_module(x).concatenate([self.layers[0].forward(x), x], axis=1)

        def backward(self, grad_out, *, input_grad=True):
            g = self.layers[0].backward(grad_out[:, :2], input_grad=input_grad)
            return None if g is None else g + grad_out[:, 2:]

        def freeze_random(self, x, rng):
            return self.layers[0].freeze_random(x, rng)

        def unfreeze_random(self, token):
            self.layers[0].unfreeze_random(token)

        def kink_gaps(self, x):
            return self.layers[0].kink_gaps(x)

    rng = np.random.default_rng(0)
    G = Around(Sequential(Dropout(0.5, rng=1), Linear(3, 2, rng=rng, dtype=np.float64), ReLU()))
    D = Sequential(Linear(5, 4, rng=rng, dtype=np.float64), ReLU(), Linear(4, 1, rng=rng, dtype=np.float64))
    res = check_generator_step(G, D, dev(rng.uniform(-1, 1, (4, 3))))
    assert res.passed, res.table()
    assert not any("not a chain" in n for n in res.notes)
    assert G.layers[0].layers[0].fixed_mask is None              # put back after the check


# ----------------------------------------------------------------------------- the checker learns from each layer
class CenterRows(layers.Layer):
    """Test-only layer whose rows are coupled: y_i = x_i - mean_j x_j (batch-norm's centring)."""
    couples_rows = True

    def __init__(self, independent_rows_backward=False):
        super().__init__()
        self.wrong = independent_rows_backward

    def forward(self, x):
        self._save(len(x))
        return x - x.mean(axis=0)

    def backward(self, grad_out, *, input_grad=True):
        """dL/dx_k = sum_i dL/dy_i (delta_ik - 1/n) = dL/dy_k - mean_i dL/dy_i."""
        (n,) = self._load()
        if not input_grad:
            return None
        if self.wrong:                        # rows treated as independent: only dy_k/dx_k = 1 - 1/n
            return grad_out * (1 - 1 / n)
        return grad_out - grad_out.mean(axis=0)


class CenteredReLU(CenterRows):
    """Test-only layer with a kink and coupled rows: y_i = max(0, x_i - mean_j x_j).
    Records (in the class: a check works on a copy) the input of every forward that
    keeps a cache, i.e. the batch that was checked."""
    checked: list = []

    def __init__(self):
        super().__init__()

    def forward(self, x):
        c = x - x.mean(axis=0)
        positive = c > 0
        self._save(positive)
        if layers.base._grad_enabled[0]:
            self.checked.append(backend.to_host(x).copy())
        return c * positive

    def backward(self, grad_out, *, input_grad=True):
        (positive,) = self._load()
        g = grad_out * positive
        return g - g.mean(axis=0) if input_grad else None

    def kink_gaps(self, x):
        x = backend.to_host(x).astype(np.float64)
        return np.abs(x - x.mean(axis=0))


class GaussianNoise(layers.Layer):
    """Test-only layer with a random draw: y = x + sigma * eps, eps ~ N(0, 1) at every
    forward in training mode. The checker learns of eps only through the protocol."""

    def __init__(self, sigma=0.5, rng=None):
        super().__init__()
        self.sigma = sigma
        self.rng = backend.default_rng(rng)
        self.fixed_eps = None

    def forward(self, x):
        self._save(x.shape)
        if not self.training:
            return x
        eps = self.fixed_eps if self.fixed_eps is not None else self.rng.standard_normal(x.shape)
        return x + self.sigma * eps

    def backward(self, grad_out, *, input_grad=True):
        self._load()
        return grad_out if input_grad else None

    def draws_random(self):
        return self.training and self.fixed_eps is None

    def freeze_random(self, x, rng):
        token, self.fixed_eps = self.fixed_eps, dev(rng.standard_normal(x.shape))   # the check draws on the host
        return token

    def unfreeze_random(self, token):
        self.fixed_eps = token


class SilentNoise(GaussianNoise):
    """The same noise, but the layer does not say that it draws."""

    def draws_random(self):
        return False


def test_a_layer_with_coupled_rows_is_checked_on_the_whole_batch(rng):
    x = dev(rng.standard_normal((5, 3)))
    res = check_layer(CenterRows(), x)
    assert res.passed, res.table()
    assert res.rows[0].shape == (5, 3)
    assert any("rows are coupled (CenterRows): checked on the whole batch of 5 rows" in n for n in res.notes)
    wrong = check_layer(CenterRows(independent_rows_backward=True), x)
    assert not wrong.passed and wrong.rows[0].rel_error > 0.1, wrong.table()
    # inside a chain, with parameters: Sequential couples rows because one of its layers does
    net = Sequential(Linear(3, 4, rng=0), CenterRows(), Tanh(), Linear(4, 2, rng=1))
    assert net.couples_rows
    res = check_layer(net, x)
    assert res.passed and "rows are coupled (CenterRows)" in res.table()
    wrong = Sequential(Linear(3, 4, rng=0), CenterRows(True), Tanh(), Linear(4, 2, rng=1))
    res = check_layer(wrong, x)
    assert not res.passed and not res.rows[0].passed and not res.rows[1].passed, res.table()


@pytest.mark.parametrize("make", [CenteredReLU, lambda: Sequential(CenterRows(), ReLU())],
                         ids=["CenteredReLU", "CenterRows-ReLU"])
def test_coupled_rows_at_a_kink_redraw_the_whole_batch(rng, make):
    x = dev(rng.standard_normal((4, 3)))
    x[0, 1] = x[1:, 1].mean()                  # row 0 exactly at the kink: x_01 - mean_j x_j1 = 0
    layer = make()
    assert not check_function(*_as64(make()), x.copy()).passed       # why kinks matter
    CenteredReLU.checked = []
    res = check_layer(layer, x)
    assert res.passed, res.table()
    assert res.kinks_moved == 4 and res.kinks_skipped == 0     # every row moved, not only row 0
    assert any("the whole batch was re-drawn 1 time(s) to move it away from kinks, never single rows" in n
               for n in res.notes), res.table()
    if isinstance(layer, CenteredReLU):        # the checked batch: every row differs from the given one
        assert len(CenteredReLU.checked) == 1
        assert all((CenteredReLU.checked[0][i] != backend.to_host(x)[i]).all() for i in range(4))
    res = check_layer(make(), x, max_redraws=0)                   # no re-draw allowed: no row is dropped
    assert not res.passed and res.kinks_skipped == 4 and not res.rows
    assert "its rows are coupled" in res.table() and "no single row can be dropped" in res.table()


def test_rows_coupled_in_D_redraw_the_whole_z_batch_in_the_generator_step(rng):
    G = Sequential(Linear(3, 4, rng=0), Tanh())
    D = Sequential(CenteredReLU(), Linear(4, 1, rng=1))
    res = check_generator_step(G, D, dev(rng.uniform(-1, 1, (5, 3))))
    assert res.passed and "z: rows are coupled (CenteredReLU)" in res.table(), res.table()


def test_random_draws_are_learnt_from_the_protocol(rng):
    """Gaussian noise is frozen only because the layer says it draws: the same layer
    that does not say so fails, since every numeric forward draws new noise."""
    x = dev(rng.standard_normal((4, 3)))
    noisy = Sequential(Linear(3, 4, rng=0), GaussianNoise(0.5, rng=1), Tanh(), Linear(4, 2, rng=2))
    state = noisy.layers[1].rng.bit_generator.state
    res = check_layer(noisy, x)
    assert res.passed, res.table()
    assert "random draws of 1 layer(s) frozen for the check (1 GaussianNoise)" in res.table()
    assert noisy.layers[1].fixed_eps is None and noisy.layers[1].rng.bit_generator.state == state
    silent = Sequential(Linear(3, 4, rng=0), SilentNoise(0.5, rng=1), Tanh(), Linear(4, 2, rng=2))
    assert not check_layer(silent, x).passed
    both = Sequential(Dropout(0.5, rng=3), Linear(3, 4, rng=0), GaussianNoise(0.5, rng=1), Tanh(),
                      Linear(4, 2, rng=2))
    res = check_layer(both, x)
    assert res.passed and "(1 Dropout, 1 GaussianNoise)" in res.table(), res.table()


def test_noise_gets_different_draws_for_the_real_and_the_fake_forward(rng):
    D = Sequential(Linear(5, 4, rng=0), GaussianNoise(0.3, rng=1), Tanh(), Linear(4, 1, rng=2))
    res = check_two_forwards(D, dev(rng.uniform(0, 1, (4, 5))), dev(rng.uniform(0, 1, (3, 5))))
    assert res.passed, res.table()
    assert "(1 GaussianNoise) frozen, with different draws for the real and the fake forward" in res.table()
    assert D.layers[1].fixed_eps is None


def test_frozen_random_freezes_every_draw_and_frozen_dropout_is_its_old_name(rng):
    net = Sequential(Dropout(0.5, rng=0), Linear(3, 4, rng=0, dtype=np.float64), GaussianNoise(rng=1), Tanh())
    x = dev(rng.standard_normal((4, 3)))
    with gradcheck.frozen_random(net, x) as frozen:
        assert frozen == [net.layers[0], net.layers[2]]
        with no_grad():
            assert np.array_equal(backend.to_host(net.forward(x)), backend.to_host(net.forward(x)))
    assert net.layers[0].fixed_mask is None and net.layers[2].fixed_eps is None
    assert gradcheck.frozen_dropout is gradcheck.frozen_random


def test_a_layer_that_draws_but_cannot_freeze_is_refused():
    class Unfreezable(layers.Layer):
        def forward(self, x):
            self._save()
            return x

        def backward(self, grad_out, *, input_grad=True):
            self._load()
            return grad_out if input_grad else None

        def draws_random(self):
            return True

    with pytest.raises(NotImplementedError, match="Unfreezable draws random numbers"):
        check_layer(Sequential(Linear(3, 2, rng=0), Unfreezable()), dev(np.ones((2, 3))))


def test_the_checker_holds_no_list_of_layer_classes():
    """Everything the checker knows of a layer comes from the protocol: no module of the
    package but the suite (which builds the layers it checks) names a layer class."""
    import ast
    import pathlib
    classes = {"Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Maxout", "Dropout"}
    folder = pathlib.Path(gradcheck.__file__).parent
    files = sorted(p for p in folder.glob("*.py") if p.name != "suite.py")
    assert {p.name for p in files} >= {"__init__.py", "results.py", "numeric.py", "model.py", "draws.py",
                                       "kinks.py", "checks.py"}
    for path in files:
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert not names & classes, (path.name, names & classes)
