"""sample_weight: integer weights are repeated rows, zero weights are dropped rows,
in fit, score, bic and aic, for every covariance type and dtype."""

import numpy as np
import pytest

from gmmcore import GaussianMixture
from conftest import COVARIANCE_TYPES, make_blobs

ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_cholesky_")
RTOL = {np.float64: 1e-10, np.float32: 2e-4}
pytestmark = pytest.mark.filterwarnings("ignore:Best performing initialization")


def start(X, covariance_type, k=3, seed=0):
    """A common start (weights, means, precisions) from a plain-numpy one-shot
    assignment, so both fits begin from the same parameters."""
    rng = np.random.RandomState(seed)
    means = X[rng.choice(len(X), k, replace=False)].astype(np.float64)
    d = X.shape[1]
    precisions = {"full": np.stack([np.eye(d)] * k), "tied": np.eye(d),
                  "diag": np.ones((k, d)), "spherical": np.ones(k)}[covariance_type]
    return dict(weights_init=np.full(k, 1.0 / k), means_init=means,
                precisions_init=precisions)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(covariance_type, dtype):
    X = make_blobs(n_samples=400, n_features=3, n_components=3, seed=3, dtype=dtype)
    w = np.random.RandomState(1).randint(1, 5, size=len(X))
    params = dict(covariance_type=covariance_type, max_iter=20, tol=0.0,
                  **start(X, covariance_type))
    weighted = GaussianMixture(3, **params).fit(X, sample_weight=w)
    repeated = GaussianMixture(3, **params).fit(np.repeat(X, w, axis=0))
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(weighted, name), getattr(repeated, name),
                                   rtol=RTOL[dtype], atol=RTOL[dtype] * 1e-2, err_msg=name)
    np.testing.assert_allclose(weighted.lower_bound_, repeated.lower_bound_, rtol=RTOL[dtype])
    Xr = np.repeat(X, w, axis=0)
    np.testing.assert_allclose(repeated.score(X, sample_weight=w), repeated.score(Xr),
                               rtol=RTOL[dtype])
    np.testing.assert_allclose(repeated.bic(X, sample_weight=w), repeated.bic(Xr),
                               rtol=RTOL[dtype])
    np.testing.assert_allclose(repeated.aic(X, sample_weight=w), repeated.aic(Xr),
                               rtol=RTOL[dtype])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_zero_weights_equal_dropped_rows(covariance_type):
    X = make_blobs(n_samples=500, n_features=4, n_components=3, seed=5)
    keep = np.random.RandomState(2).rand(len(X)) < 0.6
    params = dict(covariance_type=covariance_type, max_iter=15, tol=0.0,
                  **start(X[keep], covariance_type))
    weighted = GaussianMixture(3, **params).fit(X, sample_weight=keep.astype(float))
    dropped = GaussianMixture(3, **params).fit(X[keep])
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(weighted, name), getattr(dropped, name),
                                   rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(dropped.bic(X, sample_weight=keep), dropped.bic(X[keep]),
                               rtol=1e-12)


def test_weighted_fit_matches_a_plain_numpy_weighted_em():
    X = make_blobs(n_samples=300, n_features=2, n_components=2, seed=8)
    w = np.random.RandomState(3).uniform(0.1, 3.0, size=len(X))
    init = start(X, "full", k=2)
    gmm = GaussianMixture(2, max_iter=10, tol=0.0, **init).fit(X, sample_weight=w)
    # reference: weighted EM in numpy, densities from scipy
    from scipy.stats import multivariate_normal
    weights, means = init["weights_init"], init["means_init"]
    covs = [np.eye(2), np.eye(2)]
    for _ in range(10):
        dens = np.column_stack([weights[c] * multivariate_normal(means[c], covs[c]).pdf(X)
                                for c in range(2)])
        resp = dens / dens.sum(axis=1, keepdims=True) * w[:, None]
        nk = resp.sum(axis=0)
        means = resp.T @ X / nk[:, None]
        covs = [((X - means[c]).T * resp[:, c]) @ (X - means[c]) / nk[c] + 1e-6 * np.eye(2)
                for c in range(2)]
        weights = nk / nk.sum()
    np.testing.assert_allclose(gmm.means_, means, rtol=1e-9)
    np.testing.assert_allclose(gmm.covariances_, np.stack(covs), rtol=1e-9)
    np.testing.assert_allclose(gmm.weights_, weights, rtol=1e-9)


@pytest.mark.parametrize("weights,match", [
    (-np.ones(10), "non-negative"), (np.full(10, np.nan), "NaN"), (np.ones(9), "shape"),
    (np.zeros(10), "all weights are zero")])
def test_bad_weights_in_bic_and_aic(weights, match):
    X = make_blobs(n_samples=10, n_features=2, n_components=1, seed=0)
    gmm = GaussianMixture(1).fit(X)
    for criterion in (gmm.bic, gmm.aic):
        with pytest.raises(ValueError, match=match):
            criterion(X, sample_weight=weights)


def test_kmeans_initialisation_uses_the_weights_as_scikit_learns_kmeans():
    KMeans = pytest.importorskip("sklearn.cluster").KMeans
    X = make_blobs(n_samples=3000, n_features=3, n_components=4, seed=0)
    w = np.random.RandomState(0).randint(1, 5, len(X)).astype(float)
    start = GaussianMixture(4, random_state=0, max_iter=0).fit(X, sample_weight=w)
    km = KMeans(4, n_init=1, random_state=0, algorithm="lloyd").fit(X, sample_weight=w)
    # the start is the weighted mean and weight of each of k-means' clusters
    onehot = np.eye(4)[km.labels_] * w[:, None]
    np.testing.assert_allclose(start.means_, onehot.T @ X / onehot.sum(axis=0)[:, None],
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(start.weights_, onehot.sum(axis=0) / w.sum(), rtol=1e-12)
