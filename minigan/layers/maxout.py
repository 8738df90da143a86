"""Maxout (Goodfellow et al. 2013): an affine map, then a max over pieces."""
from __future__ import annotations

import numpy as np

from .. import backend, fast
from ..fast.maxout import max_over_pieces_fast, route_to_winner_fast  # noqa: F401 -- the fast twins
from .base import Layer
from .init import uniform_init

__all__ = ["Maxout", "max_over_pieces", "max_over_pieces_fast", "route_to_winner", "route_to_winner_fast"]


@fast.has_twin
def max_over_pieces(z):
    """y_u = max_p z_{u,p} and the winning piece argmax_p z_{u,p} (the first
    one at a tie), for z of shape (m, units, pieces); returns (y, winner).

    Fast twin: ``minigan.fast.maxout.max_over_pieces_fast`` (no argmax).
    """
    xp = backend.array_module(z)
    winner = z.argmax(axis=2)
    return xp.take_along_axis(z, winner[..., None], axis=2)[..., 0], winner


@fast.has_twin
def route_to_winner(grad_y, winner, pieces):
    """dL/dz_{u,p} = dL/dy_u * 1[p = winner_u], shape (m, units, pieces): the
    one-hot product. Fast twin: ``minigan.fast.maxout.route_to_winner_fast`` (a scatter)."""
    xp = backend.array_module(grad_y)
    one_hot = winner[..., None] == xp.arange(pieces)
    return one_hot * grad_y[..., None]


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

    per_row_cache = True                 # the cache is x and the winning pieces: one row per input row

    def forward(self, x):
        x = self._check(x, self.n_in)
        z = x @ self.params["W"]
        z += self.params["b"]
        y, winner = max_over_pieces(z.reshape(len(x), self.units, self.pieces))
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
        grad_z = route_to_winner(grad_out, winner, self.pieces).reshape(len(x), -1)
        if self.requires_grad:
            self._accumulate_product("W", x.T, grad_z)       # x^T dL/dz
            self._accumulate("b", grad_z.sum(axis=0))
        return grad_z @ self.params["W"].T if input_grad else None

    def kink_gaps(self, x):
        """Per row of x, per unit: z_top - z_second, the gap between the two largest
        pieces of z = x W + b (a kink where two pieces tie); float64, on the host."""
        if self.pieces < 2:
            return None                                  # one piece: the affine map, no kink
        h = np.asarray(backend.to_host(x), dtype=np.float64).reshape(len(x), -1)
        W = np.asarray(backend.to_host(self.params["W"]), dtype=np.float64)
        b = np.asarray(backend.to_host(self.params["b"]), dtype=np.float64)
        z = np.sort((h @ W + b).reshape(len(h), self.units, self.pieces), axis=2)
        return z[:, :, -1] - z[:, :, -2]

    def __repr__(self):
        return f"Maxout({self.n_in}, units={self.units}, pieces={self.pieces})"


