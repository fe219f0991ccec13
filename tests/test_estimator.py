"""The estimator protocol: parameters, fitted attributes, methods, input forms."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from gmmcore import GaussianMixture
from conftest import (COVARIANCE_TYPES, initial_values, make_blobs, max_rel,
                      optional_modules_after)

SKLEARN_PARAMS = sorted(SkGaussianMixture().get_params())


def test_parameters_mirror_sklearn_names_and_defaults():
    ours = GaussianMixture().get_params()
    ref = SkGaussianMixture().get_params()
    for name in SKLEARN_PARAMS:
        assert name in ours, name
        assert ours[name] == ref[name], name
    assert set(ours) - set(ref) == {"n_threads", "on_degenerate", "partial_fit_mode",
                                    "learning_decay", "nan_policy"}
    # scikit-learn's behaviour by default
    assert ours["on_degenerate"] == "raise" and ours["nan_policy"] == "raise"


def test_init_stores_parameters_only_and_set_params_round_trips():
    means = np.zeros((2, 2))
    gm = GaussianMixture(n_components=2, means_init=means, covariance_type="diag")
    assert gm.means_init is means
    assert not any(name.endswith("_") and not name.startswith("_") for name in vars(gm))
    gm.set_params(n_components=4, tol=0.5)
    assert gm.n_components == 4 and gm.tol == 0.5
    with pytest.raises(ValueError, match="Invalid parameter 'bogus'"):
        gm.set_params(bogus=1)
    assert repr(GaussianMixture(n_components=3)) == "GaussianMixture(n_components=3)"


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fitted_attributes_have_sklearn_shapes(covariance_type):
    X = make_blobs(n_samples=300, n_features=3, n_components=2, seed=1)
    params = dict(n_components=2, covariance_type=covariance_type, random_state=0)
    ours = GaussianMixture(**params).fit(X)
    ref = SkGaussianMixture(**params).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(ours, name).shape == getattr(ref, name).shape
    assert isinstance(ours.converged_, bool) and ours.converged_
    assert ours.n_iter_ == len(ours.lower_bounds_) >= 1
    assert ours.lower_bound_ == ours.lower_bounds_[-1]
    assert ours.n_features_in_ == 3
    assert not hasattr(ours, "feature_names_in_")
    np.testing.assert_allclose(ours.weights_.sum(), 1.0, rtol=1e-12)
    # P = U Uᵀ with U the upper-triangular Cholesky factor
    if covariance_type in ("full", "tied"):
        U = ours.precisions_cholesky_
        assert np.allclose(U, np.triu(U))


def test_fit_returns_self_and_fit_predict_equals_predict():
    X = make_blobs(n_samples=500, n_features=2, n_components=3, seed=4)
    gm = GaussianMixture(n_components=3, random_state=1, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert gm.fit(X) is gm
        labels = GaussianMixture(n_components=3, random_state=1, max_iter=3).fit_predict(X)
    np.testing.assert_array_equal(labels, gm.predict(X))
    assert labels.dtype == np.intp


def test_convergence_warning_and_verbose_output(capsys):
    X = make_blobs(n_samples=200, n_features=2, n_components=2, seed=2)
    with pytest.warns(UserWarning, match="did not converge"):
        GaussianMixture(n_components=2, max_iter=2, tol=0.0, random_state=0, verbose=2,
                        verbose_interval=1).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 0" in out
    assert out.count("Iteration") == 2 and "ll change" in out
    assert "did not converge" in out


def test_max_iter_zero_keeps_the_start():
    X = make_blobs(n_samples=200, n_features=2, n_components=2, seed=3)
    start = initial_values(X, "full", 2, seed=0)
    gm = GaussianMixture(n_components=2, max_iter=0, **start).fit(X)
    np.testing.assert_allclose(gm.means_, start["means_init"])
    np.testing.assert_allclose(gm.precisions_, start["precisions_init"], rtol=1e-10)
    assert gm.n_iter_ == 0 and gm.lower_bound_ == -np.inf and not gm.converged_


@pytest.mark.parametrize("layout", ["fortran", "strided", "readonly", "int", "list", "memmap"])
def test_input_layouts_give_the_same_model(layout, tmp_path):
    X = make_blobs(n_samples=300, n_features=3, n_components=2, seed=6)
    if layout == "int":
        X = np.round(X * 10)
    params = dict(n_components=2, init_params="random_from_data", random_state=0)
    expected = GaussianMixture(**params).fit(np.ascontiguousarray(X))
    if layout == "fortran":
        Xv = np.asfortranarray(X)
    elif layout == "strided":
        wide = np.zeros((X.shape[0] * 2, X.shape[1] * 2))
        wide[::2, ::2] = X
        Xv = wide[::2, ::2]
    elif layout == "readonly":
        Xv = X.copy()
        Xv.setflags(write=False)
    elif layout == "int":
        Xv = X.astype(np.int64)
    elif layout == "list":
        Xv = X.tolist()
    else:
        path = tmp_path / "X.dat"
        mm = np.memmap(path, dtype=np.float64, mode="w+", shape=X.shape)
        mm[:] = X
        mm.flush()
        Xv = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape)
    got = GaussianMixture(**params).fit(Xv)
    assert got.means_.dtype == np.float64
    assert max_rel(got.means_, expected.means_) == 0.0
    np.testing.assert_array_equal(got.predict_proba(Xv), expected.predict_proba(X))


def test_pickle_round_trip_gives_identical_predictions():
    X = make_blobs(n_samples=300, n_features=3, n_components=3, seed=9)
    gm = GaussianMixture(n_components=3, random_state=0).fit(X)
    clone = pickle.loads(pickle.dumps(gm))
    np.testing.assert_array_equal(clone.predict_proba(X), gm.predict_proba(X))
    np.testing.assert_array_equal(clone.score_samples(X), gm.score_samples(X))


def test_import_does_not_import_sklearn():
    assert optional_modules_after(
        "import gmmcore; gmmcore.GaussianMixture(2).fit([[0.], [1.], [5.], [6.]])") == "[]"


def test_unfitted_model_raises_not_fitted_error():
    from sklearn.exceptions import NotFittedError

    gm = GaussianMixture()
    for method in (gm.predict, gm.predict_proba, gm.score_samples, gm.score):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            method([[0.0]])
    with pytest.raises(NotFittedError):
        gm.sample(2)


def test_wrong_number_of_features_at_predict():
    gm = GaussianMixture(2, random_state=0).fit(make_blobs(100, 3, 2))
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is expecting 3"):
        gm.predict(np.zeros((4, 2)))


def test_feature_names_from_dataframe():
    pd = pytest.importorskip("pandas")
    X = make_blobs(n_samples=200, n_features=3, n_components=2, seed=1)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    gm = GaussianMixture(2, random_state=0).fit(df)
    np.testing.assert_array_equal(gm.feature_names_in_, ["a", "b", "c"])
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        np.testing.assert_array_equal(gm.predict(df), gm.predict(X))
    gm.fit(X)
    assert not hasattr(gm, "feature_names_in_")


def test_parameters_edited_after_fit_are_used():
    X = make_blobs(n_samples=300, n_features=3, n_components=2, seed=2)
    gm = GaussianMixture(2, random_state=0).fit(X)
    before = gm.score_samples(X[:20])
    gm.means_[0] += 1.0  # in place
    edited = gm.score_samples(X[:20])
    assert not np.allclose(edited, before)
    restored = gm.means_.copy()
    restored[0] -= 1.0
    gm.means_ = restored  # replaced
    np.testing.assert_allclose(gm.score_samples(X[:20]), before, rtol=1e-12)
    gm.covariance_type = "full"
    np.testing.assert_allclose(gm.predict_proba(X[:20].astype(np.float32)),
                               gm.predict_proba(X[:20]), atol=1e-5)
