"""scikit-learn's conventions: public exceptions, warnings at the caller's line,
metadata routing of sample_weight."""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import gmmcore
from gmmcore import GaussianMixture, exceptions
from conftest import make_blobs


def run(code):
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_exceptions_module_is_public_and_names_its_classes():
    assert set(exceptions.__all__) == {"ConvergenceWarning", "InvalidParameterError",
                                       "ModelFileError", "NonFiniteLikelihoodError",
                                       "NotFittedError"}
    assert gmmcore.exceptions is exceptions
    for name in exceptions.__all__:
        cls = getattr(exceptions, name)
        assert repr(cls) == f"<class 'gmmcore.exceptions.{name}'>"
        assert cls.__doc__
    assert issubclass(exceptions.ModelFileError, ValueError)
    assert issubclass(exceptions.NotFittedError, (ValueError, AttributeError))
    assert issubclass(exceptions.ConvergenceWarning, UserWarning)
    with pytest.raises(exceptions.NotFittedError, match="not fitted yet"):
        GaussianMixture().predict(np.zeros((2, 2)))
    with pytest.raises(exceptions.InvalidParameterError):
        GaussianMixture(n_components=0).fit(np.zeros((4, 2)))
    with pytest.raises(exceptions.ModelFileError):
        GaussianMixture.load(__file__)


FIT_THAT_WARNS = """
    import numpy as np
    from gmmcore import GaussianMixture
    X = np.random.RandomState(0).randn(300, 2)
    def fit():
        GaussianMixture(3, max_iter=1, random_state=0).fit(X)
"""


@pytest.mark.parametrize("order", ["gmmcore first", "sklearn first", "sklearn in between"])
def test_sklearn_filters_catch_gmmcore_warnings_and_errors_in_any_import_order(order):
    pytest.importorskip("sklearn")
    imports = {
        "gmmcore first": "import gmmcore\nfrom sklearn import exceptions as sk\n",
        "sklearn first": "from sklearn import exceptions as sk\nimport gmmcore\n",
        "sklearn in between": "import gmmcore\nimport numpy as np\n"
                             "gmmcore.GaussianMixture(3, max_iter=1).fit("
                             "np.random.RandomState(0).randn(300, 2))\n"
                             "from sklearn import exceptions as sk\n",
    }[order]
    out = run(imports + textwrap.dedent(FIT_THAT_WARNS) + textwrap.dedent("""
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("error", sk.ConvergenceWarning)
            try:
                fit()
            except sk.ConvergenceWarning as w:
                print("sklearn filter caught", type(w).__module__, type(w).__name__)
        with warnings.catch_warnings():
            warnings.simplefilter("error", gmmcore.exceptions.ConvergenceWarning)
            try:
                fit()
            except gmmcore.exceptions.ConvergenceWarning:
                print("gmmcore filter caught")
        try:
            GaussianMixture().predict(np.zeros((1, 2)))
        except sk.NotFittedError as e:
            print("sklearn except caught", isinstance(e, gmmcore.exceptions.NotFittedError))
    """))
    assert "sklearn filter caught gmmcore.exceptions ConvergenceWarning" in out
    assert "gmmcore filter caught" in out
    assert "sklearn except caught True" in out


def test_gmmcore_never_imports_sklearn_to_warn_or_raise():
    out = run(textwrap.dedent(FIT_THAT_WARNS) + textwrap.dedent("""
        import sys, warnings
        import gmmcore
        with warnings.catch_warnings():
            warnings.simplefilter("error", gmmcore.exceptions.ConvergenceWarning)
            try:
                fit()
            except gmmcore.exceptions.ConvergenceWarning:
                print("caught")
        try:
            GaussianMixture().predict([[0.0, 0.0]])
        except gmmcore.exceptions.NotFittedError:
            print("caught")
        print("sklearn" in sys.modules)
    """))
    assert out.split() == ["caught", "caught", "False"]


def _warnings_of(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return caught


def test_warnings_point_at_the_callers_line():
    X = np.random.RandomState(0).randn(300, 2)
    for call in (lambda: GaussianMixture(3, max_iter=1).fit(X),
                 lambda: GaussianMixture(3, max_iter=1).fit_predict(X)):
        (w,) = [w for w in _warnings_of(call)
                if issubclass(w.category, exceptions.ConvergenceWarning)]
        assert w.filename == __file__
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["a", "b"])
    named = GaussianMixture(2, random_state=0).fit(frame)
    unnamed = GaussianMixture(2, random_state=0).fit(X)
    for call in (lambda: named.predict(X), lambda: named.score(X),
                 lambda: named.predict_proba(X), lambda: named.score_samples(X),
                 lambda: unnamed.predict(frame)):
        caught = [w for w in _warnings_of(call) if "feature names" in str(w.message)]
        assert caught and all(w.filename == __file__ for w in caught)


@pytest.fixture
def routing():
    sklearn = pytest.importorskip("sklearn")
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def test_request_methods_need_routing_enabled():
    pytest.importorskip("sklearn")
    with pytest.raises(RuntimeError, match="enable_metadata_routing"):
        GaussianMixture().set_fit_request(sample_weight=True)


def test_cross_validate_routes_sample_weight(routing):
    from sklearn.model_selection import KFold, cross_validate

    X = make_blobs(n_samples=400, n_features=2, n_components=2, seed=0)
    w = np.random.RandomState(1).uniform(0.1, 3.0, len(X))
    model = GaussianMixture(2, random_state=0).set_fit_request(sample_weight=True)
    model.set_score_request(sample_weight=True)
    cv = KFold(3)
    scores = cross_validate(model, X, cv=cv, params={"sample_weight": w})["test_score"]
    expected = []
    for train, test in cv.split(X):
        fitted = GaussianMixture(2, random_state=0).fit(X[train], sample_weight=w[train])
        expected.append(fitted.score(X[test], sample_weight=w[test]))
    np.testing.assert_allclose(scores, expected, rtol=1e-12)
    unweighted = cross_validate(GaussianMixture(2, random_state=0), X, cv=cv)["test_score"]
    assert not np.allclose(scores, unweighted)


def test_grid_search_routes_sample_weight_to_fit(routing):
    from sklearn.model_selection import GridSearchCV

    X = make_blobs(n_samples=400, n_features=2, n_components=2, seed=2)
    w = np.random.RandomState(3).uniform(0.1, 3.0, len(X))
    model = GaussianMixture(random_state=0).set_fit_request(sample_weight=True)
    model.set_score_request(sample_weight=False)
    search = GridSearchCV(model, {"n_components": [1, 2]}, cv=2).fit(X, sample_weight=w)
    refit = GaussianMixture(search.best_params_["n_components"], random_state=0).fit(
        X, sample_weight=w)
    np.testing.assert_allclose(search.best_estimator_.means_, refit.means_, rtol=1e-12)
    # unrequested, the weights are refused rather than silently dropped
    with pytest.raises(Exception, match="sample_weight"):
        GridSearchCV(GaussianMixture(random_state=0), {"n_components": [1, 2]},
                     cv=2).fit(X, sample_weight=w)
