"""Safe model files: a versioned .npz that is read with allow_pickle=False.

A model file holds only numeric and string arrays: the constructor parameters (as
JSON text, array-valued ones as arrays of their own) and every fitted attribute.
Loading never unpickles, so a model file from an untrusted source cannot run code;
every array is checked for presence, dtype kind and shape before it is used.
Whatever the file holds, a file that is not a readable model raises ModelFileError.
"""

import contextlib
import json
import numbers
import os
import struct
import zipfile
import zlib

import numpy as np

from ._covariance import TYPES
from ._validation import check_random_state
from .exceptions import ModelFileError

FORMAT = "gmmcore.GaussianMixture"  # the estimator's class name after "gmmcore."
FORMAT_VERSION = 1

_FITTED_FLOATS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")

def _format(cls):
    return f"gmmcore.{cls.__name__}"


def _a_model_file(expected):
    """What a model file of the format ``expected`` is, for messages."""
    name = expected[len("gmmcore."):]
    writers = f"{name}.save or 'gmmcore fit -o'" if name == "GaussianMixture" else f"{name}.save"
    return f"a gmmcore model file (the .npz archive that {writers} writes)"

# What reading a truncated, bit-flipped or otherwise damaged archive raises, from
# zipfile (a flipped flag bit asks for encryption or an unknown compression), zlib,
# numpy's header parser and the file itself.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError,
            NotImplementedError, KeyError, ValueError, struct.error, OverflowError)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first entry, or an empty zip
_HEAD_BYTES = 512


# ----------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------

def save(model, file):
    """Write a fitted model to ``file`` (a path or a binary file object)."""
    model._check_is_fitted()
    from ._version import __version__

    arrays = {
        "format": np.array(_format(type(model))),
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
        if name in model._ARRAY_PARAMS and value is not None and np.ndim(value) > 0:
            arrays[f"param.{name}"] = np.asarray(value, dtype=np.float64)
            continue
        if name in model._ARRAY_PARAMS and value is not None:
            value = float(value)  # a scalar one (a spherical covariance_prior)
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
        "degenerate_events_json": np.array(
            json.dumps(list(getattr(model, "degenerate_events_", [])))),
    }
    for name in _FITTED_FLOATS:
        arrays[name] = np.asarray(getattr(model, name))
    if hasattr(model, "feature_names_in_"):
        arrays["feature_names_in_"] = np.asarray(model.feature_names_in_, dtype=str)
    if hasattr(model, "weight_concentration_"):
        arrays.update(_variational_arrays(model))
    arrays.update(_stream_arrays(model))
    return arrays


# A variational posterior's and its priors' arrays, beside the point estimates
_PRIORS = ("weight_concentration_prior_", "mean_precision_prior_", "mean_prior_",
           "degrees_of_freedom_prior_", "covariance_prior_")


def _variational_arrays(model):
    wc = model.weight_concentration_
    arrays = ({"weight_concentration_a": np.asarray(wc[0]),
               "weight_concentration_b": np.asarray(wc[1])} if isinstance(wc, tuple)
              else {"weight_concentration_": np.asarray(wc)})
    arrays["mean_precision_"] = np.asarray(model.mean_precision_)
    arrays["degrees_of_freedom_"] = np.asarray(model.degrees_of_freedom_, dtype=np.float64)
    for name in _PRIORS:
        arrays[name] = np.asarray(getattr(model, name), dtype=np.float64)
    return arrays


def _stream_arrays(model):
    """What partial_fit continues from: the weight the parameters were estimated
    from, the batches since fit, and the running statistics with their mode."""
    arrays = {
        "n_samples_seen_": np.array(float(getattr(model, "n_samples_seen_", 0.0))),
        "n_batches_seen_": np.array(int(getattr(model, "n_batches_seen_", 0))),
    }
    stats = getattr(model, "statistics_", None)
    if stats is not None:
        arrays.update({
            "stream.mode": np.array(model._stream_mode),
            "stream.row": np.asarray(stats.row, dtype=np.float64),
            "stream.shifts": np.asarray(stats.shifts, dtype=np.float64),
            "stream.tied_shift": np.asarray(stats.tied_shift, dtype=np.float64),
            "stream.n_rows": np.array(int(stats.n_rows)),
        })
    return arrays


# ----------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------

def load(cls, file):
    """Read a model written by ``save``; never unpickles."""
    try:
        return _read_model(cls, _read_arrays(file, _format(cls)))
    except ModelFileError as exc:
        raise ModelFileError(f"cannot load a model from {_file_label(file)}: {exc}") from None


def _file_label(file):
    if isinstance(file, (str, bytes, os.PathLike)):
        return os.fsdecode(file)
    name = getattr(file, "name", None)
    return name if isinstance(name, str) else "the file object"


def _read_arrays(file, expected):
    """Every array of the model file ``file``, by name.

    All are read here, so that whatever a damaged archive raises is caught in one
    place; the first bytes of a file that is no zip archive say what it is (a CSV,
    a .npy of data, a pickle), for a message that says so.
    """
    with contextlib.ExitStack() as stack:
        try:
            f = file if hasattr(file, "read") else stack.enter_context(open(file, "rb"))
            start = f.tell()
            head = f.read(_HEAD_BYTES)
            f.seek(start)
        except OSError as exc:
            raise ModelFileError(str(exc)) from None
        if not head.startswith(_ZIP_MAGIC):
            raise ModelFileError(f"it is {_describe(head)}, not {_a_model_file(expected)}")
        try:
            with np.load(f, allow_pickle=False) as archive:
                if "format" not in archive.files:
                    names = ", ".join(repr(n) for n in archive.files[:5])
                    more = ", ..." if len(archive.files) > 5 else ""
                    raise ModelFileError(
                        f"it is an .npz archive ({names or 'empty'}{more}) without "
                        f"gmmcore's 'format' marker, not {_a_model_file(expected)}")
                _check_format(_member(archive, "format"), expected)
                return {name: _member(archive, name) for name in archive.files}
        except ModelFileError:
            raise
        except _DAMAGED as exc:
            raise ModelFileError(f"the file is damaged (truncated or corrupted): "
                                 f"{type(exc).__name__}: {exc}") from None


def _describe(head):
    """What a file that is no zip archive is, from its first bytes."""
    if not head:
        return "empty"
    if head.startswith(b"\x93NUMPY"):
        return "a single .npy array (data, not a model)"
    if head.startswith(b"\x80"):
        return "a Python pickle, which gmmcore never loads (unpickling can run code)"
    if _is_text(head):
        return "a text file (a CSV or other data file?)"
    return "binary data of another format"


def _is_text(head):
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut by the end of the head
            return False
        text = head[:exc.start].decode("utf-8")
    return all(c.isprintable() or c in "\t\n\r\f\v" for c in text)


def _member(archive, name):
    try:
        return archive[name]
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise
        raise ModelFileError(f"array '{name}' holds Python objects, which a model file "
                             "never does (reading them would unpickle)") from None


def _check_format(fmt, expected):
    if fmt.dtype.kind != "U" or fmt.shape != ():
        raise ModelFileError(f"its format marker is {str(fmt)[:80]!r}: it is not "
                             f"{_a_model_file(expected)}")
    if str(fmt) != expected:
        other = str(fmt)[:80]
        if other.startswith("gmmcore.") and other != expected:
            raise ModelFileError(f"it holds a {other[len('gmmcore.'):]}, not a "
                                 f"{expected[len('gmmcore.'):]}: load it with "
                                 f"{other[len('gmmcore.'):]}.load")
        raise ModelFileError(f"its format marker is {other!r}: it is not "
                             f"{_a_model_file(expected)}")


def _get(data, name, kind, shape=None):
    if name not in data:
        raise ModelFileError(f"model file has no '{name}' array")
    arr = data[name]
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
    d = int(_get(data, "n_features_in_", "iu", ()))
    if d < 1:
        raise ModelFileError(f"model file has n_features_in_={d}")
    _check_params(model, d)
    _read_fitted(model, data, d)
    return model


def _read_params(cls, data):
    params = _read_json(data, "params_json")
    if not isinstance(params, dict):
        raise ModelFileError("model file parameters are not a JSON object")
    unknown = set(params) - set(cls._get_param_names())
    if unknown:
        raise ModelFileError(f"model file has unknown parameters {sorted(unknown)}")
    for name in cls._ARRAY_PARAMS:
        key = f"param.{name}"
        if key in data:
            params[name] = _get(data, key, "f").astype(np.float64)
        else:  # None, or a scalar (a spherical covariance_prior) in the JSON
            params[name] = params.get(name)
    return params


def _check_params(model, n_features):
    """The checks fit runs on the parameters, so that a loaded model is one that fit
    could have made: no n_threads or covariance_type that fit would refuse."""
    try:
        model._check_parameters()
        model._check_initial_values(n_features)
        check_random_state(model.random_state)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"model file has an invalid parameter: {exc}") from None


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
    cov_shape = TYPES[model.covariance_type].shape(k, d)
    for name in ("covariances_", "precisions_", "precisions_cholesky_"):
        setattr(model, name, _get(data, name, "f", cov_shape))
    for name in _FITTED_FLOATS:
        arr = getattr(model, name)
        if arr.dtype != means.dtype:
            raise ModelFileError(f"model file array '{name}' has dtype {arr.dtype}, "
                                 f"expected {means.dtype} like 'means_'")
        if not np.all(np.isfinite(arr)):
            raise ModelFileError(f"model file array '{name}' contains NaN or infinity")
    _check_weights(model.weights_)
    pc = model.precisions_cholesky_
    diag = (np.diagonal(pc, axis1=-2, axis2=-1) if TYPES[model.covariance_type].matrix
            else pc)
    if np.any(diag <= 0):
        raise ModelFileError("model file 'precisions_cholesky_' is not positive definite")
    model.converged_ = bool(_get(data, "converged_", "b", ()))
    model.n_iter_ = int(_get(data, "n_iter_", "iu", ()))
    model.lower_bound_ = float(_get(data, "lower_bound_", "f", ()))
    model.lower_bounds_ = [float(v) for v in _get(data, "lower_bounds_", "f")]
    model.n_features_in_ = d
    # files written before degenerate_events_ was kept have none recorded
    model.degenerate_events_ = (_read_events(data, k) if "degenerate_events_json" in data
                                else [])
    if "feature_names_in_" in data:
        names = _get(data, "feature_names_in_", "U", (d,))
        model.feature_names_in_ = names.astype(object)
    if hasattr(model, "weight_concentration_prior_type"):
        _read_variational(model, data, k, d)
    _read_stream(model, data, k, d)


def _read_variational(model, data, k, d):
    """What ``_variational_arrays`` wrote, each checked: positive concentrations
    and precisions, degrees of freedom above d - 1, finite priors."""
    dtype = model.means_.dtype
    if model.weight_concentration_prior_type == "dirichlet_process":
        model.weight_concentration_ = tuple(
            _get(data, f"weight_concentration_{p}", "f", (k,)).astype(dtype) for p in "ab")
        concentrations = model.weight_concentration_
    else:
        model.weight_concentration_ = _get(data, "weight_concentration_", "f", (k,)).astype(
            dtype)
        concentrations = (model.weight_concentration_,)
    model.mean_precision_ = _get(data, "mean_precision_", "f", (k,)).astype(dtype)
    tied = model.covariance_type == "tied"
    dof = _get(data, "degrees_of_freedom_", "f", () if tied else (k,))
    model.degrees_of_freedom_ = float(dof) if tied else dof.astype(dtype)
    prior_shapes = {"weight_concentration_prior_": (), "mean_precision_prior_": (),
                    "mean_prior_": (d,), "degrees_of_freedom_prior_": (),
                    "covariance_prior_": {"full": (d, d), "tied": (d, d), "diag": (d,),
                                          "spherical": ()}[model.covariance_type]}
    for name, shape in prior_shapes.items():
        value = _get(data, name, "f", shape).astype(np.float64)
        setattr(model, name, float(value) if shape == () else value)
    checked = [*concentrations, model.mean_precision_, np.asarray(dof),
               *(np.asarray(getattr(model, name)) for name in prior_shapes)]
    if not all(np.all(np.isfinite(a)) for a in checked):
        raise ModelFileError("model file variational parameters contain NaN or infinity")
    if not (all(np.all(c > 0) for c in concentrations) and np.all(model.mean_precision_ > 0)
            and np.all(dof > d - 1) and model.degrees_of_freedom_prior_ > d - 1
            and model.weight_concentration_prior_ > 0 and model.mean_precision_prior_ > 0):
        raise ModelFileError("model file variational parameters are out of range: "
                             "concentrations and precisions must be positive, degrees of "
                             f"freedom above {d - 1}")


def _read_stream(model, data, k, d):
    """What ``_stream_arrays`` wrote (files written before hold none of it: their
    models continue a stream as fitted ones of unknown size)."""
    seen = float(_get(data, "n_samples_seen_", "f", ())) if "n_samples_seen_" in data else 0.0
    batches = int(_get(data, "n_batches_seen_", "iu", ())) if "n_batches_seen_" in data else 0
    if not (np.isfinite(seen) and seen >= 0):
        raise ModelFileError(f"model file 'n_samples_seen_' is {seen}, expected a finite "
                             "non-negative number")
    model.n_samples_seen_ = seen
    model.n_batches_seen_ = batches
    model.statistics_ = None
    if "stream.row" not in data:
        return
    from ._mstep import SufficientStatistics

    mode = str(_get(data, "stream.mode", "U", ()))
    if mode not in ("stepwise", "exact"):
        raise ModelFileError(f"model file 'stream.mode' is {mode!r}, expected 'stepwise' "
                             "or 'exact'")
    width = SufficientStatistics.width(model.covariance_type, k, d)
    row = _get(data, "stream.row", "f", (width,)).astype(np.float64)
    shifts = _get(data, "stream.shifts", "f", (k, d)).astype(np.float64)
    tied_shift = _get(data, "stream.tied_shift", "f", (d,)).astype(np.float64)
    n_rows = int(_get(data, "stream.n_rows", "iu", ()))
    if not all(np.all(np.isfinite(a)) for a in (row, shifts, tied_shift)):
        raise ModelFileError("model file running statistics contain NaN or infinity")
    stats = SufficientStatistics(model.covariance_type, shifts, tied_shift, row, n_rows)
    if stats.total_weight < 0 or np.any(stats.nk < 0):
        raise ModelFileError("model file running statistics have negative weights")
    model.statistics_ = stats
    model._stream_mode = mode


def _check_weights(weights):
    # Not a sum of 1: with max_iter=0, 'random_from_data' and 'k-means++' starts
    # keep scikit-learn's unnormalised weights (summing to k/n), and save writes them.
    if np.any(weights < 0) or not weights.sum() > 0:
        raise ModelFileError("model file 'weights_' are not non-negative with a "
                             "positive sum")


_EVENT_KEYS = {"init", "iteration", "component", "reason", "action"}


def _read_events(data, k):
    """degenerate_events_: a list of flat dicts, each naming a component of the model
    (or none: the Bayesian mixture's event about its prior)."""
    events = _read_json(data, "degenerate_events_json")
    if not isinstance(events, list):
        raise ModelFileError("model file 'degenerate_events_json' is not a JSON list")
    for i, event in enumerate(events):
        if not (isinstance(event, dict) and _EVENT_KEYS <= set(event)
                and all(v is None or isinstance(v, (str, int, float)) for v in event.values())
                and (event["component"] is None
                     or type(event["component"]) is int and 0 <= event["component"] < k)):
            raise ModelFileError(
                f"model file degenerate event {i} is not a dict with keys "
                f"{sorted(_EVENT_KEYS)} naming one of the {k} components or none: "
                f"{event!r}")
    return events
