"""The reparameterisation trick: a sample of q(z | x) written as a function of mu and logvar.

A VAE's encoder gives the mean mu and the log-variance logvar = log sigma^2 of
q(z | x) = N(mu, diag sigma^2), and the decoder needs a sample z ~ q(z | x). Drawn
directly, z is a random number whose dependence on mu and logvar has no derivative to
backpropagate: the loss E_q[-log p(x | z)] depends on mu and logvar only through the
distribution the sample came from. Kingma & Welling (2014, "Auto-Encoding Variational
Bayes", Section 2.4) move the randomness into a noise variable that does not depend
on the parameters:

    eps ~ N(0, I),    z = mu + sigma * eps,    sigma = exp(logvar / 2),

which has the same distribution N(mu, diag sigma^2). Now E_q[f(z)] = E_eps[f(mu + sigma eps)]:
the expectation is over a fixed distribution, the sample z is a differentiable function of
mu and logvar for each eps, and a Monte Carlo estimate of the gradient is the ordinary
chain rule through that function, one eps per row:

    dL/dmu     = dL/dz,
    dL/dlogvar = dL/dz * dz/dsigma * dsigma/dlogvar = dL/dz * eps * sigma / 2.

eps is an input here, drawn by the caller (``rng.standard_normal(mu.shape, dtype=mu.dtype)``):
a gradient check holds it fixed, so that every forward of the check takes the same eps and
z is a deterministic function of (mu, logvar), which is exactly the function whose
derivative the trick uses.

A function pair in the style of CS231n: ``forward`` returns the output and a cache,
``backward`` takes the upstream gradient and that cache.
"""
from __future__ import annotations

from .. import backend

__all__ = ["reparameterise_forward", "reparameterise_backward"]


def reparameterise_forward(mu, logvar, eps):
    """z = mu + sigma * eps with sigma = exp(logvar / 2).

    Inputs:
    - mu: (N, J) floats, the means of q(z | x)
    - logvar: (N, J), the log-variances log sigma^2
    - eps: (N, J), a draw of N(0, I) made by the caller (fixed for a gradient check)
    All three of one shape and one floating dtype.
    Returns a tuple of:
    - z: (N, J), a sample of N(mu, diag sigma^2)
    - cache: (eps, sigma), what the backward pass needs
    """
    for what, a in (("mu", mu), ("logvar", logvar), ("eps", eps)):
        if not hasattr(a, "dtype") or a.dtype.kind != "f":
            raise TypeError(f"reparameterise_forward expects {what} as a floating-point array, got "
                            f"{getattr(a, 'dtype', type(a).__name__)}")
        if tuple(a.shape) != tuple(mu.shape) or a.dtype != mu.dtype:
            raise ValueError(f"reparameterise_forward: {what} ({tuple(a.shape)}, {a.dtype}) must have mu's "
                             f"shape and dtype ({tuple(mu.shape)}, {mu.dtype}); draw eps with "
                             "rng.standard_normal(mu.shape, dtype=mu.dtype)")
    sigma = backend.array_module(mu).exp(logvar / 2)
    return mu + sigma * eps, (eps, sigma)


def reparameterise_backward(grad_z, cache):
    """dL/dmu = dL/dz;  dL/dlogvar = dL/dz * eps * sigma / 2.

    Inputs:
    - grad_z: (N, J), the upstream gradient dL/dz
    - cache: (eps, sigma) from ``reparameterise_forward``
    Returns a tuple of:
    - grad_mu: (N, J), a new array (adding the KL's gradient into it leaves grad_z alone)
    - grad_logvar: (N, J)
    """
    eps, sigma = cache
    if getattr(grad_z, "shape", None) != tuple(eps.shape):
        raise ValueError(f"reparameterise_backward expects grad_z of shape {tuple(eps.shape)} (z's), got "
                         f"{getattr(grad_z, 'shape', type(grad_z).__name__)}")
    return grad_z.copy(), grad_z * eps * sigma / 2
