"""Are a generator's samples better, or only blurrier? Statistics the Parzen score does not see.

    python benchmarks/sample_statistics.py --data-dir ../shared/data \
        benchmarks/runs/RUN/G_epoch100.npz benchmarks/runs/RUN/G_avg0.9999_epoch100.npz

The Parzen-window score of Table 1 rewards samples that sit a little inside
the data cloud: greyer, smoother images score higher without showing better
digits (Theis et al. 2016; what ``parzen_sensitivity.py`` measured for a 15%
dimming: benchmarks/RESULTS.md, "How far the estimator moves"). So beside each
generator (a ``G_*.npz`` that ``table1_parzen.py`` writes at every evaluation)
this prints, for 10,000 samples (z seed 777, as
``table1_parzen.py`` draws them) and for real images in the same columns:

* ``mean``: the mean pixel; ``>0.5``: the fraction of pixels above 0.5;
  ``grey``: the fraction strictly between 0.05 and 0.95 (blur raises it);
* ``TV``: total variation, the mean over images of sum |x[i+1,j] - x[i,j]| +
  |x[i,j+1] - x[i,j]| (blur lowers it);
* ``NN``: the mean Euclidean distance from 1,000 samples to their nearest
  training image (Figure 2's check: near 0 would be memorising; real
  validation images give the scale);
* a classifier's view: a 784-300-10 ReLU network trained here on
  train[0:50000] by ``minigan.train.ClassifierTrainer`` (8 epochs of momentum
  SGD; its validation accuracy printed; cached in ``--cache``):
  ``conf``, the mean top class probability (blurred, ambiguous digits lower
  it); ``score``, exp(E_x KL(p(y|x) || p(y))), which is high when each sample
  is one clear digit and all ten digits appear (at most 10; the "Inception
  score" with an MNIST classifier); ``classes``, the share of the commonest digit.

Nothing here trains or changes a generator.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from parzen_sensitivity import generator_from, generators_parser, parse_generator_args, sample  # noqa: E402

from minigan import losses, optim  # noqa: E402
from minigan.data.mnist import load_mnist  # noqa: E402
from minigan.layers import Linear, ReLU, Sequential, no_grad  # noqa: E402
from minigan.metrics import image_statistics, squared_distances  # noqa: E402
from minigan.train import ClassifierTrainer  # noqa: E402


def nearest_distance(x, train, block=250):
    """Mean distance from each row of x to its nearest row of train."""
    best = []
    for i in range(0, len(x), block):
        d2 = squared_distances(x[i:i + block], train)
        best.append(np.sqrt(np.maximum(d2.min(1), 0)))
    return float(np.concatenate(best).mean())


class Classifier:
    """784 -> 300 ReLU -> 10 class logits (minigan layers), trained by the package's
    ``ClassifierTrainer`` with momentum SGD and the softmax cross-entropy.

    Weights start He-normal, N(0, 2/784) and N(0, 1/300), biases at 0 (float32). Saved as
    the four arrays W1, b1, W2, b2 (``arr_0`` .. ``arr_3``), as this script always kept them.
    """

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.model = Sequential(Linear(784, 300, dtype=np.float32), ReLU(), Linear(300, 10, dtype=np.float32))
        first, last = self.model.layers[0], self.model.layers[2]
        first.params["W"][...] = rng.normal(0, np.sqrt(2 / 784), (784, 300))
        last.params["W"][...] = rng.normal(0, np.sqrt(1 / 300), (300, 10))
        first.params["b"][...] = last.params["b"][...] = 0
        self.trainer = None

    def params(self):
        first, last = self.model.layers[0], self.model.layers[2]
        return [first.params["W"], first.params["b"], last.params["W"], last.params["b"]]

    def probabilities(self, x):
        was = self.model.training
        self.model.eval()
        try:
            with no_grad():
                return losses.softmax(self.model.forward(x))
        finally:
            self.model.train(was)

    def fit(self, x, y, epochs=8, lr=0.1, momentum=0.9, m=100, seed=0, valid=None):
        """Minibatch SGD (v <- momentum v - lr g, theta <- theta + v) on the mean cross-entropy;
        ``valid`` (x, y) is scored after every epoch (``self.trainer.history``)."""
        self.trainer = ClassifierTrainer(self.model, optim.SGD(self.model, lr=lr, momentum=momentum),
                                         x, y, m=m, seed=seed, valid=valid)
        self.trainer.train(epochs)
        return self

    def save(self, path):
        np.savez(path, *self.params())

    @classmethod
    def load(cls, path):
        c = cls()
        with np.load(path) as z:
            for p, i in zip(c.params(), range(4)):
                p[...] = z[f"arr_{i}"]
        return c


def classifier_statistics(clf, x):
    p = clf.probabilities(x).astype(np.float64)
    marginal = p.mean(0)
    kl = (p * (np.log(p + 1e-12) - np.log(marginal + 1e-12))).sum(1)
    return {"conf": float(p.max(1).mean()), "score": float(np.exp(kl.mean())),
            "classes": float(np.bincount(p.argmax(1), minlength=10).max() / len(p))}


def main(argv=None):
    p = generators_parser(__doc__.splitlines()[0])
    p.add_argument("--cache", default=str(ROOT / "benchmarks" / "runs" / "mnist_classifier.npz"),
                   help="where the classifier is kept between runs")
    args = parse_generator_args(p, argv)
    train, labels = load_mnist("train", data_dir=args.data_dir)
    valid, valid_labels = load_mnist("valid", data_dir=args.data_dir)
    train, valid = train.astype(np.float32), valid.astype(np.float32)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, numpy {np.__version__}, {os.cpu_count()} CPUs")
    if os.path.exists(args.cache):
        clf = Classifier.load(args.cache)
    else:
        t = time.perf_counter()
        clf = Classifier().fit(train, labels.astype(np.int64))
        Path(args.cache).parent.mkdir(parents=True, exist_ok=True)
        clf.save(args.cache)
        print(f"# classifier trained in {time.perf_counter() - t:.0f} s, saved to {args.cache}")
    acc = float((clf.probabilities(valid).argmax(1) == valid_labels).mean())
    print(f"# classifier: validation accuracy {acc:.4f} (train[50000:60000])")
    cols = ("mean", ">0.5", "grey", "TV", "NN", "conf", "score", "classes")
    print(f"{'what':44s} " + " ".join(f"{c:>7s}" for c in cols))

    def row(label, x, nn_of):
        s = image_statistics(x)
        stats = {"mean": s["mean"], ">0.5": s["above_half"], "grey": s["grey"], "TV": s["tv"], "NN": nearest_distance(nn_of, train), **classifier_statistics(clf, x)}
        print(f"{label:44s} " + " ".join(f"{stats[c]:7.3f}" if c != "TV" else f"{stats[c]:7.1f}" for c in cols),
              flush=True)

    row("real: train[0:10000] (NN: 1,000 validation)", train[:10000], valid[:1000])
    for path in args.generators:
        x = sample(generator_from(path), 10000, 777, args.noise)
        row(Path(path).name, x, x[:1000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
