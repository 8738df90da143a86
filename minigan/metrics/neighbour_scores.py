"""Precision, recall, density and coverage from one pass over the real-vs-fake distances.

``precision_recall`` (k = 3) and ``density_coverage`` (k = 5) are the textbook
versions: each reads like its paper and computes the distances between every real
and every fake point on its own. Both tests read the same squared distances
|x_i - y_j|^2, only against different radii, so scoring one sample set by both
computes those 10,000 x 10,000 distances twice. ``neighbour_scores`` computes them
once, a block of real rows at a time, and takes all four scores from each block:

    precision: y_j inside some real ball B(x_i, r_3(x_i))          (closed ball, <=)
    recall:    x_i inside some fake ball B(y_j, r_3(y_j))          (closed ball, <=)
    density:   the number of real balls B(x_i, r_5(x_i)) holding y_j  (open ball, <)
    coverage:  B(x_i, r_5(x_i)) holds some y_j                     (open ball, <)

It is the textbook pair's twin: the same distances (the same blocks, the same GEMM,
the same radii), the same comparisons, hence the same four numbers bit for bit
(tests/test_sample_metrics.py checks it). ``minigan score`` uses it.
"""
from __future__ import annotations

import numpy as np

from .neighbours import _kth_sq_radii_multi, map_blocks, real_and_fake, sq_radii

__all__ = ["neighbour_scores"]


def neighbour_scores(real_features, fake_features, *, k_precision=3, k_density=5, real_sq_radii=None,
                     fake_sq_radii=None, dtype=np.float64, block=None, threads=None):
    """{"precision", "recall", "density", "coverage"}: floats, equal to
    ``precision_recall(real, fake, k=k_precision)`` and ``density_coverage(real, fake,
    k=k_density)`` (see those functions for each formula and argument).

    ``real_sq_radii``: None, or the pair (k_precision radii, k_density radii) of the
    real set, squared (``kth_neighbour_radii(real, (3, 5), squared=True)``), each of shape
    (N,); ``fake_sq_radii``: None or the fake set's squared k_precision radii, (M,).
    None computes them (the real set's two in one pass).
    """
    what = "neighbour_scores"
    real, rr, fake, ff = real_and_fake(real_features, fake_features, what, dtype)
    if real_sq_radii is None:
        r2_pr, r2_dc = _kth_sq_radii_multi(real, rr, (k_precision, k_density), block, threads,
                                           "real_features", what)
    else:
        if not isinstance(real_sq_radii, (tuple, list)) or len(real_sq_radii) != 2:
            raise ValueError(f"{what}: real_sq_radii must be a pair (k_precision = {k_precision} radii, "
                             f"k_density = {k_density} radii), squared, or None")
        r2_pr = sq_radii(real, rr, k_precision, block, threads, "real_features", what, given=real_sq_radii[0])
        r2_dc = sq_radii(real, rr, k_density, block, threads, "real_features", what, given=real_sq_radii[1])
    r2_fake = sq_radii(fake, ff, k_precision, block, threads, "fake_features", what, given=fake_sq_radii)

    def scores(start, stop, d2):                     # d2: reals start..stop-1 (rows) vs every fake
        in_fake = (d2 <= r2_fake[None, :]).any(axis=1)                  # recall's: these reals in a fake ball
        in_these_real = (d2 <= r2_pr[start:stop, None]).any(axis=0)     # precision's: fakes in these balls
        inside = d2 < r2_dc[start:stop, None]                           # density's and coverage's
        return in_fake, in_these_real, int(np.count_nonzero(inside)), inside.any(axis=1)

    parts = map_blocks(scores, real, rr, fake, ff, block, threads)
    return {"precision": float(np.logical_or.reduce([p[1] for p in parts]).mean()),
            "recall": float(np.concatenate([p[0] for p in parts]).mean()),
            "density": float(sum(p[2] for p in parts) / (k_density * fake.shape[0])),
            "coverage": float(np.concatenate([p[3] for p in parts]).mean())}
