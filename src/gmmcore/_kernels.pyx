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
from libc.math cimport INFINITY, isfinite, sqrt
from libc.stdint cimport uint8_t, uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcmp, memcpy, memset
from cpython.pycapsule cimport PyCapsule_GetPointer
from numpy.random cimport bitgen_t
from scipy.linalg.cython_blas cimport dgemm, sgemm

cdef extern from "gmmcore_simd.h" nogil:
    ctypedef struct gmm_stream:
        pass
    int gmm_marginal_deviation_d(const double *xb, const double *ob, const double *mu,
                                 Py_ssize_t n, Py_ssize_t d, double *dv)
    int gmm_marginal_diag_lp_d(const double *ob, const double *c0, const double *p,
                               const double *dv, Py_ssize_t n, Py_ssize_t d, double lw,
                               double *lp, Py_ssize_t ld)
    int gmm_marginal_diag_moments_d(const double *wr, const double *dv, const double *e,
                                    const double *ob, const double *var, double *s1,
                                    double *s2, Py_ssize_t n, Py_ssize_t d)
    int gmm_marginal_group_d(const double *lt, const double *yp, const double *mft,
                             Py_ssize_t kq, Py_ssize_t k, const Py_ssize_t *miss,
                             const Py_ssize_t *pos, const Py_ssize_t *rows, Py_ssize_t G,
                             Py_ssize_t m, Py_ssize_t d, double *C, double *wlp,
                             Py_ssize_t ldw, double *delta, double *work)
    int gmm_marginal_projections_d(const double *lt, Py_ssize_t kq, const double *gt,
                                   const double *h, const Py_ssize_t *entry,
                                   const Py_ssize_t *start, Py_ssize_t d, double *yp)
    int gmm_marginal_square_d(const double *w, Py_ssize_t kq, const Py_ssize_t *rows,
                              Py_ssize_t G, const double *delta, const Py_ssize_t *miss,
                              Py_ssize_t m, Py_ssize_t d, const double *C, double *sq)
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
    int gmm_lse_ent_cols_d(double *wlp, Py_ssize_t k, Py_ssize_t n, Py_ssize_t ld,
                           double *lpn, double *work, double *ent, gmm_stream *pf)
    int gmm_lse_ent_cols_f(float *wlp, Py_ssize_t k, Py_ssize_t n, Py_ssize_t ld,
                           double *lpn, double *work, double *ent, gmm_stream *pf)
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

cdef inline int _upper_rows(const floating *src, const floating *shift, Py_ssize_t n,
                            Py_ssize_t d, Py_ssize_t ld, const floating *U, floating *dst,
                            floating *zb) noexcept nogil:
    """dst = y = (src − shift) U for a feature-major block (d × ld, n rows; shift may
    be NULL, dst may be src) and row-major upper-triangular U (gmm_upper_rows)."""
    if floating is float:
        return gmm_upper_rows_f(src, shift, n, d, ld, U, dst, zb)
    else:
        return gmm_upper_rows_d(src, shift, n, d, ld, U, dst, zb)


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
# Thin wrappers of the C loops (fused float/double); they return its status
# ---------------------------------------------------------------------------

cdef inline int _transpose(const floating *X, Py_ssize_t n, Py_ssize_t d, Py_ssize_t ldx,
                           const floating *shift, floating *xt, Py_ssize_t ld) noexcept nogil:
    if floating is float:
        return gmm_transpose_f(X, n, d, ldx, shift, xt, ld)
    else:
        return gmm_transpose_d(X, n, d, ldx, shift, xt, ld)


cdef inline int _wide_wlp(int cov_type, const floating *xt, Py_ssize_t n, Py_ssize_t d,
                          Py_ssize_t ld, Py_ssize_t k, const floating *M, const floating *P,
                          const double *cst, floating *wlp, floating *dist,
                          gmm_stream *pf) noexcept nogil:
    """M, and diag's P, feature-major (d × k); spherical's P: k; tied's P unused."""
    if floating is float:
        return gmm_wide_wlp_f(cov_type, xt, n, d, ld, k, M, P, cst, wlp, dist, pf)
    else:
        return gmm_wide_wlp_d(cov_type, xt, n, d, ld, k, M, P, cst, wlp, dist, pf)


cdef inline int _lse_cols(floating *wlp, Py_ssize_t k, Py_ssize_t n, Py_ssize_t ld,
                          double *lpn, double *work, gmm_stream *pf) noexcept nogil:
    if floating is float:
        return gmm_lse_cols_f(wlp, k, n, ld, lpn, work, pf)
    else:
        return gmm_lse_cols_d(wlp, k, n, ld, lpn, work, pf)


cdef inline int _argmax_cols(const floating *wlp, Py_ssize_t k, Py_ssize_t n, Py_ssize_t ld,
                             Py_ssize_t *labels, double *work) noexcept nogil:
    if floating is float:
        return gmm_argmax_cols_f(wlp, k, n, ld, labels, work)
    else:
        return gmm_argmax_cols_d(wlp, k, n, ld, labels, work)


cdef inline int _diff_rows(const floating *X, Py_ssize_t n_rows, Py_ssize_t d,
                           const floating *mu, const floating *r, Py_ssize_t r_stride,
                           floating *Z) noexcept nogil:
    if floating is float:
        return gmm_diff_rows_f(X, n_rows, d, mu, r, r_stride, Z)
    else:
        return gmm_diff_rows_d(X, n_rows, d, mu, r, r_stride, Z)


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


cdef inline int _double_design(const floating *X, Py_ssize_t n_rows, Py_ssize_t d, int kind,
                               const floating *shift, double *W, Py_ssize_t width) noexcept nogil:
    """Rows of the float64 design W (n_rows × width) named by ``kind`` (a covariance
    code), z = x − s in double: [1, z] and then z_j z_l for l ≤ j (FULL), z² (DIAG),
    ‖z‖² (SPHERICAL) or nothing (TIED)."""
    if floating is float:
        return gmm_design_fd(kind, X, n_rows, d, shift, W, width)
    else:
        return gmm_design_d(kind, X, n_rows, d, shift, W, width)


# ---------------------------------------------------------------------------
# Block kernels: one block of at most `block_size` rows, everything in cache
# ---------------------------------------------------------------------------

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


cdef int _tied_moments(const double *Z, Py_ssize_t n_rows, Py_ssize_t d, Py_ssize_t ld,
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
    return gmm_gram_lower_d(Z, n_rows, d, ld, S)


cdef int _full_moments(const floating *X, Py_ssize_t n_rows, Py_ssize_t d, Py_ssize_t k,
                       const floating *means, const floating *resp, Py_ssize_t ldr,
                       floating *Z, double *s2) noexcept nogil:
    """S2 of each component around its own mean: rows √r (x − μ_c), one rank update each.

    ``resp`` is component-major (k × n_rows, leading dimension ldr)."""
    cdef Py_ssize_t c
    cdef int status = 0
    for c in range(k):
        status |= _diff_rows(X, n_rows, d, means + c * d, resp + c * ldr, 1, Z)
        status |= _add_gram(n_rows, d, Z, s2 + c * d * d)
    return status


cdef int _tied_single_moments(const float *X, Py_ssize_t n_rows, Py_ssize_t d,
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
    without S2 take their statistics by lanes instead: MOMENTS_WIDE_LANES.)
    """
    cdef Py_ssize_t i, j, c
    cdef float v
    cdef int m = <int>d, n = <int>k, kk = <int>n_rows, ld_z = <int>d, ld_r = <int>ldr
    cdef float one = 1.0, zero = 0.0
    cdef double *T = TMG
    cdef double *M = TMG + k * d
    cdef double *G = TMG + k * d + k
    cdef int status = _argmax_cols(R, k, n_rows, ldr, assigned, work)
    status |= gmm_assigned_rows_f(X, n_rows, d, k, means, assigned, weight, R, ldr, Z, T, M, G)
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
    return status | _add_gram(n_rows, d, Z, S)


cdef int _full_single_moments(const float *X, Py_ssize_t n_rows, Py_ssize_t d,
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
    cdef int status = _argmax_cols(R, k, n_rows, ldr, assigned, work)
    # Column-major, tmpᵀ (w2 × k) = Dzᵀ Rᵀ: Dz's memory is Dzᵀ, R's is Rᵀ: gemm(N, N)
    status |= gmm_outer_design_f(X, n_rows, d, k, means, R, ldr, assigned, Dz, H, G)
    sgemm(b"N", b"N", &m, &n, &kk, &one, Dz, &ld_d, <float *>R, &ld_r, &zero, tmp, &ld_d)
    return status | gmm_add_to_double_f(tmp, k * w2, S)


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


cdef void _write_statistics(const Plan *p, const double *acc, const double *delta,
                            double loglik, double weight, double *row) noexcept nogil:
    """Write the statistics to their row (see e_step).

    ``acc`` (k × width) holds R times the design [1, x − s, …]; second moments that
    were accumulated in place (tied, and full around each mean) are already in the
    row.
    """
    cdef Py_ssize_t c, j, l, q, k = p.k, d = p.d, width = p.width
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
        if p.cov_type == FULL and p.design != FULL:
            # S1 came around the global shift; the second moments are around each mean
            for j in range(d):
                s1[c * d + j] -= a[0] * delta[c * d + j]
        elif p.design == DIAG:
            for j in range(d):
                s2[c * d + j] = a[1 + d + j]
        elif p.design == SPHERICAL:
            s2[c] = a[1 + d]
        elif p.design == FULL:
            q = 1 + d
            for j in range(d):
                for l in range(j + 1):
                    s2[c * d * d + j * d + l] = a[q]
                    q += 1


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


cdef inline void _move_moments(Py_ssize_t d, double n, const double *t, const double *e,
                               double *s1, double *S) noexcept nogil:
    """Sums over rows taken around a centre a, moved to the centre a − e, in double
    (the kernels' one copy of this algebra; _mstep.moved_second_moments is the
    M-step's): with z = x − a, x − (a − e) = z + e, so from n = Σ w and t = Σ w z

        s1 += n e                      (s1 NULL: S1 not moved)
        S  += t eᵀ + e tᵀ + n e eᵀ     (row-major lower triangle; S NULL: not moved)
    """
    cdef Py_ssize_t j, l
    if s1 != NULL:
        for j in range(d):
            s1[j] += n * e[j]
    if S != NULL:
        for j in range(d):
            for l in range(j + 1):
                S[j * d + l] += t[j] * e[l] + e[j] * t[l] + n * e[j] * e[l]


cdef void _first_moments_to_shift(Py_ssize_t k, Py_ssize_t d, const double *delta,
                                  double *row) noexcept nogil:
    """S1 of the statistics row, from around each component's mean to around the
    shift s: S1_c += N_c e_c with e_c = μ_c − s (``delta``)."""
    cdef Py_ssize_t c
    for c in range(k):
        _move_moments(d, row[2 + c], NULL, delta + c * d, row + 2 + k + c * d, NULL)


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
    cdef double g
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
            _move_moments(d, g, h, ev, s1 + c * d, out)


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
    cdef Py_ssize_t c, c2
    cdef const double *T = TMG
    cdef const double *M = TMG + k * d
    cdef const double *G = TMG + k * d + k
    for c in range(k):
        acc[c * width] = 0.0
        for c2 in range(k):
            acc[c * width] += G[c * k + c2]
            _move_moments(d, G[c * k + c2], NULL, delta + c2 * d, acc + c * width + 1, NULL)
    for c in range(k):  # rows assigned to c: Σ w z = T_c, Σ w = M_c
        _move_moments(d, M[c], T + c * d, delta + c * d, NULL, S)


cdef inline int _add_gram(Py_ssize_t n_rows, Py_ssize_t d, const floating *Z,
                          double *S) noexcept nogil:
    """S (float64, lower triangle) += Zᵀ Z, by register tiles (gmm_gram_lower).

    float32 sums the block in float32 (at most block_size terms) and adds it to S.
    """
    if floating is float:
        return gmm_gram_lower_f(Z, n_rows, d, d, S)
    else:
        return gmm_gram_lower_d(Z, n_rows, d, d, S)


# ---------------------------------------------------------------------------
# The plan: which kernel takes each step of a pass, chosen once per call
#
# A pass runs over blocks of rows.  For each block, one log-density kernel
# writes the weighted log-densities (k × ldp, component-major, in scratch
# WLP), the log-sum-exp turns them into responsibilities and per-row outputs,
# and one moments kernel (and, where the design does not hold them, one
# second-moments kernel) adds the block's statistics into accumulators that
# one finishing step writes to the statistics row.  _plan chooses the kernels
# from the covariance type, d, k and the dtype, and sizes every piece of
# scratch the chosen kernels use; describe_plan prints it.  A new kind of
# E-step (other log-densities, other statistics) is a new LOGP_* or MOMENTS_*
# entry: a case in _plan, in _scratch_sizes, and in the switch that runs it.
# ---------------------------------------------------------------------------

# Log-density kernels: each writes a block's weighted log-densities to F_WLP.
cdef enum:
    # responsibilities given (the statistics of an assignment): none
    LOGP_GIVEN
    # d ≤ SMALL_D, every type: register tiles of rows (gmm_small_block), which also
    # write the block's feature-major float64 design [1, z, …]
    LOGP_SMALL_TILES
    # float32 diag, spherical: x − μ_c on the feature-major block (gmm_wide_wlp);
    # the expanded form would cancel too much in single precision
    LOGP_DIRECT_MEANS
    # tied: y = (x − s) U feature-major (gmm_upper_rows), ‖y − m_c‖² directly
    # (gmm_wide_wlp)
    LOGP_TIED_WHITENED
    # full: (x − μ_c) U_c by register tiles of rows and of U's columns (gmm_full_wlp)
    LOGP_FULL_TILES
    # float64 diag, spherical, vectors of ≥ 4 doubles: the design [1, z, z²] and its
    # products with Q in one sweep (gmm_design_wlp_d)
    LOGP_EXPANDED_SWEEP
    # the same with 2 lanes or none: the design, then one GEMM
    LOGP_EXPANDED_GEMM

# Moments kernels: N and S1, and S2 where the design holds it.
cdef enum:
    MOMENTS_NONE
    # d ≤ SMALL_D: R times the tile kernel's design, summed per lane (gmm_rows_dot_d)
    MOMENTS_TILE_LANES
    # a row-major float64 design (z = x − s in double; written by the log-density
    # kernel when it reads it too) and one dgemm
    MOMENTS_DESIGN
    # float32 diag, spherical (and tied's N, S1) around each mean: per-lane sums on
    # the feature-major block (gmm_wide_stats)
    MOMENTS_WIDE_LANES
    # float32 full: outer products around each row's most responsible mean, one
    # sgemm (_full_single_moments)
    MOMENTS_FULL_ASSIGNED
    # float32 tied with S2: likewise, and one rank update (_tied_single_moments)
    MOMENTS_TIED_ASSIGNED

# Second-moments kernels, for second moments the design does not hold.
cdef enum:
    SECOND_NONE
    # tied: Σ w z zᵀ of the design's z
    SECOND_TIED_GRAM
    # full: rows √r (x − μ_c), one rank update per component (_full_moments)
    SECOND_FULL_RANK

LOGP_NAMES = ("given", "small_tiles", "direct_means", "tied_whitened", "full_tiles",
              "expanded_sweep", "expanded_gemm")
MOMENTS_NAMES = ("none", "tile_lanes", "design", "wide_lanes", "full_assigned",
                 "tied_assigned")
SECOND_NAMES = ("none", "tied_gram", "full_rank")

# Scratch pieces, each 64-byte aligned, carved from one allocation in the data's
# dtype (F_*) and one float64 (D_*): a one-row call costs two allocations, not
# a dozen.  Sizes are in entries (0: unused by the plan).
cdef enum:
    F_WLP       # k × ldp  log-densities, then responsibilities, component-major
    F_XT        # d × ldp  the block feature-major (float32 tiles; direct forms)
    F_XR        # d × ldp  the raw block feature-major (tied's wide lanes)
    F_ZB        # U's column tile of gmm_upper_rows / gmm_full_wlp
    F_MT        # d × k    means (tied: whitened centres), feature-major
    F_PT        # d × k    diag precisions, feature-major
    F_DIST      # k × ldp  squared distances (spherical wide lanes)
    F_ROWS      # b × d    rows of a rank update
    F_TMP       # GEMM output of the float32 assigned moments
    F_DZ        # b × w2   float32 outer products around assigned means
    N_F_SLOTS
cdef enum:
    D_DESIGN    # the float64 design: width × ldp (tiles) or b × width rows
    D_RD        # k × ldp  float32 responsibilities in float64
    D_ZD        # tied with weights: the √w-scaled z of the design
    D_ACC       # k × width  R times the design, summed over the blocks
    D_DELTA     # k × d    μ − s in double
    D_LPN       # ldp      log p(x) of the block
    D_WORK      # 2 ldp    log-sum-exp and argmax work
    D_WACC      # (2kd + k) × lanes: wide lanes' sums
    D_WNK       # k × lanes: wide lanes' N
    D_TACC      # [T, M, G] of the tied assigned moments
    D_HG        # [S, H, G] of the full assigned moments
    D_SL        # k × width × lanes: tile lanes' sums
    D_TL        # d × d × lanes: tile lanes' tied S2
    D_QT        # (q + 1) × kq expanded-form coefficients and constants
    D_ASSIGNED  # b        each row's most responsible component (Py_ssize_t)
    D_ENT       # ldp      Σ_k r log r of each row of the block (the entropy output)
    N_D_SLOTS

F_SLOT_NAMES = ("wlp", "xt", "xr", "zb", "mt", "pt", "dist", "rows", "tmp", "dz")
D_SLOT_NAMES = ("design", "rd", "zd", "acc", "delta", "lpn", "work", "wacc", "wnk", "tacc",
                "hg", "sl", "tl", "qt", "assigned", "ent")
# accumulators: zeroed on entry (D_QT for its padding)
cdef tuple _ZEROED = (D_ACC, D_WACC, D_WNK, D_TACC, D_HG, D_SL, D_TL, D_QT)


cdef struct Plan:
    int cov_type, logp, moments, second
    int design           # covariance code naming the design (-1: none)
    bint single          # float32 data
    bint weighted, design_in_logp, around_means
    bint entropy         # a row output: Σ w Σ_k r log r (the variational bound's)
    Py_ssize_t d, k, b, ldp, width, q_rows, lanes, dlanes, kq
    Py_ssize_t pf_shares  # shares of the next block's stream (see gmm_stream)
    Py_ssize_t f_size[N_F_SLOTS]
    Py_ssize_t d_size[N_D_SLOTS]


cdef struct Params:      # the mixture as the kernels read it (the data's dtype)
    const void *shift    # (d,) global shift s
    const void *means    # (k, d)
    const void *delta    # (k, d) means − s
    const void *prec     # see e_step
    const void *Q
    const double *cst    # (k,)
    const Py_ssize_t *direct
    Py_ssize_t n_direct


cdef inline bint _outer_statistics(Py_ssize_t d, Py_ssize_t k) noexcept nogil:
    """Full covariances whose second moments come from the design's outer products
    (else: one rank update per component around its own mean)."""
    return d <= SMALL_D_MAX or (d <= OUTER_D_MAX and k >= OUTER_MIN_K)


cdef inline Py_ssize_t _design_width(int design, Py_ssize_t d) noexcept nogil:
    if design == FULL:
        return 1 + d + d * (d + 1) // 2
    if design == DIAG:
        return 1 + 2 * d
    if design == SPHERICAL:
        return d + 2
    if design == TIED:
        return 1 + d
    return 1


cdef Plan _plan(int cov_type, Py_ssize_t d, Py_ssize_t k, bint single, Py_ssize_t n_rows,
                Py_ssize_t block_size, bint given, bint want_stats, bint tied_s2,
                bint weighted, bint entropy=False) noexcept nogil:
    """The kernels of a pass over ``n_rows`` rows, and the scratch they use.

    The choices and the measurements behind them are in docs/kernels.md."""
    cdef Plan p
    memset(&p, 0, sizeof(Plan))
    p.cov_type, p.d, p.k, p.single, p.weighted = cov_type, d, k, single, weighted
    p.entropy = entropy and not given
    cdef bint small = d <= SMALL_D_MAX
    cdef bint outer = cov_type == FULL and _outer_statistics(d, k)
    p.dlanes = gmm_wide_lanes_d()
    p.lanes = gmm_wide_lanes_f() if single else p.dlanes
    if given:
        p.logp = LOGP_GIVEN
    elif small:
        p.logp = LOGP_SMALL_TILES
    elif cov_type == TIED:
        p.logp = LOGP_TIED_WHITENED
    elif cov_type == FULL:
        p.logp = LOGP_FULL_TILES
    elif single:
        p.logp = LOGP_DIRECT_MEANS
    elif p.dlanes >= 4:
        p.logp = LOGP_EXPANDED_SWEEP
    else:
        p.logp = LOGP_EXPANDED_GEMM

    # the design: named by the covariance type whose statistics it gives
    if p.logp == LOGP_DIRECT_MEANS or (p.logp == LOGP_FULL_TILES and single and outer):
        p.design = -1  # statistics around each mean, no design
    elif cov_type == FULL:
        p.design = FULL if outer else TIED  # the outer products, or [1, z]
    else:
        p.design = cov_type
    p.width = _design_width(p.design, d)
    p.design_in_logp = (p.logp == LOGP_SMALL_TILES or p.logp == LOGP_EXPANDED_SWEEP
                        or p.logp == LOGP_EXPANDED_GEMM
                        or (p.logp == LOGP_TIED_WHITENED and not single and want_stats))

    if not want_stats:
        p.moments = MOMENTS_NONE
    elif p.logp == LOGP_SMALL_TILES:
        p.moments = MOMENTS_TILE_LANES
    elif p.logp == LOGP_DIRECT_MEANS:
        p.moments = MOMENTS_WIDE_LANES
    elif p.logp == LOGP_TIED_WHITENED and single:
        p.moments = MOMENTS_TIED_ASSIGNED if tied_s2 else MOMENTS_WIDE_LANES
    elif p.logp == LOGP_FULL_TILES and single and outer:
        p.moments = MOMENTS_FULL_ASSIGNED
    else:
        p.moments = MOMENTS_DESIGN
    p.second = SECOND_NONE
    if want_stats and cov_type == TIED and tied_s2 and p.moments != MOMENTS_TIED_ASSIGNED:
        p.second = SECOND_TIED_GRAM
    elif want_stats and cov_type == FULL and not outer:
        p.second = SECOND_FULL_RANK
    p.around_means = (p.second == SECOND_FULL_RANK or p.moments == MOMENTS_FULL_ASSIGNED
                      or (p.moments == MOMENTS_WIDE_LANES and cov_type != TIED))

    p.b = min(block_size, n_rows)
    # The register-tile kernels read whole tiles (their blocks' stride, ldp, is a
    # multiple of 16) and take a share of the next block's stream each, beside the
    # log-sum-exp's (and the wide lanes'); the others take it whole.
    cdef bint tiled = (p.logp == LOGP_SMALL_TILES or p.logp == LOGP_DIRECT_MEANS
                       or p.logp == LOGP_TIED_WHITENED or p.logp == LOGP_FULL_TILES)
    p.ldp = (p.b + 15) // 16 * 16 if tiled else p.b
    p.pf_shares = 2 + (p.moments == MOMENTS_WIDE_LANES) if tiled else 1
    p.q_rows = 2 * d if cov_type == DIAG else d + 1
    p.kq = (k + p.dlanes - 1) // p.dlanes * p.dlanes
    _scratch_sizes(&p)
    return p


cdef void _scratch_sizes(Plan *p) noexcept nogil:
    """Entries of each piece of scratch the plan's kernels use."""
    cdef Py_ssize_t d = p.d, k = p.k, b = p.b, ldp = p.ldp, w = p.width
    cdef Py_ssize_t w2 = d * (d + 1) // 2, itemsize = 4 if p.single else 8
    cdef Py_ssize_t *f = p.f_size
    cdef Py_ssize_t *g = p.d_size
    cdef int logp = p.logp, moments = p.moments
    f[F_WLP] = k * ldp
    g[D_ACC] = k * w
    g[D_DELTA] = k * d
    g[D_LPN] = ldp
    g[D_WORK] = 2 * ldp
    g[D_ENT] = ldp if p.entropy else 0
    # log-densities
    if logp == LOGP_SMALL_TILES:
        g[D_DESIGN] = w * ldp  # written on every call
        f[F_XT] = d * ldp if p.single else 0
    elif logp == LOGP_DIRECT_MEANS or logp == LOGP_TIED_WHITENED or logp == LOGP_FULL_TILES:
        f[F_XT] = d * ldp
        f[F_MT] = d * k if logp != LOGP_FULL_TILES else 0
        f[F_PT] = d * k if logp == LOGP_DIRECT_MEANS and p.cov_type == DIAG else 0
        f[F_ZB] = d * (64 // itemsize) if logp != LOGP_DIRECT_MEANS else 0
    elif logp == LOGP_EXPANDED_SWEEP:
        g[D_QT] = (p.q_rows + 1) * p.kq
    if p.design_in_logp or moments == MOMENTS_DESIGN:
        g[D_DESIGN] = w * ldp
    # moments
    if (moments == MOMENTS_TILE_LANES or moments == MOMENTS_DESIGN) and p.single:
        g[D_RD] = k * ldp
    if moments == MOMENTS_TILE_LANES:
        g[D_SL] = k * w * p.dlanes
    elif moments == MOMENTS_WIDE_LANES:
        g[D_WACC] = (2 * k * d + k) * p.lanes
        g[D_WNK] = k * p.lanes
        f[F_DIST] = k * ldp if p.cov_type == SPHERICAL else 0
        f[F_XR] = d * ldp if p.cov_type == TIED else 0
    elif moments == MOMENTS_FULL_ASSIGNED:
        f[F_TMP] = k * w2
        f[F_DZ] = b * w2 + 64 // itemsize  # whole vectors past the last row
        g[D_HG] = k * w2 + k * k * d + k * k
        g[D_ASSIGNED] = b
    elif moments == MOMENTS_TIED_ASSIGNED:
        f[F_ROWS] = b * d
        f[F_TMP] = k * d
        g[D_TACC] = k * d + k + k * k
        g[D_ASSIGNED] = b
    # second moments
    if p.second == SECOND_TIED_GRAM:
        g[D_TL] = d * d * p.dlanes if moments == MOMENTS_TILE_LANES else 0
        if p.weighted:
            g[D_ZD] = d * ldp if moments == MOMENTS_TILE_LANES else w * ldp
    elif p.second == SECOND_FULL_RANK:
        f[F_ROWS] = b * d


cdef inline Py_ssize_t _rounded(Py_ssize_t count) noexcept nogil:
    """count rounded up to 16 entries, so that every piece of scratch starts 64-byte
    aligned when the first one does."""
    return (count + 15) // 16 * 16


cdef inline size_t _aligned(size_t address) noexcept nogil:
    """address rounded up to a 64-byte boundary (the scratch has 64 bytes to spare)."""
    return (address + 63) & ~(<size_t>63)


cdef struct Scratch:
    void *f[N_F_SLOTS]      # NULL where the plan uses no such piece
    double *g[N_D_SLOTS]


cdef tuple _carve(const Plan *p, Scratch *s, dtype):
    """Allocate the plan's scratch and point ``s`` at its pieces, 64-byte aligned;
    returns the two buffers, which the caller keeps while ``s`` is used."""
    cdef Py_ssize_t f_total = 0, d_total = 0, i, itemsize = 4 if p.single else 8
    for i in range(N_F_SLOTS):
        f_total += _rounded(p.f_size[i])
    for i in range(N_D_SLOTS):
        d_total += _rounded(p.d_size[i])
    cdef cnp.ndarray f_buf = np.empty(f_total + 16, dtype=dtype)
    cdef cnp.ndarray d_buf = np.empty(d_total + 16)
    cdef size_t fp = _aligned(<size_t>cnp.PyArray_DATA(f_buf))
    cdef size_t dp = _aligned(<size_t>cnp.PyArray_DATA(d_buf))
    for i in range(N_F_SLOTS):
        s.f[i] = <void *>fp if p.f_size[i] else NULL
        fp += _rounded(p.f_size[i]) * itemsize
    for i in range(N_D_SLOTS):
        s.g[i] = <double *>dp if p.d_size[i] else NULL
        dp += _rounded(p.d_size[i]) * 8
    for i in _ZEROED:
        if p.d_size[i]:
            memset(s.g[i], 0, p.d_size[i] * sizeof(double))
    return f_buf, d_buf


def describe_plan(int cov_type, Py_ssize_t d, Py_ssize_t k, dtype, Py_ssize_t n_rows=256,
                  Py_ssize_t block_size=256, bint statistics=True, bint tied_s2=True,
                  bint weighted=False, bint given=False):
    """The plan of a pass (see _plan) as a dict: the kernels by name, the design,
    the block layout and the scratch pieces in use (entries)."""
    cdef Plan p = _plan(cov_type, d, k, np.dtype(dtype) == np.float32, n_rows, block_size,
                        given, statistics, tied_s2, weighted)
    names = ("full", "tied", "diag", "spherical")
    scratch = {F_SLOT_NAMES[i]: p.f_size[i] for i in range(N_F_SLOTS) if p.f_size[i]}
    scratch.update({D_SLOT_NAMES[i]: p.d_size[i] for i in range(N_D_SLOTS) if p.d_size[i]})
    return {
        "log_density": LOGP_NAMES[p.logp],
        "moments": MOMENTS_NAMES[p.moments],
        "second_moments": SECOND_NAMES[p.second],
        "design": names[p.design] if p.design >= 0 else None,
        "design_width": p.width,
        "design_in_log_density": bool(p.design_in_logp),
        "around_means": bool(p.around_means),
        "block_rows": p.b,
        "block_stride": p.ldp,
        "stream_shares": p.pf_shares,
        "scratch": scratch,
    }


def statistics_around_means(int cov_type, Py_ssize_t d, Py_ssize_t k, dtype):
    """Whether e_step returns its statistics around each component's mean (True)
    or around the global shift (False)."""
    cdef Plan p = _plan(cov_type, d, k, np.dtype(dtype) == np.float32, 1, 1, False, True,
                        True, False)
    return bool(p.around_means)


def statistics_gemm_size(int cov_type, Py_ssize_t d, Py_ssize_t k, dtype):
    """Multiply-adds per row of the float32 outer-product statistics GEMM
    ((k × b)·(b × d (d + 1) / 2) for a block of b rows), or 0 for other plans."""
    cdef Plan p = _plan(cov_type, d, k, np.dtype(dtype) == np.float32, 1, 1, False, True,
                        True, False)
    return k * (d * (d + 1) // 2) if p.moments == MOMENTS_FULL_ASSIGNED else 0


def design_bytes_per_row(int cov_type, Py_ssize_t d, Py_ssize_t k, dtype):
    """Bytes per row of the statistics design e_step builds for a block."""
    cdef Plan p = _plan(cov_type, d, k, np.dtype(dtype) == np.float32, 1, 1, False, True,
                        True, False)
    if p.moments == MOMENTS_FULL_ASSIGNED:
        return d * (d + 1) // 2 * 4
    if p.design == FULL:
        return p.width * 8
    return (2 * d + 2) * np.dtype(dtype).itemsize


# ---------------------------------------------------------------------------
# The driver: runs a plan over the blocks of rows [start, end)
# ---------------------------------------------------------------------------

cdef struct Totals:
    double sums[2]           # Σ w log p(x), Σ w
    double worst             # the lowest log p(x) of a row of positive weight
    double entropy           # Σ w Σ_k r log r, when the plan asks for it
    Py_ssize_t n_nonfinite, worst_row
    int status               # the kernels' return codes, or-ed (0: all succeeded)


cdef void _run_plan(
        const Plan *p, const Params *m, const Scratch *s,
        const floating *X,              # IN  (n_samples, d), row-major
        Py_ssize_t start, Py_ssize_t end,
        const floating *weight,         # IN  (n_samples,) or NULL for ones
        const floating *given,          # IN  LOGP_GIVEN: (n_samples, k) responsibilities
        const Py_ssize_t *labels,       # IN  LOGP_GIVEN: (n_samples,) in [-1, k), or NULL
        double *row,                    # OUT the statistics row (MOMENTS_NONE: NULL)
        floating *out_resp,             # OUT (n_samples, k) or NULL
        floating *out_lpn,              # OUT (n_samples,) or NULL
        Py_ssize_t *out_labels,         # OUT (n_samples,) or NULL
        Totals *t) noexcept nogil:
    """One pass: per block, log-densities, per-row outputs, statistics; then the
    statistics row.  Kernels' status codes are or-ed into t.status."""
    cdef Py_ssize_t d = p.d, n_rows, block_start
    cdef const floating *Xb
    cdef const floating *wb = NULL
    cdef gmm_stream pf
    t.sums[0] = t.sums[1] = t.entropy = 0.0
    t.worst = INFINITY
    t.n_nonfinite, t.worst_row, t.status = 0, -1, 0
    _prepare_parameters(p, m, s, <const floating *>m.means)
    block_start = start
    while block_start < end:
        n_rows = min(p.b, end - block_start)
        Xb = X + block_start * d
        if weight != NULL:
            wb = weight + block_start
        # the next block's rows, requested a share at a time by the kernels that
        # take the stream while this block is computed
        gmm_stream_set(&pf, Xb + n_rows * d, min(p.b, end - block_start - n_rows) * d
                       * sizeof(floating))
        if p.logp == LOGP_GIVEN:
            _given_responsibilities(p, s, given, labels, block_start, n_rows)
        else:
            t.status |= _log_densities(p, m, s, Xb, n_rows, &pf)
            t.status |= _row_outputs(p, s, wb, n_rows, block_start, out_resp, out_lpn,
                                     out_labels, &pf, t)
        if p.moments != MOMENTS_NONE:
            t.status |= _block_statistics(p, m, s, Xb, wb, n_rows, row, &pf)
        block_start += n_rows
    if p.moments != MOMENTS_NONE:
        _finish_statistics(p, s, t.sums[0], t.sums[1], row)


cdef void _prepare_parameters(const Plan *p, const Params *m, const Scratch *s,
                              const floating *means) noexcept nogil:
    """The parameters' layouts the plan's kernels read: μ − s in double, and the
    feature-major means (tied: centres) and diag precisions, and the expanded form's
    padded coefficients (OUT: D_DELTA, F_MT, F_PT, D_QT)."""
    cdef Py_ssize_t i, j, d = p.d, k = p.k, kq = p.kq
    cdef const floating *shift = <const floating *>m.shift
    cdef const floating *Q = <const floating *>m.Q
    cdef const floating *prec = <const floating *>m.prec
    cdef double *delta = s.g[D_DELTA]
    cdef floating *mt = <floating *>s.f[F_MT]
    cdef floating *pt = <floating *>s.f[F_PT]
    cdef double *qt = s.g[D_QT]
    for i in range(k):
        for j in range(d):
            delta[i * d + j] = <double>means[i * d + j] - <double>shift[j]
            if mt != NULL:
                mt[j * k + i] = Q[i * d + j] if p.cov_type == TIED else means[i * d + j]
            if pt != NULL:
                pt[j * k + i] = prec[i * d + j]
    if qt != NULL:
        for j in range(p.q_rows):
            for i in range(k):
                qt[j * kq + i] = Q[j * k + i]
        for i in range(k):
            qt[p.q_rows * kq + i] = m.cst[i]


cdef void _given_responsibilities(const Plan *p, const Scratch *s, const floating *given,
                                  const Py_ssize_t *labels, Py_ssize_t block_start,
                                  Py_ssize_t n_rows) noexcept nogil:
    """WLP (k × ldp) = the block's given responsibilities, or 0/1 from its labels, or
    (neither given, one component) 1: every row is the component's."""
    cdef floating *wlp = <floating *>s.f[F_WLP]
    cdef Py_ssize_t i, c, k = p.k, ldp = p.ldp
    if labels == NULL and given == NULL:
        for i in range(n_rows):
            wlp[i] = 1.0
    elif labels != NULL:
        memset(wlp, 0, k * ldp * sizeof(floating))
        for i in range(n_rows):
            c = labels[block_start + i]
            if c >= 0:
                wlp[c * ldp + i] = 1.0
    else:
        for i in range(n_rows):
            for c in range(k):
                wlp[c * ldp + i] = given[(block_start + i) * k + c]


cdef int _log_densities(const Plan *p, const Params *m, const Scratch *s, const floating *Xb,
                        Py_ssize_t n, gmm_stream *pf) noexcept nogil:
    """WLP (k × ldp) = the block's weighted log-densities log π_c + log N(x | c), by
    the plan's kernel (IN: the block, n rows; the parameters)."""
    cdef Py_ssize_t d = p.d, k = p.k, ldp = p.ldp
    cdef int cov = p.cov_type, status = 0
    cdef floating *wlp = <floating *>s.f[F_WLP]
    cdef floating *xt = <floating *>s.f[F_XT]
    cdef floating *zb = <floating *>s.f[F_ZB]
    cdef double *design = s.g[D_DESIGN]
    cdef const floating *shift = <const floating *>m.shift
    cdef const floating *means = <const floating *>m.means
    cdef const floating *prec = <const floating *>m.prec
    cdef const floating *Q = <const floating *>m.Q
    cdef const floating *centres = Q if cov == TIED else NULL  # tied: m_c
    cdef const floating *P = prec  # the wide kernel's precisions
    if p.logp == LOGP_DIRECT_MEANS and cov == DIAG:
        P = <const floating *>s.f[F_PT]
    if p.logp != LOGP_EXPANDED_GEMM:
        gmm_stream_open(pf, 1, p.pf_shares)
    if p.logp == LOGP_SMALL_TILES:
        if floating is float:
            status = gmm_small_block_f(cov, Xb, n, d, k, shift, <const float *>m.delta, prec,
                                       centres, m.cst, wlp, ldp, design,
                                       xt, pf)
        else:
            status = gmm_small_block_d(cov, Xb, n, d, k, shift, <const double *>m.delta, prec,
                                       centres, m.cst, wlp, ldp, design,
                                       xt, pf)
    elif p.logp == LOGP_DIRECT_MEANS:
        status = _transpose(Xb, n, d, d, NULL, xt, ldp)
        status |= _wide_wlp(cov, xt, n, d, ldp, k, <floating *>s.f[F_MT], P, m.cst, wlp,
                            <floating *>s.f[F_DIST], pf)
    elif p.logp == LOGP_TIED_WHITENED:
        status = _whitened_block(p, s, Xb, n, shift, prec)
        status |= _wide_wlp(TIED, xt, n, d, ldp, k, <floating *>s.f[F_MT], NULL, m.cst, wlp,
                            NULL, pf)
    elif p.logp == LOGP_FULL_TILES:
        status = _transpose(Xb, n, d, d, NULL, xt, ldp)
        if floating is float:
            status |= gmm_full_wlp_f(xt, n, d, ldp, k, means, prec, m.cst, wlp, zb, pf)
        else:
            status |= gmm_full_wlp_d(xt, n, d, ldp, k, means, prec, m.cst, wlp, zb, pf)
    elif floating is double:
        if p.logp == LOGP_EXPANDED_SWEEP:
            status = gmm_design_wlp_d(cov, Xb, n, d, k, shift, s.g[D_QT], p.kq, wlp, ldp,
                                      design, p.width, pf)
        else:  # LOGP_EXPANDED_GEMM
            status = gmm_design_d(cov, Xb, n, d, shift, design, p.width)
            _affine(design + 1, p.width, n, p.q_rows, k, Q, m.cst, wlp, ldp)
    if m.n_direct:
        _direct_log_densities(cov, Xb, n, d, means, prec, m.cst, m.direct, m.n_direct, wlp,
                              ldp)
    return status


cdef int _whitened_block(const Plan *p, const Scratch *s, const floating *Xb, Py_ssize_t n,
                         const floating *shift, const floating *U) noexcept nogil:
    """F_XT = y = (x − s) U, feature-major (tied).  float64 with statistics writes the
    design [1, z] first and whitens its z; float32's wide lanes keep the raw block
    in F_XR for the statistics."""
    cdef Py_ssize_t d = p.d, ldp = p.ldp
    cdef floating *xt = <floating *>s.f[F_XT]
    cdef floating *zb = <floating *>s.f[F_ZB]
    cdef floating *xr = <floating *>s.f[F_XR]
    cdef int status
    if floating is double and p.design_in_logp:
        status = gmm_design_d(TIED, Xb, n, d, shift, s.g[D_DESIGN], p.width)
        status |= _transpose(<const double *>s.g[D_DESIGN] + 1, n, d, p.width, NULL, xt, ldp)
        return status | _upper_rows(xt, NULL, n, d, ldp, U, xt, zb)
    if xr != NULL:
        status = _transpose(Xb, n, d, d, NULL, xr, ldp)
        return status | _upper_rows(xr, shift, n, d, ldp, U, xt, zb)
    status = _transpose(Xb, n, d, d, shift, xt, ldp)
    return status | _upper_rows(xt, NULL, n, d, ldp, U, xt, zb)


cdef int _row_outputs(const Plan *p, const Scratch *s, const floating *wb, Py_ssize_t n,
                      Py_ssize_t block_start, floating *out_resp, floating *out_lpn,
                      Py_ssize_t *out_labels, gmm_stream *pf, Totals *t) noexcept nogil:
    """From WLP: labels (argmax), then the log-sum-exp (WLP becomes the
    responsibilities, D_LPN log p(x)), the weighted sums of log p(x), and the
    per-row outputs that are asked for."""
    cdef Py_ssize_t i, c, k = p.k, ldp = p.ldp, worst_in_block = -1
    cdef floating *wlp = <floating *>s.f[F_WLP]
    cdef double *lpn = s.g[D_LPN]
    cdef int status = 0
    if out_labels != NULL:
        status = _argmax_cols(wlp, k, n, ldp, out_labels + block_start, s.g[D_WORK])
    gmm_stream_open(pf, 1 + (p.logp != LOGP_EXPANDED_GEMM), p.pf_shares)
    if not p.entropy:
        status |= _lse_cols(wlp, k, n, ldp, lpn, s.g[D_WORK], pf)
    else:  # the same, with each row's Σ_k r log r, added up here with the weights
        if floating is float:
            status |= gmm_lse_ent_cols_f(wlp, k, n, ldp, lpn, s.g[D_WORK], s.g[D_ENT], pf)
        else:
            status |= gmm_lse_ent_cols_d(wlp, k, n, ldp, lpn, s.g[D_WORK], s.g[D_ENT], pf)
        for i in range(n):
            t.entropy += (1.0 if wb == NULL else <double>wb[i]) * s.g[D_ENT][i]
    if floating is float:
        t.n_nonfinite += gmm_row_sums_f(lpn, wb, n, t.sums, &t.worst, &worst_in_block)
    else:
        t.n_nonfinite += gmm_row_sums_d(lpn, wb, n, t.sums, &t.worst, &worst_in_block)
    if worst_in_block >= 0:
        t.worst_row = block_start + worst_in_block
    if out_lpn != NULL:
        for i in range(n):
            out_lpn[block_start + i] = <floating>lpn[i]
    if out_resp != NULL:
        for i in range(n):
            for c in range(k):
                out_resp[(block_start + i) * k + c] = wlp[c * ldp + i]
    return status


cdef int _block_statistics(const Plan *p, const Params *m, const Scratch *s, const floating *Xb,
                           const floating *wb, Py_ssize_t n, double *row,
                           gmm_stream *pf) noexcept nogil:
    """Add the block's statistics (responsibilities in WLP, weighted here by wb) to
    the plan's accumulators: one moments kernel, then one second-moments kernel."""
    cdef Py_ssize_t i, c, d = p.d, k = p.k, ldp = p.ldp, width = p.width
    cdef floating *wlp = <floating *>s.f[F_WLP]
    cdef double *s2 = row + 2 + k + k * d
    cdef const floating *means = <const floating *>m.means
    cdef const double *rd
    cdef const float *xt
    cdef int status = 0
    if wb != NULL:
        for c in range(k):
            for i in range(n):
                wlp[c * ldp + i] = wlp[c * ldp + i] * wb[i]
    if p.moments == MOMENTS_TILE_LANES or p.moments == MOMENTS_DESIGN:
        if floating is float:  # the responsibilities in double, for the float64 GEMM
            for c in range(k):
                for i in range(n):
                    s.g[D_RD][c * ldp + i] = wlp[c * ldp + i]
            rd = s.g[D_RD]
        else:
            rd = wlp
        if p.moments == MOMENTS_TILE_LANES:
            status = gmm_rows_dot_d(rd, k, s.g[D_DESIGN], width, n, ldp, 0, s.g[D_SL])
        else:
            if not p.design_in_logp:
                status = _double_design(Xb, n, d, p.design, <const floating *>m.shift,
                                        s.g[D_DESIGN], width)
            _at_b(n, k, width, rd, ldp, s.g[D_DESIGN], s.g[D_ACC])
    elif floating is float:  # the float32 kernels around (assigned) means
        if p.moments == MOMENTS_WIDE_LANES:
            gmm_stream_open(pf, p.pf_shares, p.pf_shares)
            # tied reads the raw block, diag and spherical the one of x − μ
            xt = <float *>s.f[F_XR if p.cov_type == TIED else F_XT]
            status = gmm_wide_stats_f(p.cov_type, xt, n, d, ldp, k, means, wlp,
                                      <float *>s.f[F_DIST], s.g[D_WNK], s.g[D_WACC], pf)
        elif p.moments == MOMENTS_FULL_ASSIGNED:
            status = _full_single_moments(Xb, n, d, k, means, wlp, ldp,
                                          <Py_ssize_t *>s.g[D_ASSIGNED], s.g[D_WORK],
                                          <float *>s.f[F_DZ], <float *>s.f[F_TMP], s.g[D_HG])
        elif p.moments == MOMENTS_TIED_ASSIGNED:
            status = _tied_single_moments(Xb, n, d, k, means, wlp, ldp, wb, width,
                                          <Py_ssize_t *>s.g[D_ASSIGNED], s.g[D_WORK],
                                          <float *>s.f[F_ROWS], <float *>s.f[F_TMP],
                                          s.g[D_ACC], s.g[D_TACC], s2)
    if p.second == SECOND_TIED_GRAM:
        status |= _tied_gram(p, s, wb, n, s2)
    elif p.second == SECOND_FULL_RANK:
        status |= _full_moments(Xb, n, d, k, means, wlp, ldp, <floating *>s.f[F_ROWS], s2)
    return status


cdef int _tied_gram(const Plan *p, const Scratch *s, const floating *wb, Py_ssize_t n,
                    double *s2) noexcept nogil:
    """Tied S2 += Σ w z zᵀ, from the z of the design: per lane from the tiles'
    feature-major design (D_TL, folded at the end), or by register tiles of the
    row-major one (√w-scaled into D_ZD when weighted)."""
    cdef Py_ssize_t i, j, d = p.d, ldp = p.ldp
    cdef double *design = s.g[D_DESIGN]
    cdef double *zd = s.g[D_ZD]
    if p.moments != MOMENTS_TILE_LANES:
        return _tied_moments(design + 1, n, d, p.width, wb, zd, s2)
    if wb != NULL:
        for j in range(d):
            for i in range(n):
                zd[j * ldp + i] = wb[i] * design[(1 + j) * ldp + i]
    return gmm_rows_dot_d(zd if wb != NULL else design + ldp, d, design + ldp, d, n, ldp, 1,
                          s.g[D_TL])


cdef void _finish_statistics(const Plan *p, const Scratch *s, double loglik, double weight,
                             double *row) noexcept nogil:
    """Write the accumulators to the statistics row [Σ w log p, Σ w, N, S1, S2]."""
    cdef Py_ssize_t d = p.d, k = p.k
    cdef double *s2 = row + 2 + k + k * d
    if p.moments == MOMENTS_WIDE_LANES:
        _write_wide_statistics(p.cov_type, k, d, p.lanes, s.g[D_WNK], s.g[D_WACC], loglik,
                               weight, row)
        if p.cov_type == TIED:
            _first_moments_to_shift(k, d, s.g[D_DELTA], row)
        return
    if p.moments == MOMENTS_FULL_ASSIGNED:
        _write_full_single_statistics(k, d, s.g[D_DELTA], s.g[D_HG], loglik, weight, row)
        return
    if p.moments == MOMENTS_TILE_LANES:
        _fold_lanes(s.g[D_SL], k * p.width, 1, p.dlanes, s.g[D_ACC])
        if p.second == SECOND_TIED_GRAM:
            _fold_lanes(s.g[D_TL], d, d, p.dlanes, s2)
    elif p.moments == MOMENTS_TIED_ASSIGNED:
        _tied_moments_to_shift(k, d, p.width, s.g[D_DELTA], s.g[D_TACC], s.g[D_ACC], s2)
    _write_statistics(p, s.g[D_ACC], s.g[D_DELTA], loglik, weight, row)


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------

cdef _check_rows(Py_ssize_t n_samples, Py_ssize_t start, Py_ssize_t end):
    if not (0 <= start <= end <= n_samples):
        raise ValueError(
            f"row range [{start}, {end}) is outside of [0, {n_samples})")


cdef _check_pass(Py_ssize_t n_samples, Py_ssize_t start, Py_ssize_t end,
                 Py_ssize_t block_size, int cov_type):
    """The arguments every pass over rows [start, end) of X shares."""
    _check_rows(n_samples, start, end)
    if block_size < 1:
        raise ValueError("block_size must be positive")
    if not FULL <= cov_type <= SPHERICAL:
        raise ValueError(f"unknown covariance type code {cov_type}")


cdef _check_shape(name, tuple actual, tuple expected):
    if actual != expected:
        raise ValueError(f"{name} has shape {actual}, expected {expected}")


cdef _check_status(int status, name):
    if status != 0:  # a bug, never bad input: the drivers check every argument
        raise RuntimeError(f"a kernel of {name} rejected its arguments (status {status})")


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


def stats_width(int cov_type, Py_ssize_t k, Py_ssize_t d):
    """Entries of one chunk's statistics: Σ w log p, Σ w, N (k), S1 (k·d), S2."""
    return 2 + k + k * d + _s2_shape(cov_type, k, d)[0]


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
    const floating[::1] Q,               # IN  diag (2d·k), spherical ((d+1)·k), tied (k·d)
    const double[::1] cst,               # IN  (k,) constant part of each log-density
    const Py_ssize_t[::1] direct,        # IN  components taken in the direct form (see
                                         #     KernelParams.direct), or (0,)
    double[::1] stats,                   # OUT (stats_width(...),) zeros on entry, or (0,)
    floating[:, ::1] out_resp,           # OUT (n_samples, k) responsibilities, or (0, 0)
    floating[::1] out_log_prob_norm,     # OUT (n_samples,) log p(x), or (0,)
    Py_ssize_t[::1] out_labels,          # OUT (n_samples,) argmax, or (0,)
    Py_ssize_t block_size=256,
    bint tied_s2=True,                   # tied: False leaves S2 zero (see tied_moments)
    double[::1] resp_entropy=None,       # OUT (1,): += Σ w Σ_k r log r, or None
):
    """One pass over rows [start, end): E-step, and whatever outputs are given.

    The kernels are chosen by _plan (see describe_plan and docs/kernels.md).
    The statistics (when ``stats`` is not empty) are written to ``stats`` as
    [Σ w log p, Σ w, N (k), S1 (k·d), S2 (s2 size)], around each component's
    mean or around ``shift`` (see ``statistics_around_means``); float32 tied's
    are taken around nearby means and moved to ``shift`` in double.  Tied S2
    does not depend on the responsibilities: with ``tied_s2=False`` it is left
    zero, for a caller that has it from ``tied_moments``.

    Returns ``(Σ w log p(x), Σ w, n_nonfinite, worst_row)`` over the rows, where
    ``worst_row`` is the row of positive weight with the lowest log p(x) (the
    sample the mixture explains worst; -1 if there is none).
    """
    cdef Py_ssize_t n_samples = X.shape[0], d = X.shape[1], k = means.shape[0]
    _check_pass(n_samples, start, end, block_size, cov_type)
    _check_shape("shift", (shift.shape[0],), (d,))
    _check_shape("means", (means.shape[0], means.shape[1]), (k, d))
    _check_shape("delta", (delta.shape[0], delta.shape[1]), (k, d))
    _check_shape("cst", (cst.shape[0],), (k,))
    _check_shape("prec", (prec.shape[0],), _prec_shape(cov_type, k, d))
    if cov_type == TIED:
        _check_shape("Q", (Q.shape[0],), (k * d,))
    elif cov_type != FULL:
        _check_shape("Q", (Q.shape[0],), ((2 * d if cov_type == DIAG else d + 1) * k,))
    cdef Py_ssize_t n_direct = direct.shape[0]
    if n_direct and not (cov_type == DIAG or cov_type == SPHERICAL):
        raise ValueError("direct components are for diag and spherical covariances")
    if n_direct and not all(0 <= c < k for c in direct):
        raise ValueError(f"direct components {list(direct)} are outside of [0, {k})")
    cdef bint weighted = sample_weight.shape[0] != 0
    if weighted:
        _check_shape("sample_weight", (sample_weight.shape[0],), (n_samples,))
    cdef bint want_stats = stats.shape[0] != 0
    if want_stats:
        _check_shape("stats", (stats.shape[0],), (stats_width(cov_type, k, d),))
    if out_resp.shape[0] != 0:
        _check_shape("out_resp", (out_resp.shape[0], out_resp.shape[1]), (n_samples, k))
    if out_log_prob_norm.shape[0] != 0:
        _check_shape("out_log_prob_norm", (out_log_prob_norm.shape[0],), (n_samples,))
    if out_labels.shape[0] != 0:
        _check_shape("out_labels", (out_labels.shape[0],), (n_samples,))
    if resp_entropy is not None:
        _check_shape("resp_entropy", (resp_entropy.shape[0],), (1,))
    if end == start:
        return 0.0, 0.0, 0, -1

    cdef Plan p = _plan(cov_type, d, k, floating is float, end - start, block_size, False,
                        want_stats, tied_s2, weighted, resp_entropy is not None)
    cdef Scratch s
    _buffers = _carve(&p, &s, np.float32 if floating is float else np.float64)
    cdef Params m
    m.shift, m.means, m.delta, m.prec = &shift[0], &means[0, 0], &delta[0, 0], &prec[0]
    m.Q = &Q[0] if Q.shape[0] else NULL
    m.cst, m.direct, m.n_direct = &cst[0], &direct[0] if n_direct else NULL, n_direct
    cdef Totals t
    with nogil:
        _run_plan(&p, &m, &s, &X[0, 0], start, end,
                  &sample_weight[0] if weighted else NULL, NULL, NULL,
                  &stats[0] if want_stats else NULL,
                  &out_resp[0, 0] if out_resp.shape[0] else NULL,
                  &out_log_prob_norm[0] if out_log_prob_norm.shape[0] else NULL,
                  &out_labels[0] if out_labels.shape[0] else NULL, &t)
    _check_status(t.status, "e_step")
    if p.entropy:
        resp_entropy[0] += t.entropy
    return t.sums[0], t.sums[1], t.n_nonfinite, t.worst_row


def assignment_statistics(
    const floating[:, ::1] X,            # IN  (n_samples, d)
    Py_ssize_t start, Py_ssize_t end,
    const floating[::1] sample_weight,   # IN  (n_samples,) or (0,)
    int cov_type,
    const floating[::1] shift,           # IN  (d,) the shift s of the design
    const floating[:, ::1] means,        # IN  (k, d) the centres of the assignment
    const floating[:, ::1] resp,         # IN  (n_samples, k) soft assignment, or (0, 0)
    const Py_ssize_t[::1] labels,        # IN  (n_samples,) hard labels in [-1, k), or (0,)
    double[::1] stats,                   # OUT (stats_width(...),) zeros on entry
    Py_ssize_t block_size=256,
):
    """The statistics of a given assignment (initialisation), by the E-step's
    statistics kernels (plan LOGP_GIVEN): [0, 0, N, S1, S2] around ``means`` when
    ``assignment_around_means(...)``, else around ``shift``.

    Either ``resp`` or ``labels`` (-1: the row belongs to no component; a label
    is a responsibility of 1) is given, or, for one component, neither: every row
    is the component's (the moments of the rows, with no n-long array).
    """
    cdef Py_ssize_t n_samples = X.shape[0], d = X.shape[1], k = means.shape[0]
    _check_pass(n_samples, start, end, block_size, cov_type)
    cdef bint hard = labels.shape[0] != 0
    cdef bint whole = not hard and resp.shape[0] == 0  # one component of every row
    if hard and resp.shape[0] != 0 or whole and k != 1:
        raise ValueError("give exactly one of resp and labels (neither: one component "
                         "of every row)")
    if hard:
        _check_shape("labels", (labels.shape[0],), (n_samples,))
    elif not whole:
        _check_shape("resp", (resp.shape[0], resp.shape[1]), (n_samples, k))
    cdef bint weighted = sample_weight.shape[0] != 0
    if weighted:
        _check_shape("sample_weight", (sample_weight.shape[0],), (n_samples,))
    _check_shape("shift", (shift.shape[0],), (d,))
    _check_shape("stats", (stats.shape[0],), (stats_width(cov_type, k, d),))
    cdef Py_ssize_t i
    if hard:
        for i in range(start, end):
            if not (-1 <= labels[i] < k):
                raise ValueError(f"label {labels[i]} at row {i} is outside [-1, {k})")
    if end == start:
        return

    cdef Plan p = _plan(cov_type, d, k, floating is float, end - start, block_size, True,
                        True, True, weighted)
    cdef Scratch s
    _buffers = _carve(&p, &s, np.float32 if floating is float else np.float64)
    cdef Params m
    memset(&m, 0, sizeof(Params))
    m.shift, m.means = &shift[0], &means[0, 0]
    cdef const floating *given = NULL
    if not hard and not whole:
        given = &resp[0, 0]
    cdef Totals t
    with nogil:
        _run_plan(&p, &m, &s, &X[0, 0], start, end,
                  &sample_weight[0] if weighted else NULL,
                  given, &labels[0] if hard else NULL,
                  &stats[0], NULL, NULL, NULL, &t)
    _check_status(t.status, "assignment_statistics")


def assignment_around_means(int cov_type, Py_ssize_t d, Py_ssize_t k, dtype):
    """Whether assignment_statistics returns its statistics around ``means``."""
    cdef Plan p = _plan(cov_type, d, k, np.dtype(dtype) == np.float32, 1, 1, True, True,
                        True, False)
    return bool(p.around_means)


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
    cdef int status = 0
    with nogil:
        block_start = start
        while block_start < end:
            n_rows = min(b, end - block_start)
            if weighted:
                wb = &sample_weight[block_start]
            status |= _double_design(&X[block_start, 0], n_rows, d, TIED, &shift[0], wd,
                                     width)
            status |= _tied_moments(wd, n_rows, width, width, wb, scaled, &out[0])
            block_start += n_rows
    _check_status(status, "tied_moments")


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
    cdef int status
    with nogil:
        if floating is float:
            status = gmm_exp_f(&x[0], x.shape[0])
        else:
            status = gmm_exp_d(&x[0], x.shape[0])
    _check_status(status, "exp_inplace")


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


cdef inline uint64_t _random_interval(bitgen_t *g, uint64_t top) noexcept nogil:
    """A value in [0, top] as numpy's legacy random_interval draws it: the smallest
    bit mask covering top, applied to 32-bit draws (64-bit above 2³² − 1) until one
    is at most top."""
    cdef uint64_t mask = top, value
    if top == 0:
        return 0
    mask |= mask >> 1
    mask |= mask >> 2
    mask |= mask >> 4
    mask |= mask >> 8
    mask |= mask >> 16
    mask |= mask >> 32
    if top <= 0xffffffffUL:
        value = g.next_uint32(g.state) & mask
        while value > top:
            value = g.next_uint32(g.state) & mask
    else:
        value = g.next_uint64(g.state) & mask
        while value > top:
            value = g.next_uint64(g.state) & mask
    return value


def choice_without_replacement(random_state, Py_ssize_t n, Py_ssize_t size,
                               Py_ssize_t block=32768):
    """``random_state.choice(n, size, replace=False)`` for a legacy RandomState: the
    same indices from the same draws, the generator left in the same state, without
    the n-long permutation numpy builds (8 n bytes; here n / 8 bytes and the
    generator's state every ``block`` draws).

    numpy shuffles ``arange(n)`` (Fisher-Yates: for i = n − 1 … 1, swap x[i] with
    x[j], j drawn in [0, i]) and keeps the first ``size`` entries.  The draws are
    made once forwards, keeping the generator's state at the start of each block;
    then, block by block from the last, they are drawn again and the swaps undone
    in reverse order, following only the ``size`` positions kept (a bit map says
    whether a swap touches one).  Where each kept position ends is the value numpy
    puts there.
    """
    if not isinstance(random_state, np.random.RandomState):
        raise TypeError(f"random_state must be a numpy RandomState, got "
                        f"{type(random_state).__name__}")
    if size < 0 or size > n or block < 1:
        raise ValueError(f"cannot choose {size} of {n} without replacement")
    if n <= block:
        return random_state.choice(n, size=size, replace=False)
    generator = random_state._bit_generator
    cdef bitgen_t *g = <bitgen_t *> PyCapsule_GetPointer(generator.capsule, "BitGenerator")
    cdef Py_ssize_t n_steps = n - 1, n_blocks = (n_steps + block - 1) // block
    cdef Py_ssize_t b, s, r, first, last, a, c
    cdef uint64_t i, j
    positions_array = np.arange(size, dtype=np.int64)
    bits_array = np.zeros((n + 7) // 8, dtype=np.uint8)
    draws_array = np.empty(block, dtype=np.uint64)
    cdef cnp.int64_t[::1] positions = positions_array
    cdef uint8_t[::1] bits = bits_array
    cdef uint64_t[::1] draws = draws_array
    cdef bint hit_i, hit_j
    for a in range(size):
        bits[a >> 3] |= <uint8_t> (1 << (a & 7))
    starts = []
    with generator.lock:
        for b in range(n_blocks):  # forwards: step s swaps x[n - 1 - s] and x[j]
            starts.append(generator.state)
            first, last = b * block, min((b + 1) * block, n_steps)
            with nogil:
                for s in range(first, last):
                    _random_interval(g, <uint64_t> (n - 1 - s))
        end = generator.state
        for b in range(n_blocks - 1, -1, -1):  # backwards, following the kept positions
            generator.state = starts[b]
            first, last = b * block, min((b + 1) * block, n_steps)
            with nogil:
                for s in range(first, last):
                    draws[s - first] = _random_interval(g, <uint64_t> (n - 1 - s))
                for s in range(last - 1, first - 1, -1):
                    i = <uint64_t> (n - 1 - s)
                    j = draws[s - first]
                    hit_i = (bits[i >> 3] >> (i & 7)) & 1
                    hit_j = i != j and (bits[j >> 3] >> (j & 7)) & 1
                    if not (hit_i or hit_j):
                        continue
                    a = c = -1
                    for r in range(size):
                        if hit_i and <uint64_t> positions[r] == i:
                            a = r
                        elif hit_j and <uint64_t> positions[r] == j:
                            c = r
                    if a >= 0:
                        positions[a] = <cnp.int64_t> j
                    if c >= 0:
                        positions[c] = <cnp.int64_t> i
                    if hit_i != hit_j:  # one kept position moved to an unkept one
                        bits[i >> 3] ^= <uint8_t> (1 << (i & 7))
                        bits[j >> 3] ^= <uint8_t> (1 << (j & 7))
        generator.state = end
    return positions_array


# ---------------------------------------------------------------------------
# Rows with missing entries (nan_policy='marginalize'): the maths is _missing's
# (its docstring derives it).  Per block of rows: full and tied precisions take
# the complete rows' kernels on the rows with their missing entries set to a
# fill value f (log-densities by gmm_full_wlp, moments by the design's GEMM),
# corrected at each row's m missing features: the projections of Λ onto them,
# and the m × m blocks Λ_mm of the rows with the same m factored together (the
# marginal family of csrc/simd).  Diagonal and spherical precisions per feature.
# float64 throughout (float32 rows are converted by the caller, a block at a
# time).
# ---------------------------------------------------------------------------

# Rows per block (a multiple of 16: the log-density tiles' stride)
cdef enum:
    MARGINAL_BLOCK = 256

cdef double LOG_2PI = 1.8378770664093453


def _aligned_zeros(Py_ssize_t n):
    """n float64 zeros starting on a 64-byte boundary (what the tiles read)."""
    buf = np.zeros(n + 8)
    cdef size_t address = <size_t> buf.ctypes.data
    cdef Py_ssize_t offset = (_aligned(address) - address) // 8
    return buf[offset:offset + n]


def marginal_pass(const double[:, ::1] X, const Py_ssize_t[::1] rows,
                  const double[::1] sample_weight, int cov_type,
                  const double[::1] log_weights, const double[:, ::1] means,
                  const double[::1] factors, const double[::1] precision,
                  const double[::1] log_det, const double[:, ::1] shifts,
                  const double[::1] tied_shift, double[::1] stats, double[:, ::1] out_resp,
                  double[::1] out_log_prob, double[:, ::1] out_filled, fill_at=None):
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
    has log p = 0 and the weights as responsibilities.  ``fill_at`` (d,): where full
    and tied take the rows' missing entries and their moments before moving them to
    the shifts (None: the weights' mean of the means; any value gives the same
    sums, up to rounding, which is least for the components nearest it).  Returns
    the number of rows
    whose log-likelihood is not finite; raises ValueError when a block of a
    precision is not positive definite.
    """
    cdef Py_ssize_t n_x = X.shape[0], d = X.shape[1], k = means.shape[0]
    cdef Py_ssize_t n = rows.shape[0]
    cdef bint matrix = cov_type == FULL or cov_type == TIED
    cdef Py_ssize_t kq = (k + 7) // 8 * 8  # k in whole vectors of 8
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

    # the responsibilities of a row with nothing observed
    weights_a = np.exp(np.asarray(log_weights) - np.max(log_weights))
    weights_a /= weights_a.sum()
    # scratch of every type: the block's missing feature lists (MARGINAL_BLOCK × d)
    # and their counts; the responsibilities (k × MARGINAL_BLOCK) and log p(x_o)
    miss_a = np.empty(MARGINAL_BLOCK * d, dtype=np.intp)
    count_a = np.empty(MARGINAL_BLOCK, dtype=np.intp)
    wlp_a = _aligned_zeros(k * MARGINAL_BLOCK)
    lpn_a = np.empty(MARGINAL_BLOCK)
    work_a = np.empty(2 * MARGINAL_BLOCK)
    # diag and spherical: the rows with NaN as 0, their observed masks, the
    # deviations x̂ − μ of every component (k × MARGINAL_BLOCK × d), log 2π − log p
    # and the variance 1 / p per feature
    xb_a = np.empty(0 if matrix else MARGINAL_BLOCK * d)
    ob_a = np.empty(0 if matrix else MARGINAL_BLOCK * d)
    dev_a = np.empty(0 if matrix else k * MARGINAL_BLOCK * d)
    c0_a = np.empty(0) if matrix else np.log(2 * np.pi) - np.log(np.asarray(factors))
    variances_a = np.empty(0) if matrix else 1.0 / np.asarray(factors)
    e1_a = np.empty(d)
    e2_a = np.empty(d)
    # full and tied: the fill f (the weights' mean of the means), μ − f, Λ (f − μ)
    # and the log-densities' constants per component; the factors U (tied: its one
    # and the means (μ − f) U, feature-major); the block's rows less f, row- and
    # feature-major; the missing entries' imputations less f (MARGINAL_BLOCK × d ×
    # kq); the moments around f: R times the design [1, h(, h ⊗ h)] (k × width), the
    # rest of S2 in halves (d × d × kq), and, when the design has no h ⊗ h, Σ r h hᵀ
    # / 2 by a rank update of the rows √r h, per component (tied: one, r the row's
    # weight)
    cdef bint outer = cov_type == FULL and _outer_statistics(d, k)
    cdef Py_ssize_t width = 1 + d + (d * (d + 1) // 2 if outer else 0)
    if matrix:
        mu = np.asarray(means)
        fill_a = (weights_a @ mu if fill_at is None
                  else np.array(fill_at, dtype=np.float64).reshape(-1))
        if fill_a.shape[0] != d:
            raise ValueError("fill_at must have one entry per feature")
        mf_a = np.ascontiguousarray(mu - fill_a)
        lam = np.asarray(precision).reshape(-1, d, d)
        g_a = np.ascontiguousarray(-np.einsum("cij,cj->ci", lam, mf_a)
                                   if cov_type == FULL else -mf_a @ lam[0])
        cst_a = np.asarray(log_weights) - 0.5 * (d * LOG_2PI - np.asarray(log_det))
        # the precisions feature-major, lt[j, l, c] = Λ_c[j, l], c padded to whole
        # vectors of 8 with the identity; μ_c − f and Λ_c (f − μ_c) alike
        lt_a = np.zeros((d, d, kq))
        lt_a[:, :, :k] = np.moveaxis(np.broadcast_to(lam, (k, d, d)), 0, 2)
        lt_a[np.arange(d), np.arange(d), k:] = 1.0
        gt_a = np.zeros((d, kq))
        gt_a[:, :k] = g_a.T
        mft_a = np.zeros((d, kq))
        mft_a[:, :k] = mf_a.T
        u_a = np.asarray(factors)
        mt_a = (np.ascontiguousarray((mf_a @ u_a.reshape(d, d)).T) if cov_type == TIED
                else np.empty(0))
    else:
        fill_a = mf_a = g_a = cst_a = u_a = lt_a = gt_a = mft_a = mt_a = np.empty(0)
    hb_a = np.empty(MARGINAL_BLOCK * d if matrix else 0)
    ht_a = _aligned_zeros(d * MARGINAL_BLOCK if matrix else 0)
    zb_a = _aligned_zeros(d * 8 if matrix else 0)
    delta_a = np.empty(MARGINAL_BLOCK * d * kq if matrix else 0)
    want_moments = matrix and want_stats
    acc_a = np.zeros(k * width if want_moments else 0)
    sq_a = np.zeros(d * d * kq if want_moments else 0)
    sqh_a = np.zeros((k if cov_type == FULL else 1) * d * d
                     if want_moments and not outer else 0)
    # the block's weighted responsibilities by row, rt[r, c] (components padded)
    rt_a = np.zeros(MARGINAL_BLOCK * kq if want_moments else 0)
    design_a = np.empty(MARGINAL_BLOCK * width if want_moments else 0)
    scaled_a = np.empty(MARGINAL_BLOCK * d if want_moments and not outer else 0)
    zero_a = np.zeros(d)
    # the missing entries by feature (row · d + position in the row's list), the rows
    # missing one feature and their coefficients per component
    entry_a = np.empty(MARGINAL_BLOCK * d if matrix else 0, dtype=np.intp)
    estart_a = np.empty(d + 2, dtype=np.intp)
    gathered_a = np.empty(MARGINAL_BLOCK * d if want_moments else 0)
    coef_a = np.empty(MARGINAL_BLOCK * kq if want_moments else 0)
    yp_a = np.empty((MARGINAL_BLOCK * d + 4) * kq if matrix else 0)
    pos_a = np.empty(MARGINAL_BLOCK * d if matrix else 0, dtype=np.intp)
    # the rows grouped by their number of missing features m (one group's m × m
    # blocks take one kernel): rows in group order, each group's m, first row, size
    # and offset of its packed m × m blocks (in units of kq)
    order_a = np.empty(MARGINAL_BLOCK, dtype=np.intp)
    hist_a = np.empty(d + 2, dtype=np.intp)
    group_a = np.empty((4, MARGINAL_BLOCK + 1), dtype=np.intp)
    cdef double[::1] xb = xb_a, ob = ob_a, dev = dev_a, wlp = wlp_a, lpn = lpn_a
    cdef double[::1] work = work_a, e1 = e1_a, e2 = e2_a, rt = rt_a, sqh = sqh_a
    cdef double[::1] hb = hb_a, ht = ht_a, zb = zb_a, delta = delta_a, acc = acc_a
    cdef double[::1] sq = sq_a, design = design_a, scaled = scaled_a
    cdef const double[::1] fill = fill_a, mf = mf_a.reshape(-1), mft = mft_a.reshape(-1)
    cdef const double[::1] cst = cst_a, U = u_a, zero = zero_a, lt = lt_a.reshape(-1)
    cdef const double[::1] mt = mt_a.reshape(-1)
    cdef const double[::1] gt = gt_a.reshape(-1)
    cdef Py_ssize_t[::1] order = order_a, hist = hist_a, entry = entry_a, estart = estart_a
    cdef Py_ssize_t[::1] pos = pos_a
    cdef double[::1] gathered = gathered_a, coef = coef_a, yp = yp_a
    cdef Py_ssize_t[:, ::1] group = group_a
    cdef const double[::1] c0 = c0_a, variances = variances_a, weights = weights_a
    cdef Py_ssize_t[::1] miss = miss_a, count = count_a

    cdef Py_ssize_t b0, nb, r, j, l, c, m, a, q, G, first, bad = 0
    cdef Py_ssize_t n_groups = 0, total_t = 0  # (set per block; full and tied)
    cdef Py_ssize_t ldp = MARGINAL_BLOCK
    cdef int ing, ikq = <int> kq
    # the block's sample weights
    block_weights_a = np.empty(MARGINAL_BLOCK)
    cdef double[::1] block_weights = block_weights_a
    cdef int status = 0
    cdef bint observed
    cdef double value, w, lse, nk, half = 0.5, one = 1.0
    cdef int id = <int> d, inb
    cdef double *dv
    cdef double *C
    cdef double *sqc
    cdef double *ac
    cdef const double *x
    cdef const double *e
    cdef double *s2
    cdef double *S = &stats[0] if want_stats else NULL
    # per block, the packed inverses Λ_mm⁻¹ of every row and component, kept for
    # the statistics
    cdef double *inverse_store = NULL
    cdef size_t inverse_capacity = 0
    # gmm_marginal_group's scratch for rows missing more than 8 features: m (m + 1)
    # / 2 + 2 m vectors of up to 8 doubles, 64-byte aligned, for m up to d
    tile_work_a = np.empty((d * (d + 1) // 2 + 2 * d) * 8 + 8 if matrix and d > 8 else 1)
    cdef double[::1] tile_work = tile_work_a

    with nogil:
        b0 = 0
        while b0 < n:
            nb = min(<Py_ssize_t> MARGINAL_BLOCK, n - b0)
            inb = <int> nb
            for r in range(nb):  # the block's rows and missing features
                x = &X[rows[b0 + r], 0]
                m = 0
                for j in range(d):
                    value = x[j]
                    observed = value == value
                    if matrix:  # less f; 0 where missing
                        hb[r * d + j] = value - fill[j] if observed else 0.0
                    else:
                        xb[r * d + j] = value if observed else 0.0
                        ob[r * d + j] = 1.0 if observed else 0.0
                    if not observed:
                        miss[r * d + m] = j
                        m += 1
                count[r] = m
            if matrix:
                _transpose(&hb[0], nb, d, d, <const double *> NULL, &ht[0], ldp)
                _marginal_groups(&count[0], nb, d, &order[0], &hist[0], &group[0, 0],
                                 MARGINAL_BLOCK + 1, &n_groups, &total_t)
                if want_stats and not _grow(&inverse_store, &inverse_capacity, total_t * kq):
                    status = -2
                    break
                # the complete rows' log-densities of the rows filled with f, then
                # each group's corrections at its missing features (gmm_marginal_group)
                if cov_type == FULL:
                    status = gmm_full_wlp_d(&ht[0], nb, d, ldp, k, &mf[0], &U[0], &cst[0],
                                            &wlp[0], &zb[0], NULL)
                else:  # y = h U, then each component's distance from (μ − f) U
                    status = gmm_upper_rows_d(&ht[0], NULL, nb, d, ldp, &U[0], &ht[0],
                                              &zb[0])
                    if status == 0:
                        status = gmm_wide_wlp_d(TIED, &ht[0], nb, d, ldp, k, &mt[0], NULL,
                                                &cst[0], &wlp[0], NULL, NULL)
                if status:
                    break
                # y' = Λ x' = Λ h − Λ (μ − f) at the missing entries
                _marginal_entries(&count[0], &miss[0], nb, d, &estart[0], &entry[0], &pos[0])
                if gmm_marginal_projections_d(&lt[0], kq, &gt[0], &hb[0], &entry[0],
                                              &estart[0], d, &yp[0]):
                    status = -3
                    break
                for q in range(n_groups):
                    m, first, G = group[0, q], group[1, q], group[2, q]
                    if m == 0:
                        continue
                    C = inverse_store + group[3, q] * kq if want_stats else NULL
                    if gmm_marginal_group_d(&lt[0], &yp[0], &mft[0], kq, k, &miss[0], &pos[0],
                                            &order[first], G, m, d, C, &wlp[0], ldp,
                                            &delta[0], &tile_work[0]):
                        status = -1
                        break
                if status:
                    break
            else:
                for c in range(k):
                    dv = &dev[c * MARGINAL_BLOCK * d]
                    gmm_marginal_deviation_d(&xb[0], &ob[0], &means[c, 0], nb, d, dv)
                    gmm_marginal_diag_lp_d(&ob[0], &c0[c * d], &factors[c * d], dv, nb, d,
                                           log_weights[c], &wlp[c * ldp], 1)
            # the responsibilities (in wlp) and log p(x_o) by the E-step's log-sum-exp
            status = gmm_lse_cols_d(&wlp[0], k, nb, ldp, &lpn[0], &work[0], NULL)
            if status:
                status = -3
                break
            for r in range(nb):
                w = sample_weight[rows[b0 + r]] if weighted else 1.0
                lse = lpn[r]
                if count[r] == d:  # nothing observed: the weights, log p = 0
                    for c in range(k):
                        wlp[c * ldp + r] = weights[c]
                    lse = 0.0
                if not isfinite(lse):
                    bad += 1
                if want_lp:
                    out_log_prob[b0 + r] = lse
                if want_resp:
                    for c in range(k):
                        out_resp[b0 + r, c] = wlp[c * ldp + r]
                if want_fill:
                    x = &X[rows[b0 + r], 0]
                    for j in range(d):
                        out_filled[b0 + r, j] = x[j]
                    for a in range(count[r]):
                        j = miss[r * d + a]
                        value = 0.0
                        for c in range(k):
                            value = value + wlp[c * ldp + r] * (
                                fill[j] + delta[(r * d + a) * kq + c] if matrix
                                else means[c, j] + dev[(c * MARGINAL_BLOCK + r) * d + j])
                        out_filled[b0 + r, j] = value
                if want_stats:
                    S[0] += w * lse
                    S[1] += w
            if want_stats:
                if weighted:
                    for r in range(nb):
                        block_weights[r] = sample_weight[rows[b0 + r]]
                    for c in range(k):
                        for r in range(nb):
                            wlp[c * ldp + r] *= block_weights[r]
                if not matrix:
                    for c in range(k):
                        _diag_moments(cov_type, c, k, d, nb, &dev[c * MARGINAL_BLOCK * d],
                                      &wlp[c * ldp], &ob[0], &means[0, 0], &shifts[0, 0],
                                      &variances[0], S, &e1[0], &e2[0])
                else:
                    # R times the design [1, h(, h ⊗ h)] of the rows less f ...
                    gmm_design_d(FULL if outer else TIED, &hb[0], nb, d, &zero[0],
                                 &design[0], width)
                    _at_b(nb, k, width, &wlp[0], ldp, &design[0], &acc[0])
                    if not outer:  # ... or Σ r h hᵀ / 2 by a rank update
                        for c in range(k if cov_type == FULL else 1):
                            for r in range(nb):
                                if cov_type == FULL:
                                    value = wlp[c * ldp + r]
                                else:  # Σ_c r_c: the row's weight
                                    value = 0.0
                                    for q in range(k):
                                        value = value + wlp[q * ldp + r]
                                value = sqrt(value)
                                for j in range(d):
                                    scaled[r * d + j] = value * hb[r * d + j]
                            dgemm(b"N", b"T", &id, &id, &inb, &half, &scaled[0], &id,
                                  &scaled[0], &id, &one, &sqh[c * d * d], &id)
                    # ... and, at the missing features, the imputed entries'
                    # products and their conditional covariances Λ_mm⁻¹, every
                    # component at once (tied: Σ_c r_c Λ_mm⁻¹ = the row's weight
                    # times its one Λ_mm⁻¹)
                    for r in range(nb):
                        for c in range(k):
                            rt[r * kq + c] = wlp[c * ldp + r]
                    for q in range(n_groups):
                        m, first, G = group[0, q], group[1, q], group[2, q]
                        if m == 0:
                            continue
                        gmm_marginal_square_d(&rt[0], kq, &order[first], G, &delta[0],
                                              &miss[0], m, d, inverse_store + group[3, q] * kq,
                                              &sq[0])
                    # the imputed entries' products with the observed features, a
                    # missing feature j at a time: rows j of the square += (r δ_j)
                    # times the rows missing j, every component by one GEMM
                    for j in range(d):
                        first, G = estart[j], estart[j + 1] - estart[j]
                        if G == 0:
                            continue
                        for i in range(G):
                            r = entry[first + i] // d
                            a = entry[first + i] % d
                            memcpy(&gathered[i * d], &hb[r * d], d * sizeof(double))
                            for c in range(kq):
                                value = rt[r * kq + c] * delta[(r * d + a) * kq + c]
                                coef[i * kq + c] = value
                            for c in range(k):
                                acc[c * width + 1 + j] += coef[i * kq + c]
                        ing = <int> G
                        dgemm(b"N", b"T", &ikq, &id, &ing, &one, &coef[0], &ikq,
                              &gathered[0], &id, &one, &sq[j * d * kq], &ikq)
            b0 = b0 + nb
        if matrix and want_stats and status == 0:
            # the moments around f moved to the shifts: S2's lower triangle
            for c in range(k):
                ac = &acc[c * width]
                # (tied: its one Σ r h hᵀ / 2, added with the first component's)
                sqc = (&sqh[c * d * d if cov_type == FULL else 0]
                       if not outer and (cov_type == FULL or c == 0) else NULL)
                nk = ac[0]
                S[2 + c] += nk
                for j in range(d):
                    S[2 + k + c * d + j] += ac[1 + j] + nk * (fill[j] - shifts[c, j])
                e = &tied_shift[0] if cov_type == TIED else &shifts[c, 0]
                for j in range(d):
                    e1[j] = fill[j] - e[j]
                s2 = S + 2 + k + k * d + (c * d * d if cov_type == FULL else 0)
                q = 1 + d
                for j in range(d):
                    for l in range(j + 1):
                        value = (sq[(j * d + l) * kq + c] + sq[(l * d + j) * kq + c]
                                 + e1[j] * ac[1 + l] + ac[1 + j] * e1[l] + nk * e1[j] * e1[l])
                        if sqc != NULL:
                            value = value + sqc[j * d + l] + sqc[l * d + j]
                        elif outer:
                            value = value + ac[q]
                            q += 1
                        s2[j * d + l] += value
        free(inverse_store)
    if status == -2:
        raise MemoryError("no memory for the factors of a block of rows")
    _check_status(-1 if status == -3 else 0, "marginal_pass")
    if status:
        raise ValueError("a precision matrix's block of the missing features is not "
                         "positive definite")
    return bad


cdef void _marginal_groups(const Py_ssize_t *count, Py_ssize_t nb, Py_ssize_t d,
                           Py_ssize_t *order, Py_ssize_t *hist, Py_ssize_t *group,
                           Py_ssize_t ldg, Py_ssize_t *n_groups,
                           Py_ssize_t *total) noexcept nogil:
    """Rows of a block grouped by their number m of missing features (a counting
    sort, ``hist``: d + 2 of scratch): group g has m = group[g], rows
    order[group[ldg + g]:][:group[2 ldg + g]] and its packed m × m blocks at offset
    group[3 ldg + g], m (m + 1) / 2 per row (OUT: the number of groups and the
    blocks' total size)."""
    cdef Py_ssize_t m, r, first, G, g = 0
    total[0] = 0
    for m in range(d + 2):
        hist[m] = 0
    for r in range(nb):
        hist[count[r] + 1] += 1
    for m in range(d + 1):
        hist[m + 1] += hist[m]
    for r in range(nb):
        order[hist[count[r]]] = r
        hist[count[r]] += 1
    first = 0
    while first < nb:
        m = count[order[first]]
        G = 1
        while first + G < nb and count[order[first + G]] == m:
            G += 1
        group[g] = m
        group[ldg + g] = first
        group[2 * ldg + g] = G
        group[3 * ldg + g] = total[0]
        total[0] += m * (m + 1) // 2 * G
        g += 1
        first += G
    n_groups[0] = g


cdef void _marginal_entries(const Py_ssize_t *count, const Py_ssize_t *miss, Py_ssize_t nb,
                            Py_ssize_t d, Py_ssize_t *start, Py_ssize_t *entry,
                            Py_ssize_t *pos) noexcept nogil:
    """A block's missing entries by feature (a counting sort): those of feature j are
    entry[start[j]:start[j + 1]], each r · d + a for the a-th missing feature of row
    r, and pos[r · d + a] is its place there.  start: d + 2 entries."""
    cdef Py_ssize_t r, a, j
    for j in range(d + 2):
        start[j] = 0
    for r in range(nb):
        for a in range(count[r]):
            start[miss[r * d + a] + 2] += 1
    for j in range(d):
        start[j + 2] += start[j + 1]
    for r in range(nb):  # start[j + 1] is feature j's cursor, then its end
        for a in range(count[r]):
            j = miss[r * d + a]
            entry[start[j + 1]] = r * d + a
            pos[r * d + a] = start[j + 1]
            start[j + 1] += 1


cdef bint _grow(double **buffer, size_t *capacity, Py_ssize_t needed) noexcept nogil:
    """Make ``buffer`` hold at least ``needed`` doubles; False if out of memory."""
    cdef double *grown
    if <size_t> needed <= capacity[0]:
        return True
    grown = <double *> realloc(buffer[0], needed * sizeof(double))
    if grown == NULL:
        return False
    buffer[0], capacity[0] = grown, <size_t> needed
    return True


cdef void _diag_moments(int cov_type, Py_ssize_t c, Py_ssize_t k, Py_ssize_t d, Py_ssize_t nb,
                        const double *dv, const double *wr, const double *ob,
                        const double *means, const double *shifts, const double *variances,
                        double *S, double *e1, double *e2) noexcept nogil:
    """Diag and spherical: component c's S1 and S2 of a block's filled-in rows
    (their deviations x̂ − μ_c in ``dv``), weighted by ``wr``; a missing feature
    adds its variance (``variances``: 1 / p per component and feature).  e1, e2:
    scratch of d doubles."""
    cdef double *s1 = S + 2 + k + c * d
    cdef double *s2 = S + 2 + k + k * d + c * d
    cdef double total = 0.0
    cdef Py_ssize_t r, j
    for r in range(nb):
        total = total + wr[r]
    S[2 + c] += total
    for j in range(d):  # x̂ − shift = (x̂ − μ) + (μ − shift)
        e1[j] = means[c * d + j] - shifts[c * d + j]
    if cov_type == SPHERICAL:  # the features' sum, in e2
        s2 = e2
        for j in range(d):
            s2[j] = 0.0
    gmm_marginal_diag_moments_d(wr, dv, e1, ob, &variances[c * d], s1, s2, nb, d)
    if cov_type == SPHERICAL:
        total = 0.0
        for j in range(d):
            total = total + s2[j]
        S[2 + k + k * d + c] += total
