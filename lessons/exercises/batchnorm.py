"""Exercise: the backward pass of batch normalisation (training mode).

For a batch x of m rows, each feature on its own (Ioffe and Szegedy 2015)::

    mu    = mean over the batch of x                  shape (n,)
    var   = mean over the batch of (x - mu)^2         the biased variance, shape (n,)
    sigma = sqrt(var + eps)
    xhat  = (x - mu) / sigma                          shape (m, n)
    y     = gamma * xhat + beta

The forward pass is written for you. Your job, in ``backward(grad_out)``, with
g = dL/dy of shape (m, n):

1. ADD dL/dgamma into ``self.grads["gamma"]`` and dL/dbeta into
   ``self.grads["beta"]`` (``+=``: D sees the real and the fake batch before its
   backward passes, and both terms must accumulate);
2. return dL/dx.

This is the classic one: every output row depends on every input row, through
mu and sigma. Treating mu and sigma as constants gives (gamma / sigma) g, and that
is wrong. Work it out per feature, writing dL/dxhat = gamma g:

* the direct path, x_i -> xhat_i:               (1/sigma) dL/dxhat_i
* the path through mu (dmu/dx_i = 1/m):         -(1/sigma) mean(dL/dxhat)
* the path through sigma (dsigma/dx_i = xhat_i / m, and dxhat_j/dsigma = -xhat_j/sigma):
                                                -(1/sigma) xhat_i mean(dL/dxhat * xhat)

Hints (shapes: every gradient has the shape of what it differentiates):
    dL/dbeta  = sum over the batch of g                       shape (n,)
    dL/dgamma = sum over the batch of g * xhat                shape (n,)
    dL/dx     = (gamma / sigma) (g - mean(g) - xhat * mean(g * xhat))    shape (m, n)
with mean(.) over the batch (axis 0).

Check your answer with  ``python -m minigan check-exercise batchnorm``: it
compares each part with finite differences on the whole batch (perturbing one
entry moves every row's output) and with ``minigan.layers.BatchNorm``.
"""
import numpy as np

from minigan.layers import Layer


class BatchNorm(Layer):
    """y = gamma * (x - mu) / sqrt(var + eps) + beta with the batch's mean and variance."""

    couples_rows = True        # each output row depends on the whole batch

    def __init__(self, n_features, eps=1e-5):
        super().__init__()
        self.eps = eps
        self._add_param("gamma", np.ones(n_features))
        self._add_param("beta", np.zeros(n_features))

    def forward(self, x):
        mu = x.mean(axis=0)
        var = ((x - mu) ** 2).mean(axis=0)
        sigma = np.sqrt(var + self.eps)
        xhat = (x - mu) / sigma
        self._save(xhat, sigma)
        return self.params["gamma"] * xhat + self.params["beta"]

    def backward(self, grad_out, *, input_grad=True):
        """Accumulate dL/dgamma, dL/dbeta into self.grads; return dL/dx."""
        xhat, sigma = self._load()
        gamma = self.params["gamma"]
        # TODO: self.grads["gamma"] += ...
        # TODO: self.grads["beta"] += ...
        # TODO: return dL/dx (three terms: direct, through mu, through sigma)
        raise NotImplementedError("TODO: BatchNorm.backward -- dL/dgamma, dL/dbeta and dL/dx")
