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
* **Random draws frozen, learnt from each layer.** Every layer that says it
  would draw random numbers (``draws_random()``: a Dropout mask, Gaussian
  noise, a VAE's epsilon) gets them fixed with ``freeze_random(x, rng)`` for
  the duration of the check, so all forwards -- analytic and numeric -- take
  the same draws; ``unfreeze_random(token)`` puts back what was there
  afterwards. Draws come from the check's own seeded generator.
* **Kinks handled honestly, learnt from each layer.** ReLU / LeakyReLU are not
  differentiable at 0 and Maxout is not differentiable where its top two
  pieces tie; a central difference straddling a kink measures an average of
  two slopes. Before checking, the input is pushed through the (frozen) model
  and every layer reports, per row, how far each of its kink arguments is from
  its kink (``kink_gaps(x)``); a row's *kink margin* is the smallest of these.
  Gaps that are exactly 0 and stay 0 when the input and the parameters move
  (a unit a Dropout mask dropped, say) are not kinks: nothing reaches them,
  either way. Rows with a margin below ``kink_delta`` (default 1000 * eps) are
  re-drawn; rows still at a kink after ``max_redraws`` tries are dropped. The
  numbers of rows moved and dropped ("skipped") are reported in every table
  -- never silently.
* **Coupled rows.** Moving or dropping one row leaves the others' test alone
  only while rows are independent. A layer whose output row i depends on other
  rows (batch norm, minibatch discrimination) says so with ``couples_rows``;
  it is checked on the whole batch (every input entry perturbed, the loss over
  all rows, as for every check), and to move away from kinks the whole batch
  is re-drawn, never single rows; a note says so.
* **Composites with a forward of their own** (a Sequential subclass that, say,
  passes a label around its layers) are walked as one piece: their inner
  kinks are not searched (a note says so), and a layer inside one that would
  draw random numbers is refused with an error (freeze it yourself, e.g. a
  Dropout's ``fixed_mask``, or use eval mode).
* **No cache pollution.** The numeric forwards run inside ``layers.no_grad()``
  so they push nothing onto the layers' cache stacks; afterwards the check
  verifies that no pending cache was left behind.

The checker holds no list of layer classes: everything it knows of a layer
comes from the protocol above (``minigan/layers/base.py``), so a new layer
is checked by giving it those methods.

One idea per file: ``results`` (rows, results, the tables), ``numeric``
(central differences, the relative error, ``check_function``), ``model`` (how
a model is walked), ``draws`` (freezing random draws), ``kinks`` (kink margins,
moving rows), ``checks`` (``check_layer`` and the GAN checks), ``suite`` (all
checks and the command). Public entry points::

    check_layer(layer, x)              # any object with forward/backward/params/grads
    check_function(forward, backward, x, params, grads)     # bare functions
    check_loss(loss_fn, *logits)       # (value, grad_1, grad_2, ...) = loss_fn(*logits)
    check_generator_step(G, D, z)      # G's gradient through a frozen D
    check_two_forwards(D, x_real, x_fake)   # D used twice before one backward
    format_results(results)            # the tables, as text
    frozen_random(model, x)            # a with-block in which every random draw is fixed

and ``python -m minigan gradcheck [--eps E] [--tol T] [--seed S]`` runs all
of them on every layer and loss of the package.
"""
from .checks import check_autoencoder, check_generator_step, check_layer, check_loss, check_two_forwards
from .draws import frozen_dropout, frozen_random
from .numeric import NOISE_FACTOR, check_function, numeric_gradient, random_projection, relative_error
from .results import DEFAULT_EPS, DEFAULT_TOL, GradcheckResult, GradcheckRow, format_results
from .suite import all_checks, main

__all__ = [
    "GradcheckRow", "GradcheckResult", "relative_error", "numeric_gradient",
    "random_projection", "check_function", "check_layer", "check_loss",
    "check_generator_step", "check_two_forwards", "check_autoencoder", "frozen_dropout", "frozen_random",
    "format_results", "all_checks", "main", "DEFAULT_EPS", "DEFAULT_TOL",
]
