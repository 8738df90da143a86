"""Elementwise nonlinearities: ReLU, LeakyReLU, Sigmoid, Tanh."""
from __future__ import annotations

import numpy as np

from .. import backend, losses
from .base import Layer

__all__ = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh"]


class ReLU(Layer):
    """y = max(0, x)."""

    def forward(self, x):
        x = self._check(x)
        positive = x > 0
        self._save(positive, x.dtype)
        return x * positive

    def backward(self, grad_out, *, input_grad=True):
        """dL/dx = dL/dy * 1[x > 0]  (the subgradient 0 is taken at x = 0)."""
        positive, dtype = self._load()
        grad_out = self._check_grad(grad_out, positive.shape, dtype)
        return grad_out * positive if input_grad else None

    def kink_gaps(self, x):
        """|x|: the distance of each input from the kink at 0, per row."""
        return _abs_per_row(x)


class LeakyReLU(Layer):
    """y = x for x > 0, alpha x otherwise (alpha = 0.2, the usual GAN choice)."""

    def __init__(self, alpha=0.2):
        super().__init__()
        if not 0 <= alpha < 1:
            raise ValueError(f"LeakyReLU alpha must be in [0, 1), got {alpha!r}")
        self.alpha = float(alpha)

    def forward(self, x):
        x = self._check(x)
        slope = backend.array_module(x).where(x > 0, x.dtype.type(1), x.dtype.type(self.alpha))
        self._save(slope)
        return x * slope

    def backward(self, grad_out, *, input_grad=True):
        """dL/dx = dL/dy * (1 if x > 0 else alpha)."""
        (slope,) = self._load()
        grad_out = self._check_grad(grad_out, slope.shape, slope.dtype)
        return grad_out * slope if input_grad else None

    def kink_gaps(self, x):
        """|x|: the distance of each input from the kink at 0, per row."""
        return _abs_per_row(x)

    def __repr__(self):
        return f"LeakyReLU({self.alpha})"


class Sigmoid(Layer):
    """y = sigma(x) = 1 / (1 + exp(-x)); with e = exp(-|x|) (no overflow),
    sigma(|x|) = 1 / (1 + e) and sigma(-|x|) = e / (1 + e), precise in both tails."""

    def forward(self, x):
        y, slope = losses.sigmoid_and_slope(self._check(x))
        self._save(slope)                                # sigma'(x) = sigma(x) sigma(-x) = e / (1 + e)^2
        return y

    def backward(self, grad_out, *, input_grad=True):
        """dL/dx = dL/dy * y (1 - y) = dL/dy * sigma(x) sigma(-x), kept from forward as
        e / (1 + e)^2 with e = exp(-|x|) (1 - y would lose every digit where y ~ 1)."""
        (slope,) = self._load()
        grad_out = self._check_grad(grad_out, slope.shape, slope.dtype)
        return grad_out * slope if input_grad else None


class Tanh(Layer):
    """y = tanh(x)."""

    def forward(self, x):
        x = self._check(x)
        y = backend.array_module(x).tanh(x)
        self._save(y)
        return y

    def backward(self, grad_out, *, input_grad=True):
        """dL/dx = dL/dy * (1 - y^2), with y = tanh(x) kept from forward."""
        (y,) = self._load()
        grad_out = self._check_grad(grad_out, y.shape, y.dtype)
        return grad_out * (1 - y * y) if input_grad else None


def _abs_per_row(x):
    """|x| as a float64 host array of shape (rows, features): the kink gaps of ReLU and LeakyReLU."""
    host = np.asarray(backend.to_host(x), dtype=np.float64)
    return np.abs(host.reshape(len(host), -1))
