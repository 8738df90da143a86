"""Losses with their gradients, each from logits so that nothing overflows.

One idea per file: ``logistic`` (sigmoid and softplus, stable in both tails),
``gan`` (the value function V(D, G) and the players' losses of Goodfellow et
al. 2014), ``classification`` (log-sum-exp, softmax and the softmax
cross-entropy of K class logits), ``penalties`` (terms a trainer adds to a
player's loss: ``WeightDecay``, ``SupervisedLoss``), and two techniques of Salimans et al.
(2016): ``feature_matching`` (G's loss on D's intermediate features, ``FeatureMatching``) and
``historical_averaging`` (a penalty for either player, ``HistoricalAveraging``); for the
autoencoders and the VAE (Kingma & Welling 2014): ``reconstruction`` (squared error and the
Bernoulli cross-entropy of a decoder's logits, per example and as a mean) and ``gaussian_kl``
(KL(N(mu, diag exp(logvar)) || N(0, I)) in closed form). Each function returns the
value and its gradient(s) with respect to its inputs. Everything is importable
from here.

A trainer takes its losses as arguments, not as methods to override: ``GAN(...,
d_loss=fn(real_logits, fake_logits) -> (value, grad_real, grad_fake),
g_loss=fn(out) -> (value, grad), d_penalties=[...], g_penalties=[...])`` and
``ClassifierTrainer(..., loss=fn(logits, labels) -> (value, grad), penalties=[...])``.
"""
from .logistic import sigmoid, sigmoid_and_slope, sigmoid_and_slope_fast, softplus
from .gan import (GENERATOR_LOSSES, _logits, bce_with_logits, discriminator_loss, generator_loss_minimax,
                  generator_loss_nonsaturating, value_function)
from .classification import log_softmax, logsumexp, softmax, softmax_cross_entropy
from .penalties import SupervisedLoss, WeightDecay
from .feature_matching import FeatureMatching, feature_matching_loss
from .historical_averaging import HistoricalAveraging
from .reconstruction import (bernoulli_cross_entropy, bernoulli_cross_entropy_per_example, squared_error,
                             squared_error_per_example)
from .gaussian_kl import gaussian_kl, gaussian_kl_per_example

__all__ = [
    "softplus", "sigmoid", "sigmoid_and_slope", "sigmoid_and_slope_fast", "value_function",
    "discriminator_loss", "bce_with_logits", "generator_loss_minimax", "generator_loss_nonsaturating",
    "GENERATOR_LOSSES", "logsumexp", "softmax", "log_softmax", "softmax_cross_entropy",
    "WeightDecay", "SupervisedLoss", "FeatureMatching", "feature_matching_loss", "HistoricalAveraging",
    "squared_error", "squared_error_per_example", "bernoulli_cross_entropy",
    "bernoulli_cross_entropy_per_example", "gaussian_kl", "gaussian_kl_per_example",
]
