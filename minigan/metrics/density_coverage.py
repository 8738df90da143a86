"""Density and coverage (Naeem et al. 2020).

With real samples X_1..X_N, fake samples Y_1..Y_M, and B(X_i, NND_k(X_i)) the ball
around X_i of radius the distance to its k-th nearest real neighbour (itself
excluded; k = 5):

    density  = 1/(kM) sum_{j=1}^{M} sum_{i=1}^{N} 1[Y_j in B(X_i, NND_k(X_i))]
    coverage = 1/N    sum_{i=1}^{N} 1[exists j: Y_j in B(X_i, NND_k(X_i))]

Only the real balls are used (the fake set's outliers cannot inflate anything).
Density counts how many real balls hold each fake: it can exceed 1, and for two
samples of one distribution its expectation is 1. Coverage is the share of real
balls that hold at least one fake: for one distribution it is near 1 - 2^-k
(0.969 for k = 5). Membership is strict (||X_i - Y_j|| < NND_k(X_i)), as in the
authors' code. Radii and tests are exact, by blocked GEMMs (``neighbours``): a
fake exactly on a ball's edge counts or not as the rounding of that distance
falls (a set against itself: each ball's k-th neighbour lies on its edge, and
density is 1 only in exact arithmetic).
"""
from __future__ import annotations

import numpy as np

from .neighbours import map_blocks, real_and_fake, sq_radii

__all__ = ["density_coverage"]


def density_coverage(real_features, fake_features, k=5, *, real_sq_radii=None, dtype=np.float64, block=None,
                     threads=None):
    """(density, coverage) as floats (density >= 0, may exceed 1; coverage in [0, 1]).

    ``real_features`` (N, d) and ``fake_features`` (M, d): NumPy or CuPy arrays
    (copied to the host). ``k``: the neighbour that sets each real radius (the
    paper: 5). ``dtype``: precision of the GEMM (float64 default, or float32).
    ``block``: rows per block (default: at most 32 MiB of float64 distances per
    block, ``neighbours.BLOCK_BYTES``). ``threads``: blocks at once (default
    min(cores, 4)).

    ``real_sq_radii``: the real set's squared k-th neighbour radii, when already computed
    (``kth_neighbour_radii(real_features, k, squared=True)``, with the same k, dtype and
    block): shape (N,), else refused; None computes them. The results are the same, bit
    for bit, as without them.
    """
    what = "density_coverage"
    real, rr, fake, ff = real_and_fake(real_features, fake_features, what, dtype)
    r2_real = sq_radii(real, rr, k, block, threads, "real_features", what, given=real_sq_radii)

    def balls(start, stop, d2):                      # d2: reals start..stop-1 (rows) vs every fake
        inside = d2 < r2_real[start:stop, None]
        return int(np.count_nonzero(inside)), inside.any(axis=1)    # sum_i sum_j 1[Y_j in B_i], covered

    parts = map_blocks(balls, real, rr, fake, ff, block, threads)
    density = sum(p[0] for p in parts) / (k * fake.shape[0])
    coverage = np.concatenate([p[1] for p in parts]).mean()
    return float(density), float(coverage)
