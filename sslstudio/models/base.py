"""The encoder contract and the encoder registry.

Every encoder maps a batch to one feature vector per sample (N×D) with
``forward``. Tasks that need positions (pixels, time steps, tokens, nodes) use
``forward_dense`` and a decoder the encoder builds with ``dense_decoder``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from sslstudio import MODALITIES
from sslstudio.data.base import DatasetSpec

SIZE_PRESETS = ("small", "base", "large")


class Encoder(nn.Module):
    """Base class of all encoders. ``feature_dim`` is D of the N×D output of ``forward``."""

    feature_dim: int
    dense_dim: int = 0

    def forward_dense(self, inputs: Any) -> torch.Tensor:
        """Return per-position features (images: N×dense_dim×h×w)."""
        raise NotImplementedError(f"{type(self).__name__} has no dense features")

    def dense_decoder(self, out_channels: int) -> nn.Module:
        """Return a module that maps ``forward_dense`` output to ``out_channels`` per input position."""
        raise NotImplementedError(f"{type(self).__name__} cannot decode dense outputs")

    def edge_decoder(self, out_channels: int) -> nn.Module:
        """Return a module that maps ``forward_dense`` output for node pairs (P×2×D) to P×``out_channels``."""
        raise NotImplementedError(f"{type(self).__name__} cannot score node pairs")


EncoderBuilder = Callable[[DatasetSpec, str], Encoder]
_ENCODERS: dict[str, EncoderBuilder] = {}


def register_encoder(modality: str) -> Callable[[EncoderBuilder], EncoderBuilder]:
    """Register ``build(spec, size) -> Encoder`` for ``modality``."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; expected one of {', '.join(MODALITIES)}")

    def decorate(builder: EncoderBuilder) -> EncoderBuilder:
        _ENCODERS[modality] = builder
        return builder

    return decorate


_modules_loaded = False


def load_encoder_modules() -> None:
    """Import every module of ``sslstudio.models`` once, so each registers its encoder."""
    global _modules_loaded
    if _modules_loaded:
        return
    _modules_loaded = True
    import sslstudio.models as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in {"base", "heads", "model"}:
            importlib.import_module(f"sslstudio.models.{module.name}")


def build_encoder(spec: DatasetSpec, size: str = "small") -> Encoder:
    """Build the encoder of ``spec.modality`` at a size preset.

    Raises:
        ValueError: for an unknown size preset or a modality without an encoder.
    """
    if size not in SIZE_PRESETS:
        raise ValueError(f"size={size!r} is invalid; choose from {', '.join(SIZE_PRESETS)}")
    load_encoder_modules()
    if spec.modality not in _ENCODERS:
        raise ValueError(f"no encoder registered for {spec.modality!r} data; available: {', '.join(sorted(_ENCODERS))}")
    return _ENCODERS[spec.modality](spec, size)
