"""Layers: derivatives by an independent finite-difference helper (not
minigan.gradcheck), the cache stack (two forwards before one backward, the
simultaneous step's retained cache), frozen players, dtypes and errors.

Every test runs on the active backend (NumPy, or CuPy on a GPU or under the stand-in):
inputs, masks and written parameters go through ``dev``, asserts read ``host`` copies."""
import copy

import numpy as np
import pytest

from minigan import backend, layers, losses
from minigan.layers import (MAX_PENDING, Dropout, LeakyReLU, Linear, Maxout, ReLU, Sequential,
                            Sigmoid, Tanh, no_grad)

F64 = np.float64
TOL = 1e-6
dev, host = backend.to_device, backend.to_host      # inputs onto the active backend, results back for asserts


# ----------------------------------------------------------------------------- an independent checker
def finite_diff(f, a, eps=1e-6):
    """Central differences of the scalar f() wrt each entry of a (perturbed in place)."""
    out = np.empty(a.shape)
    flat, g = a.reshape(-1), out.reshape(-1)
    assert np.shares_memory(flat, a)
    for i in range(flat.size):
        keep = flat[i].copy()            # (a CuPy element is a 0-d view of the array)
        flat[i] = keep + eps
        up = f()
        flat[i] = keep - eps
        down = f()
        flat[i] = keep
        g[i] = (up - down) / (2 * eps)
    return out


def rel_err(a, n):
    """max |a - n| / (max|a| + max|n|): close to, but not the same formula as gradcheck's."""
    a, n = np.asarray(host(a), F64), np.asarray(host(n), F64)
    return float(np.abs(a - n).max() / max(np.abs(a).max() + np.abs(n).max(), 1e-300))


def grad_errors(layer, x, seed=1):
    """Relative errors of dL/dx and every dL/dtheta, L = sum(layer(x) * R), R random."""
    layer.zero_grad()
    y = layer.forward(x)
    R = dev(np.random.default_rng(seed).normal(size=y.shape))
    dx = layer.backward(R)
    analytic = {k: g.copy() for k, g in layer.grads.items()}

    def L():
        with no_grad():
            return float((layer.forward(x) * R).sum())

    errs = {"x": rel_err(dx, finite_diff(L, x))}
    for k, p in layer.params.items():
        errs[k] = rel_err(analytic[k], finite_diff(L, p))
    return errs


def kink_margin(layer, x):
    """Smallest distance to a ReLU/LeakyReLU kink or a Maxout tie over the forward pass."""
    margin = np.inf
    with no_grad():
        for sub in (layer.layers if isinstance(layer, Sequential) else [layer]):
            if isinstance(sub, (ReLU, LeakyReLU)):
                margin = min(margin, float(np.abs(x).min()))
            if isinstance(sub, Maxout) and sub.pieces > 1:
                z = np.sort((x @ sub.params["W"] + sub.params["b"]).reshape(len(x), sub.units, -1), 2)
                margin = min(margin, float((z[..., -1] - z[..., -2]).min()))
            x = sub.forward(x)
    return margin


def away_from_zero(rng, shape, low=0.1):
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(low, 2.0, size=shape)


def paper_like_D(rng, n_in=6, dtype=F64, seeds=(1, 2, 3)):
    return Sequential(
        Dropout(0.8, scale=1.25, rng=seeds[0]), Maxout(n_in, 4, 3, irange=0.5, rng=rng, dtype=dtype),
        Dropout(0.5, scale=2.0, rng=seeds[1]), Maxout(4, 3, 2, irange=0.5, rng=rng, dtype=dtype),
        Dropout(0.5, scale=2.0, rng=seeds[2]), Linear(3, 1, irange=0.5, rng=rng, dtype=dtype))


def fix_masks(model, x, rng):
    """Give every Dropout in model a fixed mask for input x; returns the masks."""
    masks = []
    with no_grad():
        for sub in model.layers:
            if isinstance(sub, Dropout):
                sub.fixed_mask = dev(rng.random(x.shape) < sub.keep)
                masks.append(sub.fixed_mask)
            x = sub.forward(x)
    return masks


def set_masks(model, masks):
    for d, m in zip([s for s in model.layers if isinstance(s, Dropout)], masks):
        d.fixed_mask = m


# ----------------------------------------------------------------------------- every layer's derivatives
def _cases(rng):
    x = dev(rng.normal(size=(4, 5)))
    return {
        "Linear": (Linear(5, 3, rng=rng, dtype=F64), x),
        "Linear irange+bias": (Linear(5, 2, irange=0.05, bias=-0.7, rng=rng, dtype=F64), x),
        "ReLU": (ReLU(), dev(away_from_zero(rng, (4, 5)))),
        "LeakyReLU": (LeakyReLU(0.2), dev(away_from_zero(rng, (4, 5)))),
        "LeakyReLU 0.01": (LeakyReLU(0.01), dev(away_from_zero(rng, (3, 2)))),
        "Sigmoid": (Sigmoid(), 3 * x),
        "Tanh": (Tanh(), 2 * x),
        "Maxout": (Maxout(5, 3, 4, rng=rng, dtype=F64), x),
        "Maxout pieces=1": (Maxout(5, 2, 1, rng=rng, dtype=F64), x),
        "Sequential G": (Sequential(Linear(5, 6, rng=rng, dtype=F64), ReLU(), Linear(6, 4, rng=rng, dtype=F64),
                                    Tanh(), Linear(4, 3, rng=rng, dtype=F64), Sigmoid()), x),
        "Sequential leaky D": (Sequential(Linear(5, 6, rng=rng, dtype=F64), LeakyReLU(0.2),
                                          Linear(6, 1, rng=rng, dtype=F64)), x),
        "nested Sequential": (Sequential(Sequential(Linear(5, 4, rng=rng, dtype=F64), Tanh()),
                                         Linear(4, 2, rng=rng, dtype=F64)), x),
    }


CASES = list(_cases(np.random.default_rng(0)))


@pytest.mark.parametrize("name", CASES)
def test_every_gradient_matches_finite_differences(name):
    layer, x = _cases(np.random.default_rng(0))[name]
    assert kink_margin(layer, x) > 1e-3, "test input too close to a kink: change the seed"
    errs = grad_errors(layer, x)
    assert set(errs) == {"x"} | set(layer.params)
    assert max(errs.values()) < TOL, errs


def test_dropout_with_fixed_mask(rng):
    for keep, scale in ((0.5, None), (0.8, 1.25), (0.5, 2.0)):
        d = Dropout(keep, scale=scale, rng=0)
        x = dev(rng.normal(size=(6, 4)))
        d.fixed_mask = dev(rng.random(x.shape) < keep)
        errs = grad_errors(d, x)
        assert errs["x"] < TOL
        # y = x * m * scale exactly, the derivative the same mask times scale
        assert np.array_equal(host(d.forward(x)), host(x * d.fixed_mask * d.scale))
        assert np.array_equal(host(d.backward(np.ones_like(x))), host(d.fixed_mask * d.scale))


def test_dropout_without_fixed_mask_resamples_so_a_fd_check_would_fail(rng):
    d = Dropout(0.5, rng=0)
    x = dev(rng.normal(size=(6, 4)))
    assert grad_errors(d, x)["x"] > 1e-2   # why the mask must be frozen for a gradient check


def test_dropout_modes_and_rate(rng):
    d = Dropout(0.8, rng=1)
    assert d.scale == pytest.approx(1.25)
    x = dev(np.ones((400, 250)))
    y = host(d.forward(x))
    kept = y != 0
    assert abs(kept.mean() - 0.8) < 0.01
    assert np.allclose(y[kept], 1.25)
    d.backward(x)
    d.eval()
    assert np.array_equal(host(d.forward(x)), host(x))
    assert np.array_equal(host(d.backward(2 * x)), host(2 * x))


def test_paper_like_discriminator_with_fixed_masks(rng):
    D = paper_like_D(rng)
    x = dev(rng.uniform(0, 1, size=(5, 6)))
    fix_masks(D, x, rng)
    assert kink_margin(D, x) > 1e-3
    errs = grad_errors(D, x)
    assert set(errs) == {"x", "1.W", "1.b", "3.W", "3.b", "5.W", "5.b"}
    assert max(errs.values()) < TOL, errs


def test_astype_float64_copy_checks_too(rng):
    layer = Sequential(Linear(3, 4, rng=0), Tanh(), Maxout(4, 2, 3, rng=1))
    assert layer.dtype == np.float32
    layer.astype(F64)
    assert layer.dtype == F64 and all(g.dtype == F64 for g in layer.grads.values())
    errs = grad_errors(layer, dev(rng.normal(size=(3, 3))))
    assert max(errs.values()) < TOL


# ----------------------------------------------------------------------------- the G step through a frozen D
def _g_and_d(rng, d_seeds=(1, 2, 3)):
    G = Sequential(Linear(3, 7, rng=rng, dtype=F64), ReLU(), Linear(7, 6, rng=rng, dtype=F64), Sigmoid())
    return G, paper_like_D(rng, seeds=d_seeds)


def _g_and_d_twins(rng, n, d_seeds=(1, 2, 3)):
    """(G, D) and n twins built from copies of ``rng``'s state: the same weights and, seeded
    alike, the same Dropout streams (what deep copies give on NumPy; a CuPy Generator
    cannot be deep-copied)."""
    start = copy.deepcopy(rng)
    return [_g_and_d(rng, d_seeds)] + [_g_and_d(copy.deepcopy(start), d_seeds) for _ in range(n)]


@pytest.mark.parametrize("g_loss", ["minimax", "nonsaturating"])
def test_generator_gradient_through_frozen_discriminator(rng, g_loss):
    G, D = _g_and_d(rng)
    z = dev(rng.uniform(-1, 1, size=(5, 3)))
    with no_grad():
        fix_masks(D, G.forward(z), rng)
    assert kink_margin(G, z) > 1e-3
    loss_fn = losses.GENERATOR_LOSSES[g_loss]

    G.zero_grad()
    D.zero_grad()
    a = D.forward(G.forward(z))
    _, grad_a = loss_fn(a)
    D.requires_grad = False
    grad_fake = D.backward(grad_a)
    D.requires_grad = True
    dz = G.backward(grad_fake)
    assert all(not g.any() for g in D.grads.values()), "a frozen D must not accumulate gradients"
    analytic = {k: g.copy() for k, g in G.grads.items()}

    def L():
        with no_grad():
            return float(loss_fn(D.forward(G.forward(z)))[0])

    assert rel_err(dz, finite_diff(L, z)) < TOL
    for k, p in G.params.items():
        assert rel_err(analytic[k], finite_diff(L, p)) < TOL, k


def test_requires_grad_false_leaves_grads_but_gives_the_same_input_gradient(rng):
    lin = Linear(4, 3, rng=0, dtype=F64)
    x, g = dev(rng.normal(size=(2, 4))), dev(rng.normal(size=(2, 3)))
    lin.forward(x)
    dx_live = lin.backward(g)
    lin.zero_grad()
    lin.requires_grad = False
    lin.forward(x)
    dx_frozen = lin.backward(g)
    assert np.array_equal(host(dx_live), host(dx_frozen))
    assert not lin.grads["W"].any() and not lin.grads["b"].any()
    seq = Sequential(Linear(2, 2, rng=0), Tanh(), Linear(2, 1, rng=1))
    seq.requires_grad = False
    assert not seq.requires_grad and not any(l.requires_grad for l in seq.layers)
    seq.requires_grad = True
    assert seq.requires_grad


# ----------------------------------------------------------------------------- two forwards, one D
def _snapshot(model):
    return {k: g.copy() for k, g in model.grads.items()}


@pytest.mark.parametrize("masks", ["different fixed masks", "one fixed mask", "no dropout"])
def test_two_forwards_then_two_backwards_equals_separate_passes(rng, masks):
    D = paper_like_D(rng) if masks != "no dropout" else Sequential(
        Linear(6, 5, rng=rng, dtype=F64), LeakyReLU(0.2), Maxout(5, 3, 2, rng=rng, dtype=F64),
        Linear(3, 1, rng=rng, dtype=F64))
    xr, xf = dev(rng.uniform(0, 1, size=(5, 6))), dev(rng.normal(size=(5, 6)))
    m_real = fix_masks(D, xr, rng) if masks != "no dropout" else []
    m_fake = fix_masks(D, xf, rng) if masks == "different fixed masks" else m_real
    gr, gf = dev(rng.normal(size=(5, 1))), dev(rng.normal(size=(5, 1)))

    D.zero_grad()                                   # the GAN way: both forwards, then LIFO backwards
    set_masks(D, m_real)
    ar = D.forward(xr)
    set_masks(D, m_fake)
    af = D.forward(xf)
    dxf = D.backward(gf)
    dxr = D.backward(gr)
    stacked = _snapshot(D)

    D.zero_grad()                                   # each forward followed by its own backward
    set_masks(D, m_real)
    ar2 = D.forward(xr)
    dxr2 = D.backward(gr)
    set_masks(D, m_fake)
    af2 = D.forward(xf)
    dxf2 = D.backward(gf)
    separate = _snapshot(D)

    assert np.array_equal(host(ar), host(ar2)) and np.array_equal(host(af), host(af2))
    assert np.allclose(host(dxr), host(dxr2), rtol=1e-12, atol=0)
    assert np.allclose(host(dxf), host(dxf2), rtol=1e-12, atol=0)
    for k in separate:
        assert np.allclose(host(stacked[k]), host(separate[k]), rtol=1e-12, atol=1e-15), k
    # and the sum really has two different terms (the real batch's term is not lost)
    D.zero_grad()
    set_masks(D, m_fake)
    D.forward(xf)
    D.backward(gf)
    assert not np.allclose(host(_snapshot(D)["0.W" if masks == "no dropout" else "1.W"]),
                           host(separate["0.W" if masks == "no dropout" else "1.W"]))


def test_real_and_fake_masks_independent_when_not_fixed(rng):
    d = Dropout(0.5, rng=3)
    x = dev(np.ones((40, 30)))
    y_real, y_fake = host(d.forward(x)), host(d.forward(x))
    assert not np.array_equal(y_real, y_fake)
    assert 0.4 < ((y_real != 0) == (y_fake != 0)).mean() < 0.6    # about half agree by chance
    # LIFO: the first backward uses the fake batch's mask, the second the real one's
    assert np.array_equal(host(d.backward(np.ones_like(x))), y_fake)
    assert np.array_equal(host(d.backward(np.ones_like(x))), y_real)


def test_two_forwards_with_random_masks_match_separate_passes(rng):
    """Random (unfixed) masks: a twin with the same weights and Dropout seeds, run forward/
    backward pairs in the same forward order, draws the same masks and must give the same grads."""
    start = copy.deepcopy(rng)
    D = paper_like_D(rng, seeds=(11, 12, 13))
    D2 = paper_like_D(start, seeds=(11, 12, 13))
    xr, xf = dev(rng.uniform(0, 1, size=(5, 6))), dev(rng.uniform(0, 1, size=(4, 6)))
    gr, gf = dev(rng.normal(size=(5, 1))), dev(rng.normal(size=(4, 1)))
    D.forward(xr)
    D.forward(xf)
    dxf = D.backward(gf)
    dxr = D.backward(gr)
    D2.forward(xr)
    dxr2 = D2.backward(gr)
    D2.forward(xf)
    dxf2 = D2.backward(gf)
    assert np.allclose(host(dxr), host(dxr2), rtol=1e-12) and np.allclose(host(dxf), host(dxf2), rtol=1e-12)
    for k in D.grads:
        assert np.allclose(host(D.grads[k]), host(D2.grads[k]), rtol=1e-12, atol=1e-15), k


def test_simultaneous_step_retain_cache(rng):
    """The released code's step: D(x), D(G(z)) once; D(G(z)) backpropagated twice
    (G's loss through frozen D, then D's loss) thanks to retain_cache()."""
    d_seeds = tuple(int(rng.integers(1 << 30)) for _ in range(3))
    (G, D), (G2, D2), (_, D3) = _g_and_d_twins(rng, 2, d_seeds)
    z, x = dev(rng.uniform(-1, 1, size=(5, 3))), dev(rng.uniform(0, 1, size=(5, 6)))

    fake = G.forward(z)
    ar = D.forward(x)
    af = D.forward(fake)
    D.retain_cache()
    _, ga = losses.generator_loss_nonsaturating(af)
    D.requires_grad = False
    g_fake = D.backward(ga)
    D.requires_grad = True
    _, gr, gf = losses.discriminator_loss(ar, af, scale=0.5)
    D.backward(gf)
    D.backward(gr)
    G.backward(g_fake)
    assert all(len(l._cache) == 0 for l in D.layers + G.layers)

    # reference for D: the two-forward D step (same masks: same rng states, same forward order)
    fake2 = G2.forward(z)
    ar2, af2 = D2.forward(x), D2.forward(fake2)
    _, gr2, gf2 = losses.discriminator_loss(ar2, af2, scale=0.5)
    D2.backward(gf2)
    D2.backward(gr2)
    # reference for G: a separate frozen-D backward (D3 skips the real batch's mask draw)
    with no_grad():
        D3.forward(x)
    af3 = D3.forward(fake2)
    D3.requires_grad = False
    G2.backward(D3.backward(losses.generator_loss_nonsaturating(af3)[1]))
    assert all(not g.any() for g in D3.grads.values())
    for k in D.grads:
        assert np.allclose(host(D.grads[k]), host(D2.grads[k]), rtol=1e-12, atol=1e-15), k
    for k in G.grads:
        assert np.allclose(host(G.grads[k]), host(G2.grads[k]), rtol=1e-12, atol=1e-15), k


def test_without_retain_cache_the_second_use_fails_loudly(rng):
    D = Sequential(Linear(3, 2, rng=0), Tanh())
    D.forward(dev(rng.normal(size=(2, 3)).astype(np.float32)))
    D.backward(dev(np.ones((2, 2), np.float32)))
    with pytest.raises(RuntimeError, match="no pending forward"):
        D.backward(dev(np.ones((2, 2), np.float32)))


def test_retain_cache_backprops_the_last_forward_twice(rng):
    lin = Linear(3, 2, rng=0, dtype=F64)
    x, g = dev(rng.normal(size=(4, 3))), dev(rng.normal(size=(4, 2)))
    lin.forward(x)
    lin.retain_cache()
    lin.backward(g)
    lin.backward(g)
    assert np.allclose(host(lin.grads["W"]), host(2 * x.T @ g))
    assert lin._cache == []


def test_simultaneous_step_of_the_gan_class(rng):
    """GAN.simultaneous_step's grads equal the separate D-step and G-step gradients."""
    from minigan.train import GAN
    from minigan.optim import SGD
    (G, D), (G2, D2), (_, D3) = _g_and_d_twins(rng, 2)
    data = lambda m, r: r.uniform(0, 1, size=(m, 6))      # noqa: E731
    noise = lambda m, r: r.uniform(-1, 1, size=(m, 3))    # noqa: E731
    gan = GAN(G, D, data, noise, d_optimizer=SGD(D, lr=0.1), g_optimizer=SGD(G, lr=0.1),
              m=5, order="simultaneous", g_loss="minimax", d_loss_scale=0.5, seed=7)
    rng2 = backend.default_rng(7)                       # the GAN's generator, seeded alike
    gan.simultaneous_step()
    z, x = noise(5, rng2), data(5, rng2)
    fake = G2.forward(z)
    ar, af = D2.forward(x), D2.forward(fake)
    _, gr, gf = losses.discriminator_loss(ar, af, scale=0.5)
    D2.backward(gf)
    D2.backward(gr)
    with no_grad():
        D3.forward(x)
    D3.requires_grad = False
    G2.backward(D3.backward(losses.generator_loss_minimax(D3.forward(fake))[1]))
    for k in D.grads:
        assert np.allclose(host(D.grads[k]), host(D2.grads[k]), rtol=1e-10, atol=1e-14), k
    for k in G.grads:
        assert np.allclose(host(G.grads[k]), host(G2.grads[k]), rtol=1e-10, atol=1e-14), k


# ----------------------------------------------------------------------------- protocol
def test_backward_accumulates_and_zero_grad_is_in_place(rng):
    lin = Linear(3, 2, rng=0, dtype=F64)
    W_grad = lin.grads["W"]
    x1, x2, g = dev(rng.normal(size=(2, 3))), dev(rng.normal(size=(2, 3))), dev(rng.normal(size=(2, 2)))
    lin.forward(x1)
    lin.forward(x2)
    lin.backward(g)
    lin.backward(g)
    assert np.allclose(host(lin.grads["W"]), host(x1.T @ g + x2.T @ g))
    assert np.allclose(host(lin.grads["b"]), host(2 * g.sum(0)))
    lin.zero_grad()
    assert lin.grads["W"] is W_grad and not W_grad.any()


def test_params_and_grads_same_keys_and_shapes(rng):
    D = paper_like_D(rng)
    assert list(D.params) == list(D.grads) == ["1.W", "1.b", "3.W", "3.b", "5.W", "5.b"]
    for k in D.params:
        assert D.params[k].shape == D.grads[k].shape
    assert D.params["1.W"] is D.layers[1].params["W"]      # views, not copies
    assert Linear(3, 2).params.keys() == {"W", "b"} and ReLU().params == {}


def test_initialisers(rng):
    lin = Linear(50, 40, irange=0.05, bias=0.25, rng=0)
    assert np.abs(host(lin.params["W"])).max() <= 0.05 and np.abs(host(lin.params["W"])).max() > 0.045
    assert np.all(host(lin.params["b"]) == np.float32(0.25))
    assert np.array_equal(host(Linear(5, 3, rng=7).params["W"]), host(Linear(5, 3, rng=7).params["W"]))
    # Glorot-uniform by default: U(-r, r), r = sqrt(6 / (fan_in + fan_out)); with 2,000 draws the
    # largest |w| sits within a few per cent of r, so a range too small fails as well as one too large
    r = np.sqrt(6 / (50 + 40))
    assert 0.98 * r < np.abs(host(Linear(50, 40, rng=0).params["W"])).max() <= r
    mo = Maxout(10, 4, 5, irange=0.005, rng=0)
    assert mo.params["W"].shape == (10, 20) and np.abs(host(mo.params["W"])).max() <= 0.005
    # Maxout's default: Glorot with fan_out = units (not units x pieces), as its docstring says
    r_maxout = np.sqrt(6 / (100 + 40))
    assert 0.98 * r_maxout < np.abs(host(Maxout(100, 40, 5, rng=0).params["W"])).max() <= r_maxout
    with pytest.raises(ValueError, match="irange"):
        Linear(3, 2, irange=0)


def test_maxout_routes_gradient_to_the_winning_piece():
    mo = Maxout(1, 1, 3, irange=1.0, rng=0, dtype=F64)
    mo.params["W"][...] = dev(np.array([[1.0, -1.0, 0.5]]))
    x = dev(np.array([[2.0], [-3.0]]))
    y = mo.forward(x)
    assert np.array_equal(host(y), [[2.0], [3.0]])
    dx = mo.backward(dev(np.ones((2, 1))))
    assert np.array_equal(host(dx), [[1.0], [-1.0]])
    assert np.array_equal(host(mo.grads["W"]), [[2.0, -3.0, 0.0]])
    assert np.array_equal(host(mo.grads["b"]), [1.0, 1.0, 0.0])


def test_no_grad_pushes_nothing_and_restores():
    lin = Linear(3, 2, rng=0)
    x = dev(np.ones((2, 3), np.float32))
    with no_grad():
        lin.forward(x)
        with no_grad():
            lin.forward(x)
        lin.forward(x)
    assert lin._cache == []
    with pytest.raises(RuntimeError, match="Linear.backward called with no pending forward"):
        lin.backward(dev(np.ones((2, 2), np.float32)))
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            1 / 0
    lin.forward(x)                     # grad mode is back on after the exception
    assert len(lin._cache) == 1


@pytest.mark.parametrize("layer", [Linear(3, 2), ReLU(), LeakyReLU(), Sigmoid(), Tanh(), Maxout(3, 2, 2),
                                   Dropout(0.5), Sequential(Linear(3, 2), ReLU())],
                         ids=lambda l: type(l).__name__)
def test_backward_without_forward_is_a_clear_error(layer):
    with pytest.raises(RuntimeError, match=r"backward called with no pending forward"):
        layer.backward(dev(np.ones((2, 2), np.float32)))


def test_max_pending_bounds_the_cache_stack():
    lin = Linear(2, 1, rng=0)
    xs = [dev(np.full((1, 2), i, np.float32)) for i in range(MAX_PENDING + 5)]
    for x in xs:
        lin.forward(x)
    assert len(lin._cache) == MAX_PENDING
    one = dev(np.ones((1, 1), np.float32))
    lin.backward(one)                                    # pops the most recent forward
    assert np.array_equal(host(lin.grads["W"]), host(xs[-1].T))
    for _ in range(MAX_PENDING - 1):
        lin.backward(one)
    with pytest.raises(RuntimeError):
        lin.backward(one)                                # the oldest 5 were dropped


def test_clear_cache(rng):
    seq = Sequential(Linear(3, 2, rng=0), ReLU())
    seq.forward(dev(np.ones((2, 3), np.float32)))
    seq.clear_cache()
    assert all(l._cache == [] for l in seq.layers)


# ----------------------------------------------------------------------------- dtype kept
def _float32_layers():
    d_fixed = Dropout(0.5, rng=0)
    d_fixed.fixed_mask = dev(np.random.default_rng(0).random((4, 6)) < 0.5)   # bool mask
    d_fixed64 = Dropout(0.5, rng=0)
    d_fixed64.fixed_mask = dev((np.random.default_rng(0).random((4, 6)) < 0.5).astype(np.float64))
    rng = np.random.default_rng(0)
    return {
        "Linear": Linear(6, 3, rng=0), "ReLU": ReLU(), "LeakyReLU": LeakyReLU(0.2), "Sigmoid": Sigmoid(),
        "Tanh": Tanh(), "Maxout": Maxout(6, 3, 2, rng=0), "Dropout": Dropout(0.8, scale=1.25, rng=0),
        "Dropout fixed bool mask": d_fixed, "Dropout fixed float64 mask": d_fixed64,
        "Dropout eval": Dropout(0.5).eval(),
        "paper-like D": paper_like_D(rng, dtype=np.float32),
        "G": Sequential(Linear(6, 5, rng=0), ReLU(), Linear(5, 4, rng=1), Sigmoid()),
    }


@pytest.mark.parametrize("name", list(_float32_layers()))
def test_float32_in_float32_out_and_float32_grads(name):
    layer = _float32_layers()[name]
    x = dev(np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32))
    y = layer.forward(x)
    assert y.dtype == np.float32
    dx = layer.backward(np.ones_like(y))
    assert dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.grads.values())
    assert all(p.dtype == np.float32 for p in layer.params.values())


def test_float64_stays_float64(rng):
    for layer in (Linear(3, 2, rng=0, dtype=F64), Maxout(3, 2, 2, rng=0, dtype=F64), Sigmoid(), Dropout(0.5)):
        y = layer.forward(dev(rng.normal(size=(2, 3))))
        assert y.dtype == F64 and layer.backward(np.ones_like(y)).dtype == F64


# ----------------------------------------------------------------------------- errors at the boundary
def test_shape_errors_name_the_layer_and_expected_shape():
    with pytest.raises(ValueError, match=r"Linear\.forward expects shape \(batch, 3\), got \(2, 4\)"):
        Linear(3, 2).forward(dev(np.ones((2, 4), np.float32)))
    with pytest.raises(ValueError, match=r"Linear\.forward expects shape \(batch, 3\), got \(3,\)"):
        Linear(3, 2).forward(dev(np.ones(3, np.float32)))
    with pytest.raises(ValueError, match=r"Maxout\.forward expects shape \(batch, 5\)"):
        Maxout(5, 2, 3).forward(dev(np.ones((2, 4), np.float32)))
    with pytest.raises(ValueError, match=r"Linear\.forward expects shape \(batch, 2\), got \(4, 3\)"):
        Sequential(Linear(3, 3), ReLU(), Linear(2, 1)).forward(dev(np.ones((4, 3), np.float32)))
    d = Dropout(0.5)
    d.fixed_mask = dev(np.ones((2, 2), bool))
    with pytest.raises(ValueError, match=r"Dropout\.fixed_mask has shape \(2, 2\), input \(3, 2\)"):
        d.forward(dev(np.ones((3, 2), np.float32)))


def test_dtype_errors_name_the_layer_and_expected_dtype():
    with pytest.raises(TypeError, match=r"Linear\.forward expects dtype float32.*got float64"):
        Linear(3, 2).forward(dev(np.ones((2, 3))))
    with pytest.raises(TypeError, match=r"Maxout\.forward expects dtype float64.*got float32"):
        Maxout(3, 2, 2, dtype=F64).forward(dev(np.ones((2, 3), np.float32)))
    with pytest.raises(TypeError, match=r"ReLU\.forward expects a floating-point array, got dtype int64"):
        ReLU().forward(dev(np.ones((2, 3), np.int64)))
    with pytest.raises(TypeError, match=r"Tanh\.forward expects an array, got list"):
        Tanh().forward([[1.0, 2.0]])


def test_constructor_errors():
    with pytest.raises(ValueError, match="Linear needs n_in >= 1"):
        Linear(0, 3)
    with pytest.raises(ValueError, match="Maxout needs"):
        Maxout(3, 2, 0)
    with pytest.raises(ValueError, match="Dropout keep must be in"):
        Dropout(0.0)
    with pytest.raises(ValueError, match="LeakyReLU alpha"):
        LeakyReLU(1.5)
    with pytest.raises(TypeError, match="Sequential argument 1 is not a Layer"):
        Sequential(ReLU(), "tanh")


def test_module_exports():
    for name in layers.__all__:
        assert hasattr(layers, name), name


@pytest.mark.parametrize("make", [
    lambda: Linear(3, 2, rng=0, dtype=np.float64),
    lambda: Maxout(3, 2, 2, rng=0, dtype=np.float64),
    ReLU, LeakyReLU, Sigmoid, Tanh,
    lambda: Dropout(0.5, rng=0),
])
def test_backward_rejects_a_grad_out_of_the_wrong_shape(make):
    layer = make()
    x = dev(np.random.default_rng(1).standard_normal((4, 3)))
    y = layer.forward(x)
    wrong = dev(np.ones(y.shape[1:]))                   # would broadcast silently into dL/dW
    with pytest.raises(ValueError, match=rf"{type(layer).__name__}\.backward expects grad_out of shape"):
        layer.backward(wrong)


def test_dropout_as_the_identity_still_checks_grad_out():
    for layer in (Dropout(0.5, rng=0), Dropout(1.0, scale=1.0, rng=0)):
        x = dev(np.ones((3, 4)))
        if layer.keep == 0.5:
            layer.eval()
        assert layer.forward(x) is x
        with pytest.raises(ValueError, match=r"Dropout.backward expects grad_out of shape \(3, 4\)"):
            layer.backward(dev(np.ones((4, 3))))


@pytest.mark.parametrize("make", [
    lambda: Linear(3, 2, rng=0, dtype=np.float32),
    lambda: Maxout(3, 2, 2, rng=0, dtype=np.float32),
    LeakyReLU, Sigmoid, Tanh,
    lambda: Dropout(0.5, rng=0),
    lambda: Dropout(1.0, scale=1.0, rng=0),                # the identity path checks it too
])
def test_backward_rejects_a_grad_out_of_another_dtype(make):
    """A float64 dL/dy into a float32 layer would be rounded into its float32
    grads and upcast every dL/dx below it: refused, naming the layer."""
    layer = make()
    y = layer.forward(dev(np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)))
    with pytest.raises(TypeError, match=rf"{type(layer).__name__}\.backward expects grad_out of "
                                        r"dtype float32 \(its forward output's\), got float64"):
        layer.backward(dev(np.ones(y.shape, np.float64)))
    layer.forward(dev(np.ones((4, 3), np.float32)))
    assert layer.backward(dev(np.ones(y.shape, np.float32))).dtype == np.float32


def test_retain_cache_keeps_the_stack_within_max_pending():
    lin = Linear(2, 1, rng=0)
    for i in range(MAX_PENDING):
        lin.forward(dev(np.full((1, 2), i, np.float32)))
    lin.retain_cache()
    assert len(lin._cache) == MAX_PENDING
    lin.backward(dev(np.ones((1, 1), np.float32)))       # the retained copy: the last forward
    lin.backward(dev(np.ones((1, 1), np.float32)))       # the last forward itself
    assert np.array_equal(host(lin.grads["W"]), 2 * np.full((2, 1), MAX_PENDING - 1, np.float32))


# ----------------------------------------------------------------------------- written after zero_grad, counted
PARAM_LAYERS = {
    "Linear": lambda: Linear(4, 3, rng=0, dtype=F64),
    "Maxout": lambda: Maxout(4, 3, 2, rng=0, dtype=F64),
    "Sequential": lambda: Sequential(Linear(4, 5, rng=1, dtype=F64), ReLU(), Maxout(5, 3, 2, rng=2, dtype=F64),
                                     Dropout(0.5, rng=3), Tanh(), Linear(3, 2, rng=4, dtype=F64)),
}


def _output_shape(layer, x):
    with no_grad():
        return layer.forward(x).shape


@pytest.mark.parametrize("input_grad", [True, False], ids=["input_grad", "params_only"])
@pytest.mark.parametrize("make", PARAM_LAYERS.values(), ids=PARAM_LAYERS.keys())
def test_a_penalty_added_into_grads_after_zero_grad_counts(rng, make, input_grad):
    """zero_grad(); grads[k] += penalty; forward; backward: the backward's term is added to
    the penalty (the lazy zero_grad used to let the first backward overwrite it)."""
    layer = make()
    layer.eval()                                             # no Dropout draws: the two runs agree
    plain = make().eval()                                    # a second build: the same weights
    x = dev(rng.standard_normal((6, 4)))
    g = dev(rng.standard_normal(_output_shape(layer, x)))
    plain.zero_grad()
    plain.forward(x)
    plain.backward(g, input_grad=input_grad)
    backward_term = {k: v.copy() for k, v in plain.grads.items()}
    assert all(v.any() for v in backward_term.values())

    layer.grads[next(iter(layer.grads))][...] = 5.0          # stale values from an earlier step
    layer.zero_grad()
    penalty = {k: 1e-2 * p for k, p in layer.params.items()}   # weight decay: lambda * theta
    for k in layer.grads:
        layer.grads[k] += penalty[k]
    layer.forward(x)
    out = layer.backward(g, input_grad=input_grad)
    assert (out is None) == (not input_grad)
    for k in backward_term:
        np.testing.assert_allclose(host(layer.grads[k]), host(backward_term[k] + penalty[k]), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("input_grad", [True, False], ids=["input_grad", "params_only"])
def test_the_issue_example_a_constant_added_to_one_gradient(rng, input_grad):
    D = PARAM_LAYERS["Sequential"]().eval()
    x = dev(rng.standard_normal((3, 4)))
    g = dev(rng.standard_normal(_output_shape(D, x)))
    ref = PARAM_LAYERS["Sequential"]().eval()                # a second build: the same weights
    ref.zero_grad()
    ref.forward(x)
    ref.backward(g, input_grad=input_grad)
    D.zero_grad()
    D.grads["0.W"] += 1.0
    D.forward(x)
    D.backward(g, input_grad=input_grad)
    np.testing.assert_allclose(host(D.grads["0.W"]), host(ref.grads["0.W"] + 1.0), rtol=1e-12)
    for k in ref.grads:
        if k != "0.W":
            np.testing.assert_array_equal(host(D.grads[k]), host(ref.grads[k]))


def test_a_penalty_written_through_a_dict_fetched_after_zero_grad_counts(rng):
    """One look (grads = D.grads) after zero_grad() is enough: writes through it count."""
    D = PARAM_LAYERS["Sequential"]().eval()
    x = dev(rng.standard_normal((3, 4)))
    g = dev(rng.standard_normal(_output_shape(D, x)))
    D.zero_grad()
    grads = D.grads
    for k in grads:
        grads[k] += 2.0
    D.forward(x)
    D.backward(g)
    D2 = PARAM_LAYERS["Sequential"]().eval()
    D2.zero_grad()
    D2.forward(x)
    D2.backward(g)
    for k in grads:
        np.testing.assert_allclose(host(D.grads[k]), host(D2.grads[k] + 2.0), rtol=1e-12)


def test_the_lazy_zero_grad_still_writes_straight_into_the_array(rng):
    """The speed-up stays: with no look between zero_grad() and backward, no zeros are
    written and the product goes straight into the array; a look writes the zeros
    and drops the marks (so that what is written afterwards is added to)."""
    lin = Linear(4, 3, rng=0, dtype=F64)
    lin.grads["W"][...] = 7.0
    lin.zero_grad()
    assert lin._zeroed == {"W", "b"} and (lin._grads["W"] == 7.0).all()
    x, g = dev(rng.standard_normal((5, 4))), dev(rng.standard_normal((5, 3)))
    lin.forward(x)
    lin.backward(g)
    np.testing.assert_array_equal(host(lin.grads["W"]), host(x.T @ g))
    lin.zero_grad()
    assert not lin.grads["W"].any() and lin._zeroed == set() and lin._unfilled == set()
    lin.forward(x)
    lin.backward(g)
    np.testing.assert_array_equal(host(lin.grads["W"]), host(x.T @ g))


# ----------------------------------------------------------------------------- every backward takes input_grad
EVERY_LAYER = {
    "Linear": lambda: Linear(4, 4, rng=0, dtype=F64), "Maxout": lambda: Maxout(4, 2, 2, rng=0, dtype=F64),
    "ReLU": ReLU, "LeakyReLU": LeakyReLU, "Sigmoid": Sigmoid, "Tanh": Tanh,
    "Dropout": lambda: Dropout(0.5, rng=0), "Dropout(eval)": lambda: Dropout(0.5, rng=0).eval(),
    "Sequential": PARAM_LAYERS["Sequential"],
}


@pytest.mark.parametrize("make", EVERY_LAYER.values(), ids=EVERY_LAYER.keys())
def test_every_backward_takes_input_grad(rng, make):
    """backward(g, input_grad=False) pops the cache, adds the same parameter gradients
    as backward(g) and returns None; layers.backward_params_only is exactly that."""
    layer = make()
    twin = make()                                            # the same weights and Dropout seed
    x = dev(rng.standard_normal((3, 4)))
    y = layer.forward(x)
    g = dev(rng.standard_normal(y.shape))
    twin.forward(x)                                          # a generator seeded alike: the same Dropout mask
    assert twin.backward(g) is not None
    assert layer.backward(g, input_grad=False) is None
    for k in twin.grads:
        np.testing.assert_array_equal(host(layer.grads[k]), host(twin.grads[k]))
    assert all(not l._cache for _, l in layers.walk_layers(layer) if not isinstance(l, Sequential))
    layer.forward(x)
    assert layers.backward_params_only(layer, g) is None
    assert all(not l._cache for _, l in layers.walk_layers(layer) if not isinstance(l, Sequential))


def test_backward_params_only_is_backward_without_input_grad():
    calls = []

    class Spy(layers.Layer):
        def forward(self, x):
            self._save()
            return x

        def backward(self, grad_out, *, input_grad=True):
            self._load()
            calls.append(input_grad)
            return grad_out if input_grad else None

    spy = Spy()
    spy.forward(np.ones((2, 2)))
    assert layers.backward_params_only(spy, np.ones((2, 2))) is None and calls == [False]


# ----------------------------------------------------------------------------- what a gradient check learns
def test_kink_gaps(rng):
    x = dev(rng.standard_normal((5, 3)))
    for layer in (ReLU(), LeakyReLU(0.1)):
        gaps = layer.kink_gaps(x)
        assert gaps.dtype == F64 and gaps.shape == (5, 3)
        np.testing.assert_array_equal(gaps, np.abs(host(x)))
    mo = Maxout(3, 2, 3, rng=0, dtype=F64)
    z = np.sort(host(x @ mo.params["W"] + mo.params["b"]).reshape(5, 2, 3), axis=2)
    np.testing.assert_allclose(mo.kink_gaps(x), z[..., -1] - z[..., -2])
    assert mo.kink_gaps(x).shape == (5, 2) and (mo.kink_gaps(x) >= 0).all()
    for smooth in (Linear(3, 2, rng=0), Sigmoid(), Tanh(), Dropout(0.5), Maxout(3, 2, 1, rng=0),
                   Sequential(Linear(3, 2, rng=0))):
        assert smooth.kink_gaps(x) is None


def test_dropout_says_when_it_draws_and_freezes_its_mask(rng):
    d = Dropout(0.5, rng=0)
    assert d.draws_random()
    x = dev(rng.standard_normal((4, 3)).astype(np.float32))
    token = d.freeze_random(x, np.random.default_rng(1))
    assert token is None and d.fixed_mask.shape == (4, 3) and not d.draws_random()
    with no_grad():
        assert np.array_equal(host(d.forward(x)), host(d.forward(x)))
    d.unfreeze_random(token)
    assert d.fixed_mask is None and d.draws_random()
    assert not d.eval().draws_random() and not Dropout(1.0).draws_random()
    assert not Dropout(1.0, scale=1.0).draws_random()


def test_base_layer_protocol_defaults_and_sequential():
    relu = ReLU()
    assert relu.couples_rows is False and not relu.draws_random()
    assert relu.freeze_random(np.ones((2, 2)), np.random.default_rng(0)) is None
    relu.unfreeze_random(None)

    class Coupled(layers.Layer):
        couples_rows = True

    class DrawsButCannotFreeze(layers.Layer):
        def draws_random(self):
            return True

    assert Sequential(ReLU(), Coupled()).couples_rows and not Sequential(ReLU(), Linear(2, 2)).couples_rows
    assert Sequential(Linear(2, 2), Dropout(0.5)).draws_random()
    assert not Sequential(Linear(2, 2), Dropout(0.5).eval()).draws_random()
    with pytest.raises(NotImplementedError, match="DrawsButCannotFreeze draws random numbers"):
        DrawsButCannotFreeze().freeze_random(np.ones((2, 2)), np.random.default_rng(0))


def test_backward_params_only_holds_no_list_of_classes():
    import inspect
    src = inspect.getsource(layers.backward_params_only) + inspect.getsource(Sequential.backward)
    assert "isinstance" not in src and "Linear" not in src and "Maxout" not in src


# ----------------------------------------------------------------------------- frozen, evaluating
def test_frozen_restores_each_layer_s_own_flag(rng):
    D = Sequential(Linear(3, 4, rng=0, dtype=F64), ReLU(), Linear(4, 1, rng=1, dtype=F64))
    D.layers[0].requires_grad = False                   # a layer the user froze
    D.zero_grad()
    D.forward(dev(rng.standard_normal((5, 3))))
    with layers.frozen(D):
        assert not any(l.requires_grad for _, l in layers.walk_layers(D))
        D.backward(dev(np.ones((5, 1))))
    assert not D.grads["2.W"].any()                     # nothing added while frozen
    assert D.layers[0].requires_grad is False and D.layers[1].requires_grad and D.layers[2].requires_grad
    with pytest.raises(RuntimeError):                   # restored on an error too
        with layers.frozen(D):
            D.backward(dev(np.ones((5, 1))))            # no pending forward
    assert [l.requires_grad for l in D.layers] == [False, True, True]


def test_g_step_leaves_a_layer_the_user_froze_frozen():
    from minigan import data, optim
    from minigan.train import GAN
    G = Sequential(Linear(1, 4, rng=0), ReLU(), Linear(4, 1, rng=1))
    D = Sequential(Linear(1, 4, rng=2), ReLU(), Linear(4, 1, rng=3))
    D.layers[0].requires_grad = False
    gan = GAN(G, D, data.gaussian_1d(), data.uniform_noise(1), d_optimizer=optim.SGD(D, 0.05, 0.5),
              g_optimizer=optim.SGD(G, 0.05, 0.5), m=8, seed=0)
    gan.g_step()
    assert D.layers[0].requires_grad is False and D.layers[2].requires_grad is True


def test_evaluating_restores_each_layer_s_own_mode_and_keeps_no_cache(rng):
    G = Sequential(Dropout(0.5, rng=0), Linear(3, 2, rng=0, dtype=F64), Dropout(0.5, rng=1))
    G.layers[2].eval()                                  # a layer the user put in eval mode
    x = dev(rng.standard_normal((4, 3)))
    with layers.evaluating(G):
        assert not any(l.training for _, l in layers.walk_layers(G))
        np.testing.assert_array_equal(host(G.forward(x)), host(x @ G.params["1.W"] + G.params["1.b"]))
    assert [l.training for l in G.layers] == [True, True, False] and G.training
    assert not any(l._cache for l in G.layers)          # ran under no_grad
    with pytest.raises(ValueError):
        with layers.evaluating(G):
            raise ValueError("boom")
    assert [l.training for l in G.layers] == [True, True, False]


def test_gan_sample_and_d_prob_leave_each_layer_s_mode():
    from minigan import data, optim
    from minigan.train import GAN
    G = Sequential(Linear(1, 4, rng=0), Dropout(0.5, rng=0), Linear(4, 1, rng=1))
    D = Sequential(Linear(1, 4, rng=2), Dropout(0.5, rng=1), Linear(4, 1, rng=3))
    G.layers[1].eval()
    D.layers[1].eval()
    gan = GAN(G, D, data.gaussian_1d(), data.uniform_noise(1), d_optimizer=optim.SGD(D, 0.05, 0.5),
              g_optimizer=optim.SGD(G, 0.05, 0.5), m=8, seed=0)
    gan.sample(4)
    gan.d_prob(dev(np.zeros((3, 1), np.float32)))
    assert G.layers[1].training is False and G.layers[0].training is True
    assert D.layers[1].training is False and D.layers[0].training is True


# ----------------------------------------------------------------------------- Sequential and the check protocol
def test_sequential_freezes_and_unfreezes_its_layers_draws(rng):
    net = Sequential(Dropout(0.5, rng=0), Linear(3, 4, rng=0, dtype=F64), ReLU(), Dropout(0.5, rng=1))
    x = dev(rng.standard_normal((5, 3)))
    assert net.draws_random()
    tokens = net.freeze_random(x, np.random.default_rng(2))
    assert not net.draws_random() and not any(l._cache for l in net.layers)
    assert net.layers[0].fixed_mask.shape == (5, 3) and net.layers[3].fixed_mask.shape == (5, 4)
    with no_grad():
        np.testing.assert_array_equal(host(net.forward(x)), host(net.forward(x)))
    net.unfreeze_random(tokens)
    assert net.layers[0].fixed_mask is None and net.layers[3].fixed_mask is None and net.draws_random()
    mine = dev(np.ones((5, 3), bool))                   # a mask the user set is left as it is
    net.layers[0].fixed_mask = mine
    net.unfreeze_random(net.freeze_random(x, np.random.default_rng(2)))
    assert net.layers[0].fixed_mask is mine and net.layers[3].fixed_mask is None


def test_sequential_kink_gaps_are_its_layers_gaps_side_by_side(rng):
    net = Sequential(Linear(3, 4, rng=0, dtype=F64), ReLU(), Maxout(4, 2, 3, rng=1, dtype=F64))
    x = dev(rng.standard_normal((5, 3)))
    h = host(x @ net.params["0.W"] + net.params["0.b"])
    gaps = net.kink_gaps(x)
    assert gaps.shape == (5, 4 + 2) and gaps.dtype == F64
    np.testing.assert_array_equal(gaps[:, :4], np.abs(h))
    np.testing.assert_array_equal(gaps[:, 4:], net.layers[2].kink_gaps(dev(np.maximum(h, 0))))
    assert not any(l._cache for l in net.layers)
    assert Sequential(Linear(3, 2, rng=0, dtype=F64), Tanh()).kink_gaps(x) is None


def test_a_buffer_added_to_a_sequential_is_refused_by_name():
    class Wrapped(Sequential):
        pass

    for net in (Sequential(Linear(2, 2, rng=0)), Wrapped(Linear(2, 2, rng=0))):
        with pytest.raises(TypeError, match=rf"{type(net).__name__}: .*register it on a layer"):
            net._add_buffer("mean", np.zeros(2))
        assert net.buffers == {}


def test_relu_backward_checks_the_gradient_dtype():
    relu = ReLU()
    relu.forward(dev(np.ones((2, 3), np.float32)))
    with pytest.raises(TypeError, match="ReLU.backward expects grad_out of dtype float32"):
        relu.backward(dev(np.ones((2, 3), np.float64)))
