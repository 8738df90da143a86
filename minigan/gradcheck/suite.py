"""The suite of ``python -m minigan gradcheck``: every layer and loss of the package,
the G step and the two-forward D step, printed as tables."""
from __future__ import annotations

import sys

import numpy as np

from .. import backend, layers, losses
from ..layers import Dropout, Maxout
from .checks import check_autoencoder, check_generator_step, check_layer, check_loss, check_two_forwards
from .numeric import NOISE_FACTOR, check_function
from .results import DEFAULT_EPS, DEFAULT_TOL, format_results

__all__ = ["all_checks", "main"]


def _paper_like_D(rng, n_in=6):
    """The paper's D in miniature: dropout -> maxout -> dropout -> maxout -> dropout -> linear."""
    return layers.Sequential(
        Dropout(0.8, scale=1.25), Maxout(n_in, 4, 3, irange=0.5, rng=rng),
        Dropout(0.5, scale=2.0), Maxout(4, 3, 2, irange=0.5, rng=rng),
        Dropout(0.5, scale=2.0), layers.Linear(3, 1, irange=0.5, rng=rng))


def _minibatch_discrimination_checks(seed, kw):
    """Minibatch discrimination on whole batches: away from kinks; on a batch with two equal rows
    and on one with two equal M entries (at the L1 kink: the whole batch is re-drawn); in a D
    (dropout -> maxout -> minibatch discrimination -> linear) used twice before its backwards."""
    rng = np.random.default_rng(seed + 2)             # its own generator: the checks above keep theirs
    mbd = layers.MinibatchDiscrimination(5, 3, 2, init_std=0.5, rng=rng)
    x = rng.standard_normal((6, 5))
    equal_rows = x.copy()
    equal_rows[3] = equal_rows[1]
    col = np.asarray(backend.to_host(mbd.params["T"]), dtype=np.float64)[:, 2 * 2 + 1]    # T[:, b=2, c=1]
    v = rng.standard_normal(5)
    equal_entry = x.copy()
    equal_entry[3] = x[1] + v - (v @ col) / (col @ col) * col      # M_3,2,1 = M_1,2,1, rows differ
    name = "MinibatchDiscrimination(5, kernels=3, kernel_dim=2, init_std=0.5)"
    D = layers.Sequential(Dropout(0.8, scale=1.25), Maxout(6, 4, 3, irange=0.5, rng=rng),
                          layers.MinibatchDiscrimination(4, 3, 2, init_std=0.5, rng=rng),
                          layers.Linear(7, 1, irange=0.5, rng=rng))
    dev = backend.to_device
    return [
        check_layer(mbd, dev(x), title=f"{name} (whole batch)", **kw),
        check_layer(mbd, dev(equal_rows), title=f"{name} on a batch with two equal rows (at the L1 kink: "
                    "the whole batch is re-drawn)", **kw),
        check_layer(mbd, dev(equal_entry), title=f"{name} on a batch with two equal M entries (at the L1 "
                    "kink: the whole batch is re-drawn)", **kw),
        check_two_forwards(D, dev(rng.uniform(0, 1, (5, 6))), dev(rng.uniform(0, 1, (3, 6))),
                           title="D with minibatch discrimination (dropout-maxout-minibatch "
                                 "discrimination-linear) used twice (real 5 rows, fake 3) before backward",
                           **kw),
    ]


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
    # two-sided label smoothing, and classification from logits (N, K): the softmax
    # cross-entropy and the log-sum-exp (whose gradient is the softmax). Their inputs
    # come from a generator of their own, so the checks above keep theirs.
    crng = np.random.default_rng(seed + 1)
    cl = backend.to_device(crng.standard_normal((5, 4)) * 3)
    cy = backend.to_device(crng.integers(0, 4, 5))
    results += [
        check_loss(losses.discriminator_loss, ar, af, scale=0.5, real_label=0.9, fake_label=0.1,
                   names=["real_logits", "fake_logits"], **lk),
        check_loss(losses.softmax_cross_entropy, cl, labels=cy, names=["logits"],
                   title="softmax_cross_entropy(logits (5, 4), labels (5,))", **lk),
        check_function(lambda a: losses.logsumexp(a)[0], lambda g: g[:, None] * losses.logsumexp(cl)[1], cl,
                       title="logsumexp(logits (5, 4)) (its gradient: the softmax)", input_names=["logits"],
                       **lk),
    ]
    results += _normalisation_checks(eps, tol, seed)
    results += _minibatch_discrimination_checks(seed, kw)
    results += _technique_checks(seed, kw)
    results += _autoencoder_checks(seed, kw)
    results += _whole_autoencoder_checks(seed, kw)
    return results


def _whole_autoencoder_checks(seed, kw):
    """The three models of the textbook chapter whole (``AutoencoderTrainer``): an autoencoder with
    the squared error, a denoising one (masking noise, the corrupted input fixed) and a VAE (eps
    fixed), each 6 -> 5 tanh -> code -> 5 tanh -> 6, every parameter of encoder and decoder."""
    from .. import data, optim
    from ..train import AutoencoderTrainer
    arng = np.random.default_rng(seed + 4)
    x = backend.to_device(arng.uniform(0, 1, (4, 6)))
    found = []
    for title, how in (("autoencoder, squared error (sigmoid output)", dict(reconstruction="squared")),
                       ("denoising autoencoder, masking noise 0.3 (corrupted input fixed), Bernoulli",
                        dict(corruption="masking", corruption_level=0.3)),
                       ("VAE: Bernoulli reconstruction + KL through the reparameterisation (eps fixed)",
                        dict(variational=True))):
        k = 2
        enc = layers.Sequential(layers.Linear(6, 5, rng=arng), layers.Tanh(),
                                layers.Linear(5, 2 * k if how.get("variational") else k, rng=arng))
        dec = layers.Sequential(layers.Linear(k, 5, rng=arng), layers.Tanh(), layers.Linear(5, 6, rng=arng),
                                *([layers.Sigmoid()] if how.get("reconstruction") == "squared" else []))
        enc, dec = enc.astype(np.float64), dec.astype(np.float64)
        model = AutoencoderTrainer.model_of(enc, dec)
        trainer = AutoencoderTrainer(enc, dec, optim.SGD(model, 0.1), data.MNISTSampler(x, dtype=np.float64),
                                     code_dim=k, m=2, seed=seed, **how)
        found.append(check_autoencoder(trainer, x, title=f"{title}: every parameter", **kw))
    return found


def _normalisation_checks(eps, tol, seed):
    """Batch norm in training mode (rows coupled: the whole batch) and in eval mode, and a
    virtual batch: Linear-VBN-ReLU-Linear-VBN-Sigmoid run on 5 reference rows and the live
    ones (the weights get gradient through both). Inputs from a generator of their own."""
    L, rng = layers, np.random.default_rng(seed + 2)
    kw = dict(eps=eps, tol=tol, seed=seed)
    bn = L.BatchNorm(5)
    bn.params["gamma"][...] = backend.to_device(rng.normal(1.0, 0.5, 5))
    bn.params["beta"][...] = backend.to_device(rng.normal(0.0, 0.5, 5))
    x = backend.to_device(rng.normal(1.0, 2.0, (6, 5)))
    out = [check_layer(bn, x, title="BatchNorm(5) training mode: batch statistics, whole batch", **kw)]
    for _ in range(3):                    # running statistics from a few batches, then eval mode
        bn.forward(backend.to_device(rng.normal(1.0, 2.0, (8, 5))).astype(bn.dtype))
        bn.clear_cache()
    bn.eval()
    out.append(check_layer(bn, x, title="BatchNorm(5) eval mode: running statistics", **kw))
    net = L.Sequential(L.Linear(5, 6, rng=rng), L.VirtualBatchNorm(6, rng=rng), L.ReLU(),
                       L.Linear(6, 4, rng=rng), L.VirtualBatchNorm(4, rng=rng), L.Sigmoid())
    for i in (1, 4):
        net.layers[i].params["beta"][...] = backend.to_device(rng.normal(0.0, 0.3, net.layers[i].n_features))
    vb = L.VirtualBatch(net, rng.standard_normal((5, 5)))
    out.append(check_layer(vb, x[:4], title="VirtualBatch(Linear-VBN-ReLU-Linear-VBN-Sigmoid), 5 reference "
                           "rows: live input, and parameters through reference and live rows "
                           "(the biases before a VBN have gradient 0: it is shift-invariant)", **kw))
    return out


def _technique_checks(seed, kw):
    """Feature matching (G's step through D's layers 0..3, the real features' mean fixed) and
    historical averaging (weight ||theta - theta_bar||^2 over a layer's parameters, theta_bar
    fixed), on inputs of their own generator."""
    trng = np.random.default_rng(seed + 2)
    G = layers.Sequential(layers.Linear(3, 6, rng=trng), layers.ReLU(), layers.Linear(6, 5, rng=trng))
    D = _paper_like_D(trng, 5)
    fm = losses.FeatureMatching(D, 3, lambda m, r: r.normal(size=(m, 5)), seed=seed)
    real_mean = backend.to_device(trng.normal(size=3))
    z = backend.to_device(trng.uniform(-1, 1, size=(4, 3)))
    found = [check_generator_step(G, D, z, g_loss=fm.against(real_mean),
                                  title="G step (feature matching on D's layers 0..3, real mean fixed)", **kw)]
    model = layers.Linear(4, 3, rng=trng).astype(np.float64)
    ha = losses.HistoricalAveraging(0.3)
    for _ in range(3):                                   # an average of three other parameter values
        ha.update(model)
        for p in model.params.values():
            p += backend.to_device(trng.normal(size=p.shape))
    names = list(model.params)

    def forward(*params):                                # the model's own arrays, perturbed in place
        model.zero_grad()
        return ha.penalty(model)
    found.append(check_function(forward, lambda dv: tuple(float(dv) * model.grads[k] for k in names),
                                tuple(model.params[k] for k in names), objective=lambda v: (v, 1.0),
                                title="HistoricalAveraging(0.3) on Linear(4, 3) (theta_bar fixed)",
                                input_names=names, eps=kw["eps"], tol=kw["tol"], seed=kw["seed"]))
    return found


def _autoencoder_checks(seed, kw):
    """The VAE's pieces, one at a time (Kingma & Welling 2014): the two reconstruction losses
    (grey targets in [0, 1] for the Bernoulli one), the closed-form Gaussian KL (both gradients)
    and the reparameterisation z = mu + sigma * eps with eps frozen. Inputs from a generator of
    their own, so the checks above keep theirs."""
    vrng = np.random.default_rng(seed + 3)
    dev = backend.to_device
    lk = dict(eps=kw["eps"], tol=kw["tol"])
    out = dev(vrng.standard_normal((5, 7)))
    target = dev(vrng.uniform(0, 1, (5, 7)))
    mu, logvar = dev(vrng.standard_normal((4, 3))), dev(vrng.normal(0.0, 1.0, (4, 3)))
    noise = dev(vrng.standard_normal((4, 3)))
    cache = {}

    def forward(m, v):                      # eps frozen: z is a fixed function of (mu, logvar)
        z, cache["last"] = layers.reparameterise_forward(m, v, noise)
        return z
    return [
        check_loss(losses.squared_error, out, target=target, names=["output"],
                   title="squared_error(output (5, 7), target (5, 7))", **lk),
        check_loss(losses.bernoulli_cross_entropy, 3 * out, target=target, names=["logits"],
                   title="bernoulli_cross_entropy(logits (5, 7), grey targets in [0, 1])", **lk),
        check_loss(losses.gaussian_kl, mu, logvar, names=["mu", "logvar"],
                   title="gaussian_kl(mu (4, 3), logvar (4, 3)): KL(N(mu, exp(logvar)) || N(0, I))", **lk),
        check_function(forward, lambda grad_z: layers.reparameterise_backward(grad_z, cache["last"]),
                       (mu, logvar), title="reparameterise: z = mu + exp(logvar / 2) * eps (eps frozen)",
                       input_names=["mu", "logvar"], **kw),
    ]


def main(argv=None) -> int:
    """``python -m minigan gradcheck``: check every layer and loss, print the tables."""
    from ..cli import ArgumentParser
    from ..cli.common import rate
    parser = ArgumentParser(
        prog="minigan gradcheck",
        description="Check every hand-written derivative (layers, losses, the G step, the "
                    "two-forward D step) against float64 central differences.")
    parser.add_argument("--eps", type=rate("--eps"), default=DEFAULT_EPS,
                        help=f"finite-difference step (default {DEFAULT_EPS:g})")
    u = np.finfo(np.float64).eps / 2
    parser.add_argument("--tol", type=rate("--tol"), default=DEFAULT_TOL,
                        help=f"largest relative error that passes (default {DEFAULT_TOL:g}). For each quantity "
                             "(the input gradient, each parameter's), with a the gradient backward gives and n "
                             "the central-difference one, the relative error is max|a - n| / max(|a| + |n|): "
                             "a correct float64 backward gives about 1e-9 or less, a wrong one about 1e-1 or "
                             "more. A quantity whose max|a - n| is below the noise floor of central "
                             f"differences, {NOISE_FACTOR:g} u max(|L|, 1) / eps (u = {u:.2g}, float64's "
                             "rounding unit; L the checked scalar sum(y * R), R random; "
                             f"{NOISE_FACTOR * u / DEFAULT_EPS:.2g} for |L| = 1 at the default --eps), "
                             "passes too, with a note: there the error measures rounding, not the backward")
    parser.add_argument("--seed", type=int, default=0, help="seed for inputs, weights, masks, R (default 0)")
    try:
        args = parser.parse_args(argv)             # --eps and --tol: positive numbers (rate)
    except SystemExit as exc:                      # --help, or a usage error (one line, status 2)
        return int(exc.code or 0)
    results = all_checks(eps=args.eps, tol=args.tol, seed=args.seed)
    print(format_results(results))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
