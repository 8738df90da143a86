"""How far the Parzen-window score of Table 1 moves for reasons other than a better model.

    python benchmarks/parzen_sensitivity.py --data-dir ../shared/data \
        benchmarks/runs/table1-simultaneous-s0/G_epoch{240,250,260,270}.npz

Each G_epochNNN.npz is a generator's parameters as ``table1_parzen.py`` writes
them at every evaluation (the mnist-paper G). For the first file it measures,
with the paper's protocol (``minigan.metrics.parzen_protocol``: 10,000 samples,
sigma chosen on train[50000:51000], the 10,000 test images):

1. the spread over the noise draw: the same G, five different sets of z;
2. the spread over the checkpoint: each file, the same z (seed 777, as
   ``table1_parzen.py`` draws them);
3. the contrast of the samples: G's samples and 10,000 real training images,
   each multiplied by c = 1, 0.95, 0.9, 0.85, 0.8 (pixels pulled towards black:
   a washed-out sample), which changes nothing about which digits they show.

It prints one line per evaluation and a summary; nothing is trained.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minigan import backend, models, presets  # noqa: E402
from minigan.layers import no_grad  # noqa: E402
from minigan.data.mnist import load_mnist  # noqa: E402
from minigan.metrics import parzen_protocol  # noqa: E402

SCALES = (1.0, 0.95, 0.9, 0.85, 0.8)


def generator_from(path):
    G = models.paper_mnist_generator()
    with np.load(path) as saved:
        missing = sorted(set(G.params) - set(saved.files))
        if missing:
            raise SystemExit(f"{path}: not a mnist-paper generator (no {', '.join(missing)})")
        for key, value in G.params.items():
            value[...] = backend.to_device(saved[key], dtype=value.dtype)
    G.eval()
    return G


def sample(G, n, seed, prior="uniform"):
    """n samples with z from the mnist-paper prior named ``prior``, drawn as GAN.sample draws them
    (G_epochNNN.npz does not say which prior its run used, so --noise must)."""
    with no_grad():
        z = presets.mnist_paper_noise(prior)(n, backend.default_rng(seed))
        return backend.to_host(G.forward(z)).astype(np.float32)


def generators_parser(description):
    """The arguments of a script that reads G_*.npz files and MNIST: generators, --data-dir, --noise."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("generators", nargs="+", help="G_*.npz files (parameters of the mnist-paper G)")
    p.add_argument("--data-dir", default=os.environ.get("MINIGAN_DATA"),
                   help="folder holding mnist/ (default: $MINIGAN_DATA)")
    p.add_argument("--noise", choices=presets.MNIST_PAPER_NOISE, default="uniform",
                   help="the noise prior the generators were trained with (default uniform, the preset's)")
    return p


def parse_generator_args(p, argv):
    args = p.parse_args(argv)
    if not args.data_dir:
        p.error("give --data-dir (a folder with mnist/) or set MINIGAN_DATA")
    return args


def main(argv=None):
    p = generators_parser(__doc__.splitlines()[0])
    p.add_argument("--noise-seeds", type=int, default=5)
    args = parse_generator_args(p, argv)
    train, _ = load_mnist("train", data_dir=args.data_dir)
    valid, _ = load_mnist("valid", data_dir=args.data_dir)
    test, _ = load_mnist("test", data_dir=args.data_dir)
    valid = valid[:1000]
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs; the paper's protocol, 10,000 samples per estimate")

    def score(label, samples):
        t = time.perf_counter()
        r = parzen_protocol(samples, valid, test)
        print(f"{label:58s} {r.ll:7.1f} +- {r.se:.1f}  sigma {r.sigma:.4f}  ({time.perf_counter() - t:.1f} s)",
              flush=True)
        return r.ll

    first = generator_from(args.generators[0])
    name = Path(args.generators[0]).name
    by_noise = [score(f"1. {name}, noise seed {s}", sample(first, 10000, s, args.noise))
                for s in range(args.noise_seeds)]
    by_ckpt = [score(f"2. {Path(f).name}, noise seed 777", sample(generator_from(f), 10000, 777, args.noise))
               for f in args.generators]
    g = sample(first, 10000, 777, args.noise)
    real = train[:10000]
    by_scale = [(c, score(f"3. {name} samples x {c}", g * np.float32(c)),
                 score(f"3. real training images x {c}", real * np.float32(c))) for c in SCALES]

    print("\n# summary (nats)")
    print(f"noise draw:  {len(by_noise)} draws, range {min(by_noise):.1f} .. {max(by_noise):.1f} "
          f"(spread {max(by_noise) - min(by_noise):.1f}, std {np.std(by_noise, ddof=1):.1f})")
    if len(by_ckpt) > 1:
        print(f"checkpoint:  {len(by_ckpt)} files, range {min(by_ckpt):.1f} .. {max(by_ckpt):.1f} "
              f"(spread {max(by_ckpt) - min(by_ckpt):.1f})")
    g1, r1 = by_scale[0][1], by_scale[0][2]
    for c, gl, rl in by_scale:
        print(f"contrast x {c:4.2f}:  G {gl:7.1f} ({gl - g1:+6.1f})   real images {rl:7.1f} ({rl - r1:+6.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
