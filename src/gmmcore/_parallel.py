"""Threads: how many, which rows each gets, and the pool that runs them.

Parallelism is a plain thread pool calling nogil kernels over chunks of rows (no
OpenMP runtime: it hangs after fork and clashes with other runtimes).  Chunks are
planned from the number of rows alone and their partial results are folded in
chunk order, so a result depends neither on which thread finished first nor on
how many threads there were.
"""

import contextvars
import numbers
import os
import queue
import threading

import threadpoolctl

from . import _kernels
from .exceptions import warn

# A pass is cut into about CHUNKS_PER_PASS chunks of at least MIN_ROWS_PER_CHUNK
# rows: enough to balance two or more threads on a busy machine, few enough that
# handing chunks between threads stays cheap (measured: 16 chunks scale better
# than 64 on two cores).  Rows that carry much work (many features or components)
# need fewer rows per chunk: a chunk of MIN_CHUNK_WORK flops (a millisecond or so)
# is enough, so that such passes are cut into CHUNKS_PER_PASS chunks too (50,000
# rows of d = 128 made 7 chunks of 8192 rows, 4 on one thread and 3 on the other).
# A chunk holds at most MAX_CHUNK_WORK flops (about 0.1 s), so a Ctrl-C is honoured
# quickly however large the data.
CHUNKS_PER_PASS = 16
MIN_ROWS_PER_CHUNK = 8192
MIN_CHUNK_WORK = 2e7
# A chunk whose result is large (the k d² second moments of full covariances) does
# at least FOLD_WORK flops per double of it, so that adding the chunks' results
# stays small against computing them (d = 2000, k = 8: one chunk for 300 rows,
# where ten chunks of 256 MB each made a third of the pass).
FOLD_WORK = 256
MAX_CHUNK_WORK = 1e9
# ... and at most MAX_CHUNK_BYTES of X, so that a pass over a memory map larger
# than RAM holds only the few chunks in flight (see _data.releasing_pages).
MAX_CHUNK_BYTES = 4 << 20
# Rows per step of the loops that do not go through run_ordered (a few MB).
LOOP_BYTES = 4 << 20

# release(start, end) for the memory-mapped X of the current fit or prediction:
# drops the pages of rows that a pass is done with.  None for arrays in memory.
page_release = contextvars.ContextVar("gmmcore_page_release", default=None)

# An object with is_set() (a threading.Event, or _select's stopper); once it is
# set, run_ordered raises KeyboardInterrupt before its next chunk.  How a caller
# stops fits running on threads of its own (Ctrl-C reaches the main thread only;
# see _select).
cancel_event = contextvars.ContextVar("gmmcore_cancel_event", default=None)


def _check_cancelled(event):
    if event is not None and event.is_set():
        raise KeyboardInterrupt

_pool = None
_pool_lock = threading.Lock()
_controller = None
_cpu_count = None


def _reset_after_fork():
    # Worker threads do not survive fork: the child builds its own pools, and it
    # may run with another affinity.
    global _pool, _pool_lock, _controller, _cpu_count
    _pool = None
    _pool_lock = threading.Lock()
    _controller = None
    _cpu_count = None


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
    """CPUs this process may run on: affinity mask, then cgroup quota.

    Read once per process (and again in a forked child).
    """
    global _cpu_count
    if _cpu_count is None:
        _cpu_count = _read_cpu_count()
    return _cpu_count


def _read_cpu_count():
    if hasattr(os, "sched_getaffinity"):
        n = len(os.sched_getaffinity(0))
    else:
        n = os.cpu_count() or 1
    limit = _cgroup_cpu_limit()
    return max(1, min(n, limit) if limit else n)


def effective_n_threads(n_threads=None):
    """The number of threads to use, with scikit-learn's conventions.

    None: the limit set through threadpoolctl (``threadpool_limits(2)`` or
    ``threadpool_limits(2, user_api="gmmcore")``) when one is set, else all
    usable CPUs capped by OMP_NUM_THREADS when set.  A positive number is taken
    as it is, up to the usable CPUs (more threads than cores gain nothing, and a
    million would exhaust the process: a larger request is capped, with a
    warning); a negative one counts back from the usable CPUs (-1 is all of
    them, -2 all but one); 0 is an error.
    """
    cpus = usable_cpu_count()
    if n_threads is not None:
        if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
            raise TypeError(f"n_threads must be an int or None, got {n_threads!r}")
        n_threads = int(n_threads)
        if n_threads == 0:
            raise ValueError("n_threads=0 is not allowed; use None for all CPUs, "
                             "a positive count, or a negative one to count back")
        if n_threads > cpus:
            warn(f"n_threads={n_threads} is more than the {cpus} CPU(s) this process may "
                 f"use; using {cpus} thread(s)", RuntimeWarning)
            return cpus
        if n_threads > 0:
            return n_threads
        return max(1, cpus + 1 + n_threads)
    limit = _kernels.thread_limit()
    return min(limit, cpus) if limit > 0 else _default_n_threads()


def _default_n_threads():
    n = usable_cpu_count()
    omp = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if omp.isdigit() and int(omp) > 0:
        n = min(n, int(omp))
    return n


def plan_chunks(n_samples, block_size=256, work_per_row=1.0, min_rows=None, row_bytes=0,
                fold_size=0):
    """Row ranges [start, end) that the work is cut into: a function of the data's
    and the model's sizes only, never of the thread count.

    Boundaries fall on multiples of ``block_size``, so the kernels see the same
    blocks, and the chunks' partial sums are folded in chunk order: a result is
    the same, to the bit, for any number of threads.  ``min_rows`` (default:
    MIN_ROWS_PER_CHUNK, or fewer rows that hold MIN_CHUNK_WORK flops, at least a
    block) is the smallest chunk worth cutting; with ``fold_size`` (the doubles of a
    chunk's result), at least the rows of FOLD_WORK flops per such double.
    """
    if min_rows is None:
        min_rows = int(min(MIN_ROWS_PER_CHUNK,
                           max(block_size, MIN_CHUNK_WORK / max(work_per_row, 1.0),
                               FOLD_WORK * fold_size / max(work_per_row, 1.0))))
    if n_samples <= min_rows:  # one chunk (the common one-row predict: no arithmetic)
        return [(0, n_samples)]
    n_blocks = -(-n_samples // block_size)
    min_blocks = max(1, min_rows // block_size)
    max_rows = int(MAX_CHUNK_WORK / max(work_per_row, 1.0))
    if row_bytes > 0:
        max_rows = min(max_rows, MAX_CHUNK_BYTES // row_bytes)
    max_blocks = max(min_blocks, max_rows // block_size)
    n_chunks = max(1, min(CHUNKS_PER_PASS, n_blocks // min_blocks), -(-n_blocks // max_blocks))
    bounds = [min(n_samples, (n_blocks * i // n_chunks) * block_size) for i in range(n_chunks)]
    bounds.append(n_samples)
    return [(bounds[i], bounds[i + 1]) for i in range(n_chunks)]


class _Helpers:
    """Threads that run the callables put on their queue.  The hand-off is a
    SimpleQueue, C code throughout: a Ctrl-C in the thread that submits cannot
    leave a lock of the pool held (as it can ThreadPoolExecutor's, whose submit
    takes Python-level semaphores and conditions)."""

    def __init__(self):
        self.jobs = queue.SimpleQueue()
        self.size = 0

    def grow(self, n_threads):
        """Start threads until there are n_threads (under _pool_lock)."""
        while self.size < n_threads:
            threading.Thread(target=self._serve, name=f"gmmcore-helper-{self.size}",
                             daemon=True).start()
            self.size += 1

    def _serve(self):
        while True:
            self.jobs.get()()

    def submit(self, job):
        self.jobs.put(job)


def _get_pool(n_helpers):
    """The process's helper threads, at least n_helpers of them.  One pool serves
    every run (started on first use, grown when a run needs more), so the threads
    alive are the most that one run has needed, never one set per thread count."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = _Helpers()
        _pool.grow(n_helpers)
        return _pool


_WAIT = -1  # _take: the window is full (the calling thread waits outside the lock)


class _OrderedRun:
    """The shared state of one run_ordered.  Chunks are taken in order by the
    calling thread and its helpers; a result waits in ``done`` until it is the next
    to fold, and the thread that finishes the next chunk in order folds it and every
    finished one after it (one thread folds at a time, so folds never overlap and
    come in chunk order).  No chunk is taken ``window`` or more chunks ahead of the
    fold.

    Ctrl-C reaches the calling thread (when it is the main thread) between any two
    of its Python instructions, so that thread only ever holds the C lock in a
    ``with`` statement, and waits on a SimpleQueue, never in Condition.wait (whose
    Python code can be interrupted between acquiring the lock and handing it back),
    and ``busy``, which abandon waits on, counts the helpers' chunks only.
    """

    def __init__(self, task, chunks, window, fold, release, cancel):
        self.task = task
        self.chunks = chunks
        self.window = window
        self.fold = fold
        self.release = release
        self.cancel = cancel
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)  # the helpers wait on it
        self.wakeup = queue.SimpleQueue()            # the calling thread waits on it
        self.waiting = False    # the calling thread waits (or is about to) on wakeup
        self.taken = 0          # chunks handed out so far
        self.folded = 0         # chunks folded so far
        self.busy = 0           # helpers computing or folding a chunk now
        self.folding = False    # a thread is folding
        self.done = {}          # index -> result, not yet folded
        self.error = None       # the first exception raised (or the interrupt)

    def _changed(self):
        """Wake every waiting thread (under the lock)."""
        self.cond.notify_all()
        if self.waiting:
            self.waiting = False
            self.wakeup.put(None)

    def _fail(self, exc):
        """Record exc (under the lock): no chunk is taken after it."""
        if self.error is None:
            self.error = exc
        self._changed()

    def _take(self, helper):
        """The index of the next chunk; None when none is left or all must stop;
        _WAIT for the calling thread when the window is full."""
        with self.lock:
            while (self.error is None and self.taken < len(self.chunks)
                   and self.taken - self.folded >= self.window):
                if not helper:
                    return _WAIT
                self.cond.wait()
            if self.error is None and self.cancel is not None and self.cancel.is_set():
                self._fail(KeyboardInterrupt())
            if self.error is not None or self.taken == len(self.chunks):
                return None
            self.taken += 1
            self.busy += helper
            return self.taken - 1

    def _finish(self, i, result):
        """Chunk i's result; folds it and the finished chunks after it if it is the
        next in order and no other thread is folding."""
        with self.lock:
            self.done[i] = result
            if self.folding or self.folded not in self.done or self.error is not None:
                self._changed()
                return
            self.folding = True
        while True:
            with self.lock:
                ready = []
                while self.folded + len(ready) in self.done:
                    ready.append(self.done.pop(self.folded + len(ready)))
                if not ready or self.error is not None:
                    self.folding = False
                    self._changed()
                    return
            for j, part in enumerate(ready, self.folded):
                if self.fold is not None:
                    self.fold(part)
                if self.release is not None:
                    self.release(*self.chunks[j])
            with self.lock:
                self.folded += len(ready)
                self._changed()

    def _wait(self, ready):
        """The calling thread: wait until ready() (checked under the lock) holds."""
        while True:
            with self.lock:
                if ready():
                    return
                self.waiting = True
            self.wakeup.get()

    def work(self, helper):
        """Compute (and fold) chunks until none is left or one failed; raises what
        this thread's own task or fold raised."""
        while True:
            i = self._take(helper)
            if i is None:
                return
            if i == _WAIT:
                self._wait(lambda: (self.error is not None
                                    or self.taken - self.folded < self.window))
                continue
            try:
                self._finish(i, self.task(*self.chunks[i]))
            except BaseException as exc:
                with self.lock:
                    self._fail(exc)
                raise
            finally:
                if helper:
                    with self.lock:
                        self.busy -= 1
                        self._changed()

    def help(self):
        """A helper thread's loop: its exceptions reach the caller through error."""
        try:
            self.work(helper=True)
        except BaseException:
            pass

    def lead(self):
        """The calling thread's loop: work, then wait for the last folds (a set
        cancel event ends the run through _take, as KeyboardInterrupt)."""
        self.work(helper=False)
        self._wait(lambda: self.error is not None or self.folded == len(self.chunks))
        if self.error is not None:
            raise self.error

    def abandon(self):
        """Take no more chunks, and wait for the helpers' running ones."""
        with self.lock:
            self._fail(KeyboardInterrupt())
        self._wait(lambda: self.busy == 0)


def run_ordered(task, chunks, n_threads, fold=None):
    """Run ``task(start, end)`` for every chunk on n_threads threads: the calling
    thread and up to n_threads − 1 helpers from the process's pool.

    Results are handed to ``fold`` in chunk order, one at a time, so partial sums
    are added in the same order whatever the number of threads; a result is folded
    by the thread that finishes the chunk before it is next in order (or by the one
    that finishes it last), and no chunk is started 2 × n_threads or more chunks
    ahead of the fold.  The calling thread computes chunks too: waiting for
    helpers, it would take a core from them each time it woke to fold or hand out
    a chunk.  If a task raises or the caller is interrupted (Ctrl-C), no further
    chunk is started and the running ones (each a small part of a pass) finish
    before the exception propagates: no kernel outlives the call.
    """
    release = page_release.get()
    cancel = cancel_event.get()
    if n_threads <= 1 or len(chunks) == 1:
        for chunk in chunks:
            _check_cancelled(cancel)
            result = task(*chunk)
            if fold is not None:
                fold(result)
            if release is not None:
                release(*chunk)
        return
    n_used = min(n_threads, len(chunks))
    run = _OrderedRun(task, chunks, 2 * n_used, fold, release, cancel)
    pool = _get_pool(n_used - 1)
    try:
        for _ in range(n_used - 1):
            pool.submit(run.help)  # a helper that starts late finds nothing left
        run.lead()
    except BaseException:
        run.abandon()
        raise


def blas_single_threaded():
    """A context in which BLAS uses one thread: each shard is one thread's work."""
    return blas_threads(1)


def blas_threads(n_threads):
    """A context in which BLAS uses at most ``n_threads`` threads."""
    global _controller
    from threadpoolctl import ThreadpoolController

    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=n_threads, user_api="blas")


class GmmcoreThreadsController(threadpoolctl.LibController):
    """Lets threadpoolctl see and limit gmmcore's threads, as it does a BLAS's.

    ``threadpool_info()`` lists gmmcore with the number of threads a fit with
    ``n_threads=None`` uses, and ``threadpool_limits(k)`` caps that number (an
    explicit ``n_threads`` still wins, as in scikit-learn's OpenMP loops).
    """

    user_api = "gmmcore"
    internal_api = "gmmcore"
    filename_prefixes = ("_kernels",)
    check_symbols = ("gmmcore_get_num_threads", "gmmcore_set_num_threads")

    def get_num_threads(self):
        return effective_n_threads(None)

    def set_num_threads(self, num_threads):
        # Setting the default count (as threadpoolctl does when a limit is lifted)
        # clears the limit, so OMP_NUM_THREADS and the CPUs count again.
        num_threads = int(num_threads)
        self.dynlib.gmmcore_set_num_threads(
            0 if num_threads == _default_n_threads() else num_threads)

    def get_version(self):
        from ._version import __version__

        return __version__


threadpoolctl.register(GmmcoreThreadsController)


def loop_chunks(n_rows, row_bytes):
    """Row ranges of about LOOP_BYTES for loops outside run_ordered; the pages of
    a memory-mapped X are dropped after each (see page_release)."""
    step = max(1, LOOP_BYTES // max(1, row_bytes))
    release = page_release.get()
    for start in range(0, n_rows, step):
        end = min(n_rows, start + step)
        yield start, end
        if release is not None:
            release(start, end)


def sum_ordered(task, chunks, n_threads):
    """Σ task(start, end) over the chunks, added in chunk order (run_ordered): the
    first chunk's result is the sum the others are added to in place, so a large
    result (the k d² statistics of full covariances) is neither zero-filled nor
    copied.  None when there are no chunks."""
    parts = []

    def fold(part):
        if parts:
            parts[0] += part
        else:
            parts.append(part)

    run_ordered(task, chunks, n_threads, fold)
    return parts[0] if parts else None
