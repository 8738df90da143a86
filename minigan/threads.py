"""How many threads NumPy's matrix products run on (the BLAS: OpenBLAS in NumPy's
wheels), chosen from the size of the work.

A product ``(m, k) @ (k, n)`` is split among the BLAS's threads and returns when the
last part is done. A toy preset's products are small (``256 x 128 @ 128 x 128``,
4.2 M multiply-adds, about 0.3 ms on one core): a second thread gains nothing, and
on a machine busy with other work it has to wait for a core, and every product waits
for it (that product 2.2x slower, ``minigan train ring8`` about 6x; lesson 06 took
659 s against 114 s). The paper's MNIST model's products (``100 x 784 @ 784 x 1200``,
94 M) gain from every core of an idle machine. Measured: benchmarks/RESULTS.md,
"BLAS threads from the size of the work".

The rule (``policy_threads``)::

    threads = 1      if the largest product of a training step has fewer than
                     LARGE_PRODUCT (2**24, 16.8 M) multiply-adds
            = cores  otherwise (the cores this process may run on)

Who decides, the first that applies (``choose``):

1. ``--threads N`` (``minigan train`` and ``minigan resume``);
2. ``MINIGAN_BLAS_THREADS=N``;
3. ``OPENBLAS_NUM_THREADS``, then ``OMP_NUM_THREADS``, when set: OpenBLAS read them
   when it loaded, and the BLAS is left as it started;
4. the rule above.

The count changes the results: a product's sums are added in another order on
another number of threads, float32 rounds them differently, and a GAN amplifies the
difference over thousands of steps (lesson 07's samples differ visibly between 1 and
2 threads). So the count is chosen from what is computed, never from how busy the
machine is at the moment, and every run records it (``config.json``). The reference
results (the lessons' expected printouts, a run compared across machines) are the
one-thread ones: ``MINIGAN_BLAS_THREADS=1`` (or ``--threads 1``) pins it.

The count is set once for a whole run, through threadpoolctl (the library
scikit-learn uses to set its BLAS's threads after NumPy has loaded it; it finds
OpenBLAS, MKL or BLIS under their builds' symbol names). Not per product: a
``threadpool_limits`` context costs about 1 ms, more than a toy product.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

__all__ = ["LARGE_PRODUCT", "ENV", "BlasThreads", "cores", "products", "policy_threads", "choose",
           "apply", "use_blas_threads", "restored", "blas_pool", "lesson_products", "use_in_lesson"]

LARGE_PRODUCT = 2 ** 24          # multiply-adds of the largest product from which threads pay
ENV = "MINIGAN_BLAS_THREADS"
BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")     # read by OpenBLAS when it loads, in this order

# The lessons' largest products (m, k, n): the toy networks on a minibatch of 256 (lessons 03-06, 10),
# and the paper's MNIST model on a minibatch of 100 (the MNIST lessons: 07-09, 11).
TOY_PRODUCT = (256, 128, 128)
MNIST_PRODUCT = (100, 784, 1200)


@dataclass(frozen=True)
class BlasThreads:
    """A run's BLAS thread count and where it came from (``source``: ``"--threads"``,
    ``"MINIGAN_BLAS_THREADS"``, ``"OPENBLAS_NUM_THREADS"``, ``"OMP_NUM_THREADS"`` or
    ``"size of the work: ..."``); ``pool``: the BLAS pools' sizes read back once it is
    applied (None where the BLAS cannot be read)."""
    threads: int
    source: str
    pool: tuple | None = None

    def as_config(self):
        """What ``config.json`` records."""
        return {"threads": self.threads, "from": self.source,
                "pool": None if self.pool is None else list(self.pool)}


def cores():
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:              # not on Linux
        return os.cpu_count() or 1


def products(trainer):
    """The matrix products of one training step, ``[(m, k, n), ...]``: the minibatch
    ``trainer.m`` times each 2-D weight ``(k, n)`` of the trainer's networks (every
    ``Layer`` attribute: a GAN's G and D, an autoencoder's encoder and decoder)."""
    from .layers import Layer
    m = int(trainer.m)
    found = []
    for net in vars(trainer).values():
        if isinstance(net, Layer):
            found += [(m, *w.shape) for w in net.params.values() if getattr(w, "ndim", 0) == 2]
    return found


def policy_threads(shapes, n_cores=None):
    """1 if the largest product in ``shapes`` (``(m, k, n)`` each) has fewer than
    ``LARGE_PRODUCT`` multiply-adds, else ``n_cores`` (default: ``cores()``)."""
    n_cores = cores() if n_cores is None else int(n_cores)
    largest = max((m * k * n for m, k, n in shapes), default=0)
    return 1 if largest < LARGE_PRODUCT else max(1, n_cores)


def _count(value, where):
    try:
        n = int(str(value).strip())
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{where} must be a positive integer (BLAS threads), got {value!r}")
    return n


def choose(shapes, flag=None, environ=None, n_cores=None):
    """The ``BlasThreads`` for a run whose products are ``shapes``: ``flag`` (``--threads``),
    else ``MINIGAN_BLAS_THREADS``, else ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS``, else
    ``policy_threads``. ``environ`` defaults to ``os.environ``. A bad count is a ValueError
    naming where it came from."""
    environ = os.environ if environ is None else environ
    if flag is not None:
        return BlasThreads(_count(flag, "--threads"), "--threads")
    if environ.get(ENV, "").strip():
        return BlasThreads(_count(environ[ENV], ENV), ENV)
    for name in BLAS_ENV:               # read as OpenBLAS reads them (the leading number; "4,2" is 4)
        value = environ.get(name, "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            return BlasThreads(int(value), name)
    largest = max(shapes, key=lambda s: s[0] * s[1] * s[2], default=None)
    n = policy_threads(shapes, n_cores)
    if largest is None:
        return BlasThreads(n, "size of the work: no matrix product")
    m, k, n_ = largest
    side = "<" if m * k * n_ < LARGE_PRODUCT else ">="
    return BlasThreads(n, f"size of the work: largest product {m} x {k} @ {k} x {n_}, "
                          f"{m * k * n_ / 1e6:.1f} M multiply-adds {side} {LARGE_PRODUCT / 1e6:.1f} M")


def blas_pool():
    """The thread count of each BLAS NumPy has loaded (a tuple), or None where it cannot
    be read (threadpoolctl absent, or no BLAS it knows)."""
    try:
        import threadpoolctl
    except ImportError:
        return None
    import numpy  # noqa: F401  (loads the BLAS)
    pools = tuple(i["num_threads"] for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas")
    return pools or None


def apply(choice):
    """Set the BLAS pool to ``choice.threads`` for the rest of the process (nothing to set
    when the count came from OpenBLAS's own variables: it started with it); returns the
    choice with the pool sizes read back."""
    if choice.source not in BLAS_ENV:
        try:
            import threadpoolctl
        except ImportError:             # a dependency (setup.cfg); said, not hidden, where it is missing
            return BlasThreads(choice.threads, choice.source + " (not applied: threadpoolctl is not installed)")
        import numpy  # noqa: F401
        threadpoolctl.threadpool_limits(limits=choice.threads, user_api="blas")
    return BlasThreads(choice.threads, choice.source, blas_pool())


def use_blas_threads(trainer, flag=None):
    """``apply(choose(products(trainer), flag))``: what ``minigan train`` and ``resume`` do
    once the run is built. A bad count is a ValueError."""
    return apply(choose(products(trainer), flag))


@contextlib.contextmanager
def restored():
    """Leave the BLAS pools as they were found when the block ends (a command run inside
    another program, a test, leaves its thread count behind)."""
    try:
        import threadpoolctl
    except ImportError:
        yield
        return
    import numpy  # noqa: F401
    with threadpoolctl.threadpool_limits(limits=None):
        yield


def lesson_products(mnist):
    """The largest product of a lesson's networks: the paper's MNIST model (``mnist``: the
    lessons that read MNIST) or the toy networks."""
    return [MNIST_PRODUCT if mnist else TOY_PRODUCT]


def use_in_lesson(lesson, *, mnist=False):
    """Apply the rule to a lesson (``minigan.lesson_io.parser`` calls it); when it runs on
    more than one thread, say so: its numbers differ from the printout it documents, which
    is the one-thread one."""
    import sys
    try:
        choice = apply(choose(lesson_products(mnist)))
    except ValueError as exc:
        print(f"lesson {lesson}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    if choice.threads != 1:
        print(f"lesson {lesson}: matrix products on {choice.threads} BLAS threads ({choice.source}); "
              f"its numbers and pictures differ from the one-thread run the lesson documents (float sums "
              f"in another order): {ENV}=1 gives that one")
    return choice
