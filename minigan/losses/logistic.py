"""The logistic function and softplus, stable for every finite input.

    sigma(a) = 1 / (1 + e^{-a}),   s(a) = log(1 + e^a),   d s(a)/da = sigma(a)
"""
from __future__ import annotations

from .. import backend

__all__ = ["softplus", "sigmoid", "sigmoid_and_slope", "sigmoid_and_slope_fast"]


def softplus(a):
    """s(a) = log(1 + e^a) = max(a, 0) + log1p(e^{-|a|}), stable for all a."""
    xp = backend.array_module(a)
    return xp.maximum(a, 0) + xp.log1p(xp.exp(-xp.abs(a)))


def sigmoid(a):
    """sigma(a) = 1 / (1 + e^{-a}), precise in both tails (see ``sigmoid_and_slope``)."""
    return sigmoid_and_slope(a)[0]


def sigmoid_and_slope(a):
    """(sigma(a), sigma'(a)) with e = e^{-|a|} (no overflow for any a):

        sigma(|a|) = 1 / (1 + e),   sigma(-|a|) = e / (1 + e),   sigma'(a) = e / (1 + e)^2.

    Full relative precision in both tails: sigma(-20) is 2.06e-9 in float32 too
    (the form (1 + tanh(a/2)) / 2 rounds it to 0, and with it the minimax G
    gradient of Section 3 where D is winning). The two halves are joined by
    arithmetic, not ``where`` (several times slower on mixed signs).
    """
    xp = backend.array_module(a)
    e = xp.exp(-xp.abs(a))                     # e = exp(-|a|), in (0, 1]
    r = 1 / (1 + e)                            # sigma(|a|)
    er = e * r                                 # sigma(-|a|)
    y = er + (a >= 0) * (r - er)               # sigma(a): sigma(|a|) where a >= 0, else sigma(-|a|)
    return y, er * r                           # sigma'(a) = sigma(|a|) sigma(-|a|)


def sigmoid_and_slope_fast(a):
    """``sigmoid_and_slope`` for arrays of one or more dimensions, in three buffers
    instead of about ten temporaries (the Sigmoid layer runs it every iteration):
    the same operations in the same order, so the same bits (tests/test_fastpaths.py)."""
    if getattr(a, "ndim", 0) == 0:
        return sigmoid_and_slope(a)
    xp = backend.array_module(a)
    e = xp.abs(a)
    xp.negative(e, out=e)
    xp.exp(e, out=e)                           # e = exp(-|a|)
    r = e + a.dtype.type(1)
    xp.divide(a.dtype.type(1), r, out=r)       # r = sigma(|a|)
    er = e * r                                 # sigma(-|a|)
    slope = xp.multiply(er, r, out=e)          # sigma'(a), in e's buffer (e is done with)
    y = xp.subtract(r, er, out=r)              # then sigma(a) in r's
    y *= a >= 0
    y += er
    return y, slope

