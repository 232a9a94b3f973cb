"""The frozen settings of one run, shared by the GUI, the command line and distributed workers."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

STRATEGIES = ("transfer", "feature-extraction", "multitask", "proxy")


@dataclass(frozen=True)
class TaskChoice:
    """A pretext task selected for a run: its registry name, parameters and loss weight."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()
    weight: float = 1.0

    @property
    def params_dict(self) -> dict[str, Any]:
        return {key: (tuple(value) if isinstance(value, list) else value) for key, value in self.params}

    @classmethod
    def make(cls, name: str, params: dict[str, Any] | None = None, weight: float = 1.0) -> "TaskChoice":
        frozen = tuple(sorted((key, tuple(value) if isinstance(value, list) else value)
                              for key, value in (params or {}).items()))
        return cls(name=name, params=frozen, weight=weight)


@dataclass(frozen=True)
class RunConfig:
    """Every setting of a run. Epoch counts are passes over the pretraining or labeled set."""

    strategy: str = "transfer"
    tasks: tuple[TaskChoice, ...] = (TaskChoice("image.rotation"),)
    encoder_size: str = "small"
    pretrain_epochs: int = 4
    finetune_steps: int = 150
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    labels_per_class: int = 5
    holdout_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"
    label_column: str = "folder"
    baseline: bool = True
    max_pretrain_steps: int = 0
    data_options: tuple[tuple[str, Any], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy={self.strategy!r} is invalid; choose from {', '.join(STRATEGIES)}")
        checks = {"pretrain_epochs": (0, 10_000), "finetune_steps": (1, 1_000_000), "batch_size": (1, 65_536),
                  "labels_per_class": (0, 1_000_000), "max_pretrain_steps": (0, 10_000_000)}
        for name, (low, high) in checks.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name}={value} is out of range; valid range is {low} to {high}")
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction={self.holdout_fraction} is out of range; it must be between 0 and 1")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate={self.learning_rate} is invalid; it must be positive")

    def with_changes(self, **changes: Any) -> "RunConfig":
        return replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=list)

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        raw = json.loads(text)
        raw["tasks"] = tuple(TaskChoice(name=task["name"], params=tuple((k, tuple(v) if isinstance(v, list) else v)
                                                                         for k, v in task["params"]),
                                        weight=task["weight"]) for task in raw["tasks"])
        raw["data_options"] = tuple(tuple(item) for item in raw.get("data_options", ()))
        known = {item.name for item in fields(cls)}
        return cls(**{key: value for key, value in raw.items() if key in known})
