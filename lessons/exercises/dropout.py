"""Exercise: the backward pass of (inverted) dropout, as used on the paper's
discriminator (keep 0.8 and scale 1.25 on its input, keep 0.5 and scale 2
further in).

    training:  y = x * mask * scale,   mask_i ~ Bernoulli(keep)
    eval:      y = x

The forward pass is written for you: it draws the mask (or uses
``fixed_mask`` when set, which is how a gradient check freezes it) and keeps
``mask * scale`` on the cache stack. Your job: ``backward(grad_out)`` returns
dL/dx.

Hint: y is linear in x with the mask held fixed, so dL/dx = dL/dy * mask *
scale -- with THE SAME mask as the forward pass (never draw a new one in
backward). In eval mode the cache holds None and the layer is the identity.

Check your answer with  ``python -m minigan check-exercise dropout``; it
freezes the mask while it measures finite differences (lesson 02 shows what
happens if you don't).
"""
import numpy as np

from minigan.layers import Layer


class Dropout(Layer):
    """Inverted dropout with keep probability ``keep`` and scale 1/keep by default."""

    def __init__(self, keep=0.5, scale=None, rng=None):
        super().__init__()
        self.keep = keep
        self.scale = 1.0 / keep if scale is None else scale
        self.rng = np.random.default_rng(rng)
        self.fixed_mask = None

    def forward(self, x):
        if not self.training:
            self._save(None)
            return x
        mask = self.fixed_mask if self.fixed_mask is not None else self.rng.random(x.shape) < self.keep
        kept_scaled = mask * self.scale
        self._save(kept_scaled)
        return x * kept_scaled

    def backward(self, grad_out, *, input_grad=True):
        """Return dL/dx, given grad_out = dL/dy."""
        (kept_scaled,) = self._load()
        if kept_scaled is None:            # eval mode: the identity
            return grad_out
        # TODO: return dL/dx using the mask (times scale) kept from forward
        raise NotImplementedError("TODO: Dropout.backward -- return dL/dx")
