"""A running (Polyak, then exponential) average of a model's parameters."""
from __future__ import annotations

import numpy as np

from .. import backend, state
from .base import _positive

__all__ = ["ParameterAverage"]


class ParameterAverage:
    """A running average of a model's parameters over the steps of training
    (Polyak and Juditsky 1992; for GANs, Yazici et al. 2019), kept beside the
    model: training is untouched, and the average is another estimate of the
    same player.

        theta_bar_t = theta_bar_{t-1} + w_t (theta_t - theta_bar_{t-1}),
        w_t = max(1 / t, 1 - decay)

    so theta_bar is the plain mean of theta_1 .. theta_t while t < 1 / (1 - decay),
    then an exponential average over about the last 1 / (1 - decay) steps.
    Call ``update()`` after each optimizer step; ``with avg.applied(): ...``
    runs code with the averaged parameters in the model (and puts the trained
    ones back after, even on an error).

    The average is accumulated in float64 whatever the parameters' dtype: in
    float32 an increment w (theta - theta_bar) smaller than half a unit in the
    last place of theta_bar is lost (with w = 1e-5 and theta_bar near 0.05, every
    difference under about 4e-4), so a slow average would stall. ``applied()``
    rounds it to the parameters' dtype.

    Parameters only: the model's buffers (a batch norm's running mean and
    variance) are not averaged, and ``applied()`` leaves them as they are, so a
    model run with the averaged parameters uses its live buffers, the ones
    training left behind.

    Parameters
    ----------
    model : a Layer (usually G).
    decay : in [0, 1); 0.999 averages over ~1,000 steps (2 MNIST epochs of 500).
    """

    def __init__(self, model, decay=0.999):
        if not hasattr(model, "params"):
            raise TypeError(f"ParameterAverage needs a Layer (with params), got {type(model).__name__}")
        self.decay = _positive("ParameterAverage decay", decay, allow_zero=True)
        if self.decay >= 1:
            raise ValueError(f"ParameterAverage decay must be < 1, got {decay!r}")
        self.model = model
        self.t = 0
        self.average = {k: p.astype(np.float64) for k, p in model.params.items()}
        self._scratch = {}

    def reset(self):
        """Start over from the model's parameters as they are now (t = 0)."""
        for k, p in self.model.params.items():
            self.average[k][...] = p
        self.t = 0

    @property
    def weight(self):
        """w_t of the next update: max(1 / t, 1 - decay)."""
        return max(1.0 / (self.t + 1), 1.0 - self.decay)

    def update(self):
        """theta_bar <- theta_bar + w (theta - theta_bar), for every parameter, in place."""
        w = self.weight
        for k, theta in self.model.params.items():
            bar = self.average[k]
            diff = self._scratch.get(k)
            if diff is None:
                diff = self._scratch[k] = bar * 0
            backend.array_module(bar).subtract(theta, bar, out=diff)
            diff *= w
            bar += diff
        self.t += 1

    def applied(self):
        """Context manager: the model holds the averaged parameters inside the block."""
        return _Swapped(self.model, self.average)

    def state_dict(self):
        """``"t"``, ``"decay"`` and ``"average/<param>"`` -> a copy of the array."""
        out = {"t": self.t, "decay": self.decay}
        out.update({f"average/{k}": v.copy() for k, v in self.average.items()})
        return out

    def check_state_dict(self, d):
        """``StateError`` (a KeyError and a ValueError) unless ``d`` fits: the same decay,
        ``"t"``, and every ``"average/<param>"`` of the parameter's shape; changes nothing."""
        if "decay" in d and float(d["decay"]) != self.decay:
            raise state.StateError(f"ParameterAverage state has decay {float(d['decay'])}, this one {self.decay}")
        state.check("ParameterAverage", self._state_targets(), d, ("t", "decay"))

    def load_state_dict(self, d):
        """Restore from ``state_dict()``; the decay and the parameter shapes must match (checked first)."""
        self.check_state_dict(d)
        state.copy_into(self._state_targets(), d)
        self.t = int(d["t"])

    def _state_targets(self):
        return {f"average/{k}": v for k, v in self.average.items()}


class _Swapped:
    """Puts ``values`` into ``model.params`` on entry and the model's own back on exit."""

    def __init__(self, model, values):
        self.model, self.values, self.saved = model, values, None

    def __enter__(self):
        params = self.model.params
        self.saved = {k: p.copy() for k, p in params.items()}
        for k, p in params.items():
            p[...] = self.values[k]
        return self.model

    def __exit__(self, *exc):
        for k, p in self.model.params.items():
            p[...] = self.saved[k]
        self.saved = None
        return False
