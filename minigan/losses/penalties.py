"""Terms a trainer adds to a player's loss: penalties, passed as arguments.

A penalty is any callable ``penalty(model, trainer) -> value``. The trainer calls it
after the backward of its own loss and before the optimizer's step, with the
model's ``grads`` holding that loss's gradient; the penalty ADDS the gradient of its
own term into ``model.grads`` (``grads += ...``, the way weight decay is written by
hand) and returns the term's value, which the trainer adds to the loss it reports.

    GAN(..., d_penalties=[WeightDecay(1e-4)], g_penalties=[...])
    ClassifierTrainer(..., penalties=[WeightDecay(5e-4)])

``trainer`` is the trainer calling (its ``rng`` draws any minibatch a penalty
needs, so that the draw is part of the run's saved random state). Two kinds here:

* ``WeightDecay(lam)``: (lam / 2) sum ||W||^2 over the weight matrices;
* ``SupervisedLoss(network, sampler, m)``: a loss on a labelled minibatch of its
  own, through a network that shares the model's parameters (the semi-supervised
  K+1-class D: D's class logits, trained by cross-entropy beside the GAN game).
"""
from __future__ import annotations

from .classification import softmax_cross_entropy

__all__ = ["WeightDecay", "SupervisedLoss"]


def _is_weight(name):
    return name.rsplit(".", 1)[-1] == "W"


class WeightDecay:
    """(lam / 2) sum_W ||W||^2, gradient lam W, for every parameter named ``W``
    (``weights(name) -> bool`` picks others: ``lambda name: True`` decays biases too)."""

    def __init__(self, lam, weights=_is_weight):
        if not lam >= 0:
            raise ValueError(f"WeightDecay needs lam >= 0, got {lam!r}")
        self.lam, self.weights = float(lam), weights

    def __call__(self, model, trainer=None):
        grads, value = model.grads, 0.0
        for name, w in model.params.items():
            if self.weights(name):
                grads[name] += self.lam * w                  # d/dW (lam / 2) ||W||^2 = lam W
                value = value + 0.5 * self.lam * (w * w).sum()    # on w's device: no sync
        return value

    def __repr__(self):
        return f"WeightDecay({self.lam:g})"


class SupervisedLoss:
    """``weight * loss(network(x), y)`` on a labelled minibatch ``sampler(m, trainer.rng)``.

    ``network`` shares the model's parameters (e.g. ``Sequential(*D.layers[:-1])``, D's
    class logits); its forward and backward put the gradient into the model's ``grads``.
    ``loss(logits, y) -> (value, dvalue/dlogits)``; the softmax cross-entropy by default.
    """

    def __init__(self, network, sampler, m, *, loss=softmax_cross_entropy, weight=1.0):
        self.network, self.sampler, self.m = network, sampler, int(m)
        self.loss, self.weight = loss, float(weight)

    def __call__(self, model, trainer):
        x, y = self.sampler(self.m, trainer.rng)
        logits = self.network.forward(x)
        value, grad = self.loss(logits, y)
        if self.weight != 1.0:
            value, grad = self.weight * value, grad * grad.dtype.type(self.weight)
        self.network.backward(grad, input_grad=False)          # adds into the shared grads; x is data
        return value

    def __repr__(self):
        return f"SupervisedLoss({getattr(self.loss, '__name__', self.loss)}, m={self.m}, weight={self.weight:g})"
