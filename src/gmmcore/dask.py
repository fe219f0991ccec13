"""Gaussian mixtures fitted by EM on Dask arrays and DataFrames, on a Dask cluster.

``gmmcore.dask.GaussianMixture`` runs the EM loop of ``gmmcore.GaussianMixture``
over a third source of rows, ``DaskRows``.  One EM iteration is one Dask
computation: a task per block of rows runs gmmcore's E-step kernel on that block
(one thread) and returns the block's sufficient statistics; a fixed tree of
additions sums them; only the sum, k×d×d-sized, comes back to the client, where
the estimator's own M-step turns it into the next parameters.  The parameters go
out the same way, as one small key of each pass's graph.  The rows never leave
the workers, and the partial sums are added in block order whatever the timing,
so a fit is reproducible and equals the in-memory fit from the same start to
rounding, for any chunking.  ``gmmcore.dask.BayesianGaussianMixture`` runs the
variational mixture the same way (``_DaskMixin`` is what both add to their
in-memory estimators).

This module is the only one of gmmcore that imports dask and distributed
(``pip install 'gmmcore[dask]'``); ``import gmmcore`` never loads them.
"""

import contextlib
import logging
import os
import time
import uuid

import numpy as np

try:
    import dask
    import dask.array as da
    import distributed
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("gmmcore.dask needs dask and distributed: "
                      "pip install 'gmmcore[dask]'") from exc

from . import _bayesian, _mixture
from . import _validation as v
from ._data import ArrayRows
from ._em import e_step_outputs, e_step_statistics
from ._init import data_moments, moment_statistics
from ._parallel import blas_single_threaded, usable_cpu_count

__all__ = ["BayesianGaussianMixture", "DaskRows", "GaussianMixture"]

_OUTPUT_INDEX = {"resp": 0, "log_prob_norm": 1, "labels": 2}


# ----------------------------------------------------------------------
# Work done on the workers, one block of rows per task
# ----------------------------------------------------------------------

def _block_statistics(block, weights, kparams, start):
    """Sufficient statistics of rows [start, start + len(block)) of X.

    ``worst_rows`` (re-seeding candidates) become row indices of the whole X.
    """
    end = start + block.shape[0]
    X = v.check_array(block, name=f"X[{start}:{end}]", dtype=kparams.means.dtype,
                      ensure_min_samples=0, allow_nan=kparams.marginals is not None)
    w = v.check_sample_weight(weights, X.shape[0], allow_all_zero=True)
    # one thread per task: Dask's workers are the parallelism
    with blas_single_threaded():
        stats = e_step_statistics(X, w, kparams, 1)
    stats.worst_rows = [start + int(r) for r in stats.worst_rows]
    return stats


def _block_moments(block, weights, covariance_type, dtype, start):
    """The moment statistics of a block (every row one component's: see
    _init.moment_statistics), for the priors of the variational mixture."""
    end = start + block.shape[0]
    X = v.check_array(block, name=f"X[{start}:{end}]", dtype=dtype, ensure_min_samples=0)
    w = v.check_sample_weight(weights, X.shape[0], allow_all_zero=True)
    with blas_single_threaded():
        return moment_statistics(X, w, covariance_type, 1)


def _block_outputs(block, kparams, output):
    """One per-row output of the E-step for a block: what the in-memory
    ``_outputs`` computes for the same rows (same kernel, same parameters)."""
    X = v.check_array(block, dtype=kparams.means.dtype, ensure_min_samples=0,
                      allow_nan=kparams.marginals is not None)
    if X.shape[0] == 0:
        k = kparams.means.shape[0]
        return {"resp": np.empty((0, k), X.dtype), "log_prob_norm": np.empty(0, X.dtype),
                "labels": np.empty(0, np.intp)}[output]
    with blas_single_threaded():
        outputs = e_step_outputs(X, kparams, 1, **{output: True})
    return outputs[_OUTPUT_INDEX[output]]


def _block_ones(block):
    return np.ones(block.shape[0])


# Partial statistics summed per task in the tree: fewer tasks and transfers than
# pairs, and still a fixed order.
TREE_FAN_IN = 8


def _sum_in_order(*parts):
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total


def _tree_sum(parts, token, fan_in=TREE_FAN_IN):
    """Σ parts as a tree of delayed sums of ``fan_in`` neighbours, so that the
    order of the additions is fixed by the blocks' order alone, never by which
    task finishes first."""
    add = dask.delayed(_sum_in_order, pure=True)
    level = 0
    while len(parts) > 1:
        parts = [add(*parts[i:i + fan_in], dask_key_name=f"gmmcore-sum-{token}-{level}-{i}")
                 if len(parts[i:i + fan_in]) > 1 else parts[i]
                 for i in range(0, len(parts), fan_in)]
        level += 1
    return parts[0]


# ----------------------------------------------------------------------
# The client's side: computations with a deadline
# ----------------------------------------------------------------------

def _compute(client, timeout, collections, what):
    """Compute dask collections on ``client`` and return their values.

    Past ``timeout`` seconds (None: no limit) the computation is released (the
    scheduler cancels what no one else wants) and TimeoutError is raised, so a
    fit never waits forever on a lost cluster.
    """
    futures = client.compute(list(collections))
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        results = []
        for future in futures:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            results.append(future.result(timeout=left))
        return results
    except distributed.TimeoutError:
        address = getattr(getattr(client, "scheduler", None), "address", "?")
        raise TimeoutError(
            f"{what} did not finish within timeout={timeout} s on the Dask cluster at "
            f"{address} and was cancelled. Its workers may be dead, stuck or overloaded; "
            "check the cluster, or raise the estimator's 'timeout' for larger data.") from None
    except Exception as exc:
        if hasattr(exc, "add_note"):  # Python >= 3.11
            exc.add_note(f"(raised while computing {what} on the Dask cluster)")
        raise
    finally:
        for future in futures:
            future.release()


@contextlib.contextmanager
def _session(client):
    """The client a fit runs on: ``client``, else the default client, else a
    LocalCluster started here (one single-threaded worker process per usable
    CPU) and closed on the way out."""
    if client is None:
        client = _default_client()
    if client is not None:
        yield client
        return
    saved = _nanny_environ()
    try:
        cluster = distributed.LocalCluster(n_workers=usable_cpu_count(), threads_per_worker=1,
                                           processes=True, dashboard_address=":0",
                                           silence_logs=logging.ERROR)
        _restore_environ(saved)
        try:
            own = distributed.Client(cluster, set_as_default=False)
            try:
                yield own
            finally:
                own.close()
        finally:
            cluster.close()
    finally:
        _restore_environ(saved)


def _nanny_environ():
    """This process's values of the variables a Nanny sets for its workers.

    A Nanny sets them (OMP_NUM_THREADS=1 and the like) in the process that
    starts it, each time it starts a worker: in a LocalCluster started by a fit,
    the user's process, whose later in-memory fits would run on one thread.
    """
    keys = set(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})
    return {key: os.environ.get(key) for key in keys | {"PYTHONHASHSEED"}}


def _restore_environ(saved):
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        elif os.environ.get(key) != value:
            os.environ[key] = value


def _default_client():
    try:
        return distributed.default_client()
    except ValueError:
        return None


# ----------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------

def is_dask_input(X):
    """True for a dask array, DataFrame or Series (anything that is a dask collection)."""
    return dask.is_dask_collection(X)


def _is_frame(X):
    return hasattr(X, "to_dask_array") and not isinstance(X, da.Array)


def _fit_dtype(dtype):
    """The dtype the kernels see: float32 and float64 kept, anything numeric as float64."""
    dtype = np.dtype(dtype)
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _partition_lengths(frame, compute):
    (lengths,) = compute([frame.map_partitions(len)], "the partition lengths of X")
    return tuple(int(n) for n in lengths)


def _check_dtype_kind(dtype, name):
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {dtype}")
    if dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {dtype}")


def as_dask_matrix(X, compute=None):
    """X (dask array or DataFrame of numeric columns) as a 2-D dask array whose
    blocks each hold all the columns.

    With ``compute`` the row chunk sizes are made known (a DataFrame's partition
    lengths are computed: one light pass); without it they may stay unknown.
    """
    if _is_frame(X):
        if not hasattr(X, "columns"):
            raise ValueError("Expected a 2D X: a dask array or a dask DataFrame, got a "
                             "dask Series; use series.to_frame() for a single feature")
        bad = [str(c) for c, t in X.dtypes.items()
               if getattr(t, "kind", "O") not in "biuf"]
        if bad:
            raise TypeError(f"X must have numeric columns only; non-numeric: {bad}")
        X = X.to_dask_array(lengths=None if compute is None
                            else _partition_lengths(X, compute))
    if not isinstance(X, da.Array):
        raise TypeError("X must be a dask array or a dask DataFrame, got "
                        f"{type(X).__name__}")
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D array for X, got a {X.ndim}D dask array of shape "
                         f"{X.shape} instead.")
    _check_dtype_kind(X.dtype, "X")
    if np.isnan(X.shape[1]):
        raise ValueError("X has an unknown number of columns; call X.compute_chunk_sizes()")
    if compute is not None and any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError("X has unknown row chunk sizes (as after boolean indexing); call "
                         "X.compute_chunk_sizes() before fitting")
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    return X


def as_dask_weights(sample_weight, X, compute):
    """sample_weight as a 1-D dask array with X's row chunks, or None."""
    if sample_weight is None:
        return None
    n, row_chunks = X.shape[0], X.chunks[0]
    if _is_frame(sample_weight):
        if hasattr(sample_weight, "columns"):
            raise ValueError("sample_weight must be 1-D: a dask Series or array, not a "
                             "DataFrame")
        sample_weight = sample_weight.to_dask_array(
            lengths=_partition_lengths(sample_weight, compute))
    if isinstance(sample_weight, da.Array):
        w = sample_weight
    else:
        w = np.asarray(sample_weight)
        if w.ndim == 0:
            w = np.full(n, w)
        w = da.from_array(w, chunks=(row_chunks,)) if w.ndim == 1 else da.asarray(w)
    _check_dtype_kind(w.dtype, "sample_weight")
    if w.shape != (n,):
        raise ValueError(f"sample_weight has shape {w.shape}, expected ({n},) to match "
                         "the number of samples in X")
    if w.chunks[0] != row_chunks:
        w = w.rechunk((row_chunks,))
    return w


# ----------------------------------------------------------------------
# The row source
# ----------------------------------------------------------------------

def sample_indices(n_rows, size, random_state):
    """``size`` distinct row indices out of ``n_rows``, uniformly at random, sorted.

    Draws with replacement and keeps the distinct ones (a uniform subset at any
    size), so memory is O(size) where ``choice(replace=False)`` would permute all
    the rows; for a sample of more than half the rows, that permutation is small.
    """
    if 2 * size > n_rows:
        return np.sort(random_state.choice(n_rows, size=size, replace=False))
    chosen = np.empty(0, dtype=np.int64)
    while chosen.size < size:
        missing = size - chosen.size
        draw = random_state.randint(0, n_rows, size=missing + missing // 4 + 16,
                                    dtype=np.int64)
        chosen = np.union1d(chosen, draw)
    if chosen.size > size:
        chosen = np.sort(chosen[random_state.choice(chosen.size, size=size, replace=False)])
    return chosen


class DaskRows:
    """The rows of a dask array, for the EM loop of ``GaussianMixture``.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Known row chunks, one block of columns (see ``as_dask_matrix``).
    sample_weight : dask.array.Array of shape (n_samples,) or None
        Chunked as X's rows.
    compute : callable
        ``compute(collections, what)`` → their values (on the fit's client, with
        its timeout).
    init_sample_size : int or None
        Rows the initialisation sees (a uniform sample; all rows when X has no
        more); None when the initial parameters are all given and no row is read.
    random_state : callable
        Returns the fit's RandomState (the sample is drawn from it when first
        needed, before the initialisation's own draws).
    """

    def __init__(self, X, sample_weight, compute, init_sample_size, random_state,
                 allow_nan=False):
        self.X = X
        self.allow_nan = allow_nan
        self.sample_weight = sample_weight
        self.n_rows, self.n_features = (int(s) for s in X.shape)
        self.dtype = _fit_dtype(X.dtype)
        self._compute = compute
        self._init_sample_size = init_sample_size
        self._random_state = random_state
        self._init_rows = None
        self._n_passes = 0
        self._starts = np.concatenate([[0], np.cumsum(X.chunks[0])]).astype(np.int64)
        self._x_blocks = X.to_delayed().ravel()
        self._w_blocks = None if sample_weight is None else sample_weight.to_delayed().ravel()
        if sample_weight is None:
            self.total_weight = float(self.n_rows)
        else:
            w = sample_weight.astype(self.dtype)
            total, bad = compute([w.sum(dtype=np.float64), (~(w >= 0)).any()],
                                 "the checks of sample_weight")
            if bad:
                raise ValueError("sample_weight must be non-negative and finite; it has "
                                 "negative, NaN or infinite entries")
            if not np.isfinite(total):
                raise ValueError("sample_weight contains infinity or sums beyond float64")
            if total <= 0:
                raise ValueError("sample_weight must have at least one positive entry; "
                                 "all weights are zero")
            self.total_weight = float(total)

    def init_rows(self):
        """The rows the initialisation sees, as ``ArrayRows`` on the client: a
        uniform sample of ``init_sample_size`` rows, gathered once per fit (all
        the rows in order when X has no more; none when nothing is estimated)."""
        if self._init_rows is not None:
            return self._init_rows
        size = self._init_sample_size
        if size is None:
            X, w = np.empty((0, self.n_features), dtype=self.dtype), None
        else:
            if size >= self.n_rows:
                parts = [self.X] + ([] if self.sample_weight is None else [self.sample_weight])
                what = "X for the initialisation (all its rows)"
            else:
                index = sample_indices(self.n_rows, size, self._random_state())
                parts = [self.X[index]] + (
                    [] if self.sample_weight is None else [self.sample_weight[index]])
                what = f"a sample of {size} rows of X for the initialisation"
            values = self._compute(parts, what)
            X = v.check_array(values[0], name="X (the initialisation sample)",
                              dtype=self.dtype, ensure_min_samples=1,
                              allow_nan=self.allow_nan)
            w = None if len(values) == 1 else v.check_sample_weight(values[1], X.shape[0],
                                                                    X.dtype)
        self._init_rows = ArrayRows(X, w)
        return self._init_rows

    def statistics(self, kparams, n_threads):
        """Statistics of all the rows under ``kparams``: one task per block (one
        thread each; ``n_threads`` is the client's and unused), a tree sum, and
        only the sum computed back to the client."""
        self._n_passes += 1
        token = uuid.uuid4().hex[:16]
        # one key for the parameters, fetched by each worker once per pass
        params = dask.delayed(kparams, name=f"gmmcore-kernel-params-{token}", traverse=False)
        block_statistics = dask.delayed(_block_statistics, pure=True)
        parts = []
        for i, block in enumerate(self._x_blocks):
            start, end = int(self._starts[i]), int(self._starts[i + 1])
            if end == start:
                continue
            weights = None if self._w_blocks is None else self._w_blocks[i]
            parts.append(block_statistics(block, weights, params, start,
                                          dask_key_name=f"gmmcore-statistics-{token}-{i}"))
        (stats,) = self._compute([_tree_sum(parts, token)],
                                 f"EM pass {self._n_passes} over {len(parts)} blocks")
        return stats

    def moments(self, covariance_type, n_threads):
        """The rows' weighted mean and covariance (see _init.data_moments): one task
        per block, a tree sum of the blocks' moment statistics (around their pooled
        mean), computed back to the client."""
        token = uuid.uuid4().hex[:16]
        block_moments = dask.delayed(_block_moments, pure=True)
        parts = []
        for i, block in enumerate(self._x_blocks):
            start, end = int(self._starts[i]), int(self._starts[i + 1])
            if end == start:
                continue
            weights = None if self._w_blocks is None else self._w_blocks[i]
            parts.append(block_moments(block, weights, covariance_type, self.dtype, start,
                                       dask_key_name=f"gmmcore-moments-{token}-{i}"))
        (stats,) = self._compute([_tree_sum(parts, token)],
                                 f"the moments of X over {len(parts)} blocks")
        return data_moments(stats)

    def labels(self, kparams, n_threads):
        """The most probable component of each row, as a lazy dask array."""
        return map_outputs(self.X, kparams, "labels")

    def rows(self, indices):
        indices = np.asarray(indices, dtype=np.intp)
        unique = np.unique(indices)
        (values,) = self._compute([self.X[unique]], f"{len(unique)} rows of X")
        return np.asarray(values, dtype=np.float64)[np.searchsorted(unique, indices)]

    def column_variances(self):
        (variances,) = self._compute([da.var(self.X.astype(np.float64), axis=0)],
                                     "the column variances of X")
        return np.asarray(variances, dtype=np.float64)


def map_outputs(X, kparams, output):
    """A per-row output of the E-step over the blocks of X, as a lazy dask array."""
    dtype = kparams.means.dtype
    name = f"gmmcore-{output.replace('_', '-')}-{uuid.uuid4().hex[:16]}"
    if output == "resp":
        k = kparams.means.shape[0]
        return X.map_blocks(_block_outputs, kparams, output, dtype=dtype,
                            chunks=(X.chunks[0], (k,)), meta=np.empty((0, k), dtype),
                            name=name)
    out_dtype = np.dtype(np.intp) if output == "labels" else dtype
    return X.map_blocks(_block_outputs, kparams, output, dtype=out_dtype, drop_axis=1,
                        chunks=(X.chunks[0],), meta=np.empty(0, out_dtype), name=name)


# ----------------------------------------------------------------------
# The estimator
# ----------------------------------------------------------------------

class _DaskMixin:
    """What the Dask estimators add to gmmcore's in-memory ones: fits whose passes
    run on a Dask cluster (``DaskRows``), lazy per-row outputs for dask input, and a
    client that is shared, never copied.  Their parameters ``client``,
    ``init_sample_size`` and ``timeout`` are set by each estimator's __init__."""

    # ------------------------------------------------------------------
    # Estimator protocol: the client is shared, never copied
    # ------------------------------------------------------------------

    def __getstate__(self):
        state = dict(self.__dict__)
        state["client"] = None  # a connection: it cannot travel with the model
        return state

    def __sklearn_clone__(self):
        from sklearn.base import clone

        params = self.get_params(deep=False)
        client = params.pop("client")
        return type(self)(client=client,
                          **{name: clone(value, safe=False) for name, value in params.items()})

    def save(self, file):
        """Write the fitted model to a versioned .npz file (without ``client``).

        Parameters
        ----------
        file : str, os.PathLike or binary file object
            Where to write (numpy adds '.npz' to a path without it).
        """
        client, self.client = self.client, None
        try:
            super().save(file)
        finally:
            self.client = client

    def _check_parameters(self):
        n_threads = super()._check_parameters()
        if self.client is not None and not isinstance(self.client, distributed.Client):
            raise v.InvalidParameterError(
                f"The 'client' parameter of {type(self).__name__} must be a "
                f"distributed.Client or None. Got {self.client!r} instead.")
        if self.init_sample_size is not None:
            v.check_int("init_sample_size", self.init_sample_size, 2)
        if self.timeout is not None:
            v.check_real("timeout", self.timeout, 0.0)
            if self.timeout <= 0:
                raise v.InvalidParameterError(
                    f"The 'timeout' parameter of {type(self).__name__} must be a positive "
                    f"number of seconds or None. Got {self.timeout!r} instead.")
        return n_threads

    # ------------------------------------------------------------------
    # Fitting
    # ------------------------------------------------------------------

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the model parameters with the EM algorithm, on the cluster.

        Parameters
        ----------
        X : dask.array.Array or dask DataFrame of shape (n_samples, n_features)
            Training data (numeric columns).  Blocks are rechunked to hold all the
            columns.  Other array-likes are fitted in memory, as by
            :class:`gmmcore.GaussianMixture`.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : dask.array.Array, dask Series or array-like of shape \
(n_samples,), default=None
            Non-negative weight of each sample (rechunked to X's row chunks).

        Returns
        -------
        self : GaussianMixture
            The fitted mixture.
        """
        self._fit(X, sample_weight, want_labels=False)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the model to X and return the most probable component of each row.

        Parameters
        ----------
        X : dask.array.Array or dask DataFrame of shape (n_samples, n_features)
            Training data, as in :meth:`fit`.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : dask.array.Array or array-like of shape (n_samples,), default=None
            Non-negative weight of each sample.

        Returns
        -------
        labels : dask.array.Array of shape (n_samples,)
            Component labels, lazy: computed blockwise with the fitted parameters
            (equal to ``fit(X).predict(X)``) when the caller computes them.  An
            ndarray for in-memory X.
        """
        return self._fit(X, sample_weight, want_labels=True)

    def _fit(self, X, sample_weight, want_labels, initialise_only=False):
        if not is_dask_input(X):
            if is_dask_input(sample_weight):
                raise TypeError("sample_weight is a dask collection but X is not; pass "
                                "both as dask collections or both in memory")
            return super()._fit(X, sample_weight, want_labels, initialise_only)
        n_threads = self._check_parameters()
        feature_names = v.feature_names_of(X) if _is_frame(X) else None
        need_rows = any(getattr(self, p, None) is None
                        for p in ("weights_init", "means_init", "precisions_init"))
        sample_size = None
        if need_rows:
            sample_size = (max(10_000, 50 * self.n_components) if self.init_sample_size is None
                           else int(self.init_sample_size))
            if sample_size < self.n_components:
                raise ValueError(f"init_sample_size={sample_size} is smaller than n_components="
                                 f"{self.n_components}: the initialisation needs at least one "
                                 "row per component")
        with _session(self.client) as client:
            def compute(collections, what):
                return _compute(client, self.timeout, collections, what)

            X = as_dask_matrix(X, compute)
            weights_in_memory = sample_weight is not None and not is_dask_input(sample_weight)
            sample_weight = as_dask_weights(sample_weight, X, compute)
            if weights_in_memory:  # to the workers once, not with every pass's graph
                sample_weight = client.persist(sample_weight)
            data = DaskRows(X, sample_weight, compute, sample_size,
                            lambda: self._random_state, allow_nan=self._marginalizes)
            return self._fit_rows(data, feature_names, n_threads, want_labels,
                                  initialise_only)

    # ------------------------------------------------------------------
    # Using a fitted model
    # ------------------------------------------------------------------

    def _dask_predict_input(self, X, compute=None):
        self._check_is_fitted()
        v.check_feature_names(X, getattr(self, "feature_names_in_", None),
                              type(self).__name__)
        X = as_dask_matrix(X, compute)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input.")
        return X

    def _dask_outputs(self, X, output):
        # the kernel parameters the in-memory methods use for X's dtype
        return map_outputs(X, self._kernel_params(_fit_dtype(X.dtype)), output)

    def _prediction_compute(self):
        """compute(collections, what) for prediction-time reductions: on ``client``,
        else the default client (both with ``timeout``), else Dask's configured
        scheduler in this process."""
        client = self.client if self.client is not None else _default_client()
        if client is None:
            return lambda collections, what: list(dask.compute(*collections))
        return lambda collections, what: _compute(client, self.timeout, collections, what)

    def predict(self, X):
        """The most probable component of each sample (hard labels).

        Parameters
        ----------
        X : dask.array.Array, dask DataFrame or array-like of shape (n_samples, n_features)
            Samples, one per row.

        Returns
        -------
        labels : dask.array.Array or ndarray of shape (n_samples,)
            Lazy (computed blockwise) for dask input, an ndarray otherwise.
        """
        if is_dask_input(X):
            return self._dask_outputs(self._dask_predict_input(X), "labels")
        return super().predict(X)

    def predict_proba(self, X):
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : dask.array.Array, dask DataFrame or array-like of shape (n_samples, n_features)
            Samples, one per row.

        Returns
        -------
        resp : dask.array.Array or ndarray of shape (n_samples, n_components)
            Lazy (computed blockwise) for dask input, an ndarray otherwise.
        """
        if is_dask_input(X):
            return self._dask_outputs(self._dask_predict_input(X), "resp")
        return super().predict_proba(X)

    def score_samples(self, X):
        """Log-likelihood of each sample under the model, log p(x).

        Parameters
        ----------
        X : dask.array.Array, dask DataFrame or array-like of shape (n_samples, n_features)
            Samples, one per row.

        Returns
        -------
        log_prob : dask.array.Array or ndarray of shape (n_samples,)
            Lazy (computed blockwise) for dask input, an ndarray otherwise.
        """
        if is_dask_input(X):
            return self._dask_outputs(self._dask_predict_input(X), "log_prob_norm")
        return super().score_samples(X)

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood of the samples (weighted by sample_weight when given).

        For dask input this is one reduction, computed on ``client`` (else the
        default client, else Dask's configured scheduler).

        Parameters
        ----------
        X : dask.array.Array, dask DataFrame or array-like of shape (n_samples, n_features)
            Samples, one per row.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : dask.array.Array or array-like of shape (n_samples,), default=None
            Non-negative weight of each sample.

        Returns
        -------
        log_likelihood : float
        """
        if is_dask_input(X):
            loglik, weight = self._criterion_terms(X, sample_weight)
            return loglik / weight
        return super().score(X, sample_weight=sample_weight)

    def _criterion_terms(self, X, sample_weight):
        """Σ w log p(x) and Σ w; for dask input both in one computation (bic, aic, score)."""
        if not is_dask_input(X):
            return super()._criterion_terms(X, sample_weight)
        compute = self._prediction_compute()
        # in-memory weights are split at X's row chunks: those of a DataFrame must be known
        weights_in_memory = sample_weight is not None and not is_dask_input(sample_weight)
        X = self._dask_predict_input(X, compute if weights_in_memory and _is_frame(X) else None)
        log_prob = self._dask_outputs(X, "log_prob_norm").astype(np.float64)
        if sample_weight is None:
            weights = log_prob.map_blocks(_block_ones, dtype=np.float64)
        elif weights_in_memory:
            weights = da.from_array(
                v.check_sample_weight(sample_weight, X.shape[0]),
                chunks=(X.chunks[0],))
        else:
            weights = sample_weight
            if _is_frame(weights):
                weights = weights.to_dask_array()
            if weights.ndim != 1:
                raise ValueError(f"sample_weight must be 1-D, got {weights.ndim}-D")
            if not any(np.isnan(c) for c in log_prob.chunks[0] + weights.chunks[0]):
                if weights.shape != log_prob.shape:
                    raise ValueError(f"sample_weight has shape {weights.shape}, expected "
                                     f"{log_prob.shape} to match the number of samples in X")
                weights = weights.rechunk(log_prob.chunks)
            weights = weights.astype(np.float64)
        terms = [(weights * log_prob).sum(), weights.sum(), (~(weights >= 0)).any()]
        loglik, total, bad = compute(terms, "the log-likelihood of X")
        if bad:
            raise ValueError("sample_weight must be non-negative and finite")
        return float(loglik), float(total)


class GaussianMixture(_DaskMixin, _mixture.GaussianMixture):
    """Gaussian mixture fitted by EM on a Dask array or DataFrame, on a Dask cluster.

    The parameters, fitted attributes and methods of
    :class:`gmmcore.GaussianMixture`, for data that lives on a Dask cluster.  Each
    EM iteration is one Dask computation: every block of rows is reduced on a
    worker to its sufficient statistics by gmmcore's kernels, the statistics are
    summed by a fixed tree of additions, and only the sum (k×d×d-sized) is
    computed back to the client, where the same M-step as the in-memory fit runs.
    From the same start the fitted parameters equal the in-memory fit's to
    rounding (about 1e-12 relative in float64), for any chunking of X.

    X is read once per iteration: persist it first (``X = X.persist()``) when it
    fits in the workers' memory, else each iteration recomputes or reloads it.  A
    dask array made with ``da.from_array`` of a numpy array carries the array in
    its graph, so persist it too.  The workers need gmmcore installed.

    NumPy and other in-memory input is fitted, predicted and scored in this
    process exactly as by :class:`gmmcore.GaussianMixture` (no cluster is used).

    With ``on_degenerate='reseed'`` the re-seeding candidates are the worst
    explained row of each block, so a re-seeded fit may take other rows than the
    in-memory one; 'raise' and 'regularize' behave as in memory.

    Parameters
    ----------
    n_components, covariance_type, tol, reg_covar, max_iter, n_init, init_params, \
weights_init, means_init, precisions_init, random_state, warm_start, verbose, \
verbose_interval, on_degenerate, nan_policy
        As in :class:`gmmcore.GaussianMixture` (with 'marginalize', the blocks'
        missing entries are taken as in memory).
    n_threads : int or None, default=None
        Threads of the work done on the client (the initialisation on the sample,
        and in-memory input).  Each Dask task runs gmmcore's kernels on one thread:
        the workers are the parallelism.
    client : distributed.Client or None, default=None
        The cluster a fit runs on.  None: the default client if one exists
        (``distributed.default_client()``), else a ``distributed.LocalCluster``
        started for the fit, with one single-threaded worker process per usable
        CPU, and closed when the fit ends.  ``sklearn.base.clone`` shares it;
        pickles, deep copies and :meth:`save` leave it out (``client=None``).
    init_sample_size : int or None, default=None
        The initialisation (``init_params``: k-means, k-means++, random
        responsibilities or random rows) runs on the client, on this many rows
        drawn uniformly at random without replacement from X with
        ``random_state`` and gathered once per fit, so it never gathers X.
        None: ``max(10_000, 50 * n_components)``.  When X has at most this many
        rows the initialisation sees all of them, in order, and starts where the
        in-memory fit does for the same ``random_state``.  No row is gathered when
        ``weights_init``, ``means_init`` and ``precisions_init`` are all given.
    timeout : float or None, default=3600.0
        Seconds to wait for each computation a fit starts on the cluster (an EM
        pass, the initialisation sample, a check of the weights); past it the
        computation is cancelled and TimeoutError is raised.  None waits without
        limit.  A worker that dies during a pass is handled by Dask: its tasks run
        again on the other workers (a LocalCluster's nanny restarts it), and a task
        whose workers die repeatedly (``distributed.scheduler.allowed-failures``)
        raises ``distributed.KilledWorker``.

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_, converged_, \
n_iter_, lower_bound_, lower_bounds_, n_features_in_, feature_names_in_, \
degenerate_events_
        As in :class:`gmmcore.GaussianMixture`; ``feature_names_in_`` comes from
        a dask DataFrame's columns.

    Examples
    --------
    >>> import dask.array as da
    >>> from gmmcore.dask import GaussianMixture
    >>> X = da.random.default_rng(0).normal(size=(10**6, 8), chunks=(10**5, 8))
    >>> gm = GaussianMixture(n_components=4, random_state=0).fit(X)  # doctest: +SKIP
    >>> labels = gm.predict(X)           # a lazy dask array    # doctest: +SKIP
    >>> gm.score(X)                      # a float              # doctest: +SKIP
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        n_threads=None,
        on_degenerate="raise",
        nan_policy="raise",
        client=None,
        init_sample_size=None,
        timeout=3600.0,
    ):
        super().__init__(
            n_components, covariance_type=covariance_type, tol=tol, reg_covar=reg_covar,
            max_iter=max_iter, n_init=n_init, init_params=init_params,
            weights_init=weights_init, means_init=means_init,
            precisions_init=precisions_init, random_state=random_state,
            warm_start=warm_start, verbose=verbose, verbose_interval=verbose_interval,
            n_threads=n_threads, on_degenerate=on_degenerate, nan_policy=nan_policy)
        self.client = client
        self.init_sample_size = init_sample_size
        self.timeout = timeout


class BayesianGaussianMixture(_DaskMixin, _bayesian.BayesianGaussianMixture):
    """Variational Gaussian mixture on a Dask array or DataFrame, on a Dask cluster.

    The parameters, fitted attributes and methods of
    :class:`gmmcore.BayesianGaussianMixture`, for data that lives on a Dask cluster,
    run as :class:`gmmcore.dask.GaussianMixture` runs EM: each iteration is one Dask
    computation whose blocks are reduced on the workers to sufficient statistics
    (with the responsibilities' entropy the lower bound needs), summed by a fixed
    tree, and updated on the client.  The default priors (the rows' mean and
    covariance) come from one more such pass over all the rows; the start from
    ``init_params`` on ``init_sample_size`` rows, as the EM estimator's.  From the
    same start the posterior equals the in-memory fit's to rounding, for any
    chunking.  NumPy and other in-memory input is fitted in this process exactly as
    by :class:`gmmcore.BayesianGaussianMixture`.

    Parameters
    ----------
    n_components, covariance_type, tol, reg_covar, max_iter, n_init, init_params, \
weight_concentration_prior_type, weight_concentration_prior, mean_precision_prior, \
mean_prior, degrees_of_freedom_prior, covariance_prior, random_state, warm_start, \
verbose, verbose_interval, on_degenerate, learning_decay
        As in :class:`gmmcore.BayesianGaussianMixture`.
    n_threads, client, init_sample_size, timeout
        As in :class:`gmmcore.dask.GaussianMixture`.

    Attributes
    ----------
    As :class:`gmmcore.BayesianGaussianMixture`'s; ``feature_names_in_`` comes from a
    dask DataFrame's columns.
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        n_threads=None,
        on_degenerate="raise",
        learning_decay=0.6,
        client=None,
        init_sample_size=None,
        timeout=3600.0,
    ):
        super().__init__(
            n_components, covariance_type=covariance_type, tol=tol, reg_covar=reg_covar,
            max_iter=max_iter, n_init=n_init, init_params=init_params,
            weight_concentration_prior_type=weight_concentration_prior_type,
            weight_concentration_prior=weight_concentration_prior,
            mean_precision_prior=mean_precision_prior, mean_prior=mean_prior,
            degrees_of_freedom_prior=degrees_of_freedom_prior,
            covariance_prior=covariance_prior, random_state=random_state,
            warm_start=warm_start, verbose=verbose, verbose_interval=verbose_interval,
            n_threads=n_threads, on_degenerate=on_degenerate, learning_decay=learning_decay)
        self.client = client
        self.init_sample_size = init_sample_size
        self.timeout = timeout
