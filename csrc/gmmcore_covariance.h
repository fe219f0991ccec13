/*
 * The covariance types as the kernels number them, shared by the C loops and the
 * Cython driver (which reads this header: _kernels.pyx, cdef extern).  The per-row
 * designs are named by the covariance type whose statistics they give: full's
 * [1, z, z_j z_l for l <= j], tied's [1, z], diag's [1, z, z^2] and spherical's
 * [1, z, |z|^2].
 */
#ifndef GMMCORE_COVARIANCE_H
#define GMMCORE_COVARIANCE_H

enum gmm_covariance {
    GMM_FULL = 0,
    GMM_TIED = 1,
    GMM_DIAG = 2,
    GMM_SPHERICAL = 3
};

#endif
