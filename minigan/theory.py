"""Section 4 of Goodfellow et al. (2014) as functions you can evaluate.

The paper's theory works with densities, not samples:

* Proposition 1: for a fixed G the best discriminator is
      D*_G(x) = p_data(x) / (p_data(x) + p_g(x)).
* Putting D* back into V(D, G) gives the *virtual training criterion*
      C(G) = E_{x~p_data}[log D*_G(x)] + E_{x~p_g}[log(1 - D*_G(x))].
* Theorem 1: C(G) = -log 4 + 2 JSD(p_data || p_g), so its global minimum
  -log 4 is reached exactly when p_g = p_data (then D* = 1/2 everywhere).

Everything here is plain NumPy on the host, in float64, on 1-D grids:
expectations are integrals over a grid, computed by the trapezoid rule
(``integrate``). The grid must cover the mass of both densities; its
truncation error is what makes a quadrature result differ from the exact
one (for Gaussians on a grid of a few thousand points reaching 8-10 standard
deviations either side, the error is far below 1e-9).

Conventions at the edges (0/0 and log 0):

* ``0 log 0 = 0`` (the limit of t log t as t -> 0): a point where a density is
  zero contributes nothing to an expectation under that density.
* D* at a point where p_data = p_g = 0 is 0/0. V(D, G) does not depend on D
  there (both integrands carry a zero density), so any value is optimal;
  we return ``fill`` = 1/2, the value D* takes wherever the two densities
  agree, which keeps D* continuous when both tails vanish at the same rate.
* KL(p || q) is ``+inf`` when some point has p > 0 and q = 0 -- including
  when q merely *underflows* to 0 in a far tail; pass log-densities with
  ``kl_divergence(..., log=True)`` to avoid that. JSD is always
  finite (between 0 and log 2), because the mixture M = (p + q)/2 is
  positive wherever p or q is.

Closed forms: KL between two 1-D Gaussians (``kl_gaussian``). The JSD of two
Gaussians has **no** closed form -- it needs the entropy of the mixture
(p + q)/2, a two-component Gaussian mixture, whose entropy is not expressible in
elementary functions -- so ``js_divergence_gaussian`` integrates numerically.
Two cases do have closed forms and are used by the tests: JSD = 0 when
p = q and JSD = log 2 when the supports are disjoint.

To measure JSD(p_data || p_g) for a *trained* generator, whose density we do
not know, ``estimate_density`` builds p_g from many samples (a Gaussian
kernel density estimate by default, or a histogram) and ``gan_jsd`` puts the
pieces together.
"""
from __future__ import annotations

import math

import numpy as np

from . import backend

__all__ = [
    "LOG4", "integrate", "optimal_discriminator", "value_function_quadrature",
    "virtual_training_criterion", "kl_divergence", "js_divergence", "kl_gaussian",
    "js_divergence_gaussian", "gaussian_pdf", "gaussian_log_pdf", "uniform_pdf", "noise_pdf",
    "linear_generator_pdf", "estimate_density", "silverman_bandwidth",
    "generator_density", "gan_jsd", "mass_region",
]

LOG4 = math.log(4.0)          # -C(G) at the global optimum p_g = p_data


# ---------------------------------------------------------------------------- helpers
def _host1d(a, name):
    a = np.asarray(backend.to_host(a), dtype=np.float64).reshape(-1)
    return a


def _grid(grid):
    x = _host1d(grid, "grid")
    if x.size < 2:
        raise ValueError(f"grid needs at least 2 points, got {x.size}")
    if not np.all(np.diff(x) > 0):
        raise ValueError("grid must be strictly increasing")
    return x


def _density(p, x, name):
    """Density values on grid x: ``p`` is an array of values or a callable p(x)."""
    values = p(x) if callable(p) else p
    values = _host1d(values, name)
    if values.shape != x.shape:
        raise ValueError(f"{name} has {values.size} values, the grid has {x.size} points")
    if np.any(values < 0) or not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite and >= 0 on the grid")
    return values


def _plogp_over_q(p, q):
    """p log(p / q) pointwise with 0 log(0/q) = 0 and p log(p/0) = +inf (p > 0)."""
    out = np.zeros_like(p)
    pos = p > 0
    with np.errstate(divide="ignore"):
        out[pos] = p[pos] * (np.log(p[pos]) - np.log(q[pos]))
    return out


def integrate(f, grid):
    """Trapezoid rule: sum_i (x_{i+1} - x_i) (f_i + f_{i+1}) / 2."""
    x = _grid(grid)
    f = _host1d(f, "integrand")
    if f.shape != x.shape:
        raise ValueError(f"integrand has {f.size} values, the grid has {x.size} points")
    return float(np.sum(np.diff(x) * (f[1:] + f[:-1]) * 0.5))


# ---------------------------------------------------------------------------- Proposition 1
def optimal_discriminator(p_data, p_g, fill=0.5):
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), elementwise (Proposition 1).

    ``p_data`` and ``p_g`` are arrays of density values at the same points.
    Where both are 0 the ratio is 0/0 and V(D, G) does not depend on D; the
    result there is ``fill`` (default 1/2, see the module docstring).
    """
    pd = np.asarray(backend.to_host(p_data), dtype=np.float64)
    pg = np.asarray(backend.to_host(p_g), dtype=np.float64)
    if pd.shape != pg.shape:
        raise ValueError(f"p_data and p_g must have the same shape, got {pd.shape} and {pg.shape}")
    if np.any(pd < 0) or np.any(pg < 0):
        raise ValueError("densities must be >= 0")
    total = pd + pg
    out = np.full(total.shape, float(fill))
    np.divide(pd, total, out=out, where=total > 0)
    return out


def value_function_quadrature(p_data, p_g, d, grid):
    """V(D, G) = int p_data log D + p_g log(1 - D) dx for D given by its values ``d``.

    ``d`` holds D(x) (probabilities) on ``grid``. A zero density kills its
    term even where log D or log(1 - D) is -inf (0 log 0 = 0); a positive
    density against D = 0 (resp. 1) gives -inf, as it should.
    """
    x = _grid(grid)
    pd, pg = _density(p_data, x, "p_data"), _density(p_g, x, "p_g")
    d = _host1d(d, "d")
    if d.shape != x.shape or np.any((d < 0) | (d > 1)):
        raise ValueError("d must hold probabilities D(x) in [0, 1], one per grid point")
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(pd > 0, pd * np.log(d), 0.0)
        b = np.where(pg > 0, pg * np.log1p(-d), 0.0)
    return integrate(a + b, x)


def virtual_training_criterion(p_data, p_g, grid):
    """C(G) = E_pdata[log D*(x)] + E_pg[log(1 - D*(x))], by quadrature on ``grid``.

    ``p_data``, ``p_g``: density values on the grid, or callables p(x).
    This is V(D*, G) with D* from Proposition 1. The logs are taken as
    log D* = log p_data - log(p_data + p_g) and
    log(1 - D*) = log p_g - log(p_data + p_g), which equal log of the ratio
    but do not round D* to exactly 0 or 1 in the far tails (there
    ``log(1 - D*)`` would be -inf against a tiny positive p_g).
    """
    x = _grid(grid)
    pd, pg = _density(p_data, x, "p_data"), _density(p_g, x, "p_g")
    total = pd + pg
    return integrate(_plogp_over_q(pd, total) + _plogp_over_q(pg, total), x)


# ---------------------------------------------------------------------------- divergences
def kl_divergence(p, q, grid, log=False):
    """KL(p || q) = int p log(p / q) dx by quadrature; +inf if p > 0 where q = 0.

    With ``log=True``, ``p`` and ``q`` are *log*-densities (values or
    callables): the integrand is exp(log p) (log p - log q). Use it when q's
    tail underflows to 0 where p still has mass (e.g. a narrow q against a
    wide p), which would otherwise give +inf.
    """
    x = _grid(grid)
    if log:
        lp = _host1d(p(x) if callable(p) else p, "log p")
        lq = _host1d(q(x) if callable(q) else q, "log q")
        if lp.shape != x.shape or lq.shape != x.shape:
            raise ValueError("log p and log q need one value per grid point")
        if np.isnan(lp).any() or np.isnan(lq).any():
            raise ValueError("log p and log q must not be NaN (-inf is a zero density)")
        pv = np.exp(lp)
        with np.errstate(invalid="ignore"):
            f = np.where(pv > 0, pv * (lp - lq), 0.0)
        if np.any(np.isposinf(f)):
            return math.inf
        return integrate(f, x)
    p, q = _density(p, x, "p"), _density(q, x, "q")
    if np.any((p > 0) & (q == 0)):
        return math.inf
    return integrate(_plogp_over_q(p, q), x)


def js_divergence(p, q, grid):
    """JSD(p || q) = KL(p || M)/2 + KL(q || M)/2, M = (p + q)/2, by quadrature.

    Always finite; 0 <= JSD <= log 2 (natural log) for normalised densities.
    """
    x = _grid(grid)
    p, q = _density(p, x, "p"), _density(q, x, "q")
    m = 0.5 * (p + q)
    return integrate(0.5 * _plogp_over_q(p, m) + 0.5 * _plogp_over_q(q, m), x)


def kl_gaussian(mu1, sigma1, mu2, sigma2):
    """Closed form KL(N(mu1, sigma1^2) || N(mu2, sigma2^2))
    = log(sigma2/sigma1) + (sigma1^2 + (mu1 - mu2)^2) / (2 sigma2^2) - 1/2."""
    if not (sigma1 > 0 and sigma2 > 0):
        raise ValueError(f"standard deviations must be > 0, got {sigma1}, {sigma2}")
    return (math.log(sigma2 / sigma1) + (sigma1 ** 2 + (mu1 - mu2) ** 2) / (2 * sigma2 ** 2)
            - 0.5)


def js_divergence_gaussian(mu1, sigma1, mu2, sigma2, n=8001, width=10.0):
    """JSD of two 1-D Gaussians by quadrature (there is no closed form, see module doc).

    The grid is the union of ``n`` points across mu_i +- ``width`` sigma_i for
    each Gaussian, so each is resolved at its own scale however different the
    two widths or however far apart the means (one uniform grid over both
    would miss a narrow one, or spread over a gap where neither has mass).
    """
    if not (sigma1 > 0 and sigma2 > 0):
        raise ValueError(f"standard deviations must be > 0, got {sigma1}, {sigma2}")
    x = np.union1d(np.linspace(mu1 - width * sigma1, mu1 + width * sigma1, n),
                   np.linspace(mu2 - width * sigma2, mu2 + width * sigma2, n))
    return js_divergence(gaussian_pdf(x, mu1, sigma1), gaussian_pdf(x, mu2, sigma2), x)


# ---------------------------------------------------------------------------- exact densities
def gaussian_pdf(x, mu=0.0, sigma=1.0):
    """N(mu, sigma^2) density at x."""
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    x = np.asarray(backend.to_host(x), dtype=np.float64)
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def gaussian_log_pdf(x, mu=0.0, sigma=1.0):
    """log N(x; mu, sigma^2), finite far into the tails (no underflow)."""
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    x = np.asarray(backend.to_host(x), dtype=np.float64)
    return -0.5 * ((x - mu) / sigma) ** 2 - math.log(sigma * math.sqrt(2 * math.pi))


def uniform_pdf(x, low=0.0, high=1.0):
    """U(low, high) density at x: 1/(high - low) inside, 0 outside.

    At the two endpoints themselves it returns half of that, the average of
    the left and right limits. A single point carries no probability, so
    this is still the uniform density; what it buys is that the trapezoid
    rule integrates it exactly (to 1) on a grid with nodes on both endpoints,
    instead of with an error of one grid spacing.
    """
    if not high > low:
        raise ValueError(f"uniform needs high > low, got {low}, {high}")
    x = np.asarray(backend.to_host(x), dtype=np.float64)
    inside = np.where((x > low) & (x < high), 1.0, 0.0)
    inside = np.where((x == low) | (x == high), 0.5, inside)
    return inside / (high - low)


def noise_pdf(noise, z):
    """Density of a 1-D noise prior at z.

    ``noise``: a ``minigan.data.uniform_noise`` / ``gaussian_noise`` of dim 1,
    or the strings ``"gaussian"`` (N(0, 1)) / ``"uniform"`` (U(-1, 1)).
    """
    if isinstance(noise, str):
        kind, low, high = noise, -1.0, 1.0
    else:
        kind = type(noise).__name__.replace("_noise", "")
        if getattr(noise, "dim", 1) != 1:
            raise ValueError(f"noise_pdf needs a 1-D noise prior, got dim {noise.dim}")
        low, high = getattr(noise, "low", -1.0), getattr(noise, "high", 1.0)
    if kind == "gaussian":
        return gaussian_pdf(z)
    if kind == "uniform":
        return uniform_pdf(z, low, high)
    raise ValueError(f"noise must be gaussian or uniform, got {noise!r}")


def linear_generator_pdf(x, a, b, noise="gaussian"):
    """Exact p_g(x) for the linear generator x = G(z) = a z + b.

    Change of variables: p_g(x) = p_z((x - b) / a) / |a|. From z ~ N(0, 1)
    this is N(b, a^2); from z ~ U(low, high) it is uniform on the interval
    between a*low + b and a*high + b. a = 0 puts all mass on one point (no
    density) and is refused.
    """
    a, b = float(a), float(b)
    if a == 0:
        raise ValueError("a = 0 maps all noise to one point: p_g has no density")
    x = np.asarray(backend.to_host(x), dtype=np.float64)
    return noise_pdf(noise, (x - b) / a) / abs(a)


# ---------------------------------------------------------------------------- empirical p_g
def silverman_bandwidth(samples):
    """Silverman's rule of thumb h = 0.9 min(std, IQR/1.34) n^(-1/5).

    Falls back to the std, then to 1e-3 * (1 + |mean|), when a spread is 0
    (e.g. a collapsed generator that outputs one value).
    """
    s = _host1d(samples, "samples")
    n = s.size
    std = float(s.std())
    q75, q25 = np.percentile(s, [75, 25])
    spread = min(std, (q75 - q25) / 1.34) or std
    if spread == 0:
        spread = 1e-3 * (1.0 + abs(float(s.mean())))
    return 0.9 * spread * n ** (-0.2)


def estimate_density(samples, grid, method="kde", bandwidth=None, bins=None):
    """Estimate a 1-D density on ``grid`` from samples.

    ``method="kde"`` (default): Gaussian kernel density estimate
        p_hat(x) = (1/n) sum_i N(x; s_i, h^2),
      with h = ``bandwidth`` or Silverman's rule (at least the grid spacing;
      pass a grid fine enough for the kernel). It is smooth and positive,
      but it estimates p_g convolved with N(0, h^2): a JSD measured against
      it has a small upward bias. For 20,000 exact samples of N(4, 0.5^2),
      h is about 0.062, the smoothing alone adds 1.4e-5 nats, and the JSD
      measured against the exact density is about 1.3e-4 nats (smoothing plus
      sampling noise) -- far below what GAN training changes. Cost:
      n * len(grid) kernel evaluations (done in chunks).
    ``method="histogram"``: a normalised histogram on ``bins`` equal bins over
      the grid's range (default: about sqrt(n), at most len(grid)), read off
      at each grid point; zero outside the range. Samples outside the grid
      are dropped, so its mass is the fraction inside.
    Returns float64 density values, one per grid point.
    """
    x = _grid(grid)
    s = _host1d(samples, "samples")
    if s.size == 0:
        raise ValueError("estimate_density needs at least one sample")
    if not np.all(np.isfinite(s)):
        raise ValueError("samples contain NaN or inf")
    if method == "kde":
        # an automatic h is at least the largest grid spacing, so that the grid
        # resolves every kernel (else the quadrature of p_hat would be wrong)
        h = (float(bandwidth) if bandwidth is not None
             else max(silverman_bandwidth(s), float(np.diff(x).max())))
        if not h > 0:
            raise ValueError(f"bandwidth must be > 0, got {h}")
        out = np.zeros_like(x)
        chunk = max(1, 4_000_000 // x.size)
        for i in range(0, s.size, chunk):
            u = (x[:, None] - s[None, i:i + chunk]) / h
            out += np.exp(-0.5 * u * u).sum(axis=1)
        return out / (s.size * h * math.sqrt(2 * math.pi))
    if method == "histogram":
        nb = int(bins) if bins is not None else int(min(max(10, round(math.sqrt(s.size))), x.size))
        counts, edges = np.histogram(s, bins=nb, range=(x[0], x[-1]))
        dens = counts / (s.size * np.diff(edges))
        idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, nb - 1)
        return dens[idx]
    raise ValueError(f"method must be 'kde' or 'histogram', got {method!r}")


def generator_density(gan, grid, n_samples=20000, seed=0, method="kde", **kwargs):
    """Empirical p_g on ``grid`` for a 1-D generator: ``n_samples`` draws of
    ``gan.sample`` (eval mode) from a generator seeded with ``seed``, then
    ``estimate_density``. The same seed gives the same estimate."""
    samples = backend.to_host(gan.sample(n_samples, rng=backend.default_rng(seed)))
    if samples.ndim == 2 and samples.shape[1] != 1:
        raise ValueError(f"generator_density is for 1-D generators, G(z) has shape {samples.shape}")
    return estimate_density(samples.reshape(-1), grid, method=method, **kwargs)


def gan_jsd(gan, data, grid, n_samples=20000, seed=0, method="kde", **kwargs):
    """JSD(p_data || p_g_hat): exact p_data (``data.pdf``) against the empirical
    p_g of ``generator_density``, by quadrature on ``grid``.

    The grid should cover both p_data and where G puts its samples (e.g.
    from min(data, samples) - 1 to max + 1): mass of p_g_hat outside the grid
    is silently lost.
    """
    x = _grid(grid)
    return js_divergence(data.pdf(x.reshape(-1, 1)), generator_density(
        gan, x, n_samples=n_samples, seed=seed, method=method, **kwargs), x)


def mass_region(p_data, p_g, fraction=0.05):
    """Boolean mask of grid points where the mixture (p_data + p_g)/2 is at least
    ``fraction`` of its maximum: 'where p_data + p_g carries mass'."""
    pd = np.asarray(backend.to_host(p_data), dtype=np.float64)
    pg = np.asarray(backend.to_host(p_g), dtype=np.float64)
    mix = 0.5 * (pd + pg)
    return mix >= fraction * mix.max()
