"""Held-out metrics, proxy agreement and embedding helpers against scikit-learn and SciPy."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn import metrics as skm

from sslstudio.evaluation.embeddings import export_embeddings, project_2d
from sslstudio.evaluation.metrics import (best_mapping_accuracy, classification_metrics, misclassified_samples,
                                          proxy_agreement)


@pytest.fixture
def multiclass():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 80)
    logits = rng.normal(size=(80, 4)) + 2.0 * np.eye(4)[y_true]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y_true, probabilities, ["a", "b", "c", "d"]


def test_metrics_accuracy_matches_sklearn(multiclass):
    y_true, probabilities, names = multiclass
    result = classification_metrics(y_true, probabilities, names)
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(y_true, probabilities.argmax(1)))


def test_metrics_balanced_accuracy_matches_sklearn(multiclass):
    y_true, probabilities, names = multiclass
    result = classification_metrics(y_true, probabilities, names)
    assert result["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y_true, probabilities.argmax(1)))


def test_metrics_macro_f1_matches_sklearn(multiclass):
    y_true, probabilities, names = multiclass
    result = classification_metrics(y_true, probabilities, names)
    assert result["macro_f1"] == pytest.approx(skm.f1_score(y_true, probabilities.argmax(1), average="macro"))


def test_metrics_per_class_recall_matches_sklearn(multiclass):
    y_true, probabilities, names = multiclass
    result = classification_metrics(y_true, probabilities, names)
    expected = skm.recall_score(y_true, probabilities.argmax(1), average=None)
    assert [result["per_class_recall"][name] for name in names] == pytest.approx(expected.tolist())


def test_metrics_confusion_matrix_matches_sklearn(multiclass):
    y_true, probabilities, names = multiclass
    result = classification_metrics(y_true, probabilities, names)
    assert result["confusion_matrix"] == skm.confusion_matrix(y_true, probabilities.argmax(1)).tolist()


def test_metrics_no_roc_auc_for_multiclass(multiclass):
    y_true, probabilities, names = multiclass
    assert "roc_auc" not in classification_metrics(y_true, probabilities, names)


def test_metrics_binary_roc_auc_matches_sklearn():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 2, 50)
    positive = np.clip(0.3 * y_true + rng.uniform(0, 0.7, 50), 0, 1)
    probabilities = np.stack([1 - positive, positive], axis=1)
    result = classification_metrics(y_true, probabilities, ["no", "yes"])
    assert result["roc_auc"] == pytest.approx(skm.roc_auc_score(y_true, positive))


def test_metrics_absent_class_recall_is_zero():
    probabilities = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]])
    result = classification_metrics([0, 1], probabilities, ["a", "b", "c"])
    assert result["per_class_recall"]["c"] == 0.0
    assert result["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]


def test_misclassified_most_confident_first():
    probabilities = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.7, 0.3]])
    mistakes = misclassified_samples(["s0", "s1", "s2", "s3"], [0, 0, 0, 1], probabilities, ["neg", "pos"])
    assert [item["sample_id"] for item in mistakes] == ["s2", "s3", "s1"]
    assert mistakes[0] == {"sample_id": "s2", "true": "neg", "predicted": "pos", "confidence": pytest.approx(0.8)}


def test_best_mapping_matches_brute_force():
    rng = np.random.default_rng(2)
    y_true = rng.integers(0, 3, 40)
    clusters = rng.integers(0, 3, 40)
    best = max(np.mean(np.array(permutation)[clusters] == y_true) for permutation in itertools.permutations(range(3)))
    accuracy, _ = best_mapping_accuracy(y_true, clusters)
    assert accuracy == pytest.approx(best)


def test_best_mapping_relabelled_clusters():
    accuracy, mapping = best_mapping_accuracy([0, 0, 1, 1, 2, 2], [7, 7, 3, 3, 5, 5])
    assert accuracy == 1.0
    assert mapping == {7: 0, 3: 1, 5: 2}


def test_best_mapping_extra_clusters_count_wrong():
    accuracy, _ = best_mapping_accuracy([0, 0, 1, 1], [0, 1, 2, 2])
    assert accuracy == pytest.approx(0.75)


def test_proxy_agreement_binary_matches_scipy_and_sklearn():
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, 60)
    scores = y_true + rng.normal(scale=0.8, size=60)
    agreement = proxy_agreement(y_true, (scores > 0.5).astype(int), scores, class_count=2)
    assert agreement["roc_auc"] == pytest.approx(skm.roc_auc_score(y_true, scores))
    assert agreement["spearman"] == pytest.approx(spearmanr(scores, y_true).statistic)


def test_proxy_agreement_multiclass_has_no_auc():
    agreement = proxy_agreement([0, 1, 2, 2], [1, 2, 0, 0], [0.1, 0.5, 0.9, 0.8], class_count=3)
    assert "roc_auc" not in agreement
    assert agreement["best_mapping_accuracy"] == 1.0


def test_proxy_agreement_constant_score_spearman_nan():
    agreement = proxy_agreement([0, 1, 1], [0, 0, 0], [0.5, 0.5, 0.5], class_count=2)
    assert np.isnan(agreement["spearman"])


@pytest.mark.parametrize("suffix, reader", [(".csv", pd.read_csv), (".parquet", pd.read_parquet)])
def test_embeddings_export_round_trip(tmp_path, suffix, reader):
    embeddings = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = export_embeddings(tmp_path / f"emb{suffix}", ["a/1.png", "b/2.png", "c,3.png"], embeddings,
                             ["x", None, "z"])
    frame = reader(path)
    assert frame["sample_id"].tolist() == ["a/1.png", "b/2.png", "c,3.png"]
    assert frame[["e0", "e1", "e2", "e3"]].to_numpy().tolist() == embeddings.tolist()
    assert frame["label"].isna().tolist() == [False, True, False]


def test_embeddings_export_rejects_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        export_embeddings(tmp_path / "emb.txt", ["a"], np.zeros((1, 2)))


def test_embeddings_export_rejects_mismatch(tmp_path):
    with pytest.raises(ValueError, match="2 sample ids"):
        export_embeddings(tmp_path / "emb.csv", ["a", "b"], np.zeros((3, 2)))


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_project_2d_shape(method):
    embeddings = np.random.default_rng(4).normal(size=(20, 6))
    coordinates = project_2d(embeddings, method)
    assert coordinates.shape == (20, 2)
    assert np.isfinite(coordinates).all()


def test_project_2d_pca_matches_sklearn():
    from sklearn.decomposition import PCA

    embeddings = np.random.default_rng(5).normal(size=(30, 5)).astype(np.float32)
    expected = PCA(n_components=2, random_state=0).fit_transform(embeddings)
    assert np.allclose(project_2d(embeddings, "pca"), expected, atol=1e-4)


def test_project_2d_rejects_method():
    with pytest.raises(ValueError, match="umap"):
        project_2d(np.zeros((3, 2)), "umap")
