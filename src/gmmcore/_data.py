"""Where the rows of a fit come from: an array in memory, a memory map larger than
RAM, or a re-iterable source of chunks.

EM needs only passes over the rows (each pass reduces them to sufficient
statistics), so the three sources share one EM loop: ``ArrayRows`` runs a pass
as sharded kernel calls over one array, ``ChunkRows`` as the same calls over each
chunk in turn, adding the chunks' statistics.

For a memory-mapped array the pages of each chunk of rows are dropped from the
process once the chunk is done (``madvise(MADV_DONTNEED)``: the data stay in the
file and the page cache), so the resident memory of a pass is a few chunks, not
the file.
"""

import contextlib
import mmap
import sys

import numpy as np

from . import _validation as v
from ._em import TiedSecondMoment, e_step_outputs, e_step_statistics
from ._init import column_moments, column_variances, data_moments, moment_statistics
from ._kernels import all_finite
from ._parallel import loop_chunks, page_release


def _mapping_of(X):
    """The mmap under X and whether its pages may be dropped, walking X.base."""
    base, memmap_mode = X, None
    while base is not None:
        if isinstance(base, np.memmap) and memmap_mode is None:
            memmap_mode = base.mode
        if isinstance(base, mmap.mmap):
            return base, memmap_mode
        base = getattr(base, "base", None)
    return None, None


def page_releaser(X):
    """A function release(start, end) that drops the pages of rows [start, end) of
    X from this process, or None when X is not a droppable memory map.

    Only shared mappings ('r', 'r+', 'w+') qualify: their pages are re-read from
    the file when touched again.  A copy-on-write mapping ('c') may hold the only
    copy of the user's edits, and is never touched.
    """
    if not (sys.platform.startswith("linux") and hasattr(mmap, "MADV_DONTNEED")):
        return None
    if X.ndim != 2 or not X.flags.c_contiguous or X.size == 0:
        return None
    mm, mode = _mapping_of(X)
    if mm is None or mode not in ("r", "r+", "w+", "readonly", "readwrite", "write"):
        return None
    try:
        start_address = np.frombuffer(mm, dtype=np.uint8).ctypes.data
    except (ValueError, TypeError, BufferError):
        return None
    offset = X.ctypes.data - start_address
    row_bytes = X.strides[0]
    page = mmap.PAGESIZE
    length = len(mm)

    def release(start, end):
        lo = max(0, ((offset + start * row_bytes) // page) * page)
        hi = min(length, offset + end * row_bytes)
        if hi > lo:
            try:
                mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
            except (OSError, ValueError):
                pass  # a closed or foreign mapping: keeping the pages is harmless

    return release


def may_be_mapped(X):
    """Cheap first test: a memmap, or a view of something that may be one."""
    return isinstance(X, np.memmap) or (isinstance(X, np.ndarray) and X.base is not None)


@contextlib.contextmanager
def releasing_pages(X):
    """Within the block, passes over X drop each finished chunk's pages (memmaps)."""
    release = page_releaser(X) if may_be_mapped(X) else None
    if release is None:
        yield
        return
    token = page_release.set(release)
    try:
        yield
    finally:
        page_release.reset(token)
        release(0, X.shape[0])


class ArrayRows:
    """The rows of one validated array (in memory or memory-mapped)."""

    def __init__(self, X, sample_weight):
        self.X = X
        self.sample_weight = sample_weight
        self.n_rows, self.n_features = X.shape
        self.dtype = X.dtype
        self.total_weight = (float(self.n_rows) if sample_weight is None
                             else float(sample_weight.sum()))
        self._tied = TiedSecondMoment()
        self._complete = None

    def init_rows(self):
        """The rows the initialisation sees: all of them."""
        return self

    def _plain(self, kparams):
        """``kparams`` without the missing-value pass when no entry is NaN (checked
        once), so that such rows fit exactly as without nan_policy."""
        if kparams.marginals is None:
            return kparams
        if self._complete is None:
            self._complete = all(all_finite(self.X[s:e]) for s, e in
                                 loop_chunks(self.n_rows, self.X.strides[0]))
        return kparams.without_marginals() if self._complete else kparams

    def statistics(self, kparams, n_threads):
        return self._tied.statistics(self.X, self.sample_weight, self._plain(kparams),
                                     n_threads)

    def labels(self, kparams, n_threads):
        return e_step_outputs(self.X, self._plain(kparams), n_threads, labels=True)[2]

    def rows(self, indices):
        return np.asarray(self.X[np.asarray(indices, dtype=np.intp)], dtype=np.float64)

    def column_variances(self):
        return column_variances(self.X)

    def moments(self, covariance_type, n_threads):
        """The rows' weighted mean and covariance (see _init.data_moments)."""
        return data_moments(moment_statistics(self.X, self.sample_weight, covariance_type,
                                              n_threads))


NEW_ITERATOR = ("the callable must return a NEW iterator that yields the same rows on "
                "every call (e.g. a generator function: def chunks(): yield ...), not one "
                "iterator that the first pass uses up")


class ChunkRows:
    """Rows from a re-iterable source: ``source()`` returns a fresh iterator of
    chunks, each an array-like of shape (m, n_features) or a pair (chunk,
    sample_weight).  Every pass calls ``source()`` again; one chunk is in memory
    at a time.
    """

    def __init__(self, source, dtype=None, estimator="GaussianMixture", allow_nan=False):
        if not callable(source):
            raise TypeError("a chunked X must be a callable that returns a new iterator of "
                            f"chunks on each call, got {type(source).__name__}")
        self.source = source
        self.estimator = estimator
        self.allow_nan = allow_nan
        self.complete = True  # no NaN in any chunk (set by the first pass below)
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.n_features = None
        self.n_rows = 0
        self.total_weight = 0.0
        self._tied = TiedSecondMoment()
        for _, X, w in self._chunks(validate_count=False):
            if allow_nan and self.complete:
                self.complete = all_finite(X)
            self.n_rows += X.shape[0]
            self.total_weight += float(X.shape[0]) if w is None else float(
                w.sum(dtype=np.float64))
        if self.n_features is None:
            raise ValueError("the chunk source yielded no chunks")
        if self.total_weight <= 0:
            raise ValueError("sample_weight must have at least one positive entry; "
                             "all weights are zero")

    def _chunks(self, validate_count=True):
        iterator = self.source()
        try:
            iterator = iter(iterator)
        except TypeError:
            raise TypeError("the chunk source must return an iterator (or iterable) of "
                            f"chunks, got {type(iterator).__name__}") from None
        offset = 0
        index = -1
        for index, item in enumerate(iterator):
            weights = None
            if isinstance(item, tuple):
                if len(item) != 2:
                    raise ValueError(f"chunk {index} is a tuple of {len(item)} items; expected "
                                     "an array or a pair (X_chunk, sample_weight)")
                item, weights = item
            X = v.check_array(item, name=f"chunk {index}", dtype=self.dtype,
                              ensure_min_samples=0, estimator=self.estimator,
                              allow_nan=self.allow_nan)
            if X.shape[0] == 0:
                raise ValueError(f"chunk {index} of the chunk source is empty (0 rows): "
                                 "every chunk must hold at least one row")
            if self.dtype is None:
                self.dtype = X.dtype
            if self.n_features is None:
                self.n_features = X.shape[1]
            elif X.shape[1] != self.n_features:
                raise ValueError(f"chunk {index} has {X.shape[1]} features, but the first "
                                 f"chunk had {self.n_features}")
            w = v.check_sample_weight(weights, X.shape[0], allow_all_zero=True)
            yield offset, X, w
            offset += X.shape[0]
        if index < 0 and self.n_features is not None:  # not the first pass
            raise ValueError(f"the chunk source yielded no chunks on this call, but "
                             f"{self.n_rows} rows on the first: {NEW_ITERATOR}")
        if validate_count and offset != self.n_rows:
            raise ValueError(f"the chunk source yielded {offset} rows in this pass but "
                             f"{self.n_rows} in the first: {NEW_ITERATOR}")

    def init_rows(self):
        """The rows the initialisation sees: the first chunk (read again, so that no
        chunk stays in memory between passes)."""
        for _, X, w in self._chunks(validate_count=False):
            return ArrayRows(X, w)

    def statistics(self, kparams, n_threads):
        if kparams.marginals is not None and self.complete:
            kparams = kparams.without_marginals()
        # (with missing entries, tied S2 depends on the responsibilities: every pass)
        tied = kparams.covariance_type == "tied" and kparams.marginals is None
        if tied:
            self._tied.begin()
        total = None
        for offset, X, w in self._chunks():
            if tied:  # S2 from the first pass (every pass yields the same rows)
                part = self._tied.pass_statistics(X, w, kparams, n_threads)
            else:
                part = e_step_statistics(X, w, kparams, n_threads)
            part.worst_rows = [offset + r for r in part.worst_rows]
            if total is None:
                total = part
            else:
                total += part
        return self._tied.complete(total) if tied else total

    def labels(self, kparams, n_threads):
        out = np.empty(self.n_rows, dtype=np.intp)
        for offset, X, _ in self._chunks():
            out[offset:offset + X.shape[0]] = e_step_outputs(X, kparams, n_threads,
                                                             labels=True)[2]
        return out

    def rows(self, indices):
        indices = np.asarray(indices, dtype=np.intp)
        out = np.empty((len(indices), self.n_features))
        for offset, X, _ in self._chunks():
            inside = (indices >= offset) & (indices < offset + X.shape[0])
            out[inside] = X[indices[inside] - offset]
        return out

    def moments(self, covariance_type, n_threads):
        """The rows' weighted mean and covariance, from every chunk's statistics
        (added around their pooled mean: see SufficientStatistics)."""
        total = None
        for _, X, w in self._chunks():
            part = moment_statistics(X, w, covariance_type, n_threads)
            total = part if total is None else total + part
        return data_moments(total)

    def column_variances(self):
        # per-chunk means and sums of squares, merged pairwise (Chan et al.)
        n, mean, m2 = 0, np.zeros(self.n_features), np.zeros(self.n_features)
        for _, X, _ in self._chunks():
            m = X.shape[0]
            chunk_mean, chunk_var = column_moments(X)
            chunk_m2 = chunk_var * m
            delta = chunk_mean - mean
            total = n + m
            mean = mean + delta * (m / total)
            m2 = m2 + chunk_m2 + delta**2 * (n * m / total)
            n = total
        return m2 / n
