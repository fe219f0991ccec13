"""Exceptions and warnings raised by gmmcore, as ``sklearn.exceptions`` holds
scikit-learn's.

Handlers and warning filters written for these classes always catch gmmcore's
errors and warnings.  Those written for scikit-learn's ``NotFittedError`` and
``ConvergenceWarning`` catch them too: once ``sklearn.exceptions`` is imported (as
code that names its classes has done), gmmcore raises (and warns with) a subclass
of both its own class and scikit-learn's.  gmmcore never imports scikit-learn
itself, and the import order of the two does not matter.

>>> import warnings
>>> from gmmcore.exceptions import ConvergenceWarning
>>> warnings.filterwarnings("ignore", category=ConvergenceWarning)
"""

import os
import sys
import threading
import warnings

import numpy as np

__all__ = [
    "ConvergenceWarning",
    "InvalidParameterError",
    "ModelFileError",
    "NonFiniteLikelihoodError",
    "NotFittedError",
]


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit``.

    Inherits from ValueError and AttributeError, as scikit-learn's NotFittedError
    does (and, where scikit-learn is installed, what gmmcore raises is one of
    scikit-learn's too).
    """


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before the change of the lower bound fell below
    ``tol`` (where scikit-learn is installed, what gmmcore warns with is also
    scikit-learn's ConvergenceWarning)."""


class InvalidParameterError(ValueError, TypeError):
    """A constructor parameter has a wrong type or value (as scikit-learn's
    InvalidParameterError, a ValueError and a TypeError)."""


class ModelFileError(ValueError):
    """A model file cannot be loaded: not a model file, damaged, of a newer format
    version, or with missing, mis-shaped or invalid contents."""


class NonFiniteLikelihoodError(ValueError):
    """Some samples' log-likelihood is not finite under the model: the data's scale
    overflows the dtype they are computed in."""

    def __init__(self, n_samples, dtype):
        dtype = np.dtype(dtype)
        hint = " or pass float64 data instead of float32" if dtype == np.float32 else ""
        super().__init__(
            f"the log-likelihood of {n_samples} sample(s) is not finite under the model: "
            f"their squared distances overflow {dtype.name}. Scale the input data{hint}.")
        self.n_samples = n_samples
        self.dtype = dtype

    def __reduce__(self):
        return type(self), (self.n_samples, self.dtype)


# gmmcore's class -> a subclass of it and of scikit-learn's class of the same name
_JOINT = {}
_JOINT_LOCK = threading.Lock()


def raised_class(cls):
    """The class gmmcore raises or warns with for its class ``cls``: the joint class
    once scikit-learn's exceptions are imported, else ``cls`` itself."""
    joint = _JOINT.get(cls)
    if joint is not None:
        return joint
    sklearn_exceptions = sys.modules.get("sklearn.exceptions")
    theirs = getattr(sklearn_exceptions, cls.__name__, None)
    if theirs is None or issubclass(cls, theirs):
        return cls
    with _JOINT_LOCK:
        if cls not in _JOINT:
            _JOINT[cls] = _joint(cls, theirs)
        return _JOINT[cls]


def _joint(cls, theirs):
    # named as gmmcore's class, so that messages and tracebacks show
    # gmmcore.exceptions.NotFittedError; an instance pickles as a call that makes
    # the joint class again (in another process too)
    return type(cls.__name__, (cls, theirs), {
        "__module__": __name__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__,
        "__reduce__": lambda self: (_raised, (cls.__name__, self.args))})


def _raised(name, args):
    return raised_class(globals()[name])(*args)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message, category):
    """warnings.warn pointed at the first caller outside gmmcore (the user's line,
    however deep in gmmcore the warning is raised)."""
    frame = sys._getframe(1)  # warn's caller: stacklevel 2
    level = 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
            _PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    warnings.warn(message, raised_class(category), stacklevel=level)
