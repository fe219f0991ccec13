/*
 * Vectorised loops of the E-step: the exponentials of the log-sum-exp, the
 * Mahalanobis distances of every covariance type (register tiles of rows, on
 * row-major blocks for few features and on transposed, feature-major blocks for
 * more), the per-row designs and the statistics that BLAS does not cover.  Each
 * is compiled several times (baseline, AVX2+FMA, AVX-512) and
 * the best one for the running CPU is chosen once, by gmm_simd_init(), so that a
 * wheel built for any x86-64 machine still uses the wide vectors of this one.
 * Other architectures (aarch64 has NEON in its baseline) compile one version.
 * Compilers without GNU C vector extensions (MSVC), or any compiler given
 * -DGMM_PORTABLE, get the same loops in plain C99 with no dispatch.
 */
#ifndef GMMCORE_SIMD_H
#define GMMCORE_SIMD_H

#include <stddef.h>

#include "gmmcore_covariance.h"

/* Choose the implementations for this CPU.  GMMCORE_SIMD=generic|avx2|avx512 in the
 * environment caps the choice (tests run every version).  Returns the level used:
 * 0 generic, 1 AVX2+FMA, 2 AVX-512. */
int gmm_simd_init(void);
/* 1 if this build is the plain-C one (no vector extensions, level always 0). */
int gmm_simd_portable(void);

/* The next block's rows, requested a few cache lines at a time by the kernels that
 * compute on the current block, so that they arrive while it is computed.  Asking
 * for a whole block at once worked about half as well (measured): the core keeps a
 * few dozen misses in flight, not the hundreds of such a burst.  The caller sets
 * the range (gmm_stream_set) and opens it in shares, one per kernel that takes the
 * stream (gmm_stream_open(s, i, m): the first i m-ths of the range are due); a
 * kernel given a gmm_stream * (which may be NULL) spreads the lines that are due
 * over its outer loop and has requested all of them when it returns.  No-ops
 * without GNU C. */
typedef struct {
    const char *begin, *next, *due, *end;
} gmm_stream;
void gmm_stream_set(gmm_stream *s, const void *p, ptrdiff_t bytes);
void gmm_stream_open(gmm_stream *s, ptrdiff_t i, ptrdiff_t m);

/* In place: x[i] <- exp(x[i]) (about 2 ulp; exp of x < -708 (float: -87) is 0). */
int gmm_exp_d(double *x, ptrdiff_t n);
int gmm_exp_f(float *x, ptrdiff_t n);

/* Log-sum-exp over the components of a block of weighted log-densities laid out
 * component-major: wlp is k x ld, its first n columns the block's samples.  On exit
 * the columns hold the responsibilities and lpn[i] = log sum_c exp(wlp[c, i]).
 * A sample that is -inf under every component gets responsibilities 0 and lpn -inf;
 * NaN propagates.  work: 2 n doubles. */
int gmm_lse_cols_d(double *wlp, ptrdiff_t k, ptrdiff_t n, ptrdiff_t ld, double *lpn,
                   double *work, gmm_stream *pf);
int gmm_lse_cols_f(float *wlp, ptrdiff_t k, ptrdiff_t n, ptrdiff_t ld, double *lpn,
                   double *work, gmm_stream *pf);

/* Over a block's rows with weight w[i] != 0 (w NULL: all 1): sums[0] += sum w lpn,
 * sums[1] += sum w; the lowest finite lpn, if below *worst, goes to *worst and its
 * row (counted from 0) to *worst_row.  Returns the number of non-finite lpn. */
ptrdiff_t gmm_row_sums_d(const double *lpn, const double *w, ptrdiff_t n, double *sums,
                         double *worst, ptrdiff_t *worst_row);
ptrdiff_t gmm_row_sums_f(const double *lpn, const float *w, ptrdiff_t n, double *sums,
                         double *worst, ptrdiff_t *worst_row);

/* labels[i] = the first c with the largest wlp[c, i] (layout as above); work: n doubles. */
int gmm_argmax_cols_d(const double *wlp, ptrdiff_t k, ptrdiff_t n, ptrdiff_t ld,
                      ptrdiff_t *labels, double *work);
int gmm_argmax_cols_f(const float *wlp, ptrdiff_t k, ptrdiff_t n, ptrdiff_t ld,
                      ptrdiff_t *labels, double *work);

/* gmm_lse_cols, and ent[i] = sum_c r[c, i] log r[c, i] of each sample (0 log 0 = 0;
 * n doubles), the term of the variational lower bound, in double. */
int gmm_lse_ent_cols_d(double *wlp, ptrdiff_t k, ptrdiff_t n, ptrdiff_t ld, double *lpn,
                       double *work, double *ent, gmm_stream *pf);
int gmm_lse_ent_cols_f(float *wlp, ptrdiff_t k, ptrdiff_t n, ptrdiff_t ld, double *lpn,
                       double *work, double *ent, gmm_stream *pf);

/* Few features (d <= 8): weighted log-densities (wlp, k x ld, component-major) and
 * the feature-major statistics design of a block, by register tiles of rows.
 * The design is float64 for both dtypes: cov 0 full ([1, z, z_j z_l for l <= j]),
 * 1 tied ([1, z]; m_c = Q[c, 0:d]), 2 diag ([1, z, z^2]), 3 spherical ([1, z, |z|^2]),
 * z = x - shift computed in double.  prec: full U (k x d x d), tied U (d x d), diag (k x d) and
 * spherical (k) precisions.  ld must be a multiple of 16, and at least n; xt is
 * scratch of d x ld (float32 only: float64 tiles read z from the design).  Returns -1
 * (and does nothing) unless 1 <= d <= 8. */
int gmm_small_block_d(int cov, const double *X, ptrdiff_t n, ptrdiff_t d, ptrdiff_t k,
                      const double *shift, const double *delta, const double *prec,
                      const double *Q, const double *cst, double *wlp, ptrdiff_t ld,
                      double *design, double *xt, gmm_stream *pf);
int gmm_small_block_f(int cov, const float *X, ptrdiff_t n, ptrdiff_t d, ptrdiff_t k,
                      const float *shift, const float *delta, const float *prec,
                      const float *Q, const double *cst, float *wlp, ptrdiff_t ld,
                      double *design, float *xt, gmm_stream *pf);

/* Z[i, :] = s_i (X[i, :] - mu), s_i = sqrt(r[i * r_stride]) or 1 when r is NULL
 * (n x d blocks, row-major). */
int gmm_diff_rows_d(const double *X, ptrdiff_t n, ptrdiff_t d, const double *mu,
                    const double *r, ptrdiff_t r_stride, double *Z);
int gmm_diff_rows_f(const float *X, ptrdiff_t n, ptrdiff_t d, const float *mu,
                    const float *r, ptrdiff_t r_stride, float *Z);

/* More features, the diagonal family (and tied once y = (x - s) U): see the comments
 * in gmmcore_simd.c.  Blocks are transposed (xt = (X - shift)^T, d x ld, ld a multiple
 * of 16 and at least n; shift may be NULL).  gmm_wide_wlp: the weighted
 * log-densities in direct form from register tiles of rows (cov 1 tied, 2 diag,
 * 3 spherical), with the means M, and diag's precisions P, feature-major (d x k,
 * M[j * k + c]; spherical's P: k values).  gmm_wide_stats: the diag and spherical
 * statistics around each component's mean M[c] (k x d), added per lane to acc
 * (2 k d L doubles for diag and tied, (2 k d + k) L for spherical, L lanes from
 * gmm_wide_lanes_*; nk: k L doubles; the lanes are folded by the caller; cov 1,
 * tied, takes only the first moments; -1 for a cov other than 1, 2 and 3).
 * dist (k x ld): spherical's squared distances
 * |x - M[c]|^2, written by gmm_wide_wlp (when not NULL) and read by gmm_wide_stats;
 * NULL for the other types. */
int gmm_transpose_d(const double *X, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ldx,
                    const double *shift, double *xt, ptrdiff_t ld);
int gmm_transpose_f(const float *X, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ldx,
                    const float *shift, float *xt, ptrdiff_t ld);
int gmm_wide_wlp_d(int cov, const double *xt, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ld,
                   ptrdiff_t k, const double *M, const double *P, const double *cst,
                   double *wlp, double *dist, gmm_stream *pf);
int gmm_wide_wlp_f(int cov, const float *xt, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ld,
                   ptrdiff_t k, const float *M, const float *P, const double *cst, float *wlp,
                   float *dist, gmm_stream *pf);
/* L: 16 / 8 with GNU C vector extensions, 1 in the plain-C build. */
int gmm_wide_lanes_d(void);
int gmm_wide_lanes_f(void);
int gmm_wide_stats_f(int cov, const float *xt, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ld,
                     ptrdiff_t k, const float *M, float *R, float *dist, double *nk,
                     double *acc, gmm_stream *pf);

/* Full covariances with outer-product statistics, float32: for each row, around its
 * assigned component's mean (z = x - means[assigned[i]]), the packed lower triangle
 * of z z^T into row i of Dz (n x d (d + 1) / 2), and H[c, a] += R[c, i] z,
 * G[c, a] += R[c, i] in double (H: k x k x d, G: k x k; R: k x ldr).  Dz needs room
 * for 64 bytes past its n rows (the triangle's rows are written as whole vectors).
 * Returns -1 (and does nothing) if d > GMM_OUTER_D_MAX. */
#define GMM_OUTER_D_MAX 40
int gmm_outer_design_f(const float *X, ptrdiff_t n, ptrdiff_t d, ptrdiff_t k,
                       const float *means, const float *R, ptrdiff_t ldr,
                       const ptrdiff_t *assigned, float *Dz, double *H, double *G);
/* dst[i] += src[i] in double, i < n. */
int gmm_add_to_double_f(const float *src, ptrdiff_t n, double *dst);

/* Rows of a row-major design W (n x width) with z = x - shift computed in the output
 * type (kind, a covariance code: the design that type's statistics take, see
 * gmmcore_covariance.h).
 * design_fd: float rows, double design. */
int gmm_design_d(int kind, const double *X, ptrdiff_t n, ptrdiff_t d, const double *shift,
                 double *W, ptrdiff_t width);
int gmm_design_fd(int kind, const float *X, ptrdiff_t n, ptrdiff_t d, const float *shift,
                  double *W, ptrdiff_t width);

/* Diag and spherical (kind GMM_DIAG, GMM_SPHERICAL), float64, more features: the design rows of
 * gmm_design_d's kind into W (n x width, width >= 1 + q), and from them
 * wlp[c * ld + i] = Qc[q kq + c] + sum_{j < q} a_ij Qc[j kq + c], a_i the row past its 1
 * (q = 2 d entries, [z, z^2], or d + 1, [z, |z|^2]): the expanded form's weighted
 * log-densities.  Qc ((q + 1) x kq): the coefficients, then the constants; kq a
 * multiple of gmm_wide_lanes_d(), the columns past k zero.  ld at least n.  (e_step
 * calls it with vectors of 4 doubles or more; with fewer, its tiles are too small
 * to beat a GEMM of the design.) */
int gmm_design_wlp_d(int kind, const double *X, ptrdiff_t n, ptrdiff_t d, ptrdiff_t k,
                     const double *shift, const double *Qc, ptrdiff_t kq, double *wlp,
                     ptrdiff_t ld, double *W, ptrdiff_t width, gmm_stream *pf);

/* Full covariances, more features: wlp[c * ld + i] = cst[c] - 1/2 |(x_i - M[c]) U_c|^2
 * from the feature-major block xt (d x ld, gmm_transpose without shift; ld a
 * multiple of 16 and at least n), U_c row-major upper-triangular (k x d x d, zero
 * below the diagonal).  zb: scratch of d x 64 bytes, 64-byte aligned. */
int gmm_full_wlp_d(const double *xt, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ld, ptrdiff_t k,
                   const double *M, const double *U, const double *cst, double *wlp,
                   double *zb, gmm_stream *pf);
int gmm_full_wlp_f(const float *xt, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ld, ptrdiff_t k,
                   const float *M, const float *U, const double *cst, float *wlp, float *zb,
                   gmm_stream *pf);

/* Tied: y = (x - shift) U for a feature-major block, dst[j * ld + i] = sum_{l <= j}
 * (src[l * ld + i] - shift[l]) U[l, j] (shift may be NULL; dst may be src; rows
 * n <= i < ld of dst are set to zero), U row-major upper-triangular (d x d, zero
 * below the diagonal).  zb: scratch of d x 64 bytes, 64-byte aligned. */
int gmm_upper_rows_d(const double *src, const double *shift, ptrdiff_t n, ptrdiff_t d,
                     ptrdiff_t ld, const double *U, double *dst, double *zb);
int gmm_upper_rows_f(const float *src, const float *shift, ptrdiff_t n, ptrdiff_t d,
                     ptrdiff_t ld, const float *U, float *dst, float *zb);

/* Tied: rows around their assigned component's mean, Z[i] = x_i - means[a(i)], with
 * T[a(i)] += w_i Z[i], M[a(i)] += w_i and G[c, a(i)] += R[c, i] in double (weight may
 * be NULL for ones; R is k x ldr). */
int gmm_assigned_rows_f(const float *X, ptrdiff_t n, ptrdiff_t d, ptrdiff_t k,
                        const float *means, const ptrdiff_t *assigned, const float *weight,
                        const float *R, ptrdiff_t ldr, float *Z, double *T, double *M,
                        double *G);

/* C[a, j] += sum_i Z[i, a] Z[i, j] for j <= a: the row-major lower triangle of the
 * float64 d x d matrix C, from the row-major n x d block Z, its rows ldz >= d apart
 * (float32 sums the block in float32, then adds it to C).  The entries above the
 * diagonal are not touched. */
int gmm_gram_lower_d(const double *Z, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ldz, double *C);
int gmm_gram_lower_f(const float *Z, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ldz, double *C);

/* S[(a * q + b) * L + lane] += sum of P[a * ld + i] Q[b * ld + i] over the rows i < n of
 * each lane, for a < p and b < q (only b <= a, and perhaps a few entries above the
 * diagonal, when lower), L = gmm_wide_lanes_d(): products of the rows of two
 * feature-major blocks, summed per lane (the caller folds the lanes). */
int gmm_rows_dot_d(const double *P, ptrdiff_t p, const double *Q, ptrdiff_t q, ptrdiff_t n,
                   ptrdiff_t ld, int lower, double *S);

/* Rows with missing entries (_kernels.marginal_pass), float64, n rows of d in a
 * row-major block.  Diagonal precisions p: dv = ob * (x - mu); lp[r * ld] = lw -
 * sum_j ob (c0 + p dv^2) / 2 (c0 = log 2 pi - log p); with e = mu - shift,
 * s1 += wr (dv + e), s2 += wr ((dv + e)^2 + (1 - ob) var) (var = 1 / p).
 *
 * Full and tied (tied: its precision for every component), every component at
 * once, the arrays by component component-minor with k rounded up to kq (a
 * multiple of 8; the padding components' precisions the identity): lt[(j * d + l) *
 * kq + c] = lam_c[j, l], mft[j * kq + c] = (mu_c - f)[j] for the fill f, and
 * miss[r * d ..] the missing features of row r, ascending.
 * marginal_projections_d computes, for a block's missing entries by feature
 * (entry, start: see marginal.c.tp), y' = lam_c (h - mu_c + f) at each entry,
 * yp[e * kq + c], h the rows less f (0 where missing).  marginal_group_d takes
 * the G rows rows[0..G) that miss m features each (y' of row r's a-th at
 * yp[pos[r * d + a] * kq]), and adds to wlp[c * ldw + r] what turns the
 * log-density of the row filled with f into that of its observed features, (m log
 * 2 pi - log |lam_mm| + x'_m . (y' + y) + y . lam_mm^-1 y) / 2 with x' = -mf at
 * the missing features and y = y' - lam_mm x'_m, and writes delta[(r * d + a) *
 * kq + c] = (mu - f - lam_mm^-1 y)_a (the imputed entries less f) and, C not
 * NULL, the packed lam_mm^-1 of the group's i-th row at C[(i T + TRI(a, b)) * kq
 * + c] (T = m (m + 1) / 2).  work: (m (m + 1) / 2 + 2 m) 8 + 8 doubles when m > 8,
 * else unused.  -1 if a block is not positive definite.  marginal_square_d adds
 * such a group's terms of the second moments at the missing features, w
 * (delta delta^T + C) / 2 (w[r * kq + c] by row and component; C NULL: no C), to
 * sq[(j * d + l) * kq + c] (in halves: sq + sq^T is what counts). */
int gmm_marginal_deviation_d(const double *xb, const double *ob, const double *mu,
                             ptrdiff_t n, ptrdiff_t d, double *dv);
int gmm_marginal_diag_lp_d(const double *ob, const double *c0, const double *p,
                           const double *dv, ptrdiff_t n, ptrdiff_t d, double lw, double *lp,
                           ptrdiff_t ld);
int gmm_marginal_diag_moments_d(const double *wr, const double *dv, const double *e,
                                const double *ob, const double *var, double *s1, double *s2,
                                ptrdiff_t n, ptrdiff_t d);
int gmm_marginal_group_d(const double *lt, const double *yp, const double *mft, ptrdiff_t kq,
                         ptrdiff_t k, const ptrdiff_t *miss, const ptrdiff_t *pos,
                         const ptrdiff_t *rows, ptrdiff_t G, ptrdiff_t m, ptrdiff_t d, double *C,
                         double *wlp, ptrdiff_t ldw, double *delta, double *work);
int gmm_marginal_projections_d(const double *lt, ptrdiff_t kq, const double *gt,
                               const double *h, const ptrdiff_t *entry, const ptrdiff_t *start,
                               ptrdiff_t d, double *yp);
int gmm_marginal_square_d(const double *w, ptrdiff_t kq, const ptrdiff_t *rows, ptrdiff_t G,
                          const double *delta, const ptrdiff_t *miss, ptrdiff_t m, ptrdiff_t d,
                          const double *C, double *sq);

#endif
