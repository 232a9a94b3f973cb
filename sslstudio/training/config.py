"""The frozen settings of one run, shared by the GUI, the command line and distributed workers."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

STRATEGIES = ("transfer", "feature-extraction", "multitask", "proxy")
PROBES = ("logistic", "knn")
PROXY_SOURCES = ("task", "column", "pattern")


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
    mixed_precision: bool = True
    # Stop pretraining after this many epochs without a lower validation pretext loss (0 = never stop early).
    early_stopping_patience: int = 0
    # Worker processes that assemble batches ahead of the training step (0 = on the training thread).
    loader_workers: int = 0
    data_options: tuple[tuple[str, Any], ...] = field(default_factory=tuple)
    # Feature extraction: the classifier fitted on frozen embeddings.
    probe: str = "logistic"
    knn_neighbors: int = 5
    # Multitask: the weight of the supervised loss next to the pretext tasks' weights.
    supervised_weight: float = 1.0
    # Proxy model: the target is a pretext task's output ("task"), a metadata column's value ("column") or
    # the first group of ``proxy_pattern`` (a regular expression) searched in that column ("pattern").
    proxy_source: str = "task"
    proxy_task: str = ""
    proxy_column: str = ""
    proxy_pattern: str = ""

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy={self.strategy!r} is invalid; choose from {', '.join(STRATEGIES)}")
        checks = {"pretrain_epochs": (0, 10_000), "finetune_steps": (1, 1_000_000), "batch_size": (1, 65_536),
                  "labels_per_class": (0, 1_000_000), "max_pretrain_steps": (0, 10_000_000),
                  "early_stopping_patience": (0, 10_000), "loader_workers": (0, 64)}
        for name, (low, high) in checks.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name}={value} is out of range; valid range is {low} to {high}")
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction={self.holdout_fraction} is out of range; it must be between 0 and 1")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate={self.learning_rate} is invalid; it must be positive")
        self._check_strategy_options()

    def _check_strategy_options(self) -> None:
        if self.probe not in PROBES:
            raise ValueError(f"probe={self.probe!r} is invalid; choose from {', '.join(PROBES)}")
        if not 1 <= self.knn_neighbors <= 1000:
            raise ValueError(f"knn_neighbors={self.knn_neighbors} is out of range; valid range is 1 to 1000")
        if self.supervised_weight < 0:
            raise ValueError(f"supervised_weight={self.supervised_weight} is invalid; it must be 0 or more")
        if self.proxy_source not in PROXY_SOURCES:
            raise ValueError(f"proxy_source={self.proxy_source!r} is invalid; choose from {', '.join(PROXY_SOURCES)}")
        if self.proxy_source == "column" and not self.proxy_column:
            raise ValueError("proxy_source='column' needs proxy_column, the metadata column to train on")
        if self.proxy_source == "pattern":
            if not self.proxy_pattern:
                raise ValueError("proxy_source='pattern' needs proxy_pattern, a regular expression such as '_(left|right)_'")
            try:
                re.compile(self.proxy_pattern)
            except re.error as error:
                raise ValueError(f"proxy_pattern={self.proxy_pattern!r} is not a valid regular expression: {error}") from None

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
