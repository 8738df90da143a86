"""Losses with their gradients, each from logits so that nothing overflows.

One idea per file: ``logistic`` (sigmoid and softplus, stable in both tails),
``gan`` (the value function V(D, G) and the players' losses of Goodfellow et
al. 2014). Each function returns the value and its gradient(s) with respect
to its inputs. Everything is importable from here.
"""
from .logistic import sigmoid, sigmoid_and_slope, sigmoid_and_slope_fast, softplus
from .gan import (GENERATOR_LOSSES, _logits, bce_with_logits, discriminator_loss, generator_loss_minimax,
                  generator_loss_nonsaturating, value_function)

__all__ = [
    "softplus", "sigmoid", "sigmoid_and_slope", "sigmoid_and_slope_fast", "value_function",
    "discriminator_loss", "bce_with_logits", "generator_loss_minimax", "generator_loss_nonsaturating",
    "GENERATOR_LOSSES",
]
