"""Conversions between gmmcore's mixtures and scikit-learn's of the same name
(GaussianMixture, BayesianGaussianMixture).

Both keep the same parameters and fitted attributes under the same names, so a
conversion copies them: the converted model predicts exactly what the original
does.  An estimator class lists its fitted attributes in ``_FITTED_ATTRIBUTES``.
scikit-learn is imported only when converting to it.
"""

import numpy as np

# The parameter arrays, which the kernels need C-contiguous in the means' dtype.
_PARAMETER_ARRAYS = ("weights_", "means_", "covariances_", "precisions_",
                     "precisions_cholesky_", "mean_precision_")


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
        raise TypeError(f"expected a scikit-learn {cls.__name__}, got "
                        f"{type(estimator).__name__}")
    _check_fitted(estimator, f"the {type(estimator).__name__}")
    ours = cls._get_param_names()
    theirs = {name: value for name, value in estimator.get_params(deep=False).items()
              if name in ours}
    model = cls(**{**theirs, **params})
    for name in cls._FITTED_ATTRIBUTES:
        if hasattr(estimator, name):
            setattr(model, name, _copy(getattr(estimator, name)))
    if not hasattr(model, "lower_bounds_"):  # scikit-learn < 1.7 keeps no trace
        model.lower_bounds_ = []
    # scikit-learn's variational 'tied' bound is an array of one
    model.lower_bound_ = float(np.ravel(model.lower_bound_)[0])
    model.degenerate_events_ = []
    dtype = np.asarray(model.means_).dtype
    for name in _PARAMETER_ARRAYS:
        if hasattr(model, name):
            setattr(model, name, np.ascontiguousarray(getattr(model, name), dtype=dtype))
    if isinstance(getattr(model, "weight_concentration_", None), tuple):
        model.weight_concentration_ = tuple(np.asarray(c, dtype=dtype)
                                            for c in model.weight_concentration_)
    return model


def to_sklearn(model):
    """scikit-learn's estimator of the same name, with the parameters and fitted
    state of ``model``."""
    import sklearn.mixture

    model._check_is_fitted()
    theirs_class = getattr(sklearn.mixture, type(model).__name__)
    theirs = theirs_class().get_params(deep=False)
    estimator = theirs_class(**{name: value for name, value in
                                model.get_params(deep=False).items() if name in theirs})
    for name in type(model)._FITTED_ATTRIBUTES:
        if hasattr(model, name):
            setattr(estimator, name, _copy(getattr(model, name)))
    return estimator
