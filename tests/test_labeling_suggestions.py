"""Suggestions: k-center greedy diversity, entropy and margin uncertainty, on random tensors and a tiny encoder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from sslstudio.data.base import Dataset, DatasetSpec
from sslstudio.data.report import ImportReport
from sslstudio.evaluation.suggestions import (k_center_greedy, latest_pretrained_encoder, suggest_diverse,
                                              suggest_for_dataset, suggest_uncertain, uncertainty_scores)
from sslstudio.models.base import build_encoder
from sslstudio.models.model import SSLModel
from sslstudio.project.store import Project
from sslstudio.training.checkpoints import save_checkpoint


class VectorDataset(Dataset):
    """Samples that are rows of a fixed random matrix (N×8)."""

    modality = "tabular"

    def __init__(self, vectors: torch.Tensor):
        ids = [f"s{index}" for index in range(len(vectors))]
        super().__init__(ids, pd.DataFrame({"sample_id": ids}), DatasetSpec("tabular", (vectors.shape[1],)),
                         ImportReport(), "memory")
        self.vectors = vectors

    def batch(self, indices, device="cpu"):
        return self.vectors[list(indices)].to(device)


def clusters(centers: int = 4, per_cluster: int = 25, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = np.eye(centers, 8) * 10.0
    return np.concatenate([mean + rng.normal(scale=0.1, size=(per_cluster, 8)) for mean in means])


def test_k_center_covers_every_cluster():
    points = clusters()
    picks = k_center_greedy(points, centers=[], count=4)
    assert sorted({row // 25 for row, _ in picks}) == [0, 1, 2, 3]
    assert np.isinf(picks[0][1])
    assert all(distance > 5.0 for _, distance in picks[1:])


def test_k_center_starts_from_labeled_rows():
    points = clusters()
    picks = k_center_greedy(points, centers=[0, 25, 50], count=1)
    assert picks[0][0] // 25 == 3


def test_diverse_suggestions_distinct_and_unlabeled():
    points = clusters()
    ids = [f"s{index}" for index in range(len(points))]
    labeled = {f"s{index}" for index in range(0, 100, 3)}
    skipped = {"s1", "s2"}
    found = suggest_diverse(points, ids, labeled, count=30, exclude_ids=skipped)
    chosen = [item.sample_id for item in found]
    assert len(chosen) == 30
    assert len(set(chosen)) == 30
    assert set(chosen).isdisjoint(labeled)
    assert set(chosen).isdisjoint(skipped)
    assert all(item.reason.startswith("diversity: distance") for item in found)


def test_diverse_stops_when_everything_labeled():
    points = clusters(centers=1, per_cluster=5)
    ids = [f"s{index}" for index in range(5)]
    assert len(suggest_diverse(points, ids, {"s0", "s1", "s2"}, count=10)) == 2
    assert suggest_diverse(points, ids, set(ids), count=10) == []


def test_uncertainty_scores_order():
    probabilities = np.array([[0.98, 0.01, 0.01], [0.4, 0.35, 0.25], [0.5, 0.5, 0.0]])
    entropy = uncertainty_scores(probabilities, "entropy")
    margin = uncertainty_scores(probabilities, "margin")
    assert entropy.argmax() == 1
    assert entropy.argmin() == 0
    assert margin.argmax() == 2
    assert margin[0] == pytest.approx(1.0 - 0.97)
    with pytest.raises(ValueError, match="uncertainty method 'random' is invalid"):
        uncertainty_scores(probabilities, "random")


def test_uncertain_suggestions_skip_labeled():
    rng = np.random.default_rng(1)
    probabilities = rng.dirichlet(np.ones(3), size=50)
    ids = [f"s{index}" for index in range(50)]
    scores = uncertainty_scores(probabilities, "margin")
    most_uncertain = ids[int(scores.argmax())]
    found = suggest_uncertain(probabilities, ids, {most_uncertain}, count=10, class_names=["a", "b", "c"],
                              method="margin")
    chosen = [item.sample_id for item in found]
    assert len(set(chosen)) == 10
    assert most_uncertain not in chosen
    assert [item.score for item in found] == sorted((item.score for item in found), reverse=True)
    assert found[0].reason.startswith("uncertainty: margin")


def test_dataset_suggestions_with_tiny_models():
    torch.manual_seed(0)
    dataset = VectorDataset(torch.randn(300, 8))
    encoder = nn.Sequential(nn.Linear(8, 16), nn.ReLU())
    labeled = {"s0", "s5", "s9"}
    diverse = suggest_for_dataset(dataset, labeled, 12, encoder=encoder, exclude_ids={"s3"}, max_candidates=100)
    diverse_ids = [item.sample_id for item in diverse]
    assert len(set(diverse_ids)) == 12
    assert set(diverse_ids).isdisjoint(labeled | {"s3"})
    assert all(dataset.ids[item.index] == item.sample_id for item in diverse)

    classifier = nn.Linear(8, 3)
    uncertain = suggest_for_dataset(dataset, labeled, 12, classifier=classifier, class_names=["a", "b", "c"])
    uncertain_ids = [item.sample_id for item in uncertain]
    assert len(set(uncertain_ids)) == 12
    assert set(uncertain_ids).isdisjoint(labeled)
    assert "entropy" in uncertain[0].reason
    with pytest.raises(ValueError, match="need an encoder"):
        suggest_for_dataset(dataset, labeled, 3)


def test_latest_pretrained_encoder_loads_weights(tmp_path):
    spec = DatasetSpec("image", (3, 16, 16), {"image_size": 16})
    project = Project.create(tmp_path)
    assert latest_pretrained_encoder(project.folder, project.runs(), spec) is None

    model = SSLModel(build_encoder(spec, "small"))
    run_id, run_dir = project.create_run("transfer", "{}")
    (run_dir / "config.json").write_text('{"encoder_size": "small"}')
    save_checkpoint(run_dir / "checkpoints" / "pretrain.pt", {"model": model.state_dict()})
    loaded = latest_pretrained_encoder(project.folder, project.runs(), spec)
    images = torch.rand(2, 3, 16, 16)
    model.encoder.eval()
    loaded.eval()
    assert torch.allclose(loaded(images), model.encoder(images))
    project.close()
