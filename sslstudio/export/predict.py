"""Run an export folder on new data: check the files, open the data as in training, write class probabilities.

Nothing is unpickled: ONNX files are protobuf, ``.pt2`` archives are checked
for pickled entries before ``torch.export.load``, and weights load from
safetensors. Every file is checked against the SHA-256 in the model card first.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from sslstudio.data.base import Dataset, open_dataset, readers
from sslstudio.export.card import ExportError, read_card, spec_from_card, verify_file
from sslstudio.export.inputs import PositionalInputs, as_tuple, check_batch_matches
from sslstudio.export.onnx import onnx_session, run_onnx
from sslstudio.export.program import load_program
from sslstudio.export.weights import rebuild_classifier

logger = logging.getLogger(__name__)

PREDICT_FORMATS = ("onnx", "pt2", "safetensors")
PROBABILITY_PREFIX = "prob_"
Runner = Callable[[tuple[torch.Tensor, ...]], np.ndarray]


def _onnx_runner(path: Path, card: dict[str, Any]) -> Runner:
    try:
        session = onnx_session(path)
    except Exception as error:  # onnxruntime raises its own exception types for invalid models.
        raise ExportError(f"{path}: ONNX Runtime cannot load this model ({error})") from error
    return lambda inputs: run_onnx(session, inputs)


def _program_runner(path: Path, card: dict[str, Any]) -> Runner:
    try:
        module = load_program(path)
    except ValueError as error:
        raise ExportError(str(error)) from error

    def run(inputs):
        with torch.no_grad():
            return module(*inputs).numpy()

    return run


def _weights_runner(path: Path, card: dict[str, Any]) -> Runner:
    model_record = card["model"]
    try:
        classifier = rebuild_classifier(spec_from_card(card["input_spec"]), model_record["encoder"]["size"],
                                        model_record["head"], path)
    except ValueError as error:
        raise ExportError(str(error)) from error
    positional = PositionalInputs(classifier, bool(model_record.get("tuple_input"))).eval()

    def run(inputs):
        with torch.no_grad():
            return positional(*inputs).numpy()

    return run


_RUNNERS: dict[str, Callable[[Path, dict[str, Any]], Runner]] = {
    "onnx": _onnx_runner, "pt2": _program_runner, "safetensors": _weights_runner,
}


@dataclass
class ExportedModel:
    """An export folder loaded in one format: its card and a function from input tensors to logits."""

    model_dir: Path
    card: dict[str, Any]
    format: str
    run: Runner

    @property
    def class_names(self) -> list[str]:
        return list(self.card["class_names"])

    def open_data(self, path: str | Path) -> Dataset:
        """Open ``path`` with the reader, options and asset files recorded in the card.

        Raises:
            DataError: if the reader finds nothing usable (the message comes from the reader).
            ExportError: if an asset file is missing or modified.
        """
        reader = self.card["reader"]
        options = dict(reader.get("options", {}))
        for option, name in reader.get("assets", {}).items():
            options[option] = verify_file(self.model_dir, name, self.card)
        # New data has no labels: readers that name a label column may open data without it.
        if "label_optional" in inspect.signature(readers()[reader["modality"]].open).parameters:
            options["label_optional"] = True
        return open_dataset(path, reader["modality"], **options)

    def predict_logits(self, batch: Any) -> np.ndarray:
        """Return N×K logits for one batch (a tensor or a tuple of tensors, as ``Dataset.batch`` returns)."""
        return np.asarray(self.run(as_tuple(batch)), dtype=np.float32)

    def predict_dataset(self, dataset: Dataset, batch_size: int = 256) -> pd.DataFrame:
        """Return one row per sample: ``sample_id``, ``predicted`` class and ``prob_<class>`` columns.

        Raises:
            ValueError: naming the data source if its batches do not have the shapes the model takes.
        """
        chunks = []
        for start in range(0, len(dataset), batch_size):
            batch = dataset.batch(range(start, min(start + batch_size, len(dataset))), "cpu")
            check_batch_matches(batch, self.card["inputs"], dataset.source)
            logits = torch.from_numpy(self.predict_logits(batch))
            chunks.append(torch.softmax(logits, dim=1).numpy())
        names = self.class_names
        probabilities = np.concatenate(chunks) if chunks else np.zeros((0, len(names)), np.float32)
        frame = pd.DataFrame({"sample_id": dataset.ids,
                              "predicted": [names[index] for index in probabilities.argmax(axis=1)]})
        for column, name in enumerate(names):
            frame[PROBABILITY_PREFIX + name] = probabilities[:, column]
        return frame


def load_export(model_dir: str | Path, format: str = "onnx") -> ExportedModel:
    """Verify the card and the model file of ``format`` against their SHA-256, then load the model on the CPU.

    Raises:
        ExportError: naming the file if the card or model file is missing,
            truncated or modified, or the export has no file of ``format``.
        ValueError: for an unknown format.
    """
    if format not in PREDICT_FORMATS:
        raise ValueError(f"format={format!r} is invalid; choose from {', '.join(PREDICT_FORMATS)}")
    model_dir = Path(model_dir).expanduser()
    card = read_card(model_dir)
    formats = card.get("formats", {})
    if format not in formats:
        raise ExportError(f"{model_dir}: this export has no {format} file; available: {', '.join(formats) or 'none'}")
    path = verify_file(model_dir, formats[format], card)
    logger.info("Loading %s (%s, classes %s)", path, card["modality"], ", ".join(card["class_names"]))
    return ExportedModel(model_dir, card, format, _RUNNERS[format](path, card))


def predict_folder(model_dir: str | Path, data_path: str | Path, format: str = "onnx") -> pd.DataFrame:
    """Load the export, open ``data_path`` as in training and return the predictions table.

    The dataset's import report is stored in ``frame.attrs["import_report"]``.

    Raises:
        ExportError: for a missing, truncated or modified export file.
        DataError: if ``data_path`` contains nothing the reader can use.
    """
    model = load_export(model_dir, format)
    dataset = model.open_data(data_path)
    frame = model.predict_dataset(dataset)
    frame.attrs["import_report"] = dataset.report
    return frame


def label_agreement(frame: pd.DataFrame, dataset: Dataset, label_column: str) -> tuple[float, int] | None:
    """Return (share of predictions equal to the label, number of labeled samples) for a metadata column.

    Returns None when the column is absent or no label is one of the model's classes.
    """
    if label_column not in dataset.metadata.columns:
        return None
    classes = {column.removeprefix(PROBABILITY_PREFIX) for column in frame.columns
               if column.startswith(PROBABILITY_PREFIX)}
    labels = pd.Series(dataset.label_column(label_column), index=frame.index)
    known = labels.isin(classes)
    if not known.any():
        return None
    return float((frame.loc[known, "predicted"] == labels[known]).mean()), int(known.sum())
