/*
 * Vectorised E-step loops; see gmmcore_simd.h.
 *
 * Every loop here is written so that the compiler vectorises it without
 * -ffast-math (which gmmcore never uses: log-sum-exp needs inf and NaN): no
 * reductions across vector lanes, no branches in the inner loops, and an exp of
 * its own (Cody-Waite range reduction, a Taylor polynomial, and the power of two
 * built from the exponent bits) instead of a libm call.
 */
#include "gmmcore_simd.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define GMM_INLINE static inline __attribute__((always_inline))
#define GMM_RESTRICT __restrict__
#else
#define GMM_INLINE static __inline
#define GMM_RESTRICT
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GMM_X86_DISPATCH 1
#define GMM_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define GMM_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")))
#endif

/* ------------------------------------------------------------------------- */
/* exp                                                                        */
/* ------------------------------------------------------------------------- */

/* exp(x) for x <= 709 to about 2 ulp; 0 below -708, +inf above 709, NaN for NaN. */
GMM_INLINE double exp1_d(double x)
{
    const double log2e = 1.4426950408889634074;
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52: its ulp is 1 */
    double xc = x < -708.0 ? -708.0 : x;
    xc = xc > 709.0 ? 709.0 : xc;
    double kd = xc * log2e + shifter; /* round(x / ln 2) in the low mantissa bits */
    double k = kd - shifter;
    double r = (xc - k * ln2_hi) - k * ln2_lo; /* |r| <= ln(2) / 2 */
    double p = 1.0 / 6227020800.0;             /* Taylor to r^13: error < 1e-17 */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int64_t ki;
    memcpy(&ki, &kd, sizeof ki);
    ki -= INT64_C(0x4338000000000000); /* the bits of the shifter: ki = k */
    uint64_t bits = (uint64_t)(ki + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    double y = p * scale;
    y = x < -708.0 ? 0.0 : y;
    y = x > 709.0 ? (double)INFINITY : y;
    return y;
}

/* expf for x <= 88 to about 2 ulp; 0 below -87, +inf above 88, NaN for NaN. */
GMM_INLINE float exp1_f(float x)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693145751953125f;
    const float ln2_lo = 1.428606765330187045e-06f;
    const float shifter = 12582912.0f; /* 1.5 * 2^23 */
    float xc = x < -87.0f ? -87.0f : x;
    xc = xc > 88.0f ? 88.0f : xc;
    float kd = xc * log2e + shifter;
    float k = kd - shifter;
    float r = (xc - k * ln2_hi) - k * ln2_lo;
    float p = 1.0f / 5040.0f; /* Taylor to r^7: error < 6e-9 */
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t ki;
    memcpy(&ki, &kd, sizeof ki);
    ki -= INT32_C(0x4B400000);
    uint32_t bits = (uint32_t)(ki + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float y = p * scale;
    y = x < -87.0f ? 0.0f : y;
    y = x > 88.0f ? (float)INFINITY : y;
    return y;
}

/* log(x) for positive normal x to about 1 ulp (x = 2^e m, m in [sqrt(1/2), sqrt(2)),
 * log m = 2 atanh((m - 1) / (m + 1)) by its series); NaN for NaN, +inf for +inf. */
GMM_INLINE double log1_d(double x)
{
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    const double two52 = 4503599627370496.0;
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    /* the exponent field as a double, without an int64 -> double conversion */
    uint64_t ebits = (bits >> 52) | UINT64_C(0x4330000000000000);
    double e;
    memcpy(&e, &ebits, sizeof e);
    e -= two52 + 1023.0;
    uint64_t mbits = (bits & UINT64_C(0x000FFFFFFFFFFFFF)) | UINT64_C(0x3FF0000000000000);
    double m;
    memcpy(&m, &mbits, sizeof m);
    const int big = m > 1.4142135623730951;
    m = big ? 0.5 * m : m;
    e = big ? e + 1.0 : e;
    double t = (m - 1.0) / (m + 1.0);
    double t2 = t * t;
    double p = 1.0 / 21.0;
    p = p * t2 + 1.0 / 19.0;
    p = p * t2 + 1.0 / 17.0;
    p = p * t2 + 1.0 / 15.0;
    p = p * t2 + 1.0 / 13.0;
    p = p * t2 + 1.0 / 11.0;
    p = p * t2 + 1.0 / 9.0;
    p = p * t2 + 1.0 / 7.0;
    p = p * t2 + 1.0 / 5.0;
    p = p * t2 + 1.0 / 3.0;
    p = p * t2 + 1.0;
    double y = e * ln2_hi + (2.0 * t * p + e * ln2_lo);
    y = x != x ? x : y;
    y = x == (double)INFINITY ? x : y;
    return y;
}

GMM_INLINE int exp_d_body(double *GMM_RESTRICT x, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; ++i) x[i] = exp1_d(x[i]);
    return 0;
}

GMM_INLINE int exp_f_body(float *GMM_RESTRICT x, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; ++i) x[i] = exp1_f(x[i]);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* log-sum-exp and argmax of a block, components in rows, samples in columns  */
/* ------------------------------------------------------------------------- */

/* wlp is k x ld (component-major); columns 0..n-1 are the block's samples, so
 * every loop below runs along the samples and vectorises. */
#define GMM_LSE_BODY(T, EXP_BODY)                                                   \
    double *GMM_RESTRICT s = work;                                                  \
    T *GMM_RESTRICT m = (T *)(work + n);                                            \
    for (ptrdiff_t i = 0; i < n; ++i) m[i] = wlp[i];                                \
    for (ptrdiff_t c = 1; c < k; ++c) {                                             \
        const T *GMM_RESTRICT row = wlp + c * ld;                                   \
        for (ptrdiff_t i = 0; i < n; ++i) {                                         \
            const T v = row[i];                                                     \
            m[i] = (v > m[i] || v != v) ? v : m[i];                                 \
        }                                                                           \
    }                                                                               \
    /* a sample at -inf under every component keeps -inf: its exp is 0 */          \
    for (ptrdiff_t i = 0; i < n; ++i) m[i] = m[i] == -(T)INFINITY ? (T)0 : m[i];   \
    for (ptrdiff_t i = 0; i < n; ++i) s[i] = 0.0;                                   \
    for (ptrdiff_t c = 0; c < k; ++c) {                                             \
        T *GMM_RESTRICT row = wlp + c * ld;                                         \
        for (ptrdiff_t i = 0; i < n; ++i) row[i] -= m[i];                           \
        EXP_BODY(row, n);                                                           \
        for (ptrdiff_t i = 0; i < n; ++i) s[i] += (double)row[i];                   \
    }                                                                               \
    for (ptrdiff_t i = 0; i < n; ++i) {                                             \
        const double si = s[i];                                                     \
        lpn[i] = si > 0.0 ? (double)m[i] + log1_d(si) : (si == 0.0 ? -INFINITY : si); \
        s[i] = si > 0.0 ? 1.0 / si : 0.0;                                           \
    }                                                                               \
    for (ptrdiff_t c = 0; c < k; ++c) {                                             \
        T *GMM_RESTRICT row = wlp + c * ld;                                         \
        for (ptrdiff_t i = 0; i < n; ++i) row[i] = (T)(row[i] * s[i]);              \
    }                                                                               \
    return 0;

GMM_INLINE int lse_cols_d_body(double *GMM_RESTRICT wlp, ptrdiff_t k, ptrdiff_t n, ptrdiff_t ld,
                               double *GMM_RESTRICT lpn, double *GMM_RESTRICT work)
{
    GMM_LSE_BODY(double, exp_d_body)
}

GMM_INLINE int lse_cols_f_body(float *GMM_RESTRICT wlp, ptrdiff_t k, ptrdiff_t n, ptrdiff_t ld,
                               double *GMM_RESTRICT lpn, double *GMM_RESTRICT work)
{
    GMM_LSE_BODY(float, exp_f_body)
}

/* labels[i] = argmax_c wlp[c * ld + i] (the first on ties, as numpy.argmax) */
#define GMM_ARGMAX_BODY(T)                                                          \
    T *GMM_RESTRICT best = (T *)work;                                               \
    for (ptrdiff_t i = 0; i < n; ++i) {                                             \
        best[i] = wlp[i];                                                           \
        labels[i] = 0;                                                              \
    }                                                                               \
    for (ptrdiff_t c = 1; c < k; ++c) {                                             \
        const T *GMM_RESTRICT row = wlp + c * ld;                                   \
        for (ptrdiff_t i = 0; i < n; ++i) {                                         \
            const int up = row[i] > best[i];                                        \
            best[i] = up ? row[i] : best[i];                                        \
            labels[i] = up ? c : labels[i];                                         \
        }                                                                           \
    }                                                                               \
    return 0;

GMM_INLINE int argmax_cols_d_body(const double *GMM_RESTRICT wlp, ptrdiff_t k, ptrdiff_t n,
                                  ptrdiff_t ld, ptrdiff_t *GMM_RESTRICT labels,
                                  double *GMM_RESTRICT work)
{
    GMM_ARGMAX_BODY(double)
}

GMM_INLINE int argmax_cols_f_body(const float *GMM_RESTRICT wlp, ptrdiff_t k, ptrdiff_t n,
                                  ptrdiff_t ld, ptrdiff_t *GMM_RESTRICT labels,
                                  double *GMM_RESTRICT work)
{
    GMM_ARGMAX_BODY(float)
}

/* ------------------------------------------------------------------------- */
/* full covariance, few features: rows in the vector lanes                    */
/* ------------------------------------------------------------------------- */

#define GMM_FULL_SMALL_BODY(T)                                                      \
    T *GMM_RESTRICT xt = work;              /* d x n: (x - shift), transposed */   \
    T *GMM_RESTRICT z = work + d * n;       /* d x n: xt - delta_c */              \
    T *GMM_RESTRICT acc = work + 2 * d * n; /* n */                               \
    T *GMM_RESTRICT sq = acc + n;           /* n */                               \
    for (ptrdiff_t i = 0; i < n; ++i)                                               \
        for (ptrdiff_t l = 0; l < d; ++l) xt[l * n + i] = X[i * d + l] - shift[l]; \
    for (ptrdiff_t c = 0; c < k; ++c) {                                             \
        const T *u = U + c * d * d;                                                 \
        for (ptrdiff_t l = 0; l < d; ++l) {                                         \
            const T dl = delta[c * d + l];                                          \
            for (ptrdiff_t i = 0; i < n; ++i) z[l * n + i] = xt[l * n + i] - dl;    \
        }                                                                           \
        for (ptrdiff_t i = 0; i < n; ++i) sq[i] = 0;                                \
        for (ptrdiff_t j = 0; j < d; ++j) {                                         \
            const T u0 = u[j];                                                      \
            for (ptrdiff_t i = 0; i < n; ++i) acc[i] = z[i] * u0;                   \
            for (ptrdiff_t l = 1; l <= j; ++l) {                                    \
                const T ul = u[l * d + j];                                          \
                for (ptrdiff_t i = 0; i < n; ++i) acc[i] += z[l * n + i] * ul;      \
            }                                                                       \
            for (ptrdiff_t i = 0; i < n; ++i) sq[i] += acc[i] * acc[i];             \
        }                                                                           \
        const double cc = cst[c];                                                   \
        for (ptrdiff_t i = 0; i < n; ++i) wlp[c * ld + i] = (T)(cc - 0.5 * sq[i]);  \
    }                                                                               \
    return 0;

GMM_INLINE int full_small_wlp_d_body(const double *GMM_RESTRICT X, ptrdiff_t n, ptrdiff_t d,
                                     ptrdiff_t k, const double *GMM_RESTRICT shift,
                                     const double *GMM_RESTRICT delta,
                                     const double *GMM_RESTRICT U, const double *GMM_RESTRICT cst,
                                     double *GMM_RESTRICT wlp, ptrdiff_t ld,
                                     double *GMM_RESTRICT work)
{
    GMM_FULL_SMALL_BODY(double)
}

GMM_INLINE int full_small_wlp_f_body(const float *GMM_RESTRICT X, ptrdiff_t n, ptrdiff_t d,
                                     ptrdiff_t k, const float *GMM_RESTRICT shift,
                                     const float *GMM_RESTRICT delta,
                                     const float *GMM_RESTRICT U, const double *GMM_RESTRICT cst,
                                     float *GMM_RESTRICT wlp, ptrdiff_t ld,
                                     float *GMM_RESTRICT work)
{
    GMM_FULL_SMALL_BODY(float)
}

/* ------------------------------------------------------------------------- */
/* full covariance, more features: the elementwise parts around BLAS          */
/* ------------------------------------------------------------------------- */

/* Z[i, :] = s_i (X[i, :] - mu) with s_i = sqrt(r[i * r_stride]), or 1 when r is NULL. */
#define GMM_DIFF_ROWS_BODY(T, SQRT)                                                 \
    for (ptrdiff_t i = 0; i < n; ++i) {                                             \
        const T s = r != NULL ? SQRT(r[i * r_stride]) : (T)1;                       \
        const T *GMM_RESTRICT x = X + i * d;                                        \
        T *GMM_RESTRICT z = Z + i * d;                                              \
        for (ptrdiff_t j = 0; j < d; ++j) z[j] = s * (x[j] - mu[j]);                \
    }                                                                               \
    return 0;

GMM_INLINE int diff_rows_d_body(const double *GMM_RESTRICT X, ptrdiff_t n, ptrdiff_t d,
                                const double *GMM_RESTRICT mu, const double *GMM_RESTRICT r,
                                ptrdiff_t r_stride, double *GMM_RESTRICT Z)
{
    GMM_DIFF_ROWS_BODY(double, sqrt)
}

GMM_INLINE int diff_rows_f_body(const float *GMM_RESTRICT X, ptrdiff_t n, ptrdiff_t d,
                                const float *GMM_RESTRICT mu, const float *GMM_RESTRICT r,
                                ptrdiff_t r_stride, float *GMM_RESTRICT Z)
{
    GMM_DIFF_ROWS_BODY(float, sqrtf)
}

/* out[i * out_stride] = cst - 1/2 ||Y[i, :]||^2, eight partial sums per row so that
 * the squares vectorise without reassociating a reduction. */
#define GMM_HALF_SQNORM_BODY(T)                                                     \
    for (ptrdiff_t i = 0; i < n; ++i) {                                             \
        const T *GMM_RESTRICT y = Y + i * d;                                        \
        T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                        \
        ptrdiff_t j = 0;                                                            \
        for (; j + 8 <= d; j += 8)                                                  \
            for (int v = 0; v < 8; ++v) acc[v] += y[j + v] * y[j + v];              \
        T s = 0;                                                                    \
        for (; j < d; ++j) s += y[j] * y[j];                                        \
        s += ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])); \
        out[i * out_stride] = (T)(cst - 0.5 * (double)s);                           \
    }                                                                               \
    return 0;

GMM_INLINE int half_sqnorm_d_body(const double *GMM_RESTRICT Y, ptrdiff_t n, ptrdiff_t d,
                                  double cst, double *GMM_RESTRICT out, ptrdiff_t out_stride)
{
    GMM_HALF_SQNORM_BODY(double)
}

GMM_INLINE int half_sqnorm_f_body(const float *GMM_RESTRICT Y, ptrdiff_t n, ptrdiff_t d,
                                  double cst, float *GMM_RESTRICT out, ptrdiff_t out_stride)
{
    GMM_HALF_SQNORM_BODY(float)
}

/* ------------------------------------------------------------------------- */
/* One function per entry point, compiled once per instruction set           */
/* ------------------------------------------------------------------------- */

#ifdef GMM_X86_DISPATCH
#define GMM_VERSIONS(name, params, args)                                            \
    static int name##_generic params { return name##_body args; }                   \
    GMM_TARGET_AVX2 static int name##_avx2 params { return name##_body args; }      \
    GMM_TARGET_AVX512 static int name##_avx512 params { return name##_body args; }  \
    static int(*name##_impl) params = name##_generic;                               \
    int gmm_##name params { return name##_impl args; }
#else
#define GMM_VERSIONS(name, params, args)                                            \
    int gmm_##name params { return name##_body args; }
#endif

GMM_VERSIONS(exp_d, (double *x, ptrdiff_t n), (x, n))
GMM_VERSIONS(exp_f, (float *x, ptrdiff_t n), (x, n))

GMM_INLINE int log_d_body(double *GMM_RESTRICT x, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; ++i) x[i] = log1_d(x[i]);
    return 0;
}

GMM_VERSIONS(log_d, (double *x, ptrdiff_t n), (x, n))
GMM_VERSIONS(lse_cols_d,
             (double *wlp, ptrdiff_t k, ptrdiff_t n, ptrdiff_t ld, double *lpn, double *work),
             (wlp, k, n, ld, lpn, work))
GMM_VERSIONS(lse_cols_f,
             (float *wlp, ptrdiff_t k, ptrdiff_t n, ptrdiff_t ld, double *lpn, double *work),
             (wlp, k, n, ld, lpn, work))
GMM_VERSIONS(argmax_cols_d,
             (const double *wlp, ptrdiff_t k, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t *labels,
              double *work),
             (wlp, k, n, ld, labels, work))
GMM_VERSIONS(argmax_cols_f,
             (const float *wlp, ptrdiff_t k, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t *labels,
              double *work),
             (wlp, k, n, ld, labels, work))
GMM_VERSIONS(full_small_wlp_d,
             (const double *X, ptrdiff_t n, ptrdiff_t d, ptrdiff_t k, const double *shift,
              const double *delta, const double *U, const double *cst, double *wlp,
              ptrdiff_t ld, double *work),
             (X, n, d, k, shift, delta, U, cst, wlp, ld, work))
GMM_VERSIONS(full_small_wlp_f,
             (const float *X, ptrdiff_t n, ptrdiff_t d, ptrdiff_t k, const float *shift,
              const float *delta, const float *U, const double *cst, float *wlp,
              ptrdiff_t ld, float *work),
             (X, n, d, k, shift, delta, U, cst, wlp, ld, work))

GMM_VERSIONS(diff_rows_d,
             (const double *X, ptrdiff_t n, ptrdiff_t d, const double *mu, const double *r,
              ptrdiff_t r_stride, double *Z),
             (X, n, d, mu, r, r_stride, Z))
GMM_VERSIONS(diff_rows_f,
             (const float *X, ptrdiff_t n, ptrdiff_t d, const float *mu, const float *r,
              ptrdiff_t r_stride, float *Z),
             (X, n, d, mu, r, r_stride, Z))
GMM_VERSIONS(half_sqnorm_d,
             (const double *Y, ptrdiff_t n, ptrdiff_t d, double cst, double *out,
              ptrdiff_t out_stride),
             (Y, n, d, cst, out, out_stride))
GMM_VERSIONS(half_sqnorm_f,
             (const float *Y, ptrdiff_t n, ptrdiff_t d, double cst, float *out,
              ptrdiff_t out_stride),
             (Y, n, d, cst, out, out_stride))

static int simd_level = 0;

int gmm_simd_level(void) { return simd_level; }

int gmm_simd_init(void)
{
#ifdef GMM_X86_DISPATCH
    int level = 0;
    const char *cap = getenv("GMMCORE_SIMD");
    int max_level = 2;
    if (cap != NULL) {
        if (strcmp(cap, "generic") == 0) max_level = 0;
        else if (strcmp(cap, "avx2") == 0) max_level = 1;
    }
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) level = 1;
    if (level == 1 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
        level = 2;
    if (level > max_level) level = max_level;
#define GMM_PICK(name)                                                              \
    name##_impl = level == 2 ? name##_avx512 : level == 1 ? name##_avx2 : name##_generic
    GMM_PICK(exp_d);
    GMM_PICK(exp_f);
    GMM_PICK(log_d);
    GMM_PICK(lse_cols_d);
    GMM_PICK(lse_cols_f);
    GMM_PICK(argmax_cols_d);
    GMM_PICK(argmax_cols_f);
    GMM_PICK(full_small_wlp_d);
    GMM_PICK(full_small_wlp_f);
    GMM_PICK(diff_rows_d);
    GMM_PICK(diff_rows_f);
    GMM_PICK(half_sqnorm_d);
    GMM_PICK(half_sqnorm_f);
#undef GMM_PICK
    simd_level = level;
#endif
    return simd_level;
}
