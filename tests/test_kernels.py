"""The compiled kernels called directly, against plain numpy."""

import numpy as np
import pytest

from gmmcore import _kernels
from gmmcore._mstep import KernelParams, Statistics, precisions_cholesky_from_precisions
from conftest import COVARIANCE_TYPES, random_precisions

E = {np.float64: (np.empty(0), np.empty((0, 0))), np.float32: (np.empty(0, np.float32),
                                                                  np.empty((0, 0), np.float32))}
NO_LABELS = np.empty(0, dtype=np.intp)


def setup(covariance_type, k, d, n, dtype, seed=0):
    rng = np.random.RandomState(seed)
    X = (rng.randn(n, d) * 2).astype(dtype)
    weights = rng.dirichlet(np.ones(k))
    means = rng.randn(k, d)
    prec_chol = precisions_cholesky_from_precisions(
        random_precisions(covariance_type, k, d, rng), covariance_type)
    return X, KernelParams(weights, means, prec_chol, covariance_type, dtype), rng


def dense_precision(covariance_type, kp, c, d):
    if covariance_type == "full":
        U = kp.prec.reshape(-1, d, d)[c].astype(np.float64)
        return U @ U.T
    if covariance_type == "tied":
        U = kp.prec.reshape(d, d).astype(np.float64)
        return U @ U.T
    if covariance_type == "diag":
        return np.diag(kp.prec.reshape(-1, d)[c].astype(np.float64))
    return np.eye(d) * float(kp.prec[c])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [1, 3, 8, 9, 20])
def test_e_step_statistics_match_numpy(covariance_type, dtype, d):
    k, n = 3, 700  # several blocks of 256 and a partial one
    X, kp, rng = setup(covariance_type, k, d, n, dtype, seed=d)
    w = rng.uniform(0, 2, n).astype(dtype)
    shifts = rng.randn(k, d).astype(dtype)
    tied_shift = rng.randn(d).astype(dtype)
    stats = Statistics(covariance_type, shifts, tied_shift)
    e1, e2 = E[dtype]
    loglik, weight, n_bad = _kernels.e_step(
        X, 0, n, w, kp.cov_code, kp.means, kp.prec, kp.means_prec, kp.log_const, shifts,
        tied_shift, stats.nk, stats.s1, stats.s2, e2, e1, NO_LABELS)

    X64, m64 = X.astype(np.float64), kp.means.astype(np.float64)
    log_prob = np.empty((n, k))
    for c in range(k):
        diff = X64 - m64[c]
        P = dense_precision(covariance_type, kp, c, d)
        log_prob[:, c] = kp.log_const[c] - 0.5 * np.einsum("ij,jk,ik->i", diff, P, diff)
    top = log_prob.max(axis=1)
    lpn = top + np.log(np.exp(log_prob - top[:, None]).sum(axis=1))
    resp = np.exp(log_prob - lpn[:, None]) * w[:, None]

    rtol = 1e-12 if dtype == np.float64 else 2e-5
    assert n_bad == 0
    assert weight == pytest.approx(w.sum(dtype=np.float64), rel=1e-12)
    assert loglik == pytest.approx(w @ lpn, rel=rtol)
    np.testing.assert_allclose(stats.nk, resp.sum(axis=0), rtol=rtol)
    s64 = shifts.astype(np.float64)
    np.testing.assert_allclose(stats.s1, np.stack([resp[:, c] @ (X64 - s64[c]) for c in range(k)]),
                               rtol=rtol, atol=rtol * n)
    if covariance_type == "full":
        expected = np.stack([np.tril((resp[:, c, None] * (X64 - s64[c])).T @ (X64 - s64[c]))
                             for c in range(k)])
        got = np.tril(stats.s2.reshape(k, d, d))
    elif covariance_type == "tied":
        diff = X64 - tied_shift.astype(np.float64)
        expected = np.tril((w.astype(np.float64)[:, None] * diff).T @ diff)
        got = np.tril(stats.s2.reshape(d, d))
    elif covariance_type == "diag":
        expected = np.stack([resp[:, c] @ (X64 - s64[c]) ** 2 for c in range(k)])
        got = stats.s2.reshape(k, d)
    else:
        expected = np.array([resp[:, c] @ ((X64 - s64[c]) ** 2).sum(axis=1) for c in range(k)])
        got = stats.s2
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_shards_add_up_to_the_whole(dtype):
    X, kp, rng = setup("full", 4, 5, 1000, dtype)
    shifts = kp.means.copy()
    e1, e2 = E[dtype]

    def run(start, end):
        s = Statistics("full", shifts, e1)
        s.loglik, s.weight, _ = _kernels.e_step(
            X, start, end, e1, kp.cov_code, kp.means, kp.prec, kp.means_prec, kp.log_const,
            shifts, e1, s.nk, s.s1, s.s2, e2, e1, NO_LABELS)
        return s

    whole = run(0, 1000)
    parts = run(0, 333)
    parts += run(333, 1000)
    for name in ("nk", "s1", "s2"):
        np.testing.assert_allclose(getattr(parts, name), getattr(whole, name), rtol=1e-12)
    assert parts.loglik == pytest.approx(whole.loglik, rel=1e-12)


def test_per_row_outputs_and_row_ranges():
    X, kp, _ = setup("diag", 3, 4, 600, np.float64)
    e1, e2 = E[np.float64]
    resp = np.full((600, 3), -1.0)
    lpn = np.full(600, -1.0)
    labels = np.full(600, -7, dtype=np.intp)
    _kernels.e_step(X, 100, 400, e1, kp.cov_code, kp.means, kp.prec, kp.means_prec,
                    kp.log_const, e2, e1, e1, e2, e1, resp, lpn, labels)
    # rows outside [100, 400) are untouched
    assert (resp[:100] == -1).all() and (resp[400:] == -1).all()
    assert (labels[:100] == -7).all() and (labels[400:] == -7).all()
    np.testing.assert_allclose(resp[100:400].sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(labels[100:400], resp[100:400].argmax(axis=1))
    assert np.isfinite(lpn[100:400]).all()


def test_kernel_checks_shapes_and_ranges_before_running():
    X, kp, _ = setup("full", 2, 3, 50, np.float64)
    e1, e2 = E[np.float64]
    with pytest.raises(ValueError, match="outside"):
        _kernels.e_step(X, 0, 51, e1, kp.cov_code, kp.means, kp.prec, kp.means_prec,
                        kp.log_const, e2, e1, e1, e2, e1, e2, e1, NO_LABELS)
    with pytest.raises(ValueError, match="outside"):
        _kernels.e_step(X, 30, 20, e1, kp.cov_code, kp.means, kp.prec, kp.means_prec,
                        kp.log_const, e2, e1, e1, e2, e1, e2, e1, NO_LABELS)
    with pytest.raises(ValueError, match="prec has shape"):
        _kernels.e_step(X, 0, 50, e1, kp.cov_code, kp.means, kp.prec[:-1], kp.means_prec,
                        kp.log_const, e2, e1, e1, e2, e1, e2, e1, NO_LABELS)
    with pytest.raises(ValueError, match="out_resp has shape"):
        _kernels.e_step(X, 0, 50, e1, kp.cov_code, kp.means, kp.prec, kp.means_prec,
                        kp.log_const, e2, e1, e1, e2, e1, np.empty((49, 2)), e1, NO_LABELS)
    with pytest.raises(ValueError, match="s2 has shape"):
        _kernels.e_step(X, 0, 50, e1, kp.cov_code, kp.means, kp.prec, kp.means_prec,
                        kp.log_const, kp.means, e1, np.zeros(2), np.zeros((2, 3)),
                        np.zeros(9), e2, e1, NO_LABELS)
    with pytest.raises(ValueError, match="label 5"):
        _kernels.stats_from_assignment(X, 0, 50, e1, kp.cov_code, e2, np.full(50, 5, np.intp),
                                       2, kp.means, e1, np.zeros(2), np.zeros((2, 3)),
                                       np.zeros(18))
    with pytest.raises(ValueError):  # dtype mismatch between arguments
        _kernels.e_step(X.astype(np.float32), 0, 50, e1, kp.cov_code, kp.means, kp.prec,
                        kp.means_prec, kp.log_const, e2, e1, e1, e2, e1, e2, e1, NO_LABELS)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lloyd_step_matches_numpy(dtype):
    rng = np.random.RandomState(0)
    X = rng.randn(900, 6).astype(dtype)
    shift = X.mean(axis=0).astype(dtype)
    centers = rng.randn(5, 6).astype(dtype)
    labels = np.full(900, -1, dtype=np.intp)
    sums, weight = np.zeros((5, 6)), np.zeros(5)
    n_changed, inertia = _kernels.lloyd_step(X, 0, 900, E[dtype][0], shift, centers, labels,
                                             sums, weight)
    Xs = X.astype(np.float64) - shift
    dist = ((Xs[:, None, :] - centers.astype(np.float64)[None]) ** 2).sum(axis=2)
    expected = dist.argmin(axis=1)
    clear = np.sort(dist, axis=1)[:, 1] - dist.min(axis=1) > 1e-3
    np.testing.assert_array_equal(labels[clear], expected[clear])
    assert n_changed == 900
    np.testing.assert_allclose(weight, np.bincount(labels, minlength=5))
    np.testing.assert_allclose(sums, np.stack([Xs[labels == c].sum(axis=0) for c in range(5)]),
                               rtol=1e-5, atol=1e-4)
    assert inertia == pytest.approx(dist[np.arange(900), labels].sum(), rel=1e-5)


def test_all_finite():
    X = np.ones((10, 3))
    assert _kernels.all_finite(X)
    X[7, 2] = np.nan
    assert not _kernels.all_finite(X)
    X[7, 2] = -np.inf
    assert not _kernels.all_finite(X.astype(np.float32))
