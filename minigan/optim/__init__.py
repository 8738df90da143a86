"""Optimizers that update a layer's ``params`` in place from its ``grads``, and a
running average of parameters kept beside training.

One idea per file: ``base`` (what every optimizer shares, state dicts),
``sgd`` (momentum SGD with the paper's schedules), ``adam``, ``average``
(``ParameterAverage``). Everything is importable from here.
"""
from .base import Optimizer, _positive, _sum_of_squares
from .sgd import SGD, momentum_update, momentum_update_fast, momentum_update_many
from .adam import Adam
from .average import ParameterAverage

__all__ = ["SGD", "Adam", "Optimizer", "ParameterAverage"]
