"""RandomizedPriorClassifier: its probabilities, uncertainty, labels and place in scikit-learn."""

import joblib
import numpy as np
import pytest
import torch
from scipy.stats import entropy
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_blobs, make_moons
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skrpf
from skrpf import MLP, RandomizedPriorClassifier
from skrpf._losses import WeightedCrossEntropy


def fast_classifier(**params) -> RandomizedPriorClassifier:
    defaults = dict(module=MLP(hidden_layer_sizes=(16, 16)), n_estimators=4, max_epochs=100, random_state=0)
    return RandomizedPriorClassifier(**{**defaults, **params})


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(120, centers=3, cluster_std=1.0, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def fitted(blobs):
    return fast_classifier().fit(*blobs)


def test_cross_entropy_matches_a_loop_over_members():
    gen = torch.Generator().manual_seed(0)
    K, B, C = 3, 5, 4
    logits, prior = torch.randn(K, B, C, generator=gen), torch.randn(K, B, C, generator=gen)
    labels = torch.randint(C, (B,), generator=gen)
    weights = torch.rand(K, B, generator=gen)
    targets = torch.cat([torch.nn.functional.one_hot(labels, C).float().expand(K, B, C), prior], dim=-1)
    expected = sum(
        (weights[k] * torch.nn.functional.cross_entropy(logits[k] + prior[k], labels, reduction="none")).sum()
        for k in range(K)
    )
    torch.testing.assert_close(WeightedCrossEntropy()(logits, targets, weights), expected / B)


def test_proba_is_the_mean_of_the_member_softmaxes(fitted, blobs):
    X, _ = blobs
    Xs = torch.as_tensor((X - fitted._x_mean) / fitted._x_scale)
    with torch.no_grad():
        members = torch.softmax(fitted.ensemble_.predict_members(Xs), dim=-1).numpy()
    np.testing.assert_allclose(fitted.predict_members_proba(X), members, rtol=1e-5, atol=1e-7)
    proba = fitted.predict_proba(X)
    np.testing.assert_allclose(proba, members.mean(axis=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(fitted.predict(X), fitted.classes_[proba.argmax(axis=1)])
    np.testing.assert_allclose(fitted.predict_log_proba(X), np.log(proba))
    np.testing.assert_allclose(fitted.decision_function(X), np.log(proba))


def test_uncertainty_follows_its_formulas(fitted, blobs):
    X, _ = blobs
    X = np.vstack([X, [[30.0, -30.0]]])
    members = fitted.predict_members_proba(X)
    result = fitted.predict_uncertainty(X)
    total = entropy(members.mean(axis=0), axis=1)
    expected = np.mean([entropy(p, axis=1) for p in members], axis=0)
    np.testing.assert_allclose(result["total_entropy"], total, atol=1e-12)
    np.testing.assert_allclose(result["expected_entropy"], expected, atol=1e-12)
    np.testing.assert_allclose(result["mutual_information"], np.maximum(total - expected, 0), atol=1e-12)
    assert np.all(result["mutual_information"] <= np.log(fitted.ensemble_.n_members) + 1e-12)


def test_mutual_information_is_high_far_from_the_data():
    X, y = make_moons(200, noise=0.2, random_state=0)
    model = RandomizedPriorClassifier(max_epochs=300, random_state=0).fit(X, y)
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    far = 6 * np.column_stack([np.cos(angles), np.sin(angles)]) + [0.5, 0.25]
    mi_far = model.predict_uncertainty(far)["mutual_information"]
    mi_data = model.predict_uncertainty(X)["mutual_information"]
    # Averaged over directions: ReLU members extrapolate linearly, and along
    # some directions they agree on the class far out.
    assert mi_far.mean() > 5 * mi_data.mean()


def _ring_percentile_over_data(**params):
    X, y = make_moons(200, noise=0.2, random_state=0)
    model = RandomizedPriorClassifier(max_epochs=300, random_state=0, **params).fit(X, y)
    angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    ring = 4.5 * np.column_stack([np.cos(angles), np.sin(angles)]) + X.mean(axis=0)
    mi_ring = model.predict_uncertainty(ring)["mutual_information"]
    return np.percentile(mi_ring, 10) / model.predict_uncertainty(X)["mutual_information"].mean()


def test_sine_members_and_lecun_relu_priors_disagree_far_out_in_every_direction():
    # The recipe of the user guide: at nine angles in ten, not on average.
    # The defaults give a 10th percentile of 0.000 on this ring (checked below).
    recipe = dict(module=MLP(activation="sin"), prior=MLP(first_layer_init="lecun"), prior_scale=3.0)
    assert _ring_percentile_over_data(**recipe) > 3
    assert _ring_percentile_over_data() < 3


def test_mlp_first_layer_init():
    torch.manual_seed(0)
    lecun = MLP(hidden_layer_sizes=(400,), first_layer_init="lecun")(2, 1)[0].weight
    glorot = MLP(hidden_layer_sizes=(400,))(2, 1)[0].weight
    # Variance 1 / fan_in against Glorot's 2 / (fan_in + fan_out).
    assert abs(lecun.var().item() - 1 / 2) < 0.05
    assert abs(glorot.var().item() - 2 / 402) < 0.001
    with pytest.raises(ValueError, match="first_layer_init='he'"):
        MLP(first_layer_init="he")(2, 1)


def test_string_labels_give_the_integer_labels_fit(blobs):
    X, y = blobs
    names = np.array(["ant", "bee", "cat"])
    by_int = fast_classifier().fit(X, y)
    by_name = fast_classifier().fit(X, names[y])
    np.testing.assert_array_equal(by_name.classes_, names)
    np.testing.assert_array_equal(by_name.predict_proba(X), by_int.predict_proba(X))
    np.testing.assert_array_equal(by_name.predict(X), names[by_int.predict(X)])
    assert by_name.score(X, names[y]) == by_int.score(X, y) > 0.8


def test_binary_decision_function_is_the_log_odds(blobs):
    X, y = blobs
    binary = np.where(y == 2, "yes", "no")
    model = fast_classifier().fit(X, binary)
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    scores = model.decision_function(X)
    np.testing.assert_allclose(scores, np.log(proba[:, 1]) - np.log(proba[:, 0]))
    np.testing.assert_array_equal(model.predict(X), np.where(scores > 0, "yes", "no"))


def test_sample_proba_draws_whole_member_functions(fitted, blobs):
    X, _ = blobs
    members = fitted.predict_members_proba(X)
    draws = fitted.sample_proba(X, n_samples=4, random_state=3)
    assert draws.shape == (len(X), 3, 4)
    matched = [int(np.flatnonzero([np.array_equal(draws[..., s], m) for m in members])[0]) for s in range(4)]
    assert sorted(matched) == [0, 1, 2, 3]
    np.testing.assert_array_equal(draws, fitted.sample_proba(X, n_samples=4, random_state=3))
    assert fitted.sample_proba(X, n_samples=9).shape == (len(X), 3, 9)


def test_fit_is_reproducible_and_a_failed_fit_keeps_the_previous_one(fitted, blobs):
    X, y = blobs
    np.testing.assert_array_equal(fast_classifier().fit(X, y).predict_proba(X), fitted.predict_proba(X))
    model = fast_classifier().fit(X, y)
    before = model.predict_proba(X)
    with pytest.raises(ValueError, match="only one class"):
        model.fit(X, np.zeros(len(X)))
    np.testing.assert_array_equal(model.predict_proba(X), before)


def test_no_prior_means_no_prior_networks(blobs):
    model = fast_classifier(prior_scale=0.0).fit(*blobs)
    assert model.ensemble_.priors is None


def test_one_net_per_member_trains_the_members_of_the_vectorized_fit(blobs):
    X, y = blobs
    literal = fast_classifier(vectorize=False, n_estimators=2).fit(X, y)
    vectorized = fast_classifier(n_estimators=2).fit(X, y)
    assert len(literal.net_) == 2
    # Same initialisation, weights and batches; only float32 summation orders differ.
    np.testing.assert_allclose(literal.predict_proba(X), vectorized.predict_proba(X), atol=1e-3)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (dict(prior_scale=-1.0), "prior_scale"),
        (dict(alpha="auto"), "alpha"),
        (dict(n_estimators=0), "n_estimators"),
        (dict(bootstrap="bogus"), "bootstrap"),
    ],
)
def test_bad_parameters_are_named(blobs, params, match):
    with pytest.raises(ValueError, match=match):
        fast_classifier(**params).fit(*blobs)


def test_continuous_targets_are_refused(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="Unknown label type"):
        fast_classifier().fit(X, np.linspace(0, 1, len(X)))


def test_save_and_load_round_trip(tmp_path, blobs):
    X, y = blobs
    model = fast_classifier().fit(X, np.array(["ant", "bee", "cat"])[y])
    path = tmp_path / "model.safetensors"
    skrpf.save(model, path)
    loaded = skrpf.load(path)
    assert type(loaded) is RandomizedPriorClassifier
    np.testing.assert_array_equal(loaded.classes_, model.classes_)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_pipeline_grid_search_on_log_loss_and_calibration(blobs):
    X, y = blobs
    pipe = make_pipeline(StandardScaler(), fast_classifier(normalize_X=False))
    np.testing.assert_allclose(pipe.fit(X, y).predict_proba(X).sum(axis=1), 1.0)
    search = GridSearchCV(
        fast_classifier(max_epochs=5), {"prior_scale": [0.0, 1.0]}, cv=2, scoring="neg_log_loss"
    )
    search.fit(X, y)
    assert search.best_params_["prior_scale"] in (0.0, 1.0)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    calibrated = CalibratedClassifierCV(fast_classifier(max_epochs=5), cv=2).fit(X, y)
    np.testing.assert_allclose(calibrated.predict_proba(X).sum(axis=1), 1.0)
    assert calibrated.score(X, y) > 0.8


def test_warm_refit_starts_from_the_previous_members(blobs):
    X, y = blobs
    model = fast_classifier(warm_start=True).fit(X[:100], y[:100])
    before = model.predict_proba(X)
    model.set_params(max_epochs=1).fit(X, y)
    assert model.n_epochs_ == 1
    # One Adam step from the fitted members moves them little; from fresh ones
    # the probabilities would be near uniform.
    warm_change = np.abs(model.predict_proba(X) - before).mean()
    cold = fast_classifier(max_epochs=1).fit(X, y)
    assert warm_change < 0.2 * np.abs(cold.predict_proba(X) - before).mean()
    auto = fast_classifier(warm_start=True, max_epochs="auto").fit(X, y)
    cold_epochs = auto.n_epochs_
    assert auto.fit(X, y).n_epochs_ == int(np.ceil(0.1 * cold_epochs))


def test_warm_start_refits_cold_when_the_classes_change(blobs):
    X, y = blobs
    names = np.array(["ant", "bee", "cat"])
    model = fast_classifier(warm_start=True).fit(X, y)
    model.fit(X, names[y])
    np.testing.assert_array_equal(model.predict_proba(X), fast_classifier().fit(X, names[y]).predict_proba(X))


def test_n_jobs_gives_the_bits_of_one_stack():
    # The members are dealt into chunks of whole 16-member blocks: 32 members on 2 jobs.
    X, y = make_moons(300, noise=0.2, random_state=0)
    common = dict(n_estimators=32, max_epochs=3, n_threads=1)
    one_stack = fast_classifier(**common).fit(X, y)
    with joblib.parallel_config(backend="loky"):
        chunked = fast_classifier(n_jobs=2, **common).fit(X, y)
    assert isinstance(chunked.net_, list) and len(chunked.net_) == 2
    np.testing.assert_array_equal(chunked.predict_members_proba(X), one_stack.predict_members_proba(X))


def test_bad_n_jobs_is_rejected():
    with pytest.raises(ValueError, match="n_jobs"):
        fast_classifier(n_jobs=0).fit(*make_moons(20, random_state=0))
