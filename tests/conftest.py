"""Shared fixtures: small data sets and a fast estimator configuration."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from skrpf import MLP, RandomizedPriorRegressor
from skrpf._auto import LARGE_DATA_VALUES

#: The fixed values that the "auto" hyper-parameters take on large data: tests
#: of the training machinery (schedules, bootstrap weights, the per-member
#: path) pin them, so that they test that machinery on small, fast data sets.
FIXED_HYPERPARAMETERS = dict(LARGE_DATA_VALUES)


def fast_regressor(**params) -> RandomizedPriorRegressor:
    """A small, quick configuration with fixed hyper-parameters, for tests that do not measure fit quality."""
    defaults = dict(
        module=MLP(hidden_layer_sizes=(16, 16)),
        n_estimators=4,
        max_epochs=20,
        random_state=0,
        **FIXED_HYPERPARAMETERS,
    )
    defaults.update(params)
    return RandomizedPriorRegressor(**defaults)


def fixed_regressor(**params) -> RandomizedPriorRegressor:
    """The estimator with the fixed (large-data) hyper-parameters and the given parameters."""
    return RandomizedPriorRegressor(**{**FIXED_HYPERPARAMETERS, **params})


def lookup_ensemble(members: np.ndarray):
    """A stand-in for a fitted ensemble whose member outputs are given: (K, n, t) float32 values.

    Its "inputs" are row numbers (a column of floats), so that the
    out-of-bag passes of ``skrpf._noise`` can look up any batch of rows, one
    batch for all members (B, 1) or one per member (K, B, 1).
    """
    stacked = torch.as_tensor(members, dtype=torch.float32)

    def ensemble(x):
        if x.dim() == 3:
            return torch.stack([member[x_k[:, 0].long()] for member, x_k in zip(stacked, x, strict=True)])
        return stacked[:, x[:, 0].long()]

    return ensemble


def record_trainings(monkeypatch) -> list:
    """Patch the regressor so that every training of members appends its resolved hyper-parameters.

    A cold fit that compares candidates trains once per candidate; the
    returned list tells how many trainings ran and with what (``activation``,
    ``noise_model``).
    """
    from skrpf import _regressor

    trained: list = []
    original = _regressor.RandomizedPriorRegressor._train

    def recording_train(self, X, Y, sample_weight, state, *args, **kwargs):
        trained.append(state.hyper)
        return original(self, X, Y, sample_weight, state, *args, **kwargs)

    monkeypatch.setattr(_regressor.RandomizedPriorRegressor, "_train", recording_train)
    return trained


class InterruptAfter(Callback):
    """Raise KeyboardInterrupt at the end of the given epoch, as Ctrl-C would."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


@pytest.fixture
def data_1d():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(40, 1))
    y = np.sin(3 * X[:, 0]) + 0.05 * rng.standard_normal(40)
    return X, y


@pytest.fixture
def data_multi():
    rng = np.random.RandomState(1)
    X = rng.normal(size=(30, 3))
    Y = np.column_stack([X[:, 0] - X[:, 1], np.cos(X[:, 2]), X.sum(axis=1)])
    return X, Y
