"""Multitask: one encoder optimized on the supervised loss and the pretext losses at once.

Every step draws a batch from the pretraining pool for the pretext tasks and
a batch of labeled samples for the classifier, and minimizes
``supervised_weight * CE + sum(task weight * task loss)``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from sslstudio.data.base import Dataset
from sslstudio.models.base import build_encoder
from sslstudio.models.model import SSLModel
from sslstudio.training.config import RunConfig
from sslstudio.training.context import RunContext
from sslstudio.training.events import Finished, Log, Progress
from sslstudio.training.loop import build_tasks, optimizer_step, pretext_losses, pretrain_step_count, seeded_generator
from sslstudio.training.strategies.common import add_baseline, describe_plan, evaluate, plan_labels, run_result

PHASE = "multitask"


def step_count(config: RunConfig, pool_size: int, dataset: Dataset) -> int:
    """Return the number of joint steps: the pretraining schedule's steps (epochs of ``dataset.steps_per_epoch``),
    and at least ``finetune_steps``."""
    return max(pretrain_step_count(config, pool_size, config.pretrain_epochs, dataset), config.finetune_steps)


def run(config: RunConfig, context: RunContext) -> Iterator:
    """Yield one ``Progress`` per joint step, then evaluate and (optionally) train the scratch baseline.

    Each step's metrics hold ``loss`` (the weighted total), ``supervised/loss``,
    ``supervised/train_accuracy`` and ``<task>/loss`` and ``<task>/<metric>``
    per pretext task, so a plot can draw one curve per loss.
    """
    plan = plan_labels(config, context)
    yield Log(describe_plan(plan))
    tasks = build_tasks(config, context.dataset)
    torch.manual_seed(config.seed)
    model = SSLModel(build_encoder(context.dataset.spec, config.encoder_size), tasks)
    model.add_classifier(len(plan.class_names))
    device = context.device
    model.to(device).train()
    weights = [choice.weight for choice in config.tasks]
    yield Log(f"Training on the labels (weight {config.supervised_weight:g}) and on "
              + ", ".join(f"{choice.name} (weight {choice.weight:g})" for choice in config.tasks))

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    pool = torch.as_tensor(plan.pool, dtype=torch.long)
    labeled = torch.as_tensor(plan.labeled, dtype=torch.long)
    targets = torch.as_tensor(plan.targets, dtype=torch.long)
    pool_batch = min(config.batch_size, len(pool))
    labeled_batch = min(config.batch_size, len(labeled))
    order_generator = torch.Generator().manual_seed(config.seed)
    task_generator = seeded_generator(device, config.seed + 1)
    total = step_count(config, len(pool), context.dataset)
    sums: dict[str, float] = {}
    for step in range(1, total + 1):
        context.check_cancel()
        pool_pick = pool[torch.randperm(len(pool), generator=order_generator)[:pool_batch]]
        labeled_pick = torch.randperm(len(labeled), generator=order_generator)[:labeled_batch]
        optimizer.zero_grad(set_to_none=True)
        pretext_loss, metrics = pretext_losses(model, tasks, weights, context.dataset.batch(pool_pick.tolist(), device),
                                               task_generator)
        logits = model(context.dataset.batch(labeled[labeled_pick].tolist(), device))
        labels = targets[labeled_pick].to(device)
        supervised_loss = nn.functional.cross_entropy(logits, labels)
        metrics["supervised/loss"] = float(supervised_loss.detach())
        metrics["supervised/train_accuracy"] = float((logits.argmax(1) == labels).float().mean())
        metrics["loss"] = optimizer_step(model, config.supervised_weight * supervised_loss + pretext_loss, optimizer)
        for name, value in metrics.items():
            sums[name] = sums.get(name, 0.0) + value
        yield Progress(PHASE, step, total, 0, metrics)

    # The pretext summary is the mean over all joint steps of each task's metrics.
    pretext = {name: value / total for name, value in sums.items() if "/" in name and not name.startswith("supervised/")}
    pretrained_metrics = evaluate(model, plan, context, config)
    yield Log(f"Multitask model: held-out accuracy {pretrained_metrics['accuracy']:.3f}")
    result = run_result(config, plan, model, pretrained_metrics, pretext)
    yield from add_baseline(result, config, context, plan)
    yield Finished(result)
