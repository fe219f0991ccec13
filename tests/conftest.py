"""Shared fixtures and independent reference helpers for the tests."""

import numpy as np
import pytest

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# Relative tolerances of gmmcore against a float64 reference, per input dtype.
RTOL = {np.float64: 1e-8, np.float32: 2e-3}


def make_blobs(n_samples=600, n_features=3, n_components=3, seed=0, dtype=np.float64,
               spread=4.0):
    """Anisotropic Gaussian clusters with distinct covariances."""
    rng = np.random.RandomState(seed)
    sizes = np.full(n_components, n_samples // n_components)
    sizes[: n_samples - sizes.sum()] += 1
    parts = []
    for size in sizes:
        A = rng.randn(n_features, n_features) * 0.6 + np.eye(n_features) * 0.5
        parts.append(rng.randn(size, n_features) @ A + spread * rng.randn(n_features))
    X = np.vstack(parts)
    return X[rng.permutation(len(X))].astype(dtype)


def random_precisions(covariance_type, n_components, n_features, rng):
    """Well-conditioned random precision parameters of the given type."""
    k, d = n_components, n_features
    if covariance_type == "full":
        out = []
        for _ in range(k):
            A = rng.randn(d, d)
            out.append(A @ A.T + d * np.eye(d))
        return np.array(out) / d
    if covariance_type == "tied":
        A = rng.randn(d, d)
        return (A @ A.T + d * np.eye(d)) / d
    if covariance_type == "diag":
        return rng.uniform(0.3, 3.0, size=(k, d))
    return rng.uniform(0.3, 3.0, size=k)


def initial_values(X, covariance_type, n_components, seed=0):
    """weights_init, means_init, precisions_init: a shared start for two libraries."""
    rng = np.random.RandomState(seed)
    n, d = X.shape
    weights = rng.uniform(0.5, 1.5, n_components)
    weights /= weights.sum()
    means = X[rng.choice(n, n_components, replace=False)].astype(np.float64)
    std = X.std(axis=0).mean()
    precisions = random_precisions(covariance_type, n_components, d, rng) / std**2
    return dict(weights_init=weights, means_init=means, precisions_init=precisions)


def dense_covariances_from_precisions(covariance_type, precisions, k, d):
    """The k dense covariance matrices of precision parameters of any type."""
    if covariance_type == "full":
        return [np.linalg.inv(p) for p in precisions]
    if covariance_type == "tied":
        return [np.linalg.inv(precisions)] * k
    if covariance_type == "diag":
        return [np.diag(1.0 / p) for p in precisions]
    return [np.eye(d) / p for p in precisions]


def max_rel(actual, expected):
    """Largest elementwise error relative to the largest magnitude of the reference."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(np.max(np.abs(expected)), np.finfo(float).tiny)
    return np.max(np.abs(actual - expected)) / scale


@pytest.fixture(params=COVARIANCE_TYPES)
def covariance_type(request):
    return request.param


def default_sigint():
    """preexec_fn for a child that must see Ctrl-C: a test run in the background
    (``cmd &`` in a script) inherits SIGINT ignored, and Python then installs no
    KeyboardInterrupt handler."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_after_start(script, *args, timeout=60):
    """Run ``python -c script *args``, which prints "fitting" as its long call starts;
    send it SIGINT 1.5 s later.  Returns (returncode, stdout, monotonic time of the
    signal)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                            text=True, preexec_fn=default_sigint)
    try:
        assert proc.stdout.readline().strip() == "fitting"
        time.sleep(1.5)  # well inside the call
        sent = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out, sent


# Imported only by the features that need them, never by ``import gmmcore``.
OPTIONAL_MODULES = ("sklearn", "dask", "distributed", "pandas", "pyarrow", "matplotlib")


def optional_modules_after(code):
    """The OPTIONAL_MODULES a fresh interpreter has loaded after running ``code``."""
    import subprocess
    import sys

    probe = (f"import sys\n{code}\nprint(sorted({{m.split('.')[0] for m in sys.modules}}"
             f" & set({OPTIONAL_MODULES!r})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    return out.strip()


def sklearn_tests(module, import_line, replacement, private):
    """The test functions, helpers and fixtures of scikit-learn's own test module
    ``sklearn/mixture/tests/<module>`` (of the installed version), its source run
    with ``import_line`` replaced so that it tests gmmcore's estimator; tests that
    call scikit-learn's private methods (``private``: name -> what they call) are
    strict xfails.  For ``globals().update(...)`` in a test module."""
    import pathlib

    sklearn = pytest.importorskip("sklearn")
    source = pathlib.Path(sklearn.__file__).parent / "mixture" / "tests" / module
    if not source.exists():
        pytest.skip("this scikit-learn installation has no tests", allow_module_level=True)
    code = source.read_text()
    if import_line not in code:
        pytest.skip(f"scikit-learn's {module} no longer has {import_line.strip()!r}",
                    allow_module_level=True)
    namespace = {"__name__": f"sklearn_{module[:-3]}_on_gmmcore", "__file__": str(source)}
    exec(compile(code.replace(import_line, replacement), str(source), "exec"), namespace)
    found = {}
    for name, obj in namespace.items():
        if name.startswith("test_") and callable(obj) and name in private:
            obj = pytest.mark.xfail(reason=f"calls scikit-learn's private {private[name]}",
                                    strict=True)(obj)
        if not name.startswith("__"):
            found[name] = obj  # tests, and the module's helpers and fixtures
    return found
