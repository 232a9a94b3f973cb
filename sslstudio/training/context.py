"""The inputs of a strategy run: the dataset, the labels, the device, a cancel flag and the run folder."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sslstudio.data.base import Dataset
from sslstudio.training.distributed import DistributedInfo


class Cancelled(Exception):
    """Raised inside a training loop when the user cancels; strategies turn it into a cancelled result."""


class PretrainingDone(Exception):
    """Raised on ranks other than 0 after distributed pretraining: the rest of the run is rank 0's."""


@dataclass
class RunContext:
    """The live inputs of a run. ``labels`` has one entry per sample, None where unlabeled.

    With ``resume``, each phase continues from its checkpoint in ``run_dir``.
    """

    dataset: Dataset
    labels: list[str | None]
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    cancel: threading.Event = field(default_factory=threading.Event)
    run_dir: Path | None = None
    resume: bool = False
    distributed: DistributedInfo = field(default_factory=DistributedInfo)

    def check_cancel(self) -> None:
        """Raise ``Cancelled`` if the user asked to stop."""
        if self.cancel.is_set():
            raise Cancelled()
