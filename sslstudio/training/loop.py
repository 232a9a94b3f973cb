"""Training steps shared by all strategies: pretext pretraining, classifier fitting, prediction.

Each loop is a generator of ``Progress`` events that checks the cancel flag
between steps and returns its summary with ``return`` (read it with
``summary = yield from loop(...)``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from sslstudio.data.base import Dataset
from sslstudio.models.model import SSLModel
from sslstudio.tasks.base import PretextTask
from sslstudio.tasks.registry import create_task
from sslstudio.training.config import RunConfig
from sslstudio.training.context import RunContext
from sslstudio.training.events import Progress

logger = logging.getLogger(__name__)


def build_tasks(config: RunConfig, dataset: Dataset) -> list[PretextTask]:
    """Instantiate the selected tasks for this dataset (parameters are validated here)."""
    return [create_task(choice.name, dataset.spec, choice.params_dict) for choice in config.tasks]


def seeded_generator(device: torch.device, seed: int) -> torch.Generator:
    """Return a generator on ``device`` (CPU for MPS, which has no generator of its own) seeded with ``seed``."""
    generator_device = device if device.type == "cuda" else torch.device("cpu")
    return torch.Generator(device=generator_device).manual_seed(seed)


def pretrain_step_count(config: RunConfig, sample_count: int, epochs: int) -> int:
    """Return how many optimizer steps ``epochs`` passes over ``sample_count`` samples take, capped by ``max_pretrain_steps``."""
    batch_size = max(1, min(config.batch_size, sample_count))
    total = max(1, sample_count // batch_size) * epochs
    if config.max_pretrain_steps:
        total = min(total, config.max_pretrain_steps)
    return total


def pretrain(model: SSLModel, tasks: Sequence[PretextTask], weights: Sequence[float], indices: Sequence[int],
             config: RunConfig, context: RunContext, epochs: int, phase: str = "pretrain") -> Iterator[Progress]:
    """Optimize the weighted sum of the pretext losses over ``indices`` for ``epochs`` passes.

    Yields one ``Progress`` per step with ``loss`` and ``<task>/loss``,
    ``<task>/<metric>`` entries. Returns the mean metrics of the last epoch.
    """
    device = context.device
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    batch_size = min(config.batch_size, len(indices))
    steps_per_epoch = max(1, len(indices) // batch_size)
    total = pretrain_step_count(config, len(indices), epochs)
    order_generator = torch.Generator().manual_seed(config.seed)
    task_generator = seeded_generator(device, config.seed + 1)
    index_tensor = torch.as_tensor(list(indices), dtype=torch.long)
    step, last_epoch = 0, {}
    for epoch in range(epochs):
        sums: dict[str, float] = {}
        permutation = index_tensor[torch.randperm(len(index_tensor), generator=order_generator)]
        for batch_number in range(steps_per_epoch):
            if step >= total:
                break
            context.check_cancel()
            batch_indices = permutation[batch_number * batch_size:(batch_number + 1) * batch_size].tolist()
            batch = context.dataset.batch(batch_indices, device)
            metrics = pretext_step(model, tasks, weights, batch, task_generator, optimizer)
            step += 1
            for name, value in metrics.items():
                sums[name] = sums.get(name, 0.0) + value
            yield Progress(phase, step, total, epoch + 1, metrics)
        done = max(1, min(steps_per_epoch, step - epoch * steps_per_epoch))
        last_epoch = {name: value / done for name, value in sums.items()}
        if step >= total:
            break
    return last_epoch


def pretext_losses(model: SSLModel, tasks: Sequence[PretextTask], weights: Sequence[float], batch,
                   generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
    """Return the weighted sum of the pretext losses of ``batch`` (a scalar with grad) and per-task metrics."""
    total_loss = torch.zeros((), device=next(model.parameters()).device)
    metrics: dict[str, float] = {}
    for task, weight in zip(tasks, weights):
        inputs, targets = task.generate(batch, generator)
        outputs = model.forward_task(task.name, inputs)
        loss = task.loss(outputs, targets)
        total_loss = total_loss + weight * loss
        metrics[f"{task.name}/loss"] = float(loss.detach())
        with torch.no_grad():
            for name, value in task.metrics(outputs.detach(), targets).items():
                if name != "loss":
                    metrics[f"{task.name}/{name}"] = float(value)
    return total_loss, metrics


def optimizer_step(model: nn.Module, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    """Back-propagate ``loss``, clip the gradient norm to 5 and step; return the loss value.

    Raises:
        FloatingPointError: if the loss is NaN or infinite.
    """
    value = float(loss.detach())
    if not math.isfinite(value):
        raise FloatingPointError(f"the training loss became {value}; lower the learning rate and try again")
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0)
    optimizer.step()
    return value


def pretext_step(model: SSLModel, tasks: Sequence[PretextTask], weights: Sequence[float], batch,
                 generator: torch.Generator, optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """Run one optimizer step on the weighted pretext losses of ``batch``; return the step's metrics."""
    optimizer.zero_grad(set_to_none=True)
    total_loss, metrics = pretext_losses(model, tasks, weights, batch, generator)
    metrics["loss"] = optimizer_step(model, total_loss, optimizer)
    return metrics


def fit_classifier(model: SSLModel, indices: Sequence[int], targets: Sequence[int], config: RunConfig,
                   context: RunContext, phase: str, encoder_lr_scale: float = 1.0,
                   freeze_encoder: bool = False) -> Iterator[Progress]:
    """Train ``model.encoder`` and ``model.classifier`` with cross-entropy on the labeled ``indices``.

    ``encoder_lr_scale`` multiplies the encoder's learning rate (fine-tuning
    uses a smaller one than the fresh head). Returns the final training loss.
    """
    device = context.device
    model.to(device).train()
    if model.classifier is None:
        raise RuntimeError("call model.add_classifier before fit_classifier")
    groups = [{"params": model.classifier.parameters(), "lr": config.learning_rate}]
    if freeze_encoder:
        model.encoder.requires_grad_(False)
        model.encoder.eval()
    else:
        groups.append({"params": model.encoder.parameters(), "lr": config.learning_rate * encoder_lr_scale})
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    index_tensor = torch.as_tensor(list(indices), dtype=torch.long)
    target_tensor = torch.as_tensor(list(targets), dtype=torch.long)
    batch_size = min(config.batch_size, len(index_tensor))
    generator = torch.Generator().manual_seed(config.seed + 2)
    loss_value = float("nan")
    for step in range(1, config.finetune_steps + 1):
        context.check_cancel()
        pick = torch.randperm(len(index_tensor), generator=generator)[:batch_size]
        batch = context.dataset.batch(index_tensor[pick].tolist(), device)
        labels = target_tensor[pick].to(device)
        optimizer.zero_grad(set_to_none=True)
        logits = model(batch)
        loss = nn.functional.cross_entropy(logits, labels)
        loss.backward()
        optimizer.step()
        loss_value = float(loss.detach())
        accuracy = float((logits.argmax(1) == labels).float().mean())
        yield Progress(phase, step, config.finetune_steps, 0, {"loss": loss_value, "train_accuracy": accuracy})
    if freeze_encoder:
        model.encoder.requires_grad_(True)
    return loss_value


@torch.no_grad()
def predict_proba(model: nn.Module, dataset: Dataset, indices: Sequence[int], device: torch.device,
                  batch_size: int = 256) -> np.ndarray:
    """Return class probabilities (len(indices), K) of ``model`` in eval mode."""
    model.to(device).eval()
    chunks = []
    indices = list(indices)
    for start in range(0, len(indices), batch_size):
        batch = dataset.batch(indices[start:start + batch_size], device)
        chunks.append(torch.softmax(model(batch).float(), dim=1).cpu().numpy())
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(chunks)


@torch.no_grad()
def embed(encoder: nn.Module, dataset: Dataset, indices: Sequence[int], device: torch.device,
          batch_size: int = 256) -> np.ndarray:
    """Return encoder features (len(indices), D) in eval mode."""
    encoder.to(device).eval()
    indices = list(indices)
    chunks = [encoder(dataset.batch(indices[start:start + batch_size], device)).float().cpu().numpy()
              for start in range(0, len(indices), batch_size)]
    return np.concatenate(chunks) if chunks else np.zeros((0, getattr(encoder, "feature_dim", 0)), np.float32)
