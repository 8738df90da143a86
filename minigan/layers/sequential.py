"""Layers in a chain: forward in order, backward in reverse (the chain rule)."""
from __future__ import annotations

from .base import Layer

__all__ = ["Sequential", "walk_layers", "backward_params_only"]


class Sequential(Layer):
    """Layers applied in order; backward runs them in reverse (the chain rule).

    ``params`` / ``grads`` / ``buffers`` are flat views ``"<index>.<name>"`` onto
    the layers' own arrays (built on access, so they never go stale); so are the
    keys of ``state_dict()``.
    """

    def __init__(self, *layers):
        # no super().__init__(): params, grads and requires_grad are derived
        self.training = True
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential argument {i} is not a Layer: {layer!r}")
        self.layers = list(layers)

    @property
    def params(self):
        return {f"{i}.{k}": v for i, l in enumerate(self.layers) for k, v in l.params.items()}

    @property
    def grads(self):
        return {f"{i}.{k}": v for i, l in enumerate(self.layers) for k, v in l.grads.items()}

    @property
    def buffers(self):
        return {f"{i}.{k}": v for i, l in enumerate(self.layers) for k, v in l.buffers.items()}

    @property
    def requires_grad(self):
        return all(l.requires_grad for l in self.layers)

    @requires_grad.setter
    def requires_grad(self, flag):
        for l in self.layers:
            l.requires_grad = flag

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_out, *, input_grad=True):
        """dL/dx = J_1^T ... J_n^T dL/dy: each layer's backward, last layer first.

        ``input_grad=False`` when dL/dx is not wanted (x is data or noise, as
        in both steps of Algorithm 1): the first layer with parameters skips
        its dL/dx product, the parameter-free layers in front of it only drop
        their caches, and None is returned. The parameter gradients are the same.
        """
        if input_grad:
            for layer in reversed(self.layers):
                grad_out = layer.backward(grad_out)
            return grad_out
        first = next((i for i, l in enumerate(self.layers) if l.params), len(self.layers))
        for layer in reversed(self.layers[first + 1:]):
            grad_out = layer.backward(grad_out)
        if first < len(self.layers):
            self.layers[first].backward(grad_out, input_grad=False)
        for layer in self.layers[:first]:
            layer._drop_cache()
        return None

    def _drop_cache(self):
        for l in self.layers:
            l._drop_cache()

    # -- the gradient-check protocol: a chain is what its layers are ---------
    @property
    def couples_rows(self):
        """True if any layer couples the rows of a batch (then the chain does too)."""
        return any(getattr(l, "couples_rows", False) for l in self.layers)

    def draws_random(self):
        """True if any layer would draw random numbers on the next forward. (A
        gradient check walks a Sequential's layers and freezes each one's draws.)"""
        return any(l.draws_random() for l in self.layers)

    def zero_grad(self):
        for l in self.layers:
            l.zero_grad()

    def astype(self, dtype):
        for l in self.layers:
            l.astype(dtype)
        return self

    def train(self, mode=True):
        self.training = bool(mode)
        for l in self.layers:
            l.train(mode)
        return self

    def clear_cache(self):
        for l in self.layers:
            l.clear_cache()

    def retain_cache(self):
        for l in self.layers:
            l.retain_cache()

    @property
    def dtype(self):
        return next((l.dtype for l in self.layers if l.dtype is not None), None)

    def __repr__(self):
        inner = ",\n  ".join(repr(l) for l in self.layers)
        return f"Sequential(\n  {inner}\n)"


def walk_layers(layer, prefix=""):
    """(path, layer) for ``layer`` and, recursively, every sub-layer of a Sequential."""
    yield prefix, layer
    for i, sub in enumerate(getattr(layer, "layers", ()) or ()):
        yield from walk_layers(sub, f"{prefix}.{i}" if prefix else str(i))


def backward_params_only(layer, grad_out):
    """``layer.backward(grad_out, input_grad=False)``: the parameter gradients only,
    no dL/dx (every layer's backward takes ``input_grad``). Returns None."""
    return layer.backward(grad_out, input_grad=False)
