"""The KL divergence of a diagonal Gaussian from the standard normal, in closed form.

A VAE's encoder maps x to the mean mu and the log-variance logvar = log sigma^2 of
q(z | x) = N(mu, diag sigma^2); the prior is p(z) = N(0, I). The second term of the
VAE's loss is KL(q(z | x) || p(z)), which needs no sampling (Kingma & Welling 2014,
"Auto-Encoding Variational Bayes", Appendix B). Both are products over the J latent
dimensions, so the KL is a sum over j of one-dimensional KLs. For one dimension, with
q = N(mu, sigma^2) and p = N(0, 1),

    E_q[log q(z)] = -1/2 log(2 pi) - 1/2 log sigma^2 - 1/2 E_q[(z - mu)^2] / sigma^2
                  = -1/2 log(2 pi) - 1/2 (1 + log sigma^2),
    E_q[log p(z)] = -1/2 log(2 pi) - 1/2 E_q[z^2]
                  = -1/2 log(2 pi) - 1/2 (mu^2 + sigma^2),

    KL(q || p) = E_q[log q(z)] - E_q[log p(z)] = -1/2 (1 + log sigma^2 - mu^2 - sigma^2).

Summed over the J dimensions and averaged over the N rows of a minibatch, with
sigma^2 = exp(logvar):

    KL = (1/N) sum_n -1/2 sum_j (1 + logvar_nj - mu_nj^2 - exp(logvar_nj)),

    dKL/dmu     = mu / N,
    dKL/dlogvar = (exp(logvar) - 1) / (2 N).

Each term is >= 0 (e^v >= 1 + v) and 0 exactly at mu = 0, logvar = 0, where q is the
prior. It is computed as 1/2 (mu^2 + (expm1(logvar) - logvar)): the same number, without
the cancellation of 1 + logvar - exp(logvar) near logvar = 0.
"""
from __future__ import annotations

from .. import backend

__all__ = ["gaussian_kl", "gaussian_kl_per_example"]


def _mu_and_logvar(mu, logvar, name):
    for what, a in (("mu", mu), ("logvar", logvar)):
        if not hasattr(a, "dtype") or a.dtype.kind != "f":
            raise TypeError(f"{name} expects {what} as a floating-point array (N, J), got "
                            f"{getattr(a, 'dtype', type(a).__name__)}")
    if mu.ndim != 2 or mu.shape[0] == 0 or mu.shape[1] == 0:
        raise ValueError(f"{name} expects mu of shape (N, J) with N, J >= 1, got {tuple(mu.shape)}")
    if tuple(logvar.shape) != tuple(mu.shape) or logvar.dtype != mu.dtype:
        raise ValueError(f"{name}: logvar ({tuple(logvar.shape)}, {logvar.dtype}) must have mu's shape and "
                         f"dtype ({tuple(mu.shape)}, {mu.dtype})")
    return backend.array_module(mu)


def _kl_terms(mu, logvar, name):
    """(the per-dimension KL 1/2 (mu^2 + e^v - 1 - v), shape (N, J); expm1(logvar) = sigma^2 - 1)."""
    xp = _mu_and_logvar(mu, logvar, name)
    sigma2_minus_1 = xp.expm1(logvar)
    return (mu * mu + (sigma2_minus_1 - logvar)) / 2, sigma2_minus_1


def gaussian_kl_per_example(mu, logvar):
    """KL(N(mu_n, diag exp(logvar_n)) || N(0, I)) for each row n, summed over the latent dimensions.

    Inputs:
    - mu: (N, J) floats, the encoder's means
    - logvar: (N, J), the encoder's log-variances log sigma^2
    Returns: (N,) array of mu's dtype, in nats.
    """
    return _kl_terms(mu, logvar, "gaussian_kl_per_example")[0].sum(axis=1)


def gaussian_kl(mu, logvar):
    """KL(q(z|x) || N(0, I)) summed over latent dimensions, mean over rows, and its gradients.

    KL = (1/N) sum_n -1/2 sum_j (1 + logvar - mu^2 - exp(logvar));
    dKL/dmu = mu / N;  dKL/dlogvar = (exp(logvar) - 1) / (2 N).

    Inputs:
    - mu: (N, J) floats
    - logvar: (N, J), same shape and dtype
    Returns ``(KL, dKL/dmu, dKL/dlogvar)``: a 0-d value and two (N, J) gradients, in mu's dtype.
    """
    terms, sigma2_minus_1 = _kl_terms(mu, logvar, "gaussian_kl")
    n = mu.dtype.type(mu.shape[0])
    return terms.sum(axis=1).mean(), mu / n, sigma2_minus_1 / (2 * n)
