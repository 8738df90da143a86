"""What a dropout mask costs, drawn as minigan draws it and from raw random bits.

``Dropout.forward`` draws m_i ~ Bernoulli(keep) as ``rng.random(shape, dtype) < keep``:
one float32 uniform per element. Cheaper ways to get a mask from NumPy's PCG64:

* **uint32 bits, the same mask**: a float32 uniform is (r >> 8) * 2^-24 for the
  generator's next 32-bit output r, so ``rng.integers(0, 2**32, dtype=uint32) <
  ceil(keep * 2^24) * 256`` is the same mask from the same outputs, and leaves
  the generator in the same state (checked here);
* **uint8 bytes**: one byte per element (``rng.bytes``), 4x fewer outputs, but a
  threshold t/256: keep 0.8 becomes 205/256 = 0.80078, and the stream differs;
* **single bits** for keep 0.5: ``np.unpackbits`` of ``rng.bytes(n / 8)``, 32x fewer
  outputs, exact, and again another stream.

The paper's D draws three masks per pass: 100 x 784 (keep 0.8) and twice
100 x 240 (keep 0.5).

    python benchmarks/dropout_masks.py
"""
from __future__ import annotations

import math
import os
import statistics
import sys
import time

import numpy as np

SHAPES = (((100, 784), 0.8), ((100, 240), 0.5))


def float_mask(rng, shape, keep):
    return rng.random(shape, dtype=np.float32) < np.float32(keep)


def uint32_mask(rng, shape, keep):
    threshold = math.ceil(float(np.float32(keep)) * 2 ** 24) * 256     # u < keep  <=>  r < threshold
    return rng.integers(0, 2 ** 32, shape, dtype=np.uint32) < np.uint32(min(threshold, 2 ** 32 - 1))


def byte_mask(rng, shape, keep):
    raw = np.frombuffer(rng.bytes(math.prod(shape)), dtype=np.uint8).reshape(shape)
    return raw < round(keep * 256)


def bit_mask(rng, shape, keep):
    assert keep == 0.5
    n = math.prod(shape)
    return np.unpackbits(np.frombuffer(rng.bytes(-(-n // 8)), dtype=np.uint8))[:n].reshape(shape).astype(bool)


def median_us(fn, rounds=301):
    rng = np.random.default_rng(0)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn(rng)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def main():
    print(f"date {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; numpy {np.__version__}")
    for shape, keep in SHAPES:
        a, b = np.random.default_rng(7), np.random.default_rng(7)
        same = np.array_equal(float_mask(a, shape, keep), uint32_mask(b, shape, keep))
        same_state = a.random() == b.random()
        print(f"\n{shape[0]} x {shape[1]}, keep {keep}: uint32 mask equal to the float one: {same}; "
              f"generator left in the same state: {same_state}")
        kinds = [("float32 uniforms (minigan)", float_mask), ("uint32 bits (same mask)", uint32_mask),
                 (f"uint8 bytes (keep {round(keep * 256)}/256 = {round(keep * 256) / 256:.5f})", byte_mask)]
        if keep == 0.5:
            kinds.append(("single bits (exact, 1 bit each)", bit_mask))
        base = None
        for name, fn in kinds:
            us = median_us(lambda rng: fn(rng, shape, keep))
            base = base or us
            print(f"  {name:<44} {us:8.1f} us  ({us / base:.2f} of minigan's)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
