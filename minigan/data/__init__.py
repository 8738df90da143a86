"""Data: the toy distributions of the paper's Figure 1 and the mode-collapse
literature (``minigan.data.toy``), and MNIST / Fashion-MNIST (``minigan.data.mnist``).

Every sampler is a callable ``sampler(m, rng) -> array (m, d)`` on the active
backend, the form ``minigan.train.GAN`` takes for p_data and for the noise prior.
"""
from .toy import (GaussianMixture, gaussian_1d, ring8, grid25, uniform_noise,
                  gaussian_noise, FIGURE1_DATA_MEAN, FIGURE1_DATA_STD)

from .mnist import (load_mnist, download_mnist, read_idx, write_idx, MNISTSampler, ImagesNotLoaded, IDXError,
                    MNISTMissingError)

__all__ = ["GaussianMixture", "gaussian_1d", "ring8", "grid25", "uniform_noise",
           "gaussian_noise", "FIGURE1_DATA_MEAN", "FIGURE1_DATA_STD",
           "load_mnist", "download_mnist", "read_idx", "write_idx", "MNISTSampler", "ImagesNotLoaded", "IDXError",
           "MNISTMissingError"]
