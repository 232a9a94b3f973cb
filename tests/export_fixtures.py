"""A tiny trained digits classifier and its export, shared by the export and prediction tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sslstudio.data.base import Dataset
from sslstudio.export.bundle import export_run
from sslstudio.training.config import RunConfig
from sslstudio.training.events import Finished, RunResult
from sslstudio.workflow import start_run

TINY_CONFIG = RunConfig(pretrain_epochs=1, max_pretrain_steps=2, finetune_steps=4, batch_size=32, baseline=False,
                        label_column="folder", device="cpu")


@dataclass
class TrainedExport:
    """A finished run on the digits, the dataset it ran on and its export folder."""

    result: RunResult
    dataset: Dataset
    config: RunConfig
    folder: Path
    written: dict[str, Path]


def train_and_export(dataset: Dataset, folder: Path) -> TrainedExport:
    """Train the tiny configuration on ``dataset`` and export every format to ``folder``."""
    labels = dataset.label_column(TINY_CONFIG.label_column)
    result = None
    for event in start_run(TINY_CONFIG, dataset, labels, run_dir=None):
        if isinstance(event, Finished):
            result = event.result
    assert result is not None and result.status == "finished"
    written = export_run(result, dataset, TINY_CONFIG, folder)
    return TrainedExport(result, dataset, TINY_CONFIG, folder, written)
