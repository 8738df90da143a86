"""A stand-in for CuPy on machines without a GPU: NumPy underneath, CuPy's rules on top.

CI never has a GPU, so without this the CuPy backend would only ever run where a
session is lent one. ``install(monkeypatch)`` puts a module named ``cupy`` into
``sys.modules`` whose arrays compute with NumPy but keep the rules a real GPU
enforces, the ones host-side code breaks:

* a device array never turns into a NumPy array by itself: ``np.asarray(x)``,
  ``np.array(x)``, matplotlib, ``json`` all fail (``__array__`` raises
  ``TypeError`` with CuPy's own message); ``x.get()``, ``cupy.asnumpy(x)`` copy;
* host and device arrays do not mix: ``device + host``, ``cupy.exp(host)`` and
  ``np.exp(device, out=host)`` raise ``TypeError`` (CuPy: "Unsupported type");
* ``device[basic index] = host array`` raises ValueError, as CuPy's fill-based
  assignment does (an array or list index copies the host value over, as in CuPy);
* a CuPy ``Generator`` cannot be deep-copied or pickled (its BitGenerator holds a
  lock) and has no readable state;
* a device array is not a ``numpy.ndarray`` (``isinstance`` is False) and its
  type lives in the ``cupy`` module, which is how ``minigan.backend.array_module``
  tells the two apart;
* reductions and element indexing give 0-d device arrays, not NumPy scalars;
* ``cupy.random.default_rng(seed)`` has only the methods CuPy's ``Generator``
  has (``random``, ``uniform``, ``integers``, ``standard_normal``, ...: no
  ``permutation``, ``choice``, ``shuffle`` or ``normal``), with CuPy's ``dtype``
  arguments.

NumPy functions applied to device arrays dispatch to the same NumPy function
on the device data (CuPy's ``__array_function__`` does the same with its own
functions), so this is more lenient than CuPy where CuPy lacks a function. Also
more lenient: ``flags`` is NumPy's, repeated indices in an assignment keep the
last value (undefined in CuPy). A read-only audit against CuPy's source
(2026-11-23) found nothing minigan uses that this refuses and CuPy accepts.
Speed and the XORWOW stream are not emulated: the numbers are NumPy's.
"""
from __future__ import annotations

import os
import sys
import threading
import types

import numpy as np

_HOST_MSG = ("Implicit conversion to a NumPy array is not allowed. "
             "Please use `.get()` to construct a NumPy array explicitly.")


def _host_refused(x):
    return TypeError(f"Unsupported type {type(x)} (a host array in a device operation)")


def _in(x):
    """Device arrays to their data; a host array anywhere is refused."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray):
        raise _host_refused(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_in(v) for v in x)
    if isinstance(x, dict):
        return {k: _in(v) for k, v in x.items()}
    return x


def _index(key):
    """Indices may be device arrays, host arrays (CuPy copies them over) or slices."""
    if isinstance(key, ndarray):
        return key._a
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    return key


def _advanced(key):
    """True when an index holds an array or a list (advanced indexing)."""
    keys = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, (ndarray, np.ndarray, list)) for k in keys)


def _out(r):
    if isinstance(r, np.ndarray):
        return ndarray(r)
    if isinstance(r, np.generic):
        return ndarray(np.asarray(r))
    if isinstance(r, tuple):
        return tuple(_out(v) for v in r)
    if isinstance(r, list):
        return [_out(v) for v in r]
    return r


class ndarray:
    """A device array: NumPy data, CuPy's rules."""

    __slots__ = ("_a",)
    __array_priority__ = 100
    __hash__ = None

    def __init__(self, data):
        assert isinstance(data, np.ndarray)
        self._a = data

    # -- what CuPy arrays have ------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T))
    real = property(lambda self: ndarray(self._a.real))

    def get(self):
        """A host copy (``numpy.ndarray``)."""
        return self._a.copy()

    def __getattr__(self, name):
        # methods (sum, mean, max, reshape, astype, copy, fill, ravel, argmax, ...)
        if name == "_a" or name.startswith("__"):     # no __array_interface__ & co.: no way to the host
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if not callable(attr):
            return _out(attr)

        def method(*args, **kwargs):
            return _out(attr(*_in(args), **_in(kwargs)))
        return method

    def __array__(self, dtype=None, copy=None):
        raise TypeError(_HOST_MSG)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.pop("out", None)
        kwargs = _in(kwargs)
        if out is not None:
            kwargs["out"] = tuple(_in(o) for o in out)
        result = getattr(ufunc, method)(*_in(inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _out(result)

    def __array_function__(self, func, types_, args, kwargs):
        if func.__name__ in ("save", "savez", "savez_compressed"):   # CuPy's copy to the host
            args = tuple(a.get() if isinstance(a, ndarray) else a for a in args)
            kwargs = {k: v.get() if isinstance(v, ndarray) else v for k, v in kwargs.items()}
            return func(*args, **kwargs)
        return _out(func(*_in(args), **_in(kwargs)))

    # -- Python protocols ------------------------------------------------------
    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_out(v) for v in self._a)

    def __getitem__(self, key):
        return _out(self._a[_index(key)])

    def __setitem__(self, key, value):
        if isinstance(value, np.ndarray) and value.ndim > 0 and not _advanced(key):
            # CuPy: a basic index with a host value goes through fill(), which refuses arrays
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        self._a[_index(key)] = value._a if isinstance(value, ndarray) else value

    def set(self, arr):
        """Copy a host array of the same shape into this device array (CuPy's ``set``)."""
        if not isinstance(arr, np.ndarray) or arr.shape != self.shape:
            raise ValueError("set() needs a numpy.ndarray of the same shape")
        self._a[...] = arr

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __complex__(self):
        return complex(self._a)

    def __format__(self, spec):
        return format(self._a, spec)

    def __repr__(self):
        return "fakecupy." + repr(self._a)

    def __str__(self):
        return str(self._a)

    def __copy__(self):
        return ndarray(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray(self._a.copy())

    def __reduce__(self):                    # CuPy pickles through the host
        return (asarray, (self._a.copy(),))


def _binary(name):
    def op(self, other):
        result = getattr(self._a, name)(_in(other))
        return result if result is NotImplemented else _out(result)
    op.__name__ = name
    return op


def _inplace(name):
    def op(self, other):
        getattr(self._a, name)(_in(other))
        return self
    op.__name__ = name
    return op


def _unary(name):
    def op(self):
        return _out(getattr(self._a, name)())
    op.__name__ = name
    return op


for _n in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
           "lshift", "rshift"):
    setattr(ndarray, f"__{_n}__", _binary(f"__{_n}__"))
    setattr(ndarray, f"__r{_n}__", _binary(f"__r{_n}__"))
    setattr(ndarray, f"__i{_n}__", _inplace(f"__i{_n}__"))
for _n in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(ndarray, f"__{_n}__", _binary(f"__{_n}__"))
for _n in ("neg", "pos", "abs", "invert"):
    setattr(ndarray, f"__{_n}__", _unary(f"__{_n}__"))
ndarray.__module__ = "cupy"


class _XORWOW:
    """CuPy's BitGenerator as far as callers can see it: a lock (so that, as in CuPy, the
    generator cannot be deep-copied or pickled) and ``state()``, a method giving a device
    pointer, not NumPy's readable ``state`` dict."""

    def __init__(self):
        self.lock = threading.Lock()

    def state(self):
        return id(self)


class Generator:
    """CuPy's ``Generator``: the methods it has, with its ``dtype`` arguments."""

    def __init__(self, seed=None):
        self._g = np.random.default_rng(seed)
        self.bit_generator = _XORWOW()

    def random(self, size=None, dtype=np.float64, out=None):
        return self._fill(self._g.random(size, dtype=np.dtype(dtype).type), out)

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        return self._fill(self._g.standard_normal(size, dtype=np.dtype(dtype).type), out)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=np.float64):
        return ndarray(np.asarray(self._g.uniform(low, high, size)).astype(dtype))

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return ndarray(np.asarray(self._g.integers(low, high, size, dtype=dtype, endpoint=endpoint)))

    def standard_exponential(self, size=None, dtype=np.float64):
        return ndarray(np.asarray(self._g.standard_exponential(size)).astype(dtype))

    @staticmethod
    def _fill(values, out):
        values = np.asarray(values)
        if out is None:
            return ndarray(values)
        out._a[...] = values
        return out


def _function(name, fn):
    def device_function(*args, **kwargs):
        return _out(fn(*_in(args), **_in(kwargs)))
    device_function.__name__ = name
    return device_function


class _Ufunc:
    def __init__(self, uf):
        self._uf = uf
        self.__name__ = uf.__name__

    def __call__(self, *args, **kwargs):
        out = kwargs.pop("out", None)
        if out is not None:
            outs = out if isinstance(out, tuple) else (out,)
            self._uf(*_in(args), out=tuple(_in(o) for o in outs), **_in(kwargs))
            return out
        return _out(self._uf(*_in(args), **_in(kwargs)))

    def __getattr__(self, name):             # reduce, accumulate, outer, ...
        return _function(name, getattr(self._uf, name))


def asarray(a, dtype=None, order=None):
    """Host or device data onto the device (a copy from the host, as a transfer is)."""
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == np.dtype(dtype) else ndarray(a._a.astype(dtype))
    return ndarray(np.array(a, dtype=dtype, order=order or "K", copy=True))


def array(a, dtype=None, copy=True, order="K"):
    if isinstance(a, ndarray):
        return ndarray(np.array(a._a, dtype=dtype, copy=True, order=order))
    return ndarray(np.array(a, dtype=dtype, copy=True, order=order))


def asnumpy(a):
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


def get_array_module(*args):
    return sys.modules["cupy"] if any(isinstance(a, ndarray) for a in args) else np


def make_module(device_count=1):
    """The fake ``cupy`` module."""
    mod = types.ModuleType("cupy")
    mod.__doc__ = __doc__
    mod.stand_in = os.path.abspath(__file__)   # what python_command() looks for; real CuPy has no such name
    mod.ndarray = ndarray
    mod.asarray, mod.array, mod.asnumpy, mod.get_array_module = asarray, array, asnumpy, get_array_module
    mod.random = types.SimpleNamespace(default_rng=Generator, Generator=Generator)
    mod.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=lambda: device_count),
        Device=lambda i=0: types.SimpleNamespace(synchronize=lambda: None, id=i),
        get_current_stream=lambda: types.SimpleNamespace(synchronize=lambda: None))

    def __getattr__(name):                   # cupy.zeros, cupy.exp, cupy.float32, cupy.newaxis, ...
        obj = getattr(np, name)
        if isinstance(obj, np.ufunc):
            return _Ufunc(obj)
        if callable(obj) and not isinstance(obj, type):
            return _function(name, obj)
        return obj
    mod.__getattr__ = __getattr__
    return mod


def python_command():
    """``[python]`` that starts a Python with the ``cupy`` this one has: ``[python,
    tests/fakecupy.py]`` while the stand-in is installed, so that a test's subprocess
    sees the same backend as the test (MINIGAN_BACKEND is inherited)."""
    stand_in = getattr(sys.modules.get("cupy"), "stand_in", None)
    return [sys.executable] + ([stand_in] if stand_in else [])


def install(monkeypatch, device_count=1):
    """Make ``import cupy`` give the fake for the rest of the test (monkeypatch undoes it)."""
    mod = make_module(device_count)
    monkeypatch.setitem(sys.modules, "cupy", mod)
    return mod


if __name__ == "__main__":
    # python tests/fakecupy.py SCRIPT [ARGS...]   or   python tests/fakecupy.py -m MODULE [ARGS...]:
    # run it with the fake as its ``cupy`` (set MINIGAN_BACKEND=cupy to make minigan use it), e.g. a
    # lesson, or the whole suite (-m pytest) as on a GPU. Subprocesses it starts get no fake.
    import runpy

    sys.modules["cupy"] = make_module()
    if sys.argv[1:2] == ["-m"]:
        sys.argv = sys.argv[2:]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")
