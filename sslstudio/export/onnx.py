"""ONNX export with a dynamic batch axis, checked in ONNX Runtime against PyTorch."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sslstudio.export.inputs import (TOLERANCE, PositionalInputs, as_tuple, compare_outputs, dynamic_shapes,
                                    input_names, is_tuple_batch)

logger = logging.getLogger(__name__)

# Opset 18 is read by ONNX Runtime 1.14 and later and by most other current runtimes.
OPSET = 18


def export_onnx(model: nn.Module, example_batch, path: Path, names: Sequence[str] | None = None,
                dynamic_axes: Sequence[dict[int, str]] | None = None) -> Path:
    """Export ``model`` (eval mode, CPU) to ``path`` with dynamic axes.

    ``dynamic_axes`` gives one ``{axis: dimension name}`` per input; inputs
    that share a name share a dimension. By default axis 0 of every input is
    the one ``batch`` dimension. Every dynamic axis of ``example_batch`` needs
    a size above 1, so the exporter cannot specialize it to a constant.

    Raises:
        ValueError: if a dynamic axis of the example batch has fewer than 2 entries.
    """
    inputs = as_tuple(example_batch)
    shapes = dynamic_shapes(inputs, dynamic_axes, "ONNX export")
    wrapper = PositionalInputs(model.cpu().eval(), is_tuple_batch(example_batch)).eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        program = torch.onnx.export(wrapper, inputs, dynamo=True, dynamic_shapes=(shapes,),
                                    input_names=list(names or input_names(len(inputs))), output_names=["logits"],
                                    opset_version=OPSET, external_data=False, verbose=False)
    program.save(str(path), external_data=False)
    logger.info("Exported ONNX model to %s", path)
    return path


def onnx_session(path: Path):
    """Open ``path`` in ONNX Runtime on the CPU."""
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_onnx(session, inputs: Sequence[torch.Tensor]) -> np.ndarray:
    """Run an ONNX Runtime session on positional input tensors; return the logits."""
    feeds = {item.name: tensor.cpu().numpy() for item, tensor in zip(session.get_inputs(), inputs)}
    return session.run(None, feeds)[0]


def check_onnx(model: nn.Module, path: Path, batches: Sequence, tolerance: float = TOLERANCE) -> list[float]:
    """Run the ONNX file in ONNX Runtime on each batch and compare with PyTorch.

    Returns the maximum absolute difference per batch.

    Raises:
        AssertionError: if any difference exceeds ``tolerance``.
    """
    session = onnx_session(path)
    return compare_outputs(model, lambda inputs: run_onnx(session, inputs), batches, f"{path} in ONNX Runtime",
                           tolerance)
