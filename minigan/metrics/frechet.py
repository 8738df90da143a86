"""The Frechet distance between two sets of features (FID: Heusel et al. 2017).

Fit a Gaussian to each set, N(mu_1, C_1) and N(mu_2, C_2), and take the Frechet
(2-Wasserstein) distance between them:

    d^2 = ||mu_1 - mu_2||^2 + Tr(C_1 + C_2 - 2 (C_1 C_2)^(1/2))

with the sample covariances C = (1/(N - 1)) sum_n (x_n - mu)(x_n - mu)^T. In the
features of an Inception network this is the FID; on MNIST the features are those
of an MNIST classifier (state which). Lower is better; 0 for identical moments.

How it is computed (float64 throughout): C_1 C_2 is not symmetric, and sqrtm of
it can come back complex from rounding. It is similar to the symmetric positive
semi-definite S = C_1^(1/2) C_2 C_1^(1/2) (conjugate by C_1^(1/2)), so

    Tr (C_1 C_2)^(1/2) = sum_i sqrt(lambda_i(S)),

with C_1^(1/2) from the eigendecomposition of C_1 (eigenvalues clipped at 0), S
symmetrised, and its eigenvalues clipped at 0 (rounding leaves them at about
-1e-16 times the largest, never more): real by construction, nothing complex
to drop. The result is not clipped: a set against itself gives 0 to rounding
(about 1e-16 of the trace for a well-conditioned covariance; for a singular one
the square roots of its rounded zero eigenvalues leave about sqrt(1e-16) = 1e-8
of the trace).

Fewer samples than feature dimensions are refused: the covariance would be
singular and its estimate meaningless (10,000 or more are recommended).
"""
from __future__ import annotations

import numpy as np

from .. import backend

__all__ = ["frechet_distance"]


def _moments(a, name):
    a = np.asarray(backend.to_host(a))
    if a.ndim != 2:
        raise ValueError(f"frechet_distance: {name} must be a 2-D (n, d) array, got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise TypeError(f"frechet_distance: {name} must hold real numbers, got dtype {a.dtype}")
    n, d = a.shape
    if n < max(d, 2):
        raise ValueError(f"frechet_distance: {name} has {n} samples but {d} feature dimensions; "
                         f"the covariance needs at least as many samples as dimensions (and at least 2); "
                         f"use more samples (10,000 recommended) or fewer features")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"frechet_distance: {name} holds NaN or infinite values")
    mu = a.mean(axis=0)
    centred = a - mu
    return mu, centred.T @ centred / (n - 1)


def _sqrt_psd(c):
    """C^(1/2) of a symmetric positive semi-definite C, eigenvalues clipped at 0."""
    w, v = np.linalg.eigh(c)
    return (v * np.sqrt(np.maximum(w, 0.0))) @ v.T


def frechet_distance(features_a, features_b):
    """d^2 = ||mu_1 - mu_2||^2 + Tr(C_1 + C_2 - 2 (C_1 C_2)^(1/2)) as a float (see the module).

    ``features_a`` (N_1, d) and ``features_b`` (N_2, d): NumPy or CuPy arrays of
    features (copied to the host, computed in float64). Raises ValueError when
    either set has fewer samples than dimensions, or holds NaN or inf.
    """
    mu1, c1 = _moments(features_a, "features_a")
    mu2, c2 = _moments(features_b, "features_b")
    if mu1.shape != mu2.shape:
        raise ValueError(f"frechet_distance: features_a have {mu1.size} dimensions but features_b "
                         f"have {mu2.size}")
    s1 = _sqrt_psd(c1)
    s = s1 @ c2 @ s1
    s = (s + s.T) / 2.0
    tr_sqrt = np.sqrt(np.maximum(np.linalg.eigvalsh(s), 0.0)).sum()   # Tr (C_1 C_2)^(1/2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(c1) + np.trace(c2) - 2.0 * tr_sqrt)
