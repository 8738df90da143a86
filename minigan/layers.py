"""Layers with hand-written backward passes -- no autograd anywhere.

Every layer follows one small protocol:

* ``forward(x)`` returns the output and *pushes* what backward needs onto the
  layer's own cache stack;
* ``backward(grad_out)`` *pops* the most recent cache, **adds** dL/dtheta into
  ``grads`` (so the two terms of D's objective accumulate) and returns dL/dx;
* ``params`` and ``grads`` are dicts with the same keys; ``zero_grad()``
  zeroes the grads (lazily: it marks them, and the zeros are written on the
  next look through ``grads`` unless a backward overwrites them first, so hold
  no reference to a grads array across it); ``train()`` / ``eval()`` switch Dropout.

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

from . import backend, losses

__all__ = [
    "Layer", "Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Maxout",
    "Dropout", "Sequential", "no_grad", "uniform_init", "glorot_uniform_init",
    "MAX_PENDING", "walk_layers", "backward_params_only",
]

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


def _host_rng(rng):
    """A NumPy Generator from a Generator, an int seed or None."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def uniform_init(shape, irange, rng=None, dtype=None):
    """U(-irange, irange), the paper's (pylearn2's) ``irange`` initialiser.

    Drawn on the host with NumPy so that one seed gives the same weights on
    every backend, then moved to the active backend.
    """
    if not irange > 0:
        raise ValueError(f"irange must be > 0, got {irange!r}")
    w = _host_rng(rng).uniform(-irange, irange, size=shape)
    return backend.to_device(w, dtype=dtype or backend.DEFAULT_DTYPE)


def glorot_uniform_init(shape, rng=None, dtype=None):
    """Glorot & Bengio (2010): U(-r, r) with r = sqrt(6 / (fan_in + fan_out))."""
    return uniform_init(shape, float(np.sqrt(6.0 / (shape[0] + shape[-1]))), rng, dtype)


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
        """
        if self._unfilled:
            for name in self._unfilled:
                self._grads[name].fill(0)
            self._unfilled.clear()
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
        Looking at ``grads`` before that backward writes the zeros first, so
        ``zero_grad()`` then ``grads`` reads zeros, as always. Make your own
        additions to ``grads`` after the backward, not between zero_grad() and it.
        """
        self._zeroed = set(self._grads)
        self._unfilled = set(self._grads)

    def astype(self, dtype):
        """Cast parameters and gradients to ``dtype`` (e.g. float64 for gradcheck)."""
        for k in list(self.params):
            self.params[k] = self.params[k].astype(dtype)
            self.grads[k] = self.grads[k].astype(dtype)
        return self

    @property
    def dtype(self):
        p = next(iter(self.params.values()), None)
        return None if p is None else p.dtype

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


class ReLU(Layer):
    """y = max(0, x)."""

    def forward(self, x):
        x = self._check(x)
        positive = x > 0
        self._save(positive)
        return x * positive

    def backward(self, grad_out):
        """dL/dx = dL/dy * 1[x > 0]  (the subgradient 0 is taken at x = 0)."""
        (positive,) = self._load()
        return self._check_grad(grad_out, positive.shape) * positive


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

    def backward(self, grad_out):
        """dL/dx = dL/dy * (1 if x > 0 else alpha)."""
        (slope,) = self._load()
        return self._check_grad(grad_out, slope.shape, slope.dtype) * slope

    def __repr__(self):
        return f"LeakyReLU({self.alpha})"


class Sigmoid(Layer):
    """y = sigma(x) = 1 / (1 + exp(-x)); with e = exp(-|x|) (no overflow),
    sigma(|x|) = 1 / (1 + e) and sigma(-|x|) = e / (1 + e), precise in both tails."""

    def forward(self, x):
        y, slope = losses.sigmoid_and_slope_fast(self._check(x))
        self._save(slope)                                # sigma'(x) = sigma(x) sigma(-x) = e / (1 + e)^2
        return y

    def backward(self, grad_out):
        """dL/dx = dL/dy * y (1 - y) = dL/dy * sigma(x) sigma(-x), kept from forward as
        e / (1 + e)^2 with e = exp(-|x|) (1 - y would lose every digit where y ~ 1)."""
        (slope,) = self._load()
        return self._check_grad(grad_out, slope.shape, slope.dtype) * slope


class Tanh(Layer):
    """y = tanh(x)."""

    def forward(self, x):
        x = self._check(x)
        y = backend.array_module(x).tanh(x)
        self._save(y)
        return y

    def backward(self, grad_out):
        """dL/dx = dL/dy * (1 - y^2), with y = tanh(x) kept from forward."""
        (y,) = self._load()
        return self._check_grad(grad_out, y.shape, y.dtype) * (1 - y * y)


def max_over_pieces(z):
    """y_u = max_p z_{u,p} and the winning piece argmax_p z_{u,p} (the first
    one at a tie), for z of shape (m, units, pieces); returns (y, winner).

    The textbook version. ``Maxout`` runs ``max_over_pieces_fast``, which
    tests/test_fastpaths.py checks equal to this one.
    """
    xp = backend.array_module(z)
    winner = z.argmax(axis=2)
    return xp.take_along_axis(z, winner[..., None], axis=2)[..., 0], winner


def max_over_pieces_fast(z):
    """``max_over_pieces`` for NaN-free z in pieces - 1 elementwise passes.

    NumPy's argmax over a short last axis is a slow loop over rows; here the
    pieces are visited left to right and p takes the lead only where
    z_{u,p} is strictly larger than every earlier piece, so ties still go to
    the first maximal piece. (With a NaN, y is NaN in both versions.)
    """
    xp = backend.array_module(z)
    pieces = z.shape[2]
    y = z[..., 0].copy()
    winner = xp.zeros(y.shape, dtype=xp.int8 if pieces < 128 else xp.int64)
    for p in range(1, pieces):
        y_new = xp.maximum(y, z[..., p])
        took_lead = y_new != y                    # z_p > max(z_0 .. z_{p-1})
        winner += took_lead * (p - winner)        # winner = p where p took the lead
        y = y_new
    return y, winner


def route_to_winner(grad_y, winner, pieces):
    """dL/dz_{u,p} = dL/dy_u * 1[p = winner_u], shape (m, units, pieces): the
    one-hot product, textbook version (``Maxout`` runs ``route_to_winner_fast``)."""
    xp = backend.array_module(grad_y)
    one_hot = winner[..., None] == xp.arange(pieces)
    return one_hot * grad_y[..., None]


def route_to_winner_fast(grad_y, winner, pieces):
    """``route_to_winner`` as a scatter of dL/dy into zeros (no one-hot product)."""
    xp = backend.array_module(grad_y)
    grad_z = xp.zeros(winner.shape + (pieces,), dtype=grad_y.dtype)
    flat_index = xp.arange(0, winner.size * pieces, pieces)   # where each unit's pieces start
    flat_index += winner.reshape(-1)
    grad_z.reshape(-1)[flat_index] = grad_y.reshape(-1)
    return grad_z


class Maxout(Layer):
    """Maxout (Goodfellow et al. 2013), the paper's discriminator unit.

    z = x W + b with W of shape (n_in, units * pieces); the pieces of unit u
    are the consecutive columns u*pieces ... u*pieces + pieces - 1, and
    y_u = max_p z_{u,p}. Weights U(-irange, irange) (the paper: 0.005), or
    Glorot-uniform with fan_out = units when ``irange`` is not given; biases 0.
    """

    def __init__(self, n_in, units, pieces, *, irange=None, rng=None, dtype=None):
        super().__init__()
        self.n_in, self.units, self.pieces = int(n_in), int(units), int(pieces)
        if min(self.n_in, self.units, self.pieces) < 1:
            raise ValueError(f"Maxout needs n_in, units, pieces >= 1, got {n_in}, {units}, {pieces}")
        shape = (self.n_in, self.units * self.pieces)
        if irange is None:                     # Glorot with fan_out = units
            irange = float(np.sqrt(6.0 / (self.n_in + self.units)))
        W = uniform_init(shape, irange, rng, dtype)
        self._add_param("W", W)
        self._add_param("b", backend.array_module(W).zeros(shape[1], dtype=W.dtype))

    def forward(self, x):
        x = self._check(x, self.n_in)
        z = x @ self.params["W"]
        z += self.params["b"]
        y, winner = max_over_pieces_fast(z.reshape(len(x), self.units, self.pieces))
        self._save(x, winner)                                # winner: which piece won, (m, units)
        return y

    def backward(self, grad_out, *, input_grad=True):
        """dL/dz_{u,p} = dL/dy_u * 1[p = argmax_q z_{u,q}], then as Linear:
        dL/dx = dL/dz W^T,  dL/dW = x^T dL/dz,  dL/db = sum_i dL/dz_i.

        At a tie the gradient goes to the first maximal piece (a subgradient).
        ``input_grad=False`` skips dL/dx and returns None (as in Linear).
        """
        x, winner = self._load()
        self._check_grad(grad_out, winner.shape, x.dtype)
        grad_z = route_to_winner_fast(grad_out, winner, self.pieces).reshape(len(x), -1)
        if self.requires_grad:
            self._accumulate_product("W", x.T, grad_z)       # x^T dL/dz
            self._accumulate("b", grad_z.sum(axis=0))
        return grad_z @ self.params["W"].T if input_grad else None

    def __repr__(self):
        return f"Maxout({self.n_in}, units={self.units}, pieces={self.pieces})"


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
        self.rng = rng if hasattr(rng, "random") else backend.default_rng(rng)
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

    def backward(self, grad_out):
        """dL/dx = dL/dy * m * scale (the same mask as the forward)."""
        kept_scaled, shape, dtype = self._load()
        self._check_grad(grad_out, shape, dtype)
        return grad_out if kept_scaled is None else grad_out * kept_scaled

    def __repr__(self):
        return f"Dropout(keep={self.keep}, scale={self.scale})"


class Sequential(Layer):
    """Layers applied in order; backward runs them in reverse (the chain rule).

    ``params`` / ``grads`` are flat views ``"<index>.<name>"`` onto the
    layers' own arrays (built on access, so they never go stale).
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
            backward_params_only(self.layers[first], grad_out)
        for layer in self.layers[:first]:
            layer._drop_cache()
        return None

    def _drop_cache(self):
        for l in self.layers:
            l._drop_cache()

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
    """``layer.backward(grad_out)`` for its parameter gradients only (dL/dx not
    needed): Linear, Maxout and Sequential skip the dL/dx product; any other
    layer computes it and it is dropped. Returns None."""
    if isinstance(layer, (Linear, Maxout, Sequential)):
        layer.backward(grad_out, input_grad=False)
    else:
        layer.backward(grad_out)
