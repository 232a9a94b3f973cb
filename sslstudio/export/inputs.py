"""Model inputs in every export format: one positional tensor per part of a batch.

A dataset's ``batch`` returns a tensor or a tuple of tensors. Exported programs
take those tensors as positional inputs, so ONNX, ``torch.export`` and the
rebuilt safetensors model are all called the same way: ``model(*inputs)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

# The largest absolute difference allowed between an exported model's logits and PyTorch's.
TOLERANCE = 1e-4


class PositionalInputs(nn.Module):
    """Present a model that takes one tensor or a tuple of tensors as a module with positional inputs."""

    def __init__(self, model: nn.Module, tuple_input: bool):
        super().__init__()
        self.model = model
        self.tuple_input = tuple_input

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(tuple(inputs) if self.tuple_input else inputs[0])


def as_tuple(batch: Any) -> tuple[torch.Tensor, ...]:
    """Return the tensors of a batch (a tensor or a tuple/list of tensors) as a tuple, on the CPU."""
    tensors = tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)
    return tuple(tensor.cpu() for tensor in tensors)


def is_tuple_batch(batch: Any) -> bool:
    return isinstance(batch, (tuple, list))


def input_names(count: int) -> list[str]:
    """Return the input names used in exports: ``input`` for one tensor, ``input_0``… for several."""
    return ["input"] if count == 1 else [f"input_{index}" for index in range(count)]


def describe_inputs(batch: Any) -> list[dict[str, Any]]:
    """Describe each input tensor for the model card: name, shape with ``"batch"`` on axis 0, dtype."""
    tensors = as_tuple(batch)
    return [{"name": name, "shape": ["batch", *tensor.shape[1:]], "dtype": str(tensor.dtype).removeprefix("torch.")}
            for name, tensor in zip(input_names(len(tensors)), tensors)]


def check_batch_matches(batch: Any, described: Sequence[dict[str, Any]], source: str) -> None:
    """Check that a batch has the number, per-sample shapes and dtypes of the exported inputs.

    Raises:
        ValueError: naming ``source``, the input and the expected and actual shape or dtype.
    """
    tensors = as_tuple(batch)
    if len(tensors) != len(described):
        raise ValueError(f"{source}: the data gives {len(tensors)} input tensor(s) per batch but the model "
                         f"takes {len(described)}; open it with the reader the model was trained with")
    for tensor, expected in zip(tensors, described):
        shape = list(tensor.shape[1:])
        if shape != list(expected["shape"][1:]):
            raise ValueError(f"{source}: input {expected['name']!r} has per-sample shape {shape}, but the model "
                             f"expects {list(expected['shape'][1:])}; prepare the data as recorded in the model card")
        dtype = str(tensor.dtype).removeprefix("torch.")
        if dtype != expected["dtype"]:
            raise ValueError(f"{source}: input {expected['name']!r} has dtype {dtype}, but the model expects "
                             f"{expected['dtype']}")


def compare_outputs(model: nn.Module, run: Callable[[tuple[torch.Tensor, ...]], np.ndarray], batches: Sequence,
                    label: str, tolerance: float = TOLERANCE) -> list[float]:
    """Run ``model`` (PyTorch, eval mode, CPU) and ``run`` (an exported copy) on each batch and compare.

    ``run`` takes the batch's tensors and returns logits as an array. Returns
    the maximum absolute difference per batch.

    Raises:
        AssertionError: naming ``label`` and the batch size if a difference exceeds ``tolerance``.
    """
    model = model.cpu().eval()
    differences = []
    for batch in batches:
        inputs = as_tuple(batch)
        with torch.no_grad():
            expected = model(inputs if is_tuple_batch(batch) else inputs[0]).numpy()
        actual = np.asarray(run(inputs))
        difference = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
        if not difference <= tolerance:
            raise AssertionError(f"{label}: output differs from PyTorch by {difference:.2e} "
                                 f"at batch size {inputs[0].shape[0]} (tolerance {tolerance:.0e})")
        differences.append(difference)
    return differences


def dynamic_shapes(inputs: Sequence[torch.Tensor], dynamic_axes: Sequence[dict[int, str]] | None,
                   exporter: str) -> tuple[dict[int, Any], ...]:
    """Return ``torch.export`` dynamic shapes, one ``{axis: Dim}`` per input; equal names share a ``Dim``.

    ``dynamic_axes`` gives ``{axis: dimension name}`` per input; by default
    axis 0 of every input is the one ``batch`` dimension.

    Raises:
        ValueError: if a dynamic axis has fewer than 2 entries in the example, which would
            let the exporter specialize it to a constant; the message names ``exporter``.
    """
    axes = list(dynamic_axes) if dynamic_axes is not None else [{0: "batch"} for _ in inputs]
    for tensor, tensor_axes in zip(inputs, axes):
        for axis, name in tensor_axes.items():
            if tensor.shape[axis] < 2:
                what = "samples" if name == "batch" else f"entries along {name!r}"
                raise ValueError(f"the example batch for {exporter} needs at least 2 {what} to keep that axis dynamic")
    dimensions = {name: torch.export.Dim(name, min=1) for tensor_axes in axes for name in tensor_axes.values()}
    return tuple({axis: dimensions[name] for axis, name in tensor_axes.items()} for tensor_axes in axes)
