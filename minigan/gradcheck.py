"""Gradient checking: every hand-written derivative against central differences.

The idea (CS231n, "Deep Learning from Scratch" ch. 5): pick a scalar function
of the layer's output, compute its gradient with ``backward`` (the *analytic*
gradient a) and by perturbing one number at a time (the *numeric* gradient n),

    n_i = [L(theta + eps e_i) - L(theta - eps e_i)] / (2 eps),

and compare. How this module makes the comparison mean something:

* **float64.** The layer is deep-copied and cast with ``.astype(float64)``;
  the input is cast too. In float32 the rounding error of L(theta +- eps)
  divided by 2 eps swamps the difference being measured.
* **A random upstream gradient.** The scalar is L = sum(y * R) with R drawn
  from N(0, 1) (seeded), so dL/dy = R. With R = 1 a backward that, say, forgot
  a transpose or mixed up two output columns could still pass.
* **Relative error**, per quantity (the input, each parameter)::

      rel = max_i |a_i - n_i| / max( max_i (|a_i| + |n_i|), tiny )

  (the max-norm version of |a - n| / (|a| + |n|)); ``tiny`` only avoids 0/0,
  so a gradient that is exactly zero passes only if the numeric one is too.
  The table also shows max_i |a_i - n_i|. Default threshold 1e-6 (a correct
  float64 backward gives about 1e-9 or less; a wrong one about 1e-1 or more).
* **The noise floor of central differences.** L(theta +- eps) each carry a
  rounding error of about u |L| (u = 1.1e-16), so n_i is only good to about
  u |L| / eps (1e-10 for |L| ~ 1, eps = 1e-6). Where the gradient itself is
  that small -- a saturated sigmoid, say -- the relative error measures the
  noise, not the backward. A quantity whose max |a - n| is within
  ``NOISE_FACTOR * u * max(|L|, 1) / eps`` (1.1e-9 for |L| ~ 1, NOISE_FACTOR = 10) passes, with
  a note saying so; a wrong backward on gradients of ordinary size is off by
  far more than that.
* **Dropout masks frozen.** Every Dropout found in the model (through the
  ``.layers`` of Sequentials) gets a ``fixed_mask`` for the duration of the check, so all
  forwards -- analytic and numeric -- drop the same units; the previous
  ``fixed_mask`` is restored afterwards. Masks are drawn from the check's own
  seeded generator.
* **Kinks handled honestly.** ReLU / LeakyReLU are not differentiable at 0
  and Maxout is not differentiable where its top two pieces tie; a central
  difference straddling a kink measures an average of two slopes. Before
  checking, every input row is pushed through the (masked) model and its
  *kink margin* is measured: the smallest |pre-activation| at every ReLU /
  LeakyReLU and the smallest gap between the top two pieces at every Maxout.
  Entries that are exactly 0 and stay 0 when the input moves (a unit a Dropout
  mask dropped, say) are not kinks: nothing reaches them, either way. Rows
  with a margin below ``kink_delta`` (default 1000 * eps) are re-drawn;
  rows still at a kink after ``max_redraws`` tries are dropped. The numbers of
  rows moved and dropped ("skipped") are reported in every table -- never
  silently. Rows are independent in every layer here, so moving a row does not
  change what the others test.
* **Composites with a forward of their own** (a Sequential subclass that, say,
  passes a label around its layers) are walked as one piece: their inner
  kinks are not searched (a note says so), and a Dropout inside one that would
  draw a mask is refused with an error (set its ``fixed_mask``, or use eval mode).
* **No cache pollution.** The numeric forwards run inside ``layers.no_grad()``
  so they push nothing onto the layers' cache stacks; afterwards the check
  verifies that no pending cache was left behind.

Public entry points::

    check_layer(layer, x)              # any object with forward/backward/params/grads
    check_function(forward, backward, x, params, grads)     # bare functions
    check_loss(loss_fn, *logits)       # (value, grad_1, grad_2, ...) = loss_fn(*logits)
    check_generator_step(G, D, z)      # G's gradient through a frozen D
    check_two_forwards(D, x_real, x_fake)   # D used twice before one backward
    format_results(results)            # the tables, as text

and ``python -m minigan gradcheck [--eps E] [--tol T] [--seed S]`` runs all
of them on every layer and loss of the package.
"""
from __future__ import annotations

import contextlib
import copy
import sys
from dataclasses import dataclass, field

import numpy as np

from . import backend, layers, losses
from .layers import Dropout, LeakyReLU, Maxout, ReLU, no_grad

__all__ = [
    "GradcheckRow", "GradcheckResult", "relative_error", "numeric_gradient",
    "random_projection", "check_function", "check_layer", "check_loss",
    "check_generator_step", "check_two_forwards", "frozen_dropout",
    "format_results", "all_checks", "main", "DEFAULT_EPS", "DEFAULT_TOL",
]

DEFAULT_EPS = 1e-6
DEFAULT_TOL = 1e-6
_TINY = np.finfo(np.float64).tiny
NOISE_FACTOR = 10.0         # the noise floor: NOISE_FACTOR * u * max(|L|, 1) / eps


# ---------------------------------------------------------------------------- results
@dataclass
class GradcheckRow:
    """One checked quantity: the input or one parameter.

    ``rel_error`` is the relative error defined in the module docstring,
    ``abs_error`` = max |a - n|. For a non-gradient assertion (e.g. "D's grads
    stayed zero") ``rel_error`` holds the measured value and ``kind`` says so.
    """
    name: str
    shape: tuple
    rel_error: float
    abs_error: float
    passed: bool
    kinks_moved: int = 0
    kinks_skipped: int = 0
    kind: str = "gradient"


@dataclass
class GradcheckResult:
    """Rows of one check, with its settings and anything worth knowing."""
    title: str
    rows: list = field(default_factory=list)
    eps: float = DEFAULT_EPS
    tol: float = DEFAULT_TOL
    kinks_moved: int = 0      # input rows re-drawn away from a kink
    kinks_skipped: int = 0    # input rows dropped because no kink-free re-draw was found
    notes: list = field(default_factory=list)
    failed_notes: list = field(default_factory=list)   # problems that fail the check

    @property
    def passed(self) -> bool:
        return bool(self.rows) and not self.failed_notes and all(r.passed for r in self.rows)

    @property
    def max_rel_error(self) -> float:
        errs = [r.rel_error for r in self.rows if r.kind == "gradient"]
        return max(errs) if errs else float("nan")

    def table(self) -> str:
        return format_results([self])

    def __str__(self):
        return self.table()


def format_results(results) -> str:
    """Readable tables, one per result, then a summary line."""
    if isinstance(results, GradcheckResult):
        results = [results]
    out = []
    for res in results:
        status = "PASS" if res.passed else "FAIL"
        out.append(f"{status}  {res.title}")
        out.append(f"      eps {res.eps:g}, tol {res.tol:g}, float64; kink rows moved "
                   f"{res.kinks_moved}, skipped {res.kinks_skipped}")
        w = max([9] + [len(r.name) for r in res.rows])
        out.append(f"      {'quantity':<{w}}  {'shape':<12} {'rel. error':>10}  "
                   f"{'max |a-n|':>10}  {'kinks mv/sk':>11}  ok")
        for r in res.rows:
            if r.kind == "gradient":
                rel, ab = f"{r.rel_error:10.2e}", f"{r.abs_error:10.2e}"
            else:
                rel, ab = f"{r.rel_error:10.2e}", f"{r.kind:>10}"
            kinks = f"{r.kinks_moved}/{r.kinks_skipped}"
            out.append(f"      {r.name:<{w}}  {str(tuple(r.shape)):<12} {rel}  {ab}  "
                       f"{kinks:>11}  {'yes' if r.passed else 'NO'}")
        for note in res.failed_notes:
            out.append(f"      ERROR: {note}")
        for note in res.notes:
            out.append(f"      note: {note}")
        out.append("")
    n_fail = sum(not r.passed for r in results)
    out.append(f"{len(results)} checks, {len(results) - n_fail} passed, {n_fail} failed")
    return "\n".join(out)


# ---------------------------------------------------------------------------- helpers
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


def _is_chain(module):
    """True when ``module``'s forward feeds each of its ``.layers`` into the next
    (a Sequential, or G then D); a composite with a forward of its own (say, one
    that passes a label around its layers) is walked as one leaf."""
    if not isinstance(getattr(module, "layers", None), (list, tuple)):
        return False
    return isinstance(module, _Chain) or type(module).forward is layers.Sequential.forward


def _walk(module, x, visit):
    """Forward ``x`` through ``module`` leaf by leaf (into the ``.layers`` of
    chains), calling ``visit(leaf, x_in)`` before each leaf's forward; no caches kept."""
    if _is_chain(module):
        for sub in module.layers:
            x = _walk(sub, x, visit)
        return x
    visit(module, x)
    with no_grad():
        return module.forward(x)


def _dropouts(module):
    subs = getattr(module, "layers", None)
    if isinstance(subs, (list, tuple)):
        return [d for s in subs for d in _dropouts(s)]
    return [module] if isinstance(module, Dropout) else []


def _pending_caches(module):
    subs = getattr(module, "layers", None)
    if isinstance(subs, (list, tuple)):
        return sum(_pending_caches(s) for s in subs)
    return len(getattr(module, "_cache", ()))


def _draws(d):
    """True when Dropout ``d`` would draw a fresh mask on its next forward."""
    return d.training and not (d.keep == 1 and d.scale == 1) and d.fixed_mask is None


def _opaque(module):
    """Names of the composites in ``module`` walked as one piece (their forward is not a chain
    of their .layers) that hold ReLU / LeakyReLU / Maxout: their kinks are not searched."""
    if _is_chain(module):
        return [n for sub in module.layers for n in _opaque(sub)]
    if isinstance(getattr(module, "layers", None), (list, tuple)) and any(
            isinstance(leaf, (ReLU, LeakyReLU, Maxout)) for _, leaf in layers.walk_layers(module)):
        return [type(module).__name__]
    return []


def _opaque_note(res, module):
    for name in _opaque(module):
        res.notes.append(f"{name}: its forward is not a chain of its .layers, so rows near the kinks of "
                         "its ReLU/Maxout layers were not moved away (a failure there may be a kink)")


def _draw_masks(module, x, rng):
    """A fixed keep-mask for every active Dropout, drawn for input ``x``.

    Returns [(dropout, mask)] in forward order; a Dropout whose user-set
    ``fixed_mask`` already fits is kept as it is.
    """
    masks = []

    def visit(leaf, x_in):
        if isinstance(leaf, Dropout) and leaf.training and not (leaf.keep == 1 and leaf.scale == 1):
            if leaf.fixed_mask is not None and tuple(leaf.fixed_mask.shape) == tuple(x_in.shape):
                mask = leaf.fixed_mask
            else:
                mask = _xp(x_in).asarray(rng.random(x_in.shape) < leaf.keep)
            leaf.fixed_mask = mask
            masks.append((leaf, mask))
        elif not isinstance(leaf, Dropout) and any(_draws(d) for d in _dropouts(leaf)):
            raise ValueError(f"gradcheck cannot freeze the Dropout masks inside {type(leaf).__name__}: "
                             "its forward is not a chain of its .layers, so their inputs are unknown; "
                             "set each one's fixed_mask yourself, or check it in eval mode")
    _walk(module, x, visit)
    return masks


@contextlib.contextmanager
def frozen_dropout(model, x, seed=0):
    """Inside this block every active Dropout of ``model`` (found through
    ``.layers``) uses one fixed mask drawn for input ``x``; each Dropout's
    previous ``fixed_mask`` is put back afterwards, even on an exception.
    Yields the list of (dropout, mask)::

        with frozen_dropout(D, x):
            ...   # D.forward(x) gives the same output every time
    """
    saved = [(d, d.fixed_mask) for d in _dropouts(model)]
    try:
        yield _draw_masks(model, x, np.random.default_rng(seed))
    finally:
        for d, m in saved:
            d.fixed_mask = m


def _apply_masks(masks):
    for d, m in masks:
        d.fixed_mask = m


def _leaf_inputs(module, x):
    """[(leaf, its input as a float64 host (n, -1) array)] for every leaf of ``module``."""
    seen = []
    _walk(module, x, lambda leaf, x_in: seen.append(
        (leaf, np.asarray(backend.to_host(x_in), dtype=np.float64).reshape(len(x_in), -1))))
    return seen


def _kink_margins(module, x):
    """Per row: the distance to the nearest kink of any ReLU/LeakyReLU/Maxout.

    A ReLU/LeakyReLU input that is exactly 0 both at ``x`` and with ``x`` and
    every parameter slightly moved (a unit a Dropout mask dropped after the
    layer feeding it) is not counted: nothing the check perturbs moves it.
    One that only the input cannot move (a zero bias behind a dropped-out
    row) is still a kink for that bias, and counted.
    """
    margin = np.full(x.shape[0], np.inf)
    host = np.asarray(backend.to_host(x), dtype=np.float64)
    rng = np.random.default_rng(12345)
    moved = _xp(x).asarray(host + rng.standard_normal(host.shape) * 1e-3 * (np.abs(host).max() or 1.0),
                           dtype=x.dtype)
    at_x = _leaf_inputs(module, x)
    params = [p for leaf, _ in at_x for p in getattr(leaf, "params", {}).values()]
    saved = [p.copy() for p in params]
    try:
        for p in params:
            host_p = np.asarray(backend.to_host(p), dtype=np.float64)
            p += _xp(p).asarray(rng.standard_normal(p.shape) * 1e-3 * (np.abs(host_p).max() or 1.0),
                                dtype=p.dtype)
        at_moved = _leaf_inputs(module, moved)
    finally:
        for p, keep in zip(params, saved):
            p[...] = keep                                # restored exactly
    for (leaf, h), (_, h_moved) in zip(at_x, at_moved):
        if isinstance(leaf, (ReLU, LeakyReLU)) and h.shape[1]:
            dist = np.abs(h)
            dist[(h == 0) & (h_moved == 0)] = np.inf
            margin = np.minimum(margin, dist.min(axis=1))
        elif isinstance(leaf, Maxout) and leaf.pieces > 1:
            W = np.asarray(backend.to_host(leaf.params["W"]), dtype=np.float64)
            b = np.asarray(backend.to_host(leaf.params["b"]), dtype=np.float64)
            z = np.sort((h @ W + b).reshape(len(h), leaf.units, leaf.pieces), axis=2)
            margin = np.minimum(margin, (z[:, :, -1] - z[:, :, -2]).min(axis=1))
    return margin


def _nothing_checked(title, eps, tol, moved, skipped, delta):
    """A failed result: every input row stayed within ``delta`` of a kink."""
    res = GradcheckResult(title, eps=eps, tol=tol, kinks_moved=moved, kinks_skipped=skipped)
    res.failed_notes.append(f"every input row sits at a kink (within kink_delta = {delta:g} of one); "
                            "nothing could be checked")
    return res


def _away_from_kinks(module, x, masks, rng, delta, max_redraws):
    """Re-draw rows of ``x`` that sit within ``delta`` of a kink; drop the rows
    that still do after ``max_redraws`` tries. Returns (x, masks, moved, skipped)."""
    xp = _xp(x)
    host = np.array(backend.to_host(x), dtype=np.float64)
    mu, sd = float(host.mean()), float(host.std()) or 1.0
    moved = np.zeros(len(host), dtype=bool)
    bad = np.zeros(len(host), dtype=bool)
    for attempt in range(max_redraws + 1):
        _apply_masks(masks)
        bad = _kink_margins(module, xp.asarray(host)) < delta
        if not bad.any() or attempt == max_redraws:
            break
        host[bad] = rng.normal(mu, sd, size=(int(bad.sum()),) + host.shape[1:])
        moved |= bad
    keep = ~bad
    if bad.any():
        idx = np.flatnonzero(keep)
        masks = [(d, m[xp.asarray(idx)]) for d, m in masks]
        host = host[keep]
    return xp.asarray(host), masks, int((moved & keep).sum()), int(bad.sum())


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
    ``zero_grad()`` is called first if given, otherwise grads are filled with 0.
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
    else:
        for g in grads.values():
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


def _float64_copy(module):
    # the copy shares the Dropout layers' generators with the original: a CuPy Generator
    # cannot be deep-copied, and the check freezes every mask, so the copy never draws
    memo = {id(d.rng): d.rng for d in _dropouts(module)}
    model = copy.deepcopy(module, memo)
    if hasattr(model, "astype"):
        model.astype(np.float64)
    return model


def _default_input(module, batch, rng):
    leaf = module
    while isinstance(getattr(leaf, "layers", None), (list, tuple)) and leaf.layers:
        leaf = leaf.layers[0]
    n_in = getattr(leaf, "n_in", 5)
    return backend.to_device(rng.standard_normal((batch, n_in)))


def check_layer(layer, x=None, *, eps=DEFAULT_EPS, tol=DEFAULT_TOL, seed=0, batch=4,
                kink_delta=None, max_redraws=20, title=None) -> GradcheckResult:
    """Gradient-check any object with ``forward``/``backward``/``params``/``grads``.

    The object is deep-copied and cast to float64 (``.astype`` if it has one;
    otherwise its parameters must already be float64), so the caller's layer,
    its gradients and its Dropout masks are left untouched. Dropout masks are
    frozen, rows near kinks are moved or skipped (see the module docstring).
    ``x`` defaults to N(0, 1) of shape (batch, n_in).
    """
    rng = np.random.default_rng(seed)
    model = _float64_copy(layer)
    x = _default_input(model, batch, rng) if x is None else _to64(x)
    delta = 1e3 * eps if kink_delta is None else kink_delta
    title = title or " ".join(repr(layer).split())
    before = _pending_caches(model)
    saved = [(d, d.fixed_mask) for d in _dropouts(model)]
    try:
        masks = _draw_masks(model, x, rng)
        x, masks, moved, skipped = _away_from_kinks(model, x, masks, rng, delta, max_redraws)
        _apply_masks(masks)
        if len(x) == 0:
            return _nothing_checked(title, eps, tol, moved, skipped, delta)
        res = check_function(model.forward, model.backward, x, model.params, model.grads,
                             zero_grad=getattr(model, "zero_grad", None), eps=eps, tol=tol,
                             seed=seed, title=title, kinks=(moved, skipped))
    finally:
        for d, m in saved:
            d.fixed_mask = m
    if masks:
        res.notes.append(f"{len(masks)} Dropout mask(s) frozen for the check")
    _opaque_note(res, model)
    left = _pending_caches(model) - before
    if left:
        res.failed_notes.append(f"{left} cache(s) left pending: a backward did not pop its forward's cache")
    return res


def check_loss(loss_fn, *logits, eps=DEFAULT_EPS, tol=DEFAULT_TOL, title=None,
               names=None, **kwargs) -> GradcheckResult:
    """Check a loss ``loss_fn(*logits, **kwargs) -> (value, dvalue/dlogits_1, ...)``.

    The loss is itself the scalar checked (its upstream gradient is 1 by
    definition); the logits are cast to float64. Losses here are smooth, so
    there are no kinks to avoid.
    """
    xs = tuple(_to64(a) for a in logits)
    out = loss_fn(*xs, **kwargs)
    if not isinstance(out, tuple) or len(out) != len(xs) + 1:
        raise ValueError(f"check_loss: {getattr(loss_fn, '__name__', loss_fn)} should return "
                         f"(value, one gradient per input) = {len(xs) + 1} items")
    grads = out[1:]
    names = names or (["logits"] if len(xs) == 1 else [f"logits[{i}]" for i in range(len(xs))])
    extra = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    title = title or f"{getattr(loss_fn, '__name__', 'loss')}({extra})"
    return check_function(lambda *a: loss_fn(*a, **kwargs)[0], lambda _: grads, xs,
                          objective=lambda v: (float(v), None), eps=eps, tol=tol,
                          title=title, input_names=names)


class _Chain:
    """G then D, for walking both (Dropout masks, kink margins)."""

    def __init__(self, *parts):
        self.layers = list(parts)


def check_generator_step(G, D, z, *, g_loss="nonsaturating", eps=DEFAULT_EPS,
                         tol=DEFAULT_TOL, seed=0, kink_delta=None, max_redraws=20,
                         title=None) -> GradcheckResult:
    """The G step: G's parameter gradients of g_loss(D(G(z))), backpropagated
    through D with ``D.requires_grad = False`` (D is a fixed function here),
    against central differences over G's parameters and z.

    Also asserts that D's gradients stay exactly zero (a frozen D must not
    accumulate anything) -- the row "D.grads (frozen)".
    """
    loss_fn = losses.GENERATOR_LOSSES[g_loss] if isinstance(g_loss, str) else g_loss
    rng = np.random.default_rng(seed)
    Gc, Dc = _float64_copy(G), _float64_copy(D)
    chain = _Chain(Gc, Dc)
    z = _default_input(Gc, 4, rng) if z is None else _to64(z)
    delta = 1e3 * eps if kink_delta is None else kink_delta
    name = g_loss if isinstance(g_loss, str) else getattr(g_loss, "__name__", "loss")
    title = title or f"G step ({name}): G params through frozen D"
    saved = [(d, d.fixed_mask) for d in _dropouts(chain)]
    try:
        masks = _draw_masks(chain, z, rng)
        z, masks, moved, skipped = _away_from_kinks(chain, z, masks, rng, delta, max_redraws)
        if len(z) == 0:
            return _nothing_checked(title, eps, tol, moved, skipped, delta)
        _apply_masks(masks)

        def forward(zz):
            return Dc.forward(Gc.forward(zz))

        def backward(grad_logits):
            Dc.requires_grad = False
            try:
                grad_fake = Dc.backward(grad_logits)
            finally:
                Dc.requires_grad = True
            return Gc.backward(grad_fake)

        Dc.zero_grad()
        res = check_function(forward, backward, z, Gc.params, Gc.grads, zero_grad=Gc.zero_grad,
                             objective=lambda a: (lambda v, g: (float(v), g))(*loss_fn(a)),
                             eps=eps, tol=tol, seed=seed, title=title, input_names=["z"],
                             kinks=(moved, skipped))
    finally:
        for d, m in saved:
            d.fixed_mask = m
    d_max = max((float(np.abs(backend.to_host(g)).max()) for g in Dc.grads.values() if g.size),
                default=0.0)
    n_entries = sum(int(g.size) for g in Dc.grads.values())
    res.rows.append(GradcheckRow("D.grads (frozen)", (n_entries,), d_max, d_max, d_max == 0.0,
                                 moved, skipped, kind="max |g|"))
    if masks:
        res.notes.append(f"{len(masks)} Dropout mask(s) frozen for the check")
    _opaque_note(res, chain)
    left = _pending_caches(chain)
    if left:
        res.failed_notes.append(f"{left} cache(s) left pending after the G step")
    return res


def check_two_forwards(D, x_real, x_fake, *, scale=1.0, real_label=1.0, eps=DEFAULT_EPS,
                       tol=DEFAULT_TOL, seed=0, kink_delta=None, max_redraws=20,
                       title=None) -> GradcheckResult:
    """D applied to the real batch, then to the fake batch, then the two
    backwards in reverse order -- the D step. The loss is
    ``discriminator_loss(D(x_real), D(x_fake), scale, real_label)`` and the real
    and fake forwards get *different* frozen Dropout masks, so a backward that
    used the wrong forward's cache would fail the check."""
    rng = np.random.default_rng(seed)
    Dc = _float64_copy(D)
    xr, xf = _to64(x_real), _to64(x_fake)
    delta = 1e3 * eps if kink_delta is None else kink_delta
    title = title or f"D used twice (real, fake) before backward; scale={scale}, real_label={real_label}"
    saved = [(d, d.fixed_mask) for d in _dropouts(Dc)]
    try:
        mr = _draw_masks(Dc, xr, rng)
        xr, mr, mv_r, sk_r = _away_from_kinks(Dc, xr, mr, rng, delta, max_redraws)
        for d, _ in mr:
            d.fixed_mask = None
        mf = _draw_masks(Dc, xf, rng)
        xf, mf, mv_f, sk_f = _away_from_kinks(Dc, xf, mf, rng, delta, max_redraws)
        if len(xr) == 0 or len(xf) == 0:
            return _nothing_checked(title, eps, tol, mv_r + mv_f, sk_r + sk_f, delta)

        def forward(a, b):
            _apply_masks(mr)
            out_r = Dc.forward(a)
            _apply_masks(mf)
            return out_r, Dc.forward(b)

        def objective(outs):
            v, gr, gf = losses.discriminator_loss(outs[0], outs[1], scale=scale, real_label=real_label)
            return float(v), (gr, gf)

        def backward(gs):
            dxf = Dc.backward(gs[1])        # last in, first out
            dxr = Dc.backward(gs[0])
            return dxr, dxf

        res = check_function(forward, backward, (xr, xf), Dc.params, Dc.grads,
                             zero_grad=Dc.zero_grad, objective=objective, eps=eps, tol=tol,
                             seed=seed, title=title, input_names=["x_real", "x_fake"],
                             kinks=(mv_r + mv_f, sk_r + sk_f))
    finally:
        for d, m in saved:
            d.fixed_mask = m
    if mr:
        res.notes.append(f"{len(mr)} Dropout layer(s), with different frozen masks for the real "
                         "and the fake forward")
    _opaque_note(res, Dc)
    left = _pending_caches(Dc)
    if left:
        res.failed_notes.append(f"{left} cache(s) left pending after both backwards")
    return res


# ---------------------------------------------------------------------------- the command
def _paper_like_D(rng, n_in=6):
    """The paper's D in miniature: dropout -> maxout -> dropout -> maxout -> dropout -> linear."""
    return layers.Sequential(
        Dropout(0.8, scale=1.25), Maxout(n_in, 4, 3, irange=0.5, rng=rng),
        Dropout(0.5, scale=2.0), Maxout(4, 3, 2, irange=0.5, rng=rng),
        Dropout(0.5, scale=2.0), layers.Linear(3, 1, irange=0.5, rng=rng))


def all_checks(eps=DEFAULT_EPS, tol=DEFAULT_TOL, seed=0):
    """Run the full suite of ``python -m minigan gradcheck``; returns the results."""
    rng = np.random.default_rng(seed)
    L = layers
    kw = dict(eps=eps, tol=tol, seed=seed)
    x = backend.to_device(rng.standard_normal((4, 5)))
    results = [
        check_layer(L.Linear(5, 3, rng=rng), x, **kw),
        check_layer(L.Linear(5, 3, irange=0.05, bias=0.3, rng=rng), x,
                    title="Linear(5, 3, irange=0.05, bias=0.3)", **kw),
        check_layer(L.ReLU(), x, **kw),
        check_layer(L.ReLU(), x * (abs(x) > 0.5), title="ReLU() on an input with exact zeros "
                    "(rows at the kink are re-drawn)", **kw),
        check_layer(L.LeakyReLU(0.2), x, **kw),
        check_layer(L.Sigmoid(), x * 3, **kw),
        check_layer(L.Tanh(), x * 2, **kw),
        check_layer(L.Maxout(5, 3, 4, rng=rng), x, **kw),
        check_layer(L.Maxout(5, 2, 1, rng=rng), x, title="Maxout(5, units=2, pieces=1) (= Linear)", **kw),
        check_layer(L.Dropout(0.5), x, title="Dropout(keep=0.5) (mask frozen)", **kw),
        check_layer(L.Dropout(0.8, scale=1.25), x, title="Dropout(keep=0.8, scale=1.25) (mask frozen)", **kw),
        check_layer(L.Sequential(L.Linear(5, 6, rng=rng), L.ReLU(), L.Linear(6, 4, rng=rng), L.Tanh(),
                                 L.Linear(4, 3, rng=rng), L.Sigmoid()), x,
                    title="Sequential: Linear-ReLU-Linear-Tanh-Linear-Sigmoid (a G)", **kw),
        check_layer(L.Sequential(L.Linear(5, 6, rng=rng), L.LeakyReLU(0.2), L.Linear(6, 1, rng=rng)), x,
                    title="Sequential: Linear-LeakyReLU-Linear (a toy D)", **kw),
        check_layer(_paper_like_D(rng, 5), x,
                    title="Sequential: paper-like D (dropout-maxout-dropout-maxout-dropout-linear)", **kw),
    ]
    # losses, from logits of shape (m,) and (m, 1)
    ar = backend.to_device(rng.standard_normal(6) * 2)
    af = backend.to_device(rng.standard_normal((5, 1)) * 2)
    lk = dict(eps=eps, tol=tol)
    results += [
        check_loss(losses.value_function, ar, af, names=["real_logits", "fake_logits"], **lk),
        check_loss(losses.discriminator_loss, ar, af, names=["real_logits", "fake_logits"], **lk),
        check_loss(losses.discriminator_loss, ar, af, scale=0.5, real_label=0.9,
                   names=["real_logits", "fake_logits"], **lk),
        check_loss(losses.bce_with_logits, ar, target=1.0, **lk),
        check_loss(losses.bce_with_logits, af, target=0.3, **lk),
        check_loss(losses.generator_loss_minimax, af, **lk),
        check_loss(losses.generator_loss_nonsaturating, ar, **lk),
    ]
    # the G step through a frozen D, and D used twice before its backward
    z = backend.to_device(rng.uniform(-1, 1, size=(4, 3)))
    G = L.Sequential(L.Linear(3, 7, rng=rng), L.ReLU(), L.Linear(7, 5, rng=rng), L.Sigmoid())
    D = _paper_like_D(rng, 5)
    for g_loss in ("minimax", "nonsaturating"):
        results.append(check_generator_step(G, D, z, g_loss=g_loss, **kw))
    x_real = backend.to_device(rng.uniform(0, 1, size=(4, 5)))
    x_fake = backend.to_device(rng.uniform(0, 1, size=(3, 5)))
    results.append(check_two_forwards(D, x_real, x_fake, **kw))
    results.append(check_two_forwards(D, x_real, x_fake, scale=0.5, real_label=0.9, **kw))
    return results


def main(argv=None) -> int:
    """``python -m minigan gradcheck``: check every layer and loss, print the tables."""
    from .cli import ArgumentParser
    parser = ArgumentParser(
        prog="minigan gradcheck",
        description="Check every hand-written derivative (layers, losses, the G step, the "
                    "two-forward D step) against float64 central differences.")
    parser.add_argument("--eps", type=float, default=DEFAULT_EPS,
                        help=f"finite-difference step (default {DEFAULT_EPS:g})")
    parser.add_argument("--tol", type=float, default=DEFAULT_TOL,
                        help=f"largest relative error that passes (default {DEFAULT_TOL:g}); a difference "
                             "within the noise floor of central differences passes too (see the module docstring)")
    parser.add_argument("--seed", type=int, default=0, help="seed for inputs, weights, masks, R (default 0)")
    try:
        args = parser.parse_args(argv)
        if not args.eps > 0 or not args.tol > 0:
            parser.error(f"--eps and --tol must be > 0, got {args.eps}, {args.tol}")
    except SystemExit as exc:                      # --help, or a usage error (one line, status 2)
        return int(exc.code or 0)
    results = all_checks(eps=args.eps, tol=args.tol, seed=args.seed)
    print(format_results(results))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
