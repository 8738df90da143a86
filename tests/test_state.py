"""State dicts: buffers, check-then-copy for layers, optimizers and the GAN, moves between devices."""
import json

import numpy as np
import pytest

import fakecupy
from minigan import backend, checkpoint, data, models, optim
from minigan.checkpoint import CheckpointError
from minigan.layers import Dropout, Layer, Linear, ReLU, Sequential
from minigan.state import StateError
from minigan.train import GAN


@pytest.fixture(autouse=True)
def _numpy_backend(restore_backend):
    backend.use("numpy")


class RunningMean(Layer):
    """A test-only layer with buffers: the identity while training, where it keeps a running
    mean of its input (mean <- decay mean + (1 - decay) batch mean) and counts its forwards;
    x - mean in eval mode (as batch norm uses its running statistics)."""

    def __init__(self, n, decay=0.9):
        super().__init__()
        self.decay = decay
        self._add_buffer("mean", backend.xp.zeros((1, n), dtype=np.float32))
        self._add_buffer("count", backend.xp.zeros((), dtype=np.int64))

    def forward(self, x):
        x = self._check(x)
        if self.training:
            mean = self.buffers["mean"]
            mean *= self.decay
            mean += (1 - self.decay) * x.mean(axis=0, keepdims=True)
            self.buffers["count"] += 1
        self._save(x.shape, x.dtype)
        return x if self.training else x - self.buffers["mean"]

    def backward(self, grad_out, *, input_grad=True):
        shape, dtype = self._load()
        self._check_grad(grad_out, shape, dtype)
        return grad_out if input_grad else None

    def __repr__(self):
        return f"RunningMean(decay={self.decay})"


def d_with_buffer(width=8, rng=1):
    return Sequential(Linear(2, width, rng=rng), RunningMean(width), ReLU(), Linear(width, 1, rng=rng + 1))


def build_gan(width=8, seed=3):
    G = models.mlp([2, 8, 2], rng=0)
    D = d_with_buffer(width)
    return GAN(G, D, data.ring8(), data.uniform_noise(2), d_optimizer=optim.SGD(D, 0.05, 0.5),
               g_optimizer=optim.Adam(G, 1e-3), m=16, seed=seed)


def snapshot(gan):
    return {f"{who}/{k}": backend.to_host(v).copy() for who, net in (("G", gan.G), ("D", gan.D))
            for k, v in {**net.params, **net.buffers}.items()}


def same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------- layers
def test_buffers_are_registered_viewed_flat_and_kept_apart_from_params():
    D = d_with_buffer()
    assert set(D.buffers) == {"1.mean", "1.count"} and D.buffers["1.mean"] is D.layers[1].buffers["mean"]
    assert set(D.params) == {"0.W", "0.b", "3.W", "3.b"}
    assert set(D.state_dict()) == set(D.params) | set(D.buffers)
    assert Linear(2, 3, rng=0).buffers == {}
    with pytest.raises(ValueError, match="share its name with a parameter"):
        Linear(2, 3, rng=0)._add_buffer("W", np.zeros(3))


def test_state_dict_is_a_snapshot_and_loads_back():
    D = d_with_buffer()
    D.forward(np.ones((4, 2), np.float32))
    sd = D.state_dict()
    assert sd["1.mean"] is not D.buffers["1.mean"] and int(sd["1.count"]) == 1
    D.forward(np.ones((4, 2), np.float32))
    assert int(sd["1.count"]) == 1 and int(D.buffers["1.count"]) == 2
    other = d_with_buffer(rng=5)
    other.load_state_dict(sd)
    assert same({k: np.asarray(v) for k, v in other.state_dict().items()}, sd)


@pytest.mark.parametrize("bad, match", [
    (lambda sd: sd.update({"1.mean": np.zeros((1, 9), np.float32)}),
     r"1.mean has shape \(1, 9\), the model needs \(1, 8\)"),
    (lambda sd: sd.pop("1.count"), r"missing \['1.count'\]"),
    (lambda sd: sd.update({"1.var": np.zeros((1, 8), np.float32)}), r"unexpected \['1.var'\]"),
])
def test_a_bad_state_leaves_the_layer_unchanged(bad, match):
    source = d_with_buffer(rng=7)
    source.forward(np.full((4, 2), 3.0, np.float32))
    sd = source.state_dict()
    sd["0.W"] = sd["0.W"] + 1                 # would change the layer, were it applied
    bad(sd)
    D = d_with_buffer()
    before = D.state_dict()
    with pytest.raises(StateError, match=match):
        D.load_state_dict(sd)
    assert same(D.state_dict(), before)
    with pytest.raises(StateError):
        D.check_state_dict(sd)


def test_astype_casts_floating_buffers_only():
    D = d_with_buffer().astype(np.float64)
    assert D.buffers["1.mean"].dtype == np.float64 and D.buffers["1.count"].dtype == np.int64
    assert D.forward(np.ones((3, 2))).dtype == np.float64


def test_optimizers_never_touch_buffers(rng):
    for make in (lambda net: optim.SGD(net, 0.1, 0.5), lambda net: optim.Adam(net, 1e-2)):
        D = d_with_buffer()
        opt = make(D)
        assert not any("mean" in k or "count" in k for k in opt.state_dict())
        D.zero_grad()
        out = D.forward(rng.standard_normal((5, 2)).astype(np.float32))
        D.backward(np.ones_like(out))
        buffers = {k: v.copy() for k, v in D.buffers.items()}
        params = {k: v.copy() for k, v in D.params.items()}
        opt.step()
        assert same(buffers, D.buffers)
        assert not same(params, D.params)          # the step did move the parameters


def test_host_state_loads_into_a_gpu_layer_and_back(monkeypatch):
    host = d_with_buffer(rng=3)
    host.forward(np.full((4, 2), 2.0, np.float32))
    sd = host.state_dict()
    cp = fakecupy.install(monkeypatch)
    backend.use("cupy")
    dev = d_with_buffer(rng=9)
    assert isinstance(dev.buffers["1.mean"], cp.ndarray)
    dev.load_state_dict(sd)                                   # host arrays into a GPU layer
    assert all(isinstance(v, cp.ndarray) for v in {**dev.params, **dev.buffers}.values())
    assert same({k: v.get() for k, v in dev.state_dict().items()}, sd)
    dev.forward(cp.ones((4, 2), dtype=np.float32))            # the buffer moves on, on the device
    back = dev.state_dict()
    backend.use("numpy")
    again = d_with_buffer(rng=4)
    again.load_state_dict(back)                               # device arrays into a host layer
    assert all(type(v) is np.ndarray for v in again.buffers.values())
    assert int(again.buffers["1.count"]) == 2
    assert np.array_equal(again.buffers["1.mean"], back["1.mean"].get())


def test_optimizer_and_average_state_move_between_devices(monkeypatch):
    net = models.mlp([2, 4, 1], rng=0)
    opt, avg = optim.Adam(net, 1e-2), optim.ParameterAverage(net, 0.9)
    opt.t, avg.t = 3, 2
    sd_opt, sd_avg = opt.state_dict(), avg.state_dict()
    fakecupy.install(monkeypatch)
    backend.use("cupy")
    dnet = models.mlp([2, 4, 1], rng=0)
    dopt, davg = optim.Adam(dnet, 1e-2), optim.ParameterAverage(dnet, 0.9)
    dopt.load_state_dict(sd_opt)
    davg.load_state_dict(sd_avg)
    assert dopt.t == 3 and davg.t == 2 and davg.average["0.W"].dtype == np.float64
    with pytest.raises(StateError, match="decay"):
        optim.ParameterAverage(dnet, 0.5).check_state_dict(sd_avg)


# ---------------------------------------------------------------------- the GAN
def test_gan_state_dict_round_trip_without_a_file():
    a = build_gan()
    a.train(4)
    sd = a.state_dict()
    assert {"D/1.mean", "D/1.count", "G/0.W", "rng/trainer", "history"} <= set(sd)
    assert sd["buffers"]["D"] == [["1.mean", [1, 8], "float32"], ["1.count", [], "int64"]]
    b = build_gan()
    assert b.load_state_dict(sd) == []
    assert same(snapshot(a), snapshot(b)) and b.iteration == 4
    a.train(3)
    b.train(3)
    assert same(snapshot(a), snapshot(b)) and a.history == b.history


def test_a_gan_whose_d_holds_a_buffer_resumes_bit_identically(tmp_path):
    whole = build_gan()
    whole.train(10)
    half = build_gan()
    half.train(5)
    path = checkpoint.save(tmp_path / "c.npz", half)
    with np.load(path, allow_pickle=False) as z:
        assert z["D/1.mean"].shape == (1, 8) and int(z["D/1.count"]) == int(half.D.buffers["1.count"])
        assert json.loads(str(z["meta"]))["buffers"] == {"G": [], "D": [["1.mean", [1, 8], "float32"],
                                                                          ["1.count", [], "int64"]]}
    resumed = build_gan()
    ck = checkpoint.load(path, resumed)
    assert ck.notes == [] and int(resumed.D.buffers["1.count"]) == int(half.D.buffers["1.count"]) > 0
    resumed.train(5)
    assert same(snapshot(whole), snapshot(resumed)) and whole.history == resumed.history
    x = np.ones((3, 2), np.float32)
    assert np.array_equal(whole.d_prob(x), resumed.d_prob(x))    # eval mode reads the buffer


def test_a_bad_buffer_in_a_checkpoint_leaves_the_model_unchanged(tmp_path):
    gan = build_gan()
    gan.train(3)
    path = checkpoint.save(tmp_path / "c.npz", gan)
    with np.load(path) as z:
        files = {k: z[k] for k in z.files}
    files["D/1.mean"] = np.zeros((1, 9), np.float32)
    np.savez(tmp_path / "bad.npz", **files)
    other = build_gan()
    before = snapshot(other)
    with pytest.raises(CheckpointError, match=r"bad.npz: entry 'D/1.mean' has shape \(1, 9\)"):
        checkpoint.load(tmp_path / "bad.npz", other)
    assert same(before, snapshot(other)) and other.iteration == 0 and other.d_opt.t == 0
    wider = build_gan(width=9)                   # the model's buffer differs from the saved one
    with pytest.raises(CheckpointError, match=r"another architecture"):
        checkpoint.load(path, wider)
    G = models.mlp([2, 8, 2], rng=0)
    D = models.mlp([2, 8, 1], rng=1)             # no buffer at all: named
    plain = GAN(G, D, data.ring8(), data.uniform_noise(2), d_optimizer=optim.SGD(D, 0.05, 0.5),
                g_optimizer=optim.Adam(G, 1e-3), m=16, seed=3)
    with pytest.raises(CheckpointError, match=r"another architecture|other layers"):
        checkpoint.load(path, plain, strict=False)


def test_a_buffer_checkpoint_moves_to_the_gpu_and_trains_on(tmp_path, monkeypatch):
    host = build_gan()
    host.train(3)
    path = checkpoint.save(tmp_path / "c.npz", host)
    cp = fakecupy.install(monkeypatch)
    backend.use("cupy")
    dev = build_gan()
    ck = checkpoint.load(path, dev)
    assert ck.notes and all("re-seeded" in n for n in ck.notes)      # a NumPy state into CuPy generators
    assert isinstance(dev.D.buffers["1.mean"], cp.ndarray)
    assert np.array_equal(dev.D.buffers["1.mean"].get(), host.D.buffers["1.mean"])
    dev.train(2)
    back = checkpoint.save(tmp_path / "d.npz", dev)
    backend.use("numpy")
    again = build_gan()
    checkpoint.load(back, again)
    assert int(again.D.buffers["1.count"]) == int(dev.D.buffers["1.count"].get()) and again.iteration == 5


def test_any_object_with_a_state_dict_is_saved_and_loaded(tmp_path):
    D = d_with_buffer(rng=2)
    D.forward(np.ones((2, 2), np.float32))
    path = checkpoint.save(tmp_path / "layer.npz", D, note="a layer alone")
    ck = checkpoint.read(path)
    assert ck.meta["note"] == "a layer alone" and ck.iteration == 0
    other = d_with_buffer(rng=8)
    checkpoint.load(path, other)
    assert same(other.state_dict(), D.state_dict())
    with pytest.raises(CheckpointError, match=r"layer.npz: Sequential state has unexpected"):
        checkpoint.load(path, Sequential(Linear(2, 3, rng=0)))


def test_names_that_moved_out_of_the_checkpoint_say_where():
    with pytest.raises(AttributeError, match=r"checkpoint.restore_run moved: use minigan.presets.restore_run"):
        checkpoint.restore_run
    assert not hasattr(checkpoint, "run_options") and hasattr(checkpoint, "save")


@pytest.mark.parametrize("key", ["d_opt/velocity/0.W", "D/1.count", "G_average/0.W"])
def test_a_gan_state_that_does_not_fit_changes_nothing(key):
    a = build_gan()
    a.train(3)
    sd = a.state_dict()
    if key.startswith("G_average"):
        sd["g_average"] = {"decay": 0.5, "t": 3}           # this run keeps none: noted, not refused
        b = build_gan()
        assert any("is not loaded" in n for n in b.load_state_dict(sd))
        return
    sd[key] = np.zeros((7,) + sd[key].shape, sd[key].dtype)
    b = build_gan()
    before, opt_before = snapshot(b), b.d_opt.state_dict()
    with pytest.raises(StateError, match=key.split("/", 1)[1] if key.startswith("d_opt") else key):
        b.load_state_dict(sd)
    with pytest.raises(StateError):
        b.check_state_dict(sd)
    assert same(before, snapshot(b)) and b.iteration == 0 and len(b.history) == 0
    assert b.d_opt.t == 0 and same({k: v for k, v in opt_before.items() if k != "t"},
                                   {k: v for k, v in b.d_opt.state_dict().items() if k != "t"})


# ---------------------------------------------------------------------- losses and penalties with state
class NoisyDecay:
    """A test penalty with state and a generator of its own: (lam / 2) ||W + e||^2 over D's
    first weights, e ~ N(0, 0.01^2) drawn each call, and a running count and sum of its values."""

    def __init__(self, lam=1e-3, seed=7):
        self.lam, self.rng = lam, np.random.default_rng(seed)
        self.calls, self.total = 0, np.zeros(1)

    def __call__(self, model, trainer):
        w = model.params["0.W"]
        shifted = w + self.rng.normal(0, 0.01, w.shape).astype(w.dtype)
        model.grads["0.W"] += self.lam * shifted
        value = 0.5 * self.lam * float((shifted * shifted).sum())
        self.calls += 1
        self.total += value
        return value

    def state_dict(self):
        return {"calls": self.calls, "total": self.total.copy()}

    def load_state_dict(self, d):
        if tuple(np.shape(d["total"])) != (1,):
            raise ValueError(f"total has shape {np.shape(d['total'])}, expected (1,)")
        self.calls, self.total = int(d["calls"]), np.array(d["total"], dtype=np.float64)

    def __repr__(self):
        return f"NoisyDecay({self.lam:g})"


def gan_with_penalty(seed=3):
    gan = build_gan(seed=seed)
    gan.d_penalties.append(NoisyDecay())
    return gan


def test_a_penalty_with_state_and_a_generator_resumes_bit_identically(tmp_path):
    whole = gan_with_penalty()
    whole.train(10)
    half = gan_with_penalty()
    half.train(5)
    path = checkpoint.save(tmp_path / "p.npz", half)
    with np.load(path, allow_pickle=False) as z:
        assert int(z["part/d_penalties.0/calls"]) == 5 and "rng/d_penalties.0" in z.files
        assert json.loads(str(z["meta"]))["parts"] == {"d_penalties.0": ["calls", "total"]}
    resumed = gan_with_penalty()
    assert checkpoint.load(path, resumed).notes == []
    resumed.train(5)
    assert same(snapshot(whole), snapshot(resumed)) and whole.history == resumed.history
    assert resumed.d_penalties[0].calls == 10 and np.array_equal(resumed.d_penalties[0].total,
                                                                 whole.d_penalties[0].total)
    # without the generator's state the same 5 iterations draw other noise: the test can fail
    other = gan_with_penalty()
    checkpoint.load(path, other)
    other.d_penalties[0].rng = np.random.default_rng(99)
    other.train(5)
    assert not same(snapshot(whole), snapshot(other))


def test_a_penalty_state_that_does_not_fit_is_refused_and_changes_nothing(tmp_path):
    path = checkpoint.save(tmp_path / "p.npz", gan_with_penalty())
    plain = build_gan()
    with pytest.raises(CheckpointError,
                       match=r"d_penalties=\['NoisyDecay\(0\.001\)'\], this run has d_penalties=\[\]"):
        checkpoint.load(path, plain)                                   # strict: the arguments differ
    with pytest.raises(CheckpointError, match=r"holds the state of d_penalties\.0"):
        checkpoint.load(path, plain, strict=False)                     # and the state has nowhere to go
    without = checkpoint.save(tmp_path / "plain.npz", build_gan())
    with pytest.raises(CheckpointError, match=r"random generator\(s\) d_penalties\.0 of this run"):
        checkpoint.load(without, gan_with_penalty(), strict=False)
    no_rng = gan_with_penalty()
    no_rng.d_penalties[0].rng = None
    with pytest.raises(CheckpointError, match=r"has no state for d_penalties\.0 NoisyDecay"):
        checkpoint.load(without, no_rng, strict=False)
    # a state its part refuses: nothing in the run changes
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["part/d_penalties.0/total"] = np.zeros(3)
    np.savez(tmp_path / "bad.npz", **arrays)
    target = gan_with_penalty(seed=5)
    target.train(2)
    before, calls = snapshot(target), target.d_penalties[0].calls
    with pytest.raises(CheckpointError, match=r"the state of d_penalties\.0 does not fit"):
        checkpoint.load(tmp_path / "bad.npz", target)
    assert same(before, snapshot(target)) and target.d_penalties[0].calls == calls and target.iteration == 2


def test_a_strict_load_compares_the_loss_and_penalty_arguments(tmp_path):
    from minigan import losses

    def run(**kw):
        G = models.mlp([2, 8, 2], rng=0)
        D = d_with_buffer()
        return GAN(G, D, data.ring8(), data.uniform_noise(2), d_optimizer=optim.SGD(D, 0.05, 0.5),
                   g_optimizer=optim.Adam(G, 1e-3), m=16, seed=3, **kw)
    smoothed = run(real_label=0.9, fake_label=0.1, d_penalties=[losses.WeightDecay(1e-3)])
    smoothed.train(2)
    path = checkpoint.save(tmp_path / "s.npz", smoothed)
    with pytest.raises(CheckpointError, match=r"fake_label=0\.1, this run has fake_label=0\.0"):
        checkpoint.load(path, run(real_label=0.9, d_penalties=[losses.WeightDecay(1e-3)]))
    with pytest.raises(CheckpointError, match=r"d_penalties=\['WeightDecay\(0\.001\)'\], this run has d_penalties=\[\]"):
        checkpoint.load(path, run(real_label=0.9, fake_label=0.1))
    same_run = run(real_label=0.9, fake_label=0.1, d_penalties=[losses.WeightDecay(1e-3)])
    assert checkpoint.load(path, same_run).notes == [] and same_run.iteration == 2
    other = run(real_label=0.9)
    checkpoint.load(path, other, strict=False)                   # asked for: loads anyway
    assert other.iteration == 2
    plain = checkpoint.save(tmp_path / "p.npz", build_gan())      # no arguments on either side
    assert checkpoint.load(plain, build_gan()).notes == []


# ---------------------------------------------------------------------- generators in any attribute
class UniformNoise(Layer):
    """A test-only noise layer holding its generator as ``self.gen`` (not ``rng``):
    y = x + scale (u - 1/2), u ~ U(0, 1), in training mode; the identity in eval mode."""

    def __init__(self, scale=0.5, seed=0):
        super().__init__()
        self.scale = scale
        self.gen = backend.default_rng(seed)

    def forward(self, x):
        x = self._check(x)
        self._save(x.shape, x.dtype)
        if not self.training:
            return x
        return x + self.scale * (self.gen.random(x.shape, dtype=x.dtype) - 0.5)

    def backward(self, grad_out, *, input_grad=True):
        shape, dtype = self._load()
        self._check_grad(grad_out, shape, dtype)
        return grad_out if input_grad else None


def gan_with_noise_layer(seed=3):
    G = models.mlp([2, 8, 2], rng=0)
    D = Sequential(Linear(2, 8, rng=1), UniformNoise(), ReLU(), Linear(8, 1, rng=2))
    return GAN(G, D, data.ring8(), data.uniform_noise(2), d_optimizer=optim.SGD(D, 0.05, 0.5),
               g_optimizer=optim.Adam(G, 1e-3), m=16, seed=seed)


def test_a_layer_names_its_generators_under_any_attribute():
    noise = UniformNoise()
    assert noise.generators() == {"gen": noise.gen}
    drop = Dropout(0.5, rng=0)
    assert drop.generators() == {"rng": drop.rng}
    assert Linear(2, 3, rng=0).generators() == {} and Sequential(drop).generators() == {}
    keys = [k for k, _, _ in gan_with_noise_layer().random_generators()]
    assert keys == ["trainer", "D/1:gen"]          # another attribute: <path>:<attribute>


def test_a_generator_in_any_attribute_resumes_bit_identically(tmp_path):
    whole = gan_with_noise_layer()
    whole.train(10)
    half = gan_with_noise_layer()
    half.train(5)
    path = checkpoint.save(tmp_path / "n.npz", half)
    with np.load(path, allow_pickle=False) as z:
        assert "rng/D/1:gen" in z.files
    resumed = gan_with_noise_layer()
    assert checkpoint.load(path, resumed).notes == []
    resumed.train(5)
    assert same(snapshot(whole), snapshot(resumed)) and whole.history == resumed.history


def test_a_generator_in_any_attribute_is_copied_by_gan_copy(monkeypatch):
    gan = gan_with_noise_layer()
    gan.train(2)
    branch = gan.copy()
    assert branch.D.layers[1].gen is not gan.D.layers[1].gen
    branch.train(3)
    gan.train(3)
    assert same(snapshot(branch), snapshot(gan)) and branch.history == gan.history
    fakecupy.install(monkeypatch)                 # CuPy's generators cannot be deep-copied
    backend.use("cupy")
    gpu = gan_with_noise_layer()
    gpu.train(2)
    a, b = gpu.copy(), gpu.copy()
    assert a.D.layers[1].gen is not gpu.D.layers[1].gen
    a.train(2)
    b.train(2)
    assert a.history == b.history and gpu.iteration == 2
