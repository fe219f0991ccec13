"""gmmcore in scikit-learn's ecosystem: its estimator checks, meta-estimators,
dataframes, the notebook repr, and conversions both ways."""

import pickle
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from gmmcore import GaussianMixture  # noqa: E402
from conftest import COVARIANCE_TYPES, make_blobs  # noqa: E402

FITTED_ARRAYS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def test_check_estimator_passes_every_check():
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(GaussianMixture(), on_fail=None)
    assert len(results) > 30
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results
              if r["status"] == "failed"]
    assert failed == []
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert skipped <= {"check_array_api_input"}  # needs SCIPY_ARRAY_API=1


def test_clone_get_params_set_params():
    gmm = GaussianMixture(3, covariance_type="diag", n_threads=1, on_degenerate="reseed")
    copy = clone(gmm)
    assert copy is not gmm and copy.get_params() == gmm.get_params()
    assert set(gmm.get_params()) == set(SklearnGaussianMixture().get_params()) | {
        "n_threads", "on_degenerate", "partial_fit_mode", "learning_decay",
        "nan_policy"}
    assert copy.set_params(n_components=5, tol=1e-4) is copy
    assert (copy.n_components, copy.tol, gmm.n_components) == (5, 1e-4, 3)
    with pytest.raises(ValueError, match="Invalid parameter 'n_clusters'"):
        copy.set_params(n_clusters=2)


def test_pipeline_matches_manual_scaling():
    X = make_blobs(n_samples=600, n_features=3, n_components=3, seed=4) * [1.0, 50.0, 0.1]
    pipe = make_pipeline(StandardScaler(), GaussianMixture(3, random_state=0)).fit(X)
    Z = StandardScaler().fit_transform(X)
    alone = GaussianMixture(3, random_state=0).fit(Z)
    np.testing.assert_array_equal(pipe.predict(X), alone.predict(Z))
    np.testing.assert_allclose(pipe.score(X), alone.score(Z), rtol=1e-12)


def bic_scorer(estimator, X, y=None):
    return -estimator.bic(X)


@pytest.mark.parametrize("scoring", [None, bic_scorer])
def test_grid_search_picks_the_true_number_of_components(scoring):
    X = make_blobs(n_samples=900, n_features=2, n_components=3, seed=7, spread=8.0)
    search = GridSearchCV(GaussianMixture(random_state=0),
                          {"n_components": [1, 2, 3], "covariance_type": ["full", "spherical"]},
                          scoring=scoring, cv=3).fit(X)
    assert search.best_params_["n_components"] == 3
    assert isinstance(search.best_estimator_, GaussianMixture)


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    X = make_blobs(n_samples=300, n_features=3, n_components=2, seed=1)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    gmm = GaussianMixture(2, random_state=0).fit(df)
    np.testing.assert_array_equal(gmm.feature_names_in_, ["a", "b", "c"])
    assert gmm.n_features_in_ == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labels = gmm.predict(df)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        np.testing.assert_array_equal(gmm.predict(X), labels)
    with pytest.raises(ValueError, match="Feature names unseen at fit time:\n- d"):
        gmm.predict(df.rename(columns={"c": "d"}))
    with pytest.raises(ValueError, match="same order"):
        gmm.predict(df[["c", "b", "a"]])
    refit = GaussianMixture(2, random_state=0).fit(X)
    assert not hasattr(refit, "feature_names_in_")
    with pytest.warns(UserWarning, match="fitted without feature names"):
        refit.predict(df)
    assert not hasattr(gmm.fit(X), "feature_names_in_")  # refitting on an array drops them


def test_html_repr_with_and_without_scikit_learn(monkeypatch):
    gmm = GaussianMixture(4, covariance_type="tied")
    html = gmm._repr_html_()
    assert "GaussianMixture" in html and "tied" in html and "<style" in html  # sklearn's diagram
    monkeypatch.setitem(sys.modules, "sklearn.utils", None)  # as if scikit-learn were absent
    plain = gmm._repr_html_()
    assert "<style" not in plain and "covariance_type" in plain and "&#x27;tied&#x27;" in plain


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conversions_both_ways_are_exact(covariance_type, dtype):
    X = make_blobs(n_samples=500, n_features=3, n_components=3, seed=2).astype(dtype)
    theirs = SklearnGaussianMixture(3, covariance_type=covariance_type, random_state=0,
                                    tol=1e-5).fit(X)
    ours = GaussianMixture.from_sklearn(theirs, n_threads=1)
    assert ours.n_threads == 1 and ours.get_params()["tol"] == 1e-5
    for name in FITTED_ARRAYS:
        np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name))
    assert (ours.converged_, ours.n_iter_, ours.lower_bound_) == (
        theirs.converged_, theirs.n_iter_, theirs.lower_bound_)
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=rtol,
                               atol=1e-12 if dtype == np.float64 else 1e-6)
    np.testing.assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=rtol)

    back = ours.to_sklearn()
    assert type(back) is SklearnGaussianMixture
    assert back.get_params() == theirs.get_params()
    for name in FITTED_ARRAYS:
        np.testing.assert_array_equal(getattr(back, name), getattr(theirs, name))
        assert getattr(back, name) is not getattr(ours, name)  # copies, not views
    np.testing.assert_array_equal(back.predict(X), theirs.predict(X))

    # a gmmcore fit converted and back is a working scikit-learn model too
    fitted = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    converted = fitted.to_sklearn()
    np.testing.assert_allclose(converted.score_samples(X), fitted.score_samples(X), rtol=rtol)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(converted)).means_, fitted.means_)


def test_conversion_of_unfitted_or_foreign_models_is_an_error():
    with pytest.raises(ValueError, match="not fitted"):
        GaussianMixture.from_sklearn(SklearnGaussianMixture(2))
    with pytest.raises(TypeError, match="expected a scikit-learn GaussianMixture"):
        GaussianMixture.from_sklearn(StandardScaler())
    with pytest.raises(ValueError, match="not fitted"):
        GaussianMixture(2).to_sklearn()


def test_grid_search_sees_the_streaming_parameters():
    """learning_decay and partial_fit_mode are constructor parameters, so clone and
    GridSearchCV see them (they were partial_fit options before)."""
    X = make_blobs(n_samples=300, n_features=2, n_components=2, seed=1)
    search = GridSearchCV(GaussianMixture(2, random_state=0),
                          {"learning_decay": [0.6, 0.9], "partial_fit_mode": ["exact"]},
                          cv=2).fit(X)
    assert set(search.best_params_) == {"learning_decay", "partial_fit_mode"}
    assert search.best_estimator_.partial_fit_mode == "exact"
