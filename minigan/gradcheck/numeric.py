"""The numbers of a gradient check: central differences, the relative error, the
random upstream gradient, and ``check_function``, which compares a backward with
the central differences of its forward for any code (nothing here needs a
minigan layer)."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..layers import no_grad
from .results import DEFAULT_EPS, DEFAULT_TOL, GradcheckResult, GradcheckRow

__all__ = ["relative_error", "numeric_gradient", "random_projection", "check_function", "NOISE_FACTOR"]

_TINY = np.finfo(np.float64).tiny
NOISE_FACTOR = 10.0         # the noise floor: NOISE_FACTOR * u * max(|L|, 1) / eps


def _xp(a):
    return backend.array_module(a)


def _tuple(a):
    return tuple(a) if isinstance(a, (tuple, list)) else (a,)


def _to64(a):
    return _xp(a).asarray(a, dtype=np.float64)


def relative_error(analytic, numeric) -> tuple[float, float]:
    """(rel, abs): max|a-n| / max(max(|a|+|n|), tiny), and max|a-n|."""
    a = np.asarray(backend.to_host(analytic), dtype=np.float64)
    n = np.asarray(backend.to_host(numeric), dtype=np.float64)
    if a.size == 0:
        return 0.0, 0.0
    diff = float(np.max(np.abs(a - n)))
    scale = float(np.max(np.abs(a) + np.abs(n)))
    return diff / max(scale, _TINY), diff


def numeric_gradient(f, array, eps=DEFAULT_EPS):
    """Central differences of the scalar ``f()`` wrt every entry of ``array``.

    ``array`` is perturbed in place and restored exactly; ``f`` takes no
    arguments (it reads ``array`` itself). Returns a float64 host array.
    """
    grad = np.zeros(array.shape, dtype=np.float64)
    for idx in np.ndindex(*array.shape):
        orig = array[idx].item() if hasattr(array[idx], "item") else array[idx]
        array[idx] = orig + eps
        f_plus = float(f())
        array[idx] = orig - eps
        f_minus = float(f())
        array[idx] = orig
        grad[idx] = (f_plus - f_minus) / (2 * eps)
    return grad


def random_projection(outputs, seed=0):
    """Objective L = sum_k sum(y_k * R_k), R_k ~ N(0, 1) fixed: returns
    ``objective(y) -> (L, dL/dy)`` for outputs shaped like ``outputs``."""
    rng = np.random.default_rng(seed)
    single = not isinstance(outputs, (tuple, list))
    Rs = tuple(_xp(y).asarray(rng.standard_normal(y.shape)) for y in _tuple(outputs))

    def objective(y):
        ys = _tuple(y)
        value = sum(float((yk * Rk).sum()) for yk, Rk in zip(ys, Rs))
        grads = tuple(Rk.astype(yk.dtype) for yk, Rk in zip(ys, Rs))
        return value, (grads[0] if single else grads)
    return objective


# ---------------------------------------------------------------------------- core
def check_function(forward, backward, x, params=None, grads=None, *, objective=None,
                   zero_grad=None, eps=DEFAULT_EPS, tol=DEFAULT_TOL, seed=0,
                   title="function", input_names=None, kinks=(0, 0)) -> GradcheckResult:
    """Check ``backward`` against central differences of ``forward``.

    forward(*xs) -> y (array or tuple); backward(dL/dy) -> dL/dx (array or
    tuple, one per input) and *adds* dL/dtheta into ``grads[k]``, where
    ``params[k]`` are the parameter arrays forward reads (perturbed in place,
    restored). ``x``: an array or a tuple of arrays, float64. ``objective(y)
    -> (L, dL/dy)`` defaults to the random projection L = sum(y * R).
    ``zero_grad()`` is called first if given, and the arrays in ``grads`` are filled with 0.
    This works for any code, a student's included: nothing here needs minigan
    layers.
    """
    params = dict(params or {})
    grads = grads if grads is not None else {}
    xs = tuple(_tuple(x))
    names = list(input_names or (["x"] if len(xs) == 1 else [f"x[{i}]" for i in range(len(xs))]))
    res = GradcheckResult(title=title, eps=eps, tol=tol,
                          kinks_moved=kinks[0], kinks_skipped=kinks[1])
    for what, arrs in (("input", dict(zip(names, xs))), ("parameter", params)):
        for k, a in arrs.items():
            if not hasattr(a, "dtype") or a.dtype != np.float64:
                raise TypeError(f"gradcheck needs float64 arrays; {what} {k!r} has dtype "
                                f"{getattr(a, 'dtype', type(a).__name__)} (build/cast it in float64)")
    missing = [k for k in params if k not in grads]
    if missing:
        raise KeyError(f"gradcheck: grads has no entry for parameter(s) {missing}")

    # analytic: one forward with caches, one backward
    if zero_grad is not None:
        zero_grad()
    for g in grads.values():       # (arrays fetched before zero_grad() keep old values until a backward)
        g.fill(0)
    y = forward(*xs)
    if objective is None:
        objective = random_projection(y, seed)
    value, dy = objective(y)
    floor = NOISE_FACTOR * np.finfo(np.float64).eps / 2 * max(abs(float(value)), 1.0) / eps
    dx = backward(dy)
    dxs = _tuple(dx) if dx is not None else (None,) * len(xs)
    analytic_params = {k: np.array(backend.to_host(grads[k]), dtype=np.float64) for k in params}

    def loss():
        with no_grad():
            return objective(forward(*xs))[0]

    def add_row(name, a, arr, n):
        kw = dict(kinks_moved=res.kinks_moved, kinks_skipped=res.kinks_skipped)
        if a is None or tuple(np.shape(a)) != tuple(arr.shape):
            res.rows.append(GradcheckRow(name, tuple(arr.shape), float("inf"), float("inf"), False, **kw))
            res.failed_notes.append(f"{name}: backward gave "
                                    f"{'nothing' if a is None else 'shape ' + str(tuple(np.shape(a)))}, "
                                    f"expected shape {tuple(arr.shape)}")
            return
        rel, ab = relative_error(a, n)
        ok = bool(np.isfinite(rel) and rel < tol)
        if not ok and np.isfinite(ab) and ab <= floor:
            ok = True
            res.notes.append(f"{name}: rel. error {rel:.1e} is over tol, but max |a-n| = {ab:.1e} is within "
                             f"the noise floor of central differences ({floor:.1e} for |L| = "
                             f"{abs(float(value)):.3g}, eps {eps:g}): gradients this small cannot be "
                             "checked more closely")
        res.rows.append(GradcheckRow(name, tuple(arr.shape), rel, ab, ok, **kw))

    for name, xi, ai in zip(names, xs, dxs):
        add_row(name, ai, xi, numeric_gradient(loss, xi, eps))
    for k, p in params.items():
        add_row(k, analytic_params[k], p, numeric_gradient(loss, p, eps))
    return res

