"""The four covariance types in one table.

Each ``CovarianceType`` holds what is particular to its type outside the
statistics' maths (which is ``_mstep``'s table of covariance estimators): its code
in the kernels (``csrc/gmmcore_covariance.h``, as ``_kernels`` reads it), the shape of
its per-type arrays (``precisions_init``, ``covariances_``, ``precisions_``,
``precisions_cholesky_`` and the second moments of the statistics), its number of
free parameters, the work of a pass per row, and the conversions between its
precisions, their Cholesky factors and its covariances.  Every module dispatches on
a covariance type through ``TYPES``.

Full and tied store matrices (tied one, shared by every component), diag and
spherical per-feature or per-component variances; ``stack`` views a type's matrices
as a stack, so that one piece of code serves both matrix types.
"""

import math

import numpy as np
from scipy import linalg

from . import _kernels


class CovarianceType:
    """One covariance type; see the module docstring."""

    __slots__ = ("name", "code", "matrix", "shared")

    def __init__(self, name, matrix, shared):
        self.name = name
        self.code = _kernels.COVARIANCE_CODES[name]
        self.matrix = matrix    # full, tied: d × d matrices and their Cholesky factors
        self.shared = shared    # tied: one covariance for every component

    def __repr__(self):
        return f"CovarianceType({self.name!r})"

    def shape(self, n_components, n_features):
        """The shape of a per-type array of a mixture of k components in d features."""
        k, d = n_components, n_features
        if self.matrix:
            return (d, d) if self.shared else (k, d, d)
        return (k, d) if self.name == "diag" else (k,)

    def size(self, n_components, n_features):
        return math.prod(self.shape(n_components, n_features))

    def n_parameters(self, n_components, n_features):
        """Free parameters of the covariances (symmetric matrices count a triangle)."""
        k, d = n_components, n_features
        per = d * (d + 1) / 2.0 if self.matrix else (d if self.name == "diag" else 1)
        return per * (1 if self.shared else k)

    def pass_work(self, n_components, n_features):
        """Multiply-adds per row of one EM pass, leading terms (for scheduling)."""
        k, d = n_components, n_features
        return {"full": k * d * d, "tied": k * d + d * d, "diag": 3 * k * d,
                "spherical": 2 * k * d}[self.name]

    def stack(self, a):
        """A matrix type's array as a stack of matrices (tied: a stack of one)."""
        return a[None] if self.shared else a

    def unstack(self, s):
        return s[0] if self.shared else s

    def precisions_from_cholesky(self, precisions_cholesky):
        """P = U Uᵀ (matrix types), or the square of each per-feature factor."""
        pc = precisions_cholesky
        if self.matrix:
            u = self.stack(pc)
            return self.unstack(u @ np.swapaxes(u, 1, 2))
        return pc**2

    def cholesky_from_precisions(self, precisions):
        """Upper-triangular U with U Uᵀ = P (by Cholesky of the reversed matrix), or
        the square roots of per-feature precisions."""
        if self.matrix:
            return self.unstack(np.stack([_flip(linalg.cholesky(_flip(p), lower=True))
                                          for p in self.stack(precisions)]))
        return np.sqrt(precisions)

    def covariances_from_cholesky(self, precisions_cholesky):
        """Σ = (U Uᵀ)⁻¹ = U⁻ᵀ U⁻¹, for a start given as precisions."""
        pc = np.asarray(precisions_cholesky, dtype=np.float64)
        if self.matrix:
            eye = np.eye(pc.shape[-1])
            inverses = [linalg.solve_triangular(u, eye, lower=False) for u in self.stack(pc)]
            return self.unstack(np.stack([inv.T @ inv for inv in inverses]))
        return 1.0 / pc**2

    def log_det_cholesky(self, precisions_cholesky, n_features):
        """log det U per component (half the log-determinant of the precision)."""
        pc = np.asarray(precisions_cholesky, dtype=np.float64)
        if self.matrix:
            return self.unstack(np.log(np.diagonal(self.stack(pc), axis1=1, axis2=2)).sum(
                axis=1))
        if self.name == "diag":
            return np.log(pc).sum(axis=1)
        return n_features * np.log(pc)


def _flip(a):
    return a[..., ::-1, ::-1]


TYPES = {t.name: t for t in (CovarianceType("full", matrix=True, shared=False),
                             CovarianceType("tied", matrix=True, shared=True),
                             CovarianceType("diag", matrix=False, shared=False),
                             CovarianceType("spherical", matrix=False, shared=False))}
COVARIANCE_TYPES = tuple(TYPES)

