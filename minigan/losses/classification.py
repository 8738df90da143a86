"""Classification from logits: log-sum-exp, softmax and the softmax cross-entropy.

A classifier outputs K logits a_1..a_K per row; p(k | x) = softmax(a)_k = e^{a_k} / sum_j e^{a_j}.
Every quantity is written through the log-sum-exp, taken after subtracting the row's largest logit
(the sum then holds a term e^0 = 1, so it neither overflows nor underflows to 0):

    lse(a)          = log sum_j e^{a_j} = c + log sum_j e^{a_j - c},   c = max_j a_j
    d lse(a)/da_k   = softmax(a)_k
    log softmax(a)  = a - lse(a)
    CE(a, y)        = -log softmax(a)_y = lse(a) - a_y
    d CE / da_k     = softmax(a)_k - [k = y]

so a_y = 1000 or -1000 gives finite values and gradients, where log(softmax(a)) in floating point
gives -inf. Logits have shape (N, K); values keep the logits' dtype; means are over the N rows.
"""
from __future__ import annotations

from .. import backend

__all__ = ["logsumexp", "softmax", "log_softmax", "softmax_cross_entropy"]


def _class_logits(a, name):
    if not hasattr(a, "dtype") or a.dtype.kind != "f":
        raise TypeError(f"{name} expects floating-point logits, got {getattr(a, 'dtype', type(a))}")
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} expects logits of shape (N, K) with N, K >= 1, got {tuple(a.shape)}")
    return a


def logsumexp(logits):
    """lse(a) per row and its gradient: ``(lse, softmax)``, shapes (N,) and (N, K).

    lse(a) = c + log sum_j e^{a_j - c} with c the row's maximum; d lse / da_k = softmax(a)_k.
    """
    a = _class_logits(logits, "logsumexp")
    xp = backend.array_module(a)
    c = a.max(axis=1, keepdims=True)
    e = xp.exp(a - c)                          # every entry in (0, 1], the largest exactly 1
    s = e.sum(axis=1, keepdims=True)           # in [1, K]: its log is finite
    return (c + xp.log(s))[:, 0], e / s


def softmax(logits):
    """p_k = e^{a_k} / sum_j e^{a_j} per row, shape (N, K) (the gradient of ``logsumexp``)."""
    return logsumexp(logits)[1]


def log_softmax(logits):
    """log p_k = a_k - lse(a) per row, shape (N, K): finite where softmax rounds to 0."""
    a = _class_logits(logits, "log_softmax")
    return a - logsumexp(a)[0][:, None]


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy (1/N) sum_i -log softmax(a_i)_{y_i} and its gradient.

    ``labels``: N integers in [0, K). Returns ``(loss, dloss/dlogits)``, the gradient
    (softmax(a_i) - onehot(y_i)) / N, of the logits' shape and dtype.
    """
    a = _class_logits(logits, "softmax_cross_entropy")
    xp = backend.array_module(a)
    y = xp.asarray(labels)
    n, k = a.shape
    if y.dtype.kind not in "iu" or y.shape != (n,):
        raise ValueError(f"softmax_cross_entropy expects {n} integer labels (shape ({n},)) for logits of "
                         f"shape {tuple(a.shape)}, got {y.dtype} of shape {tuple(y.shape)}")
    if bool(((y < 0) | (y >= k)).any()):
        raise ValueError(f"softmax_cross_entropy: every label must be in [0, {k}), got "
                         f"{int(y.min())}..{int(y.max())}")
    rows = xp.arange(n)
    lse, p = logsumexp(a)
    loss = (lse - a[rows, y]).mean()           # CE = lse(a) - a_y
    grad = p                                   # a fresh array: safe to change in place
    grad[rows, y] -= 1                         # softmax - onehot(y)
    grad /= a.dtype.type(n)
    return loss, grad
