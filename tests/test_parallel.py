"""n_jobs: members trained in chunks as joblib tasks give the bits of one stack.

Every comparison is against a fit of the same configuration with
``n_jobs=1`` (one stack in this process), on loky, on a dask
``LocalCluster`` and on ray where they are installed.
"""

import sys

import joblib
import numpy as np
import pytest
import torch
from conftest import fast_regressor
from skorch.callbacks import Callback

from skrpf import MLP, RandomizedPriorRegressor
from skrpf._ensemble import stack_modules
from skrpf._parallel import ALIGNED_MEMBERS, member_chunks, put_members_, take_members
from skrpf._training import EnsembleNet
from skrpf.persistence import load, save


def _data(n, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 3))
    return X, np.sin(X).sum(axis=1) + 0.1 * rng.standard_normal(n)


X, Y = _data(300)
X_TEST = _data(50, seed=1)[0]


def _outputs(model):
    mean, std = model.predict(X_TEST, return_std=True)
    return {"mean": mean, "std": std, "members": model.predict_members(X_TEST), "noise": model.noise_std_}


def _assert_identical(a, b):
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def _model(**params):
    # 20 members: a chunk of 16 and one of 4. Mini-batches, target noise, a
    # bootstrap with out-of-bag rows and gradient clipping all take part.
    defaults = dict(
        n_estimators=20,
        max_epochs=3,
        batch_size=32,
        target_noise=0.1,
        bootstrap="poisson",
        max_grad_norm=1.0,
    )
    return fast_regressor(**{**defaults, **params})


@pytest.fixture(scope="module")
def reference():
    return _model().fit(X, Y)


def test_loky_chunks_give_the_bits_of_one_stack(reference):
    model = _model(n_jobs=2).fit(X, Y)
    assert isinstance(model.net_, list) and len(model.net_) == 2
    _assert_identical(_outputs(reference), _outputs(model))


@pytest.mark.parametrize(
    "params",
    [
        dict(noise="heteroscedastic"),
        dict(vectorize=False, n_estimators=3, max_epochs=2),
    ],
    ids=["heteroscedastic", "vectorize=False"],
)
def test_other_paths_give_the_bits_of_n_jobs_1(params):
    expected = _outputs(_model(**params).fit(X, Y))
    _assert_identical(expected, _outputs(_model(**params, n_jobs=2).fit(X, Y)))


def test_the_small_data_path_gives_the_bits_of_n_jobs_1():
    # Evidence search, L-BFGS (which couples the members: one stack, in this
    # process, though 20 members would make two chunks) and the exact
    # output-layer solve, all at their defaults.
    expected = _outputs(RandomizedPriorRegressor(n_estimators=20, random_state=0).fit(X[:40], Y[:40]))
    model = RandomizedPriorRegressor(n_estimators=20, random_state=0, n_jobs=2).fit(X[:40], Y[:40])
    _assert_identical(expected, _outputs(model))
    assert isinstance(model.net_, EnsembleNet)


def test_dask_local_cluster_gives_the_bits_of_one_stack(reference):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
        joblib.parallel_config(backend="dask"),
    ):
        model = _model(n_jobs=-1).fit(X, Y)
    assert len(model.net_) == 2  # one chunk per worker thread of the cluster
    _assert_identical(_outputs(reference), _outputs(model))


def test_ray_gives_the_bits_of_one_stack(reference):
    ray = pytest.importorskip("ray")
    from ray.util.joblib import register_ray

    register_ray()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with joblib.parallel_config(backend="ray"):
            model = _model(n_jobs=2).fit(X, Y)
    finally:
        ray.shutdown()
    _assert_identical(_outputs(reference), _outputs(model))


def test_warm_start_and_save_load_with_n_jobs(tmp_path):
    X_more, y_more = _data(310, seed=2)
    sequence = []
    for n_jobs in (1, 2):
        model = _model(n_jobs=n_jobs, warm_start=True, max_epochs=2).fit(X, Y)
        model.fit(X_more, y_more)
        sequence.append(_outputs(model))
    _assert_identical(*sequence)
    save(model, tmp_path / "model.safetensors")
    _assert_identical(sequence[0], _outputs(load(tmp_path / "model.safetensors")))


@pytest.fixture(autouse=True)
def callbacks_by_value():
    """Ship this module's callbacks to the workers by value.

    Worker processes import by name what they unpickle; whether they can
    import this test module depends on how pytest set up sys.path, which
    differs between running this file and the whole suite.
    """
    import cloudpickle as pickler  # what loky pickles with

    pickler.register_pickle_by_value(sys.modules[__name__])
    yield
    pickler.unregister_pickle_by_value(sys.modules[__name__])


class RecordThreads(Callback):
    def on_train_begin(self, net, **kwargs):
        self.threads = torch.get_num_threads()


@pytest.mark.parametrize(("n_threads", "expected"), [("auto", 1), (2, 2)])
def test_each_task_runs_on_the_documented_thread_count(n_threads, expected):
    model = _model(n_jobs=2, n_threads=n_threads, max_epochs=1, callbacks=[RecordThreads()]).fit(X, Y)
    seen = [dict(net.callbacks_)["RecordThreads"].threads for net in model.net_]
    assert seen == [expected, expected]


class FailInWorker(Callback):
    def on_epoch_end(self, net, **kwargs):
        raise RuntimeError("raised in a worker")


def test_an_error_in_a_worker_reaches_the_caller_and_keeps_the_fit(reference):
    model = _model(n_jobs=2, max_epochs=1).fit(X, Y)
    before = _outputs(model)
    model.set_params(callbacks=[FailInWorker()], random_state=5)
    with pytest.raises(RuntimeError, match="raised in a worker"):
        model.fit(X, Y)
    _assert_identical(before, _outputs(model))
    assert model.random_state == 5 and len(model.net_) == 2


@pytest.mark.parametrize("n_jobs", [0, 1.5, "2", True, [2]])
def test_bad_n_jobs_is_refused_with_its_value(n_jobs):
    with pytest.raises(ValueError, match=r"n_jobs must be None, a positive integer .*got"):
        _model(n_jobs=n_jobs).fit(X[:30], Y[:30])


@pytest.mark.parametrize(("n_members", "n_jobs"), [(40, 2), (40, 3), (20, 8), (10, 2), (200, 8), (33, -1)])
def test_chunks_cover_the_members_in_order_at_block_boundaries(n_members, n_jobs):
    chunks = member_chunks(n_members, n_jobs)
    np.testing.assert_array_equal(np.concatenate(chunks), np.arange(n_members))
    assert len(chunks) <= min(joblib.effective_n_jobs(n_jobs), -(-n_members // ALIGNED_MEMBERS))
    assert all(chunk[0] % ALIGNED_MEMBERS == 0 for chunk in chunks)
    # No other cut at block boundaries makes the largest chunk smaller (for two chunks).
    if len(chunks) == 2:
        best = min(max(cut, n_members - cut) for cut in range(ALIGNED_MEMBERS, n_members, ALIGNED_MEMBERS))
        assert max(len(c) for c in chunks) == best


@pytest.mark.parametrize("vectorize", [True, False])
def test_take_and_put_members_move_exactly_their_slice(vectorize):
    torch.manual_seed(0)
    nets = [MLP(hidden_layer_sizes=(4,))(2, 1) for _ in range(5)]
    stack = stack_modules(nets, trainable=True, vectorize=vectorize)
    x = torch.randn(7, 2)
    before = stack(x).detach()
    chunk = take_members(stack, np.array([1, 2]))
    torch.testing.assert_close(chunk(x), before[1:3], rtol=0, atol=0)
    with torch.no_grad():
        for p in chunk.parameters():
            p.add_(1.0)
    moved = chunk(x).detach()
    put_members_(stack, np.array([1, 2]), chunk)
    after = stack(x).detach()
    torch.testing.assert_close(after[1:3], moved, rtol=0, atol=0)
    torch.testing.assert_close(after[[0, 3, 4]], before[[0, 3, 4]], rtol=0, atol=0)


def test_n_jobs_is_in_the_parameters_and_defaults_to_none():
    assert RandomizedPriorRegressor().get_params()["n_jobs"] is None
