"""The main job, written once for the GUI and the command line: open data, run a strategy, export."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sslstudio.data.base import Dataset, open_dataset
from sslstudio.data.samples import get_sample
from sslstudio.tasks.registry import list_tasks
from sslstudio.training.config import RunConfig, TaskChoice
from sslstudio.training.context import RunContext
from sslstudio.training.devices import select_device
from sslstudio.training.strategies import run_strategy

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataChoice:
    """Where the data comes from: a bundled sample name or a path (with an optional modality)."""

    sample: str | None = None
    path: str | None = None
    modality: str | None = None
    label_column: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def open_data(choice: DataChoice) -> tuple[Dataset, str]:
    """Open the chosen data; return the dataset and the metadata column that holds labels.

    Raises:
        DataError: for a missing, empty or unreadable source.
    """
    if choice.sample:
        sample = get_sample(choice.sample)
        dataset = sample.open(**choice.options)
        return dataset, choice.label_column or sample.label_column
    if not choice.path:
        raise ValueError("choose a sample or a data path")
    dataset = open_dataset(choice.path, choice.modality, label_column=choice.label_column, **choice.options)
    return dataset, choice.label_column or "folder"


def default_task_choices(modality: str) -> tuple[TaskChoice, ...]:
    """Return the tasks selected by default for ``modality``: those marked ``default``, else the first one."""
    tasks = list_tasks(modality)
    chosen = [cls for cls in tasks if getattr(cls, "default", False)] or tasks[:1]
    if not chosen:
        raise ValueError(f"no pretext task is registered for {modality} data")
    return tuple(TaskChoice(cls.name) for cls in chosen)


def start_run(config: RunConfig, dataset: Dataset, labels: list[str | None], run_dir: Path | None,
              cancel: threading.Event | None = None) -> Iterator:
    """Pick the device and run the strategy; yields its events (see ``sslstudio.training.events``)."""
    context = RunContext(dataset=dataset, labels=labels, device=select_device(config.device),
                         cancel=cancel or threading.Event(), run_dir=run_dir)
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(config.to_json(), encoding="utf-8")
        dataset.export_assets(run_dir)
    logger.info("Starting %s run on %s (%d samples) on %s", config.strategy, dataset.source, len(dataset), context.device)
    yield from run_strategy(config, context)
