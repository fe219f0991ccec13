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

/*
 * Two builds of the same loops:
 * - GNU C (GCC, Clang): vector extensions for the register tiles, and on x86-64 one
 *   clone per instruction set chosen at run time;
 * - portable C99 (MSVC, any other compiler, or -DGMM_PORTABLE to test it with GCC):
 *   the same arithmetic as plain loops, one row per tile, no dispatch.
 */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(GMM_PORTABLE)
#define GMM_GNU 1
#endif

#if defined(GMM_GNU)
#define GMM_INLINE static inline __attribute__((always_inline))
#define GMM_RESTRICT __restrict__
#define GMM_UNROLL_8 _Pragma("GCC unroll 8")
#elif defined(_MSC_VER)
#define GMM_INLINE static __forceinline
#define GMM_RESTRICT __restrict
#define GMM_UNROLL_8
#else
#define GMM_INLINE static inline
#define GMM_RESTRICT restrict
#define GMM_UNROLL_8
#endif

/* __builtin_cpu_supports needs the compiler's runtime library: not there under
 * clang-cl, which links against MSVC's. */
#if defined(GMM_GNU) && defined(__x86_64__) && !defined(_MSC_VER)
#define GMM_X86_DISPATCH 1
#define GMM_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define GMM_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")))
#include <immintrin.h>
#endif

/* Requests 1/parts of the lines due in s (rounded up), parts >= 1. */
GMM_INLINE void stream_take(gmm_stream *s, ptrdiff_t parts)
{
#if defined(GMM_GNU)
    if (s == NULL || s->next >= s->due) return;
    const ptrdiff_t lines = ((s->due - s->next + 63) / 64 + parts - 1) / parts;
    const char *p = s->next;
    for (ptrdiff_t q = 0; q < lines && p < s->due; ++q, p += 64) __builtin_prefetch(p, 0, 3);
    s->next = p < s->due ? p : s->due;
#else
    (void)s;
    (void)parts;
#endif
}

/* How many lines 1/parts of those due in s comes to (for stream_line). */
GMM_INLINE ptrdiff_t stream_quota(const gmm_stream *s, ptrdiff_t parts)
{
#if defined(GMM_GNU)
    if (s == NULL || s->next >= s->due) return 0;
    return ((s->due - s->next + 63) / 64 + parts - 1) / parts;
#else
    (void)s;
    (void)parts;
    return 0;
#endif
}

/* Requests the next line due in s, if any, into L2: one at a time, spread over a
 * loop. */
GMM_INLINE void stream_line(gmm_stream *s)
{
#if defined(GMM_GNU)
    if (s->next >= s->due) return;
    __builtin_prefetch(s->next, 0, 2);
    s->next += 64;
    if (s->next > s->due) s->next = s->due;
#else
    (void)s;
#endif
}

#if defined(GMM_GNU)
/* One vector type per instruction set, as wide as its registers: _64 for AVX-512,
 * _32 for AVX2, _16 for SSE2 and NEON.  Every tile below is compiled once per
 * width (GMM_FOR_WIDTHS) and each dispatched version takes its own: GCC keeps a
 * vector wider than the target's registers in memory, which makes a tile many
 * times slower. */
typedef double gmm_vd_64 __attribute__((vector_size(64)));
typedef float gmm_vf_64 __attribute__((vector_size(64)));
typedef double gmm_vd_32 __attribute__((vector_size(32)));
typedef float gmm_vf_32 __attribute__((vector_size(32)));
typedef double gmm_vd_16 __attribute__((vector_size(16)));
typedef float gmm_vf_16 __attribute__((vector_size(16)));
/* The same, unaligned and allowed to alias anything: loads by assignment from these,
 * which GCC keeps in registers where a memcpy into an array of vectors can leave the
 * array on the stack (it did in the AVX2 versions). */
typedef double gmm_vdu_64 __attribute__((vector_size(64), aligned(8), may_alias));
typedef float gmm_vfu_64 __attribute__((vector_size(64), aligned(4), may_alias));
typedef double gmm_vdu_32 __attribute__((vector_size(32), aligned(8), may_alias));
typedef float gmm_vfu_32 __attribute__((vector_size(32), aligned(4), may_alias));
typedef double gmm_vdu_16 __attribute__((vector_size(16), aligned(8), may_alias));
typedef float gmm_vfu_16 __attribute__((vector_size(16), aligned(4), may_alias));
#else
/* Plain C: a tile is one row, and the same code runs on scalars. */
typedef double gmm_vd_64, gmm_vd_32, gmm_vd_16;
typedef float gmm_vf_64, gmm_vf_32, gmm_vf_16;
typedef double gmm_vdu_64, gmm_vdu_32, gmm_vdu_16;
typedef float gmm_vfu_64, gmm_vfu_32, gmm_vfu_16;
#endif

/* ------------------------------------------------------------------------- */
/* exp                                                                        */
/* ------------------------------------------------------------------------- */

/* exp(x) for x <= 709 to about 1 ulp; 0 below -708, +inf above 709, NaN for NaN. */
GMM_INLINE double exp1_d(double x)
{
    const double log2e = 1.4426950408889634074;
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52: its ulp is 1 */
    /* no clamp of x: out of range, the arithmetic below gives garbage (or NaN from
     * inf - inf) that the two selects at the end replace */
    double kd = x * log2e + shifter; /* round(x / ln 2) in the low mantissa bits */
    double k = kd - shifter;
    double r = (x - k * ln2_hi) - k * ln2_lo; /* |r| <= ln(2) / 2 */
    /* Taylor to r^13 (error < 1e-17): exp r = 1 + (r + r^2 T(r)), T by Estrin's
     * scheme, so that the chain of dependent operations is 6 long, not 13. */
    double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    double a0 = 1.0 / 2.0 + r * (1.0 / 6.0);
    double a1 = 1.0 / 24.0 + r * (1.0 / 120.0);
    double a2 = 1.0 / 720.0 + r * (1.0 / 5040.0);
    double a3 = 1.0 / 40320.0 + r * (1.0 / 362880.0);
    double a4 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0);
    double a5 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0);
    double b0 = a0 + r2 * a1, b1 = a2 + r2 * a3, b2 = a4 + r2 * a5;
    double t = (b0 + r4 * b1) + r8 * b2;
    double p = 1.0 + (r + r2 * t);
    /* kd's bits less the shifter's are k; in unsigned arithmetic, which wraps
     * (x out of range makes k anything), and only its low 12 bits are kept */
    uint64_t bits;
    memcpy(&bits, &kd, sizeof bits);
    bits = (bits - UINT64_C(0x4338000000000000) + 1023u) << 52;
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
    float kd = x * log2e + shifter; /* x not clamped: see exp1_d */
    float k = kd - shifter;
    float r = (x - k * ln2_hi) - k * ln2_lo;
    float p = 1.0f / 5040.0f; /* Taylor to r^7: error < 6e-9 */
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t bits; /* as in exp1_d */
    memcpy(&bits, &kd, sizeof bits);
    bits = (bits - UINT32_C(0x4B400000) + 127u) << 23;
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

#ifdef GMM_X86_DISPATCH
/*
 * exp of 8 doubles for the AVX-512 version, with a table of 2^(j/16): x = (16 m + j)
 * ln 2 / 16 + r with |r| <= ln 2 / 32, exp x = 2^m 2^(j/16) e^r.  The table's 16
 * entries fit in two registers, so a lookup is one two-source permute (a shuffle,
 * not an arithmetic instruction), and the smaller range needs a polynomial of
 * degree 7 where exp1_d's needs 13: 12 multiplies and adds where exp1_d has 18.
 * Each entry is the double nearest 2^(j/16) plus the rest (hi + lo), and the
 * result is 2^m (hi + (hi (e^r - 1) + lo)): about 0.5 ulp.  The same cut-offs and
 * NaN handling as exp1_d.
 */
typedef long long gmm_vi_64 __attribute__((vector_size(64)));
typedef unsigned long long gmm_vu_64 __attribute__((vector_size(64)));

GMM_TARGET_AVX512 GMM_INLINE gmm_vd_64 exp_table_64(gmm_vd_64 x)
{
    static const double hi[16] = {
        1.0, 1.0442737824274138, 1.0905077326652577, 1.1387886347566916,
        1.189207115002721, 1.241857812073484, 1.2968395546510096, 1.3542555469368927,
        1.4142135623730951, 1.4768261459394993, 1.5422108254079407, 1.6104903319492543,
        1.681792830507429, 1.7562521603732995, 1.8340080864093424, 1.9152065613971474};
    static const double lo[16] = {
        0.0, 8.551889705537965e-17, -3.046782079812471e-17, 8.912812676025408e-17,
        3.982015231465646e-17, 4.658027591836937e-17, 2.5382502794888315e-17,
        7.70094837980299e-17, -9.667293313452913e-17, -3.483994556892796e-17,
        7.949834809697621e-17, 2.4707192569797888e-17, 8.199010020581497e-17,
        2.960140695448873e-17, 3.283107224245627e-17, -1.0619946056195963e-16};
    const double inv = 23.083120654223414;      /* 16 / ln 2 */
    const double c_hi = 0.04332169875851832;    /* ln 2 / 16, to 30 bits: k c_hi is exact */
    const double c_lo = 2.6478258536308025e-11; /* the rest of ln 2 / 16 */
    const double shifter = 6755399441055744.0;  /* 1.5 * 2^52 */
    const gmm_vd_64 kd = x * inv + shifter;     /* k = round(16 x / ln 2), low bits */
    const gmm_vd_64 k = kd - shifter;
    const gmm_vd_64 r = (x - k * c_hi) - k * c_lo;
    gmm_vd_64 q = (1.0 / 720.0) + r * (1.0 / 5040.0);
    q = (1.0 / 120.0) + r * q;
    q = (1.0 / 24.0) + r * q;
    q = (1.0 / 6.0) + r * q;
    q = 0.5 + r * q;
    const gmm_vd_64 p = r + (r * r) * q; /* e^r - 1 */
    gmm_vi_64 bits;
    memcpy(&bits, &kd, sizeof bits);
    bits -= 0x4338000000000000LL; /* k, as an integer (anything out of range) */
    const __m512i j = (__m512i)(bits & 15);
    const gmm_vd_64 t_hi = (gmm_vd_64)_mm512_permutex2var_pd(
        _mm512_loadu_pd(hi), j, _mm512_loadu_pd(hi + 8));
    const gmm_vd_64 t_lo = (gmm_vd_64)_mm512_permutex2var_pd(
        _mm512_loadu_pd(lo), j, _mm512_loadu_pd(lo + 8));
    /* 2^m, m = k >> 4 (floor), from its exponent bits; wraps out of range */
    const gmm_vu_64 sbits = (gmm_vu_64)((bits >> 4) + 1023) << 52;
    gmm_vd_64 scale;
    memcpy(&scale, &sbits, sizeof scale);
    const gmm_vd_64 y = (t_hi + (t_hi * p + t_lo)) * scale;
    /* 0 below the cut-off, +inf above; NaN has come through the arithmetic */
    const gmm_vi_64 under = x < -708.0, over = x > 709.0;
    const gmm_vi_64 inf = (gmm_vi_64){0} + 0x7FF0000000000000LL;
    gmm_vi_64 ybits;
    memcpy(&ybits, &y, sizeof ybits);
    ybits = (ybits & ~(under | over)) | (inf & over);
    gmm_vd_64 out;
    memcpy(&out, &ybits, sizeof out);
    return out;
}

GMM_TARGET_AVX512 GMM_INLINE int exp_d_body_table(double *GMM_RESTRICT x, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        gmm_vd_64 v;
        memcpy(&v, x + i, sizeof v);
        v = exp_table_64(v);
        memcpy(x + i, &v, sizeof v);
    }
    if (i < n) { /* the last values in a whole vector too: the same bits anywhere */
        double buf[8] = {0};
        gmm_vd_64 v;
        memcpy(buf, x + i, (size_t)(n - i) * sizeof(double));
        memcpy(&v, buf, sizeof v);
        v = exp_table_64(v);
        memcpy(buf, &v, sizeof v);
        memcpy(x + i, buf, (size_t)(n - i) * sizeof(double));
    }
    return 0;
}
#endif

GMM_INLINE int exp_f_body(float *GMM_RESTRICT x, ptrdiff_t n)
{
    for (ptrdiff_t i = 0; i < n; ++i) x[i] = exp1_f(x[i]);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* log-sum-exp and argmax of a block, components in rows, samples in columns  */
/* ------------------------------------------------------------------------- */

/* wlp is k x ld (component-major); columns 0..n-1 are the block's samples, so
 * every loop below runs along the samples and vectorises.  Each sample's sum of
 * exponentials, and then its reciprocal, is kept in ST: float for float32 blocks,
 * whose sums of k terms in [0, 1], one of them 1, are then off by about k eps
 * relatively, less than the float32 log-densities themselves (eps |log p|), and
 * which take 6-9% off W2's float32 diag, spherical and tied iterations (one thread,
 * measured) against float64 sums that every vector converts to and from. */
#define GMM_LSE_BODY(T, ST, EXP1, VLOOP)                                             \
    ST *GMM_RESTRICT s = (ST *)work;                                                \
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
        ptrdiff_t i = 0;                                                            \
        stream_take(pf, k - c);                                                     \
        VLOOP                                                                       \
        for (; i < n; ++i) {                                                        \
            const T e = EXP1(row[i] - m[i]);                                        \
            row[i] = e;                                                             \
            s[i] += (ST)e;                                                          \
        }                                                                           \
    }                                                                               \
    for (ptrdiff_t i = 0; i < n; ++i) {                                             \
        const double si = s[i];                                                     \
        lpn[i] = si > 0.0 ? (double)m[i] + log1_d(si) : (si == 0.0 ? -INFINITY : si); \
        s[i] = (ST)(si > 0.0 ? 1.0 / si : 0.0);                                     \
    }                                                                               \
    for (ptrdiff_t c = 0; c < k; ++c) {                                             \
        T *GMM_RESTRICT row = wlp + c * ld;                                         \
        for (ptrdiff_t i = 0; i < n; ++i) row[i] = (T)(row[i] * s[i]);              \
    }                                                                               \
    return 0;

GMM_INLINE int lse_cols_d_body(double *GMM_RESTRICT wlp, ptrdiff_t k, ptrdiff_t n, ptrdiff_t ld,
                               double *GMM_RESTRICT lpn, double *GMM_RESTRICT work,
                               gmm_stream *pf)
{
    GMM_LSE_BODY(double, double, exp1_d, )
}

#ifdef GMM_X86_DISPATCH
/* The AVX-512 version: vectors of samples through exp_table_64, the last few
 * padded to a whole vector (so that a sample's bits do not depend on where in its
 * block it falls); nothing is left for the scalar loop. */
#define GMM_LSE_TABLE_LOOP                                                          \
    for (; i + 8 <= n; i += 8) {                                                    \
        gmm_vd_64 v, mv, sv;                                                        \
        memcpy(&v, row + i, sizeof v);                                              \
        memcpy(&mv, m + i, sizeof mv);                                              \
        v = exp_table_64(v - mv);                                                   \
        memcpy(row + i, &v, sizeof v);                                              \
        memcpy(&sv, s + i, sizeof sv);                                              \
        sv += v;                                                                    \
        memcpy(s + i, &sv, sizeof sv);                                              \
    }                                                                               \
    if (i < n) {                                                                    \
        double buf[8] = {0};                                                        \
        gmm_vd_64 v;                                                                \
        for (ptrdiff_t q = 0; q < n - i; ++q) buf[q] = row[i + q] - m[i + q];       \
        memcpy(&v, buf, sizeof v);                                                  \
        v = exp_table_64(v);                                                        \
        memcpy(buf, &v, sizeof v);                                                  \
        for (ptrdiff_t q = 0; q < n - i; ++q) {                                     \
            row[i + q] = buf[q];                                                    \
            s[i + q] += buf[q];                                                     \
        }                                                                           \
        i = n;                                                                      \
    }

GMM_TARGET_AVX512 GMM_INLINE int lse_cols_d_body_table(
    double *GMM_RESTRICT wlp, ptrdiff_t k, ptrdiff_t n, ptrdiff_t ld, double *GMM_RESTRICT lpn,
    double *GMM_RESTRICT work, gmm_stream *pf)
{
    GMM_LSE_BODY(double, double, exp1_d, GMM_LSE_TABLE_LOOP)
}
#endif

GMM_INLINE int lse_cols_f_body(float *GMM_RESTRICT wlp, ptrdiff_t k, ptrdiff_t n, ptrdiff_t ld,
                               double *GMM_RESTRICT lpn, double *GMM_RESTRICT work,
                               gmm_stream *pf)
{
    GMM_LSE_BODY(float, float, exp1_f, )
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
/* few features (d <= GMM_SMALL_D): register tiles of rows                    */
/* ------------------------------------------------------------------------- */

/*
 * The block is first transposed, xt[l][i] = x[i][l] - shift[l] (d x ld), and the
 * feature-major statistics design, in double, is written along the rows:
 *   diag      [1, z, z^2]       spherical [1, z, |z|^2]      tied [1, z]
 *   full      [1, z, z_j z_l for l <= j]
 * Then tiles of one vector of rows (8 doubles or 16 floats on AVX-512) are held in
 * registers, one vector per feature, with d a compile-time constant (1..8) so that
 * every loop over features unrolls, and the log-densities of all components are
 * computed from them:
 *   diag      wlp = cst - 1/2 sum_l p_cl (z_l - delta_cl)^2
 *   spherical wlp = cst - 1/2 p_c |z - delta_c|^2
 *   tied      wlp = cst - 1/2 |z U - m_c|^2,   m_c = Q[c, 0:d]
 *   full      wlp = cst - 1/2 |(z - delta_c) U_c|^2
 * ld must be a multiple of 16 (the widest tile).
 */
#define GMM_SMALL_D 8

#define GMM_LANES(V, T) ((ptrdiff_t)(sizeof(V) / sizeof(T)))
/* DEF(W) for every vector width W that a version below uses */
#ifdef GMM_X86_DISPATCH
#define GMM_FOR_WIDTHS(DEF) DEF(64) DEF(32) DEF(16)
#else
#define GMM_FOR_WIDTHS(DEF) DEF(16)
#endif

/* float64 tiles read z from the design's rows (the same x - s in double); float32
 * ones from xt, z in float32. */
#define GMM_SMALL_PREP(T)                                                           \
    if (sizeof(T) != sizeof(double))                                                \
        for (ptrdiff_t l = 0; l < D; ++l) {                                         \
            T *GMM_RESTRICT xl = xt + l * ld;                                       \
            const T sl = shift[l];                                                  \
            for (ptrdiff_t i = 0; i < n; ++i) xl[i] = X[i * D + l] - sl;            \
            for (ptrdiff_t i = n; i < ld; ++i) xl[i] = 0;                           \
        }                                                                           \
    {   /* The statistics design, in double with z straight from x: the second   \
         * moments come out of a float64 GEMM around a global shift, so z must    \
         * not carry float32 rounding (it would cancel in S2 - N delta delta^T). */ \
        double *GMM_RESTRICT a = design;                                            \
        for (ptrdiff_t i = 0; i < ld; ++i) a[i] = 1.0;                              \
        for (ptrdiff_t l = 0; l < D; ++l) {                                         \
            double *GMM_RESTRICT al = a + (1 + l) * ld;                             \
            for (ptrdiff_t i = 0; i < n; ++i)                                       \
                al[i] = (double)X[i * D + l] - (double)shift[l];                    \
            for (ptrdiff_t i = n; i < ld; ++i) al[i] = 0.0;                         \
        }                                                                           \
        if (cov == GMM_FULL) {                                                             \
            ptrdiff_t p = 1 + D;                                                    \
            for (ptrdiff_t j = 0; j < D; ++j)                                       \
                for (ptrdiff_t l = 0; l <= j; ++l, ++p)                             \
                    for (ptrdiff_t i = 0; i < ld; ++i)                              \
                        a[p * ld + i] = a[(1 + j) * ld + i] * a[(1 + l) * ld + i];  \
        } else if (cov == GMM_DIAG) {                                                      \
            for (ptrdiff_t l = 0; l < D; ++l)                                       \
                for (ptrdiff_t i = 0; i < ld; ++i)                                  \
                    a[(1 + D + l) * ld + i] = a[(1 + l) * ld + i] * a[(1 + l) * ld + i]; \
        } else if (cov == GMM_SPHERICAL) {                                                      \
            for (ptrdiff_t i = 0; i < ld; ++i) a[(1 + D) * ld + i] = 0.0;           \
            for (ptrdiff_t l = 0; l < D; ++l)                                       \
                for (ptrdiff_t i = 0; i < ld; ++i)                                  \
                    a[(1 + D) * ld + i] += a[(1 + l) * ld + i] * a[(1 + l) * ld + i]; \
        }                                                                           \
    }

/* The tiles: V is the vector type, L its lanes. */
#define GMM_SMALL_TILES(T, V, VU, L)                                                \
    const T *GMM_RESTRICT zt = sizeof(T) == sizeof(double) ? (const T *)(design + ld) : xt; \
    for (ptrdiff_t i0 = 0; i0 < n; i0 += L) {                                       \
        V z[GMM_SMALL_D];                                                           \
        stream_take(pf, (n - i0 + L - 1) / L);                                      \
        for (int l = 0; l < D; ++l) z[l] = *(const VU *)(zt + l * ld + i0);         \
        if (cov == GMM_DIAG) {                                                             \
            for (ptrdiff_t c = 0; c < k; ++c) {                                     \
                V sq = z[0] * 0;                                                    \
                for (int l = 0; l < D; ++l) {                                       \
                    const V t = z[l] - delta[c * D + l];                            \
                    sq += t * t * prec[c * D + l];                                  \
                }                                                                   \
                V out = (T)cst[c] - (T)0.5 * sq;                                    \
                memcpy(wlp + c * ld + i0, &out, sizeof(V));                         \
            }                                                                       \
        } else if (cov == GMM_SPHERICAL) {                                                      \
            for (ptrdiff_t c = 0; c < k; ++c) {                                     \
                V sq = z[0] * 0;                                                    \
                for (int l = 0; l < D; ++l) {                                       \
                    const V t = z[l] - delta[c * D + l];                            \
                    sq += t * t;                                                    \
                }                                                                   \
                V out = (T)cst[c] - ((T)0.5 * prec[c]) * sq;                        \
                memcpy(wlp + c * ld + i0, &out, sizeof(V));                         \
            }                                                                       \
        } else if (cov == GMM_TIED) {                                                      \
            V y[GMM_SMALL_D];                                                       \
            for (int j = 0; j < D; ++j) {                                           \
                y[j] = z[0] * prec[j];                                              \
                for (int l = 1; l <= j; ++l) y[j] += z[l] * prec[l * D + j];        \
            }                                                                       \
            for (ptrdiff_t c = 0; c < k; ++c) {                                     \
                V sq = z[0] * 0;                                                    \
                for (int j = 0; j < D; ++j) {                                       \
                    const V t = y[j] - Q[c * D + j];                                \
                    sq += t * t;                                                    \
                }                                                                   \
                V out = (T)cst[c] - (T)0.5 * sq;                                    \
                memcpy(wlp + c * ld + i0, &out, sizeof(V));                         \
            }                                                                       \
        } else {                                                                    \
            for (ptrdiff_t c = 0; c < k; ++c) {                                     \
                const T *GMM_RESTRICT u = prec + c * D * D;                         \
                V zc[GMM_SMALL_D];                                                  \
                for (int l = 0; l < D; ++l) zc[l] = z[l] - delta[c * D + l];        \
                V sq = z[0] * 0;                                                    \
                for (int j = 0; j < D; ++j) {                                       \
                    V acc = zc[0] * u[j];                                           \
                    for (int l = 1; l <= j; ++l) acc += zc[l] * u[l * D + j];       \
                    sq += acc * acc;                                                \
                }                                                                   \
                V out = (T)cst[c] - (T)0.5 * sq;                                    \
                memcpy(wlp + c * ld + i0, &out, sizeof(V));                         \
            }                                                                       \
        }                                                                           \
    }

#define GMM_SMALL_IMPL(NAME, T, V, VU, L)                                           \
    GMM_INLINE int NAME(const int D, int cov, const T *GMM_RESTRICT X, ptrdiff_t n,  \
                        ptrdiff_t k, const T *GMM_RESTRICT shift,                   \
                        const T *GMM_RESTRICT delta, const T *GMM_RESTRICT prec,    \
                        const T *GMM_RESTRICT Q, const double *GMM_RESTRICT cst,    \
                        T *GMM_RESTRICT wlp, ptrdiff_t ld,                          \
                        double *GMM_RESTRICT design, T *GMM_RESTRICT xt,            \
                        gmm_stream *pf)                                             \
    {                                                                               \
        GMM_SMALL_PREP(T)                                                           \
        GMM_SMALL_TILES(T, V, VU, L)                                                \
        return 0;                                                                   \
    }

#define GMM_SMALL_IMPL_OF(T, TS, W)                                                 \
    GMM_SMALL_IMPL(small_impl_##TS##_##W, T, gmm_v##TS##_##W, gmm_v##TS##u_##W,      \
                   GMM_LANES(gmm_v##TS##_##W, T))
#define GMM_SMALL_IMPLS(W) GMM_SMALL_IMPL_OF(double, d, W) GMM_SMALL_IMPL_OF(float, f, W)
GMM_FOR_WIDTHS(GMM_SMALL_IMPLS)

/* d as a compile-time constant: one inlined copy of the body per d. */
#define GMM_SMALL_ARGS cov, X, n, k, shift, delta, prec, Q, cst, wlp, ld, design, xt, pf
#define GMM_SMALL_SWITCH(IMPL)                                                      \
    switch (d) {                                                                    \
    case 1: return IMPL(1, GMM_SMALL_ARGS);                                         \
    case 2: return IMPL(2, GMM_SMALL_ARGS);                                         \
    case 3: return IMPL(3, GMM_SMALL_ARGS);                                         \
    case 4: return IMPL(4, GMM_SMALL_ARGS);                                         \
    case 5: return IMPL(5, GMM_SMALL_ARGS);                                         \
    case 6: return IMPL(6, GMM_SMALL_ARGS);                                         \
    case 7: return IMPL(7, GMM_SMALL_ARGS);                                         \
    case 8: return IMPL(8, GMM_SMALL_ARGS);                                         \
    default: return -1;                                                             \
    }

/* small_block_<TS>_body_<W> for element type T (TS: d or f) and width W */
#define GMM_SMALL_BODY_OF(T, TS, W)                                                 \
    GMM_INLINE int small_block_##TS##_body_##W(                                     \
        int cov, const T *X, ptrdiff_t n, ptrdiff_t d, ptrdiff_t k, const T *shift, \
        const T *delta, const T *prec, const T *Q, const double *cst, T *wlp,       \
        ptrdiff_t ld, double *design, T *xt, gmm_stream *pf)                        \
    {                                                                               \
        GMM_SMALL_SWITCH(small_impl_##TS##_##W)                                     \
    }
#define GMM_SMALL_BODIES(W) GMM_SMALL_BODY_OF(double, d, W) GMM_SMALL_BODY_OF(float, f, W)
GMM_FOR_WIDTHS(GMM_SMALL_BODIES)

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

/* ------------------------------------------------------------------------- */
/* diag, spherical and tied, more features: feature-major tiles of rows       */
/* ------------------------------------------------------------------------- */

/*
 * The block is transposed once, xt[j * ld + i] = X[i * ldx + j] - shift[j] (zero for
 * n <= i < ld; shift may be NULL), so that every loop below runs along the rows and
 * fills whole vectors, with no reduction across lanes.  Then, for tiles of one vector
 * of rows and GMM_WIDE_CT components held in registers, in direct form (the square is
 * never expanded, so nothing cancels):
 *   cov 1 (tied, xt = y = (x - s) U)   wlp = cst - 1/2 sum_j (y_j - M[c, j])^2
 *   cov 2 (diag)                       wlp = cst - 1/2 sum_j P[c, j] (x_j - M[c, j])^2
 *   cov 3 (spherical)                  wlp = cst - 1/2 P[c] sum_j (x_j - M[c, j])^2
 * with M[c, j] and (diag) P[c, j] stored feature-major, at Mt[j * k + c] and
 * Pt[j * k + c]: a tile's entries for one feature are side by side, one pointer for
 * the tile.  Each element costs a subtraction, a multiplication and a fused
 * multiply-add.  Spherical also keeps sum_j (x_j - M[c, j])^2 in dist (k x ld) when
 * dist is not NULL, for the statistics.
 */
#define GMM_WIDE_CT 8

/* Whole tiles of L x L (L the lanes of the width: 16 floats or 8 doubles in 64
 * bytes) are transposed in registers, by log2(L) rounds of two-source shuffles that
 * swap the off-diagonal h x h blocks of every 2h x 2h block (h = L/2 ... 1); the
 * rest element by element.  The shuffles
 * need __builtin_shufflevector (Clang, GCC 12 and later). */
#if defined(GMM_GNU) && (defined(__clang__) || __GNUC__ >= 12)
#define GMM_TILED_TRANSPOSE 1
#define GMM_ARGS(...) __VA_ARGS__
/* One round for a tile of L vectors of type V: rows a (bit h clear) and a + h swap
 * their off-diagonal h-lane halves; LO keeps a's lanes with bit h clear and takes
 * b's from h below, HI the other way round. */
#define GMM_STAGE(V, L, h, LO, HI)                                                  \
    for (int a = 0; a < L; ++a)                                                     \
        if ((a & h) == 0) {                                                         \
            const V lo = __builtin_shufflevector(r[a], r[a + h], LO);               \
            const V hi = __builtin_shufflevector(r[a], r[a + h], HI);               \
            r[a] = lo;                                                              \
            r[a + h] = hi;                                                          \
        }

/* 8 lanes (8 doubles in 64 bytes, 8 floats in 32) */
#define GMM_TRANSPOSE_8(V)                                                          \
    GMM_STAGE(V, 8, 4, GMM_ARGS(0, 1, 2, 3, 8, 9, 10, 11),                          \
              GMM_ARGS(4, 5, 6, 7, 12, 13, 14, 15))                                 \
    GMM_STAGE(V, 8, 2, GMM_ARGS(0, 1, 8, 9, 4, 5, 12, 13),                          \
              GMM_ARGS(2, 3, 10, 11, 6, 7, 14, 15))                                 \
    GMM_STAGE(V, 8, 1, GMM_ARGS(0, 8, 2, 10, 4, 12, 6, 14),                         \
              GMM_ARGS(1, 9, 3, 11, 5, 13, 7, 15))
/* 4 lanes (4 doubles in 32 bytes, 4 floats in 16) */
#define GMM_TRANSPOSE_4(V)                                                          \
    GMM_STAGE(V, 4, 2, GMM_ARGS(0, 1, 4, 5), GMM_ARGS(2, 3, 6, 7))                  \
    GMM_STAGE(V, 4, 1, GMM_ARGS(0, 4, 2, 6), GMM_ARGS(1, 5, 3, 7))

#ifdef GMM_X86_DISPATCH
/* 64 bytes: 16 floats, 8 doubles */
GMM_INLINE void transpose_tile_f_64(gmm_vf_64 *r)
{
    GMM_STAGE(gmm_vf_64, 16, 8,
              GMM_ARGS(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23),
              GMM_ARGS(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31))
    GMM_STAGE(gmm_vf_64, 16, 4,
              GMM_ARGS(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27),
              GMM_ARGS(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31))
    GMM_STAGE(gmm_vf_64, 16, 2,
              GMM_ARGS(0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29),
              GMM_ARGS(2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31))
    GMM_STAGE(gmm_vf_64, 16, 1,
              GMM_ARGS(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30),
              GMM_ARGS(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31))
}

GMM_INLINE void transpose_tile_d_64(gmm_vd_64 *r) { GMM_TRANSPOSE_8(gmm_vd_64) }
GMM_INLINE void transpose_tile_f_32(gmm_vf_32 *r) { GMM_TRANSPOSE_8(gmm_vf_32) }
GMM_INLINE void transpose_tile_d_32(gmm_vd_32 *r) { GMM_TRANSPOSE_4(gmm_vd_32) }
#endif
GMM_INLINE void transpose_tile_f_16(gmm_vf_16 *r) { GMM_TRANSPOSE_4(gmm_vf_16) }
/* 2 doubles in 16 bytes */
GMM_INLINE void transpose_tile_d_16(gmm_vd_16 *r)
{
    GMM_STAGE(gmm_vd_16, 2, 1, GMM_ARGS(0, 2), GMM_ARGS(1, 3))
}
#endif


/* TILE: whether to use TILE_FN, the in-register transpose of L vectors (without it,
 * the loop alone). */
#define GMM_WIDE_TRANSPOSE_BODY(T, V, VU, L, TILE, TILE_FN)                         \
    ptrdiff_t i_done = 0, j_done = 0;                                               \
    if (TILE) {                                                                     \
        i_done = n / L * L;                                                         \
        j_done = d / L * L;                                                         \
        for (ptrdiff_t i0 = 0; i0 < i_done; i0 += L)                                \
            for (ptrdiff_t j0 = 0; j0 < j_done; j0 += L) {                          \
                V r[L];                                                             \
                for (int q = 0; q < L; ++q) r[q] = *(const VU *)(X + (i0 + q) * ldx + j0); \
                GMM_TRANSPOSE_TILE(TILE_FN, r);                                     \
                for (int q = 0; q < L; ++q) {                                       \
                    if (shift != NULL) r[q] -= shift[j0 + q];                       \
                    memcpy(xt + (j0 + q) * ld + i0, &r[q], sizeof(V));              \
                }                                                                   \
            }                                                                       \
    }                                                                               \
    /* the columns past the whole tiles, for the tiled rows; then the last rows */  \
    for (ptrdiff_t i = 0; i < n; ++i) {                                             \
        const T *GMM_RESTRICT x = X + i * ldx;                                      \
        for (ptrdiff_t j = i < i_done ? j_done : 0; j < d; ++j)                     \
            xt[j * ld + i] = shift != NULL ? x[j] - shift[j] : x[j];                \
    }                                                                               \
    for (ptrdiff_t j = 0; j < d; ++j)                                               \
        for (ptrdiff_t i = n; i < ld; ++i) xt[j * ld + i] = 0;                      \
    return 0;

#ifdef GMM_TILED_TRANSPOSE
#define GMM_TRANSPOSE_TILE(fn, r) fn(r)
#define GMM_TILE_ON 1
#else
#define GMM_TRANSPOSE_TILE(fn, r) (void)(r)
#define GMM_TILE_ON 0
#endif

/* transpose_<TS>_body_<W> for element type T (TS: d or f) and width W */
#define GMM_TRANSPOSE_BODY_OF(T, TS, W)                                             \
    GMM_INLINE int transpose_##TS##_body_##W(const T *GMM_RESTRICT X, ptrdiff_t n,  \
                                             ptrdiff_t d, ptrdiff_t ldx,            \
                                             const T *GMM_RESTRICT shift,           \
                                             T *GMM_RESTRICT xt, ptrdiff_t ld)      \
    {                                                                               \
        GMM_WIDE_TRANSPOSE_BODY(T, gmm_v##TS##_##W, gmm_v##TS##u_##W,               \
                                GMM_LANES(gmm_v##TS##_##W, T), GMM_TILE_ON,         \
                                transpose_tile_##TS##_##W)                          \
    }
#define GMM_TRANSPOSE_BODIES(W)                                                     \
    GMM_TRANSPOSE_BODY_OF(double, d, W) GMM_TRANSPOSE_BODY_OF(float, f, W)
GMM_FOR_WIDTHS(GMM_TRANSPOSE_BODIES)

/* One tile: rows i0 .. i0 + L, components c0 .. c0 + CT (CT a constant: the
 * accumulators stay in registers; COV 2 or not, a constant too). */
#define GMM_WIDE_TILE(T, V, CT, COV)                                                \
    {                                                                               \
        V acc[CT];                                                                  \
        for (int q = 0; q < CT; ++q) acc[q] = zero;                                 \
        for (ptrdiff_t j = 0; j < d; ++j) {                                         \
            V x;                                                                    \
            memcpy(&x, xt + j * ld + i0, sizeof(V));                                \
            for (int q = 0; q < CT; ++q) {                                          \
                const V t = x - Mt[j * k + c0 + q];                                 \
                if (COV == 2) acc[q] += (t * Pt[j * k + c0 + q]) * t;               \
                else acc[q] += t * t;                                               \
            }                                                                       \
        }                                                                           \
        for (int q = 0; q < CT; ++q) {                                              \
            const T h = cov == GMM_SPHERICAL ? (T)0.5 * Pt[c0 + q] : (T)0.5;                    \
            const V out = (T)cst[c0 + q] - h * acc[q];                              \
            memcpy(wlp + (c0 + q) * ld + i0, &out, sizeof(V));                      \
            if (dist != NULL) memcpy(dist + (c0 + q) * ld + i0, &acc[q], sizeof(V)); \
        }                                                                           \
    }

#define GMM_WIDE_TILES(T, V, COV)                                                   \
    ptrdiff_t c0 = 0;                                                               \
    for (; c0 + GMM_WIDE_CT <= k; c0 += GMM_WIDE_CT) GMM_WIDE_TILE(T, V, GMM_WIDE_CT, COV) \
    for (; c0 < k; ++c0) GMM_WIDE_TILE(T, V, 1, COV)

#define GMM_WIDE_WLP_BODY(T, V, L)                                                  \
    const V zero = {0};                                                             \
    for (ptrdiff_t i0 = 0; i0 < n; i0 += L) {                                       \
        stream_take(pf, (n - i0 + L - 1) / L);                                      \
        if (cov == GMM_DIAG) {                                                             \
            GMM_WIDE_TILES(T, V, 2)                                                 \
        } else {                                                                    \
            GMM_WIDE_TILES(T, V, 1)                                                 \
        }                                                                           \
    }                                                                               \
    return 0;

/* wide_wlp_<TS>_body_<W> for element type T (TS: d or f) and width W */
#define GMM_WIDE_WLP_BODY_OF(T, TS, W)                                              \
    GMM_INLINE int wide_wlp_##TS##_body_##W(                                        \
        int cov, const T *GMM_RESTRICT xt, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ld,  \
        ptrdiff_t k, const T *GMM_RESTRICT Mt, const T *GMM_RESTRICT Pt,            \
        const double *GMM_RESTRICT cst, T *GMM_RESTRICT wlp, T *GMM_RESTRICT dist,  \
        gmm_stream *pf)                                                             \
    {                                                                               \
        GMM_WIDE_WLP_BODY(T, gmm_v##TS##_##W, GMM_LANES(gmm_v##TS##_##W, T))        \
    }
#define GMM_WIDE_WLP_BODIES(W)                                                      \
    GMM_WIDE_WLP_BODY_OF(double, d, W) GMM_WIDE_WLP_BODY_OF(float, f, W)
GMM_FOR_WIDTHS(GMM_WIDE_WLP_BODIES)

/*
 * The statistics of a block around each component's mean M[c] (diag, spherical,
 * and tied's first moments: cov 1 takes the sums of r t only), from the transposed
 * block xt (no shift) and the weighted responsibilities R
 * (k x ld, component-major; entries n <= i < ld are set to zero here):
 *   acc[((c * d + j) * 2 + 0) * L + lane] += sum of r_ic t_ij       over the lane's rows
 *   acc[((c * d + j) * 2 + 1) * L + lane] += sum of r_ic t_ij^2     (diag)
 *   acc[(k * d * 2 + c) * L + lane]      += sum of r_ic |t_i|^2    (spherical)
 * with t = x - M[c]; spherical takes |t_i|^2 from dist (k x ld), as gmm_wide_wlp
 * left it, so that each element costs a subtraction and a multiply-add.  Within the
 * block the sums are in T (a vector of rows per lane, at most ld / L terms each);
 * across blocks they are added in double, lane by lane, and the caller folds the
 * lanes at the end; so with nk[c * L + lane], the sums of r_ic.
 */
/* p[lane] += s[lane] in double, for the lanes of a float64 or float32 vector s of
 * width W.  A float vector's lanes go by halves, each converted to a double vector of
 * width W: a double vector twice as wide as the registers would be kept in memory. */
#define GMM_ADD_LANES_D(p, s, W)                                                    \
    {                                                                               \
        gmm_vd_##W a_;                                                              \
        memcpy(&a_, (p), sizeof(a_));                                               \
        a_ += (s);                                                                  \
        memcpy((p), &a_, sizeof(a_));                                               \
    }
#if defined(GMM_GNU)
typedef float gmm_vf_8 __attribute__((vector_size(8)));
#define GMM_HALF_64 gmm_vf_32
#define GMM_HALF_32 gmm_vf_16
#define GMM_HALF_16 gmm_vf_8
#define GMM_ADD_LANES_F(p, s, W)                                                    \
    {                                                                               \
        float f_[sizeof(gmm_vf_##W) / sizeof(float)];                               \
        memcpy(f_, &(s), sizeof(f_));                                               \
        for (int h_ = 0; h_ < 2; ++h_) {                                            \
            GMM_HALF_##W half_;                                                     \
            memcpy(&half_, f_ + h_ * sizeof(f_) / sizeof(float) / 2, sizeof(half_)); \
            GMM_ADD_LANES_D((p) + h_ * sizeof(f_) / sizeof(float) / 2,              \
                            __builtin_convertvector(half_, gmm_vd_##W), W)          \
        }                                                                           \
    }
#else
#define GMM_ADD_LANES_F(p, s, W) *(p) += (double)(s);
#endif

/* Spherical's sums of r t for JT features at once: each vector of x and of r is
 * loaded once for JT x CT multiply-adds (one feature at a time, the loads outnumber
 * them). */
#define GMM_WIDE_S1_TILE(V, L, CT, JT, ADD_LANES, W)                                \
    {                                                                               \
        V s1[JT][CT];                                                               \
        stream_take(pf, ((k - c0 + 3) / 4 * d - j + JT - 1) / JT);                  \
        for (int p = 0; p < JT; ++p)                                                \
            for (int q = 0; q < CT; ++q) s1[p][q] = zero;                           \
        for (ptrdiff_t i0 = 0; i0 < n; i0 += L) {                                   \
            V x[JT];                                                                \
            for (int p = 0; p < JT; ++p) memcpy(&x[p], xt + (j + p) * ld + i0, sizeof(V)); \
            for (int q = 0; q < CT; ++q) {                                          \
                V r;                                                                \
                memcpy(&r, R + (c0 + q) * ld + i0, sizeof(V));                      \
                for (int p = 0; p < JT; ++p)                                        \
                    s1[p][q] += r * (x[p] - M[(c0 + q) * d + j + p]);               \
            }                                                                       \
        }                                                                           \
        for (int p = 0; p < JT; ++p)                                                \
            for (int q = 0; q < CT; ++q)                                            \
                ADD_LANES(acc + ((c0 + q) * d + j + p) * 2 * L, s1[p][q], W)        \
    }

/* COV: cov as a constant, so that the loops carry no test of it */
#define GMM_WIDE_STATS_TILE(T, V, L, CT, ADD_LANES, W, COV)                         \
    if (COV == 2) {                                                                 \
        for (ptrdiff_t j = 0; j < d; ++j) {                                         \
            V s1[CT], s2[CT];                                                       \
            stream_take(pf, (k - c0 + 3) / 4 * d - j);                              \
            for (int q = 0; q < CT; ++q) s1[q] = s2[q] = zero;                      \
            for (ptrdiff_t i0 = 0; i0 < n; i0 += L) {                               \
                V x;                                                                \
                memcpy(&x, xt + j * ld + i0, sizeof(V));                            \
                for (int q = 0; q < CT; ++q) {                                      \
                    V r;                                                            \
                    memcpy(&r, R + (c0 + q) * ld + i0, sizeof(V));                  \
                    const V t = x - M[(c0 + q) * d + j];                            \
                    const V rt = r * t;                                             \
                    s1[q] += rt;                                                    \
                    s2[q] += rt * t;                                                \
                }                                                                   \
            }                                                                       \
            for (int q = 0; q < CT; ++q) {                                          \
                double *GMM_RESTRICT a = acc + ((c0 + q) * d + j) * 2 * L;          \
                ADD_LANES(a, s1[q], W)                                              \
                ADD_LANES(a + L, s2[q], W)                                          \
            }                                                                       \
        }                                                                           \
    } else {                                                                        \
        ptrdiff_t j = 0;                                                            \
        for (; j + 4 <= d; j += 4) GMM_WIDE_S1_TILE(V, L, CT, 4, ADD_LANES, W)      \
        for (; j < d; ++j) GMM_WIDE_S1_TILE(V, L, CT, 1, ADD_LANES, W)              \
        if (COV == 3) {                                                             \
            /* sum r |t|^2, |t|^2 from gmm_wide_wlp */                               \
            V s2sum[CT];                                                            \
            for (int q = 0; q < CT; ++q) s2sum[q] = zero;                           \
            for (ptrdiff_t i0 = 0; i0 < n; i0 += L)                                 \
                for (int q = 0; q < CT; ++q) {                                      \
                    V r, t2;                                                        \
                    memcpy(&r, R + (c0 + q) * ld + i0, sizeof(V));                  \
                    memcpy(&t2, dist + (c0 + q) * ld + i0, sizeof(V));              \
                    s2sum[q] += r * t2;                                             \
                }                                                                   \
            for (int q = 0; q < CT; ++q) {                                          \
                ADD_LANES(acc + (k * d * 2 + c0 + q) * L, s2sum[q], W)              \
            }                                                                       \
        }                                                                           \
    }

#define GMM_WIDE_STATS_BODY(T, V, L, ADD_LANES, W)                                  \
    if (cov != GMM_TIED && cov != GMM_DIAG && cov != GMM_SPHERICAL) return -1;                                \
    const V zero = {0};                                                             \
    const ptrdiff_t n_pad = (n + L - 1) / L * L;                                    \
    for (ptrdiff_t c = 0; c < k; ++c) {                                             \
        T *GMM_RESTRICT r = R + c * ld;                                             \
        for (ptrdiff_t i = n; i < n_pad; ++i) r[i] = 0;                             \
        /* the padding rows' |t|^2 is |M[c]|^2, which may overflow: 0 r is not 0 */  \
        if (cov == GMM_SPHERICAL)                                                               \
            for (ptrdiff_t i = n; i < n_pad; ++i) dist[c * ld + i] = 0;             \
        V s = zero, rv;                                                             \
        for (ptrdiff_t i0 = 0; i0 < n; i0 += L) {                                   \
            memcpy(&rv, r + i0, sizeof(V));                                         \
            s += rv;                                                                \
        }                                                                           \
        ADD_LANES(nk + c * L, s, W)                                                 \
    }                                                                               \
    ptrdiff_t c0 = 0;                                                               \
    if (cov == GMM_DIAG) {                                                                 \
        for (; c0 + 4 <= k; c0 += 4) GMM_WIDE_STATS_TILE(T, V, L, 4, ADD_LANES, W, 2) \
        for (; c0 < k; ++c0) GMM_WIDE_STATS_TILE(T, V, L, 1, ADD_LANES, W, 2)       \
    } else if (cov == GMM_TIED) {                                                          \
        for (; c0 + 4 <= k; c0 += 4) GMM_WIDE_STATS_TILE(T, V, L, 4, ADD_LANES, W, 1) \
        for (; c0 < k; ++c0) GMM_WIDE_STATS_TILE(T, V, L, 1, ADD_LANES, W, 1)       \
    } else {                                                                        \
        for (; c0 + 4 <= k; c0 += 4) GMM_WIDE_STATS_TILE(T, V, L, 4, ADD_LANES, W, 3) \
        for (; c0 < k; ++c0) GMM_WIDE_STATS_TILE(T, V, L, 1, ADD_LANES, W, 3)       \
    }                                                                               \
    return 0;

/* wide_stats_<TS>_body_<W> for element type T (TS: d or f) and width W, whose lanes
 * are added to the float64 sums by GMM_ADD_LANES_<TU> */
#define GMM_WIDE_STATS_BODY_OF(T, TS, TU, W)                                        \
    GMM_INLINE int wide_stats_##TS##_body_##W(                                      \
        int cov, const T *GMM_RESTRICT xt, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ld,  \
        ptrdiff_t k, const T *GMM_RESTRICT M, T *GMM_RESTRICT R, T *GMM_RESTRICT dist, \
        double *GMM_RESTRICT nk, double *GMM_RESTRICT acc, gmm_stream *pf)          \
    {                                                                               \
        GMM_WIDE_STATS_BODY(T, gmm_v##TS##_##W, GMM_LANES(gmm_v##TS##_##W, T),      \
                            GMM_ADD_LANES_##TU, W)                                  \
    }
/* float32 only: float64 diag and spherical take the expanded form's design */
#define GMM_WIDE_STATS_BODIES(W) GMM_WIDE_STATS_BODY_OF(float, f, F, W)
GMM_FOR_WIDTHS(GMM_WIDE_STATS_BODIES)

/* ------------------------------------------------------------------------- */
/* full covariances, more features: triangular products on feature-major rows */
/* ------------------------------------------------------------------------- */

/*
 * wlp[c * ld + i] = cst[c] - 1/2 |(x_i - M[c]) U_c|^2 for a feature-major block xt
 * (d x ld, from gmm_transpose without a shift) and row-major upper-triangular U_c
 * (k x d x d, zero below the diagonal).  For each component and vector of rows, the
 * differences z_l = x_l - M[c, l] go to zbuf (d vectors), then the outputs
 * y_j = sum_{l <= j} z_l U[l, j] are formed GMM_FULL_JT at a time in registers, each
 * z_l loaded once per tile and multiplied by broadcast entries of U: a triangular
 * product with no packing and no call per component, whose tiles on the diagonal
 * skip the zeros below it.
 */
#define GMM_FULL_JT 8

/* y_j = sum_{l <= j} zbuf[l] u[l * d + j] for one vector of rows, GMM_FULL_JT columns
 * at a time in registers: each z_l loaded once per tile and multiplied by broadcast
 * entries of u, the tiles on the diagonal skipping the zeros below it.  EMIT(j, y)
 * takes each output (a macro: full squares them, tied stores them). */
#define GMM_UPPER_PRODUCT(T, V, u, EMIT)                                            \
    {                                                                               \
        ptrdiff_t j0 = 0;                                                           \
        for (; j0 + GMM_FULL_JT <= d; j0 += GMM_FULL_JT) {                          \
            V acc[GMM_FULL_JT];                                                     \
            for (int q = 0; q < GMM_FULL_JT; ++q) acc[q] = zero;                    \
            for (ptrdiff_t l = 0; l < j0; ++l) {                                    \
                const V z = zbuf[l];                                                \
                const T *GMM_RESTRICT ul = (u) + l * d + j0;                        \
                for (int q = 0; q < GMM_FULL_JT; ++q) acc[q] += z * ul[q];          \
            }                                                                       \
            /* the tile's own triangle: U[j0 + m, j0 + q] = 0 for q < m */           \
            GMM_UNROLL_8                                                            \
            for (int m = 0; m < GMM_FULL_JT; ++m) {                                 \
                const V z = zbuf[j0 + m];                                           \
                const T *GMM_RESTRICT ul = (u) + (j0 + m) * d + j0;                 \
                for (int q = m; q < GMM_FULL_JT; ++q) acc[q] += z * ul[q];          \
            }                                                                       \
            for (int q = 0; q < GMM_FULL_JT; ++q) EMIT(j0 + q, acc[q])              \
        }                                                                           \
        for (; j0 < d; ++j0) {                                                      \
            V acc = zero;                                                           \
            for (ptrdiff_t l = 0; l <= j0; ++l) acc += zbuf[l] * (u)[l * d + j0];   \
            EMIT(j0, acc)                                                           \
        }                                                                           \
    }
#define GMM_EMIT_SQUARE(j, y) sq += (y) * (y);
#define GMM_EMIT_STORE(j, y) memcpy(dst + (j) * ld + i0, &(y), sizeof(y));

#define GMM_FULL_WLP_BODY(T, V, L)                                                  \
    const V zero = {0};                                                             \
    for (ptrdiff_t c = 0; c < k; ++c) {                                             \
        const T *GMM_RESTRICT u = U + c * d * d;                                    \
        const T *GMM_RESTRICT mu = M + c * d;                                       \
        stream_take(pf, k - c);                                                     \
        for (ptrdiff_t i0 = 0; i0 < n; i0 += L) {                                   \
            for (ptrdiff_t l = 0; l < d; ++l) {                                     \
                V x;                                                                \
                memcpy(&x, xt + l * ld + i0, sizeof(V));                            \
                zbuf[l] = x - mu[l];                                                \
            }                                                                       \
            V sq = zero;                                                            \
            GMM_UPPER_PRODUCT(T, V, u, GMM_EMIT_SQUARE)                             \
            const V out = (T)cst[c] - (T)0.5 * sq;                                  \
            memcpy(wlp + c * ld + i0, &out, sizeof(V));                             \
        }                                                                           \
    }                                                                               \
    return 0;

/* full_wlp_<TS>_body_<W> for element type T (TS: d or f) and width W */
#define GMM_FULL_WLP_BODY_OF(T, TS, W)                                              \
    GMM_INLINE int full_wlp_##TS##_body_##W(                                        \
        const T *GMM_RESTRICT xt, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ld,           \
        ptrdiff_t k, const T *GMM_RESTRICT M, const T *GMM_RESTRICT U,              \
        const double *GMM_RESTRICT cst, T *GMM_RESTRICT wlp, T *GMM_RESTRICT zb,    \
        gmm_stream *pf)                                                             \
    {                                                                               \
        gmm_v##TS##_##W *GMM_RESTRICT zbuf = (gmm_v##TS##_##W *)zb;                 \
        GMM_FULL_WLP_BODY(T, gmm_v##TS##_##W, GMM_LANES(gmm_v##TS##_##W, T))        \
    }
#define GMM_FULL_WLP_BODIES(W)                                                      \
    GMM_FULL_WLP_BODY_OF(double, d, W) GMM_FULL_WLP_BODY_OF(float, f, W)
GMM_FOR_WIDTHS(GMM_FULL_WLP_BODIES)

/*
 * dst[j * ld + i] = sum_{l <= j} z_l U[l, j] with z_l = src[l * ld + i] - shift[l]
 * (shift NULL: no shift): y = (x - s) U for a feature-major block (d x ld, n rows)
 * and a row-major upper-triangular U (zero below the diagonal), by the tiles of
 * gmm_full_wlp (GMM_UPPER_PRODUCT), each vector of rows' z held in zb.  dst may be
 * src.  Rows n <= i < ld of dst are zero.  Replaces a TRMM call per block, whose
 * packing cost as much as its products at these sizes.
 */
#define GMM_UPPER_ROWS_BODY(T, V, L)                                                \
    const V zero = {0};                                                             \
    for (ptrdiff_t i0 = 0; i0 < n; i0 += L) {                                       \
        for (ptrdiff_t l = 0; l < d; ++l) {                                         \
            V x;                                                                    \
            memcpy(&x, src + l * ld + i0, sizeof(V));                               \
            zbuf[l] = shift != NULL ? x - shift[l] : x;                             \
        }                                                                           \
        if (i0 + L > n) { /* the last rows' padding lanes stay zero */              \
            T t[L];                                                                 \
            for (ptrdiff_t l = 0; l < d; ++l) {                                     \
                memcpy(t, &zbuf[l], sizeof(V));                                     \
                for (ptrdiff_t q = n - i0; q < L; ++q) t[q] = 0;                    \
                memcpy(&zbuf[l], t, sizeof(V));                                     \
            }                                                                       \
        }                                                                           \
        GMM_UPPER_PRODUCT(T, V, U, GMM_EMIT_STORE)                                  \
    }                                                                               \
    for (ptrdiff_t j = 0; j < d; ++j)                                               \
        for (ptrdiff_t i = (n + L - 1) / L * L; i < ld; ++i) dst[j * ld + i] = 0;   \
    return 0;

/* upper_rows_<TS>_body_<W> for element type T (TS: d or f) and width W */
#define GMM_UPPER_ROWS_BODY_OF(T, TS, W)                                            \
    GMM_INLINE int upper_rows_##TS##_body_##W(                                      \
        const T *src, const T *GMM_RESTRICT shift, ptrdiff_t n, ptrdiff_t d,         \
        ptrdiff_t ld, const T *GMM_RESTRICT U, T *dst, T *GMM_RESTRICT zb)          \
    {                                                                               \
        gmm_v##TS##_##W *GMM_RESTRICT zbuf = (gmm_v##TS##_##W *)zb;                 \
        GMM_UPPER_ROWS_BODY(T, gmm_v##TS##_##W, GMM_LANES(gmm_v##TS##_##W, T))      \
    }
#define GMM_UPPER_ROWS_BODIES(W)                                                    \
    GMM_UPPER_ROWS_BODY_OF(double, d, W) GMM_UPPER_ROWS_BODY_OF(float, f, W)
GMM_FOR_WIDTHS(GMM_UPPER_ROWS_BODIES)

/* ------------------------------------------------------------------------- */
/* full covariances, more features: the rank updates of the statistics        */
/* ------------------------------------------------------------------------- */

/*
 * C[a, j] += sum_i Z[i, a] Z[i, j] for j <= a: the row-major lower triangle of
 * C (d x d, float64) from a row-major block Z (n x d, rows ldz apart).  Register tiles of
 * RA rows of C (GMM_GRAM_RA_W) by two vectors of its columns: for each row of Z, two
 * vector loads of Z[i, j0:j0 + 2L] and one broadcast Z[i, a] per row of the tile,
 * so that each vector of Z is loaded once for RA fused multiply-adds.
 * Tiles wholly above the diagonal are skipped, and where a tile straddles it only
 * the entries j <= a are added.  float32 sums a block in float32 (at most a block's
 * rows per sum) and adds it to the float64 C.
 */
/* rows per tile: 16 accumulators with AVX-512's 32 registers, 8 with 16 */
#define GMM_GRAM_RA_64 8
#define GMM_GRAM_RA_32 4
#define GMM_GRAM_RA_16 4

#define GMM_GRAM_TILE(T, V, L, RA)                                                  \
    {                                                                               \
        V acc[RA][2];                                                               \
        for (int q = 0; q < RA; ++q) acc[q][0] = acc[q][1] = zero;                  \
        for (ptrdiff_t i = 0; i < n; ++i) {                                         \
            const T *GMM_RESTRICT z = Z + i * ldz;                                  \
            V v0, v1;                                                               \
            memcpy(&v0, z + j0, sizeof(V));                                         \
            memcpy(&v1, z + j0 + L, sizeof(V));                                     \
            for (int q = 0; q < RA; ++q) {                                          \
                const T za = z[a0 + q];                                             \
                acc[q][0] += za * v0;                                               \
                acc[q][1] += za * v1;                                               \
            }                                                                       \
        }                                                                           \
        for (int q = 0; q < RA; ++q) {                                              \
            T out[2 * L];                                                           \
            memcpy(out, &acc[q][0], sizeof(V));                                     \
            memcpy(out + L, &acc[q][1], sizeof(V));                                 \
            double *GMM_RESTRICT row = C + (a0 + q) * d + j0;                       \
            const ptrdiff_t m = a0 + q - j0 + 1 < 2 * L ? a0 + q - j0 + 1 : 2 * L;  \
            for (ptrdiff_t j = 0; j < m; ++j) row[j] += (double)out[j];             \
        }                                                                           \
    }

#define GMM_GRAM_BODY(T, V, L, RA)                                                  \
    const V zero = {0};                                                             \
    const ptrdiff_t jt = d / (2 * L) * (2 * L); /* columns in whole tiles */        \
    ptrdiff_t a0 = 0;                                                               \
    for (; a0 + RA <= d; a0 += RA)                                                  \
        for (ptrdiff_t j0 = 0; j0 < jt && j0 <= a0 + RA - 1; j0 += 2 * L)           \
            GMM_GRAM_TILE(T, V, L, RA)                                              \
    for (; a0 < d; ++a0)                                                            \
        for (ptrdiff_t j0 = 0; j0 < jt && j0 <= a0; j0 += 2 * L)                    \
            GMM_GRAM_TILE(T, V, L, 1)                                               \
    /* the columns past the last whole tile, for the rows that reach them */        \
    for (ptrdiff_t a = jt; a < d; ++a)                                              \
        for (ptrdiff_t j = jt; j <= a; ++j) {                                       \
            T sum = 0;                                                              \
            for (ptrdiff_t i = 0; i < n; ++i) sum += Z[i * ldz + a] * Z[i * ldz + j]; \
            C[a * d + j] += (double)sum;                                            \
        }                                                                           \
    return 0;

/* gram_lower_<TS>_body_<W> for element type T (TS: d or f) and width W */
#define GMM_GRAM_BODY_OF(T, TS, W)                                                  \
    GMM_INLINE int gram_lower_##TS##_body_##W(const T *GMM_RESTRICT Z, ptrdiff_t n, \
                                              ptrdiff_t d, ptrdiff_t ldz,           \
                                              double *GMM_RESTRICT C)               \
    {                                                                               \
        GMM_GRAM_BODY(T, gmm_v##TS##_##W, GMM_LANES(gmm_v##TS##_##W, T), GMM_GRAM_RA_##W) \
    }
#define GMM_GRAM_BODIES(W) GMM_GRAM_BODY_OF(double, d, W) GMM_GRAM_BODY_OF(float, f, W)
GMM_FOR_WIDTHS(GMM_GRAM_BODIES)

/* ------------------------------------------------------------------------- */
/* few features: the statistics of a feature-major block, as sums per lane     */
/* ------------------------------------------------------------------------- */

/*
 * S[(a * q + b) * L + lane] += sum over the lane's rows i < n of P[a * ld + i] Q[b * ld + i]
 * for a < p and b < q (only b <= a, and a few entries beside the diagonal, when
 * lower), L the lanes of the version's double vectors (gmm_wide_lanes_d).  P and Q
 * are feature-major, their rows ld apart.  Register tiles of RA rows of P by RB rows
 * of Q; the accumulators are S's own vectors, loaded once per tile, so a block costs
 * no sum across lanes: the caller folds the lanes once, at the end of its pass.
 * The rows past the last whole vector go to lanes 0, 1, ... one by one.
 */
#define GMM_DOT_RA_64 4
#define GMM_DOT_RB_64 4
#define GMM_DOT_RA_32 2
#define GMM_DOT_RB_32 4
#define GMM_DOT_RA_16 2
#define GMM_DOT_RB_16 4

#define GMM_DOT_TILE(V, VU, L, RA, RB)                                              \
    {                                                                               \
        V acc[RA][RB];                                                              \
        for (int u = 0; u < RA; ++u)                                                \
            for (int v = 0; v < RB; ++v) acc[u][v] = zero;                          \
        for (ptrdiff_t i = 0; i < nv; i += L) {                                     \
            V qv[RB];                                                               \
            for (int v = 0; v < RB; ++v) qv[v] = *(const VU *)(Q + (b0 + v) * ld + i); \
            for (int u = 0; u < RA; ++u) {                                          \
                const V pu = *(const VU *)(P + (a0 + u) * ld + i);                  \
                for (int v = 0; v < RB; ++v) acc[u][v] += pu * qv[v];               \
            }                                                                       \
        }                                                                           \
        for (int u = 0; u < RA; ++u)                                                \
            for (int v = 0; v < RB; ++v) {                                          \
                V sum;                                                              \
                double *GMM_RESTRICT out = S + ((a0 + u) * q + b0 + v) * L;         \
                memcpy(&sum, out, sizeof(V));                                       \
                sum += acc[u][v];                                                   \
                memcpy(out, &sum, sizeof(V));                                       \
            }                                                                       \
    }

#define GMM_DOT_BODY(V, VU, L, RA, RB)                                              \
    const V zero = {0};                                                             \
    const ptrdiff_t nv = n / L * L;                                                 \
    ptrdiff_t a0 = 0, b0;                                                           \
    for (; a0 + RA <= p; a0 += RA) {                                                \
        const ptrdiff_t b_end = lower && a0 + RA < q ? a0 + RA : q;                 \
        for (b0 = 0; b0 + RB <= b_end; b0 += RB) GMM_DOT_TILE(V, VU, L, RA, RB)         \
        for (; b0 < b_end; ++b0) GMM_DOT_TILE(V, VU, L, RA, 1)                          \
    }                                                                               \
    for (; a0 < p; ++a0) {                                                          \
        const ptrdiff_t b_end = lower && a0 + 1 < q ? a0 + 1 : q;                   \
        for (b0 = 0; b0 + RB <= b_end; b0 += RB) GMM_DOT_TILE(V, VU, L, 1, RB)          \
        for (; b0 < b_end; ++b0) GMM_DOT_TILE(V, VU, L, 1, 1)                           \
    }                                                                               \
    for (ptrdiff_t i = nv; i < n; ++i)                                              \
        for (ptrdiff_t a = 0; a < p; ++a)                                           \
            for (ptrdiff_t b = 0; b < (lower && a + 1 < q ? a + 1 : q); ++b)        \
                S[(a * q + b) * L + (i - nv)] += P[a * ld + i] * Q[b * ld + i];     \
    return 0;

#define GMM_DOT_BODIES(W)                                                           \
    GMM_INLINE int rows_dot_d_body_##W(const double *GMM_RESTRICT P, ptrdiff_t p,   \
                                       const double *GMM_RESTRICT Q, ptrdiff_t q,   \
                                       ptrdiff_t n, ptrdiff_t ld, int lower,        \
                                       double *GMM_RESTRICT S)                      \
    {                                                                               \
        GMM_DOT_BODY(gmm_vd_##W, gmm_vdu_##W, GMM_LANES(gmm_vd_##W, double),       \
                     GMM_DOT_RA_##W, GMM_DOT_RB_##W)                                \
    }
GMM_FOR_WIDTHS(GMM_DOT_BODIES)

/* ------------------------------------------------------------------------- */
/* full, float32 outer products around each row's most responsible mean        */
/* ------------------------------------------------------------------------- */

/*
 * For each row i with assigned component a = assigned[i], z = x - means[a]:
 *   Dz[i, :]        = z_j z_l for l <= j (row-major lower triangle, d (d + 1) / 2)
 *   H[(c k + a) d:] += R[c, i] z       (in double, rows with R[c, i] = 0 skipped)
 *   G[c k + a]      += R[c, i]
 * R is k x ldr, component-major.  Each row j of the triangle is written as whole
 * vectors z_j z[l0:l0 + L], in order: the entries past its end are overwritten by the
 * next row, and by the next row of Dz after the last, so Dz must have room for L - 1
 * entries past n d (d + 1) / 2.  Returns -1 (and does nothing) if d > GMM_OUTER_D_MAX.
 */
#define GMM_OUTER_DESIGN_BODY(T, V, VU, L)                                          \
    if (d > GMM_OUTER_D_MAX) return -1;                                             \
    const ptrdiff_t w2 = d * (d + 1) / 2;                                           \
    const V zero = {0};                                                             \
    T zt[GMM_OUTER_D_MAX + L];                                                      \
    double z[GMM_OUTER_D_MAX];                                                      \
    for (ptrdiff_t j = d; j < d + L; ++j) zt[j] = 0;                                \
    for (ptrdiff_t i = 0; i < n; ++i) {                                             \
        const ptrdiff_t a = assigned[i];                                            \
        const T *GMM_RESTRICT x = X + i * d;                                        \
        const T *GMM_RESTRICT mu = means + a * d;                                   \
        for (ptrdiff_t j = 0; j < d; ++j) {                                         \
            zt[j] = x[j] - mu[j];                                                   \
            z[j] = (double)zt[j];                                                   \
        }                                                                           \
        T *row = Dz + i * w2;                                                       \
        for (ptrdiff_t j = 0; j < d; ++j) {                                         \
            const V zj = zero + zt[j];                                              \
            for (ptrdiff_t l0 = 0; l0 <= j; l0 += L) {                              \
                const V v = zj * *(const VU *)(zt + l0);                            \
                memcpy(row + l0, &v, sizeof(V));                                    \
            }                                                                       \
            row += j + 1;                                                           \
        }                                                                           \
        for (ptrdiff_t c = 0; c < k; ++c) {                                         \
            const double r = (double)R[c * ldr + i];                                \
            if (r == 0.0) continue;                                                 \
            G[c * k + a] += r;                                                      \
            double *GMM_RESTRICT h = H + (c * k + a) * d;                           \
            for (ptrdiff_t j = 0; j < d; ++j) h[j] += r * z[j];                     \
        }                                                                           \
    }                                                                               \
    return 0;

/* outer_design_<TS>_body_<W> for element type T (TS: d or f) and width W */
#define GMM_OUTER_DESIGN_BODY_OF(T, TS, W)                                          \
    GMM_INLINE int outer_design_##TS##_body_##W(                                    \
        const T *GMM_RESTRICT X, ptrdiff_t n, ptrdiff_t d, ptrdiff_t k,             \
        const T *GMM_RESTRICT means, const T *GMM_RESTRICT R, ptrdiff_t ldr,        \
        const ptrdiff_t *GMM_RESTRICT assigned, T *Dz, double *GMM_RESTRICT H,      \
        double *GMM_RESTRICT G)                                                     \
    {                                                                               \
        GMM_OUTER_DESIGN_BODY(T, gmm_v##TS##_##W, gmm_v##TS##u_##W,                 \
                              GMM_LANES(gmm_v##TS##_##W, T))                        \
    }
/* float32 only: float64 outer products come from the float64 design */
#define GMM_OUTER_DESIGN_BODIES(W) GMM_OUTER_DESIGN_BODY_OF(float, f, W)
GMM_FOR_WIDTHS(GMM_OUTER_DESIGN_BODIES)

/*
 * Tied, float32: rows around their assigned component's mean, z = x - means[a(i)]:
 *   Z[i, :] = z,  T[a(i), :] += w_i z,  M[a(i)] += w_i   (w = 1 when weight is NULL)
 *   G[c k + a(i)] += R[c, i]                            (R: k x ldr, component-major)
 * T, M and G in double.
 */
#define GMM_ASSIGNED_ROWS_BODY(T_)                                                  \
    for (ptrdiff_t i = 0; i < n; ++i) {                                             \
        const ptrdiff_t a = assigned[i];                                            \
        const double w = weight != NULL ? (double)weight[i] : 1.0;                  \
        const T_ *GMM_RESTRICT x = X + i * d;                                       \
        const T_ *GMM_RESTRICT mu = means + a * d;                                  \
        T_ *GMM_RESTRICT z = Z + i * d;                                             \
        double *GMM_RESTRICT t = T + a * d;                                         \
        for (ptrdiff_t j = 0; j < d; ++j) {                                         \
            z[j] = x[j] - mu[j];                                                    \
            t[j] += w * (double)z[j];                                               \
        }                                                                           \
        M[a] += w;                                                                  \
    }                                                                               \
    for (ptrdiff_t c = 0; c < k; ++c) {                                             \
        const T_ *GMM_RESTRICT r = R + c * ldr;                                     \
        double *GMM_RESTRICT g = G + c * k;                                         \
        for (ptrdiff_t i = 0; i < n; ++i) g[assigned[i]] += (double)r[i];           \
    }                                                                               \
    return 0;

GMM_INLINE int assigned_rows_f_body(const float *GMM_RESTRICT X, ptrdiff_t n, ptrdiff_t d,
                                    ptrdiff_t k, const float *GMM_RESTRICT means,
                                    const ptrdiff_t *GMM_RESTRICT assigned,
                                    const float *GMM_RESTRICT weight,
                                    const float *GMM_RESTRICT R, ptrdiff_t ldr,
                                    float *GMM_RESTRICT Z, double *GMM_RESTRICT T,
                                    double *GMM_RESTRICT M, double *GMM_RESTRICT G)
{
    GMM_ASSIGNED_ROWS_BODY(float)
}

/* dst[i] += src[i], in double */
GMM_INLINE int add_to_double_f_body(const float *GMM_RESTRICT src, ptrdiff_t n,
                                    double *GMM_RESTRICT dst)
{
    for (ptrdiff_t i = 0; i < n; ++i) dst[i] += (double)src[i];
    return 0;
}

/* ------------------------------------------------------------------------- */
/* per-row designs, more features                                             */
/* ------------------------------------------------------------------------- */

/* Rows of the row-major design W (n x width), z = x - shift computed in TO:
 *   kind 0: [1, z, z_j z_l for l <= j]   kind 1: [1, z]
 *   kind 2: [1, z, z^2]                  kind 3: [1, z, |z|^2] */
#define GMM_DESIGN_BODY(TO)                                                         \
    for (ptrdiff_t i = 0; i < n; ++i) {                                             \
        TO *GMM_RESTRICT w = W + i * width;                                         \
        TO *GMM_RESTRICT z = w + 1;                                                 \
        const_in_t *GMM_RESTRICT x = X + i * d;                                     \
        w[0] = 1;                                                                   \
        if (kind == GMM_SPHERICAL) {                                                            \
            /* z and |z|^2 in one sweep, the squares summed in 32 lanes: several  \
             * vectors, so that the additions do not wait on one another */         \
            TO acc[32] = {0};                                                       \
            TO s = 0;                                                               \
            ptrdiff_t j = 0;                                                        \
            for (; j + 32 <= d; j += 32)                                            \
                for (int v = 0; v < 32; ++v) {                                      \
                    const TO t = (TO)x[j + v] - (TO)shift[j + v];                   \
                    z[j + v] = t;                                                   \
                    acc[v] += t * t;                                                \
                }                                                                   \
            for (; j < d; ++j) {                                                    \
                const TO t = (TO)x[j] - (TO)shift[j];                               \
                z[j] = t;                                                           \
                s += t * t;                                                         \
            }                                                                       \
            for (int h = 16; h >= 1; h /= 2)                                        \
                for (int v = 0; v < h; ++v) acc[v] += acc[v + h];                   \
            z[d] = acc[0] + s;                                                      \
            continue;                                                               \
        }                                                                           \
        for (ptrdiff_t j = 0; j < d; ++j) z[j] = (TO)x[j] - (TO)shift[j];           \
        if (kind == GMM_FULL) {                                                            \
            TO *GMM_RESTRICT o = w + 1 + d;                                         \
            for (ptrdiff_t j = 0; j < d; ++j) {                                     \
                const TO zj = z[j];                                                 \
                for (ptrdiff_t l = 0; l <= j; ++l) o[l] = zj * z[l];                \
                o += j + 1;                                                         \
            }                                                                       \
        } else if (kind == GMM_DIAG) {                                                     \
            for (ptrdiff_t j = 0; j < d; ++j) z[d + j] = z[j] * z[j];               \
        }                                                                           \
    }                                                                               \
    return 0;

GMM_INLINE int design_d_body(int kind, const double *GMM_RESTRICT X, ptrdiff_t n, ptrdiff_t d,
                             const double *GMM_RESTRICT shift, double *GMM_RESTRICT W,
                             ptrdiff_t width)
{
    typedef const double const_in_t;
    GMM_DESIGN_BODY(double)
}

GMM_INLINE int design_fd_body(int kind, const float *GMM_RESTRICT X, ptrdiff_t n, ptrdiff_t d,
                              const float *GMM_RESTRICT shift, double *GMM_RESTRICT W,
                              ptrdiff_t width)
{
    typedef const float const_in_t;
    GMM_DESIGN_BODY(double)
}

/* Diag and spherical, float64, more features: the rows of the design that kind 2,
 * [1, z, z^2], or kind 3, [1, z, |z|^2], above writes, and from them the weighted
 * log-densities of the expanded form that a GEMM of the design would give,
 *     wlp[c * ld + i] = Qc[q * kq + c] + sum_{j < q} a_ij Qc[j * kq + c],
 * a_i the design row past its 1, of q entries (2 d or d + 1) (Qc: the
 * coefficients, a row per entry of a_i and then the constants, kq >= k columns,
 * those past k zero, kq a multiple of L).  A tile is L rows (L the lanes: 8 doubles
 * in 64 bytes): their design rows first (z, and z^2 or |z|^2 summed per lane),
 * then for groups of 2 L components, each entry of a_i broadcast against a vector
 * of coefficients, 2 L accumulators in registers (no sums across lanes); the L x L
 * blocks of accumulators are transposed in registers (plain lane copies without
 * __builtin_shufflevector) into columns of wlp.  Rows past the block's end (a last
 * partial tile) repeat its last row.  The block is read from memory once, and the
 * next block's lines are requested one per entry of a_i (stream_line), into L2:
 * into L1 they pushed the tile's own lines out (W3's spherical pass took 7.7 ms, and
 * 6.8 ms with half of the lines left to the log-sum-exp, against 6.2 ms, one
 * thread, measured). */
#define GMM_DWLP_CG 2

#define GMM_DWLP_GROUP(V, L, CG, TILE, TILE_FN)                                     \
    {                                                                               \
        V acc[CG][L];                                                               \
        for (int v = 0; v < CG; ++v) {                                              \
            const V c = *(const VU *)(Qc + q_rows * kq + (g + v) * L);              \
            for (int r = 0; r < L; ++r) acc[v][r] = c;                              \
        }                                                                           \
        for (ptrdiff_t j = 0; j < q_rows; ++j) {                                    \
            if (quota > 0) {                                                        \
                stream_line(pf);                                                    \
                --quota;                                                            \
            }                                                                       \
            V q[CG];                                                                \
            for (int v = 0; v < CG; ++v)                                            \
                q[v] = *(const VU *)(Qc + j * kq + (g + v) * L);                    \
            for (int r = 0; r < L; ++r) {                                           \
                const V a = w[r][1 + j] - zero; /* a broadcast: x - 0 is x */       \
                for (int v = 0; v < CG; ++v) acc[v][r] += a * q[v];                 \
            }                                                                       \
        }                                                                           \
        for (int v = 0; v < CG; ++v) {                                              \
            if (TILE) {                                                             \
                GMM_TRANSPOSE_TILE(TILE_FN, acc[v]);                                \
            } else {                                                                \
                double t[L][L];                                                     \
                for (int r = 0; r < L; ++r)                                         \
                    for (int l = 0; l < L; ++l) t[l][r] = ((const double *)&acc[v][r])[l]; \
                memcpy(acc[v], t, sizeof t);                                        \
            }                                                                       \
            for (int l = 0; l < L && (g + v) * L + l < k; ++l)                      \
                memcpy(wlp + ((g + v) * L + l) * ld + i0, &acc[v][l],               \
                       (size_t)rt * sizeof(double));                                \
        }                                                                           \
    }

#define GMM_DWLP_BODY(V, VU_, L, TILE, TILE_FN)                                     \
    typedef VU_ VU;                                                                 \
    const V zero = {0};                                                             \
    const ptrdiff_t dv = d / L * L, kv = (k + L - 1) / L;                           \
    const ptrdiff_t q_rows = kind == GMM_DIAG ? 2 * d : d + 1;                             \
    for (ptrdiff_t i0 = 0; i0 < n; i0 += L) {                                       \
        const ptrdiff_t rt = n - i0 < L ? n - i0 : L;                               \
        ptrdiff_t quota = stream_quota(pf, (n - i0 + L - 1) / L);                   \
        double *GMM_RESTRICT w[L];                                                  \
        for (int r = 0; r < L; ++r) {                                               \
            const ptrdiff_t row = i0 + (r < rt ? r : rt - 1);                       \
            const double *GMM_RESTRICT x = X + row * d;                             \
            double *GMM_RESTRICT o = W + row * width;                               \
            V sq = zero;                                                            \
            ptrdiff_t j = 0;                                                        \
            o[0] = 1;                                                               \
            if (kind == GMM_DIAG) {                                                        \
                for (; j < dv; j += L) {                                            \
                    const V z = *(const VU *)(x + j) - *(const VU *)(shift + j);    \
                    const V z2 = z * z;                                             \
                    memcpy(o + 1 + j, &z, sizeof(V));                               \
                    memcpy(o + 1 + d + j, &z2, sizeof(V));                          \
                }                                                                   \
                for (; j < d; ++j) {                                                \
                    const double z = x[j] - shift[j];                               \
                    o[1 + j] = z;                                                   \
                    o[1 + d + j] = z * z;                                           \
                }                                                                   \
            } else {                                                                \
                for (; j < dv; j += L) {                                            \
                    const V z = *(const VU *)(x + j) - *(const VU *)(shift + j);    \
                    memcpy(o + 1 + j, &z, sizeof(V));                               \
                    sq += z * z;                                                    \
                }                                                                   \
                double t = 0;                                                       \
                for (int l = 0; l < L; ++l) t += ((const double *)&sq)[l];          \
                for (; j < d; ++j) {                                                \
                    const double z = x[j] - shift[j];                               \
                    o[1 + j] = z;                                                   \
                    t += z * z;                                                     \
                }                                                                   \
                o[1 + d] = t;                                                       \
            }                                                                       \
            w[r] = o;                                                               \
        }                                                                           \
        ptrdiff_t g = 0;                                                            \
        for (; g + GMM_DWLP_CG <= kv; g += GMM_DWLP_CG)                             \
            GMM_DWLP_GROUP(V, L, GMM_DWLP_CG, TILE, TILE_FN)                        \
        for (; g < kv; ++g) GMM_DWLP_GROUP(V, L, 1, TILE, TILE_FN)                  \
        for (; quota > 0; --quota) stream_line(pf);                                 \
    }                                                                               \
    return 0;

/* design_wlp_d_body_<VW> for width VW */
#define GMM_DWLP_BODY_OF(VW)                                                        \
    GMM_INLINE int design_wlp_d_body_##VW(                                          \
        int kind, const double *GMM_RESTRICT X, ptrdiff_t n, ptrdiff_t d,           \
        ptrdiff_t k, const double *GMM_RESTRICT shift, const double *GMM_RESTRICT Qc, \
        ptrdiff_t kq, double *GMM_RESTRICT wlp, ptrdiff_t ld,                       \
        double *GMM_RESTRICT W, ptrdiff_t width, gmm_stream *pf)                    \
    {                                                                               \
        GMM_DWLP_BODY(gmm_vd_##VW, gmm_vdu_##VW, GMM_LANES(gmm_vd_##VW, double),    \
                     GMM_TILE_ON, transpose_tile_d_##VW)                            \
    }
GMM_FOR_WIDTHS(GMM_DWLP_BODY_OF)

/* ------------------------------------------------------------------------- */
/* per-row log-likelihood sums of a block                                     */
/* ------------------------------------------------------------------------- */

/* Over the rows with a weight other than 0 (w NULL: every weight 1): sums[0] +=
 * sum w lpn, sums[1] += sum w; a non-finite lpn is counted, and the lowest finite
 * one (below *worst) is kept in *worst with its row in *worst_row (the first such
 * row).  Four partial sums, row i in sum i mod 4 (the rows past the last four in
 * sum 0), so that the adds do not wait on each other and vectorise: the order is
 * fixed by n alone, so the result is the same on every run and every machine.  The
 * block's lowest value is found lane by lane; its row is looked for only when it
 * is below *worst. */
#define GMM_ROW_LANE(i, q)                                                          \
    {                                                                               \
        const double v = lpn[i];                                                    \
        const double wi = w != NULL ? (double)w[i] : 1.0;                           \
        const int on = wi != 0.0, fin = fabs(v) < (double)INFINITY;                 \
        s[q] += on ? wi * v : 0.0;                                                  \
        t[q] += wi;                                                                 \
        bad[q] += on & !fin;                                                        \
        const double c = on & fin ? v : (double)INFINITY;                           \
        lo[q] = c < lo[q] ? c : lo[q];                                              \
    }
/* the rows from i on (fewer than four) into lane 0, then the lanes folded */
#define GMM_ROW_SUMS_FINISH                                                         \
    for (; i < n; ++i) GMM_ROW_LANE(i, 0)                                           \
    sums[0] += (s[0] + s[1]) + (s[2] + s[3]);                                       \
    sums[1] += (t[0] + t[1]) + (t[2] + t[3]);                                       \
    const double low = fmin(fmin(lo[0], lo[1]), fmin(lo[2], lo[3]));                \
    if (low < *worst)                                                               \
        for (i = 0; i < n; ++i)                                                     \
            if (lpn[i] == low && (w == NULL || w[i] != 0)) {                        \
                *worst = low;                                                       \
                *worst_row = i;                                                     \
                break;                                                              \
            }                                                                       \
    return (bad[0] + bad[1]) + (bad[2] + bad[3]);
#define GMM_ROW_SUMS_BODY                                                           \
    double s[4] = {0.0, 0.0, 0.0, 0.0}, t[4] = {0.0, 0.0, 0.0, 0.0};                \
    double lo[4] = {INFINITY, INFINITY, INFINITY, INFINITY};                        \
    ptrdiff_t bad[4] = {0, 0, 0, 0}, i = 0;                                         \
    for (; i + 4 <= n; i += 4)                                                      \
        for (int q = 0; q < 4; ++q) GMM_ROW_LANE(i + q, q)                          \
    GMM_ROW_SUMS_FINISH

#if defined(GMM_GNU)
/* The same four sums as vectors of four lanes, lane q the rows i = q mod 4 (so the
 * same bits as the loop above).  NaN and inf fail |v| < inf; a weight of 0 masks
 * its row out of every sum. */
typedef long long gmm_vi_32 __attribute__((vector_size(32)));
#define GMM_ROW_SUMS_VECTOR(LOAD_W)                                                 \
    const gmm_vd_32 one = {1.0, 1.0, 1.0, 1.0}, inf = one * (double)INFINITY;        \
    const gmm_vi_32 magnitude = (gmm_vi_32){0} + 0x7FFFFFFFFFFFFFFFLL;              \
    gmm_vd_32 sv = one - one, tv = one - one, lov = inf;                            \
    gmm_vi_32 badv = {0};                                                           \
    ptrdiff_t i = 0;                                                                \
    for (; i + 4 <= n; i += 4) {                                                    \
        gmm_vd_32 v, wi;                                                            \
        gmm_vi_32 vb, cb, lb;                                                       \
        memcpy(&v, lpn + i, sizeof v);                                              \
        LOAD_W                                                                      \
        memcpy(&vb, &v, sizeof vb);                                                 \
        gmm_vd_32 a;                                                                \
        const gmm_vi_32 ab = vb & magnitude;                                        \
        memcpy(&a, &ab, sizeof a);                                                  \
        const gmm_vi_32 on = wi != one - one, fin = a < inf;                        \
        const gmm_vd_32 wv = wi * v;                                                \
        gmm_vi_32 wvb;                                                              \
        memcpy(&wvb, &wv, sizeof wvb);                                              \
        wvb &= on;                                                                  \
        gmm_vd_32 add;                                                              \
        memcpy(&add, &wvb, sizeof add);                                             \
        sv += add;                                                                  \
        tv += wi;                                                                   \
        badv -= on & ~fin;                                                          \
        const gmm_vi_32 keep = on & fin;                                            \
        gmm_vi_32 infb;                                                             \
        memcpy(&infb, &inf, sizeof infb);                                           \
        cb = (vb & keep) | (infb & ~keep);                                          \
        gmm_vd_32 c;                                                                \
        memcpy(&c, &cb, sizeof c);                                                  \
        memcpy(&lb, &lov, sizeof lb);                                               \
        const gmm_vi_32 lower = c < lov;                                            \
        lb = (cb & lower) | (lb & ~lower);                                          \
        memcpy(&lov, &lb, sizeof lov);                                              \
    }                                                                               \
    double s[4], t[4], lo[4];                                                       \
    long long badl[4];                                                              \
    ptrdiff_t bad[4];                                                               \
    memcpy(s, &sv, sizeof s);                                                       \
    memcpy(t, &tv, sizeof t);                                                       \
    memcpy(lo, &lov, sizeof lo);                                                    \
    memcpy(badl, &badv, sizeof badl);                                               \
    for (int q = 0; q < 4; ++q) bad[q] = (ptrdiff_t)badl[q];                        \
    GMM_ROW_SUMS_FINISH

#define GMM_LOAD_W_D                                                                \
    if (w != NULL) memcpy(&wi, w + i, sizeof wi); else wi = one;
#define GMM_LOAD_W_F                                                                \
    if (w != NULL) {                                                                \
        gmm_vf_16 wf;                                                               \
        memcpy(&wf, w + i, sizeof wf);                                              \
        wi = __builtin_convertvector(wf, gmm_vd_32);                                \
    } else {                                                                        \
        wi = one;                                                                   \
    }
#endif

GMM_INLINE ptrdiff_t row_sums_d_body(const double *GMM_RESTRICT lpn,
                                     const double *GMM_RESTRICT w, ptrdiff_t n,
                                     double *GMM_RESTRICT sums, double *GMM_RESTRICT worst,
                                     ptrdiff_t *GMM_RESTRICT worst_row)
{
    GMM_ROW_SUMS_BODY
}

GMM_INLINE ptrdiff_t row_sums_f_body(const double *GMM_RESTRICT lpn,
                                     const float *GMM_RESTRICT w, ptrdiff_t n,
                                     double *GMM_RESTRICT sums, double *GMM_RESTRICT worst,
                                     ptrdiff_t *GMM_RESTRICT worst_row)
{
    GMM_ROW_SUMS_BODY
}

#ifdef GMM_X86_DISPATCH
/* AVX2 and AVX-512: the vector loop (32-byte vectors, which baseline x86-64 would
 * keep in memory). */
GMM_INLINE ptrdiff_t row_sums_d_body_v(const double *GMM_RESTRICT lpn,
                                       const double *GMM_RESTRICT w, ptrdiff_t n,
                                       double *GMM_RESTRICT sums, double *GMM_RESTRICT worst,
                                       ptrdiff_t *GMM_RESTRICT worst_row)
{
    GMM_ROW_SUMS_VECTOR(GMM_LOAD_W_D)
}

GMM_INLINE ptrdiff_t row_sums_f_body_v(const double *GMM_RESTRICT lpn,
                                       const float *GMM_RESTRICT w, ptrdiff_t n,
                                       double *GMM_RESTRICT sums, double *GMM_RESTRICT worst,
                                       ptrdiff_t *GMM_RESTRICT worst_row)
{
    GMM_ROW_SUMS_VECTOR(GMM_LOAD_W_F)
}
#endif

/* ------------------------------------------------------------------------- */
/* the next block's stream                                                    */
/* ------------------------------------------------------------------------- */

void gmm_stream_set(gmm_stream *s, const void *p, ptrdiff_t bytes)
{
    s->begin = s->next = s->due = (const char *)p;
    s->end = s->begin + (bytes > 0 ? bytes : 0);
}

void gmm_stream_open(gmm_stream *s, ptrdiff_t i, ptrdiff_t m)
{
    const ptrdiff_t bytes = s->end - s->begin;
    const char *due = i >= m ? s->end : s->begin + bytes / m * i;
    if (due > s->due) s->due = due;
}


/* ------------------------------------------------------------------------- */
/* One function per entry point, compiled once per instruction set           */
/* ------------------------------------------------------------------------- */

/* gmm_<name>: a pointer to the version chosen at import (GMM_PICK), each version a
 * call of its body (B_GEN for baseline, B_AVX2, B_AVX512), R its return type. */
#ifdef GMM_X86_DISPATCH
#define GMM_DISPATCH(R, name, params, args, B_GEN, B_AVX2, B_AVX512)                \
    static R name##_generic params { return B_GEN args; }                           \
    GMM_TARGET_AVX2 static R name##_avx2 params { return B_AVX2 args; }             \
    GMM_TARGET_AVX512 static R name##_avx512 params { return B_AVX512 args; }       \
    static R(*name##_impl) params = name##_generic;                                 \
    R gmm_##name params { return name##_impl args; }
#else
/* one version: 16-byte vectors (NEON, or scalars in the plain-C build) */
#define GMM_DISPATCH(R, name, params, args, B_GEN, B_AVX2, B_AVX512)                \
    R gmm_##name params { return B_GEN args; }
#endif
/* one body for every instruction set */
#define GMM_VERSIONS(name, params, args)                                            \
    GMM_DISPATCH(int, name, params, args, name##_body, name##_body, name##_body)
/* the AVX-512 version from name##_body_table (exp by table lookups) */
#define GMM_VERSIONS_T(name, params, args)                                          \
    GMM_DISPATCH(int, name, params, args, name##_body, name##_body, name##_body_table)
/* bodies compiled once per vector width: each version takes the width of its
 * registers */
#define GMM_VERSIONS_W(name, params, args)                                          \
    GMM_DISPATCH(int, name, params, args, name##_body_16, name##_body_32, name##_body_64)

GMM_VERSIONS_T(exp_d, (double *x, ptrdiff_t n), (x, n))

/* the per-row sums: the vector loop in the AVX2 and AVX-512 versions */
#define GMM_VERSIONS_ROW_SUMS(name, W_T)                                            \
    GMM_DISPATCH(ptrdiff_t, name,                                                   \
                 (const double *lpn, const W_T *w, ptrdiff_t n, double *sums,       \
                  double *worst, ptrdiff_t *worst_row),                             \
                 (lpn, w, n, sums, worst, worst_row), name##_body, name##_body_v,   \
                 name##_body_v)
GMM_VERSIONS_ROW_SUMS(row_sums_d, double)
GMM_VERSIONS_ROW_SUMS(row_sums_f, float)
GMM_VERSIONS(exp_f, (float *x, ptrdiff_t n), (x, n))

GMM_VERSIONS_T(lse_cols_d,
             (double *wlp, ptrdiff_t k, ptrdiff_t n, ptrdiff_t ld, double *lpn, double *work,
              gmm_stream *pf),
             (wlp, k, n, ld, lpn, work, pf))
GMM_VERSIONS(lse_cols_f,
             (float *wlp, ptrdiff_t k, ptrdiff_t n, ptrdiff_t ld, double *lpn, double *work,
              gmm_stream *pf),
             (wlp, k, n, ld, lpn, work, pf))
GMM_VERSIONS(argmax_cols_d,
             (const double *wlp, ptrdiff_t k, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t *labels,
              double *work),
             (wlp, k, n, ld, labels, work))
GMM_VERSIONS(argmax_cols_f,
             (const float *wlp, ptrdiff_t k, ptrdiff_t n, ptrdiff_t ld, ptrdiff_t *labels,
              double *work),
             (wlp, k, n, ld, labels, work))
GMM_VERSIONS_W(small_block_d,
             (int cov, const double *X, ptrdiff_t n, ptrdiff_t d, ptrdiff_t k,
              const double *shift, const double *delta, const double *prec, const double *Q,
              const double *cst, double *wlp, ptrdiff_t ld, double *design, double *xt,
              gmm_stream *pf),
             (cov, X, n, d, k, shift, delta, prec, Q, cst, wlp, ld, design, xt, pf))
GMM_VERSIONS_W(small_block_f,
             (int cov, const float *X, ptrdiff_t n, ptrdiff_t d, ptrdiff_t k,
              const float *shift, const float *delta, const float *prec, const float *Q,
              const double *cst, float *wlp, ptrdiff_t ld, double *design, float *xt,
              gmm_stream *pf),
             (cov, X, n, d, k, shift, delta, prec, Q, cst, wlp, ld, design, xt, pf))

GMM_VERSIONS(diff_rows_d,
             (const double *X, ptrdiff_t n, ptrdiff_t d, const double *mu, const double *r,
              ptrdiff_t r_stride, double *Z),
             (X, n, d, mu, r, r_stride, Z))
GMM_VERSIONS(diff_rows_f,
             (const float *X, ptrdiff_t n, ptrdiff_t d, const float *mu, const float *r,
              ptrdiff_t r_stride, float *Z),
             (X, n, d, mu, r, r_stride, Z))
GMM_VERSIONS_W(transpose_d,
             (const double *X, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ldx, const double *shift,
              double *xt, ptrdiff_t ld),
             (X, n, d, ldx, shift, xt, ld))
GMM_VERSIONS_W(transpose_f,
             (const float *X, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ldx, const float *shift,
              float *xt, ptrdiff_t ld),
             (X, n, d, ldx, shift, xt, ld))
GMM_VERSIONS_W(wide_wlp_d,
             (int cov, const double *xt, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ld, ptrdiff_t k,
              const double *M, const double *P, const double *cst, double *wlp,
              double *dist, gmm_stream *pf),
             (cov, xt, n, d, ld, k, M, P, cst, wlp, dist, pf))
GMM_VERSIONS_W(wide_wlp_f,
             (int cov, const float *xt, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ld, ptrdiff_t k,
              const float *M, const float *P, const double *cst, float *wlp, float *dist,
              gmm_stream *pf),
             (cov, xt, n, d, ld, k, M, P, cst, wlp, dist, pf))
GMM_VERSIONS_W(wide_stats_f,
             (int cov, const float *xt, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ld, ptrdiff_t k,
              const float *M, float *R, float *dist, double *nk, double *acc, gmm_stream *pf),
             (cov, xt, n, d, ld, k, M, R, dist, nk, acc, pf))

GMM_VERSIONS_W(outer_design_f,
             (const float *X, ptrdiff_t n, ptrdiff_t d, ptrdiff_t k, const float *means,
              const float *R, ptrdiff_t ldr, const ptrdiff_t *assigned, float *Dz,
              double *H, double *G),
             (X, n, d, k, means, R, ldr, assigned, Dz, H, G))
GMM_VERSIONS(add_to_double_f, (const float *src, ptrdiff_t n, double *dst), (src, n, dst))

GMM_VERSIONS(design_d,
             (int kind, const double *X, ptrdiff_t n, ptrdiff_t d, const double *shift,
              double *W, ptrdiff_t width),
             (kind, X, n, d, shift, W, width))
GMM_VERSIONS(design_fd,
             (int kind, const float *X, ptrdiff_t n, ptrdiff_t d, const float *shift,
              double *W, ptrdiff_t width),
             (kind, X, n, d, shift, W, width))

GMM_VERSIONS_W(design_wlp_d,
               (int kind, const double *X, ptrdiff_t n, ptrdiff_t d, ptrdiff_t k,
                const double *shift, const double *Qc, ptrdiff_t kq, double *wlp, ptrdiff_t ld,
                double *W, ptrdiff_t width, gmm_stream *pf),
               (kind, X, n, d, k, shift, Qc, kq, wlp, ld, W, width, pf))

GMM_VERSIONS_W(upper_rows_d,
             (const double *src, const double *shift, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ld,
              const double *U, double *dst, double *zb),
             (src, shift, n, d, ld, U, dst, zb))
GMM_VERSIONS_W(upper_rows_f,
             (const float *src, const float *shift, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ld,
              const float *U, float *dst, float *zb),
             (src, shift, n, d, ld, U, dst, zb))
GMM_VERSIONS_W(full_wlp_d,
             (const double *xt, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ld, ptrdiff_t k,
              const double *M, const double *U, const double *cst, double *wlp, double *zb,
              gmm_stream *pf),
             (xt, n, d, ld, k, M, U, cst, wlp, zb, pf))
GMM_VERSIONS_W(full_wlp_f,
             (const float *xt, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ld, ptrdiff_t k,
              const float *M, const float *U, const double *cst, float *wlp, float *zb,
              gmm_stream *pf),
             (xt, n, d, ld, k, M, U, cst, wlp, zb, pf))

GMM_VERSIONS(assigned_rows_f,
             (const float *X, ptrdiff_t n, ptrdiff_t d, ptrdiff_t k, const float *means,
              const ptrdiff_t *assigned, const float *weight, const float *R, ptrdiff_t ldr,
              float *Z, double *T, double *M, double *G),
             (X, n, d, k, means, assigned, weight, R, ldr, Z, T, M, G))
GMM_VERSIONS_W(gram_lower_d, (const double *Z, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ldz, double *C),
               (Z, n, d, ldz, C))
GMM_VERSIONS_W(gram_lower_f, (const float *Z, ptrdiff_t n, ptrdiff_t d, ptrdiff_t ldz, double *C),
               (Z, n, d, ldz, C))
GMM_VERSIONS_W(rows_dot_d,
               (const double *P, ptrdiff_t p, const double *Q, ptrdiff_t q, ptrdiff_t n,
                ptrdiff_t ld, int lower, double *S),
               (P, p, Q, q, n, ld, lower, S))

static int simd_level = 0;

/* The lanes of the chosen version's vectors, given those of each width. */
static int chosen_lanes(ptrdiff_t lanes_64, ptrdiff_t lanes_32, ptrdiff_t lanes_16)
{
#ifdef GMM_X86_DISPATCH
    if (simd_level == 2) return (int)lanes_64;
    if (simd_level == 1) return (int)lanes_32;
#else
    (void)lanes_64;
    (void)lanes_32;
#endif
    return (int)lanes_16;
}

/* The lanes of gmm_wide_stats' and gmm_rows_dot's sums: those of the vectors of the
 * chosen version (1 in the plain-C build). */
int gmm_wide_lanes_d(void)
{
    return chosen_lanes(GMM_LANES(gmm_vd_64, double), GMM_LANES(gmm_vd_32, double),
                        GMM_LANES(gmm_vd_16, double));
}

int gmm_wide_lanes_f(void)
{
    return chosen_lanes(GMM_LANES(gmm_vf_64, float), GMM_LANES(gmm_vf_32, float),
                        GMM_LANES(gmm_vf_16, float));
}

int gmm_simd_portable(void)
{
#if defined(GMM_GNU)
    return 0;
#else
    return 1;
#endif
}

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
    GMM_PICK(row_sums_d);
    GMM_PICK(row_sums_f);
    GMM_PICK(exp_f);
    GMM_PICK(lse_cols_d);
    GMM_PICK(lse_cols_f);
    GMM_PICK(argmax_cols_d);
    GMM_PICK(argmax_cols_f);
    GMM_PICK(design_wlp_d);
    GMM_PICK(small_block_d);
    GMM_PICK(small_block_f);
    GMM_PICK(diff_rows_d);
    GMM_PICK(diff_rows_f);
    GMM_PICK(transpose_d);
    GMM_PICK(transpose_f);
    GMM_PICK(wide_wlp_d);
    GMM_PICK(wide_wlp_f);
    GMM_PICK(wide_stats_f);
    GMM_PICK(outer_design_f);
    GMM_PICK(add_to_double_f);
    GMM_PICK(design_d);
    GMM_PICK(design_fd);
    GMM_PICK(upper_rows_d);
    GMM_PICK(upper_rows_f);
    GMM_PICK(full_wlp_d);
    GMM_PICK(full_wlp_f);
    GMM_PICK(assigned_rows_f);
    GMM_PICK(gram_lower_d);
    GMM_PICK(gram_lower_f);
    GMM_PICK(rows_dot_d);
#undef GMM_PICK
    simd_level = level;
#endif
    return simd_level;
}
