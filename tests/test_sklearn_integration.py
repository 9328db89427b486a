"""The estimator inside scikit-learn's machinery: pipelines, searches, clone, pickle."""

import pickle
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import fast_regressor
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skrpf import MLP, RandomizedPriorRegressor


def test_pipeline_forwards_return_std(data_1d):
    X, y = data_1d
    pipe = make_pipeline(StandardScaler(), fast_regressor(noise="none"))
    mean, std = pipe.fit(X, y).predict(X, return_std=True)
    members = pipe[-1].predict_members(pipe[0].transform(X))
    np.testing.assert_allclose(mean, members.mean(axis=0))
    np.testing.assert_allclose(std, members.std(axis=0))


def test_grid_search_over_prior_scale_members_and_module_params(data_1d):
    X, y = data_1d
    grid = {
        "prior_scale": [0.0, 1.0],
        "n_estimators": [2, 3],
        "module__hidden_layer_sizes": [(4,), (16, 16)],
    }
    search = GridSearchCV(fast_regressor(max_epochs=5), grid, cv=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 8
    best = search.best_estimator_
    assert best.module.hidden_layer_sizes == search.best_params_["module__hidden_layer_sizes"]
    assert best.ensemble_.n_members == search.best_params_["n_estimators"]
    # The searched module parameter really changed the networks that were trained.
    first_weight = next(best.ensemble_.members.parameters())
    assert first_weight.shape[-1] == search.best_params_["module__hidden_layer_sizes"][0]


def test_clone_of_a_fitted_estimator_is_unfitted(data_1d):
    X, y = data_1d
    model = fast_regressor().fit(X, y)
    copy = clone(model)
    assert copy.get_params()["n_estimators"] == model.n_estimators
    with pytest.raises(NotFittedError):
        copy.predict(X)


def test_user_factory_is_not_mutated_or_trained(data_1d):
    X, y = data_1d
    factory = MLP(hidden_layer_sizes=(8,))
    before = pickle.dumps(factory)
    fast_regressor(module=factory).fit(X, y)
    assert pickle.dumps(factory) == before


def test_pickle_round_trip_keeps_predictions(data_1d):
    X, y = data_1d
    model = fast_regressor(target_noise=0.1).fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    for a, b in zip(model.predict(X, return_std=True), restored.predict(X, return_std=True)):
        np.testing.assert_array_equal(a, b)


def test_same_random_state_gives_identical_fits(data_1d):
    X, y = data_1d
    first = fast_regressor(target_noise=0.2, random_state=3, batch_size=8).fit(X, y).predict_members(X)
    second = fast_regressor(target_noise=0.2, random_state=3, batch_size=8).fit(X, y).predict_members(X)
    other = fast_regressor(target_noise=0.2, random_state=4, batch_size=8).fit(X, y).predict_members(X)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other)


def test_same_random_state_gives_identical_fits_across_processes(tmp_path, data_1d):
    X, y = data_1d
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    script = textwrap.dedent(
        f"""
        import sys, numpy as np
        sys.path.insert(0, {str(tmp_path.parent)!r})
        from skrpf import MLP, RandomizedPriorRegressor
        X, y = np.load({str(tmp_path / "X.npy")!r}), np.load({str(tmp_path / "y.npy")!r})
        model = RandomizedPriorRegressor(module=MLP(hidden_layer_sizes=(16, 16)), n_estimators=4,
                                         max_epochs=20, target_noise=0.2, batch_size=8, random_state=3)
        np.save({str(tmp_path / "members.npy")!r}, model.fit(X, y).predict_members(X))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    # The defaults' path: hyper-parameters from the evidence, then L-BFGS.
    here = RandomizedPriorRegressor(
        module=MLP(hidden_layer_sizes=(16, 16)),
        n_estimators=4,
        max_epochs=20,
        target_noise=0.2,
        batch_size=8,
        random_state=3,
    )
    here = here.fit(X, y).predict_members(X)
    np.testing.assert_array_equal(np.load(tmp_path / "members.npy"), here)


def test_global_random_states_are_untouched(data_1d):
    X, y = data_1d
    torch_state, numpy_state, python_state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    for random_state in (0, None, np.random.RandomState(1)):
        model = fast_regressor(random_state=random_state, target_noise=0.1, batch_size=8).fit(X, y)
        model.predict(X, return_std=True)
        model.predict(X, return_cov=True)
        model.sample_y(X, n_samples=2)
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state[1])
    assert random.getstate() == python_state


def test_unseeded_fits_differ(data_1d):
    X, y = data_1d
    first = fast_regressor(random_state=None).fit(X, y).predict_members(X)
    second = fast_regressor(random_state=None).fit(X, y).predict_members(X)
    assert not np.allclose(first, second)


def test_init_stores_parameters_unchanged():
    resampler = object()
    model = RandomizedPriorRegressor(bootstrap=resampler, n_estimators=-5, lr="bad")
    params = model.get_params()
    assert params["bootstrap"] is resampler and params["n_estimators"] == -5 and params["lr"] == "bad"
