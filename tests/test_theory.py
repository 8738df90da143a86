"""Section 4 of the paper, checked in formulas AND in our trainer.

Proposition 1 and Theorem 1 are shown happening in minigan's own code: the
discriminator is trained by ``GAN.d_step`` (the inner loop of Algorithm 1)
against a generator whose density we know exactly, and the full
``GAN.train`` is run to watch JSD(p_data || p_g) fall.

Tolerances, and what was measured when they were chosen (numpy backend;
seeds 1-4 of each D-only setup, one seed tested):

* Proposition 1 (p_g = N(0, 1) from a fixed linear G, p_data = N(1, 0.5^2);
  D* has a quadratic logit, so D must learn a bump, not a ramp). On the region
  where (p_data + p_g)/2 >= 5% of its maximum (x in [-2.0, 2.3]):
  max |D - D*| <= 0.03 (measured 0.009-0.015); the mixture-weighted mean
  E_M |D - D*| <= 0.0075 (measured 0.0024-0.0043); C(G) - 1.5e-3 <= V(D, G) <= C(G)
  (measured V - C from -6.9e-4 to -4.1e-4). Before training max |D - D*| is
  > 0.1, so the check can fail.
* p_g = p_data = N(1, 0.5^2), D started at D(x) ~ 0.88 (output bias +2):
  max |D - 1/2| <= 0.015 on the same kind of region (measured 0.0056-0.0074),
  V(D, G) by quadrature within 1e-4 of -log 4 (measured within 2.5e-5), and
  the trainer's own minibatch estimate of V, averaged over the last 200 D
  steps, within 2e-4 of -log 4 (measured within 3.1e-5).
* Algorithm 1 (the Figure 1 setting: p_data = N(4, 0.5^2), z ~ U(-1, 1),
  leaky-ReLU MLPs, Adam 1e-3, m = 128, k = 1, 1000 iterations): JSD falls from
  about log 2 (disjoint supports at the start) by a factor >= 4; measured
  factors over seeds 0-5 were 5.2-11.7 (seed 0, the one tested: 0.693 -> 0.107).
  JSD is measured against a Gaussian KDE of 10,000 samples of G (see
  ``theory.estimate_density``).
"""
import math

import numpy as np
import pytest

from minigan import backend, data, models, optim, theory
from minigan.train import GAN
from minigan.layers import Linear, Sequential

F64 = np.float64
LOG2 = math.log(2.0)


def _grid(lo, hi, n=4001):
    return np.linspace(lo, hi, n)


# ----------------------------------------------------------------------------- formulas
def test_optimal_discriminator_values_and_zero_over_zero():
    pd = np.array([1.0, 0.0, 3.0, 0.0, 2.0])
    pg = np.array([1.0, 2.0, 1.0, 0.0, 0.0])
    d = theory.optimal_discriminator(pd, pg)
    np.testing.assert_allclose(d, [0.5, 0.0, 0.75, 0.5, 1.0])
    assert theory.optimal_discriminator(pd, pg, fill=0.0)[3] == 0.0
    with pytest.raises(ValueError):
        theory.optimal_discriminator(pd, pg[:3])
    with pytest.raises(ValueError):
        theory.optimal_discriminator([-1.0], [1.0])


def test_integrate_trapezoid_exact_on_linear_and_close_on_gaussian():
    x = np.linspace(0.0, 2.0, 11)
    assert theory.integrate(3 * x + 1, x) == pytest.approx(8.0, abs=1e-12)
    g = _grid(-10, 10)
    assert theory.integrate(theory.gaussian_pdf(g, 0.3, 1.2), g) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError):
        theory.integrate(x, x[::-1])


def _dyadic_grid(lo, hi, per_unit=1024):
    """Nodes k / per_unit: exact in binary, so integer endpoints of a uniform
    density fall exactly on nodes."""
    return np.arange(lo * per_unit, hi * per_unit + 1) / per_unit


@pytest.mark.parametrize("mu1,s1,mu2,s2", [(0, 1, 0, 1), (0, 1, 1, 1), (4, 0.5, 0, 1),
                                           (1, 2, -1, 0.3), (0, 0.1, 0.05, 3)])
def test_kl_gaussian_closed_form_matches_quadrature(mu1, s1, mu2, s2):
    lo = min(mu1 - 12 * s1, mu2 - 12 * s2)
    hi = max(mu1 + 12 * s1, mu2 + 12 * s2)
    x = _grid(lo, hi, 20001)
    exact = theory.kl_gaussian(mu1, s1, mu2, s2)
    # log-density route: always finite
    quad_log = theory.kl_divergence(lambda t: theory.gaussian_log_pdf(t, mu1, s1),
                                    lambda t: theory.gaussian_log_pdf(t, mu2, s2), x, log=True)
    assert quad_log == pytest.approx(exact, abs=1e-7)
    # density route: the same where q does not underflow inside p's mass
    quad = theory.kl_divergence(theory.gaussian_pdf(x, mu1, s1), theory.gaussian_pdf(x, mu2, s2), x)
    if (mu1, s1, mu2, s2) == (1, 2, -1, 0.3):
        assert quad == math.inf                               # q = N(-1, 0.3^2) underflows at x ~ 11
    else:
        assert quad == pytest.approx(exact, abs=1e-7)
    if (mu1, s1) == (mu2, s2):
        assert exact == 0.0


def test_uniform_pdf_integrates_to_one_on_a_grid_through_its_endpoints():
    x = _dyadic_grid(-3, 4)
    assert theory.integrate(theory.uniform_pdf(x, -1, 2), x) == pytest.approx(1.0, abs=1e-12)
    assert theory.uniform_pdf(np.array([-1.0, 0.0, 2.0, 2.5]), -1, 2).tolist() == [1 / 6, 1 / 3, 1 / 6, 0.0]


def test_kl_is_infinite_off_support_and_accepts_callables():
    x = _grid(-2, 2, 401)
    u = theory.uniform_pdf(x, -1, 1)
    g = theory.gaussian_pdf(x)
    assert theory.kl_divergence(g, u, x) == math.inf          # g > 0 where u = 0
    assert math.isfinite(theory.kl_divergence(u, g, x))
    assert theory.kl_divergence(lambda t: theory.uniform_pdf(t, -1, 1), theory.gaussian_pdf, x) == \
        pytest.approx(theory.kl_divergence(u, g, x))


@pytest.mark.parametrize("mu1,s1,mu2,s2", [(0, 1, 0, 1), (0, 1, 0.3, 1), (0, 1, 3, 1),
                                           (4, 0.5, 0, 1), (0, 1, 0, 5), (0, 0.1, 40, 0.1)])
def test_js_divergence_bounds(mu1, s1, mu2, s2):
    j = theory.js_divergence_gaussian(mu1, s1, mu2, s2)
    assert -1e-12 <= j <= LOG2 + 1e-12
    j_swap = theory.js_divergence_gaussian(mu2, s2, mu1, s1)
    assert j == pytest.approx(j_swap, abs=1e-12)               # symmetric
    if (mu1, s1) == (mu2, s2):
        assert abs(j) < 1e-12                                  # closed form: p = q -> 0
    if abs(mu1 - mu2) > 100 * max(s1, s2):
        assert j == pytest.approx(LOG2, abs=1e-9)              # closed form: disjoint -> log 2


def test_js_divergence_disjoint_uniforms_is_log2_and_grows_with_separation():
    x = _dyadic_grid(-1, 4)
    p = theory.uniform_pdf(x, 0, 1)
    q = theory.uniform_pdf(x, 2, 3)
    assert theory.js_divergence(p, q, x) == pytest.approx(LOG2, abs=1e-12)
    seps = [theory.js_divergence_gaussian(0, 1, d, 1) for d in (0.0, 0.5, 1.0, 2.0, 4.0)]
    assert all(a < b for a, b in zip(seps, seps[1:]))


def _pairs():
    """Pairs (p_data, p_g, grid) of several kinds: Gaussians, a linear generator's
    exact density, 1-D Gaussian mixtures, a uniform against a Gaussian."""
    x = _dyadic_grid(-12, 14, 1024)                          # the uniforms' edges are nodes
    mix = data.GaussianMixture([[-2.0], [1.5], [3.0]], 0.4)
    return [
        ("equal", theory.gaussian_pdf(x, 4, 0.5), theory.gaussian_pdf(x, 4, 0.5), x),
        ("fig1-start", theory.gaussian_pdf(x, 4, 0.5), theory.linear_generator_pdf(x, 0.2, 0.0), x),
        ("shifted", theory.gaussian_pdf(x, 0, 1), theory.gaussian_pdf(x, 0.7, 1.3), x),
        ("mixture-vs-gauss", mix.pdf(x.reshape(-1, 1)), theory.gaussian_pdf(x, 1, 2), x),
        ("uniform-G", theory.gaussian_pdf(x, 0, 1),
         theory.linear_generator_pdf(x, 2.0, 1.0, data.uniform_noise(1)), x),
        ("disjoint", theory.uniform_pdf(x, -3, -1), theory.uniform_pdf(x, 2, 5), x),
    ]


@pytest.mark.parametrize("name,pd,pg,x", _pairs(), ids=[p[0] for p in _pairs()])
def test_theorem1_identity_C_equals_minus_log4_plus_2jsd(name, pd, pg, x):
    # C(G) = V(D*, G) integrates p_data log D* + p_g log(1 - D*); the JSD
    # integrates KL to the mixture M = (p_data + p_g)/2. The two agree only
    # if both densities integrate to 1 (the step of the proof that uses
    # int p = 1 to pull out log 4), which is checked first.
    assert theory.integrate(pd, x) == pytest.approx(1.0, abs=1e-9)
    assert theory.integrate(pg, x) == pytest.approx(1.0, abs=1e-9)
    c = theory.virtual_training_criterion(pd, pg, x)
    j = theory.js_divergence(pd, pg, x)
    assert abs(c - (-theory.LOG4 + 2 * j)) < 1e-6
    assert c >= -theory.LOG4 - 1e-9                            # the global minimum of C
    if name == "equal":
        assert c == pytest.approx(-theory.LOG4, abs=1e-9)
    if name == "disjoint":
        assert c == pytest.approx(0.0, abs=1e-9)               # JSD = log 2


def test_value_at_any_D_is_below_C():
    # Proposition 1 read the other way: no D does better than D*.
    x = _grid(-8, 10, 3601)
    pd, pg = theory.gaussian_pdf(x, 1, 0.5), theory.gaussian_pdf(x, 0, 1)
    c = theory.virtual_training_criterion(pd, pg, x)
    d_star = theory.optimal_discriminator(pd, pg)
    assert theory.value_function_quadrature(pd, pg, d_star, x) == pytest.approx(c)
    for other in (np.full_like(x, 0.5), np.clip(d_star + 0.05, 0, 1), 1 / (1 + np.exp(-x))):
        assert theory.value_function_quadrature(pd, pg, other, x) < c


def test_linear_generator_pdf_exact_densities():
    x = _grid(-10, 10, 2001)
    np.testing.assert_allclose(theory.linear_generator_pdf(x, -0.5, 2.0),
                               theory.gaussian_pdf(x, 2.0, 0.5), rtol=1e-12)
    u = theory.linear_generator_pdf(x, -2.0, 1.0, data.uniform_noise(1, -1.0, 1.0))
    np.testing.assert_allclose(u, theory.uniform_pdf(x, -1.0, 3.0))
    with pytest.raises(ValueError):
        theory.linear_generator_pdf(x, 0.0, 1.0)
    with pytest.raises(ValueError):
        theory.noise_pdf(data.gaussian_noise(2), x)


@pytest.mark.parametrize("method", ["kde", "histogram"])
def test_estimate_density_recovers_a_gaussian(method):
    rng = np.random.default_rng(0)
    s = rng.normal(4.0, 0.5, 20000)
    x = _grid(0, 8, 801)
    est = theory.estimate_density(s, x, method=method)
    exact = theory.gaussian_pdf(x, 4.0, 0.5)
    assert theory.integrate(est, x) == pytest.approx(1.0, abs=0.01)
    j = theory.js_divergence(exact, est, x)
    # measured (seed 0): KDE 1.7e-4, histogram 6.3e-4; a KDE bandwidth twice Silverman's gives 2.5e-4
    assert j < (2.2e-4 if method == "kde" else 1e-3), j
    if method == "kde":     # Silverman: 0.9 min(std, IQR / 1.34) n^(-1/5) = 0.9 * 0.5 * 20000^(-1/5) = 0.0621
        assert theory.silverman_bandwidth(s) == pytest.approx(0.9 * 0.5 * 20000 ** -0.2, rel=0.02)
    # a collapsed sample set still gives a finite, normalised KDE
    est0 = theory.estimate_density(np.full(100, 3.0), x)
    assert np.all(np.isfinite(est0)) and theory.integrate(est0, x) == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ValueError):
        theory.estimate_density(s, x, method="nope")


# ----------------------------------------------------------------------------- in the trainer
def _fixed_linear_generator(a, b):
    G = Sequential(Linear(1, 1, rng=0, dtype=F64))
    G.layers[0].params["W"][...] = a
    G.layers[0].params["b"][...] = b
    return G


# (steps, Adam lr, minibatch m) phases: the learning rate goes down and the
# minibatch up, so that little minibatch noise is left in D at the end.
PROP1_SCHEDULE = ((1500, 0.02, 128), (500, 0.004, 512), (300, 0.0008, 1024))
EQUAL_SCHEDULE = ((1000, 0.02, 128), (300, 0.004, 512))


def _train_D_only(mu_d, s_d, a, b, seed, schedule, d_logit_bias=0.0):
    """p_g fixed: x = a z + b, z ~ N(0, 1). Only GAN.d_step is ever called.

    D: 1-16-16-1 tanh MLP in float64, Adam (beta1 0.9), trained in the phases
    of ``schedule``. ``d_logit_bias`` is added to D's output bias at the start
    (to start D far from where it must end).
    """
    G = _fixed_linear_generator(a, b)
    g_before = {k: backend.to_host(v).copy() for k, v in G.params.items()}
    D = models.mlp([1, 16, 16, 1], "tanh", rng=seed, dtype=F64)
    D.layers[-1].params["b"][...] += d_logit_bias
    d_opt = optim.Adam(D, lr=0.02, beta1=0.9)
    g_opt = optim.SGD(G, 0.1)                       # exists because GAN needs it; never stepped
    gan = GAN(G, D, data.gaussian_1d(mu_d, s_d, dtype=F64), data.gaussian_noise(1, dtype=F64),
              d_optimizer=d_opt, g_optimizer=g_opt, m=128, seed=seed)
    lo, hi = min(mu_d - 8 * s_d, b - 8 * abs(a)), max(mu_d + 8 * s_d, b + 8 * abs(a))
    x = _grid(lo, hi, 3201)
    d_before = backend.to_host(gan.d_prob(backend.to_device(x.reshape(-1, 1), dtype=F64)))
    rows = []
    for steps, lr, m in schedule:
        d_opt.lr, gan.m = lr, m
        rows += [gan.d_step() for _ in range(steps)]
    d = backend.to_host(gan.d_prob(backend.to_device(x.reshape(-1, 1), dtype=F64)))
    for k, v in G.params.items():                  # p_g really stayed fixed
        np.testing.assert_array_equal(backend.to_host(v), g_before[k])
    assert g_opt.t == 0
    pd = gan.data_sampler.pdf(x.reshape(-1, 1))
    pg = theory.linear_generator_pdf(x, a, b)
    return x, pd, pg, d_before, d, rows


def test_proposition1_d_step_converges_to_optimal_discriminator():
    x, pd, pg, d0, d, _ = _train_D_only(mu_d=1.0, s_d=0.5, a=1.0, b=0.0, seed=1,
                                             schedule=PROP1_SCHEDULE)
    d_star = theory.optimal_discriminator(pd, pg)
    region = theory.mass_region(pd, pg, 0.05)
    assert x[region].min() < -1.9 and x[region].max() > 2.2   # the region is wide
    err0 = np.abs(d0 - d_star)[region].max()
    err = np.abs(d - d_star)[region]
    mix = 0.5 * (pd + pg)
    mean_err = theory.integrate(np.abs(d - d_star) * mix, x)
    v, c = theory.value_function_quadrature(pd, pg, d, x), theory.virtual_training_criterion(pd, pg, x)
    msg = f"max|D-D*| {err.max():.4f} (before {err0:.3f}), E_M|D-D*| {mean_err:.4f}, V-C {v - c:.2e}"
    assert err0 > 0.1, msg
    assert err.max() <= 0.03, msg
    assert mean_err <= 0.0075, msg
    assert c - 1.5e-3 <= v <= c + 1e-12, msg


def test_pg_equals_pdata_gives_D_one_half_and_V_minus_log4():
    mu, s = 1.0, 0.5
    x, pd, pg, d0, d, rows = _train_D_only(mu_d=mu, s_d=s, a=s, b=mu, seed=2,
                                               schedule=EQUAL_SCHEDULE, d_logit_bias=2.0)
    np.testing.assert_allclose(pd, pg, rtol=1e-12)            # the same distribution, exactly
    region = theory.mass_region(pd, pg, 0.05)
    dev = np.abs(d - 0.5)[region].max()
    v = theory.value_function_quadrature(pd, pg, d, x)
    v_hist = float(np.mean([float(r["V"]) for r in rows[-200:]]))
    msg = (f"max|D-1/2| {dev:.4f} (before {np.abs(d0 - 0.5)[region].max():.3f}), "
           f"V(quadrature)+log4 {v + theory.LOG4:.2e}, mean minibatch V+log4 {v_hist + theory.LOG4:.2e}")
    assert np.abs(d0 - 0.5)[region].min() > 0.3, msg           # D(x) ~ 0.88 at the start
    assert dev <= 0.015, msg
    assert abs(v + theory.LOG4) <= 1e-4, msg
    assert v <= -theory.LOG4 + 1e-12, msg                      # C(G) = -log 4 is the best D can do
    assert abs(v_hist + theory.LOG4) <= 2e-4, msg


def _figure1_gan(seed):
    """The Figure 1 setting: p_data = N(4, 0.5^2), z ~ U(-1, 1), small leaky-ReLU
    MLPs (G 1-16-16-1, D 1-32-32-1), Adam lr 1e-3 beta1 0.5, m = 128, k = 1."""
    G = models.mlp([1, 16, 16, 1], "leaky_relu", rng=seed)
    D = models.mlp([1, 32, 32, 1], "leaky_relu", rng=seed + 1000)
    return GAN(G, D, data.gaussian_1d(), data.uniform_noise(1),
               d_optimizer=optim.Adam(D, lr=1e-3, beta1=0.5),
               g_optimizer=optim.Adam(G, lr=1e-3, beta1=0.5), k=1, m=128,
               g_loss="nonsaturating", seed=seed)


def test_algorithm1_drives_jsd_down():
    gan = _figure1_gan(seed=0)
    x = _grid(-4, 10, 701)
    j0 = theory.gan_jsd(gan, gan.data_sampler, x, n_samples=10000)
    gan.train(1000)
    j1 = theory.gan_jsd(gan, gan.data_sampler, x, n_samples=10000)
    samples = backend.to_host(gan.sample(10000))
    msg = f"JSD {j0:.4f} -> {j1:.4f} (factor {j0 / j1:.1f}); G mean {samples.mean():.3f} sd {samples.std():.3f}"
    assert j0 > 0.6, msg                                        # starts far from p_data
    assert j1 <= j0 / 4, msg
    assert abs(samples.mean() - 4.0) < 0.2, msg


@pytest.mark.parametrize("args, want", [((0, 0.01, 0, 100), 0.6919010), ((0, 0.001, 0, 1), 0.6845660),
                                        ((0, 1, 1e5, 1), math.log(2))])
def test_gaussian_jsd_at_very_different_scales(args, want):
    """References from scipy.integrate.quad (helper audit, 2026-11-23): a narrow Gaussian
    against a wide one, and two far apart, stay within 0 <= JSD <= log 2."""
    got = theory.js_divergence_gaussian(*args)
    assert got == pytest.approx(want, abs=2e-6) and 0 <= got <= math.log(2) + 1e-12


def test_kl_of_nan_log_densities_is_an_error():
    x = np.linspace(-5, 5, 101)
    with pytest.raises(ValueError, match="must not be NaN"):
        theory.kl_divergence(np.full(101, np.nan), theory.gaussian_pdf(x) * 0 - 1.0, x, log=True)
