"""The Inception score (Salimans et al. 2016).

With p(y|x) a classifier's class probabilities for a sample x and
p(y) = E_x p(y|x) their mean:

    IS = exp( E_x KL( p(y|x) || p(y) ) ),
    KL( p(y|x) || p(y) ) = sum_y p(y|x) (log p(y|x) - log p(y)).

High when each sample is classified with confidence (low entropy of p(y|x)) and
the classes are used evenly (high entropy of p(y)): between 1 and K, the number
of classes. The protocol: shuffle the samples (seeded), cut them into ``splits``
equal parts (the last ones take the remainder, as np.array_split), compute the
score in each with p(y) the mean within that split, and report the mean and the
standard deviation (ddof = 0) of the per-split scores. Without the shuffle, a
sample set ordered by class gives each split a narrow p(y) and a low score.

A log can see 0 (a certain classifier gives p(y|x) = 0 for the other classes):
every log is of p + EPS (EPS = 1e-12), so 0 log 0 counts as 0, as it should.
On MNIST the classifier is an MNIST classifier (state which): the scores depend
on it.
"""
from __future__ import annotations

import numpy as np

from .. import backend

__all__ = ["inception_score", "EPS"]

EPS = 1e-12


def inception_score(class_probabilities, splits=10, *, seed=0):
    """(mean, std) of exp(E_x KL(p(y|x) || p(y))) over ``splits`` parts (see the module).

    ``class_probabilities``: (n, K) array, NumPy or CuPy, each row p(y|x) (non-negative,
    summing to 1 within 1e-4 relative); n >= splits. ``seed``: the shuffle of the rows
    before splitting.
    """
    p = np.asarray(backend.to_host(class_probabilities))
    if p.ndim != 2 or p.shape[1] < 1:
        raise ValueError(f"inception_score: class_probabilities must be a 2-D (n, K) array, got shape {p.shape}")
    if p.dtype.kind not in "biuf":
        raise TypeError(f"inception_score: class_probabilities must hold real numbers, got dtype {p.dtype}")
    if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or splits < 1:
        raise ValueError(f"inception_score: splits must be an integer >= 1, got {splits!r}")
    n = p.shape[0]
    if n < splits:
        raise ValueError(f"inception_score: {n} samples cannot be cut into {splits} splits (need n >= splits)")
    p = p.astype(np.float64)
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError("inception_score: class_probabilities must be finite and non-negative "
                         "(softmax outputs, not logits)")
    sums = p.sum(axis=1)
    bad = np.abs(sums - 1.0) > 1e-4
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"inception_score: each row must be a probability distribution summing to 1 "
                         f"(softmax outputs, not logits); row {i} sums to {sums[i]:.6g}")
    p = p[np.random.default_rng(seed).permutation(n)]
    scores = []
    for part in np.array_split(p, int(splits)):
        py = part.mean(axis=0)                                          # p(y) within the split
        kl = (part * (np.log(part + EPS) - np.log(py + EPS)[None, :])).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    scores = np.asarray(scores)
    return float(scores.mean()), float(scores.std())
