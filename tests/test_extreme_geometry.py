"""Tight clusters far from the rest: log-densities and statistics against exact references.

The E-step works on x − s for one shift s per pass, and the statistics of some paths
are summed around s.  Near a component whose mean lies far from s against its spread,
both would lose digits to cancellation; these tests hold them to the direct form
(scipy) and to a centred two-pass EM (plain numpy) whatever the geometry.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gmmcore import GaussianMixture
from test_reference_numpy_em import numpy_em, to_dense

PER_COMPONENT = ("full", "diag", "spherical")


def direct_log_density(model, X):
    """log p(x) by scipy from the model's own parameters (the direct form)."""
    k, d = model.means_.shape
    covs = to_dense(model.covariance_type, np.asarray(model.covariances_, np.float64), k, d)
    log_prob = np.column_stack([
        np.log(model.weights_[c]) + multivariate_normal(model.means_[c], covs[c]).logpdf(X)
        for c in range(k)])
    return logsumexp(log_prob, axis=1)


def far_clusters(d, ratio, seed, n_near=200, n_far=60, spread=1e-2):
    """Standard-normal rows and a cluster of spread `spread` at distance ratio · spread."""
    rng = np.random.RandomState(seed)
    far = ratio * spread / np.sqrt(d)
    return np.vstack([rng.normal(size=(n_near, d)),
                      far + spread * rng.normal(size=(n_far, d))]), far


def start_for(covariance_type, d, far, spread=1e-2):
    """A start near the truth, the same for gmmcore and the reference."""
    means = np.vstack([np.full(d, 0.1), np.full(d, far + spread / 10)])
    variances = np.array([1.0, 4 * spread**2])
    if covariance_type == "full":
        precisions = np.stack([np.eye(d) / v for v in variances])
    elif covariance_type == "diag":
        precisions = np.outer(1 / variances, np.ones(d))
    else:
        precisions = 1 / variances
    return dict(weights_init=np.array([0.7, 0.3]), means_init=means,
                precisions_init=precisions)


def fit_fixed_iterations(X, covariance_type, start, n_iter, reg_covar=1e-6):
    model = GaussianMixture(2, covariance_type=covariance_type, max_iter=n_iter, tol=0.0,
                            reg_covar=reg_covar, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X)


def reference_fit(X, covariance_type, start, n_iter, reg_covar=1e-6):
    k, d = start["means_init"].shape
    p = start["precisions_init"]
    dense_p = to_dense(covariance_type, p, k, d)
    covs = [np.linalg.inv(q) for q in dense_p]
    return numpy_em(X, covariance_type, start["weights_init"], start["means_init"], covs,
                    n_iter, reg_covar)


def test_far_row_log_density_matches_the_direct_form_diag_d9():
    """The reported case: d = 9, 50 standard-normal rows and one row at 1e6."""
    rng = np.random.RandomState(0)
    d = 9
    far = 1e6 + rng.normal(size=(1, d))
    X = np.vstack([rng.normal(size=(50, d)), far])
    for covariance_type in ("diag", "spherical"):
        model = GaussianMixture(2, covariance_type=covariance_type,
                                means_init=np.vstack([np.zeros(d), far[0]])).fit(X)
        np.testing.assert_allclose(model.score_samples(X), direct_log_density(model, X),
                                   rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
@pytest.mark.parametrize("d", [3, 9, 34, 95])
@pytest.mark.parametrize("offset", [0.0, 1e3, 1e6, 1e9])
def test_log_densities_match_the_direct_form_whatever_the_offset(covariance_type, d, offset):
    """Fixed parameters (a loose and a tight component, the tight one anywhere from
    near to 1e9 away), float64 and float32 data: score_samples against scipy."""
    rng = np.random.RandomState(d)
    means = np.vstack([np.zeros(d), np.full(d, offset) + rng.normal(size=d)])
    X = np.vstack([rng.normal(size=(40, d)), means[1] + 1e-3 * rng.normal(size=(40, d))])
    variances = (np.array([1.0, 1e-6]) if covariance_type == "spherical"
                 else np.vstack([np.ones(d), rng.uniform(0.5e-6, 2e-6, size=d)]))
    model = GaussianMixture(2, covariance_type=covariance_type)
    model.weights_ = np.array([0.5, 0.5])
    model.means_ = means
    model.covariances_ = variances
    model.precisions_cholesky_ = 1 / np.sqrt(variances)
    model.precisions_ = 1 / variances
    model.n_features_in_ = d
    expected = direct_log_density(model, X)
    np.testing.assert_allclose(model.score_samples(X), expected, rtol=1e-9, atol=1e-9)
    if offset <= 1e3:  # float32 rows this far out carry no digits of the spread 1e-3
        for name in ("weights_", "means_", "covariances_", "precisions_cholesky_",
                     "precisions_"):
            setattr(model, name, getattr(model, name).astype(np.float32))
        got = model.score_samples(X.astype(np.float32))
        expected32 = direct_log_density(model, X.astype(np.float32).astype(np.float64))
        np.testing.assert_allclose(got, expected32, rtol=1e-4, atol=1e-3)
