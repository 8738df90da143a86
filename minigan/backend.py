"""One switch between NumPy and CuPy.

Every layer, loss and optimizer gets its array module from here, never by
importing CuPy itself::

    from minigan import backend
    backend.use("numpy")          # or "cupy"; or set MINIGAN_BACKEND=cupy
    xp = backend.xp               # numpy or cupy, whichever is active
    x = backend.to_device(host_array)
    y = backend.to_host(x)        # always a numpy.ndarray

Array computations inside layers use ``array_module(x)`` -- the module that owns
the array actually passed in -- so a layer built under one backend and fed
arrays of the other fails loudly rather than copying silently.
"""
from __future__ import annotations

import copy
import os
import zlib

import numpy as np

__all__ = [
    "BackendError", "use", "name", "array_module", "to_host", "to_device",
    "default_rng", "device_generator", "derived_rng", "copy_generator", "cupy_available", "num_threads",
    "DEFAULT_DTYPE",
]

DEFAULT_DTYPE = np.float32
_BACKENDS = ("numpy", "cupy")
_state = {"name": None, "xp": None}


class BackendError(RuntimeError):
    """The requested array backend cannot be used on this machine."""


def _import_cupy():
    """Return the cupy module, or raise one clear BackendError."""
    hint = ("the CuPy backend needs the 'gpu' extra (pip install 'minigan[gpu]', "
            "or a cupy-cudaXXx wheel matching your CUDA) and a visible CUDA GPU")
    try:
        import cupy  # noqa: PLC0415 -- optional dependency
    except Exception as exc:  # ImportError, or a broken CUDA install
        raise BackendError(f"CuPy is not installed or failed to import ({exc}); {hint}") from exc
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise BackendError(f"CuPy is installed but no CUDA GPU is usable ({exc}); {hint}") from exc
    if n < 1:
        raise BackendError(f"CuPy is installed but no CUDA GPU is visible; {hint}")
    return cupy


def cupy_available() -> bool:
    """True when CuPy imports and at least one CUDA GPU is visible."""
    try:
        _import_cupy()
    except BackendError:
        return False
    return True


def use(backend: str) -> None:
    """Select the array backend: ``"numpy"`` or ``"cupy"``.

    Raises ``ValueError`` for an unknown name and ``BackendError`` when CuPy
    or a GPU is missing. Layers built afterwards allocate on this backend.
    """
    if not isinstance(backend, str) or backend.lower() not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
    backend = backend.lower()
    _state["xp"] = np if backend == "numpy" else _import_cupy()
    _state["name"] = backend


def _ensure():
    if _state["xp"] is None:
        use(os.environ.get("MINIGAN_BACKEND", "numpy") or "numpy")
    return _state["xp"]


def name() -> str:
    """Name of the active backend (``"numpy"`` or ``"cupy"``)."""
    _ensure()
    return _state["name"]


def __getattr__(attr):  # PEP 562: ``backend.xp`` is always the active module
    if attr == "xp":
        return _ensure()
    raise AttributeError(f"module 'minigan.backend' has no attribute {attr!r}")


def array_module(x):
    """NumPy or CuPy, whichever owns ``x`` (NumPy for scalars and lists)."""
    if type(x).__module__.startswith("cupy"):
        return _ensure() if _state["name"] == "cupy" else _import_cupy()
    return np


def to_host(x) -> np.ndarray:
    """Copy ``x`` to a NumPy array in host memory (no copy if it already is one)."""
    if type(x).__module__.startswith("cupy"):
        return x.get()
    return np.asarray(x)


def to_device(x, dtype=None):
    """Put ``x`` on the active backend's device, optionally casting its dtype."""
    xp = _ensure()
    return xp.asarray(x, dtype=dtype)


def default_rng(seed=None):
    """A seeded random Generator on the active backend.

    NumPy: ``numpy.random.default_rng`` (PCG64). CuPy: ``cupy.random.default_rng``
    (XORWOW). The two streams differ: the same seed gives the same numbers on
    the same backend, not across backends.
    """
    return _ensure().random.default_rng(seed)


def device_generator(rng, who):
    """The random generator of something that draws on the device (a Dropout's masks):
    a seed or None gives ``default_rng(rng)``; a generator is kept as given, unless it is
    NumPy's while the backend is CuPy (its draws would be host arrays, refused at the first
    device input): then a TypeError naming ``who`` says what to pass instead."""
    if not hasattr(rng, "random"):
        return default_rng(rng)
    if name() == "cupy" and isinstance(rng, (np.random.Generator, np.random.RandomState)):
        raise TypeError(f"{who}: rng is a NumPy generator but the backend is CuPy (its masks would be "
                        "host arrays); pass an integer seed, or minigan.backend.default_rng(seed)")
    return rng


def derived_rng(seed, iteration, key):
    """A generator on the active backend seeded from a run's (seed, iteration) and a name:
    for a generator whose state cannot be read or copied (CuPy's), reproducible from the
    run's own numbers. ``seed`` None counts as 0."""
    entropy = [0 if seed is None else int(seed), int(iteration), zlib.crc32(str(key).encode())]
    return default_rng(int(np.random.SeedSequence(entropy).generate_state(1)[0]))


def copy_generator(gen, seed, iteration, key):
    """A generator for a copy of a run. NumPy's is copied exactly (the copy draws what
    ``gen`` would have drawn); CuPy's can be neither copied nor read (its BitGenerator
    holds a lock), so the copy gets ``derived_rng(seed, iteration, key)``: its own stream."""
    if isinstance(gen, np.random.Generator):
        return copy.deepcopy(gen)
    return derived_rng(seed, iteration, key)


def num_threads() -> int:
    """CPU threads minigan uses for its own elementwise work (the optimizer's
    update): ``MINIGAN_NUM_THREADS``, default 1.

    One by default because a second thread did not pay on the 2-core machine
    this was measured on (the whole MNIST iteration was slower with the update
    on two threads, with BLAS on one thread or on two; see benchmarks/RESULTS.md,
    "Threads"): the update is limited by memory bandwidth, not by the core. Try
    it on a machine with more cores.
    """
    value = os.environ.get("MINIGAN_NUM_THREADS", "").strip()
    if not value:
        return 1
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"MINIGAN_NUM_THREADS must be a positive integer, got {value!r}") from None
    if n < 1:
        raise ValueError(f"MINIGAN_NUM_THREADS must be a positive integer, got {value!r}")
    return n
