"""Minibatch discrimination (Salimans et al. 2016, section 3.2): each row sees how close the others are."""
from __future__ import annotations

import numpy as np

from .. import backend, fast
from ..fast.minibatch_discrimination import (  # noqa: F401 -- the fast twins
    similarities_backward_fast, similarities_fast)
from .base import Layer
from .init import _host_rng

__all__ = ["MinibatchDiscrimination", "similarities", "similarities_backward"]


@fast.has_twin
def similarities(M):
    """c_b(i, j) = exp(-||M_ib - M_jb||_1) for i != j, and c_b(i, i) = 0, for M of
    shape (N, B, C); returns c of shape (N, N, B).

    The diagonal is set to 0 (the released code's j != i: it adds 1e6 to the
    distance D_ii); so sum_j c_b(i, j) is the paper's sum over the other rows.
    Builds the (N, N, B, C) differences M_ibc - M_jbc, as the formula reads.
    Fast twin: ``minigan.fast.minibatch_discrimination.similarities_fast`` (one c at a time).
    """
    xp = backend.array_module(M)
    diff = M[:, None, :, :] - M[None, :, :, :]          # (N, N, B, C): M_ibc - M_jbc
    c = xp.exp(-xp.abs(diff).sum(axis=3))               # (N, N, B): exp(-||M_ib - M_jb||_1)
    n = len(M)
    c[xp.arange(n), xp.arange(n)] = 0                   # j != i
    return c


@fast.has_twin
def similarities_backward(M, c, g):
    """dL/dM_ibc = -sum_j (g_ib + g_jb) c_b(i, j) sign(M_ibc - M_jbc), shape (N, B, C),
    for g = dL/do of shape (N, B) and c from ``similarities`` (zero diagonal).

    The (g_ib + g_jb): M_i enters o_i through every c_b(i, j) and o_j through
    c_b(j, i) = c_b(i, j); see ``MinibatchDiscrimination.backward``. Fast twin:
    ``minigan.fast.minibatch_discrimination.similarities_backward_fast`` (one c at a time).
    """
    xp = backend.array_module(M)
    w = (g[:, None, :] + g[None, :, :]) * c              # (N, N, B): (g_ib + g_jb) c_b(i, j)
    sign = xp.sign(M[:, None, :, :] - M[None, :, :, :])  # (N, N, B, C): sign(M_ibc - M_jbc)
    return -(w[..., None] * sign).sum(axis=1)


class MinibatchDiscrimination(Layer):
    """Minibatch discrimination (Salimans et al. 2016, section 3.2).

    Inputs: - x: (N, A) features f(x_i) of one minibatch (A = ``n_in``).
    Parameters: - T: (A, B * C), the paper's tensor T in R^{A x B x C} stored as a
      matrix, column b * C + c holding T[:, b, c], so that M = x T is one matrix
      product (B = ``kernels``, C = ``kernel_dim``); - bias: (B,).
    Returns: - y: (N, A + B), y_i = concat(x_i, o_i) with

        M_i = x_i T                     (B x C: M_ibc = sum_a x_ia T_abc)
        c_b(i, j) = exp(-||M_ib - M_jb||_1) = exp(-sum_c |M_ibc - M_jbc|)
        o_ib = sum_{j != i} c_b(i, j) + bias_b

    Row i of the output depends on every row of the batch (``couples_rows``): D
    applied to the real batch and to the fake batch as two forwards sees each
    batch on its own, as the released CIFAR code runs them (its ImageNet code
    instead runs one joint batch [real; fake] and averages over each half: not
    here). A batch of one row has no other rows: its o is bias (the sum over
    j != i is empty). Train and eval mode compute the same function.

    Arguments: ``n_in`` = A, ``kernels`` = B, ``kernel_dim`` = C; ``init_std``
    the standard deviation of T's entries; ``rng`` a NumPy Generator or seed (T
    is drawn on the host, so one seed gives one T on every backend); ``dtype``
    of the parameters (default: the backend's).

    Backward. With g = dL/do (N, B), the last B columns of dL/dy: o_ib depends
    on M_k through c_b(i, j) when k = i or k = j, and
    dc_b(i, j)/dM_kbc = -c_b(i, j) sign(M_ibc - M_jbc) (delta_ik - delta_jk), so

        dL/dM_kbc = -sum_{j != k} g_kb c_b(k, j) sign(M_kbc - M_jbc)      (k = i: o_k)
                    +sum_{i != k} g_ib c_b(i, k) sign(M_ibc - M_kbc)      (k = j: every o_i)
                  = -sum_{j != k} (g_kb + g_jb) c_b(k, j) sign(M_kbc - M_jbc)

    (c symmetric, the sign odd). Dropping g_jb treats rows as independent and is
    wrong. Then, as for a linear map M = x T and the pass-through of x:

        dL/dT = x^T dL/dM,   dL/dx = dL/dy[:, :A] + dL/dM T^T,   dL/dbias_b = sum_i g_ib.

    |.| has a kink at 0: at M_ibc = M_jbc (two equal rows, say) the L1 distance
    is not differentiable and sign(0) = 0 is a subgradient; ``kink_gaps`` gives
    each row's distance from it (in M's units), so that a gradient check re-draws
    a batch with two equal rows, or two equal entries of M, as a whole.

    The released code (openai/improved-gan, nn.py MinibatchLayer), and where
    this layer follows or departs from it: T ~ N(0, ``init_std``) with 0.05 as
    there; bias starting at -1 as there; j = i excluded as there (the paper's
    sum includes it, which only adds 1 to every o_ib). Its data-dependent init is
    ``init_from_data(x)``: each kernel's columns of T divided by half the mean
    nearest-neighbour distance of the batch in that kernel, then bias_b set to
    minus the batch's mean o_ib, as there (mnist-paper calls it on a batch of
    training images before training; without it the o_ib start near N - 1 and
    plain SGD with the paper's rates diverges within 10 iterations; the toy
    presets do not: see ``presets._architecture``). Not here: the learned
    log-scale (B, C) (W = T exp(ls) / ||T|| over A): the init's scale goes into T
    itself.

    Memory and time: the textbook forward and backward each build the
    (N, N, B, C) differences M_ibc - M_jbc; for N = 100, B = 100, C = 5 that is
    5,000,000 numbers, 20 MB in float32 (40 MB in float64), with c (N, N, B) a
    fifth of that and kept for the backward. The fast twins
    (``minigan.fast.minibatch_discrimination``) go through the C axis one slice
    at a time and never hold more than a few (N, N, B) arrays. Measured with
    ``OPENBLAS_NUM_THREADS=1 python benchmarks/minibatch_discrimination_speed.py
    --repeats 30`` (N = 100, A = 192, B = 100, C = 5, float32; 2026-12-06, 2-core
    x86_64, NumPy 2.4.6, load average 5): peak memory of one forward + backward
    48.4 MB textbook, 15.6 MB fast; best time 45 ms textbook, 16 ms fast, against
    0.48 ms for a Linear(192, 292) (33 times that, fast). At the toy presets' size
    (``--n 256 --n-in 128 --kernels 5 --kernel-dim 3``; 2026-12-06 23:09 UTC, the same
    machine, load average 2.5): 5.3 ms fast (its (B, N, N) layout; 15.0 ms with the
    earlier (N, N, B) one, run just after), 15.6 ms textbook, 0.37 ms for the Linear.
    """

    couples_rows = True

    def __init__(self, n_in, kernels, kernel_dim, *, init_std=0.05, rng=None, dtype=None):
        super().__init__()
        self.n_in, self.kernels, self.kernel_dim = int(n_in), int(kernels), int(kernel_dim)
        if min(self.n_in, self.kernels, self.kernel_dim) < 1:
            raise ValueError(f"MinibatchDiscrimination needs n_in, kernels, kernel_dim >= 1, "
                             f"got {n_in}, {kernels}, {kernel_dim}")
        if not init_std > 0:
            raise ValueError(f"MinibatchDiscrimination init_std must be > 0, got {init_std!r}")
        self.init_std = float(init_std)
        shape = (self.n_in, self.kernels * self.kernel_dim)
        T = _host_rng(rng).normal(0.0, self.init_std, size=shape)     # drawn on the host: one seed, one T
        T = backend.to_device(T, dtype=dtype or backend.DEFAULT_DTYPE)
        self._add_param("T", T)
        self._add_param("bias", backend.array_module(T).full(self.kernels, -1.0, dtype=T.dtype))

    @property
    def n_out(self):
        return self.n_in + self.kernels

    def init_from_data(self, x):
        """The released code's data-dependent init, from a batch ``x`` (N >= 2, A) of the
        features this layer will see: for each kernel b, with D_ij,b = ||M_ib - M_jb||_1,

            s_b = (1/2) mean_i min_{j != i} D_ij,b,     T[:, b, :] <- T[:, b, :] / s_b

        (so that the mean nearest-neighbour distance becomes 2 in every kernel), then
        bias_b <- -mean_i sum_{j != i} exp(-D_ij,b) with the new T (o starts at mean 0
        over the batch). Changes only T and bias; keeps no cache. Returns (s, bias).
        """
        x = self._check(x, self.n_in)
        if len(x) < 2:
            raise ValueError(f"{self!r}.init_from_data needs a batch of at least 2 rows, got {len(x)}")
        xp = backend.array_module(x)
        M = self._M(x)
        n = len(M)
        dist = xp.abs(M[:, None, :, :] - M[None, :, :, :]).sum(axis=3)      # (N, N, B)
        dist[xp.arange(n), xp.arange(n)] = xp.inf                            # j != i
        s = 0.5 * dist.min(axis=1).mean(axis=0)                              # (B,)
        # a distance at rounding level (equal rows, whose products x T differ in the last bits) is 0
        if not bool(xp.all(s > 1e-6 * xp.abs(M).mean(axis=(0, 2)))):
            raise ValueError(f"{self!r}.init_from_data: in some kernel every row's nearest neighbour is at "
                             "distance 0 (equal rows): pass a batch of distinct rows")
        T = self.params["T"].reshape(self.n_in, self.kernels, self.kernel_dim)
        T /= s.astype(T.dtype)[None, :, None]
        bias = self.params["bias"]
        bias[...] = -similarities(self._M(x)).sum(axis=1).mean(axis=0)
        return s, bias.copy()

    def _M(self, x):
        """M = x T as (N, B, C)."""
        return (x @ self.params["T"]).reshape(len(x), self.kernels, self.kernel_dim)

    def forward(self, x):
        x = self._check(x, self.n_in)
        xp = backend.array_module(x)
        M = self._M(x)
        c = similarities(M)                                 # (N, N, B), zero diagonal
        o = c.sum(axis=1) + self.params["bias"]             # o_ib = sum_{j != i} c_b(i, j) + bias_b
        self._save(x, M, c)
        return xp.concatenate([x, o.astype(x.dtype, copy=False)], axis=1)

    def backward(self, grad_out, *, input_grad=True):
        """dL/dM_ibc = -sum_j (g_ib + g_jb) c_b(i, j) sign(M_ibc - M_jbc) with g = dL/do;
        dL/dT = x^T dL/dM; dL/dx = dL/dy[:, :A] + dL/dM T^T; dL/dbias = sum_i g_i
        (derivation in the class docstring). ``input_grad=False`` skips dL/dx."""
        x, M, c = self._load()
        n = len(x)
        self._check_grad(grad_out, (n, self.n_out), x.dtype)
        g = grad_out[:, self.n_in:]                         # dL/do, (N, B)
        grad_M = similarities_backward(M, c, g).reshape(n, -1)
        if self.requires_grad:
            self._accumulate_product("T", x.T, grad_M)      # x^T dL/dM
            self._accumulate("bias", g.sum(axis=0))
        if not input_grad:
            return None
        grad_x = grad_M @ self.params["T"].T
        grad_x += grad_out[:, :self.n_in]                   # the pass-through of x
        return grad_x

    def kink_gaps(self, x):
        """Per row i: min over j != i, b, c of |M_ibc - M_jbc| (where the L1 distance bends),
        shape (N, 1), float64 on the host; (1, 0) for a batch of one row (no other rows)."""
        h = np.asarray(backend.to_host(x), dtype=np.float64).reshape(len(x), -1)
        T = np.asarray(backend.to_host(self.params["T"]), dtype=np.float64)
        M = h @ T
        n = len(M)
        if n < 2:
            return np.zeros((n, 0))
        gaps = np.abs(M[:, None, :] - M[None, :, :]).min(axis=2)     # (N, N): min over b, c
        gaps[np.arange(n), np.arange(n)] = np.inf                    # j != i
        return gaps.min(axis=1)[:, None]

    def __repr__(self):
        return (f"MinibatchDiscrimination({self.n_in}, kernels={self.kernels}, "
                f"kernel_dim={self.kernel_dim})")
