"""The Parzen-window log-likelihood of the GAN paper's Table 1.

Fit an isotropic Gaussian of width sigma on each of the generator's samples
mu_1..mu_m and score held-out images x under that mixture:

    log p(x) = log (1/m) sum_j N(x; mu_j, sigma^2 I)
             = logmeanexp_j ( -|x - mu_j|^2 / (2 sigma^2) ) - d log(sigma sqrt(2 pi))

The protocol (Goodfellow et al. 2014, following Breuleux et al. 2011):
m = 10,000 generator samples; sigma from logspace(-1, 0, 10), chosen by the mean
log p of 1,000 validation images (train[50000:51000]); the reported number is
the mean log p of the 10,000 test images with its standard error std / sqrt(N)
(std with ddof = 0, as the released code computed it). Higher is better; the
paper's row for adversarial nets is 225 +- 2 nats.

How it is computed here:

* Squared distances by the GEMM identity |x - mu|^2 = |x|^2 + |mu|^2 - 2 x.mu,
  a block of rows of x at a time so that memory stays bounded (one GEMM result
  of ``block`` x m per worker thread, and two small float64 buffers of a few
  rows that stay in the CPU cache), never the (n, m, d) difference tensor.
  Within one row |x|^2 is a constant that the shift of the log-sum-exp
  cancels, so it only enters the largest term.
* For each block the distances are computed ONCE and every sigma is scored from
  them (sigma selection costs one GEMM, not ten).
* The log-sum-exp is in float64: shift by the row's largest term (the nearest
  sample), exponentiate, sum, log. ``dtype`` chooses the precision of the GEMM
  only: float32 (default, fast) or float64 (the reference); the norms and the
  sums are float64 either way. What the float32 GEMM changes is measured in
  tests/test_metrics.py and benchmarks/parzen_speed.py.
* Blocks are spread over ``threads`` worker threads (NumPy's element-wise loops
  and BLAS release the GIL). With more than one worker each worker's GEMM runs on
  one BLAS thread (``WORKER_BLAS_THREADS``, through threadpoolctl when it is
  installed): the workers already keep the cores busy, and a BLAS that splits
  each block's GEMM over its own threads as well makes them wait on each other
  (2 workers on 2 cores: 0.8 of the time with one BLAS thread each,
  ``benchmarks/parzen_speed.py --compare-blas``; benchmarks/RESULTS.md, "Speed
  (issue 21)"). The log-likelihoods are the same either way.
"""
from __future__ import annotations

import contextlib
import math
import os
import queue
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .. import backend

__all__ = ["SIGMAS", "squared_distances", "parzen_log_likelihood", "select_sigma",
           "parzen_protocol", "ParzenResult"]

SIGMAS = np.logspace(-1, 0, 10)       # the paper's grid: 0.1 ... 1.0
DEFAULT_BLOCK_BYTES = 256 * 2 ** 20   # one block's float64 distance matrix stays under this
CACHED_BYTES = 2 ** 19                # rows of float64 terms worked on at once: stay in the CPU cache
WORKER_BLAS_THREADS = 1               # BLAS threads per worker when there are several (None: the BLAS's own)


def _gemm_dtype(dtype, what="Parzen"):
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{what} dtype (the precision of the distances) must be float32 or float64, got {dt}")
    return dt


def _host(a, dtype, name="x", what="Parzen"):
    """``a`` as a C-contiguous host array of ``dtype``: 2-D, at least one row, real numbers.
    ``what`` names the metric in the errors (the k-NN metrics share these checks)."""
    a = np.asarray(backend.to_host(a))
    if a.ndim != 2:
        raise ValueError(f"{what} input {name} must be a 2-D (n, d) array, got shape {a.shape}")
    if a.shape[0] < 1:
        raise ValueError(f"{what} input {name} has no rows (shape {a.shape})")
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{what} input {name} must hold real numbers, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=_gemm_dtype(dtype, what))


def _finite_sq_norms(a, name, what="Parzen"):
    """|a_i|^2 (float64); a NaN or inf anywhere in a row shows in its norm."""
    norms = _sq_norms(a)
    if not np.isfinite(norms).all():
        raise ValueError(f"{what} input {name} holds NaN or infinite values (or values so large that "
                         "their squares overflow)")
    return norms


def _block_rows(m, block):
    if block is not None:
        if not isinstance(block, (int, np.integer)) or block < 1:
            raise ValueError(f"block must be an integer >= 1 (rows of x per block), got {block!r}")
        return int(block)
    return max(1, DEFAULT_BLOCK_BYTES // (8 * max(m, 1)))


def squared_distances(x, mu, *, dtype=np.float32):
    """|x_i - mu_j|^2 for all i, j via |x|^2 + |mu|^2 - 2 x.mu; float64 (n, m), clipped at 0.

    The GEMM x.mu^T runs in ``dtype``; the norms, the sum and the clip in float64.
    (Rounding can make the identity slightly negative for near-identical rows: the
    clip at 0 removes that.) For whole data sets use ``parzen_log_likelihood``,
    which does this a block at a time.
    """
    x, mu = _host(x, dtype, "x"), _host(mu, dtype, "mu")
    if x.shape[1] != mu.shape[1]:
        raise ValueError(f"x has {x.shape[1]} features but the samples have {mu.shape[1]}")
    return _sq_dist_block(x, mu, _finite_sq_norms(x, "x"), _finite_sq_norms(mu, "mu"))


def _sq_norms(a):
    a64 = a.astype(np.float64, copy=False)
    return np.einsum("ij,ij->i", a64, a64)


def _sq_dist_block(xb, mu, xx, mm, out=None):
    dot = xb @ mu.T                                   # the GEMM, in the inputs' dtype
    d2 = np.multiply(dot, -2.0, out=out, dtype=np.float64) if out is not None else dot * np.float64(-2.0)
    d2 += xx[:, None]
    d2 += mm[None, :]
    np.maximum(d2, 0.0, out=d2)
    return d2


def _dots(xb, mu_m2):
    """(b, m): x_i . (-2 mu_j), the one GEMM of a block (in the inputs' dtype),
    made once and shared by every sigma."""
    return xb @ mu_m2.T


def _block_log_mean_exp(xb, xxb, mu_m2, mm, inv2s2, buffers):
    """(b, S) float64: logmeanexp_j(-|x_i - mu_j|^2 / (2 sigma_s^2)) for one block of rows x_i.

    e_ij = |mu_j|^2 - 2 x_i.mu_j = |x_i - mu_j|^2 - |x_i|^2 comes from one GEMM
    (``mu_m2`` = -2 mu, an exact scaling) plus the norms, in float64. Within a
    row |x_i|^2 is a constant, so the shifted exponent needs no |x_i|^2:
    -(|x_i - mu_j|^2 - nearest_i) / (2 sigma^2) = (min_j' e_ij' - e_ij) / (2 sigma^2) <= 0.

    The GEMM runs on the whole block; the float64 work then runs on a few rows at
    a time (``buffers``: two float64 arrays of (rows, m), sized to stay in the CPU
    cache), so each term is computed, shifted, exponentiated and summed while it
    is cached instead of being streamed through memory once per operation.
    """
    m = mu_m2.shape[0]
    dots = _dots(xb, mu_m2)                                # (b, m), the GEMM, in the inputs' dtype
    out = np.empty((xb.shape[0], inv2s2.size), np.float64)
    step = buffers[0].shape[0]
    for r in range(0, xb.shape[0], step):
        rows = slice(r, r + step)
        dot = dots[rows]
        e, w = buffers[0][:len(dot)], buffers[1][:len(dot)]
        np.add(dot, mm[None, :], out=e, dtype=np.float64)
        e_min = e.min(axis=1)
        nearest = np.maximum(xxb[rows] + e_min, 0.0)       # |x_i - mu_nearest|^2 (clipped at 0)
        np.subtract(e_min[:, None], e, out=e)              # nearest_i - |x_i - mu_j|^2 <= 0
        for s, c in enumerate(inv2s2):
            np.multiply(e, c, out=w)
            # terms below exp(-700) ~ 1e-304 cannot change a sum that is >= 1 (the nearest
            # sample's term); raising them to it keeps exp out of subnormal numbers, which
            # the CPU handles tens of times slower
            np.maximum(w, -700.0, out=w)
            np.exp(w, out=w)                               # every term in (0, 1]; the nearest is 1
            # logmeanexp = max + log(mean(exp(a - max))), with max = -nearest / (2 sigma^2)
            out[rows, s] = np.log(w.sum(axis=1) / m) - nearest * c
    return out


def _log_likelihoods(x, mu, sigmas, dtype, block, threads=None, x_name="x (the images scored)"):
    """(n, S) float64: log p(x_i) under the Parzen window of width sigmas[s] on mu;
    ``x_name`` names x in the errors."""
    x, mu = _host(x, dtype, x_name), _host(mu, dtype, "samples")
    if x.shape[1] != mu.shape[1]:
        raise ValueError(f"{x_name} has {x.shape[1]} features but the samples have {mu.shape[1]}")
    sigmas = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if sigmas.size == 0 or not np.all(np.isfinite(sigmas) & (sigmas > 0)):
        raise ValueError(f"sigma must be positive and finite, got {sigmas}")
    n, d = x.shape
    m = mu.shape[0]
    xx, mm = _finite_sq_norms(x, x_name), _finite_sq_norms(mu, "samples")
    mu_m2 = mu * mu.dtype.type(-2.0)
    rows = min(_block_rows(m, block), n)
    if threads is not None and (not isinstance(threads, (int, np.integer)) or threads < 1):
        raise ValueError(f"threads must be an integer >= 1 (or None: min(cores, 4)), got {threads!r}")
    threads = max(1, int(threads or _default_threads()))
    if block is None:      # a few blocks per worker, so that no worker waits on a last big one
        rows = max(1, min(rows, -(-n // (4 * threads)), 1024))
    inv2s2 = 1.0 / (2.0 * sigmas ** 2)                           # 1 / (2 sigma^2)
    log_norm = d * np.log(sigmas * math.sqrt(2.0 * math.pi))     # d log(sigma sqrt(2 pi))
    out = np.empty((n, sigmas.size), np.float64)
    starts = list(range(0, n, rows))
    threads = min(threads, len(starts))
    # each worker thread owns one pair of small float64 buffers; NumPy's
    # element-wise loops and the BLAS call release the GIL, so blocks overlap
    pool = queue.SimpleQueue()
    cached_rows = max(1, min(rows, CACHED_BYTES // (8 * m)))
    for _ in range(threads):
        pool.put((np.empty((cached_rows, m), np.float64), np.empty((cached_rows, m), np.float64)))

    def run(start):
        stop = min(start + rows, n)
        bufs = pool.get()
        try:
            out[start:stop] = _block_log_mean_exp(x[start:stop], xx[start:stop], mu_m2, mm, inv2s2, bufs)
        finally:
            pool.put(bufs)

    if threads == 1:
        for start in starts:
            run(start)
    else:
        with _blas_threads(WORKER_BLAS_THREADS), ThreadPoolExecutor(threads) as ex:
            list(ex.map(run, starts))
    return out - log_norm[None, :]


def _blas_threads(n):
    """A block in which NumPy's BLAS uses at most ``n`` threads (threadpoolctl; the count
    before comes back after). Without threadpoolctl, or with ``n`` None, the BLAS keeps
    its own count."""
    if n is None:
        return contextlib.nullcontext()
    try:
        import threadpoolctl
    except ImportError:
        return contextlib.nullcontext()
    return threadpoolctl.threadpool_limits(limits=int(n), user_api="blas")


def _default_threads():
    return min(os.cpu_count() or 1, 4)


def parzen_log_likelihood(x, samples, sigma, *, dtype=np.float32, block=None, threads=None,
                          name="x (the images scored)"):
    """log p(x_i) (float64) of each row of ``x`` under the Parzen window on ``samples``.

    ``sigma`` a number -> shape (n,); a sequence of S widths -> shape (n, S),
    all from one pass over the distances. ``dtype``: precision of the GEMM
    (float32 or float64). ``block``: rows of x per block (default: keep one
    block's distances under 256 MiB). ``threads``: blocks worked on at once
    (default min(cores, 4)). ``name``: what ``x`` is, for the error messages.
    """
    lls = _log_likelihoods(x, samples, np.atleast_1d(sigma), dtype, block, threads, name)
    return lls[:, 0] if np.ndim(sigma) == 0 else lls


def select_sigma(valid, samples, sigmas=SIGMAS, *, dtype=np.float32, block=None, threads=None):
    """The sigma (of ``sigmas``) with the highest mean log-likelihood of ``valid``.

    Returns ``(sigma, mean_lls)`` where ``mean_lls[s]`` is the mean over the
    validation rows for ``sigmas[s]``. Distances are computed once for all sigmas.
    """
    sigmas = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    mean_lls = _log_likelihoods(valid, samples, sigmas, dtype, block, threads, "valid").mean(axis=0)
    return float(sigmas[int(np.argmax(mean_lls))]), mean_lls


@dataclass
class ParzenResult:
    """The protocol's outcome: chosen sigma, mean test log-likelihood and its standard error."""
    sigma: float
    ll: float
    se: float
    n_test: int
    n_samples: int
    sigmas: np.ndarray = field(repr=False)
    valid_lls: np.ndarray = field(repr=False)   # mean validation LL per sigma

    def __str__(self):
        return f"{self.ll:.1f} +- {self.se:.1f} nats (sigma {self.sigma:.4f}, {self.n_samples} samples)"


def parzen_protocol(samples, valid, test, sigmas=SIGMAS, *, dtype=np.float32, block=None, threads=None):
    """The paper's protocol: choose sigma on ``valid``, report mean +- se on ``test``.

    ``samples``: the generator's samples (the paper: 10,000); ``valid``: the
    validation images (the paper: train[50000:51000]); ``test``: the test images
    (10,000). Returns a ``ParzenResult``.
    """
    sigma, valid_lls = select_sigma(valid, samples, sigmas, dtype=dtype, block=block, threads=threads)
    lls = parzen_log_likelihood(test, samples, sigma, dtype=dtype, block=block, threads=threads, name="test")
    return ParzenResult(sigma=sigma, ll=float(lls.mean()), se=float(lls.std() / math.sqrt(lls.size)),
                        n_test=int(lls.size), n_samples=int(np.shape(samples)[0]),
                        sigmas=np.asarray(sigmas, dtype=np.float64).reshape(-1), valid_lls=valid_lls)
