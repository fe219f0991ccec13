"""scikit-learn's own tests of GaussianMixture (the installed version's
``sklearn/mixture/tests/test_gaussian_mixture.py``), run against gmmcore's.

The module's source is executed with its ``GaussianMixture`` import bound to
gmmcore's; every test it defines is collected here.  The array-API tests skip
unless an array library (torch, array_api_strict, …) is installed.
"""

import numpy as np
import pytest

from conftest import sklearn_tests

# Tests that call scikit-learn's private methods on the estimator, which gmmcore's
# estimator does not have (its own internals differ), with what they call.  (Some
# other tests call scikit-learn's private module functions and so test those, not
# gmmcore: they pass here and are left to run.)
PRIVATE = {
    "test_gaussian_mixture_precisions_init": "GaussianMixture._set_parameters",
    "test_gaussian_mixture_all_init_does_not_estimate_gaussian_parameters":
        "_estimate_gaussian_parameters, mocked to count the M-steps",
}


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def global_dtype(request):
    """scikit-learn's conftest fixture: both float dtypes."""
    return request.param


@pytest.fixture
def global_random_seed():
    """scikit-learn's conftest fixture, at its default seed."""
    return 42


globals().update({name: obj for name, obj in sklearn_tests(
    "test_gaussian_mixture.py", "from sklearn.mixture import GaussianMixture\n",
    "from gmmcore import GaussianMixture\n", PRIVATE).items() if name not in globals()})
