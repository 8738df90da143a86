"""Momentum SGD, the paper's rule (the released pylearn2 configuration):

    v     <- mu v - lr g
    theta <- theta + v

with lr divided by a decay factor (1.000004) after every minibatch down to a
floor (1e-6), and mu ramped linearly from 0.5 to 0.7 between epochs 1 and 250.
"""
from __future__ import annotations

import math

import numpy as np

from .. import fast
from ..fast.sgd import momentum_update_fast, momentum_update_many  # noqa: F401 -- the fast twins
from .base import Optimizer, _positive, _sum_of_squares

__all__ = ["SGD", "momentum_update", "momentum_update_all", "flush_tiny", "momentum_update_many",
           "momentum_update_fast"]


class SGD(Optimizer):
    """Momentum SGD with the released code's schedules.

    Parameters
    ----------
    lr : initial learning rate (paper: 0.1).
    momentum : initial momentum mu (paper: 0.5).
    lr_decay : lr is divided by this after every step (paper: 1.000004; 1 = off).
    lr_min : floor for the decayed lr (paper: 1e-6).
    final_momentum, momentum_start, momentum_saturate : mu goes linearly from
        ``momentum`` at epoch ``momentum_start`` to ``final_momentum`` at epoch
        ``momentum_saturate`` (paper: 0.7, 1, 250). Needs ``steps_per_epoch``.

    Subnormal numbers: the velocity of a parameter whose gradient stays zero (a
    dead ReLU unit's weights) shrinks by mu every step and, after some 200
    steps, passes through the subnormal floats below 1.2e-38, on which x86 CPUs
    compute many times slower: a trained MNIST model's update is measurably slower
    with them (benchmarks/subnormal_velocities.py; see benchmarks/RESULTS.md,
    "What the speed changes were worth"). So on the CPU, every ``FLUSH_EVERY`` steps,
    velocities below ``FLUSH_BELOW`` (1e-30) in magnitude are set to zero
    before the update: such a v moves no parameter larger than about 1e-22 by
    a single float32 step, and, with mu >= 0.5 (the paper's 0.5 to 0.7), it
    shrinks by at most 2x per step and is caught before it can turn subnormal.
    CuPy keeps the plain rule (GPUs handle subnormals at full speed).
    """

    slots = ("velocity",)
    SETTINGS = ("lr0", "momentum0", "lr_decay", "lr_min", "final_momentum", "momentum_start",
                "momentum_saturate", "steps_per_epoch")
    FLUSH_EVERY = 16
    FLUSH_BELOW = 1e-30

    def __init__(self, model, lr=0.1, momentum=0.0, *, lr_decay=1.0, lr_min=0.0,
                 final_momentum=None, momentum_start=1, momentum_saturate=250,
                 steps_per_epoch=None):
        super().__init__(model)
        self.lr0 = _positive("SGD lr", lr)
        self.momentum0 = _positive("SGD momentum", momentum, allow_zero=True)
        if self.momentum0 >= 1:             # each message names only the setting that is wrong
            raise ValueError(f"SGD momentum must be in [0, 1), got {momentum}")
        self.lr_decay = _positive("SGD lr_decay", lr_decay)
        if self.lr_decay < 1:
            raise ValueError(f"SGD lr_decay must be >= 1 (1 = off), got {lr_decay}")
        self.lr_min = _positive("SGD lr_min", lr_min, allow_zero=True)
        self.final_momentum = None if final_momentum is None else _positive(
            "SGD final_momentum", final_momentum, allow_zero=True)
        if self.final_momentum is not None and self.final_momentum >= 1:
            raise ValueError(f"SGD needs final_momentum < 1, got {final_momentum}")
        if self.final_momentum is not None:
            if steps_per_epoch is None or int(steps_per_epoch) < 1:
                raise ValueError("SGD momentum ramp needs steps_per_epoch >= 1")
            if not momentum_saturate > momentum_start:
                raise ValueError("SGD needs momentum_saturate > momentum_start")
        self.momentum_start, self.momentum_saturate = momentum_start, momentum_saturate
        self.steps_per_epoch = steps_per_epoch

    @property
    def lr(self):
        """lr_t = max(lr_0 / decay^t, lr_min), t = steps taken so far."""
        # lr_0 * exp(-t log decay): decay ** t would overflow (OverflowError) for long runs
        return max(self.lr0 * math.exp(-self.t * math.log(self.lr_decay)), self.lr_min)

    @property
    def momentum(self):
        """mu during the current epoch, numbered from 1 (epoch = t // steps_per_epoch + 1).

        As pylearn2's MomentumAdjustor: alpha = (epoch - start) / (saturate - start),
        clipped to [0, 1]; mu = (1 - alpha) mu_0 + alpha mu_final. With start 1 and
        saturate 250, epoch 1 runs at 0.5, epoch 2 at 0.5 + 0.2/249, epoch 250 at 0.7.
        """
        if self.final_momentum is None:
            return self.momentum0
        epoch = self.t // int(self.steps_per_epoch) + 1
        frac = (epoch - self.momentum_start) / (self.momentum_saturate - self.momentum_start)
        frac = min(max(frac, 0.0), 1.0)
        return self.momentum0 + frac * (self.final_momentum - self.momentum0)

    @fast.has_twin
    def step(self):
        """v <- mu v - lr g;  theta <- theta + v  (for every parameter, in place)."""
        lr, mu = self.lr, self.momentum
        flush_below = self.FLUSH_BELOW if self.t % self.FLUSH_EVERY == 0 else None
        velocity, grads = self.state["velocity"], self.model.grads
        updates = [(k, theta, velocity[k], grads[k]) for k, theta in self.model.params.items()]
        sums = momentum_update_all(updates, lr, mu, flush_below)
        for k, (g_sq, theta_sq) in sums.items():      # sum g^2, sum theta^2 for the trainer
            self.grad_sq[k], self.param_sq[k] = g_sq, theta_sq
        self.t += 1


@fast.has_twin
def momentum_update_all(updates, lr, mu, flush_below=None):
    """``momentum_update`` for every ``(name, theta, v, g)`` of ``updates``, in place;
    returns ``{name: (sum g^2, sum theta^2 after the update)}``. ``flush_below``: first
    set the velocities smaller than it in magnitude to zero (``flush_tiny``; see ``SGD``).

    Fast twin: ``minigan.fast.sgd.momentum_update_all_fast`` (one pass over memory).
    """
    sums = {}
    for k, theta, v, g in updates:
        if flush_below is not None:
            flush_tiny(v, flush_below)                # no subnormal velocities (SGD's docstring)
        momentum_update(theta, v, g, lr, mu)
        sums[k] = (_sum_of_squares(g), _sum_of_squares(theta))
    return sums


def momentum_update(theta, v, g, lr, mu):
    """v <- mu v - lr g;  theta <- theta + v, in place (the textbook version)."""
    v *= mu
    v -= lr * g
    theta += v


def flush_tiny(v, below):
    """v_i <- 0 where |v_i| < below, for a NumPy array (the CPU); a CuPy array is
    left as it is (GPUs compute on subnormals at full speed)."""
    if isinstance(v, np.ndarray):
        v[np.abs(v) < below] = 0
