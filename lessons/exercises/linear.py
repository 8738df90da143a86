"""Exercise: the backward pass of a fully connected (affine) layer.

    y = x W + b,   x: (m, n_in),  W: (n_in, n_out),  b: (n_out,),  y: (m, n_out)

The forward pass is written for you. Your job, in ``backward(grad_out)``:

1. ADD dL/dW into ``self.grads["W"]`` and dL/db into ``self.grads["b"]``
   (add with ``+=``, do not assign: D is applied to the real batch and to the
   fake batch before its backward passes, and both terms must accumulate);
2. return dL/dx.

Hints (write them out with indices if unsure, y_ij = sum_k x_ik W_kj + b_j):
    dL/dx = dL/dy W^T          shape (m, n_in)
    dL/dW = x^T dL/dy          shape (n_in, n_out)
    dL/db = sum over the batch of dL/dy   shape (n_out,)
Every gradient has the shape of the thing it differentiates.

Check your answer with  ``python -m minigan check-exercise linear``: it
tells you which of dL/dx, dL/dW, dL/db is wrong, and whether your
parameter gradients accumulate.
"""
import numpy as np

from minigan.layers import Layer


class Linear(Layer):
    """y = x W + b, weights U(-irange, irange), bias 0."""

    def __init__(self, n_in, n_out, irange=0.5, rng=None):
        super().__init__()
        rng = np.random.default_rng(rng)
        self._add_param("W", rng.uniform(-irange, irange, size=(n_in, n_out)))
        self._add_param("b", np.zeros(n_out))

    def forward(self, x):
        self._save(x)
        return x @ self.params["W"] + self.params["b"]

    def backward(self, grad_out, *, input_grad=True):
        """Accumulate dL/dW, dL/db into self.grads; return dL/dx."""
        (x,) = self._load()
        W = self.params["W"]
        # TODO: self.grads["W"] += ...
        # TODO: self.grads["b"] += ...
        # TODO: return dL/dx
        raise NotImplementedError("TODO: Linear.backward -- dL/dW, dL/db and dL/dx")
