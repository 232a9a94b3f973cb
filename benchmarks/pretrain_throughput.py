"""Pretraining throughput of the app's loop against a minimal hand-written PyTorch loop.

Both train the same encoder and rotation head on the same digits batches for
the same number of steps on the current device; the script prints samples per
second of each and their ratio (app / hand-written; the goal is 1.0 or more).

Usage: python benchmarks/pretrain_throughput.py [--steps 60] [--batch-size 128] [--device auto]
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
from sslstudio.training.loop import build_tasks, pretrain

logger = logging.getLogger("benchmarks.pretrain_throughput")


def hand_written(dataset, device, steps: int, batch_size: int, seed: int) -> float:
    """Return samples per second of a plain loop: index, rotate, forward, cross-entropy, backward, AdamW."""
    torch.manual_seed(seed)
    config = RunConfig(batch_size=batch_size, seed=seed)
    task = build_tasks(config, dataset)[0]
    model = SSLModel(build_encoder(dataset.spec, "small"), [task]).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    pixels = dataset.pixels.to(device)
    generator = torch.Generator().manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        index = torch.randint(len(dataset), (batch_size,), generator=generator).to(device)
        images = pixels[index].float().div_(255)
        turns = torch.randint(4, (batch_size,), device=device)
        rotated = torch.stack([torch.rot90(images, k, dims=(2, 3)) for k in range(4)])[turns, torch.arange(batch_size, device=device)]
        loss = torch.nn.functional.cross_entropy(model.forward_task(task.name, rotated), turns)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - start)


def app_loop(dataset, device, steps: int, batch_size: int, seed: int) -> float:
    """Return samples per second of ``sslstudio.training.loop.pretrain`` for ``steps`` steps."""
    torch.manual_seed(seed)
    config = RunConfig(batch_size=batch_size, seed=seed, max_pretrain_steps=steps)
    tasks = build_tasks(config, dataset)
    model = SSLModel(build_encoder(dataset.spec, "small"), tasks)
    context = RunContext(dataset, [None] * len(dataset), device=device)
    epochs = steps // max(1, len(dataset) // batch_size) + 1
    start = time.perf_counter()
    for _ in pretrain(model, tasks, [1.0], list(range(len(dataset))), config, context, epochs):
        pass
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    device = select_device(args.device)
    dataset = get_sample("digits").open()
    warmup = max(2, args.steps // 10)
    hand_written(dataset, device, warmup, args.batch_size, args.seed)
    app_loop(dataset, device, warmup, args.batch_size, args.seed)
    hand = hand_written(dataset, device, args.steps, args.batch_size, args.seed)
    app = app_loop(dataset, device, args.steps, args.batch_size, args.seed)
    print(f"device: {describe_device(device)}; {args.steps} steps of {args.batch_size} digits at 16 px")
    print(f"hand-written loop: {hand:9.1f} samples/s")
    print(f"app loop:          {app:9.1f} samples/s")
    print(f"ratio app / hand-written: {app / hand:.3f} (goal >= 1.0)")


if __name__ == "__main__":
    main()
