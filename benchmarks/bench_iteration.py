"""Time one Algorithm 1 iteration of the paper's MNIST GAN: minigan vs PyTorch.

The workload (issue 5): k = 1, sequential order (``--order simultaneous``: the
released code's order, what ``mnist-paper`` runs), batch 100, float32, the
paper's G (100-1200-1200-784) and D (dropout, maxout 240x5 twice, a logit),
momentum SGD (lr 0.1, mu 0.5: v <- mu v - lr g; theta <- theta + v) on both
players, the non-saturating G loss, synthetic data (uniform in [0, 1]) unless
``--data-dir`` points at MNIST.

What it does, in one process:

1. builds minigan's G and D and a PyTorch CPU eager copy of the *same* model
   and update, with the same initial weights (copied from minigan);
2. checks that both compute the same gradients and the same updated
   parameters from the same batch, noise and dropout masks (the masks are
   injected into both), in float64 and in float32;
3. times, interleaved (A, B, C, ... then again in a rotated order): minigan's
   ``GAN.step()``, the PyTorch eager step, the same step under
   ``torch.compile`` (unless ``--no-compile`` or it fails), and the
   "GEMM floor": the iteration's own matrix products replayed back to back
   with NumPy (only the products the order needs: no dL/dx of D's input for
   D's loss, no weight gradients of D for G's loss, no dL/dz);
4. prints the median ms per iteration of each and the median of the per-round
   ratios (a round is one block of every contestant, so a ratio compares
   figures taken seconds apart on a machine whose speed drifts).

PyTorch is a benchmark-only dependency (``pip install torch==2.13.0``, the
CPU wheel); minigan itself never imports it.

    python benchmarks/bench_iteration.py                    # CPU, all cores
    python benchmarks/bench_iteration.py --threads 1
    python benchmarks/bench_iteration.py --threads 1 --order simultaneous
    python benchmarks/bench_iteration.py --device cuda      # CuPy vs PyTorch CUDA, batch 100 and 1000
"""
from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS / OpenMP threads for NumPy and PyTorch (default: all cores)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cpu: minigan NumPy vs PyTorch CPU; cuda: minigan CuPy vs PyTorch CUDA")
    p.add_argument("--batch", type=int, nargs="+", default=None,
                   help="minibatch sizes m (default: 100 on cpu, 100 and 1000 on cuda)")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    p.add_argument("--iters", type=int, default=10, help="timed iterations per block (default 10)")
    p.add_argument("--warmup", type=int, default=2,
                   help="untimed iterations at the start of every block (default 2)")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--no-torch", action="store_true", help="minigan and the GEMM floor only")
    p.add_argument("--data-dir", default=os.environ.get("MINIGAN_DATA"),
                   help="folder holding mnist/train-images-idx3-ubyte.gz (default: $MINIGAN_DATA; "
                        "synthetic uniform data when unset)")
    p.add_argument("--order", choices=("sequential", "simultaneous"), default="sequential",
                   help="sequential: Algorithm 1 (D step, then a G step on fresh noise); simultaneous: "
                        "one x and one z, both players' gradients at the same parameters (mnist-paper's "
                        "default). Default: sequential")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None and ARGS.threads:          # must happen before NumPy / PyTorch load BLAS
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402

from minigan import backend, models, optim  # noqa: E402
from minigan.data import uniform_noise  # noqa: E402
from minigan.train import GAN  # noqa: E402

LR, MOMENTUM, NZ = 0.1, 0.5, 100
# float32: a maxout unit whose two best pieces differ by less than the rounding
# of the two BLAS libraries can pick a different winner and move its gradient to
# another column, so the float32 check is loose; float64 is the exact check.
F32_TOL = 1e-2
NOISE_RANGE = 3 ** 0.5                          # the paper's prior U(-sqrt 3, sqrt 3)^100


# ----------------------------------------------------------------------------- data
def load_images(data_dir, n=10000, seed=0):
    """n training images as float32 in [0, 1]: MNIST if ``data_dir`` is given, else uniform noise."""
    if not data_dir:
        return np.random.default_rng(seed).random((n, 784), dtype=np.float32), "synthetic U(0,1)"
    for folder in (os.path.join(data_dir, "mnist"), data_dir):
        path = os.path.join(folder, "train-images-idx3-ubyte.gz")
        if os.path.exists(path):
            with gzip.open(path, "rb") as f:
                raw = f.read()
            images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 784)[:n]
            return (images / np.float32(255)).astype(np.float32), f"MNIST ({path})"
    sys.exit(f"bench_iteration: no train-images-idx3-ubyte.gz in {data_dir} or {data_dir}/mnist")


class RowSampler:
    """p_data over a fixed pool of images: ``(m, rng) -> x``, rows drawn with replacement.

    The row indices come from its own host generator (the same on both backends).
    """

    def __init__(self, images, seed=0):
        self.images = images
        self.rng = np.random.default_rng(seed)

    def __call__(self, m, rng):
        idx = self.rng.integers(0, len(self.images), m)
        return self.images[backend.to_device(idx)]


class Queue:
    """A sampler that hands out prepared arrays in order (for the equality check)."""

    def __init__(self, *arrays):
        self.arrays = list(arrays)

    def __call__(self, m, rng):
        return self.arrays.pop(0)


# ----------------------------------------------------------------------------- minigan
def build_minigan(images, m, seed, dtype=np.float32, data_sampler=None, noise=None, order="sequential"):
    G = models.paper_mnist_generator(models.pixel_mean_logit(images), rng=seed, dtype=dtype)
    D = models.paper_mnist_discriminator(rng=seed + 1, dropout_seed=seed + 2, dtype=dtype)
    data = data_sampler or RowSampler(backend.to_device(images, dtype=dtype), seed + 3)
    noise = noise or uniform_noise(NZ, -NOISE_RANGE, NOISE_RANGE, dtype=dtype)
    return GAN(G, D, data, noise, d_optimizer=optim.SGD(D, LR, MOMENTUM),
               g_optimizer=optim.SGD(G, LR, MOMENTUM), k=1, m=m, seed=seed + 4, order=order)


def param_layers(net):
    return [layer for layer in net.layers if layer.params]


# ----------------------------------------------------------------------------- PyTorch
class TorchGAN:
    """The same model and update in PyTorch, written the way a PyTorch user would.

    Weights are copied from minigan's G and D (PyTorch's default initialisation
    diverges at lr 0.1). Maxout is view + max; dropout is ``F.dropout`` (inverted,
    scale 1/keep, the paper's 1.25 and 2) or a given mask; losses are from
    logits; gradients come from ``torch.autograd.grad`` with respect to the
    updated player only, so autograd computes exactly the products needed.
    """

    def __init__(self, torch, gan, images, device="cpu", seed=0):
        self.torch, self.F = torch, torch.nn.functional
        self.device = device
        self.m, self.order = gan.m, gan.order
        self.pieces = [(l.units, l.pieces) for l in param_layers(gan.D) if hasattr(l, "pieces")]
        self.keeps = [l.keep for l in gan.D.layers if hasattr(l, "keep")]

        def copy(net):
            return [torch.tensor(backend.to_host(p), device=device).requires_grad_()
                    for l in param_layers(net) for p in (l.params["W"], l.params["b"])]

        self.gp, self.dp = copy(gan.G), copy(gan.D)
        self.gv = [torch.zeros_like(p) for p in self.gp]
        self.dv = [torch.zeros_like(p) for p in self.dp]
        dtype = self.gp[0].dtype
        self.images = torch.tensor(backend.to_host(images), dtype=dtype, device=device)
        self.gen = torch.Generator(device=device).manual_seed(seed)
        self.ones = torch.ones(self.m, 1, dtype=dtype, device=device)
        self.zeros = torch.zeros(self.m, 1, dtype=dtype, device=device)
        self.masks = None            # list of 3 scaled masks to use instead of F.dropout
        self.update = self._sgd
        self.g_forward, self.d_forward = self._g_forward, self._d_forward

    # the two networks, as functions of their parameters
    def _g_forward(self, gp, z):
        W1, b1, W2, b2, W3, b3 = gp
        h = self.torch.relu(self.torch.addmm(b1, z, W1))
        h = self.torch.relu(self.torch.addmm(b2, h, W2))
        return self.torch.sigmoid(self.torch.addmm(b3, h, W3))

    def _drop(self, h, i, masks):
        if masks is not None:
            return h * masks[i]
        return self.F.dropout(h, p=1 - self.keeps[i], training=True)

    def _d_forward(self, dp, x, masks=None):
        V1, c1, V2, c2, V3, c3 = dp
        (u1, k1), (u2, k2) = self.pieces
        h = self.torch.addmm(c1, self._drop(x, 0, masks), V1).view(-1, u1, k1).max(dim=2).values
        h = self.torch.addmm(c2, self._drop(h, 1, masks), V2).view(-1, u2, k2).max(dim=2).values
        return self.torch.addmm(c3, self._drop(h, 2, masks), V3)

    def _sgd(self, params, velocity, grads, lr, mu):
        """v <- mu v - lr g;  theta <- theta + v (minigan's rule, multi-tensor ops)."""
        with self.torch.no_grad():
            self.torch._foreach_mul_(velocity, mu)
            self.torch._foreach_add_(velocity, grads, alpha=-lr)
            self.torch._foreach_add_(params, velocity)

    def d_loss(self, dp, x, fake, masks):
        bce = self.F.binary_cross_entropy_with_logits
        return bce(self.d_forward(dp, x, masks), self.ones) + bce(self.d_forward(dp, fake, masks), self.zeros)

    def g_loss(self, gp, dp, z, masks):
        return self.F.binary_cross_entropy_with_logits(self.d_forward(dp, self.g_forward(gp, z), masks), self.ones)

    def both_losses(self, gp, dp, z, x, masks):
        """The simultaneous order's two losses from one D(x) and one D(G(z))."""
        bce = self.F.binary_cross_entropy_with_logits
        a_fake = self.d_forward(dp, self.g_forward(gp, z), masks)
        d_loss = bce(self.d_forward(dp, x, masks), self.ones) + bce(a_fake, self.zeros)
        return d_loss, bce(a_fake, self.ones)

    def noise(self):
        z = self.torch.rand(self.m, NZ, generator=self.gen, dtype=self.gp[0].dtype, device=self.device)
        return z * (2 * NOISE_RANGE) - NOISE_RANGE

    def batch(self):
        idx = self.torch.randint(0, len(self.images), (self.m,), generator=self.gen, device=self.device)
        return self.images[idx]

    def step(self, z1=None, x=None, z2=None):
        """One iteration: a D step on (z1, x), then a G step on fresh noise z2 (sequential);
        or both players' gradients from (z1, x) at the same parameters, then both updates."""
        torch = self.torch
        z1 = self.noise() if z1 is None else z1
        x = self.batch() if x is None else x
        if self.order == "simultaneous":
            d_loss, g_loss = self.both_losses(self.gp, self.dp, z1, x, self.masks)
            self.d_grads = torch.autograd.grad(d_loss, self.dp, retain_graph=True)
            self.g_grads = torch.autograd.grad(g_loss, self.gp)
            self.update(self.dp, self.dv, self.d_grads, LR, MOMENTUM)
            self.update(self.gp, self.gv, self.g_grads, LR, MOMENTUM)
            return d_loss.item(), g_loss.item()
        with torch.no_grad():
            fake = self.g_forward(self.gp, z1)
        d_loss = self.d_loss(self.dp, x, fake, self.masks)
        self.d_grads = torch.autograd.grad(d_loss, self.dp)
        self.update(self.dp, self.dv, self.d_grads, LR, MOMENTUM)
        z2 = self.noise() if z2 is None else z2
        g_loss = self.g_loss(self.gp, self.dp, z2, self.masks)
        self.g_grads = torch.autograd.grad(g_loss, self.gp)
        self.update(self.gp, self.gv, self.g_grads, LR, MOMENTUM)
        return d_loss.item(), g_loss.item()

    def compile(self):
        """Compile both networks' losses and the update with torch.compile (inductor)."""
        c = self.torch.compile
        self.d_loss, self.g_loss, self.update = c(self.d_loss), c(self.g_loss), c(self._sgd)
        self.both_losses = c(self.both_losses)


# ----------------------------------------------------------------------------- equality check
def check_same(torch, images, m, seed, dtype, device, tol, compiled=False, order="sequential"):
    """Same weights, batch, noise and masks -> same gradients and updates. Returns max rel. error."""
    host = np.random.default_rng(seed + 100)
    z1 = host.uniform(-NOISE_RANGE, NOISE_RANGE, (m, NZ))
    z2 = host.uniform(-NOISE_RANGE, NOISE_RANGE, (m, NZ))
    x = images[host.integers(0, len(images), m)]
    xp = backend.xp
    dev = [xp.asarray(a, dtype=dtype) for a in (z1, x, z2)]
    gan = build_minigan(images, m, seed, dtype, data_sampler=Queue(dev[1]), noise=Queue(dev[0], dev[2]),
                        order=order)
    drops = [l for l in gan.D.layers if hasattr(l, "keep")]
    masks = [host.random((m, n)) < l.keep for l, n in zip(drops, (784, 240, 240))]
    for layer, mask in zip(drops, masks):
        layer.fixed_mask = xp.asarray(mask, dtype=dtype)
    ref = TorchGAN(torch, gan, images, device, seed)
    if compiled:
        ref.compile()
    tt = lambda a: torch.tensor(np.asarray(a), dtype=ref.gp[0].dtype, device=device)  # noqa: E731
    ref.masks = [tt(mk * l.scale) for mk, l in zip(masks, drops)]
    gan.step()
    ref.step(tt(z1), tt(x), tt(z2))

    def rel(ours, theirs):
        a, b = backend.to_host(ours).astype(np.float64), theirs.detach().cpu().double().numpy()
        return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))

    errs = {}
    for who, net, grads, params in (("D", gan.D, ref.d_grads, ref.dp), ("G", gan.G, ref.g_grads, ref.gp)):
        ours = [(l.grads[k], l.params[k]) for l in param_layers(net) for k in ("W", "b")]
        errs[f"{who} grads"] = max(rel(g, t) for (g, _), t in zip(ours, grads))
        errs[f"{who} params after"] = max(rel(p, t) for (_, p), t in zip(ours, params))
    worst = max(errs.values())
    label = f"{np.dtype(dtype).name}{' compiled' if compiled else ''}, {order}"
    print(f"  equality check ({label}): " + ", ".join(f"{k} {v:.1e}" for k, v in errs.items())
          + f"  -> {'OK' if worst < tol else 'MISMATCH'} (tolerance {tol:g})")
    return worst < tol


# ----------------------------------------------------------------------------- GEMM floor
def gemm_plan(gan):
    """The matrix products of one k=1 iteration in ``gan.order``, as (name, M, K, N, layout).

    layout "NN": (M,K) @ (K,N) forward; "TN": x^T @ g weight gradient (x stored (K,M));
    "NT": g @ W^T input gradient (W stored (N,K)). Only the products the order needs.
    """
    m = gan.m
    G = [(l.params["W"].shape) for l in param_layers(gan.G)]
    D = [(l.params["W"].shape) for l in param_layers(gan.D)]
    fwd = lambda shapes, tag: [(f"{tag} fwd", m, a, b, "NN") for a, b in shapes]  # noqa: E731
    plan = fwd(G, "G") + fwd(D, "D(x)") + fwd(D, "D(G(z))")
    for batch in ("D(G(z))", "D(x)"):                # D's loss: weight grads, no dL/dx at the input
        for i, (a, b) in reversed(list(enumerate(D))):
            plan.append((f"{batch} dW", a, m, b, "TN"))
            if i > 0:
                plan.append((f"{batch} dx", m, b, a, "NT"))
    if gan.order != "simultaneous":                  # G step on fresh noise; simultaneous: the same D(G(z))
        plan += fwd(G, "G") + fwd(D, "D(G(z))")
    plan += [("frozen D dx", m, b, a, "NT") for a, b in reversed(D)]
    for i, (a, b) in reversed(list(enumerate(G))):
        plan.append(("G dW", a, m, b, "TN"))
        if i > 0:
            plan.append(("G dx", m, b, a, "NT"))
    return plan


class GemmFloor:
    """Replays the plan's products back to back (operands and outputs preallocated)."""

    def __init__(self, plan, xp, dtype):
        rng = np.random.default_rng(0)
        self.xp, self.calls = xp, []
        rand = lambda *s: xp.asarray(rng.random(s), dtype=dtype)  # noqa: E731
        for _, M, K, N, layout in plan:
            if layout == "NN":
                a, b = rand(M, K), rand(K, N)
            elif layout == "TN":
                a, b = rand(K, M).T, rand(K, N)                  # a = x^T, x stored (K, M)
            else:
                a, b = rand(M, K), rand(N, K).T                  # b = W^T, W stored (N, K)
            self.calls.append((a, b, xp.empty((M, N), dtype=dtype)))
        self.flops = sum(2 * M * K * N for _, M, K, N, _ in plan)

    def step(self):
        for a, b, out in self.calls:
            self.xp.matmul(a, b, out=out)


# ----------------------------------------------------------------------------- timing
def interleaved(contestants, rounds, iters, warmup, sync):
    """{name: [ms per iteration, one per round]}; the order rotates every round."""
    names = list(contestants)
    times = {n: [] for n in names}
    for r in range(rounds):
        for n in names[r % len(names):] + names[:r % len(names)]:
            fn = contestants[n]
            for _ in range(warmup):
                fn()
            sync()
            t0 = time.perf_counter()
            for _ in range(iters):
                fn()
            sync()
            times[n].append((time.perf_counter() - t0) / iters * 1e3)
    return times


def report(times, reference_pairs, floor_flops=None):
    med = {n: statistics.median(v) for n, v in times.items()}
    for n, v in times.items():
        extra = ""
        if n == "GEMM floor" and floor_flops:
            extra = f"  ({floor_flops / 1e9:.2f} GFLOP, {floor_flops / med[n] / 1e6:.0f} GFLOP/s)"
        print(f"  {n:<16} median {med[n]:7.2f} ms/iter   rounds: "
              + " ".join(f"{t:.1f}" for t in v) + extra)
    for a, b in reference_pairs:
        if a in times and b in times:
            ratios = [x / y for x, y in zip(times[a], times[b])]
            print(f"  {a} / {b}: median of per-round ratios {statistics.median(ratios):.3f} "
                  f"(range {min(ratios):.3f}-{max(ratios):.3f}); ratio of medians {med[a] / med[b]:.3f}")


def versions(torch):
    import platform
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = ""
    try:
        cfg = np.show_config(mode="dicts")
        blas = f" ({cfg['Build Dependencies']['blas']['name']} {cfg['Build Dependencies']['blas']['version']})"
    except Exception:  # noqa: BLE001 -- informational only
        pass
    print(f"date {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; {model}, {os.cpu_count()} logical CPUs; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"python {platform.python_version()}, numpy {np.__version__}{blas}, "
          f"torch {torch.__version__ if torch else 'not used'}")


def run_cpu(args, torch):
    threads = args.threads or os.cpu_count()
    if torch is not None:
        torch.set_num_threads(threads)
    images, source = load_images(args.data_dir, seed=args.seed)
    for m in args.batch or [100]:
        print(f"\n== CPU, minigan NumPy vs PyTorch CPU; batch {m}, float32, {threads} thread(s), "
              f"{args.order} order, data {source}")
        gan = build_minigan(images, m, args.seed, order=args.order)
        contestants = {"minigan": gan.step}
        if torch is not None:
            print("checking that both compute the same iteration (same weights, batch, noise, masks):")
            ok = check_same(torch, images, m, args.seed, np.float64, "cpu", 1e-9, order=args.order)
            ok &= check_same(torch, images, m, args.seed, np.float32, "cpu", F32_TOL, order=args.order)
            if not ok:
                sys.exit("bench_iteration: minigan and PyTorch disagree; not timing")
            contestants["torch eager"] = TorchGAN(torch, gan, images, "cpu", args.seed).step
            if not args.no_compile:
                contestants.update(compiled(torch, gan, images, m, args.seed, "cpu", args.order))
        floor = GemmFloor(gemm_plan(gan), np, np.float32)
        contestants["GEMM floor"] = floor.step
        times = interleaved(contestants, args.rounds, args.iters, args.warmup, lambda: None)
        print(f"timing: {args.rounds} interleaved rounds x {args.iters} iterations "
              f"(+{args.warmup} untimed per block)")
        report(times, [("minigan", "torch eager"), ("minigan", "torch compile"),
                       ("minigan", "GEMM floor"), ("torch eager", "GEMM floor")], floor.flops)


def compiled(torch, gan, images, m, seed, device, order="sequential"):
    """{"torch compile": step} if torch.compile works here, else {} with the reason printed."""
    t0 = time.perf_counter()
    try:
        ok = check_same(torch, images, m, seed, np.float32, device, F32_TOL, compiled=True, order=order)
        ref = TorchGAN(torch, gan, images, device, seed)
        ref.compile()
        ref.step()
        ref.step()
    except Exception as exc:  # noqa: BLE001 -- report and go on without it
        print(f"  torch.compile failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
              "timing without it")
        return {}
    print(f"  torch.compile: ready in {time.perf_counter() - t0:.0f} s (both checks and compilations)")
    if not ok:
        print("  torch.compile disagrees with minigan; not timing it")
        return {}
    return {"torch compile": ref.step}


def run_cuda(args, torch):
    if torch is None or not torch.cuda.is_available():
        print("skipped: the CUDA comparison needs PyTorch with CUDA and a visible GPU "
              f"({'torch not importable' if torch is None else 'torch.cuda.is_available() is False'})")
        return 0
    if not backend.cupy_available():
        print("skipped: the CUDA comparison needs CuPy and a visible GPU (pip install 'minigan[gpu]')")
        return 0
    import cupy
    backend.use("cupy")
    sync = lambda: (cupy.cuda.Device().synchronize(), torch.cuda.synchronize())  # noqa: E731
    images, source = load_images(args.data_dir, seed=args.seed)
    print(f"GPU: {torch.cuda.get_device_name()}, cupy {cupy.__version__}, CUDA runtime "
          f"{cupy.cuda.runtime.runtimeGetVersion()}")
    for m in args.batch or [100, 1000]:
        print(f"\n== CUDA, minigan CuPy vs PyTorch CUDA; batch {m}, float32, {args.order} order, data {source}")
        gan = build_minigan(images, m, args.seed, order=args.order)
        print("checking that both compute the same iteration (same weights, batch, noise, masks):")
        ok = check_same(torch, images, m, args.seed, np.float64, "cuda", 1e-9, order=args.order)
        ok &= check_same(torch, images, m, args.seed, np.float32, "cuda", F32_TOL, order=args.order)
        if not ok:
            sys.exit("bench_iteration: minigan and PyTorch disagree; not timing")
        contestants = {"minigan": gan.step, "torch eager": TorchGAN(torch, gan, images, "cuda", args.seed).step}
        if not args.no_compile:
            contestants.update(compiled(torch, gan, images, m, args.seed, "cuda", args.order))
        floor = GemmFloor(gemm_plan(gan), cupy, np.float32)
        contestants["GEMM floor"] = floor.step
        times = interleaved(contestants, args.rounds, args.iters, args.warmup, sync)
        report(times, [("minigan", "torch eager"), ("minigan", "torch compile"),
                       ("minigan", "GEMM floor")], floor.flops)
    return 0


def main(args):
    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("PyTorch is not installed (pip install torch==2.13.0); timing minigan and the floor only")
    versions(torch)
    if args.device == "cuda":
        return run_cuda(args, torch)
    backend.use("numpy")
    run_cpu(args, torch)
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
