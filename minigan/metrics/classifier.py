"""The MNIST classifier whose feature space the sample-quality metrics use.

No Inception network can be downloaded here, and on MNIST none is needed: the
field computes the Inception score, FID and precision/recall in the feature
space of an MNIST classifier. This is ours, built from minigan's own layers and
trained by minigan's own ``ClassifierTrainer``::

    clf = mnist_classifier()            # trained the first time (minutes), then loaded from the cache
    clf.test_accuracy                   # on the 10,000 MNIST test images
    f = clf.features(images)            # (n, 128) float64: the feature layer, eval mode
    p = clf.probabilities(images)       # (n, 10): p(y | x), the softmax of the logits

The network (default settings)::

    x (784) -> Dropout(keep 0.8) -> Linear 784x1024 -> ReLU -> Dropout(keep 0.5)
            -> Linear 1024x128 -> ReLU  = the features (128) -> Dropout(keep 0.5)
            -> Linear 128x10 = class logits

Why a 128-wide feature layer: FID fits a mean and a covariance to each set of
features, and the covariance of d features has d (d + 1) / 2 entries. With the
10,000 samples a score uses, 128 features give 8,256 entries estimated from
10,000 x 128 = 1.28 million numbers (about 78 samples per dimension): the
sample covariance is full rank and its estimation noise is small. The
Inception network's 2,048 features would need more than 2,048 samples just to
be full rank, and FID's bias from a finite N grows with the dimension (Chong and
Forsyth 2020). Much narrower (below 64), the layer keeps less of what tells one
image from another than the metrics are meant to see (not measured here). The
wide 1024 layer before it carries the accuracy.

Training: Adam (beta1 0.9), its step size multiplied by ``lr_decay`` after every
epoch, minibatches of 100 from ``train`` (train[0:50000]), the softmax
cross-entropy; ``valid`` (train[50000:60000]) is scored after every epoch (the
trainer's history), and ``test`` (t10k) is scored once, at the end: that is the
``test_accuracy`` stored and reported. Every random draw (the initial weights,
the dropout masks, the shuffles) comes from ``seed``: on NumPy the same
settings and data give the same weights, bit for bit.

Its test accuracy and training time: benchmarks/RESULTS.md, "MNIST feature
classifier" (``python benchmarks/mnist_classifier.py`` trains it).

The cache: ``mnist_classifier_seed<seed>.npz`` in ``cache_dir`` (default
``$XDG_CACHE_HOME/minigan``, i.e. ``~/.cache/minigan``, the folder MNIST itself is
looked for in), written atomically with ``allow_pickle=False`` contents: the
weights, the settings and a fingerprint of the data (as JSON text), the test
accuracy and the training history. A file is reused only when its settings and
data fingerprint equal the requested ones; a file whose settings differ, that
was trained on other data, or that cannot be read, is retrained and replaced,
never trusted.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import time
from pathlib import Path

import numpy as np

from .. import backend, losses, optim
from ..checkpoint.atomic import atomic_write
from ..data.mnist import IDXError, load_mnist
from ..layers import Dropout, Linear, ReLU, Sequential, evaluating
from ..train import ClassifierTrainer
from ..train.classifier import CLASSIFIER_FIELDS
from ..train.history import History

__all__ = ["MNISTClassifier", "mnist_classifier", "build_classifier_network", "DEFAULT_SETTINGS",
           "ClassifierNotCached", "classifier_cache_path", "FORMAT"]

FORMAT = "minigan-mnist-classifier-1"

DEFAULT_SETTINGS = {
    "hidden": [1024],        # the hidden layers before the feature layer
    "features": 128,         # the feature layer's width (see the module docstring)
    "keep_input": 0.8,       # dropout keep probability on the pixels
    "keep_hidden": 0.5,      # ... on every hidden layer, the feature layer included
    "epochs": 30,
    "lr": 1e-3,              # Adam's step size in the first epoch
    "lr_decay": 0.9,         # ... multiplied by this after every epoch
    "beta1": 0.9,
    "m": 100,                # minibatch size
    "train_split": "train",  # what it is trained on (load_mnist's split names)
    "n_train": None,         # None: the whole split; an integer: its first n_train rows (tests)
}


class ClassifierNotCached(LookupError):
    """No usable cached classifier, and training was not allowed."""


def _normalise(settings):
    s = dict(settings)
    s["hidden"] = [int(h) for h in s["hidden"]]
    for k in ("features", "epochs", "m"):
        s[k] = int(s[k])
    for k in ("keep_input", "keep_hidden", "lr", "lr_decay", "beta1"):
        s[k] = float(s[k])
    s["n_train"] = None if s["n_train"] is None else int(s["n_train"])
    s["train_split"] = str(s["train_split"])
    return s


def build_classifier_network(settings, seed=0, dtype=np.float32):
    """The Sequential of ``settings`` with weights and dropout generators from ``seed``;
    returns (network, index just past the feature layer's ReLU)."""
    init, *drops = np.random.SeedSequence([int(seed), 17]).spawn(len(settings["hidden"]) + 3)
    init = np.random.default_rng(init)
    widths = [784, *settings["hidden"], settings["features"]]
    layers = [Dropout(settings["keep_input"], rng=backend.default_rng(drops[0].generate_state(1)[0]))]
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        if i > 0:
            layers.append(Dropout(settings["keep_hidden"],
                                  rng=backend.default_rng(drops[i].generate_state(1)[0])))
        layers += [Linear(a, b, rng=init, dtype=dtype), ReLU()]
    feature_end = len(layers)
    layers += [Dropout(settings["keep_hidden"], rng=backend.default_rng(drops[-1].generate_state(1)[0])),
               Linear(widths[-1], 10, rng=init, dtype=dtype)]
    return Sequential(*layers), feature_end


class MNISTClassifier:
    """A trained classifier: ``features(x)``, ``probabilities(x)``, ``predict(x)``,
    ``test_accuracy``, ``settings``, ``seed``, ``history`` (one row per training epoch),
    ``path`` (its cache file) and ``trained`` (True when this call trained it, False when loaded)."""

    def __init__(self, network, feature_end, settings, seed, *, test_accuracy=float("nan"),
                 history=None, data=None, path=None, trained=False, train_seconds=float("nan"), block=2000):
        self.network, self.feature_end = network, feature_end
        self.settings, self.seed, self.data = settings, seed, data
        self.test_accuracy, self.history = float(test_accuracy), history
        self.path, self.trained, self.train_seconds, self.block = path, trained, float(train_seconds), int(block)

    @property
    def width(self):
        return self.settings["features"]

    def _blocks(self, x, upto):
        x = x if hasattr(x, "reshape") else np.asarray(x)
        x = x.reshape(len(x), -1)
        if x.shape[1] != 784:
            raise ValueError(f"MNIST images must have 784 pixels a row, got shape {x.shape}")
        dtype = self.network.dtype
        out = []
        with evaluating(self.network):
            for i in range(0, len(x), self.block):
                h = backend.to_device(x[i:i + self.block], dtype)
                for layer in self.network.layers[:upto]:
                    h = layer.forward(h)
                out.append(backend.to_host(h).astype(np.float64))
        return np.concatenate(out)

    def features(self, x):
        """The feature layer's activations (after its ReLU), eval mode (no dropout), in
        blocks: a float64 host array (n, width). x: (n, 784) or (n, 28, 28) in [0, 1]."""
        if len(x) == 0:
            return np.zeros((0, self.width))
        return self._blocks(x, self.feature_end)

    def logits(self, x):
        """The class logits, eval mode: float64 host (n, 10)."""
        if len(x) == 0:
            return np.zeros((0, 10))
        return self._blocks(x, len(self.network.layers))

    def probabilities(self, x):
        """p(y | x), the softmax of the logits: float64 host (n, 10), rows summing to 1."""
        return losses.softmax(self.logits(x))

    def predict(self, x):
        return self.logits(x).argmax(axis=1)

    def accuracy(self, x, y):
        return float((self.predict(x) == backend.to_host(y)).mean())

    def __repr__(self):
        return (f"MNISTClassifier(features={self.width}, seed={self.seed}, "
                f"test_accuracy={self.test_accuracy:.4f}, path={str(self.path)!r})")


def classifier_cache_path(cache_dir=None, seed=0):
    """Where the classifier of ``seed`` is kept: ``cache_dir`` or ``$XDG_CACHE_HOME/minigan``."""
    if cache_dir is None:
        cache_dir = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "minigan"
    return Path(cache_dir).expanduser() / f"mnist_classifier_seed{int(seed)}.npz"


def _fingerprint(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:32]


def _load_data(data_dir, settings):
    x, y = load_mnist(settings["train_split"], data_dir=data_dir)
    if settings["n_train"] is not None:
        x, y = x[:settings["n_train"]], y[:settings["n_train"]]
    tx, ty = load_mnist("test", data_dir=data_dir)
    valid = None
    if settings["train_split"] == "train":
        try:
            valid = load_mnist("valid", data_dir=data_dir)     # train[50000:60000]
        except IDXError:                                       # a small training file has none
            valid = None
    return (x, y), valid, (tx, ty)


def _read(path, settings, seed, data):
    """The cached classifier at ``path`` if it is one of these settings, seed and data; else None."""
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            if (header.get("format") != FORMAT or header.get("settings") != settings
                    or header.get("seed") != seed or header.get("data") != data):
                return None
            network, feature_end = build_classifier_network(settings, seed)
            state = {k[len("model/"):]: z[k] for k in z.files if k.startswith("model/")}
            network.load_state_dict(state)
            history = (History.from_table(z["history"], CLASSIFIER_FIELDS) if "history" in z.files
                       else None)
            return MNISTClassifier(network, feature_end, settings, seed, data=data, path=path,
                                   test_accuracy=float(z["test_accuracy"]), history=history,
                                   train_seconds=header.get("train_seconds", float("nan")))
    except Exception:                     # unreadable, truncated, wrong keys or shapes: not trusted
        return None


def _train(settings, seed, train, valid, test, log=None):
    network, feature_end = build_classifier_network(settings, seed)
    opt = optim.Adam(network, lr=settings["lr"], beta1=settings["beta1"])
    x, y = backend.to_device(train[0]), backend.to_device(train[1].astype(np.int64))
    if valid is not None:
        valid = (backend.to_device(valid[0]), backend.to_device(valid[1].astype(np.int64)))
    trainer = ClassifierTrainer(network, opt, x, y, m=min(settings["m"], len(x)), valid=valid, seed=seed)

    def after_epoch(tr, row):
        tr.opt.lr = settings["lr"] * settings["lr_decay"] ** tr.epoch
        if log is not None:
            log(f"epoch {row['epoch']:3d}: loss {row['loss']:.4f}, train acc {row['accuracy']:.4f}, "
                f"valid acc {row['valid_accuracy']:.4f} ({time.perf_counter() - t0:.0f} s)")

    t0 = time.perf_counter()
    trainer.train(settings["epochs"], callback=after_epoch)
    seconds = time.perf_counter() - t0
    acc = trainer.accuracy(backend.to_device(test[0]), backend.to_device(test[1].astype(np.int64)))
    return network, feature_end, float(acc), trainer.history, seconds


def _write(path, clf):
    header = {"format": FORMAT, "settings": clf.settings, "seed": clf.seed, "data": clf.data,
              "train_seconds": clf.train_seconds, "numpy": np.__version__}
    arrays = {f"model/{k}": backend.to_host(v) for k, v in clf.network.state_dict().items()}
    arrays["header"] = np.array(json.dumps(header, sort_keys=True))
    arrays["test_accuracy"] = np.array(clf.test_accuracy)
    if clf.history is not None:
        arrays["history"] = np.array(clf.history.table(), dtype=np.float64)

    def write(f):
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        f.write(buf.getvalue())

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, write)


def mnist_classifier(*, data_dir=None, cache_dir=None, seed=0, retrain=False, allow_training=True,
                     log=None, **settings):
    """The MNIST feature classifier of ``seed`` and ``settings`` (``DEFAULT_SETTINGS`` with the
    keywords given replacing theirs): loaded from ``classifier_cache_path(cache_dir, seed)`` when
    that file holds one of the same settings trained on the same data, otherwise trained (minutes
    on 2 cores for the defaults) and saved there. ``retrain=True`` trains even so.
    ``allow_training=False`` raises ``ClassifierNotCached`` instead of training. ``log(str)``
    receives a line per epoch while training. Data: ``load_mnist(..., data_dir=data_dir)``."""
    unknown = set(settings) - set(DEFAULT_SETTINGS)
    if unknown:
        raise TypeError(f"unknown classifier settings {sorted(unknown)}; known: {sorted(DEFAULT_SETTINGS)}")
    settings = _normalise({**DEFAULT_SETTINGS, **settings})
    seed = int(seed)
    train, valid, test = _load_data(data_dir, settings)
    data = _fingerprint(*train, *test)
    path = classifier_cache_path(cache_dir, seed)
    if not retrain and path.exists():
        clf = _read(path, settings, seed, data)
        if clf is not None:
            return clf
    if not allow_training:
        raise ClassifierNotCached(f"no classifier of these settings and data in {path}")
    network, feature_end, acc, history, seconds = _train(settings, seed, train, valid, test, log=log)
    clf = MNISTClassifier(network, feature_end, settings, seed, test_accuracy=acc, history=history,
                          data=data, path=path, trained=True, train_seconds=seconds)
    _write(path, clf)
    return clf


def main(argv=None):
    """``python benchmarks/mnist_classifier.py [--data-dir D] [--cache-dir C] [--seed S] [--retrain]``:
    train (or load) the classifier of the default settings and print its test accuracy."""
    import argparse

    p = argparse.ArgumentParser(prog="benchmarks/mnist_classifier.py",
                                description="Train (or load from the cache) the MNIST feature classifier.")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--retrain", action="store_true")
    args = p.parse_args(argv)
    t = time.perf_counter()
    clf = mnist_classifier(data_dir=args.data_dir, cache_dir=args.cache_dir, seed=args.seed,
                           retrain=args.retrain, log=lambda line: print(line, flush=True))
    how = (f"trained in {clf.train_seconds:.0f} s ({clf.settings['epochs']} epochs)" if clf.trained
           else f"loaded (trained in {clf.train_seconds:.0f} s when it was made)")
    print(f"{clf.path}: {how}; test accuracy {clf.test_accuracy:.4f}; "
          f"{time.perf_counter() - t:.0f} s in all")
    return 0

