"""The checks: a layer, a loss, the G step through a frozen D, D used twice before its backward.

Each one works on a float64 deep copy (the caller's model, its gradients and
its random draws are left untouched), freezes the random draws (``draws.py``),
moves input rows away from kinks (``kinks.py``), then compares with
``check_function`` (``numeric.py``) and says in its notes what it did.
"""
from __future__ import annotations

import numpy as np

from .. import backend, losses
from ..layers import frozen as held_fixed
from .draws import describe, freeze_draws, frozen_state, restore_state, unfreeze_draws
from .kinks import away_from_kinks, opaque_note
from .model import Chain, default_input, float64_copy, pending_caches
from .numeric import _to64, check_function
from .results import DEFAULT_EPS, DEFAULT_TOL, GradcheckResult, GradcheckRow, nothing_checked

__all__ = ["check_layer", "check_loss", "check_generator_step", "check_two_forwards", "check_autoencoder"]


def _draws_note(res, frozen):
    if frozen:
        res.notes.append(f"random draws of {len(frozen)} layer(s) frozen for the check ({describe(frozen)})")


def check_layer(layer, x=None, *, eps=DEFAULT_EPS, tol=DEFAULT_TOL, seed=0, batch=4,
                kink_delta=None, max_redraws=20, title=None) -> GradcheckResult:
    """Gradient-check any object with ``forward``/``backward``/``params``/``grads``.

    The object is deep-copied and cast to float64 (``.astype`` if it has one;
    otherwise its parameters must already be float64), so the caller's layer,
    its gradients and its random draws are left untouched. Random draws are
    frozen, rows near kinks are moved or skipped (the whole batch re-drawn when
    the layer couples rows; see ``minigan.gradcheck``). ``x`` defaults to N(0, 1)
    of shape (batch, n_in).
    """
    rng = np.random.default_rng(seed)
    model = float64_copy(layer)
    x = default_input(model, batch, rng) if x is None else _to64(x)
    delta = 1e3 * eps if kink_delta is None else kink_delta
    title = title or " ".join(repr(layer).split())
    before = pending_caches(model)
    frozen = freeze_draws(model, x, rng)
    try:
        x, frozen, kinks = away_from_kinks(model, x, frozen, rng, delta, max_redraws)
        if len(x) == 0:
            return nothing_checked(title, eps, tol, kinks.moved, kinks.skipped, kinks.nothing_left())
        res = check_function(model.forward, model.backward, x, model.params, model.grads,
                             zero_grad=getattr(model, "zero_grad", None), eps=eps, tol=tol,
                             seed=seed, title=title, kinks=(kinks.moved, kinks.skipped))
    finally:
        unfreeze_draws(frozen)
    _draws_note(res, frozen)
    res.notes += kinks.notes()
    opaque_note(res, model)
    left = pending_caches(model) - before
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


def check_generator_step(G, D, z, *, g_loss="nonsaturating", eps=DEFAULT_EPS,
                         tol=DEFAULT_TOL, seed=0, kink_delta=None, max_redraws=20,
                         title=None) -> GradcheckResult:
    """The G step: G's parameter gradients of g_loss(D(G(z))), backpropagated
    through D held fixed (``layers.frozen(D)``: D is a fixed function here),
    against central differences over G's parameters and z. If ``g_loss`` has a
    ``network`` attribute (feature matching: D's layers but the last), G(z) goes
    through that network instead of D, as in the trainer (``GAN._g_reads``).

    Also asserts that D's gradients stay exactly zero (a frozen D must not
    accumulate anything) -- the row "D.grads (frozen)".
    """
    loss_fn = losses.GENERATOR_LOSSES[g_loss] if isinstance(g_loss, str) else g_loss
    rng = np.random.default_rng(seed)
    D = getattr(g_loss, "network", None) or D      # what G(z) goes through, as in GAN._g_reads
    Gc, Dc = float64_copy(G), float64_copy(D)
    chain = Chain(Gc, Dc)
    z = default_input(Gc, 4, rng) if z is None else _to64(z)
    delta = 1e3 * eps if kink_delta is None else kink_delta
    name = g_loss if isinstance(g_loss, str) else getattr(g_loss, "__name__", "loss")
    title = title or f"G step ({name}): G params through frozen D"
    frozen = freeze_draws(chain, z, rng)
    try:
        z, frozen, kinks = away_from_kinks(chain, z, frozen, rng, delta, max_redraws)
        if len(z) == 0:
            return nothing_checked(title, eps, tol, kinks.moved, kinks.skipped, kinks.nothing_left())

        def forward(zz):
            return Dc.forward(Gc.forward(zz))

        def backward(grad_logits):
            with held_fixed(Dc):
                grad_fake = Dc.backward(grad_logits)
            return Gc.backward(grad_fake)

        Dc.zero_grad()
        res = check_function(forward, backward, z, Gc.params, Gc.grads, zero_grad=Gc.zero_grad,
                             objective=lambda a: (lambda v, g: (float(v), g))(*loss_fn(a)),
                             eps=eps, tol=tol, seed=seed, title=title, input_names=["z"],
                             kinks=(kinks.moved, kinks.skipped))
    finally:
        unfreeze_draws(frozen)
    d_max = max((float(np.abs(backend.to_host(g)).max()) for g in Dc.grads.values() if g.size),
                default=0.0)
    n_entries = sum(int(g.size) for g in Dc.grads.values())
    res.rows.append(GradcheckRow("D.grads (frozen)", (n_entries,), d_max, d_max, d_max == 0.0,
                                 kinks.moved, kinks.skipped, kind="max |g|"))
    _draws_note(res, frozen)
    res.notes += kinks.notes("z")
    opaque_note(res, chain)
    left = pending_caches(chain)
    if left:
        res.failed_notes.append(f"{left} cache(s) left pending after the G step")
    return res


def check_two_forwards(D, x_real, x_fake, *, scale=1.0, real_label=1.0, eps=DEFAULT_EPS,
                       tol=DEFAULT_TOL, seed=0, kink_delta=None, max_redraws=20,
                       title=None) -> GradcheckResult:
    """D applied to the real batch, then to the fake batch, then the two
    backwards in reverse order -- the D step. The loss is
    ``discriminator_loss(D(x_real), D(x_fake), scale, real_label)`` and the real
    and fake forwards get *different* frozen random draws, so a backward that
    used the wrong forward's cache would fail the check."""
    rng = np.random.default_rng(seed)
    Dc = float64_copy(D)
    xr, xf = _to64(x_real), _to64(x_fake)
    delta = 1e3 * eps if kink_delta is None else kink_delta
    title = title or f"D used twice (real, fake) before backward; scale={scale}, real_label={real_label}"
    frozen_r = freeze_draws(Dc, xr, rng)
    frozen_f = []
    try:
        xr, frozen_r, kr = away_from_kinks(Dc, xr, frozen_r, rng, delta, max_redraws)
        real_draws = frozen_state(frozen_r)      # tokens that put the real batch's draws back
        unfreeze_draws(frozen_r)
        frozen_f = freeze_draws(Dc, xf, rng)
        xf, frozen_f, kf = away_from_kinks(Dc, xf, frozen_f, rng, delta, max_redraws)
        fake_draws = frozen_state(frozen_f)
        moved, skipped = kr.moved + kf.moved, kr.skipped + kf.skipped
        if len(xr) == 0 or len(xf) == 0:
            why = (kr if len(xr) == 0 else kf).nothing_left()
            return nothing_checked(title, eps, tol, moved, skipped, why)

        def forward(a, b):
            restore_state(real_draws)
            out_r = Dc.forward(a)
            restore_state(fake_draws)
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
                             kinks=(moved, skipped))
    finally:
        unfreeze_draws(frozen_f)
        unfreeze_draws(frozen_r)
    if frozen_r:
        res.notes.append(f"random draws of {len(frozen_r)} layer(s) ({describe(frozen_r)}) frozen, with "
                         "different draws for the real and the fake forward")
    res.notes += kr.notes("x_real") + kf.notes("x_fake")
    opaque_note(res, Dc)
    left = pending_caches(Dc)
    if left:
        res.failed_notes.append(f"{left} cache(s) left pending after both backwards")
    return res


def check_autoencoder(trainer, x, *, noise=None, x_in=None, eps=DEFAULT_EPS, tol=DEFAULT_TOL, seed=0,
                      title=None) -> GradcheckResult:
    """The whole loss of an ``AutoencoderTrainer`` (``forward_loss`` / ``backward_loss``): dL/dtheta
    of every parameter of the encoder and the decoder, through the reconstruction loss, and for a VAE
    through the reparameterisation and the KL, against central differences.

    The trainer must be in float64 (build its networks with ``dtype=np.float64``); ``noise`` (a VAE's
    eps, drawn here from ``seed`` if not given) and ``x_in`` (the corrupted input of a denoising
    autoencoder, drawn with ``trainer.corrupt`` if not given) are held fixed, so the loss is a
    function of the parameters alone. ``eps`` is the finite-difference step, as in every check.
    """
    if trainer.model.dtype != np.float64:
        raise ValueError(f"check_autoencoder needs a float64 trainer, got {trainer.model.dtype}")
    x = _to64(x)
    rng = backend.default_rng(seed)
    if x_in is None:
        x_in = trainer.corrupt(x, rng)
    if trainer.variational and noise is None:
        noise = rng.standard_normal((len(x), trainer.code_dim), dtype=np.float64)
    names = list(trainer.model.params)
    pending = []

    def forward(*params):                     # the parameters are perturbed in place
        loss, _, _, held = trainer.forward_loss(x, eps=noise, x_in=x_in)
        pending[:] = [held]
        return loss

    def backward(dv):
        trainer.model.zero_grad()
        trainer.backward_loss(pending[0])
        return tuple(float(dv) * trainer.model.grads[k] for k in names)

    was_training = trainer.model.training
    trainer.model.train()
    try:
        return check_function(forward, backward, tuple(trainer.model.params[k] for k in names),
                              objective=lambda v: (v, 1.0), eps=eps, tol=tol, seed=seed,
                              title=title or f"{trainer.kind}: the whole loss, every parameter",
                              input_names=names)
    finally:
        trainer.model.clear_cache()
        trainer.model.train(was_training)
