"""predict_proba and score_samples against scipy.stats.multivariate_normal."""

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gmmcore import GaussianMixture
from conftest import COVARIANCE_TYPES, dense_covariances_from_precisions, random_precisions


def model_with_parameters(covariance_type, weights, means, precisions, X):
    """A gmmcore model whose parameters are exactly the given ones (max_iter=0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(
            n_components=len(weights), covariance_type=covariance_type, max_iter=0,
            weights_init=weights, means_init=means, precisions_init=precisions).fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k,d", [(1, 1), (3, 2), (4, 7), (2, 9), (5, 16)])
def test_against_scipy_multivariate_normal(covariance_type, dtype, k, d):
    rng = np.random.RandomState(k * 100 + d)
    weights = rng.dirichlet(np.ones(k))
    means = rng.randn(k, d) * 3
    precisions = random_precisions(covariance_type, k, d, rng)
    X = (rng.randn(300, d) * 2.5).astype(dtype)
    model = model_with_parameters(covariance_type, weights, means, precisions, X)

    covs = dense_covariances_from_precisions(covariance_type, precisions, k, d)
    X64 = X.astype(np.float64)
    log_dens = np.column_stack([
        np.log(weights[c]) + multivariate_normal(means[c], covs[c]).logpdf(X64).reshape(-1)
        for c in range(k)])
    expected_lpn = logsumexp(log_dens, axis=1)
    expected_resp = np.exp(log_dens - expected_lpn[:, None])

    rtol = 1e-10 if dtype == np.float64 else 1e-4
    lpn = model.score_samples(X)
    resp = model.predict_proba(X)
    assert lpn.dtype == dtype and resp.dtype == dtype
    np.testing.assert_allclose(lpn, expected_lpn, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(resp, expected_resp, rtol=0, atol=10 * rtol)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=0, atol=10 * rtol)
    np.testing.assert_array_equal(model.predict(X)[expected_resp.max(axis=1) > 0.6],
                                  expected_resp.argmax(axis=1)[expected_resp.max(axis=1) > 0.6])
    assert model.score(X) == pytest.approx(expected_lpn.mean(), rel=rtol)
