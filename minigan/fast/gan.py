"""Fast twin of the discriminator's two passes (textbook: ``minigan/train/gan.py``).

Algorithm 1's D step needs D(x) on m real rows and D(G(z)) on m fake rows. The
textbook (``discriminator_gradients``) runs them as two m-row passes, forward and
backward, so that every layer of D sees each minibatch as a batch of its own.
Each weight gradient is then two products and an add:

    dL/dW = x_real^T dL/dz_real + x_fake^T dL/dz_fake.

When no row of D's output depends on another row (no layer ``couples_rows``:
minibatch discrimination and batch norm do), the two passes are the two halves of
one pass over the 2m rows concat(x, G(z)): each row meets the same weights and
the same operations, and

    dL/dW = concat(x_real, x_fake)^T concat(dL/dz_real, dL/dz_fake)

is the same sum as one product over 2m rows (the 2m-row products also split over
BLAS threads better than two m-row ones).

Which layers see the 2m rows. Only the layers with parameters that draw nothing:
the products are what the one pass is for. Every other layer (a Dropout, an
activation) is applied to the real rows and then to the fake rows apart, each an
m-row call, exactly as the two passes call it: a layer that draws (a Dropout
mask) takes from its generator what the two passes would have taken, on every
backend and whatever one 2m-row draw would give, and one that holds something of
the minibatch's shape (a Dropout's ``fixed_mask``, as a gradient check or
benchmarks/bench_iteration.py sets) gets its m rows. The two passes draw every
layer's real mask before any fake mask; drawing layer by layer keeps that stream
only if no two drawing layers share a generator (their ``generators()``), so a D
whose drawing layers share one, or draw from a generator they do not name, takes
the textbook path, as does a D that couples rows. Everything is read from the
layers' own protocol (``couples_rows``, ``draws_random``, ``generators``,
``params``), never from class names.

What is equal. D(x), D(G(z)), the losses, D_real, D_fake and V: bit for bit (the
same operations on the same rows; tests/test_fastpaths.py). D's weight and bias
gradients: the same sum in another order (a 2m-row product and a 2m-row column
sum, where the textbook adds two m-row ones), equal to float32 rounding, about
1e-6 relative. So the parameters after a step differ from the textbook's in
their last bits, and a run's later iterations drift apart as rounding does.

The simultaneous order (``GAN.simultaneous_step``, textbook
``both_players_gradients``) sends G's loss back through the same D(G(z)) as well.
Through the 2m-row pass it would go through the real rows too (zeros in them: m
rows more in the dL/dx products of D's maxout layers, which cost more than the
one pass saves: 1.036 of the iteration at one BLAS thread, benchmarks/RESULTS.md,
"Speed (issue 21)"). So G's backward gets the fake rows' own cache: a layer that
saw the 2m rows hands it on if it says its cache is one row per input row
(``per_row_cache``: then the cache of a forward on the fake rows is the last m
rows of each cached array), and a layer that saw each minibatch apart keeps the
fake minibatch's cache on top of its stack already (``retain_cache``). G's
gradient dL/dG(z) then comes from the same m-row operations as the textbook's,
bit for bit; D's gradients are one 2m-row backward, as in the D step. A D with a
2m-row layer that does not say ``per_row_cache`` takes the textbook path.
"""
from __future__ import annotations

from .. import backend
from . import textbook, twin_of

__all__ = ["discriminator_gradients_fast", "both_players_gradients_fast", "one_pass_plan"]


def _chain(D):
    """D's layers in order: a plain Sequential's own layers (a subclass with its own
    forward or backward counts as one layer), else [D]."""
    from ..layers import Sequential
    if isinstance(D, Sequential) and (type(D).forward is Sequential.forward
                                      and type(D).backward is Sequential.backward):
        return list(D.layers)
    return [D]


def one_pass_plan(D):
    """``(layers, apart)`` when the real and the fake minibatch can go through D as one
    pass with the same results as two, else None. ``apart[i]``: layer i (one without
    parameters, or one that draws random numbers) is applied to each minibatch on its
    own (see the module docstring)."""
    from ..layers import walk_layers
    if getattr(D, "couples_rows", False):
        return None
    layers = _chain(D)
    drawing = [layer for layer in layers if layer.draws_random()]
    apart = [not layer.params or layer in drawing for layer in layers]
    seen = set()
    for layer in drawing:
        gens = {id(g) for _, sub in walk_layers(layer) for g in sub.generators().values()}
        if (not gens and len(drawing) > 1) or gens & seen:
            return None                      # a shared or unnamed generator: draws would reorder
        seen |= gens
    return layers, apart


def _split(h, sizes):
    """Rows of h as views, one block per minibatch."""
    out, start = [], 0
    for n in sizes:
        out.append(h[start:start + n])
        start += n
    return out


def _forward(layers, apart, blocks):
    """concat(D(block) for block in blocks) as one pass; a layer marked ``apart`` sees each block on its own."""
    xp = backend.array_module(blocks[0])
    sizes = [len(b) for b in blocks]
    h = list(blocks)
    for layer, a in zip(layers, apart):
        if a:
            h = [layer.forward(b) for b in (h if isinstance(h, list) else _split(h, sizes))]
        else:
            h = layer.forward(xp.concatenate(h) if isinstance(h, list) else h)
    return xp.concatenate(h) if isinstance(h, list) else h


def _backward_params_only(layers, apart, grads):
    """The backward of ``_forward``'s pass for D's parameters, from each block's dL/d(output)
    (``grads``, in the blocks' order), as ``Sequential.backward`` with ``input_grad=False``
    does it (no dL/dx below the first layer with parameters; the layers in front of it only
    drop their caches); a layer marked ``apart`` once per block, last block first (last in,
    first out)."""
    xp = backend.array_module(grads[0])
    sizes = [len(g) for g in grads]
    g = xp.concatenate(grads)
    first = next((i for i, l in enumerate(layers) if l.params), len(layers))
    for i in reversed(range(len(layers))):
        layer = layers[i]
        if i < first:
            for _ in (sizes if apart[i] else (None,)):
                layer._drop_cache()
        elif apart[i]:
            parts = [layer.backward(b, input_grad=i > first) for b in reversed(_split(g, sizes))]
            g = xp.concatenate(parts[::-1]) if i > first else None
        else:
            g = layer.backward(g, input_grad=i > first)
    return None


@twin_of("minigan.train.gan.discriminator_gradients")
def discriminator_gradients_fast(D, x, fake, d_loss):
    """``discriminator_gradients`` as one 2m-row pass where D's rows are independent
    (``one_pass_plan``); the textbook's two passes otherwise. Returns
    ``(a_real, a_fake, d_loss value)`` as the textbook does, the logits as views of the
    2m-row output."""
    plan = one_pass_plan(D)
    if plan is None:
        return textbook(discriminator_gradients_fast)(D, x, fake, d_loss)
    layers, apart = plan
    m = len(x)
    logits = _forward(layers, apart, [x, fake])
    a_real, a_fake = logits[:m], logits[m:]
    value, grad_real, grad_fake = d_loss(a_real, a_fake)
    _backward_params_only(layers, apart, [grad_real, grad_fake])
    return a_real, a_fake, value


def _push_fake_rows(layers, apart, m):
    """Give every layer the cache of a forward on the fake rows alone, on top of its stack:
    a layer that saw the minibatches apart duplicates its top cache (the fake one's); a
    layer that saw the 2m rows (``per_row_cache``) pushes the last rows of each cached array."""
    for layer, a in zip(layers, apart):
        if a:
            layer.retain_cache()
        else:
            layer._save(*(t[m:] for t in layer._cache[-1]))


@twin_of("minigan.train.gan.both_players_gradients")
def both_players_gradients_fast(D, x, fake, d_loss, g_loss):
    """``both_players_gradients`` as one 2m-row pass where ``one_pass_plan`` allows it and
    every 2m-row layer says ``per_row_cache``; the textbook's two passes otherwise.
    Returns ``(a_real, a_fake, d_value, g_value, dL/dG(z))`` as the textbook does."""
    from ..layers import backward_input_only
    plan = one_pass_plan(D)
    if plan is None or not all(a or getattr(layer, "per_row_cache", False) for layer, a in zip(*plan)):
        return textbook(both_players_gradients_fast)(D, x, fake, d_loss, g_loss)
    layers, apart = plan
    m = len(x)
    logits = _forward(layers, apart, [x, fake])
    a_real, a_fake = logits[:m], logits[m:]
    g_value, grad_a = g_loss(a_fake)
    _push_fake_rows(layers, apart, m)
    grad_fake = backward_input_only(D, grad_a)    # dL/dG(z): the fake rows' m-row backward, as the textbook's
    d_value, grad_real, grad_fake_d = d_loss(a_real, a_fake)
    _backward_params_only(layers, apart, [grad_real, grad_fake_d])
    return a_real, a_fake, d_value, g_value, grad_fake
