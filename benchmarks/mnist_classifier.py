"""Train (or load from the cache) the MNIST feature classifier and print its test accuracy.

    OPENBLAS_NUM_THREADS=2 python benchmarks/mnist_classifier.py --data-dir ../shared/data
    python benchmarks/mnist_classifier.py --retrain      # train again even if cached

The classifier is ``minigan.metrics.mnist_classifier()`` (its settings and why: the docstring of
``minigan/metrics/classifier.py``): trained the first time, one line per epoch (training loss and
accuracy, accuracy on train[50000:60000]), then cached as ``mnist_classifier_seed0.npz`` in
``$XDG_CACHE_HOME/minigan`` (``~/.cache/minigan``) or ``--cache-dir``. The metrics load it from there.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minigan.metrics.classifier import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
