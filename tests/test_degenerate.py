"""Degenerate data: finite, honest results or a clear error, never a silent NaN."""

import warnings

import numpy as np
import pytest

from gmmcore import GaussianMixture
from conftest import COVARIANCE_TYPES, make_blobs


def fit(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(**params).fit(X)


def assert_finite_model(gm, X, reg_covar=1e-6):
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert np.all(np.isfinite(getattr(gm, name))), name
    cov = gm.covariances_
    diag = np.diagonal(cov, axis1=-2, axis2=-1) if cov.ndim >= 2 and gm.covariance_type in (
        "full", "tied") else cov
    assert np.all(diag >= reg_covar * (1 - 1e-6)), "a variance below reg_covar"
    proba = gm.predict_proba(X)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert np.all(np.isfinite(gm.score_samples(X)))
    assert np.isfinite(gm.lower_bound_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_identical_points(covariance_type, k, init_params):
    X = np.tile([[1.5, -2.0, 3.0]], (40, 1))
    gm = fit(X, n_components=k, covariance_type=covariance_type, init_params=init_params,
             random_state=0)
    assert_finite_model(gm, X)
    # every component that holds weight sits on the point (as in scikit-learn, a
    # component left empty by k-means keeps a negligible weight)
    held = gm.weights_ > 1e-6
    assert held.any()
    np.testing.assert_allclose(gm.means_[held], np.tile(X[0], (held.sum(), 1)), rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_constant_feature_gets_reg_covar_variance(covariance_type, dtype):
    X = make_blobs(n_samples=300, n_features=3, n_components=2, seed=1)
    X[:, 1] = 1e4  # constant, and far from zero: the float32 path must not go negative
    X = X.astype(dtype)
    gm = fit(X, n_components=2, covariance_type=covariance_type, random_state=0)
    assert_finite_model(gm, X)
    if covariance_type in ("full", "diag"):
        var = (gm.covariances_[:, 1, 1] if covariance_type == "full" else gm.covariances_[:, 1])
        # float32 rounding of 1e4 leaves at most about (1e4 * 6e-8)^2 of spread
        assert np.all(var < 1e-5 if dtype == np.float32 else var < 2e-6)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fewer_distinct_points_than_components(covariance_type):
    X = np.repeat(np.random.RandomState(0).randn(3, 2) * 3, 30, axis=0)
    gm = fit(X, n_components=5, covariance_type=covariance_type, random_state=0)
    assert_finite_model(gm, X)


def test_collapse_without_regularisation_raises_like_sklearn_by_default():
    X = np.repeat(np.random.RandomState(0).randn(3, 2) * 3, 30, axis=0)
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        fit(X, n_components=4, reg_covar=0.0, random_state=0, init_params="random")


@pytest.mark.parametrize("mode", ["reseed", "regularize"])
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_collapse_is_recovered_and_recorded(mode, covariance_type):
    X = np.repeat(np.random.RandomState(0).randn(3, 2) * 3, 30, axis=0)
    gm = fit(X, n_components=4, reg_covar=0.0, random_state=0, init_params="random",
             covariance_type=covariance_type, on_degenerate=mode)
    assert_finite_model(gm, X, reg_covar=0.0)
    assert gm.degenerate_events_, "the recovery must be recorded"
    # 'reseed' borrows the covariance of healthy components; when every component
    # has collapsed there is none, and it regularizes instead
    allowed = {"reseeded", "regularized"} if mode == "reseed" else {"regularized"}
    for event in gm.degenerate_events_:
        assert event["action"] in allowed
        assert 0 <= event["component"] < 4
        assert event["reason"] in ("empty", "not positive definite")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_empty_component_is_reseeded_onto_the_worst_explained_sample(covariance_type):
    rng = np.random.RandomState(3)
    X = np.vstack([rng.randn(200, 2), rng.randn(200, 2) + [8.0, 0.0]])
    means = np.array([[0.0, 0.0], [8.0, 0.0], [1e3, 1e3]])
    start = dict(means_init=means, weights_init=np.array([0.45, 0.45, 0.1]))
    plain = fit(X, n_components=3, covariance_type=covariance_type, max_iter=3, **start)
    assert_finite_model(plain, X)
    assert plain.degenerate_events_ == []
    assert plain.weights_[2] < 1e-6  # the component far away lost every sample
    gm = fit(X, n_components=3, covariance_type=covariance_type, max_iter=3,
             on_degenerate="reseed", **start)
    assert_finite_model(gm, X)
    first = gm.degenerate_events_[0]
    assert (first["component"], first["reason"], first["action"]) == (2, "empty", "reseeded")
    assert 0 <= first["sample"] < len(X)
    assert gm.weights_[2] > 1e-4
    assert np.all(np.abs(gm.means_[2]) < 1e2)  # moved onto the data


@pytest.mark.parametrize("scale", [1e-100, 1e100])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_huge_and_tiny_scales_give_the_same_clusters(scale, covariance_type):
    X = make_blobs(n_samples=300, n_features=3, n_components=3, seed=4)
    ref = fit(X, n_components=3, covariance_type=covariance_type, random_state=0)
    gm = fit(X * scale, n_components=3, covariance_type=covariance_type, random_state=0,
             reg_covar=1e-6 * scale**2)
    assert_finite_model(gm, X * scale, reg_covar=1e-6 * scale**2)
    np.testing.assert_array_equal(gm.predict(X * scale), ref.predict(X))
    np.testing.assert_allclose(gm.means_ / scale, ref.means_, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("scale", [1e160, 1e200])
def test_data_whose_spread_overflows_gets_a_clear_error(scale):
    X = make_blobs(n_samples=100, n_features=2, n_components=2, seed=5) * scale
    for init in ("kmeans", "random", "random_from_data", "k-means++"):
        with pytest.raises(ValueError, match="overflow|Scale the input|scale the input"):
            fit(X, n_components=2, init_params=init, random_state=0)


def test_float32_overflow_in_the_e_step_is_reported():
    X = make_blobs(n_samples=100, n_features=2, n_components=2, seed=6)
    gm = fit(X.astype(np.float32), n_components=2, random_state=0)
    far = np.array([[3e19, -3e19]], dtype=np.float32)
    with pytest.raises(ValueError, match="overflow float32.*float64"):
        gm.score_samples(far)
    assert np.isfinite(gm.score_samples(far.astype(np.float64))).all()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("d", [3, 12, 33])
def test_float32_keeps_precision_when_clusters_lie_far_from_the_shift(covariance_type, d):
    # clusters 2000 spreads apart: (x − s)² / σ² ~ 1e6, so any float32 rounding of
    # x − s before the second moments would move the covariances by ~10%
    rng = np.random.RandomState(5)
    X = np.vstack([rng.randn(500, d) - 1000.0, rng.randn(500, d) + 1000.0]).astype(np.float32)
    start = dict(means_init=np.array([np.full(d, -1000.0), np.full(d, 1000.0)]),
                 weights_init=np.array([0.5, 0.5]))
    gm32 = fit(X, n_components=2, covariance_type=covariance_type, max_iter=3, **start)
    gm64 = fit(X.astype(np.float64), n_components=2, covariance_type=covariance_type,
               max_iter=3, **start)
    np.testing.assert_allclose(gm32.covariances_, gm64.covariances_, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(gm32.means_, gm64.means_, rtol=1e-5)


@pytest.mark.parametrize("d", [12, 32])
def test_float32_full_with_many_components_keeps_precision_far_from_the_shift(d):
    # 8 components and d <= 40: the float32 second moments come from the float64 design
    # of outer products around the mixture's mean; clusters lie 1000 spreads from it
    rng = np.random.RandomState(7)
    centres = rng.choice([-1000.0, 1000.0], size=(8, d))
    X = np.vstack([rng.randn(300, d) + c for c in centres]).astype(np.float32)
    start = dict(means_init=centres, weights_init=np.full(8, 1 / 8))
    gm32 = fit(X, n_components=8, covariance_type="full", max_iter=3, **start)
    gm64 = fit(X.astype(np.float64), n_components=8, covariance_type="full", max_iter=3,
               **start)
    np.testing.assert_allclose(gm32.covariances_, gm64.covariances_, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(gm32.means_, gm64.means_, rtol=1e-5)


def test_collapsed_full_covariances_stay_exactly_symmetric():
    # found by hypothesis: four points, three full components, reg_covar=0; the
    # scatter of a collapsed component cancels to rounding size, where S2 − c − cᵀ
    # rounds differently above and below the diagonal
    X = np.array([[4.125730221093393, 3.867895136708698, 4.640422650443282],
                  [8.10490011715304, 7.464330626838889, 8.361595054909484],
                  [5.304000045130137, 4.947080963129242, 3.2962647641930074],
                  [-1.2654214710460525, -0.6232744625373522, 0.0413259793472436]])
    gm = fit(X, n_components=3, covariance_type="full", init_params="random", max_iter=5,
             reg_covar=0.0, on_degenerate="reseed", random_state=0)
    for cov, precision in zip(gm.covariances_, gm.precisions_):
        np.testing.assert_array_equal(cov, cov.T)
        # (which components collapse depends on rounding-level cancellation, which
        # can vary with BLAS and memory alignment: hence the conditioning guard and
        # a tolerance of cond · eps, far below the 1e-6 that asymmetry produced)
        if np.linalg.cond(cov) < 1e6:
            np.testing.assert_allclose(cov @ precision, np.eye(3), atol=1e-7)
