"""Inverted dropout."""
from __future__ import annotations

from .. import backend
from .base import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """Inverted dropout: y = x * m * scale with m_i ~ Bernoulli(keep).

    ``scale`` defaults to 1/keep so that E[y] = x; the paper's code used
    keep 0.8 / scale 1.25 on D's input and keep 0.5 / scale 2 further in.
    Identity in eval mode. Set ``fixed_mask`` (an array of 0/1 of the input's
    shape) to freeze the mask, as a gradient check must.
    """

    def __init__(self, keep, *, scale=None, rng=None):
        super().__init__()
        if not 0 < keep <= 1:
            raise ValueError(f"Dropout keep must be in (0, 1], got {keep!r}")
        self.keep = float(keep)
        self.scale = 1.0 / self.keep if scale is None else float(scale)
        self.rng = backend.device_generator(rng, "Dropout")      # a seed, or a generator on the backend
        self.fixed_mask = None

    def forward(self, x):
        x = self._check(x)
        if not self.training or self.keep == 1.0 and self.scale == 1.0:
            self._save(None, x.shape, x.dtype)       # the identity: only what checks grad_out
            return x
        if self.fixed_mask is not None:
            if self.fixed_mask.shape != x.shape:
                raise ValueError(f"Dropout.fixed_mask has shape {self.fixed_mask.shape}, input {x.shape}")
            keep_mask = self.fixed_mask != 0
        else:
            keep_mask = self.rng.random(x.shape, dtype=x.dtype) < self.keep   # m_i ~ Bernoulli(keep)
        # m * scale in x's dtype (a float64 or int fixed_mask must not upcast a float32 batch)
        kept_scaled = keep_mask * x.dtype.type(self.scale)
        self._save(kept_scaled, x.shape, x.dtype)
        return x * kept_scaled

    def backward(self, grad_out, *, input_grad=True):
        """dL/dx = dL/dy * m * scale (the same mask as the forward)."""
        kept_scaled, shape, dtype = self._load()
        self._check_grad(grad_out, shape, dtype)
        if not input_grad:
            return None
        return grad_out if kept_scaled is None else grad_out * kept_scaled

    # -- its random draw, for a gradient check: the mask ---------------------
    def draws_random(self):
        """True in training mode, when not the identity and no ``fixed_mask`` is set:
        the next forward draws a mask."""
        return self.training and not (self.keep == 1.0 and self.scale == 1.0) and self.fixed_mask is None

    def freeze_random(self, x, rng):
        """Set ``fixed_mask`` to a mask for x's shape, m_i ~ Bernoulli(keep) drawn from
        the NumPy Generator ``rng``; returns the mask that was there."""
        token = self.fixed_mask
        self.fixed_mask = backend.array_module(x).asarray(rng.random(x.shape) < self.keep)
        return token

    def unfreeze_random(self, token):
        """Put back the ``fixed_mask`` that was there (None: draw again)."""
        self.fixed_mask = token

    def __repr__(self):
        return f"Dropout(keep={self.keep}, scale={self.scale})"


