"""safetensors weights of the exported classifier, and the model rebuilt from them.

The file contains the ``Classifier`` state dict (``encoder.*`` and ``head.*``)
and nothing else. The model card records how to build the module those
weights fit: the dataset spec and size preset for ``build_encoder``, and the
head's layer sizes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from sslstudio.data.base import DatasetSpec
from sslstudio.export.inputs import TOLERANCE, PositionalInputs, compare_outputs
from sslstudio.models.base import build_encoder
from sslstudio.models.heads import LinearHead
from sslstudio.models.model import Classifier

logger = logging.getLogger(__name__)


def describe_head(head: nn.Module) -> dict[str, Any]:
    """Describe a downstream head so that ``build_head_from`` can rebuild it.

    Raises:
        ValueError: for a head other than ``LinearHead``, which the card cannot describe.
    """
    if not isinstance(head, LinearHead):
        raise ValueError(f"safetensors export supports LinearHead downstream heads; got {type(head).__name__}")
    linears = [layer for layer in head.layers if isinstance(layer, nn.Linear)]
    return {"type": "LinearHead", "in_features": linears[0].in_features, "out_features": linears[-1].out_features,
            "hidden": linears[0].out_features if len(linears) > 1 else 0}


def build_head_from(description: dict[str, Any]) -> nn.Module:
    """Build an untrained head from ``describe_head`` output.

    Raises:
        ValueError: for an unknown head type.
    """
    if description.get("type") != "LinearHead":
        raise ValueError(f"unknown head type {description.get('type')!r} in the model card; expected 'LinearHead'")
    return LinearHead(int(description["in_features"]), int(description["out_features"]),
                      hidden=int(description.get("hidden", 0)))


def save_weights(classifier: Classifier, path: Path) -> Path:
    """Write the classifier's state dict (parameters and buffers, on the CPU) to a safetensors file."""
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in classifier.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"format": "pt", "content": "sslstudio classifier (encoder + head)"})
    logger.info("Wrote safetensors weights to %s (%d tensors)", path, len(state))
    return path


def rebuild_classifier(spec: DatasetSpec, encoder_size: str, head: dict[str, Any], path: Path) -> Classifier:
    """Build the encoder and head and load the weights from the safetensors file at ``path``.

    Raises:
        ValueError: naming ``path`` if the file is unreadable or its tensors do not fit the rebuilt model.
    """
    classifier = Classifier(build_encoder(spec, encoder_size), build_head_from(head))
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(f"{path}: not a valid safetensors file ({error}). "
                         "The file may be truncated or modified.") from error
    try:
        classifier.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{path}: the weights do not fit the model described in the model card ({error})") from error
    return classifier.eval()


def check_weights(model: nn.Module, rebuilt: nn.Module, tuple_input: bool, batches: Sequence, path: Path,
                  tolerance: float = TOLERANCE) -> list[float]:
    """Compare the model rebuilt from safetensors with the original on each batch.

    Returns the maximum absolute difference per batch.

    Raises:
        AssertionError: if any difference exceeds ``tolerance``.
    """
    positional = PositionalInputs(rebuilt, tuple_input).eval()

    def run(inputs):
        with torch.no_grad():
            return positional(*inputs).numpy()

    return compare_outputs(model, run, batches, f"{path} rebuilt from safetensors", tolerance)
