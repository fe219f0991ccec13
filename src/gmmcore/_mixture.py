"""GaussianMixture: the estimator users call."""

import contextlib
import inspect
import weakref
from time import perf_counter

import numpy as np

from . import _validation as v
from . import _interop, _persistence
from ._covariance import COVARIANCE_TYPES, TYPES
from ._em import e_step_outputs, e_step_statistics, split_rows
from ._routing import MetadataRequester
from .exceptions import (ConvergenceWarning, NonFiniteLikelihoodError, NotFittedError,
                         raised_class, warn)
from ._kernels import all_finite, choice_without_replacement, same_bytes
from ._missing import Marginals, impute as impute_rows, start_rows
from ._data import ArrayRows, ChunkRows, may_be_mapped, releasing_pages
from ._init import initial_statistics
from ._mstep import (
    KernelParams,
    SufficientStatistics,
    implied_statistics,
    estimate_parameters,
    aic as information_aic,
    bic as information_bic,
    n_parameters,
    non_definite_components,
    pooled_covariance,
    precisions_cholesky_from_covariances,
)
from ._parallel import (MIN_ROWS_PER_CHUNK, blas_single_threaded, blas_threads,
                        effective_n_threads)

_INIT_PARAMS = {"kmeans", "k-means++", "random", "random_from_data"}
_ON_DEGENERATE = {"raise", "reseed", "regularize"}
_PARTIAL_FIT_MODES = {"stepwise", "exact"}
_NAN_POLICIES = {"raise", "marginalize"}
# Features from which the M-step's Cholesky factorisations run on BLAS threads.
_WIDE_M_STEP = 256

# Fitted parameters in the kernels' form, per estimator.  Kept outside the
# instances so that predicting never changes an estimator's __dict__ (nor its
# pickles and clones), and dropped with the estimator.
_KERNEL_PARAMS_CACHE = weakref.WeakKeyDictionary()


class _Params:
    """One mixture's parameters during a fit, in float64."""

    __slots__ = ("weights", "means", "covariances", "precisions_cholesky")

    def __init__(self, weights, means, covariances, precisions_cholesky):
        self.weights = weights
        self.means = means
        self.covariances = covariances
        self.precisions_cholesky = precisions_cholesky


class _BaseMixture(MetadataRequester):
    """What GaussianMixture and BayesianGaussianMixture share: the estimator
    protocol, the fit over a row source (n_init starts, one pass over the rows per
    iteration), and the uses of a fitted model.

    A subclass supplies the checks of its own parameters (``_check_own_parameters``,
    ``_check_initial_values``), a start (``_initial_parameters``), the update from
    a pass's statistics (``_m_step``), the lower bound (``_lower_bound``), the
    parameters in the kernels' form (``_params_for_kernels``, ``_kernel_params``)
    and the fitted attributes (``_set_parameters``, ``_current_parameters``).
    """

    # Constructor parameters that may hold arrays (model files store them as arrays)
    _ARRAY_PARAMS = ()
    # Fitted attributes that scikit-learn's estimator of the same name has too
    _FITTED_ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_",
                          "precisions_cholesky_", "converged_", "n_iter_", "lower_bound_",
                          "lower_bounds_", "n_features_in_", "feature_names_in_")

    # ------------------------------------------------------------------
    # Estimator protocol (scikit-learn's, without importing scikit-learn)
    # ------------------------------------------------------------------

    @classmethod
    def _get_param_names(cls):
        signature = inspect.signature(cls.__init__)
        return sorted(p.name for p in signature.parameters.values()
                      if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep=True):
        """Parameters of this estimator, as a dict."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set parameters by name; returns self."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {valid!r}.")
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = {p.name: p.default for p in
                    inspect.signature(type(self).__init__).parameters.values()}
        changed = []
        for name in self._get_param_names():
            value, default = getattr(self, name), defaults.get(name)
            same = value is default
            if not same and not isinstance(value, np.ndarray) and not isinstance(
                    default, np.ndarray):
                try:
                    same = bool(value == default) and type(value) is type(default)
                except (TypeError, ValueError):
                    same = False
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        # Called by scikit-learn (>= 1.6) only, so importing it here is free for
        # everyone else; the tags are those of scikit-learn's GaussianMixture.
        from sklearn.utils import Tags, TargetTags

        tags = Tags(estimator_type="density_estimator",
                    target_tags=TargetTags(required=False),
                    transformer_tags=None, regressor_tags=None, classifier_tags=None)
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags

    def _more_tags(self):
        # the same for scikit-learn < 1.6
        return {"requires_y": False, "allow_nan": False}

    @property
    def _estimator_type(self):
        return "density_estimator"

    def _repr_html_(self):
        """HTML for notebooks: scikit-learn's estimator diagram when scikit-learn is
        installed, else the parameters in a small table."""
        try:
            from sklearn.utils import estimator_html_repr
        except ImportError:
            return _html_parameters(self)
        return estimator_html_repr(self)

    @property
    def _marginalizes(self):
        """Whether NaN entries are missing values (GaussianMixture's nan_policy)."""
        return getattr(self, "nan_policy", "raise") == "marginalize"

    def _check_parameters(self):
        """The checks of the parameters both estimators have, then the estimator's
        own (``_check_own_parameters``); returns the effective thread count."""
        name = type(self).__name__
        v.check_int("n_components", self.n_components, 1, name)
        v.check_option("covariance_type", self.covariance_type, COVARIANCE_TYPES, name)
        v.check_real("tol", self.tol, 0.0, name)
        v.check_real("reg_covar", self.reg_covar, 0.0, name)
        v.check_int("max_iter", self.max_iter, 0, name)
        v.check_int("n_init", self.n_init, 1, name)
        v.check_option("init_params", self.init_params, _INIT_PARAMS, name)
        v.check_bool("warm_start", self.warm_start, name)
        if not isinstance(self.verbose, (bool, np.bool_)):
            v.check_int("verbose", self.verbose, 0, name)
        v.check_int("verbose_interval", self.verbose_interval, 1, name)
        self._check_own_parameters(name)
        v.check_real("learning_decay", self.learning_decay, 0.0, name)
        if not 0.5 < self.learning_decay <= 1.0:
            raise v.InvalidParameterError(
                f"The 'learning_decay' parameter of {name} must be a float in the range "
                f"(0.5, 1.0]. Got {self.learning_decay!r} instead.")
        try:
            return effective_n_threads(self.n_threads)
        except (TypeError, ValueError) as exc:
            raise v.InvalidParameterError(f"The 'n_threads' parameter: {exc}") from None

    def _check_is_fitted(self):
        if not hasattr(self, "means_"):
            raise raised_class(NotFittedError)(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")

    # ------------------------------------------------------------------
    # Fitting
    # ------------------------------------------------------------------

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the model parameters with the EM algorithm.

        The model is fitted ``n_init`` times and the parameters with the largest
        lower bound (mean log-likelihood) are kept.  Each fit iterates E- and
        M-steps up to ``max_iter`` times, until the change of the lower bound is
        below ``tol``; otherwise a ``ConvergenceWarning`` is raised.  With
        ``warm_start=True``, later calls start from the previous solution.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, one row per sample.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample; an integer weight counts as that
            many copies of the row.

        Returns
        -------
        self : object
            The fitted mixture.
        """
        self._fit(X, sample_weight, want_labels=False)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the model to X and return the most probable component of each row.

        Equal to ``fit(X).predict(X)`` for any ``max_iter``, ``tol`` and
        ``random_state``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, one row per sample.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        return self._fit(X, sample_weight, want_labels=True)

    def _fit(self, X, sample_weight, want_labels, initialise_only=False):
        n_threads = self._check_parameters()
        if _is_chunk_source(X):
            if sample_weight is not None:
                raise ValueError(
                    "sample_weight cannot be given with a chunked X: yield pairs "
                    "(X_chunk, sample_weight_chunk) from the chunk source instead")
            return self._fit_rows(ChunkRows(X, allow_nan=self._marginalizes), None, n_threads,
                                  want_labels, initialise_only)
        feature_names = v.feature_names_of(X)
        # for a memory map larger than RAM, each pass drops the pages it is done with
        with releasing_pages(X):
            X = v.check_array(X, ensure_min_samples=2, estimator=type(self).__name__,
                              allow_nan=self._marginalizes)
            sample_weight = v.check_sample_weight(sample_weight, X.shape[0])
            return self._fit_rows(ArrayRows(X, sample_weight), feature_names, n_threads,
                                  want_labels, initialise_only)

    def _fit_rows(self, data, feature_names, n_threads, want_labels, initialise_only=False):
        """Fit on a row source; ``initialise_only``: one start and no EM iteration."""
        n_samples, n_features = data.n_rows, data.n_features
        if n_samples < 2:
            raise ValueError(f"Found {n_samples} sample(s) while a minimum of 2 is required "
                             f"by {type(self).__name__}.")
        v.check_n_features(n_features, self.covariance_type)
        if n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got "
                f"n_components = {self.n_components}, n_samples = {n_samples}")
        init = self._check_initial_values(n_features)

        do_init = not (self.warm_start and hasattr(self, "converged_"))
        if not do_init and self.n_features_in_ != n_features:
            raise ValueError(
                f"X has {n_features} features, but the warm-started {type(self).__name__} "
                f"was fitted with {self.n_features_in_} features")
        n_init = self.n_init if do_init else 1
        max_iter = 0 if initialise_only else self.max_iter
        random_state = v.check_random_state(self.random_state)

        self._events = []
        self._random_state = random_state
        try:
            self._prepare_fit(data, n_threads)
            return self._fit_inits(data, init, do_init, n_init, max_iter, n_threads,
                                   feature_names, want_labels, initialise_only)
        finally:
            # scratch of this fit only; what is kept is degenerate_events_
            del self._events, self._random_state
            self.__dict__.pop("_init_index", None)

    def _prepare_fit(self, data, n_threads):
        """What a fit takes from all its rows before the first start (the Bayesian
        mixture's default priors); nothing for EM."""

    def _fit_inits(self, data, init, do_init, n_init, max_iter, n_threads, feature_names,
                   want_labels, initialise_only=False):
        """The n_init EM runs, the choice of the best and the fitted attributes.

        ``initialise_only`` (the start of a stream, from its first batch): no EM
        iteration; of several starts, the one under which the rows are most
        likely is kept.
        """
        n_features = data.n_features
        random_state = self._random_state
        best = None
        with blas_single_threaded():
            for init_index in range(n_init):
                self._print_verbose_init_start(init_index)
                self._init_index = init_index
                params = None  # the last start's, unless best holds it
                if do_init:
                    def start():
                        return self._initial_parameters(data.init_rows(), random_state,
                                                        n_threads, init)
                    lower_bound = -np.inf
                else:
                    start = self._current_parameters
                    lower_bound = self.lower_bound_
                params, lower_bound, lower_bounds, n_iter, converged = self._run_em(
                    data, start, lower_bound, max_iter, n_threads)
                if initialise_only and n_init > 1:
                    lower_bound = data.statistics(self._params_for_kernels(params, data.dtype),
                                                  n_threads).mean_loglik
                if best is None or lower_bound > best[1] or best[1] == -np.inf:
                    best = (params, lower_bound, lower_bounds, n_iter, converged)

            params, lower_bound, lower_bounds, n_iter, converged = best
            if not converged and max_iter > 0:
                warn("Best performing initialization did not converge. Try different "
                     "init parameters, or increase max_iter, tol, or check for degenerate "
                     "data.", ConvergenceWarning)
            self._set_parameters(params, data.dtype)
            self.converged_ = bool(converged)
            self.n_iter_ = n_iter
            self.lower_bound_ = lower_bound
            self.lower_bounds_ = lower_bounds
            self.degenerate_events_ = self._events
            self.n_features_in_ = n_features
            self._start_stream(data, initialise_only)
            if feature_names is not None:
                self.feature_names_in_ = feature_names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            if want_labels:
                # One more E-step with the kept parameters, so that
                # fit_predict(X) == fit(X).predict(X) whatever max_iter and tol.
                return data.labels(self._kernel_params(data.dtype), n_threads)
        return None

    def _start_stream(self, data, initialise_only):
        """What a fit resets for partial_fit to continue from: the fit's rows count
        as seen (none when it only initialised), and no running statistics."""
        self.n_samples_seen_ = 0.0 if initialise_only else data.total_weight
        self.n_batches_seen_ = 0
        self.statistics_ = None

    def _blend_batch(self, stats, running, seen, starting):
        """A batch's statistics blended into the running ones, per unit weight:
        s ← (1 − η) s + η s_batch, η = (t + 1) ** −learning_decay with t the batches
        of this one's weight seen before it.  A fitted or loaded model (not
        ``starting``, no running statistics) starts from the statistics its
        parameters imply (``_implied_statistics``), worth ``seen`` of weight (at
        least this batch's).  Returns (running statistics, weight seen before)."""
        weight = stats.total_weight
        batch = stats.scaled(1.0 / weight)
        if running is None and not starting:
            running = self._implied_statistics()
            seen = max(seen, weight)
        if running is None:
            return batch, seen
        eta = (seen / weight + 1.0) ** -float(self.learning_decay)
        return running.scaled(1.0 - eta) + batch.scaled(eta), seen

    def _run_em(self, data, start, lower_bound, max_iter, n_threads):
        """EM iterations from ``start()``'s parameters; returns the last parameters and
        the trace.  Only this frame holds θ_t, so that its k d² arrays are freed
        before θ_{t+1}'s are made."""
        params = start()
        lower_bounds = []
        converged = False
        n_iter = 0
        for n_iter in range(1, max_iter + 1):
            previous = lower_bound
            kparams = self._params_for_kernels(params, data.dtype)
            # θ_t's covariances are not needed again (the E-step reads its precision
            # factors, and the loop returns θ_{t+1}): their k d² go before the pass
            params = None
            # One pass: the statistics for θ_{t+1} (and EM's lower bound under θ_t).
            stats = data.statistics(kparams, n_threads)
            if stats.n_nonfinite:
                raise NonFiniteLikelihoodError(stats.n_nonfinite, data.dtype)
            kparams = None  # and its factors before θ_{t+1}'s are made
            params = self._m_step(stats, data.dtype, data, n_iter)
            lower_bound = self._lower_bound(stats, params)
            stats = None
            lower_bounds.append(lower_bound)
            change = lower_bound - previous
            self._print_verbose_iter_end(n_iter, change, lower_bound)
            if abs(change) < self.tol:
                converged = True
                break
        if max_iter == 0:
            lower_bound = -np.inf  # no E-step ran: nothing bounds the likelihood
        else:
            self._print_verbose_init_end(lower_bound, converged)
        return params, lower_bound, lower_bounds, n_iter, converged

    # ------------------------------------------------------------------
    # Using a fitted model
    # ------------------------------------------------------------------

    def _check_predict_input(self, X, allow_nan=None):
        self._check_is_fitted()
        v.check_feature_names(X, getattr(self, "feature_names_in_", None), type(self).__name__)
        X = v.check_array(X, estimator=type(self).__name__,
                          allow_nan=self._marginalizes if allow_nan is None else allow_nan)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input.")
        return X

    def _outputs(self, X, **which):
        if not may_be_mapped(X):  # the common case, without a context (one-row latency)
            return self._outputs_of(X, which)
        with releasing_pages(X):
            return self._outputs_of(X, which)

    def _outputs_of(self, X, which):
        X = self._check_predict_input(X)
        # a small batch is one chunk, run in the calling thread: skip the thread count
        n_threads = (1 if X.shape[0] < 2 * MIN_ROWS_PER_CHUNK
                     else effective_n_threads(self.n_threads))
        # in the model's precision, or the data's where that is higher (scikit-learn
        # computes a float64 model's outputs of float32 rows in float64)
        dtype = np.result_type(X.dtype, self.means_.dtype)
        return e_step_outputs(X, self._kernel_params(dtype), n_threads, **which)

    def predict(self, X):
        """The most probable component of each sample (hard labels).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, one per row.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        return self._outputs(X, labels=True)[2]

    def predict_proba(self, X):
        """Posterior probability of each component for each sample (responsibilities).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, one per row.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Rows sum to one.
        """
        return self._outputs(X, resp=True)[0]

    def score_samples(self, X):
        """Log-likelihood of each sample under the model, log p(x).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, one per row.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        return self._outputs(X, log_prob_norm=True)[1]

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood of the samples (weighted by sample_weight when given).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, one per row.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample.

        Returns
        -------
        log_likelihood : float
        """
        log_prob = self.score_samples(X)
        if sample_weight is None:
            return float(np.mean(log_prob))  # in log_prob's dtype, as scikit-learn's
        w = v.check_sample_weight(sample_weight, log_prob.shape[0])
        return float(w @ log_prob / w.sum())

    def sample(self, n_samples=1):
        """Draw random samples from the fitted mixture.

        Uses ``random_state`` as scikit-learn does, so the draws equal
        scikit-learn's for the same parameters and seed.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The samples, grouped by component.
        y : ndarray of shape (n_samples,)
            The component of each sample.
        """
        self._check_is_fitted()
        if not v._integral(n_samples) or n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples!r}. The sampling requires at "
                "least one sample.")
        n_features = self.means_.shape[1]
        rng = v.check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, np.asarray(self.weights_, np.float64))
        means = np.asarray(self.means_, np.float64)
        covariances = np.asarray(self.covariances_, np.float64)
        if self.covariance_type == "full":
            parts = [rng.multivariate_normal(m, c, int(n)) for m, c, n in
                     zip(means, covariances, counts)]
        elif self.covariance_type == "tied":
            parts = [rng.multivariate_normal(m, covariances, int(n)) for m, n in
                     zip(means, counts)]
        else:
            parts = [m + rng.standard_normal(size=(n, n_features)) * np.sqrt(c)
                     for m, c, n in zip(means, covariances, counts)]
        y = np.concatenate([np.full(int(n), i, dtype=np.int64) for i, n in enumerate(counts)])
        return np.vstack(parts).astype(np.float64), y

    # ------------------------------------------------------------------
    # Statistics of chunks
    # ------------------------------------------------------------------

    def accumulate(self, X, sample_weight=None):
        """Sufficient statistics of X under the current parameters (one E-step).

        Statistics of disjoint chunks add, so one iteration over data that never
        sits in memory at once is::

            stats = sum(model.accumulate(chunk) for chunk in chunks)
            model.update(stats)

        which gives the same parameters as an iteration of ``fit`` on all the
        rows (to rounding).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A chunk of rows.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row.

        Returns
        -------
        stats : SufficientStatistics
        """
        with releasing_pages(X):
            X = self._check_predict_input(X)
            sample_weight = v.check_sample_weight(sample_weight, X.shape[0],
                                                  allow_all_zero=True)
            stats = self._statistics_of(X, sample_weight)
        stats.worst_rows = []  # row indices of this chunk: meaningless once chunks add
        return stats

    def _statistics_of(self, X, sample_weight):
        """Statistics of validated rows under the current parameters."""
        n_threads = (1 if X.shape[0] < 2 * MIN_ROWS_PER_CHUNK
                     else effective_n_threads(self.n_threads))
        dtype = np.result_type(X.dtype, self.means_.dtype)  # as _outputs_of
        X = np.asarray(X, dtype=dtype)
        with blas_single_threaded():
            stats = e_step_statistics(X, sample_weight, self._kernel_params(dtype), n_threads)
        if stats.n_nonfinite:
            raise NonFiniteLikelihoodError(stats.n_nonfinite, X.dtype)
        return stats

    def _check_statistics(self, stats):
        if not isinstance(stats, SufficientStatistics):
            raise TypeError(f"expected SufficientStatistics, got {type(stats).__name__}")
        if (stats.covariance_type != self.covariance_type
                or stats.shifts.shape != self.means_.shape):
            raise ValueError(
                f"statistics of a {stats.covariance_type!r} mixture with "
                f"{stats.shifts.shape[0]} components and {stats.shifts.shape[1]} features do "
                f"not fit this {self.covariance_type!r} mixture with {self.n_components} "
                f"components and {self.means_.shape[1]} features")

    def _apply(self, stats, data):
        """M-step from ``stats`` onto the fitted attributes (``data``: the rows, if at hand)."""
        dtype = self.means_.dtype
        self._events = self.degenerate_events_ = list(getattr(self, "degenerate_events_", []))
        self._random_state = v.check_random_state(self.random_state)
        try:
            # tiny LAPACK calls: a BLAS thread pool's wake-ups would cost more than them
            with blas_single_threaded():
                params = self._m_step(stats, dtype, data, getattr(self, "n_iter_", 0))
        finally:
            del self._events, self._random_state
        self._set_parameters(params, dtype)
        self.lower_bound_ = self._lower_bound(stats, params)

    # ------------------------------------------------------------------
    # Model files
    # ------------------------------------------------------------------

    def save(self, file):
        """Write the fitted model to a versioned .npz file.

        The file holds only arrays and JSON text: :meth:`load` reads it with
        ``allow_pickle=False``, so a model file cannot run code.

        Parameters
        ----------
        file : str, os.PathLike or binary file object
            Where to write (numpy adds '.npz' to a path without it).
        """
        _persistence.save(self, file)

    @classmethod
    def load(cls, file):
        """Read a model written by :meth:`save`, checking every array.

        Parameters
        ----------
        file : str, os.PathLike or binary file object

        Returns
        -------
        model
            The fitted model, of this class.

        Raises
        ------
        ValueError
            (``ModelFileError``) for a file of another format, of a newer format
            version, or with missing, mis-shaped or non-finite arrays.
        """
        return _persistence.load(cls, file)

    # ------------------------------------------------------------------
    # scikit-learn's estimators
    # ------------------------------------------------------------------

    @classmethod
    def from_sklearn(cls, estimator, **params):
        """A gmmcore model from a fitted scikit-learn estimator of the same name
        (``GaussianMixture``, ``BayesianGaussianMixture``).

        Parameters and fitted attributes are copied unchanged, so the model
        predicts what ``estimator`` does; gmmcore's own parameters (``n_threads``,
        ``on_degenerate``) keep their defaults unless given in ``params``.

        Parameters
        ----------
        estimator : sklearn.mixture.GaussianMixture or BayesianGaussianMixture
            A fitted scikit-learn mixture.
        **params
            gmmcore parameters to set on the new model.

        Returns
        -------
        model
            A fitted gmmcore model of this class.
        """
        return _interop.from_sklearn(cls, estimator, **params)

    def to_sklearn(self):
        """This fitted model as scikit-learn's estimator of the same name (needs
        scikit-learn).

        Parameters scikit-learn knows and every fitted attribute are copied
        unchanged, so the result predicts what this model does.

        Returns
        -------
        estimator : sklearn.mixture.GaussianMixture or BayesianGaussianMixture
        """
        return _interop.to_sklearn(self)

    # ------------------------------------------------------------------
    # Verbose output (scikit-learn's format)
    # ------------------------------------------------------------------

    def _print_verbose_init_start(self, n_init):
        if self.verbose >= 1:
            print(f"Initialization {n_init}")
        if self.verbose >= 2:
            self._init_prev_time = self._iter_prev_time = perf_counter()

    def _print_verbose_iter_end(self, n_iter, diff_ll, lower_bound):
        if n_iter % self.verbose_interval != 0:
            return
        if self.verbose == 1:
            print(f"  Iteration {n_iter}")
        elif self.verbose >= 2:
            now = perf_counter()
            # scikit-learn's line, plus the mean log-likelihood itself
            print(f"  Iteration {n_iter}\t time lapse {now - self._iter_prev_time:.5f}s\t "
                  f"ll change {diff_ll:.5f}\t log-likelihood {lower_bound:.5f}", flush=True)
            self._iter_prev_time = now

    def _print_verbose_init_end(self, lower_bound, converged):
        message = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {message}.")
        elif self.verbose >= 2:
            elapsed = perf_counter() - self._init_prev_time
            print(f"Initialization {message}. time lapse {elapsed:.5f}s\t lower bound "
                  f"{lower_bound:.5f}.")


class GaussianMixture(_BaseMixture):
    """Gaussian mixture model fitted by Expectation-Maximization.

    A drop-in for :class:`sklearn.mixture.GaussianMixture`: the same parameters,
    fitted attributes and methods, computed by compiled kernels that make one
    pass over the data per EM iteration, release the GIL and run on all cores.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        'full': each component has its own general covariance matrix;
        'tied': all components share one general covariance matrix;
        'diag': each component has its own diagonal covariance matrix;
        'spherical': each component has its own single variance.
    tol : float, default=1e-3
        Convergence threshold: EM stops when the change of the mean
        log-likelihood (the lower bound) between iterations is below it.
    reg_covar : float, default=1e-6
        Non-negative regularization added to the diagonal of covariances.
    max_iter : int, default=100
        The number of EM iterations to perform.
    n_init : int, default=1
        The number of initializations to perform; the best result is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How the initial weights, means and precisions are chosen: from the labels of
        k-means, from k-means++ seeds, from random responsibilities, or from
        randomly chosen data points.
    weights_init : array-like of shape (n_components,), default=None
        User-provided initial weights (otherwise from ``init_params``).
    means_init : array-like of shape (n_components, n_features), default=None
        User-provided initial means (otherwise from ``init_params``).
    precisions_init : array-like, default=None
        User-provided initial precisions (inverses of the covariances), of shape
        (n_components,) for 'spherical', (n_features, n_features) for 'tied',
        (n_components, n_features) for 'diag' and
        (n_components, n_features, n_features) for 'full'.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialization and :meth:`sample`.  An int gives the same start
        as scikit-learn's GaussianMixture with the same int.
    warm_start : bool, default=False
        If True, each fit starts from the previous fit's solution (and ``n_init``
        is ignored after the first fit).
    verbose : int, default=0
        1 prints each initialization and iteration; 2 also prints the time and
        the change of the lower bound.
    verbose_interval : int, default=10
        Number of iterations between two verbose prints.
    n_threads : int or None, default=None
        Threads for the per-sample work.  None uses every CPU this process may use
        (capped by OMP_NUM_THREADS); a negative number counts back from there
        (-1: all, -2: all but one).  Results are identical for any number of
        threads.
    on_degenerate : {'raise', 'reseed', 'regularize'}, default='raise'
        What to do when a component degenerates during a fit.  'raise' is
        scikit-learn's behaviour: a covariance that is not positive definite
        (a component collapsed on too few distinct points) raises ValueError.
        'reseed' moves a collapsed or empty component (less than one sample's
        weight) to the sample the mixture explains worst, with the mixture's
        pooled covariance (when no component is healthy, it regularizes instead).
        'regularize' adds a growing multiple of the mean variance to a collapsed
        covariance's diagonal until it is definite.
        Each action is recorded in ``degenerate_events_``.
    partial_fit_mode : {'stepwise', 'exact'}, default='stepwise'
        How :meth:`partial_fit` uses a batch.  'stepwise' (stepwise EM): the
        batch's statistics, per unit weight, are blended into running ones as
        ``s ← (1 − η) s + η s_batch`` and the parameters are re-estimated from
        ``s``.  'exact': the batch's statistics under the current parameters are
        added to ``statistics_`` and the parameters change only when
        :meth:`update` is called, so that a pass over every batch followed by
        ``update()`` is exactly one EM iteration of ``fit`` on all the rows.
    learning_decay : float, default=0.6
        Stepwise EM's step for a batch is ``η = (t + 1) ** -learning_decay``,
        where ``t = n_samples_seen_ / Σ w_batch`` counts the batches of its
        weight that came before it (1.0: the running mean of every row seen).  In
        (0.5, 1]: the usual
        condition for convergence on a stationary stream; smaller values forget
        faster and follow a drifting stream.
    nan_policy : {'raise', 'marginalize'}, default='raise'
        'raise' is scikit-learn's behaviour: NaN in X raises ValueError.
        'marginalize' takes NaN entries as missing at random (Ghahramani and
        Jordan, 1994): a row's likelihood and responsibilities are those of its
        observed features (a row with none observed has log-likelihood 0 and the
        weights as responsibilities), and the M-step takes the missing entries at
        their conditional means given the observed ones, with the conditional
        covariance added to the second moments.  fit, partial_fit, accumulate,
        predict, predict_proba, score_samples, score, bic and aic all accept NaN;
        :meth:`impute` fills it in.  The start (``init_params``) is taken on the
        complete rows when there are at least 10 per component (rows with gaps
        filled with column means would gather along lines through the middle and
        pull the start there), else on all rows with each NaN replaced by its
        column's mean; data without NaN fit exactly as with 'raise'.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The weight of each mixture component.
    means_ : ndarray of shape (n_components, n_features)
        The mean of each mixture component.
    covariances_ : ndarray
        The covariance of each component; shape as ``precisions_init``.
    precisions_ : ndarray
        The precision matrices (inverse covariances); shape as ``covariances_``.
    precisions_cholesky_ : ndarray
        Upper-triangular Cholesky factors U of the precisions (P = U Uᵀ).
    converged_ : bool
        True when the best initialization's EM converged.
    n_iter_ : int
        EM iterations of the best initialization.
    lower_bound_ : float
        Mean log-likelihood of the training data at the best initialization's last
        iteration.
    lower_bounds_ : list of float
        The mean log-likelihood at each iteration of the best initialization.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during fit, when X has string column names.
    degenerate_events_ : list of dict
        What ``on_degenerate`` did during fit, one dict per action with keys
        'init', 'iteration', 'component', 'reason' ('empty' or 'not positive
        definite'), 'action' ('reseeded' or 'regularized') and, for
        'regularized', 'added' (the value added to the diagonal).  Empty when
        nothing degenerated.
    n_samples_seen_ : float
        The total sample weight (the number of rows, without weights) that the
        current parameters were estimated from: ``fit``'s rows, then each
        stepwise batch added.  A later stepwise :meth:`partial_fit` weighs its
        batch against it.
    n_batches_seen_ : int
        Batches given to :meth:`partial_fit` since the last ``fit``.
    statistics_ : SufficientStatistics or None
        :meth:`partial_fit`'s running statistics: per unit weight for
        'stepwise', the pending sums for 'exact' (None after ``fit`` and after
        :meth:`update`).

    Examples
    --------
    >>> import numpy as np
    >>> from gmmcore import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> gm.means_
    array([[10.,  2.],
           [ 1.,  2.]])
    >>> gm.predict([[0, 0], [12, 3]])
    array([1, 0])
    """

    _ARRAY_PARAMS = ("weights_init", "means_init", "precisions_init")

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
        partial_fit_mode="stepwise",
        learning_decay=0.6,
        nan_policy="raise",
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads
        self.on_degenerate = on_degenerate
        self.partial_fit_mode = partial_fit_mode
        self.learning_decay = learning_decay
        self.nan_policy = nan_policy

    def _check_own_parameters(self, name):
        v.check_option("on_degenerate", self.on_degenerate, _ON_DEGENERATE, name)
        v.check_option("partial_fit_mode", self.partial_fit_mode, _PARTIAL_FIT_MODES, name)
        v.check_option("nan_policy", self.nan_policy, _NAN_POLICIES, name)

    def _check_initial_values(self, n_features):
        k = self.n_components
        weights = means = precisions = None
        if self.weights_init is not None:
            weights = v.check_weights_init(self.weights_init, k)
        if self.means_init is not None:
            means = v.check_means_init(self.means_init, k, n_features)
        if self.precisions_init is not None:
            precisions = v.check_precisions_init(self.precisions_init, self.covariance_type,
                                                 k, n_features)
        return weights, means, precisions

    def _initial_parameters(self, rows, random_state, n_threads, init):
        X, sample_weight, total_weight = rows.X, rows.sample_weight, rows.total_weight
        if self._marginalizes and not all_finite(X):
            X, sample_weight = start_rows(X, sample_weight, self.n_components)
            total_weight = float(len(X) if sample_weight is None else sample_weight.sum())
        weights_init, means_init, precisions_init = init
        cov_type = self.covariance_type
        weights = means = covariances = None
        if weights_init is None or means_init is None or precisions_init is None:
            stats = initial_statistics(X, sample_weight, self.init_params, self.n_components,
                                       cov_type, random_state, n_threads)
            nk, means, covariances = estimate_parameters(stats, self.reg_covar,
                                                         np.finfo(X.dtype).eps)
            weights = nk / total_weight
            if precisions_init is None:
                self._repair(rows, stats, weights, means, covariances, 0)
        if weights_init is not None:
            weights = weights_init
        if means_init is not None:
            means = means_init
        if precisions_init is None:
            precisions_cholesky = precisions_cholesky_from_covariances(covariances, cov_type,
                                                                       X.dtype)
        else:
            precisions_cholesky = TYPES[cov_type].cholesky_from_precisions(precisions_init)
            covariances = TYPES[cov_type].covariances_from_cholesky(precisions_cholesky)
        return _Params(np.asarray(weights, np.float64), np.asarray(means, np.float64),
                       covariances, precisions_cholesky)

    def _implied_statistics(self):
        return implied_statistics(self)

    def _lower_bound(self, stats, params):
        """EM's: the mean log-likelihood of the rows under the parameters of the
        pass that gave ``stats``."""
        return stats.mean_loglik

    def _params_for_kernels(self, params, dtype):
        return KernelParams(params.weights, params.means, params.precisions_cholesky,
                            self.covariance_type, dtype, marginalize=self._marginalizes)

    def _m_step(self, stats, dtype, data, n_iter):
        """New parameters from statistics: the one M-step of fit, update and partial_fit.

        ``data`` (ArrayRows or ChunkRows) holds the rows the statistics came from
        when they are at hand (for re-seeding degenerate components), else None.
        """
        nk, means, covariances = estimate_parameters(stats, self.reg_covar,
                                                     np.finfo(dtype).eps)
        weights = nk / nk.sum()
        weights = self._repair(data, stats, weights, means, covariances, n_iter)
        # Factorising matrices of many features takes long enough for BLAS's own
        # threads (none run beside it) to pay back switching them on.
        wide = means.shape[1] >= _WIDE_M_STEP and TYPES[self.covariance_type].matrix
        with (blas_threads(effective_n_threads(self.n_threads)) if wide
              else contextlib.nullcontext()):
            precisions_cholesky = precisions_cholesky_from_covariances(
                covariances, self.covariance_type, dtype)
        return _Params(weights, means, covariances, precisions_cholesky)

    def _repair(self, data, stats, weights, means, covariances, n_iter):
        """Apply ``on_degenerate`` to new parameters (in place); returns the weights.

        Without the rows (``data`` None, in ``update``) a collapsed component is
        regularized instead of re-seeded, and an empty one keeps its tiny weight.
        """
        if self.on_degenerate == "raise":
            return weights
        cov_type = self.covariance_type
        collapsed = non_definite_components(covariances, cov_type)
        if self.on_degenerate == "regularize" or data is None:
            self._regularize(data, covariances, collapsed, n_iter, weights, means)
            return weights
        one_sample = stats.weight / data.n_rows
        empty = [int(c) for c in np.flatnonzero(stats.nk < one_sample)]
        if cov_type == "tied":  # one shared covariance: move empty means, regularize
            self._regularize(data, covariances, collapsed, n_iter, weights, means)
            moved = {c: "empty" for c in empty}
        else:
            moved = {c: "not positive definite" for c in collapsed}
            for c in empty:
                moved.setdefault(c, "empty")
        if not moved:
            return weights
        healthy = [c for c in range(len(weights)) if c not in moved]
        if cov_type != "tied":
            if not healthy:  # nothing to borrow a covariance from
                self._regularize(data, covariances, collapsed, n_iter, weights, means)
                return weights
            pooled = pooled_covariance(weights[healthy], covariances[healthy], cov_type)
        # the samples the mixture explains worst (one per chunk of the pass), then
        # random ones, so that no two components are moved onto the same sample
        candidates = list(dict.fromkeys(stats.worst_rows))
        if len(candidates) < len(moved):
            extra = choice_without_replacement(self._random_state, data.n_rows, len(moved))
            candidates += [int(r) for r in extra if r not in candidates]
        chosen = candidates[:len(moved)]
        seeds = data.rows(chosen)
        if self._marginalizes:  # a missing entry of a seed: the mixture's mean there
            seeds = np.where(np.isnan(seeds), weights @ means / weights.sum(), seeds)
        for i, (c, reason) in enumerate(sorted(moved.items())):
            row = chosen[i]
            means[c] = seeds[i]
            if cov_type != "tied":
                covariances[c] = pooled
            weights[c] = 1.0 / data.n_rows
            self._record(n_iter, c, reason, "reseeded", sample=int(row))
        # the pooled covariance of nearly singular components can itself be singular
        self._regularize(data, covariances, non_definite_components(covariances, cov_type),
                         n_iter, weights, means)
        return weights / weights.sum()

    def _record(self, n_iter, component, reason, action, **extra):
        self._events.append(dict(init=getattr(self, "_init_index", None), iteration=n_iter,
                                 component=int(component), reason=reason, action=action,
                                 **extra))

    def _regularize(self, data, covariances, components, n_iter, weights, means):
        """Add a growing multiple of the data's variance to each collapsed covariance."""
        cov_type = self.covariance_type
        if not components:
            return
        if data is not None:
            variance = float(np.mean(data.column_variances()))
        else:  # the mixture's own spread: mean within-component and between-means variance
            w = weights / weights.sum()
            spread = pooled_covariance(w, covariances, cov_type)
            within = np.mean(np.diagonal(spread) if np.ndim(spread) == 2 else spread)
            centre = w @ means
            variance = float(within + np.mean(w @ (means - centre) ** 2))
        start = max(self.reg_covar, 1e-10 * (variance if np.isfinite(variance) and variance > 0
                                             else 1.0))
        for c in components:
            added = start
            if not TYPES[cov_type].matrix:  # positive as soon as anything is added
                covariances[c] = np.maximum(covariances[c], 0.0) + added
            else:
                matrix = covariances if cov_type == "tied" else covariances[c]
                eye = np.eye(matrix.shape[0])
                while non_definite_components((matrix + added * eye)[None], "full"):
                    added *= 10.0
                matrix += added * eye
            self._record(n_iter, c, "not positive definite", "regularized", added=float(added))

    def _current_parameters(self):
        return _Params(np.asarray(self.weights_, np.float64),
                       np.asarray(self.means_, np.float64),
                       np.asarray(self.covariances_, np.float64),
                       np.asarray(self.precisions_cholesky_, np.float64))

    def _set_parameters(self, params, dtype):
        # the fit's own float64 (co)variances where the data are float64 (no copies:
        # k d² each for full covariances); weights and means may be the user's
        # *_init arrays, which are copied
        self.weights_ = params.weights.astype(dtype)
        self.means_ = params.means.astype(dtype)
        self.covariances_ = np.asarray(params.covariances).astype(dtype, copy=False)
        self.precisions_cholesky_ = np.asarray(params.precisions_cholesky).astype(
            dtype, copy=False)
        self.precisions_ = TYPES[self.covariance_type].precisions_from_cholesky(
            np.asarray(params.precisions_cholesky, np.float64)).astype(dtype, copy=False)

    def _kernel_params(self, dtype):
        """The fitted parameters in the kernels' form, cached while they are unchanged.

        The cache is checked against copies of the arrays it was built from, so
        parameters replaced or edited in place after fit are always picked up.
        """
        cached = _KERNEL_PARAMS_CACHE.get(self)
        arrays = (self.weights_, self.means_, self.precisions_cholesky_)
        if cached is not None:
            key, sources, kparams = cached
            if key == (np.dtype(dtype), self.covariance_type, self._marginalizes) and all(
                    same_bytes(a, b) for a, b in zip(arrays, sources)):
                return kparams
        kparams = KernelParams(*arrays, self.covariance_type, dtype,
                               marginalize=self._marginalizes)
        _KERNEL_PARAMS_CACHE[self] = ((np.dtype(dtype), self.covariance_type,
                                       self._marginalizes),
                                      tuple(np.array(a, copy=True) for a in arrays), kparams)
        return kparams

    # ------------------------------------------------------------------
    # Sufficient statistics and streaming
    # ------------------------------------------------------------------

    def update(self, stats=None):
        """The M-step: set the parameters from sufficient statistics.

        Parameters
        ----------
        stats : SufficientStatistics, default=None
            Statistics from :meth:`accumulate` (summed over chunks).  None applies
            and clears the statistics gathered by ``partial_fit`` with
            ``partial_fit_mode='exact'``.

        Returns
        -------
        self : GaussianMixture
            ``lower_bound_`` becomes the mean log-likelihood of the rows under the
            parameters the statistics were taken under.
        """
        self._check_is_fitted()
        if stats is None:
            stats = getattr(self, "statistics_", None)
            if stats is None or self.partial_fit_mode != "exact":
                raise ValueError("update() without statistics applies those gathered by "
                                 "partial_fit with partial_fit_mode='exact'; none are pending")
            self.statistics_ = None
        self._check_statistics(stats)
        if stats.total_weight <= 0:
            raise ValueError("the statistics hold no rows of positive weight")
        self._apply(stats, None)
        self.n_samples_seen_ = stats.total_weight
        return self

    def partial_fit(self, X, y=None, sample_weight=None):
        """Fit on a batch of a stream: one EM step that folds the batch into running
        statistics (data that arrives over time, or does not fit in memory).

        The stream starts from the fitted model where there is one (after ``fit``,
        ``load`` or earlier batches).  Otherwise the first batch initialises the
        mixture as ``fit`` would (``init_params``, ``*_init``, ``random_state``,
        and ``n_init`` starts of which the one under which the batch is most
        likely is kept), so a stepwise stream depends on its first batch's start.
        Then, by ``partial_fit_mode``:

        - 'stepwise' (stepwise EM): the batch's statistics, normalised per unit
          weight, are blended into the running ones as
          ``s ← (1 − η) s + η s_batch`` with ``η = (t + 1) ** -learning_decay``,
          where ``t = n_samples_seen_ / Σ w_batch`` counts the batches of this
          one's weight that came before it, and the parameters are re-estimated
          from ``s``.  A fitted or loaded model's running statistics are those
          its parameters imply: a small batch moves a model fitted on many rows
          a little.
        - 'exact': the batch's statistics under the current parameters are added
          to ``statistics_`` and the parameters do not change until
          :meth:`update` is called.  One pass over every batch followed by
          ``update()`` is exactly one EM iteration of ``fit`` on all the rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The batch.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row.

        Returns
        -------
        self : GaussianMixture
        """
        self._check_parameters()
        starting = not hasattr(self, "means_")
        if starting:  # the start, from this batch, as fit's
            self._fit(X, sample_weight, want_labels=False, initialise_only=True)
        X = self._check_predict_input(X)
        sample_weight = v.check_sample_weight(sample_weight, X.shape[0])
        stats = self._statistics_of(X, sample_weight)
        mode = self.partial_fit_mode
        running = getattr(self, "statistics_", None)
        if running is not None and getattr(self, "_stream_mode", mode) != mode:
            running = None  # switching modes starts the running statistics anew
        self._stream_mode = mode
        worst_rows, stats.worst_rows = stats.worst_rows, []
        seen = float(getattr(self, "n_samples_seen_", 0.0))
        if mode == "exact":
            self.statistics_ = stats if running is None else running + stats
        else:
            running, seen = self._blend_batch(stats, running, seen, starting)
            self.statistics_ = running
            # re-seeding candidates: this batch's worst rows (indices into X)
            step = running.copy()
            step.worst_rows = worst_rows
            self._apply(step, ArrayRows(X, sample_weight))
            self.n_samples_seen_ = seen + stats.total_weight
        self.n_batches_seen_ = getattr(self, "n_batches_seen_", 0) + 1
        self.lower_bound_ = stats.mean_loglik
        return self

    def _n_parameters(self):
        return n_parameters(self.covariance_type, self.n_components, self.means_.shape[1])

    def _criterion_terms(self, X, sample_weight):
        """Σ w log p(x) and Σ w (the number of rows without weights)."""
        if sample_weight is None:
            n = _n_rows(X)
            return self.score(X) * n, n
        log_prob = self.score_samples(X)
        w = v.check_sample_weight(sample_weight, log_prob.shape[0])
        return float(w @ log_prob), float(w.sum())

    def impute(self, X):
        """X with each missing entry (NaN) replaced by its expectation under the
        mixture given the row's observed entries.

        E[x_m | x_o] = Σ_c r_c(x_o) (μ_c,m + Σ_c,mo Σ_c,oo⁻¹ (x_o − μ_c,o)): each
        component's conditional mean, weighted by the responsibilities of the
        observed entries.  A row with nothing observed gets the mixture's mean.
        Any ``nan_policy``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_filled : ndarray of shape (n_samples, n_features)
            A new array in X's floating dtype (float64 for other input); X itself is
            not modified.
        """
        X = self._check_predict_input(X, allow_nan=True)
        out = np.array(X, copy=True)
        marginals = Marginals(np.log(np.asarray(self.weights_, np.float64)), self.means_,
                              self.precisions_cholesky_, self.covariance_type)
        for s, _, _, incomplete in split_rows(X, 0, X.shape[0]):
            if incomplete is not None:
                out[s + incomplete] = impute_rows(marginals, X[s + incomplete])
        return out

    def bic(self, X, sample_weight=None):
        """Bayesian information criterion of the model on X (lower is better).

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample: the log-likelihood is weighted and the sample
            size is Σ w, so integer weights count as repeated rows.

        Returns
        -------
        bic : float
        """
        loglik, n = self._criterion_terms(X, sample_weight)
        return information_bic(loglik, n, self._n_parameters())

    def aic(self, X, sample_weight=None):
        """Akaike information criterion of the model on X (lower is better).

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample (integer weights count as repeated rows).

        Returns
        -------
        aic : float
        """
        loglik, _ = self._criterion_terms(X, sample_weight)
        return information_aic(loglik, self._n_parameters())


def _n_rows(X):
    shape = getattr(X, "shape", None)
    return shape[0] if shape is not None else len(X)


def _is_chunk_source(X):
    """A callable that returns chunks (not an array-like)."""
    return callable(X) and not hasattr(X, "__array__") and not hasattr(X, "shape")


def _html_parameters(estimator):
    from html import escape

    rows = "".join(f"<tr><td>{escape(name)}</td><td>{escape(repr(value))}</td></tr>"
                   for name, value in estimator.get_params().items())
    return (f"<div><strong>{escape(type(estimator).__name__)}</strong>"
            f"<table>{rows}</table></div>")
