"""Progress events that strategies yield; the GUI and the command line render them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Progress:
    """One training or evaluation step. ``phase`` is pretrain, finetune, scratch or evaluate."""

    phase: str
    step: int
    total: int
    epoch: int = 0
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Log:
    """A line for the log panel (and the log file)."""

    message: str
    level: str = "info"


@dataclass
class RunResult:
    """What a finished run produced: metrics per model, the trained model and what it needs to predict."""

    status: str
    pretrained: dict[str, float] = field(default_factory=dict)
    scratch: dict[str, float] = field(default_factory=dict)
    pretext: dict[str, float] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)
    model: Any = None
    baseline_model: Any = None
    run_dir: Any = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Finished:
    """The last event of a run."""

    result: RunResult
