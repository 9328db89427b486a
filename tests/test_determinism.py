"""Same random_state, same bits: across fits, processes, pickles, batch sizes and threads."""

import io
import pickle
import random
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from conftest import InterruptAfter, fast_regressor
from sklearn.exceptions import NotFittedError

import skrpf._regressor as regressor_module
import skrpf.networks
from skrpf import MLP


def _data():
    rng = np.random.RandomState(3)
    X = rng.uniform(-2, 2, size=(60, 2))
    return X, np.sin(2 * X[:, 0]) + X[:, 1] + 0.1 * rng.standard_normal(60)


X, Y = _data()
X_TEST = np.random.RandomState(4).uniform(-3, 3, size=(50, 2))


def _outputs(model, X=X_TEST):
    """Everything a fitted model predicts, as a dict of arrays."""
    mean, std = model.predict(X, return_std=True)
    return {
        "mean": mean,
        "std": std,
        "cov": model.predict(X, return_cov=True)[1],
        "members": model.predict_members(X),
        "sample_y": model.sample_y(X, n_samples=3, random_state=1),
    }


def _assert_identical(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def _model(**params):
    # Mini-batches, target noise and the bootstrap all draw from random_state.
    return fast_regressor(**{"batch_size": 16, "target_noise": 0.1, "max_epochs": 5, **params})


@pytest.fixture(scope="module")
def fitted():
    return _model().fit(X, Y)


def test_two_fits_with_the_same_seed_are_bit_identical(fitted):
    _assert_identical(_outputs(fitted), _outputs(_model().fit(X, Y)))
    other_seed = _model(random_state=1).fit(X, Y)
    assert not np.array_equal(other_seed.predict(X_TEST), fitted.predict(X_TEST))


def test_a_new_process_gives_the_same_bits(fitted, tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        sys.path[:0] = {[str(Path(__file__).parent), str(Path(__file__).parents[1])]!r}
        from test_determinism import X, Y, X_TEST, _model, _outputs
        np.savez({str(tmp_path / "out.npz")!r}, **_outputs(_model().fit(X, Y)))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=600)
    with np.load(tmp_path / "out.npz") as saved:
        _assert_identical(_outputs(fitted), dict(saved))


@pytest.mark.parametrize("library", ["pickle", "joblib"])
def test_a_pickle_or_joblib_round_trip_keeps_the_bits(fitted, library):
    if library == "pickle":
        restored = pickle.loads(pickle.dumps(fitted))
    else:
        buffer = io.BytesIO()
        joblib.dump(fitted, buffer)
        buffer.seek(0)
        restored = joblib.load(buffer)
    _assert_identical(_outputs(fitted), _outputs(restored))


@pytest.mark.parametrize("activation", sorted(skrpf.networks.ACTIVATIONS))
def test_every_activation_survives_a_pickle_round_trip(activation):
    # The batched stack keeps per-layer activation information; it must hold
    # only picklable objects (no closures), or fitted models and joblib's
    # process-based parallelism break for that activation.
    model = fast_regressor(module=MLP(hidden_layer_sizes=(8,), activation=activation)).fit(X, Y)
    restored = pickle.loads(pickle.dumps(model))
    _assert_identical(_outputs(model), _outputs(restored))
    restored.fit(X, Y)  # and trains again after the round trip
    _assert_identical(_outputs(model), _outputs(restored))


def test_the_predict_batch_size_never_changes_the_results(fitted, monkeypatch):
    expected = _outputs(fitted)
    for size in (1, 7, 49, 50, 10_000):
        _assert_identical(_outputs(fitted.set_params(predict_batch_size=size)), expected)
    fitted.set_params(predict_batch_size=None)
    monkeypatch.setattr(regressor_module, "PREDICT_BATCH_ROWS", 3)  # the default it stands for
    _assert_identical(_outputs(fitted), expected)


def test_predict_batch_size_is_validated_at_predict(fitted):
    model = pickle.loads(pickle.dumps(fitted)).set_params(predict_batch_size=0)
    with pytest.raises(ValueError, match="predict_batch_size must be an integer >= 1"):
        model.predict(X_TEST)


@pytest.mark.parametrize("random_state", [0, None, np.random.RandomState(5)])
def test_fit_and_predict_leave_the_global_random_states_alone(random_state):
    random.seed(11)
    np.random.seed(11)
    torch.manual_seed(11)
    before = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    model = _model(random_state=random_state).fit(X, Y)
    _outputs(model)
    after = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    assert after[0] == before[0]
    assert after[1][0] == before[1][0] and np.array_equal(after[1][1], before[1][1])
    assert after[1][2:] == before[1][2:]
    assert torch.equal(after[2], before[2])


def test_concurrent_predictions_equal_sequential_ones(fitted):
    inputs = [X_TEST[i::4] for i in range(4)] * 3
    sequential = [_outputs(fitted, x) for x in inputs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda x: _outputs(fitted, x), inputs))
    for a, b in zip(sequential, concurrent):
        _assert_identical(a, b)


# ------------------------------------------------------------ KeyboardInterrupt
def test_an_interrupt_during_training_keeps_the_members_as_they_are():
    # A constant rate, so that the first 3 of 10 epochs are the same steps as a 3-epoch fit.
    interrupted = _model(max_epochs=10, lr_schedule="constant", callbacks=[InterruptAfter(3)]).fit(X, Y)
    assert len(interrupted.net_.history) == 3
    # Stopped after epoch 3 is exactly a fit of 3 epochs.
    _assert_identical(_outputs(interrupted), _outputs(_model(max_epochs=3, lr_schedule="constant").fit(X, Y)))


class InterruptingFactory:
    def __call__(self, n_features_in, n_outputs):
        raise KeyboardInterrupt


def test_an_interrupt_before_training_restores_the_previous_state():
    unfitted = _model(module=InterruptingFactory())
    with pytest.raises(KeyboardInterrupt):
        unfitted.fit(X, Y)
    with pytest.raises(NotFittedError):
        unfitted.predict(X_TEST)

    model = _model().fit(X, Y)
    expected = _outputs(model)
    model.set_params(module=InterruptingFactory())
    before = dict(model.__dict__)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y)
    assert model.__dict__.keys() == before.keys()
    assert all(model.__dict__[k] is before[k] for k in before)
    model.set_params(module=MLP(hidden_layer_sizes=(16, 16)))
    _assert_identical(_outputs(model), expected)
