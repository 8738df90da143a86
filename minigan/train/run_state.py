"""Pieces of a trainer's state dict that every trainer shares: its random
generators, the losses and penalties that keep state, and its history.

Random generators. A trainer lists the generators it draws from as ``(key, owner, attribute)``
triples (``GAN.random_generators()``: the trainer's own, each layer's that has
one, each loss's or penalty's). Each is saved as ``rng/<key>``: the JSON text
(a 0-d string array) of ``bit_generator.state``, or ``"null"`` where it cannot
be read. A NumPy generator's state is restored exactly. CuPy has no public API
to read or set the state of its generators (XORWOW): those are stored as null
and re-seeded on load from (seed, iteration, key), so a resumed CuPy run is
reproducible but does not draw what an uninterrupted one would; a NumPy state
cannot go into a CuPy generator either. Each such generator gets a note.

Optimizers. An optimizer's state arrays are saved as ``<who>/<slot>/<param>`` and its
class, step count and settings as a plain value (``save_optimizer``).

Parts. A loss or penalty given to a trainer as an argument that keeps state
(``state_dict()`` / ``load_state_dict(d)``: historical averaging's running
average, say) is saved as ``part/<name>/<key>``, its keys listed in the
header's ``parts``.

History. ``history`` (a float64 table) and ``history_fields``.
"""
from __future__ import annotations

import copy
import json

import numpy as np

from .. import backend
from ..layers import is_generator, walk_layers
from .. import state
from ..state import StateError
from .history import History

__all__ = ["is_generator", "layer_generators", "generator_state", "save_generators",
           "check_generators", "apply_generators", "stateful_parts", "save_parts", "check_parts",
           "apply_parts", "save_history", "check_history", "save_optimizer", "optimizer_state", "plain",
           "repeat", "check_model_and_optimizer", "part_generators", "one_network_generators"]


def layer_generators(who, net):
    """``(key, layer, attribute)`` for each random generator a layer of ``net`` holds
    (``Layer.generators()``: Dropout's ``rng``, a noise layer's, ...). A generator in the
    attribute ``rng`` is keyed ``who/<path>`` (``D/2``: the layer at D.layers[2]); one in
    any other attribute ``who/<path>:<attribute>``."""
    for path, layer in walk_layers(net):
        method = getattr(layer, "generators", None)
        found = method() if callable(method) else (
            {"rng": layer.rng} if is_generator(getattr(layer, "rng", None)) else {})
        base = f"{who}/{path}" if path else who
        for attr in sorted(found, key=lambda a: (a != "rng", a)):
            yield (base if attr == "rng" else f"{base}:{attr}"), layer, attr


def part_generators(named):
    """``(name, part, "rng")`` for each ``(name, part)`` (a trainer's ``parts()``: losses and
    penalties given as arguments) that holds a random generator in ``rng``."""
    for name, obj in named:
        if is_generator(getattr(obj, "rng", None)):
            yield name, obj, "rng"


def one_network_generators(trainer):
    """The generators of a trainer of one network (``trainer.model``): its own (``"trainer"``, its
    ``rng``), each layer's (``model/<path>``) and each part's (``trainer.parts()``)."""
    yield "trainer", trainer, "rng"
    yield from layer_generators("model", trainer.model)
    yield from part_generators(trainer.parts())


def generator_state(gen):
    """The JSON-able state of a generator, or None when it cannot be read (CuPy)."""
    s = getattr(getattr(gen, "bit_generator", None), "state", None)
    return s if isinstance(s, dict) else None


def save_generators(triples):
    """``(entries, exact)``: ``{"rng/<key>": 0-d JSON string array}`` and ``{key: whether
    its state was stored}`` (the header's ``rng_exact``)."""
    entries, exact = {}, {}
    for key, owner, attr in triples:
        s = generator_state(getattr(owner, attr))
        exact[key] = s is not None
        entries[f"rng/{key}"] = np.array(json.dumps(s))
    return entries, exact


def _fits(gen, s):
    target = generator_state(gen)
    return isinstance(s, dict) and target is not None and s.get("bit_generator") == target.get("bit_generator")


def check_generators(d, triples):
    """The saved states of ``triples`` in ``d``, parsed and tried on a fresh generator of
    the same kind; ``StateError`` names the first that is missing or unusable."""
    triples = list(triples)
    missing = [key for key, _, _ in triples if f"rng/{key}" not in d]
    if missing:
        raise StateError(f"has no state for the random generator(s) {', '.join(missing)} of this run "
                         "(another architecture, or a loss or penalty the saved run did not have?)")
    try:
        states = {key: json.loads(str(d[f"rng/{key}"])) for key, _, _ in triples}
    except ValueError as exc:
        raise StateError(f"unreadable generator state ({exc})") from None
    for key, owner, attr in triples:           # a malformed state must fail here, before anything changes
        gen, s = getattr(owner, attr), states[key]
        if _fits(gen, s):
            try:
                type(gen.bit_generator)().state = s
            except (TypeError, ValueError, KeyError) as exc:
                raise StateError(f"unusable state of the random generator {key!r} "
                                 f"({type(exc).__name__}: {exc})") from None
    return states


def apply_generators(triples, states, seed, iteration):
    """Restore each generator from ``states`` (``check_generators``), or re-seed it from
    (seed, iteration, key) where its state cannot go in; returns a note for each re-seeded one."""
    notes = []
    for key, owner, attr in list(triples):
        gen, s = getattr(owner, attr), states[key]
        if _fits(gen, s):
            gen.bit_generator.state = s
        else:
            setattr(owner, attr, backend.derived_rng(seed, iteration, key))
            why = ("not stored (CuPy generator)" if s is None
                   else f"a {s.get('bit_generator')} state, which cannot go into a {backend.name()} generator")
            notes.append(f"random generator {key!r} re-seeded from (seed, iteration): its state "
                         f"was {why}; the run continues reproducibly but not bit-identically")
    return notes


# ---------------------------------------------------------------------- parts
def stateful_parts(named):
    """``{name: (part, its state_dict())}`` for the ``(name, part)`` pairs that keep state
    (``state_dict`` and ``load_state_dict``)."""
    return {name: (obj, dict(obj.state_dict())) for name, obj in named
            if callable(getattr(obj, "state_dict", None)) and callable(getattr(obj, "load_state_dict", None))}


def save_parts(named):
    """``(entries, keys)``: ``{"part/<name>/<key>": value}`` and ``{name: [its keys]}``
    (the header's ``parts``; empty when no part keeps state)."""
    entries, keys = {}, {}
    for name, (_, sd) in stateful_parts(named).items():
        keys[name] = sorted(sd)
        for key, value in sd.items():
            entries[f"part/{name}/{key}"] = value.copy() if state.is_array(value) else np.asarray(value)
    return entries, keys


def check_parts(d, named):
    """The saved state of each stateful part, checked: the same parts on both sides, each
    state accepted by its part (by its own ``check_state_dict``, else tried on a copy),
    before anything is applied. Returns ``{name: its state}``."""
    named = list(named)
    saved, mine = d.get("parts", {}), stateful_parts(named)
    for name in saved:
        if name not in mine:
            raise StateError(f"holds the state of {name}, but this run's {name} "
                             f"({dict(named).get(name, 'absent')!r}) keeps none: rebuild the run with "
                             "the losses and penalties it had")
    found = {}
    for name, (obj, _) in mine.items():
        if name not in saved:
            raise StateError(f"has no state for {name} {obj!r}: it was written by a run without it")
        missing = [k for k in saved[name] if f"part/{name}/{k}" not in d]
        if missing:
            raise StateError(f"lacks the entries {missing} of {name} (damaged, or written by something else)")
        found[name] = {k: d[f"part/{name}/{k}"] for k in saved[name]}
        check = getattr(obj, "check_state_dict", None)
        try:
            check(found[name]) if callable(check) else copy.deepcopy(obj).load_state_dict(found[name])
        except (TypeError, ValueError, KeyError) as exc:
            raise StateError(f"the state of {name} does not fit this run's {obj!r} ({exc})") from None
    return found


def apply_parts(named, states):
    """Load each stateful part's checked state (``check_parts``)."""
    for name, (obj, _) in stateful_parts(named).items():
        obj.load_state_dict(states[name])


# ---------------------------------------------------------------------- history
def save_history(history):
    """``{"history_fields": ..., "history": ...}`` of a ``History``."""
    return {"history_fields": np.array(history.fields), "history": history.table()}


def check_history(d, fields):
    """The saved history as a ``History``, checked to record ``fields``."""
    try:
        history = History.from_state(d)
    except (KeyError, ValueError) as exc:
        raise StateError(f"unreadable history ({exc})") from None
    if history.fields != tuple(fields):
        raise StateError(f"records the history fields {history.fields}; this run records {tuple(fields)}")
    return history


# ---------------------------------------------------------------------- optimizers
def plain(v):
    """A JSON-able number (NumPy scalars included) or None."""
    return v.item() if hasattr(v, "item") else v


def save_optimizer(who, opt):
    """``(entries, info)``: ``{"<who>/<slot>/<param>": array}`` and the plain
    ``{"class", "t", "settings"}`` of optimizer ``opt``."""
    sd = opt.state_dict()
    info = {"class": type(opt).__name__, "t": int(sd.pop("t"))}
    if hasattr(opt, "settings"):
        info["settings"] = {k: plain(v) for k, v in opt.settings().items()}
    return {f"{who}/{key}": value for key, value in sd.items()}, info


def optimizer_state(d, who, t, opt):
    """``opt.load_state_dict``'s form of the arrays saved under ``<who>/`` in ``d``, with step
    count ``t``, checked: every entry ``opt`` needs is there (a missing one named by its key),
    none it has no state for, every shape fits."""
    prefix = f"{who}/"
    targets = opt._state_targets()                 # the keys, without copying every state array
    for key in targets:
        if prefix + key not in d:
            raise StateError(f"lacks the entry {prefix + key!r}")
    extra = sorted(k for k in d if k.startswith(prefix) and k[len(prefix):] not in targets)
    if extra:
        raise StateError(f"holds the entries {extra}, which this run's {type(opt).__name__} has no state for")
    st = {"t": int(t), **{key: d[prefix + key] for key in targets}}
    try:
        opt.check_state_dict(st)
    except StateError as exc:
        raise StateError(f"{who}: {exc}") from None
    return st


# ---------------------------------------------------------------------- the loop of train()
def repeat(step, count, trainer, callback=None, what="iterations"):
    """``step()`` ``count`` times, ``callback(trainer, row)`` after each; their rows (every trainer's
    ``train``: iterations of a GAN or an autoencoder, epochs of a classifier)."""
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError(f"{what} must be an integer >= 0, got {count!r}")
    rows = []
    for _ in range(count):
        rows.append(step())
        if callback is not None:
            callback(trainer, rows[-1])
    return rows


def save_one_network(trainer):
    """``(entries, exact, parts)``: the state a one-network trainer saves of its network
    (``model/<name>``), its optimizer (``opt/<slot>/<param>``, and ``"optimizer"``), its
    generators (``rng/<key>``; ``exact`` as ``save_generators`` says) and its parts
    (``part/<name>/<key>``; ``parts`` their keys). What ``check_model_and_optimizer``,
    ``check_generators`` and ``check_parts`` read back."""
    entries = {f"model/{k}": v for k, v in trainer.model.state_dict().items()}
    more, entries["optimizer"] = save_optimizer("opt", trainer.opt)
    entries.update(more)
    more, exact = save_generators(trainer.random_generators())
    entries.update(more)
    more, parts = save_parts(trainer.parts())
    entries.update(more)
    return entries, exact, parts


def check_model_and_optimizer(d, model, opt):
    """``(model state, optimizer state)`` of a one-network trainer's state dict (``model/<name>``
    entries; the optimizer's as ``save_optimizer("opt", ...)`` wrote them, its class, step count and
    settings under ``"optimizer"``), each checked against ``model`` and ``opt``; nothing changes."""
    info = d["optimizer"]
    if not isinstance(info, dict) or info.get("class") != type(opt).__name__:
        saved = info.get("class") if isinstance(info, dict) else repr(info)
        raise StateError(f"its optimizer is {saved}, this run's {type(opt).__name__}")
    state = {k[len("model/"):]: v for k, v in d.items() if k.startswith("model/")}
    model.check_state_dict(state)
    return state, optimizer_state(d, "opt", info["t"], opt)
