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
