"""Training steps shared by all strategies: pretext pretraining, classifier fitting, prediction.

Each loop is a generator of ``Progress`` events that checks the cancel flag
between steps and returns its summary with ``return`` (read it with
``summary = yield from loop(...)``).

Pretraining uses a warm-up and cosine learning-rate schedule, mixed precision
on CUDA and gradient clipping. After CUDA runs out of memory it splits each
batch into micro-batches, and gradient accumulation keeps the effective batch
size. Under ``torchrun`` it runs with DistributedDataParallel, and its
checkpoints let a run resume exactly where it stopped.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from sslstudio.data.base import Dataset
from sslstudio.models.model import SSLModel
from sslstudio.tasks.base import PretextTask
from sslstudio.tasks.registry import create_task
from sslstudio.training.checkpoints import load_checkpoint, save_checkpoint
from sslstudio.training.config import RunConfig
from sslstudio.training.context import Cancelled, RunContext
from sslstudio.training.events import Log, Progress
from sslstudio.training.pipeline import BatchLoader
from sslstudio.training.precision import choose_precision
from sslstudio.training.schedule import warmup_cosine

logger = logging.getLogger(__name__)

MAX_GRAD_NORM = 5.0
# How many times a step may halve its micro-batch after CUDA runs out of memory.
MAX_OOM_SPLITS = 6


def build_tasks(config: RunConfig, dataset: Dataset) -> list[PretextTask]:
    """Instantiate the selected tasks for this dataset (parameters are validated here)."""
    return [create_task(choice.name, dataset.spec, choice.params_dict) for choice in config.tasks]


def seeded_generator(device: torch.device, seed: int) -> torch.Generator:
    """Return a generator on ``device`` (CPU for MPS, which has no generator of its own) seeded with ``seed``."""
    generator_device = device if device.type == "cuda" else torch.device("cpu")
    return torch.Generator(device=generator_device).manual_seed(seed)


def pretrain_step_count(config: RunConfig, sample_count: int, epochs: int, dataset: Dataset | None = None) -> int:
    """Return how many optimizer steps ``epochs`` passes over ``sample_count`` samples take, capped by ``max_pretrain_steps``."""
    batch_size = max(1, min(config.batch_size, sample_count))
    per_epoch = dataset.steps_per_epoch(sample_count, batch_size) if dataset is not None else max(1, sample_count // batch_size)
    total = per_epoch * epochs
    if config.max_pretrain_steps:
        total = min(total, config.max_pretrain_steps)
    return total


def checkpoint_path(context: RunContext, phase: str):
    return context.run_dir / "checkpoints" / f"{phase}.pt"


def save_run_checkpoint(context: RunContext, phase: str, state: dict[str, Any]) -> None:
    """Write ``checkpoints/<phase>.pt`` in the run folder (nothing without a folder, or off rank 0)."""
    if context.run_dir is None or not context.distributed.is_main:
        return
    save_checkpoint(checkpoint_path(context, phase), {"phase": phase, "torch_rng": torch.get_rng_state(), **state})


def load_run_checkpoint(context: RunContext, phase: str) -> dict[str, Any] | None:
    """Return the checkpoint of ``phase`` when the run resumes and one exists, else None."""
    if not context.resume or context.run_dir is None:
        return None
    path = checkpoint_path(context, phase)
    return load_checkpoint(path, map_location="cpu") if path.is_file() else None


@dataclass
class _StepState:
    """Step state kept across steps: the micro-batch count, doubled after each out-of-memory error."""

    micro_batches: int = 1


def pretrain(model: SSLModel, tasks: Sequence[PretextTask], weights: Sequence[float], indices: Sequence[int],
             config: RunConfig, context: RunContext, epochs: int, phase: str = "pretrain") -> Iterator[Progress | Log]:
    """Optimize the weighted sum of the pretext losses over ``indices`` for ``epochs`` passes.

    Yields one ``Progress`` per step with ``loss``, ``lr`` and ``<task>/loss``,
    ``<task>/<metric>`` entries. Returns the mean metrics of the last epoch.
    When the run resumes, training continues from ``checkpoints/<phase>.pt``
    with the same order of samples and the same perturbations.
    ``config.loader_workers`` processes assemble the batches ahead of the step.
    """
    with BatchLoader(context.dataset, context.device, config.loader_workers) as loader:
        return (yield from _pretrain(model, tasks, weights, indices, config, context, epochs, phase, loader))


def _pretrain(model: SSLModel, tasks: Sequence[PretextTask], weights: Sequence[float], indices: Sequence[int],
              config: RunConfig, context: RunContext, epochs: int, phase: str,
              loader: BatchLoader) -> Iterator[Progress | Log]:
    device = context.device
    model.to(device).train()
    if device.type == "cuda" and context.dataset.modality in {"image", "video"}:
        model.to(memory_format=torch.channels_last)
    runner = _wrap_distributed(model, context)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    batch_size = min(config.batch_size, len(indices))
    steps_per_epoch = context.dataset.steps_per_epoch(len(indices), batch_size)
    total = pretrain_step_count(config, len(indices), epochs, context.dataset)
    scheduler = warmup_cosine(optimizer, total)
    precision = choose_precision(device, config.mixed_precision)
    scaler = precision.scaler()
    order_generator = torch.Generator().manual_seed(config.seed)
    task_generator = seeded_generator(device, config.seed + 1)
    index_tensor = torch.as_tensor(list(indices), dtype=torch.long)
    validation = None
    if config.early_stopping_patience:
        index_tensor, validation = _split_validation(index_tensor, batch_size, config.seed)
    best_loss, stale_epochs = math.inf, 0
    step_state = _StepState()
    step, start_epoch, start_batch, last_epoch = 0, 0, 0, {}
    epoch_order_state = order_generator.get_state()

    saved = load_run_checkpoint(context, phase)
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        scaler.load_state_dict(saved["scaler"])
        step, start_epoch, start_batch = saved["step"], saved["epoch"], saved["batch"]
        epoch_order_state = saved["order_rng"]
        task_generator.set_state(saved["task_rng"].to(task_generator.device) if task_generator.device.type == "cuda"
                                 else saved["task_rng"])
        torch.set_rng_state(saved["torch_rng"])
        step_state.micro_batches = saved.get("micro_batches", 1)
        last_epoch = saved.get("last_epoch", {})
        best_loss, stale_epochs = saved.get("best_loss", math.inf), saved.get("stale_epochs", 0)
        yield Log(f"Resuming {phase} at step {step} of {total}")
        if saved.get("done"):
            return last_epoch

    def state(epoch: int, batch_number: int, done: bool = False) -> dict[str, Any]:
        return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(), "step": step, "epoch": epoch, "batch": batch_number,
                "order_rng": epoch_order_state, "task_rng": task_generator.get_state().cpu(),
                "micro_batches": step_state.micro_batches, "last_epoch": last_epoch, "done": done,
                "best_loss": best_loss, "stale_epochs": stale_epochs}

    if precision.dtype is not None:
        yield Log(f"Mixed precision: {precision.name}")
    for epoch in range(start_epoch, epochs):
        if step >= total:
            break
        order_generator.set_state(epoch_order_state)
        permutation = index_tensor[torch.randperm(len(index_tensor), generator=order_generator)]
        next_order_state = order_generator.get_state()
        permutation = _shard(permutation, context)
        sums: dict[str, float] = {}
        first_batch = start_batch if epoch == start_epoch else 0
        # Wraps around the permutation when a dataset requests more steps than one pass has batches.
        local_batch = max(1, batch_size // context.distributed.world_size)
        plan = (permutation.roll(-((number * local_batch) % len(permutation)))[:local_batch].tolist()
                for number in range(first_batch, min(steps_per_epoch, first_batch + total - step)))
        step_plan, loader_plan = itertools.tee(plan)
        for batch_number, batch_indices, batch in zip(itertools.count(first_batch), step_plan,
                                                      loader.iterate(loader_plan)):
            if step >= total:
                break
            if context.cancel.is_set():
                save_run_checkpoint(context, phase, state(epoch, batch_number))
                raise Cancelled()
            metrics, notice = pretext_step_with_fallback(runner, model, tasks, weights, batch_indices, context,
                                                         task_generator, optimizer, precision, scaler, step_state,
                                                         batch)
            if notice:
                yield Log(notice, level="warning")
            scheduler.step()
            step += 1
            metrics["lr"] = optimizer.param_groups[0]["lr"]
            for name, value in metrics.items():
                sums[name] = sums.get(name, 0.0) + value
            yield Progress(phase, step, total, epoch + 1, metrics)
        done_steps = max(1, min(steps_per_epoch, step - epoch * steps_per_epoch))
        last_epoch = {name: value / done_steps for name, value in sums.items()}
        epoch_order_state = next_order_state
        stop = False
        if validation is not None:
            validation_loss = validation_pretext_loss(model, tasks, weights, validation, context, config.seed,
                                                      loader=loader)
            last_epoch["validation_loss"] = validation_loss
            yield Progress(f"{phase} validation", epoch + 1, epochs, epoch + 1, {"loss": validation_loss})
            if validation_loss < best_loss - 1e-4:
                best_loss, stale_epochs = validation_loss, 0
            else:
                stale_epochs += 1
                stop = stale_epochs >= config.early_stopping_patience
            if stop:
                yield Log(f"Early stopping after epoch {epoch + 1}: the validation pretext loss has not improved "
                          f"for {stale_epochs} epochs (best {best_loss:.4f})")
        save_run_checkpoint(context, phase, state(epoch + 1, 0, done=stop or step >= total or epoch + 1 == epochs))
        if stop:
            break
    return last_epoch


def _split_validation(indices: torch.Tensor, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Set aside 10% of the pretraining samples (at least one, at most four batches) for early stopping."""
    order = indices[torch.randperm(len(indices), generator=torch.Generator().manual_seed(seed + 3))]
    count = min(max(1, len(indices) // 10), 4 * batch_size, len(indices) - 1)
    return order[count:], order[:count]


@torch.no_grad()
def validation_pretext_loss(model: SSLModel, tasks: Sequence[PretextTask], weights: Sequence[float],
                            indices: torch.Tensor, context: RunContext, seed: int, batch_size: int = 256,
                            loader: BatchLoader | None = None) -> float:
    """Return the weighted pretext loss on ``indices`` with fixed perturbations (eval mode, no gradients).

    ``loader`` (the pretraining phase's, so no new workers start) loads the batches; None loads them inline.
    """
    model.eval()
    generator = seeded_generator(context.device, seed + 4)
    loader = loader or BatchLoader(context.dataset, context.device)
    chunks = [indices[start:start + batch_size].tolist() for start in range(0, len(indices), batch_size)]
    total, count = 0.0, 0
    for chunk, batch in zip(chunks, loader.iterate(chunks)):
        loss, _ = pretext_losses(model, tasks, weights, batch, generator)
        total += float(loss) * len(chunk)
        count += len(chunk)
    model.train()
    return total / max(1, count)


def _wrap_distributed(model: nn.Module, context: RunContext) -> nn.Module:
    if not context.distributed.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def _shard(permutation: torch.Tensor, context: RunContext) -> torch.Tensor:
    from sslstudio.training.distributed import shard

    return shard(permutation, context.distributed)


def pretext_losses(model: nn.Module, tasks: Sequence[PretextTask], weights: Sequence[float], batch,
                   generator: torch.Generator, precision=None) -> tuple[torch.Tensor, dict[str, float]]:
    """Return the weighted sum of the pretext losses of ``batch`` (a scalar with grad) and per-task metrics.

    ``model`` is an ``SSLModel`` or a ``DistributedDataParallel`` around one;
    all tasks go through a single forward call, so DDP records one forward pass per step.
    """
    generated = [task.generate(batch, generator) for task in tasks]
    with precision.autocast() if precision is not None else _no_autocast():
        outputs = model([inputs for inputs, _ in generated], tasks=[task.name for task in tasks])
    total_loss = torch.zeros((), device=outputs[0].device)
    metrics: dict[str, float] = {}
    for task, weight, output, (_, targets) in zip(tasks, weights, outputs, generated):
        output = output.float()
        loss = task.loss(output, targets)
        total_loss = total_loss + weight * loss
        metrics[f"{task.name}/loss"] = float(loss.detach())
        with torch.no_grad():
            for name, value in task.metrics(output.detach(), targets).items():
                if name != "loss":
                    metrics[f"{task.name}/{name}"] = float(value)
    return total_loss, metrics


def _no_autocast():
    import contextlib

    return contextlib.nullcontext()


def optimizer_step(model: nn.Module, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    """Back-propagate ``loss``, clip the gradient norm and step; return the loss value.

    Raises:
        FloatingPointError: if the loss is NaN or infinite.
    """
    value = _finite(loss)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=MAX_GRAD_NORM)
    optimizer.step()
    return value


def _finite(loss: torch.Tensor) -> float:
    value = float(loss.detach())
    if not math.isfinite(value):
        raise FloatingPointError(f"the training loss became {value}; lower the learning rate and try again")
    return value


def pretext_step(model: SSLModel, tasks: Sequence[PretextTask], weights: Sequence[float], batch,
                 generator: torch.Generator, optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """Run one full-precision optimizer step on the weighted pretext losses of ``batch``; return its metrics."""
    optimizer.zero_grad(set_to_none=True)
    total_loss, metrics = pretext_losses(model, tasks, weights, batch, generator)
    metrics["loss"] = optimizer_step(model, total_loss, optimizer)
    return metrics


def pretext_step_with_fallback(runner: nn.Module, model: nn.Module, tasks: Sequence[PretextTask],
                               weights: Sequence[float], batch_indices: list[int], context: RunContext,
                               generator: torch.Generator, optimizer: torch.optim.Optimizer, precision, scaler,
                               state: _StepState, batch=None) -> tuple[dict[str, float], str]:
    """Run one optimizer step; after CUDA runs out of memory, retry with twice as many micro-batches.

    The losses of the micro-batches are weighted by their share of the batch
    and their gradients accumulate, so the step still optimizes the whole
    batch. ``batch`` is ``batch_indices`` already loaded on the device. It
    serves a step of one micro-batch, and smaller micro-batches are loaded inline.
    Returns the metrics and a notice for the user ("" when nothing happened).

    Raises:
        torch.OutOfMemoryError: if even ``2**MAX_OOM_SPLITS`` micro-batches do not fit.
    """
    notice = ""
    generator_state = generator.get_state()
    while True:
        try:
            metrics = _accumulated_step(runner, model, tasks, weights, batch_indices, context, generator, optimizer,
                                        precision, scaler, state.micro_batches, batch)
            return metrics, notice
        except torch.OutOfMemoryError:
            optimizer.zero_grad(set_to_none=True)
            if context.device.type == "cuda":
                torch.cuda.empty_cache()
            if state.micro_batches >= min(len(batch_indices), 2 ** MAX_OOM_SPLITS):
                raise
            state.micro_batches *= 2
            generator.set_state(generator_state)
            size = math.ceil(len(batch_indices) / state.micro_batches)
            notice = (f"Out of memory at batch size {len(batch_indices)}: continuing with {state.micro_batches} "
                      f"micro-batches of about {size} samples and gradient accumulation (same effective batch size)")
            logger.warning("%s", notice)


def _accumulated_step(runner, model, tasks, weights, batch_indices, context, generator, optimizer, precision, scaler,
                      micro_batches: int, loaded=None) -> dict[str, float]:
    optimizer.zero_grad(set_to_none=True)
    chunks = [chunk for chunk in np.array_split(np.asarray(batch_indices), micro_batches) if len(chunk)]
    totals: dict[str, float] = {}
    for chunk in chunks:
        share = len(chunk) / len(batch_indices)
        if loaded is not None and len(chunks) == 1:
            batch = loaded
        else:
            batch = context.dataset.batch(chunk.tolist(), context.device)
        loss, metrics = pretext_losses(runner, tasks, weights, batch, generator, precision)
        _finite(loss)
        scaler.scale(loss * share).backward()
        for name, value in metrics.items():
            totals[name] = totals.get(name, 0.0) + value * share
        totals["loss"] = totals.get("loss", 0.0) + float(loss.detach()) * share
    scaler.unscale_(optimizer)
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=MAX_GRAD_NORM)
    scaler.step(optimizer)
    scaler.update()
    return totals


def fit_classifier(model: SSLModel, indices: Sequence[int], targets: Sequence[int], config: RunConfig,
                   context: RunContext, phase: str, encoder_lr_scale: float = 1.0,
                   freeze_encoder: bool = False) -> Iterator[Progress | Log]:
    """Train ``model.encoder`` and ``model.classifier`` with cross-entropy on the labeled ``indices``.

    ``encoder_lr_scale`` multiplies the encoder's learning rate (fine-tuning
    uses a smaller one than the fresh head). The learning rate warms up, then
    decays on a cosine. Returns the final training loss.
    ``config.loader_workers`` processes assemble the batches ahead of the step.
    """
    with BatchLoader(context.dataset, context.device, config.loader_workers) as loader:
        return (yield from _fit_classifier(model, indices, targets, config, context, phase, encoder_lr_scale,
                                           freeze_encoder, loader))


def _fit_classifier(model: SSLModel, indices: Sequence[int], targets: Sequence[int], config: RunConfig,
                    context: RunContext, phase: str, encoder_lr_scale: float, freeze_encoder: bool,
                    loader: BatchLoader) -> Iterator[Progress | Log]:
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
    scheduler = warmup_cosine(optimizer, config.finetune_steps)
    index_tensor = torch.as_tensor(list(indices), dtype=torch.long)
    target_tensor = torch.as_tensor(list(targets), dtype=torch.long)
    batch_size = min(config.batch_size, len(index_tensor))
    generator = torch.Generator().manual_seed(config.seed + 2)
    loss_value = float("nan")
    first_step = 1
    saved = load_run_checkpoint(context, phase)
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        generator.set_state(saved["order_rng"])
        torch.set_rng_state(saved["torch_rng"])
        first_step = saved["step"] + 1
        loss_value = saved.get("loss", loss_value)
        yield Log(f"Resuming {phase} at step {saved['step']} of {config.finetune_steps}")

    def state(step: int) -> dict[str, Any]:
        return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "order_rng": generator.get_state(), "step": step, "loss": loss_value,
                "done": step >= config.finetune_steps}

    # The loader reads ahead of the step, so its plan draws from a copy of the generator. The checkpoint
    # then keeps the generator state of the last step run.
    plan_generator = torch.Generator().set_state(generator.get_state())
    steps = range(first_step, config.finetune_steps + 1)
    plan = (index_tensor[torch.randperm(len(index_tensor), generator=plan_generator)[:batch_size]].tolist()
            for _ in steps)
    for step, batch in zip(steps, loader.iterate(plan)):
        if context.cancel.is_set():
            save_run_checkpoint(context, phase, state(step - 1))
            raise Cancelled()
        pick = torch.randperm(len(index_tensor), generator=generator)[:batch_size]
        labels = target_tensor[pick].to(device)
        optimizer.zero_grad(set_to_none=True)
        logits = model(batch)
        loss = nn.functional.cross_entropy(logits, labels)
        loss_value = optimizer_step(model, loss, optimizer)
        scheduler.step()
        accuracy = float((logits.argmax(1) == labels).float().mean())
        yield Progress(phase, step, config.finetune_steps, 0, {"loss": loss_value, "train_accuracy": accuracy})
    if freeze_encoder:
        model.encoder.requires_grad_(True)
    save_run_checkpoint(context, phase, state(config.finetune_steps))
    return loss_value


@torch.no_grad()
def predict_proba(model: nn.Module, dataset: Dataset, indices: Sequence[int], device: torch.device,
                  batch_size: int = 256, workers: int = 0) -> np.ndarray:
    """Return class probabilities (len(indices), K) of ``model`` in eval mode.

    ``workers`` processes load the batches (0: inline); starting them costs seconds.
    """
    model.to(device).eval()
    chunks = []
    indices = list(indices)
    plan = [indices[start:start + batch_size] for start in range(0, len(indices), batch_size)]
    with BatchLoader(dataset, device, workers) as loader:
        for batch in loader.iterate(plan):
            chunks.append(torch.softmax(model(batch).float(), dim=1).cpu().numpy())
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(chunks)


@torch.no_grad()
def embed(encoder: nn.Module, dataset: Dataset, indices: Sequence[int], device: torch.device,
          batch_size: int = 256, workers: int = 0) -> np.ndarray:
    """Return encoder features (len(indices), D) in eval mode.

    ``workers`` processes load the batches (0: inline); starting them costs seconds.
    """
    encoder.to(device).eval()
    indices = list(indices)
    plan = [indices[start:start + batch_size] for start in range(0, len(indices), batch_size)]
    with BatchLoader(dataset, device, workers) as loader:
        chunks = [encoder(batch).float().cpu().numpy() for batch in loader.iterate(plan)]
    return np.concatenate(chunks) if chunks else np.zeros((0, getattr(encoder, "feature_dim", 0)), np.float32)
