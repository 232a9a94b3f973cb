"""Write a trained classifier as an export folder: ONNX (checked) and ``model_card.json``."""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from sslstudio import __version__
from sslstudio.data.base import Dataset
from sslstudio.export.onnx import check_onnx, export_onnx
from sslstudio.models.model import Classifier, SSLModel
from sslstudio.training.checkpoints import atomic_write_text
from sslstudio.training.config import RunConfig
from sslstudio.training.events import RunResult

logger = logging.getLogger(__name__)

MODEL_CARD_SCHEMA = 1


def _library_versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torchvision

    return {"sslstudio": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "python": platform.python_version()}


def _scalar_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in metrics.items() if not isinstance(value, list)}


def export_classifier(result: RunResult, dataset: Dataset, config: RunConfig, out_dir: Path) -> dict[str, Any]:
    """Export ``result.model`` to ``out_dir/model.onnx`` and write ``model_card.json``.

    The ONNX file is checked in ONNX Runtime at batch sizes 1 and 3. Returns a
    dict with the written paths and the maximum differences found.

    Raises:
        AssertionError: if ONNX Runtime and PyTorch disagree beyond 1e-4.
    """
    model: SSLModel = result.model
    classifier = Classifier(model.encoder, model.classifier).cpu().eval()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    count = len(dataset)
    example = dataset.batch([index % count for index in range(4)], "cpu")
    export_inputs = dataset.export_inputs()
    names = [name for name, _ in export_inputs] if export_inputs else None
    axes = [axes for _, axes in export_inputs] if export_inputs else None
    onnx_path = export_onnx(classifier, example, out_dir / "model.onnx", input_names=names, dynamic_axes=axes)
    checks = [dataset.batch([0], "cpu"), dataset.batch([index % count for index in range(3)], "cpu")]
    differences = check_onnx(classifier, onnx_path, checks)
    assets = dataset.write_assets(out_dir)
    card = {
        "schema_version": MODEL_CARD_SCHEMA,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "modality": dataset.modality,
        "input_spec": {"shape": list(dataset.spec.shape), **{k: v for k, v in dataset.spec.extra.items()
                                                             if isinstance(v, (int, float, str, list))}},
        "preprocessing": dataset.preprocessing(),
        "class_names": result.class_names,
        "strategy": config.strategy,
        "pretext_tasks": [asdict(choice) for choice in config.tasks],
        "training": {"encoder_size": config.encoder_size, "pretrain_epochs": config.pretrain_epochs,
                     "finetune_steps": config.finetune_steps, "batch_size": config.batch_size,
                     "learning_rate": config.learning_rate, "seed": config.seed},
        "metrics": {"pretrained": _scalar_metrics(result.pretrained), "scratch": _scalar_metrics(result.scratch)},
        "dataset": {"source": dataset.source, "size": len(dataset), "label_counts": result.extras.get("label_counts", {})},
        "files": {"onnx": onnx_path.name, "assets": assets},
        "onnx_check": {"batch_sizes": [1, 3], "max_abs_difference": differences},
        "library_versions": _library_versions(),
    }
    card_path = out_dir / "model_card.json"
    atomic_write_text(card_path, json.dumps(card, indent=2, default=str))
    logger.info("Exported %s (max ONNX difference %.2e)", out_dir, max(differences))
    return {"onnx": onnx_path, "model_card": card_path, "differences": differences}
