/*
 * Row-wise log-sum-exp for the E-step, in plain C so that the float and double
 * versions read as what they are.
 *
 * On entry `row` holds the k weighted log-densities log(pi_c) + log N(x | mu_c, Sigma_c)
 * of one sample; on exit it holds the responsibilities exp(row[c] - lse) and the
 * function returns lse = log sum_c exp(row[c]).  The sum is taken in double for both
 * precisions (it is the sample's log-likelihood, summed over the data afterwards).
 *
 * A row whose every entry is -inf (the sample has zero density under every component
 * with non-zero weight) gets responsibilities of zero rather than NaN, and -inf is
 * returned: the caller reports it.  NaN propagates.
 */
#ifndef GMMCORE_HELPERS_H
#define GMMCORE_HELPERS_H

#include <math.h>
#include <stddef.h>

static inline double gmm_logsumexp_resp_d(double *row, ptrdiff_t k)
{
    double max = -INFINITY, sum = 0.0, lse;
    ptrdiff_t c;
    for (c = 0; c < k; ++c)
        if (row[c] > max || isnan(row[c])) max = row[c];
    if (max == -INFINITY) {
        for (c = 0; c < k; ++c) row[c] = 0.0;
        return -INFINITY;
    }
    for (c = 0; c < k; ++c) sum += exp(row[c] - max);
    lse = max + log(sum);
    for (c = 0; c < k; ++c) row[c] = exp(row[c] - lse);
    return lse;
}

static inline double gmm_logsumexp_resp_f(float *row, ptrdiff_t k)
{
    float max = -INFINITY;
    double sum = 0.0, lse;
    float flse;
    ptrdiff_t c;
    for (c = 0; c < k; ++c)
        if (row[c] > max || isnan(row[c])) max = row[c];
    if (max == -INFINITY) {
        for (c = 0; c < k; ++c) row[c] = 0.0f;
        return -INFINITY;
    }
    for (c = 0; c < k; ++c) sum += (double)expf(row[c] - max);
    lse = (double)max + log(sum);
    flse = (float)lse;
    for (c = 0; c < k; ++c) row[c] = expf(row[c] - flse);
    return lse;
}

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
