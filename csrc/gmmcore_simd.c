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
    simd_level = level;
#endif
    gmm_pick_exp_lse(simd_level);
    gmm_pick_small_tiles(simd_level);
    gmm_pick_feature_major(simd_level);
    gmm_pick_statistics(simd_level);
    gmm_pick_designs(simd_level);
    gmm_pick_marginal(simd_level);
    return simd_level;
}
