"""skrpf: randomized prior function ensembles as scikit-learn estimators.

The estimators are :class:`RandomizedPriorRegressor` and
:class:`RandomizedPriorClassifier`; :class:`MLP` is their default network
factory, :class:`SinePrior` an example of a fixed prior, and
:mod:`skrpf.resamplers` holds the bootstrap schemes. :mod:`skrpf.export`
holds the torch module that ``RandomizedPriorRegressor.to_torch()`` returns,
and :mod:`skrpf.botorch` a BoTorch model over a fitted estimator; the latter
needs the ``botorch`` extra and is not imported here.
"""

from ._classifier import RandomizedPriorClassifier
from ._regressor import RandomizedPriorRegressor
from ._version import __version__
from .networks import MLP, FixedFunctionPrior, SinePrior
from .persistence import load, save

__all__ = [
    "RandomizedPriorRegressor",
    "RandomizedPriorClassifier",
    "MLP",
    "SinePrior",
    "FixedFunctionPrior",
    "save",
    "load",
    "__version__",
]
