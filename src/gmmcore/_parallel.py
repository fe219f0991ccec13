"""Threads: how many, which rows each gets, and the pool that runs them.

Parallelism is a plain thread pool calling nogil kernels over row shards (no
OpenMP runtime: it hangs after fork and clashes with other runtimes).  Shards
are planned from (n_samples, n_threads) alone and their partial results are
reduced in shard order, so a result never depends on which thread finished first.
"""

import numbers
import os
import threading
from concurrent.futures import ThreadPoolExecutor

# A shard below this many rows costs more in scheduling than it saves.
MIN_ROWS_PER_SHARD = 4096

_pool = None
_pool_size = 0
_pool_lock = threading.Lock()
_controller = None


def _reset_after_fork():
    # Worker threads do not survive fork: the child builds its own pool.
    global _pool, _pool_size, _pool_lock, _controller
    _pool = None
    _pool_size = 0
    _pool_lock = threading.Lock()
    _controller = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _cgroup_cpu_limit():
    """CPUs allowed by a cgroup v2 quota (containers), or None."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1, int(int(quota) // int(period)))
    except (ValueError, ZeroDivisionError):
        return None


def usable_cpu_count():
    """CPUs this process may run on: affinity mask, then cgroup quota."""
    if hasattr(os, "sched_getaffinity"):
        n = len(os.sched_getaffinity(0))
    else:
        n = os.cpu_count() or 1
    limit = _cgroup_cpu_limit()
    return max(1, min(n, limit) if limit else n)


def effective_n_threads(n_threads=None):
    """The number of threads to use, with scikit-learn's conventions.

    None: all usable CPUs, capped by OMP_NUM_THREADS when set.  A positive
    number is taken as it is; a negative one counts back from the usable CPUs
    (-1 is all of them, -2 all but one); 0 is an error.
    """
    if n_threads is not None:
        if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
            raise TypeError(f"n_threads must be an int or None, got {n_threads!r}")
        n_threads = int(n_threads)
        if n_threads == 0:
            raise ValueError("n_threads=0 is not allowed; use None for all CPUs, "
                             "a positive count, or a negative one to count back")
        if n_threads > 0:
            return n_threads
        return max(1, usable_cpu_count() + 1 + n_threads)
    n = usable_cpu_count()
    omp = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if omp.isdigit() and int(omp) > 0:
        n = min(n, int(omp))
    return n


def plan_shards(n_samples, n_threads, min_rows=MIN_ROWS_PER_SHARD, align=256):
    """Contiguous row ranges [start, end), one per thread, none below min_rows.

    Boundaries fall on multiples of ``align`` (the kernels' block size), so every
    shard plan cuts the data into the same blocks: only the order in which block
    sums are added changes with the thread count, never the blocks themselves.
    """
    n_blocks = -(-n_samples // align)
    n_shards = max(1, min(n_threads, n_samples // max(min_rows, 1), n_blocks))
    bounds = [min(n_samples, (n_blocks * i // n_shards) * align) for i in range(n_shards)]
    bounds.append(n_samples)
    return [(bounds[i], bounds[i + 1]) for i in range(n_shards)]


def _get_pool(n_workers):
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < n_workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=n_workers,
                                       thread_name_prefix="gmmcore")
            _pool_size = n_workers
        return _pool


def run_shards(task, shards):
    """``[task(start, end) for each shard]``, the shards run concurrently.

    The calling thread runs the first shard itself; results come back in shard
    order.  If a task raises, or the caller is interrupted, the remaining shards
    are cancelled or waited for before the exception propagates, so no kernel
    outlives the call.
    """
    if len(shards) == 1:
        return [task(*shards[0])]
    pool = _get_pool(len(shards) - 1)
    futures = [pool.submit(task, *shard) for shard in shards[1:]]
    try:
        first = task(*shards[0])
        return [first] + [f.result() for f in futures]
    except BaseException:
        for f in futures:
            f.cancel()
        for f in futures:
            if not f.cancelled():
                try:
                    f.result()
                except BaseException:
                    pass
        raise


def blas_single_threaded():
    """A context in which BLAS uses one thread: each shard is one thread's work."""
    global _controller
    from threadpoolctl import ThreadpoolController

    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
