"""What each constructor option does, checked against what it promises."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import fast_regressor
from skorch.callbacks import Callback

from skrpf._training import BatchIterator, EnsembleDataset
from skrpf.resamplers import RESAMPLERS, get_resampler


@pytest.mark.parametrize("name", sorted(RESAMPLERS))
def test_resampler_weights_have_their_documented_law(name):
    rng = np.random.RandomState(0)
    n, K = 400, 50
    weights = get_resampler(name).sample_weights(n, K, rng)
    assert weights.shape == (K, n) and (weights >= 0).all()
    # Every scheme has mean weight 1, so the loss scale is the same for all.
    assert abs(weights.mean() - 1.0) < 5 * weights.std() / np.sqrt(weights.size) + 1e-12
    if name == "multinomial":
        np.testing.assert_array_equal(weights.sum(axis=1), n)
        # P(a sample is left out) = (1 - 1/n)^n ~ 1/e.
        assert abs((weights == 0).mean() - (1 - 1 / n) ** n) < 0.01
    elif name == "poisson":
        assert abs(weights.var() - 1.0) < 0.05 and np.all(weights == np.round(weights))
    elif name == "exponential":
        assert (weights > 0).all() and abs(weights.var() - 1.0) < 0.1
    elif name == "bernoulli":
        assert set(np.unique(weights)) == {0.0, 2.0}
    else:
        np.testing.assert_array_equal(weights, 1.0)


def test_each_member_gets_its_own_weights(data_1d):
    X, y = data_1d
    # The same rows with other weights per member give other members: compare to no bootstrap.
    params = dict(prior_scale=0.0, noise="none")
    spread_boot = fast_regressor(bootstrap="multinomial", **params).fit(X, y).predict(X, return_std=True)[1]
    spread_none = fast_regressor(bootstrap="none", **params).fit(X, y).predict(X, return_std=True)[1]
    assert spread_boot.mean() > spread_none.mean()


def test_target_noise_alone_makes_members_differ(data_1d):
    X, y = data_1d
    # Members also differ by initialisation, so compare with and without noise.
    quiet = fast_regressor(bootstrap="none", prior_scale=0.0, max_epochs=300).fit(X, y)
    noisy = fast_regressor(bootstrap="none", prior_scale=0.0, max_epochs=300, target_noise=2.0).fit(X, y)
    assert noisy.predict(X, return_std=True)[1].mean() > 2 * quiet.predict(X, return_std=True)[1].mean()


def test_normalize_y_makes_predictions_follow_the_target_scale(data_multi):
    X, Y = data_multi
    scale, shift = np.array([1e3, 2.0, 1e-3]), np.array([5.0, -1.0, 7.0])
    base = fast_regressor().fit(X, Y)
    scaled = fast_regressor().fit(X, Y * scale + shift)
    mean, std = base.predict(X, return_std=True)
    mean_s, std_s = scaled.predict(X, return_std=True)
    for t in range(3):
        np.testing.assert_allclose(
            mean_s[:, t], mean[:, t] * scale[t] + shift[t], rtol=1e-4, atol=1e-4 * scale[t]
        )
        np.testing.assert_allclose(std_s[:, t], std[:, t] * scale[t], rtol=1e-3, atol=1e-4 * scale[t])


def test_normalize_x_makes_predictions_invariant_to_input_units(data_multi):
    X, Y = data_multi
    units = np.array([1e-3, 1.0, 1e4])
    base = fast_regressor().fit(X, Y[:, 0]).predict(X, return_std=True)
    rescaled = fast_regressor().fit(X * units + 3, Y[:, 0]).predict(X * units + 3, return_std=True)
    for a, b in zip(base, rescaled):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_callbacks_are_called_and_not_mutated(data_1d):
    class CountEpochs(Callback):
        def __init__(self):
            self.epochs = 0

        def on_epoch_end(self, net, **kwargs):
            self.epochs += 1

    X, y = data_1d
    counter = CountEpochs()
    model = fast_regressor(callbacks=[counter], max_epochs=7).fit(X, y)
    assert counter.epochs == 0  # the user's instance was copied, not mutated
    fitted = dict(model.net_.callbacks_)
    assert sum(cb.epochs for cb in fitted.values() if isinstance(cb, CountEpochs)) == 7


def test_no_hold_out_and_all_rows_train(data_1d):
    X, y = data_1d
    model = fast_regressor(max_epochs=3, batch_size=7).fit(X, y)
    assert model.net_.train_split is None
    assert "valid_loss" not in model.net_.history[-1]
    assert sum(model.net_.history[-1, "batches", :, "train_batch_size"]) == len(X)


def test_batches_are_shuffled_each_epoch_and_reproducibly():
    X = torch.arange(10, dtype=torch.float32).unsqueeze(1)
    data = EnsembleDataset(X, torch.zeros(10, 2, 1), torch.ones(10, 2))
    iterator = BatchIterator(data, batch_size=4, seed=0)
    epochs = [torch.cat([xb[:, 0] for xb, _ in iterator]) for _ in range(3)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(10))
    assert not torch.equal(epochs[0], epochs[1])
    again = BatchIterator(data, batch_size=4, seed=0)
    torch.testing.assert_close(torch.cat([xb[:, 0] for xb, _ in again]), epochs[0])


def test_batches_hold_each_members_targets_and_weights_of_their_rows():
    """Stored row by row (n, K), gathered member-first (K, B): member k's values of the batch's rows."""
    n, K = 10, 3
    X = torch.arange(n, dtype=torch.float32).unsqueeze(1)
    rows, members = torch.meshgrid(torch.arange(n), torch.arange(K), indexing="ij")
    targets = (10.0 * members + rows).unsqueeze(-1).float()  # targets[i, k] = 10 k + i
    weights = (100.0 * members + rows).float()  # weights[i, k] = 100 k + i
    data = EnsembleDataset(X, targets, weights)
    xb, (target_batch, weight_batch) = data.__getitems__([3, 1])
    assert xb[:, 0].tolist() == [3.0, 1.0]
    assert target_batch.shape == (K, 2, 1) and weight_batch.shape == (K, 2)
    assert target_batch[..., 0].tolist() == [[10.0 * k + i for i in (3, 1)] for k in range(K)]
    assert weight_batch.tolist() == [[100.0 * k + i for i in (3, 1)] for k in range(K)]
    # The full batch, without a gather, is the same as gathering every row in order.
    (full_batch,) = list(BatchIterator(data, batch_size=n))
    gathered = data.__getitems__(list(range(n)))
    torch.testing.assert_close(full_batch[0], gathered[0])
    for full, gather in zip(full_batch[1], gathered[1], strict=True):
        torch.testing.assert_close(full, gather)


def test_tags_declare_multi_output_and_determinism():
    tags = fast_regressor().__sklearn_tags__()
    assert tags.target_tags.multi_output and not tags.non_deterministic


def test_dataframe_feature_names_are_recorded(data_multi):
    X, Y = data_multi
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = fast_regressor(max_epochs=2).fit(frame, pd.Series(Y[:, 0]))
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    np.testing.assert_array_equal(model.predict(frame), model.predict(frame.to_numpy()))
