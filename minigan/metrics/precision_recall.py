"""Improved precision and recall (Kynkaanniemi et al. 2019).

Each set's manifold is the union of balls around its points, of radius the
distance to the point's k-th nearest neighbour within its own set (k = 3, itself
excluded):

    f(phi, Phi) = 1  if ||phi - phi'|| <= ||phi' - NN_k(phi')|| for at least one phi' in Phi,
                  0  otherwise

    precision(Phi_r, Phi_g) = (1/|Phi_g|) sum_{phi_g in Phi_g} f(phi_g, Phi_r)
    recall(Phi_r, Phi_g)    = (1/|Phi_r|) sum_{phi_r in Phi_r} f(phi_r, Phi_g)

precision: the share of fakes inside at least one real ball (are the samples
realistic?); recall: the share of reals inside at least one fake ball (is the
real distribution covered?). The ball is closed (<=), as in the paper and its
code. Radii and tests are exact, by blocked GEMMs (``neighbours``).
"""
from __future__ import annotations

import numpy as np

from .neighbours import map_blocks, real_and_fake, sq_radii

__all__ = ["precision_recall"]


def precision_recall(real_features, fake_features, k=3, *, real_sq_radii=None, fake_sq_radii=None,
                     dtype=np.float64, block=None, threads=None):
    """(precision, recall) as floats in [0, 1]; see the module for the formulas.

    ``real_features`` (N, d) and ``fake_features`` (M, d): NumPy or CuPy arrays
    (copied to the host). ``k``: the neighbour that sets each radius (the paper: 3).
    ``dtype``: precision of the GEMM (float64 default, or float32: faster, distances
    to about 1e-7 of the squared norms). ``block``: rows per block (default: at most
    32 MiB of float64 distances per block, ``neighbours.BLOCK_BYTES``). ``threads``:
    blocks at once (default min(cores, 4)).

    ``real_sq_radii`` / ``fake_sq_radii``: the sets' squared k-th neighbour radii, when
    already computed (``kth_neighbour_radii(features, k, squared=True)``, with the same
    k, dtype and block): shape (N,) / (M,), else refused; None computes them. One set
    scored against many (``minigan score``'s test set) needs its radii once; the results
    are the same, bit for bit, as without them.
    """
    what = "precision_recall"
    real, rr, fake, ff = real_and_fake(real_features, fake_features, what, dtype)
    r2_real = sq_radii(real, rr, k, block, threads, "real_features", what, given=real_sq_radii)
    r2_fake = sq_radii(fake, ff, k, block, threads, "fake_features", what, given=fake_sq_radii)

    def balls(start, stop, d2):                      # d2: reals start..stop-1 (rows) vs every fake
        in_fake = (d2 <= r2_fake[None, :]).any(axis=1)               # these reals in a fake ball
        in_these_real = (d2 <= r2_real[start:stop, None]).any(axis=0)  # fakes in one of these real balls
        return in_fake, in_these_real

    parts = map_blocks(balls, real, rr, fake, ff, block, threads)
    recall = np.concatenate([p[0] for p in parts]).mean()
    precision = np.logical_or.reduce([p[1] for p in parts]).mean()
    return float(precision), float(recall)
