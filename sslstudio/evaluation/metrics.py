"""Classification metrics on the held-out samples (scikit-learn definitions)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
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
