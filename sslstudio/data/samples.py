"""The bundled sample datasets under ``resources/samples/<name>/sample.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sslstudio.data.base import DataError, Dataset, open_dataset
from sslstudio.resources import samples_dir


@dataclass(frozen=True)
class Sample:
    """A bundled dataset: where its data lies, which modality reads it and which column holds labels."""

    name: str
    modality: str
    title: str
    description: str
    data_path: Path
    label_column: str
    license: str
    source: str
    options: dict[str, Any] = field(default_factory=dict)

    def open(self, **options: Any) -> Dataset:
        merged = {**self.options, **options}
        return open_dataset(self.data_path, self.modality, **merged)


def _read_sample(folder: Path) -> Sample:
    manifest = json.loads((folder / "sample.json").read_text(encoding="utf-8"))
    return Sample(
        name=folder.name,
        modality=manifest["modality"],
        title=manifest["title"],
        description=manifest["description"],
        data_path=folder / manifest["data"],
        label_column=manifest.get("label_column", "folder"),
        license=manifest["license"],
        source=manifest["source"],
        options=manifest.get("options", {}),
    )


def list_samples() -> list[Sample]:
    """Return every bundled sample, sorted by name."""
    root = samples_dir()
    return [_read_sample(folder) for folder in sorted(root.iterdir()) if (folder / "sample.json").is_file()]


def get_sample(name: str) -> Sample:
    """Return the sample called ``name``.

    Raises:
        DataError: if there is no such sample; the message lists the known names.
    """
    samples = {sample.name: sample for sample in list_samples()}
    if name not in samples:
        raise DataError(f"unknown sample {name!r}; available samples: {', '.join(sorted(samples))}")
    return samples[name]
