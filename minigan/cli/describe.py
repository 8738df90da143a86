"""What a preset is, in words: its defaults and the ``--set`` keys it takes with their
allowed values (``minigan train --help``), how long its full run took where that was
measured, and the description a run records, with a figure of the paper it quotes
said as a reference rather than as this run's result.

The defaults are read from the presets themselves (each built once, reading no
data: ``presets.build(name, load_data=False)``), and the allowed values from the
constants the presets check against, so the help cannot drift from the code;
``own_options()`` and ``TECHNIQUES`` hold what a number's range means, and a test
checks that every option a preset takes has an entry there.
"""
from __future__ import annotations

import functools
import re
import shutil
import textwrap

__all__ = ["preset_defaults", "presets_help", "run_description", "own_options", "TECHNIQUES",
           "MEASURED_TIMES", "MNIST_EPOCH_SECONDS"]

# The common options' flags, in the order the help lists a preset's defaults.
FLAGS = {"iterations": "--iterations", "m": "--m", "k": "--k", "lr": "--lr", "d_lr": "--d-lr", "g_lr": "--g-lr",
         "g_loss": "--g-loss", "order": "--order", "seed": "--seed"}


def own_options():
    """option -> (VALUE as --set writes it, what it is). Allowed sets come from the code."""
    from .. import data, presets
    from ..data import mnist
    return {
        "momentum": ("MU", "SGD's momentum, a number in [0, 1)"),
        "beta1": ("BETA1", "Adam's beta1, a number in [0, 1)"),
        "kind": ("|".join(mnist.KINDS), "which images"),
        "g_steps": ("N", "G steps after the --k D steps of each iteration, each on fresh noise, an integer "
                         ">= 1 (--order sequential; the released minibatch-discrimination code ran 3)"),
        "sampling": ("|".join(data.MNISTSampler.ORDERS),
                     "how minibatches of real images are drawn: 'epochs' a new permutation of the training "
                     "images every epoch (as the released run), 'random' i.i.d. with replacement"),
        "noise": ("|".join(presets.MNIST_PAPER_NOISE),
                  "the noise prior: 'uniform' U(-sqrt 3, sqrt 3)^100, 'gaussian' N(0, I)^100 (the released "
                  "repository holds both; which made Table 1 is not recorded)"),
        "code_dim": ("K", "the width of the code (the bottleneck; a VAE's z), an integer >= 1"),
        "hidden": ("H", "the units of the encoder's and the decoder's hidden layer, an integer >= 1"),
        "reconstruction": ("bernoulli|squared", "the reconstruction loss: 'bernoulli' -log p(x | z) with a "
                                                "logit per pixel, 'squared' ||x^ - x||^2 after a sigmoid"),
        "corruption": ("|".join(data.CORRUPTIONS), "what the denoising autoencoder removes: 'gaussian' adds "
                                                   "N(0, level^2) to each pixel, 'masking' zeroes each pixel "
                                                   "with probability level"),
        "corruption_level": ("LEVEL", "the corruption's level: the noise's standard deviation, or the share of "
                                      "pixels zeroed"),
    }


# The techniques of Salimans et al. (2016): options of every preset (presets.TECHNIQUE_OPTIONS);
# each one's default is read from the presets ("off" where it is None).
TECHNIQUES = {
    "real_label": ("ALPHA", "D's target for real data, 0 < ALPHA <= 1; below 1 is one-sided label "
                            "smoothing (0.9 is common)"),
    "fake_label": ("BETA", "D's target for G's samples, 0 <= BETA < real_label; above 0 is two-sided "
                           "label smoothing"),
    "feature_matching": ("INDEX", "G's loss becomes matching the mean output of D.layers[INDEX] on real "
                                  "and fake batches, in place of --g-loss (leave that out); each preset's D "
                                  "layers are listed above"),
    "historical_averaging": ("WEIGHT", "a weight > 0: both players' costs get WEIGHT ||theta - mean of "
                                       "past theta||^2"),
    "minibatch_discrimination": ("KERNELSxDIM", "two integers >= 1, e.g. 50x5: a minibatch discrimination "
                                                "layer on D's last hidden features"),
    "batch_norm": ("0|1", "1: batch norm after each of G's hidden layers"),
    "virtual_batch_norm": ("B", "an integer >= 2: virtual batch norm there instead, with B reference noise "
                                "rows drawn once (not with batch_norm)"),
}

# Run times of a preset's full default run, as measured in benchmarks/RESULTS.md (copied, with
# where they come from). mnist-paper's is computed from its measured epoch times below.
MEASURED_TIMES = {
    "ring8": "10,000 iterations took 29-32 s (seeds 0-2, one CPU thread of a shared 2-core machine, "
             "commit cac6c61, 2026-11-22; benchmarks/RESULTS.md, \"Toy presets\")",
    "ae": "10,000 iterations took 214 s of training on one BLAS thread beside other jobs (2-core machine, "
          "2026-12-07; benchmarks/RESULTS.md, \"The textbook chapter\")",
    "dae": "10,000 iterations took 108 s of training on one BLAS thread beside other jobs (2-core machine, "
           "2026-12-07; benchmarks/RESULTS.md, \"The textbook chapter\")",
    "vae": "10,000 iterations took 194 s of training on one BLAS thread beside other jobs (2-core machine, "
           "2026-12-07; benchmarks/RESULTS.md, \"The textbook chapter\")",
    "grid25": "10,000 iterations took 48-52 s (seeds 0-2, one CPU thread of a shared 2-core machine, "
              "commit cac6c61, 2026-11-22; benchmarks/RESULTS.md, \"Toy presets\")",
}
# mnist-paper, seconds per epoch of 500 minibatches on machine A (2 cores, 2026-11-22): 14-16 with
# two BLAS threads and the machine to itself, 20-27 on one thread beside another job
# (benchmarks/RESULTS.md, Table 1, "Released order, seed 0").
MNIST_EPOCH_SECONDS = (14, 27)


def _mnist_time(epochs):
    lo, hi = (epochs * s / 3600 for s in MNIST_EPOCH_SECONDS)
    return (f"about {lo:.1f}-{hi:.1f} hours on a 2-core CPU ({epochs:g} epochs at the 14-16 s per epoch "
            "measured with two BLAS threads on an otherwise idle machine to the 20-27 s with one thread "
            "beside another job; benchmarks/RESULTS.md, Table 1, \"Released order, seed 0\", 2026-11-22); "
            "longer still when BLAS threads wait for busy cores (with one of the two cores taken, 75 s per "
            "epoch on one BLAS thread and 247 s on two: RESULTS.md, \"Threads\")")


@functools.lru_cache(maxsize=None)
def _summary(name):
    """What the help says of preset ``name``, read from a default build that reads no data
    (kept, not the run: the help and a run's description ask for the same presets)."""
    from .. import presets
    run = presets.build(name, load_data=False)
    tr = run.trainer
    found = {"options": dict(run.options), "extra": dict(run.extra), "description": run.description}
    if not hasattr(tr, "D"):            # an autoencoder: one optimizer, no D
        return {**found, "d_opt": _optimizer(tr.opt), "g_opt": _optimizer(tr.opt), "ramp": False,
                "d_layers": None}
    return {**found, "d_opt": _optimizer(tr.d_opt), "g_opt": _optimizer(tr.g_opt),
            "ramp": getattr(tr.d_opt, "final_momentum", None) is not None,
            "d_layers": [type(layer).__name__ for layer in tr.D.layers]}


def preset_defaults(name):
    """Every option preset ``name`` uses by default (``Run.options`` of a default build)."""
    return dict(_summary(name)["options"])


def _optimizer(opt):
    kind = type(opt).__name__
    if kind == "SGD":
        text = f"momentum SGD, momentum {opt.momentum0:g}"
        if opt.final_momentum is not None:
            text += (f" rising to {opt.final_momentum:g} from epoch {opt.momentum_start} to "
                     f"{opt.momentum_saturate}")
        if opt.lr_decay != 1:
            text += f"; the rate divided by {opt.lr_decay:.10g} after every step"
            if opt.lr_min:
                text += f" (floor {opt.lr_min:g})"
        return text
    if kind == "Adam":
        return f"Adam, beta1 {opt.beta1:g}, beta2 {opt.beta2:g}"
    return kind


def _value(v):
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.10g}"
    return str(v)


def _wrap(text, indent):
    width = max(60, shutil.get_terminal_size().columns - 2)     # as argparse wraps the flags' help
    return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_on_hyphens=False, break_long_words=False)


def _preset_block(name):
    from .. import presets
    summary = _summary(name)
    opts, extra = summary["options"], summary["extra"]
    doc = (presets.PRESETS[name].__doc__ or "").strip().splitlines()
    lines = [_wrap(f"{name}: {doc[0] if doc else summary['description']}", "  ")]
    defaults = []
    for key, flag in FLAGS.items():
        if key in opts:
            text = f"{flag} {_value(opts[key])}"
            if key == "iterations" and "steps_per_epoch" in extra:
                epochs = opts[key] / extra["steps_per_epoch"]
                text += f" ({epochs:g} epochs of {extra['steps_per_epoch']} minibatches)"
            defaults.append(text)
    lines.append(_wrap("defaults: " + ", ".join(defaults), "    "))
    d_opt, g_opt = summary["d_opt"], summary["g_opt"]
    lines.append(_wrap("optimizer: " + (d_opt if d_opt == g_opt else f"D {d_opt}; G {g_opt}"), "    "))
    if name == "mnist-paper" and "steps_per_epoch" in extra:
        epochs = opts["iterations"] / extra["steps_per_epoch"]
        lines.append(_wrap(f"time: {opts['iterations']:,} iterations take {_mnist_time(epochs)}", "    "))
    elif name in MEASURED_TIMES:
        lines.append(_wrap(f"time: {MEASURED_TIMES[name]}", "    "))
    own = [o for o in presets.OPTIONS[name]
           if o not in presets.COMMON.get(name, presets.COMMON_OPTIONS) and o not in presets.TECHNIQUE_OPTIONS]
    known = own_options()
    for o in own:
        value, meaning = known[o]
        if o == "momentum" and summary["ramp"]:
            meaning += ", where the ramp above starts"
        lines.append(_wrap(f"--set {o}={value} (default {_value(opts.get(o))}): {meaning}", "    "))
    if summary["d_layers"] is not None:
        layers = ", ".join(f"{i} {layer}" for i, layer in enumerate(summary["d_layers"]))
        lines.append(_wrap(f"D's layers (for --set feature_matching=INDEX): {layers}", "    "))
    return lines


def presets_help():
    """The text ``minigan train --help`` ends with: each preset's defaults, its own ``--set``
    keys with their allowed values, its measured run time where there is one, then the keys
    every preset takes (the techniques of Salimans et al. 2016)."""
    from .. import presets
    out = ["presets (their defaults; the flags above override them):"]
    for name in presets.PRESETS:
        out += _preset_block(name)
    everywhere = [n for n, opts in presets.OPTIONS.items() if set(presets.TECHNIQUE_OPTIONS) <= set(opts)]
    out.append("")
    out.append(_wrap(f"--set keys of {', '.join(everywhere)} (the techniques of Salimans et al. 2016, none of "
                     "them on by default):", ""))
    defaults = preset_defaults(everywhere[0]) if everywhere else {}
    for key in presets.TECHNIQUE_OPTIONS:
        value, meaning = TECHNIQUES[key]
        default = defaults.get(key)
        out.append(_wrap(f"--set {key}={value} (default {'off' if default is None else _value(default)}): "
                         f"{meaning}", "  "))
    out.append(_wrap("A --set VALUE is read as an integer, else a number, else text; a key the preset does "
                     "not take is an error that lists the keys it takes.", ""))
    return "\n".join(out)


# ---------------------------------------------------------------------- a run's description
_PAPER_FIGURE = re.compile(r"\s*\(((?:Table|Figure) \d+[^)]*)\)\s*$")


def run_description(preset, description, iterations):
    """``description`` (a preset's ``Run.description``) for a run of ``iterations`` in all.

    A description that ends with a figure of the paper, "(Table 1, Parzen 225 +- 2)", names
    what the preset reproduces, not what this run will score: the figure is kept, said as the
    paper's (a reference), and a run shorter than the preset's full one says so.
    """
    match = _PAPER_FIGURE.search(description or "")
    if not match:
        return description
    text = f"{description[:match.start()]}; for reference, the paper's fully trained model: {match.group(1)}"
    try:
        full = int(preset_defaults(preset)["iterations"])
    except Exception:                  # a preset put into PRESETS by hand, say: no full length to name
        return text + " (the paper's result, not this run's)"
    if iterations < full:
        return (text + f" (this run trains {iterations:,} of the preset's {full:,} iterations: its scores "
                "are not comparable)")
    return text + " (the paper's result, not this run's)"
