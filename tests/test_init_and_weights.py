"""Starts and weights at the edges: tied seeds, tied distances, weight scales, dtypes.

scikit-learn is the reference for the starts (same random_state, same draws);
the weighted and mixed-precision fits are checked against gmmcore's own unweighted
or float64 results, which the other test modules hold to scikit-learn and numpy.
"""

import contextlib
import warnings

import numpy as np
import pytest

from gmmcore import GaussianMixture
from gmmcore._init import kmeans

sklearn_mixture = pytest.importorskip("sklearn.mixture")
sklearn_cluster = pytest.importorskip("sklearn.cluster")


@contextlib.contextmanager
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("init_params", ["k-means++", "random_from_data"])
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_duplicate_seeds_start_like_scikit_learn(init_params, covariance_type):
    """Two distinct rows, each ten times, four components: k-means++ picks a row twice
    and scikit-learn gives it to both components (no component left empty at the
    origin)."""
    X = np.array([[0.0, 0.0], [3.0, 1.0]] * 10)
    params = dict(n_components=4, init_params=init_params, covariance_type=covariance_type,
                  random_state=0, max_iter=0)
    with quiet():
        ours = GaussianMixture(**params).fit(X)
        theirs = sklearn_mixture.GaussianMixture(**params).fit(X)
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.weights_, theirs.weights_, rtol=1e-12)
    np.testing.assert_allclose(ours.covariances_, theirs.covariances_, rtol=1e-9, atol=1e-12)
    assert np.all(ours.weights_ > 0.01)


def small_integer_data(seed):
    rng = np.random.RandomState(seed)
    n, d, k = rng.randint(10, 60), rng.randint(1, 4), rng.randint(2, 5)
    return rng.randint(0, 4, size=(n, d)).astype(float), k


def test_lloyd_breaks_ties_as_scikit_learn_on_integer_data():
    """Small integer data sets are full of exactly tied distances: the labels follow
    scikit-learn's KMeans (the same rounding of the distances, the first lowest)."""
    for seed in range(200):
        X, k = small_integer_data(seed)
        with quiet():
            theirs = sklearn_cluster.KMeans(
                n_clusters=k, n_init=1, random_state=np.random.RandomState(seed)).fit(X)
            labels, _ = kmeans(X, k, np.random.RandomState(seed))
        np.testing.assert_array_equal(labels, theirs.labels_, err_msg=f"seed {seed}")


def test_kmeans_start_matches_scikit_learn_on_integer_data():
    for seed in range(0, 200, 7):
        X, k = small_integer_data(seed)
        params = dict(n_components=k, random_state=seed, max_iter=0, reg_covar=1e-3)
        with quiet():
            ours = GaussianMixture(**params).fit(X)
            theirs = sklearn_mixture.GaussianMixture(**params).fit(X)
        np.testing.assert_allclose(ours.means_, theirs.means_, atol=1e-12,
                                   err_msg=f"seed {seed}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("scale", [1e-300, 1e-50, 1e-12, 3.0, 1e12, 1e300])
@pytest.mark.parametrize("init_params", ["kmeans", "random"])
def test_uniform_weights_of_any_scale_fit_the_unweighted_mixture(dtype, scale, init_params):
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(150, 3), rng.randn(150, 3) + 5]).astype(dtype)
    params = dict(n_components=2, init_params=init_params, random_state=0)
    reference = GaussianMixture(**params).fit(X)
    weighted = GaussianMixture(**params).fit(X, sample_weight=np.full(len(X), scale))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(weighted.means_, reference.means_, rtol=tol, atol=tol)
    np.testing.assert_allclose(weighted.covariances_, reference.covariances_, rtol=tol,
                               atol=tol)
    assert weighted.lower_bound_ == pytest.approx(reference.lower_bound_, rel=tol)
    assert weighted.n_samples_seen_ == pytest.approx(scale * len(X), rel=1e-12)


def test_float64_model_scores_float32_rows_in_float64():
    """scikit-learn returns float64 for a float64 model whatever the rows' dtype; tiny
    scales (precisions far beyond float32's range) must not overflow."""
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(200, 3), rng.randn(200, 3) + 5]) * 1e-20
    model = GaussianMixture(2, random_state=0).fit(X)
    X32 = X.astype(np.float32)
    rows = X32.astype(np.float64)  # the same values, exactly
    for method in ("score_samples", "predict_proba"):
        got = getattr(model, method)(X32)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, getattr(model, method)(rows))
    np.testing.assert_array_equal(model.predict(X32), model.predict(rows))
    assert model.score(X32) == model.score(rows)
    stats = model.accumulate(X32)
    assert stats.mean_loglik == pytest.approx(model.score(rows), rel=1e-12)


def test_float32_statistics_of_all_zero_weights_are_zero():
    X = np.random.RandomState(0).randn(300, 3).astype(np.float32)
    model = GaussianMixture(2, random_state=0).fit(X)
    stats = model.accumulate(X, sample_weight=np.zeros(len(X)))
    assert stats.total_weight == 0.0 and np.all(stats.nk == 0.0)
