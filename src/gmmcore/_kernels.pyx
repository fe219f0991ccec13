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

cimport numpy as cnp
from cython cimport floating
from libc.math cimport INFINITY, sqrt, isfinite
from libc.string cimport memcmp, memset
from scipy.linalg.cython_blas cimport dgemm, sgemm

cdef extern from "gmmcore_simd.h" nogil:
    ctypedef struct gmm_stream:
        pass
    void gmm_stream_set(gmm_stream *s, const void *p, Py_ssize_t nbytes)
    void gmm_stream_open(gmm_stream *s, Py_ssize_t i, Py_ssize_t m)
    int gmm_simd_init()
    int gmm_simd_portable()
    int gmm_exp_d(double *x, Py_ssize_t n)
    int gmm_exp_f(float *x, Py_ssize_t n)
    int gmm_lse_cols_d(double *wlp, Py_ssize_t k, Py_ssize_t n, Py_ssize_t ld, double *lpn,
                       double *work, gmm_stream *pf)
    int gmm_lse_cols_f(float *wlp, Py_ssize_t k, Py_ssize_t n, Py_ssize_t ld, double *lpn,
                       double *work, gmm_stream *pf)
    Py_ssize_t gmm_row_sums_d(const double *lpn, const double *w, Py_ssize_t n, double *sums,
                              double *worst, Py_ssize_t *worst_row)
    Py_ssize_t gmm_row_sums_f(const double *lpn, const float *w, Py_ssize_t n, double *sums,
                              double *worst, Py_ssize_t *worst_row)
    int gmm_argmax_cols_d(const double *wlp, Py_ssize_t k, Py_ssize_t n, Py_ssize_t ld,
                          Py_ssize_t *labels, double *work)
    int gmm_argmax_cols_f(const float *wlp, Py_ssize_t k, Py_ssize_t n, Py_ssize_t ld,
                          Py_ssize_t *labels, double *work)
    int gmm_small_block_d(int cov, const double *X, Py_ssize_t n, Py_ssize_t d, Py_ssize_t k,
                          const double *shift, const double *delta, const double *prec,
                          const double *Q, const double *cst, double *wlp, Py_ssize_t ld,
                          double *design, double *xt, gmm_stream *pf)
    int gmm_small_block_f(int cov, const float *X, Py_ssize_t n, Py_ssize_t d, Py_ssize_t k,
                          const float *shift, const float *delta, const float *prec,
                          const float *Q, const double *cst, float *wlp, Py_ssize_t ld,
                          double *design, float *xt, gmm_stream *pf)
    int gmm_diff_rows_d(const double *X, Py_ssize_t n, Py_ssize_t d, const double *mu,
                        const double *r, Py_ssize_t r_stride, double *Z)
    int gmm_diff_rows_f(const float *X, Py_ssize_t n, Py_ssize_t d, const float *mu,
                        const float *r, Py_ssize_t r_stride, float *Z)
    int gmm_transpose_d(const double *X, Py_ssize_t n, Py_ssize_t d, Py_ssize_t ldx,
                        const double *shift, double *xt, Py_ssize_t ld)
    int gmm_transpose_f(const float *X, Py_ssize_t n, Py_ssize_t d, Py_ssize_t ldx,
                        const float *shift, float *xt, Py_ssize_t ld)
    int gmm_wide_wlp_d(int cov, const double *xt, Py_ssize_t n, Py_ssize_t d, Py_ssize_t ld,
                       Py_ssize_t k, const double *M, const double *P, const double *cst,
                       double *wlp, double *dist, gmm_stream *pf)
    int gmm_wide_wlp_f(int cov, const float *xt, Py_ssize_t n, Py_ssize_t d, Py_ssize_t ld,
                       Py_ssize_t k, const float *M, const float *P, const double *cst,
                       float *wlp, float *dist, gmm_stream *pf)
    int gmm_wide_lanes_d()
    int gmm_wide_lanes_f()
    int gmm_wide_stats_f(int cov, const float *xt, Py_ssize_t n, Py_ssize_t d, Py_ssize_t ld,
                         Py_ssize_t k, const float *M, float *R, float *dist, double *nk,
                         double *acc, gmm_stream *pf)
    int GMM_OUTER_D_MAX
    int gmm_outer_design_f(const float *X, Py_ssize_t n, Py_ssize_t d, Py_ssize_t k,
                           const float *means, const float *R, Py_ssize_t ldr,
                           const Py_ssize_t *assigned, float *Dz, double *H, double *G)
    int gmm_add_to_double_f(const float *src, Py_ssize_t n, double *dst)
    int gmm_assigned_rows_f(const float *X, Py_ssize_t n, Py_ssize_t d, Py_ssize_t k,
                            const float *means, const Py_ssize_t *assigned,
                            const float *weight, const float *R, Py_ssize_t ldr,
                            float *Z, double *T, double *M, double *G)
    int gmm_design_d(int kind, const double *X, Py_ssize_t n, Py_ssize_t d,
                     const double *shift, double *W, Py_ssize_t width)
    int gmm_design_fd(int kind, const float *X, Py_ssize_t n, Py_ssize_t d,
                      const float *shift, double *W, Py_ssize_t width)
    int gmm_design_wlp_d(int kind, const double *X, Py_ssize_t n, Py_ssize_t d,
                         Py_ssize_t k, const double *shift, const double *Qc, Py_ssize_t kq,
                         double *wlp, Py_ssize_t ld, double *W, Py_ssize_t width,
                         gmm_stream *pf)
    int gmm_gram_lower_d(const double *Z, Py_ssize_t n, Py_ssize_t d, Py_ssize_t ldz,
                         double *C)
    int gmm_gram_lower_f(const float *Z, Py_ssize_t n, Py_ssize_t d, Py_ssize_t ldz,
                         double *C)
    int gmm_rows_dot_d(const double *P, Py_ssize_t p, const double *Q, Py_ssize_t q,
                       Py_ssize_t n, Py_ssize_t ld, int lower, double *S)
    int gmm_upper_rows_d(const double *src, const double *shift, Py_ssize_t n, Py_ssize_t d,
                         Py_ssize_t ld, const double *U, double *dst, double *zb)
    int gmm_upper_rows_f(const float *src, const float *shift, Py_ssize_t n, Py_ssize_t d,
                         Py_ssize_t ld, const float *U, float *dst, float *zb)
    int gmm_full_wlp_d(const double *xt, Py_ssize_t n, Py_ssize_t d, Py_ssize_t ld,
                       Py_ssize_t k, const double *M, const double *U, const double *cst,
                       double *wlp, double *zb, gmm_stream *pf)
    int gmm_full_wlp_f(const float *xt, Py_ssize_t n, Py_ssize_t d, Py_ssize_t ld,
                       Py_ssize_t k, const float *M, const float *U, const double *cst,
                       float *wlp, float *zb, gmm_stream *pf)

cnp.import_array()

# The instruction set of the vectorised loops, chosen once for this CPU.
SIMD_LEVEL = ("generic", "avx2", "avx512")[gmm_simd_init()]
# True when the C loops were built as plain C (MSVC, or -DGMM_PORTABLE): no vector
# extensions, no dispatch, SIMD_LEVEL "generic".
SIMD_PORTABLE = bool(gmm_simd_portable())

# The process's thread limit (0: none), set through threadpoolctl like a BLAS's:
# the two C entry points are what threadpoolctl finds in this library, and
# _parallel.effective_n_threads reads the limit.
cdef int _thread_limit = 0


cdef public int gmmcore_get_num_threads() noexcept nogil:
    return _thread_limit


cdef public void gmmcore_set_num_threads(int num_threads) noexcept nogil:
    global _thread_limit
    _thread_limit = num_threads if num_threads > 0 else 0


def thread_limit():
    """The limit set through threadpoolctl, or 0 when none is set."""
    return _thread_limit


cdef extern from "gmmcore_covariance.h" nogil:
    cdef enum gmm_covariance:
        GMM_FULL
        GMM_TIED
        GMM_DIAG
        GMM_SPHERICAL

# The covariance types as the kernels number them (csrc/gmmcore_covariance.h).
cdef enum:
    FULL = GMM_FULL
    TIED = GMM_TIED
    DIAG = GMM_DIAG
    SPHERICAL = GMM_SPHERICAL

COVARIANCE_CODES = {"full": FULL, "tied": TIED, "diag": DIAG, "spherical": SPHERICAL}

# Up to this many features the triangular products and rank-b updates are hand
# loops: a BLAS call costs more than the arithmetic (measured in benchmarks/).
cdef enum:
    SMALL_D_MAX = 8
    # Full covariances with at most SMALL_D_MAX features, or with at most
    # OUTER_D_MAX features and at least OUTER_MIN_K components, get their second
    # moments from one GEMM per block, Rᵀ [1, z, z⊗z]: float64 with z = x − s in
    # double, or, for float32 with d > SMALL_D_MAX, float32 with z = x − μ_a(i)
    # around each row's most responsible mean (see _full_single_moments; a float32
    # z⊗z around a global shift would lose digits when clusters lie far apart
    # relative to their spread).  Fewer components or more features favour one
    # rank update per component around its own mean (measured in benchmarks/: for
    # float32 W2, 0.206 s per iteration on one thread with the float64 design
    # against 0.236 s with the rank updates).
    OUTER_D_MAX = 40
    OUTER_MIN_K = 8

SMALL_D = SMALL_D_MAX
# gmm_outer_design's per-row buffers hold OUTER_D_MAX features
if OUTER_D_MAX > GMM_OUTER_D_MAX:
    raise ImportError("csrc/gmmcore_simd.h: GMM_OUTER_D_MAX is below OUTER_D_MAX")


# ---------------------------------------------------------------------------
# BLAS wrappers (fused float/double).  Signatures of cython_blas are frozen:
# pointers are non-const, so const inputs are cast at the call.
# ---------------------------------------------------------------------------

cdef inline void _upper_rows(const floating *src, const floating *shift, Py_ssize_t n,
                             Py_ssize_t d, Py_ssize_t ld, const floating *U, floating *dst,
                             floating *zb) noexcept nogil:
    """dst = y = (src − shift) U for a feature-major block (d × ld, n rows; shift may
    be NULL, dst may be src) and row-major upper-triangular U (gmm_upper_rows)."""
    if floating is float:
        gmm_upper_rows_f(src, shift, n, d, ld, U, dst, zb)
    else:
        gmm_upper_rows_d(src, shift, n, d, ld, U, dst, zb)


cdef inline void _rows_times_rows_t(int n_rows, int m, int d, floating alpha,
                                    const floating *A, const floating *B,
                                    floating *C) noexcept nogil:
    """C <- C + alpha A Bᵀ for row-major A (n_rows × d), B (m × d), C (n_rows × m).

    Column-major, Cᵀ (m × n_rows) = B Aᵀ: B's memory is Bᵀ (d × m), so trans=T.
    (scikit-learn's Lloyd iteration makes this very call, beta 1 included: the
    same rounding of the distances, so that ties break alike.)
    """
    cdef floating one = 1.0
    if floating is float:
        sgemm(b"T", b"N", &m, &n_rows, &d, &alpha, <float *>B, &d, <float *>A, &d,
              &one, C, &m)
    else:
        dgemm(b"T", b"N", &m, &n_rows, &d, &alpha, <double *>B, &d, <double *>A, &d,
              &one, C, &m)


# ---------------------------------------------------------------------------
# Block kernels: one block of at most `block_size` rows, everything in cache.
# ---------------------------------------------------------------------------

cdef void _accumulate_stats(
    const floating *X,            # IN  (n_rows, d) block
    Py_ssize_t n_rows, Py_ssize_t d, Py_ssize_t k, int cov_type,
    const floating *resp,         # IN  (n_rows, k) responsibilities of the block
    const floating *weight,       # IN  (n_rows,) sample weights, or NULL for ones
    const floating *shifts,       # IN  (k, d) shifts c_c (the current means)
    const floating *tied_shift,   # IN  (d,) tied only: the one shift of s2
    const Py_ssize_t *labels,     # IN  (n_rows,) hard assignment (-1: none), or NULL
    double *tied_tm,              # INOUT tied, d > SMALL_D: [T (k, d), M (k)], see below
    floating *scratch,            # SCRATCH (n_rows, d)
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
                _add_gram(n_rows, d, scratch, S)

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
            # A row with a label is taken around its component's shift (its k-means
            # centre), a within-cluster distance, so that the rank update's rounding
            # (float32) stays small next to the within-cluster scatter; T_c = Σ w z
            # and M_c = Σ w of those rows move S to tied_shift afterwards
            # (_tied_s2_to_shift).  Rows without one use tied_shift.
            for i in range(n_rows):
                w = 1.0 if weight == NULL else weight[i]
                sr = sqrt(w)
                c = labels[i] if labels != NULL else -1
                shift = tied_shift if c < 0 else shifts + c * d
                x = X + i * d
                z = scratch + i * d
                for j in range(d):
                    diff = x[j] - shift[j]
                    z[j] = sr * diff
                    if c >= 0:
                        tied_tm[c * d + j] += <double>w * diff
                if c >= 0:
                    tied_tm[k * d + c] += w
            _add_gram(n_rows, d, scratch, S)

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
                           double *S) noexcept nogil:
    """S (float64, lower triangle) += Zᵀ Z, by register tiles (gmm_gram_lower).

    float32 sums the block in float32 (at most block_size terms) and adds it to S.
    """
    if floating is float:
        gmm_gram_lower_f(Z, n_rows, d, d, S)
    else:
        gmm_gram_lower_d(Z, n_rows, d, d, S)


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


cdef inline bint _outer_statistics(Py_ssize_t d, Py_ssize_t k) noexcept nogil:
    return d <= SMALL_D_MAX or (d <= OUTER_D_MAX and k >= OUTER_MIN_K)


cdef inline bint _wide(int cov_type, Py_ssize_t d, bint single) noexcept nogil:
    """Whether diag and spherical blocks go through the feature-major direct kernels
    (gmm_wide_*), whose statistics are around each component's mean: float32 only.
    (For float64 the expanded form's GEMMs are as fast for diag, and faster for
    spherical: 20.4 against 24.9 ms per iteration on W2 at one thread.)"""
    return single and d > SMALL_D_MAX and (cov_type == DIAG or cov_type == SPHERICAL)


cdef inline bint _full_single(Py_ssize_t d, Py_ssize_t k, bint single) noexcept nogil:
    """float32 full covariances whose outer products come from a float32 design
    around each row's most responsible mean (_full_single_moments)."""
    return single and d > SMALL_D_MAX and _outer_statistics(d, k)


def statistics_around_means(int cov_type, Py_ssize_t d, Py_ssize_t k, dtype):
    """Whether e_step returns its statistics around each component's mean (True)
    or around the global shift (False)."""
    cdef bint single = np.dtype(dtype) == np.float32
    if cov_type == FULL:
        return not _outer_statistics(d, k) or _full_single(d, k, single)
    return _wide(cov_type, d, single)


def statistics_gemm_size(int cov_type, Py_ssize_t d, Py_ssize_t k, dtype):
    """Multiply-adds per row of the float32 outer-product statistics GEMM
    ((k × b)·(b × d (d + 1) / 2) for a block of b rows), or 0 for other paths."""
    if cov_type == FULL and _full_single(d, k, np.dtype(dtype) == np.float32):
        return k * (d * (d + 1) // 2)
    return 0


def design_bytes_per_row(int cov_type, Py_ssize_t d, Py_ssize_t k, dtype):
    """Bytes per row of the statistics design e_step builds for a block."""
    cdef Py_ssize_t itemsize = np.dtype(dtype).itemsize
    if cov_type == FULL and _full_single(d, k, itemsize == 4):
        return d * (d + 1) // 2 * 4
    if cov_type == FULL and _outer_statistics(d, k):
        return (1 + d + d * (d + 1) // 2) * 8
    return (2 * d + 2) * itemsize


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
    const floating[::1] shift,           # IN  (d,) global shift s
    const floating[:, ::1] means,        # IN  (k, d)
    const floating[:, ::1] delta,        # IN  (k, d) means − s
    const floating[::1] prec,            # IN  full (k·d·d) / tied (d·d) Cholesky factors,
                                         #     diag (k·d) / spherical (k) precisions
    const floating[::1] Q,               # IN  diag (2d·k), spherical and tied ((d+1)·k)
    const double[::1] cst,               # IN  (k,) constant part of each log-density
    const Py_ssize_t[::1] direct,        # IN  components taken in the direct form (see
                                         #     KernelParams.direct), or (0,)
    double[::1] stats,                   # OUT (stats_width(...),) zeros on entry, or (0,)
    floating[:, ::1] out_resp,           # OUT (n_samples, k) responsibilities, or (0, 0)
    floating[::1] out_log_prob_norm,     # OUT (n_samples,) log p(x), or (0,)
    Py_ssize_t[::1] out_labels,          # OUT (n_samples,) argmax, or (0,)
    Py_ssize_t block_size=256,
    bint tied_s2=True,                   # tied: False leaves S2 zero (see tied_moments)
):
    """One pass over rows [start, end): E-step, and whatever outputs are given.

    The weighted log-densities of a block are computed per covariance type:

    - d ≤ SMALL_D, every type: register tiles of rows in C (gmm_small_block),
      which also write the block's statistics design;
    - full: the block transposed, then (x − μ_c) U_c by register tiles of rows
      and of U's columns (gmm_full_wlp: no BLAS call, no packing per component);
    - tied: the block transposed, y = (x − s) U by register tiles (gmm_upper_rows), then
      ‖y − m_c‖² directly (no expansion) by register tiles of rows (gmm_wide_wlp);
    - diag, spherical, float64: [x − s, (x − s)²] · Q or [x − s, ‖x − s‖²] · Q, the
      design rows written and their products taken in one sweep of register tiles
      (gmm_design_wlp; a GEMM of the design with vectors of fewer than 4 doubles);
      float32: the direct form on the transposed block, like tied (the expansion
      would cancel too much in single precision).

    Statistics (when ``stats`` is not empty) come from one GEMM per block,
    Rᵀ [1, x − s, …] (for d ≤ SMALL_D, per-lane sums of the same products by
    gmm_rows_dot, folded at the end of the pass), except: full covariances whose
    second moments are rank updates per component around its own mean, and float32
    diag and spherical (gmm_wide_stats, around each mean), whose statistics are
    shifted by ``means`` (see ``statistics_around_means``); and float32 tied, taken
    around nearby means (each row's most responsible one when S2 is taken, each
    component's own when not) and moved to ``shift`` in double.  All
    others are shifted by ``shift``.  They are written to ``stats`` as
    [Σ w log p, Σ w, N (k), S1 (k·d), S2 (s2 size)].  Tied S2 does not depend on
    the responsibilities: with ``tied_s2=False`` it is left zero, for a caller that
    has it from ``tied_moments``.

    Returns ``(Σ w log p(x), Σ w, n_nonfinite, worst_row)`` over the rows, where
    ``worst_row`` is the row of positive weight with the lowest log p(x) (the
    sample the mixture explains worst; -1 if there is none).
    """
    cdef Py_ssize_t n_samples = X.shape[0], d = X.shape[1], k = means.shape[0]
    _check_rows(n_samples, start, end)
    if block_size < 1:
        raise ValueError("block_size must be positive")
    if not FULL <= cov_type <= SPHERICAL:
        raise ValueError(f"unknown covariance type code {cov_type}")
    _check_shape("shift", (shift.shape[0],), (d,))
    _check_shape("means", (means.shape[0], means.shape[1]), (k, d))
    _check_shape("delta", (delta.shape[0], delta.shape[1]), (k, d))
    _check_shape("cst", (cst.shape[0],), (k,))
    _check_shape("prec", (prec.shape[0],), _prec_shape(cov_type, k, d))
    cdef Py_ssize_t n_direct = direct.shape[0]
    if n_direct and not (cov_type == DIAG or cov_type == SPHERICAL):
        raise ValueError("direct components are for diag and spherical covariances")
    if n_direct and not all(0 <= c < k for c in direct):
        raise ValueError(f"direct components {list(direct)} are outside of [0, {k})")
    # diag: (2d × k) and spherical ((d + 1) × k) coefficients of the expanded form;
    # tied: the centres m_c = (μ_c − s) U, k × d
    cdef Py_ssize_t q_rows = 2 * d if cov_type == DIAG else d + 1
    if cov_type == TIED:
        _check_shape("Q", (Q.shape[0],), (k * d,))
    elif cov_type != FULL:
        _check_shape("Q", (Q.shape[0],), (q_rows * k,))
    cdef bint weighted = sample_weight.shape[0] != 0
    if weighted:
        _check_shape("sample_weight", (sample_weight.shape[0],), (n_samples,))
    cdef bint want_stats = stats.shape[0] != 0
    if want_stats:
        _check_shape("stats", (stats.shape[0],), (stats_width(cov_type, k, d),))
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
        return 0.0, 0.0, 0, -1

    cdef bint small = d <= SMALL_D_MAX
    cdef bint outer_stats = cov_type == FULL and _outer_statistics(d, k)
    cdef bint wide = _wide(cov_type, d, floating is float)
    cdef bint tied = cov_type == TIED, large_full = cov_type == FULL and not small
    # Feature-major blocks xt: the direct form of float32 diag and spherical (as
    # x − μ_c) and of tied (as y = (x − s) U) in gmm_wide_wlp, and the triangular
    # products of full covariances in gmm_full_wlp
    cdef bint feature_major = wide or (tied and not small) or large_full
    # float32 tied: statistics in float32 blocks around nearby means, not through a
    # float64 design.  With S2, around each row's most responsible mean
    # (_tied_single_moments, tied_stats); without (a fit's E-steps, see
    # tied_moments), S1 around each component's own mean by per-lane sums along
    # the raw feature-major block xr (gmm_wide_stats, as diag's), moved to the shift
    # in double (tied_lanes): no argmax, no assigned rows, no GEMM.
    cdef bint tied_single = tied and not small and floating is float
    cdef bint tied_want_s2 = tied and want_stats and tied_s2
    cdef bint tied_lanes = tied_single and want_stats and not tied_s2
    # float32 full with outer products (d > SMALL_D): likewise (_full_single_moments)
    cdef bint full_single = cov_type == FULL and _full_single(d, k, floating is float)
    cdef Py_ssize_t w2 = d * (d + 1) // 2
    # Width of the per-row design A = [1, x − s, …] whose Rᵀ A are the statistics.
    cdef Py_ssize_t width
    if wide:
        width = 1  # no design: the statistics come from gmm_wide_stats
    elif cov_type == DIAG:
        width = 1 + 2 * d
    elif cov_type == SPHERICAL:
        width = d + 2
    elif cov_type == TIED:
        width = 1 + d
    elif full_single:
        width = 1  # no [1, z] design: _full_single_moments keeps its own sums
    elif outer_stats:
        width = 1 + d + d * (d + 1) // 2
    else:
        width = 1 + d

    dtype = np.float32 if floating is float else np.float64
    cdef Py_ssize_t b = min(block_size, end - start)
    # Few features: designs are feature-major (width × ldp), ldp a whole number of
    # tiles, and the tile kernel writes its design on every call.
    cdef Py_ssize_t ldp = (b + 15) // 16 * 16 if small or feature_major else b
    # The statistics come from a float64 design [1, z, …] with z = x − s computed in
    # double, through a float64 GEMM, for every float32 problem (a float32 design
    # around a global shift would cancel badly in S2 − N δδᵀ), for d ≤ SMALL_D (the
    # tile kernel writes it) and for the outer products of full covariances.
    cdef bint double_design = not wide and not tied_single and not full_single and (
        small or outer_stats or floating is float)
    # Scratch, carved from one float64 and one `floating` allocation (a one-row
    # call costs two allocations, not a dozen), each piece 64-byte aligned:
    #   wlp   k × ldp     log-densities, then responsibilities, component-major
    #   A     row-major b × width design for d > SMALL_D: the E-step's (float64
    #         diag and spherical) and the statistics' when not double_design
    #   Z     b × d: full rank updates (d > SMALL_D), float32 tied rows
    #   xt    feature-major block, d × ldp: float32 d ≤ SMALL_D (float64 tiles read
    #         z from the design), and feature_major
    #   wacc  wide: per-lane float64 sums (see gmm_wide_stats), and of N (wnk)
    #   wd    the float64 design: feature-major width × ldp (d ≤ SMALL_D, always
    #         written) or row-major b × width;   rd: responsibilities in float64
    #   zd    tied with weights: the √w-scaled z of the float64 design
    cdef bint need_a = not small and not wide and (
        cov_type == DIAG or cov_type == SPHERICAL
        or (want_stats and not double_design and not tied_single))
    cdef bint tied_stats = tied_single and tied_want_s2
    cdef bint full_stats = full_single and want_stats
    cdef Py_ssize_t n_a = b * width if need_a else 0
    cdef Py_ssize_t n_wd = width * ldp if small or (want_stats and double_design) else 0
    cdef Py_ssize_t n_z = (b * d if (large_full and want_stats and not outer_stats) or tied_stats
                           else 0)
    cdef Py_ssize_t n_tmp = (k * d if tied_stats
                             else k * w2 if full_stats else 0)
    # gmm_outer_design writes whole vectors, up to 64 bytes past the last row
    cdef Py_ssize_t n_dz = b * w2 + 64 // sizeof(floating) if full_stats else 0
    # full_single: [S (k × w2), H (k × k × d), G (k × k)]
    cdef Py_ssize_t n_hg = k * w2 + k * k * d + k * k if full_stats else 0
    cdef Py_ssize_t n_rd = k * ldp if want_stats and double_design and floating is float else 0
    cdef Py_ssize_t n_zd = ((d * ldp if small else b * width) if tied_want_s2 and weighted
                            else 0)
    cdef Py_ssize_t n_xt = d * ldp if (small and floating is float) or feature_major else 0
    cdef Py_ssize_t n_xr = d * ldp if tied_lanes else 0
    cdef Py_ssize_t n_zb = (d * (64 // sizeof(floating)) if large_full or (tied and not small)
                            else 0)
    # gmm_wide_wlp's means (tied: Q) and diag precisions, feature-major (d × k)
    cdef Py_ssize_t n_mt = d * k if wide or (tied and not small) else 0
    cdef Py_ssize_t n_pt = d * k if wide and cov_type == DIAG else 0
    # wide spherical statistics: each row's squared distance to each mean, k × ldp
    cdef Py_ssize_t n_dist = k * ldp if wide and want_stats and cov_type == SPHERICAL else 0
    cdef Py_ssize_t lanes = gmm_wide_lanes_f() if floating is float else gmm_wide_lanes_d()
    cdef Py_ssize_t n_wacc = (2 * k * d + k) * lanes if (wide or tied_lanes) and want_stats else 0
    # d ≤ SMALL_D: R [1, z, …]ᵀ (and tied's Σ w z zᵀ) summed per lane by gmm_rows_dot_d
    cdef Py_ssize_t dlanes = gmm_wide_lanes_d()
    cdef Py_ssize_t n_sl = k * width * dlanes if small and want_stats else 0
    cdef Py_ssize_t n_tl = d * d * dlanes if small and tied_want_s2 else 0
    # float64 diag and spherical, more features, with vectors of 4 doubles or more
    # (AVX2, AVX-512): the expanded form's coefficients and then the constants,
    # (q_rows + 1) × kq, kq = k up to a multiple of the lanes, for gmm_design_wlp_d,
    # which writes the design and takes its products in one sweep.  With 2 lanes
    # (SSE2, NEON) or none (plain C) its tiles are too small, and a GEMM of the
    # design is faster (W2 diag, one thread: 35 against 54 ms per iteration).
    cdef bint expanded = ((cov_type == SPHERICAL or cov_type == DIAG) and floating is double
                          and not small and not wide and dlanes >= 4)
    cdef Py_ssize_t kq = (k + dlanes - 1) // dlanes * dlanes
    cdef Py_ssize_t n_qt = (q_rows + 1) * kq if expanded else 0
    cdef Py_ssize_t f_total = 0, d_total = 0, i, j
    for j in (k * ldp, n_a, n_z, n_xt, n_xr, n_tmp, n_dz, n_zb, n_dist, n_mt, n_pt):
        f_total += _rounded(j)
    # the same pieces, in the same order, as taken below (each rounded on its own)
    for j in (n_wd, n_rd, n_zd, k * width, k * d, ldp, 2 * ldp, n_wacc, k * lanes,
              (k * d + k + k * k) if tied_stats else 0, n_hg, n_sl, n_tl, n_qt):
        d_total += _rounded(j)
    cdef floating[::1] f_scratch = np.empty(f_total + 16, dtype=dtype)
    cdef double[::1] d_scratch = np.empty(d_total + 16)
    cdef floating *fp = _aligned(&f_scratch[0])
    cdef double *dp = _aligned_double(&d_scratch[0])
    cdef floating *wlp = _take(&fp, k * ldp)
    cdef floating *A = _take(&fp, n_a)
    cdef floating *Zb = _take(&fp, n_z)
    cdef floating *xt = _take(&fp, n_xt)
    cdef floating *xr = _take(&fp, n_xr)
    cdef double *wd = _take_double(&dp, n_wd)
    cdef double *rd_w = _take_double(&dp, n_rd)
    cdef double *zd = _take_double(&dp, n_zd)
    cdef double *acc = _take_double(&dp, k * width)
    cdef double *d64 = _take_double(&dp, k * d)
    cdef double *lpn = _take_double(&dp, ldp)
    cdef double *lsew = _take_double(&dp, 2 * ldp)
    cdef double *wacc = _take_double(&dp, n_wacc)
    cdef double *wnk = _take_double(&dp, k * lanes)
    cdef double *tacc = _take_double(&dp, (k * d + k + k * k) if tied_stats else 0)
    cdef floating *ftmp = _take(&fp, n_tmp)
    cdef floating *Dz = _take(&fp, n_dz)
    cdef floating *zb = _take(&fp, n_zb)
    cdef floating *dist = _take(&fp, n_dist) if n_dist else NULL
    cdef floating *mt = _take(&fp, n_mt)
    cdef floating *pt = _take(&fp, n_pt)
    cdef double *hg = _take_double(&dp, n_hg)
    cdef double *sl = _take_double(&dp, n_sl)
    cdef double *tl = _take_double(&dp, n_tl)
    cdef double *qt = _take_double(&dp, n_qt)
    cdef Py_ssize_t[::1] assigned = np.empty(b if tied_stats or full_stats else 0,
                                             dtype=np.intp)
    if (fp > &f_scratch[0] + f_scratch.shape[0]
            or dp > &d_scratch[0] + d_scratch.shape[0]):
        raise AssertionError("e_step scratch is too small")  # a bug, never bad input
    cdef const double *rd
    cdef double *row = &stats[0] if want_stats else NULL
    memset(acc, 0, k * width * sizeof(double))
    memset(wacc, 0, n_wacc * sizeof(double))
    memset(wnk, 0, k * lanes * sizeof(double))
    if tied_stats:
        memset(tacc, 0, (k * d + k + k * k) * sizeof(double))
    memset(hg, 0, n_hg * sizeof(double))
    memset(sl, 0, n_sl * sizeof(double))
    memset(tl, 0, n_tl * sizeof(double))
    memset(qt, 0, n_qt * sizeof(double))
    if expanded:
        for j in range(q_rows):
            for i in range(k):
                qt[j * kq + i] = Q[j * k + i]
        for i in range(k):
            qt[q_rows * kq + i] = cst[i]
    for i in range(k):
        for j in range(d):
            d64[i * d + j] = <double>means[i, j] - <double>shift[j]
            if n_mt:
                mt[j * k + i] = Q[i * d + j] if tied else means[i, j]
            if n_pt:
                pt[j * k + i] = prec[i * d + j]

    cdef const floating *Xb
    cdef const floating *wb = NULL
    cdef double worst = INFINITY
    cdef double sums[2]  # Σ w log p(x), Σ w
    cdef Py_ssize_t n_nonfinite = 0, worst_row = -1, worst_in_block
    sums[0] = sums[1] = 0.0
    cdef Py_ssize_t block_start, n_rows, c
    cdef gmm_stream pf
    cdef Py_ssize_t pf_share
    cdef Py_ssize_t pf_shares = (2 + ((wide or tied_lanes) and want_stats)
                                 if small or feature_major else 1)

    with nogil:
        block_start = start
        while block_start < end:
            n_rows = min(b, end - block_start)
            Xb = &X[block_start, 0]
            if weighted:
                wb = &sample_weight[block_start]
            # The next block's rows, requested while this one is computed: a share
            # each by the log-densities' kernel (when it takes the stream), the
            # log-sum-exp and the wide statistics (when there are some).
            gmm_stream_set(&pf, Xb + n_rows * d,
                           min(b, end - block_start - n_rows) * d * sizeof(floating))
            pf_share = 0

            # -- weighted log-densities of the block ------------------------------
            if small:
                pf_share += 1
                gmm_stream_open(&pf, pf_share, pf_shares)
                if floating is float:
                    gmm_small_block_f(cov_type, Xb, n_rows, d, k, &shift[0], &delta[0, 0],
                                      &prec[0], &Q[0] if cov_type == TIED else NULL, &cst[0],
                                      wlp, ldp, wd, xt, &pf)
                else:
                    gmm_small_block_d(cov_type, Xb, n_rows, d, k, &shift[0], &delta[0, 0],
                                      &prec[0], &Q[0] if cov_type == TIED else NULL, &cst[0],
                                      wlp, ldp, wd, xt, &pf)
            elif wide:
                _transpose(Xb, n_rows, d, d, NULL, xt, ldp)
                pf_share += 1
                gmm_stream_open(&pf, pf_share, pf_shares)
                _wide_wlp(cov_type, xt, n_rows, d, ldp, k, mt,
                          pt if cov_type == DIAG else &prec[0], &cst[0], wlp, dist, &pf)
            elif tied:
                if floating is double and need_a:  # the float64 statistics' design, z
                    _design(Xb, n_rows, d, TIED, &shift[0], A, width)
                    _transpose(A + 1, n_rows, d, width, NULL, xt, ldp)
                    _upper_rows(xt, NULL, n_rows, d, ldp, &prec[0], xt, zb)
                elif tied_lanes:  # the raw block for the statistics, y from it
                    _transpose(Xb, n_rows, d, d, NULL, xr, ldp)
                    _upper_rows(xr, &shift[0], n_rows, d, ldp, &prec[0], xt, zb)
                else:
                    _transpose(Xb, n_rows, d, d, &shift[0], xt, ldp)
                    _upper_rows(xt, NULL, n_rows, d, ldp, &prec[0], xt, zb)
                pf_share += 1
                gmm_stream_open(&pf, pf_share, pf_shares)
                _wide_wlp(TIED, xt, n_rows, d, ldp, k, mt, NULL, &cst[0], wlp, NULL, &pf)
            elif large_full:
                _transpose(Xb, n_rows, d, d, NULL, xt, ldp)
                pf_share += 1
                gmm_stream_open(&pf, pf_share, pf_shares)
                if floating is float:
                    gmm_full_wlp_f(xt, n_rows, d, ldp, k, &means[0, 0], &prec[0], &cst[0],
                                   wlp, zb, &pf)
                else:
                    gmm_full_wlp_d(xt, n_rows, d, ldp, k, &means[0, 0], &prec[0], &cst[0],
                                   wlp, zb, &pf)
            elif expanded:
                # float64 diag and spherical: the design, and the expanded form's
                # products in the same sweep, which requests the whole of the next
                # block (pf_shares is 1).  (float32 takes the direct form above: the
                # expansion would lose about eps · ‖x − s‖² p to cancellation, too
                # much in single precision.)
                pf_share += 1
                gmm_stream_open(&pf, pf_share, pf_shares)
                gmm_design_wlp_d(cov_type, <const double *>Xb, n_rows, d, k,
                                 <const double *>&shift[0], qt, kq, <double *>wlp, ldp,
                                 <double *>A, width, &pf)
            elif floating is double:
                # the same with 2 lanes or none: the design, then one GEMM
                _design(Xb, n_rows, d, cov_type, &shift[0], A, width)
                _affine(A + 1, width, n_rows, q_rows, k, &Q[0], &cst[0], wlp, b)
            if n_direct:
                _direct_log_densities(cov_type, Xb, n_rows, d, &means[0, 0], &prec[0],
                                      &cst[0], &direct[0], n_direct, wlp, ldp)

            # -- per-row outputs and log-likelihood --------------------------------
            if want_labels:
                _argmax_cols(wlp, k, n_rows, ldp, &out_labels[block_start], lsew)
            pf_share += 1
            gmm_stream_open(&pf, pf_share, pf_shares)
            _lse_cols(wlp, k, n_rows, ldp, lpn, lsew, &pf)
            worst_in_block = -1
            if floating is float:
                n_nonfinite += gmm_row_sums_f(lpn, wb, n_rows, sums, &worst, &worst_in_block)
            else:
                n_nonfinite += gmm_row_sums_d(lpn, wb, n_rows, sums, &worst, &worst_in_block)
            if worst_in_block >= 0:
                worst_row = block_start + worst_in_block
            if want_lpn:
                for i in range(n_rows):
                    out_log_prob_norm[block_start + i] = <floating>lpn[i]
            if want_resp:
                for i in range(n_rows):
                    for c in range(k):
                        out_resp[block_start + i, c] = wlp[c * ldp + i]

            # -- sufficient statistics ---------------------------------------------
            if want_stats:
                if weighted:
                    for c in range(k):
                        for i in range(n_rows):
                            wlp[c * ldp + i] = wlp[c * ldp + i] * wb[i]
                # wide, tied_lanes, full_stats and tied_stats are float32's only
                if floating is float and (wide or tied_lanes):
                    gmm_stream_open(&pf, pf_shares, pf_shares)
                    _wide_stats(cov_type, xr if tied_lanes else xt, n_rows, d, ldp, k,
                                &means[0, 0], wlp, dist, wnk, wacc, &pf)
                elif floating is float and full_stats:
                    _full_single_moments(Xb, n_rows, d, k, &means[0, 0], wlp, ldp,
                                         &assigned[0], lsew, Dz, ftmp, hg)
                elif floating is float and tied_stats:
                    _tied_single_moments(Xb, n_rows, d, k, &means[0, 0], wlp, ldp, wb,
                                         width, &assigned[0], lsew, Zb, ftmp, acc, tacc,
                                         row + 2 + k + k * d)
                elif double_design:
                    if floating is float:
                        for c in range(k):
                            for i in range(n_rows):
                                rd_w[c * ldp + i] = wlp[c * ldp + i]
                        rd = rd_w
                    else:
                        rd = wlp
                    if small:
                        gmm_rows_dot_d(rd, k, wd, width, n_rows, ldp, 0, sl)
                    else:
                        _double_design(Xb, n_rows, d, cov_type if outer_stats or not large_full
                                       else TIED, &shift[0], wd, width)
                        _at_b(n_rows, k, width, rd, ldp, wd, acc)
                elif floating is double:
                    if large_full:
                        _design(Xb, n_rows, d, FULL, &shift[0], A, width)
                    _at_b(n_rows, k, width, wlp, ldp, A, acc)
                if tied_want_s2 and not tied_single:
                    if small:  # Σ (w z) zᵀ from the feature-major z rows of the design
                        if weighted:
                            for j in range(d):
                                for i in range(n_rows):
                                    zd[j * ldp + i] = wb[i] * wd[(1 + j) * ldp + i]
                        gmm_rows_dot_d(zd if weighted else wd + ldp, d, wd + ldp, d, n_rows,
                                       ldp, 1, tl)
                    elif floating is double:
                        _tied_moments(A + 1, n_rows, d, width, wb, zd, row + 2 + k + k * d)
                elif large_full and not outer_stats:
                    _full_moments(Xb, n_rows, d, k, &means[0, 0], wlp, ldp, Zb,
                                  row + 2 + k + k * d)
            block_start += n_rows
        if want_stats and wide:
            _write_wide_statistics(cov_type, k, d, lanes, wnk, wacc, sums[0], sums[1], row)
        elif tied_lanes:
            _write_wide_statistics(TIED, k, d, lanes, wnk, wacc, sums[0], sums[1], row)
            _first_moments_to_shift(k, d, d64, row)
        elif full_stats:
            _write_full_single_statistics(k, d, d64, hg, sums[0], sums[1], row)
        elif want_stats:
            if small:
                _fold_lanes(sl, k * width, 1, dlanes, acc)
                if tied_want_s2:
                    _fold_lanes(tl, d, d, dlanes, row + 2 + k + k * d)
            if tied_stats:
                _tied_moments_to_shift(k, d, width, d64, tacc, acc, row + 2 + k + k * d)
            _write_statistics(cov_type, k, d, width, outer_stats, acc,
                              d64, sums[0], sums[1], row)
    return sums[0], sums[1], n_nonfinite, worst_row


def stats_width(int cov_type, Py_ssize_t k, Py_ssize_t d):
    """Entries of one chunk's statistics: Σ w log p, Σ w, N (k), S1 (k·d), S2."""
    return 2 + k + k * d + _s2_shape(cov_type, k, d)[0]


def tied_moments(
    const floating[:, ::1] X,            # IN  (n_samples, d)
    Py_ssize_t start, Py_ssize_t end,    # IN  row range of this shard
    const floating[::1] sample_weight,   # IN  (n_samples,) or (0,) for ones
    const floating[::1] shift,           # IN  (d,) the shift s
    double[::1] out,                     # INOUT ((d + 1)²,) see below
    Py_ssize_t block_size=256,
):
    """out += the moments of rows [start, end) around s, in double: the lower
    triangle of Σ w [1, z][1, z]ᵀ with z = x − s computed in double, row-major
    (d + 1) × (d + 1).  Its first column is [Σ w, Σ w z]; the rest is tied's S2.

    Tied S2 is the same sum under any parameters, so a fit takes these once
    (see _em.TiedSecondMoment) and runs its E-steps with ``tied_s2=False``.
    """
    cdef Py_ssize_t n_samples = X.shape[0], d = X.shape[1], width = d + 1
    _check_rows(n_samples, start, end)
    if block_size < 1:
        raise ValueError("block_size must be positive")
    _check_shape("shift", (shift.shape[0],), (d,))
    _check_shape("out", (out.shape[0],), (width * width,))
    cdef bint weighted = sample_weight.shape[0] != 0
    if weighted:
        _check_shape("sample_weight", (sample_weight.shape[0],), (n_samples,))
    if end == start:
        return
    cdef Py_ssize_t b = min(block_size, end - start)
    cdef double[::1] design = np.empty(2 * b * width)
    cdef double *wd = &design[0]
    cdef double *scaled = wd + b * width
    cdef const floating *wb = NULL
    cdef Py_ssize_t block_start, n_rows
    with nogil:
        block_start = start
        while block_start < end:
            n_rows = min(b, end - block_start)
            if weighted:
                wb = &sample_weight[block_start]
            _double_design(&X[block_start, 0], n_rows, d, TIED, &shift[0], wd, width)
            _tied_moments(wd, n_rows, width, width, wb, scaled, &out[0])
            block_start += n_rows


cdef void _write_statistics(int cov_type, Py_ssize_t k, Py_ssize_t d, Py_ssize_t width,
                            bint outer, const double *acc, const double *delta, double loglik,
                            double weight, double *row) noexcept nogil:
    """Write the statistics to their row (see e_step).

    ``acc`` (k × width) holds R [1, x − s, …]; second moments that were
    accumulated in place (tied, and full around each mean) are already in the row.
    """
    cdef Py_ssize_t c, j, l, p
    cdef double *nk = row + 2
    cdef double *s1 = nk + k
    cdef double *s2 = s1 + k * d
    cdef const double *a
    row[0] = loglik
    row[1] = weight
    for c in range(k):
        a = acc + c * width
        nk[c] = a[0]
        for j in range(d):
            s1[c * d + j] = a[1 + j]
        if cov_type == FULL and not outer:
            # S1 came around the global shift; the second moments are around each mean
            for j in range(d):
                s1[c * d + j] -= a[0] * delta[c * d + j]
        elif cov_type == DIAG:
            for j in range(d):
                s2[c * d + j] = a[1 + d + j]
        elif cov_type == SPHERICAL:
            s2[c] = a[1 + d]
        elif cov_type == FULL:
            p = 1 + d
            for j in range(d):
                for l in range(j + 1):
                    s2[c * d * d + j * d + l] = a[p]
                    p += 1


cdef void _write_wide_statistics(int cov_type, Py_ssize_t k, Py_ssize_t d, Py_ssize_t lanes,
                                 const double *nk, const double *acc, double loglik,
                                 double weight, double *row) noexcept nogil:
    """Write gmm_wide_stats' sums to the statistics row (around each mean), folding
    their lanes (tied: N and S1 only)."""
    cdef Py_ssize_t c, j, l
    cdef double *s1 = row + 2 + k
    cdef double *s2 = s1 + k * d
    cdef const double *a
    cdef double t1, t2
    row[0] = loglik
    row[1] = weight
    for c in range(k):
        t1 = 0.0
        for l in range(lanes):
            t1 += nk[c * lanes + l]
        row[2 + c] = t1
        for j in range(d):
            a = acc + (c * d + j) * 2 * lanes
            t1 = 0.0
            t2 = 0.0
            for l in range(lanes):
                t1 += a[l]
                t2 += a[lanes + l]
            s1[c * d + j] = t1
            if cov_type == DIAG:
                s2[c * d + j] = t2
        if cov_type == SPHERICAL:
            a = acc + (2 * k * d + c) * lanes
            t2 = 0.0
            for l in range(lanes):
                t2 += a[l]
            s2[c] = t2


cdef void _first_moments_to_shift(Py_ssize_t k, Py_ssize_t d, const double *delta,
                                  double *row) noexcept nogil:
    """S1 of the statistics row, from around each component's mean to around the
    shift s, in double: S1_c += N_c e_c with e_c = μ_c − s (``delta``)."""
    cdef Py_ssize_t c, j
    cdef double *s1 = row + 2 + k
    for c in range(k):
        for j in range(d):
            s1[c * d + j] += row[2 + c] * delta[c * d + j]


cdef inline void _transpose(const floating *X, Py_ssize_t n, Py_ssize_t d, Py_ssize_t ldx,
                            const floating *shift, floating *xt, Py_ssize_t ld) noexcept nogil:
    if floating is float:
        gmm_transpose_f(X, n, d, ldx, shift, xt, ld)
    else:
        gmm_transpose_d(X, n, d, ldx, shift, xt, ld)


cdef inline void _wide_wlp(int cov_type, const floating *xt, Py_ssize_t n, Py_ssize_t d,
                           Py_ssize_t ld, Py_ssize_t k, const floating *M, const floating *P,
                           const double *cst, floating *wlp, floating *dist,
                           gmm_stream *pf) noexcept nogil:
    """M, and diag's P, feature-major (d × k); spherical's P: k; tied's P unused."""
    if floating is float:
        gmm_wide_wlp_f(cov_type, xt, n, d, ld, k, M, P, cst, wlp, dist, pf)
    else:
        gmm_wide_wlp_d(cov_type, xt, n, d, ld, k, M, P, cst, wlp, dist, pf)


cdef inline void _wide_stats(int cov_type, const float *xt, Py_ssize_t n, Py_ssize_t d,
                             Py_ssize_t ld, Py_ssize_t k, const float *M, float *R,
                             float *dist, double *nk, double *acc,
                             gmm_stream *pf) noexcept nogil:
    """float32 only: float64 diag and spherical take the expanded form's design."""
    gmm_wide_stats_f(cov_type, xt, n, d, ld, k, M, R, dist, nk, acc, pf)


cdef inline Py_ssize_t _rounded(Py_ssize_t count) noexcept nogil:
    """count rounded up to 16 entries, so that every piece of scratch starts 64-byte
    aligned when the first one does."""
    return (count + 15) // 16 * 16


cdef inline floating *_aligned(floating *p) noexcept nogil:
    """p rounded up to a 64-byte boundary (the scratch has 64 bytes to spare)."""
    return <floating *>((<size_t>p + 63) & ~(<size_t>63))


cdef inline double *_aligned_double(double *p) noexcept nogil:
    return <double *>((<size_t>p + 63) & ~(<size_t>63))


cdef inline floating *_take(floating **cursor, Py_ssize_t count) noexcept nogil:
    """The next ``count`` entries of a scratch buffer (the cursor moves past them)."""
    cdef floating *piece = cursor[0]
    cursor[0] = piece + _rounded(count)
    return piece


cdef inline double *_take_double(double **cursor, Py_ssize_t count) noexcept nogil:
    cdef double *piece = cursor[0]
    cursor[0] = piece + _rounded(count)
    return piece


cdef inline void _lse_cols(floating *wlp, Py_ssize_t k, Py_ssize_t n, Py_ssize_t ld,
                           double *lpn, double *work, gmm_stream *pf) noexcept nogil:
    if floating is float:
        gmm_lse_cols_f(wlp, k, n, ld, lpn, work, pf)
    else:
        gmm_lse_cols_d(wlp, k, n, ld, lpn, work, pf)


cdef inline void _argmax_cols(const floating *wlp, Py_ssize_t k, Py_ssize_t n, Py_ssize_t ld,
                              Py_ssize_t *labels, double *work) noexcept nogil:
    if floating is float:
        gmm_argmax_cols_f(wlp, k, n, ld, labels, work)
    else:
        gmm_argmax_cols_d(wlp, k, n, ld, labels, work)


cdef inline void _diff_rows(const floating *X, Py_ssize_t n_rows, Py_ssize_t d,
                            const floating *mu, const floating *r, Py_ssize_t r_stride,
                            floating *Z) noexcept nogil:
    if floating is float:
        gmm_diff_rows_f(X, n_rows, d, mu, r, r_stride, Z)
    else:
        gmm_diff_rows_d(X, n_rows, d, mu, r, r_stride, Z)


cdef void _design(const double *X, Py_ssize_t n_rows, Py_ssize_t d, int cov_type,
                  const double *shift, double *A, Py_ssize_t width) noexcept nogil:
    """Rows of A: [1, x − s] and then (x − s)² (diag) or ‖x − s‖² (spherical).
    float64 only: float32 designs are written in double (_double_design)."""
    # gmm_design's kind is the covariance type whose design it writes (TIED: [1, z])
    cdef int kind = cov_type if cov_type == DIAG or cov_type == SPHERICAL else 1
    gmm_design_d(kind, X, n_rows, d, shift, A, width)


cdef void _direct_log_densities(
        int cov_type,                  # IN  DIAG or SPHERICAL
        const floating *X,             # IN  n_rows × d, row-major
        Py_ssize_t n_rows, Py_ssize_t d,
        const floating *means,         # IN  k × d
        const floating *prec,          # IN  diag k × d, spherical (k,) precisions
        const double *cst,             # IN  (k,) constants of the direct form
        const Py_ssize_t *components,  # IN  the components to write
        Py_ssize_t n_components,
        floating *wlp,                 # OUT rows of those components (k × ld)
        Py_ssize_t ld) noexcept nogil:
    """wlp[c] = cst[c] − ½ Σ_j p_cj (x_j − μ_cj)² for the listed components.

    The expanded form (x − s)² p − 2 (x − s) p δ + p δ² loses about
    eps · Σ p δ² to cancellation near a component whose mean lies far from the
    shift against its spread; such components (rare: a tight cluster far from
    the rest) are written here in the direct form instead.
    """
    cdef Py_ssize_t t, c, i, j
    cdef double acc, z
    cdef const floating *x
    cdef const floating *m
    for t in range(n_components):
        c = components[t]
        m = means + c * d
        for i in range(n_rows):
            x = X + i * d
            acc = 0.0
            if cov_type == DIAG:
                for j in range(d):
                    z = <double>x[j] - <double>m[j]
                    acc += <double>prec[c * d + j] * z * z
            else:
                for j in range(d):
                    z = <double>x[j] - <double>m[j]
                    acc += z * z
                acc *= <double>prec[c]
            wlp[c * ld + i] = <floating>(cst[c] - 0.5 * acc)


cdef void _affine(const floating *A, Py_ssize_t lda, Py_ssize_t n_rows, Py_ssize_t q_rows,
                  Py_ssize_t k, const floating *Q, const double *cst, floating *wlp,
                  Py_ssize_t ld) noexcept nogil:
    """wlp (k × n_rows, leading dimension ld) = cst + Qᵀ Aᵀ, for row-major
    A (n_rows × q_rows, leading dimension lda) and Q (q_rows × k).

    Column-major, wlp's memory is the n_rows × k matrix A Q (leading dimension ld);
    A's memory is Aᵀ and Q's is Qᵀ, so gemm(T, T).
    """
    cdef Py_ssize_t i, c
    cdef int m = <int>n_rows, n = <int>k, kk = <int>q_rows, ldq = <int>k
    cdef int ld_a = <int>lda, ldc = <int>ld
    cdef floating one = 1.0
    for c in range(k):
        for i in range(n_rows):
            wlp[c * ld + i] = <floating>cst[c]
    if floating is float:
        sgemm(b"T", b"T", &m, &n, &kk, &one, <float *>A, &ld_a, <float *>Q, &ldq, &one,
              wlp, &ldc)
    else:
        dgemm(b"T", b"T", &m, &n, &kk, &one, <double *>A, &ld_a, <double *>Q, &ldq, &one,
              wlp, &ldc)


cdef inline void _at_b(Py_ssize_t n_rows, Py_ssize_t k, Py_ssize_t width, const double *R,
                       Py_ssize_t ldr, const double *A, double *C) noexcept nogil:
    """C (k × width) += R A, for R (k × n_rows, leading dimension ldr, the
    component-major responsibilities) and a row-major design A (n_rows × width).

    Column-major, Cᵀ (width × k) = Aᵀ Rᵀ: A's memory is Aᵀ (width × n_rows) and
    R's is Rᵀ (n_rows × k, leading dimension ldr), so gemm(N, N).
    """
    cdef int m = <int>width, n = <int>k, kk = <int>n_rows, lda = <int>width, ld_r = <int>ldr
    cdef double one = 1.0
    dgemm(b"N", b"N", &m, &n, &kk, &one, <double *>A, &lda, <double *>R, &ld_r, &one,
          C, &lda)


cdef void _double_design(const floating *X, Py_ssize_t n_rows, Py_ssize_t d, int kind,
                         const floating *shift, double *W, Py_ssize_t width) noexcept nogil:
    """Rows of the float64 statistics design W (n_rows × width), z = x − s in double:
    [1, z] and then z_j z_l for l ≤ j (FULL), z² (DIAG), ‖z‖² (SPHERICAL) or nothing
    (TIED)."""
    # gmm_design's kind: FULL outer products, TIED [1, z], DIAG squares, SPHERICAL ‖z‖²
    cdef int c_kind = 0 if kind == FULL else 1 if kind == TIED else kind
    if floating is float:
        gmm_design_fd(c_kind, X, n_rows, d, shift, W, width)
    else:
        gmm_design_d(c_kind, X, n_rows, d, shift, W, width)


cdef void _tied_moments(const double *Z, Py_ssize_t n_rows, Py_ssize_t d, Py_ssize_t ld,
                        const floating *weight, double *scaled, double *S) noexcept nogil:
    """S += Σ w z zᵀ (float64, row-major lower triangle) from the z of a row-major
    float64 design (z_j of row i is Z[i·ld + j]), by gmm_gram_lower's register tiles
    (on the rows scaled by √w when weighted)."""
    cdef Py_ssize_t i, j
    cdef double sw
    if weight != NULL:
        for i in range(n_rows):
            sw = sqrt(<double>weight[i])
            for j in range(d):
                scaled[i * ld + j] = sw * Z[i * ld + j]
        Z = scaled
    gmm_gram_lower_d(Z, n_rows, d, ld, S)


cdef void _fold_lanes(const double *S, Py_ssize_t p, Py_ssize_t q, Py_ssize_t lanes,
                      double *out) noexcept nogil:
    """out[a·q + b] += the sum of gmm_rows_dot_d's lanes S[(a·q + b)·lanes + l], for
    all a < p, b < q when q == 1 (a plain vector), else for b ≤ a (the lower
    triangle of a square p × p)."""
    cdef Py_ssize_t a, b, l, b_end
    cdef double t
    for a in range(p):
        b_end = 1 if q == 1 else a + 1
        for b in range(b_end):
            t = 0.0
            for l in range(lanes):
                t += S[(a * q + b) * lanes + l]
            out[a * q + b] += t


cdef void _tied_single_moments(const float *X, Py_ssize_t n_rows, Py_ssize_t d,
                               Py_ssize_t k, const float *means, const float *R,
                               Py_ssize_t ldr, const float *weight, Py_ssize_t width,
                               Py_ssize_t *assigned, double *work, float *Z,
                               float *tmp, double *acc, double *TMG,
                               double *S) noexcept nogil:
    """The statistics of a float32 tied block in float32 (one GEMM and the rank update's
    register tiles), added up in double.

    Every row is taken around its most responsible mean, z = x − μ_a(i), a
    within-cluster distance: float32 sums of z rows lose nothing that matters.
    (Around the global shift they would carry the between-cluster distances, and
    their float32 rounding would be left over after S2 − Σ N δ δᵀ in the M-step.)
    From the weighted responsibilities R (k × n_rows, leading dimension ldr):

    - acc[c, 1:] (k × width) += Σ_i R_ci z_i, one GEMM;
    - S (lower triangle) += Σ_i w_i z_i z_iᵀ, one rank update;
    - TMG = [T (k × d), M (k), G (k × k)] += T_c = Σ_{a(i)=c} w z,
      M_c = Σ_{a(i)=c} w and G[c, c'] = Σ_{a(i)=c'} R_ci,

    from which _tied_moments_to_shift moves N, S1 and S to the global shift.  (E-steps
    without S2 take their statistics by lanes instead: see tied_lanes in e_step.)
    """
    cdef Py_ssize_t i, j, c
    cdef float v
    cdef int m = <int>d, n = <int>k, kk = <int>n_rows, ld_z = <int>d, ld_r = <int>ldr
    cdef float one = 1.0, zero = 0.0
    cdef double *T = TMG
    cdef double *M = TMG + k * d
    cdef double *G = TMG + k * d + k
    _argmax_cols(R, k, n_rows, ldr, assigned, work)
    gmm_assigned_rows_f(X, n_rows, d, k, means, assigned, weight, R, ldr, Z, T, M, G)
    # Column-major, tmpᵀ (d × k) = Zᵀ Rᵀ: Z's memory is Zᵀ, R's is Rᵀ: gemm(N, N)
    sgemm(b"N", b"N", &m, &n, &kk, &one, Z, &ld_z, <float *>R, &ld_r, &zero, tmp, &ld_z)
    for c in range(k):
        for j in range(d):
            acc[c * width + 1 + j] += tmp[c * d + j]
    if weight != NULL:
        for i in range(n_rows):
            v = <float>sqrt(<double>weight[i])
            for j in range(d):
                Z[i * d + j] = v * Z[i * d + j]
    _add_gram(n_rows, d, Z, S)


cdef void _full_single_moments(const float *X, Py_ssize_t n_rows, Py_ssize_t d,
                               Py_ssize_t k, const float *means, const float *R,
                               Py_ssize_t ldr, Py_ssize_t *assigned, double *work,
                               float *Dz, float *tmp, double *hg) noexcept nogil:
    """The statistics of a float32 full block (outer products) from one float32 GEMM,
    added up in double.

    Every row is taken around its most responsible mean, z = x − μ_a(i), a
    within-cluster distance, so that float32 products and block sums of z zᵀ lose
    nothing that matters next to the covariances.  With the weighted
    responsibilities R (k × n_rows, leading dimension ldr), hg holds

    - S (k × w2) += R [z_j z_l, l ≤ j]  (one GEMM; w2 = d (d + 1) / 2),
    - H (k × k × d): H[c, a] += Σ_{a(i)=a} R_ci z_i,
    - G (k × k):     G[c, a] += Σ_{a(i)=a} R_ci,

    from which _write_full_single_statistics takes every row to each mean μ_c.
    """
    cdef Py_ssize_t w2 = d * (d + 1) // 2
    cdef double *S = hg
    cdef double *H = hg + k * w2
    cdef double *G = H + k * k * d
    cdef int m = <int>w2, n = <int>k, kk = <int>n_rows, ld_d = <int>w2, ld_r = <int>ldr
    cdef float one = 1.0, zero = 0.0
    _argmax_cols(R, k, n_rows, ldr, assigned, work)
    # Column-major, tmpᵀ (w2 × k) = Dzᵀ Rᵀ: Dz's memory is Dzᵀ, R's is Rᵀ: gemm(N, N)
    gmm_outer_design_f(X, n_rows, d, k, means, R, ldr, assigned, Dz, H, G)
    sgemm(b"N", b"N", &m, &n, &kk, &one, Dz, &ld_d, <float *>R, &ld_r, &zero, tmp, &ld_d)
    gmm_add_to_double_f(tmp, k * w2, S)


cdef void _write_full_single_statistics(Py_ssize_t k, Py_ssize_t d, const double *delta,
                                        const double *hg, double loglik, double weight,
                                        double *row) noexcept nogil:
    """Write _full_single_moments' sums to the statistics row, around each mean μ_c.

    A row assigned to a is x − μ_c = z + e with e = μ_a − μ_c (``delta`` holds
    μ − s, so e = delta[a] − delta[c], exactly), hence

        N_c  = Σ_a G[c, a]
        S1_c = Σ_a H[c, a] + G[c, a] e
        S2_c = S_c + Σ_a H[c, a] eᵀ + e H[c, a]ᵀ + G[c, a] e eᵀ  (lower triangle).
    """
    cdef Py_ssize_t c, a, j, l, p
    cdef Py_ssize_t w2 = d * (d + 1) // 2
    cdef const double *S = hg
    cdef const double *H = hg + k * w2
    cdef const double *G = H + k * k * d
    cdef double *nk = row + 2
    cdef double *s1 = nk + k
    cdef double *s2 = s1 + k * d
    cdef double *out
    cdef const double *h
    cdef double g, e_j
    cdef double ev[OUTER_D_MAX]  # e for one pair (d <= OUTER_D_MAX here)
    row[0] = loglik
    row[1] = weight
    for c in range(k):
        out = s2 + c * d * d
        p = 0
        for j in range(d):
            for l in range(j + 1):
                out[j * d + l] = S[c * w2 + p + l]
            p += j + 1
        nk[c] = 0.0
        for j in range(d):
            s1[c * d + j] = 0.0
        for a in range(k):
            g = G[c * k + a]
            h = H + (c * k + a) * d
            nk[c] += g
            for j in range(d):
                s1[c * d + j] += h[j]
            if a == c or (g == 0.0):
                continue
            for j in range(d):
                ev[j] = delta[a * d + j] - delta[c * d + j]
                s1[c * d + j] += g * ev[j]
            for j in range(d):
                e_j = ev[j]
                for l in range(j + 1):
                    out[j * d + l] += h[j] * ev[l] + e_j * h[l] + g * e_j * ev[l]


cdef void _tied_moments_to_shift(Py_ssize_t k, Py_ssize_t d, Py_ssize_t width,
                                 const double *delta, const double *TMG, double *acc,
                                 double *S) noexcept nogil:
    """N, S1 and S (lower triangle) of _tied_single_moments, moved from each row's
    assigned mean to the global shift s in double, with e_c = μ_c − s (``delta``):
    x − s = z + e_a(i), so

        N_c  = Σ_c' G[c, c']
        S1_c = Σ_i R_ci z_i + Σ_c' G[c, c'] e_c'
        S    = Σ w z zᵀ + Σ_c (T_c e_cᵀ + e_c T_cᵀ + M_c e_c e_cᵀ).
    """
    cdef Py_ssize_t c, c2, j
    cdef const double *G = TMG + k * d + k
    cdef double g
    for c in range(k):
        acc[c * width] = 0.0
        for c2 in range(k):
            g = G[c * k + c2]
            acc[c * width] += g
            for j in range(d):
                acc[c * width + 1 + j] += g * delta[c2 * d + j]
    _tied_s2_to_shift(k, d, delta, TMG, TMG + k * d, S)


cdef void _tied_s2_to_shift(Py_ssize_t k, Py_ssize_t d, const double *delta, const double *T,
                            const double *M, double *S) noexcept nogil:
    """S (lower triangle) += Σ_c T_c e_cᵀ + e_c T_cᵀ + M_c e_c e_cᵀ, e_c = ``delta``[c]:
    from Σ w z zᵀ with z = x − μ_a(i) (rows assigned to c: Σ w z = T_c, Σ w = M_c)
    to Σ w (x − s)(x − s)ᵀ, since x − s = z + e_a(i)."""
    cdef Py_ssize_t c, j, l
    cdef const double *e
    cdef const double *t
    for c in range(k):
        e = delta + c * d
        t = T + c * d
        for j in range(d):
            for l in range(j + 1):
                S[j * d + l] += t[j] * e[l] + e[j] * t[l] + M[c] * e[j] * e[l]


cdef void _full_moments(const floating *X, Py_ssize_t n_rows, Py_ssize_t d, Py_ssize_t k,
                        const floating *means, const floating *resp, Py_ssize_t ldr,
                        floating *Z, double *s2) noexcept nogil:
    """S2 of each component around its own mean: rows √r (x − μ_c), one rank update each.

    ``resp`` is component-major (k × n_rows, leading dimension ldr)."""
    cdef Py_ssize_t c
    for c in range(k):
        _diff_rows(X, n_rows, d, means + c * d, resp + c * ldr, 1, Z)
        _add_gram(n_rows, d, Z, s2 + c * d * d)


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
    # tied with labels: [T (k × d), M (k)], and the shifts' offsets from tied_shift in
    # double
    cdef bint tied_labels = cov_type == TIED and hard and d > SMALL_D_MAX
    cdef double[::1] tm_buf = np.zeros(k * d + k if tied_labels else 1)
    cdef double[::1] e_buf = np.empty(k * d if tied_labels else 1)
    cdef Py_ssize_t j
    if tied_labels:
        for i in range(k):
            for j in range(d):
                e_buf[i * d + j] = <double>shifts[i, j] - <double>tied_shift[j]
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
                              &labels[block_start] if tied_labels else NULL, &tm_buf[0],
                              &scratch_buf[0, 0], &nk[0], &s1[0, 0], &s2[0])
            block_start += n_rows
        if tied_labels:
            _tied_s2_to_shift(k, d, &e_buf[0], &tm_buf[0], &tm_buf[k * d], &s2[0])


def lloyd_step(
    const floating[:, ::1] X,            # IN  (n_samples, d)
    Py_ssize_t start, Py_ssize_t end,
    const floating[::1] sample_weight,   # IN  (n_samples,) or (0,)
    const floating[::1] x_shift,         # IN  (d,) subtracted from X (its mean)
    const floating[:, ::1] centers,      # IN  (k, d) in shifted coordinates
    const floating[::1] center_norms,    # IN  (k,) ‖c‖², as numpy's einsum sums them
    Py_ssize_t[::1] labels,              # INOUT (n_samples,)
    double[:, ::1] sums,                 # INOUT (k, d) Σ w (x − x_shift) per label
    double[::1] weight_in_clusters,      # INOUT (k,)
    Py_ssize_t block_size=256,
):
    """One Lloyd assignment over rows [start, end).

    Distances are ‖c‖² − 2 x·c on shifted data, taken as scikit-learn's Lloyd
    iteration takes them (‖c‖² from einsum, then one GEMM with beta 1), so that
    the rounding of tied distances, and the first-lowest label chosen among them,
    agree.  Returns the number of rows whose label changed.
    """
    cdef Py_ssize_t n_samples = X.shape[0], d = X.shape[1], k = centers.shape[0]
    _check_rows(n_samples, start, end)
    _check_shape("x_shift", (x_shift.shape[0],), (d,))
    _check_shape("centers", (centers.shape[0], centers.shape[1]), (k, d))
    _check_shape("center_norms", (center_norms.shape[0],), (k,))
    _check_shape("labels", (labels.shape[0],), (n_samples,))
    _check_shape("sums", (sums.shape[0], sums.shape[1]), (k, d))
    _check_shape("weight_in_clusters", (weight_in_clusters.shape[0],), (k,))
    cdef bint weighted = sample_weight.shape[0] != 0
    if weighted:
        _check_shape("sample_weight", (sample_weight.shape[0],), (n_samples,))
    if end == start:
        return 0

    dtype = np.float32 if floating is float else np.float64
    cdef Py_ssize_t b = min(block_size, end - start)
    cdef floating[:, ::1] dist_buf = np.empty((b, k), dtype=dtype)
    cdef floating[:, ::1] xs_buf = np.empty((b, max(d, 1)), dtype=dtype)
    cdef Py_ssize_t i, j, c, best, block_start, n_rows, n_changed = 0
    cdef floating v, best_d
    cdef double w
    cdef floating *xs
    cdef floating *dist
    with nogil:
        block_start = start
        while block_start < end:
            n_rows = min(b, end - block_start)
            for i in range(n_rows):
                for j in range(d):
                    xs_buf[i, j] = X[block_start + i, j] - x_shift[j]
            xs = &xs_buf[0, 0]
            dist = &dist_buf[0, 0]
            for i in range(n_rows):
                for c in range(k):
                    dist[i * k + c] = center_norms[c]
            _rows_times_rows_t(<int>n_rows, <int>k, <int>d, -2.0, xs, &centers[0, 0], dist)
            for i in range(n_rows):
                best = 0
                best_d = dist[i * k]
                for c in range(1, k):
                    v = dist[i * k + c]
                    if v < best_d:
                        best_d = v
                        best = c
                if labels[block_start + i] != best:
                    n_changed += 1
                    labels[block_start + i] = best
                w = sample_weight[block_start + i] if weighted else 1.0
                weight_in_clusters[best] += w
                for j in range(d):
                    sums[best, j] += w * xs[i * d + j]
            block_start += n_rows
    return n_changed


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


def exp_inplace(floating[::1] x):
    """x <- exp(x) with the vectorised exp of the E-step (for tests)."""
    if x.shape[0] == 0:
        return
    with nogil:
        if floating is float:
            gmm_exp_f(&x[0], x.shape[0])
        else:
            gmm_exp_d(&x[0], x.shape[0])


def same_bytes(a, b):
    """True when two arrays have the same dtype, shape and bytes (memcmp; for the
    estimator's cache of kernel parameters)."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray:
        return False
    cdef cnp.ndarray x = a, y = b
    if not (cnp.PyArray_IS_C_CONTIGUOUS(x) and cnp.PyArray_IS_C_CONTIGUOUS(y)):
        return bool(a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b))
    if cnp.PyArray_TYPE(x) != cnp.PyArray_TYPE(y):
        return False
    if cnp.PyArray_NDIM(x) != cnp.PyArray_NDIM(y):
        return False
    cdef int i
    for i in range(cnp.PyArray_NDIM(x)):
        if cnp.PyArray_DIM(x, i) != cnp.PyArray_DIM(y, i):
            return False
    return memcmp(cnp.PyArray_DATA(x), cnp.PyArray_DATA(y), cnp.PyArray_NBYTES(x)) == 0
