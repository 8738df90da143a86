"""The textbook chapter's models as presets of ``minigan train``: ``ae``, ``dae`` and ``vae``.

Each is an MLP encoder and decoder over MNIST (the 50,000 training images the GAN presets
use), trained by Adam on minibatches of 100 (``minigan.train.AutoencoderTrainer``)::

    encoder  784 -> hidden ReLU -> code_dim        (a VAE: -> 2 code_dim = [mu | log sigma^2])
    decoder  code_dim -> hidden ReLU -> 784 logits  (p(x | z) Bernoulli; "squared": -> sigmoid)

the sizes of the usual MNIST VAE (hidden 400, code 20; Kingma and Welling 2014 used 500 tanh
units and Adagrad). Weights are Glorot-uniform; the decoder's output bias starts at the logit of
the mean training pixel, as the GAN paper's G does (``models.pixel_mean_logit``).
"""
from __future__ import annotations

from . import backend, data, models, optim
from .presets import Run, _number, _opt, preset
from .train import AutoencoderTrainer

__all__ = ["autoencoder_networks", "AUTOENCODER_COMMON"]

# what every autoencoder preset takes from `minigan train`'s own flags (no D, no G: one learning rate)
AUTOENCODER_COMMON = ("seed", "m", "lr", "iterations", "data_dir")
_OWN = ("kind", "code_dim", "hidden", "reconstruction", "sampling")


def autoencoder_networks(code_dim, hidden, *, variational=False, reconstruction="bernoulli",
                         output_bias=None, seed=0, dtype=None):
    """(encoder, decoder): ``mlp([784, hidden, code_dim])`` (``2 code_dim`` outputs for a VAE)
    seeded ``seed`` and ``mlp([code_dim, hidden, 784])`` seeded ``seed + 1000``, with a sigmoid
    after the decoder for ``reconstruction="squared"``; ``output_bias`` (784,) its last bias."""
    encoder = models.mlp([784, hidden, 2 * code_dim if variational else code_dim], rng=seed, dtype=dtype)
    decoder = models.mlp([code_dim, hidden, 784], rng=seed + 1000, dtype=dtype,
                         output="sigmoid" if reconstruction == "squared" else None)
    if output_bias is not None:
        last = [layer for layer in decoder.layers if "b" in layer.params][-1]
        last.params["b"][...] = backend.to_device(output_bias, dtype=last.params["b"].dtype)
    return encoder, decoder


def _integer(opts, key, default, low=1):
    v = _opt(opts, key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise ValueError(f"option {key} must be an integer >= {low}, got {v!r}")
    return v


def _autoencoder_run(opts, *, variational, corruption=None, corruption_level=None):
    seed = _integer(opts, "seed", 0, low=0)
    m = _integer(opts, "m", 100)
    code_dim = _integer(opts, "code_dim", 20)
    hidden = _integer(opts, "hidden", 400)
    reconstruction = _opt(opts, "reconstruction", "bernoulli")
    if reconstruction not in ("bernoulli", "squared"):
        raise ValueError(f"option reconstruction must be 'bernoulli' or 'squared', got {reconstruction!r}")
    kind = _opt(opts, "kind", "mnist")
    order = _opt(opts, "sampling", "epochs")
    lr = _number(opts, "lr", 1e-3)
    if getattr(opts, "load_data", True):
        # the images kept as bytes (39 MB for MNIST, not 157), each minibatch converted as drawn
        images, _ = data.load_mnist("train", data_dir=opts.get("data_dir"), kind=kind, as_uint8=True)
        if m > images.shape[0]:
            raise ValueError(f"the minibatch size m = {m} is larger than the training set "
                             f"({images.shape[0]} images)")
        sampler = data.MNISTSampler(images, order=order)
        n, bias, fit_data = images.shape[0], models.pixel_mean_logit(images), sampler.stored
    else:                   # drawn from only: the parameters and the code density come from a checkpoint
        sampler, n, bias, fit_data = data.ImagesNotLoaded(784, order=order), max(50000, m), None, None
    encoder, decoder = autoencoder_networks(code_dim, hidden, variational=variational,
                                            reconstruction=reconstruction, output_bias=bias, seed=seed)
    model = AutoencoderTrainer.model_of(encoder, decoder)
    trainer = AutoencoderTrainer(encoder, decoder, optim.Adam(model, lr=lr, beta1=0.9), sampler,
                                 code_dim=code_dim, variational=variational, reconstruction=reconstruction,
                                 corruption=corruption, corruption_level=corruption_level, m=m, seed=seed,
                                 fit_data=fit_data)
    steps_per_epoch = n // m
    code_out = f"(2 x {code_dim})" if variational else code_dim
    what = ("a variational autoencoder" if variational else "an autoencoder" if corruption is None
            else f"a denoising autoencoder ({corruption} corruption, level {corruption_level:g})")
    return Run(trainer, sampler, None, _integer(opts, "iterations", 20 * steps_per_epoch),
               f"{kind}: {what}, 784-{hidden}-{code_out} encoder and {code_dim}-{hidden}-784 decoder",
               extra={"steps_per_epoch": steps_per_epoch, "kind": kind, "data_dir": opts.get("data_dir")})


@preset("ae", options=_OWN, common=AUTOENCODER_COMMON)
def ae(opts):
    """An autoencoder on MNIST: 784 -> 400 -> 20 -> 400 -> 784, Bernoulli reconstruction loss.

    Options: data_dir, kind, seed, m (100), lr (Adam, 0.001, beta1 0.9), iterations (20 epochs =
    10,000), code_dim (20), hidden (400), reconstruction ("bernoulli": -log p(x | x^) with
    logits; "squared": ||x^ - x||^2 after a sigmoid), sampling ("epochs" or "random"). Its
    samples decode codes drawn from a Gaussian fitted to the training set's codes.
    """
    return _autoencoder_run(opts, variational=False)


@preset("dae", options=_OWN + ("corruption", "corruption_level"), common=AUTOENCODER_COMMON)
def dae(opts):
    """A denoising autoencoder on MNIST: the ae preset given corrupted images, the clean ones as targets.

    As Vincent et al. (2008): what the code keeps must be enough to undo the corruption.

    Options: those of ae, and corruption ("gaussian": add N(0, level^2) to every pixel, the
    default; "masking": set each pixel to 0 with probability level) with corruption_level
    (default 0.5 for gaussian, 0.25 for masking).
    """
    corruption = _opt(opts, "corruption", "gaussian")
    if corruption not in data.CORRUPTIONS:
        raise ValueError(f"option corruption must be one of {', '.join(map(repr, data.CORRUPTIONS))}, "
                         f"got {corruption!r}")
    level = _number(opts, "corruption_level", {"gaussian": 0.5, "masking": 0.25}.get(corruption, 0.5))
    return _autoencoder_run(opts, variational=False, corruption=corruption, corruption_level=level)


@preset("vae", options=_OWN, common=AUTOENCODER_COMMON)
def vae(opts):
    """A VAE on MNIST (Kingma and Welling 2014): loss -log p(x | z) + KL(q(z | x) || N(0, I)).

    The encoder gives mu and log sigma^2 of q(z | x); z = mu + sigma * eps, eps ~ N(0, I).

    Options: those of ae. Its samples decode z from the prior N(0, I).
    """
    return _autoencoder_run(opts, variational=True)
