"""gmmcore: Gaussian mixture models fitted by EM (and by variational inference) on
compiled, GIL-free kernels.

>>> from gmmcore import GaussianMixture
>>> gmm = GaussianMixture(n_components=3, random_state=0).fit(X)   # doctest: +SKIP
>>> gmm.predict_proba(X)                                           # doctest: +SKIP
"""

from . import exceptions
from ._bayesian import BayesianGaussianMixture
from ._mixture import GaussianMixture
from ._mstep import SufficientStatistics
from ._select import SelectionResult, select
from ._version import __version__

__all__ = ["BayesianGaussianMixture", "GaussianMixture", "SelectionResult",
           "SufficientStatistics", "__version__", "exceptions", "select"]
