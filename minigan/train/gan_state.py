"""The state dict of a ``GAN``: every piece of a run, under the keys its checkpoints use.

``GAN.state_dict()`` / ``GAN.load_state_dict(d)`` call these. The keys (the
same as in every checkpoint written since version 1, so old files load)::

    G/<name>, D/<name>        each network's state_dict(): its parameters
                              ("0.W", "0.b", ...) and its buffers ("3.mean",
                              ...), one namespace: the two never share a name
    g_opt/<slot>/<param>      each optimizer's state arrays (velocity, Adam m, s)
    d_opt/<slot>/<param>
    rng/<where>               JSON text (a 0-d string array) of a random
                              generator's state, or "null" where it cannot be
                              read (CuPy): the trainer's ("rng/trainer") and each
                              layer's that owns one ("rng/D/2": the Dropout at D.layers[2]),
                              and each loss's or penalty's ("rng/d_penalties.0")
    sampler/<data|noise>/<k>  the state of a data or noise sampler that keeps one
    part/<name>/<k>           the state of a loss or penalty given to the trainer that
                              keeps one (``GAN.parts()``: "d_penalties.0", "g_loss", ...)
    history, history_fields   the history as a float64 table, one row per iteration
    G_average/<param>         the running average of G's parameters (``g_average``)

and plain JSON values (a checkpoint keeps them in its JSON header)::

    iteration                 completed iterations
    config                    GAN.config: order, g_loss, k, m, d_loss_scale, real_label, seed, ...
                              (g_steps only when not 1)
    noise_prior               the noise sampler's repr, or None when it has no stable one
    architecture              {"G": [[param, shape, dtype], ...], "D": ...}
    buffers                   {"G": [[buffer, shape, dtype], ...], "D": ...} (absent before buffers existed: none)
    layers                    {"G": [repr of each leaf layer], "D": ...} (absent before 2026-11-23)
    optimizers                {"g_opt": {"class", "t", "settings"}, "d_opt": ...}
    g_average                 None, or {"decay", "t"}
    rng_exact                 {where: whether its state was stored}
    samplers                  {"data" / "noise": [the keys of its state]}
    parts                     {part name: [the keys of its state]} (absent: no stateful part)

Loading checks everything first -- structure, every key and shape, the architecture,
and with ``strict`` the run's settings (order, g_loss, k, g_steps, m, d_loss_scale, real_label,
the loss and penalty arguments, the optimizers' settings, the layers, the noise prior)
-- then applies; a ``StateError`` says what does not fit, and nothing has changed.

Exactness. On NumPy every generator's state (``bit_generator.state``) is restored,
so N iterations in one go and N/2 + save + load + N/2 give bit-identical
parameters. CuPy has no public API to read or set the state of its generators
(XORWOW): those are stored as null and re-seeded on load from (seed, iteration,
where), so a resumed CuPy run is reproducible from the same state but does not
draw the minibatches of an uninterrupted run; a NumPy state cannot go into a CuPy
generator either (a run moved between backends). ``load_gan_state`` returns a
note for each such item (and for an average of G started or dropped).
"""
from __future__ import annotations

import copy

import numpy as np

from .. import state
from ..layers import walk_layers
from ..state import StateError
from .run_state import (apply_generators, apply_parts, check_generators, check_history, check_parts,
                        optimizer_state, plain, save_generators, save_history, save_optimizer,
                        save_parts)
from .history import HISTORY_FIELDS, History

__all__ = ["gan_state_dict", "check_gan_state", "load_gan_state", "CONFIG_KEYS", "StepsPerEpochChanged"]

CONFIG_KEYS = ("order", "g_loss", "k", "g_steps", "m", "d_loss_scale", "real_label")   # strict: must be the same
# GAN.config names g_steps only when it is not 1: a config without it (every checkpoint from before
# it) ran 1
CONFIG_DEFAULTS = {"g_steps": 1}
# the loss and penalty arguments: GAN.config names them only when they are not the default,
# so a key absent from a config means its default (and every checkpoint from before them has none)
ARGUMENT_DEFAULTS = {"d_loss": None, "fake_label": 0.0, "d_penalties": [], "g_penalties": []}
NETS = ("G", "D")
OPTIMIZERS = (("g_opt", "g_opt"), ("d_opt", "d_opt"))      # (key, GAN attribute)


# ---------------------------------------------------------------------- small pieces
def _prior_name(sampler):
    """The noise prior's repr, e.g. ``uniform_noise(100, -1.73..., 1.73...)``, or None when it has no
    stable one (a plain function or lambda: its repr holds a memory address that changes per process)."""
    name = repr(sampler)
    return None if " at 0x" in name else name


def _layer_signature(net):
    """repr of every leaf layer (e.g. "ReLU()", "Dropout(keep=0.8, scale=1.25)"): what the
    parameter shapes do not show. A repr holding an address (" at 0x") is left out: it is not stable."""
    return [repr(leaf) for _, leaf in walk_layers(net)
            if not getattr(leaf, "layers", None) and " at 0x" not in repr(leaf)]


def _samplers(gan):
    """``{who: (sampler, its state_dict())}`` for the data and noise samplers that keep state.

    A sampler without ``state_dict`` / ``load_state_dict``, or whose state is
    empty (MNISTSampler's i.i.d. order), has nothing to save.
    """
    found = {}
    for who in ("data", "noise"):
        s = getattr(gan, f"{who}_sampler")
        if callable(getattr(s, "state_dict", None)) and callable(getattr(s, "load_state_dict", None)):
            sd = dict(s.state_dict())
            if sd:
                found[who] = (s, sd)
    return found


def _nets(gan):
    return (("G", gan.G), ("D", gan.D))


def _buffers(net):
    return getattr(net, "buffers", {})


# ---------------------------------------------------------------------- save
def gan_state_dict(gan):
    """The flat state dict of ``gan`` (see the module docstring): arrays and plain values."""
    out = {}
    for who, net in _nets(gan):
        for name, value in net.state_dict().items():
            out[f"{who}/{name}"] = value
    average = gan.g_average
    if average is not None:
        for name, value in average.average.items():
            out[f"G_average/{name}"] = value.copy()
    optimizers = {}
    for who, attr in OPTIMIZERS:
        entries, optimizers[who] = save_optimizer(who, getattr(gan, attr))
        out.update(entries)
    entries, rng = save_generators(gan.random_generators())
    out.update(entries)
    samplers = {}
    for who, (_, sd) in _samplers(gan).items():
        samplers[who] = sorted(sd)
        for key, value in sd.items():
            out[f"sampler/{who}/{key}"] = value.copy() if state.is_array(value) else np.asarray(value)
    entries, parts = save_parts(gan.parts())
    out.update(entries)
    history = (gan.history if isinstance(gan.history, History)   # a list of row dicts: its fields
               else History(HISTORY_FIELDS, ({f: row[f] for f in HISTORY_FIELDS} for row in gan.history)))
    out.update(save_history(history))
    out.update({
        "iteration": int(gan.iteration),
        "config": gan.config,
        "noise_prior": _prior_name(gan.noise_sampler),
        "architecture": {who: state.signature(net.params) for who, net in _nets(gan)},
        "buffers": {who: state.signature(_buffers(net)) for who, net in _nets(gan)},
        "layers": {who: _layer_signature(net) for who, net in _nets(gan)},
        "optimizers": optimizers,
        "g_average": None if average is None else {"decay": average.decay, "t": average.t},
        "rng_exact": rng,
        "samplers": samplers,
    })
    if parts:                     # (a run without stateful losses or penalties writes no entry)
        out["parts"] = parts
    return out


# ---------------------------------------------------------------------- check
def _check_structure(d):
    """The plain values' structure, so that a damaged one is a StateError, not a KeyError later."""
    def bad(what):
        return StateError(f"damaged state ({what})")
    for key in ("iteration", "config", "architecture", "optimizers"):
        if key not in d:
            raise StateError(f"the state lacks {key!r} (not a GAN's state, or a damaged one)")
    if type(d["iteration"]) is not int or d["iteration"] < 0:
        raise bad(f"iteration {d['iteration']!r} is not a count")
    if not isinstance(d["config"], dict):
        raise bad("config is not an object")
    for what in ("architecture", "buffers"):
        table = d.get(what, {})            # no buffers: a state from before they existed
        for who in NETS:
            entries = table.get(who, [] if what == "buffers" else None) if isinstance(table, dict) else None
            if not isinstance(entries, list) or not all(
                    isinstance(e, list) and len(e) == 3 and isinstance(e[0], str) and isinstance(e[1], list)
                    for e in entries):
                raise bad(f"{what} of {who} missing or malformed")
    opts = d["optimizers"]
    for who, _ in OPTIMIZERS:
        info = opts.get(who) if isinstance(opts, dict) else None
        if not isinstance(info, dict) or not isinstance(info.get("class"), str) or type(info.get("t")) is not int:
            raise bad(f"optimizer {who} missing, or without class and step count t")


def _saved_buffers(d, who):
    return (d.get("buffers") or {}).get(who, [])


def _required(d):
    for who in NETS:
        for name, shape, _ in d["architecture"][who] + _saved_buffers(d, who):
            yield f"{who}/{name}", tuple(shape)
    yield "history", None
    yield "history_fields", None
    for key in d.get("rng_exact", {}):
        yield f"rng/{key}", None
    for who, keys in d.get("samplers", {}).items():
        for key in keys:
            yield f"sampler/{who}/{key}", None
    for name, keys in d.get("parts", {}).items():
        for key in keys:
            yield f"part/{name}/{key}", None


def _check_arrays(d):
    for key, shape in _required(d):
        if key not in d:
            raise StateError(f"lacks the entry {key!r} (damaged, or written by something else)")
        if shape is not None and tuple(d[key].shape) != shape:
            raise StateError(f"entry {key!r} has shape {tuple(d[key].shape)}, its header says {shape}")


def _check_architecture(d, who, net):
    for what, saved_list, arrays in (("parameter", d["architecture"][who], net.params),
                                     ("buffer", _saved_buffers(d, who), _buffers(net))):
        saved = {name: (tuple(shape), dtype) for name, shape, dtype in saved_list}
        mine = {name: (tuple(a.shape), str(a.dtype)) for name, a in arrays.items()}
        where = "another architecture:"
        for name, (shape, dtype) in mine.items():
            if name not in saved:
                raise StateError(f"{where} this {who} has {what} {name!r} {shape}, the "
                                 f"saved {who} has no such {what}")
            if saved[name][0] != shape:
                raise StateError(f"{where} {who} {what} {name!r} has shape {saved[name][0]} "
                                 f"in the checkpoint, {shape} in this model")
            if saved[name][1] != dtype:
                raise StateError(f"{where} {who} {what} {name!r} is {saved[name][1]} in the "
                                 f"checkpoint, {dtype} in this model")
        for name in saved:
            if name not in mine:
                raise StateError(f"{where} the saved {who} has {what} {name!r} "
                                 f"{saved[name][0]}, this {who} has no such {what}")


def _check_settings(d, gan):
    saved, mine = d["config"], gan.config
    for key in CONFIG_KEYS:
        if key not in saved and key not in CONFIG_DEFAULTS:
            continue
        was, now = saved.get(key, CONFIG_DEFAULTS.get(key)), mine.get(key, CONFIG_DEFAULTS.get(key))
        if was != now:
            raise StateError(f"was trained with {key}={was!r}, this run has {key}={now!r}")
    for key, default in ARGUMENT_DEFAULTS.items():
        was, now = saved.get(key, default), mine.get(key, default)
        if was != now:
            raise StateError(f"was trained with {key}={was!r}, this run has {key}={now!r} (pass the same "
                             "losses and penalties, or load with strict=False)")
    for who, net in _nets(gan):                              # not stored before 2026-11-23
        saved_layers, my_layers = (d.get("layers") or {}).get(who), _layer_signature(net)
        if saved_layers is not None and saved_layers != my_layers:
            diff = next((f"{a} in the checkpoint, {b} in this model" for a, b in zip(saved_layers, my_layers)
                         if a != b), f"{len(saved_layers)} layers in the checkpoint, {len(my_layers)} here")
            raise StateError(f"its {who} has other layers ({diff})")
    prior, mine = d.get("noise_prior"), _prior_name(gan.noise_sampler)
    if prior is not None and mine is not None and prior != mine:
        raise StateError(f"was trained with the noise prior {prior}, this run has {gan.noise_sampler!r}")


class StepsPerEpochChanged(StateError):
    """An optimizer was saved with another ``steps_per_epoch`` than this run's: the training
    set has another size (its schedules count epochs). ``who``, ``saved``, ``now``: the
    optimizer's key (``g_opt``, ``d_opt``) and its steps per epoch then and now."""

    def __init__(self, who, saved, now):
        super().__init__(f"its optimizers were saved with {saved} steps per epoch ({who}), this run's take "
                         f"{now}: the training set has another size")
        self.who, self.saved, self.now = who, saved, now


def _optimizer_state(d, who, opt, strict):
    """``opt.load_state_dict``'s form of the state of ``who`` in ``d``, checked."""
    info = d["optimizers"][who]
    if info["class"] != type(opt).__name__:
        raise StateError(f"{who} is {info['class']} in the checkpoint, {type(opt).__name__} in this run")
    saved, mine = info.get("settings"), (opt.settings() if hasattr(opt, "settings") else None)
    if strict and saved is not None and mine is not None:   # checkpoints before 2026-11-23 have none
        for key in saved:
            if key == "steps_per_epoch" and key in mine and plain(mine[key]) != saved[key]:
                raise StepsPerEpochChanged(who, saved[key], plain(mine[key]))
            if key in mine and plain(mine[key]) != saved[key]:
                raise StateError(f"{who} was saved with {key}={saved[key]!r}, "
                                 f"this run's has {key}={plain(mine[key])!r} (a resumed run would step "
                                 "differently)")
    return optimizer_state(d, who, info["t"], opt)


def _average_state(d, gan):
    """The state of ``gan.g_average`` in ``d`` (``ParameterAverage.load_state_dict``'s form),
    checked; None when either side keeps no average."""
    saved, average = d.get("g_average"), gan.g_average
    if saved is None or average is None:
        return None
    if float(saved.get("decay", -1)) != average.decay:
        raise StateError(f"averaged G with decay {saved.get('decay')}, this run with {average.decay}")
    st = {"t": int(saved.get("t", 0)), "decay": average.decay}
    for name, p in average.average.items():
        key = f"G_average/{name}"
        if key not in d or tuple(d[key].shape) != tuple(p.shape):
            raise StateError(f"its average of G lacks {name!r} of shape {tuple(p.shape)}")
        st[f"average/{name}"] = d[key]
    average.check_state_dict(st)
    return st


def check_gan_state(gan, d, *, strict=True):
    """Check ``d`` against ``gan`` (nothing changes); returns what ``load_gan_state`` applies.
    ``StateError`` names the first thing that does not fit."""
    _check_structure(d)
    _check_arrays(d)
    for who, net in _nets(gan):
        _check_architecture(d, who, net)
    if strict:
        _check_settings(d, gan)
    nets = {}
    for who, net in _nets(gan):
        nets[who] = {name: d[f"{who}/{name}"] for name in (*net.params, *_buffers(net))}
        net.check_state_dict(nets[who])
    opts = {who: _optimizer_state(d, who, getattr(gan, attr), strict) for who, attr in OPTIMIZERS}
    rng = check_generators(d, gan.random_generators())
    samplers = {}
    stateful = _samplers(gan)
    for who in d.get("samplers", {}):
        if who not in stateful:
            raise StateError(f"holds the state of a {who} sampler, but this run's {who} sampler "
                             f"{getattr(gan, who + '_sampler')!r} keeps none: rebuild it as the run had it "
                             "(e.g. MNISTSampler(order='epochs'))")
    for who, (s, _) in stateful.items():
        keys = d.get("samplers", {}).get(who)
        if keys is None:
            raise StateError(f"has no state for the {who} sampler {s!r}: it was written by a run whose sampler "
                             "kept none; rebuild that sampler as the run had it (mnist-paper checkpoints from "
                             "before 2026-11-23: sampling='random')")
        samplers[who] = {k: d[f"sampler/{who}/{k}"] for k in keys}
        try:
            copy.copy(s).load_state_dict(samplers[who])      # tried on a copy: s stays as it is
        except (TypeError, ValueError, KeyError) as exc:
            raise StateError(f"its {who} sampler state does not fit this run's {who} sampler {s!r} "
                             f"({exc})") from None
    parts = check_parts(d, gan.parts())
    average = _average_state(d, gan)
    history = check_history(d, getattr(gan.history, "fields", HISTORY_FIELDS))
    return {"nets": nets, "opts": opts, "rng": rng, "samplers": samplers, "parts": parts,
            "average": average, "history": history}


# ---------------------------------------------------------------------- load
def load_gan_state(gan, d, *, strict=True):
    """Check ``d`` (``check_gan_state``), then apply it to ``gan``. Returns notes: what
    could not be restored exactly (CuPy generators, an average of G started or dropped)."""
    checked = check_gan_state(gan, d, strict=strict)
    # -- every check passed: apply -----------------------------------------
    notes = []
    for who, net in _nets(gan):
        net.load_state_dict(checked["nets"][who])
    for who, attr in OPTIMIZERS:
        getattr(gan, attr).load_state_dict(checked["opts"][who])
    iteration = d["iteration"]
    average = gan.g_average
    if checked["average"] is not None:
        average.load_state_dict(checked["average"])
    elif average is not None:            # a run that kept none: its average starts here
        average.reset()
        notes.append(f"the checkpoint keeps no average of G: the average "
                     f"(decay {average.decay:g}) starts from iteration {iteration}")
    elif d.get("g_average") is not None:
        notes.append(f"the average of G in the checkpoint (decay {d['g_average'].get('decay')}) "
                     "is not loaded: this run keeps none")
    seed = d["config"].get("seed", gan.seed)
    notes += apply_generators(gan.random_generators(), checked["rng"], seed, iteration)
    for who, (s, _) in _samplers(gan).items():
        s.load_state_dict(checked["samplers"][who])
    apply_parts(gan.parts(), checked["parts"])
    for _, net in _nets(gan):
        net.clear_cache()
    gan.iteration = iteration
    gan.history = checked["history"]
    return notes
