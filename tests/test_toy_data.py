"""The toy distributions: parameters as documented, exact densities that
integrate to 1, samplers that match them, and the mode-coverage metric.

Statistical checks use many samples and tolerances of about 4-5 standard
errors, with fixed seeds (so they are deterministic, not flaky).
"""
import math

import numpy as np
import pytest

from minigan import backend, data, theory

N = 20000


def _host(x):
    return np.asarray(backend.to_host(x), dtype=np.float64)


def _rng(seed=0):
    return backend.default_rng(seed)


# ----------------------------------------------------------------------------- parameters
def test_ring8_has_eight_distinct_means_on_the_unit_circle():
    ring = data.ring8()
    m = ring.means
    assert m.shape == (8, 2) and ring.sigma == 0.01 and ring.dim == 2
    np.testing.assert_allclose(np.hypot(m[:, 0], m[:, 1]), 1.0, atol=1e-12)
    d = np.sqrt(((m[:, None] - m[None]) ** 2).sum(-1))
    off_diag = d[~np.eye(8, dtype=bool)]
    # neighbours are 2 sin(pi/8) = 0.765 apart: no repeated mode (the
    # linspace(0, 2 pi, 8) mistake would put two means at distance 0)
    assert off_diag.min() == pytest.approx(2 * math.sin(math.pi / 8), abs=1e-12)
    angles = np.sort(np.mod(np.arctan2(m[:, 1], m[:, 0]), 2 * np.pi))
    np.testing.assert_allclose(angles, 2 * np.pi * np.arange(8) / 8, atol=1e-12)


def test_grid25_means_and_sigma():
    grid = data.grid25()
    assert grid.means.shape == (25, 2) and grid.sigma == 0.05
    got = {tuple(p) for p in grid.means.tolist()}
    want = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert got == want


def test_figure1_data_is_N_4_half():
    g = data.gaussian_1d()
    assert data.FIGURE1_DATA_MEAN == 4.0 and data.FIGURE1_DATA_STD == 0.5
    assert g.means.tolist() == [[4.0]] and g.sigma == 0.5 and g.dim == 1


def test_bad_sigma_is_refused():
    with pytest.raises(ValueError, match="sigma"):
        data.GaussianMixture([[0.0]], 0.0)


# ----------------------------------------------------------------------------- densities
def test_pdf_1d_integrates_to_one_and_matches_the_formula():
    x = np.linspace(-1, 9, 4001)
    g = data.gaussian_1d()
    p = g.pdf(x.reshape(-1, 1))
    assert theory.integrate(p, x) == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(p, theory.gaussian_pdf(x, 4.0, 0.5), rtol=1e-12)
    mix = data.GaussianMixture([[-2.0], [0.5], [3.0]], 0.3)
    xm = np.linspace(-6, 7, 6001)
    assert theory.integrate(mix.pdf(xm.reshape(-1, 1)), xm) == pytest.approx(1.0, abs=1e-10)
    # the log-density stays finite far in the tail, where pdf underflows
    assert np.isfinite(g.log_pdf(np.array([[400.0]]))).all()


def _integrate_2d(dist, lo, hi, h):
    """Riemann sum on a square grid (the same as the trapezoid rule here: the
    density is ~0 on the border); row by row to keep memory small. For a
    Gaussian a spacing of sigma/2 already gives errors ~exp(-2 pi^2 sigma^2 / h^2),
    far below the tolerance."""
    t = np.arange(lo, hi + h / 2, h)
    total = 0.0
    for y in t:
        pts = np.stack([t, np.full_like(t, y)], 1)
        total += dist.pdf(pts).sum()
    return total * h * h


@pytest.mark.parametrize("name,lo,hi,h", [("ring8", -1.1, 1.1, 0.005), ("grid25", -4.5, 4.5, 0.025)])
def test_pdf_2d_integrates_to_one(name, lo, hi, h):
    dist = getattr(data, name)()
    assert _integrate_2d(dist, lo, hi, h) == pytest.approx(1.0, abs=1e-9)


def test_pdf_2d_at_a_mean_is_the_component_peak():
    ring = data.ring8()
    peak = 1 / (2 * math.pi * 0.01 ** 2) / 8          # neighbours contribute ~exp(-2900)
    assert ring.pdf(ring.means[:1]) == pytest.approx(peak, rel=1e-12)


# ----------------------------------------------------------------------------- samplers
def test_gaussian_1d_samples_match_mean_and_std():
    x = _host(data.gaussian_1d()(N, _rng(1)))
    assert x.shape == (N, 1)
    se = 0.5 / math.sqrt(N)
    assert abs(x.mean() - 4.0) < 5 * se
    assert abs(x.std() - 0.5) < 5 * 0.5 / math.sqrt(2 * N)


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_mixture_samples_match_their_components(name):
    dist = getattr(data, name)()
    x = _host(dist(N, _rng(2)))
    assert x.shape == (N, 2)
    d = np.sqrt(((x[:, None] - dist.means[None]) ** 2).sum(-1))
    nearest = d.argmin(1)
    K = len(dist.means)
    counts = np.bincount(nearest, minlength=K)
    expected = N / K                                      # equal weights
    assert np.all(np.abs(counts - expected) < 5 * math.sqrt(expected))
    offsets = x - dist.means[nearest]                     # each coordinate ~ N(0, sigma^2)
    assert np.all(np.abs(offsets.mean(0)) < 5 * dist.sigma / math.sqrt(N))
    assert np.all(np.abs(offsets.std(0) / dist.sigma - 1) < 5 / math.sqrt(2 * N))
    assert abs(x.mean(0)).max() < 5 * np.sqrt((dist.means ** 2).mean() / N) + 0.01


def test_samplers_dtype_and_determinism():
    g = data.gaussian_1d()
    a = g(10, _rng(3))
    assert a.dtype == backend.DEFAULT_DTYPE
    assert data.gaussian_1d(dtype=np.float64)(10, _rng(3)).dtype == np.float64
    np.testing.assert_array_equal(_host(a), _host(g(10, _rng(3))))


# ----------------------------------------------------------------------------- mode coverage
@pytest.mark.parametrize("name,dim", [("gaussian_1d", 1), ("ring8", 2), ("grid25", 2)])
def test_mode_coverage_of_exact_samples(name, dim):
    dist = getattr(data, name)()
    cov = dist.mode_coverage(dist(N, _rng(4)))
    K = len(dist.means)
    assert cov["modes"] == K and cov["of"] == K and cov["captured"] == list(range(K))
    # P(|x - mu| <= 3 sigma) for an isotropic Gaussian in d dimensions:
    # d = 1: erf(3/sqrt 2) = 0.9973; d = 2: chi-square(2) cdf at 9 = 1 - e^-4.5 = 0.9889
    p = math.erf(3 / math.sqrt(2)) if dim == 1 else 1 - math.exp(-4.5)
    assert abs(cov["high_quality"] - p) < 5 * math.sqrt(p * (1 - p) / N), cov["high_quality"]


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_mode_coverage_of_one_mode(name):
    dist = getattr(data, name)()
    k = 5
    one = data.GaussianMixture(dist.means[k:k + 1], dist.sigma)
    cov = dist.mode_coverage(one(2500, _rng(5)))
    assert cov["modes"] == 1 and cov["captured"] == [k]
    assert cov["high_quality"] > 0.97
    # every sample at one mode: p = (0, .., 1, .., 0), KL(p || u) = 1 * log(K * 1) = log K
    assert cov["reverse_kl"] == pytest.approx(math.log(len(dist.means)), abs=1e-12)


def test_reverse_kl_by_hand():
    ring = data.ring8()
    # samples exactly on the modes: 4 at mode 0, 2 at mode 1, 2 at mode 2, none elsewhere.
    # p = (1/2, 1/4, 1/4, 0, ...); KL(p || 1/8) = 1/2 log 4 + 2 * 1/4 log 2 = log 2 + 1/2 log 2
    x = ring.means[[0, 0, 0, 0, 1, 1, 2, 2]]
    cov = ring.mode_coverage(x)
    assert cov["reverse_kl"] == pytest.approx(1.5 * math.log(2), abs=1e-12)
    assert cov["modes"] == 3 and cov["high_quality"] == 1.0
    # evenly shared: 0 (to rounding)
    assert ring.mode_coverage(np.repeat(ring.means, 3, axis=0))["reverse_kl"] == pytest.approx(0, abs=1e-12)
    # samples of the data themselves: near 0 (2,500 of 8 modes; E[KL] ~ (K - 1) / (2 n) = 0.0014)
    assert ring.mode_coverage(ring(2500, _rng(9)))["reverse_kl"] < 0.01
    assert math.isnan(ring.mode_coverage(np.zeros((0, 2)))["reverse_kl"])


def test_mode_coverage_far_samples_capture_nothing():
    ring = data.ring8()
    cov = ring.mode_coverage(np.zeros((100, 2)))            # the centre: 1 away from every mode
    assert cov["modes"] == 0 and cov["high_quality"] == 0.0


# ----------------------------------------------------------------------------- noise priors
def test_uniform_noise_range_dtype_and_moments():
    z = _host(data.uniform_noise(3, -math.sqrt(3), math.sqrt(3))(N, _rng(6)))
    assert z.shape == (N, 3)
    assert z.min() >= -math.sqrt(3) and z.max() < math.sqrt(3)
    assert np.all(np.abs(z.mean(0)) < 5 / math.sqrt(N))        # variance 1 by construction
    assert np.all(np.abs(z.var(0) - 1) < 0.05)
    assert data.uniform_noise(2)(5, _rng(0)).dtype == backend.DEFAULT_DTYPE
    assert data.uniform_noise(2, dtype=np.float64)(5, _rng(0)).dtype == np.float64
    u = _host(data.uniform_noise(1)(N, _rng(7)))
    assert u.min() >= -1 and u.max() < 1 and u.min() < -0.99 and u.max() > 0.99


def test_gaussian_noise_moments_and_dtype():
    z = _host(data.gaussian_noise(2)(N, _rng(8)))
    assert z.shape == (N, 2)
    assert np.all(np.abs(z.mean(0)) < 5 / math.sqrt(N))
    assert np.all(np.abs(z.std(0) - 1) < 5 / math.sqrt(2 * N))
    assert data.gaussian_noise(1)(4, _rng(0)).dtype == backend.DEFAULT_DTYPE
    assert data.gaussian_noise(1, dtype=np.float64)(4, _rng(0)).dtype == np.float64


@pytest.mark.parametrize("make", [lambda: data.uniform_noise(0), lambda: data.uniform_noise(1, 1.0, 1.0),
                                  lambda: data.gaussian_noise(0)])
def test_noise_bad_arguments(make):
    with pytest.raises(ValueError):
        make()



def test_points_of_the_wrong_shape_are_refused():
    ring = data.ring8()
    with pytest.raises(ValueError, match=r"ring8.mode_coverage expects points of shape \(n, 2\), got shape \(4, 1\)"):
        ring.mode_coverage(np.array([[1.0], [0.0], [0.0], [1.0]]))
    with pytest.raises(ValueError, match=r"log_pdf expects points of shape \(n, 2\)"):
        ring.log_pdf(np.zeros((10, 4)))
    one = data.gaussian_1d()
    assert one.log_pdf(np.array([4.0, 4.5])).shape == (2,)        # (n,) is n points when d = 1
    with pytest.raises(ValueError, match=r"means must have shape \(K, d\)"):
        data.GaussianMixture([0.0, 4.0], 0.5)
