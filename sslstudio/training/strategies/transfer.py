"""Transfer: pretrain the encoder on pretext tasks, then fine-tune encoder and classifier on the labels."""

from __future__ import annotations

from collections.abc import Iterator

from sslstudio.training.config import RunConfig
from sslstudio.training.context import RunContext
from sslstudio.training.events import Finished, Log
from sslstudio.training.loop import fit_classifier
from sslstudio.training.strategies.common import (add_baseline, describe_plan, evaluate, plan_labels,
                                                  pretrained_model, run_result)

# The pretrained encoder moves at a tenth of the fresh classifier's learning rate while fine-tuning.
ENCODER_LR_SCALE = 0.1


def run(config: RunConfig, context: RunContext) -> Iterator:
    """Yield progress while pretraining, fine-tuning and (optionally) training the scratch baseline."""
    plan = plan_labels(config, context)
    yield Log(describe_plan(plan))
    model, _, pretext = yield from pretrained_model(config, context, plan.pool)
    model.add_classifier(len(plan.class_names))
    yield Log("Fine-tuning on the labeled samples")
    yield from fit_classifier(model, plan.labeled, plan.targets, config, context, phase="finetune",
                              encoder_lr_scale=ENCODER_LR_SCALE)
    pretrained_metrics = evaluate(model, plan, context, config)
    yield Log(f"Pretrained model: held-out accuracy {pretrained_metrics['accuracy']:.3f}")
    result = run_result(config, plan, model, pretrained_metrics, pretext)
    yield from add_baseline(result, config, context, plan)
    yield Finished(result)
