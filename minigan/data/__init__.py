"""Data: the toy distributions of the paper's Figure 1 and the mode-collapse
literature (``minigan.data.toy``), MNIST / Fashion-MNIST (``minigan.data.mnist``), and the
denoising autoencoder's corruptions (``minigan.data.corruption``: ``CORRUPTIONS``,
``masking_noise``; its additive noise is ``corruption.gaussian_noise(x, sigma, rng)``, while
``minigan.data.gaussian_noise`` stays the Gaussian noise prior of ``toy``).

Every sampler is a callable ``sampler(m, rng) -> array (m, d)`` on the active
backend, the form ``minigan.train.GAN`` takes for p_data and for the noise prior.
"""
from .toy import (GaussianMixture, gaussian_1d, ring8, grid25, uniform_noise,
                  gaussian_noise, FIGURE1_DATA_MEAN, FIGURE1_DATA_STD)

from .mnist import (load_mnist, download_mnist, read_idx, write_idx, MNISTSampler, ImagesNotLoaded, IDXError,
                    MNISTMissingError, pixels_to_float)
from . import corruption
from .corruption import CORRUPTIONS, masking_noise

__all__ = ["GaussianMixture", "gaussian_1d", "ring8", "grid25", "uniform_noise",
           "gaussian_noise", "FIGURE1_DATA_MEAN", "FIGURE1_DATA_STD",
           "load_mnist", "download_mnist", "read_idx", "write_idx", "MNISTSampler", "ImagesNotLoaded", "IDXError",
           "MNISTMissingError", "pixels_to_float", "corruption", "CORRUPTIONS", "masking_noise"]
