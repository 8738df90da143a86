"""Optimizers: the update rules by hand, the paper's schedules, state round trips, errors."""
import io
import math

import numpy as np
import pytest

from minigan import backend
from minigan.layers import Layer, Linear, Sequential, Tanh
from minigan.optim import SGD, Adam, ParameterAverage


def tiny(values=(1.0, -2.0, 0.5), dtype=np.float64):
    """A parameter-only Layer holding one small array 'w'."""
    layer = Layer()
    layer._add_param("w", np.array(values, dtype=dtype))
    return layer


def set_grad(layer, g):
    layer.grads["w"][...] = g


# ----------------------------------------------------------------------------- SGD
def test_sgd_momentum_rule_by_hand():
    layer = tiny()
    opt = SGD(layer, lr=0.1, momentum=0.5)
    g1, g2, g3 = np.array([1.0, 2.0, -1.0]), np.array([0.5, -1.0, 0.0]), np.array([-2.0, 0.0, 4.0])
    theta, v = np.array([1.0, -2.0, 0.5]), np.zeros(3)
    for g in (g1, g2, g3):
        set_grad(layer, g)
        opt.step()
        v = 0.5 * v - 0.1 * g          # v <- mu v - lr g
        theta = theta + v              # theta <- theta + v
        assert np.allclose(layer.params["w"], theta, rtol=0, atol=1e-15)
        assert np.allclose(opt.state["velocity"]["w"], v, rtol=0, atol=1e-15)
    assert opt.t == 3
    # step 1 by hand, in numbers: 1 - 0.1 * 1 = 0.9
    layer2 = tiny()
    set_grad(layer2, g1)
    SGD(layer2, lr=0.1, momentum=0.5).step()
    assert np.allclose(layer2.params["w"], [0.9, -2.2, 0.6])


def test_plain_sgd_without_momentum():
    layer = tiny()
    set_grad(layer, [1.0, 1.0, 1.0])
    opt = SGD(layer, lr=0.25)
    opt.step()
    opt.step()
    assert np.allclose(layer.params["w"], [0.5, -2.5, 0.0])


def test_lr_decay_per_step_and_floor():
    opt = SGD(tiny(), lr=0.1, momentum=0.5, lr_decay=1.000004, lr_min=1e-6)
    assert opt.lr == 0.1
    opt.t = 1
    assert opt.lr == pytest.approx(0.1 / 1.000004, rel=1e-14)
    opt.t = 500                       # one epoch of 50,000 images at m = 100
    assert opt.lr == pytest.approx(0.1 / 1.000004 ** 500, rel=1e-12)
    assert round(opt.lr, 4) == 0.0998
    opt.t = 250 * 500                 # 250 epochs
    assert opt.lr == pytest.approx(0.1 * math.exp(-125000 * math.log(1.000004)), rel=1e-12)
    assert round(opt.lr, 3) == 0.061
    opt.t = 10_000_000                # 0.1 / 1.000004^1e7 = 4e-19: the floor holds
    assert opt.lr == 1e-6
    opt.t = 10 ** 12                  # no OverflowError for very long runs
    assert opt.lr == 1e-6


def test_decayed_lr_is_what_the_step_uses():
    layer = tiny()
    opt = SGD(layer, lr=0.1, lr_decay=2.0, lr_min=0.03)
    theta = layer.params["w"].copy()
    for lr in (0.1, 0.05, 0.03, 0.03):      # 0.1/4 = 0.025 < floor 0.03
        set_grad(layer, [1.0, 1.0, 1.0])
        opt.step()
        theta -= lr
        assert np.allclose(layer.params["w"], theta, atol=1e-15)


def test_momentum_ramp_between_epochs_1_and_250():
    opt = SGD(tiny(), lr=0.1, momentum=0.5, final_momentum=0.7, momentum_start=1,
              momentum_saturate=250, steps_per_epoch=500)
    # epochs are numbered from 1 (pylearn2's MomentumAdjustor counts the monitor
    # call before training, so epoch e runs with alpha = (e - start) / (saturate - start))
    expected = {
        0: 0.5,                                # epoch 1: the ramp starts here
        499: 0.5,
        500: 0.5 + 0.2 * 1 / 249,              # epoch 2
        1000: 0.5 + 0.2 * 2 / 249,             # epoch 3
        125 * 500 + 17: 0.5 + 0.2 * 125 / 249,  # epoch 126
        249 * 500 - 1: 0.5 + 0.2 * 248 / 249,  # epoch 249
        249 * 500: 0.7,                        # epoch 250: saturated
        10 ** 7: 0.7,
    }
    for t, mu in expected.items():
        opt.t = t
        assert opt.momentum == pytest.approx(mu, abs=1e-15), t


def test_ramped_momentum_is_what_the_step_uses():
    layer = tiny()
    opt = SGD(layer, lr=0.1, momentum=0.5, final_momentum=0.7, momentum_start=1,
              momentum_saturate=3, steps_per_epoch=1)
    theta, v = layer.params["w"].copy(), np.zeros(3)
    g = np.array([1.0, -1.0, 2.0])
    for mu in (0.5, 0.6, 0.7, 0.7, 0.7):      # epochs 1..5, ramp 1 -> 3
        set_grad(layer, g)
        opt.step()
        v = mu * v - 0.1 * g
        theta = theta + v
        assert np.allclose(layer.params["w"], theta, atol=1e-14)


def test_sgd_updates_sequential_params_in_place():
    net = Sequential(Linear(2, 2, rng=0, dtype=np.float64), Tanh(), Linear(2, 1, rng=1, dtype=np.float64))
    W = net.layers[0].params["W"]
    before, other = W.copy(), net.layers[2].params["W"].copy()
    net.layers[0].grads["W"][...] = 1.0
    SGD(net, lr=0.5).step()
    assert net.layers[0].params["W"] is W and np.allclose(W, before - 0.5)
    assert np.array_equal(net.layers[2].params["W"], other)      # zero gradient: unchanged


# ----------------------------------------------------------------------------- Adam
def test_adam_by_hand():
    layer = tiny()
    opt = Adam(layer, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8)
    theta = np.array([1.0, -2.0, 0.5])
    m, s = np.zeros(3), np.zeros(3)
    for t, g in enumerate([np.array([1.0, -2.0, 0.1]), np.array([0.5, 0.5, -3.0]),
                           np.array([-1.0, 0.0, 2.0])], start=1):
        set_grad(layer, g)
        opt.step()
        m = 0.9 * m + 0.1 * g
        s = 0.999 * s + 0.001 * g ** 2
        m_hat, s_hat = m / (1 - 0.9 ** t), s / (1 - 0.999 ** t)
        theta = theta - 0.01 * m_hat / (np.sqrt(s_hat) + 1e-8)
        assert np.allclose(layer.params["w"], theta, rtol=0, atol=1e-14)
    assert opt.t == 3
    # the first Adam step moves every coordinate by about lr, whatever the gradient's size
    layer = tiny()
    set_grad(layer, [1e-3, -50.0, 7.0])
    Adam(layer, lr=0.01).step()
    assert np.allclose(layer.params["w"] - np.array([1.0, -2.0, 0.5]), [-0.01, 0.01, -0.01], atol=1e-7)


# ----------------------------------------------------------------------------- state
@pytest.mark.parametrize("make", [
    lambda net: SGD(net, lr=0.1, momentum=0.5, lr_decay=1.5, lr_min=1e-3, final_momentum=0.7,
                    momentum_start=1, momentum_saturate=4, steps_per_epoch=2),
    lambda net: Adam(net, lr=0.05),
], ids=["SGD", "Adam"])
def test_state_dict_round_trip_through_npz(make, rng):
    def net():
        return Sequential(Linear(3, 2, rng=0, dtype=np.float64), Tanh(), Linear(2, 1, rng=1, dtype=np.float64))
    grads = [{k: rng.normal(size=p.shape) for k, p in net().params.items()} for _ in range(6)]

    def step(opt, g):
        for k, v in g.items():
            opt.model.grads[k][...] = backend.to_device(v)
        opt.step()

    a = make(net())
    for g in grads[:3]:
        step(a, g)
    sd = a.state_dict()
    assert sd["t"] == 3 and all(isinstance(v, backend.xp.ndarray) for k, v in sd.items() if k != "t")
    buf = io.BytesIO()
    np.savez(buf, **sd)                       # plain arrays (CuPy's copied to the host): no pickle needed
    buf.seek(0)
    loaded = dict(np.load(buf, allow_pickle=False))

    b = make(net())
    for k, p in a.model.params.items():
        b.model.params[k][...] = p
    b.load_state_dict(loaded)
    assert b.t == 3
    for g in grads[3:]:
        step(a, g)
        step(b, g)
    for k in a.model.params:
        assert np.array_equal(a.model.params[k], b.model.params[k]), k
    assert set(sd) == {"t"} | {f"{s}/{k}" for s in a.slots for k in a.model.params}
    # a snapshot: the three steps taken since did not change what state_dict() returned
    assert all(np.array_equal(backend.to_host(sd[k]), v) for k, v in loaded.items())


def test_load_state_dict_errors():
    opt = SGD(tiny(), lr=0.1, momentum=0.5)
    with pytest.raises(KeyError, match="velocity/w"):
        opt.load_state_dict({"t": 1})
    with pytest.raises(KeyError, match="'t'"):
        opt.load_state_dict({"velocity/w": np.zeros(3)})
    with pytest.raises(ValueError, match=r"velocity/w has shape \(2,\), the model needs \(3,\)"):
        opt.load_state_dict({"t": 0, "velocity/w": np.zeros(2)})


# ----------------------------------------------------------------------------- dtype and errors
@pytest.mark.parametrize("make", [
    lambda m: SGD(m, lr=0.1, momentum=0.5, lr_decay=1.000004, lr_min=1e-6, final_momentum=0.7,
                  momentum_start=1, momentum_saturate=250, steps_per_epoch=1),
    lambda m: Adam(m, lr=2e-4, beta1=0.5),
], ids=["SGD", "Adam"])
def test_float32_params_stay_float32(make):
    net = Sequential(Linear(3, 4, rng=0), Tanh(), Linear(4, 1, rng=1))
    opt = make(net)
    for _ in range(3):
        for g in net.grads.values():
            g[...] = 0.3
        opt.step()
    assert all(p.dtype == np.float32 for p in net.params.values())
    assert all(v.dtype == np.float32 for slot in opt.state.values() for v in slot.values())


def test_bad_arguments_raise():
    m = tiny()
    with pytest.raises(ValueError, match="SGD lr must be > 0"):
        SGD(m, lr=0)
    with pytest.raises(ValueError, match="SGD lr must be > 0"):
        SGD(m, lr=-0.1)
    with pytest.raises(ValueError, match="SGD lr"):
        SGD(m, lr=float("nan"))
    with pytest.raises(TypeError, match="SGD lr must be a number"):
        SGD(m, lr="fast")
    with pytest.raises(ValueError, match=r"^SGD momentum must be in \[0, 1\), got 1.0$"):
        SGD(m, lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match=r"^SGD lr_decay must be >= 1 \(1 = off\), got 0.5$"):
        SGD(m, lr=0.1, momentum=0.5, lr_decay=0.5)
    with pytest.raises(ValueError, match="SGD momentum must be >= 0"):
        SGD(m, lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="lr_decay must be >= 1"):
        SGD(m, lr=0.1, lr_decay=0.5)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        SGD(m, lr=0.1, momentum=0.5, final_momentum=0.7)
    with pytest.raises(ValueError, match="momentum_saturate > momentum_start"):
        SGD(m, lr=0.1, momentum=0.5, final_momentum=0.7, momentum_start=5, momentum_saturate=5,
            steps_per_epoch=10)
    with pytest.raises(ValueError, match="beta1, beta2 < 1"):
        Adam(m, beta1=1.0)
    with pytest.raises(ValueError, match="Adam eps must be > 0"):
        Adam(m, eps=0)
    with pytest.raises(TypeError, match="SGD needs a Layer"):
        SGD(object(), lr=0.1)


def test_final_momentum_must_be_below_one():
    model = Sequential(Linear(1, 4, rng=0))
    with pytest.raises(ValueError, match="final_momentum < 1"):
        SGD(model, 0.1, 0.5, final_momentum=1.5, steps_per_epoch=1, momentum_saturate=3)


# ----------------------------------------------------------------------------- ParameterAverage
def _walk(layer, steps, rng):
    """Move layer's 'w' to a new random point ``steps`` times, as an optimizer would, yielding
    a copy of each iterate while the layer holds it."""
    for _ in range(steps):
        layer.params["w"][...] = rng.normal(size=layer.params["w"].shape)
        yield layer.params["w"].copy()


def test_average_is_the_plain_mean_then_exponential(rng):
    layer = tiny()
    avg = ParameterAverage(layer, decay=0.75)           # 1 / (1 - decay) = 4 steps
    seen = []
    for step, theta in enumerate(_walk(layer, 3, rng), 1):
        avg.update()
        seen.append(theta)
        # w_1 = 1, w_2 = 1/2, w_3 = 1/3: the mean of the iterates so far (the initial value drops out)
        assert np.allclose(avg.average["w"], np.mean(seen, axis=0), rtol=0, atol=1e-14), step
    bar = np.mean(seen, axis=0)
    for theta in _walk(layer, 5, rng):
        avg.update()                                     # w = max(1/t, 0.25) = 0.25 from t = 4
        bar = bar + 0.25 * (theta - bar)
        assert np.allclose(avg.average["w"], bar, rtol=0, atol=1e-14)
    assert avg.t == 8 and avg.weight == 0.25
    # the trained parameters are never touched by the average
    assert np.array_equal(layer.params["w"], theta)


def test_decay_zero_follows_the_parameters(rng):
    layer = tiny()
    avg = ParameterAverage(layer, decay=0.0)
    for theta in _walk(layer, 3, rng):
        avg.update()
        assert np.allclose(avg.average["w"], theta, rtol=0, atol=1e-15)


def test_applied_swaps_the_average_in_and_back_even_on_error(rng):
    net = Sequential(Linear(3, 2, rng=rng, dtype=np.float64), Tanh())
    avg = ParameterAverage(net, decay=0.5)
    x = backend.to_device(rng.normal(size=(4, 3)))
    for _ in range(3):
        for p in net.params.values():
            p += backend.to_device(rng.normal(size=p.shape))
        avg.update()
    trained = {k: p.copy() for k, p in net.params.items()}
    y_trained = net.forward(x)
    w, b = avg.average["0.W"], avg.average["0.b"]
    with avg.applied() as model:
        assert model is net
        assert np.allclose(net.forward(x), np.tanh(x @ w + b), rtol=0, atol=1e-14)
    assert all(np.array_equal(net.params[k], trained[k]) for k in trained)
    with pytest.raises(RuntimeError, match="inside"):
        with avg.applied():
            raise RuntimeError("inside")
    assert all(np.array_equal(net.params[k], trained[k]) for k in trained)
    assert np.array_equal(net.forward(x), y_trained)


def test_average_state_round_trip_and_errors(rng):
    layer = tiny()
    avg = ParameterAverage(layer, decay=0.9)
    _ = [avg.update() for _ in _walk(layer, 4, rng)]
    state = avg.state_dict()
    avg.average["w"] += 1                                  # the state is a snapshot, not a view
    assert not np.array_equal(state["average/w"], avg.average["w"])
    buf = io.BytesIO()
    np.savez(buf, **state)
    buf.seek(0)
    other = ParameterAverage(tiny(), decay=0.9)
    other.load_state_dict(dict(np.load(buf)))
    assert other.t == 4 and np.array_equal(other.average["w"], state["average/w"])
    with pytest.raises(ValueError, match="decay 0.9, this one 0.99"):
        ParameterAverage(tiny(), decay=0.99).load_state_dict(state)
    with pytest.raises(ValueError, match=r"average/w has shape \(2,\), the model needs \(3,\)"):
        ParameterAverage(tiny(), decay=0.9).load_state_dict({**state, "average/w": np.zeros(2)})
    with pytest.raises(KeyError, match="average/w"):
        ParameterAverage(tiny(), decay=0.9).load_state_dict({"t": 1, "decay": 0.9})


@pytest.mark.parametrize("decay, error", [(1.0, ValueError), (-0.1, ValueError), (float("nan"), ValueError),
                                          ("0.9", None), ("high", TypeError)])
def test_average_arguments(decay, error):
    if error is None:
        assert ParameterAverage(tiny(), decay=decay).decay == 0.9
    else:
        with pytest.raises(error, match="ParameterAverage decay"):
            ParameterAverage(tiny(), decay=decay)
    with pytest.raises(TypeError, match="ParameterAverage needs a Layer"):
        ParameterAverage(np.zeros(3))


def test_the_average_of_float32_parameters_is_kept_in_float64():
    """w (theta - bar) = 1e-5 * 1e-3 = 1e-8 is under half an ulp of 1.0 in float32 (6e-8):
    a float32 average would never move; the float64 one moves as the rule says."""
    layer = tiny((1.0, 1.0, 1.0), dtype=np.float32)
    avg = ParameterAverage(layer, decay=0.99999)
    avg.t = 10 ** 6                                      # well past the plain-mean start: w = 1e-5
    layer.params["w"][...] = np.float32(1.001)
    for _ in range(1000):
        avg.update()
    theta = float(np.float32(1.001))
    want = theta - (theta - 1.0) * (1 - 1e-5) ** 1000    # bar_n = theta - (theta - bar_0)(1 - w)^n
    assert avg.average["w"].dtype == np.float64
    assert np.allclose(avg.average["w"], want, rtol=0, atol=1e-12) and want - 1.0 > 9.9e-6
    with avg.applied():
        assert layer.params["w"].dtype == np.float32
        assert np.array_equal(layer.params["w"], np.float32(want) * np.ones(3, np.float32))
    assert np.array_equal(layer.params["w"], np.full(3, np.float32(1.001)))


def test_averaging_g_leaves_the_game_as_it_was():
    """The average is kept beside training: a run that updates one after every iteration
    and scores it in between computes, bit for bit, what a run without it computes."""
    from minigan import presets
    plain, averaged = presets.build("toy1d", iterations=30), presets.build("toy1d", iterations=30)
    plain.trainer.train(30)
    avg = ParameterAverage(averaged.trainer.G, decay=0.9)

    def update_and_score(gan, row):
        avg.update()
        if row["iteration"] % 10 == 0:
            with avg.applied():
                gan.sample(50)
    averaged.trainer.train(30, callback=update_and_score)
    assert averaged.trainer.history == plain.trainer.history
    for net in ("G", "D"):
        a, b = getattr(averaged.trainer, net).params, getattr(plain.trainer, net).params
        assert all(np.array_equal(a[k], b[k]) for k in a), net
    assert avg.t == 30 and not all(np.array_equal(avg.average[k], plain.trainer.G.params[k]) for k in avg.average)


def test_reset_starts_the_average_over_from_the_parameters(rng):
    layer = tiny()
    avg = ParameterAverage(layer, decay=0.5)
    _ = [avg.update() for _ in _walk(layer, 4, rng)]
    now = layer.params["w"].copy()
    assert not np.array_equal(avg.average["w"], now)
    avg.reset()
    assert avg.t == 0 and np.array_equal(avg.average["w"], now)
    layer.params["w"][...] = now + 1.0
    avg.update()                                          # w_1 = 1: the first iterate after the reset
    assert np.allclose(avg.average["w"], now + 1.0, rtol=0, atol=1e-15)
