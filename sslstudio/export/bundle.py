"""Write a trained classifier as an export folder: ONNX, ``torch.export``, safetensors and ``model_card.json``.

Every format is reloaded and compared with the PyTorch model at two batch
sizes before the card is written, and the card records each file's SHA-256.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import platform
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from sslstudio import __version__
from sslstudio.data.base import Dataset, readers
from sslstudio.export.card import (CARD_NAME, MODEL_CARD_SCHEMA, file_entry, json_safe, spec_from_card, spec_to_card,
                                   write_card)
from sslstudio.export.inputs import describe_inputs, is_tuple_batch
from sslstudio.export.onnx import OPSET, check_onnx, export_onnx
from sslstudio.export.program import check_program, export_program
from sslstudio.export.weights import check_weights, describe_head, rebuild_classifier, save_weights
from sslstudio.models.model import Classifier, SSLModel
from sslstudio.training.config import RunConfig
from sslstudio.training.events import RunResult

logger = logging.getLogger(__name__)

FORMATS = ("onnx", "pt2", "safetensors")
FILE_NAMES = {"onnx": "model.onnx", "pt2": "model.pt2", "safetensors": "model.safetensors"}
EXAMPLE_BATCH_SIZE = 4
CHECK_BATCH_SIZES = (1, 3)
_VERSIONED_PACKAGES = ("torch", "torchvision", "numpy", "onnx", "onnxruntime", "onnxscript", "safetensors")


def library_versions() -> dict[str, str]:
    """Return the versions of SSL Studio, Python and the packages an export depends on."""
    versions = {"sslstudio": __version__, "python": platform.python_version()}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def reader_options(dataset: Dataset, preprocessing: dict[str, Any]) -> dict[str, Any]:
    """Return the reader options that open new data the way ``dataset`` was opened.

    These are the options the dataset was opened with, updated by every
    preprocessing entry named like a parameter of the reader (such as
    ``image_size``), so a size the reader chose by itself is fixed for prediction.
    """
    opener = readers()[dataset.modality].open
    parameters = list(inspect.signature(opener).parameters.values())[1:]
    named = {parameter.name for parameter in parameters
             if parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}
    options = dict(dataset.open_options)
    # A None entry (such as the sample rate of data without audio) means "not applicable": the reader's default stays.
    options.update({key: value for key, value in preprocessing.items() if key in named and value is not None})
    return options


def _write_assets(dataset: Dataset, out_dir: Path) -> dict[str, str]:
    """Call the dataset's ``export_assets`` hook; return ``{reader option: file name in out_dir}``.

    Raises:
        ValueError: if the hook wrote a file outside ``out_dir``.
    """
    assets = {}
    for option, path in dataset.export_assets(out_dir).items():
        path = Path(path).resolve()
        if path.parent != out_dir.resolve():
            raise ValueError(f"export asset {path} for option {option!r} is not directly inside {out_dir}")
        assets[option] = path.name
    return assets


def _dataset_record(result: RunResult, dataset: Dataset, config: RunConfig) -> dict[str, Any]:
    record = {"source": dataset.source, "size": len(dataset), "label_column": config.label_column,
              "training_label_counts": result.extras.get("label_counts", {}),
              "holdout_count": result.extras.get("holdout_count"), "pretrain_count": result.extras.get("pool_count")}
    if config.label_column in dataset.metadata.columns:
        labels = [label for label in dataset.label_column(config.label_column) if label is not None]
        record["label_counts"] = dict(sorted(Counter(labels).items()))
    return record


def _check_batches(dataset: Dataset) -> list:
    count = len(dataset)
    return [dataset.batch([index % count for index in range(size)], "cpu") for size in CHECK_BATCH_SIZES]


def _export_formats(classifier: Classifier, dataset: Dataset, config: RunConfig, out_dir: Path,
                    formats: Sequence[str], head: dict[str, Any]) -> tuple[dict[str, Path], dict[str, Any]]:
    """Write and check each format; return the paths and the check results per format."""
    count = len(dataset)
    example = dataset.batch([index % count for index in range(EXAMPLE_BATCH_SIZE)], "cpu")
    batches = _check_batches(dataset)
    paths: dict[str, Path] = {}
    checks: dict[str, Any] = {}
    export_inputs = dataset.export_inputs()
    names = [name for name, _ in export_inputs] if export_inputs else None
    axes = [axes for _, axes in export_inputs] if export_inputs else None
    if "onnx" in formats:
        paths["onnx"] = export_onnx(classifier, example, out_dir / FILE_NAMES["onnx"], names=names, dynamic_axes=axes)
        checks["onnx"] = check_onnx(classifier, paths["onnx"], batches)
    if "pt2" in formats:
        paths["pt2"] = export_program(classifier, example, out_dir / FILE_NAMES["pt2"], dynamic_axes=axes)
        checks["pt2"] = check_program(classifier, paths["pt2"], batches)
    if "safetensors" in formats:
        paths["safetensors"] = save_weights(classifier, out_dir / FILE_NAMES["safetensors"])
        # Rebuild from the spec as the card stores it, so a spec that JSON cannot carry fails here, not later.
        spec = spec_from_card(spec_to_card(dataset.spec))
        rebuilt = rebuild_classifier(spec, config.encoder_size, head, paths["safetensors"])
        checks["safetensors"] = check_weights(classifier, rebuilt, is_tuple_batch(example), batches,
                                              paths["safetensors"])
    checks = {name: {"batch_sizes": list(CHECK_BATCH_SIZES), "max_abs_difference": differences}
              for name, differences in checks.items()}
    return paths, checks


def export_run(result: RunResult, dataset: Dataset, config: RunConfig, out_dir: Path,
               formats: Sequence[str] = FORMATS) -> dict[str, Path]:
    """Export the run's encoder and downstream head to ``out_dir`` in ``formats``, with ``model_card.json``.

    Each format is reloaded and compared with PyTorch at batch sizes 1 and 3.
    The model is copied to the CPU for export; ``result.model`` is left as it is.
    Returns ``{format or asset option: path}`` plus ``"model_card"``.

    Raises:
        ValueError: for an unknown format, a run without a trained classifier,
            or card content that JSON cannot hold.
        AssertionError: if an exported format disagrees with PyTorch beyond 1e-4.
    """
    unknown = [name for name in formats if name not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"formats={list(formats)} is invalid; choose one or more of {', '.join(FORMATS)}")
    model: SSLModel = result.model
    if model is None or getattr(model, "classifier", None) is None:
        raise ValueError(f"the run (status {result.status!r}) has no trained classifier to export")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    classifier = copy.deepcopy(Classifier(model.encoder, model.classifier)).cpu().eval()
    # safetensors needs a head the card can describe (a kNN head cannot be rebuilt from weights alone),
    # so such a run exports the other formats and the card records why safetensors is missing.
    formats = list(formats)
    skipped: dict[str, str] = {}
    if "safetensors" in formats:
        try:
            describe_head(classifier.head)
        except ValueError as error:
            formats.remove("safetensors")
            skipped["safetensors"] = str(error)
            logger.warning("Skipping the safetensors export: %s", error)
    head = describe_head_or_name(classifier.head)
    paths, checks = _export_formats(classifier, dataset, config, out_dir, formats, head)

    preprocessing = json_safe(dataset.preprocessing(), "preprocessing")
    assets = _write_assets(dataset, out_dir)
    example = dataset.batch([0], "cpu")
    card = {
        "schema_version": MODEL_CARD_SCHEMA,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "modality": dataset.modality,
        "input_spec": spec_to_card(dataset.spec),
        "inputs": describe_inputs(example),
        "outputs": [{"name": "logits", "shape": ["batch", len(result.class_names)], "dtype": "float32"}],
        "preprocessing": preprocessing,
        "reader": {"modality": dataset.modality,
                   "options": json_safe(reader_options(dataset, preprocessing), "reader options"),
                   "assets": assets},
        "class_names": list(result.class_names),
        "strategy": config.strategy,
        "skipped_formats": skipped,
        "pretext_tasks": json_safe([{"name": choice.name, "params": dict(choice.params), "weight": choice.weight}
                                    for choice in config.tasks], "pretext_tasks"),
        "training": json_safe(json.loads(config.to_json()), "training"),
        "model": {"encoder": {"class": type(classifier.encoder).__name__, "size": config.encoder_size,
                              "feature_dim": int(classifier.encoder.feature_dim)},
                  "head": head,
                  "tuple_input": is_tuple_batch(example)},
        "metrics": {"pretrained": json_safe(result.pretrained, "metrics"), "scratch": json_safe(result.scratch, "metrics")},
        "dataset": json_safe(_dataset_record(result, dataset, config), "dataset"),
        "formats": {name: FILE_NAMES[name] for name in paths},
        "onnx_opset": OPSET if "onnx" in paths else None,
        "checks": checks,
        "files": {path.name: file_entry(path) for path in [*paths.values(), *(out_dir / name for name in assets.values())]},
        "library_versions": library_versions(),
    }
    written = dict(paths)
    written.update({option: out_dir / name for option, name in assets.items()})
    written["model_card"] = write_card(out_dir, card)
    logger.info("Exported %s (%s) to %s", ", ".join(paths), CARD_NAME, out_dir)
    return written


def describe_head_or_name(head) -> dict[str, Any]:
    """Describe the head for the card, or record only its class name when safetensors cannot rebuild it."""
    try:
        return describe_head(head)
    except ValueError:
        return {"type": type(head).__name__}


def export_classifier(result: RunResult, dataset: Dataset, config: RunConfig, out_dir: Path) -> dict[str, Any]:
    """Export every format with ``export_run``; return its paths plus ``differences`` (the ONNX check).

    Kept for callers written before ``export_run``; new code calls ``export_run``.
    """
    written = export_run(result, dataset, config, out_dir)
    card = json.loads(written["model_card"].read_text(encoding="utf-8"))
    return {**written, "differences": card["checks"]["onnx"]["max_abs_difference"]}
