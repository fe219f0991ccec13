"""The M-step: summed sufficient statistics → mixture parameters.

Everything here works on k×d×d-sized arrays in float64; no per-sample work.
The statistics are those of ``_kernels`` (shifted by the means they were
computed under), so the covariances are formed without E[xxᵀ] − μμᵀ on raw data.
"""

import math

import numpy as np
from scipy import linalg

from ._covariance import TYPES
from ._missing import Marginals
from ._kernels import SMALL_D, statistics_around_means

ILL_DEFINED_COVARIANCE = (
    "Fitting the mixture model failed because some components have "
    "ill-defined empirical covariance (for instance caused by singleton "
    "or collapsed samples). Try to decrease the number of components, "
    "increase reg_covar, or scale the input data."
)


class SufficientStatistics:
    """Additive sufficient statistics of a set of (weighted) rows under one mixture.

    This is what one pass of the E-step kernel reduces a block of rows to, and all
    the M-step needs: ``GaussianMixture.accumulate`` returns it for a chunk of data,
    ``GaussianMixture.update`` turns it into new parameters.  Statistics of disjoint
    chunks add (``a + b``), so EM can run over any source of chunks, on any number
    of machines.

    Internally one float64 vector ``row`` holds [Σ w log p(x), Σ w, N (k),
    S1 (k·d), S2], the responsibility-weighted zeroth, first and second moments
    taken around ``shifts`` (k, d) (for 'tied' S2 around ``tied_shift`` (d,)), with
    S2 shaped by the covariance type: k lower triangles (full), one (tied), k·d
    squares (diag) or k sums of squares (spherical).  Moments around shifts near
    the data keep their digits where raw moments E[xxᵀ] − μμᵀ would cancel.
    Statistics under the same shifts add exactly; under different shifts (taken
    under different parameters, as in partial_fit) both are first moved to their
    pooled component means (the pairwise update of Chan, Golub and LeVeque), which
    stays accurate however far apart the chunks' means are.

    Attributes
    ----------
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    n_rows : int
        Number of rows accumulated (unweighted).
    total_weight : float
        Σ w over the rows.
    log_likelihood : float
        Σ w log p(x) under the mixture the statistics were taken under.
    nk : ndarray of shape (n_components,)
        Σ w r_k: the weighted responsibilities of each component.
    means : ndarray of shape (n_components, n_features)
        Responsibility-weighted mean of each component (the M-step's means).
    """

    __slots__ = ("covariance_type", "shifts", "tied_shift", "row", "n_rows", "n_nonfinite",
                 "worst_rows", "resp_entropy")

    def __init__(self, covariance_type, shifts, tied_shift, row=None, n_rows=0):
        k, d = shifts.shape
        self.covariance_type = covariance_type
        self.shifts = shifts
        self.tied_shift = tied_shift
        self.row = np.zeros(self.width(covariance_type, k, d)) if row is None else row
        self.n_rows = n_rows
        self.n_nonfinite = 0
        # per chunk, the row with the lowest log-likelihood (re-seeding candidates)
        self.worst_rows = []
        # Σ w Σ_k r log r, when the pass was asked for it (the variational bound's)
        self.resp_entropy = 0.0

    @staticmethod
    def width(covariance_type, k, d):
        """Entries of ``row``: Σ w log p, Σ w, N (k), S1 (k·d), S2."""
        return 2 + k + k * d + TYPES[covariance_type].size(k, d)

    def __iadd__(self, other):
        if not isinstance(other, SufficientStatistics):
            return NotImplemented
        if (other.covariance_type != self.covariance_type
                or other.shifts.shape != self.shifts.shape):
            raise ValueError(
                "cannot add statistics of different models: "
                f"{self.covariance_type!r} with {self.shifts.shape[0]} components and "
                f"{self.shifts.shape[1]} features, and {other.covariance_type!r} with "
                f"{other.shifts.shape[0]} components and {other.shifts.shape[1]} features")
        # the chunks of one pass share their shift arrays: no comparison needed
        same = self.shifts is other.shifts and self.tied_shift is other.tied_shift
        if not same and not (np.array_equal(self.shifts, other.shifts)
                             and np.array_equal(self.tied_shift, other.tied_shift)):
            shifts, tied_shift = _pooled_shifts(self, other)
            self._recentre(shifts, tied_shift)
            other = other.copy()
            other._recentre(shifts, tied_shift)
        self.row += other.row
        self.n_rows += other.n_rows
        self.n_nonfinite += other.n_nonfinite
        self.resp_entropy += other.resp_entropy
        self.worst_rows.extend(other.worst_rows)
        return self

    def __add__(self, other):
        if not isinstance(other, SufficientStatistics):
            return NotImplemented
        total = self.copy()
        total += other
        return total

    def __radd__(self, other):
        if isinstance(other, int) and other == 0:  # sum() of statistics
            return self.copy()
        return NotImplemented

    def copy(self):
        """An independent copy."""
        new = SufficientStatistics(self.covariance_type, self.shifts.copy(),
                                   np.array(self.tied_shift, copy=True), self.row.copy(),
                                   self.n_rows)
        new.n_nonfinite = self.n_nonfinite
        new.worst_rows = list(self.worst_rows)
        new.resp_entropy = self.resp_entropy
        return new

    def scaled(self, factor):
        """These statistics with every sum multiplied by ``factor`` (for decaying
        old statistics in stepwise EM); the number of rows is kept."""
        new = self.copy()
        new.row *= float(factor)
        new.resp_entropy *= float(factor)
        return new

    def __repr__(self):
        k, d = self.shifts.shape
        return (f"SufficientStatistics(covariance_type={self.covariance_type!r}, "
                f"n_components={k}, n_features={d}, n_rows={self.n_rows}, "
                f"total_weight={self.total_weight:.6g})")

    def _recentre(self, shifts, tied_shift):
        """Move the moments to new shifts, in place (exact algebra: x − c' = (x − c) + e)."""
        k, d = self.shifts.shape
        nk, s1, s2 = self.nk, self.s1, self.s2
        e = self.shifts - shifts  # (k, d)
        if self.covariance_type == "tied":  # one second moment of every row around tied_shift
            s1_tied = (s1 + nk[:, None] * (self.shifts - self.tied_shift)).sum(axis=0)
            s2[:] = moved_second_moments("tied", nk.sum(), s1_tied, s2.reshape(d, d),
                                         self.tied_shift - tied_shift).reshape(-1)
        else:
            s2[:] = moved_second_moments(self.covariance_type, nk, s1, s2_view(self),
                                         e).reshape(-1)
        s1 += nk[:, None] * e
        self.shifts = np.array(shifts, dtype=np.float64)
        self.tied_shift = np.array(tied_shift, dtype=np.float64)

    @property
    def loglik(self):
        """Σ w log p(x), as a view into ``row`` (internal form of ``log_likelihood``)."""
        return self.row[0]

    @property
    def log_likelihood(self):
        """Σ w log p(x) under the mixture the statistics were taken under."""
        return float(self.row[0])

    @property
    def weight(self):
        """Σ w, as a view into ``row`` (internal form of ``total_weight``)."""
        return self.row[1]

    @property
    def total_weight(self):
        """Σ w over the rows."""
        return float(self.row[1])

    @property
    def nk(self):
        """Σ w r_k per component, shape (n_components,)."""
        return self.row[2:2 + self.shifts.shape[0]]

    @property
    def s1(self):
        """Σ w r_k (x − shift_k) per component, shape (n_components, n_features)."""
        k, d = self.shifts.shape
        return self.row[2 + k:2 + k + k * d].reshape(k, d)

    @property
    def s2(self):
        """The second moments around the shifts, flat, shaped by the covariance type."""
        k, d = self.shifts.shape
        return self.row[2 + k + k * d:]

    @property
    def means(self):
        """The responsibility-weighted mean of each component (the M-step's means)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.shifts + self.s1 / self.nk[:, None]

    @property
    def mean_loglik(self):
        """Σ w log p(x) / Σ w (−inf without weight)."""
        return self.loglik / self.weight if self.weight > 0 else -np.inf


Statistics = SufficientStatistics


def _pooled_shifts(a, b):
    """The component means of a and b pooled (a component empty in both keeps a's shift)."""
    nk = a.nk + b.nk
    with np.errstate(divide="ignore", invalid="ignore"):
        sums = (a.s1 + a.nk[:, None] * a.shifts) + (b.s1 + b.nk[:, None] * b.shifts)
        shifts = np.where(nk[:, None] > 0, sums / nk[:, None], a.shifts)
        total = nk.sum()
        tied_shift = (nk @ shifts) / total if total > 0 else np.asarray(a.tied_shift, np.float64)
    return shifts.astype(np.float64), np.asarray(tied_shift, np.float64)


# A component's one-pass scatter, S2 around a shift c less N (μ − c)², keeps
# about −log10(eps · raw / var) digits, where raw is the second moment around c
# and var the variance it leaves.  Below this ratio (its digits: 16 − 5) the
# statistics stand; above it (a tight cluster far from the shift, or a variance
# within rounding of zero) the component is taken again around its new mean.
CENTRING_RATIO = 1e5


def imprecise_components(stats):
    """Components whose second moments cancel: for some feature the variance is
    below 1 / CENTRING_RATIO of the second moment around the shift.  Tied
    statistics (one S2 for all components) are never listed."""
    if stats.covariance_type == "tied":
        return []
    k, d = stats.shifts.shape
    nk = stats.nk
    s2 = stats.s2
    if stats.covariance_type == "full":
        raw = s2.reshape(k, d, d)[:, np.arange(d), np.arange(d)]
    elif stats.covariance_type == "diag":
        raw = s2.reshape(k, d)
    else:
        raw = s2.reshape(k, 1)
    with np.errstate(over="ignore"):
        first = stats.s1**2 if stats.covariance_type != "spherical" else np.einsum(
            "kd,kd->k", stats.s1, stats.s1)[:, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        centred = raw - first / nk[:, None]
        cancelled = (nk > 0)[:, None] & (raw > 0) & ~(centred * CENTRING_RATIO > raw)
    return [int(c) for c in np.flatnonzero(cancelled.any(axis=1))]


def centred_statistics(stats, components, resp_blocks):
    """``stats`` with the listed components' N, S1 and S2 summed again around
    their means (the means ``stats`` gives them), from ``resp_blocks``: an
    iterable of (X block, weights block or None, responsibilities block) over the
    same rows and responsibilities as ``stats``.  A two-pass sum, exact where the
    one-pass statistics cancel (see imprecise_components)."""
    k, d = stats.shifts.shape
    comps = np.asarray(components, dtype=np.intp)
    centres = stats.means[comps]
    nk = np.zeros(len(comps))
    s1 = np.zeros((len(comps), d))
    kind = stats.covariance_type
    s2 = np.zeros((len(comps), d, d) if kind == "full" else
                  (len(comps), d) if kind == "diag" else len(comps))
    for X, w, resp in resp_blocks:
        X = np.asarray(X, dtype=np.float64)
        r = np.asarray(resp[:, comps], dtype=np.float64)
        if w is not None:
            r *= np.asarray(w, dtype=np.float64)[:, None]
        nk += r.sum(axis=0)
        for t in range(len(comps)):
            z = X - centres[t]
            rz = r[:, t] @ z
            s1[t] += rz
            if kind == "full":
                s2[t] += (z * r[:, t, None]).T @ z
            elif kind == "diag":
                s2[t] += r[:, t] @ (z * z)
            else:
                s2[t] += r[:, t] @ np.einsum("nd,nd->n", z, z)
    out = stats.copy()
    out.shifts = np.array(out.shifts, dtype=np.float64)
    out.shifts[comps] = centres
    out.nk[comps] = nk
    out.s1[comps] = s1
    if kind == "full":
        out.s2.reshape(k, d, d)[comps] = s2
    elif kind == "diag":
        out.s2.reshape(k, d)[comps] = s2
    else:
        out.s2[comps] = s2
    return out


def implied_statistics(model):
    """The statistics per unit weight that a fitted model's parameters imply: N = π,
    S1 = 0 around the means, S2 = N (Σ − reg_covar) (the fit added reg_covar)."""
    kind = model.covariance_type
    weights = np.asarray(model.weights_, dtype=np.float64)
    weights = weights / weights.sum()
    means = np.array(model.means_, dtype=np.float64)
    covariances = np.asarray(model.covariances_, dtype=np.float64)
    k, d = means.shape
    reg = float(model.reg_covar)
    tied_shift = weights @ means
    if kind == "full":
        s2 = weights[:, None, None] * (covariances - reg * np.eye(d))
    elif kind == "tied":
        delta = means - tied_shift
        s2 = (covariances - reg * np.eye(d)) + (weights[:, None] * delta).T @ delta
    elif kind == "diag":
        s2 = weights[:, None] * np.maximum(covariances - reg, 0.0)
    else:
        s2 = weights * d * np.maximum(covariances - reg, 0.0)
    stats = SufficientStatistics(kind, means, tied_shift)
    stats.row[0] = float(model.lower_bound_) if np.isfinite(model.lower_bound_) else 0.0
    stats.row[1] = 1.0
    stats.nk[:] = weights
    stats.s2[:] = np.ravel(s2)
    return stats


def s2_view(stats):
    """The second moments shaped per component: (k, d, d), (d, d), (k, d) or (k,)."""
    return stats.s2.reshape(TYPES[stats.covariance_type].shape(*stats.shifts.shape))


def moved_second_moments(covariance_type, nk, s1, s2, e):
    """Second moments around other centres, by the exact algebra x − c' = (x − c) + e
    (e = c − c'): S2' = S2 + S1 eᵀ + e S1ᵀ + N e eᵀ per component, its diagonal for
    'diag', its trace for 'spherical'.  Every move of the statistics goes through here:
    recentring them (e = old shift − new) and the M-step's scatter around the new
    means (e = shift − mean).

    ``s2`` is shaped as s2_view gives it; for 'full' and 'tied' only its lower
    triangles are read (the kernels fill those), and the result is exactly symmetric,
    as a Cholesky factorisation sees it: one rank-2 update of the lower triangle,
    S2 + x eᵀ + e xᵀ with x = S1 + N e / 2 (BLAS syr2, in place in a copy), mirrored.
    No other temporary of S2's size (k d², 256 MB at d = 2000, k = 8).
    """
    if covariance_type == "diag":
        return s2 + 2.0 * e * s1 + nk[:, None] * e**2
    if covariance_type == "spherical":
        return s2 + 2.0 * np.einsum("kd,kd->k", e, s1) + nk * np.einsum("kd,kd->k", e, e)
    single = covariance_type == "tied"
    moved = np.array(s2[None] if single else s2, dtype=np.float64)
    nk, s1, e = (np.atleast_1d(nk), np.atleast_2d(s1), np.atleast_2d(e))
    d = moved.shape[-1]
    syr2, = linalg.get_blas_funcs(("syr2",), (moved,))
    upper = np.triu_indices(d, 1)
    for c in range(moved.shape[0]):
        x = s1[c] + 0.5 * nk[c] * e[c]
        # moved[c]'s lower triangle is the upper one of the column-major moved[c].T
        syr2(1.0, x, e[c], a=moved[c].T, lower=0, overwrite_a=True)
        moved[c][upper] = moved[c].T[upper]
    return moved[0] if single else moved


def _symmetric_from_lower(s2):
    """Full symmetric matrices from the lower triangles the kernels fill."""
    lower = np.tril(s2)
    full = lower + np.swapaxes(lower, -1, -2)
    i = np.arange(s2.shape[-1])
    full[..., i, i] = lower[..., i, i]
    return full


def _scatter(stats, means):
    """Σ r (x − μ)(x − μ)ᵀ per component (its diagonal, its trace) around the new
    means: the statistics' second moments moved from their shifts."""
    return moved_second_moments(stats.covariance_type, stats.nk, stats.s1, s2_view(stats),
                                stats.shifts - means)


def _covariances_full(stats, means, nk_reg, reg_covar):
    d = means.shape[1]
    cov = _scatter(stats, means)
    cov /= nk_reg[:, None, None]
    cov[:, np.arange(d), np.arange(d)] += reg_covar
    return cov


def _covariances_tied(stats, means, nk_reg, reg_covar):
    d = means.shape[1]
    S2 = _symmetric_from_lower(stats.s2.reshape(d, d))
    # Σ_k Σ_i r_ik (x_i − μ_k)(x_i − μ_k)ᵀ from the global shift c: moved_second_moments'
    # algebra for each component (e_k = c − μ_k = −δ_k), summed over the components
    # as matrix products, so that no k d × d stack is made:
    # S2 − Σ_k [S1c_k δ_kᵀ + δ_k S1c_kᵀ − N_k δ_k δ_kᵀ], S1c_k = Σ_i r_ik (x_i − c)
    s1c = stats.s1 + stats.nk[:, None] * (stats.shifts - stats.tied_shift)
    delta = means - stats.tied_shift
    cross = s1c.T @ delta
    scatter = S2 - cross - cross.T + (stats.nk[:, None] * delta).T @ delta
    cov = _symmetric_from_lower(scatter) / nk_reg.sum()  # exactly symmetric, as in full
    cov[np.arange(d), np.arange(d)] += reg_covar
    return cov


def _variances_diag(stats, means, nk_reg):
    var = _scatter(stats, means) / nk_reg[:, None]
    # Rounding can leave a tiny negative variance where a feature is constant
    # within a component; a variance is never negative.
    return np.maximum(var, 0.0)


def _covariances_diag(stats, means, nk_reg, reg_covar):
    return _variances_diag(stats, means, nk_reg) + reg_covar


def _covariances_spherical(stats, means, nk_reg, reg_covar):
    d = means.shape[1]
    return np.maximum(_scatter(stats, means) / (d * nk_reg), 0.0) + reg_covar


_COVARIANCES = {
    "full": _covariances_full,
    "tied": _covariances_tied,
    "diag": _covariances_diag,
    "spherical": _covariances_spherical,
}


def estimate_parameters(stats, reg_covar, eps):
    """Weights (unnormalised, as N_k + 10 eps w̄), means and covariances from
    statistics.

    ``eps`` is the machine epsilon of the data's dtype: like scikit-learn, every
    N_k gets 10 eps (times the mean weight of a row, w̄, so that a uniform scale of
    the sample weights changes nothing; 1 without weights, scikit-learn's case)
    so that an empty component divides by a positive number.
    """
    unit = stats.weight / stats.n_rows if stats.n_rows > 0 and stats.weight > 0 else 1.0
    nk_reg = stats.nk + 10 * eps * unit
    with np.errstate(over="ignore", invalid="ignore"):
        means = (stats.s1 + stats.nk[:, None] * stats.shifts) / nk_reg[:, None]
        covariances = _COVARIANCES[stats.covariance_type](stats, means, nk_reg, reg_covar)
    single = eps == np.finfo(np.float32).eps
    # the parameters are kept in the data's dtype, which eps tells
    largest = np.finfo(np.float32 if single else np.float64).max
    if not (np.all(np.abs(means) <= largest) and np.all(np.abs(covariances) <= largest)):
        hint = " or pass float64 data instead of float32" if single else ""
        dtype = "float32" if hint else "float64"
        raise ValueError(
            "the mixture's means or covariances are not finite: the spread of the data "
            f"overflows {dtype} in the second moments. Scale the input data{hint}.")
    return nk_reg, means, covariances


def _ill_defined_message(dtype):
    message = ILL_DEFINED_COVARIANCE
    if dtype == np.float32:
        message += (" The numerical accuracy can also be improved by passing float64"
                    " data instead of float32.")
    return message


# Stacks of covariances up to this many entries take one batched Cholesky; larger
# ones a factorisation per matrix, in place in the output (no stack-sized
# temporary).
_BATCHED_CHOLESKY_ENTRIES = 1 << 20


def _upper_inverse_factors(covariances):
    """U with U Uᵀ = C⁻¹, U upper-triangular (scikit-learn's convention), for each C of
    a stack (k × d × d) of finite symmetric matrices; LinAlgError if one is not
    positive definite.

    LAPACK called directly: the per-matrix scipy.linalg calls (with their input
    checks) cost more than the arithmetic at small d (0.2 ms an iteration for 8
    components of 4 features).  Small stacks take one batched Cholesky; in large
    ones each matrix is factored and inverted in place in the output.
    """
    potrf, trtri = linalg.get_lapack_funcs(("potrf", "trtri"), (covariances,))
    batched = covariances.size <= _BATCHED_CHOLESKY_ENTRIES
    chol = np.linalg.cholesky(covariances) if batched else None
    out = np.empty_like(covariances)
    for c in range(covariances.shape[0]):
        if batched:
            lower = chol[c]
        else:
            # C's upper triangle (row-major) is the lower one of the column-major
            # C (symmetric), factored in place in out[c].T
            out[c] = covariances[c]
            lower, info = potrf(out[c].T, lower=1, clean=1, overwrite_a=1)
            if info != 0:
                raise linalg.LinAlgError("a covariance is not positive definite")
        inverse, info = trtri(lower, lower=1, overwrite_c=not batched)
        if info != 0:
            raise linalg.LinAlgError("a Cholesky factor of the covariances is singular")
        out[c] = inverse.T
    return out


def non_definite_components(covariances, covariance_type):
    """Indices of the components whose covariance is not positive definite
    ('tied': [0] when the one shared covariance is not)."""
    kind = TYPES[covariance_type]
    if kind.matrix:
        stack = kind.stack(covariances)
        try:  # all at once, the common case: every factor exists
            chol = np.linalg.cholesky(stack)
            if np.all(np.isfinite(chol)) and np.all(np.diagonal(chol, axis1=1, axis2=2) > 0):
                return []
        except np.linalg.LinAlgError:
            pass
        return [c for c, cov in enumerate(stack) if not _invertible_factor(cov)]
    cov = np.asarray(covariances)
    return list(np.flatnonzero(np.any(cov.reshape(cov.shape[0], -1) <= 0.0, axis=1)))


def _invertible_factor(covariance):
    """Whether the precision's Cholesky factor exists: a Cholesky factor with a
    positive diagonal (rounding can let a singular matrix through with a zero
    pivot, which the triangular solve then rejects)."""
    try:
        chol = linalg.cholesky(covariance, lower=True)
    except linalg.LinAlgError:
        return False
    return bool(np.all(np.diagonal(chol) > 0))


def pooled_covariance(weights, covariances, covariance_type):
    """The weight-averaged covariance of the components (for a re-seeded one)."""
    if covariance_type == "tied":
        return covariances
    return np.tensordot(weights / weights.sum(), covariances, axes=1)


def precisions_cholesky_from_covariances(covariances, covariance_type, dtype):
    """Cholesky factors of the precisions; scikit-learn's error if one is not definite."""
    kind = TYPES[covariance_type]
    if kind.matrix:
        if not np.all(np.isfinite(covariances)):
            raise ValueError(_ill_defined_message(dtype))
        try:
            return kind.unstack(_upper_inverse_factors(kind.stack(covariances)))
        except linalg.LinAlgError:
            raise ValueError(_ill_defined_message(dtype)) from None
    if np.any(covariances <= 0.0):
        raise ValueError(_ill_defined_message(dtype))
    return 1.0 / np.sqrt(covariances)


def n_parameters(covariance_type, n_components, n_features):
    """Free parameters of the mixture (for BIC and AIC)."""
    k, d = n_components, n_features
    return int(TYPES[covariance_type].n_parameters(k, d) + d * k + k - 1)


def bic(log_likelihood, n_samples, n_parameters):
    """Bayesian information criterion of Σ log p(x) over n samples (lower is better)."""
    return -2 * log_likelihood + n_parameters * math.log(n_samples)


def aic(log_likelihood, n_parameters):
    """Akaike information criterion of Σ log p(x) (lower is better)."""
    return -2 * log_likelihood + 2 * n_parameters


# Components with Σ p δ² above this take the direct form in the float64 diag and
# spherical E-steps (see KernelParams): the expansion's rounding, a few eps ·
# (2d + 2) · reach at worst, stays below 1e-9 of a log-density of size d.  The
# benchmarks' clusters (centres 4 standard deviations apart per feature) reach
# 16 d, far below it.
DIRECT_REACH = 2.0**15


class KernelParams:
    """The parameters in the form the E-step kernel reads, in the data's dtype.

    ``shift`` is the mixture's mean Σ π_c μ_c: the kernels work on x − shift, so
    the expanded quadratic forms of the diag, spherical and tied E-steps (one GEMM
    each) lose no digits to a data set far from the origin.  ``cst`` holds the
    per-component constant of each log-density and ``Q`` the coefficients that
    multiply the kernel's per-row design (see ``_kernels.e_step``).
    """

    __slots__ = ("covariance_type", "cov_code", "shift", "means", "delta", "prec", "Q", "cst",
                 "direct", "entropy", "marginals")

    def __init__(self, weights, means, precisions_cholesky, covariance_type, dtype,
                 log_weights=None, entropy=False, marginalize=False):
        means = np.asarray(means, dtype=np.float64)
        k, d = means.shape
        weights = np.asarray(weights, dtype=np.float64)
        pc = np.asarray(precisions_cholesky, dtype=np.float64)
        self.covariance_type = covariance_type
        self.cov_code = TYPES[covariance_type].code
        total = weights.sum()
        shift = weights @ means / total if total > 0 else means.mean(axis=0)
        # the kernel sees the shift rounded to its dtype: work from that one
        shift = shift.astype(dtype).astype(np.float64)
        delta = means - shift
        if log_weights is None:  # else: the per-component terms of a variational E-step
            with np.errstate(divide="ignore"):
                log_weights = np.log(weights)
        # a pass under these parameters also sums Σ w Σ_k r log r (SufficientStatistics.
        # resp_entropy), for the variational lower bound
        self.entropy = bool(entropy)
        # rows with NaN entries are taken on their observed features (_missing)
        self.marginals = (Marginals(log_weights, means, pc, covariance_type) if marginalize
                          else None)
        cst = (np.asarray(log_weights, dtype=np.float64)
               + TYPES[covariance_type].log_det_cholesky(pc, d) - 0.5 * d * math.log(2 * math.pi))
        direct = np.empty(0, dtype=np.intp)
        if covariance_type == "diag":
            prec = pc**2
            Q = np.vstack([(prec * delta).T, -0.5 * prec.T])
            reach = np.einsum("kd,kd->k", prec, delta**2)
        elif covariance_type == "spherical":
            prec = pc**2
            Q = np.vstack([(prec[:, None] * delta).T, -0.5 * prec[None, :]])
            reach = prec * np.einsum("kd,kd->k", delta, delta)
        elif covariance_type == "tied":
            # the centres in whitened space, m_c = (μ_c − s) U; the kernel computes
            # ‖(x − s) U − m_c‖² directly
            Q = delta @ pc
        else:
            Q = np.empty(0)
        # The float64 diag and spherical E-steps work on z = x − s.  With more
        # than SMALL_D features they take the expanded quadratic form (one sweep
        # or GEMM of the design [z, z²]), whose constant terms −½ p δ² go into
        # cst; with fewer, register tiles take (z − δ)² p.  Near a component whose
        # mean is far from s against its spread (reach = Σ p δ²) both lose digits:
        # the expansion about eps · reach, the tiles eps · √reach per feature, to
        # the rounding of z and δ.  Such components are taken in the direct form
        # (x − μ)² p (the kernel's `direct` list) with their plain constants.
        # float32 works in the direct form or around the means everywhere but
        # d ≤ SMALL_D, whose data carry no more digits than the tiles keep.
        if covariance_type in ("diag", "spherical") and np.dtype(dtype) == np.float64:
            direct = np.flatnonzero(~(reach <= DIRECT_REACH)).astype(np.intp)
            if d > SMALL_D:
                expanded = np.ones(k, dtype=bool)
                expanded[direct] = False
                cst = np.where(expanded, cst - 0.5 * reach, cst)
                Q[:, direct] = 0.0
        self.shift = np.ascontiguousarray(shift, dtype=dtype)
        self.means = np.ascontiguousarray(means, dtype=dtype)
        self.delta = np.ascontiguousarray(delta, dtype=dtype)
        # full and tied: the Cholesky factors; diag and spherical: the precisions
        self.prec = np.ascontiguousarray(pc if TYPES[covariance_type].matrix else pc**2,
                                         dtype=dtype).reshape(-1)
        self.Q = np.ascontiguousarray(Q, dtype=dtype).reshape(-1)
        self.cst = np.ascontiguousarray(cst, dtype=np.float64)
        self.direct = direct

    def without_marginals(self):
        """These parameters for rows without NaN (the compiled pass alone)."""
        plain = object.__new__(KernelParams)
        for name in self.__slots__:
            setattr(plain, name, getattr(self, name))
        plain.marginals = None
        return plain

    def statistics_shifts(self):
        """The shifts of the statistics the E-step kernel returns (see e_step)."""
        k, d = self.means.shape
        if statistics_around_means(self.cov_code, d, k, self.means.dtype):
            return self.means
        return np.ascontiguousarray(np.broadcast_to(self.shift, (k, d)))
