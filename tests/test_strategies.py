"""Feature extraction, multitask and proxy strategies on a small slice of the digits, with tiny settings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from sslstudio.data.image import ImageFolderDataset
from sslstudio.data.report import ImportReport
from sslstudio.evaluation.label_efficiency import label_efficiency_curve
from sslstudio.evaluation.splits import holdout_mask
from sslstudio.export.bundle import export_classifier
from sslstudio.models.probes import KNNHead, LogisticHead, build_probe
from sslstudio.training.config import RunConfig, TaskChoice
from sslstudio.training.context import RunContext
from sslstudio.training.events import Finished, Log, Progress
from sslstudio.training.strategies import STRATEGY_FUNCTIONS, run_strategy
from sslstudio.training.strategies.proxy import SHORTCUT_WARNING, class_mapping, proxy_column_values

TINY = {"max_pretrain_steps": 3, "finetune_steps": 3, "batch_size": 32, "labels_per_class": 3}
CASES = {
    "feature-extraction-logistic": {"strategy": "feature-extraction", "probe": "logistic"},
    "feature-extraction-knn": {"strategy": "feature-extraction", "probe": "knn", "knn_neighbors": 3},
    "multitask": {"strategy": "multitask", "supervised_weight": 0.5},
    "proxy-task": {"strategy": "proxy", "proxy_source": "task"},
    "proxy-pattern": {"strategy": "proxy", "proxy_source": "pattern", "proxy_column": "sample_id",
                      "proxy_pattern": r"^(\d)/"},
}


def digits_slice(digits, step: int = 6, image_size: int = 8) -> ImageFolderDataset:
    """Every ``step``-th digit (all ten classes), downscaled to ``image_size`` pixels for speed."""
    keep = list(range(0, len(digits), step))
    pixels = torch.nn.functional.interpolate(digits.pixels[keep].float(), size=(image_size, image_size),
                                             mode="area").round().to(torch.uint8).numpy()
    metadata = digits.metadata.iloc[keep].reset_index(drop=True)
    return ImageFolderDataset(pixels, [digits.ids[index] for index in keep], metadata, digits.report, digits.source)


def digits_slice_copy(dataset: ImageFolderDataset) -> ImageFolderDataset:
    """A fresh dataset object over the same pixels, so a test may patch it or its metadata."""
    return ImageFolderDataset(dataset.pixels.numpy(), dataset.ids, dataset.metadata.copy(), dataset.report,
                              dataset.source)


class BatchRecorder:
    """Wrap ``dataset.batch`` and record every index fetched while autograd is on (that is, for training)."""

    def __init__(self, dataset):
        self.trained: set[int] = set()
        self.original = dataset.batch
        dataset.batch = self

    def __call__(self, indices, device="cpu"):
        if torch.is_grad_enabled():
            self.trained.update(int(index) for index in indices)
        return self.original(indices, device)


@pytest.fixture(scope="module")
def small_digits(digits):
    return digits_slice(digits)


@pytest.fixture(scope="module")
def runs(small_digits):
    """One finished run per case: (result, events, indices used for training)."""
    outcomes = {}
    labels = small_digits.label_column("folder")
    for name, options in CASES.items():
        dataset = digits_slice_copy(small_digits)
        recorder = BatchRecorder(dataset)
        config = RunConfig(**TINY, **options)
        events = list(run_strategy(config, RunContext(dataset=dataset, labels=labels)))
        outcomes[name] = (events[-1].result, events, recorder.trained, config, dataset)
    return outcomes


def test_strategies_registered():
    assert set(STRATEGY_FUNCTIONS) == {"transfer", "feature-extraction", "multitask", "proxy"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_strategy_finishes_with_metrics(runs, case):
    result = runs[case][0]
    assert result.status == "finished"
    assert 0.0 <= result.pretrained["accuracy"] <= 1.0
    assert result.pretrained["count"] == result.extras["holdout_count"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_strategy_trains_scratch_baseline(runs, case):
    result = runs[case][0]
    assert 0.0 <= result.scratch["accuracy"] <= 1.0
    assert result.baseline_model is not None


@pytest.mark.parametrize("case", sorted(CASES))
def test_strategy_never_trains_on_holdout(runs, case):
    _, _, trained, _, dataset = runs[case]
    held_out = set(np.flatnonzero(holdout_mask(dataset.ids, 0.2)).tolist())
    assert trained, "the recorder saw no training batch"
    assert trained.isdisjoint(held_out)


@pytest.mark.parametrize("case", ["feature-extraction-knn", "proxy-pattern"])
def test_strategy_exports_onnx(runs, case, tmp_path):
    result, _, _, config, dataset = runs[case]
    exported = export_classifier(result, dataset, config, tmp_path)
    assert exported["onnx"].is_file()
    assert max(exported["differences"]) < 1e-4


def test_feature_extraction_embeds_every_sample(runs):
    result, _, _, _, dataset = runs["feature-extraction-logistic"]
    assert result.extras["embeddings"].shape == (len(dataset), result.model.encoder.feature_dim)


def test_feature_extraction_freezes_encoder(runs):
    result = runs["feature-extraction-logistic"][0]
    assert not any(parameter.requires_grad for parameter in result.model.encoder.parameters())


def test_multitask_reports_every_loss(runs):
    events = runs["multitask"][1]
    steps = [event for event in events if isinstance(event, Progress) and event.phase == "multitask"]
    assert steps, "no multitask step was reported"
    assert {"loss", "supervised/loss", "image.rotation/loss"} <= set(steps[-1].metrics)


def test_multitask_step_count(runs):
    events = runs["multitask"][1]
    steps = [event for event in events if isinstance(event, Progress) and event.phase == "multitask"]
    assert len(steps) == TINY["max_pretrain_steps"]


def test_proxy_report_warns_of_shortcut(runs):
    result, events = runs["proxy-task"][:2]
    assert SHORTCUT_WARNING in result.extras["proxy_report"]
    assert any(isinstance(event, Log) and SHORTCUT_WARNING in event.message for event in events)


def test_proxy_pattern_agrees_with_folder_labels(runs):
    # The pattern reads the digit from the folder part of the id, so the proxy is a relabelling of the labels.
    agreement = runs["proxy-pattern"][0].extras["proxy_agreement"]
    assert agreement["best_mapping_accuracy"] > 0.3
    assert "roc_auc" not in agreement


def test_probe_logistic_head_matches_sklearn():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 7)).astype(np.float32) * 3 + 1
    targets = rng.integers(0, 3, 60)
    head, (scaler, classifier) = build_probe("logistic", features, targets, 3)
    expected = classifier.predict_proba(scaler.transform(features))
    actual = torch.softmax(head(torch.from_numpy(features)), dim=1).detach().numpy()
    assert isinstance(head, LogisticHead)
    assert np.allclose(actual, expected, atol=1e-5)


def test_probe_logistic_head_binary():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(40, 5)).astype(np.float32)
    targets = (features[:, 0] > 0).astype(int)
    head, (scaler, classifier) = build_probe("logistic", features, targets, 2)
    expected = classifier.predict_proba(scaler.transform(features))
    actual = torch.softmax(head(torch.from_numpy(features)), dim=1).detach().numpy()
    assert np.allclose(actual, expected, atol=1e-5)


def test_probe_knn_head_matches_sklearn():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(50, 4)).astype(np.float32)
    targets = rng.integers(0, 4, 50)
    queries = rng.normal(size=(30, 4)).astype(np.float32)
    head, knn = build_probe("knn", features, targets, 4, neighbors=5)
    actual = torch.softmax(head(torch.from_numpy(queries)), dim=1).detach().numpy()
    assert isinstance(head, KNNHead)
    assert np.allclose(actual, knn.predict_proba(queries), atol=1e-4)


def test_probe_knn_rejects_too_many_neighbors():
    with pytest.raises(ValueError, match="knn_neighbors=9"):
        build_probe("knn", np.zeros((4, 2), np.float32), np.array([0, 1, 0, 1]), 2, neighbors=9)


def test_class_mapping_uses_assignment():
    # Proxy class 2 contains label 0, proxy class 0 contains label 1, proxy class 1 is mostly label 1 too.
    mapping = class_mapping([2, 2, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1, 0], proxy_count=4, class_count=2)
    assert mapping.argmax(1).tolist()[:3] == [1, 1, 0]
    assert mapping.sum(axis=1).tolist() == [1, 1, 1, 1]


def test_proxy_pattern_values(small_digits):
    config = RunConfig(strategy="proxy", proxy_source="pattern", proxy_column="sample_id", proxy_pattern=r"^(\d)/")
    values, description = proxy_column_values(small_digits, config)
    assert values == small_digits.label_column("folder")
    assert "sample_id" in description


def test_proxy_pattern_unmatched_is_none():
    metadata = pd.DataFrame({"sample_id": ["a_left.png", "b.png"], "file_name": ["a_left.png", "b.png"]})
    dataset = ImageFolderDataset(np.zeros((2, 3, 4, 4), np.uint8), ["a_left.png", "b.png"], metadata, ImportReport(), "x")
    config = RunConfig(strategy="proxy", proxy_source="pattern", proxy_pattern=r"_(left|right)")
    assert proxy_column_values(dataset, config)[0] == ["left", None]


def test_proxy_column_too_few_values(small_digits):
    dataset = digits_slice_copy(small_digits)
    dataset.metadata["constant"] = "same"
    config = RunConfig(strategy="proxy", proxy_source="column", proxy_column="constant", **TINY)
    with pytest.raises(ValueError, match="2 to 100 categories"):
        list(run_strategy(config, RunContext(dataset=dataset, labels=dataset.label_column("folder"))))


def test_config_rejects_bad_pattern():
    with pytest.raises(ValueError, match="proxy_pattern"):
        RunConfig(strategy="proxy", proxy_source="pattern", proxy_pattern="(")


def test_config_json_keeps_strategy_options():
    config = RunConfig(strategy="proxy", tasks=(TaskChoice.make("image.rotation", {"angles": [0, 180]}),),
                       probe="knn", knn_neighbors=7, supervised_weight=0.25, proxy_source="pattern",
                       proxy_column="file_name", proxy_pattern=r"_(\w+)\.")
    assert RunConfig.from_json(config.to_json()) == config


def test_strategy_cancel_finishes_cancelled(small_digits):
    dataset = digits_slice_copy(small_digits)
    context = RunContext(dataset=dataset, labels=dataset.label_column("folder"))
    context.cancel.set()
    events = list(run_strategy(RunConfig(strategy="multitask", **TINY), context))
    assert events[-1].result.status == "cancelled"


def test_label_efficiency_curve(small_digits):
    dataset = digits_slice_copy(small_digits)
    context = RunContext(dataset=dataset, labels=dataset.label_column("folder"))
    config = RunConfig(max_pretrain_steps=2, finetune_steps=2, batch_size=32)
    events = list(label_efficiency_curve(config, context, counts=(1, 0), seeds=(0, 1)))
    curve = events[-1].result.extras["curve"]
    assert [point.name for point in curve.points] == ["1", "all"]
    assert [len(point.pretrained) for point in curve.points] == [2, 2]
    assert [len(point.scratch) for point in curve.points] == [2, 2]
    assert curve.points[0].labeled_count == 10
    assert "| all |" in curve.markdown()


@pytest.mark.parametrize(("auc", "noted"), [(0.517, False), (0.31, True)])
def test_proxy_report_notes_reversed_score(auc, noted):
    from sslstudio.training.strategies.proxy import agreement_report

    report = agreement_report({"count": 20, "best_mapping_accuracy": 0.6, "spearman": 0.1, "roc_auc": auc}, "a column")
    assert f"ROC AUC {auc:.3f}" in report
    assert ("runs opposite" in report) == noted
