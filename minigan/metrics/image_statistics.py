"""What the Parzen score rewards without showing better digits: a sample set's
brightness and smoothness (Theis et al. 2016)."""
from __future__ import annotations

import numpy as np

from .. import backend

__all__ = ["image_statistics"]


def image_statistics(images, side=28):
    """What the Parzen score rewards without showing better digits: a sample set's
    brightness and smoothness, to print beside real images (Theis et al. 2016).

    ``images``: (n, side * side) in [0, 1]. Returns a dict of ``mean`` (the mean
    pixel), ``above_half`` (the fraction of pixels > 0.5), ``grey`` (the fraction
    strictly between 0.05 and 0.95: blur raises it) and ``tv`` (total variation,
    the mean over images of sum |x[i+1, j] - x[i, j]| + |x[i, j+1] - x[i, j]|:
    blur lowers it).
    """
    x = np.asarray(backend.to_host(images), dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != side * side or len(x) == 0:
        raise ValueError(f"image_statistics: images must have shape (n >= 1, {side * side}), got {x.shape}")
    img = x.reshape(-1, side, side)
    tv = np.abs(np.diff(img, axis=1)).sum((1, 2)) + np.abs(np.diff(img, axis=2)).sum((1, 2))
    return {"mean": float(x.mean()), "above_half": float((x > 0.5).mean()),
            "grey": float(((x > 0.05) & (x < 0.95)).mean()), "tv": float(tv.mean())}
