"""The member outputs of the last large predict input, reused for the same input (skopt's gp_hedge)."""

import pickle

import numpy as np
import pytest

from skrpf import RandomizedPriorRegressor, load, save
from skrpf import _prediction_cache as cache


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(30, 2))
    y = np.sin(X[:, 0]) + X[:, 1] ** 2
    candidates = rng.uniform(-3, 3, size=(cache.MIN_ROWS + 10, 2))
    return X, y, candidates


def _fresh_prediction(model, X):
    """The mean and std from the members, computed without predict (an independent reference)."""
    members = model.predict_members(X[: cache.MIN_ROWS - 1])  # below MIN_ROWS: never cached
    rest = model.predict_members(X[cache.MIN_ROWS - 1 :])
    members = np.concatenate([members, rest], axis=1)
    noise = model.noise_std_[0] ** 2
    return members.mean(axis=0), np.sqrt(members.var(axis=0) + noise)


def test_repeat_call_gives_the_values_of_a_computation_without_cache(data):
    X, y, candidates = data
    model = RandomizedPriorRegressor(random_state=0).fit(X, y)
    first = model.predict(candidates, return_std=True)
    assert model._predictive_cache is not None
    second = model.predict(candidates, return_std=True)
    reference = _fresh_prediction(model, candidates)
    for a, b, ref in zip(first, second, reference):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(b, ref, rtol=1e-12, atol=1e-12)


def test_input_changed_in_place_is_recomputed(data):
    X, y, candidates = data
    model = RandomizedPriorRegressor(random_state=0).fit(X, y)
    before = model.predict(candidates)
    candidates[5] += 1.0
    after = model.predict(candidates)
    assert after[5] != before[5]
    np.testing.assert_allclose(after, _fresh_prediction(model, candidates)[0], rtol=1e-12, atol=1e-12)


def test_caller_cannot_change_the_cached_values(data):
    X, y, candidates = data
    model = RandomizedPriorRegressor(random_state=0).fit(X, y)
    mean, std = model.predict(candidates, return_std=True)
    expected = mean.copy()
    mean[:] = 0.0
    std[:] = 0.0
    np.testing.assert_array_equal(model.predict(candidates), expected)
    members = model.predict_members(candidates)
    members[:] = 0.0
    np.testing.assert_array_equal(model.predict(candidates), expected)


@pytest.mark.parametrize("warm_start", [False, True])
def test_refit_replaces_the_cached_values(data, warm_start):
    X, y, candidates = data
    model = RandomizedPriorRegressor(random_state=0, warm_start=warm_start).fit(X, y)
    stale = model.predict(candidates)
    model.fit(X, -3 * y)
    refreshed = model.predict(candidates)
    assert not np.allclose(refreshed, stale)
    np.testing.assert_allclose(refreshed, _fresh_prediction(model, candidates)[0], rtol=1e-12, atol=1e-12)


def test_small_and_huge_inputs_are_not_cached(data, monkeypatch):
    X, y, candidates = data
    model = RandomizedPriorRegressor(random_state=0).fit(X, y)
    model.predict(candidates[: cache.MIN_ROWS - 1])
    assert model._predictive_cache is None
    monkeypatch.setattr(cache, "MAX_ROWS", cache.MIN_ROWS)
    model.predict(candidates)  # MIN_ROWS + 10 rows, now above the cap
    assert model._predictive_cache is None


def test_neither_pickle_nor_save_write_the_cache(data, tmp_path):
    X, y, candidates = data
    model = RandomizedPriorRegressor(random_state=0).fit(X, y)
    expected = model.predict(candidates)
    restored = pickle.loads(pickle.dumps(model))
    assert getattr(restored, "_predictive_cache", None) is None
    np.testing.assert_array_equal(restored.predict(candidates), expected)
    save(model, tmp_path / "model.safetensors")
    loaded = load(tmp_path / "model.safetensors")
    assert getattr(loaded, "_predictive_cache", None) is None
    np.testing.assert_array_equal(loaded.predict(candidates), expected)
