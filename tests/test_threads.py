"""Threads: shard planning, thread counts, determinism, and BLAS limits inside fits."""

import os
import threading
import warnings

import numpy as np
import pytest

import gmmcore._em as em
from gmmcore import GaussianMixture, _kernels
from gmmcore._parallel import effective_n_threads, plan_shards, usable_cpu_count
from conftest import COVARIANCE_TYPES, make_blobs, max_rel

ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_cholesky_")


@pytest.mark.parametrize("n_samples", [1, 255, 256, 257, 4096, 10_000, 1_000_003])
@pytest.mark.parametrize("n_threads", [1, 2, 3, 8])
@pytest.mark.parametrize("align", [64, 256])
def test_shard_plan_covers_rows_on_block_boundaries(n_samples, n_threads, align):
    shards = plan_shards(n_samples, n_threads, min_rows=1024, align=align)
    assert 1 <= len(shards) <= n_threads
    assert shards[0][0] == 0 and shards[-1][1] == n_samples
    for (s0, e0), (s1, _) in zip(shards, shards[1:]):
        assert e0 == s1 and s1 % align == 0
    assert all(e > s for s, e in shards)
    if len(shards) > 1:
        assert min(e - s for s, e in shards) >= 1024 - align


def test_effective_n_threads_conventions(monkeypatch):
    cpus = usable_cpu_count()
    if hasattr(os, "sched_getaffinity"):
        assert cpus <= len(os.sched_getaffinity(0))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert effective_n_threads(None) == cpus
    assert effective_n_threads(3) == 3
    assert effective_n_threads(-1) == cpus
    assert effective_n_threads(-cpus - 5) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert effective_n_threads(None) == 1
    assert effective_n_threads(2) == 2  # an explicit count wins over the environment
    with pytest.raises(ValueError, match="n_threads=0"):
        effective_n_threads(0)
    with pytest.raises(TypeError):
        effective_n_threads(1.5)


def test_invalid_n_threads_is_a_parameter_error():
    X = make_blobs(100, 2, 2)
    with pytest.raises(ValueError, match="n_threads"):
        GaussianMixture(2, n_threads=0).fit(X)


def fit(X, n_threads, covariance_type="full", seed=0, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(4, covariance_type=covariance_type, random_state=seed,
                               n_threads=n_threads, max_iter=30, **kw).fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_identical_run_to_run_and_across_thread_counts(covariance_type):
    # 20 000 rows: enough for several shards of at least MIN_ROWS_PER_SHARD
    X = make_blobs(n_samples=20_000, n_features=5, n_components=4, seed=3)
    a = fit(X, 2, covariance_type)
    b = fit(X, 2, covariance_type)
    for name in ATTRIBUTES:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.lower_bounds_ == b.lower_bounds_
    for n_threads in (1, 3, 5):
        c = fit(X, n_threads, covariance_type)
        assert c.n_iter_ == a.n_iter_
        for name in ATTRIBUTES:
            assert max_rel(getattr(c, name), getattr(a, name)) < 1e-12, (n_threads, name)
        np.testing.assert_allclose(c.lower_bounds_, a.lower_bounds_, rtol=1e-12)


def test_float32_across_thread_counts_differs_only_by_float64_rounding():
    X = make_blobs(n_samples=20_000, n_features=6, n_components=4, seed=4).astype(np.float32)
    a, c = fit(X, 1), fit(X, 4)
    np.testing.assert_allclose(c.lower_bounds_, a.lower_bounds_, rtol=1e-9)
    for name in ATTRIBUTES:
        assert max_rel(getattr(c, name), getattr(a, name)) < 1e-5, name


def test_shards_run_on_worker_threads_with_blas_limited_to_one(monkeypatch):
    from threadpoolctl import threadpool_info

    seen = []
    original = _kernels.e_step

    def spy(*args):
        blas = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
        seen.append((threading.current_thread().name, blas))
        return original(*args)

    monkeypatch.setattr(em._kernels, "e_step", spy)
    X = make_blobs(n_samples=20_000, n_features=3, n_components=2, seed=1)
    GaussianMixture(2, random_state=0, n_threads=2, max_iter=2).fit(X)
    names = {name for name, _ in seen}
    assert any(name.startswith("gmmcore") for name in names)
    assert threading.current_thread().name in names  # the caller runs one shard itself
    assert all(all(n == 1 for n in blas) for _, blas in seen)


def test_concurrent_fits_in_threads_match_sequential_fits():
    Xs = [make_blobs(n_samples=6000, n_features=4, n_components=3, seed=s) for s in range(4)]
    expected = [fit(X, 1, seed=s) for s, X in enumerate(Xs)]
    results = [None] * len(Xs)

    def work(i):
        results[i] = fit(Xs[i], 1, seed=i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(Xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        for name in ATTRIBUTES:
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
