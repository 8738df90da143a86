"""Trainers: what runs the steps of training and keeps its record.

``gan`` is Algorithm 1 of Goodfellow et al. (2014), line for line (``GAN``);
``classifier`` trains a network of K class logits on labelled minibatches
(``ClassifierTrainer``); ``autoencoder`` trains an autoencoder, a denoising autoencoder
or a VAE (``AutoencoderTrainer``); ``history`` is the record every trainer keeps (``History``).
Losses and penalties are the trainers' arguments (see ``minigan.losses``).
"""
from .history import HISTORY_FIELDS, History
from .gan import GAN, ORDERS, TrainingDiverged, _grad_norm
from .classifier import CLASSIFIER_FIELDS, ClassifierTrainer
from .autoencoder import AUTOENCODER_FIELDS, AutoencoderTrainer

__all__ = ["GAN", "ClassifierTrainer", "AutoencoderTrainer", "AUTOENCODER_FIELDS", "History", "TrainingDiverged", "ORDERS", "HISTORY_FIELDS",
           "CLASSIFIER_FIELDS"]
