"""Exercise: the backward pass of the rectified linear unit.

    y = max(0, x)

The forward pass is written for you; it keeps the mask 1[x > 0] on the
cache stack. Your job: ``backward(grad_out)`` returns dL/dx.

Hint: dy/dx is 1 where x > 0 and 0 where x < 0. At x = 0 ReLU has a kink:
any slope in [0, 1] is a valid subgradient; take 0 (as the mask does).
The checker draws its inputs away from 0, because a finite difference that
straddles the kink measures neither slope (lesson 02 shows this trap).

Check your answer with  ``python -m minigan check-exercise relu``.
The generator of the paper's MNIST model uses two ReLU layers.
"""
import numpy as np

from minigan.layers import Layer


class ReLU(Layer):
    """y = max(0, x); no parameters."""

    def forward(self, x):
        positive = x > 0
        self._save(positive)
        return x * positive

    def backward(self, grad_out, *, input_grad=True):
        """Return dL/dx, given grad_out = dL/dy."""
        (positive,) = self._load()
        # TODO: pass the upstream gradient where the unit was active, 0 elsewhere.
        raise NotImplementedError("TODO: ReLU.backward -- return dL/dx")
