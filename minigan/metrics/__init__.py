"""How good are a generator's samples: one metric per file.

``parzen`` is the GAN paper's Table 1 (the Parzen-window log-likelihood and its
protocol); ``image_statistics`` is what that number rewards without better
digits (brightness, grey pixels, total variation). ``frechet``, ``inception``,
``precision_recall`` and ``density_coverage`` score samples in a feature space
(exact k-NN radii from ``neighbours``; ``neighbour_scores``: the last two
from one pass over the distances); on MNIST that space is the one of
``classifier``, our own MNIST classifier, trained on demand and cached.
Everything is importable from here: ``from minigan.metrics import parzen_protocol``.
"""
from . import parzen  # noqa: F401 -- minigan.metrics.parzen, the module (its block sizes live there)
from .parzen import SIGMAS, ParzenResult, parzen_log_likelihood, parzen_protocol, select_sigma, squared_distances
from .image_statistics import image_statistics
from .frechet import frechet_distance
from .inception import inception_score
from .neighbours import kth_neighbour_radii
from .precision_recall import precision_recall
from .density_coverage import density_coverage
from .neighbour_scores import neighbour_scores
from .classifier import ClassifierNotCached, MNISTClassifier, mnist_classifier

__all__ = ["SIGMAS", "squared_distances", "parzen_log_likelihood", "select_sigma",
           "parzen_protocol", "ParzenResult", "image_statistics",
           "frechet_distance", "inception_score", "kth_neighbour_radii", "precision_recall", "density_coverage",
           "neighbour_scores",
           "mnist_classifier", "MNISTClassifier", "ClassifierNotCached"]
