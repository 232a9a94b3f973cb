"""A 2-process Gloo run on the CPU against 1 process: throughput ratio and final pretext loss.

Both runs pretrain the digits with the same seed and global batch size through
``sslstudio train``; the 2-process run goes through ``torchrun``. The script
prints samples per second of each, their ratio (2 processes / 1), and the
difference of the mean loss over the last steps (the tolerance is 0.3).

Usage: python benchmarks/distributed_gloo.py [--steps 40] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOLERANCE = 0.3


def run(command: list[str], project: Path, steps: int) -> tuple[float, float]:
    """Run one training command; return (pretraining wall seconds, mean loss of the last 5 steps)."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    subprocess.run(command, check=True, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    metrics = next((project / "runs").iterdir()) / "metrics.csv"
    with open(metrics, newline="", encoding="utf-8") as file:
        losses = [float(row["value"]) for row in csv.DictReader(file)
                  if row["phase"] == "pretrain" and row["name"] == "loss"]
    if len(losses) != steps:
        raise RuntimeError(f"{metrics}: expected {steps} pretraining steps, found {len(losses)}")
    return elapsed, sum(losses[-5:]) / 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    common = ["-m", "sslstudio", "train", "--sample", "digits", "--device", "cpu", "--pretrain-epochs", "100",
              "--max-pretrain-steps", str(args.steps), "--batch-size", str(args.batch_size), "--finetune-steps", "1",
              "--no-baseline", "--no-export", "-q"]
    folder = Path(tempfile.mkdtemp())
    one_seconds, one_loss = run([sys.executable, *common, "--project", str(folder / "one")], folder / "one", args.steps)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    two_seconds, two_loss = run([*torchrun, *common, "--project", str(folder / "two")], folder / "two", args.steps)
    samples = args.steps * args.batch_size
    print(f"1 process:   {samples / one_seconds:8.1f} samples/s (whole command), final loss {one_loss:.4f}")
    print(f"2 processes: {samples / two_seconds:8.1f} samples/s (whole command), final loss {two_loss:.4f}")
    print(f"throughput ratio 2 / 1: {one_seconds / two_seconds:.3f}")
    difference = abs(one_loss - two_loss)
    print(f"final loss difference: {difference:.4f} ({'within' if difference <= TOLERANCE else 'outside'} "
          f"the tolerance of {TOLERANCE})")


if __name__ == "__main__":
    main()
