"""Historical averaging (Salimans et al. 2016, Sec. 3.3): a player's cost gets the term

    weight * || theta - theta_bar ||^2,        theta_bar = (1/t) sum_{i=1}^{t} theta[i]

summed over all of the player's parameters, theta[i] its parameters at past time i. The
paper leaves "past time i" open; here it is the player's updates:

    t           the number of the player's updates so far, the one about to be taken included
                (the t-th call of the penalty comes just before the t-th update);
    theta[i]    the player's parameters just before its i-th update (theta[1]: the initial
                parameters; theta[t]: the present ones, after t - 1 updates).

So theta_bar is the mean of every parameter value the player has held when it stepped, the
present one included; at the first update theta_bar = theta and the term is 0.

The gradient. theta_bar is held fixed: treated as a constant of the step (a stop-gradient),
although it holds the present theta with weight 1/t. The gradient added into the player's
``grads`` is therefore

    d/dtheta weight ||theta - theta_bar||^2 = 2 weight (theta - theta_bar)

and not the total derivative 2 weight (1 - 1/t) (theta - theta_bar) that differentiating
through theta_bar's own dependence on theta would give: the average is a record of the past,
as the paper describes it, not something the step moves.

The released code (openai/improved-gan) never implemented historical averaging: no commit of it
holds the term. This one is, as far as we know, its first public implementation.

The state, t and theta_bar (kept in the parameters' dtype, on their device, updated as
theta_bar += (theta - theta_bar) / t), is saved with the run (``GAN.parts``:
``part/d_penalties.<i>/t``, ``part/d_penalties.<i>/mean.<param>``), so a resumed run is
bit-identical to an uninterrupted one.
"""
from __future__ import annotations

import numpy as np

from .. import backend

__all__ = ["HistoricalAveraging"]


class HistoricalAveraging:
    """A penalty of one player's step: ``weight * ||theta - theta_bar||^2`` (module docstring).

    ``GAN(..., d_penalties=[HistoricalAveraging(w)], g_penalties=[HistoricalAveraging(w)])``:
    one instance per player (each keeps that player's average; one given the other player's
    model refuses it). Each call ``penalty(model, trainer)`` folds the present parameters into
    the average (``update``), then adds the gradient 2 weight (theta - theta_bar) into
    ``model.grads`` and returns the value (``penalty``).
    """

    def __init__(self, weight):
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.floating)) or not weight > 0 \
                or not np.isfinite(weight):
            raise ValueError(f"historical_averaging: the weight must be a number > 0, got {weight!r}")
        self.weight = float(weight)
        self.t = 0
        self.mean = {}           # parameter name -> theta_bar (empty before the first update)

    # ------------------------------------------------------------------ the average
    def _check_model(self, model):
        if not self.mean:
            return
        mine = {k: tuple(v.shape) for k, v in self.mean.items()}
        theirs = {k: tuple(v.shape) for k, v in model.params.items()}
        if mine != theirs:
            raise ValueError("HistoricalAveraging keeps the average of one player's parameters "
                             f"({', '.join(f'{k} {s}' for k, s in mine.items())}); this model has "
                             f"{', '.join(f'{k} {s}' for k, s in theirs.items())}: give each player "
                             "its own HistoricalAveraging")

    def update(self, model):
        """t += 1 and theta_bar += (theta - theta_bar) / t: the present parameters join the average."""
        self._check_model(model)
        self.t += 1
        if self.t == 1:
            self.mean = {k: p.copy() for k, p in model.params.items()}
            return
        for k, p in model.params.items():
            bar = self.mean[k]
            bar += (p - bar) / p.dtype.type(self.t)

    def penalty(self, model):
        """Adds 2 weight (theta - theta_bar) into ``model.grads`` (theta_bar fixed) and returns
        weight * sum ||theta - theta_bar||^2, a 0-d array on the parameters' device."""
        if not self.mean:
            raise ValueError("HistoricalAveraging.penalty: no average yet (call update(model) first)")
        self._check_model(model)
        grads, value = model.grads, 0.0
        for k, p in model.params.items():
            diff = p - self.mean[k]
            grads[k] += diff * p.dtype.type(2.0 * self.weight)
            value = value + (diff * diff).sum()
        return value * self.weight

    def __call__(self, model, trainer=None):
        self.update(model)
        return self.penalty(model)

    # ------------------------------------------------------------------ state
    def state_dict(self):
        """``{"t": 0-d int64, "mean.<param>": theta_bar}`` (no means before the first update)."""
        return {"t": np.asarray(self.t, dtype=np.int64),
                **{f"mean.{k}": v.copy() for k, v in self.mean.items()}}

    def check_state_dict(self, d):
        """KeyError / ValueError unless ``d`` is a state of this penalty (``state_dict``'s form)."""
        if "t" not in d:
            raise KeyError("HistoricalAveraging state lacks 't'")
        extra = sorted(k for k in d if k != "t" and not k.startswith("mean."))
        if extra:
            raise KeyError(f"HistoricalAveraging keeps no state {extra}")
        t = np.asarray(backend.to_host(d["t"]))
        if t.shape != () or t.dtype.kind not in "iu" or int(t) < 0:
            raise ValueError(f"HistoricalAveraging: t must be a count, got {d['t']!r}")
        if (int(t) == 0) != (len(d) == 1):
            raise ValueError(f"HistoricalAveraging: t = {int(t)} with {len(d) - 1} averaged parameters")
        if self.mean:
            saved = {k[len("mean."):]: tuple(v.shape) for k, v in d.items() if k != "t"}
            mine = {k: tuple(v.shape) for k, v in self.mean.items()}
            if saved != mine:
                raise ValueError(f"HistoricalAveraging: the saved average is of {saved}, this one of {mine}")

    def load_state_dict(self, d):
        self.check_state_dict(d)
        self.t = int(np.asarray(backend.to_host(d["t"])))
        self.mean = {k[len("mean."):]: backend.to_device(v).copy() for k, v in d.items() if k != "t"}

    def __repr__(self):
        return f"HistoricalAveraging({self.weight!r})"
