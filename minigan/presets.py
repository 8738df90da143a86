"""Named training setups for ``minigan train PRESET``.

A preset is a function ``build(opts) -> Run`` where ``opts`` is a dict of the
command-line overrides (``k``, ``m``, ``d_lr``, ``g_lr``, ``g_loss``, ``order``,
``seed``, ... -- ``None`` meaning "the preset's default"). Register new ones
with ``@preset("name", options=(...))``, naming the options the preset reads
beyond the common ones (``COMMON_OPTIONS``); ``build`` refuses any other, so a
misspelt option is an error rather than a silently ignored default.

``Run.options`` is every option given and every option the preset read, each
with the value it used (the default where none was given): what a checkpoint stores, so that a run
rebuilt from it is the run that was saved even if a default changes later.
Read options with ``_opt(opts, key, default)`` so that they are recorded.

A checkpoint written by ``minigan train`` names its preset and options;
``restore_run(path)`` rebuilds that run and loads it (``run_options`` holds
the rules for checkpoints that stored fewer options, ``RESTORE_OVERRIDES``
the options a restore may replace).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import backend, checkpoint, data, losses, models, optim
from .train import GAN

__all__ = ["PRESETS", "preset", "Run", "build", "restore_run", "run_options", "RESTORE_OVERRIDES"]

PRESETS: dict = {}
OPTIONS: dict = {}          # preset name -> the option names it accepts
COMMON: dict = {}           # preset name -> those of them `minigan train` gives with its own flags

# what `minigan train` may pass to any preset (data_dir is ignored by presets that need no data)
COMMON_OPTIONS = ("seed", "k", "m", "d_lr", "g_lr", "g_loss", "order", "iterations", "data_dir", "g_average")
# the techniques of Salimans et al. (2016) that are settings of the game, not of the networks:
# options of every preset here (``minigan train PRESET --set real_label=0.9``; see ``_techniques``)
TECHNIQUE_OPTIONS = ("real_label", "fake_label", "feature_matching", "historical_averaging",
                     "minibatch_discrimination", "batch_norm", "virtual_batch_norm")


@dataclass
class Run:
    """A built preset: the trainer plus what the command needs to report on it."""
    trainer: object                  # a GAN, or an AutoencoderTrainer (ae, dae, vae)
    data: object                     # the p_data sampler (exact density for toy data)
    noise: object                    # the noise prior
    iterations: int                  # default number of iterations
    description: str
    extra: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)   # the options used, defaults included (set by build)


def preset(name, options=(), common=COMMON_OPTIONS):
    """Register ``build(opts) -> Run`` as preset ``name``, taking ``common`` (the options
    ``minigan train`` gives with its own flags: a GAN's by default) and its own ``options``."""
    def register(fn):
        PRESETS[name] = fn
        OPTIONS[name] = tuple(common) + tuple(options)
        COMMON[name] = tuple(common)
        return fn
    return register


class _Options(dict):
    """The overrides given to a preset, and ``used``: those given and each option read, with its value.
    ``load_data`` False: the run is only drawn from (see ``build``)."""

    def __init__(self, given, load_data=True):
        super().__init__(given)
        self.used = {k: v for k, v in given.items() if v is not None}
        self.load_data = load_data


def _opt(opts, key, default):
    v = opts.get(key)
    v = default if v is None else v
    if isinstance(opts, _Options):
        opts.used[key] = v
    return v


def check_options(name, opts):
    """ValueError for an unknown preset or an option it does not take (nothing is built or read)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    accepted = OPTIONS.get(name, COMMON_OPTIONS)    # a preset put into PRESETS by hand: the common ones
    unknown = sorted(set(opts) - set(accepted))
    if unknown:
        raise ValueError(f"preset {name!r} has no option {', '.join(map(repr, unknown))}; "
                         f"it takes {', '.join(accepted)}")


def build(name, *, load_data=True, **opts):
    """Build preset ``name`` with overrides; an unknown preset or option raises ValueError.

    ``load_data=False`` builds a run that is only drawn from (``minigan sample``):
    a preset that reads a data set reads none, and its data sampler refuses to
    serve; G and D are built as usual, for a checkpoint to load into.
    """
    check_options(name, opts)
    given = _Options(opts, load_data)
    run = PRESETS[name](given)
    run.options = {**run.options, **given.used}   # a preset built on another keeps the inner one's
    return run


RESTORE_OVERRIDES = ("data_dir",)     # options restore_run may replace: where the data is, not what the run is


def run_options(ckpt):
    """The preset options of the run that wrote checkpoint ``ckpt``: those stored, plus those it implies.

    Checkpoints store ``Run.options``, every option the preset used, defaults
    included. Older ones stored only the options given, and one of those
    defaults has changed since: mnist-paper's ``sampling`` (i.i.d. minibatches,
    "random", until 2026-11-23; "epochs" since). The data sampler keeps state
    exactly when it serves minibatches by epochs, so a checkpoint that does
    not name ``sampling`` ran "epochs" when it holds that state and "random"
    when it does not.
    """
    options = ckpt.options
    if ckpt.preset == "mnist-paper" and "sampling" not in options:
        options["sampling"] = "epochs" if "data" in ckpt.meta.get("samplers", {}) else "random"
    return options


def restore_run(source, *, load_data=True, **overrides):
    """Rebuild a run from its checkpoint: ``build(preset, **options)`` then ``checkpoint.load``.

    ``source`` is a path or a ``checkpoint.Checkpoint``. ``overrides`` replace stored
    options that do not change the run (``RESTORE_OVERRIDES``: ``data_dir``);
    any other is a ValueError. The backend active now is used. Returns
    ``(run, checkpoint)``.

    ``load_data=False`` rebuilds a run that is only drawn from (``minigan sample``,
    ``minigan parzen``): no data set is read or downloaded, and the checkpoint is
    loaded without ``strict``, since the optimizers' schedules, which depend on the
    size of the data set, are never used by such a run.
    """
    ckpt = source if isinstance(source, checkpoint.Checkpoint) else checkpoint.read(source)
    if not ckpt.preset:
        raise checkpoint.CheckpointError(f"checkpoint {ckpt.path} does not name the preset it came from; "
                                         "build the model yourself and call minigan.checkpoint.load")
    if ckpt.preset not in PRESETS:
        raise checkpoint.CheckpointError(f"checkpoint {ckpt.path} comes from preset {ckpt.preset!r}, which "
                                         f"this minigan does not have ({', '.join(PRESETS)})")
    changes_the_run = sorted(set(overrides) - set(RESTORE_OVERRIDES))
    if changes_the_run:
        raise ValueError(f"restore_run: {', '.join(changes_the_run)} would change the run the checkpoint "
                         f"holds; only {', '.join(RESTORE_OVERRIDES)} may be given (build the run yourself "
                         "and call minigan.checkpoint.load for anything else)")
    options = {**run_options(ckpt), **{k: v for k, v in overrides.items() if v is not None}}
    run = build(ckpt.preset, load_data=load_data, **options)
    ckpt = checkpoint.load(ckpt, run.trainer, strict=load_data)
    return run, ckpt


def restore_image_run(source, *, needed_by, **how):
    """``restore_run(source, **how)``, refusing a run whose generator does not draw 28 x 28
    images: a ValueError naming the checkpoint, the width it draws and ``needed_by`` (who
    needs images, e.g. "lesson 07 needs a checkpoint of 'minigan train mnist-paper'")."""
    run, ckpt = restore_run(source, **how)
    width = int(np.prod(run.trainer.sample(1, rng=backend.default_rng(0)).shape[1:]))
    if width != 28 * 28:
        raise ValueError(f"{ckpt.path}: its generator draws samples of {width} numbers, not 28 x 28 "
                         f"images: {needed_by}")
    return run, ckpt


def _spread_kinks(layer, low, high, rng):
    """Put the ReLU kinks of a 1-input first layer across [low, high].

    Unit j of ``Linear(1, n)`` followed by a ReLU bends at x = -b_j / w_j. With
    the usual zero biases every unit bends at x = 0, so on data far from 0
    (the Figure 1 data sits at 4) the whole network is one straight line there
    until the biases have travelled: D cannot tell a p_g that is too wide or
    too narrow from p_data. Drawing c_j ~ U(low, high) and setting
    b_j = -w_j c_j puts the bends where the data is from the first step.
    """
    W, b = layer.params["W"], layer.params["b"]
    if W.shape[0] != 1:
        raise ValueError(f"_spread_kinks is for a layer with one input, got W of shape {W.shape}")
    c = np.random.default_rng(rng).uniform(low, high, size=W.shape[1])
    b[...] = backend.to_device(-backend.to_host(W)[0] * c, dtype=b.dtype)


def _number(opts, key, default):
    """Option ``key`` read (``_opt``) as a finite real number; a ValueError names it otherwise."""
    v = _opt(opts, key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
        raise ValueError(f"option {key} must be a number, got {v!r}")
    return float(v)


def _techniques(opts, D, data_sampler, *, seed):
    """The GAN's keyword arguments for the techniques of Salimans et al. (2016) that a preset
    takes as options (``TECHNIQUE_OPTIONS``), each read and recorded with ``_opt``:

    * ``real_label`` (default 1): D's target for real data; below 1 is one-sided label
      smoothing (0.9 is common). ``fake_label`` (default 0): D's target for G's samples; above
      0 is two-sided smoothing, the contrast the paper argues against. 0 < real_label <= 1,
      0 <= fake_label < real_label.
    * ``feature_matching``: the index in ``D.layers`` of the layer whose output is f; G then
      minimises ``losses.FeatureMatching`` on it instead of ``g_loss`` (which must then be left
      out). The real minibatches come from the run's data, through a sampler view and a
      generator of the loss's own (seeded seed + 3000). Absent (default): G's loss is ``g_loss``.
    * ``historical_averaging``: a weight > 0; both players' costs get
      ``losses.HistoricalAveraging(weight)``, each with its own average. Absent (default): none.

    Returns ``{"real_label", "fake_label", "g_loss", "d_penalties", "g_penalties"}``.
    """
    real, fake = _number(opts, "real_label", 1.0), _number(opts, "fake_label", 0.0)   # ranges: GAN's check
    layer = _opt(opts, "feature_matching", None)
    weight = _number(opts, "historical_averaging", None)
    kw = {"real_label": real, "fake_label": fake, "d_penalties": [], "g_penalties": []}
    if layer is None:
        kw["g_loss"] = _opt(opts, "g_loss", "nonsaturating")
    else:
        if opts.get("g_loss") is not None:
            raise ValueError(f"option feature_matching makes feature matching G's loss: leave g_loss "
                             f"({opts['g_loss']!r}) out")
        kw["g_loss"] = losses.FeatureMatching(D, layer, data_sampler, seed=seed + 3000)   # checks layer
    if weight is not None:
        if not weight > 0:
            raise ValueError(f"option historical_averaging must be a weight > 0, got {weight:g}")
        kw["d_penalties"] = [losses.HistoricalAveraging(weight)]
        kw["g_penalties"] = [losses.HistoricalAveraging(weight)]
    return kw


def _architecture(opts):
    """The keywords of ``models.toy_networks`` / ``models.paper_mnist_networks`` for the
    architecture techniques of Salimans et al. (2016) (``TECHNIQUE_OPTIONS``), each read and
    recorded with ``_opt``; ``models.technique_layers`` checks their ranges:

    * ``minibatch_discrimination``: "KERNELSxDIM" (``--set minibatch_discrimination=50x5``) or a
      pair (kernels, kernel_dim): D gets a ``layers.MinibatchDiscrimination`` on its last hidden
      features, before the logit layer. mnist-paper initialises it from a minibatch of training
      images as the released code does on its images (``models.init_minibatch_discrimination``; the
      batch drawn with a generator seeded seed + 5000); the toy presets keep T ~ N(0, 0.05): their
      modes are 0.01-0.05 wide, and the init, which sets the mean nearest-neighbour distance to 2,
      then scales the kernels to the spacing within a mode (on ring8 the median distance between two
      real points became 488, that between two of G's first samples 72: every c_b(i, j) of the fakes
      exp(-72) or less, no gradient; measured 2026-12-06, seed 0). Absent (default): none.
    * ``batch_norm``: 1 (or True): G gets a ``layers.BatchNorm`` after each hidden linear layer;
      0 (default): none.
    * ``virtual_batch_norm``: B, the reference batch's rows: G gets ``layers.VirtualBatchNorm``
      there instead, and is wrapped in ``layers.VirtualBatch`` with B noise rows drawn once.
    """
    mbd = _opt(opts, "minibatch_discrimination", None)
    if isinstance(mbd, str):
        parts = mbd.lower().replace(",", "x").split("x")
        try:
            mbd = tuple(int(p) for p in parts)
        except ValueError:
            mbd = None if not mbd else ()
        if mbd is not None and len(mbd) != 2:
            raise ValueError("option minibatch_discrimination must be KERNELSxDIM, two integers >= 1 "
                             f"(e.g. 50x5), got {opts['minibatch_discrimination']!r}")
    bn = _opt(opts, "batch_norm", 0)
    if bn not in (0, 1) or isinstance(bn, float):
        raise ValueError(f"option batch_norm must be 0 or 1, got {bn!r}")
    vbn = _opt(opts, "virtual_batch_norm", None)
    return {"minibatch_discrimination": mbd, "batch_norm": bool(bn), "virtual_batch_norm": vbn}


def _toy_run(opts, data_dist, noise, g_sizes, d_sizes, *, lr, iterations, m, description,
             g_lr=None, lr_decay=1.0, d_kinks=None, optimizer="sgd", activation="relu"):
    """Build a toy-data run: MLPs G and D, one optimizer each, Algorithm 1.

    ``optimizer``: ``"sgd"`` (momentum SGD; option ``momentum``, default 0.5;
    ``lr_decay`` divides the rate after every step) or ``"adam"`` (beta1 from
    option ``beta1``, default 0.5 as in DCGAN; beta2 0.999).

    The techniques of Salimans et al. (2016) are options of every toy preset
    (``_techniques``): real_label, fake_label, historical_averaging, and
    feature_matching = an index in D's layers, which are Linear, ReLU, Linear,
    ReLU, ..., Linear (the logit): an even index is a Linear layer's output (before
    its ReLU), an odd one a ReLU's. ``len(d_sizes) * 2 - 5`` is the last hidden
    layer after its ReLU, the released code's choice: 3 for toy1d and ring8
    (D 1-32-32-1, 2-128-128-1), 5 for grid25 (D 2-128-128-128-1).

    G and D come from ``models.toy_networks``, whose keywords are the architecture
    techniques (minibatch discrimination in D, batch norm or virtual batch norm in G), options
    too (``_architecture``).
    """
    seed = _opt(opts, "seed", 0)
    architecture = _architecture(opts)
    G, D = models.toy_networks(g_sizes, d_sizes, activation, seed=seed, noise=noise, **architecture)
    if d_kinks is not None:
        _spread_kinks(D.layers[0], *d_kinks, rng=seed + 2000)
    d_rate, g_rate = _opt(opts, "d_lr", lr), _opt(opts, "g_lr", g_lr or lr)
    if optimizer == "sgd":
        momentum = _opt(opts, "momentum", 0.5)
        d_opt = optim.SGD(D, d_rate, momentum, lr_decay=lr_decay)
        g_opt = optim.SGD(G, g_rate, momentum, lr_decay=lr_decay)
    elif optimizer == "adam":
        beta1 = _opt(opts, "beta1", 0.5)
        d_opt, g_opt = optim.Adam(D, d_rate, beta1), optim.Adam(G, g_rate, beta1)
    else:
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    gan = GAN(G, D, data_dist, noise, d_optimizer=d_opt, g_optimizer=g_opt,
              k=_opt(opts, "k", 1), g_steps=_opt(opts, "g_steps", 1), m=_opt(opts, "m", m),
              order=_opt(opts, "order", "sequential"), seed=seed, g_average=opts.get("g_average"),
              **_techniques(opts, D, data_dist, seed=seed))
    return Run(gan, data_dist, noise, _opt(opts, "iterations", iterations), description)


@preset("toy1d", options=("momentum", "g_steps", *TECHNIQUE_OPTIONS))
def toy1d(opts):
    """Figure 1: p_data = N(4, 0.5^2), z ~ U(-1, 1); G and D are 1-32-32-1 ReLU MLPs.

    Tuned so that the default run (seed 0, about half a minute of training on
    a laptop CPU) ends with p_g close to p_data: m = 256; momentum SGD (0.5),
    D's lr 0.1 and G's 0.02, both divided by 1.0005 after every step (so they
    fall to 1/20 by iteration 6000 and the game settles instead of circling);
    D's first-layer bends spread over [2, 6] = p_data's mean +- 4 sd
    (``_spread_kinks``). With the older setting (m 64, lr 0.05, no decay, bends
    at 0) G collapsed to a p_g with sd 0.2 that D could not see.
    Widths of 32 with m = 256 keep each matrix product small enough that
    OpenBLAS runs it on one thread (threads cost more than they give here).
    """
    return _toy_run(opts, data.gaussian_1d(), data.uniform_noise(1), [1, 32, 32, 1], [1, 32, 32, 1],
                    lr=0.1, g_lr=0.02, lr_decay=1.0005, d_kinks=(2.0, 6.0), iterations=6000, m=256,
                    description="Figure 1 setting: 1-D Gaussian data N(4, 0.5^2), uniform noise")


@preset("ring8", options=("beta1", "g_steps", *TECHNIQUE_OPTIONS))
def ring8(opts):
    """Eight Gaussians on the unit circle, sigma 0.01; z ~ N(0, I_2).

    G 2-128-128-2 and D 2-128-128-1, ReLU; Adam (lr 1e-3, beta1 0.5, beta2
    0.999) for both players, m = 256, 10,000 iterations of Algorithm 1 (k = 1,
    non-saturating G loss). No anti-collapse technique: this is the plain GAN
    the later lessons compare against. Chosen from a sweep over Adam's lr
    (2e-4, 5e-4, 1e-3), m (256, 512), 2 or 3 hidden layers, ReLU vs LeakyReLU
    and momentum SGD. It captures all 8 modes with most samples of high
    quality, for seeds 0, 1 and 2, where the old setting (momentum SGD 0.5,
    lr 0.02, m 128, 5,000 iterations) captured a few modes with almost no
    sample within 3 sigma = 0.03 of one. Measured coverage and training
    times: benchmarks/RESULTS.md, "Toy presets".
    """
    return _toy_run(opts, data.ring8(), data.gaussian_noise(2), [2, 128, 128, 2], [2, 128, 128, 1],
                    optimizer="adam", lr=1e-3, iterations=10000, m=256,
                    description="ring of 8 Gaussians, radius 1, sigma 0.01")


@preset("grid25", options=("beta1", "g_steps", *TECHNIQUE_OPTIONS))
def grid25(opts):
    """25 Gaussians on {-4, -2, 0, 2, 4}^2, sigma 0.05; z ~ N(0, I_2).

    G 2-128-128-128-2 and D 2-128-128-128-1, ReLU; Adam (lr 5e-4, beta1 0.5,
    beta2 0.999) for both players, m = 256, 10,000 iterations of Algorithm 1
    (k = 1, non-saturating G loss), no anti-collapse technique. Chosen from a
    sweep over Adam's lr (2e-4, 5e-4, 1e-3), widths 128 and 256, 2 or 3
    hidden layers, m (128, 256, 512) and ReLU vs LeakyReLU: two hidden layers
    left many samples between the modes (seed 0: at most 63% high quality),
    a third layer put them on the modes. A plain GAN drops modes here (it
    captures about half of the 25; PacGAN reports 17.3 +- 0.8 modes, 94.8%
    for its larger plain GAN). The old setting (2-256-256, momentum SGD 0.5,
    lr 0.02, m 128, 5,000 iterations) spread its samples near many modes,
    within 3 sigma of almost none. Measured coverage and training times:
    benchmarks/RESULTS.md, "Toy presets".
    """
    return _toy_run(opts, data.grid25(), data.gaussian_noise(2), [2, 128, 128, 128, 2],
                    [2, 128, 128, 128, 1], optimizer="adam", lr=5e-4, iterations=10000, m=256,
                    description="5x5 grid of 25 Gaussians, spacing 2, sigma 0.05")


MNIST_PAPER_NOISE = ("uniform", "gaussian")


def mnist_paper_noise(name):
    """The mnist-paper noise prior by its option name (``noise``):
    "uniform" U(-sqrt 3, sqrt 3)^100 or "gaussian" N(0, I)^100."""
    if name == "uniform":
        return data.uniform_noise(100, -math.sqrt(3), math.sqrt(3))
    if name == "gaussian":
        return data.gaussian_noise(100)
    raise ValueError(f"option noise must be one of {', '.join(map(repr, MNIST_PAPER_NOISE))}, "
                     f"got {name!r}")


@preset("mnist-paper", options=("kind", "momentum", "sampling", "noise", "g_steps", *TECHNIQUE_OPTIONS))
def mnist_paper(opts):
    """The GAN paper's MNIST model as its released configuration trained it.

    G: 100 -> 1200 ReLU -> 1200 ReLU -> 784 sigmoid, output bias = logit of the
    mean training pixel; z ~ U(-sqrt 3, sqrt 3)^100 (noise "uniform", the
    default) or N(0, I)^100 (noise "gaussian"; see below). D: maxout 240x5 twice with
    input dropouts (0.8/1.25, 0.5/2), independent masks for the real and fake
    batches. D loss 0.5 [CE(1, D(x)) + CE(0, D(G(z)))], G loss -log D(G(z)).
    SGD lr 0.1 both, divided by 1.000004 per minibatch (floor 1e-6), momentum
    0.5 -> 0.7 over epochs 1..250 (500 minibatches of 100 per epoch), k = 1.
    Default order "simultaneous" (the released code); "sequential" is Algorithm 1.
    Minibatches of real images: sampling "epochs" (default: a new random
    permutation of the 50,000 images per epoch, as pylearn2's
    shuffled_sequential iteration fed the released run) or "random" (i.i.d.
    with replacement; runs made before this option existed used it).
    The noise prior: the released repository holds two versions of mnist.yaml,
    one with ``noise: 'uniform'`` and one without a noise line, where the
    Generator's default, N(0, 1), applies; both have unit variance per
    dimension. Which one made Table 1 is not recorded.
    Options: data_dir (MNIST folder, else MINIGAN_DATA / the cache / download),
    kind ("mnist" or "fashion-mnist"), seed, order, g_loss, k, m, d_lr, g_lr,
    momentum, sampling, noise, iterations (default 250 epochs = 125,000),
    g_average (a decay: also keep a running average of G's parameters, which
    training never sees; 0.999 spans 2 epochs. Not in the released code), and the
    techniques of Salimans et al. (2016), none of them in this paper's code
    (``_techniques``): real_label, fake_label, historical_averaging, and
    feature_matching = the index of the D layer whose output is f. D's layers are
    0 Dropout(0.8), 1 Maxout 240x5, 2 Dropout(0.5), 3 Maxout 240x5, 4 Dropout(0.5),
    5 Linear (the logit): feature_matching=3 is the last hidden layer before its
    noise, the choice of the released feature-matching MNIST code (its last 250-unit
    layer, the noise layers before it on); 4 takes it after its dropout. With
    feature_matching the default order is "sequential" (a D step, then a G step on
    fresh noise, as that code ran; "simultaneous" cannot send G(z) through D's layers
    separately from D's own step and is refused).
    """
    noise = mnist_paper_noise(_opt(opts, "noise", "uniform"))     # checked before the data is read
    seed = _opt(opts, "seed", 0)
    kind = _opt(opts, "kind", "mnist")
    m = _opt(opts, "m", 100)
    k, g_steps = _opt(opts, "k", 1), _opt(opts, "g_steps", 1)
    order = _opt(opts, "sampling", "epochs")
    if getattr(opts, "load_data", True):
        # the images kept as bytes (39 MB for MNIST, not 157), each minibatch converted as drawn
        images, _ = data.load_mnist("train", data_dir=opts.get("data_dir"), kind=kind, as_uint8=True)
        if m > images.shape[0]:
            raise ValueError(f"the minibatch size m = {m} is larger than the training set "
                             f"({images.shape[0]} images)")
        data_sampler, n, bias = data.MNISTSampler(images, order=order), images.shape[0], \
            models.pixel_mean_logit(images)
    else:                   # drawn from only: G's parameters come from a checkpoint
        data_sampler, n, bias = data.ImagesNotLoaded(784, order=order), max(50000, m), None
    steps_per_epoch = n // m                        # 500 for the paper's 50,000 and m = 100
    architecture = _architecture(opts)
    G, D = models.paper_mnist_networks(bias, seed=seed, noise=noise, **architecture)
    if architecture["minibatch_discrimination"] is not None and getattr(opts, "load_data", True):
        # the released code's data-dependent init, on m training images drawn with a generator of its own
        pick = np.random.default_rng(seed + 5000).choice(len(images), size=m, replace=False)
        models.init_minibatch_discrimination(D, backend.to_device(data.pixels_to_float(images[pick])))
    mu = _opt(opts, "momentum", 0.5)

    def sgd(net, lr, steps):
        return optim.SGD(net, lr, mu, lr_decay=1.000004, lr_min=1e-6, final_momentum=0.7,
                         momentum_start=1, momentum_saturate=250, steps_per_epoch=steps)

    techniques = _techniques(opts, D, data_sampler, seed=seed)
    # simultaneous order backpropagates G's loss through D's own D(G(z)): with feature matching
    # the default is Algorithm 1's order, which the released feature-matching code ran too
    order = _opt(opts, "order", "simultaneous" if opts.get("feature_matching") is None else "sequential")
    gan = GAN(G, D, data_sampler, noise,
              d_optimizer=sgd(D, _opt(opts, "d_lr", 0.1), steps_per_epoch * k),
              g_optimizer=sgd(G, _opt(opts, "g_lr", 0.1), steps_per_epoch * g_steps),
              k=k, g_steps=g_steps, m=m, order=order, d_loss_scale=0.5, seed=seed,
              g_average=opts.get("g_average"), **techniques)
    return Run(gan, data_sampler, noise, _opt(opts, "iterations", 250 * steps_per_epoch),
               f"{kind} as in the GAN paper's released configuration (Table 1, Parzen 225 +- 2)",
               extra={"steps_per_epoch": steps_per_epoch, "kind": kind, "data_dir": opts.get("data_dir")})


def _technique_defaults(opts, **defaults):
    """``opts`` with ``defaults`` where no value was given (a preset built on another)."""
    for key, value in defaults.items():
        if opts.get(key) is None:
            opts[key] = value
    return opts


MNIST_TECHNIQUE_RUN = dict(order="sequential", g_lr=0.2, sampling="random")
"""The configuration the Improved-GAN techniques were measured in on MNIST (benchmarks/RESULTS.md,
"Improved-GAN techniques on MNIST: a first look"): Algorithm 1's order, G's rate 0.2, i.i.d.
minibatches, as Table 1's average-of-G row."""


@preset("mnist-mbd", options=("kind", "momentum", "sampling", "noise", "g_steps", *TECHNIQUE_OPTIONS))
def mnist_mbd(opts):
    """mnist-paper with minibatch discrimination in D (100 kernels x 5; Salimans et al. 2016, 3.2).

    The paper's MNIST model in the configuration the technique was measured in (Algorithm 1's
    order, G's rate 0.2, i.i.d. minibatches; benchmarks/RESULTS.md, "Improved-GAN techniques on
    MNIST"), with ``minibatch_discrimination=100x5`` on D's last hidden features, initialised from a
    minibatch of training images as the released code does. At 30 epochs (seed 0) it scored FID
    6.06 against the plain run's 8.48. Every option of mnist-paper can be given.
    """
    run = mnist_paper(_technique_defaults(opts, minibatch_discrimination="100x5", **MNIST_TECHNIQUE_RUN))
    run.description = (f"{run.extra['kind']}: the GAN paper's model with minibatch discrimination in D "
                       f"({opts['minibatch_discrimination']}), Algorithm 1, G's rate {opts['g_lr']:g}")
    return run


@preset("mnist-fm", options=("kind", "momentum", "sampling", "noise", "g_steps", *TECHNIQUE_OPTIONS))
def mnist_fm(opts):
    """mnist-paper with feature matching as G's loss (on D.layers[3]; Salimans et al. 2016, 3.1).

    The paper's MNIST model in the configuration the techniques were measured in (Algorithm 1's
    order, G's rate 0.2, i.i.d. minibatches), G matching the mean of D's second maxout layer (240
    features) on real and fake minibatches. In the one measured run (seed 0, 30 epochs) G collapsed
    to a single digit (benchmarks/RESULTS.md, "Improved-GAN techniques on MNIST"): feature matching
    alone is not a recipe for samples; the paper pairs it with semi-supervised training.
    """
    run = mnist_paper(_technique_defaults(opts, feature_matching=3, **MNIST_TECHNIQUE_RUN))
    run.description = (f"{run.extra['kind']}: the GAN paper's model, G's loss feature matching on "
                       f"D.layers[{opts['feature_matching']}], Algorithm 1, G's rate {opts['g_lr']:g}")
    return run


from . import autoencoder_presets  # noqa: E402,F401  (registers ae, dae, vae: the textbook chapter's models)
