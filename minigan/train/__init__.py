"""Trainers: what runs the steps of training and keeps its record.

``gan`` is Algorithm 1 of Goodfellow et al. (2014), line for line (``GAN``);
``classifier`` trains a network of K class logits on labelled minibatches
(``ClassifierTrainer``); ``history`` is the record every trainer keeps (``History``).
Losses and penalties are the trainers' arguments (see ``minigan.losses``).
"""
from .history import HISTORY_FIELDS, History
from .gan import GAN, ORDERS, TrainingDiverged, _grad_norm
from .classifier import CLASSIFIER_FIELDS, ClassifierTrainer

__all__ = ["GAN", "ClassifierTrainer", "History", "TrainingDiverged", "ORDERS", "HISTORY_FIELDS",
           "CLASSIFIER_FIELDS"]
