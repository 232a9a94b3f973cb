"""Classification metrics on the held-out samples (scikit-learn definitions) and proxy agreement."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import spearmanr
from sklearn import metrics as skm


def classification_metrics(y_true: Sequence[int], probabilities: np.ndarray, class_names: Sequence[str]) -> dict:
    """Return accuracy, balanced accuracy, macro-F1, per-class recall, the confusion matrix and, for two classes, ROC AUC.

    Args:
        y_true: true class indices, shape (N,).
        probabilities: predicted class probabilities, shape (N, K).
        class_names: K names, in index order.
    """
    y_true = np.asarray(y_true)
    probabilities = np.asarray(probabilities)
    if len(y_true) == 0:
        return {"accuracy": float("nan"), "count": 0}
    y_pred = probabilities.argmax(axis=1)
    labels = list(range(len(class_names)))
    recall = skm.recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    result = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "per_class_recall": {name: float(value) for name, value in zip(class_names, recall)},
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "count": int(len(y_true)),
    }
    if len(class_names) == 2 and len(np.unique(y_true)) == 2:
        result["roc_auc"] = float(skm.roc_auc_score(y_true, probabilities[:, 1]))
    return result


def misclassified_samples(sample_ids: Sequence[str], y_true: Sequence[int], probabilities: np.ndarray,
                          class_names: Sequence[str]) -> list[dict]:
    """Return the wrongly predicted samples, most confident mistakes first.

    Args:
        sample_ids: N sample ids, in the order of ``y_true``.
        y_true: true class indices, shape (N,).
        probabilities: predicted class probabilities, shape (N, K).
        class_names: K names, in index order.

    Returns:
        One dict per mistake: ``sample_id``, ``true``, ``predicted`` (class
        names) and ``confidence`` (the probability of the predicted class).
    """
    y_true = np.asarray(y_true)
    probabilities = np.asarray(probabilities)
    if len(y_true) == 0:
        return []
    y_pred = probabilities.argmax(axis=1)
    confidence = probabilities[np.arange(len(y_pred)), y_pred]
    wrong = np.flatnonzero(y_pred != y_true)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")]
    return [{"sample_id": sample_ids[index], "true": class_names[y_true[index]],
             "predicted": class_names[y_pred[index]], "confidence": float(confidence[index])} for index in wrong]


def best_mapping_accuracy(y_true: Sequence[int], clusters: Sequence[int]) -> tuple[float, dict[int, int]]:
    """Return the accuracy of the best one-to-one mapping from cluster (or proxy class) ids to labels.

    The mapping maximizes the matched count over the contingency table with the
    Hungarian algorithm (``scipy.optimize.linear_sum_assignment``). When there
    are more clusters than labels, the unmatched clusters count as wrong.

    Returns:
        ``(accuracy, mapping)`` with ``mapping[cluster] = label`` for matched clusters.
    """
    y_true = np.asarray(y_true, dtype=int)
    clusters = np.asarray(clusters, dtype=int)
    if len(y_true) == 0:
        return float("nan"), {}
    label_values, label_index = np.unique(y_true, return_inverse=True)
    cluster_values, cluster_index = np.unique(clusters, return_inverse=True)
    table = np.zeros((len(cluster_values), len(label_values)), dtype=np.int64)
    np.add.at(table, (cluster_index, label_index), 1)
    rows, columns = linear_sum_assignment(table, maximize=True)
    mapping = {int(cluster_values[row]): int(label_values[column]) for row, column in zip(rows, columns)}
    return float(table[rows, columns].sum() / len(y_true)), mapping


def proxy_agreement(y_true: Sequence[int], proxy_classes: Sequence[int], proxy_scores: Sequence[float],
                    class_count: int) -> dict:
    """Measure how well a proxy model's output agrees with the real labels.

    Args:
        y_true: real class indices, shape (N,).
        proxy_classes: the proxy model's predicted class per sample, shape (N,).
        proxy_scores: one scalar proxy score per sample, shape (N,).
        class_count: K, the number of real classes.

    Returns:
        ``best_mapping_accuracy`` (Hungarian), ``spearman`` (rank correlation of
        score and class index, meaningful when classes are ordered or binary),
        ``roc_auc`` of the score when K is 2 and both classes occur, and ``count``.
    """
    y_true = np.asarray(y_true, dtype=int)
    scores = np.asarray(proxy_scores, dtype=float)
    result: dict = {"count": int(len(y_true))}
    if len(y_true) == 0:
        return result
    result["best_mapping_accuracy"], _ = best_mapping_accuracy(y_true, proxy_classes)
    constant = np.ptp(scores) == 0 or len(np.unique(y_true)) < 2
    result["spearman"] = float("nan") if constant else float(spearmanr(scores, y_true).statistic)
    if class_count == 2 and len(np.unique(y_true)) == 2:
        result["roc_auc"] = float(skm.roc_auc_score(y_true, scores))
    return result
