# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True, freethreading_compatible=True
"""Compiled kernels: every per-sample loop of gmmcore.

Each public ``def`` here is a driver: it checks shapes, allocates the scratch it
needs, then runs a ``noexcept nogil`` loop over blocks of rows ``[start, end)``
of one shard.  Callers (``_parallel``) give every shard its own output buffers
and add them up in shard order, so results never depend on thread timing.

Layout conventions (all arrays C-contiguous, one dtype, ``floating``):

- ``X`` is (n_samples, n_features), row-major.  BLAS is column-major, so a
  row-major block of ``b`` rows is the column-major matrix ``Xᵀ`` (d × b, ld=d)
  and a row-major product ``Y = X U`` is computed as ``Yᵀ = Uᵀ Xᵀ``.
- ``prec`` holds the precision factor, flat: full (k, d, d) upper-triangular
  Cholesky factors U with P = U Uᵀ; tied (d, d); diag (k, d) precisions (U²);
  spherical (k,) precisions.
- Sufficient statistics are float64 whatever the input dtype, shifted by
  ``shifts`` (the current means) so that the covariance needs no E[xxᵀ] − μμᵀ:
  ``nk[c] = Σ r``, ``s1[c] = Σ r (x − c_c)``, ``s2``: full (k, d, d) and tied
  (d, d) hold the lower triangle (row ≥ col) of Σ r (x − c)(x − c)ᵀ; diag (k, d)
  the diagonal; spherical (k,) the trace.
"""

import numpy as np

from cython cimport floating
from libc.math cimport INFINITY, exp, log, sqrt, isfinite
from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemm, dsyrk, dtrmm, sgemm, ssyrk, strmm

cdef extern from "gmmcore_helpers.h" nogil:
    double gmm_logsumexp_resp_d(double *row, Py_ssize_t k)
    double gmm_logsumexp_resp_f(float *row, Py_ssize_t k)
    Py_ssize_t gmm_argmax_d(const double *row, Py_ssize_t k)
    Py_ssize_t gmm_argmax_f(const float *row, Py_ssize_t k)

# Covariance type codes, shared with _mstep.COVARIANCE_CODES.
cdef enum:
    FULL = 0
    TIED = 1
    DIAG = 2
    SPHERICAL = 3

COVARIANCE_CODES = {"full": FULL, "tied": TIED, "diag": DIAG, "spherical": SPHERICAL}

# Up to this many features the triangular products and rank-b updates are hand
# loops: a BLAS call costs more than the arithmetic (measured in benchmarks/).
cdef enum:
    SMALL_D_MAX = 8

SMALL_D = SMALL_D_MAX


# ---------------------------------------------------------------------------
# BLAS wrappers (fused float/double).  Signatures of cython_blas are frozen:
# pointers are non-const, so const inputs are cast at the call.
# ---------------------------------------------------------------------------

cdef inline void _rows_times_upper(int n_rows, int d, const floating *U,
                                   floating *Y) noexcept nogil:
    """Y <- Y U, for row-major Y (n_rows × d) and row-major upper-triangular U.

    Column-major, Yᵀ (d × n_rows) <- Uᵀ Yᵀ, and U's row-major memory is Uᵀ
    column-major, which is lower-triangular: trmm(side=L, uplo=L, trans=N).
    """
    cdef floating one = 1.0
    if floating is float:
        strmm(b"L", b"L", b"N", b"N", &d, &n_rows, &one, <float *>U, &d, Y, &d)
    else:
        dtrmm(b"L", b"L", b"N", b"N", &d, &n_rows, &one, <double *>U, &d, Y, &d)


cdef inline void _gram_lower(int n_rows, int d, const floating *A, floating beta,
                             floating *C) noexcept nogil:
    """C <- beta C + Aᵀ A for row-major A (n_rows × d), filling C's row-major lower triangle.

    Column-major, A's memory is Aᵀ (d × n_rows): syrk(trans=N) gives Aᵀ A into the
    column-major upper triangle, which is the row-major lower triangle.
    """
    cdef floating one = 1.0
    if floating is float:
        ssyrk(b"U", b"N", &d, &n_rows, &one, <float *>A, &d, &beta, C, &d)
    else:
        dsyrk(b"U", b"N", &d, &n_rows, &one, <double *>A, &d, &beta, C, &d)


cdef inline void _rows_times_rows_t(int n_rows, int m, int d, floating alpha,
                                    const floating *A, const floating *B,
                                    floating *C) noexcept nogil:
    """C <- alpha A Bᵀ for row-major A (n_rows × d), B (m × d), C (n_rows × m).

    Column-major, Cᵀ (m × n_rows) = B Aᵀ: B's memory is Bᵀ (d × m), so trans=T.
    """
    cdef floating zero = 0.0
    if floating is float:
        sgemm(b"T", b"N", &m, &n_rows, &d, &alpha, <float *>B, &d, <float *>A, &d,
              &zero, C, &m)
    else:
        dgemm(b"T", b"N", &m, &n_rows, &d, &alpha, <double *>B, &d, <double *>A, &d,
              &zero, C, &m)


cdef inline double _logsumexp_resp(floating *row, Py_ssize_t k) noexcept nogil:
    if floating is float:
        return gmm_logsumexp_resp_f(row, k)
    else:
        return gmm_logsumexp_resp_d(row, k)


cdef inline Py_ssize_t _argmax(const floating *row, Py_ssize_t k) noexcept nogil:
    if floating is float:
        return gmm_argmax_f(row, k)
    else:
        return gmm_argmax_d(row, k)


# ---------------------------------------------------------------------------
# Block kernels: one block of at most `block_size` rows, everything in cache.
# ---------------------------------------------------------------------------

cdef void _weighted_log_prob(
    const floating *X,            # IN  (n_rows, d) block
    Py_ssize_t n_rows, Py_ssize_t d, Py_ssize_t k, int cov_type,
    const floating *means,        # IN  (k, d)
    const floating *prec,         # IN  precision factor, see module doc
    const floating *means_prec,   # IN  tied only: (k, d) rows μ_c U
    const double *log_const,      # IN  (k,) log π_c + log det U_c − d/2 log 2π
    floating *wlp,                # OUT (n_rows, k) weighted log-densities
    floating *scratch,            # SCRATCH (n_rows, d)
) noexcept nogil:
    cdef Py_ssize_t i, j, l, c
    cdef floating diff, acc, sq, p
    cdef const floating *x
    cdef const floating *mu
    cdef const floating *U
    cdef floating *y

    if cov_type == FULL:
        for c in range(k):
            mu = means + c * d
            U = prec + c * d * d
            if d <= SMALL_D_MAX:
                for i in range(n_rows):
                    x = X + i * d
                    sq = 0.0
                    for j in range(d):
                        acc = 0.0
                        for l in range(j + 1):
                            acc = acc + (x[l] - mu[l]) * U[l * d + j]
                        sq = sq + acc * acc
                    wlp[i * k + c] = <floating>(log_const[c] - 0.5 * sq)
            else:
                for i in range(n_rows):
                    for j in range(d):
                        scratch[i * d + j] = X[i * d + j] - mu[j]
                _rows_times_upper(<int>n_rows, <int>d, U, scratch)
                for i in range(n_rows):
                    y = scratch + i * d
                    sq = 0.0
                    for j in range(d):
                        sq = sq + y[j] * y[j]
                    wlp[i * k + c] = <floating>(log_const[c] - 0.5 * sq)

    elif cov_type == TIED:
        # One triangular product for the block, then k squared distances.
        if d <= SMALL_D_MAX:
            for i in range(n_rows):
                x = X + i * d
                for j in range(d):
                    acc = 0.0
                    for l in range(j + 1):
                        acc = acc + x[l] * prec[l * d + j]
                    scratch[i * d + j] = acc
        else:
            memcpy(scratch, X, n_rows * d * sizeof(floating))
            _rows_times_upper(<int>n_rows, <int>d, prec, scratch)
        for i in range(n_rows):
            y = scratch + i * d
            for c in range(k):
                mu = means_prec + c * d
                sq = 0.0
                for j in range(d):
                    diff = y[j] - mu[j]
                    sq = sq + diff * diff
                wlp[i * k + c] = <floating>(log_const[c] - 0.5 * sq)

    elif cov_type == DIAG:
        for i in range(n_rows):
            x = X + i * d
            for c in range(k):
                mu = means + c * d
                U = prec + c * d
                sq = 0.0
                for j in range(d):
                    diff = x[j] - mu[j]
                    sq = sq + diff * diff * U[j]
                wlp[i * k + c] = <floating>(log_const[c] - 0.5 * sq)

    else:  # SPHERICAL
        for i in range(n_rows):
            x = X + i * d
            for c in range(k):
                mu = means + c * d
                sq = 0.0
                for j in range(d):
                    diff = x[j] - mu[j]
                    sq = sq + diff * diff
                wlp[i * k + c] = <floating>(log_const[c] - 0.5 * prec[c] * sq)


cdef void _accumulate_stats(
    const floating *X,            # IN  (n_rows, d) block
    Py_ssize_t n_rows, Py_ssize_t d, Py_ssize_t k, int cov_type,
    const floating *resp,         # IN  (n_rows, k) responsibilities of the block
    const floating *weight,       # IN  (n_rows,) sample weights, or NULL for ones
    const floating *shifts,       # IN  (k, d) shifts c_c (the current means)
    const floating *tied_shift,   # IN  (d,) tied only: the one shift of s2
    floating *scratch,            # SCRATCH (n_rows, d)
    floating *scratch_dd,         # SCRATCH (d, d), float32 path of full/tied
    double *nk,                   # INOUT (k,)
    double *s1,                   # INOUT (k, d)
    double *s2,                   # INOUT see module doc
) noexcept nogil:
    cdef Py_ssize_t i, j, l, c
    cdef floating r, w, sr, diff
    cdef double acc
    cdef const floating *x
    cdef const floating *shift
    cdef floating *z
    cdef double *S

    # N_k and S1_k, common to every covariance type.
    for c in range(k):
        shift = shifts + c * d
        for i in range(n_rows):
            r = resp[i * k + c]
            if weight != NULL:
                r = r * weight[i]
            if r == 0:
                continue
            nk[c] += r
            x = X + i * d
            for j in range(d):
                s1[c * d + j] += r * (x[j] - shift[j])

    if cov_type == FULL:
        for c in range(k):
            shift = shifts + c * d
            S = s2 + c * d * d
            if d <= SMALL_D_MAX:
                for i in range(n_rows):
                    r = resp[i * k + c]
                    if weight != NULL:
                        r = r * weight[i]
                    if r == 0:
                        continue
                    x = X + i * d
                    z = scratch  # one row suffices
                    for j in range(d):
                        z[j] = x[j] - shift[j]
                    for j in range(d):
                        diff = r * z[j]
                        for l in range(j + 1):
                            S[j * d + l] += diff * z[l]
            else:
                # rows sqrt(r_i)(x_i − c), then one rank-n_rows update
                for i in range(n_rows):
                    r = resp[i * k + c]
                    if weight != NULL:
                        r = r * weight[i]
                    sr = sqrt(r)
                    x = X + i * d
                    z = scratch + i * d
                    for j in range(d):
                        z[j] = sr * (x[j] - shift[j])
                _add_gram(n_rows, d, scratch, scratch_dd, S)

    elif cov_type == TIED:
        S = s2
        if d <= SMALL_D_MAX:
            for i in range(n_rows):
                w = 1.0 if weight == NULL else weight[i]
                if w == 0:
                    continue
                x = X + i * d
                z = scratch
                for j in range(d):
                    z[j] = x[j] - tied_shift[j]
                for j in range(d):
                    diff = w * z[j]
                    for l in range(j + 1):
                        S[j * d + l] += diff * z[l]
        else:
            for i in range(n_rows):
                sr = 1.0 if weight == NULL else sqrt(weight[i])
                x = X + i * d
                z = scratch + i * d
                for j in range(d):
                    z[j] = sr * (x[j] - tied_shift[j])
            _add_gram(n_rows, d, scratch, scratch_dd, S)

    elif cov_type == DIAG:
        for c in range(k):
            shift = shifts + c * d
            for i in range(n_rows):
                r = resp[i * k + c]
                if weight != NULL:
                    r = r * weight[i]
                if r == 0:
                    continue
                x = X + i * d
                for j in range(d):
                    diff = x[j] - shift[j]
                    s2[c * d + j] += r * diff * diff

    else:  # SPHERICAL
        for c in range(k):
            shift = shifts + c * d
            for i in range(n_rows):
                r = resp[i * k + c]
                if weight != NULL:
                    r = r * weight[i]
                if r == 0:
                    continue
                x = X + i * d
                acc = 0.0
                for j in range(d):
                    diff = x[j] - shift[j]
                    acc += diff * diff
                s2[c] += r * acc


cdef inline void _add_gram(Py_ssize_t n_rows, Py_ssize_t d, const floating *Z,
                           floating *scratch_dd, double *S) noexcept nogil:
    """S (float64, lower triangle) += Zᵀ Z.

    float64 updates S in place; float32 forms the block's Gram matrix in float32
    (a short sum of at most block_size terms) and accumulates it in float64.
    """
    cdef Py_ssize_t j, l
    if floating is double:
        _gram_lower(<int>n_rows, <int>d, Z, 1.0, S)
    else:
        _gram_lower(<int>n_rows, <int>d, Z, 0.0, scratch_dd)
        for j in range(d):
            for l in range(j + 1):
                S[j * d + l] += scratch_dd[j * d + l]


# ---------------------------------------------------------------------------
# Drivers
# ---------------------------------------------------------------------------

cdef _check_rows(Py_ssize_t n_samples, Py_ssize_t start, Py_ssize_t end):
    if not (0 <= start <= end <= n_samples):
        raise ValueError(
            f"row range [{start}, {end}) is outside of [0, {n_samples})")


cdef _check_shape(name, tuple actual, tuple expected):
    if actual != expected:
        raise ValueError(f"{name} has shape {actual}, expected {expected}")


def _prec_shape(int cov_type, Py_ssize_t k, Py_ssize_t d):
    if cov_type == FULL:
        return (k * d * d,)
    if cov_type == TIED:
        return (d * d,)
    if cov_type == DIAG:
        return (k * d,)
    if cov_type == SPHERICAL:
        return (k,)
    raise ValueError(f"unknown covariance type code {cov_type}")


def _s2_shape(int cov_type, Py_ssize_t k, Py_ssize_t d):
    return _prec_shape(cov_type, k, d)


def e_step(
    const floating[:, ::1] X,            # IN  (n_samples, d)
    Py_ssize_t start, Py_ssize_t end,    # IN  row range of this shard
    const floating[::1] sample_weight,   # IN  (n_samples,) or (0,) for ones
    int cov_type,
    const floating[:, ::1] means,        # IN  (k, d)
    const floating[::1] prec,            # IN  flat precision factor
    const floating[:, ::1] means_prec,   # IN  (k, d) tied, else (0, 0)
    const double[::1] log_const,         # IN  (k,)
    const floating[:, ::1] shifts,       # IN  (k, d) if statistics are wanted, else (0, 0)
    const floating[::1] tied_shift,      # IN  (d,) tied statistics, else (0,)
    double[::1] nk,                      # INOUT (k,) or (0,)
    double[:, ::1] s1,                   # INOUT (k, d) or (0, 0)
    double[::1] s2,                      # INOUT flat, see module doc, or (0,)
    floating[:, ::1] out_resp,           # OUT (n_samples, k) responsibilities, or (0, 0)
    floating[::1] out_log_prob_norm,     # OUT (n_samples,) log p(x), or (0,)
    Py_ssize_t[::1] out_labels,          # OUT (n_samples,) argmax, or (0,)
    Py_ssize_t block_size=256,
):
    """One pass over rows [start, end): E-step, and whatever outputs are given.

    Returns ``(Σ w log p(x), Σ w, n_nonfinite)`` over the shard, where
    ``n_nonfinite`` counts rows whose log-likelihood is not finite.
    Statistics are computed when ``shifts`` is (k, d); the per-row outputs
    when they have n_samples rows.
    """
    cdef Py_ssize_t n_samples = X.shape[0], d = X.shape[1], k = means.shape[0]
    _check_rows(n_samples, start, end)
    if block_size < 1:
        raise ValueError("block_size must be positive")
    _check_shape("means", (means.shape[0], means.shape[1]), (k, d))
    _check_shape("prec", (prec.shape[0],), _prec_shape(cov_type, k, d))
    _check_shape("log_const", (log_const.shape[0],), (k,))
    if cov_type == TIED:
        _check_shape("means_prec", (means_prec.shape[0], means_prec.shape[1]), (k, d))
    cdef bint weighted = sample_weight.shape[0] != 0
    if weighted:
        _check_shape("sample_weight", (sample_weight.shape[0],), (n_samples,))
    cdef bint want_stats = shifts.shape[0] != 0
    if want_stats:
        _check_shape("shifts", (shifts.shape[0], shifts.shape[1]), (k, d))
        _check_shape("nk", (nk.shape[0],), (k,))
        _check_shape("s1", (s1.shape[0], s1.shape[1]), (k, d))
        _check_shape("s2", (s2.shape[0],), _s2_shape(cov_type, k, d))
        if cov_type == TIED:
            _check_shape("tied_shift", (tied_shift.shape[0],), (d,))
    cdef bint want_resp = out_resp.shape[0] != 0
    if want_resp:
        _check_shape("out_resp", (out_resp.shape[0], out_resp.shape[1]), (n_samples, k))
    cdef bint want_lpn = out_log_prob_norm.shape[0] != 0
    if want_lpn:
        _check_shape("out_log_prob_norm", (out_log_prob_norm.shape[0],), (n_samples,))
    cdef bint want_labels = out_labels.shape[0] != 0
    if want_labels:
        _check_shape("out_labels", (out_labels.shape[0],), (n_samples,))
    if end == start:
        return 0.0, 0.0, 0

    dtype = np.float32 if floating is float else np.float64
    cdef Py_ssize_t b = min(block_size, end - start)
    cdef floating[:, ::1] wlp_buf = np.empty((b, k), dtype=dtype)
    cdef floating[:, ::1] scratch_buf = np.empty((b, max(d, 1)), dtype=dtype)
    cdef floating[::1] scratch_dd_buf = np.empty(max(d * d, 1) if cov_type <= TIED else 1,
                                                dtype=dtype)
    cdef floating *wlp = &wlp_buf[0, 0]
    cdef floating *scratch = &scratch_buf[0, 0]
    cdef floating *scratch_dd = &scratch_dd_buf[0]
    cdef const floating *means_prec_ptr = &means_prec[0, 0] if cov_type == TIED else NULL
    cdef const floating *weight_ptr = NULL
    cdef const floating *shifts_ptr = NULL
    cdef const floating *tied_shift_ptr = NULL
    cdef double *nk_ptr = NULL
    cdef double *s1_ptr = NULL
    cdef double *s2_ptr = NULL
    if want_stats:
        shifts_ptr = &shifts[0, 0]
        nk_ptr = &nk[0]
        s1_ptr = &s1[0, 0]
        s2_ptr = &s2[0]
        if cov_type == TIED:
            tied_shift_ptr = &tied_shift[0]

    cdef double loglik = 0.0, total_weight = 0.0, lpn, w
    cdef Py_ssize_t n_nonfinite = 0
    cdef Py_ssize_t block_start, n_rows, i, row
    cdef const floating *Xb

    with nogil:
        block_start = start
        while block_start < end:
            n_rows = min(b, end - block_start)
            Xb = &X[block_start, 0]
            if weighted:
                weight_ptr = &sample_weight[block_start]
            _weighted_log_prob(Xb, n_rows, d, k, cov_type, &means[0, 0], &prec[0],
                               means_prec_ptr, &log_const[0], wlp, scratch)
            for i in range(n_rows):
                row = block_start + i
                if want_labels:
                    out_labels[row] = _argmax(wlp + i * k, k)
                lpn = _logsumexp_resp(wlp + i * k, k)
                w = weight_ptr[i] if weighted else 1.0
                if w != 0:
                    if not isfinite(lpn):
                        n_nonfinite += 1
                    loglik += w * lpn
                    total_weight += w
                if want_lpn:
                    out_log_prob_norm[row] = <floating>lpn
                if want_resp:
                    memcpy(&out_resp[row, 0], wlp + i * k, k * sizeof(floating))
            if want_stats:
                _accumulate_stats(Xb, n_rows, d, k, cov_type, wlp, weight_ptr,
                                  shifts_ptr, tied_shift_ptr, scratch, scratch_dd,
                                  nk_ptr, s1_ptr, s2_ptr)
            block_start += n_rows
    return loglik, total_weight, n_nonfinite


def stats_from_assignment(
    const floating[:, ::1] X,            # IN  (n_samples, d)
    Py_ssize_t start, Py_ssize_t end,
    const floating[::1] sample_weight,   # IN  (n_samples,) or (0,)
    int cov_type,
    const floating[:, ::1] resp,         # IN  (n_samples, k) soft assignment, or (0, 0)
    const Py_ssize_t[::1] labels,        # IN  (n_samples,) hard labels in [-1, k), or (0,)
    Py_ssize_t n_components,
    const floating[:, ::1] shifts,       # IN  (k, d)
    const floating[::1] tied_shift,      # IN  (d,) tied, else (0,)
    double[::1] nk, double[:, ::1] s1, double[::1] s2,   # INOUT
    Py_ssize_t block_size=256,
):
    """Sufficient statistics of a given assignment (initialisation).

    Either ``resp`` (rows summing to one) or ``labels`` (-1: the row belongs to
    no component) is given; the statistics are the same as the E-step's for
    those responsibilities.
    """
    cdef Py_ssize_t n_samples = X.shape[0], d = X.shape[1], k = n_components
    _check_rows(n_samples, start, end)
    cdef bint hard = labels.shape[0] != 0
    if hard == (resp.shape[0] != 0):
        raise ValueError("give exactly one of resp and labels")
    if hard:
        _check_shape("labels", (labels.shape[0],), (n_samples,))
    else:
        _check_shape("resp", (resp.shape[0], resp.shape[1]), (n_samples, k))
    cdef bint weighted = sample_weight.shape[0] != 0
    if weighted:
        _check_shape("sample_weight", (sample_weight.shape[0],), (n_samples,))
    _check_shape("shifts", (shifts.shape[0], shifts.shape[1]), (k, d))
    _check_shape("nk", (nk.shape[0],), (k,))
    _check_shape("s1", (s1.shape[0], s1.shape[1]), (k, d))
    _check_shape("s2", (s2.shape[0],), _s2_shape(cov_type, k, d))
    if cov_type == TIED:
        _check_shape("tied_shift", (tied_shift.shape[0],), (d,))
    cdef Py_ssize_t i
    if hard:
        for i in range(start, end):
            if not (-1 <= labels[i] < k):
                raise ValueError(f"label {labels[i]} at row {i} is outside [-1, {k})")
    if end == start:
        return

    dtype = np.float32 if floating is float else np.float64
    cdef Py_ssize_t b = min(block_size, end - start)
    cdef floating[:, ::1] onehot_buf = np.zeros((b, k), dtype=dtype)
    cdef floating[:, ::1] scratch_buf = np.empty((b, max(d, 1)), dtype=dtype)
    cdef floating[::1] scratch_dd_buf = np.empty(max(d * d, 1), dtype=dtype)
    cdef const floating *weight_ptr = NULL
    cdef const floating *tied_shift_ptr = &tied_shift[0] if cov_type == TIED else NULL
    cdef const floating *resp_ptr
    cdef Py_ssize_t block_start, n_rows
    with nogil:
        block_start = start
        while block_start < end:
            n_rows = min(b, end - block_start)
            if weighted:
                weight_ptr = &sample_weight[block_start]
            if hard:
                memset(&onehot_buf[0, 0], 0, b * k * sizeof(floating))
                for i in range(n_rows):
                    if labels[block_start + i] >= 0:
                        onehot_buf[i, labels[block_start + i]] = 1.0
                resp_ptr = &onehot_buf[0, 0]
            else:
                resp_ptr = &resp[block_start, 0]
            _accumulate_stats(&X[block_start, 0], n_rows, d, k, cov_type, resp_ptr,
                              weight_ptr, &shifts[0, 0], tied_shift_ptr,
                              &scratch_buf[0, 0], &scratch_dd_buf[0],
                              &nk[0], &s1[0, 0], &s2[0])
            block_start += n_rows


def lloyd_step(
    const floating[:, ::1] X,            # IN  (n_samples, d)
    Py_ssize_t start, Py_ssize_t end,
    const floating[::1] sample_weight,   # IN  (n_samples,) or (0,)
    const floating[::1] x_shift,         # IN  (d,) subtracted from X (its mean)
    const floating[:, ::1] centers,      # IN  (k, d) in shifted coordinates
    Py_ssize_t[::1] labels,              # INOUT (n_samples,)
    double[:, ::1] sums,                 # INOUT (k, d) Σ w (x − x_shift) per label
    double[::1] weight_in_clusters,      # INOUT (k,)
    Py_ssize_t block_size=256,
):
    """One Lloyd assignment over rows [start, end).

    Distances are ‖c‖² − 2 x·c on shifted data (the same expansion as
    scikit-learn's Lloyd iteration, so ties and labels agree).  Returns
    ``(n_changed, inertia)`` where inertia is Σ w ‖x − c_label‖².
    """
    cdef Py_ssize_t n_samples = X.shape[0], d = X.shape[1], k = centers.shape[0]
    _check_rows(n_samples, start, end)
    _check_shape("x_shift", (x_shift.shape[0],), (d,))
    _check_shape("centers", (centers.shape[0], centers.shape[1]), (k, d))
    _check_shape("labels", (labels.shape[0],), (n_samples,))
    _check_shape("sums", (sums.shape[0], sums.shape[1]), (k, d))
    _check_shape("weight_in_clusters", (weight_in_clusters.shape[0],), (k,))
    cdef bint weighted = sample_weight.shape[0] != 0
    if weighted:
        _check_shape("sample_weight", (sample_weight.shape[0],), (n_samples,))
    if end == start:
        return 0, 0.0

    dtype = np.float32 if floating is float else np.float64
    cdef Py_ssize_t b = min(block_size, end - start)
    cdef floating[:, ::1] dist_buf = np.empty((b, k), dtype=dtype)
    cdef floating[:, ::1] xs_buf = np.empty((b, max(d, 1)), dtype=dtype)
    cdef floating[::1] c_norms = np.empty(k, dtype=dtype)
    cdef Py_ssize_t i, j, c, best, block_start, n_rows, n_changed = 0
    cdef floating v, best_d, x_norm
    cdef double w, inertia = 0.0
    cdef floating *xs
    cdef floating *dist
    with nogil:
        for c in range(k):
            v = 0.0
            for j in range(d):
                v = v + centers[c, j] * centers[c, j]
            c_norms[c] = v
        block_start = start
        while block_start < end:
            n_rows = min(b, end - block_start)
            for i in range(n_rows):
                for j in range(d):
                    xs_buf[i, j] = X[block_start + i, j] - x_shift[j]
            xs = &xs_buf[0, 0]
            dist = &dist_buf[0, 0]
            _rows_times_rows_t(<int>n_rows, <int>k, <int>d, -2.0, xs, &centers[0, 0], dist)
            for i in range(n_rows):
                best = 0
                best_d = dist[i * k] + c_norms[0]
                for c in range(1, k):
                    v = dist[i * k + c] + c_norms[c]
                    if v < best_d:
                        best_d = v
                        best = c
                if labels[block_start + i] != best:
                    n_changed += 1
                    labels[block_start + i] = best
                w = sample_weight[block_start + i] if weighted else 1.0
                weight_in_clusters[best] += w
                x_norm = 0.0
                for j in range(d):
                    sums[best, j] += w * xs[i * d + j]
                    x_norm = x_norm + xs[i * d + j] * xs[i * d + j]
                inertia += w * max(<double>(x_norm + best_d), 0.0)
            block_start += n_rows
    return n_changed, inertia


def sq_dist_to_points(
    const floating[:, ::1] X,            # IN  (n_samples, d)
    Py_ssize_t start, Py_ssize_t end,
    const floating[:, ::1] points,       # IN  (m, d)
    floating[:, ::1] out,                # OUT (m, n_samples) ‖x − p‖²
):
    """Squared distances of rows [start, end) to a few points (k-means++ seeding)."""
    cdef Py_ssize_t n_samples = X.shape[0], d = X.shape[1], m = points.shape[0]
    _check_rows(n_samples, start, end)
    _check_shape("points", (points.shape[0], points.shape[1]), (m, d))
    _check_shape("out", (out.shape[0], out.shape[1]), (m, n_samples))
    cdef Py_ssize_t i, j, p
    cdef floating acc, diff
    with nogil:
        for p in range(m):
            for i in range(start, end):
                acc = 0.0
                for j in range(d):
                    diff = X[i, j] - points[p, j]
                    acc = acc + diff * diff
                out[p, i] = acc


def all_finite(const floating[:, ::1] X):
    """True when every entry of X is finite; no temporary array."""
    cdef Py_ssize_t n = X.shape[0] * X.shape[1], i
    cdef const floating *p
    cdef bint ok = True
    if n == 0:
        return True
    p = &X[0, 0]
    with nogil:
        for i in range(n):
            if not isfinite(p[i]):
                ok = False
                break
    return ok
