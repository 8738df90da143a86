"""Trainers: what runs the steps of training and keeps its record.

``gan`` is Algorithm 1 of Goodfellow et al. (2014), line for line (``GAN``);
``history`` is the per-iteration record every trainer keeps (``History``).
"""
from .history import HISTORY_FIELDS, History
from .gan import GAN, ORDERS, TrainingDiverged, _grad_norm

__all__ = ["GAN", "History", "TrainingDiverged", "ORDERS", "HISTORY_FIELDS"]
