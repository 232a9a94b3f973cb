"""The main job, written once for the GUI and the command line: open data, run a strategy, export."""

from __future__ import annotations

import json
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
from sslstudio.training.checkpoints import atomic_write_text
from sslstudio.training.context import RunContext
from sslstudio.training.distributed import DistributedInfo
from sslstudio.training.devices import select_device
from sslstudio.training.strategies import run_strategy

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataChoice:
    """The data source: a bundled sample name, or a path with an optional modality."""

    sample: str | None = None
    path: str | None = None
    modality: str | None = None
    label_column: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def open_data(choice: DataChoice) -> tuple[Dataset, str]:
    """Open the chosen data; return the dataset and the metadata column that contains the labels.

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


RUN_DATA_FILE = "data.json"


def write_run_inputs(run_dir: Path, choice: DataChoice, config: RunConfig) -> None:
    """Record the data choice and config in the run folder, so the run can resume or launch elsewhere."""
    data = {"sample": choice.sample, "path": choice.path, "modality": choice.modality,
            "label_column": choice.label_column, "options": choice.options}
    atomic_write_text(run_dir / RUN_DATA_FILE, json.dumps(data, indent=2, default=str))
    atomic_write_text(run_dir / "config.json", config.to_json())


def read_run_inputs(run_dir: Path) -> tuple[DataChoice, RunConfig]:
    """Return the data choice and config recorded in ``run_dir``.

    Raises:
        FileNotFoundError: naming the missing file when the folder is not a run folder.
    """
    run_dir = Path(run_dir)
    for name in (RUN_DATA_FILE, "config.json"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir / name}: not found; --resume expects a run folder "
                                    "(PROJECT/runs/<run-id>) written by SSL Studio")
    data = json.loads((run_dir / RUN_DATA_FILE).read_text(encoding="utf-8"))
    choice = DataChoice(sample=data.get("sample"), path=data.get("path"), modality=data.get("modality"),
                        label_column=data.get("label_column"), options=data.get("options") or {})
    return choice, RunConfig.from_json((run_dir / "config.json").read_text(encoding="utf-8"))


def start_run(config: RunConfig, dataset: Dataset, labels: list[str | None], run_dir: Path | None,
              cancel: threading.Event | None = None, resume: bool = False,
              distributed: DistributedInfo | None = None, device=None) -> Iterator:
    """Pick the device and run the strategy; yields its events (see ``sslstudio.training.events``).

    With ``resume``, each phase continues from its checkpoint in ``run_dir``.
    """
    context = RunContext(dataset=dataset, labels=labels, device=device or select_device(config.device),
                         cancel=cancel or threading.Event(), run_dir=run_dir, resume=resume,
                         distributed=distributed or DistributedInfo())
    if run_dir is not None and context.distributed.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(config.to_json(), encoding="utf-8")
        dataset.export_assets(run_dir)
    logger.info("Starting %s run on %s (%d samples) on %s", config.strategy, dataset.source, len(dataset), context.device)
    yield from run_strategy(config, context)
