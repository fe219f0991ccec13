"""gmmcore against scikit-learn's GaussianMixture, the reference it replaces.

From an identical start the two must agree to floating-point tolerance; with the
same integer random_state and a random init the start itself is identical.
"""

import copy
import warnings

import numpy as np
import pytest
from sklearn import datasets
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from gmmcore import GaussianMixture
from conftest import COVARIANCE_TYPES, initial_values, make_blobs, max_rel

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def fit_both(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = GaussianMixture(**params).fit(X)
        ref = SkGaussianMixture(**params).fit(X)
    return ours, ref


def assert_same_model(ours, ref, X, rtol, first_bound_rtol=None):
    assert ours.n_iter_ == ref.n_iter_
    assert ours.converged_ == ref.converged_
    assert abs(ours.lower_bound_ - ref.lower_bound_) <= rtol * abs(ref.lower_bound_)
    if first_bound_rtol is None:
        np.testing.assert_allclose(ours.lower_bounds_, ref.lower_bounds_, rtol=rtol)
    else:
        np.testing.assert_allclose(ours.lower_bounds_[0], ref.lower_bounds_[0],
                                   rtol=first_bound_rtol)
        np.testing.assert_allclose(ours.lower_bounds_[1:], ref.lower_bounds_[1:], rtol=rtol)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        ours_value, ref_value = getattr(ours, name), getattr(ref, name)
        assert ours_value.shape == ref_value.shape, name
        assert ours_value.dtype == ref_value.dtype, name
        assert max_rel(ours_value, ref_value) <= rtol, name
    # Predictions are compared under the same parameters: on data with large
    # Mahalanobis distances (digits) a 1e-9 parameter difference moves a log-density
    # by more than 1e-8, in either library.
    same = copy_parameters(ours, ref)
    assert max_rel(ours.predict_proba(X), same.predict_proba(X)) <= rtol
    assert max_rel(ours.score_samples(X), same.score_samples(X)) <= rtol
    np.testing.assert_array_equal(ours.predict(X), same.predict(X))


def copy_parameters(ours, ref):
    """A copy of the scikit-learn model carrying gmmcore's fitted parameters."""
    same = copy.deepcopy(ref)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        setattr(same, name, getattr(ours, name).copy())
    return same


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_components,n_features", [(1, 1), (2, 2), (3, 5), (4, 12), (3, 20)])
def test_same_fit_from_identical_start(covariance_type, n_components, n_features):
    X = make_blobs(n_samples=900, n_features=n_features, n_components=3, seed=n_features)
    start = initial_values(X, covariance_type, n_components, seed=1)
    ours, ref = fit_both(X, n_components=n_components, covariance_type=covariance_type,
                         max_iter=25, tol=1e-10, **start)
    assert_same_model(ours, ref, X, rtol=1e-8)


def _dataset(name):
    loader = {"iris": datasets.load_iris, "wine": datasets.load_wine,
              "digits": datasets.load_digits}[name]
    X = loader().data.astype(np.float64)
    if name == "wine":
        X = (X - X.mean(axis=0)) / X.std(axis=0)  # features span five orders of magnitude
    return X


@pytest.mark.parametrize("name,n_components", [("iris", 3), ("wine", 3), ("digits", 10)])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_fit_on_shipped_datasets(name, n_components, covariance_type):
    X = _dataset(name)
    # digits has constant pixels: a visible reg_covar keeps every covariance definite.
    reg_covar = 1e-2 if name == "digits" else 1e-6
    start = initial_values(X, covariance_type, n_components, seed=3)
    if name == "digits":
        start.pop("precisions_init")  # the M-step of the first iteration sets them
        start["init_params"] = "random_from_data"
        start["random_state"] = 0
    ours, ref = fit_both(X, n_components=n_components, covariance_type=covariance_type,
                         reg_covar=reg_covar, max_iter=30, tol=1e-9, **start)
    assert_same_model(ours, ref, X, rtol=1e-8)


@pytest.mark.parametrize("init_params", ["random", "random_from_data"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("seed", [0, 7])
def test_random_inits_start_where_sklearn_does(init_params, covariance_type, seed):
    X = make_blobs(n_samples=500, n_features=4, n_components=3, seed=seed + 10)
    params = dict(n_components=3, covariance_type=covariance_type, init_params=init_params,
                  random_state=seed)
    ours, ref = fit_both(X, max_iter=15, tol=0.0, **params)
    if init_params == "random_from_data":
        # The start has one point per component, so its variances are reg_covar
        # (1e-6) and the first log-likelihood sums distances scaled by 1e6;
        # scikit-learn's expanded ‖x‖² − 2x·μ + ‖μ‖² loses about 8 digits there.
        # gmmcore's first bound is checked against extended precision instead.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = GaussianMixture(max_iter=0, **params).fit(X)
        exact = longdouble_mean_loglik(X, start)
        assert abs(ours.lower_bounds_[0] - exact) <= 1e-12 * abs(exact)
        assert_same_model(ours, ref, X, rtol=1e-8, first_bound_rtol=1e-6)
    else:
        assert_same_model(ours, ref, X, rtol=1e-8)


def longdouble_mean_loglik(X, model):
    """Mean log-likelihood under a model's parameters, in extended precision."""
    ld = np.longdouble
    X = X.astype(ld)
    k, d = model.means_.shape
    log_prob = np.empty((X.shape[0], k), dtype=ld)
    precisions = model.precisions_.astype(ld)
    for c in range(k):
        diff = X - model.means_[c].astype(ld)
        if model.covariance_type == "full":
            P = precisions[c]
        elif model.covariance_type == "tied":
            P = precisions
        elif model.covariance_type == "diag":
            P = np.diag(precisions[c])
        else:
            P = np.eye(d, dtype=ld) * precisions[c]
        maha = np.einsum("ij,jk,ik->i", diff, P, diff)
        log_det = np.log(np.linalg.det(P.astype(np.float64))).astype(ld)
        log_prob[:, c] = (np.log(ld(model.weights_[c])) + 0.5 * log_det
                          - 0.5 * d * np.log(2 * ld(np.pi)) - 0.5 * maha)
    top = log_prob.max(axis=1)
    return float(np.mean(top + np.log(np.exp(log_prob - top[:, None]).sum(axis=1))))


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_kmeans_inits_as_good_as_sklearn(init_params, covariance_type):
    X = make_blobs(n_samples=1200, n_features=5, n_components=4, seed=3)
    ours, ref = fit_both(X, n_components=4, covariance_type=covariance_type,
                         init_params=init_params, random_state=0, n_init=3)
    assert ours.lower_bound_ >= ref.lower_bound_ - 1e-3


def test_n_init_keeps_best_and_warm_start_continues():
    X = make_blobs(n_samples=600, n_features=3, n_components=4, seed=5)
    ours, ref = fit_both(X, n_components=4, init_params="random_from_data", random_state=2,
                         n_init=4, max_iter=50)
    assert_same_model(ours, ref, X, rtol=1e-8)

    params = dict(n_components=4, init_params="random", random_state=4, warm_start=True,
                  max_iter=3, tol=0.0)
    ours, ref = GaussianMixture(**params), SkGaussianMixture(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):
            ours.fit(X)
            ref.fit(X)
    assert_same_model(ours, ref, X, rtol=1e-8)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_stays_float32_and_close_to_sklearn(covariance_type):
    X = make_blobs(n_samples=800, n_features=6, n_components=3, seed=2)
    X32 = X.astype(np.float32)
    start = initial_values(X, covariance_type, 3, seed=4)
    # the reference is scikit-learn's float64 fit: its float32 fit moves with the BLAS
    # kernels of the CPU (2.3e-3 from float64 with OpenBLAS's Haswell ones)
    ours64, ref = fit_both(X, n_components=3, covariance_type=covariance_type, max_iter=10,
                           tol=0.0, **start)
    ours = GaussianMixture(n_components=3, covariance_type=covariance_type, max_iter=10,
                           tol=0.0, **start).fit(X32)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert getattr(ours, name).dtype == np.float32
        assert max_rel(getattr(ours, name), getattr(ref, name)) < 2e-3, name
        # float32 arithmetic with float64 accumulation stays close to the float64 fit
        assert max_rel(getattr(ours, name), getattr(ours64, name)) < 2e-3, name
    proba = ours.predict_proba(X32)
    assert proba.dtype == np.float32
    assert max_rel(proba, ref.predict_proba(X)) < 2e-3
    assert ours.score_samples(X32).dtype == np.float32
    assert abs(ours.lower_bound_ - ours64.lower_bound_) < 1e-4 * abs(ours64.lower_bound_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bic_aic_and_sample_match_sklearn(covariance_type):
    X = make_blobs(n_samples=400, n_features=3, n_components=2, seed=8)
    ours, ref = fit_both(X, n_components=2, covariance_type=covariance_type,
                         init_params="random", random_state=3, max_iter=20)
    assert ours.bic(X) == pytest.approx(ref.bic(X), rel=1e-10)
    assert ours.aic(X) == pytest.approx(ref.aic(X), rel=1e-10)
    assert ours.score(X) == pytest.approx(ref.score(X), rel=1e-10)
    Xs, ys = ours.sample(50)
    Xr, yr = ref.sample(50)
    np.testing.assert_array_equal(ys, yr)
    np.testing.assert_allclose(Xs, Xr, rtol=1e-6, atol=1e-8)
    assert Xs.dtype == Xr.dtype and ys.dtype == yr.dtype


def test_fit_predict_matches_sklearn_and_predict():
    X = make_blobs(n_samples=700, n_features=2, n_components=3, seed=11)
    params = dict(n_components=3, init_params="random_from_data", random_state=0, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = GaussianMixture(**params)
        labels = ours.fit_predict(X)
        ref_labels = SkGaussianMixture(**params).fit_predict(X)
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_array_equal(labels, ours.predict(X))
