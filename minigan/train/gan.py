"""Algorithm 1 of Goodfellow et al. (2014), line for line.

    for number of training iterations do
        for k steps do
            Sample minibatch of m noise samples {z(1), ..., z(m)} from noise prior p_g(z).
            Sample minibatch of m examples {x(1), ..., x(m)} from data generating distribution p_data(x).
            Update the discriminator by ascending its stochastic gradient:
                grad_theta_d (1/m) sum_i [log D(x(i)) + log(1 - D(G(z(i))))]
        end for
        Sample minibatch of m noise samples {z(1), ..., z(m)} from noise prior p_g(z).
        Update the generator by descending its stochastic gradient:
            grad_theta_g (1/m) sum_i log(1 - D(G(z(i))))
    end for

``GAN.d_step``, ``GAN.g_step`` and ``GAN.step`` carry those lines as comments.

Two switches the paper itself motivates:

* ``g_loss``: ``"minimax"`` is the G step as printed; ``"nonsaturating"``
  ascends log D(G(z)) instead (Section 3: "rather than training G to minimize
  log(1 - D(G(z))) we can train G to maximize log D(G(z))").
* ``order``: ``"sequential"`` (default) is Algorithm 1: k D steps, then a G
  step on fresh noise, D frozen. ``"simultaneous"`` is what the released MNIST
  configuration ran (pylearn2's SGD on the combined cost): one minibatch x and
  one noise batch z, both players' gradients computed at the same parameters
  from the same dropped-out D(x), D(G(z)), and both applied at once (k must be 1).

One switch that is not in the paper but in the released code of Salimans et al.
(2016), whose minibatch-discrimination script trains G three times per D step:

* ``g_steps``: G steps per iteration (default 1, Algorithm 1). In the sequential
  order the k D steps are followed by ``g_steps`` G steps, each on fresh noise
  with D frozen; the history row keeps the last one's ``g_loss`` and ``g_grad_norm``.

Losses are arguments, not methods to override (see ``minigan.losses``):

* ``d_loss``: None (the paper's, ``losses.discriminator_loss`` with
  ``d_loss_scale``, ``real_label`` and ``fake_label``: label smoothing), or a
  function ``(real_logits, fake_logits) -> (value, grad_real, grad_fake)``.
* ``g_loss``: one of the two names above, or a function ``out -> (value,
  grad)``. ``out`` is D(G(z))'s logits, or, if the function has a ``network``
  attribute (a Layer sharing D's parameters, such as ``Sequential(*D.layers[:-1])``),
  that network's output on G(z): feature matching reads D's features. The
  network is held fixed during G's step, as D is.
* ``d_penalties``, ``g_penalties``: terms added to a player's loss, each a
  callable ``(model, trainer) -> value`` that adds its gradient into
  ``model.grads`` after the loss's backward, before the step (weight decay;
  the K+1-class D's cross-entropy on a labelled minibatch:
  ``losses.WeightDecay``, ``losses.SupervisedLoss``). Their values are added to
  the reported ``d_loss`` / ``g_loss``.

Techniques of Salimans et al. (2016) as arguments (``minigan train --set ...``):
``real_label`` < 1 is one-sided label smoothing, with ``fake_label`` > 0 two-sided;
``g_loss=losses.FeatureMatching(D, layer, data_sampler)`` is feature matching;
``d_penalties=[losses.HistoricalAveraging(w)], g_penalties=[losses.HistoricalAveraging(w)]``
is historical averaging. Their state (the real minibatches' generator, the averages) is
saved with the run (``parts``).

With the defaults the run is Algorithm 1, as before.

One addition that is not in the paper and never feeds back into the game:

* ``g_average``: a decay; the trainer then keeps a running average of G's
  parameters (``minigan.optim.ParameterAverage``), updated after every
  iteration, and ``sample(n, averaged=True)`` draws from G with those
  parameters. Algorithm 1 runs exactly as without it.

D returns *logits*; D(x) = sigmoid(logit). All losses are taken from logits
(see ``minigan.losses``).
"""
from __future__ import annotations

import contextlib
import copy
import math
import numbers
from types import FunctionType, MethodType

from .. import backend, fast, losses
from ..fast.gan import both_players_gradients_fast, discriminator_gradients_fast  # noqa: F401 -- the fast twins
from ..layers import backward_input_only, backward_params_only, evaluating, no_grad
from .run_state import layer_generators, part_generators, repeat
from ..optim import ParameterAverage, _sum_of_squares
from .gan_state import check_gan_state, gan_state_dict, load_gan_state
from .history import HISTORY_FIELDS, History

__all__ = ["GAN", "TrainingDiverged", "ORDERS", "discriminator_gradients", "both_players_gradients"]

ORDERS = ("sequential", "simultaneous")


class TrainingDiverged(FloatingPointError):
    """A loss or a parameter became NaN or infinite; names where and what."""

    def __init__(self, iteration, quantity, value):
        self.iteration, self.quantity, self.value = iteration, quantity, value
        super().__init__(f"training stopped at iteration {iteration}: {quantity} is {value} "
                         "(non-finite); the last good checkpoint, if any, is kept")


def _grad_norm(model):
    return math.sqrt(float(sum(_sum_of_squares(g) for g in model.grads.values())))


def _step_grad_norm(opt):
    """||grad|| of the step ``opt`` just took: minigan's optimizers compute it
    inside their update (no extra pass over memory); any other, here."""
    norm = getattr(opt, "grad_norm", None)
    return _grad_norm(opt.model) if norm is None else norm


def _named(fn):
    """How a loss or penalty argument is recorded in the config: a name as given, a
    function's qualified name, or an object's repr (its class name if the repr is
    the default ``<... at 0x...>``)."""
    if isinstance(fn, str):
        return fn
    if isinstance(fn, (FunctionType, MethodType)):
        return fn.__qualname__
    text = repr(fn)
    return type(fn).__qualname__ if " at 0x" in text else text


def _check_labels(real_label, fake_label):
    """D's targets: 0 < real_label <= 1 (below 1: one-sided label smoothing) and
    0 <= fake_label < real_label (above 0: two-sided); a ValueError names the one out of range."""
    for name, v in (("real_label", real_label), ("fake_label", fake_label)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValueError(f"{name} (D's target for {name[:4]} data) must be a number, got {v!r}")
    if not 0 < real_label <= 1:
        raise ValueError(f"real_label (D's target for real data; below 1 is one-sided label smoothing) "
                         f"must be in (0, 1], got {real_label!r}")
    if not 0 <= fake_label < real_label:
        raise ValueError(f"fake_label (D's target for G's samples; above 0 is two-sided label smoothing) "
                         f"must be in [0, real_label) = [0, {real_label!r}), got {fake_label!r}")


@fast.has_twin
def discriminator_gradients(D, x, fake, d_loss):
    """D's half of Algorithm 1's D step: D(x) and D(G(z)), D's loss, and its gradient
    added into ``D.grads``. Returns ``(a_real, a_fake, loss value)``.

    The real and the fake minibatch are two m-row passes through D, backpropagated
    last in, first out (the fake batch's cache is on top of each layer's stack).
    dL/dx is not needed (x and G(z) are constants of D's step), so
    ``backward_params_only`` skips it. ``d_loss(a_real, a_fake) -> (value,
    grad_real, grad_fake)``.

    Fast twin: ``minigan.fast.gan.discriminator_gradients_fast`` (one 2m-row pass where
    no layer of D couples rows).
    """
    a_real = D.forward(x)
    a_fake = D.forward(fake)
    value, grad_real, grad_fake = d_loss(a_real, a_fake)
    backward_params_only(D, grad_fake)
    backward_params_only(D, grad_real)
    return a_real, a_fake, value


@fast.has_twin
def both_players_gradients(D, x, fake, d_loss, g_loss):
    """The simultaneous order's pass through D: D(x) and D(G(z)) once, both players'
    losses from them, D's gradient added into ``D.grads`` and G's loss sent back
    through D (held fixed) to G(z). Returns ``(a_real, a_fake, d_value, g_value,
    dL/dG(z))``.

    D(G(z)) is backpropagated twice, so its cache is kept (``retain_cache``): first
    G's loss goes back through D frozen (dL/dG(z), for G's backward; D's gradients
    untouched), then D's loss through the same dropped-out pass, last in, first out,
    parameters only. ``d_loss(a_real, a_fake) -> (value, grad_real, grad_fake)``,
    ``g_loss(a_fake) -> (value, grad)``.

    Fast twin: ``minigan.fast.gan.both_players_gradients_fast`` (one 2m-row pass where
    no layer of D couples rows and every layer it gives the 2m rows can hand G's
    backward the cache of the fake rows).
    """
    a_real = D.forward(x)
    a_fake = D.forward(fake)
    D.retain_cache()                     # D(G(z)) is backpropagated twice: G's loss, then D's
    g_value, grad_a = g_loss(a_fake)
    grad_fake = backward_input_only(D, grad_a)        # dL/dG(z), D's gradients untouched
    d_value, grad_real, grad_fake_d = d_loss(a_real, a_fake)
    backward_params_only(D, grad_fake_d)
    backward_params_only(D, grad_real)
    return a_real, a_fake, d_value, g_value, grad_fake


class GAN:
    """The adversarial game between a generator G and a discriminator D.

    Parameters
    ----------
    generator, discriminator : Layers (usually ``Sequential``); D outputs one logit per row.
    data_sampler : callable ``(m, rng) -> x`` of shape (m, ...), a minibatch from p_data.
    noise_sampler : callable ``(m, rng) -> z``, a minibatch from the noise prior p_z.
    d_optimizer, g_optimizer : built on ``discriminator`` / ``generator`` (``minigan.optim``).
    k : D steps per iteration (Algorithm 1's k; the paper used k = 1).
    g_steps : G steps per iteration after the k D steps, each on fresh noise (default 1,
        Algorithm 1; the released minibatch-discrimination code of Salimans et al. 2016
        used 3). The history row holds the last G step's g_loss and g_grad_norm.
    m : minibatch size.
    g_loss : ``"minimax"``, ``"nonsaturating"`` or a function ``out -> (value, grad)``
        (see module docstring).
    order : ``"sequential"`` (Algorithm 1) or ``"simultaneous"`` (the released code).
    d_loss : None (D minimises ``d_loss_scale * (-V)``, with the labels below), or a
        function ``(real_logits, fake_logits) -> (value, grad_real, grad_fake)``.
    d_loss_scale : D minimises ``d_loss_scale * (-V)``; the released code used 0.5.
    real_label : target for real data in D's loss (< 1 is one-sided label smoothing).
    fake_label : target for G's samples in D's loss (> 0 with ``real_label`` < 1: two-sided).
    d_penalties, g_penalties : callables ``(model, trainer) -> value`` that add their
        gradient into ``model.grads`` before each step (``minigan.losses.penalties``).
    seed : seeds the generator of minibatches and noise (``self.rng``).
    g_average : None (default), or a decay in [0, 1): keep ``self.g_average``, a running
        average of G's parameters over the iterations (``minigan.optim.ParameterAverage``;
        0.999 averages over about the last 1,000). Training is the same with or without it.
    """

    def __init__(self, generator, discriminator, data_sampler, noise_sampler, *,
                 d_optimizer, g_optimizer, k=1, m=100, g_loss="nonsaturating",
                 order="sequential", d_loss_scale=1.0, real_label=1.0, seed=0, g_average=None,
                 d_loss=None, fake_label=0.0, d_penalties=(), g_penalties=(), g_steps=1):
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k (D steps per iteration) must be an integer >= 1, got {k!r}")
        if not isinstance(g_steps, int) or isinstance(g_steps, bool) or g_steps < 1:
            raise ValueError(f"g_steps (G steps per iteration) must be an integer >= 1, got {g_steps!r}")
        if not isinstance(m, int) or isinstance(m, bool) or m < 1:
            raise ValueError(f"m (minibatch size) must be an integer >= 1, got {m!r}")
        if not callable(g_loss) and g_loss not in losses.GENERATOR_LOSSES:
            raise ValueError(f"g_loss must be one of {tuple(losses.GENERATOR_LOSSES)} or a function "
                             f"out -> (value, grad), got {g_loss!r}")
        if d_loss is not None and not callable(d_loss):
            raise ValueError("d_loss must be None or a function (real_logits, fake_logits) -> "
                             f"(value, grad_real, grad_fake), got {d_loss!r}")
        _check_labels(real_label, fake_label)
        if d_loss is not None and (d_loss_scale != 1 or real_label != 1 or fake_label != 0):
            raise ValueError("d_loss_scale, real_label and fake_label shape the default D loss; "
                             "a d_loss of your own takes its own settings")
        for name, terms in (("d_penalties", d_penalties), ("g_penalties", g_penalties)):
            if not all(callable(t) for t in terms):
                raise ValueError(f"{name} must be callables (model, trainer) -> value, got {terms!r}")
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        if order == "simultaneous" and k != 1:
            raise ValueError("order='simultaneous' updates D and G together: it needs k = 1")
        if order == "simultaneous" and g_steps != 1:
            raise ValueError("order='simultaneous' updates D and G together: it needs g_steps = 1")
        if order == "simultaneous" and getattr(g_loss, "network", None) is not None:
            raise ValueError("order='simultaneous' backpropagates G's loss through D's own D(G(z)): "
                             "a g_loss that reads another network needs order='sequential'")
        for name, opt, model in (("d_optimizer", d_optimizer, discriminator),
                                 ("g_optimizer", g_optimizer, generator)):
            if getattr(opt, "model", None) is not model:
                raise ValueError(f"{name} must be built on the {name[0].upper()} network it updates")
        self.G, self.D = generator, discriminator
        self.data_sampler, self.noise_sampler = data_sampler, noise_sampler
        self.d_opt, self.g_opt = d_optimizer, g_optimizer
        self.k, self.m, self.g_loss, self.order = k, m, g_loss, order
        self.g_steps = g_steps
        self.d_loss_scale, self.real_label = float(d_loss_scale), float(real_label)
        self.d_loss, self.fake_label = d_loss, float(fake_label)
        self.d_penalties, self.g_penalties = list(d_penalties), list(g_penalties)
        self.seed = seed
        self.g_average = None if g_average is None else ParameterAverage(generator, g_average)
        self.rng = backend.default_rng(seed)
        self.iteration = 0          # completed iterations of the outer loop
        self.history = History()    # one row per iteration: HISTORY_FIELDS

    # ------------------------------------------------------------------ config
    @property
    def config(self):
        """What this run is: recorded in every history file and checkpoint.

        A loss or penalty given as an argument is recorded by name, and g_steps by its
        value, only when not the default, so that the default run's config is as it always was."""
        cfg = {"order": self.order, "g_loss": _named(self.g_loss), "k": self.k, "m": self.m,
               "d_loss_scale": self.d_loss_scale, "real_label": self.real_label,
               "seed": self.seed, "backend": backend.name(),
               "g_average": None if self.g_average is None else self.g_average.decay}
        if self.d_loss is not None:
            cfg["d_loss"] = _named(self.d_loss)
        if self.fake_label != 0:
            cfg["fake_label"] = self.fake_label
        if self.g_steps != 1:
            cfg["g_steps"] = self.g_steps
        for key in ("d_penalties", "g_penalties"):
            if getattr(self, key):
                cfg[key] = [_named(t) for t in getattr(self, key)]
        return cfg

    def parts(self):
        """(name, object) for each loss and penalty given as an argument: ``"d_loss"`` and
        ``"g_loss"`` (when not the paper's), ``"d_penalties.<i>"``, ``"g_penalties.<i>"``.
        One that keeps state (``state_dict()`` / ``load_state_dict(d)``: historical
        averaging's running average, say) or a random generator (an ``rng`` attribute)
        has it saved with the run, like the layers' (``minigan.train.gan_state``)."""
        for name in ("d_loss", "g_loss"):
            obj = getattr(self, name)
            if obj is not None and not isinstance(obj, str):
                yield name, obj
        for name in ("d_penalties", "g_penalties"):
            for i, obj in enumerate(getattr(self, name)):
                yield f"{name}.{i}", obj

    def random_generators(self):
        """(key, owner, attribute) for every random generator the run draws from: the
        trainer's (minibatches and noise), each layer's (``Layer.generators()``: Dropout's
        ``rng`` keyed ``D/<path>``, one in another attribute ``D/<path>:<attribute>``), and
        each loss's or penalty's that has one (``parts``)."""
        yield "trainer", self, "rng"
        for who, net in (("G", self.G), ("D", self.D)):
            yield from layer_generators(who, net)
        yield from part_generators(self.parts())

    def copy(self):
        """An independent copy of the run, to branch from it (lesson 05's panels (b), (c)).

        Networks, optimizers, history and samplers are deep-copied. NumPy generators are
        copied exactly, so the copy draws what the run would have drawn; a CuPy generator
        can be neither copied nor read, so the copy gets its own, seeded from (seed,
        iteration, name) (``backend.copy_generator``).
        """
        memo = {}
        for key, owner, attr in self.random_generators():
            gen = getattr(owner, attr)
            memo[id(gen)] = backend.copy_generator(gen, self.seed, self.iteration, key)
        return copy.deepcopy(self, memo)

    # ------------------------------------------------------------------ pieces
    def _d_loss(self, a_real, a_fake):
        """D's loss and its gradients from the logits: the argument ``d_loss``, or the paper's."""
        if self.d_loss is not None:
            return self.d_loss(a_real, a_fake)
        return losses.discriminator_loss(a_real, a_fake, scale=self.d_loss_scale,
                                         real_label=self.real_label, fake_label=self.fake_label)

    def _g_loss(self, out):
        """G's loss and its gradient from D(G(z)) (or from its ``network``'s output)."""
        fn = losses.GENERATOR_LOSSES[self.g_loss] if isinstance(self.g_loss, str) else self.g_loss
        return fn(out)

    @property
    def _g_reads(self):
        """The network G(z) goes through in G's step: D, or the g_loss's ``network``."""
        network = getattr(self.g_loss, "network", None)
        return self.D if network is None else network

    def _add_penalties(self, loss, model, penalties):
        """loss + each penalty's value; each adds its gradient into model.grads."""
        for penalty in penalties:
            loss = loss + penalty(model, self)
        return loss

    # ------------------------------------------------------------------ Algorithm 1
    def d_step(self):
        """One discriminator update (the body of Algorithm 1's inner loop)."""
        m, rng = self.m, self.rng
        # Sample minibatch of m noise samples {z(1), ..., z(m)} from noise prior p_g(z).
        z = self.noise_sampler(m, rng)
        # Sample minibatch of m examples {x(1), ..., x(m)} from data generating distribution p_data(x).
        x = self.data_sampler(m, rng)
        with no_grad():                  # G is a constant during D's update
            fake = self.G.forward(z)
        # Update the discriminator by ascending its stochastic gradient
        #   grad_theta_d (1/m) sum_i [log D(x(i)) + log(1 - D(G(z(i))))]
        # (the optimizer descends d_loss = -scale * V, or the d_loss given; see minigan.losses)
        self.D.zero_grad()
        # D(x) and D(G(z)): two passes of m rows (one of 2m where D's rows stay apart: the fast twin)
        a_real, a_fake, d_loss = discriminator_gradients(self.D, x, fake, self._d_loss)
        d_loss = self._add_penalties(d_loss, self.D, self.d_penalties)   # none in Algorithm 1
        row = {"d_loss": d_loss, "V": losses.value_function(a_real, a_fake)[0],
               "D_real": losses.sigmoid(a_real).mean(), "D_fake": losses.sigmoid(a_fake).mean()}
        self.d_opt.step()
        return {**row, "d_grad_norm": _step_grad_norm(self.d_opt)}

    def g_step(self):
        """One generator update, D held fixed (the end of Algorithm 1's outer loop)."""
        # Sample minibatch of m noise samples {z(1), ..., z(m)} from noise prior p_g(z).
        z = self.noise_sampler(self.m, self.rng)
        # Update the generator by descending its stochastic gradient
        #   grad_theta_g (1/m) sum_i log(1 - D(G(z(i))))      (g_loss="minimax")
        # or by ascending (1/m) sum_i log D(G(z(i)))         (g_loss="nonsaturating", Section 3)
        # (or by descending a g_loss given as a function, of D(G(z)) or of D's features)
        self.G.zero_grad()
        D = self._g_reads                # D itself, or the part of D a g_loss reads
        a_fake = D.forward(self.G.forward(z))
        g_loss, grad_a = self._g_loss(a_fake)
        backward_params_only(self.G, backward_input_only(D, grad_a))   # D held fixed; no dL/dz
        g_loss = self._add_penalties(g_loss, self.G, self.g_penalties)       # none in Algorithm 1
        self.g_opt.step()                # only G's parameters move
        return {"g_loss": g_loss, "g_grad_norm": _step_grad_norm(self.g_opt)}

    def simultaneous_step(self):
        """The released code's update: one x, one z, both gradients at the same
        parameters through the same dropped-out D, then both players step."""
        z = self.noise_sampler(self.m, self.rng)
        x = self.data_sampler(self.m, self.rng)
        self.D.zero_grad()
        self.G.zero_grad()
        fake = self.G.forward(z)
        # D(x) and D(G(z)); D's gradient, and G's loss back through D frozen to G(z)
        # (two passes of m rows; one of 2m where D's rows stay apart: the fast twin)
        a_real, a_fake, d_loss, g_loss, grad_fake = both_players_gradients(
            self.D, x, fake, self._d_loss, self._g_loss)
        backward_params_only(self.G, grad_fake)
        d_loss = self._add_penalties(d_loss, self.D, self.d_penalties)
        g_loss = self._add_penalties(g_loss, self.G, self.g_penalties)
        V, _, _ = losses.value_function(a_real, a_fake)
        self.d_opt.step()
        self.g_opt.step()
        return {"d_loss": d_loss, "V": V, "D_real": losses.sigmoid(a_real).mean(),
                "D_fake": losses.sigmoid(a_fake).mean(), "d_grad_norm": _step_grad_norm(self.d_opt),
                "g_loss": g_loss, "g_grad_norm": _step_grad_norm(self.g_opt)}

    def step(self):
        """One training iteration; appends a history row and returns it.

        Raises ``TrainingDiverged`` at the first non-finite loss or parameter.
        """
        # for number of training iterations do
        if self.order == "simultaneous":
            row = self.simultaneous_step()
        else:
            # for k steps do ... end for
            for _ in range(self.k):
                row = self.d_step()
            # the generator's update, g_steps times (Algorithm 1: once), each on fresh noise
            for _ in range(self.g_steps):
                g_row = self.g_step()
            row.update(g_row)
        # end for
        self.iteration += 1
        row = {"iteration": self.iteration, **{k: float(row[k]) for k in HISTORY_FIELDS[1:]}}
        self._check_finite(row)
        if self.g_average is not None:   # not Algorithm 1: a record of G, kept beside the game
            self.g_average.update()
        self.history.append(row)
        return row

    def _check_finite(self, row):
        for q in ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm"):
            if not math.isfinite(row[q]):
                raise TrainingDiverged(self.iteration, q, row[q])
        for who, net, opt in (("D", self.D, self.d_opt), ("G", self.G, self.g_opt)):
            # fast path: a finite sum of squares (the optimizer's, taken in its update, else
            # one dot product per parameter here) means every |p_i| < 2^64, so no p_i is NaN
            # or infinite. One total, one host sync (CuPy); only if it is not finite is each
            # parameter looked at, and its plain sum taken and reported.
            known = getattr(opt, "param_sq", None) or {}
            sq = {name: known[name] if name in known else _sum_of_squares(p)
                  for name, p in net.params.items()}
            if math.isfinite(float(sum(sq.values()))):
                continue
            for name, p in net.params.items():
                if math.isfinite(float(sq[name])):
                    continue
                s = float(p.sum())
                if not math.isfinite(s):
                    raise TrainingDiverged(self.iteration, f"{who} parameter {name!r}", s)

    def train(self, iterations, callback=None):
        """Run ``iterations`` more iterations; ``callback(gan, row)`` after each.

        Returns the history rows of this call.
        """
        return repeat(self.step, iterations, self, callback)

    # ------------------------------------------------------------------ inference
    def d_prob(self, x):
        """D(x) as probabilities, shape (n,), in eval mode (no dropout, no cache)."""
        with evaluating(self.D):
            return losses.sigmoid(self.D.forward(x)).reshape(-1)

    def sample(self, n, rng=None, averaged=False):
        """n samples G(z), z from the noise prior, in eval mode (no cache).

        Uses ``rng`` if given (so sampling does not disturb training's stream),
        else a generator seeded from ``seed + 1`` fresh on each call.
        ``averaged``: G with the running average of its parameters (``g_average``).
        """
        if averaged and self.g_average is None:
            raise ValueError("this run keeps no average of G to sample (build the GAN with "
                             "g_average=DECAY; minigan train --g-average DECAY)")
        rng = rng if rng is not None else backend.default_rng(None if self.seed is None else self.seed + 1)
        z = self.noise_sampler(int(n), rng)
        with evaluating(self.G), (self.g_average.applied() if averaged else contextlib.nullcontext()):
            return self.G.forward(z)

    # ------------------------------------------------------------------ state
    # (the layout, the checks and the CuPy notes are in minigan/train/gan_state.py)
    def state_dict(self):
        """The whole run as one flat dict: networks (parameters and buffers), optimizers,
        average of G, random generators, samplers' state, iteration, history, config."""
        return gan_state_dict(self)

    def check_state_dict(self, d, *, strict=True):
        """``minigan.state.StateError`` unless ``d`` fits this run (``strict``: its settings
        too: order, g_loss, k, m, optimizers, layers, noise prior); changes nothing."""
        check_gan_state(self, d, strict=strict)

    def load_state_dict(self, d, *, strict=True):
        """Check all of ``d``, then restore the run from it. Returns notes on what could not be
        restored exactly (CuPy generators are re-seeded from (seed, iteration, where))."""
        return load_gan_state(self, d, strict=strict)
