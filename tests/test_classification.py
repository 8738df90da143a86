"""Classification from logits: log-sum-exp, softmax, log-softmax and the softmax cross-entropy.
Gradients against float64 central differences (the gradcheck tools), values against the naive
formulas where those are safe, finiteness where they are not, dtypes and errors."""
import numpy as np
import pytest

from minigan import backend, losses
from minigan.gradcheck import check_function, check_loss


dev, host = backend.to_device, backend.to_host      # inputs onto the active backend, results back for asserts


def naive_softmax(a):
    e = np.exp(a)
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("scale", [1.0, 10.0])
def test_softmax_cross_entropy_gradient(rng, scale):
    a = dev(rng.standard_normal((6, 5)) * scale)
    y = dev(rng.integers(0, 5, 6))
    res = check_loss(losses.softmax_cross_entropy, a, labels=y, title="softmax_cross_entropy")
    assert res.passed, res


def test_logsumexp_gradient_is_softmax(rng):
    a = dev(rng.standard_normal((4, 7)) * 3)
    value, grad = losses.logsumexp(a)
    assert value.shape == (4,) and grad.shape == (4, 7)
    res = check_function(lambda x: losses.logsumexp(x)[0], lambda g: g[:, None] * losses.softmax(a), a,
                         title="logsumexp (its gradient: softmax)")
    assert res.passed, res


def test_log_softmax_gradient(rng):
    """d log softmax(a)_k / da_j = [j = k] - softmax(a)_j: its vector-Jacobian product
    g - softmax(a) sum_k g_k, checked against central differences."""
    a = dev(rng.standard_normal((3, 4)) * 2)
    p = losses.softmax(a)
    res = check_function(losses.log_softmax, lambda g: g - p * g.sum(axis=1, keepdims=True), a,
                         title="log_softmax")
    assert res.passed, res


def test_a_wrong_gradient_fails_the_check(rng):
    a, y = dev(rng.standard_normal((5, 3))), dev(rng.integers(0, 3, 5))

    def wrong(logits, labels):
        value, grad = losses.softmax_cross_entropy(logits, labels)
        return value, grad * 2.0                        # e.g. a sum where the mean was meant
    assert not check_loss(wrong, a, labels=y).passed


def test_values_equal_the_naive_formulas_in_the_safe_range(rng):
    a = rng.standard_normal((8, 10))
    y = rng.integers(0, 10, 8)
    p = naive_softmax(a)
    assert np.allclose(host(losses.softmax(dev(a))), p, rtol=1e-14, atol=0)
    assert np.allclose(host(losses.logsumexp(dev(a))[0]), np.log(np.exp(a).sum(axis=1)), rtol=1e-14)
    assert np.allclose(host(losses.log_softmax(dev(a))), np.log(p), rtol=1e-13, atol=1e-15)
    value, grad = losses.softmax_cross_entropy(dev(a), dev(y))
    assert float(value) == pytest.approx(-np.log(p[np.arange(8), y]).mean(), rel=1e-14)
    assert np.allclose(host(grad), (p - np.eye(10)[y]) / 8, rtol=1e-13, atol=1e-17)
    assert np.allclose(host(losses.softmax(dev(a)).sum(axis=1)), 1, rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_overflow_or_nan_at_extreme_logits(dtype):
    a = dev(np.array([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -1000.0], [0.0, 0.0, 0.0]], dtype=dtype))
    lse, p = map(host, losses.logsumexp(a))
    assert np.all(np.isfinite(lse)) and np.all(np.isfinite(p))
    assert lse[0] == 1000 and lse[1] == pytest.approx(-1000 + np.log(3), rel=1e-6)
    assert lse[2] == pytest.approx(np.log(3), rel=1e-6)
    # the wrong class at +2000 nats: the loss is 2000, not inf, and its gradient is exact
    value, grad = losses.softmax_cross_entropy(a[:1], dev(np.array([2])))
    assert float(value) == pytest.approx(2000, rel=1e-6)
    assert np.allclose(host(grad), [[1, 0, -1]])
    assert np.all(np.isfinite(host(losses.log_softmax(a))))
    assert host(losses.log_softmax(a))[0, 2] == -2000


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_in_dtype_out(rng, dtype):
    a = dev(rng.standard_normal((4, 3)).astype(dtype))
    value, grad = losses.softmax_cross_entropy(a, dev(np.array([0, 1, 2, 0])))
    assert value.dtype == dtype and grad.dtype == dtype and grad.shape == a.shape
    assert losses.logsumexp(a)[0].dtype == dtype and losses.log_softmax(a).dtype == dtype


def test_labels_may_be_any_integer_type(rng):
    a = dev(rng.standard_normal((4, 3)))
    want = [host(w) for w in losses.softmax_cross_entropy(a, dev(np.array([0, 1, 2, 0])))]
    for dt in (np.int32, np.uint8, np.int64):
        got = [host(g) for g in losses.softmax_cross_entropy(a, dev(np.array([0, 1, 2, 0], dtype=dt)))]
        assert got[0] == want[0] and np.array_equal(got[1], want[1])


def test_bad_input_raises_clear_errors(rng):
    a = dev(rng.standard_normal((4, 3)))
    with pytest.raises(TypeError, match="floating-point"):
        losses.softmax_cross_entropy(dev(np.zeros((4, 3), dtype=int)), dev(np.zeros(4, dtype=int)))
    with pytest.raises(ValueError, match=r"shape \(N, K\)"):
        losses.logsumexp(a[0])
    with pytest.raises(ValueError, match="4 integer labels"):
        losses.softmax_cross_entropy(a, dev(np.zeros(3, dtype=int)))
    with pytest.raises(ValueError, match="4 integer labels"):
        losses.softmax_cross_entropy(a, dev(np.zeros(4)))
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        losses.softmax_cross_entropy(a, dev(np.array([0, 1, 3, 0])))
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        losses.softmax_cross_entropy(a, dev(np.array([0, -1, 2, 0])))
