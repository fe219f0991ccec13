"""Threads: shard planning, thread counts, determinism, and BLAS limits inside fits."""

import os
import threading
import time
import warnings

import numpy as np
import pytest

import gmmcore._em as em
from gmmcore import GaussianMixture, _kernels, _parallel
from gmmcore._parallel import effective_n_threads, plan_chunks, run_ordered, usable_cpu_count
from conftest import COVARIANCE_TYPES, make_blobs

ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_cholesky_")


@pytest.mark.parametrize("n_samples,work_per_row", [
    (1, 1.0), (255, 1.0), (256, 1e5), (257, 1.0), (4096, 1e5), (10_000, 1.0), (10_000, 1e5),
    (1_000_003, 1.0), (1_000_003, 1e5), (10**9, 300.0), (2**40, 1.0)])
@pytest.mark.parametrize("block_size", [64, 256])
def test_chunk_plan_covers_rows_on_block_boundaries(n_samples, block_size, work_per_row):
    chunks = plan_chunks(n_samples, block_size, work_per_row, min_rows=1024)
    assert len(chunks) >= 1
    # a chunk is at most about 1e9 flops, or the minimum size
    largest = max(e - s for s, e in chunks)
    assert largest <= max(1024 + block_size, 1e9 / work_per_row + block_size)
    if n_samples <= 16 * 1024:
        assert len(chunks) <= 16
    assert chunks[0][0] == 0 and chunks[-1][1] == n_samples
    for (_, e0), (s1, _) in zip(chunks, chunks[1:]):
        assert e0 == s1 and s1 % block_size == 0
    assert all(e > s for s, e in chunks)
    if len(chunks) > 1:
        assert min(e - s for s, e in chunks) >= 1024 - block_size


def test_effective_n_threads_conventions(monkeypatch):
    cpus = usable_cpu_count()
    if hasattr(os, "sched_getaffinity"):
        assert cpus <= len(os.sched_getaffinity(0))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert effective_n_threads(None) == cpus
    assert effective_n_threads(1) == 1
    assert effective_n_threads(cpus) == cpus
    assert effective_n_threads(-1) == cpus
    assert effective_n_threads(-cpus - 5) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert effective_n_threads(None) == 1
    assert effective_n_threads(2) == 2  # an explicit count wins over the environment
    with pytest.raises(ValueError, match="n_threads=0"):
        effective_n_threads(0)
    with pytest.raises(TypeError):
        effective_n_threads(1.5)


def test_more_threads_than_cpus_are_capped_with_a_warning():
    """n_threads=10**6 started a million threads; more than the usable CPUs gain
    nothing, so a larger request is capped, and says so."""
    cpus = usable_cpu_count()
    for request in (cpus + 1, 10**6):
        with pytest.warns(RuntimeWarning, match=f"n_threads={request} is more than the "
                                                f"{cpus} CPU"):
            assert effective_n_threads(request) == cpus
    X = make_blobs(n_samples=40_000, n_features=3, n_components=2, seed=0)
    before = threading.active_count()
    with pytest.warns(RuntimeWarning, match="is more than"):
        GaussianMixture(2, random_state=0, max_iter=2, tol=0, n_threads=10**6).fit(X)
    assert threading.active_count() - before <= cpus


def test_one_pool_serves_every_thread_count(monkeypatch):
    """Fits with n_threads = 2..40 left a pool per count alive (781 threads): one pool,
    grown to the most that one run needed, serves them all."""
    monkeypatch.setattr(_parallel, "_cpu_count", 40)  # as on a 40-core machine
    X = make_blobs(n_samples=20_000, n_features=2, n_components=2, seed=0)
    before = {t for t in threading.enumerate() if t.name.startswith("gmmcore")}
    for n_threads in range(2, 41):
        GaussianMixture(2, random_state=0, max_iter=1, n_threads=n_threads).fit(X)
    helpers = {t for t in threading.enumerate() if t.name.startswith("gmmcore")} - before
    # the most a run of these used is one helper per chunk but one (at most 16 chunks)
    assert len(helpers) <= 16
    assert all(t.name.startswith("gmmcore-helper-") for t in helpers)


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
def test_identical_run_to_run_and_across_thread_counts(covariance_type, monkeypatch):
    # 40 000 rows: four chunks of the statistics, so threads really share the work;
    # chunks are folded in order, so every thread count gives the same bits
    X = make_blobs(n_samples=40_000, n_features=5, n_components=4, seed=3)
    a = fit(X, 2, covariance_type)
    monkeypatch.setattr(_parallel, "_cpu_count", 8)  # 3 and 5 threads even on 2 cores
    for n_threads in (2, 1, 3, 5):
        c = fit(X, n_threads, covariance_type)
        assert c.n_iter_ == a.n_iter_
        assert c.lower_bounds_ == a.lower_bounds_
        for name in ATTRIBUTES:
            np.testing.assert_array_equal(getattr(c, name), getattr(a, name))


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random"])
def test_float32_and_every_init_identical_across_thread_counts(init_params):
    X = make_blobs(n_samples=40_000, n_features=6, n_components=4, seed=4).astype(np.float32)
    a, c = fit(X, 1, init_params=init_params), fit(X, 4, init_params=init_params)
    assert c.lower_bounds_ == a.lower_bounds_
    for name in ATTRIBUTES:
        np.testing.assert_array_equal(getattr(c, name), getattr(a, name))


def _sleepy_task(log, lock, fail_at=None):
    """A task that sleeps a pseudo-random while (releasing the GIL, like a kernel)
    and records when it started relative to the folds."""
    def task(start, end):
        with lock:
            log.append(("start", start, threading.current_thread().name))
        time.sleep(((start * 7919) % 5) * 1e-3)
        if start == fail_at:
            raise RuntimeError(f"chunk {start} failed")
        return start
    return task


@pytest.mark.parametrize("n_threads", [2, 3, 8])
def test_run_ordered_folds_in_chunk_order_within_its_window(n_threads):
    chunks = [(i, i + 1) for i in range(40)]
    log, lock, folded = [], threading.Lock(), []

    def fold(part):
        with lock:
            log.append(("fold", part, threading.current_thread().name))
        folded.append(part)

    run_ordered(_sleepy_task(log, lock), chunks, n_threads, fold)
    assert folded == list(range(40))
    # no chunk started 2 × n_threads or more chunks ahead of the fold
    n_folded = 0
    for event, i, _ in log:
        if event == "fold":
            n_folded += 1
        else:
            assert i - n_folded < 2 * n_threads
    assert len({name for event, _, name in log if event == "start"}) > 1


@pytest.mark.parametrize("fail_at", [0, 13, 39])
def test_run_ordered_stops_at_a_failing_chunk(fail_at):
    chunks = [(i, i + 1) for i in range(40)]
    log, lock, folded = [], threading.Lock(), []
    with pytest.raises(RuntimeError, match=f"chunk {fail_at} failed"):
        run_ordered(_sleepy_task(log, lock, fail_at), chunks, 3, folded.append)
    n_started = len(log)
    time.sleep(0.05)
    assert len(log) == n_started  # nothing runs once the error has propagated
    assert folded == list(range(len(folded))) and fail_at not in folded
    assert n_started < fail_at + 2 * 3 + 1


def test_run_ordered_propagates_a_failing_fold():
    chunks = [(i, i + 1) for i in range(30)]
    log, lock = [], threading.Lock()

    def fold(part):
        if part == 5:
            raise ValueError("fold 5 failed")

    with pytest.raises(ValueError, match="fold 5 failed"):
        run_ordered(_sleepy_task(log, lock), chunks, 2, fold)
    n_started = len(log)
    time.sleep(0.05)
    assert len(log) == n_started


def test_run_ordered_from_many_threads_and_nested_calls():
    # callers share the pool; a task may itself call run_ordered: neither waits on
    # a helper that never comes
    def inner(start, end):
        out = []
        run_ordered(lambda s, e: s, [(i, i + 1) for i in range(start, end)], 2, out.append)
        return out

    results = [None] * 6

    def caller(j):
        got = []
        run_ordered(inner, [(10 * i, 10 * i + 10) for i in range(8)], 2, got.extend)
        results[j] = got

    threads = [threading.Thread(target=caller, args=(j,)) for j in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert results == [list(range(80))] * 6


@pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")
def test_shards_run_on_the_caller_and_a_helper_with_blas_limited_to_one(monkeypatch):
    from threadpoolctl import threadpool_info

    seen = []
    active = [0, 0]  # running now, most at once
    lock = threading.Lock()
    original = _kernels.e_step

    def spy(*args):
        with lock:
            active[0] += 1
            active[1] = max(active)
        blas = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
        seen.append((threading.current_thread().name, blas))
        try:
            return original(*args)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(em._kernels, "e_step", spy)
    X = make_blobs(n_samples=40_000, n_features=3, n_components=2, seed=1)
    GaussianMixture(2, random_state=0, n_threads=2, max_iter=2).fit(X)
    # the calling thread computes shards too, beside the 2-thread pool's helper
    names = {name for name, _ in seen}
    caller = threading.current_thread().name
    assert caller in names
    assert all(name == caller or name.startswith("gmmcore-helper-") for name in names)
    assert active[1] <= 2
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


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_many_threads_predicting_on_one_model_get_single_thread_answers(covariance_type):
    X = make_blobs(n_samples=3000, n_features=5, n_components=3, seed=7)
    gm = fit(X, 1, covariance_type)
    expected = (gm.predict(X), gm.predict_proba(X), gm.score_samples(X))
    barrier = threading.Barrier(8)
    failures = []

    def work(i):
        barrier.wait()
        rows = slice(i * 100, i * 100 + 1500)
        for _ in range(20):
            got = (gm.predict(X[rows]), gm.predict_proba(X[rows]), gm.score_samples(X[rows]))
            for g, e in zip(got, expected):
                if not np.array_equal(g, e[rows]):
                    failures.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def _threads_used_by_fit(monkeypatch, **params):
    """Names of the threads that ran E-step shards in one fit."""
    seen = set()
    original = _kernels.e_step

    def spy(*args):
        seen.add(threading.current_thread().name)
        return original(*args)

    monkeypatch.setattr(em._kernels, "e_step", spy)
    X = make_blobs(n_samples=40_000, n_features=3, n_components=2, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two iterations do not converge
        GaussianMixture(2, random_state=0, max_iter=2, **params).fit(X)
    return seen


def test_threadpoolctl_sees_and_limits_gmmcore_threads(monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    def gmmcore_info():
        return [lib for lib in threadpool_info() if lib["user_api"] == "gmmcore"]

    (info,) = gmmcore_info()
    assert info["internal_api"] == "gmmcore" and info["filepath"] == _kernels.__file__
    assert info["num_threads"] == effective_n_threads(None)
    with threadpool_limits(limits=1, user_api="gmmcore"):
        assert [lib["num_threads"] for lib in gmmcore_info()] == [1]
        assert effective_n_threads(None) == 1
        assert effective_n_threads(2) == 2  # an explicit n_threads still wins
        if info["num_threads"] > 1:  # else the fit runs in this thread anyway
            assert _threads_used_by_fit(monkeypatch) == {threading.current_thread().name}
    with threadpool_limits(limits=1):  # every library, gmmcore included
        assert effective_n_threads(None) == 1
    assert effective_n_threads(None) == info["num_threads"]


@pytest.mark.skipif(effective_n_threads(None) < 2, reason="needs two CPUs")
def test_default_fit_uses_all_usable_cpus(monkeypatch):
    used = _threads_used_by_fit(monkeypatch)
    # the shards ran on the calling thread and the helpers of the pool for as many
    # threads as usable CPUs (which thread took which depends on the machine's load)
    caller = threading.current_thread().name
    assert caller in used
    assert all(name == caller or name.startswith("gmmcore-helper-") for name in used)
