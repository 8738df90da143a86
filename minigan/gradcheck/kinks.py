"""Kinks: rows whose central difference would straddle one are moved away, or dropped.

ReLU / LeakyReLU are not differentiable at 0, Maxout where its top two pieces
tie; a central difference that straddles a kink measures an average of two
slopes. Each layer says where its kinks are: ``kink_gaps(x)`` gives, for each
row of the input it would receive, the distance of each of its kink arguments
from the kink (None for a smooth layer). A row's *kink margin* is the smallest
gap over every layer of the model. Rows with a margin below ``kink_delta`` are
re-drawn; rows still at a kink after ``max_redraws`` tries are dropped
("skipped"). Both counts are reported in every table, never silently.

Rows are independent in most layers, so moving or dropping one row does not
change what the others test. A layer with ``couples_rows`` (batch norm,
minibatch discrimination) makes every row's output depend on the whole batch:
then the whole batch is re-drawn, never single rows, and if it is still at a
kink after ``max_redraws`` re-draws nothing is checked (dropping a row would
move the others).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import backend
from ..layers import walk_layers
from .draws import freeze_draws, unfreeze_draws
from .model import coupling_layers, is_chain, is_composite, leaf_inputs, overrides

__all__ = ["KinkMoves", "kink_margins", "away_from_kinks", "opaque_note"]


def _gaps(leaf, x_in):
    method = getattr(leaf, "kink_gaps", None)
    if not callable(method):
        return None
    gaps = method(x_in)
    return None if gaps is None else np.asarray(gaps, dtype=np.float64).reshape(len(x_in), -1)


def kink_margins(module, x):
    """Per row: the distance to the nearest kink of any layer (``kink_gaps``).

    A gap that is exactly 0 both at ``x`` and with ``x`` and every parameter
    slightly moved (a ReLU unit a Dropout mask dropped after the layer feeding
    it) is not counted: nothing the check perturbs moves it. One that only the
    input cannot move (a zero bias behind a dropped-out row) is still a kink for
    that bias, and counted.
    """
    margin = np.full(x.shape[0], np.inf)
    xp = backend.array_module(x)
    host = np.asarray(backend.to_host(x), dtype=np.float64)
    rng = np.random.default_rng(12345)
    moved = xp.asarray(host + rng.standard_normal(host.shape) * 1e-3 * (np.abs(host).max() or 1.0),
                       dtype=x.dtype)
    at_x = leaf_inputs(module, x)
    gaps_x = [_gaps(leaf, h) for leaf, h in at_x]
    params = [p for leaf, _ in at_x for p in getattr(leaf, "params", {}).values()]
    saved = [p.copy() for p in params]
    try:
        for p in params:
            host_p = np.asarray(backend.to_host(p), dtype=np.float64)
            p += backend.array_module(p).asarray(
                rng.standard_normal(p.shape) * 1e-3 * (np.abs(host_p).max() or 1.0), dtype=p.dtype)
        gaps_moved = [_gaps(leaf, h) for leaf, h in leaf_inputs(module, moved)]
    finally:
        for p, keep in zip(params, saved):
            p[...] = keep                                # restored exactly
    for gap, gap_moved in zip(gaps_x, gaps_moved):
        if gap is None or not gap.shape[1]:
            continue
        dist = gap.copy()
        if gap_moved is not None and gap_moved.shape == gap.shape:
            dist[(gap == 0) & (gap_moved == 0)] = np.inf
        margin = np.minimum(margin, dist.min(axis=1))
    return margin


@dataclass
class KinkMoves:
    """What ``away_from_kinks`` did: rows moved and dropped, and for a model whose
    rows are coupled, how often the whole batch was re-drawn."""
    moved: int = 0
    skipped: int = 0
    delta: float = 0.0
    coupled: list = field(default_factory=list)     # names of the layers that couple rows
    batch_redraws: int = 0
    rows: int = 0
    max_redraws: int = 0

    def notes(self, what="x"):
        if not self.coupled:
            return []
        names = ", ".join(sorted(set(self.coupled)))
        note = (f"{what}: rows are coupled ({names}): checked on the whole batch of {self.rows} rows "
                "(every entry perturbed, the loss over all rows)")
        if self.batch_redraws:
            note += (f"; the whole batch was re-drawn {self.batch_redraws} time(s) to move it away "
                     "from kinks, never single rows")
        return [note]

    def nothing_left(self):
        """Why nothing could be checked."""
        if self.coupled:
            return (f"the whole batch still sits at a kink (within kink_delta = {self.delta:g} of one) "
                    f"after {self.max_redraws} re-draws of the whole batch: its rows are coupled "
                    f"({', '.join(sorted(set(self.coupled)))}), so no single row can be dropped; "
                    "nothing could be checked")
        return (f"every input row sits at a kink (within kink_delta = {self.delta:g} of one); "
                "nothing could be checked")


def away_from_kinks(module, x, frozen, rng, delta, max_redraws):
    """Re-draw rows of ``x`` that sit within ``delta`` of a kink (the whole batch when
    ``module`` couples rows); drop the rows that still do after ``max_redraws`` tries
    (the random draws in ``frozen`` are then frozen again for the smaller batch).
    Returns (x, frozen, KinkMoves)."""
    xp = backend.array_module(x)
    host = np.array(backend.to_host(x), dtype=np.float64)
    mu, sd = float(host.mean()), float(host.std()) or 1.0
    report = KinkMoves(delta=delta, coupled=coupling_layers(module), rows=len(host), max_redraws=max_redraws)
    moved = np.zeros(len(host), dtype=bool)
    bad = np.zeros(len(host), dtype=bool)
    for attempt in range(max_redraws + 1):
        bad = kink_margins(module, xp.asarray(host)) < delta
        if not bad.any() or attempt == max_redraws:
            break
        if report.coupled:                 # every row's kinks depend on the whole batch
            host[...] = rng.normal(mu, sd, size=host.shape)
            moved[:] = True
            report.batch_redraws += 1
        else:
            host[bad] = rng.normal(mu, sd, size=(int(bad.sum()),) + host.shape[1:])
            moved |= bad
    skipped = 0
    if bad.any() and report.coupled:
        skipped, host, moved = len(host), host[:0], moved[:0]
    while bad.any() and len(host):
        keep = ~bad
        skipped += int(bad.sum())
        host, moved = host[keep], moved[keep]
        if frozen and len(host):           # the draws were for the larger batch: draw them again
            unfreeze_draws(frozen)
            frozen = freeze_draws(module, xp.asarray(host), rng)
        bad = kink_margins(module, xp.asarray(host)) < delta if len(host) else bad[:0]
    report.moved, report.skipped = int(moved.sum()), skipped
    return xp.asarray(host), frozen, report


def opaque_note(res, module):
    """Note every composite walked as one piece whose inner layers have kinks that
    were not searched (its forward is not a chain of its .layers, and it has no
    ``kink_gaps`` of its own)."""
    for name, kinds in _opaque(module):
        res.notes.append(f"{name}: its forward is not a chain of its .layers, so rows near the kinks of "
                         f"its {'/'.join(kinds)} layers were not moved away (a failure there may be a kink)")


def _opaque(module):
    if is_chain(module):
        return [o for sub in module.layers for o in _opaque(sub)]
    if is_composite(module) and not overrides(module, "kink_gaps"):
        kinds = [type(l).__name__ for _, l in walk_layers(module)
                 if l is not module and not is_composite(l) and overrides(l, "kink_gaps")]
        if kinds:
            return [(type(module).__name__, list(dict.fromkeys(kinds)))]
    return []
