"""A plain-numpy EM, written from the textbook equations, as a second reference."""

import numpy as np
import pytest

from gmmcore import GaussianMixture
from conftest import (COVARIANCE_TYPES, dense_covariances_from_precisions, initial_values,
                      make_blobs, max_rel)


def log_gaussian(X, mean, cov):
    d = X.shape[1]
    L = np.linalg.cholesky(cov)
    z = np.linalg.solve(L, (X - mean).T)
    return -0.5 * (d * np.log(2 * np.pi) + (z**2).sum(axis=0)) - np.log(np.diag(L)).sum()


def numpy_em(X, covariance_type, weights, means, covs, n_iter, reg_covar):
    """EM with dense covariances; returns the parameters after n_iter steps and the bounds."""
    n, d = X.shape
    k = len(weights)
    bounds = []
    for _ in range(n_iter):
        log_prob = np.column_stack([np.log(weights[c]) + log_gaussian(X, means[c], covs[c])
                                    for c in range(k)])
        top = log_prob.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(log_prob - top).sum(axis=1))
        bounds.append(log_norm.mean())
        resp = np.exp(log_prob - log_norm[:, None])
        nk = resp.sum(axis=0)
        weights = nk / n
        means = (resp.T @ X) / nk[:, None]
        scatter = [(resp[:, c, None] * (X - means[c])).T @ (X - means[c]) / nk[c]
                   for c in range(k)]
        if covariance_type == "full":
            covs = [s + reg_covar * np.eye(d) for s in scatter]
        elif covariance_type == "tied":
            tied = sum(nk[c] * scatter[c] for c in range(k)) / n + reg_covar * np.eye(d)
            covs = [tied] * k
        elif covariance_type == "diag":
            covs = [np.diag(np.diag(s)) + reg_covar * np.eye(d) for s in scatter]
        else:
            covs = [np.eye(d) * (np.trace(s) / d + reg_covar) for s in scatter]
    return weights, means, covs, bounds


def to_dense(covariance_type, covariances, k, d):
    if covariance_type == "full":
        return list(covariances)
    if covariance_type == "tied":
        return [covariances] * k
    if covariance_type == "diag":
        return [np.diag(c) for c in covariances]
    return [np.eye(d) * c for c in covariances]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_matches_plain_numpy_em(covariance_type):
    k, d, n_iter, reg = 3, 4, 12, 1e-6
    X = make_blobs(n_samples=600, n_features=d, n_components=3, seed=21)
    start = initial_values(X, covariance_type, k, seed=5)
    model = GaussianMixture(n_components=k, covariance_type=covariance_type, max_iter=n_iter,
                            tol=0.0, reg_covar=reg, **start)
    with pytest.warns(UserWarning, match="did not converge"):
        model.fit(X)
    weights, means, covs, bounds = numpy_em(
        X, covariance_type, start["weights_init"], start["means_init"],
        dense_covariances_from_precisions(covariance_type, start["precisions_init"], k, d),
        n_iter, reg)
    np.testing.assert_allclose(model.lower_bounds_, bounds, rtol=1e-9)
    assert max_rel(model.weights_, weights) < 1e-8
    assert max_rel(model.means_, means) < 1e-8
    assert max_rel(to_dense(covariance_type, model.covariances_, k, d), covs) < 1e-8


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunked", [False, True])
def test_tied_far_from_the_origin_matches_plain_numpy_em(dtype, chunked):
    """Tied with d > 8 (the triangular products and S2 taken once per fit, then moved to
    each pass's shift), data far from the origin, clusters far apart, two threads, in
    memory and from a chunk source: the float64 textbook EM on the same rows."""
    k, d, n_iter, reg = 3, 12, 10, 1e-6
    X = (make_blobs(n_samples=3000, n_features=d, n_components=k, seed=4, spread=12.0)
         + 1000.0).astype(dtype)
    start = initial_values(X, "tied", k, seed=2)
    model = GaussianMixture(n_components=k, covariance_type="tied", max_iter=n_iter, tol=0.0,
                            reg_covar=reg, n_threads=2, **start)
    source = (lambda: (X[a:a + 700] for a in range(0, len(X), 700))) if chunked else X
    with pytest.warns(UserWarning, match="did not converge"):
        model.fit(source)
    X64 = X.astype(np.float64)
    weights, means, covs, bounds = numpy_em(
        X64, "tied", start["weights_init"], start["means_init"],
        dense_covariances_from_precisions("tied", start["precisions_init"], k, d), n_iter, reg)
    # float32: log-densities in float32 (the bounds), statistics in double
    f32 = dtype == np.float32
    np.testing.assert_allclose(model.lower_bounds_, bounds, rtol=1e-5 if f32 else 1e-9)
    tol = 1e-6 if f32 else 1e-9
    assert max_rel(model.weights_, weights) < tol
    assert max_rel(model.means_, means) < tol
    # the within-cluster covariance (entries of a few units) of rows about 1000 from
    # the origin: float32 sums of x xᵀ would leave nothing of it
    assert max_rel(model.covariances_, covs[0]) < tol
