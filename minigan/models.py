"""Network builders: small MLPs for the toy problems and the paper's MNIST pair.

The paper's MNIST model, as its released configuration ran it:
G: z (100) -> 1200 ReLU -> 1200 ReLU -> 784 sigmoid, weights U(-0.05, 0.05),
hidden biases 0, output bias logit(clip(mean training pixel, 1e-7, 1 - 1e-7)).
D: dropout(keep 0.8, scale 1.25) -> maxout 240 x 5 -> dropout(keep 0.5, scale 2)
-> maxout 240 x 5 -> dropout(keep 0.5, scale 2) -> linear 1 (a logit; D(x) is its
sigmoid), weights U(-0.005, 0.005).
"""
from __future__ import annotations

import numpy as np

from . import backend
from .layers import Dropout, Linear, Maxout, ReLU, Sequential, Sigmoid, Tanh, LeakyReLU

__all__ = ["mlp", "paper_mnist_generator", "paper_mnist_discriminator", "pixel_mean_logit"]

_ACTS = {"relu": ReLU, "tanh": Tanh, "leaky_relu": LeakyReLU}


def mlp(sizes, activation="relu", output=None, *, irange=None, rng=None, dtype=None):
    """Linear layers of the given sizes with ``activation`` between them.

    ``output``: None (a linear output, e.g. D's logit) or ``"sigmoid"``.
    """
    if len(sizes) < 2:
        raise ValueError(f"mlp needs at least an input and an output size, got {sizes}")
    if activation not in _ACTS:
        raise ValueError(f"mlp activation must be one of {tuple(_ACTS)}, got {activation!r}")
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Linear(a, b, irange=irange, rng=rng, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(_ACTS[activation]())
    if output == "sigmoid":
        layers.append(Sigmoid())
    elif output is not None:
        raise ValueError(f"mlp output must be None or 'sigmoid', got {output!r}")
    return Sequential(*layers)


def pixel_mean_logit(images):
    """logit(clip(mean pixel, 1e-7, 1 - 1e-7)) per pixel: the paper's G output bias."""
    p = np.clip(np.asarray(backend.to_host(images), dtype=np.float64).mean(axis=0), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def paper_mnist_generator(output_bias=None, *, nz=100, rng=None, dtype=None):
    """G: nz -> 1200 ReLU -> 1200 ReLU -> 784 sigmoid, U(-0.05, 0.05) weights."""
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    out = Linear(1200, 784, irange=0.05, rng=rng, dtype=dtype)
    if output_bias is not None:
        out.params["b"][...] = backend.to_device(np.asarray(output_bias).reshape(784), dtype=out.dtype)
    return Sequential(Linear(nz, 1200, irange=0.05, rng=rng, dtype=dtype), ReLU(),
                      Linear(1200, 1200, irange=0.05, rng=rng, dtype=dtype), ReLU(),
                      out, Sigmoid())


def paper_mnist_discriminator(*, rng=None, dtype=None, dropout_seed=None):
    """D: maxout 240x5 -> maxout 240x5 -> 1 logit, with the paper's input dropouts."""
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    seeds = np.random.SeedSequence(dropout_seed).spawn(3) if dropout_seed is not None else [None] * 3
    return Sequential(
        Dropout(0.8, scale=1.25, rng=seeds[0]),
        Maxout(784, 240, 5, irange=0.005, rng=rng, dtype=dtype),
        Dropout(0.5, scale=2.0, rng=seeds[1]),
        Maxout(240, 240, 5, irange=0.005, rng=rng, dtype=dtype),
        Dropout(0.5, scale=2.0, rng=seeds[2]),
        Linear(240, 1, irange=0.005, rng=rng, dtype=dtype),
    )
