"""Minibatch discrimination (Salimans et al. 2016, section 3.2): the forward against a loop
over i, j, b; the hand-written backward against float64 central differences on whole
batches; kinks of the L1 distance; two forwards before two backwards; inside a D that trains."""
import copy

import numpy as np
import pytest

from minigan import backend, checkpoint, data, fast, models, optim
from minigan.gradcheck import check_function, check_generator_step, check_layer, check_two_forwards
from minigan.layers import Dropout, Linear, Maxout, MinibatchDiscrimination, ReLU, Sequential, no_grad
from minigan.layers import minibatch_discrimination as mbd_module
from minigan.fast.minibatch_discrimination import similarities_backward_fast, similarities_fast
from minigan.train import GAN


dev, host = backend.to_device, backend.to_host      # inputs onto the active backend, results back for asserts


def mbd(n_in=5, kernels=3, kernel_dim=2, init_std=0.5, rng=0, dtype=np.float64):
    return MinibatchDiscrimination(n_in, kernels, kernel_dim, init_std=init_std, rng=rng, dtype=dtype)


def loop_forward(x, T, bias):
    """The paper's formula as loops: M_i = x_i T (B x C); o_ib = sum_{j != i}
    exp(-sum_c |M_ibc - M_jbc|) + bias_b; y_i = concat(x_i, o_i). T: (A, B, C)."""
    n, (_, B, C) = len(x), T.shape
    M = np.zeros((n, B, C))
    for i in range(n):
        for b in range(B):
            for c in range(C):
                M[i, b, c] = sum(x[i, a] * T[a, b, c] for a in range(x.shape[1]))
    o = np.zeros((n, B))
    for i in range(n):
        for b in range(B):
            o[i, b] = bias[b]
            for j in range(n):
                if j != i:
                    o[i, b] += np.exp(-sum(abs(M[i, b, c] - M[j, b, c]) for c in range(C)))
    return np.concatenate([x, o], axis=1)


def wrong_backward_rows_independent(M, c, g):
    """dL/dM without the g_jb term: as if o_j did not depend on M_i (rows independent)."""
    w = g[:, None, :] * c
    return -(w[..., None] * np.sign(M[:, None] - M[None, :])).sum(axis=1)


@pytest.fixture(params=[True, False], ids=["fast", "textbook"])
def fast_mode(request):
    with fast.enabled(request.param):
        yield request.param


# ----------------------------------------------------------------------------- forward
@pytest.mark.parametrize("n, A, B, C", [(6, 5, 3, 2), (4, 3, 1, 1), (2, 4, 2, 3), (1, 3, 2, 2), (7, 2, 4, 5)])
def test_forward_matches_a_loop_over_i_j_b(rng, fast_mode, n, A, B, C):
    layer = mbd(A, B, C, init_std=0.7, rng=1)
    layer.params["bias"][...] = dev(rng.standard_normal(B))
    x = rng.standard_normal((n, A))
    T = host(layer.params["T"]).reshape(A, B, C)    # column b * C + c holds T[:, b, c]
    want = loop_forward(x, T, host(layer.params["bias"]))
    y = host(layer.forward(dev(x)))
    assert y.shape == (n, A + B) and y.dtype == np.float64
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    assert np.array_equal(y[:, :A], x)                # the features pass through unchanged


def test_a_batch_of_one_row_gives_the_bias(rng):
    layer = mbd(4, 3, 2, rng=2)
    x = rng.standard_normal((1, 4))
    y = host(layer.forward(dev(x)))
    assert np.array_equal(y[0, 4:], np.full(3, -1.0))    # no other rows: o = bias, which starts at -1
    g = rng.standard_normal((1, 7))
    dx = host(layer.backward(dev(g)))
    assert np.array_equal(dx, g[:, :4])                  # only the pass-through: dL/dM = 0
    assert np.array_equal(host(layer.grads["bias"]), g[0, 4:])
    assert np.array_equal(host(layer.grads["T"]), np.zeros((4, 6)))


def test_two_equal_rows_are_most_similar_and_far_rows_are_not(rng):
    layer = mbd(3, 2, 2, rng=3)
    layer.params["bias"][...] = 0
    x = rng.standard_normal((3, 3))
    x[1] = x[0]
    x[2] = 1e3                                           # far from both
    o = host(layer.forward(dev(x)))[:, 3:]
    np.testing.assert_allclose(o[0], 1.0, rtol=1e-12)   # c_b(0, 1) = exp(0) = 1, c_b(0, 2) ~ 0
    np.testing.assert_allclose(o[2], 0.0, atol=1e-12)


def test_init_and_state_dict(rng):
    layer = MinibatchDiscrimination(200, 100, 5, rng=0)
    T = layer.params["T"]
    assert T.shape == (200, 500) and T.dtype == backend.DEFAULT_DTYPE
    assert abs(float(T.std()) - 0.05) < 0.001 and abs(float(T.mean())) < 0.001     # N(0, 0.05)
    assert np.array_equal(host(layer.params["bias"]), np.full(100, -1.0))            # the released code's -1
    assert np.array_equal(host(MinibatchDiscrimination(200, 100, 5, rng=0).params["T"]), host(T))  # one seed, one T
    assert abs(float(MinibatchDiscrimination(50, 20, 5, init_std=0.5, rng=1).params["T"].std()) - 0.5) < 0.02
    assert layer.couples_rows and set(layer.params) == {"T", "bias"} == set(layer.grads)
    other = MinibatchDiscrimination(200, 100, 5, rng=1)
    x = dev(rng.standard_normal((8, 200)).astype(np.float32))
    assert not np.array_equal(host(other.forward(x)), host(layer.forward(x)))
    other.load_state_dict(layer.state_dict())
    assert np.array_equal(host(other.forward(x)), host(layer.forward(x)))
    assert repr(layer) == "MinibatchDiscrimination(200, kernels=100, kernel_dim=5)"


def test_bad_arguments_and_inputs_are_refused(rng):
    with pytest.raises(ValueError, match="MinibatchDiscrimination needs n_in, kernels, kernel_dim >= 1"):
        MinibatchDiscrimination(5, 0, 2)
    with pytest.raises(ValueError, match="MinibatchDiscrimination init_std must be > 0"):
        MinibatchDiscrimination(5, 3, 2, init_std=0)
    layer = mbd()
    with pytest.raises(ValueError, match=r"MinibatchDiscrimination.forward expects shape \(batch, 5\)"):
        layer.forward(dev(rng.standard_normal((4, 6))))
    layer.forward(dev(rng.standard_normal((4, 5))))
    with pytest.raises(ValueError, match=r"MinibatchDiscrimination.backward expects grad_out of shape "
                                         r"\(4, 8\)"):
        layer.backward(dev(np.ones(8)))


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("n, A, B, C, std", [(5, 5, 3, 2, 0.5), (7, 4, 2, 4, 0.3), (3, 6, 5, 1, 1.0),
                                             (6, 5, 4, 3, 0.05)])
def test_gradients_on_whole_batches(fast_mode, seed, n, A, B, C, std):
    rng = np.random.default_rng(seed)
    layer = MinibatchDiscrimination(A, B, C, init_std=std, rng=rng)
    layer.params["bias"][...] = dev(rng.standard_normal(B))
    res = check_layer(layer, dev(rng.standard_normal((n, A))), seed=seed)
    assert res.passed, res.table()
    assert [r.name for r in res.rows] == ["x", "T", "bias"]
    assert res.rows[0].shape == (n, A)                     # the whole batch, every entry perturbed
    assert any(f"rows are coupled (MinibatchDiscrimination): checked on the whole batch of {n} rows" in note
               for note in res.notes), res.table()


def test_a_backward_that_treats_rows_as_independent_fails(rng, monkeypatch):
    layer = mbd(5, 3, 2, rng=4)
    x = dev(rng.standard_normal((6, 5)))
    assert check_layer(layer, x).passed
    monkeypatch.setattr(mbd_module, "similarities_backward", wrong_backward_rows_independent)
    res = check_layer(layer, x)
    assert not res.passed, res.table()
    x_row, T_row, bias_row = res.rows
    assert x_row.rel_error > 0.1 and T_row.rel_error > 0.1 and bias_row.passed, res.table()


def test_the_g_jb_term_is_half_of_the_gradient_when_g_is_equal_for_every_row(rng):
    """With g_ib = g_jb the two terms are equal: the row-independent backward gives half."""
    layer = mbd(4, 2, 3, rng=5)
    x = rng.standard_normal((5, 4))
    layer.forward(dev(x))
    x_, M, c = layer._cache[-1]
    g = np.tile(rng.standard_normal(2), (5, 1))
    right = host(mbd_module.similarities_backward(M, c, dev(g)))
    np.testing.assert_allclose(wrong_backward_rows_independent(host(M), host(c), g), right / 2,
                               rtol=1e-13, atol=1e-15)
    layer.clear_cache()


def test_backward_without_input_grad_and_frozen(rng):
    a, b = mbd(rng=6), mbd(rng=6)
    x, g = dev(rng.standard_normal((5, 5))), dev(rng.standard_normal((5, 8)))
    a.forward(x), b.forward(x)
    dx = host(a.backward(g))
    assert b.backward(g, input_grad=False) is None
    for k in a.grads:
        assert np.array_equal(host(a.grads[k]), host(b.grads[k]))
    b.zero_grad()
    b.requires_grad = False
    b.forward(x)
    assert np.array_equal(host(b.backward(g)), dx)
    assert all(not v.any() for v in b.grads.values())


# ----------------------------------------------------------------------------- kinks of |.|
def test_kink_gaps_are_each_rows_smallest_distance_to_another_row(rng):
    layer = mbd(4, 3, 2, rng=7)
    x = rng.standard_normal((6, 4))
    M = (x @ host(layer.params["T"])).reshape(6, 3, 2)
    want = [min(abs(M[i, b, c] - M[j, b, c]) for j in range(6) if j != i for b in range(3) for c in range(2))
            for i in range(6)]
    gaps = layer.kink_gaps(dev(x))
    assert gaps.shape == (6, 1) and gaps.dtype == np.float64
    np.testing.assert_allclose(gaps[:, 0], want, rtol=1e-12)
    x[4] = x[1]
    gaps = layer.kink_gaps(dev(x))
    assert gaps[1, 0] == 0 and gaps[4, 0] == 0 and (np.delete(gaps[:, 0], [1, 4]) > 0).all()
    assert layer.kink_gaps(dev(x[:1])).shape == (1, 0)       # one row: no other row, no kink


def _equal_M_entry(layer, x, i, j, b, c, gap=0.0):
    """x (on the host) with row j moved so that M_jbc = M_ibc + gap while the rows differ:
    row i plus a random direction orthogonal to column (b, c) of T."""
    T = host(layer.params["T"])
    col = T[:, b * layer.kernel_dim + c]
    v = np.random.default_rng(99).standard_normal(x.shape[1])
    v -= (v @ col) / (col @ col) * col
    x = x.copy()
    x[j] = x[i] + v + gap * col / (col @ col)
    return x


@pytest.mark.parametrize("where", ["two equal rows", "two equal M entries"])
def test_a_batch_at_the_kink_is_redrawn_as_a_whole(rng, where):
    layer = mbd(5, 3, 2, rng=8)
    x = rng.standard_normal((5, 5))
    # rows 1 and 3 within 1e-8 of the kink, so close that every central difference straddles it
    if where == "two equal rows":
        near = x.copy()
        near[3] = near[1] + 1e-9
    else:                                   # only M_{1,2,1} and M_{3,2,1} (nearly) equal: the rows differ
        near = _equal_M_entry(layer, x, 1, 3, 2, 1, gap=1e-9)
        assert np.abs(near[3] - near[1]).max() > 0.1
    assert 0 < layer.kink_gaps(near)[1, 0] < 1e-8 and layer.kink_gaps(near)[3, 0] < 1e-8
    assert not check_function(*_forward_backward(near_copy := copy.deepcopy(layer)), dev(near),
                              near_copy.params, near_copy.grads).passed     # why kinks matter
    res = check_layer(layer, dev(near))
    assert res.passed, res.table()
    assert res.kinks_moved == 5 and res.kinks_skipped == 0       # every row re-drawn, not only rows 1 and 3
    assert any("the whole batch was re-drawn 1 time(s) to move it away from kinks, never single rows" in n
               for n in res.notes), res.table()
    exact = _equal_M_entry(layer, x, 1, 3, 2, 1) if where != "two equal rows" else x.copy()
    if where == "two equal rows":
        exact[3] = exact[1]
    assert layer.kink_gaps(exact)[3, 0] < 1e-12          # 0 up to rounding
    res = check_layer(layer, dev(exact))
    assert res.passed and res.kinks_moved == 5, res.table()
    res = check_layer(layer, dev(exact), max_redraws=0)               # no re-draw allowed: no row is dropped
    assert not res.passed and res.kinks_skipped == 5 and not res.rows
    assert "no single row can be dropped" in res.table()


def _forward_backward(layer):
    layer.astype(np.float64)
    return layer.forward, layer.backward


# ----------------------------------------------------------------------------- the stack protocol
def test_two_forwards_then_two_backwards_equal_one_at_a_time(rng, fast_mode):
    layer = mbd(5, 3, 2, rng=9)
    one, two = copy.deepcopy(layer), copy.deepcopy(layer)
    x_real, x_fake = rng.standard_normal((6, 5)), rng.standard_normal((3, 5))   # batches of different sizes
    g_real, g_fake = dev(rng.standard_normal((6, 8))), dev(rng.standard_normal((3, 8)))
    layer.zero_grad()
    y_real, y_fake = host(layer.forward(dev(x_real))), host(layer.forward(dev(x_fake)))
    dx_fake = host(layer.backward(g_fake))               # last in, first out
    dx_real = host(layer.backward(g_real))
    assert not layer._cache
    one.zero_grad()
    assert np.array_equal(host(one.forward(dev(x_real))), y_real)
    assert np.array_equal(host(one.backward(g_real)), dx_real)
    two.zero_grad()
    assert np.array_equal(host(two.forward(dev(x_fake))), y_fake)
    assert np.array_equal(host(two.backward(g_fake)), dx_fake)
    for k in layer.grads:
        np.testing.assert_allclose(host(layer.grads[k]), host(one.grads[k] + two.grads[k]), rtol=1e-14, atol=1e-15)
    # the fake batch alone is not the real batch's result: rows of another batch change o
    assert not np.allclose(host(layer.forward(dev(np.concatenate([x_real, x_fake]))))[:6], y_real)


def test_no_grad_keeps_no_cache_and_eval_is_the_same_function(rng):
    layer = mbd()
    x = dev(rng.standard_normal((4, 5)))
    with no_grad():
        y = host(layer.forward(x))
    assert not layer._cache
    layer.eval()
    assert np.array_equal(host(layer.forward(x)), y)


# ----------------------------------------------------------------------------- the fast twins
def _M_cases(rng, dtype):
    yield rng.standard_normal((7, 3, 2)).astype(dtype)
    yield rng.integers(-1, 2, (6, 4, 3)).astype(dtype)          # many exact ties: sign(0) = 0
    yield rng.standard_normal((1, 2, 5)).astype(dtype)          # one row
    yield rng.standard_normal((30, 10, 1)).astype(dtype)        # C = 1
    yield (rng.standard_normal((40, 12, 5)) * 5).astype(dtype)  # c underflows to 0 in places


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fast_twins_equal_the_textbook(rng, dtype):
    for M in map(dev, _M_cases(rng, dtype)):
        c = mbd_module.similarities.textbook(M)
        c_fast = similarities_fast(M)
        assert c_fast.dtype == dtype and np.array_equal(host(c_fast), host(c)), M.shape
        g = dev(rng.standard_normal((M.shape[1], len(M))).astype(dtype)).T     # a non-contiguous dL/do
        grad = host(mbd_module.similarities_backward.textbook(M, c, g))
        grad_fast = similarities_backward_fast(M, c, g)
        assert grad_fast.dtype == dtype and grad_fast.shape == M.shape
        grad_fast = host(grad_fast)
        tol = 10 * np.finfo(dtype).eps * len(M) * max(np.abs(grad).max(), 1)     # the sum over j, reordered
        assert np.abs(grad_fast - grad).max() <= tol, M.shape
    x = dev(rng.standard_normal((9, 5)).astype(dtype))
    ones = dev(np.ones((9, 8), dtype))
    with fast.enabled(True):
        layer = mbd(dtype=dtype)
        y, dx = host(layer.forward(x)), host(layer.backward(ones))
    with fast.enabled(False):
        other = mbd(dtype=dtype)
        assert np.array_equal(host(other.forward(x)), y)            # the forward: bit for bit
        np.testing.assert_allclose(host(other.backward(ones)), dx, rtol=1e-5, atol=1e-6)
    for k in layer.grads:
        np.testing.assert_allclose(host(layer.grads[k]), host(other.grads[k]), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- inside a D
def paper_like_D(rng, n_in=6, dtype=np.float64):
    """dropout -> maxout -> minibatch discrimination -> linear."""
    return Sequential(Dropout(0.8, scale=1.25, rng=1), Maxout(n_in, 4, 3, irange=0.5, rng=rng, dtype=dtype),
                      MinibatchDiscrimination(4, 3, 2, init_std=0.5, rng=rng, dtype=dtype),
                      Linear(7, 1, irange=0.5, rng=rng, dtype=dtype))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paper_like_D_used_twice_before_its_backwards(seed):
    rng = np.random.default_rng(seed)
    D = paper_like_D(rng)
    assert D.couples_rows
    x_real, x_fake = dev(rng.uniform(0, 1, (5, 6))), dev(rng.uniform(0, 1, (3, 6)))
    res = check_two_forwards(D, x_real, x_fake, seed=seed)
    assert res.passed, res.table()
    assert any("x_real: rows are coupled (MinibatchDiscrimination)" in n for n in res.notes), res.table()
    res = check_generator_step(Sequential(Linear(3, 6, rng=seed), ReLU()), D, dev(rng.uniform(-1, 1, (4, 3))),
                               seed=seed)
    assert res.passed, res.table()


def test_paper_like_D_with_a_row_independent_backward_fails(monkeypatch):
    rng = np.random.default_rng(0)
    D = paper_like_D(rng)
    x_real, x_fake = dev(rng.uniform(0, 1, (5, 6))), dev(rng.uniform(0, 1, (3, 6)))
    monkeypatch.setattr(mbd_module, "similarities_backward", wrong_backward_rows_independent)
    assert not check_two_forwards(D, x_real, x_fake).passed


def ring8_gan(seed=0, m=32):
    G = models.mlp([2, 32, 32, 2], rng=seed)
    r = np.random.default_rng(seed + 1000)
    D = Sequential(Linear(2, 32, rng=r), ReLU(), MinibatchDiscrimination(32, 8, 3, rng=r),
                   Linear(40, 1, rng=r))
    return GAN(G, D, data.ring8(), data.gaussian_noise(2), d_optimizer=optim.Adam(D, 1e-3, 0.5),
               g_optimizer=optim.Adam(G, 1e-3, 0.5), m=m, seed=seed)


def test_a_gan_with_minibatch_discrimination_in_D_trains_on_ring8_deterministically():
    a, b = ring8_gan(), ring8_gan()
    t0 = {k: host(v).copy() for k, v in a.D.params.items()}
    a.train(15)
    b.train(15)
    assert a.iteration == 15 and a.history == b.history
    for net in ("G", "D"):
        for k, p in getattr(a, net).params.items():
            assert np.array_equal(host(p), host(getattr(b, net).params[k])), (net, k)
    assert not np.array_equal(host(a.D.params["2.T"]), t0["2.T"])        # T moved
    assert not np.array_equal(host(a.D.params["2.bias"]), t0["2.bias"])
    assert len(a.history) == 15 and np.isfinite(a.history.table()).all()


def test_a_gan_with_minibatch_discrimination_in_D_continues_exactly_from_its_state(tmp_path, restore_backend):
    """The trainer's state round-trips, and a checkpoint: a copy continues exactly. On NumPy
    whatever the run's backend: continuing exactly needs the generators' states, which CuPy's
    generators do not expose (a CuPy copy re-seeds them)."""
    restore_backend.use("numpy")
    a = ring8_gan()
    a.train(15)
    c = ring8_gan(seed=5)
    c.load_state_dict(a.state_dict())
    path = checkpoint.save(tmp_path / "mbd.npz", a)
    d = ring8_gan(seed=7)
    checkpoint.load(path, d)
    for other in (c, d):
        assert np.array_equal(other.D.params["2.T"], a.D.params["2.T"])
    a.train(3), c.train(3), d.train(3)
    for k, p in a.D.params.items():
        assert np.array_equal(p, c.D.params[k]) and np.array_equal(p, d.D.params[k]), k


# ----------------------------------------------------------------------------- float32
def test_float32_forward_is_close_to_float64(rng, fast_mode):
    """At N = 100, B = 20, C = 5 (A = 30, T ~ N(0, 0.05), x ~ N(0, s^2) for s = 0.1, 1, 10,
    rounded to float32 so that both see the same x): o in float32 within 1e-6 max(|o|, 1) of
    float64 (measured: 4.8e-5 at max |o| = 89, 1.3e-5 at 38, 3e-7 at 1: about 5e-7 relative,
    a few float32 rounding units of the sum over 99 rows), dL/dx within 1e-5 max |dL/dx|
    (measured 3.3e-7 at most)."""
    l64 = MinibatchDiscrimination(30, 20, 5, rng=10, dtype=np.float64)
    l32 = copy.deepcopy(l64).astype(np.float32)
    for scale in (0.1, 1.0, 10.0):
        x32 = (rng.standard_normal((100, 30)) * scale).astype(np.float32)
        y64, y32 = host(l64.forward(dev(x32.astype(np.float64)))), host(l32.forward(dev(x32)))
        assert y32.dtype == np.float32
        o64, o32 = y64[:, 30:], y32[:, 30:].astype(np.float64)
        assert np.abs(o32 - o64).max() < 1e-6 * max(np.abs(o64).max(), 1.0)
        g = rng.standard_normal(y64.shape)
        d64, d32 = host(l64.backward(dev(g))), host(l32.backward(dev(g.astype(np.float32))))
        assert d32.dtype == np.float32
        assert np.abs(d32 - d64).max() < 1e-5 * np.abs(d64).max()


# ----------------------------------------------------------------------------- the data-dependent init
def test_init_from_data_sets_the_nearest_neighbour_distance_and_centres_o():
    layer = MinibatchDiscrimination(12, 4, 3, rng=0, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((30, 12))
    T0 = host(layer.params["T"]).copy()
    s, bias = layer.init_from_data(dev(x))
    s = host(s)
    M = (x @ host(layer.params["T"])).reshape(30, 4, 3)
    d = np.abs(M[:, None] - M[None]).sum(axis=3)
    d[np.arange(30), np.arange(30)] = np.inf
    np.testing.assert_allclose(d.min(axis=1).mean(axis=0), 2.0, rtol=1e-12)     # every kernel's mean NN distance
    # each kernel's columns divided by its s_b (so M's distances by s_b), the others untouched
    np.testing.assert_allclose(host(layer.params["T"]).reshape(12, 4, 3), T0.reshape(12, 4, 3) / s[None, :, None])
    o = host(layer.forward(dev(x)))[:, 12:]
    np.testing.assert_allclose(o.mean(axis=0), 0.0, atol=1e-12)                   # o centred on this batch
    assert np.array_equal(host(bias), host(layer.params["bias"])) and not layer._cache[:-1]
    with pytest.raises(ValueError, match="at least 2 rows"):
        layer.init_from_data(dev(x[:1]))
    with pytest.raises(ValueError, match="distinct rows"):
        MinibatchDiscrimination(12, 4, 3, rng=0, dtype=np.float64).init_from_data(dev(np.repeat(x[:1], 5, axis=0)))


def test_mnist_paper_initialises_it_from_training_images_and_the_toys_do_not(tmp_path):
    from minigan import data, presets
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    data.write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (60, 28, 28), dtype=np.uint8))
    data.write_idx(folder / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 60, dtype=np.uint8))
    run = presets.build("mnist-paper", data_dir=str(tmp_path / "data"), m=20, minibatch_discrimination="4x3")
    mbd = run.trainer.D.layers[-2]
    assert isinstance(mbd, MinibatchDiscrimination)
    assert not np.any(backend.to_host(mbd.params["bias"]) == -1.0)        # set by init_from_data
    again = presets.build("mnist-paper", data_dir=str(tmp_path / "data"), m=20, minibatch_discrimination="4x3")
    assert np.array_equal(backend.to_host(again.trainer.D.layers[-2].params["T"]), backend.to_host(mbd.params["T"]))
    run.trainer.train(3)
    assert np.isfinite(run.trainer.history.column("d_loss")).all()
    toy = presets.build("ring8", m=32, minibatch_discrimination="5x3").trainer.D.layers[-2]
    assert np.all(backend.to_host(toy.params["bias"]) == -1.0)                # T ~ N(0, 0.05), bias -1
