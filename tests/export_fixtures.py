"""A tiny trained digits classifier and its export, shared by the export and prediction tests.

Test modules load this file with ``pytest_plugins`` so the session fixture
trains and exports once for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

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


def train_tiny(dataset: Dataset) -> RunResult:
    """Run the tiny transfer configuration on ``dataset`` and return the finished result."""
    labels = dataset.label_column(TINY_CONFIG.label_column)
    result = None
    for event in start_run(TINY_CONFIG, dataset, labels, run_dir=None):
        if isinstance(event, Finished):
            result = event.result
    assert result is not None and result.status == "finished"
    return result


@pytest.fixture(scope="session")
def trained_export(digits, tmp_path_factory) -> TrainedExport:
    """The digits trained for a few steps and exported in every format."""
    result = train_tiny(digits)
    folder = tmp_path_factory.mktemp("export")
    written = export_run(result, digits, TINY_CONFIG, folder)
    return TrainedExport(result, digits, TINY_CONFIG, folder, written)
