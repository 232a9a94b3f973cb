"""Measure the cost of generating each image pretext task next to one training step of the encoder.

For every registered image task, the script times ``task.generate`` on one
batch of a bundled sample, and one training step on the same batch (task
forward through encoder and head, loss, backward, AdamW step). It prints both
medians and their ratio; the goal is a ratio under 0.05 for every task.

Usage::

    python benchmarks/image_task_cost.py [--sample digits] [--image-size 64] [--batch-size 64] [--device auto]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sslstudio.data.samples import get_sample  # noqa: E402
from sslstudio.models.base import build_encoder  # noqa: E402
from sslstudio.models.model import SSLModel  # noqa: E402
from sslstudio.tasks.registry import list_tasks  # noqa: E402
from sslstudio.training.devices import describe_device, select_device  # noqa: E402

GOAL = 0.05


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(function, device: torch.device, repeats: int, warmup: int = 2) -> float:
    """Return the median wall time of ``function()`` in seconds over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        function()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(task, batch: torch.Tensor, encoder_size: str, device: torch.device, repeats: int) -> tuple[float, float]:
    """Return (generation seconds, training-step seconds) for ``task`` on ``batch``."""
    torch.manual_seed(0)
    model = SSLModel(build_encoder(task.spec, encoder_size), [task]).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(0)
    inputs, targets = task.generate(batch, generator)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        task.loss(model.forward_task(task.name, inputs), targets).backward()
        optimizer.step()

    generate_seconds = median_seconds(lambda: task.generate(batch, generator), device, repeats)
    step_seconds = median_seconds(step, device, repeats)
    return generate_seconds, step_seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", default="digits", help="bundled image sample (default digits)")
    parser.add_argument("--image-size", type=int, help="resize the sample to this side in pixels (default: its own)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64)")
    parser.add_argument("--encoder-size", default="small", choices=["small", "base", "large"])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per measurement (default 10)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for PyTorch (default 1)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    options = {"image_size": args.image_size} if args.image_size else {}
    dataset = get_sample(args.sample).open(**options)
    batch = dataset.batch(range(min(args.batch_size, len(dataset))), device)
    print(f"device {describe_device(device)}, batch {tuple(batch.shape)}, encoder {args.encoder_size}, "
          f"median of {args.repeats} calls")
    print(f"{'task':<22}{'generate ms':>12}{'step ms':>10}{'fraction':>10}")
    worst = 0.0
    for cls in list_tasks("image"):
        task = cls(dataset.spec)
        generate_seconds, step_seconds = measure(task, batch, args.encoder_size, device, args.repeats)
        fraction = generate_seconds / step_seconds
        worst = max(worst, fraction)
        flag = "" if fraction < GOAL else f"  over the {GOAL} goal"
        print(f"{cls.name:<22}{generate_seconds * 1e3:>12.2f}{step_seconds * 1e3:>10.1f}{fraction:>10.4f}{flag}")
    print(f"largest fraction {worst:.4f} (goal under {GOAL})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
