"""Momentum SGD, the paper's rule (the released pylearn2 configuration):

    v     <- mu v - lr g
    theta <- theta + v

with lr divided by a decay factor (1.000004) after every minibatch down to a
floor (1e-6), and mu ramped linearly from 0.5 to 0.7 between epochs 1 and 250.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import backend
from .base import Optimizer, _positive

__all__ = ["SGD", "momentum_update", "momentum_update_many", "momentum_update_fast"]


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
        self.lr_decay = _positive("SGD lr_decay", lr_decay)
        self.lr_min = _positive("SGD lr_min", lr_min, allow_zero=True)
        if self.momentum0 >= 1 or self.lr_decay < 1:
            raise ValueError(f"SGD needs momentum < 1 and lr_decay >= 1, got {momentum}, {lr_decay}")
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

    def step(self):
        """v <- mu v - lr g;  theta <- theta + v  (for every parameter, in place)."""
        lr, mu = self.lr, self.momentum
        velocity = self.state["velocity"]
        grads = self.model.grads
        fast = []
        for k, theta in self.model.params.items():
            v, g = velocity[k], grads[k]
            if isinstance(theta, np.ndarray) and all(a.flags.c_contiguous for a in (theta, v, g)):
                fast.append((k, theta, v, g))
            else:                                     # CuPy, or a strided view: the textbook update
                momentum_update(theta, v, g, lr, mu)
                self._record(k, g, theta)
        if fast:
            flush = self.FLUSH_BELOW if self.t % self.FLUSH_EVERY == 0 else None
            sums = momentum_update_many(fast, lr, mu, flush_below=flush)
            for k, (g_sq, theta_sq) in sums.items():
                self.grad_sq[k], self.param_sq[k] = g_sq, theta_sq
        self.t += 1


def momentum_update(theta, v, g, lr, mu):
    """v <- mu v - lr g;  theta <- theta + v, in place (the textbook version)."""
    v *= mu
    v -= lr * g
    theta += v


_CHUNK = 1 << 16


def _momentum_chunks(work, lr, mu, buf, flush_below=None):
    """``momentum_update`` on a list of (name, theta, v, g) chunks (1-D views), each
    while it is in the CPU cache, plus sum g^2 and sum theta^2 of every chunk.
    ``flush_below``: first set velocities smaller than this in magnitude to 0."""
    sums = {}
    small = np.empty(len(buf), dtype=bool) if flush_below is not None else None
    for k, theta, v, g in work:
        lr_g = buf[:len(g)]
        if flush_below is not None:
            np.less(np.abs(v, out=lr_g), flush_below, out=small[:len(v)])
            if small[:len(v)].any():
                np.copyto(v, 0, where=small[:len(v)])
        g_sq = float(np.dot(g, g))            # g is read into the cache here ...
        v *= mu                               # ... and used from it below
        np.multiply(g, lr, out=lr_g)
        v -= lr_g
        theta += v
        theta_sq = float(np.dot(theta, theta))
        a, b = sums.get(k, (0.0, 0.0))
        sums[k] = (a + g_sq, b + theta_sq)
    return sums


_pool = {"n": 0, "executor": None}


def _executor(n):
    if _pool["n"] != n:
        if _pool["executor"] is not None:
            _pool["executor"].shutdown(wait=True)
        _pool["executor"] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="minigan-optim")
        _pool["n"] = n
    return _pool["executor"]


def momentum_update_many(params, lr, mu, *, chunk=_CHUNK, threads=None, flush_below=None):
    """``momentum_update`` for C-contiguous NumPy arrays ``[(name, theta, v, g), ...]``,
    fused and spread over threads; returns {name: (sum g^2, sum theta^2 after)}.

    A weight matrix is several MB: the textbook version streams it through
    memory four times, and the trainer's gradient norm and divergence check
    would stream g and theta once more each. Here each chunk of 64k numbers
    (256 kB in float32) of g, v and theta is read once and every operation,
    the two sums of squares included, runs on it while it is in the cache.
    The chunks are shared among ``threads`` threads (by default
    ``backend.num_threads()``: ``MINIGAN_NUM_THREADS``, else 1; NumPy releases
    the GIL inside each operation). The same
    operations in the same order as ``momentum_update``: the same bits.

    ``flush_below`` (SGD passes 1e-30 every ``SGD.FLUSH_EVERY`` steps) first sets
    the velocities smaller than it in magnitude to zero; see ``SGD``.
    """
    work = []
    for k, theta, v, g in params:
        theta, v, g = theta.reshape(-1), v.reshape(-1), g.reshape(-1)
        for start in range(0, theta.size, chunk):
            part = slice(start, start + chunk)
            work.append((k, theta[part], v[part], g[part]))
    size = sum(len(w[1]) for w in work)
    n = backend.num_threads() if threads is None else int(threads)
    n = max(1, min(n, len(work), size // (4 * chunk) or 1))   # threads only for megabytes
    dtype = params[0][1].dtype if params else np.float32
    if n == 1:
        return _momentum_chunks(work, lr, mu, np.empty(min(chunk, size), dtype), flush_below)
    share = -(-len(work) // n)
    jobs = [_executor(n).submit(_momentum_chunks, work[i:i + share], lr, mu,
                                np.empty(min(chunk, size), dtype), flush_below)
            for i in range(0, len(work), share)]
    sums = {}
    for job in jobs:                                   # in order: the same sums every run
        for k, (a, b) in job.result().items():
            a0, b0 = sums.get(k, (0.0, 0.0))
            sums[k] = (a0 + a, b0 + b)
    return sums


def momentum_update_fast(theta, v, g, lr, mu, chunk=_CHUNK):
    """``momentum_update`` for one NumPy array, chunk by chunk, in the cache
    (``momentum_update_many`` for one parameter, on this thread)."""
    if not all(a.flags.c_contiguous for a in (theta, v, g)):
        return momentum_update(theta, v, g, lr, mu)      # reshape(-1) would copy: update in place
    momentum_update_many([("", theta, v, g)], lr, mu, chunk=chunk, threads=1)

