"""Fast twins of maxout's max over pieces and its gradient routing
(textbook: ``minigan/layers/maxout.py``)."""
from __future__ import annotations

from .. import backend
from . import twin_of

__all__ = ["max_over_pieces_fast", "route_to_winner_fast"]


@twin_of("minigan.layers.maxout.max_over_pieces")
def max_over_pieces_fast(z):
    """``max_over_pieces`` for NaN-free z in pieces - 1 elementwise passes.

    NumPy's argmax over a short last axis is a slow loop over rows; here the
    pieces are visited left to right and p takes the lead only where
    z_{u,p} is strictly larger than every earlier piece, so ties still go to
    the first maximal piece. y is bit-identical; ``winner`` holds the same
    indices in int8 (int64 from 128 pieces on) where argmax gives int64.
    (With a NaN, y is NaN in both versions; the winners may differ.)
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


@twin_of("minigan.layers.maxout.route_to_winner")
def route_to_winner_fast(grad_y, winner, pieces):
    """``route_to_winner`` as a scatter of dL/dy into zeros (no one-hot product).

    Equal to the one-hot product for finite dL/dy (``array_equal``); where the
    product gives -0.0 (False * a negative) or NaN (False * inf or NaN) in a
    losing piece, the scatter leaves +0.0.
    """
    xp = backend.array_module(grad_y)
    grad_z = xp.zeros(winner.shape + (pieces,), dtype=grad_y.dtype)
    flat_index = xp.arange(0, winner.size * pieces, pieces)   # where each unit's pieces start
    flat_index += winner.reshape(-1)
    grad_z.reshape(-1)[flat_index] = grad_y.reshape(-1)
    return grad_z
