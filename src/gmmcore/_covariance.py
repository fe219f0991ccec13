"""The four covariance types in one place: their names and the shape of their
per-type arrays (``precisions_init``, ``covariances_``, ``precisions_``,
``precisions_cholesky_`` and the second moments of the statistics share it)."""

import math

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def parameter_shape(covariance_type, n_components, n_features):
    """The shape of a per-type array of a mixture of k components in d features."""
    k, d = n_components, n_features
    return {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[
        covariance_type]


def parameter_size(covariance_type, n_components, n_features):
    return math.prod(parameter_shape(covariance_type, n_components, n_features))
