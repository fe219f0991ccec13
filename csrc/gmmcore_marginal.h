/* The per-row loops of the missing-value E-step (src/gmmcore/_marginal.pyx), in C
 * for what Cython cannot say: restrict pointers, so that -O3 vectorises the
 * element-wise loops, and four partial sums for the reductions (no reassociation
 * flags: the sums' order is fixed by the code, so results do not depend on the
 * compiler's choices). */
#ifndef GMMCORE_MARGINAL_H
#define GMMCORE_MARGINAL_H

#include <math.h>
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

/* The m x m matrices of G rows at once, each stored entry-major: entry (a, q) of
 * matrix i at A[(a * m + q) * G + i] (lower triangles).  Every loop runs over the
 * G matrices, which the compiler vectorises, instead of along one matrix's
 * dependent chain. */

/* In-place lower Cholesky factors, the diagonal stored as reciprocals (the solves
 * multiply), and log_det[i] = log |A_i|.  -1 if one is not positive definite.
 * t, product: scratch of G doubles. */
static inline int gmm_marginal_cholesky(double *GMM_RESTRICT A, ptrdiff_t m, ptrdiff_t G,
                                        double *GMM_RESTRICT log_det,
                                        double *GMM_RESTRICT t,
                                        double *GMM_RESTRICT product)
{
    for (ptrdiff_t i = 0; i < G; i++) {
        log_det[i] = 0.0;
        product[i] = 1.0;
    }
    for (ptrdiff_t j = 0; j < m; j++) {
        double *GMM_RESTRICT ajj = A + (j * m + j) * G;
        for (ptrdiff_t i = 0; i < G; i++)
            t[i] = ajj[i];
        for (ptrdiff_t p = 0; p < j; p++) {
            const double *GMM_RESTRICT ajp = A + (j * m + p) * G;
            for (ptrdiff_t i = 0; i < G; i++)
                t[i] -= ajp[i] * ajp[i];
        }
        int definite = 1;
        for (ptrdiff_t i = 0; i < G; i++)
            definite &= t[i] > 0.0;
        if (!definite)
            return -1;
        for (ptrdiff_t i = 0; i < G; i++) {
            double s = sqrt(t[i]);
            ajj[i] = 1.0 / s;
            product[i] *= s;
        }
        if ((j & 7) == 7)  /* one log per eight factors, far from over- and underflow */
            for (ptrdiff_t i = 0; i < G; i++) {
                log_det[i] += 2.0 * log(product[i]);
                product[i] = 1.0;
            }
        for (ptrdiff_t a = j + 1; a < m; a++) {
            double *GMM_RESTRICT aaj = A + (a * m + j) * G;
            for (ptrdiff_t p = 0; p < j; p++) {
                const double *GMM_RESTRICT aap = A + (a * m + p) * G;
                const double *GMM_RESTRICT ajp = A + (j * m + p) * G;
                for (ptrdiff_t i = 0; i < G; i++)
                    aaj[i] -= aap[i] * ajp[i];
            }
            for (ptrdiff_t i = 0; i < G; i++)
                aaj[i] *= ajj[i];
        }
    }
    for (ptrdiff_t i = 0; i < G; i++)
        log_det[i] += 2.0 * log(product[i]);
    return 0;
}

/* B <- (L L^T)^-1 B for factors of gmm_marginal_cholesky; B entry-major (a * G + i) */
static inline void gmm_marginal_solve(const double *GMM_RESTRICT L, ptrdiff_t m, ptrdiff_t G,
                                      double *GMM_RESTRICT B)
{
    for (ptrdiff_t a = 0; a < m; a++) {
        double *GMM_RESTRICT ba = B + a * G;
        for (ptrdiff_t p = 0; p < a; p++) {
            const double *GMM_RESTRICT lap = L + (a * m + p) * G;
            const double *GMM_RESTRICT bp = B + p * G;
            for (ptrdiff_t i = 0; i < G; i++)
                ba[i] -= lap[i] * bp[i];
        }
        const double *GMM_RESTRICT laa = L + (a * m + a) * G;
        for (ptrdiff_t i = 0; i < G; i++)
            ba[i] *= laa[i];
    }
    for (ptrdiff_t a = m - 1; a >= 0; a--) {
        double *GMM_RESTRICT ba = B + a * G;
        for (ptrdiff_t p = a + 1; p < m; p++) {
            const double *GMM_RESTRICT lpa = L + (p * m + a) * G;
            const double *GMM_RESTRICT bp = B + p * G;
            for (ptrdiff_t i = 0; i < G; i++)
                ba[i] -= lpa[i] * bp[i];
        }
        const double *GMM_RESTRICT laa = L + (a * m + a) * G;
        for (ptrdiff_t i = 0; i < G; i++)
            ba[i] *= laa[i];
    }
}

/* C = (L L^T)^-1 = L^-T L^-1 (lower triangles, entry-major) through T = L^-1 */
static inline void gmm_marginal_inverse(const double *GMM_RESTRICT L, ptrdiff_t m,
                                        ptrdiff_t G, double *GMM_RESTRICT T,
                                        double *GMM_RESTRICT C)
{
    for (ptrdiff_t j = 0; j < m; j++) {
        const double *GMM_RESTRICT ljj = L + (j * m + j) * G;
        double *GMM_RESTRICT tjj = T + (j * m + j) * G;
        for (ptrdiff_t i = 0; i < G; i++)
            tjj[i] = ljj[i];
        for (ptrdiff_t a = j + 1; a < m; a++) {
            double *GMM_RESTRICT taj = T + (a * m + j) * G;
            const double *GMM_RESTRICT laa = L + (a * m + a) * G;
            for (ptrdiff_t i = 0; i < G; i++)
                taj[i] = 0.0;
            for (ptrdiff_t p = j; p < a; p++) {
                const double *GMM_RESTRICT lap = L + (a * m + p) * G;
                const double *GMM_RESTRICT tpj = T + (p * m + j) * G;
                for (ptrdiff_t i = 0; i < G; i++)
                    taj[i] += lap[i] * tpj[i];
            }
            for (ptrdiff_t i = 0; i < G; i++)
                taj[i] = -taj[i] * laa[i];
        }
    }
    for (ptrdiff_t a = 0; a < m; a++)
        for (ptrdiff_t q = 0; q <= a; q++) {
            double *GMM_RESTRICT caq = C + (a * m + q) * G;
            for (ptrdiff_t i = 0; i < G; i++)
                caq[i] = 0.0;
            for (ptrdiff_t p = a; p < m; p++) {
                const double *GMM_RESTRICT tpa = T + (p * m + a) * G;
                const double *GMM_RESTRICT tpq = T + (p * m + q) * G;
                for (ptrdiff_t i = 0; i < G; i++)
                    caq[i] += tpa[i] * tpq[i];
            }
        }
}


#endif
