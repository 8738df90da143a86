"""The GAN objectives, computed from D's logits so that nothing overflows.

D outputs a logit a; D(x) = sigma(a). Every log of a probability is written
with the softplus function s(a) = log(1 + e^a), which is finite for every
finite a:

    log D      = log sigma(a)      = -s(-a)
    log(1 - D) = log sigma(-a)     = -s(a)
    d s(a)/da  = sigma(a)

so D(x) = 1 - 1e-12 or D(G(z)) = 1e-12 (logits of about +-27.6) give finite
values and gradients, where log(1 - sigmoid(a)) in floating point gives -inf.

"Ascend" and "descend": optimizers here minimise. The paper's discriminator
*ascends* V(D, G); we hand the optimizer the loss -V (times a scale), whose
gradient is -dV/da. The minimax generator *descends* log(1 - D(G(z))) and is
given that value as its loss unchanged; the non-saturating generator
*ascends* log D(G(z)) and is given -log D(G(z)).

Every function takes logits of shape (m,) or (m, 1), returns the value as a
0-d array of the logits' dtype (``float(v)`` gives a Python number) and the
gradient(s) with respect to its input logits, of the same shape and dtype.
Means are over the minibatch, the paper's (1/m) sum.
"""
from __future__ import annotations

from .. import backend
from .logistic import sigmoid, softplus

__all__ = [
    "value_function", "discriminator_loss", "bce_with_logits",
    "generator_loss_minimax", "generator_loss_nonsaturating", "GENERATOR_LOSSES",
]


def _logits(a, name):
    if not hasattr(a, "dtype") or a.dtype.kind != "f":
        raise TypeError(f"{name} expects floating-point logits, got {getattr(a, 'dtype', type(a))}")
    if a.ndim not in (1, 2) or (a.ndim == 2 and a.shape[1] != 1) or a.shape[0] == 0:
        raise ValueError(f"{name} expects logits of shape (m,) or (m, 1) with m >= 1, "
                         f"got {tuple(a.shape)}")
    return a


def value_function(real_logits, fake_logits):
    """V(D, G) estimate = (1/m) sum log D(x) + (1/m') sum log(1 - D(G(z))).

    This is what D ascends (Algorithm 1, the D step). Returns
    ``(V, dV/da_real, dV/da_fake)`` with

        dV/da_real = (1 - D(x)) / m,     dV/da_fake = -D(G(z)) / m'.
    """
    ar = _logits(real_logits, "value_function(real_logits)")
    af = _logits(fake_logits, "value_function(fake_logits)")
    m, mf = ar.shape[0], af.shape[0]
    v = -softplus(-ar).mean() - softplus(af).mean()
    return v, sigmoid(-ar) / ar.dtype.type(m), -sigmoid(af) / af.dtype.type(mf)


def bce_with_logits(logits, target):
    """Mean binary cross-entropy CE(t, sigma(a)) = -[t log sigma(a) + (1-t) log sigma(-a)].

    ``target`` is a number in [0, 1] or an array that broadcasts to the
    logits' shape (e.g. (m, 1) or (1,) for logits (m, 1); not (m,), which
    would pair every logit with every target). Returns ``(CE, dCE/da)`` with
    dCE/da = (sigma(a) - t) / m.
    """
    a = _logits(logits, "bce_with_logits")
    if isinstance(target, (int, float)) and not isinstance(target, bool):   # the trainer's labels: no sync
        if not 0 <= target <= 1:
            raise ValueError(f"bce_with_logits: target must be in [0, 1], got {target!r}")
        t = a.dtype.type(target)
    else:
        xp = backend.array_module(a)
        t = xp.asarray(target, dtype=a.dtype)
        try:
            t = xp.broadcast_to(t, a.shape)
        except ValueError:
            raise ValueError(f"bce_with_logits: target of shape {tuple(t.shape)} does not fit logits "
                             f"of shape {tuple(a.shape)} (it must broadcast to that shape)") from None
        if not bool(((t >= 0) & (t <= 1)).all()):
            raise ValueError("bce_with_logits: every target must be in [0, 1] (NaN is not)")
    loss = (t * softplus(-a) + (1 - t) * softplus(a)).mean()
    return loss, (sigmoid(a) - t) / a.dtype.type(a.shape[0])


def discriminator_loss(real_logits, fake_logits, *, scale=1.0, real_label=1.0, fake_label=0.0):
    """The loss D minimises: scale * [CE(real_label, D(x)) + CE(fake_label, D(G(z)))].

    With ``real_label = 1`` and ``fake_label = 0`` this is exactly ``-scale * V``:
    minimising it is ascending V, Algorithm 1's D step. ``scale = 0.5`` is the
    released MNIST code's 0.5 [CE(1, D(x)) + CE(0, D(G(z)))]; ``real_label < 1``
    is one-sided label smoothing (Salimans et al. 2016, Sec. 3.4), and with
    ``fake_label > 0`` too it is two-sided (which that section advises against:
    it rewards D for keeping G's samples where they are). Returns ``(loss,
    dloss/da_real, dloss/da_fake)``.
    """
    if not 0 < real_label <= 1:
        raise ValueError(f"real_label must be in (0, 1], got {real_label!r}")
    if not 0 <= fake_label < real_label:
        raise ValueError(f"fake_label must be in [0, real_label), got {fake_label!r}")
    lr, gr = bce_with_logits(_logits(real_logits, "discriminator_loss(real_logits)"), real_label)
    lf, gf = bce_with_logits(_logits(fake_logits, "discriminator_loss(fake_logits)"), fake_label)
    s = real_logits.dtype.type(scale)
    return s * (lr + lf), s * gr, s * gf


def generator_loss_minimax(fake_logits):
    """Algorithm 1 as printed: G descends (1/m) sum log(1 - D(G(z))).

    Value log(1 - D) = -s(a); gradient d/da = -sigma(a) / m = -D(G(z)) / m.
    Early in training D(G(z)) is near 0, so this gradient vanishes: the
    saturation Section 3 of the paper warns about.
    """
    a = _logits(fake_logits, "generator_loss_minimax")
    return -softplus(a).mean(), -sigmoid(a) / a.dtype.type(a.shape[0])


def generator_loss_nonsaturating(fake_logits):
    """Section 3's alternative: G ascends log D(G(z)), i.e. descends -log D(G(z)).

    Value -log D = s(-a); gradient d/da = -sigma(-a) / m = -(1 - D(G(z))) / m,
    which is largest exactly where the minimax gradient vanishes.
    """
    a = _logits(fake_logits, "generator_loss_nonsaturating")
    return softplus(-a).mean(), -sigmoid(-a) / a.dtype.type(a.shape[0])


GENERATOR_LOSSES = {
    "minimax": generator_loss_minimax,
    "nonsaturating": generator_loss_nonsaturating,
}
