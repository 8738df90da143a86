"""The trainer is Algorithm 1: who moves when, what is sampled, what is recorded.

On the active backend (NumPy, or CuPy on a GPU or under the stand-in): minibatches given by
hand go through ``dev``, asserts read ``host`` copies; a test that reads or copies a NumPy
generator's state runs on NumPy and says so."""
import copy
import math

import numpy as np
import pytest

from minigan import backend, data, losses, models, optim
from minigan.train import GAN, HISTORY_FIELDS, History, TrainingDiverged
from minigan.layers import Dropout, Linear, Sequential, Tanh

dev, host = backend.to_device, backend.to_host      # inputs onto the active backend, results back for asserts


def snapshot(net):
    return {k: v.copy() for k, v in net.params.items()}


def same(a, b):
    return all(np.array_equal(a[k], b[k]) for k in a)


def toy_gan(k=1, m=16, order="sequential", g_loss="nonsaturating", data_sampler=None,
            noise_sampler=None, dtype=np.float32, lr=0.05, D=None, G=None, **kw):
    G = G or models.mlp([1, 8, 1], rng=0, dtype=dtype)
    D = D or models.mlp([1, 8, 1], rng=1, dtype=dtype)
    return GAN(G, D, data_sampler or data.gaussian_1d(dtype=dtype),
               noise_sampler or data.uniform_noise(1, dtype=dtype),
               d_optimizer=optim.SGD(D, lr, 0.5), g_optimizer=optim.SGD(G, lr, 0.5),
               k=k, m=m, order=order, g_loss=g_loss, seed=0, **kw)


class Spy:
    """A sampler that records every call and returns a fresh minibatch each time."""

    def __init__(self, inner):
        self.inner, self.calls, self.batches = inner, [], []

    def __call__(self, m, rng):
        x = self.inner(m, rng)
        self.calls.append(m)
        self.batches.append(x.copy())
        return x


class Fixed:
    """Always the same minibatch (for hand-built comparisons)."""

    def __init__(self, x):
        self.x, self.calls = x, 0

    def __call__(self, m, rng):
        self.calls += 1
        assert m == len(self.x)
        return self.x.copy()


# ---------------------------------------------------------------------- who moves when
def test_d_step_moves_only_D():
    gan = toy_gan()
    g0, d0 = snapshot(gan.G), snapshot(gan.D)
    gan.d_step()
    assert same(g0, snapshot(gan.G)), "G's parameters changed during a D step"
    assert not same(d0, snapshot(gan.D)), "D's parameters did not move during a D step"


@pytest.mark.parametrize("g_loss", ["minimax", "nonsaturating"])
def test_g_step_moves_only_G(g_loss):
    gan = toy_gan(g_loss=g_loss)
    gan.d_step()                         # a D step first, so D's momentum buffer is non-zero
    g0, d0 = snapshot(gan.G), snapshot(gan.D)
    d_grads = {k: v.copy() for k, v in gan.D.grads.items()}
    gan.g_step()
    assert same(d0, snapshot(gan.D)), "D's parameters changed during a G step"
    assert same(d_grads, gan.D.grads), "the G step accumulated into D's gradients"
    assert not same(g0, snapshot(gan.G)), "G's parameters did not move during a G step"
    assert gan.D.requires_grad, "D must be unfrozen again after the G step"


@pytest.mark.parametrize("k", [1, 3])
def test_k_d_steps_draw_k_fresh_minibatches(k):
    x_spy = Spy(data.gaussian_1d())
    z_spy = Spy(data.uniform_noise(1))
    gan = toy_gan(k=k, m=16, data_sampler=x_spy, noise_sampler=z_spy)
    gan.step()
    assert x_spy.calls == [16] * k, "k D steps need k minibatches of m data examples"
    assert z_spy.calls == [16] * (k + 1), "k D steps and one G step need k + 1 noise minibatches"
    for batches in (x_spy.batches, z_spy.batches):
        for i in range(len(batches)):
            for j in range(i):
                assert not np.array_equal(batches[i], batches[j]), "a minibatch was reused"
    gan.step()
    assert len(x_spy.calls) == 2 * k and len(z_spy.calls) == 2 * (k + 1)


def test_d_counts_k_optimizer_steps_per_iteration():
    gan = toy_gan(k=3)
    gan.train(2)
    assert gan.d_opt.t == 6 and gan.g_opt.t == 2


# ---------------------------------------------------------------------- g_steps G steps per iteration
def test_g_steps_after_k_d_steps_draw_fresh_noise_and_step_g_that_often():
    x_spy, z_spy = Spy(data.gaussian_1d()), Spy(data.uniform_noise(1))
    gan = toy_gan(k=2, g_steps=3, data_sampler=x_spy, noise_sampler=z_spy)
    gan.train(2)
    assert x_spy.calls == [16] * 4, "two D steps per iteration need two minibatches of data each"
    assert z_spy.calls == [16] * 10, "2 D steps and 3 G steps need 5 noise minibatches per iteration"
    for i in range(len(z_spy.batches)):
        for j in range(i):
            assert not np.array_equal(z_spy.batches[i], z_spy.batches[j]), "a noise minibatch was reused"
    assert gan.d_opt.t == 4 and gan.g_opt.t == 6


def test_g_steps_are_that_many_g_step_calls_and_the_row_keeps_the_last():
    gan = toy_gan(g_steps=3, dtype=np.float64)
    by_hand = toy_gan(dtype=np.float64)
    for _ in range(2):
        row = gan.step()
        by_hand.d_step()
        last = [by_hand.g_step() for _ in range(3)][-1]
    assert same(snapshot(gan.G), snapshot(by_hand.G)) and same(snapshot(gan.D), snapshot(by_hand.D))
    assert row["g_loss"] == float(last["g_loss"]) and row["g_grad_norm"] == float(last["g_grad_norm"])
    # the same draws so far: the next ones agree (a CuPy generator's state cannot be read)
    assert np.array_equal(backend.to_host(gan.rng.random(4)), backend.to_host(by_hand.rng.random(4)))


def test_g_steps_1_given_is_the_default_bit_for_bit():
    default, given = toy_gan(k=2), toy_gan(k=2, g_steps=1)
    default.train(5)
    given.train(5)
    assert same(snapshot(default.G), snapshot(given.G)) and same(snapshot(default.D), snapshot(given.D))
    assert default.history == given.history and default.config == given.config
    assert "g_steps" not in given.config and toy_gan(g_steps=3).config["g_steps"] == 3


@pytest.mark.parametrize("g_steps", [0, -1, 1.5, True, "3", None])
def test_g_steps_must_be_an_integer_at_least_1(g_steps):
    with pytest.raises(ValueError, match=r"g_steps \(G steps per iteration\) must be an integer >= 1"):
        toy_gan(g_steps=g_steps)


def test_simultaneous_needs_g_steps_1():
    with pytest.raises(ValueError, match="simultaneous.*g_steps = 1"):
        toy_gan(order="simultaneous", g_steps=3)
    toy_gan(order="simultaneous", g_steps=1).step()


def test_a_state_saved_with_g_steps_loads_only_into_the_same_g_steps():
    from minigan.state import StateError
    three = toy_gan(g_steps=3)
    three.train(2)
    with pytest.raises(StateError, match="g_steps=3, this run has g_steps=1"):
        toy_gan().load_state_dict(three.state_dict())
    plain = toy_gan()
    plain.train(2)
    with pytest.raises(StateError, match="g_steps=1, this run has g_steps=3"):
        toy_gan(g_steps=3).load_state_dict(plain.state_dict())
    again = toy_gan(g_steps=3)
    again.load_state_dict(three.state_dict())
    assert again.g_steps == 3 and again.iteration == 2


# ---------------------------------------------------------------------- simultaneous vs sequential
def _sgd_first_step(params, grads, lr):
    """theta_1 = theta_0 + v_1 with v_1 = mu * 0 - lr g: the first momentum-SGD step."""
    return {k: params[k] - lr * grads[k] for k in params}


def test_simultaneous_uses_one_x_one_z_and_the_same_parameters():
    rng = np.random.default_rng(5)
    x = dev(4 + 0.5 * rng.standard_normal((16, 1)))
    z = dev(rng.uniform(-1, 1, (16, 1)))
    xs, zs = Fixed(x), Fixed(z)
    gan = toy_gan(order="simultaneous", data_sampler=xs, noise_sampler=zs, dtype=np.float64, lr=0.1)
    G0, D0 = copy.deepcopy(gan.G), copy.deepcopy(gan.D)
    gan.step()
    assert (xs.calls, zs.calls) == (1, 1), "simultaneous order draws one x and one z per iteration"

    # by hand, both gradients at the initial parameters theta_d0, theta_g0
    Dd, Gg, Dg = copy.deepcopy(D0), copy.deepcopy(G0), copy.deepcopy(D0)
    fake = Gg.forward(z)
    a_real, a_fake = Dd.forward(x), Dd.forward(fake.copy())
    _, g_real, g_fake = losses.discriminator_loss(a_real, a_fake)
    Dd.zero_grad()
    Dd.backward(g_fake)
    Dd.backward(g_real)
    _, grad_a = losses.generator_loss_nonsaturating(Dg.forward(fake))
    Gg.zero_grad()
    Gg.backward(Dg.backward(grad_a))
    want_D = _sgd_first_step(D0.params, Dd.grads, 0.1)
    want_G = _sgd_first_step(G0.params, Gg.grads, 0.1)
    for k in want_D:
        np.testing.assert_allclose(host(gan.D.params[k]), host(want_D[k]), rtol=0, atol=1e-12)
    for k in want_G:
        np.testing.assert_allclose(host(gan.G.params[k]), host(want_G[k]), rtol=0, atol=1e-12)

    # Algorithm 1 (sequential) on the same x and z moves G differently: its G step sees the updated D
    seq = toy_gan(order="sequential", data_sampler=Fixed(x), noise_sampler=Fixed(z),
                  dtype=np.float64, lr=0.1)
    seq.step()
    for k in want_D:                     # the D step is the same update
        np.testing.assert_allclose(host(seq.D.params[k]), host(want_D[k]), rtol=0, atol=1e-12)
    assert max(float(np.abs(seq.G.params[k] - want_G[k]).max()) for k in want_G) > 1e-8


def test_simultaneous_needs_k_1():
    with pytest.raises(ValueError, match="k = 1"):
        toy_gan(order="simultaneous", k=2)


# ---------------------------------------------------------------------- the two G losses
def _linear_pair(w_g, b_g, w_d, b_d, g_loss, z):
    G = Sequential(Linear(1, 1, rng=0, dtype=np.float64))
    D = Sequential(Linear(1, 1, rng=0, dtype=np.float64))
    G.layers[0].params["W"][...] = w_g
    G.layers[0].params["b"][...] = b_g
    D.layers[0].params["W"][...] = w_d
    D.layers[0].params["b"][...] = b_d
    return toy_gan(G=G, D=D, g_loss=g_loss, noise_sampler=Fixed(dev(z)), dtype=np.float64)


@pytest.mark.parametrize("g_loss", ["minimax", "nonsaturating"])
def test_generator_gradient_matches_the_formula(g_loss):
    """G(z) = w_g z + b_g, D's logit a = w_d G(z) + b_d. With s = sigma(a):
    minimax descends (1/m) sum log(1 - s):   dL/da = -s / m
    non-saturating descends -(1/m) sum log s: dL/da = -(1 - s) / m
    and dL/dw_g = sum dL/da w_d z, dL/db_g = sum dL/da w_d."""
    z = np.linspace(-1, 1, 16).reshape(-1, 1)
    w_g, b_g, w_d, b_d = 0.7, 0.2, -1.3, 0.4
    gan = _linear_pair(w_g, b_g, w_d, b_d, g_loss, z)
    row = gan.g_step()
    a = w_d * (w_g * z + b_g) + b_d
    s = 1 / (1 + np.exp(-a))
    if g_loss == "minimax":
        dL_da, value = -s / len(z), np.mean(np.log1p(-s))
    else:
        dL_da, value = -(1 - s) / len(z), -np.mean(np.log(s))
    np.testing.assert_allclose(float(row["g_loss"]), value, rtol=1e-12)
    np.testing.assert_allclose(host(gan.G.grads["0.W"]), [[np.sum(dL_da * w_d * z)]], rtol=1e-10)
    np.testing.assert_allclose(host(gan.G.grads["0.b"]), [np.sum(dL_da * w_d)], rtol=1e-10)


def test_nonsaturating_keeps_gradient_where_minimax_saturates():
    """Section 3: early on D rejects G's samples with confidence and log(1 - D(G(z)))
    saturates; log D(G(z)) still gives a strong gradient."""
    z = np.linspace(-1, 1, 16).reshape(-1, 1)
    norms = {}
    for g_loss in ("minimax", "nonsaturating"):
        gan = _linear_pair(0.5, 0.0, 1.0, -12.0, g_loss, z)     # D(G(z)) ~ 6e-6
        norms[g_loss] = gan.g_step()["g_grad_norm"]
    assert norms["minimax"] < 1e-4 and norms["nonsaturating"] > 0.5
    assert norms["nonsaturating"] > 1e4 * norms["minimax"]


# ---------------------------------------------------------------------- losses and penalties as arguments
def _gan(**kw):
    G = models.mlp([1, 8, 1], rng=0, dtype=np.float64)
    D = models.mlp([1, 8, 1], rng=1, dtype=np.float64)
    return GAN(G, D, data.gaussian_1d(dtype=np.float64), data.uniform_noise(1, dtype=np.float64),
               d_optimizer=optim.SGD(D, 0.05, 0.5), g_optimizer=optim.SGD(G, 0.05, 0.5), m=16, seed=0, **kw)


@pytest.mark.parametrize("order", ["sequential", "simultaneous"])
def test_losses_given_as_functions_are_the_ones_descended(order):
    """The paper's losses passed as functions train exactly as the built-in names and options."""
    def half_smoothed(r, f):
        return losses.discriminator_loss(r, f, scale=0.5, real_label=0.9, fake_label=0.1)
    a = _gan(order=order, g_loss="minimax", d_loss_scale=0.5, real_label=0.9, fake_label=0.1)
    b = _gan(order=order, g_loss=losses.generator_loss_minimax, d_loss=half_smoothed)
    a.train(5)
    b.train(5)
    assert a.history == b.history and same(snapshot(a.D), snapshot(b.D)) and same(snapshot(a.G), snapshot(b.G))
    c = _gan(order=order, g_loss="minimax", d_loss_scale=0.5, real_label=0.9)    # one-sided: moves D otherwise
    c.train(5)
    assert not same(snapshot(a.D), snapshot(c.D))
    assert b.config["g_loss"] == "generator_loss_minimax"
    assert b.config["d_loss"].endswith("half_smoothed") and a.config["fake_label"] == 0.1


def test_the_default_config_is_as_it_always_was():
    """What a checkpoint records and compares for a default run does not change; the new
    arguments are recorded only when given."""
    cfg = _gan().config
    assert set(cfg) == {"order", "g_loss", "k", "m", "d_loss_scale", "real_label", "seed", "backend", "g_average"}
    cfg = _gan(d_penalties=[losses.WeightDecay(1e-3)], g_penalties=[losses.WeightDecay(2e-3)]).config
    assert cfg["d_penalties"] == ["WeightDecay(0.001)"] and cfg["g_penalties"] == ["WeightDecay(0.002)"]


@pytest.mark.parametrize("step", ["d_step", "g_step", "simultaneous"])
def test_a_penalty_adds_its_gradient_after_backward_and_before_the_step(step):
    """A player's first SGD step with WeightDecay(lam) is the plain step plus -lr * lam * W
    (the velocity starts at 0), for the weights only; its value is added to the reported loss."""
    lam = 0.3
    order = "simultaneous" if step == "simultaneous" else "sequential"
    decay = [losses.WeightDecay(lam)]
    plain, decayed = _gan(order=order), _gan(order=order, d_penalties=decay, g_penalties=decay)
    D0, G0 = snapshot(decayed.D), snapshot(decayed.G)
    run = (lambda gan: gan.step()) if step == "simultaneous" else (lambda gan: getattr(gan, step)())
    p, q = run(plain), run(decayed)
    players = {"d_step": "D", "g_step": "G", "simultaneous": "DG"}[step]
    for who, net0, loss in (("D", D0, "d_loss"), ("G", G0, "g_loss")):
        if who not in players:
            continue
        mine, other = getattr(decayed, who), getattr(plain, who)
        for k, w in mine.params.items():
            extra = -0.05 * lam * net0[k] if k.endswith("W") else 0.0
            np.testing.assert_allclose(host(w), host(other.params[k] + extra), rtol=1e-12, atol=1e-15)
        value = 0.5 * lam * sum(float((w ** 2).sum()) for k, w in net0.items() if k.endswith("W"))
        assert float(q[loss]) == pytest.approx(float(p[loss]) + value, rel=1e-12)   # (a step's loss: 0-d on CuPy)


def test_a_penalty_sees_the_loss_gradient_and_the_trainer():
    seen = []

    def spy(model, trainer):
        seen.append((trainer, {k: g.copy() for k, g in model.grads.items()}))
        return 0.0
    gan = _gan(d_penalties=[spy])
    ref = _gan()
    gan.d_step()
    ref.d_step()
    (trainer, grads), = seen
    assert trainer is gan
    assert all(np.array_equal(grads[k], ref.D.grads[k]) for k in grads)   # the loss's gradient alone


def test_bad_loss_arguments_are_refused():
    with pytest.raises(ValueError, match="g_loss must be one of"):
        _gan(g_loss="wasserstein")
    with pytest.raises(ValueError, match="d_loss must be None or a function"):
        _gan(d_loss="minimax")
    with pytest.raises(ValueError, match="takes its own settings"):
        _gan(d_loss=losses.discriminator_loss, real_label=0.9)
    with pytest.raises(ValueError, match="d_penalties must be callables"):
        _gan(d_penalties=[0.1])

    def features_loss(out):
        return out.sum(), np.ones_like(out)
    features_loss.network = Sequential(Linear(1, 2, rng=0, dtype=np.float64))
    with pytest.raises(ValueError, match="order='sequential'"):
        _gan(order="simultaneous", g_loss=features_loss)
    with pytest.raises(ValueError, match="fake_label"):
        _gan(real_label=0.9, fake_label=0.95).step()


# ---------------------------------------------------------------------- history and config
def test_history_rows():
    gan = toy_gan(k=2, g_loss="minimax")
    rows = gan.train(4)
    assert rows == gan.history and len(gan.history) == 4
    assert [r["iteration"] for r in gan.history] == [1, 2, 3, 4]
    for r in gan.history:
        assert tuple(r) == HISTORY_FIELDS
        assert all(isinstance(r[f], float) and math.isfinite(r[f]) for f in HISTORY_FIELDS[1:])
        assert 0 < r["D_real"] < 1 and 0 < r["D_fake"] < 1
        assert r["V"] < 0 and r["d_loss"] == pytest.approx(-r["V"], rel=1e-6)   # scale 1: d_loss = -V
        assert r["g_loss"] < 0                    # minimax: log(1 - D(G(z))) < 0
        assert r["d_grad_norm"] > 0 and r["g_grad_norm"] > 0
    assert gan.iteration == 4
    cfg = gan.config
    assert (cfg["order"], cfg["g_loss"], cfg["k"], cfg["m"], cfg["seed"], cfg["backend"]) == \
        ("sequential", "minimax", 2, 16, 0, backend.name())


def _row(i):
    return {"iteration": i, **{f: 0.1 * i + j for j, f in enumerate(HISTORY_FIELDS[1:])}}


def test_history_table_reads_like_a_list_of_rows():
    rows = [_row(i) for i in range(1, 41)]          # past the first growth (16 rows)
    h = History(rows=rows)
    assert len(h) == 40 and h == rows and rows == h and list(h) == rows
    assert h[0] == rows[0] and h[-1] == rows[-1] and h[5:8] == rows[5:8] and h[::-1] == rows[::-1]
    assert type(h[-1]["iteration"]) is int and h[-1]["iteration"] == 40
    assert h != rows[:-1] and h != [dict(r, V=r["V"] + 1) for r in rows]
    assert np.array_equal(h.column("V"), [r["V"] for r in rows])
    assert h.table().shape == (40, len(HISTORY_FIELDS)) and h.nbytes >= h.table().nbytes
    with pytest.raises(ValueError):
        h.column("V")[0] = 5.0                      # views are read-only: the record is not edited
    with pytest.raises(IndexError):
        h[40]
    back = History.from_table(h.table())
    assert back == h and back.fields == HISTORY_FIELDS
    back.append(_row(41))
    assert len(back) == 41 and len(h) == 40         # a copy, not a view of h
    assert History() == [] and len(History()) == 0


def test_history_copies_and_empty_tables_grow():
    empty = History.from_table(np.empty((0, len(HISTORY_FIELDS))))
    empty.append(_row(1))                            # a history loaded with no rows takes new ones
    assert empty == [_row(1)]
    h = History(rows=[_row(1), _row(2)])
    copies = [h.copy(), copy.copy(h), copy.deepcopy(h)]
    for c in copies:
        c.append(_row(3))
    h.append(_row(4))
    assert all(c == [_row(1), _row(2), _row(3)] for c in copies), "a copy shares the original's table"
    h.extend([_row(5), _row(6)])
    assert [r["iteration"] for r in h] == [1, 2, 4, 5, 6]
    row = h[0]
    row["V"] = 99.0                                  # a row read is a new dict: the record stays
    assert h[0] == _row(1)


def test_history_refuses_rows_and_tables_that_do_not_fit():
    h = History()
    with pytest.raises(KeyError, match="expected"):
        h.append({"iteration": 1, "V": 0.0})
    with pytest.raises(KeyError, match="expected"):
        h.append({**_row(1), "extra": 1.0})
    with pytest.raises(KeyError, match="no field 'loss'"):
        h.column("loss")
    with pytest.raises(ValueError, match=r"shape \(n, 8\)"):
        History.from_table(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="start with 'iteration'"):
        History(("V", "iteration"))
    assert History(("iteration", "loss"), [{"iteration": 1, "loss": 2.5}])[0] == {"iteration": 1, "loss": 2.5}


def test_history_is_a_compact_table():
    gan = toy_gan()
    gan.train(100)
    assert isinstance(gan.history, History)
    assert gan.history.table().nbytes == 100 * 8 * len(HISTORY_FIELDS)
    assert gan.history.nbytes <= 2 * gan.history.table().nbytes   # capacity at most doubles


def test_same_seed_same_run():
    a, b = toy_gan(), toy_gan()
    a.train(5)
    b.train(5)
    assert same(snapshot(a.G), snapshot(b.G)) and a.history == b.history


# ---------------------------------------------------------------------- NaN guard
class NanAt:
    """The data sampler returns NaN on its n-th call."""

    def __init__(self, n):
        self.n, self.calls, self.inner = n, 0, data.gaussian_1d()

    def __call__(self, m, rng):
        self.calls += 1
        x = self.inner(m, rng)
        return x * np.nan if self.calls == self.n else x


def test_training_diverged_names_iteration_and_quantity():
    gan = toy_gan(data_sampler=NanAt(3))
    with pytest.raises(TrainingDiverged) as info:
        gan.train(10)
    exc = info.value
    assert exc.iteration == 3 and exc.quantity == "d_loss" and math.isnan(exc.value)
    assert "iteration 3" in str(exc) and "d_loss" in str(exc)
    assert len(gan.history) == 2, "the bad iteration must not be recorded as a good one"


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")    # the overflow is the point
def test_training_diverged_names_a_non_finite_parameter():
    gan = toy_gan()
    step = gan.g_opt.step

    def poisoned_step():
        if gan.g_opt.t == 1:     # finite, but theta + v overflows float32 in this update
            gan.G.params["2.b"][...] = 3e38
            gan.g_opt.state["velocity"]["2.b"][...] = 3e38
        step()
    gan.g_opt.step = poisoned_step
    with pytest.raises(TrainingDiverged, match=r"iteration 2: G parameter '2.b'"):
        gan.train(5)


# ---------------------------------------------------------------------- eval-mode inference
def _all_caches(net):
    return sum(len(layer._cache) for layer in net.layers)


def test_d_prob_is_eval_mode_and_pushes_no_cache():
    D = Sequential(Dropout(0.5, rng=3), Linear(1, 8, rng=1), Tanh(), Dropout(0.5, rng=4),
                   Linear(8, 1, rng=2))
    gan = toy_gan(D=D)
    x = dev(np.linspace(2, 6, 32, dtype=np.float32).reshape(-1, 1))
    p1, p2 = host(gan.d_prob(x)), host(gan.d_prob(x))
    np.testing.assert_array_equal(p1, p2)                    # no dropout noise
    assert _all_caches(D) == 0, "d_prob pushed a cache"
    assert D.training and all(layer.training for layer in D.layers), "train mode not restored"
    plain = Sequential(*[l for l in D.layers if not isinstance(l, Dropout)])
    with_no_dropout = host(losses.sigmoid(plain.forward(x)).reshape(-1))
    np.testing.assert_allclose(p1, with_no_dropout, rtol=1e-6)
    assert p1.shape == (32,) and np.all((p1 > 0) & (p1 < 1))


def test_sample_is_eval_mode_and_does_not_touch_training_stream(restore_backend):
    """On NumPy whatever the run's backend: it reads the training generator's state, which
    a CuPy Generator does not expose."""
    restore_backend.use("numpy")
    G = Sequential(Linear(1, 8, rng=0), Tanh(), Dropout(0.5, rng=7), Linear(8, 1, rng=1))
    gan = toy_gan(G=G)
    state = copy.deepcopy(gan.rng.bit_generator.state)
    s1 = gan.sample(64, rng=np.random.default_rng(0))
    s2 = gan.sample(64, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(gan.sample(10), gan.sample(10))   # default: a fresh seeded stream
    assert _all_caches(G) == 0 and G.training
    assert gan.rng.bit_generator.state == state, "sampling consumed the training generator"
    assert s1.shape == (64, 1)


def test_copy_branches_the_run_exactly_on_numpy(restore_backend):
    """GAN.copy(): an independent run that draws what the original would have drawn
    (NumPy generators are copied exactly), Dropout generators included. On NumPy whatever
    the run's backend: a CuPy generator cannot be copied (the copy gets a stream of its own)."""
    restore_backend.use("numpy")
    G = models.mlp([1, 8, 1], rng=0)
    D = Sequential(Dropout(0.5, rng=3), Linear(1, 8, rng=1), Tanh(), Linear(8, 1, rng=2))
    gan = toy_gan(G=G, D=D)
    gan.train(2)
    branch = gan.copy()
    assert branch.D.layers[0].rng is not gan.D.layers[0].rng and branch.rng is not gan.rng
    branch.train(3)
    assert gan.iteration == 2 and len(gan.history) == 2       # the original did not move
    gan.train(3)
    assert branch.history == gan.history
    assert same(snapshot(branch.D), snapshot(gan.D)) and same(snapshot(branch.G), snapshot(gan.G))
    keys = [k for k, _, _ in gan.random_generators()]
    assert keys == ["trainer", "D/0"]


# ---------------------------------------------------------------------- the average of G
def test_g_average_is_updated_after_every_iteration_and_sampled_on_request():
    from minigan import presets
    from minigan.optim import ParameterAverage
    run = presets.build("toy1d", iterations=12, g_average=0.8)
    gan = run.trainer
    assert gan.config["g_average"] == 0.8 and presets.build("toy1d").trainer.config["g_average"] is None
    shadow = ParameterAverage(gan.G, 0.8)              # the same rule, applied by hand
    for _ in range(12):
        gan.step()
        shadow.update()
    assert gan.g_average.t == 12
    assert all(np.array_equal(host(gan.g_average.average[k]), host(shadow.average[k])) for k in shadow.average)
    rng = backend.default_rng(5)
    z = gan.noise_sampler(40, backend.default_rng(5))
    with shadow.applied():
        want = host(gan.G.forward(z))
    trained = {k: host(p) for k, p in gan.G.params.items()}
    assert np.array_equal(host(gan.sample(40, rng=rng, averaged=True)), want)
    assert all(np.array_equal(host(gan.G.params[k]), trained[k]) for k in trained)   # G as trained again
    assert not np.array_equal(host(gan.sample(40, rng=backend.default_rng(5))), want)
    with pytest.raises(ValueError, match="this run keeps no average of G to sample"):
        presets.build("toy1d").trainer.sample(5, averaged=True)
    with pytest.raises(ValueError, match="ParameterAverage decay must be < 1"):
        presets.build("toy1d", g_average=1.0)
