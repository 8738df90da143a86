"""Virtual batch normalisation (Salimans et al. 2016, section 3.4): every example normalised
with the statistics of a fixed reference batch, blended with its own.

Two pieces. ``VirtualBatchNorm`` is the normalising layer: the first B rows of its input
are the reference batch (as it arrives at this layer), the rest are live examples.
``VirtualBatch(net, reference)`` wraps a network holding such layers: it keeps the
reference INPUTS of ``net`` (B rows drawn once, a buffer saved in checkpoints) and runs
``net`` on concat(reference, x) at every forward, so that the reference batch goes
through the current weights and its statistics change with them, as in the released
code (imagenet/model.py). It returns the live rows only.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .base import Layer
from .sequential import walk_layers

__all__ = ["VirtualBatchNorm", "VirtualBatch"]


class VirtualBatchNorm(Layer):
    """Virtual batch normalisation of each feature; gamma ~ N(1, 0.02), beta 0 (the released code's).

    The input holds the reference batch first: rows 0..B-1 are the reference r, the
    others live examples x_i (B = ``reference_rows``, set by the ``VirtualBatch`` that
    holds this layer). Each feature on its own, with a = 1/(B+1) and c = B/(B+1)::

        mu_R = (1/B) sum_r u_r,   s_R = (1/B) sum_r u_r^2          the reference's mean and E[u^2]
        reference row r:  mu = mu_R,                s = s_R
        live row i:       mu = a x_i + c mu_R,      s = a x_i^2 + c s_R     (the 1/(B+1) blend)
        sigma = sqrt(eps + s - mu^2),   xhat = (v - mu) / sigma,   y = gamma * xhat + beta

    with v the row itself (u_r or x_i). A live row depends on itself and the reference
    rows only, never on another live row; every row depends on the reference, so
    ``couples_rows`` is True. Train and eval mode are the same (no running statistics).

    Inputs:
    - x: (B + n, n_features): the reference rows as they arrive here, then n live rows
    Returns:
    - y: (B + n, n_features)
    """

    couples_rows = True

    def __init__(self, n_features, *, eps=1e-5, rng=None, dtype=None):
        super().__init__()
        self.n_features = int(n_features)
        if self.n_features < 1:
            raise ValueError(f"VirtualBatchNorm needs n_features >= 1, got {n_features!r}")
        if not eps > 0:
            raise ValueError(f"VirtualBatchNorm eps must be > 0, got {eps!r}")
        self.n_in = self.n_out = self.n_features
        self.eps = float(eps)
        self.reference_rows = None        # B: set by VirtualBatch (or by hand, for a check of this layer alone)
        host = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        dtype = dtype or backend.DEFAULT_DTYPE
        self._add_param("gamma", backend.to_device(host.normal(1.0, 0.02, self.n_features), dtype=dtype))
        self._add_param("beta", backend.to_device(np.zeros(self.n_features), dtype=dtype))

    def forward(self, x):
        x = self._check(x, self.n_features)
        B = self.reference_rows
        if B is None:
            raise ValueError(f"{self!r} does not know which rows of its input are the reference batch: "
                             "put its network in minigan.layers.VirtualBatch(net, reference), which "
                             "sets reference_rows")
        if len(x) < B:
            raise ValueError(f"{self!r} expects the {B} reference rows first, then the live rows; "
                             f"got {len(x)} rows")
        xp = backend.array_module(x)
        dt = x.dtype.type
        a, c = dt(1.0 / (B + 1)), dt(B / (B + 1))
        ref, live = x[:B], x[B:]
        mu_R, s_R = ref.mean(axis=0), (ref * ref).mean(axis=0)
        mu = xp.concatenate([xp.broadcast_to(mu_R, ref.shape), a * live + c * mu_R])
        s = xp.concatenate([xp.broadcast_to(s_R, ref.shape), a * live * live + c * s_R])
        sigma = xp.sqrt(dt(self.eps) + s - mu * mu)
        xhat = (x - mu) / sigma
        self._save(x, mu, sigma, xhat)
        return self.params["gamma"] * xhat + self.params["beta"]

    def backward(self, grad_out, *, input_grad=True):
        """With g = dL/dy, h = gamma g = dL/dxhat, and for every row (v, mu, s, sigma) as in forward
        (sigma^2 = eps + s - mu^2, so d sigma/d mu = -mu/sigma and d sigma/d s = 1/(2 sigma))::

            dL/dbeta  = sum over all rows of g,   dL/dgamma = sum over all rows of g * xhat
            dL/dmu    = -h/sigma + h xhat mu / sigma^2         (per row, through v - mu and sigma)
            dL/ds     = -h xhat / (2 sigma^2)
            live row i:      dL/dx_i = h_i/sigma_i + a dL/dmu_i + 2 a x_i dL/ds_i
            reference stats: dL/dmu_R = sum_r dL/dmu_r + c sum_i dL/dmu_i
                             dL/ds_R  = sum_r dL/ds_r  + c sum_i dL/ds_i
            reference row r: dL/du_r = h_r/sigma_R + dL/dmu_R / B + 2 u_r dL/ds_R / B

        The live rows' terms through mu_R and s_R are the gradient through the reference
        statistics: with the reference batch recomputed from the current weights at every
        step, they reach the weights below this layer through the reference rows.
        """
        x, mu, sigma, xhat = self._load()
        g = self._check_grad(grad_out, x.shape, x.dtype)
        if self.requires_grad:
            self._accumulate("gamma", (g * xhat).sum(axis=0))
            self._accumulate("beta", g.sum(axis=0))
        if not input_grad:
            return None
        B = self.reference_rows
        dt = x.dtype.type
        a, c = dt(1.0 / (B + 1)), dt(B / (B + 1))
        h = g * self.params["gamma"]
        h_over_sigma = h / sigma
        d_mu = -h_over_sigma + h_over_sigma * xhat * mu / sigma
        d_s = -h_over_sigma * xhat / (2 * sigma)
        dx = h_over_sigma
        dx[B:] += a * d_mu[B:] + 2 * a * x[B:] * d_s[B:]
        d_mu_R = d_mu[:B].sum(axis=0) + c * d_mu[B:].sum(axis=0)
        d_s_R = d_s[:B].sum(axis=0) + c * d_s[B:].sum(axis=0)
        dx[:B] += d_mu_R / B + 2 * x[:B] * d_s_R / B
        return dx

    def __repr__(self):
        return f"VirtualBatchNorm({self.n_features}, eps={self.eps:g})"


class VirtualBatch(Layer):
    """``net`` run on its fixed reference inputs and the live batch together; the live rows come out.

    ``reference``: the reference INPUTS of ``net`` (B >= 2 rows, e.g. B noise vectors for a
    G), drawn once and kept as the buffer ``"reference"`` (saved and restored with the
    parameters, cast by ``astype``). Each ``VirtualBatchNorm`` inside ``net`` is told that
    the first B rows of its input are the reference batch.

    forward(x):  y_all = net(concat(reference, x));  return y_all[B:]
    backward(g): dL/dy_all = concat(0 (B rows), g); net's backward with it; return dL/dx_all[B:]

    The reference rows carry no loss of their own (zeros), but their statistics feed every
    live row, so the parameters get gradient through the reference rows too. Live rows
    do not depend on each other (``couples_rows`` False). ``params``, ``grads`` and the
    other buffers are ``net``'s, under its own keys; ``layers`` is ``[net]``.

    Kinks: a ReLU inside ``net`` sees the reference rows too, and a parameter's central
    difference moves them. ``kink_gaps(x)`` is therefore each live row's own gaps and,
    as one more column for every row, the smallest gap of any reference row.

    Inputs:
    - x: (n, n_in) live rows (noise for a G)
    Returns:
    - y: (n, n_out)
    """

    def __init__(self, net, reference):
        # no super().__init__(): params, grads and requires_grad are the net's
        if not isinstance(net, Layer):
            raise TypeError(f"VirtualBatch wraps a Layer, got {type(net).__name__}")
        self.net = net
        self.layers = [net]
        self.training = True
        self._cache = []
        norms = [layer for _, layer in walk_layers(net) if isinstance(layer, VirtualBatchNorm)]
        if not norms:
            raise ValueError(f"VirtualBatch: {type(net).__name__} holds no VirtualBatchNorm layer, so the "
                             "reference batch would change nothing")
        if not hasattr(reference, "shape") or len(reference.shape) != 2 or reference.shape[0] < 2:
            raise ValueError("VirtualBatch needs a reference of shape (B, n_in) with B >= 2 rows, got "
                             f"{getattr(reference, 'shape', type(reference).__name__)}")
        dtype = net.dtype or backend.DEFAULT_DTYPE
        self._reference = backend.to_device(backend.to_host(reference), dtype=dtype)
        for layer in norms:
            layer.reference_rows = len(self._reference)

    @property
    def reference(self):
        """The B fixed reference inputs of ``net``."""
        return self._reference

    # -- what the net holds, under its own keys, and the reference buffer -------
    @property
    def params(self):
        return self.net.params

    @property
    def grads(self):
        return self.net.grads

    @property
    def buffers(self):
        return {"reference": self._reference, **self.net.buffers}

    def _add_buffer(self, name, value):
        raise TypeError(f"VirtualBatch: its buffers are the reference and {type(self.net).__name__}'s; "
                        f"register {name!r} on a layer of the net")

    @property
    def requires_grad(self):
        return self.net.requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        self.net.requires_grad = flag

    @property
    def dtype(self):
        return self.net.dtype

    def zero_grad(self):
        self.net.zero_grad()

    def astype(self, dtype):
        self.net.astype(dtype)
        self._reference = self._reference.astype(dtype)
        return self

    def train(self, mode=True):
        self.training = bool(mode)
        self.net.train(mode)
        return self

    # -- forward and backward -----------------------------------------------------
    def _with_reference(self, x):
        x = self._check(x)
        ref = self._reference
        if x.ndim != 2 or x.shape[1] != ref.shape[1]:
            raise ValueError(f"VirtualBatch.forward expects shape (batch, {ref.shape[1]}) like its "
                             f"reference, got {tuple(x.shape)}")
        if backend.array_module(x) is not backend.array_module(ref):
            raise TypeError("VirtualBatch.forward expects an array on the device of its reference "
                            "(minigan.backend.to_device / to_host)")
        if x.dtype != ref.dtype:
            raise TypeError(f"VirtualBatch.forward expects dtype {ref.dtype} (its reference's), got "
                            f"{x.dtype}; cast the input or call .astype()")
        return backend.array_module(x).concatenate([ref, x])

    def forward(self, x):
        y = self.net.forward(self._with_reference(x))
        B = len(self._reference)
        self._save(len(x), y.shape[1:], y.dtype)
        return y[B:]

    def backward(self, grad_out, *, input_grad=True):
        """dL/dy_all = concat(zeros for the B reference rows, dL/dy); ``net``'s backward
        adds dL/dtheta (through live and reference rows) and gives dL/dx_all, of which the
        live rows' part is dL/dx (the reference is a constant: ``input_grad=False`` skips it all)."""
        n, tail, dtype = self._load()
        g = self._check_grad(grad_out, (n, *tail), dtype)
        xp = backend.array_module(g)
        full = xp.concatenate([xp.zeros((len(self._reference), *tail), dtype=dtype), g])
        dx = self.net.backward(full, input_grad=input_grad)
        return None if dx is None else dx[len(self._reference):]

    def clear_cache(self):
        self._cache.clear()
        self.net.clear_cache()

    def _drop_cache(self):
        self._load()
        self.net._drop_cache()

    def retain_cache(self):
        super().retain_cache()
        self.net.retain_cache()

    # -- the gradient-check protocol --------------------------------------------------
    couples_rows = False

    def draws_random(self):
        return self.net.draws_random()

    def freeze_random(self, x, rng):
        """Freeze ``net``'s draws for concat(reference, x): the reference rows get theirs too."""
        return self.net.freeze_random(self._with_reference(x), rng)

    def unfreeze_random(self, token):
        self.net.unfreeze_random(token)

    def kink_gaps(self, x):
        """Each live row's gaps inside ``net``, and one more column: the smallest gap of any
        reference row (a parameter's central difference moves the reference rows, and
        through their statistics every live row)."""
        gaps = self.net.kink_gaps(self._with_reference(x))
        if gaps is None:
            return None
        B = len(self._reference)
        gaps = np.asarray(gaps, dtype=np.float64).reshape(B + len(x), -1)
        worst_ref = gaps[:B].min() if gaps.shape[1] else np.inf
        return np.concatenate([gaps[B:], np.full((len(x), 1), worst_ref)], axis=1)

    def __repr__(self):
        inner = "\n  ".join(repr(self.net).splitlines())
        return f"VirtualBatch(\n  {inner},\n  reference={tuple(self._reference.shape)}\n)"
