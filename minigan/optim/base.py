"""What every optimizer shares: the model, the step counter t, state arrays and
their ``state_dict()`` / ``load_state_dict()`` (plain arrays and numbers, so a
checkpoint is an ``.npz`` with no pickles)."""
from __future__ import annotations

import math

from .. import state

__all__ = ["Optimizer"]


def _sum_of_squares(a):
    """sum_i a_i^2 as one dot product (BLAS; no a * a temporary). A 0-d array
    on the array's own device (no host sync for CuPy)."""
    flat = a.reshape(-1)
    return flat @ flat


def _positive(name, value, allow_zero=False):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, got {value!r}")
    return value


class Optimizer:
    """Common bookkeeping: the model, the step counter t and the state arrays."""

    slots: tuple = ()

    def __init__(self, model):
        if not hasattr(model, "params") or not hasattr(model, "grads"):
            raise TypeError(f"{type(self).__name__} needs a Layer (with params and grads), "
                            f"got {type(model).__name__}")
        self.model = model
        self.t = 0
        self.state = {slot: {k: p * 0 for k, p in model.params.items()} for slot in self.slots}
        # filled by every step(), for the trainer's history and divergence check:
        self.grad_sq = {}    # name -> sum of squares of the gradient that step used
        self.param_sq = {}   # name -> sum of squares of the parameter after the step

    @property
    def grad_norm(self):
        """||g||_2 over all parameters, of the gradient the last step used."""
        return math.sqrt(float(sum(self.grad_sq.values())))

    def _record(self, name, g, theta):
        self.grad_sq[name] = _sum_of_squares(g)
        self.param_sq[name] = _sum_of_squares(theta)

    def zero_grad(self):
        self.model.zero_grad()

    SETTINGS: tuple = ()      # the hyperparameters that decide every step (what a checkpoint compares)

    def settings(self):
        """{name: value} of the hyperparameters (``SETTINGS``): a resumed run must have the same."""
        return {name: getattr(self, name) for name in self.SETTINGS}

    def state_dict(self):
        """Flat dict: ``"t"`` and ``"<slot>/<param>"`` -> a copy of the array
        (a snapshot: later steps do not change it)."""
        out = {"t": self.t}
        for slot, arrays in self.state.items():
            out.update({f"{slot}/{k}": v.copy() for k, v in arrays.items()})
        return out

    def _state_targets(self):
        return {f"{slot}/{k}": v for slot, arrays in self.state.items() for k, v in arrays.items()}

    def check_state_dict(self, d):
        """``StateError`` (a KeyError and a ValueError) unless ``d`` has ``"t"`` and every
        state array of this optimizer's shape; changes nothing."""
        state.check(type(self).__name__, self._state_targets(), d, ("t",))

    def load_state_dict(self, d):
        """Restore from ``state_dict()``: every key and shape is checked first, then the arrays
        are copied onto this optimizer's device (a host state dict loads into a GPU optimizer)."""
        self.check_state_dict(d)
        state.copy_into(self._state_targets(), d)
        self.t = int(d["t"])
