"""Fast twin of momentum SGD's step (textbook: ``minigan/optim/sgd.py``).

``SGD.step`` calls ``momentum_update_all``, which runs, for each parameter,
``momentum_update(theta, v, g, lr, mu)``:

    v     <- mu v - lr g
    theta <- theta + v

and then records sum g^2 and sum theta^2 (the trainer's gradient norm and
divergence check), with velocities below ``SGD.FLUSH_BELOW`` set to zero first
every ``SGD.FLUSH_EVERY`` steps on the CPU. ``momentum_update_all_fast`` does all
of it in one pass over memory (``momentum_update_many``).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import backend
from . import textbook, twin_of

__all__ = ["momentum_update_all_fast", "momentum_update_many", "momentum_update_fast"]


@twin_of("minigan.optim.sgd.momentum_update_all")
def momentum_update_all_fast(updates, lr, mu, flush_below=None):
    """``momentum_update_all`` with every C-contiguous NumPy parameter updated by
    ``momentum_update_many`` (fused, chunked, optionally threaded); a CuPy array or a
    strided view takes the textbook update (``momentum_update_all`` itself).

    The same parameters and velocities, bit for bit, and the same flushing. What
    differs: the sums of squares of the fused parameters are Python floats, float64
    sums of each 64k chunk's float32 (or float64) dot product, where the textbook
    records one dot product per parameter as a 0-d array of the parameter's dtype;
    the two agree to the dtype's rounding (about 1e-7 relative in float32), so the
    gradient norms in the history may differ in their last digits.
    """
    fused, rest = [], []
    for k, theta, v, g in updates:
        contiguous = isinstance(theta, np.ndarray) and all(a.flags.c_contiguous for a in (theta, v, g))
        (fused if contiguous else rest).append((k, theta, v, g))
    sums = textbook(momentum_update_all_fast)(rest, lr, mu, flush_below) if rest else {}
    if fused:
        sums.update(momentum_update_many(fused, lr, mu, flush_below=flush_below))
    return {k: sums[k] for k, _, _, _ in updates}         # in the parameters' order


_CHUNK = 1 << 16


def _momentum_chunks(work, lr, mu, buf, flush_below=None):
    """``momentum_update`` on a list of (name, theta, v, g) chunks (1-D views), each
    while it is in the CPU cache, plus sum g^2 and sum theta^2 of every chunk.
    ``flush_below``: first set velocities smaller than this in magnitude to 0."""
    sums = {}
    small = np.empty(len(buf), dtype=bool) if flush_below is not None else None
    for k, theta, v, g in work:
        lr_g = buf[:len(g)]
        if flush_below is not None:
            np.less(np.abs(v, out=lr_g), flush_below, out=small[:len(v)])
            if small[:len(v)].any():
                np.copyto(v, 0, where=small[:len(v)])
        v *= mu
        np.multiply(g, lr, out=lr_g)          # g is read into the cache here ...
        g_sq = float(np.dot(g, g))            # ... and its sum of squares taken from there
        v -= lr_g
        theta += v
        theta_sq = float(np.dot(theta, theta))
        a, b = sums.get(k, (0.0, 0.0))
        sums[k] = (a + g_sq, b + theta_sq)
    return sums


_pool = {"n": 0, "executor": None}


def _executor(n):
    if _pool["n"] != n:
        if _pool["executor"] is not None:
            _pool["executor"].shutdown(wait=True)
        _pool["executor"] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="minigan-optim")
        _pool["n"] = n
    return _pool["executor"]


def momentum_update_many(params, lr, mu, *, chunk=_CHUNK, threads=None, flush_below=None):
    """``momentum_update`` (the textbook twin, ``minigan.optim.sgd``) for C-contiguous
    NumPy arrays ``[(name, theta, v, g), ...]``, fused and spread over threads;
    returns {name: (sum g^2, sum theta^2 after)}.

    A weight matrix is several MB: the textbook version streams it through
    memory four times, and the trainer's gradient norm and divergence check
    would stream g and theta once more each. Here each chunk of 64k numbers
    (256 kB in float32) of g, v and theta is read once and every operation,
    the two sums of squares included, runs on it while it is in the cache.
    The chunks are shared among ``threads`` threads (by default
    ``backend.num_threads()``: ``MINIGAN_NUM_THREADS``, else 1; NumPy releases
    the GIL inside each operation). The same
    operations in the same order as ``momentum_update``: the same bits.

    ``flush_below`` (SGD passes 1e-30 every ``SGD.FLUSH_EVERY`` steps) first sets
    the velocities smaller than it in magnitude to zero, as ``flush_tiny``; see ``SGD``.
    """
    work = []
    for k, theta, v, g in params:
        theta, v, g = theta.reshape(-1), v.reshape(-1), g.reshape(-1)
        for start in range(0, theta.size, chunk):
            part = slice(start, start + chunk)
            work.append((k, theta[part], v[part], g[part]))
    size = sum(len(w[1]) for w in work)
    n = backend.num_threads() if threads is None else int(threads)
    n = max(1, min(n, len(work), size // (4 * chunk) or 1))   # threads only for megabytes
    dtype = params[0][1].dtype if params else np.float32
    if n == 1:
        return _momentum_chunks(work, lr, mu, np.empty(min(chunk, size), dtype), flush_below)
    share = -(-len(work) // n)
    jobs = [_executor(n).submit(_momentum_chunks, work[i:i + share], lr, mu,
                                np.empty(min(chunk, size), dtype), flush_below)
            for i in range(0, len(work), share)]
    sums = {}
    for job in jobs:                                   # in order: the same sums every run
        for k, (a, b) in job.result().items():
            a0, b0 = sums.get(k, (0.0, 0.0))
            sums[k] = (a0 + a, b0 + b)
    return sums


def momentum_update_fast(theta, v, g, lr, mu, chunk=_CHUNK):
    """``momentum_update`` (``minigan.optim.sgd``) for one NumPy array, chunk by
    chunk, in the cache (``momentum_update_many`` for one parameter, on this thread)."""
    if not all(a.flags.c_contiguous for a in (theta, v, g)):
        from ..optim.sgd import momentum_update      # reshape(-1) would copy: update in place
        return momentum_update(theta, v, g, lr, mu)
    momentum_update_many([("", theta, v, g)], lr, mu, chunk=chunk, threads=1)
