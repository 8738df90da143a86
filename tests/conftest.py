"""Shared pytest fixtures (kept small and generic)."""
import numpy as np
import pytest

from minigan import backend


@pytest.fixture
def rng():
    """A seeded NumPy Generator, fresh for every test."""
    return np.random.default_rng(20140610)


@pytest.fixture(autouse=True)
def restore_backend():
    """Lets a test switch or reset the backend; the previous choice is put back.

    Used by every test (autouse), so that a test or a module's fixture that picks NumPy
    leaves the next test on the backend the run chose (MINIGAN_BACKEND=cupy under the CuPy
    stand-in or on a GPU), not on NumPy."""
    saved = dict(backend._state)
    yield backend
    backend._state.clear()
    backend._state.update(saved)


@pytest.fixture
def small_mnist(tmp_path, monkeypatch):
    """A data folder of generated 'digits' in IDX form: 200 training images and 30 test ones
    (MINIGAN_DATA unset, so that nothing else is read)."""
    from minigan.data import mnist
    monkeypatch.delenv("MINIGAN_DATA", raising=False)
    rng = np.random.default_rng(5)
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for split, n in (("train", 200), ("t10k", 30)):
        mnist.write_idx(folder / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        mnist.write_idx(folder / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    return str(tmp_path / "data")
