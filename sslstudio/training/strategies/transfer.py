"""Transfer: pretrain the encoder on pretext tasks, then fine-tune encoder and classifier on the labels."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from sslstudio.models.base import build_encoder
from sslstudio.models.model import SSLModel
from sslstudio.training.config import RunConfig
from sslstudio.training.context import RunContext
from sslstudio.training.events import Finished, Log, RunResult
from sslstudio.training.loop import build_tasks, fit_classifier, pretrain
from sslstudio.training.strategies.common import evaluate, label_counts, plan_labels, train_scratch_baseline

# The pretrained encoder moves at a tenth of the fresh classifier's learning rate while fine-tuning.
ENCODER_LR_SCALE = 0.1


def run(config: RunConfig, context: RunContext) -> Iterator:
    """Yield progress while pretraining, fine-tuning and (optionally) training the scratch baseline."""
    plan = plan_labels(config, context)
    yield Log(f"{len(plan.pool)} samples for pretraining, {len(plan.labeled)} labeled for fine-tuning "
              f"({', '.join(f'{name}: {count}' for name, count in label_counts(plan).items())}), "
              f"{len(plan.holdout)} held out")
    tasks = build_tasks(config, context.dataset)
    torch.manual_seed(config.seed)
    model = SSLModel(build_encoder(context.dataset.spec, config.encoder_size), tasks)
    yield Log(f"Pretraining on {', '.join(task.name for task in tasks)}")
    pretext = yield from pretrain(model, tasks, [choice.weight for choice in config.tasks], plan.pool, config,
                                  context, config.pretrain_epochs)
    model.add_classifier(len(plan.class_names))
    yield Log("Fine-tuning on the labeled samples")
    yield from fit_classifier(model, plan.labeled, plan.targets, config, context, phase="finetune",
                              encoder_lr_scale=ENCODER_LR_SCALE)
    pretrained_metrics = evaluate(model, plan, context, config)
    yield Log(f"Pretrained model: held-out accuracy {pretrained_metrics['accuracy']:.3f}")
    result = RunResult(status="finished", pretrained=pretrained_metrics, pretext=pretext,
                       class_names=list(plan.class_names), model=model,
                       extras={"label_counts": label_counts(plan), "holdout_count": len(plan.holdout),
                               "pool_count": len(plan.pool)})
    if config.baseline:
        baseline_model, scratch_metrics = yield from train_scratch_baseline(config, context, plan)
        result.scratch = scratch_metrics
        result.baseline_model = baseline_model
    yield Finished(result)
