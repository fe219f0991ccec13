# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True, freethreading_compatible=True
"""The E-step of rows with missing entries (NaN), compiled: each row's density on
its observed features, its responsibilities, the statistics with the missing
entries at their conditional means (and conditional covariances), and the
imputed rows.  The maths is _missing's (its docstring derives it); with the
precision's upper Cholesky factor U (Λ = U Uᵀ) and z = (x̃ − μ) U:

    quadratic form ‖z‖² − y_mᵀ Λ_mm⁻¹ y_m,  y_m = (U zᵀ)_m (the rows of U at the
    missing features: m · d / 2 products),  x̂_m − μ_m = −Λ_mm⁻¹ y_m,
    Cov[x_m | x_o] = Λ_mm⁻¹,  log |Σ_oo| = log |Λ_mm| − log |Λ|.

Full and tied precisions: per block of rows and component, one triangular
product (TRMM) gives z for every row, as the complete rows' kernels do, and an
m × m Cholesky factorisation per row the rest (kept for the statistics); the
second moments of the filled-in rows are one SYRK per component and block.
Diagonal and spherical precisions separate per feature.  float64 throughout.
"""

import numpy as np

from libc.math cimport INFINITY, exp, isfinite, log, sqrt
from libc.stdlib cimport free, realloc
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

cdef extern from "gmmcore_marginal.h" nogil:
    double gmm_marginal_dot(const double *a, const double *b, Py_ssize_t n)
    void gmm_marginal_deviation(const double *x, const double *ob, const double *mu,
                                double *dv, Py_ssize_t d)
    double gmm_marginal_diag_terms(const double *ob, const double *c0, const double *p,
                                   const double *dv, Py_ssize_t d)
    void gmm_marginal_moment_row(double w, double scale, double *dv, const double *e1,
                                 const double *e2, double *s1, Py_ssize_t d)
    void gmm_marginal_diag_moments(double w, const double *dv, const double *e1,
                                   const double *ob, const double *p, double *s1,
                                   double *s2, Py_ssize_t d)
    int gmm_marginal_cholesky(double *A, Py_ssize_t m, Py_ssize_t G, double *log_det,
                              double *t, double *product)
    void gmm_marginal_solve(const double *L, Py_ssize_t m, Py_ssize_t G, double *B)
    void gmm_marginal_inverse(const double *L, Py_ssize_t m, Py_ssize_t G, double *T,
                              double *C)


def marginal_pass(const double[:, ::1] X, const Py_ssize_t[::1] rows,
                  const double[::1] sample_weight, int cov_type,
                  const double[::1] log_weights, const double[:, ::1] means,
                  const double[::1] factors, const double[::1] precision,
                  const double[::1] log_det, const double[:, ::1] shifts,
                  const double[::1] tied_shift, double[::1] stats, double[:, ::1] out_resp,
                  double[::1] out_log_prob, double[:, ::1] out_filled):
    """One pass over the rows ``rows`` of X (with NaN entries) under a mixture given
    by ``log_weights`` (k,), ``means`` (k, d), ``factors`` (full: the k upper
    Cholesky factors U of the precisions, k·d·d; tied: one, d·d; diag and
    spherical: the precision of each feature, k·d), ``precision`` (full and tied:
    Λ = U Uᵀ, same layout; else empty) and log |Λ| per component.

    Any of: the statistics added to ``stats`` ([Σ w log p, Σ w, N, S1 around
    ``shifts``, S2 around ``shifts`` or, tied, ``tied_shift``]; S2's lower
    triangles), and per taken row i: the responsibilities, log p(x_o) and the row
    with its missing entries imputed (E[x_m | x_o]); empty arrays are not wanted.
    ``sample_weight``: one per row of X, or empty.  A row with nothing observed
    has log p = 0 and the weights as responsibilities.  Returns the number of rows
    whose log-likelihood is not finite; raises ValueError when a block of a
    precision is not positive definite.
    """
    cdef Py_ssize_t n_x = X.shape[0], d = X.shape[1], k = means.shape[0]
    cdef Py_ssize_t n = rows.shape[0]
    cdef bint matrix = cov_type == FULL or cov_type == TIED
    if cov_type < FULL or cov_type > SPHERICAL:
        raise ValueError(f"unknown covariance code {cov_type}")
    if means.shape[1] != d or log_weights.shape[0] != k or log_det.shape[0] != k:
        raise ValueError("means, log_weights and log_det must be (k, d), (k,) and (k,)")
    cdef Py_ssize_t size = (k * d * d if cov_type == FULL else d * d if cov_type == TIED
                            else k * d)
    if factors.shape[0] != size or precision.shape[0] != (size if matrix else 0):
        raise ValueError(f"factors (and, full and tied, precision) must have {size} entries")
    cdef Py_ssize_t s2_size = (k * d * d if cov_type == FULL else d * d if cov_type == TIED
                               else k * d if cov_type == DIAG else k)
    cdef bint want_stats = stats.shape[0] != 0
    if want_stats:
        if stats.shape[0] != 2 + k + k * d + s2_size:
            raise ValueError("stats has the wrong width")
        if shifts.shape[0] != k or shifts.shape[1] != d or tied_shift.shape[0] != d:
            raise ValueError("shifts must be (k, d) and tied_shift (d,)")
    cdef bint weighted = sample_weight.shape[0] != 0
    if weighted and sample_weight.shape[0] != n_x:
        raise ValueError("sample_weight must have one entry per row of X")
    cdef bint want_resp = out_resp.shape[0] != 0, want_lp = out_log_prob.shape[0] != 0
    cdef bint want_fill = out_filled.shape[0] != 0
    if want_resp and (out_resp.shape[0] != n or out_resp.shape[1] != k):
        raise ValueError("out_resp must be (len(rows), k)")
    if want_lp and out_log_prob.shape[0] != n:
        raise ValueError("out_log_prob must be (len(rows),)")
    if want_fill and (out_filled.shape[0] != n or out_filled.shape[1] != d):
        raise ValueError("out_filled must be (len(rows), d)")
    cdef Py_ssize_t i
    for i in range(n):
        if rows[i] < 0 or rows[i] >= n_x:
            raise ValueError(f"row index {rows[i]} is outside of X's {n_x} rows")
    if n == 0:
        return 0

    # scratch: the block's rows with NaN as 0 and their observed masks (BLOCK × d
    # each), the deviations x̂ − μ of every component (k × BLOCK × d), z (BLOCK ×
    # d), log-probabilities (BLOCK × k), missing feature lists (BLOCK × d), their
    # counts and factors' offsets, one right-hand side, per-feature constants
    xb_a = np.empty(BLOCK * d)
    ob_a = np.empty(BLOCK * d)
    dev_a = np.empty(k * BLOCK * d)
    z_a = np.empty(BLOCK * d)
    lp_a = np.empty(BLOCK * k)
    miss_a = np.empty(BLOCK * d, dtype=np.intp)
    count_a = np.empty(BLOCK, dtype=np.intp)
    e1_a = np.empty(d)
    e2_a = np.empty(d)
    wr_a = np.empty(BLOCK)
    # the rows grouped by their number of missing features m (one group's m × m
    # matrices are factored together): rows in group order, each group's m, first
    # row, size and offset of its factors; y_m and the solutions entry-major;
    # per-row log |Λ_mm| and quadratic forms; two rows of scratch
    order_a = np.empty(BLOCK, dtype=np.intp)
    hist_a = np.empty(d + 2, dtype=np.intp)
    group_a = np.empty((4, BLOCK + 1), dtype=np.intp)
    ym_a = np.empty(d * BLOCK)
    sol_a = np.empty(d * BLOCK)
    log_dets_a = np.empty(BLOCK)
    quads_a = np.empty(BLOCK)
    t_a = np.empty(BLOCK)
    product_a = np.empty(BLOCK)
    # diag and spherical: log 2π − log p per feature
    c0_a = (np.log(2 * np.pi) - np.log(np.asarray(factors)) if not matrix
            else np.empty(0))
    cdef double[::1] xb = xb_a, ob = ob_a, dev = dev_a, z = z_a, lp = lp_a
    cdef double[::1] wr = wr_a, e1 = e1_a, e2 = e2_a, ym = ym_a, sol = sol_a
    cdef double[::1] log_dets = log_dets_a, quads = quads_a, t = t_a, product = product_a
    cdef Py_ssize_t[::1] order = order_a, hist = hist_a
    cdef Py_ssize_t[:, ::1] group = group_a
    cdef const double[::1] c0 = c0_a
    cdef Py_ssize_t[::1] miss = miss_a, count = count_a

    cdef Py_ssize_t b0, nb, r, j, c, m, a, q, g, G, first, bad = 0
    cdef Py_ssize_t n_groups = 0, total_m2 = 0  # (set per block; full and tied only)
    cdef int status = 0
    cdef double value, top, total, w, lse
    cdef double one = 1.0, zero = 0.0
    cdef int id = <int> d, inb
    cdef double *dv
    cdef double *L
    cdef double *base
    cdef double *T
    cdef double *C
    cdef const double *lam
    cdef const double *x
    cdef double *s2
    cdef double *S = &stats[0] if want_stats else NULL
    # the m × m factors of one block, every component's (kept for the statistics)
    cdef double *store = NULL
    cdef double *work = NULL
    cdef double *grown
    cdef size_t capacity = 0, work_capacity = 0, needed

    with nogil:
        b0 = 0
        while b0 < n:
            nb = min(<Py_ssize_t> BLOCK, n - b0)
            inb = <int> nb
            for r in range(nb):  # the block's rows, masks and missing features
                x = &X[rows[b0 + r], 0]
                m = 0
                for j in range(d):
                    value = x[j]
                    if value == value:
                        xb[r * d + j] = value
                        ob[r * d + j] = 1.0
                    else:
                        xb[r * d + j] = 0.0
                        ob[r * d + j] = 0.0
                        miss[r * d + m] = j
                        m += 1
                count[r] = m
            if matrix:
                # counting sort of the rows by m: group g has m = group[0, g], rows
                # order[group[1, g]:][:group[2, g]], factors at group[3, g]
                for m in range(d + 2):
                    hist[m] = 0
                for r in range(nb):
                    hist[count[r] + 1] += 1
                for m in range(d + 1):
                    hist[m + 1] += hist[m]
                for r in range(nb):
                    order[hist[count[r]]] = r
                    hist[count[r]] += 1
                n_groups = 0
                total_m2 = 0
                first = 0
                while first < nb:
                    m = count[order[first]]
                    G = 1
                    while first + G < nb and count[order[first + G]] == m:
                        G += 1
                    group[0, n_groups] = m
                    group[1, n_groups] = first
                    group[2, n_groups] = G
                    group[3, n_groups] = total_m2
                    total_m2 += m * m * G
                    n_groups += 1
                    first += G
                needed = <size_t> (k * total_m2) if cov_type == FULL else <size_t> total_m2
                if needed > capacity:
                    grown = <double *> realloc(store, needed * sizeof(double))
                    if grown == NULL:
                        status = -2
                        break
                    store, capacity = grown, needed
                if want_stats and <size_t> (2 * total_m2) > work_capacity:
                    grown = <double *> realloc(work, 2 * total_m2 * sizeof(double))
                    if grown == NULL:
                        status = -2
                        break
                    work, work_capacity = grown, <size_t> (2 * total_m2)
            # log-probabilities, and the deviations x̂ − μ_c of the filled-in rows
            for c in range(k):
                dv = &dev[c * BLOCK * d]
                for r in range(nb):
                    gmm_marginal_deviation(&xb[r * d], &ob[r * d], &means[c, 0], &dv[r * d], d)
                if not matrix:
                    for r in range(nb):
                        lp[r * k + c] = log_weights[c] - 0.5 * gmm_marginal_diag_terms(
                            &ob[r * d], &c0[c * d], &factors[c * d], &dv[r * d], d)
                    continue
                lam = &precision[c * d * d] if cov_type == FULL else &precision[0]
                # y = dev Λ (Λ symmetric: column-major, yᵀ = Λ devᵀ)
                dgemm(b"N", b"N", &id, &inb, &id, &one, <double *> lam, &id, dv, &id,
                      &zero, &z[0], &id)
                for r in range(nb):
                    quads[r] = gmm_marginal_dot(&dv[r * d], &z[r * d], d)
                base = store + (c * total_m2 if cov_type == FULL else 0)
                for g in range(n_groups):
                    m, first, G = group[0, g], group[1, g], group[2, g]
                    if m == 0:
                        continue
                    L = base + group[3, g]
                    if cov_type == FULL or c == 0:  # (tied: one factor per row)
                        for i in range(G):  # Λ_mm of each row, entry-major
                            r = order[first + i]
                            for a in range(m):
                                for q in range(a + 1):
                                    L[(a * m + q) * G + i] = lam[
                                        miss[r * d + a] * d + miss[r * d + q]]
                        if gmm_marginal_cholesky(L, m, G, &t[0], &sol[0], &product[0]):
                            status = -1
                            break
                        for i in range(G):
                            log_dets[order[first + i]] = t[i]
                    for i in range(G):  # y_m, and Λ_mm⁻¹ y_m
                        r = order[first + i]
                        for a in range(m):
                            ym[a * G + i] = z[r * d + miss[r * d + a]]
                            sol[a * G + i] = ym[a * G + i]
                    gmm_marginal_solve(L, m, G, &sol[0])
                    for i in range(G):
                        r = order[first + i]
                        for a in range(m):
                            quads[r] -= ym[a * G + i] * sol[a * G + i]
                            dv[r * d + miss[r * d + a]] = -sol[a * G + i]
                if status:
                    break
                for r in range(nb):
                    m = count[r]
                    lp[r * k + c] = log_weights[c] - 0.5 * (
                        (d - m) * LOG_2PI - log_det[c] + (log_dets[r] if m else 0.0)
                        + quads[r])
                if status:
                    break
            if status:
                break
            # responsibilities (in lp), log p(x_o), outputs and the row statistics
            for r in range(nb):
                w = sample_weight[rows[b0 + r]] if weighted else 1.0
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
                    x = &X[rows[b0 + r], 0]
                    for j in range(d):
                        out_filled[b0 + r, j] = x[j]
                    for a in range(count[r]):
                        j = miss[r * d + a]
                        value = 0.0
                        for c in range(k):
                            value = value + lp[r * k + c] * (
                                means[c, j] + dev[(c * BLOCK + r) * d + j])
                        out_filled[b0 + r, j] = value
                if want_stats:
                    S[0] += w * lse
                    S[1] += w
            if want_stats:
                for c in range(k):
                    for r in range(nb):
                        w = sample_weight[rows[b0 + r]] if weighted else 1.0
                        wr[r] = w * lp[r * k + c]
                        S[2 + c] += wr[r]
                    _add_moments(cov_type, c, k, d, nb, &dev[c * BLOCK * d], &wr[0], &ob[0],
                                 &means[0, 0], &shifts[0, 0], &tied_shift[0], &factors[0],
                                 S, &e1[0], &e2[0], id, inb)
                    if not matrix:
                        continue
                    if cov_type == TIED and c > 0:
                        continue  # Λ_mm⁻¹ is every component's: added once, weight w
                    # the conditional covariances Λ_mm⁻¹, weighted
                    s2 = S + 2 + k + k * d + (c * d * d if cov_type == FULL else 0)
                    base = store + (c * total_m2 if cov_type == FULL else 0)
                    for g in range(n_groups):
                        m, first, G = group[0, g], group[1, g], group[2, g]
                        if m == 0:
                            continue
                        T, C = work, work + m * m * G
                        gmm_marginal_inverse(base + group[3, g], m, G, T, C)
                        for i in range(G):
                            r = order[first + i]
                            w = wr[r]
                            if cov_type == TIED:
                                w = sample_weight[rows[b0 + r]] if weighted else 1.0
                            if w == 0.0:
                                continue
                            for a in range(m):
                                for q in range(a + 1):
                                    s2[miss[r * d + a] * d + miss[r * d + q]] += (
                                        w * C[(a * m + q) * G + i])
            b0 = b0 + nb
        free(store)
        free(work)
    if status == -2:
        raise MemoryError("no memory for the factors of a block of rows")
    if status:
        raise ValueError("a precision matrix's block of the missing features is not "
                         "positive definite")
    return bad


cdef void _add_moments(int cov_type, Py_ssize_t c, Py_ssize_t k, Py_ssize_t d, Py_ssize_t nb,
                       double *dv, const double *wr, const double *ob, const double *means,
                       const double *shifts, const double *tied_shift,
                       const double *factors, double *S, double *e1, double *e2,
                       int id, int inb) noexcept nogil:
    """Component c's S1 and S2 of a block's filled-in rows (their deviations x̂ − μ_c
    in ``dv``, overwritten), weighted by ``wr``; the conditional covariances of
    full and tied precisions are the caller's.  e1, e2: scratch of d doubles."""
    cdef double *s1 = S + 2 + k + c * d
    cdef double *s2
    cdef double one = 1.0, total
    cdef Py_ssize_t r, j
    for j in range(d):  # x̂ − shift = (x̂ − μ) + (μ − shift)
        e1[j] = means[c * d + j] - shifts[c * d + j]
        e2[j] = means[c * d + j] - (tied_shift[j] if cov_type == TIED else shifts[c * d + j])
    if cov_type == DIAG or cov_type == SPHERICAL:
        # a missing feature adds its variance; spherical: the features' sum
        s2 = S + 2 + k + k * d + c * d if cov_type == DIAG else e2
        if cov_type == SPHERICAL:
            for j in range(d):
                e2[j] = 0.0
        for r in range(nb):
            gmm_marginal_diag_moments(wr[r], &dv[r * d], e1, &ob[r * d], &factors[c * d],
                                      s1, s2, d)
        if cov_type == SPHERICAL:
            total = 0.0
            for j in range(d):
                total = total + e2[j]
            S[2 + k + k * d + c] += total
        return
    for r in range(nb):  # rows scaled by √w for one SYRK (around the tied shift: tied)
        gmm_marginal_moment_row(wr[r], sqrt(wr[r]), &dv[r * d], e1, e2, s1, d)
    s2 = S + 2 + k + k * d + (c * d * d if cov_type == FULL else 0)
    # S2 (row-major lower = column-major upper) += Σ_r dv_r dv_rᵀ
    dsyrk(b"U", b"N", &id, &inb, &one, dv, &id, &one, s2, &id)
