"""BayesianGaussianMixture: variational inference of a Gaussian mixture on the same
kernels as GaussianMixture.

The variational E-step is the Gaussian log-density kernel under the expected
precisions (the Wishart posterior's ν W, whose Cholesky factors are
``precisions_cholesky_``) with per-component constants E[log π_k] − ½ d log ν_k +
½ (E[log |Λ_k|] − d / β_k); the M-step reads the same sufficient statistics as EM's
(N, S1, S2 around a shift), turned into scikit-learn's N_k, x̄_k and S_k and then into
the posterior's parameters (Bishop, Pattern Recognition and Machine Learning, §10.2,
and scikit-learn's BayesianGaussianMixture, whose results these are from the same
start).  The lower bound needs one more sum from the pass, Σ w Σ_k r log r, which the
E-step kernel adds up when asked (``KernelParams(..., entropy=True)``).
"""

import math

import numpy as np
from scipy.special import betaln, digamma, gammaln

from . import _validation as v
from ._covariance import TYPES
from ._init import initial_statistics
from ._kernels import same_bytes
from ._mixture import _KERNEL_PARAMS_CACHE, _BaseMixture
from ._mstep import (KernelParams, SufficientStatistics, estimate_parameters,
                     precisions_cholesky_from_covariances)

_ON_DEGENERATE = {"raise", "regularize"}
_PRIOR_TYPES = {"dirichlet_process", "dirichlet_distribution"}


class _Posterior:
    """The variational posterior during a fit, in float64: the weights' Dirichlet (a
    pair of Beta parameters per component for the Dirichlet process), the means'
    precision scale β and means m, the Wishart's degrees of freedom ν and
    covariances (W⁻¹ / ν) with the Cholesky factors of their inverses."""

    __slots__ = ("weight_concentration", "mean_precision", "means", "degrees_of_freedom",
                 "covariances", "precisions_cholesky")

    def __init__(self, weight_concentration, mean_precision, means, degrees_of_freedom,
                 covariances, precisions_cholesky):
        self.weight_concentration = weight_concentration
        self.mean_precision = mean_precision
        self.means = means
        self.degrees_of_freedom = degrees_of_freedom
        self.covariances = covariances
        self.precisions_cholesky = precisions_cholesky


class BayesianGaussianMixture(_BaseMixture):
    """Variational Bayesian estimation of a Gaussian mixture.

    A drop-in for scikit-learn's ``sklearn.mixture.BayesianGaussianMixture``: the same
    parameters, attributes and results from the same start, on gmmcore's kernels (one
    pass over the data per iteration, no n × d temporaries, every core).  A Dirichlet
    process prior (the default) or a Dirichlet distribution prior on the weights lets
    the fit switch components it does not need off: their weights shrink towards
    zero, so ``n_components`` is an upper bound rather than a guess.

    Parameters
    ----------
    n_components : int, default=1
        The largest number of components the mixture may use.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound between iterations.
    reg_covar : float, default=1e-6
        Added to the diagonal of the per-component covariance estimates.
    max_iter : int, default=100
    n_init : int, default=1
        Starts; the one with the highest lower bound is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        The responsibilities the first update starts from.
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}, \
default='dirichlet_process'
    weight_concentration_prior : float > 0, default=None
        The Dirichlet concentration γ (1 / n_components when None): smaller values put
        more weight on fewer components.
    mean_precision_prior : float > 0, default=None
        β₀, the precision of the means' prior (1 when None).
    mean_prior : array-like of shape (n_features,), default=None
        m₀, the means' prior (the data's mean when None).
    degrees_of_freedom_prior : float > n_features - 1, default=None
        ν₀ (n_features when None).
    covariance_prior : float or array-like, default=None
        The covariance prior of the Wishart (the data's covariance when None): a
        (n_features, n_features) matrix for 'full' and 'tied', per-feature variances
        for 'diag', a float for 'spherical'.
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        Start each fit from the previous fit's posterior.
    verbose : int, default=0
    verbose_interval : int, default=10
    n_threads : int or None, default=None
        Threads of the kernels (None: all cores, within threadpoolctl's limit).
    on_degenerate : {'raise', 'regularize'}, default='raise'
        What to do when the rows are of lower rank than n_features (a constant or
        collinear feature, fewer rows than features), so that the default
        covariance prior, their covariance, is singular and with it the posterior
        covariance of every component with few rows (of all, with
        ``reg_covar=0``).  'raise' is scikit-learn's behaviour (ValueError when a
        covariance is not positive definite).  'regularize' adds a multiple of the
        mean variance to the prior's diagonal, once before the fit (recorded in
        ``degenerate_events_``), so that the variational objective stays one
        function and the fit converges as usual.  GaussianMixture's 'reseed' has no
        counterpart: a definite prior keeps every posterior covariance definite,
        and components without rows are the prior switching them off, not a
        failure to repair.
    learning_decay : float in (0.5, 1], default=0.6
        κ of :meth:`partial_fit`'s step sizes ρ_t = (t + 1)^−κ (stochastic
        variational inference).

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_
        The posterior's expected weights, the means m_k, the covariances W_k⁻¹ / ν_k,
        their inverses and the upper Cholesky factors of those.
    weight_concentration_ : ndarray, or tuple of two ndarrays
        The Dirichlet's concentrations ('dirichlet_distribution') or the Beta
        parameters of each stick ('dirichlet_process').
    mean_precision_ : ndarray of shape (n_components,)
    degrees_of_freedom_ : ndarray of shape (n_components,), or float ('tied')
    weight_concentration_prior_, mean_precision_prior_, mean_prior_,
    degrees_of_freedom_prior_, covariance_prior_
        The priors used (the defaults resolved against the data).
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        The variational lower bound of the best start (up to a constant).
    lower_bounds_ : list of float
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on data with string column names.
    degenerate_events_ : list of dict
        What ``on_degenerate='regularize'`` did during fit: empty, or one dict whose
        ``component`` is None (the prior is every component's) and ``added`` the
        amount added to the prior's diagonal.
    """

    _ARRAY_PARAMS = ("mean_prior", "covariance_prior")
    _FITTED_ATTRIBUTES = _BaseMixture._FITTED_ATTRIBUTES + (
        "weight_concentration_", "mean_precision_", "degrees_of_freedom_",
        "weight_concentration_prior_", "mean_precision_prior_", "mean_prior_",
        "degrees_of_freedom_prior_", "covariance_prior_")

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
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads
        self.on_degenerate = on_degenerate
        self.learning_decay = learning_decay

    # ------------------------------------------------------------------
    # Parameters and priors
    # ------------------------------------------------------------------

    def _check_own_parameters(self, name):
        v.check_option("on_degenerate", self.on_degenerate, _ON_DEGENERATE, name)
        v.check_option("weight_concentration_prior_type", self.weight_concentration_prior_type,
                       _PRIOR_TYPES, name)
        for prior in ("weight_concentration_prior", "mean_precision_prior"):
            value = getattr(self, prior)
            if value is not None:
                _check_positive(prior, value, name)
        if self.degrees_of_freedom_prior is not None:
            v.check_real("degrees_of_freedom_prior", self.degrees_of_freedom_prior,
                         -np.inf, name)
        if self.covariance_type == "spherical" and self.covariance_prior is not None:
            _check_positive("covariance_prior", self.covariance_prior, name)

    def _check_initial_values(self, n_features):
        return None  # the start is always an assignment (init_params)

    def _prepare_fit(self, data, n_threads):
        self._set_priors(data, n_threads)

    def _set_priors(self, data, n_threads):
        """The priors, their defaults taken from the rows (scikit-learn's: the data's
        mean, its covariance with ddof 1, ν₀ = d, β₀ = 1, γ = 1 / n_components)."""
        d = data.n_features
        cov_type = self.covariance_type
        self.weight_concentration_prior_ = (
            1.0 / self.n_components if self.weight_concentration_prior is None
            else float(self.weight_concentration_prior))
        self.mean_precision_prior_ = (1.0 if self.mean_precision_prior is None
                                      else float(self.mean_precision_prior))
        if self.degrees_of_freedom_prior is None:
            self.degrees_of_freedom_prior_ = d
        elif self.degrees_of_freedom_prior > d - 1.0:
            self.degrees_of_freedom_prior_ = self.degrees_of_freedom_prior
        else:
            raise ValueError(
                "The parameter 'degrees_of_freedom_prior' should be greater than "
                f"{d - 1}, but got {self.degrees_of_freedom_prior:.3f}.")
        moments = None
        if self.mean_prior is None or self.covariance_prior is None:
            moments = data.moments(cov_type, n_threads)
        if self.mean_prior is None:
            self.mean_prior_ = moments[0]
        else:
            self.mean_prior_ = v._as_float_array(self.mean_prior, "means")
            v._check_shape(self.mean_prior_, (d,), "means")
        if self.covariance_prior is None:
            covariance = moments[1]
            self.covariance_prior_ = (np.atleast_2d(covariance) if TYPES[cov_type].matrix
                                      else covariance if cov_type == "diag"
                                      else float(np.mean(covariance)))
            if self.on_degenerate == "regularize":
                self._regularize_prior(np.finfo(data.dtype).eps)
        elif TYPES[cov_type].matrix:
            prior = v._as_float_array(self.covariance_prior, f"{cov_type} covariance_prior")
            v._check_shape(prior, (d, d), f"{cov_type} covariance_prior")
            v._check_precision_matrix(prior, cov_type)
            self.covariance_prior_ = prior
        elif cov_type == "diag":
            prior = v._as_float_array(self.covariance_prior, "diag covariance_prior")
            v._check_shape(prior, (d,), "diag covariance_prior")
            if np.any(prior <= 0.0):
                raise ValueError("'diag covariance_prior' should be positive")
            self.covariance_prior_ = prior
        else:
            self.covariance_prior_ = float(self.covariance_prior)

    def _regularize_prior(self, eps):
        """on_degenerate='regularize': make a covariance prior taken from rows of
        lower rank than n_features definite, adding to its diagonal the smallest of
        ``max(reg_covar, 1e-10 · mean variance) · 10^j`` that leaves no eigenvalue
        below ``n_features · eps`` times the largest (a constant feature, collinear
        features, fewer rows than features).  Recorded in ``degenerate_events_``."""
        prior = np.asarray(self.covariance_prior_, np.float64)
        d = self.mean_prior_.shape[0]
        variances = np.diagonal(prior) if prior.ndim == 2 else np.atleast_1d(prior)
        variance = float(np.mean(variances))

        def definite(p):
            values = (np.linalg.eigvalsh(p) if p.ndim == 2 else np.atleast_1d(p))
            return values.min() > d * eps * max(values.max(), 0.0)

        if definite(prior):
            return
        added = max(self.reg_covar, 1e-10 * (variance if variance > 0.0 else 1.0))
        while not definite(prior + added * (np.eye(d) if prior.ndim == 2 else 1.0)):
            added *= 10.0
        prior = prior + added * (np.eye(d) if prior.ndim == 2 else 1.0)
        self.covariance_prior_ = float(prior) if prior.ndim == 0 else prior
        self._events.append(dict(init=None, iteration=0, component=None,
                                 reason="covariance prior not positive definite",
                                 action="regularized", added=float(added)))

    # ------------------------------------------------------------------
    # The variational updates
    # ------------------------------------------------------------------

    def _initial_parameters(self, rows, random_state, n_threads, init):
        stats = initial_statistics(rows.X, rows.sample_weight, self.init_params,
                                   self.n_components, self.covariance_type, random_state,
                                   n_threads)
        return self._update(stats, rows.dtype)

    def _m_step(self, stats, dtype, data, n_iter):
        return self._update(stats, dtype)

    def _update(self, stats, dtype):
        """The posterior from a pass's statistics: scikit-learn's N_k, x̄_k and S_k
        (S_k with reg_covar added), then the Dirichlet, Gaussian and Wishart updates."""
        nk, xk, sk = estimate_parameters(stats, self.reg_covar, np.finfo(dtype).eps)
        k = self.n_components
        gamma0, beta0 = self.weight_concentration_prior_, self.mean_precision_prior_
        m0, nu0, prior = self.mean_prior_, self.degrees_of_freedom_prior_, self.covariance_prior_
        if self.weight_concentration_prior_type == "dirichlet_process":
            concentration = (1.0 + nk, gamma0 + np.hstack((np.cumsum(nk[::-1])[-2::-1], 0)))
        else:
            concentration = gamma0 + nk
        beta = beta0 + nk
        means = (beta0 * m0 + nk[:, np.newaxis] * xk) / beta[:, np.newaxis]
        diff = xk - m0
        cov_type = self.covariance_type
        if cov_type == "full":
            nu = nu0 + nk
            covariances = (prior + nk[:, None, None] * sk
                           + (nk * beta0 / beta)[:, None, None]
                           * diff[:, :, None] * diff[:, None, :])
            covariances /= nu[:, None, None]
        elif cov_type == "tied":
            nu = nu0 + nk.sum() / k
            covariances = (prior + sk * nk.sum() / k
                           + beta0 / k * np.dot((nk / beta) * diff.T, diff)) / nu
        elif cov_type == "diag":
            nu = nu0 + nk
            covariances = prior + nk[:, None] * (sk + (beta0 / beta)[:, None] * diff**2)
            covariances /= nu[:, None]
        else:
            nu = nu0 + nk
            covariances = (prior + nk * (sk + beta0 / beta * np.mean(diff**2, axis=1))) / nu
        precisions_cholesky = precisions_cholesky_from_covariances(covariances, cov_type, dtype)
        return _Posterior(concentration, beta, means, nu, covariances, precisions_cholesky)

    def _log_terms(self, post):
        """Each component's constant in the E-step: E[log π_k] − ½ d log ν_k +
        ½ (E[log |Λ_k|] − d / β_k), with E[log |Λ_k|] = d log 2 + Σ_j ψ((ν_k − j) / 2)
        (the expected log-determinant less log |ν_k W_k|, which the factors carry)."""
        d = post.means.shape[1]
        nu = np.broadcast_to(np.asarray(post.degrees_of_freedom, np.float64),
                             (self.n_components,))
        log_lambda = d * math.log(2.0) + np.sum(
            digamma(0.5 * (nu - np.arange(d)[:, np.newaxis])), axis=0)
        return (_expected_log_weights(post.weight_concentration,
                                      self.weight_concentration_prior_type)
                - 0.5 * d * np.log(nu) + 0.5 * (log_lambda - d / post.mean_precision))

    def _lower_bound(self, stats, post):
        """The variational lower bound after the update, up to a constant
        (scikit-learn's): the responsibilities' entropy from the pass, the Wishart and
        weight normalisers, and the means' precision terms."""
        d = post.means.shape[1]
        nu = np.asarray(post.degrees_of_freedom, np.float64)
        log_det = (TYPES[self.covariance_type].log_det_cholesky(post.precisions_cholesky, d)
                   - 0.5 * d * np.log(nu))
        log_wishart = _log_wishart_norm(nu, log_det, d)
        log_wishart = (self.n_components * float(np.ravel(log_wishart)[0])
                       if self.covariance_type == "tied" else float(np.sum(log_wishart)))
        wc = post.weight_concentration
        if self.weight_concentration_prior_type == "dirichlet_process":
            log_norm_weight = -float(np.sum(betaln(wc[0], wc[1])))
        else:
            log_norm_weight = float(gammaln(np.sum(wc)) - np.sum(gammaln(wc)))
        return (-stats.resp_entropy - log_wishart - log_norm_weight
                - 0.5 * d * float(np.sum(np.log(post.mean_precision))))

    def effective_components(self, threshold=0.01):
        """The components the fit uses: those whose expected weight exceeds
        ``threshold``, heaviest first.

        Parameters
        ----------
        threshold : float in [0, 1), default=0.01

        Returns
        -------
        components : ndarray of int
            Indices into ``weights_``, ``means_`` and the other per-component
            attributes.
        """
        self._check_is_fitted()
        if not (v._real(threshold) and 0.0 <= threshold < 1.0):
            raise ValueError(f"threshold must be a number in [0, 1), got {threshold!r}")
        weights = np.asarray(self.weights_, dtype=np.float64)
        order = np.argsort(-weights, kind="stable")
        return order[weights[order] > threshold]

    def predictive_score_samples(self, X):
        """log p(x) under the posterior predictive density, for each sample.

        ``score_samples`` is scikit-learn's plug-in density (the variational E-step's
        normaliser).  This integrates over the posterior instead: a mixture of
        Student-t densities (Bishop, Pattern Recognition and Machine Learning,
        eq. 10.81),

            p(x) = Σ_k E[π_k] St(x | m_k, L_k, ν_k + 1 − d),
            L_k = (ν_k + 1 − d) β_k / (1 + β_k) · W_k,

        whose tails are heavier where the posterior is uncertain (few rows in a
        component, few degrees of freedom).  For 'diag' and 'spherical' W_k is the
        posterior's diagonal or isotropic scale, with the full Wishart's degrees of
        freedom, as the variational E-step takes it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,), float64
        """
        X = self._check_predict_input(X)
        k, d = self.means_.shape
        nu = np.broadcast_to(np.asarray(self.degrees_of_freedom_, np.float64), (k,))
        dof = nu + 1.0 - d
        beta = np.asarray(self.mean_precision_, np.float64)
        # L_k = scale_k ν_k W_k, and ν_k W_k = U_k U_kᵀ (precisions_cholesky_)
        scale = dof * beta / ((1.0 + beta) * nu)
        kind = TYPES[self.covariance_type]
        U = np.asarray(self.precisions_cholesky_, np.float64)
        means = np.asarray(self.means_, np.float64)
        with np.errstate(divide="ignore"):
            log_weights = np.log(np.asarray(self.weights_, np.float64))
        const = (log_weights + gammaln(0.5 * (dof + d)) - gammaln(0.5 * dof)
                 + kind.log_det_cholesky(U, d) + 0.5 * d * np.log(scale)
                 - 0.5 * d * np.log(dof * math.pi))
        out = np.empty(X.shape[0])
        step = max(1, (4 << 20) // (8 * max(d, k)))
        for start in range(0, X.shape[0], step):
            rows = np.asarray(X[start:start + step], dtype=np.float64)
            maha = np.empty((rows.shape[0], k))
            for c in range(k):
                z = rows - means[c]
                if self.covariance_type == "full":
                    z = z @ U[c]
                elif self.covariance_type == "tied":
                    z = z @ U
                else:  # per-feature (diag) or one (spherical) precision factor
                    z = z * U[c]
                maha[:, c] = np.einsum("ij,ij->i", z, z)
            logp = const - 0.5 * (dof + d) * np.log1p(scale * maha / dof)
            top = np.max(logp, axis=1, keepdims=True)
            top = np.where(np.isfinite(top), top, 0.0)
            out[start:start + step] = top[:, 0] + np.log(np.sum(np.exp(logp - top), axis=1))
        return out

    # ------------------------------------------------------------------
    # Streams: exact passes over chunks, and stochastic variational inference
    # ------------------------------------------------------------------

    def update(self, stats):
        """The variational update from sufficient statistics of every row (summed
        over chunks by :meth:`accumulate`): one pass over the chunks and this is one
        iteration of ``fit`` on all the rows (to rounding).

        Parameters
        ----------
        stats : SufficientStatistics

        Returns
        -------
        self : BayesianGaussianMixture
            ``lower_bound_`` becomes the variational lower bound after the update.
        """
        self._check_is_fitted()
        self._check_statistics(stats)
        if stats.total_weight <= 0:
            raise ValueError("the statistics hold no rows of positive weight")
        self._apply(stats, None)
        return self

    def partial_fit(self, X, y=None, sample_weight=None):
        """Stochastic variational inference on one batch of a stream (Hoffman, Blei,
        Wang and Paisley, 2013).

        The stream starts from the fitted model where there is one (after ``fit``,
        ``load`` or earlier batches); otherwise the first batch initialises it as
        ``fit`` would, priors included.  Each batch's statistics under the current
        posterior, per unit weight, are blended into running ones,
        ``s ← (1 − ρ) s + ρ s_batch`` with ``ρ = (t + 1) ** -learning_decay`` (``t``
        the batches of this one's weight seen before it), and the posterior is the
        update from ``s`` scaled to the weight seen so far, ``n_samples_seen_``: the
        natural-gradient step of the variational objective for a data set of that
        size.  The first batch's step is one iteration of ``fit`` on it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : BayesianGaussianMixture
        """
        self._check_parameters()
        starting = not hasattr(self, "means_")
        if starting:
            self._fit(X, sample_weight, want_labels=False, initialise_only=True)
        X = self._check_predict_input(X)
        sample_weight = v.check_sample_weight(sample_weight, X.shape[0])
        stats = self._statistics_of(X, sample_weight)
        stats.worst_rows = []
        running, seen = self._blend_batch(stats, getattr(self, "statistics_", None),
                                          float(getattr(self, "n_samples_seen_", 0.0)),
                                          starting)
        self.statistics_ = running
        self._stream_mode = "stepwise"  # (model files keep the running statistics)
        self.n_samples_seen_ = seen + stats.total_weight
        self.n_batches_seen_ = int(getattr(self, "n_batches_seen_", 0)) + 1
        self._apply(running.scaled(self.n_samples_seen_), None)
        return self

    def _implied_statistics(self):
        """The statistics per unit weight that the fitted posterior implies: the
        update inverted (N = β − β₀, x̄ from the means, the scatter from the
        Wishart's scale, less reg_covar), around each x̄ (tied: around m₀)."""
        post = self._current_parameters()
        k, d = post.means.shape
        beta0, m0 = self.mean_precision_prior_, np.asarray(self.mean_prior_, np.float64)
        prior, reg = self.covariance_prior_, self.reg_covar
        nk = np.maximum(post.mean_precision - beta0, 0.0)
        if not nk.sum() > 0:
            raise ValueError("the fitted posterior holds no weight to continue a stream from")
        safe = np.where(nk > 0, nk, 1.0)
        xk = np.where((nk > 0)[:, None],
                      (post.mean_precision[:, None] * post.means - beta0 * m0) / safe[:, None],
                      post.means)
        diff = xk - m0
        nu = np.asarray(post.degrees_of_freedom, np.float64)
        shrink = nk * beta0 / post.mean_precision  # the means' pull towards m₀
        cov_type = self.covariance_type
        stats = SufficientStatistics(cov_type, xk, m0.copy(), n_rows=k)
        stats.row[1] = nk.sum()
        stats.row[2:2 + k] = nk
        s2 = stats.s2
        if cov_type == "full":  # N_k S_k, less the N_k reg_covar the fit added
            scatter = (post.covariances * nu[:, None, None] - prior
                       - shrink[:, None, None] * diff[:, :, None] * diff[:, None, :])
            s2.reshape(k, d, d)[:] = np.tril(scatter - nk[:, None, None] * reg * np.eye(d))
        elif cov_type == "tied":  # every row's second moment around m₀
            scatter = (post.covariances * nu - prior
                       - beta0 / k * np.dot((nk / post.mean_precision) * diff.T, diff))
            within = k * scatter - nk.sum() * reg * np.eye(d)
            s2.reshape(d, d)[:] = np.tril(within + np.einsum("k,ki,kj->ij", nk, diff, diff))
        elif cov_type == "diag":
            scatter = post.covariances * nu[:, None] - prior - shrink[:, None] * diff**2
            s2.reshape(k, d)[:] = scatter - nk[:, None] * reg
        else:
            scatter = post.covariances * nu - prior - shrink * np.mean(diff**2, axis=1)
            s2[:] = d * (scatter - nk * reg)
        return stats.scaled(1.0 / nk.sum())

    # ------------------------------------------------------------------
    # The kernels' parameters and the fitted attributes
    # ------------------------------------------------------------------

    def _params_for_kernels(self, post, dtype):
        weights = _weights(post.weight_concentration, self.weight_concentration_prior_type)
        return KernelParams(weights, post.means, post.precisions_cholesky,
                            self.covariance_type, dtype, log_weights=self._log_terms(post),
                            entropy=True)

    def _kernel_params(self, dtype):
        """The fitted posterior in the kernels' form, cached while it is unchanged."""
        arrays = (self.means_, self.precisions_cholesky_, self.mean_precision_,
                  np.asarray(self.degrees_of_freedom_),
                  *np.atleast_2d(self.weight_concentration_))
        cached = _KERNEL_PARAMS_CACHE.get(self)
        if cached is not None:
            key, sources, kparams = cached
            if key == (np.dtype(dtype), self.covariance_type) and len(sources) == len(
                    arrays) and all(same_bytes(a, b) for a, b in zip(arrays, sources)):
                return kparams
        kparams = self._params_for_kernels(self._current_parameters(), dtype)
        _KERNEL_PARAMS_CACHE[self] = ((np.dtype(dtype), self.covariance_type),
                                      tuple(np.array(a, copy=True) for a in arrays), kparams)
        return kparams

    def _current_parameters(self):
        wc = self.weight_concentration_
        wc = (tuple(np.asarray(c, np.float64) for c in wc) if isinstance(wc, tuple)
              else np.asarray(wc, np.float64))
        return _Posterior(wc, np.asarray(self.mean_precision_, np.float64),
                          np.asarray(self.means_, np.float64),
                          np.asarray(self.degrees_of_freedom_, np.float64),
                          np.asarray(self.covariances_, np.float64),
                          np.asarray(self.precisions_cholesky_, np.float64))

    def _set_parameters(self, post, dtype):
        wc = post.weight_concentration
        self.weight_concentration_ = (tuple(np.asarray(c, dtype) for c in wc)
                                      if isinstance(wc, tuple) else np.asarray(wc, dtype))
        self.mean_precision_ = np.asarray(post.mean_precision, dtype)
        self.means_ = np.asarray(post.means).astype(dtype)
        nu = post.degrees_of_freedom
        self.degrees_of_freedom_ = (float(nu) if np.ndim(nu) == 0
                                    else np.asarray(nu, dtype))
        self.covariances_ = np.asarray(post.covariances).astype(dtype, copy=False)
        self.precisions_cholesky_ = np.asarray(post.precisions_cholesky).astype(
            dtype, copy=False)
        self.weights_ = _weights(wc, self.weight_concentration_prior_type).astype(dtype)
        self.precisions_ = TYPES[self.covariance_type].precisions_from_cholesky(
            np.asarray(post.precisions_cholesky, np.float64)).astype(dtype, copy=False)


def _check_positive(name, value, estimator):
    if not v._real(value) or not np.isfinite(value) or value <= 0:
        raise v.InvalidParameterError(
            f"The '{name}' parameter of {estimator} must be None or a float in the range "
            f"(0.0, inf). Got {value!r} instead.")


def _weights(concentration, prior_type):
    """The expected weights under the weights' posterior (normalised)."""
    if prior_type == "dirichlet_process":
        a, b = concentration
        total = a + b
        weights = a / total * np.hstack((1, np.cumprod(b / total)[:-1]))
        return weights / np.sum(weights)
    return concentration / np.sum(concentration)


def _expected_log_weights(concentration, prior_type):
    """E[log π_k] under the weights' posterior (stick-breaking for the process)."""
    if prior_type == "dirichlet_process":
        a, b = concentration
        digamma_sum = digamma(a + b)
        return (digamma(a) - digamma_sum
                + np.hstack((0, np.cumsum(digamma(b) - digamma_sum)[:-1])))
    return digamma(concentration) - digamma(np.sum(concentration))


def _log_wishart_norm(degrees_of_freedom, log_det_precisions_chol, n_features):
    """log B(W, ν) of each Wishart, less the terms in log π (scikit-learn's)."""
    return -(degrees_of_freedom * log_det_precisions_chol
             + degrees_of_freedom * n_features * 0.5 * math.log(2.0)
             + np.sum(gammaln(0.5 * (degrees_of_freedom - np.arange(n_features)[:, np.newaxis])),
                      axis=0))
