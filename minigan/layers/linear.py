"""The affine map y = x W + b."""
from __future__ import annotations

from .. import backend
from .base import Layer
from .init import glorot_uniform_init, uniform_init

__all__ = ["Linear"]


class Linear(Layer):
    """Affine map y = x W + b, W of shape (n_in, n_out).

    Weights are U(-irange, irange) when ``irange`` is given (the paper's
    initialiser), Glorot-uniform otherwise; the bias starts at ``bias``.
    """

    def __init__(self, n_in, n_out, *, irange=None, bias=0.0, rng=None, dtype=None):
        super().__init__()
        self.n_in, self.n_out = int(n_in), int(n_out)
        if self.n_in < 1 or self.n_out < 1:
            raise ValueError(f"Linear needs n_in >= 1 and n_out >= 1, got {n_in}, {n_out}")
        shape = (self.n_in, self.n_out)
        W = (uniform_init(shape, irange, rng, dtype) if irange is not None
             else glorot_uniform_init(shape, rng, dtype))
        self._add_param("W", W)
        self._add_param("b", backend.array_module(W).full(self.n_out, bias, dtype=W.dtype))

    per_row_cache = True                 # the cache is x: one row per input row

    def forward(self, x):
        x = self._check(x, self.n_in)
        self._save(x)
        y = x @ self.params["W"]
        y += self.params["b"]                # in place: = x W + b without a second array
        return y

    def backward(self, grad_out, *, input_grad=True):
        """dL/dx = dL/dy W^T,  dL/dW = x^T dL/dy,  dL/db = sum_i dL/dy_i.

        ``input_grad=False`` skips the dL/dx product and returns None, for an
        x that is data or noise (see ``Sequential.backward``).
        """
        (x,) = self._load()
        self._check_grad(grad_out, (len(x), self.n_out), x.dtype)
        if self.requires_grad:
            self._accumulate_product("W", x.T, grad_out)     # x^T dL/dy
            self._accumulate("b", grad_out.sum(axis=0))
        return grad_out @ self.params["W"].T if input_grad else None

    def __repr__(self):
        return f"Linear({self.n_in}, {self.n_out})"


