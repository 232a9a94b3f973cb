"""``model_card.json``: what an export contains, how to feed it, and SHA-256 sums that detect changed files.

The card lists every exported file with its size and SHA-256, and carries
``card_sha256``, the SHA-256 of its own canonical JSON without that key. A
truncated or edited file, or an edited card, then fails ``read_card`` or
``verify_file`` with a message naming the file. The sums detect accidental
damage and casual edits, not a forger who rewrites the card too: they are not
a signature.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sslstudio.data.base import DatasetSpec
from sslstudio.training.checkpoints import atomic_write_text

logger = logging.getLogger(__name__)

CARD_NAME = "model_card.json"
# Version 2 adds torch.export and safetensors files, file sums and what rebuilds the model.
MODEL_CARD_SCHEMA = 2
_CHUNK = 1 << 20


class ExportError(ValueError):
    """An export folder that cannot be used: a missing, truncated or modified file, or an unsupported card."""


def json_safe(value: Any, where: str) -> Any:
    """Convert ``value`` to plain JSON types (tuples, NumPy and tensor values become lists and numbers).

    NaN and infinite floats become None, so the card is strict JSON.

    Raises:
        ValueError: naming ``where`` for a value JSON cannot hold.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(key): json_safe(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return sorted(json_safe(item, where) for item in value)
    if isinstance(value, (np.generic, np.ndarray, torch.Tensor)):
        return json_safe(value.tolist(), where)
    raise ValueError(f"model card: {where} is a {type(value).__name__}, which JSON cannot hold; use numbers, "
                     "strings, lists and dicts, or write it as a file with Dataset.export_assets")


def spec_to_card(spec: DatasetSpec) -> dict[str, Any]:
    """Return the dataset spec as JSON, complete enough for ``build_encoder`` to rebuild the encoder."""
    return {"modality": spec.modality, "shape": list(spec.shape), "extra": json_safe(spec.extra, "spec.extra")}


def spec_from_card(record: dict[str, Any]) -> DatasetSpec:
    """Return the ``DatasetSpec`` stored by ``spec_to_card`` (lists stay lists, except the shape)."""
    return DatasetSpec(record["modality"], tuple(record["shape"]), dict(record.get("extra", {})))


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(path: Path) -> dict[str, Any]:
    """Return the card's record of one exported file: its size in bytes and SHA-256."""
    return {"bytes": Path(path).stat().st_size, "sha256": sha256_file(path)}


def _card_digest(card: dict[str, Any]) -> str:
    body = {key: value for key, value in card.items() if key != "card_sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def write_card(out_dir: Path, card: dict[str, Any]) -> Path:
    """Write ``card`` (JSON-safe) to ``out_dir/model_card.json`` with its own SHA-256 added; return the path."""
    card = {**card, "card_sha256": _card_digest(card)}
    path = Path(out_dir) / CARD_NAME
    atomic_write_text(path, json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    return path


def read_card(model_dir: Path) -> dict[str, Any]:
    """Read and check ``model_dir/model_card.json``.

    Raises:
        ExportError: naming the card if it is missing, not valid JSON, edited
            since export (its SHA-256 does not match) or of an unsupported schema version.
    """
    path = Path(model_dir) / CARD_NAME
    if not path.is_file():
        raise ExportError(f"{path}: model card not found; choose a folder written by an SSL Studio export")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportError(f"{path}: not valid JSON ({error}). The file may be truncated or modified.") from error
    if not isinstance(card, dict):
        raise ExportError(f"{path}: expected a JSON object; the file may have been modified")
    version = card.get("schema_version")
    if version != MODEL_CARD_SCHEMA:
        raise ExportError(f"{path}: model card schema version {version!r} is not supported (this version reads "
                          f"{MODEL_CARD_SCHEMA}); export the run again with this version of SSL Studio")
    if card.get("card_sha256") != _card_digest(card):
        raise ExportError(f"{path}: the card's SHA-256 does not match its content; the file was modified after export")
    return card


def verify_file(model_dir: Path, name: str, card: dict[str, Any]) -> Path:
    """Check one exported file against the size and SHA-256 recorded in the card; return its path.

    Raises:
        ExportError: naming the file if it is not listed, missing, truncated or modified.
    """
    entry = card.get("files", {}).get(name)
    path = Path(model_dir) / name
    if entry is None:
        raise ExportError(f"{path}: not listed in the model card's files; it was not part of this export")
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise ExportError(f"{path}: the model card names a file outside the export folder")
    if not path.is_file():
        raise ExportError(f"{path}: missing from the export folder; copy the whole export folder")
    size = path.stat().st_size
    if size != entry["bytes"]:
        raise ExportError(f"{path}: {size} bytes, but the model card records {entry['bytes']}; "
                          "the file is truncated or modified. Export the run again or restore the file.")
    if sha256_file(path) != entry["sha256"]:
        raise ExportError(f"{path}: SHA-256 does not match the model card; the file was modified after export. "
                          "Export the run again or restore the file.")
    return path
