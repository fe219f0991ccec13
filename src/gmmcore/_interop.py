"""Conversions between gmmcore's and scikit-learn's GaussianMixture.

Both keep the same parameters and fitted attributes under the same names, so a
conversion copies them: the converted model predicts exactly what the original
does.  scikit-learn is imported only when converting to it.
"""

import numpy as np

# Fitted attributes both estimators have; the array ones are copied.
_FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
           "converged_", "n_iter_", "lower_bound_", "lower_bounds_", "n_features_in_",
           "feature_names_in_")


def _copy(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return list(value)
    return value


def _check_fitted(estimator, what):
    if not hasattr(estimator, "means_"):
        raise ValueError(f"{what} is not fitted: fit it before converting it")


def from_sklearn(cls, estimator, **params):
    """A gmmcore model with the parameters and fitted state of a scikit-learn one."""
    if not all(hasattr(estimator, name) for name in
               ("get_params", "covariance_type", "n_components")):
        raise TypeError("expected a scikit-learn GaussianMixture, got "
                        f"{type(estimator).__name__}")
    _check_fitted(estimator, f"the {type(estimator).__name__}")
    ours = cls._get_param_names()
    theirs = {name: value for name, value in estimator.get_params(deep=False).items()
              if name in ours}
    model = cls(**{**theirs, **params})
    for name in _FITTED:
        if hasattr(estimator, name):
            setattr(model, name, _copy(getattr(estimator, name)))
    if not hasattr(model, "lower_bounds_"):  # scikit-learn < 1.7 keeps no trace
        model.lower_bounds_ = []
    model.degenerate_events_ = []
    # the kernels need C-contiguous float arrays of one dtype
    dtype = np.asarray(model.means_).dtype
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        setattr(model, name, np.ascontiguousarray(getattr(model, name), dtype=dtype))
    return model


def to_sklearn(model):
    """A scikit-learn GaussianMixture with the parameters and fitted state of ``model``."""
    from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

    model._check_is_fitted()
    theirs = SklearnGaussianMixture().get_params(deep=False)
    estimator = SklearnGaussianMixture(**{name: value for name, value in
                                          model.get_params(deep=False).items()
                                          if name in theirs})
    for name in _FITTED:
        if hasattr(model, name):
            setattr(estimator, name, _copy(getattr(model, name)))
    return estimator
