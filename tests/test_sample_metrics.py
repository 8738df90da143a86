"""FID, the Inception score, improved precision and recall, density and coverage:
against cases worked by hand, identities, and brute force from the definitions."""
import math

import numpy as np
import pytest

import fakecupy
from minigan import metrics
from minigan.metrics import (density_coverage, frechet_distance, inception_score, kth_neighbour_radii,
                             precision_recall)
from minigan.metrics import neighbours


def test_the_public_names():
    for name in ("frechet_distance", "inception_score", "precision_recall", "density_coverage",
                 "kth_neighbour_radii", "neighbour_scores"):
        assert name in metrics.__all__ and callable(getattr(metrics, name))


# ---------------------------------------------------------------- FID

def whitened(rng, n, d):
    """n x d samples whose sample mean is exactly 0 and sample covariance (N - 1) exactly I."""
    z = rng.standard_normal((n, d))
    z -= z.mean(axis=0)
    chol = np.linalg.cholesky(z.T @ z / (n - 1))
    return np.linalg.solve(chol, z.T).T


def test_fid_of_a_set_against_itself_is_zero():
    x = np.random.default_rng(0).standard_normal((500, 16)) * 3 + 1
    assert abs(frechet_distance(x, x)) < 1e-9


def test_fid_against_a_shifted_copy_is_the_squared_shift():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 8)) @ rng.standard_normal((8, 8))     # a full covariance
    shift = rng.standard_normal(8)
    assert frechet_distance(x, x + shift) == pytest.approx(shift @ shift, rel=1e-9, abs=1e-9)


def test_fid_of_gaussians_with_commuting_covariances_matches_the_closed_form():
    # sample covariances Q diag(a) Q^T and Q diag(b) Q^T exactly (Q a rotation): they commute, and
    # d^2 = |mu1 - mu2|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2
    rng = np.random.default_rng(2)
    d = 6
    a, b = rng.uniform(0.1, 4.0, d), rng.uniform(0.1, 4.0, d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    x = mu1 + whitened(rng, 300, d) * np.sqrt(a) @ q.T
    y = mu2 + whitened(rng, 200, d) * np.sqrt(b) @ q.T
    want = (mu1 - mu2) @ (mu1 - mu2) + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(x, y) == pytest.approx(want, rel=1e-9)
    # the same with diagonal covariances (Q = I)
    x, y = mu1 + whitened(rng, 300, d) * np.sqrt(a), mu2 + whitened(rng, 200, d) * np.sqrt(b)
    assert frechet_distance(x, y) == pytest.approx(want, rel=1e-9)


def test_fid_in_2d_matches_the_closed_form_from_sample_moments():
    # for 2 x 2 matrices with eigenvalues l1, l2 >= 0: (sqrt l1 + sqrt l2)^2 = tr M + 2 sqrt(det M),
    # so Tr (C1 C2)^(1/2) = sqrt(tr(C1 C2) + 2 sqrt(det C1 det C2)): no matrix square root at all
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1000, 2)) @ np.array([[2.0, 0.5], [0.0, 0.7]]) + [1.0, -2.0]
    y = rng.standard_normal((700, 2)) @ np.array([[0.4, -0.9], [0.3, 1.5]])
    c1, c2 = np.cov(x, rowvar=False, ddof=1), np.cov(y, rowvar=False, ddof=1)
    dm = x.mean(0) - y.mean(0)
    tr_sqrt = math.sqrt(np.trace(c1 @ c2) + 2 * math.sqrt(np.linalg.det(c1) * np.linalg.det(c2)))
    want = dm @ dm + np.trace(c1) + np.trace(c2) - 2 * tr_sqrt
    assert frechet_distance(x, y) == pytest.approx(want, rel=1e-10)
    assert frechet_distance(y, x) == pytest.approx(want, rel=1e-10)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2 with the N - 1 standard deviations
    u, v = x[:, :1], y[:, 1:]
    want = (u.mean() - v.mean()) ** 2 + (u.std(ddof=1) - v.std(ddof=1)) ** 2
    assert frechet_distance(u, v) == pytest.approx(want, rel=1e-10)


def test_fid_refuses_fewer_samples_than_dimensions_and_bad_input():
    rng = np.random.default_rng(4)
    ok = rng.standard_normal((50, 8))
    with pytest.raises(ValueError, match=r"5 samples but 8 feature dimensions"):
        frechet_distance(ok, rng.standard_normal((5, 8)))
    with pytest.raises(ValueError, match=r"7 samples but 8 feature dimensions"):
        frechet_distance(rng.standard_normal((7, 8)), ok)
    frechet_distance(ok, rng.standard_normal((8, 8)))                 # as many as dimensions: accepted
    bad = ok.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        frechet_distance(ok, bad)
    with pytest.raises(ValueError, match="dimensions"):
        frechet_distance(ok, rng.standard_normal((50, 7)))
    with pytest.raises(ValueError, match="2-D"):
        frechet_distance(ok[:, 0], ok)


def test_fid_of_a_rank_deficient_covariance_stays_real():
    # a covariance of rank 1 in 3-D (sqrtm of C1 C2 would be complex or NaN here): real, >= 0
    rng = np.random.default_rng(5)
    t = rng.standard_normal((200, 1))
    x = t @ np.array([[1.0, 2.0, -1.0]])
    y = rng.standard_normal((200, 3))
    f = frechet_distance(x, y)
    assert isinstance(f, float) and np.isfinite(f) and f > 0
    # a singular covariance: its zero eigenvalues come out at about 1e-16 of the largest, and their
    # square roots at 1e-8: accurate to about sqrt(machine epsilon) times the trace
    assert abs(frechet_distance(x, x)) < 1e-6 * np.trace(np.cov(x, rowvar=False))


# ---------------------------------------------------------------- Inception score

def test_is_of_a_certain_class_uniform_classifier_is_k():
    k = 10
    p = np.eye(k)[np.arange(1000) % k]
    mean, std = inception_score(p, splits=1)
    assert mean == pytest.approx(k, rel=1e-9) and std == 0
    # 10 splits of a shuffled set: each split's p(y) is near uniform, its score a little under K
    mean, std = inception_score(np.eye(k)[np.arange(10000) % k], splits=10)
    assert 0.98 * k < mean <= k and std < 0.1


def test_is_of_a_constant_classifier_is_one():
    p = np.tile([0.1, 0.2, 0.3, 0.4], (100, 1))
    mean, std = inception_score(p, splits=10)
    assert mean == pytest.approx(1.0, abs=1e-9) and std < 1e-9


def test_is_by_hand():
    # rows (1/2, 1/2) and (1, 0): p(y) = (3/4, 1/4); KL_1 = 1/2 log(4/3), KL_2 = log(4/3)
    mean, std = inception_score([[0.5, 0.5], [1.0, 0.0]], splits=1)
    assert mean == pytest.approx((4 / 3) ** 0.75, rel=1e-9) and std == 0


def test_is_shuffles_before_splitting():
    # sorted by class, each unshuffled split would hold one class and score 1
    p = np.eye(10)[np.repeat(np.arange(10), 100)]
    mean, _ = inception_score(p, splits=10)
    assert mean > 8
    assert inception_score(p, splits=10, seed=3) == inception_score(p, splits=10, seed=3)


def test_is_validates_its_input():
    with pytest.raises(ValueError, match="sums to"):
        inception_score(np.random.default_rng(0).random((20, 10)), splits=2)   # not normalised
    with pytest.raises(ValueError, match="non-negative"):
        inception_score(np.random.default_rng(0).standard_normal((20, 10)), splits=2)   # logits
    with pytest.raises(ValueError, match="splits"):
        inception_score(np.full((5, 2), 0.5), splits=10)
    with pytest.raises(ValueError, match="2-D"):
        inception_score(np.full(10, 0.1))


# ---------------------------------------------------------------- k-NN radii, P/R, D/C

def brute_radii(x, k):
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def brute_prdc(real, fake, k):
    """Straight from the definitions: full distance matrices, sorted radii."""
    rr, rf = brute_radii(real, k), brute_radii(fake, k)
    d = np.sqrt(((real[:, None] - fake[None]) ** 2).sum(-1))            # (N, M)
    precision = (d <= rr[:, None]).any(axis=0).mean()
    recall = (d <= rf[None, :]).any(axis=1).mean()
    density = (d < rr[:, None]).sum() / (k * fake.shape[0])
    coverage = (d.min(axis=1) < rr).mean()
    return precision, recall, density, coverage


@pytest.mark.parametrize("block,threads", [(1, 1), (7, 3), (64, 2), (65, None), (200, None), (None, 1)])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_blocked_radii_equal_brute_force(block, threads, k):
    x = np.random.default_rng(k).standard_normal((65, 4))
    want = brute_radii(x, k)
    np.testing.assert_allclose(kth_neighbour_radii(x, k, block=block, threads=threads), want, rtol=1e-10)
    np.testing.assert_allclose(kth_neighbour_radii(x, k, block=block, threads=threads, dtype=np.float32),
                               want, rtol=1e-4)


def test_radii_count_a_duplicate_as_a_neighbour_at_distance_zero():
    x = np.array([[0.0], [0.0], [3.0], [7.0]])
    np.testing.assert_array_equal(kth_neighbour_radii(x, 1), [0, 0, 3, 4])
    np.testing.assert_array_equal(kth_neighbour_radii(x, 2), [3, 3, 3, 7])
    with pytest.raises(ValueError, match="at least k \\+ 1 = 5 rows"):
        kth_neighbour_radii(x, 4)


def test_the_block_size_rule_never_holds_n_by_n():
    m = 10_000
    rows = neighbours._block_rows(m, None)
    assert rows * m * 8 <= neighbours.BLOCK_BYTES and rows < m


def test_precision_recall_density_coverage_by_hand():
    # real 0, 1, 2, 4 with k = 1: radii 1, 1, 1, 2 (balls [-1,1], [0,2], [1,3], [2,6]);
    # fake 1.5, 3, 10: radii 1.5, 1.5, 7 (balls [0,3], [1.5,4.5], [3,17])
    real = np.array([[0.0], [1.0], [2.0], [4.0]])
    fake = np.array([[1.5], [3.0], [10.0]])
    # precision: 1.5 in [0,2]; 3 in [2,6] (and on the edge of [1,3]: closed); 10 in none -> 2/3
    # recall: 0, 1, 2, 4 all in [0,3] u [1.5,4.5] -> 1
    assert precision_recall(real, fake, k=1) == pytest.approx((2 / 3, 1.0))
    # density (open balls): 1.5 strictly inside [0,2] and [1,3]; 3 inside (2,6) only (on the edge of
    # (1,3)); 10 in none -> (2 + 1 + 0) / (1 * 3) = 1
    # coverage: nearest fakes 1.5, 0.5, 0.5, 1 vs radii 1, 1, 1, 2 -> reals 1, 2, 4 -> 3/4
    assert density_coverage(real, fake, k=1) == pytest.approx((1.0, 0.75))
    # k = 2: real radii 2, 1, 2, 3; fake radii 8.5, 7, 8.5
    # precision: 1.5 in [-2,2]; 3 in [0,4]; 10 is 10, 9, 8, 6 from the reals, beyond 2, 1, 2, 3 -> 2/3
    # recall: every real within 8.5 of fake 1.5 -> 1
    assert precision_recall(real, fake, k=2) == pytest.approx((2 / 3, 1.0))
    # density: 1.5 in (-2,2), (0,2), (0,4), (1,7) -> 4; 3 in (0,4), (1,7) -> 2; 10 none -> 6 / (2 * 3) = 1
    # coverage: nearest fakes 1.5 < 2, 0.5 < 1, 0.5 < 2, 1 < 3 -> 1
    assert density_coverage(real, fake, k=2) == pytest.approx((1.0, 1.0))


@pytest.mark.parametrize("block,threads", [(1, 1), (13, 3), (None, None)])
def test_prdc_equal_brute_force(block, threads):
    rng = np.random.default_rng(7)
    real, fake = rng.standard_normal((90, 3)), rng.standard_normal((60, 3)) * 1.3 + 0.4
    for k in (1, 3, 5):
        p, r, d, c = brute_prdc(real, fake, k)
        opts = dict(k=k, block=block, threads=threads)
        assert precision_recall(real, fake, **opts) == pytest.approx((p, r), abs=1e-12)
        assert density_coverage(real, fake, **opts) == pytest.approx((d, c), abs=1e-12)
        # and the other way round (more fakes than reals)
        assert precision_recall(fake, real, **opts) == pytest.approx(brute_prdc(fake, real, k)[:2], abs=1e-12)
        assert density_coverage(fake, real, **opts) == pytest.approx(brute_prdc(fake, real, k)[2:], abs=1e-12)
        assert density_coverage(real, fake, dtype=np.float32, **opts) == pytest.approx((d, c), abs=0.02)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_identical_sets(dtype):
    x = np.random.default_rng(8).standard_normal((300, 5))
    assert precision_recall(x, x, dtype=dtype) == (1.0, 1.0)
    # every open ball holds its own centre and its k - 1 nearest neighbours, and its k-th nearest sits
    # exactly on its edge: in exact arithmetic density is 1; here the two roundings of that one
    # distance (row i against j, and j against i) decide whether it counts, so 1 <= density <= 1 + 1/k
    density, coverage = density_coverage(x, x, dtype=dtype)
    assert coverage == 1.0 and 1.0 <= density <= 1.2


def test_density_and_coverage_for_one_distribution():
    # two samples of one distribution in 2-D: E density = 1, coverage near 1 - 2^-k (0.969 for k = 5)
    rng = np.random.default_rng(9)
    draws = [density_coverage(rng.standard_normal((1000, 2)), rng.standard_normal((1000, 2)), k=5)
             for _ in range(5)]
    density, coverage = np.mean(draws, axis=0)
    assert density == pytest.approx(1.0, abs=0.03)
    assert coverage == pytest.approx(1 - 2 ** -5, abs=0.01)
    p, r = precision_recall(rng.standard_normal((1000, 2)), rng.standard_normal((1000, 2)))
    assert p > 0.9 and r > 0.9


def test_prdc_refuse_bad_input():
    x = np.random.default_rng(0).standard_normal((20, 3))
    with pytest.raises(ValueError, match="features"):
        precision_recall(x, x[:, :2])
    bad = x.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        density_coverage(x, bad)
    with pytest.raises(ValueError, match="k must be"):
        density_coverage(x, x, k=0)
    with pytest.raises(ValueError, match="block"):
        precision_recall(x, x, block=0)
    with pytest.raises(ValueError, match="threads"):
        precision_recall(x, x, threads=0)


# ---------------------------------------------------------------- radii computed once, reused

@pytest.mark.parametrize("block,threads", [(1, 1), (7, 3), (None, None)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_several_k_in_one_pass_equal_single_k_calls(block, threads, dtype):
    # ties included: integer coordinates put many neighbours at one distance
    x = np.random.default_rng(3).integers(-3, 4, (80, 3)).astype(np.float64)
    opts = dict(block=block, threads=threads, dtype=dtype)
    for ks in ((3, 5), (5, 3), (1, 2, 7), (4,), [2, 2]):
        many = kth_neighbour_radii(x, ks, **opts)
        assert isinstance(many, tuple) and len(many) == len(ks)
        for k, r in zip(ks, many):
            np.testing.assert_array_equal(r, kth_neighbour_radii(x, k, **opts))
        for k, r2 in zip(ks, kth_neighbour_radii(x, ks, squared=True, **opts)):
            np.testing.assert_array_equal(r2, neighbours.sq_radii(
                *neighbours._features(x, "features", "t", dtype), k, block, threads, "features", "t"))
    np.testing.assert_array_equal(kth_neighbour_radii(x, (3, 5), squared=True)[1] ** 0.5,
                                  kth_neighbour_radii(x, 5))
    with pytest.raises(ValueError, match="k must be"):
        kth_neighbour_radii(x, ())
    with pytest.raises(ValueError, match="k must be"):
        kth_neighbour_radii(x, (3, 0))
    with pytest.raises(ValueError, match="at least k \\+ 1 = 81 rows"):
        kth_neighbour_radii(x, (3, 80))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_precomputed_radii_give_bit_identical_results(dtype):
    rng = np.random.default_rng(11)
    # many ties (integer features): a changed radius would show as a changed count
    real = rng.integers(0, 4, (300, 4)).astype(np.float64)
    fakes = [rng.integers(0, 4, (250, 4)).astype(np.float64), rng.standard_normal((400, 4)) + 1.5]
    r3, r5 = kth_neighbour_radii(real, (3, 5), squared=True, dtype=dtype)
    for fake in fakes:
        f3 = kth_neighbour_radii(fake, 3, squared=True, dtype=dtype)
        want_pr = precision_recall(real, fake, k=3, dtype=dtype)
        want_dc = density_coverage(real, fake, k=5, dtype=dtype)
        assert precision_recall(real, fake, k=3, real_sq_radii=r3, dtype=dtype) == want_pr
        assert precision_recall(real, fake, k=3, fake_sq_radii=f3, dtype=dtype) == want_pr
        assert precision_recall(real, fake, k=3, real_sq_radii=r3, fake_sq_radii=f3, dtype=dtype) == want_pr
        assert density_coverage(real, fake, k=5, real_sq_radii=r5, dtype=dtype) == want_dc


def test_wrong_precomputed_radii_are_refused():
    rng = np.random.default_rng(12)
    real, fake = rng.standard_normal((30, 3)), rng.standard_normal((20, 3))
    r3 = kth_neighbour_radii(real, 3, squared=True)
    f3 = kth_neighbour_radii(fake, 3, squared=True)
    with pytest.raises(ValueError, match=r"real_sq_radii must have shape \(30,\)"):
        precision_recall(real, fake, real_sq_radii=f3)                 # the other set's radii
    with pytest.raises(ValueError, match=r"fake_sq_radii must have shape \(20,\)"):
        precision_recall(real, fake, fake_sq_radii=r3)
    with pytest.raises(ValueError, match=r"real_sq_radii must have shape \(30,\)"):
        density_coverage(real, fake, real_sq_radii=r3[:, None])         # (30, 1), not (30,)
    with pytest.raises(ValueError, match=r"real_sq_radii must have shape"):
        density_coverage(real, fake, real_sq_radii=np.float64(1.0))
    with pytest.raises(ValueError, match="finite and >= 0"):
        density_coverage(real, fake, real_sq_radii=-r3 - 1)
    with pytest.raises(ValueError, match="finite and >= 0"):
        precision_recall(real, fake, real_sq_radii=np.full(30, np.nan))
    with pytest.raises(TypeError, match="real numbers"):
        precision_recall(real, fake, real_sq_radii=np.array(["a"] * 30))
    with pytest.raises(ValueError, match="k must be"):
        density_coverage(real, fake, k=0, real_sq_radii=r3)


def test_metrics_take_device_arrays(monkeypatch):
    cp = fakecupy.install(monkeypatch)
    rng = np.random.default_rng(10)
    real, fake = rng.standard_normal((100, 4)), rng.standard_normal((80, 4))
    p = rng.dirichlet(np.ones(5), 50)
    assert frechet_distance(cp.asarray(real), cp.asarray(fake)) == frechet_distance(real, fake)
    assert inception_score(cp.asarray(p), splits=5) == inception_score(p, splits=5)
    assert precision_recall(cp.asarray(real), cp.asarray(fake)) == precision_recall(real, fake)
    assert density_coverage(cp.asarray(real), cp.asarray(fake)) == density_coverage(real, fake)


# ---------------------------------------------------------------- the four in one pass

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("block,threads", [(1, 1), (13, 3), (None, None)])
def test_neighbour_scores_equal_the_textbook_pair_bit_for_bit(dtype, block, threads):
    rng = np.random.default_rng(21)
    # integer features: many distances tie with radii, so a changed comparison would show
    real = rng.integers(0, 4, (120, 4)).astype(np.float64)
    fakes = [rng.integers(0, 4, (90, 4)).astype(np.float64), rng.standard_normal((150, 4)) + 1.5, real.copy()]
    opts = dict(dtype=dtype, block=block, threads=threads)
    radii = kth_neighbour_radii(real, (3, 5), squared=True, dtype=dtype, block=block, threads=threads)
    for fake in fakes:
        p, r = precision_recall(real, fake, k=3, **opts)
        d, c = density_coverage(real, fake, k=5, **opts)
        want = {"precision": p, "recall": r, "density": d, "coverage": c}
        assert metrics.neighbour_scores(real, fake, **opts) == want
        assert metrics.neighbour_scores(real, fake, real_sq_radii=radii, **opts) == want
        f3 = kth_neighbour_radii(fake, 3, squared=True, dtype=dtype, block=block, threads=threads)
        assert metrics.neighbour_scores(real, fake, real_sq_radii=radii, fake_sq_radii=f3, **opts) == want


def test_neighbour_scores_other_k_and_by_hand():
    real = np.array([[0.0], [1.0], [2.0], [4.0]])
    fake = np.array([[1.5], [3.0], [10.0]])
    # the hand-worked case of test_precision_recall_density_coverage_by_hand, k = 1 and k = 2
    assert metrics.neighbour_scores(real, fake, k_precision=1, k_density=1) == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "density": 1.0, "coverage": 0.75})
    assert metrics.neighbour_scores(real, fake, k_precision=2, k_density=2) == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "density": 1.0, "coverage": 1.0})


def test_neighbour_scores_refuse_bad_radii():
    rng = np.random.default_rng(22)
    real, fake = rng.standard_normal((30, 3)), rng.standard_normal((20, 3))
    r3, r5 = kth_neighbour_radii(real, (3, 5), squared=True)
    with pytest.raises(ValueError, match="must be a pair"):
        metrics.neighbour_scores(real, fake, real_sq_radii=r3)
    with pytest.raises(ValueError, match=r"real_sq_radii must have shape \(30,\)"):
        metrics.neighbour_scores(real, fake, real_sq_radii=(r3, r5[:10]))
    with pytest.raises(ValueError, match=r"fake_sq_radii must have shape \(20,\)"):
        metrics.neighbour_scores(real, fake, fake_sq_radii=r3)
    with pytest.raises(ValueError, match="have 3 features but fake_features have 2"):
        metrics.neighbour_scores(real, fake[:, :2])
