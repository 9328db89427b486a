"""The prediction API matches GaussianProcessRegressor's, shape for shape."""

import numpy as np
import pytest
from conftest import fast_regressor
from sklearn.gaussian_process import GaussianProcessRegressor


@pytest.mark.parametrize("target_shape", ["1d", "column", "multi"])
def test_shapes_match_gaussian_process(target_shape, data_multi):
    X, Y = data_multi
    y = {"1d": Y[:, 0], "column": Y[:, :1], "multi": Y}[target_shape]
    X_test = X[:7]
    ours = fast_regressor(max_epochs=2).fit(X, y)
    gpr = GaussianProcessRegressor().fit(X, y)

    for kwargs in ({}, {"return_std": True}, {"return_cov": True}):
        got = ours.predict(X_test, **kwargs)
        expected = gpr.predict(X_test, **kwargs)
        got, expected = (got, expected) if kwargs else ((got,), (expected,))
        assert [np.shape(a) for a in got] == [np.shape(a) for a in expected], kwargs
        assert all(a.dtype == np.float64 for a in got)
    assert ours.sample_y(X_test, n_samples=3).shape == gpr.sample_y(X_test, n_samples=3).shape
    assert ours.sample_y(X_test).shape == gpr.sample_y(X_test).shape
    n_targets = Y.shape[1] if target_shape == "multi" else None
    expected_members = (4, 7) if n_targets is None else (4, 7, n_targets)
    assert ours.predict_members(X_test).shape == expected_members


def test_both_std_and_cov_is_an_error(data_1d):
    X, y = data_1d
    model = fast_regressor(max_epochs=1).fit(X, y)
    with pytest.raises(RuntimeError, match="At most one of return_std or return_cov"):
        model.predict(X, return_std=True, return_cov=True)


def test_mean_std_cov_are_member_statistics(data_multi):
    X, Y = data_multi
    # noise="none": std is the member spread alone (test_noise.py covers the noise models).
    model = fast_regressor(noise="none", max_epochs=3).fit(X, Y)
    members = model.predict_members(X)
    mean, std = model.predict(X, return_std=True)
    np.testing.assert_allclose(mean, members.mean(axis=0))
    np.testing.assert_allclose(std, members.std(axis=0, ddof=0))
    _, cov = model.predict(X, return_cov=True)
    for t in range(Y.shape[1]):
        np.testing.assert_allclose(cov[:, :, t], np.cov(members[:, :, t].T, ddof=0), atol=1e-10)
        np.testing.assert_allclose(np.sqrt(np.diag(cov[:, :, t])), std[:, t], rtol=1e-6, atol=1e-10)


def test_single_member_has_zero_std(data_1d):
    X, y = data_1d
    model = fast_regressor(n_estimators=1, max_epochs=2).fit(X, y)
    _, std = model.predict(X, return_std=True, include_noise=False)
    np.testing.assert_array_equal(std, 0.0)


def test_sample_y_draws_whole_member_functions(data_1d):
    X, y = data_1d
    model = fast_regressor(noise="none", max_epochs=3).fit(X, y)
    members = model.predict_members(X)
    draws = model.sample_y(X, n_samples=4, random_state=1)
    # Each draw is one member, coherent across all rows, and distinct members are used.
    matched = [int(np.argmin(np.abs(members - draws[:, j]).max(axis=1))) for j in range(4)]
    for j, k in enumerate(matched):
        np.testing.assert_array_equal(draws[:, j], members[k])
    assert len(set(matched)) == 4
    more = model.sample_y(X, n_samples=9, random_state=1)
    assert more.shape == (len(X), 9)
    np.testing.assert_array_equal(model.sample_y(X, 3, random_state=5), model.sample_y(X, 3, random_state=5))


def test_predict_streams_in_batches(monkeypatch, data_1d):
    import skrpf._regressor as regressor_module

    X, y = data_1d
    model = fast_regressor(max_epochs=2).fit(X, y)
    full = model.predict(X, return_std=True)
    monkeypatch.setattr(regressor_module, "PREDICT_BATCH_ROWS", 7)
    batched = model.predict(X, return_std=True)
    np.testing.assert_allclose(batched[0], full[0], rtol=1e-6)
    np.testing.assert_allclose(batched[1], full[1], rtol=1e-5, atol=1e-7)
