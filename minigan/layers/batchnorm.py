"""Batch normalisation (Ioffe and Szegedy 2015): each feature normalised by the batch's statistics."""
from __future__ import annotations

import numpy as np

from .. import backend
from . import base
from .base import Layer

__all__ = ["BatchNorm"]


class BatchNorm(Layer):
    """Batch normalisation of each feature, with a learned scale gamma and shift beta.

    Training mode, for a batch x of m rows (each feature on its own)::

        mu    = (1/m) sum_i x_i                    the batch mean
        var   = (1/m) sum_i (x_i - mu)^2           the biased batch variance
        sigma = sqrt(var + eps)                    eps inside the square root
        xhat  = (x - mu) / sigma
        y     = gamma * xhat + beta                gamma starts at ones, beta at zeros

    Every output row depends on every input row (``couples_rows`` is True in
    training mode), so a batch of one row is refused: its variance is 0 and its
    output would be beta whatever x is.

    Eval mode normalises by the running statistics instead, and each row on its own::

        y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta

    The running statistics are buffers (saved in checkpoints, cast by ``astype``,
    never seen by an optimizer), updated by each training-mode forward that keeps
    a cache (never inside ``no_grad()``, never in eval mode)::

        running_mean <- (1 - momentum) running_mean + momentum * mu
        running_var  <- (1 - momentum) running_var  + momentum * var * m / (m - 1)

    the unbiased variance, as in Ioffe and Szegedy's Algorithm 2 (inference uses
    Var[x] = m/(m-1) E_B[sigma_B^2]). They start at 0 and 1.

    Inputs:
    - x: (m, n_features), m >= 2 in training mode
    Returns:
    - y: (m, n_features)
    """

    def __init__(self, n_features, *, eps=1e-5, momentum=0.1, dtype=None):
        super().__init__()
        self.n_features = int(n_features)
        if self.n_features < 1:
            raise ValueError(f"BatchNorm needs n_features >= 1, got {n_features!r}")
        if not eps > 0:
            raise ValueError(f"BatchNorm eps must be > 0, got {eps!r}")
        if not 0 <= momentum <= 1:
            raise ValueError(f"BatchNorm momentum must be in [0, 1], got {momentum!r}")
        self.n_in = self.n_out = self.n_features
        self.eps, self.momentum = float(eps), float(momentum)
        dtype = dtype or backend.DEFAULT_DTYPE
        self._add_param("gamma", backend.to_device(np.ones(self.n_features), dtype=dtype))
        self._add_param("beta", backend.to_device(np.zeros(self.n_features), dtype=dtype))
        self._add_buffer("running_mean", backend.to_device(np.zeros(self.n_features), dtype=dtype))
        self._add_buffer("running_var", backend.to_device(np.ones(self.n_features), dtype=dtype))

    @property
    def couples_rows(self):
        """True in training mode (the batch statistics), False in eval mode."""
        return self.training

    def forward(self, x):
        x = self._check(x, self.n_features)
        xp = backend.array_module(x)
        gamma, beta = self.params["gamma"], self.params["beta"]
        if not self.training:
            sigma = xp.sqrt(self.buffers["running_var"] + x.dtype.type(self.eps))
            xhat = (x - self.buffers["running_mean"]) / sigma
            self._save(xhat, sigma, False)
            return gamma * xhat + beta
        m = len(x)
        if m < 2:
            raise ValueError(f"{self!r} in training mode needs a batch of at least 2 rows, got {m}: the "
                             "variance of one row is 0, so its output would be beta whatever x is; "
                             "use eval() to normalise by the running statistics")
        mu = x.mean(axis=0)
        centred = x - mu
        var = (centred * centred).mean(axis=0)                # biased: divided by m
        sigma = xp.sqrt(var + x.dtype.type(self.eps))
        xhat = centred / sigma
        if base._grad_enabled[0]:                              # a forward that keeps a cache
            self._save(xhat, sigma, True)
            r = x.dtype.type(self.momentum)
            self.buffers["running_mean"] *= 1 - r
            self.buffers["running_mean"] += r * mu
            self.buffers["running_var"] *= 1 - r
            self.buffers["running_var"] += r * var * x.dtype.type(m / (m - 1))
        return gamma * xhat + beta

    def backward(self, grad_out, *, input_grad=True):
        """With g = dL/dy (m, n) and the mean over the batch written mean(.)::

            dL/dbeta  = sum_i g_i
            dL/dgamma = sum_i g_i * xhat_i
            dL/dx     = (gamma / sigma) (g - mean(g) - xhat * mean(g * xhat))     (training mode)
            dL/dx     = (gamma / sigma) g                                         (eval mode)

        The training-mode dL/dx, from xhat = (x - mu)/sigma with mu and sigma
        functions of every row: dL/dxhat = gamma g; the path through mu gives
        -mean(dL/dxhat) / sigma; the path through sigma, with
        d sigma / d x_i = xhat_i / m, gives -xhat mean(dL/dxhat * xhat) / sigma.
        In eval mode mu and sigma are the running statistics, constants of x.
        """
        xhat, sigma, batch_stats = self._load()
        g = self._check_grad(grad_out, xhat.shape, xhat.dtype)
        if self.requires_grad:
            self._accumulate("gamma", (g * xhat).sum(axis=0))
            self._accumulate("beta", g.sum(axis=0))
        if not input_grad:
            return None
        scale = self.params["gamma"] / sigma
        if not batch_stats:
            return scale * g
        return scale * (g - g.mean(axis=0) - xhat * (g * xhat).mean(axis=0))

    def __repr__(self):
        return f"BatchNorm({self.n_features}, eps={self.eps:g}, momentum={self.momentum:g})"
