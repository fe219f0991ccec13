/*
 * The vectorised E-step loops' common entry points (see gmmcore_simd.h): the
 * stream of the next block's lines, the lanes of the chosen version, and the choice
 * of version for this CPU.  The loops themselves are in csrc/simd/, a file per
 * family, each generated from its Tempita template (.c.tp) by setup.py:
 *
 *   exp_lse        exp, log, log-sum-exp, argmax, per-row sums of log p(x)
 *   small_tiles    d <= 8: register tiles of rows, every covariance type
 *   feature_major  transposed blocks: diag, spherical, tied and full in direct form
 *   statistics     Gram sums, per-lane design sums, float32 assigned-mean moments
 *   designs        the per-row designs, and the expanded form's design sweep
 *
 * docs/kernels.md maps them to the plan that chooses them.
 */
#include "simd/common.h"

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

#ifdef GMM_X86_DISPATCH
/* CPUID leaf `leaf`, subleaf `sub`: r = {eax, ebx, ecx, edx}. */
static void cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    __asm__ __volatile__("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                         : "a"(leaf), "c"(sub));
}

/* The register states the operating system saves (XCR0), read only once CPUID has
 * said that it enabled XGETBV (OSXSAVE). */
static unsigned long long xcr0(void)
{
    unsigned lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

/* The highest level this CPU and operating system run: 1 needs AVX2 and FMA with
 * the YMM registers' upper halves saved by the OS, 2 also AVX-512 F, DQ, VL and BW
 * with the opmask and ZMM states saved.  A CPU may have an instruction set that
 * its OS (or hypervisor) does not enable: XCR0 says which it does. */
static int x86_level(void)
{
    unsigned r[4];
    cpuid(0, 0, r);
    const unsigned max_leaf = r[0];
    if (max_leaf < 7) return 0;
    cpuid(1, 0, r);
    const int fma = (r[2] >> 12) & 1, osxsave = (r[2] >> 27) & 1, avx = (r[2] >> 28) & 1;
    if (!(fma && osxsave && avx)) return 0;
    const unsigned long long xcr = xcr0();
    if ((xcr & 0x6) != 0x6) return 0; /* XMM and YMM states */
    cpuid(7, 0, r);
    const unsigned b = r[1];
    if (!((b >> 5) & 1)) return 0; /* AVX2 */
    const int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);
    if (avx512 && (xcr & 0xe0) == 0xe0) return 2; /* F, DQ, BW, VL; opmask and ZMM states */
    return 1;
}
#endif

int gmm_simd_init(void)
{
#ifdef GMM_X86_DISPATCH
    const char *cap = getenv("GMMCORE_SIMD");
    int max_level = 2;
    if (cap != NULL) {
        if (strcmp(cap, "generic") == 0) max_level = 0;
        else if (strcmp(cap, "avx2") == 0) max_level = 1;
    }
    const int level = x86_level();
    simd_level = level < max_level ? level : max_level;
#endif
    gmm_pick_exp_lse(simd_level);
    gmm_pick_small_tiles(simd_level);
    gmm_pick_feature_major(simd_level);
    gmm_pick_statistics(simd_level);
    gmm_pick_designs(simd_level);
    gmm_pick_marginal(simd_level);
    return simd_level;
}
