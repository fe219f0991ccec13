"""Rows with missing entries (NaN): the E-step on each row's observed features.

With x = (x_o, x_m) and component c, the row's density is the marginal N(x_o | μ_o,
Σ_oo), and the M-step's statistics take the missing entries at their conditional
mean x̂_m = E[x_m | x_o, c] with their conditional covariance added to the second
moment (Ghahramani & Jordan, 1994).  Both come from the precision Λ = Σ⁻¹ that
the fit keeps as its Cholesky factors, through the m × m block of the missing
features alone:

    y = Λ (x̃ − μ),  with x̃ − μ zero on the missing features
    x̂_m − μ_m = −Λ_mm⁻¹ y_m,          Cov[x_m | x_o] = Λ_mm⁻¹
    (x_o − μ_o)ᵀ Σ_oo⁻¹ (x_o − μ_o) = (x̃ − μ)ᵀ y − y_mᵀ Λ_mm⁻¹ y_m
    log |Σ_oo| = log |Λ_mm| − log |Λ|

so a row with m of d features missing costs a product with Λ (as a complete row
does) and an m × m factorisation per component; diagonal and spherical precisions
separate per feature.  ``_kernels.marginal_pass`` computes it in float64; this
module prepares its parameters and calls it on blocks of rows.  Complete rows take
the compiled kernels of the E-step (``_em``).
"""

import numpy as np

from ._covariance import TYPES
from ._kernels import marginal_pass

_EMPTY1 = np.empty(0)
_EMPTY2 = np.empty((0, 0))


class Marginals:
    """A mixture's parameters as the marginalising E-step reads them (float64):
    log weights (k,), means (k, d), ``factors`` (full: the upper Cholesky factors U
    of the precisions, k·d·d; tied: one, d·d; diag and spherical: the precision of
    each feature, k·d), ``precision`` (full and tied: Λ = U Uᵀ, same layout; else
    empty) and log |Λ| per component."""

    __slots__ = ("code", "log_weights", "means", "factors", "precision", "log_det")

    def __init__(self, log_weights, means, precisions_cholesky, covariance_type):
        means = np.ascontiguousarray(means, dtype=np.float64)
        k, d = means.shape
        pc = np.asarray(precisions_cholesky, dtype=np.float64)
        self.code = TYPES[covariance_type].code
        self.log_weights = np.ascontiguousarray(log_weights, dtype=np.float64)
        self.means = means
        log_det = 2.0 * TYPES[covariance_type].log_det_cholesky(pc, d)
        self.log_det = np.ascontiguousarray(
            np.broadcast_to(np.asarray(log_det, dtype=np.float64), (k,)))
        if covariance_type == "full":
            factors, precision = pc, pc @ pc.transpose(0, 2, 1)
        elif covariance_type == "tied":
            factors, precision = pc, pc @ pc.T
        elif covariance_type == "diag":
            factors, precision = pc**2, _EMPTY1
        else:
            factors, precision = np.repeat((pc**2)[:, np.newaxis], d, axis=1), _EMPTY1
        self.factors = np.ascontiguousarray(factors).reshape(-1)
        self.precision = np.ascontiguousarray(precision).reshape(-1)


# Complete rows per component from which the start is taken on them alone
START_ROWS_PER_COMPONENT = 10


def start_rows(X, sample_weight, n_components):
    """The rows the start is taken on, with their weights: the complete rows when
    there are START_ROWS_PER_COMPONENT per component, else every row mean-filled."""
    complete = ~np.isnan(X).any(axis=1)
    w = None if sample_weight is None else sample_weight[complete]
    if (np.count_nonzero(complete) >= START_ROWS_PER_COMPONENT * n_components
            and (w is None or w.sum() > 0)):
        return np.ascontiguousarray(X[complete]), w
    return mean_filled(X, sample_weight), sample_weight


def mean_filled(X, sample_weight=None):
    """A copy of X with each NaN replaced by the (weighted) mean of its column's
    observed entries (0 for a column with none): the rows the start is taken on."""
    observed = ~np.isnan(X)
    w = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, np.float64)
    totals = w @ np.where(observed, X, 0.0)
    counts = w @ observed
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, totals / counts, 0.0)
    out = np.array(X, copy=True)
    rows, cols = np.nonzero(~observed)
    out[rows, cols] = means[cols]
    return out


def _pass(mg, X, rows=None, weights=_EMPTY1, stats=None, resp=_EMPTY2, log_prob=_EMPTY1,
          filled=_EMPTY2, fill=None):
    """marginal_pass over X's rows ``rows`` (None: all) with the mixture ``mg``."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    rows = (np.arange(X.shape[0], dtype=np.intp) if rows is None
            else np.ascontiguousarray(rows, dtype=np.intp))
    if stats is None:
        row, shifts, tied_shift = _EMPTY1, _EMPTY2, _EMPTY1
    else:
        row = stats.row
        shifts = np.ascontiguousarray(stats.shifts, dtype=np.float64)
        tied_shift = np.ascontiguousarray(stats.tied_shift, dtype=np.float64)
    return marginal_pass(X, rows, weights, mg.code, mg.log_weights, mg.means, mg.factors,
                         mg.precision, mg.log_det, shifts, tied_shift, row, resp, log_prob,
                         filled, fill)


def outputs(mg, X):
    """(log p(x_o), responsibilities, labels) of rows X (n, d) with NaN entries."""
    n, k = X.shape[0], mg.means.shape[0]
    lpn, resp = np.empty(n), np.empty((n, k))
    _pass(mg, X, resp=resp, log_prob=lpn)
    return lpn, resp, np.argmax(resp, axis=1)


def impute(mg, X):
    """Rows with each missing entry replaced by E[x_m | x_o] under the mixture:
    Σ_c r_c x̂_c,m, the responsibilities taken on the observed features."""
    out = np.empty(X.shape)
    _pass(mg, X, filled=out)
    return out


def add_statistics(stats, mg, X, rows, weights, fill=None):
    """Add the sufficient statistics of X's rows ``rows`` (with NaN entries) to
    ``stats`` (a SufficientStatistics around its shifts): N, S1 and S2 with x̂ in
    place of the missing entries and their conditional covariances added to S2.
    ``weights``: one float64 per row of X, or empty for unit weights.  Returns the
    number of rows whose log-likelihood is not finite.  ``fill``: see
    _kernels.marginal_pass (full and tied take the moments around it first)."""
    return _pass(mg, X, rows, weights=np.ascontiguousarray(weights, dtype=np.float64),
                 stats=stats, fill=fill)
