"""Pretraining steps per second with batches loaded by N worker processes against loading them inline.

Runs ``sslstudio.training.loop.pretrain`` on a bundled sample twice with the
same seed: ``loader_workers=0`` (batches built on the training thread) and
``loader_workers=N`` (spawned workers build them ahead of the step). It prints
the device, each run's steady-state steps per second (first step excluded, so
the workers' start-up is left out), the start-up time, and the ratio
workers / inline (above 1.0 means the workers help).

Usage: python benchmarks/input_pipeline.py [--sample digits] [--workers 2] [--steps 60] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import logging
import time

import torch

from sslstudio.data.samples import get_sample
from sslstudio.models.base import build_encoder
from sslstudio.models.model import SSLModel
from sslstudio.training.config import RunConfig
from sslstudio.training.context import RunContext
from sslstudio.training.devices import describe_device, select_device
from sslstudio.training.events import Progress
from sslstudio.training.loop import build_tasks, pretrain


def measure(dataset, device, workers: int, steps: int, batch_size: int, seed: int) -> tuple[float, float]:
    """Return (steady-state steps per second, seconds until the first step ends) of one pretraining run."""
    torch.manual_seed(seed)
    config = RunConfig(batch_size=batch_size, seed=seed, max_pretrain_steps=steps, loader_workers=workers,
                       mixed_precision=False)
    tasks = build_tasks(config, dataset)
    model = SSLModel(build_encoder(dataset.spec, "small"), tasks)
    context = RunContext(dataset, [None] * len(dataset), device=device)
    epochs = steps // max(1, len(dataset) // batch_size) + 1
    start = time.perf_counter()
    step_ends = []
    for event in pretrain(model, tasks, [1.0], list(range(len(dataset))), config, context, epochs):
        if isinstance(event, Progress):
            if device.type == "cuda":
                torch.cuda.synchronize()
            step_ends.append(time.perf_counter())
    return (len(step_ends) - 1) / (step_ends[-1] - step_ends[0]), step_ends[0] - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="digits", help="bundled sample name (default digits)")
    parser.add_argument("--workers", type=int, default=2, help="loader worker processes to compare (default 2)")
    parser.add_argument("--steps", type=int, default=60, help="pretraining steps per run (default 60)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda or mps (default cpu)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    device = select_device(args.device)
    dataset = get_sample(args.sample).open()
    measure(dataset, device, 0, max(2, args.steps // 10), args.batch_size, args.seed)
    inline_rate, inline_start = measure(dataset, device, 0, args.steps, args.batch_size, args.seed)
    worker_rate, worker_start = measure(dataset, device, args.workers, args.steps, args.batch_size, args.seed)
    print(f"device: {describe_device(device)}; sample {args.sample}; {args.steps} steps of {args.batch_size}")
    print(f"inline (0 workers): {inline_rate:8.2f} steps/s, first step after {inline_start:.2f} s")
    print(f"{args.workers} spawned workers: {worker_rate:8.2f} steps/s, first step after {worker_start:.2f} s")
    print(f"ratio workers / inline: {worker_rate / inline_rate:.3f}")


if __name__ == "__main__":
    main()
