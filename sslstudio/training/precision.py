"""Mixed precision on CUDA: bf16 where the GPU supports it, otherwise fp16 with a gradient scaler."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Precision:
    """How forward passes run: ``dtype`` None means full fp32 (CPU and MPS)."""

    device_type: str
    dtype: torch.dtype | None

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler:
        """Return a gradient scaler, enabled only for fp16 (bf16 keeps the fp32 exponent range)."""
        return torch.amp.GradScaler(self.device_type, enabled=self.dtype == torch.float16)

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]


def choose_precision(device: torch.device, enabled: bool = True) -> Precision:
    """Return bf16 or fp16 autocast on CUDA when ``enabled``, else fp32."""
    if not enabled or device.type != "cuda":
        return Precision(device.type, None)
    return Precision("cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
