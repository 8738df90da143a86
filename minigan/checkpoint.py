"""Checkpoints: a whole training run in one ``.npz``, with no pickles.

What a checkpoint holds (format ``minigan-checkpoint``, version 1)::

    format, version          the file's kind and layout version
    meta                     JSON text: iteration, gan.config, preset name and
                             options, architecture signature (every parameter's
                             name, shape and dtype for G and D), optimizer
                             classes and step counts, where it was saved from
    G/<param>, D/<param>     the two players' parameters
    g_opt/<slot>/<param>     each optimizer's state arrays (velocity, Adam m, s)
    d_opt/<slot>/<param>
    rng/<where>              JSON text of a random generator's state: the
                             trainer's (``rng/trainer``) and every layer that
                             owns one, e.g. ``rng/D/2`` for the Dropout at D.layers[2]
    sampler/data/<key>       optional: a data or noise sampler that has state
    sampler/noise/<key>      (``state_dict()`` / ``load_state_dict(d)``) saves it here
    history, history_fields  gan.history as a float64 table, one row per iteration
    G_average/<param>        optional: the running average of G's parameters
                             (``GAN(g_average=DECAY)``; its decay and step count in meta)

Every entry is a plain number, string or array, so the file is read with
``numpy.load(..., allow_pickle=False)``: loading a checkpoint never runs code.

Writes are atomic: the file is written to a temporary file in the same folder,
flushed and fsync'ed, then renamed over the old one (``os.replace``). A crash
mid-write leaves the previous checkpoint untouched; an error or Ctrl-C removes
the temporary file too, while a process killed outright (SIGKILL, power loss)
can leave one behind (``.NAME.*.tmp`` beside NAME: safe to delete).

Exactness of resume. On NumPy, parameters, optimizer state, the iteration and
every random generator (``numpy.random.Generator.bit_generator.state``) are
restored exactly, so N iterations in one go and N/2 + save + load + N/2 give
bit-identical parameters. On CuPy, parameters, optimizer state, iteration and
history are exact, but CuPy has no public API to read or set the state of its
generators (XORWOW): those are re-seeded on load from (seed, iteration, where),
so a resumed CuPy run is reproducible from the same checkpoint but does not
draw the same minibatches as an uninterrupted run. ``load`` lists every such
inexact item in ``Checkpoint.notes``. A checkpoint saved on one backend loads
on the other (the arrays are moved); the generators are re-seeded in that case.

Errors: anything wrong with the file -- missing, truncated, corrupted, not a
checkpoint, a missing entry, a newer format, or a model of another
architecture -- raises ``CheckpointError`` with a one-line message that names
the file and what is wrong. Nothing is changed in the model unless every check
passes.
"""
from __future__ import annotations

import copy
import datetime
import json
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

from . import __version__, backend
from .train import HISTORY_FIELDS, History
from .layers import walk_layers

__all__ = ["CheckpointError", "Checkpoint", "FORMAT", "VERSION", "save", "read", "load",
           "architecture", "atomic_write", "restore_run", "run_options"]

FORMAT = "minigan-checkpoint"
VERSION = 1
_CONFIG_KEYS = ("order", "g_loss", "k", "m", "d_loss_scale", "real_label")
RESTORE_OVERRIDES = ("data_dir",)     # options restore_run may replace: where the data is, not what the run is


def _default_file_mode():
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _default_file_mode()


class CheckpointError(Exception):
    """A checkpoint cannot be written, read or applied; the message says why."""


@dataclass
class Checkpoint:
    """A checkpoint as read from disk: ``meta`` (dict) and the raw host ``arrays``."""
    path: str
    meta: dict
    arrays: dict
    notes: list = field(default_factory=list)   # what ``load`` could not restore exactly

    @property
    def iteration(self):
        return int(self.meta["iteration"])

    @property
    def preset(self):
        return self.meta.get("preset")

    @property
    def options(self):
        return dict(self.meta.get("options") or {})

    @property
    def config(self):
        return dict(self.meta["config"])

    def history(self):
        """The stored history as a ``gan.History`` (reads like a list of row dicts)."""
        fields = [str(f) for f in self.arrays["history_fields"]]
        table = self.arrays["history"]
        try:
            return History.from_table(table.reshape(-1, len(fields)) if table.size == 0 else table, fields)
        except ValueError as exc:
            raise CheckpointError(f"checkpoint {self.path}: unreadable history ({exc})") from None


# ---------------------------------------------------------------------- helpers
def architecture(net):
    """The signature of a network: ``[[name, [shape...], dtype], ...]`` in parameter order."""
    return [[name, [int(s) for s in p.shape], str(p.dtype)] for name, p in net.params.items()]


def _generator_state(gen):
    """The JSON-able state of a generator, or None when it cannot be read (CuPy)."""
    state = getattr(getattr(gen, "bit_generator", None), "state", None)
    return state if isinstance(state, dict) else None


def _json_array(obj):
    return np.array(json.dumps(obj))          # a 0-d numpy unicode array


def _prior_name(sampler):
    """The noise prior's repr, e.g. ``uniform_noise(100, -1.73..., 1.73...)``, or None when it has no
    stable one (a plain function or lambda: its repr holds a memory address that changes per process)."""
    name = repr(sampler)
    return None if " at 0x" in name else name


def _samplers(gan):
    """``{who: (sampler, its state_dict())}`` for the data and noise samplers that keep state.

    A sampler without ``state_dict`` / ``load_state_dict``, or whose state is
    empty (MNISTSampler's i.i.d. order), has nothing to save.
    """
    found = {}
    for who in ("data", "noise"):
        s = getattr(gan, f"{who}_sampler")
        if callable(getattr(s, "state_dict", None)) and callable(getattr(s, "load_state_dict", None)):
            state = dict(s.state_dict())
            if state:
                found[who] = (s, state)
    return found


def atomic_write(path, write, mode="wb"):
    """Write a file so that a crash leaves either the old file or the new one.

    ``write(f)`` writes the content to an open temporary file in the same
    folder; it is then flushed, fsync'ed and renamed over ``path``. On any
    error the temporary file is removed and the old ``path`` is untouched.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        os.chmod(tmp, _FILE_MODE)             # mkstemp makes 0600; give the usual rw-r--r--
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:                                       # make the rename itself durable (POSIX)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path


# ---------------------------------------------------------------------- save
def save(path, gan, *, preset=None, options=None, extra=None):
    """Write ``gan``'s whole state to ``path`` (an ``.npz``), atomically.

    ``preset`` and ``options`` (JSON-able) say how to rebuild the run
    (``minigan resume`` calls ``presets.build(preset, **options)``);
    ``extra`` is any JSON-able dict stored in ``meta["extra"]``.
    """
    arrays = {"format": np.array(FORMAT), "version": np.array(VERSION)}
    for who, net in (("G", gan.G), ("D", gan.D)):
        for name, p in net.params.items():
            arrays[f"{who}/{name}"] = backend.to_host(p)
    average = getattr(gan, "g_average", None)
    if average is not None:
        for name, p in average.average.items():
            arrays[f"G_average/{name}"] = backend.to_host(p)
    optimizers = {}
    for who, opt in (("g_opt", gan.g_opt), ("d_opt", gan.d_opt)):
        state = opt.state_dict()
        optimizers[who] = {"class": type(opt).__name__, "t": int(state.pop("t"))}
        if hasattr(opt, "settings"):
            optimizers[who]["settings"] = {k: _plain(v) for k, v in opt.settings().items()}
        for key, value in state.items():
            arrays[f"{who}/{key}"] = backend.to_host(value)
    rng = {}
    for key, owner, attr in gan.random_generators():
        state = _generator_state(getattr(owner, attr))
        rng[key] = state is not None
        arrays[f"rng/{key}"] = _json_array(state)
    samplers = {}
    for who, (_, state) in _samplers(gan).items():
        samplers[who] = sorted(state)
        for key, value in state.items():
            arrays[f"sampler/{who}/{key}"] = backend.to_host(value) if hasattr(value, "shape") else np.asarray(value)
    history = (gan.history if isinstance(gan.history, History)   # a list of row dicts: its fields
               else History(HISTORY_FIELDS, ({f: row[f] for f in HISTORY_FIELDS} for row in gan.history)))
    arrays["history_fields"] = np.array(history.fields)
    arrays["history"] = history.table()
    meta = {
        "iteration": int(gan.iteration),
        "config": gan.config,
        "noise_prior": _prior_name(gan.noise_sampler),
        "preset": preset,
        "options": dict(options or {}),
        "architecture": {"G": architecture(gan.G), "D": architecture(gan.D)},
        "layers": {"G": _layer_signature(gan.G), "D": _layer_signature(gan.D)},
        "optimizers": optimizers,
        "g_average": None if average is None else {"decay": average.decay, "t": average.t},
        "rng_exact": rng,
        "samplers": samplers,
        "minigan_version": __version__,
        "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "extra": dict(extra or {}),
    }
    try:
        arrays["meta"] = _json_array(meta)
    except TypeError as exc:
        raise CheckpointError(f"cannot save checkpoint {path}: preset options / extra must be "
                              f"JSON-able ({exc})") from exc
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise CheckpointError(f"cannot save checkpoint {path}: folder {folder} does not exist")
    try:
        atomic_write(path, lambda f: np.savez(f, **arrays))
    except OSError as exc:
        raise CheckpointError(f"cannot save checkpoint {path}: {exc.strerror or exc}") from None
    return os.fspath(path)


# ---------------------------------------------------------------------- read
def read(path):
    """Read and validate a checkpoint file (nothing is applied); ``CheckpointError`` on any fault."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path}: no such file")
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint {path}: is a folder, not a checkpoint file")
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise ValueError("a bare .npy array, not an .npz archive")
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # truncated zip, bad CRC, pickled members, not a zip at all ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} is truncated or corrupted, or not a minigan "
                              f"checkpoint ({type(exc).__name__}: {reason})") from None
    for key in ("format", "version", "meta"):
        if key not in arrays:
            raise CheckpointError(f"checkpoint {path} lacks the entry {key!r} "
                                  "(not a minigan checkpoint, or a damaged one)")
    if str(arrays["format"]) != FORMAT:
        raise CheckpointError(f"checkpoint {path}: format {str(arrays['format'])!r}, "
                              f"expected {FORMAT!r}")
    try:
        version = int(arrays["version"])
        meta = json.loads(str(arrays["meta"]))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path}: unreadable header ({exc})") from None
    if version > VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {version}; this minigan "
                              f"({__version__}) reads up to version {VERSION}")
    for key in ("iteration", "config", "architecture", "optimizers"):
        if key not in meta:
            raise CheckpointError(f"checkpoint {path}: header lacks {key!r}")
    _check_header(path, meta)
    ckpt = Checkpoint(path, meta, arrays)
    _require_arrays(ckpt)
    return ckpt


def _check_header(path, meta):
    """The header's structure, so that a damaged one is a CheckpointError, not a KeyError later."""
    def bad(what):
        return CheckpointError(f"checkpoint {path}: damaged header ({what})")
    if not isinstance(meta, dict):
        raise bad("not a JSON object")
    if type(meta["iteration"]) is not int or meta["iteration"] < 0:
        raise bad(f"iteration {meta['iteration']!r} is not a count")
    if not isinstance(meta["config"], dict):
        raise bad("config is not an object")
    arch = meta["architecture"]
    for who in ("G", "D"):
        entries = arch.get(who) if isinstance(arch, dict) else None
        if not isinstance(entries, list) or not all(
                isinstance(e, list) and len(e) == 3 and isinstance(e[0], str) and isinstance(e[1], list)
                for e in entries):
            raise bad(f"architecture of {who} missing or malformed")
    opts = meta["optimizers"]
    for who in ("g_opt", "d_opt"):
        info = opts.get(who) if isinstance(opts, dict) else None
        if not isinstance(info, dict) or not isinstance(info.get("class"), str) or type(info.get("t")) is not int:
            raise bad(f"optimizer {who} missing, or without class and step count t")


def _layer_signature(net):
    """repr of every leaf layer (e.g. "ReLU()", "Dropout(keep=0.8, scale=1.25)"): what the
    parameter shapes do not show. A repr holding an address (" at 0x") is left out: it is not stable."""
    return [repr(leaf) for _, leaf in walk_layers(net)
            if not getattr(leaf, "layers", None) and " at 0x" not in repr(leaf)]


def _plain(v):
    """A JSON-able number (NumPy scalars included) or None."""
    return v.item() if hasattr(v, "item") else v


def _required(ckpt):
    meta = ckpt.meta
    for who in ("G", "D"):
        for name, shape, _ in meta["architecture"][who]:
            yield f"{who}/{name}", tuple(shape)
    yield "history", None
    yield "history_fields", None
    for key in meta.get("rng_exact", {}):
        yield f"rng/{key}", None
    for who, keys in meta.get("samplers", {}).items():
        for key in keys:
            yield f"sampler/{who}/{key}", None


def _require_arrays(ckpt):
    for key, shape in _required(ckpt):
        if key not in ckpt.arrays:
            raise CheckpointError(f"checkpoint {ckpt.path} lacks the entry {key!r} (damaged, or "
                                  "written by something else)")
        if shape is not None and tuple(ckpt.arrays[key].shape) != shape:
            raise CheckpointError(f"checkpoint {ckpt.path}: entry {key!r} has shape "
                                  f"{tuple(ckpt.arrays[key].shape)}, its header says {shape}")


# ---------------------------------------------------------------------- load
def _check_architecture(ckpt, who, net):
    saved = {name: (tuple(shape), dtype) for name, shape, dtype in ckpt.meta["architecture"][who]}
    mine = {name: (tuple(p.shape), str(p.dtype)) for name, p in net.params.items()}
    where = f"checkpoint {ckpt.path} is from another architecture:"
    for name, (shape, dtype) in mine.items():
        if name not in saved:
            raise CheckpointError(f"{where} this {who} has parameter {name!r} {shape}, the "
                                  f"checkpoint's {who} has no such parameter")
        if saved[name][0] != shape:
            raise CheckpointError(f"{where} {who} parameter {name!r} has shape {saved[name][0]} "
                                  f"in the checkpoint, {shape} in this model")
        if saved[name][1] != dtype:
            raise CheckpointError(f"{where} {who} parameter {name!r} is {saved[name][1]} in the "
                                  f"checkpoint, {dtype} in this model")
    for name in saved:
        if name not in mine:
            raise CheckpointError(f"{where} the checkpoint's {who} has parameter {name!r} "
                                  f"{saved[name][0]}, this {who} has no such parameter")


def _optimizer_state(ckpt, who, opt, strict=True):
    info = ckpt.meta["optimizers"].get(who)
    if info is None:
        raise CheckpointError(f"checkpoint {ckpt.path}: header has no {who} optimizer")
    if info["class"] != type(opt).__name__:
        raise CheckpointError(f"checkpoint {ckpt.path}: {who} is {info['class']} in the "
                              f"checkpoint, {type(opt).__name__} in this run")
    saved, mine = info.get("settings"), (opt.settings() if hasattr(opt, "settings") else None)
    if strict and saved is not None and mine is not None:   # checkpoints before 2026-11-23 have none
        for key in saved:
            if key in mine and _plain(mine[key]) != saved[key]:
                raise CheckpointError(f"checkpoint {ckpt.path}: {who} was saved with {key}={saved[key]!r}, "
                                      f"this run's has {key}={_plain(mine[key])!r} (a resumed run would step "
                                      "differently; e.g. another data size changes steps_per_epoch)")
    state = {"t": int(info["t"])}
    for key, value in opt.state_dict().items():
        if key == "t":
            continue
        name = f"{who}/{key}"
        if name not in ckpt.arrays:
            raise CheckpointError(f"checkpoint {ckpt.path} lacks the entry {name!r}")
        if tuple(ckpt.arrays[name].shape) != tuple(value.shape):
            raise CheckpointError(f"checkpoint {ckpt.path}: entry {name!r} has shape "
                                  f"{tuple(ckpt.arrays[name].shape)}, this model needs "
                                  f"{tuple(value.shape)}")
        state[key] = backend.to_device(ckpt.arrays[name], dtype=value.dtype)
    return state


def _average_state(ckpt, gan):
    """The state of ``gan.g_average`` in ``ckpt`` (``ParameterAverage.load_state_dict``'s
    form), checked; None when either side keeps no average."""
    saved, average = ckpt.meta.get("g_average"), getattr(gan, "g_average", None)
    if saved is None or average is None:
        return None
    if float(saved.get("decay", -1)) != average.decay:
        raise CheckpointError(f"checkpoint {ckpt.path} averaged G with decay {saved.get('decay')}, "
                              f"this run with {average.decay}")
    state = {"t": int(saved.get("t", 0)), "decay": average.decay}
    for name, p in average.average.items():
        key = f"G_average/{name}"
        if key not in ckpt.arrays or tuple(ckpt.arrays[key].shape) != tuple(p.shape):
            raise CheckpointError(f"checkpoint {ckpt.path}: its average of G lacks {name!r} of shape "
                                  f"{tuple(p.shape)}")
        state[f"average/{name}"] = ckpt.arrays[key]
    return state


def load(source, gan, *, strict=True):
    """Restore ``gan`` from a checkpoint (a path or a ``Checkpoint`` from ``read``).

    Checks first, then changes: the architecture must match parameter by
    parameter, and with ``strict`` the run's settings (order, G loss, k, m,
    D loss scale, real label, the optimizers' hyperparameters and schedules,
    and the noise prior where both name it by a stable repr; the last two not
    stored before 2026-11-23) must match too. Returns the ``Checkpoint``,
    whose ``notes`` list anything not restored exactly (CuPy generators).
    """
    ckpt = source if isinstance(source, Checkpoint) else read(source)
    for who, net in (("G", gan.G), ("D", gan.D)):
        _check_architecture(ckpt, who, net)
    if strict:
        saved, mine = ckpt.config, gan.config
        for key in _CONFIG_KEYS:
            if key in saved and saved[key] != mine[key]:
                raise CheckpointError(f"checkpoint {ckpt.path} was trained with {key}={saved[key]!r}, "
                                      f"this run has {key}={mine[key]!r}")
        for who, net in (("G", gan.G), ("D", gan.D)):     # not stored before 2026-11-23
            saved_layers, my_layers = (ckpt.meta.get("layers") or {}).get(who), _layer_signature(net)
            if saved_layers is not None and saved_layers != my_layers:
                diff = next((f"{a} in the checkpoint, {b} in this model" for a, b in zip(saved_layers, my_layers)
                             if a != b), f"{len(saved_layers)} layers in the checkpoint, {len(my_layers)} here")
                raise CheckpointError(f"checkpoint {ckpt.path}: its {who} has other layers ({diff})")
        prior, mine = ckpt.meta.get("noise_prior"), _prior_name(gan.noise_sampler)
        if prior is not None and mine is not None and prior != mine:
            raise CheckpointError(f"checkpoint {ckpt.path} was trained with the noise prior {prior}, "
                                  f"this run has {gan.noise_sampler!r}")
    opt_states = {who: _optimizer_state(ckpt, who, opt, strict)
                  for who, opt in (("g_opt", gan.g_opt), ("d_opt", gan.d_opt))}
    wanted = list(gan.random_generators())
    missing = [key for key, _, _ in wanted if f"rng/{key}" not in ckpt.arrays]
    if missing:
        raise CheckpointError(f"checkpoint {ckpt.path} has no state for the random generator(s) "
                              f"{', '.join(missing)} of this model (another architecture?)")
    try:
        rng_states = {key: json.loads(str(ckpt.arrays[f"rng/{key}"])) for key, _, _ in wanted}
    except ValueError as exc:
        raise CheckpointError(f"checkpoint {ckpt.path}: unreadable generator state ({exc})") from None
    sampler_states = {}
    stateful = _samplers(gan)
    for who in ckpt.meta.get("samplers", {}):
        if who not in stateful:
            raise CheckpointError(f"checkpoint {ckpt.path} holds the state of a {who} sampler, but this run's "
                                  f"{who} sampler {getattr(gan, who + '_sampler')!r} keeps none: rebuild it as "
                                  "the run had it (e.g. MNISTSampler(order='epochs'))")
    for who, (s, _) in stateful.items():
        keys = ckpt.meta.get("samplers", {}).get(who)
        if keys is None:
            raise CheckpointError(f"checkpoint {ckpt.path} has no state for the {who} sampler {s!r}: it was "
                                  "written by a run whose sampler kept none; rebuild that sampler as the run had "
                                  "it (mnist-paper checkpoints from before 2026-11-23: sampling='random')")
        sampler_states[who] = {k: ckpt.arrays[f"sampler/{who}/{k}"] for k in keys}
    for key, owner, attr in wanted:            # a malformed state must fail here, before anything changes
        gen, state = getattr(owner, attr), rng_states[key]
        target = getattr(getattr(gen, "bit_generator", None), "state", None)
        if (isinstance(state, dict) and isinstance(target, dict)
                and state.get("bit_generator") == target.get("bit_generator")):
            try:
                type(gen.bit_generator)().state = state
            except (TypeError, ValueError, KeyError) as exc:
                raise CheckpointError(f"checkpoint {ckpt.path}: unusable state of the random generator "
                                      f"{key!r} ({type(exc).__name__}: {exc})") from None
    for who, (s, _) in stateful.items():
        try:
            copy.copy(s).load_state_dict(sampler_states[who])      # tried on a copy: s stays as it is
        except (TypeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"checkpoint {ckpt.path}: its {who} sampler state does not fit this run's "
                                  f"{who} sampler {s!r} ({exc})") from None
    average_state = _average_state(ckpt, gan)
    history = ckpt.history()
    want = tuple(getattr(gan.history, "fields", HISTORY_FIELDS))
    if history.fields != want:
        raise CheckpointError(f"checkpoint {ckpt.path} records the history fields {history.fields}; "
                              f"this run records {want}")

    # -- every check passed: apply -----------------------------------------
    ckpt.notes = []
    for who, net in (("G", gan.G), ("D", gan.D)):
        for name, p in net.params.items():
            p[...] = backend.to_device(ckpt.arrays[f"{who}/{name}"], dtype=p.dtype)
    gan.g_opt.load_state_dict(opt_states["g_opt"])
    gan.d_opt.load_state_dict(opt_states["d_opt"])
    average = getattr(gan, "g_average", None)
    if average_state is not None:
        average.load_state_dict(average_state)
    elif average is not None:            # a run that kept none: its average starts here
        average.reset()
        ckpt.notes.append(f"checkpoint {ckpt.path} keeps no average of G: the average "
                          f"(decay {average.decay:g}) starts from iteration {ckpt.iteration}")
    elif ckpt.meta.get("g_average") is not None:
        ckpt.notes.append(f"the average of G in checkpoint {ckpt.path} (decay "
                          f"{ckpt.meta['g_average'].get('decay')}) is not loaded: this run keeps none")
    iteration, seed = ckpt.iteration, ckpt.config.get("seed", gan.seed)
    for key, owner, attr in wanted:
        gen, state = getattr(owner, attr), rng_states[key]
        target = getattr(getattr(gen, "bit_generator", None), "state", None)
        if (isinstance(state, dict) and isinstance(target, dict)
                and state.get("bit_generator") == target.get("bit_generator")):
            gen.bit_generator.state = state
        else:
            setattr(owner, attr, backend.derived_rng(seed, iteration, key))
            why = ("not stored (CuPy generator)" if state is None
                   else f"a {state.get('bit_generator')} state, which cannot go into a {backend.name()} "
                        "generator")
            ckpt.notes.append(f"random generator {key!r} re-seeded from (seed, iteration): its state "
                              f"was {why}; the run continues reproducibly but not bit-identically")
    for who, (s, _) in stateful.items():
        s.load_state_dict(sampler_states[who])
    for net in (gan.G, gan.D):
        net.clear_cache()
    gan.iteration = iteration
    gan.history = history
    return ckpt


def run_options(ckpt):
    """The preset options of the run that wrote ``ckpt``: those stored, plus those it implies.

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


def restore_run(source, **overrides):
    """Rebuild a run from its checkpoint: ``presets.build(preset, **options)`` then ``load``.

    ``source`` is a path or a ``Checkpoint``. ``overrides`` replace stored
    options that do not change the run (``RESTORE_OVERRIDES``: ``data_dir``);
    any other is a ValueError. The backend active now is used. Returns
    ``(run, checkpoint)``.
    """
    from . import presets                       # presets import the trainer; keep this lazy
    ckpt = source if isinstance(source, Checkpoint) else read(source)
    if not ckpt.preset:
        raise CheckpointError(f"checkpoint {ckpt.path} does not name the preset it came from; "
                              "build the model yourself and call minigan.checkpoint.load")
    if ckpt.preset not in presets.PRESETS:
        raise CheckpointError(f"checkpoint {ckpt.path} comes from preset {ckpt.preset!r}, which "
                              f"this minigan does not have ({', '.join(presets.PRESETS)})")
    changes_the_run = sorted(set(overrides) - set(RESTORE_OVERRIDES))
    if changes_the_run:
        raise ValueError(f"restore_run: {', '.join(changes_the_run)} would change the run the checkpoint "
                         f"holds; only {', '.join(RESTORE_OVERRIDES)} may be given (build the run yourself "
                         "and call minigan.checkpoint.load for anything else)")
    options = {**run_options(ckpt), **{k: v for k, v in overrides.items() if v is not None}}
    run = presets.build(ckpt.preset, **options)
    load(ckpt, run.trainer)
    return run, ckpt
