"""Reconstruction losses: how far a decoder's output is from the input it should give back.

An autoencoder maps x to a code and back to an output; a VAE's decoder outputs the
parameters of p(x | z). Both are trained on -log p(x | output) summed over the D features
of a row -- a per-example number, in nats for a likelihood -- and averaged over the N rows
of a minibatch. Two decoders, two losses (inputs (N, D), ``target`` of the same shape):

* **Squared error**, for a decoder whose output o is the mean of a Gaussian:

      SE = (1/N) sum_n sum_d (o_nd - x_nd)^2,        dSE/do = 2 (o - x) / N.

  For a Gaussian with variance 1/2 per feature, -log N(x; o, I/2) = ||x - o||^2 + (D/2) log pi,
  so this is that negative log-likelihood up to a constant; for other variances it is one up
  to a scale and a constant.

* **Bernoulli cross-entropy**, for a decoder whose output a is a vector of logits,
  p(x_d = 1 | a) = sigma(a_d):

      BCE = (1/N) sum_n sum_d -[x log sigma(a) + (1 - x) log sigma(-a)]
          = (1/N) sum_n sum_d  x s(-a) + (1 - x) s(a)  =  (1/N) sum_n sum_d  s(a) - x a,
      dBCE/da = (sigma(a) - x) / N,

  with s(a) = log(1 + e^a) (``logistic.softplus``) and log sigma(a) = -s(-a). It is computed
  as x s(-a) + (1 - x) s(a): every term is finite and non-negative for every finite a, so a
  logit of +-1000 gives a finite loss and gradient (the form s(a) - x a would lose the small
  difference of two numbers near 1000).

  Targets are intensities in [0, 1] (grey MNIST pixels, not binarised). For x in {0, 1}
  the loss is -log p(x | a) of a Bernoulli decoder and its minimum over a is 0. For x
  strictly between 0 and 1 it is the cross-entropy H(x, sigma(a)) = H(x) + KL(x || sigma(a)):
  its minimum, reached at sigma(a) = x, is the binary entropy H(x) = -x log x - (1-x) log(1-x)
  > 0, not 0. It is then not -log of a normalised density of x on [0, 1]: the continuous
  Bernoulli (Loaiza-Ganem & Cunningham 2019) is the same expression plus a normalising term
  per pixel. A number computed with it on grey images (an ELBO "in nats") is comparable only
  with numbers computed the same way.

Each loss comes as ``*_per_example`` (the N per-row sums, no gradient: what an ELBO report
needs) and as the mean over rows with its gradient; both are built on the same elementwise
terms. Values and gradients keep the output's dtype.
"""
from __future__ import annotations

from .. import backend
from .logistic import sigmoid, softplus

__all__ = ["squared_error", "squared_error_per_example",
           "bernoulli_cross_entropy", "bernoulli_cross_entropy_per_example"]


def _output_and_target(output, target, name, *, unit_interval=False):
    """The output (N, D) of floats and the target as an array of its shape and dtype."""
    if not hasattr(output, "dtype") or output.dtype.kind != "f":
        raise TypeError(f"{name} expects a floating-point output array (N, D), got "
                        f"{getattr(output, 'dtype', type(output).__name__)}")
    if output.ndim != 2 or output.shape[0] == 0 or output.shape[1] == 0:
        raise ValueError(f"{name} expects an output of shape (N, D) with N, D >= 1, got {tuple(output.shape)}")
    if not hasattr(target, "shape") or tuple(target.shape) != tuple(output.shape):
        raise ValueError(f"{name}: target of shape {tuple(getattr(target, 'shape', ()))} does not match the "
                         f"output's shape {tuple(output.shape)} (one target per output entry)")
    if getattr(target, "dtype", None) is None or target.dtype.kind not in "fiub":
        raise TypeError(f"{name} expects a numeric target array, got {getattr(target, 'dtype', type(target))}")
    t = backend.array_module(output).asarray(target, dtype=output.dtype)
    if unit_interval and not bool(((t >= 0) & (t <= 1)).all()):
        raise ValueError(f"{name}: every target must be in [0, 1] (intensities; NaN is not), got values in "
                         f"[{float(t.min())}, {float(t.max())}]")
    return t


# ----------------------------------------------------------------------------- squared error
def _squared_error_rows(output, target, name):
    """(per-row sums of (o - x)^2, shape (N,); the difference o - x, shape (N, D))."""
    t = _output_and_target(output, target, name)
    diff = output - t
    return (diff * diff).sum(axis=1), diff


def squared_error_per_example(output, target):
    """sum_d (o_nd - x_nd)^2 for each row n.

    Inputs:
    - output: (N, D) floats, the decoder's output
    - target: (N, D), the input it should reconstruct
    Returns: (N,) array of the output's dtype.
    """
    return _squared_error_rows(output, target, "squared_error_per_example")[0]


def squared_error(output, target):
    """Squared error summed over features, mean over rows, and its gradient.

    SE = (1/N) sum_n sum_d (o_nd - x_nd)^2;  dSE/do = 2 (o - x) / N.

    Inputs:
    - output: (N, D) floats
    - target: (N, D)
    Returns ``(SE, dSE/doutput)``: a 0-d value and an (N, D) gradient, in the output's dtype.
    """
    rows, diff = _squared_error_rows(output, target, "squared_error")
    n = output.dtype.type(output.shape[0])
    return rows.mean(), diff * (2 / n)


# ----------------------------------------------------------------------------- Bernoulli
def _bernoulli_terms(logits, target, name):
    """(the elementwise -log p(x_d | a_d) = x s(-a) + (1 - x) s(a), shape (N, D); the target x)."""
    t = _output_and_target(logits, target, name, unit_interval=True)
    return t * softplus(-logits) + (1 - t) * softplus(logits), t


def bernoulli_cross_entropy_per_example(logits, target):
    """-log p(x_n | a_n) = sum_d x s(-a) + (1 - x) s(a) for each row n, in nats.

    Inputs:
    - logits: (N, D) floats, the decoder's logits a (p(x_d = 1) = sigma(a_d))
    - target: (N, D) intensities in [0, 1]
    Returns: (N,) array of the logits' dtype. For grey targets see the module docstring:
    the minimum is the binary entropy of the target, not 0.
    """
    return _bernoulli_terms(logits, target, "bernoulli_cross_entropy_per_example")[0].sum(axis=1)


def bernoulli_cross_entropy(logits, target):
    """Bernoulli cross-entropy from logits, summed over features, mean over rows, and its gradient.

    BCE = (1/N) sum_n sum_d x s(-a) + (1 - x) s(a)  (= s(a) - x a);  dBCE/da = (sigma(a) - x) / N.

    Inputs:
    - logits: (N, D) floats
    - target: (N, D) intensities in [0, 1]
    Returns ``(BCE, dBCE/dlogits)``: a 0-d value and an (N, D) gradient, in the logits' dtype.
    """
    terms, t = _bernoulli_terms(logits, target, "bernoulli_cross_entropy")
    n = logits.dtype.type(logits.shape[0])
    return terms.sum(axis=1).mean(), (sigmoid(logits) - t) / n
