"""The layer protocol: forward pushes a cache, backward pops it and adds into ``grads``.

Every layer follows one small protocol:

* ``forward(x)`` returns the output and *pushes* what backward needs onto the
  layer's own cache stack;
* ``backward(grad_out, *, input_grad=True)`` *pops* the most recent cache,
  **adds** dL/dtheta into ``grads`` (so the two terms of D's objective
  accumulate) and returns dL/dx, or None with ``input_grad=False`` (x is data
  or noise: the dL/dx product is skipped; every layer accepts the keyword);
* ``params`` and ``grads`` are dicts with the same keys; ``zero_grad()``
  zeroes the grads, and anything written into ``grads`` after it (a penalty,
  weight decay) is added to by the next backward (see ``zero_grad`` for how it
  stays cheap); ``train()`` / ``eval()`` switch Dropout;
* what a gradient check must know, each layer says of itself (never a list of
  class names in the checker): ``couples_rows``, ``kink_gaps(x)``,
  ``draws_random()``, ``freeze_random(x, rng)`` / ``unfreeze_random(token)``.
* ``buffers``: state that is not a parameter (a running mean, a reference batch),
  registered with ``_add_buffer(name, array)``; saved and restored with the
  parameters (``state_dict()`` / ``load_state_dict(d)``, see ``minigan.state``),
  cast by ``astype`` when floating, never touched by an optimizer (optimizers
  iterate ``params`` only).
  A forward inside ``no_grad()`` must not change buffers: a batch norm updates
  its running statistics only in a training-mode forward that keeps a cache.
  The gradient checker and inference (``layers.evaluating``) run their
  forwards under ``no_grad()``, and must leave the model as they found it.
* ``generators()``: ``{attribute: generator}`` of the random generators the
  layer holds (by default every attribute that is a NumPy or CuPy generator);
  trainers save them in checkpoints and copy them in ``GAN.copy``.
* ``layers.frozen(net)`` (requires_grad False on every layer, each layer's own
  flag put back after) and ``layers.evaluating(net)`` (eval mode and
  ``no_grad()``, each layer's mode put back after) are the two ways a network
  is held fixed for a moment (``minigan/layers/sequential.py``).

Why a stack: a GAN applies D to the real batch and then to the fake batch
before any backward. With a single cache slot the second forward would
overwrite the first, and the real batch's gradient would be computed from the
fake batch's activations. With a stack, backward passes are made in reverse
order of the forwards, exactly like reverse-mode differentiation::

    a_real = D.forward(x);  a_fake = D.forward(G_z)
    D.backward(g_fake);     D.backward(g_real)       # last in, first out

Forwards made inside ``no_grad()`` push nothing (inference, finite
differences). At most ``MAX_PENDING`` caches are kept per layer; older ones are
dropped, so forgotten forwards cannot grow memory without bound.

Notation in the docstrings: x is the layer input, y the output, L the loss,
and dL/dy the upstream gradient ``grad_out``.
"""
from __future__ import annotations

import contextlib

import numpy as np

from .. import backend, state

__all__ = ["Layer", "no_grad", "MAX_PENDING", "is_generator"]

MAX_PENDING = 16
_grad_enabled = [True]


@contextlib.contextmanager
def no_grad():
    """Inside this block forwards keep no cache (no backward is possible)."""
    prev = _grad_enabled[0]
    _grad_enabled[0] = False
    try:
        yield
    finally:
        _grad_enabled[0] = prev



def is_generator(gen):
    """True for a NumPy or CuPy random generator (anything that draws with ``random``
    and is not a module or a class, such as ``numpy.random`` itself)."""
    return (gen is not None and hasattr(gen, "random") and not isinstance(gen, type)
            and type(gen).__name__ != "module")


class Layer:
    """Base class: the cache stack, params/grads bookkeeping and modes."""

    def __init__(self):
        self.params: dict = {}
        self.grads: dict = {}
        self.training = True
        self.requires_grad = True   # False: backward skips dL/dtheta (a frozen player)
        self._cache: list = []

    # -- gradients: zero_grad() owes zeros, the first look or write pays them --
    @property
    def grads(self):
        """dL/dtheta per parameter name (same keys as ``params``).

        ``zero_grad()`` only marks the arrays as zero; the zeros are written here,
        on the first look, unless a backward has overwritten the array first.
        A look also drops the marks: whatever the caller then writes into these
        arrays (``grads["W"] += penalty``) is added to by the next backward,
        never overwritten.
        """
        if self._zeroed or self._unfilled:
            for name in self._unfilled:
                self._grads[name].fill(0)
            self._unfilled.clear()
            self._zeroed.clear()          # the caller may write: backwards add from now on
        return self._grads

    @grads.setter
    def grads(self, value):
        self._grads = value
        self._zeroed: set = set()     # names of grads known to be zero: a backward may overwrite
        self._unfilled: set = set()   # ... of which the zeros are not yet written

    # -- cache stack -------------------------------------------------------
    def _save(self, *tensors):
        if _grad_enabled[0]:
            self._cache.append(tensors)
            if len(self._cache) > MAX_PENDING:
                del self._cache[0]

    def _check_grad(self, grad_out, shape, dtype=None):
        """grad_out must have the forward output's shape (a broadcast would
        silently corrupt dL/dtheta) and, where given, its dtype (a float64
        gradient would be rounded into float32 grads and upcast everything below)."""
        if getattr(grad_out, "shape", None) != tuple(shape):
            raise ValueError(f"{type(self).__name__}.backward expects grad_out of shape "
                             f"{tuple(shape)} (its forward output's), got "
                             f"{getattr(grad_out, 'shape', type(grad_out).__name__)}")
        if dtype is not None and grad_out.dtype != dtype:
            raise TypeError(f"{type(self).__name__}.backward expects grad_out of dtype "
                            f"{np.dtype(dtype).name} (its forward output's), got "
                            f"{grad_out.dtype}; cast it with .astype()")
        return grad_out

    def _load(self):
        if not self._cache:
            raise RuntimeError(
                f"{type(self).__name__}.backward called with no pending forward "
                "(every backward needs its own forward, made outside no_grad())")
        return self._cache.pop()

    def clear_cache(self):
        """Forget pending forwards (e.g. after an aborted step)."""
        self._cache.clear()

    def _drop_cache(self):
        """Pop the most recent pending forward without a backward (not needed)."""
        self._load()

    def retain_cache(self):
        """Duplicate the most recent pending cache, so that the last forward can
        be backpropagated twice (two losses through one forward, e.g. D's and
        G's objectives through the same dropped-out D(G(z)))."""
        if self._cache:
            self._cache.append(self._cache[-1])
            if len(self._cache) > MAX_PENDING:
                del self._cache[0]

    # -- parameters ----------------------------------------------------------
    def _add_param(self, name, value):
        self.params[name] = value
        self._grads[name] = backend.array_module(value).zeros_like(value)

    def _written(self, name):
        """True (and forgets the mark) if grads[name] is known to be zero, so
        that the caller may write its term instead of adding it (0 + t = t)."""
        if name in self._zeroed:
            self._zeroed.discard(name)
            self._unfilled.discard(name)
            return True
        return False

    def _accumulate(self, name, value):
        """grads[name] += value (written, not added, right after zero_grad())."""
        if self._written(name):
            self._grads[name][...] = value
        else:
            self._grads[name] += value

    def _accumulate_product(self, name, a, b):
        """grads[name] += a @ b. Right after zero_grad() the product is written
        straight into the array (0 + ab = ab): no temporary, no extra pass."""
        if self._written(name):
            backend.array_module(a).matmul(a, b, out=self._grads[name])
        else:
            self._grads[name] += a @ b

    def zero_grad(self):
        """Set every gradient to zero, in place.

        Lazily: the arrays are marked, and the next backward writes its term
        straight into them instead of adding it (the same numbers, without a
        pass that writes zeros over megabytes only for them to be overwritten).
        Looking at ``grads`` before that backward writes the zeros first and
        drops the marks, so ``zero_grad()`` then ``grads`` reads zeros, as
        always, and anything added through ``grads`` then counts::

            D.zero_grad()
            D.grads["0.W"] += weight_decay * D.params["0.W"]   # a penalty: kept
            D.forward(x)
            D.backward(g)                                      # adds its term to the penalty

        Take the arrays from ``grads`` after ``zero_grad()``: an array fetched
        before it and written to without a new look may still be overwritten.
        """
        self._zeroed = set(self._grads)
        self._unfilled = set(self._grads)

    def astype(self, dtype):
        """Cast parameters and gradients to ``dtype`` (e.g. float64 for gradcheck)."""
        for k in list(self.params):
            self.params[k] = self.params[k].astype(dtype)
            self.grads[k] = self.grads[k].astype(dtype)
        for k, v in list(self.buffers.items()):     # floating buffers follow; counts stay integers
            if v.dtype.kind == "f":
                self.buffers[k] = v.astype(dtype)
        return self

    @property
    def dtype(self):
        p = next(iter(self.params.values()), None)
        return None if p is None else p.dtype

    # -- what a gradient check learns from each layer (minigan.gradcheck) ------
    couples_rows = False
    """True when output row i depends on other rows of the batch (batch norm,
    minibatch discrimination): a gradient check then checks the whole batch and,
    to move away from kinks, re-draws the whole batch, never single rows."""

    per_row_cache = False
    """True when every array the forward caches holds one row per input row (first
    axis), so that the cache of a forward on rows a..b of a batch is those rows of
    each array (Linear: x; Maxout: x and the winning pieces). Read by the fast
    twin of the simultaneous step (``minigan/fast/gan.py``), which sends G's loss
    back through the fake rows of a pass made over real and fake rows together."""

    def kink_gaps(self, x):
        """None for a smooth layer (this default); a layer with kinks returns a
        float64 host array of shape (n, k): for each row of the input ``x`` it
        would receive, the distance of each of its k kink arguments from the
        kink (ReLU: |x|; Maxout: the gap between its top two pieces). A gradient
        check moves rows closer than its ``kink_delta`` away from them."""
        return None

    def draws_random(self):
        """Whether the next forward would draw random numbers (a Dropout mask,
        Gaussian noise, a VAE's epsilon). False here."""
        return False

    def freeze_random(self, x, rng):
        """Fix the draws the next forwards would take for input ``x``, drawing
        them from the NumPy Generator ``rng``; returns a token for
        ``unfreeze_random``. A layer that draws nothing has nothing to fix."""
        if self.draws_random():
            raise NotImplementedError(
                f"{type(self).__name__} draws random numbers but has no freeze_random(x, rng) / "
                "unfreeze_random(token): a gradient check cannot fix its draws")
        return None

    def unfreeze_random(self, token):
        """Put back what ``freeze_random`` replaced (``token`` is what was there,
        so it restores that state whatever happened since)."""
        return None

    # -- random generators (saved in checkpoints, copied by GAN.copy) -----------
    def generators(self):
        """``{attribute: generator}`` for each random generator this layer holds itself
        (not its sub-layers'): by default every attribute that is a NumPy or CuPy
        generator (anything with ``.random``). Override to name fewer or others."""
        return {name: value for name, value in vars(self).items() if is_generator(value)}

    # -- modes -----------------------------------------------------------------
    def train(self, mode: bool = True):
        self.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, x):
        return self.forward(x)

    # -- input checking at the public boundary -----------------------------
    def _check(self, x, n_features=None):
        name = type(self).__name__
        if not hasattr(x, "shape") or not hasattr(x, "dtype"):
            raise TypeError(f"{name}.forward expects an array, got {type(x).__name__}")
        if x.dtype.kind != "f":
            raise TypeError(f"{name}.forward expects a floating-point array, got dtype {x.dtype}")
        if n_features is not None:
            if x.ndim != 2 or x.shape[1] != n_features:
                raise ValueError(f"{name}.forward expects shape (batch, {n_features}), "
                                 f"got {tuple(x.shape)}")
            on_gpu = backend.array_module(next(iter(self.params.values()))) is not np
            if (backend.array_module(x) is not np) != on_gpu:   # host array into a GPU layer, or back
                there, here = ("cupy", "numpy") if on_gpu else ("numpy", "cupy")
                raise TypeError(f"{name}.forward expects a {there} array like its parameters, got a "
                                f"{here} array; move it with minigan.backend."
                                f"{'to_device' if on_gpu else 'to_host'}(x)")
            if x.dtype != self.dtype:
                raise TypeError(f"{name}.forward expects dtype {self.dtype} (its parameters' "
                                f"dtype), got {x.dtype}; cast the input or call .astype()")
        return x

    def __repr__(self):
        return f"{type(self).__name__}()"

    # -- state that is not a parameter, and the state dict ---------------------
    @property
    def buffers(self):
        """name -> array of state that is not a parameter (e.g. a running mean): saved and
        restored with the parameters, never touched by an optimizer. Register with ``_add_buffer``."""
        return self.__dict__.setdefault("_buffers", {})

    def _add_buffer(self, name, value):
        if name in self.params:
            raise ValueError(f"{type(self).__name__}: buffer {name!r} would share its name with a parameter")
        self.buffers[name] = value

    def _state_targets(self):
        return {**self.params, **self.buffers}

    def state_dict(self):
        """``{name: copy}`` of every parameter and buffer (the two never share a name)."""
        return {k: v.copy() for k, v in self._state_targets().items()}

    def check_state_dict(self, d):
        """``StateError`` unless ``d`` has exactly this layer's keys, each of its shape."""
        state.check(type(self).__name__, self._state_targets(), d, unexpected=False)

    def load_state_dict(self, d):
        """Check every key and shape of ``d``, then copy it in (onto this layer's device and dtype)."""
        state.restore(type(self).__name__, self._state_targets(), d, unexpected=False)


