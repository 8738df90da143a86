"""Fast twins of minibatch discrimination's similarities and their gradient
(textbook: ``minigan/layers/minibatch_discrimination.py``)."""
from __future__ import annotations

from .. import backend
from . import twin_of

__all__ = ["similarities_fast", "similarities_backward_fast"]


def _slices(M):
    """M (N, B, C) as C contiguous (B, N) slices M[:, :, c].T: the pair arrays below are
    (B, N, N), whose innermost axis has N entries (with B or C innermost, as in the
    textbook's (N, N, B, C), NumPy's loops run over 5 or 10 numbers at a time and the
    cost grows with N^2, whatever B and C are)."""
    return backend.array_module(M).ascontiguousarray(M.transpose(2, 1, 0))


@twin_of("minigan.layers.minibatch_discrimination.similarities")
def similarities_fast(M):
    """``similarities`` one kernel coordinate c at a time, in (B, N, N) arrays: the
    distance sum_c |M_ibc - M_jbc| is added up slice by slice, so the (N, N, B, C)
    differences are never held (C times less memory), and returned as the textbook's
    (N, N, B) layout. The same additions in the same order (c = 0, 1, ...), so the same
    bits."""
    xp = backend.array_module(M)
    n, kernels, _ = M.shape
    dist = xp.zeros((kernels, n, n), dtype=M.dtype)
    tmp = xp.empty_like(dist)
    for m in _slices(M):                                # m: (B, N)
        xp.subtract(m[:, :, None], m[:, None, :], out=tmp)
        xp.abs(tmp, out=tmp)
        dist += tmp
    c = xp.negative(dist, out=dist)
    xp.exp(c, out=c)
    c[:, xp.arange(n), xp.arange(n)] = 0                # j != i
    return xp.ascontiguousarray(c.transpose(1, 2, 0))   # (N, N, B)


@twin_of("minigan.layers.minibatch_discrimination.similarities_backward")
def similarities_backward_fast(M, c, g):
    """``similarities_backward`` one kernel coordinate c at a time, in (B, N, N) arrays:
    for each c, sign(M_ibc - M_jbc) in one buffer, times (g_ib + g_jb) c_b(i, j),
    summed over j; never the (N, N, B, C) array.

    The sign is taken as [M_ibc > M_jbc] - [M_ibc < M_jbc] (two comparisons and
    a subtraction in int8, several times faster than NumPy's ``sign`` of the
    difference; the same numbers for finite M, sign(0) = 0 included; a NaN in M
    gives 0 here, NaN there). NumPy adds up the sum over j in another order in the
    textbook's 4-d array than here, so the two agree to rounding (a few units in the
    last place of the sum), not always bit for bit."""
    xp = backend.array_module(M)
    n, kernels, dim = M.shape
    gb = xp.ascontiguousarray(g.T)                      # (B, N)
    w = gb[:, :, None] + gb[:, None, :]
    w *= c.transpose(2, 0, 1)                           # (B, N, N): (g_ib + g_jb) c_b(i, j)
    above = xp.empty(w.shape, dtype=bool)
    below = xp.empty(w.shape, dtype=bool)
    sign = xp.empty(w.shape, dtype=xp.int8)
    term = xp.empty_like(w)
    grad = xp.empty((dim, kernels, n), dtype=w.dtype)
    for k, m in enumerate(_slices(M)):                  # m: (B, N)
        xp.greater(m[:, :, None], m[:, None, :], out=above)
        xp.less(m[:, :, None], m[:, None, :], out=below)
        xp.subtract(above.view(xp.int8), below.view(xp.int8), out=sign)     # sign(M_ibc - M_jbc)
        xp.multiply(w, sign, out=term)
        xp.negative(term.sum(axis=2), out=grad[k])
    return grad.transpose(2, 1, 0)                      # (N, B, C)
