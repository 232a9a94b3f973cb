"""Light classifiers fitted on frozen embeddings with scikit-learn, as PyTorch heads that export to ONNX.

Each head maps N×D encoder features to N×K logits whose softmax equals the
scikit-learn classifier's ``predict_proba``, so the exported model gives the
probabilities the strategy reported.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from torch import nn

# Floor of the kNN vote share before the logarithm, so a class without votes gets a finite logit.
KNN_LOG_FLOOR = 1e-6


def fit_logistic(features: np.ndarray, targets: np.ndarray, class_count: int, seed: int = 0,
                 max_iter: int = 2000) -> tuple[StandardScaler, LogisticRegression]:
    """Standardize N×D ``features`` and fit an L2-regularized multinomial logistic regression (C = 1).

    Raises:
        ValueError: if fewer than two classes occur in ``targets``.
    """
    if len(np.unique(targets)) < 2:
        raise ValueError("logistic regression needs labeled samples of at least two classes")
    scaler = StandardScaler().fit(features)
    classifier = LogisticRegression(max_iter=max_iter, random_state=seed)
    classifier.fit(scaler.transform(features), targets)
    return scaler, classifier


class LogisticHead(nn.Module):
    """Head of a standardizing scaler and a logistic regression folded into one ``nn.Linear`` (N×D → N×K logits).

    A class absent from training gets a bias of -1e4, so its probability is 0,
    as in scikit-learn, which never predicts a class it was not fitted on.
    """

    def __init__(self, scaler: StandardScaler, classifier: LogisticRegression, class_count: int):
        super().__init__()
        scale = scaler.scale_.astype(np.float64)
        mean = scaler.mean_.astype(np.float64)
        coef = classifier.coef_.astype(np.float64) / scale
        intercept = classifier.intercept_.astype(np.float64) - coef @ mean
        if coef.shape[0] == 1:
            # scikit-learn's binary model has one logit z for class 1; softmax([0, z]) equals its probabilities.
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([[0.0], intercept])
        weight = np.zeros((class_count, coef.shape[1]))
        bias = np.full(class_count, -1e4)
        fitted = classifier.classes_.astype(int)
        weight[fitted] = coef
        bias[fitted] = intercept
        self.linear = nn.Linear(coef.shape[1], class_count)
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(weight))
            self.linear.bias.copy_(torch.from_numpy(bias))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features)


class KNNHead(nn.Module):
    """k-nearest-neighbours vote over stored training embeddings (Euclidean distance, uniform weights).

    ``forward`` returns log vote shares (N×K), floored at ``KNN_LOG_FLOOR``, so
    their softmax is scikit-learn's ``predict_proba`` up to that floor. The
    training embeddings travel inside the exported model.
    """

    def __init__(self, features: np.ndarray, targets: np.ndarray, class_count: int, neighbors: int):
        super().__init__()
        if neighbors > len(features):
            raise ValueError(f"knn_neighbors={neighbors} is more than the {len(features)} labeled samples; "
                             f"choose at most {len(features)}")
        self.neighbors = neighbors
        self.class_count = class_count
        self.register_buffer("reference", torch.as_tensor(features, dtype=torch.float32))
        self.register_buffer("votes", nn.functional.one_hot(torch.as_tensor(targets, dtype=torch.long),
                                                            class_count).float())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # Squared Euclidean distances written out: torch.cdist picks a code path by input size,
        # which torch.export turns into a bound on the batch axis.
        features = features.float()
        squared = ((features * features).sum(1, keepdim=True) - 2.0 * features @ self.reference.T
                   + (self.reference * self.reference).sum(1))
        nearest = torch.topk(squared, self.neighbors, dim=1, largest=False).indices
        shares = self.votes[nearest].mean(dim=1)
        return torch.log(shares.clamp_min(KNN_LOG_FLOOR))


def fit_knn(features: np.ndarray, targets: np.ndarray, neighbors: int) -> KNeighborsClassifier:
    """Fit scikit-learn's kNN classifier (Euclidean, uniform weights), the reference for ``KNNHead``."""
    return KNeighborsClassifier(n_neighbors=neighbors).fit(features, targets)


def build_probe(kind: str, features: np.ndarray, targets: np.ndarray, class_count: int, neighbors: int = 5,
                seed: int = 0) -> tuple[nn.Module, object]:
    """Fit a ``logistic`` or ``knn`` probe on N×D ``features``; return ``(torch head, fitted scikit-learn model)``.

    The scikit-learn model for ``logistic`` is a ``(scaler, classifier)`` pair.

    Raises:
        ValueError: for an unknown kind, or more neighbours than samples.
    """
    features = np.asarray(features, dtype=np.float32)
    targets = np.asarray(targets, dtype=int)
    if kind == "logistic":
        scaler, classifier = fit_logistic(features, targets, class_count, seed=seed)
        return LogisticHead(scaler, classifier, class_count), (scaler, classifier)
    if kind == "knn":
        head = KNNHead(features, targets, class_count, neighbors)
        return head, fit_knn(features, targets, neighbors)
    raise ValueError(f"probe={kind!r} is invalid; choose logistic or knn")
