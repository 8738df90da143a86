"""Autoencoders: the plain one, the denoising one and the variational one (VAE), by minibatch.

An autoencoder is an encoder f and a decoder g trained so that g(f(x)) gives x back. The code
f(x) has fewer numbers than x (the bottleneck), so the pair must keep what matters in x and
drop the rest. One step of each kind, on a minibatch x of m rows from the data sampler:

    autoencoder (AE)          h = f(x);           a = g(h);  L = rec(a, x)
    denoising (DAE)           x~ = corrupt(x);    a = g(f(x~)); L = rec(a, x)   (the clean x as target)
    variational (VAE)         [mu, log sigma^2] = f(x)
                              z = mu + sigma * eps,  eps ~ N(0, I)       (reparameterisation)
                              a = g(z);  L = rec(a, x) + KL(N(mu, sigma^2) || N(0, I))

``rec`` is ``"bernoulli"`` (the decoder outputs logits a, p(x | z) = prod_d Bernoulli(sigma(a_d)),
rec = -log p(x | z) summed over pixels: ``losses.bernoulli_cross_entropy``) or ``"squared"`` (the
decoder outputs the image itself, rec = ||a - x||^2: ``losses.squared_error``); both are summed
over the features and averaged over the rows, so every number is "per example". For the VAE,
-L is the evidence lower bound (ELBO) of Kingma and Welling (2014), in nats per example:
log p(x) >= E_q[log p(x | z)] - KL(q(z | x) || p(z)).

The backward pass is the chain rule through the same pieces, in reverse::

    dL/da = rec's gradient;  dL/dz (or dL/dh) = g.backward(dL/da)
    VAE:  (dL/dmu, dL/dlog sigma^2) = reparameterise_backward(dL/dz) + the KL's own gradient
    f.backward([dL/dmu, dL/dlog sigma^2])  (or f.backward(dL/dh))

Sampling. A VAE's samples are g(z) with z from the prior N(0, I), the distribution the KL pulls
the codes towards. A plain or denoising autoencoder has no prior: its samples here are g(z)
with z drawn from a Gaussian fitted to the codes of the training set (their mean and full
covariance, ``code_density``), the simplest density one can put on its codes. Samples show the
mean of p(x | z) (sigma(a) for the Bernoulli decoder), as is usual.

A run is determined by its seed (``self.rng``: minibatches, corruptions, eps) and the networks'
own generators; ``state_dict()`` / ``load_state_dict(d)`` hold all of it, so a run saved and
loaded on NumPy continues bit for bit (``minigan.checkpoint``).
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend, data, layers, losses, state
from ..layers import Sequential, evaluating
from ..state import StateError
from .gan import TrainingDiverged, _step_grad_norm
from .history import History
from .run_state import (apply_generators, apply_parts, check_generators, check_history, check_model_and_optimizer,
                        check_parts, one_network_generators, repeat, save_history, save_one_network)

__all__ = ["AutoencoderTrainer", "AUTOENCODER_FIELDS", "RECONSTRUCTIONS"]

AUTOENCODER_FIELDS = ("iteration", "loss", "reconstruction", "kl", "grad_norm")
"""One history row per step: steps so far, the minibatch's loss L (per example), its
reconstruction term, its KL term (NaN for an autoencoder that is not variational), ||grad||."""

RECONSTRUCTIONS = {
    "bernoulli": (losses.bernoulli_cross_entropy, losses.bernoulli_cross_entropy_per_example),
    "squared": (losses.squared_error, losses.squared_error_per_example),
}
"""name -> (the loss of a minibatch with its gradient, the loss of each row)."""

_CONFIG_KEYS = ("variational", "reconstruction", "corruption", "corruption_level", "code_dim", "m")


class AutoencoderTrainer:
    """Minibatch training of an autoencoder, a denoising autoencoder or a VAE.

    Parameters
    ----------
    encoder : a Layer x (m, D) -> h (m, code_dim); for a VAE (m, 2 code_dim): the columns
        [mu | log sigma^2].
    code_dim : the width k of the code (the bottleneck; the VAE's z).
    decoder : a Layer z (m, code_dim) -> (m, D): logits (``reconstruction="bernoulli"``) or the
        image itself (``"squared"``).
    optimizer : any ``minigan.optim`` optimizer built on ``model``, which is
        ``AutoencoderTrainer.model_of(encoder, decoder)`` (the two networks in one
        ``Sequential``: their parameters are ``0.*`` and ``1.*``).
    data_sampler : callable ``(m, rng) -> x`` (an ``MNISTSampler``).
    variational : True for a VAE.
    reconstruction : ``"bernoulli"`` or ``"squared"`` (see the module docstring).
    corruption : None, or a name of ``minigan.data.CORRUPTIONS`` (``"gaussian"``: add
        N(0, level^2) noise; ``"masking"``: zero each entry with probability level): a
        denoising autoencoder. ``corruption_level`` is that level.
    m : minibatch size. seed : seeds ``self.rng`` (minibatches, corruptions, eps).
    penalties : callables ``(model, trainer) -> value`` that add their gradient into
        ``model.grads`` after each backward (``minigan.losses.WeightDecay``).
    fit_data : None or the training inputs (N, D), values or uint8 pixels: what ``code_density``
        is fitted to for a non-variational autoencoder's samples.
    eval_batch : rows per forward when encoding or evaluating a large set.
    """

    progress_fields = {"loss": "loss", "rec": "reconstruction", "kl": "kl"}
    """label -> history field: what a progress bar shows after each step."""

    def __init__(self, encoder, decoder, optimizer, data_sampler, *, code_dim, variational=False,
                 reconstruction="bernoulli", corruption=None, corruption_level=None, m=100, seed=0,
                 penalties=(), fit_data=None, eval_batch=10000):
        if reconstruction not in RECONSTRUCTIONS:
            raise ValueError(f"reconstruction must be one of {tuple(RECONSTRUCTIONS)}, got {reconstruction!r}")
        if corruption is not None:
            if corruption not in data.CORRUPTIONS:
                raise ValueError(f"corruption must be None or one of {tuple(data.CORRUPTIONS)}, "
                                 f"got {corruption!r}")
            if corruption_level is None or not 0 <= float(corruption_level):
                raise ValueError(f"corruption {corruption!r} needs a corruption_level >= 0, "
                                 f"got {corruption_level!r}")
        elif corruption_level is not None:
            raise ValueError("corruption_level is the level of a corruption: give corruption too")
        if not isinstance(code_dim, int) or isinstance(code_dim, bool) or code_dim < 1:
            raise ValueError(f"code_dim must be an integer >= 1, got {code_dim!r}")
        if not isinstance(m, int) or isinstance(m, bool) or m < 1:
            raise ValueError(f"m (minibatch size) must be an integer >= 1, got {m!r}")
        if getattr(optimizer, "model", None) is None or list(optimizer.model.layers) != [encoder, decoder]:
            raise ValueError("optimizer must be built on AutoencoderTrainer.model_of(encoder, decoder)")
        if not all(callable(p) for p in penalties):
            raise ValueError("every penalty must be a callable (model, trainer) -> value")
        self.encoder, self.decoder, self.opt = encoder, decoder, optimizer
        self.model = optimizer.model
        self.data_sampler = data_sampler
        self.variational = bool(variational)
        self.reconstruction = reconstruction
        self._rec, self._rec_rows = RECONSTRUCTIONS[reconstruction]
        self.corruption = corruption
        self.corruption_level = None if corruption is None else float(corruption_level)
        self.m, self.seed, self.penalties = m, seed, list(penalties)
        self.fit_data, self.eval_batch = fit_data, int(eval_batch)
        self.rng = backend.default_rng(seed)
        self.iteration = 0
        self.history = History(AUTOENCODER_FIELDS)
        self.code_dim = code_dim
        self._density = None            # (mean (k,), Cholesky factor (k, k), iteration fitted at)

    @staticmethod
    def model_of(encoder, decoder):
        """The one network the optimizer updates: ``Sequential(encoder, decoder)``."""
        return Sequential(encoder, decoder)

    # ------------------------------------------------------------------ config
    @property
    def kind(self):
        """``"vae"``, ``"dae"`` (a corruption, not variational) or ``"ae"``."""
        return "vae" if self.variational else ("dae" if self.corruption is not None else "ae")

    @property
    def config(self):
        """What this run is: recorded in checkpoints, and checked when one is loaded."""
        return {"model": self.kind, "variational": self.variational, "reconstruction": self.reconstruction,
                "corruption": self.corruption, "corruption_level": self.corruption_level,
                "code_dim": self.code_dim, "m": self.m, "seed": self.seed, "backend": backend.name()}

    # ------------------------------------------------------------------ the pieces
    def _code(self, h):
        """The encoder's output h checked: (m, code_dim), or (m, 2 code_dim) for a VAE."""
        width = 2 * self.code_dim if self.variational else self.code_dim
        if h.ndim != 2 or h.shape[1] != width:
            what = "[mu | log sigma^2], 2 * code_dim" if self.variational else "code_dim"
            raise ValueError(f"the encoder must output (m, {width}) columns ({what}), got shape {tuple(h.shape)}")
        return h

    def _split(self, h):
        """(mu, log sigma^2) of a VAE encoder's output (m, 2k)."""
        k = self._code(h).shape[1] // 2
        return h[:, :k], h[:, k:]

    def corrupt(self, x, rng):
        """x~: the input the encoder sees (x itself without a corruption)."""
        if self.corruption is None:
            return x
        return data.CORRUPTIONS[self.corruption](x, self.corruption_level, rng)

    def _eps(self, shape, dtype, rng):
        return rng.standard_normal(shape, dtype=dtype)

    def output_mean(self, a):
        """The mean of p(x | z) from the decoder's output: sigma(a) (Bernoulli) or a itself."""
        return losses.sigmoid(a) if self.reconstruction == "bernoulli" else a

    # ------------------------------------------------------------------ training
    def forward_loss(self, x, *, eps=None, x_in=None):
        """The loss of minibatch x: the forward pass of the networks and the loss terms.

        Inputs: x (m, D) the targets; ``x_in`` the encoder's input (the corrupted x; default x);
        ``eps`` (m, k) the VAE's noise (default: drawn from ``self.rng``; pass it to hold the
        noise fixed, as a gradient check does).
        Returns ``(loss, reconstruction, kl, pending)``: 0-d arrays (kl None unless variational)
        and what ``backward_loss`` needs (the loss's gradients and the reparameterisation's cache).
        """
        x_in = x if x_in is None else x_in
        h = self.encoder.forward(x_in)
        if self.variational:
            mu, logvar = self._split(h)
            if eps is None:
                eps = self._eps(mu.shape, mu.dtype, self.rng)
            z, reparam = layers.reparameterise_forward(mu, logvar, eps)
            rec, grad_a = self._rec(self.decoder.forward(z), x)
            kl, kl_grad_mu, kl_grad_logvar = losses.gaussian_kl(mu, logvar)
            return rec + kl, rec, kl, (grad_a, reparam, kl_grad_mu, kl_grad_logvar)
        rec, grad_a = self._rec(self.decoder.forward(self._code(h)), x)
        return rec, rec, None, (grad_a,)

    def backward_loss(self, pending):
        """The backward pass of ``forward_loss``: dL/dtheta added into the networks' ``grads``.

            dL/da from the reconstruction loss -> decoder.backward -> dL/dz
            VAE: (dL/dmu, dL/dlog sigma^2) = reparameterise_backward(dL/dz) + the KL's gradient
            encoder.backward([dL/dmu | dL/dlog sigma^2])  (an AE: encoder.backward(dL/dh))
        """
        grad_z = self.decoder.backward(pending[0])
        if not self.variational:
            self.encoder.backward(grad_z, input_grad=False)
            return
        _, reparam, kl_grad_mu, kl_grad_logvar = pending
        grad_mu, grad_logvar = layers.reparameterise_backward(grad_z, reparam)
        xp = backend.array_module(grad_mu)
        self.encoder.backward(xp.concatenate([grad_mu + kl_grad_mu, grad_logvar + kl_grad_logvar], axis=1),
                              input_grad=False)

    def loss_and_backward(self, x, *, eps=None, x_in=None):
        """``forward_loss`` then ``backward_loss``: grads are added to (zero them before).
        Returns ``(loss, reconstruction, kl)``."""
        loss, rec, kl, pending = self.forward_loss(x, eps=eps, x_in=x_in)
        self.backward_loss(pending)
        return loss, rec, kl

    def step(self):
        """One update on a fresh minibatch; appends a history row and returns it.

        Raises ``TrainingDiverged`` at the first non-finite loss or gradient norm."""
        self.model.train()
        self.model.zero_grad()
        x = self.data_sampler(self.m, self.rng)
        loss, rec, kl = self.loss_and_backward(x, x_in=self.corrupt(x, self.rng))
        for penalty in self.penalties:
            loss = loss + penalty(self.model, self)
        self.opt.step()
        self.iteration += 1
        row = {"iteration": self.iteration, "loss": float(loss), "reconstruction": float(rec),
               "kl": math.nan if kl is None else float(kl), "grad_norm": float(_step_grad_norm(self.opt))}
        for q in ("loss", "grad_norm"):
            if not math.isfinite(row[q]):
                raise TrainingDiverged(self.iteration, q, row[q])
        self.history.append(row)
        return row

    def train(self, iterations, callback=None):
        """Run ``iterations`` more steps; ``callback(trainer, row)`` after each. Returns their rows."""
        return repeat(self.step, iterations, self, callback)

    # ------------------------------------------------------------------ inference (eval mode, no cache)
    def _blocks(self, fn, x):
        """``fn`` over blocks of ``eval_batch`` rows of x (uint8 pixels converted a block at a time:
        ``data.pixels_to_float``), its outputs concatenated."""
        def rows(i):
            xb = x[i:i + self.eval_batch]
            return data.pixels_to_float(xb, self.model.dtype) if xb.dtype == np.uint8 else xb
        parts = [fn(rows(i)) for i in range(0, len(x), self.eval_batch)]
        if isinstance(parts[0], tuple):
            xp = backend.array_module(parts[0][0])
            return tuple(xp.concatenate(p) for p in zip(*parts))
        return backend.array_module(parts[0]).concatenate(parts)

    def encode(self, x):
        """The code of each row: h = f(x) (AE, DAE), or (mu, log sigma^2) (VAE)."""
        def one(xb):
            h = self.encoder.forward(xb)
            return self._split(h) if self.variational else self._code(h)
        with evaluating(self.model):
            return self._blocks(one, x)

    def decode(self, z):
        """The mean of p(x | z) for each code row z: sigma(g(z)) or g(z)."""
        with evaluating(self.model):
            return self._blocks(lambda zb: self.output_mean(self.decoder.forward(zb)), z)

    def reconstruct(self, x):
        """g(f(x)) as a mean image; a VAE decodes mu, the mean of q(z | x). A denoising
        autoencoder is given x as it is: corrupt it first to see what it removes."""
        code = self.encode(x)
        return self.decode(code[0] if self.variational else code)

    def evaluate(self, x, rng=None):
        """Per-example numbers on a held-out set x (means over its rows):

        ``reconstruction``: rec(g(z), x), z = f(x) (AE) or one draw from q(z | x) (VAE, with
        ``rng``); ``squared_error``: ||mean image - x||^2 of the reconstruction (``reconstruct``),
        the same number for every model; VAE also ``kl`` and ``elbo`` = -(reconstruction + kl),
        a one-draw estimate of the evidence lower bound in nats. A denoising autoencoder is
        also scored on corrupted inputs (``denoised_squared_error``, corruptions drawn by ``rng``).
        """
        rng = rng if rng is not None else backend.default_rng(0 if self.seed is None else self.seed + 7)

        def one(xb):
            h = self.encoder.forward(xb)
            if self.variational:
                mu, logvar = self._split(h)
                z, _ = layers.reparameterise_forward(mu, logvar, self._eps(mu.shape, mu.dtype, rng))
                return (self._rec_rows(self.decoder.forward(z), xb), losses.gaussian_kl_per_example(mu, logvar),
                        losses.squared_error_per_example(self.output_mean(self.decoder.forward(mu)), xb))
            a = self.decoder.forward(self._code(h))
            out = (self._rec_rows(a, xb), losses.squared_error_per_example(self.output_mean(a), xb))
            if self.corruption is not None:
                out += (losses.squared_error_per_example(self.output_mean(self.decoder.forward(self.encoder.forward(
                    self.corrupt(xb, rng)))), xb),)
            return out
        with evaluating(self.model):
            cols = self._blocks(one, x)
        mean = [float(c.mean()) for c in cols]
        if self.variational:
            rec, kl, sq = mean
            return {"reconstruction": rec, "kl": kl, "elbo": -(rec + kl), "squared_error": sq}
        found = {"reconstruction": mean[0], "squared_error": mean[1]}
        if self.corruption is not None:
            found["denoised_squared_error"] = mean[2]
        return found

    # ------------------------------------------------------------------ sampling
    def fit_code_density(self, x=None):
        """Fit N(mean, covariance) to the codes of ``x`` (default ``fit_data``): what a plain or
        denoising autoencoder's samples are drawn from. Returns (mean, Cholesky factor)."""
        x = self.fit_data if x is None else x
        if x is None:
            raise ValueError("fit_code_density needs the training inputs (fit_data, or x)")
        h = backend.to_host(self.encode(x)).astype(np.float64)
        mean = h.mean(axis=0)
        cov = np.cov(h, rowvar=False).reshape(h.shape[1], h.shape[1])
        # a tiny ridge keeps the factorisation defined when a code unit is constant (a dead unit)
        chol = np.linalg.cholesky(cov + 1e-6 * max(1.0, float(np.trace(cov)) / len(cov)) * np.eye(len(cov)))
        self._density = (mean, chol, self.iteration)
        return mean, chol

    def code_density(self):
        """(mean, Cholesky factor) of the Gaussian on the codes, refitted to ``fit_data`` when the
        networks have changed since it was fitted (``ValueError`` when it cannot be)."""
        if self._density is None or (self._density[2] != self.iteration and self.fit_data is not None):
            if self.fit_data is None:
                raise ValueError("this autoencoder has no density on its codes yet: it needs its training "
                                 "inputs (fit_data) to fit one")
            self.fit_code_density()
        return self._density[:2]

    def sample_codes(self, n, rng):
        """n codes: from the prior N(0, I) (VAE), else from ``code_density``."""
        if self.variational:
            return rng.standard_normal((int(n), self.code_dim), dtype=self.model.dtype)
        mean, chol = self.code_density()
        xp = backend.array_module(next(iter(self.model.params.values())))
        u = rng.standard_normal((int(n), len(mean)), dtype=self.model.dtype)
        return u @ xp.asarray(chol.T, dtype=u.dtype) + xp.asarray(mean, dtype=u.dtype)

    def sample(self, n, rng=None, averaged=False):
        """n samples: the decoder's mean image at codes from ``sample_codes``. ``rng`` as in
        ``GAN.sample`` (default: seeded from seed + 1 on each call)."""
        if averaged:
            raise ValueError("an autoencoder keeps no running average of its parameters to sample")
        rng = rng if rng is not None else backend.default_rng(None if self.seed is None else self.seed + 1)
        return self.decode(self.sample_codes(n, rng))

    # ------------------------------------------------------------------ state
    def parts(self):
        """(name, penalty) for each penalty, as ``ClassifierTrainer.parts``."""
        return [(f"penalties.{i}", p) for i, p in enumerate(self.penalties)]

    def random_generators(self):
        """(key, owner, attribute) of every generator the run draws from: the trainer's
        (minibatches, corruptions, eps), each layer's and each penalty's."""
        return one_network_generators(self)

    def _sampler_state(self):
        method = getattr(self.data_sampler, "state_dict", None)
        return dict(method()) if callable(method) else {}

    def state_dict(self):
        """The whole run: ``model/<name>``, ``opt/<slot>/<param>``, ``rng/<key>``,
        ``sampler/data/<key>``, ``part/<name>/<key>``, ``code_density/{mean,chol}`` (a non-variational
        autoencoder whose density is known), the history, and plain values (iteration, config,
        the optimizer, the architecture)."""
        out, exact, parts = save_one_network(self)
        sampler = self._sampler_state()
        for key, value in sampler.items():
            out[f"sampler/data/{key}"] = value.copy() if state.is_array(value) else np.asarray(value)
        density = None
        if not self.variational and (self.fit_data is not None or self._density is not None) \
                and self.iteration > 0:
            mean, chol = self.code_density()
            out["code_density/mean"], out["code_density/chol"] = mean.copy(), chol.copy()
            density = int(self._density[2])
        out.update(save_history(self.history))
        out.update({"iteration": self.iteration, "config": self.config, "code_density": density,
                    "architecture": state.signature(self.model.params), "rng_exact": exact,
                    "sampler": sorted(sampler), **({"parts": parts} if parts else {})})
        return out

    def check_state_dict(self, d, *, strict=True):
        """Check ``d`` against this run (nothing changes); returns what ``load_state_dict`` applies.
        ``strict``: its settings too (variational, reconstruction, corruption, code_dim, m); the
        networks' parameters and shapes are checked either way."""
        for key in ("iteration", "config", "optimizer", "history", "history_fields"):
            if key not in d:
                raise StateError(f"the state lacks {key!r} (not an autoencoder trainer's state, or a damaged one)")
        saved = d["config"]
        mine = self.config
        for key in _CONFIG_KEYS if strict else ():
            if saved.get(key) != mine[key]:
                raise StateError(f"it is a run with {key} = {saved.get(key)!r}, this one has {mine[key]!r}")
        model, opt = check_model_and_optimizer(d, self.model, self.opt)
        sampler = {}
        for key in d.get("sampler", []):
            if f"sampler/data/{key}" not in d:
                raise StateError(f"lacks the entry 'sampler/data/{key}'")
            sampler[key] = d[f"sampler/data/{key}"]
        if set(sampler) != set(self._sampler_state()):
            raise StateError(f"its data sampler's state has {sorted(sampler)}, this run's "
                             f"{sorted(self._sampler_state())}")
        density = None
        if d.get("code_density") is not None:
            if "code_density/mean" not in d or "code_density/chol" not in d:
                raise StateError("lacks the entries code_density/mean and code_density/chol")
            density = (np.asarray(d["code_density/mean"], dtype=np.float64),
                       np.asarray(d["code_density/chol"], dtype=np.float64), int(d["code_density"]))
        return {"model": model, "opt": opt, "rng": check_generators(d, self.random_generators()),
                "parts": check_parts(d, self.parts()), "sampler": sampler, "density": density,
                "history": check_history(d, self.history.fields)}

    def load_state_dict(self, d, *, strict=True):
        """``check_state_dict(d, strict=strict)``, then apply it; returns notes (generators re-seeded)."""
        checked = self.check_state_dict(d, strict=strict)
        self.model.load_state_dict(checked["model"])
        self.opt.load_state_dict(checked["opt"])
        notes = apply_generators(self.random_generators(), checked["rng"], self.seed, int(d["iteration"]))
        apply_parts(self.parts(), checked["parts"])
        if checked["sampler"]:
            self.data_sampler.load_state_dict(checked["sampler"])
        self.model.clear_cache()
        self.iteration = int(d["iteration"])
        self._density = checked["density"]
        self.history = checked["history"]
        return notes
