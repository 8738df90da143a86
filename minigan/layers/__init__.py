"""Layers with hand-written backward passes -- no autograd anywhere.

One idea per file: ``base`` (the protocol every layer follows), ``init``
(initialisers), ``linear``, ``activations``, ``maxout``, ``dropout``,
``sequential``, and the layers of "Improved Techniques for Training GANs":
``batchnorm``, ``virtual_batchnorm`` (VirtualBatchNorm and the VirtualBatch
wrapper) and ``minibatch_discrimination``; and the VAE's ``reparameterisation``
(z = mu + sigma * eps, a forward/backward function pair). Everything is importable from here: ``from minigan.layers
import Linear``. The protocol is described in ``minigan/layers/base.py``.
"""
from .base import MAX_PENDING, Layer, is_generator, no_grad
from .init import glorot_uniform_init, uniform_init
from .linear import Linear
from .activations import LeakyReLU, ReLU, Sigmoid, Tanh
from .maxout import Maxout, max_over_pieces, max_over_pieces_fast, route_to_winner, route_to_winner_fast
from .dropout import Dropout
from .sequential import Sequential, backward_input_only, backward_params_only, evaluating, frozen, walk_layers
from .batchnorm import BatchNorm
from .virtual_batchnorm import VirtualBatch, VirtualBatchNorm
from .minibatch_discrimination import MinibatchDiscrimination
from .reparameterisation import reparameterise_backward, reparameterise_forward

__all__ = [
    "Layer", "Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Maxout",
    "Dropout", "Sequential", "no_grad", "uniform_init", "glorot_uniform_init",
    "MAX_PENDING", "walk_layers", "backward_params_only", "backward_input_only", "frozen", "evaluating",
    "is_generator",
]
__all__ += ["BatchNorm", "VirtualBatchNorm", "VirtualBatch", "MinibatchDiscrimination"]
__all__ += ["reparameterise_forward", "reparameterise_backward"]
