"""The Parzen-window estimator of minigan.metrics against the plain math."""
import math

import numpy as np
import pytest

from minigan import backend, metrics
from minigan.metrics import (SIGMAS, parzen_log_likelihood, parzen_protocol, select_sigma,
                             squared_distances)


def brute_force(x, mu, sigma):
    """log (1/m) sum_j N(x; mu_j, sigma^2 I), straight from the definition, float64."""
    x, mu = np.asarray(x, np.float64), np.asarray(mu, np.float64)
    d = x.shape[1]
    diff = x[:, None, :] - mu[None, :, :]                           # (n, m, d)
    a = -(diff ** 2).sum(-1) / (2 * sigma ** 2)
    top = a.max(1, keepdims=True)
    lme = top[:, 0] + np.log(np.exp(a - top).mean(1))
    return lme - d * math.log(sigma * math.sqrt(2 * math.pi))


@pytest.fixture
def small():
    rng = np.random.default_rng(0)
    return rng.random((23, 9)), rng.random((37, 9))


def test_squared_distances_match_the_definition(small):
    x, mu = small
    want = ((x[:, None] - mu[None]) ** 2).sum(-1)
    np.testing.assert_allclose(squared_distances(x, mu, dtype=np.float64), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(squared_distances(x, mu), want, rtol=1e-5, atol=1e-5)
    same = squared_distances(x, x, dtype=np.float32)
    assert same.min() >= 0 and np.abs(np.diag(same)).max() < 1e-5   # clipped, never negative


@pytest.mark.parametrize("block,threads", [(1, 1), (4, 3), (23, None), (None, 2)])
@pytest.mark.parametrize("sigma", [0.05, 0.3, 2.0])
def test_matches_brute_force(small, block, threads, sigma):
    x, mu = small
    got = parzen_log_likelihood(x, mu, sigma, dtype=np.float64, block=block, threads=threads)
    assert got.shape == (23,) and got.dtype == np.float64
    np.testing.assert_allclose(got, brute_force(x, mu, sigma), rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("cached_rows", [1, 3, 7])
def test_rows_worked_in_cache_a_few_at_a_time_match_brute_force(small, monkeypatch, cached_rows):
    """A block's GEMM, then its float64 terms a few rows at a time (CACHED_BYTES)."""
    x, mu = small
    monkeypatch.setattr(metrics.parzen, "CACHED_BYTES", 8 * len(mu) * cached_rows)
    got = parzen_log_likelihood(x, mu, [0.1, 0.4], dtype=np.float64, block=10, threads=2)
    for s, sigma in enumerate([0.1, 0.4]):
        np.testing.assert_allclose(got[:, s], brute_force(x, mu, sigma), rtol=1e-12, atol=1e-10)


def test_far_samples_whose_terms_underflow_add_nothing():
    """exp of the far samples' terms is below 1e-304 (or underflows): log p is the
    nearest sample's kernel plus log(1/m), as the closed form says."""
    d, sigma, m = 5, 0.1, 4
    x = np.zeros((2, d))
    mu = np.zeros((m, d))
    mu[1:, 0] = [12.0, 40.0, 400.0]          # exponents -7200, -80000, -8e6: all vanish
    got = parzen_log_likelihood(x, mu, sigma, dtype=np.float64)
    want = math.log(1 / m) - d * math.log(sigma * math.sqrt(2 * math.pi))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_many_sigmas_in_one_pass_match_one_at_a_time(small):
    x, mu = small
    sigmas = [0.1, 0.2, 0.7]
    many = parzen_log_likelihood(x, mu, sigmas, dtype=np.float64, block=5)
    assert many.shape == (23, 3)
    for s, sigma in enumerate(sigmas):
        np.testing.assert_allclose(many[:, s], brute_force(x, mu, sigma), rtol=1e-12, atol=1e-10)


def test_single_kernel_closed_form():
    """One sample: log N(x; mu, sigma^2 I) = -|x - mu|^2 / (2 sigma^2) - d log(sigma sqrt(2 pi))."""
    rng = np.random.default_rng(1)
    d, sigma = 784, 0.17
    mu = rng.random((1, d))
    x = np.vstack([mu, mu + 0.01, rng.random((3, d))])
    want = -((x - mu) ** 2).sum(1) / (2 * sigma ** 2) - d * math.log(sigma * math.sqrt(2 * math.pi))
    got = parzen_log_likelihood(x, mu, sigma, dtype=np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[0] == pytest.approx(-d * math.log(sigma * math.sqrt(2 * math.pi)), abs=1e-9)


def test_no_underflow_far_from_every_sample():
    """Log-sum-exp: a point 100 sigma from the samples still gets a finite log-likelihood."""
    mu = np.zeros((3, 2))
    x = np.array([[10.0, 0.0]])
    got = parzen_log_likelihood(x, mu, 0.1, dtype=np.float64)
    assert np.isfinite(got).all()
    assert got[0] == pytest.approx(-100 / (2 * 0.01) - 2 * math.log(0.1 * math.sqrt(2 * math.pi)))


@pytest.mark.parametrize("true_index", [2, 6])
def test_select_sigma_finds_the_generating_width(true_index):
    """Data = well-separated centres + N(0, s0^2 I); samples = the centres. The mean
    validation LL is highest at sigma = s0, which is picked from the paper's grid."""
    rng = np.random.default_rng(true_index)
    s0 = SIGMAS[true_index]
    d, k = 20, 8
    centres = rng.normal(0, 10, (k, d))
    valid = centres[rng.integers(0, k, 600)] + s0 * rng.standard_normal((600, d))
    sigma, mean_lls = select_sigma(valid, centres)
    assert sigma == pytest.approx(s0)
    assert mean_lls.shape == (10,) and int(np.argmax(mean_lls)) == true_index


def test_distances_computed_once_for_all_sigmas(monkeypatch, small):
    x, mu = small
    calls = []
    real = metrics.parzen._dots

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(metrics.parzen, "_dots", counting)
    # float64: a float32 GEMM may round differently for another block's shape (OpenBLAS picks
    # its kernel by shape: 4e-7 relative on an AMD EPYC), which is not what this test is about
    sigma, lls = select_sigma(x, mu, SIGMAS, block=len(x), dtype=np.float64)
    assert len(calls) == 1                                          # one block, ten sigmas: one GEMM
    calls.clear()
    assert np.allclose(select_sigma(x, mu, SIGMAS, block=10, dtype=np.float64)[1], lls, rtol=1e-12, atol=0)
    assert len(calls) == 3                                          # ceil(23 / 10) blocks


def test_float32_distances_change_the_ll_by_little():
    """MNIST-like: 784-d points in [0, 1] with close neighbours (the worst case for
    |x|^2 + |mu|^2 - 2 x.mu cancellation), sigma 0.1 (the grid's smallest)."""
    rng = np.random.default_rng(2)
    mu = (rng.random((300, 784)) < 0.2) * rng.random((300, 784))
    x = np.clip(mu[:100] + rng.normal(0, 0.05, (100, 784)), 0, 1)
    for sigma in (0.1, 0.17):
        ll64 = parzen_log_likelihood(x, mu, sigma, dtype=np.float64)
        ll32 = parzen_log_likelihood(x, mu, sigma, dtype=np.float32)
        assert np.abs(ll32 - ll64).max() < 0.01
        assert abs(ll32.mean() - ll64.mean()) < 1e-3


def test_workers_run_their_gemms_on_one_blas_thread(monkeypatch):
    """With several workers each GEMM runs on one BLAS thread (WORKER_BLAS_THREADS), the
    BLAS's own count comes back after; the log-likelihoods are those of the BLAS's own
    count, within the float32 budget above (in practice bit for bit)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return {i["num_threads"] for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"}
    before = blas_threads()
    seen = []
    real = metrics.parzen._dots

    def spying(*a, **k):
        seen.append(blas_threads())
        return real(*a, **k)

    monkeypatch.setattr(metrics.parzen, "_dots", spying)
    rng = np.random.default_rng(2)
    mu = (rng.random((300, 784)) < 0.2) * rng.random((300, 784))
    x = np.clip(mu[:100] + rng.normal(0, 0.05, (100, 784)), 0, 1)
    one = parzen_log_likelihood(x, mu, [0.1, 0.17], threads=2, block=10)
    assert seen and all(s == {1} for s in seen if s)
    assert blas_threads() == before
    monkeypatch.setattr(metrics.parzen, "WORKER_BLAS_THREADS", None)
    seen.clear()
    own = parzen_log_likelihood(x, mu, [0.1, 0.17], threads=2, block=10)
    assert all(s == before for s in seen)
    assert np.abs(one - own).max() < 0.01
    seen.clear()
    monkeypatch.setattr(metrics.parzen, "WORKER_BLAS_THREADS", 1)
    parzen_log_likelihood(x, mu, 0.1, threads=1)                   # one worker: the BLAS's own count
    assert all(s == before for s in seen)


def test_protocol(small):
    rng = np.random.default_rng(3)
    samples, valid, test = rng.random((40, 5)), rng.random((15, 5)), rng.random((30, 5))
    res = parzen_protocol(samples, valid, test, dtype=np.float64)
    sigma, mean_lls = select_sigma(valid, samples, dtype=np.float64)
    assert res.sigma == sigma
    np.testing.assert_allclose(res.valid_lls, mean_lls)
    lls = brute_force(test, samples, sigma)
    assert res.ll == pytest.approx(lls.mean(), rel=1e-12)
    assert res.se == pytest.approx(lls.std() / math.sqrt(30), rel=1e-10)   # std / sqrt(N), ddof 0
    assert (res.n_test, res.n_samples) == (30, 40)
    assert "nats" in str(res)


def test_input_errors(small):
    x, mu = small
    with pytest.raises(ValueError, match=r"x \(the images scored\) has \d+ features but the samples have 5"):
        parzen_log_likelihood(x, mu[:, :5], 0.2)
    with pytest.raises(ValueError, match=r"x has \d+ features but the samples have 5"):
        squared_distances(x, mu[:, :5])
    with pytest.raises(ValueError, match="positive"):
        parzen_log_likelihood(x, mu, 0.0)
    with pytest.raises(ValueError, match="input samples has no rows"):
        parzen_log_likelihood(x, mu[:0], 0.2)
    with pytest.raises(ValueError, match=r"input x \(the images scored\) has no rows"):
        parzen_log_likelihood(x[:0], mu, 0.2)
    for args, name in (((mu, x[:0], x), "valid"), ((mu, x, x[:0]), "test"), ((mu[:0], x, x), "samples")):
        with pytest.raises(ValueError, match=rf"Parzen input {name} has no rows"):
            parzen_protocol(*args)
    with pytest.raises(ValueError, match="input x .* must be a 2-D"):
        parzen_log_likelihood(x[0], mu, 0.2)
    with pytest.raises(ValueError, match="block must be an integer >= 1"):
        parzen_log_likelihood(x, mu, 0.2, block=0)
    with pytest.raises(ValueError, match="block must be an integer >= 1"):
        parzen_log_likelihood(x, mu, 0.2, block=2.5)
    with pytest.raises(ValueError, match="threads must be an integer >= 1"):
        parzen_log_likelihood(x, mu, 0.2, threads=0)
    for dtype in (np.int32, np.int8, np.float16):
        with pytest.raises(TypeError, match="must be float32 or float64"):
            parzen_log_likelihood(x, mu, 0.2, dtype=dtype)
    with pytest.raises(TypeError, match="real numbers"):
        parzen_log_likelihood(x.astype(np.complex128), mu, 0.2)
    bad = mu.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="input samples holds NaN or infinite"):
        select_sigma(x, bad)
    with pytest.raises(ValueError, match="input x .* holds NaN or infinite"):
        parzen_log_likelihood(np.full_like(x, np.inf), mu, 0.2)


# ---------------------------------------------------------------------- the command
def test_parzen_command_on_a_checkpoint(tmp_path, monkeypatch, capsys):
    """``minigan parzen CKPT`` rebuilds the generator from the checkpoint and prints
    sigma, LL +- se and the real-data ceiling. Synthetic IDX files stand in for MNIST."""
    from minigan import checkpoint, presets
    from minigan.cli import main
    from minigan.data import mnist

    monkeypatch.delenv("MINIGAN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    n_train = 50040                                    # 50,000 train + 40 validation images
    images = np.zeros((n_train, 28, 28), np.uint8)     # a bright square at one of 16 places
    where = rng.integers(0, 16, n_train)
    for p in range(16):
        r, c = divmod(p, 4)
        images[where == p, 4 + 5 * r:8 + 5 * r, 4 + 5 * c:8 + 5 * c] = 255
    mnist.write_idx(folder / "train-images-idx3-ubyte", images)
    mnist.write_idx(folder / "train-labels-idx1-ubyte", rng.integers(0, 10, n_train, dtype=np.uint8))
    mnist.write_idx(folder / "t10k-images-idx3-ubyte",
                    (rng.random((30, 28, 28)) < 0.1).astype(np.uint8) * 255)
    mnist.write_idx(folder / "t10k-labels-idx1-ubyte", rng.integers(0, 10, 30, dtype=np.uint8))
    mnist._CACHE.clear()

    opts = {"data_dir": str(tmp_path / "data"), "seed": 3}
    run = presets.build("mnist-paper", **opts)
    ckpt = checkpoint.save(tmp_path / "ck.npz", run.trainer, preset="mnist-paper", options=opts)
    code = main(["parzen", str(ckpt), "--data-dir", str(tmp_path / "data"), "--n-samples", "60",
                 "--n-valid", "20", "--n-test", "30", "--float64"])
    out = capsys.readouterr().out
    assert code == 0
    gen_line = next(ln for ln in out.splitlines() if ln.startswith("generator"))
    ceil_line = next(ln for ln in out.splitlines() if ln.startswith("real data"))
    # the printed number is the protocol's on the same samples
    samples = run.trainer.sample(60, rng=backend.default_rng(0))
    valid = mnist.load_mnist("valid", data_dir=tmp_path / "data")[0][:20]
    test = mnist.load_mnist("test", data_dir=tmp_path / "data")[0]
    want = parzen_protocol(backend.to_host(samples), valid, test, dtype=np.float64)
    assert f"LL {want.ll:8.1f} +- {want.se:.1f}" in gen_line and f"sigma {want.sigma:.4f}" in gen_line
    assert "ceiling" in ceil_line and "225" in out
    # without --data-dir: the folder the run was trained with (its checkpoint's data_dir), as resume looks
    assert main(["parzen", str(ckpt), "--n-samples", "60", "--n-valid", "20", "--n-test", "30", "--float64"]) == 0
    assert gen_line in capsys.readouterr().out

    assert main(["parzen", str(tmp_path / "missing.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.npz" in err[0]

    toy = presets.build("toy1d", iterations=1)                   # a generator of numbers, not images
    toy_ckpt = checkpoint.save(tmp_path / "toy.npz", toy.trainer, preset="toy1d", options=toy.options)
    assert main(["parzen", str(toy_ckpt), "--data-dir", str(tmp_path / "data"), "--n-samples", "20",
                 "--n-valid", "20", "--n-test", "30", "--no-ceiling"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "toy.npz" in err[0] and "draws samples of 1 numbers, not 28 x 28 images" in err[0]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))        # refused before any data is read
    assert main(["parzen", str(toy_ckpt), "--n-samples", "20"]) == 2
    assert "not 28 x 28 images" in capsys.readouterr().err

    # --averaged scores G with the average of its parameters that the run kept
    avg_opts = {**opts, "g_average": 0.5}
    avg_run = presets.build("mnist-paper", **avg_opts)
    avg_run.trainer.train(2)
    avg_ckpt = checkpoint.save(tmp_path / "avg.npz", avg_run.trainer, preset="mnist-paper", options=avg_opts)
    args = ["--data-dir", str(tmp_path / "data"), "--n-samples", "60", "--n-valid", "20", "--n-test", "30",
            "--float64", "--no-ceiling"]
    assert main(["parzen", str(avg_ckpt), "--averaged"] + args) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("averaged G"))
    samples = avg_run.trainer.sample(60, rng=backend.default_rng(0), averaged=True)
    want = parzen_protocol(backend.to_host(samples), valid, test, dtype=np.float64)
    assert f"LL {want.ll:8.1f} +- {want.se:.1f}" in line and f"sigma {want.sigma:.4f}" in line
    assert main(["parzen", str(ckpt), "--averaged"] + args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ck.npz: this run keeps no average of G to sample" in err[0]


def test_image_statistics_by_hand():
    from minigan.metrics import image_statistics
    a = np.zeros((28, 28))
    a[10, 10:14] = 1.0                    # a bar of 4 white pixels: TV = 4 (up) + 4 (down) + 1 + 1 (ends)
    b = np.full((28, 28), 0.5)            # flat grey: no edges, all grey, none above 0.5
    s = image_statistics(np.stack([a, b]).reshape(2, 784))
    assert s["mean"] == pytest.approx((4 + 0.5 * 784) / (2 * 784))
    assert s["above_half"] == pytest.approx(4 / (2 * 784))
    assert s["grey"] == pytest.approx(784 / (2 * 784))
    assert s["tv"] == pytest.approx((10 + 0) / 2)
    for bad in (np.zeros((3, 100)), np.zeros(784), np.zeros((0, 784))):
        with pytest.raises(ValueError, match=r"image_statistics: images must have shape \(n >= 1, 784\)"):
            image_statistics(bad)
