"""Device choice: CUDA, then Apple MPS, then CPU, unless the user overrides it."""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)


def select_device(preference: str = "auto") -> torch.device:
    """Return the device for ``preference`` (``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``).

    Raises:
        ValueError: if the requested device is not available on this machine.
    """
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {preference!r} requested, but CUDA is not available; use --device cpu or auto")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {preference!r} requested, but Apple MPS is not available; use --device cpu or auto")
    return device


def describe_device(device: torch.device) -> str:
    """Return a human-readable name such as ``cuda (NVIDIA H200)`` or ``cpu (2 threads)``."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type
