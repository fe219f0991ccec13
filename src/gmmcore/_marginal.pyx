# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True, freethreading_compatible=True
"""The E-step of rows with missing entries (NaN), compiled: each row's density on
its observed features, its responsibilities, the statistics with the missing
entries at their conditional means (and conditional covariances), and the
imputed rows.  The maths is _missing's (its docstring derives it):

    y = Λ (x̃ − μ)   (x̃ − μ zero on the missing features)
    x̂_m − μ_m = −Λ_mm⁻¹ y_m,  Cov[x_m | x_o] = Λ_mm⁻¹,
    quadratic form (x̃ − μ)ᵀ y − y_mᵀ Λ_mm⁻¹ y_m,  log |Σ_oo| = log |Λ_mm| − log |Λ|.

Full and tied precisions: per block of rows and component, one GEMM gives y for
every row, and an m × m Cholesky factorisation per row the rest; the second
moments of the filled-in rows are one SYRK per component and block.  Diagonal and
spherical precisions separate per feature.  float64 throughout (float32 rows are
converted by the caller, a block of rows at a time).
"""

import numpy as np

from libc.math cimport INFINITY, exp, isfinite, log, sqrt
from scipy.linalg.cython_blas cimport dgemm, dsyrk

cdef enum:
    FULL = 0
    TIED = 1
    DIAG = 2
    SPHERICAL = 3

# Rows per block: the filled-in rows of every component (k × BLOCK × d doubles)
# stay in cache for the second moments.
cdef enum:
    BLOCK = 64

cdef double LOG_2PI = 1.8378770664093453


cdef int _cholesky(double *a, Py_ssize_t m) noexcept nogil:
    """In-place lower Cholesky factor of a row-major m × m matrix; -1 if it is not
    positive definite."""
    cdef Py_ssize_t i, j, p
    cdef double s, t
    for j in range(m):
        s = a[j * m + j]
        for p in range(j):
            s -= a[j * m + p] * a[j * m + p]
        if not s > 0.0:
            return -1
        s = sqrt(s)
        a[j * m + j] = s
        for i in range(j + 1, m):
            t = a[i * m + j]
            for p in range(j):
                t -= a[i * m + p] * a[j * m + p]
            a[i * m + j] = t / s
    return 0


cdef void _solve(const double *L, Py_ssize_t m, double *b) noexcept nogil:
    """b <- (L Lᵀ)⁻¹ b for a lower Cholesky factor L (row-major m × m)."""
    cdef Py_ssize_t i, p
    cdef double s
    for i in range(m):
        s = b[i]
        for p in range(i):
            s -= L[i * m + p] * b[p]
        b[i] = s / L[i * m + i]
    for i in range(m - 1, -1, -1):
        s = b[i]
        for p in range(i + 1, m):
            s -= L[p * m + i] * b[p]
        b[i] = s / L[i * m + i]


cdef int _gather_factor(const double *lam, Py_ssize_t d, const Py_ssize_t *miss,
                        Py_ssize_t m, double *L, double *log_det) noexcept nogil:
    """L = the Cholesky factor of Λ_mm (the missing features' block of Λ) and
    log |Λ_mm|; -1 if it is not positive definite."""
    cdef Py_ssize_t a, b
    for a in range(m):
        for b in range(a + 1):
            L[a * m + b] = lam[miss[a] * d + miss[b]]
    if _cholesky(L, m):
        return -1
    log_det[0] = 0.0
    for a in range(m):
        log_det[0] += 2.0 * log(L[a * m + a])
    return 0


def marginal_pass(const double[:, ::1] X, const double[::1] sample_weight, int cov_type,
                  const double[::1] log_weights, const double[:, ::1] means,
                  const double[::1] precision, const double[::1] log_det,
                  const double[:, ::1] shifts, const double[::1] tied_shift,
                  double[::1] stats, double[:, ::1] out_resp, double[::1] out_log_prob,
                  double[:, ::1] out_filled):
    """One pass over rows X (n, d) with NaN entries, under a mixture given by
    ``log_weights`` (k,), ``means`` (k, d), ``precision`` (full: k·d·d, tied: d·d,
    diag and spherical: k·d, the precisions per feature) and log |Λ| per component.

    Any of: the statistics added to ``stats`` ([Σ w log p, Σ w, N, S1 around
    ``shifts``, S2 around ``shifts`` or, tied, ``tied_shift``]; S2's lower
    triangles), the responsibilities, log p(x_o) and the rows with their missing
    entries imputed (E[x_m | x_o]); empty arrays are not wanted.  A row with
    nothing observed has log p = 0 and the weights as responsibilities.  Returns
    the number of rows whose log-likelihood is not finite, or raises ValueError
    when a precision's block is not positive definite.
    """
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], k = means.shape[0]
    cdef bint matrix = cov_type == FULL or cov_type == TIED
    if cov_type < FULL or cov_type > SPHERICAL:
        raise ValueError(f"unknown covariance code {cov_type}")
    if means.shape[1] != d or log_weights.shape[0] != k or log_det.shape[0] != k:
        raise ValueError("means, log_weights and log_det must be (k, d), (k,) and (k,)")
    cdef Py_ssize_t expected = (k * d * d if cov_type == FULL else d * d if cov_type == TIED
                                else k * d)
    if precision.shape[0] != expected:
        raise ValueError(f"precision has {precision.shape[0]} entries, expected {expected}")
    cdef Py_ssize_t s2_size = (k * d * d if cov_type == FULL else d * d if cov_type == TIED
                               else k * d if cov_type == DIAG else k)
    cdef bint want_stats = stats.shape[0] != 0
    if want_stats:
        if stats.shape[0] != 2 + k + k * d + s2_size:
            raise ValueError("stats has the wrong width")
        if shifts.shape[0] != k or shifts.shape[1] != d or tied_shift.shape[0] != d:
            raise ValueError("shifts must be (k, d) and tied_shift (d,)")
    cdef bint weighted = sample_weight.shape[0] != 0
    if weighted and sample_weight.shape[0] != n:
        raise ValueError("sample_weight must have one entry per row")
    cdef bint want_resp = out_resp.shape[0] != 0, want_lp = out_log_prob.shape[0] != 0
    cdef bint want_fill = out_filled.shape[0] != 0
    if want_resp and (out_resp.shape[0] != n or out_resp.shape[1] != k):
        raise ValueError("out_resp must be (n, k)")
    if want_lp and out_log_prob.shape[0] != n:
        raise ValueError("out_log_prob must be (n,)")
    if want_fill and (out_filled.shape[0] != n or out_filled.shape[1] != d):
        raise ValueError("out_filled must be (n, d)")
    if n == 0:
        return 0

    # scratch: filled-in deviations of every component (k × BLOCK × d), the
    # products y (BLOCK × d), log-probabilities (BLOCK × k), missing feature lists
    # (BLOCK × d) and their counts, one m × m factor, per-feature log-precisions
    filled_a = np.empty(k * BLOCK * d)
    y_a = np.empty(BLOCK * d)
    lp_a = np.empty(BLOCK * k)
    miss_a = np.empty(BLOCK * d, dtype=np.intp)
    count_a = np.empty(BLOCK, dtype=np.intp)
    factor_a = np.empty(d * d)
    rhs_a = np.empty(d)
    wr_a = np.empty(BLOCK)
    log_prec_a = np.log(np.asarray(precision)) if not matrix else np.empty(0)
    cdef double[::1] filled = filled_a, y = y_a, lp = lp_a, factor = factor_a, rhs = rhs_a
    cdef double[::1] wr = wr_a
    cdef const double[::1] log_prec = log_prec_a
    cdef Py_ssize_t[::1] miss = miss_a, count = count_a

    cdef Py_ssize_t b0, nb, r, i, j, c, m, a, q, bad = 0, block = BLOCK
    cdef int status = 0
    cdef double value, top, total, w, lse, quad, ld_mm
    cdef double one = 1.0, zero = 0.0
    cdef int id = <int> d, inb
    cdef double *dev
    cdef const double *lam
    cdef const double *x
    cdef double *s1
    cdef double *s2
    cdef double *S = &stats[0] if want_stats else NULL

    with nogil:
        b0 = -block
        while b0 + block < n:
            b0 = b0 + block
            nb = min(block, n - b0)
            inb = <int> nb
            for r in range(nb):  # each row's missing features
                x = &X[b0 + r, 0]
                m = 0
                for j in range(d):
                    if x[j] != x[j]:
                        miss[r * d + m] = j
                        m += 1
                count[r] = m
            # log-probabilities, and the deviations x̂ − μ_c of the filled-in rows
            for c in range(k):
                dev = &filled[c * BLOCK * d]
                for r in range(nb):
                    x = &X[b0 + r, 0]
                    for j in range(d):
                        value = x[j]
                        dev[r * d + j] = value - means[c, j] if value == value else 0.0
                if matrix:
                    lam = &precision[c * d * d] if cov_type == FULL else &precision[0]
                    # y = dev Λ (Λ symmetric: column-major, yᵀ = Λ devᵀ)
                    dgemm(b"N", b"N", &id, &inb, &id, &one, <double *> lam, &id, dev, &id,
                          &zero, &y[0], &id)
                    for r in range(nb):
                        quad = 0.0
                        for j in range(d):
                            quad = quad + dev[r * d + j] * y[r * d + j]
                        m = count[r]
                        ld_mm = 0.0
                        if m:
                            if _gather_factor(lam, d, &miss[r * d], m, &factor[0], &ld_mm):
                                status = -1
                                break
                            for a in range(m):
                                rhs[a] = y[r * d + miss[r * d + a]]
                            _solve(&factor[0], m, &rhs[0])   # Λ_mm⁻¹ y_m
                            for a in range(m):
                                quad = quad - y[r * d + miss[r * d + a]] * rhs[a]
                                dev[r * d + miss[r * d + a]] = -rhs[a]
                        lp[r * k + c] = log_weights[c] - 0.5 * (
                            (d - m) * LOG_2PI - log_det[c] + ld_mm + quad)
                    if status:
                        break
                else:
                    for r in range(nb):
                        quad = 0.0
                        for j in range(d):
                            if X[b0 + r, j] == X[b0 + r, j]:
                                quad = quad + (LOG_2PI - log_prec[c * d + j]
                                               + precision[c * d + j] * dev[r * d + j]
                                               * dev[r * d + j])
                        lp[r * k + c] = log_weights[c] - 0.5 * quad
            if status:
                break
            # responsibilities (in lp), log p(x_o), outputs and the row statistics
            for r in range(nb):
                w = sample_weight[b0 + r] if weighted else 1.0
                if count[r] == d:  # nothing observed: the weights, log p = 0
                    total = 0.0
                    for c in range(k):
                        total = total + exp(log_weights[c])
                    for c in range(k):
                        lp[r * k + c] = exp(log_weights[c]) / total
                    lse = 0.0
                else:
                    top = -INFINITY
                    for c in range(k):
                        if lp[r * k + c] > top:
                            top = lp[r * k + c]
                    if not isfinite(top):
                        top = 0.0
                    total = 0.0
                    for c in range(k):
                        lp[r * k + c] = exp(lp[r * k + c] - top)
                        total = total + lp[r * k + c]
                    lse = log(total) + top
                    for c in range(k):
                        lp[r * k + c] = lp[r * k + c] / total
                if not isfinite(lse):
                    bad += 1
                if want_lp:
                    out_log_prob[b0 + r] = lse
                if want_resp:
                    for c in range(k):
                        out_resp[b0 + r, c] = lp[r * k + c]
                if want_fill:
                    x = &X[b0 + r, 0]
                    for j in range(d):
                        out_filled[b0 + r, j] = x[j]
                    for a in range(count[r]):
                        j = miss[r * d + a]
                        value = 0.0
                        for c in range(k):
                            value = value + lp[r * k + c] * (
                                means[c, j] + filled[(c * BLOCK + r) * d + j])
                        out_filled[b0 + r, j] = value
                if want_stats:
                    S[0] += w * lse
                    S[1] += w
            if not want_stats:
                continue
            # N, S1 and S2 of the filled-in rows around the shifts, per component
            for c in range(k):
                dev = &filled[c * BLOCK * d]
                s1 = S + 2 + k + c * d
                for r in range(nb):
                    w = sample_weight[b0 + r] if weighted else 1.0
                    wr[r] = w * lp[r * k + c]
                    S[2 + c] += wr[r]
                    # deviations from the shift: x̂ − μ_c + (μ_c − shift)
                    for j in range(d):
                        dev[r * d + j] = dev[r * d + j] + means[c, j] - shifts[c, j]
                        s1[j] += wr[r] * dev[r * d + j]
                if cov_type == TIED:  # S2 around the one tied shift
                    for r in range(nb):
                        for j in range(d):
                            dev[r * d + j] = dev[r * d + j] + shifts[c, j] - tied_shift[j]
                if matrix:
                    s2 = S + 2 + k + k * d + (c * d * d if cov_type == FULL else 0)
                    for r in range(nb):
                        value = sqrt(wr[r])
                        for j in range(d):
                            dev[r * d + j] = dev[r * d + j] * value
                    # S2 (row-major lower = column-major upper) += Σ_r dev_r dev_rᵀ
                    dsyrk(b"U", b"N", &id, &inb, &one, dev, &id, &one, s2, &id)
                    lam = &precision[c * d * d] if cov_type == FULL else &precision[0]
                    for r in range(nb):
                        m = count[r]
                        if m == 0 or wr[r] == 0.0:
                            continue
                        if cov_type == TIED and c > 0:
                            continue  # Λ_mm⁻¹ is every component's: added once, weight w
                        w = wr[r]
                        if cov_type == TIED:
                            w = sample_weight[b0 + r] if weighted else 1.0
                        _gather_factor(lam, d, &miss[r * d], m, &factor[0], &ld_mm)
                        for a in range(m):  # column a of Λ_mm⁻¹, its lower part
                            for q in range(m):
                                rhs[q] = 1.0 if q == a else 0.0
                            _solve(&factor[0], m, &rhs[0])
                            for q in range(m):
                                i = miss[r * d + q]
                                j = miss[r * d + a]
                                if i >= j:
                                    s2[i * d + j] += w * rhs[q]
                else:
                    s2 = S + 2 + k + k * d
                    for r in range(nb):
                        for j in range(d):
                            value = dev[r * d + j] * dev[r * d + j]
                            if X[b0 + r, j] != X[b0 + r, j]:
                                value = value + 1.0 / precision[c * d + j]
                            if cov_type == DIAG:
                                s2[c * d + j] += wr[r] * value
                            else:
                                s2[c] += wr[r] * value
    if status:
        raise ValueError("a precision matrix's block of the missing features is not "
                         "positive definite")
    return bad
