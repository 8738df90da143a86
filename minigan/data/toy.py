"""Toy distributions with exact densities.

* Figure 1 of the paper: 1-D Gaussian data, x = G(z) with z drawn uniformly.
  We use p_data = N(4, 0.5^2) and z ~ U(-1, 1) (the paper gives no numbers).
* Ring of 8 Gaussians: means (cos 2 pi i/8, sin 2 pi i/8), i = 0..7, radius 1,
  sigma 0.01 (as in PacGAN; note linspace(0, 2 pi, 8) would repeat a mode).
* Grid of 25 Gaussians: means {-4, -2, 0, 2, 4}^2 (spacing 2), sigma 0.05.

Mode coverage (PacGAN / VEEGAN protocol): each sample is assigned to its
nearest mean; it is *high quality* if within 3 sigma of it; a mode is
*captured* if at least one high-quality sample is assigned to it. The reverse
KL is PacGAN's: the histogram p of the samples over the modes (every sample
counted at its nearest mean) against the uniform histogram of the data,
KL(p || u) = sum_k p_k log(K p_k) (0 log 0 = 0): 0 when the samples share the
modes evenly, log K when they all sit at one.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend

FIGURE1_DATA_MEAN = 4.0
FIGURE1_DATA_STD = 0.5


class GaussianMixture:
    """Equal-weight isotropic Gaussian mixture: a sampler with an exact density.

    ``means`` has shape (K, d); every component has standard deviation ``sigma``.
    Call it as ``mixture(m, rng)`` to draw a minibatch on the active backend.
    """

    def __init__(self, means, sigma, dtype=None, name="mixture"):
        means = np.asarray(means, dtype=np.float64)
        if means.ndim != 2 or means.shape[0] < 1 or means.shape[1] < 1:
            raise ValueError(f"{name}: means must have shape (K, d), one row per component, got shape "
                             f"{means.shape} (two 1-D modes at 0 and 4 are [[0.0], [4.0]])")
        self.means = means
        if not sigma > 0:
            raise ValueError(f"{name}: sigma must be > 0, got {sigma!r}")
        self.sigma = float(sigma)
        self.dtype = dtype or backend.DEFAULT_DTYPE
        self.name = name

    @property
    def dim(self):
        return self.means.shape[1]

    def __call__(self, m, rng):
        xp = backend.xp
        K, d = self.means.shape
        which = rng.integers(0, K, size=m)
        means = xp.asarray(self.means)[which]
        noise = rng.standard_normal((m, d))
        return (means + self.sigma * noise).astype(self.dtype)

    def _points(self, x, what):
        """x as host float64 points of shape (n, d); (n,) is taken as n points when d = 1."""
        x = np.asarray(backend.to_host(x), dtype=np.float64)
        if x.ndim == 1 and self.dim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"{self.name}.{what} expects points of shape (n, {self.dim})"
                             f"{' or (n,)' if self.dim == 1 else ''}, got shape {x.shape}")
        return x

    def log_pdf(self, x):
        """log p(x) for host points x of shape (n, d) (or (n,) when d = 1), float64."""
        x = self._points(x, "log_pdf")
        d2 = ((x[:, None, :] - self.means[None]) ** 2).sum(-1)          # (n, K)
        log_k = -d2 / (2 * self.sigma ** 2) - self.dim * math.log(self.sigma * math.sqrt(2 * math.pi))
        top = log_k.max(axis=1, keepdims=True)
        return (top + np.log(np.exp(log_k - top).mean(axis=1, keepdims=True)))[:, 0]

    def pdf(self, x):
        """p(x), exactly, for host points x."""
        return np.exp(self.log_pdf(x))

    def mode_coverage(self, samples, n_std=3.0):
        """Modes captured, the fraction of high-quality samples and the reverse KL of the
        samples' mode histogram against the uniform one (see the module's docstring).

        Returns {"modes", "of" (K), "high_quality", "reverse_kl", "captured" (their indices)};
        with no samples, high_quality is 0 and reverse_kl NaN."""
        x = self._points(samples, "mode_coverage")
        d = np.sqrt(((x[:, None, :] - self.means[None]) ** 2).sum(-1))
        nearest = d.argmin(axis=1)
        good = d[np.arange(len(x)), nearest] <= n_std * self.sigma
        captured = np.unique(nearest[good])
        K = len(self.means)
        p = np.bincount(nearest, minlength=K) / max(len(x), 1)
        nz = p > 0
        reverse_kl = float(np.sum(p[nz] * np.log(K * p[nz]))) if len(x) else float("nan")
        return {"modes": int(len(captured)), "of": int(K),
                "high_quality": float(good.mean()) if len(x) else 0.0,
                "reverse_kl": reverse_kl, "captured": captured.tolist()}

    def __repr__(self):
        return f"{self.name}(K={len(self.means)}, d={self.dim}, sigma={self.sigma})"


def gaussian_1d(mean=FIGURE1_DATA_MEAN, std=FIGURE1_DATA_STD, dtype=None):
    """The 1-D data distribution of the Figure 1 setting, N(mean, std^2)."""
    return GaussianMixture([[mean]], std, dtype, name="gaussian_1d")


def ring8(radius=1.0, sigma=0.01, dtype=None):
    """Eight Gaussians on a circle (PacGAN's setting: radius 1, sigma 0.01)."""
    angles = 2 * np.pi * np.arange(8) / 8
    return GaussianMixture(radius * np.stack([np.cos(angles), np.sin(angles)], 1), sigma, dtype,
                           name="ring8")


def grid25(spacing=2.0, sigma=0.05, dtype=None):
    """25 Gaussians on the 5x5 grid {-4, -2, 0, 2, 4}^2, sigma 0.05."""
    ticks = spacing * (np.arange(5) - 2)
    return GaussianMixture(np.array([(a, b) for a in ticks for b in ticks]), sigma, dtype,
                           name="grid25")


class uniform_noise:
    """Noise prior z ~ U(low, high)^dim; the paper's MNIST prior is U(-sqrt 3, sqrt 3)^100."""

    def __init__(self, dim, low=-1.0, high=1.0, dtype=None):
        if int(dim) < 1 or not high > low:
            raise ValueError(f"uniform_noise needs dim >= 1 and high > low, got {dim}, {low}, {high}")
        self.dim, self.low, self.high = int(dim), float(low), float(high)
        self.dtype = dtype or backend.DEFAULT_DTYPE

    def __call__(self, m, rng):
        z = rng.random((m, self.dim), dtype=self.dtype)
        z *= self.high - self.low
        z += self.low
        return z

    def __repr__(self):
        return f"uniform_noise({self.dim}, {self.low}, {self.high})"


class gaussian_noise:
    """Noise prior z ~ N(0, I_dim)."""

    def __init__(self, dim, dtype=None):
        if int(dim) < 1:
            raise ValueError(f"gaussian_noise needs dim >= 1, got {dim}")
        self.dim = int(dim)
        self.dtype = dtype or backend.DEFAULT_DTYPE

    def __call__(self, m, rng):
        return rng.standard_normal((m, self.dim), dtype=self.dtype)

    def __repr__(self):
        return f"gaussian_noise({self.dim})"
