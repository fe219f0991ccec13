"""Processes: fork after threaded fits, spawn, forkserver, and models sent between them."""

import multiprocessing
import sys

import numpy as np
import pytest

from gmmcore import GaussianMixture
from conftest import make_blobs


def fit_in_child(seed):
    """Fit with threads in a child process; returns what the parent compares."""
    X = make_blobs(n_samples=40_000, n_features=3, n_components=3, seed=seed)
    gm = GaussianMixture(3, random_state=0, n_threads=2, init_params="kmeans").fit(X)
    return gm.means_, gm.lower_bound_


def predict_in_child(model, X):
    return model.predict_proba(X)


METHODS = [m for m in ("fork", "spawn", "forkserver")
           if m in multiprocessing.get_all_start_methods()]

# Python 3.12+ warns when a process with threads forks: forking after a threaded fit is
# exactly what these tests check gmmcore survives.
pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork")


@pytest.mark.parametrize("method", METHODS)
def test_fit_with_threads_then_fit_again_in_child_processes(method):
    # the parent has used its thread pool (and k-means initialisation) first
    expected = fit_in_child(1)
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2) as pool:
        results = pool.map_async(fit_in_child, [1, 1]).get(timeout=120)
    for means, bound in results:
        np.testing.assert_array_equal(means, expected[0])
        assert bound == expected[1]


@pytest.mark.parametrize("method", METHODS)
def test_fitted_model_pickled_to_a_child_predicts_the_same(method):
    X = make_blobs(n_samples=2000, n_features=4, n_components=2, seed=3)
    gm = GaussianMixture(2, random_state=0, n_threads=2).fit(X)
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(1) as pool:
        proba = pool.apply_async(predict_in_child, (gm, X)).get(timeout=120)
    np.testing.assert_array_equal(proba, gm.predict_proba(X))


@pytest.mark.skipif(sys.platform == "win32", reason="os.fork is POSIX")
def test_plain_os_fork_child_can_fit():
    import os

    fit_in_child(2)  # the parent's pool now has live worker threads
    pid = os.fork()
    if pid == 0:  # child: must not hang on the parent's (absent) worker threads
        try:
            fit_in_child(2)
            os._exit(0)
        except BaseException:
            os._exit(1)
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    pytest.fail("the forked child hung")
