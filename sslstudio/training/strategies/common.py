"""Pieces every strategy shares: the label plan, the scratch baseline and held-out evaluation."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sslstudio.data.base import DataError
from sslstudio.evaluation.metrics import classification_metrics, misclassified_samples
from sslstudio.evaluation.splits import choose_labeled, holdout_mask
from sslstudio.models.base import build_encoder
from sslstudio.models.model import SSLModel
from sslstudio.training.config import RunConfig
from sslstudio.training.context import PretrainingDone, RunContext
from sslstudio.training.events import Log, Progress, RunResult
from sslstudio.training.loop import build_tasks, embed, fit_classifier, predict_proba, pretrain

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelPlan:
    """The split of a run: the samples it may train on and the samples it is judged on.

    ``pool``: every sample outside the held-out split (pretraining uses these).
    ``labeled``/``targets``: the labeled training samples and their class indices.
    ``holdout``/``holdout_targets``: labeled held-out samples for evaluation.
    """

    class_names: tuple[str, ...]
    pool: tuple[int, ...]
    labeled: tuple[int, ...]
    targets: tuple[int, ...]
    holdout: tuple[int, ...]
    holdout_targets: tuple[int, ...]


def plan_labels(config: RunConfig, context: RunContext) -> LabelPlan:
    """Split the dataset and choose the labeled training samples.

    Raises:
        DataError: if fewer than two classes have labels outside the held-out
            split, or no labeled sample is held out for evaluation.
    """
    labels = context.labels
    mask = holdout_mask(context.dataset.ids, config.holdout_fraction)
    pool = [index for index in range(len(labels)) if not mask[index]]
    labeled = choose_labeled(labels, pool, config.labels_per_class, config.seed)
    class_names = tuple(sorted({labels[index] for index in labeled}))
    if len(class_names) < 2:
        raise DataError(f"found labels for {len(class_names)} class(es) outside the held-out split; "
                        "label samples of at least two classes (or choose another label column)")
    class_index = {name: position for position, name in enumerate(class_names)}
    holdout = [index for index in range(len(labels)) if mask[index] and labels[index] in class_index]
    if not holdout:
        raise DataError("no labeled sample falls in the held-out split, so nothing can be evaluated; label more samples")
    return LabelPlan(
        class_names=class_names,
        pool=tuple(pool),
        labeled=tuple(labeled),
        targets=tuple(class_index[labels[index]] for index in labeled),
        holdout=tuple(holdout),
        holdout_targets=tuple(class_index[labels[index]] for index in holdout),
    )


def evaluate(model: SSLModel, plan: LabelPlan, context: RunContext, config: RunConfig) -> dict:
    """Return held-out metrics of ``model`` (see ``classification_metrics``) and its ``misclassified`` samples."""
    probabilities = predict_proba(model, context.dataset, plan.holdout, context.device, batch_size=config.batch_size * 4)
    metrics = classification_metrics(plan.holdout_targets, probabilities, plan.class_names)
    holdout_ids = [context.dataset.ids[index] for index in plan.holdout]
    metrics["misclassified"] = misclassified_samples(holdout_ids, plan.holdout_targets, probabilities, plan.class_names)
    return metrics


def embed_samples(encoder: nn.Module, indices: Sequence[int], context: RunContext, batch_size: int,
                  phase: str = "embed") -> Iterator[Progress]:
    """Embed ``indices`` chunk by chunk with a cancel check and a ``Progress`` per chunk; return N×D features."""
    indices = list(indices)
    chunks = []
    total = max(1, -(-len(indices) // batch_size))
    for step, start in enumerate(range(0, len(indices), batch_size), start=1):
        context.check_cancel()
        chunks.append(embed(encoder, context.dataset, indices[start:start + batch_size], context.device, batch_size))
        yield Progress(phase, step, total, 0, {})
    return np.concatenate(chunks) if chunks else np.zeros((0, getattr(encoder, "feature_dim", 0)), np.float32)


def train_scratch_baseline(config: RunConfig, context: RunContext, plan: LabelPlan) -> Iterator[Progress | Log]:
    """Train the same encoder and classifier from random weights on the same labels; return (model, metrics)."""
    torch.manual_seed(config.seed)
    model = SSLModel(build_encoder(context.dataset.spec, config.encoder_size))
    model.add_classifier(len(plan.class_names))
    yield Log(f"Training the scratch baseline on {len(plan.labeled)} labeled samples")
    yield from fit_classifier(model, plan.labeled, plan.targets, config, context, phase="scratch")
    metrics = evaluate(model, plan, context, config)
    yield Log(f"Scratch baseline: held-out accuracy {metrics['accuracy']:.3f}")
    return model, metrics


def label_counts(plan: LabelPlan) -> dict[str, int]:
    """Return the number of labeled training samples per class name."""
    counts = np.bincount(np.asarray(plan.targets, dtype=int), minlength=len(plan.class_names))
    return {name: int(count) for name, count in zip(plan.class_names, counts)}


def describe_plan(plan: LabelPlan) -> str:
    """Return one log line with the pool, labeled and held-out sample counts."""
    per_class = ", ".join(f"{name}: {count}" for name, count in label_counts(plan).items())
    return (f"{len(plan.pool)} samples for pretraining, {len(plan.labeled)} labeled for training ({per_class}), "
            f"{len(plan.holdout)} held out")


def pretrained_model(config: RunConfig, context: RunContext, pool: Sequence[int]) -> Iterator[Progress | Log]:
    """Build the encoder with one head per selected task and pretrain it on ``pool``; return (model, tasks, metrics)."""
    tasks = build_tasks(config, context.dataset)
    torch.manual_seed(config.seed)
    model = SSLModel(build_encoder(context.dataset.spec, config.encoder_size), tasks)
    yield Log(f"Pretraining on {', '.join(task.name for task in tasks)}")
    pretext = yield from pretrain(model, tasks, [choice.weight for choice in config.tasks], pool, config,
                                  context, config.pretrain_epochs)
    if not context.distributed.is_main:
        raise PretrainingDone()
    return model, tasks, pretext


def run_result(config: RunConfig, plan: LabelPlan, model: SSLModel, pretrained: dict, pretext: dict,
               **extras) -> RunResult:
    """Return the finished ``RunResult`` of a strategy with the plan's counts and ``extras`` in ``extras``.

    ``extras["labeled_indices"]`` and ``extras["holdout_indices"]`` are dataset
    indices of the labeled training and held-out samples (for plots of them).
    """
    return RunResult(status="finished", pretrained=pretrained, pretext=pretext, class_names=list(plan.class_names),
                     model=model, extras={"label_counts": label_counts(plan), "holdout_count": len(plan.holdout),
                                          "pool_count": len(plan.pool), "labeled_indices": list(plan.labeled),
                                          "holdout_indices": list(plan.holdout), **extras})


def add_baseline(result: RunResult, config: RunConfig, context: RunContext, plan: LabelPlan) -> Iterator[Progress | Log]:
    """Train the scratch baseline into ``result`` when ``config.baseline`` is set."""
    if config.baseline:
        baseline_model, scratch_metrics = yield from train_scratch_baseline(config, context, plan)
        result.scratch = scratch_metrics
        result.baseline_model = baseline_model
