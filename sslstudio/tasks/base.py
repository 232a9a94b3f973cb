"""The pretext-task contract: typed parameters, a head declaration, generation, loss, metrics, preview.

A task turns a batch of samples into ``(inputs, targets)`` on the batch's
device, vectorized, and deterministic for a given ``torch.Generator`` seed.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch

from sslstudio.data.base import DatasetSpec

HeadKind = Literal["classification", "regression", "dense", "token", "node", "edge"]


def param(default: Any, *, minimum: float | None = None, maximum: float | None = None,
          choices: tuple | None = None, help: str = "") -> Any:
    """Declare a task parameter with its default, bounds or choices and a help line for the GUI."""
    metadata = {"minimum": minimum, "maximum": maximum, "choices": choices, "help": help}
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: tuple(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class TaskParams:
    """Base of every task's parameter set. Subclasses are frozen dataclasses whose fields use ``param``."""

    def __post_init__(self) -> None:
        validate_params(self)

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """Return one dict per parameter: name, type, default, minimum, maximum, choices, help."""
        rows = []
        for item in dataclasses.fields(cls):
            default = item.default if item.default is not dataclasses.MISSING else item.default_factory()  # type: ignore[misc]
            rows.append({"name": item.name, "type": type(default).__name__, "default": default, **item.metadata})
        return rows


def validate_params(params: TaskParams) -> None:
    """Check every field against its declared bounds and choices.

    Raises:
        ValueError: naming the parameter, the invalid value and the valid range.
    """
    for item in dataclasses.fields(params):
        value = getattr(params, item.name)
        meta = item.metadata
        choices = meta.get("choices")
        values = value if isinstance(value, tuple) else (value,)
        if choices is not None:
            for entry in values:
                if entry not in choices:
                    raise ValueError(f"{item.name}={entry!r} is invalid; choose from {', '.join(map(str, choices))}")
        low, high = meta.get("minimum"), meta.get("maximum")
        for entry in values:
            if isinstance(entry, bool) or not isinstance(entry, (int, float)):
                continue
            if (low is not None and entry < low) or (high is not None and entry > high):
                raise ValueError(f"{item.name}={entry!r} is out of range; valid range is {low} to {high}")


@dataclass(frozen=True)
class HeadSpec:
    """The head a task needs on top of the encoder.

    ``classification``: ``out_features`` logits per sample. ``regression``:
    ``out_features`` values per sample. ``dense``: an output shaped like the
    input with ``out_features`` channels (images: N×C×H×W). ``token``/``node``:
    ``out_features`` logits or values per position or node. ``edge``: a score
    per node pair.
    """

    kind: HeadKind
    out_features: int


@dataclass
class PreviewItem:
    """One previewed sample: the task's input, its target, both as displayable tensors, and a caption."""

    input: Any
    target: Any
    caption: str


class PretextTask(ABC):
    """A pretext task bound to one dataset spec and one parameter set.

    Subclasses set ``name`` (``modality.short_name``), ``title``,
    ``description`` and ``Params``, and implement ``head``, ``generate``,
    ``loss``, ``metrics`` and ``preview``.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    Params: ClassVar[type[TaskParams]] = TaskParams
    # "accuracy" for classification tasks, "loss" for reconstruction; strategies report it.
    primary_metric: ClassVar[str] = "accuracy"

    def __init__(self, spec: DatasetSpec, params: TaskParams | dict[str, Any] | None = None):
        if isinstance(params, dict) or params is None:
            params = self.Params(**(params or {}))
        self.spec = spec
        self.params = params
        self.check_spec(spec)

    @property
    def modality(self) -> str:
        return self.name.split(".", 1)[0]

    def check_spec(self, spec: DatasetSpec) -> None:
        """Reject parameters that do not fit this data (say, a grid larger than the image).

        Raises:
            ValueError: naming the parameter and its valid range for this data.
        """

    @property
    @abstractmethod
    def head(self) -> HeadSpec:
        """The head this task needs."""

    @abstractmethod
    def generate(self, batch: Any, generator: torch.Generator) -> tuple[Any, torch.Tensor]:
        """Return ``(inputs, targets)`` for ``batch``, on the batch's device."""

    @abstractmethod
    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Return the scalar training loss."""

    @abstractmethod
    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """Return named metric values for one batch (accuracy in [0, 1], losses as floats)."""

    def preview(self, batch: Any, generator: torch.Generator) -> list[PreviewItem]:
        """Return one preview item per sample in ``batch``; the default shows input and target as-is."""
        inputs, targets = self.generate(batch, generator)
        return [PreviewItem(inputs[i], targets[i], f"target {targets[i].tolist()}") for i in range(len(targets))]


class ClassificationTask(PretextTask):
    """A task whose target is one class index per sample; cross-entropy loss, accuracy metric."""

    num_classes: int = 2

    @property
    def head(self) -> HeadSpec:
        return HeadSpec("classification", self.num_classes)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(outputs, targets)

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        accuracy = (outputs.argmax(dim=1) == targets).float().mean().item()
        return {"accuracy": accuracy, "chance": 1.0 / self.num_classes}
