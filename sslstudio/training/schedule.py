"""Learning-rate schedule: linear warm-up, then cosine decay to a floor."""

from __future__ import annotations

import math

import torch


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float = 0.05,
                  floor: float = 0.01) -> torch.optim.lr_scheduler.LambdaLR:
    """Return a scheduler whose factor rises linearly over the warm-up steps, then follows a cosine to ``floor``.

    ``total_steps`` is the number of ``scheduler.step()`` calls planned; the
    factor multiplies each parameter group's base learning rate.
    """
    total_steps = max(1, total_steps)
    warmup = min(max(1, int(total_steps * warmup_fraction)), total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
