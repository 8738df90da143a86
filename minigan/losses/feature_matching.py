"""Feature matching (Salimans et al. 2016, Sec. 3.1): G's loss on D's intermediate features.

G is trained to match the mean of an intermediate layer f of D on real data, not to fool D:

    L(G) = (1/F) || mean_i f(x_i) - mean_j f(G(z_j)) ||^2          (F: the number of features)

the real x_i from a minibatch of their own. With delta = mean_i f(x_i) - mean_j f(G(z_j)), a
constant of G's step, each fake row j gets

    dL/df(G(z_j)) = -2 delta / (F m)          (m: the fake rows)

which the trainer backpropagates through f (D's first layers, held fixed) into G.

The scale. The paper writes the squared norm; the released MNIST code
(train_mnist_feature_matching.py) takes ``T.mean(T.square(m1 - m2))``, the mean over the
250 features, i.e. the norm divided by F. We take the mean as that code does: the loss, and
with it the size of G's gradient, then does not grow with the width of the layer chosen, so
one learning rate serves any layer (the CIFAR code's L1 variant, mean |delta|, is not this loss).

What f is, as in the released code: the output of one of D's layers (its index in
``D.layers``), computed by a view of D (``Sequential(*D.layers[:layer + 1])``) that shares
D's parameters, so that every D update moves it; in training mode, so that D's noise layers
(dropout) stay on, for the real and for the fake features alike; held fixed in G's step (the
trainer backpropagates through it under ``layers.frozen``, and the real features are taken
under ``no_grad``: no gradient, no cache). The real minibatch is drawn by the loss, with its
own random generator (``rng``), from its own view of the data: a sampler that keeps state
(``MNISTSampler(order='epochs')``) is copied (shallowly: the images are shared), so the loss
passes over the data in a permutation of its own, like the released code's second permutation
of the unlabelled data, and the trainer's minibatches are the same with or without it. The
generator and the sampler's state are saved with the run (``GAN.parts``: ``rng/g_loss``,
``part/g_loss/sampler.<key>``), so a resumed run draws what an uninterrupted one would.
"""
from __future__ import annotations

import copy
import numbers

from .. import backend, layers      # (layers imports losses: names are looked up at call time)

__all__ = ["FeatureMatching", "feature_matching_loss"]


def feature_matching_loss(f_fake, real_mean):
    """The feature-matching loss and its gradient with respect to the fake features.

    Inputs:
    - f_fake: (m, ...) the features f(G(z_j)) of m generated rows (any trailing shape; F =
      the number of numbers per row)
    - real_mean: (...) mean_i f(x_i) over a real minibatch, a constant here

    Returns a tuple of:
    - loss: 0-d array, (1/F) ||real_mean - mean_j f_fake_j||^2
    - grad: (m, ...) dloss/df_fake = -2 (real_mean - mean_j f_fake_j) / (F m), the same for every row
    """
    if not hasattr(f_fake, "dtype") or f_fake.dtype.kind != "f" or f_fake.ndim < 2 or f_fake.shape[0] == 0:
        raise ValueError("feature_matching_loss expects floating-point features of shape (m, ...) with m >= 1, "
                         f"got {getattr(f_fake, 'dtype', type(f_fake))} of shape {getattr(f_fake, 'shape', '?')}")
    if tuple(real_mean.shape) != tuple(f_fake.shape[1:]):
        raise ValueError(f"feature_matching_loss: the real features' mean has shape {tuple(real_mean.shape)}, "
                         f"the fake rows have {tuple(f_fake.shape[1:])}")
    xp = backend.array_module(f_fake)
    m, n_features = f_fake.shape[0], f_fake[0].size
    t = f_fake.dtype.type
    delta = real_mean.astype(f_fake.dtype, copy=False) - f_fake.mean(axis=0)
    loss = (delta * delta).sum() / t(n_features)
    grad = xp.broadcast_to(delta * t(-2.0 / (n_features * m)), f_fake.shape).copy()
    return loss, grad


class _AgainstFixedMean:
    """``feature_matching_loss`` against a given real mean, through the same ``network``: a pure
    function of the fake features, for a gradient check (``FeatureMatching.against``)."""

    def __init__(self, network, real_mean, layer):
        self.network, self.real_mean, self.layer = network, real_mean, layer

    def __call__(self, f_fake):
        return feature_matching_loss(f_fake, self.real_mean)

    def __repr__(self):
        return f"FeatureMatching(layer={self.layer}, against a fixed real mean)"


class FeatureMatching:
    """G's loss ``(1/F) ||mean f(x) - mean f(G(z))||^2``, f = D's layers up to ``layer``.

    ``GAN(..., g_loss=FeatureMatching(D, layer, data_sampler))``: in G's step the trainer
    sends G(z) through ``self.network`` (D's layers 0..layer, D's own parameters), calls
    this loss on the output, and backpropagates its gradient through the network, held
    fixed, into G. Each call draws a real minibatch of its own (``data_sampler(m,
    self.rng)``) and takes its features, without a gradient (see the module docstring).

    Inputs:
    - discriminator: D, a ``Sequential`` whose last layer gives the logit
    - layer: index in ``D.layers`` of the layer whose output is f: an intermediate layer,
      0 .. len(D.layers) - 2 (the last gives D's logit, not features)
    - data_sampler: ``(m, rng) -> x``, p_data's minibatches (one that keeps state is copied)
    - m: rows of the real minibatch; None (default): as many as the fake batch has
    - seed: seeds ``self.rng``, the generator of the real minibatches (``backend.default_rng``)
    """

    def __init__(self, discriminator, layer, data_sampler, *, m=None, seed=None):
        found = getattr(discriminator, "layers", None)
        if not found or len(found) < 2:
            raise ValueError("FeatureMatching needs D as a Sequential of at least two layers (its features, "
                             f"then its logit), got {discriminator!r}")
        last = len(found) - 2
        if not isinstance(layer, numbers.Integral) or isinstance(layer, bool) or not 0 <= layer <= last:
            listing = ", ".join(f"{i} {type(lay).__name__}" for i, lay in enumerate(found))
            raise ValueError(f"feature_matching: {layer!r} is not an intermediate layer of D; give the index "
                             f"0..{last} of the layer whose output is f (D's layers: {listing}; the last, "
                             f"{last + 1}, gives D's logit)")
        if m is not None and (not isinstance(m, numbers.Integral) or isinstance(m, bool) or m < 1):
            raise ValueError(f"FeatureMatching: m (rows of the real minibatch) must be None or an integer >= 1, "
                             f"got {m!r}")
        if not callable(data_sampler):
            raise ValueError(f"FeatureMatching: data_sampler must be a function (m, rng) -> x, got {data_sampler!r}")
        self.layer, self.m = int(layer), None if m is None else int(m)
        self.network = layers.Sequential(*found[:self.layer + 1])       # D's own layers: its parameters
        self.data_sampler = copy.copy(data_sampler) if self._sampler_state(data_sampler) is not None \
            else data_sampler
        self.rng = backend.default_rng(seed)

    @staticmethod
    def _sampler_state(sampler):
        methods = (getattr(sampler, "state_dict", None), getattr(sampler, "load_state_dict", None))
        return methods[0]() if all(callable(f) for f in methods) else None

    def real_mean(self, m):
        """mean_i f(x_i) over a real minibatch of ``m`` rows (``self.m`` if set) drawn now,
        through the network in its current mode, with no gradient and no cache."""
        with layers.no_grad():
            return self.network.forward(self.data_sampler(self.m or m, self.rng)).mean(axis=0)

    def __call__(self, f_fake):
        """``(loss, dloss/df_fake)`` for the fake features ``f_fake`` (m, ...), against the
        features of a real minibatch drawn for this call."""
        return feature_matching_loss(f_fake, self.real_mean(len(f_fake)))

    def against(self, real_mean):
        """The same loss against a fixed ``real_mean``, with the same ``network``: a function of
        the fake features alone, to gradient-check G's step through D's layers
        (``gradcheck.check_generator_step(G, D, z, g_loss=fm.against(mu))``)."""
        return _AgainstFixedMean(self.network, real_mean, self.layer)

    # -- state: the data view's position (the generator is saved as ``rng/<part name>``)
    def state_dict(self):
        """``{"sampler.<key>": ...}``: the state of its own data sampler (empty when it keeps none)."""
        found = self._sampler_state(self.data_sampler) or {}
        return {f"sampler.{k}": v for k, v in found.items()}

    def _sampler_part(self, d):
        extra = sorted(k for k in d if not k.startswith("sampler."))
        if extra:
            raise KeyError(f"FeatureMatching keeps no state {extra}")
        return {k[len("sampler."):]: v for k, v in d.items()}

    def check_state_dict(self, d):
        """ValueError / KeyError unless ``d`` fits (tried on a shallow copy of the sampler)."""
        part = self._sampler_part(d)
        if not self._sampler_state(self.data_sampler):
            if part:
                raise KeyError(f"FeatureMatching's data sampler {self.data_sampler!r} keeps no state, "
                               f"the saved one had {sorted(part)}")
            return
        copy.copy(self.data_sampler).load_state_dict(part)

    def load_state_dict(self, d):
        self.check_state_dict(d)
        part = self._sampler_part(d)
        if part:
            self.data_sampler.load_state_dict(part)

    def __repr__(self):
        return f"FeatureMatching(layer={self.layer}" + ("" if self.m is None else f", m={self.m}") + ")"
