"""Layers in a chain: forward in order, backward in reverse (the chain rule).

Also the two ways a network is held fixed for a moment, each putting every
layer's own setting back afterwards (even on an error): ``frozen(net)`` (no
dL/dtheta: the other player in G's step) and ``evaluating(net)`` (eval mode
and ``no_grad()``: inference).
"""
from __future__ import annotations

import contextlib

import numpy as np

from .base import Layer, no_grad

__all__ = ["Sequential", "walk_layers", "backward_params_only", "frozen", "evaluating"]


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

    def _add_buffer(self, name, value):
        raise TypeError(f"{type(self).__name__}: a Sequential's buffers are a view of its layers' "
                        f"buffers, so a buffer {name!r} added to it would be lost; register it on a "
                        "layer (a Layer subclass's _add_buffer) and put that layer in the chain")

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

    def freeze_random(self, x, rng):
        """Walk the layers forward under ``no_grad()``, freezing the draws of each layer
        that would draw for the input that layer receives (from ``rng``). Returns the
        tokens for ``unfreeze_random``; on an error, what was frozen is put back.
        (A composite with a forward of its own can pass this down to an inner Sequential.)"""
        tokens = []
        try:
            with no_grad():
                for i, layer in enumerate(self.layers):
                    if layer.draws_random():
                        tokens.append((i, layer.freeze_random(x, rng)))
                    if i + 1 < len(self.layers):       # the last layer's output is not needed
                        x = layer.forward(x)
        except BaseException:
            self.unfreeze_random(tokens)
            raise
        return tokens

    def unfreeze_random(self, tokens):
        """Put back what ``freeze_random`` replaced, last layer first."""
        for i, token in reversed(tokens or ()):
            self.layers[i].unfreeze_random(token)

    def kink_gaps(self, x):
        """Each layer's ``kink_gaps`` for the input it receives (walked forward under
        ``no_grad()``), concatenated along axis 1; None when no layer has kinks."""
        gaps = []
        with no_grad():
            for i, layer in enumerate(self.layers):
                g = layer.kink_gaps(x)
                if g is not None:
                    gaps.append(np.asarray(g, dtype=np.float64).reshape(len(x), -1))
                if i + 1 < len(self.layers):           # the last layer's output is not needed
                    x = layer.forward(x)
        return np.concatenate(gaps, axis=1) if gaps else None

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


@contextlib.contextmanager
def frozen(net):
    """Hold ``net`` fixed: ``requires_grad = False`` on every layer (``walk_layers``), so a
    backward returns dL/dx and adds nothing into ``grads``; afterwards, even on an error,
    each layer gets back its own flag (a layer the user froze stays frozen)::

        with layers.frozen(D):
            grad_fake = D.backward(grad_logits)      # D's grads untouched
    """
    saved = [(layer, layer.requires_grad) for _, layer in walk_layers(net)]
    for layer, _ in saved:
        layer.requires_grad = False
    try:
        yield net
    finally:
        for layer, flag in saved:          # outer first: a Sequential's setter sets its layers,
            layer.requires_grad = flag     # which then get their own flags back


@contextlib.contextmanager
def evaluating(net):
    """Inference: ``net`` in eval mode (no dropout) and ``no_grad()`` (no cache, buffers
    untouched); afterwards, even on an error, each layer gets back its own mode::

        with layers.evaluating(G):
            samples = G.forward(z)
    """
    saved = [(layer, layer.training) for _, layer in walk_layers(net)]
    net.eval()
    try:
        with no_grad():
            yield net
    finally:
        for layer, mode in saved:          # outer first, as in frozen()
            layer.train(mode)


def backward_params_only(layer, grad_out):
    """``layer.backward(grad_out, input_grad=False)``: the parameter gradients only,
    no dL/dx (every layer's backward takes ``input_grad``). Returns None."""
    return layer.backward(grad_out, input_grad=False)


def backward_input_only(layer, grad_out):
    """dL/dx through ``layer`` held fixed (``frozen``): its grads untouched, each layer's own
    ``requires_grad`` back afterwards. The G step's dL/dG(z) through D. Returns dL/dx."""
    with frozen(layer):
        return layer.backward(grad_out)
