"""Exercise: the backward pass of the logistic sigmoid.

    y = sigma(x) = 1 / (1 + exp(-x))

The forward pass is written for you; it keeps y on the cache stack.
Your job: ``backward(grad_out)`` returns dL/dx given dL/dy = ``grad_out``.

Hint: d sigma(x) / dx = sigma(x) (1 - sigma(x)) = y (1 - y), elementwise,
so dL/dx = dL/dy * y * (1 - y). The sigmoid is D's last step: D(x) = sigma(a).

Check your answer with

    python -m minigan check-exercise sigmoid            # this file
    python -m minigan check-exercise sigmoid my_copy.py # your own copy

The checker compares your dL/dx with central finite differences and with
``minigan.layers.Sigmoid`` (the reference solution -- try not to peek).
"""
import numpy as np

from minigan.layers import Layer


class Sigmoid(Layer):
    """y = 1 / (1 + exp(-x)); no parameters."""

    def forward(self, x):
        # (1 + tanh(x/2)) / 2 is the same function and never overflows exp
        y = 0.5 * (1.0 + np.tanh(0.5 * x))
        self._save(y)          # push what backward needs onto this layer's cache stack
        return y

    def backward(self, grad_out, *, input_grad=True):
        """Return dL/dx, given grad_out = dL/dy (same shape as y)."""
        (y,) = self._load()    # pop the cache pushed by the matching forward
        # TODO: compute dL/dx from grad_out and y, and return it.
        raise NotImplementedError("TODO: Sigmoid.backward -- return dL/dx = dL/dy * dy/dx")
