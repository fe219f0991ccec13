"""Safe model files: a versioned .npz that is read with allow_pickle=False.

A model file holds only numeric and string arrays: the constructor parameters (as
JSON text, array-valued ones as arrays of their own) and every fitted attribute.
Loading never unpickles, so a model file from an untrusted source cannot run code;
every array is checked for presence, dtype kind and shape before it is used.
"""

import json
import numbers

import numpy as np

FORMAT = "gmmcore.GaussianMixture"
FORMAT_VERSION = 1

_ARRAY_PARAMS = ("weights_init", "means_init", "precisions_init")
_FITTED_FLOATS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


class ModelFileError(ValueError):
    """A model file that cannot be loaded: wrong format, newer version, bad arrays."""


def _param_shapes(covariance_type, k, d):
    return {
        "full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,),
    }[covariance_type]


# ----------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------

def save(model, file):
    """Write a fitted model to ``file`` (a path or a binary file object)."""
    model._check_is_fitted()
    from ._version import __version__

    arrays = {
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION),
        "gmmcore_version": np.array(__version__),
    }
    arrays.update(_param_arrays(model))
    arrays.update(_fitted_arrays(model))
    np.savez(file, **arrays)


def _param_arrays(model):
    """The constructor parameters: scalars as JSON text, array-valued ones as arrays."""
    scalars = {}
    arrays = {}
    for name, value in model.get_params().items():
        if name in _ARRAY_PARAMS:
            if value is not None:
                arrays[f"param.{name}"] = np.asarray(value, dtype=np.float64)
            continue
        if name == "random_state" and not (value is None or isinstance(value, numbers.Integral)):
            value = None  # a RandomState instance has no safe serial form
        if isinstance(value, (np.integer, np.floating, np.bool_)):
            value = value.item()
        scalars[name] = value
    arrays["params_json"] = np.array(json.dumps(scalars, sort_keys=True))
    return arrays


def _fitted_arrays(model):
    """Every fitted attribute as an array; ``_read_fitted`` reads them back.

    A new fitted attribute is written here and read (and checked) there.
    """
    arrays = {
        "converged_": np.array(bool(model.converged_)),
        "n_iter_": np.array(int(model.n_iter_)),
        "lower_bound_": np.array(float(model.lower_bound_)),
        "lower_bounds_": np.asarray(model.lower_bounds_, dtype=np.float64),
        "n_features_in_": np.array(int(model.n_features_in_)),
    }
    for name in _FITTED_FLOATS:
        arrays[name] = np.asarray(getattr(model, name))
    if hasattr(model, "feature_names_in_"):
        arrays["feature_names_in_"] = np.asarray(model.feature_names_in_, dtype=str)
    return arrays


# ----------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------

def load(cls, file):
    """Read a model written by ``save``; never unpickles."""
    try:
        data = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"cannot read a model file from {file!r}: {exc}") from None
    if not hasattr(data, "files"):
        raise ModelFileError("a model file is an .npz archive, not a single array")
    with data:
        fmt = str(_get(data, "format", "U", ()))
        if fmt != FORMAT:
            raise ModelFileError(f"not a gmmcore model file (format {fmt!r})")
        return _read_model(cls, data)


def _get(data, name, kind, shape=None):
    if name not in data:
        raise ModelFileError(f"model file has no '{name}' array")
    try:
        arr = data[name]
    except ValueError as exc:  # e.g. an object array, which would need pickle
        raise ModelFileError(f"model file array '{name}' cannot be read safely: {exc}") from None
    if arr.dtype.kind not in kind:
        raise ModelFileError(f"model file array '{name}' has dtype {arr.dtype}, "
                             f"expected kind {kind!r}")
    if shape is not None and arr.shape != shape:
        raise ModelFileError(f"model file array '{name}' has shape {arr.shape}, "
                             f"expected {shape}")
    return arr


def _read_json(data, name):
    try:
        return json.loads(str(_get(data, name, "U", ())))
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"model file array '{name}' is not valid JSON: {exc}") from None


def _read_model(cls, data):
    version = int(_get(data, "format_version", "iu", ()))
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"model file format version {version} is newer than this gmmcore "
            f"understands ({FORMAT_VERSION}); upgrade gmmcore to load it")
    if version < 1:
        raise ModelFileError(f"invalid model file format version {version}")
    model = cls(**_read_params(cls, data))
    if model.covariance_type not in ("full", "tied", "diag", "spherical"):
        raise ModelFileError(f"model file has covariance_type {model.covariance_type!r}")
    d = int(_get(data, "n_features_in_", "iu", ()))
    _read_fitted(model, data, d)
    return model


def _read_params(cls, data):
    params = _read_json(data, "params_json")
    if not isinstance(params, dict):
        raise ModelFileError("model file parameters are not a JSON object")
    unknown = set(params) - set(cls._get_param_names())
    if unknown:
        raise ModelFileError(f"model file has unknown parameters {sorted(unknown)}")
    for name in _ARRAY_PARAMS:
        key = f"param.{name}"
        params[name] = _get(data, key, "f").astype(np.float64) if key in data else None
    return params


def _read_fitted(model, data, d):
    """The fitted attributes that ``_fitted_arrays`` wrote, each checked."""
    means = _get(data, "means_", "f")
    if means.ndim != 2 or means.shape[1] != d or means.shape[0] < 1:
        raise ModelFileError(f"model file array 'means_' has shape {means.shape}, "
                             f"expected (n_components, {d})")
    k = means.shape[0]
    if k != model.n_components:
        raise ModelFileError(f"model file has {k} components in 'means_' but "
                             f"n_components={model.n_components}")
    model.means_ = means
    model.weights_ = _get(data, "weights_", "f", (k,))
    cov_shape = _param_shapes(model.covariance_type, k, d)
    for name in ("covariances_", "precisions_", "precisions_cholesky_"):
        setattr(model, name, _get(data, name, "f", cov_shape))
    for name in _FITTED_FLOATS:
        arr = getattr(model, name)
        if arr.dtype != means.dtype:
            raise ModelFileError(f"model file array '{name}' has dtype {arr.dtype}, "
                                 f"expected {means.dtype} like 'means_'")
        if not np.all(np.isfinite(arr)):
            raise ModelFileError(f"model file array '{name}' contains NaN or infinity")
    if np.any(model.weights_ < 0) or not np.isclose(model.weights_.sum(), 1.0, atol=1e-5):
        raise ModelFileError("model file 'weights_' are not non-negative and summing to 1")
    pc = model.precisions_cholesky_
    diag = (np.diagonal(pc, axis1=-2, axis2=-1) if model.covariance_type in ("full", "tied")
            else pc)
    if np.any(diag <= 0):
        raise ModelFileError("model file 'precisions_cholesky_' is not positive definite")
    model.converged_ = bool(_get(data, "converged_", "b", ()))
    model.n_iter_ = int(_get(data, "n_iter_", "iu", ()))
    model.lower_bound_ = float(_get(data, "lower_bound_", "f", ()))
    model.lower_bounds_ = [float(v) for v in _get(data, "lower_bounds_", "f")]
    model.n_features_in_ = d
    if "feature_names_in_" in data:
        names = _get(data, "feature_names_in_", "U", (d,))
        model.feature_names_in_ = names.astype(object)
