"""Every strategy on every bundled sample except the digits, through the run path of the command line.

Each sample is opened once per module, with the command's default tasks, and
each (sample, strategy) pair runs once with tiny budgets and no export.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sslstudio.cli import main
from sslstudio.data.graph import GRAPH_EPOCH_STEPS
from sslstudio.evaluation.metrics import classification_metrics
from sslstudio.evaluation.splits import holdout_mask
from sslstudio.training.config import RunConfig
from sslstudio.training.events import Finished, Progress
from sslstudio.training.loop import predict_proba
from sslstudio.training.strategies import multitask
from sslstudio.training.strategies.proxy import SHORTCUT_WARNING
from sslstudio.workflow import DataChoice, default_task_choices, open_data, start_run

SAMPLES = ("gunpoint", "penguins", "breast-cancer", "movie-reviews", "karate", "drosophila", "clips")
STRATEGIES = ("transfer", "feature-extraction", "multitask", "proxy")
TINY = {"pretrain_epochs": 1, "max_pretrain_steps": 2, "finetune_steps": 3, "batch_size": 16, "labels_per_class": 3,
        "device": "cpu"}
# Reader options on top of the sample's own: the penguins' island moves from the inputs to the metadata,
# where it can serve as a proxy column.
DATA_OPTIONS = {"penguins": {"ignore_columns": "island"}}
# The proxy per sample: a classification pretext task where the modality has one (time series, video),
# a metadata column, or a pattern over a metadata column where the sample has no other candidate.
PROXIES = {
    "gunpoint": {"proxy_source": "task"},
    "clips": {"proxy_source": "task"},
    "penguins": {"proxy_source": "column", "proxy_column": "island"},
    "breast-cancer": {"proxy_source": "pattern", "proxy_column": "sample_id", "proxy_pattern": r"(\d)$"},
    "movie-reviews": {"proxy_source": "pattern", "proxy_column": "movie", "proxy_pattern": r"^(\w)"},
    "karate": {"proxy_source": "column", "proxy_column": "club"},
    "drosophila": {"proxy_source": "column", "proxy_column": "cell_type"},
}
# Samples whose four runs took over 5 minutes on a busy 2-core CPU (150-step series, video clips, 4,866 texts).
SLOW_SAMPLES = ("gunpoint", "movie-reviews", "clips")


def sample_params(*samples: str) -> list:
    """Return pytest parameters for ``samples``, marked slow where the sample is in ``SLOW_SAMPLES``."""
    return [pytest.param(sample, marks=pytest.mark.slow if sample in SLOW_SAMPLES else ()) for sample in samples]


CASES = [pytest.param(sample, strategy, marks=pytest.mark.slow if sample in SLOW_SAMPLES else ())
         for sample in SAMPLES for strategy in STRATEGIES]


class BatchRecorder:
    """Wrap ``dataset.batch`` and record every index fetched while autograd is on (that is, for training)."""

    def __init__(self, dataset):
        self.trained: set[int] = set()
        self.dataset = dataset
        self.original = dataset.batch
        dataset.batch = self

    def __call__(self, indices, device="cpu"):
        import torch

        if torch.is_grad_enabled():
            self.trained.update(int(index) for index in indices)
        return self.original(indices, device)

    def remove(self) -> None:
        del self.dataset.batch


@pytest.fixture(scope="module")
def datasets():
    """Sample name -> ``(dataset, labels)``, each opened on first use as ``sslstudio run --sample`` opens it."""
    opened = {}

    def get(sample: str):
        if sample not in opened:
            choice = DataChoice(sample=sample, options=DATA_OPTIONS.get(sample, {}))
            dataset, label_column = open_data(choice)
            opened[sample] = (dataset, dataset.label_column(label_column))
        return opened[sample]

    return get


@pytest.fixture(scope="module")
def runs(datasets):
    """(sample, strategy) -> ``(result, events, trained indices, config, dataset, labels)``, each run once."""
    finished = {}

    def get(sample: str, strategy: str):
        if (sample, strategy) not in finished:
            dataset, labels = datasets(sample)
            options = PROXIES[sample] if strategy == "proxy" else {}
            config = RunConfig(strategy=strategy, tasks=default_task_choices(dataset.modality), **TINY, **options)
            recorder = BatchRecorder(dataset)
            try:
                events = list(start_run(config, dataset, labels, run_dir=None))
            finally:
                recorder.remove()
            assert isinstance(events[-1], Finished)
            result = events[-1].result
            print(f"{sample} {strategy}: held-out accuracy {result.pretrained['accuracy']:.3f}, "
                  f"scratch {result.scratch['accuracy']:.3f}")
            finished[sample, strategy] = (result, events, recorder.trained, config, dataset, labels)
        return finished[sample, strategy]

    return get


def held_out(dataset, labels, class_names) -> tuple[list[int], list[int]]:
    """Return the labeled held-out indices of known classes and their class indices."""
    mask = holdout_mask(dataset.ids, 0.2)
    index = {name: position for position, name in enumerate(class_names)}
    indices = [position for position in np.flatnonzero(mask).tolist() if labels[position] in index]
    return indices, [index[labels[position]] for position in indices]


@pytest.mark.parametrize("sample,strategy", CASES)
def test_strategy_runs_on_sample(runs, sample, strategy):
    result = runs(sample, strategy)[0]
    assert result.status == "finished"
    assert 0.0 <= result.pretrained["accuracy"] <= 1.0
    assert 0.0 <= result.scratch["accuracy"] <= 1.0
    assert result.pretrained["count"] == result.scratch["count"] == result.extras["holdout_count"]


@pytest.mark.parametrize("sample,strategy", CASES)
def test_strategy_accuracy_matches_holdout(runs, sample, strategy):
    result, _, _, _, dataset, labels = runs(sample, strategy)
    indices, targets = held_out(dataset, labels, result.class_names)
    for name, model, metrics in (("pretrained", result.model, result.pretrained),
                                 ("scratch", result.baseline_model, result.scratch)):
        expected = classification_metrics(targets, predict_proba(model, dataset, indices, "cpu"), result.class_names)
        assert metrics["count"] == len(indices), name
        assert metrics["accuracy"] == pytest.approx(expected["accuracy"]), name


@pytest.mark.parametrize("sample,strategy", CASES)
def test_strategy_never_trains_on_holdout(runs, sample, strategy):
    _, _, trained, _, dataset, _ = runs(sample, strategy)
    holdout_indices = set(np.flatnonzero(holdout_mask(dataset.ids, 0.2)).tolist())
    assert trained, "the recorder saw no training batch"
    assert trained.isdisjoint(holdout_indices)


@pytest.mark.parametrize("sample", sample_params(*SAMPLES))
def test_feature_extraction_freezes_encoder(runs, sample):
    result, _, _, _, dataset, _ = runs(sample, "feature-extraction")
    assert not any(parameter.requires_grad for parameter in result.model.encoder.parameters())
    assert result.extras["embeddings"].shape == (len(dataset), result.model.encoder.feature_dim)


@pytest.mark.parametrize("sample", sample_params(*SAMPLES))
def test_multitask_reports_every_loss(runs, sample):
    _, events, _, config, _, _ = runs(sample, "multitask")
    steps = [event for event in events if isinstance(event, Progress) and event.phase == "multitask"]
    expected = {"loss", "supervised/loss"} | {f"{choice.name}/loss" for choice in config.tasks}
    assert steps, "no multitask step was reported"
    assert expected <= set(steps[-1].metrics)
    assert all(math.isfinite(steps[-1].metrics[name]) for name in expected)


@pytest.mark.parametrize("sample", sample_params(*SAMPLES))
def test_proxy_reports_agreement(runs, sample):
    result, _, _, _, _, _ = runs(sample, "proxy")
    agreement = result.extras["proxy_agreement"]
    assert SHORTCUT_WARNING in result.extras["proxy_report"]
    assert agreement["count"] == result.extras["holdout_count"]
    if len(result.class_names) == 2:
        assert 0.0 <= agreement["roc_auc"] <= 1.0
    else:
        assert "roc_auc" not in agreement
    assert 0.0 <= agreement["best_mapping_accuracy"] <= 1.0
    assert math.isnan(agreement["spearman"]) or -1.0 <= agreement["spearman"] <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("sample,task", [("gunpoint", "timeseries.reorder"), ("clips", "video.order")])
def test_proxy_task_picks_classification_task(runs, sample, task):
    # The time-series defaults start with a token-head task, which the proxy must skip for the classification one.
    result = runs(sample, "proxy")[0]
    assert f"Proxy: pretext task {task}." in result.extras["proxy_report"]


def test_proxy_column_counts_graph_epochs(runs):
    # A graph epoch is GRAPH_EPOCH_STEPS full-graph steps, not one step per batch of nodes.
    events = runs("karate", "proxy")[1]
    steps = [event for event in events if isinstance(event, Progress) and event.phase == "proxy"]
    assert len(steps) == min(GRAPH_EPOCH_STEPS * TINY["pretrain_epochs"], TINY["max_pretrain_steps"])


def test_multitask_counts_graph_epochs(datasets):
    dataset, _ = datasets("karate")
    config = RunConfig(strategy="multitask", pretrain_epochs=2, finetune_steps=1, batch_size=16)
    assert multitask.step_count(config, 27, dataset) == 2 * GRAPH_EPOCH_STEPS


def test_proxy_without_classification_task_lists_alternatives(tmp_path, capsys):
    code = main(["run", "--sample", "penguins", "--strategy", "proxy", "--max-pretrain-steps", "1",
                 "--finetune-steps", "1", "--project", str(tmp_path), "--quiet", "--no-export"])
    message = capsys.readouterr().err
    assert code == 2
    assert "classification head" in message
    assert "ignore_columns=COLUMN" in message
