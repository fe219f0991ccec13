"""gmmcore.dask: EM over dask arrays on a LocalCluster of two worker processes.

The reference is the in-memory gmmcore fit (itself tested against scikit-learn)
from the same start, on the computed array.
"""

import logging
import os
import pickle
import signal
import threading
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

import gmmcore  # noqa: E402
from gmmcore import dask as gmm_dask  # noqa: E402

from conftest import (COVARIANCE_TYPES, initial_values, make_blobs, max_rel,  # noqa: E402
                      optional_modules_after)

pytestmark = pytest.mark.filterwarnings(
    "ignore:Best performing initialization did not converge")

# the same start, a different order of the additions: rounding only
RTOL = {np.float64: 1e-10, np.float32: 1e-5}
CHUNKINGS = (300, (100, 1, 298, 101, 500), (1000,))  # even, uneven (a 1-row block), one block


@pytest.fixture(scope="module")
def client():
    # a Nanny sets OMP_NUM_THREADS=1 (and more) in the process that starts it:
    # restored, so that the rest of the test session keeps its threads
    saved = gmm_dask._nanny_environ()
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=":0", silence_logs=logging.ERROR)
    # not the default client: the client=None test must find none
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()
    gmm_dask._restore_environ(saved)


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(n_samples=1000, n_features=3, n_components=3, seed=3)


def in_memory(**params):
    return gmmcore.GaussianMixture(**params)


def on_dask(client, **params):
    return gmm_dask.GaussianMixture(client=client, timeout=60, **params)


def assert_same_fit(got, expected, rtol):
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert getattr(got, name).dtype == getattr(expected, name).dtype, name
        assert max_rel(getattr(got, name), getattr(expected, name)) <= rtol, name
    assert got.n_iter_ == expected.n_iter_
    assert got.converged_ == expected.converged_
    np.testing.assert_allclose(got.lower_bounds_, expected.lower_bounds_, rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_equals_in_memory_fit_for_any_chunking(client, blobs, covariance_type, dtype):
    X = blobs.astype(dtype)
    start = initial_values(X, covariance_type, 3, seed=1)
    params = dict(n_components=3, covariance_type=covariance_type, tol=1e-9, max_iter=10,
                  **start)
    expected = in_memory(**params).fit(X)
    for chunks in CHUNKINGS:
        got = on_dask(client, **params).fit(da.from_array(X, chunks=(chunks, 3)))
        assert_same_fit(got, expected, RTOL[dtype])


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_weighted_fit_equals_in_memory_fit(client, blobs, covariance_type):
    weights = np.random.RandomState(0).randint(0, 4, size=len(blobs)).astype(np.float64)
    params = dict(n_components=3, covariance_type=covariance_type, tol=1e-9, max_iter=15,
                  random_state=0)  # k-means start: all 1000 rows fit in the init sample
    expected = in_memory(**params).fit(blobs, sample_weight=weights)
    X = da.from_array(blobs, chunks=((400, 350, 250), 3))
    # weights chunked differently from X's rows: aligned by the estimator
    got = on_dask(client, **params).fit(X, sample_weight=da.from_array(weights, chunks=333))
    assert_same_fit(got, expected, 1e-10)
    got = on_dask(client, **params).fit(X, sample_weight=weights)  # in memory: persisted
    assert_same_fit(got, expected, 1e-10)


def test_fit_predict_is_lazy_and_equals_fit_then_predict(client, blobs):
    gm = on_dask(client, n_components=3, random_state=0)
    X = da.from_array(blobs, chunks=250)
    labels = gm.fit_predict(X)
    assert isinstance(labels, da.Array) and labels.chunks == (X.chunks[0],)
    expected = in_memory(n_components=3, random_state=0).fit_predict(blobs)
    np.testing.assert_array_equal(labels.compute(), expected)
    np.testing.assert_array_equal(gm.predict(X).compute(), expected)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lazy_outputs_equal_the_base_class_on_the_computed_array(client, blobs, dtype):
    X = blobs.astype(dtype)
    gm = on_dask(client, n_components=3, covariance_type="tied", random_state=0)
    gm.fit(da.from_array(X, chunks=400))
    dX = da.from_array(X, chunks=((500, 0, 123, 377), 2))  # columns split: rechunked
    tol = dict(rtol=RTOL[dtype] * 10, atol=0)
    base = gmmcore.GaussianMixture
    for method in ("predict", "predict_proba", "score_samples"):
        lazy = getattr(gm, method)(dX)
        expected = getattr(base, method)(gm, X)
        assert isinstance(lazy, da.Array)
        assert lazy.dtype == expected.dtype and lazy.shape == expected.shape
        np.testing.assert_allclose(lazy.compute(), expected, **tol)
    for method in ("score", "bic", "aic"):
        got = getattr(gm, method)(dX)
        assert isinstance(got, float)
        # the base class averages float32 log-densities in float32 (as scikit-learn's
        # score), the Dask one sums its blocks in float64
        np.testing.assert_allclose(got, getattr(base, method)(gm, X),
                                   rtol=1e-10 if dtype == np.float64 else 1e-6)
    w = np.linspace(0.0, 2.0, len(X))
    np.testing.assert_allclose(gm.score(dX, sample_weight=da.from_array(w, chunks=300)),
                               base.score(gm, X, sample_weight=w), rtol=1e-10)
    # in-memory input: the base class's results exactly
    np.testing.assert_array_equal(gm.predict_proba(X), base.predict_proba(gm, X))


def test_dataframe_input_sets_feature_names(client, blobs):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    frame = pd.DataFrame(blobs, columns=["a", "b", "c"]).assign(c=lambda f: f.c.round(0)
                                                                 .astype("int64"))
    ddf = dd.from_pandas(frame, npartitions=3)
    params = dict(n_components=3, tol=1e-9, max_iter=10,
                  **initial_values(frame.to_numpy(np.float64), "full", 3, seed=2))
    expected = in_memory(**params).fit(frame)
    got = on_dask(client, **params).fit(ddf)
    np.testing.assert_array_equal(got.feature_names_in_, ["a", "b", "c"])
    assert_same_fit(got, expected, 1e-10)
    np.testing.assert_array_equal(got.predict(ddf).compute(), expected.predict(frame))
    w = np.linspace(0.0, 1.0, len(frame))
    for weights in (w, dd.from_pandas(pd.Series(w), npartitions=3)):
        np.testing.assert_allclose(got.score(ddf, sample_weight=weights),
                                   expected.score(frame, sample_weight=w), rtol=1e-10)
    with pytest.raises(ValueError, match="feature names should match"):
        got.predict(ddf.rename(columns={"a": "z"}))
    with pytest.raises(TypeError, match="non-numeric"):
        on_dask(client, n_components=2).fit(ddf.assign(s="x"))


def test_sample_initialisation_draws_rows_and_recovers_clusters(client):
    X = make_blobs(n_samples=6000, n_features=2, n_components=3, seed=5, spread=12.0)
    dX = da.from_array(X, chunks=1100)
    params = dict(n_components=3, random_state=0, tol=1e-8)
    # max_iter=0: the start, k-means on a sample of 500 rows drawn with random_state
    start = on_dask(client, init_sample_size=500, max_iter=0, **params).fit(dX)
    rng = np.random.RandomState(0)
    rows = gmm_dask.sample_indices(len(X), 500, rng)
    assert len(np.unique(rows)) == 500
    expected_start = in_memory(n_components=3, random_state=rng, max_iter=0).fit(X[rows])
    np.testing.assert_allclose(start.means_, expected_start.means_, rtol=1e-12)
    assert max_rel(start.means_, in_memory(max_iter=0, **params).fit(X).means_) > 1e-6
    # and EM from there finds the in-memory fit's clusters
    got = on_dask(client, init_sample_size=500, **params).fit(dX)
    expected = in_memory(**params).fit(X)
    order = np.argsort(got.means_[:, 0]), np.argsort(expected.means_[:, 0])
    np.testing.assert_allclose(got.means_[order[0]], expected.means_[order[1]], rtol=1e-4)
    agreement = np.mean(np.argsort(order[0])[got.predict(dX).compute()]
                        == np.argsort(order[1])[expected.predict(X)])
    assert agreement == 1.0


def test_estimator_protocol_keeps_the_client(client, blobs):
    from sklearn.base import clone

    gm = on_dask(client, n_components=2, init_sample_size=100)
    assert gm.get_params()["client"] is client and gm.get_params()["timeout"] == 60
    copy = clone(gm)
    assert copy.client is client and copy.init_sample_size == 100
    gm.fit(da.from_array(blobs, chunks=500))
    restored = pickle.loads(pickle.dumps(gm))  # the client stays behind
    assert restored.client is None
    np.testing.assert_array_equal(restored.predict(blobs), gm.predict(blobs))
    # in-memory X: fitted in this process, as by the base class
    np.testing.assert_array_equal(on_dask(client, n_components=2, random_state=0).fit(blobs)
                                  .means_, in_memory(n_components=2, random_state=0)
                                  .fit(blobs).means_)
    with pytest.raises(ValueError, match="'client' parameter"):
        gmm_dask.GaussianMixture(client="tcp://nowhere").fit(da.from_array(blobs))


def test_without_a_client_a_local_cluster_is_started_and_closed(blobs, monkeypatch):
    assert gmm_dask._default_client() is None
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    started = []

    class RecordingCluster(distributed.LocalCluster):
        def __init__(self, **kwargs):
            started.append(kwargs)
            super().__init__(**kwargs)
            started.append(self)

    monkeypatch.setattr(distributed, "LocalCluster", RecordingCluster)
    gm = gmm_dask.GaussianMixture(n_components=2, random_state=0, timeout=60)
    gm.fit(da.from_array(blobs, chunks=500))
    kwargs, cluster = started
    assert kwargs["processes"] is True and kwargs["threads_per_worker"] == 1
    assert cluster.status.name == "closed"
    # the Nanny's OMP_NUM_THREADS=1 for its workers did not stay in this process
    assert "OMP_NUM_THREADS" not in os.environ
    expected = in_memory(n_components=2, random_state=0).fit(blobs)
    assert max_rel(gm.means_, expected.means_) <= 1e-10


def test_a_worker_killed_mid_fit_is_survived_or_reported(client, blobs):
    def slow(block):  # each pass takes a while, so the kill lands inside the fit
        time.sleep(0.1)
        return block

    X = da.from_array(blobs, chunks=250).map_blocks(slow, dtype=blobs.dtype)
    params = dict(n_components=3, tol=0.0, max_iter=12, **initial_values(blobs, "full", 3))
    pids = client.run(os.getpid)
    victim = sorted(pids)[0]
    killed_at = []

    def kill():
        # SIGTERM ends a process on Windows
        os.kill(pids[victim], getattr(signal, "SIGKILL", signal.SIGTERM))
        killed_at.append(time.monotonic())

    killer = threading.Timer(1.0, kill)
    started = time.monotonic()
    killer.start()
    try:
        gm = on_dask(client, **params).fit(X)
        assert killed_at, "the kill should land during the fit"
    except (distributed.KilledWorker, TimeoutError) as exc:  # a clear error, not a hang
        print(f"worker killed: {type(exc).__name__}: {exc}")
        assert "worker" in str(exc).lower() or "timeout" in str(exc)
    else:  # Dask re-ran the lost tasks: the same fit, as the additions' order is fixed
        print(f"worker killed: the fit completed ({gm.n_iter_} iterations) in "
              f"{time.monotonic() - started:.1f} s")
        assert_same_fit(gm, in_memory(**params).fit(blobs), 1e-10)
    finally:
        killer.join()
    assert time.monotonic() - started < 60
    client.wait_for_workers(2, timeout=30)  # the nanny restarted it


def test_a_computation_past_the_timeout_raises_instead_of_waiting(client, blobs):
    def stuck(block):
        time.sleep(2.0)
        return block

    X = da.from_array(blobs, chunks=500).map_blocks(stuck, dtype=blobs.dtype)
    gm = gmm_dask.GaussianMixture(n_components=2, covariance_type="diag", client=client,
                                  timeout=0.5, **initial_values(blobs, "diag", 2))
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"EM pass 1 .* did not finish within timeout=0.5 s"):
        gm.fit(X)
    assert time.monotonic() - started < 2.0


def test_import_gmmcore_does_not_import_dask():
    assert optional_modules_after(
        "import gmmcore; gmmcore.GaussianMixture(2).fit([[0.], [1.], [5.], [6.]])") == "[]"


def test_select_on_dask_equals_select_in_memory(client, blobs):
    X = da.from_array(blobs, chunks=(250, 3))
    params = dict(n_components=[1, 2, 3, 4], covariance_types=("full", "diag"), random_state=0,
                  max_iter=30)
    on_cluster = gmmcore.select(X, client=client, timeout=60, **params)
    local = gmmcore.select(blobs, **params)
    # 1000 rows fit in the default init sample: the same starts, the same fits
    assert isinstance(on_cluster.best_estimator_, gmm_dask.GaussianMixture)
    assert on_cluster.best_params_ == local.best_params_
    np.testing.assert_allclose(on_cluster.table["criterion"], local.table["criterion"],
                               rtol=1e-10)
    np.testing.assert_array_equal(on_cluster.table["n_iter"], local.table["n_iter"])
    np.testing.assert_allclose(on_cluster.best_estimator_.means_, local.best_estimator_.means_,
                               rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
def test_bayesian_fit_equals_in_memory_fit_for_any_chunking(client, blobs, covariance_type,
                                                            prior_type):
    """The variational mixture on dask: priors from a pass over the blocks, the start
    from all 1000 rows (within the init sample), every pass's statistics and entropy
    from the workers; the in-memory fit's posterior to rounding."""
    weights = np.random.RandomState(1).uniform(0.5, 2.0, len(blobs))
    params = dict(n_components=4, covariance_type=covariance_type, random_state=0,
                  weight_concentration_prior_type=prior_type, tol=1e-9, max_iter=12)
    expected = gmmcore.BayesianGaussianMixture(**params).fit(blobs, sample_weight=weights)
    for chunks in CHUNKINGS:
        got = gmm_dask.BayesianGaussianMixture(client=client, timeout=60, **params).fit(
            da.from_array(blobs, chunks=(chunks, 3)), sample_weight=weights)
        for name in ("weights_", "means_", "covariances_", "mean_precision_",
                     "degrees_of_freedom_", "covariance_prior_", "mean_prior_"):
            assert max_rel(getattr(got, name), getattr(expected, name)) <= 1e-10, name
        assert got.n_iter_ == expected.n_iter_
        np.testing.assert_allclose(got.lower_bounds_, expected.lower_bounds_, rtol=1e-10)
    X = da.from_array(blobs, chunks=300)
    np.testing.assert_allclose(got.predict_proba(X).compute(), expected.predict_proba(blobs),
                               rtol=1e-9, atol=1e-12)
    assert got.score(X) == pytest.approx(expected.score(blobs), rel=1e-10)


def test_bayesian_regularized_prior_equals_in_memory_fit(client, blobs):
    """on_degenerate='regularize' on rows with a constant feature: the prior from
    the blocks is regularized as the in-memory one is."""
    flat = np.c_[blobs, np.full(len(blobs), 2.0)]
    params = dict(n_components=3, reg_covar=0.0, on_degenerate="regularize",
                  random_state=0, max_iter=5)
    expected = gmmcore.BayesianGaussianMixture(**params).fit(flat)
    got = gmm_dask.BayesianGaussianMixture(client=client, timeout=60, **params).fit(
        da.from_array(flat, chunks=(250, 4)))
    assert got.degenerate_events_ == expected.degenerate_events_
    assert len(got.degenerate_events_) == 1
    for name in ("covariance_prior_", "means_", "covariances_"):
        assert max_rel(getattr(got, name), getattr(expected, name)) <= 1e-8, name


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_missing_entries_fit_as_in_memory_for_any_chunking(client, blobs, covariance_type):
    """nan_policy='marginalize' on the workers: every block's rows with NaN taken on
    their observed features; the in-memory fit's parameters and predictions."""
    X = blobs.copy()
    X[np.random.RandomState(2).rand(*X.shape) < 0.2] = np.nan
    params = dict(n_components=3, covariance_type=covariance_type, random_state=0,
                  nan_policy="marginalize", tol=1e-9, max_iter=10)
    expected = in_memory(**params).fit(X)
    for chunks in CHUNKINGS:
        got = gmm_dask.GaussianMixture(client=client, timeout=60, **params).fit(
            da.from_array(X, chunks=(chunks, 3)))
        for name in ("weights_", "means_", "covariances_"):
            assert max_rel(getattr(got, name), getattr(expected, name)) <= 1e-10, name
        assert got.n_iter_ == expected.n_iter_
    Xd = da.from_array(X, chunks=300)
    np.testing.assert_allclose(got.score_samples(Xd).compute(), expected.score_samples(X),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(got.predict(Xd).compute(), expected.predict(X))
