"""Classical baselines on functionals: numbers against scikit-learn/imbalanced-learn computed independently."""
from __future__ import annotations

import numpy as np
import pytest
from imblearn.over_sampling import SMOTE, RandomOverSampler
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from benchmark.errors import ConfigError, EmobenchError
from benchmark.methods import METHODS, FeatureSet
from benchmark.methods.sk_io import UnsafeModelFile, load_sklearn, save_sklearn


def make_set(n_per_class: dict[str, int], dims: int = 6, seed: int = 0, shift: float = 2.5) -> FeatureSet:
    """Gaussian blobs, one informative dimension per class, on a non-standard scale (so z-scoring matters)."""
    rng = np.random.default_rng(seed)
    y = np.concatenate([[c] * n for c, n in n_per_class.items()])
    X = rng.normal(size=(len(y), dims))
    for k, c in enumerate(n_per_class):
        X[y == c, k % dims] += shift
    X = X * np.arange(1, dims + 1) * 10 + 100
    n = len(y)
    return FeatureSet([f"u{i}" for i in range(n)], X, y, np.array([f"s{i % 4}" for i in range(n)]),
                      np.array(["en"] * n))


def zscore(train: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(axis=0), train.std(axis=0)
    return (train - mean) / std, (other - mean) / std


@pytest.fixture(scope="module")
def data() -> tuple[FeatureSet, FeatureSet]:
    counts = {"angry": 30, "neutral": 90, "sad": 40}
    return make_set(counts, seed=0), make_set(counts, seed=1)


def test_registered_names():
    for name in ("majority", "logreg", "linear_svm", "logreg_oversampled", "logreg_smote"):
        assert METHODS.get(name).feature == "functionals"


def test_majority_predicts_training_prior(data):
    train, test = data
    m = METHODS.get("majority")().fit(train)
    proba = m.predict_proba(test)
    np.testing.assert_allclose(proba, np.tile([30 / 160, 90 / 160, 40 / 160], (len(test), 1)))
    assert set(m.predict(test)) == {"neutral"}


def test_embed_is_zscored_with_training_statistics_only(data):
    train, test = data
    m = METHODS.get("logreg")().fit(train)
    _, expected = zscore(train.X, test.X)
    np.testing.assert_allclose(m.embed(test), expected, rtol=1e-10, atol=1e-10)


def test_logreg_matches_sklearn_on_standardized_input(data):
    train, test = data
    m = METHODS.get("logreg")(C=0.3, seed=5).fit(train)
    Ztr, Zte = zscore(train.X, test.X)
    ref = LogisticRegression(C=0.3, max_iter=2000).fit(Ztr, train.y)
    assert m.classes_ == list(ref.classes_)
    np.testing.assert_allclose(m.predict_proba(test), ref.predict_proba(Zte), atol=1e-6)


def test_linear_svm_softmax_of_decision_values(data):
    train, test = data
    m = METHODS.get("linear_svm")(seed=3).fit(train)
    Ztr, Zte = zscore(train.X, test.X)
    ref = LinearSVC(random_state=3, max_iter=10000).fit(Ztr, train.y)
    d = ref.decision_function(Zte)
    expected = np.exp(d) / np.exp(d).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(m.predict_proba(test), expected, atol=1e-6)
    assert (m.predict(test) == ref.predict(Zte)).all()


def test_linear_svm_binary_probability_is_logistic_of_decision():
    train, test = make_set({"angry": 40, "sad": 40}, seed=0), make_set({"angry": 20, "sad": 20}, seed=1)
    m = METHODS.get("linear_svm")().fit(train)
    Ztr, Zte = zscore(train.X, test.X)
    d = LinearSVC(random_state=0, max_iter=10000).fit(Ztr, train.y).decision_function(Zte)
    proba = m.predict_proba(test)
    assert proba.shape == (40, 2)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-d)), atol=1e-6)


def test_linear_svm_calibrated_probabilities(data):
    train, test = data
    proba = METHODS.get("linear_svm")(probability="calibrated").fit(train).predict_proba(test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (proba > 0).all() and (proba < 1).all()


def test_calibration_needs_enough_rows_per_class():
    train = make_set({"angry": 2, "neutral": 20})
    with pytest.raises(EmobenchError, match="angry"):
        METHODS.get("linear_svm")(probability="calibrated", calibration_folds=3).fit(train)


def test_random_oversampling_matches_imblearn(data):
    train, test = data
    m = METHODS.get("logreg_oversampled")(seed=7).fit(train)
    Ztr, Zte = zscore(train.X, test.X)
    Zr, yr = RandomOverSampler(random_state=7).fit_resample(Ztr, train.y)
    assert (np.unique(yr, return_counts=True)[1] == 90).all()
    ref = LogisticRegression(max_iter=2000).fit(Zr, yr)
    np.testing.assert_allclose(m.predict_proba(test), ref.predict_proba(Zte), atol=1e-6)


def test_smote_matches_imblearn(data):
    train, test = data
    m = METHODS.get("logreg_smote")(seed=2, k_neighbors=4).fit(train)
    Ztr, Zte = zscore(train.X, test.X)
    Zr, yr = SMOTE(k_neighbors=4, random_state=2).fit_resample(Ztr, train.y)
    ref = LogisticRegression(max_iter=2000).fit(Zr, yr)
    np.testing.assert_allclose(m.predict_proba(test), ref.predict_proba(Zte), atol=1e-6)


def test_oversampling_raises_minority_recall():
    # Overlapping classes, 1:8 imbalance: the plain model favours the majority class.
    train = make_set({"angry": 20, "neutral": 160}, seed=0, shift=1.0)
    test = make_set({"angry": 200, "neutral": 200}, seed=1, shift=1.0)
    recall = {}
    for name in ("logreg", "logreg_oversampled", "logreg_smote"):
        pred = METHODS.get(name)().fit(train).predict(test)
        recall[name] = (pred[test.y == "angry"] == "angry").mean()
    assert recall["logreg_oversampled"] > recall["logreg"] + 0.2
    assert recall["logreg_smote"] > recall["logreg"] + 0.2


def test_smote_lowers_k_for_small_classes_and_rejects_singletons():
    small = make_set({"angry": 3, "neutral": 30})
    proba = METHODS.get("logreg_smote")(k_neighbors=5).fit(small).predict_proba(small)
    assert proba.shape == (33, 2)
    with pytest.raises(EmobenchError, match="angry"):
        METHODS.get("logreg_smote")().fit(make_set({"angry": 1, "neutral": 30}))


@pytest.mark.parametrize("name", ["majority", "logreg", "linear_svm", "logreg_oversampled", "logreg_smote"])
def test_round_trip_and_determinism(name, data, tmp_path):
    train, test = data
    a = METHODS.get(name)(seed=1).fit(train)
    b = METHODS.get(name)(seed=1).fit(train)
    np.testing.assert_array_equal(a.predict_proba(test), b.predict_proba(test))
    loaded = METHODS.get(name).load(a.save(tmp_path / name))
    np.testing.assert_array_equal(loaded.predict_proba(test), a.predict_proba(test))
    np.testing.assert_array_equal(loaded.embed(test), a.embed(test))
    assert loaded.hparams == a.hparams and loaded.classes_ == a.classes_
    assert not list((tmp_path / name).rglob("*.pkl"))


def test_load_refuses_another_methods_directory(data, tmp_path):
    METHODS.get("logreg")().fit(data[0]).save(tmp_path / "m")
    with pytest.raises(EmobenchError, match="logreg"):
        METHODS.get("linear_svm").load(tmp_path / "m")


def test_bad_inputs_are_named(data):
    train, test = data
    m = METHODS.get("logreg")().fit(train)
    X = test.X.copy()
    X[3, 1] = np.nan
    with pytest.raises(EmobenchError, match="u3"):
        m.predict_proba(FeatureSet(test.utt_ids, X, test.y, test.speakers, test.languages))
    with pytest.raises(EmobenchError, match="trained on 6"):
        m.predict_proba(FeatureSet(test.utt_ids, test.X[:, :4], test.y, test.speakers, test.languages))
    frames = [np.zeros((5, 64))] * len(test)
    with pytest.raises(ConfigError, match="2-D array"):
        m.predict_proba(FeatureSet(test.utt_ids, frames, test.y, test.speakers, test.languages))
    with pytest.raises(EmobenchError, match="single class"):
        METHODS.get("logreg")().fit(make_set({"neutral": 10}))
    with pytest.raises(ConfigError, match="penalty"):
        METHODS.get("logreg")(penalty="l1")


class NotAnEstimator:
    """A type skops does not trust: a model file holding it must be refused."""

    def __init__(self):
        self.x = 1


def test_skops_refuses_untrusted_types(tmp_path):
    path = save_sklearn({"payload": NotAnEstimator()}, tmp_path / "evil.skops")
    with pytest.raises(UnsafeModelFile, match="NotAnEstimator"):
        load_sklearn(path)
