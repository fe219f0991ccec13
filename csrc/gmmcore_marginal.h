/* The per-row loops of the missing-value E-step (src/gmmcore/_marginal.pyx), in C
 * for what Cython cannot say: restrict pointers, so that -O3 vectorises the
 * element-wise loops, and four partial sums for the reductions (no reassociation
 * flags: the sums' order is fixed by the code, so results do not depend on the
 * compiler's choices). */
#ifndef GMMCORE_MARGINAL_H
#define GMMCORE_MARGINAL_H

#include <stddef.h>

#if defined(_MSC_VER)
#define GMM_RESTRICT __restrict
#else
#define GMM_RESTRICT __restrict__
#endif

/* sum_j a[j] b[j], in four interleaved partial sums */
static inline double gmm_marginal_dot(const double *GMM_RESTRICT a,
                                      const double *GMM_RESTRICT b, ptrdiff_t n)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    ptrdiff_t j = 0;
    for (; j + 4 <= n; j += 4) {
        s0 += a[j] * b[j];
        s1 += a[j + 1] * b[j + 1];
        s2 += a[j + 2] * b[j + 2];
        s3 += a[j + 3] * b[j + 3];
    }
    for (; j < n; j++)
        s0 += a[j] * b[j];
    return (s0 + s1) + (s2 + s3);
}

/* dv = ob * (x - mu): the deviation of the observed entries, 0 at the missing ones
 * (x holds 0 there) */
static inline void gmm_marginal_deviation(const double *GMM_RESTRICT x,
                                          const double *GMM_RESTRICT ob,
                                          const double *GMM_RESTRICT mu,
                                          double *GMM_RESTRICT dv, ptrdiff_t d)
{
    for (ptrdiff_t j = 0; j < d; j++)
        dv[j] = ob[j] * (x[j] - mu[j]);
}

/* sum_j ob[j] (c0[j] + p[j] dv[j]^2): a diagonal precision's terms of the observed
 * entries (c0 = log 2 pi - log p) */
static inline double gmm_marginal_diag_terms(const double *GMM_RESTRICT ob,
                                             const double *GMM_RESTRICT c0,
                                             const double *GMM_RESTRICT p,
                                             const double *GMM_RESTRICT dv, ptrdiff_t d)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    ptrdiff_t j = 0;
    for (; j + 4 <= d; j += 4) {
        s0 += ob[j] * (c0[j] + p[j] * dv[j] * dv[j]);
        s1 += ob[j + 1] * (c0[j + 1] + p[j + 1] * dv[j + 1] * dv[j + 1]);
        s2 += ob[j + 2] * (c0[j + 2] + p[j + 2] * dv[j + 2] * dv[j + 2]);
        s3 += ob[j + 3] * (c0[j + 3] + p[j + 3] * dv[j + 3] * dv[j + 3]);
    }
    for (; j < d; j++)
        s0 += ob[j] * (c0[j] + p[j] * dv[j] * dv[j]);
    return (s0 + s1) + (s2 + s3);
}

/* A row's first moment and, in place, its row of the second-moment product: with
 * e1 = mu - shift and e2 = mu - (S2's shift), s1 += w (dv + e1), then
 * dv = scale (dv + e2) */
static inline void gmm_marginal_moment_row(double w, double scale, double *GMM_RESTRICT dv,
                                           const double *GMM_RESTRICT e1,
                                           const double *GMM_RESTRICT e2,
                                           double *GMM_RESTRICT s1, ptrdiff_t d)
{
    for (ptrdiff_t j = 0; j < d; j++) {
        double v = dv[j];
        s1[j] += w * (v + e1[j]);
        dv[j] = scale * (v + e2[j]);
    }
}

/* Diagonal and spherical second moments of a row: e = dv + e1 (the filled-in row
 * around the shift), s1 += w e, s2 += w (e^2 + (1 - ob) / p) per feature */
static inline void gmm_marginal_diag_moments(double w, const double *GMM_RESTRICT dv,
                                             const double *GMM_RESTRICT e1,
                                             const double *GMM_RESTRICT ob,
                                             const double *GMM_RESTRICT p,
                                             double *GMM_RESTRICT s1,
                                             double *GMM_RESTRICT s2, ptrdiff_t d)
{
    for (ptrdiff_t j = 0; j < d; j++) {
        double e = dv[j] + e1[j];
        s1[j] += w * e;
        s2[j] += w * (e * e + (1.0 - ob[j]) / p[j]);
    }
}

#endif
