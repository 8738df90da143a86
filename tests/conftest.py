"""Shared pytest fixtures (kept small and generic)."""
import numpy as np
import pytest

from minigan import backend


@pytest.fixture
def rng():
    """A seeded NumPy Generator, fresh for every test."""
    return np.random.default_rng(20140610)


@pytest.fixture
def restore_backend():
    """Lets a test switch or reset the backend; the previous choice is put back."""
    saved = dict(backend._state)
    yield backend
    backend._state.clear()
    backend._state.update(saved)
