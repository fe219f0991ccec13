"""Every input check, with messages that name the problem.

Nothing reaches a kernel without passing through here: arrays come out
C-contiguous, float32 or float64, finite and of a checked shape.
"""

import collections.abc
import numbers
import sys

import numpy as np

from . import _kernels
from ._covariance import TYPES
from .exceptions import InvalidParameterError, warn
from ._parallel import LOOP_BYTES, loop_chunks


def feature_names_of(X):
    """Column names of a dataframe-like X when they are all strings, else None."""
    columns = getattr(X, "columns", None)
    if columns is None or isinstance(X, np.ndarray):
        return None
    names = np.asarray(list(columns), dtype=object)
    if len(names) and all(isinstance(n, str) for n in names):
        return names
    return None


def check_feature_names(X, fitted_names, estimator):
    """scikit-learn's rule for column names at predict time: a warning when only
    one of fit and predict had names, an error when the names differ."""
    names = feature_names_of(X)
    if names is None and fitted_names is None:
        return
    if names is None:
        if hasattr(X, "columns") or hasattr(X, "__dataframe__"):
            return  # a dataframe with non-string column names: nothing to compare
        warn(f"X does not have valid feature names, but {estimator} was fitted with "
             "feature names", UserWarning)
        return
    if fitted_names is None:
        warn(f"X has feature names, but {estimator} was fitted without feature names",
             UserWarning)
        return
    if len(names) != len(fitted_names) or np.any(names != fitted_names):
        unseen = [n for n in names if n not in set(fitted_names)]
        missing = [n for n in fitted_names if n not in set(names)]
        message = "The feature names should match those that were passed during fit.\n"
        if unseen:
            message += "Feature names unseen at fit time:\n- " + "\n- ".join(unseen) + "\n"
        if missing:
            message += "Feature names seen at fit time, yet now missing:\n- " + \
                "\n- ".join(missing) + "\n"
        if not unseen and not missing:
            message += "Feature names must be in the same order as they were in fit.\n"
        raise ValueError(message)


# What pandas infers for an object column that holds only numbers (and missing values).
_NUMBER_KINDS = {"integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"}


def _dataframe_values(X, name):
    """A pandas DataFrame's values as a float array, or None for anything else.

    Missing values of nullable columns (pd.NA) become NaN, so that they are
    reported as NaN; categorical, text and other non-numeric columns are named.
    """
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(X, pd.DataFrame):
        return None
    non_numeric = [f"{column!r} ({dtype})" for (column, dtype), (_, values) in
                   zip(X.dtypes.items(), X.items()) if not _is_numeric_column(pd, values)]
    if non_numeric:
        raise ValueError(
            f"{name} has non-numeric column(s) {', '.join(non_numeric)}; a Gaussian mixture "
            "needs numbers: encode categorical and text columns as numbers, or drop them")
    all_float32 = all(np.dtype(getattr(t, "numpy_dtype", t)) == np.float32 for t in X.dtypes)
    return X.to_numpy(dtype=np.float32 if all_float32 else np.float64, na_value=np.nan)


def _is_numeric_column(pd, values):
    if values.dtype == object:
        return pd.api.types.infer_dtype(values, skipna=True) in _NUMBER_KINDS
    return pd.api.types.is_numeric_dtype(values.dtype)


def check_array(X, *, name="X", dtype=None, ensure_min_samples=1, estimator="GaussianMixture",
                allow_nan=False):
    """X as a finite, C-contiguous float32/float64 2-D array.

    ``dtype`` None keeps float32 and float64 and converts anything numeric to
    float64; a dtype forces that dtype (predict paths use the fitted one).
    ``allow_nan``: NaN entries (missing values) pass; infinities do not.
    """
    sparse = sys.modules.get("scipy.sparse")
    if sparse is not None and sparse.issparse(X):
        raise TypeError(
            f"Sparse data was passed for {name}, but dense data is required. Use "
            "'.toarray()' to convert to a dense numpy array.")
    frame_values = _dataframe_values(X, name)
    if frame_values is not None:
        arr = frame_values
    elif hasattr(X, "__array__") or isinstance(X, (list, tuple)):
        try:
            arr = np.asarray(X)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name} could not be converted to a numeric array: {exc}") from None
    elif isinstance(X, collections.abc.Iterator):
        raise TypeError(
            f"{name} is an iterator ({type(X).__name__}), which can be read only once, "
            "and EM reads the data on every iteration. For data in chunks, pass the "
            "callable that returns a new iterator of chunks on each call: fit(chunks), "
            "not fit(chunks())")
    else:
        raise TypeError(
            f"{name} must be an array-like of shape (n_samples, n_features), "
            f"got {type(X).__name__}")
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {arr.dtype}")
    if arr.dtype.kind in "USV":
        raise ValueError(
            f"{name} has a string or bytes dtype ({arr.dtype}); convert it to numbers first")
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (ValueError, TypeError) as exc:
            # keep the exception's type: a string that is no number is a
            # ValueError, an object that is no string nor number a TypeError
            raise type(exc)(f"{name} must contain numbers; an entry of its object array "
                            f"cannot be converted to float: {exc}") from None
    elif arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} has unsupported dtype {arr.dtype}")
    if arr.ndim != 2:
        hint = ("Reshape your data either using array.reshape(-1, 1) if your data "
                "has a single feature or array.reshape(1, -1) if it contains a single sample."
                if arr.ndim == 1 else "")
        raise ValueError(f"Expected a 2D array for {name}, got a {arr.ndim}D array of "
                         f"shape {arr.shape} instead. {hint}".rstrip())
    n_samples, n_features = arr.shape
    if n_samples < ensure_min_samples:
        raise ValueError(
            f"Found array with {n_samples} sample(s) (shape={arr.shape}) while a "
            f"minimum of {ensure_min_samples} is required by {estimator}.")
    if n_features < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum "
            f"of 1 is required by {estimator}.")
    if dtype is None:
        dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    arr = np.ascontiguousarray(arr, dtype=dtype)
    # in chunks, so that a memory-mapped X's pages are dropped as they are checked
    if not (_kernels.all_finite(arr) if arr.nbytes <= LOOP_BYTES else
            all(_kernels.all_finite(arr[s:e]) for s, e in loop_chunks(n_samples, arr.strides[0]))):
        chunks = loop_chunks(n_samples, arr.strides[0])
        if allow_nan:
            if any(np.isinf(arr[s:e]).any() for s, e in chunks):
                raise ValueError(f"Input {name} contains infinity or a value too large for "
                                 f"{arr.dtype!r}.")
            return arr
        has_nan = any(np.isnan(arr[s:e]).any() for s, e in chunks)
        what = "NaN" if has_nan else f"infinity or a value too large for {arr.dtype!r}"
        raise ValueError(f"Input {name} contains {what}.")
    return arr


# BLAS takes 32-bit sizes: a d × d covariance must have fewer than 2**31 entries.
MAX_FULL_FEATURES = 46340


def check_n_features(n_features, covariance_type):
    if TYPES[covariance_type].matrix and n_features > MAX_FULL_FEATURES:
        raise ValueError(
            f"n_features={n_features} is too many for covariance_type="
            f"{covariance_type!r}: a {n_features}×{n_features} covariance exceeds what the "
            f"kernels address (at most {MAX_FULL_FEATURES} features); use 'diag' or "
            "'spherical', or reduce the number of features")


def check_sample_weight(sample_weight, n_samples, allow_all_zero=False):
    """Weights as a float64 (n_samples,) array, or None for unit weights.

    Weights stay float64 whatever the data's dtype (the kernels take them scaled
    into their own dtype's range, see _em.kernel_weights), so any uniform scale
    of them fits the same mixture."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must be numeric, got dtype {w.dtype}")
    if w.ndim == 0:
        w = np.full(n_samples, float(w))
    if w.shape != (n_samples,):
        raise ValueError(f"sample_weight has shape {w.shape}, expected ({n_samples},) "
                         "to match the number of samples in X")
    w = np.ascontiguousarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError("sample_weight contains NaN or infinity")
    if np.any(w < 0):
        raise ValueError("sample_weight must be non-negative")
    if not allow_all_zero and not np.any(w > 0):
        raise ValueError("sample_weight must have at least one positive entry; "
                         "all weights are zero")
    return w


def check_random_state(seed):
    """A RandomState from None, an int or a RandomState (scikit-learn's rule)."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.RandomState(seed)
    if isinstance(seed, np.random.RandomState):
        return seed
    raise InvalidParameterError(
        f"random_state must be None, an int or a numpy.random.RandomState instance, "
        f"got {seed!r}")


def _integral(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(name, value, low, estimator="GaussianMixture"):
    if not _integral(value) or value < low:
        raise InvalidParameterError(
            f"The '{name}' parameter of {estimator} must be an int in the range "
            f"[{low}, inf). Got {value!r} instead.")
    return int(value)


def check_real(name, value, low, estimator="GaussianMixture"):
    if not _real(value) or not np.isfinite(value) or value < low:
        raise InvalidParameterError(
            f"The '{name}' parameter of {estimator} must be a float in the range "
            f"[{low}, inf). Got {value!r} instead.")
    return float(value)


def check_option(name, value, options, estimator="GaussianMixture"):
    if not isinstance(value, str) or value not in options:
        allowed = ", ".join(repr(o) for o in sorted(options))
        raise InvalidParameterError(
            f"The '{name}' parameter of {estimator} must be one of {{{allowed}}}. "
            f"Got {value!r} instead.")
    return value


def check_bool(name, value, estimator="GaussianMixture"):
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidParameterError(
            f"The '{name}' parameter of {estimator} must be an instance of bool. "
            f"Got {value!r} instead.")
    return bool(value)


def _as_float_array(value, name):
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise ValueError(f"The parameter '{name}' must be an array of numbers") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"The parameter '{name}' contains NaN or infinity")
    return arr


def _check_shape(arr, shape, name):
    if arr.shape != shape:
        raise ValueError(f"The parameter '{name}' should have the shape of {shape}, "
                         f"but got {arr.shape}")


def check_weights_init(weights, n_components):
    w = _as_float_array(weights, "weights")
    _check_shape(w, (n_components,), "weights")
    if np.any(w < 0.0) or np.any(w > 1.0):
        # scikit-learn's message word for word (its test_check_weights matches it),
        # which names the smallest weight first
        raise ValueError("The parameter 'weights' should be in the range [0, 1], but got "
                         f"max value {w.min():.5f}, min value {w.max():.5f}")
    # float32 weights sum to 1 within float32's rounding (scikit-learn's tolerances)
    atol = 1e-6 if getattr(weights, "dtype", None) == np.float32 else 1e-8
    if not abs(1.0 - w.sum()) <= atol:
        raise ValueError(
            f"The parameter 'weights' should be normalized, but got sum(weights) = {w.sum():.5f}")
    return w


def check_means_init(means, n_components, n_features):
    m = _as_float_array(means, "means")
    _check_shape(m, (n_components, n_features), "means")
    return m


def _check_precision_matrix(p, covariance_type):
    if not (np.allclose(p, p.T) and np.all(np.linalg.eigvalsh(p) > 0.0)):
        raise ValueError(f"'{covariance_type} precision' should be symmetric, positive-definite")


def check_precisions_init(precisions, covariance_type, n_components, n_features):
    p = _as_float_array(precisions, f"{covariance_type} precision")
    _check_shape(p, TYPES[covariance_type].shape(n_components, n_features),
                 f"{covariance_type} precision")
    kind = TYPES[covariance_type]
    if kind.matrix:
        for pk in kind.stack(p):
            _check_precision_matrix(pk, covariance_type)
    elif np.any(p <= 0.0):
        raise ValueError(f"'{covariance_type} precision' should be positive")
    return p
