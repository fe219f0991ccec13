"""Model selection: fit a grid of mixtures, keep the one with the lowest BIC or AIC.

``select`` fits every (covariance_type, n_components) candidate on the same data
and tabulates them.  The candidates are independent fits, so they run side by
side on a thread pool, each on one thread: the kernels release the GIL, and
whole fits in parallel skip the per-pass hand-over of chunks between threads
that one fit on several threads pays (see ``select``'s Notes for the
measurement behind this choice).

The seams for other backends: candidates are built by ``estimator`` (a class or
factory taking GaussianMixture's keyword parameters), so a Dask-backed estimator
with the same API plugs in unchanged; and ``_run`` is the only place that
decides where the fits execute, so a backend sending candidates to a cluster
replaces that one function.
"""

import heapq
import inspect
import math
import queue
import sys
import threading
from time import perf_counter

import numpy as np

from . import _validation as v
from ._covariance import COVARIANCE_TYPES, TYPES
from ._mixture import GaussianMixture
from ._mstep import aic, bic, n_parameters
from ._parallel import blas_single_threaded, cancel_event, effective_n_threads, plan_chunks

CRITERIA = ("bic", "aic")
SCHEDULES = ("auto", "concurrent", "serial")
KEEP = ("all", "best")

# Share of the ideal speed-up one fit gets from each extra thread once its chunks
# are balanced: every pass hands chunks between threads and waits for the
# slowest.  Measured on 2 cores (d=8, the default 40 candidates): fits on 2
# threads spent 19% (n=30 000) and 9% (n=200 000) more CPU time than on one
# (concurrent one-thread fits: 6% and 0%), and one fit ran at most 1.3x faster
# on 2 threads than on 1.
SERIAL_EFFICIENCY = 0.8


def select(X, n_components=range(1, 11), covariance_types=COVARIANCE_TYPES, criterion="bic",
           n_init=1, random_state=None, n_threads=None, *, estimator=GaussianMixture,
           keep="all", schedule="auto", **estimator_params):
    """Fit every (covariance_type, n_components) mixture and pick the best by BIC or AIC.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), or a dask array or DataFrame
        Training data, one row per sample.  Converted once, as
        ``GaussianMixture.fit`` converts it, and shared by all candidates.  A dask
        collection is fitted on a Dask cluster by ``gmmcore.dask.GaussianMixture``
        candidates (pass ``client=`` and ``timeout=`` as estimator parameters);
        without a client, the default client or a LocalCluster started for the
        selection is used.
    n_components : int or iterable of int, default=range(1, 11)
        The numbers of components to try (each at least 1 and at most
        n_samples; repeated values are tried once).
    covariance_types : str or iterable of str, default=('full', 'tied', 'diag', 'spherical')
        The covariance types to try.
    criterion : {'bic', 'aic'}, default='bic'
        The information criterion to minimise.
    n_init : int, default=1
        Initializations per candidate (``GaussianMixture``'s ``n_init``).
    random_state : int, RandomState instance or None, default=None
        Seeds every candidate with the same int: this int itself, or one int
        drawn from the RandomState (or from numpy's global one for None).  The
        int used is ``result.random_state_``, and each row of the table equals a
        standalone ``GaussianMixture(n_components=k, covariance_type=t,
        n_init=n_init, random_state=result.random_state_, **estimator_params).fit(X)``
        to the bit.
    n_threads : int or None, default=None
        Threads in total.  None uses every CPU this process may use (capped by
        OMP_NUM_THREADS); a negative number counts back from there.  Results are
        identical for any number of threads.
    estimator : class or callable, default=GaussianMixture
        Builds one unfitted candidate from keyword parameters (n_components,
        covariance_type, n_init, random_state, ``estimator_params`` and, when it
        accepts it, n_threads).  The candidate needs ``fit(X)``, ``score(X)``,
        ``n_iter_`` and ``converged_``; any estimator with GaussianMixture's API
        works, such as one running on Dask arrays.
    keep : {'all', 'best'}, default='all'
        'all' keeps every fitted candidate in ``estimators_``; 'best' keeps only
        the best one (the others are dropped as soon as they are beaten, which
        bounds memory for large models).
    schedule : {'auto', 'concurrent', 'serial'}, default='auto'
        'concurrent' fits up to n_threads candidates at a time, each on one
        thread, the most expensive first; 'serial' fits them one after another,
        each on all n_threads threads; 'auto' picks the one a cost model expects
        to finish first (see Notes).  It changes only the time taken.
    **estimator_params
        Further parameters of every candidate (tol, reg_covar, max_iter,
        init_params, on_degenerate, nan_policy, ...).

    Returns
    -------
    result : SelectionResult
        ``best_estimator_``, ``best_index_``, ``best_params_``, ``table``,
        ``estimators_`` and ``to_frame()``.

    Raises
    ------
    ValueError
        Before any fitting, for an empty candidate list, n_components below 1 or
        above n_samples, an unknown covariance type, criterion or estimator
        parameter, or invalid data; after fitting, when every candidate failed.

    Notes
    -----
    A candidate that fails (for instance a component collapsing with
    ``on_degenerate='raise'``) gets an infinite criterion, a NaN log-likelihood
    and its error message in ``table['error']``; the others are unaffected.

    Concurrency: a candidate's cost is estimated as n·k·d² ('full'),
    n·(k·d + d²) ('tied') or n·k·d ('diag', 'spherical').  The concurrent
    schedule runs the candidates longest first on min(n_threads, candidates)
    threads, each fit on one thread; 'auto' takes it unless fitting one after
    another on all threads is expected to finish sooner: that is, unless the
    longest-first makespan exceeds the total cost divided by n_threads times the
    parallel efficiency of one fit (its chunks' balance over the threads, times
    ``SERIAL_EFFICIENCY``).  In practice: concurrent as soon as there are about
    as many candidates as threads; serial for one or a few large candidates.
    Measured on a shared 2-core machine (n=30 000, d=8, the default 40
    candidates; benchmarks/bench_select.py and 145 interleaved repeats): when
    both cores were free, concurrent took a median 0.62 s, serial on both
    threads 0.88 s and a loop on one thread 0.96 s; when other processes
    oversubscribed the cores nothing gained from threads, and concurrent was
    about 10% slower than serial (likely the GIL passing between descheduled
    threads).

    Results do not depend on the schedule or the thread count: a fit is
    identical for any number of threads, each candidate's row is filled by its
    index whatever the order of completion, and ties in the criterion go to the
    first candidate in table order.  Ctrl-C raises KeyboardInterrupt within
    about a second, as in a single fit: the candidates not started are
    cancelled and the running ones stopped.

    Examples
    --------
    >>> import numpy as np
    >>> import gmmcore
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.randn(200, 2), rng.randn(200, 2) + 6])
    >>> result = gmmcore.select(X, n_components=range(1, 5), random_state=0)
    >>> result.best_params_
    {'covariance_type': 'spherical', 'n_components': 2}
    """
    criterion = _check_criterion(criterion)
    covariance_types = _check_covariance_types(covariance_types)
    n_components = _check_n_components(n_components)
    v.check_int("n_init", n_init, 1, estimator="select")
    v.check_option("keep", keep, KEEP, estimator="select")
    v.check_option("schedule", schedule, SCHEDULES, estimator="select")
    requested_threads = n_threads
    try:
        n_threads = effective_n_threads(n_threads)
    except (TypeError, ValueError) as exc:
        raise v.InvalidParameterError(f"The 'n_threads' parameter of select: {exc}") from None
    seed = _candidate_seed(random_state)
    on_dask = _is_dask_collection(X)
    if on_dask and estimator is GaussianMixture:
        from .dask import GaussianMixture as estimator
    _check_estimator_params(estimator, estimator_params)

    feature_names = v.feature_names_of(X)
    if on_dask:
        result = _select_on_dask(X, feature_names, n_components, covariance_types, criterion,
                                 n_init, seed, n_threads, estimator, keep, estimator_params)
    else:
        X = v.check_array(X, ensure_min_samples=2,
                          allow_nan=estimator_params.get("nan_policy") == "marginalize")
        n_samples, n_features = X.shape
        result = _select_candidates(X, n_samples, n_features, feature_names, n_components,
                                    covariance_types, criterion, n_init, seed, n_threads,
                                    estimator, keep, schedule, estimator_params)
    if _accepts(estimator, "n_threads"):
        # the candidates were fitted on the threads the schedule gave them (one each
        # when they ran side by side); the kept models predict on the caller's
        for model in result.estimators_:
            if model is not None:
                model.n_threads = requested_threads
    return result


def _select_candidates(X, n_samples, n_features, feature_names, n_components,
                       covariance_types, criterion, n_init, seed, n_threads, estimator, keep,
                       schedule, estimator_params, n_workers=None):
    """Fit and tabulate the candidates on validated X (see select)."""
    too_many = [k for k in n_components if k > n_samples]
    if too_many:
        raise ValueError(
            f"n_components={max(too_many)} is more than the {n_samples} samples in X: a "
            f"mixture needs at least one sample per component; try at most {n_samples} "
            "components")
    for covariance_type in covariance_types:
        v.check_n_features(n_features, covariance_type)

    candidates = [(t, k) for t in covariance_types for k in n_components]
    costs = [candidate_cost(t, k, n_samples, n_features) for t, k in candidates]
    if n_workers is None:
        n_workers, fit_threads = plan_schedule(costs, n_samples, n_threads, schedule)
    else:  # the work runs elsewhere (a Dask cluster): n_workers fits in flight
        fit_threads = 1
    pass_threads = _accepts(estimator, "n_threads")
    models = []
    for t, k in candidates:
        params = dict(estimator_params, n_components=k, covariance_type=t, n_init=n_init,
                      random_state=seed)
        if pass_threads:
            params["n_threads"] = fit_threads
        models.append(_build(estimator, params, n_features))

    # Longest first: the cheap candidates fill the gaps at the end.
    order = sorted(range(len(candidates)), key=lambda i: -costs[i])
    collector = _Collector(candidates, criterion, n_samples, n_features, keep)
    # One BLAS limit for the whole run, taken in this thread: each fit also limits
    # BLAS, and concurrent fits restoring each other's "previous" limit would
    # otherwise leave BLAS on one thread after select returns.
    with blas_single_threaded():
        _run(models, order, X, n_workers, collector.add)
    result = collector.result(seed, n_threads, n_workers, fit_threads)
    if feature_names is not None:
        for model in result.estimators_:
            if model is not None:
                model.feature_names_in_ = feature_names
    return result


def _is_dask_collection(X):
    dask = sys.modules.get("dask")  # never imported here: only if the caller uses dask
    return dask is not None and dask.is_dask_collection(X)


def _select_on_dask(X, feature_names, n_components, covariance_types, criterion, n_init,
                    seed, n_threads, estimator, keep, estimator_params):
    """select for a dask array or DataFrame: the candidates (gmmcore.dask mixtures by
    default) are fitted on one cluster, the estimator's ``client``, else the default
    client, else a LocalCluster started for the selection; several fits keep passes
    in flight at once."""
    from . import dask as gmm_dask

    params = dict(estimator_params)
    with gmm_dask._session(params.get("client")) as client:
        params["client"] = client
        X = gmm_dask.as_dask_matrix(
            X, lambda collections, what: gmm_dask._compute(client, params.get("timeout"),
                                                           collections, what))
        n_samples, n_features = int(X.shape[0]), int(X.shape[1])
        if n_samples < 2:
            raise ValueError(f"Found array with {n_samples} sample(s) (shape={X.shape}) "
                             "while a minimum of 2 is required by select.")
        return _select_candidates(X, n_samples, n_features, feature_names, n_components,
                                  covariance_types, criterion, n_init, seed, n_threads,
                                  estimator, keep, "concurrent", params,
                                  n_workers=max(2, n_threads))


class SelectionResult:
    """The candidates fitted by :func:`select` and the best of them.

    Attributes
    ----------
    best_estimator_ : GaussianMixture
        The fitted candidate with the lowest criterion.
    best_index_ : int
        Its row in ``table`` (and ``estimators_``).
    best_params_ : dict
        Its ``covariance_type`` and ``n_components``.
    table : dict of ndarray
        One entry per candidate, covariance types in the order given, then
        n_components in the order given: 'covariance_type', 'n_components',
        'criterion' (the chosen one), 'bic', 'aic', 'log_likelihood' (mean per
        sample, ``score(X)``), 'n_parameters', 'n_iter', 'converged',
        'fit_time' (seconds of ``fit``) and 'error' ('' for a successful fit,
        else the exception's type and message).  A failed candidate has infinite
        criteria, a NaN log-likelihood and n_iter 0.
    estimators_ : list
        The fitted candidates, row by row; None for a failed one, and for all but
        the best with ``keep='best'``.
    criterion : str
        'bic' or 'aic'.
    random_state_ : int
        The random_state every candidate was fitted with.
    n_threads_ : int
        The threads used in total.
    schedule_ : tuple of int
        (candidates fitted at a time, threads inside each fit).
    """

    def __init__(self, table, estimators, best_index, criterion, random_state, n_threads,
                 schedule):
        self.table = table
        self.estimators_ = estimators
        self.best_index_ = best_index
        self.criterion = criterion
        self.random_state_ = random_state
        self.n_threads_ = n_threads
        self.schedule_ = schedule

    @property
    def best_estimator_(self):
        """The fitted mixture with the lowest criterion."""
        return self.estimators_[self.best_index_]

    @property
    def best_params_(self):
        """The best candidate's covariance_type and n_components, as a dict."""
        i = self.best_index_
        return {"covariance_type": str(self.table["covariance_type"][i]),
                "n_components": int(self.table["n_components"][i])}

    def to_frame(self):
        """The table as a pandas DataFrame, one row per candidate.

        Returns
        -------
        frame : pandas.DataFrame

        Raises
        ------
        ImportError
            When pandas is not installed.
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "SelectionResult.to_frame() needs pandas, which is not installed: install "
                "it (pip install pandas) or use the plain dict of arrays in .table") from None
        return pd.DataFrame({name: column for name, column in self.table.items()})

    def __repr__(self):
        table = self.table
        types = list(dict.fromkeys(str(t) for t in table["covariance_type"]))
        ks = list(dict.fromkeys(int(k) for k in table["n_components"]))
        row_of = {(str(t), int(k)): i for i, (t, k) in
                  enumerate(zip(table["covariance_type"], table["n_components"]))}
        n_failed = int(sum(1 for e in table["error"] if e))
        best = self.best_params_
        name = self.criterion.upper()
        lines = [
            f"{type(self).__name__}: {name} of {len(row_of)} candidates"
            + (f" ({n_failed} failed)" if n_failed else "")
            + f"; best (*): covariance_type={best['covariance_type']!r}, "
            f"n_components={best['n_components']}, "
            f"{self.criterion}={table['criterion'][self.best_index_]:.7g}",
            f"{'n_components':>12}" + "".join(f"{t:>15}" for t in types),
        ]
        for k in ks:
            cells = []
            for t in types:
                i = row_of[(t, k)]
                text = "failed" if table["error"][i] else f"{table['criterion'][i]:.7g}"
                cells.append(f"{('*' if i == self.best_index_ else '') + text:>15}")
            lines.append(f"{k:>12}" + "".join(cells))
        return "\n".join(lines)


# ----------------------------------------------------------------------
# Checks, done before any fitting
# ----------------------------------------------------------------------

def _check_criterion(criterion):
    if not isinstance(criterion, str) or criterion.lower() not in CRITERIA:
        raise ValueError(f"criterion must be 'bic' or 'aic', got {criterion!r}")
    return criterion.lower()


def _check_covariance_types(covariance_types):
    if isinstance(covariance_types, str):
        covariance_types = [covariance_types]
    try:
        types = list(dict.fromkeys(covariance_types))
    except TypeError:
        raise ValueError("covariance_types must be a covariance type or a list of them, "
                         f"got {covariance_types!r}") from None
    if not types:
        raise ValueError("covariance_types is empty: give at least one of "
                         f"{', '.join(map(repr, COVARIANCE_TYPES))}")
    for t in types:
        if t not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_types: unknown covariance type {t!r}; choose from "
                             f"{', '.join(map(repr, COVARIANCE_TYPES))}")
    return types


def _check_n_components(n_components):
    if v._integral(n_components):
        n_components = [n_components]
    try:
        values = list(n_components)
    except TypeError:
        raise ValueError("n_components must be an int or a list of ints, got "
                         f"{n_components!r}") from None
    if not values:
        raise ValueError("n_components is empty: give at least one number of components "
                         "to try, e.g. range(1, 11)")
    for k in values:
        if not v._integral(k) or k < 1:
            raise ValueError(f"n_components must hold integers >= 1, got {k!r}")
    return list(dict.fromkeys(int(k) for k in values))


def _candidate_seed(random_state):
    """The one int every candidate is seeded with."""
    if v._integral(random_state):
        try:
            np.random.RandomState(random_state)
        except ValueError as exc:
            raise v.InvalidParameterError(f"random_state={random_state!r}: {exc}") from None
        return int(random_state)
    # scikit-learn's way of deriving a seed from a RandomState
    return int(v.check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _check_estimator_params(estimator, estimator_params):
    if "covariance_type" in estimator_params:
        raise ValueError("select sets covariance_type for each candidate: pass the types to "
                         "try as covariance_types=[...]")
    names = _parameter_names(estimator)
    if names is None:
        return
    unknown = sorted(set(estimator_params) - names)
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))} for "
            f"{getattr(estimator, '__name__', estimator)!r}; valid ones are "
            f"{', '.join(sorted(names - {'n_components', 'covariance_type'}))}")


def _parameter_names(factory):
    """Keyword parameters the factory takes, or None when it takes any (**kwargs)."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind == p.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters}


def _accepts(factory, name):
    names = _parameter_names(factory)
    return names is None or name in names


def _build(estimator, params, n_features):
    """One unfitted candidate, its parameters checked when the estimator can."""
    model = estimator(**params)
    try:
        if hasattr(model, "_check_parameters"):
            model._check_parameters()
        if hasattr(model, "_check_initial_values"):
            model._check_initial_values(n_features)
    except ValueError as exc:
        raise v.InvalidParameterError(
            f"candidate covariance_type={params['covariance_type']!r}, "
            f"n_components={params['n_components']}: {exc}") from exc
    return model


# ----------------------------------------------------------------------
# Scheduling
# ----------------------------------------------------------------------

def candidate_cost(covariance_type, n_components, n_samples, n_features):
    """Relative cost of one candidate's fit: the flops of an EM pass, up to a constant."""
    return n_samples * TYPES[covariance_type].pass_work(n_components, n_features)


def plan_schedule(costs, n_samples, n_threads, schedule="auto"):
    """(candidates fitted at a time, threads inside each fit).

    'auto' compares the longest-first makespan of the concurrent schedule with
    the serial one, whose fits each get n_threads × their parallel efficiency.
    """
    concurrent = (min(n_threads, len(costs)), 1)
    serial = (1, n_threads)
    if schedule == "concurrent" or n_threads == 1:
        return concurrent
    if schedule == "serial":
        return serial
    makespan = _longest_first_makespan(costs, concurrent[0])
    serial_time = sum(costs) / (n_threads * _fit_efficiency(n_samples, n_threads))
    return concurrent if makespan <= serial_time else serial


def _longest_first_makespan(costs, n_workers):
    loads = [0.0] * n_workers  # a heap: the least loaded worker takes the next job
    for cost in sorted(costs, reverse=True):
        heapq.heapreplace(loads, loads[0] + cost)
    return max(loads)


def _fit_efficiency(n_samples, n_threads):
    """Share of n_threads that one fit keeps busy: its chunks' balance, times
    SERIAL_EFFICIENCY."""
    n_chunks = len(plan_chunks(n_samples))
    balance = n_chunks / (n_threads * math.ceil(n_chunks / n_threads))
    return balance * SERIAL_EFFICIENCY


def _run(models, order, X, n_workers, on_done):
    """Fit ``models[i]`` for i in ``order`` on n_workers threads; ``on_done(i, outcome)``
    is called in this thread as each fit ends.

    The one place that decides where fits execute.  With one worker the fits
    run in the calling thread (Ctrl-C stops them between chunks); otherwise on a
    pool of this call only, so fits never wait on a pool that their own chunks
    need.
    """
    if n_workers <= 1:
        for i in order:
            on_done(i, _fit_one(models[i], X))
        return
    # A pool of this call only, whose hand-offs are SimpleQueues (C code): a Ctrl-C
    # in this thread cannot leave one of its locks held (ThreadPoolExecutor's
    # submit and as_completed run Python code that takes and releases locks).
    jobs, finished = queue.SimpleQueue(), queue.SimpleQueue()
    stopper = _Stopper()

    def work():
        while True:
            i = jobs.get()
            if i is None:
                return
            try:
                outcome = stopper.call(_fit_one, models[i], X)
            except BaseException as exc:  # stopped: the caller is unwinding
                outcome = exc
            finished.put((i, outcome))

    for i in order:  # first in, first out: submission order is start order
        jobs.put(i)
    threads = [threading.Thread(target=work, name=f"gmmcore-select_{j}", daemon=True)
               for j in range(n_workers)]
    try:
        for thread in threads:
            jobs.put(None)
            thread.start()
        for _ in order:
            i, outcome = finished.get()
            if isinstance(outcome, BaseException):  # not a failed fit: _fit_one keeps those
                raise outcome
            on_done(i, outcome)
    except BaseException:  # Ctrl-C: nothing keeps computing once select has raised
        stopper.stop()
        for thread in threads:
            if thread.ident is not None:
                thread.join()
        raise
    for thread in threads:
        thread.join()


class _Stopper:
    """Stops the fits running on worker threads when the caller is interrupted.

    Python delivers Ctrl-C to the main thread only.  Each fit started through
    ``call`` runs with this stopper as its cancel event
    (``_parallel.cancel_event``), and ``run_ordered`` checks it before every
    chunk of rows: once ``stop`` sets it, each running fit raises
    KeyboardInterrupt at its next chunk (at most about 0.1 s later), unwinding
    as a fit in the main thread does on Ctrl-C.
    """

    def __init__(self):
        self._stopped = False

    def is_set(self):
        """Whether stop was called (the cancel event's interface)."""
        return self._stopped

    def call(self, function, *args):
        if self._stopped:
            raise KeyboardInterrupt
        token = cancel_event.set(self)
        try:
            return function(*args)
        finally:
            cancel_event.reset(token)

    def stop(self):
        # a plain assignment: no lock for a second Ctrl-C to interrupt
        self._stopped = True


class _Outcome:
    __slots__ = ("model", "log_likelihood", "n_iter", "converged", "fit_time", "error")

    def __init__(self, model, log_likelihood, n_iter, converged, fit_time, error):
        self.model = model
        self.log_likelihood = log_likelihood
        self.n_iter = n_iter
        self.converged = converged
        self.fit_time = fit_time
        self.error = error


def _fit_one(model, X):
    """Fit and score one candidate; a failure becomes an outcome, not an exception."""
    start = perf_counter()
    try:
        model.fit(X)
        fit_time = perf_counter() - start
        log_likelihood = float(model.score(X))
        if not math.isfinite(log_likelihood):
            raise ValueError(f"the mean log-likelihood of X is {log_likelihood}")
        return _Outcome(model, log_likelihood, int(model.n_iter_), bool(model.converged_),
                        fit_time, "")
    except Exception as exc:  # noqa: BLE001 - recorded in the table, see select's Notes
        return _Outcome(None, math.nan, 0, False, perf_counter() - start,
                        f"{type(exc).__name__}: {exc}")


class _Collector:
    """Outcomes by candidate index, and the best so far."""

    def __init__(self, candidates, criterion, n_samples, n_features, keep):
        self.candidates = candidates
        self.criterion = criterion
        self.n_samples = n_samples
        self.n_features = n_features
        self.keep = keep
        self.outcomes = [None] * len(candidates)
        self.best = None  # (criterion, index): ties go to the lower index

    def add(self, index, outcome):
        self.outcomes[index] = outcome
        if outcome.model is None:
            return
        key = (self._criteria(index, outcome.log_likelihood)[self.criterion], index)
        if self.best is None or key < self.best:
            if self.keep == "best" and self.best is not None:
                self.outcomes[self.best[1]].model = None
            self.best = key
        elif self.keep == "best":
            outcome.model = None

    def _criteria(self, index, log_likelihood):
        covariance_type, k = self.candidates[index]
        n = self.n_samples
        p = n_parameters(covariance_type, k, self.n_features)
        # GaussianMixture.bic and .aic's functions, so the values are the same bits
        loglik = log_likelihood * n
        return {"bic": bic(loglik, n, p), "aic": aic(loglik, p), "n_parameters": p}

    def result(self, seed, n_threads, n_workers, fit_threads):
        outcomes = self.outcomes
        if self.best is None:
            (t, k), first = self.candidates[0], outcomes[0].error
            others = len({o.error for o in outcomes} - {first})
            raise ValueError(
                f"all {len(outcomes)} candidates failed; covariance_type={t!r}, "
                f"n_components={k}: {first}"
                + (f" ({others} other error message(s))" if others else ""))
        criteria = [self._criteria(i, o.log_likelihood) if not o.error
                    else dict(self._criteria(i, 0.0), bic=math.inf, aic=math.inf)
                    for i, o in enumerate(outcomes)]
        table = {
            "covariance_type": np.array([t for t, _ in self.candidates]),
            "n_components": np.array([k for _, k in self.candidates], dtype=np.int64),
            "criterion": np.array([c[self.criterion] for c in criteria], dtype=np.float64),
            "bic": np.array([c["bic"] for c in criteria], dtype=np.float64),
            "aic": np.array([c["aic"] for c in criteria], dtype=np.float64),
            "log_likelihood": np.array([o.log_likelihood for o in outcomes], dtype=np.float64),
            "n_parameters": np.array([c["n_parameters"] for c in criteria], dtype=np.int64),
            "n_iter": np.array([o.n_iter for o in outcomes], dtype=np.int64),
            "converged": np.array([o.converged for o in outcomes], dtype=bool),
            "fit_time": np.array([o.fit_time for o in outcomes], dtype=np.float64),
            "error": np.array([o.error for o in outcomes], dtype=object),
        }
        return SelectionResult(table, [o.model for o in outcomes], self.best[1],
                               self.criterion, seed, n_threads, (n_workers, fit_threads))
