"""Supervised training of a classifier: minibatches of labelled data, any optimizer.

    for each epoch:
        shuffle the N training pairs (x_i, y_i) (a permutation drawn from the trainer's seed)
        for each minibatch B of m pairs (the last N mod m pairs of the shuffle are left out):
            descend (1/m) sum_{i in B} loss(f(x_i), y_i)  [+ penalties]
        record the epoch: mean minibatch loss and accuracy; loss and accuracy on the held-out set

``f`` is any Layer that outputs K class logits per row (a ``Sequential``); the loss is
``losses.softmax_cross_entropy`` unless another ``loss(logits, labels) -> (value, grad)`` is
given. The network is in training mode during the steps (dropout on) and in evaluation mode
for every prediction (``logits``, ``probabilities``, ``predict``, ``evaluate``). A run is
determined by its seed and the network's own generators (dropout masks); ``state_dict()`` /
``load_state_dict(d)`` hold all of it, so ``minigan.checkpoint.save(path, trainer)`` and
``load`` resume a run exactly (on NumPy).
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend, losses, state
from ..layers import backward_params_only, evaluating
from ..state import StateError
from .gan import TrainingDiverged, _step_grad_norm
from .history import History
from .run_state import (apply_generators, apply_parts, check_generators, check_history, check_model_and_optimizer,
                        check_parts, one_network_generators, repeat, save_history, save_one_network)

__all__ = ["ClassifierTrainer", "CLASSIFIER_FIELDS"]

CLASSIFIER_FIELDS = ("iteration", "epoch", "loss", "accuracy", "valid_loss", "valid_accuracy", "grad_norm")
"""One history row per epoch: steps so far, epoch number, mean minibatch loss and accuracy over the
epoch, the held-out set's loss and accuracy (NaN without one), ||grad|| of the epoch's last step."""


class ClassifierTrainer:
    """Minibatch training of ``model`` (x -> K class logits) on labelled data.

    Parameters
    ----------
    model : a Layer whose output has one row of K logits per input row.
    optimizer : any ``minigan.optim`` optimizer built on ``model``.
    x, y : training inputs (N, ...) and integer labels (N,), NumPy or CuPy.
    m : minibatch size (1 <= m <= N).
    loss : ``(logits, labels) -> (mean loss, dloss/dlogits)``; softmax cross-entropy by default.
    penalties : callables ``(model, trainer) -> value`` that add their gradient into
        ``model.grads`` after each backward (``minigan.losses.WeightDecay``).
    valid : None or a held-out ``(x, y)``, evaluated after every epoch.
    seed : seeds the shuffles (``self.rng``, a NumPy generator: the same order on every backend).
    eval_batch : rows per forward when evaluating (bounds the memory of a large set).
    """

    def __init__(self, model, optimizer, x, y, *, m=100, loss=losses.softmax_cross_entropy,
                 penalties=(), valid=None, seed=0, eval_batch=10000):
        if getattr(optimizer, "model", None) is not model:
            raise ValueError("optimizer must be built on the model it updates")
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"x and y must hold the same number (>= 1) of rows, got {len(x)} and {len(y)}")
        if not isinstance(m, int) or isinstance(m, bool) or not 1 <= m <= len(x):
            raise ValueError(f"m (minibatch size) must be an integer in [1, {len(x)}], got {m!r}")
        if not callable(loss) or not all(callable(p) for p in penalties):
            raise ValueError("loss and every penalty must be callables")
        if valid is not None and (len(valid) != 2 or len(valid[0]) != len(valid[1])):
            raise ValueError("valid must be None or a pair (x, y) of the same number of rows")
        self.model, self.opt, self.x, self.y = model, optimizer, x, y
        self.m, self.loss, self.penalties, self.valid = m, loss, list(penalties), valid
        self.seed, self.eval_batch = seed, int(eval_batch)
        self.rng = np.random.default_rng(seed)
        self.iteration = 0          # optimizer steps taken
        self.epoch = 0              # epochs completed
        self.history = History(CLASSIFIER_FIELDS)

    # ------------------------------------------------------------------ training
    def step(self, xb, yb):
        """One update on the minibatch (xb, yb); returns (loss, number right) as 0-d arrays."""
        self.model.train()
        self.model.zero_grad()
        logits = self.model.forward(xb)
        loss, grad = self.loss(logits, yb)
        backward_params_only(self.model, grad)           # x is data: no dL/dx
        for penalty in self.penalties:
            loss = loss + penalty(self.model, self)
        self.opt.step()
        self.iteration += 1
        return loss, (logits.argmax(axis=1) == yb).sum()

    def train_epoch(self):
        """One pass over a fresh shuffle of the training set; appends a history row and returns it."""
        xp = backend.array_module(self.x)
        order = self.rng.permutation(len(self.x))
        n_batches = len(order) // self.m
        total_loss, right = 0.0, 0
        for b in range(n_batches):
            idx = order[b * self.m:(b + 1) * self.m]
            if xp is not np:
                idx = xp.asarray(idx)
            loss, n_right = self.step(self.x[idx], self.y[idx])
            total_loss, right = total_loss + loss, right + n_right    # summed on the device
        self.epoch += 1
        row = {"iteration": self.iteration, "epoch": self.epoch,
               "loss": float(total_loss) / n_batches, "accuracy": float(right) / (n_batches * self.m),
               "valid_loss": math.nan, "valid_accuracy": math.nan, "grad_norm": _step_grad_norm(self.opt)}
        if not math.isfinite(row["loss"]):
            raise TrainingDiverged(self.iteration, "loss", row["loss"])
        if self.valid is not None:
            held = self.evaluate(*self.valid)
            row["valid_loss"], row["valid_accuracy"] = held["loss"], held["accuracy"]
        self.history.append(row)
        return row

    def train(self, epochs, callback=None):
        """Run ``epochs`` more epochs; ``callback(trainer, row)`` after each. Returns their rows."""
        return repeat(self.train_epoch, epochs, self, callback, what="epochs")

    # ------------------------------------------------------------------ evaluation
    def logits(self, x):
        """The model's logits for x, in evaluation mode (no dropout, no cache), in blocks."""
        with evaluating(self.model):
            parts = [self.model.forward(x[i:i + self.eval_batch]) for i in range(0, len(x), self.eval_batch)]
        return parts[0] if len(parts) == 1 else backend.array_module(parts[0]).concatenate(parts)

    def probabilities(self, x):
        """p(y | x) = softmax of the logits, shape (n, K)."""
        return losses.softmax(self.logits(x))

    def predict(self, x):
        """The most probable class of each row, shape (n,)."""
        return self.logits(x).argmax(axis=1)

    def evaluate(self, x, y):
        """{"loss": mean loss, "accuracy": share of rows classified right} on (x, y)."""
        logits = self.logits(x)
        loss, _ = self.loss(logits, y)
        return {"loss": float(loss), "accuracy": float((logits.argmax(axis=1) == y).mean())}

    def accuracy(self, x, y):
        """The share of the rows of x whose most probable class is y."""
        return self.evaluate(x, y)["accuracy"]

    # ------------------------------------------------------------------ state
    def parts(self):
        """(name, penalty) for each penalty: ``"penalties.<i>"`` (saved with the run when it
        keeps state or a generator, as in ``GAN.parts``)."""
        return [(f"penalties.{i}", p) for i, p in enumerate(self.penalties)]

    def random_generators(self):
        """(key, owner, attribute) for every generator the run draws from: the shuffles'
        (``trainer``), each layer's (``model/<path>``: Dropout) and each penalty's."""
        return one_network_generators(self)

    def state_dict(self):
        """The whole run: ``model/<name>`` (parameters and buffers), ``opt/<slot>/<param>``,
        ``rng/<key>``, ``part/<name>/<key>``, the history, and plain values (iteration, epoch,
        the optimizer's class, step count and settings, the architecture)."""
        out, exact, parts = save_one_network(self)
        out.update(save_history(self.history))
        out.update({"iteration": self.iteration, "epoch": self.epoch, "m": self.m, "seed": self.seed,
                    "architecture": state.signature(self.model.params),
                    "rng_exact": exact, **({"parts": parts} if parts else {})})
        return out

    def check_state_dict(self, d):
        """Check ``d`` against this run (nothing changes); returns what ``load_state_dict`` applies."""
        for key in ("iteration", "epoch", "optimizer", "history", "history_fields"):
            if key not in d:
                raise StateError(f"the state lacks {key!r} (not a classifier trainer's state, or a damaged one)")
        model, opt = check_model_and_optimizer(d, self.model, self.opt)
        return {"model": model, "opt": opt, "rng": check_generators(d, self.random_generators()),
                "parts": check_parts(d, self.parts()), "history": check_history(d, self.history.fields)}

    def load_state_dict(self, d):
        """``check_state_dict(d)``, then apply it; returns notes (generators re-seeded)."""
        checked = self.check_state_dict(d)
        self.model.load_state_dict(checked["model"])
        self.opt.load_state_dict(checked["opt"])
        notes = apply_generators(self.random_generators(), checked["rng"], self.seed, int(d["iteration"]))
        apply_parts(self.parts(), checked["parts"])
        self.model.clear_cache()
        self.iteration, self.epoch = int(d["iteration"]), int(d["epoch"])
        self.history = checked["history"]
        return notes
