/*
 * What every family of the vectorised E-step loops shares (see gmmcore_simd.h and
 * docs/kernels.md): the compiler's dialect, the vector types of each width, and
 * the stream of the next block's lines.
 *
 * Every loop in csrc/simd/ is written so that the compiler vectorises it without
 * -ffast-math (which gmmcore never uses: log-sum-exp needs inf and NaN): no
 * reductions across vector lanes, no branches in the inner loops, and an exp of
 * its own (Cody-Waite range reduction, a Taylor polynomial, and the power of two
 * built from the exponent bits) instead of a libm call.
 */
#ifndef GMMCORE_SIMD_COMMON_H
#define GMMCORE_SIMD_COMMON_H

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

/* x86-64 with GNU C (GCC, Clang, and clang-cl, which builds the Windows wheels):
 * a clone of the loops per instruction set, chosen at run time by gmm_simd_init from
 * the CPU's own report (CPUID and XGETBV in inline assembly, which all three accept;
 * __builtin_cpu_supports needs the compiler's runtime library, not there under
 * clang-cl, which links against MSVC's). */
#if defined(GMM_GNU) && (defined(__x86_64__) || defined(_M_X64))
#define GMM_X86_DISPATCH 1
#define GMM_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define GMM_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")))
#include <immintrin.h>
#if defined(_MSC_VER)
/* clang-cl's immintrin.h declares the intrinsics of only the instruction sets the
 * whole file is compiled for (MSVC's convention); the clones enable theirs per
 * function, so they take the headers themselves. */
#include <smmintrin.h>
#include <avxintrin.h>
#include <avx2intrin.h>
#include <fmaintrin.h>
#include <avx512fintrin.h>
#include <avx512vlintrin.h>
#include <avx512dqintrin.h>
#include <avx512bwintrin.h>
#endif
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


#define GMM_LANES(V, T) ((ptrdiff_t)(sizeof(V) / sizeof(T)))

/* log(x) for positive x to about 1 ulp (x = 2^e m, m in [sqrt(1/2), sqrt(2)),
 * log m = 2 atanh((m - 1) / (m + 1)) by its series; subnormals scaled by 2^54
 * first); NaN for NaN, +inf for +inf.  Branch-free: loops of it vectorise.  Used by
 * the log-sum-exp (exp_lse) and the log-determinants of the missing-value blocks
 * (marginal). */
GMM_INLINE double log1_d(double x)
{
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    const double two52 = 4503599627370496.0;
    const int tiny = x < 2.2250738585072014e-308;
    const double xs = tiny ? x * 18014398509481984.0 : x;
    uint64_t bits;
    memcpy(&bits, &xs, sizeof bits);
    /* the exponent field as a double, without an int64 -> double conversion */
    uint64_t ebits = (bits >> 52) | UINT64_C(0x4330000000000000);
    double e;
    memcpy(&e, &ebits, sizeof e);
    e -= two52 + 1023.0 + (tiny ? 54.0 : 0.0);
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

/* Each family (one translation unit, generated from its .c.tp template) points its
 * dispatched entry points at the versions for an instruction-set level: 0 baseline,
 * 1 AVX2+FMA, 2 AVX-512 (gmm_simd_init calls them; no-ops without dispatch). */
void gmm_pick_exp_lse(int level);
void gmm_pick_small_tiles(int level);
void gmm_pick_feature_major(int level);
void gmm_pick_statistics(int level);
void gmm_pick_designs(int level);
void gmm_pick_marginal(int level);

#endif
