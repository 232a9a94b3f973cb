"""The dataset contract shared by every modality, and the reader registry.

A dataset has a modality, a length, a stable id per sample, a metadata
table (file names, folder labels, extra columns), a ``spec`` from which
encoders are built, and the import report. ``batch`` turns sample indices into
the tensors that pretext tasks and encoders consume.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from sslstudio import MODALITIES
from sslstudio.data.report import ImportReport

logger = logging.getLogger(__name__)


class DataError(ValueError):
    """A source that cannot be imported at all (missing, empty, no readable sample)."""


@dataclass(frozen=True)
class DatasetSpec:
    """The facts about the data that an encoder is built from.

    ``shape`` is the shape of one sample without the batch axis (C×H×W for
    images, C×L for series); ``extra`` contains modality-specific facts such as a
    vocabulary size, feature types or the node count.
    """

    modality: str
    shape: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


class Dataset(ABC):
    """A loaded dataset of one modality.

    Subclasses fill ``ids`` (unique, stable strings), ``metadata`` (one row
    per sample, in sample order, with at least a ``sample_id`` column),
    ``spec`` and ``report``.
    """

    modality: str = ""

    def __init__(self, ids: Sequence[str], metadata: pd.DataFrame, spec: DatasetSpec, report: ImportReport, source: str):
        if len(ids) != len(metadata):
            raise ValueError(f"ids ({len(ids)}) and metadata rows ({len(metadata)}) differ in length")
        self.ids = list(ids)
        self.metadata = metadata.reset_index(drop=True)
        self.spec = spec
        self.report = report
        self.source = source
        # The reader options this dataset was opened with (set by ``open_dataset``); exports record them.
        self.open_options: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self.ids)

    @abstractmethod
    def batch(self, indices: Sequence[int], device: torch.device | str = "cpu") -> Any:
        """Return the samples at ``indices`` as one batch on ``device``."""

    def label_column(self, column: str) -> list[str | None]:
        """Return the values of a metadata column as labels (None where missing).

        Raises:
            KeyError: if the column does not exist; the message lists the columns.
        """
        if column not in self.metadata.columns:
            known = ", ".join(self.metadata.columns)
            raise KeyError(f"metadata column {column!r} not found; available columns: {known}")
        values = self.metadata[column]
        return [None if pd.isna(value) or value == "" else str(value) for value in values]

    def preprocessing(self) -> dict[str, Any]:
        """Return what a deployed model needs to prepare raw input like this dataset does."""
        return {}

    def steps_per_epoch(self, count: int, batch_size: int) -> int:
        """Return how many pretraining steps make one epoch over ``count`` samples at ``batch_size``."""
        return max(1, count // batch_size)

    def export_inputs(self) -> tuple[tuple[str, dict[int, str]], ...] | None:
        """Return each batch input's ONNX name and dynamic axes ({axis: dimension name}).

        None means axis 0 of every input is the one batch axis. Datasets whose
        inputs vary in other ways (a graph's node and edge counts) override it.
        """
        return None

    def export_assets(self, out_dir: Path) -> dict[str, Path]:
        """Write the files a deployed model needs to prepare input (a tokenizer, column encoders) into ``out_dir``.

        Returns ``{reader option name: written file}``. Prediction opens new
        data with this reader and passes each file back under its option name,
        so new data is encoded as the training data was. The default writes nothing.
        """
        return {}


Opener = Callable[..., Dataset]


@dataclass(frozen=True)
class ReaderInfo:
    """A registered reader: its modality, a check that it accepts a path, and the opener."""

    modality: str
    accepts: Callable[[Path], bool]
    open: Opener


_READERS: dict[str, ReaderInfo] = {}


def register_reader(modality: str, accepts: Callable[[Path], bool]) -> Callable[[Opener], Opener]:
    """Register ``open(path, **options) -> Dataset`` as the reader of ``modality``."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; expected one of {', '.join(MODALITIES)}")

    def decorate(opener: Opener) -> Opener:
        _READERS[modality] = ReaderInfo(modality, accepts, opener)
        return opener

    return decorate


_modules_loaded = False


def _load_reader_modules() -> None:
    global _modules_loaded
    if _modules_loaded:
        return
    _modules_loaded = True
    import sslstudio.data as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in {"base", "report", "samples"}:
            importlib.import_module(f"sslstudio.data.{module.name}")


def readers() -> dict[str, ReaderInfo]:
    """Return the registered readers by modality."""
    _load_reader_modules()
    return dict(_READERS)


def _takes_label_column(opener: Opener) -> bool:
    return "label_column" in inspect.signature(opener).parameters


def open_dataset(path: str | Path, modality: str | None = None, label_column: str | None = None,
                 **options: Any) -> Dataset:
    """Open ``path`` with the reader of ``modality``, or the first reader that accepts it.

    ``label_column`` reaches readers that take it (tables keep that column out
    of the model's inputs); other readers expose labels as metadata columns.

    Raises:
        DataError: if the path is missing, or no reader accepts it.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: not found. Check the path and try again.")
    registered = readers()
    if modality is not None:
        if modality not in registered:
            raise DataError(f"no reader for modality {modality!r}; available: {', '.join(sorted(registered))}")
        info = registered[modality]
    else:
        matches = [info for info in registered.values() if info.accepts(path)]
        if not matches:
            kinds = ", ".join(sorted(registered))
            raise DataError(f"{path}: no supported data found (readers: {kinds}). Check the folder, or choose "
                            "the modality explicitly.")
        info = matches[0]
        logger.info("Opening %s as %s", path, info.modality)
    if label_column is not None and _takes_label_column(info.open):
        options.setdefault("label_column", label_column)
    dataset = info.open(path, **options)
    dataset.open_options = dict(options)
    return dataset
