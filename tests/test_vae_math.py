"""The autoencoders' and the VAE's hand-written pieces: the reconstruction losses, the closed-form
Gaussian KL, the reparameterisation pair and the denoising corruptions. Values against the direct
formulas, gradients against independent finite differences, the edge cases each docstring promises,
errors. Arrays live on the active backend (run with the CuPy stand-in too)."""
import numpy as np
import pytest

from minigan import backend, data, gradcheck, layers, losses
from minigan.data import corruption
from minigan.gradcheck import numeric_gradient

F64 = np.float64


def dev(a, dtype=F64):
    return backend.to_device(np.asarray(a, dtype=dtype))


def host(a):
    return np.asarray(backend.to_host(a), dtype=F64)


def rel_err(a, n):
    a, n = host(a), host(n)
    return float(np.abs(a - n).max() / max(np.abs(a).max() + np.abs(n).max(), 1e-300))


def softplus_ref(a):
    return np.log1p(np.exp(a))                  # the naive formula: safe for the moderate logits used here


def sigmoid_ref(a):
    return 1 / (1 + np.exp(-a))


# ----------------------------------------------------------------------------- reconstruction: values
def test_squared_error_is_summed_over_features_and_averaged_over_rows(rng):
    o, x = rng.normal(size=(5, 7)), rng.uniform(0, 1, (5, 7))
    value, grad = losses.squared_error(dev(o), dev(x))
    rows = ((o - x) ** 2).sum(axis=1)
    assert np.allclose(host(losses.squared_error_per_example(dev(o), dev(x))), rows, rtol=1e-14, atol=0)
    assert float(value) == pytest.approx(rows.mean(), rel=1e-14)
    assert np.allclose(host(grad), 2 * (o - x) / 5, rtol=1e-14, atol=0)


def test_bernoulli_cross_entropy_is_minus_log_bernoulli_likelihood(rng):
    a, x = rng.normal(0, 3, (6, 4)), rng.uniform(0, 1, (6, 4))
    x[0] = [0, 1, 0, 1]                          # binary and grey targets
    p = sigmoid_ref(a)
    rows = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(axis=1)
    assert np.allclose(rows, (softplus_ref(a) - x * a).sum(axis=1))          # the docstring's identity
    per = host(losses.bernoulli_cross_entropy_per_example(dev(a), dev(x)))
    assert per.shape == (6,) and np.allclose(per, rows, rtol=1e-12, atol=0)
    value, grad = losses.bernoulli_cross_entropy(dev(a), dev(x))
    assert float(value) == pytest.approx(rows.mean(), rel=1e-12)
    assert np.allclose(host(grad), (p - x) / 6, rtol=1e-12, atol=0)


def test_bernoulli_minimum_is_zero_for_binary_targets_and_the_binary_entropy_for_grey_ones():
    t = np.array([[0.0, 1.0, 0.3, 0.5]])
    at_minimum = np.log(np.array([[1e-300, 1.0, 0.3, 0.5]]) / np.array([[1.0, 1e-300, 0.7, 0.5]]))  # sigma(a) = t
    entropy = -(0.3 * np.log(0.3) + 0.7 * np.log(0.7)) + np.log(2)
    per = host(losses.bernoulli_cross_entropy_per_example(dev(at_minimum), dev(t)))
    assert per[0] == pytest.approx(entropy, rel=1e-12)
    _, grad = losses.bernoulli_cross_entropy(dev(at_minimum), dev(t))
    assert np.abs(host(grad)).max() < 1e-12                                  # a stationary point


def test_bernoulli_cross_entropy_is_finite_at_huge_logits():
    a = np.array([[1000.0, -1000.0, 1000.0, -1000.0, 30.0]])
    x = np.array([[1.0, 0.0, 0.0, 1.0, 0.25]])
    for dtype in (np.float64, np.float32):
        value, grad = losses.bernoulli_cross_entropy(dev(a, dtype), dev(x, dtype))
        per = host(losses.bernoulli_cross_entropy_per_example(dev(a, dtype), dev(x, dtype)))
        assert np.isfinite(float(value)) and np.isfinite(host(grad)).all()
        # right answers: 0 for the two confident right logits, 1000 for the two confident wrong ones
        assert per[0] == pytest.approx(2000 + 0.75 * 30 + np.log1p(np.exp(-30.0)), rel=1e-6)
        assert np.allclose(host(grad)[0, :4], [0, 0, 1, -1], atol=1e-7)
        assert value.dtype == dtype and grad.dtype == dtype


def test_bernoulli_cross_entropy_keeps_small_losses_of_confident_right_logits():
    """x s(-a) + (1 - x) s(a), not s(a) - x a: at a = 40, x = 1 the loss is log(1 + e^-40) = 4.2e-18,
    which the difference 40 + 4.2e-18 - 40 would round to 0."""
    per = host(losses.bernoulli_cross_entropy_per_example(dev([[40.0, -40.0]]), dev([[1.0, 0.0]])))
    assert per[0] == pytest.approx(2 * np.exp(-40.0), rel=1e-12, abs=0)


def test_losses_keep_the_dtype_and_return_new_arrays(rng):
    o, x = dev(rng.normal(size=(3, 4)), np.float32), dev(rng.uniform(0, 1, (3, 4)), np.float32)
    keep_o, keep_x = host(o).copy(), host(x).copy()
    for fn in (losses.squared_error, losses.bernoulli_cross_entropy):
        value, grad = fn(o, x)
        assert value.dtype == np.float32 and grad.dtype == np.float32 and grad.shape == (3, 4)
    for fn in (losses.squared_error_per_example, losses.bernoulli_cross_entropy_per_example):
        assert fn(o, x).dtype == np.float32 and fn(o, x).shape == (3,)
    assert np.array_equal(host(o), keep_o) and np.array_equal(host(x), keep_x)


# ----------------------------------------------------------------------------- gradients by finite differences
@pytest.mark.parametrize("name", ["squared_error", "bernoulli_cross_entropy"])
def test_reconstruction_gradients_match_finite_differences(name, rng):
    fn = getattr(losses, name)
    a, x = rng.normal(0, 2, (4, 6)), rng.uniform(0, 1, (4, 6))
    _, grad = fn(dev(a), dev(x))
    numeric = numeric_gradient(lambda: fn(dev(a), dev(x))[0], a)
    assert rel_err(grad, numeric) < 1e-7


def test_gaussian_kl_gradients_match_finite_differences(rng):
    mu, lv = rng.normal(size=(5, 3)), rng.normal(0, 1.5, (5, 3))
    _, g_mu, g_lv = losses.gaussian_kl(dev(mu), dev(lv))
    kl = lambda: losses.gaussian_kl(dev(mu), dev(lv))[0]       # noqa: E731
    assert rel_err(g_mu, numeric_gradient(kl, mu)) < 1e-7
    assert rel_err(g_lv, numeric_gradient(kl, lv)) < 1e-7


def test_reparameterise_gradients_match_finite_differences(rng):
    mu, lv, eps, R = (rng.normal(size=(4, 3)) for _ in range(4))
    z, cache = layers.reparameterise_forward(dev(mu), dev(lv), dev(eps))
    g_mu, g_lv = layers.reparameterise_backward(dev(R), cache)
    loss = lambda: (host(layers.reparameterise_forward(dev(mu), dev(lv), dev(eps))[0]) * R).sum()  # noqa: E731
    assert rel_err(g_mu, numeric_gradient(loss, mu)) < 1e-7
    assert rel_err(g_lv, numeric_gradient(loss, lv)) < 1e-7


def test_a_wrong_gradient_is_caught_by_the_same_comparison(rng):
    """The comparisons above can fail: the KL's logvar gradient without its 1/2 is off by a third."""
    mu, lv = rng.normal(size=(5, 3)), rng.normal(0, 1.5, (5, 3))
    _, _, g_lv = losses.gaussian_kl(dev(mu), dev(lv))
    numeric = numeric_gradient(lambda: losses.gaussian_kl(dev(mu), dev(lv))[0], lv)
    assert rel_err(2 * host(g_lv), numeric) > 0.3


def test_the_gradcheck_suite_checks_the_vae_pieces():
    results = gradcheck.suite._autoencoder_checks(0, dict(eps=gradcheck.DEFAULT_EPS, tol=gradcheck.DEFAULT_TOL,
                                                          seed=0))
    titles = [r.title for r in results]
    for piece in ("squared_error", "bernoulli_cross_entropy", "gaussian_kl", "reparameterise"):
        assert any(t.startswith(piece) for t in titles), titles
    assert all(r.passed for r in results), gradcheck.format_results(results)
    rows = {(r.title.split("(")[0].split(":")[0], row.name) for r in results for row in r.rows}
    assert {("gaussian_kl", "mu"), ("gaussian_kl", "logvar"), ("reparameterise", "mu"),
            ("reparameterise", "logvar")} <= rows


# ----------------------------------------------------------------------------- Gaussian KL
def test_gaussian_kl_is_the_closed_form(rng):
    mu, lv = rng.normal(size=(6, 4)), rng.normal(0, 2, (6, 4))
    rows = -0.5 * (1 + lv - mu ** 2 - np.exp(lv)).sum(axis=1)
    per = host(losses.gaussian_kl_per_example(dev(mu), dev(lv)))
    assert per.shape == (6,) and np.allclose(per, rows, rtol=1e-12, atol=0)
    value, g_mu, g_lv = losses.gaussian_kl(dev(mu), dev(lv))
    assert float(value) == pytest.approx(rows.mean(), rel=1e-12)
    assert np.allclose(host(g_mu), mu / 6, rtol=1e-14, atol=0)
    assert np.allclose(host(g_lv), (np.exp(lv) - 1) / 12, rtol=1e-12, atol=0)


def test_gaussian_kl_against_a_monte_carlo_estimate():
    """E_q[log q(z) - log p(z)] by sampling, for one row: the closed form is that expectation."""
    sampler = np.random.default_rng(5)
    mu, lv = np.array([[0.7, -1.2]]), np.array([[-0.5, 0.8]])
    s = np.exp(lv / 2)
    z = mu + s * sampler.standard_normal((400_000, 2))
    log_q = (-0.5 * ((z - mu) / s) ** 2 - np.log(s)).sum(axis=1)
    log_p = (-0.5 * z ** 2).sum(axis=1)
    estimate = (log_q - log_p).mean()
    assert float(losses.gaussian_kl(dev(mu), dev(lv))[0]) == pytest.approx(estimate, abs=0.01)


def test_gaussian_kl_is_zero_exactly_at_the_prior_and_positive_elsewhere(rng):
    zeros = dev(np.zeros((3, 5)))
    value, g_mu, g_lv = losses.gaussian_kl(zeros, zeros)
    assert float(value) == 0.0 and not host(g_mu).any() and not host(g_lv).any()
    assert not host(losses.gaussian_kl_per_example(zeros, zeros)).any()
    mu, lv = rng.normal(size=(200, 4)), rng.normal(0, 3, (200, 4))
    mu[:50], lv[50:100] = 0.0, 0.0                                   # one of the two at the prior
    mu[100:110], lv[100:110] = 0.0, rng.normal(0, 1e-7, (10, 4))     # near the prior: KL = sum v^2/4 + O(v^3)
    per = host(losses.gaussian_kl_per_example(dev(mu), dev(lv)))
    assert (per > 0).all()
    # 1 + v - e^v in floating point would lose all but two digits of v^2/2 ~ 5e-15 here
    assert np.allclose(per[100:110], (lv[100:110] ** 2 / 4).sum(axis=1), rtol=1e-6, atol=0)


# ----------------------------------------------------------------------------- reparameterisation
def test_reparameterise_forward_is_mu_plus_sigma_eps(rng):
    mu, lv, eps = rng.normal(size=(5, 2)), rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    z, (cached_eps, sigma) = layers.reparameterise_forward(dev(mu), dev(lv), dev(eps))
    assert np.allclose(host(z), mu + np.exp(lv / 2) * eps, rtol=1e-14, atol=0)
    assert np.allclose(host(sigma), np.exp(lv / 2)) and np.array_equal(host(cached_eps), eps)
    R = rng.normal(size=(5, 2))
    g_mu, g_lv = layers.reparameterise_backward(dev(R), (cached_eps, sigma))
    assert np.array_equal(host(g_mu), R)
    assert np.allclose(host(g_lv), R * eps * np.exp(lv / 2) / 2, rtol=1e-14, atol=0)


def test_reparameterise_with_eps_zero_gives_mu_and_no_logvar_gradient(rng):
    mu, lv = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    z, cache = layers.reparameterise_forward(dev(mu), dev(lv), dev(np.zeros((4, 3))))
    assert np.array_equal(host(z), mu)
    g_mu, g_lv = layers.reparameterise_backward(dev(np.ones((4, 3))), cache)
    assert np.array_equal(host(g_mu), np.ones((4, 3))) and not host(g_lv).any()


def test_reparameterised_samples_have_the_distribution_of_q():
    r = backend.default_rng(3)
    mu, lv = dev(np.full((100_000, 1), 2.0)), dev(np.full((100_000, 1), np.log(0.25)))
    z, _ = layers.reparameterise_forward(mu, lv, r.standard_normal((100_000, 1)))
    z = host(z)
    assert z.mean() == pytest.approx(2.0, abs=0.01) and z.std() == pytest.approx(0.5, abs=0.01)


def test_reparameterise_backward_returns_a_new_grad_mu(rng):
    before = rng.normal(size=(2, 2))
    R = dev(before)
    _, cache = layers.reparameterise_forward(dev(np.zeros((2, 2))), dev(np.zeros((2, 2))), dev(np.ones((2, 2))))
    g_mu, _ = layers.reparameterise_backward(R, cache)
    g_mu += 1.0                                      # adding the KL's gradient in place
    assert np.array_equal(host(R), before) and np.array_equal(host(g_mu), before + 1.0)


def test_reparameterise_float32_stays_float32(rng):
    a = [dev(rng.normal(size=(3, 2)), np.float32) for _ in range(3)]
    z, cache = layers.reparameterise_forward(*a)
    g_mu, g_lv = layers.reparameterise_backward(dev(np.ones((3, 2)), np.float32), cache)
    assert z.dtype == g_mu.dtype == g_lv.dtype == np.float32


# ----------------------------------------------------------------------------- corruptions
def test_masking_noise_zeroes_about_fraction_of_the_entries_and_keeps_the_rest():
    x = dev(np.random.default_rng(0).uniform(0.1, 1.0, (400, 500)))
    keep = host(x).copy()
    for fraction in (0.0, 0.25, 0.7):
        out = data.masking_noise(x, fraction, backend.default_rng(1))
        zeroed = host(out) == 0
        assert abs(zeroed.mean() - fraction) < 0.005                 # 200 000 entries: std about 0.001
        assert np.array_equal(host(out)[~zeroed], keep[~zeroed])      # kept entries unchanged, not rescaled
        assert out.shape == x.shape and out.dtype == x.dtype
    assert np.array_equal(host(x), keep)                              # the input untouched


def test_gaussian_noise_adds_noise_of_std_sigma_unclipped():
    x = dev(np.random.default_rng(0).uniform(0, 1, (400, 500)))
    keep = host(x).copy()
    out = corruption.gaussian_noise(x, 0.3, backend.default_rng(2))
    noise = host(out) - keep
    assert abs(noise.mean()) < 0.003 and noise.std() == pytest.approx(0.3, rel=0.01)
    assert host(out).min() < 0 and host(out).max() > 1                # not clipped to [0, 1]
    assert np.array_equal(host(x), keep) and out.dtype == x.dtype
    assert np.array_equal(host(corruption.gaussian_noise(x, 0.0, backend.default_rng(2))), keep)


@pytest.mark.parametrize("name", ["gaussian", "masking"])
def test_corruptions_keep_float32_and_repeat_with_the_seed(name):
    fn = data.CORRUPTIONS[name]
    x = dev(np.random.default_rng(0).uniform(0, 1, (20, 30)), np.float32)
    a, b = fn(x, 0.5, backend.default_rng(7)), fn(x, 0.5, backend.default_rng(7))
    assert a.dtype == np.float32 and np.array_equal(host(a), host(b))
    assert not np.array_equal(host(a), host(fn(x, 0.5, backend.default_rng(8))))
    assert a is not x


def test_corruptions_table():
    assert data.CORRUPTIONS == {"gaussian": corruption.gaussian_noise, "masking": data.masking_noise}
    assert data.gaussian_noise is not corruption.gaussian_noise       # the toy noise prior keeps its name


# ----------------------------------------------------------------------------- errors
def test_errors_name_the_function(rng):
    x = dev(rng.uniform(0, 1, (3, 4)))
    r = backend.default_rng(0)
    cases = [
        (TypeError, "bernoulli_cross_entropy expects a floating-point",
         lambda: losses.bernoulli_cross_entropy(backend.to_device(np.ones((3, 4), dtype=np.int64)), x)),
        (ValueError, "bernoulli_cross_entropy: target of shape \\(4, 3\\)",
         lambda: losses.bernoulli_cross_entropy(x, dev(np.zeros((4, 3))))),
        (ValueError, "bernoulli_cross_entropy: every target must be in \\[0, 1\\]",
         lambda: losses.bernoulli_cross_entropy(x, x + 0.5)),
        (ValueError, "bernoulli_cross_entropy_per_example: every target must be in \\[0, 1\\]",
         lambda: losses.bernoulli_cross_entropy_per_example(x, x * np.nan)),
        (ValueError, "squared_error expects an output of shape \\(N, D\\)",
         lambda: losses.squared_error(dev(np.zeros(4)), dev(np.zeros(4)))),
        (ValueError, "squared_error_per_example: target of shape",
         lambda: losses.squared_error_per_example(x, dev(np.zeros((3, 5))))),
        (TypeError, "squared_error expects a floating-point",
         lambda: losses.squared_error([[1.0]], x)),
        (TypeError, "gaussian_kl expects logvar as a floating-point",
         lambda: losses.gaussian_kl(x, backend.to_device(np.ones((3, 4), dtype=np.int32)))),
        (ValueError, "gaussian_kl: logvar",
         lambda: losses.gaussian_kl(x, dev(np.zeros((3, 2))))),
        (ValueError, "gaussian_kl_per_example expects mu of shape \\(N, J\\)",
         lambda: losses.gaussian_kl_per_example(dev(np.zeros(3)), dev(np.zeros(3)))),
        (ValueError, "reparameterise_forward: eps",
         lambda: layers.reparameterise_forward(x, x, dev(np.zeros((3, 4)), np.float32))),
        (TypeError, "reparameterise_forward expects mu as a floating-point",
         lambda: layers.reparameterise_forward(None, x, x)),
        (ValueError, "reparameterise_backward expects grad_z of shape \\(3, 4\\)",
         lambda: layers.reparameterise_backward(dev(np.zeros((4, 3))), layers.reparameterise_forward(x, x, x)[1])),
        (ValueError, "gaussian_noise: sigma must be >= 0", lambda: corruption.gaussian_noise(x, -0.1, r)),
        (ValueError, "gaussian_noise: sigma must be >= 0", lambda: corruption.gaussian_noise(x, float("nan"), r)),
        (ValueError, "masking_noise: fraction must be in \\[0, 1\\)", lambda: data.masking_noise(x, 1.0, r)),
        (ValueError, "masking_noise: fraction must be in \\[0, 1\\)", lambda: data.masking_noise(x, -0.1, r)),
        (TypeError, "masking_noise expects a random Generator", lambda: data.masking_noise(x, 0.5, 3)),
        (TypeError, "gaussian_noise expects a floating-point", lambda: corruption.gaussian_noise([1.0], 0.1, r)),
    ]
    for exc, message, call in cases:
        with pytest.raises(exc, match=message):
            call()
