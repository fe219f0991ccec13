"""scikit-learn's own tests of BayesianGaussianMixture (the installed version's
``sklearn/mixture/tests/test_bayesian_mixture.py``), run against gmmcore's.

The module's source is executed with its ``BayesianGaussianMixture`` import bound to
gmmcore's; every test it defines is collected here.  (Its tests of scikit-learn's
private module functions, such as ``_log_wishart_norm``, test those, and pass.)
"""

import pytest

from conftest import sklearn_tests

# Tests that call scikit-learn's private methods on the estimator, which gmmcore's
# does not have (its internals differ), with what they call.
PRIVATE = {
    "test_compare_covar_type": "BayesianGaussianMixture._check_parameters(X) and "
                               "_initialize_parameters",
}


@pytest.fixture
def global_random_seed():
    """scikit-learn's conftest fixture, at its default seed."""
    return 42


globals().update({name: obj for name, obj in sklearn_tests(
    "test_bayesian_mixture.py", "from sklearn.mixture import BayesianGaussianMixture\n",
    "from gmmcore._bayesian import BayesianGaussianMixture\n", PRIVATE).items()
    if name not in globals()})
