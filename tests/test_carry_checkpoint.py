"""benchmarks/carry_checkpoint.py: a checkpoint split into parts comes back bit for bit."""
import importlib.util
import os

import numpy as np
import pytest

from minigan import checkpoint, data, models, optim, presets
from minigan.train import GAN, History

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("carry_checkpoint",
                                              os.path.join(REPO, "benchmarks", "carry_checkpoint.py"))
carry = importlib.util.module_from_spec(spec)
spec.loader.exec_module(carry)


def _saved(tmp_path):
    """A ring8 run (two 128-unit MLPs: 0.27 MB of state) trained 30 iterations, on the active
    backend; its checkpoint's path and the run."""
    run = presets.build("ring8", seed=1, m=16)
    run.trainer.train(30)
    return checkpoint.save(tmp_path / "last.npz", run.trainer, preset="ring8", options=run.options), run


@pytest.fixture
def saved(tmp_path):
    return _saved(tmp_path)


def same_arrays(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_split_and_join_give_back_every_array(saved, tmp_path):
    path, _ = saved
    parts = carry.split(path, tmp_path / "parts", part_mb=0.25)
    assert len(parts) > 1 and all(os.path.getsize(p) <= 2 ** 18 for p in parts)
    joined = carry.join(list(reversed(parts)), tmp_path / "joined.npz")     # any order
    assert same_arrays(joined.arrays, checkpoint.read(path).arrays)
    run = presets.build("ring8", seed=1, m=16)
    checkpoint.load(joined, run.trainer)
    assert run.trainer.iteration == 30 and len(run.trainer.history) == 30


def test_an_entry_larger_than_a_part_is_cut_and_put_back(tmp_path):
    G, D = models.mlp([2, 300, 2], rng=0), models.mlp([2, 300, 300, 1], rng=1)     # D's 2.W: 352 KiB
    gan = GAN(G, D, data.ring8(), data.gaussian_noise(2), d_optimizer=optim.SGD(D, 0.01, 0.5),
              g_optimizer=optim.SGD(G, 0.01, 0.5), m=8, seed=0)
    gan.train(2)
    path = checkpoint.save(tmp_path / "c.npz", gan)
    parts = carry.split(path, tmp_path / "parts", part_mb=0.25)
    names = [n for p in parts for n in np.load(p).files]
    assert "D/2.W@@0" in names and "D/2.W@@1" in names and "D/2.W" not in names
    assert all(os.path.getsize(p) <= 2 ** 18 for p in parts)
    assert same_arrays(carry.join(parts, tmp_path / "j.npz").arrays, checkpoint.read(path).arrays)


def test_a_cut_history_comes_back_from_the_checkpoint_it_left(tmp_path, restore_backend):
    """On NumPy whatever the run's backend: the run resumed from the cut checkpoint must match
    the same 40 iterations in one go bit for bit, which needs the generators' states (CuPy's
    generators do not expose them; a CuPy resume re-seeds them)."""
    restore_backend.use("numpy")
    path, run = _saved(tmp_path)
    parts = carry.split(path, tmp_path / "out", keep_history=5)
    there = carry.join(parts, tmp_path / "there.npz", history_from=path)    # joined whole again
    assert same_arrays(there.arrays, checkpoint.read(path).arrays)
    with pytest.raises(carry.CarryError, match="from iteration 26 on; give --history-from"):
        carry.join(parts, tmp_path / "x.npz")
    # the round trip of a GPU session: resume from the cut checkpoint, train on, bring back the new rows
    device = tmp_path / "device"
    device.mkdir()
    carry.join(parts, device / "last.npz", cut_history=True)       # joined there without the rest
    gpu_run = presets.build("ring8", seed=1, m=16)
    checkpoint.load(device / "last.npz", gpu_run.trainer)
    assert [r["iteration"] for r in gpu_run.trainer.history] == [26, 27, 28, 29, 30]
    gpu_run.trainer.train(10)
    checkpoint.save(device / "last.npz", gpu_run.trainer, preset="ring8", options=gpu_run.options)
    back = carry.split(device / "last.npz", tmp_path / "back", since_iteration=31)
    home = carry.join(back, tmp_path / "home.npz", history_from=path)
    run.trainer.train(10)                                               # the same 40 iterations in one go
    assert home.iteration == 40 and History.from_state(home.state()) == run.trainer.history
    assert np.array_equal(home.arrays["G/0.W"], run.trainer.G.params["0.W"])


def test_parts_that_do_not_belong_together_are_refused(saved, tmp_path):
    path, run = saved
    parts = carry.split(path, tmp_path / "a", part_mb=0.25)
    assert len(parts) > 1
    with pytest.raises(carry.CarryError, match="missing"):
        carry.join(parts[1:], tmp_path / "x.npz")
    run.trainer.train(1)
    other = checkpoint.save(tmp_path / "other.npz", run.trainer, preset="ring8", options=run.options)
    stranger = carry.split(other, tmp_path / "b", part_mb=0.25)
    with pytest.raises(carry.CarryError, match="another split"):
        carry.join(parts[:1] + stranger[1:], tmp_path / "x.npz")
    late = carry.split(other, tmp_path / "c", since_iteration=25)
    with pytest.raises(carry.CarryError, match="holds iterations 1..20; the parts need every iteration before 25"):
        carry.join(late, tmp_path / "x.npz", history_from=_cut(path, tmp_path, 20))
    with pytest.raises(carry.CarryError, match="disagrees with the parts on iterations 25..30"):
        carry.join(late, tmp_path / "x.npz", history_from=_changed(path, tmp_path, 27))
    with pytest.raises(carry.CarryError, match="at least 0.25 MiB"):
        carry.split(path, tmp_path / "d", part_mb=0.1)
    assert carry.main(["join", str(parts[0]), str(tmp_path / "y.npz")]) == 2          # exit 2, one line
    assert not os.path.exists(tmp_path / "x.npz") and not os.path.exists(tmp_path / "y.npz")


def _cut(path, tmp_path, last):
    """A copy of checkpoint ``path`` whose history ends at iteration ``last``."""
    arrays = dict(checkpoint.read(path).arrays)
    arrays["history"] = arrays["history"][arrays["history"][:, 0] <= last]
    np.savez(tmp_path / "cut.npz", **arrays)
    return tmp_path / "cut.npz"


def _changed(path, tmp_path, iteration):
    """A copy of checkpoint ``path`` with one number of one history row changed."""
    arrays = dict(checkpoint.read(path).arrays)
    history = arrays["history"].copy()
    history[history[:, 0] == iteration, 1] += 1e-9
    arrays["history"] = history
    np.savez(tmp_path / "changed.npz", **arrays)
    return tmp_path / "changed.npz"


def test_parts_with_no_history_rows_still_join_to_the_whole_history(saved, tmp_path):
    path, _ = saved                                   # iteration 30, nothing new since
    back = carry.split(path, tmp_path / "back", since_iteration=31)
    home = carry.join(back, tmp_path / "home.npz", history_from=path)
    assert same_arrays(home.arrays, checkpoint.read(path).arrays)
    bare = carry.split(path, tmp_path / "bare", keep_history=0)
    with pytest.raises(carry.CarryError, match="from iteration 31 on; give --history-from"):
        carry.join(bare, tmp_path / "x.npz")
    kept = carry.join(bare, tmp_path / "cut.npz", cut_history=True)
    run = presets.build("ring8", seed=1, m=16)
    checkpoint.load(kept, run.trainer)
    run.trainer.train(1)                                  # an empty loaded history takes new rows
    assert [r["iteration"] for r in run.trainer.history] == [31]
