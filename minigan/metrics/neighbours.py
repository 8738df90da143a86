"""Exact k-nearest-neighbour radii and ball tests, a block of rows at a time.

What improved precision and recall (Kynkaanniemi et al. 2019) and density and
coverage (Naeem et al. 2020) share: each point's radius

    r_k(x_i) = NND_k(x_i) = || x_i - NN_k(x_i) ||,

the distance to its k-th nearest neighbour within its own set, itself excluded
(excluded by index: a duplicate of x_i is a neighbour at distance 0), and tests
of the points of one set against the balls B(x_i, r_k(x_i)) of the other.

How it is computed: squared distances by the GEMM identity
|a - b|^2 = |a|^2 + |b|^2 - 2 a.b, clipped at 0 (``parzen._sq_dist_block``:
the GEMM in float32 or float64, the norms, sum and clip in float64), for one
block of rows of a against all m rows of b. Nothing of size n x m is ever held:
**block size rule**: ``rows = max(1, BLOCK_BYTES // (8 m))`` rows per block
(BLOCK_BYTES = 32 MiB: 419 rows of float64 distances for m = 10,000), or the
``block`` given; ``threads`` blocks at once (default min(cores, 4), as Parzen:
NumPy's element-wise loops, its partition and BLAS release the GIL), so at most
``threads`` blocks are alive (32 MiB of distances each, plus the GEMM's own
result and the comparisons' booleans: under 100 MiB a thread). All comparisons are between
squared distances (squared radii), so no square root can move a point across a
ball's edge. Each pair of sets is compared in ONE pass (a block of rows gives
its rows' results and its share of the columns' results).

Its speed on 10,000 x 10,000 rows, and a check against the reference anchor of
Naeem et al.'s code: benchmarks/RESULTS.md, "Sample-quality metrics".
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import backend
from .parzen import _default_threads, _finite_sq_norms, _host, _sq_dist_block

__all__ = ["kth_neighbour_radii", "BLOCK_BYTES"]

BLOCK_BYTES = 32 * 2 ** 20   # one block's float64 distances stay under this


def _features(a, name, what, dtype):
    """(host array in the GEMM dtype, float64 squared norms), checked: 2-D, real, finite."""
    a = _host(a, dtype, name, what)
    return a, _finite_sq_norms(a, name, what)


def _block_rows(m, block):
    if block is None:
        return max(1, BLOCK_BYTES // (8 * max(m, 1)))
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"block must be an integer >= 1 (rows per block), got {block!r}")
    return int(block)


def _threads(threads):
    if threads is None:
        return _default_threads()
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1 (or None: min(cores, 4)), got {threads!r}")
    return int(threads)


def map_blocks(fn, a, aa, b, bb, block=None, threads=None):
    """``[fn(start, stop, d2) for each block]``, in order: d2 (float64, clipped at 0) =
    |a_i - b_j|^2 for rows start..stop-1 of ``a`` against every row of ``b`` (see the
    block size rule above); ``threads`` blocks at a time. ``fn`` must not write to
    anything another block writes to: return the block's results instead."""
    rows = _block_rows(b.shape[0], block)
    threads = _threads(threads)
    starts = range(0, a.shape[0], rows)

    def run(start):
        stop = min(start + rows, a.shape[0])
        return fn(start, stop, _sq_dist_block(a[start:stop], b, aa[start:stop], bb))

    if threads == 1 or len(starts) == 1:
        return [run(start) for start in starts]
    with ThreadPoolExecutor(min(threads, len(starts))) as ex:
        return list(ex.map(run, starts))


def _check_k(k, n, name, what):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{what}: k must be an integer >= 1, got {k!r}")
    if n < k + 1:
        raise ValueError(f"{what}: {name} has {n} rows; the k-th nearest neighbour (k = {k}) of a point "
                         f"within its own set, itself excluded, needs at least k + 1 = {k + 1} rows")
    return int(k)


def sq_radii(a, aa, k, block, threads, name, what, given=None):
    """float64 (n,): the squared distance of each row of ``a`` to its k-th nearest other
    row of ``a`` (itself excluded by index); or ``given``, those computed before, checked
    (``given_sq_radii``: ``name`` names the argument, e.g. ``real_sq_radii``)."""
    if given is not None:
        return given_sq_radii(given, a.shape[0], k, name.replace("_features", "_sq_radii"), what)
    return _kth_sq_radii_multi(a, aa, (k,), block, threads, name, what)[0]


def _kth_sq_radii_multi(a, aa, ks, block, threads, name, what):
    """[squared k-th neighbour radii for each k of ``ks``], from one pass over the blocks:
    each block's rows partitioned at the largest k, then the k-th smallest of each
    smaller k taken from the first kmax entries (the kmax smallest, in some order).
    The same values as separate single-k passes, bit for bit: a partition moves
    distances, it never computes them."""
    if len(ks) == 0:
        raise ValueError(f"{what}: k must be an integer >= 1 or a non-empty tuple of them, got {ks!r}")
    ks = [_check_k(k, a.shape[0], name, what) for k in ks]
    kmax = max(ks)

    def kth(start, stop, d2):
        idx = np.arange(stop - start)
        d2[idx, start + idx] = np.inf                  # itself excluded
        part = np.partition(d2, kmax - 1, axis=1)
        head = part[:, :kmax]                          # the kmax smallest of each row, the kmax-th last
        return [part[:, kmax - 1] if k == kmax else np.partition(head, k - 1, axis=1)[:, k - 1]
                for k in ks]

    parts = map_blocks(kth, a, aa, a, aa, block, threads)
    return [np.concatenate([p[i] for p in parts]) for i in range(len(ks))]


def kth_neighbour_radii(features, k, *, squared=False, dtype=np.float64, block=None, threads=None):
    """NND_k(x_i) = || x_i - NN_k(x_i) || for each row x_i of ``features`` (float64, shape (n,)).

    NN_k(x_i) is the k-th nearest neighbour of x_i among the other rows (x_i itself
    excluded by index; a duplicate row counts, at distance 0). Exact: every distance
    is computed, ``block`` rows at a time (default: the module's block size rule).
    ``k``: an integer, or a tuple or list of them: then a tuple of arrays, one per k
    in that order, from one pass over the distances (the same values as separate
    calls, bit for bit). ``squared``: return NND_k^2 instead, the squared radii that
    ``precision_recall`` and ``density_coverage`` compare with (``real_sq_radii=``,
    ``fake_sq_radii=``: computed once, reused by several calls, the results unchanged).
    ``dtype``: the precision of the GEMM, float64 (default) or float32. ``threads``:
    blocks worked on at once (default min(cores, 4)).
    """
    a, aa = _features(features, "features", "k-NN radii", dtype)
    several = isinstance(k, (tuple, list))
    r2 = _kth_sq_radii_multi(a, aa, tuple(k) if several else (k,), block, threads, "features", "k-NN radii")
    r = r2 if squared else [np.sqrt(x) for x in r2]
    return tuple(r) if several else r[0]


def given_sq_radii(sq_radii, n, k, name, what):
    """Precomputed squared k-NN radii, checked: a float64 array of shape (n,), finite, >= 0
    (and ``k`` checked as if they were computed here)."""
    _check_k(k, n, name.replace("_sq_radii", "_features"), what)
    r2 = np.asarray(backend.to_host(sq_radii))
    if r2.dtype.kind not in "biuf":
        raise TypeError(f"{what}: {name} must hold real numbers, got dtype {r2.dtype}")
    r2 = r2.astype(np.float64, copy=False)
    if r2.shape != (n,):
        raise ValueError(f"{what}: {name} must have shape ({n},) (one squared k = {k} radius per row, as "
                         f"kth_neighbour_radii(features, {k}, squared=True) gives), got {r2.shape}")
    if not np.all(np.isfinite(r2)) or np.any(r2 < 0):
        raise ValueError(f"{what}: {name} must be finite and >= 0 (squared radii)")
    return r2


def real_and_fake(real_features, fake_features, what, dtype):
    """Both sets as checked host arrays with their squared norms; same number of features."""
    real, rr = _features(real_features, "real_features", what, dtype)
    fake, ff = _features(fake_features, "fake_features", what, dtype)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"{what}: real_features have {real.shape[1]} features but fake_features "
                         f"have {fake.shape[1]}")
    return real, rr, fake, ff
