/* Small inline helpers of the kernels, for float and double. */
#ifndef GMMCORE_HELPERS_H
#define GMMCORE_HELPERS_H

#include <math.h>
#include <stddef.h>

/* Index of the largest entry of a row (first one on ties, as numpy.argmax). */
static inline ptrdiff_t gmm_argmax_d(const double *row, ptrdiff_t k)
{
    ptrdiff_t c, best = 0;
    for (c = 1; c < k; ++c) if (row[c] > row[best]) best = c;
    return best;
}

static inline ptrdiff_t gmm_argmax_f(const float *row, ptrdiff_t k)
{
    ptrdiff_t c, best = 0;
    for (c = 1; c < k; ++c) if (row[c] > row[best]) best = c;
    return best;
}

#endif
