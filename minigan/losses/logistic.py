"""The logistic function and softplus, stable for every finite input.

    sigma(a) = 1 / (1 + e^{-a}),   s(a) = log(1 + e^a),   d s(a)/da = sigma(a)
"""
from __future__ import annotations

from .. import backend, fast
from ..fast.logistic import sigmoid_and_slope_fast  # noqa: F401 -- the fast twin

__all__ = ["softplus", "sigmoid", "sigmoid_and_slope", "sigmoid_and_slope_fast"]


def softplus(a):
    """s(a) = log(1 + e^a) = max(a, 0) + log1p(e^{-|a|}), stable for all a."""
    xp = backend.array_module(a)
    return xp.maximum(a, 0) + xp.log1p(xp.exp(-xp.abs(a)))


def sigmoid(a):
    """sigma(a) = 1 / (1 + e^{-a}), precise in both tails (see ``sigmoid_and_slope``)."""
    return sigmoid_and_slope(a)[0]


@fast.has_twin
def sigmoid_and_slope(a):
    """(sigma(a), sigma'(a)) with e = e^{-|a|} (no overflow for any a):

        sigma(|a|) = 1 / (1 + e),   sigma(-|a|) = e / (1 + e),   sigma'(a) = e / (1 + e)^2.

    Full relative precision in both tails: sigma(-20) is 2.06e-9 in float32 too
    (the form (1 + tanh(a/2)) / 2 rounds it to 0, and with it the minimax G
    gradient of Section 3 where D is winning). The two halves are joined by
    arithmetic, not ``where`` (several times slower on mixed signs).
    Fast twin: ``minigan.fast.logistic.sigmoid_and_slope_fast`` (three buffers).
    """
    xp = backend.array_module(a)
    e = xp.exp(-xp.abs(a))                     # e = exp(-|a|), in (0, 1]
    r = 1 / (1 + e)                            # sigma(|a|)
    er = e * r                                 # sigma(-|a|)
    y = er + (a >= 0) * (r - er)               # sigma(a): sigma(|a|) where a >= 0, else sigma(-|a|)
    return y, er * r                           # sigma'(a) = sigma(|a|) sigma(-|a|)
