"""Network builders: small MLPs for the toy problems and the paper's MNIST pair.

The paper's MNIST model, as its released configuration ran it:
G: z (100) -> 1200 ReLU -> 1200 ReLU -> 784 sigmoid, weights U(-0.05, 0.05),
hidden biases 0, output bias logit(clip(mean training pixel, 1e-7, 1 - 1e-7)).
D: dropout(keep 0.8, scale 1.25) -> maxout 240 x 5 -> dropout(keep 0.5, scale 2)
-> maxout 240 x 5 -> dropout(keep 0.5, scale 2) -> linear 1 (a logit; D(x) is its
sigmoid), weights U(-0.005, 0.005).

The presets build their pairs with ``toy_networks`` and ``paper_mnist_networks``, which take the
architecture techniques of Salimans et al. (2016) as keywords (``ARCHITECTURE_TECHNIQUES``:
``minibatch_discrimination=(kernels, kernel_dim)`` in D, ``batch_norm`` or
``virtual_batch_norm=B`` in G; ``technique_layers`` says where each layer goes). Without them
the networks are the ones above, drawn from the same seeds.
"""
from __future__ import annotations

import numpy as np

from . import backend, layers
from .layers import Dropout, Linear, Maxout, ReLU, Sequential, Sigmoid, Tanh, LeakyReLU

__all__ = ["mlp", "paper_mnist_generator", "paper_mnist_discriminator", "pixel_mean_logit",
           "ARCHITECTURE_TECHNIQUES", "technique_layers", "toy_networks", "paper_mnist_networks"]

# the techniques of Salimans et al. (2016) that change the networks (the others change the game:
# minigan.presets.TECHNIQUE_OPTIONS): keyword arguments of toy_networks and paper_mnist_networks
ARCHITECTURE_TECHNIQUES = ("minibatch_discrimination", "batch_norm", "virtual_batch_norm")

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
    found = _mlp_layers(sizes, activation, rng=rng, dtype=dtype, irange=irange)
    if output == "sigmoid":
        found.append(Sigmoid())
    elif output is not None:
        raise ValueError(f"mlp output must be None or 'sigmoid', got {output!r}")
    return Sequential(*found)


def pixel_mean_logit(images, block=4096):
    """logit(clip(mean pixel, 1e-7, 1 - 1e-7)) per pixel: the paper's G output bias.

    ``images``: values in [0, 1], or uint8 pixels (``load_mnist(..., as_uint8=True)``), whose
    mean is that of their float32 values (``data.pixels_to_float``), bit for bit."""
    x = np.asarray(backend.to_host(images))
    if x.dtype != np.uint8:
        # the mean accumulated in float64 without a float64 copy of the images (50,000 x 784 x 8
        # bytes = 314 MB for MNIST); the same mean, bit for bit, as averaging such a copy
        mean = x.mean(axis=0, dtype=np.float64)
    else:
        # the float32 values a block at a time, added row after row into one float64 sum as
        # NumPy's mean over axis 0 adds them (the running sum leads each block's reduction)
        from .data import pixels_to_float
        total = np.zeros(x.shape[1:], dtype=np.float64)
        for i in range(0, len(x), block):
            rows = pixels_to_float(x[i:i + block])
            total = np.add.reduce(np.concatenate([total[None], rows.astype(np.float64)]), axis=0)
        mean = total / len(x)
    p = np.clip(mean, 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def paper_mnist_generator(output_bias=None, *, nz=100, rng=None, dtype=None, after_hidden=None):
    """G: nz -> 1200 ReLU -> 1200 ReLU -> 784 sigmoid, U(-0.05, 0.05) weights.
    ``after_hidden(n, rng, dtype)``: a layer after each hidden Linear, before its ReLU
    (``technique_layers``: batch norm); None: the paper's G."""
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    out = Linear(1200, 784, irange=0.05, rng=rng, dtype=dtype)
    if output_bias is not None:
        out.params["b"][...] = backend.to_device(np.asarray(output_bias).reshape(784), dtype=out.dtype)
    hidden = [Linear(nz, 1200, irange=0.05, rng=rng, dtype=dtype), Linear(1200, 1200, irange=0.05, rng=rng, dtype=dtype)]
    found = []
    for layer in hidden:
        found += [layer] + ([after_hidden(layer.n_out, rng, dtype)] if after_hidden is not None else []) + [ReLU()]
    return Sequential(*found, out, Sigmoid())


def paper_mnist_discriminator(*, rng=None, dtype=None, dropout_seed=None, before_logit=None):
    """D: maxout 240x5 -> maxout 240x5 -> 1 logit, with the paper's input dropouts.
    ``before_logit(n, rng, dtype) -> (layer, n_out)``: a layer on the last hidden features,
    after their dropout (``technique_layers``: minibatch discrimination); None: the paper's D."""
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    seeds = np.random.SeedSequence(dropout_seed).spawn(3) if dropout_seed is not None else [None] * 3
    found = [Dropout(0.8, scale=1.25, rng=seeds[0]),
             Maxout(784, 240, 5, irange=0.005, rng=rng, dtype=dtype),
             Dropout(0.5, scale=2.0, rng=seeds[1]),
             Maxout(240, 240, 5, irange=0.005, rng=rng, dtype=dtype),
             Dropout(0.5, scale=2.0, rng=seeds[2])]
    n = 240
    if before_logit is not None:
        extra, n = before_logit(n, rng, dtype)
        found.append(extra)
    return Sequential(*found, Linear(n, 1, irange=0.005, rng=rng, dtype=dtype))


# ---------------------------------------------------------------------- the techniques' layers
def technique_layers(*, minibatch_discrimination=None, batch_norm=False, virtual_batch_norm=None):
    """The architecture techniques of Salimans et al. (2016), checked, as what the builders
    insert: ``{"d_before_logit": fn(n_in, rng, dtype) -> (layer, n_out) or None,
    "g_after_hidden": fn(n, rng, dtype) -> layer or None, "reference_rows": B or None}``.

    Inputs:
    - minibatch_discrimination: None or (kernels, kernel_dim): D gets
      ``layers.MinibatchDiscrimination(n, kernels, kernel_dim)`` on its last hidden features,
      before the logit layer, which then reads n + kernels numbers
    - batch_norm: True: G gets ``layers.BatchNorm(n)`` after each hidden linear layer, before
      its activation (G only, as in the released code; D is left as it is)
    - virtual_batch_norm: None or B, the rows of the reference batch: G gets
      ``layers.VirtualBatchNorm(n)`` where batch_norm would put BatchNorm, and is wrapped in
      ``layers.VirtualBatch(G, reference)``, the reference B noise rows drawn once
    A ValueError names a setting out of range.
    """
    if batch_norm and virtual_batch_norm is not None:
        raise ValueError("batch_norm and virtual_batch_norm both normalise G's hidden layers: choose one")
    found = {"d_before_logit": None, "g_after_hidden": None, "reference_rows": None}
    if minibatch_discrimination is not None:
        try:
            kernels, kernel_dim = (int(v) for v in minibatch_discrimination)
        except (TypeError, ValueError):
            kernels = kernel_dim = 0
        if kernels < 1 or kernel_dim < 1:
            raise ValueError("minibatch_discrimination must be (kernels, kernel_dim), two integers >= 1, "
                             f"got {minibatch_discrimination!r}")
        def before_logit(n_in, rng, dtype):
            layer = layers.MinibatchDiscrimination(n_in, kernels, kernel_dim, rng=rng, dtype=dtype)
            return layer, n_in + kernels
        found["d_before_logit"] = before_logit
    if batch_norm:
        found["g_after_hidden"] = lambda n, rng, dtype: layers.BatchNorm(n, dtype=dtype)
    if virtual_batch_norm is not None:
        if isinstance(virtual_batch_norm, bool) or not isinstance(virtual_batch_norm, (int, np.integer)) \
                or virtual_batch_norm < 2:
            raise ValueError("virtual_batch_norm must be the number of reference rows, an integer >= 2, "
                             f"got {virtual_batch_norm!r}")
        found["g_after_hidden"] = lambda n, rng, dtype: layers.VirtualBatchNorm(n, rng=rng, dtype=dtype)
        found["reference_rows"] = int(virtual_batch_norm)
    return found


def init_minibatch_discrimination(D, x):
    """The released code's data-dependent init of every ``MinibatchDiscrimination`` in
    ``D.layers`` (``MinibatchDiscrimination.init_from_data``), from a batch ``x`` of D's
    inputs (real data) run through the layers below it with D in eval mode and no cache
    (no dropout mask is drawn: D's random streams are left as they were). Returns how
    many layers it set."""
    done, h = 0, x
    with layers.evaluating(D):
        for layer in D.layers:
            if isinstance(layer, layers.MinibatchDiscrimination):
                layer.init_from_data(h)
                done += 1
            h = layer.forward(h)
    return done


def _with_techniques(G, D, found, *, noise, seed):
    """G and D with the layers of ``technique_layers`` in place (see ``toy_networks``)."""
    if found["reference_rows"] is not None:
        if noise is None:
            raise ValueError("virtual_batch_norm draws its reference batch from the noise prior: pass noise")
        reference = noise(found["reference_rows"], backend.default_rng(seed + 4000))
        G = layers.VirtualBatch(G, reference)
    return G, D


def _mlp_layers(sizes, activation, *, rng, dtype, irange=None, after_hidden=None, before_last=None):
    """The layers of ``mlp``, with ``after_hidden(n, rng, dtype)`` after each hidden Linear (before
    its activation) and ``before_last(n, rng, dtype) -> (layer, n_out)`` before the last Linear."""
    out = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        if last and before_last is not None:
            extra, a = before_last(a, rng, dtype)
            out.append(extra)
        out.append(Linear(a, b, irange=irange, rng=rng, dtype=dtype))
        if not last:
            if after_hidden is not None:
                out.append(after_hidden(b, rng, dtype))
            out.append(_ACTS[activation]())
    return out


def toy_networks(g_sizes, d_sizes, activation="relu", *, seed=0, dtype=None, noise=None,
                 minibatch_discrimination=None, batch_norm=False, virtual_batch_norm=None):
    """G and D of the toy presets: ``mlp(g_sizes)`` seeded ``seed`` and ``mlp(d_sizes)`` seeded
    ``seed + 1000``, with the architecture techniques of ``technique_layers`` if asked for (none:
    the networks of ``mlp``, drawn the same). ``noise``: the noise prior ``(m, rng) -> z``, which
    virtual_batch_norm's reference batch is drawn from (seeded ``seed + 4000``). Returns (G, D)."""
    found = technique_layers(minibatch_discrimination=minibatch_discrimination, batch_norm=batch_norm,
                             virtual_batch_norm=virtual_batch_norm)
    if activation not in _ACTS:
        raise ValueError(f"mlp activation must be one of {tuple(_ACTS)}, got {activation!r}")
    for sizes in (g_sizes, d_sizes):
        if len(sizes) < 2:
            raise ValueError(f"mlp needs at least an input and an output size, got {sizes}")
    G = Sequential(*_mlp_layers(g_sizes, activation, rng=np.random.default_rng(seed), dtype=dtype,
                                after_hidden=found["g_after_hidden"]))
    D = Sequential(*_mlp_layers(d_sizes, activation, rng=np.random.default_rng(seed + 1000), dtype=dtype,
                                before_last=found["d_before_logit"]))
    return _with_techniques(G, D, found, noise=noise, seed=seed)


def paper_mnist_networks(output_bias=None, *, seed=0, dtype=None, noise=None, minibatch_discrimination=None,
                         batch_norm=False, virtual_batch_norm=None):
    """The mnist-paper preset's G (``paper_mnist_generator``, seeded ``seed``) and D
    (``paper_mnist_discriminator``, seeded ``seed + 1000``, dropout masks ``seed + 2000``), with
    the architecture techniques of ``technique_layers`` if asked for: minibatch discrimination on
    D's last hidden features (after their dropout, before the logit layer), batch norm or
    virtual batch norm after G's two hidden layers. None: the paper's networks, drawn the same."""
    found = technique_layers(minibatch_discrimination=minibatch_discrimination, batch_norm=batch_norm,
                             virtual_batch_norm=virtual_batch_norm)
    G = paper_mnist_generator(output_bias, rng=seed, dtype=dtype, after_hidden=found["g_after_hidden"])
    D = paper_mnist_discriminator(rng=seed + 1000, dtype=dtype, dropout_seed=seed + 2000,
                                  before_logit=found["d_before_logit"])
    return _with_techniques(G, D, found, noise=noise, seed=seed)
