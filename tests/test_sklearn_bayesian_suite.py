"""scikit-learn's own tests of BayesianGaussianMixture (the installed version's
``sklearn/mixture/tests/test_bayesian_mixture.py``), run against gmmcore's.

The module's source is executed with its ``BayesianGaussianMixture`` import bound to
gmmcore's; every test it defines is collected here.  (Its tests of scikit-learn's
private module functions, such as ``_log_wishart_norm``, test those, and pass.)
"""

import pathlib

import pytest

sklearn = pytest.importorskip("sklearn")

SOURCE = pathlib.Path(sklearn.__file__).parent / "mixture" / "tests" / "test_bayesian_mixture.py"
if not SOURCE.exists():
    pytest.skip("this scikit-learn installation has no tests", allow_module_level=True)

IMPORT = "from sklearn.mixture import BayesianGaussianMixture\n"

# Tests that call scikit-learn's private methods on the estimator, which gmmcore's
# does not have (its internals differ), with what they call.
PRIVATE = {
    "test_compare_covar_type": "BayesianGaussianMixture._check_parameters(X) and "
                               "_initialize_parameters",
}


def _load():
    code = SOURCE.read_text()
    if IMPORT not in code:
        pytest.skip("scikit-learn's test module no longer imports BayesianGaussianMixture "
                    "as expected", allow_module_level=True)
    namespace = {"__name__": "sklearn_bayesian_mixture_tests_on_gmmcore",
                 "__file__": str(SOURCE)}
    exec(compile(code.replace(IMPORT, "from gmmcore._bayesian import BayesianGaussianMixture\n"),
                 str(SOURCE), "exec"), namespace)
    return namespace


_TESTS = _load()


@pytest.fixture
def global_random_seed():
    """scikit-learn's conftest fixture, at its default seed."""
    return 42


for _name, _obj in _TESTS.items():
    if _name.startswith("test_") and callable(_obj):
        if _name in PRIVATE:
            _obj = pytest.mark.xfail(reason=f"calls scikit-learn's private {PRIVATE[_name]}",
                                     strict=True)(_obj)
        globals()[_name] = _obj
    elif _name not in globals() and not _name.startswith("__"):
        globals()[_name] = _obj  # the module's helpers and fixtures
