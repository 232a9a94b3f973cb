"""ONNX export with a dynamic batch axis, checked in ONNX Runtime against PyTorch."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

OPSET = 18
TOLERANCE = 1e-4


class _TupleInputs(nn.Module):
    """Present a model that takes one tensor or a tuple of tensors as a module with positional inputs."""

    def __init__(self, model: nn.Module, tuple_input: bool):
        super().__init__()
        self.model = model
        self.tuple_input = tuple_input

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(tuple(inputs) if self.tuple_input else inputs[0])


def _as_tuple(batch) -> tuple[torch.Tensor, ...]:
    return tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)


def export_onnx(model: nn.Module, example_batch, path: Path, input_names: Sequence[str] | None = None,
                dynamic_axes: Sequence[dict[int, str]] | None = None) -> Path:
    """Export ``model`` (eval mode, CPU) to ``path`` with dynamic axes.

    ``dynamic_axes`` gives one ``{axis: dimension name}`` per input; inputs
    that share a name share a dimension. By default axis 0 of every input is
    the one ``batch`` dimension. Every dynamic axis of ``example_batch`` needs
    a size above 1, so the exporter cannot specialize it to a constant.

    Raises:
        ValueError: if a dynamic axis of the example batch has fewer than 2 entries.
    """
    inputs = tuple(tensor.cpu() for tensor in _as_tuple(example_batch))
    axes = list(dynamic_axes) if dynamic_axes is not None else [{0: "batch"} for _ in inputs]
    for tensor, tensor_axes in zip(inputs, axes):
        for axis, name in tensor_axes.items():
            if tensor.shape[axis] < 2:
                raise ValueError(f"the example batch for ONNX export needs at least 2 entries along {name!r} "
                                 "to keep that axis dynamic")
    wrapper = _TupleInputs(model.cpu().eval(), isinstance(example_batch, (tuple, list))).eval()
    names = list(input_names or [f"input_{index}" if len(inputs) > 1 else "input" for index in range(len(inputs))])
    dimensions = {name: torch.export.Dim(name, min=1) for tensor_axes in axes for name in tensor_axes.values()}
    # The wrapper takes ``*inputs``, so the shapes of all inputs form one tuple for that one argument.
    dynamic_shapes = (tuple({axis: dimensions[name] for axis, name in tensor_axes.items()} for tensor_axes in axes),)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        program = torch.onnx.export(wrapper, inputs, dynamo=True, dynamic_shapes=dynamic_shapes,
                                    input_names=names, output_names=["logits"], opset_version=OPSET,
                                    external_data=False, verbose=False)
    program.save(str(path), external_data=False)
    logger.info("Exported ONNX model to %s", path)
    return path


def check_onnx(model: nn.Module, path: Path, batches: Sequence, tolerance: float = TOLERANCE) -> list[float]:
    """Run the ONNX file in ONNX Runtime on each batch and compare with PyTorch.

    Returns the maximum absolute difference per batch.

    Raises:
        AssertionError: if any difference exceeds ``tolerance``.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [item.name for item in session.get_inputs()]
    model = model.cpu().eval()
    differences = []
    for batch in batches:
        inputs = tuple(tensor.cpu() for tensor in _as_tuple(batch))
        with torch.no_grad():
            expected = model(tuple(inputs) if isinstance(batch, (tuple, list)) else inputs[0]).numpy()
        feeds = {name: tensor.numpy() for name, tensor in zip(names, inputs)}
        actual = session.run(None, feeds)[0]
        difference = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
        if difference > tolerance:
            raise AssertionError(f"{path}: ONNX Runtime output differs from PyTorch by {difference:.2e} "
                                 f"at batch size {inputs[0].shape[0]} (tolerance {tolerance:.0e})")
        differences.append(difference)
    return differences
