"""The corruptions of a denoising autoencoder (Vincent et al. 2008, 2010).

A denoising autoencoder is given a corrupted input x~ ~ q(x~ | x) and trained to output
the clean x: it cannot copy its input, so it must learn what clean data look like.
Two of the corruptions of Vincent et al.:

* **additive isotropic Gaussian noise**: x~ = x + sigma n, n ~ N(0, I). The result is not
  clipped to the data's range: pixels leave [0, 1] (a clean 0 becomes negative half the
  time), which is the corruption as defined; a reconstruction loss that needs targets
  in [0, 1] takes the clean x as its target, never x~.
* **masking noise**: each entry is set to 0 with probability ``fraction``, independently;
  the rest are kept unchanged (not rescaled, unlike inverted dropout).

Each function returns a new array of x's shape, dtype and backend and never changes x;
``rng`` is a random Generator of x's backend (``numpy.random.default_rng`` or
``minigan.backend.default_rng``), drawn from with the methods both NumPy's and CuPy's
Generators have (``standard_normal``, ``random``, with a ``dtype``).
"""
from __future__ import annotations

__all__ = ["gaussian_noise", "masking_noise", "CORRUPTIONS"]


def _check(x, rng, name, method):
    if not hasattr(x, "dtype") or x.dtype.kind != "f":
        raise TypeError(f"{name} expects a floating-point array, got {getattr(x, 'dtype', type(x).__name__)}")
    if not callable(getattr(rng, method, None)):
        raise TypeError(f"{name} expects a random Generator (numpy.random.default_rng(seed) or "
                        f"minigan.backend.default_rng(seed)), got {type(rng).__name__}")


def gaussian_noise(x, sigma, rng):
    """x~ = x + sigma * n with n ~ N(0, I), not clipped.

    Inputs:
    - x: array of floats (e.g. (N, D) images in [0, 1])
    - sigma: the noise's standard deviation, >= 0 (0 gives a copy of x)
    - rng: a random Generator of x's backend
    Returns: a new array of x's shape and dtype.
    """
    _check(x, rng, "gaussian_noise", "standard_normal")
    if not sigma >= 0:
        raise ValueError(f"gaussian_noise: sigma must be >= 0, got {sigma!r}")
    return x + x.dtype.type(sigma) * rng.standard_normal(x.shape, dtype=x.dtype)


def masking_noise(x, fraction, rng):
    """x~ = x * m with m_i = 0 with probability ``fraction``, else 1 (independently).

    Inputs:
    - x: array of floats
    - fraction: the probability that an entry is set to 0, in [0, 1) (0 gives a copy of x)
    - rng: a random Generator of x's backend
    Returns: a new array of x's shape and dtype.
    """
    _check(x, rng, "masking_noise", "random")
    if not 0 <= fraction < 1:
        raise ValueError(f"masking_noise: fraction must be in [0, 1), got {fraction!r}")
    kept = rng.random(x.shape, dtype=x.dtype) >= fraction          # P(u < fraction) = fraction: zeroed
    return x * kept


CORRUPTIONS = {"gaussian": gaussian_noise, "masking": masking_noise}
