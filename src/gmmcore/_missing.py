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

so a row with m of d features missing costs a product with Λ (as a complete row)
and an m × m factorisation per component.  Rows are taken in groups with the same
number of missing features (one batched factorisation each); diagonal and spherical
precisions need no factorisation at all.  Everything here is float64 and works on a
block of rows at a time: complete rows take the compiled kernels (``_em``).
"""

import math

import numpy as np

from ._covariance import TYPES

_LOG_2PI = math.log(2.0 * math.pi)


class Marginals:
    """A mixture's parameters as the marginalising E-step reads them (float64):
    log weights (k,), means (k, d), precisions Λ ((k, d, d) full, (1, d, d) tied,
    (k, d) diag and spherical) and log |Λ| per component."""

    __slots__ = ("covariance_type", "log_weights", "means", "precision", "log_det")

    def __init__(self, log_weights, means, precisions_cholesky, covariance_type):
        means = np.asarray(means, dtype=np.float64)
        k, d = means.shape
        pc = np.asarray(precisions_cholesky, dtype=np.float64)
        self.covariance_type = covariance_type
        self.log_weights = np.asarray(log_weights, dtype=np.float64)
        self.means = means
        log_det = 2.0 * TYPES[covariance_type].log_det_cholesky(pc, d)
        self.log_det = np.broadcast_to(np.asarray(log_det, dtype=np.float64), (k,))
        if covariance_type == "full":
            self.precision = pc @ pc.transpose(0, 2, 1)
        elif covariance_type == "tied":
            self.precision = (pc @ pc.T)[np.newaxis]
        elif covariance_type == "diag":
            self.precision = pc**2
        else:
            self.precision = np.repeat((pc**2)[:, np.newaxis], d, axis=1)


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


def _groups(observed):
    """(rows, missing features) per number of missing features m: the rows with m
    missing as indices into the block, and their missing features (n_g, m)."""
    n_missing = (~observed).sum(axis=1)
    for m in np.unique(n_missing):
        rows = np.flatnonzero(n_missing == m)
        # stable: False (missing) first, in feature order
        order = np.argsort(observed[rows], axis=1, kind="stable")
        yield rows, order[:, :m]


def _group_terms(mg, X, observed, missing):
    """log π_c + log N(x_o | μ_o, Σ_oo) (n, k) for rows with the same number of
    missing features (full and tied precisions); with ``fill``, also x̂ (n, k, d)
    and the conditional covariances of the missing features (k or 1, n, m, m)."""
    d = X.shape[1]
    m = missing.shape[1]
    diff = np.where(observed[:, np.newaxis, :], X[:, np.newaxis, :] - mg.means, 0.0)
    diff = diff.transpose(1, 0, 2)                       # (k, n, d)
    y = np.matmul(diff, mg.precision)                    # Λ symmetric: (x̃ − μ)ᵀ Λ
    quad = np.einsum("knd,knd->kn", diff, y)
    log_det_mm = 0.0
    delta = conditional = None
    if m:
        lam_mm = mg.precision[:, missing[:, :, np.newaxis], missing[:, np.newaxis, :]]
        y_m = np.take_along_axis(y, missing[np.newaxis], axis=2)
        chol = np.linalg.cholesky(lam_mm)
        log_det_mm = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
        conditional = np.linalg.inv(lam_mm)
        delta = -np.matmul(conditional, y_m[..., np.newaxis])[..., 0]     # (k, n, m)
        quad = quad + np.einsum("knm,knm->kn", y_m, delta)
    log_prob = (mg.log_weights[:, np.newaxis] - 0.5 * (
        (d - m) * _LOG_2PI - mg.log_det[:, np.newaxis] + log_det_mm + quad))
    return log_prob.T, delta, conditional


def log_probabilities(mg, X, observed):
    """log π_c + log N(x_o | μ_o, Σ_oo), shape (n, k), of rows X (n, d) float64 whose
    entries are observed where ``observed`` is True (a row with nothing observed:
    log π_c)."""
    n, d = X.shape
    k = mg.means.shape[0]
    if not TYPES[mg.covariance_type].matrix:
        return _separable_terms(mg, X, observed)[0]
    out = np.empty((n, k))
    for rows, missing in _groups(observed):
        out[rows] = _group_terms(mg, X[rows], observed[rows], missing)[0]
    return out


def _separable_terms(mg, X, observed):
    """Diag and spherical: the observed features' terms add; x̂_m = μ_m with the
    component's variances."""
    diff = np.where(observed[:, np.newaxis, :], X[:, np.newaxis, :] - mg.means, 0.0)
    quad = np.einsum("nkd,kd,nkd->nk", diff, mg.precision, diff)
    log_det = observed.astype(np.float64) @ np.log(mg.precision).T     # (n, k)
    d_obs = observed.sum(axis=1)[:, np.newaxis]
    log_prob = mg.log_weights - 0.5 * (d_obs * _LOG_2PI - log_det + quad)
    return log_prob, diff


def _normalise(log_prob, observed):
    """(log p(x_o), responsibilities) from per-component log-probabilities (n, k);
    a row with nothing observed has exactly 0 and the weights."""
    lse, resp = _log_sum_exp(log_prob)
    nothing = ~observed.any(axis=1)
    if nothing.any():
        weights = np.exp(log_prob[nothing][0])
        lse[nothing] = 0.0
        resp[nothing] = weights / weights.sum()
    return lse, resp


def _log_sum_exp(log_prob):
    """(log Σ_c exp, responsibilities) of per-component log-probabilities (n, k)."""
    top = np.max(log_prob, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(under="ignore"):
        expd = np.exp(log_prob - top)
    total = expd.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        lse = np.log(total) + top
    with np.errstate(invalid="ignore"):
        resp = expd / total
    return lse[:, 0], resp


def outputs(mg, X, observed):
    """(log p(x_o), responsibilities, labels) of rows with missing entries."""
    log_prob = log_probabilities(mg, X, observed)
    lse, resp = _normalise(log_prob, observed)
    return lse, resp, np.argmax(log_prob, axis=1)


def impute(mg, X, observed):
    """Rows with each missing entry replaced by E[x_m | x_o] under the mixture:
    Σ_c r_c x̂_c,m, the responsibilities taken on the observed features."""
    out = np.array(X, dtype=np.float64)
    if not TYPES[mg.covariance_type].matrix:
        log_prob = _separable_terms(mg, X, observed)[0]
        resp = _normalise(log_prob, observed)[1]
        filled = resp @ mg.means
        out[~observed] = filled[~observed]
        return out
    for rows, missing in _groups(observed):
        if missing.shape[1] == 0:
            continue
        log_prob, delta, _ = _group_terms(mg, X[rows], observed[rows], missing)
        resp = _normalise(log_prob, observed[rows])[1]               # (n_g, k)
        means_m = np.take_along_axis(mg.means[:, np.newaxis, :],
                                     missing[np.newaxis], axis=2)     # (k, n_g, m)
        values = np.einsum("nk,knm->nm", resp, means_m + delta)
        out[rows[:, np.newaxis], missing] = values
    return out


def add_statistics(stats, mg, X, observed, weights):
    """Add the sufficient statistics of rows with missing entries to ``stats`` (a
    SufficientStatistics around its shifts): N, S1 and S2 with x̂ in place of the
    missing entries and their conditional covariances added to S2.  ``weights``
    (n,) float64.  Returns the number of rows whose log-likelihood is not finite."""
    kind = mg.covariance_type
    k, d = mg.means.shape
    n_nonfinite = 0
    if TYPES[kind].matrix:
        parts = []
        for rows, missing in _groups(observed):
            Xg, og = X[rows], observed[rows]
            log_prob, delta, conditional = _group_terms(mg, Xg, og, missing)
            filled = np.where(og[:, np.newaxis, :], Xg[:, np.newaxis, :], mg.means)
            if missing.shape[1]:
                n_g = len(rows)
                filled[np.arange(n_g)[:, None, None], np.arange(k)[None, :, None],
                       missing[:, None, :]] += delta.transpose(1, 0, 2)
            parts.append((log_prob, og, filled, weights[rows], missing, conditional))
    else:
        log_prob, _ = _separable_terms(mg, X, observed)
        filled = np.where(observed[:, np.newaxis, :], X[:, np.newaxis, :], mg.means)
        parts = [(log_prob, observed, filled, weights, None, None)]
    s2 = stats.s2
    for log_prob, obs, filled, w, missing, conditional in parts:
        lse, resp = _normalise(log_prob, obs)
        finite = np.isfinite(lse)
        n_nonfinite += int(np.count_nonzero(~finite))
        wr = resp * w[:, np.newaxis]
        stats.row[0] += float(w @ np.where(finite, lse, 0.0)) if finite.all() else -np.inf
        stats.row[1] += float(w.sum())
        stats.nk[:] += wr.sum(axis=0)
        if kind == "tied":
            z = filled - stats.tied_shift
            stats.s1[:] += np.einsum("nk,nkd->kd", wr, filled - stats.shifts)
            flat = z.reshape(-1, d)
            scatter = (flat * wr.reshape(-1, 1)).T @ flat
            if conditional is not None:
                scatter += _embedded(conditional[0], missing, w, d)
            s2.reshape(d, d)[:] += np.tril(scatter)
            continue
        z = filled - stats.shifts                                     # (n, k, d)
        stats.s1[:] += np.einsum("nk,nkd->kd", wr, z)
        if kind == "full":
            s2_full = s2.reshape(k, d, d)
            for c in range(k):
                scatter = (z[:, c, :] * wr[:, c, np.newaxis]).T @ z[:, c, :]
                if conditional is not None:
                    scatter += _embedded(conditional[c], missing, wr[:, c], d)
                s2_full[c] += np.tril(scatter)
        else:
            variance = np.where(obs[:, np.newaxis, :], 0.0, 1.0 / mg.precision)
            second = np.einsum("nk,nkd->kd", wr, z * z + variance)
            if kind == "diag":
                s2.reshape(k, d)[:] += second
            else:
                s2[:] += second.sum(axis=1)
    return n_nonfinite


def _embedded(conditional, missing, w, d):
    """Σ_i w_i E_i C_i E_iᵀ: per-row m × m matrices C_i (n, m, m) added at their
    rows' missing features of a d × d matrix."""
    n, m = missing.shape
    flat = (missing[:, :, np.newaxis] * d + missing[:, np.newaxis, :]).reshape(-1)
    values = (conditional * w[:, np.newaxis, np.newaxis]).reshape(-1)
    return np.bincount(flat, weights=values, minlength=d * d).reshape(d, d)
